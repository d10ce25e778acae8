//! Connections, the pool, and the one way async code reaches the database: [`Db::run`].

use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};

use crate::DbError;

/// A connection to whichever database the deployment uses; query functions take this.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// Production: PostgreSQL.
    Postgres(PgConnection),
    /// Embedded default: a SQLite file.
    Sqlite(SqliteConnection),
}

/// The database family, for the few places where behaviour (not SQL) differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// Per-connection SQLite settings: wait instead of failing on a busy file, WAL so readers never
/// block the writer, full fsync so an acknowledged upload survives power loss, enforced foreign
/// keys so cascades work.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;";

/// Opens connections per backend, so a failure reports the real driver error (the
/// multi-connection's own `establish` hides it).
#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
    url: String,
}

impl Manager {
    fn connect_now(&self) -> Result<DbConn, DbError> {
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.url)
                .map(DbConn::Postgres)
                .map_err(|e| DbError::Unavailable(e.to_string())),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url)
                    .map_err(|e| DbError::Unavailable(e.to_string()))?;
                conn.batch_execute(SQLITE_PRAGMAS)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        self.connect_now()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        conn.batch_execute("SELECT 1").map_err(DbError::from)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        use diesel::connection::TransactionManager;
        let status =
            <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn);
        // A connection handed back inside a transaction, or with a failed one, is not reusable.
        !matches!(status.transaction_depth(), Ok(None))
    }
}

/// The shared handle to the database: a pool plus the backend it talks to. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    deadline: Option<Duration>,
    waiting: std::sync::Arc<AtomicU32>,
}

/// The pool at one moment, for metrics: a pool that is always full with callers waiting is the
/// first sign the database (or `LOAM_DB_POOL_SIZE`) is the bottleneck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections checked out.
    pub in_use: u32,
    /// Connections open and idle.
    pub idle: u32,
    /// Callers waiting for a connection.
    pub waiting: u32,
}

/// Transient write conflicts retried since the process started.
static WRITE_RETRIES: AtomicU64 = AtomicU64::new(0);

/// How many transient write conflicts (deadlock, serialization failure, SQLite busy) were
/// retried since the process started: a rising rate means writers contend.
pub fn write_retries() -> u64 {
    WRITE_RETRIES.load(Ordering::Relaxed)
}

/// Counts a caller as waiting for a connection until dropped.
struct Waiting<'a>(&'a AtomicU32);

impl<'a> Waiting<'a> {
    fn start(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Seconds libpq may take to open a connection (TCP and start-up) before it gives up.
pub const CONNECT_TIMEOUT_SECS: u32 = 5;

/// The pool size of one-shot commands (`loam user …`, `loam backup`, …).
pub const COMMAND_POOL: u32 = 2;

/// How long a request waits for a pooled connection before the database counts as unavailable.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a pooled connection may sit idle before it is closed (down to one).
const IDLE_CONNECTION: Duration = Duration::from_secs(30);

impl Db {
    /// Connects to Postgres, reporting the driver's own error when it cannot. Opening a
    /// connection gives up after [`CONNECT_TIMEOUT_SECS`] unless the URL sets
    /// `connect_timeout` itself, so a silent network never stalls the pool.
    pub fn connect_postgres(url: &str, pool_size: u32) -> Result<Self, DbError> {
        let url = if url.contains("connect_timeout=") {
            url.to_owned()
        } else {
            let joiner = if url.contains('?') { '&' } else { '?' };
            format!("{url}{joiner}connect_timeout={CONNECT_TIMEOUT_SECS}")
        };
        Self::open(
            Manager {
                backend: Backend::Postgres,
                url,
            },
            pool_size,
        )
    }

    /// Opens (creating when missing) a SQLite file.
    pub fn connect_sqlite(path: &Path, pool_size: u32) -> Result<Self, DbError> {
        let url = path.to_str().ok_or_else(|| {
            DbError::Unavailable(format!("{} is not valid UTF-8", path.display()))
        })?;
        Self::open(
            Manager {
                backend: Backend::Sqlite,
                url: url.to_owned(),
            },
            pool_size,
        )
    }

    fn open(manager: Manager, pool_size: u32) -> Result<Self, DbError> {
        let backend = manager.backend;
        // One direct connection first: it surfaces the real error and proves the URL works.
        drop(manager.connect_now()?);
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            // A server keeps one connection warm; a command's small pool keeps none, so no
            // connection is being opened in the background when the command exits (libpq
            // tearing down under a connecting thread crashed `loam user …` at exit).
            .min_idle(Some(u32::from(pool_size > COMMAND_POOL)))
            // Connections a burst opened close again after half a minute idle (checked every
            // 30 s): each holds its own page cache (SQLite) or server process (Postgres).
            .idle_timeout(Some(IDLE_CONNECTION))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .test_on_check_out(true)
            .build_unchecked(manager);
        Ok(Self {
            pool,
            backend,
            deadline: None,
            waiting: std::sync::Arc::default(),
        })
    }

    /// The same pool, but [`Db::run`] gives up after `deadline` (answering
    /// [`DbError::Unavailable`]) instead of waiting on a database that stopped answering; for
    /// request handlers, which must answer within seconds. Long jobs keep the unbounded handle.
    pub fn with_deadline(&self, deadline: Duration) -> Self {
        Self {
            deadline: Some(deadline),
            ..self.clone()
        }
    }

    /// Which database family this handle talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs blocking database work on the blocking thread pool, keeping the async runtime free
    /// and the caller's tracing span (request id included) on every log line inside.
    pub async fn run<T, F>(&self, work: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let waiting = std::sync::Arc::clone(&self.waiting);
        let span = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = {
                let _waiting = Waiting::start(&waiting);
                pool.get()?
            };
            work(&mut conn)
        });
        let finished = match self.deadline {
            // The blocking call goes on until its socket fails; the caller no longer waits.
            Some(deadline) => tokio::time::timeout(deadline, task).await.map_err(|_| {
                DbError::Unavailable(format!(
                    "no answer from the database within {} s",
                    deadline.as_secs_f32()
                ))
            })?,
            None => task.await,
        };
        finished.map_err(|e| DbError::Task(e.to_string()))?
    }

    /// The pool right now (for `/metrics`).
    pub fn pool_stats(&self) -> PoolStats {
        let state = self.pool.state();
        PoolStats {
            in_use: state.connections.saturating_sub(state.idle_connections),
            idle: state.idle_connections,
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// Answers whether the database is reachable right now (for `/readyz`).
    pub async fn ping(&self, timeout: Duration) -> Result<(), DbError> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get_timeout(timeout)?;
            conn.batch_execute("SELECT 1").map_err(DbError::from)
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
    }
}

/// Runs `work` in a write transaction. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`), so concurrent writers queue on the busy timeout instead of failing when a
/// read lock cannot be upgraded; nested calls become savepoints.
pub fn write_transaction<T, E>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConn::Sqlite(lite) = conn else {
        return conn.transaction(work);
    };
    let depth = AnsiTransactionManager::transaction_manager_status_mut(lite)
        .transaction_depth()
        .map_err(E::from)?;
    if depth.is_some() {
        return conn.transaction(work);
    }
    AnsiTransactionManager::begin_transaction_sql(lite, "BEGIN IMMEDIATE").map_err(E::from)?;
    let outcome = work(conn);
    let DbConn::Sqlite(lite) = conn else {
        unreachable!("the variant cannot change")
    };
    match outcome {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(lite).map_err(E::from)?;
            Ok(value)
        }
        Err(err) => {
            // The work's own error is the one worth reporting; a failed rollback marks the
            // connection broken and the pool discards it.
            let _ = AnsiTransactionManager::rollback_transaction(lite);
            Err(err)
        }
    }
}

/// Attempts of one batch before a transient conflict is reported (as 503, retry later).
const ATTEMPTS: u32 = 6;

/// Runs `work` until it succeeds, fails for a reason other than contention, or has had
/// [`ATTEMPTS`] tries; waits a jittered, growing pause between tries (this runs on a blocking
/// thread).
pub(crate) fn retrying<T>(mut work: impl FnMut() -> Result<T, DbError>) -> Result<T, DbError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match work() {
            Err(err) if err.is_transient() && attempt < ATTEMPTS => {
                WRITE_RETRIES.fetch_add(1, Ordering::Relaxed);
                let ceiling = 4u64 << attempt.min(6);
                let pause = Duration::from_millis(1 + rand::random_range(0..ceiling));
                tracing::debug!(error = %err, attempt, ?pause, "transient write conflict; retrying");
                std::thread::sleep(pause);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retrying_gives_up_on_lasting_contention_and_not_on_other_errors() {
        let mut tries = 0;
        let out: Result<(), DbError> = retrying(|| {
            tries += 1;
            Err(DbError::Contention("deadlock detected".into()))
        });
        assert!(matches!(out, Err(DbError::Contention(_))));
        assert_eq!(tries, ATTEMPTS);
        let mut tries = 0;
        let out: Result<(), DbError> = retrying(|| {
            tries += 1;
            Err(DbError::NotFound)
        });
        assert!(matches!(out, Err(DbError::NotFound)));
        assert_eq!(tries, 1);
        let mut tries = 0;
        let out = retrying(|| {
            tries += 1;
            if tries < 3 {
                Err(DbError::Contention("could not serialize access".into()))
            } else {
                Ok(tries)
            }
        });
        assert_eq!(out.ok(), Some(3));
    }
}
