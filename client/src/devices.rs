//! What devices trust: enrolment and signed receipts, and the firmware registry.

use loam_schemas::devices::{
    DesiredFirmwareRequest, DesiredFirmwareResponse, EnrolRequest, EnrolmentResponse, FirmwarePage,
    FirmwareResponse, FirmwareVersions, QuotaRequest, ReceiptKeyResponse, ReceiptResponse,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;

use crate::{Client, ClientError, fill_path, read_bytes};

operations! {
    /// The server's receipt-signing public key.
    GET "/api/receipts/key" => fn receipt_key() -> json ReceiptKeyResponse;
    /// Enrols (or tops up) a logger's device key.
    POST "/api/logger/{logger_id}/enrol" => fn enrol(logger_id: i32; json key: EnrolRequest) -> json EnrolmentResponse;
    /// Sets an enrolled logger's quota (admins).
    PUT "/api/logger/{logger_id}/quota" => fn set_quota(logger_id: i32; json quota: QuotaRequest) -> json EnrolmentResponse;
    /// A stored upload receipt.
    GET "/api/logger/{logger_id}/receipts/{locator}" => fn receipt(logger_id: i32, locator: &str) -> json ReceiptResponse;
    /// Searches firmware by name substring, a page at a time.
    GET "/api/firmware" => fn search_firmware(; query search: FirmwareSearch) -> json FirmwarePage;
    /// Every version of an image, newest first.
    GET "/api/firmware/{name}" => fn firmware_versions(name: &str) -> json FirmwareVersions;
    /// One version's metadata.
    GET "/api/firmware/{name}/{version}" => fn firmware(name: &str, version: &str) -> json FirmwareResponse;
    /// Deletes a version (its publisher or an admin).
    DELETE "/api/firmware/{name}/{version}" => fn delete_firmware(name: &str, version: &str) -> empty;
    /// Chooses the image a logger should run.
    PUT "/api/logger/{logger_id}/firmware" => fn set_logger_firmware(logger_id: i32; json image: DesiredFirmwareRequest) -> json DesiredFirmwareResponse;
    /// What a logger should install.
    GET "/api/logger/{logger_id}/firmware" => fn logger_firmware(logger_id: i32) -> json DesiredFirmwareResponse;
}

/// Operations whose methods are written out below (multipart upload, ranged download).
pub(crate) const HAND_WRITTEN: &[(&str, &str)] = &[
    ("POST", "/api/firmware"),
    ("GET", "/api/firmware/{name}/{version}/download"),
];

/// A page of [`Client::search_firmware`].
#[derive(Debug, Clone, Serialize)]
pub struct FirmwareSearch {
    /// Name substring (none: every image).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Entries to skip.
    pub offset: i64,
}

/// Bytes of a download, with what the server said about them.
#[derive(Debug, Clone)]
pub struct Download {
    /// The bytes received (the whole file, or the part after a resume offset).
    pub bytes: Vec<u8>,
    /// The `ETag` (firmware: the sha-256 in quotes).
    pub etag: Option<String>,
    /// Whether the server sent a part (206).
    pub partial: bool,
    /// Whether the server said the caller's copy is current (304, after `If-None-Match`).
    pub not_modified: bool,
}

impl Client {
    /// Publishes a firmware image.
    pub async fn upload_firmware(
        &self,
        name: &str,
        version: &str,
        notes: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<FirmwareResponse, ClientError> {
        let (name, version, notes) = (
            name.to_owned(),
            version.to_owned(),
            notes.map(str::to_owned),
        );
        self.json(Method::POST, "/api/firmware", move |r| {
            let mut form = reqwest::multipart::Form::new()
                .text("name", name.clone())
                .text("version", version.clone());
            if let Some(notes) = &notes {
                form = form.text("notes", notes.clone());
            }
            let part = reqwest::multipart::Part::bytes(bytes.clone()).file_name("firmware.bin");
            r.multipart(form.part("file", part))
        })
        .await
    }

    /// Downloads an image from byte `from` on (0: all of it). A resume sends `If-Range` with
    /// `etag`, so a changed image comes whole instead of spliced; with `from` 0 and an `etag`,
    /// `If-None-Match` asks whether the copy at hand is still current.
    pub async fn download_firmware(
        &self,
        name: &str,
        version: &str,
        from: u64,
        etag: Option<&str>,
    ) -> Result<Download, ClientError> {
        let path = fill_path(
            "/api/firmware/{name}/{version}/download",
            &[("name", name.to_owned()), ("version", version.to_owned())],
        );
        let res = self
            .send(Method::GET, &path, |r| match (from, etag) {
                (0, Some(tag)) => r.header("if-none-match", tag),
                (0, None) => r,
                (from, tag) => {
                    let r = r.header("range", format!("bytes={from}-"));
                    match tag {
                        Some(tag) => r.header("if-range", tag),
                        None => r,
                    }
                }
            })
            .await?;
        let partial = res.status() == StatusCode::PARTIAL_CONTENT;
        let not_modified = res.status() == StatusCode::NOT_MODIFIED;
        let etag = res
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Download {
            bytes: read_bytes(res).await?,
            etag,
            partial,
            not_modified,
        })
    }
}
