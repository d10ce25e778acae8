//! Who a request comes from, as handlers see it: [`Caller`], [`Person`] or [`Device`] as
//! extractors (resolved once per request by `identity`), the client's address, and the 401 for
//! routes that need a person. A route whose access-class layer is missing fails closed: the
//! extractor finds no identity of that kind.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use loam_config::Cidr;

use crate::error::ApiError;

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
    /// What the user key may do (empty for a JWT); `ingest` makes it an integration key.
    pub scopes: Vec<Scope>,
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
    pub(crate) fn of(req: &Request, proxies: &[Cidr]) -> Self {
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
