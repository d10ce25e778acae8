//! Start-up and serving: open the database, migrate, bind (port 0 allowed so tests can read the
//! real port back), and serve until SIGINT/SIGTERM, finishing in-flight requests.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use loam_config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::state::AppState;

/// Builds the state from configuration: database, Redis client, generated secrets.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    config.validate()?;
    config.ensure_data_dir()?;
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

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn serve_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let limits = crate::connections::Limits::from_config(self.state.config());
        let app = crate::build_app(self.state);
        crate::connections::serve(self.listener, app, limits, shutdown).await;
        Ok(())
    }
}

/// Asks a running server for `GET /healthz`; a tiny HTTP/1.0 client so slim images need no curl.
pub async fn probe_health(listen: SocketAddr) -> anyhow::Result<()> {
    let mut target = listen;
    if target.ip().is_unspecified() {
        target.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let probe = async {
        let mut stream = TcpStream::connect(target).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(std::time::Duration::from_secs(5), probe)
        .await
        .context("no answer within 5 s")?
        .with_context(|| format!("cannot reach {target}"))?;
    anyhow::ensure!(
        head.ends_with(b" 200"),
        "unhealthy: {}",
        String::from_utf8_lossy(&head)
    );
    Ok(())
}
