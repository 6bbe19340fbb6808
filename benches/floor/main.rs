//! Floors for issue 18: the same work as hapid with nothing of hapid around it, on the same
//! loop shape (one thread, one `mio::Poll`, non-blocking sockets, read and write to
//! `WouldBlock`). Each hapid figure in `benches/floor/run.sh` is reported as a ratio to its
//! floor, measured in the same run.
//!
//! ```text
//! floor list-server [--body-bytes 31600]   answers every HTTP/1.1 request on a keep-alive
//!                                          connection with one fixed JSON body
//! floor sse-server                         GET /events*: a chunked text/event-stream with
//!                                          one first frame; POST /emit: its body becomes
//!                                          one `data:` frame written to every stream
//! floor store [--messages 20000] [--batch 32] [--max-secs 10]
//!                                          the raw store path, in this process: parse a
//!                                          ~1.2 KB Socket.IO `message` payload, insert the
//!                                          row (hapid's schema and pragmas: WAL,
//!                                          synchronous=FULL), commit every --batch rows
//! ```
//!
//! The servers print `port <n>` on stdout and serve 127.0.0.1 until killed; the load client
//! (`benches/load`) drives them exactly as it drives hapid and reads their CPU from `/proc`.
//! `store` measures its own CPU (`/proc/self/stat`) and prints one JSON line.
//!
//! Run: `benches/floor/run.sh` (builds with `cargo bench --no-run`).

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "../common/mod.rs"]
mod common;

const LISTENER: Token = Token(usize::MAX);

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let opt = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let r: Result<(), Box<dyn std::error::Error>> = match args.first().map(String::as_str) {
        Some("list-server") => serve(Mode::List(list_response(
            opt("--body-bytes", 31_600) as usize
        )))
        .map_err(Into::into),
        Some("sse-server") => serve(Mode::Sse).map_err(Into::into),
        Some("store") => store(
            opt("--messages", 20_000),
            opt("--batch", 32).max(1),
            opt("--max-secs", 10),
        ),
        _ => {
            eprintln!(
                "usage: floor list-server [--body-bytes N] | sse-server | store [--messages N] [--batch B] [--max-secs S]"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        eprintln!("floor: {e}");
        std::process::exit(1);
    }
}

// ------------------------------------------------------------------------------- servers

enum Mode {
    /// The whole response (head and body) to every request.
    List(Vec<u8>),
    Sse,
}

/// A fixed `application/json` response of `body` bytes (a JSON string of filler).
fn list_response(body: usize) -> Vec<u8> {
    let mut b = String::with_capacity(body);
    b.push_str("{\"sessions\":\"");
    while b.len() + 2 < body {
        b.push_str("abcdefghij"[..(body - 2 - b.len()).min(10)].as_ref());
    }
    b.push_str("\"}");
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        b.len()
    )
    .into_bytes();
    r.extend_from_slice(b.as_bytes());
    r
}

struct Conn {
    sock: TcpStream,
    rbuf: Vec<u8>,
    /// Bytes not yet accepted by the kernel, from `woff`.
    wbuf: Vec<u8>,
    woff: usize,
    sse: bool,
    writable_armed: bool,
    dead: bool,
}

impl Conn {
    /// Writes `bytes` after whatever is queued; queues what the kernel does not take.
    fn send(&mut self, bytes: &[u8]) {
        if self.wbuf.len() > self.woff {
            self.wbuf.extend_from_slice(bytes);
            return;
        }
        self.wbuf.clear();
        self.woff = 0;
        let mut off = 0;
        while off < bytes.len() {
            match self.sock.write(&bytes[off..]) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        self.wbuf.extend_from_slice(&bytes[off..]);
    }

    fn flush(&mut self) {
        while self.woff < self.wbuf.len() {
            match self.sock.write(&self.wbuf[self.woff..]) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => self.woff += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        self.wbuf.clear();
        self.woff = 0;
    }

    /// Reads to `WouldBlock`; false at EOF or error.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.sock.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

/// One chunk of a chunked body holding one SSE frame `data: <json>\n\n`.
fn sse_chunk(json: &[u8]) -> Vec<u8> {
    let len = json.len() + 8;
    let mut c = format!("{len:x}\r\ndata: ").into_bytes();
    c.extend_from_slice(json);
    c.extend_from_slice(b"\n\n\r\n");
    c
}

fn serve(mode: Mode) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("port {}", listener.local_addr()?.port());
    io::stdout().flush()?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut streams: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(4096);
    let sse_head: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n";
    let hello = sse_chunk(br#"{"type":"connection-changed","data":{"status":"connected"}}"#);
    loop {
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        }
        let mut touched: Vec<usize> = Vec::new();
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut sock, _)) => {
                            let _ = sock.set_nodelay(true);
                            let slot = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry()
                                .register(&mut sock, Token(slot), Interest::READABLE)?;
                            conns[slot] = Some(Conn {
                                sock,
                                rbuf: Vec::new(),
                                wbuf: Vec::new(),
                                woff: 0,
                                sse: false,
                                writable_armed: false,
                                dead: false,
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            eprintln!("accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let slot = ev.token().0;
            let Some(Some(c)) = conns.get_mut(slot) else {
                continue;
            };
            if ev.is_writable() {
                c.flush();
            }
            if ev.is_readable() && !c.fill() {
                c.dead = true;
            }
            // Requests, in order; a request needs its whole head (and body, for POST).
            let mut emits: Vec<Vec<u8>> = Vec::new();
            while !c.dead && !c.rbuf.is_empty() {
                let mut hs = [httparse::EMPTY_HEADER; 32];
                let mut req = httparse::Request::new(&mut hs);
                let head = match req.parse(&c.rbuf) {
                    Ok(httparse::Status::Complete(n)) => n,
                    Ok(httparse::Status::Partial) => break,
                    Err(_) => {
                        c.dead = true;
                        break;
                    }
                };
                let clen = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| {
                        std::str::from_utf8(h.value)
                            .ok()?
                            .trim()
                            .parse::<usize>()
                            .ok()
                    })
                    .unwrap_or(0);
                if c.rbuf.len() < head + clen {
                    break;
                }
                let path = req.path.unwrap_or("/");
                match &mode {
                    Mode::List(resp) => c.send(resp),
                    Mode::Sse if path.starts_with("/events") => {
                        c.send(sse_head);
                        c.send(&hello);
                        c.sse = true;
                        streams.push(slot);
                    }
                    Mode::Sse if path.starts_with("/emit") => {
                        emits.push(c.rbuf[head..head + clen].to_vec());
                        c.send(b"HTTP/1.1 204 No Content\r\n\r\n");
                    }
                    Mode::Sse => c.send(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
                }
                c.rbuf.drain(..head + clen);
            }
            touched.push(slot);
            for body in emits {
                let chunk = sse_chunk(&body);
                for &s in &streams {
                    if let Some(Some(sc)) = conns.get_mut(s) {
                        sc.send(&chunk);
                        touched.push(s);
                    }
                }
            }
        }
        // Interest follows the write buffer; dead connections are closed.
        touched.sort_unstable();
        touched.dedup();
        for slot in touched {
            let Some(c) = conns[slot].as_mut() else {
                continue;
            };
            if c.dead {
                let _ = poll.registry().deregister(&mut c.sock);
                if c.sse {
                    streams.retain(|&s| s != slot);
                }
                conns[slot] = None;
                free.push(slot);
                continue;
            }
            let want = c.wbuf.len() > c.woff;
            if want != c.writable_armed {
                let i = if want {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                poll.registry().reregister(&mut c.sock, Token(slot), i)?;
                c.writable_armed = want;
            }
        }
    }
}

// ------------------------------------------------------------------------------- store

fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::getrandom(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn store(messages: u64, batch: u64, max_secs: u64) -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("hapid-floor-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("floor.db");
    let db = rusqlite::Connection::open(&path)?;
    // hapid's pragmas (src/store/mod.rs) and its messages table (schema v2).
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    db.pragma_update(None, "foreign_keys", "ON")?;
    db.pragma_update(None, "wal_autocheckpoint", 100)?;
    db.execute_batch(
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, namespace TEXT NOT NULL);
         CREATE TABLE messages (
            id TEXT NOT NULL,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            local_id TEXT,
            content TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            UNIQUE (session_id, seq)
         );
         CREATE UNIQUE INDEX messages_by_local_id ON messages (session_id, local_id)
            WHERE local_id IS NOT NULL;",
    )?;
    let sid = uuid_v4();
    db.execute(
        "INSERT INTO sessions (id, namespace) VALUES (?1, 'default')",
        [&sid],
    )?;
    let payloads: Vec<String> = (0..messages)
        .map(|i| common::message_event(&sid, i))
        .collect();
    let bytes = payloads[0].len();

    let tck = common::clk_tck();
    let w = common::Window::start(tck, None);
    let deadline = Instant::now() + Duration::from_secs(max_secs);
    let mut done = 0u64;
    let mut commits = 0u64;
    for (i, p) in payloads.iter().enumerate() {
        if db.is_autocommit() {
            db.execute_batch("BEGIN IMMEDIATE")?;
        }
        let v: serde_json::Value = serde_json::from_str(p)?;
        let ev = v.get(1).ok_or("no payload")?;
        let content = serde_json::to_string(ev.get("message").ok_or("no message")?)?;
        let local = ev.get("localId").and_then(|x| x.as_str());
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
        db.prepare_cached(
            "INSERT INTO messages (id, session_id, seq, local_id, content, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(rusqlite::params![
            uuid_v4(),
            sid,
            i as i64 + 1,
            local,
            content,
            now
        ])?;
        done += 1;
        if done.is_multiple_of(batch) {
            db.execute_batch("COMMIT")?;
            commits += 1;
            if Instant::now() > deadline {
                break;
            }
        }
    }
    if !db.is_autocommit() {
        db.execute_batch("COMMIT")?;
        commits += 1;
    }
    let cpu = w.finish();
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{{\"scenario\":\"store\",\"messages\":{done},\"batch\":{batch},\"commits\":{commits},\"payload_bytes\":{bytes},\"wall_s\":{:.3},\"msg_per_s\":{:.1},\"cpu_us_per_msg\":{:.2},\"self_ms\":{:.1},\"noise_cores\":{:.3}}}",
        cpu.wall_s,
        done as f64 / cpu.wall_s,
        cpu.self_ms * 1000.0 / done as f64,
        cpu.self_ms,
        cpu.noise_cores()
    );
    Ok(())
}
