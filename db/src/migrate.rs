//! Embedded migrations, one directory per backend with identical names.

use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::connection::{Db, DbConn};
use crate::error::DbError;

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Advisory-lock key that serialises migrations when several replicas start together.
const MIGRATION_LOCK: i64 = 0x6c6f_616d; // "loam"

/// Applies every pending migration and returns the versions applied.
pub(crate) fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        DbConn::Postgres(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let result = pg.run_pending_migrations(POSTGRES).map(versions);
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            result
        }
        DbConn::Sqlite(lite) => lite.run_pending_migrations(SQLITE).map(versions),
    };
    applied.map_err(|e| DbError::Migration(e.to_string()))
}

fn versions(list: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    list.into_iter().map(|v| v.to_string()).collect()
}

impl Db {
    /// Applies pending migrations; safe to call from several replicas at once.
    pub async fn migrate(&self) -> Result<Vec<String>, DbError> {
        self.run(run_pending).await
    }
}
