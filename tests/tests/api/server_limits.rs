//! The failed-attempt limiter stops guessing without locking out honest callers: failures count
//! per address and per credential, a valid credential is never refused for other callers'
//! failures at its address, and with Redis the limit holds across replicas.

use loam_tests::{Backend, Options, PASSWORD, TestApp, TestRedis, backend_tests, frames};
use reqwest::Method;
use serde_json::json;

backend_tests!(
    a_stale_key_behind_a_gateway_blocks_nobody_else,
    a_guessed_account_is_stopped_before_its_password_is_checked,
);

const LIMIT: u32 = 5;

async fn app_with(
    backend: Backend,
    redis: Option<&TestRedis>,
    database_url: Option<String>,
) -> TestApp {
    let prefix = redis.map(|r| r.prefix.clone());
    TestApp::spawn_with(
        backend,
        Options {
            redis_url: redis.map(|r| r.url.clone()),
            database_url,
            tweak: Some(Box::new(move |c| {
                c.auth_failures_per_minute = LIMIT;
                if let Some(prefix) = prefix {
                    c.redis_prefix = prefix;
                }
            })),
            ..Options::default()
        },
    )
    .await
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/api/auth/login",
        &json!({"email": email, "password": password}),
    )
    .await
}

/// One logger keeps sending a revoked key through the gateway every device shares: it alone
/// ends up refused with 429, while valid keys and correct passwords from the same address go on.
async fn a_stale_key_behind_a_gateway_blocks_nobody_else(backend: Backend) {
    let app = app_with(backend, None, None).await;
    let owner = app.signed_in("gw@example.test").await;
    let cell = app.cell(&owner, "gw@example.test", "field").await;
    let (stale_logger, good_logger) = (
        app.logger(&owner, "gw@example.test", "stale").await,
        app.logger(&owner, "gw@example.test", "good").await,
    );
    let stale = app.device_key(&owner, stale_logger, &["ingest"]).await;
    let good = app.device_key(&owner, good_logger, &["ingest"]).await;
    let keys = app
        .as_person(
            Method::GET,
            &format!("/api/logger/{stale_logger}/keys"),
            &owner,
        )
        .send()
        .await
        .expect("request")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    let key_id = keys[0]["id"].as_str().expect("key id").to_owned();
    let revoked = app
        .as_person(
            Method::DELETE,
            &format!("/api/logger/{stale_logger}/keys/{key_id}"),
            &owner,
        )
        .send()
        .await
        .expect("request");
    assert_eq!(revoked.status(), 204, "revoke: {}", revoked.status());
    let mut statuses = Vec::new();
    for k in 0..(LIMIT + 3) {
        let frame = frames::power(1_705_168_805 + k, cell, stale_logger, 0.5, 0.001);
        let res = app.upload(frame, false, Some(&stale)).await;
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("seconds");
            assert!((1..=60).contains(&retry), "Retry-After {retry}");
        }
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 429, 429, 429],
        "the stale key: 401 up to the limit, then 429"
    );
    // Same address, valid credentials: never refused for the stale key's failures.
    for k in 0..3 {
        let frame = frames::power(1_705_169_805 + k, cell, good_logger, 0.5, 0.001);
        assert_eq!(app.upload(frame, false, Some(&good)).await.status(), 200);
    }
    assert_eq!(login(&app, "gw@example.test", PASSWORD).await.status(), 201);
}

/// Wrong passwords for one account stop that account's checks (even a correct password, for
/// the rest of the minute); another person's correct password from the same address goes on.
async fn a_guessed_account_is_stopped_before_its_password_is_checked(backend: Backend) {
    let app = app_with(backend, None, None).await;
    app.signed_in("victim@example.test").await;
    app.signed_in("colleague@example.test").await;
    let mut statuses = Vec::new();
    for _ in 0..(LIMIT + 2) {
        statuses.push(
            login(&app, "victim@example.test", "not-the-password-1")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    let blocked = login(&app, "victim@example.test", PASSWORD).await;
    assert_eq!(
        blocked.status(),
        429,
        "the guessed account waits out its window"
    );
    let body: serde_json::Value = blocked.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(
        login(&app, "colleague@example.test", PASSWORD)
            .await
            .status(),
        201
    );
}

/// Two replicas sharing Redis share the counts: failures spread over both reach one limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres and Redis: run with --features services"
)]
async fn two_replicas_share_one_limit_through_redis() {
    let redis = TestRedis::new();
    let a = app_with(Backend::Postgres, Some(&redis), None).await;
    let b = app_with(
        Backend::Postgres,
        Some(&redis),
        a.config().database_url.clone(),
    )
    .await;
    a.signed_in("shared@example.test").await;
    let mut statuses = Vec::new();
    for n in 0..(LIMIT + 1) {
        let replica = if n.is_multiple_of(2) { &a } else { &b };
        statuses.push(
            login(replica, "shared@example.test", "not-the-password-1")
                .await
                .status()
                .as_u16(),
        );
    }
    // Per replica each saw at most three failures; together they passed the limit of five.
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    for replica in [&a, &b] {
        assert_eq!(
            login(replica, "shared@example.test", PASSWORD)
                .await
                .status(),
            429
        );
    }
}
