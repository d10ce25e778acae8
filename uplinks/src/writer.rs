//! The writer of uplinks that arrive without an HTTP caller (MQTT): the configured key
//! (`LOAM_MQTT_KEY`), looked up as the API looks up `X-API-Key`, or nobody in ENTS
//! compatibility mode.

use loam_config::Secret;

use crate::rules::Writer;

/// Why the configured key cannot write uplinks.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key outside ENTS compatibility mode: no rule could say which cells it may write.
    #[error(
        "LOAM_MQTT_KEY is not set: outside ENTS compatibility mode MQTT uplinks are stored with \
         the rights of an API key (a person's own key, or one logger's device key, with the \
         ingest scope)"
    )]
    Missing,
    /// The key is malformed, unknown, revoked, expired, or its owner is disabled.
    #[error(
        "LOAM_MQTT_KEY is not a live API key (malformed, unknown, revoked, expired, or its owner is disabled)"
    )]
    NotLive,
    /// The key lacks the ingest scope.
    #[error("LOAM_MQTT_KEY lacks the ingest scope")]
    NoIngestScope,
    /// The database could not answer.
    #[error("cannot look up LOAM_MQTT_KEY: {0}")]
    Db(#[from] loam_db::DbError),
}

/// The writer `key` stands for now (looked up on every message, so a revoked key or a disabled
/// owner stops writing at once); without a key, anonymous when `ents_compat`.
pub async fn resolve(
    db: &loam_db::Db,
    key: Option<&Secret>,
    ents_compat: bool,
) -> Result<Writer, KeyError> {
    let Some(key) = key else {
        return if ents_compat {
            Ok(Writer::Anonymous)
        } else {
            Err(KeyError::Missing)
        };
    };
    let Ok((_, digest)) = loam_auth::KeyDigest::parse(key.expose()) else {
        return Err(KeyError::NotLive);
    };
    let hex = digest.to_hex();
    let now = loam_db::now();
    let found = db
        .run(move |c| loam_db::api_keys::find_live_with_owner(c, &hex, now))
        .await?;
    let Some((key, owner_is_admin)) = found else {
        return Err(KeyError::NotLive);
    };
    if !key.scopes.split(',').any(|s| s.trim() == "ingest") {
        return Err(KeyError::NoIngestScope);
    }
    Ok(match key.logger_id {
        Some(logger_id) => Writer::Device {
            logger_id,
            owner_id: key.user_id,
            owner_is_admin,
        },
        None => Writer::Integration {
            owner_id: key.user_id,
            owner_is_admin,
        },
    })
}
