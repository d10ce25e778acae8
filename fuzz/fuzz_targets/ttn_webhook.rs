//! A TTN uplink webhook as `POST /api/sensor/` reads it: JSON bytes → `serde_json::Value` →
//! `loam_ingest::ttn::parse` → the legacy or generic decoder → `check_timestamps`; never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loam_ingest::ttn::Uplink;

/// A fixed "now" (2027-01-15) so runs are reproducible.
const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let upload = match loam_ingest::ttn::parse(&value) {
        Ok(Uplink::Legacy(bytes)) => loam_ingest::decode_legacy(&bytes),
        Ok(Uplink::Generic(bytes)) => loam_ingest::decode_generic(&bytes),
        Ok(Uplink::TimeSync | Uplink::NothingToStore | Uplink::UnknownPort) | Err(_) => return,
    };
    if let Ok(upload) = upload {
        let _ = loam_ingest::check_timestamps(&upload, NOW);
    }
});
