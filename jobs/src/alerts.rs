//! Alert rules, evaluated once per period by a job on the same queue as every other job.
//! Every runner schedules the period's job, but its record's id is derived from the period, so
//! only the first scheduler inserts and dispatches it; inside the job each rule is claimed for
//! the period with a conditional update, so a duplicated or retried job judges no rule twice.
//! The job then sends due webhook deliveries (signed, retried with backoff, each attempt kept).

use std::net::IpAddr;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use hmac::{Hmac, Mac};
use loam_db::Db;
use loam_db::alerts::{
    AlertDelivery, AlertEvent, AlertRule, AttemptOutcome, NewAlertEvent, PowerColumn, Series,
    TerosColumn,
};
use loam_schemas::alerts::{AlertCondition, AlertEventResponse, ThresholdSide};
use loam_watch::rules::{Side, Step};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::context::JobContext;
use crate::error::JobError;
use crate::queue::JobQueue;

/// How an attempt's error starts when the receiver was refused (not retried).
const REFUSED: &str = "refused:";

/// Attempts at a webhook delivery before it is marked failed.
pub const MAX_DELIVERY_ATTEMPTS: i32 = 8;
/// Longest wait between two attempts.
const MAX_BACKOFF: TimeDelta = TimeDelta::hours(6);
/// How long a sender holds a claimed delivery before another may take it.
const DELIVERY_HOLD: TimeDelta = TimeDelta::seconds(60);
/// How long a webhook receiver may take to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries sent per evaluation at most (the rest wait for the next period).
const DELIVERIES_PER_SWEEP: i64 = 200;
/// Deliveries claimed and sent at once: a chunk ends within one webhook timeout, far inside
/// the claim's hold.
const DELIVERY_CHUNK: i64 = 16;

/// The period's evaluation of every enabled rule, then the due deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSweep {
    /// The evaluation period: Unix seconds divided by `LOAM_ALERT_PERIOD_SECS`.
    pub period: i64,
}

/// How a sweep sends webhooks.
#[derive(Debug, Clone)]
pub struct WebhookPolicy {
    /// No new chunk of deliveries starts after this long (a chunk ends within one
    /// [`WEBHOOK_TIMEOUT`]), so a sweep frees its job slot soon whatever the receivers do.
    pub budget: Duration,
    /// The first retry waits this long; each further one twice as long (capped at 6 h).
    pub backoff: Duration,
    /// Whether receivers on loopback, private or link-local addresses are allowed.
    pub allow_private: bool,
}

impl AlertSweep {
    /// Judges the rules not yet judged this period, records their events, and sends due
    /// deliveries.
    pub async fn run(&self, ctx: &mut JobContext) -> Result<serde_json::Value, JobError> {
        let db = ctx.db.clone();
        let period = self.period;
        let now = loam_db::now();
        let due = db
            .run(move |c| loam_db::alerts::due_rules(c, period))
            .await?;
        let (mut judged, mut events) = (0, 0);
        for rule in due {
            let id = rule.id;
            if !db
                .run(move |c| loam_db::alerts::claim_period(c, id, period))
                .await?
            {
                continue;
            }
            judged += 1;
            match judge_rule(&db, &rule, now).await {
                Ok(Some(_)) => events += 1,
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(rule = id, error = %err, "could not judge an alert rule")
                }
            }
        }
        let policy = ctx.settings.webhooks.clone();
        let attempted = deliver_due(&db, &policy, now).await?;
        let before = now - TimeDelta::hours(1);
        db.run(move |c| loam_db::jobs::delete_ended(c, loam_db::jobs::ALERT_SWEEP, before))
            .await?;
        Ok(serde_json::json!({
            "period": period,
            "rules_judged": judged,
            "events": events,
            "deliveries_attempted": attempted,
        }))
    }
}

/// Parses a threshold rule's series name.
pub fn parse_series(name: &str) -> Option<Series> {
    let column = |c| match c {
        "voltage" => Some(Series::Power(PowerColumn::Voltage)),
        "current" => Some(Series::Power(PowerColumn::Current)),
        _ => None,
    };
    let teros = |c| match c {
        "vwc" => Some(TerosColumn::Vwc),
        "raw_vwc" => Some(TerosColumn::RawVwc),
        "temp" => Some(TerosColumn::Temp),
        "ec" => Some(TerosColumn::Ec),
        "water_pot" => Some(TerosColumn::WaterPot),
        _ => None,
    };
    if let Some(c) = name.strip_prefix("power.") {
        return column(c);
    }
    if let Some(c) = name.strip_prefix("teros.") {
        return teros(c).map(Series::Teros);
    }
    let rest = name.strip_prefix("sensor/")?;
    let (sensor, measurement) = rest.split_once('/')?;
    (!sensor.is_empty() && !measurement.is_empty() && !measurement.contains('/')).then(|| {
        Series::Sensor {
            name: sensor.to_owned(),
            measurement: measurement.to_owned(),
        }
    })
}

/// What one evaluation found.
struct Finding {
    holds: bool,
    value: Option<f64>,
    cell_id: Option<i32>,
    logger_id: Option<i32>,
    /// What to say when it fires (or repeats) and when it resolves.
    firing: String,
    resolved: String,
}

fn span(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{:.1} h", s as f64 / 3600.0),
    }
}

async fn find_silence(
    db: &Db,
    rule: &AlertRule,
    minutes: Option<u32>,
    factor: Option<f64>,
    now: NaiveDateTime,
) -> Result<Option<Finding>, JobError> {
    let Some(logger_id) = rule.logger_id else {
        return Ok(None);
    };
    let Some(logger) = db
        .run(move |c| loam_db::loggers::find(c, logger_id))
        .await?
    else {
        return Ok(None);
    };
    let name = logger.name.clone();
    let facts = db
        .run(move |c| loam_db::health::of_logger(c, logger, now))
        .await?;
    let times: Vec<NaiveDateTime> = facts.recent.iter().map(|m| m.at).collect();
    let judgement = loam_watch::device::judge(&times, now);
    let holds = loam_watch::rules::silence_holds(&judgement, minutes.map(i64::from), factor);
    let silence = judgement.silence_secs.unwrap_or(0);
    Ok(Some(Finding {
        holds,
        #[allow(clippy::cast_precision_loss)]
        value: Some(silence as f64),
        cell_id: facts.recent.first().and_then(|m| m.cell_id),
        logger_id: Some(logger_id),
        firing: format!(
            "logger {name} has uploaded nothing for {} (usual interval {})",
            span(silence),
            span(judgement.interval_secs)
        ),
        resolved: format!("logger {name} is uploading again"),
    }))
}

async fn find_threshold(
    db: &Db,
    rule: &AlertRule,
    (series_name, side, bound, for_minutes): (&str, ThresholdSide, f64, u32),
    now: NaiveDateTime,
) -> Result<Option<Finding>, JobError> {
    let (Some(cell_id), Some(series)) = (rule.cell_id, parse_series(series_name)) else {
        return Ok(None);
    };
    let since = now - TimeDelta::minutes(i64::from(for_minutes) + 60);
    let readings = db
        .run(move |c| loam_db::alerts::readings(c, cell_id, &series, since))
        .await?;
    let side = match side {
        ThresholdSide::Below => Side::Below,
        ThresholdSide::Above => Side::Above,
    };
    let breach =
        loam_watch::rules::threshold_holds(&readings, side, bound, i64::from(for_minutes), now);
    let latest = readings.iter().max_by_key(|(ts, _)| *ts).map(|(_, v)| *v);
    Ok(Some(Finding {
        holds: breach.is_some(),
        value: latest,
        cell_id: Some(cell_id),
        logger_id: None,
        firing: format!(
            "{series_name} in cell {cell_id} has been {} {bound} for {} (latest {})",
            side.as_str(),
            span(breach.map_or(0, |b| (now - b.since).num_seconds())),
            latest.map_or_else(|| "none".to_owned(), |v| format!("{v}"))
        ),
        resolved: format!(
            "{series_name} in cell {cell_id} is no longer {} {bound} (latest {})",
            side.as_str(),
            latest.map_or_else(|| "none".to_owned(), |v| format!("{v}"))
        ),
    }))
}

/// Judges one rule at `now` and records what it does; returns the event it raised.
async fn judge_rule(
    db: &Db,
    rule: &AlertRule,
    now: NaiveDateTime,
) -> Result<Option<AlertEvent>, JobError> {
    let watched = rule.clone();
    if !db
        .run(move |c| loam_db::alerts::owner_may_watch(c, &watched))
        .await?
    {
        tracing::info!(
            rule = rule.id,
            "alert rule skipped: its owner may no longer watch its logger or cell"
        );
        if rule.firing_since.is_some() {
            let id = rule.id;
            db.run(move |c| loam_db::alerts::clear_firing(c, id))
                .await?;
        }
        return Ok(None);
    }
    let condition: AlertCondition = serde_json::from_str(&rule.condition)
        .map_err(|e| JobError::Permanent(format!("rule {}: unreadable condition: {e}", rule.id)))?;
    let finding = match &condition {
        AlertCondition::Silence { minutes, factor } => {
            find_silence(db, rule, *minutes, *factor, now).await?
        }
        AlertCondition::Threshold {
            series,
            side,
            bound,
            for_minutes,
        } => find_threshold(db, rule, (series, *side, *bound, *for_minutes), now).await?,
    };
    let Some(finding) = finding else {
        return Ok(None);
    };
    let step = loam_watch::rules::step(
        finding.holds,
        rule.firing_since.is_some(),
        rule.last_notified_at,
        rule.repeat_minutes.map(i64::from),
        now,
    );
    let (kind, firing_since, message) = match step {
        Step::Quiet => return Ok(None),
        Step::Fire => ("firing", Some(now), finding.firing),
        Step::Repeat => ("repeat", rule.firing_since, finding.firing),
        Step::Resolve if !rule.notify_recovery => {
            let id = rule.id;
            db.run(move |c| loam_db::alerts::clear_firing(c, id))
                .await?;
            return Ok(None);
        }
        Step::Resolve => ("resolved", None, finding.resolved),
    };
    let event = NewAlertEvent {
        rule_id: rule.id,
        kind: kind.to_owned(),
        at: now,
        cell_id: finding.cell_id,
        logger_id: finding.logger_id,
        message,
        value: finding.value,
    };
    let webhook = rule.webhook_url.clone();
    let stored = db
        .run(move |c| loam_db::alerts::record_event(c, &event, firing_since, webhook.as_deref()))
        .await?;
    tracing::info!(rule = rule.id, kind, message = %stored.message, "alert event");
    Ok(Some(stored))
}

/// The wire form of an event (webhook body, live `alert` payload, API listing).
pub fn event_response(event: &AlertEvent, rule_name: &str) -> AlertEventResponse {
    AlertEventResponse {
        id: event.id,
        rule_id: event.rule_id,
        rule_name: rule_name.to_owned(),
        kind: event.kind.clone(),
        at: loam_schemas::wire::rfc3339(event.at),
        cell_id: event.cell_id,
        logger_id: event.logger_id,
        message: event.message.clone(),
        value: event.value,
    }
}

/// `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>` with the rule's secret: what the
/// `Loam-Signature` header carries, so a receiver can check origin and freshness.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this never fails.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before attempt `attempts + 1` after `attempts` failures.
pub fn backoff(base: Duration, attempts: i32) -> TimeDelta {
    let base = TimeDelta::from_std(base).unwrap_or(TimeDelta::seconds(60));
    let factor = 1i32 << attempts.clamp(0, 20);
    (base * factor).min(MAX_BACKOFF)
}

/// Whether an address is one a webhook must not reach unless allowed (the server's own
/// network: loopback, private, link-local, unspecified, CGNAT, unique-local).
fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments().first().copied().unwrap_or(0);
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| private(IpAddr::V4(v4)))
                || embedded_v4(v6).is_some_and(|v4| private(IpAddr::V4(v4)))
        }
    }
}

/// The IPv4 address inside a NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`) address, which
/// reaches that IPv4 host.
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        std::net::Ipv4Addr::new(a, b, c, d)
    };
    match v6.segments() {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

/// Refuses a receiver whose host resolves to a private address (unless allowed).
async fn check_receiver(url: &reqwest::Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let host = url.host_str().ok_or("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    for addr in addrs {
        if private(addr.ip()) {
            return Err(format!(
                "{REFUSED} {host} resolves to {}, a private address (LOAM_ALERT_ALLOW_PRIVATE_WEBHOOKS allows it)",
                addr.ip()
            ));
        }
    }
    Ok(())
}

async fn send_one(
    http: &reqwest::Client,
    policy: &WebhookPolicy,
    delivery: &AlertDelivery,
    body: Vec<u8>,
    secret: &str,
    event_id: i64,
) -> (Option<i32>, Option<String>) {
    let url = match reqwest::Url::parse(&delivery.url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => return (None, Some("not an http(s) URL".to_owned())),
    };
    if let Err(why) = check_receiver(&url, policy.allow_private).await {
        return (None, Some(why));
    }
    let timestamp = chrono::Utc::now().timestamp();
    let answer = http
        .post(url)
        .header("content-type", "application/json")
        .header("loam-event-id", event_id.to_string())
        .header("loam-timestamp", timestamp.to_string())
        .header("loam-signature", signature(secret, timestamp, &body))
        .body(body)
        .send()
        .await;
    match answer {
        Ok(res) if res.status().is_success() => (Some(i32::from(res.status().as_u16())), None),
        Ok(res) => (
            Some(i32::from(res.status().as_u16())),
            Some(format!("the receiver answered {}", res.status())),
        ),
        Err(e) if e.is_timeout() => (None, Some("the receiver did not answer in time".into())),
        Err(e) => (None, Some(format!("cannot reach the receiver: {e}"))),
    }
}

/// Sends the deliveries due at `now`, a few at a time and concurrently (each chunk is claimed
/// just before it is sent, and sent well within the claim's hold, so no other sender takes one
/// in flight); returns how many attempts were made.
pub async fn deliver_due(
    db: &Db,
    policy: &WebhookPolicy,
    now: NaiveDateTime,
) -> Result<usize, JobError> {
    let http = reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| JobError::Permanent(format!("no HTTP client: {e}")))?;
    let mut attempted = 0;
    let started = std::time::Instant::now();
    // A sweep holds one of the runner's job slots: past its budget it leaves the rest for the
    // next period rather than keep exports and imports waiting behind slow receivers.
    while attempted < DELIVERIES_PER_SWEEP && started.elapsed() < policy.budget {
        let claimed = db
            .run(move |c| {
                loam_db::alerts::claim_due_deliveries(c, now, DELIVERY_HOLD, DELIVERY_CHUNK)
            })
            .await?;
        if claimed.is_empty() {
            break;
        }
        attempted += claimed.len() as i64;
        let mut sends = tokio::task::JoinSet::new();
        for (delivery, event) in claimed {
            let (db, http, policy) = (db.clone(), http.clone(), policy.clone());
            sends.spawn(async move { deliver_one(&db, &http, &policy, delivery, event).await });
        }
        while let Some(outcome) = sends.join_next().await {
            outcome.map_err(|e| JobError::Permanent(format!("a delivery task failed: {e}")))??;
        }
    }
    Ok(usize::try_from(attempted).unwrap_or(usize::MAX))
}

/// Sends one delivery and records the attempt.
async fn deliver_one(
    db: &Db,
    http: &reqwest::Client,
    policy: &WebhookPolicy,
    delivery: AlertDelivery,
    event: AlertEvent,
) -> Result<(), JobError> {
    let rule_id = delivery.rule_id;
    let Some(rule) = db
        .run(move |c| loam_db::alerts::find_rule(c, rule_id))
        .await?
    else {
        return Ok(());
    };
    let condition_kind = serde_json::from_str::<AlertCondition>(&rule.condition)
        .map(|c| c.kind())
        .unwrap_or("unknown");
    let body = serde_json::json!({
        "event": event_response(&event, &rule.name),
        "rule": {"id": rule.id, "name": rule.name, "kind": condition_kind},
    });
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let started = std::time::Instant::now();
    let (status, error) = send_one(http, policy, &delivery, body, &rule.secret, event.id).await;
    let at = loam_db::now();
    let retry = match &error {
        None => None,
        // A refused receiver stays refused: no point in retrying it.
        Some(why) if why.starts_with(REFUSED) => Some(None),
        Some(_) if delivery.attempts + 1 >= MAX_DELIVERY_ATTEMPTS => Some(None),
        Some(_) => Some(Some(at + backoff(policy.backoff, delivery.attempts))),
    };
    let outcome = AttemptOutcome {
        at,
        status,
        error,
        duration_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
        retry,
    };
    if let Some(why) = &outcome.error {
        tracing::warn!(rule = rule.id, delivery = delivery.id, error = %why, "webhook delivery failed");
    }
    db.run(move |c| loam_db::alerts::record_attempt(c, &delivery, &outcome))
        .await?;
    Ok(())
}

/// Every `period`, while any rule is enabled, puts the period's evaluation on the queue —
/// once, however many runners do this (the record's id is derived from the period).
pub async fn schedule_forever(db: Db, queue: JobQueue, period: Duration) {
    let secs = i64::try_from(period.as_secs().max(1)).unwrap_or(60);
    let mut tick = tokio::time::interval(period.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match db.run(loam_db::alerts::any_enabled).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "cannot look for alert rules; trying next period");
                continue;
            }
        }
        let period_index = chrono::Utc::now().timestamp() / secs;
        if let Err(err) = queue.submit_periodic(&db, period_index, secs).await {
            tracing::warn!(error = %err, "cannot schedule the alert evaluation; trying next period");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_names() {
        assert_eq!(
            parse_series("power.voltage"),
            Some(Series::Power(PowerColumn::Voltage))
        );
        assert_eq!(
            parse_series("teros.vwc"),
            Some(Series::Teros(TerosColumn::Vwc))
        );
        assert_eq!(
            parse_series("sensor/bme280/temperature"),
            Some(Series::Sensor {
                name: "bme280".into(),
                measurement: "temperature".into()
            })
        );
        for bad in [
            "power",
            "power.watts",
            "teros.",
            "sensor/x",
            "sensor//m",
            "sensor/a/b/c",
            "",
        ] {
            assert_eq!(parse_series(bad), None, "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_secs(60);
        assert_eq!(backoff(base, 0), TimeDelta::seconds(60));
        assert_eq!(backoff(base, 3), TimeDelta::seconds(480));
        assert_eq!(backoff(base, 30), MAX_BACKOFF);
    }

    #[test]
    fn signatures_cover_time_and_body() {
        let a = signature("s3cret", 1_700_000_000, b"{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, signature("s3cret", 1_700_000_001, b"{}"));
        assert_ne!(a, signature("other", 1_700_000_000, b"{}"));
        assert_ne!(a, signature("s3cret", 1_700_000_000, b"{ }"));
    }

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
        ] {
            assert!(private(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "2001:4860:4860::8888",
            "100.128.0.1",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert!(!private(ip.parse().expect("ip")), "{ip}");
        }
    }
}
