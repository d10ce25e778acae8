//! Cell shapes as the ENTS dashboard and `ents` client read them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
