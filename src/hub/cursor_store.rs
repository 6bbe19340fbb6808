//! `GET /api/sessions/:id/cursor-chat-store`: whether a Cursor session's chat store is on disk
//! and which kind it is, asked of the runner before the web offers Reopen.
//!
//! Observed on the official hub v0.30.7 (tests/parity/cursor.test.mjs):
//! - not a Cursor session, or no `metadata.cursorSessionId` / `metadata.path` → 409
//!   `{"error":"Cursor resume metadata is unavailable","code":"resume_unavailable"}`
//!   (active or not does not matter);
//! - no online machine (the one of `metadata.machineId`, else one with the same host) → 503
//!   `{"error":"No machine online","code":"no_machine_online"}`;
//! - RPC `<machine>:cursor-chat-store-status` with `{workspacePath, cursorSessionId}`; an
//!   answer `{onDisk: boolean, store: "legacy"|"acp", …}` → 200 `{onDisk, store}` (other keys
//!   dropped); any other answer → 502 `{"error": <the validation issues, as the official hub's
//!   schema library prints them: a pretty JSON list>, "code":"probe_failed"}`; an RPC failure
//!   (no handler, the 30 s timeout) → 502 `{"error": <failure>, "code":"probe_failed"}`.

use super::cli::RpcThen;
use super::rpc::Shape;
use super::{ConnId, Hub, Now};
use crate::http::Response;
use serde_json::{Value, json};

const STORES: [&str; 2] = ["legacy", "acp"];

/// What the schema library calls a value's type in its messages.
fn js_type(v: Option<&Value>) -> &'static str {
    match v {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

fn probe_failed(msg: &str) -> Response {
    Response::error_code(502, msg, "probe_failed")
}

/// Validates the runner's answer: `{onDisk, store}` or the list of issues.
pub fn store_answer(result: Result<Value, String>) -> Response {
    let v = match result {
        Ok(v) => v,
        Err(e) => return probe_failed(&e),
    };
    let mut issues = Vec::new();
    if !v.is_object() {
        let got = js_type(Some(&v));
        issues.push(
            json!({"expected": "object", "code": "invalid_type", "path": [],
            "message": format!("Invalid input: expected object, received {got}")}),
        );
    } else {
        let on_disk = v.get("onDisk");
        if !on_disk.is_some_and(Value::is_boolean) {
            let got = js_type(on_disk);
            issues.push(
                json!({"expected": "boolean", "code": "invalid_type", "path": ["onDisk"],
                "message": format!("Invalid input: expected boolean, received {got}")}),
            );
        }
        let store = v.get("store").and_then(Value::as_str);
        if !store.is_some_and(|s| STORES.contains(&s)) {
            issues.push(
                json!({"code": "invalid_value", "values": STORES, "path": ["store"],
                "message": "Invalid option: expected one of \"legacy\"|\"acp\""}),
            );
        }
    }
    if issues.is_empty() {
        return Response::json(200, &json!({"onDisk": v["onDisk"], "store": v["store"]}));
    }
    let text = serde_json::to_string_pretty(&Value::Array(issues)).unwrap_or_default();
    probe_failed(&text)
}

impl Hub {
    /// Starts the probe; `Some(resp)` answers now, `None` when the RPC answers.
    pub fn cursor_chat_store(
        &mut self,
        ns: &str,
        sid: &str,
        conn: ConnId,
        now: Now,
    ) -> Option<Response> {
        let Ok(s) = self.session(ns, sid) else {
            return Some(Response::error(404, "Session not found"));
        };
        let meta = s.exposed_metadata();
        let str_of = |k: &str| {
            meta.get(k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let (Some("cursor"), Some(cursor_sid), Some(path)) =
            (str_of("flavor"), str_of("cursorSessionId"), str_of("path"))
        else {
            return Some(Response::error_code(
                409,
                "Cursor resume metadata is unavailable",
                "resume_unavailable",
            ));
        };
        let Some(machine) = self.home_machine(ns, &meta) else {
            return Some(Response::error_code(
                503,
                "No machine online",
                "no_machine_online",
            ));
        };
        let method = format!("{}:cursor-chat-store-status", machine.id);
        let params = json!({"workspacePath": path, "cursorSessionId": cursor_sid});
        let then = RpcThen::Reply {
            conn,
            shape: Shape::CursorStore,
        };
        self.rpc_call(ns, method, &params, then, now);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_validated_like_the_official_schema() {
        let ok = store_answer(Ok(json!({"onDisk": false, "store": "legacy", "x": 1})));
        assert_eq!(ok.status, 200);
        assert_eq!(ok.body, br#"{"onDisk":false,"store":"legacy"}"#);
        let bad = store_answer(Ok(json!("garbage")));
        assert_eq!(bad.status, 502);
        let v: Value = serde_json::from_slice(&bad.body).unwrap();
        assert_eq!(
            v["error"],
            "[\n  {\n    \"expected\": \"object\",\n    \"code\": \"invalid_type\",\n    \"path\": [],\n    \"message\": \"Invalid input: expected object, received string\"\n  }\n]"
        );
        assert_eq!(v["code"], "probe_failed");
    }
}
