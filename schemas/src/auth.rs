//! Accounts, sessions and API keys.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// `POST /api/auth/register`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Sign-in email; compared case-insensitively.
    #[validate(email(message = "must be a valid email address"), length(max = 255))]
    pub email: String,
    /// At least 10 characters.
    #[validate(length(
        min = 10,
        max = 1024,
        message = "must be between 10 and 1024 characters"
    ))]
    pub password: String,
    /// Given name.
    #[validate(length(max = 255))]
    #[serde(default)]
    pub first_name: Option<String>,
    /// Family name.
    #[validate(length(max = 255))]
    #[serde(default)]
    pub last_name: Option<String>,
}

/// `POST /api/auth/login`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Validate, ToSchema)]
pub struct LoginRequest {
    /// Sign-in email.
    #[validate(length(min = 1, max = 255))]
    pub email: String,
    /// The password.
    #[validate(length(min = 1, max = 1024))]
    pub password: String,
}

/// A fresh access token; the refresh token travels as the `refresh-token` cookie.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: Cow<'static, str>,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// A person's account as its owner sees it (never the password hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountResponse {
    /// UUID.
    pub id: String,
    /// Sign-in email.
    pub email: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Whether the account is an administrator.
    pub is_admin: bool,
}

/// ENTS's profile form of the current user (`GET /api/user`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProfileResponse {
    /// Sign-in email.
    pub email: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
}

/// `PUT /api/user`: names only; the email cannot change here.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, Validate, ToSchema)]
pub struct ProfileUpdate {
    /// New given name.
    #[validate(length(max = 255))]
    pub first_name: Option<String>,
    /// New family name.
    #[validate(length(max = 255))]
    pub last_name: Option<String>,
}

/// ENTS's user-key answer: the full key right after creation, a masked one afterwards, or null.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserKeyResponse {
    /// The key (masked except on creation) or null when there is none.
    pub api_key: Option<String>,
}

/// ENTS's `{"message": …}` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageResponse {
    /// What happened.
    pub message: String,
}

/// `GET /api/oauth/url`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OauthUrl {
    /// Where to send the browser.
    pub url: String,
}
