//! Export jobs through the API: queued → succeeded, the CSV equals the read API, owners only;
//! open-data parameter rules and idempotent approval.

use loam_tests::{Backend, TestApp, backend_tests, frames};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    export_job_matches_the_read_api_and_is_private,
    opendata_rules_and_approval
);

fn http(ts: i64) -> String {
    loam_tests::http_date(ts)
}

async fn export_job_matches_the_read_api_and_is_private(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.signed_in("alice@example.test").await;
    let bob = app.signed_in("bob@example.test").await;
    let cell = app.cell(&alice, "alice@example.test", "exported").await;
    let logger = app.logger(&alice, "alice@example.test", "l").await;
    let key = app.device_key(&alice, logger, &["ingest"]).await;
    let t0 = 1_705_168_805_i64;
    for (k, v) in [0.5, 0.6, 0.7].into_iter().enumerate() {
        let res = app
            .upload(
                frames::power((t0 + k as i64 * 600) as u32, cell, logger, v, 0.001),
                false,
                Some(&key),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let q = [
        ("cellIds", cell.to_string()),
        ("resample", "none".into()),
        ("startTime", http(t0 - 10)),
        ("endTime", http(t0 + 3600)),
    ];
    let started: Value = app
        .as_person(Method::GET, "/api/cell/datas", &alice)
        .query(&q)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    let id = started["result_id"].as_str().expect("job id").to_owned();
    let job = app.wait_for_job(&alice, &id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"], json!({"done": 1, "total": 1}));
    let csv = app
        .as_person(Method::GET, &format!("/api/jobs/{id}/artifact"), &alice)
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "timestamp,vwc,temp,ec,raw_vwc,v,i,p,data,measurement,unit,type"
    );
    let volts: Vec<f64> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(5).expect("v").parse().expect("number"))
        .collect();
    let read: Value = app
        .as_person(Method::GET, &format!("/api/power/{cell}"), &alice)
        .query(&[
            ("startTime", http(t0 - 10)),
            ("endTime", http(t0 + 3600)),
            ("resample", "none".into()),
        ])
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    let want: Vec<f64> = read["v"]
        .as_array()
        .expect("v")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(volts, want);
    assert_eq!(volts, [500.0, 600.0, 700.0], "the three uploads, in mV");
    assert_eq!(
        app.as_person(Method::GET, &format!("/api/jobs/{id}"), &bob)
            .send()
            .await
            .expect("req")
            .status(),
        404
    );
    assert_eq!(
        app.as_person(Method::GET, &format!("/api/jobs/{id}/artifact"), &bob)
            .send()
            .await
            .expect("req")
            .status(),
        404
    );
    assert_eq!(app.get(&format!("/api/jobs/{id}")).await.status(), 401);
    let cancel = app
        .as_person(Method::DELETE, &format!("/api/jobs/{id}"), &alice)
        .send()
        .await
        .expect("req");
    assert_eq!(cancel.status(), 409, "a finished job cannot be cancelled");
}

async fn opendata_rules_and_approval(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (params, message) in [
        (
            vec![("year", "2024")],
            "Missing or invalid parameter (year, month).",
        ),
        (
            vec![("year", "abc"), ("month", "1")],
            "Missing or invalid parameter (year, month).",
        ),
        (vec![("year", "2024"), ("month", "13")], "Invalid date."),
        (vec![("year", "0"), ("month", "5")], "Invalid date."),
        (vec![("year", "3000"), ("month", "1")], "Invalid date."),
    ] {
        let res = app
            .client
            .get(app.url("/api/opendata"))
            .query(&params)
            .send()
            .await
            .expect("req");
        assert_eq!(res.status(), 400);
        assert_eq!(
            res.json::<Value>().await.expect("json"),
            json!({"error": message})
        );
    }
    let session = app.admin("root@example.test").await;
    let approve = || {
        app.as_person(
            Method::POST,
            "/api/opendata/approve?year=2023&month=2",
            &session,
        )
        .send()
    };
    assert!(
        approve()
            .await
            .expect("req")
            .text()
            .await
            .expect("text")
            .contains("successfully approved")
    );
    assert!(
        approve()
            .await
            .expect("req")
            .text()
            .await
            .expect("text")
            .contains("already approved before")
    );
    let person = app.signed_in("someone@example.test").await;
    let refused = app
        .as_person(
            Method::POST,
            "/api/opendata/approve?year=2023&month=3",
            &person,
        )
        .send()
        .await
        .expect("req");
    assert_eq!(refused.status(), 403);
}
