//! Loam's credentials, pure and free of HTTP or database types: people's JWTs (access and refresh
//! differ in `typ`, so neither is accepted where the other belongs; the algorithm is pinned and
//! `exp` required), Argon2id password hashes, and API keys (a fixed visible prefix, 256 random
//! bits, only a SHA-256 digest stored), and OpenID Connect ID-token checks.

// Everything here reads outside input: no byte-index slicing of text, no indexing that can go
// out of bounds, no unwrap/expect (fuzzed by `fuzz/`, see scripts/fuzz).
#![deny(
    clippy::string_slice,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod keys;
mod oidc;
mod password;
mod tokens;

pub use jsonwebtoken::jwk::JwkSet;
pub use keys::{ApiKeyKind, KeyDigest, PlainKey, digest_hex, mask, random_secret};
pub use oidc::{IdClaims, verify_id_token};
pub use password::{hash_password, verify_password, verify_password_against_nothing};
pub use tokens::{Claims, TokenKeys, TokenKind};

/// Why a credential was refused; the API decides which of these the caller may learn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token's `exp` has passed.
    #[error("token expired")]
    Expired,
    /// Bad signature, wrong algorithm, wrong type, missing claims or not a JWT at all.
    #[error("invalid token")]
    Invalid,
    /// A presented API key is not in Loam's format.
    #[error("malformed API key")]
    MalformedKey,
    /// Hashing failed (never for valid inputs; reported rather than panicking).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}
