//! Loam's long-running work. A job is a durable record in the database (id, kind, owner, state,
//! progress, attempts, result); queues carry only its id. The handlers here turn a record into its
//! result and are idempotent (a retried or duplicated delivery never writes rows twice or leaves
//! two files). Two runners drive them: [`Runner`] inside the server on the embedded default, and
//! [`worker`] on Redis through apalis for production (`loam-worker`).

pub mod alerts;
pub mod cleanup;
mod context;
mod error;
mod executor;
pub mod export;
pub mod import;
pub mod opendata;
mod payload;
mod queue;
mod runner;
pub mod ttn;
mod ttn_api;
pub mod worker;

pub use context::Observer;
pub use context::{JobContext, Settings};
pub use error::{Cause, JobError};
pub use executor::{Executor, MAX_ATTEMPTS, Outcome};
pub use export::{ExportCells, ExportZip};
pub use import::ImportCsv;
pub use opendata::OpenDataMonth;
pub use payload::Payload;
pub use queue::{JobQueue, NewJob, QueueError, QueuedJob, queue_name, run_here};
pub use runner::{Runner, STALE_AFTER, requeue_stale};
pub use ttn::TtnSync;

/// A job's result as JSON (`Null` while it has none): the record keeps it as text.
pub fn result_of(job: &loam_db::jobs::Job) -> serde_json::Value {
    job.result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default()
}
