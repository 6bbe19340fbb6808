//! Message pages of `GET /api/sessions/:id/messages` (tests/pipeline/CONTRACT.md §6): the
//! latest, before and after pages over message positions `(invokedAt ?? createdAt, seq)`,
//! the session's message epoch and the `reset` of a stale after-cursor.
//!
//! Also the rewind that truncates them (`messages-invalidated`).
//!
//! The latest page also carries every uninvoked message with a `localId`, however old, so
//! the web always shows the queue; its cursor comes from the page rows alone.

use super::model::message_json;
use super::{Hub, HubError};
use crate::store::{MessageRow, Position, position};
use serde_json::{Value, json};

/// A validated page request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageQuery {
    pub limit: i64,
    pub before: Option<Position>,
    pub after: Option<Position>,
    pub until: Option<Position>,
    pub epoch: Option<i64>,
}

fn at(p: Option<Position>) -> (Value, Value) {
    match p {
        Some((at, seq)) => (json!(seq), json!(at)),
        None => (Value::Null, Value::Null),
    }
}

impl Hub {
    /// The page body `{"messages": […], "page": {…}}`.
    pub fn message_page(&self, sid: &str, q: PageQuery) -> Result<Value, HubError> {
        let epoch = self
            .sessions
            .get(sid)
            .map(|s| s.message_epoch)
            .ok_or(HubError::NotFound)?;
        let head = self.store.head_position(sid)?;
        let stale = q.epoch.is_some_and(|e| e != epoch);
        let (hs, ha) = at(head);
        if let Some(after) = q.after.filter(|_| !stale) {
            let snapshot = match (q.until, head) {
                (Some(u), Some(h)) => Some(u.min(h)),
                (u, h) => u.or(h),
            };
            let rows = match snapshot {
                Some(s) => self.store.page_after(sid, after, s, q.limit)?,
                None => Vec::new(),
            };
            let last = rows.last().map(position);
            let has_more = match (last, snapshot) {
                (Some(l), Some(s)) => l < s,
                _ => false,
            };
            let (na_seq, na_at) = at(last.or(Some(after)));
            let (ss, sa) = at(snapshot);
            let msgs: Vec<Value> = rows.iter().map(message_json).collect();
            let page = json!({"direction": "after", "limit": q.limit, "epoch": epoch,
                "reset": false, "nextBeforeSeq": null, "nextBeforeAt": null,
                "nextAfterSeq": na_seq, "nextAfterAt": na_at, "snapshotHeadSeq": ss,
                "snapshotHeadAt": sa, "hasMore": has_more});
            return Ok(json!({"messages": msgs, "page": page}));
        }
        let before = q.before.filter(|_| !stale);
        let mut rows = self.store.page_before(sid, before, q.limit)?;
        let oldest = rows.first().map(position);
        let has_more = match oldest {
            Some(p) => self.store.any_below(sid, p)?,
            None => false,
        };
        if before.is_none() {
            let queued: Vec<MessageRow> = self
                .store
                .uninvoked_messages(sid)?
                .into_iter()
                .filter(|m| m.local_id.is_some() && !rows.iter().any(|r| r.id == m.id))
                .collect();
            if !queued.is_empty() {
                rows.extend(queued);
                rows.sort_by_key(position);
            }
        }
        let (nb_seq, nb_at) = at(oldest);
        let msgs: Vec<Value> = rows.iter().map(message_json).collect();
        let direction = if before.is_some() { "before" } else { "latest" };
        let page = json!({"direction": direction, "limit": q.limit, "epoch": epoch,
            "reset": stale, "nextBeforeSeq": nb_seq, "nextBeforeAt": nb_at,
            "nextAfterSeq": null, "nextAfterAt": null, "snapshotHeadSeq": hs,
            "snapshotHeadAt": ha, "hasMore": has_more});
        Ok(json!({"messages": msgs, "page": page}))
    }
}

/// A rewind refused before the CLI is asked: the 409 reason.
pub fn rewind_refusal(
    hub: &Hub,
    sid: &str,
    local_id: &str,
) -> Result<Option<&'static str>, HubError> {
    let s = hub.sessions.get(sid).ok_or(HubError::NotFound)?;
    let capable = s
        .metadata
        .pointer("/capabilities/conversationHistory/rewindToMessage")
        .and_then(Value::as_bool)
        == Some(true);
    if !capable {
        return Ok(Some("Rewind is not supported for this session"));
    }
    if s.thinking {
        return Ok(Some("Session is busy"));
    }
    if s.agent_state
        .get("controlledByUser")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Ok(Some("Rewind is only available for remote sessions"));
    }
    if hub
        .store
        .uninvoked_messages(sid)?
        .iter()
        .any(|m| m.local_id.is_some())
    {
        return Ok(Some("Session has queued messages"));
    }
    match hub.store.message_by_local_id(sid, local_id)? {
        None => Ok(Some("Message not found")),
        Some(m) if m.invoked_at.is_none() => Ok(Some("Message has not been delivered")),
        Some(_) => Ok(None),
    }
}

impl Hub {
    /// The CLI rewound its conversation: the rows from the boundary on go, the epoch moves,
    /// the web refetches (`session-updated`, then `messages-invalidated`).
    pub(super) fn rewound(
        &mut self,
        sid: &str,
        local_id: &str,
        result: Result<Value, String>,
    ) -> Result<Value, String> {
        let v = result?;
        if v.get("success").and_then(Value::as_bool) != Some(true) {
            let e = v
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("Rewind failed");
            return Err(e.to_string());
        }
        let from = v
            .get("truncateFromLocalId")
            .and_then(Value::as_str)
            .unwrap_or(local_id)
            .to_string();
        let fail = |e: HubError| format!("{e:?}");
        if let Some(m) = self
            .store
            .message_by_local_id(sid, &from)
            .map_err(|e| fail(e.into()))?
        {
            self.store
                .delete_from_position(sid, position(&m))
                .map_err(|e| fail(e.into()))?;
        }
        self.bump_epoch(sid).map_err(fail)?;
        if let Some(full) = self.sessions.get(sid).map(super::model::Session::to_json) {
            let ev = json!({"type": "session-updated", "sessionId": sid, "data": full});
            self.publish_session(sid, ev);
        }
        let ev = json!({"type": "messages-invalidated", "sessionId": sid, "reason": "rewind",
                        "truncateFromLocalId": from});
        self.publish_session(sid, ev);
        Ok(json!({"success": true}))
    }
}
