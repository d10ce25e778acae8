//! Helpers shared by the fuzz targets.

use loam_ingest::{Number, Row, RowData, Upload};

/// Float equality for round trips: NaN equals NaN (readings may be NaN), and -0.0 equals 0.0
/// (proto3 does not write a zero, so -0.0 comes back as 0.0).
fn same_f64(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn same_number(a: Number, b: Number) -> bool {
    match (a, b) {
        (Number::Float(a), Number::Float(b)) => same_f64(a, b),
        (Number::Int(a), Number::Int(b)) => a == b,
        _ => false,
    }
}

fn same_row(a: &Row, b: &Row) -> bool {
    (a.cell_id, a.logger_id, a.ts) == (b.cell_id, b.logger_id, b.ts)
        && match (&a.data, &b.data) {
            (
                RowData::Power { voltage, current },
                RowData::Power {
                    voltage: v,
                    current: c,
                },
            ) => same_f64(*voltage, *v) && same_f64(*current, *c),
            (
                RowData::Teros {
                    vwc,
                    raw_vwc,
                    temp,
                    ec,
                    water_pot,
                },
                RowData::Teros {
                    vwc: v,
                    raw_vwc: r,
                    temp: t,
                    ec: e,
                    water_pot: w,
                },
            ) => {
                same_f64(*vwc, *v)
                    && same_f64(*raw_vwc, *r)
                    && same_f64(*temp, *t)
                    && ec == e
                    && match (water_pot, w) {
                        (Some(a), Some(b)) => same_f64(*a, *b),
                        (a, b) => a.is_none() && b.is_none(),
                    }
            }
            (
                RowData::Sensor {
                    name,
                    measurement,
                    unit,
                    value,
                },
                RowData::Sensor {
                    name: n,
                    measurement: m,
                    unit: u,
                    value: v,
                },
            ) => (name, measurement, unit) == (n, m, u) && same_number(*value, *v),
            _ => false,
        }
}

/// Whether two uploads state the same thing (see [`same_f64`] for floats). Events compare as
/// they are: their values are JSON, where NaN is already `null` and -0.0 equals 0.0.
pub fn same_upload(a: &Upload, b: &Upload) -> bool {
    a.door == b.door
        && a.events == b.events
        && a.rows.len() == b.rows.len()
        && a.rows.iter().zip(&b.rows).all(|(a, b)| same_row(a, b))
}
