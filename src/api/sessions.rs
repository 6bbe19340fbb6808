//! Session routes of the web API (spec/rest.md §3.2–3.24): actions, messages, permissions,
//! uploads, files and git. Guards run in the spec's order: lookup (another namespace's id
//! answers 404 like a missing one), "requires active", body validation, action.

use super::{Caller, Outcome, json_body, query_param, session_error, store_failure};
use crate::app::{ConnId, Now};
use crate::http::{Request, Response};
use crate::hub::Hub;
use crate::hub::cli::RpcThen;
use crate::hub::model::Session;
use crate::hub::rpc::Shape;
use serde_json::{Map, Value, json};

/// Largest decoded upload (spec/rest.md §3.15).
const MAX_UPLOAD: usize = 50 * 1024 * 1024;

/// Everything a session route needs.
pub struct Ctx<'a> {
    pub hub: &'a mut Hub,
    pub caller: &'a Caller,
    pub conn: ConnId,
    pub req: &'a Request,
    pub now: Now,
    pub sid: String,
}

impl Ctx<'_> {
    pub(super) fn session(&self) -> Option<&Session> {
        self.hub.session(&self.caller.ns, &self.sid).ok()
    }

    /// Calls a session RPC; the route answers when it returns.
    pub(super) fn rpc(&mut self, name: &str, params: Value, shape: Shape) -> Outcome {
        let method = format!("{}:{name}", self.sid);
        self.hub.rpc_call(
            &self.caller.ns,
            method,
            &params,
            RpcThen::Reply {
                conn: self.conn,
                shape,
            },
            self.now,
        );
        Outcome::Deferred
    }
}

fn reply(r: Response) -> Outcome {
    Outcome::Reply(r)
}

use super::agents::{ALL_MODES, permission_modes as flavor_modes};
const DECISIONS: &[&str] = &["approved", "approved_for_session", "denied", "abort"];

/// Dispatches `/api/sessions/:id/...` (`rest` = the segments after the id).
pub fn route(mut cx: Ctx<'_>, rest: &[&str]) -> Outcome {
    if let Some(o) = super::agents::session_route(&mut cx, rest) {
        return o;
    }
    let Some(s) = cx.session() else {
        return reply(Response::error(404, "Session not found"));
    };
    let active = s.active;
    let m = cx.req.head.method.clone();
    let get = m == "GET" || m == "HEAD";
    let inactive = || reply(Response::error(409, "Session is inactive"));
    match (m.as_str(), rest) {
        (_, []) if get => reply(Response::json(200, &json!({ "session": s.to_json() }))),
        ("PATCH", []) => rename(&mut cx),
        ("PUT", ["pin"]) => reply(cx.hub.set_pin(&cx.sid, &json_body(cx.req))),
        ("PATCH", ["summary"]) => reply(cx.hub.set_summary(&cx.sid, &json_body(cx.req), cx.now)),
        // hapid has no title provider (HAPI_TITLE_PROVIDER_*): the official unconfigured answer.
        ("POST", ["title-suggestion"]) => reply(Response::error(
            503,
            "Title suggestions are not configured on this Hub",
        )),
        ("POST", ["archive"]) if cx.hub.already_archived(&cx.sid) => reply(Response::json(
            200,
            &json!({"ok": true, "alreadyArchived": true}),
        )),
        ("DELETE", []) => delete(&mut cx),
        (_, ["messages"]) if get => reply(messages_page(cx.hub, &cx.sid, &cx.req.head.query)),
        ("POST", ["messages"]) if !active => reply(session_inactive()),
        ("POST", ["messages"]) => send_message(&mut cx),
        ("POST", ["messages", "queued-state"]) => reply(queued_state(&mut cx)),
        ("DELETE", ["messages", id]) => {
            let (sid, id) = (cx.sid.clone(), super::path_param(id).unwrap_or_default());
            queue_answer(cx.hub.cancel_message(cx.conn, &sid, &id, cx.now))
        }
        ("POST", ["messages", id, "retry"]) => {
            let (sid, id) = (cx.sid.clone(), super::path_param(id).unwrap_or_default());
            queue_answer(cx.hub.retry_message(cx.conn, &sid, &id, cx.now))
        }
        ("POST", ["messages", _, "steer"] | ["rewind"]) if !active => reply(session_inactive()),
        ("POST", ["rewind"]) => rewind(&mut cx),
        ("POST", ["messages", id, "steer"]) => {
            let (sid, id) = (cx.sid.clone(), super::path_param(id).unwrap_or_default());
            let ns = cx.caller.ns.clone();
            queue_answer(cx.hub.steer_message(cx.conn, &ns, &sid, &id, cx.now))
        }
        ("POST", [op @ ("resume" | "reopen")]) => {
            let reopen = *op == "reopen";
            super::resume::resume(cx.hub, &cx.caller.ns, &cx.sid, reopen, cx.conn, cx.now)
        }
        ("POST", ["collaboration-mode"]) if !active => reply(session_inactive()),
        ("POST", ["abort" | "archive" | "switch"]) if !active => inactive(),
        ("POST", ["abort"]) => cx.rpc(
            "abort",
            json!({"reason": "User aborted via Telegram Bot"}),
            Shape::Ok,
        ),
        ("POST", ["switch"]) => cx.rpc("switch", json!({"to": "remote"}), Shape::Ok),
        ("POST", ["archive"]) => {
            let sid = cx.sid.clone();
            cx.rpc("killSession", json!({}), Shape::Archive { sid })
        }
        ("POST", ["collaboration-mode"]) => {
            if s.flavor() != "codex" {
                return reply(Response::error(
                    400,
                    "Collaboration mode is only supported for Codex sessions",
                ));
            }
            if s.agent_state.get("controlledByUser") == Some(&Value::Bool(true)) {
                return reply(Response::error(
                    409,
                    "Collaboration mode can only be changed for remote Codex sessions",
                ));
            }
            let b = json_body(cx.req);
            let Some(mode) = b
                .get("mode")
                .and_then(Value::as_str)
                .filter(|m| *m == "default" || *m == "plan")
            else {
                return reply(Response::error(400, "Invalid body"));
            };
            let sid = cx.sid.clone();
            cx.rpc(
                "set-session-config",
                json!({"collaborationMode": mode}),
                Shape::Config { sid },
            )
        }
        ("POST", ["permissions", _, "approve" | "deny"]) if !active => inactive(),
        ("POST", ["permissions", rid, action]) => {
            let Some(rid) = super::path_param(rid) else {
                return reply(Response::error(404, "Request not found"));
            };
            permission(&mut cx, &rid, *action == "approve")
        }
        ("POST", ["upload"] | ["upload", "delete"]) if !active => inactive(),
        ("POST", ["upload"]) => upload(&mut cx),
        ("POST", ["upload", "delete"]) => {
            let b = json_body(cx.req);
            let Some(path) = b
                .get("path")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
            else {
                return reply(Response::error(400, "Invalid body"));
            };
            let params = json!({"sessionId": cx.sid, "path": path});
            cx.rpc("deleteUpload", params, Shape::Verbatim500)
        }
        (_, ["cursor-chat-store"]) if get => {
            match cx
                .hub
                .cursor_chat_store(&cx.caller.ns, &cx.sid, cx.conn, cx.now)
            {
                Some(r) => reply(r),
                None => Outcome::Deferred,
            }
        }
        (_, ["skills"]) if get => cx.rpc("listSkills", json!({}), Shape::Verbatim200),
        (_, ["scratchlist", ..]) => super::scratchlist::route(&mut cx, rest),
        (_, ["export"]) if get => super::scratchlist::export(&mut cx),
        (
            _,
            [
                what @ ("git-status" | "git-diff-numstat" | "git-diff-file" | "file" | "files"
                | "directory"),
            ],
        ) if get => files_and_git(&mut cx, what),
        _ => reply(Response::not_found()),
    }
}

/// `PATCH /api/sessions/:id` (spec/rest.md §3.9): `name` set on the stored metadata object,
/// keeping every other key (upstream dropped unknown keys here).
fn rename(cx: &mut Ctx<'_>) -> Outcome {
    let b = json_body(cx.req);
    let Some(name) = b
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| (1..=255).contains(&n.chars().count()))
    else {
        return reply(Response::error(400, "Invalid body: name is required"));
    };
    let hub = &mut *cx.hub;
    let Some(s) = hub.sessions.get_mut(&cx.sid) else {
        return reply(Response::error(500, "Session not found"));
    };
    let before = s.clone();
    let mut meta = match &s.metadata {
        Value::Object(m) => m.clone(),
        _ => {
            let mut m = Map::new();
            m.insert("path".into(), json!(""));
            m.insert("host".into(), json!(""));
            m
        }
    };
    meta.insert("name".into(), json!(name));
    s.metadata = Value::Object(meta);
    s.metadata_version += 1;
    s.seq += 1;
    if let Err(e) = hub.store.put_session(&s.to_row()) {
        *s = before;
        crate::log::warn(&format!("rename: {e}"));
        return reply(Response::error(500, "Failed to update session metadata"));
    }
    let (ns, full) = (s.namespace.clone(), s.to_json());
    hub.events.publish(
        &ns,
        json!({"type": "session-updated", "sessionId": cx.sid, "data": full}),
        &mut hub.fx,
    );
    reply(Response::json(200, &json!({"ok": true})))
}

/// `DELETE /api/sessions/:id` (spec/rest.md §3.10).
fn delete(cx: &mut Ctx<'_>) -> Outcome {
    if cx.session().is_some_and(|s| s.active) {
        return reply(Response::error(
            409,
            "Cannot delete active session. Archive it first.",
        ));
    }
    match cx.hub.delete_session(&cx.sid) {
        Ok(()) => reply(Response::json(200, &json!({"ok": true}))),
        Err(e) => {
            crate::log::warn(&format!("delete: {e:?}"));
            reply(Response::error(500, "Failed to delete session"))
        }
    }
}

/// One numeric query field as zod's `z.coerce.number().int().min(min)` checks it (`None`:
/// absent; an issue is added for a bad value).
fn query_int(
    query: &str,
    key: &str,
    min: i64,
    max: Option<i64>,
    issues: &mut Issues,
) -> Option<i64> {
    let v = query_param(query, key)?;
    let Some(n) = super::web::js_number(&v).filter(|n| !n.is_nan()) else {
        issues.add(key, "Invalid input: expected number, received NaN");
        return None;
    };
    if n.fract() != 0.0 || !n.is_finite() {
        issues.add(key, "Invalid input: expected int, received number");
        return None;
    }
    if n < min as f64 {
        issues.add(key, &format!("Too small: expected number to be >={min}"));
        return None;
    }
    if let Some(max) = max.filter(|m| n > *m as f64) {
        issues.add(key, &format!("Too big: expected number to be <={max}"));
        return None;
    }
    Some(n as i64)
}

/// Parses the page query of `GET /api/sessions/:id/messages` (CONTRACT.md §6): the fields,
/// then the cursor rules in the official order, each failure a zod-style 400.
pub(crate) fn parse_page_query(query: &str) -> Result<crate::hub::pages::PageQuery, Response> {
    let mut issues = Issues::default();
    let limit = query_int(query, "limit", 1, Some(200), &mut issues);
    let before_seq = query_int(query, "beforeSeq", 1, None, &mut issues);
    let before_at = query_int(query, "beforeAt", 0, None, &mut issues);
    let after_seq = query_int(query, "afterSeq", 1, None, &mut issues);
    let after_at = query_int(query, "afterAt", 0, None, &mut issues);
    let until_seq = query_int(query, "untilSeq", 1, None, &mut issues);
    let until_at = query_int(query, "untilAt", 0, None, &mut issues);
    let epoch = query_int(query, "epoch", 0, None, &mut issues);
    if !issues.is_empty() {
        return Err(issues.response("Invalid query"));
    }
    let pair = |at: Option<i64>, seq: Option<i64>| at.zip(seq);
    let (before, after, until) = (
        pair(before_at, before_seq),
        pair(after_at, after_seq),
        pair(until_at, until_seq),
    );
    if before_at.is_some() != before_seq.is_some() {
        issues.add(
            "beforeAt",
            "beforeAt and beforeSeq must be provided together",
        );
    }
    if after_at.is_some() != after_seq.is_some() {
        issues.add("afterAt", "afterAt and afterSeq must be provided together");
    }
    if until_at.is_some() != until_seq.is_some() {
        issues.add("untilAt", "untilAt and untilSeq must be provided together");
    }
    if before.is_some() && after.is_some() {
        issues.add("afterAt", "before and after cursors are mutually exclusive");
    }
    if until.is_some() && after.is_none() {
        issues.add("untilAt", "until cursor requires an after cursor");
    }
    if epoch.is_some() && after.is_none() {
        issues.add("epoch", "epoch requires an after cursor");
    }
    if !issues.is_empty() {
        return Err(issues.response("Invalid query"));
    }
    Ok(crate::hub::pages::PageQuery {
        limit: limit.unwrap_or(50),
        before,
        after,
        until,
        epoch,
    })
}

/// `GET /api/sessions/:id/messages` (CONTRACT.md §6).
pub fn messages_page(hub: &Hub, sid: &str, query: &str) -> Response {
    match parse_page_query(query) {
        Err(r) => r,
        Ok(q) => match hub.message_page(sid, q) {
            Ok(body) => Response::json(200, &body),
            Err(e) => session_error(e),
        },
    }
}

/// `POST /api/sessions/:id/rewind` (CONTRACT.md §6): checks, then the CLI's
/// `rewind-conversation` RPC.
fn rewind(cx: &mut Ctx<'_>) -> Outcome {
    let b = json_body(cx.req);
    let Some(local_id) = b
        .get("messageLocalId")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
    else {
        let mut issues = Issues::default();
        let v = b.get("messageLocalId");
        issues.add(
            "messageLocalId",
            &format!("Invalid input: expected string, received {}", js_type(v)),
        );
        return reply(issues.response("Invalid body"));
    };
    match crate::hub::pages::rewind_refusal(cx.hub, &cx.sid, &local_id) {
        Err(e) => return reply(session_error(e)),
        Ok(Some(reason)) => {
            return reply(Response::json(
                409,
                &json!({"error": reason, "hydrateFailed": false}),
            ));
        }
        Ok(None) => {}
    }
    let sid = cx.sid.clone();
    let shape = Shape::Rewind {
        sid,
        local_id: local_id.clone(),
    };
    cx.rpc(
        "rewind-conversation",
        json!({"messageLocalId": local_id}),
        shape,
    )
}

/// A queue route's answer: `200` with its status object, now or later.
fn queue_answer(r: Result<crate::hub::queue::Answer, crate::hub::HubError>) -> Outcome {
    match r {
        Ok(crate::hub::queue::Answer::Done(body)) => reply(Response::json(200, &body)),
        Ok(crate::hub::queue::Answer::Deferred) => Outcome::Deferred,
        Err(e) => reply(session_error(e)),
    }
}

/// The 409 of a route that needs an active session (CONTRACT.md §0).
fn session_inactive() -> Response {
    Response::error_code(409, "Session is inactive", "session_inactive")
}

/// The scheduling horizon: `scheduledAt` at most this far ahead (CONTRACT.md §2).
const SCHEDULE_HORIZON_MS: i64 = 7 * 24 * 3600 * 1000;
/// Most localIds one queued-state request may name.
const QUEUED_STATE_MAX: usize = 1000;

/// The JavaScript type name zod reports for a value (`None` = a missing key).
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

/// Field issues in the order found, zod's `flatten()` shape.
#[derive(Default)]
pub(crate) struct Issues(Map<String, Value>);

impl Issues {
    pub(crate) fn add(&mut self, field: &str, msg: &str) {
        let list = self
            .0
            .entry(field.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = list {
            a.push(json!(msg));
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `400 {"error": error, "issues": {"formErrors": [], "fieldErrors": {…}}}`.
    pub(crate) fn response(self, error: &str) -> Response {
        let issues = json!({"formErrors": [], "fieldErrors": Value::Object(self.0)});
        Response::json(400, &json!({"error": error, "issues": issues}))
    }
}

/// The 400 of a body that is not a JSON object.
fn not_an_object(b: &Value) -> Response {
    let form = format!(
        "Invalid input: expected object, received {}",
        js_type(Some(b))
    );
    let issues = json!({"formErrors": [form], "fieldErrors": {}});
    Response::json(400, &json!({"error": "Invalid body", "issues": issues}))
}

/// `POST …/messages/queued-state` (CONTRACT.md §4): where each named message stands.
fn queued_state(cx: &mut Ctx<'_>) -> Response {
    let b = json_body(cx.req);
    if !b.is_object() {
        return not_an_object(&b);
    }
    let mut issues = Issues::default();
    let ids = match b.get("localIds") {
        Some(Value::Array(a)) => {
            if a.len() > QUEUED_STATE_MAX {
                issues.add(
                    "localIds",
                    &format!("Too big: expected array to have <={QUEUED_STATE_MAX} items"),
                );
            }
            if a.iter().any(|v| v.as_str().is_none_or(str::is_empty)) {
                issues.add("localIds", "Invalid input: expected string");
            }
            a.iter().filter_map(Value::as_str).collect::<Vec<_>>()
        }
        v => {
            let msg = format!("Invalid input: expected array, received {}", js_type(v));
            issues.add("localIds", &msg);
            Vec::new()
        }
    };
    if !issues.is_empty() {
        return issues.response("Invalid body");
    }
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for l in ids {
        if !seen.insert(l) {
            continue;
        }
        match cx.hub.store.message_by_local_id(&cx.sid, l) {
            Ok(Some(m)) => rows.push(m),
            Ok(None) => {}
            Err(e) => return store_failure(e),
        }
    }
    rows.sort_by_key(|m| m.seq);
    let (mut queued, mut unknown, mut invoked) = (Vec::new(), Vec::new(), Vec::new());
    for m in rows {
        let l = m.local_id.clone().unwrap_or_default();
        match m.invoked_at {
            Some(at) => invoked.push(json!({"localId": l, "invokedAt": at})),
            None if m.state == crate::store::Delivery::Queued => queued.push(json!(l)),
            None => unknown.push(json!(l)),
        }
    }
    Response::json(
        200,
        &json!({"queuedLocalIds": queued, "indeterminateLocalIds": unknown,
                "invokedLocalMessages": invoked}),
    )
}

fn valid_attachment(a: &Value) -> bool {
    let s = |k: &str| a.get(k).is_some_and(Value::is_string);
    s("id")
        && s("filename")
        && s("mimeType")
        && s("path")
        && a.get("size").is_some_and(Value::is_number)
        && a.get("previewUrl").is_none_or(Value::is_string)
}

/// `POST /api/sessions/:id/messages` (spec/rest.md §3.12; CONTRACT.md §2): the shape first,
/// then the scheduling rules, each with the official hub's zod-style 400.
fn send_message(cx: &mut Ctx<'_>) -> Outcome {
    match parse_send(&json_body(cx.req), cx.now.unix_ms) {
        Err(r) => reply(r),
        Ok(send) => match cx.hub.user_message(&cx.sid, send, cx.now) {
            Ok(()) => reply(Response::json(200, &json!({"ok": true}))),
            Err(e) => reply(session_error(e)),
        },
    }
}

/// Validates a send body at wall-clock `now_ms` (CONTRACT.md §2).
pub(crate) fn parse_send(b: &Value, now_ms: i64) -> Result<crate::hub::messages::Send, Response> {
    if !b.is_object() {
        return Err(not_an_object(b));
    }
    let mut issues = Issues::default();
    let expected = |what: &str, v: Option<&Value>| {
        format!("Invalid input: expected {what}, received {}", js_type(v))
    };
    let text = match b.get("text") {
        Some(Value::String(t)) => t.clone(),
        v => {
            issues.add("text", &expected("string", v));
            String::new()
        }
    };
    let local_id = match b.get("localId") {
        None => None,
        Some(Value::String(l)) if !l.is_empty() => Some(l.clone()),
        Some(Value::String(_)) => {
            issues.add(
                "localId",
                "Too small: expected string to have >=1 characters",
            );
            None
        }
        v => {
            issues.add("localId", &expected("string", v));
            None
        }
    };
    let attachments = match b.get("attachments") {
        None => None,
        Some(Value::Array(a)) if a.iter().all(valid_attachment) => Some(a.clone()),
        Some(Value::Array(_)) => {
            issues.add("attachments", "Invalid input");
            None
        }
        v => {
            issues.add("attachments", &expected("array", v));
            None
        }
    };
    let scheduled_at = match b.get("scheduledAt") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() != 0.0 || !f.is_finite() => {
                issues.add(
                    "scheduledAt",
                    "Invalid input: expected int, received number",
                );
                None
            }
            Some(f) if f <= 0.0 => {
                issues.add("scheduledAt", "Too small: expected number to be >0");
                None
            }
            Some(f) => Some(f as i64),
            None => None,
        },
        v => {
            issues.add("scheduledAt", &expected("number", v));
            None
        }
    };
    let steer = match b.get("deliveryMode") {
        None => false,
        Some(Value::String(m)) if m == "queue" => false,
        Some(Value::String(m)) if m == "steer" => true,
        Some(_) => {
            issues.add(
                "deliveryMode",
                "Invalid option: expected one of \"queue\"|\"steer\"",
            );
            false
        }
    };
    if !issues.is_empty() {
        return Err(issues.response("Invalid body"));
    }
    if let Some(at) = scheduled_at {
        if local_id.is_none() {
            issues.add("localId", "scheduledAt requires localId");
        }
        if at > now_ms.saturating_add(SCHEDULE_HORIZON_MS) {
            issues.add("scheduledAt", "scheduledAt must be within 7 days from now");
        }
        if attachments.as_ref().is_some_and(|a| !a.is_empty()) {
            issues.add(
                "attachments",
                "scheduled messages with attachments are not supported",
            );
        }
        if steer {
            issues.add(
                "deliveryMode",
                "scheduled messages cannot use steer delivery",
            );
        }
    }
    if !issues.is_empty() {
        return Err(issues.response("Invalid body"));
    }
    if text.is_empty() && attachments.as_ref().is_none_or(Vec::is_empty) {
        return Err(Response::error(400, "Message requires text or attachments"));
    }
    Ok(crate::hub::messages::Send {
        text,
        attachments,
        local_id,
        scheduled_at,
        steer,
    })
}

/// Approve / deny (spec/rest.md §3.13–3.14).
fn permission(cx: &mut Ctx<'_>, rid: &str, approve: bool) -> Outcome {
    let pending = cx
        .session()
        .is_some_and(|s| s.pending_requests().iter().any(|r| r == rid));
    let b = match json_body(cx.req) {
        Value::Null => json!({}),
        v => v,
    };
    let decision_ok = b
        .get("decision")
        .is_none_or(|d| d.as_str().is_some_and(|d| DECISIONS.contains(&d)));
    if !approve {
        if !pending {
            return reply(Response::error(404, "Request not found"));
        }
        if !b.is_object() || !decision_ok {
            return reply(Response::error(400, "Invalid body"));
        }
        let mut p = json!({"id": rid, "approved": false});
        if let Some(d) = b.get("decision") {
            p["decision"] = d.clone();
        }
        return cx.rpc("permission", p, Shape::Ok);
    }
    let mode_ok = b
        .get("mode")
        .is_none_or(|m| m.as_str().is_some_and(|m| ALL_MODES.contains(&m)));
    let tools_ok = b
        .get("allowTools")
        .is_none_or(|t| t.as_array().is_some_and(|a| a.iter().all(Value::is_string)));
    let answers_ok = b.get("answers").is_none_or(|a| {
        a.as_object().is_some_and(|o| {
            o.values().all(|v| {
                let strs = |x: &Value| x.as_array().is_some_and(|a| a.iter().all(Value::is_string));
                strs(v) || v.get("answers").is_some_and(strs)
            })
        })
    });
    if !b.is_object() || !mode_ok || !tools_ok || !decision_ok || !answers_ok {
        return reply(Response::error(400, "Invalid body"));
    }
    if !pending {
        return reply(Response::error(404, "Request not found"));
    }
    if let Some(mode) = b.get("mode").and_then(Value::as_str) {
        let flavor = cx
            .session()
            .map(|s| s.flavor().to_string())
            .unwrap_or_default();
        if !flavor_modes(&flavor).contains(&mode) {
            return reply(Response::error(
                400,
                "Invalid permission mode for session flavor",
            ));
        }
    }
    let mut p = json!({"id": rid, "approved": true});
    for k in ["mode", "allowTools", "decision", "answers"] {
        if let Some(v) = b.get(k) {
            p[k] = v.clone();
        }
    }
    cx.rpc("permission", p, Shape::Ok)
}

/// `POST /api/sessions/:id/upload` (spec/rest.md §3.15).
fn upload(cx: &mut Ctx<'_>) -> Outcome {
    let b = json_body(cx.req);
    let len_ok = |k: &str| {
        b.get(k)
            .and_then(Value::as_str)
            .filter(|s| (1..=255).contains(&s.chars().count()))
    };
    let (Some(filename), Some(mime), Some(content)) = (
        len_ok("filename"),
        len_ok("mimeType"),
        b.get("content")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty()),
    ) else {
        return reply(Response::error(400, "Invalid body"));
    };
    let padding = if content.ends_with("==") {
        2
    } else {
        usize::from(content.ends_with('='))
    };
    if (content.len() * 3 / 4).saturating_sub(padding) > MAX_UPLOAD {
        return reply(Response::json(
            413,
            &json!({"success": false, "error": "File too large (max 50MB)"}),
        ));
    }
    let params =
        json!({"sessionId": cx.sid, "filename": filename, "content": content, "mimeType": mime});
    cx.rpc("uploadFile", params, Shape::Verbatim500)
}

/// Git and file routes (spec/rest.md §3.19–3.24).
fn files_and_git(cx: &mut Ctx<'_>, what: &str) -> Outcome {
    let Some(path) = cx.session().and_then(|s| {
        s.exposed_metadata()
            .get("path")
            .and_then(Value::as_str)
            .map(str::to_string)
    }) else {
        return reply(Response::json(
            200,
            &json!({"success": false, "error": "Session path not available"}),
        ));
    };
    let q = cx.req.head.query.clone();
    let staged = match query_param(&q, "staged").as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let file_path = query_param(&q, "path").filter(|p| !p.is_empty());
    let with_staged = |mut v: Value| {
        if let Some(s) = staged {
            v["staged"] = json!(s);
        }
        v
    };
    match what {
        "git-status" => cx.rpc("git-status", json!({"cwd": path}), Shape::Verbatim200),
        "git-diff-numstat" => cx.rpc(
            "git-diff-numstat",
            with_staged(json!({"cwd": path})),
            Shape::Verbatim200,
        ),
        "git-diff-file" => {
            let Some(fp) = file_path else {
                return reply(Response::error(400, "Invalid file path"));
            };
            cx.rpc(
                "git-diff-file",
                with_staged(json!({"cwd": path, "filePath": fp})),
                Shape::Verbatim200,
            )
        }
        "file" => {
            let Some(fp) = file_path else {
                return reply(Response::error(400, "Invalid file path"));
            };
            cx.rpc("readFile", json!({"path": fp}), Shape::Verbatim200)
        }
        "files" => {
            let limit = match query_param(&q, "limit").map(|v| super::web::js_number(&v)) {
                None => 200,
                Some(Some(n)) if n.fract() == 0.0 && (1.0..=500.0).contains(&n) => n as usize,
                Some(_) => return reply(Response::error(400, "Invalid query")),
            };
            let mut args = vec![json!("--files")];
            if let Some(query) = query_param(&q, "query")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
            {
                args.push(json!("--iglob"));
                args.push(json!(format!("*{query}*")));
            }
            let query = query_param(&q, "query").unwrap_or_default();
            let search = json!({"query": query.trim(), "limit": limit});
            let sid = cx.sid.clone();
            cx.rpc(
                "ripgrep",
                json!({"args": args, "cwd": path, "fileSearch": search}),
                Shape::Files { limit, sid },
            )
        }
        _ => {
            let dir = query_param(&q, "path").unwrap_or_default();
            cx.rpc("listDirectory", json!({"path": dir}), Shape::Verbatim200)
        }
    }
}
