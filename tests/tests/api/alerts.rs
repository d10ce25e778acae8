//! Alert rules end to end with a one-second evaluation period: a silence rule fires once,
//! repeats only on its schedule and resolves when the logger uploads again; a threshold rule's
//! webhook is signed, retried against a receiver that fails first, logged attempt by attempt,
//! and its events reach the owner's Socket.IO connection; many workers judge each rule once per period.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use loam_tests::{
    Backend, Options, Session, TestApp, TestRedis, backend_tests, eventually, frames,
};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    silence_fires_once_repeats_on_schedule_and_resolves,
    threshold_webhook_is_signed_retried_and_live,
    rules_are_checked_when_made_and_private_to_their_owner,
    a_rule_is_claimed_once_per_period_however_many_ask,
    a_rule_falls_quiet_when_its_owner_loses_the_cell_and_rules_are_capped,
);

const OWNER: &str = "owner@example.test";

fn fast(backend: Backend) -> impl Future<Output = TestApp> {
    TestApp::spawn_with(
        backend,
        Options {
            tweak: Some(Box::new(|c| {
                c.alert_period_secs = 1;
                c.alert_allow_private_webhooks = true;
            })),
            ..Options::default()
        },
    )
}

fn now_secs() -> u32 {
    u32::try_from(chrono::Utc::now().timestamp()).expect("fits")
}

async fn send(
    app: &TestApp,
    s: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.as_person(method, path, s);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn events(app: &TestApp, s: &Session, rule: i64) -> Vec<Value> {
    let (status, body) = send(
        app,
        s,
        Method::GET,
        &format!("/api/alerts/{rule}/events"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

async fn wake_up(app: &TestApp, key: &str, cell: i64, logger: i64) {
    let res = app
        .upload(
            frames::power(now_secs(), cell, logger, 3.3, 0.002),
            false,
            Some(key),
        )
        .await;
    assert_eq!(res.status(), 200);
}

async fn silence_fires_once_repeats_on_schedule_and_resolves(backend: Backend) {
    let app = fast(backend).await;
    let owner = app.signed_in(OWNER).await;
    let cell = app.cell(&owner, OWNER, "field-1").await;
    let logger = app.logger(&owner, OWNER, "logger-7").await;
    let key = app.device_key(&owner, logger, &["ingest"]).await;
    let id = i32::try_from(logger).expect("id");
    for _ in 0..3 {
        wake_up(&app, &key, cell, logger).await;
        app.db(move |c| loam_db::testing::backdate_uploads(c, id, 60))
            .await;
    }
    let (status, rule) = send(
        &app,
        &owner,
        Method::POST,
        "/api/alerts",
        Some(json!({"name": "logger-7 quiet", "logger_id": logger,
            "condition": {"kind": "silence", "minutes": 3}, "repeat_minutes": 30})),
    )
    .await;
    assert_eq!(status, 201, "{rule}");
    assert_eq!(rule["state"], "ok");
    assert_eq!(rule["secret"].as_str().map(str::len), Some(64));
    let rule_id = rule["id"].as_i64().expect("id");
    let rule_id32 = i32::try_from(rule_id).expect("id");

    // Quiet for a minute: below the rule's three minutes, so nothing happens over 3 periods.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(events(&app, &owner, rule_id).await.is_empty());

    // Quiet for four minutes: one firing event.
    app.db(move |c| loam_db::testing::backdate_uploads(c, id, 180))
        .await;
    assert!(
        eventually(10, || async {
            !events(&app, &owner, rule_id).await.is_empty()
        })
        .await
    );
    let fired = events(&app, &owner, rule_id).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["kind"], "firing");
    assert_eq!(fired[0]["logger_id"], logger);
    assert_eq!(fired[0]["cell_id"], cell);
    assert!(
        fired[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("logger-7"))
    );
    assert!(fired[0]["value"].as_f64().is_some_and(|v| v >= 240.0));
    let (_, firing) = send(
        &app,
        &owner,
        Method::GET,
        &format!("/api/alerts/{rule_id}"),
        None,
    )
    .await;
    assert_eq!(firing["state"], "firing");

    // Still silent three periods later: still one event (no storm).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(events(&app, &owner, rule_id).await.len(), 1);

    // Its repeat interval passes: one repeat.
    app.db(move |c| loam_db::testing::backdate_rule_notice(c, rule_id32, 31 * 60))
        .await;
    assert!(
        eventually(10, || async {
            events(&app, &owner, rule_id).await.len() == 2
        })
        .await
    );
    assert_eq!(events(&app, &owner, rule_id).await[0]["kind"], "repeat");

    // The logger uploads again: resolved, and the rule is ok.
    wake_up(&app, &key, cell, logger).await;
    assert!(
        eventually(10, || async {
            events(&app, &owner, rule_id).await.len() == 3
        })
        .await
    );
    let all = events(&app, &owner, rule_id).await;
    let kinds: Vec<&str> = all.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["resolved", "repeat", "firing"]);
    let (_, ok) = send(
        &app,
        &owner,
        Method::GET,
        &format!("/api/alerts/{rule_id}"),
        None,
    )
    .await;
    assert_eq!(ok["state"], "ok");
    assert_eq!(ok["firing_since"], Value::Null);
    // No webhook: an empty delivery log.
    let (status, log) = send(
        &app,
        &owner,
        Method::GET,
        &format!("/api/alerts/{rule_id}/deliveries"),
        None,
    )
    .await;
    assert_eq!((status, log), (200, json!([])));

    // Disabled, it stays quiet even when the logger falls silent again.
    let (status, off) = send(
        &app,
        &owner,
        Method::PATCH,
        &format!("/api/alerts/{rule_id}"),
        Some(json!({"enabled": false, "repeat_minutes": null})),
    )
    .await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(
        (off["enabled"].clone(), off["repeat_minutes"].clone()),
        (json!(false), Value::Null)
    );
    app.db(move |c| loam_db::testing::backdate_uploads(c, id, 3600))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(events(&app, &owner, rule_id).await.len(), 3);
}

/// The requests a receiver got: headers and body of each.
type Seen = Arc<Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// A webhook receiver that answers 500 to the first request and 204 after, keeping each
/// request's headers and body.
struct Receiver {
    url: String,
    seen: Seen,
}

async fn receiver() -> Receiver {
    let seen: Seen = Arc::default();
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let mut all = kept.lock().expect("lock");
                    all.push((headers, body.to_vec()));
                    if all.len() == 1 {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::NO_CONTENT
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { url, seen }
}

/// A Socket.IO client over Engine.IO long polling, subscribed to one cell's room.
struct LiveClient {
    http: reqwest::Client,
    url: String,
}

impl LiveClient {
    async fn connect(app: &TestApp, s: &Session, cell: i64) -> Self {
        let http = reqwest::Client::new();
        let open = http
            .get(app.url("/socket.io/?EIO=4&transport=polling"))
            .send()
            .await
            .expect("open")
            .text()
            .await
            .expect("text");
        let handshake: Value =
            serde_json::from_str(open.trim_start_matches('0')).expect("handshake");
        let sid = handshake["sid"].as_str().expect("sid").to_owned();
        let url = app.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
        let client = Self { http, url };
        client
            .post(&format!("40{}", json!({"token": s.access_token})))
            .await;
        let connected = client.poll().await;
        assert!(
            connected.iter().any(|p| p.starts_with("40")),
            "{connected:?}"
        );
        client
            .post(&format!(
                "42{}",
                json!(["subscribe_cells", {"cellIds": [cell]}])
            ))
            .await;
        client
    }

    async fn post(&self, packet: &str) {
        let res = self
            .http
            .post(&self.url)
            .body(packet.to_owned())
            .send()
            .await
            .expect("post");
        assert!(res.status().is_success());
    }

    /// The packets of one long poll.
    async fn poll(&self) -> Vec<String> {
        let text = self
            .http
            .get(&self.url)
            .send()
            .await
            .expect("poll")
            .text()
            .await
            .expect("text");
        text.split('\u{1e}').map(str::to_owned).collect()
    }

    /// Waits (up to `secs`) for an `alert` event; answers pings on the way.
    async fn next_alert(&self, secs: u64) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while tokio::time::Instant::now() < deadline {
            for packet in self.poll().await {
                if packet == "2" {
                    self.post("3").await;
                }
                if let Some(event) = packet.strip_prefix("42")
                    && let Ok(Value::Array(parts)) = serde_json::from_str::<Value>(event)
                    && parts.first() == Some(&json!("alert"))
                {
                    return parts.get(1).cloned();
                }
            }
        }
        None
    }
}

async fn threshold_webhook_is_signed_retried_and_live(backend: Backend) {
    let app = fast(backend).await;
    let owner = app.signed_in(OWNER).await;
    let cell = app.cell(&owner, OWNER, "field-1").await;
    let logger = app.logger(&owner, OWNER, "logger-1").await;
    let key = app.device_key(&owner, logger, &["ingest"]).await;
    let hook = receiver().await;
    let live = LiveClient::connect(&app, &owner, cell).await;

    // The battery has read below 2.9 V for ten minutes.
    let t = now_secs();
    for ago in [600, 300, 60] {
        let res = app
            .upload(
                frames::power(t - ago, cell, logger, 2.7, 0.001),
                false,
                Some(&key),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let (status, rule) = send(
        &app,
        &owner,
        Method::POST,
        "/api/alerts",
        Some(json!({"name": "battery low", "cell_id": cell,
            "condition": {"kind": "threshold", "series": "power.voltage", "side": "below",
                          "bound": 2.9, "for_minutes": 5},
            "webhook_url": hook.url})),
    )
    .await;
    assert_eq!(status, 201, "{rule}");
    let rule_id = rule["id"].as_i64().expect("id");
    let secret = rule["secret"].as_str().expect("secret").to_owned();

    // Live: the owner's connection hears the event.
    let alert = live
        .next_alert(15)
        .await
        .expect("an alert event on the owner's connection");
    assert_eq!(
        (alert["rule_id"].as_i64(), alert["kind"].as_str()),
        (Some(rule_id), Some("firing"))
    );
    assert_eq!(alert["rule_name"], "battery low");
    assert_eq!(alert["value"], 2.7);

    // The receiver failed the first attempt; the retry was delivered.
    assert!(eventually(15, || async { hook.seen.lock().expect("lock").len() >= 2 }).await);
    let seen = hook.seen.lock().expect("lock").clone();
    assert_eq!(seen[0].1, seen[1].1, "a retry carries the same event");
    for (headers, body) in &seen {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let timestamp = header("loam-timestamp");
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        assert_eq!(
            header("loam-signature"),
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        let sent: Value = serde_json::from_slice(body).expect("json body");
        assert_eq!(sent["event"]["kind"], "firing");
        assert_eq!(
            sent["rule"],
            json!({"id": rule_id, "name": "battery low", "kind": "threshold"})
        );
        assert_eq!(header("loam-event-id"), sent["event"]["id"].to_string());
    }
    let (status, log) = send(
        &app,
        &owner,
        Method::GET,
        &format!("/api/alerts/{rule_id}/deliveries"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let log = log.as_array().cloned().expect("attempts");
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(
        (log[0]["status"].as_i64(), log[0]["error"].clone()),
        (Some(204), Value::Null)
    );
    assert_eq!(log[1]["status"], 500);
    assert!(log[1]["error"].as_str().is_some_and(|e| e.contains("500")));
    assert!(
        log.iter()
            .all(|a| a["delivery_state"] == "delivered" && a["event_kind"] == "firing")
    );

    // Back above the bound: resolved, delivered at the first attempt, and live.
    let res = app
        .upload(
            frames::power(now_secs(), cell, logger, 3.2, 0.001),
            false,
            Some(&key),
        )
        .await;
    assert_eq!(res.status(), 200);
    let resolved = live.next_alert(15).await.expect("the resolved event");
    assert_eq!(resolved["kind"], "resolved");
    assert!(eventually(15, || async { hook.seen.lock().expect("lock").len() == 3 }).await);
    let (_, log) = send(
        &app,
        &owner,
        Method::GET,
        &format!("/api/alerts/{rule_id}/deliveries?limit=1"),
        None,
    )
    .await;
    assert_eq!(log[0]["event_kind"], "resolved");
    assert_eq!(log[0]["status"], 204);
}

async fn rules_are_checked_when_made_and_private_to_their_owner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in(OWNER).await;
    let other = app.signed_in("other@example.test").await;
    let cell = app.cell(&owner, OWNER, "field-1").await;
    let logger = app.logger(&owner, OWNER, "logger-1").await;
    let theirs = app.logger(&other, "other@example.test", "theirs").await;
    let threshold = |series: &str| json!({"kind": "threshold", "series": series, "side": "above", "bound": 1.0, "for_minutes": 0});
    for (body, status) in [
        (
            json!({"name": "x", "condition": threshold("power.voltage")}),
            422,
        ),
        (
            json!({"name": "x", "cell_id": cell, "condition": threshold("power.watts")}),
            422,
        ),
        (
            json!({"name": "x", "logger_id": logger, "condition": {"kind": "silence"}}),
            422,
        ),
        (
            json!({"name": "x", "logger_id": logger, "condition": {"kind": "silence", "minutes": 0}}),
            422,
        ),
        (
            json!({"name": "x", "logger_id": logger, "condition": {"kind": "noise"}}),
            422,
        ),
        (
            json!({"name": "", "logger_id": logger, "condition": {"kind": "silence", "minutes": 5}}),
            422,
        ),
        (
            json!({"name": "x", "logger_id": logger, "condition": {"kind": "silence", "minutes": 5}, "webhook_url": "ftp://example.test/"}),
            422,
        ),
        (
            json!({"name": "x", "logger_id": logger, "condition": {"kind": "silence", "minutes": 5}, "repeat_minutes": 0}),
            422,
        ),
        (
            json!({"name": "x", "logger_id": theirs, "condition": {"kind": "silence", "minutes": 5}}),
            404,
        ),
        (
            json!({"name": "x", "cell_id": 999_999, "condition": threshold("teros.vwc")}),
            404,
        ),
    ] {
        let (got, answer) = send(
            &app,
            &owner,
            Method::POST,
            "/api/alerts",
            Some(body.clone()),
        )
        .await;
        assert_eq!(got, status, "{body} → {answer}");
        assert!(answer["error"]["code"].is_string(), "{answer}");
    }
    let (status, rule) = send(&app, &owner, Method::POST, "/api/alerts",
        Some(json!({"name": "vwc dry", "cell_id": cell, "condition": threshold("sensor/bme280/humidity"), "notify_recovery": false}))).await;
    assert_eq!(status, 201, "{rule}");
    let id = rule["id"].as_i64().expect("id");
    let (_, mine) = send(&app, &owner, Method::GET, "/api/alerts", None).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    let (_, none) = send(&app, &other, Method::GET, "/api/alerts", None).await;
    assert_eq!(none, json!([]));
    for path in [
        format!("/api/alerts/{id}"),
        format!("/api/alerts/{id}/events"),
        format!("/api/alerts/{id}/deliveries"),
    ] {
        let (status, _) = send(&app, &other, Method::GET, &path, None).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = send(
        &app,
        &other,
        Method::PATCH,
        &format!("/api/alerts/{id}"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, cleared) = send(
        &app,
        &owner,
        Method::PATCH,
        &format!("/api/alerts/{id}"),
        Some(json!({"name": null})),
    )
    .await;
    assert_eq!(status, 422, "a name cannot be cleared: {cleared}");
    let (status, _) = send(
        &app,
        &other,
        Method::DELETE,
        &format!("/api/alerts/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, bad) = send(
        &app,
        &owner,
        Method::PATCH,
        &format!("/api/alerts/{id}"),
        Some(json!({"webhook_url": "not a url"})),
    )
    .await;
    assert_eq!(status, 422, "{bad}");
    let (status, _) = send(
        &app,
        &owner,
        Method::GET,
        &format!("/api/alerts/{id}/events?limit=x"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        &app,
        &owner,
        Method::GET,
        &format!("/api/alerts/{id}/deliveries?limit=-1"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        &app,
        &owner,
        Method::DELETE,
        &format!("/api/alerts/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        &app,
        &owner,
        Method::GET,
        &format!("/api/alerts/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let anonymous = app.get("/api/alerts").await;
    assert_eq!(anonymous.status(), 401);
}

async fn a_rule_is_claimed_once_per_period_however_many_ask(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in(OWNER).await;
    let logger = app.logger(&owner, OWNER, "logger-1").await;
    let (status, rule) = send(&app, &owner, Method::POST, "/api/alerts",
        Some(json!({"name": "quiet", "logger_id": logger, "condition": {"kind": "silence", "minutes": 5}}))).await;
    assert_eq!(status, 201);
    let id = i32::try_from(rule["id"].as_i64().expect("id")).expect("id");
    for period in [10_i64, 11, 12] {
        let claims = (0..16).map(|_| {
            let db = app.state.db().clone();
            tokio::spawn(async move {
                db.run(move |c| loam_db::alerts::claim_period(c, id, period))
                    .await
            })
        });
        let mut won = 0;
        for claim in claims {
            won += usize::from(claim.await.expect("task").expect("claim"));
        }
        assert_eq!(won, 1, "period {period}");
    }
    // An older period can no longer be claimed.
    assert!(
        !app.db(move |c| loam_db::alerts::claim_period(c, id, 11))
            .await
    );
}

/// Three workers on one Redis queue, each scheduling the evaluation every second: every rule
/// fires exactly once, and no period has more than one evaluation job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "services"),
    ignore = "needs Postgres and Redis: run with --features services"
)]
async fn many_workers_judge_each_rule_once() {
    let redis = TestRedis::new();
    let prefix = redis.prefix.clone();
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            redis_url: Some(redis.url.clone()),
            tweak: Some(Box::new(move |c| {
                c.redis_prefix = prefix;
                c.alert_period_secs = 1;
            })),
            ..Options::default()
        },
    )
    .await;
    let owner = app.signed_in(OWNER).await;
    let cell = app.cell(&owner, OWNER, "field-1").await;
    let mut rules = Vec::new();
    for n in 0..6 {
        let logger = app.logger(&owner, OWNER, &format!("logger-{n}")).await;
        let key = app.device_key(&owner, logger, &["ingest"]).await;
        wake_up(&app, &key, cell, logger).await;
        let id = i32::try_from(logger).expect("id");
        app.db(move |c| loam_db::testing::backdate_uploads(c, id, 3600))
            .await;
        let (status, rule) = send(&app, &owner, Method::POST, "/api/alerts",
            Some(json!({"name": format!("quiet {n}"), "logger_id": logger, "condition": {"kind": "silence", "minutes": 10}}))).await;
        assert_eq!(status, 201);
        rules.push(rule["id"].as_i64().expect("id"));
    }
    let workers: Vec<_> = (0..3).map(|_| app.start_worker()).collect();
    let all_fired = eventually(20, || async {
        let mut fired = true;
        for rule in &rules {
            fired &= !events(&app, &owner, *rule).await.is_empty();
        }
        fired
    })
    .await;
    assert!(all_fired, "every rule fired");
    // A few more periods with every worker scheduling.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for worker in workers {
        worker.stop().await;
    }
    for rule in &rules {
        let got = events(&app, &owner, *rule).await;
        assert_eq!(got.len(), 1, "rule {rule}: {got:?}");
    }
    let sweeps: Vec<(String, String)> = app
        .db(|c| loam_db::jobs::kinds_and_payloads(c, loam_db::jobs::ALERT_SWEEP))
        .await;
    let periods: std::collections::BTreeSet<&String> = sweeps.iter().map(|(_, p)| p).collect();
    assert!(sweeps.len() >= 3, "{sweeps:?}");
    assert_eq!(
        periods.len(),
        sweeps.len(),
        "one evaluation job per period: {sweeps:?}"
    );
}

async fn a_rule_falls_quiet_when_its_owner_loses_the_cell_and_rules_are_capped(backend: Backend) {
    let app = fast(backend).await;
    let bea = app.signed_in("bea@example.test").await;
    let ana = app.signed_in(OWNER).await;
    let cell = app.cell(&bea, "bea@example.test", "bea's field").await;
    let logger = app.logger(&bea, "bea@example.test", "bea-1").await;
    let key = app.device_key(&bea, logger, &["ingest"]).await;
    let shared = app
        .as_person(Method::POST, &format!("/api/cell/{cell}/share"), &bea)
        .json(&json!({"email": OWNER}))
        .send()
        .await
        .expect("request");
    assert_eq!(shared.status(), 200);
    let threshold = json!({"kind": "threshold", "series": "power.voltage", "side": "below",
        "bound": 2.9, "for_minutes": 0});
    let (status, rule) = send(
        &app,
        &ana,
        Method::POST,
        "/api/alerts",
        Some(json!({"name": "bea's battery", "cell_id": cell, "condition": threshold})),
    )
    .await;
    assert_eq!(status, 201, "{rule}");
    let rule_id = rule["id"].as_i64().expect("id");
    let low = app
        .upload(
            frames::power(now_secs(), cell, logger, 2.5, 0.001),
            false,
            Some(&key),
        )
        .await;
    assert_eq!(low.status(), 200);
    assert!(
        eventually(10, || async {
            events(&app, &ana, rule_id).await.len() == 1
        })
        .await
    );

    // Bea removes Ana from the cell: Ana's rule no longer tells her anything about it.
    let ana_id = app
        .db(|c| loam_db::users::find_by_email(c, OWNER))
        .await
        .expect("account")
        .id;
    let removed = app
        .as_person(
            Method::DELETE,
            &format!("/api/cell/{cell}/users/{ana_id}"),
            &bea,
        )
        .send()
        .await
        .expect("request");
    assert!(removed.status().is_success(), "{}", removed.status());
    let high = app
        .upload(
            frames::power(now_secs() + 1, cell, logger, 3.3, 0.001),
            false,
            Some(&key),
        )
        .await;
    assert_eq!(high.status(), 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        events(&app, &ana, rule_id).await.len(),
        1,
        "no resolved event for a cell she lost"
    );
    let (_, skipped) = send(
        &app,
        &ana,
        Method::GET,
        &format!("/api/alerts/{rule_id}"),
        None,
    )
    .await;
    assert_eq!(
        skipped["state"], "ok",
        "a rule that cannot watch is not firing: {skipped}"
    );

    // At most 500 rules a person, also when 530 requests race (the rule above is one): 499
    // more are made, the other 31 are refused with 409.
    let silence = json!({"kind": "silence", "minutes": 60});
    let mine = app.logger(&ana, OWNER, "ana-1").await;
    let mut racing = tokio::task::JoinSet::new();
    for n in 0..530 {
        let request = app
            .client
            .post(app.url("/api/alerts"))
            .header("authorization", ana.bearer())
            .json(&json!({"name": format!("r{n}"), "logger_id": mine, "condition": silence, "enabled": false}));
        racing.spawn(async move { request.send().await.expect("request").status().as_u16() });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(status) = racing.join_next().await {
        *statuses.entry(status.expect("task")).or_insert(0) += 1;
    }
    assert_eq!(
        statuses,
        [(201, 499), (409, 31)].into_iter().collect(),
        "{statuses:?}"
    );
    let (status, refused) = send(
        &app,
        &ana,
        Method::POST,
        "/api/alerts",
        Some(json!({"name": "one too many", "logger_id": mine, "condition": silence})),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "conflict");
    let (_, all) = send(&app, &ana, Method::GET, "/api/alerts", None).await;
    assert_eq!(all.as_array().map(Vec::len), Some(500));
}
