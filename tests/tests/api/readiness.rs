//! `/readyz` follows its dependencies down and back up without a restart.

use loam_tests::{Backend, Options, TestApp, TestRedis, ToggleProxy, eventually};

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
    assert_ne!(body["database"], "ok");
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
