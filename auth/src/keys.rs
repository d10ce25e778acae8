//! API keys: `loam_uk_…` for people (ENTS's `X-API-Key`), `loam_dk_…` for devices. The prefix
//! never changes, so foreign strings are refused before any lookup and secret scanners can spot
//! leaked keys; 32 random bytes (256 bits) follow as hex; only the SHA-256 digest is stored.

use sha2::{Digest, Sha256};

use crate::AuthError;

/// Who a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyKind {
    /// A person's key (the ENTS user key).
    User,
    /// A logger's device key.
    Device,
}

impl ApiKeyKind {
    /// The fixed visible start of this kind of key.
    pub fn prefix(self) -> &'static str {
        match self {
            ApiKeyKind::User => "loam_uk_",
            ApiKeyKind::Device => "loam_dk_",
        }
    }
}

/// A freshly generated key; its plaintext leaves the server exactly once.
pub struct PlainKey {
    text: String,
    kind: ApiKeyKind,
}

impl std::fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainKey(..)")
    }
}

impl PlainKey {
    /// Generates a new random key of `kind`.
    pub fn generate(kind: ApiKeyKind) -> Self {
        let secret: [u8; 32] = rand::random();
        Self {
            text: format!("{}{}", kind.prefix(), hex::encode(secret)),
            kind,
        }
    }

    /// The key to show the caller once.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The digest to store.
    pub fn digest(&self) -> KeyDigest {
        KeyDigest::of(&self.text)
    }

    /// The last four characters, for masked display.
    pub fn last4(&self) -> &str {
        // The text is ASCII (prefix and hex), so the last four bytes are four characters.
        self.text
            .get(self.text.len().saturating_sub(4)..)
            .unwrap_or_default()
    }

    /// Which kind of key this is.
    pub fn kind(&self) -> ApiKeyKind {
        self.kind
    }
}

/// The SHA-256 of a key; what the database keeps and looks keys up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    fn of(text: &str) -> Self {
        Self(Sha256::digest(text.as_bytes()).into())
    }

    /// Checks a presented key's format (prefix, length, hex) and returns its kind and digest;
    /// anything else is refused without touching the database.
    pub fn parse(presented: &str) -> Result<(ApiKeyKind, Self), AuthError> {
        let presented = presented.trim();
        for kind in [ApiKeyKind::User, ApiKeyKind::Device] {
            if let Some(secret) = presented.strip_prefix(kind.prefix())
                && secret.len() == 64
                && secret.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Ok((kind, Self::of(presented)));
            }
        }
        Err(AuthError::MalformedKey)
    }

    /// Lower-case hex, as stored.
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

/// Hex SHA-256 of a token, for storing refresh tokens without their text.
pub fn digest_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A masked form of a key for display: its prefix, an ellipsis, and its last four characters.
pub fn mask(prefix: &str, last4: &str) -> String {
    format!("{prefix}…{last4}")
}

/// A fresh shared secret (256 random bits as hex), e.g. the key a rule's webhooks are signed
/// with: its owner reads it back, so it is stored as is, unlike API keys.
pub fn random_secret() -> String {
    let secret: [u8; 32] = rand::random();
    hex::encode(secret)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_to_their_digest() {
        let key = PlainKey::generate(ApiKeyKind::Device);
        assert!(key.expose().starts_with("loam_dk_") && key.expose().len() == 8 + 64);
        let (kind, digest) = KeyDigest::parse(key.expose()).expect("valid key");
        assert_eq!(kind, ApiKeyKind::Device);
        assert_eq!(digest, key.digest());
        assert_eq!(digest.to_hex().len(), 64);
        assert_ne!(
            key.digest(),
            PlainKey::generate(ApiKeyKind::Device).digest()
        );
    }

    #[test]
    fn foreign_strings_are_refused_before_lookup() {
        for bad in [
            "",
            "0".repeat(64).as_str(),
            "loam_dk_short",
            "loam_xx_0000",
            &format!("loam_uk_{}", "g".repeat(64)),
        ] {
            assert_eq!(KeyDigest::parse(bad), Err(AuthError::MalformedKey), "{bad}");
        }
    }

    #[test]
    fn masks_keep_the_prefix_and_last_four() {
        let key = PlainKey::generate(ApiKeyKind::User);
        let masked = mask(ApiKeyKind::User.prefix(), key.last4());
        assert!(masked.starts_with("loam_uk_") && masked.ends_with(key.last4()));
        assert!(!masked.contains(&key.expose()[8..20]));
    }
}
