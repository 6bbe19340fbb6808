//! The CLI's resume routes (`hapi resume`; the hand-off logic lives in `hub::resume`).
//!
//! Observed on the official hub v0.30.7 (tests/parity/cli_routes.test.mjs):
//! - `GET /cli/sessions/resumable[?machineId=]` → `{"sessions":[…]}`, newest `updatedAt`
//!   first: every session of the namespace whose agent ever started (it has
//!   `metadata.<flavor>SessionId`), active or not, filtered by `metadata.machineId` when the
//!   query names one (an empty value filters nothing). An entry is `{sessionId, flavor,
//!   directory, machineId?, host?, active, thinking, controlledByUser, agentSessionId, model,
//!   effort, modelReasoningEffort, permissionMode?, collaborationMode?, updatedAt, name?,
//!   summary?, firstUserMessage?}` (`model`/`effort`/`modelReasoningEffort` null when unset,
//!   `summary` = `metadata.summary.text`, `firstUserMessage` = the text of the first user
//!   message).
//! - `GET /cli/sessions/:id/resume-target` → `{"target":{…the entry without updatedAt, name,
//!   summary, firstUserMessage}}`; unknown id → 404 `{"error":"Session not found","code":
//!   "session_not_found"}` (another namespace's id too: hapid answers it like a missing one,
//!   the official hub 403 `access_denied`); never started → 409 [`NOT_STARTED`] with code
//!   `resume_unavailable`.
//! - `POST /cli/sessions/:id/handoff-local` (deferred, see `hub::resume`).

use super::{Outcome, path_param, query_param};
use crate::app::{ConnId, Now};
use crate::http::{Request, Response};
use crate::hub::Hub;
use crate::hub::model::Session;
use crate::hub::resume::{agent_session_id, resume_flavor};
use serde_json::{Map, Value, json};

/// The 409 text of a resume target whose agent never started.
pub const NOT_STARTED: &str = "Resume session ID unavailable. Start a new session in this directory, or retry after the agent has initialized.";

/// How many of a session's first messages are searched for its first user message.
const FIRST_MESSAGE_SCAN: i64 = 50;

/// `POST /cli/sessions/:id/handoff-local` of an authenticated CLI; `None` for any other
/// request (and for a bad token, which the ordinary route answers and counts).
pub fn deferred(hub: &mut Hub, conn: ConnId, req: &Request, now: Now) -> Option<Outcome> {
    let seg: Vec<&str> = req
        .head
        .path
        .trim_start_matches("/cli/")
        .split('/')
        .collect();
    let (m, ["sessions", id, "handoff-local"]) = (req.head.method.as_str(), seg.as_slice()) else {
        return None;
    };
    if m != "POST" {
        return None;
    }
    let ns = super::cli::authenticate(hub, &req.head).ok()?;
    let id = path_param(id).unwrap_or_default();
    Some(match hub.handoff_local(&ns, &id, conn, now) {
        Some(r) => Outcome::Reply(r.header("X-Hapi-Protocol-Version", "1")),
        None => Outcome::Deferred,
    })
}

/// The resume entry of a session whose agent started (`full` adds the list-only keys).
fn entry(hub: &Hub, s: &Session, full: bool) -> Option<Value> {
    let meta = s.exposed_metadata();
    let flavor = resume_flavor(&meta);
    let agent = agent_session_id(&meta, flavor)?;
    let mut e = Map::new();
    let str_of = |k: &str| meta.get(k).and_then(Value::as_str);
    e.insert("sessionId".into(), json!(s.id));
    e.insert("flavor".into(), json!(flavor));
    e.insert("directory".into(), json!(str_of("path")));
    for k in ["machineId", "host"] {
        if let Some(v) = str_of(k) {
            e.insert(k.into(), json!(v));
        }
    }
    e.insert("active".into(), json!(s.active));
    e.insert("thinking".into(), json!(s.thinking));
    let by_user = s.agent_state.get("controlledByUser") == Some(&Value::Bool(true));
    e.insert("controlledByUser".into(), json!(by_user));
    e.insert("agentSessionId".into(), json!(agent));
    e.insert("model".into(), json!(s.model));
    e.insert("effort".into(), json!(s.effort));
    e.insert(
        "modelReasoningEffort".into(),
        json!(s.model_reasoning_effort),
    );
    if let Some(p) = &s.permission_mode {
        e.insert("permissionMode".into(), json!(p));
    }
    if let Some(c) = &s.collaboration_mode {
        e.insert("collaborationMode".into(), json!(c));
    }
    if full {
        e.insert("updatedAt".into(), json!(s.updated_at));
        if let Some(n) = str_of("name") {
            e.insert("name".into(), json!(n));
        }
        if let Some(t) = meta.pointer("/summary/text").and_then(Value::as_str) {
            e.insert("summary".into(), json!(t));
        }
        if let Some(t) = first_user_message(hub, &s.id) {
            e.insert("firstUserMessage".into(), json!(t));
        }
    }
    Some(Value::Object(e))
}

/// The text of the first user message among the session's first messages.
fn first_user_message(hub: &Hub, sid: &str) -> Option<String> {
    let rows = hub
        .store
        .cli_messages_after(sid, 0, FIRST_MESSAGE_SCAN, i64::MAX)
        .ok()?;
    rows.iter().find_map(|r| {
        let v: Value = serde_json::from_str(&r.content).ok()?;
        if v.get("role").and_then(Value::as_str) != Some("user") {
            return None;
        }
        v.pointer("/content/text")
            .and_then(Value::as_str)
            .map(str::to_string)
    })
}

/// `GET /cli/sessions/resumable`.
pub fn resumable(hub: &Hub, ns: &str, req: &Request) -> Response {
    let machine = query_param(&req.head.query, "machineId").filter(|m| !m.is_empty());
    let mut list: Vec<&Session> = hub
        .sessions
        .values()
        .filter(|s| s.namespace == ns)
        .filter(|s| {
            machine
                .as_deref()
                .is_none_or(|m| s.metadata.get("machineId").and_then(Value::as_str) == Some(m))
        })
        .collect();
    list.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
    let sessions: Vec<Value> = list.iter().filter_map(|s| entry(hub, s, true)).collect();
    Response::json(200, &json!({ "sessions": sessions }))
}

/// `GET /cli/sessions/:id/resume-target`.
pub fn resume_target(hub: &Hub, ns: &str, id: &str) -> Response {
    let Some(s) = path_param(id).and_then(|id| hub.session(ns, &id).ok()) else {
        return Response::error_code(404, "Session not found", "session_not_found");
    };
    match entry(hub, s, false) {
        Some(t) => Response::json(200, &json!({ "target": t })),
        None => Response::error_code(409, NOT_STARTED, "resume_unavailable"),
    }
}
