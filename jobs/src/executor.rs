//! Runs one claimed job: decodes the payload, calls its handler inside a span that carries the
//! job id and the request id that created it, and records the outcome (retry with exponential
//! backoff for transient failures, give up after [`MAX_ATTEMPTS`], never retry bad input).

use std::sync::Arc;
use std::time::Duration;

use loam_db::Db;
use loam_db::jobs::Job;
use tokio::sync::watch;
use tracing::Instrument;

use crate::context::{JobContext, Observer, Settings};
use crate::error::JobError;
use crate::payload::Payload;

/// Attempts before a transiently failing job is recorded as failed. Counted in Loam's record,
/// because apalis-redis retries up to a fixed 25 whatever it is told.
pub const MAX_ATTEMPTS: i32 = 5;

/// What the queue should do after a job ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The job ended (succeeded, failed or was cancelled): nothing more to do.
    Done,
    /// A transient failure: run it again after this delay.
    Retry(Duration),
    /// The process is stopping: the job is queued again and should be handed on now.
    Interrupted,
}

/// Runs jobs; one per process, shared by every concurrent job.
#[derive(Clone)]
pub struct Executor {
    db: Db,
    settings: Arc<Settings>,
    stop: watch::Receiver<bool>,
    /// Which runner this is (`api→runner`, `api→worker`, `cli`), for the logs.
    path: &'static str,
}

impl Executor {
    /// An executor that stops handlers (at their next progress report) once `stop` turns true.
    pub fn new(
        db: Db,
        settings: Settings,
        stop: watch::Receiver<bool>,
        path: &'static str,
    ) -> Self {
        Self {
            db,
            settings: Arc::new(settings),
            stop,
            path,
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs a job already claimed (state `running`) and records how it ended.
    pub async fn execute(&self, job: Job) -> Outcome {
        self.execute_observed(job, None).await
    }

    /// [`Executor::execute`] with a progress observer (the CLI's progress bar).
    pub async fn execute_observed(&self, job: Job, observer: Option<Observer>) -> Outcome {
        let span = tracing::info_span!(
            "job",
            job_id = %job.id,
            kind = %job.kind,
            request_id = job.request_id.as_deref().unwrap_or("-"),
            path = self.path,
            attempt = job.attempts,
        );
        self.run_and_record(job, observer).instrument(span).await
    }

    async fn run_and_record(&self, job: Job, observer: Option<Observer>) -> Outcome {
        tracing::info!("job started");
        // What an earlier attempt of this job left half-written (a kill, a crash) goes first.
        let stale = crate::cleanup::remove_partials_of(&self.settings.artifacts, &job.id).await;
        if stale > 0 {
            tracing::info!(stale, "removed temporary files of an earlier attempt");
        }
        let mut ctx = JobContext::new(
            self.db.clone(),
            self.settings.clone(),
            job.id.clone(),
            self.stop.clone(),
            observer,
        );
        let started = std::time::Instant::now();
        let payload = serde_json::from_str::<Payload>(&job.payload);
        let kind = payload.as_ref().map_or("unreadable", Payload::kind);
        let scrubbed = payload.as_ref().ok().and_then(Payload::scrubbed);
        let result = match payload {
            Err(e) => Err(JobError::Permanent(format!("unreadable payload: {e}"))),
            Ok(Payload::ExportCells(p)) => p.run(&mut ctx).await,
            Ok(Payload::Export(p)) => p.run(&mut ctx).await,
            Ok(Payload::Import(p)) => p.run(&mut ctx).await,
            Ok(Payload::OpenData(p)) => p.run(&mut ctx).await,
            Ok(Payload::TtnSync(p)) => p.run(&mut ctx).await,
            Ok(Payload::AlertSweep(p)) => p.run(&mut ctx).await,
        };
        if result.is_err() {
            // A failed, cancelled or interrupted attempt leaves no temporary file behind.
            crate::cleanup::remove_partials_of(&self.settings.artifacts, &job.id).await;
        }
        let now = loam_db::now();
        let id = job.id.clone();
        let state = match &result {
            Ok(_) => "succeeded",
            Err(JobError::Permanent(_)) => "failed",
            Err(JobError::Transient(_)) if job.attempts < MAX_ATTEMPTS => "retried",
            Err(JobError::Transient(_)) => "failed",
            Err(JobError::Cancelled) => "cancelled",
            Err(JobError::Interrupted) => "interrupted",
        };
        loam_metrics::global().job_attempt(kind, state, started.elapsed().as_secs_f64());
        // An ended job keeps no secret in its record (a retry still needs it).
        if let (Some(scrubbed), "succeeded" | "failed") = (scrubbed, state) {
            let (id, text) = (
                job.id.clone(),
                serde_json::to_string(&scrubbed).unwrap_or_default(),
            );
            if let Err(e) = self
                .db
                .run(move |c| loam_db::jobs::set_payload(c, &id, &text))
                .await
            {
                tracing::error!(error = %e, "could not scrub the job's payload");
            }
        }
        let (outcome, recorded) = match result {
            Ok(value) => {
                tracing::info!("job succeeded");
                let text = value.to_string();
                let r = self
                    .db
                    .run(move |c| {
                        loam_db::jobs::finish(c, &id, "succeeded", Some(&text), None, now)
                    })
                    .await;
                (Outcome::Done, r.map(|_| ()))
            }
            Err(JobError::Permanent(why)) => {
                tracing::warn!(error = %why, "job failed (not retried)");
                let r = self
                    .db
                    .run(move |c| loam_db::jobs::finish(c, &id, "failed", None, Some(&why), now))
                    .await;
                (Outcome::Done, r)
            }
            Err(err @ JobError::Transient(_)) if job.attempts < MAX_ATTEMPTS => {
                let why = crate::error::chain(&err);
                let delay = backoff(job.attempts);
                tracing::warn!(error = %why, retry_in_secs = delay.as_secs(), "job failed, will retry");
                let after = now + chrono::Duration::from_std(delay).unwrap_or_default();
                let note = format!("attempt {} failed: {why}", job.attempts);
                let r = self
                    .db
                    .run(move |c| loam_db::jobs::requeue(c, &id, Some(after), Some(&note), now))
                    .await;
                (Outcome::Retry(delay), r.map(|_| ()))
            }
            Err(err @ JobError::Transient(_)) => {
                let why = crate::error::chain(&err);
                tracing::warn!(error = %why, "job failed, giving up");
                let why = format!("gave up after {} attempts: {why}", job.attempts);
                let r = self
                    .db
                    .run(move |c| loam_db::jobs::finish(c, &id, "failed", None, Some(&why), now))
                    .await;
                (Outcome::Done, r)
            }
            Err(JobError::Cancelled) => {
                tracing::info!("job cancelled");
                (Outcome::Done, Ok(()))
            }
            Err(JobError::Interrupted) => {
                tracing::info!("job interrupted by shutdown, queued again");
                let r = self
                    .db
                    .run(move |c| loam_db::jobs::requeue(c, &id, None, None, now))
                    .await;
                (Outcome::Interrupted, r.map(|_| ()))
            }
        };
        if let Err(e) = recorded {
            // The record still says `running`; the queue's redelivery will take it over.
            tracing::error!(error = %e, "could not record the job's outcome");
        }
        outcome
    }
}

/// 2 s, 4 s, 8 s, … capped at five minutes.
fn backoff(attempts: i32) -> Duration {
    Duration::from_secs(2_u64.saturating_pow(attempts.clamp(1, 16) as u32).min(300))
}
