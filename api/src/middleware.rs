//! Every cross-cutting layer, in one place and in order (outermost first): request id, logging
//! and error rendering; CORS; panic capture; the request deadline; the body size limit.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use loam_config::AccessLog;
use loam_schemas::errors::{ErrorDetail, ErrorResponse};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tracing::Instrument;

use crate::error::{ApiError, ErrorReport};
use crate::state::AppState;

/// The header that carries a request's id in and out.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request's id: the client's when it sent a sane one, a fresh ULID otherwise.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    fn from_request(req: &Request) -> Self {
        let presented = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok());
        match presented {
            Some(id) if is_sane_request_id(id) => Self(id.to_owned()),
            _ => Self(ulid::Ulid::new().to_string()),
        }
    }
}

/// Client ids are echoed into headers and logs, so only short, printable ones are kept.
fn is_sane_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Wraps the routes in every layer; the caller adds the state afterwards.
pub(crate) fn apply(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    let config = state.config();
    let mut router = routes
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(from_fn_with_state(config.body_limit_bytes, refuse_nul))
        .layer(from_fn_with_state(
            Deadlines {
                request: config.request_timeout(),
                upload_idle: Duration::from_secs(config.upload_idle_secs),
            },
            deadline,
        ))
        .layer(from_fn_with_state(state.clone(), crate::identity::resolve))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
            },
        ));
    if let Some(cors) = cors_layer(&config.cors_origins, config.ents_compat) {
        router = router.layer(cors);
    }
    // Compression is outermost: `observe` rewrites error bodies, which must happen before.
    router
        .layer(from_fn_with_state(config.access_log, observe))
        .layer(compression())
}

/// Refuses text containing NUL (U+0000) before any handler sees it: in a JSON body (`\u0000`)
/// with 400, in the path with 404 (nothing is named so). Postgres cannot store it in text and
/// no field of Loam's needs it; without this check such a value would fail deep in the database
/// instead of answering a clear 400. (Query parameters are the handlers' business: most routes
/// ignore unknown ones, and a search containing NUL simply matches nothing; see
/// `extract::searchable`.)
async fn refuse_nul(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let refusal = || {
        ApiError::bad_request(
            "nul_character",
            "the body contains a NUL character (U+0000), which no Loam field accepts",
        )
        .into_response()
    };
    let uri = req.uri();
    let encoded_nul = |text: &str| {
        text.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    if encoded_nul(uri.path()) {
        // No resource is named with a NUL.
        return ApiError::NotFound("no such resource: the path contains a NUL character".into())
            .into_response();
    }
    let json = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    if !json {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // Past the limit (or cut off: the client is gone then and hears nothing).
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return ApiError::PayloadTooLarge.into_response();
    };
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return refusal();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// Compresses answers the client accepts compressed (`Accept-Encoding`: zstd or gzip) at the
/// fastest level, which already shrinks JSON series several times while costing less CPU
/// than sending the bytes. Bodies that are compressed already (ZIP exports, firmware images)
/// or tiny are sent as they are; streamed bodies stay streamed.
fn compression() -> CompressionLayer<impl Predicate> {
    let predicate = DefaultPredicate::new()
        .and(NotForContentType::const_new("application/zip"))
        .and(NotForContentType::const_new("application/octet-stream"));
    CompressionLayer::new()
        .quality(CompressionLevel::Fastest)
        .compress_when(predicate)
}

/// Gives the request its id, runs it inside a span carrying that id (so every log line of the
/// request has it), renders any [`ApiError`] with the id, and logs one line per request.
async fn observe(State(access_log): State<AccessLog>, mut req: Request, next: Next) -> Response {
    let id = RequestId::from_request(&req);
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %id.0,
        method = %method,
        path = %req.uri().path(),
    );
    req.extensions_mut().insert(id.clone());
    let mut response = next.run(req).instrument(span.clone()).await;
    let _entered = span.enter();

    let report = match response.extensions_mut().remove::<ErrorReport>() {
        Some(report) => Some(report),
        None => plain_rejection(&mut response).await,
    };
    if let Some(report) = report {
        if let Some(cause) = &report.cause {
            tracing::error!(status = response.status().as_u16(), cause = %cause, "request failed: {cause}");
        }
        render_error(&mut response, report, &id);
    }
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    loam_metrics::global().request(
        route.as_deref().unwrap_or("unmatched"),
        method.as_str(),
        status,
        started.elapsed().as_secs_f64(),
    );
    let logged = match access_log {
        AccessLog::All => true,
        AccessLog::Failures => status >= 400,
        AccessLog::Off => false,
    };
    if !logged {
        return response;
    }
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        method = %method,
        status,
        duration_ms,
        route = route.as_deref().unwrap_or("-"),
        "{method} {} -> {status}",
        route.as_deref().unwrap_or("(no route)"),
    );
    response
}

/// An error answered by the framework rather than by Loam (a body past the size limit read by a
/// `Bytes` or multipart extractor, a malformed query string): its plain-text body becomes the
/// message of the JSON envelope, so every error a client sees has the same shape.
async fn plain_rejection(response: &mut Response) -> Option<ErrorReport> {
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !status.is_client_error() || !plain {
        return None;
    }
    let body = std::mem::take(response.body_mut());
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
        _ => "bad_request",
    };
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge.to_string(),
        _ => String::from_utf8_lossy(&text).trim().to_owned(),
    };
    Some(ErrorReport {
        code,
        message,
        details: None,
        cause: None,
    })
}

fn render_error(response: &mut Response, report: ErrorReport, id: &RequestId) {
    let body = ErrorResponse {
        error: ErrorDetail {
            code: report.code.to_owned(),
            message: report.message,
            details: report.details,
        },
        request_id: id.0.clone(),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().remove(header::CONTENT_LENGTH);
    *response.body_mut() = Body::from(bytes);
}

/// Routes whose bodies are streamed files (firmware images, CSV imports): bounded by how long
/// the client goes silent, not by the request deadline, so a large file over a slow link arrives.
const STREAMED_UPLOADS: [&str; 2] = ["/api/firmware", "/api/cell/{cell_id}/import"];
/// The most a streamed upload may take in all.
const STREAMED_UPLOAD_LIMIT: Duration = Duration::from_secs(3600);

/// How long requests may take: the deadline, and a streamed upload's longest silence.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    request: Duration,
    upload_idle: Duration,
}

/// Answers 503 when a request outlives the configured deadline, so a stuck dependency cannot pin
/// connections forever; a streamed upload instead answers 408 when its bytes stop coming for
/// `LOAM_UPLOAD_IDLE_SECS` (and 503 after an hour in all).
async fn deadline(State(limits): State<Deadlines>, mut req: Request, next: Next) -> Response {
    let streamed = req.method() == Method::POST
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| STREAMED_UPLOADS.contains(&p.as_str()));
    if !streamed {
        return match tokio::time::timeout(limits.request, next.run(req)).await {
            Ok(response) => response,
            Err(_) => ApiError::Timeout(limits.request.as_secs()).into_response(),
        };
    }
    let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let body = std::mem::take(req.body_mut());
    *req.body_mut() = idle_bounded(body, limits.upload_idle, std::sync::Arc::clone(&stalled));
    match tokio::time::timeout(STREAMED_UPLOAD_LIMIT, next.run(req)).await {
        // However the handler worded the broken body, the client hears why.
        Ok(_) if stalled.load(std::sync::atomic::Ordering::Relaxed) => {
            ApiError::UploadStalled(limits.upload_idle.as_secs()).into_response()
        }
        Ok(response) => response,
        Err(_) => ApiError::Timeout(STREAMED_UPLOAD_LIMIT.as_secs()).into_response(),
    }
}

/// The body, ending in an error (and setting `stalled`) when no bytes arrive for `idle`.
fn idle_bounded(
    body: Body,
    idle: Duration,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Body {
    use futures_util::StreamExt;
    let chunks = body.into_data_stream();
    let bounded = futures_util::stream::unfold(Some(chunks), move |chunks| {
        let stalled = std::sync::Arc::clone(&stalled);
        async move {
            let mut chunks = chunks?;
            match tokio::time::timeout(idle, chunks.next()).await {
                Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(chunks))),
                Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
                Ok(None) => None,
                Err(_) => {
                    stalled.store(true, std::sync::atomic::Ordering::Relaxed);
                    let stall =
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "the upload stalled");
                    Some((Err(stall), None))
                }
            }
        }
    });
    Body::from_stream(bounded)
}

/// CORS per configuration: none (same-origin), any origin without credentials, or a list of
/// origins with credentials. ENTS compatibility with no list echoes any origin, as ENTS did.
fn cors_layer(origins: &[String], ents_compat: bool) -> Option<CorsLayer> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
    ];
    let base = CorsLayer::new()
        .allow_methods(methods)
        .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
        .expose_headers([REQUEST_ID]);
    if origins.is_empty() {
        return ents_compat.then(|| base.allow_origin(AllowOrigin::mirror_request()));
    }
    if origins.contains(&"*") {
        return Some(base.allow_origin(Any));
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(base.allow_origin(list).allow_credentials(true))
}

#[cfg(test)]
mod tests {
    use super::is_sane_request_id;

    #[test]
    fn request_ids_are_kept_only_when_printable_and_short() {
        assert!(is_sane_request_id("conformance-3f2a9c1e-echo"));
        assert!(is_sane_request_id("01J9Z:abc.def_1"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("has space"));
        assert!(!is_sane_request_id("new\nline"));
        assert!(!is_sane_request_id(&"x".repeat(129)));
    }
}
