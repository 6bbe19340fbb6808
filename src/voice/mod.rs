//! `POST /api/voice/token` (`voice.md` §3–§7), the pure parts: request-body parsing, the
//! agent cache key, the ElevenLabs request paths and create-agent body, the reading of
//! ElevenLabs replies, and the endpoint's response bodies.
//!
//! Left out: the HTTPS calls (the reactor's outbound client sends them with headers
//! `xi-api-key` and `Accept: application/json`, §5), the per-request state machine
//! `FindAgent → CreateAgent → Token → Reply` and the agent-id cache (hub), configuration
//! (`ELEVENLABS_API_KEY`, `ELEVENLABS_AGENT_ID`). No IO, no clock; nothing here panics.
//!
//! ```text
//! parse_request ─ Err → 400 ERR_INVALID_BODY
//!   │ key: custom else env, none → 400 ERR_NO_API_KEY
//!   │ agent: custom else env, else cache[cache_key(key)], else
//!   │   GET LIST_AGENTS_PATH → find_agent (2xx only), else
//!   │   POST CREATE_AGENT_PATH agent_config() → created_agent (2xx only), else 500 ERR_CREATE_FAILED
//!   └ GET token_path(agent) → token_result → 200 success_body / 500 error_body
//! ```

mod agent;
pub mod multipart;

pub use agent::{AGENT_NAME, agent_config};

use serde_json::{Value, json};

/// Host of every ElevenLabs call (HTTPS, port 443).
pub const API_HOST: &str = "api.elevenlabs.io";
/// §5.1 list agents (`GET`).
pub const LIST_AGENTS_PATH: &str = "/v1/convai/agents";
/// §5.2 create agent (`POST`, body [`agent_config`]).
pub const CREATE_AGENT_PATH: &str = "/v1/convai/agents/create";

/// §3: 400 for a body that is not an object with string `customAgentId`/`customApiKey`.
pub const ERR_INVALID_BODY: &str = "Invalid request body";
/// §4.1: 400, no API key from the request or the environment.
pub const ERR_NO_API_KEY: &str = "ElevenLabs API key not configured";
/// §4.2: 500, the agent could be neither found nor created.
pub const ERR_CREATE_FAILED: &str = "Failed to create ElevenLabs agent automatically";
/// §4.3: 500, a 2xx token reply without a token.
pub const ERR_NO_TOKEN: &str = "No token in ElevenLabs response";
/// §4.3: 500, a 2xx token reply that is not JSON (hapid's own text; upstream passes the
/// runtime's parse-error message through).
pub const ERR_BAD_TOKEN_REPLY: &str = "ElevenLabs request failed: invalid JSON response";

/// Parses the request body (§3) into `Some((customAgentId, customApiKey))`, or None for
/// `400 {"allowed":false,"error":"Invalid request body"}` ([`ERR_INVALID_BODY`]). An empty
/// body, invalid JSON or `null` counts as `{}`. The value must be an object whose
/// `customAgentId`/`customApiKey`, when present, are strings (unknown keys are ignored).
/// Empty strings are returned as None, since §4.1 treats them as absent.
pub fn parse_request(body: &[u8]) -> Option<(Option<String>, Option<String>)> {
    let v = parse_json(body).unwrap_or(Value::Null);
    let obj = match &v {
        Value::Null => return Some((None, None)),
        Value::Object(o) => o,
        _ => return None,
    };
    let field = |key: &str| match obj.get(key) {
        None => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(_) => None,
    };
    Some((field("customAgentId")?, field("customApiKey")?))
}

/// The agent cache key of §4.2: the first 4 characters of `api_key`, `...`, the last 4
/// (overlapping for keys shorter than 8; `abc` → `abc...abc`). Also the only form of a key
/// that may be logged (§8).
pub fn cache_key(api_key: &str) -> String {
    let head_end = api_key
        .char_indices()
        .nth(4)
        .map_or(api_key.len(), |(i, _)| i);
    let tail_start = api_key.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
    format!(
        "{}...{}",
        api_key.get(..head_end).unwrap_or(""),
        api_key.get(tail_start..).unwrap_or("")
    )
}

/// §5.3 path and query: `/v1/convai/conversation/token?agent_id=<encodeURIComponent(id)>`.
pub fn token_path(agent_id: &str) -> String {
    format!(
        "/v1/convai/conversation/token?agent_id={}",
        encode_uri_component(agent_id)
    )
}

/// §4.2 step 2, on a 2xx list reply: the `agent_id` of the first element of `agents`
/// named exactly [`AGENT_NAME`] (None if that id is missing or empty, if there is no such
/// agent, or if the body is not the expected JSON — all "not found").
pub fn find_agent(body: &[u8]) -> Option<String> {
    let v = parse_json(body)?;
    let agent = v
        .get("agents")?
        .as_array()?
        .iter()
        .find(|a| a.get("name").and_then(Value::as_str) == Some(AGENT_NAME))?;
    non_empty(agent.get("agent_id"))
}

/// §4.2 step 3, on a 2xx create reply: its non-empty `agent_id`.
pub fn created_agent(body: &[u8]) -> Option<String> {
    non_empty(parse_json(body)?.get("agent_id"))
}

/// For the log line of a failed create (§4.2 step 3): the reply's `detail` if a string,
/// else a truthy `detail.message`, else `API error: <status>`.
pub fn create_error(status: u16, body: &[u8]) -> String {
    let v = parse_json(body).unwrap_or(Value::Null);
    match v.get("detail") {
        Some(Value::String(s)) => s.clone(),
        d => d
            .and_then(|d| d.get("message"))
            .and_then(js_text)
            .unwrap_or_else(|| format!("API error: {status}")),
    }
}

/// The token reply (§4.3, §7) → `Ok(token)` or `Err(message)` for
/// `500 {"allowed":false,"error":<message>}`. Non-2xx: a truthy `detail.message`, else a
/// truthy top-level `error`, else `ElevenLabs API error: <status>` (non-string values are
/// given as their JSON text). 2xx: a non-empty string `token`, else [`ERR_NO_TOKEN`]
/// ([`ERR_BAD_TOKEN_REPLY`] when the body is not JSON).
pub fn token_result(status: u16, body: &[u8]) -> Result<String, String> {
    let json = parse_json(body);
    if !(200..300).contains(&status) {
        let v = json.unwrap_or(Value::Null);
        let from_detail = v
            .get("detail")
            .and_then(|d| d.as_object())
            .and_then(|d| d.get("message"))
            .and_then(js_text);
        return Err(from_detail
            .or_else(|| v.get("error").and_then(js_text))
            .unwrap_or_else(|| format!("ElevenLabs API error: {status}")));
    }
    let v = json.ok_or_else(|| ERR_BAD_TOKEN_REPLY.to_owned())?;
    non_empty(v.get("token")).ok_or_else(|| ERR_NO_TOKEN.to_owned())
}

/// §7 200 body: `{"allowed":true,"token":…,"agentId":…}`.
pub fn success_body(token: &str, agent_id: &str) -> Value {
    json!({"allowed": true, "token": token, "agentId": agent_id})
}

/// §7 error body (400/500): `{"allowed":false,"error":…}`.
pub fn error_body(message: &str) -> Value {
    json!({"allowed": false, "error": message})
}

/// JSON as JavaScript's `Response.json()` reads it: UTF-8 decoded with replacement
/// characters, a leading byte-order mark dropped. None if it does not parse.
fn parse_json(body: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(body);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    serde_json::from_str(text).ok()
}

fn non_empty(v: Option<&Value>) -> Option<String> {
    v?.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// A truthy JSON value as message text: a string as is, other types as compact JSON.
fn js_text(v: &Value) -> Option<String> {
    match v {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// JavaScript's `encodeURIComponent`: `A–Z a–z 0–9 - _ . ! ~ * ' ( )` stay, every other
/// UTF-8 byte becomes `%XX`.
fn encode_uri_component(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = Option<(Option<&'static str>, Option<&'static str>)>;

    #[test]
    fn request_bodies() {
        let cases: &[(&[u8], Parsed)] = &[
            (b"", Some((None, None))),
            (b"   ", Some((None, None))),
            (b"garbage", Some((None, None))),
            (b"{", Some((None, None))),
            (b"null", Some((None, None))),
            (b"{}", Some((None, None))),
            (b"{\"other\":1}", Some((None, None))),
            (
                br#"{"customAgentId":"agent_1","customApiKey":"sk_abc"}"#,
                Some((Some("agent_1"), Some("sk_abc"))),
            ),
            (br#"{"customApiKey":"k"}"#, Some((None, Some("k")))),
            (
                br#"{"customAgentId":"","customApiKey":""}"#,
                Some((None, None)),
            ),
            (
                b"\xef\xbb\xbf{\"customAgentId\":\"a\"}",
                Some((Some("a"), None)),
            ),
            (
                br#"{"customAgentId":"a","customAgentId":"b"}"#,
                Some((Some("b"), None)),
            ),
            (b"5", None),
            (b"\"x\"", None),
            (b"[]", None),
            (b"true", None),
            (b"false", None),
            (br#"{"customAgentId":5}"#, None),
            (br#"{"customApiKey":null}"#, None),
            (br#"{"customApiKey":{"k":1}}"#, None),
        ];
        for (body, want) in cases {
            let want = want.map(|(a, k)| (a.map(str::to_owned), k.map(str::to_owned)));
            assert_eq!(
                parse_request(body),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // Invalid UTF-8 inside a string is replaced, as `Response.json()` does.
        assert_eq!(
            parse_request(b"{\"customApiKey\":\"a\xffb\"}"),
            Some((None, Some("a\u{fffd}b".to_owned())))
        );
    }

    #[test]
    fn cache_keys() {
        let cases = [
            ("sk_0123456789abcdef", "sk_0...cdef"),
            ("abcdefgh", "abcd...efgh"),
            ("abcdefg", "abcd...defg"),
            ("abcd", "abcd...abcd"),
            ("abc", "abc...abc"),
            ("a", "a...a"),
            ("", "..."),
            ("äöüßéèê", "äöüß...ßéèê"),
        ];
        for (key, want) in cases {
            assert_eq!(cache_key(key), want, "{key:?}");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(LIST_AGENTS_PATH, "/v1/convai/agents");
        assert_eq!(CREATE_AGENT_PATH, "/v1/convai/agents/create");
        assert_eq!(
            token_path("agent_fake123"),
            "/v1/convai/conversation/token?agent_id=agent_fake123"
        );
        assert_eq!(
            token_path("agent/with space"),
            "/v1/convai/conversation/token?agent_id=agent%2Fwith%20space"
        );
        assert_eq!(
            token_path("a-_.!~*'()&=?#é"),
            "/v1/convai/conversation/token?agent_id=a-_.!~*'()%26%3D%3F%23%C3%A9"
        );
    }

    #[test]
    fn listed_agents() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (
                br#"{"agents":[{"agent_id":"a1","name":"Other"},{"agent_id":"a2","name":"Hapi Voice Assistant"},{"agent_id":"a3","name":"Hapi Voice Assistant"}]}"#,
                Some("a2"),
            ),
            (br#"{"agents":[{"agent_id":"a1","name":"hapi voice assistant"}]}"#, None),
            (br#"{"agents":[{"name":"Hapi Voice Assistant"},{"agent_id":"a3","name":"Hapi Voice Assistant"}]}"#, None),
            (br#"{"agents":[1,null,{"agent_id":"a4","name":"Hapi Voice Assistant"}]}"#, Some("a4")),
            (br#"{"agents":[]}"#, None),
            (br#"{"agents":{}}"#, None),
            (br#"{}"#, None),
            (b"null", None),
            (b"<html>", None),
        ];
        for (body, want) in cases {
            assert_eq!(
                find_agent(body).as_deref(),
                *want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn created_agents() {
        assert_eq!(
            created_agent(br#"{"agent_id":"agent_fake123"}"#).as_deref(),
            Some("agent_fake123")
        );
        assert_eq!(created_agent(br#"{"agent_id":""}"#), None);
        assert_eq!(created_agent(br#"{"agent_id":7}"#), None);
        assert_eq!(created_agent(b"{}"), None);
        assert_eq!(created_agent(b"x"), None);
        assert_eq!(create_error(422, br#"{"detail":"Bad body"}"#), "Bad body");
        assert_eq!(
            create_error(
                401,
                br#"{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}"#
            ),
            "Invalid API key"
        );
        assert_eq!(create_error(500, b"oops"), "API error: 500");
    }

    #[test]
    fn token_replies() {
        let cases: &[(u16, &[u8], Result<&str, &str>)] = &[
            (200, br#"{"token":"tok_fake_abc"}"#, Ok("tok_fake_abc")),
            (201, br#"{"token":"t","other":1}"#, Ok("t")),
            (200, br#"{"token":""}"#, Err(ERR_NO_TOKEN)),
            (200, br#"{"token":null}"#, Err(ERR_NO_TOKEN)),
            (200, br#"{}"#, Err(ERR_NO_TOKEN)),
            (200, b"null", Err(ERR_NO_TOKEN)),
            (200, b"not json", Err(ERR_BAD_TOKEN_REPLY)),
            (200, b"", Err(ERR_BAD_TOKEN_REPLY)),
            (
                401,
                br#"{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}"#,
                Err("Invalid API key"),
            ),
            (
                404,
                br#"{"detail":"Not Found"}"#,
                Err("ElevenLabs API error: 404"),
            ),
            (
                400,
                br#"{"detail":{"message":""},"error":"bad"}"#,
                Err("bad"),
            ),
            (400, br#"{"error":"quota exceeded"}"#, Err("quota exceeded")),
            (400, br#"{"error":{"code":1}}"#, Err(r#"{"code":1}"#)),
            (400, br#"{"error":""}"#, Err("ElevenLabs API error: 400")),
            (500, b"<html>", Err("ElevenLabs API error: 500")),
            (503, b"", Err("ElevenLabs API error: 503")),
            (302, br#"{"token":"t"}"#, Err("ElevenLabs API error: 302")),
        ];
        for (status, body, want) in cases {
            let want = want.map(str::to_owned).map_err(str::to_owned);
            assert_eq!(
                token_result(*status, body),
                want,
                "{status} {}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn response_bodies() {
        // voice.md §4.3 / §7 observed bodies.
        assert_eq!(
            success_body("tok_fake_abc", "agent_fake123").to_string(),
            r#"{"allowed":true,"token":"tok_fake_abc","agentId":"agent_fake123"}"#
        );
        let cases = [
            (
                ERR_INVALID_BODY,
                r#"{"allowed":false,"error":"Invalid request body"}"#,
            ),
            (
                ERR_NO_API_KEY,
                r#"{"allowed":false,"error":"ElevenLabs API key not configured"}"#,
            ),
            (
                ERR_CREATE_FAILED,
                r#"{"allowed":false,"error":"Failed to create ElevenLabs agent automatically"}"#,
            ),
            (
                ERR_NO_TOKEN,
                r#"{"allowed":false,"error":"No token in ElevenLabs response"}"#,
            ),
            (
                "Invalid API key",
                r#"{"allowed":false,"error":"Invalid API key"}"#,
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(error_body(msg).to_string(), want);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let body = br#"{"agents":[{"agent_id":"a","name":"Hapi Voice Assistant"}],"token":"t","customApiKey":"k"}"#;
        for cut in 0..=body.len() {
            let b = &body[..cut];
            let _ = parse_request(b);
            let _ = find_agent(b);
            let _ = created_agent(b);
            let _ = token_result(200, b);
            let _ = token_result(500, b);
            let _ = create_error(500, b);
        }
    }
}
