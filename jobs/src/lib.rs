//! Loam's long-running work. A job is a durable record in the database (id, kind, owner, state,
//! progress, attempts, result); queues carry only its id. The handlers here turn a record into its
//! result and are idempotent (a retried or duplicated delivery never writes rows twice or leaves
//! two files). Two runners drive them: [`Runner`] inside the server on the embedded default, and
//! [`worker`] on Redis through apalis for production (`loam-worker`).

pub mod cleanup;
mod context;
mod executor;
pub mod export;
pub mod import;
pub mod opendata;
mod queue;
mod runner;
pub mod ttn;
pub mod worker;

use serde::{Deserialize, Serialize};

pub use context::Observer;
pub use context::{JobContext, Settings};
pub use executor::{Executor, MAX_ATTEMPTS, Outcome};
pub use export::{ExportCells, ExportZip};
pub use import::ImportCsv;
pub use opendata::OpenDataMonth;
pub use queue::{JobQueue, NewJob, QueueError, QueuedJob, queue_name, run_here};
pub use runner::{Runner, STALE_AFTER, requeue_stale};
pub use ttn::TtnSync;

/// Why a job did not succeed; decides between retrying and giving up.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The payload cannot be run (bad input): recorded as failed, never retried.
    #[error("{0}")]
    Permanent(String),
    /// The database, the disk or an upstream failed: retried with backoff. Keeps the failure
    /// itself, so the job's record and the log show its whole chain of causes.
    #[error("{}", chain(.0.as_ref()))]
    Transient(Cause),
    /// The process is shutting down: the job goes back to the queue untouched.
    #[error("interrupted by shutdown")]
    Interrupted,
    /// Someone cancelled the job while it ran.
    #[error("cancelled")]
    Cancelled,
}

/// What a transient failure carries: the error itself, with its sources.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An error and its causes on one line (`outer: inner: innermost`), as a job records them.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // Wrappers often repeat their cause's text; say each thing once.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

impl From<loam_db::DbError> for JobError {
    fn from(err: loam_db::DbError) -> Self {
        JobError::Transient(Box::new(err))
    }
}

impl From<std::io::Error> for JobError {
    fn from(err: std::io::Error) -> Self {
        JobError::Transient(Box::new(err))
    }
}

/// Every kind of job, as stored in the record's `payload` column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// ENTS's CSV export of cells (`/api/cell/datas`), one CSV for all cells.
    ExportCells(ExportCells),
    /// Loam's export: a ZIP with one CSV per cell and sensor.
    Export(ExportZip),
    /// Historical CSV into a cell, all or nothing.
    Import(ImportCsv),
    /// The monthly open-data ZIP of all public cells.
    OpenData(OpenDataMonth),
    /// Register or remove a logger's device on The Things Network.
    TtnSync(TtnSync),
}

impl Payload {
    /// The record's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::ExportCells(_) => "export_cells",
            Payload::Export(_) => "export",
            Payload::Import(_) => "import",
            Payload::OpenData(_) => "opendata",
            Payload::TtnSync(_) => "ttn_sync",
        }
    }
}

/// A job's result as JSON (`Null` while it has none): the record keeps it as text.
pub fn result_of(job: &loam_db::jobs::Job) -> serde_json::Value {
    job.result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default()
}
