//! The legacy `Measurement` message (reference §6.3, §7.1).

use prost::Message;

use crate::pb::measurement::Measurement as Kind;
use crate::{DecodeError, Door, LiveEvent, Number, Row, RowData, Upload, sensor_rows};

/// Decodes a legacy protobuf upload (`application/octet-stream`, TTN port 1). Unlike ENTS, the
/// kinds ENTS acknowledged and dropped (d10, watermark, edu0157, waterLevel, pcap02) are stored.
pub fn decode_legacy(bytes: &[u8]) -> Result<Upload, DecodeError> {
    let msg = crate::pb::Measurement::decode(bytes).map_err(|e| DecodeError::Malformed {
        message: "Measurement",
        detail: e.to_string(),
    })?;
    let meta = msg.meta.ok_or(DecodeError::MissingMeta)?;
    let kind = msg.measurement.ok_or(DecodeError::NoMeasurement)?;
    let (cell, logger, ts) = (meta.cell_id, Some(meta.logger_id), i64::from(meta.ts));
    let f = Number::Float;
    let i = |v: u32| Number::Int(i64::from(v));
    let (rows, event) = match kind {
        Kind::Power(p) => power(cell, logger, ts, p.voltage, p.current),
        Kind::Teros12(t) => teros(
            cell,
            logger,
            ts,
            t.vwc_raw,
            t.vwc_adj,
            t.temp,
            Some(electrical_conductivity(i64::from(t.ec), "teros12.ec")?),
        ),
        Kind::Phytos31(p) => sensor_rows(
            "phytos31",
            cell,
            logger,
            ts,
            vec![
                ("voltage", "V", f(p.voltage)),
                ("leafWetness", "?", f(p.leaf_wetness)),
            ],
        ),
        Kind::Bme280(b) => sensor_rows(
            "bme280",
            cell,
            logger,
            ts,
            vec![
                ("pressure", "hPa", f(f64::from(b.pressure) / 10.0)),
                ("temperature", "C", f(f64::from(b.temperature) / 100.0)),
                ("humidity", "%", f(f64::from(b.humidity) / 1000.0)),
            ],
        ),
        Kind::Teros21(t) => sensor_rows(
            "teros21",
            cell,
            logger,
            ts,
            vec![
                ("matricPot", "kPa", f(t.matric_pot)),
                ("temp", "C", f(t.temp)),
            ],
        ),
        Kind::Sen0308(s) => sensor_rows(
            "sen0308",
            cell,
            logger,
            ts,
            vec![
                ("voltage", "V", f(s.voltage)),
                ("humidity", "%", f(s.humidity)),
            ],
        ),
        Kind::Sen0257(s) => sensor_rows(
            "sen0257",
            cell,
            logger,
            ts,
            vec![
                ("voltage", "V", f(s.voltage)),
                ("pressure", "kPa", f(s.pressure)),
            ],
        ),
        Kind::Yfs210c(y) => sensor_rows(
            "yfs210c",
            cell,
            logger,
            ts,
            vec![("flow", "L/Min", f(y.flow))],
        ),
        Kind::Pcap02(p) => sensor_rows(
            "pcap02",
            cell,
            logger,
            ts,
            vec![("capacitance", "F", f(p.capacitance))],
        ),
        Kind::D10(d) => sensor_rows(
            "d10",
            cell,
            logger,
            ts,
            vec![
                ("flow", "gal/min", f(d.flow)),
                ("volumeElapsed", "gal", i(d.volume_elapsed)),
                ("timeElapsed", "s", i(d.time_elapsed)),
            ],
        ),
        Kind::Watermark200ss(w) => sensor_rows(
            "watermark200ss",
            cell,
            logger,
            ts,
            vec![("soilTension", "kPa", f(w.soil_tension))],
        ),
        Kind::Watermark200ts(w) => sensor_rows(
            "watermark200ts",
            cell,
            logger,
            ts,
            vec![("temperature", "C", f(w.temperature))],
        ),
        Kind::Edu0157(e) => sensor_rows(
            "edu0157",
            cell,
            logger,
            ts,
            vec![
                ("windSpeed", "m/s", f(e.wind_speed)),
                ("windDirection", "degrees E of N", i(e.wind_direction)),
                ("altitude", "m", f(e.altitude)),
                ("pressure", "hPa", f(e.pressure)),
                ("temperature", "C", f(e.temperature)),
                ("humidity", "%", f(e.humidity)),
            ],
        ),
        Kind::WaterLevel(w) => sensor_rows(
            "waterLevel",
            cell,
            logger,
            ts,
            vec![("meters", "m", f(w.meters)), ("voltage", "V", f(w.voltage))],
        ),
    };
    Ok(Upload {
        door: Door::Legacy,
        rows,
        events: vec![event],
    })
}

/// A power row and its event.
pub(crate) fn power(
    cell_id: u32,
    logger_id: Option<u32>,
    ts: i64,
    voltage: f64,
    current: f64,
) -> (Vec<Row>, LiveEvent) {
    let mut data = serde_json::Map::new();
    data.insert("voltage".into(), crate::number_json(Number::Float(voltage)));
    data.insert("current".into(), crate::number_json(Number::Float(current)));
    let row = Row {
        cell_id,
        logger_id,
        ts,
        data: RowData::Power { voltage, current },
    };
    (
        vec![row],
        LiveEvent {
            kind: "power".into(),
            cell_id,
            logger_id,
            timestamp: ts,
            data,
            obj_count: 1,
        },
    )
}

/// A TEROS-12 row and its event.
/// A TEROS conductivity the store can hold (µS/cm as a 32-bit integer, as in ENTS's table):
/// anything wider is refused rather than silently stored as NULL.
pub(crate) fn electrical_conductivity(ec: i64, field: &str) -> Result<i64, DecodeError> {
    if i32::try_from(ec).is_ok() {
        Ok(ec)
    } else {
        Err(DecodeError::BadField {
            field: field.into(),
            problem: format!("{ec} is out of range ({} to {})", i32::MIN, i32::MAX),
        })
    }
}

pub(crate) fn teros(
    cell_id: u32,
    logger_id: Option<u32>,
    ts: i64,
    vwc_raw: f64,
    vwc_adj: f64,
    temp: f64,
    ec: Option<i64>,
) -> (Vec<Row>, LiveEvent) {
    let mut data = serde_json::Map::new();
    data.insert("vwcRaw".into(), crate::number_json(Number::Float(vwc_raw)));
    data.insert("vwcAdj".into(), crate::number_json(Number::Float(vwc_adj)));
    data.insert("temp".into(), crate::number_json(Number::Float(temp)));
    data.insert("ec".into(), ec.map_or(serde_json::Value::Null, Into::into));
    let row = Row {
        cell_id,
        logger_id,
        ts,
        data: RowData::Teros {
            vwc: vwc_adj,
            raw_vwc: vwc_raw,
            temp,
            ec,
            water_pot: None,
        },
    };
    (
        vec![row],
        LiveEvent {
            kind: "teros12".into(),
            cell_id,
            logger_id,
            timestamp: ts,
            data,
            obj_count: 1,
        },
    )
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn conductivity_beyond_the_stored_integer_is_refused() {
        let encode = |ec: u32| {
            crate::pb::Measurement {
                meta: Some(crate::pb::MeasurementMetadata {
                    cell_id: 1,
                    logger_id: 1,
                    ts: 1_705_168_805,
                }),
                measurement: Some(Kind::Teros12(crate::pb::Teros12Measurement {
                    vwc_raw: 2000.0,
                    vwc_adj: 0.3,
                    temp: 21.0,
                    ec,
                })),
            }
            .encode_to_vec()
        };
        assert!(matches!(
            decode_legacy(&encode(u32::MAX)),
            Err(DecodeError::BadField { .. })
        ));
        let up = decode_legacy(&encode(1_000)).expect("valid");
        assert!(matches!(
            up.rows[0].data,
            RowData::Teros {
                ec: Some(1_000),
                ..
            }
        ));
    }

    #[test]
    fn reference_power_example_decodes() {
        let up = decode_legacy(&hex(
            "0a0a0801100118a59f8bad06121211000000000000e03f19fca9f1d24d62503f",
        ))
        .expect("valid");
        assert_eq!(up.rows.len(), 1);
        let row = &up.rows[0];
        assert_eq!(
            (row.cell_id, row.logger_id, row.ts),
            (1, Some(1), 1_705_168_805)
        );
        assert_eq!(
            row.data,
            RowData::Power {
                voltage: 0.5,
                current: 0.001
            }
        );
        assert_eq!(up.events[0].kind, "power");
    }

    #[test]
    fn reference_bme280_example_is_scaled() {
        let up = decode_legacy(&hex("0a0a0801100118a59f8bad062a0b08a9810610e31118d0d402"))
            .expect("valid");
        let values: Vec<(String, f64)> = up
            .rows
            .iter()
            .map(|r| match &r.data {
                RowData::Sensor {
                    measurement, value, ..
                } => (measurement.clone(), value.as_f64()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(values[0].0, "pressure");
        assert!((values[0].1 - 9847.3).abs() < 1e-9);
        assert!((values[1].1 - 22.75).abs() < 1e-12);
        assert!((values[2].1 - 43.6).abs() < 1e-12);
        assert_eq!(up.events[0].obj_count, 3);
    }

    #[test]
    fn truncated_and_empty_messages_are_refused() {
        let full = hex("0a0a0801100118a59f8bad06121211000000000000e03f19fca9f1d24d62503f");
        for cut in [1, 5, 12] {
            assert!(
                decode_legacy(&full[..full.len() - cut]).is_err(),
                "cut {cut}"
            );
        }
        assert_eq!(decode_legacy(&[]), Err(DecodeError::MissingMeta));
        assert!(decode_legacy(b"\xff\xfe garbage").is_err());
    }
}
