//! Integration tests against the real server on a random port; each body runs on SQLite and on
//! Postgres (see `loam_tests::backend_tests!`).

mod auth;
mod cells;
mod connections;
mod contention;
mod devices;
mod exports;
mod firmware;
mod foundation;
mod imports;
mod ingest;
mod jobs;
mod lifecycle;
mod limits;
mod live;
mod members;
mod metrics;
mod oidc;
mod opendata;
mod readiness;
mod reads;
mod refusals;
mod retention;
mod security;
mod support;
mod tags;
mod ttn;
