//! The job machinery itself: with Redis, `loam-worker` takes queued jobs (with the request id
//! that queued them) and cancellation; Redis down keeps ingest and refuses to enqueue; a job
//! whose runner died is taken over.

use loam_tests::{Backend, Options, TestApp, TestRedis, ToggleProxy, backend_tests, frames};
use reqwest::Method;
use serde_json::json;

use crate::exports::{download, start_export};
use crate::support::{T0, cell_with_data, json_of, rfc3339, unzip};

backend_tests!(a_job_whose_runner_died_is_taken_over,);

async fn redis_app(redis: &TestRedis, url: String) -> TestApp {
    let prefix = redis.prefix.clone();
    TestApp::spawn_with(
        Backend::Postgres,
        Options {
            redis_url: Some(url),
            tweak: Some(Box::new(move |c| c.redis_prefix = prefix)),
            ..Options::default()
        },
    )
    .await
}

/// With Redis the API only queues; a worker runs the job, and the request id travels with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres and Redis: run with --features services"
)]
async fn redis_queue_runs_jobs_on_a_worker_with_the_request_id() {
    let redis = TestRedis::new();
    let app = redis_app(&redis, redis.url.clone()).await;
    let (s, cell, _) = cell_with_data(&app, "queue@example.test").await;
    let res = app
        .as_person(Method::POST, "/api/exports", &s)
        .header("x-request-id", "req-worker-trace-1")
        .json(&json!({"cell_ids": [cell], "start": rfc3339(T0 - 60), "end": rfc3339(T0 + 7200)}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 202);
    let id = json_of(res).await["id"].as_str().expect("id").to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let job = json_of(
        app.as_person(Method::GET, &format!("/api/jobs/{id}"), &s)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        job["state"], "queued",
        "no worker yet: the API does not run jobs itself"
    );
    // A queued job can be cancelled; its delivery is then dropped by the worker.
    let doomed = start_export(
        &app,
        &s,
        json!({"cell_ids": [cell], "start": rfc3339(T0), "end": rfc3339(T0 + 1)}),
    )
    .await;
    let res = app
        .as_person(Method::DELETE, &format!("/api/jobs/{doomed}"), &s)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let worker = app.start_worker();
    let job = app.wait_for_job(&s, &id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["request_id"], "req-worker-trace-1");
    assert_eq!(job["attempts"], 1);
    let files = unzip(&download(&app, &s, &id).await);
    assert_eq!(files[&format!("cell-{cell}/power.csv")].lines().count(), 4);
    // A negative check: give the worker time to have (wrongly) run the cancelled job.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let cancelled = json_of(
        app.as_person(Method::GET, &format!("/api/jobs/{doomed}"), &s)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["attempts"], 0, "a cancelled job never runs");
    worker.stop().await;
}

/// Redis down: uploads and reads go on, enqueueing answers 503, readiness says so; all recover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres and Redis: run with --features services"
)]
async fn redis_down_keeps_ingest_and_refuses_to_enqueue() {
    let redis = TestRedis::new();
    let proxy = ToggleProxy::start(loam_tests::socket_addr_of(&redis.url)).await;
    let app = redis_app(&redis, format!("redis://{}", proxy.addr())).await;
    let (s, cell, logger) = cell_with_data(&app, "down@example.test").await;
    let key = app.device_key(&s, logger, &["ingest"]).await;
    proxy.down();
    let frame = frames::power((T0 + 9000) as u32, cell, logger, 0.9, 0.002);
    assert_eq!(
        app.upload(frame, false, Some(&key)).await.status(),
        200,
        "ingest keeps working"
    );
    let read = app
        .as_person(Method::GET, &format!("/api/power/{cell}"), &s)
        .query(&[
            ("startTime", loam_tests::http_date(T0 - 60)),
            ("endTime", loam_tests::http_date(T0 + 10_000)),
            ("resample", "none".into()),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(read.status(), 200);
    assert_eq!(json_of(read).await["v"].as_array().expect("v").len(), 4);
    let res = app
        .as_person(Method::POST, "/api/exports", &s)
        .json(&json!({"cell_ids": [cell], "start": rfc3339(T0), "end": rfc3339(T0 + 1)}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 503);
    let body = json_of(res).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("job queue"),
        "{body}"
    );
    let jobs = json_of(
        app.as_person(Method::GET, "/api/jobs", &s)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(jobs, json!([]), "a refused job leaves no record");
    // Every other enqueueing endpoint refuses the same way.
    let import = app
        .as_person(Method::POST, &format!("/api/cell/{cell}/import"), &s)
        .query(&[
            ("logger_id", logger.to_string()),
            ("name", "old.csv".into()),
        ])
        .header("content-type", "text/csv")
        .body("timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)\n")
        .send()
        .await
        .expect("request");
    assert_eq!(import.status(), 503);
    let open_data = app.get("/api/opendata?year=2025&month=6").await;
    assert_eq!(open_data.status(), 503);
    assert_eq!(
        json_of(open_data).await["error"]["code"],
        "queue_unavailable"
    );
    assert_eq!(app.get("/readyz").await.status(), 503);
    proxy.up();
    let recovered = loam_tests::eventually(10, || async {
        app.as_person(Method::POST, "/api/exports", &s)
            .json(&json!({"cell_ids": [cell], "start": rfc3339(T0), "end": rfc3339(T0 + 1)}))
            .send()
            .await
            .expect("request")
            .status()
            == 202
    })
    .await;
    assert!(recovered, "enqueueing recovers without a restart");
}

/// Without Redis, a job left `running` by a runner that died (a replica killed mid-job) is
/// queued again once it has been silent too long, and then completes; a live one is left alone.
async fn a_job_whose_runner_died_is_taken_over(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (s, cell, _) = cell_with_data(&app, "stale@example.test").await;
    let owner = app
        .state
        .db()
        .run(|c| loam_db::users::find_by_email(c, "stale@example.test"))
        .await
        .expect("db")
        .expect("user")
        .id;
    let payload = loam_jobs::Payload::Export(loam_jobs::ExportZip {
        cell_ids: vec![cell as i32],
        start: chrono::DateTime::from_timestamp(T0 - 60, 0)
            .expect("t")
            .naive_utc(),
        end: chrono::DateTime::from_timestamp(T0 + 7200, 0)
            .expect("t")
            .naive_utc(),
        resample: "none".into(),
        series: Vec::new(),
    });
    let record = |id: &str, silent_for: chrono::Duration| {
        let now = loam_db::now();
        loam_db::jobs::Job {
            id: id.to_owned(),
            kind: payload.kind().to_owned(),
            owner_id: Some(owner.clone()),
            state: "running".into(),
            payload: serde_json::to_string(&payload).expect("json"),
            progress_done: 0,
            progress_total: 1,
            attempts: 1,
            error: None,
            result: None,
            request_id: Some("req-orphan".into()),
            created_at: now - silent_for,
            updated_at: now - silent_for,
            started_at: Some(now - silent_for),
            finished_at: None,
            run_after: None,
        }
    };
    let (dead, alive) = (ulid::Ulid::new().to_string(), ulid::Ulid::new().to_string());
    let jobs = [
        record(&dead, chrono::Duration::hours(1)),
        record(&alive, chrono::Duration::seconds(5)),
    ];
    app.state
        .db()
        .run(move |c| {
            for job in &jobs {
                loam_db::jobs::insert(c, job)?;
            }
            Ok(())
        })
        .await
        .expect("inserted");
    let taken = loam_jobs::requeue_stale(app.state.db())
        .await
        .expect("sweep");
    assert_eq!(taken, 1, "only the silent job");
    let job = app.wait_for_job(&s, &dead).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 2);
    let untouched = json_of(
        app.as_person(Method::GET, &format!("/api/jobs/{alive}"), &s)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(untouched["state"], "running");
    assert_eq!(untouched["attempts"], 1);
    // Its (pretend) runner finishes it, as a live runner would: no job is left running.
    app.state
        .db()
        .run(move |c| loam_db::jobs::finish(c, &alive, "succeeded", None, None, loam_db::now()))
        .await
        .expect("finished");
}
