//! Long work: exports, imports, the caller's jobs and their files, ENTS's polled CSV export,
//! and the monthly open-data archives.

use loam_schemas::auth::MessageResponse;
use loam_schemas::jobs::{ExportRequest, JobResponse, ResultId, TaskStatus};
use reqwest::{Method, StatusCode};
use serde::Serialize;

use crate::{Client, ClientError, fill_path, read_bytes, read_json};

operations! {
    /// Starts a ZIP export; returns the queued job.
    POST "/api/exports" => fn start_export(; json request: ExportRequest) -> json JobResponse;
    /// The caller's jobs.
    GET "/api/jobs" => fn list_jobs() -> json Vec<JobResponse>;
    /// One job.
    GET "/api/jobs/{job_id}" => fn job(job_id: &str) -> json JobResponse;
    /// Cancels a queued or running job.
    DELETE "/api/jobs/{job_id}" => fn cancel_job(job_id: &str) -> empty;
    /// A finished job's file.
    GET "/api/jobs/{job_id}/artifact" => fn job_artifact(job_id: &str) -> bytes;
    /// ENTS's CSV export: starts the job and answers its id for [`Client::task_status`].
    GET "/api/cell/datas" => fn start_cell_datas(; query export: CellDatasQuery) -> json ResultId;
    /// ENTS's polling answer for a job started by [`Client::start_cell_datas`].
    GET "/api/status/{job_id}" => fn task_status(job_id: &str) -> json TaskStatus;
    /// Approves a month for the clean open-data archive (admins; idempotent).
    POST "/api/opendata/approve" => fn approve_open_data(; query month: Month) -> json MessageResponse;
}

/// Operations whose methods are written out below (CSV bodies, a ZIP-or-job answer).
pub(crate) const HAND_WRITTEN: &[(&str, &str)] = &[
    ("POST", "/api/cell/{cell_id}/import"),
    ("GET", "/api/opendata"),
];

/// ENTS's export parameters; times are RFC 1123.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CellDatasQuery {
    /// Comma-separated cell ids.
    #[serde(rename = "cellIds")]
    pub cell_ids: String,
    /// Bucket width (default `hour`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resample: Option<String>,
    /// Start.
    #[serde(rename = "startTime", skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// End.
    #[serde(rename = "endTime", skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

/// A calendar month.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Month {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
}

/// A month's open-data archive, or the job still building it.
#[derive(Debug, Clone)]
pub enum OpenData {
    /// The ZIP, ready.
    Ready(Vec<u8>),
    /// Being built: poll again (or watch the job).
    Building(Box<JobResponse>),
}

impl Client {
    /// Queues an import of an ENTS-format CSV into a cell as a logger; returns the job.
    pub async fn import_csv(
        &self,
        cell: i32,
        logger: i32,
        name: &str,
        csv: Vec<u8>,
    ) -> Result<JobResponse, ClientError> {
        let path = fill_path(
            "/api/cell/{cell_id}/import",
            &[("cell_id", cell.to_string())],
        );
        let query = [("logger_id", logger.to_string()), ("name", name.to_owned())];
        self.json(Method::POST, &path, |r| {
            r.query(&query)
                .header("content-type", "text/csv")
                .body(csv.clone())
        })
        .await
    }

    /// A month's public-cell archive: `clean` for approved months only, else the data as stored.
    pub async fn open_data(&self, month: Month, clean: bool) -> Result<OpenData, ClientError> {
        let variant = if clean { "clean" } else { "dirty" };
        let query = [
            ("year", month.year.to_string()),
            ("month", month.month.to_string()),
            ("variant", variant.to_owned()),
        ];
        let res = self
            .send(Method::GET, "/api/opendata", |r| r.query(&query))
            .await?;
        if res.status() == StatusCode::ACCEPTED {
            Ok(OpenData::Building(Box::new(read_json(res).await?)))
        } else {
            Ok(OpenData::Ready(read_bytes(res).await?))
        }
    }
}
