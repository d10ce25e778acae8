//! Start-up and serving: open the database, migrate, bind (port 0 allowed so tests can read the
//! real port back), and serve until SIGINT/SIGTERM, finishing in-flight requests.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use loam_config::{Config, DatabaseTarget};
use loam_db::Db;
use tokio::net::TcpListener;

use crate::state::AppState;

/// Opens the configured database (reporting the driver's own error) and applies migrations.
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    let db = match config.database()? {
        DatabaseTarget::Postgres(url) => Db::connect_postgres(&url, config.db_pool_size)
            .with_context(|| format!("cannot connect to {}", loam_config::redact_url(&url)))?,
        DatabaseTarget::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            Db::connect_sqlite(&path, config.db_pool_size)
                .with_context(|| format!("cannot open {}", path.display()))?
        }
    };
    let applied = db.migrate().await.context("cannot migrate the database")?;
    if !applied.is_empty() {
        tracing::info!(
            count = applied.len(),
            "applied migrations: {}",
            applied.join(", ")
        );
    }
    Ok(db)
}

/// Builds the state from configuration: database, Redis client, generated secrets.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    config.validate()?;
    config.ensure_data_dir()?;
    config.resolve_jwt_secret()?;
    let db = open_database(&config).await?;
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
    Ok(AppState::new(db, redis, config))
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

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn serve_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = crate::build_app(self.state);
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("the server stopped with an error")
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
