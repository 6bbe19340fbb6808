//! The Engine.IO v4 / Socket.IO v5 server as a sans-IO state machine (spec/cli-protocol.md
//! §4–§5): every Engine.IO session, its transports, heartbeat, upgrade, and the Socket.IO
//! sockets (namespace joins) on top.
//!
//! Inputs are parsed HTTP requests to the Engine.IO endpoint, WebSocket messages of the
//! connections it upgraded, closed connections, the app's emits/acks/disconnects, and the
//! clock (`now` on every call, [`Server::handle_timeout`] when [`Server::poll_deadline`]
//! passes). Outputs come out of [`Server::poll_output`]: HTTP replies, WebSocket upgrades,
//! frames and closes for the reactor to write, and Socket.IO connects, events, acks and
//! disconnects for the reactor to hand to the app. The server does no IO, reads no clock
//! and never calls the app: a CONNECT waits for [`Server::connect_reply`] (packets of that
//! session that arrive meanwhile are held, in order).
//!
//! A session outlives connections: with long-polling each GET and POST is its own HTTP
//! request; with WebSocket one connection carries it. Upgrade (§4.5):
//!
//! ```text
//!  polling ──WS GET ?sid──▶ probing ──"2probe"→"3probe"──▶ ──"5"──▶ websocket
//!     ▲                        │ 10 s without "5": close the probe socket, keep polling
//!     └────────────────────────┘
//! ```
//!
//! The server pings (`2`) every `pingInterval`; no pong (`3`) within `pingTimeout` closes the
//! session. A Socket.IO session that is in no namespace within 45 s of its handshake (or of
//! leaving its last namespace) is closed; pongs do not extend that. Sessions in no namespace
//! are capped ([`Limits::max_unjoined`]), and a binary packet's attachments are bounded in
//! count and bytes and only collected for a namespace the session has joined.
//!
//! Left out: the wire codecs (`engineio`, `socketio`, `ws`), sockets, write buffers and the
//! timer heap (the reactor's), and what an event means (the app's).

use crate::app::{ConnId, ConnectReply, EioConfig, EioKind, OriginCheck, SocketId};
use crate::engineio::{self, Data, HttpErrorCode, Packet};
use crate::http::{Request, Response};
use crate::socketio::{self, BinaryCollector, PacketType};
use crate::ws::{self, Message, OpCode};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// A probe WebSocket must send `5` within this (upgradeTimeout).
pub const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);
/// A Socket.IO session must join a namespace within this (connectTimeout).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);
/// Most packets in one polling POST body.
const MAX_POST_PACKETS: usize = 10_000;

/// The server's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Socket.IO sessions in no namespace (not yet authenticated); a handshake beyond this is
    /// answered 503.
    pub max_unjoined: usize,
    /// Most attachments one binary packet may announce.
    pub max_attachments: usize,
    /// Most attachment bytes one binary packet may carry. A session collects one packet at a
    /// time, so this bounds a session's attachment buffer too.
    pub max_attachment_bytes: usize,
    /// Most packets held while a CONNECT waits for the app's answer.
    pub max_held: usize,
}

impl Limits {
    /// The defaults for a configuration: attachments bounded by `maxPayload`.
    pub fn for_config(cfg: &EioConfig) -> Limits {
        Limits {
            max_unjoined: 1024,
            max_attachments: 64,
            max_attachment_bytes: cfg.max_payload,
            max_held: 1024,
        }
    }
}

/// Why the server closes a WebSocket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent the Engine.IO close packet `1`.
    ClientClose,
    /// The client sent a WebSocket close frame with this code (echoed).
    PeerClosed(u16),
    /// The client broke the Engine.IO or Socket.IO protocol.
    ProtocolError,
    /// A message beyond `maxPayload`.
    TooLarge,
    /// The connection belongs to no live session (it ended, or was already upgraded).
    NoSession,
    /// The probe did not send `5` within [`UPGRADE_TIMEOUT`].
    UpgradeTimeout,
    /// No pong within `pingTimeout`.
    PingTimeout,
    /// No namespace joined within [`CONNECT_TIMEOUT`].
    ConnectTimeout,
    /// Too much output queued for a session (a polling client that stopped polling).
    Overflow,
}

impl CloseReason {
    /// The WebSocket close code to send (RFC 6455 §7.4.1).
    pub fn ws_code(self) -> u16 {
        match self {
            Self::PeerClosed(code) => code,
            Self::ProtocolError => 1002,
            Self::TooLarge => 1009,
            _ => 1000,
        }
    }

    /// Whether the peer should still get the queued output and a close frame. Otherwise the
    /// peer is gone or stalled: free the connection now, whatever its write buffer holds.
    pub fn graceful(self) -> bool {
        !matches!(
            self,
            Self::PingTimeout | Self::ConnectTimeout | Self::Overflow
        )
    }
}

/// What the server asks the reactor to do, in order.
#[derive(Debug, PartialEq)]
pub enum Output {
    /// Answer the HTTP request pending on `conn` (a poll may be answered much later).
    Reply {
        /// The connection.
        conn: ConnId,
        /// The response.
        resp: Response,
    },
    /// Complete the WebSocket handshake on `conn` (write `101`); its messages come back
    /// through [`Server::handle_ws_message`].
    WsUpgrade {
        /// The connection.
        conn: ConnId,
        /// The `Sec-WebSocket-Accept` value.
        accept: String,
    },
    /// Send one WebSocket message.
    WsFrame {
        /// The connection.
        conn: ConnId,
        /// Text, Binary or Pong.
        op: OpCode,
        /// The payload.
        payload: Vec<u8>,
    },
    /// Close the WebSocket (see [`CloseReason::graceful`]); the server has forgotten it.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// A socket asks to join a namespace: ask the app, answer with [`Server::connect_reply`].
    Connect {
        /// The socket, numbered by the server.
        socket: SocketId,
        /// The namespace.
        nsp: String,
        /// The handshake `auth` payload.
        auth: Option<Value>,
        /// The client address that opened the session.
        peer: IpAddr,
    },
    /// An event on a joined socket (`binary`: the attachments of a binary event).
    Event {
        /// The socket.
        socket: SocketId,
        /// The event name.
        name: String,
        /// The arguments after the name.
        args: Vec<Value>,
        /// The ack id the client asked for.
        ack: Option<u64>,
        /// Attachments, in placeholder order.
        binary: Vec<Vec<u8>>,
    },
    /// An ack for an event the app emitted with an ack id.
    Ack {
        /// The socket.
        socket: SocketId,
        /// The ack id.
        id: u64,
        /// The ack's arguments.
        args: Vec<Value>,
    },
    /// A joined socket left (client disconnect, session closed).
    Disconnect {
        /// The socket.
        socket: SocketId,
    },
}

/// A connection the server knows, and what it is to its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The session's WebSocket transport.
    Ws,
    /// A WebSocket probing an upgrade.
    Probe,
    /// A long-poll GET waiting for packets.
    Poll,
}

/// A pending long-poll GET.
#[derive(Debug)]
struct PollGet {
    conn: ConnId,
    /// CORS origin to echo on its answer.
    allow: Option<String>,
}

/// The transport currently carrying a session.
#[derive(Debug)]
enum Transport {
    Polling { get: Option<PollGet> },
    WebSocket { conn: ConnId },
}

/// A WebSocket probing an upgrade from polling.
#[derive(Debug)]
struct Probe {
    conn: ConnId,
    deadline: Instant,
    /// It sent `2probe`: pending polls are answered at once (noop).
    probed: bool,
}

/// One Engine.IO session.
#[derive(Debug)]
struct Session {
    kind: EioKind,
    peer: IpAddr,
    transport: Transport,
    probe: Option<Probe>,
    /// Packets for a polling client, until its next GET.
    outbox: Vec<Packet>,
    outbox_bytes: usize,
    next_ping: Instant,
    pong_due: Option<Instant>,
    connect_deadline: Option<Instant>,
    /// The deadline of this session's live timer-table entry.
    armed: Option<Instant>,
    /// Joined namespaces.
    nsps: HashMap<String, SocketId>,
    /// A CONNECT waiting for the app: (socket, namespace). Input is held meanwhile.
    connecting: Option<(SocketId, String)>,
    held: VecDeque<Packet>,
    /// A binary packet collecting its attachments, and their bytes so far.
    binary: Option<BinaryCollector>,
    binary_bytes: usize,
}

impl Session {
    fn next_deadline(&self) -> Instant {
        let mut d = self.pong_due.unwrap_or(self.next_ping);
        for x in [
            self.probe.as_ref().map(|p| p.deadline),
            self.connect_deadline,
        ]
        .into_iter()
        .flatten()
        {
            d = d.min(x);
        }
        d
    }

    fn unjoined(&self) -> bool {
        self.kind == EioKind::SocketIo && self.nsps.is_empty()
    }
}

/// Every Engine.IO session and Socket.IO socket of the process.
#[derive(Debug)]
pub struct Server {
    cfg: EioConfig,
    limits: Limits,
    sessions: HashMap<String, Session>,
    conns: HashMap<ConnId, (String, Role)>,
    sockets: HashMap<SocketId, (String, String)>,
    /// Sockets whose CONNECT waits for the app, and their session.
    connecting: HashMap<SocketId, String>,
    next_socket: SocketId,
    /// The timer table: one live entry per session (its `armed`), stale ones skipped.
    deadlines: BinaryHeap<Reverse<(Instant, String)>>,
    out: VecDeque<Output>,
}

fn random_id() -> String {
    use base64::Engine as _;
    let mut b = [0u8; 15];
    let _ = getrandom::getrandom(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn with_origin(mut r: Response, allow: &Option<String>) -> Response {
    if let Some(o) = allow {
        r = r.header("Access-Control-Allow-Origin", o.clone());
    }
    r
}

fn eio_error(code: HttpErrorCode, allow: &Option<String>) -> Response {
    let r = Response::new(
        code.status(),
        "application/json",
        engineio::error_json(code),
    );
    with_origin(r, allow).header("Vary", "Origin")
}

fn payload_reply(packets: &[Packet], allow: &Option<String>) -> Response {
    let r = Response::new(
        200,
        "text/plain; charset=UTF-8",
        engineio::encode_payload(packets),
    );
    with_origin(r, allow)
}

/// The WebSocket form of a packet, moving a binary message's bytes.
fn into_ws(p: Packet) -> (OpCode, Vec<u8>) {
    match p {
        Packet::Message(Data::Binary(b)) => (OpCode::Binary, b),
        other => (OpCode::Text, engineio::encode_text(&other).into_bytes()),
    }
}

fn text(s: String) -> Packet {
    Packet::Message(Data::Text(s))
}

impl Server {
    /// A server with these settings and bounds.
    pub fn new(cfg: EioConfig, limits: Limits) -> Server {
        Server {
            cfg,
            limits,
            sessions: HashMap::new(),
            conns: HashMap::new(),
            sockets: HashMap::new(),
            connecting: HashMap::new(),
            next_socket: 1,
            deadlines: BinaryHeap::new(),
            out: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> EioConfig {
        self.cfg
    }

    /// The next thing to do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Whether the session `sid` may send large polling bodies: it has joined a namespace
    /// other than `/` (which needs no credentials), or it is not a Socket.IO session. Other
    /// sessions' bodies are cut to a small allowance before they are read (issue 20 item 2).
    pub fn trusts_bodies(&self, sid: &str) -> bool {
        self.sessions
            .get(sid)
            .is_some_and(|s| s.kind != EioKind::SocketIo || s.nsps.keys().any(|n| n != "/"))
    }

    /// Live Engine.IO sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Joined Socket.IO sockets.
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// Connections the server tracks (transports, probes, pending polls).
    pub fn conn_count(&self) -> usize {
        self.conns.len()
    }

    /// Entries in the timer table (live and stale).
    pub fn timer_entries(&self) -> usize {
        self.deadlines.len()
    }

    /// Outputs not yet taken.
    pub fn pending_outputs(&self) -> usize {
        self.out.len()
    }

    /// The earliest deadline: call [`Server::handle_timeout`] at or after it.
    pub fn poll_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, sid))) = self.deadlines.peek() {
            if self.sessions.get(sid).and_then(|s| s.armed) == Some(*at) {
                return Some(*at);
            }
            self.deadlines.pop();
        }
        None
    }

    /// Fires every session deadline due at `now` (late or early calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(Reverse((at, _))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((at, sid))) = self.deadlines.pop()
                && let Some(s) = self.sessions.get_mut(&sid)
                && s.armed == Some(at)
            {
                s.armed = None;
                due.push(sid);
            }
        }
        for sid in due {
            self.on_session_timer(&sid, now);
        }
    }

    /// An HTTP request to the Engine.IO endpoint: handshake, poll, post, or WebSocket
    /// upgrade. `origin` is the app's CORS verdict, `peer` the client address the session
    /// remembers. Every request gets exactly one [`Output::Reply`] or [`Output::WsUpgrade`]
    /// on `conn`, now or (a long-poll) later.
    pub fn handle_request(
        &mut self,
        conn: ConnId,
        req: &Request,
        kind: EioKind,
        origin: OriginCheck,
        peer: IpAddr,
        now: Instant,
    ) {
        let head = &req.head;
        let q = engineio::parse_query(&head.query);
        let refused = origin == OriginCheck::Refused;
        let allow = match origin {
            OriginCheck::Allowed(a) => a,
            OriginCheck::Refused => None,
        };
        let reply = |this: &mut Self, resp| this.out.push_back(Output::Reply { conn, resp });
        if head.method == "OPTIONS" {
            let mut r = with_origin(
                Response::empty(204)
                    .header("Access-Control-Allow-Methods", "GET,POST")
                    .header("Vary", "Origin"),
                &allow,
            );
            if let Some(h) = head.header("access-control-request-headers") {
                r = r.header("Access-Control-Allow-Headers", h.to_string());
            }
            return reply(self, r);
        }
        let transport = q.transport.as_deref();
        if transport != Some("polling") && transport != Some("websocket") {
            return reply(self, eio_error(HttpErrorCode::TransportUnknown, &allow));
        }
        let websocket = transport == Some("websocket");
        if let Some(sid) = q.sid {
            // A session whose pong is overdue is dead even if its deadline has not been
            // handled yet (the reactor handles events before timers).
            if self
                .sessions
                .get(&sid)
                .and_then(|s| s.pong_due)
                .is_some_and(|d| now >= d)
            {
                self.close_session(&sid, CloseReason::PingTimeout, now);
            }
            let Some(s) = self.sessions.get(&sid) else {
                return reply(self, eio_error(HttpErrorCode::SessionIdUnknown, &allow));
            };
            let on_ws = matches!(s.transport, Transport::WebSocket { .. });
            if websocket && (on_ws || s.probe.is_some()) {
                // The reference server completes the WebSocket handshake, then closes the
                // socket ("transport had already been upgraded").
                return match ws::check_upgrade(&head.method, &head.header_pairs()) {
                    Ok(accept) => {
                        self.out.push_back(Output::WsUpgrade { conn, accept });
                        self.out.push_back(Output::Close {
                            conn,
                            reason: CloseReason::NoSession,
                        });
                    }
                    Err(_) => reply(self, eio_error(HttpErrorCode::BadRequest, &allow)),
                };
            }
            if on_ws {
                return reply(self, eio_error(HttpErrorCode::BadRequest, &allow));
            }
            if refused {
                return reply(self, eio_error(HttpErrorCode::Forbidden, &allow));
            }
            if websocket {
                let Ok(accept) = ws::check_upgrade(&head.method, &head.header_pairs()) else {
                    return reply(self, eio_error(HttpErrorCode::BadRequest, &allow));
                };
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.probe = Some(Probe {
                        conn,
                        deadline: now + UPGRADE_TIMEOUT,
                        probed: false,
                    });
                }
                self.conns.insert(conn, (sid.clone(), Role::Probe));
                self.out.push_back(Output::WsUpgrade { conn, accept });
                return self.arm(&sid);
            }
            return match head.method.as_str() {
                "GET" => self.poll_get(conn, &sid, allow, now),
                "POST" => self.poll_post(conn, &sid, &req.body, allow, now),
                _ => reply(self, eio_error(HttpErrorCode::BadRequest, &allow)),
            };
        }
        if head.method != "GET" {
            return reply(self, eio_error(HttpErrorCode::BadHandshakeMethod, &allow));
        }
        if q.eio.as_deref() != Some("4") {
            return reply(
                self,
                eio_error(HttpErrorCode::UnsupportedProtocolVersion, &allow),
            );
        }
        if refused {
            return reply(self, eio_error(HttpErrorCode::Forbidden, &allow));
        }
        let accept = if websocket {
            match ws::check_upgrade(&head.method, &head.header_pairs()) {
                Ok(a) => Some(a),
                Err(_) => return reply(self, eio_error(HttpErrorCode::BadRequest, &allow)),
            }
        } else {
            None
        };
        if kind == EioKind::SocketIo
            && self.sessions.values().filter(|s| s.unjoined()).count() >= self.limits.max_unjoined
        {
            let r = Response::error(503, "Too many sessions waiting to connect");
            return reply(self, with_origin(r, &allow));
        }
        let sid = random_id();
        let upgrades: &[&str] = if websocket { &[] } else { &["websocket"] };
        let open = Packet::Open(engineio::open_json(
            &sid,
            upgrades,
            self.cfg.ping_interval_ms,
            self.cfg.ping_timeout_ms,
            self.cfg.max_payload as u64,
        ));
        let transport = match accept {
            Some(_) => Transport::WebSocket { conn },
            None => Transport::Polling { get: None },
        };
        let session = Session {
            kind,
            peer,
            transport,
            probe: None,
            outbox: Vec::new(),
            outbox_bytes: 0,
            next_ping: now + Duration::from_millis(self.cfg.ping_interval_ms),
            pong_due: None,
            connect_deadline: (kind == EioKind::SocketIo).then(|| now + CONNECT_TIMEOUT),
            armed: None,
            nsps: HashMap::new(),
            connecting: None,
            held: VecDeque::new(),
            binary: None,
            binary_bytes: 0,
        };
        self.sessions.insert(sid.clone(), session);
        self.arm(&sid);
        match accept {
            Some(accept) => {
                self.conns.insert(conn, (sid.clone(), Role::Ws));
                self.out.push_back(Output::WsUpgrade { conn, accept });
                self.send(&sid, vec![open], now);
            }
            None => reply(self, payload_reply(&[open], &allow)),
        }
    }

    fn poll_get(&mut self, conn: ConnId, sid: &str, allow: Option<String>, now: Instant) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let Transport::Polling { get } = &mut s.transport else {
            return;
        };
        if get.is_some() {
            self.out.push_back(Output::Reply {
                conn,
                resp: eio_error(HttpErrorCode::BadRequest, &allow),
            });
            return self.close_session(sid, CloseReason::ProtocolError, now);
        }
        *get = Some(PollGet { conn, allow });
        // Mid-upgrade the client only needs its poll ended so it can pause polling (the
        // reference answers a noop within 100 ms; at once is as good).
        let noop = s.probe.as_ref().is_some_and(|p| p.probed);
        self.conns.insert(conn, (sid.to_string(), Role::Poll));
        self.flush_poll(sid, noop);
    }

    fn poll_post(
        &mut self,
        conn: ConnId,
        sid: &str,
        body: &[u8],
        allow: Option<String>,
        now: Instant,
    ) {
        if body.len() > self.cfg.max_payload {
            let r = with_origin(Response::error(413, "Payload Too Large"), &allow);
            self.out.push_back(Output::Reply { conn, resp: r });
            return self.close_session(sid, CloseReason::TooLarge, now);
        }
        let packets = match engineio::decode_payload(body, MAX_POST_PACKETS) {
            Ok(p) => p,
            Err(_) => {
                self.out.push_back(Output::Reply {
                    conn,
                    resp: eio_error(HttpErrorCode::BadRequest, &allow),
                });
                return self.close_session(sid, CloseReason::ProtocolError, now);
            }
        };
        let ok = with_origin(
            Response::new(200, "text/plain; charset=UTF-8", "ok"),
            &allow,
        );
        self.out.push_back(Output::Reply { conn, resp: ok });
        for p in packets {
            if !self.sessions.contains_key(sid) {
                break;
            }
            self.packet(sid, p, now);
        }
    }

    /// Answers the pending long-poll with the outbox (or a noop when `noop`).
    fn flush_poll(&mut self, sid: &str, noop: bool) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if s.outbox.is_empty() && !noop {
            return;
        }
        let Transport::Polling { get } = &mut s.transport else {
            return;
        };
        let Some(get) = get.take() else { return };
        let packets = if s.outbox.is_empty() {
            vec![Packet::Noop]
        } else {
            std::mem::take(&mut s.outbox)
        };
        s.outbox_bytes = 0;
        self.conns.remove(&get.conn);
        self.out.push_back(Output::Reply {
            conn: get.conn,
            resp: payload_reply(&packets, &get.allow),
        });
    }

    /// Ends the pending long-poll (if any) with these packets.
    fn end_poll(&mut self, sid: &str, packets: &[Packet]) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let Transport::Polling { get } = &mut s.transport else {
            return;
        };
        if let Some(get) = get.take() {
            self.conns.remove(&get.conn);
            self.out.push_back(Output::Reply {
                conn: get.conn,
                resp: payload_reply(packets, &get.allow),
            });
        }
    }

    /// Sends packets on the session's transport.
    fn send(&mut self, sid: &str, packets: Vec<Packet>, now: Instant) {
        let max = self.cfg.max_payload;
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if let Transport::WebSocket { conn } = s.transport {
            for p in packets {
                let (op, payload) = into_ws(p);
                self.out.push_back(Output::WsFrame { conn, op, payload });
            }
            return;
        }
        for p in packets {
            s.outbox_bytes += match &p {
                Packet::Message(Data::Binary(b)) => b.len() * 4 / 3 + 2,
                Packet::Message(Data::Text(t)) | Packet::Open(t) => t.len() + 2,
                _ => 8,
            };
            s.outbox.push(p);
        }
        // A polling client that stops polling is not buffered for without bound.
        if s.outbox_bytes > max.saturating_mul(2) {
            return self.close_session(sid, CloseReason::Overflow, now);
        }
        // Also while upgrading, as the reference does: a pending poll takes what is queued.
        self.flush_poll(sid, false);
    }

    /// A WebSocket message on a connection the server upgraded. Control messages are handled
    /// here too: a ping is answered, a close frame is echoed and ends the transport.
    pub fn handle_ws_message(&mut self, conn: ConnId, msg: Message, now: Instant) {
        let Some((sid, role)) = self.conns.get(&conn).cloned() else {
            if !matches!(msg, Message::Pong(_)) {
                self.out.push_back(Output::Close {
                    conn,
                    reason: match msg {
                        Message::Close(cf) => CloseReason::PeerClosed(cf.map_or(1000, |f| f.code)),
                        _ => CloseReason::NoSession,
                    },
                });
            }
            return;
        };
        let p = match msg {
            Message::Ping(payload) => {
                let op = OpCode::Pong;
                return self.out.push_back(Output::WsFrame { conn, op, payload });
            }
            Message::Pong(_) => return,
            Message::Close(cf) => {
                let reason = CloseReason::PeerClosed(cf.map_or(1000, |f| f.code));
                return self.ws_error(&sid, conn, role, reason, now);
            }
            Message::Text(t) if t.len() > self.cfg.max_payload => {
                return self.ws_error(&sid, conn, role, CloseReason::TooLarge, now);
            }
            Message::Binary(b) if b.len() > self.cfg.max_payload => {
                return self.ws_error(&sid, conn, role, CloseReason::TooLarge, now);
            }
            Message::Text(t) => match engineio::decode_text(&t) {
                Ok(p) => p,
                Err(_) => return self.ws_error(&sid, conn, role, CloseReason::ProtocolError, now),
            },
            Message::Binary(b) => Packet::Message(Data::Binary(b)),
        };
        match role {
            Role::Probe => self.probe_packet(&sid, conn, p, now),
            Role::Ws => self.packet(&sid, p, now),
            Role::Poll => {}
        }
    }

    /// A WebSocket ends (protocol error, too large, the peer's close frame): the session it
    /// carries ends with it; a probe just closes, its session keeps polling.
    fn ws_error(&mut self, sid: &str, conn: ConnId, role: Role, reason: CloseReason, now: Instant) {
        if role == Role::Ws {
            return self.close_session(sid, reason, now);
        }
        self.forget_conn(conn);
        self.out.push_back(Output::Close { conn, reason });
    }

    fn probe_packet(&mut self, sid: &str, conn: ConnId, p: Packet, now: Instant) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        match p {
            Packet::Ping(ref d) if d == "probe" => {
                if let Some(probe) = s.probe.as_mut() {
                    probe.probed = true;
                }
                self.out.push_back(Output::WsFrame {
                    conn,
                    op: OpCode::Text,
                    payload: b"3probe".to_vec(),
                });
                // Make the client's pending poll return so it can pause polling.
                self.flush_poll(sid, true);
            }
            Packet::Upgrade => {
                self.end_poll(sid, &[Packet::Noop]);
                let Some(s) = self.sessions.get_mut(sid) else {
                    return;
                };
                s.probe = None;
                s.transport = Transport::WebSocket { conn };
                let out = std::mem::take(&mut s.outbox);
                s.outbox_bytes = 0;
                self.conns.insert(conn, (sid.to_string(), Role::Ws));
                self.send(sid, out, now);
                self.arm(sid);
            }
            _ => self.ws_error(sid, conn, Role::Probe, CloseReason::ProtocolError, now),
        }
    }

    /// A packet from the client on the session's current transport.
    fn packet(&mut self, sid: &str, p: Packet, now: Instant) {
        let interval = Duration::from_millis(self.cfg.ping_interval_ms);
        let max_held = self.limits.max_held;
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        match p {
            Packet::Pong(_) => {
                // Liveness only: the connect deadline stays where it is.
                s.pong_due = None;
                s.next_ping = now + interval;
                self.arm(sid);
            }
            Packet::Noop => {}
            _ if s.connecting.is_some() => {
                if s.held.len() >= max_held {
                    return self.close_session(sid, CloseReason::Overflow, now);
                }
                s.held.push_back(p);
            }
            Packet::Message(d) if s.kind == EioKind::Echo => {
                self.send(sid, vec![Packet::Message(d)], now)
            }
            Packet::Message(Data::Text(t)) => self.sio_text(sid, &t, now),
            Packet::Message(Data::Binary(b)) => {
                let max_bytes = self.limits.max_attachment_bytes;
                let Some(col) = s.binary.as_mut() else {
                    return self.close_session(sid, CloseReason::ProtocolError, now);
                };
                s.binary_bytes = s.binary_bytes.saturating_add(b.len());
                if s.binary_bytes > max_bytes {
                    return self.close_session(sid, CloseReason::TooLarge, now);
                }
                if col.push(b)
                    && let Some(col) = s.binary.take()
                {
                    s.binary_bytes = 0;
                    self.sio_dispatch(sid, col.packet, col.buffers, now);
                }
            }
            Packet::Close => {
                // The client closes: its pending poll ends with a noop, not a close (the
                // reference's Polling.onClose; engine.io-protocol test-suite "forcefully closes").
                self.end_poll(sid, &[Packet::Noop]);
                self.close_session(sid, CloseReason::ClientClose, now)
            }
            Packet::Ping(_) | Packet::Open(_) | Packet::Upgrade => {
                self.close_session(sid, CloseReason::ProtocolError, now)
            }
        }
    }

    fn sio_text(&mut self, sid: &str, text: &str, now: Instant) {
        let p = match socketio::decode(text, self.limits.max_attachments) {
            Ok(p) => p,
            Err(_) => return self.close_session(sid, CloseReason::ProtocolError, now),
        };
        if p.kind.is_binary() && p.attachments > 0 {
            let Some(s) = self.sessions.get_mut(sid) else {
                return;
            };
            // Attachments are collected only for a joined namespace, one packet at a time.
            if s.binary.is_some() || !s.nsps.contains_key(&p.nsp) {
                return self.close_session(sid, CloseReason::ProtocolError, now);
            }
            s.binary = Some(BinaryCollector::new(p));
            s.binary_bytes = 0;
            return;
        }
        self.sio_dispatch(sid, p, Vec::new(), now);
    }

    fn sio_dispatch(&mut self, sid: &str, p: socketio::Packet, binary: Vec<Vec<u8>>, now: Instant) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let existing = s.nsps.get(&p.nsp).copied();
        match (p.kind, existing) {
            (PacketType::Connect, None) => {
                let socket = self.next_socket;
                self.next_socket += 1;
                s.connecting = Some((socket, p.nsp.clone()));
                let peer = s.peer;
                self.connecting.insert(socket, sid.to_string());
                self.out.push_back(Output::Connect {
                    socket,
                    nsp: p.nsp,
                    auth: p.data,
                    peer,
                });
            }
            (PacketType::Disconnect, Some(socket)) => {
                self.leave(sid, &p.nsp, now);
                self.out.push_back(Output::Disconnect { socket });
            }
            (PacketType::Event | PacketType::BinaryEvent, Some(socket)) => {
                let ack = p.id;
                // A numeric event name is valid on the wire but no handler has one.
                if let Some(Value::Array(mut data)) = p.data
                    && let Some(Value::String(_)) = data.first()
                    && let Value::String(name) = data.remove(0)
                {
                    self.out.push_back(Output::Event {
                        socket,
                        name,
                        args: data,
                        ack,
                        binary,
                    });
                }
            }
            (PacketType::Ack | PacketType::BinaryAck, Some(socket)) => {
                if let (Some(id), Some(Value::Array(args))) = (p.id, p.data) {
                    self.out.push_back(Output::Ack { socket, id, args });
                }
            }
            // A packet for a namespace the client has not joined, a second CONNECT, or a
            // CONNECT_ERROR from a client: the reference server closes the connection.
            _ => self.close_session(sid, CloseReason::ProtocolError, now),
        }
    }

    /// The session left `nsp`; with no namespace left, the connect deadline runs again.
    fn leave(&mut self, sid: &str, nsp: &str, now: Instant) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if let Some(socket) = s.nsps.remove(nsp) {
            self.sockets.remove(&socket);
        }
        if s.nsps.is_empty() && s.kind == EioKind::SocketIo {
            s.connect_deadline = Some(now + CONNECT_TIMEOUT);
            self.arm(sid);
        }
    }

    /// The app's answer to [`Output::Connect`]. Held packets of the session are handled
    /// next, in order.
    pub fn connect_reply(&mut self, socket: SocketId, reply: ConnectReply, now: Instant) {
        if matches!(reply, ConnectReply::Later) {
            return; // the real answer comes with a later call
        }
        let Some(sid) = self.connecting.remove(&socket) else {
            // The session ended meanwhile: an app that accepted must forget the socket.
            if matches!(reply, ConnectReply::Ok) {
                self.out.push_back(Output::Disconnect { socket });
            }
            return;
        };
        let Some((s, nsp)) = self.sessions.get_mut(&sid).and_then(|s| {
            let nsp = s.connecting.take_if(|c| c.0 == socket)?.1;
            Some((s, nsp))
        }) else {
            if matches!(reply, ConnectReply::Ok) {
                self.out.push_back(Output::Disconnect { socket });
            }
            return;
        };
        let answer = match reply {
            ConnectReply::Ok => {
                s.nsps.insert(nsp.clone(), socket);
                s.connect_deadline = None;
                self.sockets.insert(socket, (sid.clone(), nsp.clone()));
                socketio::connect_ok(&nsp, &random_id())
            }
            ConnectReply::Refused(msg) => socketio::connect_error(&nsp, &msg),
            ConnectReply::Later => return,
        };
        self.send(&sid, vec![text(socketio::encode(&answer))], now);
        while let Some(s) = self.sessions.get_mut(&sid)
            && s.connecting.is_none()
            && let Some(p) = s.held.pop_front()
        {
            self.packet(&sid, p, now);
        }
    }

    /// The app emits `event` with `args` on a socket (ack id `ack`; `binary`: attachments,
    /// whose placeholders are already in `args`).
    pub fn emit(
        &mut self,
        socket: SocketId,
        event: String,
        args: Vec<Value>,
        ack: Option<u64>,
        binary: Vec<Vec<u8>>,
        now: Instant,
    ) {
        let Some((_, nsp)) = self.sockets.get(&socket) else {
            return;
        };
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(event));
        data.extend(args);
        let p = socketio::Packet {
            kind: if binary.is_empty() {
                PacketType::Event
            } else {
                PacketType::BinaryEvent
            },
            nsp: nsp.clone(),
            id: ack,
            data: Some(Value::Array(data)),
            attachments: binary.len(),
        };
        self.sio_send(socket, &p, binary, now);
    }

    /// The app acknowledges a client's event.
    pub fn ack(
        &mut self,
        socket: SocketId,
        id: u64,
        args: Vec<Value>,
        binary: Vec<Vec<u8>>,
        now: Instant,
    ) {
        let Some((_, nsp)) = self.sockets.get(&socket) else {
            return;
        };
        let p = socketio::Packet {
            kind: if binary.is_empty() {
                PacketType::Ack
            } else {
                PacketType::BinaryAck
            },
            nsp: nsp.clone(),
            id: Some(id),
            data: Some(Value::Array(args)),
            attachments: binary.len(),
        };
        self.sio_send(socket, &p, binary, now);
    }

    fn sio_send(
        &mut self,
        socket: SocketId,
        p: &socketio::Packet,
        binary: Vec<Vec<u8>>,
        now: Instant,
    ) {
        let Some((sid, _)) = self.sockets.get(&socket) else {
            return;
        };
        let sid = sid.clone();
        let mut packets = Vec::with_capacity(1 + binary.len());
        packets.push(text(socketio::encode(p)));
        packets.extend(binary.into_iter().map(|b| Packet::Message(Data::Binary(b))));
        self.send(&sid, packets, now);
    }

    /// The app disconnects a socket from its namespace (no [`Output::Disconnect`] follows).
    pub fn disconnect(&mut self, socket: SocketId, now: Instant) {
        let Some((sid, nsp)) = self.sockets.get(&socket).cloned() else {
            return;
        };
        self.leave(&sid, &nsp, now);
        let p = socketio::Packet {
            kind: PacketType::Disconnect,
            nsp,
            id: None,
            data: None,
            attachments: 0,
        };
        self.send(&sid, vec![text(socketio::encode(&p))], now);
    }

    /// A connection closed (any connection: unknown ones are ignored). The session whose
    /// WebSocket it was ends; a probe or a pending poll is just forgotten.
    pub fn conn_closed(&mut self, conn: ConnId, now: Instant) {
        let Some((sid, role)) = self.forget_conn(conn) else {
            return;
        };
        if role == Role::Ws {
            self.close_session(&sid, CloseReason::NoSession, now);
        }
    }

    /// Removes a connection from the server and from its session's transport or probe.
    fn forget_conn(&mut self, conn: ConnId) -> Option<(String, Role)> {
        let (sid, role) = self.conns.remove(&conn)?;
        if let Some(s) = self.sessions.get_mut(&sid) {
            match (role, &mut s.transport) {
                (Role::Probe, _) if s.probe.as_ref().is_some_and(|p| p.conn == conn) => {
                    s.probe = None;
                }
                (Role::Poll, Transport::Polling { get })
                    if get.as_ref().is_some_and(|g| g.conn == conn) =>
                {
                    *get = None;
                }
                (Role::Ws, Transport::WebSocket { conn: c }) if *c == conn => {
                    // The session has no transport now; it is closed by the caller.
                    s.transport = Transport::Polling { get: None };
                }
                _ => {}
            }
        }
        Some((sid, role))
    }

    /// Heartbeat, upgrade and connect deadlines of a session.
    fn on_session_timer(&mut self, sid: &str, now: Instant) {
        let timeout = Duration::from_millis(self.cfg.ping_timeout_ms);
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if let Some(probe) = s.probe.take_if(|p| now >= p.deadline) {
            self.conns.remove(&probe.conn);
            self.out.push_back(Output::Close {
                conn: probe.conn,
                reason: CloseReason::UpgradeTimeout,
            });
        }
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if s.connect_deadline.is_some_and(|d| now >= d) && s.unjoined() {
            return self.close_session(sid, CloseReason::ConnectTimeout, now);
        }
        match s.pong_due {
            Some(due) if now >= due => {
                return self.close_session(sid, CloseReason::PingTimeout, now);
            }
            None if now >= s.next_ping => {
                // The pong deadline follows the schedule, not the timer's firing (which may be a
                // millisecond or so late), so a client sees pingInterval + pingTimeout exactly;
                // after a long stall of the loop the client still gets half the timeout.
                s.pong_due = Some((s.next_ping + timeout).max(now + timeout / 2));
                self.send(sid, vec![Packet::Ping(String::new())], now);
            }
            _ => {}
        }
        self.arm(sid);
    }

    /// Puts the session's next deadline in the timer table, unless an earlier entry is live
    /// (its fire re-checks and re-arms).
    fn arm(&mut self, sid: &str) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let d = s.next_deadline();
        if s.armed.is_some_and(|a| a <= d) {
            return;
        }
        s.armed = Some(d);
        self.deadlines.push(Reverse((d, sid.to_string())));
        // Entries of ended sessions and superseded ones wait for their time; rebuild when
        // they outnumber the live ones, so the table stays proportional to the sessions.
        if self.deadlines.len() > 4 * self.sessions.len() + 64 {
            self.deadlines = self
                .sessions
                .iter()
                .filter_map(|(sid, s)| s.armed.map(|a| Reverse((a, sid.clone()))))
                .collect();
        }
    }

    /// Ends a session: its sockets leave their namespaces, its pending poll gets a close
    /// packet, its WebSocket and probe close.
    fn close_session(&mut self, sid: &str, reason: CloseReason, _now: Instant) {
        let Some(s) = self.sessions.remove(sid) else {
            return;
        };
        for socket in s.nsps.into_values() {
            self.sockets.remove(&socket);
            self.out.push_back(Output::Disconnect { socket });
        }
        if let Some((socket, _)) = s.connecting {
            // Its late reply gets a Disconnect if the app accepted it (`connect_reply`).
            self.connecting.remove(&socket);
        }
        match s.transport {
            Transport::Polling { get: Some(get) } => {
                self.conns.remove(&get.conn);
                self.out.push_back(Output::Reply {
                    conn: get.conn,
                    resp: payload_reply(&[Packet::Close], &get.allow),
                });
            }
            Transport::Polling { get: None } => {}
            Transport::WebSocket { conn } => {
                self.conns.remove(&conn);
                self.out.push_back(Output::Close { conn, reason });
            }
        }
        if let Some(probe) = s.probe {
            self.conns.remove(&probe.conn);
            self.out.push_back(Output::Close {
                conn: probe.conn,
                reason,
            });
        }
    }
}
