//! People's sessions and keys: register, login, refresh rotation and reuse detection, logout
//! scope, forged tokens, the ENTS user key, rate limiting and client addresses.

use loam_tests::{Backend, Options, PASSWORD, TestApp, backend_tests, refresh_cookie_of};
use serde_json::{Value, json};

backend_tests!(
    register_login_and_profile,
    registration_validates_fields_and_refuses_duplicates,
    refresh_rotates_and_reuse_revokes_the_family,
    logout_ends_only_the_presented_login,
    forged_and_expired_tokens_are_refused,
    user_key_is_stored_hashed_and_shown_once,
    failed_logins_are_rate_limited_and_spoofed_forwarding_is_ignored,
    closed_registration_refuses_sign_ups,
);

async fn refresh(app: &TestApp, cookie: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/auth/refresh"))
        .header("cookie", format!("refresh-token={cookie}"))
        .send()
        .await
        .expect("request")
}

async fn me(app: &TestApp, authorization: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/user"))
        .header("authorization", authorization)
        .send()
        .await
        .expect("request")
}

async fn register_login_and_profile(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({"email": "Ada@Example.test", "password": PASSWORD, "first_name": "Ada", "last_name": "L"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["email"], "ada@example.test");
    let text = body.to_string();
    assert!(
        !text.contains(PASSWORD) && !text.contains("argon2") && !text.contains("hash"),
        "{text}"
    );
    // The stored password is an Argon2id hash, never the password.
    let stored = app
        .db(|c| loam_db::users::find_by_email(c, "ada@example.test"))
        .await
        .expect("user row");
    assert!(
        stored
            .password_hash
            .as_deref()
            .is_some_and(|h| h.starts_with("$argon2id$"))
    );

    let session = app.login("ada@example.test").await;
    let profile: Value = me(&app, &session.bearer())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        profile,
        json!({"email": "ada@example.test", "first_name": "Ada", "last_name": "L"})
    );
    let updated = app
        .client
        .put(app.url("/api/user"))
        .header("authorization", session.bearer())
        .json(&json!({"first_name": "Augusta"}))
        .send()
        .await
        .expect("request");
    assert_eq!(
        updated.json::<Value>().await.expect("json")["first_name"],
        "Augusta"
    );
    assert_eq!(app.get("/api/user").await.status(), 401);
}

async fn registration_validates_fields_and_refuses_duplicates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (field, body) in [
        (
            "email",
            json!({"email": "not-an-email", "password": PASSWORD}),
        ),
        (
            "password",
            json!({"email": "x@example.test", "password": "nine-char"}),
        ),
        ("email", json!({"password": PASSWORD})),
    ] {
        let res = app.post_json("/api/auth/register", &body).await;
        assert_eq!(res.status(), 422, "{body}");
        let err: Value = res.json().await.expect("json");
        assert_eq!(err["error"]["code"], "validation_failed");
        assert!(err["error"]["details"][field].is_array(), "{err}");
    }
    let malformed = app
        .client
        .post(app.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(malformed.status(), 400);
    let ok = json!({"email": "dup@example.test", "password": "0123456789"});
    assert_eq!(app.post_json("/api/auth/register", &ok).await.status(), 201);
    let again = app
        .post_json(
            "/api/auth/register",
            &json!({"email": "DUP@example.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status(), 409);
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_in("rot@example.test").await;
    let first = session.refresh_cookie.clone();
    let res = refresh(&app, &first).await;
    assert_eq!(res.status(), 201);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain")
    );
    let second = refresh_cookie_of(&res).expect("rotated cookie");
    assert_ne!(first, second);
    let token = res.text().await.expect("token");
    assert_eq!(me(&app, &format!("Bearer {token}")).await.status(), 200);
    // The digest is stored, never the token.
    let stored = app.db(loam_db::refresh_tokens::all_hashes).await;
    assert!(!stored.is_empty(), "refresh tokens are recorded");
    assert!(!stored.iter().any(|h| h == &first || h == &second));
    assert!(
        stored.contains(&loam_auth::digest_hex(&second)),
        "as digests"
    );

    assert_eq!(
        refresh(&app, &first).await.status(),
        401,
        "reuse is refused"
    );
    assert_eq!(
        refresh(&app, &second).await.status(),
        401,
        "and kills the whole family"
    );
    assert_eq!(refresh(&app, "garbage").await.status(), 401);
}

async fn logout_ends_only_the_presented_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a1 = app.signed_in("a@example.test").await;
    let a2 = app.login("a@example.test").await;
    let b = app.signed_in("b@example.test").await;
    let res = app
        .client
        .post(app.url("/api/auth/logout"))
        .header("cookie", format!("refresh-token={}", a1.refresh_cookie))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 204);
    let cleared = res.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cleared.starts_with("refresh-token=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(refresh(&app, &a1.refresh_cookie).await.status(), 401);
    assert_eq!(
        refresh(&app, &a2.refresh_cookie).await.status(),
        201,
        "the other browser stays in"
    );
    assert_eq!(
        refresh(&app, &b.refresh_cookie).await.status(),
        201,
        "other people stay in"
    );
    assert_eq!(
        app.get("/api/auth/logout").await.status(),
        204,
        "no cookie is fine too"
    );
}

async fn forged_and_expired_tokens_are_refused(backend: Backend) {
    use std::time::Duration;
    let app = TestApp::spawn(backend).await;
    let session = app.signed_in("forge@example.test").await;
    let claims = app
        .state
        .auth()
        .tokens
        .verify(&session.access_token, loam_auth::TokenKind::Access)
        .expect("valid");
    // Same claims, signed by someone else.
    let stranger = loam_auth::TokenKeys::new(b"an-attacker-secret-of-32-bytes!!");
    let foreign = stranger.mint(
        loam_auth::TokenKind::Access,
        &claims.sub,
        "j",
        Duration::from_secs(600),
    );
    assert_eq!(me(&app, &format!("Bearer {foreign}")).await.status(), 401);
    // A refresh token is not an access token.
    let refresh_as_access = app.state.auth().tokens.mint(
        loam_auth::TokenKind::Refresh,
        &claims.sub,
        "j",
        Duration::from_secs(600),
    );
    assert_eq!(
        me(&app, &format!("Bearer {refresh_as_access}"))
            .await
            .status(),
        401
    );
    // Expired (zero lifetime: exp = now, no leeway).
    let expired = app.state.auth().tokens.mint(
        loam_auth::TokenKind::Access,
        &claims.sub,
        "j",
        Duration::ZERO,
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(me(&app, &format!("Bearer {expired}")).await.status(), 401);
    // alg none with the genuine payload.
    let payload = session.access_token.split('.').nth(1).expect("payload");
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    assert_eq!(me(&app, &format!("Bearer {none}")).await.status(), 401);
    assert_eq!(me(&app, "Basic abc").await.status(), 401);
    assert_eq!(me(&app, &session.bearer()).await.status(), 200, "control");
}

async fn user_key_is_stored_hashed_and_shown_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_in("keys@example.test").await;
    let auth = session.bearer();
    let created = app
        .client
        .post(app.url("/api/apikey/"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("req");
    assert_eq!(created.status(), 201);
    let key = created.json::<Value>().await.expect("json")["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    assert!(key.starts_with("loam_uk_") && key.len() == 72);
    // A second key while one exists: ENTS's 409 and its exact body (reference §2.5).
    let again = app
        .client
        .post(app.url("/api/apikey/"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("req");
    assert_eq!(again.status(), 409);
    assert_eq!(
        again.json::<Value>().await.expect("json"),
        json!({"message": "API key already exists. Delete existing key before creating a new one."})
    );
    let shown: Value = app
        .client
        .get(app.url("/api/apikey/"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    let masked = shown["api_key"].as_str().expect("masked");
    assert!(
        masked.ends_with(&key[key.len() - 4..]) && !masked.contains(&key[8..40]),
        "{masked}"
    );
    let digests = app.db(loam_db::api_keys::all_digests).await;
    assert!(
        !digests.iter().any(|d| d.contains(&key[8..])),
        "the key itself is stored"
    );
    assert_eq!(digests.len(), 1);
    // The key works where ENTS's "either" applies, but cannot manage keys.
    let by_key = app
        .client
        .get(app.url("/api/user"))
        .header("x-api-key", &key)
        .send()
        .await
        .expect("req");
    assert_eq!(by_key.status(), 200);
    let manage = app
        .client
        .get(app.url("/api/apikey/"))
        .header("x-api-key", &key)
        .send()
        .await
        .expect("req");
    assert_eq!(manage.status(), 401);
    let deleted = app
        .client
        .delete(app.url("/api/apikey/"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("req");
    assert_eq!(deleted.status(), 200);
    let after = app
        .client
        .get(app.url("/api/user"))
        .header("x-api-key", &key)
        .send()
        .await
        .expect("req");
    assert_eq!(
        after.status(),
        401,
        "revocation applies at once on this replica"
    );
}

async fn failed_logins_are_rate_limited_and_spoofed_forwarding_is_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in("limit@example.test").await;
    let mut limited = None;
    for attempt in 0..20 {
        // A different forged client address on every try: ignored, the peer is not a trusted proxy.
        let res = app
            .client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", format!("198.51.100.{attempt}"))
            .header("x-real-ip", format!("203.0.113.{attempt}"))
            .json(&json!({"email": "limit@example.test", "password": "wrong-password-1"}))
            .send()
            .await
            .expect("request");
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
        assert_eq!(res.status(), 401);
    }
    let limited = limited.expect("never answered 429");
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry > 0 && retry <= 60);
    let err: Value = limited.json().await.expect("json");
    assert_eq!(err["error"]["code"], "rate_limited");
}

async fn closed_registration_refuses_sign_ups(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            tweak: Some(Box::new(|c| {
                c.registration = loam_config::Registration::Closed
            })),
            ..Options::default()
        },
    )
    .await;
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({"email": "no@example.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 403);
    // Operators still create accounts, with the same rules.
    let user = loam_api::accounts::create_user(
        app.state.db(),
        "op@example.test",
        PASSWORD,
        None,
        None,
        true,
    )
    .await
    .expect("created");
    assert!(user.is_admin);
    app.login("op@example.test").await;
}
