//! Who is an administrator and whose account is disabled, as of at most [`STATUS_TTL`] ago, so
//! a bearer token's holder is checked live without a database round trip per request: one
//! small query (the administrators and the disabled accounts only) per replica every 2 s.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use loam_db::{Db, DbError};

/// How long a snapshot is trusted: the same bound the key cache gives key revocation, so a
/// disabled account's tokens and keys stop working together.
const STATUS_TTL: Duration = Duration::from_secs(2);

/// What the identity layer needs to know of a person beyond their token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// May act; admin rights as of now (not as of the token's minting).
    Enabled {
        /// Whether the person administers now.
        is_admin: bool,
    },
    /// An administrator disabled the account.
    Disabled,
}

/// One snapshot: everyone not named is an enabled non-administrator.
struct Exceptions {
    /// When the query was sent (the snapshot is at least this new).
    taken: Instant,
    /// The same, as Unix seconds (compared with tokens' `iat`).
    taken_unix: u64,
    admins: HashSet<String>,
    disabled: HashSet<String>,
}

impl Exceptions {
    fn standing_of(&self, user_id: &str) -> Standing {
        if self.disabled.contains(user_id) {
            Standing::Disabled
        } else {
            Standing::Enabled {
                is_admin: self.admins.contains(user_id),
            }
        }
    }
}

/// The recent snapshot of administrators and disabled accounts, shared by every request.
#[derive(Default)]
pub struct AccountStatus {
    snapshot: Mutex<Option<Arc<Exceptions>>>,
    reload: tokio::sync::Mutex<()>,
}

impl AccountStatus {
    /// The standing of the holder of a token minted at `minted_at` (Unix seconds) saying
    /// `claims_admin`, from a snapshot at most 2 s old (reloaded by one request while the others
    /// wait for it). A token newer than the snapshot that disagrees with it (an account made an
    /// administrator, or enabled again, by another replica or `loam user` just before signing
    /// in) has the snapshot reloaded first, so sign-in never hands out a stale answer.
    pub(crate) async fn standing(
        &self,
        db: &Db,
        user_id: &str,
        minted_at: u64,
        claims_admin: bool,
    ) -> Result<Standing, DbError> {
        let (snapshot, reloaded) = match self.fresh() {
            Some(snapshot) => (snapshot, false),
            None => (self.reload_if_stale(db, None).await?, true),
        };
        let standing = snapshot.standing_of(user_id);
        let token_says = Standing::Enabled {
            is_admin: claims_admin,
        };
        if standing == token_says || reloaded || minted_at < snapshot.taken_unix {
            return Ok(standing);
        }
        let newer = self.reload_if_stale(db, Some(snapshot.taken)).await?;
        Ok(newer.standing_of(user_id))
    }

    /// Drops the snapshot, so a change made by this replica applies to its next request.
    pub fn forget(&self) {
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn fresh(&self) -> Option<Arc<Exceptions>> {
        let snapshot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        snapshot
            .as_ref()
            .filter(|s| s.taken.elapsed() < STATUS_TTL)
            .map(Arc::clone)
    }

    /// Reloads unless another request did meanwhile: a snapshot fresher than `than` (or, with
    /// `None`, any fresh one) is used as it is.
    async fn reload_if_stale(
        &self,
        db: &Db,
        than: Option<Instant>,
    ) -> Result<Arc<Exceptions>, DbError> {
        let _reloading = self.reload.lock().await;
        if let Some(current) = self.fresh()
            && than.is_none_or(|old| current.taken > old)
        {
            return Ok(current);
        }
        self.reload(db).await
    }

    async fn reload(&self, db: &Db) -> Result<Arc<Exceptions>, DbError> {
        let taken = Instant::now();
        let taken_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let rows = db.run(loam_db::users::access_exceptions).await?;
        let mut exceptions = Exceptions {
            taken,
            taken_unix,
            admins: HashSet::new(),
            disabled: HashSet::new(),
        };
        for (id, is_admin, is_disabled) in rows {
            if is_disabled {
                exceptions.disabled.insert(id);
            } else if is_admin {
                exceptions.admins.insert(id);
            }
        }
        let exceptions = Arc::new(exceptions);
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&exceptions));
        Ok(exceptions)
    }
}
