//! CSV export of cells, in the format of ENTS's removed `stream_csv` task (reference §12.1):
//! header `timestamp,vwc,temp,ec,raw_vwc,v,i,p,data,measurement,unit,type`, TEROS, power and the
//! `phytos31`/`voltage` series outer-joined on time, gaps written `void`, times as
//! `2024-01-13 18:00:05`. Unlike ENTS, every requested cell is exported (rows cell by cell).
//!
//! Loam's own export ([`ExportZip`], in `archive.rs`) streams one CSV per cell and sensor into a ZIP.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use loam_db::series::{Resample, Window};
use loam_readings::Number;
use serde::{Deserialize, Serialize};

use crate::context::JobContext;
use crate::error::JobError;

/// What to export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportCells {
    /// Cells, in the order their rows are written.
    pub cell_ids: Vec<i32>,
    /// First device time included.
    pub start: NaiveDateTime,
    /// Last device time included.
    pub end: NaiveDateTime,
    /// Bucket width name (`none`, `hour`, …).
    pub resample: String,
}

/// The header of ENTS's export.
pub const HEADER: &str = "timestamp,vwc,temp,ec,raw_vwc,v,i,p,data,measurement,unit,type";

fn number(v: Option<f64>) -> String {
    v.and_then(serde_json::Number::from_f64)
        .map_or_else(|| "void".to_owned(), |n| n.to_string())
}

#[derive(Default)]
struct Line {
    teros: Option<[String; 4]>,
    power: Option<[String; 3]>,
    sensor: Option<[String; 4]>,
}

impl ExportCells {
    /// Builds the CSV artifact; the result names its download.
    pub async fn run(&self, ctx: &mut JobContext) -> Result<serde_json::Value, JobError> {
        let db = ctx.db.clone();
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
        let mut text = String::from(HEADER);
        text.push('\n');
        let total = self.cell_ids.len() as i64;
        for (n, &cell) in self.cell_ids.iter().enumerate() {
            let (teros, power, sensor) = db
                .run(move |c| {
                    Ok((
                        loam_db::series::teros(c, cell, w)?,
                        loam_db::series::power(c, cell, w)?,
                        loam_db::series::sensor(c, cell, "phytos31", "voltage", w)?,
                    ))
                })
                .await?;
            let mut lines: BTreeMap<NaiveDateTime, Line> = BTreeMap::new();
            for t in teros {
                lines.entry(t.ts).or_default().teros = Some([
                    number(t.vwc),
                    number(t.temp),
                    t.ec.map_or_else(|| "void".to_owned(), |e| e.to_string()),
                    number(t.raw_vwc),
                ]);
            }
            for p in power {
                lines.entry(p.ts).or_default().power =
                    Some([number(p.v), number(p.i), number(p.p)]);
            }
            if let Some(s) = &sensor.sensor {
                for (ts, value) in &sensor.points {
                    let data = match value {
                        Some(Number::Int(i)) => i.to_string(),
                        Some(Number::Float(f)) => number(Some(*f)),
                        None => "void".to_owned(),
                    };
                    lines.entry(*ts).or_default().sensor = Some([
                        data,
                        s.measurement.clone(),
                        s.unit.clone().unwrap_or_default(),
                        s.data_type.clone(),
                    ]);
                }
            }
            for (ts, line) in lines {
                let void = || "void".to_owned();
                let mut fields = vec![ts.format("%Y-%m-%d %H:%M:%S").to_string()];
                fields.extend(
                    line.teros
                        .unwrap_or_else(|| [void(), void(), void(), void()]),
                );
                fields.extend(line.power.unwrap_or_else(|| [void(), void(), void()]));
                fields.extend(
                    line.sensor
                        .unwrap_or_else(|| [void(), void(), void(), void()]),
                );
                text.push_str(&fields.join(","));
                text.push('\n');
            }
            ctx.progress(n as i64 + 1, total).await?;
        }
        let (name, partial) = ctx.new_artifact("csv");
        ctx.prepare_artifacts().await?;
        tokio::fs::write(&partial, text.as_bytes()).await?;
        ctx.publish(&partial, &name).await?;
        Ok(serde_json::json!({
            "download": format!("/api/jobs/{}/artifact", ctx.job_id),
            "bytes": text.len(),
            "format": "text/csv",
        }))
    }
}
