//! The write path of uploads: many uploads stored in one transaction (a group commit), with every
//! lock taken in one global order, so concurrent batches — of one process or of several replicas
//! — may wait for each other but can never deadlock.
//!
//! The order, phase by phase across the whole batch (never upload by upload):
//! 1. parent cells and loggers, `FOR KEY SHARE`, by id (only deletes conflict with these);
//! 2. enrolments of charged loggers, `FOR UPDATE`, by logger id;
//! 3. receipts, inserted by (logger, locator);
//! 4. new sensor series, by (cell, name, measurement);
//! 5. raw rows: power by (cell, time, logger), then TEROS by (cell, time), then generic values by
//!    (series, time), each table one statement;
//! 6. rollups: the batch's new rows summed per bucket, one upsert per table (power, TEROS,
//!    generic), buckets in key order.
//!
//! Two transactions that both need locks A < B take A first, so neither can hold B while waiting
//! for A. Everything that decides an upload's fate (unknown cell, membership, quota, a reused
//! locator) is settled before any row is written, so a refused upload is simply left out and
//! never fails the others. What remains — a transient conflict with some other writer — retries
//! the whole batch with jitter; a batch that still fails for another reason is redone upload by
//! upload, so one bad upload fails alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::connection::retrying;
use crate::devices::{adjust_slots, find_receipt, insert_receipt};
use crate::models::UploadReceipt;
use crate::raw_rows::{PowerRows, TerosRows, TerosValues, ValueRows};
use crate::schema::{cell_user, cells, loggers, sensors};
use loam_readings::{Number, RowData};

use crate::writes::{NewRow, StoreError, Stored, UploadRows};
use crate::{DbConn, DbError};

/// Stores a batch of uploads in one transaction and answers each upload on its own: a refused
/// upload gets its [`StoreError`] while the others commit. `Err` only when the database itself
/// failed for all of them (unreachable, or contention outlasting the retries).
pub fn store_batch(
    conn: &mut DbConn,
    uploads: &[UploadRows],
    now: NaiveDateTime,
) -> Result<Vec<Result<Stored, StoreError>>, DbError> {
    let months = || {
        uploads
            .iter()
            .flat_map(|u| u.rows.iter().map(|r| r.ts))
            .collect()
    };
    let whole = crate::partitions::on_demand(conn, months, |conn| {
        retrying(|| crate::write_transaction(conn, |c| store_phased(c, uploads, now)))
    });
    match whole {
        Ok(outcomes) => Ok(outcomes),
        Err(err @ (DbError::Unavailable(_) | DbError::Contention(_))) => Err(err),
        Err(err) if uploads.len() == 1 => Ok(vec![Err(StoreError::Db(err))]),
        Err(err) => {
            tracing::warn!(error = %err, size = uploads.len(), "a group commit failed; storing its uploads one by one");
            Ok(uploads
                .iter()
                .map(|upload| {
                    let one = std::slice::from_ref(upload);
                    match retrying(|| crate::write_transaction(conn, |c| store_phased(c, one, now)))
                    {
                        Ok(mut outcome) => {
                            outcome
                                .pop()
                                .unwrap_or(Err(StoreError::Db(DbError::Unavailable(
                                    "no outcome for the upload".into(),
                                ))))
                        }
                        Err(err) => Err(StoreError::Db(err)),
                    }
                })
                .collect())
        }
    }
}

/// What became of each upload so far: `None` while it is still to be written.
type Verdicts = Vec<Option<Result<Stored, StoreError>>>;

fn store_phased(
    conn: &mut DbConn,
    uploads: &[UploadRows],
    now: NaiveDateTime,
) -> Result<Vec<Result<Stored, StoreError>>, DbError> {
    let mut verdicts: Verdicts = uploads
        .iter()
        .map(|u| {
            u.rows
                .iter()
                .find(|r| matches!(r.data, RowData::Power { .. }) && r.logger_id.is_none())
                .map(|_| Err(StoreError::UnknownLogger(0)))
        })
        .collect();
    // Membership first: a key's owner learns nothing about cells that are not theirs (a missing
    // cell and someone else's answer alike).
    check_membership(conn, uploads, &mut verdicts)?;
    check_logger_owners(conn, uploads, &mut verdicts)?;
    check_parents(conn, uploads, &mut verdicts)?;
    let duplicates = check_known_locators(conn, uploads, &mut verdicts)?;
    let charges = charge_quotas(conn, uploads, &mut verdicts, now)?;
    insert_receipts(conn, uploads, &mut verdicts, &charges)?;
    let pending: Vec<usize> = (0..uploads.len())
        .filter(|i| verdicts[*i].is_none())
        .collect();
    let rows: Vec<&NewRow> = pending.iter().flat_map(|i| &uploads[*i].rows).collect();
    let fresh = write_rows(conn, &rows, now)?;
    let mut fresh = fresh.into_iter();
    for i in pending.iter().copied() {
        let new_rows = fresh
            .by_ref()
            .take(uploads[i].rows.len())
            .filter(|f| *f)
            .count();
        verdicts[i] = Some(Ok(Stored {
            new_rows,
            receipt: receipt_of(&uploads[i]).map(|r| r.receipt.clone()),
            replayed: false,
        }));
    }
    // Health's upload log: one line per stored upload that names its logger, same commit.
    let marks: Vec<_> = pending
        .iter()
        .filter_map(|i| upload_mark(&uploads[*i], now))
        .collect();
    crate::health::record(conn, &marks)?;
    // A locator sent twice in one batch: the later copy answers like a retry of the first.
    for (later, first) in duplicates {
        verdicts[later] = Some(match &verdicts[first] {
            Some(Ok(stored)) => Ok(Stored {
                new_rows: 0,
                receipt: stored.receipt.clone(),
                replayed: true,
            }),
            Some(Err(err)) => Err(echo(err)),
            None => Err(StoreError::Db(DbError::Unavailable(
                "an upload was left without an outcome".into(),
            ))),
        });
    }
    Ok(verdicts
        .into_iter()
        .map(|v| {
            v.unwrap_or_else(|| {
                Err(StoreError::Db(DbError::Unavailable(
                    "an upload was left without an outcome".into(),
                )))
            })
        })
        .collect())
}

/// The same refusal again, for the second copy of a locator in one batch.
fn echo(err: &StoreError) -> StoreError {
    match err {
        StoreError::UnknownCell(id) => StoreError::UnknownCell(*id),
        StoreError::UnknownLogger(id) => StoreError::UnknownLogger(*id),
        StoreError::NotMember(id) => StoreError::NotMember(*id),
        StoreError::NotOwner(id) => StoreError::NotOwner(*id),
        StoreError::LocatorReused(locator) => StoreError::LocatorReused(locator.clone()),
        StoreError::QuotaExhausted {
            available,
            needed,
            expiry,
        } => StoreError::QuotaExhausted {
            available: *available,
            needed: *needed,
            expiry: *expiry,
        },
        StoreError::QuotaExpired(expiry) => StoreError::QuotaExpired(*expiry),
        StoreError::Db(err) => StoreError::Db(err.duplicate()),
    }
}

/// The upload log line of an upload attributed to a logger.
fn upload_mark(upload: &UploadRows, now: NaiveDateTime) -> Option<crate::health::UploadMark> {
    let device = upload.device.as_ref()?;
    let voltage = upload
        .rows
        .iter()
        .filter_map(|r| match r.data {
            RowData::Power { voltage, .. } => Some((r.ts, voltage)),
            _ => None,
        })
        .max_by_key(|(ts, _)| *ts)
        .map(|(_, v)| v);
    Some(crate::health::UploadMark {
        logger_id: device.logger_id,
        cell_id: upload.rows.first().map(|r| r.cell_id),
        at: now,
        row_count: i32::try_from(upload.rows.len()).unwrap_or(i32::MAX),
        voltage,
        firmware: device.firmware.clone(),
    })
}

fn receipt_of(upload: &UploadRows) -> Option<&UploadReceipt> {
    upload.device.as_ref().and_then(|d| d.receipt.as_ref())
}

fn is_pending(verdicts: &Verdicts, i: usize) -> bool {
    verdicts[i].is_none()
}

/// Phase 1: every cell and (power or receipt) logger must exist; on Postgres they are held
/// (`FOR KEY SHARE`, by id) until the commit, so a concurrent delete waits.
fn check_parents(
    conn: &mut DbConn,
    uploads: &[UploadRows],
    verdicts: &mut Verdicts,
) -> Result<(), DbError> {
    let mut cell_ids = BTreeSet::new();
    let mut logger_ids = BTreeSet::new();
    for (i, upload) in uploads.iter().enumerate() {
        if !is_pending(verdicts, i) {
            continue;
        }
        cell_ids.extend(upload.rows.iter().map(|r| r.cell_id));
        logger_ids.extend(parent_loggers(upload));
    }
    let cell_ids: Vec<i32> = cell_ids.into_iter().collect();
    let logger_ids: Vec<i32> = logger_ids.into_iter().collect();
    let (found_cells, found_loggers) = hold_parents(conn, &cell_ids, &logger_ids)?;
    for (i, upload) in uploads.iter().enumerate() {
        if !is_pending(verdicts, i) {
            continue;
        }
        if let Some(cell) = upload
            .rows
            .iter()
            .find(|r| !found_cells.contains(&r.cell_id))
        {
            verdicts[i] = Some(Err(StoreError::UnknownCell(cell.cell_id)));
        } else if let Some(logger) = parent_loggers(upload).find(|l| !found_loggers.contains(l)) {
            verdicts[i] = Some(Err(StoreError::UnknownLogger(logger)));
        }
    }
    Ok(())
}

/// Loggers an upload's rows reference: power rows' loggers and the receipt's logger.
fn parent_loggers(upload: &UploadRows) -> impl Iterator<Item = i32> + '_ {
    upload
        .rows
        .iter()
        .filter(|r| matches!(r.data, RowData::Power { .. }))
        .filter_map(|r| r.logger_id)
        .chain(receipt_of(upload).map(|r| r.logger_id))
}

/// The ids among `cell_ids` and `logger_ids` that exist, held on Postgres (`FOR KEY SHARE`, what
/// a foreign key's trigger takes per row) until the transaction ends. The measurement tables
/// carry no foreign keys on Postgres (their per-row triggers cost more than the inserts); this
/// one check per batch replaces them. SQLite keeps its foreign keys and serializes writers.
pub(crate) fn hold_parents(
    conn: &mut DbConn,
    cell_ids: &[i32],
    logger_ids: &[i32],
) -> Result<(BTreeSet<i32>, BTreeSet<i32>), DbError> {
    let mut found_cells = Vec::new();
    let mut found_loggers = Vec::new();
    match conn {
        DbConn::Postgres(pg) => {
            // One round trip for both tables; shared locks never wait for each other, so the
            // order inside the statement does not matter.
            #[derive(QueryableByName)]
            struct Found {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                is_cell: bool,
                #[diesel(sql_type = diesel::sql_types::Integer)]
                id: i32,
            }
            use diesel::sql_types::{Array, Integer};
            let found: Vec<Found> = diesel::sql_query(
                "WITH c AS (SELECT id FROM cells WHERE id = ANY($1) ORDER BY id FOR KEY SHARE),
                      l AS (SELECT id FROM loggers WHERE id = ANY($2) ORDER BY id FOR KEY SHARE)
                 SELECT true AS is_cell, id FROM c UNION ALL SELECT false, id FROM l",
            )
            .bind::<Array<Integer>, _>(cell_ids)
            .bind::<Array<Integer>, _>(logger_ids)
            .load(pg)?;
            for f in found {
                if f.is_cell {
                    found_cells.push(f.id);
                } else {
                    found_loggers.push(f.id);
                }
            }
        }
        DbConn::Sqlite(_) => {
            if !cell_ids.is_empty() {
                found_cells = cells::table
                    .filter(cells::id.eq_any(cell_ids))
                    .select(cells::id)
                    .load(conn)?;
            }
            if !logger_ids.is_empty() {
                found_loggers = loggers::table
                    .filter(loggers::id.eq_any(logger_ids))
                    .select(loggers::id)
                    .load(conn)?;
            }
        }
    }
    Ok((
        found_cells.into_iter().collect(),
        found_loggers.into_iter().collect(),
    ))
}

/// A device key writes only into cells its owner is a member of.
fn check_membership(
    conn: &mut DbConn,
    uploads: &[UploadRows],
    verdicts: &mut Verdicts,
) -> Result<(), DbError> {
    let mut wanted: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for (i, upload) in uploads.iter().enumerate() {
        if let (true, Some(member)) = (is_pending(verdicts, i), upload.member.as_deref()) {
            wanted
                .entry(member)
                .or_default()
                .extend(upload.rows.iter().map(|r| r.cell_id));
        }
    }
    let mut allowed: HashMap<&str, BTreeSet<i32>> = HashMap::new();
    for (member, cells) in wanted {
        let cells: Vec<i32> = cells.into_iter().collect();
        let ok: Vec<i32> = cell_user::table
            .filter(cell_user::user_id.eq(member))
            .filter(cell_user::cell_id.eq_any(&cells))
            .select(cell_user::cell_id)
            .load(conn)?;
        allowed.insert(member, ok.into_iter().collect());
    }
    for (i, upload) in uploads.iter().enumerate() {
        let (true, Some(member)) = (is_pending(verdicts, i), upload.member.as_deref()) else {
            continue;
        };
        let mine = allowed.get(member);
        if let Some(row) = upload
            .rows
            .iter()
            .find(|r| !mine.is_some_and(|m| m.contains(&r.cell_id)))
        {
            verdicts[i] = Some(Err(StoreError::NotMember(row.cell_id)));
        }
    }
    Ok(())
}

/// An integration key writes only as loggers its owner owns: every logger its rows name (0 is
/// "none") must have that owner. A logger that does not exist is refused the same way, so the
/// key learns nothing about other people's loggers.
fn check_logger_owners(
    conn: &mut DbConn,
    uploads: &[UploadRows],
    verdicts: &mut Verdicts,
) -> Result<(), DbError> {
    let named = |upload: &UploadRows| -> BTreeSet<i32> {
        upload
            .rows
            .iter()
            .filter_map(|r| r.logger_id)
            .filter(|l| *l != 0)
            .collect()
    };
    let mut wanted: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for (i, upload) in uploads.iter().enumerate() {
        if let (true, Some(owner)) = (is_pending(verdicts, i), upload.logger_owner.as_deref()) {
            wanted.entry(owner).or_default().extend(named(upload));
        }
    }
    let mut owned: HashMap<&str, BTreeSet<i32>> = HashMap::new();
    for (owner, ids) in wanted {
        let ids: Vec<i32> = ids.into_iter().collect();
        let ok: Vec<i32> = loggers::table
            .filter(loggers::user_id.eq(owner))
            .filter(loggers::id.eq_any(&ids))
            .select(loggers::id)
            .load(conn)?;
        owned.insert(owner, ok.into_iter().collect());
    }
    for (i, upload) in uploads.iter().enumerate() {
        let (true, Some(owner)) = (is_pending(verdicts, i), upload.logger_owner.as_deref()) else {
            continue;
        };
        let mine = owned.get(owner);
        if let Some(other) = named(upload)
            .into_iter()
            .find(|l| !mine.is_some_and(|m| m.contains(l)))
        {
            verdicts[i] = Some(Err(StoreError::NotOwner(other)));
        }
    }
    Ok(())
}

/// A locator already stored answers its receipt (same body) or a conflict (another body) and
/// stores nothing. Returns the uploads that repeat a locator of an earlier upload of the same
/// batch, as (later, first): they are answered from the first one's outcome.
fn check_known_locators(
    conn: &mut DbConn,
    uploads: &[UploadRows],
    verdicts: &mut Verdicts,
) -> Result<Vec<(usize, usize)>, DbError> {
    let mut first_of: HashMap<(i32, &str), usize> = HashMap::new();
    let mut duplicates = Vec::new();
    for (i, upload) in uploads.iter().enumerate() {
        let Some(receipt) = receipt_of(upload) else {
            continue;
        };
        if !is_pending(verdicts, i) {
            continue;
        }
        if let Some(old) = find_receipt(conn, receipt.logger_id, &receipt.locator)? {
            verdicts[i] = Some(replay_or_conflict(old, receipt));
            continue;
        }
        match first_of.get(&(receipt.logger_id, receipt.locator.as_str())) {
            Some(&first) => {
                let earlier = receipt_of(&uploads[first]).map(|r| r.body_sha256.as_str());
                verdicts[i] = Some(if earlier == Some(receipt.body_sha256.as_str()) {
                    duplicates.push((i, first));
                    // Settled at the end from the first copy's outcome.
                    Ok(Stored {
                        new_rows: 0,
                        receipt: None,
                        replayed: true,
                    })
                } else {
                    Err(StoreError::LocatorReused(receipt.locator.clone()))
                });
            }
            None => {
                first_of.insert((receipt.logger_id, receipt.locator.as_str()), i);
            }
        }
    }
    Ok(duplicates)
}

fn replay_or_conflict(old: UploadReceipt, new: &UploadReceipt) -> Result<Stored, StoreError> {
    if old.body_sha256 == new.body_sha256 {
        Ok(Stored {
            new_rows: 0,
            receipt: Some(old.receipt),
            replayed: true,
        })
    } else {
        Err(StoreError::LocatorReused(new.locator.clone()))
    }
}

/// Phase 2: enrolled loggers pay their uploads' slots. Enrolments are locked by logger id, the
/// uploads charged in batch order, and each logger's row written once.
fn charge_quotas(
    conn: &mut DbConn,
    uploads: &[UploadRows],
    verdicts: &mut Verdicts,
    now: NaiveDateTime,
) -> Result<BTreeMap<i32, i64>, DbError> {
    let claimed: BTreeSet<i32> = uploads
        .iter()
        .enumerate()
        .filter(|(i, _)| is_pending(verdicts, *i))
        .filter_map(|(_, u)| u.device.as_ref().map(|d| d.logger_id))
        .collect();
    let mut charged = BTreeMap::new();
    if claimed.is_empty() {
        return Ok(charged);
    }
    let claimed: Vec<i32> = claimed.into_iter().collect();
    let enrolments = crate::devices::lock_many(conn, &claimed)?;
    let mut left: HashMap<i32, (i64, NaiveDateTime)> = enrolments
        .into_iter()
        .map(|(logger, slots, expiry)| (logger, (slots, expiry)))
        .collect();
    for (i, upload) in uploads.iter().enumerate() {
        let Some(claim) = upload.device.as_ref() else {
            continue;
        };
        if !is_pending(verdicts, i) {
            continue;
        }
        let Some((available, expiry)) = left.get_mut(&claim.logger_id) else {
            continue;
        };
        if *expiry <= now {
            verdicts[i] = Some(Err(StoreError::QuotaExpired(*expiry)));
        } else if *available < claim.slots {
            verdicts[i] = Some(Err(StoreError::QuotaExhausted {
                available: *available,
                needed: claim.slots,
                expiry: *expiry,
            }));
        } else {
            *available -= claim.slots;
            *charged.entry(claim.logger_id).or_insert(0) += claim.slots;
        }
    }
    for (logger, slots) in &charged {
        adjust_slots(conn, *logger, -slots)?;
    }
    Ok(charged)
}

/// Phase 3: new receipts, by (logger, locator). A locator committed by a concurrent batch since
/// [`check_known_locators`] looked (the device retried while its first attempt was in flight)
/// turns this upload into a replay or a conflict, and its slots are given back.
fn insert_receipts(
    conn: &mut DbConn,
    uploads: &[UploadRows],
    verdicts: &mut Verdicts,
    charges: &BTreeMap<i32, i64>,
) -> Result<(), DbError> {
    let mut order: Vec<(i32, &str, usize)> = uploads
        .iter()
        .enumerate()
        .filter(|(i, _)| is_pending(verdicts, *i))
        .filter_map(|(i, u)| receipt_of(u).map(|r| (r.logger_id, r.locator.as_str(), i)))
        .collect();
    order.sort_unstable();
    for (_, _, i) in order {
        let Some(receipt) = receipt_of(&uploads[i]) else {
            continue;
        };
        if insert_receipt(conn, receipt)? {
            continue;
        }
        let old = find_receipt(conn, receipt.logger_id, &receipt.locator)?.ok_or_else(|| {
            DbError::Contention("a receipt vanished while its upload was stored".into())
        })?;
        verdicts[i] = Some(replay_or_conflict(old, receipt));
        if let Some(claim) = uploads[i].device.as_ref()
            && charges.contains_key(&claim.logger_id)
        {
            adjust_slots(conn, claim.logger_id, claim.slots)?;
        }
    }
    Ok(())
}

/// Phases 4–6 for a list of rows of cells that exist: series created, raw rows inserted (a row
/// already stored, or repeated earlier in the list, is not new), and the new rows added to their
/// hourly and daily rollups. Answers, per row, whether it was new.
pub(crate) fn write_rows(
    conn: &mut DbConn,
    rows: &[&NewRow],
    now: NaiveDateTime,
) -> Result<Vec<bool>, DbError> {
    let series = series_ids(conn, rows)?;
    let mut fresh = vec![false; rows.len()];
    let mut power = PowerRows::new();
    let mut teros = TerosRows::new();
    let mut values = ValueRows::new();
    for (i, row) in rows.iter().enumerate() {
        match &row.data {
            RowData::Power { voltage, current } => {
                let logger = row.logger_id.unwrap_or_default();
                power
                    .entry((row.cell_id, row.ts, logger))
                    .or_insert((i, *voltage, *current));
            }
            RowData::Teros {
                vwc,
                raw_vwc,
                temp,
                ec,
                water_pot,
            } => {
                let values = TerosValues {
                    vwc: *vwc,
                    raw_vwc: *raw_vwc,
                    temp: *temp,
                    // Out of the column's range is no reading rather than a wrong one.
                    ec: ec.and_then(|e| i32::try_from(e).ok()),
                    water_pot: *water_pot,
                };
                teros.entry((row.cell_id, row.ts)).or_insert((i, values));
            }
            RowData::Sensor {
                name,
                measurement,
                value,
                ..
            } => {
                let key = (row.cell_id, name.as_str(), measurement.as_str());
                let sensor = *series.get(&key).ok_or_else(|| {
                    DbError::Contention(format!("series {key:?} vanished while it was written"))
                })?;
                let (float_val, int_val) = match value {
                    Number::Float(f) => (Some(*f), None),
                    Number::Int(n) => (Some(*n as f64), Some(*n)),
                };
                values
                    .entry((sensor, row.ts))
                    .or_insert((i, float_val, int_val));
            }
        }
    }
    let new_power = crate::raw_rows::insert_power(conn, &power, now)?;
    let new_teros = crate::raw_rows::insert_teros(conn, &teros, now)?;
    let new_values = crate::raw_rows::insert_values(conn, &values, now)?;
    let mut power_rollup = Vec::with_capacity(new_power.len());
    for key in new_power {
        if let Some((i, v, a)) = power.get(&key) {
            fresh[*i] = true;
            power_rollup.push((key.0, Some(key.2), key.1, Some(*v), Some(*a)));
        }
    }
    let mut teros_rollup = Vec::with_capacity(new_teros.len());
    for key in new_teros {
        if let Some((i, t)) = teros.get(&key) {
            fresh[*i] = true;
            teros_rollup.push((
                key.0,
                key.1,
                [
                    Some(t.vwc),
                    Some(t.raw_vwc),
                    Some(t.temp),
                    t.ec.map(f64::from),
                ],
            ));
        }
    }
    let mut value_rollup = Vec::with_capacity(new_values.len());
    for key in new_values {
        if let Some((i, float_val, _)) = values.get(&key) {
            fresh[*i] = true;
            value_rollup.push((key.0, key.1, *float_val));
        }
    }
    crate::rollups::add_many(conn, &power_rollup, &teros_rollup, &value_rollup)?;
    Ok(fresh)
}

/// Phase 4: the id of every (cell, name, measurement) series the rows name, new series created
/// in key order; the first value's type fixes a new series' `data_type`, as in ENTS.
fn series_ids<'a>(
    conn: &mut DbConn,
    rows: &[&'a NewRow],
) -> Result<HashMap<(i32, &'a str, &'a str), i32>, DbError> {
    let mut wanted: BTreeMap<(i32, &str, &str), (&str, &'static str)> = BTreeMap::new();
    for row in rows {
        if let RowData::Sensor {
            name,
            measurement,
            unit,
            value,
        } = &row.data
        {
            let data_type = match value {
                Number::Float(_) => "float",
                Number::Int(_) => "int",
            };
            wanted
                .entry((row.cell_id, name.as_str(), measurement.as_str()))
                .or_insert((unit.as_str(), data_type));
        }
    }
    let mut ids = HashMap::with_capacity(wanted.len());
    if wanted.is_empty() {
        return Ok(ids);
    }
    let cells: BTreeSet<i32> = wanted.keys().map(|k| k.0).collect();
    let cells: Vec<i32> = cells.into_iter().collect();
    let known = |conn: &mut DbConn| -> Result<Vec<(i32, String, String, i32)>, DbError> {
        Ok(sensors::table
            .filter(sensors::cell_id.eq_any(&cells))
            .select((
                sensors::cell_id,
                sensors::name,
                sensors::measurement,
                sensors::id,
            ))
            .load(conn)?)
    };
    let mut existing: HashMap<(i32, String, String), i32> = known(conn)?
        .into_iter()
        .map(|(c, n, m, id)| ((c, n, m), id))
        .collect();
    let mut created = false;
    for ((cell, name, measurement), (unit, data_type)) in &wanted {
        if existing.contains_key(&(*cell, (*name).to_owned(), (*measurement).to_owned())) {
            continue;
        }
        let values = (
            sensors::cell_id.eq(cell),
            sensors::name.eq(name),
            sensors::measurement.eq(measurement),
            sensors::unit.eq(unit),
            sensors::data_type.eq(data_type),
        );
        crate::on_backend!(conn, c => diesel::insert_into(sensors::table)
            .values(values)
            .on_conflict_do_nothing()
            .execute(c))?;
        created = true;
    }
    if created {
        existing = known(conn)?
            .into_iter()
            .map(|(c, n, m, id)| ((c, n, m), id))
            .collect();
    }
    for key in wanted.keys() {
        if let Some(id) = existing.get(&(key.0, key.1.to_owned(), key.2.to_owned())) {
            ids.insert(*key, *id);
        }
    }
    Ok(ids)
}
