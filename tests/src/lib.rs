//! The integration-test harness. [`TestApp::spawn`] starts the real server (the same
//! `build_app` the binary serves) on a random port against a fresh database: a temporary SQLite
//! file, or a Postgres database created for the test and dropped afterwards. [`backend_tests!`]
//! runs one test body on both backends; the Postgres and Redis halves need the `services`
//! feature (the README's test command), so plain `cargo test` needs no services.

pub mod contract;
pub mod oidc_provider;
mod proxy;
mod redis_keys;

use std::future::Future;
use std::net::SocketAddr;

use loam_api::{AppState, Server};
use loam_config::{Config, Secret};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use oidc_provider as oidc;
pub use oidc_provider::OidcProvider;
pub use proxy::ToggleProxy;
pub use redis_keys::TestRedis;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A fresh Postgres database on `LOAM_TEST_PG_URL`'s server.
    Postgres,
}

/// Where the harness creates and drops test databases.
pub fn postgres_admin_url() -> String {
    std::env::var("LOAM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned())
}

/// A Postgres database that exists for one test.
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    fn create() -> Self {
        let name = format!("loam_test_{}", ulid::Ulid::new().to_string().to_lowercase());
        loam_db::testing::create_database(&postgres_admin_url(), &name)
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        Self { name }
    }

    fn url(&self, host_port: &str) -> String {
        let admin = postgres_admin_url();
        let (scheme_user, _) = admin
            .rsplit_once('@')
            .expect("LOAM_TEST_PG_URL has user@host");
        format!("{scheme_user}@{host_port}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(e) = loam_db::testing::drop_database(&postgres_admin_url(), &self.name) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// The Postgres server's host:port as the admin URL names it.
fn postgres_host_port() -> String {
    let admin = postgres_admin_url();
    let after_at = admin
        .rsplit_once('@')
        .map(|(_, rest)| rest)
        .unwrap_or("127.0.0.1:5432/postgres");
    after_at
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:5432")
        .to_owned()
}

/// The Postgres server's socket address, for proxies that stand in front of it.
pub fn postgres_socket_addr() -> SocketAddr {
    resolve(&postgres_host_port())
}

/// The socket address in a `scheme://host:port/...` URL.
pub fn socket_addr_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    resolve(rest.split('/').next().unwrap_or(rest))
}

fn resolve(host_port: &str) -> SocketAddr {
    use std::net::ToSocketAddrs;
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| panic!("cannot resolve {host_port}"))
}

/// A running server and everything it needs; dropping it stops the server and drops its database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client that never follows redirects (the routing rules are under test).
    pub client: reqwest::Client,
    /// The server's state, for seeding data through the data layer.
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

/// Protobuf bodies as ENTS firmware encodes them.
pub mod frames {
    pub use loam_ingest::pb;
    use prost::Message;

    fn meta(ts: u32, cell: i64, logger: i64) -> pb::MeasurementMetadata {
        pb::MeasurementMetadata {
            cell_id: cell as u32,
            logger_id: logger as u32,
            ts,
        }
    }

    /// A legacy power measurement.
    pub fn power(ts: u32, cell: i64, logger: i64, voltage: f64, current: f64) -> Vec<u8> {
        pb::Measurement {
            meta: Some(meta(ts, cell, logger)),
            measurement: Some(pb::measurement::Measurement::Power(pb::PowerMeasurement {
                voltage,
                current,
            })),
        }
        .encode_to_vec()
    }

    /// A legacy TEROS-12 measurement.
    pub fn teros12(
        ts: u32,
        cell: i64,
        logger: i64,
        vwc_raw: f64,
        vwc_adj: f64,
        temp: f64,
        ec: u32,
    ) -> Vec<u8> {
        pb::Measurement {
            meta: Some(meta(ts, cell, logger)),
            measurement: Some(pb::measurement::Measurement::Teros12(
                pb::Teros12Measurement {
                    vwc_raw,
                    vwc_adj,
                    temp,
                    ec,
                },
            )),
        }
        .encode_to_vec()
    }

    /// A generic message with `(type, cell, decimal value)` measurements sharing one time.
    pub fn generic(ts: u32, logger: i64, items: &[(pb::SensorType, i64, f64)]) -> Vec<u8> {
        pb::RepeatedSensorMeasurements {
            meta: None,
            r#type: 0,
            measurements: items
                .iter()
                .map(|(kind, cell, value)| pb::SensorMeasurement {
                    meta: Some(pb::Metadata {
                        cell_id: *cell as u32,
                        logger_id: logger as u32,
                        ts,
                    }),
                    r#type: *kind as i32,
                    value: Some(pb::sensor_measurement::Value::Decimal(*value)),
                    idx: 0,
                })
                .collect(),
        }
        .encode_to_vec()
    }
}

/// A Unix time as the RFC 1123 text ENTS clients send (`startTime`, `endTime`).
pub fn http_date(ts: i64) -> String {
    let t = chrono::DateTime::from_timestamp(ts, 0)
        .expect("representable time")
        .naive_utc();
    loam_schemas::wire::http_date(t)
}

/// The password every harness-made person has.
pub const PASSWORD: &str = "correct-horse-battery-9";

/// A signed-in person as a browser holds it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The bearer token.
    pub access_token: String,
    /// The value of the `refresh-token` cookie.
    pub refresh_cookie: String,
}

impl Session {
    /// The `Authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.access_token)
    }
}

/// The value a response's `Set-Cookie` gives `refresh-token`, if it sets it.
pub fn refresh_cookie_of(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.trim().strip_prefix("refresh-token="))
        .map(str::to_owned)
        .next()
}

/// One operation of the OpenAPI document.
#[derive(Debug, Clone)]
pub struct SpecOperation {
    /// The method, upper case (`GET`).
    pub method: String,
    /// The path template (`/api/cell/{cell_id}`).
    pub path: String,
    /// The operation object (responses, security, parameters).
    pub doc: serde_json::Value,
}

impl SpecOperation {
    /// The path with every parameter set to `1`, for walks that call each operation.
    pub fn sample_path(&self) -> String {
        self.path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Whether only a device key may call it (no bearer token).
    pub fn device_only(&self) -> bool {
        self.doc["security"] == serde_json::json!([{"api_key": []}])
    }
}

/// A change to the configuration made before a test server starts.
pub type ConfigTweak = Box<dyn FnOnce(&mut Config) + Send>;

/// Options for [`TestApp::spawn_with`].
#[derive(Default)]
pub struct Options {
    /// Turn on ENTS compatibility mode.
    pub ents_compat: bool,
    /// Redis URL to hand the server.
    pub redis_url: Option<String>,
    /// Route the Postgres connection through this proxy address (to simulate outages).
    pub postgres_via: Option<SocketAddr>,
    /// Change anything else in the configuration before the server starts.
    pub tweak: Option<ConfigTweak>,
    /// Use this Postgres database (another app's) instead of creating one: replicas.
    pub database_url: Option<String>,
}

/// A worker running inside the test; stops (handing its jobs back) when dropped or stopped.
pub struct InTestWorker {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl InTestWorker {
    /// Stops taking jobs and waits until the worker has let go of its running ones.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), task).await;
        }
    }
}

impl Drop for InTestWorker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestApp {
    /// Starts a server with default (strict) settings.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, Options::default()).await
    }

    /// Starts a server with the given options.
    pub async fn spawn_with(backend: Backend, options: Options) -> Self {
        contract::install();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::from_env_and_args(["loam"]).expect("default configuration");
        config.listen = "127.0.0.1:0".parse().expect("address");
        config.data_dir = dir.path().join("data");
        config.ents_compat = options.ents_compat;
        config.redis_url = options.redis_url;
        config.jwt_secret = Some(Secret::new(format!("test-secret-{}", ulid::Ulid::new())));
        config.db_pool_size = 4;
        if let Some(tweak) = options.tweak {
            tweak(&mut config);
        }
        let pg = match backend {
            Backend::Sqlite => {
                config.database_url = None;
                None
            }
            Backend::Postgres if options.database_url.is_some() => {
                config.database_url = options.database_url;
                None
            }
            Backend::Postgres => {
                let db = PgDatabase::create();
                let host_port = options
                    .postgres_via
                    .map(|a| a.to_string())
                    .unwrap_or_else(postgres_host_port);
                config.database_url = Some(db.url(&host_port));
                Some(db)
            }
        };
        let state = loam_api::server::build_state(config)
            .await
            .expect("server state");
        let server = Server::bind(state.clone()).await.expect("bind");
        let addr = server.local_addr().expect("bound address");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stop = async {
                let _ = rx.await;
            };
            if let Err(e) = server.serve_until(stop).await {
                eprintln!("test server stopped with an error: {e:#}");
            }
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            base: format!("http://{addr}"),
            client,
            state,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
            pg,
        }
    }

    /// The configuration this server runs with (a worker for it uses the same).
    pub fn config(&self) -> &Config {
        self.state.config()
    }

    /// Polls a job until it ends (at most a minute); returns its last record.
    pub async fn wait_for_job(&self, session: &Session, id: &str) -> serde_json::Value {
        let mut job = serde_json::Value::Null;
        for _ in 0..600 {
            job = self
                .as_person(reqwest::Method::GET, &format!("/api/jobs/{id}"), session)
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            if ["succeeded", "failed", "cancelled"].contains(&job["state"].as_str().unwrap_or("")) {
                return job;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("job {id} did not end within a minute: {job}");
    }

    /// Starts a Redis worker (the `loam-worker` loop) inside the test process for this server.
    pub fn start_worker(&self) -> InTestWorker {
        let config = self.config().clone();
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let (done_tx, done) = oneshot::channel::<()>();
        let redis = redis::Client::open(config.redis().expect("a Redis URL")).expect("Redis URL");
        let db = self.state.db().clone();
        let executor = loam_jobs::Executor::new(
            db,
            loam_jobs::Settings::from_config(&config),
            stop,
            "api→worker",
        );
        let options = loam_jobs::worker::WorkerOptions {
            queue: loam_jobs::queue_name(&config),
            concurrency: 2,
            heartbeat: std::time::Duration::from_secs(2),
        };
        let task = tokio::spawn(loam_jobs::worker::run(
            executor,
            redis,
            options,
            stop_tx,
            async {
                let _ = done.await;
            },
        ));
        InTestWorker {
            stop: Some(done_tx),
            task: Some(task),
        }
    }

    /// Absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// The server's OpenAPI document (`GET /api/openapi.json`), which the contract tests walk.
    pub async fn spec(&self) -> serde_json::Value {
        let res = self.get("/api/openapi.json").await;
        assert_eq!(res.status(), 200, "the spec is served");
        res.json().await.expect("the spec is JSON")
    }

    /// Every operation the spec documents, in its order.
    pub async fn operations(&self) -> Vec<SpecOperation> {
        let spec = self.spec().await;
        let mut all = Vec::new();
        for (path, item) in spec["paths"].as_object().expect("paths") {
            for (method, doc) in item.as_object().expect("operations") {
                all.push(SpecOperation {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    doc: doc.clone(),
                });
            }
        }
        all
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Registers a person and signs them in; returns their session.
    pub async fn signed_in(&self, email: &str) -> Session {
        let body = serde_json::json!({
            "email": email, "password": PASSWORD, "first_name": "Test", "last_name": "Person"
        });
        let res = self.post_json("/api/auth/register", &body).await;
        assert_eq!(
            res.status(),
            201,
            "register {email}: {}",
            res.text().await.unwrap_or_default()
        );
        self.login(email).await
    }

    /// Creates an administrator (as `loam user create --admin` does) and signs them in.
    pub async fn admin(&self, email: &str) -> Session {
        let admin =
            loam_api::accounts::create_user(self.state.db(), email, PASSWORD, None, None, true)
                .await
                .expect("admin account");
        assert!(admin.is_admin, "{email} is an administrator");
        self.login(email).await
    }

    /// Signs an existing person in.
    pub async fn login(&self, email: &str) -> Session {
        let res = self
            .post_json(
                "/api/auth/login",
                &serde_json::json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 201, "login {email}");
        let cookie = refresh_cookie_of(&res).expect("refresh cookie");
        let body: serde_json::Value = res.json().await.expect("json");
        Session {
            access_token: body["access_token"].as_str().expect("token").to_owned(),
            refresh_cookie: cookie,
        }
    }

    /// A request as `session` (bearer token).
    pub fn as_person(
        &self,
        method: reqwest::Method,
        path: &str,
        session: &Session,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("authorization", session.bearer())
    }

    /// Creates a cell owned by `session`'s person (`email` must be theirs); returns its id.
    pub async fn cell(&self, session: &Session, email: &str, name: &str) -> i64 {
        let body = serde_json::json!({"name": name, "location": "plot", "latitude": 1.5, "longitude": 2.5,
                                      "archive": false, "userEmail": email});
        let res = self
            .as_person(reqwest::Method::POST, "/api/cell/", session)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "create cell");
        res.json::<serde_json::Value>().await.expect("json")["id"]
            .as_i64()
            .expect("id")
    }

    /// Creates a logger owned by `session`'s person; returns its id.
    pub async fn logger(&self, session: &Session, email: &str, name: &str) -> i64 {
        let body = serde_json::json!({"name": name, "type": "other", "userEmail": email});
        let res = self
            .as_person(reqwest::Method::POST, "/api/logger/", session)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 201, "create logger");
        res.json::<serde_json::Value>().await.expect("json")["logger_id"]
            .as_i64()
            .expect("id")
    }

    /// Creates a device key for a logger; returns the key text.
    pub async fn device_key(&self, session: &Session, logger: i64, scopes: &[&str]) -> String {
        let res = self
            .as_person(
                reqwest::Method::POST,
                &format!("/api/logger/{logger}/keys"),
                session,
            )
            .json(&serde_json::json!({"name": "test key", "scopes": scopes}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 201, "create device key");
        res.json::<serde_json::Value>().await.expect("json")["key"]
            .as_str()
            .expect("key")
            .to_owned()
    }

    /// Uploads a protobuf body (`generic` adds `SensorVersion: 2`), with an optional device key.
    pub async fn upload(
        &self,
        body: Vec<u8>,
        generic: bool,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url("/api/sensor/"))
            .header("content-type", "application/octet-stream")
            .body(body);
        if generic {
            req = req.header("SensorVersion", "2");
        }
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        req.send().await.expect("request")
    }

    /// Runs work against the server's database through the data layer.
    pub async fn db<T, F>(&self, work: F) -> T
    where
        F: FnOnce(&mut loam_db::DbConn) -> Result<T, loam_db::DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.state.db().run(work).await.expect("database work")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Whether the database is the Postgres one.
    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.assert_no_running_jobs();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl TestApp {
    /// Fails a test that ends while a job of its server still runs: the job's writes would race
    /// the test's assertions (or the next test), so a test waits for every job it starts
    /// (`wait_for_job`). Skipped when the test already failed, and on single-threaded runtimes
    /// (which cannot block here).
    fn assert_no_running_jobs(&self) {
        use tokio::runtime::{Handle, RuntimeFlavor};
        if std::thread::panicking() {
            return;
        }
        let Ok(handle) = Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            return;
        }
        let db = self.state.db().clone();
        let running =
            tokio::task::block_in_place(|| handle.block_on(db.run(loam_db::jobs::running_ids)))
                .expect("the jobs table answers");
        assert!(
            running.is_empty(),
            "the test ended with jobs still running: {running:?} (wait for them with wait_for_job)"
        );
    }
}

/// Reads a `/metrics` answer with a Prometheus text-format parser, failing the test when a
/// sample line is not in the exposition format (a line the parser skipped).
pub fn scrape(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition format");
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line
            .split(['{', ' '])
            .next()
            .unwrap_or_default()
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            scrape
                .samples
                .iter()
                .any(|s| s.metric == name || s.metric.starts_with(name)),
            "a sample line the parser did not read: {line:?}"
        );
    }
    scrape
}

/// The value of the counter or gauge `name` whose labels include `labels`; `None` when absent.
pub fn sample(
    scrape: &prometheus_parse::Scrape,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .find_map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
}

/// Polls `probe` until it returns true or `seconds` pass; for effects that take a moment.
pub async fn eventually<F, Fut>(seconds: u64, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if probe().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// Declares each listed `async fn name(backend: Backend)` as two tests, `sqlite::name` and
/// `postgres::name`; the Postgres one needs the `services` feature.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(feature = "services"), ignore = "needs Postgres: run with --features services")]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
    };
}
