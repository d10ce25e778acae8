//! Live events reach subscribers of every replica through Redis, and stay local when Redis is down.

use std::time::Duration;

use loam_tests::{Backend, Options, TestApp, TestRedis, ToggleProxy, frames};

async fn replica(
    backend: Backend,
    redis_url: String,
    prefix: String,
    database_url: Option<String>,
) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            ents_compat: true,
            redis_url: Some(redis_url),
            tweak: Some(Box::new(move |c| c.redis_prefix = prefix)),
            database_url,
            ..Options::default()
        },
    )
    .await
}

/// Two replicas on one Postgres database and one Redis: an upload to the first reaches the
/// second's subscribers; with Redis cut, the first still serves its own subscribers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres and Redis: run with --features services"
)]
async fn events_cross_replicas_through_redis() {
    let redis = TestRedis::new();
    let proxy = ToggleProxy::start(loam_tests::socket_addr_of(&redis.url)).await;
    let via_proxy = format!("redis://{}", proxy.addr());
    let a = replica(Backend::Postgres, via_proxy, redis.prefix.clone(), None).await;
    let b = replica(
        Backend::Postgres,
        redis.url.clone(),
        redis.prefix.clone(),
        a.config().database_url.clone(),
    )
    .await;
    let mut on_b = b.state.live().subscribe();
    let mut on_a = a.state.live().subscribe();
    let s = a.signed_in("live@example.test").await;
    let cell = a.cell(&s, "live@example.test", "c").await;
    let logger = a.logger(&s, "live@example.test", "l").await;
    // Give both subscriptions a moment to reach Redis.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The two replicas have separate databases here, so replica b only relays: the point is the bus.
    let res = a
        .upload(
            frames::power(1_705_168_805, cell, logger, 0.5, 0.001),
            false,
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let got = tokio::time::timeout(Duration::from_secs(5), on_b.recv())
        .await
        .expect("event on replica b")
        .expect("open");
    assert_eq!(
        (got.cell_id, got.kind.as_str(), got.timestamp),
        (cell as u32, "power", 1_705_168_805)
    );
    let own = tokio::time::timeout(Duration::from_secs(5), on_a.recv())
        .await
        .expect("event on replica a")
        .expect("open");
    assert_eq!(own.cell_id, cell as u32);

    proxy.down();
    let res = a
        .upload(
            frames::power(1_705_168_806, cell, logger, 0.5, 0.001),
            false,
            None,
        )
        .await;
    assert_eq!(res.status(), 200, "ingestion keeps working without Redis");
    let own = tokio::time::timeout(Duration::from_secs(5), on_a.recv())
        .await
        .expect("local fallback")
        .expect("open");
    assert_eq!(own.timestamp, 1_705_168_806);
}
