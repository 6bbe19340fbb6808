//! The CLI's REST routes under `/cli/*` (spec/cli-protocol.md §3): token auth on every call,
//! `X-Hapi-Protocol-Version: 1` on every answer, upstream's exact error texts (the CLI matches
//! `Session access denied` / `Machine access denied`), and upstream's 403/404 split.

use super::{json_body, path_param, query_param, store_failure};
use crate::app::Now;
use crate::http::{Request, Response};
use crate::hub::{Hub, HubError};
use serde_json::{Value, json};

/// Handles a `/cli/*` request. A wrong token is counted by the credential gate, which may
/// hold the answer (`hub::gate`); the correct token is never refused.
pub fn route(
    hub: &mut Hub,
    conn: crate::app::ConnId,
    req: &Request,
    now: Now,
    ip: std::net::IpAddr,
) -> super::Outcome {
    if let Some(out) = super::cli_resume::deferred(hub, conn, req, now) {
        return out;
    }
    let r = route_inner(hub, req, now);
    if r.status == 401 && r.body == br#"{"error":"Invalid token"}"# {
        hub.gate.failed(ip, now.mono);
    } else if r.status != 401 && crate::auth::token::is_weak(&hub.settings.cli_api_token) {
        hub.gate.weak_success(ip, now.mono);
    }
    super::Outcome::Reply(r.header("X-Hapi-Protocol-Version", "1"))
}

/// The namespace of the request's `Bearer` CLI token, or the 401 to answer.
pub fn authenticate(hub: &Hub, head: &crate::http::Head) -> Result<String, Response> {
    let Some(h) = head.header("authorization") else {
        return Err(Response::error(401, "Missing Authorization header"));
    };
    // ^Bearer\s+(.+)$, case-insensitive "Bearer".
    let token = h
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bearer"))
        .and_then(|_| h.get(6..))
        .filter(|rest| rest.starts_with(|c: char| c.is_whitespace()))
        .map(str::trim_start)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(Response::error(401, "Invalid Authorization header"));
    };
    crate::auth::token::authenticate(token, &hub.settings.cli_api_token)
        .map(str::to_string)
        .ok_or_else(|| Response::error(401, "Invalid token"))
}

fn session_guard(hub: &Hub, ns: &str, id: &str) -> Result<(), Response> {
    match hub.sessions.get(id) {
        None => Err(Response::error(404, "Session not found")),
        Some(s) if s.namespace != ns => Err(Response::error(403, "Session access denied")),
        Some(_) => Ok(()),
    }
}

fn opt_string(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn route_inner(hub: &mut Hub, req: &Request, now: Now) -> Response {
    let ns = match authenticate(hub, &req.head) {
        Ok(ns) => ns,
        Err(r) => return r,
    };
    let m = req.head.method.as_str();
    let get = m == "GET" || m == "HEAD";
    let seg: Vec<&str> = req
        .head
        .path
        .trim_start_matches("/cli/")
        .split('/')
        .collect();
    match (m, seg.as_slice()) {
        ("POST", ["sessions"]) => {
            let b = json_body(req);
            let Some(tag) = b
                .get("tag")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            else {
                return Response::error(400, "Invalid body");
            };
            let metadata = b.get("metadata").cloned().unwrap_or(Value::Null);
            let agent_state = b.get("agentState").cloned().unwrap_or(Value::Null);
            let extras = [
                opt_string(&b, "model"),
                opt_string(&b, "effort"),
                opt_string(&b, "modelReasoningEffort"),
            ];
            match hub.session_for_tag(&ns, tag, metadata, agent_state, extras, now) {
                Ok(s) => Response::json(
                    200,
                    &json!({ "session": s, "sessionSummaryContract": hub.settings.summary.contract }),
                ),
                Err(HubError::Store(e)) => store_failure(e),
                Err(HubError::NotFound) => Response::error(404, "Session not found"),
            }
        }
        (_, ["sessions", "resumable"]) if get => super::cli_resume::resumable(hub, &ns, req),
        (_, ["sessions", id, "resume-target"]) if get => {
            super::cli_resume::resume_target(hub, &ns, id)
        }
        (_, ["sessions", id]) if get => {
            let Some(id) = path_param(id) else {
                return Response::error(404, "Session not found");
            };
            if let Err(r) = session_guard(hub, &ns, &id) {
                return r;
            }
            match hub.sessions.get(&id) {
                Some(s) => Response::json(
                    200,
                    &json!({ "session": s.to_json(), "sessionSummaryContract": hub.settings.summary.contract }),
                ),
                None => Response::error(404, "Session not found"),
            }
        }
        (_, ["sessions", id, "messages"]) if get => {
            let Some(id) = path_param(id) else {
                return Response::error(404, "Session not found");
            };
            if let Err(r) = session_guard(hub, &ns, &id) {
                return r;
            }
            let q = &req.head.query;
            let after = match query_param(q, "afterSeq").map(|v| super::web::js_number(&v)) {
                Some(Some(n)) if n.fract() == 0.0 && n >= 0.0 => n as i64,
                _ => return Response::error(400, "Invalid query"),
            };
            let limit = match query_param(q, "limit").map(|v| super::web::js_number(&v)) {
                None => 200,
                Some(Some(n)) if n.fract() == 0.0 && (1.0..=200.0).contains(&n) => n as i64,
                Some(_) => return Response::error(400, "Invalid query"),
            };
            match hub.store.cli_messages_after(&id, after, limit, now.unix_ms) {
                Ok(rows) => {
                    let v: Vec<Value> = rows
                        .iter()
                        .map(crate::hub::messages::cli_fetch_json)
                        .collect();
                    Response::json(200, &json!({ "messages": v }))
                }
                Err(e) => store_failure(e),
            }
        }
        ("POST", ["machines"]) => {
            let b = json_body(req);
            let Some(id) = b
                .get("id")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            else {
                return Response::error(400, "Invalid body");
            };
            if !b.is_object() || b.get("metadata").is_none() {
                return Response::error(400, "Invalid body");
            }
            let metadata = b.get("metadata").cloned().unwrap_or(Value::Null);
            let runner_state = b.get("runnerState").cloned().unwrap_or(Value::Null);
            match hub.machine_register(&ns, id, metadata, runner_state, now) {
                Ok(m) => Response::json(200, &json!({ "machine": m })),
                Err(Err(())) => Response::error(403, "Machine access denied"),
                Err(Ok(HubError::Store(e))) => store_failure(e),
                Err(Ok(HubError::NotFound)) => Response::error(404, "Machine not found"),
            }
        }
        (_, ["machines", id]) if get => {
            let Some(id) = path_param(id) else {
                return Response::error(404, "Machine not found");
            };
            match hub.machines.get(&id) {
                None => Response::error(404, "Machine not found"),
                Some(mc) if mc.namespace != ns => Response::error(403, "Machine access denied"),
                Some(mc) => Response::json(200, &json!({ "machine": mc.to_json() })),
            }
        }
        _ => Response::not_found(),
    }
}
