//! A small OpenID Connect provider on loopback, standing in for Google in tests: real HTTP,
//! real RS256-signed ID tokens, a published key set. The code decides the token it gets back:
//! `ok:<email>`, `unverified:<email>`, `expired:<email>`, `wrong-audience:<email>`,
//! `forged:<email>` (signed by another key under the published key id).

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Form, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The private key the provider signs with (a throw-away test key).
const KEY_PEM: &[u8] = include_bytes!("../fixtures/oidc-test-key.pem");
const KID: &str = "loam-test-key";
/// The client the provider knows.
pub const CLIENT_ID: &str = "loam-test-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "loam-test-secret";

#[derive(Clone)]
struct Provider {
    issuer: String,
    key: EncodingKey,
}

/// A running provider; dropped with the test.
pub struct OidcProvider {
    /// The issuer URL (`http://127.0.0.1:<port>`).
    pub issuer: String,
    task: tokio::task::JoinHandle<()>,
}

impl OidcProvider {
    /// Starts the provider on a random loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind provider");
        let addr: SocketAddr = listener.local_addr().expect("address");
        let issuer = format!("http://{addr}");
        let provider = Provider {
            issuer: issuer.clone(),
            key: EncodingKey::from_rsa_pem(KEY_PEM).expect("test key"),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .with_state(provider);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { issuer, task }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn discovery(State(p): State<Provider>) -> Json<Value> {
    Json(json!({
        "issuer": p.issuer,
        "authorization_endpoint": format!("{}/authorize", p.issuer),
        "token_endpoint": format!("{}/token", p.issuer),
        "jwks_uri": format!("{}/jwks", p.issuer),
    }))
}

async fn jwks(State(p): State<Provider>) -> Json<JwkSet> {
    let mut jwk = Jwk::from_encoding_key(&p.key, Algorithm::RS256).expect("public key");
    jwk.common.key_id = Some(KID.to_owned());
    Json(JwkSet { keys: vec![jwk] })
}

async fn token(
    State(p): State<Provider>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> (axum::http::StatusCode, Json<Value>) {
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
        || form.get("grant_type").map(String::as_str) != Some("authorization_code")
    {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        );
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let Some((kind, email)) = code.split_once(':') else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        );
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = json!({
        "iss": p.issuer,
        "aud": if kind == "wrong-audience" { "someone-else" } else { CLIENT_ID },
        "sub": format!("sub-{email}"),
        "email": email,
        "email_verified": kind != "unverified",
        "given_name": "Test",
        "family_name": "Person",
        "iat": now,
        "exp": if kind == "expired" { now - 600 } else { now + 600 },
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.to_owned());
    let key = if kind == "forged" {
        EncodingKey::from_secret(b"not the provider key")
    } else {
        p.key.clone()
    };
    let header = if kind == "forged" {
        Header {
            alg: Algorithm::HS256,
            ..header
        }
    } else {
        header
    };
    let id_token = jsonwebtoken::encode(&header, &claims, &key).expect("sign");
    (
        axum::http::StatusCode::OK,
        Json(json!({"id_token": id_token, "access_token": "unused"})),
    )
}
