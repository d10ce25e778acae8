//! The state every handler can reach: built once at start-up, cheap to clone.

use std::sync::Arc;

use loam_config::Config;
use loam_db::Db;

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
}

impl AppState {
    /// Wraps the parts built at start-up.
    pub fn new(db: Db, redis: Option<redis::Client>, config: Config) -> Self {
        Self(Arc::new(App {
            db,
            redis,
            config: Arc::new(config),
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

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }
}
