//! The Things Network sync job against a loopback stand-in for TTN's API.

use std::sync::{Arc, Mutex};

use loam_tests::{Backend, Options, TestApp, backend_tests};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::json_of;

backend_tests!(ttn_sync_goes_through_the_loopback_stand_in,);

/// What the TTN stand-in saw: (method, path, authorization, body).
type Seen = Arc<Mutex<Vec<(String, String, String, Value)>>>;

/// A loopback HTTP server answering like TTN's API: success, except 403 on deletes and 500 on
/// status lookups.
async fn ttn_stand_in() -> (String, Seen) {
    use axum::extract::Request;
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let log = log.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let auth = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let deleted = {
                let mut log = log.lock().expect("lock");
                log.push((
                    parts.method.to_string(),
                    parts.uri.path().to_owned(),
                    auth,
                    serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                ));
                log.iter().any(|call| call.0 == "DELETE")
            };
            match parts.method.as_str() {
                // The registry answers lookups until someone tries to delete a device.
                "GET" if !deleted => (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"ids": {"device_id": "dirtviz-x"}, "name": "field-7"})),
                ),
                "DELETE" => (
                    axum::http::StatusCode::FORBIDDEN,
                    axum::Json(json!({"message": "no rights to delete devices"})),
                ),
                "GET" => (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({"message": "registry down"})),
                ),
                _ => (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"ids": {"device_id": "x"}})),
                ),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("stand-in") });
    (format!("http://{addr}"), seen)
}

async fn ttn_sync_goes_through_the_loopback_stand_in(backend: Backend) {
    let (base, seen) = ttn_stand_in().await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            tweak: Some(Box::new(move |c| {
                c.ttn_api_url = base;
                c.ttn_app_id = Some("loam-test-app".into());
                c.ttn_api_key = Some(loam_config::Secret::new("NNSXS.server-token"));
            })),
            ..Options::default()
        },
    )
    .await;
    let email = "ttn@example.test";
    let s = app.signed_in(email).await;
    let logger = app.logger(&s, email, "field-7").await;
    let register = json!({"dev_eui": "70-B3-D5-7E-D0-00-AB-CD", "join_eui": "0000000000000001",
                          "app_key": "00112233445566778899AABBCCDDEEFF"});
    let res = app
        .as_person(Method::POST, &format!("/api/logger/{logger}/ttn"), &s)
        .json(&register)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 202);
    let id = json_of(res).await["id"].as_str().expect("id").to_owned();
    let job = app.wait_for_job(&s, &id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["ttn_device_id"], format!("dirtviz-{logger}"));
    {
        let calls = seen.lock().expect("lock");
        let paths: Vec<&str> = calls.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/api/v3/applications/loam-test-app/devices".to_owned(),
                format!("/api/v3/ns/applications/loam-test-app/devices/dirtviz-{logger}"),
                "/api/v3/as/applications/loam-test-app/devices".to_owned(),
                "/api/v3/js/applications/loam-test-app/devices".to_owned(),
            ]
        );
        assert!(calls.iter().all(|c| c.2 == "Bearer NNSXS.server-token"));
        assert_eq!(
            calls[0].3["end_device"]["ids"]["dev_eui"],
            "70B3D57ED000ABCD"
        );
    }
    // The synchronous lookup passes the registry's document on.
    let res = app
        .as_person(Method::GET, &format!("/api/logger/{logger}/ttn"), &s)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(res).await["name"], "field-7");
    seen.lock().expect("lock").pop();
    // Loggers that do not exist (or are not the caller's) are 404 before anything goes upstream.
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let res = app
            .as_person(method.clone(), "/api/logger/987654/ttn", &s)
            .json(&register)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 404, "{method}");
    }
    assert_eq!(seen.lock().expect("lock").len(), 4, "nothing went upstream");
    let stored = app
        .state
        .db()
        .run(move |c| loam_db::jobs::find(c, &id))
        .await
        .expect("db")
        .expect("job");
    assert!(
        !stored.payload.contains("00112233445566778899AABBCCDDEEFF"),
        "the app key is scrubbed"
    );
    // An upstream refusal fails the job with the upstream's message, without retries.
    let res = app
        .as_person(Method::DELETE, &format!("/api/logger/{logger}/ttn"), &s)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 202);
    let job = app
        .wait_for_job(&s, json_of(res).await["id"].as_str().expect("id"))
        .await;
    assert_eq!(job["state"], "failed");
    assert_eq!(job["attempts"], 1);
    assert!(
        job["error"]
            .as_str()
            .expect("error")
            .contains("no rights to delete devices"),
        "{job}"
    );
    // The synchronous lookup wraps an upstream failure as 502 JSON.
    let res = app
        .as_person(Method::GET, &format!("/api/logger/{logger}/ttn"), &s)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 502);
    assert!(
        json_of(res).await["error"]["message"]
            .as_str()
            .expect("message")
            .contains("registry down")
    );
    // Bad credentials never leave the server.
    let res = app
        .as_person(Method::POST, &format!("/api/logger/{logger}/ttn"), &s)
        .json(&json!({"dev_eui": "zz", "join_eui": "0000000000000001", "app_key": "00112233445566778899AABBCCDDEEFF"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 422);
}
