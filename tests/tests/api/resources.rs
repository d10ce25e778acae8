//! Cells, loggers, tags and sharing: ENTS shapes, all-or-nothing writes, and ownership (someone
//! else's resource answers 404, members never see API keys).

use loam_tests::{Backend, Options, TestApp, backend_tests};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    cells_round_trip_in_ents_shapes,
    bad_cell_input_is_4xx_and_creates_nothing,
    dashboard_forms_send_coordinates_as_text,
    someone_elses_resources_are_404,
    tags_and_links_follow_ents,
    sharing_never_shows_keys,
    dashboard_writes_are_anonymous_only_in_compatibility_mode,
);

async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.expect("json")
}

async fn cells_round_trip_in_ents_shapes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = app.signed_in("c@example.test").await;
    let id = app.cell(&s, "c@example.test", "north").await;
    let update = app
        .as_person(Method::PUT, &format!("/api/cell/{id}"), &s)
        .json(&json!({"name": "south", "lat": -3.25, "long": 4.75, "archive": true}))
        .send()
        .await
        .expect("req");
    assert_eq!(
        json_of(update).await,
        json!({"message": "Successfully updated cell"})
    );
    let mine = json_of(
        app.as_person(Method::GET, "/api/cell/?user=1", &s)
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(
        mine,
        json!([{"id": id, "name": "south", "location": "plot", "latitude": -3.25, "longitude": 4.75, "archive": true, "public": false}])
    );
    let by_name = json_of(
        app.as_person(Method::GET, "/api/cell/?name=OUT", &s)
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(by_name.as_array().map(Vec::len), Some(1));
    assert_eq!(
        app.as_person(Method::GET, "/api/cell/?tags=x,y", &s)
            .send()
            .await
            .expect("req")
            .status(),
        400
    );
    let deleted = app
        .as_person(Method::DELETE, &format!("/api/cell/{id}"), &s)
        .send()
        .await
        .expect("req");
    assert_eq!(
        json_of(deleted).await,
        json!({"message": "Cell deleted successfully"})
    );
    for path in [
        format!("/api/cell/{id}"),
        "/api/cell/-1".to_owned(),
        "/api/cell/abc".to_owned(),
    ] {
        assert_eq!(
            app.as_person(Method::DELETE, &path, &s)
                .send()
                .await
                .expect("req")
                .status(),
            404,
            "{path}"
        );
    }
}

async fn bad_cell_input_is_4xx_and_creates_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = app.signed_in("bad@example.test").await;
    app.cell(&s, "bad@example.test", "taken").await;
    let base = json!({"name": "fresh", "location": "x", "latitude": 1.0, "longitude": 2.0, "archive": false, "userEmail": "bad@example.test"});
    let mut cases = Vec::new();
    for (key, value, status) in [
        ("archive", Value::Null, 422),
        ("latitude", json!("north"), 422),
        ("userEmail", json!("not-an-email"), 422),
        ("colour", json!("red"), 422),
        ("tag_ids", json!([987_654]), 404),
    ] {
        let mut body = base.clone();
        body[key] = value;
        cases.push((key, body, status));
    }
    let mut missing = base.clone();
    missing.as_object_mut().expect("object").remove("archive");
    cases.push(("missing archive", missing, 422));
    let mut duplicate = base.clone();
    duplicate["name"] = json!("taken");
    cases.push(("duplicate", duplicate, 400));
    for (what, body, status) in cases {
        let res = app
            .as_person(Method::POST, "/api/cell/", &s)
            .json(&body)
            .send()
            .await
            .expect("req");
        assert_eq!(res.status(), status, "{what}");
        let err = json_of(res).await;
        assert!(err["error"]["code"].is_string(), "{what}: {err}");
    }
    let names: Vec<String> = app
        .db(loam_db::cells::list_all)
        .await
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["taken"]);
}

/// The ENTS dashboard's Add Cell and Edit Cell forms send what their text fields hold: numeric
/// strings are the numbers they spell, anything else is refused and changes nothing.
async fn dashboard_forms_send_coordinates_as_text(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = app.signed_in("form@example.test").await;
    let created = app
        .as_person(Method::POST, "/api/cell/", &s)
        .json(&json!({"name": "typed", "location": "x", "latitude": "36.9741", "longitude": " -122.0308", "archive": "false", "userEmail": "form@example.test"}))
        .send()
        .await
        .expect("req");
    assert_eq!(created.status(), 200);
    let id = json_of(created).await["id"].as_i64().expect("id");
    let cell_json = || async {
        json_of(
            app.as_person(Method::GET, &format!("/api/cell/{id}"), &s)
                .send()
                .await
                .expect("req"),
        )
        .await
    };
    let cell = cell_json().await;
    assert_eq!(
        (&cell["latitude"], &cell["longitude"], &cell["archive"]),
        (&json!(36.9741), &json!(-122.0308), &json!(false))
    );
    let edit = app
        .as_person(Method::PUT, &format!("/api/cell/{id}"), &s)
        .json(&json!({"lat": "36.98", "long": -122.05, "archive": 1}))
        .send()
        .await
        .expect("req");
    assert_eq!(edit.status(), 200);
    let cell = cell_json().await;
    assert_eq!(
        (&cell["latitude"], &cell["longitude"], &cell["archive"]),
        (&json!(36.98), &json!(-122.05), &json!(true))
    );
    for bad in [
        json!({"lat": "north"}),
        json!({"lat": "NaN"}),
        json!({"long": "1e999"}),
        json!({"lat": "95"}),
        json!({"archive": "maybe"}),
    ] {
        let res = app
            .as_person(Method::PUT, &format!("/api/cell/{id}"), &s)
            .json(&bad)
            .send()
            .await
            .expect("req");
        assert_eq!(res.status(), 422, "{bad}");
        assert!(json_of(res).await["error"]["code"].is_string(), "{bad}");
    }
    assert_eq!(cell_json().await, cell);
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

async fn dashboard_writes_are_anonymous_only_in_compatibility_mode(backend: Backend) {
    for compat in [false, true] {
        let app = TestApp::spawn_with(
            backend,
            Options {
                ents_compat: compat,
                ..Options::default()
            },
        )
        .await;
        let s = app.signed_in("dash@example.test").await;
        let body = json!({"name": "anon", "location": "x", "latitude": 1.0, "longitude": 2.0, "archive": false, "userEmail": "dash@example.test"});
        let res = app.post_json("/api/cell/", &body).await;
        assert_eq!(
            res.status(),
            if compat { 200 } else { 401 },
            "compat={compat}"
        );
        // Person routes stay closed without credentials in both modes.
        assert_eq!(app.get("/api/user").await.status(), 401);
        assert_eq!(
            app.post_json("/api/tag/", &json!({"name": "t"}))
                .await
                .status(),
            401
        );
        let cell = app.cell(&s, "dash@example.test", "mine").await;
        let listed = json_of(app.get("/api/cell/id").await).await;
        let ids: Vec<i64> = listed
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|c| c["id"].as_i64())
            .collect();
        assert_eq!(
            ids.contains(&cell),
            compat,
            "private cells are listed anonymously only in compat mode"
        );
    }
}
