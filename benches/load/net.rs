//! The load client's one `mio::Poll` loop: HTTP keep-alive connections, SSE streams and
//! `/cli` Socket.IO sockets (Engine.IO v4 over WebSocket), all in this thread.
//!
//! [`Net::poll`] returns high-level events stamped with the monotonic time at which
//! `epoll_wait` returned: the data of every event in that batch had arrived by then, so the
//! stamp does not include the time the client then spends on the batch. Engine.IO pings are
//! answered and the `/cli` namespace is joined here; the scenarios see Socket.IO packets.

use super::wire::{self, Chunked};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What a connection is.
pub enum Kind {
    /// Requests written by the scenario; one [`Ev::Http`] per response.
    Http,
    /// `GET` an event stream; [`Ev::Sse`] per `data:` frame.
    Sse,
    /// A WebSocket to `/socket.io/`; on the Engine.IO open packet it sends `40/cli,<auth>`.
    Cli { auth: String },
}

/// Something that happened on connection `id`, with the time `epoll_wait` returned.
#[derive(Debug)]
pub enum Ev {
    Http {
        id: usize,
        status: u16,
        body_len: usize,
        at: Instant,
    },
    /// One SSE frame; `k` is the number after `"benchK":` if the frame has one.
    Sse {
        id: usize,
        k: Option<u64>,
        frame_len: usize,
        at: Instant,
    },
    /// A Socket.IO packet (the Engine.IO `4` stripped), e.g. `3/cli,7[...]`.
    Cli {
        id: usize,
        text: String,
    },
    Closed {
        id: usize,
        why: String,
    },
}

struct Conn {
    sock: TcpStream,
    kind: Kind,
    connected: bool,
    closed: bool,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    woff: usize,
    /// HTTP/SSE: the head of the current response was read, and its status.
    head: bool,
    status: u16,
    clen: Option<usize>,
    chunked: Option<Chunked>,
    /// SSE: decoded body not yet split into frames; Cli: fragmented message so far.
    body: Vec<u8>,
    /// Cli: the 101 was read.
    ws: bool,
}

/// All connections of one scenario.
pub struct Net {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    out: Vec<Ev>,
    addr: SocketAddr,
    key: u32,
    /// Every read lands here first (allocated once).
    scratch: Box<[u8]>,
    /// Open connections.
    pub open: usize,
}

impl Net {
    pub fn new(port: u16) -> io::Result<Net> {
        Ok(Net {
            poll: Poll::new()?,
            events: Events::with_capacity(8192),
            conns: Vec::new(),
            out: Vec::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            key: 0x9e37_79b9,
            scratch: vec![0u8; 64 * 1024].into_boxed_slice(),
            open: 0,
        })
    }

    /// Opens a connection of `kind` whose first bytes are `first` (the request or the
    /// WebSocket upgrade); returns its id.
    pub fn connect(&mut self, kind: Kind, first: &[u8]) -> io::Result<usize> {
        let id = self.conns.len();
        let mut sock = TcpStream::connect(self.addr)?;
        sock.set_nodelay(true)?;
        // Both interests once, edge-triggered: no re-registration per write.
        self.poll.registry().register(
            &mut sock,
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.conns.push(Conn {
            sock,
            kind,
            connected: false,
            closed: false,
            rbuf: Vec::new(),
            wbuf: first.to_vec(),
            woff: 0,
            head: false,
            status: 0,
            clen: None,
            chunked: None,
            body: Vec::new(),
            ws: false,
        });
        self.open += 1;
        Ok(id)
    }

    /// Opens a `/cli` socket (`auth` is the CONNECT packet's JSON object).
    pub fn cli(&mut self, auth: String) -> io::Result<usize> {
        let req = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        self.connect(Kind::Cli { auth }, req.as_bytes())
    }

    /// Queues raw bytes on `id` and writes what the kernel takes.
    pub fn send(&mut self, id: usize, bytes: &[u8]) {
        let c = &mut self.conns[id];
        if c.closed {
            return;
        }
        c.wbuf.extend_from_slice(bytes);
        Self::flush(c);
    }

    /// Sends one Socket.IO packet (without the Engine.IO `4`) on a Cli connection.
    pub fn emit(&mut self, id: usize, packet: &str) {
        let mut p = Vec::with_capacity(packet.len() + 1);
        p.push(b'4');
        p.extend_from_slice(packet.as_bytes());
        self.send_ws(id, 1, &p);
    }

    fn send_ws(&mut self, id: usize, op: u8, payload: &[u8]) {
        self.key ^= self.key << 13;
        self.key ^= self.key >> 17;
        self.key ^= self.key << 5;
        let c = &mut self.conns[id];
        if c.closed {
            return;
        }
        wire::ws_encode(&mut c.wbuf, op, payload, self.key.to_ne_bytes());
        Self::flush(c);
    }

    /// Closes every connection.
    pub fn close_all(&mut self) {
        for c in &mut self.conns {
            if !c.closed {
                let _ = self.poll.registry().deregister(&mut c.sock);
                let _ = c.sock.shutdown(std::net::Shutdown::Both);
                c.closed = true;
            }
        }
        self.open = 0;
    }

    fn flush(c: &mut Conn) {
        if !c.connected {
            return;
        }
        while c.woff < c.wbuf.len() {
            match c.sock.write(&c.wbuf[c.woff..]) {
                Ok(0) => break,
                Ok(n) => c.woff += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break, // WouldBlock: the writable event resumes; errors show on read
            }
        }
        if c.woff == c.wbuf.len() {
            c.wbuf.clear();
            c.woff = 0;
        }
    }

    /// Waits up to `timeout` and returns what happened.
    pub fn poll(&mut self, timeout: Option<Duration>) -> io::Result<Vec<Ev>> {
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Vec::new()),
            r => r?,
        }
        let at = Instant::now();
        let ready: Vec<(usize, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                (
                    e.token().0,
                    e.is_readable() || e.is_read_closed() || e.is_error(),
                    e.is_writable(),
                )
            })
            .collect();
        let mut pongs: Vec<(usize, u8, Vec<u8>)> = Vec::new();
        for (id, readable, writable) in ready {
            let Some(c) = self.conns.get_mut(id) else {
                continue;
            };
            if c.closed {
                continue;
            }
            if writable && !c.connected {
                match c.sock.take_error() {
                    Ok(Some(e)) | Err(e) => {
                        Self::close(
                            &self.poll,
                            c,
                            &mut self.out,
                            &mut self.open,
                            id,
                            format!("connect: {e}"),
                        );
                        continue;
                    }
                    Ok(None) => {}
                }
                match c.sock.peer_addr() {
                    Ok(_) => c.connected = true,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                    Err(e) => {
                        Self::close(
                            &self.poll,
                            c,
                            &mut self.out,
                            &mut self.open,
                            id,
                            format!("connect: {e}"),
                        );
                        continue;
                    }
                }
            }
            if writable {
                Self::flush(c);
            }
            if !readable {
                continue;
            }
            let mut eof = false;
            loop {
                match c.sock.read(&mut self.scratch) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        c.rbuf.extend_from_slice(&self.scratch[..n]);
                        // A short read drained the socket; new data raises a new edge.
                        if n < self.scratch.len() {
                            break;
                        }
                    }
                    Err(e) => match e.kind() {
                        io::ErrorKind::WouldBlock => break,
                        io::ErrorKind::Interrupted => {}
                        _ => {
                            eof = true;
                            break;
                        }
                    },
                }
            }
            if !c.connected && !c.rbuf.is_empty() {
                c.connected = true;
            }
            if let Err(why) = Self::decode(c, id, at, &mut self.out, &mut pongs) {
                Self::close(&self.poll, c, &mut self.out, &mut self.open, id, why);
                continue;
            }
            if eof {
                Self::close(
                    &self.poll,
                    c,
                    &mut self.out,
                    &mut self.open,
                    id,
                    "closed by peer".into(),
                );
            }
        }
        for (id, op, payload) in pongs {
            self.send_ws(id, op, &payload);
        }
        Ok(std::mem::take(&mut self.out))
    }

    fn close(
        poll: &Poll,
        c: &mut Conn,
        out: &mut Vec<Ev>,
        open: &mut usize,
        id: usize,
        why: String,
    ) {
        if c.closed {
            return;
        }
        let _ = poll.registry().deregister(&mut c.sock);
        c.closed = true;
        *open -= 1;
        out.push(Ev::Closed { id, why });
    }

    /// Turns the bytes read so far into events; `replies` collects WebSocket frames to send
    /// (pongs, the namespace CONNECT) after the borrow of `c` ends.
    fn decode(
        c: &mut Conn,
        id: usize,
        at: Instant,
        out: &mut Vec<Ev>,
        replies: &mut Vec<(usize, u8, Vec<u8>)>,
    ) -> Result<(), String> {
        match &c.kind {
            Kind::Http => loop {
                if !c.head {
                    let Some(h) = wire::parse_head(&c.rbuf)? else {
                        return Ok(());
                    };
                    c.rbuf.drain(..h.used);
                    c.head = true;
                    c.clen = h.content_length;
                    c.chunked = h.chunked.then(Chunked::default);
                    c.body.clear();
                    if c.clen.is_none() && c.chunked.is_none() {
                        c.clen = Some(0);
                    }
                    c.status = h.status;
                }
                let status = c.status;
                let body_len = if let Some(n) = c.clen {
                    if c.rbuf.len() < n {
                        return Ok(());
                    }
                    c.rbuf.drain(..n);
                    n
                } else {
                    let d = c.chunked.as_mut().ok_or("no body framing")?;
                    let mut sink = std::mem::take(&mut c.body);
                    let used = d.decode(&c.rbuf, &mut sink)?;
                    c.rbuf.drain(..used);
                    let done = d.done();
                    let n = sink.len();
                    c.body = sink;
                    if !done {
                        return Ok(());
                    }
                    n
                };
                c.head = false;
                out.push(Ev::Http {
                    id,
                    status,
                    body_len,
                    at,
                });
            },
            Kind::Sse => {
                if !c.head {
                    let Some(h) = wire::parse_head(&c.rbuf)? else {
                        return Ok(());
                    };
                    if h.status != 200 {
                        return Err(format!("SSE status {}", h.status));
                    }
                    c.rbuf.drain(..h.used);
                    c.head = true;
                    c.chunked = h.chunked.then(Chunked::default);
                }
                match c.chunked.as_mut() {
                    Some(d) => {
                        let used = d.decode(&c.rbuf, &mut c.body)?;
                        c.rbuf.drain(..used);
                    }
                    None => c.body.append(&mut c.rbuf),
                }
                let mut off = 0;
                while let Some(p) = c.body[off..].windows(2).position(|w| w == b"\n\n") {
                    let frame = &c.body[off..off + p];
                    out.push(Ev::Sse {
                        id,
                        k: bench_k(frame),
                        frame_len: frame.len(),
                        at,
                    });
                    off += p + 2;
                }
                c.body.drain(..off);
                Ok(())
            }
            Kind::Cli { auth } => {
                if !c.ws {
                    let Some(end) = c.rbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        return Ok(());
                    };
                    if !c.rbuf.starts_with(b"HTTP/1.1 101") {
                        return Err(format!(
                            "upgrade refused: {}",
                            String::from_utf8_lossy(&c.rbuf[..end])
                        ));
                    }
                    c.rbuf.drain(..end + 4);
                    c.ws = true;
                }
                let mut off = 0;
                while let Some((used, fin, op, r)) = wire::ws_frame(&c.rbuf[off..], 64 << 20)? {
                    let payload = &c.rbuf[off + r.start..off + r.end];
                    match op {
                        0 | 1 => {
                            c.body.extend_from_slice(payload);
                            if fin {
                                let msg = std::mem::take(&mut c.body);
                                match msg.first() {
                                    Some(b'0') => {
                                        replies.push((id, 1, format!("40/cli,{auth}").into_bytes()))
                                    }
                                    Some(b'2') => replies.push((id, 1, b"3".to_vec())),
                                    Some(b'4') => out.push(Ev::Cli {
                                        id,
                                        text: String::from_utf8_lossy(&msg[1..]).into_owned(),
                                    }),
                                    Some(b'1') => return Err("Engine.IO close".into()),
                                    _ => {}
                                }
                            }
                        }
                        8 => return Err("WebSocket close".into()),
                        9 => replies.push((id, 10, payload.to_vec())),
                        _ => {}
                    }
                    off += used;
                }
                c.rbuf.drain(..off);
                Ok(())
            }
        }
    }
}

/// The number after `"benchK":` in an SSE frame, if any.
fn bench_k(frame: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"benchK\":";
    let p = frame.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = frame[p..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&frame[p..p + digits])
        .ok()?
        .parse()
        .ok()
}
