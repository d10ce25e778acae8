//! API keys: lookup by digest (the hot path) and their management.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::models::ApiKey;
use crate::schema::api_keys as k;
use crate::{DbConn, DbError};

/// The live key with this digest together with whether its owner is an administrator. Keys of
/// a disabled owner are not live.
pub fn find_live_with_owner(
    conn: &mut DbConn,
    digest: &str,
    now: NaiveDateTime,
) -> Result<Option<(ApiKey, bool)>, DbError> {
    use crate::schema::users;
    Ok(k::table
        .inner_join(users::table)
        .select((ApiKey::as_select(), users::is_admin))
        .filter(k::digest.eq(digest))
        .filter(k::revoked_at.is_null())
        .filter(k::expires_at.is_null().or(k::expires_at.gt(now)))
        .filter(users::disabled_at.is_null())
        .first(conn)
        .optional()?)
}

/// Stores a new key.
pub fn insert(conn: &mut DbConn, key: &ApiKey) -> Result<(), DbError> {
    diesel::insert_into(k::table).values(key).execute(conn)?;
    Ok(())
}

/// A person's live user key (ENTS allows one), if any.
pub fn find_user_key(conn: &mut DbConn, user_id: &str) -> Result<Option<ApiKey>, DbError> {
    Ok(k::table
        .select(ApiKey::as_select())
        .filter(k::user_id.eq(user_id))
        .filter(k::logger_id.is_null())
        .filter(k::revoked_at.is_null())
        .first(conn)
        .optional()?)
}

/// Revokes a person's user key(s); returns how many were live.
pub fn revoke_user_keys(
    conn: &mut DbConn,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        k::table
            .filter(k::user_id.eq(user_id))
            .filter(k::logger_id.is_null())
            .filter(k::revoked_at.is_null()),
    )
    .set(k::revoked_at.eq(now))
    .execute(conn)?)
}

/// A logger's live device keys, oldest first.
pub fn list_for_logger(conn: &mut DbConn, logger_id: i32) -> Result<Vec<ApiKey>, DbError> {
    Ok(k::table
        .select(ApiKey::as_select())
        .filter(k::logger_id.eq(logger_id))
        .filter(k::revoked_at.is_null())
        .order(k::created_at.asc())
        .load(conn)?)
}

/// Revokes one device key of a logger; false when there was no such live key.
pub fn revoke_device_key(
    conn: &mut DbConn,
    logger_id: i32,
    key_id: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        k::table
            .find(key_id)
            .filter(k::logger_id.eq(logger_id))
            .filter(k::revoked_at.is_null()),
    )
    .set(k::revoked_at.eq(now))
    .execute(conn)?;
    Ok(n > 0)
}

/// Records use of a key (callers throttle this to about once a minute per key).
pub fn touch(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(k::table.find(id))
        .set(k::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Every stored digest (for audits and tests: proves no key text is kept).
pub fn all_digests(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    Ok(k::table.select(k::digest).load(conn)?)
}
