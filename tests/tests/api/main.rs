//! Integration tests against the real server on a random port; each body runs on SQLite and on
//! Postgres (see `loam_tests::backend_tests!`).

mod access;
mod accounts;
mod accounts_oidc;
mod admin;
mod alerts;
mod cells;
mod chirpstack;
mod devices;
mod exports;
mod firmware;
mod fleet;
mod imports;
mod jobs;
mod live;
mod members;
mod mqtt;
mod opendata;
mod series;
mod series_retention;
mod server;
mod server_connections;
mod server_dashboard;
mod server_input;
mod server_lifecycle;
mod server_limits;
mod server_metrics;
mod server_readiness;
mod support;
mod tags;
mod ttn;
mod uploads;
mod uploads_contention;
mod uploads_refused;
