//! MQTT uplinks: subscribes (QoS 1, a persistent session under a stable client id) to TTN v3
//! (`v3/{app}/devices/{device}/up`) and ChirpStack v4 (`application/{id}/device/{devEui}/event/
//! up`) uplink topics, decodes each message through the HTTP doors' decoders, applies the same
//! rules ([`crate::rules::prepare`]) with the configured key's rights, and stores it in one
//! all-or-nothing commit. At least once: a message is acknowledged (PUBACK) only after its rows
//! are committed, so the broker redelivers whatever was in flight when Loam or the broker went
//! away, and the unique indexes make a redelivered message store nothing new. A message that
//! can never be stored (not JSON, not decodable, refused by the rules) is logged, counted and
//! acknowledged; a database failure is retried, and the message stays unacknowledged until then.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use loam_config::{Config, Secret};
use loam_db::writes::{DeviceClaim, StoreError, UploadRows};
use loam_ingest::ttn::Uplink;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};

use crate::rules::{self, Refusal};

/// The door name MQTT uplinks are counted under in the metrics.
pub const DOOR: &str = "mqtt";

/// Bytes of payload one quota slot pays for (as the HTTP doors count).
const SLOT_BYTES: usize = 4096;

/// The largest packet MQTT can carry (its remaining-length field tops out at 256 MiB).
const MQTT_MAX_PACKET: usize = 268_435_455;

/// The first reconnect delay; it doubles per failed attempt up to [`MOST_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// The longest wait between reconnect (or database retry) attempts.
const MOST_BACKOFF: Duration = Duration::from_secs(15);

/// Where and how to subscribe, from the `LOAM_MQTT_*` settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Broker credentials.
    pub credentials: Option<(String, Secret)>,
    /// Topic filters.
    pub topics: Vec<String>,
    /// The stable client id of the persistent session.
    pub client_id: String,
    /// The key uplinks are stored with.
    pub key: Option<Secret>,
    /// ENTS compatibility mode: without a key, uplinks are stored anonymously.
    pub ents_compat: bool,
    /// `LOAM_RAW_RETENTION_DAYS`.
    pub raw_retention_days: Option<u32>,
    /// Largest payload stored (`LOAM_BODY_LIMIT_BYTES`, as for HTTP uploads); larger ones are
    /// refused and acknowledged.
    pub max_payload: usize,
}

/// Why MQTT cannot start; each names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The URL is not `mqtt://host[:port]`.
    #[error("LOAM_MQTT_URL must look like mqtt://host:1883 (tcp:// works too; no TLS): {0}")]
    Url(String),
    /// No topic filter.
    #[error("LOAM_MQTT_TOPICS names no topic filter")]
    NoTopics,
    /// A password without a user name.
    #[error("LOAM_MQTT_PASSWORD is set without LOAM_MQTT_USERNAME")]
    PasswordWithoutUser,
    /// The client id is empty: a persistent session needs one.
    #[error("LOAM_MQTT_CLIENT_ID must not be empty (the broker keeps the session under it)")]
    NoClientId,
}

impl Settings {
    /// The MQTT settings, `None` when `LOAM_MQTT_URL` is unset.
    pub fn from_config(config: &Config) -> Result<Option<Self>, SettingsError> {
        let Some(url) = config.mqtt_url.as_deref() else {
            return Ok(None);
        };
        let (host, port) = host_port(url).ok_or_else(|| SettingsError::Url(url.to_owned()))?;
        let topics: Vec<String> = config
            .mqtt_topics
            .iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if topics.is_empty() {
            return Err(SettingsError::NoTopics);
        }
        let credentials = match (&config.mqtt_username, &config.mqtt_password) {
            (Some(user), password) => Some((
                user.clone(),
                password.clone().unwrap_or_else(|| Secret::new("")),
            )),
            (None, Some(_)) => return Err(SettingsError::PasswordWithoutUser),
            (None, None) => None,
        };
        if config.mqtt_client_id.trim().is_empty() {
            return Err(SettingsError::NoClientId);
        }
        Ok(Some(Self {
            host,
            port,
            credentials,
            topics,
            client_id: config.mqtt_client_id.trim().to_owned(),
            key: config.mqtt_key.clone(),
            ents_compat: config.ents_compat,
            raw_retention_days: config.raw_retention_days,
            max_payload: config.body_limit_bytes,
        }))
    }
}

/// `mqtt://host[:port]` (or `tcp://`) as host and port (1883 by default).
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
            (host, port.parse().ok()?)
        }
        _ => (authority, 1883),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// The subscriber's connection state, for readiness probes.
#[derive(Debug, Default)]
pub struct Status {
    state: AtomicU8,
    stored: AtomicU64,
}

impl Status {
    /// `connecting` (never subscribed yet), `connected` (subscribed) or `reconnecting`.
    pub fn describe(&self) -> &'static str {
        match self.state.load(Ordering::Relaxed) {
            1 => "connected",
            2 => "reconnecting",
            _ => "connecting",
        }
    }

    /// Messages stored (or found already stored) and acknowledged so far.
    pub fn stored(&self) -> u64 {
        self.stored.load(Ordering::Relaxed)
    }
}

/// A running subscriber.
pub struct Subscriber {
    /// Its connection state.
    pub status: Arc<Status>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Subscriber {
    /// Stops it (a message being stored is not acknowledged; the broker redelivers it). Without
    /// this it runs as long as the process.
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Checks that the rules can be applied (the key resolves: see [`crate::writer::resolve`]) and
/// starts subscribing; refuses to start with an error naming the setting otherwise.
pub async fn start(db: loam_db::Db, settings: Settings) -> anyhow::Result<Subscriber> {
    crate::writer::resolve(&db, settings.key.as_ref(), settings.ents_compat).await?;
    let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(false)
        .set_manual_acks(true)
        // Accept any packet MQTT allows: one the client refused to read would break the
        // connection, and the broker would redeliver it on every reconnect, for ever. Oversized
        // payloads are refused (and acknowledged) by `handle` instead.
        .set_max_packet_size(MQTT_MAX_PACKET, 1 << 20);
    if let Some((user, password)) = &settings.credentials {
        options.set_credentials(user, password.expose());
    }
    let (client, eventloop) = AsyncClient::new(options, 64);
    let status = Arc::new(Status::default());
    let generation = Arc::new(AtomicU64::new(0));
    let (messages, inbox) = tokio::sync::mpsc::channel(256);
    tracing::info!(
        broker = %format!("{}:{}", settings.host, settings.port),
        topics = ?settings.topics,
        client_id = %settings.client_id,
        "MQTT uplinks: subscribing"
    );
    let settings = Arc::new(settings);
    let connection = tokio::spawn(connect_loop(
        eventloop,
        client.clone(),
        Arc::clone(&settings),
        Arc::clone(&status),
        Arc::clone(&generation),
        messages,
    ));
    let processing = tokio::spawn(process_loop(
        db,
        client,
        settings,
        Arc::clone(&status),
        generation,
        inbox,
    ));
    Ok(Subscriber {
        status,
        tasks: vec![connection, processing],
    })
}

/// The delay before attempt `n` (0-based): exponential, capped, with jitter (half to all of it).
fn backoff(attempt: u32) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(MOST_BACKOFF);
    full.mul_f64(rand::random_range(0.5..=1.0))
}

/// Polls the connection: (re)connects with backoff, subscribes on every connection, and hands
/// each uplink to the processor tagged with the connection it came on.
async fn connect_loop(
    mut eventloop: rumqttc::EventLoop,
    client: AsyncClient,
    settings: Arc<Settings>,
    status: Arc<Status>,
    generation: Arc<AtomicU64>,
    messages: tokio::sync::mpsc::Sender<(u64, Publish)>,
) {
    let mut failures = 0u32;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                failures = 0;
                generation.fetch_add(1, Ordering::SeqCst);
                tracing::info!(
                    session_present = ack.session_present,
                    "MQTT uplinks: connected"
                );
                let filters = settings
                    .topics
                    .iter()
                    .map(|t| rumqttc::SubscribeFilter::new(t.clone(), QoS::AtLeastOnce));
                if let Err(err) = client.try_subscribe_many(filters) {
                    tracing::error!(error = %err, "MQTT uplinks: cannot subscribe");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                // Connected counts from the subscription: only then do uplinks flow.
                status.state.store(1, Ordering::Relaxed);
                tracing::info!(?ack.return_codes, "MQTT uplinks: subscribed");
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let current = generation.load(Ordering::SeqCst);
                if messages.send((current, publish)).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(err) => {
                status.state.store(2, Ordering::Relaxed);
                let wait = backoff(failures);
                failures = failures.saturating_add(1);
                tracing::warn!(error = %err, retry_in_ms = wait.as_millis() as u64, "MQTT uplinks: connection lost; reconnecting");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Stores messages one at a time, in arrival order, and acknowledges each after its commit.
async fn process_loop(
    db: loam_db::Db,
    client: AsyncClient,
    settings: Arc<Settings>,
    status: Arc<Status>,
    generation: Arc<AtomicU64>,
    mut inbox: tokio::sync::mpsc::Receiver<(u64, Publish)>,
) {
    while let Some((came_on, publish)) = inbox.recv().await {
        let mut attempt = 0u32;
        loop {
            match handle(&db, &settings, &publish).await {
                Handled::Done => break,
                Handled::Retry(why) => {
                    let wait = backoff(attempt);
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(topic = %publish.topic, reason = %why, retry_in_ms = wait.as_millis() as u64, "MQTT uplink not stored yet; retrying (it stays unacknowledged)");
                    tokio::time::sleep(wait).await;
                }
            }
        }
        status.stored.fetch_add(1, Ordering::Relaxed);
        // An acknowledgement belongs to the connection that delivered the message: after a
        // reconnect the broker redelivers it, and that copy (stored again as nothing new) is the
        // one acknowledged.
        if came_on == generation.load(Ordering::SeqCst)
            && let Err(err) = client.ack(&publish).await
        {
            tracing::warn!(error = %err, "MQTT uplinks: acknowledgement not sent; the broker will redeliver");
        }
    }
}

/// What became of one message.
enum Handled {
    /// Stored, found already stored, or refused for good: acknowledge it.
    Done,
    /// Not stored for now (the database, or the key, is unavailable): try again.
    Retry(String),
}

/// Which uplink format a topic carries.
fn is_chirpstack(topic: &str) -> bool {
    topic.ends_with("/event/up")
}

async fn handle(db: &loam_db::Db, settings: &Settings, publish: &Publish) -> Handled {
    let topic = publish.topic.as_str();
    let refuse = |reason: &'static str, why: &dyn std::fmt::Display| {
        tracing::warn!(%topic, reason, "MQTT uplink refused (acknowledged, not stored): {why}");
        loam_metrics::global().upload_refused(DOOR, reason);
        Handled::Done
    };
    if publish.payload.len() > settings.max_payload {
        return refuse(
            "too_large",
            &format!(
                "{} bytes, more than LOAM_BODY_LIMIT_BYTES ({})",
                publish.payload.len(),
                settings.max_payload
            ),
        );
    }
    let value: serde_json::Value = match serde_json::from_slice(&publish.payload) {
        Ok(value) => value,
        Err(err) => return refuse("invalid_json", &err),
    };
    let parsed = if is_chirpstack(topic) {
        loam_ingest::chirpstack::parse(&value)
    } else {
        loam_ingest::ttn::parse(&value)
    };
    let uplink = match parsed {
        Ok(uplink) => uplink,
        Err(err) => return refuse("invalid_upload", &err),
    };
    let upload = match loam_ingest::decode_uplink(&uplink) {
        Some(Ok(upload)) => upload,
        Some(Err(err)) => return refuse("invalid_upload", &err),
        None if uplink == Uplink::UnknownPort => {
            return refuse("unknown_port", &"f_port/fPort not recognized (1, 2 or 202)");
        }
        None => {
            tracing::debug!(%topic, "MQTT uplink with nothing to store (time sync or empty frame)");
            return Handled::Done;
        }
    };
    let writer = match crate::writer::resolve(db, settings.key.as_ref(), settings.ents_compat).await
    {
        Ok(writer) => writer,
        Err(err) => return Handled::Retry(err.to_string()),
    };
    let now = loam_db::now();
    let raw_since = settings
        .raw_retention_days
        .map(|days| loam_db::retention::horizon(days, now));
    let prepared = match rules::prepare(&upload, &writer, now.and_utc().timestamp(), raw_since) {
        Ok(prepared) => prepared,
        Err(refusal) => return refuse(refusal_code(&refusal), &refusal),
    };
    let slots = publish.payload.len().div_ceil(SLOT_BYTES).max(1) as i64;
    let rows = UploadRows {
        rows: prepared.rows,
        member: prepared.member,
        logger_owner: prepared.logger_owner,
        device: prepared.logger.map(|logger_id| DeviceClaim {
            logger_id,
            slots,
            receipt: None,
            firmware: None,
        }),
    };
    let tables = rules::rows_by_table(&upload);
    let outcome = db
        .run(move |c| loam_db::group_commit::store_batch(c, std::slice::from_ref(&rows), now))
        .await
        .map(|mut outcomes| outcomes.pop());
    match outcome {
        Ok(Some(Ok(stored))) => {
            rules::count_stored(DOOR, tables, stored.new_rows as u64);
            tracing::debug!(%topic, new_rows = stored.new_rows, "MQTT uplink stored");
            Handled::Done
        }
        Ok(Some(Err(StoreError::Db(err)))) => Handled::Retry(err.to_string()),
        Ok(Some(Err(err))) => refuse(store_code(&err), &err),
        Ok(None) => Handled::Retry("the commit gave no outcome".into()),
        Err(err) => Handled::Retry(err.to_string()),
    }
}

/// The metrics reason of a rule refusal (the HTTP doors' error codes).
pub fn refusal_code(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::Decode(_) => "invalid_upload",
        Refusal::OlderThanRetention { .. } => "older_than_retention",
        Refusal::OtherLogger { .. } => "forbidden",
        Refusal::UnknownCell(_) => "unknown_target",
    }
}

fn store_code(err: &StoreError) -> &'static str {
    match err {
        StoreError::UnknownCell(_) | StoreError::UnknownLogger(_) => "unknown_target",
        StoreError::NotMember(_) => "not_found",
        StoreError::NotOwner(_) => "forbidden",
        StoreError::LocatorReused(_) => "locator_reused",
        StoreError::QuotaExhausted { .. } => "quota_exhausted",
        StoreError::QuotaExpired(_) => "quota_expired",
        StoreError::Db(_) => "db",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse() {
        assert_eq!(
            host_port("mqtt://127.0.0.1:1883"),
            Some(("127.0.0.1".into(), 1883))
        );
        assert_eq!(
            host_port("tcp://broker.example"),
            Some(("broker.example".into(), 1883))
        );
        assert_eq!(host_port("mqtt://[::1]:1884/"), Some(("::1".into(), 1884)));
        assert_eq!(host_port("mqtts://broker:8883"), None);
        assert_eq!(host_port("mqtt://user:pw@broker"), None);
        assert_eq!(host_port("mqtt://broker:notaport"), None);
        assert_eq!(host_port("mqtt://"), None);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        assert!(backoff(0) <= FIRST_BACKOFF && backoff(0) >= FIRST_BACKOFF / 2);
        assert!(backoff(3) >= FIRST_BACKOFF * 4);
        for attempt in [10, 40, u32::MAX] {
            assert!(backoff(attempt) <= MOST_BACKOFF);
            assert!(backoff(attempt) >= MOST_BACKOFF / 2);
        }
    }

    #[test]
    fn topics_pick_the_format() {
        assert!(is_chirpstack(
            "application/17c8/device/0101010101010101/event/up"
        ));
        assert!(is_chirpstack("run-42/application/1/device/2/event/up"));
        assert!(!is_chirpstack("v3/soil@ttn/devices/dirtviz-1/up"));
    }
}
