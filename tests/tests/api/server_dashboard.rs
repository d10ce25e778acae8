//! `LOAM_DASHBOARD_DIR`: a built single-page dashboard served from the API's origin — its files,
//! `index.html` for page paths (the app routes them), nothing outside the folder, and the API's
//! own paths untouched.

use loam_tests::{Backend, Options, TestApp, backend_tests};

backend_tests!(a_built_dashboard_is_served_beside_the_api);

async fn a_built_dashboard_is_served_beside_the_api(backend: Backend) {
    let build = tempfile::tempdir().expect("temp dir");
    let root = build.path().to_path_buf();
    std::fs::create_dir_all(root.join("static/js")).expect("mkdir");
    std::fs::write(
        root.join("index.html"),
        "<!doctype html><div id=root></div>",
    )
    .expect("index");
    std::fs::write(
        root.join("static/js/main.abc123.js"),
        "console.log('dirtviz')",
    )
    .expect("js");
    let app = TestApp::spawn_with(
        backend,
        Options {
            tweak: Some(Box::new(move |c| c.dashboard_dir = Some(root))),
            ..Options::default()
        },
    )
    .await;
    for page in ["/", "/cells/5", "/dashboard/plot?cell=3"] {
        let res = app.get(page).await;
        assert_eq!(res.status(), 200, "{page}");
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(res.headers()["cache-control"], "no-cache");
        assert!(
            res.text().await.expect("text").contains("id=root"),
            "{page}"
        );
    }
    let script = app.get("/static/js/main.abc123.js").await;
    assert_eq!(script.status(), 200);
    assert_eq!(script.headers()["content-type"], "application/javascript");
    assert_eq!(script.text().await.expect("text"), "console.log('dirtviz')");
    // A missing asset is a 404, not the app's page.
    let missing_asset = app.get("/static/js/missing.js").await;
    assert_eq!(missing_asset.status(), 404);
    // Nothing outside the folder: a climbing path gets the app's page, never the file.
    let climbing = app.get("/static/../../../../etc/passwd").await;
    assert!(!climbing.text().await.expect("text").contains("root:"));
    // The API keeps its own answers: JSON 404s, the health check, the docs.
    let missing = app.get("/api/no-such-thing").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/json");
    assert_eq!(app.get("/api/").await.status(), 200);
    assert_eq!(app.get("/healthz").await.status(), 200);
}
