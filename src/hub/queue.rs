//! Cancel, steer and retry of queued messages (issue 14; tests/pipeline/CONTRACT.md §5): the
//! decisions over the message's state and the round trips to the CLI sockets of the room.
//!
//! A cancel or retry asks every CLI socket of the room with an `update` that wants an ack
//! ([`ASK_TIMEOUT`]); the acks are collected as calls in flight (`Cli::pending`, so the RPC
//! timer and socket loss finish them) and the request is answered when every socket has
//! answered, timed out or left. Every answer is `200` with a status object; the hub returns
//! the body (`Done`) or answers the connection itself later (`Effect::Reply`).

use super::cli::RpcThen;
use super::messages::is_shared;
use super::model::message_json;
use super::{ConnId, Effect, Hub, HubError, Now, uuid_v4};
use crate::http::Response;
use crate::store::{Delivery, MessageRow};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// How long a cancel or retry waits for the CLI's ack.
pub const ASK_TIMEOUT: Duration = Duration::from_millis(500);

/// The answer of a queue route: a body now, or later through `Effect::Reply`.
#[derive(Debug)]
pub enum Answer {
    Done(Value),
    Deferred,
}

/// What an ask is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `DELETE …/messages/:id`.
    Cancel,
    /// The cancel that opens a retry.
    RetryCancel,
    /// `retry-queued-message`.
    Retry,
}

/// An ask in flight.
#[derive(Debug)]
struct Ask {
    conn: ConnId,
    sid: String,
    /// `:messageId` as given in the URL.
    given: String,
    msg_id: String,
    local_id: String,
    step: Step,
    waiting: usize,
    acks: Vec<Value>,
}

/// The asks in flight.
#[derive(Debug, Default)]
pub struct Asks {
    live: HashMap<u64, Ask>,
    next: u64,
}

/// What the CLI sockets said to a cancel, by the official precedence.
#[derive(Debug, PartialEq, Eq)]
enum Said {
    Consumed,
    Indeterminate,
    InFlight,
    Removed,
    /// Acked, nothing removed.
    Nothing,
    /// No ack at all.
    Silent,
}

fn said(acks: &[Value]) -> Said {
    let any = |k: &str| {
        acks.iter()
            .any(|a| a.get(k).and_then(Value::as_bool) == Some(true))
    };
    if any("consumed") {
        Said::Consumed
    } else if any("indeterminate") {
        Said::Indeterminate
    } else if any("inFlight") {
        Said::InFlight
    } else if any("removed") {
        Said::Removed
    } else if acks.is_empty() {
        Said::Silent
    } else {
        Said::Nothing
    }
}

/// The stored row as cancel answers it (with `sessionId`).
fn store_row(m: &MessageRow, sid: &str) -> Value {
    let mut v = message_json(m);
    if let Some(o) = v.as_object_mut() {
        o.remove("deliveryState");
        o.insert("sessionId".into(), json!(sid));
    }
    v
}

/// The row as steer and retry answer it (no `sessionId`).
fn plain_row(m: &MessageRow) -> Value {
    let mut v = message_json(m);
    if let Some(o) = v.as_object_mut() {
        o.remove("deliveryState");
    }
    v
}

/// Whether a session's flavor can steer (CONTRACT.md §5.2).
fn steerable(s: &super::model::Session) -> bool {
    match s.flavor() {
        "codex" | "pi" => true,
        "cursor" => {
            let protocol = s
                .metadata
                .get("cursorSessionProtocol")
                .and_then(Value::as_str);
            let legacy = protocol.is_none() && s.metadata.get("cursorSessionId").is_some();
            protocol != Some("stream-json") && !legacy
        }
        _ => false,
    }
}

impl Hub {
    /// `DELETE /api/sessions/:id/messages/:messageId` (CONTRACT.md §5.1).
    pub fn cancel_message(
        &mut self,
        conn: ConnId,
        sid: &str,
        given: &str,
        now: Now,
    ) -> Result<Answer, HubError> {
        let Some(m) = self.store.message_by_ref(sid, given)? else {
            return Ok(Answer::Done(
                json!({"status": "cancelled", "localId": null}),
            ));
        };
        if m.invoked_at.is_some() {
            return Ok(Answer::Done(
                json!({"status": "invoked", "message": store_row(&m, sid)}),
            ));
        }
        let Some(local_id) = m.local_id.clone() else {
            self.delete_queued(sid, &m, given, true)?;
            return Ok(Answer::Done(
                json!({"status": "cancelled", "localId": null}),
            ));
        };
        let future = m.scheduled_at.is_some_and(|at| at > now.unix_ms);
        let room = self.room_size(sid);
        let shared = self.sessions.get(sid).is_some_and(is_shared);
        if !future && room == 0 && shared {
            self.mark_indeterminate(sid, &local_id, now)?;
            return Ok(Answer::Done(json!({"status": "busy", "localId": local_id})));
        }
        if future || room == 0 {
            self.delete_queued(sid, &m, given, true)?;
            return Ok(Answer::Done(
                json!({"status": "cancelled", "localId": local_id}),
            ));
        }
        self.ask(conn, sid, given, &m, Step::Cancel, now);
        Ok(Answer::Deferred)
    }

    /// `POST /api/sessions/:id/messages/:messageId/retry` (CONTRACT.md §5.3).
    pub fn retry_message(
        &mut self,
        conn: ConnId,
        sid: &str,
        given: &str,
        now: Now,
    ) -> Result<Answer, HubError> {
        let Some(m) = self
            .store
            .message_by_ref(sid, given)?
            .filter(|m| m.local_id.is_some())
        else {
            return Ok(Answer::Done(json!({"status": "not-found"})));
        };
        let local_id = m.local_id.clone().unwrap_or_default();
        if m.invoked_at.is_some() {
            return Ok(Answer::Done(
                json!({"status": "invoked", "message": plain_row(&m)}),
            ));
        }
        if m.state == Delivery::Queued {
            return Ok(Answer::Done(
                json!({"status": "already-queued", "localId": local_id}),
            ));
        }
        let running = self.asks.live.values().any(|a| {
            a.sid == sid && a.msg_id == m.id && matches!(a.step, Step::RetryCancel | Step::Retry)
        });
        if running || self.room_size(sid) != 1 {
            return Ok(Answer::Done(
                json!({"status": "retry-unavailable", "localId": local_id}),
            ));
        }
        self.ask(conn, sid, given, &m, Step::RetryCancel, now);
        Ok(Answer::Deferred)
    }

    /// `POST /api/sessions/:id/messages/:messageId/steer` (CONTRACT.md §5.2); the session is
    /// known to be active.
    pub fn steer_message(
        &mut self,
        conn: ConnId,
        ns: &str,
        sid: &str,
        given: &str,
        now: Now,
    ) -> Result<Answer, HubError> {
        let s = self.sessions.get(sid).ok_or(HubError::NotFound)?;
        let failed = |e: &str, l: Option<&str>| {
            Ok(Answer::Done(
                json!({"status": "failed", "error": e, "localId": l}),
            ))
        };
        if !steerable(s) {
            return failed(
                "Steering is only supported for Pi, Codex, and Cursor ACP sessions",
                None,
            );
        }
        let local = s
            .agent_state
            .get("controlledByUser")
            .and_then(Value::as_bool)
            == Some(true);
        if local && !is_shared(s) {
            return failed("Steering is only available for remote sessions", None);
        }
        let Some(m) = self
            .store
            .message_by_ref(sid, given)?
            .filter(|m| m.local_id.is_some())
        else {
            return failed("Message not found", None);
        };
        let local_id = m.local_id.clone().unwrap_or_default();
        if m.invoked_at.is_some() {
            return Ok(Answer::Done(
                json!({"status": "invoked", "message": plain_row(&m)}),
            ));
        }
        if m.scheduled_at.is_some() {
            return failed("Scheduled messages cannot be steered", Some(&local_id));
        }
        let method = format!("{sid}:steer-queued-message");
        let shape = super::rpc::Shape::Steer {
            local_id: local_id.clone(),
        };
        self.rpc_call(
            ns,
            method,
            &json!({ "localId": local_id }),
            RpcThen::Reply { conn, shape },
            now,
        );
        Ok(Answer::Deferred)
    }

    /// The steer RPC's result as the route answers it.
    pub(super) fn steer_answer(local_id: &str, result: Result<Value, String>) -> Value {
        match result {
            Ok(v) if v.get("steered").and_then(Value::as_bool) == Some(true) => {
                json!({"status": "steered", "localId": local_id})
            }
            Ok(v) => {
                let e = v
                    .get("error")
                    .and_then(Value::as_str)
                    .filter(|e| !e.is_empty())
                    .unwrap_or("Steer failed");
                json!({"status": "failed", "error": e, "localId": local_id})
            }
            Err(e) => json!({"status": "failed", "error": e, "localId": local_id}),
        }
    }

    fn room_size(&self, sid: &str) -> usize {
        self.cli.session_rooms.get(sid).map_or(0, Vec::len)
    }

    /// Deletes an uninvoked message, bumps the epoch and announces `message-cancelled`
    /// (with `localId` unless `with_local` is false: the CLI-removed path has none).
    fn delete_queued(
        &mut self,
        sid: &str,
        m: &MessageRow,
        given: &str,
        with_local: bool,
    ) -> Result<(), HubError> {
        self.store.delete_message(sid, &m.id)?;
        self.bump_epoch(sid)?;
        if let Some(l) = &m.local_id {
            self.schedule_forget(sid, l);
        }
        let mut ev = json!({"type": "message-cancelled", "sessionId": sid, "messageId": given});
        if with_local && let Some(l) = &m.local_id {
            ev["localId"] = json!(l);
        }
        self.publish_session(sid, ev);
        Ok(())
    }

    fn mark_indeterminate(&mut self, sid: &str, local_id: &str, now: Now) -> Result<(), HubError> {
        self.messages_indeterminate(sid, vec![local_id.to_string()], now)
    }

    /// Marks a message invoked now (a cancel the CLI answered `consumed`).
    fn mark_consumed(&mut self, sid: &str, local_id: &str, now: Now) -> Result<(), HubError> {
        self.messages_consumed(sid, vec![local_id.to_string()], false, false, now)
    }

    /// Sends the cancel (or retry) `update` to every socket of the room and waits.
    fn ask(&mut self, conn: ConnId, sid: &str, given: &str, m: &MessageRow, step: Step, now: Now) {
        let local_id = m.local_id.clone().unwrap_or_default();
        let (event_name, update) = if step == Step::Retry {
            let message = json!({"id": m.id, "seq": m.seq, "createdAt": m.created_at,
                "localId": m.local_id, "content": super::messages::cli_content(m, true)});
            let body = json!({"t": "retry-queued-message", "sid": sid, "messageId": m.id,
                              "localId": local_id, "message": message});
            (
                "retry-queued-message",
                json!({"id": m.id, "seq": m.seq, "createdAt": m.created_at, "body": body}),
            )
        } else {
            let body = json!({"t": "cancel-queued-message", "sid": sid, "messageId": given,
                              "localId": local_id});
            (
                "cancel-queued-message",
                json!({"id": uuid_v4(), "seq": 0, "createdAt": now.unix_ms, "body": body}),
            )
        };
        let id = self.asks.next;
        self.asks.next += 1;
        let sockets = self.cli.session_rooms.get(sid).cloned().unwrap_or_default();
        let mut waiting = 0;
        for socket in sockets {
            let then = RpcThen::Ask(id);
            if self.emit_with_ack(
                socket,
                "update",
                update.clone(),
                event_name,
                ASK_TIMEOUT,
                then,
                now,
            ) {
                waiting += 1;
            }
        }
        self.asks.live.insert(
            id,
            Ask {
                conn,
                sid: sid.to_string(),
                given: given.to_string(),
                msg_id: m.id.clone(),
                local_id,
                step,
                waiting,
                acks: Vec::new(),
            },
        );
        if waiting == 0 {
            self.ask_done(id, now);
        }
    }

    /// One socket answered an ask (or timed out, or left: `Err`).
    pub(super) fn ask_answered(&mut self, id: u64, result: Result<Value, String>, now: Now) {
        let Some(a) = self.asks.live.get_mut(&id) else {
            return;
        };
        a.waiting = a.waiting.saturating_sub(1);
        if let Ok(v) = result {
            a.acks.push(v);
        }
        if a.waiting == 0 {
            self.ask_done(id, now);
        }
    }

    fn ask_done(&mut self, id: u64, now: Now) {
        let Some(a) = self.asks.live.remove(&id) else {
            return;
        };
        let body = match self.ask_outcome(&a, now) {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                crate::log::warn(&format!("finishing a queue request failed: {e:?}"));
                json!({"status": "busy", "localId": a.local_id})
            }
        };
        self.fx.push(Effect::Reply {
            conn: a.conn,
            resp: Response::json(200, &body),
        });
    }

    /// The answer of a finished ask; `None` when a next step was started instead.
    fn ask_outcome(&mut self, a: &Ask, now: Now) -> Result<Option<Value>, HubError> {
        let l = a.local_id.clone();
        let busy = json!({"status": "busy", "localId": l});
        let unavailable = json!({"status": "retry-unavailable", "localId": l});
        // The row as it is now: the CLI may have reported on it meanwhile.
        let Some(m) = self.store.message_by_ref(&a.sid, &a.msg_id)? else {
            return Ok(Some(match a.step {
                Step::Cancel => json!({"status": "cancelled", "localId": l}),
                _ => json!({"status": "not-found"}),
            }));
        };
        if m.invoked_at.is_some() {
            let row = if a.step == Step::Cancel {
                store_row(&m, &a.sid)
            } else {
                plain_row(&m)
            };
            return Ok(Some(json!({"status": "invoked", "message": row})));
        }
        if a.step == Step::Retry {
            let accepted = a
                .acks
                .iter()
                .any(|v| v.get("accepted").and_then(Value::as_bool) == Some(true));
            let to = if accepted {
                Delivery::Queued
            } else {
                Delivery::Indeterminate
            };
            let from = [
                Delivery::Dispatching,
                Delivery::Indeterminate,
                Delivery::Queued,
            ];
            self.store
                .set_delivery(&a.sid, std::slice::from_ref(&l), &from, to)?;
            let kind = if accepted {
                "messages-requeued"
            } else {
                "messages-indeterminate"
            };
            let ev = json!({"type": kind, "sessionId": a.sid, "localIds": [l]});
            self.publish_session(&a.sid, ev);
            return Ok(Some(if accepted {
                json!({"status": "retried", "localId": l})
            } else {
                unavailable
            }));
        }
        let said = said(&a.acks);
        if said == Said::Consumed {
            self.mark_consumed(&a.sid, &l, now)?;
            let m = self.store.message_by_ref(&a.sid, &a.msg_id)?.unwrap_or(m);
            let row = if a.step == Step::Cancel {
                store_row(&m, &a.sid)
            } else {
                plain_row(&m)
            };
            return Ok(Some(json!({"status": "invoked", "message": row})));
        }
        if a.step == Step::RetryCancel {
            let shared = self.sessions.get(&a.sid).is_some_and(is_shared);
            if matches!(said, Said::InFlight | Said::Silent) || (shared && said != Said::Removed) {
                return Ok(Some(unavailable));
            }
            // Claim it, then ask the CLI to take it again.
            let from = [
                Delivery::Queued,
                Delivery::Indeterminate,
                Delivery::Dispatching,
            ];
            self.store.set_delivery(
                &a.sid,
                std::slice::from_ref(&l),
                &from,
                Delivery::Dispatching,
            )?;
            if self.room_size(&a.sid) == 0 {
                self.mark_indeterminate(&a.sid, &l, now)?;
                return Ok(Some(unavailable));
            }
            self.ask(a.conn, &a.sid, &a.given, &m, Step::Retry, now);
            return Ok(None);
        }
        // A cancel.
        let out = match (m.state, said) {
            (Delivery::Dispatching, _) => {
                self.mark_indeterminate(&a.sid, &l, now)?;
                busy
            }
            (Delivery::Queued, Said::Removed) => {
                self.delete_queued(&a.sid, &m, &a.given, false)?;
                json!({"status": "cancelled", "localId": l})
            }
            (Delivery::Queued, Said::InFlight | Said::Indeterminate) => busy,
            (Delivery::Queued, _) => {
                self.mark_indeterminate(&a.sid, &l, now)?;
                busy
            }
            (Delivery::Indeterminate, Said::Removed | Said::Nothing) => {
                self.delete_queued(&a.sid, &m, &a.given, true)?;
                json!({"status": "cancelled", "localId": l})
            }
            (Delivery::Indeterminate, _) => busy,
        };
        Ok(Some(out))
    }
}
