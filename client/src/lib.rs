//! A typed client for Loam's whole HTTP API. Requests and responses are the server's own
//! `loam-schemas` types, so the two cannot drift apart silently; [`operations`] lists every
//! operation the client has a method for, and a contract test fails when that list and the
//! server's `/api/openapi.json` differ, while another calls every method against a real server.
//! Most methods are declared in one table per resource (the `operations!` macro), so a
//! method and its entry in the list cannot come apart. Idempotent calls (GET, PUT, DELETE) are
//! retried on transport failures and 502/503/504 with backoff; every error carries the server's
//! request id.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

pub use account::{Login, Refreshed};
pub use admin::{AuditQuery, UserSearch};
pub use cells::{CellFilter, ShareWith, TagFields, TagFilter, TagIds, UserIds};
pub use data::{CatalogQuery, CellIds, Equation, SensorQuery, SeriesQuery, Uploaded};
pub use devices::{Download, FirmwareSearch};
pub use field::{FleetFilter, Limit};
pub use jobs::{CellDatasQuery, Month, OpenData};
pub use loggers::LoggerFilter;

/// Every operation the client has a method for, as the OpenAPI document names it
/// (method, path template).
pub fn operations() -> Vec<(&'static str, &'static str)> {
    [
        account::OPERATIONS,
        account::HAND_WRITTEN,
        admin::OPERATIONS,
        cells::OPERATIONS,
        data::OPERATIONS,
        data::HAND_WRITTEN,
        devices::OPERATIONS,
        devices::HAND_WRITTEN,
        field::OPERATIONS,
        jobs::OPERATIONS,
        jobs::HAND_WRITTEN,
        loggers::OPERATIONS,
        service::OPERATIONS,
    ]
    .concat()
}

/// Declares client methods from one line per operation, and the module's `OPERATIONS` list from
/// the same lines: `GET "/api/cell/{cell_id}" => fn cell(cell_id: i32) -> json CellResponse;`.
/// Path parameters are named as in the template and percent-encoded; after a `;` comes at most
/// one input, `json name: Type` (request body) or `query name: Type` (query string). The answer
/// is `json Type`, `text` (a plain-text body), `bytes` or `empty`.
macro_rules! operations {
    ($(
        $(#[$doc:meta])*
        $method:ident $path:literal => fn $name:ident(
            $($arg:ident: $ty:ty),* $(; $input:ident $var:ident: $inty:ty)?
        ) -> $out:ident $($outty:ty)?;
    )*) => {
        /// The operations this module's table declares.
        pub(crate) const OPERATIONS: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        impl $crate::Client {
            $(
                $(#[$doc])*
                pub async fn $name(
                    &self,
                    $($arg: $ty,)*
                    $($var: &$inty)?
                ) -> Result<operations!(@answer $out $($outty)?), $crate::ClientError> {
                    let path = $crate::fill_path($path, &[$((stringify!($arg), $arg.to_string())),*]);
                    let res = self
                        .send(reqwest::Method::$method, &path, |r| {
                            operations!(@input r $($input $var)?)
                        })
                        .await?;
                    operations!(@read $out $($outty)?)(res).await
                }
            )*
        }
    };
    (@answer json $t:ty) => { $t };
    (@answer text) => { String };
    (@answer bytes) => { Vec<u8> };
    (@answer empty) => { () };
    (@read json $t:ty) => { $crate::read_json::<$t> };
    (@read text) => { $crate::read_text };
    (@read bytes) => { $crate::read_bytes };
    (@read empty) => { $crate::read_empty };
    (@input $r:ident) => { $r };
    (@input $r:ident json $v:ident) => { $r.json($v) };
    (@input $r:ident query $v:ident) => { $r.query($v) };
}

mod account;
mod admin;
mod cells;
mod data;
mod devices;
mod field;
mod jobs;
mod loggers;
mod service;

/// Why a call failed. Server errors keep Loam's error code and the request id to quote.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("{status} {code}: {message} (request id {request_id})")]
    Api {
        /// HTTP status.
        status: u16,
        /// Loam's stable error code (`error.code`), or `http_<status>` for other bodies.
        code: String,
        /// The server's explanation.
        message: String,
        /// The `x-request-id` of the failed request.
        request_id: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("cannot reach the server: {0}")]
    Transport(String),
    /// The answer was not what the API documents.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl ClientError {
    /// The request id of the failed call, when the server answered.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ClientError::Api { request_id, .. } => Some(request_id),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// How the client authenticates.
#[derive(Clone, Default)]
pub enum Credentials {
    /// No credentials.
    #[default]
    None,
    /// A person's access token.
    Bearer(String),
    /// A user or device API key.
    ApiKey(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::None => "None",
            Credentials::Bearer(_) => "Bearer(..)",
            Credentials::ApiKey(_) => "ApiKey(..)",
        })
    }
}

/// A Loam server and the credentials to call it with; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    credentials: Credentials,
    retries: u32,
}

fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8000`), unauthenticated.
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            credentials: Credentials::None,
            retries: 3,
        })
    }

    /// The same client with other credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// How often an idempotent call is retried after a transient failure (default 3).
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.credentials {
            Credentials::None => req,
            Credentials::Bearer(token) => req.bearer_auth(token),
            Credentials::ApiKey(key) => req.header("x-api-key", key),
        }
    }

    /// Sends a request built by `build`, retrying idempotent methods on transient failures;
    /// returns the successful response or the server's error.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let idempotent = matches!(
            method,
            Method::GET | Method::PUT | Method::DELETE | Method::HEAD
        );
        let attempts = if idempotent { self.retries + 1 } else { 1 };
        let mut delay = Duration::from_millis(200);
        let mut last = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            match build(self.request(method.clone(), path)).send().await {
                Ok(res)
                    if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED =>
                {
                    return Ok(res);
                }
                Ok(res) => {
                    let transient = matches!(res.status().as_u16(), 502..=504);
                    let err = api_error(res).await;
                    if !transient {
                        return Err(err);
                    }
                    last = Some(err);
                }
                Err(e) => last = Some(ClientError::Transport(e.to_string())),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Transport("no attempt made".into())))
    }

    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        read_json(self.send(method, path, build).await?).await
    }
}

/// Fills a path template's `{name}` placeholders with percent-encoded values.
pub(crate) fn fill_path(template: &str, values: &[(&str, String)]) -> String {
    let mut path = template.to_owned();
    for (name, value) in values {
        path = path.replace(&format!("{{{name}}}"), &encode(value));
    }
    debug_assert!(!path.contains('{'), "unfilled placeholder in {path}");
    path
}

pub(crate) async fn read_json<T: DeserializeOwned>(
    res: reqwest::Response,
) -> Result<T, ClientError> {
    res.json::<T>()
        .await
        .map_err(|e| ClientError::Decode(e.to_string()))
}

pub(crate) async fn read_text(res: reqwest::Response) -> Result<String, ClientError> {
    res.text()
        .await
        .map_err(|e| ClientError::Transport(e.to_string()))
}

pub(crate) async fn read_bytes(res: reqwest::Response) -> Result<Vec<u8>, ClientError> {
    Ok(res
        .bytes()
        .await
        .map_err(|e| ClientError::Transport(e.to_string()))?
        .to_vec())
}

pub(crate) async fn read_empty(res: reqwest::Response) -> Result<(), ClientError> {
    read_bytes(res).await.map(drop)
}

async fn api_error(res: reqwest::Response) -> ClientError {
    let status = res.status().as_u16();
    let header_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: serde_json::Value = res.json().await.unwrap_or(serde_json::Value::Null);
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    ClientError::Api {
        status,
        code: text(&body["error"]["code"]).unwrap_or_else(|| format!("http_{status}")),
        message: text(&body["error"]["message"])
            .or_else(|| text(&body["error"]))
            .or_else(|| text(&body["message"]))
            .unwrap_or_else(|| "no explanation given".into()),
        request_id: text(&body["request_id"]).unwrap_or(header_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode("fw_1.0-rc~"), "fw_1.0-rc~");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn templates_are_filled_and_encoded() {
        let path = fill_path(
            "/api/cell/{cell_id}/users/{user_id}",
            &[("cell_id", "7".into()), ("user_id", "a b".into())],
        );
        assert_eq!(path, "/api/cell/7/users/a%20b");
    }

    #[test]
    fn operations_are_listed_once() {
        let mut ops = operations();
        let all = ops.len();
        ops.sort_unstable();
        ops.dedup();
        assert_eq!(ops.len(), all);
    }
}
