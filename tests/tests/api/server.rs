//! Health checks, request ids, the error envelope, routing rules and the OpenAPI document.

use loam_tests::{Backend, TestApp, backend_tests};
use serde_json::Value;

backend_tests!(
    ents_health_is_byte_exact,
    liveness_and_readiness_answer,
    request_id_is_echoed_or_generated,
    unknown_paths_and_methods_get_the_json_envelope,
    canonical_spellings_redirect_with_308,
    openapi_lists_every_routed_path_and_docs_page_serves,
);

async fn ents_health_is_byte_exact(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.get("/api/").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body = res.bytes().await.expect("body");
    assert_eq!(
        &body[..],
        b"{\"hello\": \"I'm alive and healthy! Super healthy :D\"}\n"
    );
    let head = app
        .client
        .head(app.url("/api/"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), 200);
    assert!(head.bytes().await.expect("body").is_empty());
}

async fn liveness_and_readiness_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let live = app.get("/healthz").await;
    assert_eq!(live.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["redis"], "not configured");
}

async fn request_id_is_echoed_or_generated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let echoed = app
        .client
        .get(app.url("/api/"))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .expect("request");
    assert_eq!(echoed.headers()["x-request-id"], "client-chosen-42");

    let a = app.get("/api/").await;
    let b = app.get("/api/").await;
    let (ra, rb) = (&a.headers()["x-request-id"], &b.headers()["x-request-id"]);
    for id in [ra, rb] {
        let id = id.to_str().expect("ascii");
        assert!(ulid::Ulid::from_string(id).is_ok(), "a ULID: {id:?}");
    }
    assert_ne!(ra, rb);

    // A header value that could forge log lines is replaced, not echoed.
    let forged = app
        .client
        .get(app.url("/api/"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .expect("request");
    let fresh = forged.headers()["x-request-id"].to_str().expect("ascii");
    assert!(
        ulid::Ulid::from_string(fresh).is_ok(),
        "a fresh ULID replaces it: {fresh:?}"
    );
}

async fn unknown_paths_and_methods_get_the_json_envelope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/api/definitely/not/here", "/nothing-here"] {
        let res = app
            .client
            .get(app.url(path))
            .header("x-request-id", "rid-404")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(res.headers()["content-type"], "application/json");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"]["code"], "not_found");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(path)),
            "{body}"
        );
        assert_eq!(body["request_id"], "rid-404");
    }
    let res = app
        .client
        .delete(app.url("/api/cell/id"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 405);
    let rid = res.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "method_not_allowed");
    assert_eq!(body["request_id"], rid.as_str());
}

async fn canonical_spellings_redirect_with_308(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        ("/api?probe=1", "/api/?probe=1"),
        ("/api/cell/id/", "/api/cell/id"),
        ("/api//cell/id", "/api/cell/id"),
        ("//api/?a=b", "/api/?a=b"),
    ];
    for (from, to) in cases {
        let res = app.get(from).await;
        assert_eq!(res.status(), 308, "{from}");
        assert_eq!(res.headers()["location"], to, "{from}");
    }
    // 308 keeps the method: a POST to the slash-less spelling is redirected, not refused.
    let post = app
        .client
        .post(app.url("/api"))
        .send()
        .await
        .expect("request");
    assert_eq!(post.status(), 308);
}

async fn openapi_lists_every_routed_path_and_docs_page_serves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let spec = app.spec().await;
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    let paths = spec["paths"].as_object().expect("paths");
    for routed in loam_api::routed_paths() {
        assert!(
            paths.contains_key(&routed),
            "{routed} is routed but missing from the spec"
        );
    }
    let declared: Vec<&str> = spec["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t["name"].as_str().expect("tag name"))
        .collect();
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no responses"
            );
            for tag in op["tags"].as_array().into_iter().flatten() {
                let tag = tag.as_str().expect("tag");
                assert!(
                    declared.contains(&tag),
                    "{method} {path}: tag {tag} is not declared"
                );
            }
        }
    }
    let home = app.get("/").await;
    assert_eq!(home.status(), 200);
    assert!(
        home.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let html = home.text().await.expect("html");
    assert!(html.contains("href=\"/api/docs\"") && html.contains("/api/openapi.json"));
    let docs = app.get("/api/docs").await;
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.expect("html");
    assert!(html.contains("/api/openapi.json") && html.contains("redoc.standalone.js"));
    let script = app.get("/api/docs/redoc.standalone.js").await;
    assert_eq!(script.status(), 200);
    assert!(script.bytes().await.expect("js").len() > 100_000);
}
