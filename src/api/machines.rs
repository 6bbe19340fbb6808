//! Machine and push routes of the web API (spec/rest.md §3.25–3.30).

use super::{Caller, Outcome, json_body, store_failure};
use crate::app::{ConnId, Now};
use crate::http::{Request, Response};
use crate::hub::Hub;
use crate::hub::cli::RpcThen;
use crate::hub::rpc::Shape;
use crate::store::PushRow;
use serde_json::{Value, json};

/// `GET /api/machines`: the caller's online machines.
pub fn list(hub: &Hub, caller: &Caller) -> Response {
    let mut list: Vec<&crate::hub::model::Machine> = hub
        .machines
        .values()
        .filter(|m| m.namespace == caller.ns && m.active)
        .collect();
    list.sort_by_key(|m| m.created_at);
    let v: Vec<Value> = list.into_iter().map(|m| m.to_web_json()).collect();
    Response::json(200, &json!({ "machines": v }))
}

/// `POST /api/machines/:id/spawn` and `/paths/exists`.
pub fn action(
    hub: &mut Hub,
    caller: &Caller,
    conn: ConnId,
    id: &str,
    what: &str,
    req: &Request,
    now: Now,
) -> Outcome {
    if hub.machine(&caller.ns, id).is_err() {
        return Outcome::Reply(Response::error(404, "Machine not found"));
    }
    if (what == "spawn" || what == "agent-availability")
        && !super::agents::runner_current(hub, &caller.ns, id)
    {
        return Outcome::Reply(match what {
            "spawn" => super::agents::spawn_upgrade_required(),
            _ => super::agents::availability_upgrade_required(),
        });
    }
    let b = json_body(req);
    let (name, params, shape) = match what {
        "agent-availability" => ("agent-availability", json!({}), Shape::Verbatim500),
        "spawn" => {
            let Some(params) = super::agents::spawn_params(&b) else {
                return Outcome::Reply(Response::error(400, "Invalid body"));
            };
            ("spawn-happy-session", params, Shape::Spawn)
        }
        _ => {
            let Some(paths) = b
                .get("paths")
                .and_then(Value::as_array)
                .filter(|a| a.len() <= 1000)
            else {
                return Outcome::Reply(Response::error(400, "Invalid body"));
            };
            if !paths
                .iter()
                .all(|p| p.as_str().is_some_and(|s| !s.is_empty()))
            {
                return Outcome::Reply(Response::error(400, "Invalid body"));
            }
            let mut unique: Vec<String> = Vec::new();
            for p in paths
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                if !unique.iter().any(|u| u == p) {
                    unique.push(p.to_string());
                }
            }
            if unique.is_empty() {
                return Outcome::Reply(Response::json(200, &json!({"exists": {}})));
            }
            ("path-exists", json!({"paths": unique}), Shape::PathsExists)
        }
    };
    let then = RpcThen::Reply { conn, shape };
    hub.rpc_call(&caller.ns, format!("{id}:{name}"), &params, then, now);
    Outcome::Deferred
}

/// `POST` / `DELETE /api/push/subscribe` (spec/push.md §3).
pub fn push_subscribe(hub: &mut Hub, caller: &Caller, req: &Request, now: Now) -> Response {
    let b = json_body(req);
    let nonempty = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let Some(endpoint) = nonempty(b.get("endpoint")) else {
        return Response::error(400, "Invalid body");
    };
    if req.head.method == "DELETE" {
        return match hub.store.delete_push(&caller.ns, &endpoint) {
            Ok(()) => Response::json(200, &json!({"ok": true})),
            Err(e) => store_failure(e),
        };
    }
    let keys = b.get("keys");
    let (Some(p256dh), Some(auth)) = (
        nonempty(keys.and_then(|k| k.get("p256dh"))),
        nonempty(keys.and_then(|k| k.get("auth"))),
    ) else {
        return Response::error(400, "Invalid body");
    };
    let row = PushRow {
        namespace: caller.ns.clone(),
        endpoint,
        p256dh,
        auth,
        created_at: now.unix_ms,
    };
    match hub.store.upsert_push(&row) {
        Ok(()) => Response::json(200, &json!({"ok": true})),
        Err(e) => store_failure(e),
    }
}
