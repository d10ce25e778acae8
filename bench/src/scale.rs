//! `loam-bench scale`: Loam at a research deployment's size. Loads `cells × rows` measurement
//! rows (default 100 × 1,000,000 = 100 million: a year of one-minute power and TEROS readings
//! per cell, ending a week ago) through the import path (`loam import`, several at once), then
//! prints import rows/s, ingest uploads/s at that size against the same runs on the empty
//! database, hour-resampled year and raw day read latencies, disk bytes per stored row and the
//! server's memory. Run by hand (it takes about half an hour), never in CI.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loam_db::Db;

use crate::{Args, Server, Site, percentile, rss_mib};

/// What to load.
#[derive(clap::Args, Clone)]
pub struct ScaleArgs {
    /// Cells to load.
    #[arg(long, default_value_t = 100)]
    cells: usize,
    /// Measurement rows per cell (half power, half TEROS: one CSV line carries both).
    #[arg(long, default_value_t = 1_000_000)]
    rows_per_cell: usize,
    /// Imports running at once (one `loam import` process each).
    #[arg(long, default_value_t = 2)]
    parallel: usize,
    /// Seconds per ingest run (before and after loading).
    #[arg(long, default_value_t = 10)]
    ingest_seconds: u64,
}

/// Ingest patterns compared on the empty and the loaded database: one real logger's power and
/// TEROS uploads arriving together, and a fleet of 100 cells.
const PATTERNS: [&str; 2] = ["logger", "cells100"];
/// Upload concurrency of those runs.
const LEVEL: usize = 32;

/// Runs the scale bench against a started server on an empty database.
pub async fn run(
    args: &Args,
    scale: &ScaleArgs,
    (server, url, data_dir): (&Server, &str, &std::path::Path),
    db: &Db,
    http: &reqwest::Client,
    site: &Site,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp();
    // Uploads land a week back, in the months the loaded year fills.
    let ingest_at = u32::try_from(now - 7 * 86_400)?;
    let patterns: Vec<String> = PATTERNS.map(String::from).to_vec();
    println!(
        "ingest on the empty database ({LEVEL} at once, {} s each)",
        scale.ingest_seconds
    );
    let empty = crate::ingest::matrix(
        server,
        db,
        http,
        site,
        &patterns,
        &[LEVEL],
        scale.ingest_seconds,
        ("empty", Some(ingest_at)),
    )
    .await?;

    // One year of one-minute lines ending eight days ago, imported into every cell.
    let lines = scale.rows_per_cell / 2;
    let start = now - 8 * 86_400 - lines as i64 * 60;
    let csv = data_dir.join("scale.csv");
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&csv, crate::sample_csv(lines, start, 60)?)?;
    let mut cells = Vec::with_capacity(scale.cells);
    for n in 0..scale.cells {
        cells.push(crate::cell(http, &server.base, site, &format!("scale-{n}")).await?);
    }
    let total_rows = scale.cells * lines * 2;
    println!(
        "\nimport: {} cells x {} rows = {total_rows} rows through `loam import`, {} at once",
        scale.cells,
        lines * 2,
        scale.parallel
    );
    println!(
        "{:>10} {:>12} {:>9} {:>10} {:>12}",
        "cells", "rows", "s", "rows/s", "peak MiB"
    );
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let cells = Arc::new(cells);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..scale.parallel.max(1) {
        let (next, done, cells) = (next.clone(), done.clone(), cells.clone());
        let (args_loam, url, data_dir, csv) = (
            args.loam.clone(),
            url.to_owned(),
            data_dir.to_owned(),
            csv.to_string_lossy().into_owned(),
        );
        let logger = site.logger.to_string();
        workers.push(tokio::task::spawn_blocking(
            move || -> anyhow::Result<f64> {
                let mut peak = 0.0_f64;
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(cell) = cells.get(k) else {
                        return Ok(peak);
                    };
                    let cell = cell.to_string();
                    let (_, p, _) = crate::run_loam(
                        &args_loam,
                        &url,
                        &data_dir,
                        &["import", &csv, "--cell", &cell, "--logger", &logger],
                    )?;
                    peak = peak.max(p);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            },
        ));
    }
    let reporter = {
        let done = done.clone();
        let (cells_total, per_cell) = (scale.cells, lines * 2);
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let d = done.load(Ordering::Relaxed);
                if d != last && d.is_multiple_of(10) && d < cells_total {
                    let secs = started.elapsed().as_secs_f64();
                    let rows = d * per_cell;
                    println!(
                        "{d:>10} {rows:>12} {secs:>9.0} {:>10.0}",
                        rows as f64 / secs
                    );
                    last = d;
                }
                if d == cells_total {
                    return;
                }
            }
        })
    };
    let mut peak = 0.0_f64;
    for w in workers {
        peak = peak.max(w.await??);
    }
    reporter.abort();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{:>10} {total_rows:>12} {secs:>9.0} {:>10.0} {peak:>12.1}",
        scale.cells,
        total_rows as f64 / secs
    );
    let _ = std::fs::remove_file(&csv);

    let rows = db.run(loam_db::bench::measurement_rows).await?;
    let bytes = db.run(loam_db::bench::storage_bytes).await?;
    let months = db.run(loam_db::partitions::months).await?;
    println!(
        "\nstorage: {rows} rows, {:.2} GB with indexes and rollups, {:.0} bytes per row, {} monthly partitions per table",
        bytes as f64 / 1e9,
        bytes as f64 / rows.max(1) as f64,
        months.len()
    );

    println!(
        "\ningest at that size ({LEVEL} at once, {} s each)",
        scale.ingest_seconds
    );
    let full = crate::ingest::matrix(
        server,
        db,
        http,
        site,
        &patterns,
        &[LEVEL],
        scale.ingest_seconds,
        ("full", Some(ingest_at + 3600)),
    )
    .await?;
    for ((pattern, e), f) in PATTERNS.iter().zip(&empty).zip(&full) {
        println!(
            "{pattern:>9}: {e:.0} uploads/s empty, {f:.0} at {rows} rows ({:+.1} %)",
            (f / e - 1.0) * 100.0
        );
    }

    // Reads of the first loaded cell: its year resampled per hour, and raw days.
    let cell = cells[0];
    let (year_from, year_to) = (start, start + lines as i64 * 60);
    println!(
        "\nreads of one loaded cell ({} requests each)",
        args.read_requests
    );
    println!(
        "{:>16} {:>9} {:>9} {:>10}",
        "read", "p50 ms", "p95 ms", "points"
    );
    let days = (year_to - year_from) / 86_400;
    for (label, resample, span) in [
        ("hour, one year", "hour", None),
        ("raw, one day", "none", Some(86_399)),
    ] {
        let mut latencies = Vec::new();
        let mut points = 0;
        for n in 0..args.read_requests {
            let (from, to) = match span {
                None => (year_from, year_to),
                Some(span) => {
                    let day = year_from + (n as i64 * 7919 % days.max(1)) * 86_400;
                    (day, day + span)
                }
            };
            let (from, to) = (crate::http_time(from)?, crate::http_time(to)?);
            let range = [("startTime", from.as_str()), ("endTime", to.as_str())];
            let (took, n) = crate::power_read(http, server, site, cell, &range, resample).await?;
            latencies.push(took);
            points = n;
        }
        latencies.sort();
        println!(
            "{label:>16} {:>9.1} {:>9.1} {points:>10}",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95)
        );
    }
    let (rss, peak) = rss_mib(server.child.id());
    println!("\nserver RSS now {rss:.1} MiB, peak {peak:.1} MiB");
    Ok(())
}
