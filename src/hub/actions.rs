//! Session actions of the web app's session menu (parity-0.30.7.md §2 rows 17, 31, 32):
//! pin, summary, and the archive of an already archived session.
//!
//! The contract, as the official hub v0.30.7 answered on the wire:
//! - `PUT /api/sessions/:id/pin` body `{"mode": "none" | "project" | "global"}` (what the
//!   web app's `setSessionPinMode` sends). The modes exclude each other: `project` sets
//!   `pinned` and clears `globalPinned`, `global` the reverse, `none` clears both. Any other
//!   body → 400 `{"error":"Invalid body: mode must be none, project, or global"}`. Answer
//!   200 `{"ok":true}`, also for an inactive session and for a repeated mode; each call
//!   publishes `session-updated` with the full session object. A pin changes neither
//!   `updatedAt`, `seq` nor `metadataVersion`; it is persisted and survives a restart.
//! - `GET /api/sessions` sorts `globalPinned` first, then `pinned`, then its usual order;
//!   `?order=updatedAt` ignores pins.
//! - `PATCH /api/sessions/:id/summary` body `{"text": <string>}`: the text is trimmed and must
//!   be 1..=255 UTF-16 units, else 400 `{"error":"Invalid body: text is required"}`. Stored
//!   as `metadata.summary = {"text", "updatedAt": <now ms>}` (a versioned metadata write:
//!   `metadataVersion` and `seq` +1, `updatedAt` unchanged), answered 200 `{"ok":true}`, also
//!   for an inactive session, and published as `session-updated` with the full session.
//!   Nothing is sent to the CLI.
//! - `POST /api/sessions/:id/archive` of an inactive session whose `metadata.lifecycleState`
//!   is `archived` → 200 `{"ok":true,"alreadyArchived":true}`; inactive otherwise → 409
//!   `{"error":"Session is inactive"}` (the route's usual guard).

use super::Hub;
use crate::app::Now;
use crate::http::Response;
use serde_json::{Map, Value, json};

/// Longest summary, in UTF-16 units (JavaScript string length), after trimming.
const MAX_SUMMARY: usize = 255;

/// A session's pin (`pinned` / `globalPinned` in its JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pin {
    #[default]
    None,
    Project,
    Global,
}

impl Pin {
    /// The body's `mode`.
    pub fn parse(mode: &str) -> Option<Pin> {
        match mode {
            "none" => Some(Pin::None),
            "project" => Some(Pin::Project),
            "global" => Some(Pin::Global),
            _ => None,
        }
    }

    fn from_flags(pinned: bool, global: bool) -> Pin {
        match (pinned, global) {
            (_, true) => Pin::Global,
            (true, false) => Pin::Project,
            _ => Pin::None,
        }
    }

    /// `pinned` of the session JSON.
    pub fn pinned(self) -> bool {
        self == Pin::Project
    }

    /// `globalPinned` of the session JSON.
    pub fn global(self) -> bool {
        self == Pin::Global
    }

    /// Sort key of the session list: global pins first, then project pins.
    pub fn rank(self) -> u8 {
        match self {
            Pin::Global => 0,
            Pin::Project => 1,
            Pin::None => 2,
        }
    }
}

/// The trimmed summary text of a PATCH body, if valid.
fn summary_text(body: &Value) -> Option<&str> {
    let t = body.get("text")?.as_str()?.trim();
    let units: usize = t.chars().map(char::len_utf16).sum();
    (1..=MAX_SUMMARY).contains(&units).then_some(t)
}

impl Hub {
    /// Restores the stored pins (at start-up).
    pub(crate) fn load_pins(&mut self) -> Result<(), crate::store::StoreError> {
        for (id, pinned, global) in self.store.session_pins()? {
            if let Some(s) = self.sessions.get_mut(&id) {
                s.pin = Pin::from_flags(pinned, global);
            }
        }
        Ok(())
    }

    /// `PUT /api/sessions/:id/pin` of a session the caller may see.
    pub fn set_pin(&mut self, sid: &str, body: &Value) -> Response {
        let Some(pin) = body
            .get("mode")
            .and_then(Value::as_str)
            .and_then(Pin::parse)
        else {
            return Response::error(400, "Invalid body: mode must be none, project, or global");
        };
        if !self.sessions.contains_key(sid) {
            return Response::error(404, "Session not found");
        }
        if let Err(e) = self.store.set_session_pin(sid, pin.pinned(), pin.global()) {
            crate::log::warn(&format!("pin: {e}"));
            return Response::error(500, "Failed to update session pin");
        }
        if let Some(s) = self.sessions.get_mut(sid) {
            s.pin = pin;
        }
        self.publish_full_session(sid);
        Response::json(200, &json!({"ok": true}))
    }

    /// `PATCH /api/sessions/:id/summary` of a session the caller may see.
    pub fn set_summary(&mut self, sid: &str, body: &Value, now: Now) -> Response {
        let Some(text) = summary_text(body) else {
            return Response::error(400, "Invalid body: text is required");
        };
        let Some(s) = self.sessions.get_mut(sid) else {
            return Response::error(404, "Session not found");
        };
        let before = s.clone();
        let mut meta = match &s.metadata {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        meta.insert(
            "summary".into(),
            json!({"text": text, "updatedAt": now.unix_ms}),
        );
        s.metadata = Value::Object(meta);
        s.metadata_version += 1;
        s.seq += 1;
        if let Err(e) = self.store.put_session(&s.to_row()) {
            *s = before;
            crate::log::warn(&format!("summary: {e}"));
            return Response::error(500, "Failed to update session metadata");
        }
        self.publish_full_session(sid);
        Response::json(200, &json!({"ok": true}))
    }

    /// Archive of a session that is inactive and already marked archived by its CLI.
    pub fn already_archived(&self, sid: &str) -> bool {
        self.sessions.get(sid).is_some_and(|s| {
            !s.active
                && s.metadata.get("lifecycleState").and_then(Value::as_str) == Some("archived")
        })
    }

    /// `session-updated` with the whole session object.
    fn publish_full_session(&mut self, sid: &str) {
        let Some(s) = self.sessions.get(sid) else {
            return;
        };
        let (ns, full) = (s.namespace.clone(), s.to_json());
        self.events.publish(
            &ns,
            json!({"type": "session-updated", "sessionId": sid, "data": full}),
            &mut self.fx,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_modes_exclude_each_other() {
        assert_eq!(
            Pin::parse("project").map(|p| (p.pinned(), p.global())),
            Some((true, false))
        );
        assert_eq!(
            Pin::parse("global").map(|p| (p.pinned(), p.global())),
            Some((false, true))
        );
        assert_eq!(
            Pin::parse("none").map(|p| (p.pinned(), p.global())),
            Some((false, false))
        );
        assert_eq!(Pin::parse("Global"), None);
        assert_eq!(Pin::from_flags(true, true), Pin::Global);
        assert!(Pin::Global.rank() < Pin::Project.rank() && Pin::Project.rank() < Pin::None.rank());
    }

    #[test]
    fn summary_is_trimmed_and_bounded_in_utf16_units() {
        assert_eq!(summary_text(&json!({"text": "  hi  "})), Some("hi"));
        assert_eq!(summary_text(&json!({"text": "   "})), None);
        assert_eq!(summary_text(&json!({"text": 5})), None);
        assert_eq!(summary_text(&json!({})), None);
        let max = "y".repeat(255);
        assert_eq!(summary_text(&json!({ "text": max })), Some(max.as_str()));
        assert_eq!(summary_text(&json!({"text": "y".repeat(256)})), None);
        // 128 emoji = 256 UTF-16 units: over the limit although only 128 chars.
        assert_eq!(summary_text(&json!({"text": "😀".repeat(128)})), None);
    }
}
