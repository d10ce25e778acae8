//! Every route, grouped by resource; this list is the whole HTTP surface.

pub(crate) mod cells;
pub(crate) mod docs;
pub(crate) mod health;

use utoipa::OpenApi;
use utoipa_axum::routes;

use crate::openapi::BaseDoc;
use crate::routing::ApiRouter;

/// All routes with their access class.
pub(crate) fn api_routes() -> ApiRouter {
    ApiRouter::new(BaseDoc::openapi())
        .public(routes!(health::ents_health))
        .public(routes!(health::healthz))
        .public(routes!(health::readyz))
        .public(routes!(cells::list_cell_ids))
        .public(routes!(docs::openapi_json))
        .public(routes!(docs::docs_page))
        .public(routes!(docs::docs_script))
}
