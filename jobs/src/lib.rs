//! Loam's long-running work. A job is a durable record in the database (id, kind, owner, state,
//! progress, result); handlers here turn a record into its result and are idempotent (a retry
//! rewrites the same artifact). The runner in this crate executes queued records inside the
//! server process; the Redis-backed worker (`loam-worker`) is the production runner to come.

mod export;
mod runner;

use serde::{Deserialize, Serialize};

pub use export::{ExportCells, artifact_path};
pub use runner::{Runner, enqueue};

/// Why a job failed; the message lands in the job record.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The payload cannot be run (bad input): not retried.
    #[error("{0}")]
    Permanent(String),
    /// The database or the disk failed.
    #[error("{0}")]
    Transient(String),
}

impl From<loam_db::DbError> for JobError {
    fn from(err: loam_db::DbError) -> Self {
        JobError::Transient(err.to_string())
    }
}

impl From<std::io::Error> for JobError {
    fn from(err: std::io::Error) -> Self {
        JobError::Transient(err.to_string())
    }
}

/// Every kind of job, as stored in the `payload` column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// CSV export of cells' series (ENTS's `stream_csv`).
    ExportCells(ExportCells),
}

impl Payload {
    /// The record's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::ExportCells(_) => "export_cells",
        }
    }
}
