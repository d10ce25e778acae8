//! What a handler gets: the database, the settings, and a progress reporter that also tells it
//! when to stop (cancelled by a person, or the process shutting down).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loam_db::Db;
use rand::Rng;
use tokio::sync::watch;

use crate::error::JobError;

/// How often progress is written to the record at most (the last report is always written).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Settings every handler may need, taken from the configuration once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where job files are written (and served from).
    pub artifacts: PathBuf,
    /// How long they are kept.
    pub artifact_ttl: Duration,
    /// The Things Network's API, when upstream sync is configured.
    pub ttn: Option<crate::ttn_api::TtnTarget>,
    /// Days of raw rows kept (`LOAM_RAW_RETENTION_DAYS`); imports add to the rollups of older
    /// days instead of rebuilding them from rows that are gone.
    pub raw_retention_days: Option<u32>,
    /// How often alert rules are evaluated (`LOAM_ALERT_PERIOD_SECS`).
    pub alert_period: Duration,
    /// How alert webhooks are sent (their retries back off in multiples of the period).
    pub webhooks: crate::alerts::WebhookPolicy,
}

impl Settings {
    /// Settings from the configuration.
    pub fn from_config(config: &loam_config::Config) -> Self {
        let ttn = match (&config.ttn_app_id, &config.ttn_api_key) {
            (Some(app), Some(key)) if !app.is_empty() => Some(crate::ttn_api::TtnTarget::new(
                &config.ttn_api_url,
                app.clone(),
                key.clone(),
            )),
            _ => None,
        };
        Self {
            artifacts: config.artifacts(),
            artifact_ttl: config.artifact_ttl(),
            ttn,
            raw_retention_days: config.raw_retention_days,
            alert_period: Duration::from_secs(config.alert_period_secs.max(1)),
            webhooks: crate::alerts::WebhookPolicy {
                // Half a period, at least 5 s and at most 30 s, for new chunks of deliveries.
                budget: Duration::from_secs((config.alert_period_secs / 2).clamp(5, 30)),
                backoff: Duration::from_secs(config.alert_period_secs.max(1)),
                allow_private: config.alert_allow_private_webhooks,
            },
        }
    }

    /// Where uploaded files wait for their import job (never served).
    pub fn incoming(&self) -> PathBuf {
        self.artifacts.join("incoming")
    }

    /// The full path of an artifact recorded by name.
    pub fn artifact_path(&self, name: &str) -> PathBuf {
        self.artifacts.join(name)
    }
}

/// Called with (done, total) whenever progress is reported; the CLI draws its bar with it.
pub type Observer = Arc<dyn Fn(i64, i64) + Send + Sync>;

/// One running job, as its handler sees it.
pub struct JobContext {
    /// The database.
    pub db: Db,
    /// Settings.
    pub settings: Arc<Settings>,
    /// The job's id.
    pub job_id: String,
    stop: watch::Receiver<bool>,
    observer: Option<Observer>,
    last_write: Option<Instant>,
}

impl JobContext {
    pub(crate) fn new(
        db: Db,
        settings: Arc<Settings>,
        job_id: String,
        stop: watch::Receiver<bool>,
        observer: Option<Observer>,
    ) -> Self {
        Self {
            db,
            settings,
            job_id,
            stop,
            observer,
            last_write: None,
        }
    }

    /// Reports progress; fails with `Interrupted` when the process is stopping and `Cancelled`
    /// when the job was cancelled, so handlers stop at their next chunk.
    pub async fn progress(&mut self, done: i64, total: i64) -> Result<(), JobError> {
        if *self.stop.borrow() {
            return Err(JobError::Interrupted);
        }
        if let Some(observer) = &self.observer {
            observer(done, total);
        }
        let due = self
            .last_write
            .is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
        if !due && done < total {
            return Ok(());
        }
        self.last_write = Some(Instant::now());
        let (id, now) = (self.job_id.clone(), loam_db::now());
        let running = self
            .db
            .run(move |c| loam_db::jobs::progress(c, &id, done, total, now))
            .await?;
        if running {
            Ok(())
        } else {
            Err(JobError::Cancelled)
        }
    }

    /// Makes sure the artifacts folder exists and can be written, failing the job at once with
    /// the folder named when it cannot (a retry would not change a permission or a full disk
    /// soon enough to be worth the wait).
    pub async fn prepare_artifacts(&self) -> Result<(), JobError> {
        let dir = self.settings.artifacts.clone();
        let probe = dir.join(format!(".loam-write-check-{}", self.job_id));
        let checked = async {
            tokio::fs::create_dir_all(&dir).await?;
            tokio::fs::write(&probe, b"ok").await?;
            tokio::fs::remove_file(&probe).await
        };
        checked.await.map_err(|e| {
            JobError::Permanent(format!(
                "cannot write to the artifacts folder {} (LOAM_ARTIFACTS_DIR): {e}",
                dir.display()
            ))
        })
    }

    /// A fresh, unguessable artifact name (`<job id>-<128 random bits>.<ext>`) and the path of
    /// the temporary file to write first.
    pub fn new_artifact(&self, ext: &str) -> (String, PathBuf) {
        let secret: u128 = rand::rng().random();
        let name = format!("{}-{secret:032x}.{ext}", self.job_id);
        let partial = self.settings.artifacts.join(format!("{name}.partial"));
        (name, partial)
    }

    /// Moves a finished temporary file into place and records it on the job (with its expiry),
    /// so a reader never sees half a file and a retry replaces, not adds, the artifact.
    pub async fn publish(&self, partial: &Path, name: &str) -> Result<(), JobError> {
        let path = self.settings.artifact_path(name);
        tokio::fs::rename(partial, &path).await?;
        let ttl = chrono::Duration::from_std(self.settings.artifact_ttl)
            .unwrap_or(chrono::Duration::days(3));
        let (id, recorded, expires) = (self.job_id.clone(), name.to_owned(), loam_db::now() + ttl);
        let previous = {
            let id = id.clone();
            self.db
                .run(move |c| loam_db::jobs::artifact(c, &id))
                .await?
        };
        self.db
            .run(move |c| loam_db::jobs::set_artifact(c, &id, &recorded, expires))
            .await?;
        if let Some(old) = previous.filter(|old| old != name) {
            let _ = tokio::fs::remove_file(self.settings.artifact_path(&old)).await;
        }
        Ok(())
    }
}
