//! MQTT uplinks: TTN and ChirpStack uplinks published to a broker are stored through the same
//! decoders and rules as the HTTP doors, at least once (acknowledged only after the commit) and
//! stored once (a redelivered or republished message adds nothing): through a broker restart,
//! a subscriber restart (the persistent session queues what arrives meanwhile), and against the
//! machine's shared Mosquitto on 127.0.0.1:1883 with topics no other run uses.

use std::time::Duration;

use base64::Engine;
use loam_tests::{Backend, Options, TestApp, backend_tests, eventually, frames};
use loam_uplinks::mqtt::{Settings, Subscriber};
use reqwest::Method;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

use crate::chirpstack::{up_event, user_key};

backend_tests!(
    shared_broker_uplinks_from_ttn_and_chirpstack_are_stored_once,
    broker_and_subscriber_restarts_lose_nothing,
    mqtt_refuses_to_start_without_a_key_outside_compatibility_mode,
    loam_takes_mqtt_uplinks_itself_without_redis,
);

/// 2024-01-13 18:00:05 UTC.
const T0: u32 = 1_705_168_805;
const OWNER: &str = "owner@example.test";

/// A Mosquitto of this test's own on a free port, persisting its sessions and queued messages
/// in a temporary folder so they survive a restart.
struct Broker {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl Broker {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let dir = tempfile::tempdir().expect("dir");
        // Started as root, Mosquitto drops to its own user, which must be able to save here.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .expect("chmod");
        }
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n",
                dir.path().display()
            ),
        )
        .expect("config");
        let mut broker = Self {
            port,
            dir,
            child: None,
        };
        broker.restart();
        broker
    }

    /// Starts Mosquitto on the same port with the same persistence, and waits until it listens.
    fn restart(&mut self) {
        let child = std::process::Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto runs (apt-get install mosquitto)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("mosquitto did not listen on {}", self.port);
    }

    /// Stops it as an operator would (SIGTERM: it saves its sessions and queued messages).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Publishes with QoS 1 until the broker acknowledges, retrying (on a new connection) through
/// broker outages, as a network server's own publisher does.
async fn publish_confirmed(port: u16, topic: &str, payload: Vec<u8>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        let id = format!("pub-{}", ulid::Ulid::new());
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(8 << 20, 8 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 10);
        let attempt = async {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload.clone())
                .await
                .ok()?;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => return Some(()),
                    Ok(_) => {}
                    Err(_) => return None,
                }
            }
        };
        let acked = tokio::time::timeout(Duration::from_secs(3), attempt).await;
        let _ = client.try_disconnect();
        if matches!(acked, Ok(Some(()))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the broker never acknowledged {topic}");
}

fn settings(port: u16, prefix: &str, key: Option<String>, ents_compat: bool) -> Settings {
    Settings {
        host: "127.0.0.1".into(),
        port,
        credentials: None,
        topics: vec![
            format!("{prefix}/v3/+/devices/+/up"),
            format!("{prefix}/application/+/device/+/event/up"),
        ],
        client_id: format!("loam-{prefix}"),
        key: key.map(loam_config::Secret::new),
        ents_compat,
        raw_retention_days: None,
        max_payload: 256 * 1024,
    }
}

async fn subscribed(app: &TestApp, settings: Settings) -> Subscriber {
    let subscriber = loam_uplinks::mqtt::start(app.state.db().clone(), settings)
        .await
        .expect("MQTT starts");
    assert!(
        eventually(10, || async { subscriber.status.describe() == "connected" }).await,
        "subscribed"
    );
    subscriber
}

fn ttn_uplink(frame: &[u8]) -> Vec<u8> {
    let body = json!({
        "end_device_ids": {"device_id": "dirtviz-1", "application_ids": {"application_id": "soil"}},
        "uplink_message": {
            "f_port": 1,
            "frm_payload": base64::engine::general_purpose::STANDARD.encode(frame),
        }
    });
    serde_json::to_vec(&body).expect("json")
}

fn chirpstack_uplink(frame: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&up_event(Some(1), Some(frame))).expect("json")
}

struct Site {
    app: TestApp,
    session: loam_tests::Session,
    cell: i64,
    logger: i64,
}

async fn site(backend: Backend) -> Site {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_in(OWNER).await;
    let cell = app.cell(&session, OWNER, "field-1").await;
    let logger = app.logger(&session, OWNER, "logger-1").await;
    Site {
        app,
        session,
        cell,
        logger,
    }
}

/// The stored power timestamps of the cell (raw rows).
async fn stored_times(app: &TestApp, session: &loam_tests::Session, cell: i64) -> Vec<Value> {
    let q = [
        ("startTime", loam_tests::http_date(i64::from(T0 - 10))),
        ("endTime", loam_tests::http_date(i64::from(T0 + 10_000))),
        ("resample", "none".to_owned()),
    ];
    let res = app
        .as_person(Method::GET, &format!("/api/power/{cell}"), session)
        .query(&q)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    body["timestamp"].as_array().cloned().unwrap_or_default()
}

async fn rows_become(s: &Site, cell: i64, n: usize) -> bool {
    eventually(30, || async {
        stored_times(&s.app, &s.session, cell).await.len() >= n
    })
    .await
        && stored_times(&s.app, &s.session, cell).await.len() == n
}

async fn shared_broker_uplinks_from_ttn_and_chirpstack_are_stored_once(backend: Backend) {
    let s = site(backend).await;
    let key = user_key(&s.app, &s.session).await;
    let prefix = format!("loam-test-{}", ulid::Ulid::new());
    let subscriber = subscribed(&s.app, settings(1883, &prefix, Some(key), false)).await;
    let ttn = format!("{prefix}/v3/soil@ttn/devices/dirtviz-1/up");
    let chirpstack = format!("{prefix}/application/17c8/device/0101010101010101/event/up");
    let first = ttn_uplink(&frames::power(T0, s.cell, s.logger, 0.5, 0.001));
    publish_confirmed(1883, &ttn, first.clone()).await;
    publish_confirmed(
        1883,
        &chirpstack,
        chirpstack_uplink(&frames::power(T0 + 1, s.cell, s.logger, 0.6, 0.001)),
    )
    .await;
    // Undecodable and refused messages are acknowledged, not retried forever, and store nothing.
    publish_confirmed(1883, &ttn, b"not json".to_vec()).await;
    publish_confirmed(1883, &chirpstack, chirpstack_uplink(b"garbage")).await;
    let stranger = s.app.signed_in("stranger@example.test").await;
    let theirs = s
        .app
        .cell(&stranger, "stranger@example.test", "theirs")
        .await;
    publish_confirmed(
        1883,
        &ttn,
        ttn_uplink(&frames::power(T0 + 2, theirs, s.logger, 0.5, 0.001)),
    )
    .await;
    // A payload past the limit (2 MiB: more than MQTT clients read by default) is refused and
    // acknowledged; what follows it still flows.
    publish_confirmed(1883, &ttn, vec![b'a'; 2 << 20]).await;
    // The same uplink again (a redelivery) stores nothing new.
    publish_confirmed(1883, &ttn, first).await;
    publish_confirmed(
        1883,
        &chirpstack,
        chirpstack_uplink(&frames::power(T0 + 3, s.cell, s.logger, 0.7, 0.001)),
    )
    .await;
    assert!(
        rows_become(&s, s.cell, 3).await,
        "{:?}",
        stored_times(&s.app, &s.session, s.cell).await
    );
    assert!(
        eventually(10, || async { subscriber.status.stored() >= 8 }).await,
        "every message was handled and acknowledged: {}",
        subscriber.status.stored()
    );
    assert!(stored_times(&s.app, &stranger, theirs).await.is_empty());
    subscriber.stop();
}

async fn broker_and_subscriber_restarts_lose_nothing(backend: Backend) {
    if std::env::var_os("LOAM_TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("loam_uplinks=debug,rumqttc=debug")
            .try_init();
    }
    let s = site(backend).await;
    let key = user_key(&s.app, &s.session).await;
    let mut broker = Broker::start();
    let prefix = format!("loam-test-{}", ulid::Ulid::new());
    let settings = settings(broker.port, &prefix, Some(key), false);
    let subscriber = subscribed(&s.app, settings.clone()).await;
    let topic = |k: u32| {
        if k.is_multiple_of(2) {
            format!("{prefix}/v3/soil/devices/d{k}/up")
        } else {
            format!("{prefix}/application/1/device/{k:016x}/event/up")
        }
    };
    let uplink = |k: u32| {
        let frame = frames::power(T0 + k, s.cell, s.logger, 0.5, 0.001);
        if k.is_multiple_of(2) {
            ttn_uplink(&frame)
        } else {
            chirpstack_uplink(&frame)
        }
    };
    let mut sent = 0;
    for k in 0..10 {
        publish_confirmed(broker.port, &topic(k), uplink(k)).await;
        sent += 1;
    }
    // The broker goes away mid-stream and comes back on the same port.
    broker.stop();
    let port = broker.port;
    let publisher = tokio::spawn({
        let (topics, uplinks): (Vec<_>, Vec<_>) = (10..20).map(|k| (topic(k), uplink(k))).unzip();
        async move {
            for (t, u) in topics.into_iter().zip(uplinks) {
                publish_confirmed(port, &t, u).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    broker.restart();
    publisher.await.expect("publisher");
    sent += 10;
    // The subscriber goes away too: the broker queues what arrives for its session meanwhile.
    subscriber.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for k in 20..30 {
        publish_confirmed(broker.port, &topic(k), uplink(k)).await;
        sent += 1;
    }
    let again = loam_uplinks::mqtt::start(s.app.state.db().clone(), settings)
        .await
        .expect("restarts");
    // Some were republished: stored once all the same.
    for k in [3, 12, 25] {
        publish_confirmed(broker.port, &topic(k), uplink(k)).await;
    }
    assert!(
        rows_become(&s, s.cell, sent).await,
        "{} of {sent} stored",
        stored_times(&s.app, &s.session, s.cell).await.len()
    );
    again.stop();
}

async fn mqtt_refuses_to_start_without_a_key_outside_compatibility_mode(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let db = app.state.db().clone();
    let prefix = format!("loam-test-{}", ulid::Ulid::new());
    let err = loam_uplinks::mqtt::start(db.clone(), settings(1883, &prefix, None, false))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("LOAM_MQTT_KEY"), "{err}");
    let err = loam_uplinks::mqtt::start(
        db.clone(),
        settings(1883, &prefix, Some("loam_u_nope".into()), false),
    )
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("LOAM_MQTT_KEY"), "{err}");
    let session = app.signed_in(OWNER).await;
    let logger = app.logger(&session, OWNER, "logger-1").await;
    let reader = app.device_key(&session, logger, &["read"]).await;
    let err = loam_uplinks::mqtt::start(db.clone(), settings(1883, &prefix, Some(reader), false))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("ingest scope"), "{err}");
    let compat = loam_uplinks::mqtt::start(db, settings(1883, &prefix, None, true))
        .await
        .expect("compatibility mode stores anonymously");
    compat.stop();
}

async fn loam_takes_mqtt_uplinks_itself_without_redis(backend: Backend) {
    let prefix = format!("loam-test-{}", ulid::Ulid::new());
    let topics = settings(1883, &prefix, None, true).topics;
    let client_id = format!("loam-{prefix}");
    let app = TestApp::spawn_with(
        backend,
        Options {
            ents_compat: true,
            tweak: Some(Box::new(move |c| {
                c.mqtt_url = Some("mqtt://127.0.0.1:1883".into());
                c.mqtt_topics = topics;
                c.mqtt_client_id = client_id;
            })),
            ..Options::default()
        },
    )
    .await;
    let session = app.signed_in(OWNER).await;
    let cell = app.cell(&session, OWNER, "field-1").await;
    let logger = app.logger(&session, OWNER, "logger-1").await;
    let s = Site {
        app,
        session,
        cell,
        logger,
    };
    let topic = format!("{prefix}/v3/soil/devices/dirtviz-1/up");
    // The subscription may still be on its way: publish until the first row lands.
    let landed = eventually(20, || async {
        publish_confirmed(
            1883,
            &topic,
            ttn_uplink(&frames::power(T0, s.cell, s.logger, 0.5, 0.001)),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        !stored_times(&s.app, &s.session, s.cell).await.is_empty()
    })
    .await;
    assert!(landed, "the API process subscribed and stored the uplink");
    assert_eq!(stored_times(&s.app, &s.session, s.cell).await.len(), 1);
}
