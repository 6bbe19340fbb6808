//! Socket.IO adapters: the `/cli` namespace (spec/cli-protocol.md §6) and the web
//! `/terminal` namespace (§9). Payloads are validated here; invalid ones are dropped or
//! acked with `{"result":"error"}` exactly as upstream does.

use crate::app::ConnectReply;
use crate::app::{Now, SocketId};
use crate::hub::Hub;
use crate::hub::cli::{Versioned, Write};
use crate::hub::messages::strings;
use serde_json::{Value, json};
use std::net::IpAddr;

/// A CONNECT on `nsp` with the handshake `auth`.
pub fn connect(
    hub: &mut Hub,
    socket: SocketId,
    nsp: &str,
    auth: Option<&Value>,
    peer: IpAddr,
    now: Now,
) -> ConnectReply {
    let field = |k: &str| auth.and_then(|a| a.get(k)).and_then(Value::as_str);
    // The handshake is another way to try tokens: a wrong one is counted by the credential
    // gate as on `/api/auth` and `/cli/*`, and its refusal may be held (`hub::gate`).
    match nsp {
        "/cli" => {
            let Some(ns) = field("token")
                .and_then(|t| crate::auth::token::authenticate(t, &hub.settings.cli_api_token))
            else {
                hub.gate.failed(peer, now.mono);
                return hub.hold_connect(
                    socket,
                    ConnectReply::Refused("Invalid token".into()),
                    now,
                );
            };
            let ns = ns.to_string();
            hub.cli_connect(socket, &ns, field("sessionId"), field("machineId"), now);
            ConnectReply::Ok
        }
        "/terminal" => {
            let Some(token) = field("token") else {
                return ConnectReply::Refused("Missing token".into());
            };
            match super::web::verify_jwt(hub, token, now) {
                Ok(ns) => {
                    hub.terminal_connect(socket, &ns);
                    ConnectReply::Ok
                }
                Err((e, forged)) => {
                    if forged {
                        hub.gate.failed(peer, now.mono);
                    }
                    hub.hold_connect(socket, ConnectReply::Refused(e.message().into()), now)
                }
            }
        }
        "/" => ConnectReply::Ok,
        _ => ConnectReply::Refused("Invalid namespace".into()),
    }
}

/// An event on a connected socket.
pub fn event(
    hub: &mut Hub,
    socket: SocketId,
    name: &str,
    args: Vec<Value>,
    ack: Option<u64>,
    now: Now,
) {
    let p = args.into_iter().next().unwrap_or(Value::Null);
    if hub.is_terminal_socket(socket) {
        return hub.terminal_web_event(socket, name, &p, now);
    }
    let Some(ns) = hub.socket_ns(socket) else {
        return;
    };
    let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    match name {
        "message" => {
            // The official CLI sends no ack id; a client that asks for one gets it after the
            // row is committed (acks leave only after the turn's commit).
            let (Some(sid), Some(message)) = (s("sid"), p.get("message").cloned()) else {
                if let Some(ack) = ack {
                    hub.ack(
                        socket,
                        ack,
                        vec![json!({"ok": false, "error": "invalid payload"})],
                    );
                }
                return;
            };
            if let Err(d) = hub.check_session(&ns, &sid) {
                if let Some(ack) = ack {
                    hub.ack(socket, ack, vec![json!({"ok": false, "reason": d.reason})]);
                    return;
                }
                return hub.emit_error(socket, d, "session", &sid);
            }
            let local = s("localId");
            let stored = hub.cli_message(socket, &sid, message, local.as_deref(), now);
            if let Err(e) = &stored {
                crate::log::warn(&format!("storing a CLI message failed: {e:?}"));
            }
            if let Some(ack) = ack {
                hub.ack(socket, ack, vec![json!({"ok": stored.is_ok()})]);
            }
        }
        "update-metadata" | "update-state" | "machine-update-metadata" | "machine-update-state" => {
            let Some(ack) = ack else { return };
            let (scope_key, value_key, machine) = match name {
                "update-metadata" => ("sid", "metadata", false),
                "update-state" => ("sid", "agentState", false),
                "machine-update-metadata" => ("machineId", "metadata", true),
                _ => ("machineId", "runnerState", true),
            };
            let expected = p.get("expectedVersion").and_then(Value::as_i64);
            let id = s(scope_key);
            // `metadata` must be present; agentState/runnerState may be null or absent.
            let value = match p.get(value_key) {
                Some(v) => Some(v.clone()),
                None if value_key != "metadata" => Some(Value::Null),
                None => None,
            };
            let outcome = match (id, expected, value) {
                (Some(id), Some(expected), Some(value)) => {
                    let w = Write {
                        socket,
                        ns: ns.clone(),
                        id,
                        expected,
                        value,
                        state: value_key != "metadata",
                    };
                    if machine {
                        hub.machine_versioned(w, now)
                    } else {
                        hub.session_versioned(w, now)
                    }
                }
                _ => Versioned::Error(None),
            };
            hub.ack(socket, ack, vec![outcome.ack(value_key)]);
        }
        "session-alive" => {
            let Some(sid) = s("sid") else { return };
            if !p.get("time").is_some_and(Value::is_number) {
                return;
            }
            if let Err(d) = hub.check_session(&ns, &sid) {
                return hub.emit_error(socket, d, "session", &sid);
            }
            let _ = hub.session_alive(&sid, &p, now);
        }
        "session-ready" => {
            let Some(sid) = s("sid") else { return };
            if let Err(d) = hub.check_session(&ns, &sid) {
                return hub.emit_error(socket, d, "session", &sid);
            }
            hub.session_ready(&sid, now);
        }
        "session-end" => {
            let Some(sid) = s("sid") else { return };
            if let Err(d) = hub.check_session(&ns, &sid) {
                return hub.emit_error(socket, d, "session", &sid);
            }
            let reason = s("reason");
            let time = p.get("time").and_then(Value::as_f64);
            hub.session_end(&sid, time, reason.as_deref(), now);
            hub.agent_terminal_session_ended(&sid);
        }
        "machine-alive" => {
            let Some(id) = s("machineId") else { return };
            if let Err(d) = hub.check_machine(&ns, &id) {
                return hub.emit_error(socket, d, "machine", &id);
            }
            hub.machine_alive(&id, &p, now);
        }
        "machine-agy-models-changed" => {
            let Some(id) = s("machineId") else { return };
            if hub.check_machine(&ns, &id).is_ok() {
                hub.agy_models_changed(&ns, &id);
            }
        }
        "rpc-register" => {
            if let Some(m) = s("method").filter(|m| !m.is_empty()) {
                hub.rpc_register(socket, &m);
            }
        }
        "rpc-unregister" => {
            if let Some(m) = s("method").filter(|m| !m.is_empty()) {
                hub.rpc_unregister(socket, &m);
            }
        }
        "ping" => {
            if let Some(ack) = ack {
                hub.ack(socket, ack, vec![]);
            }
        }
        "terminal:ready" | "terminal:output" | "terminal:exit" | "terminal:error" => {
            hub.terminal_cli_event(socket, name, &p, now);
        }
        "agent-terminal:output" | "agent-terminal:reset" => {
            hub.agent_terminal_cli_event(socket, name, &p);
        }
        // The delivery-state reports of the send pipeline (CONTRACT.md §4).
        "messages-consumed" | "messages-indeterminate" | "native-queue-message" => {
            let Some(sid) = s("sid") else { return };
            if let Err(d) = hub.check_session(&ns, &sid) {
                return hub.emit_error(socket, d, "session", &sid);
            }
            let ids = strings(p.get("localIds"));
            let done = match name {
                "messages-consumed" => {
                    let flag = |k: &str| p.get(k).and_then(Value::as_bool) == Some(true);
                    let (steered, clear) = (flag("steered"), flag("clearQueuedThinkingGrace"));
                    hub.messages_consumed(&sid, ids, steered, clear, now)
                }
                "messages-indeterminate" => hub.messages_indeterminate(&sid, ids, now),
                _ => match (s("localId"), p.get("text")) {
                    (Some(l), Some(Value::String(t))) => {
                        hub.native_queue_message(&sid, &l, Some(t), now)
                    }
                    (Some(l), Some(Value::Null)) => hub.native_queue_message(&sid, &l, None, now),
                    _ => Ok(()),
                },
            };
            if let Err(e) = done {
                crate::log::warn(&format!("{name} failed: {e:?}"));
            }
        }
        "messages-steer-state" => {
            let ok = match s("sid") {
                Some(sid) => match hub.check_session(&ns, &sid) {
                    Err(d) => {
                        hub.emit_error(socket, d, "session", &sid);
                        false
                    }
                    Ok(()) => {
                        let ids = strings(p.get("localIds"));
                        let state = s("state").unwrap_or_default();
                        hub.messages_steer_state(&sid, ids, &state, now)
                            .unwrap_or(false)
                    }
                },
                None => false,
            };
            if let Some(ack) = ack {
                hub.ack(socket, ack, vec![json!({ "ok": ok })]);
            }
        }
        // Other events (v0.30.7 sends several, spec §11.2) are ignored; one that wants an ack
        // gets an empty one so the CLI never waits on it.
        _ => {
            if let Some(ack) = ack {
                hub.ack(socket, ack, vec![]);
            }
        }
    }
}
