//! Submitting jobs: the record is written first (so its id can be answered at once), then the
//! job is handed to its runner: a wake-up for the in-process runner, or a message on the Redis
//! queue for `loam-worker`. When Redis cannot take it, the record is removed again and the
//! caller gets [`QueueError::Unavailable`] (the API answers 503).

use std::sync::Arc;
use std::time::Duration;

use apalis_core::backend::TaskSink;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::task_id::TaskId;
use apalis_redis::RedisStorage;
use loam_db::Db;
use loam_db::jobs::Job;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::payload::Payload;

/// How long a submission waits for Redis before answering that the queue is unavailable.
const REDIS_TIMEOUT: Duration = Duration::from_secs(3);

/// The random part of periodic jobs' ids: fixed, so every runner derives the same id for a
/// period (the time part is the period's start).
const PERIODIC_ULID_BITS: u128 = 0x000A_1E57_5EEB_0000_0000;

/// The message on the Redis queue: the job's id and where it came from (the record holds the
/// rest, so a message is never stale).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedJob {
    /// The job record's id.
    pub job_id: String,
    /// The HTTP request that created it, for the worker's logs.
    pub request_id: Option<String>,
}

/// A job to submit.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// What to do.
    pub payload: Payload,
    /// Who may see and cancel it (`None`: a public job such as open data).
    pub owner: Option<String>,
    /// The request that asked for it.
    pub request_id: Option<String>,
    /// Join an equal job (same kind and payload) that is still useful instead of adding one.
    pub reuse: bool,
}

/// Why a job could not be submitted.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis is unreachable: nothing was recorded.
    #[error("the job queue is unavailable: {0}")]
    Unavailable(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] loam_db::DbError),
}

/// Where submitted jobs go.
#[derive(Clone)]
pub enum JobQueue {
    /// The in-process runner of this server (embedded default).
    InProcess(Arc<Notify>),
    /// The Redis queue read by `loam-worker`.
    Redis {
        /// The Redis server.
        client: redis::Client,
        /// The apalis queue name (namespaced per database).
        queue: String,
    },
}

impl JobQueue {
    /// The queue for a deployment: Redis when configured, else in-process.
    pub fn for_config(config: &loam_config::Config, redis: Option<redis::Client>) -> Self {
        match redis {
            Some(client) => JobQueue::Redis {
                client,
                queue: queue_name(config),
            },
            None => JobQueue::InProcess(Arc::new(Notify::new())),
        }
    }

    /// Records a queued job and hands it to its runner; returns the record.
    pub async fn submit(&self, db: &Db, new: NewJob) -> Result<Job, QueueError> {
        let job = queued_record(&new.payload, new.owner, new.request_id);
        if new.reuse {
            let (kind, payload) = (job.kind.clone(), job.payload.clone());
            if let Some(existing) = db
                .run(move |c| loam_db::jobs::find_reusable(c, &kind, &payload))
                .await?
            {
                return Ok(existing);
            }
        }
        let record = job.clone();
        db.run(move |c| loam_db::jobs::insert(c, &record)).await?;
        if let Err(e) = self.dispatch(&job.id, job.request_id.clone(), None).await {
            let id = job.id.clone();
            let _ = db.run(move |c| loam_db::jobs::delete(c, &id)).await;
            return Err(e);
        }
        Ok(job)
    }

    /// Puts the alert evaluation of `period` on the queue once: its record's id is derived
    /// from the period, so of several runners scheduling it only the first inserts and
    /// dispatches it. True when this call did.
    pub async fn submit_periodic(
        &self,
        db: &Db,
        period: i64,
        period_secs: i64,
    ) -> Result<bool, QueueError> {
        let payload = Payload::AlertSweep(crate::alerts::AlertSweep { period });
        let mut job = queued_record(&payload, None, None);
        let millis = u64::try_from(period.saturating_mul(period_secs).saturating_mul(1000))
            .unwrap_or_default();
        job.id = ulid::Ulid::from_parts(millis, PERIODIC_ULID_BITS).to_string();
        let record = job.clone();
        if !db
            .run(move |c| loam_db::jobs::insert_once(c, &record))
            .await?
        {
            return Ok(false);
        }
        if let Err(e) = self.dispatch(&job.id, None, None).await {
            let id = job.id.clone();
            let _ = db.run(move |c| loam_db::jobs::delete(c, &id)).await;
            return Err(e);
        }
        Ok(true)
    }

    /// Hands an existing queued record to the runner, now or after `delay`.
    pub async fn dispatch(
        &self,
        job_id: &str,
        request_id: Option<String>,
        delay: Option<Duration>,
    ) -> Result<(), QueueError> {
        match self {
            JobQueue::InProcess(notify) => {
                notify.notify_one();
                Ok(())
            }
            JobQueue::Redis { client, queue } => {
                let message = QueuedJob {
                    job_id: job_id.to_owned(),
                    request_id,
                };
                // The first message of a job carries the job's own id; a retry's gets a new one
                // (the queue keeps finished ids for a while).
                let task_id = match delay {
                    None => job_id.to_owned(),
                    Some(_) => ulid::Ulid::new().to_string(),
                };
                let mut task = TaskBuilder::new(message).task_id(TaskId::from(task_id));
                if let Some(delay) = delay {
                    task = task.run_after(delay);
                }
                let push = async {
                    let conn = client
                        .get_multiplexed_async_connection()
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut storage = RedisStorage::<QueuedJob, _>::new(conn)
                        .with_config(apalis_redis::Config::default().queue(queue));
                    storage
                        .push_task(task.build())
                        .await
                        .map_err(|e| e.to_string())
                };
                match tokio::time::timeout(REDIS_TIMEOUT, push).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(QueueError::Unavailable(e)),
                    Err(_) => Err(QueueError::Unavailable(
                        "Redis did not answer in time".into(),
                    )),
                }
            }
        }
    }

    /// The in-process runner's wake-up, when this is the in-process queue.
    pub fn notifier(&self) -> Option<Arc<Notify>> {
        match self {
            JobQueue::InProcess(n) => Some(n.clone()),
            JobQueue::Redis { .. } => None,
        }
    }
}

/// A new job record, queued, with an id (ULID) known before any runner sees it.
fn queued_record(payload: &Payload, owner: Option<String>, request_id: Option<String>) -> Job {
    let now = loam_db::now();
    Job {
        id: ulid::Ulid::new().to_string(),
        kind: payload.kind().to_owned(),
        owner_id: owner,
        state: "queued".to_owned(),
        payload: serde_json::to_string(payload).unwrap_or_default(),
        progress_done: 0,
        progress_total: 0,
        attempts: 0,
        error: None,
        result: None,
        request_id,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        run_after: None,
    }
}

/// The apalis queue name of a deployment, the same in `loam` and `loam-worker`.
pub fn queue_name(config: &loam_config::Config) -> String {
    format!("{}jobs", config.redis_namespace())
}

/// Runs a job here and now, outside any queue (the operator's `loam export` / `loam import`):
/// the record is written already `running`, so no runner or worker takes it, then executed.
/// Returns the final record.
pub async fn run_here(
    executor: &crate::executor::Executor,
    payload: Payload,
    request_id: String,
    observer: Option<crate::context::Observer>,
) -> Result<Job, loam_db::DbError> {
    let mut job = queued_record(&payload, None, Some(request_id));
    job.state = "running".to_owned();
    job.attempts = 1;
    job.started_at = Some(job.created_at);
    let record = job.clone();
    let db = executor.db().clone();
    db.run(move |c| loam_db::jobs::insert(c, &record)).await?;
    executor.execute_observed(job.clone(), observer).await;
    let id = job.id.clone();
    db.run(move |c| loam_db::jobs::find(c, &id))
        .await?
        .ok_or(loam_db::DbError::NotFound)
}
