//! `sendMessage` bodies (`telegram.md` §4.1, §6.3–§6.5): the `/start` and `/app` replies,
//! the permission-request notification with its Allow/Deny/Details keyboard, the ready
//! notification, and the name helpers of `push.md` §5.4. Baseline (v0.16.4) texts.
//!
//! `metadata` and `agent_state` are the session's JSON as the hub holds it, ideally already
//! validated (`rest.md` §1.2/§1.3; pass `null` for invalid ones). The helpers never panic
//! on any shape: wrong types count as absent, as described per function.

use serde_json::{Map, Value, json};

use super::callback::{Action, callback_data};
use super::url::deep_link;
pub use crate::naming::{agent_name, first_request, session_name};

/// Telegram's limit on a message text (§6.3), applied in UTF-16 code units, which is never
/// fewer than characters.
pub const MAX_TEXT_UTF16: usize = 4096;

/// Longest file path / command / description / URL shown (upstream's
/// `MAX_TOOL_ARGS_LENGTH`).
const MAX_ARG: usize = 150;

/// `/start` reply (§4.1): the welcome text and an "Open App" `web_app` button whose URL is
/// `public_url` verbatim. `thread_id` (a forum topic) becomes `message_thread_id`.
pub fn start_reply(chat_id: i64, thread_id: Option<i64>, public_url: &str) -> Value {
    send_message(
        chat_id,
        thread_id,
        "Welcome to HAPI Bot!\n\nUse the Mini App for full session management.".to_owned(),
        web_app_keyboard("Open App", public_url),
    )
}

/// `/app` reply (§4.1): `Open HAPI Mini App:` and the same "Open App" button.
pub fn app_reply(chat_id: i64, thread_id: Option<i64>, public_url: &str) -> Value {
    send_message(
        chat_id,
        thread_id,
        "Open HAPI Mini App:".to_owned(),
        web_app_keyboard("Open App", public_url),
    )
}

/// Ready notification (§6.5): `It's ready!\n\n<agent> is waiting for your command` and an
/// "Open Session" button with the session's deep link.
pub fn ready_message(chat_id: i64, session_id: &str, metadata: &Value, public_url: &str) -> Value {
    let text = format!(
        "It's ready!\n\n{} is waiting for your command",
        agent_name(metadata)
    );
    let keyboard = web_app_keyboard("Open Session", &deep_link(public_url, session_id));
    send_message(chat_id, None, text, keyboard)
}

/// Permission-request notification (§6.3, §6.4) for `chat_id`: [`permission_text`] and,
/// when `active` and `agentState.requests` has an entry, Allow/Deny buttons for the first
/// request plus a "Details" deep-link button; otherwise one "Open Session" button.
pub fn permission_message(
    chat_id: i64,
    session_id: &str,
    metadata: &Value,
    agent_state: &Value,
    active: bool,
    public_url: &str,
) -> Value {
    let text = permission_text(session_id, metadata, agent_state);
    let link = deep_link(public_url, session_id);
    let keyboard = match first_request(agent_state) {
        Some((request_id, _)) if active => json!({"inline_keyboard": [
            [
                {"text": "Allow", "callback_data": callback_data(Action::Approve, session_id, request_id)},
                {"text": "Deny", "callback_data": callback_data(Action::Deny, session_id, request_id)},
            ],
            [{"text": "Details", "web_app": {"url": link}}],
        ]}),
        _ => web_app_keyboard("Open Session", &link),
    };
    send_message(chat_id, None, text, keyboard)
}

/// The §6.3 text: `Permission Request`, an empty line, `Session: <name>`, then for the first
/// request (if it is truthy) `Tool: <tool>` and its argument line(s) when non-empty. The
/// whole text is kept within [`MAX_TEXT_UTF16`] by shortening the session name (then, if
/// the rest alone is too long, by cutting the end).
pub fn permission_text(session_id: &str, metadata: &Value, agent_state: &Value) -> String {
    let name = session_name(session_id, metadata);
    let mut tail = String::new();
    if let Some((_, req)) = first_request(agent_state).filter(|(_, r)| truthy(r)) {
        tail.push_str("\nTool: ");
        let tool = req.get("tool");
        match tool {
            Some(Value::String(s)) => tail.push_str(s),
            // Impossible for a validated state; JavaScript would print `undefined`.
            None => tail.push_str("undefined"),
            Some(other) => tail.push_str(&other.to_string()),
        }
        let args = req.get("arguments").unwrap_or(&Value::Null);
        let tool = tool.and_then(Value::as_str).unwrap_or("");
        if let Some(lines) = argument_lines(tool, args).filter(|l| !l.is_empty()) {
            tail.push('\n');
            tail.push_str(&lines);
        }
    }
    let head = "Permission Request\n\nSession: ";
    let text = format!("{head}{name}{tail}");
    if len16(&text) <= MAX_TEXT_UTF16 {
        return text;
    }
    let rest = len16(head) + len16(&tail);
    let budget = MAX_TEXT_UTF16.saturating_sub(rest).max(3);
    let text = format!("{head}{}{tail}", trunc(&name, budget));
    if len16(&text) <= MAX_TEXT_UTF16 {
        text
    } else {
        trunc(&text, MAX_TEXT_UTF16)
    }
}

/// §6.3's argument lines for one request; None (no line) when `args` is falsy or a field
/// used has an unexpected type (where upstream's formatter throws). "`a` or `b`" is
/// JavaScript's `||`: the first truthy value, which must then be a string.
fn argument_lines(tool: &str, args: &Value) -> Option<String> {
    if !truthy(args) {
        return None;
    }
    let file = || pick(args, &["file_path", "path"]).map(|f| f.unwrap_or("unknown"));
    let line = match tool {
        "Edit" => {
            let file = file()?;
            let old = pick(args, &["old_string"])?;
            let new = pick(args, &["new_string"])?;
            let mut s = format!("File: {}", trunc(file, MAX_ARG));
            if let Some(o) = old {
                s.push_str(&format!("\nOld: \"{}\"", trunc(o, 50)));
            }
            if let Some(n) = new {
                s.push_str(&format!("\nNew: \"{}\"", trunc(n, 50)));
            }
            s
        }
        "Write" => {
            let file = file()?;
            // JavaScript `content.length`: UTF-16 units of a string, or an array's length.
            let chars = match args.get("content") {
                Some(c) if !truthy(c) => None,
                None => None,
                Some(Value::String(s)) => Some(len16(s)),
                Some(Value::Array(a)) => Some(a.len()),
                Some(_) => return None,
            };
            match chars {
                Some(n) => format!("File: {} ({n} chars)", trunc(file, MAX_ARG)),
                None => format!("File: {}", trunc(file, MAX_ARG)),
            }
        }
        "Read" => format!("File: {}", trunc(file()?, MAX_ARG)),
        "Bash" => format!(
            "Command: {}",
            trunc(pick(args, &["command"])?.unwrap_or(""), MAX_ARG)
        ),
        "Task" => format!(
            "Task: {}",
            trunc(
                pick(args, &["description", "prompt"])?.unwrap_or(""),
                MAX_ARG
            )
        ),
        "Grep" | "Glob" => {
            let pattern = pick(args, &["pattern"])?.unwrap_or("");
            let path = pick(args, &["path"])?;
            let mut s = format!("Pattern: {pattern}");
            if let Some(p) = path {
                s.push_str(&format!("\nPath: {}", trunc(p, 80)));
            }
            s
        }
        "WebFetch" => format!(
            "URL: {}",
            trunc(pick(args, &["url"])?.unwrap_or(""), MAX_ARG)
        ),
        "TodoWrite" => {
            // `args.todos?.length || 0`
            let n = match args.get("todos") {
                Some(Value::Array(a)) => a.len(),
                Some(Value::String(s)) => len16(s),
                _ => 0,
            };
            format!("Updating {n} todo items")
        }
        _ => {
            let json = args.to_string();
            if len16(&json) > 10 {
                format!("Args: {}", trunc(&json, MAX_ARG))
            } else {
                String::new()
            }
        }
    };
    Some(line)
}

/// JavaScript `args.k1 || args.k2 || …` for string fields: `Some(None)` when every value
/// is falsy, `Some(Some(s))` for the first truthy one when it is a string, `None` when it is
/// any other type (upstream then throws and shows no argument line).
fn pick<'a>(args: &'a Value, keys: &[&str]) -> Option<Option<&'a str>> {
    match keys.iter().filter_map(|k| args.get(*k)).find(|v| truthy(v)) {
        None => Some(None),
        Some(Value::String(s)) => Some(Some(s)),
        Some(_) => None,
    }
}

/// JavaScript truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Length in UTF-16 code units (JavaScript's `length`).
fn len16(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Upstream's `truncate(s, n)`: `s` if its length ≤ `n`, else its first `n − 3` units and
/// `...`; lengths in UTF-16 units, cut at a character boundary (never inside a pair).
fn trunc(s: &str, n: usize) -> String {
    if len16(s) <= n {
        return s.to_owned();
    }
    let keep = n.saturating_sub(3);
    let mut used = 0;
    let mut end = 0;
    for (i, c) in s.char_indices() {
        used += c.len_utf16();
        if used > keep {
            break;
        }
        end = i + c.len_utf8();
    }
    format!("{}...", s.get(..end).unwrap_or(""))
}

/// `{"inline_keyboard":[[{"text":…,"web_app":{"url":…}}]]}`.
fn web_app_keyboard(text: &str, url: &str) -> Value {
    json!({"inline_keyboard": [[{"text": text, "web_app": {"url": url}}]]})
}

/// `sendMessage` body in grammY's key order: `chat_id`, `text`, `message_thread_id`,
/// `reply_markup`.
fn send_message(chat_id: i64, thread_id: Option<i64>, text: String, keyboard: Value) -> Value {
    let mut m = Map::new();
    m.insert("chat_id".into(), chat_id.into());
    m.insert("text".into(), text.into());
    if let Some(t) = thread_id {
        m.insert("message_thread_id".into(), t.into());
    }
    m.insert("reply_markup".into(), keyboard);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "9935aa4a-35cc-469b-b3d4-2b9302b06746";
    const URL: &str = "https://hapi.example.test/app";

    fn text_for(tool: &str, args: Value) -> String {
        let state =
            json!({"requests": {"toolu_01ABCDEFGHijklmnop": {"tool": tool, "arguments": args}}});
        permission_text(SID, &json!({"path": "/home/u/proj", "host": "box"}), &state)
    }

    /// Builds the expected text: header plus the given lines.
    fn want(lines: &[&str]) -> String {
        let mut s = "Permission Request\n\nSession: proj".to_owned();
        for l in lines {
            s.push('\n');
            s.push_str(l);
        }
        s
    }

    #[test]
    fn section_4_1_bodies_byte_for_byte() {
        let s = serde_json::to_string(&start_reply(424242, None, URL)).unwrap();
        assert_eq!(
            s,
            r#"{"chat_id":424242,"text":"Welcome to HAPI Bot!\n\nUse the Mini App for full session management.","reply_markup":{"inline_keyboard":[[{"text":"Open App","web_app":{"url":"https://hapi.example.test/app"}}]]}}"#
        );
        let s = serde_json::to_string(&app_reply(424242, None, URL)).unwrap();
        assert_eq!(
            s,
            r#"{"chat_id":424242,"text":"Open HAPI Mini App:","reply_markup":{"inline_keyboard":[[{"text":"Open App","web_app":{"url":"https://hapi.example.test/app"}}]]}}"#
        );
        let s = serde_json::to_string(&app_reply(-100, Some(55), URL)).unwrap();
        assert_eq!(
            s,
            r#"{"chat_id":-100,"text":"Open HAPI Mini App:","message_thread_id":55,"reply_markup":{"inline_keyboard":[[{"text":"Open App","web_app":{"url":"https://hapi.example.test/app"}}]]}}"#
        );
    }

    #[test]
    fn tool_rows() {
        let long = "x".repeat(200);
        let long_cut = format!("{}...", "x".repeat(147));
        let cases: Vec<(&str, Value, Vec<String>)> = vec![
            // Edit
            (
                "Edit",
                json!({"file_path": "/home/u/proj2/a.py", "old_string": "x = 1", "new_string": "x = 2"}),
                vec![
                    "Tool: Edit".into(),
                    "File: /home/u/proj2/a.py".into(),
                    "Old: \"x = 1\"".into(),
                    "New: \"x = 2\"".into(),
                ],
            ),
            (
                "Edit",
                json!({"path": "/p", "old_string": "", "new_string": "n".repeat(60)}),
                vec![
                    "Tool: Edit".into(),
                    "File: /p".into(),
                    format!("New: \"{}...\"", "n".repeat(47)),
                ],
            ),
            (
                "Edit",
                json!({"old_string": "a"}),
                vec![
                    "Tool: Edit".into(),
                    "File: unknown".into(),
                    "Old: \"a\"".into(),
                ],
            ),
            (
                "Edit",
                json!({"file_path": long}),
                vec!["Tool: Edit".into(), format!("File: {long_cut}")],
            ),
            (
                "Edit",
                json!({"file_path": "", "path": "/b"}),
                vec!["Tool: Edit".into(), "File: /b".into()],
            ),
            // Write
            (
                "Write",
                json!({"file_path": "/a.txt", "content": "hello"}),
                vec!["Tool: Write".into(), "File: /a.txt (5 chars)".into()],
            ),
            (
                "Write",
                json!({"file_path": "/a.txt", "content": ""}),
                vec!["Tool: Write".into(), "File: /a.txt".into()],
            ),
            (
                "Write",
                json!({"file_path": "/a", "content": "😀é"}),
                vec!["Tool: Write".into(), "File: /a (3 chars)".into()],
            ),
            (
                "Write",
                json!({"content": "x"}),
                vec!["Tool: Write".into(), "File: unknown (1 chars)".into()],
            ),
            // Read
            (
                "Read",
                json!({"file_path": "/etc/hosts"}),
                vec!["Tool: Read".into(), "File: /etc/hosts".into()],
            ),
            (
                "Read",
                json!({"limit": 5}),
                vec!["Tool: Read".into(), "File: unknown".into()],
            ),
            // Bash
            (
                "Bash",
                json!({"command": "ls -la /tmp"}),
                vec!["Tool: Bash".into(), "Command: ls -la /tmp".into()],
            ),
            (
                "Bash",
                json!({"command": long}),
                vec!["Tool: Bash".into(), format!("Command: {long_cut}")],
            ),
            (
                "Bash",
                json!({"timeout": 5}),
                vec!["Tool: Bash".into(), "Command: ".into()],
            ),
            // Task
            (
                "Task",
                json!({"description": "Find bugs", "prompt": "p"}),
                vec!["Tool: Task".into(), "Task: Find bugs".into()],
            ),
            (
                "Task",
                json!({"description": "", "prompt": "Do it"}),
                vec!["Tool: Task".into(), "Task: Do it".into()],
            ),
            // Grep / Glob
            (
                "Grep",
                json!({"pattern": long, "path": "/src"}),
                vec![
                    "Tool: Grep".into(),
                    format!("Pattern: {long}"),
                    "Path: /src".into(),
                ],
            ),
            (
                "Glob",
                json!({"pattern": "**/*.rs"}),
                vec!["Tool: Glob".into(), "Pattern: **/*.rs".into()],
            ),
            (
                "Glob",
                json!({"pattern": "*", "path": "p".repeat(100)}),
                vec![
                    "Tool: Glob".into(),
                    "Pattern: *".into(),
                    format!("Path: {}...", "p".repeat(77)),
                ],
            ),
            // WebFetch
            (
                "WebFetch",
                json!({"url": "https://example.com", "prompt": "x"}),
                vec!["Tool: WebFetch".into(), "URL: https://example.com".into()],
            ),
            // TodoWrite
            (
                "TodoWrite",
                json!({"todos": [{}, {}, {}]}),
                vec!["Tool: TodoWrite".into(), "Updating 3 todo items".into()],
            ),
            (
                "TodoWrite",
                json!({"other": 1}),
                vec!["Tool: TodoWrite".into(), "Updating 0 todo items".into()],
            ),
            // Anything else: compact JSON when longer than 10.
            ("mcp__x__y", json!({"a": 1}), vec!["Tool: mcp__x__y".into()]),
            (
                "mcp__x__y",
                json!({"ab": 123}),
                vec!["Tool: mcp__x__y".into()],
            ), // exactly 10
            (
                "mcp__x__y",
                json!({"abc": 123}),
                vec!["Tool: mcp__x__y".into(), r#"Args: {"abc":123}"#.into()],
            ),
            (
                "Other",
                json!({"query": long}),
                vec![
                    "Tool: Other".into(),
                    format!("Args: {{\"query\":\"{}...", "x".repeat(147 - 10)),
                ],
            ),
            (
                "Other",
                json!("a long string argument"),
                vec![
                    "Tool: Other".into(),
                    r#"Args: "a long string argument""#.into(),
                ],
            ),
            // Falsy arguments: no line.
            ("Bash", Value::Null, vec!["Tool: Bash".into()]),
            ("Bash", json!(""), vec!["Tool: Bash".into()]),
            ("Other", json!(0), vec!["Tool: Other".into()]),
            ("Other", json!(false), vec!["Tool: Other".into()]),
            // Unexpected types: no argument line.
            ("Edit", json!({"file_path": 5}), vec!["Tool: Edit".into()]),
            (
                "Edit",
                json!({"file_path": "/a", "old_string": ["x"]}),
                vec!["Tool: Edit".into()],
            ),
            (
                "Edit",
                json!({"file_path": "/a", "new_string": {"x": 1}}),
                vec!["Tool: Edit".into()],
            ),
            (
                "Write",
                json!({"file_path": "/a", "content": 12}),
                vec!["Tool: Write".into()],
            ),
            ("Read", json!({"path": true}), vec!["Tool: Read".into()]),
            (
                "Bash",
                json!({"command": ["ls"]}),
                vec!["Tool: Bash".into()],
            ),
            ("Task", json!({"description": 1}), vec!["Tool: Task".into()]),
            ("Grep", json!({"pattern": 5}), vec!["Tool: Grep".into()]),
            (
                "Grep",
                json!({"pattern": "x", "path": 5}),
                vec!["Tool: Grep".into()],
            ),
            (
                "WebFetch",
                json!({"url": {}}),
                vec!["Tool: WebFetch".into()],
            ),
            // Falsy wrong types are simply absent.
            (
                "Bash",
                json!({"command": 0}),
                vec!["Tool: Bash".into(), "Command: ".into()],
            ),
            (
                "Edit",
                json!({"file_path": null, "path": false}),
                vec!["Tool: Edit".into(), "File: unknown".into()],
            ),
        ];
        for (tool, args, lines) in cases {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            assert_eq!(text_for(tool, args.clone()), want(&lines), "{tool} {args}");
        }
    }

    #[test]
    fn section_6_3_example() {
        let state = json!({"requests": {"req-aaaa-1111": {"tool": "Edit", "arguments": {
            "file_path": "/home/u/proj2/a.py", "old_string": "x = 1", "new_string": "x = 2"
        }, "createdAt": 1}}});
        let meta = json!({"path": "/home/u/proj2", "host": "box", "name": "Fix the flaky test"});
        assert_eq!(
            permission_text("f1a77bfa-41cd-4fdc-8b38-632377e25222", &meta, &state),
            "Permission Request\n\nSession: Fix the flaky test\nTool: Edit\nFile: /home/u/proj2/a.py\nOld: \"x = 1\"\nNew: \"x = 2\""
        );
    }

    #[test]
    fn request_shapes() {
        let meta = json!({"path": "/home/u/proj", "host": "box"});
        let header = "Permission Request\n\nSession: proj";
        for state in [
            Value::Null,
            json!({}),
            json!({"requests": null}),
            json!({"requests": {}}),
            json!({"requests": []}),
            json!({"requests": {"r1": null}}),
        ] {
            assert_eq!(permission_text(SID, &meta, &state), header, "{state}");
        }
        // First in insertion order, not the newest.
        let state = json!({"requests": {"zz": {"tool": "Read"}, "aa": {"tool": "Bash"}}});
        assert_eq!(
            permission_text(SID, &meta, &state),
            format!("{header}\nTool: Read")
        );
        // Array-index keys come first, as in JavaScript.
        let state = json!({"requests": {"b": {"tool": "Read"}, "10": {"tool": "Bash"}, "2": {"tool": "Glob"}, "01": {"tool": "X"}}});
        assert_eq!(first_request(&state).map(|(k, _)| k), Some("2"));
        // Non-string tool (not possible after validation).
        let state = json!({"requests": {"r": {"tool": 5}}});
        assert_eq!(
            permission_text(SID, &meta, &state),
            format!("{header}\nTool: 5")
        );
        let state = json!({"requests": {"r": {}}});
        assert_eq!(
            permission_text(SID, &meta, &state),
            format!("{header}\nTool: undefined")
        );
    }

    #[test]
    fn keyboards() {
        let sid = "f1a77bfa-41cd-4fdc-8b38-632377e25222";
        let state = json!({"requests": {"req-aaaa-1111": {"tool": "Bash", "arguments": {"command": "ls"}}}});
        let meta = json!({"path": "/p", "host": "h", "name": "Fix the flaky test"});
        let body = permission_message(424242, sid, &meta, &state, true, URL);
        // §6.4 captured keyboard.
        assert_eq!(
            serde_json::to_string(&body["reply_markup"]).unwrap(),
            r#"{"inline_keyboard":[[{"text":"Allow","callback_data":"ap:f1a77bfa:req-aaaa"},{"text":"Deny","callback_data":"dn:f1a77bfa:req-aaaa"}],[{"text":"Details","web_app":{"url":"https://hapi.example.test/app?startapp=session_f1a77bfa-41cd-4fdc-8b38-632377e25222"}}]]}"#
        );
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            format!(
                r#"{{"chat_id":424242,"text":"Permission Request\n\nSession: Fix the flaky test\nTool: Bash\nCommand: ls","reply_markup":{}}}"#,
                serde_json::to_string(&body["reply_markup"]).unwrap()
            )
        );
        let open = r#"{"inline_keyboard":[[{"text":"Open Session","web_app":{"url":"https://hapi.example.test/app?startapp=session_f1a77bfa-41cd-4fdc-8b38-632377e25222"}}]]}"#;
        // Inactive, or no pending request → "Open Session".
        for (state, active) in [
            (state.clone(), false),
            (json!({"requests": {}}), true),
            (Value::Null, true),
        ] {
            let body = permission_message(1, sid, &meta, &state, active, URL);
            assert_eq!(serde_json::to_string(&body["reply_markup"]).unwrap(), open);
        }
        // A null request still gets the buttons (upstream checks keys only).
        let body = permission_message(1, sid, &meta, &json!({"requests": {"r": null}}), true, URL);
        assert_eq!(
            body["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
            "ap:f1a77bfa:r"
        );
    }

    #[test]
    fn ready_body() {
        let sid = "f1a77bfa-41cd-4fdc-8b38-632377e25222";
        let s = serde_json::to_string(&ready_message(
            424242,
            sid,
            &json!({"flavor": "codex", "path": "/p", "host": "h"}),
            URL,
        ))
        .unwrap();
        assert_eq!(
            s,
            r#"{"chat_id":424242,"text":"It's ready!\n\nCodex is waiting for your command","reply_markup":{"inline_keyboard":[[{"text":"Open Session","web_app":{"url":"https://hapi.example.test/app?startapp=session_f1a77bfa-41cd-4fdc-8b38-632377e25222"}}]]}}"#
        );
        let body = ready_message(1, sid, &Value::Null, URL);
        assert_eq!(
            body["text"],
            "It's ready!\n\nAgent is waiting for your command"
        );
    }

    #[test]
    fn text_cap() {
        let state = json!({"requests": {"r": {"tool": "Bash", "arguments": {"command": "ls"}}}});
        // A huge name is shortened so the text is exactly at the limit.
        let meta = json!({"name": "n".repeat(10_000), "path": "/p", "host": "h"});
        let t = permission_text(SID, &meta, &state);
        assert_eq!(len16(&t), MAX_TEXT_UTF16);
        assert!(t.starts_with("Permission Request\n\nSession: nnn"));
        assert!(t.ends_with("...\nTool: Bash\nCommand: ls"));
        // Wide characters: counted in UTF-16, cut at a character boundary.
        let meta = json!({"name": "😀".repeat(5_000), "path": "/p", "host": "h"});
        let t = permission_text(SID, &meta, &state);
        assert!(len16(&t) <= MAX_TEXT_UTF16);
        assert!(t.ends_with("😀...\nTool: Bash\nCommand: ls"));
        // The name alone is not enough (an untruncated Grep pattern): the end is cut.
        let state = json!({"requests": {"r": {"tool": "Grep", "arguments": {"pattern": "p".repeat(9_000)}}}});
        let t = permission_text(SID, &json!({"name": "proj"}), &state);
        assert_eq!(len16(&t), MAX_TEXT_UTF16);
        assert!(t.starts_with("Permission Request\n\nSession: ...\nTool: Grep\nPattern: ppp"));
        assert!(t.ends_with("p..."));
        // At the limit nothing changes.
        let head = "Permission Request\n\nSession: ".len();
        let name = "n".repeat(MAX_TEXT_UTF16 - head);
        let t = permission_text(SID, &json!({ "name": name }), &Value::Null);
        assert_eq!(t, format!("Permission Request\n\nSession: {name}"));
    }

    #[test]
    fn names() {
        let cases: &[(Value, &str)] = &[
            (
                json!({"name": "Renamed", "summary": {"text": "S"}, "path": "/a/b"}),
                "Renamed",
            ),
            (
                json!({"name": "", "summary": {"text": "Sum", "updatedAt": 1}, "path": "/a/b"}),
                "Sum",
            ),
            (
                json!({"summary": {"text": ""}, "path": "/home/u/proj/"}),
                "proj",
            ),
            (json!({"path": "C:\\Users\\u\\proj"}), "C:\\Users\\u\\proj"),
            (json!({"path": "/"}), "9935aa4a"),
            (json!({"path": ""}), "9935aa4a"),
            (json!({"name": 5, "path": "/x"}), "x"),
            (Value::Null, "9935aa4a"),
            (json!("str"), "9935aa4a"),
        ];
        for (meta, want) in cases {
            assert_eq!(session_name(SID, meta), *want, "{meta}");
        }
        assert_eq!(session_name("abc", &Value::Null), "abc");
        assert_eq!(session_name("ééééééééé", &Value::Null), "éééééééé");
        let flavors: &[(Value, &str)] = &[
            (json!({"flavor": "claude"}), "Claude"),
            (json!({"flavor": "codex"}), "Codex"),
            (json!({"flavor": "cursor"}), "Cursor"),
            (json!({"flavor": "gemini"}), "Gemini"),
            (json!({"flavor": "opencode"}), "OpenCode"),
            (json!({"flavor": "Claude"}), "Agent"),
            (json!({"flavor": null}), "Agent"),
            (json!({}), "Agent"),
            (Value::Null, "Agent"),
        ];
        for (meta, want) in flavors {
            assert_eq!(agent_name(meta), *want, "{meta}");
        }
    }

    #[test]
    fn any_shape_is_safe() {
        let shapes = [
            Value::Null,
            json!(true),
            json!(0),
            json!(-1.5e300),
            json!("s"),
            json!([]),
            json!([null, {"tool": "Edit"}]),
            json!({}),
            json!({"requests": 5}),
            json!({"requests": {"": {"tool": "", "arguments": {"": ""}}}}),
            json!({"requests": {"4294967295": {"tool": "Edit", "arguments": [1]}, "4294967294": 0}}),
            json!({"name": ["x"], "summary": "t", "path": 7, "flavor": 1}),
        ];
        for meta in &shapes {
            for state in &shapes {
                for active in [false, true] {
                    let body = permission_message(7, "😀", meta, state, active, "");
                    let text = body["text"].as_str().unwrap();
                    assert!(text.starts_with("Permission Request\n\nSession: "));
                    assert!(len16(text) <= MAX_TEXT_UTF16);
                }
            }
            assert!(ready_message(7, "", meta, "x").is_object());
        }
        // 4294967295 is not an array index (2^32 - 1); 4294967294 is.
        let state = &shapes[10];
        assert_eq!(first_request(state).map(|(k, _)| k), Some("4294967294"));
    }

    #[test]
    fn truncation() {
        assert_eq!(trunc("abcdef", 6), "abcdef");
        assert_eq!(trunc("abcdefg", 6), "abc...");
        assert_eq!(trunc("😀😀😀😀", 6), "😀...");
        assert_eq!(trunc("a😀😀😀", 6), "a😀...");
        assert_eq!(trunc("ab😀😀c", 6), "ab...");
        assert_eq!(trunc("abcd", 2), "...");
    }
}
