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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Take and run jobs (the default).
    Run,
    /// Exit 0 when this worker's LOAM_WORKER_LISTEN answers `GET /readyz` (for container
    /// healthchecks), 1 otherwise.
    Healthcheck,
}

fn main() -> ExitCode {
    loam_alloc::return_freed_memory_promptly();
    // Settings that do not parse exit 1 like every other failure (clap would use 2, which
    // Docker reserves in health checks); --help and --version still exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(1);
        }
    };
    loam_telemetry::init(cli.config.log_format, &cli.config.log_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&err.into()),
    };
    let work = async {
        match cli.command.unwrap_or(Command::Run) {
            Command::Run => run(cli.config).await,
            Command::Healthcheck => healthcheck(&cli.config).await,
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

async fn healthcheck(config: &Config) -> anyhow::Result<()> {
    let listen = config.worker_listen.context(
        "LOAM_WORKER_LISTEN is not set: the worker answers health checks only on that address",
    )?;
    loam_telemetry::probes::http_ok(listen, "/readyz")
        .await
        .map_err(anyhow::Error::msg)
}

/// Answers `/healthz` (the process runs), `/readyz` (database and Redis answer; the MQTT
/// subscription's state is reported beside them) and `/metrics`
/// on `LOAM_WORKER_LISTEN`, for orchestrators and Prometheus.
async fn serve_health(
    addr: std::net::SocketAddr,
    db: loam_db::Db,
    redis: redis::Client,
    config: Config,
    mqtt: Option<std::sync::Arc<loam_uplinks::mqtt::Status>>,
) -> anyhow::Result<()> {
    use axum::http::{StatusCode, header};
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (LOAM_WORKER_LISTEN)"))?;
    let ready = {
        let (db, redis, config) = (db.clone(), redis.clone(), config);
        move || {
            let (db, redis, config, mqtt) =
                (db.clone(), redis.clone(), config.clone(), mqtt.clone());
            async move {
                let mut body = loam_telemetry::probes::readiness(&db, Some(&redis), &config).await;
                body.mqtt = mqtt.map(|m| m.describe().into());
                let status = if body.status == "ok" {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                (status, axum::Json(body))
            }
        }
    };
    let metrics = move || {
        let (db, redis) = (db.clone(), redis.clone());
        async move {
            let text = loam_telemetry::probes::metrics(&db, Some(&redis)).await;
            ([(header::CONTENT_TYPE, loam_metrics::CONTENT_TYPE)], text)
        }
    };
    let app = axum::Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics));
    tracing::info!(%addr, "health and metrics on http://{addr}/");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the health listener stopped");
        }
    });
    Ok(())
}

async fn run(config: Config) -> anyhow::Result<()> {
    config.validate()?;
    config.ensure_artifacts_dir()?;
    let redis_url = config.redis().context(
        "REDIS_URL is not set: loam-worker takes jobs from Redis (without Redis, `loam` runs jobs itself)",
    )?;
    let redis = redis::Client::open(redis_url).context("REDIS_URL is not a valid Redis URL")?;
    let db = loam_db::open(&config).await?;
    // Started before taking jobs so a key that cannot apply the upload rules stops start-up.
    let uplinks = match loam_uplinks::mqtt::Settings::from_config(&config)? {
        Some(settings) => Some(loam_uplinks::mqtt::start(db.clone(), settings).await?),
        None => None,
    };
    if let Some(addr) = config.worker_listen {
        let mqtt = uplinks.as_ref().map(|u| u.status.clone());
        serve_health(addr, db.clone(), redis.clone(), config.clone(), mqtt).await?;
    }
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
    // 1, not 2: Docker reserves 2 for healthchecks, and shells read 2 as a usage error.
    ExitCode::from(1)
}
