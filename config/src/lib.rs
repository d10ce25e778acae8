//! Loam's configuration: one typed struct, read once from the environment (and flags), validated
//! before anything starts, then passed down by value. `loam --help` prints every variable with its
//! default, so the help text is the reference.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

/// File in the data directory that keeps the generated JWT secret across restarts.
pub const JWT_SECRET_FILE: &str = "jwt-secret";
/// File name of the embedded SQLite database inside the data directory.
pub const SQLITE_FILE: &str = "loam.db";
/// File in the data directory that keeps the generated receipt-signing key across restarts.
pub const RECEIPT_KEY_FILE: &str = "receipt-signing-key";

/// Everything an operator can set; shared by `loam` and `loam-worker` so both read the same names.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the HTTP server listens on (host:port; port 0 picks a free one).
    #[arg(long, env = "LOAM_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,

    /// A built single-page dashboard to serve from this server's own origin (e.g. the ENTS
    /// dashboard's `build` folder): its files, and `index.html` for any other page path.
    #[arg(long, env = "LOAM_DASHBOARD_DIR")]
    pub dashboard_dir: Option<PathBuf>,

    /// Serve `/metrics` on this separate address (host:port) instead of `LOAM_LISTEN`, e.g. to
    /// keep it off the public port.
    #[arg(long, env = "LOAM_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Where `loam-worker` answers `/healthz`, `/readyz` and `/metrics` (host:port); unset, the
    /// worker opens no port. `loam-worker healthcheck` probes it.
    #[arg(long, env = "LOAM_WORKER_LISTEN")]
    pub worker_listen: Option<SocketAddr>,

    /// Directory for Loam's own files: the SQLite database, the generated JWT secret, artifacts.
    #[arg(long, env = "LOAM_DATA_DIR", default_value = "./loam-data")]
    pub data_dir: PathBuf,

    /// Database: `postgres://…` for production; unset means a SQLite file in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Redis for the job queue and live events across replicas; unset runs jobs in-process.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Where job artifacts (exports) are written; default `<data dir>/artifacts`.
    #[arg(long, env = "LOAM_ARTIFACTS_DIR")]
    pub artifacts_dir: Option<PathBuf>,

    /// Prefix for every Redis key Loam writes, so deployments (and tests) can share one Redis.
    #[arg(long, env = "LOAM_REDIS_PREFIX", default_value = "loam:")]
    pub redis_prefix: String,

    /// JWT signing secret (at least 32 characters). Generated into the data directory when unset
    /// on SQLite; required with Postgres so every replica signs with the same key.
    #[arg(long, env = "LOAM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// ENTS's open access model, for unchanged ENTS firmware and dashboard (see README).
    #[arg(long, env = "LOAM_ENTS_COMPAT", default_value_t = false, action = clap::ArgAction::Set)]
    pub ents_compat: bool,

    /// Whether anyone may create an account with `POST /api/auth/register`.
    #[arg(long, env = "LOAM_REGISTRATION", value_enum, default_value_t = Registration::Open)]
    pub registration: Registration,

    /// Proxies whose `X-Real-IP` / `X-Forwarded-For` headers are believed (comma-separated CIDRs);
    /// from anyone else those headers are ignored and the socket address is the client.
    #[arg(
        long,
        env = "LOAM_TRUSTED_PROXIES",
        default_value = "",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,

    /// Minutes an access token lives.
    #[arg(long, env = "LOAM_ACCESS_TOKEN_MINUTES", default_value_t = 15)]
    pub access_token_minutes: u64,

    /// Days a refresh token (one login) lives without being used.
    #[arg(long, env = "LOAM_REFRESH_TOKEN_DAYS", default_value_t = 7)]
    pub refresh_token_days: u64,

    /// SameSite attribute of the refresh cookie; `none` lets a dashboard on another origin
    /// refresh (it then also needs LOAM_CORS_ORIGINS).
    #[arg(long, env = "LOAM_COOKIE_SAMESITE", value_enum, default_value_t = SameSite::Lax)]
    pub cookie_samesite: SameSite,

    /// Mark the refresh cookie `Secure` (sent over HTTPS only; browsers also accept it on localhost).
    #[arg(long, env = "LOAM_COOKIE_SECURE", default_value_t = true, action = clap::ArgAction::Set)]
    pub cookie_secure: bool,

    /// Failed logins or key checks one client address may make per minute before getting 429.
    #[arg(long, env = "LOAM_AUTH_FAILURES_PER_MINUTE", default_value_t = 10)]
    pub auth_failures_per_minute: u32,

    /// OpenID Connect issuer for "sign in with …" (its discovery document gives the endpoints).
    #[arg(
        long,
        env = "LOAM_OIDC_ISSUER",
        default_value = "https://accounts.google.com"
    )]
    pub oidc_issuer: String,

    /// OIDC client id; OIDC login is on when the id, secret and redirect URI are all set.
    #[arg(long, env = "LOAM_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    /// OIDC client secret (never sent to browsers).
    #[arg(long, env = "LOAM_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<Secret>,

    /// Where the provider sends the browser back (the dashboard's `/auth/callback`).
    #[arg(long, env = "LOAM_OIDC_REDIRECT_URI")]
    pub oidc_redirect_uri: Option<String>,

    /// Log line format.
    #[arg(long, env = "LOAM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter in `tracing` syntax, e.g. `info` or `loam_api=debug,info`.
    #[arg(long, env = "LOAM_LOG", default_value = "info")]
    pub log_filter: String,

    /// Which requests get an access-log line: `all`, `failures` (status 400 and above) or `off`.
    /// Error causes are logged whatever this says; at thousands of uploads a second `failures`
    /// keeps the log readable.
    #[arg(long, env = "LOAM_ACCESS_LOG", value_enum, default_value_t = AccessLog::All)]
    pub access_log: AccessLog,

    /// Origins allowed by CORS: empty = same-origin only, `*` = any origin (no credentials), or a
    /// comma-separated list (credentials allowed). In ENTS compatibility mode empty means any.
    #[arg(
        long,
        env = "LOAM_CORS_ORIGINS",
        default_value = "",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// Largest accepted request body in bytes.
    #[arg(long, env = "LOAM_BODY_LIMIT_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub body_limit_bytes: usize,

    /// Seconds a request may take before it is answered with 503 (streamed uploads excepted:
    /// see `LOAM_UPLOAD_IDLE_SECS`).
    #[arg(long, env = "LOAM_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Streamed uploads (firmware images, CSV imports) may take as long as their bytes keep
    /// coming: they fail with 408 only when no byte arrives for this many seconds (a slow
    /// field link is fine, a stalled one is not), and after an hour in all.
    #[arg(long, env = "LOAM_UPLOAD_IDLE_SECS", default_value_t = 30)]
    pub upload_idle_secs: u64,

    /// Maximum database connections per process.
    #[arg(long, env = "LOAM_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,

    /// Seconds a request waits for one database call before answering 503 (jobs are not
    /// bounded by it).
    #[arg(long, env = "LOAM_DB_TIMEOUT_SECS", default_value_t = 5)]
    pub db_timeout_secs: u64,

    /// Connections served at once (lowered to what the file-descriptor limit allows); more are
    /// answered 503 and closed.
    #[arg(long, env = "LOAM_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Seconds a connection may take to send a request's head, counted from when it opened or
    /// finished its previous request: closes idle keep-alive connections and slow senders.
    #[arg(long, env = "LOAM_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub idle_timeout_secs: u64,

    /// Uploads that may wait for the database at once; past it uploads get 503 with
    /// `Retry-After` instead of waiting without bound.
    #[arg(long, env = "LOAM_UPLOAD_QUEUE", default_value_t = 4096)]
    pub upload_queue: usize,

    /// Group commits in flight at once on Postgres (SQLite always has one writer).
    #[arg(long, env = "LOAM_UPLOAD_WRITERS", default_value_t = 4)]
    pub upload_writers: usize,

    /// Hours a job's file (an export) is kept before the periodic cleanup deletes it.
    #[arg(long, env = "LOAM_ARTIFACT_TTL_HOURS", default_value_t = 72)]
    pub artifact_ttl_hours: u64,

    /// Jobs one worker process (or the embedded runner) runs at the same time.
    #[arg(long, env = "LOAM_WORKER_CONCURRENCY", default_value_t = 2)]
    pub worker_concurrency: usize,

    /// Seconds between a worker's heartbeats; a worker silent for three of them is declared
    /// dead and its jobs go to another worker (so a killed worker's job restarts within ~20 s).
    #[arg(long, env = "LOAM_WORKER_HEARTBEAT_SECS", default_value_t = 5)]
    pub worker_heartbeat_secs: u64,

    /// Seconds between evaluations of alert rules (a job each period, run by exactly one
    /// runner); webhook retries back off in multiples of it.
    #[arg(long, env = "LOAM_ALERT_PERIOD_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub alert_period_secs: u64,

    /// Let alert webhooks reach loopback, private and link-local addresses (off: a rule's
    /// owner could otherwise make the worker call services inside your network).
    #[arg(long, env = "LOAM_ALERT_ALLOW_PRIVATE_WEBHOOKS", default_value_t = false, action = clap::ArgAction::Set)]
    pub alert_allow_private_webhooks: bool,

    /// Base URL of The Things Network's API (the identity server of your cluster).
    #[arg(
        long,
        env = "LOAM_TTN_API_URL",
        default_value = "https://eu1.cloud.thethings.network"
    )]
    pub ttn_api_url: String,

    /// TTN application id whose end devices Loam registers and removes.
    #[arg(long, env = "LOAM_TTN_APP_ID")]
    pub ttn_app_id: Option<String>,

    /// TTN API key (server-side only, never sent to a browser); unset disables upstream sync.
    #[arg(long, env = "LOAM_TTN_API_KEY", hide_env_values = true)]
    pub ttn_api_key: Option<Secret>,

    /// Ed25519 seed (64 hex characters) that signs enrolments and upload receipts. Generated into
    /// the data directory when unset; set it in production so every replica signs alike.
    #[arg(long, env = "LOAM_RECEIPT_KEY", hide_env_values = true)]
    pub receipt_key: Option<Secret>,

    /// Upload slots an enrolment grants (one slot per started 4 KiB of upload body).
    #[arg(long, env = "LOAM_RECEIPT_SLOTS", default_value_t = 100)]
    pub receipt_slots: u32,

    /// Days an enrolment's slots last before the device must enrol again.
    #[arg(long, env = "LOAM_RECEIPT_DAYS", default_value_t = 30)]
    pub receipt_days: u32,

    /// Days of raw rows kept (by device time, counted from today's midnight UTC); older rows
    /// are deleted while their hourly and daily rollups stay, so resampled reads go on working.
    /// Unset keeps every row.
    #[arg(long, env = "LOAM_RAW_RETENTION_DAYS")]
    pub raw_retention_days: Option<u32>,

    /// Largest firmware image accepted by `POST /api/firmware` (413 above it).
    #[arg(long, env = "LOAM_FIRMWARE_MAX_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub firmware_max_bytes: usize,

    /// MQTT broker to take TTN and ChirpStack uplinks from, e.g. `mqtt://127.0.0.1:1883`; the
    /// worker subscribes (or `loam` itself when it runs jobs without Redis). Unset: no MQTT.
    #[arg(long, env = "LOAM_MQTT_URL", hide_env_values = true)]
    pub mqtt_url: Option<String>,

    /// User name for the MQTT broker.
    #[arg(long, env = "LOAM_MQTT_USERNAME")]
    pub mqtt_username: Option<String>,

    /// Password for the MQTT broker.
    #[arg(long, env = "LOAM_MQTT_PASSWORD", hide_env_values = true)]
    pub mqtt_password: Option<Secret>,

    /// Topic filters to subscribe to (comma-separated): TTN v3 and ChirpStack v4 uplinks.
    #[arg(
        long,
        env = "LOAM_MQTT_TOPICS",
        value_delimiter = ',',
        default_value = "v3/+/devices/+/up,application/+/device/+/event/up"
    )]
    pub mqtt_topics: Vec<String>,

    /// The API key MQTT uplinks are stored with: a person's own key (any logger they own, into
    /// cells they may write) or a logger's device key, with the ingest scope. Required outside
    /// ENTS compatibility mode.
    #[arg(long, env = "LOAM_MQTT_KEY", hide_env_values = true)]
    pub mqtt_key: Option<Secret>,

    /// The MQTT client id: stable, so the broker keeps the session (and queues uplinks) while
    /// Loam is away. Give each deployment its own.
    #[arg(long, env = "LOAM_MQTT_CLIENT_ID", default_value = "loam-uplinks")]
    pub mqtt_client_id: String,
}

/// How log lines are written: readable text for people, JSON for log shippers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Which requests the access log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessLog {
    /// Every request.
    All,
    /// Requests answered 400 or above.
    Failures,
    /// None (error causes are still logged).
    Off,
}

/// A configured OpenID Connect client.
#[derive(Debug, Clone, Copy)]
pub struct OidcClient<'a> {
    /// Issuer URL without a trailing slash.
    pub issuer: &'a str,
    /// Client id (the ID token's audience).
    pub client_id: &'a str,
    /// Client secret.
    pub client_secret: &'a Secret,
    /// Redirect URI registered with the provider.
    pub redirect_uri: &'a str,
}

/// Whether self-service registration is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Registration {
    /// Anyone may register.
    Open,
    /// Only `loam user create` makes accounts.
    Closed,
}

/// The refresh cookie's SameSite policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SameSite {
    /// Sent on same-site requests and top-level navigations.
    Lax,
    /// Sent on same-site requests only.
    Strict,
    /// Sent cross-site too (needs Secure).
    None,
}

/// An IPv4 or IPv6 network in CIDR notation, for trusted proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `::1/128`, or a bare address (a single host).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<std::net::IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = text.parse::<std::net::IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self {
            network: addr,
            prefix,
        })
    }

    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// A secret string whose `Debug` never prints the value, so configs can be logged safely.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that signs or connects with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Which database a URL selects; decided once at start-up from the URL scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A Postgres connection URL.
    Postgres(String),
    /// A SQLite database file.
    Sqlite(PathBuf),
}

/// A configuration problem, worded as one line that says what to set.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The database URL has a scheme Loam does not speak.
    #[error(
        "DATABASE_URL must start with postgres://, postgresql:// or sqlite:// (got {0:?}); unset it to use the embedded SQLite file"
    )]
    UnknownDatabaseScheme(String),
    /// Postgres deployments must share one signing secret across replicas.
    #[error(
        "LOAM_JWT_SECRET is required when DATABASE_URL points at Postgres (every replica must sign with the same key); generate one with `openssl rand -hex 32`"
    )]
    MissingJwtSecret,
    /// A secret too short to resist guessing.
    #[error(
        "LOAM_JWT_SECRET must be at least 32 characters long (got {0}); generate one with `openssl rand -hex 32`"
    )]
    WeakJwtSecret(usize),
    /// The receipt-signing key is not an Ed25519 seed.
    #[error(
        "LOAM_RECEIPT_KEY must be 64 hex characters (a 32-byte Ed25519 seed); generate one with `openssl rand -hex 32`"
    )]
    BadReceiptKey,
    /// A numeric setting outside its useful range.
    #[error("{name} must be {rule} (got {value})")]
    OutOfRange {
        /// The variable's name.
        name: &'static str,
        /// What is accepted.
        rule: &'static str,
        /// What was given.
        value: String,
    },
    /// The data directory or a file inside it cannot be used.
    #[error("{what} {path}: {source}")]
    Io {
        /// What Loam was doing.
        what: &'static str,
        /// The path concerned.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Config {
    /// Reads the configuration from the environment plus `args` (the first item is the program
    /// name), for callers that embed Loam rather than run its binary, such as tests.
    pub fn from_env_and_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        struct Standalone {
            #[command(flatten)]
            config: Config,
        }
        <Standalone as clap::Parser>::try_parse_from(args).map(|s| s.config)
    }

    /// The database this configuration selects (SQLite in the data directory when unset).
    pub fn database(&self) -> Result<DatabaseTarget, ConfigError> {
        let Some(url) = self
            .database_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        else {
            return Ok(DatabaseTarget::Sqlite(self.data_dir.join(SQLITE_FILE)));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseTarget::Postgres(url.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Ok(DatabaseTarget::Sqlite(PathBuf::from(path)));
        }
        Err(ConfigError::UnknownDatabaseScheme(redact_url(url)))
    }

    /// The artifacts directory.
    pub fn artifacts(&self) -> PathBuf {
        self.artifacts_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("artifacts"))
    }

    /// Redis key namespace of this deployment: the configured prefix plus a fingerprint of the
    /// database, so servers and workers of different databases can share one Redis without
    /// taking each other's jobs or live events. The API and its workers compute the same value.
    pub fn redis_namespace(&self) -> String {
        let identity = match self.database() {
            Ok(DatabaseTarget::Postgres(url)) => redact_url(&url),
            Ok(DatabaseTarget::Sqlite(path)) => std::fs::canonicalize(&path)
                .or_else(|_| {
                    std::fs::canonicalize(path.parent().unwrap_or(Path::new(".")))
                        .map(|dir| dir.join(path.file_name().unwrap_or_default()))
                })
                .unwrap_or(path)
                .display()
                .to_string(),
            Err(_) => String::new(),
        };
        // FNV-1a: stable across builds and platforms, and a collision only merges two queues.
        let hash = identity.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{}{:012x}:", self.redis_prefix, hash & 0xffff_ffff_ffff)
    }

    /// How long job files are kept.
    pub fn artifact_ttl(&self) -> Duration {
        Duration::from_secs(self.artifact_ttl_hours.saturating_mul(3600))
    }

    /// The Redis URL, treating an empty value as unset.
    pub fn redis(&self) -> Option<&str> {
        self.redis_url.as_deref().filter(|u| !u.trim().is_empty())
    }

    /// The trusted proxy networks, parsed.
    pub fn trusted_proxy_networks(&self) -> Result<Vec<Cidr>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map(|t| {
                Cidr::parse(t).ok_or_else(|| ConfigError::OutOfRange {
                    name: "LOAM_TRUSTED_PROXIES",
                    rule: "a comma-separated list of CIDRs such as 10.0.0.0/8,::1",
                    value: t.to_owned(),
                })
            })
            .collect()
    }

    /// The OIDC client settings, when OIDC login is configured.
    pub fn oidc(&self) -> Option<OidcClient<'_>> {
        fn nonempty(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        Some(OidcClient {
            issuer: self.oidc_issuer.trim_end_matches('/'),
            client_id: nonempty(&self.oidc_client_id)?,
            client_secret: self
                .oidc_client_secret
                .as_ref()
                .filter(|s| !s.expose().is_empty())?,
            redirect_uri: nonempty(&self.oidc_redirect_uri)?,
        })
    }

    /// The per-request deadline.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// Checks everything that can be checked without touching the network, so a bad setting fails
    /// before any listener or connection exists.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database()?;
        if self.db_pool_size == 0 || self.db_pool_size > 1000 {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_DB_POOL_SIZE",
                rule: "between 1 and 1000",
                value: self.db_pool_size.to_string(),
            });
        }
        if self.upload_queue == 0 || self.upload_queue > 1_000_000 {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_UPLOAD_QUEUE",
                rule: "between 1 and 1000000",
                value: self.upload_queue.to_string(),
            });
        }
        if let Some(days) = self.raw_retention_days
            && !(1..=36_500).contains(&days)
        {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_RAW_RETENTION_DAYS",
                rule: "between 1 and 36500 (unset keeps every row)",
                value: days.to_string(),
            });
        }
        if self.db_timeout_secs == 0 {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_DB_TIMEOUT_SECS",
                rule: "at least 1",
                value: "0".into(),
            });
        }
        if self.max_connections == 0 {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_MAX_CONNECTIONS",
                rule: "at least 1",
                value: "0".into(),
            });
        }
        if self.idle_timeout_secs == 0 || self.idle_timeout_secs > 3600 {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_IDLE_TIMEOUT_SECS",
                rule: "between 1 and 3600",
                value: self.idle_timeout_secs.to_string(),
            });
        }
        if self.upload_writers == 0 || self.upload_writers > 64 {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_UPLOAD_WRITERS",
                rule: "between 1 and 64",
                value: self.upload_writers.to_string(),
            });
        }
        if let Some(dir) = &self.dashboard_dir
            && !dir.join("index.html").is_file()
        {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_DASHBOARD_DIR",
                rule: "a folder holding a built dashboard's index.html",
                value: dir.display().to_string(),
            });
        }
        if self.upload_idle_secs == 0 {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_UPLOAD_IDLE_SECS",
                rule: "at least 1",
                value: "0".into(),
            });
        }
        if self.request_timeout_secs == 0 {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_REQUEST_TIMEOUT_SECS",
                rule: "at least 1",
                value: "0".into(),
            });
        }
        if self.receipt_days == 0 {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_RECEIPT_DAYS",
                rule: "at least 1",
                value: "0".into(),
            });
        }
        if let Some(key) = &self.receipt_key {
            let text = key.expose();
            if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ConfigError::BadReceiptKey);
            }
        }
        if self.body_limit_bytes < 1024 {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_BODY_LIMIT_BYTES",
                rule: "at least 1024",
                value: self.body_limit_bytes.to_string(),
            });
        }
        if let Some(secret) = &self.jwt_secret {
            check_secret_strength(secret)?;
        }
        self.trusted_proxy_networks()?;
        if self.access_token_minutes == 0 || self.access_token_minutes > 24 * 60 {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_ACCESS_TOKEN_MINUTES",
                rule: "between 1 and 1440",
                value: self.access_token_minutes.to_string(),
            });
        }
        if self.refresh_token_days == 0 || self.refresh_token_days > 365 {
            return Err(ConfigError::OutOfRange {
                name: "LOAM_REFRESH_TOKEN_DAYS",
                rule: "between 1 and 365",
                value: self.refresh_token_days.to_string(),
            });
        }
        Ok(())
    }

    /// The JWT signing secret: the configured one, or (embedded mode only) the one kept in the
    /// data directory, generated on first start so tokens survive restarts.
    pub fn resolve_jwt_secret(&self) -> Result<Secret, ConfigError> {
        if let Some(secret) = &self.jwt_secret {
            check_secret_strength(secret)?;
            return Ok(secret.clone());
        }
        match self.database()? {
            DatabaseTarget::Postgres(_) => Err(ConfigError::MissingJwtSecret),
            DatabaseTarget::Sqlite(_) => load_or_generate_secret(
                &self.data_dir.join(JWT_SECRET_FILE),
                "cannot read the JWT secret",
            ),
        }
    }

    /// The receipt-signing seed as 64 hex characters: the configured one, or the one kept in the
    /// data directory, generated on first start so receipts stay verifiable across restarts.
    pub fn resolve_receipt_key(&self) -> Result<Secret, ConfigError> {
        let check = |secret: Secret| {
            let text = secret.expose();
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(secret)
            } else {
                Err(ConfigError::BadReceiptKey)
            }
        };
        match &self.receipt_key {
            Some(secret) => check(secret.clone()),
            None => check(load_or_generate_secret(
                &self.data_dir.join(RECEIPT_KEY_FILE),
                "cannot read the receipt-signing key",
            )?),
        }
    }

    /// Creates the data directory when missing, so first runs need no preparation.
    pub fn ensure_data_dir(&self) -> Result<(), ConfigError> {
        std::fs::create_dir_all(&self.data_dir).map_err(|source| ConfigError::Io {
            what: "cannot create the data directory",
            path: self.data_dir.display().to_string(),
            source,
        })
    }

    /// Creates the artifacts folder and proves it writable (a file is written and removed), so
    /// a folder the process cannot write fails at start, naming the path, instead of failing
    /// every export later. Also what readiness checks.
    pub fn ensure_artifacts_dir(&self) -> Result<(), ConfigError> {
        let dir = self.artifacts();
        let io = |what: &'static str| {
            let path = dir.display().to_string();
            move |source| ConfigError::Io { what, path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(
            "cannot create the artifacts folder (LOAM_ARTIFACTS_DIR)",
        ))?;
        let probe = dir.join(format!(".loam-write-check-{}", std::process::id()));
        std::fs::write(&probe, b"ok").map_err(io(
            "cannot write to the artifacts folder (LOAM_ARTIFACTS_DIR)",
        ))?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }
}

fn check_secret_strength(secret: &Secret) -> Result<(), ConfigError> {
    let len = secret.expose().chars().count();
    if len < 32 {
        return Err(ConfigError::WeakJwtSecret(len));
    }
    Ok(())
}

fn load_or_generate_secret(path: &Path, what: &'static str) -> Result<Secret, ConfigError> {
    let io_err = |what: &'static str| {
        move |source| ConfigError::Io {
            what,
            path: path.display().to_string(),
            source,
        }
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let secret = Secret::new(text.trim());
            check_secret_strength(&secret)?;
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io_err("cannot create the data directory"))?;
            }
            let secret = Secret::new(hex::encode(rand::random::<[u8; 32]>()));
            write_private(path, secret.expose())
                .map_err(io_err("cannot write a generated secret"))?;
            Ok(secret)
        }
        Err(e) => Err(io_err(what)(e)),
    }
}

/// Writes a file only its owner can read; `create_new` so two processes never overwrite each other.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Hides the password of a URL so it can appear in an error line.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    fn parse(args: &[&str]) -> Config {
        let mut argv = vec!["loam"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("valid arguments").config
    }

    #[test]
    fn a_dashboard_folder_without_index_html_is_refused_at_start() {
        let config = parse(&["--dashboard-dir", "/nonexistent/build"]);
        let err = config.validate().expect_err("refused");
        assert!(err.to_string().contains("LOAM_DASHBOARD_DIR"), "{err}");
    }

    #[test]
    fn defaults_select_sqlite_in_the_data_directory() {
        let config = parse(&["--data-dir", "somewhere"]);
        assert_eq!(
            config.database().ok(),
            Some(DatabaseTarget::Sqlite("somewhere/loam.db".into()))
        );
        assert!(config.redis().is_none());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_database_scheme_names_the_variable_and_hides_the_password() {
        let config = parse(&["--database-url", "mysql://u:hunter2@h/db"]);
        let message = config.validate().expect_err("mysql is refused").to_string();
        assert!(
            message.starts_with("DATABASE_URL must start with"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn postgres_without_secret_is_refused_with_a_hint() {
        let config = parse(&["--database-url", "postgres://root@127.0.0.1/test"]);
        let message = config
            .resolve_jwt_secret()
            .expect_err("secret required")
            .to_string();
        assert!(message.contains("LOAM_JWT_SECRET is required"), "{message}");
    }

    #[test]
    fn short_secret_is_refused() {
        let config = parse(&["--jwt-secret", "short"]);
        assert!(matches!(
            config.validate(),
            Err(ConfigError::WeakJwtSecret(5))
        ));
    }

    #[test]
    fn generated_secret_is_kept_across_restarts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = parse(&["--data-dir", dir.path().to_str().expect("utf-8 path")]);
        let first = config.resolve_jwt_secret().expect("generated");
        let second = config.resolve_jwt_secret().expect("read back");
        assert_eq!(first, second);
        assert_eq!(first.expose().len(), 64);
    }

    #[test]
    fn cidrs_match_their_networks() {
        let net = Cidr::parse("10.1.0.0/16").expect("cidr");
        assert!(net.contains("10.1.200.3".parse().expect("ip")));
        assert!(!net.contains("10.2.0.1".parse().expect("ip")));
        assert!(
            Cidr::parse("::1")
                .expect("host")
                .contains("::1".parse().expect("ip"))
        );
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("all")
                .contains("8.8.8.8".parse().expect("ip"))
        );
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        let bad = parse(&["--trusted-proxies", "10.0.0.0/8,nonsense"]);
        assert!(
            bad.validate()
                .expect_err("refused")
                .to_string()
                .contains("LOAM_TRUSTED_PROXIES")
        );
    }

    #[test]
    fn secret_debug_never_prints_the_value() {
        assert_eq!(
            format!("{:?}", Secret::new("top-secret-value")),
            "Secret(..)"
        );
    }
}
