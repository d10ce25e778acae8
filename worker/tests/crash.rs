//! The real `loam-worker` binary under SIGKILL and SIGTERM, against real Postgres and Redis:
//! a job held by a killed worker is picked up again within 30 s and succeeds exactly once in
//! effect; a worker told to stop hands its running job back and exits.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use loam_tests::{Backend, Options, Session, TestApp, TestRedis};
use serde_json::{Value, json};

/// Rows seeded for the export: enough that a debug build takes seconds over it.
const ROWS: i64 = 300_000;
const YEAR_2023: i64 = 1_672_531_200;

async fn app_with_data(redis: &TestRedis) -> (TestApp, Session, i64) {
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
    let email = "crash@example.test";
    let s = app.signed_in(email).await;
    let cell = app.cell(&s, email, "big").await;
    let logger = app.logger(&s, email, "l").await;
    let (c, l) = (cell as i32, logger as i32);
    app.state
        .db()
        .run(move |conn| loam_db::bench::seed_power_year(conn, c, l, YEAR_2023, ROWS))
        .await
        .expect("seeded");
    (app, s, cell)
}

/// Starts the real worker binary for `app`, logging to `log`.
fn worker(app: &TestApp, log: &Path) -> Child {
    let config = app.config();
    let out = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_loam-worker"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            config.database_url.clone().expect("Postgres"),
        )
        .env("REDIS_URL", config.redis().expect("Redis"))
        .env("LOAM_REDIS_PREFIX", &config.redis_prefix)
        .env("LOAM_DATA_DIR", &config.data_dir)
        .env("LOAM_LOG_FORMAT", "json")
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .spawn()
        .expect("loam-worker starts")
}

async fn start_export(app: &TestApp, s: &Session, cell: i64, request_id: &str) -> String {
    let res = app
        .as_person(reqwest::Method::POST, "/api/exports", s)
        .header("x-request-id", request_id)
        .json(&json!({"cell_ids": [cell], "start": "2023-01-01T00:00:00Z",
                      "end": "2024-01-01T00:00:00Z", "series": ["power"]}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 202);
    res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn job(app: &TestApp, s: &Session, id: &str) -> Value {
    app.as_person(reqwest::Method::GET, &format!("/api/jobs/{id}"), s)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// Waits until the job has started and made progress (a worker holds it mid-export).
async fn wait_until_running(app: &TestApp, s: &Session, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let j = job(app, s, id).await;
        if j["state"] == "running" && j["attempts"].as_i64().unwrap_or(0) >= 1 {
            return;
        }
        assert_ne!(
            j["state"], "succeeded",
            "the export ended before the test could interrupt it"
        );
        assert!(Instant::now() < deadline, "the job never started: {j}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_until_ended(app: &TestApp, s: &Session, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let j = job(app, s, id).await;
        if ["succeeded", "failed", "cancelled"].contains(&j["state"].as_str().unwrap_or("")) {
            return j;
        }
        assert!(
            Instant::now() < deadline,
            "the job did not end in time: {j}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn artifacts(app: &TestApp) -> Vec<PathBuf> {
    let dir = app.config().artifacts();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "zip"));
    files
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "loam-worker did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres and Redis: run with --features services"
)]
async fn a_killed_workers_job_is_picked_up_within_30_s_and_succeeds_once() {
    let redis = TestRedis::new();
    let (app, s, cell) = app_with_data(&redis).await;
    let logs = tempfile::tempdir().expect("temp dir");
    let id = start_export(&app, &s, cell, "req-crash-test-7").await;
    let mut first = worker(&app, &logs.path().join("first.log"));
    wait_until_running(&app, &s, &id).await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let killed_at = Instant::now();
    let mut second = worker(&app, &logs.path().join("second.log"));
    // Picked up again within 30 s of the kill (by the restarted worker)...
    let deadline = killed_at + Duration::from_secs(30);
    loop {
        let j = job(&app, &s, &id).await;
        if j["attempts"].as_i64().unwrap_or(0) >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not picked up again within 30 s: {j}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...and it succeeds, once: one artifact, every row in it.
    let j = wait_until_ended(&app, &s, &id, Duration::from_secs(120)).await;
    assert_eq!(j["state"], "succeeded", "{j}");
    assert_eq!(j["attempts"], 2, "{j}");
    assert_eq!(j["request_id"], "req-crash-test-7");
    assert_eq!(j["result"]["rows"], ROWS, "{j}");
    assert_eq!(artifacts(&app).len(), 1, "exactly one artifact");
    let partials: Vec<PathBuf> = std::fs::read_dir(app.config().artifacts())
        .expect("artifacts dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "partial"))
        .collect();
    assert!(
        partials.is_empty(),
        "the killed attempt's temporary file was removed: {partials:?}"
    );
    let zip = app
        .as_person(
            reqwest::Method::GET,
            &format!("/api/jobs/{id}/artifact"),
            &s,
        )
        .send()
        .await
        .expect("request");
    assert_eq!(zip.status(), 200);
    // The request that created the job is on the worker's log lines for it.
    let log = std::fs::read_to_string(logs.path().join("second.log")).expect("log");
    let job_lines: Vec<&str> = log.lines().filter(|l| l.contains(&id)).collect();
    assert!(!job_lines.is_empty(), "the worker logged the job:\n{log}");
    assert!(
        job_lines
            .iter()
            .all(|l| l.contains("req-crash-test-7") && l.contains("api→worker")),
        "every line for the job carries its request id and path:\n{log}"
    );
    assert!(terminate(&mut second).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres and Redis: run with --features services"
)]
async fn sigterm_hands_the_running_job_back_and_exits() {
    let redis = TestRedis::new();
    let (app, s, cell) = app_with_data(&redis).await;
    let logs = tempfile::tempdir().expect("temp dir");
    let id = start_export(&app, &s, cell, "req-sigterm-test").await;
    let mut first = worker(&app, &logs.path().join("first.log"));
    wait_until_running(&app, &s, &id).await;
    let status = terminate(&mut first);
    assert!(status.success(), "a clean exit: {status}");
    let j = job(&app, &s, &id).await;
    assert_eq!(
        j["state"], "queued",
        "handed back, not lost or half-done: {j}"
    );
    let mut second = worker(&app, &logs.path().join("second.log"));
    let j = wait_until_ended(&app, &s, &id, Duration::from_secs(120)).await;
    assert_eq!(j["state"], "succeeded", "{j}");
    assert_eq!(j["attempts"], 2);
    assert_eq!(artifacts(&app).len(), 1);
    assert!(terminate(&mut second).success());
}
