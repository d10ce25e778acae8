//! Raw-row retention and monthly partitions: a sweep deletes raw rows past the horizon and keeps
//! their rollups, so resampled reads there go on answering (whole buckets), raw reads say the
//! rows are gone, and uploads and imports of rows past the horizon are refused (a retry after a
//! sweep would otherwise count twice); writes into months that have no partition yet are stored
//! (Postgres makes the partition on demand).

use chrono::{Duration, NaiveDateTime, Utc};
use loam_db::writes::{NewRow, UploadRows};
use loam_readings::{Number, RowData};
use loam_tests::{Backend, Options, TestApp, backend_tests, frames};
use reqwest::Method;
use serde_json::Value as Json;

use crate::series::{floats, get_series, http, import_minutes, read};

backend_tests!(
    a_sweep_deletes_old_raw_rows_and_reads_there_come_from_rollups,
    writes_into_months_without_partitions_are_stored,
);

const DAYS: u32 = 30;

/// One reading's value at `ts` as power, TEROS and a generic pressure row of `cell`.
fn reading_rows(cell: i64, logger: i64, ts: i64, x: f64) -> Vec<NewRow> {
    let (cell, logger) = (
        i32::try_from(cell).expect("id"),
        i32::try_from(logger).expect("id"),
    );
    let at = chrono::DateTime::from_timestamp(ts, 0)
        .expect("time")
        .naive_utc();
    let row = |logger_id, data| NewRow {
        cell_id: cell,
        logger_id,
        ts: at,
        data,
    };
    vec![
        row(
            Some(logger),
            RowData::Power {
                voltage: x / 10.0,
                current: x / 1000.0,
            },
        ),
        row(
            None,
            RowData::Teros {
                vwc: 0.2,
                raw_vwc: 2000.0 + x,
                temp: 10.0 + x,
                ec: Some(100),
                water_pot: None,
            },
        ),
        row(
            Some(logger),
            RowData::Sensor {
                name: "BME280_PRESSURE".into(),
                measurement: "Pressure".into(),
                unit: "kPa".into(),
                value: Number::Float(900.0 + x),
            },
        ),
    ]
}

/// Stores readings through the data layer, as a server that took them before retention was
/// switched on (its upload door now refuses them).
async fn seed(app: &TestApp, cell: i64, logger: i64, readings: &[(i64, f64)]) {
    let batch: Vec<UploadRows> = readings
        .iter()
        .map(|&(ts, x)| UploadRows {
            rows: reading_rows(cell, logger, ts, x),
            member: None,
            logger_owner: None,
            device: None,
        })
        .collect();
    let now = loam_db::now();
    let outcomes = app
        .db(move |c| loam_db::group_commit::store_batch(c, &batch, now))
        .await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
}

/// Averages of `(ts, value)` per bucket of `width` seconds, for the buckets that overlap
/// `[from, to]` (whole buckets: what rollups answer), oldest first.
fn whole_bucket_means(points: &[(i64, f64)], width: i64, from: i64, to: i64) -> Vec<f64> {
    let mut buckets = std::collections::BTreeMap::<i64, (f64, u32)>::new();
    for (ts, x) in points {
        let b = ts.div_euclid(width) * width;
        if b <= to && b + width > from {
            let e = buckets.entry(b).or_default();
            e.0 += x;
            e.1 += 1;
        }
    }
    buckets
        .values()
        .map(|(sum, n)| sum / f64::from(*n))
        .collect()
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{what}: {got:?} vs {want:?}"
        );
    }
}

async fn a_sweep_deletes_old_raw_rows_and_reads_there_come_from_rollups(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            ents_compat: true,
            tweak: Some(Box::new(|c| c.raw_retention_days = Some(DAYS))),
            ..Options::default()
        },
    )
    .await;
    let s = app.signed_in("keeper@example.test").await;
    let cell = app.cell(&s, "keeper@example.test", "c").await;
    let logger = app.logger(&s, "keeper@example.test", "l").await;
    let now = Utc::now().naive_utc();
    let horizon = loam_db::retention::horizon(DAYS, now).and_utc().timestamp();
    // Long ago (a month wholly before the horizon: its partition is dropped on Postgres), just
    // before the horizon (deleted row by row), and kept.
    let long_ago = horizon - 70 * 86_400 + 10 * 3600;
    let just_before = horizon - 20 * 3600;
    let kept = horizon + 2 * 3600;
    let mut readings = Vec::new();
    for (group, t0, step) in [
        (0.0, long_ago, 1800),
        (10.0, just_before, 1200),
        (20.0, kept, 1500),
    ] {
        for k in 0..6_i64 {
            readings.push((t0 + k * step + 7 * 60, group + 1.0 + k as f64 * 0.5));
        }
    }
    seed(&app, cell, logger, &readings).await;
    let cell32 = i32::try_from(cell).expect("cell id");
    let horizon_time = loam_db::retention::horizon(DAYS, now);
    app.db(move |c| loam_db::retention::sweep(c, horizon_time))
        .await;
    let left = app
        .db(move |c| loam_db::bench::row_count(c, &[cell32]))
        .await;
    assert_eq!(
        left, 18,
        "the kept readings' power, TEROS and pressure rows stay"
    );
    if app.is_postgres() {
        let months = app.db(loam_db::partitions::months).await;
        let old_month = chrono::DateTime::from_timestamp(long_ago, 0)
            .expect("time")
            .naive_utc();
        assert!(
            months
                .iter()
                .all(|m| *m > old_month || *m + Duration::days(31) <= old_month),
            "the long-ago month's partition is dropped: {months:?}"
        );
    }

    // Raw reads: wholly before the horizon, a clear 410; across it, the kept rows and a note.
    let power = format!("/api/power/{cell}");
    let sensor = format!("/api/sensor/?name=BME280_PRESSURE&measurement=Pressure&cellId={cell}");
    let sensor_json =
        format!("/api/sensor_json/?name=BME280_PRESSURE&measurement=Pressure&cellId={cell}");
    for path in [&power, &format!("/api/teros/{cell}"), &sensor, &sensor_json] {
        for resample in ["none", "minute"] {
            let gone = get_series(&app, path, long_ago - 3600, horizon - 1, resample).await;
            assert_eq!(gone.status(), 410, "{path} {resample}");
            let body: Json = gone.json().await.expect("json");
            assert_eq!(body["error"]["code"], "expired", "{body}");
            let message = body["error"]["message"].as_str().expect("message");
            assert!(message.contains(&http(horizon)) && message.contains("resample=hour"));
        }
        let across = get_series(&app, path, long_ago - 3600, kept + 86_400, "none").await;
        assert_eq!(across.status(), 200, "{path}");
        assert_eq!(
            across.headers()["loam-raw-since"].to_str().expect("header"),
            http(horizon)
        );
        assert!(across.headers().contains_key("warning"));
        let body: Json = across.json().await.expect("json");
        assert_eq!(
            body["timestamp"].as_array().expect("times").len(),
            6,
            "{path}"
        );
    }
    let after = get_series(&app, &power, horizon, kept + 86_400, "none").await;
    assert!(
        !after.headers().contains_key("loam-raw-since"),
        "reads after the horizon need no note"
    );

    // Resampled reads before the horizon: whole buckets from the rollups, even at ragged edges.
    let volts: Vec<(i64, f64)> = readings.iter().map(|(t, x)| (*t, x * 100.0)).collect();
    let (from, to) = (just_before + 300, just_before + 5 * 1200);
    let hours = read(&app, &power, from, to, "hour").await;
    assert_close(
        &floats(&hours["v"]),
        &whole_bucket_means(&volts, 3600, from, to),
        "hour v",
    );
    let (from, to) = (long_ago - 5 * 86_400, kept + 86_400);
    let days = read(&app, &power, from, to, "day").await;
    assert_close(
        &floats(&days["v"]),
        &whole_bucket_means(&volts, 86_400, from, to),
        "day v",
    );
    let teros = read(&app, &format!("/api/teros/{cell}"), from, to, "day").await;
    let temps: Vec<(i64, f64)> = readings.iter().map(|(t, x)| (*t, 10.0 + x)).collect();
    assert_close(
        &floats(&teros["temp"]),
        &whole_bucket_means(&temps, 86_400, from, to),
        "day °C",
    );
    let pressure = read(&app, &sensor, from, to, "day").await;
    let kpa: Vec<(i64, f64)> = readings.iter().map(|(t, x)| (*t, 900.0 + x)).collect();
    assert_close(
        &floats(&pressure["data"]),
        &whole_bucket_means(&kpa, 86_400, from, to),
        "day kPa",
    );

    // Rows past the horizon are refused at every door, so a device's retry after a sweep (its
    // day's rows gone, nothing to tell it from new data) can never be counted twice; the swept
    // day answers as before.
    let day = just_before.div_euclid(86_400) * 86_400;
    let read_day = || read(&app, &power, day, day + 86_399, "day");
    let before = floats(&read_day().await["v"]);
    let t = u32::try_from(just_before + 7 * 60).expect("time");
    let res = app
        .upload(frames::power(t, cell, logger, 1.0, 0.001), false, None)
        .await;
    assert_eq!(res.status(), 400);
    let body: Json = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "older_than_retention", "{body}");
    let fresh = u32::try_from(kept + 86_400).expect("time");
    let res = app
        .upload(frames::power(fresh, cell, logger, 1.0, 0.001), false, None)
        .await;
    assert_eq!(res.status(), 200, "rows after the horizon are taken");
    let csv = format!(
        "timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)\n{},100,20,1.0,200,10.5,18.5",
        chrono::DateTime::from_timestamp(day + 3600, 0)
            .expect("time")
            .format(" %d %b %Y %H:%M:%S GMT")
    );
    let res = app
        .as_person(Method::POST, &format!("/api/cell/{cell}/import"), &s)
        .query(&[
            ("logger_id", logger.to_string()),
            ("name", "old.csv".into()),
        ])
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 202);
    let job: Json = res.json().await.expect("json");
    let job = app
        .wait_for_job(&s, job["id"].as_str().expect("job id"))
        .await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .is_some_and(|e| e.contains("older than")),
        "{job}"
    );
    assert_eq!(
        floats(&read_day().await["v"]),
        before,
        "the swept day is unchanged"
    );
}

async fn writes_into_months_without_partitions_are_stored(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            ents_compat: true,
            ..Options::default()
        },
    )
    .await;
    let s = app.signed_in("mover@example.test").await;
    let cell = app.cell(&s, "mover@example.test", "c").await;
    let logger = app.logger(&s, "mover@example.test", "l").await;
    // Late data from the oldest month uploads may name and from two others, each sent by
    // several uploads at once (they race to make the same partition).
    let months: [i64; 3] = [946_688_400, 1_307_000_000, 1_568_000_000]; // 2000-01, 2011-06, 2019-09
    let mut uploads = tokio::task::JoinSet::new();
    for &t0 in &months {
        for k in 0..8_i64 {
            let (client, url) = (app.client.clone(), app.url("/api/sensor/"));
            uploads.spawn(async move {
                let ts = u32::try_from(t0 + k * 60).expect("time");
                let res = client
                    .post(url)
                    .header("content-type", "application/octet-stream")
                    .body(frames::power(ts, cell, logger, 1.0 + k as f64, 0.01))
                    .send()
                    .await
                    .expect("request");
                let status = res.status();
                let body = res.text().await.expect("body");
                assert_eq!(status, 200, "upload at {ts}: {body}");
            });
        }
    }
    while let Some(done) = uploads.join_next().await {
        done.expect("upload task");
    }
    // An old file imported into months that have no partition either.
    let t2001 = NaiveDateTime::parse_from_str("2001-03-31 23:30:00", "%Y-%m-%d %H:%M:%S")
        .expect("time")
        .and_utc()
        .timestamp();
    import_minutes(&app, &s, cell, logger, t2001, 60).await;
    let power = format!("/api/power/{cell}");
    for &t0 in &months {
        let rows = read(&app, &power, t0, t0 + 3600, "none").await;
        assert_eq!(rows["v"].as_array().expect("v").len(), 8, "uploads at {t0}");
    }
    let rows = read(&app, &power, t2001, t2001 + 3600, "none").await;
    assert_eq!(
        rows["v"].as_array().expect("v").len(),
        60,
        "imported rows across two months"
    );
    let teros = read(
        &app,
        &format!("/api/teros/{cell}"),
        t2001,
        t2001 + 3600,
        "hour",
    )
    .await;
    assert_eq!(
        teros["temp"].as_array().expect("temp").len(),
        2,
        "two hours of TEROS rows"
    );
    if app.is_postgres() {
        let made = app.db(loam_db::partitions::months).await;
        assert!(
            made.len() >= 7,
            "2000-01, 2001-03, 2001-04, 2011-06, 2019-09 and ahead: {made:?}"
        );
    }
}
