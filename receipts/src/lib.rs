//! Loam's signed statements to devices, in byte layouts fixed so that firmware can check them
//! offline with nothing but the server's Ed25519 public key (`GET /api/receipts/key`):
//!
//! * enrolment: `"loam-enrol-v1"` ‖ logger id (u64 BE) ‖ device public key (32 bytes) ‖
//!   available slots (u32 BE) ‖ quota expiry (i64 BE, Unix seconds), signed as is;
//! * upload receipt: `"loam-receipt-v1"` ‖ locator (16 bytes) ‖ logger id (u64 BE) ‖ SHA-256 of
//!   the request body (32 bytes) ‖ rows committed (u32 BE) ‖ commit time (i64 BE, Unix
//!   microseconds), sent as the header `Loam-Receipt: v1.<hex payload>.<hex signature>`.
//!
//! Ed25519 signatures are deterministic, so the same statement signed twice is the same bytes.

// Everything here reads outside input: no byte-index slicing of text, no indexing that can go
// out of bounds, no unwrap/expect (fuzzed by `fuzz/`, see scripts/fuzz).
#![deny(
    clippy::string_slice,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use ed25519_dalek::{Signer, Verifier};
use sha2::Digest;

/// Domain-separation prefix of enrolment statements.
pub const ENROL_PREFIX: &[u8] = b"loam-enrol-v1";
/// Domain-separation prefix of upload receipts.
pub const RECEIPT_PREFIX: &[u8] = b"loam-receipt-v1";
/// Length of a receipt payload in bytes.
pub const RECEIPT_PAYLOAD_LEN: usize = RECEIPT_PREFIX.len() + 16 + 8 + 32 + 4 + 8;
/// The algorithm name `GET /api/receipts/key` announces.
pub const ALGORITHM: &str = "ed25519";

/// Why a receipt, key or locator was refused; each maps to one stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The header is not `v1.<hex>.<hex>`.
    #[error("a receipt reads v1.<hex payload>.<hex signature>")]
    Malformed,
    /// The payload has the wrong length or prefix.
    #[error("the receipt payload is not a loam-receipt-v1 payload")]
    WrongPayload,
    /// The signature does not verify with the given key.
    #[error("the receipt's signature does not verify with this public key")]
    BadSignature,
    /// A public key is not 32 bytes of hex encoding a valid Ed25519 point.
    #[error("an Ed25519 public key is 64 hex characters (32 bytes)")]
    BadPublicKey,
    /// A secret seed is not 32 bytes of hex.
    #[error("an Ed25519 signing key is 64 hex characters (a 32-byte seed)")]
    BadSigningKey,
    /// A locator is not 32 hex characters.
    #[error("a locator is 32 hex characters (16 bytes)")]
    BadLocator,
}

/// A device-chosen name for one upload (e.g. a hash of its payload), 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Locator(pub [u8; 16]);

impl Locator {
    /// Parses 32 hex characters (either case).
    pub fn parse(text: &str) -> Result<Self, ReceiptError> {
        let bytes = hex::decode(text.trim()).map_err(|_| ReceiptError::BadLocator)?;
        bytes
            .try_into()
            .map(Locator)
            .map_err(|_| ReceiptError::BadLocator)
    }

    /// Lower-case hex, the stored and displayed form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// A device's Ed25519 public key as enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceKey(pub [u8; 32]);

impl DeviceKey {
    /// Parses 64 hex characters that encode a valid Ed25519 point.
    pub fn parse(text: &str) -> Result<Self, ReceiptError> {
        let bytes: [u8; 32] = hex::decode(text.trim())
            .map_err(|_| ReceiptError::BadPublicKey)?
            .try_into()
            .map_err(|_| ReceiptError::BadPublicKey)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| ReceiptError::BadPublicKey)?;
        Ok(DeviceKey(bytes))
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// What an enrolment answer states about a logger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enrolment {
    /// The logger.
    pub logger_id: u64,
    /// The device's public key.
    pub device_key: DeviceKey,
    /// Upload slots left (one per started 4 KiB of body).
    pub available_slots: u32,
    /// When the slots lapse (Unix seconds).
    pub quota_expiry: i64,
}

impl Enrolment {
    /// The signed bytes.
    pub fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(ENROL_PREFIX.len() + 8 + 32 + 4 + 8);
        m.extend_from_slice(ENROL_PREFIX);
        m.extend_from_slice(&self.logger_id.to_be_bytes());
        m.extend_from_slice(&self.device_key.0);
        m.extend_from_slice(&self.available_slots.to_be_bytes());
        m.extend_from_slice(&self.quota_expiry.to_be_bytes());
        m
    }
}

/// What an upload receipt states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The device's name for the upload.
    pub locator: Locator,
    /// The logger that uploaded.
    pub logger_id: u64,
    /// SHA-256 of the request body exactly as received.
    pub body_sha256: [u8; 32],
    /// Rows of the upload that are durably stored.
    pub rows: u32,
    /// When they were committed (Unix microseconds).
    pub commit_us: i64,
}

impl Receipt {
    /// The receipt for `body`, hashing it.
    pub fn for_body(
        locator: Locator,
        logger_id: u64,
        body: &[u8],
        rows: u32,
        commit_us: i64,
    ) -> Self {
        Self {
            locator,
            logger_id,
            body_sha256: sha2::Sha256::digest(body).into(),
            rows,
            commit_us,
        }
    }

    /// The payload bytes (what is signed).
    pub fn payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(RECEIPT_PAYLOAD_LEN);
        p.extend_from_slice(RECEIPT_PREFIX);
        p.extend_from_slice(&self.locator.0);
        p.extend_from_slice(&self.logger_id.to_be_bytes());
        p.extend_from_slice(&self.body_sha256);
        p.extend_from_slice(&self.rows.to_be_bytes());
        p.extend_from_slice(&self.commit_us.to_be_bytes());
        p
    }

    /// Decodes a payload, checking its length and prefix.
    pub fn from_payload(payload: &[u8]) -> Result<Self, ReceiptError> {
        let rest = payload
            .strip_prefix(RECEIPT_PREFIX)
            .filter(|_| payload.len() == RECEIPT_PAYLOAD_LEN)
            .ok_or(ReceiptError::WrongPayload)?;
        let (locator, rest) = rest
            .split_first_chunk::<16>()
            .ok_or(ReceiptError::WrongPayload)?;
        let (logger_id, rest) = rest
            .split_first_chunk::<8>()
            .ok_or(ReceiptError::WrongPayload)?;
        let (body_sha256, rest) = rest
            .split_first_chunk::<32>()
            .ok_or(ReceiptError::WrongPayload)?;
        let (rows, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(ReceiptError::WrongPayload)?;
        let (commit_us, _) = rest
            .split_first_chunk::<8>()
            .ok_or(ReceiptError::WrongPayload)?;
        Ok(Self {
            locator: Locator(*locator),
            logger_id: u64::from_be_bytes(*logger_id),
            body_sha256: *body_sha256,
            rows: u32::from_be_bytes(*rows),
            commit_us: i64::from_be_bytes(*commit_us),
        })
    }
}

/// The server's signing key. `Debug` never prints the secret.
pub struct ServerKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerKey(public {})", self.public_key_hex())
    }
}

impl ServerKey {
    /// The key for a 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// The key for a seed written as 64 hex characters (how it is configured and stored).
    pub fn from_seed_hex(text: &str) -> Result<Self, ReceiptError> {
        let seed: [u8; 32] = hex::decode(text.trim())
            .map_err(|_| ReceiptError::BadSigningKey)?
            .try_into()
            .map_err(|_| ReceiptError::BadSigningKey)?;
        Ok(Self::from_seed(seed))
    }

    /// The public half, 32 bytes.
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The public half as lower-case hex.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key())
    }

    /// Signs an enrolment statement; returns the signature as hex.
    pub fn sign_enrolment(&self, enrolment: &Enrolment) -> String {
        hex::encode(self.0.sign(&enrolment.message()).to_bytes())
    }

    /// Signs a receipt; returns the `Loam-Receipt` header value.
    pub fn sign_receipt(&self, receipt: &Receipt) -> String {
        let payload = receipt.payload();
        let signature = self.0.sign(&payload);
        format!(
            "v1.{}.{}",
            hex::encode(&payload),
            hex::encode(signature.to_bytes())
        )
    }
}

/// Checks a `Loam-Receipt` header against the server's 32-byte public key, as firmware would,
/// and returns what it states.
pub fn verify_receipt(server_public_key: &[u8; 32], header: &str) -> Result<Receipt, ReceiptError> {
    let mut parts = header.trim().split('.');
    let (Some("v1"), Some(payload_hex), Some(signature_hex), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReceiptError::Malformed);
    };
    let payload = hex::decode(payload_hex).map_err(|_| ReceiptError::Malformed)?;
    let signature: [u8; 64] = hex::decode(signature_hex)
        .map_err(|_| ReceiptError::Malformed)?
        .try_into()
        .map_err(|_| ReceiptError::Malformed)?;
    let receipt = Receipt::from_payload(&payload)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(server_public_key)
        .map_err(|_| ReceiptError::BadPublicKey)?;
    key.verify(&payload, &ed25519_dalek::Signature::from_bytes(&signature))
        .map_err(|_| ReceiptError::BadSignature)?;
    Ok(receipt)
}

/// Checks an enrolment answer's hex signature against the server's public key.
pub fn verify_enrolment(
    server_public_key: &[u8; 32],
    enrolment: &Enrolment,
    signature_hex: &str,
) -> Result<(), ReceiptError> {
    let signature: [u8; 64] = hex::decode(signature_hex.trim())
        .map_err(|_| ReceiptError::Malformed)?
        .try_into()
        .map_err(|_| ReceiptError::Malformed)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(server_public_key)
        .map_err(|_| ReceiptError::BadPublicKey)?;
    key.verify(
        &enrolment.message(),
        &ed25519_dalek::Signature::from_bytes(&signature),
    )
    .map_err(|_| ReceiptError::BadSignature)
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

    fn key() -> ServerKey {
        ServerKey::from_seed([7; 32])
    }

    #[test]
    fn a_receipt_verifies_from_raw_bytes_and_states_its_fields() {
        let server = key();
        let receipt = Receipt::for_body(Locator([0xab; 16]), 42, b"body", 3, 1_700_000_000_000_000);
        let header = server.sign_receipt(&receipt);
        let checked = verify_receipt(&server.public_key(), &header).expect("verifies");
        assert_eq!(checked, receipt);
        let payload = receipt.payload();
        assert_eq!(payload.len(), RECEIPT_PAYLOAD_LEN);
        assert_eq!(&payload[15..31], &[0xab; 16]);
        assert_eq!(&payload[31..39], &42u64.to_be_bytes());
        assert_eq!(&payload[71..75], &3u32.to_be_bytes());
        // Deterministic: the same statement signs to the same header.
        assert_eq!(server.sign_receipt(&receipt), header);
    }

    #[test]
    fn a_tampered_or_foreign_receipt_is_refused() {
        let server = key();
        let receipt = Receipt::for_body(Locator([1; 16]), 1, b"x", 1, 5);
        let header = server.sign_receipt(&receipt);
        let other = ServerKey::from_seed([8; 32]);
        assert_eq!(
            verify_receipt(&other.public_key(), &header),
            Err(ReceiptError::BadSignature)
        );
        let mut forged = receipt;
        forged.rows = 1000;
        let sig = header.rsplit('.').next().expect("signature");
        let forged_header = format!("v1.{}.{sig}", hex::encode(forged.payload()));
        assert_eq!(
            verify_receipt(&server.public_key(), &forged_header),
            Err(ReceiptError::BadSignature)
        );
        assert_eq!(
            verify_receipt(&server.public_key(), "v2.00.00"),
            Err(ReceiptError::Malformed)
        );
        assert_eq!(
            verify_receipt(&server.public_key(), "v1.00.00"),
            Err(ReceiptError::Malformed)
        );
    }

    #[test]
    fn enrolment_signatures_cover_every_field() {
        let server = key();
        let device = DeviceKey(ServerKey::from_seed([9; 32]).public_key());
        let e = Enrolment {
            logger_id: 5,
            device_key: device,
            available_slots: 100,
            quota_expiry: 1_800_000_000,
        };
        let sig = server.sign_enrolment(&e);
        verify_enrolment(&server.public_key(), &e, &sig).expect("verifies");
        let topped = Enrolment {
            available_slots: 200,
            ..e
        };
        assert_eq!(
            verify_enrolment(&server.public_key(), &topped, &sig),
            Err(ReceiptError::BadSignature)
        );
        assert_eq!(e.message().len(), 13 + 8 + 32 + 4 + 8);
    }

    #[test]
    fn locators_and_keys_parse_strictly() {
        assert!(Locator::parse(&"ab".repeat(16)).is_ok());
        assert!(Locator::parse(&"AB".repeat(16)).is_ok());
        for bad in [
            "xyz",
            &"ab".repeat(15),
            &"ab".repeat(17),
            &"g".repeat(32),
            "",
        ] {
            assert_eq!(Locator::parse(bad), Err(ReceiptError::BadLocator), "{bad}");
        }
        assert!(DeviceKey::parse(&key().public_key_hex()).is_ok());
        for bad in ["zz".repeat(32), "ab".repeat(31), String::new()] {
            assert_eq!(DeviceKey::parse(&bad), Err(ReceiptError::BadPublicKey));
        }
    }
}
