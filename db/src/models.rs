//! Row types: `Thing` is what a select returns, `NewThing` what an insert takes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::cells;

/// A cell as stored: one deployment site whose measurements Loam keeps.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = cells)]
pub struct Cell {
    /// Numeric id that devices put in their measurements.
    pub id: i32,
    /// Unique display name.
    pub name: String,
    /// Free-text place description.
    pub location: Option<String>,
    /// WGS84 latitude.
    pub latitude: Option<f64>,
    /// WGS84 longitude.
    pub longitude: Option<f64>,
    /// The person who created it (the first owner).
    pub user_id: Option<String>,
    /// Hidden from active views when true.
    pub archive: bool,
    /// Readable by anyone, and part of open-data exports, when true.
    pub public: bool,
    /// When the cell was created (UTC).
    pub created_at: NaiveDateTime,
}

/// The fields an insert of a cell sets.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = cells)]
pub struct NewCell<'a> {
    /// Unique display name.
    pub name: &'a str,
    /// Free-text place description.
    pub location: Option<&'a str>,
    /// WGS84 latitude.
    pub latitude: Option<f64>,
    /// WGS84 longitude.
    pub longitude: Option<f64>,
    /// The creator.
    pub user_id: Option<&'a str>,
    /// Archived flag.
    pub archive: bool,
    /// Public flag.
    pub public: bool,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
}
