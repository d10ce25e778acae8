//! What checking credentials needs in one place, shared by the identity layer (every request)
//! and the account rules (login, refresh, OIDC). A leaf: it depends on no other module that
//! depends on the state.

use loam_auth::TokenKeys;
use loam_config::Cidr;

use crate::account_status::AccountStatus;
use crate::key_cache::KeyCache;
use crate::limiter::FailureLimiter;
use crate::oidc_cache::ProviderCache;

/// Everything the identity layer and the account endpoints share.
pub struct AuthContext {
    /// Signs and verifies people's JWTs.
    pub tokens: TokenKeys,
    /// Recently resolved API keys.
    pub key_cache: KeyCache,
    /// Recent administrators and disabled accounts, checked for every bearer token.
    pub account_status: AccountStatus,
    /// Failed logins and key checks per address and per credential.
    pub limiter: FailureLimiter,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// The OpenID Connect provider's endpoints and keys.
    pub oidc: ProviderCache,
}
