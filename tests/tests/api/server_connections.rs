//! Connection hygiene: idle and slow clients cannot hold the server's sockets or slow down
//! everyone else, and connections past the cap are refused at once with a JSON 503.

use std::time::{Duration, Instant};

use loam_tests::{Backend, Options, TestApp, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server(max_connections: usize, idle_timeout_secs: u64) -> TestApp {
    TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            tweak: Some(Box::new(move |c| {
                c.max_connections = max_connections;
                c.idle_timeout_secs = idle_timeout_secs;
            })),
            ..Options::default()
        },
    )
    .await
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Whether the server has closed this connection (EOF or reset), waiting at most `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// 700 idle connections and 300 slowloris ones (a header byte every half second) leave
/// `/healthz` answering at once, and the server closes them all after the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_and_slow_clients_do_not_slow_healthz() {
    let app = server(5000, 2).await;
    let target = addr(&app);
    let mut idle = Vec::new();
    for _ in 0..700 {
        idle.push(TcpStream::connect(&target).await.expect("connect"));
    }
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(&target).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: loam\r\n")
            .await
            .expect("write");
        slow.push(s);
    }
    let dribble = tokio::spawn(async move {
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            for s in &mut slow {
                let _ = s.write_all(b"X").await;
            }
        }
        slow
    });
    let client = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let res = client
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(res.status(), 200);
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Without limits a connection flood made this time out (30 s); here it is immediate.
    assert!(
        slowest < Duration::from_secs(1),
        "slowest /healthz {slowest:?}"
    );
    let mut slow = dribble.await.expect("task");
    for s in idle
        .iter_mut()
        .step_by(35)
        .chain(slow.iter_mut().step_by(15))
    {
        assert!(
            closed_by_server(s, Duration::from_secs(5)).await,
            "a silent or dribbling connection outlived the idle timeout"
        );
    }
}

/// Past `LOAM_MAX_CONNECTIONS` a connection gets 503 with `Retry-After` and the JSON error
/// envelope at once; when connections close, new ones are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_refused_with_a_json_503() {
    let app = server(20, 30).await;
    let target = addr(&app);
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(&target).await.expect("connect"));
    }
    // Let the server accept them all before the next one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let res = client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("an answer, not a hang");
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "too_many_connections");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(held);
    assert!(
        eventually(5, || async {
            reqwest::Client::new()
                .get(app.url("/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await,
        "served again once connections closed"
    );
}
