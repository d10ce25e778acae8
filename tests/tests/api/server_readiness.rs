//! `/readyz` follows its dependencies down and back up without a restart.

use loam_tests::{Backend, Options, TestApp, TestRedis, ToggleProxy, backend_tests, eventually};

backend_tests!(readiness_reports_an_artifacts_folder_it_cannot_write);

async fn ready_status(app: &TestApp) -> u16 {
    app.get("/readyz").await.status().as_u16()
}

/// Postgres behind a switchable proxy: 200, then 503 while it is unreachable, then 200 again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres: run with --features services"
)]
async fn readiness_follows_the_database_down_and_back() {
    let target = loam_tests::postgres_socket_addr();
    let proxy = ToggleProxy::start(target).await;
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            postgres_via: Some(proxy.addr()),
            ..Options::default()
        },
    )
    .await;
    assert_eq!(ready_status(&app).await, 200);

    proxy.down();
    assert!(
        eventually(15, || async { ready_status(&app).await == 503 }).await,
        "never 503"
    );
    let body: serde_json::Value = app.get("/readyz").await.json().await.expect("json");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["redis"], "not configured");
    // Refused connections say `down`; on a loaded machine the probe may first hit its 2 s bound.
    assert!(
        matches!(body["database"].as_str(), Some("down" | "not responding")),
        "{body}"
    );
    // Requests that need the database fail cleanly meanwhile.
    let cells = app.get("/api/cell/id").await;
    assert_eq!(cells.status(), 503);
    let err: serde_json::Value = cells.json().await.expect("json");
    assert_eq!(err["error"]["code"], "unavailable");

    proxy.up();
    assert!(
        eventually(15, || async { ready_status(&app).await == 200 }).await,
        "never recovered"
    );
    assert_eq!(app.get("/api/cell/id").await.status(), 200);
}

/// A frozen database (the network accepts but never delivers): `/readyz` still answers within
/// about two seconds, says which dependency is down without its raw error, and requests that
/// need the database answer 503 within the request's database timeout instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres: run with --features services"
)]
async fn a_frozen_database_is_reported_within_two_seconds() {
    use std::time::{Duration, Instant};
    let proxy = ToggleProxy::start(loam_tests::postgres_socket_addr()).await;
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            postgres_via: Some(proxy.addr()),
            ents_compat: true,
            tweak: Some(Box::new(|c| c.db_timeout_secs = 2)),
            ..Options::default()
        },
    )
    .await;
    let s = app.signed_in("frozen@example.test").await;
    let cell = app.cell(&s, "frozen@example.test", "c").await;
    let logger = app.logger(&s, "frozen@example.test", "l").await;
    assert_eq!(ready_status(&app).await, 200);

    proxy.freeze();
    let started = Instant::now();
    let res = app.get("/readyz").await;
    let took = started.elapsed();
    assert_eq!(res.status(), 503);
    assert!(took < Duration::from_millis(2800), "/readyz took {took:?}");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"status": "unavailable", "database": "not responding",
                           "redis": "not configured", "artifacts": "ok"})
    );
    let started = Instant::now();
    let upload = app
        .upload(
            loam_tests::frames::power(1_705_168_805, cell, logger, 0.5, 0.001),
            false,
            None,
        )
        .await;
    let took = started.elapsed();
    assert_eq!(upload.status(), 503);
    assert!(took < Duration::from_secs(5), "upload took {took:?}");
    let err: serde_json::Value = upload.json().await.expect("json");
    assert_eq!(err["error"]["code"], "unavailable");

    proxy.up();
    assert!(
        eventually(20, || async { ready_status(&app).await == 200 }).await,
        "never recovered"
    );
}

/// Redis behind a switchable proxy, on either database.
async fn readiness_follows_redis(backend: Backend) {
    let redis = TestRedis::new();
    let target = loam_tests::socket_addr_of(&redis.url);
    let proxy = ToggleProxy::start(target).await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            redis_url: Some(format!("redis://{}", proxy.addr())),
            ..Options::default()
        },
    )
    .await;
    assert_eq!(ready_status(&app).await, 200);
    let body: serde_json::Value = app.get("/readyz").await.json().await.expect("json");
    assert_eq!(body["redis"], "ok");

    proxy.down();
    assert!(
        eventually(15, || async { ready_status(&app).await == 503 }).await,
        "never 503"
    );
    let body: serde_json::Value = app.get("/readyz").await.json().await.expect("json");
    assert_eq!(body["redis"], "down");
    assert_eq!(body["database"], "ok");
    // The database still serves while Redis is down.
    assert_eq!(app.get("/api/cell/id").await.status(), 200);

    proxy.up();
    assert!(
        eventually(15, || async { ready_status(&app).await == 200 }).await,
        "never recovered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Redis: run with --features services"
)]
async fn readiness_follows_redis_on_sqlite() {
    readiness_follows_redis(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres and Redis: run with --features services"
)]
async fn readiness_follows_redis_on_postgres() {
    readiness_follows_redis(Backend::Postgres).await;
}

/// The artifacts folder replaced by a file (as a volume mounted wrongly would leave it): 503
/// naming it, and ready again once it is a folder.
async fn readiness_reports_an_artifacts_folder_it_cannot_write(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(ready_status(&app).await, 200);
    let artifacts = app.config().artifacts();
    std::fs::remove_dir_all(&artifacts).expect("remove the folder");
    std::fs::write(&artifacts, b"not a folder").expect("a file in its place");
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["artifacts"], "not writable", "{body}");
    assert_eq!(body["database"], "ok");
    std::fs::remove_file(&artifacts).expect("remove the file");
    assert_eq!(ready_status(&app).await, 200, "the folder is made again");
}
