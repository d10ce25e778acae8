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

/// RFC 3339 in UTC with microseconds, for Loam's own (non-ENTS) timestamps.
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// RFC 1123 as Werkzeug's `http_date` writes it: always GMT, whole seconds.
pub fn http_date(t: NaiveDateTime) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Parses RFC 822/2822/1123 dates as Python's `email.utils.parsedate_to_datetime` does (the
/// ENTS dashboard sends luxon's `toHTTP()`): optional weekday (not checked), optional seconds,
/// two-digit years, zones `GMT`/`UT`/`UTC`/`Z`, US zone names and `±hhmm`; no zone is UTC.
/// ISO 8601 is refused, as in ENTS. Returns naive UTC.
pub fn parse_http_date(text: &str) -> Option<NaiveDateTime> {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    if let Some(first) = words.first()
        && first
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
    {
        words.remove(0);
    }
    let (day, month, year, time) = match words.as_slice() {
        [d, m, y, t, ..] => (*d, *m, *y, *t),
        _ => return None,
    };
    let zone = words.get(4).copied();
    if words.len() > 5 {
        return None;
    }
    let day: u32 = day.trim_end_matches(',').parse().ok()?;
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = MONTHS
        .iter()
        .position(|m| month.get(..3).is_some_and(|p| m.eq_ignore_ascii_case(p)))?
        as u32
        + 1;
    let mut year: i32 = year.parse().ok()?;
    if year < 100 {
        year += if year > 68 { 1900 } else { 2000 };
    }
    let mut hms = time.split(':');
    let hour: u32 = hms.next()?.parse().ok()?;
    let minute: u32 = hms.next()?.parse().ok()?;
    let second: u32 = match hms.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    if hms.next().is_some() {
        return None;
    }
    let offset_minutes: i64 = match zone {
        None => 0,
        Some(z) => match z.to_ascii_uppercase().as_str() {
            "GMT" | "UT" | "UTC" | "Z" | "-0000" | "+0000" => 0,
            "EST" => -5 * 60,
            "EDT" => -4 * 60,
            "CST" => -6 * 60,
            "CDT" => -5 * 60,
            "MST" => -7 * 60,
            "MDT" => -6 * 60,
            "PST" => -8 * 60,
            "PDT" => -7 * 60,
            numeric => {
                let (sign, digits) = if let Some(digits) = numeric.strip_prefix('+') {
                    (1, digits)
                } else if let Some(digits) = numeric.strip_prefix('-') {
                    (-1, digits)
                } else {
                    return None;
                };
                if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let hours: i64 = digits.get(..2)?.parse().ok()?;
                let minutes: i64 = digits.get(2..)?.parse().ok()?;
                sign * (hours * 60 + minutes)
            }
        },
    };
    let local =
        chrono::NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    // Near the ends of chrono's range (years ±262142) the zone can push the time out of it.
    local.checked_sub_signed(chrono::Duration::minutes(offset_minutes))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)]
mod tests {
    use super::{http_date, iso_naive, parse_http_date};

    #[test]
    fn multibyte_text_is_refused_not_a_panic() {
        for text in [
            "1 éé 2024 10:00:00",
            "1 Jé 2024 10:00:00",
            "Sat, 13 Jan 2024 18:20:05 +é00",
            "Sat, 13 Jan 2024 18:20:05 -0é0",
            "é",
            "13 Jan 2024 1é:00",
        ] {
            assert_eq!(parse_http_date(text), None, "{text}");
        }
    }

    #[test]
    fn a_zone_pushing_the_time_out_of_range_is_refused_not_a_panic() {
        // `NaiveDateTime - Duration` panicked here on overflow (found writing fuzz/http_date).
        for text in [
            "31 Dec 262142 23:59:59 -2359",
            "Fri, 31 Dec 262142 23:00 EST",
            "1 Jan -264143 00:00 +0001", // years below 100 get 2000 added: -262143
        ] {
            assert_eq!(parse_http_date(text), None, "{text}");
        }
        let last = chrono::NaiveDate::from_ymd_opt(262_142, 12, 31)
            .and_then(|d| d.and_hms_opt(23, 59, 59))
            .expect("time");
        assert_eq!(parse_http_date("31 Dec 262142 23:59:59 GMT"), Some(last));
    }

    #[test]
    fn http_dates_parse_like_python() {
        let want = chrono::NaiveDate::from_ymd_opt(2024, 1, 13)
            .and_then(|d| d.and_hms_opt(18, 20, 5))
            .expect("time");
        for text in [
            "Sat, 13 Jan 2024 18:20:05 GMT",
            "13 Jan 2024 18:20:05 GMT",
            "Sat, 13 Jan 2024 10:20:05 -0800",
            "Sat, 13 Jan 2024 13:20:05 EST",
            "Sat, 13 Jan 2024 18:20:05 UTC",
            "Mon, 13 Jan 24 18:20:05",
        ] {
            assert_eq!(parse_http_date(text), Some(want), "{text}");
        }
        assert_eq!(
            parse_http_date("Sat, 13 Jan 2024 18:20 GMT"),
            Some(want - chrono::Duration::seconds(5))
        );
        for bad in [
            "2024-01-13T00:00:00Z",
            "2024-01-13",
            "not a date",
            "",
            "Sat, 32 Jan 2024 18:20:05 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
        assert_eq!(http_date(want), "Sat, 13 Jan 2024 18:20:05 GMT");
    }
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
