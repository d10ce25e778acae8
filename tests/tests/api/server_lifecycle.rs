//! Cross-cutting behaviour of the server itself: CORS from configuration, the request deadline
//! (and streamed uploads bounded by silence instead), and graceful shutdown that lets in-flight
//! requests finish.

use std::time::Duration;

use loam_tests::{Backend, Options, TestApp, backend_tests};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

backend_tests!(streamed_uploads_are_bounded_by_silence_not_by_the_deadline);

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

/// Sends `head` then `body` in `pieces`, pausing `pause` between them, and returns the status line.
async fn trickle(
    app: &TestApp,
    head: String,
    body: &[u8],
    pieces: usize,
    pause: Duration,
) -> String {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    for piece in body.chunks(body.len().div_ceil(pieces)) {
        tokio::time::sleep(pause).await;
        if stream.write_all(piece).await.is_err() {
            break;
        }
    }
    status_line(&mut stream).await
}

async fn streamed_uploads_are_bounded_by_silence_not_by_the_deadline(backend: Backend) {
    // A 1 s request deadline, and uploads may pause up to 2 s between bytes.
    let app = TestApp::spawn_with(
        backend,
        with(|c| {
            c.request_timeout_secs = 1;
            c.upload_idle_secs = 2;
        }),
    )
    .await;
    let email = "slow-link@example.test";
    let s = app.signed_in(email).await;
    let boundary = "loamboundary";
    let form = |version: &str| {
        let mut body = Vec::new();
        for (name, value) in [("name", "slow_fw"), ("version", version)] {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fw.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(&[7u8; 64 * 1024]);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    };
    let body = form("1.0.0");
    let head = |path: &str, content_type: &str, len: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: loam\r\nAuthorization: Bearer {}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
            s.access_token
        )
    };
    // Four pauses of 0.8 s: 3.2 s in all, three times the request deadline, never silent for 2 s.
    let line = trickle(
        &app,
        head(
            "/api/firmware",
            &format!("multipart/form-data; boundary={boundary}"),
            body.len(),
        ),
        &body,
        4,
        Duration::from_millis(800),
    )
    .await;
    assert!(
        line.starts_with("HTTP/1.1 201"),
        "a slow but steady upload is published: {line}"
    );

    // The same upload stopping half way is answered 408 once it has been silent for 2 s.
    let second = form("2.0.0");
    let text = stalled(
        &app,
        head(
            "/api/firmware",
            &format!("multipart/form-data; boundary={boundary}"),
            second.len(),
        ),
        &second[..second.len() / 2],
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let kept = app
        .as_person(reqwest::Method::GET, "/api/firmware/slow_fw/2.0.0", &s)
        .send()
        .await
        .expect("request");
    assert_eq!(
        kept.status(),
        404,
        "nothing of the stalled upload was published"
    );

    // A CSV import that stops half way is answered 408 after 2 s of silence.
    let cell = app.cell(&s, email, "slow").await;
    let logger = app.logger(&s, email, "slow-logger").await;
    let csv =
        b"timestamp,Voltage (mV),Current (uA),Power (uW),EC (uS/cm),VWC (%),Temperature (C)\n";
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let path = format!("/api/cell/{cell}/import?logger_id={logger}");
    stream
        .write_all(head(&path, "text/csv", csv.len() + 1000).as_bytes())
        .await
        .expect("head");
    stream.write_all(csv).await.expect("first bytes");
    let started = std::time::Instant::now();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("upload_stalled"), "{text}");
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "not before 2 s of silence"
    );
}

/// Sends `head` and the start of a body that never finishes; returns what the server answered.
async fn stalled(app: &TestApp, head: String, start: &[u8]) -> String {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(start).await.expect("first bytes");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}
