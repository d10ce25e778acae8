//! `/metrics`: the API's Prometheus text, read with a real exposition-format parser — uploads by
//! door, table and refusal reason, requests by route template, the pool, the job queue, Redis,
//! build info — and `LOAM_METRICS_LISTEN` moving it off the public port.

use loam_tests::{Backend, Options, TestApp, TestRedis, backend_tests, frames, sample, scrape};

backend_tests!(
    metrics_count_what_devices_did,
    metrics_listen_moves_metrics_off_the_public_port
);

const T0: u32 = 1_765_000_000;

async fn metrics_text(app: &TestApp, url: &str) -> String {
    let res = app.client.get(url).send().await.expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    res.text().await.expect("text")
}

async fn metrics_count_what_devices_did(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = "metrics@example.test";
    let s = app.signed_in(email).await;
    let cell = app.cell(&s, email, "metered").await;
    let logger = app.logger(&s, email, "meter").await;
    let key = app.device_key(&s, logger, &["ingest"]).await;
    // Metrics are per process and tests share the process: compare before and after.
    let before = scrape(&metrics_text(&app, &app.url("/metrics")).await);
    for ts in [T0, T0 + 60, T0 + 60] {
        let res = app
            .upload(
                frames::power(ts, cell, logger, 3.3, 0.01),
                false,
                Some(&key),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = app.upload(vec![0xff, 0xff, 0xff], false, Some(&key)).await;
    assert_eq!(res.status(), 400);
    let after = scrape(&metrics_text(&app, &app.url("/metrics")).await);
    let grew = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels).unwrap_or(0.0) - sample(&before, name, labels).unwrap_or(0.0)
    };
    let protobuf = [("door", "protobuf")];
    assert!(grew("loam_uploads_stored_total", &protobuf) >= 3.0);
    assert!(
        grew(
            "loam_upload_rows_total",
            &[("door", "protobuf"), ("table", "power")]
        ) >= 3.0
    );
    // The third upload repeated the second: stored once.
    assert!(grew("loam_rows_stored_total", &protobuf) >= 2.0);
    assert!(
        grew(
            "loam_upload_rejections_total",
            &[("door", "protobuf"), ("reason", "invalid_upload")]
        ) >= 1.0
    );
    let routed = [("route", "/api/sensor/"), ("method", "POST")];
    assert!(
        grew(
            "loam_http_requests_total",
            &[routed[0], routed[1], ("status", "2xx")]
        ) >= 3.0
    );
    assert!(
        grew(
            "loam_http_requests_total",
            &[routed[0], routed[1], ("status", "4xx")]
        ) >= 1.0
    );
    assert!(
        after
            .samples
            .iter()
            .any(|s| s.metric == "loam_http_request_duration_seconds"
                && s.labels.get("route") == Some("/api/sensor/")),
        "a latency histogram per route"
    );
    assert!(
        after
            .samples
            .iter()
            .any(|s| s.metric == "loam_commit_batch_uploads"
                && matches!(&s.value, prometheus_parse::Value::Histogram(b) if !b.is_empty())),
        "group-commit batch sizes"
    );
    for state in ["in_use", "idle", "waiting"] {
        assert!(sample(&after, "loam_db_pool_connections", &[("state", state)]).is_some());
    }
    assert_eq!(
        sample(&after, "loam_jobs", &[("state", "running")]),
        Some(0.0)
    );
    assert!(sample(&after, "loam_job_oldest_queued_age_seconds", &[]).is_some());
    assert!(sample(&after, "loam_db_write_retries_total", &[]).is_some());
    assert_eq!(
        sample(
            &after,
            "loam_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
}

async fn metrics_listen_moves_metrics_off_the_public_port(backend: Backend) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let app = TestApp::spawn_with(
        backend,
        Options {
            tweak: Some(Box::new(move |c| {
                c.metrics_listen = Some(([127, 0, 0, 1], port).into());
            })),
            ..Options::default()
        },
    )
    .await;
    let public = app.get("/metrics").await;
    assert_eq!(public.status(), 404);
    let text = metrics_text(&app, &format!("http://127.0.0.1:{port}/metrics")).await;
    assert!(
        sample(
            &scrape(&text),
            "loam_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        )
        .is_some()
    );
}

/// With Redis, `loam_redis_up` follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres and Redis: run with --features services"
)]
async fn redis_up_is_reported_when_redis_is_configured() {
    let redis = TestRedis::new();
    let prefix = redis.prefix.clone();
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            redis_url: Some(redis.url.clone()),
            tweak: Some(Box::new(move |c| c.redis_prefix = prefix)),
            ..Options::default()
        },
    )
    .await;
    let text = metrics_text(&app, &app.url("/metrics")).await;
    assert_eq!(sample(&scrape(&text), "loam_redis_up", &[]), Some(1.0));
}
