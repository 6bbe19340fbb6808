//! Web terminals: the `/terminal` namespace relayed to the session's CLI socket
//! (spec/cli-protocol.md §9, spec/http-general.md §10).

use super::timers::HubTimer;
use super::{Effect, Hub, Now, SocketId};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One open terminal.
#[derive(Debug, Clone)]
pub struct Terminal {
    pub session_id: String,
    pub web: SocketId,
    pub cli: SocketId,
    pub last_activity: Instant,
}

/// Terminal registry: terminal id → terminal, and the web sockets of `/terminal`.
#[derive(Debug, Default)]
pub struct Terminals {
    pub open: HashMap<String, Terminal>,
    pub web_sockets: HashMap<SocketId, String>,
    pub idle_timeout: Duration,
    pub max_per: usize,
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
                    .values()
                    .filter(|t| t.web == socket)
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
                if self.terminals.open.contains_key(&tid) {
                    return self.emit(
                        socket,
                        "terminal:error",
                        err("Terminal ID is already in use.".into()),
                    );
                }
                self.terminals.open.insert(
                    tid.clone(),
                    Terminal {
                        session_id: sid.clone(),
                        web: socket,
                        cli,
                        last_activity: now.mono,
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
                    .get_mut(&tid)
                    .filter(|t| t.web == socket)
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
                    self.terminals.open.remove(&tid);
                }
                if self.cli.sockets.contains_key(&cli) {
                    self.emit(cli, name, arg);
                } else {
                    self.terminals.open.remove(&tid);
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

    /// A terminal event from the CLI (`terminal:ready|output|exit|error`), relayed to its web socket.
    pub fn terminal_cli_event(&mut self, socket: SocketId, name: &str, p: &Value, now: Now) {
        let Some(tid) = p.get("terminalId").and_then(Value::as_str) else {
            return;
        };
        let Some(t) = self.terminals.open.get_mut(tid).filter(|t| t.cli == socket) else {
            return;
        };
        t.last_activity = now.mono;
        let web = t.web;
        if name == "terminal:exit" {
            self.terminals.open.remove(tid);
        }
        self.emit(web, name, p.clone());
    }

    /// Closes idle terminals (the idle timer).
    pub fn terminal_idle(&mut self, now: Now) {
        let limit = self.terminals.idle_timeout;
        let idle: Vec<String> = self
            .terminals
            .open
            .iter()
            .filter(|(_, t)| now.mono.duration_since(t.last_activity) > limit)
            .map(|(k, _)| k.clone())
            .collect();
        let next = self
            .terminals
            .open
            .values()
            .map(|t| t.last_activity + limit)
            .filter(|at| *at > now.mono)
            .min();
        if let Some(at) = next {
            // Just past the limit, as the check is "longer than".
            self.arm(HubTimer::TerminalIdle, at + Duration::from_millis(1));
        }
        for tid in idle {
            if let Some(t) = self.terminals.open.remove(&tid) {
                self.emit(
                    t.web,
                    "terminal:error",
                    json!({ "terminalId": tid, "message": "Terminal closed due to inactivity." }),
                );
                self.emit(
                    t.cli,
                    "terminal:close",
                    json!({ "sessionId": t.session_id, "terminalId": tid }),
                );
            }
        }
    }

    /// A web or CLI socket left: close the terminals it was part of.
    pub(super) fn terminal_socket_gone(&mut self, socket: SocketId, _now: Now) {
        self.terminals.web_sockets.remove(&socket);
        let gone: Vec<String> = self
            .terminals
            .open
            .iter()
            .filter(|(_, t)| t.web == socket || t.cli == socket)
            .map(|(k, _)| k.clone())
            .collect();
        for tid in gone {
            if let Some(t) = self.terminals.open.remove(&tid) {
                if t.web == socket {
                    self.emit(
                        t.cli,
                        "terminal:close",
                        json!({ "sessionId": t.session_id, "terminalId": tid }),
                    );
                } else {
                    self.emit(
                        t.web,
                        "terminal:error",
                        json!({ "terminalId": tid, "message": "CLI disconnected." }),
                    );
                }
            }
        }
    }
}
