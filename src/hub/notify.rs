//! The notification policy (spec/push.md §4, spec/sse.md §6.3–6.4): when a permission request
//! appears (debounced 500 ms) or a session reports "ready" (5 s cooldown), notify the user —
//! a toast on every visible web stream of the namespace, else Web Push; Telegram always.
//!
//! The hub only decides; delivery is queued for the outbound channels (push, Telegram), each
//! bounded, so a slow channel never holds the hub or another channel back.

use super::timers::HubTimer;
use super::{Hub, Now};
use crate::push::payload;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Debounce after a new permission request id appears.
const DEBOUNCE: Duration = Duration::from_millis(500);
/// Minimum gap between two "ready" notifications of a session.
const READY_COOLDOWN: Duration = Duration::from_secs(5);

/// What kind of notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An agent asks for permission (the first pending request).
    Permission { request_id: String, tool: String },
    /// The agent finished its turn.
    Ready,
}

/// One notification, rendered once for every channel.
#[derive(Debug, Clone)]
pub struct Notification {
    pub namespace: String,
    pub session_id: String,
    pub kind: Kind,
    pub title: String,
    pub body: String,
    /// The Web Push payload (JSON text).
    pub push_payload: String,
    /// The in-app toast (spec/sse.md §6.3: the texts the web app knows how to translate).
    pub toast: (String, String),
}

#[derive(Debug, Default)]
pub(super) struct SessionState {
    known: HashSet<String>,
    due: Option<Instant>,
    last_ready: Option<Instant>,
}

/// Per-session policy state and the channel queues.
#[derive(Debug, Default)]
pub struct Notify {
    pub(super) state: HashMap<String, SessionState>,
    /// Whether a Telegram channel exists (else nothing is queued for it).
    pub telegram_enabled: bool,
    /// Counters: toasts sent, notifications produced.
    pub toasts: u64,
    pub produced: u64,
}

/// Whether a message content is a "ready" event (spec/push.md §4.2).
pub fn is_ready_event(content: &Value) -> bool {
    let env = if content.get("type").and_then(Value::as_str) == Some("event") {
        Some(content)
    } else {
        content
            .get("content")
            .filter(|c| c.get("type").and_then(Value::as_str) == Some("event"))
    };
    env.and_then(|e| e.get("data"))
        .and_then(|d| d.get("type"))
        .and_then(Value::as_str)
        == Some("ready")
}

impl Hub {
    /// After any session change: look for new permission request ids (spec/push.md §4.1).
    pub fn notify_on_session_change(&mut self, sid: &str, now: Now) {
        let Some(s) = self.sessions.get(sid) else {
            self.notify.state.remove(sid);
            return;
        };
        if !s.active {
            self.notify.state.remove(sid);
            return;
        }
        let Some(reqs) = s.agent_state.get("requests").and_then(Value::as_object) else {
            return;
        };
        let current: HashSet<String> = reqs.keys().cloned().collect();
        let st = self.notify.state.entry(sid.to_string()).or_default();
        let is_new = current.iter().any(|k| !st.known.contains(k));
        st.known = current;
        if is_new {
            let at = now.mono + DEBOUNCE;
            st.due = Some(at);
            self.arm(HubTimer::NotifyDebounce, at);
        }
    }

    /// After a CLI message: a "ready" event notifies (spec/push.md §4.2).
    pub fn notify_on_message(&mut self, sid: &str, content: &Value, now: Now) {
        if !is_ready_event(content) {
            return;
        }
        let Some(s) = self.sessions.get(sid).filter(|s| s.active) else {
            return;
        };
        let st = self.notify.state.entry(sid.to_string()).or_default();
        if st
            .last_ready
            .is_some_and(|l| now.mono.duration_since(l) < READY_COOLDOWN)
        {
            return;
        }
        st.last_ready = Some(now.mono);
        let metadata = s.exposed_metadata();
        let body = payload::ready_body(sid, &metadata);
        let toast_body = format!(
            "{} is waiting in {}",
            payload::agent_name(&metadata),
            payload::session_name(sid, &metadata)
        );
        let n = Notification {
            namespace: s.namespace.clone(),
            session_id: sid.to_string(),
            kind: Kind::Ready,
            title: payload::READY_TITLE.to_string(),
            push_payload: payload::session_ready_payload(sid, &body),
            body,
            toast: ("Ready for input".into(), toast_body),
        };
        self.notify_dispatch(n, now);
    }

    /// The session was removed or ended: forget its state.
    pub fn notify_forget(&mut self, sid: &str) {
        self.notify.state.remove(sid);
    }

    /// Fires due permission debounces (the debounce timer).
    pub fn notify_due(&mut self, now: Now) {
        let due: Vec<String> = self
            .notify
            .state
            .iter()
            .filter(|(_, st)| st.due.is_some_and(|d| d <= now.mono))
            .map(|(k, _)| k.clone())
            .collect();
        if let Some(at) = self
            .notify
            .state
            .values()
            .filter_map(|s| s.due)
            .filter(|d| *d > now.mono)
            .min()
        {
            self.arm(HubTimer::NotifyDebounce, at);
        }
        for sid in due {
            if let Some(st) = self.notify.state.get_mut(&sid) {
                st.due = None;
            }
            let Some(s) = self.sessions.get(&sid).filter(|s| s.active) else {
                continue;
            };
            let Some((request_id, req)) = payload::first_request(&s.agent_state) else {
                continue;
            };
            let metadata = s.exposed_metadata();
            let body = payload::permission_body(&metadata, Some(req));
            let tool = req
                .get("tool")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let name = payload::session_name(&sid, &metadata);
            let toast_body = if tool.is_empty() {
                name
            } else {
                format!("{name} ({tool})")
            };
            let n = Notification {
                toast: (payload::PERMISSION_TITLE.to_string(), toast_body),
                namespace: s.namespace.clone(),
                session_id: sid.clone(),
                kind: Kind::Permission {
                    request_id: request_id.to_string(),
                    tool,
                },
                title: payload::PERMISSION_TITLE.to_string(),
                push_payload: payload::permission_request_payload(&sid, request_id, &body),
                body,
            };
            self.notify_dispatch(n, now);
        }
    }

    /// Web channel (toast, else push) and Telegram channel.
    fn notify_dispatch(&mut self, n: Notification, now: Now) {
        self.notify.produced += 1;
        let (title, body) = &n.toast;
        let url = payload::session_url(&n.session_id);
        let data = json!({ "title": title, "body": body, "sessionId": n.session_id, "url": url });
        let toasted = self.events.toast(&n.namespace, data, &mut self.fx);
        if toasted > 0 {
            self.notify.toasts += toasted as u64;
        } else {
            self.push_notification(&n, now);
        }
        if self.notify.telegram_enabled {
            self.telegram_notify(&n, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_envelopes() {
        assert!(is_ready_event(
            &json!({"role":"agent","content":{"id":"x","type":"event","data":{"type":"ready"}}})
        ));
        assert!(is_ready_event(
            &json!({"type":"event","data":{"type":"ready"}})
        ));
        assert!(!is_ready_event(
            &json!({"type":"event","data":{"type":"switch"}})
        ));
        assert!(!is_ready_event(&json!("ready")));
    }
}
