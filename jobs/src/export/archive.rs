//! Loam's export: a ZIP with one CSV per cell and series, streamed from the database a page at a
//! time (memory stays flat however many rows), in the read API's units so the files equal what
//! `/api/power`, `/api/teros` and `/api/sensor` return for the same range.
//!
//! Files: `cell-<id>/power.csv` (`timestamp,v_mV,i_uA,p_uW`), `cell-<id>/teros.csv`
//! (`timestamp,vwc_percent,raw_vwc,temp_C,ec_uS_cm`) and `cell-<id>/<name>.<measurement>.csv`
//! (`timestamp,value`). Timestamps are UTC, RFC 3339 with a `Z` (`2024-01-13T18:00:05Z`): device
//! time, or the bucket start when resampled. Numbers are the shortest decimal that reads back
//! as the same double; an empty field is a missing value. Rows are ordered by time.

use std::fs::File;
use std::io::{BufWriter, Write};

use chrono::NaiveDateTime;
use loam_db::export::Cursor;
use loam_db::models::Sensor;
use loam_db::series::{PowerPoint, Resample, TerosPoint, Window};
use loam_db::{DbConn, DbError};
use loam_readings::Number;
use serde::{Deserialize, Serialize};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

use crate::context::JobContext;
use crate::error::JobError;

/// Rows read per page.
const PAGE: i64 = 10_000;

/// Which series of a cell to export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    /// Power (v, i, p).
    Power,
    /// TEROS-12 soil probe.
    Teros,
    /// Every generic sensor series (`/api/sensor`).
    Sensors,
}

/// What to export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportZip {
    /// Cells, each in its own folder.
    pub cell_ids: Vec<i32>,
    /// First device time included.
    pub start: NaiveDateTime,
    /// Last device time included.
    pub end: NaiveDateTime,
    /// `none`, `hour` or `day`.
    pub resample: String,
    /// Series to include (all three when empty).
    pub series: Vec<Series>,
}

type Zip = ZipWriter<BufWriter<File>>;

/// The ZIP being written, moved to the blocking pool for each write (file I/O and deflate).
struct Archive {
    zip: Option<Zip>,
    rows: u64,
}

impl Archive {
    async fn write(
        &mut self,
        f: impl FnOnce(&mut Zip) -> std::io::Result<()> + Send + 'static,
    ) -> Result<(), JobError> {
        let mut zip = self
            .zip
            .take()
            .ok_or_else(|| JobError::Transient("archive already closed".into()))?;
        let zip = tokio::task::spawn_blocking(move || f(&mut zip).map(|()| zip))
            .await
            .map_err(|e| JobError::Transient(Box::new(e)))??;
        self.zip = Some(zip);
        Ok(())
    }

    async fn start_file(&mut self, name: String, header: &'static str) -> Result<(), JobError> {
        self.write(move |zip| {
            let options = SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .compression_level(Some(1));
            zip.start_file(name, options)
                .map_err(std::io::Error::other)?;
            zip.write_all(header.as_bytes())?;
            zip.write_all(b"\n")
        })
        .await
    }

    async fn rows(&mut self, text: String, n: usize) -> Result<(), JobError> {
        self.rows += n as u64;
        self.write(move |zip| zip.write_all(text.as_bytes())).await
    }
}

fn time(ts: NaiveDateTime) -> String {
    ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn num(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn power_lines(points: &[PowerPoint]) -> String {
    let mut text = String::with_capacity(points.len() * 64);
    for p in points {
        text.push_str(&format!(
            "{},{},{},{}\n",
            time(p.ts),
            num(p.v),
            num(p.i),
            num(p.p)
        ));
    }
    text
}

fn teros_lines(points: &[TerosPoint]) -> String {
    let mut text = String::with_capacity(points.len() * 64);
    for p in points {
        text.push_str(&format!(
            "{},{},{},{},{}\n",
            time(p.ts),
            num(p.vwc),
            num(p.raw_vwc),
            num(p.temp),
            p.ec.map(|e| e.to_string()).unwrap_or_default()
        ));
    }
    text
}

fn value_lines(points: &[(NaiveDateTime, Option<Number>)]) -> String {
    let mut text = String::with_capacity(points.len() * 40);
    for (ts, v) in points {
        let v = match v {
            Some(Number::Int(i)) => i.to_string(),
            Some(Number::Float(f)) => f.to_string(),
            None => String::new(),
        };
        text.push_str(&format!("{},{v}\n", time(*ts)));
    }
    text
}

/// Copies a raw series into the open file a page at a time (memory holds one page), reporting
/// progress (which also stops the copy when the job is cancelled or the process stops).
async fn copy_pages<P: Send + 'static>(
    ctx: &mut JobContext,
    archive: &mut Archive,
    page: impl Fn(&mut DbConn, Cursor) -> Result<(Vec<P>, Cursor), DbError> + Clone + Send + 'static,
    lines: fn(&[P]) -> String,
    (done, total): (usize, i64),
) -> Result<(), JobError> {
    let mut after = None;
    loop {
        let next_page = page.clone();
        let (points, next) = ctx.db.run(move |c| next_page(c, after)).await?;
        archive.rows(lines(&points), points.len()).await?;
        ctx.progress(done as i64, total).await?;
        match next {
            Some(cursor) => after = Some(cursor),
            None => return Ok(()),
        }
    }
}

/// A file name part: letters, digits, `-` and `_` kept, anything else `_`.
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl ExportZip {
    fn wants(&self, s: Series) -> bool {
        self.series.is_empty() || self.series.contains(&s)
    }

    /// Builds the ZIP artifact; the result names its download and counts rows.
    pub async fn run(&self, ctx: &mut JobContext) -> Result<serde_json::Value, JobError> {
        let resample = Resample::parse(&self.resample)
            .ok_or_else(|| JobError::Permanent(format!("unknown resample {:?}", self.resample)))?;
        let w = Window {
            start: self.start,
            end: self.end,
            resample,
            stream: false,
            raw_since: ctx
                .settings
                .raw_retention_days
                .map(|days| loam_db::retention::horizon(days, loam_db::now())),
        };
        ctx.prepare_artifacts().await?;
        let (name, partial) = ctx.new_artifact("zip");
        let file = File::create(&partial)?;
        let mut archive = Archive {
            zip: Some(ZipWriter::new(BufWriter::with_capacity(256 * 1024, file))),
            rows: 0,
        };
        let total = self.cell_ids.len() as i64;
        for (n, &cell) in self.cell_ids.iter().enumerate() {
            let dir = format!("cell-{cell}");
            if self.wants(Series::Power) {
                archive
                    .start_file(format!("{dir}/power.csv"), "timestamp,v_mV,i_uA,p_uW")
                    .await?;
                if resample == Resample::None {
                    let page = move |c: &mut DbConn, after: Cursor| {
                        loam_db::export::power_page(c, cell, (w.start, w.end), after, PAGE)
                    };
                    copy_pages(ctx, &mut archive, page, power_lines, (n, total)).await?;
                } else {
                    let points = ctx
                        .db
                        .run(move |c| loam_db::series::power(c, cell, w))
                        .await?;
                    archive.rows(power_lines(&points), points.len()).await?;
                }
            }
            if self.wants(Series::Teros) {
                archive
                    .start_file(
                        format!("{dir}/teros.csv"),
                        "timestamp,vwc_percent,raw_vwc,temp_C,ec_uS_cm",
                    )
                    .await?;
                if resample == Resample::None {
                    let page = move |c: &mut DbConn, after: Cursor| {
                        loam_db::export::teros_page(c, cell, (w.start, w.end), after, PAGE)
                    };
                    copy_pages(ctx, &mut archive, page, teros_lines, (n, total)).await?;
                } else {
                    let points = ctx
                        .db
                        .run(move |c| loam_db::series::teros(c, cell, w))
                        .await?;
                    archive.rows(teros_lines(&points), points.len()).await?;
                }
            }
            if self.wants(Series::Sensors) {
                let sensors = ctx
                    .db
                    .run(move |c| loam_db::export::sensors_of_cell(c, cell))
                    .await?;
                for sensor in sensors {
                    self.export_sensor(ctx, &mut archive, &dir, sensor, w, (n, total))
                        .await?;
                }
            }
            ctx.progress(n as i64 + 1, total).await?;
        }
        let rows = archive.rows;
        let zip = archive
            .zip
            .take()
            .ok_or_else(|| JobError::Transient("archive already closed".into()))?;
        let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            let mut out = zip.finish().map_err(std::io::Error::other)?;
            out.flush()?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            Ok(file.metadata()?.len())
        })
        .await
        .map_err(|e| JobError::Transient(Box::new(e)))??;
        ctx.publish(&partial, &name).await?;
        Ok(serde_json::json!({
            "download": format!("/api/jobs/{}/artifact", ctx.job_id),
            "bytes": bytes,
            "rows": rows,
            "format": "application/zip",
        }))
    }

    async fn export_sensor(
        &self,
        ctx: &mut JobContext,
        archive: &mut Archive,
        dir: &str,
        sensor: Sensor,
        w: Window,
        progress: (usize, i64),
    ) -> Result<(), JobError> {
        archive
            .start_file(
                format!(
                    "{dir}/{}.{}.csv",
                    safe(&sensor.name),
                    safe(&sensor.measurement)
                ),
                "timestamp,value",
            )
            .await?;
        if w.resample == Resample::None {
            let page = move |c: &mut DbConn, after: Cursor| {
                loam_db::export::sensor_page(c, &sensor, (w.start, w.end), after, PAGE)
            };
            return copy_pages(ctx, archive, page, value_lines, progress).await;
        }
        let (cell, name, measurement) = (sensor.cell_id, sensor.name.clone(), sensor.measurement);
        let series = ctx
            .db
            .run(move |c| loam_db::series::sensor(c, cell, &name, &measurement, w))
            .await?;
        archive
            .rows(value_lines(&series.points), series.points.len())
            .await
    }
}
