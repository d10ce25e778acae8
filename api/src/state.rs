//! The state every handler can reach: built once at start-up, cheap to clone.

use std::sync::Arc;

use loam_auth::TokenKeys;
use loam_config::Config;
use loam_db::Db;

use crate::auth_context::AuthContext;
use crate::commit_queue::CommitQueue;
use crate::key_cache::KeyCache;
use crate::limiter::FailureLimiter;
use crate::live_hub::LiveHub;
use crate::oidc_cache::ProviderCache;

/// Shared application state; a handle, so cloning it per request costs one atomic increment.
#[derive(Clone)]
pub struct AppState(Arc<App>);

/// What the state holds.
pub struct App {
    /// The database pool.
    pub db: Db,
    /// Redis, when configured (job queue and cross-replica live events).
    pub redis: Option<redis::Client>,
    /// The effective configuration.
    pub config: Arc<Config>,
    /// Credential checking.
    pub auth: AuthContext,
    /// Committed measurements for live subscribers.
    pub live: LiveHub,
    /// Group commit for device uploads.
    pub commits: CommitQueue,
    /// Where long-running jobs are submitted (in-process runner or Redis for `loam-worker`).
    pub jobs: loam_jobs::JobQueue,
    /// Paths and upstreams the jobs use (artifacts directory, TTN).
    pub job_settings: loam_jobs::Settings,
    /// Signs enrolments and upload receipts.
    pub receipts: loam_receipts::ServerKey,
    /// Where firmware images are kept.
    pub firmware: crate::firmware_store::FirmwareStore,
}

impl AppState {
    /// Wraps the parts built at start-up; `jwt_secret` and `receipts` are the resolved signing
    /// keys. Needs a Tokio runtime (the live-event relay starts here when Redis is configured).
    pub fn new(
        db: Db,
        redis: Option<redis::Client>,
        config: Config,
        jwt_secret: &[u8],
        receipts: loam_receipts::ServerKey,
    ) -> Self {
        // Requests never wait on a silent database for longer than this; jobs use their own
        // unbounded handle.
        crate::upkeep::start(db.clone(), config.raw_retention_days);
        let db = db.with_deadline(std::time::Duration::from_secs(config.db_timeout_secs));
        let auth = AuthContext {
            tokens: TokenKeys::new(jwt_secret),
            key_cache: KeyCache::default(),
            account_status: Default::default(),
            limiter: FailureLimiter::new(
                config.auth_failures_per_minute,
                redis.clone(),
                &config.redis_namespace(),
            ),
            trusted_proxies: config.trusted_proxy_networks().unwrap_or_default(),
            oidc: ProviderCache::default(),
        };
        let live = LiveHub::start(redis.clone(), &config.redis_namespace());
        let commits = CommitQueue::start(db.clone(), config.upload_queue, config.upload_writers);
        let jobs = loam_jobs::JobQueue::for_config(&config, redis.clone());
        let job_settings = loam_jobs::Settings::from_config(&config);
        let firmware = crate::firmware_store::FirmwareStore::new(config.data_dir.join("firmware"));
        Self(Arc::new(App {
            db,
            redis,
            config: Arc::new(config),
            auth,
            live,
            commits,
            jobs,
            job_settings,
            receipts,
            firmware,
        }))
    }

    /// The database handle.
    pub fn db(&self) -> &Db {
        &self.0.db
    }

    /// The Redis client, when configured.
    pub fn redis(&self) -> Option<&redis::Client> {
        self.0.redis.as_ref()
    }

    /// The retention horizon now (`LOAM_RAW_RETENTION_DAYS`): raw rows before it are deleted
    /// (reads past it come from rollups; uploads there are refused). `None` keeps every row.
    pub fn raw_since(&self) -> Option<chrono::NaiveDateTime> {
        self.config()
            .raw_retention_days
            .map(|days| loam_db::retention::horizon(days, loam_db::now()))
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// Credential checking.
    pub fn auth(&self) -> &AuthContext {
        &self.0.auth
    }

    /// The account rules (login, refresh, OIDC) with what they use.
    pub fn accounts(&self) -> crate::accounts::Accounts<'_> {
        crate::accounts::Accounts::new(self.db(), self.auth(), self.config())
    }

    /// What storing an upload uses.
    pub(crate) fn ingest(&self) -> crate::uploads::Ingest<'_> {
        crate::uploads::Ingest {
            commits: self.commits(),
            live: self.live(),
            receipts: self.receipts(),
            raw_since: self.raw_since(),
        }
    }

    /// What a streamed raw read uses.
    pub(crate) fn raw_source(&self) -> crate::streaming::Source {
        crate::streaming::Source {
            db: self.db().clone(),
            spill_dir: self.config().data_dir.join("tmp"),
            stall_limit: self.config().request_timeout(),
        }
    }

    /// The cell access rules with what they use.
    pub(crate) fn gate(&self) -> crate::access::Gate<'_> {
        crate::access::Gate {
            db: self.db(),
            compat: self.config().ents_compat,
        }
    }

    /// Group commit for device uploads.
    pub fn commits(&self) -> &CommitQueue {
        &self.0.commits
    }

    /// The job queue.
    pub fn jobs(&self) -> &loam_jobs::JobQueue {
        &self.0.jobs
    }

    /// What jobs need to know (artifacts directory, TTN).
    pub fn job_settings(&self) -> &loam_jobs::Settings {
        &self.0.job_settings
    }

    /// The receipt-signing key.
    pub fn receipts(&self) -> &loam_receipts::ServerKey {
        &self.0.receipts
    }

    /// The firmware image store.
    pub fn firmware(&self) -> &crate::firmware_store::FirmwareStore {
        &self.0.firmware
    }

    /// Live measurement events.
    pub fn live(&self) -> &LiveHub {
        &self.0.live
    }
}
