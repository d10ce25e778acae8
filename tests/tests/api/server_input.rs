//! Text no field accepts never reaches the database: a NUL character (U+0000) in a JSON body
//! answers 400 `nul_character` on every route (404 in a path; in a query, a refused series name
//! or a search that matches nothing), on both databases (Postgres
//! cannot store it; SQLite would), and nothing is written.

use loam_tests::{Backend, TestApp, backend_tests};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(nul_characters_are_refused_on_every_route);

async fn nul_characters_are_refused_on_every_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in("owner@example.test").await;
    let logger = app.logger(&owner, "owner@example.test", "logger-1").await;
    let refused = |res: reqwest::Response| async move {
        let status = res.status().as_u16();
        let body: Value = res.json().await.expect("json");
        (status, body["error"]["code"].clone())
    };
    let expected = (400, json!("nul_character"));
    // Anonymous, before any account is found.
    let login = app
        .post_json(
            "/api/auth/login",
            &json!({"email": "a\u{0}@example.test", "password": "x"}),
        )
        .await;
    assert_eq!(refused(login).await, expected);
    for (method, path, body) in [
        (
            Method::POST,
            "/api/cell/".to_owned(),
            json!({"name": "c\u{0}", "location": "x", "latitude": 1.0, "longitude": 1.0}),
        ),
        (
            Method::POST,
            "/api/logger/".to_owned(),
            json!({"name": "l\u{0}", "userEmail": "owner@example.test"}),
        ),
        (
            Method::POST,
            "/api/alerts".to_owned(),
            json!({"name": "a\u{0}", "logger_id": logger, "condition": {"kind": "silence", "minutes": 5}}),
        ),
        (
            Method::POST,
            "/api/alerts".to_owned(),
            json!({"name": "a", "cell_id": 1, "condition": {"kind": "threshold", "series": "sensor/a\u{0}b/c", "side": "above", "bound": 1.0, "for_minutes": 0}}),
        ),
    ] {
        let res = app
            .as_person(method, &path, &owner)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(refused(res).await, expected, "{path} {body}");
    }
    // A series named with a NUL is refused; a search containing one matches nothing.
    let res = app
        .as_person(
            Method::GET,
            "/api/sensor/?name=a%00b&measurement=m&cellId=1",
            &owner,
        )
        .send()
        .await
        .expect("request");
    assert_eq!(refused(res).await, expected);
    for (path, found) in [
        (
            "/api/firmware?search=%00",
            json!({"items": [], "total": 0, "limit": 100, "offset": 0}),
        ),
        ("/api/tag/?search=a%00", json!([])),
        ("/api/cell/?name=a%00", json!([])),
    ] {
        let res = app
            .as_person(Method::GET, path, &owner)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.json::<Value>().await.expect("json"), found, "{path}");
    }
    // Unknown parameters are ignored as ever, NUL or not.
    let res = app
        .as_person(Method::GET, "/api/logger/?x%00=y%00", &owner)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    // A path naming something with a NUL names nothing.
    let res = app
        .as_person(Method::GET, "/api/logger/%00", &owner)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 404);
    // Nothing was made: still the one logger, and no rule.
    for (path, count) in [("/api/logger/", 1), ("/api/alerts", 0)] {
        let list: Value = app
            .as_person(Method::GET, path, &owner)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(list.as_array().map(Vec::len), Some(count), "{path}");
    }
}
