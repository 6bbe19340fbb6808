//! Live events for the web: SSE subscriptions, their filters and visibility, and a bounded
//! log of recent events for `Last-Event-ID` replay (spec/sse.md).
//!
//! Every broadcast event is serialized once into its wire frame (`id: …\ndata: …\n\n`) and the
//! same `Rc<str>` is queued for every matching stream. Event ids are `<epoch>:<n>`: the epoch
//! changes with every hub start, so an id from an earlier run is a gap, never a wrong replay.

use super::{ConnId, Effect, Now};
use crate::sse::frame;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// Events kept for replay.
pub const LOG_EVENTS: usize = 2048;
/// Bytes of frames kept for replay.
pub const LOG_BYTES: usize = 8 * 1024 * 1024;

/// One SSE subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub conn: ConnId,
    pub namespace: String,
    pub all: bool,
    pub session_id: Option<String>,
    pub machine_id: Option<String>,
    pub visible: bool,
}

impl Subscription {
    /// spec/sse.md §5, rules 2–7 (rule 1, the namespace, is checked by the caller).
    fn wants(&self, kind: &str, session_id: Option<&str>, machine_id: Option<&str>) -> bool {
        if kind == "message-received" {
            // Baseline: only streams of that session. v0.30.7 (whose web app hapid serves)
            // also delivers messages to `all` streams, which its session list relies on.
            return self.all || (session_id.is_some() && self.session_id.as_deref() == session_id);
        }
        self.all
            || (session_id.is_some() && self.session_id.as_deref() == session_id)
            || (machine_id.is_some() && self.machine_id.as_deref() == machine_id)
    }
}

#[derive(Debug)]
struct Logged {
    n: u64,
    namespace: String,
    kind: String,
    session_id: Option<String>,
    machine_id: Option<String>,
    frame: Rc<str>,
}

/// Subscriptions and the replay log.
#[derive(Debug)]
pub struct Events {
    epoch: String,
    next: u64,
    subs: HashMap<String, Subscription>,
    by_conn: HashMap<ConnId, String>,
    log: VecDeque<Logged>,
    log_bytes: usize,
}

/// Outcome of opening a stream.
pub struct Opened {
    /// The subscription id sent in `connection-changed`.
    pub subscription_id: String,
}

impl Events {
    /// An empty registry with a fresh epoch.
    pub fn new(now: Now) -> Events {
        let mut b = [0u8; 4];
        let _ = getrandom::getrandom(&mut b);
        let epoch = format!("{:x}{:08x}", now.unix_ms & 0xffff, u32::from_le_bytes(b));
        Events {
            epoch,
            next: 1,
            subs: HashMap::new(),
            by_conn: HashMap::new(),
            log: VecDeque::new(),
            log_bytes: 0,
        }
    }

    /// Number of open streams.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// Whether no stream is open.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// Registers a stream and queues its first frame (and any replay) in the same step, so no
    /// broadcast can precede `connection-changed` (spec/sse.md §3).
    pub fn open(
        &mut self,
        sub: Subscription,
        last_event_id: Option<&str>,
        fx: &mut Vec<Effect>,
    ) -> Opened {
        let id = super::uuid_v4();
        let replay = last_event_id.and_then(|l| self.replay_after(l, &sub));
        let resume = if replay.is_some() { "ok" } else { "gap" };
        let first = json!({
            "type": "connection-changed",
            "data": { "status": "connected", "subscriptionId": id, "resume": resume },
        });
        fx.push(Effect::Sse {
            conn: sub.conn,
            frame: frame(None, &first),
        });
        for f in replay.unwrap_or_default() {
            fx.push(Effect::Sse {
                conn: sub.conn,
                frame: f,
            });
        }
        self.by_conn.insert(sub.conn, id.clone());
        self.subs.insert(id.clone(), sub);
        Opened {
            subscription_id: id,
        }
    }

    /// Frames logged after `last` that `sub` would have received; None when `last` is not in
    /// the log's window (another epoch, or too old): the client must resync.
    fn replay_after(&self, last: &str, sub: &Subscription) -> Option<Vec<Rc<str>>> {
        let (epoch, n) = last.trim().rsplit_once(':')?;
        if epoch != self.epoch {
            return None;
        }
        let n: u64 = n.parse().ok()?;
        if n >= self.next {
            return None;
        }
        let oldest = self.log.front().map_or(self.next, |e| e.n);
        if n + 1 < oldest {
            return None;
        }
        Some(
            self.log
                .iter()
                .filter(|e| e.n > n && e.namespace == sub.namespace)
                .filter(|e| sub.wants(&e.kind, e.session_id.as_deref(), e.machine_id.as_deref()))
                .map(|e| e.frame.clone())
                .collect(),
        )
    }

    /// Removes the stream of a closed connection.
    pub fn close_conn(&mut self, conn: ConnId) {
        if let Some(id) = self.by_conn.remove(&conn) {
            self.subs.remove(&id);
        }
    }

    /// Sets a subscription's visibility; false when unknown or another namespace's.
    pub fn set_visibility(&mut self, ns: &str, subscription_id: &str, visible: bool) -> bool {
        match self.subs.get_mut(subscription_id) {
            Some(s) if s.namespace == ns => {
                s.visible = visible;
                true
            }
            _ => false,
        }
    }

    /// Whether a namespace has a visible stream.
    pub fn has_visible(&self, ns: &str) -> bool {
        self.subs.values().any(|s| s.visible && s.namespace == ns)
    }

    /// Broadcasts an event: adds `namespace`, logs it with an id, queues it for every match.
    /// `event` must be an object with `type` and, where relevant, `sessionId`/`machineId`.
    pub fn publish(&mut self, ns: &str, mut event: Value, fx: &mut Vec<Effect>) {
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let session_id = event
            .get("sessionId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let machine_id = event
            .get("machineId")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(o) = event.as_object_mut() {
            o.entry("namespace").or_insert_with(|| json!(ns));
        }
        let n = self.next;
        self.next += 1;
        let f = frame(Some(&format!("{}:{n}", self.epoch)), &event);
        for s in self.subs.values() {
            if s.namespace == ns && s.wants(&kind, session_id.as_deref(), machine_id.as_deref()) {
                fx.push(Effect::Sse {
                    conn: s.conn,
                    frame: f.clone(),
                });
            }
        }
        self.log_bytes += f.len();
        self.log.push_back(Logged {
            n,
            namespace: ns.to_string(),
            kind,
            session_id,
            machine_id,
            frame: f,
        });
        while self.log.len() > LOG_EVENTS || self.log_bytes > LOG_BYTES {
            match self.log.pop_front() {
                Some(e) => self.log_bytes -= e.frame.len(),
                None => break,
            }
        }
    }

    /// A toast to every visible stream of the namespace; returns how many were queued.
    pub fn toast(&mut self, ns: &str, data: Value, fx: &mut Vec<Effect>) -> usize {
        let f = frame(None, &json!({ "type": "toast", "data": data }));
        let mut sent = 0;
        for s in self
            .subs
            .values()
            .filter(|s| s.visible && s.namespace == ns)
        {
            fx.push(Effect::Sse {
                conn: s.conn,
                frame: f.clone(),
            });
            sent += 1;
        }
        sent
    }

    /// A heartbeat to every stream (spec/sse.md §3.1).
    pub fn heartbeat(&self, now: Now, fx: &mut Vec<Effect>) {
        let mut by_ns: HashMap<&str, Rc<str>> = HashMap::new();
        for s in self.subs.values() {
            let f = by_ns
                .entry(s.namespace.as_str())
                .or_insert_with(|| {
                    frame(None, &json!({ "type": "heartbeat", "namespace": s.namespace, "data": { "timestamp": now.unix_ms } }))
                })
                .clone();
            fx.push(Effect::Sse {
                conn: s.conn,
                frame: f,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        Now::read()
    }

    fn sub(slot: u32, ns: &str, all: bool, session: Option<&str>) -> Subscription {
        Subscription {
            conn: ConnId {
                slot,
                generation: 0,
            },
            namespace: ns.into(),
            all,
            session_id: session.map(Into::into),
            machine_id: None,
            visible: false,
        }
    }

    fn frames_for(fx: &[Effect], slot: u32) -> Vec<String> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Sse { conn, frame } if conn.slot == slot => Some(frame.to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn filters_follow_the_spec() {
        let mut ev = Events::new(now());
        let mut fx = Vec::new();
        ev.open(sub(1, "a", true, None), None, &mut fx);
        ev.open(sub(2, "a", false, Some("s1")), None, &mut fx);
        ev.open(sub(3, "b", true, None), None, &mut fx);
        fx.clear();
        ev.publish(
            "a",
            json!({"type": "session-updated", "sessionId": "s1", "data": {}}),
            &mut fx,
        );
        ev.publish(
            "a",
            json!({"type": "message-received", "sessionId": "s1", "message": {}}),
            &mut fx,
        );
        assert_eq!(
            frames_for(&fx, 1).len(),
            2,
            "all streams get messages too (v0.30.7)"
        );
        assert_eq!(frames_for(&fx, 2).len(), 2);
        assert_eq!(frames_for(&fx, 3).len(), 0, "other namespace");
        assert!(frames_for(&fx, 2)[0].contains("\"namespace\":\"a\""));
    }

    #[test]
    fn replay_after_last_event_id() {
        let mut ev = Events::new(now());
        let mut fx = Vec::new();
        ev.open(sub(1, "a", true, None), None, &mut fx);
        fx.clear();
        for i in 0..5 {
            ev.publish(
                "a",
                json!({"type": "session-updated", "sessionId": format!("s{i}")}),
                &mut fx,
            );
        }
        let second = frames_for(&fx, 1)[1].clone();
        let id = second
            .lines()
            .next()
            .unwrap()
            .strip_prefix("id: ")
            .unwrap()
            .to_string();
        ev.close_conn(ConnId {
            slot: 1,
            generation: 0,
        });
        let mut fx = Vec::new();
        ev.open(sub(9, "a", true, None), Some(&id), &mut fx);
        let got = frames_for(&fx, 9);
        assert!(got[0].contains("\"resume\":\"ok\""));
        assert_eq!(got.len(), 1 + 3, "exactly the three missed events");
        let mut fx = Vec::new();
        ev.open(sub(10, "a", true, None), Some("other-epoch:1"), &mut fx);
        assert!(frames_for(&fx, 10)[0].contains("\"resume\":\"gap\""));
    }

    #[test]
    fn visibility_is_namespaced() {
        let mut ev = Events::new(now());
        let mut fx = Vec::new();
        let o = ev.open(sub(1, "a", true, None), None, &mut fx);
        assert!(!ev.set_visibility("b", &o.subscription_id, true));
        assert!(ev.set_visibility("a", &o.subscription_id, true));
        assert!(ev.has_visible("a"));
        assert_eq!(ev.toast("a", json!({"title": "x"}), &mut fx), 1);
    }
}
