//! The send pipeline of v0.30 (issue 14; tests/pipeline/CONTRACT.md §1–§4): storing user and
//! agent messages, the queue of uninvoked messages and its delivery state, the reports the
//! CLI makes about it (`messages-consumed`, `messages-indeterminate`, `messages-steer-state`,
//! `native-queue-message`), the session-alive replay, the session-end sweep, and scheduled
//! messages held until they are due.
//!
//! Scheduled messages live in the database only. One hub timer ([`HubTimer::Schedule`]) is
//! armed for the earliest due time; its fire releases what is due to the CLI sockets of the
//! session's room and re-arms for the next due time. A released message the CLI has not
//! reported consumed is sent again every [`SCHEDULE_RESEND`] (the official hub's tick) while a
//! CLI is in its room; a message that falls due with no CLI in the room is released when one
//! joins. `scheduled-matured` goes out once per message and hub process, at its first release.

use super::model::{Session, message_json};
use super::timers::HubTimer;
use super::{Hub, HubError, Now, SocketId, mono_deadline, uuid_v4};
use crate::store::{Delivery, MessageRow};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

/// A released but unconsumed scheduled message is sent again this often.
pub const SCHEDULE_RESEND: Duration = Duration::from_secs(5);

/// What the scheduler remembers between fires (memory only, CONTRACT.md §3).
#[derive(Debug, Default)]
pub struct Schedule {
    /// `(session id, localId)` of the messages announced by `scheduled-matured` in this hub
    /// process and not yet consumed or deleted.
    announced: HashSet<(String, String)>,
}

/// A web send, validated by the api (CONTRACT.md §2).
#[derive(Debug, Clone, Default)]
pub struct Send {
    pub text: String,
    pub attachments: Option<Vec<Value>>,
    pub local_id: Option<String>,
    pub scheduled_at: Option<i64>,
    /// `deliveryMode: "steer"` was asked for.
    pub steer: bool,
}

/// `content` as the CLI gets it; a deferred delivery (a repeat, a replay, a release) says
/// `deliveryMode: "queue"`, whatever the first delivery said.
pub(crate) fn cli_content(m: &MessageRow, deferred: bool) -> Value {
    let mut content: Value = serde_json::from_str(&m.content).unwrap_or(Value::Null);
    if deferred
        && let Some(meta) = content.get_mut("meta").and_then(Value::as_object_mut)
        && meta.contains_key("deliveryMode")
    {
        meta.insert("deliveryMode".into(), json!("queue"));
    }
    content
}

/// A message as the CLI catch-up fetch hands it on (CONTRACT.md §4).
pub fn cli_fetch_json(m: &MessageRow) -> Value {
    json!({ "id": m.id, "seq": m.seq, "localId": m.local_id, "content": cli_content(m, true),
            "createdAt": m.created_at, "invokedAt": m.invoked_at, "scheduledAt": m.scheduled_at })
}

/// Whether a session shares its runtime with other clients (`capabilities.concurrentClients`).
pub fn is_shared(s: &Session) -> bool {
    s.metadata
        .pointer("/capabilities/concurrentClients")
        .and_then(Value::as_bool)
        == Some(true)
}

/// The strings of a `localIds` payload, in order.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Hub {
    fn ns_of(&self, sid: &str) -> Result<String, HubError> {
        self.sessions
            .get(sid)
            .map(|s| s.namespace.clone())
            .ok_or(HubError::NotFound)
    }

    /// Publishes a session event in the session's namespace.
    pub(crate) fn publish_session(&mut self, sid: &str, ev: Value) {
        if let Some(ns) = self.sessions.get(sid).map(|s| s.namespace.clone()) {
            self.events.publish(&ns, ev, &mut self.fx);
        }
    }

    /// Stores a message (or finds the one with the same `localId`): `(row, existed)`.
    /// `queued` leaves `invokedAt` null until the CLI reports it consumed.
    pub fn store_message(
        &mut self,
        sid: &str,
        content: &Value,
        local_id: Option<&str>,
        scheduled_at: Option<i64>,
        now: Now,
    ) -> Result<(MessageRow, bool), HubError> {
        if let Some(l) = local_id
            && let Some(m) = self.store.message_by_local_id(sid, l)?
        {
            return Ok((m, true));
        }
        let s = self.sessions.get_mut(sid).ok_or(HubError::NotFound)?;
        let m = MessageRow {
            id: uuid_v4(),
            seq: s.max_msg_seq + 1,
            local_id: local_id.map(str::to_string),
            content: content.to_string(),
            created_at: now.unix_ms,
            invoked_at: local_id.is_none().then_some(now.unix_ms),
            scheduled_at,
            state: Delivery::Queued,
        };
        self.store.insert_message(sid, &m)?;
        super::usage::on_message(&self.store, sid, content, m.created_at)?;
        s.max_msg_seq = m.seq;
        Ok((m, false))
    }

    /// Sends `update` `new-message` to the CLI sockets of the session's room (but `except`).
    fn deliver(&mut self, sid: &str, m: &MessageRow, deferred: bool, except: Option<SocketId>) {
        let update = json!({
            "id": m.id, "seq": m.seq, "createdAt": m.created_at,
            "body": { "t": "new-message", "sid": sid, "message": {
                "id": m.id, "seq": m.seq, "createdAt": m.created_at, "localId": m.local_id,
                "content": cli_content(m, deferred) } },
        });
        let room = self.cli.session_rooms.get(sid).cloned();
        self.emit_room(room.as_ref(), except, "update", update);
    }

    /// The CLI's `message` event (spec/cli-protocol.md §6.3). One with a `localId` is stored
    /// queued: the official CLI reports it consumed itself.
    pub fn cli_message(
        &mut self,
        socket: SocketId,
        sid: &str,
        message: Value,
        local_id: Option<&str>,
        now: Now,
    ) -> Result<(), HubError> {
        let content = match message {
            Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
            v => v,
        };
        let (m, existed) = self.store_message(sid, &content, local_id, None, now)?;
        let ns = self.ns_of(sid)?;
        // A repeated localId answers with the stored message, not the new payload.
        let stored: Value = serde_json::from_str(&m.content).unwrap_or(Value::Null);
        self.extract_todos(sid, &stored, m.created_at)?;
        if !existed {
            self.extract_team(sid, &stored, m.created_at, now.unix_ms)?;
        }
        let wire = json!({ "id": m.id, "seq": m.seq, "localId": m.local_id, "content": stored,
                           "createdAt": m.created_at, "invokedAt": m.invoked_at });
        let update = json!({
            "id": uuid_v4(), "seq": m.seq, "createdAt": now.unix_ms,
            "body": { "t": "new-message", "sid": sid, "message": {
                "id": m.id, "seq": m.seq, "createdAt": m.created_at, "localId": m.local_id, "content": stored } },
        });
        let room = self.cli.session_rooms.get(sid).cloned();
        self.emit_room(room.as_ref(), Some(socket), "update", update);
        self.events.publish(
            &ns,
            json!({"type": "message-received", "sessionId": sid, "message": wire}),
            &mut self.fx,
        );
        self.notify_on_message(sid, &stored, now);
        Ok(())
    }

    /// A web user message (CONTRACT.md §2): stored (once per `localId`), sent to the CLI
    /// unless it is held for later, announced to the web.
    pub fn user_message(&mut self, sid: &str, send: Send, now: Now) -> Result<(), HubError> {
        let s = self.sessions.get(sid).ok_or(HubError::NotFound)?;
        let steer = send.steer && s.flavor() == "pi" && send.scheduled_at.is_none();
        let mut inner = json!({"type": "text", "text": send.text});
        if let Some(a) = send.attachments {
            inner["attachments"] = Value::Array(a);
        }
        let mode = if steer { "steer" } else { "queue" };
        let content = json!({"role": "user", "content": inner,
                             "meta": {"sentFrom": "webapp", "deliveryMode": mode}});
        let (m, existed) = self.store_message(
            sid,
            &content,
            send.local_id.as_deref(),
            send.scheduled_at,
            now,
        )?;
        let future = m.scheduled_at.is_some_and(|at| at > now.unix_ms);
        if future {
            if let Some(at) = m.scheduled_at {
                self.arm(HubTimer::Schedule, mono_deadline(now, at, 0));
            }
        } else if m.state == Delivery::Queued {
            self.deliver(sid, &m, existed, None);
        }
        let ns = self.ns_of(sid)?;
        self.events.publish(
            &ns,
            json!({"type": "message-received", "sessionId": sid, "message": message_json(&m)}),
            &mut self.fx,
        );
        // The agent's turn starts: the current web app shows its spinner and Abort button
        // from this patch (the CLI's own alive confirms it a moment later).
        let Some(s) = self.sessions.get_mut(sid) else {
            return Ok(());
        };
        s.updated_at = s.updated_at.max(now.unix_ms);
        let updated_at = s.updated_at;
        let data = if s.active && !future {
            s.thinking = true;
            s.thinking_grace_until = Some(now.mono + super::cli::THINKING_GRACE);
            json!({"thinking": true, "activeTurnStartedAt": now.unix_ms, "updatedAt": updated_at})
        } else {
            json!({"updatedAt": updated_at})
        };
        self.store.put_session(&s.to_row())?;
        let ev = json!({"type": "session-updated", "sessionId": sid, "data": data});
        self.events.publish(&ns, ev, &mut self.fx);
        Ok(())
    }

    /// Touches the session's `updatedAt` and tells the web (`{"updatedAt"}` patch).
    fn touch(&mut self, sid: &str, now: Now) -> Result<(), HubError> {
        let s = self.sessions.get_mut(sid).ok_or(HubError::NotFound)?;
        s.updated_at = s.updated_at.max(now.unix_ms);
        let updated_at = s.updated_at;
        self.store.put_session(&s.to_row())?;
        let ev =
            json!({"type": "session-updated", "sessionId": sid, "data": {"updatedAt": updated_at}});
        self.publish_session(sid, ev);
        Ok(())
    }

    /// `messages-consumed` (CONTRACT.md §4): the uninvoked ones become invoked now.
    pub fn messages_consumed(
        &mut self,
        sid: &str,
        local_ids: Vec<String>,
        steered: bool,
        clear_grace: bool,
        now: Now,
    ) -> Result<(), HubError> {
        self.store.consume_messages(sid, &local_ids, now.unix_ms)?;
        for l in &local_ids {
            self.schedule_forget(sid, l);
        }
        if clear_grace && let Some(s) = self.sessions.get_mut(sid) {
            s.thinking_grace_until = None;
        }
        let mut ev = json!({"type": "messages-consumed", "sessionId": sid, "localIds": local_ids,
                            "invokedAt": now.unix_ms});
        if steered {
            ev["steered"] = json!(true);
        }
        self.publish_session(sid, ev);
        self.touch(sid, now)
    }

    /// `messages-indeterminate`: nobody knows whether the agent got these.
    pub fn messages_indeterminate(
        &mut self,
        sid: &str,
        local_ids: Vec<String>,
        now: Now,
    ) -> Result<(), HubError> {
        let from = [Delivery::Queued, Delivery::Dispatching];
        self.store
            .set_delivery(sid, &local_ids, &from, Delivery::Indeterminate)?;
        let ev = json!({"type": "messages-indeterminate", "sessionId": sid, "localIds": local_ids});
        self.publish_session(sid, ev);
        self.touch(sid, now)
    }

    /// `messages-steer-state`: whether any row changed (the ack's `ok`).
    pub fn messages_steer_state(
        &mut self,
        sid: &str,
        local_ids: Vec<String>,
        state: &str,
        now: Now,
    ) -> Result<bool, HubError> {
        let (from, to) = match state {
            "dispatching" => (
                [Delivery::Queued, Delivery::Indeterminate],
                Delivery::Dispatching,
            ),
            "queued" => (
                [Delivery::Dispatching, Delivery::Indeterminate],
                Delivery::Queued,
            ),
            _ => return Ok(false),
        };
        let changed = self.store.set_delivery(sid, &local_ids, &from, to)?;
        if changed.is_empty() {
            return Ok(false);
        }
        if to == Delivery::Queued {
            let ev = json!({"type": "messages-requeued", "sessionId": sid, "localIds": local_ids});
            self.publish_session(sid, ev);
        }
        self.touch(sid, now)?;
        Ok(true)
    }

    /// `native-queue-message` (CONTRACT.md §4): mirrors a shared runtime's queue entry.
    pub fn native_queue_message(
        &mut self,
        sid: &str,
        local_id: &str,
        text: Option<&str>,
        now: Now,
    ) -> Result<(), HubError> {
        let s = self.sessions.get(sid).ok_or(HubError::NotFound)?;
        if !is_shared(s) || local_id.is_empty() {
            return Ok(());
        }
        let existing = self
            .store
            .message_by_local_id(sid, local_id)?
            .filter(|m| m.invoked_at.is_none());
        let Some(text) = text else {
            if let Some(m) = existing {
                self.store.delete_message(sid, &m.id)?;
                self.bump_epoch(sid)?;
                let ev = json!({"type": "message-cancelled", "sessionId": sid,
                                "messageId": m.id, "localId": local_id});
                self.publish_session(sid, ev);
            }
            return Ok(());
        };
        let content = json!({"role": "user", "content": {"type": "text", "text": text},
                             "meta": {"sentFrom": "cli", "isNativeQueuedMessage": true}});
        let m = match existing {
            Some(mut m) => {
                m.content = content.to_string();
                self.store.set_message_content(sid, &m.id, &m.content)?;
                m
            }
            None => {
                self.store_message(sid, &content, Some(local_id), None, now)?
                    .0
            }
        };
        let mut wire = message_json(&m);
        wire["sessionId"] = json!(sid);
        let ev = json!({"type": "message-received", "sessionId": sid, "message": wire});
        self.publish_session(sid, ev);
        Ok(())
    }

    /// Bumps a session's message epoch (rows a client may hold were deleted).
    pub fn bump_epoch(&mut self, sid: &str) -> Result<i64, HubError> {
        let s = self.sessions.get_mut(sid).ok_or(HubError::NotFound)?;
        s.message_epoch += 1;
        self.store.set_message_epoch(sid, s.message_epoch)?;
        Ok(s.message_epoch)
    }

    /// The uninvoked, unscheduled, `queued` messages with a `localId`, in seq order: what a
    /// session-alive re-sends and a session-end sweeps.
    fn immediate_queue(&self, sid: &str) -> Result<Vec<MessageRow>, HubError> {
        Ok(self
            .store
            .uninvoked_messages(sid)?
            .into_iter()
            .filter(|m| {
                m.local_id.is_some() && m.scheduled_at.is_none() && m.state == Delivery::Queued
            })
            .collect())
    }

    /// After a `session-alive`: every immediately queued message goes to the CLI again.
    pub fn replay_queue(&mut self, sid: &str) -> Result<(), HubError> {
        if !self.cli.session_rooms.contains_key(sid) {
            return Ok(());
        }
        for m in self.immediate_queue(sid)? {
            self.deliver(sid, &m, true, None);
        }
        Ok(())
    }

    /// The session-end sweep: unless the session was cleared or is shared, the immediately
    /// queued messages count as consumed now (`session_end` then sends `session-ended`).
    pub fn sweep_on_end(
        &mut self,
        sid: &str,
        reason: Option<&str>,
        now: Now,
    ) -> Result<(), HubError> {
        let s = self.sessions.get(sid).ok_or(HubError::NotFound)?;
        if reason != Some("cleared") && !is_shared(s) {
            let ids: Vec<String> = self
                .immediate_queue(sid)?
                .into_iter()
                .filter_map(|m| m.local_id)
                .collect();
            if !ids.is_empty() {
                self.store.consume_messages(sid, &ids, now.unix_ms)?;
                let ev = json!({"type": "messages-consumed", "sessionId": sid, "localIds": ids,
                                "invokedAt": now.unix_ms});
                self.publish_session(sid, ev);
            }
        }
        Ok(())
    }

    /// The scheduler's fire: releases what is due and re-arms (see the module doc).
    pub(crate) fn schedule_due(&mut self, now: Now) {
        let due = match self.store.due_scheduled(now.unix_ms) {
            Ok(v) => v,
            Err(e) => {
                crate::log::warn(&format!("reading due scheduled messages failed: {e}"));
                self.arm(HubTimer::Schedule, now.mono + SCHEDULE_RESEND);
                return;
            }
        };
        let mut released = false;
        for (sid, m) in due {
            let Some(local_id) = m.local_id.clone() else {
                continue;
            };
            if !self.cli.session_rooms.contains_key(&sid) {
                continue;
            }
            released = true;
            self.deliver(&sid, &m, true, None);
            if self.schedule.announced.insert((sid.clone(), local_id)) {
                let ev = json!({"type": "scheduled-matured", "sessionId": sid});
                self.publish_session(&sid, ev);
            }
        }
        let next = match self.store.next_scheduled(now.unix_ms) {
            Ok(n) => n.map(|at| mono_deadline(now, at, 0)),
            Err(_) => Some(now.mono + SCHEDULE_RESEND),
        };
        let again = released.then(|| now.mono + SCHEDULE_RESEND);
        if let Some(at) = next.into_iter().chain(again).min() {
            self.arm(HubTimer::Schedule, at);
        }
    }

    /// Forgets the announcement of a deleted or consumed scheduled message.
    pub(crate) fn schedule_forget(&mut self, sid: &str, local_id: &str) {
        self.schedule
            .announced
            .remove(&(sid.to_string(), local_id.to_string()));
    }
}
