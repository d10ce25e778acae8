//! The ChirpStack v4 HTTP integration door: `up` events stored with a device key or an
//! integration key (a person's own key), retries stored once, all or nothing, other event types
//! acknowledged, and every refusal a 4xx JSON answer — never open anonymously, not even in ENTS
//! compatibility mode.

use base64::Engine;
use loam_ingest::pb::SensorType;
use loam_tests::{Backend, Options, TestApp, backend_tests, frames};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    chirpstack_uplinks_are_stored_once_and_read_back,
    chirpstack_keys_write_only_what_their_owner_may,
    chirpstack_refusals_are_clear_and_store_nothing,
    chirpstack_needs_a_key_even_in_compatibility_mode,
);

/// 2024-01-13 18:00:05 UTC.
const T0: u32 = 1_705_168_805;
const OWNER: &str = "owner@example.test";

/// ChirpStack v4's `up` event (protobuf JSON mapping) carrying `frame` on `port`.
pub(crate) fn up_event(port: Option<u32>, frame: Option<&[u8]>) -> Value {
    let mut e = json!({
        "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
        "time": "2024-01-13T18:00:05.123456Z",
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "ChirpStack",
            "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
            "applicationName": "soil",
            "deviceProfileName": "ents",
            "deviceName": "field-7",
            "devEui": "0101010101010101",
        },
        "devAddr": "00189440",
        "dr": 5,
        "fCnt": 12,
        "confirmed": false,
        "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": -57, "snr": 10.5}],
    });
    if let Some(port) = port {
        e["fPort"] = json!(port);
    }
    if let Some(frame) = frame {
        e["data"] = json!(base64::engine::general_purpose::STANDARD.encode(frame));
    }
    e
}

struct Site {
    app: TestApp,
    session: loam_tests::Session,
    cell: i64,
    logger: i64,
    device_key: String,
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
    let session = app.signed_in(OWNER).await;
    let cell = app.cell(&session, OWNER, "field-1").await;
    let logger = app.logger(&session, OWNER, "logger-1").await;
    let device_key = app.device_key(&session, logger, &["ingest"]).await;
    Site {
        app,
        session,
        cell,
        logger,
        device_key,
    }
}

/// A person's own API key (`POST /api/apikey/`), the integration key.
pub(crate) async fn user_key(app: &TestApp, session: &loam_tests::Session) -> String {
    let res = app
        .as_person(Method::POST, "/api/apikey/", session)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.expect("json");
    body["api_key"].as_str().expect("key").to_owned()
}

async fn post(
    app: &TestApp,
    event: Option<&str>,
    key: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let url = match event {
        Some(e) => app.url(&format!("/api/chirpstack?event={e}")),
        None => app.url("/api/chirpstack"),
    };
    let mut req = app.client.post(url).json(body);
    if let Some(key) = key {
        req = req.header("x-api-key", key);
    }
    req.send().await.expect("req")
}

async fn answer(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn power_volts(s: &Site, cell: i64, from: u32, to: u32) -> Value {
    let q = [
        ("startTime", loam_tests::http_date(i64::from(from))),
        ("endTime", loam_tests::http_date(i64::from(to))),
        ("resample", "none".to_owned()),
    ];
    let res = s
        .app
        .as_person(Method::GET, &format!("/api/power/{cell}"), &s.session)
        .query(&q)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.expect("json")["v"].clone()
}

async fn chirpstack_uplinks_are_stored_once_and_read_back(backend: Backend) {
    let s = site(backend, false).await;
    let event = up_event(
        Some(1),
        Some(&frames::power(T0, s.cell, s.logger, 0.5, 0.001)),
    );
    for _ in 0..3 {
        let (status, body) =
            answer(post(&s.app, Some("up"), Some(&s.device_key), &event).await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"status": "stored", "event": "up"}));
    }
    assert_eq!(
        power_volts(&s, s.cell, T0 - 5, T0 + 5).await,
        json!([500.0])
    );
    // Port 2: a generic message, stored through the same rules.
    let generic = frames::generic(
        T0 + 10,
        s.logger,
        &[(SensorType::PowerVoltage, s.cell, 3300.0)],
    );
    let (status, body) = answer(
        post(
            &s.app,
            Some("up"),
            Some(&s.device_key),
            &up_event(Some(2), Some(&generic)),
        )
        .await,
    )
    .await;
    assert_eq!((status, &body["status"]), (200, &json!("stored")), "{body}");
    // Time sync and empty frames: acknowledged, nothing stored.
    let (status, body) = answer(
        post(
            &s.app,
            Some("up"),
            Some(&s.device_key),
            &up_event(Some(202), Some(&[1])),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("ignored")),
        "{body}"
    );
    let (status, body) = answer(
        post(
            &s.app,
            Some("up"),
            Some(&s.device_key),
            &up_event(None, None),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("ignored")),
        "{body}"
    );
    // The other event types are acknowledged and ignored, whatever their body.
    for event in [
        "join",
        "status",
        "ack",
        "txack",
        "log",
        "location",
        "integration",
    ] {
        let (status, body) = answer(
            post(
                &s.app,
                Some(event),
                Some(&s.device_key),
                &json!({"deviceInfo": {}}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{event}: {body}");
        assert_eq!(body["status"], "ignored", "{event}: {body}");
        assert_eq!(body["event"], event);
    }
    // An integration key (the owner's own key) writes as the owner's logger too.
    let integration = user_key(&s.app, &s.session).await;
    let event = up_event(
        Some(1),
        Some(&frames::power(T0 + 20, s.cell, s.logger, 0.7, 0.001)),
    );
    for _ in 0..2 {
        let (status, body) =
            answer(post(&s.app, Some("up"), Some(&integration), &event).await).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        power_volts(&s, s.cell, T0 - 5, T0 + 25).await,
        json!([500.0, 700.0])
    );
}

async fn chirpstack_keys_write_only_what_their_owner_may(backend: Backend) {
    let s = site(backend, false).await;
    let other = s.app.logger(&s.session, OWNER, "logger-2").await;
    // A device key writes only as its own logger.
    let as_other = up_event(Some(1), Some(&frames::power(T0, s.cell, other, 0.5, 0.001)));
    let (status, body) =
        answer(post(&s.app, Some("up"), Some(&s.device_key), &as_other).await).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    // A key without the ingest scope is refused before the handler.
    let reader = s.app.device_key(&s.session, s.logger, &["read"]).await;
    let mine = up_event(
        Some(1),
        Some(&frames::power(T0, s.cell, s.logger, 0.5, 0.001)),
    );
    let (status, body) = answer(post(&s.app, Some("up"), Some(&reader), &mine).await).await;
    assert_eq!(status, 403, "{body}");
    // Someone else's integration key may not write as this owner's logger or into their cell.
    let stranger = s.app.signed_in("stranger@example.test").await;
    let their_cell = s
        .app
        .cell(&stranger, "stranger@example.test", "their-field")
        .await;
    let their_key = user_key(&s.app, &stranger).await;
    let (status, body) = answer(post(&s.app, Some("up"), Some(&their_key), &mine).await).await;
    assert_eq!(status, 404, "{body}");
    let into_theirs = up_event(
        Some(1),
        Some(&frames::power(T0, their_cell, s.logger, 0.5, 0.001)),
    );
    let (status, body) =
        answer(post(&s.app, Some("up"), Some(&their_key), &into_theirs).await).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("integration key"),
        "{body}"
    );
    // The owner's integration key writes as any of their loggers, but not into a stranger's cell.
    let integration = user_key(&s.app, &s.session).await;
    let (status, body) =
        answer(post(&s.app, Some("up"), Some(&integration), &as_other).await).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        answer(post(&s.app, Some("up"), Some(&integration), &into_theirs).await).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        power_volts(&s, s.cell, T0 - 5, T0 + 5).await,
        json!([500.0])
    );
    // A bearer token is not a key.
    let res = s
        .app
        .as_person(Method::POST, "/api/chirpstack?event=up", &s.session)
        .json(&mine)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 401);
}

async fn chirpstack_refusals_are_clear_and_store_nothing(backend: Backend) {
    let s = site(backend, false).await;
    let key = Some(s.device_key.as_str());
    let good = up_event(
        Some(1),
        Some(&frames::power(T0, s.cell, s.logger, 0.5, 0.001)),
    );
    for (event, code) in [(None, "missing_event"), (Some("uplink"), "unknown_event")] {
        let (status, body) = answer(post(&s.app, event, key, &good).await).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!(code)),
            "{body}"
        );
    }
    let cases = [
        (up_event(Some(1), None), 400, "invalid_upload"),
        (json!({"fPort": 1, "data": "%%%"}), 400, "invalid_upload"),
        (up_event(Some(1), Some(b"garbage")), 400, "invalid_upload"),
        (json!([1, 2, 3]), 400, "invalid_upload"),
        (up_event(Some(7), Some(&[1])), 404, "not_found"),
        (
            up_event(
                Some(1),
                Some(&frames::power(5, s.cell, s.logger, 0.5, 0.001)),
            ),
            400,
            "invalid_upload",
        ),
        (
            up_event(
                Some(1),
                Some(&frames::power(T0, 987_654, s.logger, 0.5, 0.001)),
            ),
            404,
            "not_found",
        ),
    ];
    for (body, status, code) in cases {
        let (answered, err) = answer(post(&s.app, Some("up"), key, &body).await).await;
        assert_eq!(
            (answered, &err["error"]["code"]),
            (status, &json!(code)),
            "{body}: {err}"
        );
    }
    // All or nothing: a generic message with one value for a cell the key may not write stores
    // none of its values.
    let stranger = s.app.signed_in("stranger@example.test").await;
    let their_cell = s
        .app
        .cell(&stranger, "stranger@example.test", "their-field")
        .await;
    let mixed = frames::generic(
        T0 + 30,
        s.logger,
        &[
            (SensorType::PowerVoltage, s.cell, 3300.0),
            (SensorType::PowerVoltage, their_cell, 3300.0),
        ],
    );
    let (status, body) =
        answer(post(&s.app, Some("up"), key, &up_event(Some(2), Some(&mixed))).await).await;
    assert_eq!(status, 404, "{body}");
    // Not JSON.
    let res = s
        .app
        .client
        .post(s.app.url("/api/chirpstack?event=up"))
        .header("x-api-key", &s.device_key)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("req");
    let (status, body) = answer(res).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_json"))
    );
    let res = s
        .app
        .client
        .post(s.app.url("/api/chirpstack?event=up"))
        .header("x-api-key", &s.device_key)
        .header("content-type", "application/octet-stream")
        .body(vec![1, 2, 3])
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 415);
    assert_eq!(power_volts(&s, s.cell, T0 - 100, T0 + 100).await, json!([]));
    let q = [
        ("name", "POWER_VOLTAGE"),
        ("measurement", "Voltage"),
        ("resample", "none"),
    ];
    let res = s
        .app
        .as_person(Method::GET, "/api/sensor/", &s.session)
        .query(&q)
        .query(&[("cellId", s.cell)])
        .send()
        .await
        .expect("req");
    let series: Value = res.json().await.expect("json");
    assert!(
        series["data"].as_array().is_none_or(|d| d.is_empty()),
        "nothing of the mixed message was stored: {series}"
    );
}

async fn chirpstack_needs_a_key_even_in_compatibility_mode(backend: Backend) {
    let s = site(backend, true).await;
    let event = up_event(
        Some(1),
        Some(&frames::power(T0, s.cell, s.logger, 0.5, 0.001)),
    );
    let (status, body) = answer(post(&s.app, Some("up"), None, &event).await).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized")),
        "{body}"
    );
    assert_eq!(power_volts(&s, s.cell, T0 - 5, T0 + 5).await, json!([]));
    // The ENTS doors stay open in this mode; the key still works here.
    let (status, _) = answer(post(&s.app, Some("up"), Some(&s.device_key), &event).await).await;
    assert_eq!(status, 200);
}
