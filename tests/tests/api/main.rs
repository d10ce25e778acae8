//! Integration tests against the real server on a random port; each body runs on SQLite and on
//! Postgres (see `loam_tests::backend_tests!`).

mod auth;
mod cells;
mod connections;
mod contention;
mod deletes;
mod devices;
mod firmware;
mod foundation;
mod ingest;
mod jobs;
mod lifecycle;
mod limits;
mod live;
mod oidc;
mod readiness;
mod reads;
mod refusals;
mod resources;
mod retention;
mod security;
mod worker;
