//! One connection: its socket, bounded buffers, phase and deadline.
//!
//! ```text
//!   Http ──(GET /api/events accepted)──▶ Sse
//!     └──(Upgrade: websocket)──────────▶ WebSocket (Engine.IO or echo)
//! ```
//!
//! Http: requests are parsed one at a time; while a reply is pending (deferred by the hub, or
//! still in the write buffer beyond [`PAUSE_WRITE`]) no further request is parsed, so a
//! pipelining client that does not read gets backpressure, not an unbounded buffer.

use super::App;
use super::buffer::WriteBuf;
use crate::http::{Coding, HttpError, Parsed, Request, RequestParser, Response};
use crate::hub::ConnId;
use mio::Interest;
use mio::net::TcpStream;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Idle keep-alive connections close after this.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A request head must arrive within this from its first byte (slowloris).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A body must make progress at least this often.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Stop parsing more requests while this much output is queued.
pub const PAUSE_WRITE: usize = 256 * 1024;
/// An event stream whose unsent output exceeds this is dropped (slow client).
pub const SSE_MAX_PENDING: usize = 4 * 1024 * 1024;
/// A WebSocket peer whose unsent output exceeds this is dropped.
pub const WS_MAX_PENDING: usize = 64 * 1024 * 1024;
/// Read in chunks of this size.
const READ_CHUNK: usize = 16 * 1024;

/// The phase of a connection.
#[derive(Debug)]
pub enum Phase {
    /// HTTP/1.1 requests.
    Http(RequestParser),
    /// A Server-Sent Events stream (chunked).
    Sse,
    /// A WebSocket carrying Engine.IO or echoing.
    Ws(Box<crate::ws::Decoder>, WsTarget),
}

/// What a WebSocket connection serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsTarget {
    /// The transport (or upgrade probe) of this Engine.IO session.
    Eio(String),
    /// Every message is sent back (Autobahn).
    Echo,
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

/// A connection.
pub struct Conn {
    pub id: ConnId,
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub rbuf: Vec<u8>,
    pub wbuf: WriteBuf,
    pub phase: Phase,
    pub interest: Interest,
    pub deadline: Option<Instant>,
    pub armed: Option<Instant>,
    pub dirty: bool,
    pub close_after_write: bool,
    pub read_closed: bool,
    /// A deferred reply is pending: (HEAD request, keep-alive).
    pub awaiting_reply: Option<(bool, bool)>,
    /// The Engine.IO session whose long-poll GET this connection holds.
    pub polling_for: Option<String>,
    /// CORS origin to echo on that long-poll's answer.
    pub poll_allow_origin: Option<String>,
    /// A close frame was sent (WebSocket): no more data frames.
    pub ws_closing: bool,
    /// When the request currently being received started (for the head timeout).
    request_started: Option<Instant>,
    last_read: Instant,
    /// Upper bound for rbuf, set by the parser's limits (head + body of the current request).
    read_cap: usize,
    /// The last `fill` stopped at the cap, not at `WouldBlock`: the socket may hold more
    /// bytes, and readiness being edge-triggered, no new event will announce them.
    pub unread: bool,
    /// How the answer to the request in progress may be encoded (set when it is parsed,
    /// taken by its answer).
    pub coding: Coding,
    /// The event stream's gzip state (a fixed `GzipEncoder::SIZE`, under 16 KiB; see
    /// `crate::gzip`): every frame is compressed and sync-flushed into its own chunk.
    sse_gzip: Option<Box<crate::gzip::GzipEncoder>>,
}

impl Conn {
    /// A fresh HTTP connection.
    pub fn new(id: ConnId, stream: TcpStream, peer: SocketAddr, now: Instant) -> Conn {
        Conn {
            id,
            stream,
            peer,
            rbuf: Vec::new(),
            wbuf: WriteBuf::default(),
            phase: Phase::Http(RequestParser::new(crate::http::Limits::default())),
            interest: Interest::READABLE,
            deadline: Some(now + IDLE_TIMEOUT),
            armed: None,
            dirty: false,
            close_after_write: false,
            read_closed: false,
            awaiting_reply: None,
            polling_for: None,
            poll_allow_origin: None,
            ws_closing: false,
            request_started: None,
            last_read: now,
            read_cap: 64 * 1024,
            unread: false,
            coding: Coding::Never,
            sse_gzip: None,
        }
    }

    /// Whether reading is paused (backpressure, or a reply is pending).
    pub fn reading_paused(&self) -> bool {
        self.close_after_write
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
                    self.close_after_write = true;
                }
            }
        }
    }

    /// The next thing to do with buffered bytes.
    pub fn next_request(&mut self, api: &impl App) -> Step {
        if self.awaiting_reply.is_some() || self.close_after_write || self.wbuf.len() > PAUSE_WRITE
        {
            return Step::Idle;
        }
        let Phase::Http(parser) = &mut self.phase else {
            return Step::Idle;
        };
        if self.rbuf.is_empty() {
            return Step::Idle;
        }
        let cap = std::cell::Cell::new(0);
        let r = parser.parse(&self.rbuf, |h| {
            let l = api.body_limit(h);
            cap.set(l);
            l
        });
        let cap = cap.get();
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
                Step::Request(req)
            }
            Err(e) => Step::Error(e.response()),
        }
    }

    /// Serializes a response into the write buffer.
    pub fn write_response(&mut self, resp: &Response, head_only: bool) {
        let coding = std::mem::take(&mut self.coding);
        resp.write_coded(head_only, coding, self.wbuf.vec());
    }

    /// Switches to the event-stream phase and writes the response head (chunked).
    pub fn start_sse(&mut self, head: &Response) {
        let out = self.wbuf.vec();
        use std::fmt::Write as _;
        let mut s = String::from("HTTP/1.1 200 OK\r\n");
        let coding = std::mem::take(&mut self.coding);
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
        out.extend_from_slice(s.as_bytes());
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
        true
    }

    /// Whether this is an HTTP connection with nothing in progress.
    pub fn is_idle_http(&self) -> bool {
        matches!(self.phase, Phase::Http(_)) && self.awaiting_reply.is_none()
    }

    /// Whether the connection is an event stream (a read EOF ends it).
    pub fn phase_is_stream(&self) -> bool {
        matches!(self.phase, Phase::Sse)
    }

    /// Switches to the WebSocket phase; `leftover` bytes after the handshake stay buffered.
    pub fn start_ws(&mut self, target: WsTarget, max_message: usize) {
        let limits = crate::ws::Limits {
            max_frame: max_message,
            max_message,
        };
        self.phase = Phase::Ws(Box::new(crate::ws::Decoder::new(limits)), target);
        self.read_cap = max_message.saturating_add(64);
        self.deadline = None;
        self.request_started = None;
    }

    /// Queues a WebSocket frame; false when the peer is too slow (drop it).
    pub fn push_ws(&mut self, op: crate::ws::OpCode, payload: &[u8]) -> bool {
        if self.ws_closing {
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

    /// Queues a close frame and closes after it is written.
    pub fn close_ws(&mut self, code: u16) {
        if !self.ws_closing {
            crate::ws::encode_close(code, "", self.wbuf.vec());
            self.ws_closing = true;
        }
        self.close_after_write = true;
    }

    /// Recomputes the deadline from the phase and progress.
    pub fn refresh_deadline(&mut self, now: Instant) -> Option<Instant> {
        self.deadline = match self.phase {
            Phase::Sse | Phase::Ws(..) => None,
            Phase::Http(_) if self.awaiting_reply.is_some() => None,
            Phase::Http(_) if self.rbuf.is_empty() => Some(now + IDLE_TIMEOUT),
            Phase::Http(ref p) if p.head_done() => Some(self.last_read + BODY_IDLE_TIMEOUT),
            Phase::Http(_) => Some(self.request_started.unwrap_or(now) + HEAD_TIMEOUT),
        };
        self.deadline
    }

    /// The deadline passed: the response to send before closing, if any.
    pub fn on_deadline(&mut self) -> Option<Response> {
        match self.phase {
            Phase::Http(_) if !self.rbuf.is_empty() => Some(HttpError::Timeout.response()),
            _ => None,
        }
    }
}
