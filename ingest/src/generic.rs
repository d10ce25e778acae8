//! The generic `RepeatedSensorMeasurements` message (reference §6.4, §7.3).

use prost::Message;

use crate::pb::sensor_measurement::Value;
use crate::pb::{RepeatedSensorMeasurements, SensorType};
use crate::{DecodeError, Door, LiveEvent, Number, Row, RowData, Upload, sensor_type_info};

/// Decodes a generic upload (`SensorVersion: 2`, TTN port 2). Each measurement without its own
/// `meta` takes the message's; every measurement needs a known type and a value.
pub fn decode_generic(bytes: &[u8]) -> Result<Upload, DecodeError> {
    let msg = RepeatedSensorMeasurements::decode(bytes).map_err(|e| DecodeError::Malformed {
        message: "RepeatedSensorMeasurements",
        detail: e.to_string(),
    })?;
    if msg.measurements.is_empty() {
        return Err(DecodeError::NoMeasurement);
    }
    let mut rows = Vec::with_capacity(msg.measurements.len());
    let mut events = Vec::with_capacity(msg.measurements.len());
    for (index, m) in msg.measurements.iter().enumerate() {
        let meta = m.meta.or(msg.meta).ok_or(DecodeError::MissingMeta)?;
        let kind = SensorType::try_from(m.r#type)
            .map_err(|_| DecodeError::UnknownType(m.r#type.to_string()))?;
        let (measurement, unit) = sensor_type_info(kind)
            .ok_or_else(|| DecodeError::UnknownType(kind.as_str_name().to_owned()))?;
        let value = match m.value {
            Some(Value::UnsignedInt(v)) => Number::Int(i64::from(v)),
            Some(Value::SignedInt(v)) => Number::Int(i64::from(v)),
            Some(Value::Decimal(v)) => Number::Float(v),
            None => return Err(DecodeError::MissingValue(index)),
        };
        let name = kind.as_str_name().to_owned();
        let ts = i64::from(meta.ts);
        let mut data = serde_json::Map::new();
        data.insert(measurement.to_owned(), crate::number_json(value));
        events.push(LiveEvent {
            kind: name.clone(),
            cell_id: meta.cell_id,
            logger_id: Some(meta.logger_id),
            timestamp: ts,
            data,
            obj_count: 1,
        });
        rows.push(Row {
            cell_id: meta.cell_id,
            logger_id: Some(meta.logger_id),
            ts,
            data: RowData::Sensor {
                name,
                measurement: measurement.to_owned(),
                unit: unit.to_owned(),
                value,
            },
        });
    }
    Ok(Upload {
        door: Door::Generic,
        rows,
        events,
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

    #[test]
    fn reference_generic_example_decodes() {
        let bytes: Vec<u8> = (0.."0a0a0801100118a59f8bad061a0b100129000000000000f43f1a0410021807"
            .len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(
                    &"0a0a0801100118a59f8bad061a0b100129000000000000f43f1a0410021807"[i..i + 2],
                    16,
                )
                .expect("hex")
            })
            .collect();
        let up = decode_generic(&bytes).expect("valid");
        assert_eq!(up.rows.len(), 2);
        assert_eq!(
            up.rows[0].data,
            RowData::Sensor {
                name: "POWER_VOLTAGE".into(),
                measurement: "Voltage".into(),
                unit: "mV".into(),
                value: Number::Float(1.25)
            }
        );
        assert_eq!(
            up.rows[1].data,
            RowData::Sensor {
                name: "POWER_CURRENT".into(),
                measurement: "Current".into(),
                unit: "uA".into(),
                value: Number::Int(7)
            }
        );
    }

    #[test]
    fn legacy_bytes_are_not_a_generic_message() {
        let legacy: Vec<u8> = vec![0x0a, 0x02, 0x08, 0x01, 0x12, 0x02, 0x11, 0x00];
        assert!(decode_generic(&legacy).is_err());
        assert!(decode_generic(b"\xff\xfe garbage").is_err());
    }
}
