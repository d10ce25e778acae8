//! `loamctl`: Loam from a terminal, on the typed client. Sign in once (`loamctl login`; the
//! access token is kept in `~/.config/loamctl/token`, or pass `--token` / `LOAMCTL_TOKEN`, or a
//! key with `--api-key`), then manage cells, loggers, keys and firmware, verify receipts, watch
//! jobs and import CSV files. Errors are one line, with the request id to quote.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use loam_client::{
    AuditQuery, CellFilter, Client, Credentials, FirmwareSearch, LoggerFilter, UserSearch,
};
use loam_schemas::admin::{AuditPage, SetPasswordRequest, UserPage};
use loam_schemas::cells::CreateCellRequest;
use loam_schemas::jobs::{ExportRequest, ExportResample, ExportSeries};
use loam_schemas::loggers::{CreateDeviceKeyRequest, CreateLoggerRequest};

/// Loam's command-line client.
#[derive(Debug, Parser)]
#[command(
    name = "loamctl",
    version,
    about = "Loam's command-line client: cells, loggers, keys, firmware, receipts, jobs, CSV imports and account administration"
)]
struct Cli {
    /// The Loam server.
    #[arg(
        long,
        env = "LOAM_URL",
        default_value = "http://127.0.0.1:8000",
        global = true
    )]
    url: String,
    /// An access token (default: the one `loamctl login` saved).
    #[arg(long, env = "LOAMCTL_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// An API key (person or device) instead of a token.
    #[arg(long, env = "LOAM_API_KEY", hide_env_values = true, global = true)]
    api_key: Option<String>,
    /// Where `login` saves the token.
    #[arg(long, env = "LOAMCTL_TOKEN_FILE", global = true)]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Signs in (password on stdin) and saves the access token.
    Login {
        /// Your email.
        #[arg(long)]
        email: String,
    },
    /// Cells.
    #[command(subcommand)]
    Cells(CellCommand),
    /// Loggers.
    #[command(subcommand)]
    Loggers(LoggerCommand),
    /// Device keys of a logger.
    #[command(subcommand)]
    Keys(KeyCommand),
    /// The firmware registry.
    #[command(subcommand)]
    Firmware(FirmwareCommand),
    /// Upload receipts.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Long-running jobs.
    #[command(subcommand)]
    Jobs(JobCommand),
    /// Sends readings as a device (use --api-key with an ingest key): JSON lines in ENTS's
    /// `/api/sensor_json/` form, or CSV with a header `ts,voltage,current` (power) or
    /// `ts,vwc,raw_vwc,temp,ec` (TEROS), `ts` in Unix seconds. Each reading is stored once and
    /// acknowledged before the next is sent.
    Send {
        /// The file (`-` for standard input).
        file: PathBuf,
        /// The cell (CSV only; JSON lines name their own).
        #[arg(long)]
        cell: Option<u32>,
        /// The logger (CSV only).
        #[arg(long)]
        logger: Option<u32>,
    },
    /// Reads a cell's power or TEROS series as a table; `--follow` keeps printing new rows.
    Read {
        /// The cell.
        cell: i32,
        /// `power` or `teros`.
        #[arg(long, default_value = "power")]
        kind: String,
        /// `none` (raw rows), `minute`, `hour`, `day`, … (default: hour).
        #[arg(long, default_value = "hour")]
        resample: String,
        /// Start (RFC 3339; default: a day ago).
        #[arg(long)]
        start: Option<chrono::DateTime<chrono::Utc>>,
        /// End (RFC 3339; default: now).
        #[arg(long)]
        end: Option<chrono::DateTime<chrono::Utc>>,
        /// Keep reading every few seconds and print rows as they arrive (Ctrl-C stops).
        #[arg(long)]
        follow: bool,
    },
    /// Device health: your loggers as a table, the quietest first (or one logger in full).
    Health {
        /// One logger's full health instead of the table.
        #[arg(long)]
        logger: Option<i32>,
        /// Only loggers that recently uploaded into this cell.
        #[arg(long)]
        cell: Option<i32>,
        /// Only loggers in this state: ok, late, silent or never_seen.
        #[arg(long)]
        state: Option<String>,
    },
    /// Your alert rules as a table (firing first); `--events ID` lists what one rule raised
    /// and `--deliveries ID` its webhook attempts.
    Alerts {
        /// One rule's events, newest first.
        #[arg(long, conflicts_with = "deliveries")]
        events: Option<i32>,
        /// One rule's webhook attempts, newest first.
        #[arg(long)]
        deliveries: Option<i32>,
    },
    /// Accounts (administrators only).
    #[command(subcommand)]
    Users(UserCommand),
    /// The audit trail of account administration, newest first (administrators only).
    Audit {
        /// How many records.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Imports an ENTS-format CSV file into a cell (as a job) and waits for it.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Target cell id.
        #[arg(long)]
        cell: i32,
        /// Logger id the power rows belong to.
        #[arg(long)]
        logger: i32,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Lists accounts (optionally those whose email or name contains TEXT).
    List {
        /// Substring of the email or a name.
        #[arg(long)]
        search: Option<String>,
    },
    /// Makes an account an administrator.
    GrantAdmin {
        /// The account's email.
        email: String,
    },
    /// Takes administration away.
    RevokeAdmin {
        /// The account's email.
        email: String,
    },
    /// Disables an account (no sign-in; its tokens and keys stop working).
    Disable {
        /// The account's email.
        email: String,
    },
    /// Enables a disabled account.
    Enable {
        /// The account's email.
        email: String,
    },
    /// Sets an account's password, read from stdin (ends its sessions).
    SetPassword {
        /// The account's email.
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum CellCommand {
    /// Lists the cells you may see.
    List,
    /// Creates a cell owned by you.
    Create {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// Place description.
        #[arg(long, default_value = "")]
        location: String,
        /// Latitude.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        lat: f64,
        /// Longitude.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        long: f64,
        /// Readable by anyone.
        #[arg(long)]
        public: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LoggerCommand {
    /// Lists your loggers.
    List,
    /// Creates a logger owned by you.
    Create {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// Kind (e.g. ents, other).
        #[arg(long, default_value = "other")]
        kind: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Lists a logger's keys (never their secrets).
    List {
        /// Logger id.
        logger: i32,
    },
    /// Creates a key and prints its secret (shown only now).
    Create {
        /// Logger id.
        logger: i32,
        /// Label.
        #[arg(long, default_value = "loamctl")]
        name: String,
        /// Scopes: ingest, read, firmware.
        #[arg(long, value_delimiter = ',', default_value = "ingest")]
        scopes: Vec<String>,
    },
    /// Revokes a key.
    Revoke {
        /// Logger id.
        logger: i32,
        /// Key id.
        key_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum FirmwareCommand {
    /// Publishes an image.
    Upload {
        /// The image file.
        file: PathBuf,
        /// Name ([A-Za-z0-9._-]).
        #[arg(long)]
        name: String,
        /// Version ([A-Za-z0-9._-]).
        #[arg(long)]
        version: String,
        /// Release notes.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Lists images (optionally those whose name contains TEXT).
    List {
        /// Substring of the name.
        search: Option<String>,
    },
    /// Downloads an image, resuming a partial file, and checks its sha-256.
    Download {
        /// Name.
        name: String,
        /// Version.
        version: String,
        /// Where to write it (default NAME-VERSION.bin).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ReceiptCommand {
    /// Checks a Loam-Receipt header offline against the server's key (fetched, or --key).
    Verify {
        /// The header value `v1.<hex>.<hex>`.
        receipt: String,
        /// The server's public key (hex); fetched from the server when absent.
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum JobCommand {
    /// Lists your jobs.
    List,
    /// Follows a job with a progress bar until it ends; `--out` saves its file.
    Watch {
        /// Job id.
        id: String,
        /// Save the job's artifact here when it succeeds.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Starts a ZIP export of cells and follows it.
    Export {
        /// Cell ids.
        #[arg(long, value_delimiter = ',', required = true)]
        cells: Vec<u32>,
        /// Start (RFC 3339).
        #[arg(long)]
        start: chrono::DateTime<chrono::Utc>,
        /// End (RFC 3339).
        #[arg(long)]
        end: chrono::DateTime<chrono::Utc>,
        /// Where to save the ZIP.
        #[arg(long)]
        out: PathBuf,
    },
    /// Cancels a job.
    Cancel {
        /// Job id.
        id: String,
    },
}

fn token_path(cli: &Cli) -> Option<PathBuf> {
    cli.token_file.clone().or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/loamctl/token"))
    })
}

/// What `loamctl login` keeps: the access token, and the refresh token that renews it when it
/// expires (every 15 minutes by default), so a session lasts as long as the refresh token.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedSession {
    access_token: String,
    refresh_token: Option<String>,
}

/// Seconds since the epoch at which a JWT expires (its `exp` claim), when readable.
fn expires_at(jwt: &str) -> Option<i64> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?["exp"].as_i64()
}

fn save_session(path: &std::path::Path, session: &SavedSession) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Written aside and renamed into place: another loamctl never reads half a session.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, serde_json::to_vec(session)?)
        .and_then(|()| std::fs::rename(&partial, path))
        .with_context(|| format!("cannot save the session to {}", path.display()))
}

/// Held while one loamctl renews the saved session: a refresh token works once, so two
/// commands renewing it at the same moment would end the session for both.
struct RenewLock(PathBuf);

impl RenewLock {
    async fn acquire(session: &std::path::Path) -> anyhow::Result<Self> {
        let path = session.with_extension("lock");
        for _ in 0..200 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(Self(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // A lock left by a killed loamctl is stale after half a minute.
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(30));
                    if stale {
                        let _ = std::fs::remove_file(&path);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()));
                }
            }
        }
        bail!(
            "another loamctl holds {} for more than 10 s",
            path.display()
        )
    }
}

impl Drop for RenewLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn read_session(path: &std::path::Path) -> Option<Result<SavedSession, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(serde_json::from_str::<SavedSession>(&text).map_err(|_| text.trim().to_owned()))
}

fn is_fresh(session: &SavedSession) -> bool {
    let now = chrono::Utc::now().timestamp();
    expires_at(&session.access_token).is_none_or(|exp| exp > now + 30)
}

/// The saved session's access token, renewed first (and saved again) when it has expired or
/// is about to; one loamctl renews at a time, the others use what it saved. A file holding a
/// bare token (older loamctl) is used as it is.
async fn saved_token(base: &Client, path: &std::path::Path) -> anyhow::Result<Option<String>> {
    let session = match read_session(path) {
        None => return Ok(None),
        Some(Err(bare)) => return Ok(Some(bare)),
        Some(Ok(session)) => session,
    };
    if is_fresh(&session) || session.refresh_token.is_none() {
        return Ok(Some(session.access_token));
    }
    let _lock = RenewLock::acquire(path).await?;
    // Another loamctl may have renewed it while this one waited.
    let session = match read_session(path) {
        Some(Ok(session)) => session,
        _ => return Ok(None),
    };
    let Some(refresh) = session
        .refresh_token
        .as_deref()
        .filter(|_| !is_fresh(&session))
    else {
        return Ok(Some(session.access_token));
    };
    let renewed = base.refresh(refresh).await.with_context(|| {
        format!(
            "the saved session has ended; sign in again with `loamctl login` ({} kept it)",
            path.display()
        )
    })?;
    let session = SavedSession {
        access_token: renewed.access_token,
        refresh_token: renewed.refresh_token.or(session.refresh_token),
    };
    save_session(path, &session)?;
    Ok(Some(session.access_token))
}

async fn client(cli: &Cli) -> anyhow::Result<Client> {
    let client = Client::new(&cli.url)?;
    let credentials = if let Some(key) = &cli.api_key {
        Credentials::ApiKey(key.clone())
    } else if let Some(token) = &cli.token {
        Credentials::Bearer(token.clone())
    } else if matches!(cli.command, Command::Login { .. }) {
        Credentials::None
    } else if let Some(token) = match token_path(cli) {
        Some(path) => saved_token(&client, &path).await?,
        None => None,
    } {
        Credentials::Bearer(token)
    } else {
        Credentials::None
    };
    Ok(client.with_credentials(credentials))
}

fn print<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn watch(client: &Client, id: &str, out: Option<&PathBuf>) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let job = loop {
        let job = client.job(id).await?;
        bar.set_length(job.progress.total.max(0) as u64);
        bar.set_position(job.progress.done.max(0) as u64);
        bar.set_message(format!("{} {}", job.kind, job.state));
        if matches!(job.state.as_str(), "succeeded" | "failed" | "cancelled") {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    bar.finish_and_clear();
    match job.state.as_str() {
        "succeeded" => {
            if let Some(out) = out {
                let bytes = client.job_artifact(id).await?;
                std::fs::write(out, &bytes)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                println!(
                    "job {id} succeeded; wrote {} bytes to {}",
                    bytes.len(),
                    out.display()
                );
            } else {
                println!("job {id} succeeded");
            }
            Ok(())
        }
        state => bail!(
            "job {id} {state}: {}",
            job.error.unwrap_or_else(|| "no reason given".into())
        ),
    }
}

/// One CSV line as ENTS's JSON measurement, by the header's column names.
fn csv_reading(
    header: &[&str],
    line: &str,
    cell: u32,
    logger: Option<u32>,
) -> anyhow::Result<serde_json::Value> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    anyhow::ensure!(
        fields.len() == header.len(),
        "{} fields where the header has {}",
        fields.len(),
        header.len()
    );
    let value = |name: &str| -> anyhow::Result<f64> {
        let at = header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("no {name} column"))?;
        let text = fields.get(at).copied().unwrap_or_default();
        text.parse()
            .with_context(|| format!("{name} {text:?} is not a number"))
    };
    let ts = value("ts")?;
    let (kind, data) = if header.contains(&"voltage") {
        (
            "power",
            serde_json::json!({"voltage": value("voltage")?, "current": value("current")?}),
        )
    } else if header.contains(&"vwc") {
        (
            "teros12",
            serde_json::json!({"vwcAdj": value("vwc")?, "vwcRaw": value("raw_vwc")?,
                               "temp": value("temp")?, "ec": value("ec")? as i64}),
        )
    } else {
        bail!(
            "the header names neither power (ts,voltage,current) nor TEROS (ts,vwc,raw_vwc,temp,ec) columns"
        )
    };
    Ok(
        serde_json::json!({"type": kind, "cellId": cell, "loggerId": logger, "ts": ts, "data": data}),
    )
}

async fn send(
    api: &Client,
    file: &std::path::Path,
    cell: Option<u32>,
    logger: Option<u32>,
) -> anyhow::Result<()> {
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let mut header: Option<Vec<String>> = None;
    let mut sent = 0;
    for (n, line) in lines {
        let reading = if line.trim_start().starts_with('{') {
            serde_json::from_str(line).with_context(|| format!("line {}: not JSON", n + 1))?
        } else if let Some(columns) = &header {
            let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
            let cell = cell.context("CSV readings need --cell")?;
            csv_reading(&columns, line, cell, logger).with_context(|| format!("line {}", n + 1))?
        } else {
            header = Some(line.split(',').map(|h| h.trim().to_owned()).collect());
            continue;
        };
        api.upload_json(&reading, None).await.with_context(|| {
            format!(
                "line {}: refused ({sent} readings were stored before it)",
                n + 1
            )
        })?;
        sent += 1;
    }
    println!("{sent} readings stored");
    Ok(())
}

async fn read(
    api: &Client,
    cell: i32,
    kind: &str,
    resample: &str,
    (start, end): (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
    ),
    follow: bool,
) -> anyhow::Result<()> {
    let http = |t: chrono::DateTime<chrono::Utc>| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let mut from = start.unwrap_or_else(|| chrono::Utc::now() - chrono::Duration::days(1));
    let mut printed: std::collections::BTreeSet<String> = Default::default();
    let mut header_done = false;
    loop {
        let until = end.unwrap_or_else(chrono::Utc::now);
        let range = loam_client::SeriesQuery {
            start_time: Some(http(from)),
            end_time: Some(http(until)),
            resample: Some(resample.to_owned()),
            stream: None,
        };
        let rows: Vec<(String, String)> = match kind {
            "power" => {
                let s = api.power(cell, &range).await?;
                if !header_done {
                    println!("{:<31} {:>12} {:>12} {:>12}", "time", "mV", "µA", "µW");
                }
                s.timestamp
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let f = |v: &Vec<Option<f64>>| {
                            v.get(i)
                                .copied()
                                .flatten()
                                .map_or("-".into(), |x| format!("{x:.3}"))
                        };
                        (
                            t.clone(),
                            format!("{:>12} {:>12} {:>12}", f(&s.v), f(&s.i), f(&s.p)),
                        )
                    })
                    .collect()
            }
            "teros" => {
                let s = api.teros(cell, &range).await?;
                if !header_done {
                    println!(
                        "{:<31} {:>8} {:>10} {:>8} {:>8}",
                        "time", "VWC %", "raw", "°C", "µS/cm"
                    );
                }
                s.timestamp
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let f = |v: &Vec<Option<f64>>| {
                            v.get(i)
                                .copied()
                                .flatten()
                                .map_or("-".into(), |x| format!("{x:.2}"))
                        };
                        let ec =
                            s.ec.get(i)
                                .copied()
                                .flatten()
                                .map_or("-".into(), |x| x.to_string());
                        (
                            t.clone(),
                            format!(
                                "{:>8} {:>10} {:>8} {:>8}",
                                f(&s.vwc),
                                f(&s.raw_vwc),
                                f(&s.temp),
                                ec
                            ),
                        )
                    })
                    .collect()
            }
            other => bail!("--kind {other:?}: use power or teros"),
        };
        header_done = true;
        for (time, values) in rows {
            // A resampled bucket may fill up while following: print it again when it changes.
            let line = format!("{time:<31} {values}");
            if printed.insert(line.clone()) {
                println!("{line}");
            }
        }
        if !follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        // Keep the last few minutes in view: late rows of an open bucket still arrive.
        from = chrono::Utc::now() - chrono::Duration::minutes(10);
    }
}

/// The id of the account with this email (administrators search by it).
async fn user_id(api: &Client, email: &str) -> anyhow::Result<String> {
    let wanted = email.trim().to_lowercase();
    let page = api
        .admin_users(&UserSearch {
            q: Some(wanted.clone()),
            limit: Some(500),
            offset: None,
        })
        .await?;
    page.users
        .into_iter()
        .find(|u| u.email == wanted)
        .map(|u| u.id)
        .with_context(|| format!("no account has the email {wanted}"))
}

fn print_users(page: &UserPage) {
    println!("{:<38} {:<32} {:<6} DISABLED", "ID", "EMAIL", "ADMIN");
    for user in &page.users {
        println!(
            "{:<38} {:<32} {:<6} {}",
            user.id,
            user.email,
            if user.is_admin { "yes" } else { "no" },
            user.disabled_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "-".into())
        );
    }
    if page.total > page.users.len() as i64 {
        println!("({} of {} shown)", page.users.len(), page.total);
    }
}

/// Text from the server made safe for a terminal: control characters (escape sequences, line
/// breaks in a name) are shown as `?`, and it is cut to `width` characters.
fn shown(text: &str, width: usize) -> String {
    text.chars()
        .take(width)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Seconds as a person reads a silence: `45s`, `12m`, `3h05m`, `2d04h`.
fn span(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The fleet as a table to act on: quietest first, with what a field visit needs to know.
fn print_fleet(fleet: &loam_schemas::fleet::FleetHealth) {
    let c = &fleet.counts;
    println!(
        "{} silent, {} late, {} ok, {} never seen (at {})",
        c.silent, c.late, c.ok, c.never_seen, fleet.at
    );
    println!(
        "{:<6} {:<20} {:<10} {:>9} {:>9} {:>8} {:>8} {:>7} {:<5} FIRMWARE",
        "ID", "NAME", "STATE", "SILENT", "INTERVAL", "UP/24H", "ROWS/24H", "VOLTS", "CELL"
    );
    for l in &fleet.loggers {
        let state = serde_json::to_value(l.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let firmware = match (
            &l.firmware.desired,
            &l.firmware.reported,
            l.firmware.up_to_date,
        ) {
            (_, _, Some(true)) => "up to date".to_owned(),
            (Some(d), Some(r), Some(false)) => format!("runs {r}, wants {d}"),
            (Some(d), None, _) => format!("wants {d}"),
            (None, Some(r), _) => format!("runs {r}"),
            _ => "-".to_owned(),
        };
        let interval = format!(
            "{}{}",
            span(l.interval_secs),
            if l.interval_learned { "" } else { "?" }
        );
        println!(
            "{:<6} {:<20} {:<10} {:>9} {:>9} {:>8} {:>8} {:>7} {:<5} {}",
            l.logger_id,
            shown(&l.name, 20),
            state,
            l.silence_secs.map_or_else(|| "never".to_owned(), span),
            interval,
            l.uploads_24h,
            l.rows_24h,
            l.last_voltage
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
            l.last_cell_id
                .map_or_else(|| "-".to_owned(), |c| c.to_string()),
            firmware
        );
    }
}

fn print_audit(page: &AuditPage) {
    println!(
        "{:<25} {:<28} {:<13} {:<28} DETAIL",
        "AT", "ACTOR", "ACTION", "SUBJECT"
    );
    for entry in &page.entries {
        let actor = entry.actor_email.as_deref().unwrap_or(&entry.actor_id);
        let subject = entry
            .subject_email
            .as_deref()
            .or(entry.subject_id.as_deref())
            .unwrap_or("-");
        println!(
            "{:<25} {:<28} {:<13} {:<28} {}",
            entry.at.format("%Y-%m-%dT%H:%M:%SZ"),
            actor,
            entry.action,
            subject,
            entry.detail
        );
    }
}

async fn run_users(api: &Client, command: &UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::List { search } => {
            let page = api
                .admin_users(&UserSearch {
                    q: search.clone(),
                    limit: Some(500),
                    offset: None,
                })
                .await?;
            print_users(&page);
        }
        UserCommand::GrantAdmin { email } => {
            api.grant_admin(&user_id(api, email).await?).await?;
            println!("{email} is an administrator");
        }
        UserCommand::RevokeAdmin { email } => {
            api.revoke_admin(&user_id(api, email).await?).await?;
            println!("{email} is no longer an administrator");
        }
        UserCommand::Disable { email } => {
            api.disable_user(&user_id(api, email).await?).await?;
            println!("{email} is disabled");
        }
        UserCommand::Enable { email } => {
            api.enable_user(&user_id(api, email).await?).await?;
            println!("{email} is enabled");
        }
        UserCommand::SetPassword { email } => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from stdin")?;
            let id = user_id(api, email).await?;
            api.set_user_password(
                &id,
                &SetPasswordRequest {
                    password: password.trim_end_matches(['\r', '\n']).to_owned(),
                },
            )
            .await?;
            println!("{email}: new password set; every session ended");
        }
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let api = client(&cli).await?;
    match &cli.command {
        Command::Login { email } => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from stdin")?;
            let (_, login) = api
                .login(email, password.trim_end_matches(['\r', '\n']))
                .await?;
            let path = token_path(&cli).context("no HOME; pass --token-file")?;
            save_session(
                &path,
                &SavedSession {
                    access_token: login.access_token.clone(),
                    refresh_token: login.refresh_token.clone(),
                },
            )?;
            println!(
                "signed in as {email}; session saved to {} (the access token lasts {} s and is renewed as needed)",
                path.display(),
                login.expires_in
            );
        }
        Command::Cells(CellCommand::List) => print(&api.list_cells(&CellFilter::default()).await?)?,
        Command::Cells(CellCommand::Create {
            name,
            location,
            lat,
            long,
            public,
        }) => {
            let email = api.me().await?.email;
            let created = api
                .create_cell(&CreateCellRequest {
                    name: name.clone(),
                    location: location.clone(),
                    latitude: *lat,
                    longitude: *long,
                    archive: false,
                    user_email: email,
                    tag_ids: None,
                    public: Some(*public),
                })
                .await?;
            println!("created cell {} ({})", created.id, created.name);
        }
        Command::Loggers(LoggerCommand::List) => {
            print(&api.list_loggers(&LoggerFilter::default()).await?)?
        }
        Command::Loggers(LoggerCommand::Create { name, kind }) => {
            let email = api.me().await?.email;
            let created = api
                .create_logger(&CreateLoggerRequest {
                    name: Some(name.clone()),
                    user_email: Some(email),
                    kind: Some(kind.clone()),
                    device_eui: None,
                    description: None,
                    dev_eui: None,
                    join_eui: None,
                    app_key: None,
                })
                .await?;
            println!("created logger {}", created.logger_id);
        }
        Command::Keys(KeyCommand::List { logger }) => print(&api.list_device_keys(*logger).await?)?,
        Command::Keys(KeyCommand::Create {
            logger,
            name,
            scopes,
        }) => {
            let request = CreateDeviceKeyRequest {
                name: name.clone(),
                scopes: scopes.clone(),
                expires_at: None,
            };
            let key = api.create_device_key(*logger, &request).await?;
            println!("{}", key.key);
            eprintln!(
                "key {} for logger {logger}; store it now, it is not shown again",
                key.id
            );
        }
        Command::Keys(KeyCommand::Revoke { logger, key_id }) => {
            api.revoke_device_key(*logger, key_id).await?;
            println!("revoked {key_id}");
        }
        Command::Firmware(FirmwareCommand::Upload {
            file,
            name,
            version,
            notes,
        }) => {
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let published = api
                .upload_firmware(name, version, notes.as_deref(), bytes)
                .await?;
            println!(
                "published {} {} ({} bytes, sha256 {})",
                published.name, published.version, published.size, published.sha256
            );
        }
        Command::Firmware(FirmwareCommand::List { search }) => print(
            &api.search_firmware(&FirmwareSearch {
                search: search.clone(),
                limit: 500,
                offset: 0,
            })
            .await?,
        )?,
        Command::Firmware(FirmwareCommand::Download { name, version, out }) => {
            let meta = api.firmware(name, version).await?;
            let out = out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{name}-{version}.bin")));
            let mut have = std::fs::read(&out).unwrap_or_default();
            if have.len() as i64 > meta.size {
                have.clear();
            }
            let etag = format!("\"{}\"", meta.sha256);
            // A complete copy is only confirmed (If-None-Match → 304); a partial one resumes.
            let complete = !have.is_empty() && have.len() as i64 == meta.size;
            let from = if complete { 0 } else { have.len() as u64 };
            let tag = (!have.is_empty()).then_some(etag.as_str());
            let got = api.download_firmware(name, version, from, tag).await?;
            if !got.not_modified {
                if !got.partial {
                    have.clear();
                }
                have.extend_from_slice(&got.bytes);
            }
            let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&have));
            if digest != meta.sha256 {
                bail!(
                    "the download's sha-256 {digest} is not the registry's {}; run again to retry",
                    meta.sha256
                );
            }
            std::fs::write(&out, &have)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!("{} ({} bytes, sha256 verified)", out.display(), have.len());
        }
        Command::Receipt(ReceiptCommand::Verify { receipt, key }) => {
            let key_hex = match key {
                Some(k) => k.clone(),
                None => api.receipt_key().await?.public_key,
            };
            let key: [u8; 32] = hex::decode(key_hex.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .context("the public key is not 64 hex characters")?;
            let stated = loam_receipts::verify_receipt(&key, receipt)?;
            println!(
                "valid: logger {} locator {} rows {} body sha256 {} committed {}",
                stated.logger_id,
                stated.locator.to_hex(),
                stated.rows,
                hex::encode(stated.body_sha256),
                chrono::DateTime::from_timestamp_micros(stated.commit_us)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| stated.commit_us.to_string()),
            );
        }
        Command::Jobs(JobCommand::List) => print(&api.list_jobs().await?)?,
        Command::Jobs(JobCommand::Watch { id, out }) => watch(&api, id, out.as_ref()).await?,
        Command::Jobs(JobCommand::Export {
            cells,
            start,
            end,
            out,
        }) => {
            let job = api
                .start_export(&ExportRequest {
                    cell_ids: cells.clone(),
                    start: *start,
                    end: *end,
                    resample: ExportResample::None,
                    series: vec![
                        ExportSeries::Power,
                        ExportSeries::Teros,
                        ExportSeries::Sensors,
                    ],
                })
                .await?;
            eprintln!("export job {}", job.id);
            watch(&api, &job.id, Some(out)).await?;
        }
        Command::Jobs(JobCommand::Cancel { id }) => {
            api.cancel_job(id).await?;
            println!("cancelled {id}");
        }
        Command::Send { file, cell, logger } => send(&api, file, *cell, *logger).await?,
        Command::Read {
            cell,
            kind,
            resample,
            start,
            end,
            follow,
        } => read(&api, *cell, kind, resample, (*start, *end), *follow).await?,
        Command::Health {
            logger: Some(id), ..
        } => print(&api.logger_health(*id).await?)?,
        Command::Health {
            logger: None,
            cell,
            state,
        } => print_fleet(
            &api.fleet_health(&loam_client::FleetFilter {
                cell_id: *cell,
                state: state.clone(),
            })
            .await?,
        ),
        Command::Alerts {
            events: Some(id), ..
        } => {
            let page = loam_client::Limit { limit: Some(50) };
            for e in api.alert_events(*id, &page).await? {
                println!("{}  {:<8}  {}", e.at, e.kind, shown(&e.message, 500));
            }
        }
        Command::Alerts {
            deliveries: Some(id),
            ..
        } => {
            let page = loam_client::Limit { limit: Some(50) };
            for a in api.alert_deliveries(*id, &page).await? {
                let status = a.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
                println!(
                    "{}  event {:<6} {:<8} {:>4}  {:<9} {}",
                    a.at,
                    a.event_id,
                    a.event_kind,
                    status,
                    a.delivery_state,
                    shown(&a.error.unwrap_or_default(), 500)
                );
            }
        }
        Command::Alerts { .. } => {
            let mut rules = api.list_alerts().await?;
            rules.sort_by_key(|r| (r.state != "firing", r.id));
            println!(
                "{:<6} {:<28} {:<10} {:<8} {:<26} WATCHES",
                "ID", "NAME", "KIND", "STATE", "SINCE"
            );
            for r in rules {
                let watches = match (r.logger_id, r.cell_id) {
                    (Some(l), _) => format!("logger {l}"),
                    (None, Some(c)) => format!("cell {c}"),
                    _ => "-".to_owned(),
                };
                let state = if r.enabled {
                    r.state.clone()
                } else {
                    "disabled".to_owned()
                };
                println!(
                    "{:<6} {:<28} {:<10} {:<8} {:<26} {}",
                    r.id,
                    shown(&r.name, 28),
                    r.condition.kind(),
                    state,
                    r.firing_since.as_deref().unwrap_or("-"),
                    watches
                );
            }
        }
        Command::Users(command) => run_users(&api, command).await?,
        Command::Audit { limit } => print_audit(
            &api.audit_log(&AuditQuery {
                limit: Some(*limit),
                offset: None,
            })
            .await?,
        ),
        Command::Import { file, cell, logger } => {
            let csv =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "import.csv".into());
            let job = api.import_csv(*cell, *logger, &name, csv).await?;
            eprintln!("import job {}", job.id);
            watch(&api, &job.id, None).await?;
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    if let Err(err) = run(cli).await {
        eprintln!("loamctl: {err:#}");
        std::process::exit(1);
    }
}
