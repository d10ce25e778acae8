//! Measurements in and out: device uploads (with receipts), ENTS's series reads and legacy
//! inserts, and the dashboard's helpers (availability, sensor catalog, equation check).

use loam_schemas::insights::{Availability, Catalog, EquationValid};
use loam_schemas::series::{
    LegacyPowerInsert, LegacyPowerRow, LegacyTerosInsert, LegacyTerosRow, PowerSeries,
    SensorSeriesResponse, TerosSeries,
};
use reqwest::Method;
use serde::Serialize;

use crate::{Client, ClientError, read_bytes};

operations! {
    /// A cell's power series (ENTS's dashboard chart).
    GET "/api/power/{cell_id}" => fn power(cell_id: i32; query range: SeriesQuery) -> json PowerSeries;
    /// ENTS's `/api/power/` without a cell: always the empty series.
    GET "/api/power/" => fn power_without_cell() -> json PowerSeries;
    /// A cell's TEROS series.
    GET "/api/teros/{cell_id}" => fn teros(cell_id: i32; query range: SeriesQuery) -> json TerosSeries;
    /// ENTS's `/api/teros/` without a cell: always the empty series.
    GET "/api/teros/" => fn teros_without_cell() -> json TerosSeries;
    /// One sensor measurement's series over a range (ENTS's generic read).
    GET "/api/sensor/" => fn sensor_series(; query series: SensorQuery) -> json SensorSeriesResponse;
    /// The same read under ENTS's other path (the dashboard's JSON client uses it).
    GET "/api/sensor_json/" => fn sensor_series_json(; query series: SensorQuery) -> json SensorSeriesResponse;
    /// ENTS's legacy power insert, addressed by logger and cell names.
    POST "/api/power/" => fn insert_power(; json row: LegacyPowerInsert) -> json LegacyPowerRow;
    /// ENTS's legacy TEROS insert, addressed by cell name.
    POST "/api/teros/" => fn insert_teros(; json row: LegacyTerosInsert) -> json LegacyTerosRow;
    /// When the given cells have data, and whether it is recent.
    GET "/api/data-availability/" => fn data_availability(; query cells: CellIds) -> json Availability;
    /// The dashboard panels a cell's sensors offer.
    GET "/api/catalog/sensors" => fn sensor_catalog(; query cell: CatalogQuery) -> json Catalog;
    /// Checks a derived-series equation (e.g. `1:vwc / 1:temp`) before the dashboard plots it.
    POST "/api/equations/validate" => fn validate_equation(; json equation: Equation) -> json EquationValid;
}

/// Operations whose methods are written out below (they read the `Loam-Receipt` header).
pub(crate) const HAND_WRITTEN: &[(&str, &str)] = &[
    ("POST", "/api/sensor/"),
    ("POST", "/api/sensor_json/"),
    ("POST", "/api/chirpstack"),
];

/// A time range and resolution for the ENTS series reads; times are RFC 1123
/// (`Tue, 01 Jun 2021 00:00:00 GMT`), as the dashboard sends them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeriesQuery {
    /// Start (default: 30 days before the end).
    #[serde(rename = "startTime", skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// End (default: now).
    #[serde(rename = "endTime", skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// `none`, `second`, `minute`, `hour` (default), `day`, `week`, `month`, `quarter`, `year`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resample: Option<String>,
    /// Raw rows at server time (ENTS's live chart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// Which sensor series to read: the sensor name and measurement as the device sent them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SensorQuery {
    /// Sensor name (e.g. `phytos31`).
    pub name: String,
    /// Measurement (e.g. `voltage`).
    pub measurement: String,
    /// The cell.
    #[serde(rename = "cellId")]
    pub cell_id: i32,
    /// Start, RFC 1123.
    #[serde(rename = "startTime", skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// End, RFC 1123.
    #[serde(rename = "endTime", skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Resolution, as in [`SeriesQuery::resample`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resample: Option<String>,
}

/// Cells to ask [`Client::data_availability`] about.
#[derive(Debug, Clone, Serialize)]
pub struct CellIds {
    /// Comma-separated cell ids.
    pub cell_ids: String,
}

/// The cell whose sensor catalog to read.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogQuery {
    /// The cell.
    pub cell_id: i32,
}

/// An equation to check, optionally against the series of some cells.
#[derive(Debug, Clone, Serialize)]
pub struct Equation {
    /// The expression.
    pub expression: String,
    /// Cells whose series it must name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell_ids: Option<Vec<i32>>,
}

/// What the server said to a device upload.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// The answer's body (ENTS: an encoded protobuf `Response`; empty for generic uploads).
    pub body: Vec<u8>,
    /// The signed `Loam-Receipt`, when the upload carried a `Loam-Locator`; check it with
    /// `loam_receipts::verify_receipt`.
    pub receipt: Option<String>,
}

impl Client {
    /// Uploads an encoded protobuf `Measurement` (ENTS's legacy power/TEROS form) as a device;
    /// with a locator (32 hex characters) the server signs a receipt for exactly these bytes.
    pub async fn upload(
        &self,
        body: Vec<u8>,
        locator: Option<&str>,
    ) -> Result<Uploaded, ClientError> {
        self.upload_to(
            "/api/sensor/",
            "application/octet-stream",
            body,
            locator,
            None,
        )
        .await
    }

    /// Uploads an encoded `RepeatedSensorMeasurements` (the generic form, `SensorVersion: 2`),
    /// optionally receipted like [`Client::upload`].
    pub async fn upload_sensors(
        &self,
        body: Vec<u8>,
        locator: Option<&str>,
    ) -> Result<Uploaded, ClientError> {
        let version = Some(("SensorVersion", "2"));
        self.upload_to(
            "/api/sensor/",
            "application/octet-stream",
            body,
            locator,
            version,
        )
        .await
    }

    /// Uploads ENTS's JSON measurement form as a device, optionally receipted like [`Client::upload`].
    pub async fn upload_json(
        &self,
        measurement: &serde_json::Value,
        locator: Option<&str>,
    ) -> Result<Uploaded, ClientError> {
        let body =
            serde_json::to_vec(measurement).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.upload_to("/api/sensor_json/", "application/json", body, locator, None)
            .await
    }

    /// Posts a ChirpStack v4 integration event (`event` as ChirpStack names it: `up` is stored,
    /// the others acknowledged), as ChirpStack's HTTP integration does with this client's key.
    pub async fn chirpstack_event(
        &self,
        event: &str,
        body: &serde_json::Value,
    ) -> Result<loam_schemas::uploads::ChirpstackAnswer, ClientError> {
        let res = self
            .send(Method::POST, "/api/chirpstack", |r| {
                r.query(&[("event", event)]).json(body)
            })
            .await?;
        crate::read_json(res).await
    }

    async fn upload_to(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        locator: Option<&str>,
        extra: Option<(&str, &str)>,
    ) -> Result<Uploaded, ClientError> {
        let res = self
            .send(Method::POST, path, |r| {
                let mut r = r.header("content-type", content_type).body(body.clone());
                if let Some(l) = locator {
                    r = r.header("loam-locator", l);
                }
                if let Some((name, value)) = extra {
                    r = r.header(name, value);
                }
                r
            })
            .await?;
        let receipt = res
            .headers()
            .get("loam-receipt")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Uploaded {
            body: read_bytes(res).await?,
            receipt,
        })
    }
}
