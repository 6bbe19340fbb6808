//! The credential gate (issue 20 item 4): failures are held, successes never are.

use super::{Harness, Reply, TOKEN};
use serde_json::json;

fn wrong_auth(h: &mut Harness, i: u32) -> Reply {
    h.call_unauthenticated(
        "POST",
        "/api/auth",
        json!({"accessToken": format!("wrong-{i}")}),
    )
}

/// A token that `is_weak` does not flag.
const STRONG: &str = "kX3v9Qm2Lr7Tz1Wb8Yp4Nc6Hd0Fg5Js";

#[test]
fn the_sixth_failure_is_held_half_a_second_and_the_right_token_is_not() {
    let mut h = Harness::with_settings(|s| s.cli_api_token = STRONG.into());
    for i in 0..5 {
        assert!(matches!(wrong_auth(&mut h, i), Reply::Now(401, _)));
    }
    h.take();
    assert!(matches!(wrong_auth(&mut h, 5), Reply::Deferred));
    h.expect("");
    // The right token, from the same address, meanwhile: answered at once.
    let r = h.call_unauthenticated("POST", "/api/auth", json!({"accessToken": STRONG}));
    assert!(matches!(r, Reply::Now(200, _)), "{r:?}");
    h.take();
    h.advance(499);
    h.expect("");
    h.advance(1);
    h.expect(r#"http POST /api/auth 401 {"error":"Invalid access token"}"#);
}

/// With a weak token (spec/auth.md §2.1) a right guess answered at once among held wrong ones
/// would give it away: the right token waits as long as the address's failures do.
#[test]
fn with_a_weak_token_successes_wait_as_long_as_the_addresses_failures() {
    let mut h = Harness::new();
    assert!(crate::auth::token::is_weak(TOKEN));
    for i in 0..6 {
        wrong_auth(&mut h, i);
    }
    h.take();
    let r = h.call_unauthenticated("POST", "/api/auth", json!({"accessToken": TOKEN}));
    assert!(matches!(r, Reply::Deferred), "{r:?}");
    h.advance(500);
    h.expect(
        r#"
        http POST /api/auth 401 {"error":"Invalid access token"}
        http POST /api/auth 200 {"token":"*","user":"*"}
        "#,
    );
}

#[test]
fn a_held_socket_refusal_arrives_after_its_hold() {
    let mut h = Harness::new();
    for i in 0..5 {
        let r = h.try_connect("x", json!({"token": format!("wrong-{i}")}));
        assert_eq!(r.err().as_deref(), Some("Invalid token"));
    }
    let r = h.try_connect("attacker", json!({"token": "wrong-5"}));
    assert_eq!(r.err().as_deref(), Some("later"));
    // The right token connects at once.
    let ok = h.try_connect("cli", json!({"token": TOKEN}));
    assert!(ok.is_ok());
    h.take();
    h.advance(500);
    h.expect(r#"attacker connect refused "Invalid token""#);
}
