//! The route builder. A route can only be added through a method naming who may call it, so no
//! endpoint exists without a decision on access; the same builder records every path for the
//! OpenAPI document and for the canonical-spelling redirects (ENTS's Werkzeug rules, §1.1).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter, UtoipaMethodRouterExt};

use crate::caller::{Caller, Person, Scope, unauthenticated};
use crate::error::ApiError;
use crate::state::AppState;

/// Who may call a route. Every route has exactly one; its check layer and its OpenAPI security
/// entry both follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone (credentials, when present, are still checked).
    Public,
    /// A person with a bearer JWT; API keys are refused (keys cannot manage keys).
    Person,
    /// A person by JWT or by their own API key (ENTS's "either").
    PersonOrKey,
    /// A device key with the `ingest` scope; anonymous too in ENTS compatibility mode.
    Device,
    /// A write the unchanged ENTS dashboard sends without credentials: a person, or anyone in
    /// ENTS compatibility mode (reference §15.1a).
    DashboardWrite,
    /// Any valid credential: a person (JWT or their key) or a device key of any scope; the
    /// handler decides which resource the caller may reach.
    Signed,
    /// Publishing firmware: a person, or a device key with the `firmware` scope.
    Publisher,
    /// A network-server integration (ChirpStack): a device key with the `ingest` scope (writes
    /// as its logger), or an integration key — a person's own API key with the `ingest` scope,
    /// writing as any logger its owner owns into cells the owner may write. Never anonymous, not
    /// even in ENTS compatibility mode (ENTS had no such door), and never a bearer token.
    Integration,
}

impl Access {
    /// The OpenAPI security alternatives for this class (empty: none needed).
    pub(crate) fn security(self) -> Vec<SecurityRequirement> {
        let bearer = || SecurityRequirement::new("bearer", Vec::<String>::new());
        let key = || SecurityRequirement::new("api_key", Vec::<String>::new());
        match self {
            Access::Public => Vec::new(),
            Access::Person => vec![bearer()],
            Access::PersonOrKey => vec![bearer(), key()],
            Access::Device => vec![key()],
            Access::DashboardWrite => vec![bearer(), key()],
            Access::Signed | Access::Publisher => vec![bearer(), key()],
            Access::Integration => vec![key()],
        }
    }
}

impl Access {
    /// The answers the identity layer and this class's check give before the handler runs, so
    /// the spec of every operation lists them without each handler repeating them.
    fn refusals(self) -> &'static [(&'static str, &'static str)] {
        const UNAUTHENTICATED: (&str, &str) = ("401", "No valid credentials for this route");
        // Credentials are checked on every route, and an invalid API key counts against the
        // caller's address, so past the limit any route answers 429 (with Retry-After).
        const GUESSING: (&str, &str) = (
            "429",
            "Too many invalid API keys from this address; Retry-After says when to try again",
        );
        match self {
            Access::Public => &[("401", "Credentials were sent and are invalid"), GUESSING],
            Access::Publisher => &[
                UNAUTHENTICATED,
                ("403", "A device key without the firmware scope"),
                GUESSING,
            ],
            Access::Integration => &[
                (
                    "401",
                    "No API key (X-API-Key), or a bearer token; in ENTS compatibility mode too",
                ),
                ("403", "The key lacks the ingest scope"),
                GUESSING,
            ],
            _ => &[UNAUTHENTICATED, GUESSING],
        }
    }
}

/// The answers of the [`Valid`](crate::extract::Valid) extractor, which reads every JSON body
/// that has a declared schema before the handler runs. (Bodies documented as a bare object are
/// read leniently, as ENTS did, and document their own refusals.)
const TYPED_BODY_REFUSALS: &[(&str, &str)] = &[
    ("400", "The body is not valid JSON"),
    (
        "415",
        "The body was not sent as JSON (Content-Type: application/json)",
    ),
    (
        "422",
        "The body does not match its schema, or a field breaks a rule (details name the field)",
    ),
];

/// The answer of the body-size limit (`LOAM_BODY_LIMIT_BYTES`), which any operation reading a body
/// gives before its handler sees the body.
const BODY_TOO_LARGE: (&str, &str) = (
    "413",
    "The body is larger than the server's limit (LOAM_BODY_LIMIT_BYTES)",
);

/// Whether the operation's body is JSON with a declared schema, i.e. read with `Valid<T>`.
fn reads_typed_json(op: &Operation) -> bool {
    let Some(RefOr::T(body)) = &op.request_body else {
        return false;
    };
    matches!(
        body.content.get("application/json"),
        Some(RefOr::T(Content {
            schema: Some(RefOr::Ref(_)),
            ..
        }))
    )
}

/// A documented error answer with Loam's JSON error body.
fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorResponse")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", body)
        .build()
        .into()
}

async fn require_person(req: Request, next: Next) -> Response {
    match req.extensions().get::<Caller>() {
        Some(Caller::Person(p)) if !p.via_key => next.run(req).await,
        Some(Caller::Person(_)) => {
            ApiError::Unauthorized("this route needs a bearer token; API keys cannot use it".into())
                .into_response()
        }
        _ => unauthenticated().into_response(),
    }
}

async fn require_person_or_key(req: Request, next: Next) -> Response {
    match req.extensions().get::<Caller>() {
        Some(Caller::Person(_)) => next.run(req).await,
        Some(Caller::Device(_)) => ApiError::Unauthorized(
            "this route is for people: a bearer token or a person's own API key; a device key cannot use it"
                .into(),
        )
        .into_response(),
        _ => ApiError::Unauthorized(
            "authentication required: send Authorization: Bearer <token> or X-API-Key".into(),
        )
        .into_response(),
    }
}

async fn require_device(State(ents_compat): State<bool>, req: Request, next: Next) -> Response {
    let allowed = match req.extensions().get::<Caller>() {
        Some(Caller::Device(device)) => device.scopes.contains(&Scope::Ingest),
        Some(Caller::Anonymous) | None => ents_compat,
        Some(Caller::Person(_)) => false,
    };
    if allowed {
        next.run(req).await
    } else {
        ApiError::Unauthorized(
            "a device API key with the ingest scope is required (X-API-Key)".into(),
        )
        .into_response()
    }
}

async fn require_dashboard_writer(
    State(ents_compat): State<bool>,
    req: Request,
    next: Next,
) -> Response {
    match req.extensions().get::<Caller>() {
        Some(Caller::Person(_)) => next.run(req).await,
        Some(Caller::Anonymous) | None if ents_compat => next.run(req).await,
        _ => unauthenticated().into_response(),
    }
}

async fn require_signed(req: Request, next: Next) -> Response {
    match req.extensions().get::<Caller>() {
        Some(Caller::Person(_) | Caller::Device(_)) => next.run(req).await,
        _ => ApiError::Unauthorized(
            "authentication required: send Authorization: Bearer <token> or X-API-Key".into(),
        )
        .into_response(),
    }
}

async fn require_publisher(req: Request, next: Next) -> Response {
    match req.extensions().get::<Caller>() {
        Some(Caller::Person(_)) => next.run(req).await,
        Some(Caller::Device(d)) if d.scopes.contains(&Scope::Firmware) => next.run(req).await,
        Some(Caller::Device(_)) => ApiError::Forbidden(
            "publishing firmware needs a device key with the firmware scope".into(),
        )
        .into_response(),
        _ => ApiError::Unauthorized(
            "authentication required: send Authorization: Bearer <token> or X-API-Key".into(),
        )
        .into_response(),
    }
}

async fn require_integration(req: Request, next: Next) -> Response {
    let ingests = |scopes: &[Scope]| scopes.contains(&Scope::Ingest);
    match req.extensions().get::<Caller>() {
        Some(Caller::Device(d)) if ingests(&d.scopes) => next.run(req).await,
        Some(Caller::Person(p)) if p.via_key && ingests(&p.scopes) => next.run(req).await,
        Some(Caller::Device(_)) | Some(Caller::Person(Person { via_key: true, .. })) => {
            ApiError::Forbidden("this door needs a key with the ingest scope".into())
                .into_response()
        }
        _ => ApiError::Unauthorized(
            "an API key is required (X-API-Key): a logger's device key, or your own key as an \
             integration key; bearer tokens are not accepted here"
                .into(),
        )
        .into_response(),
    }
}

/// Collects routes by access class; [`ApiRouter::finish`] yields the router and its spec.
pub(crate) struct ApiRouter {
    inner: OpenApiRouter<AppState>,
    paths: Vec<String>,
    ents_compat: bool,
}

impl ApiRouter {
    /// Starts from the document's static parts (title, version, tags).
    pub(crate) fn new(base: OpenApi, ents_compat: bool) -> Self {
        Self {
            inner: OpenApiRouter::with_openapi(base),
            paths: Vec::new(),
            ents_compat,
        }
    }

    /// Adds routes anyone may call without credentials.
    pub(crate) fn public(self, routes: UtoipaMethodRouter<AppState>) -> Self {
        self.add(Access::Public, routes)
    }

    /// Adds routes for a person signed in with a bearer JWT.
    pub(crate) fn person(self, routes: UtoipaMethodRouter<AppState>) -> Self {
        self.add(Access::Person, routes.layer(from_fn(require_person)))
    }

    /// Adds routes for a person by JWT or by their API key.
    pub(crate) fn person_or_key(self, routes: UtoipaMethodRouter<AppState>) -> Self {
        self.add(
            Access::PersonOrKey,
            routes.layer(from_fn(require_person_or_key)),
        )
    }

    /// Adds device-upload routes (device key; anonymous in ENTS compatibility mode).
    pub(crate) fn device(self, routes: UtoipaMethodRouter<AppState>) -> Self {
        let check = from_fn_with_state(self.ents_compat, require_device);
        self.add(Access::Device, routes.layer(check))
    }

    /// Adds dashboard writes: a person, or anonymous in ENTS compatibility mode.
    pub(crate) fn dashboard_write(self, routes: UtoipaMethodRouter<AppState>) -> Self {
        let check = from_fn_with_state(self.ents_compat, require_dashboard_writer);
        self.add(Access::DashboardWrite, routes.layer(check))
    }

    /// Adds routes for any authenticated caller, person or device.
    pub(crate) fn signed(self, routes: UtoipaMethodRouter<AppState>) -> Self {
        self.add(Access::Signed, routes.layer(from_fn(require_signed)))
    }

    /// Adds routes that publish firmware (a person, or a key with the `firmware` scope).
    pub(crate) fn publisher(self, routes: UtoipaMethodRouter<AppState>) -> Self {
        self.add(Access::Publisher, routes.layer(from_fn(require_publisher)))
    }

    /// Adds network-server integration doors (a device key or an integration key; never
    /// anonymous).
    pub(crate) fn integration(self, routes: UtoipaMethodRouter<AppState>) -> Self {
        self.add(
            Access::Integration,
            routes.layer(from_fn(require_integration)),
        )
    }

    fn add(mut self, access: Access, mut routes: UtoipaMethodRouter<AppState>) -> Self {
        let security = access.security();
        for item in routes.1.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for op in operations.into_iter().flatten() {
                op.security = (!security.is_empty()).then(|| security.clone());
                let body_refusals = if reads_typed_json(op) {
                    TYPED_BODY_REFUSALS
                } else {
                    &[]
                };
                let size_refusal = op.request_body.is_some().then_some(&BODY_TOO_LARGE);
                for (status, why) in access
                    .refusals()
                    .iter()
                    .chain(body_refusals)
                    .chain(size_refusal)
                {
                    op.responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| error_response(why));
                }
            }
        }
        self.paths.extend(routes.1.paths.keys().cloned());
        self.inner = self.inner.routes(routes);
        self
    }

    /// The paths added so far.
    pub(crate) fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The router with its JSON 404/405 fallbacks and redirects (and, with `dashboard`, the
    /// dashboard's pages for unrouted GETs outside `/api/`), and the OpenAPI document.
    pub(crate) fn finish(
        self,
        dashboard: Option<std::path::PathBuf>,
    ) -> (Router<AppState>, OpenApi) {
        let dashboard = dashboard.map(Arc::new);
        let mut table = matchit::Router::new();
        for path in &self.paths {
            // Duplicates come from several methods on one path; the first insert is enough.
            let _ = table.insert(path.clone(), ());
        }
        let table = Arc::new(table);
        let (router, spec) = self.inner.split_for_parts();
        let router = router
            .fallback(move |req: Request| {
                let table = Arc::clone(&table);
                let dashboard = dashboard.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    if let Some(dir) = dashboard.as_deref()
                        && (parts.method == Method::GET || parts.method == Method::HEAD)
                        && !parts.uri.path().starts_with("/api/")
                        && let Some(page) = crate::dashboard::serve(dir, parts.uri.path()).await
                    {
                        return page;
                    }
                    // Read the body before answering: a client that follows the 308 (e.g. the ents
                    // CLI posting to /api/sensor) reuses this connection, which stays usable only
                    // when its request was read to the end. Past the cap the connection just closes.
                    let _ = axum::body::to_bytes(body, DRAIN_LIMIT).await;
                    unrouted(&table, &parts.method, &parts.uri)
                }
            })
            .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
        (router, spec)
    }
}

/// Most bytes of an unrouted request's body read before answering it.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

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
