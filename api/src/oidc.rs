//! "Sign in with Google" (any OpenID Connect provider): the consent URL, the code exchange, and
//! the provider's discovery document and keys, cached for an hour (refetched once when a token
//! names a key the cache does not have).

use std::time::{Duration, Instant};

use loam_auth::{IdClaims, JwkSet, TokenKind};
use loam_config::OidcClient;
use loam_db::models::User;
use serde::Deserialize;

use crate::accounts::Accounts;
use crate::error::ApiError;
use crate::oidc_cache::{CACHE_TTL, Discovery};

/// How long a consent round trip may take.
const STATE_TTL: Duration = Duration::from_secs(600);

fn http() -> Result<reqwest::Client, ApiError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ApiError::Internal(e.into()))
}

fn upstream(what: &str, err: impl std::fmt::Display) -> ApiError {
    ApiError::BadGateway(format!("the identity provider failed ({what}): {err}"))
}

/// The configured client, or 503 when OIDC is not set up.
fn client<'a>(accounts: &Accounts<'a>) -> Result<OidcClient<'a>, ApiError> {
    accounts.config().oidc().ok_or_else(|| {
        ApiError::NotConfigured(
            "OIDC sign-in is not configured on this server (LOAM_OIDC_CLIENT_ID, \
             LOAM_OIDC_CLIENT_SECRET, LOAM_OIDC_REDIRECT_URI)"
                .into(),
        )
    })
}

async fn provider(accounts: &Accounts<'_>, refresh: bool) -> Result<(Discovery, JwkSet), ApiError> {
    let issuer = client(accounts)?.issuer.to_owned();
    let mut entry = accounts.auth().oidc.entry.lock().await;
    if let Some((at, discovery, keys)) = entry.as_ref()
        && !refresh
        && at.elapsed() < CACHE_TTL
    {
        return Ok((discovery.clone(), keys.clone()));
    }
    let http = http()?;
    let discovery: Discovery = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| upstream("discovery", e))?
        .json()
        .await
        .map_err(|e| upstream("discovery document", e))?;
    let keys: JwkSet = http
        .get(&discovery.jwks_uri)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| upstream("keys", e))?
        .json()
        .await
        .map_err(|e| upstream("key set", e))?;
    *entry = Some((Instant::now(), discovery.clone(), keys.clone()));
    Ok((discovery, keys))
}

/// The provider's consent URL, with a signed, short-lived `state` against login CSRF.
pub(crate) async fn consent_url(accounts: &Accounts<'_>) -> Result<String, ApiError> {
    let oidc = client(accounts)?;
    let (discovery, _) = provider(accounts, false).await?;
    let nonce = ulid::Ulid::new().to_string();
    let csrf = accounts
        .auth()
        .tokens
        .mint(TokenKind::OAuthState, "oauth", &nonce, STATE_TTL);
    let mut url = reqwest::Url::parse(&discovery.authorization_endpoint)
        .map_err(|e| upstream("authorization endpoint", e))?;
    url.query_pairs_mut()
        .append_pair("client_id", oidc.client_id)
        .append_pair("redirect_uri", oidc.redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("access_type", "offline")
        .append_pair("state", &csrf)
        .append_pair("prompt", "consent");
    Ok(url.into())
}

#[derive(Deserialize)]
struct TokenReply {
    id_token: Option<String>,
}

/// Exchanges an authorization code for the person it identifies, creating their account on
/// first sign-in and linking by verified email otherwise.
pub(crate) async fn sign_in(
    accounts: &Accounts<'_>,
    code: &str,
    csrf: Option<&str>,
) -> Result<User, ApiError> {
    let oidc = client(accounts)?;
    let valid_state = csrf.is_some_and(|s| {
        accounts
            .auth()
            .tokens
            .verify(s, TokenKind::OAuthState)
            .is_ok()
    });
    if !valid_state {
        return Err(ApiError::bad_request(
            "invalid_state",
            "the sign-in link expired or did not come from this server; start again",
        ));
    }
    let (discovery, keys) = provider(accounts, false).await?;
    let form = [
        ("client_id", oidc.client_id),
        ("client_secret", oidc.client_secret.expose()),
        ("code", code),
        ("grant_type", "authorization_code"),
        ("redirect_uri", oidc.redirect_uri),
    ];
    let reply = http()?
        .post(&discovery.token_endpoint)
        .form(&form)
        .send()
        .await
        .map_err(|e| upstream("token exchange", e))?;
    if !reply.status().is_success() {
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        return Err(ApiError::Unauthorized(format!(
            "the identity provider refused the code ({status}): {}",
            text.chars().take(200).collect::<String>()
        )));
    }
    let reply: TokenReply = reply.json().await.map_err(|e| upstream("token reply", e))?;
    let id_token = reply
        .id_token
        .ok_or_else(|| upstream("token reply", "no id_token"))?;
    let claims = match loam_auth::verify_id_token(&id_token, &keys, oidc.issuer, oidc.client_id) {
        Ok(claims) => claims,
        Err(loam_auth::AuthError::Invalid) => {
            // The provider may have rotated its keys since they were cached.
            let (_, keys) = provider(accounts, true).await?;
            loam_auth::verify_id_token(&id_token, &keys, oidc.issuer, oidc.client_id)
                .map_err(|e| ApiError::Unauthorized(format!("the ID token is not valid: {e}")))?
        }
        Err(e) => {
            return Err(ApiError::Unauthorized(format!(
                "the ID token is not valid: {e}"
            )));
        }
    };
    link(accounts, claims).await
}

async fn link(accounts: &Accounts<'_>, claims: IdClaims) -> Result<User, ApiError> {
    let email = match (claims.email, claims.email_verified) {
        (Some(email), Some(true)) => crate::accounts::normalize_email(&email),
        _ => {
            return Err(ApiError::Unauthorized(
                "the identity provider did not vouch for an email address".into(),
            ));
        }
    };
    let lookup = email.clone();
    if let Some(user) = accounts
        .db()
        .run(move |c| loam_db::users::find_by_email(c, &lookup))
        .await?
    {
        return Ok(user);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let (first, last) = (
        claims.given_name.unwrap_or_default(),
        claims.family_name.unwrap_or_default(),
    );
    accounts
        .db()
        .run(move |c| {
            let new = loam_db::models::NewUser {
                id: &id,
                email: &email,
                first_name: Some(&first),
                last_name: Some(&last),
                password_hash: None,
                is_admin: false,
                created_at: loam_db::now(),
            };
            match loam_db::users::insert(c, &new) {
                // Two first sign-ins at once: the other one created the account.
                Ok(()) | Err(loam_db::DbError::UniqueViolation { .. }) => {}
                Err(e) => return Err(e),
            }
            loam_db::users::find_by_email(c, &email)?.ok_or(loam_db::DbError::NotFound)
        })
        .await
        .map_err(Into::into)
}
