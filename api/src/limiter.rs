//! Failed-authentication limits that stop guessing without locking out honest callers.
//!
//! Failures are counted per client address and per credential (an email, an API key's digest),
//! in fixed one-minute windows. A credential past its limit is refused before it is checked
//! (someone is guessing that account); an address past its limit only turns further *failures*
//! into 429 — a correct password or a valid key from that address is always let in, so one
//! logger with a stale key behind a shared gateway, or every client behind a proxy, blocks
//! nobody else. With Redis configured the counters live there, so N replicas enforce one limit,
//! not N; when Redis cannot be reached within a moment the process counts locally instead.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whom a failure is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The client's address.
    Address(IpAddr),
    /// A credential identifier: a normalised email, or an API key's digest.
    Credential(String),
}

impl Subject {
    fn key(&self) -> String {
        match self {
            Subject::Address(ip) => format!("ip:{ip}"),
            Subject::Credential(id) => format!("cred:{id}"),
        }
    }
}

/// How long a Redis call may take before the local counters answer instead.
const REDIS_TIMEOUT: Duration = Duration::from_millis(300);
/// Local counters kept before expired ones are dropped.
const LOCAL_ENTRIES: usize = 100_000;

/// Counts failed credential checks and says when to stop answering them.
pub struct FailureLimiter {
    limit: u32,
    window: Duration,
    local: Mutex<HashMap<String, (Instant, u32)>>,
    redis: Option<SharedCounters>,
}

struct SharedCounters {
    client: redis::Client,
    prefix: String,
    conn: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl FailureLimiter {
    /// A limiter allowing `limit` failures per minute per subject, shared through Redis (keys
    /// under `namespace`) when a client is given.
    pub fn new(limit: u32, redis: Option<redis::Client>, namespace: &str) -> Self {
        Self {
            limit: limit.max(1),
            window: Duration::from_secs(60),
            local: Mutex::new(HashMap::new()),
            redis: redis.map(|client| SharedCounters {
                client,
                prefix: format!("{namespace}authfail:"),
                conn: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// `Some(seconds until the window ends)` when `subject` has used up its failures.
    pub async fn blocked(&self, subject: &Subject) -> Option<u64> {
        let key = subject.key();
        let (count, left) = match self.shared_count(&key, false).await {
            Some(shared) => shared,
            None => self.local_count(&key, false),
        };
        (count >= u64::from(self.limit)).then_some(left.max(1))
    }

    /// Records one failure against every subject; `Some(seconds)` when any of them is now past
    /// its limit (the caller answers 429 with that `Retry-After`).
    pub async fn record_failure(&self, subjects: &[Subject]) -> Option<u64> {
        let mut retry = None;
        for subject in subjects {
            let key = subject.key();
            let (count, left) = match self.shared_count(&key, true).await {
                Some(shared) => shared,
                None => self.local_count(&key, true),
            };
            if count > u64::from(self.limit) {
                retry = Some(retry.unwrap_or(0).max(left.max(1)));
            }
        }
        retry
    }

    /// (failures in the current window, seconds left in it) from the local counters.
    fn local_count(&self, key: &str, add: bool) -> (u64, u64) {
        let mut seen = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > LOCAL_ENTRIES {
            let window = self.window;
            seen.retain(|_, (start, _)| start.elapsed() < window);
        }
        let now = Instant::now();
        let entry = seen.entry(key.to_owned()).or_insert((now, 0));
        if entry.0.elapsed() >= self.window {
            *entry = (now, 0);
        }
        if add {
            entry.1 = entry.1.saturating_add(1);
        }
        let left = self.window.saturating_sub(entry.0.elapsed()).as_secs();
        (u64::from(entry.1), left)
    }

    /// The same from Redis; `None` when Redis is not configured or does not answer in time.
    async fn shared_count(&self, key: &str, add: bool) -> Option<(u64, u64)> {
        let shared = self.redis.as_ref()?;
        let key = format!("{}{key}", shared.prefix);
        let window = self.window.as_secs();
        let attempt = async {
            let mut slot = shared.conn.lock().await;
            if slot.is_none() {
                *slot = Some(shared.client.get_multiplexed_async_connection().await?);
            }
            let conn = slot.as_mut().ok_or_else(|| {
                redis::RedisError::from((redis::ErrorKind::Io, "no Redis connection"))
            })?;
            let (count, ttl): (Option<u64>, i64) = if add {
                redis::Script::new(
                    "local n = redis.call('INCR', KEYS[1])
                     if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
                     return {n, redis.call('TTL', KEYS[1])}",
                )
                .key(&key)
                .arg(window)
                .invoke_async(conn)
                .await?
            } else {
                redis::pipe().get(&key).ttl(&key).query_async(conn).await?
            };
            Ok::<_, redis::RedisError>((count.unwrap_or(0), u64::try_from(ttl).unwrap_or(0)))
        };
        match tokio::time::timeout(REDIS_TIMEOUT, attempt).await {
            Ok(Ok(counted)) => Some(counted),
            outcome => {
                if let Ok(Err(err)) = &outcome {
                    tracing::warn!(error = %err, "failed-attempt counters: Redis unavailable, counting locally");
                } else {
                    tracing::warn!(
                        "failed-attempt counters: Redis did not answer in time, counting locally"
                    );
                }
                // A broken connection is opened again on the next call.
                *shared.conn.lock().await = None;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_past_the_limit_block_that_subject_only() {
        let limiter = FailureLimiter::new(3, None, "test:");
        let ip = Subject::Address("192.0.2.1".parse().expect("ip"));
        let email = Subject::Credential("email:a@example.test".into());
        for _ in 0..3 {
            assert_eq!(limiter.blocked(&email).await, None);
            assert_eq!(
                limiter.record_failure(&[ip.clone(), email.clone()]).await,
                None
            );
        }
        let retry = limiter.record_failure(std::slice::from_ref(&ip)).await;
        assert!(
            matches!(retry, Some(s) if (1..=60).contains(&s)),
            "{retry:?}"
        );
        assert!(matches!(limiter.blocked(&email).await, Some(s) if (1..=60).contains(&s)));
        let other = Subject::Address("192.0.2.2".parse().expect("ip"));
        assert_eq!(limiter.blocked(&other).await, None);
    }
}
