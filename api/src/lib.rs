//! Loam's HTTP surface. [`build_app`] turns an [`AppState`] into the whole router; the `loam`
//! binary and every integration test call exactly that, so what is tested is what runs.

mod access;
mod account_status;
pub mod accounts;
pub mod admin;
mod alerts;
pub mod auth_context;
pub mod backup;
mod caller;
pub mod cli;
pub mod cli_users;
mod commit_queue;
mod connections;
mod dashboard;
mod equations;
pub mod error;
mod extract;
pub mod firmware_store;
mod fleet;
mod identity;
mod key_cache;
mod limiter;
pub mod live;
mod live_hub;
pub mod middleware;
pub mod oidc;
mod oidc_cache;
pub mod openapi;
mod routes;
mod routing;
pub mod server;
pub mod state;
mod streaming;
pub mod upkeep;
pub mod uploads;

pub use error::ApiError;
pub use server::Server;
pub use state::AppState;

use axum::Router;

/// Builds the complete router (routes, OpenAPI document, docs page, Socket.IO and every layer)
/// from state. Call it inside a Tokio runtime: it starts the live-event bridge.
pub fn build_app(state: AppState) -> Router {
    let (routes, spec) =
        routes::api_routes(state.config().ents_compat).finish(state.config().dashboard_dir.clone());
    let routes = routes.layer(axum::Extension(openapi::SpecDocument::new(spec)));
    let live = live::socket_layer(&state);
    middleware::apply(routes, &state)
        .layer(live)
        .with_state(state)
}

/// Every routed path, as the route builder recorded it; a test checks each is in the spec.
pub fn routed_paths() -> Vec<String> {
    routes::api_routes(false).paths().to_vec()
}
