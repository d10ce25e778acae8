//! Time formats of the ENTS wire contract.

use chrono::NaiveDateTime;

/// Python's `isoformat()` of a naive UTC time: no zone, microseconds only when non-zero.
pub fn iso_naive(t: NaiveDateTime) -> String {
    use chrono::Timelike;
    let micros = t.nanosecond() / 1000;
    if micros == 0 {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        format!("{}.{micros:06}", t.format("%Y-%m-%dT%H:%M:%S"))
    }
}

#[cfg(test)]
mod tests {
    use super::iso_naive;
    use chrono::NaiveDate;

    #[test]
    fn isoformat_matches_python() {
        let d = NaiveDate::from_ymd_opt(2024, 1, 13).expect("date");
        assert_eq!(
            iso_naive(d.and_hms_opt(18, 0, 5).expect("time")),
            "2024-01-13T18:00:05"
        );
        assert_eq!(
            iso_naive(d.and_hms_micro_opt(18, 0, 5, 500_000).expect("time")),
            "2024-01-13T18:00:05.500000"
        );
    }
}
