//! People's JWTs: access and refresh tokens, HS256 pinned, `exp` required.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::AuthError;

/// What a token is for; checked on decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Short-lived bearer token for API calls.
    Access,
    /// Long-lived cookie token that only buys new access tokens.
    Refresh,
    /// The `state` of an OpenID Connect round trip (login CSRF protection).
    #[serde(rename = "oauth_state")]
    OAuthState,
}

/// The claims Loam puts in every token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The person's id (UUID).
    pub sub: String,
    /// The same id under the claim name ENTS used, so ENTS-era tooling can read it.
    pub uid: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issue time, Unix seconds.
    pub iat: u64,
    /// Unique token id (refresh rotation keys on it).
    pub jti: String,
    /// Access or refresh.
    pub typ: TokenKind,
    /// Whether the person was an administrator when the token was issued.
    #[serde(default)]
    pub adm: bool,
}

/// Signs and verifies tokens with one HMAC secret (HS256).
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TokenKeys {
    /// Keys from the configured secret.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// Mints a token of `kind` for `user_id`, valid for `ttl`.
    pub fn mint(&self, kind: TokenKind, user_id: &str, jti: &str, ttl: Duration) -> String {
        self.mint_with(kind, user_id, jti, ttl, false)
    }

    /// Mints a token that also records whether the person is an administrator.
    pub fn mint_with(
        &self,
        kind: TokenKind,
        user_id: &str,
        jti: &str,
        ttl: Duration,
        admin: bool,
    ) -> String {
        let iat = unix_now();
        let claims = Claims {
            sub: user_id.to_owned(),
            uid: user_id.to_owned(),
            exp: iat + ttl.as_secs(),
            iat,
            jti: jti.to_owned(),
            typ: kind,
            adm: admin,
        };
        // HS256 with a byte secret cannot fail to encode.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Verifies signature (HS256 only), expiry (no leeway) and kind, returning the claims.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Claims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            },
        )?;
        if data.claims.typ != kind {
            return Err(AuthError::Invalid);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn minted_tokens_verify_with_their_kind_only() {
        let keys = TokenKeys::new(SECRET);
        let token = keys.mint(
            TokenKind::Access,
            "user-1",
            "jti-1",
            Duration::from_secs(60),
        );
        let claims = keys.verify(&token, TokenKind::Access).expect("valid");
        assert_eq!(
            (claims.sub.as_str(), claims.jti.as_str()),
            ("user-1", "jti-1")
        );
        assert_eq!(
            keys.verify(&token, TokenKind::Refresh),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let keys = TokenKeys::new(SECRET);
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "u".into(),
                uid: "u".into(),
                exp: unix_now() - 10,
                iat: unix_now() - 100,
                jti: "j".into(),
                typ: TokenKind::Access,
                adm: false,
            },
            &EncodingKey::from_secret(SECRET),
        )
        .expect("encode");
        assert_eq!(
            keys.verify(&expired, TokenKind::Access),
            Err(AuthError::Expired)
        );

        let good = keys.mint(TokenKind::Access, "u", "j", Duration::from_secs(60));
        let mut tampered = good.clone();
        tampered.pop();
        tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            keys.verify(&tampered, TokenKind::Access),
            Err(AuthError::Invalid)
        );

        let other = TokenKeys::new(b"another-secret-another-secret-xx");
        assert_eq!(
            other.verify(&good, TokenKind::Access),
            Err(AuthError::Invalid)
        );

        // alg "none": header {"alg":"none"} with the same claims and an empty signature.
        let payload = good.split('.').nth(1).expect("payload");
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(
            keys.verify(&none, TokenKind::Access),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            keys.verify("not a jwt", TokenKind::Access),
            Err(AuthError::Invalid)
        );
    }
}
