//! OpenID Connect ID tokens: verified against the provider's published keys, issuer, audience
//! and expiry. Fetching those keys is the caller's business; this stays pure.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::AuthError;

/// The claims Loam reads from an ID token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdClaims {
    /// The provider's subject id.
    pub sub: String,
    /// The person's email.
    pub email: Option<String>,
    /// Whether the provider verified that email.
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
}

/// Verifies an ID token: signature by a key in `keys` (RS256/ES256, chosen by the token's `kid`),
/// `iss` equal to `issuer`, `aud` containing `audience`, and `exp` in the future (10 s leeway, as
/// ENTS allowed for clock skew).
pub fn verify_id_token(
    token: &str,
    keys: &JwkSet,
    issuer: &str,
    audience: &str,
) -> Result<IdClaims, AuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(AuthError::Invalid);
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or(AuthError::Invalid)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| AuthError::Invalid)?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = 10;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data =
        jsonwebtoken::decode::<IdClaims>(token, &key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid,
        })?;
    Ok(data.claims)
}
