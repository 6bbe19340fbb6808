//! The interface between the reactor and what it serves: the one module the reactor, the api
//! and the conformance server share, importing none of them (only codecs).
//!
//! hapid's app is the hub plus its api adapters; the conformance server is another app on the
//! same reactor. The reactor calls in with parsed requests and Socket.IO events and takes
//! effects out after the turn's commit. Connection and socket handles, the clock reading and
//! the effects live here too, so no layer reaches up for them.

use crate::http::{Head, Request, Response};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Instant;

/// The clock, read once per loop turn by the reactor.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time, for deadlines.
    pub mono: Instant,
    /// Wall-clock Unix milliseconds, for stored and sent timestamps.
    pub unix_ms: i64,
}

impl Now {
    /// Reads the clocks (reactor only).
    pub fn read() -> Now {
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Now {
            mono: Instant::now(),
            unix_ms,
        }
    }

    /// Unix seconds.
    pub fn unix_secs(&self) -> u64 {
        (self.unix_ms / 1000).max(0) as u64
    }
}

/// A connection handle: slab slot plus generation, so a late effect never reaches the slot's
/// next tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    /// Slab index.
    pub slot: u32,
    /// Generation of the slot.
    pub generation: u32,
}

/// A Socket.IO socket (one namespace connection), numbered by the reactor.
pub type SocketId = u64;

/// What the reactor does for the hub after the turn commits.
#[derive(Debug)]
pub enum Effect {
    /// Answer a deferred HTTP request.
    Reply { conn: ConnId, resp: Response },
    /// Write a frame (already in SSE wire form) to an event stream.
    Sse { conn: ConnId, frame: Rc<str> },
    /// Close an event stream.
    SseClose { conn: ConnId },
    /// Emit `event` with `args` on a socket, asking for an ack with `ack` when set
    /// (`binary`: attachments, whose placeholders are already in `args`).
    Emit {
        socket: SocketId,
        event: String,
        args: Vec<Value>,
        ack: Option<u64>,
        binary: Vec<Vec<u8>>,
    },
    /// Acknowledge a client's event.
    Ack {
        socket: SocketId,
        id: u64,
        args: Vec<Value>,
        binary: Vec<Vec<u8>>,
    },
    /// Disconnect a socket from its namespace.
    Disconnect { socket: SocketId },
    /// The answer to a CONNECT the app answered with [`ConnectReply::Later`].
    ConnectReply {
        socket: SocketId,
        reply: ConnectReply,
    },
    /// Call [`App::on_timer`] with `key` at or after the monotonic deadline `at`. Timers are
    /// never cancelled: the app forgets a key it no longer wants and ignores its call (a late
    /// or doubled call must be harmless; re-check the condition).
    Timer { at: Instant, key: u64 },
    /// Send an outbound HTTP(S) request; the result comes back through `Hub::outbound_done`.
    Outbound {
        id: u64,
        req: crate::http::client::ClientRequest,
        timeout: std::time::Duration,
    },
}

/// What the reactor does with an HTTP request.
pub enum Outcome {
    /// Send this response.
    Reply(Response),
    /// The app answers later with `Effect::Reply`.
    Deferred,
    /// Switch the connection to an event stream with this head (the app has queued the first
    /// frames as effects, which are applied after the head is written).
    Sse(Response),
    /// The request is for the Engine.IO endpoint (the reactor serves it).
    EngineIo(EioKind),
    /// Upgrade to a plain WebSocket that echoes every message (conformance only).
    WsEcho,
    /// `GET /metrics` (already authorized): the reactor adds its counters to the app's.
    Metrics,
}

/// Which server runs on an Engine.IO session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EioKind {
    /// Socket.IO v5 on top (namespaces, events, acks).
    SocketIo,
    /// Bare Engine.IO that echoes every message (conformance only).
    Echo,
}

/// Engine.IO settings.
#[derive(Debug, Clone, Copy)]
pub struct EioConfig {
    /// Server ping period (ms).
    pub ping_interval_ms: u64,
    /// How long a pong may take (ms).
    pub ping_timeout_ms: u64,
    /// Largest packet / polling body accepted (bytes).
    pub max_payload: usize,
}

/// Outcome of the Engine.IO origin check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginCheck {
    /// Allowed, with the `Access-Control-Allow-Origin` value to send (if any).
    Allowed(Option<String>),
    /// Not allowed: 403.
    Refused,
}

/// What the reactor does with a request whose head is complete, before it reads the body.
#[derive(Debug)]
pub enum Admit {
    /// Read a body of at most this many bytes (a longer one is answered 413).
    Body(usize),
    /// Answer this at once, without reading the body, and close.
    Reject(Response),
    /// The app answers later with [`Effect::Reply`] (a held credential failure); the body is
    /// never read and the connection closes after the answer.
    Later,
}

/// What a Socket.IO CONNECT gets.
#[derive(Debug)]
pub enum ConnectReply {
    /// Accepted.
    Ok,
    /// Refused with `{"message": …}`.
    Refused(String),
    /// Answered later with [`Effect::ConnectReply`] (a refusal the throttle holds); the
    /// session's packets wait meanwhile.
    Later,
}

/// The application behind the reactor.
pub trait App {
    /// A request's head is complete: how much body to read, or an answer without it (the
    /// credentials in the head are checked here before a large body is taken).
    fn admit(&mut self, conn: ConnId, head: &Head, peer: SocketAddr, now: Now) -> Admit;
    /// Handles an HTTP request.
    fn http(&mut self, conn: ConnId, peer: SocketAddr, req: &Request, now: Now) -> Outcome;
    /// The process is stopping: queue any last outbound calls (they get a short grace).
    fn on_shutdown(&mut self, _now: Now) {}
    /// A timer armed with [`Effect::Timer`] is due (the app's only clock callback: effects
    /// queued before the first turn, e.g. by the app's constructor, are applied when the
    /// reactor starts, so a constructor may arm timers too).
    fn on_timer(&mut self, _key: u64, _now: Now) {}
    /// Commits the turn's writes. An error stops the process.
    fn commit(&mut self) -> Result<(), String>;
    /// Takes the queued effects.
    fn take_effects(&mut self) -> Vec<Effect>;
    /// A connection closed.
    fn conn_closed(&mut self, conn: ConnId);
    /// Engine.IO settings.
    fn eio_config(&self) -> EioConfig;
    /// CORS check for Engine.IO requests (spec/cli-protocol.md §4.6).
    fn eio_origin(&self, origin: Option<&str>) -> OriginCheck;
    /// The client address of a request from `peer` (behind a trusted proxy, the one it
    /// forwarded); Engine.IO sessions remember it for [`App::sio_connect`].
    fn client_ip(&self, peer: SocketAddr, _head: &Head) -> IpAddr {
        peer.ip()
    }
    /// A socket asks to join namespace `nsp` with the handshake `auth`, from client address
    /// `peer` (the one that opened the Engine.IO session).
    fn sio_connect(
        &mut self,
        socket: SocketId,
        nsp: &str,
        auth: Option<&Value>,
        peer: IpAddr,
        now: Now,
    ) -> ConnectReply;
    /// An event on a connected socket (`binary`: attachments of a binary event).
    fn sio_event(
        &mut self,
        socket: SocketId,
        name: &str,
        args: Vec<Value>,
        ack: Option<u64>,
        binary: Vec<Vec<u8>>,
        now: Now,
    );
    /// An ack for an event the app emitted with an ack id.
    fn sio_ack(&mut self, socket: SocketId, id: u64, args: Vec<Value>, now: Now);
    /// A socket left (client disconnect, transport closed).
    fn sio_disconnect(&mut self, socket: SocketId, now: Now);
    /// An outbound request finished.
    fn outbound_done(
        &mut self,
        _id: u64,
        _result: Result<crate::http::client::ClientResponse, String>,
        _now: Now,
    ) {
    }
    /// The app's metrics in Prometheus text format (the reactor adds its own).
    fn metrics(&self, _out: &mut String) {}
}
