//! Serving connections with limits, so slow or idle clients cannot hold the server's sockets:
//! every connection must send a request head within the idle timeout (which also closes
//! keep-alive connections that stay silent, and slowloris clients dribbling a header), at most
//! `LOAM_MAX_CONNECTIONS` are open at once, and a connection past the cap is answered 503 with
//! the JSON error envelope and closed at once instead of waiting in the kernel's backlog.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// How the server treats connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more are refused with 503.
    pub max_connections: usize,
    /// A connection that has not sent a complete request head this long after it opened or
    /// after its previous response is closed.
    pub idle_timeout: Duration,
    /// How long shutdown waits for open connections to finish their requests.
    pub drain: Duration,
}

/// File descriptors kept back from connections for the database pool, Redis, files and logs.
const RESERVED_FDS: u64 = 256;

impl Limits {
    /// The configured limits, with the connection cap lowered to what the process's
    /// file-descriptor limit allows (raised to its hard maximum first).
    pub fn from_config(config: &loam_config::Config) -> Self {
        let fds = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
        let fit =
            usize::try_from(fds.saturating_sub(RESERVED_FDS + u64::from(config.db_pool_size)))
                .unwrap_or(usize::MAX)
                .max(16);
        if fit < config.max_connections {
            tracing::warn!(
                configured = config.max_connections,
                allowed = fit,
                fd_limit = fds,
                "LOAM_MAX_CONNECTIONS is above what the file-descriptor limit allows; using the lower value"
            );
        }
        Self {
            max_connections: config.max_connections.min(fit),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
            drain: config.request_timeout() + Duration::from_secs(5),
        }
    }
}

/// Accepts and serves connections until `shutdown` resolves, then stops accepting, lets open
/// connections finish their current request (at most `limits.drain`), and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closing_rx) = watch::channel(false);
    let mut open = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of descriptors or a connection reset before accept: wait a little instead
                // of spinning; connections already open go on.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => {
                let (app, closing) = (app.clone(), closing_rx.clone());
                open.spawn(async move {
                    serve_one(stream, peer, app, limits.idle_timeout, closing).await;
                    drop(slot);
                });
            }
            Err(_) => {
                tokio::spawn(refuse(stream, peer));
            }
        }
        while open.try_join_next().is_some() {}
    }
    let _ = closing.send(true);
    let drained = tokio::time::timeout(limits.drain, async {
        while open.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            still_open = open.len(),
            "connections still open after the shutdown grace period; closing them"
        );
        open.abort_all();
    }
}

async fn serve_one(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    idle_timeout: Duration,
    mut closing: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.oneshot(request).await.unwrap_or_else(|e| match e {})) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        }
        () = closing_signal(&mut closing) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Resolves once the server starts shutting down.
async fn closing_signal(closing: &mut watch::Receiver<bool>) {
    loop {
        if *closing.borrow_and_update() {
            return;
        }
        if closing.changed().await.is_err() {
            return;
        }
    }
}

/// The answer to a connection past the cap: 503 with `Retry-After`, then close.
async fn refuse(mut stream: TcpStream, peer: SocketAddr) {
    tracing::warn!(%peer, "connection limit reached; refusing a connection with 503");
    const BODY: &str = r#"{"error":{"code":"too_many_connections","message":"the server has as many open connections as it serves (LOAM_MAX_CONNECTIONS); retry shortly","details":null},"request_id":null}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let answer = async {
        // Take what the client has sent so closing does not reset the connection under it.
        let mut scratch = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut scratch)).await;
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}
