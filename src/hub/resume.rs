//! Resume of an inactive session (spec/rest.md §3.3, spec/lifecycle.md §3.8), the merge of the
//! old session into the new one (spec/storage.md §3.7, in ONE transaction), and delete.

use super::cli::RpcThen;
use super::timers::HubTimer;
use super::{ConnId, Effect, Hub, HubError, Now};
use crate::http::Response;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long the spawned session has to become active.
pub const RESUME_WAIT: Duration = Duration::from_secs(15);

/// A resume waiting for its new session to become active.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub conn: ConnId,
    pub old: String,
    pub new: String,
    pub deadline: Instant,
}

fn resume_error(status: u16, msg: &str, code: &str) -> Response {
    Response::error_code(status, msg, code)
}

impl Hub {
    /// Starts a resume; `Some(resp)` answers now, `None` means the answer comes later.
    pub fn resume(&mut self, ns: &str, sid: &str, conn: ConnId, now: Now) -> Option<Response> {
        let Ok(s) = self.session(ns, sid) else {
            return Some(Response::error(404, "Session not found"));
        };
        if s.active {
            return Some(Response::json(
                200,
                &json!({"type": "success", "sessionId": sid}),
            ));
        }
        let meta = s.exposed_metadata();
        let Some(path) = meta.get("path").and_then(Value::as_str) else {
            return Some(resume_error(
                500,
                "Session metadata missing path",
                "resume_unavailable",
            ));
        };
        let flavor = meta
            .get("flavor")
            .and_then(Value::as_str)
            .filter(|f| ["codex", "gemini", "opencode", "cursor"].contains(f))
            .unwrap_or("claude");
        let token_key = format!("{flavor}SessionId");
        let Some(token) = meta
            .get(&token_key)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            return Some(resume_error(
                500,
                "Resume session ID unavailable",
                "resume_unavailable",
            ));
        };
        let want_machine = meta.get("machineId").and_then(Value::as_str);
        let want_host = meta.get("host").and_then(Value::as_str);
        let mut online: Vec<&super::model::Machine> = self
            .machines
            .values()
            .filter(|m| m.namespace == ns && m.active)
            .collect();
        online.sort_by_key(|m| m.created_at);
        let target = online
            .iter()
            .find(|m| Some(m.id.as_str()) == want_machine)
            .or_else(|| {
                online
                    .iter()
                    .find(|m| m.metadata.get("host").and_then(Value::as_str) == want_host)
            });
        let Some(machine) = target.map(|m| m.id.clone()) else {
            return Some(resume_error(503, "No machine online", "no_machine_online"));
        };
        let mut params = json!({"type": "spawn-in-directory", "directory": path, "agent": flavor});
        if let Some(m) = &s.model {
            params["model"] = json!(m);
        }
        params["resumeSessionId"] = json!(token);
        let then = RpcThen::Resume {
            conn,
            old: sid.to_string(),
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
        result: Result<Value, String>,
        now: Now,
    ) {
        let reply = super::rpc::spawn_reply(result);
        match reply
            .get("sessionId")
            .and_then(Value::as_str)
            .filter(|_| reply["type"] == "success")
        {
            Some(new) => {
                let w = Waiting {
                    conn,
                    old,
                    new: new.to_string(),
                    deadline: now.mono + RESUME_WAIT,
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

    /// Completes resumes whose new session is active; fails those past their deadline.
    pub fn resume_check(&mut self, now: Now) {
        if self.resumes.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut self.resumes);
        for w in waiting {
            let active = self.sessions.get(&w.new).is_some_and(|s| s.active);
            if active {
                let resp = if w.new == w.old {
                    Response::json(200, &json!({"type": "success", "sessionId": w.new}))
                } else {
                    match self.merge_sessions(&w.old, &w.new) {
                        Ok(()) => {
                            Response::json(200, &json!({"type": "success", "sessionId": w.new}))
                        }
                        Err(e) => resume_error(500, &format!("{e:?}"), "resume_failed"),
                    }
                };
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
