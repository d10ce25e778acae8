//! Redis for tests: one shared server, a key prefix per test, and the prefix's keys deleted when
//! the test ends, so tests run in parallel without seeing each other's data.

/// A Redis connection scoped to one test's key prefix.
pub struct TestRedis {
    /// The server URL (`LOAM_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).
    pub url: String,
    /// This test's prefix, e.g. `loam-test:01J…:`; hand it to the server as `redis_prefix`.
    pub prefix: String,
    client: redis::Client,
}

impl TestRedis {
    /// Connects and picks a fresh prefix.
    pub fn new() -> Self {
        let url = std::env::var("LOAM_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let client = redis::Client::open(url.as_str()).expect("valid Redis URL");
        let prefix = format!("loam-test:{}:", ulid::Ulid::new());
        Self {
            url,
            prefix,
            client,
        }
    }

    /// A key inside this test's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The keys that currently exist under this test's prefix.
    pub fn keys(&self) -> Vec<String> {
        let mut conn = self.client.get_connection().expect("Redis connection");
        redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .expect("KEYS")
    }
}

impl Default for TestRedis {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let Ok(mut conn) = self.client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}
