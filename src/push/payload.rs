//! Notification JSON bodies (the push plaintext) and the texts inside them.
//!
//! Shapes follow the API document (`seeds/push-notifications.txt`, which wins over the
//! spec): title `Permission Request` / `Session Ready`, body `Claude wants to edit
//! src/main.ts` / `My Project session is ready`, `data.{sessionId, requestId?, url}`. The
//! spec's extra fields (`push.md` §5.1–5.2) are kept because the service worker uses them:
//! `tag` (`permission-<id>` / `ready-<id>`: a newer notification of the same kind replaces
//! the older one) and `data.type`. Name helpers are `push.md` §5.4; the size cap is §5.5.
//! The SSE toast (`push.md` §5.3) reuses [`PERMISSION_TITLE`]/[`READY_TITLE`] and the bodies.

use serde::Serialize;
use serde_json::Value;

use super::ece::MAX_PLAINTEXT;
pub use crate::naming::{agent_name, first_request, session_name};

/// Title of a permission-request notification.
pub const PERMISSION_TITLE: &str = "Permission Request";
/// Title of a session-ready notification.
pub const READY_TITLE: &str = "Session Ready";
/// Longest quoted detail (path, command, URL…) in a permission body, in characters.
const MAX_DETAIL_CHARS: usize = 100;

#[derive(Serialize)]
struct Payload<'a> {
    title: &'a str,
    body: &'a str,
    tag: String,
    data: Data<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    session_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    url: String,
}

/// `{"title":"Permission Request","body":…,"tag":"permission-<id>","data":{"type":"permission-request","sessionId":…,"requestId":…,"url":"/sessions/<id>"}}`,
/// compact, keys in that order. `body` is shortened (see [`fit`]) so the whole JSON stays
/// within [`MAX_PLAINTEXT`] bytes unless the ids alone are longer.
pub fn permission_request_payload(session_id: &str, request_id: &str, body: &str) -> String {
    fit(body, |b| {
        to_json(&Payload {
            title: PERMISSION_TITLE,
            body: b,
            tag: format!("permission-{session_id}"),
            data: Data {
                kind: "permission-request",
                session_id,
                request_id: Some(request_id),
                url: session_url(session_id),
            },
        })
    })
}

/// `{"title":"Session Ready","body":…,"tag":"ready-<id>","data":{"type":"ready","sessionId":…,"url":"/sessions/<id>"}}`,
/// compact, keys in that order, `body` shortened like [`permission_request_payload`].
pub fn session_ready_payload(session_id: &str, body: &str) -> String {
    fit(body, |b| {
        to_json(&Payload {
            title: READY_TITLE,
            body: b,
            tag: format!("ready-{session_id}"),
            data: Data {
                kind: "ready",
                session_id,
                request_id: None,
                url: session_url(session_id),
            },
        })
    })
}

/// The web app's path for a session, `data.url`: relative, resolved by the service worker.
pub fn session_url(session_id: &str) -> String {
    format!("/sessions/{session_id}")
}

/// Compact JSON of a payload (serialising strings into a struct cannot fail).
fn to_json(p: &Payload<'_>) -> String {
    serde_json::to_string(p).unwrap_or_default()
}

/// `ser(body)`; if longer than [`MAX_PLAINTEXT`], the longest prefix of `body` (cut at a
/// character boundary) plus `…` that fits, found by binary search (output length grows
/// with the prefix). If not even `…` alone fits, that is what is returned.
fn fit(body: &str, ser: impl Fn(&str) -> String) -> String {
    let out = ser(body);
    if out.len() <= MAX_PLAINTEXT {
        return out;
    }
    let cut = |keep: usize| ser(&format!("{}…", body.get(..keep).unwrap_or("")));
    // Invariant: prefix `lo` fits (or lo == 0); prefix `hi` does not.
    let (mut lo, mut hi) = (0usize, body.len());
    while hi - lo > 1 {
        let mid = floor_char_boundary(body, lo + (hi - lo) / 2);
        if mid == lo {
            // No boundary strictly between lo and hi other than lo: try the next one up.
            let next = body
                .get(lo..)
                .and_then(|r| r.chars().next())
                .map_or(hi, |c| lo + c.len_utf8());
            if next < hi && cut(next).len() <= MAX_PLAINTEXT {
                lo = next;
            } else {
                break;
            }
        } else if cut(mid).len() <= MAX_PLAINTEXT {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    cut(lo)
}

/// The largest index ≤ `i` that is a char boundary of `s`.
fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1; // index 0 is always a boundary, so this stops
    }
    i
}

/// `s` if it has at most `max` characters, else its first `max - 1` characters and `…`.
fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some(_) => {
            let end = s
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(s.len(), |(i, _)| i);
            format!("{}…", s.get(..end).unwrap_or(""))
        }
    }
}

/// A non-empty string field of a JSON object.
fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str().filter(|s| !s.is_empty())
}

/// What the agent wants to do, for `"<Agent> wants to <action>"`: from a request's `tool`
/// and `arguments` (the same fields `telegram.md` §6.3 reads). File paths under
/// `cwd` (the session's `metadata.path`) are shown relative to it; details are cut to 100
/// characters with line breaks flattened. Unknown tools or missing arguments give
/// `use <tool>`; an empty tool gives `use a tool`.
///
/// | tool | action |
/// |---|---|
/// | `Edit`, `MultiEdit`, `NotebookEdit` | `edit <file_path / path / notebook_path>` |
/// | `Write` | `write <file>` |
/// | `Read` | `read <file>` |
/// | `Bash`, `CodexBash`, `shell` | `run <command>` (a string, or an array of strings joined by spaces) |
/// | `Grep` | `search for <pattern>` |
/// | `Glob` | `find files matching <pattern>` |
/// | `WebFetch` | `fetch <url>` |
/// | `WebSearch` | `search the web for <query>` |
/// | `Task` | `start a task: <description / prompt>` |
/// | `TodoWrite` | `update the todo list` |
/// | `ExitPlanMode` | `exit plan mode` |
/// | `AskUserQuestion` | `ask you a question` |
pub fn tool_action(tool: &str, args: &Value, cwd: Option<&str>) -> String {
    let file = || {
        ["file_path", "path", "notebook_path"]
            .iter()
            .find_map(|k| str_field(args, k))
            .map(|p| detail(relative_to(p, cwd)))
    };
    let text = |keys: &[&str]| keys.iter().find_map(|k| str_field(args, k)).map(detail);
    let action = match tool {
        "Edit" | "MultiEdit" | "NotebookEdit" => file().map(|f| format!("edit {f}")),
        "Write" => file().map(|f| format!("write {f}")),
        "Read" => file().map(|f| format!("read {f}")),
        "Bash" | "CodexBash" | "shell" => command(args).map(|c| format!("run {c}")),
        "Grep" => text(&["pattern"]).map(|p| format!("search for {p}")),
        "Glob" => text(&["pattern"]).map(|p| format!("find files matching {p}")),
        "WebFetch" => text(&["url"]).map(|u| format!("fetch {u}")),
        "WebSearch" => text(&["query"]).map(|q| format!("search the web for {q}")),
        "Task" => text(&["description", "prompt"]).map(|d| format!("start a task: {d}")),
        "TodoWrite" => Some("update the todo list".to_owned()),
        "ExitPlanMode" => Some("exit plan mode".to_owned()),
        "AskUserQuestion" => Some("ask you a question".to_owned()),
        _ => None,
    };
    action.unwrap_or_else(|| match tool {
        "" => "use a tool".to_owned(),
        t => format!("use {}", detail(t)),
    })
}

/// `arguments.command` as one line: a string, or an array of strings joined by spaces.
fn command(args: &Value) -> Option<String> {
    match args.get("command")? {
        Value::String(s) if !s.is_empty() => Some(detail(s)),
        Value::Array(parts) => {
            let words: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
            let joined = words.join(" ");
            (!joined.is_empty()).then(|| detail(&joined))
        }
        _ => None,
    }
}

/// `path` relative to `cwd` when it lies strictly under it.
fn relative_to<'a>(path: &'a str, cwd: Option<&str>) -> &'a str {
    let Some(cwd) = cwd
        .map(|c| c.trim_end_matches('/'))
        .filter(|c| !c.is_empty())
    else {
        return path;
    };
    match path.strip_prefix(cwd).and_then(|r| r.strip_prefix('/')) {
        Some(rel) if !rel.is_empty() => rel,
        _ => path,
    }
}

/// One line (control characters become spaces, runs collapsed), trimmed, cut to 100 chars.
fn detail(s: &str) -> String {
    let flat = s
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty());
    truncate_chars(&flat.collect::<Vec<_>>().join(" "), MAX_DETAIL_CHARS)
}

/// Body of a permission notification: `"<Agent> wants to <action>"` ([`agent_name`],
/// [`tool_action`] with `metadata.path` as the working directory) for the request's `tool`
/// and `arguments`; `"<Agent> is asking for permission"` when `request` is None or has no
/// string `tool`.
pub fn permission_body(metadata: &Value, request: Option<&Value>) -> String {
    let agent = agent_name(metadata);
    let Some(tool) = request.and_then(|r| r.get("tool")).and_then(Value::as_str) else {
        return format!("{agent} is asking for permission");
    };
    let args = request
        .and_then(|r| r.get("arguments"))
        .unwrap_or(&Value::Null);
    let cwd = str_field(metadata, "path");
    format!("{agent} wants to {}", tool_action(tool, args, cwd))
}

/// Body of a ready notification: `"<session name> session is ready"` ([`session_name`]).
pub fn ready_body(session_id: &str, metadata: &Value) -> String {
    format!("{} session is ready", session_name(session_id, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SID: &str = "f1a77bfa-41cd-4fdc-8b38-632377e25222";

    #[test]
    fn exact_payloads() {
        assert_eq!(
            permission_request_payload("abc123", "req_456", "Claude wants to edit src/main.ts"),
            r#"{"title":"Permission Request","body":"Claude wants to edit src/main.ts","tag":"permission-abc123","data":{"type":"permission-request","sessionId":"abc123","requestId":"req_456","url":"/sessions/abc123"}}"#
        );
        assert_eq!(
            session_ready_payload("abc123", "My Project session is ready"),
            r#"{"title":"Session Ready","body":"My Project session is ready","tag":"ready-abc123","data":{"type":"ready","sessionId":"abc123","url":"/sessions/abc123"}}"#
        );
        // Escaping matches JSON.stringify: quotes, backslashes, controls; raw UTF-8.
        assert_eq!(
            session_ready_payload("s", "a\"b\\c\nd\u{1}é😀"),
            "{\"title\":\"Session Ready\",\"body\":\"a\\\"b\\\\c\\nd\\u0001é😀\",\"tag\":\"ready-s\",\"data\":{\"type\":\"ready\",\"sessionId\":\"s\",\"url\":\"/sessions/s\"}}"
        );
    }

    #[test]
    fn payloads_fit_one_record() {
        let bodies = [
            "x".repeat(10_000),
            "é".repeat(3_000),
            "😀".repeat(2_000),
            "\"".repeat(5_000),
            "\u{1}".repeat(5_000),
            format!("{}é", "a".repeat(3_900)),
        ];
        for b in &bodies {
            for p in [
                permission_request_payload(SID, "req-1", b),
                session_ready_payload(SID, b),
            ] {
                assert!(p.len() <= MAX_PLAINTEXT, "{}", p.len());
                assert!(
                    p.len() > MAX_PLAINTEXT - 16,
                    "not cut too much: {}",
                    p.len()
                );
                let v: Value = serde_json::from_str(&p).unwrap();
                let body = v["body"].as_str().unwrap();
                assert!(body.ends_with('…'));
                assert!(b.starts_with(body.trim_end_matches('…')));
                assert_eq!(v["data"]["sessionId"], SID);
            }
        }
        // A body that fits is untouched.
        let b = "y".repeat(3_000);
        let v: Value = serde_json::from_str(&session_ready_payload(SID, &b)).unwrap();
        assert_eq!(v["body"], b.as_str());
    }

    #[test]
    fn session_names() {
        let cases = [
            (
                json!({"name":"My Project","summary":{"text":"S"},"path":"/a/b"}),
                "My Project",
            ),
            (
                json!({"name":"","summary":{"text":"Fix the flaky test"},"path":"/a/b"}),
                "Fix the flaky test",
            ),
            (
                json!({"name":5,"summary":{"text":""},"path":"/home/u/proj/"}),
                "proj",
            ),
            (json!({"summary":"x","path":"/home/u/proj"}), "proj"),
            (json!({"path":"///"}), "f1a77bfa"),
            (json!({"path":"C:\\Users\\u\\proj"}), "C:\\Users\\u\\proj"),
            (json!({"path":""}), "f1a77bfa"),
            (json!(null), "f1a77bfa"),
            (json!([1, 2]), "f1a77bfa"),
        ];
        for (m, want) in cases {
            assert_eq!(session_name(SID, &m), want, "{m}");
        }
        assert_eq!(session_name("ab", &json!({})), "ab");
        assert_eq!(session_name("ééééééééé", &json!({})), "éééééééé");
        assert_eq!(
            ready_body(SID, &json!({"name":"My Project"})),
            "My Project session is ready"
        );
    }

    #[test]
    fn agent_names() {
        let cases = [
            ("claude", "Claude"),
            ("codex", "Codex"),
            ("cursor", "Cursor"),
            ("gemini", "Gemini"),
            ("opencode", "OpenCode"),
            ("Claude", "Agent"),
            ("", "Agent"),
        ];
        for (f, want) in cases {
            assert_eq!(agent_name(&json!({ "flavor": f })), want);
        }
        assert_eq!(agent_name(&json!({})), "Agent");
        assert_eq!(agent_name(&json!({"flavor": 1})), "Agent");
        assert_eq!(agent_name(&json!(null)), "Agent");
    }

    #[test]
    fn tool_actions() {
        let cwd = Some("/home/u/proj");
        let long = "a".repeat(150);
        let long_want = format!("run {}…", "a".repeat(99));
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "Edit",
                json!({"file_path":"/home/u/proj/src/main.ts"}),
                "edit src/main.ts",
            ),
            (
                "Edit",
                json!({"file_path":"/home/u/project2/x.ts"}),
                "edit /home/u/project2/x.ts",
            ),
            (
                "Edit",
                json!({"file_path":"/home/u/proj"}),
                "edit /home/u/proj",
            ),
            ("Edit", json!({"path":"rel/a.py"}), "edit rel/a.py"),
            ("MultiEdit", json!({"file_path":"/home/u/proj/a"}), "edit a"),
            (
                "NotebookEdit",
                json!({"notebook_path":"/home/u/proj/n.ipynb"}),
                "edit n.ipynb",
            ),
            (
                "Write",
                json!({"file_path":"/tmp/x","content":"hi"}),
                "write /tmp/x",
            ),
            (
                "Read",
                json!({"file_path":"/home/u/proj/README.md"}),
                "read README.md",
            ),
            ("Bash", json!({"command":"ls -la /tmp"}), "run ls -la /tmp"),
            (
                "Bash",
                json!({"command":"echo a\n\techo b"}),
                "run echo a echo b",
            ),
            (
                "CodexBash",
                json!({"command":["git","status"]}),
                "run git status",
            ),
            ("Bash", json!({"command":long}), &long_want),
            (
                "Grep",
                json!({"pattern":"TODO","path":"src"}),
                "search for TODO",
            ),
            (
                "Glob",
                json!({"pattern":"**/*.rs"}),
                "find files matching **/*.rs",
            ),
            (
                "WebFetch",
                json!({"url":"https://example.com"}),
                "fetch https://example.com",
            ),
            (
                "WebSearch",
                json!({"query":"rust p256"}),
                "search the web for rust p256",
            ),
            (
                "Task",
                json!({"description":"","prompt":"Refactor"}),
                "start a task: Refactor",
            ),
            ("TodoWrite", json!({"todos":[]}), "update the todo list"),
            ("ExitPlanMode", json!({"plan":"x"}), "exit plan mode"),
            ("AskUserQuestion", json!({}), "ask you a question"),
            ("Edit", json!({}), "use Edit"),
            ("Edit", json!({"file_path": 3}), "use Edit"),
            ("Bash", json!(null), "use Bash"),
            ("Bash", json!({"command":[1,2]}), "use Bash"),
            (
                "mcp__github__create_issue",
                json!({"title":"x"}),
                "use mcp__github__create_issue",
            ),
            ("", json!({}), "use a tool"),
        ];
        for (tool, args, want) in cases {
            assert_eq!(tool_action(tool, &args, cwd), want, "{tool} {args}");
        }
        assert_eq!(
            tool_action("Edit", &json!({"file_path":"/a/b"}), Some("/a/")),
            "edit b"
        );
        assert_eq!(
            tool_action("Edit", &json!({"file_path":"/a/b"}), Some("/")),
            "edit /a/b"
        );
        assert_eq!(
            tool_action("Edit", &json!({"file_path":"/a/b"}), None),
            "edit /a/b"
        );
    }

    #[test]
    fn permission_bodies() {
        let meta = json!({"flavor":"claude","path":"/home/u/proj"});
        let state = json!({"requests":{
            "req-a": {"tool":"Edit","arguments":{"file_path":"/home/u/proj/src/main.ts"}},
            "req-b": {"tool":"Bash","arguments":{"command":"ls"}}
        }});
        let (id, req) = first_request(&state).unwrap();
        assert_eq!(id, "req-a");
        assert_eq!(
            permission_body(&meta, Some(req)),
            "Claude wants to edit src/main.ts"
        );
        assert_eq!(
            permission_body(&json!(null), None),
            "Agent is asking for permission"
        );
        assert_eq!(
            permission_body(&json!({"flavor":"codex"}), Some(&json!({"tool":7}))),
            "Codex is asking for permission"
        );
        assert_eq!(
            permission_body(&json!({"flavor":"codex"}), Some(&json!({"tool":"Bash"}))),
            "Codex wants to use Bash"
        );
        for s in [
            json!(null),
            json!({}),
            json!({"requests":null}),
            json!({"requests":{}}),
            json!({"requests":[1]}),
        ] {
            assert!(first_request(&s).is_none(), "{s}");
        }
    }

    #[test]
    fn truncation_helpers() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcd", 3), "ab…");
        assert_eq!(truncate_chars("ééééé", 4), "ééé…");
        assert_eq!(truncate_chars("", 0), "");
        assert_eq!(truncate_chars("a", 0), "…");
        assert_eq!(floor_char_boundary("aé", 2), 1);
        assert_eq!(floor_char_boundary("aé", 9), 3);
    }
}
