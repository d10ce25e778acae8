//! Who is calling. One layer resolves the caller for every request (a bearer JWT, an API key, or
//! nobody); credentials that are present are always checked, on every route, and a bad one is a
//! 401. The access class of each route (see `routing`) then decides whether that caller may in.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use loam_auth::{KeyDigest, TokenKind};

use crate::account_status::Standing;
use crate::accounts::Accounts;
use crate::caller::{Caller, ClientIp, Device, Person, Scope};
use crate::error::ApiError;
use crate::limiter::Subject;
use crate::state::AppState;

/// Resolves the caller and stores it (and the client address) in the request.
pub(crate) async fn resolve(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let ip = ClientIp::of(&req, &state.auth().trusted_proxies);
    req.extensions_mut().insert(ip);
    match identify(&state.accounts(), req.headers(), ip).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(err) => err.into_response(),
    }
}

async fn identify(
    accounts: &Accounts<'_>,
    headers: &HeaderMap,
    ip: ClientIp,
) -> Result<Caller, ApiError> {
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
        let claims = accounts
            .auth()
            .tokens
            .verify(token, TokenKind::Access)
            .map_err(|e| ApiError::Unauthorized(format!("{e}")))?;
        return person_of_token(accounts, claims).await;
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
            (lookup_key(accounts, digest).await?, Some(id))
        }
        Err(_) => (None, None),
    };
    if let Some(caller) = resolved {
        return Ok(caller);
    }
    let mut subjects = vec![Subject::Address(ip.0)];
    subjects.extend(key_id.map(Subject::Credential));
    match accounts.auth().limiter.record_failure(&subjects).await {
        Some(seconds) => Err(ApiError::TooManyRequests(seconds)),
        None => Err(ApiError::Unauthorized("invalid API key".into())),
    }
}

/// The person a verified access token names, as of now: a disabled account's tokens are
/// refused, and admin rights are the current ones, not the token's `adm` claim (both from a
/// snapshot at most 2 s old; see `account_status`).
pub(crate) async fn person_of_token(
    accounts: &Accounts<'_>,
    claims: loam_auth::Claims,
) -> Result<Caller, ApiError> {
    let standing = accounts
        .auth()
        .account_status
        .standing(accounts.db(), &claims.sub, claims.iat, claims.adm)
        .await?;
    let user_id = claims.sub;
    match standing {
        Standing::Disabled => Err(ApiError::Unauthorized(
            "this account is disabled; ask an administrator".into(),
        )),
        Standing::Enabled { is_admin } => Ok(Caller::Person(Person {
            user_id,
            is_admin,
            via_key: false,
            scopes: Vec::new(),
        })),
    }
}

async fn lookup_key(
    accounts: &Accounts<'_>,
    digest: KeyDigest,
) -> Result<Option<Caller>, ApiError> {
    let cache = &accounts.auth().key_cache;
    if let Some(hit) = cache.get(&digest) {
        return Ok(hit);
    }
    let hex = digest.to_hex();
    let now = loam_db::now();
    let found = accounts
        .db()
        .run(move |c| loam_db::api_keys::find_live_with_owner(c, &hex, now))
        .await?;
    let caller = found.map(|(key, owner_is_admin)| {
        if cache.should_touch(&key.id) {
            let db = accounts.db().clone();
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
            scopes: key.scopes.split(',').filter_map(Scope::parse).collect(),
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
