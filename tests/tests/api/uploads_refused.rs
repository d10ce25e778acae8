//! Every documented refusal, one request each: unknown ids answer 404, malformed input (or a
//! repeated addition) 400, input breaking a rule 422, a wrong content type 415 — each with a JSON body saying why, and
//! none of them changing anything (the cell and logger read back unchanged at the end).

use loam_tests::{Backend, Options, Session, TestApp, backend_tests};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    refusals_answer_as_documented,
    json_uploads_answer_their_documented_refusals,
    typed_json_bodies_are_refused_alike,
    oversized_bodies_are_refused_alike,
    switched_off_integrations_say_so
);

const OWNER: &str = "owner@example.test";
const NO_ID: i64 = 987_654;
const NO_UUID: &str = "00000000-0000-4000-8000-000000000000";
const NO_JOB: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
const T0: u32 = 1_767_225_600;

/// Who sends a case's request.
#[derive(Clone, Copy)]
enum Who {
    Owner,
    Admin,
    Device,
    Nobody,
    BadToken,
}

/// What a case's request carries.
enum Body {
    None,
    Json(Value),
    Raw(&'static str, &'static str),
}

struct Case {
    who: Who,
    method: Method,
    path: String,
    body: Body,
    status: u16,
}

fn case(who: Who, method: Method, path: impl Into<String>, body: Body, status: u16) -> Case {
    Case {
        who,
        method,
        path: path.into(),
        body,
        status,
    }
}

struct Callers {
    owner: Session,
    admin: Session,
    device_key: String,
}

async fn send(app: &TestApp, callers: &Callers, c: &Case) -> reqwest::Response {
    let mut req = app.client.request(c.method.clone(), app.url(&c.path));
    req = match c.who {
        Who::Owner => req.header("authorization", callers.owner.bearer()),
        Who::Admin => req.header("authorization", callers.admin.bearer()),
        Who::Device => req.header("x-api-key", &callers.device_key),
        Who::Nobody => req,
        Who::BadToken => req.header("authorization", "Bearer not-a-token"),
    };
    req = match &c.body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Raw(content_type, text) => req.header("content-type", *content_type).body(*text),
    };
    req.send().await.expect("request")
}

async fn refusals_answer_as_documented(backend: Backend) {
    use Body::{Json, None as Empty, Raw};
    use Method as M;
    use Who::{Admin, BadToken, Device, Owner};
    let app = TestApp::spawn(backend).await;
    let callers = Callers {
        owner: app.signed_in(OWNER).await,
        admin: app.admin("admin@example.test").await,
        device_key: String::new(),
    };
    let cell = app.cell(&callers.owner, OWNER, "field-1").await;
    let logger = app.logger(&callers.owner, OWNER, "logger-1").await;
    let callers = Callers {
        device_key: app
            .device_key(&callers.owner, logger, &["ingest", "read"])
            .await,
        ..callers
    };
    let tag: Value = app
        .as_person(M::POST, "/api/tag/", &callers.owner)
        .json(&json!({"name": "orchard"}))
        .send()
        .await
        .expect("tag")
        .json()
        .await
        .expect("json");
    let tag = tag["tag"]["id"].as_i64().expect("tag id");
    let members: Value = app
        .as_person(M::GET, &format!("/api/cell/{cell}/users"), &callers.owner)
        .send()
        .await
        .expect("members")
        .json()
        .await
        .expect("json");
    let owner_id = members[0]["id"]
        .as_str()
        .expect("the owner is a member")
        .to_owned();
    let long = "x".repeat(300);
    #[rustfmt::skip]
    let cases = [
        // Unknown ids: one 404 each, whatever the resource.
        case(Owner, M::DELETE, format!("/api/cell/{cell}/tags/{NO_ID}"), Empty, 404),
        case(Owner, M::PUT, format!("/api/cell/{cell}/tags/{NO_ID}"), Empty, 404),
        case(Owner, M::DELETE, format!("/api/cell/{cell}/users/{NO_UUID}"), Empty, 404),
        case(Owner, M::PUT, format!("/api/cell/{cell}/users/{NO_UUID}"), Empty, 404),
        case(Owner, M::POST, format!("/api/cell/{NO_ID}/share"), Json(json!({"email": OWNER})), 404),
        case(Owner, M::POST, format!("/api/cell/{NO_ID}/users"), Json(json!({"user_ids": []})), 404),
        case(Owner, M::GET, format!("/api/cell/{NO_ID}/sensors"), Empty, 404),
        case(Owner, M::GET, format!("/api/teros/{NO_ID}"), Empty, 404),
        case(Owner, M::GET, format!("/api/sensor/?name=bme280&measurement=temperature&cellId={NO_ID}"), Empty, 404),
        case(Owner, M::GET, format!("/api/cell/datas?cellIds={NO_ID}"), Empty, 404),
        case(Owner, M::DELETE, format!("/api/jobs/{NO_JOB}"), Empty, 404),
        case(Owner, M::GET, format!("/api/status/{NO_JOB}"), Empty, 404),
        case(Owner, M::DELETE, format!("/api/logger/{logger}/keys/{NO_JOB}"), Empty, 404),
        case(Owner, M::POST, format!("/api/logger/{NO_ID}/keys"), Json(json!({"name": "k", "scopes": ["ingest"]})), 404),
        case(Owner, M::PUT, format!("/api/logger/{NO_ID}"), Json(json!({"name": "renamed"})), 404),
        case(Owner, M::GET, format!("/api/tag/{NO_ID}"), Empty, 404),
        case(Owner, M::GET, format!("/api/tags/{NO_ID}/cells"), Empty, 404),
        case(Admin, M::GET, format!("/api/users/{NO_UUID}/cells"), Empty, 404),
        case(Owner, M::GET, "/api/firmware/no-such-image/1.0.0", Empty, 404),
        case(Owner, M::GET, "/api/firmware/no-such-image/1.0.0/download", Empty, 404),
        case(Device, M::POST, "/api/teros/", Json(json!({"cell": "no-such-cell", "ts": 1.7e9, "vwc": 0.2, "raw_vwc": 2000.0, "temp": 20.0, "ec": 100.0}),), 404),
        case(Owner, M::GET, format!("/api/sensor_json/?name=bme280&measurement=temperature&cellId={NO_ID}"), Empty, 404),
        // Path ids that are no id (negative, too large, not UTF-8): the same JSON 404 everywhere.
        case(Admin, M::PUT, "/api/logger/-1/quota", Json(json!({"available_slots": 1})), 404),
        case(Owner, M::POST, "/api/logger/-1/enrol", Json(json!({"public_key": "00"})), 404),
        case(Owner, M::GET, "/api/logger/-1/firmware", Empty, 404),
        case(Owner, M::PUT, "/api/logger/4294967296/firmware", Json(json!({"name": "image", "version": "1.0.0"})), 404),
        case(Owner, M::GET, "/api/logger/x/keys", Empty, 404),
        case(Owner, M::GET, "/api/firmware/%FF", Empty, 404),
        case(Owner, M::GET, "/api/firmware/%FF/1.0.0", Empty, 404),
        // Malformed input: 400.
        case(Owner, M::GET, "/api/catalog/sensors", Empty, 400),
        case(Owner, M::GET, "/api/cell/datas", Empty, 400),
        case(Owner, M::GET, "/api/data-availability/", Empty, 400),
        case(Owner, M::GET, "/api/sensor_json/?name=bme280", Empty, 400),
        case(Owner, M::GET, format!("/api/logger/{logger}/receipts/not-hex"), Empty, 400),
        case(Owner, M::POST, format!("/api/cell/{cell}/tags"), Json(json!({"tag_ids": "1"})), 400),
        case(Owner, M::POST, format!("/api/cell/{cell}/users"), Json(json!({"user_ids": "x"})), 400),
        case(Owner, M::PUT, format!("/api/cell/{cell}/users/{owner_id}"), Empty, 400),
        case(Owner, M::POST, "/api/equations/validate", Json(json!({"expression": "1 +"})), 400),
        case(Owner, M::POST, "/api/logger/", Raw("application/json", "{"), 400),
        case(Owner, M::PUT, format!("/api/cell/{cell}"), Raw("application/json", "{"), 400),
        case(Owner, M::PUT, format!("/api/logger/{logger}"), Raw("application/json", "{"), 400),
        case(Owner, M::PUT, format!("/api/tag/{tag}"), Raw("application/json", "{"), 400),
        case(Owner, M::PUT, "/api/user", Raw("application/json", "{"), 400),
        case(Admin, M::POST, "/api/opendata/approve?year=2026", Empty, 400),
        // Input breaking a rule: 422.
        case(Who::Nobody, M::POST, "/api/auth/login", Json(json!({"email": OWNER})), 422),
        case(Owner, M::POST, "/api/logger/", Json(json!({"name": long, "userEmail": OWNER})), 422),
        case(Owner, M::POST, format!("/api/logger/{logger}/keys"), Json(json!({"name": "", "scopes": []})), 422),
        case(Owner, M::PUT, format!("/api/logger/{logger}/firmware"), Json(json!({"name": "", "version": "1"})), 422),
        case(Owner, M::PUT, format!("/api/logger/{logger}/firmware"), Json(json!({"name": "bad name!", "version": "1"})), 422),
        case(Admin, M::PUT, format!("/api/logger/{logger}/quota"), Json(json!({"available_slots": -1})), 422),
        case(Owner, M::PUT, "/api/user", Json(json!({"first_name": long})), 422),
        case(Device, M::POST, "/api/power/", Json(json!({"logger": "", "cell": "", "ts": 1.7e9, "v": 1.0, "i": 1.0})), 422),
        // A body in a type the operation does not take: 415.
        case(Owner, M::POST, format!("/api/logger/{logger}/enrol"), Raw("text/plain", "key"), 415),
        // Credentials sent and invalid, on an operation anyone may call: 401.
        case(BadToken, M::GET, "/api/cell/id", Empty, 401),
        case(BadToken, M::GET, format!("/api/power/{cell}"), Empty, 401),
    ];
    for c in &cases {
        let res = send(&app, &callers, c).await;
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        assert_eq!(status, c.status, "{} {}: {text}", c.method, c.path);
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} {} answered non-JSON ({e}): {text}", c.method, c.path));
        assert!(
            body["error"].is_object() || body["error"].is_string() || body["message"].is_string(),
            "{} {}: no explanation in {text}",
            c.method,
            c.path
        );
    }
    // Nothing a refusal touched changed.
    let read = |path: String| {
        let app = &app;
        let owner = &callers.owner;
        async move {
            app.as_person(M::GET, &path, owner)
                .send()
                .await
                .expect("read")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    assert_eq!(
        read(format!("/api/logger/{logger}")).await["name"],
        "logger-1"
    );
    assert_eq!(read(format!("/api/cell/{cell}")).await["name"], "field-1");
    assert_eq!(read(format!("/api/cell/{cell}/tags")).await, json!([]));
    assert_eq!(
        read(format!("/api/logger/{logger}/keys"))
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

/// The JSON upload path's refusals: a reused locator (409), an exhausted quota (429), and in
/// ENTS mode an unknown cell (501, ENTS's `ERROR` bytes).
async fn json_uploads_answer_their_documented_refusals(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            ents_compat: true,
            tweak: Some(Box::new(|c| c.receipt_slots = 1)),
            ..Options::default()
        },
    )
    .await;
    let owner = app.signed_in(OWNER).await;
    let cell = app.cell(&owner, OWNER, "field-1").await;
    let logger = app.logger(&owner, OWNER, "logger-1").await;
    let key = app.device_key(&owner, logger, &["ingest"]).await;
    let post = |body: Value, locator: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.url("/api/sensor_json/"))
            .header("x-api-key", &key)
            .json(&body);
        if let Some(l) = locator {
            req = req.header("loam-locator", l);
        }
        req.send()
    };
    let reading = |ts: u32| {
        json!({"type": "power", "cellId": cell, "loggerId": logger, "ts": ts,
               "data": {"voltage": 1.5, "current": 0.002}})
    };
    let locator = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        post(reading(T0), Some(locator))
            .await
            .expect("req")
            .status(),
        200
    );
    let reused = post(reading(T0 + 1), Some(locator)).await.expect("req");
    assert_eq!(reused.status(), 409);
    let body: Value = reused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "locator_reused");

    let device = loam_receipts::ServerKey::from_seed([9; 32]).public_key_hex();
    let enrolled = app
        .as_person(Method::POST, &format!("/api/logger/{logger}/enrol"), &owner)
        .json(&json!({"public_key": device}))
        .send()
        .await
        .expect("enrol");
    assert_eq!(enrolled.status(), 200);
    assert_eq!(
        post(reading(T0 + 2), None).await.expect("req").status(),
        200
    );
    let exhausted = post(reading(T0 + 3), None).await.expect("req");
    assert_eq!(exhausted.status(), 429);
    let body: Value = exhausted.json().await.expect("json");
    assert_eq!(body["error"]["code"], "quota_exhausted");

    let unknown = app
        .client
        .post(app.url("/api/sensor_json/"))
        .json(
            &json!({"type": "power", "cellId": NO_ID, "loggerId": NO_ID, "ts": T0,
                      "data": {"voltage": 1.5, "current": 0.002}}),
        )
        .send()
        .await
        .expect("req");
    assert_eq!(unknown.status(), 501);
    assert_eq!(&unknown.bytes().await.expect("bytes")[..], [0x08, 0x01]);
}

/// Every operation whose JSON body has a declared schema refuses a body it cannot read in the
/// same three ways, before the handler runs, and documents each (the route builder adds them):
/// no JSON content type 415, malformed JSON 400, JSON of the wrong shape 422.
async fn typed_json_bodies_are_refused_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin("admin@example.test").await;
    let logger = app.logger(&admin, "admin@example.test", "logger-1").await;
    let device_key = app.device_key(&admin, logger, &["ingest"]).await;
    let mut checked = Vec::new();
    for op in app.operations().await {
        let schema = &op.doc["requestBody"]["content"]["application/json"]["schema"];
        if !schema["$ref"].is_string() {
            continue;
        }
        let method = Method::from_bytes(op.method.as_bytes()).expect("method");
        let path = op.sample_path();
        let device_only = op.device_only();
        for (content_type, body, status, code) in [
            (None, "", 415, "unsupported_media_type"),
            (Some("text/plain"), "{}", 415, "unsupported_media_type"),
            (Some("application/json"), "{", 400, "invalid_json"),
            (
                Some("application/json"),
                "\"text\"",
                422,
                "validation_failed",
            ),
        ] {
            let mut req = app.client.request(method.clone(), app.url(&path));
            req = if device_only {
                req.header("x-api-key", &device_key)
            } else {
                req.header("authorization", admin.bearer())
            };
            if let Some(content_type) = content_type {
                req = req.header("content-type", content_type);
            }
            let res = req.body(body).send().await.expect("request");
            let answered = res.status().as_u16();
            let text = res.text().await.expect("body");
            let what = format!("{} {} with {content_type:?} {body:?}", op.method, op.path);
            assert_eq!(answered, status, "{what}: {text}");
            let err: Value = serde_json::from_str(&text).expect("a JSON error body");
            assert_eq!(err["error"]["code"], code, "{what}: {text}");
            assert!(
                op.doc["responses"].get(status.to_string()).is_some(),
                "{what} is not documented"
            );
        }
        checked.push(format!("{} {}", op.method, op.path));
    }
    assert!(checked.len() >= 15, "only {checked:?}");
    assert!(checked.contains(&"PUT /api/logger/{logger_id}/quota".to_owned()));
    assert!(checked.contains(&"POST /api/auth/login".to_owned()));
}

/// Every operation that reads a body refuses one past `LOAM_BODY_LIMIT_BYTES` with a 413 in the
/// JSON envelope (whichever extractor reads it: JSON, protobuf bytes, CSV, multipart) and
/// documents it. Firmware uploads have their own, larger limit and are tested with firmware.
async fn oversized_bodies_are_refused_alike(backend: Backend) {
    const LIMIT: usize = 4096;
    let app = TestApp::spawn_with(
        backend,
        Options {
            tweak: Some(Box::new(|c| c.body_limit_bytes = LIMIT)),
            ..Options::default()
        },
    )
    .await;
    let admin = app.admin("admin@example.test").await;
    let logger = app.logger(&admin, "admin@example.test", "logger-1").await;
    let device_key = app.device_key(&admin, logger, &["ingest"]).await;
    let mut checked = Vec::new();
    for op in app.operations().await {
        let Some(content) = op.doc["requestBody"]["content"].as_object() else {
            continue;
        };
        if op.path == "/api/firmware" && op.method == "POST" {
            continue;
        }
        let media = content
            .keys()
            .next()
            .expect("a documented media type")
            .clone();
        let (content_type, body) = if media == "multipart/form-data" {
            let filler = "x".repeat(4 * LIMIT);
            (
                "multipart/form-data; boundary=LOAMBOUNDARY".to_owned(),
                format!(
                    "--LOAMBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; \
                     filename=\"big.csv\"\r\nContent-Type: text/csv\r\n\r\n{filler}\r\n\
                     --LOAMBOUNDARY--\r\n"
                ),
            )
        } else if media == "application/json" {
            (
                media,
                format!("{{\"name\": \"{}\"}}", "x".repeat(4 * LIMIT)),
            )
        } else {
            (media, "x".repeat(4 * LIMIT))
        };
        let method = Method::from_bytes(op.method.as_bytes()).expect("method");
        let path = op.sample_path();
        let device_only = op.device_only();
        let req = app.client.request(method, app.url(&path));
        let req = if device_only {
            req.header("x-api-key", &device_key)
        } else {
            req.header("authorization", admin.bearer())
        };
        let res = req
            .header("content-type", &content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        let what = format!("{} {} ({content_type})", op.method, op.path);
        let answered = res.status().as_u16();
        let text = res.text().await.expect("body");
        assert_eq!(answered, 413, "{what}: {text}");
        let err: Value = serde_json::from_str(&text).expect("a JSON error body");
        assert_eq!(err["error"]["code"], "payload_too_large", "{what}: {text}");
        assert!(
            op.doc["responses"].get("413").is_some(),
            "{what}: 413 is not documented"
        );
        checked.push(format!("{} {}", op.method, op.path));
    }
    assert!(
        checked.contains(&"POST /api/sensor/".to_owned()),
        "{checked:?}"
    );
    assert!(
        checked.contains(&"POST /api/auth/login".to_owned()),
        "{checked:?}"
    );
}

/// OIDC sign-in and TTN sync switched off (their settings unset) answer 503 saying so, not as
/// if a dependency were down.
async fn switched_off_integrations_say_so(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in(OWNER).await;
    let logger = app.logger(&owner, OWNER, "logger-1").await;
    let ttn = format!("/api/logger/{logger}/ttn");
    let register = json!({"dev_eui": "70B3D57ED000ABCD", "join_eui": "0000000000000001",
                          "app_key": "00112233445566778899AABBCCDDEEFF"});
    let answers = [
        ("OIDC", app.get("/api/oauth/url").await),
        ("OIDC", app.get("/api/auth/token?code=abc&state=xyz").await),
        (
            "The Things Network",
            app.as_person(Method::GET, &ttn, &owner)
                .send()
                .await
                .expect("req"),
        ),
        (
            "The Things Network",
            app.as_person(Method::POST, &ttn, &owner)
                .json(&register)
                .send()
                .await
                .expect("req"),
        ),
        (
            "The Things Network",
            app.as_person(Method::DELETE, &ttn, &owner)
                .send()
                .await
                .expect("req"),
        ),
    ];
    for (integration, res) in answers {
        assert_eq!(res.status(), 503, "{integration}");
        let err: Value = res.json().await.expect("json");
        assert_eq!(err["error"]["code"], "not_configured", "{err}");
        let message = err["error"]["message"].as_str().expect("message");
        assert!(
            message.contains(integration) && message.contains("is not configured"),
            "{message}"
        );
    }
}
