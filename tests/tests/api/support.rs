//! Helpers the job tests share: a cell with a few rows, JSON bodies, ZIP archives, series reads
//! and float comparisons.

use std::io::Read;

use loam_tests::{Session, TestApp, frames};
use reqwest::Method;
use serde_json::Value;

pub(crate) const T0: i64 = 1_705_168_805; // 2024-01-13 18:00:05 UTC

pub(crate) async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.expect("json body")
}

/// A person with a cell and a logger holding three power rows and two TEROS rows.
pub(crate) async fn cell_with_data(app: &TestApp, email: &str) -> (Session, i64, i64) {
    let s = app.signed_in(email).await;
    let cell = app.cell(&s, email, "exported").await;
    let logger = app.logger(&s, email, "l").await;
    let key = app.device_key(&s, logger, &["ingest"]).await;
    for (k, v) in [0.5, 0.6, 0.7].into_iter().enumerate() {
        let frame = frames::power(
            (T0 + k as i64 * 1200) as u32,
            cell,
            logger,
            v,
            0.001 * (k + 1) as f64,
        );
        assert_eq!(app.upload(frame, false, Some(&key)).await.status(), 200);
    }
    for (k, vwc) in [0.25, 0.31].into_iter().enumerate() {
        let frame = frames::teros12(
            (T0 + k as i64 * 1800) as u32,
            cell,
            logger,
            2100.0,
            vwc,
            21.5,
            150 + k as u32,
        );
        assert_eq!(app.upload(frame, false, Some(&key)).await.status(), 200);
    }
    (s, cell, logger)
}

pub(crate) fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .expect("time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The files of a ZIP, by name.
pub(crate) fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    let mut files = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).expect("entry");
        let mut text = String::new();
        file.read_to_string(&mut text).expect("UTF-8");
        files.insert(file.name().expect("entry name").to_string(), text);
    }
    files
}

/// Equal within a few ULPs: serde_json's default float parser may be one ULP off.
pub(crate) fn assert_close(got: &[Option<f64>], want: &[Option<f64>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        match (g, w) {
            (Some(g), Some(w)) => assert!(
                (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                "{what}: {g} vs {w}"
            ),
            _ => assert_eq!(g, w, "{what}"),
        }
    }
}

pub(crate) fn numbers(v: &Value) -> Vec<Option<f64>> {
    v.as_array()
        .expect("array")
        .iter()
        .map(Value::as_f64)
        .collect()
}

/// A cell's series as the read API serves it (`kind` is `power` or `teros`).
pub(crate) async fn read_series(
    app: &TestApp,
    s: &Session,
    kind: &str,
    cell: i64,
    query: &[(&str, String)],
) -> Value {
    let res = app
        .as_person(Method::GET, &format!("/api/{kind}/{cell}"), s)
        .query(query)
        .send()
        .await
        .expect("request");
    json_of(res).await
}
