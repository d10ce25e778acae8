//! The route builder. A route can only be added through a method naming who may call it, so no
//! endpoint exists without a decision on access; the same builder records every path for the
//! OpenAPI document and for the canonical-spelling redirects (ENTS's Werkzeug rules, §1.1).

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use crate::error::ApiError;
use crate::state::AppState;

/// Collects routes by access class; [`ApiRouter::finish`] yields the router and its spec.
pub(crate) struct ApiRouter {
    inner: OpenApiRouter<AppState>,
    paths: Vec<String>,
}

impl ApiRouter {
    /// Starts from the document's static parts (title, version, tags).
    pub(crate) fn new(base: OpenApi) -> Self {
        Self {
            inner: OpenApiRouter::with_openapi(base),
            paths: Vec::new(),
        }
    }

    /// Adds routes anyone may call without credentials.
    pub(crate) fn public(self, routes: UtoipaMethodRouter<AppState>) -> Self {
        self.add(routes)
    }

    fn add(mut self, routes: UtoipaMethodRouter<AppState>) -> Self {
        self.paths.extend(routes.1.paths.keys().cloned());
        self.inner = self.inner.routes(routes);
        self
    }

    /// The paths added so far.
    pub(crate) fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The router with its JSON 404/405 fallbacks and redirects, and the OpenAPI document.
    pub(crate) fn finish(self) -> (Router<AppState>, OpenApi) {
        let mut table = matchit::Router::new();
        for path in &self.paths {
            // Duplicates come from several methods on one path; the first insert is enough.
            let _ = table.insert(path.clone(), ());
        }
        let table = Arc::new(table);
        let (router, spec) = self.inner.split_for_parts();
        let router = router
            .fallback(move |method: Method, uri: Uri| {
                let table = Arc::clone(&table);
                async move { unrouted(&table, &method, &uri) }
            })
            .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
        (router, spec)
    }
}

/// No route matched: redirect (308, method and body kept) to the canonical spelling when one
/// exists, otherwise answer a JSON 404.
fn unrouted(table: &matchit::Router<()>, method: &Method, uri: &Uri) -> Response {
    match canonical_path(table, uri.path()) {
        Some(path) => {
            let location = match uri.query() {
                Some(query) => format!("{path}?{query}"),
                None => path,
            };
            match HeaderValue::from_str(&location) {
                Ok(value) => {
                    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, value)]).into_response()
                }
                Err(_) => ApiError::no_route(method.as_str(), uri.path()).into_response(),
            }
        }
        None => ApiError::no_route(method.as_str(), uri.path()).into_response(),
    }
}

/// The routed spelling of `path`: repeated slashes merged, then the trailing slash toggled.
fn canonical_path(table: &matchit::Router<()>, path: &str) -> Option<String> {
    let merged = merge_slashes(path);
    let toggled = match merged.strip_suffix('/') {
        Some(stripped) if !stripped.is_empty() => stripped.to_owned(),
        Some(_) => return None,
        None => format!("{merged}/"),
    };
    [merged, toggled]
        .into_iter()
        .find(|candidate| candidate != path && table.at(candidate).is_ok())
}

fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for ch in path.chars() {
        if !(ch == '/' && out.ends_with('/')) {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> matchit::Router<()> {
        let mut t = matchit::Router::new();
        for p in ["/api/", "/api/cell/id", "/api/cell/{id}", "/api/sensor/"] {
            t.insert(p, ()).expect("valid route");
        }
        t
    }

    #[test]
    fn canonical_spellings_follow_werkzeug() {
        let t = table();
        assert_eq!(canonical_path(&t, "/api").as_deref(), Some("/api/"));
        assert_eq!(
            canonical_path(&t, "/api/sensor").as_deref(),
            Some("/api/sensor/")
        );
        assert_eq!(
            canonical_path(&t, "/api/cell/id/").as_deref(),
            Some("/api/cell/id")
        );
        assert_eq!(canonical_path(&t, "//api/").as_deref(), Some("/api/"));
        assert_eq!(
            canonical_path(&t, "/api//cell/id").as_deref(),
            Some("/api/cell/id")
        );
        assert_eq!(canonical_path(&t, "/nothing"), None);
        assert_eq!(canonical_path(&t, "/"), None);
    }
}
