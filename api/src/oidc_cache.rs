//! The OpenID Connect provider's discovery document and key set, kept for an hour: a leaf the
//! state holds and `oidc` fills.

use std::time::{Duration, Instant};

use loam_auth::JwkSet;
use serde::Deserialize;
use tokio::sync::Mutex;

/// How long a discovery document and key set are trusted.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(3600);

/// The parts of the provider's discovery document Loam uses.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Discovery {
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    pub(crate) jwks_uri: String,
}

/// The provider's endpoints and keys, fetched on first use (held while fetching, so a burst of
/// sign-ins fetches once).
#[derive(Default)]
pub struct ProviderCache {
    pub(crate) entry: Mutex<Option<(Instant, Discovery, JwkSet)>>,
}
