//! Start-up and serving: open the database, migrate, bind (port 0 allowed so tests can read the
//! real port back), and serve until SIGINT/SIGTERM, finishing in-flight requests.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use loam_config::Config;
use tokio::net::TcpListener;

use crate::state::AppState;

/// Builds the state from configuration: database, Redis client, generated secrets.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    config.validate()?;
    config.ensure_data_dir()?;
    config.ensure_artifacts_dir()?;
    let secret = config.resolve_jwt_secret()?;
    let receipts = loam_receipts::ServerKey::from_seed_hex(config.resolve_receipt_key()?.expose())
        .context("LOAM_RECEIPT_KEY")?;
    if config.receipt_key.is_none()
        && matches!(config.database()?, loam_config::DatabaseTarget::Postgres(_))
    {
        tracing::warn!(
            "LOAM_RECEIPT_KEY is unset: receipts are signed with a key generated into {}; \
             replicas on other hosts would sign with other keys, so set LOAM_RECEIPT_KEY for all of them",
            config.data_dir.display()
        );
    }
    let db = loam_db::open(&config).await?;
    let redis = match config.redis() {
        Some(url) => Some(redis::Client::open(url).with_context(|| {
            format!(
                "REDIS_URL is not a valid Redis URL ({})",
                loam_config::redact_url(url)
            )
        })?),
        None => None,
    };
    if config.ents_compat {
        tracing::warn!(
            "LOAM_ENTS_COMPAT=true: ENTS's open access model is on (anonymous device uploads, \
             anonymous reads of every cell, the dashboard's anonymous writes)"
        );
    }
    let state = AppState::new(
        db.clone(),
        redis,
        config,
        secret.expose().as_bytes(),
        receipts,
    );
    if let Some(wake) = state.jobs().notifier() {
        // No Redis: this process runs the jobs itself, until it exits; a job cut off by the exit
        // is re-queued by the next start (the record still says `running`).
        let (_, stop) = tokio::sync::watch::channel(false);
        let executor =
            loam_jobs::Executor::new(db.clone(), state.job_settings().clone(), stop, "api→runner");
        let sole_runner = db.backend() == loam_db::Backend::Sqlite;
        loam_jobs::Runner::new(executor, wake, state.config().worker_concurrency)
            .spawn(sole_runner);
        // MQTT uplinks are the worker's work; without one, this process takes them too.
        if let Some(settings) = loam_uplinks::mqtt::Settings::from_config(state.config())? {
            loam_uplinks::mqtt::start(db.clone(), settings).await?;
        }
    } else if state.config().mqtt_url.is_some() {
        tracing::info!("LOAM_MQTT_URL: MQTT uplinks are taken by loam-worker (REDIS_URL is set)");
    }
    Ok(state)
}

/// A bound server, not yet serving; `local_addr` tells the real port when 0 was asked for.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Binds the configured address.
    pub async fn bind(state: AppState) -> anyhow::Result<Self> {
        let addr = state.config().listen;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        Ok(Self { listener, state })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Tells the person who started the server where everything is: the address and its docs,
    /// the data folder, the database, where jobs run, and where generated secrets were kept.
    pub fn announce(&self) -> std::io::Result<()> {
        let config = self.state.config();
        let addr = self.local_addr()?;
        let data_dir = std::fs::canonicalize(&config.data_dir).unwrap_or(config.data_dir.clone());
        let database = match config.database() {
            Ok(loam_config::DatabaseTarget::Sqlite(path)) => {
                format!(
                    "SQLite {}",
                    std::fs::canonicalize(&path).unwrap_or(path).display()
                )
            }
            Ok(loam_config::DatabaseTarget::Postgres(url)) => {
                format!("Postgres {}", loam_config::redact_url(&url))
            }
            Err(e) => e.to_string(),
        };
        let jobs = if config.redis().is_some() {
            "queued in Redis for loam-worker"
        } else {
            "run inside this process"
        };
        tracing::info!(
            "loam {} listening on http://{addr}",
            env!("CARGO_PKG_VERSION")
        );
        tracing::info!(
            "  API reference: http://{addr}/api/docs   health: http://{addr}/readyz   metrics: http://{addr}/metrics"
        );
        tracing::info!("  data folder: {}", data_dir.display());
        tracing::info!("  database: {database}; jobs {jobs}");
        if config.jwt_secret.is_none() {
            tracing::info!(
                "  JWT secret: generated and kept in {} (set LOAM_JWT_SECRET to choose one)",
                data_dir.join(loam_config::JWT_SECRET_FILE).display()
            );
        }
        if config.receipt_key.is_none() {
            tracing::info!(
                "  receipt-signing key: kept in {} (back it up: devices verify receipts with it)",
                data_dir.join(loam_config::RECEIPT_KEY_FILE).display()
            );
        }
        if config.ents_compat {
            tracing::info!(
                "  ENTS compatibility mode: open access as ENTS had it (LOAM_ENTS_COMPAT)"
            );
        }
        tracing::info!(
            "  first account: `loam user create --email you@example.org --admin --password-stdin`"
        );
        Ok(())
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn serve_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let limits = crate::connections::Limits::from_config(self.state.config());
        if let Some(addr) = self.state.config().metrics_listen {
            serve_metrics(addr, self.state.clone()).await?;
        }
        let app = crate::build_app(self.state);
        crate::connections::serve(self.listener, app, limits, shutdown).await;
        Ok(())
    }
}

/// Serves `GET /metrics` alone on `LOAM_METRICS_LISTEN` (a port kept off the public one).
async fn serve_metrics(addr: SocketAddr, state: AppState) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (LOAM_METRICS_LISTEN)"))?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let state = state.clone();
            async move { crate::routes::health::metrics_answer(&state).await }
        }),
    );
    tracing::info!(%addr, "metrics on http://{addr}/metrics");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(())
}
