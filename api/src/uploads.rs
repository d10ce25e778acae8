//! Device uploads: who may write what, then one all-or-nothing commit, then live events. The
//! device hears 2xx only after the commit.

use loam_db::measurements::{NewData, NewRow, StoreError, Value};
use loam_ingest::{DecodeError, LiveEvent, RowData, Upload};

use crate::error::ApiError;
use crate::identity::Caller;
use crate::state::AppState;

/// Why an upload was not stored.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// A cell or logger does not exist (legacy door: ENTS's 501 + `08 01`).
    UnknownTarget(String),
    /// Anything else, already mapped to HTTP.
    Api(ApiError),
}

impl From<ApiError> for UploadError {
    fn from(err: ApiError) -> Self {
        UploadError::Api(err)
    }
}

impl From<DecodeError> for UploadError {
    fn from(err: DecodeError) -> Self {
        UploadError::Api(ApiError::bad_request("invalid_upload", err.to_string()))
    }
}

fn timestamp(secs: i64) -> Result<chrono::NaiveDateTime, UploadError> {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.naive_utc())
        .ok_or_else(|| DecodeError::AbsurdTimestamp(secs).into())
}

/// Checks, stores and announces an upload; returns the events emitted.
pub(crate) async fn store(
    state: &AppState,
    caller: &Caller,
    upload: Upload,
) -> Result<Vec<LiveEvent>, UploadError> {
    loam_ingest::check_timestamps(&upload, chrono::Utc::now().timestamp())?;
    authorize(caller, &upload)?;
    let rows = upload
        .rows
        .iter()
        .map(|r| {
            Ok(NewRow {
                cell_id: i32::try_from(r.cell_id)
                    .map_err(|_| UploadError::UnknownTarget(format!("cell {}", r.cell_id)))?,
                logger_id: r.logger_id.and_then(|l| i32::try_from(l).ok()),
                ts: timestamp(r.ts)?,
                data: match &r.data {
                    RowData::Power { voltage, current } => NewData::Power {
                        voltage: *voltage,
                        current: *current,
                    },
                    RowData::Teros {
                        vwc,
                        raw_vwc,
                        temp,
                        ec,
                        water_pot,
                    } => NewData::Teros {
                        vwc: *vwc,
                        raw_vwc: *raw_vwc,
                        temp: *temp,
                        ec: ec.and_then(|e| i32::try_from(e).ok()),
                        water_pot: *water_pot,
                    },
                    RowData::Sensor {
                        name,
                        measurement,
                        unit,
                        value,
                    } => NewData::Sensor {
                        name: name.clone(),
                        measurement: measurement.clone(),
                        unit: unit.clone(),
                        value: match value {
                            loam_ingest::Number::Float(f) => Value::Float(*f),
                            loam_ingest::Number::Int(i) => Value::Int(*i),
                        },
                    },
                },
            })
        })
        .collect::<Result<Vec<_>, UploadError>>()?;
    let now = loam_db::now();
    // A device key writes only into cells its owner is a member of, checked inside the commit.
    let member = match caller {
        Caller::Device(d) if !d.owner_is_admin => Some(d.owner_id.clone()),
        _ => None,
    };
    let stored = state
        .commits()
        .store(loam_db::measurements::Upload { rows, member }, now)
        .await?;
    match stored {
        Ok(new_rows) => tracing::debug!(new_rows, "upload stored"),
        Err(StoreError::UnknownCell(id)) => {
            return Err(UploadError::UnknownTarget(format!(
                "cell {id} does not exist"
            )));
        }
        Err(StoreError::UnknownLogger(id)) => {
            return Err(UploadError::UnknownTarget(format!(
                "logger {id} does not exist"
            )));
        }
        Err(StoreError::NotMember(cell)) => {
            return Err(ApiError::NotFound(format!("cell {cell} not found for this key")).into());
        }
        Err(StoreError::Db(e)) => return Err(ApiError::from(e).into()),
    }
    let events: Vec<LiveEvent> = upload
        .events
        .into_iter()
        .filter(|e| e.cell_id != 0)
        .collect();
    state.live().publish(&events);
    Ok(events)
}

/// A device key writes only as its own logger (its cells are checked in the commit). Anonymous
/// uploads reach here only in ENTS compatibility mode (the route's access class).
fn authorize(caller: &Caller, upload: &Upload) -> Result<(), UploadError> {
    let Caller::Device(device) = caller else {
        return Ok(());
    };
    let own_logger = u32::try_from(device.logger_id).unwrap_or(0);
    if let Some(other) = upload
        .rows
        .iter()
        .filter_map(|r| r.logger_id)
        .find(|l| *l != own_logger && *l != 0)
    {
        return Err(ApiError::Forbidden(format!(
            "this device key belongs to logger {own_logger} and cannot write as logger {other}"
        ))
        .into());
    }
    Ok(())
}

/// Group commit for uploads: concurrent uploads share one transaction (each in its own
/// savepoint), so under load the database commits — and syncs to disk — once per batch instead
/// of once per upload. Each device still hears back only after the commit that holds its rows.
#[derive(Clone)]
pub struct CommitQueue {
    sender: tokio::sync::mpsc::Sender<Pending>,
}

type Pending = (
    loam_db::measurements::Upload,
    chrono::NaiveDateTime,
    tokio::sync::oneshot::Sender<Result<usize, StoreError>>,
);

/// Most uploads one commit carries.
const BATCH: usize = 64;
/// Commits in flight at once.
const WRITERS: usize = 4;

impl CommitQueue {
    /// Starts the writer tasks (needs a Tokio runtime).
    pub fn start(db: loam_db::Db) -> Self {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Pending>(4096);
        let receiver = std::sync::Arc::new(tokio::sync::Mutex::new(receiver));
        for _ in 0..WRITERS {
            let (db, receiver) = (db.clone(), std::sync::Arc::clone(&receiver));
            tokio::spawn(async move {
                loop {
                    let mut batch = Vec::with_capacity(BATCH);
                    {
                        let mut rx = receiver.lock().await;
                        match rx.recv().await {
                            Some(first) => batch.push(first),
                            None => return,
                        }
                        while batch.len() < BATCH {
                            match rx.try_recv() {
                                Ok(next) => batch.push(next),
                                Err(_) => break,
                            }
                        }
                    }
                    commit(&db, batch).await;
                }
            });
        }
        Self { sender }
    }

    /// Stores one upload; resolves after the commit that holds it.
    pub async fn store(
        &self,
        upload: loam_db::measurements::Upload,
        now: chrono::NaiveDateTime,
    ) -> Result<Result<usize, StoreError>, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.sender
            .send((upload, now, reply))
            .await
            .map_err(|_| ApiError::Unavailable("the upload queue is shut down".into()))?;
        answer.await.map_err(|_| {
            ApiError::Internal(anyhow::anyhow!(
                "the upload writer stopped before answering"
            ))
        })
    }
}

async fn commit(db: &loam_db::Db, batch: Vec<Pending>) {
    let now = batch.first().map_or_else(loam_db::now, |p| p.1);
    let (uploads, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|(u, _, r)| (u, r)).unzip();
    match db
        .run(move |c| loam_db::measurements::store_many(c, &uploads, now))
        .await
    {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, size = replies.len(), "a group commit failed; its uploads are refused");
            for reply in replies {
                let _ = reply.send(Err(StoreError::Db(loam_db::DbError::Unavailable(
                    err.to_string(),
                ))));
            }
        }
    }
}
