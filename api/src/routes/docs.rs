//! The front page a browser sees at `/`, the OpenAPI document, and a docs page that works
//! offline (Redoc, embedded in the binary).

use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::openapi::SpecDocument;
use crate::state::AppState;

/// Redoc's standalone bundle (MIT), see `api/assets/README.md`.
const REDOC_JS: &[u8] = include_bytes!("../../assets/redoc.standalone.js");

const DOCS_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Loam API</title>
</head>
<body>
  <redoc spec-url="/api/openapi.json"></redoc>
  <script src="/api/docs/redoc.standalone.js"></script>
</body>
</html>
"#;

/// What a person opening the server's address in a browser sees: what this is and where to go.
const HOME_PAGE: &str = concat!(
    r#"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Loam</title>
  <style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}</style>
</head>
<body>
  <h1>Loam</h1>
  <p>A backend for environmental sensor networks (version "#,
    env!("CARGO_PKG_VERSION"),
    r#"). Devices upload to <code>/api/sensor/</code>; people and dashboards use the REST API.</p>
  <ul>
    <li><a href="/api/docs">API documentation</a> (<a href="/api/openapi.json">OpenAPI document</a>)</li>
    <li><a href="/readyz">Readiness</a>: the database and Redis, as this server sees them</li>
  </ul>
</body>
</html>
"#
);

/// The front page: a person opening the server's address learns what it is and where the
/// documentation lives, instead of a JSON 404.
#[utoipa::path(get, path = "/", tag = "docs",
    responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub(crate) async fn home_page(State(state): State<AppState>) -> Response {
    // With a dashboard configured, the front page is the dashboard.
    if let Some(dir) = &state.config().dashboard_dir
        && let Some(page) = crate::dashboard::serve(dir, "/").await
    {
        return page;
    }
    Html(HOME_PAGE).into_response()
}

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(get, path = "/api/openapi.json", tag = "docs",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub(crate) async fn openapi_json(Extension(spec): Extension<SpecDocument>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], spec.json())
}

/// Interactive API documentation.
#[utoipa::path(get, path = "/api/docs", tag = "docs",
    responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub(crate) async fn docs_page() -> Html<&'static str> {
    Html(DOCS_PAGE)
}

/// The docs page's script, served from the binary so the page needs no internet.
#[utoipa::path(get, path = "/api/docs/redoc.standalone.js", tag = "docs",
    responses((status = 200, description = "JavaScript", content_type = "application/javascript")))]
pub(crate) async fn docs_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/javascript"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        REDOC_JS,
    )
}
