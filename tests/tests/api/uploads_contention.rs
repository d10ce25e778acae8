//! Ingest under contention: many devices writing the same cell, hour and day at once — power,
//! TEROS and generic uploads, locators sent twice, an enrolled logger paying slots — are all
//! answered 2xx, stored once, and leave rollups equal to what the raw rows give. Two replicas on
//! one database do the same. A batch mixing refused uploads with good ones stores the good ones.

use std::collections::BTreeSet;

use base64::Engine;
use loam_ingest::pb::SensorType;
use loam_receipts::ServerKey;
use loam_tests::{Backend, Options, TestApp, backend_tests, frames};
use reqwest::Method;
use serde_json::json;

backend_tests!(
    concurrent_mixed_uploads_to_one_cell_are_stored_once_with_exact_rollups,
    a_refused_upload_never_fails_the_others_in_its_batch,
    a_database_slower_than_the_arrivals_sheds_load_with_503_and_retry_after,
    an_import_and_uploads_to_the_same_hours_neither_deadlock_nor_drift,
);

/// 2024-01-13 18:00:00 UTC: every upload of a round lands in this hour.
const HOUR: u32 = 1_705_168_800;
const OWNER: &str = "fleet@example.test";
/// Concurrent uploads per round.
const AT_ONCE: u32 = 32;
const ROUNDS: u32 = 4;

/// One cell, one logger with a device key and an enrolment (so quotas are charged).
struct Fleet {
    cell: i64,
    logger: i64,
    key: String,
}

async fn fleet(app: &TestApp, name: &str) -> Fleet {
    let owner = app.login(OWNER).await;
    let cell = app.cell(&owner, OWNER, name).await;
    let logger = app.logger(&owner, OWNER, &format!("{name}-logger")).await;
    let key = app.device_key(&owner, logger, &["ingest", "read"]).await;
    let seed = ulid::Ulid::new().to_bytes();
    let mut both = [0u8; 32];
    both[..16].copy_from_slice(&seed);
    both[16..].copy_from_slice(&seed);
    let enrolled = app
        .as_person(Method::POST, &format!("/api/logger/{logger}/enrol"), &owner)
        .json(&json!({"public_key": ServerKey::from_seed(both).public_key_hex()}))
        .send()
        .await
        .expect("request");
    assert_eq!(enrolled.status(), 200, "enrol");
    Fleet { cell, logger, key }
}

/// The `k`-th upload of a round: power, TEROS or a generic message of three measurements (two of
/// them on every third upload, so new series appear mid-round), some with a locator.
fn body(f: &Fleet, ts: u32, k: u32) -> (Vec<u8>, bool) {
    match k % 3 {
        0 => (
            frames::power(ts, f.cell, f.logger, 0.5 + f64::from(k) * 0.01, 0.001),
            false,
        ),
        1 => (
            frames::teros12(
                ts,
                f.cell,
                f.logger,
                2000.0 + f64::from(k),
                0.25,
                21.5,
                150 + k,
            ),
            false,
        ),
        _ => {
            let extra = if k.is_multiple_of(2) {
                SensorType::Teros21MatricPot
            } else {
                SensorType::Bme280Humidity
            };
            (
                frames::generic(
                    ts,
                    f.logger,
                    &[
                        (SensorType::Bme280Pressure, f.cell, 1000.0 + f64::from(k)),
                        (SensorType::Bme280Temp, f.cell, 20.0 + f64::from(k) * 0.1),
                        (extra, f.cell, f64::from(k)),
                    ],
                ),
                true,
            )
        }
    }
}

fn rows_in(k: u32) -> i64 {
    if k % 3 == 2 { 3 } else { 1 }
}

/// Sends one round: `AT_ONCE` uploads at the same moment through `apps` in turn, every fourth
/// with a locator that is also sent a second time concurrently (a device retrying while its
/// first attempt is in flight). Answers the rows the round must have stored.
async fn round(apps: &[&TestApp], f: &Fleet, round: u32) -> i64 {
    let mut sends = Vec::new();
    for k in 0..AT_ONCE {
        // Distinct times within the hour; rounds interleave with each other too.
        let ts = HOUR + k * ROUNDS + round;
        let (bytes, generic) = body(f, ts, k);
        let locator = k
            .is_multiple_of(4)
            .then(|| hex::encode(ulid::Ulid::new().to_bytes()));
        let copies = if locator.is_some() { 2 } else { 1 };
        for copy in 0..copies {
            let app = apps[(k as usize + copy) % apps.len()];
            let mut req = app
                .client
                .post(app.url("/api/sensor/"))
                .header("content-type", "application/octet-stream")
                .header("x-api-key", &f.key)
                .body(bytes.clone());
            if generic {
                req = req.header("SensorVersion", "2");
            }
            if let Some(locator) = &locator {
                req = req.header("loam-locator", locator);
            }
            sends.push(tokio::spawn(async move {
                let res = req.send().await.expect("request");
                let receipt = res
                    .headers()
                    .get("loam-receipt")
                    .map(|v| v.to_str().expect("ascii").to_owned());
                (k, res.status().as_u16(), receipt)
            }));
        }
    }
    let mut receipts: std::collections::BTreeMap<u32, BTreeSet<String>> = Default::default();
    for send in sends {
        let (k, status, receipt) = send.await.expect("task");
        assert_eq!(status, 200, "round {round}, upload {k}");
        if let Some(r) = receipt {
            receipts.entry(k).or_default().insert(r);
        }
    }
    // Both copies of a locator got the one receipt of the one commit that holds the rows.
    for (k, set) in receipts {
        assert_eq!(set.len(), 1, "round {round}, upload {k}: {set:?}");
    }
    (0..AT_ONCE).map(rows_in).sum()
}

/// A server whose enrolments grant enough slots for every round.
async fn spawn(backend: Backend, database_url: Option<String>) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            database_url,
            tweak: Some(Box::new(|c| c.receipt_slots = 10_000)),
            ..Options::default()
        },
    )
    .await
}

async fn stored_rows(app: &TestApp, cell: i64) -> i64 {
    let cell = i32::try_from(cell).expect("cell id");
    app.db(move |c| loam_db::bench::row_count(c, &[cell])).await
}

async fn assert_rollups_exact(app: &TestApp, cell: i64) {
    let cell = i32::try_from(cell).expect("cell id");
    let wrong = app
        .db(move |c| loam_db::bench::rollup_mismatches(c, cell))
        .await;
    assert!(wrong.is_empty(), "rollups differ from the rows: {wrong:#?}");
}

async fn slots_left(app: &TestApp, logger: i64) -> i64 {
    let logger = i32::try_from(logger).expect("logger id");
    app.db(move |c| loam_db::devices::find(c, logger))
        .await
        .expect("enrolled")
        .available_slots
}

async fn concurrent_mixed_uploads_to_one_cell_are_stored_once_with_exact_rollups(backend: Backend) {
    let app = spawn(backend, None).await;
    app.signed_in(OWNER).await;
    let f = fleet(&app, "hot").await;
    let slots_before = slots_left(&app, f.logger).await;
    let mut want = 0;
    for r in 0..ROUNDS {
        want += round(&[&app], &f, r).await;
        assert_eq!(stored_rows(&app, f.cell).await, want, "after round {r}");
        assert_rollups_exact(&app, f.cell).await;
    }
    // Each upload paid one slot once: a replayed locator pays nothing.
    let uploads = i64::from(AT_ONCE * ROUNDS);
    assert_eq!(slots_before - slots_left(&app, f.logger).await, uploads);
    // The same round again (every row a retry) stores nothing and changes no rollup.
    round(&[&app], &f, 0).await;
    assert_eq!(stored_rows(&app, f.cell).await, want);
    assert_rollups_exact(&app, f.cell).await;
}

/// Two `loam` replicas on one Postgres database take the same cell's mixed uploads at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres: run with --features services"
)]
async fn two_replicas_take_one_cells_mixed_uploads_at_once() {
    let a = spawn(Backend::Postgres, None).await;
    let b = spawn(Backend::Postgres, a.config().database_url.clone()).await;
    a.signed_in(OWNER).await;
    let f = fleet(&a, "shared").await;
    let mut want = 0;
    for r in 0..ROUNDS {
        want += round(&[&a, &b], &f, r).await;
    }
    assert_eq!(stored_rows(&a, f.cell).await, want);
    assert_rollups_exact(&a, f.cell).await;
}

/// Several uploads stored as one batch: the refused ones (unknown cell, another person's cell,
/// a locator reused with another body, an exhausted quota) get their own error and the good ones
/// commit, rollups included.
async fn a_refused_upload_never_fails_the_others_in_its_batch(backend: Backend) {
    use loam_db::writes::{DeviceClaim, NewRow, StoreError, UploadRows};
    use loam_readings::RowData;
    let app = TestApp::spawn(backend).await;
    app.signed_in(OWNER).await;
    let f = fleet(&app, "mixed").await;
    let stranger = app.signed_in("stranger@example.test").await;
    let theirs = app.cell(&stranger, "stranger@example.test", "theirs").await;
    let owner_id = app
        .db(|c| loam_db::users::find_by_email(c, OWNER))
        .await
        .expect("owner")
        .id;
    let (cell, logger) = (
        i32::try_from(f.cell).expect("id"),
        i32::try_from(f.logger).expect("id"),
    );
    let at = |secs: u32| {
        chrono::DateTime::from_timestamp(i64::from(HOUR + secs), 0)
            .expect("time")
            .naive_utc()
    };
    let power = |cell: i32, secs: u32| NewRow {
        cell_id: cell,
        logger_id: Some(logger),
        ts: at(secs),
        data: RowData::Power {
            voltage: 0.5,
            current: 0.002,
        },
    };
    let upload = |rows: Vec<NewRow>, slots: i64| UploadRows {
        rows,
        member: Some(owner_id.clone()),
        logger_owner: None,
        device: Some(DeviceClaim {
            logger_id: logger,
            slots,
            receipt: None,
            firmware: None,
        }),
    };
    let available = slots_left(&app, f.logger).await;
    // An anonymous (compatibility mode) upload naming a cell that does not exist; a key's
    // owner would hear "not a member" for it instead, as for anyone else's cell.
    let mut anonymous = upload(vec![power(cell, 2), power(987_654, 2)], 1);
    anonymous.member = None;
    let batch = vec![
        upload(vec![power(cell, 1)], 1),
        anonymous,
        upload(vec![power(cell, 3)], 1),
        upload(vec![power(i32::try_from(theirs).expect("id"), 4)], 1),
        upload(vec![power(cell, 5)], available),
        upload(vec![power(cell, 6)], 1),
    ];
    let now = loam_db::now();
    let outcomes = app
        .db(move |c| loam_db::group_commit::store_batch(c, &batch, now))
        .await;
    let summary: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            Ok(stored) => format!("stored {}", stored.new_rows),
            Err(StoreError::UnknownCell(_)) => "unknown cell".into(),
            Err(StoreError::NotMember(_)) => "not a member".into(),
            Err(StoreError::QuotaExhausted { .. }) => "quota".into(),
            Err(other) => format!("other: {other}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "stored 1",
            "unknown cell",
            "stored 1",
            "not a member",
            "quota",
            "stored 1"
        ]
    );
    assert_eq!(stored_rows(&app, f.cell).await, 3);
    assert_eq!(slots_left(&app, f.logger).await, available - 3);
    assert_rollups_exact(&app, f.cell).await;
}

/// While another client holds the measurement tables, uploads queue up to `LOAM_UPLOAD_QUEUE`
/// and the rest are refused at once with 503 `overloaded` and `Retry-After` (never a 500, never
/// an unbounded wait); once the database moves again every accepted upload is stored.
async fn a_database_slower_than_the_arrivals_sheds_load_with_503_and_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            tweak: Some(Box::new(|c| {
                c.upload_queue = 4;
                c.db_pool_size = 12;
            })),
            ..Options::default()
        },
    )
    .await;
    app.signed_in(OWNER).await;
    let f = fleet(&app, "slow").await;
    let send = |ts: u32| {
        let req = app
            .client
            .post(app.url("/api/sensor/"))
            .header("content-type", "application/octet-stream")
            .header("x-api-key", &f.key)
            .body(frames::power(ts, f.cell, f.logger, 0.5, 0.001));
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let res = req.send().await.expect("request");
            let status = res.status().as_u16();
            let retry_after = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().expect("ascii").to_owned());
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            (status, retry_after, body, started.elapsed())
        })
    };
    // The key's first use is recorded now, not while the tables are held.
    assert_eq!(send(HOUR).await.expect("task").0, 200);
    let (release, held) = std::sync::mpsc::channel();
    let db = app.state.db().clone();
    let holder = tokio::spawn(async move {
        db.run(move |c| loam_db::testing::hold_measurement_writes(c, held))
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The first few occupy the writers, the next four wait in the queue, the rest are refused.
    let mut sends: Vec<_> = (1..=8).map(|k| send(HOUR + k)).collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    sends.extend((9..=400).map(|k| send(HOUR + k)));
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    // The queue is full: the other upload doors refuse the same way.
    for (path, body) in [
        (
            "/api/sensor_json/",
            json!({"type": "power", "cellId": f.cell, "loggerId": f.logger, "ts": HOUR + 500, "data": {"voltage": 1.5, "current": 0.002}}),
        ),
        (
            "/api/power/",
            json!({"logger": "slow-logger", "cell": "slow", "ts": HOUR + 501, "v": 0.5, "i": 0.001}),
        ),
        (
            "/api/teros/",
            json!({"cell": "slow", "ts": HOUR + 502, "vwc": 0.3, "raw_vwc": 2500.0, "temp": 20.1, "ec": 100.7, "water_pot": null}),
        ),
        (
            "/api/chirpstack?event=up",
            json!({"fPort": 1, "data": base64::engine::general_purpose::STANDARD
                .encode(frames::power(HOUR + 503, f.cell, f.logger, 0.5, 0.001))}),
        ),
    ] {
        let res = app
            .client
            .post(app.url(path))
            .header("x-api-key", &f.key)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 503, "{path}");
        assert_eq!(res.headers()["retry-after"], "1", "{path}");
    }
    release.send(()).expect("release");
    holder.await.expect("task").expect("held and released");
    let (mut accepted, mut refused) = (0, 0);
    for s in sends {
        let (status, retry_after, body, took) = s.await.expect("task");
        match status {
            200 => accepted += 1,
            503 => {
                refused += 1;
                assert_eq!(body["error"]["code"], "overloaded", "{body}");
                assert_eq!(retry_after.as_deref(), Some("1"));
                assert!(
                    took < std::time::Duration::from_millis(1500),
                    "refused late: {took:?}"
                );
            }
            other => panic!("upload answered {other}: {body}"),
        }
    }
    assert!(refused > 0, "nothing was refused ({accepted} accepted)");
    assert!(
        accepted >= 4,
        "the queue's uploads were stored ({accepted})"
    );
    assert_eq!(stored_rows(&app, f.cell).await, accepted + 1);
    assert_rollups_exact(&app, f.cell).await;
}

/// A CSV import into a cell while its logger uploads power and TEROS for the same hours (some
/// the very rows the import brings): every upload 200, the import succeeds at its first attempt,
/// and every rollup equals the raw rows.
async fn an_import_and_uploads_to_the_same_hours_neither_deadlock_nor_drift(backend: Backend) {
    let app = spawn(backend, None).await;
    let owner = app.signed_in(OWNER).await;
    let f = fleet(&app, "imported").await;
    let lines = 6000u32;
    let mut csv = String::from(
        "timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)",
    );
    for n in 0..lines {
        let t = chrono::DateTime::from_timestamp(i64::from(HOUR + n * 1800), 0).expect("time");
        csv.push_str(&format!(
            "\n{},{},{},1.0,{},{},{}",
            t.format(" %d %b %Y %H:%M:%S GMT"),
            100 + n % 50,
            20 + n % 7,
            200 + n % 30,
            -0.5 + f64::from(n % 100) * 0.01,
            18.5
        ));
    }
    let started = app
        .as_person(
            Method::POST,
            &format!("/api/cell/{}/import", f.cell),
            &owner,
        )
        .query(&[
            ("logger_id", f.logger.to_string()),
            ("name", "storm.csv".into()),
        ])
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("request");
    assert_eq!(started.status(), 202);
    let job: serde_json::Value = started.json().await.expect("json");
    let job_id = job["id"].as_str().expect("job id").to_owned();
    // Uploads over the same days: on the import's half hours (the same rows) and between them.
    let mut sends = Vec::new();
    for k in 0..192u32 {
        let ts = HOUR + (k * 97 % lines) * 1800 + if k % 2 == 1 { 900 } else { 0 };
        let (bytes, _) = body(&f, ts, k % 2);
        let req = app
            .client
            .post(app.url("/api/sensor/"))
            .header("content-type", "application/octet-stream")
            .header("x-api-key", &f.key)
            .body(bytes);
        sends.push(tokio::spawn(async move {
            req.send().await.expect("request").status().as_u16()
        }));
        if k % 32 == 31 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    for send in sends {
        assert_eq!(send.await.expect("task"), 200);
    }
    let record = app.wait_for_job(&owner, &job_id).await;
    assert_eq!(record["state"], "succeeded", "{record}");
    assert_eq!(
        record["attempts"], 1,
        "no attempt failed on a deadlock: {record}"
    );
    assert_rollups_exact(&app, f.cell).await;
}
