//! Loam's data layer. Every query lives here as a function over a [`DbConn`], so callers own
//! transactions and no SQL leaks into the HTTP or job crates. One set of query code serves both
//! databases through diesel's `MultiConnection`; the rare statement that differs per backend
//! matches on the connection variant.

pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod backup;
pub mod bench;
pub mod cells;
mod connection;
pub mod devices;
mod error;
pub mod export;
pub mod firmware;
pub mod group_commit;
pub mod health;
pub mod import;
pub mod jobs;
pub mod loggers;
pub mod measurements;
mod migrate;
pub mod models;
mod open;
pub mod opendata;
pub mod partitions;
mod raw_rows;
pub mod refresh_tokens;
pub mod retention;
pub mod rollups;
pub mod schema;
pub mod series;
mod sql;
pub mod tags;
pub mod units;
pub mod users;
pub mod writes;

pub use connection::{Backend, Db, DbConn, PoolStats, write_retries, write_transaction};
pub use error::DbError;
pub use open::{open, open_for_command};
pub mod testing;

/// The current UTC time at the precision both databases keep (microseconds), so a value read
/// back equals the value written on SQLite and Postgres alike.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now().naive_utc();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}
