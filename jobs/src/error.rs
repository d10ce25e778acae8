//! Why a job did not succeed, and how that decides between retrying and giving up.

/// Why a job did not succeed; decides between retrying and giving up.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The payload cannot be run (bad input): recorded as failed, never retried.
    #[error("{0}")]
    Permanent(String),
    /// The database, the disk or an upstream failed: retried with backoff. Keeps the failure
    /// itself, so the job's record and the log show its whole chain of causes.
    #[error(transparent)]
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
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
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
