//! What both binaries answer about themselves: readiness of their dependencies (`/readyz`) and
//! the metrics text (`/metrics`) with its scrape-time values. Every probe is bounded, so a frozen
//! dependency (accepting connections, never answering) is reported within [`PROBE_TIMEOUT`].

use std::time::Duration;

use loam_db::Db;
use loam_schemas::health::Readiness;

/// How long readiness waits for each dependency before calling it down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a dependency's probe found; the error text goes to the log, never to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// It answered.
    Ok,
    /// It refused or failed (the cause).
    Down(String),
    /// It did not answer within [`PROBE_TIMEOUT`].
    Silent,
}

impl Probe {
    /// Whether it answered.
    pub fn is_ok(&self) -> bool {
        matches!(self, Probe::Ok)
    }

    /// The word `/readyz` shows.
    pub fn word(&self) -> &'static str {
        match self {
            Probe::Ok => "ok",
            Probe::Down(_) => "down",
            Probe::Silent => "not responding",
        }
    }

    fn log(&self, what: &str) {
        match self {
            Probe::Ok => {}
            Probe::Down(err) => tracing::warn!(error = %err, "readiness: {what} is down"),
            Probe::Silent => tracing::warn!(
                "readiness: {what} did not answer within {} s",
                PROBE_TIMEOUT.as_secs()
            ),
        }
    }
}

/// Whether the database answers a query now.
pub async fn database(db: &Db) -> Probe {
    match tokio::time::timeout(PROBE_TIMEOUT, db.ping(PROBE_TIMEOUT)).await {
        Ok(Ok(())) => Probe::Ok,
        Ok(Err(err)) => Probe::Down(err.to_string()),
        Err(_) => Probe::Silent,
    }
}

/// Whether Redis answers a PING now.
pub async fn redis(client: &redis::Client) -> Probe {
    let probe = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => Probe::Ok,
        Ok(Err(err)) => Probe::Down(err.to_string()),
        Err(_) => Probe::Silent,
    }
}

/// Whether the artifacts folder can be written now (a full disk, a volume mounted read-only or
/// owned by another user shows here before the first export fails).
pub async fn artifacts(config: &loam_config::Config) -> Probe {
    let config = config.clone();
    match tokio::task::spawn_blocking(move || config.ensure_artifacts_dir()).await {
        Ok(Ok(())) => Probe::Ok,
        Ok(Err(e)) => Probe::Down(e.to_string()),
        Err(e) => Probe::Down(e.to_string()),
    }
}

/// Probes the database, (when configured) Redis and the artifacts folder at once and logs
/// what is down.
pub async fn readiness(
    db: &Db,
    redis_client: Option<&redis::Client>,
    config: &loam_config::Config,
) -> Readiness {
    let redis_probe = async {
        match redis_client {
            None => None,
            Some(client) => Some(redis(client).await),
        }
    };
    let (database, redis, artifacts) = tokio::join!(database(db), redis_probe, artifacts(config));
    database.log("the database");
    if let Some(redis) = &redis {
        redis.log("redis");
    }
    artifacts.log("the artifacts folder");
    let healthy = database.is_ok() && redis.as_ref().is_none_or(Probe::is_ok) && artifacts.is_ok();
    Readiness {
        status: if healthy { "ok" } else { "unavailable" }.into(),
        database: database.word().into(),
        redis: redis.as_ref().map_or("not configured", Probe::word).into(),
        artifacts: if artifacts.is_ok() {
            "ok"
        } else {
            "not writable"
        }
        .into(),
        mqtt: None,
    }
}

/// The metrics text with what only a scrape can know: the pool, the job table (when the
/// database answers in time) and Redis.
pub async fn metrics(db: &Db, redis_client: Option<&redis::Client>) -> String {
    let jobs = async {
        let now = loam_db::now();
        let counts = tokio::time::timeout(PROBE_TIMEOUT, db.run(loam_db::jobs::queue_counts)).await;
        match counts {
            Ok(Ok((queued, running, oldest))) => Some(loam_metrics::JobCounts {
                queued,
                running,
                oldest_queued_secs: oldest
                    .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0),
            }),
            _ => None,
        }
    };
    let redis_up = async {
        match redis_client {
            None => None,
            Some(client) => Some(redis(client).await.is_ok()),
        }
    };
    let (jobs, redis_up) = tokio::join!(jobs, redis_up);
    let pool = db.pool_stats();
    loam_metrics::global().render(&loam_metrics::Snapshot {
        pool: Some(loam_metrics::PoolState {
            in_use: pool.in_use,
            idle: pool.idle,
            waiting: pool.waiting,
        }),
        write_retries: loam_db::write_retries(),
        jobs,
        redis_up,
    })
}

/// Asks a running server on this machine for `GET path` and succeeds on a 200: the binaries'
/// `healthcheck` commands, a tiny HTTP/1.0 client so slim images need no curl.
pub async fn http_ok(listen: std::net::SocketAddr, path: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut target = listen;
    if target.ip().is_unspecified() {
        target.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(target).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(Duration::from_secs(5), probe)
        .await
        .map_err(|_| format!("no answer from {target} within 5 s"))?
        .map_err(|e| format!("cannot reach {target}: {e}"))?;
    if head.ends_with(b" 200") {
        Ok(())
    } else {
        Err(format!(
            "{path} on {target} answered {}",
            String::from_utf8_lossy(&head)
        ))
    }
}
