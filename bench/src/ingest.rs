//! The ingest matrix: uploads the way real fleets send them, each pattern at several
//! concurrencies, with every acknowledged row checked in the database afterwards.
//!
//! Patterns (every upload carries device times no other upload uses, so each must store new
//! rows; workers interleave their times, so on the hot-cell patterns every worker hits the same
//! hourly and daily rollup rows at once):
//! - `power`: protobuf power, one cell, one logger with its device key (the kindest pattern);
//! - `logger`: ENTS firmware — power then TEROS for the same time, one cell, anonymous
//!   (compatibility mode), as the ENTS backend was measured;
//! - `generic`: `SensorVersion: 2` messages with 3–6 measurements, one cell, device key;
//! - `cells100`: power into 100 cells, one logger and key each;
//! - `ttn`: TTN v3 uplink webhooks from 50 devices, ports 1 and 2 alternating;
//! - `late`: power 1–30 days old, newest first, one cell (a logger emptying its flash after an
//!   outage: every upload a different hour).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use loam_db::Db;
use loam_ingest::pb;
use prost::Message;

use crate::{Server, Site, percentile};

/// One uploading device: where it writes and how it signs in.
#[derive(Clone)]
struct Device {
    cell: i64,
    logger: i64,
    key: Option<String>,
}

/// The ingest patterns, by name.
pub const PATTERNS: [&str; 6] = ["power", "logger", "generic", "cells100", "ttn", "late"];

/// Rows one upload of a pattern stores, for the rows/s column and the loss check.
fn rows_per_upload(pattern: &str, seq: u32) -> u64 {
    match pattern {
        "generic" => generic_count(seq) as u64,
        "ttn" if seq % 2 == 1 => generic_count(seq) as u64,
        _ => 1,
    }
}

fn generic_count(seq: u32) -> usize {
    3 + (seq as usize % 4)
}

const GENERIC_TYPES: [pb::SensorType; 6] = [
    pb::SensorType::Bme280Pressure,
    pb::SensorType::Bme280Temp,
    pb::SensorType::Bme280Humidity,
    pb::SensorType::Teros21MatricPot,
    pb::SensorType::Teros21Temp,
    pb::SensorType::Phytos31LeafWetness,
];

fn legacy(ts: u32, device: &Device, power: bool) -> Vec<u8> {
    let meta = Some(pb::MeasurementMetadata {
        cell_id: device.cell as u32,
        logger_id: device.logger as u32,
        ts,
    });
    let measurement = if power {
        pb::measurement::Measurement::Power(pb::PowerMeasurement {
            voltage: 0.4 + f64::from(ts % 97) * 0.001,
            current: 0.0002 + f64::from(ts % 89) * 0.000_01,
        })
    } else {
        pb::measurement::Measurement::Teros12(pb::Teros12Measurement {
            vwc_raw: 2000.0 + f64::from(ts % 300),
            vwc_adj: 0.2 + f64::from(ts % 50) * 0.001,
            temp: 18.0 + f64::from(ts % 40) * 0.1,
            ec: 100 + ts % 50,
        })
    };
    pb::Measurement {
        meta,
        measurement: Some(measurement),
    }
    .encode_to_vec()
}

/// One power upload of (cell, logger) as ENTS firmware sends it, for other benches' background load.
pub(crate) fn power_frame(ts: u32, cell: i64, logger: i64) -> Vec<u8> {
    legacy(
        ts,
        &Device {
            cell,
            logger,
            key: None,
        },
        true,
    )
}

fn generic(ts: u32, device: &Device, count: usize) -> Vec<u8> {
    pb::RepeatedSensorMeasurements {
        meta: Some(pb::Metadata {
            cell_id: device.cell as u32,
            logger_id: device.logger as u32,
            ts,
        }),
        r#type: 0,
        measurements: GENERIC_TYPES[..count]
            .iter()
            .enumerate()
            .map(|(k, kind)| pb::SensorMeasurement {
                meta: None,
                r#type: *kind as i32,
                value: Some(pb::sensor_measurement::Value::Decimal(
                    f64::from(ts % 1000) * 0.01 + k as f64,
                )),
                idx: 0,
            })
            .collect(),
    }
    .encode_to_vec()
}

fn ttn(port: u32, payload: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "end_device_ids": {"device_id": "bench"},
        "uplink_message": {
            "f_port": port,
            "frm_payload": base64::engine::general_purpose::STANDARD.encode(payload),
        }
    }))
    .unwrap_or_default()
}

/// One request of a pattern: (body, content type, `SensorVersion: 2`).
fn request(pattern: &str, ts: u32, seq: u32, device: &Device) -> (Vec<u8>, &'static str, bool) {
    const PROTO: &str = "application/octet-stream";
    match pattern {
        "logger" => (legacy(ts, device, seq.is_multiple_of(2)), PROTO, false),
        "generic" => (generic(ts, device, generic_count(seq)), PROTO, true),
        "ttn" if seq % 2 == 1 => (
            ttn(2, &generic(ts, device, generic_count(seq))),
            "application/json",
            false,
        ),
        "ttn" => (ttn(1, &legacy(ts, device, true)), "application/json", false),
        _ => (legacy(ts, device, true), PROTO, false),
    }
}

/// The device time of a worker's `seq`-th upload: workers interleave, so concurrent uploads
/// share hours (hot rollup rows), and no two uploads of a run share a time.
fn device_time(pattern: &str, start: u32, worker: usize, level: usize, seq: u32) -> u32 {
    let slot = seq * level as u32 + worker as u32;
    match pattern {
        // ENTS firmware sends a power and a TEROS row for each time.
        "logger" => start + (seq / 2) * level as u32 + worker as u32,
        // Newest first, 37 s apart: every ~100 uploads a new hour, going back in time.
        "late" => start - slot * 37,
        _ => start + slot,
    }
}

struct Outcome {
    latencies: Vec<Duration>,
    failures: std::collections::BTreeMap<u16, u64>,
    rows: u64,
}

/// Creates `count` cells, each with a logger and a device key (ingest scope).
async fn devices(
    http: &reqwest::Client,
    server: &Server,
    site: &Site,
    label: &str,
    count: usize,
) -> anyhow::Result<Vec<Device>> {
    let mut out = Vec::with_capacity(count);
    for n in 0..count {
        let cell = crate::cell(http, &server.base, site, &format!("{label}-{n}")).await?;
        let logger = crate::post_json(
            http,
            format!("{}/api/logger/", server.base),
            Some(&site.token),
            serde_json::json!({"name": format!("{label}-logger-{n}"), "userEmail": site.email}),
        )
        .await?["logger_id"]
            .as_i64()
            .context("logger id")?;
        let key = crate::post_json(
            http,
            format!("{}/api/logger/{logger}/keys", server.base),
            Some(&site.token),
            serde_json::json!({"name": "bench", "scopes": ["ingest"]}),
        )
        .await?["key"]
            .as_str()
            .context("key")?
            .to_owned();
        out.push(Device {
            cell,
            logger,
            key: Some(key),
        });
    }
    Ok(out)
}

/// Runs every pattern at every concurrency and prints one line each; fails when an
/// acknowledged row is missing.
/// `label` names the runs' cells (runs in one database need different labels); `start_at`
/// puts every pattern's device time there (default: years of their own from 2010). Returns
/// uploads/s per line.
#[allow(clippy::too_many_arguments)]
pub async fn matrix(
    server: &Server,
    db: &Db,
    http: &reqwest::Client,
    site: &Site,
    patterns: &[String],
    levels: &[usize],
    seconds: u64,
    (label, start_at): (&str, Option<u32>),
) -> anyhow::Result<Vec<f64>> {
    let mut rates = Vec::new();
    println!("ingest matrix ({seconds} s per line; rows checked in the database after each)");
    println!(
        "{:>9} {:>5} {:>10} {:>9} {:>8} {:>8} {:>8} {:>6} {:>6} {:>9} {:>7}",
        "pattern",
        "c",
        "uploads/s",
        "rows/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "non2xx",
        "lost",
        "deadlocks",
        "rollups"
    );
    let now = u32::try_from(chrono::Utc::now().timestamp()).context("clock")?;
    let mut run = 0u32;
    for pattern in patterns {
        for &level in levels {
            run += 1;
            let label = format!("{label}-{pattern}-{level}");
            let fleet: Vec<Device> = match pattern.as_str() {
                "cells100" => devices(http, server, site, &label, 100).await?,
                "ttn" => {
                    let mut d = devices(http, server, site, &label, 50).await?;
                    d.iter_mut().for_each(|d| d.key = None);
                    d
                }
                "logger" => {
                    let mut d = devices(http, server, site, &label, 1).await?;
                    d[0].key = None;
                    d
                }
                _ => devices(http, server, site, &label, 1).await?,
            };
            // Each run its own years of device time, so runs never share rows.
            let start = match (pattern.as_str(), start_at) {
                ("late", _) => now - 86_400,
                (_, Some(at)) => at,
                _ => 1_262_304_000 + run * 20_000_000, // 2010 onwards
            };
            let deadlocks_before = deadlocks(db).await?;
            let outcome = drive(server, http, pattern, &fleet, level, seconds, start).await?;
            // Postgres publishes its statistics about once a second.
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let deadlocks_after = deadlocks(db).await?;
            let cells: Vec<i32> = fleet.iter().map(|d| d.cell as i32).collect();
            let counted = cells.clone();
            let stored = db
                .run(move |c| loam_db::bench::row_count(c, &counted))
                .await?;
            let mut rollups_exact = true;
            for cell in cells {
                let wrong = db
                    .run(move |c| loam_db::bench::rollup_mismatches(c, cell))
                    .await?;
                if let Some(first) = wrong.first() {
                    println!(
                        "          cell {cell}: {} rollups differ, e.g. {first}",
                        wrong.len()
                    );
                    rollups_exact = false;
                }
            }
            let stored = u64::try_from(stored).unwrap_or_default();
            let lost = outcome.rows.saturating_sub(stored);
            let ok = outcome.latencies.len();
            let failed: u64 = outcome.failures.values().sum();
            let mut sorted = outcome.latencies;
            sorted.sort();
            println!(
                "{:>9} {:>5} {:>10.0} {:>9.0} {:>8.2} {:>8.2} {:>8.1} {:>6} {:>6} {:>9} {:>7}",
                pattern,
                level,
                ok as f64 / seconds as f64,
                outcome.rows as f64 / seconds as f64,
                percentile(&sorted, 0.50),
                percentile(&sorted, 0.99),
                percentile(&sorted, 1.0),
                failed,
                lost,
                deadlocks_after - deadlocks_before,
                if rollups_exact { "exact" } else { "DIFFER" },
            );
            rates.push(ok as f64 / seconds as f64);
            if failed > 0 {
                println!("          non-2xx by status: {:?}", outcome.failures);
            }
            if lost > 0 || !rollups_exact {
                bail!(
                    "{pattern} c={level}: {} rows acknowledged, {stored} stored, rollups exact: {rollups_exact}",
                    outcome.rows
                );
            }
        }
    }
    Ok(rates)
}

async fn deadlocks(db: &Db) -> anyhow::Result<i64> {
    Ok(db.run(loam_db::bench::deadlocks).await?)
}

async fn drive(
    server: &Server,
    http: &reqwest::Client,
    pattern: &str,
    fleet: &[Device],
    level: usize,
    seconds: u64,
    start: u32,
) -> anyhow::Result<Outcome> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let url = Arc::new(format!("{}/api/sensor/", server.base));
    let fleet = Arc::new(fleet.to_vec());
    let mut workers = Vec::with_capacity(level);
    for worker in 0..level {
        let (http, url, fleet, pattern) = (
            http.clone(),
            Arc::clone(&url),
            Arc::clone(&fleet),
            pattern.to_owned(),
        );
        workers.push(tokio::spawn(async move {
            let mut out = Outcome {
                latencies: Vec::new(),
                failures: Default::default(),
                rows: 0,
            };
            let mut seq = 0u32;
            while Instant::now() < deadline {
                let device = &fleet[(worker + seq as usize) % fleet.len()];
                let ts = device_time(&pattern, start, worker, level, seq);
                let (body, content_type, generic) = request(&pattern, ts, seq, device);
                let mut req = http
                    .post(url.as_str())
                    .header("content-type", content_type)
                    .body(body);
                if generic {
                    req = req.header("SensorVersion", "2");
                }
                if let Some(key) = &device.key {
                    req = req.header("x-api-key", key);
                }
                let started = Instant::now();
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        out.latencies.push(started.elapsed());
                        out.rows += rows_per_upload(&pattern, seq);
                    }
                    Ok(r) => *out.failures.entry(r.status().as_u16()).or_default() += 1,
                    Err(_) => *out.failures.entry(0).or_default() += 1,
                }
                seq += 1;
            }
            out
        }));
    }
    let mut total = Outcome {
        latencies: Vec::new(),
        failures: Default::default(),
        rows: 0,
    };
    for w in workers {
        let out = w.await?;
        total.latencies.extend(out.latencies);
        total.rows += out.rows;
        for (status, n) in out.failures {
            *total.failures.entry(status).or_default() += n;
        }
    }
    Ok(total)
}
