//! Every device-supplied token of the receipts and API-key formats, from arbitrary text:
//! `Locator::parse`, `DeviceKey::parse`, `verify_receipt` and `verify_enrolment` against a fixed
//! server key, `Receipt::from_payload` on the raw bytes, and `KeyDigest::parse` (the `loam_uk_` /
//! `loam_dk_` check). Never panics; whatever parses writes back to what parses the same.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use loam_auth::KeyDigest;
use loam_receipts::{
    DeviceKey, Enrolment, Locator, Receipt, ServerKey, verify_enrolment, verify_receipt,
};

fn server() -> &'static ServerKey {
    static KEY: OnceLock<ServerKey> = OnceLock::new();
    KEY.get_or_init(|| ServerKey::from_seed([7; 32]))
}

fuzz_target!(|data: &[u8]| {
    let server = server();
    let public = server.public_key();
    if let Ok(receipt) = Receipt::from_payload(data) {
        assert_eq!(receipt.payload(), data);
        assert_eq!(
            verify_receipt(&public, &server.sign_receipt(&receipt)),
            Ok(receipt)
        );
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(locator) = Locator::parse(text) {
        assert_eq!(Locator::parse(&locator.to_hex()), Ok(locator));
    }
    if let Ok(key) = DeviceKey::parse(text) {
        assert_eq!(DeviceKey::parse(&key.to_hex()), Ok(key));
        let enrolment = Enrolment {
            logger_id: 5,
            device_key: key,
            available_slots: 100,
            quota_expiry: 1_800_000_000,
        };
        assert_eq!(
            verify_enrolment(&public, &enrolment, &server.sign_enrolment(&enrolment)),
            Ok(())
        );
    }
    if let Ok(receipt) = verify_receipt(&public, text) {
        // Only a header this key signed can verify; its payload re-signs to the same header.
        assert_eq!(
            server.sign_receipt(&receipt),
            text.trim().to_ascii_lowercase()
        );
    }
    let any_device = Enrolment {
        logger_id: 5,
        device_key: DeviceKey([9; 32]),
        available_slots: 100,
        quota_expiry: 1_800_000_000,
    };
    let _ = verify_enrolment(&public, &any_device, text);
    if let Ok((kind, digest)) = KeyDigest::parse(text) {
        assert!(text.trim().starts_with(kind.prefix()));
        assert_eq!(digest.to_hex().len(), 64);
    }
    let _ = ServerKey::from_seed_hex(text);
});
