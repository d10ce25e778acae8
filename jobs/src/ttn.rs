//! Upstream sync with The Things Network (the netmetr-proxy pattern: the server adds its token
//! and calls the upstream; the token never reaches a browser). Registering follows the reference's
//! §10 sequence (identity server, then network, application and join server registries); removing
//! deletes the device from all four. Upstream 4xx answers are permanent failures carrying the
//! upstream's message; 5xx and network errors are retried.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::JobContext;
use crate::error::JobError;
pub use crate::ttn_api::{Credentials, TtnTarget, Upstream, device_id};

/// What to do upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum TtnAction {
    /// Create the end device.
    Register {
        /// The device's name on TTN (the logger's name).
        name: String,
        /// Its keys.
        credentials: Credentials,
    },
    /// Delete the end device.
    Remove,
}

/// One sync job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtnSync {
    /// The logger.
    pub logger_id: i32,
    /// What to do.
    #[serde(flatten)]
    pub action: TtnAction,
}

/// Keeps hex digits only, as ENTS did; `None` unless exactly `len` remain.
pub fn hex_exact(raw: &str, len: usize) -> Option<String> {
    let hex: String = raw.chars().filter(char::is_ascii_hexdigit).collect();
    (hex.len() == len).then(|| hex.to_ascii_uppercase())
}

impl TtnSync {
    /// This job as its record keeps it once it has ended: the app key removed (a retry still
    /// needs it, so the executor scrubs only an ended job). `None` when there is nothing secret.
    pub fn scrubbed(&self) -> Option<TtnSync> {
        match &self.action {
            TtnAction::Register { name, credentials } => Some(TtnSync {
                logger_id: self.logger_id,
                action: TtnAction::Register {
                    name: name.clone(),
                    credentials: Credentials {
                        app_key: "(removed)".into(),
                        ..credentials.clone()
                    },
                },
            }),
            TtnAction::Remove => None,
        }
    }

    /// Calls TTN; on any ending (not a retry) the app key is scrubbed from the job record.
    pub async fn run(&self, ctx: &mut JobContext) -> Result<Value, JobError> {
        let target = ctx.settings.ttn.clone().ok_or_else(|| {
            JobError::Permanent(
                "upstream sync is not configured (LOAM_TTN_APP_ID, LOAM_TTN_API_KEY)".into(),
            )
        })?;
        let outcome = match &self.action {
            TtnAction::Register { name, credentials } => {
                target.register(self.logger_id, name, credentials).await
            }
            TtnAction::Remove => target.remove(self.logger_id).await,
        };
        let outcome: Result<Value, JobError> = outcome.map_err(Into::into);
        ctx.progress(1, 1).await?;
        outcome
    }
}
