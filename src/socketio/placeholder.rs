//! The placeholder check of binary Socket.IO packets, done when the header is decoded.
//!
//! socket.io-protocol "Packet encoding" (binary examples): a binary packet's JSON holds
//! `{"_placeholder":true,"num":n}` where the n-th attachment goes.

use serde_json::Value;

/// A placeholder whose `num` is missing, not an integer, or not below the attachment count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadPlaceholder;

/// The reference `reconstructPacket` check, done at decode time: every object with
/// `"_placeholder": true` must carry an integer `num` below `attachments`.
/// Recursion depth is bounded by serde_json's parse limit on the decoded value.
pub(super) fn check_placeholders(v: &Value, attachments: usize) -> Result<(), BadPlaceholder> {
    match v {
        Value::Array(items) => items
            .iter()
            .try_for_each(|x| check_placeholders(x, attachments)),
        Value::Object(map) if map.get("_placeholder") == Some(&Value::Bool(true)) => {
            let limit = u64::try_from(attachments).unwrap_or(u64::MAX);
            match map.get("num").and_then(Value::as_u64) {
                Some(n) if n < limit => Ok(()),
                _ => Err(BadPlaceholder),
            }
        }
        Value::Object(map) => map
            .values()
            .try_for_each(|x| check_placeholders(x, attachments)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders() {
        let ok = [
            json!(["a", {"_placeholder": true, "num": 0}]),
            json!({"x": [{"_placeholder": true, "num": 1}]}),
            json!([{"_placeholder": false, "num": "x"}]),
            json!([{"_placeholder": "true"}]),
            json!("plain"),
        ];
        for v in &ok {
            assert_eq!(check_placeholders(v, 2), Ok(()), "{v}");
        }
        let bad = [
            json!([{"_placeholder": true, "num": 2}]),
            json!([{"_placeholder": true, "num": 0.5}]),
            json!([{"_placeholder": true, "num": null}]),
            json!({"a": {"b": [{"_placeholder": true}]}}),
        ];
        for v in &bad {
            assert_eq!(check_placeholders(v, 2), Err(BadPlaceholder), "{v}");
        }
    }
}
