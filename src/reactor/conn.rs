//! One connection: its socket, bounded buffers, phase and deadline.
//!
//! ```text
//!   Http ──(GET /api/events accepted)──▶ Sse
//!     └──(Upgrade: websocket)──────────▶ WebSocket (Engine.IO or echo)
//! ```
//!
//! Every phase keeps its own state ([`HttpConn`]'s pending request, [`WsConn`]'s decoder and
//! close deadline); a connection that is to close once its output drains says why
//! ([`CloseReason`]). Replies go through one function, [`Conn::reply`].
//!
//! Http: requests are parsed one at a time; while a reply is pending (deferred by the hub, or
//! still in the write buffer beyond [`PAUSE_WRITE`]) no further request is parsed, so a
//! pipelining client that does not read gets backpressure, not an unbounded buffer.

use super::buffer::WriteBuf;
use super::tls::Transport;
use crate::app::Admit;
use crate::app::ConnId;
use crate::http::{Coding, Head, HttpError, Parsed, Request, RequestParser, Response};
use mio::Interest;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Idle keep-alive connections close after this.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A request head must arrive within this from its first byte (slowloris).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A body must make progress at least this often.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A whole request must arrive within [`BODY_GRACE`] plus its body length at this rate, so a
/// body trickled a byte at a time (each within the idle timeout) is still cut off: 4 KiB/s
/// is a poor 2G link; a 68 MiB upload gets 4.8 hours, a 1 KB body 10.2 s.
pub const BODY_MIN_RATE: u64 = 4096;
/// The part of the total request deadline that does not depend on the body's length.
pub const BODY_GRACE: Duration = Duration::from_secs(10);
/// Stop parsing more requests while this much output is queued.
pub const PAUSE_WRITE: usize = 256 * 1024;
/// An event stream whose unsent output exceeds this is dropped (slow client).
pub const SSE_MAX_PENDING: usize = 4 * 1024 * 1024;
/// A WebSocket peer whose unsent output exceeds this is dropped.
pub const WS_MAX_PENDING: usize = 64 * 1024 * 1024;
/// Read in chunks of this size.
const READ_CHUNK: usize = 16 * 1024;

/// The phase of a connection, each with its own state.
#[derive(Debug)]
pub enum Phase {
    /// HTTP/1.1 requests.
    Http(HttpConn),
    /// A Server-Sent Events stream (chunked).
    Sse,
    /// A WebSocket carrying Engine.IO or echoing.
    Ws(WsConn),
}

/// An HTTP connection: the parser, and the request waiting for its reply.
#[derive(Debug)]
pub struct HttpConn {
    parser: RequestParser,
    /// The request being answered; while set no further request is parsed.
    pub pending: Option<Pending>,
}

/// How the reply to a parsed request must be written.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    /// A HEAD request: the head only.
    pub head_only: bool,
    /// The connection stays open afterwards.
    pub keep_alive: bool,
    /// How the answer may be encoded (`crate::http::encoding::negotiate`).
    pub coding: Coding,
}

/// A WebSocket connection.
#[derive(Debug)]
pub struct WsConn {
    decoder: Box<crate::ws::Decoder>,
    /// What it serves.
    pub target: WsTarget,
    /// A close frame was sent: no more data frames; the connection goes at this deadline
    /// even if the peer never reads the rest.
    pub closing_until: Option<Instant>,
}

/// What a WebSocket connection serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsTarget {
    /// A transport or upgrade probe of the Engine.IO server.
    Eio,
    /// Every message is sent back (Autobahn).
    Echo,
}

/// Why a connection closes once its write buffer drains (for the log and the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The reply said `Connection: close` (or the client did).
    ReplyClose,
    /// The request was unacceptable (4xx from the parser).
    BadRequest,
    /// A request, idle or linger deadline passed.
    Timeout,
    /// The peer ended its side, or the socket failed.
    PeerGone,
    /// A WebSocket close frame was sent with this code.
    WsClose(u16),
}

/// What the connection's buffer yields next.
pub enum Step {
    /// Nothing to do until more bytes (or the pending reply) arrive.
    Idle,
    /// A whole request.
    Request(Request),
    /// Send `100 Continue`.
    Continue,
    /// The request is unacceptable: answer and close.
    Error(Response),
}

/// How long a closing WebSocket may take to drain its output and close frame.
pub const WS_CLOSE_LINGER: Duration = Duration::from_secs(5);

/// A connection.
pub struct Conn {
    pub id: ConnId,
    /// Plain TCP or TLS: plaintext in and out either way.
    pub stream: Transport,
    pub peer: SocketAddr,
    pub rbuf: Vec<u8>,
    pub wbuf: WriteBuf,
    pub phase: Phase,
    pub interest: Interest,
    pub deadline: Option<Instant>,
    pub armed: Option<Instant>,
    pub dirty: bool,
    /// Close once the write buffer drains, and why.
    pub closing: Option<CloseReason>,
    /// The peer's side ended (EOF) or the socket failed.
    pub read_closed: bool,
    /// When the request currently being received started (for the head timeout).
    request_started: Option<Instant>,
    last_read: Instant,
    /// Upper bound for rbuf, set by the parser's limits (head + body of the current request).
    read_cap: usize,
    /// Request body bytes this connection holds of the reactor's body budget.
    pub reserved: usize,
    /// Output bytes of this connection counted in the reactor's output total (its `wbuf`
    /// length at the last flush).
    pub accounted: usize,
    /// The last `fill` stopped at the cap, not at `WouldBlock`: the socket may hold more
    /// bytes, and readiness being edge-triggered, no new event will announce them.
    pub unread: bool,
    /// Accepted on the plain-HTTP redirect port: every request is answered with a
    /// redirect to HTTPS on this port.
    pub redirect_to: Option<u16>,
    /// The event stream's gzip state (a fixed `GzipEncoder::SIZE`, under 16 KiB; see
    /// `crate::gzip`): every frame is compressed and sync-flushed into its own chunk.
    sse_gzip: Option<Box<crate::gzip::GzipEncoder>>,
}

impl Conn {
    /// A fresh HTTP connection.
    pub fn new(id: ConnId, stream: Transport, peer: SocketAddr, now: Instant) -> Conn {
        // A TLS handshake is bounded like a request head (see `refresh_deadline`).
        let deadline = stream.handshake_deadline().unwrap_or(now + IDLE_TIMEOUT);
        Conn {
            id,
            stream,
            peer,
            rbuf: Vec::new(),
            wbuf: WriteBuf::default(),
            phase: Phase::Http(HttpConn {
                parser: RequestParser::new(crate::http::Limits::default()),
                pending: None,
            }),
            interest: Interest::READABLE,
            deadline: Some(deadline),
            armed: None,
            dirty: false,
            closing: None,
            read_closed: false,
            request_started: None,
            last_read: now,
            read_cap: 64 * 1024,
            unread: false,
            reserved: 0,
            accounted: 0,
            redirect_to: None,
            sse_gzip: None,
        }
    }

    /// Whether reading is paused (backpressure, or a reply is pending).
    pub fn reading_paused(&self) -> bool {
        self.closing.is_some()
            || self.read_closed
            || self.wbuf.len() > PAUSE_WRITE
            || self.rbuf.len() >= self.read_cap
    }

    /// Reads until `WouldBlock`, EOF, or the buffer cap.
    pub fn fill(&mut self, now: Instant) {
        let mut chunk = [0u8; READ_CHUNK];
        self.unread = false;
        while !self.read_closed {
            if self.rbuf.len() >= self.read_cap.max(READ_CHUNK) {
                self.unread = true;
                break;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => self.read_closed = true,
                Ok(n) => {
                    match self.phase {
                        Phase::Http(_) => {
                            if self.rbuf.is_empty() && self.request_started.is_none() {
                                self.request_started = Some(now);
                            }
                            self.rbuf.extend_from_slice(&chunk[..n]);
                        }
                        Phase::Ws(..) => self.rbuf.extend_from_slice(&chunk[..n]),
                        Phase::Sse => {}
                    }
                    // Bytes sent on an event stream are ignored (the stream is one-way).
                    self.last_read = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.read_closed = true;
                    self.close_when_written(CloseReason::PeerGone);
                }
            }
        }
    }

    /// The next thing to do with buffered bytes. `admit` is asked once per request, when its
    /// head is complete, before any of its body is read.
    pub fn next_request(&mut self, admit: impl FnOnce(&Head) -> Admit) -> Step {
        if self.closing.is_some() || self.wbuf.len() > PAUSE_WRITE {
            return Step::Idle;
        }
        let Phase::Http(HttpConn { parser, pending }) = &mut self.phase else {
            return Step::Idle;
        };
        if pending.is_some() {
            return Step::Idle;
        }
        if self.rbuf.is_empty() {
            return Step::Idle;
        }
        let mut cap = 0;
        let mut refused: Option<Admit> = None;
        let mut head_only = false;
        let r = parser.parse(&self.rbuf, |h| {
            head_only = h.method == "HEAD";
            match admit(h) {
                Admit::Body(l) => {
                    cap = l;
                    l
                }
                other => {
                    refused = Some(other);
                    0
                }
            }
        });
        match refused {
            Some(Admit::Reject(resp)) => return Step::Error(resp),
            Some(Admit::Later) => {
                // The body is never read: the connection ends with the app's answer.
                *pending = Some(Pending {
                    head_only,
                    keep_alive: false,
                    coding: Coding::Never,
                });
                self.rbuf = Vec::new();
                self.read_cap = 0;
                return Step::Idle;
            }
            _ => {}
        }
        match r {
            Ok(Parsed::NeedMore { expect_continue }) => {
                // The head's limit until it is parsed; head + body after. The body limit is
                // only computed when the head completes, so keep the raised cap afterwards.
                if cap > 0 {
                    self.read_cap = cap.saturating_add(crate::http::Limits::default().max_head);
                } else if !parser.head_done() {
                    self.read_cap = 64 * 1024;
                }
                if expect_continue {
                    Step::Continue
                } else {
                    Step::Idle
                }
            }
            Ok(Parsed::Done { used, req }) => {
                self.rbuf.drain(..used);
                self.read_cap = 64 * 1024;
                self.request_started = if self.rbuf.is_empty() {
                    None
                } else {
                    Some(self.last_read)
                };
                if self.rbuf.capacity() > 1024 * 1024 && self.rbuf.len() < 64 * 1024 {
                    self.rbuf.shrink_to(64 * 1024);
                }
                *pending = Some(Pending {
                    head_only: req.head.method == "HEAD",
                    keep_alive: req.head.keep_alive(),
                    coding: crate::http::encoding::negotiate(&req.head),
                });
                Step::Request(req)
            }
            Err(e) => Step::Error(e.response()),
        }
    }

    /// The one way a reply is written: answers the pending request (HEAD gets the head only,
    /// a request without keep-alive gets `Connection: close`). False, writing nothing, when
    /// no request is pending (a late or doubled reply).
    pub fn reply(&mut self, mut resp: Response) -> bool {
        let Some(p) = self.take_pending() else {
            return false;
        };
        if !p.keep_alive {
            resp.close = true;
        }
        resp.write_coded(p.head_only, p.coding, self.wbuf.vec());
        if resp.close {
            self.close_when_written(CloseReason::ReplyClose);
        }
        true
    }

    /// Answers a request the parser rejected (or that timed out) and closes after it.
    pub fn reply_and_close(&mut self, resp: Response, reason: CloseReason) {
        self.take_pending();
        resp.write(false, self.wbuf.vec());
        self.close_when_written(reason);
    }

    /// Takes the pending request (to answer it, or to switch phase on it).
    pub fn take_pending(&mut self) -> Option<Pending> {
        match &mut self.phase {
            Phase::Http(h) => h.pending.take(),
            _ => None,
        }
    }

    /// Whether a request waits for its reply.
    pub fn awaiting_reply(&self) -> bool {
        matches!(&self.phase, Phase::Http(h) if h.pending.is_some())
    }

    /// Closes once the write buffer drains (the first reason sticks).
    pub fn close_when_written(&mut self, reason: CloseReason) {
        self.closing.get_or_insert(reason);
    }

    /// Switches to the event-stream phase and writes the response head (chunked).
    pub fn start_sse(&mut self, head: &Response) {
        use std::fmt::Write as _;
        let coding = self.take_pending().map_or(Coding::Never, |p| p.coding);
        let mut s = String::from("HTTP/1.1 200 OK\r\n");
        let mut vary = coding != Coding::Never;
        for (n, v) in &head.headers {
            if vary && n.eq_ignore_ascii_case("vary") {
                let _ = write!(s, "{n}: {v}, Accept-Encoding\r\n");
                vary = false;
            } else {
                let _ = write!(s, "{n}: {v}\r\n");
            }
        }
        if vary {
            s.push_str("Vary: Accept-Encoding\r\n");
        }
        if coding == Coding::Gzip {
            s.push_str("Content-Encoding: gzip\r\n");
            self.sse_gzip = Some(crate::gzip::GzipEncoder::boxed());
        }
        s.push_str("Transfer-Encoding: chunked\r\n\r\n");
        self.wbuf.vec().extend_from_slice(s.as_bytes());
        self.phase = Phase::Sse;
        self.rbuf = Vec::new();
        self.deadline = None;
    }

    /// Queues one SSE frame as a chunk (gzipped and sync-flushed when the stream negotiated
    /// gzip); false when the client is too slow (drop it).
    pub fn push_sse(&mut self, frame: &[u8]) -> bool {
        if !matches!(self.phase, Phase::Sse) {
            return true;
        }
        if !self.wbuf.is_empty() && self.wbuf.len() + frame.len() > SSE_MAX_PENDING {
            return false;
        }
        let zipped;
        let frame = match self.sse_gzip.as_deref_mut() {
            Some(z) => {
                // The chunk's size comes first, so the compressed frame is built aside.
                let mut buf = Vec::with_capacity(frame.len() / 2 + 64);
                // A stream's encoder is never finished, so these cannot fail.
                let _ = z.write(frame, &mut buf);
                let _ = z.sync_flush(&mut buf);
                zipped = buf;
                &zipped[..]
            }
            None => frame,
        };
        let out = self.wbuf.vec();
        out.extend_from_slice(format!("{:x}\r\n", frame.len()).as_bytes());
        out.extend_from_slice(frame);
        out.extend_from_slice(b"\r\n");
        true
    }

    /// Writes as much as the socket takes; false when the socket is broken.
    pub fn write_out(&mut self) -> bool {
        while !self.wbuf.is_empty() {
            match self.stream.write(self.wbuf.pending()) {
                Ok(0) => return false,
                Ok(n) => self.wbuf.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        // TLS records the socket did not take yet: handshake flights, a write's tail.
        match self.stream.flush() {
            Ok(()) => true,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        }
    }

    /// Whether this is an HTTP connection with nothing in progress.
    pub fn is_idle_http(&self) -> bool {
        matches!(&self.phase, Phase::Http(h) if h.pending.is_none())
    }

    /// Whether the connection is an event stream (a read EOF ends it).
    pub fn phase_is_stream(&self) -> bool {
        matches!(self.phase, Phase::Sse)
    }

    /// Writes `101 Switching Protocols` and switches to the WebSocket phase; bytes after the
    /// handshake stay buffered for the decoder.
    pub fn start_ws(&mut self, accept: &str, target: WsTarget, max_message: usize) {
        self.take_pending();
        self.wbuf.push(&crate::ws::response_101(accept));
        let limits = crate::ws::Limits {
            max_frame: max_message,
            max_message,
        };
        self.phase = Phase::Ws(WsConn {
            decoder: Box::new(crate::ws::Decoder::new(limits)),
            target,
            closing_until: None,
        });
        self.read_cap = max_message.saturating_add(64);
        self.deadline = None;
        self.request_started = None;
    }

    /// Queues a WebSocket frame; false when the peer is too slow (drop it).
    pub fn push_ws(&mut self, op: crate::ws::OpCode, payload: &[u8]) -> bool {
        if !matches!(&self.phase, Phase::Ws(w) if w.closing_until.is_none()) {
            return true;
        }
        // One message larger than the cap is fine on an empty buffer (a ~67 MB upload RPC);
        // a peer that lets output pile up beyond the cap is too slow and is dropped.
        if !self.wbuf.is_empty() && self.wbuf.len() + payload.len() > WS_MAX_PENDING {
            return false;
        }
        crate::ws::encode(op, payload, self.wbuf.vec());
        true
    }

    /// Queues a close frame and closes after it is written, or at `now` + [`WS_CLOSE_LINGER`]
    /// if the peer does not read it.
    pub fn close_ws(&mut self, code: u16, now: Instant) {
        if let Phase::Ws(w) = &mut self.phase
            && w.closing_until.is_none()
        {
            crate::ws::encode_close(code, "", self.wbuf.vec());
            w.closing_until = Some(now + WS_CLOSE_LINGER);
        }
        self.close_when_written(CloseReason::WsClose(code));
    }

    /// Decodes the WebSocket messages buffered (until a close frame was sent, or an error:
    /// its close code). Consumed bytes leave the read buffer.
    pub fn decode_ws(&mut self) -> (Vec<crate::ws::Message>, Option<u16>, usize) {
        let Phase::Ws(w) = &mut self.phase else {
            return (Vec::new(), None, 0);
        };
        let (mut msgs, mut fail, mut pos) = (Vec::new(), None, 0);
        while w.closing_until.is_none() && fail.is_none() {
            match w.decoder.decode(self.rbuf.get(pos..).unwrap_or(&[])) {
                Ok(crate::ws::Step::NeedMore) => break,
                Ok(crate::ws::Step::Used(n)) => pos += n,
                Ok(crate::ws::Step::Message { used, msg }) => {
                    pos += used;
                    msgs.push(msg);
                }
                Err(e) => fail = Some(e.close_code()),
            }
        }
        self.rbuf.drain(..pos.min(self.rbuf.len()));
        (msgs, fail, pos)
    }

    /// A WebSocket that has sent its close frame.
    pub fn ws_closing(&self) -> bool {
        matches!(&self.phase, Phase::Ws(w) if w.closing_until.is_some())
    }

    /// Recomputes the deadline from the phase and progress.
    pub fn refresh_deadline(&mut self, now: Instant) -> Option<Instant> {
        if let Some(d) = self.stream.handshake_deadline() {
            self.deadline = Some(d);
            return self.deadline;
        }
        self.deadline = match &self.phase {
            Phase::Sse => None,
            Phase::Ws(w) => w.closing_until,
            Phase::Http(h) if h.pending.is_some() => None,
            Phase::Http(_) if self.rbuf.is_empty() => Some(now + IDLE_TIMEOUT),
            Phase::Http(h) if h.parser.head_done() => {
                let len = h.parser.body_length().unwrap_or(0) as u64;
                let total = self.request_started.unwrap_or(now)
                    + BODY_GRACE
                    + Duration::from_millis(len.saturating_mul(1000) / BODY_MIN_RATE);
                Some((self.last_read + BODY_IDLE_TIMEOUT).min(total))
            }
            Phase::Http(_) => Some(self.request_started.unwrap_or(now) + HEAD_TIMEOUT),
        };
        self.deadline
    }

    /// The deadline passed: what to do.
    pub fn on_deadline(&mut self) -> Expired {
        match self.phase {
            Phase::Http(_) if !self.rbuf.is_empty() => {
                Expired::Reply(HttpError::Timeout.response())
            }
            Phase::Http(_) => Expired::CloseWhenWritten,
            // A closing WebSocket whose peer does not read: free it now.
            Phase::Sse | Phase::Ws(_) => Expired::CloseNow,
        }
    }
}

/// What an expired connection deadline leads to.
pub enum Expired {
    /// Answer (408) and close.
    Reply(Response),
    /// Close once the write buffer drains.
    CloseWhenWritten,
    /// Close at once, dropping unsent output.
    CloseNow,
}
