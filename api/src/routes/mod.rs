//! Every route, grouped by resource; this list is the whole HTTP surface.

pub(crate) mod auth;
pub(crate) mod cells;
pub(crate) mod docs;
pub(crate) mod health;
pub(crate) mod users;

use utoipa::OpenApi;
use utoipa_axum::routes;

use crate::openapi::BaseDoc;
use crate::routing::ApiRouter;

/// All routes with their access class.
pub(crate) fn api_routes(ents_compat: bool) -> ApiRouter {
    ApiRouter::new(BaseDoc::openapi(), ents_compat)
        .public(routes!(health::ents_health))
        .public(routes!(health::healthz))
        .public(routes!(health::readyz))
        .public(routes!(cells::list_cell_ids))
        .public(routes!(docs::openapi_json))
        .public(routes!(docs::docs_page))
        .public(routes!(docs::docs_script))
        .public(routes!(auth::register))
        .public(routes!(auth::login))
        .public(routes!(auth::refresh))
        .public(routes!(auth::logout))
        .person_or_key(routes!(users::get_user, users::update_user))
        .person(routes!(
            users::get_user_key,
            users::create_user_key,
            users::delete_user_key
        ))
}
