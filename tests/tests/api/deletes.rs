//! Deleting a cell or a logger with measurements: the cell's rows and rollups go with it, a
//! logger's power rows stay (detached), and an upload naming a deleted cell stores nothing. On
//! Postgres the measurement tables have no foreign keys, so Loam does this itself.

use loam_tests::{Backend, TestApp, backend_tests, frames};
use reqwest::Method;

backend_tests!(deletes_take_or_detach_measurements);

async fn count(app: &TestApp, cell: i64) -> (i64, i64) {
    let id = cell as i32;
    app.state
        .db()
        .run(move |c| loam_db::bench::power_counts(c, id))
        .await
        .expect("counts")
}

async fn deletes_take_or_detach_measurements(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = "del@example.test";
    let s = app.signed_in(email).await;
    let (keep, doomed) = (
        app.cell(&s, email, "keep").await,
        app.cell(&s, email, "doomed").await,
    );
    let logger = app.logger(&s, email, "l").await;
    let key = app.device_key(&s, logger, &["ingest"]).await;
    for cell in [keep, doomed] {
        for k in 0..3 {
            let frame = frames::power(1_705_168_805 + k * 60, cell, logger, 0.5, 0.001);
            assert_eq!(app.upload(frame, false, Some(&key)).await.status(), 200);
        }
    }
    assert_eq!(count(&app, doomed).await, (3, 3));
    let res = app
        .as_person(Method::DELETE, &format!("/api/cell/{doomed}"), &s)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(
        count(&app, doomed).await,
        (0, 0),
        "the cell's rows went with it"
    );
    let frame = frames::power(1_705_168_999, doomed, logger, 0.5, 0.001);
    assert_eq!(
        app.upload(frame, false, Some(&key)).await.status(),
        404,
        "an upload to a deleted cell"
    );
    assert_eq!(
        count(&app, doomed).await,
        (0, 0),
        "nothing stored for a deleted cell"
    );
    let res = app
        .as_person(Method::DELETE, &format!("/api/logger/{logger}"), &s)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(count(&app, keep).await, (3, 3), "a logger's rows stay");
    let res = app
        .as_person(Method::GET, &format!("/api/power/{keep}"), &s)
        .query(&[
            ("startTime", loam_tests::http_date(1_705_168_000)),
            ("endTime", loam_tests::http_date(1_705_170_000)),
            ("resample", "none".into()),
        ])
        .send()
        .await
        .expect("request");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["v"].as_array().expect("v").len(), 3);
}
