//! `loam-bench fleet`: the fleet health view (`GET /api/health/loggers`) of a person with 1,000
//! loggers whose upload log holds the steady state of eight days (mixed intervals, bursts,
//! silent, late and never-seen loggers), timed end to end over HTTP — idle, and again while a
//! logger's power and TEROS uploads keep arriving.

use std::time::{Duration, Instant};

use anyhow::Context;
use loam_db::Db;

use crate::{Server, Site, cell, percentile};

/// What to load.
#[derive(clap::Args, Clone)]
pub struct FleetArgs {
    /// Loggers in the fleet.
    #[arg(long, default_value_t = 1000)]
    loggers: i64,
    /// Requests per measurement.
    #[arg(long, default_value_t = 50)]
    requests: usize,
}

async fn timed(
    http: &reqwest::Client,
    server: &Server,
    site: &Site,
    query: &str,
    requests: usize,
) -> anyhow::Result<(Vec<Duration>, serde_json::Value)> {
    let mut times = Vec::with_capacity(requests);
    let mut last = serde_json::Value::Null;
    for _ in 0..requests {
        let started = Instant::now();
        let res = http
            .get(format!("{}/api/health/loggers{query}", server.base))
            .bearer_auth(&site.token)
            .send()
            .await?;
        anyhow::ensure!(res.status().is_success(), "fleet view: {}", res.status());
        last = res.json().await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok((times, last))
}

fn report(label: &str, times: &[Duration]) {
    println!(
        "{label:<44} p50 {:>7.1} ms   p95 {:>7.1} ms   max {:>7.1} ms",
        percentile(times, 0.5),
        percentile(times, 0.95),
        percentile(times, 1.0)
    );
}

/// Seeds the fleet and measures the view.
pub async fn run(
    args: &FleetArgs,
    server: &Server,
    db: &Db,
    http: &reqwest::Client,
    site: &Site,
) -> anyhow::Result<()> {
    let cell_id = cell(http, &server.base, site, "fleet-cell").await?;
    let cell32 = i32::try_from(cell_id)?;
    let owner: String = db
        .run({
            let email = site.email.clone();
            move |c| loam_db::users::find_by_email(c, &email)
        })
        .await?
        .context("the bench account")?
        .id;
    let loggers = args.loggers;
    let now = chrono::Utc::now().timestamp();
    let seeded = Instant::now();
    let lines = db
        .run({
            let owner = owner.clone();
            move |c| loam_db::bench::seed_fleet(c, &owner, loggers, cell32, now)
        })
        .await?;
    println!(
        "fleet: {loggers} loggers, {lines} upload-log lines (8 days of steady state) seeded in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    // What the server's upkeep does every 10 minutes: fold the whole past hours.
    let folding = Instant::now();
    let hours = db
        .run(|c| loam_db::health::fold_hours(c, loam_db::now()))
        .await?;
    println!(
        "upkeep folded the past hours of the log into {hours} summary rows in {:.1} s (the first fold; then about an hour per run)\n",
        folding.elapsed().as_secs_f64()
    );
    // The data layer alone: every fact of the fleet, read through the bench's own connection.
    let mut direct = Vec::with_capacity(args.requests);
    for _ in 0..args.requests {
        let owner = owner.clone();
        let started = Instant::now();
        db.run(move |c| loam_db::health::fleet(c, Some(&owner), loam_db::now()))
            .await?;
        direct.push(started.elapsed());
    }
    direct.sort();
    report("fleet facts from the database, idle", &direct);
    let (times, body) = timed(http, server, site, "", args.requests).await?;
    println!(
        "states: {} (loggers listed: {})",
        body["counts"],
        body["loggers"].as_array().map_or(0, Vec::len)
    );
    report("fleet view, all loggers, idle", &times);
    let (times, _) = timed(http, server, site, "?state=silent", args.requests).await?;
    report("fleet view, ?state=silent, idle", &times);

    // The same while one logger's power and TEROS uploads keep arriving (8 at a time).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut uploaders = Vec::new();
    for worker in 0..8u32 {
        let (http, base, key, stop) = (
            http.clone(),
            server.base.clone(),
            site.key.clone(),
            stop.clone(),
        );
        let logger = site.logger;
        uploaders.push(tokio::spawn(async move {
            let mut ts = u32::try_from(now).unwrap_or(0) - 86_400 + worker * 10_000;
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ts += 1;
                let body = crate::ingest::power_frame(ts, cell_id, logger);
                let ok = http
                    .post(format!("{base}/api/sensor/"))
                    .header("content-type", "application/octet-stream")
                    .header("x-api-key", &key)
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                sent += u64::from(ok);
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let (times, _) = timed(http, server, site, "", args.requests).await?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut stored = 0;
    for u in uploaders {
        stored += u.await.unwrap_or(0);
    }
    report("fleet view, all loggers, under upload load", &times);
    println!(
        "  (meanwhile {stored} uploads stored, {:.0}/s)",
        stored as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}
