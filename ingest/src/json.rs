//! `POST /api/sensor_json/`: one already-decoded legacy measurement as JSON (reference §6.5).

use serde_json::Value;

use crate::legacy::{electrical_conductivity, power, teros};
use crate::{DecodeError, Door, Number, Upload, sensor_rows};

/// The generic kinds the JSON door accepts: `(kind, [(data key, unit)])`; keys are used as given.
const SENSOR_KINDS: &[(&str, &[(&str, &str)])] = &[
    ("phytos31", &[("voltage", "V"), ("leafWetness", "?")]),
    (
        "bme280",
        &[("pressure", "hPa"), ("temperature", "C"), ("humidity", "%")],
    ),
    ("teros21", &[("matricPot", "kPa"), ("temp", "C")]),
    ("sen0308", &[("voltage", "V"), ("humidity", "%")]),
    ("sen0257", &[("voltage", "V"), ("pressure", "kPa")]),
    ("yfs210c", &[("flow", "L/Min")]),
    ("pcap02", &[("capacitance", "F")]),
    (
        "co2",
        &[
            ("CO2", "PPM"),
            ("state", "Boolean"),
            ("Photoresistivity", "Ohms"),
        ],
    ),
    ("D10", &[("flow", "G/Min")]),
];

fn field<'a>(
    obj: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<&'a Value, DecodeError> {
    obj.get(name).ok_or_else(|| DecodeError::BadField {
        field: name.to_owned(),
        problem: "missing".into(),
    })
}

fn number(value: &Value, name: &str) -> Result<Number, DecodeError> {
    let bad = || DecodeError::BadField {
        field: name.to_owned(),
        problem: "must be a number".into(),
    };
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(Number::Int(i)),
            None => n.as_f64().map(Number::Float).ok_or_else(bad),
        },
        _ => Err(bad()),
    }
}

fn id(obj: &serde_json::Map<String, Value>, name: &str) -> Result<u32, DecodeError> {
    field(obj, name)?
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| DecodeError::BadField {
            field: name.to_owned(),
            problem: "must be a non-negative integer".into(),
        })
}

/// Decodes the JSON form; unlike ENTS, unknown kinds, missing keys and non-numeric values are
/// refused (4xx) instead of half-stored or silently dropped.
pub fn decode_json(value: &Value) -> Result<Upload, DecodeError> {
    let obj = value.as_object().ok_or_else(|| DecodeError::BadField {
        field: "body".into(),
        problem: "must be an object".into(),
    })?;
    let kind = field(obj, "type")?
        .as_str()
        .ok_or_else(|| DecodeError::BadField {
            field: "type".into(),
            problem: "must be a string".into(),
        })?;
    let cell = id(obj, "cellId")?;
    let logger = match obj.get("loggerId") {
        None | Some(Value::Null) => None,
        Some(_) => Some(id(obj, "loggerId")?),
    };
    let ts = number(field(obj, "ts")?, "ts")?.as_f64().floor() as i64;
    let data = field(obj, "data")?
        .as_object()
        .ok_or_else(|| DecodeError::BadField {
            field: "data".into(),
            problem: "must be an object".into(),
        })?;
    let get = |key: &str| -> Result<Number, DecodeError> {
        number(
            field(data, key).map_err(|_| DecodeError::BadField {
                field: format!("data.{key}"),
                problem: "missing".into(),
            })?,
            &format!("data.{key}"),
        )
    };
    let (rows, event) = match kind {
        "power" => {
            let logger = logger.ok_or_else(|| DecodeError::BadField {
                field: "loggerId".into(),
                problem: "missing".into(),
            })?;
            power(
                cell,
                Some(logger),
                ts,
                get("voltage")?.as_f64(),
                get("current")?.as_f64(),
            )
        }
        "teros12" => {
            let ec = match data.get("ec") {
                None | Some(Value::Null) => None,
                Some(v) => {
                    let ec = number(v, "data.ec")?.as_f64().round();
                    // Saturating cast; anything beyond i32 is refused by the range check.
                    Some(electrical_conductivity(ec as i64, "data.ec")?)
                }
            };
            teros(
                cell,
                logger,
                ts,
                get("vwcRaw")?.as_f64(),
                get("vwcAdj")?.as_f64(),
                get("temp")?.as_f64(),
                ec,
            )
        }
        other => {
            let (_, keys) = SENSOR_KINDS
                .iter()
                .find(|(k, _)| *k == other)
                .ok_or_else(|| DecodeError::UnknownType(other.to_owned()))?;
            let mut values = Vec::with_capacity(keys.len());
            for (key, unit) in keys.iter() {
                if data.contains_key(*key) {
                    values.push((*key, *unit, get(key)?));
                }
            }
            if values.is_empty() {
                return Err(DecodeError::BadField {
                    field: "data".into(),
                    problem: format!("no {other} values"),
                });
            }
            sensor_rows(other, cell, logger, ts, values)
        }
    };
    Ok(Upload {
        door: Door::Legacy,
        rows,
        events: vec![event],
    })
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
    use serde_json::json;

    #[test]
    fn bool_and_string_values_are_refused() {
        let body = json!({"type": "bme280", "cellId": 1, "ts": 1_705_168_805,
                          "data": {"pressure": true, "temperature": "hot", "humidity": 1}});
        assert!(matches!(
            decode_json(&body),
            Err(DecodeError::BadField { .. })
        ));
    }

    #[test]
    fn conductivity_beyond_the_stored_integer_is_refused_not_nulled() {
        let teros = |ec: Value| {
            json!({"type": "teros12", "cellId": 1, "loggerId": 1, "ts": 1_705_168_805,
                   "data": {"vwcRaw": 2000.0, "vwcAdj": 0.3, "temp": 21.0, "ec": ec}})
        };
        for ec in [json!(3e9), json!(-3e9), json!(1e300)] {
            match decode_json(&teros(ec.clone())) {
                Err(DecodeError::BadField { field, .. }) => assert_eq!(field, "data.ec"),
                other => panic!("ec {ec}: {other:?}"),
            }
        }
        let up = decode_json(&teros(json!(2_147_483_647))).expect("the largest stored value");
        assert!(matches!(
            up.rows[0].data,
            crate::RowData::Teros {
                ec: Some(2_147_483_647),
                ..
            }
        ));
    }

    #[test]
    fn co2_keeps_its_keys_and_units() {
        let body = json!({"type": "co2", "cellId": 3, "ts": 1_705_168_805, "data": {"CO2": 415.5, "state": 1}});
        let up = decode_json(&body).expect("valid");
        assert_eq!(up.rows.len(), 2);
        assert_eq!(up.events[0].obj_count, 2);
    }

    #[test]
    fn unknown_kinds_and_missing_ids_are_refused() {
        assert!(matches!(
            decode_json(&json!({"type": "nope", "cellId": 1, "ts": 1, "data": {}})),
            Err(DecodeError::UnknownType(_))
        ));
        assert!(
            decode_json(&json!({"type": "power", "ts": 1, "data": {"voltage": 1, "current": 1}}))
                .is_err()
        );
    }
}
