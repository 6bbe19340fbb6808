//! `GET /api/voice/backend` names the backends this hub actually has.

use super::{Harness, Reply};
use serde_json::json;

#[test]
fn voice_backend_is_elevenlabs_only_when_its_key_is_configured() {
    let mut h = Harness::new();
    let web = h.web("default");
    let r = h.get(&web, "/api/voice/backend");
    assert!(
        matches!(&r, Reply::Now(200, b) if *b == json!({"backend": null, "backends": []})),
        "{r:?}"
    );
    let mut h = Harness::with_settings(|s| s.elevenlabs_api_key = Some("xi-key".into()));
    let web = h.web("default");
    let r = h.get(&web, "/api/voice/backend");
    assert!(
        matches!(&r, Reply::Now(200, b)
            if *b == json!({"backend": "elevenlabs", "backends": ["elevenlabs"]})),
        "{r:?}"
    );
}
