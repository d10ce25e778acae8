//! Hourly and daily rollups: sums and counts per bucket, written in the transaction that stores
//! the rows (only for rows that were new, so retries add nothing), read back for the full
//! buckets of a resampled range. Each write sums a batch per bucket first, one statement per
//! table. On Postgres a write appends the batch's sums as `fresh` rows — no row is updated, so
//! concurrent uploads to one cell never wait for each other's commit — readers add up every row
//! of a bucket, and [`compact`] folds a bucket's fresh rows into one in the background. SQLite,
//! one writer at a time, keeps one row per bucket and upserts it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::schema::{data_rollups as dr, power_rollups as pr, teros_rollups as tr};
use crate::units::vwc_percent;
use crate::{DbConn, DbError};

/// One rollup bucket: its start (Unix seconds) and `(count, sum)` per column.
pub(crate) type Bucket<const N: usize> = (i64, [(i64, f64); N]);

/// A freshly inserted power row: (cell, logger, time, volts, amps).
pub(crate) type NewPower = (i32, Option<i32>, NaiveDateTime, Option<f64>, Option<f64>);
/// A freshly inserted TEROS row: (cell, time, [vwc, raw vwc, °C, EC]).
pub(crate) type NewTeros = (i32, NaiveDateTime, [Option<f64>; 4]);
/// A freshly inserted generic value: (series, time, value).
pub(crate) type NewValue = (i32, NaiveDateTime, Option<f64>);

/// Adds a batch's new rows to their hourly and daily buckets: on Postgres one statement for all
/// three tables, appending fresh rows (nothing is locked, so the order is free); on SQLite an
/// upsert per table.
pub(crate) fn add_many(
    conn: &mut DbConn,
    power: &[NewPower],
    teros: &[NewTeros],
    values: &[NewValue],
) -> Result<(), DbError> {
    let (power, teros, values) = (power_sums(power), teros_sums(teros), value_sums(values));
    if power.is_empty() && teros.is_empty() && values.is_empty() {
        return Ok(());
    }
    match conn {
        DbConn::Postgres(pg) => append_pg(pg, power, teros, values),
        DbConn::Sqlite(_) => {
            upsert_power(conn, power)?;
            upsert_teros(conn, teros)?;
            upsert_values(conn, values)
        }
    }
}

/// The three tables' sums as arrays in one statement (25 parameters however many buckets; a
/// multi-row `VALUES` would pass 65,535 parameters at about 7,000 buckets), appended as fresh
/// rows that no other writer locks (see [`compact`]).
fn append_pg(
    pg: &mut diesel::PgConnection,
    power: Sums<3>,
    teros: Sums<4>,
    values: Sums<1>,
) -> Result<(), DbError> {
    use diesel::sql_types::{Array, BigInt, Double, Integer};
    let (p_cells, p_widths, p_buckets, [nv, ni, np], [sv, si, sp]) = columns(power);
    let (t_cells, t_widths, t_buckets, [n_vwc, n_raw, n_temp, n_ec], [s_vwc, s_raw, s_temp, s_ec]) =
        columns(teros);
    let (series, v_widths, v_buckets, [n], [total]) = columns(values);
    diesel::sql_query(
        "WITH power AS (
             INSERT INTO power_rollups (cell_id, width, bucket, n_v, sum_v, n_i, sum_i, n_p,
                                        sum_p, fresh)
             SELECT *, true FROM UNNEST($1::int4[], $2::int4[], $3::int8[], $4::int8[],
                                        $5::float8[], $6::int8[], $7::float8[], $8::int8[],
                                        $9::float8[])
         ), teros AS (
             INSERT INTO teros_rollups (cell_id, width, bucket, n_vwc, sum_vwc, n_raw, sum_raw,
                                        n_temp, sum_temp, n_ec, sum_ec, fresh)
             SELECT *, true FROM UNNEST($10::int4[], $11::int4[], $12::int8[], $13::int8[],
                                        $14::float8[], $15::int8[], $16::float8[], $17::int8[],
                                        $18::float8[], $19::int8[], $20::float8[])
         )
         INSERT INTO data_rollups (sensor_id, width, bucket, n, total, fresh)
         SELECT *, true FROM UNNEST($21::int4[], $22::int4[], $23::int8[], $24::int8[],
                                    $25::float8[])",
    )
    .bind::<Array<Integer>, _>(p_cells)
    .bind::<Array<Integer>, _>(p_widths)
    .bind::<Array<BigInt>, _>(p_buckets)
    .bind::<Array<BigInt>, _>(nv)
    .bind::<Array<Double>, _>(sv)
    .bind::<Array<BigInt>, _>(ni)
    .bind::<Array<Double>, _>(si)
    .bind::<Array<BigInt>, _>(np)
    .bind::<Array<Double>, _>(sp)
    .bind::<Array<Integer>, _>(t_cells)
    .bind::<Array<Integer>, _>(t_widths)
    .bind::<Array<BigInt>, _>(t_buckets)
    .bind::<Array<BigInt>, _>(n_vwc)
    .bind::<Array<Double>, _>(s_vwc)
    .bind::<Array<BigInt>, _>(n_raw)
    .bind::<Array<Double>, _>(s_raw)
    .bind::<Array<BigInt>, _>(n_temp)
    .bind::<Array<Double>, _>(s_temp)
    .bind::<Array<BigInt>, _>(n_ec)
    .bind::<Array<Double>, _>(s_ec)
    .bind::<Array<Integer>, _>(series)
    .bind::<Array<Integer>, _>(v_widths)
    .bind::<Array<BigInt>, _>(v_buckets)
    .bind::<Array<BigInt>, _>(n)
    .bind::<Array<Double>, _>(total)
    .execute(pg)?;
    Ok(())
}

/// Buckets per SQLite upsert: a statement may bind at most 32,766 values (11 columns each).
const SQLITE_ROWS_PER_STATEMENT: usize = 1000;

/// The bucket widths kept, in seconds.
pub const WIDTHS: [i32; 2] = [3600, 86_400];

fn bucket(ts: NaiveDateTime, width: i32) -> i64 {
    let secs = ts.and_utc().timestamp();
    secs - secs.rem_euclid(i64::from(width))
}

fn part(v: Option<f64>) -> (i64, f64) {
    match v.filter(|v| v.is_finite()) {
        Some(v) => (1, v),
        None => (0, 0.0),
    }
}

/// New power rows `(cell, logger, ts, volts, amps)` summed per bucket.
fn power_sums(rows: &[NewPower]) -> Sums<3> {
    let mut sums: Sums<3> = Sums::new();
    for (cell, _, ts, v, i) in rows {
        for width in WIDTHS {
            let entry = sums.entry((*cell, width, bucket(*ts, width))).or_default();
            for (slot, (n, s)) in
                entry
                    .iter_mut()
                    .zip([part(*v), part(*i), part(v.zip(*i).map(|(v, i)| v * i))])
            {
                slot.0 += n;
                slot.1 += s;
            }
        }
    }
    sums
}

/// SQLite: adds power sums to their buckets' rows.
fn upsert_power(conn: &mut DbConn, sums: Sums<3>) -> Result<(), DbError> {
    if sums.is_empty() {
        return Ok(());
    }
    let values: Vec<_> = sums
        .into_iter()
        .map(|((cell, width, b), [(nv, sv), (ni, si), (np, sp)])| {
            (
                pr::cell_id.eq(cell),
                pr::width.eq(width),
                pr::bucket.eq(b),
                pr::n_v.eq(nv),
                pr::sum_v.eq(sv),
                pr::n_i.eq(ni),
                pr::sum_i.eq(si),
                pr::n_p.eq(np),
                pr::sum_p.eq(sp),
            )
        })
        .collect();
    for chunk in values.chunks(SQLITE_ROWS_PER_STATEMENT) {
        crate::on_backend!(conn, c => diesel::insert_into(pr::table)
            .values(chunk)
            .on_conflict((pr::cell_id, pr::width, pr::bucket))
            .do_update()
            .set((
                pr::n_v.eq(pr::n_v + excluded(pr::n_v)),
                pr::sum_v.eq(pr::sum_v + excluded(pr::sum_v)),
                pr::n_i.eq(pr::n_i + excluded(pr::n_i)),
                pr::sum_i.eq(pr::sum_i + excluded(pr::sum_i)),
                pr::n_p.eq(pr::n_p + excluded(pr::n_p)),
                pr::sum_p.eq(pr::sum_p + excluded(pr::sum_p)),
            ))
            .execute(c))?;
    }
    Ok(())
}

/// Per-bucket sums, keyed by (cell, width, bucket): (count, total) per column.
type Sums<const N: usize> = std::collections::BTreeMap<(i32, i32, i64), [(i64, f64); N]>;

/// Sums as columns, for array parameters: cells, widths, buckets, then counts and totals.
type Columns<const N: usize> = (Vec<i32>, Vec<i32>, Vec<i64>, [Vec<i64>; N], [Vec<f64>; N]);

fn columns<const N: usize>(sums: Sums<N>) -> Columns<N> {
    let len = sums.len();
    let mut out: Columns<N> = (
        Vec::with_capacity(len),
        Vec::with_capacity(len),
        Vec::with_capacity(len),
        std::array::from_fn(|_| Vec::with_capacity(len)),
        std::array::from_fn(|_| Vec::with_capacity(len)),
    );
    for ((cell, width, b), parts) in sums {
        out.0.push(cell);
        out.1.push(width);
        out.2.push(b);
        for (k, (n, total)) in parts.into_iter().enumerate() {
            out.3[k].push(n);
            out.4[k].push(total);
        }
    }
    out
}

/// New TEROS rows `(cell, ts, [vwc, raw_vwc, temp, ec])` summed per bucket (VWC in percent).
fn teros_sums(rows: &[NewTeros]) -> Sums<4> {
    let mut sums: Sums<4> = Sums::new();
    for (cell, ts, [vwc, raw, temp, ec]) in rows {
        for width in WIDTHS {
            let entry = sums.entry((*cell, width, bucket(*ts, width))).or_default();
            for (slot, (n, s)) in
                entry
                    .iter_mut()
                    .zip([part(vwc_percent(*vwc)), part(*raw), part(*temp), part(*ec)])
            {
                slot.0 += n;
                slot.1 += s;
            }
        }
    }
    sums
}

/// SQLite: adds TEROS sums to their buckets' rows.
fn upsert_teros(conn: &mut DbConn, sums: Sums<4>) -> Result<(), DbError> {
    if sums.is_empty() {
        return Ok(());
    }
    let values: Vec<_> = sums
        .into_iter()
        .map(
            |(
                (cell, width, b),
                [
                    (n_vwc, s_vwc),
                    (n_raw, s_raw),
                    (n_temp, s_temp),
                    (n_ec, s_ec),
                ],
            )| {
                (
                    tr::cell_id.eq(cell),
                    tr::width.eq(width),
                    tr::bucket.eq(b),
                    tr::n_vwc.eq(n_vwc),
                    tr::sum_vwc.eq(s_vwc),
                    tr::n_raw.eq(n_raw),
                    tr::sum_raw.eq(s_raw),
                    tr::n_temp.eq(n_temp),
                    tr::sum_temp.eq(s_temp),
                    tr::n_ec.eq(n_ec),
                    tr::sum_ec.eq(s_ec),
                )
            },
        )
        .collect();
    {
        for chunk in values.chunks(SQLITE_ROWS_PER_STATEMENT) {
            crate::on_backend!(conn, c => diesel::insert_into(tr::table)
                .values(chunk)
                .on_conflict((tr::cell_id, tr::width, tr::bucket))
                .do_update()
                .set((
                    tr::n_vwc.eq(tr::n_vwc + excluded(tr::n_vwc)),
                    tr::sum_vwc.eq(tr::sum_vwc + excluded(tr::sum_vwc)),
                    tr::n_raw.eq(tr::n_raw + excluded(tr::n_raw)),
                    tr::sum_raw.eq(tr::sum_raw + excluded(tr::sum_raw)),
                    tr::n_temp.eq(tr::n_temp + excluded(tr::n_temp)),
                    tr::sum_temp.eq(tr::sum_temp + excluded(tr::sum_temp)),
                    tr::n_ec.eq(tr::n_ec + excluded(tr::n_ec)),
                    tr::sum_ec.eq(tr::sum_ec + excluded(tr::sum_ec)),
                ))
                .execute(c))?;
        }
    }
    Ok(())
}

/// New generic values `(series, ts, value)` summed per bucket.
fn value_sums(rows: &[NewValue]) -> Sums<1> {
    let mut sums: Sums<1> = Sums::new();
    for (sensor, ts, value) in rows {
        for width in WIDTHS {
            let entry = sums
                .entry((*sensor, width, bucket(*ts, width)))
                .or_default();
            let (n, total) = part(*value);
            entry[0].0 += n;
            entry[0].1 += total;
        }
    }
    sums
}

/// SQLite: adds generic sums to their buckets' rows.
fn upsert_values(conn: &mut DbConn, sums: Sums<1>) -> Result<(), DbError> {
    if sums.is_empty() {
        return Ok(());
    }
    let values: Vec<_> = sums
        .into_iter()
        .map(|((sensor, width, b), [(n, total)])| {
            (
                dr::sensor_id.eq(sensor),
                dr::width.eq(width),
                dr::bucket.eq(b),
                dr::n.eq(n),
                dr::total.eq(total),
            )
        })
        .collect();
    for chunk in values.chunks(SQLITE_ROWS_PER_STATEMENT) {
        crate::on_backend!(conn, c => diesel::insert_into(dr::table)
            .values(chunk)
            .on_conflict((dr::sensor_id, dr::width, dr::bucket))
            .do_update()
            .set((dr::n.eq(dr::n + excluded(dr::n)), dr::total.eq(dr::total + excluded(dr::total))))
            .execute(c))?;
    }
    Ok(())
}

/// Power rollups of a cell for buckets in `[from, to)` (Unix seconds): (bucket, [(n, sum); 3]).
pub(crate) fn power(
    conn: &mut DbConn,
    cell_id: i32,
    width: i32,
    from: i64,
    to: i64,
) -> Result<Vec<Bucket<3>>, DbError> {
    let rows: Vec<(i64, i64, f64, i64, f64, i64, f64)> = pr::table
        .filter(pr::cell_id.eq(cell_id))
        .filter(pr::width.eq(width))
        .filter(pr::bucket.ge(from))
        .filter(pr::bucket.lt(to))
        .select((
            pr::bucket,
            pr::n_v,
            pr::sum_v,
            pr::n_i,
            pr::sum_i,
            pr::n_p,
            pr::sum_p,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(b, nv, sv, ni, si, np, sp)| (b, [(nv, sv), (ni, si), (np, sp)]))
        .collect())
}

/// TEROS rollups: (bucket, [(n, sum); 4]) for vwc (percent), raw, temp, ec.
pub(crate) fn teros(
    conn: &mut DbConn,
    cell_id: i32,
    width: i32,
    from: i64,
    to: i64,
) -> Result<Vec<Bucket<4>>, DbError> {
    type Row = (i64, i64, f64, i64, f64, i64, f64, i64, f64);
    let rows: Vec<Row> = tr::table
        .filter(tr::cell_id.eq(cell_id))
        .filter(tr::width.eq(width))
        .filter(tr::bucket.ge(from))
        .filter(tr::bucket.lt(to))
        .select((
            tr::bucket,
            tr::n_vwc,
            tr::sum_vwc,
            tr::n_raw,
            tr::sum_raw,
            tr::n_temp,
            tr::sum_temp,
            tr::n_ec,
            tr::sum_ec,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(b, a, sa, r, sr, t, st, e, se)| (b, [(a, sa), (r, sr), (t, st), (e, se)]))
        .collect())
}

/// Generic rollups: (bucket, n, total).
pub(crate) fn values(
    conn: &mut DbConn,
    sensor_id: i32,
    width: i32,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64, f64)>, DbError> {
    Ok(dr::table
        .filter(dr::sensor_id.eq(sensor_id))
        .filter(dr::width.eq(width))
        .filter(dr::bucket.ge(from))
        .filter(dr::bucket.lt(to))
        .select((dr::bucket, dr::n, dr::total))
        .load(conn)?)
}

/// Every rollup of a cell recomputed from its raw rows and compared with the stored one: the
/// differences, described (empty when the rollups are exact). For tests and the benchmark.
pub(crate) fn mismatches(conn: &mut DbConn, cell_id: i32) -> Result<Vec<String>, DbError> {
    use crate::schema::{data, power_data, sensors, teros_data};
    let mut out = Vec::new();
    let power: Vec<NewPower> = power_data::table
        .filter(power_data::cell_id.eq(cell_id))
        .select((
            power_data::cell_id,
            power_data::logger_id,
            power_data::ts,
            power_data::voltage,
            power_data::current,
        ))
        .load(conn)?;
    let want = power_sums(&power);
    let mut have: Sums<3> = Sums::new();
    for width in WIDTHS {
        for (b, parts) in self::power(conn, cell_id, width, i64::MIN, i64::MAX)? {
            add_into(have.entry((cell_id, width, b)).or_default(), parts);
        }
    }
    compare("power", &want, &have, &mut out);
    type TerosRow = (
        i32,
        NaiveDateTime,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<i32>,
    );
    let teros: Vec<TerosRow> = teros_data::table
        .filter(teros_data::cell_id.eq(cell_id))
        .select((
            teros_data::cell_id,
            teros_data::ts,
            teros_data::vwc,
            teros_data::raw_vwc,
            teros_data::temp,
            teros_data::ec,
        ))
        .load(conn)?;
    let teros: Vec<NewTeros> = teros
        .into_iter()
        .map(|(cell, ts, vwc, raw, temp, ec)| (cell, ts, [vwc, raw, temp, ec.map(f64::from)]))
        .collect();
    let want = teros_sums(&teros);
    let mut have: Sums<4> = Sums::new();
    for width in WIDTHS {
        for (b, parts) in self::teros(conn, cell_id, width, i64::MIN, i64::MAX)? {
            add_into(have.entry((cell_id, width, b)).or_default(), parts);
        }
    }
    compare("teros", &want, &have, &mut out);
    let series: Vec<i32> = sensors::table
        .filter(sensors::cell_id.eq(cell_id))
        .select(sensors::id)
        .load(conn)?;
    for sensor in series {
        let rows: Vec<(NaiveDateTime, Option<f64>)> = data::table
            .filter(data::sensor_id.eq(sensor))
            .select((data::ts, data::float_val))
            .load(conn)?;
        let rows: Vec<NewValue> = rows.into_iter().map(|(ts, v)| (sensor, ts, v)).collect();
        let want = value_sums(&rows);
        let mut have: Sums<1> = Sums::new();
        for width in WIDTHS {
            for (b, n, total) in values(conn, sensor, width, i64::MIN, i64::MAX)? {
                add_into(have.entry((sensor, width, b)).or_default(), [(n, total)]);
            }
        }
        compare(&format!("series {sensor}"), &want, &have, &mut out);
    }
    Ok(out)
}

/// Adds one stored row of a bucket to the bucket's total (a bucket may have several rows).
fn add_into<const N: usize>(total: &mut [(i64, f64); N], parts: [(i64, f64); N]) {
    for (slot, (n, s)) in total.iter_mut().zip(parts) {
        slot.0 += n;
        slot.1 += s;
    }
}

fn compare<const N: usize>(what: &str, want: &Sums<N>, have: &Sums<N>, out: &mut Vec<String>) {
    let keys: std::collections::BTreeSet<_> = want.keys().chain(have.keys()).collect();
    for key in keys {
        let (w, h) = (want.get(key), have.get(key));
        let same = match (w, h) {
            (Some(w), Some(h)) => w.iter().zip(h).all(|((wn, ws), (hn, hs))| {
                wn == hn && (ws - hs).abs() <= 1e-9 * ws.abs().max(1.0)
            }),
            // A bucket whose rows are all gone may keep an empty rollup.
            (None, Some(h)) => h.iter().all(|(n, _)| *n == 0),
            _ => false,
        };
        if !same {
            out.push(format!("{what} {key:?}: rows give {w:?}, rollup has {h:?}"));
        }
    }
}

/// Held (transaction-scoped) by whatever rewrites rollup rows in place — compaction, an
/// import's rebuild of whole days, a cell's deletion — so none of them folds or deletes rows
/// another is rewriting. Uploads only append and never take it.
pub(crate) const REWRITE_LOCK: i64 = 0x6c6f_616d_726f_6c6c; // "loamroll"

/// Folds the fresh rows of up to `keys` buckets per table into one row each (Postgres; SQLite
/// keeps one row per bucket anyway). Returns how many buckets were folded; 0 also when another
/// process is compacting or rewriting right now. Readers see the same sums before and after.
pub fn compact(conn: &mut DbConn, keys: i64) -> Result<usize, DbError> {
    use diesel::sql_types::BigInt;
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        taken: bool,
    }
    let DbConn::Postgres(pg) = conn else {
        return Ok(0);
    };
    pg.transaction(|pg| {
        let lock: Taken = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS taken")
            .bind::<BigInt, _>(REWRITE_LOCK)
            .get_result(pg)?;
        if !lock.taken {
            return Ok(0);
        }
        let mut folded = 0;
        for statement in [COMPACT_POWER, COMPACT_TEROS, COMPACT_DATA] {
            folded += diesel::sql_query(statement)
                .bind::<BigInt, _>(keys)
                .execute(pg)?;
        }
        Ok(folded)
    })
}

/// Takes [`REWRITE_LOCK`] for the rest of the transaction, waiting for a running compaction.
pub(crate) fn lock_for_rewrite(conn: &mut DbConn) -> Result<(), DbError> {
    if let DbConn::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(REWRITE_LOCK)
            .execute(pg)?;
    }
    Ok(())
}

/// One statement, one snapshot: the rows it deletes are exactly the rows it sums, and a fresh
/// row appended meanwhile is left for the next round.
const COMPACT_POWER: &str = "
WITH keys AS (
    SELECT DISTINCT cell_id, width, bucket FROM power_rollups WHERE fresh LIMIT $1
), old AS (
    DELETE FROM power_rollups r USING keys k
    WHERE r.cell_id = k.cell_id AND r.width = k.width AND r.bucket = k.bucket
    RETURNING r.cell_id, r.width, r.bucket, r.n_v, r.sum_v, r.n_i, r.sum_i, r.n_p, r.sum_p
)
INSERT INTO power_rollups (cell_id, width, bucket, n_v, sum_v, n_i, sum_i, n_p, sum_p, fresh)
SELECT cell_id, width, bucket, sum(n_v)::int8, sum(sum_v), sum(n_i)::int8, sum(sum_i),
       sum(n_p)::int8, sum(sum_p), false
FROM old GROUP BY 1, 2, 3";

const COMPACT_TEROS: &str = "
WITH keys AS (
    SELECT DISTINCT cell_id, width, bucket FROM teros_rollups WHERE fresh LIMIT $1
), old AS (
    DELETE FROM teros_rollups r USING keys k
    WHERE r.cell_id = k.cell_id AND r.width = k.width AND r.bucket = k.bucket
    RETURNING r.cell_id, r.width, r.bucket, r.n_vwc, r.sum_vwc, r.n_raw, r.sum_raw,
              r.n_temp, r.sum_temp, r.n_ec, r.sum_ec
)
INSERT INTO teros_rollups (cell_id, width, bucket, n_vwc, sum_vwc, n_raw, sum_raw,
                           n_temp, sum_temp, n_ec, sum_ec, fresh)
SELECT cell_id, width, bucket, sum(n_vwc)::int8, sum(sum_vwc), sum(n_raw)::int8, sum(sum_raw),
       sum(n_temp)::int8, sum(sum_temp), sum(n_ec)::int8, sum(sum_ec), false
FROM old GROUP BY 1, 2, 3";

const COMPACT_DATA: &str = "
WITH keys AS (
    SELECT DISTINCT sensor_id, width, bucket FROM data_rollups WHERE fresh LIMIT $1
), old AS (
    DELETE FROM data_rollups r USING keys k
    WHERE r.sensor_id = k.sensor_id AND r.width = k.width AND r.bucket = k.bucket
    RETURNING r.sensor_id, r.width, r.bucket, r.n, r.total
)
INSERT INTO data_rollups (sensor_id, width, bucket, n, total, fresh)
SELECT sensor_id, width, bucket, sum(n)::int8, sum(total), false
FROM old GROUP BY 1, 2, 3";
