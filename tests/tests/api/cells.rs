//! Cells: listings per access mode, ENTS shapes, all-or-nothing writes, the dashboard's text
//! coordinates and anonymous writes (compatibility mode only), and deletes that take the cell's
//! measurements with it (a deleted logger's power rows stay, detached).

use loam_db::models::NewCell;
use loam_tests::{Backend, Options, TestApp, backend_tests, frames};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    cell_list_is_empty_on_a_fresh_database,
    strict_mode_lists_only_public_cells,
    compat_mode_lists_every_cell_in_id_order,
    cells_round_trip_in_ents_shapes,
    bad_cell_input_is_4xx_and_creates_nothing,
    dashboard_forms_send_coordinates_as_text,
    dashboard_writes_are_anonymous_only_in_compatibility_mode,
    deletes_take_or_detach_measurements,
);

async fn seed(app: &TestApp) {
    app.db(|c| {
        for (name, public) in [("zeta", false), ("alpha", true), ("mid", false)] {
            loam_db::cells::insert(
                c,
                &NewCell {
                    name,
                    location: Some("field"),
                    latitude: Some(36.99),
                    longitude: Some(-122.05),
                    user_id: None,
                    archive: false,
                    public,
                    created_at: loam_db::now(),
                },
            )?;
        }
        Ok(())
    })
    .await;
}

async fn cell_list_is_empty_on_a_fresh_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.get("/api/cell/id").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("json"), json!([]));
}

async fn strict_mode_lists_only_public_cells(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let body: Value = app.get("/api/cell/id").await.json().await.expect("json");
    let names: Vec<&str> = body
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["alpha"]);
}

async fn compat_mode_lists_every_cell_in_id_order(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            ents_compat: true,
            ..Options::default()
        },
    )
    .await;
    seed(&app).await;
    let body: Value = app.get("/api/cell/id").await.json().await.expect("json");
    let cells = body.as_array().expect("array");
    let names: Vec<&str> = cells.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
    let ids: Vec<i64> = cells.iter().filter_map(|c| c["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(
        cells[0],
        json!({"id": ids[0], "name": "zeta", "location": "field", "latitude": 36.99,
               "longitude": -122.05, "archive": false, "public": false})
    );
}

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
