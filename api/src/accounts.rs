//! Accounts and sessions: the rules behind register, login, refresh and logout, kept out of the
//! handlers so the command line (`loam user create`) uses the same ones.

use std::net::IpAddr;
use std::time::Duration;

use loam_auth::TokenKind;
use loam_db::models::{NewUser, RefreshToken, User};
use loam_db::refresh_tokens::Rotation;
use loam_db::{Db, DbError};

use loam_config::Config;

use crate::auth_context::AuthContext;
use crate::error::ApiError;
use crate::limiter::Subject;

/// What the account rules need, borrowed from the state: the database, credential checking and
/// the configuration (token lifetimes, compatibility mode). Built by `AppState::accounts`.
#[derive(Clone, Copy)]
pub struct Accounts<'a> {
    db: &'a Db,
    auth: &'a AuthContext,
    config: &'a Config,
}

impl<'a> Accounts<'a> {
    /// Binds the rules to the parts they use.
    pub fn new(db: &'a Db, auth: &'a AuthContext, config: &'a Config) -> Self {
        Self { db, auth, config }
    }

    /// The database handle.
    pub(crate) fn db(&self) -> &'a Db {
        self.db
    }

    /// Token keys, rate limiter and the OIDC cache.
    pub(crate) fn auth(&self) -> &'a AuthContext {
        self.auth
    }

    /// The effective configuration.
    pub(crate) fn config(&self) -> &'a Config {
        self.config
    }
}

/// A fresh pair of tokens for one login family.
pub(crate) struct Session {
    /// The access JWT.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh JWT (goes into the cookie).
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_max_age: u64,
}

/// Emails are compared case-insensitively: stored trimmed and lower-cased.
pub(crate) fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Runs a password hash (Argon2id: 19 MiB and tens of milliseconds of a core each) with at most
/// one per core at a time, so a flood of logins queues instead of multiplying the server's
/// memory and starving uploads of CPU.
pub(crate) async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    static PERMITS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    let _permit = PERMITS
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Creates an account with an Argon2id-hashed password; a taken email is a 409.
pub async fn create_user(
    db: &Db,
    email: &str,
    password: &str,
    first_name: Option<&str>,
    last_name: Option<&str>,
    is_admin: bool,
) -> Result<User, ApiError> {
    let email = normalize_email(email);
    let password = password.to_owned();
    let hash = hashing(move || loam_auth::hash_password(&password))
        .await?
        .map_err(|e| ApiError::Internal(e.into()))?;
    let id = uuid::Uuid::new_v4().to_string();
    let (first, last) = (first_name.map(str::to_owned), last_name.map(str::to_owned));
    db.run(move |c| {
        loam_db::users::insert(
            c,
            &NewUser {
                id: &id,
                email: &email,
                first_name: first.as_deref(),
                last_name: last.as_deref(),
                password_hash: Some(&hash),
                is_admin,
                created_at: loam_db::now(),
            },
        )?;
        loam_db::users::find(c, &id)?.ok_or(DbError::NotFound)
    })
    .await
    .map_err(|e| match e {
        DbError::UniqueViolation { .. } => {
            ApiError::Conflict("an account with this email already exists".into())
        }
        other => other.into(),
    })
}

/// Checks email and password. Unknown emails cost the same hashing time as wrong passwords and
/// get the same answer; failures count towards the client's rate limit.
pub(crate) async fn login(
    accounts: &Accounts<'_>,
    email: &str,
    password: &str,
    ip: IpAddr,
) -> Result<Session, ApiError> {
    let limiter = &accounts.auth().limiter;
    let email = normalize_email(email);
    // Someone guessing this account is stopped before the password is checked; failures of
    // other callers at the same address never refuse a correct password.
    let account = Subject::Credential(format!("email:{email}"));
    if let Some(seconds) = limiter.blocked(&account).await {
        return Err(ApiError::TooManyRequests(seconds));
    }
    let user = accounts
        .db()
        .run(move |c| loam_db::users::find_by_email(c, &email))
        .await?;
    let password = password.to_owned();
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = hashing(move || match stored {
        Some(phc) => loam_auth::verify_password(&password, &phc),
        None => loam_auth::verify_password_against_nothing(&password),
    })
    .await?;
    match user {
        Some(user) if matches => issue(accounts, &user, None).await,
        _ => match limiter
            .record_failure(&[Subject::Address(ip), account])
            .await
        {
            Some(seconds) => Err(ApiError::TooManyRequests(seconds)),
            None => Err(ApiError::Unauthorized("invalid email or password".into())),
        },
    }
}

/// Issues an access token and a refresh token; a new login starts a new family. A disabled
/// account gets none (403 `account_disabled`): sign-in checks the password or the provider
/// first, so only the account's holder learns that it is disabled.
pub(crate) async fn issue(
    accounts: &Accounts<'_>,
    user: &User,
    family: Option<String>,
) -> Result<Session, ApiError> {
    if user.disabled_at.is_some() {
        return Err(ApiError::AccountDisabled);
    }
    let config = accounts.config();
    let access_ttl = Duration::from_secs(config.access_token_minutes * 60);
    let refresh_ttl = Duration::from_secs(config.refresh_token_days * 86_400);
    let keys = &accounts.auth().tokens;
    let access_token = keys.mint_with(
        TokenKind::Access,
        &user.id,
        &ulid::Ulid::new().to_string(),
        access_ttl,
        user.is_admin,
    );
    let jti = ulid::Ulid::new().to_string();
    let refresh_token = keys.mint(TokenKind::Refresh, &user.id, &jti, refresh_ttl);
    let now = loam_db::now();
    let row = RefreshToken {
        id: jti,
        user_id: user.id.clone(),
        family_id: family.unwrap_or_else(|| ulid::Ulid::new().to_string()),
        token_hash: loam_auth::digest_hex(&refresh_token),
        expires_at: now + chrono::Duration::seconds(refresh_ttl.as_secs() as i64),
        used_at: None,
        revoked_at: None,
        created_at: now,
    };
    accounts
        .db()
        .run(move |c| loam_db::refresh_tokens::insert(c, &row))
        .await?;
    Ok(Session {
        access_token,
        expires_in: access_ttl.as_secs(),
        refresh_token,
        refresh_max_age: refresh_ttl.as_secs(),
    })
}

/// Exchanges a refresh token for a new pair in the same family; a token presented twice revokes
/// the family (whoever holds a copy is locked out along with the owner, who signs in again). A
/// disabled account's token is refused with 403 `account_disabled`.
pub(crate) async fn refresh(
    accounts: &Accounts<'_>,
    presented: Option<&str>,
) -> Result<Session, ApiError> {
    let invalid =
        || ApiError::Unauthorized("invalid or expired refresh token; sign in again".into());
    let token = presented.ok_or_else(invalid)?;
    let claims = accounts
        .auth()
        .tokens
        .verify(token, TokenKind::Refresh)
        .map_err(|_| invalid())?;
    let holder = claims.sub.clone();
    let owner = accounts
        .db()
        .run(move |c| loam_db::users::find(c, &holder))
        .await?
        .ok_or_else(invalid)?;
    if owner.disabled_at.is_some() {
        return Err(ApiError::AccountDisabled);
    }
    let hash = loam_auth::digest_hex(token);
    let now = loam_db::now();
    let rotation = accounts
        .db()
        .run(move |c| loam_db::refresh_tokens::rotate(c, &hash, now))
        .await?;
    let spent = match rotation {
        Rotation::Rotated { spent } => spent,
        Rotation::Reused => {
            tracing::warn!("refresh token reuse detected: the login family was revoked");
            return Err(ApiError::Unauthorized(
                "this refresh token was already used; every session of this login was ended".into(),
            ));
        }
        Rotation::Invalid => return Err(invalid()),
    };
    let user_id = spent.user_id.clone();
    let user = accounts
        .db()
        .run(move |c| loam_db::users::find(c, &user_id))
        .await?
        .ok_or_else(invalid)?;
    issue(accounts, &user, Some(spent.family_id)).await
}

/// Ends the login family of the presented refresh token, and only that one.
pub(crate) async fn logout(
    accounts: &Accounts<'_>,
    presented: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(token) = presented {
        let hash = loam_auth::digest_hex(token);
        let now = loam_db::now();
        accounts
            .db()
            .run(move |c| loam_db::refresh_tokens::revoke_family_of(c, &hash, now))
            .await?;
    }
    Ok(())
}

/// The owner of something a caller creates with ENTS's `userEmail`: the caller, unless an
/// admin names someone else; anonymous creation (compatibility mode) takes the named person.
/// The email must belong to an account.
pub(crate) async fn owner_for(
    accounts: &Accounts<'_>,
    caller: &crate::caller::Caller,
    user_email: &str,
) -> Result<String, ApiError> {
    use crate::caller::Caller;
    let email = normalize_email(user_email);
    let named = accounts
        .db()
        .run(move |c| loam_db::users::find_by_email(c, &email))
        .await?;
    let unknown = || ApiError::invalid("userEmail", "no account has this email");
    match caller {
        Caller::Person(p) if p.is_admin => named.map(|u| u.id).ok_or_else(unknown),
        Caller::Person(p) => match named {
            Some(u) if u.id == p.user_id => Ok(u.id),
            Some(_) => Err(ApiError::invalid(
                "userEmail",
                "must be your own email (only admins create for others)",
            )),
            None => Err(unknown()),
        },
        Caller::Anonymous if accounts.config().ents_compat => {
            named.map(|u| u.id).ok_or_else(unknown)
        }
        _ => Err(crate::caller::unauthenticated()),
    }
}
