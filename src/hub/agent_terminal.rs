//! The agent terminal viewer: the web's read/write view of the agent's own PTY (sessions
//! started in pty mode), relayed between `/terminal` web sockets and the session's `/cli`
//! sockets. Contract of the official hub v0.30.7, settled on the wire
//! (tests/parity/terminal.test.mjs):
//!
//! * web `agent-terminal:subscribe {sessionId}`: the session must be in the socket's
//!   namespace and active, else ignored. The socket joins the session's viewers and the CLI
//!   (every socket in the session's room) gets `agent-terminal:refresh {sessionId}`, on every
//!   subscribe, even a repeated one: the CLI redraws its screen. There is no hub-side replay
//!   (a late subscriber got no earlier output on the official hub), so hapid keeps no buffer.
//! * web `agent-terminal:unsubscribe {sessionId}` and disconnect: the socket leaves; when the
//!   last viewer of a session leaves, the CLI gets `agent-terminal:idle {sessionId}`.
//! * web `agent-terminal:resize {sessionId, cols, rows}` (positive integers) and
//!   `agent-terminal:input {sessionId, data: string}`: forwarded to the CLI as
//!   `agent-terminal:resize {sessionId, cols, rows}` / `agent-terminal:input {sessionId,
//!   data}` for any socket of the namespace, subscribed or not, while the session is active.
//! * CLI `agent-terminal:output {sessionId, terminalId: string, data: string}` from a socket in
//!   that session's room: sent to the viewers as `agent-terminal:output {sessionId, terminalId,
//!   data}` (other fields dropped); anything else is ignored. `agent-terminal:reset` has no
//!   effect visible on the wire (there is no buffer to clear).
//! * `session-end` (each one, even for an ended session) and an archive from the web: the
//!   viewers get `agent-terminal:output {sessionId, terminalId: "agent",
//!   data: "\r\n[Session terminated]\r\n"}`.
//! * Bounds: a socket views at most [`MAX_VIEWED_PER_SOCKET`] sessions (further subscribes
//!   are ignored; the web app views one).

use super::{Hub, SocketId};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Sessions one web socket may view at once (hapid's bound).
pub const MAX_VIEWED_PER_SOCKET: usize = 16;

/// The viewers of each session's agent terminal.
#[derive(Debug, Default)]
pub struct AgentViewers {
    by_session: HashMap<String, Vec<SocketId>>,
}

impl AgentViewers {
    fn viewed_by(&self, socket: SocketId) -> usize {
        self.by_session
            .values()
            .filter(|v| v.contains(&socket))
            .count()
    }

    /// Removes `socket` from `sid`'s viewers; true when it was the last one.
    fn leave(&mut self, sid: &str, socket: SocketId) -> bool {
        let Some(v) = self.by_session.get_mut(sid) else {
            return false;
        };
        let before = v.len();
        v.retain(|s| *s != socket);
        if v.len() == before {
            return false;
        }
        if v.is_empty() {
            self.by_session.remove(sid);
            return true;
        }
        false
    }
}

impl Hub {
    /// Sends `event {sessionId, ...}` to every CLI socket in the session's room.
    fn agent_to_cli(&mut self, sid: &str, event: &str, arg: Value) {
        let room = self.cli.session_rooms.get(sid).cloned();
        self.emit_room(room.as_ref(), None, event, arg);
    }

    /// An `agent-terminal:*` event from a web socket of namespace `ns`.
    pub(super) fn agent_terminal_web_event(
        &mut self,
        socket: SocketId,
        ns: &str,
        name: &str,
        p: &Value,
    ) {
        let Some(sid) = p
            .get("sessionId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
        else {
            return;
        };
        let reachable = self
            .sessions
            .get(&sid)
            .is_some_and(|s| s.namespace == ns && s.active);
        match name {
            "agent-terminal:subscribe" if reachable => {
                let viewers = &mut self.terminals.agent;
                let already = viewers
                    .by_session
                    .get(&sid)
                    .is_some_and(|v| v.contains(&socket));
                if !already {
                    if viewers.viewed_by(socket) >= MAX_VIEWED_PER_SOCKET {
                        return;
                    }
                    viewers
                        .by_session
                        .entry(sid.clone())
                        .or_default()
                        .push(socket);
                }
                let arg = json!({ "sessionId": sid });
                self.agent_to_cli(&sid, "agent-terminal:refresh", arg);
            }
            "agent-terminal:unsubscribe" => {
                let was_last = self.terminals.agent.leave(&sid, socket);
                if was_last {
                    self.agent_to_cli(&sid, "agent-terminal:idle", json!({ "sessionId": sid }));
                }
            }
            "agent-terminal:resize" if reachable => {
                let dim = |k: &str| p.get(k).and_then(Value::as_u64).filter(|n| *n > 0);
                let (Some(cols), Some(rows)) = (dim("cols"), dim("rows")) else {
                    return;
                };
                let arg = json!({ "sessionId": sid, "cols": cols, "rows": rows });
                self.agent_to_cli(&sid, name, arg);
            }
            "agent-terminal:input" if reachable => {
                let Some(data) = p.get("data").and_then(Value::as_str) else {
                    return;
                };
                let arg = json!({ "sessionId": sid, "data": data });
                self.agent_to_cli(&sid, name, arg);
            }
            _ => {}
        }
    }

    /// An `agent-terminal:*` event from a `/cli` socket.
    pub fn agent_terminal_cli_event(&mut self, socket: SocketId, name: &str, p: &Value) {
        if name != "agent-terminal:output" {
            return;
        }
        let field = |k: &str| p.get(k).and_then(Value::as_str);
        let (Some(sid), Some(tid), Some(data)) =
            (field("sessionId"), field("terminalId"), field("data"))
        else {
            return;
        };
        let in_room = self
            .cli
            .sockets
            .get(&socket)
            .is_some_and(|c| c.session_room.as_deref() == Some(sid));
        if !in_room {
            return;
        }
        let arg = json!({ "sessionId": sid, "terminalId": tid, "data": data });
        self.agent_to_viewers(sid, arg);
    }

    /// The session ended: its viewers see "[Session terminated]".
    pub fn agent_terminal_session_ended(&mut self, sid: &str) {
        let arg = json!({
            "sessionId": sid,
            "terminalId": "agent",
            "data": "\r\n[Session terminated]\r\n",
        });
        self.agent_to_viewers(sid, arg);
    }

    fn agent_to_viewers(&mut self, sid: &str, arg: Value) {
        let viewers = self.terminals.agent.by_session.get(sid).cloned();
        self.emit_room(viewers.as_ref(), None, "agent-terminal:output", arg);
    }

    /// A web socket left: it stops viewing; sessions left without viewers go idle.
    pub(super) fn agent_terminal_socket_gone(&mut self, socket: SocketId) {
        let viewed: Vec<String> = self
            .terminals
            .agent
            .by_session
            .iter()
            .filter(|(_, v)| v.contains(&socket))
            .map(|(k, _)| k.clone())
            .collect();
        for sid in viewed {
            if self.terminals.agent.leave(&sid, socket) {
                self.agent_to_cli(&sid, "agent-terminal:idle", json!({ "sessionId": sid }));
            }
        }
    }
}
