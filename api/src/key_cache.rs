//! Recently resolved API keys, so the ingest hot path costs no database round trip.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use loam_auth::KeyDigest;

use crate::caller::Caller;

/// How long a key lookup is trusted before the database is asked again; bounds how late a
/// revocation takes effect on each replica.
const KEY_CACHE_TTL: Duration = Duration::from_secs(2);
/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Recently resolved API keys by digest, so the ingest hot path costs no database round trip.
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<KeyDigest, (Instant, Option<Caller>)>>,
    touched: Mutex<HashMap<String, Instant>>,
}

impl KeyCache {
    pub(crate) fn get(&self, digest: &KeyDigest) -> Option<Option<Caller>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(digest)
            .filter(|(at, _)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(_, c)| c.clone())
    }

    pub(crate) fn put(&self, digest: KeyDigest, caller: Option<Caller>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > 50_000 {
            entries.retain(|_, (at, _)| at.elapsed() < KEY_CACHE_TTL);
        }
        entries.insert(digest, (Instant::now(), caller));
    }

    /// Forgets every cached key, so a revocation made by this replica applies at once.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub(crate) fn should_touch(&self, key_id: &str) -> bool {
        let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        match touched.get(key_id) {
            Some(at) if at.elapsed() < TOUCH_EVERY => false,
            _ => {
                touched.insert(key_id.to_owned(), Instant::now());
                true
            }
        }
    }
}
