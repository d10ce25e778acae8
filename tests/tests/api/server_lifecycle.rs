//! Cross-cutting behaviour of the server itself: CORS from configuration, the request deadline,
//! and graceful shutdown that lets in-flight requests finish.

use std::time::Duration;

use loam_tests::{Backend, Options, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn with(tweak: impl FnOnce(&mut loam_config::Config) + Send + 'static) -> Options {
    Options {
        tweak: Some(Box::new(tweak)),
        ..Options::default()
    }
}

/// Sends the head of a request whose body has not all arrived yet; returns the open stream.
async fn half_sent_login(app: &TestApp) -> (TcpStream, &'static [u8]) {
    let body: &'static [u8] =
        br#"{"email": "nobody@example.test", "password": "wrong-password-1"}"#;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: loam\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(&body[..10]).await.expect("first bytes");
    (stream, &body[10..])
}

async fn status_line(stream: &mut TcpStream) -> String {
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_follows_configuration() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        with(|c| c.cors_origins = vec!["https://dash.example".into()]),
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/user"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("https://dash.example").await.expect("req");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://dash.example"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let other = preflight("https://evil.example").await.expect("req");
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Same-origin only by default: no CORS headers at all.
    let plain = TestApp::spawn(Backend::Sqlite).await;
    let res = plain
        .client
        .get(plain.url("/api/"))
        .header("origin", "https://dash.example")
        .send()
        .await
        .expect("req");
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_meet_the_deadline() {
    let app = TestApp::spawn_with(Backend::Sqlite, with(|c| c.request_timeout_secs = 1)).await;
    let (mut stream, _rest) = half_sent_login(&app).await;
    let line = status_line(&mut stream).await;
    assert!(line.starts_with("HTTP/1.1 503"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (mut stream, rest) = half_sent_login(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(rest).await.expect("rest of the body");
    let line = status_line(&mut stream).await;
    assert!(
        line.starts_with("HTTP/1.1 401"),
        "the in-flight login was answered: {line}"
    );
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("server stopped")
        .expect("join");
}
