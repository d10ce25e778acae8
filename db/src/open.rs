//! Opening the database a [`Config`] names, migrated and ready, for both binaries.

use loam_config::{Config, DatabaseTarget, redact_url};

use crate::{Db, DbError};

/// Connects to the configured database (creating the SQLite file and its directory when
/// missing) and applies pending migrations. Errors name the database, never its password.
pub async fn open(config: &Config) -> Result<Db, DbError> {
    let target = config
        .database()
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    let db = match &target {
        DatabaseTarget::Postgres(url) => {
            Db::connect_postgres(url, config.db_pool_size).map_err(|e| {
                DbError::Unavailable(format!("cannot connect to {}: {e}", redact_url(url)))
            })?
        }
        DatabaseTarget::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    DbError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            Db::connect_sqlite(path, config.db_pool_size)
                .map_err(|e| DbError::Unavailable(format!("cannot open {}: {e}", path.display())))?
        }
    };
    let applied = db.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(
            count = applied.len(),
            "applied migrations: {}",
            applied.join(", ")
        );
    }
    Ok(db)
}

/// [`open`] for a one-shot command: a pool of two that keeps no idle connection, so the
/// process exits with nothing half-opened in the background.
pub async fn open_for_command(config: &Config) -> Result<Db, DbError> {
    let mut config = config.clone();
    config.db_pool_size = crate::connection::COMMAND_POOL;
    open(&config).await
}
