//! Loam's Prometheus metrics. One registry per process ([`global`]) holds every metric both
//! binaries record; what only a scrape can know (pool, queue depth, Redis) arrives as a
//! [`Snapshot`] and is rendered with the rest in the Prometheus text format (0.0.4), which every
//! Prometheus-compatible scraper reads. The names are the operator's contract: the README lists
//! them with a starter set of alerts.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::render`] returns.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// One HTTP route, method and status class (`2xx` … `5xx`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's template (`/api/cell/{id}`), or `unmatched`: never the raw path, so ids and
    /// probes cannot multiply the series.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub status: &'static str,
}

/// One route and method, for latency.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route's template.
    pub route: String,
    /// The HTTP method.
    pub method: String,
}

/// Which door an upload came through: `protobuf`, `legacy_protobuf`, `json`, `ttn`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DoorLabels {
    /// The door.
    pub door: &'static str,
}

/// Rows of a stored upload by door and table.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RowLabels {
    /// The door.
    pub door: &'static str,
    /// `power`, `teros` or `sensor`.
    pub table: &'static str,
}

/// A refused upload: its door and the error code it was answered with.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectionLabels {
    /// The door.
    pub door: &'static str,
    /// The error's stable code (`invalid_upload`, `unknown_target`, `overloaded`, …).
    pub reason: &'static str,
}

/// A finished job: its kind and how it ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// `export`, `import`, `opendata`, `ttn_sync`, …
    pub kind: &'static str,
    /// `succeeded`, `failed`, `retried`, `cancelled` or `interrupted`.
    pub state: &'static str,
}

/// A job kind, for durations.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The job's kind.
    pub kind: &'static str,
}

/// A state of jobs (`queued`, `running`) or pooled connections (`in_use`, `idle`, `waiting`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// The state.
    pub state: &'static str,
}

/// The build a process runs.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The crate version.
    pub version: &'static str,
}

/// No labels (for families that are present only when something is configured).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NoLabels {}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by route, method and status class.
    pub http_requests: Family<RequestLabels, Counter>,
    /// Time from request to response head, by route and method.
    pub http_duration: HistogramFamily<RouteLabels>,
    /// Uploads stored (2xx), by door.
    pub uploads_stored: Family<DoorLabels, Counter>,
    /// Rows in stored uploads, by door and table (duplicates a device re-sent included).
    pub upload_rows: Family<RowLabels, Counter>,
    /// Rows that were new (not a duplicate of a stored row), by door.
    pub rows_new: Family<DoorLabels, Counter>,
    /// Uploads refused, by door and reason.
    pub upload_rejections: Family<RejectionLabels, Counter>,
    /// Uploads committed together in one transaction.
    pub commit_batch: Histogram,
    /// Jobs that ended an attempt, by kind and outcome.
    pub jobs_finished: Family<JobLabels, Counter>,
    /// How long one attempt of a job ran, by kind.
    pub job_duration: HistogramFamily<KindLabels>,
    jobs: Family<StateLabels, Gauge>,
    oldest_queued: Gauge<f64, AtomicU64>,
    pool: Family<StateLabels, Gauge>,
    write_retries: Counter,
    redis_up: Family<NoLabels, Gauge>,
}

/// What only a scrape can know: read from the database, the pool and Redis just before
/// rendering. `None` leaves a metric out (not configured, or its source did not answer).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Pooled database connections in use, idle, and callers waiting for one.
    pub pool: Option<PoolState>,
    /// Transient write conflicts retried since start (deadlocks, serialization failures,
    /// SQLite busy).
    pub write_retries: u64,
    /// Jobs queued and running now.
    pub jobs: Option<JobCounts>,
    /// Whether Redis answered a ping; `None` when Redis is not configured.
    pub redis_up: Option<bool>,
}

/// The database pool at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolState {
    /// Connections checked out.
    pub in_use: u32,
    /// Connections open and idle.
    pub idle: u32,
    /// Callers waiting for a connection.
    pub waiting: u32,
}

/// The job table at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct JobCounts {
    /// Jobs waiting to run.
    pub queued: i64,
    /// Jobs a runner works on.
    pub running: i64,
    /// Seconds the oldest queued job has waited (0 when none waits).
    pub oldest_queued_secs: f64,
}

/// Request latencies: 5 ms to 30 s (the request deadline).
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Job attempts: 100 ms to an hour.
const JOB_BUCKETS: [f64; 10] = [0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0];
/// Uploads per commit: 1 to the largest batch a writer takes.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

fn latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn job_time() -> Histogram {
    Histogram::new(JOB_BUCKETS)
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("loam");
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status class",
            http_requests.clone(),
        );
        let http_duration: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency);
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response head, by route template and method",
            http_duration.clone(),
        );
        let uploads_stored = Family::<DoorLabels, Counter>::default();
        registry.register(
            "uploads_stored",
            "Device uploads committed and acknowledged, by door",
            uploads_stored.clone(),
        );
        let upload_rows = Family::<RowLabels, Counter>::default();
        registry.register(
            "upload_rows",
            "Rows in acknowledged uploads, by door and table (re-sent duplicates included)",
            upload_rows.clone(),
        );
        let rows_new = Family::<DoorLabels, Counter>::default();
        registry.register(
            "rows_stored",
            "Rows newly stored (not duplicates of stored rows), by door",
            rows_new.clone(),
        );
        let upload_rejections = Family::<RejectionLabels, Counter>::default();
        registry.register(
            "upload_rejections",
            "Device uploads refused, by door and error code",
            upload_rejections.clone(),
        );
        let commit_batch = Histogram::new(BATCH_BUCKETS);
        registry.register(
            "commit_batch_uploads",
            "Uploads committed together in one transaction (group commit)",
            commit_batch.clone(),
        );
        let write_retries = Counter::default();
        registry.register(
            "db_write_retries",
            "Transient write conflicts retried (deadlock, serialization failure, SQLite busy)",
            write_retries.clone(),
        );
        let jobs_finished = Family::<JobLabels, Counter>::default();
        registry.register(
            "job_attempts",
            "Job attempts ended, by kind and outcome (succeeded, failed, retried, cancelled, interrupted)",
            jobs_finished.clone(),
        );
        let job_duration: HistogramFamily<KindLabels> = Family::new_with_constructor(job_time);
        registry.register(
            "job_duration_seconds",
            "How long one attempt of a job ran, by kind",
            job_duration.clone(),
        );
        let jobs = Family::<StateLabels, Gauge>::default();
        registry.register("jobs", "Jobs now queued or running", jobs.clone());
        let oldest_queued = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "job_oldest_queued_age_seconds",
            "Seconds the oldest queued job has waited (0 when none waits)",
            oldest_queued.clone(),
        );
        let pool = Family::<StateLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Pooled database connections in use and idle, and callers waiting for one",
            pool.clone(),
        );
        let redis_up = Family::<NoLabels, Gauge>::default();
        registry.register(
            "redis_up",
            "1 when Redis answered a ping at this scrape, 0 when not (absent without Redis)",
            redis_up.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The running build (always 1)", build);
        Self {
            registry,
            http_requests,
            http_duration,
            uploads_stored,
            upload_rows,
            rows_new,
            upload_rejections,
            commit_batch,
            jobs_finished,
            job_duration,
            jobs,
            oldest_queued,
            pool,
            write_retries,
            redis_up,
        }
    }

    /// Records one answered request. Methods outside HTTP's standard set are counted as
    /// `other`, so a client inventing methods cannot multiply the series.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS" | "CONNECT"
            | "TRACE" => method,
            _ => "other",
        };
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http_requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
            })
            .observe(seconds);
    }

    /// Records one refused upload.
    pub fn upload_refused(&self, door: &'static str, reason: &'static str) {
        self.upload_rejections
            .get_or_create(&RejectionLabels { door, reason })
            .inc();
    }

    /// Records one ended job attempt.
    pub fn job_attempt(&self, kind: &'static str, state: &'static str, seconds: f64) {
        self.jobs_finished
            .get_or_create(&JobLabels { kind, state })
            .inc();
        self.job_duration
            .get_or_create(&KindLabels { kind })
            .observe(seconds);
    }

    /// Every metric in the Prometheus text format, with the scrape-time values of `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        if let Some(pool) = snapshot.pool {
            for (state, value) in [
                ("in_use", pool.in_use),
                ("idle", pool.idle),
                ("waiting", pool.waiting),
            ] {
                self.pool
                    .get_or_create(&StateLabels { state })
                    .set(i64::from(value));
            }
        }
        if let Some(jobs) = snapshot.jobs {
            self.jobs
                .get_or_create(&StateLabels { state: "queued" })
                .set(jobs.queued);
            self.jobs
                .get_or_create(&StateLabels { state: "running" })
                .set(jobs.running);
            self.oldest_queued.set(jobs.oldest_queued_secs);
        }
        // The database counts retries itself; the counter follows its total.
        self.write_retries
            .inner()
            .fetch_max(snapshot.write_retries, Ordering::Relaxed);
        match snapshot.redis_up {
            Some(up) => {
                self.redis_up.get_or_create(&NoLabels {}).set(i64::from(up));
            }
            None => self.redis_up.clear(),
        }
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The process's metrics; the first use builds the registry.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_names_every_family_with_the_loam_prefix() {
        let metrics = Metrics::new();
        metrics.request("/api/cell/{id}", "GET", 404, 0.002);
        metrics.upload_refused("protobuf", "invalid_upload");
        metrics.job_attempt("export", "succeeded", 1.5);
        let text = metrics.render(&Snapshot {
            pool: Some(PoolState {
                in_use: 2,
                idle: 3,
                waiting: 0,
            }),
            write_retries: 7,
            jobs: Some(JobCounts {
                queued: 4,
                running: 1,
                oldest_queued_secs: 12.5,
            }),
            redis_up: Some(true),
        });
        for line in [
            "loam_http_requests_total{route=\"/api/cell/{id}\",method=\"GET\",status=\"4xx\"} 1",
            "loam_upload_rejections_total{door=\"protobuf\",reason=\"invalid_upload\"} 1",
            "loam_job_attempts_total{kind=\"export\",state=\"succeeded\"} 1",
            "loam_jobs{state=\"queued\"} 4",
            "loam_job_oldest_queued_age_seconds 12.5",
            "loam_db_pool_connections{state=\"in_use\"} 2",
            "loam_db_write_retries_total 7",
            "loam_redis_up 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(text.contains("loam_build_info{version=\""));
        metrics.request("unmatched", "FOO123", 405, 0.001);
        let text = metrics.render(&Snapshot::default());
        assert!(!text.contains("FOO123"), "invented methods are not labels");
        assert!(text.contains("method=\"other\""));
        // Without Redis the sample is absent, rather than a 0 that would page someone.
        let text = metrics.render(&Snapshot::default());
        assert!(!text.contains("loam_redis_up "), "{text}");
    }
}
