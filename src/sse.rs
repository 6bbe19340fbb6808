//! Server-Sent Events framing (spec/sse.md §2.2): an optional `id:` line and exactly one
//! `data:` line per event, LF line ends, no `event:` field. Sans-IO.

use serde_json::Value;
use std::rc::Rc;

/// One event frame. `serde_json` never emits a raw newline, so one `data:` line suffices.
pub fn frame(id: Option<&str>, event: &Value) -> Rc<str> {
    let mut s = String::new();
    if let Some(id) = id {
        s.push_str("id: ");
        s.push_str(id);
        s.push('\n');
    }
    s.push_str("data: ");
    s.push_str(&event.to_string());
    s.push_str("\n\n");
    Rc::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes() {
        let v = serde_json::json!({"type": "heartbeat", "data": {"text": "a\nb"}});
        assert_eq!(
            &*frame(Some("e:1"), &v),
            "id: e:1\ndata: {\"type\":\"heartbeat\",\"data\":{\"text\":\"a\\nb\"}}\n\n"
        );
        assert_eq!(
            &*frame(None, &v),
            "data: {\"type\":\"heartbeat\",\"data\":{\"text\":\"a\\nb\"}}\n\n"
        );
    }
}
