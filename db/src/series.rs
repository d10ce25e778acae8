//! Time series as the read endpoints serve them: raw rows or averages per calendar bucket
//! (`date_trunc` semantics: weeks start on Monday, quarters in Jan/Apr/Jul/Oct, all UTC),
//! computed the same way on both databases.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};

use crate::measurements;
use crate::models::Sensor;
use crate::units::vwc_percent;
use crate::{DbConn, DbError};
use loam_readings::Number;

/// A bucket width, as ENTS's `resample` parameter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resample {
    /// Raw rows.
    None,
    /// Per second.
    Second,
    /// Per minute.
    Minute,
    /// Per hour (the default).
    Hour,
    /// Per day.
    Day,
    /// Per ISO week (Monday).
    Week,
    /// Per month.
    Month,
    /// Per quarter.
    Quarter,
    /// Per year.
    Year,
}

impl Resample {
    /// Parses ENTS's names.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "none" => Resample::None,
            "second" => Resample::Second,
            "minute" => Resample::Minute,
            "hour" => Resample::Hour,
            "day" => Resample::Day,
            "week" => Resample::Week,
            "month" => Resample::Month,
            "quarter" => Resample::Quarter,
            "year" => Resample::Year,
            _ => return None,
        })
    }

    /// The start of the bucket holding `t`.
    pub fn bucket(self, t: NaiveDateTime) -> NaiveDateTime {
        let date = t.date();
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or(t);
        let first_of =
            |month: u32| NaiveDate::from_ymd_opt(date.year(), month, 1).map_or(t, midnight);
        match self {
            Resample::None => t,
            Resample::Second => t.with_nanosecond(0).unwrap_or(t),
            Resample::Minute => t
                .with_nanosecond(0)
                .and_then(|t| t.with_second(0))
                .unwrap_or(t),
            Resample::Hour => date.and_hms_opt(t.hour(), 0, 0).unwrap_or(t),
            Resample::Day => midnight(date),
            Resample::Week => {
                midnight(date - Duration::days(i64::from(date.weekday().num_days_from_monday())))
            }
            Resample::Month => first_of(date.month()),
            Resample::Quarter => first_of((date.month() - 1) / 3 * 3 + 1),
            Resample::Year => first_of(1),
        }
    }
}

/// What part of a series to read and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First device time included.
    pub start: NaiveDateTime,
    /// Last device time included.
    pub end: NaiveDateTime,
    /// Bucket width.
    pub resample: Resample,
    /// ENTS's `stream`: raw rows reported at server time (power, TEROS).
    pub stream: bool,
    /// The retention horizon, when raw rows before it are deleted: resampled buckets before it
    /// are answered whole from their rollups (their rows are gone).
    pub raw_since: Option<NaiveDateTime>,
}

/// Running averages per bucket; `None` inputs are skipped like SQL's AVG, and so are NaN and
/// infinite readings, as the rollups skip them (a bucket read from raw rows and the same bucket
/// read from its rollup must agree).
#[derive(Default)]
struct Mean {
    sum: f64,
    n: u64,
}

impl Mean {
    fn add(&mut self, v: Option<f64>) {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            self.sum += v;
            self.n += 1;
        }
    }

    fn add_many(&mut self, (n, sum): (i64, f64)) {
        if n > 0 {
            self.sum += sum;
            self.n += n.unsigned_abs();
        }
    }

    fn get(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

/// How a resampled read is answered: raw rows for the partial rollup buckets at the edges of
/// the range, rollups for the full ones between them. Hours read the hourly rollups; days and
/// every wider width read the daily ones (a week, month, quarter or year is a whole number of
/// UTC days, so its average is the sum of its days' sums over the sum of their counts); seconds
/// and minutes read raw rows.
struct Plan {
    width: i32,
    /// Full rollup buckets `[from, to)`, Unix seconds, answered by rollups.
    full: Option<(i64, i64)>,
    /// Inclusive ranges answered by raw rows.
    raw: Vec<(NaiveDateTime, NaiveDateTime)>,
}

fn plan(w: &Window) -> Plan {
    let width: i32 = match w.resample {
        Resample::Hour => 3600,
        Resample::Day | Resample::Week | Resample::Month | Resample::Quarter | Resample::Year => {
            86_400
        }
        _ => {
            return Plan {
                width: 0,
                full: None,
                raw: vec![(w.start, w.end)],
            };
        }
    };
    let wide = i64::from(width);
    let start =
        w.start.and_utc().timestamp() + i64::from(w.start.and_utc().timestamp_subsec_nanos() > 0);
    let end = w.end.and_utc().timestamp();
    let mut first_full = start + (wide - start.rem_euclid(wide)) % wide;
    let mut after_full = (end + 1) - (end + 1).rem_euclid(wide);
    if let Some(horizon) = w.raw_since {
        // The horizon is a midnight, so an edge bucket lies wholly before or after it; before
        // it, the bucket's rows are gone and its rollup answers for all of it.
        let horizon = horizon.and_utc().timestamp();
        let first_bucket = w.start.and_utc().timestamp().div_euclid(wide) * wide;
        if first_full > first_bucket && first_full <= horizon {
            first_full = first_bucket;
        }
        if after_full <= end && after_full + wide <= horizon {
            after_full += wide;
        }
    }
    if first_full >= after_full {
        return Plan {
            width,
            full: None,
            raw: vec![(w.start, w.end)],
        };
    }
    let mut raw = Vec::new();
    if first_full > w.start.and_utc().timestamp() {
        raw.push((w.start, at(first_full - 1)));
    }
    if after_full <= end {
        raw.push((at(after_full), w.end));
    }
    Plan {
        width,
        full: Some((first_full, after_full)),
        raw,
    }
}

fn at(secs: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.naive_utc())
        .unwrap_or_default()
}

/// One point of a power series, in the units ENTS serves: mV, µA, µW.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerPoint {
    /// Device time, or bucket start, or (stream) server time.
    pub ts: NaiveDateTime,
    /// Millivolts.
    pub v: Option<f64>,
    /// Microamps.
    pub i: Option<f64>,
    /// Microwatts (average of per-row products when resampled).
    pub p: Option<f64>,
}

pub(crate) fn power_point(
    ts: NaiveDateTime,
    v: Option<f64>,
    i: Option<f64>,
    p: Option<f64>,
) -> PowerPoint {
    PowerPoint {
        ts,
        v: v.map(|v| v * 1e3),
        i: i.map(|i| i * 1e6),
        p: p.map(|p| p * 1e6),
    }
}

/// A cell's power series over `[start, end]` (inclusive).
pub fn power(conn: &mut DbConn, cell_id: i32, w: Window) -> Result<Vec<PowerPoint>, DbError> {
    if w.stream || w.resample == Resample::None {
        let rows = measurements::power_rows(conn, cell_id, w.start, w.end)?;
        let mut points: Vec<PowerPoint> = rows
            .iter()
            .map(|r| {
                let ts = if w.stream { r.ts_server } else { r.ts };
                power_point(
                    ts,
                    r.voltage,
                    r.current,
                    r.voltage.zip(r.current).map(|(v, i)| v * i),
                )
            })
            .collect();
        if w.stream {
            points.sort_by_key(|p| p.ts);
        }
        return Ok(points);
    }
    let plan = plan(&w);
    let mut buckets: BTreeMap<NaiveDateTime, [Mean; 3]> = BTreeMap::new();
    for (from, to) in &plan.raw {
        for r in measurements::power_rows(conn, cell_id, *from, *to)? {
            let [v, i, p] = buckets.entry(w.resample.bucket(r.ts)).or_default();
            v.add(r.voltage);
            i.add(r.current);
            p.add(r.voltage.zip(r.current).map(|(v, i)| v * i));
        }
    }
    if let Some((from, to)) = plan.full {
        for (bucket, parts) in crate::rollups::power(conn, cell_id, plan.width, from, to)? {
            let means = buckets.entry(w.resample.bucket(at(bucket))).or_default();
            for (mean, part) in means.iter_mut().zip(parts) {
                mean.add_many(part);
            }
        }
    }
    Ok(buckets
        .into_iter()
        .filter(|(_, means)| means.iter().any(|m| m.n > 0))
        .map(|(ts, [v, i, p])| power_point(ts, v.get(), i.get(), p.get()))
        .collect())
}

/// One point of a TEROS series; VWC in percent.
#[derive(Debug, Clone, PartialEq)]
pub struct TerosPoint {
    /// Device time, bucket start, or (stream) server time.
    pub ts: NaiveDateTime,
    /// Volumetric water content, %.
    pub vwc: Option<f64>,
    /// Raw counts.
    pub raw_vwc: Option<f64>,
    /// °C.
    pub temp: Option<f64>,
    /// µS/cm (bucket averages truncated toward zero, as ENTS).
    pub ec: Option<i64>,
}

/// A cell's TEROS series over `[start, end]`.
pub fn teros(conn: &mut DbConn, cell_id: i32, w: Window) -> Result<Vec<TerosPoint>, DbError> {
    if w.stream || w.resample == Resample::None {
        let rows = measurements::teros_rows(conn, cell_id, w.start, w.end)?;
        return Ok(rows
            .iter()
            .map(|r| TerosPoint {
                ts: if w.stream { r.ts_server } else { r.ts },
                vwc: vwc_percent(r.vwc),
                raw_vwc: r.raw_vwc,
                temp: r.temp,
                ec: r.ec.map(i64::from),
            })
            .collect());
    }
    let plan = plan(&w);
    let mut buckets: BTreeMap<NaiveDateTime, [Mean; 4]> = BTreeMap::new();
    for (from, to) in &plan.raw {
        for r in measurements::teros_rows(conn, cell_id, *from, *to)? {
            let [vwc, raw, temp, ec] = buckets.entry(w.resample.bucket(r.ts)).or_default();
            vwc.add(vwc_percent(r.vwc));
            raw.add(r.raw_vwc);
            temp.add(r.temp);
            ec.add(r.ec.map(f64::from));
        }
    }
    if let Some((from, to)) = plan.full {
        for (bucket, parts) in crate::rollups::teros(conn, cell_id, plan.width, from, to)? {
            let means = buckets.entry(w.resample.bucket(at(bucket))).or_default();
            for (mean, part) in means.iter_mut().zip(parts) {
                mean.add_many(part);
            }
        }
    }
    Ok(buckets
        .into_iter()
        .filter(|(_, means)| means.iter().any(|m| m.n > 0))
        .map(|(ts, [vwc, raw, temp, ec])| TerosPoint {
            ts,
            vwc: vwc.get(),
            raw_vwc: raw.get(),
            temp: temp.get(),
            ec: ec.get().map(|e| e.trunc() as i64),
        })
        .collect())
}

/// A generic series: the series' metadata and its points.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorSeries {
    /// The series, or `None` when the cell has no such series.
    pub sensor: Option<Sensor>,
    /// (time, value): integers stay integers in raw reads; averages are floats.
    pub points: Vec<(NaiveDateTime, Option<Number>)>,
}

/// The series (cell, name, measurement) over `[start, end]`, ordered by time.
pub fn sensor(
    conn: &mut DbConn,
    cell_id: i32,
    name: &str,
    measurement: &str,
    w: Window,
) -> Result<SensorSeries, DbError> {
    let Some(sensor) = measurements::find_sensor(conn, cell_id, name, measurement)? else {
        return Ok(SensorSeries {
            sensor: None,
            points: Vec::new(),
        });
    };
    if w.stream || w.resample == Resample::None {
        let is_int = sensor.data_type == "int";
        let points = measurements::sensor_values(conn, sensor.id, w.start, w.end)?
            .iter()
            .map(|v| {
                let value = match (is_int, v.int_val) {
                    (true, Some(i)) => Some(Number::Int(i)),
                    _ => v.float_val.map(Number::Float),
                };
                (v.ts, value)
            })
            .collect();
        return Ok(SensorSeries {
            sensor: Some(sensor),
            points,
        });
    }
    let plan = plan(&w);
    let mut buckets: BTreeMap<NaiveDateTime, Mean> = BTreeMap::new();
    for (from, to) in &plan.raw {
        for v in measurements::sensor_values(conn, sensor.id, *from, *to)? {
            buckets
                .entry(w.resample.bucket(v.ts))
                .or_default()
                .add(v.float_val);
        }
    }
    if let Some((from, to)) = plan.full {
        for (bucket, n, total) in crate::rollups::values(conn, sensor.id, plan.width, from, to)? {
            buckets
                .entry(w.resample.bucket(at(bucket)))
                .or_default()
                .add_many((n, total));
        }
    }
    let points = buckets
        .into_iter()
        .filter(|(_, m)| m.n > 0)
        .map(|(ts, m)| (ts, m.get().map(Number::Float)))
        .collect();
    Ok(SensorSeries {
        sensor: Some(sensor),
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::{Mean, Resample};
    use chrono::NaiveDate;

    #[test]
    fn raw_means_skip_what_rollups_skip() {
        let mut mean = Mean::default();
        for v in [
            Some(5.0),
            Some(f64::NAN),
            None,
            Some(f64::INFINITY),
            Some(7.0),
        ] {
            mean.add(v);
        }
        assert_eq!(mean.get(), Some(6.0));
    }

    #[test]
    fn buckets_follow_date_trunc() {
        let t = NaiveDate::from_ymd_opt(2024, 1, 13)
            .and_then(|d| d.and_hms_opt(18, 20, 5))
            .expect("time");
        let at = |y, m, d, h| {
            NaiveDate::from_ymd_opt(y, m, d)
                .and_then(|d| d.and_hms_opt(h, 0, 0))
                .expect("time")
        };
        assert_eq!(Resample::Hour.bucket(t), at(2024, 1, 13, 18));
        assert_eq!(Resample::Day.bucket(t), at(2024, 1, 13, 0));
        assert_eq!(
            Resample::Week.bucket(t),
            at(2024, 1, 8, 0),
            "Saturday's week starts Monday the 8th"
        );
        assert_eq!(Resample::Month.bucket(t), at(2024, 1, 1, 0));
        let august = NaiveDate::from_ymd_opt(2024, 8, 30)
            .and_then(|d| d.and_hms_opt(1, 2, 3))
            .expect("time");
        assert_eq!(Resample::Quarter.bucket(august), at(2024, 7, 1, 0));
        assert_eq!(Resample::Year.bucket(august), at(2024, 1, 1, 0));
        assert_eq!(Resample::parse("fortnight"), None);
    }

    #[test]
    fn plans_split_partial_edges_from_full_buckets() {
        let t = |h, m, s| {
            NaiveDate::from_ymd_opt(2024, 1, 13)
                .and_then(|d| d.and_hms_opt(h, m, s))
                .expect("time")
        };
        let w = super::Window {
            start: t(10, 30, 0),
            end: t(13, 15, 0),
            resample: Resample::Hour,
            stream: false,
            raw_since: None,
        };
        let plan = super::plan(&w);
        assert_eq!(
            plan.full,
            Some((
                t(11, 0, 0).and_utc().timestamp(),
                t(13, 0, 0).and_utc().timestamp()
            ))
        );
        assert_eq!(
            plan.raw,
            vec![(t(10, 30, 0), t(10, 59, 59)), (t(13, 0, 0), t(13, 15, 0))]
        );
        let aligned = super::Window {
            start: t(10, 0, 0),
            end: t(11, 59, 59),
            resample: Resample::Hour,
            stream: false,
            raw_since: None,
        };
        let plan = super::plan(&aligned);
        assert!(plan.raw.is_empty());
        assert_eq!(
            plan.full,
            Some((
                t(10, 0, 0).and_utc().timestamp(),
                t(12, 0, 0).and_utc().timestamp()
            ))
        );
        let inside = super::Window {
            start: t(10, 10, 0),
            end: t(10, 50, 0),
            resample: Resample::Hour,
            stream: false,
            raw_since: None,
        };
        assert_eq!(super::plan(&inside).full, None);
    }

    #[test]
    fn plans_answer_edges_before_the_horizon_from_whole_buckets() {
        let t = |d, h, m| {
            NaiveDate::from_ymd_opt(2024, 1, d)
                .and_then(|d| d.and_hms_opt(h, m, 0))
                .expect("time")
        };
        let secs = |t: chrono::NaiveDateTime| t.and_utc().timestamp();
        // Both edges before the horizon: whole hours from the rollups, no raw rows.
        let w = super::Window {
            start: t(13, 10, 30),
            end: t(13, 13, 15),
            resample: Resample::Hour,
            stream: false,
            raw_since: Some(t(14, 0, 0)),
        };
        let plan = super::plan(&w);
        assert!(plan.raw.is_empty());
        assert_eq!(plan.full, Some((secs(t(13, 10, 0)), secs(t(13, 14, 0)))));
        // Inside one hour before the horizon: that hour, whole.
        let inside = super::Window {
            start: t(13, 10, 10),
            end: t(13, 10, 50),
            ..w
        };
        assert_eq!(
            super::plan(&inside).full,
            Some((secs(t(13, 10, 0)), secs(t(13, 11, 0))))
        );
        // The start before the horizon, the end after it: the end's partial hour still raw.
        let across = super::Window {
            end: t(14, 5, 15),
            ..w
        };
        let plan = super::plan(&across);
        assert_eq!(plan.full, Some((secs(t(13, 10, 0)), secs(t(14, 5, 0)))));
        assert_eq!(plan.raw, vec![(t(14, 5, 0), t(14, 5, 15))]);
    }
}
