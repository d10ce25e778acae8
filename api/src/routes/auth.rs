//! Sign-up, sign-in and sessions. Login answers Loam's JSON; refresh keeps ENTS's plain-text
//! token body because the unchanged dashboard stores that text.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use loam_config::{Registration, SameSite};
use loam_schemas::auth::{AccountResponse, LoginRequest, OauthUrl, RegisterRequest, TokenResponse};
use loam_schemas::errors::ErrorResponse;

use crate::accounts::{self, Session};
use crate::caller::ClientIp;
use crate::error::ApiError;
use crate::extract::Valid;
use crate::state::AppState;

/// The cookie that carries the refresh token, named as ENTS named it.
const REFRESH_COOKIE: &str = "refresh-token";

/// Creates an account (when registration is open).
#[utoipa::path(post, path = "/api/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = AccountResponse),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 403, description = "Registration is closed", body = ErrorResponse),
        (status = 409, description = "The email is taken", body = ErrorResponse),
        (status = 422, description = "A field broke a rule", body = ErrorResponse),
    ))]
pub(crate) async fn register(
    State(state): State<AppState>,
    Valid(body): Valid<RegisterRequest>,
) -> Result<(StatusCode, Json<AccountResponse>), ApiError> {
    if state.config().registration == Registration::Closed {
        return Err(ApiError::Forbidden(
            "registration is closed; an operator creates accounts with `loam user create`".into(),
        ));
    }
    let user = accounts::create_user(
        state.db(),
        &body.email,
        &body.password,
        body.first_name.as_deref(),
        body.last_name.as_deref(),
        false,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(super::users::account_response(user)),
    ))
}

/// Signs in with email and password: an access token in the body, the refresh token as an
/// HttpOnly cookie.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 201, description = "Signed in; `refresh-token` cookie set", body = TokenResponse),
        (status = 401, description = "Wrong email or password (one answer for both)", body = ErrorResponse),
        (status = 403, description = "`account_disabled`: the right password of an account an administrator disabled", body = ErrorResponse),
        (status = 422, description = "A field is missing", body = ErrorResponse),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorResponse),
        (status = 503, description = "The database is unreachable (the answer says so; retry later)", body = ErrorResponse),
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ip: axum::Extension<ClientIp>,
    Valid(body): Valid<LoginRequest>,
) -> Result<Response, ApiError> {
    let session = accounts::login(&state.accounts(), &body.email, &body.password, ip.0.0).await?;
    let cookie = refresh_cookie(&state, &session);
    let body = TokenResponse {
        access_token: session.access_token,
        token_type: "Bearer".into(),
        expires_in: session.expires_in,
    };
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie)],
        Json(body),
    )
        .into_response())
}

/// Rotates the refresh cookie and answers the new access token as plain text (ENTS's shape).
/// A refresh token presented twice ends every session of its login.
#[utoipa::path(get, path = "/api/auth/refresh", tag = "auth",
    responses(
        (status = 201, description = "The new access token, as plain text; the cookie is rotated", body = String, content_type = "text/plain"),
        (status = 401, description = "Missing, invalid, expired or reused refresh token", body = ErrorResponse),
        (status = 403, description = "`account_disabled`: the account was disabled by an administrator", body = ErrorResponse),
    ))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = accounts::refresh(&state.accounts(), read_cookie(&headers).as_deref()).await?;
    Ok(token_as_text(&state, session))
}

/// Ends the session of the presented refresh cookie (only that login) and clears the cookie.
#[utoipa::path(method(get, post), path = "/api/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out (also without a cookie)")))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    accounts::logout(&state.accounts(), read_cookie(&headers).as_deref()).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clearing_cookie(&state))],
    )
        .into_response())
}

/// ENTS's answer to refresh and provider sign-in: 201, the access token as plain text (the
/// unchanged dashboard stores that text), and the rotated refresh cookie.
fn token_as_text(state: &AppState, session: Session) -> Response {
    let cookie = refresh_cookie(state, &session);
    let text = HeaderValue::from_static("text/plain; charset=utf-8");
    (
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie), (header::CONTENT_TYPE, text)],
        session.access_token,
    )
        .into_response()
}

fn read_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == REFRESH_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

fn cookie_attributes(state: &AppState) -> String {
    let config = state.config();
    let same_site = match config.cookie_samesite {
        SameSite::Lax => "Lax",
        SameSite::Strict => "Strict",
        SameSite::None => "None",
    };
    let secure = if config.cookie_secure || config.cookie_samesite == SameSite::None {
        "; Secure"
    } else {
        ""
    };
    format!("Path=/api/auth; HttpOnly; SameSite={same_site}{secure}")
}

fn refresh_cookie(state: &AppState, session: &Session) -> HeaderValue {
    let expires = chrono::Utc::now() + chrono::Duration::seconds(session.refresh_max_age as i64);
    let text = format!(
        "{REFRESH_COOKIE}={}; Max-Age={}; Expires={}; {}",
        session.refresh_token,
        session.refresh_max_age,
        expires.format("%a, %d %b %Y %H:%M:%S GMT"),
        cookie_attributes(state),
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn clearing_cookie(state: &AppState) -> HeaderValue {
    let text = format!(
        "{REFRESH_COOKIE}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; {}",
        cookie_attributes(state)
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The identity provider's consent URL (ENTS's Google sign-in).
#[utoipa::path(get, path = "/api/oauth/url", tag = "auth",
    responses(
        (status = 200, description = "`{\"url\": …}`", body = OauthUrl),
        (status = 502, description = "The provider's discovery document could not be fetched", body = ErrorResponse),
        (status = 503, description = "OIDC is not configured", body = ErrorResponse),
    ))]
pub(crate) async fn oauth_url(State(state): State<AppState>) -> Result<Json<OauthUrl>, ApiError> {
    Ok(Json(OauthUrl {
        url: crate::oidc::consent_url(&state.accounts()).await?,
    }))
}

/// Finishes provider sign-in: exchanges `code`, verifies the ID token, links the account by
/// verified email, and answers ENTS's shape (201, the access token as plain text, the refresh
/// cookie).
#[utoipa::path(get, path = "/api/auth/token", tag = "auth",
    params(
        ("code" = String, Query, description = "Authorization code from the provider"),
        ("state" = String, Query, description = "The state from /api/oauth/url"),
    ),
    responses(
        (status = 201, description = "Signed in: the access token as plain text; `refresh-token` cookie set", body = String, content_type = "text/plain"),
        (status = 400, description = "Missing code or invalid state", body = ErrorResponse),
        (status = 401, description = "The provider refused, or the ID token is invalid", body = ErrorResponse),
        (status = 403, description = "`account_disabled`: the linked account was disabled by an administrator", body = ErrorResponse),
        (status = 502, description = "The provider could not be reached", body = ErrorResponse),
        (status = 503, description = "OIDC is not configured", body = ErrorResponse),
    ))]
pub(crate) async fn oauth_token(
    State(state): State<AppState>,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let code = params
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("missing_code", "Authorization code must be provided")
        })?;
    let user = crate::oidc::sign_in(
        &state.accounts(),
        code,
        params.get("state").map(String::as_str),
    )
    .await?;
    let session = accounts::issue(&state.accounts(), &user, None).await?;
    Ok(token_as_text(&state, session))
}

/// ENTS's vestigial server session: nothing ever signs one in, so it always answers 401.
#[utoipa::path(get, path = "/api/session", tag = "auth",
    responses((status = 401, description = "`{\"message\": \"Unauthorized\"}` (sessions are cookies + JWTs now)")))]
pub(crate) async fn session() -> ApiError {
    ApiError::Ents {
        status: StatusCode::UNAUTHORIZED,
        body: serde_json::json!({"message": "Unauthorized"}),
    }
}
