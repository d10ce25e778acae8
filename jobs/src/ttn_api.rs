//! The Things Network's HTTP API as Loam calls it: one client per target (connections reused),
//! the §10 registration sequence and removal, and upstream failures mapped onto job errors
//! (4xx permanent, 5xx and network errors retried).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::JobError;

/// Where and as whom Loam calls TTN, with one HTTP client (connections reused across calls).
#[derive(Debug, Clone)]
pub struct TtnTarget {
    /// API base, e.g. `https://eu1.cloud.thethings.network` (`/api/v3` is appended).
    pub base_url: String,
    /// The application whose devices Loam manages.
    pub app_id: String,
    /// Bearer token (redacted in debug output).
    pub api_key: loam_config::Secret,
    client: reqwest::Client,
}

/// LoRaWAN credentials for a registration (hex; the app key is a secret and is scrubbed from the
/// job record once the job has ended).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// 16 hex digits.
    pub dev_eui: String,
    /// 16 hex digits.
    pub join_eui: String,
    /// 32 hex digits.
    pub app_key: String,
}

/// The TTN device id of a logger (`dirtviz-<id>`, as ENTS named them).
pub fn device_id(logger_id: i32) -> String {
    format!("dirtviz-{logger_id}")
}

/// An upstream failure: its status (if it answered) and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The Things Network answered {}: {message}", status.map_or("nothing".to_owned(), |s| s.to_string()))]
pub struct Upstream {
    /// HTTP status, `None` when it could not be reached.
    pub status: Option<u16>,
    /// The upstream's message.
    pub message: String,
}

impl From<Upstream> for JobError {
    fn from(e: Upstream) -> Self {
        match e.status {
            Some(s) if (400..500).contains(&s) && s != 429 => JobError::Permanent(e.to_string()),
            _ => JobError::Transient(Box::new(e)),
        }
    }
}

impl TtnTarget {
    /// A target for `base_url` (no trailing slash needed).
    pub fn new(base_url: &str, app_id: String, api_key: loam_config::Secret) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .user_agent("loam/1.0")
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            app_id,
            api_key,
            client,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v3{path}", self.base_url)
    }

    /// One call; answers the JSON body of a 2xx (409 tolerated when `tolerate_conflict`).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        tolerate_conflict: bool,
    ) -> Result<Value, Upstream> {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(self.api_key.expose())
            .header("Accept", "application/json");
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.map_err(|e| Upstream {
            status: None,
            message: e.to_string(),
        })?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() || (tolerate_conflict && status.as_u16() == 409) {
            return Ok(json);
        }
        let message = json["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| text.chars().take(300).collect());
        Err(Upstream {
            status: Some(status.as_u16()),
            message,
        })
    }

    /// The device's current state upstream.
    pub async fn status(&self, logger_id: i32) -> Result<Value, Upstream> {
        let path = format!(
            "/applications/{}/devices/{}",
            self.app_id,
            device_id(logger_id)
        );
        self.call(reqwest::Method::GET, &path, None, false).await
    }

    pub(crate) async fn register(
        &self,
        logger_id: i32,
        name: &str,
        c: &Credentials,
    ) -> Result<Value, Upstream> {
        let (app, dev) = (&self.app_id, device_id(logger_id));
        let device = json!({
            "ids": {"device_id": dev, "dev_eui": c.dev_eui, "join_eui": c.join_eui,
                    "application_ids": {"application_id": app}},
            "name": name,
            "root_keys": {"app_key": {"key": c.app_key}},
            "lorawan_version": "MAC_V1_0_3",
            "lorawan_phy_version": "PHY_V1_0_3_REV_A",
            "frequency_plan_id": "US_902_928_FSB_2",
            "mac_settings": {"rx2_data_rate_index": 8, "rx2_frequency": 923_300_000},
            "supports_join": true, "multicast": false,
            "supports_class_b": false, "supports_class_c": false,
        });
        let ids = [
            "ids.join_eui",
            "ids.dev_eui",
            "ids.device_id",
            "ids.application_ids.application_id",
        ];
        let mask =
            |extra: &[&str]| json!({"paths": extra.iter().chain(ids.iter()).collect::<Vec<_>>()});
        use reqwest::Method;
        self.call(
            Method::POST,
            &format!("/applications/{app}/devices"),
            Some(json!({"end_device": device})),
            true,
        )
        .await?;
        self.call(
            Method::PUT,
            &format!("/ns/applications/{app}/devices/{dev}"),
            Some(json!({"end_device": device, "field_mask": mask(&[
                "frequency_plan_id", "lorawan_version", "lorawan_phy_version", "supports_join",
                "multicast", "supports_class_b", "supports_class_c",
                "mac_settings.rx2_data_rate_index", "mac_settings.rx2_frequency"])})),
            false,
        )
        .await?;
        self.call(
            Method::POST,
            &format!("/as/applications/{app}/devices"),
            Some(json!({"end_device": device, "field_mask": mask(&[])})),
            true,
        )
        .await?;
        self.call(
            Method::POST,
            &format!("/js/applications/{app}/devices"),
            Some(json!({"end_device": device, "field_mask": mask(&[
                "network_server_address", "application_server_address", "root_keys.app_key.key"])})),
            true,
        )
        .await?;
        Ok(json!({"ttn_device_id": dev, "ttn_registered": true}))
    }

    pub(crate) async fn remove(&self, logger_id: i32) -> Result<Value, Upstream> {
        let (app, dev) = (&self.app_id, device_id(logger_id));
        for registry in ["", "/js", "/ns", "/as"] {
            let path = format!("{registry}/applications/{app}/devices/{dev}");
            match self.call(reqwest::Method::DELETE, &path, None, false).await {
                Ok(_) => {}
                // Already gone there: removal is idempotent.
                Err(Upstream {
                    status: Some(404), ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(json!({"ttn_device_id": dev, "ttn_registered": false}))
    }
}
