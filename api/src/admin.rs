//! User administration: the rules behind listing accounts, granting and revoking admin rights,
//! disabling accounts and setting passwords, shared by the admin API and `loam user …`. Every
//! change is written to the audit trail in the same transaction, and no change may leave the
//! platform without an enabled administrator.

use loam_db::models::{AuditEntry, NewAuditEntry, User};
use loam_db::{Db, DbConn, DbError};
use serde_json::json;

use crate::accounts::{hashing, normalize_email};
use crate::auth_context::AuthContext;
use crate::error::ApiError;

/// Who takes an administrative action, as the audit trail names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// An administrator, by user id (the API).
    Person(&'a str),
    /// An operator on the server (`loam user …`).
    Cli,
}

impl Actor<'_> {
    fn id(&self) -> &str {
        match self {
            Actor::Person(id) => id,
            Actor::Cli => "cli",
        }
    }
}

/// One audit record with the emails of the accounts it names (when they still exist).
pub struct AuditRow {
    /// The record.
    pub entry: AuditEntry,
    /// The actor's email (none for `cli`).
    pub actor_email: Option<String>,
    /// The subject's email.
    pub subject_email: Option<String>,
}

/// What the administration rules need: the database, and (in the server) the credential caches
/// to drop after a change so this replica applies it at once. Other replicas, and the server
/// while `loam user …` runs beside it, apply it within the caches' 2 s.
#[derive(Clone, Copy)]
pub struct Admin<'a> {
    db: &'a Db,
    caches: Option<&'a AuthContext>,
}

/// What a guarded change found.
enum Outcome {
    Done(User),
    Unknown,
    LastAdmin(String),
}

impl<'a> Admin<'a> {
    /// For the command line: no caches in this process to drop.
    pub fn cli(db: &'a Db) -> Self {
        Self { db, caches: None }
    }

    /// For the server: drops this replica's credential caches after each change.
    pub(crate) fn server(db: &'a Db, auth: &'a AuthContext) -> Self {
        Self {
            db,
            caches: Some(auth),
        }
    }

    /// Accounts whose email or name contains `query`, by email, paged; with the total.
    pub async fn list(
        &self,
        query: Option<String>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<User>, i64), ApiError> {
        Ok(self
            .db
            .run(move |c| loam_db::users::search(c, query.as_deref(), limit, offset))
            .await?)
    }

    /// The account with this email; 404 when there is none.
    pub async fn by_email(&self, email: &str) -> Result<User, ApiError> {
        let email = normalize_email(email);
        let shown = email.clone();
        if email.contains('\0') {
            return Err(ApiError::NotFound(format!(
                "no account has the email {shown}"
            )));
        }
        self.db
            .run(move |c| loam_db::users::find_by_email(c, &email))
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no account has the email {shown}")))
    }

    /// Grants (`true`) or revokes administration; revoking the last enabled administrator is a
    /// 409. Recorded only when it changes something.
    pub async fn set_admin(
        &self,
        actor: Actor<'_>,
        subject: &str,
        admin: bool,
    ) -> Result<User, ApiError> {
        let action = if admin { "grant_admin" } else { "revoke_admin" };
        let user = self
            .change(actor, subject, action, move |c, user| {
                if user.is_admin == admin {
                    return Ok(None);
                }
                loam_db::users::set_admin(c, &user.id, admin)?;
                Ok(Some(json!({ "email": user.email, "is_admin": admin })))
            })
            .await?;
        self.forget_credentials();
        Ok(user)
    }

    /// Disables (`true`) or enables an account. Disabling ends its sessions (refresh tokens);
    /// its access tokens and keys stop working within 2 s. Disabling the last enabled
    /// administrator is a 409.
    pub async fn set_disabled(
        &self,
        actor: Actor<'_>,
        subject: &str,
        disabled: bool,
    ) -> Result<User, ApiError> {
        let action = if disabled { "disable" } else { "enable" };
        let now = loam_db::now();
        let user = self
            .change(actor, subject, action, move |c, user| {
                if user.disabled_at.is_some() == disabled {
                    return Ok(None);
                }
                loam_db::users::set_disabled(c, &user.id, disabled.then_some(now))?;
                let ended = if disabled {
                    loam_db::refresh_tokens::revoke_all_of_user(c, &user.id, now)?
                } else {
                    0
                };
                Ok(Some(
                    json!({ "email": user.email, "sessions_ended": ended }),
                ))
            })
            .await?;
        self.forget_credentials();
        Ok(user)
    }

    /// Sets a new password and ends every session of the account (its refresh tokens; access
    /// tokens already issued run out on their own, within `LOAM_ACCESS_TOKEN_MINUTES`).
    pub async fn set_password(
        &self,
        actor: Actor<'_>,
        subject: &str,
        password: &str,
    ) -> Result<User, ApiError> {
        let password = password.to_owned();
        let hash = hashing(move || loam_auth::hash_password(&password))
            .await?
            .map_err(|e| ApiError::Internal(e.into()))?;
        let now = loam_db::now();
        self.change(actor, subject, "set_password", move |c, user| {
            loam_db::users::set_password_hash(c, &user.id, &hash)?;
            let ended = loam_db::refresh_tokens::revoke_all_of_user(c, &user.id, now)?;
            Ok(Some(
                json!({ "email": user.email, "sessions_ended": ended }),
            ))
        })
        .await
    }

    /// A page of the audit trail, newest first, with the emails it names; with the total.
    pub async fn audit(&self, limit: i64, offset: i64) -> Result<(Vec<AuditRow>, i64), ApiError> {
        Ok(self
            .db
            .run(move |c| {
                let (entries, total) = loam_db::audit::page(c, limit, offset)?;
                let mut ids: Vec<String> = entries
                    .iter()
                    .flat_map(|e| [Some(e.actor_id.clone()), e.subject_id.clone()])
                    .flatten()
                    .collect();
                ids.sort();
                ids.dedup();
                let emails: std::collections::HashMap<String, String> =
                    loam_db::users::emails_of(c, &ids)?.into_iter().collect();
                let rows = entries
                    .into_iter()
                    .map(|entry| AuditRow {
                        actor_email: emails.get(&entry.actor_id).cloned(),
                        subject_email: entry
                            .subject_id
                            .as_ref()
                            .and_then(|id| emails.get(id).cloned()),
                        entry,
                    })
                    .collect();
                Ok((rows, total))
            })
            .await?)
    }

    /// Runs one change to `subject` in a write transaction: refuses it when it would leave no
    /// enabled administrator, and records it when `apply` reports a detail (`None`: nothing
    /// changed). Returns the account as it is afterwards.
    async fn change(
        &self,
        actor: Actor<'_>,
        subject: &str,
        action: &'static str,
        apply: impl FnOnce(&mut DbConn, &User) -> Result<Option<serde_json::Value>, DbError>
        + Send
        + 'static,
    ) -> Result<User, ApiError> {
        let unknown = || ApiError::NotFound(format!("no account has the id {subject}"));
        if subject.contains('\0') {
            // No id holds NUL (and Postgres text cannot): unknown, not a database error.
            return Err(unknown());
        }
        let (actor_id, subject_id) = (actor.id().to_owned(), subject.to_owned());
        let removes_an_admin = matches!(action, "revoke_admin" | "disable");
        let outcome = self
            .db
            .run(move |c| {
                loam_db::write_transaction(c, |c| {
                    loam_db::users::lock_admin_changes(c)?;
                    let Some(user) = loam_db::users::find(c, &subject_id)? else {
                        return Ok(Outcome::Unknown);
                    };
                    if removes_an_admin
                        && user.is_admin
                        && user.disabled_at.is_none()
                        && loam_db::users::enabled_admins_other_than(c, &user.id)? == 0
                    {
                        return Ok(Outcome::LastAdmin(user.email));
                    }
                    if let Some(detail) = apply(c, &user)? {
                        loam_db::audit::record(
                            c,
                            &NewAuditEntry {
                                at: loam_db::now(),
                                actor_id: &actor_id,
                                action,
                                subject_id: Some(&user.id),
                                detail: &detail.to_string(),
                            },
                        )?;
                    }
                    let user = loam_db::users::find(c, &subject_id)?.ok_or(DbError::NotFound)?;
                    Ok(Outcome::Done(user))
                })
            })
            .await?;
        match outcome {
            Outcome::Done(user) => Ok(user),
            Outcome::Unknown => Err(unknown()),
            Outcome::LastAdmin(email) => Err(ApiError::Conflict(format!(
                "{email} is the last enabled administrator; make another account an administrator first"
            ))),
        }
    }

    fn forget_credentials(&self) {
        if let Some(auth) = self.caches {
            auth.account_status.forget();
            auth.key_cache.clear();
        }
    }
}
