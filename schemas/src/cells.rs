//! Cell shapes as the ENTS dashboard and `ents` client send and read them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::lenient;

/// A cell as ENTS dumps it everywhere (owner and tags are never included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CellResponse {
    /// Numeric id devices use.
    pub id: i32,
    /// Unique name.
    pub name: String,
    /// Free-text location.
    pub location: Option<String>,
    /// WGS84 latitude.
    pub latitude: Option<f64>,
    /// WGS84 longitude.
    pub longitude: Option<f64>,
    /// Archived cells are hidden from active views.
    pub archive: bool,
    /// Public cells are readable without credentials and part of open-data exports.
    pub public: bool,
}

/// `POST /api/cell/` as the ENTS dashboard sends it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCellRequest {
    /// Unique name.
    #[validate(length(min = 1, max = 255))]
    pub name: String,
    /// Free-text location.
    #[validate(length(max = 1000))]
    pub location: String,
    /// WGS84 latitude (a numeric string too, as the dashboard sends it).
    #[validate(range(min = -90.0, max = 90.0))]
    #[serde(deserialize_with = "lenient::float")]
    #[schema(schema_with = lenient::latitude_schema)]
    pub latitude: f64,
    /// WGS84 longitude (a numeric string too).
    #[validate(range(min = -180.0, max = 180.0))]
    #[serde(deserialize_with = "lenient::float")]
    #[schema(schema_with = lenient::longitude_schema)]
    pub longitude: f64,
    /// Archived flag (marshmallow `Boolean` spellings too).
    #[serde(deserialize_with = "lenient::boolean")]
    #[schema(schema_with = lenient::boolean_schema)]
    pub archive: bool,
    /// Email of the owner (the caller's own unless the caller is an admin).
    #[serde(rename = "userEmail")]
    #[validate(email(message = "must be a valid email address"))]
    pub user_email: String,
    /// Tags to attach.
    #[serde(default)]
    pub tag_ids: Option<Vec<i32>>,
    /// Loam: readable without credentials when true.
    #[serde(default)]
    pub public: Option<bool>,
}

/// `PUT /api/cell/{id}`; note ENTS's `lat`/`long` keys here.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, Validate, ToSchema)]
pub struct UpdateCellRequest {
    /// New name.
    #[validate(length(min = 1, max = 255))]
    pub name: Option<String>,
    /// New location.
    #[validate(length(max = 1000))]
    pub location: Option<String>,
    /// New latitude (a numeric string too, as the dashboard's Edit Cell form sends it).
    #[validate(range(min = -90.0, max = 90.0))]
    #[serde(default, deserialize_with = "lenient::opt_float")]
    #[schema(schema_with = lenient::latitude_schema)]
    pub lat: Option<f64>,
    /// New longitude (a numeric string too).
    #[validate(range(min = -180.0, max = 180.0))]
    #[serde(default, deserialize_with = "lenient::opt_float")]
    #[schema(schema_with = lenient::longitude_schema)]
    pub long: Option<f64>,
    /// New archive flag (marshmallow `Boolean` spellings too).
    #[serde(default, deserialize_with = "lenient::opt_boolean")]
    #[schema(schema_with = lenient::boolean_schema)]
    pub archive: Option<bool>,
    /// New public flag.
    pub public: Option<bool>,
    /// Replacement tag set (must be a list).
    #[schema(value_type = Option<Vec<i32>>)]
    pub tag_ids: Option<serde_json::Value>,
}

/// `{"message", "id", "name"}` after creating a cell.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CellCreated {
    /// "Successfully added cell".
    pub message: Cow<'static, str>,
    /// New id.
    pub id: i32,
    /// The name.
    pub name: String,
}

/// A sensor series of a cell.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SensorResponse {
    /// Id.
    pub id: i32,
    /// The cell.
    pub cell_id: i32,
    /// Quantity, e.g. `Voltage`.
    pub measurement: String,
    /// `float` or `int`.
    pub data_type: String,
    /// Unit.
    pub unit: Option<String>,
    /// Kind, e.g. `POWER_VOLTAGE`.
    pub name: String,
}
