//! Password hashing with Argon2id (the crate's defaults: 19 MiB, 2 passes), PHC strings stored.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::AuthError;

/// Hashes a password into a PHC string (`$argon2id$…`) with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| AuthError::Hashing(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

/// Checks a password against a stored PHC string; a malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a password nobody knows, computed once per process.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("loam-decoy-password-never-matches").unwrap_or_default())
}

/// Spends the same time as [`verify_password`] for a login whose email is unknown, so response
/// times do not reveal which emails have accounts. Always false.
pub fn verify_password_against_nothing(password: &str) -> bool {
    let _ = verify_password(password, decoy_hash());
    false
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
    fn hashes_verify_only_the_right_password() {
        let phc = hash_password("correct-horse-battery-9").expect("hash");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("correct-horse-battery-9", &phc));
        assert!(!verify_password("wrong", &phc));
        assert!(!verify_password("anything", "not a phc string"));
        assert!(!verify_password_against_nothing("correct-horse-battery-9"));
        assert_ne!(
            phc,
            hash_password("correct-horse-battery-9").expect("hash"),
            "salted"
        );
    }
}
