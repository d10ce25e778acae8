//! Device enrolments (a device key and an upload quota per logger) and upload receipts. Quotas
//! are charged, and receipts written, inside the upload's own transaction (see
//! `group_commit::store_batch`), so a device's slot count and its receipts always agree with the
//! rows that were committed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::models::{Enrolment, UploadReceipt};
use crate::schema::{device_enrolments, upload_receipts};
use crate::{DbConn, DbError};

/// Most slots an enrolment can hold (the signed layout carries them as a u32).
pub const MAX_SLOTS: i64 = u32::MAX as i64;

/// The logger's enrolment, if it has one.
pub fn find(conn: &mut DbConn, logger_id: i32) -> Result<Option<Enrolment>, DbError> {
    Ok(device_enrolments::table
        .find(logger_id)
        .select(Enrolment::as_select())
        .first(conn)
        .optional()?)
}

/// Locks and returns the enrolment for the rest of the transaction (Postgres `FOR UPDATE`;
/// SQLite's write transactions are serialized already).
pub(crate) fn lock(conn: &mut DbConn, logger_id: i32) -> Result<Option<Enrolment>, DbError> {
    Ok(match conn {
        DbConn::Postgres(pg) => device_enrolments::table
            .find(logger_id)
            .select(Enrolment::as_select())
            .for_update()
            .first(pg)
            .optional()?,
        DbConn::Sqlite(_) => find(conn, logger_id)?,
    })
}

/// Enrols a logger's device key, or tops up an existing enrolment: `grant` slots are added
/// (capped at [`MAX_SLOTS`]), the expiry becomes `expiry` and the key the one given.
pub fn enrol(
    conn: &mut DbConn,
    logger_id: i32,
    public_key: &str,
    grant: i64,
    expiry: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<Enrolment, DbError> {
    crate::write_transaction(conn, |conn| {
        let enrolment = match lock(conn, logger_id)? {
            Some(old) => Enrolment {
                public_key: public_key.to_owned(),
                available_slots: old.available_slots.saturating_add(grant).min(MAX_SLOTS),
                quota_expiry: expiry,
                updated_at: now,
                ..old
            },
            None => Enrolment {
                logger_id,
                public_key: public_key.to_owned(),
                available_slots: grant.clamp(0, MAX_SLOTS),
                quota_expiry: expiry,
                enrolled_at: now,
                updated_at: now,
            },
        };
        save(conn, &enrolment)?;
        Ok(enrolment)
    })
}

/// Sets an enrolled logger's quota (admins); `None` leaves a field as it is.
pub fn set_quota(
    conn: &mut DbConn,
    logger_id: i32,
    slots: Option<i64>,
    expiry: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<Option<Enrolment>, DbError> {
    crate::write_transaction(conn, |conn| {
        let Some(old) = lock(conn, logger_id)? else {
            return Ok(None);
        };
        let enrolment = Enrolment {
            available_slots: slots.map_or(old.available_slots, |s| s.clamp(0, MAX_SLOTS)),
            quota_expiry: expiry.unwrap_or(old.quota_expiry),
            updated_at: now,
            ..old
        };
        save(conn, &enrolment)?;
        Ok(Some(enrolment))
    })
}

fn save(conn: &mut DbConn, enrolment: &Enrolment) -> Result<(), DbError> {
    diesel::delete(device_enrolments::table.find(enrolment.logger_id)).execute(conn)?;
    diesel::insert_into(device_enrolments::table)
        .values(enrolment)
        .execute(conn)?;
    Ok(())
}

/// Locks the enrolments of these loggers for the rest of the transaction, in logger order (the
/// group commit's lock order; SQLite's write transactions are serialized already): (logger,
/// slots left, expiry) for those enrolled.
pub(crate) fn lock_many(
    conn: &mut DbConn,
    logger_ids: &[i32],
) -> Result<Vec<(i32, i64, NaiveDateTime)>, DbError> {
    let query = device_enrolments::table
        .filter(device_enrolments::logger_id.eq_any(logger_ids))
        .order(device_enrolments::logger_id)
        .select((
            device_enrolments::logger_id,
            device_enrolments::available_slots,
            device_enrolments::quota_expiry,
        ));
    Ok(match conn {
        DbConn::Postgres(pg) => query.for_update().load(pg)?,
        DbConn::Sqlite(_) => query.load(conn)?,
    })
}

/// Adds `delta` slots (negative to charge) to an enrolment inside the caller's transaction.
pub(crate) fn adjust_slots(conn: &mut DbConn, logger_id: i32, delta: i64) -> Result<(), DbError> {
    diesel::update(device_enrolments::table.find(logger_id))
        .set(device_enrolments::available_slots.eq(device_enrolments::available_slots + delta))
        .execute(conn)?;
    Ok(())
}

/// The receipt stored for (logger, locator), if any.
pub fn find_receipt(
    conn: &mut DbConn,
    logger_id: i32,
    locator: &str,
) -> Result<Option<UploadReceipt>, DbError> {
    Ok(upload_receipts::table
        .find((logger_id, locator))
        .select(UploadReceipt::as_select())
        .first(conn)
        .optional()?)
}

/// Records a receipt inside the caller's transaction; false when (logger, locator) is taken (a
/// concurrent transaction committed it first).
pub(crate) fn insert_receipt(conn: &mut DbConn, receipt: &UploadReceipt) -> Result<bool, DbError> {
    let inserted = crate::on_backend!(conn, c => diesel::insert_into(upload_receipts::table)
        .values(receipt)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted > 0)
}
