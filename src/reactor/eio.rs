//! The reactor's side of the Engine.IO server (`crate::eio_server`) and of WebSockets:
//! decode frames → feed the server → drain its outputs into write buffers and app calls.
//!
//! The server owns every session, socket and protocol deadline; here its outputs meet the
//! connections: replies go through [`Conn::reply`](super::conn::Conn::reply), frames into
//! write buffers (a peer too slow to take them is dropped at once), closes either after a
//! close frame or at once, and Socket.IO connects, events, acks and disconnects go to the app
//! (whose CONNECT answer goes back into the server). Its earliest deadline is one entry on
//! the reactor's timer heap.

use super::conn::{Phase, WsTarget};
use super::{App, Reactor, Timer};
use crate::app::{ConnId, Now};
use crate::eio_server::Output;
use crate::http::{Request, Response};
use crate::ws::{self, Message, OpCode};

/// Largest message on the echo WebSocket (Autobahn).
const ECHO_MAX_MESSAGE: usize = 64 * 1024 * 1024;

impl<A: App> Reactor<A> {
    /// A reply the app deferred (or a long-poll the server answers later).
    pub(super) fn deferred_reply(&mut self, conn: ConnId, resp: Response) {
        let Some(c) = self.conn_mut(conn) else { return };
        if !c.reply(resp) {
            return;
        }
        self.mark_dirty(conn);
        // Pipelined requests behind the deferred one can proceed now — in the next pass of
        // end_turn, so their replies, too, leave only after a commit.
        self.reprocess.push(conn);
    }

    /// Performs the Engine.IO server's outputs, in order, then arms its deadline.
    pub(super) fn drain_eio(&mut self, now: Now) {
        if self.eio_draining {
            return; // the outer drain takes what this call would have
        }
        self.eio_draining = true;
        while let Some(o) = self.eio.poll_output() {
            self.eio_output(o, now);
        }
        self.eio_draining = false;
        if let Some(d) = self.eio.poll_deadline()
            && self.eio_armed.is_none_or(|(a, _)| d < a)
        {
            if let Some((_, old)) = self.eio_armed.take() {
                self.timers.cancel(old);
            }
            self.eio_armed = Some((d, self.timers.arm(d, Timer::Eio)));
        }
    }

    fn eio_output(&mut self, o: Output, now: Now) {
        match o {
            // Now or (a long-poll) later: like any deferred reply.
            Output::Reply { conn, resp } => self.deferred_reply(conn, resp),
            Output::WsUpgrade { conn, accept } => {
                let max = self.eio.config().max_payload;
                let Some(c) = self.conn_mut(conn) else { return };
                c.start_ws(&accept, WsTarget::Eio, max);
                self.mark_dirty(conn);
            }
            Output::WsFrame { conn, op, payload } => {
                let Some(c) = self.conn_mut(conn) else { return };
                if !c.push_ws(op, &payload) {
                    crate::log::info("dropping a slow socket client (write buffer full)");
                    self.stats.slow_dropped += 1;
                    return self.close(conn, now);
                }
                self.mark_dirty(conn);
            }
            Output::Close { conn, reason } => {
                if !reason.graceful() {
                    return self.close(conn, now);
                }
                let Some(c) = self.conn_mut(conn) else { return };
                c.close_ws(reason.ws_code(), now.mono);
                let d = c.refresh_deadline(now.mono);
                self.arm_deadline(conn, d);
                self.mark_dirty(conn);
            }
            Output::Connect {
                socket,
                nsp,
                auth,
                peer,
            } => {
                match self.app.sio_connect(socket, &nsp, auth.as_ref(), peer, now) {
                    // Answered by a later Effect::ConnectReply.
                    crate::app::ConnectReply::Later => {}
                    reply => self.eio.connect_reply(socket, reply, now.mono),
                }
            }
            Output::Event {
                socket,
                name,
                args,
                ack,
                binary,
            } => self.app.sio_event(socket, &name, args, ack, binary, now),
            Output::Ack { socket, id, args } => self.app.sio_ack(socket, id, args, now),
            Output::Disconnect { socket } => self.app.sio_disconnect(socket, now),
        }
    }

    /// Reads WebSocket frames from the connection and hands complete messages on.
    pub(super) fn process_ws(&mut self, id: ConnId, now: Now) {
        let Some(c) = self.conn_mut(id) else { return };
        let Phase::Ws(w) = &c.phase else { return };
        let target = w.target;
        let (msgs, fail, used) = c.decode_ws();
        for m in msgs {
            // A message after this connection closed or sent its close frame is dropped.
            let Some(c) = self.conn_mut(id).filter(|c| !c.ws_closing()) else {
                break;
            };
            match (target, m) {
                (WsTarget::Eio, m) => {
                    self.eio.handle_ws_message(id, m, now.mono);
                    self.drain_eio(now);
                }
                (WsTarget::Echo, Message::Ping(p)) => {
                    c.push_ws(OpCode::Pong, &p);
                }
                (WsTarget::Echo, Message::Pong(_)) => {}
                (WsTarget::Echo, Message::Close(cf)) => {
                    c.close_ws(cf.map_or(1000, |f| f.code), now.mono);
                }
                (WsTarget::Echo, Message::Text(t)) => {
                    c.push_ws(OpCode::Text, t.as_bytes());
                }
                (WsTarget::Echo, Message::Binary(b)) => {
                    c.push_ws(OpCode::Binary, &b);
                }
            }
        }
        let Some(c) = self.conn_mut(id) else { return };
        if let Some(code) = fail {
            c.close_ws(code, now.mono);
        }
        if c.read_closed {
            c.close_when_written(super::conn::CloseReason::PeerGone);
        }
        let d = c.refresh_deadline(now.mono);
        // Only when something happened: the flush of a connection with an empty write buffer
        // and a partial frame buffered calls back here, so an unconditional mark would spin
        // the loop forever (seen with Autobahn 1.1.8, a frame in 997-byte pieces).
        let busy = !c.wbuf.is_empty() || c.closing.is_some() || c.unread;
        self.arm_deadline(id, d);
        if used > 0 || fail.is_some() || busy {
            self.mark_dirty(id);
        }
    }

    /// Upgrades a request to a plain echo WebSocket (conformance only).
    pub(super) fn ws_upgrade_echo(&mut self, id: ConnId, req: &Request, now: Now) {
        match ws::check_upgrade(&req.head.method, &req.head.header_pairs()) {
            Ok(accept) => {
                if let Some(c) = self.conn_mut(id) {
                    c.start_ws(&accept, WsTarget::Echo, ECHO_MAX_MESSAGE);
                }
                self.mark_dirty(id);
                self.process_ws(id, now);
            }
            Err(e) => {
                if let Some(c) = self.conn_mut(id) {
                    c.take_pending();
                    c.wbuf.push(&ws::response_400(&e));
                    c.close_when_written(super::conn::CloseReason::BadRequest);
                }
                self.mark_dirty(id);
            }
        }
    }
}
