//! The monthly open-data export (after the netmetr-proxy): one ZIP of every public cell's raw
//! data for a calendar month, `loam-opendata-{dirty|clean}-YYYY-MM.zip`. *Dirty* is the data as
//! stored; *clean* exists only for months an administrator approved.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::context::JobContext;
use crate::error::JobError;
use crate::export::ExportZip;

/// One month's export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenDataMonth {
    /// Year (1..).
    pub year: i32,
    /// Month (1-12).
    pub month: u32,
    /// `dirty` or `clean`.
    pub variant: String,
}

impl OpenDataMonth {
    /// The download's file name.
    pub fn file_name(&self) -> String {
        format!(
            "loam-opendata-{}-{:04}-{:02}.zip",
            self.variant, self.year, self.month
        )
    }

    fn range(&self) -> Result<(NaiveDateTime, NaiveDateTime), JobError> {
        let bad = || JobError::Permanent("invalid month".into());
        let first = NaiveDate::from_ymd_opt(self.year, self.month, 1).ok_or_else(bad)?;
        let next = if self.month == 12 {
            NaiveDate::from_ymd_opt(self.year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(self.year, self.month + 1, 1)
        }
        .ok_or_else(bad)?;
        let start = first.and_hms_opt(0, 0, 0).ok_or_else(bad)?;
        let end = next.and_hms_opt(0, 0, 0).ok_or_else(bad)? - chrono::Duration::microseconds(1);
        Ok((start, end))
    }

    /// Builds the month's ZIP (raw rows of every public cell).
    pub async fn run(&self, ctx: &mut JobContext) -> Result<serde_json::Value, JobError> {
        if self.variant == "clean" {
            let (y, m) = (self.year, self.month as i32);
            let approved = ctx
                .db
                .run(move |c| loam_db::opendata::is_approved(c, y, m))
                .await?;
            if !approved {
                return Err(JobError::Permanent(
                    "this month has not been approved for the clean export".into(),
                ));
            }
        }
        let cell_ids = ctx.db.run(loam_db::cells::public_ids).await?;
        let (start, end) = self.range()?;
        let export = ExportZip {
            cell_ids,
            start,
            end,
            resample: "none".into(),
            series: Vec::new(),
        };
        let mut result = export.run(ctx).await?;
        result["file_name"] = self.file_name().into();
        Ok(result)
    }
}
