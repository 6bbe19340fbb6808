//! The voice routes: backends and providers from the configuration and the stored credentials,
//! provider calls made on the outbound client and their answers (success, error statuses, no
//! answer), and the checks that refuse an upload before anything is sent.

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

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A multipart body with a provider, a language and a file named `name`.
fn upload(provider: &str, language: Option<&str>, name: &str, audio: &[u8]) -> (String, Vec<u8>) {
    let mut form = crate::voice::multipart::Form::new(audio);
    form.text("provider", provider);
    if let Some(l) = language {
        form.text("language", l);
    }
    form.file("file", name, "audio/webm", audio);
    form.finish()
}

#[test]
fn stored_credentials_configure_providers_and_backends_and_are_never_answered_in_full() {
    let mut h = Harness::new();
    let web = h.web("default");
    let r = h.call(
        &web,
        "PUT",
        "/api/voice/transcription/credentials",
        Some(json!({"groq": "gsk-secret-7777", "qwenRealtime": "qw-1"})),
    );
    let Reply::Now(200, status) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(
        status["groq"],
        json!({"configured": true, "source": "settings", "hint": "••••7777", "editable": true})
    );
    assert!(!status.to_string().contains("gsk-secret-7777"));
    assert_eq!(
        h.get(&web, "/api/voice/transcription/providers").body(),
        &json!({"providers": [{"id": "groq", "label": "Groq", "modes": ["standard"]}]})
    );
    assert_eq!(
        h.get(&web, "/api/voice/backend").body(),
        // A stored Qwen key is kept, but hapid offers no realtime backend before its proxy
        // exists (voice_providers::REALTIME_PROXIES).
        &json!({"backend": null, "backends": []})
    );
    // A bad patch changes nothing.
    let r = h.call(
        &web,
        "PUT",
        "/api/voice/transcription/credentials",
        Some(json!({"groq": null, "geminiLive": 3})),
    );
    assert!(matches!(r, Reply::Now(400, _)), "{r:?}");
    assert_eq!(
        h.get(&web, "/api/voice/transcription/providers").body()["providers"][0]["id"],
        "groq"
    );
    let guest = h.web("guest");
    let r = h.get(&guest, "/api/voice/transcription/credentials");
    assert!(matches!(r, Reply::Now(403, _)), "{r:?}");
}

#[test]
fn a_transcription_goes_to_the_provider_and_its_answer_or_failure_comes_back() {
    let mut h = Harness::with_settings(|s| s.voice_env = env(&[("OPENAI_API_KEY", "sk-1")]));
    let web = h.web("default");
    h.take();
    let (ct, body) = upload("openai", Some("en-US"), "speech.webm", b"audio");
    let r = h.call_raw(&web, "POST", "/api/voice/transcription", &ct, body.clone());
    assert!(matches!(r, Reply::Deferred), "{r:?}");
    h.expect("out#1 POST https://api.openai.com/v1/audio/transcriptions");
    h.outbound_reply(1, 200, &json!({"text": "hello", "duration": 1}));
    h.expect(r#"http POST /api/voice/transcription 200 {"text":"hello"}"#);

    h.call_raw(&web, "POST", "/api/voice/transcription", &ct, body.clone());
    h.take();
    h.outbound_reply(2, 429, &json!({"error": "slow down"}));
    h.expect(
        r#"http POST /api/voice/transcription 502 {"error":"openai transcription failed (HTTP 429)"}"#,
    );

    // No answer (the outbound client's timeout or a refused connection).
    h.call_raw(&web, "POST", "/api/voice/transcription", &ct, body);
    h.take();
    h.outbound_failed(3, "timed out");
    h.expect(
        r#"http POST /api/voice/transcription 502 {"error":"openai transcription request failed"}"#,
    );
}

#[test]
fn deepgram_answers_its_transcript_and_realtime_tokens_are_read_from_any_token_field() {
    let mut h = Harness::with_settings(|s| s.voice_env = env(&[("DEEPGRAM_API_KEY", "dg")]));
    let web = h.web("default");
    h.take();
    let (ct, body) = upload("deepgram", Some("de"), "a.ogg", b"audio");
    h.call_raw(&web, "POST", "/api/voice/transcription", &ct, body);
    h.expect(
        "out#1 POST https://api.deepgram.com/v1/listen?model=nova-3&smart_format=true&language=de",
    );
    let dg = json!({"results": {"channels": [{"alternatives": [{"transcript": "hallo"}]}]}});
    h.outbound_reply(1, 200, &dg);
    h.expect(r#"http POST /api/voice/transcription 200 {"text":"hallo"}"#);

    let r = h.post(
        &web,
        "/api/voice/transcription/realtime-token",
        json!({"provider": "deepgram"}),
    );
    assert!(matches!(r, Reply::Deferred), "{r:?}");
    h.expect("out#2 POST https://api.deepgram.com/v1/auth/grant {}");
    h.outbound_reply(2, 200, &json!({"access_token": "t-1", "expires_in": 30}));
    h.expect(r#"http POST /api/voice/transcription/realtime-token 200 {"token":"t-1"}"#);

    h.post(
        &web,
        "/api/voice/transcription/realtime-token",
        json!({"provider": "deepgram"}),
    );
    h.take();
    h.outbound_reply(3, 200, &json!({"token": ""}));
    h.expect(
        r#"http POST /api/voice/transcription/realtime-token 502 {"error":"deepgram realtime transcription returned no token"}"#,
    );
    // OpenAI is not configured here: refused before anything is sent.
    let r = h.post(
        &web,
        "/api/voice/transcription/realtime-token",
        json!({"provider": "openai"}),
    );
    assert!(
        matches!(&r, Reply::Now(400, b) if b["error"] == "openai transcription is not configured"),
        "{r:?}"
    );
    assert!(h.take().iter().all(|l| !l.starts_with("out#")));
}

#[test]
fn the_voice_list_maps_elevenlabs_voices_and_is_empty_on_any_failure() {
    let mut h = Harness::with_settings(|s| {
        s.elevenlabs_api_key = Some("xi".into());
        s.elevenlabs_api_base = "https://xi.example".into();
    });
    let web = h.web("default");
    h.take();
    assert!(matches!(h.get(&web, "/api/voice/voices"), Reply::Deferred));
    h.expect("out#1 GET https://xi.example/v1/voices");
    let voices = json!({"voices": [{"voice_id": "v", "name": "N", "category": "c", "labels": {}}]});
    h.outbound_reply(1, 200, &voices);
    h.expect(r#"http GET /api/voice/voices 200 {"voices":[{"category":"c","id":"v","name":"N"}]}"#);
    h.get(&web, "/api/voice/voices");
    h.take();
    h.outbound_failed(2, "connection refused");
    h.expect(r#"http GET /api/voice/voices 200 {"voices":[]}"#);
    h.get(&web, "/api/voice/voices");
    h.take();
    h.outbound_reply(3, 401, &json!({"detail": "bad key"}));
    h.expect(r#"http GET /api/voice/voices 200 {"voices":[]}"#);
}

#[test]
fn a_bad_upload_is_refused_before_anything_is_sent() {
    let mut h = Harness::with_settings(|s| s.voice_env = env(&[("GROQ_API_KEY", "g")]));
    let web = h.web("default");
    h.take();
    let cases = [
        (
            upload("groq", None, "a.png", b"x"),
            "Unsupported audio file type",
        ),
        (
            upload("groq", Some("e"), "a.wav", b"x"),
            "Invalid transcription language",
        ),
        (
            upload("elevenlabs", None, "a.wav", b"x"),
            "elevenlabs transcription is not configured",
        ),
        (
            upload("groq", None, "a.wav", b""),
            "Audio file must be between 1 byte and 26214400 bytes",
        ),
    ];
    for ((ct, body), error) in cases {
        let r = h.call_raw(&web, "POST", "/api/voice/transcription", &ct, body);
        assert!(
            matches!(&r, Reply::Now(400, b) if b["error"] == error),
            "{error}: {r:?}"
        );
    }
    let r = h.call_raw(
        &web,
        "POST",
        "/api/voice/transcription",
        "multipart/form-data; boundary=z",
        b"--z\r\nbroken".to_vec(),
    );
    assert!(
        matches!(&r, Reply::Now(400, b) if b["error"] == "Invalid form data"),
        "{r:?}"
    );
    let over = vec![0u8; super::super::voice::MAX_TRANSCRIPTION_BODY + 1];
    let r = h.call_raw(
        &web,
        "POST",
        "/api/voice/transcription",
        "multipart/form-data; boundary=z",
        over,
    );
    assert!(
        matches!(&r, Reply::Now(413, b) if b["error"] == "Audio file too large"),
        "{r:?}"
    );
    assert!(h.take().iter().all(|l| !l.starts_with("out#")));
}

#[test]
fn transcriptions_waiting_on_providers_are_bounded() {
    let mut h = Harness::with_settings(|s| s.voice_env = env(&[("GROQ_API_KEY", "g")]));
    let web = h.web("default");
    let (ct, body) = upload("groq", None, "a.wav", b"x");
    let max = crate::hub::voice_calls::MAX_TRANSCRIPTIONS;
    for _ in 0..max {
        let r = h.call_raw(&web, "POST", "/api/voice/transcription", &ct, body.clone());
        assert!(matches!(r, Reply::Deferred), "{r:?}");
    }
    let r = h.call_raw(&web, "POST", "/api/voice/transcription", &ct, body.clone());
    assert!(
        matches!(&r, Reply::Now(503, b) if b["error"] == "Too many transcriptions in progress"),
        "{r:?}"
    );
    h.take();
    h.outbound_reply(1, 200, &json!({"text": "a"}));
    let r = h.call_raw(&web, "POST", "/api/voice/transcription", &ct, body);
    assert!(
        matches!(r, Reply::Deferred),
        "a finished one frees its place: {r:?}"
    );
}
