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

/// A person with an account.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = crate::schema::users)]
pub struct User {
    /// UUID as text.
    pub id: String,
    /// Lower-cased email; unique.
    pub email: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Argon2id PHC string; `None` for people who only sign in with OIDC.
    pub password_hash: Option<String>,
    /// Admins see and change everything.
    pub is_admin: bool,
    /// When the account was made (UTC).
    pub created_at: NaiveDateTime,
    /// When an administrator disabled the account; `None` while it may sign in.
    pub disabled_at: Option<NaiveDateTime>,
}

/// The fields an insert of a user sets.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::schema::users)]
pub struct NewUser<'a> {
    /// UUID as text.
    pub id: &'a str,
    /// Lower-cased email.
    pub email: &'a str,
    /// Given name.
    pub first_name: Option<&'a str>,
    /// Family name.
    pub last_name: Option<&'a str>,
    /// Argon2id PHC string.
    pub password_hash: Option<&'a str>,
    /// Admin flag.
    pub is_admin: bool,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
}

/// One refresh token of a login family, stored as a digest.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::refresh_tokens)]
pub struct RefreshToken {
    /// The token's `jti`.
    pub id: String,
    /// Whose token.
    pub user_id: String,
    /// The login it descends from; reuse revokes the whole family.
    pub family_id: String,
    /// Hex SHA-256 of the token text.
    pub token_hash: String,
    /// When it stops working.
    pub expires_at: NaiveDateTime,
    /// Set when it was exchanged for a new one.
    pub used_at: Option<NaiveDateTime>,
    /// Set on logout or reuse detection.
    pub revoked_at: Option<NaiveDateTime>,
    /// When it was issued.
    pub created_at: NaiveDateTime,
}

/// An API key as stored (digest only).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::api_keys)]
pub struct ApiKey {
    /// ULID.
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// The logger a device key belongs to; `None` for a person's key.
    pub logger_id: Option<i32>,
    /// A label the owner chose.
    pub name: String,
    /// Visible start of the key.
    pub prefix: String,
    /// Last four characters, for masked display.
    pub last4: String,
    /// Hex SHA-256 of the key.
    pub digest: String,
    /// Comma-separated scopes.
    pub scopes: String,
    /// When it stops working, if ever.
    pub expires_at: Option<NaiveDateTime>,
    /// Last time it authenticated a request (updated at most once a minute).
    pub last_used_at: Option<NaiveDateTime>,
    /// Set when revoked.
    pub revoked_at: Option<NaiveDateTime>,
    /// When it was created.
    pub created_at: NaiveDateTime,
}

/// A logger (a field device) as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = crate::schema::loggers)]
pub struct Logger {
    /// Numeric id devices put in their measurements.
    pub id: i32,
    /// Unique name.
    pub name: String,
    /// Internal UUID (never shown).
    pub uuid: String,
    /// Free text such as `ents` or `other`.
    pub kind: Option<String>,
    /// LoRaWAN device EUI, trimmed and upper-cased.
    pub device_eui: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Creation time (UTC).
    pub date_created: NaiveDateTime,
    /// The owner.
    pub user_id: Option<String>,
}

/// The fields an insert of a logger sets.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::schema::loggers)]
pub struct NewLogger<'a> {
    /// Unique name.
    pub name: &'a str,
    /// Internal UUID.
    pub uuid: &'a str,
    /// Free-text type.
    pub kind: Option<&'a str>,
    /// Normalised device EUI.
    pub device_eui: Option<&'a str>,
    /// Free text.
    pub description: Option<&'a str>,
    /// Creation time (UTC).
    pub date_created: NaiveDateTime,
    /// The owner.
    pub user_id: Option<&'a str>,
}

/// A tag: a label people put on cells.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = crate::schema::tags)]
pub struct Tag {
    /// Id.
    pub id: i32,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
    /// The person who made it (may change or delete it).
    pub created_by: Option<String>,
}

/// A tag with how many cells carry it, as ENTS shows tags.
#[derive(Debug, Clone, PartialEq)]
pub struct TagWithCount {
    /// The tag.
    pub tag: Tag,
    /// Number of cells carrying it.
    pub cell_count: i64,
}

/// One (cell, name, measurement) series of generic sensor data.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = crate::schema::sensors)]
pub struct Sensor {
    /// Id.
    pub id: i32,
    /// The cell.
    pub cell_id: i32,
    /// Display name of the quantity, e.g. `Voltage`.
    pub measurement: String,
    /// `float` or `int`.
    pub data_type: String,
    /// Unit, e.g. `mV`.
    pub unit: Option<String>,
    /// Kind, e.g. `POWER_VOLTAGE` or `bme280`.
    pub name: String,
}

/// A logger's enrolment: its device key and what is left of its upload quota.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::device_enrolments)]
pub struct Enrolment {
    /// The logger.
    pub logger_id: i32,
    /// The device's Ed25519 public key, hex.
    pub public_key: String,
    /// Upload slots left (one per started 4 KiB).
    pub available_slots: i64,
    /// When the slots lapse (UTC).
    pub quota_expiry: NaiveDateTime,
    /// First enrolment (UTC).
    pub enrolled_at: NaiveDateTime,
    /// Last enrolment, top-up or quota change (UTC).
    pub updated_at: NaiveDateTime,
}

/// The outcome of an upload sent with a locator, kept so a retry is answered the same way.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::upload_receipts)]
pub struct UploadReceipt {
    /// The uploading logger.
    pub logger_id: i32,
    /// The device's locator, hex.
    pub locator: String,
    /// SHA-256 of the body, hex.
    pub body_sha256: String,
    /// Rows the upload held, all committed.
    pub row_count: i32,
    /// The commit time the receipt states (UTC).
    pub committed_at: NaiveDateTime,
    /// The signed `Loam-Receipt` header value.
    pub receipt: String,
}

/// A published firmware image.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = crate::schema::firmware)]
pub struct Firmware {
    /// Row id.
    pub id: i32,
    /// Image name (`[A-Za-z0-9._-]`).
    pub name: String,
    /// Version (`[A-Za-z0-9._-]`).
    pub version: String,
    /// Release notes.
    pub notes: Option<String>,
    /// SHA-256 of the bytes, hex; also the file's name in the store.
    pub sha256: String,
    /// Size of the image in bytes.
    pub size_bytes: i64,
    /// Who published it.
    pub user_id: Option<String>,
    /// When it was published (UTC).
    pub created_at: NaiveDateTime,
}

/// The fields an insert of a firmware image sets.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::schema::firmware)]
pub struct NewFirmware<'a> {
    /// Image name.
    pub name: &'a str,
    /// Version.
    pub version: &'a str,
    /// Release notes.
    pub notes: Option<&'a str>,
    /// SHA-256 of the bytes, hex.
    pub sha256: &'a str,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Who publishes it.
    pub user_id: Option<&'a str>,
    /// Now (UTC).
    pub created_at: NaiveDateTime,
}

/// One administrative action on an account, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = crate::schema::audit_log)]
pub struct AuditEntry {
    /// Order of recording.
    pub id: i32,
    /// When it happened (UTC).
    pub at: NaiveDateTime,
    /// Who did it: a user id, or `cli` for `loam user …`.
    pub actor_id: String,
    /// What was done (`grant_admin`, `disable`, …).
    pub action: String,
    /// The account acted on.
    pub subject_id: Option<String>,
    /// A small JSON object with the particulars.
    pub detail: String,
}

/// The fields an audit record sets (the id is the database's).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::schema::audit_log)]
pub struct NewAuditEntry<'a> {
    /// When it happened (UTC).
    pub at: NaiveDateTime,
    /// A user id, or `cli`.
    pub actor_id: &'a str,
    /// What was done.
    pub action: &'a str,
    /// The account acted on.
    pub subject_id: Option<&'a str>,
    /// JSON particulars.
    pub detail: &'a str,
}
