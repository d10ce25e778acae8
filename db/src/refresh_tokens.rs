//! Refresh-token rotation: each token is used once; presenting a used one revokes its family.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::models::RefreshToken;
use crate::schema::refresh_tokens as rt;
use crate::{DbConn, DbError};

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// Valid and now used; the caller issues `next` in the same family.
    Rotated {
        /// The token just spent.
        spent: RefreshToken,
    },
    /// Already used or revoked: the family is now revoked (possible theft).
    Reused,
    /// Unknown or expired.
    Invalid,
}

/// Stores a newly issued token.
pub fn insert(conn: &mut DbConn, token: &RefreshToken) -> Result<(), DbError> {
    diesel::insert_into(rt::table).values(token).execute(conn)?;
    Ok(())
}

/// Spends the token with this digest, or revokes its family when it was already spent. The
/// `used_at IS NULL` condition in the update makes two concurrent refreshes of one token
/// impossible: only one update matches.
pub fn rotate(
    conn: &mut DbConn,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Rotation, DbError> {
    crate::write_transaction(conn, |conn| {
        let Some(token) = rt::table
            .select(RefreshToken::as_select())
            .filter(rt::token_hash.eq(token_hash))
            .first(conn)
            .optional()?
        else {
            return Ok(Rotation::Invalid);
        };
        if token.used_at.is_some() || token.revoked_at.is_some() {
            revoke_family_inner(conn, &token.family_id, now)?;
            return Ok(Rotation::Reused);
        }
        if token.expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        let spent = diesel::update(rt::table.find(&token.id).filter(rt::used_at.is_null()))
            .set(rt::used_at.eq(now))
            .execute(conn)?;
        if spent == 0 {
            revoke_family_inner(conn, &token.family_id, now)?;
            return Ok(Rotation::Reused);
        }
        Ok(Rotation::Rotated { spent: token })
    })
}

/// Revokes the family of the token with this digest (logout); other families are untouched.
/// Returns whether a token was found.
pub fn revoke_family_of(
    conn: &mut DbConn,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    crate::write_transaction(conn, |conn| {
        let family: Option<String> = rt::table
            .select(rt::family_id)
            .filter(rt::token_hash.eq(token_hash))
            .first(conn)
            .optional()?;
        match family {
            Some(family) => {
                revoke_family_inner(conn, &family, now)?;
                Ok(true)
            }
            None => Ok(false),
        }
    })
}

/// Revokes every family of a person (new password, disabled account): each of their sessions
/// must sign in again.
pub fn revoke_all_of_user(
    conn: &mut DbConn,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        rt::table
            .filter(rt::user_id.eq(user_id))
            .filter(rt::revoked_at.is_null()),
    )
    .set(rt::revoked_at.eq(now))
    .execute(conn)?)
}

fn revoke_family_inner(conn: &mut DbConn, family: &str, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(
        rt::table
            .filter(rt::family_id.eq(family))
            .filter(rt::revoked_at.is_null()),
    )
    .set(rt::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Every stored digest (for audits and tests: proves no token text is kept).
pub fn all_hashes(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    Ok(rt::table.select(rt::token_hash).load(conn)?)
}
