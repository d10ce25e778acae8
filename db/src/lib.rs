//! Loam's data layer. Every query lives here as a function over a [`DbConn`], so callers own
//! transactions and no SQL leaks into the HTTP or job crates. One set of query code serves both
//! databases through diesel's `MultiConnection`; the rare statement that differs per backend
//! matches on the connection variant.

pub mod cells;
mod connection;
mod error;
mod migrate;
pub mod models;
pub mod schema;

pub use connection::{Backend, Db, DbConn};
pub use error::DbError;
