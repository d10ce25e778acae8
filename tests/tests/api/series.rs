//! Time-series reads: resampled answers equal the average of the raw rows per bucket (also
//! after late and out-of-order uploads), TEROS normalisation, parameters, and read rights.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use loam_tests::{Backend, Options, TestApp, backend_tests, frames};
use reqwest::Method;
use serde_json::Value;

backend_tests!(
    resampled_power_equals_the_average_of_raw_rows_per_bucket,
    wide_resamples_equal_the_raw_average_per_calendar_bucket,
    long_raw_reads_stream_every_row_once_in_order,
    answers_are_compressed_when_the_client_asks,
    teros_vwc_is_normalised_once_per_row,
    bad_parameters_are_400,
    raw_reads_to_the_far_future_answer_at_once,
    reads_need_rights_outside_compatibility_mode,
);

pub(crate) fn http(ts: i64) -> String {
    loam_tests::http_date(ts)
}

/// A series read of `path` over `[from, to]` at `resample`, whatever it answers.
pub(crate) async fn get_series(
    app: &TestApp,
    path: &str,
    from: i64,
    to: i64,
    resample: &str,
) -> reqwest::Response {
    let q = [
        ("startTime", http(from)),
        ("endTime", http(to)),
        ("resample", resample.to_owned()),
    ];
    app.client
        .get(app.url(path))
        .query(&q)
        .send()
        .await
        .expect("req")
}

/// The same read, which must answer 200; its JSON.
pub(crate) async fn read(app: &TestApp, path: &str, from: i64, to: i64, resample: &str) -> Value {
    let res = get_series(app, path, from, to, resample).await;
    assert_eq!(res.status(), 200, "{path} {resample}");
    res.json().await.expect("json")
}

pub(crate) fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

async fn resampled_power_equals_the_average_of_raw_rows_per_bucket(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            ents_compat: true,
            ..Options::default()
        },
    )
    .await;
    let s = app.signed_in("reader@example.test").await;
    let cell = app.cell(&s, "reader@example.test", "c").await;
    let logger = app.logger(&s, "reader@example.test", "l").await;
    let day = 1_705_104_000_i64; // 2024-01-13 00:00:00 UTC
    // Newest first, then late rows into an already-read bucket and into a new earlier one.
    let mut uploads: Vec<(i64, f64, f64)> = (0..40)
        .rev()
        .map(|k| {
            (
                day + 3600 + k * 977,
                0.1 + k as f64 * 0.01,
                0.001 * (k % 7) as f64,
            )
        })
        .collect();
    uploads.push((day + 3600 + 5, 0.9, 0.004));
    uploads.push((day + 60, 0.2, 0.005));
    for (n, (ts, v, i)) in uploads.iter().enumerate() {
        let res = app
            .upload(frames::power(*ts as u32, cell, logger, *v, *i), false, None)
            .await;
        assert_eq!(res.status(), 200);
        if n == 20 {
            read(
                &app,
                &format!("/api/power/{cell}"),
                day,
                day + 86_399,
                "hour",
            )
            .await;
        }
    }
    let raw = read(
        &app,
        &format!("/api/power/{cell}"),
        day,
        day + 86_399,
        "none",
    )
    .await;
    let stamps: Vec<String> = raw["timestamp"]
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t.as_str().expect("str").to_owned())
        .collect();
    let mut sorted = stamps.clone();
    sorted.sort_by_key(|t| loam_schemas::wire::parse_http_date(t));
    assert!(stamps.len() > 1, "raw rows were read");
    assert_eq!(stamps, sorted, "raw rows ascend");
    // Aligned windows are answered from rollups alone; ragged ones mix raw edges and rollups.
    for (resample, width, from, to) in [
        ("hour", 3600_i64, day, day + 86_399),
        ("day", 86_400, day, day + 86_399),
        ("hour", 3600, day + 3600 + 500, day + 8 * 3600 + 123),
    ] {
        let mut expected: BTreeMap<i64, (f64, f64, f64, f64)> = BTreeMap::new();
        for (ts, v, i) in uploads.iter().filter(|(ts, _, _)| (from..=to).contains(ts)) {
            let e = expected.entry(ts - ts.rem_euclid(width)).or_default();
            *e = (e.0 + v * 1e3, e.1 + i * 1e6, e.2 + v * i * 1e6, e.3 + 1.0);
        }
        let got = read(&app, &format!("/api/power/{cell}"), from, to, resample).await;
        let want_ts: Vec<String> = expected.keys().map(|b| http(*b)).collect();
        let got_ts: Vec<String> = got["timestamp"]
            .as_array()
            .expect("array")
            .iter()
            .map(|t| t.as_str().expect("s").to_owned())
            .collect();
        assert!(!want_ts.is_empty(), "{resample}: the window holds uploads");
        assert_eq!(got_ts, want_ts, "{resample} buckets");
        let close = |a: &[f64], b: Vec<f64>| {
            a.len() == b.len()
                && a.iter()
                    .zip(&b)
                    .all(|(x, y)| (x - y).abs() <= 1e-9 * y.abs().max(1.0))
        };
        assert!(
            close(
                &floats(&got["v"]),
                expected.values().map(|e| e.0 / e.3).collect()
            ),
            "{resample} v"
        );
        assert!(
            close(
                &floats(&got["i"]),
                expected.values().map(|e| e.1 / e.3).collect()
            ),
            "{resample} i"
        );
        assert!(
            close(
                &floats(&got["p"]),
                expected.values().map(|e| e.2 / e.3).collect()
            ),
            "{resample} p"
        );
    }
}

/// The start of the calendar bucket (`date_trunc`, UTC, weeks from Monday) holding `ts`.
fn calendar_bucket(resample: &str, ts: i64) -> i64 {
    let date = chrono::DateTime::from_timestamp(ts, 0)
        .expect("time")
        .date_naive();
    let start = match resample {
        "day" => date,
        "week" => date - chrono::Duration::days(i64::from(date.weekday().num_days_from_monday())),
        "month" => NaiveDate::from_ymd_opt(date.year(), date.month(), 1).expect("date"),
        "quarter" => {
            NaiveDate::from_ymd_opt(date.year(), (date.month() - 1) / 3 * 3 + 1, 1).expect("date")
        }
        "year" => NaiveDate::from_ymd_opt(date.year(), 1, 1).expect("date"),
        other => panic!("no calendar bucket {other}"),
    };
    start
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp()
}

/// Week, month, quarter and year answers (read from the daily rollups plus raw rows for the
/// partial days at the edges) equal the plain average of the raw rows in each calendar bucket,
/// for power, TEROS and a generic series, over a range that starts and ends mid-day, crosses
/// a year, quarters, months and weeks, and took late rows after it had been read once.
async fn wide_resamples_equal_the_raw_average_per_calendar_bucket(backend: Backend) {
    use loam_tests::frames::pb::SensorType;
    let app = TestApp::spawn_with(
        backend,
        Options {
            ents_compat: true,
            ..Options::default()
        },
    )
    .await;
    let s = app.signed_in("reader@example.test").await;
    let cell = app.cell(&s, "reader@example.test", "c").await;
    let logger = app.logger(&s, "reader@example.test", "l").await;
    let first = 1_703_721_600_i64; // 2023-12-28 00:00:00 UTC, a Thursday
    // 160 readings about 14.6 h apart (to mid-April 2024), sent newest first.
    let readings: Vec<(i64, f64)> = (0..160_i64)
        .map(|k| {
            (
                first + 3_000 + k * 52_711,
                1.0 + (k * 37 % 101) as f64 / 10.0,
            )
        })
        .collect();
    let send = |(ts, x): (i64, f64)| {
        let app = &app;
        async move {
            let t = ts as u32;
            for (body, generic) in [
                (frames::power(t, cell, logger, x / 10.0, x / 1000.0), false),
                (
                    frames::teros12(t, cell, logger, 2000.0 + x, x / 100.0, 10.0 + x, 100),
                    false,
                ),
                (
                    frames::generic(t, logger, &[(SensorType::Bme280Pressure, cell, 900.0 + x)]),
                    true,
                ),
            ] {
                let res = app.upload(body, generic, None).await;
                assert_eq!(res.status(), 200, "upload at {ts}");
            }
        }
    };
    let (late, early) = readings.split_at(40);
    for reading in early.iter().rev() {
        send(*reading).await;
    }
    let from = first + 13 * 3600 + 7;
    let to = readings[150].0 - 5 * 3600;
    read(&app, &format!("/api/power/{cell}"), from, to, "month").await;
    for reading in late.iter().rev() {
        send(*reading).await;
    }
    let in_range: Vec<&(i64, f64)> = readings
        .iter()
        .filter(|(ts, _)| (from..=to).contains(ts))
        .collect();
    assert!(in_range.len() > 100 && in_range.len() < readings.len());
    let sensor = format!("/api/sensor/?name=BME280_PRESSURE&measurement=Pressure&cellId={cell}");
    for resample in ["day", "week", "month", "quarter", "year"] {
        let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for (ts, x) in &in_range {
            buckets
                .entry(calendar_bucket(resample, *ts))
                .or_default()
                .push(*x);
        }
        let want_ts: Vec<String> = buckets.keys().map(|b| http(*b)).collect();
        let mean = |f: &dyn Fn(f64) -> f64| -> Vec<f64> {
            buckets
                .values()
                .map(|xs| xs.iter().map(|x| f(*x)).sum::<f64>() / xs.len() as f64)
                .collect()
        };
        let power = read(&app, &format!("/api/power/{cell}"), from, to, resample).await;
        let teros = read(&app, &format!("/api/teros/{cell}"), from, to, resample).await;
        let generic = read(&app, &sensor, from, to, resample).await;
        for (what, answer) in [("power", &power), ("teros", &teros), ("sensor", &generic)] {
            let got_ts: Vec<String> = answer["timestamp"]
                .as_array()
                .expect("timestamps")
                .iter()
                .map(|t| t.as_str().expect("text").to_owned())
                .collect();
            assert_eq!(got_ts, want_ts, "{what} {resample} buckets");
        }
        let close = |got: &Value, want: Vec<f64>, what: &str| {
            let got = floats(got);
            assert_eq!(got.len(), want.len(), "{what} {resample}");
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                    "{what} {resample}: {g} vs {w}"
                );
            }
        };
        close(&power["v"], mean(&|x| x / 10.0 * 1e3), "power v");
        close(&power["i"], mean(&|x| x / 1000.0 * 1e6), "power i");
        close(
            &power["p"],
            mean(&|x| x / 10.0 * x / 1000.0 * 1e6),
            "power p",
        );
        close(&teros["temp"], mean(&|x| 10.0 + x), "teros temp");
        close(&teros["raw_vwc"], mean(&|x| 2000.0 + x), "teros raw_vwc");
        close(&teros["vwc"], mean(&|x| x), "teros vwc (percent)");
        close(&generic["data"], mean(&|x| 900.0 + x), "sensor data");
    }
}

/// Imports `lines` rows a minute apart from `t0` (each a power and a TEROS row).
pub(crate) async fn import_minutes(
    app: &TestApp,
    s: &loam_tests::Session,
    cell: i64,
    logger: i64,
    t0: i64,
    lines: i64,
) {
    let mut csv = String::from(
        "timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)",
    );
    for n in 0..lines {
        let t = chrono::DateTime::from_timestamp(t0 + n * 60, 0).expect("time");
        csv.push_str(&format!(
            "\n{},{},{},1.0,{},{},18.5",
            t.format(" %d %b %Y %H:%M:%S GMT"),
            100 + n % 50,
            20 + n % 7,
            200 + n % 30,
            10.0 + (n % 40) as f64 * 0.5,
        ));
    }
    let res = app
        .as_person(Method::POST, &format!("/api/cell/{cell}/import"), s)
        .query(&[
            ("logger_id", logger.to_string()),
            ("name", "minutes.csv".into()),
        ])
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 202);
    let job: Value = res.json().await.expect("json");
    let job = app
        .wait_for_job(s, job["id"].as_str().expect("job id"))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
}

/// A raw read long enough to take several time windows and to move its later columns out of
/// memory answers every row exactly once, in time order, with the columns lined up (the same
/// row's voltage, current, power and time at the same index).
async fn long_raw_reads_stream_every_row_once_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = "long@example.test";
    let s = app.signed_in(email).await;
    let cell = app.cell(&s, email, "long").await;
    let logger = app.logger(&s, email, "long").await;
    let t0 = 1_704_067_200_i64; // 2024-01-01
    let lines = 60_000_i64;
    import_minutes(&app, &s, cell, logger, t0, lines).await;
    let range = [
        ("startTime", http(t0)),
        ("endTime", http(t0 + lines * 60)),
        ("resample", "none".to_owned()),
    ];
    let power: Value = app
        .as_person(Method::GET, &format!("/api/power/{cell}"), &s)
        .query(&range)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    let teros: Value = app
        .as_person(Method::GET, &format!("/api/teros/{cell}"), &s)
        .query(&range)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    let want_ts: Vec<String> = (0..lines).map(|n| http(t0 + n * 60)).collect();
    for (what, answer) in [("power", &power), ("teros", &teros)] {
        let got: Vec<&str> = answer["timestamp"]
            .as_array()
            .expect("timestamps")
            .iter()
            .map(|t| t.as_str().expect("text"))
            .collect();
        assert!(
            got == want_ts,
            "{what}: {} timestamps, not the {lines} expected in order",
            got.len()
        );
    }
    let (v, i, p) = (
        floats(&power["v"]),
        floats(&power["i"]),
        floats(&power["p"]),
    );
    let ec: Vec<i64> = teros["ec"]
        .as_array()
        .expect("ec")
        .iter()
        .map(|e| e.as_i64().expect("integer"))
        .collect();
    let vwc = floats(&teros["vwc"]);
    for n in 0..lines {
        let k = usize::try_from(n).expect("index");
        let (mv, ua) = ((100 + n % 50) as f64, (20 + n % 7) as f64);
        assert!((v[k] - mv).abs() < 1e-6, "v[{n}] = {}", v[k]);
        assert!((i[k] - ua).abs() < 1e-6, "i[{n}] = {}", i[k]);
        assert!((p[k] - mv * ua / 1e3).abs() < 1e-6, "p[{n}] = {}", p[k]);
        assert_eq!(ec[k], 200 + n % 30, "ec[{n}]");
        assert!(
            (vwc[k] - (10.0 + (n % 40) as f64 * 0.5)).abs() < 1e-6,
            "vwc[{n}] = {}",
            vwc[k]
        );
    }
    assert_eq!(teros["vwc_unit"], "%");
    assert_eq!(teros["raw_vwc_unit"], "raw");
}

/// JSON answers (a raw series, the OpenAPI document) come compressed when the client says it
/// accepts gzip or zstd, and decompress to the bytes of the plain answer; ZIP exports do not.
async fn answers_are_compressed_when_the_client_asks(backend: Backend) {
    use std::io::Read;
    let app = TestApp::spawn(backend).await;
    let email = "zip@example.test";
    let s = app.signed_in(email).await;
    let cell = app.cell(&s, email, "c").await;
    let logger = app.logger(&s, email, "l").await;
    let t0 = 1_704_067_200_i64;
    import_minutes(&app, &s, cell, logger, t0, 3_000).await;
    let raw = format!(
        "/api/power/{cell}?resample=none&startTime={}&endTime={}",
        http(t0).replace(' ', "%20"),
        http(t0 + 3_000 * 60).replace(' ', "%20")
    );
    for path in [raw.as_str(), "/api/openapi.json"] {
        let fetch = |encoding: &'static str| {
            app.as_person(Method::GET, path, &s)
                .header("accept-encoding", encoding)
                .send()
        };
        let plain = fetch("identity").await.expect("req");
        assert_eq!(plain.status(), 200, "{path}");
        assert!(plain.headers().get("content-encoding").is_none(), "{path}");
        let plain = plain.bytes().await.expect("body");
        for encoding in ["gzip", "zstd"] {
            let res = fetch(encoding).await.expect("req");
            assert_eq!(res.status(), 200, "{path}");
            assert_eq!(
                res.headers()
                    .get("content-encoding")
                    .map(|v| v.to_str().expect("ascii")),
                Some(encoding),
                "{path}"
            );
            let sent = res.bytes().await.expect("body");
            assert!(
                sent.len() * 3 < plain.len(),
                "{path} {encoding}: {} of {}",
                sent.len(),
                plain.len()
            );
            let mut unpacked = Vec::new();
            if encoding == "gzip" {
                flate2::read::GzDecoder::new(&sent[..])
                    .read_to_end(&mut unpacked)
                    .expect("gzip");
            } else {
                unpacked = zstd::stream::decode_all(&sent[..]).expect("zstd");
            }
            assert!(unpacked == plain, "{path} {encoding}: not the plain answer");
        }
    }
    // An export's ZIP is sent as it is.
    let res = app
        .as_person(Method::POST, "/api/exports", &s)
        .json(
            &serde_json::json!({"cell_ids": [cell], "start": "2024-01-01T00:00:00Z",
                                 "end": "2024-01-03T12:00:00Z"}),
        )
        .send()
        .await
        .expect("req");
    let status = res.status();
    let job: Value = res.json().await.expect("json");
    assert_eq!(status, 202, "{job}");
    let job = app.wait_for_job(&s, job["id"].as_str().expect("id")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let artifact = app
        .as_person(
            Method::GET,
            &format!("/api/jobs/{}/artifact", job["id"].as_str().expect("id")),
            &s,
        )
        .header("accept-encoding", "gzip, zstd")
        .send()
        .await
        .expect("req");
    assert_eq!(artifact.status(), 200);
    assert!(artifact.headers().get("content-encoding").is_none());
    let bytes = artifact.bytes().await.expect("zip");
    assert_eq!(&bytes[..2], b"PK", "a ZIP archive as it was written");
}

async fn teros_vwc_is_normalised_once_per_row(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            ents_compat: true,
            ..Options::default()
        },
    )
    .await;
    let s = app.signed_in("t@example.test").await;
    let cell = app.cell(&s, "t@example.test", "c").await;
    let logger = app.logger(&s, "t@example.test", "l").await;
    let h18 = 1_705_168_800_i64;
    for (ts, vwc, ec) in [
        (h18 + 300, 0.4, 100),
        (h18 + 2100, 40.0, 101),
        (h18 + 3900, 0.5, 110),
        (h18 + 4000, 0.5, 110),
    ] {
        let res = app
            .upload(
                frames::teros12(ts as u32, cell, logger, 2500.0, vwc, 21.0, ec),
                false,
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let hourly = read(&app, &format!("/api/teros/{cell}"), h18, h18 + 7200, "hour").await;
    assert_eq!(
        floats(&hourly["vwc"]),
        [40.0, 50.0],
        "0.5 averages to 50, not 5000"
    );
    assert_eq!(hourly["ec"], serde_json::json!([100, 110]));
    assert_eq!(
        (hourly["vwc_unit"].as_str(), hourly["raw_vwc_unit"].as_str()),
        (Some("%"), Some("raw"))
    );
}

/// A raw read whose range reaches far past the data (here to the year 9999) walks only the
/// span that holds rows: it used to read empty time windows for minutes.
async fn raw_reads_to_the_far_future_answer_at_once(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            ents_compat: true,
            ..Options::default()
        },
    )
    .await;
    let s = app.signed_in("far@example.test").await;
    let cell = app.cell(&s, "far@example.test", "c").await;
    let logger = app.logger(&s, "far@example.test", "l").await;
    let t0 = 1_704_067_200_u32; // 2024-01-01
    for k in 0..3 {
        let res = app
            .upload(
                frames::power(t0 + k * 60, cell, logger, 1.0, 0.01),
                false,
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    for (path, column) in [
        (format!("/api/power/{cell}"), "v"),
        (format!("/api/teros/{cell}"), "vwc"),
    ] {
        let res = app
            .client
            .get(app.url(&path))
            .query(&[
                ("startTime", "Sat, 01 Jan 2000 00:00:00 GMT"),
                ("endTime", "Fri, 31 Dec 9999 23:59:59 GMT"),
                ("resample", "none"),
            ])
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .expect("answered within 10 s");
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("whole answer within 10 s");
        let want = if column == "v" { 3 } else { 0 };
        assert_eq!(
            body[column].as_array().expect("column").len(),
            want,
            "{path}"
        );
    }
}

async fn bad_parameters_are_400(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            ents_compat: true,
            ..Options::default()
        },
    )
    .await;
    let ok = [
        ("startTime", http(1_705_104_000)),
        ("endTime", http(1_705_190_000)),
    ];
    for (name, value) in [
        ("resample", "fortnight"),
        ("startTime", "2024-01-13T00:00:00Z"),
        ("endTime", "not a date"),
        ("stream", "maybe"),
        ("colour", "red"),
    ] {
        for path in ["/api/power/1", "/api/teros/1"] {
            let res = app
                .client
                .get(app.url(path))
                .query(&ok)
                .query(&[(name, value)])
                .send()
                .await
                .expect("req");
            assert_eq!(res.status(), 400, "{path} {name}={value}");
            let err: Value = res.json().await.expect("json");
            assert!(err["error"]["message"].is_string());
        }
    }
    let res = app
        .client
        .get(app.url("/api/sensor/"))
        .query(&[
            ("name", "bme280"),
            ("measurement", "pressure"),
            ("cellId", "abc"),
        ])
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 400);
    let res = app
        .client
        .get(app.url("/api/sensor/"))
        .query(&[("measurement", "pressure"), ("cellId", "1")])
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 400, "name is required");
}

async fn reads_need_rights_outside_compatibility_mode(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.signed_in("alice@example.test").await;
    let bob = app.signed_in("bob@example.test").await;
    let cell = app.cell(&alice, "alice@example.test", "private").await;
    let path = format!("/api/power/{cell}");
    assert_eq!(
        app.as_person(Method::GET, &path, &alice)
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
    assert_eq!(
        app.as_person(Method::GET, &path, &bob)
            .send()
            .await
            .expect("req")
            .status(),
        404
    );
    assert_eq!(app.get(&path).await.status(), 401);
    let public = app
        .as_person(Method::PUT, &format!("/api/cell/{cell}"), &alice)
        .json(&serde_json::json!({"public": true}))
        .send()
        .await
        .expect("req");
    assert_eq!(public.status(), 200);
    assert_eq!(
        app.get(&path).await.status(),
        200,
        "public cells are readable by anyone"
    );
    assert_eq!(
        app.as_person(Method::GET, &path, &bob)
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
}
