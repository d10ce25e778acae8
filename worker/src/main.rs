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
    let mut conn = redis
        .get_multiplexed_async_connection()
        .await
        .context("cannot reach Redis")?;
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .context("Redis did not answer PING")?;
    let _db = loam_db::open(&config).await?;
    tracing::info!(queue_prefix = %config.redis_prefix, "loam-worker ready");
    loam_telemetry::shutdown_signal().await;
    tracing::info!("loam-worker stopping");
    Ok(())
}

fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("loam-worker: error: {err:#}");
    ExitCode::from(2)
}
