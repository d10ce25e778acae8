//! `POST /api/sensor_json/` as the route reads it: JSON bytes → `serde_json::Value` →
//! `loam_ingest::decode_json` → `check_timestamps`; never panics; one event counting the rows.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A fixed "now" (2027-01-15) so runs are reproducible.
const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(upload) = loam_ingest::decode_json(&value) else {
        return;
    };
    let _ = loam_ingest::check_timestamps(&upload, NOW);
    assert_eq!(upload.events.len(), 1);
    assert!(!upload.rows.is_empty());
    assert!(
        upload
            .events
            .iter()
            .all(|e| e.obj_count as usize == upload.rows.len())
    );
});
