//! The in-process runner: takes queued job records, runs them, and records the outcome.

use std::path::PathBuf;
use std::time::Duration;

use loam_db::Db;
use loam_db::jobs::Job;

use crate::{JobError, Payload};

/// How often an idle runner looks for work.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// Records a queued job and returns its id (known before any runner sees it).
pub async fn enqueue(
    db: &Db,
    payload: &Payload,
    owner: Option<String>,
    request_id: Option<String>,
) -> Result<String, loam_db::DbError> {
    let now = loam_db::now();
    let job = Job {
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
    };
    let id = job.id.clone();
    db.run(move |c| loam_db::jobs::insert(c, &job)).await?;
    Ok(id)
}

/// Runs queued jobs inside the server process (the embedded default).
#[derive(Clone)]
pub struct Runner {
    db: Db,
    artifacts: PathBuf,
}

impl Runner {
    /// A runner writing artifacts into `artifacts`.
    pub fn new(db: Db, artifacts: PathBuf) -> Self {
        Self { db, artifacts }
    }

    /// Starts the runner loop on the Tokio runtime. With `sole_runner` (the embedded SQLite
    /// mode, one process per database) jobs a previous process left running are queued again
    /// first; with several replicas on one database that would steal running jobs, so it is off.
    pub fn spawn(self, sole_runner: bool) {
        tokio::spawn(async move {
            if sole_runner {
                let now = loam_db::now();
                match self
                    .db
                    .run(move |c| loam_db::jobs::requeue_running(c, now))
                    .await
                {
                    Ok(n) if n > 0 => {
                        tracing::warn!(jobs = n, "re-queued jobs interrupted by a restart")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not re-queue interrupted jobs"),
                }
            }
            loop {
                let now = loam_db::now();
                match self
                    .db
                    .run(move |c| loam_db::jobs::claim_next(c, now))
                    .await
                {
                    Ok(Some(job)) => self.run(job).await,
                    Ok(None) => tokio::time::sleep(IDLE_POLL).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "job queue unavailable");
                        tokio::time::sleep(IDLE_POLL * 8).await;
                    }
                }
            }
        });
    }

    async fn run(&self, job: Job) {
        let span = tracing::info_span!("job", job_id = %job.id, kind = %job.kind, request_id = job.request_id.as_deref().unwrap_or("-"));
        let _entered = span.enter();
        tracing::info!("job started (attempt {})", job.attempts);
        let outcome = match serde_json::from_str::<Payload>(&job.payload) {
            Err(e) => Err(JobError::Permanent(format!("unreadable payload: {e}"))),
            Ok(Payload::ExportCells(export)) => {
                let path = crate::artifact_path(&self.artifacts, &job.id);
                let (db, id) = (self.db.clone(), job.id.clone());
                let progress = move |done: i64, total: i64| {
                    let (db, id) = (db.clone(), id.clone());
                    tokio::spawn(async move {
                        let now = loam_db::now();
                        let _ = db
                            .run(move |c| loam_db::jobs::progress(c, &id, done, total, now))
                            .await;
                    });
                };
                export.run(&self.db, &path, progress).await.map(|bytes| {
                    serde_json::json!({"download": format!("/api/jobs/{}/artifact", job.id), "bytes": bytes, "format": "text/csv"})
                })
            }
        };
        let (state, result, error) = match outcome {
            Ok(result) => ("succeeded", Some(result.to_string()), None),
            Err(e) => ("failed", None, Some(e.to_string())),
        };
        if let Some(err) = &error {
            tracing::warn!(error = %err, "job failed");
        } else {
            tracing::info!("job succeeded");
        }
        let (id, now) = (job.id.clone(), loam_db::now());
        if let Err(e) = self
            .db
            .run(move |c| {
                loam_db::jobs::finish(c, &id, state, result.as_deref(), error.as_deref(), now)
            })
            .await
        {
            tracing::warn!(error = %e, "could not record the job's outcome");
        }
    }
}
