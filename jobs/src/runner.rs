//! The in-process runner (embedded default, no Redis): job records in the data database are the
//! queue. It claims queued records with a conditional update, runs up to `concurrency` at once,
//! sweeps expired artifacts periodically, and re-queues running jobs whose runner went silent (a
//! replica killed mid-job). Records survive restarts, so nothing is lost.

use std::sync::Arc;
use std::time::Duration;

use loam_db::Db;
use tokio::sync::{Notify, Semaphore};

use crate::executor::Executor;

/// How often an idle runner looks for due work (retries wake it this way).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Runs queued jobs inside the server process.
pub struct Runner {
    executor: Executor,
    wake: Arc<Notify>,
    concurrency: usize,
}

impl Runner {
    /// A runner woken by `wake` (the in-process queue's notifier).
    pub fn new(executor: Executor, wake: Arc<Notify>, concurrency: usize) -> Self {
        Self {
            executor,
            wake,
            concurrency: concurrency.max(1),
        }
    }

    /// Starts the runner on the Tokio runtime. With `sole_runner` (the embedded SQLite mode, one
    /// process per database) jobs a previous process left running are queued again first; with
    /// several replicas on one database that would steal running jobs, so it is off there.
    pub fn spawn(self, sole_runner: bool) {
        let db = self.executor.db().clone();
        if sole_runner {
            tokio::spawn(requeue_interrupted(db.clone()));
        }
        tokio::spawn(requeue_stale_forever(db.clone()));
        tokio::spawn(crate::cleanup::sweep_forever(
            db,
            self.executor.settings().artifacts.clone(),
        ));
        // This runner is the queue's only consumer, so it also schedules the alert evaluation.
        tokio::spawn(crate::alerts::schedule_forever(
            self.executor.db().clone(),
            crate::queue::JobQueue::InProcess(self.wake.clone()),
            self.executor.settings().alert_period,
        ));
        tokio::spawn(self.run());
    }

    async fn run(self) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let now = loam_db::now();
            match self
                .executor
                .db()
                .run(move |c| loam_db::jobs::claim_next(c, now))
                .await
            {
                Ok(Some(job)) => {
                    let executor = self.executor.clone();
                    tokio::spawn(async move {
                        executor.execute(job).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    let _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()).await;
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "job queue unavailable");
                    tokio::time::sleep(IDLE_POLL * 8).await;
                }
            }
        }
    }
}

/// A running job silent this long lost its runner (handlers report progress every few seconds).
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// Re-queues jobs whose runner died without a word (another replica, killed mid-job); without
/// Redis nothing else would notice. Returns how many.
pub async fn requeue_stale(db: &Db) -> Result<usize, loam_db::DbError> {
    let now = loam_db::now();
    let before = now - chrono::Duration::from_std(STALE_AFTER).unwrap_or_default();
    let n = db
        .run(move |c| loam_db::jobs::requeue_stale(c, before, now))
        .await?;
    if n > 0 {
        tracing::warn!(jobs = n, "re-queued jobs whose runner stopped reporting");
    }
    Ok(n)
}

async fn requeue_stale_forever(db: Db) {
    let mut tick = tokio::time::interval(STALE_AFTER / 4);
    loop {
        tick.tick().await;
        if let Err(e) = requeue_stale(&db).await {
            tracing::warn!(error = %e, "could not look for stale jobs");
        }
    }
}

async fn requeue_interrupted(db: Db) {
    let now = loam_db::now();
    match db
        .run(move |c| loam_db::jobs::requeue_running(c, now))
        .await
    {
        Ok(n) if n > 0 => tracing::warn!(jobs = n, "re-queued jobs interrupted by a restart"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not re-queue interrupted jobs"),
    }
}
