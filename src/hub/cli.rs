//! The CLI side of the hub: `/cli` sockets and their rooms, the RPC registry and calls in
//! flight, sessions and machines created over REST, and the state changes the CLI's socket
//! events make (spec/cli-protocol.md §3, §6, §7; spec/lifecycle.md §3–7).

use super::model::{Machine, Session};
use super::timers::HubTimer;
use super::{ConnId, Effect, Hub, HubError, Now, SocketId, uuid_v4};
use super::{MACHINE_ALIVE_TTL_MS, SESSION_ALIVE_TTL_MS, inactive_at};
use crate::http::Response;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// RPC calls time out after this (spec/cli-protocol.md §7.2).
pub const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// Alive times older than this are ignored (spec/lifecycle.md §3.3).
const ALIVE_WINDOW_MS: i64 = 600_000;
/// After a web message, alives saying "not thinking" are overruled for this long.
pub(crate) const THINKING_GRACE: Duration = Duration::from_secs(3);
/// Alive patches are re-broadcast at most this often without a change.
const ALIVE_THROTTLE: Duration = Duration::from_secs(10);

/// Whether an alive patch broadcast at `last` is due again at `now`.
fn throttle_passed(last: Option<Instant>, now: Instant) -> bool {
    last.is_none_or(|l| now.duration_since(l) > ALIVE_THROTTLE)
}

/// A connected `/cli` socket.
#[derive(Debug, Default)]
pub struct CliSocket {
    pub namespace: String,
    pub session_room: Option<String>,
    pub machine_room: Option<String>,
    next_ack: u64,
}

/// What to do with an RPC result.
#[derive(Debug)]
pub enum RpcThen {
    /// Answer an HTTP request; `shape` maps result or failure to the response.
    Reply {
        conn: ConnId,
        shape: super::rpc::Shape,
    },
    /// A Telegram Allow/Deny: answer the callback and edit the message.
    Telegram {
        query_id: String,
        chat_id: Option<i64>,
        message_id: Option<i64>,
        approve: bool,
    },
    /// The spawn of a resume or reopen, or the `handoff-local` call (see `hub::resume`).
    Resume {
        conn: ConnId,
        old: String,
        wait: super::resume::WaitFor,
    },
    /// Nothing (fire and forget, e.g. Telegram-originated calls).
    Ignore,
    /// One socket's answer to a cancel or retry of a queued message (see `hub::queue`).
    Ask(u64),
}

/// A call in flight.
#[derive(Debug)]
pub struct Pending {
    pub method: String,
    pub deadline: Instant,
    pub then: RpcThen,
}

/// Sockets, rooms, registry and calls.
#[derive(Debug, Default)]
pub struct Cli {
    pub sockets: HashMap<SocketId, CliSocket>,
    pub session_rooms: HashMap<String, Vec<SocketId>>,
    pub machine_rooms: HashMap<String, Vec<SocketId>>,
    /// (namespace, method) → socket; the last registration wins.
    pub rpc: HashMap<(String, String), SocketId>,
    pub pending: HashMap<(SocketId, u64), Pending>,
}

/// Why an access check failed: (`reason` for acks, message for `error` events).
#[derive(Debug, Clone, Copy)]
pub struct Denied {
    pub reason: &'static str,
    pub message: &'static str,
}

/// A versioned write request from a socket event.
pub struct Write {
    /// The writing socket (excluded from the `update` fan-out).
    pub socket: SocketId,
    /// Its namespace.
    pub ns: String,
    /// Session or machine id.
    pub id: String,
    /// `expectedVersion`.
    pub expected: i64,
    /// The new value.
    pub value: Value,
    /// Agent state / runner state (true) rather than metadata (false).
    pub state: bool,
}

/// Result of a versioned write (spec/storage.md §3.2).
pub enum Versioned {
    Success(i64, Value),
    Mismatch(i64, Value),
    Error(Option<&'static str>),
}

impl Versioned {
    /// The ack body, with the value under `key`.
    pub fn ack(&self, key: &str) -> Value {
        match self {
            Versioned::Success(v, val) => json!({ "result": "success", "version": v, key: val }),
            Versioned::Mismatch(v, val) => {
                json!({ "result": "version-mismatch", "version": v, key: val })
            }
            Versioned::Error(Some(r)) => json!({ "result": "error", "reason": r }),
            Versioned::Error(None) => json!({ "result": "error" }),
        }
    }
}

fn remove_from(map: &mut HashMap<String, Vec<SocketId>>, key: &Option<String>, socket: SocketId) {
    if let Some(k) = key
        && let Some(v) = map.get_mut(k)
    {
        v.retain(|s| *s != socket);
        if v.is_empty() {
            map.remove(k);
        }
    }
}

/// Clamps an alive/end time into the accepted window; None = ignore the event.
fn clamp_time(t: f64, now: i64) -> Option<i64> {
    if !t.is_finite() {
        return None;
    }
    let t = t as i64;
    if t > now {
        Some(now)
    } else if t < now - ALIVE_WINDOW_MS {
        None
    } else {
        Some(t)
    }
}

impl Hub {
    // ---- sockets ----

    /// A `/cli` socket authenticated into `ns`; joins the rooms of the ids it names that
    /// exist in its namespace (spec/cli-protocol.md §6.1).
    pub fn cli_connect(
        &mut self,
        socket: SocketId,
        ns: &str,
        session_id: Option<&str>,
        machine_id: Option<&str>,
        now: Now,
    ) {
        let session_room = session_id
            .filter(|id| self.session(ns, id).is_ok())
            .map(str::to_string);
        let machine_room = machine_id
            .filter(|id| self.machine(ns, id).is_ok())
            .map(str::to_string);
        if let Some(r) = &session_room {
            self.cli
                .session_rooms
                .entry(r.clone())
                .or_default()
                .push(socket);
            // Scheduled messages that fell due with nobody in the room go out now.
            self.arm(HubTimer::Schedule, now.mono);
        }
        if let Some(r) = &machine_room {
            self.cli
                .machine_rooms
                .entry(r.clone())
                .or_default()
                .push(socket);
        }
        self.cli.sockets.insert(
            socket,
            CliSocket {
                namespace: ns.to_string(),
                session_room,
                machine_room,
                next_ack: 0,
            },
        );
    }

    /// A socket left: its rooms and registrations go, its calls in flight fail now.
    pub fn socket_gone(&mut self, socket: SocketId, now: Now) {
        if let Some(s) = self.cli.sockets.remove(&socket) {
            remove_from(&mut self.cli.session_rooms, &s.session_room, socket);
            remove_from(&mut self.cli.machine_rooms, &s.machine_room, socket);
        }
        self.cli.rpc.retain(|_, s| *s != socket);
        let gone: Vec<(SocketId, u64)> = self
            .cli
            .pending
            .keys()
            .filter(|(s, _)| *s == socket)
            .copied()
            .collect();
        for key in gone {
            if let Some(p) = self.cli.pending.remove(&key) {
                let msg = format!("RPC socket disconnected: {}", p.method);
                self.rpc_finish(p.then, Err(msg), now);
            }
        }
        self.terminal_socket_gone(socket, now);
    }

    /// The namespace of a connected `/cli` socket.
    pub fn socket_ns(&self, socket: SocketId) -> Option<String> {
        self.cli.sockets.get(&socket).map(|s| s.namespace.clone())
    }

    /// Sends `event` to every socket in `room` but `except`.
    pub(crate) fn emit_room(
        &mut self,
        room: Option<&Vec<SocketId>>,
        except: Option<SocketId>,
        event: &str,
        arg: Value,
    ) {
        let Some(room) = room else { return };
        let targets: Vec<SocketId> = room
            .iter()
            .copied()
            .filter(|s| Some(*s) != except)
            .collect();
        for socket in targets {
            self.fx.push(Effect::Emit {
                socket,
                event: event.into(),
                args: vec![arg.clone()],
                ack: None,
                binary: Vec::new(),
            });
        }
    }

    /// Emits `error` to one socket (access failures of events without an ack).
    pub fn emit_error(&mut self, socket: SocketId, d: Denied, scope: &str, id: &str) {
        let arg = json!({ "message": d.message, "code": d.reason, "scope": scope, "id": id });
        self.fx.push(Effect::Emit {
            socket,
            event: "error".into(),
            args: vec![arg],
            ack: None,
            binary: Vec::new(),
        });
    }

    /// Acknowledges a client event.
    pub fn ack(&mut self, socket: SocketId, id: u64, args: Vec<Value>) {
        self.fx.push(Effect::Ack {
            socket,
            id,
            args,
            binary: Vec::new(),
        });
    }

    /// Namespace access check for a session id named by a socket event.
    pub fn check_session(&self, ns: &str, sid: &str) -> Result<(), Denied> {
        match self.sessions.get(sid) {
            None => Err(Denied {
                reason: "not-found",
                message: "session not found",
            }),
            Some(s) if s.namespace != ns => Err(Denied {
                reason: "access-denied",
                message: "session access denied",
            }),
            Some(_) => Ok(()),
        }
    }

    /// Namespace access check for a machine id.
    pub fn check_machine(&self, ns: &str, id: &str) -> Result<(), Denied> {
        match self.machines.get(id) {
            None => Err(Denied {
                reason: "not-found",
                message: "machine not found",
            }),
            Some(m) if m.namespace != ns => Err(Denied {
                reason: "access-denied",
                message: "machine access denied",
            }),
            Some(_) => Ok(()),
        }
    }

    // ---- REST: create or load ----

    /// `POST /cli/sessions`: the newest session with this tag in `ns`, or a new one.
    pub fn session_for_tag(
        &mut self,
        ns: &str,
        tag: &str,
        metadata: Value,
        agent_state: Value,
        extras: [Option<String>; 3],
        now: Now,
    ) -> Result<Value, HubError> {
        let existing = self
            .sessions
            .values()
            .filter(|s| s.namespace == ns && s.tag.as_deref() == Some(tag))
            .max_by_key(|s| s.created_at)
            .map(|s| s.id.clone());
        if let Some(id) = existing {
            let full = self
                .sessions
                .get(&id)
                .map(Session::to_json)
                .ok_or(HubError::NotFound)?;
            self.events.publish(
                ns,
                json!({"type": "session-updated", "sessionId": id, "data": full}),
                &mut self.fx,
            );
            return Ok(full);
        }
        let [model, effort, mre] = extras;
        let t = now.unix_ms;
        let row = crate::store::SessionRow {
            id: uuid_v4(),
            tag: Some(tag.to_string()),
            namespace: ns.to_string(),
            created_at: t,
            updated_at: t,
            active_at: Some(t),
            metadata: (!metadata.is_null()).then(|| metadata.to_string()),
            metadata_version: 1,
            agent_state: (!agent_state.is_null()).then(|| agent_state.to_string()),
            agent_state_version: 1,
            model,
            effort,
            model_reasoning_effort: mre,
            todos: None,
            todos_updated_at: None,
            team_state: None,
            team_state_updated_at: None,
            seq: 0,
        };
        self.store.put_session(&row)?;
        let s = Session::from_row(row);
        let full = s.to_json();
        let id = s.id.clone();
        self.sessions.insert(id.clone(), s);
        self.events.publish(
            ns,
            json!({"type": "session-added", "sessionId": id, "data": full}),
            &mut self.fx,
        );
        Ok(full)
    }

    /// `POST /cli/machines`: Err(true) when the id belongs to another namespace.
    pub fn machine_register(
        &mut self,
        ns: &str,
        id: &str,
        metadata: Value,
        runner_state: Value,
        now: Now,
    ) -> Result<Value, Result<HubError, ()>> {
        if let Some(m) = self.machines.get(id) {
            if m.namespace != ns {
                return Err(Err(()));
            }
            let (full, web) = (m.to_json(), m.to_web_json());
            self.events.publish(
                ns,
                json!({"type": "machine-updated", "machineId": id, "data": web}),
                &mut self.fx,
            );
            return Ok(full);
        }
        let t = now.unix_ms;
        let m = Machine {
            id: id.to_string(),
            namespace: ns.to_string(),
            created_at: t,
            updated_at: t,
            metadata,
            metadata_version: 1,
            runner_state,
            runner_state_version: 1,
            active: false,
            active_at: t,
            seq: 0,
            alive_broadcast_at: None,
            alive_until: None,
            health: Value::Null,
        };
        self.store
            .put_machine(&m.to_row())
            .map_err(|e| Ok(HubError::Store(e)))?;
        let (full, web) = (m.to_json(), m.to_web_json());
        self.machines.insert(id.to_string(), m);
        self.events.publish(
            ns,
            json!({"type": "machine-updated", "machineId": id, "data": web}),
            &mut self.fx,
        );
        Ok(full)
    }

    /// Todo extraction from an agent message (spec/lifecycle.md §6.1).
    pub(crate) fn extract_todos(
        &mut self,
        sid: &str,
        content: &Value,
        ts: i64,
    ) -> Result<(), HubError> {
        let Some(todos) = super::todos::extract(content) else {
            return Ok(());
        };
        let Some(s) = self.sessions.get_mut(sid) else {
            return Ok(());
        };
        if s.todos_updated_at.is_some_and(|t| t >= ts) {
            return Ok(());
        }
        s.todos = Some(todos.clone());
        s.todos_updated_at = Some(ts);
        s.updated_at = s.updated_at.max(ts);
        s.seq += 1;
        self.store.put_session(&s.to_row())?;
        let ns = s.namespace.clone();
        let patch = json!({"todos": {"version": ts, "value": todos}, "updatedAt": s.updated_at});
        self.events.publish(
            &ns,
            json!({"type": "session-updated", "sessionId": sid, "data": patch}),
            &mut self.fx,
        );
        Ok(())
    }

    // ---- versioned writes ----

    /// `update-metadata` (`agent == false`) or `update-state` (`agent == true`).
    pub fn session_versioned(&mut self, w: Write, now: Now) -> Versioned {
        let Write {
            socket,
            ns,
            id: sid,
            expected,
            value,
            state: agent,
        } = w;
        let (ns, sid) = (ns.as_str(), sid.as_str());
        if let Err(d) = self.check_session(ns, sid) {
            return Versioned::Error(Some(d.reason));
        }
        let Some(s) = self.sessions.get_mut(sid) else {
            return Versioned::Error(Some("not-found"));
        };
        let (version, stored) = if agent {
            (s.agent_state_version, s.exposed_agent_state())
        } else {
            (s.metadata_version, s.metadata.clone())
        };
        if version != expected {
            return Versioned::Mismatch(version, stored);
        }
        let before = s.clone();
        if agent {
            s.agent_state = value.clone();
            s.agent_state_version += 1;
        } else {
            s.metadata = value.clone();
            s.metadata_version += 1;
        }
        s.updated_at = now.unix_ms;
        s.seq += 1;
        if self.store.put_session(&s.to_row()).is_err() {
            *s = before;
            return Versioned::Error(None);
        }
        let new_version = expected + 1;
        let updated_at = s.updated_at;
        let part = json!({ "version": new_version, "value": value });
        // The structured patch of v0.30.7 (CONTRACT.md §8): the web patches, no refetch.
        let key = if agent { "agentState" } else { "metadata" };
        let patch = json!({ key: part, "updatedAt": updated_at });
        let body = if agent {
            json!({ "t": "update-session", "sid": sid, "metadata": null, "agentState": part })
        } else {
            json!({ "t": "update-session", "sid": sid, "metadata": part, "agentState": null })
        };
        let update =
            json!({ "id": uuid_v4(), "seq": now.unix_ms, "createdAt": now.unix_ms, "body": body });
        let room = self.cli.session_rooms.get(sid).cloned();
        self.emit_room(room.as_ref(), Some(socket), "update", update);
        self.events.publish(
            ns,
            json!({"type": "session-updated", "sessionId": sid, "data": patch}),
            &mut self.fx,
        );
        self.notify_on_session_change(sid, now);
        Versioned::Success(new_version, value)
    }

    /// `machine-update-metadata` (`runner == false`) or `machine-update-state`.
    pub fn machine_versioned(&mut self, w: Write, now: Now) -> Versioned {
        let Write {
            socket,
            ns,
            id,
            expected,
            value,
            state: runner,
        } = w;
        let (ns, id) = (ns.as_str(), id.as_str());
        if let Err(d) = self.check_machine(ns, id) {
            return Versioned::Error(Some(d.reason));
        }
        let Some(m) = self.machines.get_mut(id) else {
            return Versioned::Error(Some("not-found"));
        };
        let (version, stored) = if runner {
            (m.runner_state_version, m.runner_state.clone())
        } else {
            (m.metadata_version, m.metadata.clone())
        };
        if version != expected {
            return Versioned::Mismatch(version, stored);
        }
        let before = m.clone();
        if runner {
            m.runner_state = value.clone();
            m.runner_state_version += 1;
            m.active = true;
            m.active_at = m.active_at.max(now.unix_ms);
            m.alive_until = Some(inactive_at(now, now.unix_ms, MACHINE_ALIVE_TTL_MS));
        } else {
            m.metadata = value.clone();
            m.metadata_version += 1;
        }
        m.updated_at = now.unix_ms;
        m.seq += 1;
        if self.store.put_machine(&m.to_row()).is_err() {
            *m = before;
            return Versioned::Error(None);
        }
        if let Some(at) = m.alive_until.filter(|_| runner) {
            self.timers.arm(HubTimer::AliveExpiry, at, &mut self.fx);
        }
        let new_version = expected + 1;
        let full = m.to_web_json();
        let part = json!({ "version": new_version, "value": value });
        let body = if runner {
            json!({ "t": "update-machine", "machineId": id, "metadata": null, "runnerState": part })
        } else {
            json!({ "t": "update-machine", "machineId": id, "metadata": part, "runnerState": null })
        };
        let update =
            json!({ "id": uuid_v4(), "seq": now.unix_ms, "createdAt": now.unix_ms, "body": body });
        let room = self.cli.machine_rooms.get(id).cloned();
        self.emit_room(room.as_ref(), Some(socket), "update", update);
        self.events.publish(
            ns,
            json!({"type": "machine-updated", "machineId": id, "data": full}),
            &mut self.fx,
        );
        Versioned::Success(new_version, value)
    }

    // ---- liveness ----

    /// `session-alive` (spec/lifecycle.md §3.3).
    pub fn session_alive(&mut self, sid: &str, p: &Value, now: Now) -> Result<(), HubError> {
        let Some(t) = p
            .get("time")
            .and_then(Value::as_f64)
            .and_then(|t| clamp_time(t, now.unix_ms))
        else {
            return Ok(());
        };
        let s = self.sessions.get_mut(sid).ok_or(HubError::NotFound)?;
        let was_active = s.active;
        let was_thinking = s.thinking;
        let (pm, cm, model) = (
            s.permission_mode.clone(),
            s.collaboration_mode.clone(),
            s.model.clone(),
        );
        s.active = true;
        s.active_at = s.active_at.max(t);
        let until = inactive_at(now, s.active_at, SESSION_ALIVE_TTL_MS);
        s.alive_until = Some(until);
        self.timers.arm(HubTimer::AliveExpiry, until, &mut self.fx);
        s.thinking = s.thinking_grace_until.is_some_and(|g| now.mono < g)
            || p.get("thinking")
                .is_some_and(|v| v.as_bool().unwrap_or(false));
        s.thinking_at = t;
        if let Some(m) = p.get("permissionMode").and_then(Value::as_str) {
            s.permission_mode = Some(m.to_string());
        }
        if let Some(m) = p.get("collaborationMode").and_then(Value::as_str) {
            s.collaboration_mode = Some(m.to_string());
        }
        let (settings_changed, mut persist) = super::agents::alive_settings(s, p);
        if let Some(m) = p.get("model") {
            let m = m.as_str().map(str::to_string);
            if m != s.model && (m.is_some() || p.get("model").is_some_and(Value::is_null)) {
                s.model = m;
                s.seq += 1;
                persist = true;
            }
        }
        for (key, slot) in [
            ("effort", &mut s.effort),
            ("modelReasoningEffort", &mut s.model_reasoning_effort),
        ] {
            if let Some(v) = p.get(key) {
                let v = v.as_str().map(str::to_string);
                if v != *slot {
                    *slot = v;
                    persist = true;
                }
            }
        }
        if persist {
            self.store.put_session(&s.to_row())?;
        }
        let changed = !was_active
            || was_thinking != s.thinking
            || pm != s.permission_mode
            || cm != s.collaboration_mode
            || model != s.model
            || settings_changed
            || throttle_passed(s.alive_broadcast_at, now.mono);
        if changed {
            s.alive_broadcast_at = Some(now.mono);
            let mut data =
                json!({ "active": true, "activeAt": s.active_at, "thinking": s.thinking });
            if let Some(o) = data.as_object_mut() {
                if let Some(m) = s
                    .permission_mode
                    .as_deref()
                    .filter(|m| super::model::PERMISSION_MODES.contains(m))
                {
                    o.insert("permissionMode".into(), json!(m));
                }
                o.insert("model".into(), json!(s.model));
                if settings_changed {
                    o.insert("serviceTier".into(), json!(s.service_tier));
                    o.insert("copilotAgentMode".into(), json!(s.copilot_agent_mode));
                }
                if let Some(m) = s
                    .collaboration_mode
                    .as_deref()
                    .filter(|m| *m == "default" || *m == "plan")
                {
                    o.insert("collaborationMode".into(), json!(m));
                }
            }
            let ns = s.namespace.clone();
            self.events.publish(
                &ns,
                json!({"type": "session-updated", "sessionId": sid, "data": data}),
                &mut self.fx,
            );
        }
        if !was_active {
            self.notify_on_session_change(sid, now);
            self.resume_check(now);
        }
        self.replay_queue(sid)
    }

    /// `session-end` (spec/lifecycle.md §3.4); also the web archive.
    pub fn session_end(&mut self, sid: &str, time: Option<f64>, reason: Option<&str>, now: Now) {
        let t = time
            .and_then(|t| clamp_time(t, now.unix_ms))
            .unwrap_or(now.unix_ms);
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if !s.active && !s.thinking {
            return;
        }
        if let Err(e) = self.sweep_on_end(sid, reason, now) {
            crate::log::warn(&format!("the session-end sweep failed: {e:?}"));
        }
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        s.active = false;
        s.thinking = false;
        s.thinking_at = t;
        let ns = s.namespace.clone();
        // v0.30.7: this patch, then `session-ended` (with the CLI's `reason` when it gave one).
        let data = json!({"active": false, "thinking": false, "activeTurnStartedAt": null, "backgroundTaskCount": 0});
        self.events.publish(
            &ns,
            json!({"type": "session-updated", "sessionId": sid, "data": data}),
            &mut self.fx,
        );
        let mut ended = json!({"type": "session-ended", "sessionId": sid});
        if let Some(r) = reason {
            ended["reason"] = json!(r);
        }
        self.events.publish(&ns, ended, &mut self.fx);
        self.notify_forget(sid);
        self.resume_check(now);
    }

    /// `machine-alive` (spec/lifecycle.md §4.2).
    pub fn machine_alive(&mut self, id: &str, p: &Value, now: Now) {
        let Some(t) = p
            .get("time")
            .and_then(Value::as_f64)
            .and_then(|t| clamp_time(t, now.unix_ms))
        else {
            return;
        };
        let Some(m) = self.machines.get_mut(id) else {
            return;
        };
        let was_active = m.active;
        m.active = true;
        m.active_at = m.active_at.max(t);
        let until = inactive_at(now, m.active_at, MACHINE_ALIVE_TTL_MS);
        m.alive_until = Some(until);
        self.timers.arm(HubTimer::AliveExpiry, until, &mut self.fx);
        let mut health_moved = false;
        if let Some(h) = p.get("health") {
            let h = super::model::valid_health(h);
            health_moved = super::model::health_changed(&m.health, &h);
            m.health = h;
        }
        if !was_active || health_moved || throttle_passed(m.alive_broadcast_at, now.mono) {
            m.alive_broadcast_at = Some(now.mono);
            let (ns, full) = (m.namespace.clone(), m.to_web_json());
            self.events.publish(
                &ns,
                json!({"type": "machine-updated", "machineId": id, "data": full}),
                &mut self.fx,
            );
        }
    }

    // ---- RPC ----

    /// `rpc-register`: only methods scoped to a session or machine of the socket's namespace.
    pub fn rpc_register(&mut self, socket: SocketId, method: &str) {
        let Some(ns) = self.socket_ns(socket) else {
            return;
        };
        let scope = method.split(':').next().unwrap_or("");
        if self.check_session(&ns, scope).is_err() && self.check_machine(&ns, scope).is_err() {
            return;
        }
        self.cli.rpc.insert((ns, method.to_string()), socket);
    }

    /// `rpc-unregister`: only when the method points at this socket.
    pub fn rpc_unregister(&mut self, socket: SocketId, method: &str) {
        let Some(ns) = self.socket_ns(socket) else {
            return;
        };
        let key = (ns, method.to_string());
        if self.cli.rpc.get(&key) == Some(&socket) {
            self.cli.rpc.remove(&key);
        }
    }

    /// Whether a method has a handler in `ns`.
    pub fn rpc_available(&self, ns: &str, method: &str) -> bool {
        self.cli
            .rpc
            .contains_key(&(ns.to_string(), method.to_string()))
    }

    /// Calls `<scope>:<name>` with `params` on the registered socket; the result goes to `then`.
    pub fn rpc_call(&mut self, ns: &str, method: String, params: &Value, then: RpcThen, now: Now) {
        let Some(&socket) = self.cli.rpc.get(&(ns.to_string(), method.clone())) else {
            let msg = format!("RPC handler not registered: {method}");
            return self.rpc_finish(then, Err(msg), now);
        };
        let Some(s) = self.cli.sockets.get_mut(&socket) else {
            let msg = format!("RPC socket disconnected: {method}");
            return self.rpc_finish(then, Err(msg), now);
        };
        let id = s.next_ack;
        s.next_ack += 1;
        let arg = json!({ "method": method, "params": params.to_string() });
        self.fx.push(Effect::Emit {
            socket,
            event: "rpc-request".into(),
            args: vec![arg],
            ack: Some(id),
            binary: Vec::new(),
        });
        let deadline = now.mono + RPC_TIMEOUT;
        self.cli.pending.insert(
            (socket, id),
            Pending {
                method,
                deadline,
                then,
            },
        );
        self.arm(HubTimer::RpcTimeout, deadline);
    }

    /// Emits `event` to one socket asking for an ack within `timeout`; the ack (or the
    /// timeout, or the socket's loss) goes to `then`. False when the socket is gone.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn emit_with_ack(
        &mut self,
        socket: SocketId,
        event: &str,
        arg: Value,
        what: &str,
        timeout: Duration,
        then: RpcThen,
        now: Now,
    ) -> bool {
        let Some(s) = self.cli.sockets.get_mut(&socket) else {
            return false;
        };
        let id = s.next_ack;
        s.next_ack += 1;
        self.fx.push(Effect::Emit {
            socket,
            event: event.into(),
            args: vec![arg],
            ack: Some(id),
            binary: Vec::new(),
        });
        let deadline = now.mono + timeout;
        let method = what.to_string();
        self.cli.pending.insert(
            (socket, id),
            Pending {
                method,
                deadline,
                then,
            },
        );
        self.arm(HubTimer::RpcTimeout, deadline);
        true
    }

    /// The CLI acked an RPC.
    pub fn rpc_ack(&mut self, socket: SocketId, id: u64, args: Vec<Value>, now: Now) {
        let Some(p) = self.cli.pending.remove(&(socket, id)) else {
            return;
        };
        let result = match args.into_iter().next().unwrap_or(Value::Null) {
            Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
            v => v,
        };
        self.rpc_finish(p.then, Ok(result), now);
    }

    /// Fails calls past their deadline (the RPC timer).
    pub fn rpc_timeouts(&mut self, now: Now) {
        let due: Vec<(SocketId, u64)> = self
            .cli
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now.mono)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            if let Some(p) = self.cli.pending.remove(&key) {
                self.rpc_finish(p.then, Err("operation has timed out".into()), now);
            }
        }
        if let Some(at) = self.cli.pending.values().map(|p| p.deadline).min() {
            self.arm(HubTimer::RpcTimeout, at);
        }
    }

    fn rpc_finish(&mut self, then: RpcThen, result: Result<Value, String>, now: Now) {
        match then {
            RpcThen::Ignore => {}
            RpcThen::Ask(id) => self.ask_answered(id, result, now),
            RpcThen::Telegram {
                query_id,
                chat_id,
                message_id,
                approve,
            } => {
                self.telegram_decided(query_id, chat_id, message_id, approve, result.is_ok(), now);
            }
            RpcThen::Resume { conn, old, wait } => {
                self.resume_spawned(conn, old, wait, result, now);
            }
            RpcThen::Reply {
                conn,
                shape: super::rpc::Shape::Files { limit, sid },
            } => self.files_listed(conn, limit, &sid, result, now),
            RpcThen::Reply { conn, shape } => {
                let resp: Response = self.rpc_shape(shape, result, now);
                self.fx.push(Effect::Reply { conn, resp });
            }
        }
    }
}
