//! Enrolment, signed upload receipts and quotas: the signed layouts checked with
//! `loam_receipts` (as firmware would, from raw bytes and the public key), retries answered
//! with the same receipt and stored once, conflicts and quota refusals storing nothing.

use loam_receipts::{DeviceKey, Enrolment, ServerKey, verify_enrolment, verify_receipt};
use loam_tests::{Backend, Options, Session, TestApp, backend_tests, frames};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

backend_tests!(
    enrolment_is_signed_and_tops_up_without_overflow,
    receipts_verify_offline_and_retries_get_the_same_one,
    receipt_lookups_reveal_nothing_about_other_loggers,
    quotas_refuse_with_429_and_recover_after_top_up,
    admins_change_quotas_and_expiry_refuses_uploads,
);

/// 2024-01-13 18:00:05 UTC.
const T0: u32 = 1_705_168_805;
const OWNER: &str = "owner@example.test";

struct Site {
    app: TestApp,
    owner: Session,
    cell: i64,
    logger: i64,
    key: String,
}

async fn site(backend: Backend, tweak: Option<loam_tests::ConfigTweak>) -> Site {
    let app = TestApp::spawn_with(
        backend,
        Options {
            tweak,
            ..Options::default()
        },
    )
    .await;
    let owner = app.signed_in(OWNER).await;
    let cell = app.cell(&owner, OWNER, "field-1").await;
    let logger = app.logger(&owner, OWNER, "logger-1").await;
    let key = app.device_key(&owner, logger, &["ingest", "read"]).await;
    Site {
        app,
        owner,
        cell,
        logger,
        key,
    }
}

async fn server_key(app: &TestApp) -> [u8; 32] {
    let body: Value = app
        .get("/api/receipts/key")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["algorithm"], "ed25519");
    hex::decode(body["public_key"].as_str().expect("hex"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

fn device_public_key() -> String {
    ServerKey::from_seed(rand_seed()).public_key_hex()
}

fn rand_seed() -> [u8; 32] {
    let id = ulid::Ulid::new().to_bytes();
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(&id);
    seed[16..].copy_from_slice(&id);
    seed
}

async fn enrol(s: &Site, public_key: &str) -> reqwest::Response {
    enrol_as(s, &s.owner, json!(public_key)).await
}

/// `POST /api/logger/{id}/enrol` of the site's logger as `session`, with any `public_key` value.
async fn enrol_as(s: &Site, session: &Session, public_key: Value) -> reqwest::Response {
    s.app
        .as_person(
            Method::POST,
            &format!("/api/logger/{}/enrol", s.logger),
            session,
        )
        .json(&json!({ "public_key": public_key }))
        .send()
        .await
        .expect("request")
}

/// Checks the enrolment answer's signature over the layout; returns it.
fn checked_enrolment(server: &[u8; 32], body: &Value) -> Enrolment {
    let enrolment = Enrolment {
        logger_id: body["logger_id"].as_u64().expect("logger_id"),
        device_key: DeviceKey::parse(body["public_key"].as_str().expect("key")).expect("key"),
        available_slots: u32::try_from(body["available_slots"].as_u64().expect("slots"))
            .expect("u32"),
        quota_expiry: body["quota_expiry"].as_i64().expect("expiry"),
    };
    verify_enrolment(server, &enrolment, body["signature"].as_str().expect("sig"))
        .expect("the enrolment signature verifies");
    enrolment
}

async fn upload_with(
    app: &TestApp,
    body: Vec<u8>,
    key: Option<&str>,
    locator: &str,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/sensor/"))
        .header("content-type", "application/octet-stream")
        .header("loam-locator", locator)
        .body(body);
    if let Some(key) = key {
        req = req.header("x-api-key", key);
    }
    req.send().await.expect("request")
}

fn locator() -> String {
    hex::encode(ulid::Ulid::new().to_bytes())
}

/// Power rows of the site's cell, counted through the data layer (not the API under test).
async fn power_rows(s: &Site) -> i64 {
    let cell = s.cell as i32;
    s.app
        .db(move |c| loam_db::bench::power_counts(c, cell))
        .await
        .0
}

async fn enrolment_is_signed_and_tops_up_without_overflow(backend: Backend) {
    let s = site(backend, None).await;
    let server = server_key(&s.app).await;
    let device = device_public_key();
    let first = enrol(&s, &device).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    let e1 = checked_enrolment(&server, &first);
    assert_eq!(e1.logger_id, s.logger as u64);
    assert_eq!(e1.available_slots, 100);
    let in_30_days = chrono::Utc::now().timestamp() + 30 * 86_400;
    assert!((e1.quota_expiry - in_30_days).abs() < 60, "{first}");
    let second: Value = enrol(&s, &device).await.json().await.expect("json");
    let e2 = checked_enrolment(&server, &second);
    assert_eq!(e2.available_slots, 200, "a second enrolment tops up");
    assert!(e2.quota_expiry >= e1.quota_expiry);
    // The logger's own device key may enrol too.
    let by_device = s
        .app
        .client
        .post(s.app.url(&format!("/api/logger/{}/enrol", s.logger)))
        .header("x-api-key", &s.key)
        .json(&json!({ "public_key": device }))
        .send()
        .await
        .expect("request");
    assert_eq!(by_device.status(), 200);
    assert_eq!(
        by_device.json::<Value>().await.expect("json")["available_slots"],
        300
    );
    for bad in [
        json!("zz".repeat(32)),
        json!("ab".repeat(31)),
        json!(""),
        Value::Null,
    ] {
        let res = enrol_as(&s, &s.owner, bad.clone()).await;
        assert_eq!(res.status(), 400, "{bad}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"]["code"], "public_key_invalid");
        assert_eq!(body["error"]["details"]["number"], 1004);
    }
    let bob = s.app.signed_in("bob@example.test").await;
    let theirs = enrol_as(&s, &bob, json!(device)).await;
    assert_eq!(theirs.status(), 404);

    // Near the top the total saturates at 2^32 - 1 instead of wrapping.
    let big = site(
        backend,
        Some(Box::new(|c: &mut loam_config::Config| {
            c.receipt_slots = u32::MAX - 10
        })),
    )
    .await;
    let server = server_key(&big.app).await;
    let a: Value = enrol(&big, &device).await.json().await.expect("json");
    assert_eq!(
        checked_enrolment(&server, &a).available_slots,
        u32::MAX - 10
    );
    let b: Value = enrol(&big, &device).await.json().await.expect("json");
    assert_eq!(checked_enrolment(&server, &b).available_slots, u32::MAX);
}

async fn receipts_verify_offline_and_retries_get_the_same_one(backend: Backend) {
    let s = site(backend, None).await;
    let server = server_key(&s.app).await;
    let loc = locator();
    let body = frames::power(T0, s.cell, s.logger, 0.5, 0.001);
    let first = upload_with(&s.app, body.clone(), Some(&s.key), &loc).await;
    assert_eq!(first.status(), 200);
    let receipt = first
        .headers()
        .get("loam-receipt")
        .expect("a receipt")
        .to_str()
        .expect("text")
        .to_owned();
    let stated = verify_receipt(&server, &receipt).expect("verifies with the public key");
    assert_eq!(stated.locator.to_hex(), loc);
    assert_eq!(stated.logger_id, s.logger as u64);
    assert_eq!(
        stated.body_sha256,
        <[u8; 32]>::from(sha2::Sha256::digest(&body))
    );
    assert_eq!(stated.rows, 1);
    let now_us = chrono::Utc::now().timestamp_micros();
    assert!((now_us - stated.commit_us).abs() < 60_000_000);
    assert_eq!(power_rows(&s).await, 1);

    let again = upload_with(&s.app, body.clone(), Some(&s.key), &loc).await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        again
            .headers()
            .get("loam-receipt")
            .and_then(|v| v.to_str().ok()),
        Some(receipt.as_str()),
        "a retry gets the same receipt"
    );
    assert_eq!(power_rows(&s).await, 1, "and stores nothing twice");

    let other = frames::power(T0 + 1, s.cell, s.logger, 0.7, 0.001);
    let conflict = upload_with(&s.app, other, Some(&s.key), &loc).await;
    assert_eq!(conflict.status(), 409);
    let err: Value = conflict.json().await.expect("json");
    assert_eq!(err["error"]["code"], "locator_reused");
    assert_eq!(err["error"]["details"]["number"], 1003);
    assert_eq!(power_rows(&s).await, 1, "a conflicting body stores nothing");

    let stored = s
        .app
        .as_person(
            Method::GET,
            &format!("/api/logger/{}/receipts/{loc}", s.logger),
            &s.owner,
        )
        .send()
        .await
        .expect("request");
    assert_eq!(stored.status(), 200);
    let stored: Value = stored.json().await.expect("json");
    assert_eq!(stored["receipt"], receipt.as_str());
    assert_eq!(stored["rows"], 1);
    assert_eq!(stored["commit_us"], stated.commit_us);

    for bad in ["xyz", &"ab".repeat(15), &"ab".repeat(17), &"g".repeat(32)] {
        let res = upload_with(
            &s.app,
            frames::power(T0 + 5, s.cell, s.logger, 0.5, 0.001),
            Some(&s.key),
            bad,
        )
        .await;
        assert_eq!(res.status(), 400, "{bad}");
        let err: Value = res.json().await.expect("json");
        assert_eq!(err["error"]["code"], "locator_invalid");
        assert_eq!(err["error"]["details"]["number"], 1001);
    }
    assert_eq!(power_rows(&s).await, 1);
    // A generic message (several rows) is receipted with its row count.
    let generic = frames::generic(
        T0 + 10,
        s.logger,
        &[
            (
                loam_ingest::pb::SensorType::Bme280Pressure,
                s.cell,
                98_000.0,
            ),
            (loam_ingest::pb::SensorType::Bme280Temp, s.cell, 21.5),
        ],
    );
    let res = s
        .app
        .client
        .post(s.app.url("/api/sensor/"))
        .header("content-type", "application/octet-stream")
        .header("SensorVersion", "2")
        .header("loam-locator", locator())
        .header("x-api-key", &s.key)
        .body(generic)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let header = res.headers()["loam-receipt"].to_str().expect("text");
    assert_eq!(verify_receipt(&server, header).expect("verifies").rows, 2);
}

async fn receipt_lookups_reveal_nothing_about_other_loggers(backend: Backend) {
    let s = site(backend, None).await;
    let loc = locator();
    let res = upload_with(
        &s.app,
        frames::power(T0, s.cell, s.logger, 0.5, 0.001),
        Some(&s.key),
        &loc,
    )
    .await;
    assert_eq!(res.status(), 200);
    let get = |path: String, session: Session| {
        let app = &s.app;
        async move {
            let res = app
                .as_person(Method::GET, &path, &session)
                .header("x-request-id", "same-id")
                .send()
                .await
                .expect("request");
            (res.status().as_u16(), res.text().await.expect("body"))
        }
    };
    let unknown_locator = get(
        format!("/api/logger/{}/receipts/{}", s.logger, locator()),
        s.owner.clone(),
    )
    .await;
    let unknown_logger = get(
        format!("/api/logger/987654/receipts/{loc}"),
        s.owner.clone(),
    )
    .await;
    assert_eq!(unknown_locator.0, 404);
    assert_eq!(unknown_locator, unknown_logger, "no oracle");
    let bob = s.app.signed_in("bob@example.test").await;
    let someone_elses = get(format!("/api/logger/{}/receipts/{loc}", s.logger), bob).await;
    assert_eq!(someone_elses, unknown_logger);
    // The logger's own key reads its receipts.
    let by_key = s
        .app
        .client
        .get(
            s.app
                .url(&format!("/api/logger/{}/receipts/{loc}", s.logger)),
        )
        .header("x-api-key", &s.key)
        .send()
        .await
        .expect("request");
    assert_eq!(by_key.status(), 200);
}

async fn quotas_refuse_with_429_and_recover_after_top_up(backend: Backend) {
    let s = site(
        backend,
        Some(Box::new(|c: &mut loam_config::Config| {
            c.receipt_slots = 3;
            c.receipt_days = 2;
        })),
    )
    .await;
    let device = device_public_key();
    // Unenrolled loggers are not limited by slots.
    for k in 0..5 {
        let res = s
            .app
            .upload(
                frames::power(T0 + k, s.cell, s.logger, 0.5, 0.001),
                false,
                Some(&s.key),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let e: Value = enrol(&s, &device).await.json().await.expect("json");
    assert_eq!(e["available_slots"], 3);
    let before = power_rows(&s).await;
    // Small bodies cost one slot each (one per started 4 KiB).
    for k in 0..3 {
        let res = upload_with(
            &s.app,
            frames::power(T0 + 100 + k, s.cell, s.logger, 0.5, 0.001),
            Some(&s.key),
            &locator(),
        )
        .await;
        assert_eq!(res.status(), 200, "upload {k}");
    }
    let refused = s
        .app
        .upload(
            frames::power(T0 + 200, s.cell, s.logger, 0.5, 0.001),
            false,
            Some(&s.key),
        )
        .await;
    assert_eq!(refused.status(), 429);
    let err: Value = refused.json().await.expect("json");
    assert_eq!(err["error"]["code"], "quota_exhausted");
    assert_eq!(err["error"]["details"]["number"], 1005);
    assert_eq!(err["error"]["details"]["available_slots"], 0);
    assert_eq!(err["error"]["details"]["needed_slots"], 1);
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("text")
            .contains("slot")
    );
    assert_eq!(
        power_rows(&s).await,
        before + 3,
        "the refused upload stored nothing"
    );
    let topped: Value = enrol(&s, &device).await.json().await.expect("json");
    assert_eq!(topped["available_slots"], 3);
    let res = upload_with(
        &s.app,
        frames::power(T0 + 201, s.cell, s.logger, 0.5, 0.001),
        Some(&s.key),
        &locator(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let after: Value = s
        .app
        .db({
            let logger = s.logger as i32;
            move |c| loam_db::devices::find(c, logger)
        })
        .await
        .map(|e| json!(e.available_slots))
        .expect("enrolled");
    assert_eq!(after, 2);
    // A body over 4 KiB costs one slot per started 4 KiB: here two, the last two.
    let items: Vec<_> = (0..200)
        .map(|k| {
            (
                loam_ingest::pb::SensorType::Bme280Pressure,
                s.cell,
                90_000.0 + f64::from(k),
            )
        })
        .collect();
    let big = frames::generic(T0 + 300, s.logger, &items);
    assert!((4097..=8192).contains(&big.len()), "{} bytes", big.len());
    let res = s
        .app
        .client
        .post(s.app.url("/api/sensor/"))
        .header("content-type", "application/octet-stream")
        .header("SensorVersion", "2")
        .header("x-api-key", &s.key)
        .body(big)
        .send()
        .await
        .expect("request");
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let left = s
        .app
        .db({
            let logger = s.logger as i32;
            move |c| loam_db::devices::find(c, logger)
        })
        .await
        .map(|e| e.available_slots);
    assert_eq!(left, Some(0));
}

async fn admins_change_quotas_and_expiry_refuses_uploads(backend: Backend) {
    let s = site(backend, None).await;
    let device = device_public_key();
    let path = format!("/api/logger/{}/quota", s.logger);
    let not_enrolled = {
        let root = s.app.admin("root@example.test").await;
        let res = s
            .app
            .as_person(Method::PUT, &path, &root)
            .json(&json!({"available_slots": 5}))
            .send()
            .await
            .expect("request");
        (res.status(), res.json::<Value>().await.expect("json"), root)
    };
    assert_eq!(not_enrolled.0, 404);
    assert_eq!(not_enrolled.1["error"]["code"], "not_enrolled");
    let root = not_enrolled.2;
    assert_eq!(enrol(&s, &device).await.status(), 200);
    let by_owner = s
        .app
        .as_person(Method::PUT, &path, &s.owner)
        .json(&json!({"available_slots": 5}))
        .send()
        .await
        .expect("request");
    assert_eq!(by_owner.status(), 403, "owners do not set their own quotas");
    let past = chrono::Utc::now().timestamp() - 60;
    let res = s
        .app
        .as_person(Method::PUT, &path, &root)
        .json(&json!({"available_slots": 7, "quota_expiry": past}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    let e = checked_enrolment(&server_key(&s.app).await, &body);
    assert_eq!((e.available_slots, e.quota_expiry), (7, past));
    let refused = s
        .app
        .upload(
            frames::power(T0, s.cell, s.logger, 0.5, 0.001),
            false,
            Some(&s.key),
        )
        .await;
    assert_eq!(refused.status(), 429);
    let err: Value = refused.json().await.expect("json");
    assert_eq!(err["error"]["code"], "quota_expired");
    assert_eq!(err["error"]["details"]["quota_expiry"], past);
    assert_eq!(power_rows(&s).await, 0);
    assert_eq!(enrol(&s, &device).await.status(), 200);
    let res = s
        .app
        .upload(
            frames::power(T0, s.cell, s.logger, 0.5, 0.001),
            false,
            Some(&s.key),
        )
        .await;
    assert_eq!(res.status(), 200, "a new enrolment resets the expiry");
}
