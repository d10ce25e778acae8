//! Who is calling. One layer resolves the caller for every request (a bearer JWT, an API key, or
//! nobody); credentials that are present are always checked, on every route, and a bad one is a
//! 401. The access class of each route (see `routing`) then decides whether that caller may in.
//! Handlers take [`Caller`], [`Person`] or [`Device`] as extractors; a route whose class layer is
//! missing fails closed because the extractor finds no identity of that kind.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use loam_auth::{KeyDigest, TokenKind};
use loam_config::Cidr;

use crate::error::ApiError;
use crate::limiter::Subject;
use crate::state::AppState;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Upload measurements for its logger.
    Ingest,
    /// Read the data of the owner's cells.
    Read,
    /// Publish firmware.
    Firmware,
}

impl Scope {
    /// Parses a stored or requested scope name.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "firmware" => Some(Scope::Firmware),
            _ => None,
        }
    }

    /// The scope's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Firmware => "firmware",
        }
    }
}

/// A signed-in person (bearer JWT) or a person's own API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The person's id.
    pub user_id: String,
    /// Admins may see and change everything.
    pub is_admin: bool,
    /// True when authenticated by a user API key rather than a JWT.
    pub via_key: bool,
}

/// A device authenticated by its logger's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The key's id (for logs and `last_used_at`).
    pub key_id: String,
    /// The logger the key belongs to; it may write only as this logger.
    pub logger_id: i32,
    /// The logger's owner; the key may write only cells this person may write.
    pub owner_id: String,
    /// Whether the owner is an administrator.
    pub owner_is_admin: bool,
    /// What the key may do.
    pub scopes: Vec<Scope>,
}

/// The caller of a request, resolved once by [`resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials were presented.
    Anonymous,
    /// A person (JWT or user key).
    Person(Person),
    /// A device key.
    Device(Device),
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Anonymous))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Person {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Caller>() {
            Some(Caller::Person(person)) => Ok(person.clone()),
            _ => Err(unauthenticated()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Device {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Caller>() {
            Some(Caller::Device(device)) => Ok(device.clone()),
            _ => Err(ApiError::Unauthorized(
                "a device API key (X-API-Key) is required".into(),
            )),
        }
    }
}

/// The 401 for a route that needs a person.
pub(crate) fn unauthenticated() -> ApiError {
    ApiError::Unauthorized("authentication required: send Authorization: Bearer <token>".into())
}

/// The client's address: the socket peer, or what a trusted proxy says it forwarded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    fn of(req: &Request, proxies: &[Cidr]) -> Self {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Self(client_ip(peer, req.headers(), proxies))
    }
}

/// `X-Real-IP` / `X-Forwarded-For` count only when the peer is a trusted proxy; then the
/// rightmost forwarded address that is not itself a trusted proxy is the client.
fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[Cidr]) -> IpAddr {
    let trusted = |ip: IpAddr| proxies.iter().any(|net| net.contains(ip));
    if !trusted(peer) {
        return peer;
    }
    if let Some(forwarded) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        let hops: Vec<IpAddr> = forwarded
            .split(',')
            .filter_map(|h| h.trim().parse::<IpAddr>().ok())
            .collect();
        if let Some(ip) = hops.iter().rev().find(|ip| !trusted(**ip)) {
            return *ip;
        }
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

/// How long a key lookup is trusted before the database is asked again; bounds how late a
/// revocation takes effect on each replica.
const KEY_CACHE_TTL: Duration = Duration::from_secs(2);
/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Recently resolved API keys by digest, so the ingest hot path costs no database round trip.
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<KeyDigest, (Instant, Option<Caller>)>>,
    touched: Mutex<HashMap<String, Instant>>,
}

impl KeyCache {
    fn get(&self, digest: &KeyDigest) -> Option<Option<Caller>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(digest)
            .filter(|(at, _)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(_, c)| c.clone())
    }

    fn put(&self, digest: KeyDigest, caller: Option<Caller>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > 50_000 {
            entries.retain(|_, (at, _)| at.elapsed() < KEY_CACHE_TTL);
        }
        entries.insert(digest, (Instant::now(), caller));
    }

    /// Forgets every cached key, so a revocation made by this replica applies at once.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn should_touch(&self, key_id: &str) -> bool {
        let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        match touched.get(key_id) {
            Some(at) if at.elapsed() < TOUCH_EVERY => false,
            _ => {
                touched.insert(key_id.to_owned(), Instant::now());
                true
            }
        }
    }
}

/// Resolves the caller and stores it (and the client address) in the request.
pub(crate) async fn resolve(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let ip = ClientIp::of(&req, &state.auth().trusted_proxies);
    req.extensions_mut().insert(ip);
    match identify(&state, req.headers(), ip).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(err) => err.into_response(),
    }
}

async fn identify(state: &AppState, headers: &HeaderMap, ip: ClientIp) -> Result<Caller, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
            })?;
        let claims = state
            .auth()
            .tokens
            .verify(token, TokenKind::Access)
            .map_err(|e| ApiError::Unauthorized(format!("{e}")))?;
        return Ok(Caller::Person(Person {
            user_id: claims.sub,
            is_admin: claims.adm,
            via_key: false,
        }));
    }
    let Some(value) = headers.get("x-api-key") else {
        return Ok(Caller::Anonymous);
    };
    // A valid key is never refused for other callers' failures at the same address; an
    // invalid one counts against the address and the key, and past the limit answers 429.
    let presented = value.to_str().unwrap_or_default();
    let (resolved, key_id) = match KeyDigest::parse(presented) {
        Ok((_, digest)) => {
            let id = format!("key:{}", digest.to_hex());
            (lookup_key(state, digest).await?, Some(id))
        }
        Err(_) => (None, None),
    };
    if let Some(caller) = resolved {
        return Ok(caller);
    }
    let mut subjects = vec![Subject::Address(ip.0)];
    subjects.extend(key_id.map(Subject::Credential));
    match state.auth().limiter.record_failure(&subjects).await {
        Some(seconds) => Err(ApiError::TooManyRequests(seconds)),
        None => Err(ApiError::Unauthorized("invalid API key".into())),
    }
}

async fn lookup_key(state: &AppState, digest: KeyDigest) -> Result<Option<Caller>, ApiError> {
    let cache = &state.auth().key_cache;
    if let Some(hit) = cache.get(&digest) {
        return Ok(hit);
    }
    let hex = digest.to_hex();
    let now = loam_db::now();
    let found = state
        .db()
        .run(move |c| loam_db::api_keys::find_live_with_owner(c, &hex, now))
        .await?;
    let caller = found.map(|(key, owner_is_admin)| {
        if cache.should_touch(&key.id) {
            let db = state.db().clone();
            let id = key.id.clone();
            tokio::spawn(async move {
                if let Err(e) = db.run(move |c| loam_db::api_keys::touch(c, &id, now)).await {
                    tracing::warn!(error = %e, "could not record API key use");
                }
            });
        }
        caller_for_key(key, owner_is_admin)
    });
    cache.put(digest, caller.clone());
    Ok(caller)
}

fn caller_for_key(key: loam_db::models::ApiKey, owner_is_admin: bool) -> Caller {
    match key.logger_id {
        None => Caller::Person(Person {
            user_id: key.user_id,
            is_admin: owner_is_admin,
            via_key: true,
        }),
        Some(logger_id) => Caller::Device(Device {
            key_id: key.id,
            logger_id,
            owner_id: key.user_id,
            owner_is_admin,
            scopes: key.scopes.split(',').filter_map(Scope::parse).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxies = vec![Cidr::parse("10.0.0.0/8").expect("cidr")];
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-real-ip", "5.6.7.8")]);
        let stranger: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(client_ip(stranger, &spoofed, &proxies), stranger);
        let proxy: IpAddr = "10.0.0.2".parse().expect("ip");
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.9")]);
        assert_eq!(
            client_ip(proxy, &chain, &proxies),
            "198.51.100.7".parse::<IpAddr>().expect("ip")
        );
        let real = headers(&[("x-real-ip", "198.51.100.8")]);
        assert_eq!(
            client_ip(proxy, &real, &proxies),
            "198.51.100.8".parse::<IpAddr>().expect("ip")
        );
    }
}
