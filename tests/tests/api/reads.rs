//! Time-series reads: resampled answers equal the average of the raw rows per bucket (also
//! after late and out-of-order uploads), TEROS normalisation, parameters, and read rights.

use std::collections::BTreeMap;

use loam_tests::{Backend, Options, TestApp, backend_tests, frames};
use reqwest::Method;
use serde_json::Value;

backend_tests!(
    resampled_power_equals_the_average_of_raw_rows_per_bucket,
    teros_vwc_is_normalised_once_per_row,
    bad_parameters_are_400,
    reads_need_rights_outside_compatibility_mode,
);

fn http(ts: i64) -> String {
    loam_tests::http_date(ts)
}

async fn read(app: &TestApp, path: &str, from: i64, to: i64, resample: &str) -> Value {
    let q = [
        ("startTime", http(from)),
        ("endTime", http(to)),
        ("resample", resample.to_owned()),
    ];
    let res = app
        .client
        .get(app.url(path))
        .query(&q)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.expect("json")
}

fn floats(v: &Value) -> Vec<f64> {
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
        assert_eq!(got_ts, want_ts, "{resample} buckets");
        let close = |a: &[f64], b: Vec<f64>| {
            a.iter()
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
