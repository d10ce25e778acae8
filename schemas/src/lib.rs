//! Loam's wire shapes: every request and response body as a struct with serde, `validator` rules
//! and an OpenAPI schema, so the spec is generated from the same types the handlers use.

// Everything here reads outside input: no byte-index slicing of text, no indexing that can go
// out of bounds, no unwrap/expect (fuzzed by `fuzz/`, see scripts/fuzz).
#![deny(
    clippy::string_slice,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

pub mod admin;
pub mod alerts;
pub mod auth;
pub mod cells;
pub mod devices;
pub mod errors;
pub mod fleet;
pub mod health;
pub mod insights;
pub mod jobs;
pub mod lenient;
pub mod loggers;
pub mod members;
pub mod series;
pub mod tags;
pub mod uploads;
pub mod wire;
