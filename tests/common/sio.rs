//! A small Engine.IO v4 / Socket.IO v5 client over a raw WebSocket, for the `/cli` side of
//! integration tests. Frames are masked with `hapid::ws::encode_masked`; hapid's own decoder
//! only reads masked (client) frames, so server frames are parsed here.

use super::{Closed, Hub};
use hapid::ws::{OpCode, encode_masked};
use serde_json::{Value, json};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One `/cli` Socket.IO socket over its own Engine.IO websocket connection.
pub struct Sio {
    stream: TcpStream,
    buf: Vec<u8>,
    next_ack: u64,
    mask: u32,
}

impl Sio {
    /// Opens the websocket, reads the Engine.IO open packet and connects to `/cli` with
    /// `auth`; panics on `connect_error`.
    pub fn connect(hub: &Hub, auth: &Value) -> Sio {
        Sio::try_connect(hub, "/cli", auth).unwrap_or_else(|e| panic!("connect_error: {e}"))
    }

    /// Like [`Sio::connect`] for namespace `nsp`; a `connect_error` gives its message.
    pub fn try_connect(hub: &Hub, nsp: &str, auth: &Value) -> Result<Sio, String> {
        let stream = TcpStream::connect(hub.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let mut c = Sio {
            stream,
            buf: Vec::new(),
            next_ack: 1,
            mask: 0x1234_5678,
        };
        let key = "b3BzLXRlc3Qta2V5LTAwMQ==";
        let req = format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        c.stream.write_all(req.as_bytes()).unwrap();
        let end = loop {
            if let Some(i) = c.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            c.fill().expect("reading the upgrade response");
        };
        let head = String::from_utf8_lossy(&c.buf[..end]).to_string();
        c.buf.drain(..end + 4);
        assert!(head.starts_with("HTTP/1.1 101"), "no upgrade: {head}");
        let accept = hapid::ws::accept_key(key);
        assert!(
            head.to_ascii_lowercase().contains(&format!(
                "sec-websocket-accept: {}",
                accept.to_ascii_lowercase()
            )),
            "bad accept in {head}"
        );
        let open = c.recv_text().expect("Engine.IO open packet");
        assert!(open.starts_with("0{"), "not an open packet: {open}");
        c.send_text(&format!("40{nsp},{auth}"));
        loop {
            let t = c.recv_text().expect("CONNECT reply");
            if t.starts_with(&format!("40{nsp},")) {
                return Ok(c);
            }
            if let Some(e) = t.strip_prefix(&format!("44{nsp},")) {
                let e: Value = serde_json::from_str(e).expect("connect_error JSON");
                return Err(e["message"].as_str().unwrap_or_default().to_string());
            }
        }
    }

    pub fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn send_frame(&mut self, op: OpCode, payload: &[u8]) -> io::Result<()> {
        self.mask = self
            .mask
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        let mut out = Vec::with_capacity(payload.len() + 14);
        encode_masked(op, true, payload, self.mask.to_be_bytes(), &mut out);
        self.stream.write_all(&out)
    }

    pub fn send_text(&mut self, s: &str) {
        self.send_frame(OpCode::Text, s.as_bytes())
            .unwrap_or_else(|e| panic!("websocket write: {e}"));
    }

    /// The next server frame: (opcode, payload). Server frames are unmasked and unfragmented.
    pub fn recv_frame(&mut self) -> io::Result<(u8, Vec<u8>)> {
        loop {
            let b = &self.buf;
            if b.len() >= 2 {
                assert_eq!(b[1] & 0x80, 0, "server frames are not masked");
                assert_ne!(b[0] & 0x80, 0, "hapid does not fragment");
                let (len, off) = match b[1] & 0x7f {
                    126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                    127 if b.len() >= 10 => {
                        let mut l = [0u8; 8];
                        l.copy_from_slice(&b[2..10]);
                        (u64::from_be_bytes(l) as usize, 10)
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && b.len() >= off + len {
                    let op = b[0] & 0x0f;
                    let payload = b[off..off + len].to_vec();
                    self.buf.drain(..off + len);
                    return Ok((op, payload));
                }
            }
            self.fill()?;
        }
    }

    /// The next Engine.IO text packet other than a ping (pings are answered).
    pub fn recv_text(&mut self) -> io::Result<String> {
        loop {
            let (op, payload) = self.recv_frame()?;
            match op {
                0x1 => {
                    let t = String::from_utf8(payload).expect("UTF-8 text frame");
                    if t == "2" {
                        self.send_frame(OpCode::Text, b"3")?;
                        continue;
                    }
                    return Ok(t);
                }
                0x8 => return Err(io::ErrorKind::ConnectionAborted.into()),
                0x9 => self.send_frame(OpCode::Pong, &payload)?,
                _ => {}
            }
        }
    }

    /// Emits `event` on `/cli` without an ack.
    pub fn emit(&mut self, event: &str, payload: &Value) {
        self.send_text(&format!("42/cli,{}", json!([event, payload])));
    }

    /// Emits `event` with an ack id; returns the id.
    pub fn emit_ack(&mut self, event: &str, payload: &Value) -> u64 {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send_text(&format!("42/cli,{id}{}", json!([event, payload])));
        id
    }

    /// The next ack on `/cli`: (id, first argument). Other packets are skipped.
    pub fn recv_ack(&mut self) -> io::Result<(u64, Value)> {
        loop {
            let t = self.recv_text()?;
            let Some(rest) = t.strip_prefix("43/cli,") else {
                continue;
            };
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let id: u64 = rest[..digits].parse().expect("ack id");
            let args: Value = serde_json::from_str(&rest[digits..]).expect("ack arguments");
            return Ok((id, args[0].clone()));
        }
    }

    /// Waits for EOF or a Close frame; how it ended.
    pub fn wait_closed(&mut self, timeout: Duration) -> Closed {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        loop {
            match self.recv_frame() {
                Ok((0x8, _)) => return Closed::Eof,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Closed::Eof,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Closed::Reset,
                Err(_) => return Closed::Timeout,
            }
        }
    }
}

impl Sio {
    /// Emits several events with ack ids in ONE TCP write (so the hub handles them in one
    /// loop turn); returns their ack ids.
    pub fn emit_acks_in_one_write(&mut self, events: &[(&str, Value)]) -> Vec<u64> {
        let mut out = Vec::new();
        let mut ids = Vec::new();
        for (event, payload) in events {
            let id = self.next_ack;
            self.next_ack += 1;
            ids.push(id);
            self.mask = self
                .mask
                .wrapping_mul(1_664_525)
                .wrapping_add(1_013_904_223);
            let text = format!("42/cli,{id}{}", json!([event, payload]));
            encode_masked(
                OpCode::Text,
                true,
                text.as_bytes(),
                self.mask.to_be_bytes(),
                &mut out,
            );
        }
        self.stream
            .write_all(&out)
            .unwrap_or_else(|e| panic!("websocket write: {e}"));
        ids
    }
}
