//! Engine.IO v4 server sessions (spec/cli-protocol.md §4) and the Socket.IO v5 namespace layer
//! (§5) on top of the reactor's connections.
//!
//! A session outlives connections: with long-polling each GET and POST is its own HTTP
//! request; with WebSocket one connection carries it. Upgrade (§4.5):
//!
//! ```text
//!  polling ──WS GET ?sid──▶ upgrading ──"2probe"/"3probe"──▶ ──"5"──▶ websocket
//!     ▲                        │ 10 s without "5": close the probe socket, keep polling
//!     └────────────────────────┘
//! ```
//!
//! The server pings (`2`) every `pingInterval`; no pong (`3`) within `pingTimeout` closes the
//! session. A session that joins no namespace within 45 s is closed. Every session has one
//! timer entry at a time; fires re-check their conditions.

use super::conn::{Phase, WsTarget};
use super::{App, Reactor, Timer};
use crate::app::{ConnId, Now, SocketId};
use crate::app::{ConnectReply, EioKind, OriginCheck};
use crate::engineio::{self, Data, HttpErrorCode, Packet};
use crate::http::{Request, Response};
use crate::socketio::{self, BinaryCollector, PacketType};
use crate::ws::{self, Message, OpCode, Step};
use base64::Engine;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// A probe WebSocket must send `5` within this (upgradeTimeout).
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);
/// A session must join a namespace within this (Socket.IO connectTimeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);
/// Most attachments one binary packet may announce.
const MAX_ATTACHMENTS: usize = 64;
/// Most packets in one polling POST body.
const MAX_POST_PACKETS: usize = 10_000;

/// One Engine.IO session.
pub(super) struct Session {
    kind: EioKind,
    ws: Option<ConnId>,
    upgrading: Option<ConnId>,
    upgrade_deadline: Option<Instant>,
    /// The upgrading WebSocket sent its probe: pending polls are answered at once (noop).
    probed: bool,
    poll_get: Option<ConnId>,
    outbox: Vec<Packet>,
    outbox_bytes: usize,
    next_ping: Instant,
    pong_due: Option<Instant>,
    connect_deadline: Option<Instant>,
    armed: Option<Instant>,
    nsps: HashMap<String, SocketId>,
    binary: Option<BinaryCollector>,
    /// The client address that opened the session (for throttling failed handshakes).
    peer: IpAddr,
}

impl Session {
    fn next_deadline(&self) -> Instant {
        let mut d = self.pong_due.unwrap_or(self.next_ping);
        for x in [self.upgrade_deadline, self.connect_deadline]
            .into_iter()
            .flatten()
        {
            d = d.min(x);
        }
        d
    }
}

fn random_id() -> String {
    let mut b = [0u8; 15];
    let _ = getrandom::getrandom(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn eio_error(code: HttpErrorCode, allow_origin: &Option<String>) -> Response {
    let mut r = Response::new(
        code.status(),
        "application/json",
        engineio::error_json(code),
    );
    if let Some(o) = allow_origin {
        r = r.header("Access-Control-Allow-Origin", o.clone());
    }
    r.header("Vary", "Origin")
}

impl<A: App> Reactor<A> {
    fn reply_now(&mut self, id: ConnId, resp: Response, req: &Request) {
        let head_only = req.head.method == "HEAD";
        let keep_alive = req.head.keep_alive();
        if let Some(c) = self.conn_mut(id) {
            let mut resp = resp;
            if !keep_alive {
                resp.close = true;
            }
            c.write_response(&resp, head_only);
            c.close_after_write |= resp.close;
        }
        self.mark_dirty(id);
    }

    /// An HTTP request to the Engine.IO endpoint: handshake, poll, post or upgrade.
    pub(super) fn eio_request(&mut self, id: ConnId, kind: EioKind, req: Request, now: Now) {
        let cfg = self.app.eio_config();
        let head = &req.head;
        let q = engineio::parse_query(&head.query);
        let origin = self.app.eio_origin(head.header("origin"));
        let refused = origin == OriginCheck::Refused;
        let allow = match origin {
            OriginCheck::Allowed(a) => a,
            OriginCheck::Refused => None,
        };
        if head.method == "OPTIONS" {
            let mut r = Response::empty(204)
                .header("Access-Control-Allow-Methods", "GET,POST")
                .header("Vary", "Origin");
            if let Some(o) = &allow {
                r = r.header("Access-Control-Allow-Origin", o.clone());
            }
            if let Some(h) = head.header("access-control-request-headers") {
                r = r.header("Access-Control-Allow-Headers", h.to_string());
            }
            return self.reply_now(id, r, &req);
        }
        let transport = q.transport.as_deref();
        if transport != Some("polling") && transport != Some("websocket") {
            return self.reply_now(id, eio_error(HttpErrorCode::TransportUnknown, &allow), &req);
        }
        let websocket = transport == Some("websocket");
        if let Some(sid) = q.sid {
            // A session whose pong is overdue is dead even if its timer has not fired yet in
            // this turn (events are handled before timers).
            if self
                .eio
                .get(&sid)
                .and_then(|s| s.pong_due)
                .is_some_and(|d| now.mono >= d)
            {
                self.eio_close(&sid, now);
            }
            let Some(s) = self.eio.get(&sid) else {
                return self.reply_now(
                    id,
                    eio_error(HttpErrorCode::SessionIdUnknown, &allow),
                    &req,
                );
            };
            if websocket && (s.ws.is_some() || s.upgrading.is_some()) {
                // The reference server completes the WebSocket handshake, then closes the
                // socket ("transport had already been upgraded").
                return match ws::check_upgrade(&head.method, &head.header_pairs()) {
                    Ok(accept) => {
                        if let Some(c) = self.conn_mut(id) {
                            c.wbuf.push(&ws::response_101(&accept));
                            c.start_ws(WsTarget::Echo, cfg.max_payload);
                            c.close_ws(1000);
                        }
                        self.mark_dirty(id);
                    }
                    Err(_) => {
                        self.reply_now(id, eio_error(HttpErrorCode::BadRequest, &allow), &req)
                    }
                };
            }
            if s.ws.is_some() {
                return self.reply_now(id, eio_error(HttpErrorCode::BadRequest, &allow), &req);
            }
            if refused {
                return self.reply_now(id, eio_error(HttpErrorCode::Forbidden, &allow), &req);
            }
            if websocket {
                let Ok(accept) = ws::check_upgrade(&head.method, &head.header_pairs()) else {
                    return self.reply_now(id, eio_error(HttpErrorCode::BadRequest, &allow), &req);
                };
                if let Some(c) = self.conn_mut(id) {
                    c.wbuf.push(&ws::response_101(&accept));
                    c.start_ws(WsTarget::Eio(sid.clone()), cfg.max_payload);
                }
                if let Some(s) = self.eio.get_mut(&sid) {
                    s.upgrading = Some(id);
                    s.upgrade_deadline = Some(now.mono + UPGRADE_TIMEOUT);
                }
                self.eio_arm(&sid);
                self.mark_dirty(id);
                return self.process_ws(id, now);
            }
            return match head.method.as_str() {
                "GET" => self.eio_poll_get(id, &sid, &req, allow),
                "POST" => self.eio_poll_post(id, &sid, &req, allow, now),
                _ => self.reply_now(id, eio_error(HttpErrorCode::BadRequest, &allow), &req),
            };
        }
        if head.method != "GET" {
            return self.reply_now(
                id,
                eio_error(HttpErrorCode::BadHandshakeMethod, &allow),
                &req,
            );
        }
        if q.eio.as_deref() != Some("4") {
            return self.reply_now(
                id,
                eio_error(HttpErrorCode::UnsupportedProtocolVersion, &allow),
                &req,
            );
        }
        if refused {
            return self.reply_now(id, eio_error(HttpErrorCode::Forbidden, &allow), &req);
        }
        let accept = if websocket {
            match ws::check_upgrade(&head.method, &head.header_pairs()) {
                Ok(a) => Some(a),
                Err(_) => {
                    return self.reply_now(id, eio_error(HttpErrorCode::BadRequest, &allow), &req);
                }
            }
        } else {
            None
        };
        let sid = random_id();
        let upgrades: &[&str] = if websocket { &[] } else { &["websocket"] };
        let open = Packet::Open(engineio::open_json(
            &sid,
            upgrades,
            cfg.ping_interval_ms,
            cfg.ping_timeout_ms,
            cfg.max_payload as u64,
        ));
        let peer = match self.conn_mut(id).map(|c| c.peer) {
            Some(addr) => self.app.client_ip(addr, head),
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        let session = Session {
            peer,
            kind,
            ws: None,
            upgrading: None,
            upgrade_deadline: None,
            probed: false,
            poll_get: None,
            outbox: Vec::new(),
            outbox_bytes: 0,
            next_ping: now.mono + Duration::from_millis(cfg.ping_interval_ms),
            pong_due: None,
            connect_deadline: (kind == EioKind::SocketIo).then(|| now.mono + CONNECT_TIMEOUT),
            armed: None,
            nsps: HashMap::new(),
            binary: None,
        };
        self.eio.insert(sid.clone(), session);
        self.eio_arm(&sid);
        match accept {
            Some(accept) => {
                if let Some(c) = self.conn_mut(id) {
                    c.wbuf.push(&ws::response_101(&accept));
                    c.start_ws(WsTarget::Eio(sid.clone()), cfg.max_payload);
                }
                if let Some(s) = self.eio.get_mut(&sid) {
                    s.ws = Some(id);
                }
                self.eio_send(&sid, vec![open], now);
                self.mark_dirty(id);
                self.process_ws(id, now);
            }
            None => {
                let mut r = Response::new(
                    200,
                    "text/plain; charset=UTF-8",
                    engineio::encode_payload(&[open]),
                );
                if let Some(o) = &allow {
                    r = r.header("Access-Control-Allow-Origin", o.clone());
                }
                self.reply_now(id, r, &req);
            }
        }
    }

    fn eio_poll_get(&mut self, id: ConnId, sid: &str, req: &Request, allow: Option<String>) {
        let Some(s) = self.eio.get_mut(sid) else {
            return;
        };
        if s.poll_get.is_some() {
            self.reply_now(id, eio_error(HttpErrorCode::BadRequest, &allow), req);
            return self.eio_close(sid, Now::read());
        }
        s.poll_get = Some(id);
        // Mid-upgrade the client only needs its poll ended so it can pause polling (the
        // reference answers a noop within 100 ms; at once is as good).
        let noop = s.upgrading.is_some() && s.probed;
        let keep_alive = req.head.keep_alive();
        if let Some(c) = self.conn_mut(id) {
            c.awaiting_reply = Some((false, keep_alive));
            c.polling_for = Some(sid.to_string());
            c.poll_allow_origin = allow;
        }
        self.eio_flush_poll(sid, noop);
    }

    fn eio_poll_post(
        &mut self,
        id: ConnId,
        sid: &str,
        req: &Request,
        allow: Option<String>,
        now: Now,
    ) {
        let packets = match engineio::decode_payload(&req.body, MAX_POST_PACKETS) {
            Ok(p) => p,
            Err(_) => {
                self.reply_now(id, eio_error(HttpErrorCode::BadRequest, &allow), req);
                return self.eio_close(sid, now);
            }
        };
        let mut r = Response::new(200, "text/plain; charset=UTF-8", "ok");
        if let Some(o) = &allow {
            r = r.header("Access-Control-Allow-Origin", o.clone());
        }
        self.reply_now(id, r, req);
        for p in packets {
            if !self.eio.contains_key(sid) {
                break;
            }
            self.eio_packet(sid, p, now);
        }
    }

    /// Answers the pending long-poll with the outbox (or a noop when `noop`).
    fn eio_flush_poll(&mut self, sid: &str, noop: bool) {
        let Some(s) = self.eio.get_mut(sid) else {
            return;
        };
        if s.outbox.is_empty() && !noop {
            return;
        }
        let Some(conn) = s.poll_get.take() else {
            return;
        };
        let packets = if s.outbox.is_empty() {
            vec![Packet::Noop]
        } else {
            std::mem::take(&mut s.outbox)
        };
        s.outbox_bytes = 0;
        self.poll_reply(conn, &packets);
    }

    fn poll_reply(&mut self, conn: ConnId, packets: &[Packet]) {
        let Some(c) = self.conn_mut(conn) else { return };
        c.polling_for = None;
        let allow = c.poll_allow_origin.take();
        let Some((_, keep_alive)) = c.awaiting_reply.take() else {
            return;
        };
        let mut r = Response::new(
            200,
            "text/plain; charset=UTF-8",
            engineio::encode_payload(packets),
        );
        if let Some(o) = allow {
            r = r.header("Access-Control-Allow-Origin", o);
        }
        if !keep_alive {
            r.close = true;
        }
        c.write_response(&r, false);
        c.close_after_write |= r.close;
        self.mark_dirty(conn);
    }

    /// Sends packets on the session's transport.
    pub(super) fn eio_send(&mut self, sid: &str, packets: Vec<Packet>, now: Now) {
        let max = self.app.eio_config().max_payload;
        let Some(s) = self.eio.get_mut(sid) else {
            return;
        };
        if let Some(conn) = s.ws {
            let Some(c) = self.conn_mut(conn) else { return };
            for p in &packets {
                let ok = match engineio::encode_ws(p) {
                    engineio::WsOut::Text(t) => c.push_ws(OpCode::Text, t.as_bytes()),
                    engineio::WsOut::Binary(b) => c.push_ws(OpCode::Binary, &b),
                };
                if !ok {
                    crate::log::info("dropping a slow socket client (write buffer full)");
                    self.stats.slow_dropped += 1;
                    return self.eio_close(sid, now);
                }
            }
            self.mark_dirty(conn);
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
            self.stats.slow_dropped += 1;
            return self.eio_close(sid, now);
        }
        // Also while upgrading, as the reference does: a pending poll takes what is queued.
        self.eio_flush_poll(sid, false);
    }

    /// Reads WebSocket frames from the connection and dispatches complete messages.
    pub(super) fn process_ws(&mut self, id: ConnId, now: Now) {
        let mut msgs = Vec::new();
        let mut fail = None;
        let used;
        {
            let Some(c) = self.conn_mut(id) else { return };
            let Phase::Ws(dec, _) = &mut c.phase else {
                return;
            };
            let mut pos = 0;
            while !c.ws_closing && fail.is_none() {
                match dec.decode(c.rbuf.get(pos..).unwrap_or(&[])) {
                    Ok(Step::NeedMore) => break,
                    Ok(Step::Used(n)) => pos += n,
                    Ok(Step::Message { used, msg }) => {
                        pos += used;
                        msgs.push(msg);
                    }
                    Err(e) => fail = Some(e.close_code()),
                }
            }
            c.rbuf.drain(..pos.min(c.rbuf.len()));
            used = pos;
        }
        let target = match self.conn_mut(id).map(|c| &c.phase) {
            Some(Phase::Ws(_, t)) => t.clone(),
            _ => return,
        };
        for m in msgs {
            match m {
                Message::Ping(p) => {
                    if let Some(c) = self.conn_mut(id) {
                        c.push_ws(OpCode::Pong, &p);
                    }
                }
                Message::Pong(_) => {}
                Message::Close(cf) => {
                    if let Some(c) = self.conn_mut(id) {
                        c.close_ws(cf.map_or(1000, |f| f.code));
                    }
                    break;
                }
                Message::Text(t) => match &target {
                    WsTarget::Echo => {
                        if let Some(c) = self.conn_mut(id) {
                            c.push_ws(OpCode::Text, t.as_bytes());
                        }
                    }
                    WsTarget::Eio(sid) => match engineio::decode_text(&t) {
                        Ok(p) => self.eio_ws_packet(sid, id, p, now),
                        Err(_) => self.eio_protocol_error(sid, id, now),
                    },
                },
                Message::Binary(b) => match &target {
                    WsTarget::Echo => {
                        if let Some(c) = self.conn_mut(id) {
                            c.push_ws(OpCode::Binary, &b);
                        }
                    }
                    WsTarget::Eio(sid) => {
                        self.eio_ws_packet(sid, id, engineio::decode_binary(&b), now)
                    }
                },
            }
        }
        if let Some(code) = fail
            && let Some(c) = self.conn_mut(id)
        {
            c.close_ws(code);
        }
        if let Some(c) = self.conn_mut(id)
            && c.read_closed
        {
            c.close_after_write = true;
        }
        // Only when something happened: the flush of a connection with an empty write buffer
        // and a partial frame buffered calls back here, so an unconditional mark would spin
        // the loop forever (seen with Autobahn 1.1.8, a frame in 997-byte pieces).
        let busy = self
            .conn_mut(id)
            .is_some_and(|c| !c.wbuf.is_empty() || c.close_after_write || c.unread);
        if used > 0 || fail.is_some() || busy {
            self.mark_dirty(id);
        }
    }

    fn eio_protocol_error(&mut self, sid: &str, conn: ConnId, now: Now) {
        if let Some(c) = self.conn_mut(conn) {
            c.close_ws(1002);
        }
        let upgrading = self.eio.get(sid).is_some_and(|s| s.upgrading == Some(conn));
        if !upgrading {
            self.eio_close(sid, now);
        }
    }

    fn eio_ws_packet(&mut self, sid: &str, conn: ConnId, p: Packet, now: Now) {
        let Some(s) = self.eio.get_mut(sid) else {
            if let Some(c) = self.conn_mut(conn) {
                c.close_ws(1000);
            }
            return;
        };
        if s.upgrading == Some(conn) {
            match p {
                Packet::Ping(ref d) if d == "probe" => {
                    s.probed = true;
                    if let Some(c) = self.conn_mut(conn) {
                        c.push_ws(OpCode::Text, b"3probe");
                    }
                    self.mark_dirty(conn);
                    // Make the client's pending poll return so it can pause polling.
                    self.eio_flush_poll(sid, true);
                }
                Packet::Upgrade => {
                    s.ws = Some(conn);
                    s.upgrading = None;
                    s.upgrade_deadline = None;
                    s.probed = false;
                    let out = std::mem::take(&mut s.outbox);
                    s.outbox_bytes = 0;
                    if let Some(get) = s.poll_get.take() {
                        self.poll_reply(get, &[Packet::Noop]);
                    }
                    self.eio_send(sid, out, now);
                }
                _ => self.eio_protocol_error(sid, conn, now),
            }
            return;
        }
        if s.ws != Some(conn) {
            if let Some(c) = self.conn_mut(conn) {
                c.close_ws(1000);
            }
            return;
        }
        self.eio_packet(sid, p, now);
    }

    /// A packet from the client on the session's current transport.
    fn eio_packet(&mut self, sid: &str, p: Packet, now: Now) {
        let interval = Duration::from_millis(self.app.eio_config().ping_interval_ms);
        let Some(s) = self.eio.get_mut(sid) else {
            return;
        };
        let kind = s.kind;
        match p {
            Packet::Pong(_) => {
                s.pong_due = None;
                s.next_ping = now.mono + interval;
                self.eio_arm(sid);
            }
            Packet::Message(d) if kind == EioKind::Echo => {
                self.eio_send(sid, vec![Packet::Message(d)], now)
            }
            Packet::Message(Data::Text(t)) => self.sio_text(sid, &t, now),
            Packet::Message(Data::Binary(b)) => {
                let done = match s.binary.as_mut() {
                    Some(col) => col.push(b),
                    None => return self.eio_close(sid, now),
                };
                if done && let Some(col) = s.binary.take() {
                    self.sio_dispatch(sid, col.packet, col.buffers, now);
                }
            }
            Packet::Noop => {}
            Packet::Close => {
                // The client closes: its pending poll ends with a noop, not a close (the
                // reference's Polling.onClose; engine.io-protocol test-suite "forcefully closes").
                if let Some(get) = s.poll_get.take() {
                    self.poll_reply(get, &[Packet::Noop]);
                }
                self.eio_close(sid, now)
            }
            Packet::Ping(_) | Packet::Open(_) | Packet::Upgrade => self.eio_close(sid, now),
        }
    }

    fn sio_text(&mut self, sid: &str, text: &str, now: Now) {
        let p = match socketio::decode(text, MAX_ATTACHMENTS) {
            Ok(p) => p,
            Err(_) => return self.eio_close(sid, now),
        };
        if p.kind.is_binary() && p.attachments > 0 {
            if let Some(s) = self.eio.get_mut(sid) {
                if s.binary.is_some() {
                    return self.eio_close(sid, now);
                }
                s.binary = Some(BinaryCollector::new(p));
            }
            return;
        }
        self.sio_dispatch(sid, p, Vec::new(), now);
    }

    fn sio_dispatch(&mut self, sid: &str, p: socketio::Packet, binary: Vec<Vec<u8>>, now: Now) {
        let Some(s) = self.eio.get(sid) else { return };
        let existing = s.nsps.get(&p.nsp).copied();
        match (p.kind, existing) {
            (PacketType::Connect, None) => {
                let socket = self.next_socket;
                self.next_socket += 1;
                let peer = s.peer;
                let reply = self
                    .app
                    .sio_connect(socket, &p.nsp, p.data.as_ref(), peer, now);
                let out = match reply {
                    ConnectReply::Ok => {
                        if let Some(s) = self.eio.get_mut(sid) {
                            s.nsps.insert(p.nsp.clone(), socket);
                            s.connect_deadline = None;
                        }
                        self.sockets
                            .insert(socket, (sid.to_string(), p.nsp.clone()));
                        socketio::connect_ok(&p.nsp, &random_id())
                    }
                    ConnectReply::Refused(msg) => socketio::connect_error(&p.nsp, &msg),
                };
                self.eio_send(
                    sid,
                    vec![Packet::Message(Data::Text(socketio::encode(&out)))],
                    now,
                );
            }
            (PacketType::Disconnect, Some(socket)) => {
                if let Some(s) = self.eio.get_mut(sid) {
                    s.nsps.remove(&p.nsp);
                }
                self.sockets.remove(&socket);
                self.app.sio_disconnect(socket, now);
            }
            (PacketType::Event | PacketType::BinaryEvent, Some(socket)) => {
                if let Some((name, args)) = socketio::event_parts(&p) {
                    let args = args.to_vec();
                    let name = name.to_string();
                    self.app.sio_event(socket, &name, args, p.id, binary, now);
                }
            }
            (PacketType::Ack | PacketType::BinaryAck, Some(socket)) => {
                if let (Some(id), Some(serde_json::Value::Array(args))) = (p.id, p.data) {
                    self.app.sio_ack(socket, id, args, now);
                }
            }
            // A packet for a namespace the client has not joined, a second CONNECT, or a
            // CONNECT_ERROR from a client: the reference server closes the connection.
            _ => self.eio_close(sid, now),
        }
    }

    /// Sends a Socket.IO packet (and its attachments) on a socket.
    pub(super) fn sio_send(
        &mut self,
        socket: SocketId,
        p: &socketio::Packet,
        binary: Vec<Vec<u8>>,
        now: Now,
    ) {
        let Some((sid, _)) = self.sockets.get(&socket) else {
            return;
        };
        let sid = sid.clone();
        let mut packets = vec![Packet::Message(Data::Text(socketio::encode(p)))];
        packets.extend(binary.into_iter().map(|b| Packet::Message(Data::Binary(b))));
        self.eio_send(&sid, packets, now);
    }

    /// The app disconnects a socket from its namespace.
    pub(super) fn sio_server_disconnect(&mut self, socket: SocketId, now: Now) {
        let Some((sid, nsp)) = self.sockets.remove(&socket) else {
            return;
        };
        if let Some(s) = self.eio.get_mut(&sid) {
            s.nsps.remove(&nsp);
        }
        let p = socketio::Packet {
            kind: PacketType::Disconnect,
            nsp,
            id: None,
            data: None,
            attachments: 0,
        };
        self.eio_send(
            &sid,
            vec![Packet::Message(Data::Text(socketio::encode(&p)))],
            now,
        );
    }

    fn eio_arm(&mut self, sid: &str) {
        let Some(s) = self.eio.get_mut(sid) else {
            return;
        };
        let d = s.next_deadline();
        if s.armed.is_some_and(|a| a <= d) {
            return;
        }
        s.armed = Some(d);
        self.timers.arm(d, Timer::Eio(sid.to_string()));
    }

    /// Heartbeat, upgrade and connect timeouts of a session.
    pub(super) fn eio_timer(&mut self, sid: &str, now: Now) {
        let timeout = Duration::from_millis(self.app.eio_config().ping_timeout_ms);
        let Some(s) = self.eio.get_mut(sid) else {
            return;
        };
        s.armed = None;
        let t = now.mono;
        if s.upgrade_deadline.is_some_and(|d| t >= d) {
            s.upgrade_deadline = None;
            s.probed = false;
            if let Some(probe) = s.upgrading.take() {
                if let Some(c) = self.conn_mut(probe) {
                    c.close_ws(1000);
                }
                self.mark_dirty(probe);
            }
        }
        let Some(s) = self.eio.get_mut(sid) else {
            return;
        };
        if s.connect_deadline.is_some_and(|d| t >= d) && s.nsps.is_empty() {
            return self.eio_close(sid, now);
        }
        match s.pong_due {
            Some(due) if t >= due => return self.eio_close(sid, now),
            None if t >= s.next_ping => {
                // The pong deadline follows the schedule, not the timer's firing (which may be a
                // millisecond or so late), so a client sees pingInterval + pingTimeout exactly;
                // after a long stall of the loop the client still gets half the timeout.
                s.pong_due = Some((s.next_ping + timeout).max(t + timeout / 2));
                self.eio_send(sid, vec![Packet::Ping(String::new())], now);
            }
            _ => {}
        }
        self.eio_arm(sid);
    }

    /// A WebSocket of a session closed.
    pub(super) fn eio_transport_closed(&mut self, sid: &str, conn: ConnId, now: Now) {
        let Some(s) = self.eio.get_mut(sid) else {
            return;
        };
        if s.upgrading == Some(conn) {
            s.upgrading = None;
            s.upgrade_deadline = None;
            s.probed = false;
        } else if s.ws == Some(conn) {
            s.ws = None;
            self.eio_close(sid, now);
        }
    }

    /// A connection holding a long-poll GET closed.
    pub(super) fn eio_poll_closed(&mut self, sid: &str, conn: ConnId) {
        if let Some(s) = self.eio.get_mut(sid)
            && s.poll_get == Some(conn)
        {
            s.poll_get = None;
        }
    }

    /// Ends a session: its sockets leave their namespaces, its transports close.
    pub(super) fn eio_close(&mut self, sid: &str, now: Now) {
        let Some(s) = self.eio.remove(sid) else {
            return;
        };
        for (_, socket) in s.nsps {
            self.sockets.remove(&socket);
            self.app.sio_disconnect(socket, now);
        }
        if let Some(get) = s.poll_get {
            self.poll_reply(get, &[Packet::Close]);
        }
        for conn in [s.ws, s.upgrading].into_iter().flatten() {
            if let Some(c) = self.conn_mut(conn) {
                c.close_ws(1000);
            }
            self.mark_dirty(conn);
        }
    }

    /// Upgrades a request to a plain echo WebSocket (conformance only).
    pub(super) fn ws_upgrade(&mut self, id: ConnId, req: &Request, target: WsTarget, now: Now) {
        match ws::check_upgrade(&req.head.method, &req.head.header_pairs()) {
            Ok(accept) => {
                if let Some(c) = self.conn_mut(id) {
                    c.wbuf.push(&ws::response_101(&accept));
                    c.start_ws(target, 64 * 1024 * 1024);
                }
                self.mark_dirty(id);
                self.process_ws(id, now);
            }
            Err(e) => {
                if let Some(c) = self.conn_mut(id) {
                    c.wbuf.push(&ws::response_400(&e));
                    c.close_after_write = true;
                }
                self.mark_dirty(id);
            }
        }
    }
}
