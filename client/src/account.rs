//! Accounts: registration, sign-in and its refresh cookie, the profile, the person's own API
//! key, and provider (OIDC) sign-in.

use loam_schemas::auth::{
    AccountResponse, LoginRequest, MessageResponse, OauthUrl, ProfileResponse, ProfileUpdate,
    RegisterRequest, TokenResponse, UserKeyResponse,
};
use reqwest::Method;

use crate::{Client, ClientError, Credentials, read_json, read_text};

const REFRESH_COOKIE: &str = "refresh-token";

operations! {
    /// Creates an account (when the server's registration is open).
    POST "/api/auth/register" => fn register(; json account: RegisterRequest) -> json AccountResponse;
    /// The signed-in person's profile.
    GET "/api/user" => fn me() -> json ProfileResponse;
    /// Changes the signed-in person's names.
    PUT "/api/user" => fn update_me(; json update: ProfileUpdate) -> json ProfileResponse;
    /// The person's own API key (ENTS's one key per person), masked; null when there is none.
    GET "/api/apikey/" => fn user_key() -> json UserKeyResponse;
    /// Creates the person's API key and shows it this once (409 while one exists).
    POST "/api/apikey/" => fn create_user_key() -> json UserKeyResponse;
    /// Deletes the person's own API key.
    DELETE "/api/apikey/" => fn delete_user_key() -> json MessageResponse;
    /// Where to send a browser for provider sign-in.
    GET "/api/oauth/url" => fn oauth_url() -> json OauthUrl;
    /// ENTS's session probe; Loam has no server sessions, so this always answers 401.
    GET "/api/session" => fn session() -> empty;
}

/// Operations whose methods are written out below (cookies are read from the answers).
pub(crate) const HAND_WRITTEN: &[(&str, &str)] = &[
    ("POST", "/api/auth/login"),
    ("GET", "/api/auth/refresh"),
    ("GET", "/api/auth/token"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/auth/logout"),
];

/// A person's sign-in answer.
#[derive(Debug, Clone)]
pub struct Login {
    /// The access token (bearer).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The refresh token the server set as the `refresh-token` cookie, for [`Client::refresh`].
    pub refresh_token: Option<String>,
}

/// A rotated session: a new access token and the refresh token to use next time.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The new access token.
    pub access_token: String,
    /// The rotated refresh token (the old one is now spent).
    pub refresh_token: Option<String>,
}

fn refresh_token_of(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.trim().strip_prefix("refresh-token="))
        .find(|value| !value.is_empty())
        .map(str::to_owned)
}

fn cookie(refresh_token: Option<&str>) -> Option<String> {
    refresh_token.map(|t| format!("{REFRESH_COOKIE}={t}"))
}

impl Client {
    /// Signs a person in; returns a client that calls as them.
    pub async fn login(&self, email: &str, password: &str) -> Result<(Client, Login), ClientError> {
        let body = LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        };
        let res = self
            .send(Method::POST, "/api/auth/login", |r| r.json(&body))
            .await?;
        let refresh_token = refresh_token_of(&res);
        let token: TokenResponse = read_json(res).await?;
        let login = Login {
            access_token: token.access_token,
            expires_in: token.expires_in,
            refresh_token,
        };
        let client = self
            .clone()
            .with_credentials(Credentials::Bearer(login.access_token.clone()));
        Ok((client, login))
    }

    /// Trades a refresh token for a new access token (the refresh token rotates).
    pub async fn refresh(&self, refresh_token: &str) -> Result<Refreshed, ClientError> {
        let cookie = cookie(Some(refresh_token));
        let res = self
            .send(Method::GET, "/api/auth/refresh", |r| {
                r.header(reqwest::header::COOKIE, cookie.clone().unwrap_or_default())
            })
            .await?;
        let refresh_token = refresh_token_of(&res);
        Ok(Refreshed {
            access_token: read_text(res).await?,
            refresh_token,
        })
    }

    /// Finishes provider sign-in with the `code` and `state` the provider redirected with.
    pub async fn oauth_token(&self, code: &str, state: &str) -> Result<Refreshed, ClientError> {
        let query = [("code", code), ("state", state)];
        let res = self
            .send(Method::GET, "/api/auth/token", |r| r.query(&query))
            .await?;
        let refresh_token = refresh_token_of(&res);
        Ok(Refreshed {
            access_token: read_text(res).await?,
            refresh_token,
        })
    }

    /// Signs out: the refresh token (if given) is revoked and the cookie cleared.
    pub async fn logout(&self, refresh_token: Option<&str>) -> Result<(), ClientError> {
        self.logout_with(Method::POST, refresh_token).await
    }

    /// Signs out the way the ENTS dashboard does (`GET`); same effect as [`Client::logout`].
    pub async fn logout_ents(&self, refresh_token: Option<&str>) -> Result<(), ClientError> {
        self.logout_with(Method::GET, refresh_token).await
    }

    async fn logout_with(
        &self,
        method: Method,
        refresh_token: Option<&str>,
    ) -> Result<(), ClientError> {
        let cookie = cookie(refresh_token);
        self.send(method, "/api/auth/logout", |r| match &cookie {
            Some(c) => r.header(reqwest::header::COOKIE, c),
            None => r,
        })
        .await
        .map(drop)
    }
}
