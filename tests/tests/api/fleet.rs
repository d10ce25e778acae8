//! Device health through the real upload path: states across silence boundaries (the upload log
//! moved back in time instead of waiting), bursts that must not shrink the learned interval,
//! battery, quota and firmware facts, the fleet view's filters and order, and who may see what.

use loam_tests::{Backend, Session, TestApp, backend_tests, frames};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

backend_tests!(
    health_follows_silence_against_the_learned_interval,
    fleet_lists_only_mine_quietest_first_with_filters,
    firmware_quota_and_refusals_in_health,
    the_last_day_adds_up_the_same_before_and_after_folding,
);

const OWNER: &str = "owner@example.test";

fn now_secs() -> u32 {
    u32::try_from(chrono::Utc::now().timestamp()).expect("fits")
}

/// One wake-up of a logger as ENTS firmware sends it: a power and a TEROS upload together.
async fn wake_up(app: &TestApp, key: &str, cell: i64, logger: i64, ts: u32, volts: f64) {
    let power = app
        .upload(
            frames::power(ts, cell, logger, volts, 0.002),
            false,
            Some(key),
        )
        .await;
    assert_eq!(power.status(), 200);
    let teros = app
        .upload(
            frames::teros12(ts, cell, logger, 2100.0, 0.31, 21.5, 180),
            false,
            Some(key),
        )
        .await;
    assert_eq!(teros.status(), 200);
}

async fn get_json(app: &TestApp, session: &Session, path: &str) -> (u16, Value) {
    let res = app
        .as_person(Method::GET, path, session)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

async fn health_follows_silence_against_the_learned_interval(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in(OWNER).await;
    let cell = app.cell(&owner, OWNER, "field-1").await;
    let logger = app.logger(&owner, OWNER, "logger-1").await;
    let key = app.device_key(&owner, logger, &["ingest", "read"]).await;
    let path = format!("/api/logger/{logger}/health");

    let (status, never) = get_json(&app, &owner, &path).await;
    assert_eq!(status, 200);
    assert_eq!(never["state"], "never_seen");
    assert_eq!(never["last_seen"], Value::Null);
    assert_eq!(never["uploads_24h"], 0);
    assert_eq!(never["interval_learned"], false);

    // Five wake-ups, 60 s apart, each a power and a TEROS upload one second apart. Each
    // wake-up's lines are moved back as they are made, so the log ends up spaced as in the field.
    let t0 = now_secs();
    let id = i32::try_from(logger).expect("id");
    for (k, volts) in [3.3, 3.2, 3.1, 3.0, 2.9].into_iter().enumerate() {
        let k = u32::try_from(k).expect("small");
        wake_up(&app, &key, cell, logger, t0 - 240 + k * 60, volts).await;
        if k < 4 {
            app.db(move |c| loam_db::testing::backdate_uploads(c, id, 60))
                .await;
        }
    }
    let (_, fresh) = get_json(&app, &owner, &path).await;
    assert_eq!(fresh["state"], "ok", "{fresh}");
    assert_eq!(fresh["interval_learned"], true);
    let interval = fresh["interval_secs"].as_i64().expect("interval");
    assert!(
        (58..=61).contains(&interval),
        "bursts must not shrink the interval: {fresh}"
    );
    assert_eq!(fresh["uploads_24h"], 10);
    assert_eq!(fresh["rows_24h"], 10);
    assert_eq!(fresh["last_voltage"], 2.9);
    assert_eq!(fresh["last_cell_id"], cell);
    assert!(fresh["silence_secs"].as_i64().expect("silence") < 60);

    // Quiet for 3 intervals: late (more than 2, fewer than 6).
    app.db(move |c| loam_db::testing::backdate_uploads(c, id, 180))
        .await;
    let (_, late) = get_json(&app, &owner, &path).await;
    assert_eq!(late["state"], "late", "{late}");
    // Quiet for 7 intervals: silent.
    app.db(move |c| loam_db::testing::backdate_uploads(c, id, 240))
        .await;
    let (_, silent) = get_json(&app, &owner, &path).await;
    assert_eq!(silent["state"], "silent", "{silent}");
    // The learned interval is the same: only the silence grew.
    assert_eq!(silent["interval_secs"], interval);
    // A day later the uploads no longer count in the last 24 hours, but the logger is still
    // known (last seen, voltage).
    app.db(move |c| loam_db::testing::backdate_uploads(c, id, 86_400))
        .await;
    let (_, old) = get_json(&app, &owner, &path).await;
    assert_eq!(old["uploads_24h"], 0);
    assert_eq!(old["state"], "silent");
    assert_eq!(old["last_voltage"], 2.9);
    // It wakes up again: ok at once.
    wake_up(&app, &key, cell, logger, now_secs(), 3.0).await;
    let (_, back) = get_json(&app, &owner, &path).await;
    assert_eq!(back["state"], "ok", "{back}");
    assert_eq!(back["uploads_24h"], 2);

    // Its own device key may read its health.
    let own = app
        .client
        .get(app.url(&path))
        .header("x-api-key", &key)
        .send()
        .await
        .expect("request");
    assert_eq!(own.status(), 200);
}

async fn fleet_lists_only_mine_quietest_first_with_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in(OWNER).await;
    let other = app.signed_in("other@example.test").await;
    let field = app.cell(&owner, OWNER, "field-1").await;
    let meadow = app.cell(&owner, OWNER, "meadow").await;
    let mut loggers = Vec::new();
    for name in ["quiet", "chatty", "gone", "new"] {
        loggers.push(app.logger(&owner, OWNER, name).await);
    }
    let theirs = app.logger(&other, "other@example.test", "theirs").await;
    let [quiet, chatty, gone, new] = loggers[..] else {
        panic!("four loggers")
    };
    let t = now_secs();
    for (logger, cell) in [(quiet, field), (chatty, field), (gone, meadow)] {
        let key = app.device_key(&owner, logger, &["ingest"]).await;
        let id = i32::try_from(logger).expect("id");
        for k in 0..3u32 {
            wake_up(&app, &key, cell, logger, t - 600 + k * 120, 3.1).await;
            app.db(move |c| loam_db::testing::backdate_uploads(c, id, 120))
                .await;
        }
    }
    // chatty: last wake-up 2 minutes ago (ok); quiet: 6 minutes (late); gone: an hour (silent).
    let back = |logger: i64, secs: i64| {
        let id = i32::try_from(logger).expect("id");
        app.db(move |c| loam_db::testing::backdate_uploads(c, id, secs))
    };
    back(quiet, 240).await;
    back(gone, 3600).await;

    let (status, all) = get_json(&app, &owner, "/api/health/loggers").await;
    assert_eq!(status, 200);
    let order: Vec<i64> = all["loggers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|l| l["logger_id"].as_i64().expect("id"))
        .collect();
    assert_eq!(order, vec![gone, quiet, chatty, new], "{all}");
    assert!(!order.contains(&theirs));
    assert_eq!(
        all["counts"],
        json!({"ok": 1, "late": 1, "silent": 1, "never_seen": 1})
    );
    let states: Vec<&str> = all["loggers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|l| l["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, vec!["silent", "late", "ok", "never_seen"]);

    let (_, late) = get_json(&app, &owner, "/api/health/loggers?state=late").await;
    assert_eq!(late["loggers"].as_array().map(Vec::len), Some(1));
    assert_eq!(late["loggers"][0]["logger_id"], quiet);
    let (_, in_meadow) = get_json(
        &app,
        &owner,
        &format!("/api/health/loggers?cell_id={meadow}"),
    )
    .await;
    assert_eq!(in_meadow["loggers"].as_array().map(Vec::len), Some(1));
    assert_eq!(in_meadow["loggers"][0]["logger_id"], gone);
    for bad in ["state=dead", "cell_id=x", "cell_id=-1"] {
        let (status, body) = get_json(&app, &owner, &format!("/api/health/loggers?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "bad_parameter", "{body}");
    }

    // Someone else's logger is not found, and their fleet does not list mine.
    let (status, _) = get_json(&app, &other, &format!("/api/logger/{quiet}/health")).await;
    assert_eq!(status, 404);
    let (_, theirs_only) = get_json(&app, &other, "/api/health/loggers").await;
    assert_eq!(theirs_only["counts"]["never_seen"], 1);
    assert_eq!(theirs_only["loggers"].as_array().map(Vec::len), Some(1));
    // No credentials: 401.
    let anonymous = app.get("/api/health/loggers").await;
    assert_eq!(anonymous.status(), 401);
}

async fn firmware_quota_and_refusals_in_health(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in(OWNER).await;
    let cell = app.cell(&owner, OWNER, "field-1").await;
    let logger = app.logger(&owner, OWNER, "logger-1").await;
    let key = app.device_key(&owner, logger, &["ingest"]).await;
    let path = format!("/api/logger/{logger}/health");

    let form = Form::new()
        .text("name", "soil_fw")
        .text("version", "2.0.0")
        .part("file", Part::bytes(vec![7u8; 300]).file_name("fw.bin"));
    let published = app
        .as_person(Method::POST, "/api/firmware", &owner)
        .multipart(form)
        .send()
        .await
        .expect("request");
    assert_eq!(published.status(), 201);
    let chosen = app
        .as_person(
            Method::PUT,
            &format!("/api/logger/{logger}/firmware"),
            &owner,
        )
        .json(&json!({"name": "soil_fw", "version": "2.0.0"}))
        .send()
        .await
        .expect("request");
    assert_eq!(chosen.status(), 200);

    let send = |version: &'static str| {
        app.client
            .post(app.url("/api/sensor/"))
            .header("content-type", "application/octet-stream")
            .header("x-api-key", &key)
            .header("loam-firmware", version)
            .body(frames::power(now_secs(), cell, logger, 3.2, 0.001))
            .send()
    };
    assert_eq!(send("1.9.0").await.expect("request").status(), 200);
    let (_, old) = get_json(&app, &owner, &path).await;
    assert_eq!(
        old["firmware"],
        json!({"desired": "soil_fw/2.0.0", "reported": "1.9.0", "up_to_date": false})
    );
    assert_eq!(old["receipt_slots"], Value::Null);
    assert_eq!(send("2.0.0").await.expect("request").status(), 200);
    let (_, new) = get_json(&app, &owner, &path).await;
    assert_eq!(new["firmware"]["up_to_date"], true);

    // A malformed version refuses the upload with a clear 400, and nothing is logged for it.
    let bad = send("2.0 beta!").await.expect("request");
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.expect("json");
    assert_eq!(body["error"]["code"], "firmware_invalid");
    let (_, after) = get_json(&app, &owner, &path).await;
    assert_eq!(after["uploads_24h"], 2);
}

async fn the_last_day_adds_up_the_same_before_and_after_folding(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in(OWNER).await;
    let cell = app.cell(&owner, OWNER, "field-1").await;
    let logger = app.logger(&owner, OWNER, "logger-1").await;
    let key = app.device_key(&owner, logger, &["ingest"]).await;
    let id = i32::try_from(logger).expect("id");
    // Ten wake-ups three hours apart: now, 3 h ago, …, 27 h ago. Eight fall in the last day.
    for _ in 0..10 {
        app.db(move |c| loam_db::testing::backdate_uploads(c, id, 3 * 3600))
            .await;
        wake_up(&app, &key, cell, logger, now_secs(), 3.1).await;
    }
    let path = format!("/api/logger/{logger}/health");
    let counts = || async {
        let (_, h) = get_json(&app, &owner, &path).await;
        (h["uploads_24h"].as_i64(), h["rows_24h"].as_i64())
    };
    assert_eq!(counts().await, (Some(16), Some(16)));
    // Upkeep folds whole past hours into the summary; the answer is the same, and folding
    // again (another replica) changes nothing.
    let folded = app
        .db(|c| loam_db::health::fold_hours(c, loam_db::now()))
        .await;
    assert_eq!(folded, 9, "one summary row per past wake-up's hour");
    assert_eq!(counts().await, (Some(16), Some(16)));
    assert_eq!(
        app.db(|c| loam_db::health::fold_hours(c, loam_db::now()))
            .await,
        0
    );
    assert_eq!(counts().await, (Some(16), Some(16)));
    // New uploads after the fold count from the raw lines.
    wake_up(&app, &key, cell, logger, now_secs(), 3.1).await;
    assert_eq!(counts().await, (Some(18), Some(18)));
}
