//! Approve/Deny buttons (`telegram.md` §4.2, §6.4): the `callback_data` format
//! `<ap|dn>:<sessionPrefix>:<requestPrefix>`, the `answerCallbackQuery` and
//! `editMessageText` bodies, and the answer texts of the §4.2 steps.
//!
//! The hub does the lookups (binding of `from.id`, session by prefix within the namespace,
//! request by prefix — without upstream's "first pending request" fallback) and the RPC.

use crate::naming::prefix;
use serde_json::{Map, Value, json};

/// §4.2 step 1: `from.id` has no binding.
pub const ANSWER_NOT_BOUND: &str = "Telegram account is not bound";
/// §4.2 step 2: the action is neither `ap` nor `dn`.
pub const ANSWER_UNKNOWN_ACTION: &str = "Unknown action";
/// §4.2 step 3: no session of the namespace starts with the prefix.
pub const ANSWER_SESSION_NOT_FOUND: &str = "Session not found";
/// §4.2 step 3: the session is not active.
pub const ANSWER_SESSION_INACTIVE: &str = "Session is inactive";
/// §4.2 step 4: no pending request starts with the prefix.
pub const ANSWER_REQUEST_NOT_FOUND: &str = "Request not found or already processed";
/// §4.2 step 6, approve.
pub const ANSWER_APPROVED: &str = "Approved!";
/// §4.2 step 6, deny.
pub const ANSWER_DENIED: &str = "Denied";
/// §4.2 step 7: RPC or edit failure.
pub const ANSWER_ERROR: &str = "An error occurred";

/// Telegram's limit on `callback_data`, in bytes.
const MAX_CALLBACK_DATA: usize = 64;
/// Characters of the session and request ids kept in `callback_data`.
const PREFIX_CHARS: usize = 8;

/// The decision a button carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `ap`: RPC `permission` with `approved: true`.
    Approve,
    /// `dn`: RPC `permission` with `approved: false`.
    Deny,
}

impl Action {
    /// The wire code, `ap` or `dn`.
    pub fn code(&self) -> &'static str {
        match self {
            Action::Approve => "ap",
            Action::Deny => "dn",
        }
    }
}

/// Parsed `callback_data` (§4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackData {
    /// `ap`/`dn`; None for any other action (answer `Unknown action`).
    pub action: Option<Action>,
    /// Part 1; empty when missing (an empty prefix matches any session).
    pub session_prefix: String,
    /// Part 2, when there is one (it may be empty).
    pub request_prefix: Option<String>,
}

/// Splits `callback_data` on `:` (§4.2): part 0 the action, part 1 the session prefix
/// (missing → empty), part 2 the request prefix (missing → None); further parts are ignored.
pub fn parse_callback(data: &str) -> CallbackData {
    let mut parts = data.split(':');
    let action = match parts.next() {
        Some("ap") => Some(Action::Approve),
        Some("dn") => Some(Action::Deny),
        _ => None,
    };
    let session_prefix = parts.next().unwrap_or("").to_owned();
    let request_prefix = parts.next().map(str::to_owned);
    CallbackData {
        action,
        session_prefix,
        request_prefix,
    }
}

/// `callback_data` for a button (§6.4): `<ap|dn>:<first 8 chars of session_id>` plus
/// `:<first 8 chars of request_id>` when that is non-empty (as upstream), cut at a character
/// boundary to at most 64 bytes.
pub fn callback_data(action: Action, session_id: &str, request_id: &str) -> String {
    let mut data = format!("{}:{}", action.code(), prefix(session_id, PREFIX_CHARS));
    let request = prefix(request_id, PREFIX_CHARS);
    if !request.is_empty() {
        data.push(':');
        data.push_str(request);
    }
    if data.len() > MAX_CALLBACK_DATA {
        let mut end = MAX_CALLBACK_DATA;
        while !data.is_char_boundary(end) {
            end -= 1; // terminates: 0 is a boundary
        }
        data.truncate(end);
    }
    data
}

/// `answerCallbackQuery` body (§4.2): `{"callback_query_id":…,"text":…}`, without `text`
/// when None (a silent answer that only stops the button's spinner).
pub fn answer_callback(query_id: &str, text: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("callback_query_id".into(), query_id.into());
    if let Some(t) = text {
        m.insert("text".into(), t.into());
    }
    Value::Object(m)
}

/// `editMessageText` body after a decision (§4.2 step 6): the message's text becomes
/// `Permission approved.` / `Permission denied.` and its buttons are removed.
pub fn edit_after_decision(chat_id: i64, message_id: i64, approved: bool) -> Value {
    let text = if approved {
        "Permission approved."
    } else {
        "Permission denied."
    };
    json!({
        "chat_id": chat_id,
        "message_id": message_id,
        "text": text,
        "reply_markup": {"inline_keyboard": [[]]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cases() {
        let cases: &[(&str, Option<Action>, &str, Option<&str>)] = &[
            (
                "ap:9935aa4a:toolu_01",
                Some(Action::Approve),
                "9935aa4a",
                Some("toolu_01"),
            ),
            (
                "dn:f1a77bfa:req-aaaa",
                Some(Action::Deny),
                "f1a77bfa",
                Some("req-aaaa"),
            ),
            ("ap:9935aa4a", Some(Action::Approve), "9935aa4a", None),
            ("ap:9935aa4a:", Some(Action::Approve), "9935aa4a", Some("")),
            ("ap", Some(Action::Approve), "", None),
            ("ap:", Some(Action::Approve), "", None),
            ("dn::x", Some(Action::Deny), "", Some("x")),
            ("ap:a:b:c", Some(Action::Approve), "a", Some("b")),
            ("zz:9935aa4a:toolu_01", None, "9935aa4a", Some("toolu_01")),
            ("AP:1:2", None, "1", Some("2")),
            ("", None, "", None),
            (":::", None, "", Some("")),
        ];
        for (data, action, session, request) in cases {
            let want = CallbackData {
                action: action.clone(),
                session_prefix: (*session).to_owned(),
                request_prefix: request.map(str::to_owned),
            };
            assert_eq!(parse_callback(data), want, "{data:?}");
        }
    }

    #[test]
    fn format_cases() {
        let cases: &[(Action, &str, &str, &str)] = &[
            (
                Action::Approve,
                "9935aa4a-35cc-469b-b3d4-2b9302b06746",
                "toolu_01ABCDEFGHijklmnop",
                "ap:9935aa4a:toolu_01",
            ),
            (
                Action::Deny,
                "f1a77bfa-41cd-4fdc-8b38-632377e25222",
                "req-aaaa-1111",
                "dn:f1a77bfa:req-aaaa",
            ),
            (Action::Approve, "abc", "r1", "ap:abc:r1"),
            (Action::Approve, "abcdefghij", "", "ap:abcdefgh"),
            (Action::Deny, "", "", "dn:"),
            // Non-ASCII ids: 8 characters each, then the 64-byte cap at a boundary.
            (Action::Approve, "ééééééééé", "ü", "ap:éééééééé:ü"),
        ];
        for (action, sid, rid, want) in cases {
            assert_eq!(callback_data(action.clone(), sid, rid), *want);
        }
        let wide = "😀".repeat(10);
        let data = callback_data(Action::Approve, &wide, &wide);
        assert!(data.len() <= 64, "{}", data.len());
        assert_eq!(data, format!("ap:{}:{}", "😀".repeat(8), "😀".repeat(7)));
        let pad = "\u{10FFFF}".repeat(9);
        assert!(callback_data(Action::Deny, &pad, &pad).len() <= 64);
    }

    #[test]
    fn round_trip() {
        let sid = "9935aa4a-35cc-469b-b3d4-2b9302b06746";
        let rid = "toolu_01ABCDEFGHijklmnop";
        for action in [Action::Approve, Action::Deny] {
            let parsed = parse_callback(&callback_data(action.clone(), sid, rid));
            assert_eq!(parsed.action, Some(action));
            assert!(sid.starts_with(&parsed.session_prefix));
            let req = parsed.request_prefix.unwrap();
            assert!(rid.starts_with(&req));
            assert_eq!(req.len(), 8);
        }
    }

    #[test]
    fn captured_bodies() {
        // telegram.md §8.
        let s = serde_json::to_string(&answer_callback("cbq3004", Some(ANSWER_APPROVED))).unwrap();
        assert_eq!(s, r#"{"callback_query_id":"cbq3004","text":"Approved!"}"#);
        let s = serde_json::to_string(&edit_after_decision(424242, 777, true)).unwrap();
        assert_eq!(
            s,
            r#"{"chat_id":424242,"message_id":777,"text":"Permission approved.","reply_markup":{"inline_keyboard":[[]]}}"#
        );
        let s = serde_json::to_string(&edit_after_decision(424242, 777, false)).unwrap();
        assert_eq!(
            s,
            r#"{"chat_id":424242,"message_id":777,"text":"Permission denied.","reply_markup":{"inline_keyboard":[[]]}}"#
        );
        let s = serde_json::to_string(&answer_callback("q", None)).unwrap();
        assert_eq!(s, r#"{"callback_query_id":"q"}"#);
    }
}
