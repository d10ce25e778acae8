//! What a measurement is, in one place: the device decoders (`loam-ingest`) produce these and
//! the store (`loam-db`) writes them, so an upload crosses from wire to database without a
//! second, hand-converted copy of the same types.

/// A number as the device sent it; integers stay integers (ENTS's `int` sensors).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A floating-point reading.
    Float(f64),
    /// An integer reading.
    Int(i64),
}

impl Number {
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Float(f) => f,
            Number::Int(i) => i as f64,
        }
    }
}

/// What one row stores.
#[derive(Debug, Clone, PartialEq)]
pub enum RowData {
    /// A power reading (volts, amps).
    Power {
        /// Volts.
        voltage: f64,
        /// Amps.
        current: f64,
    },
    /// A TEROS-12 reading.
    Teros {
        /// Calibrated volumetric water content (fraction or percent).
        vwc: f64,
        /// Raw counts.
        raw_vwc: f64,
        /// °C.
        temp: f64,
        /// µS/cm.
        ec: Option<i64>,
        /// Water potential, kPa (only the legacy JSON insert carries it).
        water_pot: Option<f64>,
    },
    /// One value of a generic sensor series.
    Sensor {
        /// Kind, e.g. `bme280` or `POWER_VOLTAGE`.
        name: String,
        /// Quantity, e.g. `pressure` or `Voltage`.
        measurement: String,
        /// Unit.
        unit: String,
        /// The value.
        value: Number,
    },
}
