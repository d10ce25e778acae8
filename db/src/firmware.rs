//! The firmware registry's metadata and each logger's desired image. The bytes are not here:
//! the API keeps them content-addressed by sha-256 and records a row only after the file is in
//! place, so a row always has its file. Several versions may share one file, so every change to
//! a file (placing it, removing it) happens inside a transaction holding that digest's lock
//! ([`lock_bytes`]): a delete can never remove bytes a concurrent publish has just claimed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::models::{Firmware, NewFirmware};
use crate::schema::{firmware, logger_firmware};
use crate::{DbConn, DbError};

/// Records a published image and, inside the same transaction, has `place` put its bytes into
/// the store; if placing fails, no row is committed. A taken (name, version) is a unique
/// violation and `place` is never called.
pub fn insert(
    conn: &mut DbConn,
    new: &NewFirmware<'_>,
    place: impl FnOnce() -> std::io::Result<()>,
) -> Result<Firmware, DbError> {
    crate::write_transaction(conn, |conn| {
        lock_bytes(conn, new.sha256)?;
        diesel::insert_into(firmware::table)
            .values(new)
            .execute(conn)?;
        let row = firmware::table
            .filter(firmware::name.eq(new.name))
            .filter(firmware::version.eq(new.version))
            .select(Firmware::as_select())
            .first(conn)?;
        place().map_err(|e| DbError::Aborted(format!("cannot store the firmware file: {e}")))?;
        Ok(row)
    })
}

/// Images whose name contains `search` (all without one), by name then newest first, paged.
pub fn search(
    conn: &mut DbConn,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Firmware>, i64), DbError> {
    let filter = |search: Option<&str>| {
        let mut q = firmware::table.into_boxed();
        if let Some(text) = search.filter(|s| !s.is_empty()) {
            q = q.filter(
                firmware::name
                    .like(format!("%{}%", escape_like(text)))
                    .escape('\\'),
            );
        }
        q
    };
    let total = filter(search).count().get_result(conn)?;
    let items = filter(search)
        .select(Firmware::as_select())
        .order((
            firmware::name.asc(),
            firmware::created_at.desc(),
            firmware::id.desc(),
        ))
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((items, total))
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Every version of an image, newest first.
pub fn versions(conn: &mut DbConn, name: &str) -> Result<Vec<Firmware>, DbError> {
    Ok(firmware::table
        .filter(firmware::name.eq(name))
        .select(Firmware::as_select())
        .order((firmware::created_at.desc(), firmware::id.desc()))
        .load(conn)?)
}

/// One version of an image.
pub fn find(conn: &mut DbConn, name: &str, version: &str) -> Result<Option<Firmware>, DbError> {
    Ok(firmware::table
        .filter(firmware::name.eq(name))
        .filter(firmware::version.eq(version))
        .select(Firmware::as_select())
        .first(conn)
        .optional()?)
}

/// Deletes an image's row and, when no other version shares its bytes, has `remove` delete the
/// file inside the same locked transaction; `None` when there is no such row.
pub fn delete(
    conn: &mut DbConn,
    id: i32,
    remove: impl FnOnce(&str),
) -> Result<Option<()>, DbError> {
    crate::write_transaction(conn, |conn| {
        let Some(sha) = firmware::table
            .find(id)
            .select(firmware::sha256)
            .first::<String>(conn)
            .optional()?
        else {
            return Ok(None);
        };
        lock_bytes(conn, &sha)?;
        diesel::delete(firmware::table.find(id)).execute(conn)?;
        release_if_unused(conn, &sha, remove)?;
        Ok(Some(()))
    })
}

/// Has `remove` delete the file with these bytes unless a version uses them: the clean-up of a
/// publish that placed a file and then failed, serialized with every other change to the file.
pub fn release_bytes(
    conn: &mut DbConn,
    sha256: &str,
    remove: impl FnOnce(&str),
) -> Result<(), DbError> {
    crate::write_transaction(conn, |conn| {
        lock_bytes(conn, sha256)?;
        release_if_unused(conn, sha256, remove)
    })
}

fn release_if_unused(
    conn: &mut DbConn,
    sha256: &str,
    remove: impl FnOnce(&str),
) -> Result<(), DbError> {
    let users: i64 = firmware::table
        .filter(firmware::sha256.eq(sha256))
        .count()
        .get_result(conn)?;
    if users == 0 {
        remove(sha256);
    }
    Ok(())
}

/// Serializes changes to one file across connections and replicas until the transaction ends:
/// a Postgres advisory transaction lock on the digest (SQLite's write transactions are already
/// one at a time).
fn lock_bytes(conn: &mut DbConn, sha256: &str) -> Result<(), DbError> {
    /// The advisory-lock class of firmware files (the other key is from the digest).
    const FIRMWARE_BYTES: i32 = 0x4657_0001;
    if let DbConn::Postgres(pg) = conn {
        let key = u32::from_str_radix(sha256.get(..8).unwrap_or("0"), 16).unwrap_or(0);
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<diesel::sql_types::Integer, _>(FIRMWARE_BYTES)
            .bind::<diesel::sql_types::Integer, _>(i32::from_ne_bytes(key.to_ne_bytes()))
            .execute(pg)?;
    }
    Ok(())
}

/// Sets the image a logger should run.
pub fn set_desired(
    conn: &mut DbConn,
    logger_id: i32,
    firmware_id: i32,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    crate::write_transaction(conn, |conn| {
        diesel::delete(logger_firmware::table.find(logger_id)).execute(conn)?;
        diesel::insert_into(logger_firmware::table)
            .values((
                logger_firmware::logger_id.eq(logger_id),
                logger_firmware::firmware_id.eq(firmware_id),
                logger_firmware::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// The image a logger should run, if one was set.
pub fn desired(conn: &mut DbConn, logger_id: i32) -> Result<Option<Firmware>, DbError> {
    Ok(logger_firmware::table
        .inner_join(firmware::table)
        .filter(logger_firmware::logger_id.eq(logger_id))
        .select(Firmware::as_select())
        .first(conn)
        .optional()?)
}
