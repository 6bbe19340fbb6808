//! Web terminals: the `/terminal` namespace relayed to the session's CLI socket
//! (spec/cli-protocol.md §9, spec/http-general.md §10), with the detach/re-attach contract of
//! the official hub v0.30.7 (settled on the wire, tests/parity/terminal.test.mjs):
//!
//! * A terminal outlives its web socket. When the socket goes, the terminal is *detached*:
//!   nothing is sent to the CLI, output keeps filling its replay buffer, and it is closed
//!   (`terminal:close {sessionId, terminalId}` to the CLI) once it has been idle for
//!   `HAPI_TERMINAL_IDLE_TIMEOUT_MS` (default 15 min). Activity is any web `write`/`resize`/
//!   `create` and any CLI `ready`/`output`, attached or not.
//! * `terminal:create` naming an existing terminal id of the same session re-attaches it (the
//!   limits are not counted again): the CLI gets `terminal:open {sessionId, terminalId, cols,
//!   rows}` again (the CLI re-sends `terminal:ready`), and a *different* socket first gets the
//!   replay as one `terminal:output {terminalId, data}` (no `sessionId`), unless the buffer is
//!   empty. The same socket re-creating gets no replay. A socket that loses its terminal to
//!   another socket is told nothing; its later writes are dropped. The same id for another
//!   session answers "Terminal ID is already in use.", except from the socket that owns it:
//!   that forgets the old terminal (its CLI is not told) and creates a new one.
//! * The replay buffer keeps the last [`REPLAY_UNITS`] UTF-16 code units of `terminal:output`
//!   data (262 144: the official bound counts JavaScript string length, so two-byte `é` count
//!   one each). hapid cuts at a char boundary, so an astral char is never split.
//! * Terminals are keyed by (namespace, terminal id): the same id in another namespace is
//!   another terminal (the official hub keys ids globally and answers "Terminal ID is already
//!   in use."; hapid isolates namespaces and treats the id as free).
//! * Limits: N per web socket (attached) and N per session (attached or detached), N =
//!   `HAPI_TERMINAL_MAX_TERMINALS`; hapid also keeps at most [`MAX_DETACHED_PER_NAMESPACE`]
//!   detached terminals per namespace and closes the longest-idle one beyond that.
//! * The CLI socket going drops all its terminals (attached ones tell their web socket
//!   "CLI disconnected."); an idle attached terminal tells its web socket "Terminal closed
//!   due to inactivity.".
//! * Malformed payloads (missing ids, non-positive or fractional sizes, non-string data) are
//!   ignored, as upstream.

use super::timers::HubTimer;
use super::{Effect, Hub, Now, SocketId};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The replay bound in UTF-16 code units (the official 256 Ki JavaScript string length).
pub const REPLAY_UNITS: usize = 256 * 1024;
/// Detached terminals kept per namespace (hapid's own bound).
pub const MAX_DETACHED_PER_NAMESPACE: usize = 32;

/// The last [`REPLAY_UNITS`] of a terminal's output, as the chunks the CLI sent.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    chunks: VecDeque<String>,
    units: usize,
}

impl Replay {
    /// Appends `data`, dropping the oldest output beyond the bound.
    pub fn push(&mut self, data: &str) {
        if data.is_empty() {
            return;
        }
        self.units += data.encode_utf16().count();
        self.chunks.push_back(data.to_string());
        while self.units > REPLAY_UNITS {
            let excess = self.units - REPLAY_UNITS;
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let front_units = front.encode_utf16().count();
            if front_units <= excess {
                self.units -= front_units;
                self.chunks.pop_front();
                continue;
            }
            // Cut the front chunk at the first char boundary that removes `excess` units.
            let mut cut_units = 0;
            let mut cut_bytes = 0;
            for c in front.chars() {
                if cut_units >= excess {
                    break;
                }
                cut_units += c.len_utf16();
                cut_bytes += c.len_utf8();
            }
            front.drain(..cut_bytes);
            self.units -= cut_units;
        }
    }

    /// The buffered output as one string (`None` when empty).
    pub fn text(&self) -> Option<String> {
        (!self.chunks.is_empty()).then(|| self.chunks.iter().map(String::as_str).collect())
    }

    /// Buffered length in UTF-16 code units.
    pub fn units(&self) -> usize {
        self.units
    }
}

/// One terminal; `web` is `None` while detached.
#[derive(Debug, Clone)]
pub struct Terminal {
    pub session_id: String,
    pub web: Option<SocketId>,
    pub cli: SocketId,
    pub last_activity: Instant,
    pub replay: Replay,
}

/// (namespace, terminal id).
type Key = (String, String);

/// Terminal registry: terminals by (namespace, id), and the web sockets of `/terminal`.
#[derive(Debug, Default)]
pub struct Terminals {
    pub open: HashMap<Key, Terminal>,
    pub web_sockets: HashMap<SocketId, String>,
    pub idle_timeout: Duration,
    pub max_per: usize,
    pub(super) agent: super::agent_terminal::AgentViewers,
}

impl Hub {
    fn emit(&mut self, socket: SocketId, event: &str, arg: Value) {
        self.fx.push(Effect::Emit {
            socket,
            event: event.into(),
            args: vec![arg],
            ack: None,
            binary: Vec::new(),
        });
    }

    /// A web socket joined `/terminal` in namespace `ns`.
    pub fn terminal_connect(&mut self, socket: SocketId, ns: &str) {
        self.terminals.web_sockets.insert(socket, ns.to_string());
    }

    /// Whether a socket is a web terminal socket.
    pub fn is_terminal_socket(&self, socket: SocketId) -> bool {
        self.terminals.web_sockets.contains_key(&socket)
    }

    /// An event from a web terminal socket.
    pub fn terminal_web_event(&mut self, socket: SocketId, name: &str, p: &Value, now: Now) {
        let Some(ns) = self.terminals.web_sockets.get(&socket).cloned() else {
            return;
        };
        if name.starts_with("agent-terminal:") {
            return self.agent_terminal_web_event(socket, &ns, name, p);
        }
        let str_of = |k: &str| {
            p.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let dim = |k: &str| p.get(k).and_then(Value::as_u64).filter(|n| *n > 0);
        let Some(tid) = str_of("terminalId") else {
            return;
        };
        let key = (ns.clone(), tid.clone());
        match name {
            "terminal:create" => {
                let (Some(sid), Some(cols), Some(rows)) =
                    (str_of("sessionId"), dim("cols"), dim("rows"))
                else {
                    return;
                };
                let err = |m: String| json!({ "terminalId": tid, "message": m });
                let max = self.terminals.max_per;
                if !self
                    .sessions
                    .get(&sid)
                    .is_some_and(|s| s.namespace == ns && s.active)
                {
                    return self.emit(
                        socket,
                        "terminal:error",
                        err("Session is inactive or unavailable.".into()),
                    );
                }
                if self
                    .terminals
                    .open
                    .get(&key)
                    .is_some_and(|t| t.web == Some(socket) && t.session_id != sid)
                {
                    // The owner re-using its id for another session: the old terminal is
                    // forgotten (its CLI is not told, as upstream) and a new one is created.
                    self.terminals.open.remove(&key);
                }
                if let Some(t) = self.terminals.open.get_mut(&key) {
                    if t.session_id != sid {
                        return self.emit(
                            socket,
                            "terminal:error",
                            err("Terminal ID is already in use.".into()),
                        );
                    }
                    // Re-attach: replay to a new socket, open again on the CLI.
                    let replay = (t.web != Some(socket)).then(|| t.replay.text()).flatten();
                    t.web = Some(socket);
                    t.last_activity = now.mono;
                    let cli = t.cli;
                    if let Some(data) = replay {
                        self.emit(
                            socket,
                            "terminal:output",
                            json!({ "terminalId": tid, "data": data }),
                        );
                    }
                    let at = now.mono + self.terminals.idle_timeout;
                    self.arm(HubTimer::TerminalIdle, at);
                    return self.emit(
                        cli,
                        "terminal:open",
                        json!({ "sessionId": sid, "terminalId": tid, "cols": cols, "rows": rows }),
                    );
                }
                if self
                    .terminals
                    .open
                    .values()
                    .filter(|t| t.web == Some(socket))
                    .count()
                    >= max
                {
                    return self.emit(
                        socket,
                        "terminal:error",
                        err(format!("Too many terminals open (max {max}).")),
                    );
                }
                if self
                    .terminals
                    .open
                    .values()
                    .filter(|t| t.session_id == sid)
                    .count()
                    >= max
                {
                    return self.emit(
                        socket,
                        "terminal:error",
                        err(format!(
                            "Too many terminals open for this session (max {max})."
                        )),
                    );
                }
                let cli = self.cli.session_rooms.get(&sid).and_then(|r| {
                    r.iter()
                        .copied()
                        .find(|s| self.cli.sockets.get(s).is_some_and(|c| c.namespace == ns))
                });
                let Some(cli) = cli else {
                    return self.emit(
                        socket,
                        "terminal:error",
                        err("CLI is not connected for this session.".into()),
                    );
                };
                self.terminals.open.insert(
                    key,
                    Terminal {
                        session_id: sid.clone(),
                        web: Some(socket),
                        cli,
                        last_activity: now.mono,
                        replay: Replay::default(),
                    },
                );
                let at = now.mono + self.terminals.idle_timeout;
                self.arm(HubTimer::TerminalIdle, at);
                self.emit(
                    cli,
                    "terminal:open",
                    json!({ "sessionId": sid, "terminalId": tid, "cols": cols, "rows": rows }),
                );
            }
            "terminal:write" | "terminal:resize" | "terminal:close" => {
                let Some(t) = self
                    .terminals
                    .open
                    .get_mut(&key)
                    .filter(|t| t.web == Some(socket))
                else {
                    return;
                };
                let mut arg = json!({ "sessionId": t.session_id, "terminalId": tid });
                match name {
                    "terminal:write" => {
                        let Some(d) = p.get("data").and_then(Value::as_str) else {
                            return;
                        };
                        arg["data"] = json!(d);
                    }
                    "terminal:resize" => {
                        let (Some(c), Some(r)) = (dim("cols"), dim("rows")) else {
                            return;
                        };
                        arg["cols"] = json!(c);
                        arg["rows"] = json!(r);
                    }
                    _ => {}
                }
                t.last_activity = now.mono;
                let cli = t.cli;
                if name == "terminal:close" {
                    self.terminals.open.remove(&key);
                }
                if self.cli.sockets.contains_key(&cli) {
                    self.emit(cli, name, arg);
                } else {
                    self.terminals.open.remove(&key);
                    self.emit(
                        socket,
                        "terminal:error",
                        json!({ "terminalId": tid, "message": "CLI disconnected." }),
                    );
                }
            }
            _ => {}
        }
    }

    /// A terminal event from the CLI (`terminal:ready|output|exit|error`), relayed to its web
    /// socket when attached; output also fills the replay buffer.
    pub fn terminal_cli_event(&mut self, socket: SocketId, name: &str, p: &Value, now: Now) {
        let Some(tid) = p.get("terminalId").and_then(Value::as_str) else {
            return;
        };
        let Some(ns) = self.socket_ns(socket) else {
            return;
        };
        let key = (ns, tid.to_string());
        let sid = p.get("sessionId").and_then(Value::as_str);
        let Some(t) = self
            .terminals
            .open
            .get_mut(&key)
            .filter(|t| t.cli == socket && Some(t.session_id.as_str()) == sid)
        else {
            return;
        };
        if name == "terminal:output" {
            let Some(data) = p.get("data").and_then(Value::as_str) else {
                return;
            };
            t.replay.push(data);
        }
        t.last_activity = now.mono;
        let web = t.web;
        if name == "terminal:exit" || name == "terminal:error" {
            self.terminals.open.remove(&key);
        }
        if let Some(web) = web {
            self.emit(web, name, p.clone());
        }
    }

    /// Closes idle terminals (the idle timer).
    pub fn terminal_idle(&mut self, now: Now) {
        let limit = self.terminals.idle_timeout;
        let idle: Vec<Key> = self
            .terminals
            .open
            .iter()
            .filter(|(_, t)| now.mono.duration_since(t.last_activity) >= limit)
            .map(|(k, _)| k.clone())
            .collect();
        for key in idle {
            self.terminal_close_idle(&key);
        }
        let next = self
            .terminals
            .open
            .values()
            .map(|t| t.last_activity + limit)
            .min();
        if let Some(at) = next {
            self.arm(HubTimer::TerminalIdle, at);
        }
    }

    /// Closes one terminal for inactivity: its web socket (if attached) is told, the CLI
    /// gets `terminal:close`.
    fn terminal_close_idle(&mut self, key: &Key) {
        let Some(t) = self.terminals.open.remove(key) else {
            return;
        };
        if let Some(web) = t.web {
            self.emit(
                web,
                "terminal:error",
                json!({ "terminalId": key.1, "message": "Terminal closed due to inactivity." }),
            );
        }
        self.emit(
            t.cli,
            "terminal:close",
            json!({ "sessionId": t.session_id, "terminalId": key.1 }),
        );
    }

    /// A web or CLI socket left: a web socket's terminals are detached, a CLI socket's
    /// terminals are dropped.
    pub(super) fn terminal_socket_gone(&mut self, socket: SocketId, _now: Now) {
        if let Some(ns) = self.terminals.web_sockets.remove(&socket) {
            self.agent_terminal_socket_gone(socket);
            for t in self.terminals.open.values_mut() {
                if t.web == Some(socket) {
                    t.web = None;
                }
            }
            self.terminal_bound_detached(&ns);
            return;
        }
        let gone: Vec<Key> = self
            .terminals
            .open
            .iter()
            .filter(|(_, t)| t.cli == socket)
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            if let Some(Terminal { web: Some(web), .. }) = self.terminals.open.remove(&key) {
                self.emit(
                    web,
                    "terminal:error",
                    json!({ "terminalId": key.1, "message": "CLI disconnected." }),
                );
            }
        }
    }

    /// Keeps at most [`MAX_DETACHED_PER_NAMESPACE`] detached terminals in `ns`, closing the
    /// longest-idle ones first.
    fn terminal_bound_detached(&mut self, ns: &str) {
        let mut detached: Vec<(Instant, Key)> = self
            .terminals
            .open
            .iter()
            .filter(|((n, _), t)| n == ns && t.web.is_none())
            .map(|(k, t)| (t.last_activity, k.clone()))
            .collect();
        if detached.len() <= MAX_DETACHED_PER_NAMESPACE {
            return;
        }
        detached.sort();
        let excess = detached.len() - MAX_DETACHED_PER_NAMESPACE;
        for (_, key) in detached.into_iter().take(excess) {
            self.terminal_close_idle(&key);
        }
    }
}
