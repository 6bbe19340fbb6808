//! The reactor: one `mio::Poll` loop, the connection slab, the timer heap and signals.
//!
//! It is the only code that touches sockets or reads the clock. One loop turn (STYLE.md §5):
//!
//! ```text
//! poll ─▶ read & parse every ready connection (output goes into write buffers only)
//!      ─▶ fire due timers ─▶ COMMIT the turn's writes ─▶ apply the app's effects
//!      ─▶ flush write buffers ─▶ reap closed connections
//! ```
//!
//! Nothing reaches a socket before the commit, so every reply and ack is durable.

mod buffer;
mod conn;
mod eio;
pub mod outbound;
pub mod timers;
pub mod tls;

use crate::app::{Admit, App, ConnId, Effect, Now, Outcome};
use crate::eio_server;
use conn::{CloseReason, Conn, Phase};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use timers::Timers;

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
const WAKER: Token = Token(2);
const REDIRECT: Token = Token(3);
const FIRST_CONN: usize = 4;

/// The body allowance of a polling request on an Engine.IO session without credentials
/// (its CONNECT packet is a few hundred bytes).
const UNTRUSTED_BODY: usize = 64 * 1024;

/// What a timer is for.
#[derive(Debug, Clone)]
enum Timer {
    /// A connection's deadline (re-checked when it fires).
    Conn(ConnId),
    /// The Engine.IO server's earliest deadline (it re-checks when called).
    Eio,
    /// A timer the app armed with `Effect::Timer`.
    App(u64),
    /// An outbound request's deadline (re-checked when it fires).
    Outbound,
}

struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// Reactor limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Concurrent connections; more are answered 503 and closed.
    pub max_connections: usize,
    /// Concurrent connections from one address (an IPv6 /64); more are answered 503.
    pub max_per_address: usize,
    /// Addresses without a per-address cap (the trusted reverse proxies: every client comes
    /// through them).
    pub exempt: Vec<crate::http::forwarded::Cidr>,
    /// Request body bytes reserved at once, all connections together (`HAPID_BODY_BUDGET_MIB`).
    pub body_budget: usize,
    /// Unsent output, all connections together (`HAPID_OUTPUT_BUDGET_MIB`): past it the
    /// connection with the most unsent output is dropped, until the total is back under it.
    pub output_budget: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            max_per_address: 1024,
            exempt: Vec::new(),
            body_budget: 96 << 20,
            output_budget: 128 << 20,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub accepted: u64,
    pub refused: u64,
    pub slow_dropped: u64,
}

/// The event loop and everything it owns.
pub struct Reactor<A: App> {
    poll: Poll,
    listener: Option<TcpListener>,
    signals: Signals,
    slots: Vec<Slot>,
    free: Vec<u32>,
    open: usize,
    /// Open connections per address key (IPv4, IPv6 /64), for `Limits::max_per_address`.
    per_address: std::collections::HashMap<crate::auth::throttle::Key, u32>,
    /// Request body bytes reserved by connections now (at most `Limits::body_budget`).
    bodies_reserved: usize,
    /// Unsent output of all connections, as of their last flush (`Limits::output_budget`).
    queued_out: usize,
    timers: Timers<Timer>,
    dirty: Vec<ConnId>,
    /// Every Engine.IO session and Socket.IO socket.
    eio: eio_server::Server,
    /// The server deadline armed on the timer heap.
    eio_armed: Option<(Instant, timers::TimerId)>,
    /// `drain_eio` is running (closing a connection inside it must not start another).
    eio_draining: bool,
    /// The application.
    pub app: A,
    limits: Limits,
    stop: bool,
    /// Counters.
    pub stats: Stats,
    /// The outbound HTTP(S) client.
    pub outbound: outbound::Outbound,
    /// Connections to process again after this pass's commit (see `end_turn`).
    reprocess: Vec<ConnId>,
    /// When set, the listener speaks TLS (reloaded on SIGHUP).
    tls: Option<tls::Acceptor>,
    /// The plain-HTTP port that redirects to the TLS one.
    redirect: Option<TcpListener>,
}

impl<A: App> Reactor<A> {
    /// Binds the listener and sets up signals.
    pub fn bind(addr: SocketAddr, app: A, limits: Limits) -> io::Result<Reactor<A>> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(addr)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let waker = std::sync::Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let outbound = outbound::Outbound::new(waker)?;
        Ok(Reactor {
            outbound,
            reprocess: Vec::new(),
            tls: None,
            redirect: None,
            poll,
            listener: Some(listener),
            signals,
            slots: Vec::new(),
            free: Vec::new(),
            open: 0,
            per_address: std::collections::HashMap::new(),
            bodies_reserved: 0,
            queued_out: 0,
            timers: Timers::default(),
            dirty: Vec::new(),
            eio: {
                let cfg = app.eio_config();
                eio_server::Server::new(cfg, eio_server::Limits::for_config(&cfg))
            },
            eio_armed: None,
            eio_draining: false,
            app,
            limits,
            stop: false,
            stats: Stats::default(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Some(l) => l.local_addr(),
            None => Err(io::Error::other("not listening")),
        }
    }

    /// Serves TLS on the listener from now on (set before `run`).
    pub fn set_tls(&mut self, acceptor: tls::Acceptor) {
        self.tls = Some(acceptor);
    }

    /// Binds a plain-HTTP listener whose every request is redirected (308) to HTTPS on the
    /// main listener's port; returns its address.
    pub fn bind_redirect(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let mut l = TcpListener::bind(addr)?;
        self.poll
            .registry()
            .register(&mut l, REDIRECT, Interest::READABLE)?;
        let bound = l.local_addr()?;
        self.redirect = Some(l);
        Ok(bound)
    }

    /// Runs until SIGTERM/SIGINT; then stops accepting, commits and closes.
    pub fn run(&mut self) -> Result<(), String> {
        let mut events = Events::with_capacity(1024);
        // What the app queued before the first turn (start-up timers and calls).
        self.end_turn(Now::read())?;
        while !self.stop {
            let timeout = self
                .timers
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            match self.poll.poll(&mut events, timeout) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r.map_err(|e| format!("poll: {e}"))?,
            }
            let now = Now::read();
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(now, false),
                    REDIRECT => self.accept(now, true),
                    SIGNALS => self.on_signals(),
                    WAKER => self.outbound.on_wake(now.mono, self.poll.registry()),
                    Token(t) if outbound::Outbound::owns(t) => {
                        self.outbound.on_event(t, now.mono, self.poll.registry())
                    }
                    Token(t) => self.on_conn_event(t, ev.is_readable(), ev.is_writable(), now),
                }
            }
            while let Some(t) = self.timers.pop_due(now.mono) {
                self.on_timer(t, now);
            }
            self.outbound_results(now);
            self.end_turn(now)?;
        }
        self.drain_outbound()?;
        self.shutdown()
    }

    /// Hands finished outbound exchanges to the app (before the commit: they may write).
    fn outbound_results(&mut self, now: Now) {
        for (id, r) in self.outbound.take_done() {
            self.app.outbound_done(id, r, now);
        }
    }

    /// Commit, then release effects, then flush and reap.
    fn end_turn(&mut self, now: Now) -> Result<(), String> {
        // Each pass: commit, release effects, flush. Flushing may let a connection continue
        // (a drained write buffer, a deferred reply sent, bytes left in the socket); those are
        // processed afterwards and their output waits for the next pass's commit.
        loop {
            loop {
                self.outbound_results(now);
                self.app.commit()?;
                let fx = self.app.take_effects();
                if fx.is_empty() {
                    break;
                }
                for e in fx {
                    self.apply(e, now);
                }
            }
            while !self.dirty.is_empty() {
                let dirty = std::mem::take(&mut self.dirty);
                for id in dirty {
                    self.flush(id, now);
                }
            }
            if self.reprocess.is_empty() {
                break;
            }
            let again = std::mem::take(&mut self.reprocess);
            for id in again {
                self.process(id, now);
            }
        }
        Ok(())
    }

    /// Gives the app's last outbound calls (e.g. the Telegram offset confirmation) up to
    /// half a second, so SIGTERM still exits well within a second.
    fn drain_outbound(&mut self) -> Result<(), String> {
        let now = Now::read();
        self.app.on_shutdown(now);
        self.end_turn(now)?;
        let until = Instant::now() + Duration::from_millis(500);
        let mut events = Events::with_capacity(64);
        while self.outbound.in_flight() != (0, 0) && Instant::now() < until {
            let _ = self.poll.poll(
                &mut events,
                Some(until.saturating_duration_since(Instant::now())),
            );
            let now = Now::read();
            for ev in events.iter() {
                match ev.token() {
                    WAKER => self.outbound.on_wake(now.mono, self.poll.registry()),
                    Token(t) if outbound::Outbound::owns(t) => {
                        self.outbound.on_event(t, now.mono, self.poll.registry())
                    }
                    _ => {}
                }
            }
            self.outbound_results(now);
        }
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), String> {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        if let Some(mut l) = self.redirect.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        self.app.commit()?;
        let now = Now::read();
        let ids: Vec<ConnId> = self
            .slots
            .iter()
            .filter_map(|s| s.conn.as_ref().map(|c| c.id))
            .collect();
        for id in ids {
            self.flush(id, now);
            self.close(id, now);
        }
        self.app.commit()
    }

    fn on_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for s in pending {
            match s {
                SIGHUP => {
                    crate::log::reopen();
                    // New connections get the new certificate; open ones keep theirs.
                    if let Some(t) = &mut self.tls {
                        match t.reload() {
                            Ok(()) => crate::log::info("TLS certificate reloaded"),
                            Err(e) => crate::log::warn(&format!(
                                "TLS certificate not reloaded, keeping the previous one: {e}"
                            )),
                        }
                    }
                }
                _ => {
                    crate::log::info("signal received, shutting down");
                    self.stop = true;
                }
            }
        }
    }

    /// Accepts on the main listener, or on the redirect port (`redirect`).
    fn accept(&mut self, now: Now, redirect: bool) {
        loop {
            let listener = if redirect {
                &self.redirect
            } else {
                &self.listener
            };
            let Some(listener) = listener else {
                return;
            };
            let (mut stream, peer) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    crate::log::warn(&format!("accept: {e}"));
                    return;
                }
            };
            let tls = self.tls.as_ref().filter(|_| !redirect);
            let key = crate::auth::throttle::Key::of(peer.ip());
            let exempt = self.limits.exempt.iter().any(|c| c.contains(peer.ip()));
            let from_key = self.per_address.get(&key).copied().unwrap_or(0);
            if self.open >= self.limits.max_connections
                || (!exempt && from_key as usize >= self.limits.max_per_address)
            {
                self.stats.refused += 1;
                if tls.is_some() {
                    continue; // no plaintext answer on a TLS port
                }
                // Best effort: one small write, then close. Never blocks (non-blocking socket).
                use std::io::Write;
                let _ = stream.write(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 32\r\nConnection: close\r\n\r\n{\"error\":\"Too many connections\"}",
                );
                continue;
            }
            let _ = stream.set_nodelay(true);
            let mut stream = match tls {
                None => tls::Transport::Plain(stream),
                Some(t) => match t.accept(stream, now.mono + conn::HEAD_TIMEOUT) {
                    Ok(s) => s,
                    Err(e) => {
                        crate::log::warn(&format!("TLS accept: {e}"));
                        continue;
                    }
                },
            };
            let redirect_to = match (redirect, &self.listener) {
                (true, Some(l)) => Some(l.local_addr().map(|a| a.port()).unwrap_or(443)),
                _ => None,
            };
            let slot = match self.free.pop() {
                Some(s) => s,
                None => {
                    self.slots.push(Slot {
                        generation: 0,
                        conn: None,
                    });
                    (self.slots.len() - 1) as u32
                }
            };
            let Some(s) = self.slots.get_mut(slot as usize) else {
                return;
            };
            s.generation = s.generation.wrapping_add(1);
            let id = ConnId {
                slot,
                generation: s.generation,
            };
            if self
                .poll
                .registry()
                .register(
                    &mut stream,
                    Token(slot as usize + FIRST_CONN),
                    Interest::READABLE,
                )
                .is_err()
            {
                self.free.push(slot);
                continue;
            }
            let mut conn = Conn::new(id, stream, peer, now.mono);
            conn.redirect_to = redirect_to;
            let deadline = conn.deadline;
            s.conn = Some(conn);
            self.open += 1;
            *self.per_address.entry(key).or_insert(0) += 1;
            self.stats.accepted += 1;
            self.arm_deadline(id, deadline);
        }
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        let s = self.slots.get_mut(id.slot as usize)?;
        if s.generation != id.generation {
            return None;
        }
        s.conn.as_mut()
    }

    fn on_conn_event(&mut self, token: usize, readable: bool, writable: bool, now: Now) {
        let Some(slot) = token.checked_sub(FIRST_CONN) else {
            return;
        };
        let Some(id) = self
            .slots
            .get(slot)
            .and_then(|s| s.conn.as_ref().map(|c| c.id))
        else {
            return;
        };
        if writable {
            self.mark_dirty(id);
        }
        if readable {
            let Some(c) = self.conn_mut(id) else { return };
            c.fill(now.mono);
            self.process(id, now);
        }
    }

    /// Handles whatever the connection has buffered, as far as its phase allows.
    fn process(&mut self, id: ConnId, now: Now) {
        let Some(c) = self.conn_mut(id) else { return };
        if matches!(c.phase, Phase::Ws(..)) {
            self.process_ws(id, now);
            return;
        }
        loop {
            let app = &mut self.app;
            let eio = &self.eio;
            let reserved = &mut self.bodies_reserved;
            let budget = self.limits.body_budget;
            let Some(c) = self
                .slots
                .get_mut(id.slot as usize)
                .filter(|s| s.generation == id.generation)
                .and_then(|s| s.conn.as_mut())
            else {
                return;
            };
            let peer = c.peer;
            let mut took = 0;
            let step = c.next_request(|h| {
                let admit = app.admit(id, h, peer, now);
                let Admit::Body(mut limit) = admit else {
                    return admit;
                };
                // Polling bodies of a session without credentials get the small allowance.
                if h.path == "/socket.io/"
                    && !crate::api::query_param(&h.query, "sid")
                        .is_some_and(|s| eio.trusts_bodies(&s))
                {
                    limit = limit.min(UNTRUSTED_BODY);
                }
                let want = crate::http::declared_length(h).unwrap_or(0).min(limit);
                if want > 0 && reserved.saturating_add(want) > budget {
                    return Admit::Reject(
                        crate::http::Response::error(503, "Server busy; try again later")
                            .header("Retry-After", "5")
                            .close(),
                    );
                }
                *reserved += want;
                took = want;
                Admit::Body(limit)
            });
            c.reserved += took;
            if matches!(step, conn::Step::Request(_) | conn::Step::Error(_)) {
                self.bodies_reserved -= std::mem::take(&mut c.reserved);
            }
            match step {
                conn::Step::Idle => break,
                conn::Step::Error(resp) => {
                    c.reply_and_close(resp, CloseReason::BadRequest);
                    break;
                }
                conn::Step::Continue => {
                    c.wbuf.push(b"HTTP/1.1 100 Continue\r\n\r\n");
                    self.mark_dirty(id);
                    break;
                }
                conn::Step::Request(req) if c.redirect_to.is_some() => {
                    let port = c.redirect_to.unwrap_or(443);
                    c.reply(tls::redirect_response(&req.head, port));
                    self.mark_dirty(id);
                    break;
                }
                conn::Step::Request(req) => {
                    let peer = c.peer;
                    let outcome = self.app.http(id, peer, &req, now);
                    self.mark_dirty(id);
                    match outcome {
                        Outcome::EngineIo(kind) => {
                            let origin = self.app.eio_origin(req.head.header("origin"));
                            let client = self.app.client_ip(peer, &req.head);
                            self.eio
                                .handle_request(id, &req, kind, origin, client, now.mono);
                            self.drain_eio(now);
                            // An upgrade: the bytes after the handshake are WebSocket frames.
                            if self
                                .conn_mut(id)
                                .is_some_and(|c| matches!(c.phase, Phase::Ws(_)))
                            {
                                return self.process_ws(id, now);
                            }
                        }
                        Outcome::WsEcho => return self.ws_upgrade_echo(id, &req, now),
                        Outcome::Metrics => {
                            let body = self.metrics_text();
                            let resp = crate::http::Response::new(
                                200,
                                "text/plain; version=0.0.4; charset=utf-8",
                                body,
                            );
                            if let Some(c) = self.conn_mut(id) {
                                c.reply(resp);
                            }
                        }
                        Outcome::Reply(resp) => {
                            if let Some(c) = self.conn_mut(id) {
                                c.reply(resp);
                            }
                        }
                        Outcome::Deferred => {}
                        Outcome::Sse(head) => {
                            if let Some(c) = self.conn_mut(id) {
                                c.start_sse(&head);
                            }
                        }
                    }
                }
            }
        }
        if let Some(c) = self.conn_mut(id) {
            // A client that goes away while its reply is deferred (RPC, voice chain, long
            // poll) cancels it: close now, the app forgets what the connection waited for.
            if c.read_closed && (c.phase_is_stream() || c.awaiting_reply()) {
                self.close(id, now);
                return;
            }
            if c.read_closed && c.is_idle_http() {
                c.close_when_written(CloseReason::PeerGone);
            }
            let d = c.refresh_deadline(now.mono);
            // Flush only when there is something to write or the interest must change: a
            // partial request in the buffer must not bounce between flush and process.
            let idle = if c.reading_paused() {
                Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            // Also when fill() stopped at a cap that parsing has since raised (a large body):
            // flush() reads the rest, which no new edge-triggered event would announce.
            let needs_flush = !c.wbuf.is_empty()
                || c.stream.wants_write()
                || c.closing.is_some()
                || c.interest != idle
                || (c.unread && !c.reading_paused());
            self.arm_deadline(id, d);
            if needs_flush {
                self.mark_dirty(id);
            }
        }
    }

    fn arm_deadline(&mut self, id: ConnId, deadline: Option<Instant>) {
        let Some(d) = deadline else { return };
        let Some(c) = self.conn_mut(id) else { return };
        if c.armed.is_some_and(|a| a <= d) {
            return; // an earlier fire re-checks and re-arms
        }
        c.armed = Some(d);
        self.timers.arm(d, Timer::Conn(id));
    }

    fn on_timer(&mut self, t: Timer, now: Now) {
        match t {
            Timer::Eio => {
                self.eio_armed = None;
                self.eio.handle_timeout(now.mono);
                self.drain_eio(now);
            }
            Timer::App(key) => self.app.on_timer(key, now),
            Timer::Outbound => self.outbound.on_deadline(now.mono, self.poll.registry()),
            Timer::Conn(id) => {
                let Some(c) = self.conn_mut(id) else { return };
                c.armed = None;
                match c.deadline {
                    Some(d) if d <= now.mono => {
                        match c.on_deadline() {
                            conn::Expired::Reply(resp) => {
                                c.reply_and_close(resp, CloseReason::Timeout)
                            }
                            conn::Expired::CloseWhenWritten => {
                                c.close_when_written(CloseReason::Timeout)
                            }
                            conn::Expired::CloseNow => return self.close(id, now),
                        }
                        self.mark_dirty(id);
                    }
                    d => self.arm_deadline(id, d),
                }
            }
        }
    }

    fn apply(&mut self, e: Effect, now: Now) {
        match e {
            Effect::Reply { conn, resp } => self.deferred_reply(conn, resp),
            Effect::Sse { conn, frame } => {
                let Some(c) = self.conn_mut(conn) else { return };
                if !c.push_sse(frame.as_bytes()) {
                    crate::log::info("dropping a slow event-stream client (write buffer full)");
                    self.stats.slow_dropped += 1;
                    self.close(conn, now);
                    return;
                }
                self.mark_dirty(conn);
            }
            Effect::SseClose { conn } => self.close(conn, now),
            Effect::Emit {
                socket,
                event,
                args,
                ack,
                binary,
            } => {
                self.eio.emit(socket, event, args, ack, binary, now.mono);
                self.drain_eio(now);
            }
            Effect::Ack {
                socket,
                id,
                args,
                binary,
            } => {
                self.eio.ack(socket, id, args, binary, now.mono);
                self.drain_eio(now);
            }
            Effect::Disconnect { socket } => {
                self.eio.disconnect(socket, now.mono);
                self.drain_eio(now);
            }
            Effect::ConnectReply { socket, reply } => {
                self.eio.connect_reply(socket, reply, now.mono);
                self.drain_eio(now);
            }
            Effect::Timer { at, key } => {
                self.timers.arm(at, Timer::App(key));
            }
            Effect::Outbound { id, req, timeout } => {
                let job = outbound::Job { id, req, timeout };
                self.outbound.submit(job, now.mono, self.poll.registry());
                self.timers.arm(now.mono + timeout, Timer::Outbound);
            }
        }
    }

    fn mark_dirty(&mut self, id: ConnId) {
        if let Some(c) = self.conn_mut(id)
            && !c.dirty
        {
            c.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Writes what the socket takes, updates interest, closes when done or broken.
    fn flush(&mut self, id: ConnId, now: Now) {
        let registry = self.poll.registry();
        let Some(slot) = self.slots.get_mut(id.slot as usize) else {
            return;
        };
        if slot.generation != id.generation {
            return;
        }
        let Some(c) = slot.conn.as_mut() else { return };
        c.dirty = false;
        let alive = c.write_out();
        self.queued_out = self.queued_out + c.wbuf.len() - c.accounted;
        c.accounted = c.wbuf.len();
        if self.queued_out > self.limits.output_budget {
            return self.shed_output(id, now);
        }
        // Output is all out when the socket took the plaintext and the TLS records of it.
        let drained = c.wbuf.is_empty() && !c.stream.wants_write();
        let done =
            !alive || (c.closing.is_some() && drained) || (c.read_closed && c.phase_is_stream());
        if done {
            self.close(id, now);
            return;
        }
        let want = if c.reading_paused() {
            Interest::WRITABLE
        } else if drained {
            Interest::READABLE
        } else {
            Interest::READABLE | Interest::WRITABLE
        };
        if c.interest != want {
            c.interest = want;
            let token = Token(id.slot as usize + FIRST_CONN);
            if registry.reregister(&mut c.stream, token, want).is_err() {
                self.close(id, now);
                return;
            }
        }
        // Bytes left in the socket when fill() stopped at the cap get no new edge-triggered
        // event: read them as soon as reading may resume.
        let resume_read = c.unread && !c.reading_paused();
        if resume_read {
            c.fill(now.mono);
        }
        // Handle anything buffered now that the write buffer drained.
        // (Only HTTP parsing pauses for output; a WebSocket's partial frame just waits.)
        if resume_read
            || (matches!(c.phase, Phase::Http(_))
                && c.wbuf.is_empty()
                && !c.rbuf.is_empty()
                && !c.awaiting_reply()
                && c.closing.is_none())
        {
            // Not here: a reply written now would be flushed before its writes commit.
            self.reprocess.push(id);
        }
    }

    fn close(&mut self, id: ConnId, now: Now) {
        let Some(slot) = self.slots.get_mut(id.slot as usize) else {
            return;
        };
        if slot.generation != id.generation {
            return;
        }
        let Some(mut c) = slot.conn.take() else {
            return;
        };
        c.stream.close();
        let _ = self.poll.registry().deregister(&mut c.stream);
        self.free.push(id.slot);
        self.open -= 1;
        self.bodies_reserved -= c.reserved;
        self.queued_out -= c.accounted;
        let key = crate::auth::throttle::Key::of(c.peer.ip());
        if let Some(n) = self.per_address.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&key);
            }
        }
        drop(c); // the socket and both buffers go now
        self.eio.conn_closed(id, now.mono);
        self.drain_eio(now);
        self.app.conn_closed(id);
    }

    /// The unsent output of all connections passed the budget: drops the connections with the
    /// most of it (the slowest readers) until the total is back under it, then goes on
    /// flushing `id` if it is still open.
    fn shed_output(&mut self, id: ConnId, now: Now) {
        while self.queued_out > self.limits.output_budget {
            let worst = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let c = s.conn.as_ref()?;
                    let id = ConnId {
                        slot: i as u32,
                        generation: s.generation,
                    };
                    Some((c.accounted, id))
                })
                .max_by_key(|(n, _)| *n);
            let Some((n, victim)) = worst.filter(|(n, _)| *n > 0) else {
                break;
            };
            crate::log::warn(&format!(
                "output budget: {} MiB unsent in all; dropping a connection with {} KiB unsent",
                self.queued_out >> 20,
                n >> 10
            ));
            self.stats.slow_dropped += 1;
            self.close(victim, now);
        }
        if self.conn_mut(id).is_some() {
            self.mark_dirty(id);
        }
    }

    /// The reactor's metrics followed by the app's.
    fn metrics_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let (h, s, w, e) = self.conn_counts();
        let _ = writeln!(
            out,
            "# HELP hapid_connections Open connections by kind.\n# TYPE hapid_connections gauge"
        );
        for (k, v) in [("http", h), ("sse", s), ("websocket", w)] {
            let _ = writeln!(out, "hapid_connections{{kind=\"{k}\"}} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP hapid_engineio_sessions Engine.IO sessions.\n# TYPE hapid_engineio_sessions gauge\nhapid_engineio_sessions {e}"
        );
        let pending: usize = self
            .slots
            .iter()
            .filter_map(|s| s.conn.as_ref())
            .map(|c| c.wbuf.len())
            .sum();
        let _ = writeln!(
            out,
            "# HELP hapid_write_buffer_bytes Bytes waiting in connection write buffers.\n# TYPE hapid_write_buffer_bytes gauge\nhapid_write_buffer_bytes {pending}"
        );
        let (queued, active) = self.outbound.in_flight();
        let _ = writeln!(
            out,
            "# HELP hapid_outbound_requests Outbound HTTP requests.\n# TYPE hapid_outbound_requests gauge\nhapid_outbound_requests{{state=\"queued\"}} {queued}\nhapid_outbound_requests{{state=\"active\"}} {active}"
        );
        let st = &self.stats;
        let _ = writeln!(
            out,
            "# HELP hapid_connections_total Connections accepted, refused (cap), dropped (slow).\n# TYPE hapid_connections_total counter"
        );
        for (k, v) in [
            ("accepted", st.accepted),
            ("refused", st.refused),
            ("slow_dropped", st.slow_dropped),
        ] {
            let _ = writeln!(out, "hapid_connections_total{{outcome=\"{k}\"}} {v}");
        }
        self.app.metrics(&mut out);
        out
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.open
    }

    /// Connection counts by kind, for `/metrics`: (http, sse, websocket, engine.io sessions).
    pub fn conn_counts(&self) -> (usize, usize, usize, usize) {
        let (mut h, mut s, mut w) = (0, 0, 0);
        for c in self.slots.iter().filter_map(|s| s.conn.as_ref()) {
            match c.phase {
                Phase::Http(_) => h += 1,
                Phase::Sse => s += 1,
                Phase::Ws(..) => w += 1,
            }
        }
        (h, s, w, self.eio.session_count())
    }
}
