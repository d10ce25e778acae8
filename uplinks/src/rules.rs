//! The upload rules, pure: from a decoded upload and who writes it to the rows a commit stores,
//! with the rights the commit must still check (cell membership, logger ownership), or the
//! reason nothing may be stored.

use chrono::NaiveDateTime;
use loam_db::writes::NewRow;
use loam_ingest::{DecodeError, Upload};

/// Who writes an upload, as the rules see it: the HTTP caller or the MQTT subscriber's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writer {
    /// No credentials, which only ENTS compatibility mode lets through: any cell, any logger.
    Anonymous,
    /// A device key: writes only as its own logger, into cells its owner may write.
    Device {
        /// The key's logger.
        logger_id: i32,
        /// The logger's owner.
        owner_id: String,
        /// Admins may write every cell.
        owner_is_admin: bool,
    },
    /// An integration key (a person's own API key with the ingest scope, as a ChirpStack or MQTT
    /// integration carries for many devices): writes as any logger its owner owns, into cells
    /// the owner may write.
    Integration {
        /// The key's owner.
        owner_id: String,
        /// Admins may write every cell as every logger.
        owner_is_admin: bool,
    },
}

/// Why an upload may not be stored, decided before any database work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The frame or a timestamp is unusable.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A row lies before the raw retention horizon.
    #[error(
        "timestamp {ts} is older than this server keeps raw rows (LOAM_RAW_RETENTION_DAYS: from {horizon} on)"
    )]
    OlderThanRetention {
        /// The offending row's time (Unix seconds).
        ts: i64,
        /// The horizon.
        horizon: NaiveDateTime,
    },
    /// A device key writing as another logger.
    #[error("this device key belongs to logger {own} and cannot write as logger {other}")]
    OtherLogger {
        /// The key's logger.
        own: i32,
        /// The logger the rows name.
        other: u32,
    },
    /// A cell id no database can hold.
    #[error("cell {0} does not exist")]
    UnknownCell(u32),
}

/// An upload ready for the commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The rows, all or nothing.
    pub rows: Vec<NewRow>,
    /// Every cell must have this person as a member (`None`: anonymous or an admin's key).
    pub member: Option<String>,
    /// Every logger named must belong to this person (integration keys of non-admins).
    pub logger_owner: Option<String>,
    /// The logger the upload is attributed to (quota, receipts): the device key's, or the one
    /// logger the rows name.
    pub logger: Option<i32>,
}

/// Checks an upload against the rules at `now` (Unix seconds) with rows before `raw_since`
/// refused, and builds what the commit stores.
pub fn prepare(
    upload: &Upload,
    writer: &Writer,
    now: i64,
    raw_since: Option<NaiveDateTime>,
) -> Result<Prepared, Refusal> {
    loam_ingest::check_timestamps(upload, now)?;
    within_retention(raw_since, upload)?;
    if let Writer::Device { logger_id, .. } = writer {
        let own = u32::try_from(*logger_id).unwrap_or(0);
        if let Some(other) = upload
            .rows
            .iter()
            .filter_map(|r| r.logger_id)
            .find(|l| *l != own && *l != 0)
        {
            return Err(Refusal::OtherLogger {
                own: *logger_id,
                other,
            });
        }
    }
    let rows = upload
        .rows
        .iter()
        .map(|r| {
            Ok(NewRow {
                cell_id: i32::try_from(r.cell_id).map_err(|_| Refusal::UnknownCell(r.cell_id))?,
                logger_id: r.logger_id.and_then(|l| i32::try_from(l).ok()),
                ts: chrono::DateTime::from_timestamp(r.ts, 0)
                    .map(|t| t.naive_utc())
                    .ok_or(DecodeError::AbsurdTimestamp(r.ts))?,
                data: r.data.clone(),
            })
        })
        .collect::<Result<Vec<_>, Refusal>>()?;
    let (member, logger_owner) = match writer {
        Writer::Anonymous => (None, None),
        Writer::Device {
            owner_id,
            owner_is_admin,
            ..
        } => ((!owner_is_admin).then(|| owner_id.clone()), None),
        Writer::Integration {
            owner_id,
            owner_is_admin,
        } => {
            let own = (!owner_is_admin).then(|| owner_id.clone());
            (own.clone(), own)
        }
    };
    let logger = match writer {
        Writer::Device { logger_id, .. } => Some(*logger_id),
        Writer::Anonymous | Writer::Integration { .. } => {
            let named: std::collections::BTreeSet<u32> = upload
                .rows
                .iter()
                .filter_map(|r| r.logger_id)
                .filter(|l| *l != 0)
                .collect();
            match named.len() {
                1 => named.first().and_then(|l| i32::try_from(*l).ok()),
                _ => None,
            }
        }
    };
    Ok(Prepared {
        rows,
        member,
        logger_owner,
        logger,
    })
}

/// Refuses rows older than the raw retention horizon: they would be deleted at the next sweep,
/// and once their day's rows are gone nothing could tell a device's retry from new data, so the
/// rollups would count a retry twice.
fn within_retention(raw_since: Option<NaiveDateTime>, upload: &Upload) -> Result<(), Refusal> {
    let Some(horizon) = raw_since else {
        return Ok(());
    };
    let horizon_secs = horizon.and_utc().timestamp();
    match upload
        .rows
        .iter()
        .map(|r| r.ts)
        .find(|ts| *ts < horizon_secs)
    {
        Some(ts) => Err(Refusal::OlderThanRetention { ts, horizon }),
        None => Ok(()),
    }
}

/// How many rows of each table an upload holds, for `loam_upload_rows_total`.
pub fn rows_by_table(upload: &Upload) -> [(&'static str, u64); 3] {
    let mut counts = [("power", 0), ("teros", 0), ("sensor", 0)];
    for row in &upload.rows {
        let slot = match row.data {
            loam_readings::RowData::Power { .. } => 0,
            loam_readings::RowData::Teros { .. } => 1,
            loam_readings::RowData::Sensor { .. } => 2,
        };
        if let Some((_, n)) = counts.get_mut(slot) {
            *n += 1;
        }
    }
    counts
}

/// Counts a stored upload in the metrics (`loam_uploads_stored_total`, `loam_upload_rows_total`,
/// `loam_rows_stored_total`) under its door.
pub fn count_stored(door: &'static str, tables: [(&'static str, u64); 3], new_rows: u64) {
    let metrics = loam_metrics::global();
    metrics
        .uploads_stored
        .get_or_create(&loam_metrics::DoorLabels { door })
        .inc();
    for (table, rows) in tables {
        if rows > 0 {
            metrics
                .upload_rows
                .get_or_create(&loam_metrics::RowLabels { door, table })
                .inc_by(rows);
        }
    }
    metrics
        .rows_new
        .get_or_create(&loam_metrics::DoorLabels { door })
        .inc_by(new_rows);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use loam_ingest::{Door, Row, RowData};

    const T0: i64 = 1_705_168_805;

    fn upload(logger: Option<u32>, ts: i64) -> Upload {
        Upload {
            door: Door::Legacy,
            rows: vec![Row {
                cell_id: 3,
                logger_id: logger,
                ts,
                data: RowData::Power {
                    voltage: 0.5,
                    current: 0.001,
                },
            }],
            events: Vec::new(),
        }
    }

    fn device(logger_id: i32) -> Writer {
        Writer::Device {
            logger_id,
            owner_id: "u1".into(),
            owner_is_admin: false,
        }
    }

    #[test]
    fn device_keys_write_only_as_their_logger() {
        let ok = prepare(&upload(Some(7), T0), &device(7), T0, None).expect("own logger");
        assert_eq!(ok.member.as_deref(), Some("u1"));
        assert_eq!(ok.logger_owner, None);
        assert_eq!(ok.logger, Some(7));
        assert_eq!(
            prepare(&upload(Some(8), T0), &device(7), T0, None),
            Err(Refusal::OtherLogger { own: 7, other: 8 })
        );
    }

    #[test]
    fn integration_keys_write_as_their_owners_loggers() {
        let writer = Writer::Integration {
            owner_id: "u1".into(),
            owner_is_admin: false,
        };
        let ok = prepare(&upload(Some(8), T0), &writer, T0, None).expect("checked in commit");
        assert_eq!(ok.member.as_deref(), Some("u1"));
        assert_eq!(ok.logger_owner.as_deref(), Some("u1"));
        assert_eq!(ok.logger, Some(8));
        let admin = Writer::Integration {
            owner_id: "a".into(),
            owner_is_admin: true,
        };
        let ok = prepare(&upload(Some(8), T0), &admin, T0, None).expect("admin");
        assert_eq!((ok.member, ok.logger_owner), (None, None));
    }

    #[test]
    fn times_and_retention_are_checked() {
        assert!(matches!(
            prepare(&upload(None, 5), &Writer::Anonymous, T0, None),
            Err(Refusal::Decode(DecodeError::AbsurdTimestamp(5)))
        ));
        let horizon = chrono::DateTime::from_timestamp(T0 + 10, 0)
            .unwrap()
            .naive_utc();
        assert_eq!(
            prepare(&upload(None, T0), &Writer::Anonymous, T0, Some(horizon)),
            Err(Refusal::OlderThanRetention { ts: T0, horizon })
        );
    }
}
