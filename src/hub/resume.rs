//! Resume and reopen of an inactive session (spec/rest.md §3.3, spec/lifecycle.md §3.8), the
//! hand-off of a remote session to the local terminal (`hapi resume`), the merge of an old
//! session into a new one (spec/storage.md §3.7, in ONE transaction), and delete.
//!
//! The contract, observed on the official hub v0.30.7 (tests/parity/resume.test.mjs):
//! - `POST /api/sessions/:id/resume` of an active session answers `200 {"type":"success",
//!   "sessionId"}` at once; `…/reopen` answers `{"ok":true,"sessionId","resumed":false}`.
//! - An inactive session: metadata without `path` → 409 `{"error":"Session metadata missing
//!   path","code":"resume_unavailable"}`; the flavor is one of [`FLAVORS`] (anything else is
//!   `claude`); the machine is the online one of `metadata.machineId`, else the first online
//!   one with the same `metadata.host`, else 503 `{"error":"No machine online","code":
//!   "no_machine_online"}`. A Pi session needs a runner whose `runnerState.capabilities.
//!   piExistingSessionResume` is true, else 500 "Pi resume requires an upgraded runner".
//! - The hub calls `<machine>:spawn-happy-session` with `{type:"spawn-in-directory",
//!   directory, agent, model?, modelReasoningEffort?, resumeSessionId?, effort?,
//!   permissionMode?, existingSessionId: <id>, sessionId: <id>, collaborationMode?,
//!   forkSession:false}`: the SAME session id, the kept permission mode (the live one, else
//!   `metadata.preferredPermissionMode`, which the hub writes — a metadata version of its own —
//!   whenever the mode changes, so it outlives a restart), `resumeSessionId` =
//!   `metadata.<flavor>SessionId` when the agent ever started (a never-started session is
//!   spawned fresh without it).
//! - A spawn failure answers 500 `{"error": <message>, "code":"resume_failed"}` (the spawn
//!   reply mapping of spec/rest.md §3.26; an RPC timeout is "operation has timed out"). A
//!   success waits up to [`RESUME_WAIT`] for the returned session to become active, then
//!   answers as for an active session (`resumed:true` for reopen); past it 500 "Session failed
//!   to become active". Should the runner answer with a different id, the old session is
//!   merged into the new one once that one is active (what hapid did before v0.30.7).
//! - A Pi resume completes only when the session sends `session-ready` (after it is active);
//!   a Pi session that goes inactive before that fails with 500 "Pi session ended before
//!   native resume completed" (hapid also gives up after [`READY_WAIT`]).
//! - `POST /cli/sessions/:id/handoff-local`: an inactive session answers `{"ok":true}` at
//!   once; else the hub calls `<sid>:handoff-local` with `{}` and holds the answer until the
//!   session goes inactive, then `{"ok":true}`. What the RPC answers is not looked at (an
//!   `{"ok":false}` or a garbage answer waits all the same); an RPC failure (no handler, the
//!   30 s RPC timeout) is 500 `{"error": <failure>, "code":"handoff_failed"}`; still active
//!   after [`HANDOFF_WAIT`] is 500 "Timed out waiting for remote session to hand off".

use super::cli::RpcThen;
use super::timers::HubTimer;
use super::{ConnId, Effect, Hub, HubError, Now};
use crate::http::Response;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long the spawned session has to become active.
pub const RESUME_WAIT: Duration = Duration::from_secs(15);

/// How long a resumed Pi session has, once active, to report `session-ready` (hapid's bound;
/// the official hub waits until the session ends, which it did after 30 s in the probe).
pub const READY_WAIT: Duration = Duration::from_secs(60);

/// How long a hand-off waits for the session to go inactive.
pub const HANDOFF_WAIT: Duration = Duration::from_secs(15);

/// The flavors a resume spawns as themselves; any other flavor resumes as `claude`.
pub const FLAVORS: &[&str] = &[
    "claude", "codex", "gemini", "opencode", "cursor", "pi", "copilot", "grok", "kimi", "agy",
    "dsh",
];

/// What a waiting request answers when its condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// `…/resume`: the new session is active.
    Resume,
    /// `…/reopen`: the new session is active.
    Reopen,
    /// `handoff-local`: the session went inactive.
    Handoff,
}

/// A request waiting for a session to change state.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub conn: ConnId,
    pub old: String,
    pub new: String,
    pub deadline: Instant,
    pub wait: WaitFor,
    /// A Pi resume completes on `session-ready`, not on the first `session-alive`.
    pub needs_ready: bool,
    /// `session-ready` arrived.
    pub ready: bool,
    /// The session was seen active since the spawn answered.
    pub was_active: bool,
}

fn resume_error(status: u16, msg: &str, code: &str) -> Response {
    Response::error_code(status, msg, code)
}

/// The answer of a resume or reopen whose session is (now) active.
fn resumed(wait: WaitFor, sid: &str, resumed: bool) -> Response {
    match wait {
        WaitFor::Reopen => Response::json(
            200,
            &json!({"ok": true, "sessionId": sid, "resumed": resumed}),
        ),
        _ => Response::json(200, &json!({"type": "success", "sessionId": sid})),
    }
}

/// The agent's own session id of a session (`metadata.<flavor>SessionId`), if it ever started.
pub fn agent_session_id<'a>(meta: &'a Value, flavor: &str) -> Option<&'a str> {
    meta.get(format!("{flavor}SessionId"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
}

/// The permission mode a session last ran in, as kept in `metadata.preferredPermissionMode`.
pub fn preferred_mode(meta: &Value) -> Option<String> {
    meta.get("preferredPermissionMode")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The resume flavor of a session's metadata.
pub fn resume_flavor(meta: &Value) -> &str {
    meta.get("flavor")
        .and_then(Value::as_str)
        .filter(|f| FLAVORS.contains(f))
        .unwrap_or("claude")
}

impl Hub {
    /// The online machine a session runs on: the one of `metadata.machineId`, else the first
    /// (oldest) online one with the same `metadata.host`.
    pub fn home_machine(&self, ns: &str, meta: &Value) -> Option<&super::model::Machine> {
        let want_machine = meta.get("machineId").and_then(Value::as_str);
        let want_host = meta.get("host").and_then(Value::as_str);
        let mut online: Vec<&super::model::Machine> = self
            .machines
            .values()
            .filter(|m| m.namespace == ns && m.active)
            .collect();
        online.sort_by_key(|m| m.created_at);
        let by_id = online.iter().find(|m| Some(m.id.as_str()) == want_machine);
        by_id
            .or_else(|| {
                online
                    .iter()
                    .find(|m| m.metadata.get("host").and_then(Value::as_str) == want_host)
            })
            .copied()
    }

    /// Starts a resume (`reopen` picks the reopen answer); `Some(resp)` answers now, `None`
    /// means the answer comes later.
    pub fn resume(
        &mut self,
        ns: &str,
        sid: &str,
        reopen: bool,
        conn: ConnId,
        now: Now,
    ) -> Option<Response> {
        let wait = if reopen {
            WaitFor::Reopen
        } else {
            WaitFor::Resume
        };
        let Ok(s) = self.session(ns, sid) else {
            return Some(Response::error(404, "Session not found"));
        };
        if s.active {
            return Some(resumed(wait, sid, false));
        }
        let meta = s.exposed_metadata();
        let Some(path) = meta.get("path").and_then(Value::as_str) else {
            return Some(resume_error(
                409,
                "Session metadata missing path",
                "resume_unavailable",
            ));
        };
        let flavor = resume_flavor(&meta);
        let target = self.home_machine(ns, &meta);
        let Some(machine) = target else {
            return Some(resume_error(503, "No machine online", "no_machine_online"));
        };
        if flavor == "pi"
            && machine
                .runner_state
                .pointer("/capabilities/piExistingSessionResume")
                != Some(&Value::Bool(true))
        {
            return Some(resume_error(
                500,
                "Pi resume requires an upgraded runner",
                "resume_failed",
            ));
        }
        let machine = machine.id.clone();
        let mut params = json!({"type": "spawn-in-directory", "directory": path, "agent": flavor});
        let permission = s.permission_mode.clone().or_else(|| {
            meta.get("preferredPermissionMode")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let fields = [
            ("model", s.model.clone()),
            ("modelReasoningEffort", s.model_reasoning_effort.clone()),
            (
                "resumeSessionId",
                agent_session_id(&meta, flavor).map(str::to_string),
            ),
            ("effort", s.effort.clone()),
            ("permissionMode", permission),
            ("existingSessionId", Some(sid.to_string())),
            ("sessionId", Some(sid.to_string())),
            ("collaborationMode", s.collaboration_mode.clone()),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                params[k] = json!(v);
            }
        }
        params["forkSession"] = json!(false);
        let then = RpcThen::Resume {
            conn,
            old: sid.to_string(),
            wait,
        };
        self.rpc_call(
            ns,
            format!("{machine}:spawn-happy-session"),
            &params,
            then,
            now,
        );
        None
    }

    /// The spawn RPC of a resume returned.
    pub(super) fn resume_spawned(
        &mut self,
        conn: ConnId,
        old: String,
        wait: WaitFor,
        result: Result<Value, String>,
        now: Now,
    ) {
        if wait == WaitFor::Handoff {
            return self.handoff_called(conn, old, result, now);
        }
        let reply = super::rpc::spawn_reply(result);
        match reply
            .get("sessionId")
            .and_then(Value::as_str)
            .filter(|_| reply["type"] == "success")
        {
            Some(new) => {
                let needs_ready = self
                    .sessions
                    .get(&old)
                    .is_some_and(|s| resume_flavor(&s.exposed_metadata()) == "pi");
                let w = Waiting {
                    conn,
                    old,
                    new: new.to_string(),
                    deadline: now.mono + RESUME_WAIT,
                    wait,
                    needs_ready,
                    ready: false,
                    was_active: false,
                };
                self.arm(HubTimer::ResumeWait, w.deadline);
                self.resumes.push(w);
                self.resume_check(now);
            }
            None => {
                let msg = reply
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("Resume failed")
                    .to_string();
                self.fx.push(Effect::Reply {
                    conn,
                    resp: resume_error(500, &msg, "resume_failed"),
                });
            }
        }
    }

    /// Starts a hand-off to the local terminal; `Some(resp)` answers now.
    pub fn handoff_local(
        &mut self,
        ns: &str,
        sid: &str,
        conn: ConnId,
        now: Now,
    ) -> Option<Response> {
        let Ok(s) = self.session(ns, sid) else {
            return Some(resume_error(404, "Session not found", "session_not_found"));
        };
        if !s.active {
            return Some(Response::json(200, &json!({"ok": true})));
        }
        let then = RpcThen::Resume {
            conn,
            old: sid.to_string(),
            wait: WaitFor::Handoff,
        };
        self.rpc_call(ns, format!("{sid}:handoff-local"), &json!({}), then, now);
        None
    }

    /// The `handoff-local` RPC returned: fail, or wait for the session to go inactive.
    fn handoff_called(
        &mut self,
        conn: ConnId,
        sid: String,
        result: Result<Value, String>,
        now: Now,
    ) {
        if let Err(e) = result {
            let resp =
                resume_error(500, &e, "handoff_failed").header("X-Hapi-Protocol-Version", "1");
            return self.fx.push(Effect::Reply { conn, resp });
        }
        let w = Waiting {
            conn,
            old: sid.clone(),
            new: sid,
            deadline: now.mono + HANDOFF_WAIT,
            wait: WaitFor::Handoff,
            needs_ready: false,
            ready: false,
            was_active: false,
        };
        self.arm(HubTimer::ResumeWait, w.deadline);
        self.resumes.push(w);
        self.resume_check(now);
    }

    /// `session-ready`: the agent took the session (completes a waiting Pi resume).
    pub fn session_ready(&mut self, sid: &str, now: Now) {
        let mut any = false;
        for w in self
            .resumes
            .iter_mut()
            .filter(|w| w.new == sid && w.needs_ready)
        {
            w.ready = true;
            any = true;
        }
        if any {
            self.resume_check(now);
        }
    }

    /// Completes waits whose condition holds; fails those past their deadline.
    pub fn resume_check(&mut self, now: Now) {
        if self.resumes.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut self.resumes);
        for w in waiting {
            let active = self.sessions.get(&w.new).is_some_and(|s| s.active);
            if w.wait == WaitFor::Handoff {
                if !active {
                    let resp = Response::json(200, &json!({"ok": true}))
                        .header("X-Hapi-Protocol-Version", "1");
                    self.fx.push(Effect::Reply { conn: w.conn, resp });
                } else if now.mono >= w.deadline {
                    let resp = resume_error(
                        500,
                        "Timed out waiting for remote session to hand off",
                        "handoff_failed",
                    )
                    .header("X-Hapi-Protocol-Version", "1");
                    self.fx.push(Effect::Reply { conn: w.conn, resp });
                } else {
                    self.resumes.push(w);
                }
            } else if active && (w.ready || !w.needs_ready) {
                let resp = if w.new == w.old {
                    resumed(w.wait, &w.new, true)
                } else {
                    match self.merge_sessions(&w.old, &w.new) {
                        Ok(()) => resumed(w.wait, &w.new, true),
                        Err(e) => resume_error(500, &format!("{e:?}"), "resume_failed"),
                    }
                };
                self.fx.push(Effect::Reply { conn: w.conn, resp });
            } else if active && !w.was_active {
                // Active, waiting for `session-ready`.
                let mut w = w;
                w.was_active = true;
                w.deadline = now.mono + READY_WAIT;
                self.resumes.push(w);
            } else if w.was_active && (!active || now.mono >= w.deadline) {
                let resp = resume_error(
                    500,
                    "Pi session ended before native resume completed",
                    "resume_failed",
                );
                self.fx.push(Effect::Reply { conn: w.conn, resp });
            } else if now.mono >= w.deadline {
                let resp = resume_error(500, "Session failed to become active", "resume_failed");
                self.fx.push(Effect::Reply { conn: w.conn, resp });
            } else {
                self.resumes.push(w);
            }
        }
        if let Some(at) = self.resumes.iter().map(|w| w.deadline).min() {
            self.arm(HubTimer::ResumeWait, at);
        }
    }

    /// Merges `old` into `new` atomically (spec/storage.md §3.7).
    pub fn merge_sessions(&mut self, old: &str, new: &str) -> Result<(), HubError> {
        let (Some(o), Some(n)) = (
            self.sessions.get(old).cloned(),
            self.sessions.get(new).cloned(),
        ) else {
            return Err(HubError::NotFound);
        };
        let mut merged = n.clone();
        if let (Value::Object(om), Value::Object(nm)) = (&o.metadata, &mut merged.metadata) {
            let mut changed = false;
            if !nm.get("name").is_some_and(Value::is_string)
                && let Some(v) = om.get("name").filter(|v| v.is_string())
            {
                nm.insert("name".into(), v.clone());
                changed = true;
            }
            let at = |m: &serde_json::Map<String, Value>| {
                m.get("summary")
                    .and_then(|s| s.get("updatedAt"))
                    .and_then(Value::as_f64)
            };
            if let Some(oa) = at(om)
                && at(nm).is_none_or(|na| na < oa)
                && let Some(v) = om.get("summary")
            {
                nm.insert("summary".into(), v.clone());
                changed = true;
            }
            if !nm.contains_key("worktree")
                && let Some(v) = om.get("worktree")
            {
                nm.insert("worktree".into(), v.clone());
                changed = true;
            }
            for k in ["path", "host"] {
                if !nm.get(k).is_some_and(Value::is_string)
                    && let Some(v) = om.get(k).filter(|v| v.is_string())
                {
                    nm.insert(k.into(), v.clone());
                    changed = true;
                }
            }
            if changed {
                merged.metadata_version += 1;
                merged.seq += 1;
            }
        }
        if merged.model.is_none() && o.model.is_some() {
            merged.model = o.model.clone();
            merged.seq += 1;
        }
        if let (Some(t), Some(ts)) = (&o.todos, o.todos_updated_at)
            && merged.todos_updated_at.is_none_or(|x| x < ts)
        {
            merged.todos = Some(t.clone());
            merged.todos_updated_at = Some(ts);
            merged.updated_at = merged.updated_at.max(ts);
            merged.seq += 1;
        }
        if let (Some(t), Some(ts)) = (&o.team_state, o.team_state_updated_at)
            && merged.team_state_updated_at.is_none_or(|x| x < ts)
        {
            merged.team_state = Some(t.clone());
            merged.team_state_updated_at = Some(ts);
            merged.updated_at = merged.updated_at.max(ts);
            merged.seq += 1;
        }
        let (a, b) = (o.max_msg_seq, n.max_msg_seq);
        merged.max_msg_seq = if a > 0 && b > 0 { a + b } else { a.max(b) };
        let row = merged.to_row();
        self.store.atomically(|st| {
            st.merge_messages(old, new, a, b)?;
            st.put_session(&row)?;
            st.delete_session(old)
        })?;
        let ns = merged.namespace.clone();
        let full = merged.to_json();
        self.sessions.insert(new.to_string(), merged);
        self.sessions.remove(old);
        self.notify_forget(old);
        self.events.publish(
            &ns,
            json!({"type": "session-removed", "sessionId": old}),
            &mut self.fx,
        );
        self.events.publish(
            &ns,
            json!({"type": "session-updated", "sessionId": new, "data": full}),
            &mut self.fx,
        );
        // The old history now sits below the new session's rows: cursors a web holds for
        // the new session are stale (tests/pipeline/CONTRACT.md §1, §6).
        self.bump_epoch(new)?;
        self.events.publish(
            &ns,
            json!({"type": "messages-invalidated", "sessionId": new}),
            &mut self.fx,
        );
        Ok(())
    }

    /// Deletes an (inactive) session and its messages.
    pub fn delete_session(&mut self, sid: &str) -> Result<(), HubError> {
        let ns = self
            .sessions
            .get(sid)
            .map(|s| s.namespace.clone())
            .ok_or(HubError::NotFound)?;
        self.store.delete_session(sid)?;
        self.scratch_forget(&ns, sid);
        self.sessions.remove(sid);
        self.notify_forget(sid);
        self.events.publish(
            &ns,
            json!({"type": "session-removed", "sessionId": sid}),
            &mut self.fx,
        );
        Ok(())
    }
}
