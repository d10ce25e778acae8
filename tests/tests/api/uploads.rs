//! Device ingestion: who may upload, all-or-nothing commits, retries stored once, and every kind
//! of bad input refused with a 4xx (or ENTS's 501 + `08 01` on the legacy path) and nothing stored.

use loam_ingest::pb::SensorType;
use loam_tests::{Backend, Options, TestApp, backend_tests, frames};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    device_key_uploads_are_stored_once_and_read_back,
    anonymous_uploads_need_compatibility_mode,
    device_keys_write_only_their_logger_and_their_owners_cells,
    unknown_targets_bad_bytes_and_bad_times_store_nothing,
    generic_messages_are_all_or_nothing,
    ttn_webhooks_follow_ents,
    json_uploads_refuse_bad_fields,
    legacy_inserts_by_name_need_existing_names,
);

/// 2024-01-13 18:00:05 UTC.
const T0: u32 = 1_705_168_805;

struct Site {
    app: TestApp,
    session: loam_tests::Session,
    cell: i64,
    logger: i64,
    key: String,
}

async fn site(backend: Backend, ents_compat: bool) -> Site {
    let app = TestApp::spawn_with(
        backend,
        Options {
            ents_compat,
            ..Options::default()
        },
    )
    .await;
    let session = app.signed_in("owner@example.test").await;
    let cell = app.cell(&session, "owner@example.test", "field-1").await;
    let logger = app.logger(&session, "owner@example.test", "logger-1").await;
    let key = app.device_key(&session, logger, &["ingest", "read"]).await;
    Site {
        app,
        session,
        cell,
        logger,
        key,
    }
}

async fn power_values(s: &Site, from: u32, to: u32) -> Value {
    let q = [
        ("startTime", http(from)),
        ("endTime", http(to)),
        ("resample", "none".to_owned()),
    ];
    let res = s
        .app
        .as_person(Method::GET, &format!("/api/power/{}", s.cell), &s.session)
        .query(&q)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

fn http(ts: u32) -> String {
    loam_tests::http_date(i64::from(ts))
}

async fn device_key_uploads_are_stored_once_and_read_back(backend: Backend) {
    let s = site(backend, false).await;
    let body = frames::power(T0, s.cell, s.logger, 0.5, 0.001);
    for _ in 0..3 {
        let res = s.app.upload(body.clone(), false, Some(&s.key)).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/octet-stream");
        assert!(
            res.bytes().await.expect("body").is_empty(),
            "SUCCESS is the empty message"
        );
    }
    let d = power_values(&s, T0 - 10, T0 + 10).await;
    assert_eq!(
        d,
        json!({"i": [1000.0], "p": [500.0], "timestamp": ["Sat, 13 Jan 2024 18:00:05 GMT"], "v": [500.0]})
    );
}

async fn anonymous_uploads_need_compatibility_mode(backend: Backend) {
    let strict = site(backend, false).await;
    let res = strict
        .app
        .upload(
            frames::power(T0, strict.cell, strict.logger, 0.5, 0.001),
            false,
            None,
        )
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(power_values(&strict, T0 - 1, T0 + 1).await["v"], json!([]));
    let compat = site(backend, true).await;
    let res = compat
        .app
        .upload(
            frames::power(T0, compat.cell, compat.logger, 0.5, 0.001),
            false,
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    // A present but bad key is refused even in compatibility mode.
    let res = compat
        .app
        .upload(
            frames::power(T0 + 1, compat.cell, compat.logger, 0.5, 0.001),
            false,
            Some("loam_dk_nope"),
        )
        .await;
    assert_eq!(res.status(), 401);
}

async fn device_keys_write_only_their_logger_and_their_owners_cells(backend: Backend) {
    let s = site(backend, false).await;
    let other_logger = s
        .app
        .logger(&s.session, "owner@example.test", "logger-2")
        .await;
    let res = s
        .app
        .upload(
            frames::power(T0, s.cell, other_logger, 0.5, 0.001),
            false,
            Some(&s.key),
        )
        .await;
    assert_eq!(res.status(), 403);
    let stranger = s.app.signed_in("stranger@example.test").await;
    let foreign = s
        .app
        .cell(&stranger, "stranger@example.test", "their-field")
        .await;
    let res = s
        .app
        .upload(
            frames::power(T0, foreign, s.logger, 0.5, 0.001),
            false,
            Some(&s.key),
        )
        .await;
    assert_eq!(res.status(), 404);
    let count: usize = s
        .app
        .db(move |c| {
            Ok(loam_db::measurements::power_rows(
                c,
                foreign as i32,
                loam_db::now() - chrono::Duration::days(9000),
                loam_db::now(),
            )?
            .len())
        })
        .await;
    assert_eq!(count, 0);
    // A key without the ingest scope cannot upload.
    let read_only = s.app.device_key(&s.session, s.logger, &["read"]).await;
    let res = s
        .app
        .upload(
            frames::power(T0, s.cell, s.logger, 0.5, 0.001),
            false,
            Some(&read_only),
        )
        .await;
    assert_eq!(res.status(), 401);
}

async fn unknown_targets_bad_bytes_and_bad_times_store_nothing(backend: Backend) {
    let s = site(backend, true).await;
    for (cell, logger) in [(987_654, s.logger), (s.cell, 987_654)] {
        let res = s
            .app
            .upload(frames::power(T0, cell, logger, 0.5, 0.001), false, None)
            .await;
        assert_eq!(res.status(), 501);
        assert_eq!(&res.bytes().await.expect("body")[..], &[0x08, 0x01]);
    }
    let full = frames::power(T0, s.cell, s.logger, 0.9, 0.009);
    for bad in [
        full[..full.len() - 5].to_vec(),
        Vec::new(),
        b"\xff\xfe garbage".to_vec(),
    ] {
        let res = s.app.upload(bad, false, None).await;
        assert_eq!(res.status(), 400);
        let err: Value = res.json().await.expect("json error");
        assert_eq!(err["error"]["code"], "invalid_upload");
    }
    let now = u32::try_from(chrono::Utc::now().timestamp()).expect("u32 time");
    for ts in [946_684_799, now + 2 * 86_400] {
        let res = s
            .app
            .upload(frames::power(ts, s.cell, s.logger, 0.5, 0.001), false, None)
            .await;
        assert_eq!(res.status(), 400, "ts {ts}");
    }
    for ctype in ["text/plain", "application/x-protobuf"] {
        let res = s
            .app
            .client
            .post(s.app.url("/api/sensor/"))
            .header("content-type", ctype)
            .body(full.clone())
            .send()
            .await
            .expect("req");
        assert_eq!(res.status(), 415);
    }
    assert_eq!(power_values(&s, T0 - 100, T0 + 100).await["v"], json!([]));
}

async fn generic_messages_are_all_or_nothing(backend: Backend) {
    let s = site(backend, true).await;
    let body = frames::generic(
        T0,
        s.logger,
        &[
            (SensorType::Bme280Pressure, s.cell, 101.3),
            (SensorType::Bme280Pressure, 987_654, 99.9),
        ],
    );
    let res = s.app.upload(body, true, None).await;
    assert_eq!(res.status(), 400);
    let cell = s.cell as i32;
    let sensors = s.app.db(move |c| loam_db::cells::sensors(c, cell)).await;
    assert!(sensors.is_empty(), "nothing half-written: {sensors:?}");
    let ok = frames::generic(T0, s.logger, &[(SensorType::Bme280Pressure, s.cell, 101.3)]);
    for _ in 0..2 {
        let res = s.app.upload(ok.clone(), true, None).await;
        assert_eq!(res.status(), 200);
    }
    let q = [
        ("name", "BME280_PRESSURE".to_owned()),
        ("measurement", "Pressure".to_owned()),
        ("cellId", s.cell.to_string()),
        ("startTime", http(T0 - 1)),
        ("endTime", http(T0 + 1)),
        ("resample", "none".to_owned()),
    ];
    let d: Value = s
        .app
        .client
        .get(s.app.url("/api/sensor/"))
        .query(&q)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(
        d,
        json!({"data": [101.3], "measurement": "Pressure", "timestamp": ["Sat, 13 Jan 2024 18:00:05 GMT"], "type": "float", "unit": "kPa"})
    );
}

async fn ttn_webhooks_follow_ents(backend: Backend) {
    use base64::Engine;
    let s = site(backend, true).await;
    let uplink = |port: Value, payload: Option<Vec<u8>>| {
        let mut m = json!({"f_port": port});
        if let Some(p) = payload {
            m["frm_payload"] = json!(base64::engine::general_purpose::STANDARD.encode(p));
        }
        json!({"end_device_ids": {"device_id": "dirtviz-1"}, "uplink_message": m})
    };
    let post = |body: Value| {
        s.app
            .client
            .post(s.app.url("/api/sensor/"))
            .json(&body)
            .send()
    };
    let res = post(uplink(
        json!(1),
        Some(frames::power(T0 + 50, s.cell, s.logger, 0.3, 0.006)),
    ))
    .await
    .expect("req");
    assert_eq!(res.status(), 200);
    assert_eq!(
        power_values(&s, T0 + 50, T0 + 50).await["v"],
        json!([300.0])
    );
    let res = post(uplink(json!(202), Some(vec![1]))).await.expect("req");
    assert_eq!(
        (res.status().as_u16(), res.text().await.expect("text")),
        (200, "Ignoring timesync request.".to_owned())
    );
    for port in [json!(3), json!("1")] {
        let res = post(uplink(
            port,
            Some(frames::power(T0 + 60, s.cell, s.logger, 0.3, 0.006)),
        ))
        .await
        .expect("req");
        assert_eq!(
            (res.status().as_u16(), res.text().await.expect("text")),
            (404, "f_port not recognized.".to_owned())
        );
    }
    let res = post(uplink(json!(1), None)).await.expect("req");
    assert_eq!(res.status(), 400);
    assert_eq!(power_values(&s, T0 + 55, T0 + 65).await["v"], json!([]));
}

async fn json_uploads_refuse_bad_fields(backend: Backend) {
    let s = site(backend, true).await;
    let post = |body: Value| {
        s.app
            .client
            .post(s.app.url("/api/sensor_json/"))
            .json(&body)
            .send()
    };
    let ok = post(json!({"type": "power", "cellId": s.cell, "loggerId": s.logger, "ts": T0 + 90, "data": {"voltage": 1.5, "current": 0.002}}))
        .await
        .expect("req");
    assert_eq!(ok.status(), 200);
    for bad in [
        json!({"type": "power", "ts": T0, "data": {"voltage": 1, "current": 1}}),
        json!({"type": "power", "cellId": s.cell, "loggerId": s.logger, "ts": T0}),
        json!({"type": "bme280", "cellId": s.cell, "ts": T0, "data": {"pressure": true, "temperature": "hot"}}),
        json!({"type": "no-such-kind", "cellId": s.cell, "ts": T0, "data": {"x": 1}}),
    ] {
        let res = post(bad.clone()).await.expect("req");
        assert_eq!(res.status(), 400, "{bad}");
    }
    let wrong = s
        .app
        .client
        .post(s.app.url("/api/sensor_json/"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("req");
    assert_eq!(wrong.status(), 415);
}

async fn legacy_inserts_by_name_need_existing_names(backend: Backend) {
    let s = site(backend, true).await;
    let power =
        json!({"logger": "logger-1", "cell": "field-1", "ts": T0 + 200, "v": 0.5, "i": 0.001});
    let first: Value = s
        .app
        .post_json("/api/power/", &power)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (
            first["voltage"].as_f64(),
            first["current"].as_f64(),
            first["ts"].as_str()
        ),
        (Some(0.5), Some(0.001), Some("2024-01-13T18:03:25"))
    );
    let again: Value = s
        .app
        .post_json("/api/power/", &power)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again["id"], first["id"], "a retry is the same row");
    let unknown = s
        .app
        .post_json(
            "/api/power/",
            &json!({"logger": "nope", "cell": "field-1", "ts": T0, "v": 1.0, "i": 1.0}),
        )
        .await;
    assert_eq!(unknown.status(), 404, "names are never created");
    let teros = json!({"cell": "field-1", "ts": T0 + 300, "vwc": 0.3, "raw_vwc": 2500.0, "temp": 20.1, "ec": 100.7, "water_pot": null});
    let row: Value = s
        .app
        .post_json("/api/teros/", &teros)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (row["ec"].as_i64(), row["vwc"].as_f64()),
        (Some(101), Some(0.3))
    );
    let missing = s
        .app
        .post_json("/api/teros/", &json!({"cell": "field-1"}))
        .await;
    assert_eq!(missing.status(), 422);
    let strict = site(backend, false).await;
    assert_eq!(
        strict.app.post_json("/api/power/", &power).await.status(),
        401
    );
}
