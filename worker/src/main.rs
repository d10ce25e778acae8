//! `loam-worker`: the process that takes long-running jobs from Redis, deployed and scaled apart
//! from the API. It reads the same configuration as `loam`.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use loam_config::Config;

/// Loam's job worker: runs exports, imports and other long work queued in Redis by `loam`.
///
/// Needs REDIS_URL and the same DATABASE_URL as the API servers.
#[derive(Parser)]
#[command(name = "loam-worker", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

fn main() -> ExitCode {
    loam_alloc::return_freed_memory_promptly();
    let cli = Cli::parse();
    loam_telemetry::init(cli.config.log_format, &cli.config.log_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&err.into()),
    };
    match runtime.block_on(run(cli.config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    config.validate()?;
    let redis_url = config.redis().context(
        "REDIS_URL is not set: loam-worker takes jobs from Redis (without Redis, `loam` runs jobs itself)",
    )?;
    let redis = redis::Client::open(redis_url).context("REDIS_URL is not a valid Redis URL")?;
    let db = loam_db::open(&config).await?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let settings = loam_jobs::Settings::from_config(&config);
    let executor = loam_jobs::Executor::new(db, settings, stop, "api→worker");
    let options = loam_jobs::worker::WorkerOptions {
        queue: loam_jobs::queue_name(&config),
        concurrency: config.worker_concurrency,
        heartbeat: std::time::Duration::from_secs(config.worker_heartbeat_secs.max(1)),
    };
    tracing::info!(queue = %options.queue, concurrency = options.concurrency, "loam-worker starting");
    loam_jobs::worker::run(
        executor,
        redis,
        options,
        stop_tx,
        loam_telemetry::shutdown_signal(),
    )
    .await;
    tracing::info!("loam-worker stopped");
    Ok(())
}

fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("loam-worker: error: {err:#}");
    ExitCode::from(2)
}
