//! Time series as the read endpoints serve them: raw rows or averages per calendar bucket
//! (`date_trunc` semantics: weeks start on Monday, quarters in Jan/Apr/Jul/Oct, all UTC),
//! computed the same way on both databases.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};

use crate::measurements::{self, Value};
use crate::models::Sensor;
use crate::{DbConn, DbError};

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
}

/// Running averages per bucket; `None` inputs are skipped like SQL's AVG.
#[derive(Default)]
struct Mean {
    sum: f64,
    n: u32,
}

impl Mean {
    fn add(&mut self, v: Option<f64>) {
        if let Some(v) = v {
            self.sum += v;
            self.n += 1;
        }
    }
    fn get(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / f64::from(self.n))
    }
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

/// A cell's power series over `[start, end]` (inclusive).
pub fn power(conn: &mut DbConn, cell_id: i32, w: Window) -> Result<Vec<PowerPoint>, DbError> {
    let Window {
        start,
        end,
        resample,
        stream,
    } = w;
    let rows = measurements::power_rows(conn, cell_id, start, end)?;
    let point = |ts, v: Option<f64>, i: Option<f64>| PowerPoint {
        ts,
        v: v.map(|v| v * 1e3),
        i: i.map(|i| i * 1e6),
        p: v.zip(i).map(|(v, i)| v * i * 1e6),
    };
    if stream {
        let mut points: Vec<PowerPoint> = rows
            .iter()
            .map(|r| point(r.ts_server, r.voltage, r.current))
            .collect();
        points.sort_by_key(|p| p.ts);
        return Ok(points);
    }
    if resample == Resample::None {
        return Ok(rows
            .iter()
            .map(|r| point(r.ts, r.voltage, r.current))
            .collect());
    }
    let mut buckets: BTreeMap<NaiveDateTime, (Mean, Mean, Mean)> = BTreeMap::new();
    for r in &rows {
        let (v, i, p) = buckets.entry(resample.bucket(r.ts)).or_default();
        v.add(r.voltage);
        i.add(r.current);
        p.add(r.voltage.zip(r.current).map(|(v, i)| v * i));
    }
    Ok(buckets
        .into_iter()
        .map(|(ts, (v, i, p))| PowerPoint {
            ts,
            v: v.get().map(|v| v * 1e3),
            i: i.get().map(|i| i * 1e6),
            p: p.get().map(|p| p * 1e6),
        })
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

/// A stored VWC in (0, 1] is a fraction: served as percent. Applied once, per row.
fn vwc_percent(v: Option<f64>) -> Option<f64> {
    v.map(|v| if v > 0.0 && v <= 1.0 { v * 100.0 } else { v })
}

/// A cell's TEROS series over `[start, end]`.
pub fn teros(conn: &mut DbConn, cell_id: i32, w: Window) -> Result<Vec<TerosPoint>, DbError> {
    let Window {
        start,
        end,
        resample,
        stream,
    } = w;
    let rows = measurements::teros_rows(conn, cell_id, start, end)?;
    if stream || resample == Resample::None {
        return Ok(rows
            .iter()
            .map(|r| TerosPoint {
                ts: if stream { r.ts_server } else { r.ts },
                vwc: vwc_percent(r.vwc),
                raw_vwc: r.raw_vwc,
                temp: r.temp,
                ec: r.ec.map(i64::from),
            })
            .collect());
    }
    let mut buckets: BTreeMap<NaiveDateTime, [Mean; 4]> = BTreeMap::new();
    for r in &rows {
        let [vwc, raw, temp, ec] = buckets.entry(resample.bucket(r.ts)).or_default();
        vwc.add(vwc_percent(r.vwc));
        raw.add(r.raw_vwc);
        temp.add(r.temp);
        ec.add(r.ec.map(f64::from));
    }
    Ok(buckets
        .into_iter()
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
    pub points: Vec<(NaiveDateTime, Option<Value>)>,
}

/// The series (cell, name, measurement) over `[start, end]`, ordered by time.
pub fn sensor(
    conn: &mut DbConn,
    cell_id: i32,
    name: &str,
    measurement: &str,
    w: Window,
) -> Result<SensorSeries, DbError> {
    let Window {
        start,
        end,
        resample,
        stream,
    } = w;
    let Some(sensor) = measurements::find_sensor(conn, cell_id, name, measurement)? else {
        return Ok(SensorSeries {
            sensor: None,
            points: Vec::new(),
        });
    };
    let values = measurements::sensor_values(conn, sensor.id, start, end)?;
    let is_int = sensor.data_type == "int";
    let value_of = |v: &measurements::SensorValue| match (is_int, v.int_val) {
        (true, Some(i)) => Some(Value::Int(i)),
        _ => v.float_val.map(Value::Float),
    };
    let points = if stream || resample == Resample::None {
        values.iter().map(|v| (v.ts, value_of(v))).collect()
    } else {
        let mut buckets: BTreeMap<NaiveDateTime, Mean> = BTreeMap::new();
        for v in &values {
            buckets
                .entry(resample.bucket(v.ts))
                .or_default()
                .add(v.float_val);
        }
        buckets
            .into_iter()
            .map(|(ts, m)| (ts, m.get().map(Value::Float)))
            .collect()
    };
    Ok(SensorSeries {
        sensor: Some(sensor),
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::Resample;
    use chrono::NaiveDate;

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
}
