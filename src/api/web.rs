//! The web `/api/*` routes (spec/rest.md, spec/auth.md, spec/sse.md).

use super::{Api, Caller, Outcome, json_body, path_param, query_param};
use crate::app::{ConnId, Now};
use crate::auth::jwt::{self, JwtError};
use crate::http::{Request, Response};
use crate::hub::Hub;
use crate::hub::events::Subscription;
use serde_json::{Value, json};
use std::net::IpAddr;

/// Dispatches an `/api/*` request.
pub fn route(
    api: &Api,
    hub: &mut Hub,
    conn: ConnId,
    req: &Request,
    now: Now,
    ip: IpAddr,
) -> Outcome {
    let head = &req.head;
    let path = head.path.as_str();
    let m = head.method.as_str();
    match (m, path) {
        // Both check the CLI token or Telegram initData: a failure is counted by the gate
        // (which may hold its answer); a success is never refused.
        ("POST", "/api/auth" | "/api/bind") => {
            let r = match path {
                "/api/auth" => auth(hub, req, now),
                _ => bind(hub, req, now),
            };
            match r.status {
                401 => hub.gate.failed(ip, now.mono),
                200 if crate::auth::token::is_weak(&hub.settings.cli_api_token) => {
                    hub.gate.weak_success(ip, now.mono)
                }
                _ => {}
            }
            return Outcome::Reply(r);
        }
        (_, "/api/auth" | "/api/bind") => return Outcome::Reply(Response::not_found()),
        _ => {}
    }
    let caller = match authenticate(hub, req, now, ip) {
        Ok(c) => c,
        Err(r) => return Outcome::Reply(r),
    };
    let _ = api;
    let seg: Vec<&str> = path.trim_start_matches("/api/").split('/').collect();
    let get = m == "GET" || m == "HEAD";
    let reply = match (m, seg.as_slice()) {
        // The body is serialized straight from the sessions, as `Response::json` would.
        (_, ["sessions"]) if get => {
            let q = &req.head.query;
            // CONTRACT.md §7: a finite `limit` is floored and clamped to 1..=500; anything
            // else means no limit.
            let limit = query_param(q, "limit")
                .and_then(|v| js_number(&v))
                .filter(|n| n.is_finite())
                .map(|n| n.floor().clamp(1.0, 500.0) as usize);
            let by_updated = query_param(q, "order").as_deref() == Some("updatedAt");
            let body = hub.session_summaries(&caller.ns, limit, by_updated, now);
            Response::new(200, "application/json", body)
        }
        (_, ["sessions", id, rest @ ..]) => {
            let Some(sid) = path_param(id) else {
                return Outcome::Reply(Response::error(404, "Session not found"));
            };
            let cx = super::sessions::Ctx {
                hub,
                caller: &caller,
                conn,
                req,
                now,
                sid,
            };
            return super::sessions::route(cx, rest);
        }
        (_, ["machines"]) if get => super::machines::list(hub, &caller),
        (_, ["machines", id, "agent-availability"]) if get => {
            let Some(mid) = path_param(id) else {
                return Outcome::Reply(Response::error(404, "Machine not found"));
            };
            return super::machines::action(
                hub,
                &caller,
                conn,
                &mid,
                "agent-availability",
                req,
                now,
            );
        }
        (_, ["hub-settings"]) if get => Response::json(200, &hub.settings.summary.to_json()),
        ("PUT", ["hub-settings"]) => put_hub_settings(hub, req),
        (_, ["usage", "summary"]) if get => super::usage::summary(hub, &caller, req, now),
        (_, ["storage", "sqlite"]) if get => match &hub.settings.db_path {
            Some(p) => Response::json(200, &crate::hub::hub_settings::sqlite_storage(p)),
            None => Response::not_found(),
        },
        (_, ["voice", rest @ ..]) => {
            match super::voice::route(hub, &caller, conn, req, rest, now) {
                Some(outcome) => return outcome,
                None => Response::not_found(),
            }
        }
        ("POST", ["machines", id, "spawn"]) => {
            let Some(mid) = path_param(id) else {
                return Outcome::Reply(Response::error(404, "Machine not found"));
            };
            return super::machines::action(hub, &caller, conn, &mid, "spawn", req, now);
        }
        ("POST", ["machines", id, "paths", "exists"]) => {
            let Some(mid) = path_param(id) else {
                return Outcome::Reply(Response::error(404, "Machine not found"));
            };
            return super::machines::action(hub, &caller, conn, &mid, "paths", req, now);
        }
        (_, ["push", "vapid-public-key"]) if get => {
            Response::json(200, &json!({ "publicKey": hub.settings.vapid_public }))
        }
        ("POST" | "DELETE", ["push", "subscribe"]) => {
            super::machines::push_subscribe(hub, &caller, req, now)
        }
        (_, ["events"]) if get => return events(hub, conn, req, &caller, now),
        ("POST", ["visibility"]) => visibility(hub, req, &caller),
        (_, ["machines", id, rest @ ..]) => {
            let Some(mid) = path_param(id) else {
                return Outcome::Reply(Response::error(404, "Machine not found"));
            };
            match super::agents::machine_route(hub, &caller, conn, &mid, rest, req, now) {
                Some(o) => return o,
                None => Response::not_found(),
            }
        }
        _ => Response::not_found(),
    };
    Outcome::Reply(reply)
}

/// `PUT /api/hub-settings` (hub/hub_settings.rs): validate, write settings.json, answer.
fn put_hub_settings(hub: &mut Hub, req: &Request) -> Response {
    let Some(next) = hub.settings.summary.patched(&json_body(req)) else {
        return Response::error(400, "Invalid body");
    };
    if let Some(home) = &hub.settings.home
        && let Err(e) = next.save(home)
    {
        return Response::error(500, &e);
    }
    hub.settings.summary = next;
    Response::json(200, &next.to_json())
}

/// The JWT middleware (spec/auth.md §5). A forged token (bad signature or structure) is
/// counted by the credential gate, which may hold the 401; an expired but genuine token is
/// normal web behaviour and is not counted; a valid one is never refused.
pub fn authenticate(
    hub: &mut Hub,
    req: &Request,
    now: Now,
    ip: IpAddr,
) -> Result<Caller, Response> {
    let r = verify_bearer(hub, &req.head, now);
    if let Err(forged) = &r
        && forged.1
    {
        hub.gate.failed(ip, now.mono);
    }
    r.map_err(|(resp, _)| resp)
}

/// Verifies the request's JWT; on failure also says whether the token was forged (bad
/// signature or structure) rather than merely expired.
pub fn verify_bearer(
    hub: &Hub,
    head: &crate::http::Head,
    now: Now,
) -> Result<Caller, (Response, bool)> {
    let from_header = head
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "));
    let token = match from_header {
        Some(t) => Some(t.to_string()),
        None if head.path == "/api/events" => query_param(&head.query, "token"),
        None => None,
    };
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| (Response::error(401, "Missing authorization token"), false))?;
    verify_jwt(hub, &token, now)
        .map(|ns| Caller { ns })
        .map_err(|(e, forged)| (Response::error(401, e.message()), forged))
}

/// Verifies a web JWT and gives its namespace; on failure also says whether the token was
/// forged (bad signature or structure) rather than merely expired, which a web app that
/// slept through its refresh presents in normal use.
pub fn verify_jwt(hub: &Hub, token: &str, now: Now) -> Result<String, (JwtError, bool)> {
    match jwt::verify(token, &hub.settings.jwt_secret, now.unix_secs()) {
        Ok(c) => Ok(c.ns),
        Err(e) => {
            // Genuine but expired: it verifies as of just before its own expiry.
            let expired_genuine = jwt::decode(token)
                .ok()
                .and_then(|p| p.payload.get("exp").and_then(Value::as_f64))
                .filter(|exp| *exp >= 1.0 && *exp <= now.unix_secs() as f64)
                .is_some_and(|exp| {
                    jwt::verify(token, &hub.settings.jwt_secret, exp as u64 - 1).is_ok()
                });
            Err((e, !expired_genuine))
        }
    }
}

fn mint(hub: &Hub, ns: &str, now: Now) -> String {
    let iat = now.unix_secs();
    jwt::sign(
        &hub.settings.jwt_secret,
        hub.settings.owner_id,
        ns,
        iat,
        iat + hub.settings.jwt_ttl_secs,
    )
}

const TELEGRAM_DISABLED: &str =
    "Telegram authentication is disabled. Configure TELEGRAM_BOT_TOKEN.";

/// `POST /api/auth` (spec/auth.md §6).
fn auth(hub: &mut Hub, req: &Request, now: Now) -> Response {
    let body = json_body(req);
    if let Some(init) = body.get("initData").and_then(Value::as_str) {
        let Some(bot) = hub.settings.telegram_bot_token.clone() else {
            return Response::error(503, TELEGRAM_DISABLED);
        };
        let user = match crate::auth::telegram::validate_init_data(init, &bot, now.unix_secs()) {
            Ok(u) => u,
            Err(e) => return Response::error(401, e.message()),
        };
        let ns = match hub.store.binding("telegram", &user.id) {
            Ok(Some(ns)) => ns,
            Ok(None) => return Response::error(401, "not_bound"),
            Err(e) => return super::store_failure(e),
        };
        return Response::json(
            200,
            &json!({ "token": mint(hub, &ns, now), "user": telegram_user(hub, &user) }),
        );
    }
    let Some(raw) = body.get("accessToken").and_then(Value::as_str) else {
        return Response::error(400, "Invalid body");
    };
    match crate::auth::token::authenticate(raw, &hub.settings.cli_api_token) {
        Some(ns) => Response::json(
            200,
            &json!({ "token": mint(hub, ns, now), "user": { "id": hub.settings.owner_id, "firstName": "Web User" } }),
        ),
        None => Response::error(401, "Invalid access token"),
    }
}

fn telegram_user(hub: &Hub, u: &crate::auth::telegram::TelegramUser) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("id".into(), json!(hub.settings.owner_id));
    if let Some(v) = &u.username {
        o.insert("username".into(), json!(v));
    }
    if let Some(v) = &u.first_name {
        o.insert("firstName".into(), json!(v));
    }
    if let Some(v) = &u.last_name {
        o.insert("lastName".into(), json!(v));
    }
    Value::Object(o)
}

/// `POST /api/bind` (spec/auth.md §8).
fn bind(hub: &mut Hub, req: &Request, now: Now) -> Response {
    let body = json_body(req);
    let (Some(init), Some(raw)) = (
        body.get("initData").and_then(Value::as_str),
        body.get("accessToken").and_then(Value::as_str),
    ) else {
        return Response::error(400, "Invalid body");
    };
    let Some(ns) =
        crate::auth::token::authenticate(raw, &hub.settings.cli_api_token).map(str::to_string)
    else {
        return Response::error(401, "Invalid access token");
    };
    let Some(bot) = hub.settings.telegram_bot_token.clone() else {
        return Response::error(503, TELEGRAM_DISABLED);
    };
    let user = match crate::auth::telegram::validate_init_data(init, &bot, now.unix_secs()) {
        Ok(u) => u,
        Err(e) => return Response::error(401, e.message()),
    };
    match hub.store.binding("telegram", &user.id) {
        Ok(Some(existing)) if existing != ns => return Response::error(409, "already_bound"),
        Ok(_) => {}
        Err(e) => return super::store_failure(e),
    }
    if let Err(e) = hub.store.bind("telegram", &user.id, &ns, now.unix_ms) {
        return super::store_failure(e);
    }
    Response::json(
        200,
        &json!({ "token": mint(hub, &ns, now), "user": telegram_user(hub, &user) }),
    )
}

/// JavaScript `Number()` on a query value: trims, "" → 0, decimal/exponent/hex; None = NaN.
pub fn js_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return Some(0.0);
    }
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok().map(|n| n as f64);
    }
    if t.chars()
        .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    {
        return if t == "Infinity" || t == "+Infinity" {
            Some(f64::INFINITY)
        } else {
            None
        };
    }
    t.parse::<f64>().ok()
}

/// `GET /api/events` (spec/sse.md §1–3).
fn events(hub: &mut Hub, conn: ConnId, req: &Request, caller: &Caller, now: Now) -> Outcome {
    let q = &req.head.query;
    let present = |k: &str| query_param(q, k).filter(|v| !v.trim().is_empty());
    let all = query_param(q, "all").is_some_and(|v| v == "true" || v == "1");
    let session_id = present("sessionId");
    let machine_id = present("machineId");
    if let Some(id) = &session_id
        && hub.session(&caller.ns, id).is_err()
    {
        return Outcome::Reply(Response::error(404, "Session not found"));
    }
    if let Some(id) = &machine_id
        && hub.machine(&caller.ns, id).is_err()
    {
        return Outcome::Reply(Response::error(404, "Machine not found"));
    }
    let visible = query_param(q, "visibility").is_some_and(|v| v == "visible");
    let last_event_id = req
        .head
        .header("last-event-id")
        .map(str::to_string)
        .or_else(|| query_param(q, "lastEventId"));
    let head = Response::empty(200)
        .header("Content-Type", "text/event-stream")
        .header("Cache-Control", "no-cache, no-transform")
        .header("Connection", "keep-alive")
        .header("X-Accel-Buffering", "no");
    if req.head.method == "HEAD" {
        // The head of the stream, no stream: nothing is subscribed and the connection stays
        // a plain keep-alive one (issue 20 item 7).
        return Outcome::Reply(head);
    }
    let sub = Subscription {
        conn,
        namespace: caller.ns.clone(),
        all,
        session_id,
        machine_id,
        visible,
    };
    hub.open_stream(sub, last_event_id.as_deref(), now);
    Outcome::Sse(head)
}

/// `POST /api/visibility` (spec/sse.md §6.2).
fn visibility(hub: &mut Hub, req: &Request, caller: &Caller) -> Response {
    let body = json_body(req);
    let sid = body
        .get("subscriptionId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let vis = body
        .get("visibility")
        .and_then(Value::as_str)
        .filter(|v| *v == "visible" || *v == "hidden");
    let (Some(sid), Some(vis)) = (sid, vis) else {
        return Response::error(400, "Invalid body");
    };
    if hub.events.set_visibility(&caller.ns, sid, vis == "visible") {
        Response::json(200, &json!({ "ok": true }))
    } else {
        Response::error(404, "Subscription not found")
    }
}
