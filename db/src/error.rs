//! The data layer's one error type; the API maps it to HTTP in a single place.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Why a database call failed, sorted by what a caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached now; retrying later may work (readiness turns 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Concurrent writers got in each other's way (a deadlock, a serialization failure, a lock
    /// timeout, SQLite's busy file); the same work retried shortly succeeds.
    #[error("write contention: {0}")]
    Contention(String),
    /// The row the caller asked for does not exist.
    #[error("row not found")]
    NotFound,
    /// A unique constraint refused the write; names the constraint when the database says.
    #[error("unique constraint violated ({})", .constraint.as_deref().unwrap_or("unnamed"))]
    UniqueViolation {
        /// The violated constraint or index, when known.
        constraint: Option<String>,
    },
    /// A referenced row is missing (or a referencing row blocks a delete).
    #[error("foreign key constraint violated ({})", .constraint.as_deref().unwrap_or("unnamed"))]
    ForeignKeyViolation {
        /// The violated constraint, when known.
        constraint: Option<String>,
    },
    /// A tag id the caller named does not exist (nothing was written).
    #[error("tag {0} does not exist")]
    UnknownTag(i32),
    /// A user id the caller named does not exist (nothing was written).
    #[error("user {0} does not exist")]
    UnknownUser(String),
    /// A write named a month with no partition yet (Postgres); the writer makes it and writes
    /// again (see `partitions::on_demand`), so this reaches a caller only if that failed.
    #[error("no partition for the rows' month: {0}")]
    MissingPartition(String),
    /// Migrations could not be applied; start-up stops.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other database failure: a bug or an outage, logged with its cause.
    #[error("database error: {0}")]
    Query(#[source] DieselError),
    /// The blocking task running the query died (a panic inside the query code).
    #[error("database task failed: {0}")]
    Task(String),
    /// The caller stopped a long write on purpose (a cancelled import); it was rolled back.
    #[error("{0}")]
    Aborted(String),
}

impl DbError {
    /// The same failure again, for every upload of a batch that failed together: each keeps its
    /// meaning (an outage stays 503, a bug stays 500); only a driver error's cause, which cannot
    /// be copied, travels as its text.
    pub fn duplicate(&self) -> DbError {
        match self {
            DbError::Unavailable(why) => DbError::Unavailable(why.clone()),
            DbError::Contention(why) => DbError::Contention(why.clone()),
            DbError::NotFound => DbError::NotFound,
            DbError::UniqueViolation { constraint } => DbError::UniqueViolation {
                constraint: constraint.clone(),
            },
            DbError::ForeignKeyViolation { constraint } => DbError::ForeignKeyViolation {
                constraint: constraint.clone(),
            },
            DbError::UnknownTag(id) => DbError::UnknownTag(*id),
            DbError::UnknownUser(id) => DbError::UnknownUser(id.clone()),
            DbError::MissingPartition(month) => DbError::MissingPartition(month.clone()),
            DbError::Migration(why) => DbError::Migration(why.clone()),
            DbError::Query(err) => DbError::Task(err.to_string()),
            DbError::Task(why) => DbError::Task(why.clone()),
            DbError::Aborted(why) => DbError::Aborted(why.clone()),
        }
    }
}

impl From<DieselError> for DbError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => DbError::NotFound,
            DieselError::DatabaseError(kind, info) => {
                let constraint = info.constraint_name().map(str::to_owned);
                match kind {
                    DatabaseErrorKind::UniqueViolation => DbError::UniqueViolation { constraint },
                    DatabaseErrorKind::ForeignKeyViolation => {
                        DbError::ForeignKeyViolation { constraint }
                    }
                    DatabaseErrorKind::ClosedConnection => {
                        DbError::Unavailable(info.message().to_owned())
                    }
                    DatabaseErrorKind::SerializationFailure => {
                        DbError::Contention(info.message().to_owned())
                    }
                    _ if info.message().starts_with("no partition of relation") => {
                        DbError::MissingPartition(info.message().to_owned())
                    }
                    _ if is_contention(info.message()) => {
                        DbError::Contention(info.message().to_owned())
                    }
                    other => DbError::Query(DieselError::DatabaseError(other, info)),
                }
            }
            DieselError::BrokenTransactionManager => {
                DbError::Unavailable("broken transaction manager".into())
            }
            other => DbError::Query(other),
        }
    }
}

/// Messages of transient conflicts that diesel reports without a kind of their own: Postgres's
/// deadlock and lock-timeout errors and SQLite's busy file.
fn is_contention(message: &str) -> bool {
    const SIGNS: [&str; 4] = [
        "deadlock detected",
        "lock timeout",
        "database is locked",
        "could not serialize access",
    ];
    SIGNS.iter().any(|sign| message.contains(sign))
}

impl DbError {
    /// Whether retrying the same transaction soon is the right answer.
    pub fn is_transient(&self) -> bool {
        matches!(self, DbError::Contention(_))
    }
}

impl From<r2d2::Error> for DbError {
    fn from(err: r2d2::Error) -> Self {
        DbError::Unavailable(err.to_string())
    }
}
