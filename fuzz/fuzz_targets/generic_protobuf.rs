//! `loam_ingest::decode_generic` then `check_timestamps`: never panics; one row and one event per
//! measurement; re-encoding the decoded message decodes to the same upload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;

/// A fixed "now" (2027-01-15) so runs are reproducible.
const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(upload) = loam_ingest::decode_generic(data) else {
        return;
    };
    let _ = loam_ingest::check_timestamps(&upload, NOW);
    let message =
        loam_ingest::pb::RepeatedSensorMeasurements::decode(data).expect("decoded once already");
    assert_eq!(upload.door, loam_ingest::Door::Generic);
    assert_eq!(upload.rows.len(), message.measurements.len());
    assert_eq!(upload.events.len(), message.measurements.len());
    let again = loam_ingest::decode_generic(&message.encode_to_vec()).expect("re-encoded message");
    assert!(
        loam_fuzz::same_upload(&again, &upload),
        "{again:?} != {upload:?}"
    );
});
