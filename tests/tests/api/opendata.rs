//! Open-data months: parameter rules, a month built then served, and approval of the clean
//! variant (idempotent, admins only).

use loam_tests::{Backend, TestApp, backend_tests};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{cell_with_data, json_of, unzip};

backend_tests!(
    opendata_month_is_built_then_served,
    opendata_rules_and_approval,
);

async fn opendata_month_is_built_then_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (s, cell, _) = cell_with_data(&app, "open@example.test").await;
    let res = app
        .as_person(Method::PUT, &format!("/api/cell/{cell}"), &s)
        .json(&json!({"public": true}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let url = "/api/opendata?year=2024&month=1";
    let first = app.get(url).await;
    assert_eq!(first.status(), 202);
    assert!(
        first.headers()["location"]
            .to_str()
            .expect("location")
            .starts_with("/api/opendata?year=2024&month=1")
    );
    let built = loam_tests::eventually(30, || async {
        let status = app.get(url).await.status();
        assert!(status == 200 || status == 202, "{status}");
        status == 200
    })
    .await;
    assert!(built, "the month was built");
    let res = app.get(url).await;
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"loam-opendata-dirty-2024-01.zip\""
    );
    let files = unzip(&res.bytes().await.expect("bytes"));
    assert_eq!(files[&format!("cell-{cell}/power.csv")].lines().count(), 4);
    // The clean variant exists only once an administrator approved the month.
    let clean = "/api/opendata?year=2024&month=1&variant=clean";
    let res = app.get(clean).await;
    assert_eq!(res.status(), 404);
    assert!(
        json_of(res).await["error"]["message"]
            .as_str()
            .expect("message")
            .contains("not been approved")
    );
    let admin = app.admin("root2@example.test").await;
    let ok = app
        .as_person(
            Method::POST,
            "/api/opendata/approve?year=2024&month=1",
            &admin,
        )
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), 200);
    assert_eq!(app.get(clean).await.status(), 202);
    let built = loam_tests::eventually(30, || async { app.get(clean).await.status() == 200 }).await;
    assert!(built, "the clean variant was built");
    assert_eq!(
        app.get("/api/opendata?year=2024&month=1&variant=shiny")
            .await
            .status(),
        400
    );
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
