//! The Redis-backed worker (apalis + apalis-redis), run by `loam-worker`. Tuned so a job held by
//! a killed worker restarts within ~20 s: heartbeats every few seconds, a worker silent for three
//! of them is declared dead by any other worker's heartbeat and its jobs go back on the queue.
//! Each process registers under a unique name (host, pid, random), since apalis-redis refuses
//! silently a name that is still registered.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::WorkerBuilderExt;
use apalis_core::backend::ext::BackendExt;
use apalis_core::error::BoxDynError;
use apalis_core::task::data::Data;
use apalis_core::worker::builder::WorkerBuilder;
use apalis_redis::RedisStorage;
use rand::Rng;
use tokio::sync::watch;

use crate::executor::{Executor, Outcome};
use crate::queue::{JobQueue, QueuedJob};

/// How often an idle worker asks Redis for work.
const POLL: Duration = Duration::from_millis(250);

/// How a worker process is set up.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The apalis queue (see [`crate::queue::JobQueue::for_config`]).
    pub queue: String,
    /// Jobs run at the same time.
    pub concurrency: usize,
    /// Seconds between heartbeats.
    pub heartbeat: Duration,
}

/// A unique worker name: `loam-worker-<host>-<pid>-<random>`.
pub fn unique_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    let random: u32 = rand::rng().random();
    format!("loam-worker-{host}-{}-{random:08x}", std::process::id())
}

struct Shared {
    executor: Executor,
    queue: JobQueue,
}

async fn handle(message: QueuedJob, shared: Data<Arc<Shared>>) -> Result<(), BoxDynError> {
    let now = loam_db::now();
    let id = message.job_id.clone();
    let claimed = shared
        .executor
        .db()
        .run(move |c| loam_db::jobs::claim(c, &id, now))
        .await?;
    let Some(job) = claimed else {
        tracing::debug!(job_id = %message.job_id, "delivery for a job that ended or was cancelled: dropped");
        return Ok(());
    };
    let delay = match shared.executor.execute(job).await {
        Outcome::Done => return Ok(()),
        Outcome::Retry(delay) => Some(delay),
        Outcome::Interrupted => Some(Duration::ZERO),
    };
    // The record is queued again; hand it on (if Redis refuses, apalis-redis retries this
    // delivery itself, and the claim above takes the queued record just the same).
    shared
        .queue
        .dispatch(&message.job_id, message.request_id, delay)
        .await?;
    Ok(())
}

/// Aborts a background task when the function that started it returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs a worker until `shutdown` resolves: stops taking jobs, interrupts the running ones at
/// their next progress report (they go back on the queue) and returns. Reconnects when Redis
/// goes away and comes back.
pub async fn run(
    executor: Executor,
    client: redis::Client,
    options: WorkerOptions,
    stop: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut stopping = stop.subscribe();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("stopping: no new jobs, running ones are handed back");
        let _ = stop.send(true);
    });
    tokio::spawn(crate::cleanup::sweep_forever(
        executor.db().clone(),
        executor.settings().artifacts.clone(),
    ));
    let queue = JobQueue::Redis {
        client: client.clone(),
        queue: options.queue.clone(),
    };
    // Every worker schedules the alert evaluation; each period's record is made once. The
    // scheduler ends with the worker.
    let scheduler = tokio::spawn(crate::alerts::schedule_forever(
        executor.db().clone(),
        queue.clone(),
        executor.settings().alert_period,
    ));
    let _scheduler = AbortOnDrop(scheduler);
    let shared = Arc::new(Shared { executor, queue });
    loop {
        if *stopping.borrow() {
            return;
        }
        let conn = match client.get_connection_manager().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "Redis unavailable; retrying in 2 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    _ = stopping.changed() => return,
                }
            }
        };
        let config = apalis_redis::Config::default()
            .queue(&options.queue)
            .heartbeat_interval(options.heartbeat)
            .missed_heartbeats(3)
            .batch_size(options.concurrency.max(1));
        // An idle apalis worker looks again only at its next heartbeat; polling every 250 ms
        // keeps a new job's start well under a second.
        let storage = RedisStorage::<QueuedJob, _>::new(conn)
            .with_config(config)
            .poll_with_interval(POLL);
        let name = unique_name();
        tracing::info!(worker = %name, queue = %options.queue, "worker taking jobs");
        let worker = WorkerBuilder::new(name.as_str())
            .backend(storage)
            .concurrency(options.concurrency.max(1))
            .data(shared.clone())
            .build(handle);
        let mut until = stopping.clone();
        let result = worker
            .run_until(async move {
                let _ = until.wait_for(|s| *s).await;
                Ok::<(), std::io::Error>(())
            })
            .await;
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "worker stopped with an error; restarting in 2 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = stopping.changed() => return,
                }
            }
        }
    }
}
