//! User administration: only administrators may; searching accounts; admin rights granted and
//! revoked (checked live, not only at sign-in); disabled accounts lose sign-in, sessions, tokens
//! and device keys within 2 s; new passwords end sessions; the last enabled administrator is
//! kept; and the audit trail names who did what to whom.

use base64::Engine;
use loam_tests::{Backend, PASSWORD, Session, TestApp, backend_tests, eventually, frames};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::json_of;

backend_tests!(
    admin_routes_refuse_non_admins_and_unknown_accounts,
    admins_list_and_search_accounts,
    admin_rights_apply_live_to_existing_tokens,
    disabled_accounts_lose_tokens_keys_and_sign_in,
    disabling_elsewhere_takes_effect_within_two_seconds,
    a_new_password_ends_sessions,
    the_last_enabled_admin_is_kept,
    the_audit_trail_names_actor_and_subject,
);

async fn id_of(app: &TestApp, email: &str) -> String {
    let email = email.to_owned();
    app.db(move |c| loam_db::users::find_by_email(c, &email))
        .await
        .expect("an account")
        .id
}

async fn call(app: &TestApp, method: Method, path: &str, session: &Session) -> reqwest::Response {
    app.as_person(method, path, session)
        .send()
        .await
        .expect("request")
}

/// `GET /api/user` with this session's access token: its status.
async fn me_status(app: &TestApp, session: &Session) -> u16 {
    call(app, Method::GET, "/api/user", session)
        .await
        .status()
        .as_u16()
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    let res = app
        .post_json(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn refresh_status(app: &TestApp, session: &Session) -> (u16, Value) {
    let res = app
        .client
        .get(app.url("/api/auth/refresh"))
        .header(
            "cookie",
            format!("refresh-token={}", session.refresh_cookie),
        )
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn adm_claim(token: &str) -> bool {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    let claims: Value = serde_json::from_slice(&bytes).expect("JSON claims");
    claims["adm"].as_bool().unwrap_or(false)
}

async fn admin_routes_refuse_non_admins_and_unknown_accounts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin("root@example.test").await;
    let person = app.signed_in("someone@example.test").await;
    let target = id_of(&app, "root@example.test").await;
    let by_id = [
        (Method::PUT, "admin"),
        (Method::DELETE, "admin"),
        (Method::PUT, "disabled"),
        (Method::DELETE, "disabled"),
        (Method::PUT, "password"),
    ];
    let new_password = json!({"password": "a-long-enough-password"});
    for (method, what) in &by_id {
        let path = format!("/api/admin/users/{target}/{what}");
        let res = app
            .as_person(method.clone(), &path, &person)
            .json(&new_password)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 403, "{method} {path}");
        let err = json_of(res).await;
        assert_eq!(err["error"]["code"], "forbidden", "{err}");
        let unknown = format!("/api/admin/users/no-such-account/{what}");
        let res = app
            .as_person(method.clone(), &unknown, &admin)
            .json(&new_password)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 404, "{method} {unknown}");
    }
    for path in ["/api/admin/users", "/api/admin/audit"] {
        assert_eq!(call(&app, Method::GET, path, &person).await.status(), 403);
        let bad = call(&app, Method::GET, &format!("{path}?limit=-1"), &admin).await;
        assert_eq!(bad.status(), 400, "{path}");
        assert_eq!(json_of(bad).await["error"]["code"], "bad_parameter");
    }
    let nul = call(&app, Method::GET, "/api/admin/users?q=a%00b", &admin).await;
    assert_eq!(nul.status(), 400, "NUL is refused, not a database error");
    let nul_id = call(&app, Method::PUT, "/api/admin/users/a%00b/admin", &admin).await;
    assert_eq!(nul_id.status(), 404, "an id with NUL is unknown");
    // Nothing was changed by the refused calls.
    let root = app
        .db(move |c| loam_db::users::find(c, &target))
        .await
        .expect("root");
    assert!(root.is_admin && root.disabled_at.is_none());
}

async fn admins_list_and_search_accounts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin("root@example.test").await;
    let grace = app.signed_in("grace@example.test").await;
    app.signed_in("alan@example.test").await;
    app.signed_in("pip_e@example.test").await;
    let renamed = app
        .as_person(Method::PUT, "/api/user", &grace)
        .json(&json!({"first_name": "Grace", "last_name": "Hopper"}))
        .send()
        .await
        .expect("request");
    assert_eq!(renamed.status(), 200);

    let everyone = json_of(call(&app, Method::GET, "/api/admin/users", &admin).await).await;
    assert_eq!(everyone["total"], 4);
    let emails: Vec<&str> = everyone["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["email"].as_str().expect("email"))
        .collect();
    assert_eq!(
        emails,
        [
            "alan@example.test",
            "grace@example.test",
            "pip_e@example.test",
            "root@example.test"
        ]
    );
    assert_eq!(everyone["users"][3]["is_admin"], true);
    assert!(everyone["users"][0]["disabled_at"].is_null());
    assert!(everyone["users"][0].get("password_hash").is_none());

    let search = |q: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            let page =
                json_of(call(app, Method::GET, &format!("/api/admin/users?q={q}"), admin).await)
                    .await;
            page["users"]
                .as_array()
                .expect("users")
                .iter()
                .map(|u| u["email"].as_str().expect("email").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("HOPPER").await, ["grace@example.test"], "by name");
    assert_eq!(search("al").await, ["alan@example.test"]);
    // LIKE's wildcards are plain characters in a search (`p_e` would match every `example`).
    assert_eq!(search("p_e").await, ["pip_e@example.test"]);
    assert!(search("nobody").await.is_empty());
    // A search longer than any email is refused, not passed to the database (SQLite refuses
    // long LIKE patterns).
    let long = call(
        &app,
        Method::GET,
        &format!("/api/admin/users?q={}", "a".repeat(50_000)),
        &admin,
    )
    .await;
    assert_eq!(long.status(), 400);

    let page = json_of(
        call(
            &app,
            Method::GET,
            "/api/admin/users?limit=2&offset=1",
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(
        (page["limit"].as_i64(), page["offset"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(page["total"], 4);
    assert_eq!(page["users"][0]["email"], "grace@example.test");
    assert_eq!(page["users"].as_array().map(Vec::len), Some(2));
}

/// Admin rights are read live (a snapshot at most 2 s old), not from the token's `adm` claim:
/// a grant reaches tokens already held, and a revocation takes effect before they expire. A new
/// sign-in's token carries the claim too (for clients that read it).
async fn admin_rights_apply_live_to_existing_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin("root@example.test").await;
    let held = app.signed_in("helper@example.test").await;
    assert!(!adm_claim(&held.access_token));
    let helper = id_of(&app, "helper@example.test").await;
    assert_eq!(
        call(&app, Method::GET, "/api/admin/users", &held)
            .await
            .status(),
        403
    );

    let granted = call(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{helper}/admin"),
        &admin,
    )
    .await;
    assert_eq!(granted.status(), 200);
    assert_eq!(json_of(granted).await["is_admin"], true);
    let works = eventually(3, || async {
        call(&app, Method::GET, "/api/admin/users", &held)
            .await
            .status()
            == 200
    })
    .await;
    assert!(works, "the held token gained the right within 2 s");
    let fresh = app.login("helper@example.test").await;
    assert!(adm_claim(&fresh.access_token), "a new token carries adm");
    // Granting again changes nothing.
    let again = call(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{helper}/admin"),
        &admin,
    )
    .await;
    assert_eq!(again.status(), 200);

    let revoked = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{helper}/admin"),
        &admin,
    )
    .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(json_of(revoked).await["is_admin"], false);
    let lost = eventually(3, || async {
        call(&app, Method::GET, "/api/admin/users", &fresh)
            .await
            .status()
            == 403
    })
    .await;
    assert!(lost, "a token minted with adm lost the right within 2 s");
}

/// A person with a cell, a logger and a device key that uploads.
struct Uploader {
    session: Session,
    key: String,
    cell: i64,
    logger: i64,
}

impl Uploader {
    async fn new(app: &TestApp, email: &str) -> Self {
        let session = app.signed_in(email).await;
        let cell = app.cell(&session, email, "plot").await;
        let logger = app.logger(&session, email, "logger").await;
        let key = app.device_key(&session, logger, &["ingest"]).await;
        let me = Self {
            session,
            key,
            cell,
            logger,
        };
        assert_eq!(me.upload(app, 0).await, 200);
        me
    }

    /// Uploads the `n`th reading (a new timestamp each); the status.
    async fn upload(&self, app: &TestApp, n: u32) -> u16 {
        let frame = frames::power(1_767_225_600 + n * 60, self.cell, self.logger, 0.5, 0.001);
        app.upload(frame, false, Some(&self.key))
            .await
            .status()
            .as_u16()
    }
}

async fn disabled_accounts_lose_tokens_keys_and_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin("root@example.test").await;
    let device = Uploader::new(&app, "field@example.test").await;
    let held = device.session.clone();
    let field = id_of(&app, "field@example.test").await;
    assert_eq!(me_status(&app, &held).await, 200);

    let disabled = call(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{field}/disabled"),
        &admin,
    )
    .await;
    assert_eq!(disabled.status(), 200);
    assert!(json_of(disabled).await["disabled_at"].is_string());
    // This replica applies its own change at once; the 2 s bound is for the others.
    assert_eq!(me_status(&app, &held).await, 401);
    assert_eq!(device.upload(&app, 1).await, 401);
    // Sign-in: the right password learns the account is disabled, a wrong one learns nothing.
    let (status, err) = login_status(&app, "field@example.test", PASSWORD).await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "account_disabled", "{err}");
    let (status, _) = login_status(&app, "field@example.test", "wrong-password-1").await;
    assert_eq!(status, 401);
    let (status, err) = refresh_status(&app, &held).await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "account_disabled", "{err}");
    // Disabling again is a no-op.
    let again = call(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{field}/disabled"),
        &admin,
    )
    .await;
    assert_eq!(again.status(), 200);

    let enabled = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{field}/disabled"),
        &admin,
    )
    .await;
    assert_eq!(enabled.status(), 200);
    assert!(json_of(enabled).await["disabled_at"].is_null());
    let (status, _) = login_status(&app, "field@example.test", PASSWORD).await;
    assert_eq!(status, 201);
    assert_eq!(device.upload(&app, 2).await, 200);
    // Disabling ended the sessions of the time before: the old refresh token stays refused.
    let (status, _) = refresh_status(&app, &held).await;
    assert_eq!(status, 401);
}

/// A change this replica did not make (another replica, or `loam user disable`) reaches its
/// caches within their 2 s lifetime: the token and the device key, both just used, are refused.
async fn disabling_elsewhere_takes_effect_within_two_seconds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let device = Uploader::new(&app, "field@example.test").await;
    let held = device.session.clone();
    assert_eq!(me_status(&app, &held).await, 200);
    let field = id_of(&app, "field@example.test").await;
    app.db(move |c| loam_db::users::set_disabled(c, &field, Some(loam_db::now())))
        .await
        .expect("the account");
    let started = std::time::Instant::now();
    let token_refused = eventually(3, || async { me_status(&app, &held).await == 401 }).await;
    let n = std::sync::atomic::AtomicU32::new(1);
    let key_refused = eventually(3, || async {
        let reading = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        device.upload(&app, reading).await == 401
    })
    .await;
    assert!(
        token_refused && key_refused,
        "refused within the caches' 2 s"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

async fn a_new_password_ends_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin("root@example.test").await;
    let held = app.signed_in("forgetful@example.test").await;
    let id = id_of(&app, "forgetful@example.test").await;
    let path = format!("/api/admin/users/{id}/password");
    let res = app
        .as_person(Method::PUT, &path, &admin)
        .json(&json!({"password": "brand-new-password-2"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let (status, _) = login_status(&app, "forgetful@example.test", PASSWORD).await;
    assert_eq!(status, 401, "the old password is refused");
    let (status, _) = login_status(&app, "forgetful@example.test", "brand-new-password-2").await;
    assert_eq!(status, 201, "the new one works");
    let (status, _) = refresh_status(&app, &held).await;
    assert_eq!(status, 401, "the old session must sign in again");
    let short = app
        .as_person(Method::PUT, &path, &admin)
        .json(&json!({"password": "short"}))
        .send()
        .await
        .expect("request");
    assert_eq!(short.status(), 422);
    assert!(json_of(short).await["error"]["details"]["password"].is_array());
}

async fn the_last_enabled_admin_is_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.admin("root@example.test").await;
    let me = id_of(&app, "root@example.test").await;
    for (method, what) in [(Method::DELETE, "admin"), (Method::PUT, "disabled")] {
        let res = call(
            &app,
            method.clone(),
            &format!("/api/admin/users/{me}/{what}"),
            &root,
        )
        .await;
        assert_eq!(res.status(), 409, "{method} {what}");
        let err = json_of(res).await;
        assert_eq!(err["error"]["code"], "conflict");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("last enabled administrator")),
            "{err}"
        );
    }
    // A disabled administrator does not count as one.
    let other = app.admin("other@example.test").await;
    let other_id = id_of(&app, "other@example.test").await;
    let disabled = call(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{other_id}/disabled"),
        &root,
    )
    .await;
    assert_eq!(disabled.status(), 200);
    let res = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{me}/admin"),
        &root,
    )
    .await;
    assert_eq!(res.status(), 409);
    // With another enabled administrator, stepping down is allowed.
    let enabled = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{other_id}/disabled"),
        &root,
    )
    .await;
    assert_eq!(enabled.status(), 200);
    let res = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{me}/admin"),
        &root,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        call(&app, Method::GET, "/api/admin/users", &root)
            .await
            .status(),
        403,
        "this replica applies it at once"
    );
    assert_eq!(
        call(&app, Method::GET, "/api/admin/users", &other)
            .await
            .status(),
        200
    );
}

async fn the_audit_trail_names_actor_and_subject(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.admin("root@example.test").await;
    app.signed_in("subject@example.test").await;
    let subject = id_of(&app, "subject@example.test").await;
    let actor = id_of(&app, "root@example.test").await;
    for (method, what) in [
        (Method::PUT, "admin"),
        (Method::DELETE, "admin"),
        (Method::PUT, "disabled"),
        (Method::DELETE, "disabled"),
    ] {
        let res = call(
            &app,
            method,
            &format!("/api/admin/users/{subject}/{what}"),
            &root,
        )
        .await;
        assert_eq!(res.status(), 200);
    }
    let res = app
        .as_person(
            Method::PUT,
            &format!("/api/admin/users/{subject}/password"),
            &root,
        )
        .json(&json!({"password": "secret-never-logged"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);

    let trail = json_of(call(&app, Method::GET, "/api/admin/audit", &root).await).await;
    assert_eq!(trail["total"], 5);
    let entries = trail["entries"].as_array().expect("entries");
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "set_password",
            "enable",
            "disable",
            "revoke_admin",
            "grant_admin"
        ]
    );
    for entry in entries {
        assert_eq!(entry["actor_id"], actor.as_str());
        assert_eq!(entry["actor_email"], "root@example.test");
        assert_eq!(entry["subject_id"], subject.as_str());
        assert_eq!(entry["subject_email"], "subject@example.test");
        assert!(entry["at"].is_string());
        assert_eq!(entry["detail"]["email"], "subject@example.test");
    }
    assert_eq!(entries[4]["detail"]["is_admin"], true);
    assert!(!trail.to_string().contains("secret-never-logged"));
    let page = json_of(
        call(
            &app,
            Method::GET,
            "/api/admin/audit?limit=2&offset=4",
            &root,
        )
        .await,
    )
    .await;
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["entries"][0]["action"], "grant_admin");
}
