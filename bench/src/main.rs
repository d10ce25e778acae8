//! `loam-bench`: starts the real `loam` binary (compatibility mode, so ENTS firmware's anonymous
//! uploads are measured too) on a fresh Postgres database and measures
//! 1. ingest: the matrix of `ingest.rs` — six upload patterns (one hot cell, a real logger's
//!    power + TEROS, generic messages, 100 cells, TTN webhooks, late data) at concurrency 1, 8,
//!    32 and 128 — uploads/s, rows/s, p50/p99, non-2xx, rows lost, deadlocks — each checked in
//!    the database;
//! 2. reads of a year of power data (1,000,000 rows by default) with `resample=hour|day|week|
//!    month` — p50/p95 latency — then raw year reads (`resample=none`) of power, TEROS and a
//!    generic series of that size, each uncompressed, gzip and zstd: total time, time to the
//!    first byte, bytes sent, peak RSS;
//! 3. jobs: `loam export` of that year (rows/s, peak RSS of a quarter and of the whole year, to
//!    show memory stays flat) and `loam import` of a generated CSV in the ENTS sample format
//!    (rows/s);
//! 4. memory given back: the server's RSS 10, 30 and 60 s after the work, against its idle size.
//!
//! `loam-bench scale` instead loads 100 million rows and measures Loam at that size (`scale.rs`);
//! `loam-bench fleet` times the fleet health view of 1,000 loggers (`fleet.rs`).
//!
//! `cargo run --release -p loam-bench -- --loam target/release/loam` (see README, "Benchmarks").

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use loam_db::Db;

mod fleet;
mod ingest;
mod scale;

/// Other benchmarks than the default run.
#[derive(clap::Subcommand)]
enum Bench {
    /// Loam at a research deployment's size (100 million rows by default; run by hand).
    Scale(scale::ScaleArgs),
    /// The fleet health view of 1,000 loggers with eight days of upload log.
    Fleet(fleet::FleetArgs),
}

/// Benchmarks a Loam binary against Postgres.
#[derive(Parser)]
struct Args {
    /// Run another benchmark than the default (ingest, reads, jobs).
    #[command(subcommand)]
    command: Option<Bench>,
    /// The `loam` binary to measure.
    #[arg(long, default_value = "target/release/loam")]
    loam: String,
    /// A Postgres URL where the bench may create and drop a database.
    #[arg(
        long,
        env = "LOAM_TEST_PG_URL",
        default_value = "postgres://root@127.0.0.1:5432/postgres"
    )]
    pg: String,
    /// Seconds per line of the ingest matrix.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Upload concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,128")]
    concurrency: Vec<usize>,
    /// Ingest patterns to run (power, logger, generic, cells100, ttn, late).
    #[arg(long, value_delimiter = ',', default_values_t = ingest::PATTERNS.map(String::from))]
    patterns: Vec<String>,
    /// Extra settings for the server, `NAME=value` (e.g. `LOAM_UPLOAD_WRITERS=2`).
    #[arg(long = "server-env", value_name = "NAME=value")]
    server_env: Vec<String>,
    /// Parts to run: ingest, reads, jobs (jobs needs reads).
    #[arg(long, value_delimiter = ',', default_value = "ingest,reads,jobs")]
    parts: Vec<String>,
    /// Power rows seeded for the read benchmark (spread over one year).
    #[arg(long, default_value_t = 1_000_000)]
    read_rows: i64,
    /// Requests per resampled read measurement.
    #[arg(long, default_value_t = 30)]
    read_requests: usize,
    /// Lines of the generated CSV for the import benchmark (each line is a power and a TEROS row).
    #[arg(long, default_value_t = 250_000)]
    import_lines: usize,
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process in MiB: (current, peak).
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts the process's peak-RSS count afresh (Linux `clear_refs`), so a peak belongs to the
/// measurement that follows rather than to the logins (argon2) before it.
fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

async fn start(
    args: &Args,
    database_url: &str,
    data_dir: &std::path::Path,
) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let extra = args
        .server_env
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let child = Command::new(&args.loam)
        .env_clear()
        .envs(extra)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOAM_LISTEN", format!("127.0.0.1:{port}"))
        .env("LOAM_DATA_DIR", data_dir)
        .env("DATABASE_URL", database_url)
        .env(
            "LOAM_JWT_SECRET",
            "bench-secret-0123456789abcdef0123456789abcdef",
        )
        .env("LOAM_LOG", "warn")
        .env("LOAM_DB_POOL_SIZE", "32")
        .env("LOAM_AUTH_FAILURES_PER_MINUTE", "1000")
        .env("LOAM_ENTS_COMPAT", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", args.loam))?;
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if http
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("loam did not become healthy within 60 s")
}

struct Site {
    token: String,
    email: String,
    logger: i64,
    key: String,
}

async fn post_json(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    let status = res.status();
    let value: serde_json::Value = res.json().await?;
    if !status.is_success() {
        bail!("{status}: {value}");
    }
    Ok(value)
}

async fn site(http: &reqwest::Client, base: &str) -> anyhow::Result<Site> {
    let email = "bench@example.test".to_owned();
    post_json(
        http,
        format!("{base}/api/auth/register"),
        None,
        serde_json::json!({"email": email, "password": "bench-password-1"}),
    )
    .await?;
    let login = post_json(
        http,
        format!("{base}/api/auth/login"),
        None,
        serde_json::json!({"email": email, "password": "bench-password-1"}),
    )
    .await?;
    let token = login["access_token"].as_str().context("token")?.to_owned();
    let logger = post_json(
        http,
        format!("{base}/api/logger/"),
        Some(&token),
        serde_json::json!({"name": "bench-logger", "userEmail": email}),
    )
    .await?["logger_id"]
        .as_i64()
        .context("logger id")?;
    let key = post_json(
        http,
        format!("{base}/api/logger/{logger}/keys"),
        Some(&token),
        serde_json::json!({"name": "bench", "scopes": ["ingest", "read"]}),
    )
    .await?["key"]
        .as_str()
        .context("key")?
        .to_owned();
    Ok(Site {
        token,
        email,
        logger,
        key,
    })
}

async fn cell(http: &reqwest::Client, base: &str, site: &Site, name: &str) -> anyhow::Result<i64> {
    let body = serde_json::json!({"name": name, "location": "bench", "latitude": 0.0, "longitude": 0.0, "archive": false, "userEmail": site.email});
    post_json(http, format!("{base}/api/cell/"), Some(&site.token), body).await?["id"]
        .as_i64()
        .context("cell id")
}

async fn reads(
    args: &Args,
    server: &Server,
    db: &Db,
    http: &reqwest::Client,
    site: &Site,
) -> anyhow::Result<i64> {
    let cell_id = cell(http, &server.base, site, "bench-reads").await?;
    let (cell32, logger32) = (i32::try_from(cell_id)?, i32::try_from(site.logger)?);
    let rows = args.read_rows;
    let year_start = 1_672_531_200; // 2023-01-01
    let seeded = Instant::now();
    db.run(move |c| loam_db::bench::seed_power_year(c, cell32, logger32, year_start, rows))
        .await?;
    println!(
        "\nreads of one year ({rows} power rows, seeded in {:.1} s)",
        seeded.elapsed().as_secs_f64()
    );
    println!(
        "{:>9} {:>9} {:>9} {:>10} {:>12}",
        "resample", "p50 ms", "p95 ms", "points", "peak RSS MiB"
    );
    let params = [
        ("startTime", "Sun, 01 Jan 2023 00:00:00 GMT"),
        ("endTime", "Sun, 31 Dec 2023 23:59:59 GMT"),
    ];
    for (resample, requests) in [
        ("hour", args.read_requests),
        ("day", args.read_requests),
        ("week", args.read_requests),
        ("month", args.read_requests),
    ] {
        let mut latencies = Vec::new();
        let mut points = 0;
        reset_peak(server.child.id());
        for _ in 0..requests {
            let (took, n) = power_read(http, server, site, cell_id, &params, resample).await?;
            latencies.push(took);
            points = n;
        }
        latencies.sort();
        let (_, peak) = rss_mib(server.child.id());
        println!(
            "{:>9} {:>9.1} {:>9.1} {:>10} {:>12.1}",
            resample,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95),
            points,
            peak
        );
    }

    let seeded = Instant::now();
    db.run(move |c| loam_db::bench::seed_teros_year(c, cell32, year_start, rows))
        .await?;
    db.run(move |c| loam_db::bench::seed_sensor_year(c, cell32, year_start, rows))
        .await?;
    println!(
        "\nraw year reads (resample=none, {rows} rows per series; TEROS and generic seeded in {:.1} s), median of 3",
        seeded.elapsed().as_secs_f64()
    );
    println!(
        "{:>8} {:>9} {:>9} {:>14} {:>10} {:>12}",
        "series", "encoding", "total ms", "first byte ms", "MB sent", "peak RSS MiB"
    );
    let sensor_path =
        format!("/api/sensor/?name=BME280_PRESSURE&measurement=Pressure&cellId={cell_id}");
    for (series, path, column) in [
        ("power", format!("/api/power/{cell_id}"), "v"),
        ("teros", format!("/api/teros/{cell_id}"), "vwc"),
        ("generic", sensor_path, "data"),
    ] {
        for encoding in ["identity", "gzip", "zstd"] {
            let mut runs = Vec::new();
            reset_peak(server.child.id());
            for _ in 0..3 {
                let started = Instant::now();
                let mut res = http
                    .get(format!("{}{path}", server.base))
                    .query(&params)
                    .query(&[("resample", "none")])
                    .header("x-api-key", &site.key)
                    .header("accept-encoding", encoding)
                    .send()
                    .await?;
                if !res.status().is_success() {
                    bail!("raw read failed: {}", res.status());
                }
                let mut first_byte = None;
                let mut body = Vec::new();
                while let Some(chunk) = res.chunk().await? {
                    first_byte.get_or_insert_with(|| started.elapsed());
                    body.extend_from_slice(&chunk);
                }
                runs.push((started.elapsed(), first_byte.unwrap_or_default(), body));
            }
            runs.sort_by_key(|(total, _, _)| *total);
            let (total, first_byte, body) = &runs[1];
            if encoding == "identity" {
                let answer: serde_json::Value = serde_json::from_slice(body)?;
                let n = answer[column].as_array().map_or(0, Vec::len);
                if i64::try_from(n)? != rows {
                    bail!("{series}: raw year answered {n} rows of {rows}");
                }
            }
            let (_, peak) = rss_mib(server.child.id());
            println!(
                "{:>8} {:>9} {:>9.0} {:>14.1} {:>10.1} {:>12.1}",
                series,
                encoding,
                total.as_secs_f64() * 1000.0,
                first_byte.as_secs_f64() * 1000.0,
                body.len() as f64 / 1e6,
                peak
            );
        }
    }
    Ok(cell_id)
}

/// One timed read of a cell's power series (`startTime`, `endTime` in `range`): how long the
/// whole answer took and how many points it held.
async fn power_read(
    http: &reqwest::Client,
    server: &Server,
    site: &Site,
    cell_id: i64,
    range: &[(&str, &str)],
    resample: &str,
) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let res = http
        .get(format!("{}/api/power/{cell_id}", server.base))
        .query(range)
        .query(&[("resample", resample)])
        .header("x-api-key", &site.key)
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("read failed: {}", res.status());
    }
    let body = res.bytes().await?;
    let took = started.elapsed();
    let points = serde_json::from_slice::<serde_json::Value>(&body)?["v"]
        .as_array()
        .map_or(0, Vec::len);
    Ok((took, points))
}

/// The server's resident memory in the minute after the work above, against its idle size: a
/// server that keeps its peak after a burst starves its neighbours.
async fn memory_given_back(server: &Server, idle: f64) {
    let pid = server.child.id();
    let (now, peak) = rss_mib(pid);
    println!("\nmemory after the burst: idle {idle:.1} MiB, peak {peak:.1} MiB, now {now:.1} MiB");
    let mut waited = 0;
    for at in [10, 30, 60] {
        tokio::time::sleep(Duration::from_secs(at - waited)).await;
        waited = at;
        let (rss, _) = rss_mib(pid);
        println!(
            "  after {at:>2} s idle: {rss:.1} MiB ({:.1}x idle)",
            rss / idle
        );
    }
}

/// Runs `loam <args>` on the bench database; returns (seconds, peak RSS MiB, stdout).
fn run_loam(
    loam: &str,
    database_url: &str,
    data_dir: &std::path::Path,
    cli: &[&str],
) -> anyhow::Result<(f64, f64, String)> {
    let started = Instant::now();
    let mut child = Command::new(loam)
        .args(cli)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOAM_DATA_DIR", data_dir)
        .env("DATABASE_URL", database_url)
        .env("LOAM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {loam}"))?;
    let mut peak = 0.0_f64;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        let (_, hwm) = rss_mib(child.id());
        if hwm.is_finite() {
            peak = peak.max(hwm);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        use std::io::Read;
        stdout.read_to_string(&mut out)?;
    }
    if !status.success() {
        bail!("{loam} {} failed: {status}", cli.join(" "));
    }
    Ok((seconds, peak, out))
}

/// Export and import throughput through the operator commands (the same jobs as the API).
async fn jobs(
    args: &Args,
    url: &str,
    data_dir: &std::path::Path,
    http: &reqwest::Client,
    server: &Server,
    site: &Site,
    cell_id: i64,
) -> anyhow::Result<()> {
    let import_cell = cell(http, &server.base, site, "bench-import").await?;
    println!(
        "
jobs (loam export / loam import, Postgres)"
    );
    println!(
        "{:>28} {:>10} {:>8} {:>10} {:>12}",
        "job", "rows", "s", "rows/s", "peak RSS MiB"
    );
    let out = data_dir.join("bench-export.zip");
    let out_arg = out.to_string_lossy().into_owned();
    let cell_arg = cell_id.to_string();
    for (label, end, rows) in [
        (
            "export raw, one quarter",
            "2023-04-01T00:00:00Z",
            args.read_rows / 4,
        ),
        (
            "export raw, one year",
            "2024-01-01T00:00:00Z",
            args.read_rows,
        ),
    ] {
        let (secs, peak, _) = run_loam(
            &args.loam,
            url,
            data_dir,
            &[
                "export",
                "--cell",
                &cell_arg,
                "--start",
                "2023-01-01T00:00:00Z",
                "--end",
                end,
                "--series",
                "power",
                "--out",
                &out_arg,
            ],
        )?;
        println!(
            "{label:>28} {rows:>10} {secs:>8.2} {:>10.0} {peak:>12.1}",
            rows as f64 / secs
        );
    }
    let _ = std::fs::remove_file(&out);
    // A generated file in the ENTS sample format, hourly from 2000-01-01.
    let csv = data_dir.join("bench-import.csv");
    std::fs::write(&csv, sample_csv(args.import_lines, 946_684_800, 3600)?)?;
    let (secs, peak, _) = run_loam(
        &args.loam,
        url,
        data_dir,
        &[
            "import",
            &csv.to_string_lossy(),
            "--cell",
            &import_cell.to_string(),
            "--logger",
            &site.logger.to_string(),
        ],
    )?;
    let measurements = args.import_lines * 2;
    println!(
        "{:>28} {measurements:>10} {secs:>8.2} {:>10.0} {peak:>12.1}",
        "import (power + TEROS rows)",
        measurements as f64 / secs
    );
    let _ = std::fs::remove_file(&csv);
    Ok(())
}

/// A Unix time as the RFC 1123 text the read endpoints take.
fn http_time(ts: i64) -> anyhow::Result<String> {
    Ok(chrono::DateTime::from_timestamp(ts, 0)
        .context("time")?
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string())
}

/// A CSV in the ENTS sample format (power and TEROS columns): `lines` rows `step` seconds apart
/// from `start` (Unix seconds).
fn sample_csv(lines: usize, start: i64, step: i64) -> anyhow::Result<String> {
    let mut text = String::with_capacity(lines * 96);
    text.push_str(
        "timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)",
    );
    for n in 0..lines {
        let t = chrono::DateTime::from_timestamp(start + n as i64 * step, 0).context("time")?;
        let (mv, ua) = (
            100.0 + (n % 500) as f64 * 0.37,
            20.0 + (n % 313) as f64 * 0.11,
        );
        text.push_str(&format!(
            "\n{},{mv},{ua},{},{}.5,{},{}",
            t.format(" %d %b %Y %H:%M:%S GMT"),
            mv * ua / 1000.0,
            200 + n % 97,
            -1.2 + (n % 1000) as f64 * 0.001,
            18.0 + (n % 150) as f64 * 0.1
        ));
    }
    Ok(text)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let name = format!("loam_bench_{}", std::process::id());
    loam_db::testing::create_database(&args.pg, &name)?;
    let url = format!(
        "{}/{name}",
        args.pg
            .rsplit_once('/')
            .map_or(args.pg.as_str(), |(base, _)| base)
    );
    let data_dir = std::env::temp_dir().join(&name);
    let outcome = async {
        let server = start(&args, &url, &data_dir).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (idle, _) = rss_mib(server.child.id());
        println!("loam {} on Postgres; idle RSS {idle:.1} MiB\n", args.loam);
        let db = Db::connect_postgres(&url, 2)?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?;
        let site = site(&http, &server.base).await?;
        if let Some(Bench::Scale(scale)) = &args.command {
            return scale::run(&args, scale, (&server, &url, &data_dir), &db, &http, &site).await;
        }
        if let Some(Bench::Fleet(fleet)) = &args.command {
            return fleet::run(fleet, &server, &db, &http, &site).await;
        }
        let part = |name: &str| args.parts.iter().any(|p| p == name);
        if part("ingest") {
            ingest::matrix(
                &server,
                &db,
                &http,
                &site,
                &args.patterns,
                &args.concurrency,
                args.seconds,
                ("bench", None),
            )
            .await?;
        }
        if part("reads") {
            let cell = reads(&args, &server, &db, &http, &site).await?;
            if part("jobs") {
                jobs(&args, &url, &data_dir, &http, &server, &site, cell).await?;
            }
        }
        memory_given_back(&server, idle).await;
        anyhow::Ok(())
    }
    .await;
    let _ = loam_db::testing::drop_database(&args.pg, &name);
    let _ = std::fs::remove_dir_all(&data_dir);
    outcome
}
