//! Sign-in through an OpenID Connect provider (a real one on loopback): consent URL with state,
//! code exchange, ID-token checks, and account linking by verified email.

use loam_tests::{Backend, OidcProvider, Options, TestApp, backend_tests, refresh_cookie_of};
use serde_json::Value;

backend_tests!(
    oidc_sign_in_links_accounts_and_refuses_bad_tokens,
    oidc_is_off_until_configured,
    an_unreachable_provider_is_a_502
);

async fn app_with(provider: &OidcProvider, backend: Backend) -> TestApp {
    let issuer = provider.issuer.clone();
    TestApp::spawn_with(
        backend,
        Options {
            tweak: Some(Box::new(move |c| {
                c.oidc_issuer = issuer;
                c.oidc_client_id = Some(loam_tests::oidc::CLIENT_ID.to_owned());
                c.oidc_client_secret =
                    Some(loam_config::Secret::new(loam_tests::oidc::CLIENT_SECRET));
                c.oidc_redirect_uri = Some("http://localhost:3000/auth/callback".to_owned());
            })),
            ..Options::default()
        },
    )
    .await
}

async fn state_from_consent_url(app: &TestApp, issuer: &str) -> String {
    let res = app.get("/api/oauth/url").await;
    assert_eq!(res.status(), 200);
    let url = res.json::<Value>().await.expect("json")["url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert!(url.starts_with(&format!("{issuer}/authorize?")), "{url}");
    assert!(
        url.contains("client_id=loam-test-client") && url.contains("scope=openid+email+profile"),
        "{url}"
    );
    let parsed = reqwest::Url::parse(&url).expect("url");
    parsed
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state")
}

async fn exchange(app: &TestApp, code: &str, state: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/auth/token"))
        .query(&[("code", code), ("state", state)])
        .send()
        .await
        .expect("req")
}

async fn oidc_sign_in_links_accounts_and_refuses_bad_tokens(backend: Backend) {
    let provider = OidcProvider::start().await;
    let app = app_with(&provider, backend).await;
    let state = state_from_consent_url(&app, &provider.issuer).await;

    let res = exchange(&app, "ok:Grace@Example.test", &state).await;
    assert_eq!(res.status(), 201);
    assert!(refresh_cookie_of(&res).is_some(), "refresh cookie set");
    let token = res.text().await.expect("token");
    let me: Value = app
        .client
        .get(app.url("/api/user"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(me["email"], "grace@example.test");

    // A local account with the same (verified) email is the same person.
    let again = exchange(&app, "ok:grace@example.test", &state).await;
    assert_eq!(again.status(), 201);
    let users = app
        .db(|c| loam_db::users::find_by_email(c, "grace@example.test"))
        .await;
    assert!(users.is_some_and(|u| u.password_hash.is_none()));
    // An account an administrator disabled gets no session from the provider either.
    app.db(|c| {
        let grace = loam_db::users::find_by_email(c, "grace@example.test")?
            .ok_or(loam_db::DbError::NotFound)?;
        loam_db::users::set_disabled(c, &grace.id, Some(loam_db::now()))
    })
    .await;
    let refused = exchange(&app, "ok:grace@example.test", &state).await;
    assert_eq!(refused.status(), 403);
    let err: Value = refused.json().await.expect("json");
    assert_eq!(err["error"]["code"], "account_disabled", "{err}");

    for code in [
        "unverified:x@example.test",
        "expired:x@example.test",
        "wrong-audience:x@example.test",
        "forged:x@example.test",
    ] {
        let res = exchange(&app, code, &state).await;
        assert_eq!(res.status(), 401, "{code}");
    }
    assert_eq!(
        app.db(|c| loam_db::users::find_by_email(c, "x@example.test"))
            .await,
        None,
        "no account for refused tokens"
    );
    assert_eq!(
        exchange(&app, "ok:y@example.test", "forged-state")
            .await
            .status(),
        400
    );
    let missing = app
        .client
        .get(app.url("/api/auth/token"))
        .send()
        .await
        .expect("req");
    assert_eq!(missing.status(), 400);
}

async fn oidc_is_off_until_configured(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.get("/api/oauth/url").await;
    assert_eq!(res.status(), 503);
    let err: Value = res.json().await.expect("json");
    assert!(err["error"]["message"].is_string());
}

/// The provider unreachable: the consent URL and the code exchange answer 502 with a JSON body
/// (the state comes from a replica that could still reach it, which shares the signing secret).
async fn an_unreachable_provider_is_a_502(backend: Backend) {
    let provider = OidcProvider::start().await;
    let secret = format!("shared-{}", ulid::Ulid::new());
    let with_secret = |issuer: String, secret: String| Options {
        tweak: Some(Box::new(move |c| {
            c.jwt_secret = Some(loam_config::Secret::new(secret));
            c.oidc_issuer = issuer;
            c.oidc_client_id = Some(loam_tests::oidc::CLIENT_ID.to_owned());
            c.oidc_client_secret = Some(loam_config::Secret::new(loam_tests::oidc::CLIENT_SECRET));
            c.oidc_redirect_uri = Some("http://localhost:3000/auth/callback".to_owned());
        })),
        ..Options::default()
    };
    let reachable = TestApp::spawn_with(
        backend,
        with_secret(provider.issuer.clone(), secret.clone()),
    )
    .await;
    let state = state_from_consent_url(&reachable, &provider.issuer).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let cut_off =
        TestApp::spawn_with(backend, with_secret(format!("http://{closed}"), secret)).await;
    let url = cut_off.get("/api/oauth/url").await;
    assert_eq!(url.status(), 502);
    let body: Value = url.json().await.expect("json");
    assert_eq!(body["error"]["code"], "upstream_failed", "{body}");
    let token = exchange(&cut_off, "any-code", &state).await;
    assert_eq!(token.status(), 502);
}
