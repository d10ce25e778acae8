//! The response recorder behind the contract check "every documented response code of every
//! operation is exercised by some test". With `LOAM_CONTRACT_DIR` set, every test server in this
//! process reports each answered request (method, matched route, status) from the request log
//! line the API already writes; the pairs go to `<dir>/<pid>.log`, one per line, each once.
//! `tests/tests/contract.rs` then compares the union of all files with `/api/openapi.json`.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

/// The environment variable naming the directory recordings go to (unset: nothing recorded).
pub const CONTRACT_DIR_VAR: &str = "LOAM_CONTRACT_DIR";

/// One answered request: method, the route template axum matched, and the status.
pub type Exchange = (String, String, u16);

/// Installs the recorder as this process's tracing subscriber, once; a no-op without
/// `LOAM_CONTRACT_DIR` or when another subscriber is already installed.
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let Some(dir) = std::env::var_os(CONTRACT_DIR_VAR).map(PathBuf::from) else {
            return;
        };
        std::fs::create_dir_all(&dir).expect("LOAM_CONTRACT_DIR cannot be created");
        let recorder = Recorder {
            file: dir.join(format!("{}.log", std::process::id())),
            seen: Mutex::new(HashSet::new()),
        };
        let _ = tracing::subscriber::set_global_default(Registry::default().with(recorder));
    });
}

/// Every exchange recorded in `dir` by any test process.
pub fn recorded(dir: &Path) -> std::io::Result<BTreeSet<Exchange>> {
    let mut all = BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        for line in text.lines() {
            let mut parts = line.split(' ');
            if let (Some(method), Some(route), Some(Ok(status))) =
                (parts.next(), parts.next(), parts.next().map(str::parse))
            {
                all.insert((method.to_owned(), route.to_owned(), status));
            }
        }
    }
    Ok(all)
}

struct Recorder {
    file: PathBuf,
    seen: Mutex<HashSet<Exchange>>,
}

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "loam_api::middleware" {
            return;
        }
        let mut fields = RequestLine::default();
        event.record(&mut fields);
        let (Some(method), Some(route), Some(status)) =
            (fields.method, fields.route, fields.status)
        else {
            return;
        };
        if route == "-" {
            return;
        }
        let exchange = (method, route, status);
        let mut seen = self.seen.lock().expect("recorder lock");
        if seen.contains(&exchange) {
            return;
        }
        let line = format!("{} {} {}\n", exchange.0, exchange.1, exchange.2);
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if written.is_ok() {
            seen.insert(exchange);
        }
    }
}

#[derive(Default)]
struct RequestLine {
    method: Option<String>,
    route: Option<String>,
    status: Option<u16>,
}

impl Visit for RequestLine {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "status" {
            self.status = u16::try_from(value).ok();
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "status" {
            self.status = u16::try_from(value).ok();
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_text(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_text(field, format!("{value:?}"));
    }
}

impl RequestLine {
    fn record_text(&mut self, field: &Field, value: String) {
        match field.name() {
            "method" => self.method = Some(value),
            "route" => self.route = Some(value),
            _ => {}
        }
    }
}
