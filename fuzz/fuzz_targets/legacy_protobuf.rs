//! `loam_ingest::decode_legacy` then `check_timestamps`: never panics; one event whose count is
//! the rows; re-encoding the decoded message decodes to the same upload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;

/// A fixed "now" (2027-01-15) so runs are reproducible.
const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(upload) = loam_ingest::decode_legacy(data) else {
        return;
    };
    let _ = loam_ingest::check_timestamps(&upload, NOW);
    assert_eq!(upload.door, loam_ingest::Door::Legacy);
    assert_eq!(upload.events.len(), 1);
    assert!(
        upload
            .events
            .iter()
            .all(|e| e.obj_count as usize == upload.rows.len())
    );
    let message = loam_ingest::pb::Measurement::decode(data).expect("decoded once already");
    let again = loam_ingest::decode_legacy(&message.encode_to_vec()).expect("re-encoded message");
    assert!(
        loam_fuzz::same_upload(&again, &upload),
        "{again:?} != {upload:?}"
    );
});
