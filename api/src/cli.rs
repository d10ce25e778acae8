//! Operators' job commands: `loam export` and `loam import` run the same jobs as the API, in this
//! process, against the configured database, with a progress bar on the terminal.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use loam_config::Config;
use loam_jobs::export::Series;
use loam_jobs::{ExportZip, ImportCsv, Payload};

/// `loam export`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Cell to export (repeat for several).
    #[arg(long = "cell", required = true)]
    pub cells: Vec<i32>,
    /// First time included (RFC 3339; default: the Unix epoch).
    #[arg(long)]
    pub start: Option<DateTime<Utc>>,
    /// Last time included (RFC 3339; default: now).
    #[arg(long)]
    pub end: Option<DateTime<Utc>>,
    /// Bucket width: none, hour or day.
    #[arg(long, default_value = "none", value_parser = ["none", "hour", "day"])]
    pub resample: String,
    /// Series to include: power, teros, sensors (default: all).
    #[arg(long, value_delimiter = ',', value_parser = ["power", "teros", "sensors"])]
    pub series: Vec<String>,
    /// Where to write the ZIP.
    #[arg(long, short)]
    pub out: PathBuf,
}

/// `loam import`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// CSV files in the ENTS sample format (each one all or nothing).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The cell receiving the rows.
    #[arg(long)]
    pub cell: i32,
    /// The logger the power rows are recorded under.
    #[arg(long)]
    pub logger: i32,
}

fn bar(message: String) -> (ProgressBar, loam_jobs::Observer) {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message);
    let handle = bar.clone();
    let observer: loam_jobs::Observer = Arc::new(move |done, total| {
        handle.set_length(total.max(0).unsigned_abs());
        handle.set_position(done.max(0).unsigned_abs());
    });
    (bar, observer)
}

async fn executor(config: &Config) -> anyhow::Result<loam_jobs::Executor> {
    config.validate()?;
    config.ensure_data_dir()?;
    let db = loam_db::open_for_command(config).await?;
    let (_, stop) = tokio::sync::watch::channel(false);
    Ok(loam_jobs::Executor::new(
        db,
        loam_jobs::Settings::from_config(config),
        stop,
        "cli",
    ))
}

fn request_id() -> String {
    format!("cli-{}", ulid::Ulid::new())
}

/// Runs an export and moves the ZIP to `--out`.
pub async fn export(config: &Config, args: ExportArgs) -> anyhow::Result<()> {
    let executor = executor(config).await?;
    let start = args.start.unwrap_or(DateTime::UNIX_EPOCH);
    let end = args.end.unwrap_or_else(Utc::now);
    anyhow::ensure!(start <= end, "--start must not be after --end");
    let series = args
        .series
        .iter()
        .map(|s| match s.as_str() {
            "power" => Series::Power,
            "teros" => Series::Teros,
            _ => Series::Sensors,
        })
        .collect();
    let payload = Payload::Export(ExportZip {
        cell_ids: args.cells.clone(),
        start: start.naive_utc(),
        end: end.naive_utc(),
        resample: args.resample,
        series,
    });
    let (bar, observer) = bar(format!("exporting {} cell(s)", args.cells.len()));
    let job = loam_jobs::run_here(&executor, payload, request_id(), Some(observer)).await?;
    bar.finish_and_clear();
    anyhow::ensure!(
        job.state == "succeeded",
        "export failed: {}",
        job.error.unwrap_or(job.state)
    );
    let id = job.id.clone();
    let name = executor
        .db()
        .run(move |c| loam_db::jobs::artifact(c, &id))
        .await?
        .context("the export wrote no file")?;
    let from = executor.settings().artifact_path(&name);
    move_file(&from, &args.out)?;
    let id = job.id.clone();
    executor
        .db()
        .run(move |c| loam_db::jobs::clear_artifact(c, &id))
        .await?;
    let result = loam_jobs::result_of(&job);
    println!(
        "exported {} rows to {} (job {})",
        result["rows"],
        args.out.display(),
        job.id
    );
    Ok(())
}

fn move_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    if std::fs::rename(from, to).is_err() {
        std::fs::copy(from, to).with_context(|| format!("cannot write {}", to.display()))?;
        let _ = std::fs::remove_file(from);
    }
    Ok(())
}

/// Imports each file in its own job (each all or nothing); stops at the first failure.
pub async fn import(config: &Config, args: ImportArgs) -> anyhow::Result<()> {
    let executor = executor(config).await?;
    let (cell, logger) = (args.cell, args.logger);
    let (found_cell, found_logger) = executor
        .db()
        .run(move |c| {
            Ok((
                loam_db::cells::find(c, cell)?.is_some(),
                loam_db::loggers::find(c, logger)?.is_some(),
            ))
        })
        .await?;
    anyhow::ensure!(found_cell, "cell {cell} does not exist");
    anyhow::ensure!(found_logger, "logger {logger} does not exist");
    for path in &args.files {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let staged = loam_jobs::import::stage(executor.settings(), bytes).await?;
        let original_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let payload = Payload::Import(ImportCsv {
            cell_id: cell,
            logger_id: logger,
            file: staged,
            original_name: original_name.clone(),
        });
        let (bar, observer) = bar(format!("importing {original_name}"));
        let job = loam_jobs::run_here(&executor, payload, request_id(), Some(observer)).await?;
        bar.finish_and_clear();
        anyhow::ensure!(
            job.state == "succeeded",
            "{original_name}: {}",
            job.error.unwrap_or(job.state)
        );
        let result = loam_jobs::result_of(&job);
        println!(
            "{original_name}: {} lines, {} measurements stored (job {})",
            result["rows"], result["stored"], job.id
        );
    }
    Ok(())
}
