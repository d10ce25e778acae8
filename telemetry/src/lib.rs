//! Process plumbing shared by `loam` and `loam-worker`: log output (readable text by default,
//! JSON lines with `LOAM_LOG_FORMAT=json`), the shutdown signal, and the probes behind
//! `/readyz` and `/metrics`.

pub mod probes;

use std::io::IsTerminal;

use loam_config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (e.g. from tests) are ignored. Spans are
/// included in JSON lines, so the request id of a request span is on every line inside it.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

/// Resolves on SIGINT or SIGTERM, the signals orchestrators send before stopping a process.
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
    tracing::info!("shutdown requested");
}
