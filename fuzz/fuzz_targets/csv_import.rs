//! The CSV import job's parser (`loam_jobs::import::parse`, and `check_header`, which the upload
//! route runs first): never panics; a file that parses has a good header.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The job reads the file with `read_to_string`: text that is not UTF-8 never gets here.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let header = loam_jobs::import::check_header(text);
    match loam_jobs::import::parse(text) {
        Ok(rows) => {
            assert!(header.is_ok());
            assert!(rows.len() < text.lines().count().max(1));
        }
        Err(bad) => assert!(!bad.0.is_empty() && bad.0.len() <= 11),
    }
});
