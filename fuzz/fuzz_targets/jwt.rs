//! People's tokens (`TokenKeys::verify`, access and refresh, fixed secret) and OIDC ID tokens
//! (`verify_id_token` against an empty key set, which still reads the header) from arbitrary
//! text: never panics. A token minted for the text as user id verifies back to it.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use loam_auth::{JwkSet, TokenKeys, TokenKind};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn keys() -> &'static TokenKeys {
    static KEYS: OnceLock<TokenKeys> = OnceLock::new();
    KEYS.get_or_init(|| TokenKeys::new(SECRET))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let keys = keys();
    for kind in [TokenKind::Access, TokenKind::Refresh, TokenKind::OAuthState] {
        let _ = keys.verify(text, kind);
    }
    let _ = loam_auth::verify_id_token(text, &JwkSet { keys: vec![] }, "issuer", "audience");
    let token = keys.mint(TokenKind::Refresh, text, text, Duration::from_secs(3600));
    let claims = keys
        .verify(&token, TokenKind::Refresh)
        .expect("a minted token verifies");
    assert_eq!((claims.sub.as_str(), claims.jti.as_str()), (text, text));
});
