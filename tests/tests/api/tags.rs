//! Tags and their links to cells, as ENTS shapes them (a shared vocabulary: any signed-in person
//! reads a tag; only its creator changes it).

use loam_tests::{Backend, TestApp, backend_tests};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(tags_and_links_follow_ents,);

async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.expect("json")
}

async fn tags_and_links_follow_ents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = app.signed_in("tags@example.test").await;
    let cell = app.cell(&s, "tags@example.test", "tagged").await;
    let created = app
        .as_person(Method::POST, "/api/tag/", &s)
        .json(&json!({"name": "  Soil  ", "description": "m"}))
        .send()
        .await
        .expect("req");
    assert_eq!(created.status(), 201);
    let tag = json_of(created).await["tag"].clone();
    assert_eq!(
        (tag["name"].as_str(), tag["cell_count"].as_i64()),
        (Some("Soil"), Some(0))
    );
    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x".repeat(256)}),
        json!({"name": "ok", "foo": 1}),
        json!({"name": "Soil"}),
    ] {
        let res = app
            .as_person(Method::POST, "/api/tag/", &s)
            .json(&bad)
            .send()
            .await
            .expect("req");
        assert_eq!(res.status(), 400, "{bad}");
    }
    let id = tag["id"].as_i64().expect("id");
    let assigned = app
        .as_person(Method::POST, &format!("/api/cell/{cell}/tags"), &s)
        .json(&json!({"tag_ids": [id]}))
        .send()
        .await
        .expect("req");
    assert_eq!(json_of(assigned).await["tags"][0]["cell_count"], 1);
    let again = app
        .as_person(Method::PUT, &format!("/api/cell/{cell}/tags/{id}"), &s)
        .send()
        .await
        .expect("req");
    assert_eq!(again.status(), 400, "already assigned");
    let unknown = app
        .as_person(Method::POST, &format!("/api/cell/{cell}/tags"), &s)
        .json(&json!({"tag_ids": [987_654]}))
        .send()
        .await
        .expect("req");
    assert_eq!(unknown.status(), 404);
    let still = json_of(
        app.as_person(Method::GET, &format!("/api/cell/{cell}/tags"), &s)
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(
        still.as_array().map(Vec::len),
        Some(1),
        "a refused replacement changes nothing"
    );
    let cells = json_of(
        app.as_person(Method::GET, &format!("/api/tags/{id}/cells"), &s)
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(cells["cells"][0]["id"], cell);
    let removed = app
        .as_person(Method::DELETE, &format!("/api/cell/{cell}/tags/{id}"), &s)
        .send()
        .await
        .expect("req");
    assert_eq!(
        json_of(removed).await,
        json!({"message": "Tag removed from cell successfully"})
    );
}
