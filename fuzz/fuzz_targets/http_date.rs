//! `loam_schemas::wire::parse_http_date` (the dashboard's RFC 1123 `startTime`/`endTime`): never
//! panics, and a parsed time written back with `http_date` parses to the same time.
#![no_main]

use chrono::Datelike;
use libfuzzer_sys::fuzz_target;
use loam_schemas::wire::{http_date, parse_http_date};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(t) = parse_http_date(text) {
        // `http_date` writes four-digit years; two-digit ones are read as 19xx/20xx on purpose.
        if (100..=9999).contains(&t.year()) {
            let written = http_date(t);
            assert_eq!(
                parse_http_date(&written),
                Some(t),
                "{text:?} -> {written:?}"
            );
        }
    }
});
