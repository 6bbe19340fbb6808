//! What notifications call things (spec/push.md §5.4, spec/telegram.md §6): a session's display
//! name, the agent's name, and the request a permission notification is about. One copy for
//! Web Push and Telegram, which must name things alike; pure functions of stored JSON.

use serde_json::Value;

fn non_empty_str(v: Option<&Value>) -> Option<&str> {
    v?.as_str().filter(|s| !s.is_empty())
}

/// The first `n` characters of `s`.
pub fn prefix(s: &str, n: usize) -> &str {
    let end = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
    s.get(..end).unwrap_or(s)
}

/// Session display name (`push.md` §5.4): `metadata.name` if a non-empty string, else
/// `metadata.summary.text`, else the last non-empty `/`-segment of `metadata.path`, else the
/// first 8 characters of `session_id`. Wrong types count as absent.
pub fn session_name(session_id: &str, metadata: &Value) -> String {
    if let Some(n) = non_empty_str(metadata.get("name")) {
        return n.to_owned();
    }
    if let Some(t) = non_empty_str(metadata.get("summary").and_then(|s| s.get("text"))) {
        return t.to_owned();
    }
    if let Some(last) =
        non_empty_str(metadata.get("path")).and_then(|p| p.split('/').rfind(|s| !s.is_empty()))
    {
        return last.to_owned();
    }
    prefix(session_id, 8).to_owned()
}

/// Agent name from `metadata.flavor` (`push.md` §5.4): `Claude`, `Codex`, `Cursor`,
/// `Gemini`, `OpenCode`; anything else or absent → `Agent`.
pub fn agent_name(metadata: &Value) -> &'static str {
    match metadata.get("flavor").and_then(Value::as_str) {
        Some("claude") => "Claude",
        Some("codex") => "Codex",
        Some("cursor") => "Cursor",
        Some("gemini") => "Gemini",
        Some("opencode") => "OpenCode",
        _ => "Agent",
    }
}

/// The first pending request `(requestId, request)` of `agentState.requests`, in
/// JavaScript's `Object.keys` order: keys that are array indices ("0", "17", …) first in
/// numeric order, then the others in insertion order (the stored JSON's order, kept by
/// serde_json's `preserve_order`). None when `requests` is not a non-empty object.
pub fn first_request(agent_state: &Value) -> Option<(&str, &Value)> {
    let requests = agent_state.get("requests")?.as_object()?;
    let by_index = requests
        .iter()
        .filter_map(|(k, v)| Some((array_index(k)?, k, v)))
        .min_by_key(|(i, _, _)| *i);
    match by_index {
        Some((_, k, v)) => Some((k.as_str(), v)),
        None => requests.iter().next().map(|(k, v)| (k.as_str(), v)),
    }
}

/// `k` as an ECMAScript array index: a canonical decimal below 2³² − 1.
fn array_index(k: &str) -> Option<u32> {
    let canonical =
        !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) && (k == "0" || !k.starts_with('0'));
    if !canonical {
        return None;
    }
    k.parse::<u32>().ok().filter(|&i| i != u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_names_fall_back_in_order() {
        let id = "0123456789abcdef";
        assert_eq!(session_name(id, &json!({"name": "N", "path": "/a/b"})), "N");
        assert_eq!(
            session_name(id, &json!({"name": "", "summary": {"text": "S"}})),
            "S"
        );
        assert_eq!(
            session_name(id, &json!({"path": "/home/dev/proj/"})),
            "proj"
        );
        assert_eq!(session_name(id, &json!({"name": 7, "path": 3})), "01234567");
        assert_eq!(session_name("ab", &Value::Null), "ab");
    }

    #[test]
    fn agents_by_flavor() {
        assert_eq!(agent_name(&json!({"flavor": "codex"})), "Codex");
        assert_eq!(agent_name(&json!({"flavor": "other"})), "Agent");
        assert_eq!(agent_name(&Value::Null), "Agent");
    }

    #[test]
    fn the_first_request_is_javascripts_first_key() {
        let st = json!({"requests": {"b": 1, "10": 2, "2": 3, "a": 4}});
        assert_eq!(first_request(&st).map(|(k, _)| k), Some("2"));
        let st = json!({"requests": {"b": 1, "a": 2}});
        assert_eq!(first_request(&st).map(|(k, _)| k), Some("b"));
        assert_eq!(first_request(&json!({"requests": {}})), None);
        assert_eq!(first_request(&json!({"requests": []})), None);
    }
}
