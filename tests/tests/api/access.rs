//! Who may do what: the OpenAPI document's security entries match what the route layers
//! enforce, and someone else's cells, loggers and tags answer 404 like missing ones.

use loam_tests::{Backend, Options, TestApp, backend_tests};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    secured_operations_refuse_anonymous_callers,
    every_operation_refuses_invalid_credentials,
    every_operation_rate_limits_guessed_keys,
    device_keys_read_only_their_owners_cells,
    someone_elses_resources_are_404,
);

fn security_of(spec: &Value, path: &str, method: &str) -> Vec<String> {
    spec["paths"][path][method]["security"]
        .as_array()
        .map(|alternatives| {
            alternatives
                .iter()
                .filter_map(|a| a.as_object())
                .flat_map(|a| a.keys().cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// One operation of the spec: its method, documented path, the path with every parameter
/// set to 1, and its document.
struct Operation {
    method: Method,
    path: String,
    concrete: String,
    doc: Value,
}

async fn operations_of(app: &TestApp) -> Vec<Operation> {
    app.operations()
        .await
        .into_iter()
        .map(|op| Operation {
            method: Method::from_bytes(op.method.as_bytes()).expect("method"),
            concrete: op.sample_path(),
            path: op.path,
            doc: op.doc,
        })
        .collect()
}

async fn secured_operations_refuse_anonymous_callers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let spec = app.spec().await;
    assert_eq!(
        security_of(&spec, "/api/user", "get"),
        ["bearer", "api_key"]
    );
    assert_eq!(security_of(&spec, "/api/apikey/", "post"), ["bearer"]);
    assert_eq!(security_of(&spec, "/api/sensor/", "post"), ["api_key"]);
    assert!(security_of(&spec, "/api/cell/id", "get").is_empty());
    let mut checked = 0;
    for op in operations_of(&app).await {
        if op.doc["security"].as_array().is_none_or(|s| s.is_empty()) {
            continue;
        }
        let res = app
            .client
            .request(op.method.clone(), app.url(&op.concrete))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("req");
        assert_eq!(
            res.status(),
            401,
            "{} {} is documented as secured but let an anonymous caller through",
            op.method,
            op.path
        );
        checked += 1;
    }
    assert!(checked > 20, "only {checked} secured operations found");
}

/// Credentials are checked before any route runs: a bad token is a 401 everywhere, also where
/// no credentials are needed (a client with a stale token learns it at once).
async fn every_operation_refuses_invalid_credentials(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut checked = 0;
    for op in operations_of(&app).await {
        let (method, path) = (&op.method, &op.path);
        assert!(
            op.doc["responses"].get("401").is_some(),
            "{method} {path} does not document 401"
        );
        let res = app
            .client
            .request(method.clone(), app.url(&op.concrete))
            .header("authorization", "Bearer expired-or-forged")
            .send()
            .await
            .expect("req");
        assert_eq!(res.status(), 401, "{method} {path} took a forged token");
        let body: Value = res.json().await.expect("a JSON error body");
        assert_eq!(
            body["error"]["code"], "unauthorized",
            "{method} {path}: {body}"
        );
        checked += 1;
    }
    assert!(checked > 80, "only {checked} operations found");
}

/// An invalid API key counts against the caller's address wherever it is sent (credentials are
/// checked before any route runs), so past the limit every operation answers 429 with
/// Retry-After, and every operation documents it.
async fn every_operation_rate_limits_guessed_keys(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            tweak: Some(Box::new(|c| c.auth_failures_per_minute = 1)),
            ..Options::default()
        },
    )
    .await;
    let guessed = format!("loam_dk_{}", "0".repeat(64));
    let first = app
        .client
        .get(app.url("/api/cell/id"))
        .header("x-api-key", &guessed)
        .send()
        .await
        .expect("req");
    assert_eq!(first.status(), 401, "the first guess is only refused");
    let mut checked = 0;
    for op in operations_of(&app).await {
        let (method, path) = (&op.method, &op.path);
        assert!(
            op.doc["responses"].get("429").is_some(),
            "{method} {path} does not document 429"
        );
        let res = app
            .client
            .request(method.clone(), app.url(&op.concrete))
            .header("x-api-key", &guessed)
            .send()
            .await
            .expect("req");
        assert_eq!(res.status(), 429, "{method} {path}");
        assert!(
            res.headers().get("retry-after").is_some(),
            "{method} {path}"
        );
        let body: Value = res.json().await.expect("a JSON error body");
        assert_eq!(
            body["error"]["code"], "rate_limited",
            "{method} {path}: {body}"
        );
        checked += 1;
    }
    assert!(checked > 80, "only {checked} operations found");
}

async fn device_keys_read_only_their_owners_cells(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.signed_in("alice@example.test").await;
    let bob = app.signed_in("bob@example.test").await;
    let hers = app.cell(&alice, "alice@example.test", "hers").await;
    let his = app.cell(&bob, "bob@example.test", "his").await;
    let logger = app.logger(&alice, "alice@example.test", "l").await;
    let key = app.device_key(&alice, logger, &["ingest", "read"]).await;
    let read = |cell: i64| {
        app.client
            .get(app.url(&format!("/api/power/{cell}")))
            .header("x-api-key", &key)
            .send()
    };
    assert_eq!(read(hers).await.expect("req").status(), 200);
    assert_eq!(read(his).await.expect("req").status(), 404);
}

async fn someone_elses_resources_are_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.signed_in("alice@example.test").await;
    let bob = app.signed_in("bob@example.test").await;
    let cell = app.cell(&alice, "alice@example.test", "hers").await;
    let logger = app.logger(&alice, "alice@example.test", "her-logger").await;
    let tag = json_of(
        app.as_person(Method::POST, "/api/tag/", &alice)
            .json(&json!({"name": "hers"}))
            .send()
            .await
            .expect("req"),
    )
    .await;
    let tag_id = tag["tag"]["id"].as_i64().expect("id");
    for (method, path) in [
        (Method::PUT, format!("/api/cell/{cell}")),
        (Method::DELETE, format!("/api/cell/{cell}")),
        (Method::GET, format!("/api/cell/{cell}/users")),
        (Method::GET, format!("/api/cell/{cell}/tags")),
        (Method::GET, format!("/api/logger/{logger}")),
        (Method::DELETE, format!("/api/logger/{logger}")),
        (Method::GET, format!("/api/logger/{logger}/keys")),
        (Method::PUT, format!("/api/tag/{tag_id}")),
        (Method::DELETE, format!("/api/tag/{tag_id}")),
    ] {
        let res = app
            .as_person(method.clone(), &path, &bob)
            .json(&json!({"name": "stolen"}))
            .send()
            .await
            .expect("req");
        assert_eq!(res.status(), 404, "{method} {path}");
    }
    // Alice sees her own cell and logger; Bob's lists are empty.
    let hers = json_of(
        app.as_person(Method::GET, "/api/logger/", &alice)
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(hers.as_array().map(Vec::len), Some(1), "{hers}");
    let listed = json_of(
        app.as_person(Method::GET, "/api/cell/id", &bob)
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(listed, json!([]));
    let listed = json_of(
        app.as_person(Method::GET, "/api/logger/", &bob)
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(listed, json!([]));
}

async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.expect("json")
}
