//! `GET /api/cell/id`, the first vertical slice through every layer.

use loam_db::models::NewCell;
use loam_tests::{Backend, Options, TestApp, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    cell_list_is_empty_on_a_fresh_database,
    strict_mode_lists_only_public_cells,
    compat_mode_lists_every_cell_in_id_order,
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
