//! The real `loam-worker` binary's own listener (`LOAM_WORKER_LISTEN`): `/healthz`, `/readyz`
//! following Redis down and back, `/metrics` read with a Prometheus text-format parser, and
//! `loam-worker healthcheck` exiting 0 or 1 as compose and orchestrators expect.

use std::process::{Child, Command};
use std::time::Duration;

use loam_tests::{Backend, Options, TestApp, TestRedis, ToggleProxy, sample, scrape};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The worker binary for `app`'s database, with Redis at `redis_url` and its listener on `port`.
fn worker(app: &TestApp, redis_url: &str, port: u16, args: &[&str]) -> Command {
    let config = app.config();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loam-worker"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            config.database_url.clone().expect("Postgres"),
        )
        .env("REDIS_URL", redis_url)
        .env("LOAM_REDIS_PREFIX", &config.redis_prefix)
        .env("LOAM_DATA_DIR", &config.data_dir)
        .env("LOAM_WORKER_LISTEN", format!("127.0.0.1:{port}"))
        .args(args);
    cmd
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get(port: u16, path: &str) -> Option<reqwest::Response> {
    reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()
}

fn healthcheck(app: &TestApp, redis_url: &str, port: u16) -> Option<i32> {
    worker(app, redis_url, port, &["healthcheck"])
        .output()
        .expect("loam-worker runs")
        .status
        .code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres and Redis: run with --features services"
)]
async fn the_worker_answers_health_readiness_and_metrics() {
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
    let proxy = ToggleProxy::start(loam_tests::socket_addr_of(&redis.url)).await;
    let redis_url = format!("redis://{}", proxy.addr());
    let port = free_port();
    // Nothing listens yet: the healthcheck fails with 1 (Docker reserves 2).
    assert_eq!(healthcheck(&app, &redis_url, port), Some(1));
    // A setting that does not parse is a failure like any other: 1, not clap's 2.
    let garbled = worker(&app, &redis_url, port, &["healthcheck"])
        .env("LOAM_WORKER_LISTEN", "garbage")
        .output()
        .expect("loam-worker runs");
    assert_eq!(garbled.status.code(), Some(1));
    let _worker = Running(
        worker(&app, &redis_url, port, &[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("loam-worker starts"),
    );
    let up = loam_tests::eventually(30, || async {
        get(port, "/healthz")
            .await
            .is_some_and(|r| r.status() == 200)
    })
    .await;
    assert!(up, "the worker's listener answers /healthz");
    let ready = get(port, "/readyz").await.expect("answer");
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["redis"], "ok");
    assert!(body.get("mqtt").is_none(), "no MQTT configured: {body}");
    assert_eq!(healthcheck(&app, &redis_url, port), Some(0));

    let metrics = get(port, "/metrics").await.expect("answer");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("text");
    let parsed = scrape(&text);
    assert_eq!(sample(&parsed, "loam_redis_up", &[]), Some(1.0));
    assert!(sample(&parsed, "loam_jobs", &[("state", "queued")]).is_some());
    assert!(sample(&parsed, "loam_job_oldest_queued_age_seconds", &[]).is_some());
    assert!(sample(&parsed, "loam_db_pool_connections", &[("state", "idle")]).is_some());
    assert_eq!(
        sample(
            &parsed,
            "loam_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );

    // Redis goes away: readiness says so (and the healthcheck fails); it comes back: ready.
    proxy.down();
    let ready = get(port, "/readyz").await.expect("answer");
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["redis"], "down");
    assert_eq!(healthcheck(&app, &redis_url, port), Some(1));
    let text = get(port, "/metrics")
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    assert_eq!(sample(&scrape(&text), "loam_redis_up", &[]), Some(0.0));
    proxy.up();
    let back = loam_tests::eventually(30, || async {
        get(port, "/readyz")
            .await
            .is_some_and(|r| r.status() == 200)
    })
    .await;
    assert!(back, "ready again once Redis is back");
}

/// With `LOAM_MQTT_URL`, readiness reports the subscription (connected to the machine's
/// Mosquitto), and absent it the field is not there at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres, Redis and Mosquitto: run with --features services"
)]
async fn readiness_reports_the_mqtt_subscription() {
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
    let port = free_port();
    let client_id = format!("loam-test-{}", ulid::Ulid::new());
    let _worker = Running(
        worker(&app, &redis.url, port, &[])
            .env("LOAM_MQTT_URL", "mqtt://127.0.0.1:1883")
            .env("LOAM_MQTT_CLIENT_ID", &client_id)
            .env("LOAM_MQTT_TOPICS", format!("{client_id}/v3/+/devices/+/up"))
            .env("LOAM_ENTS_COMPAT", "true")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("loam-worker starts"),
    );
    let connected = loam_tests::eventually(30, || async {
        match get(port, "/readyz").await {
            Some(r) => r
                .json::<serde_json::Value>()
                .await
                .is_ok_and(|b| b["mqtt"] == "connected" && b["status"] == "ok"),
            None => false,
        }
    })
    .await;
    assert!(connected, "readiness reports the subscription as connected");
}
