//! What an upload writes and what storing it answers: rows, the upload they form, the device's
//! claim, and the refusals. A repeated (cell, logger, time) power row, (cell, time) TEROS row or
//! (series, time) value is ignored by a unique index, so device retries store nothing twice.
//! The writing itself is `group_commit`.

use chrono::NaiveDateTime;
use loam_readings::RowData;

use crate::DbError;

/// One row of an upload.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRow {
    /// The cell.
    pub cell_id: i32,
    /// The logger (required for power).
    pub logger_id: Option<i32>,
    /// Device time (UTC).
    pub ts: NaiveDateTime,
    /// Values.
    pub data: RowData,
}

/// Why an upload was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row names a cell that does not exist.
    #[error("cell {0} does not exist")]
    UnknownCell(i32),
    /// A power row names a logger that does not exist.
    #[error("logger {0} does not exist")]
    UnknownLogger(i32),
    /// The uploader may not write this cell (it may not exist either).
    #[error("cell {0} is not writable by this uploader")]
    NotMember(i32),
    /// An integration key may write only as its owner's loggers (this one may not exist either).
    #[error("logger {0} is not one of this key owner's loggers")]
    NotOwner(i32),
    /// The locator already names an upload of this logger with another body.
    #[error("locator {0} already names another upload of this logger")]
    LocatorReused(String),
    /// The logger's enrolment has fewer slots left than the upload needs.
    #[error("the upload needs {needed} slots but {available} are left")]
    QuotaExhausted {
        /// Slots left.
        available: i64,
        /// Slots this upload needs.
        needed: i64,
        /// When the quota lapses.
        expiry: NaiveDateTime,
    },
    /// The logger's quota lapsed.
    #[error("the quota expired at {0}")]
    QuotaExpired(NaiveDateTime),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for StoreError {
    fn from(err: diesel::result::Error) -> Self {
        StoreError::Db(err.into())
    }
}

/// One upload as the database writes it (one of a group commit): its rows, whose membership it
/// needs, and its device's claim.
#[derive(Debug, Clone)]
pub struct UploadRows {
    /// The rows, all or nothing.
    pub rows: Vec<NewRow>,
    /// When set, every cell must have this person as a member.
    pub member: Option<String>,
    /// When set, every logger the rows name must belong to this person (an integration key).
    pub logger_owner: Option<String>,
    /// The logger the upload is attributed to, when one can be named.
    pub device: Option<DeviceClaim>,
}

/// What an upload attributed to a logger owes: slots when the logger is enrolled, and the
/// receipt to record when it carried a locator.
#[derive(Debug, Clone)]
pub struct DeviceClaim {
    /// The uploading logger.
    pub logger_id: i32,
    /// Slots the upload costs if the logger is enrolled.
    pub slots: i64,
    /// The signed receipt to keep (the upload carried a locator).
    pub receipt: Option<crate::models::UploadReceipt>,
    /// The firmware version the device reported with the upload (`Loam-Firmware`).
    pub firmware: Option<String>,
}

/// The outcome of one stored upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Rows that were new (a retry stores none).
    pub new_rows: usize,
    /// The `Loam-Receipt` header value, when the upload carried a locator (a retry with the
    /// same locator and body gets the first one back).
    pub receipt: Option<String>,
    /// True when the locator was known: the receipt is the stored one and nothing was written.
    pub replayed: bool,
}
