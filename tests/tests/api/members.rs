//! Sharing a cell: members see each other, never API keys.

use loam_tests::{Backend, TestApp, backend_tests};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(sharing_never_shows_keys,);

async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.expect("json")
}

async fn sharing_never_shows_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.signed_in("alice@example.test").await;
    let bob = app.signed_in("bob@example.test").await;
    let key = json_of(
        app.as_person(Method::POST, "/api/apikey/", &alice)
            .send()
            .await
            .expect("req"),
    )
    .await["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let cell = app.cell(&alice, "alice@example.test", "shared").await;
    let shared = app
        .as_person(Method::POST, &format!("/api/cell/{cell}/share"), &alice)
        .json(&json!({"email": "BOB@example.test"}))
        .send()
        .await
        .expect("req");
    assert_eq!(shared.status(), 200);
    let again = app
        .as_person(Method::POST, &format!("/api/cell/{cell}/share"), &alice)
        .json(&json!({"email": "bob@example.test"}))
        .send()
        .await
        .expect("req");
    assert_eq!(again.status(), 400);
    let members = app
        .as_person(Method::GET, &format!("/api/cell/{cell}/users"), &alice)
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("text");
    assert!(
        members.contains("bob@example.test")
            && !members.contains(&key)
            && !members.contains("api_key"),
        "{members}"
    );
    let bobs = json_of(
        app.as_person(Method::GET, "/api/cell/?user=1", &bob)
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(bobs[0]["id"], cell, "the shared cell is bob's now");
    assert_eq!(
        app.get(&format!("/api/cell/{cell}/users")).await.status(),
        401
    );
}
