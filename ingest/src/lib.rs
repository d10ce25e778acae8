//! Loam's device input. Decodes the three ENTS upload doors — the legacy protobuf `Measurement`,
//! the generic `RepeatedSensorMeasurements` (`SensorVersion: 2`), TTN webhooks and ChirpStack
//! events carrying either,
//! and `/api/sensor_json/` — into one neutral [`Upload`]: the rows to store and the live events
//! to emit after commit. Pure: no HTTP, no database; the caller checks who may write where.

// Everything here reads outside input: no byte-index slicing of text, no indexing that can go
// out of bounds, no unwrap/expect (fuzzed by `fuzz/`, see scripts/fuzz).
#![deny(
    clippy::string_slice,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

pub mod chirpstack;
mod generic;
mod json;
mod legacy;
pub mod ttn;

pub use generic::decode_generic;
pub use json::decode_json;
pub use legacy::decode_legacy;

/// Decodes the frame an uplink (TTN or ChirpStack) carries; `None` when it stores nothing (time
/// sync, no port, unknown port: the door decides how to answer those).
pub fn decode_uplink(uplink: &ttn::Uplink) -> Option<Result<Upload, DecodeError>> {
    match uplink {
        ttn::Uplink::Legacy(bytes) => Some(decode_legacy(bytes)),
        ttn::Uplink::Generic(bytes) => Some(decode_generic(bytes)),
        ttn::Uplink::TimeSync | ttn::Uplink::NothingToStore | ttn::Uplink::UnknownPort => None,
    }
}

/// The protobuf types generated at build time from `proto/*.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/_.rs"));
}

pub use loam_readings::{Number, RowData};

/// A number as JSON for live events (a non-finite float is `null`).
fn number_json(n: Number) -> serde_json::Value {
    match n {
        Number::Float(f) => {
            serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
        }
        Number::Int(i) => i.into(),
    }
}

/// One row to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The cell it belongs to.
    pub cell_id: u32,
    /// The logger that measured it (required for power rows).
    pub logger_id: Option<u32>,
    /// Device time, Unix seconds (UTC).
    pub ts: i64,
    /// The values.
    pub data: RowData,
}

/// A `measurement_received` event for the dashboard (reference §8), emitted after commit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LiveEvent {
    /// Measurement kind (`power`, `bme280`, …) or SensorType name.
    pub kind: String,
    /// The cell (the room is `cell_<id>`).
    pub cell_id: u32,
    /// The logger.
    pub logger_id: Option<u32>,
    /// Device time, Unix seconds.
    pub timestamp: i64,
    /// Values in device units with camelCase keys.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Rows written.
    pub obj_count: u32,
}

/// Which door an upload came through; decides the shape of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// Legacy `Measurement` (protobuf, TTN port 1, or `/api/sensor_json/`): protobuf `Response`.
    Legacy,
    /// Generic `RepeatedSensorMeasurements` (`SensorVersion: 2`, TTN port 2): empty 200.
    Generic,
}

/// A decoded upload.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// The door.
    pub door: Door,
    /// Rows to store, all or nothing.
    pub rows: Vec<Row>,
    /// Events to emit once the rows are committed.
    pub events: Vec<LiveEvent>,
}

/// Why an upload cannot be stored; every variant is the device's fault (a 4xx).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Not a valid protobuf message of the expected type (garbage, truncated, empty).
    #[error("cannot decode {message}: {detail}")]
    Malformed {
        /// The expected message type.
        message: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// No `meta` (cell, logger, time) anywhere.
    #[error("the measurement has no metadata (cell, logger, timestamp)")]
    MissingMeta,
    /// The message carries no measurement.
    #[error("the message carries no measurement")]
    NoMeasurement,
    /// A generic measurement without a value.
    #[error("measurement {0} has no value")]
    MissingValue(usize),
    /// A measurement kind Loam does not know.
    #[error("unknown measurement type {0:?}")]
    UnknownType(String),
    /// A JSON field is missing or of the wrong type.
    #[error("field {field:?}: {problem}")]
    BadField {
        /// The field.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A timestamp before 2000 or more than a day ahead.
    #[error("timestamp {0} is outside the accepted range (2000-01-01 to one day ahead)")]
    AbsurdTimestamp(i64),
}

/// 2000-01-01T00:00:00Z.
const EARLIEST: i64 = 946_684_800;

/// Refuses timestamps before 2000 or more than a day after `now` (Unix seconds).
pub fn check_timestamps(upload: &Upload, now: i64) -> Result<(), DecodeError> {
    for row in &upload.rows {
        if row.ts < EARLIEST || row.ts > now + 86_400 {
            return Err(DecodeError::AbsurdTimestamp(row.ts));
        }
    }
    Ok(())
}

/// The stored name and unit of each generic SensorType (reference §6.4).
pub fn sensor_type_info(t: pb::SensorType) -> Option<(&'static str, &'static str)> {
    use pb::SensorType as T;
    Some(match t {
        T::None => return None,
        T::PowerVoltage => ("Voltage", "mV"),
        T::PowerCurrent => ("Current", "uA"),
        T::Teros12Vwc => ("Volumetric Water Content (Raw)", "raw"),
        T::Teros12VwcAdj => ("Volumetric Water Content", "%"),
        T::Teros12Temp => ("Temperature", "C"),
        T::Teros12Ec => ("Electrical Conductivity", "uS/cm"),
        T::Phytos31Voltage => ("Voltage", "mV"),
        T::Phytos31LeafWetness => ("Leaf Wetness", "%"),
        T::Bme280Pressure => ("Pressure", "kPa"),
        T::Bme280Temp => ("Temperature", "C"),
        T::Bme280Humidity => ("Humidity", "%"),
        T::Teros21MatricPot => ("Matric Potential", "kPa"),
        T::Teros21Temp => ("Temperature", "C"),
        T::Sen0308Voltage => ("Voltage", "mV"),
        T::Sen0308Humidity => ("Humidity", "%"),
        T::Sen0257Voltage => ("Voltage", "mV"),
        T::Sen0257Pressure => ("Pressure", "kPa"),
        T::Yfs210cFlow => ("Flow Rate", "L/min"),
        T::Pcap02Capacitance => ("Capacitance Ratio", "pF/pF"),
        T::D10Flow => ("Flow rate", "gal/min"),
        T::D10VolumeElapsed => ("Volume Elapsed", "gal"),
        T::D10TimeElapsed => ("Time Elapsed", "s"),
        T::Watermark200ssSoilTension => ("Soil Tension", "kPa"),
        T::Watermark200tsSoilTemperature => ("Soil Temperature", "C"),
        T::Edu0157WindSpeed => ("Wind Speed", "m/s"),
        T::Edu0157WindDirection => ("Wind Direction", "degrees E of N"),
        T::Edu0157Altitude => ("Altitude", "m"),
        T::Edu0157Pressure => ("Pressure", "hPa"),
        T::Edu0157Temp => ("Temperature", "C"),
        T::Edu0157Humidity => ("Humidity", "%"),
        T::Alsmpm2fWaterLevel => ("Water Level", "m"),
        T::Alsmpm2fVoltage => ("Voltage", "V"),
    })
}

/// Builds the sensor rows and the event of one legacy measurement from `(key, unit, value)`.
fn sensor_rows(
    kind: &str,
    cell_id: u32,
    logger_id: Option<u32>,
    ts: i64,
    values: Vec<(&str, &str, Number)>,
) -> (Vec<Row>, LiveEvent) {
    let mut data = serde_json::Map::new();
    let rows: Vec<Row> = values
        .into_iter()
        .map(|(key, unit, value)| {
            data.insert(key.to_owned(), number_json(value));
            Row {
                cell_id,
                logger_id,
                ts,
                data: RowData::Sensor {
                    name: kind.to_owned(),
                    measurement: key.to_owned(),
                    unit: unit.to_owned(),
                    value,
                },
            }
        })
        .collect();
    let event = LiveEvent {
        kind: kind.to_owned(),
        cell_id,
        logger_id,
        timestamp: ts,
        data,
        obj_count: rows.len() as u32,
    };
    (rows, event)
}
