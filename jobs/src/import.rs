//! Bulk import of historical CSV into one cell, in the format of the ENTS sample files
//! (`imwut_*.csv`, reference §16): header
//! `timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)`, times like
//! ` 08 Jul 2023 20:00:00 GMT`. Every line is checked before anything is written; a bad line fails
//! the job with its line number, and the file goes in as one transaction (all or nothing).
//! Stored as: volts = mV / 1000, amps = µA / 10⁶, TEROS vwc/temp and EC rounded to an integer.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::NaiveDateTime;
use loam_db::import::ImportRow;
use serde::{Deserialize, Serialize};

use crate::context::JobContext;
use crate::error::JobError;

/// The header the importer reads.
pub const HEADER: &str =
    "timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)";

/// At most this many bad lines are listed in the error.
const MAX_REPORTED: usize = 10;

/// What to import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportCsv {
    /// The cell receiving the rows.
    pub cell_id: i32,
    /// The logger the power rows are recorded under.
    pub logger_id: i32,
    /// The uploaded file, by name inside the incoming directory.
    pub file: String,
    /// The name it was uploaded as (for the result).
    pub original_name: String,
}

/// A file that cannot be imported: every problem with its line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFile(pub Vec<String>);

impl std::fmt::Display for BadFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

fn number(field: &str, what: &str) -> Result<f64, String> {
    match field.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{what} {:?} is not a number", field.trim())),
    }
}

fn line(text: &str) -> Result<ImportRow, String> {
    let fields: Vec<&str> = text.split(',').collect();
    if fields.len() != 7 {
        return Err(format!("expected 7 fields, found {}", fields.len()));
    }
    let ts =
        NaiveDateTime::parse_from_str(fields[0].trim(), "%d %b %Y %H:%M:%S GMT").map_err(|_| {
            format!(
                "timestamp {:?} is not like \"08 Jul 2023 20:00:00 GMT\"",
                fields[0].trim()
            )
        })?;
    let mv = number(fields[1], "voltage")?;
    let ua = number(fields[2], "current")?;
    number(fields[3], "power")?;
    let ec = number(fields[4], "EC")?;
    let vwc = number(fields[5], "VWC")?;
    let temp = number(fields[6], "temperature")?;
    if !(0.0..=i32::MAX as f64).contains(&ec.round()) {
        return Err(format!("EC {ec} is out of range"));
    }
    Ok(ImportRow {
        ts,
        power: Some((mv / 1e3, ua / 1e6)),
        teros: Some((vwc, temp, ec.round() as i32)),
    })
}

/// Checks a file's first line, so an upload in the wrong format is refused before it is queued.
pub fn check_header(text: &str) -> Result<(), String> {
    match text.lines().next() {
        Some(header) if header.trim().trim_start_matches('\u{feff}') == HEADER => Ok(()),
        Some(header) => Err(format!(
            "line 1: header {:?} is not {HEADER:?}",
            header.trim()
        )),
        None => Err("the file is empty".into()),
    }
}

/// Parses a whole file; every bad line is reported (up to ten) and nothing is returned then.
pub fn parse(text: &str) -> Result<Vec<ImportRow>, BadFile> {
    let mut lines = text.lines().enumerate();
    check_header(text).map_err(|why| BadFile(vec![why]))?;
    lines.next();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (n, text) in lines {
        if text.trim().is_empty() {
            continue;
        }
        match line(text.trim_end_matches('\r')) {
            Ok(row) => rows.push(row),
            Err(why) => {
                if errors.len() < MAX_REPORTED {
                    errors.push(format!("line {}: {why}", n + 1));
                } else if errors.len() == MAX_REPORTED {
                    errors.push("more errors follow".into());
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(BadFile(errors))
    }
}

impl ImportCsv {
    /// Validates and inserts the file; the result counts lines read and measurements stored
    /// (power and TEROS rows that were new: 0 when the same file is imported again).
    pub async fn run(&self, ctx: &mut JobContext) -> Result<serde_json::Value, JobError> {
        let path = ctx.settings.incoming().join(&self.file);
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(JobError::Permanent("the uploaded file is gone".into()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(JobError::Permanent("the file is not UTF-8 text".into()));
            }
            Err(e) => return Err(e.into()),
        };
        let rows = match tokio::task::spawn_blocking(move || parse(&text))
            .await
            .map_err(|e| JobError::Transient(Box::new(e)))?
        {
            Ok(rows) => Arc::new(rows),
            Err(bad) => {
                remove(&path).await;
                return Err(JobError::Permanent(bad.to_string()));
            }
        };
        let new = import_rows(ctx, self.cell_id, self.logger_id, rows.clone()).await?;
        remove(&path).await;
        Ok(serde_json::json!({
            "file": self.original_name,
            "rows": rows.len(),
            "stored": new,
        }))
    }
}

/// Stores an uploaded file (synced to disk, so an accepted upload survives a crash) where its
/// import job will read it; returns the name to put in [`ImportCsv::file`].
pub async fn stage(settings: &crate::context::Settings, bytes: Vec<u8>) -> std::io::Result<String> {
    let incoming = settings.incoming();
    let name = format!("{}.csv", ulid::Ulid::new());
    let path = incoming.join(&name);
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        std::fs::create_dir_all(&incoming)?;
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&bytes)?;
        file.sync_all()
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok(name)
}

/// Removes a staged file whose job could not be queued.
pub async fn unstage(settings: &crate::context::Settings, name: &str) {
    remove(&settings.incoming().join(name)).await;
}

async fn remove(path: &Path) {
    let _ = tokio::fs::remove_file(path).await;
}

/// Writes parsed rows in one transaction, reporting progress while it runs; cancelling the job
/// or stopping the process rolls the whole file back.
pub async fn import_rows(
    ctx: &mut JobContext,
    cell_id: i32,
    logger_id: i32,
    rows: Arc<Vec<ImportRow>>,
) -> Result<usize, JobError> {
    let total = rows.len() as i64;
    let done = Arc::new(AtomicUsize::new(0));
    let abort = Arc::new(AtomicBool::new(false));
    let (d, a) = (done.clone(), abort.clone());
    let db = ctx.db.clone();
    let retention = ctx.settings.raw_retention_days;
    if let Some(days) = retention {
        // Rows past the retention horizon are refused, as uploads are: they would be deleted at
        // the next sweep, and with their day's rows gone a second import of the same file could
        // not be told from new data (the rollups would count it twice).
        let horizon = loam_db::retention::horizon(days, loam_db::now());
        let old = rows.iter().filter(|r| r.ts < horizon).count();
        if old > 0 {
            return Err(JobError::Permanent(format!(
                "{old} rows are older than this server keeps raw rows (LOAM_RAW_RETENTION_DAYS={days}: \
                 from {} UTC on); nothing was imported",
                horizon.format("%Y-%m-%d %H:%M")
            )));
        }
    }
    let work = db.run(move |c| {
        let now = loam_db::now();
        let raw_since = retention.map(|days| loam_db::retention::horizon(days, now));
        // Months without a partition are made first: making one inside the import's long
        // transaction would lock the table against every upload until the import ends.
        loam_db::partitions::ensure(c, rows.iter().map(|r| r.ts))?;
        loam_db::write_transaction(c, |c| {
            loam_db::import::insert(c, cell_id, logger_id, &rows, now, raw_since, &mut |n| {
                d.store(n, Ordering::Relaxed);
                if a.load(Ordering::Relaxed) {
                    Err(loam_db::DbError::Aborted("import stopped".into()))
                } else {
                    Ok(())
                }
            })
        })
    });
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut stopped = None;
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = tick.tick(), if stopped.is_none() => {
                if let Err(e) = ctx.progress(done.load(Ordering::Relaxed) as i64, total).await {
                    abort.store(true, Ordering::Relaxed);
                    stopped = Some(e);
                }
            }
        }
    };
    if let Some(reason) = stopped {
        return Err(reason);
    }
    let new = result.map_err(|e| match e {
        loam_db::DbError::ForeignKeyViolation { .. } => {
            JobError::Permanent("the cell or the logger no longer exists".into())
        }
        other => other.into(),
    })?;
    ctx.progress(total, total).await?;
    Ok(new)
}
