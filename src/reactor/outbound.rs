//! The outbound HTTP(S) client: Web Push, Telegram and ElevenLabs requests, on the loop.
//!
//! ```text
//! queued ─▶ resolving (helper thread, answers via mio::Waker) ─▶ connecting (non-blocking)
//!        ─▶ exchanging (TLS via rustls, or plain) ─▶ done / failed / timed out
//! ```
//!
//! DNS is the one blocking call, so it runs on the single resolver helper thread DESIGN.md
//! allows; everything else is non-blocking on the loop. At most [`MAX_ACTIVE`] exchanges run
//! at once, at most [`MAX_QUEUED`] wait (the oldest is failed first when full), response
//! bodies are bounded, and every request has a deadline.

use crate::http::client::{self, ClientRequest, ClientResponse};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Concurrent exchanges.
pub const MAX_ACTIVE: usize = 16;
/// Waiting requests.
pub const MAX_QUEUED: usize = 512;
/// Largest response body kept.
pub const MAX_BODY: usize = 1024 * 1024;
/// First token of outbound connections (inbound ones are below).
pub const TOKEN_BASE: usize = 1 << 30;

/// One outbound request with its id (chosen by the app) and deadline.
#[derive(Debug)]
pub struct Job {
    /// The app's id, echoed in the result.
    pub id: u64,
    /// The request.
    pub req: ClientRequest,
    /// Whole-exchange timeout.
    pub timeout: Duration,
}

enum State {
    Resolving,
    Connecting(TcpStream),
    Exchanging(TcpStream),
}

struct Active {
    job_id: u64,
    state: State,
    tls: Option<rustls::ClientConnection>,
    request: Vec<u8>,
    written: usize,
    response: Vec<u8>,
    eof: bool,
    deadline: Instant,
    host: String,
    https: bool,
}

/// The client.
pub struct Outbound {
    tls_config: Arc<rustls::ClientConfig>,
    queue: VecDeque<(Job, Instant)>,
    active: HashMap<usize, Active>,
    next_token: usize,
    resolve_tx: Option<mpsc::Sender<(usize, String, u16)>>,
    resolve_rx: mpsc::Receiver<(usize, io::Result<Vec<SocketAddr>>)>,
    done: Vec<(u64, Result<ClientResponse, String>)>,
    /// Counters: started, succeeded (any HTTP status), failed.
    pub stats: (u64, u64, u64),
}

impl Outbound {
    /// Starts the resolver thread; it wakes the loop through `waker`.
    pub fn new(waker: Arc<mio::Waker>) -> io::Result<Outbound> {
        let (req_tx, req_rx) = mpsc::channel::<(usize, String, u16)>();
        let (res_tx, res_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("hapid-resolver".into())
            .spawn(move || {
                // The one helper thread: blocking getaddrinfo, results back to the loop.
                while let Ok((token, host, port)) = req_rx.recv() {
                    let r = (host.as_str(), port)
                        .to_socket_addrs()
                        .map(|a| a.collect::<Vec<_>>());
                    if res_tx.send((token, r)).is_err() {
                        return;
                    }
                    let _ = waker.wake();
                }
            })?;
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Outbound {
            tls_config: Arc::new(config),
            queue: VecDeque::new(),
            active: HashMap::new(),
            next_token: TOKEN_BASE,
            resolve_tx: Some(req_tx),
            resolve_rx: res_rx,
            done: Vec::new(),
            stats: (0, 0, 0),
        })
    }

    /// Requests waiting or running.
    pub fn in_flight(&self) -> (usize, usize) {
        (self.queue.len(), self.active.len())
    }

    /// Queues a request (the oldest waiting one fails when the queue is full).
    pub fn submit(&mut self, job: Job, now: Instant, registry: &Registry) {
        if self.queue.len() >= MAX_QUEUED
            && let Some((old, _)) = self.queue.pop_front()
        {
            self.done.push((old.id, Err("outbound queue full".into())));
        }
        self.queue.push_back((job, now));
        self.start_more(now, registry);
    }

    fn start_more(&mut self, now: Instant, registry: &Registry) {
        while self.active.len() < MAX_ACTIVE {
            let Some((job, queued_at)) = self.queue.pop_front() else {
                return;
            };
            let deadline = queued_at + job.timeout;
            if deadline <= now {
                self.done.push((job.id, Err("timed out in queue".into())));
                continue;
            }
            let token = self.next_token;
            self.next_token = if self.next_token >= usize::MAX - 1 {
                TOKEN_BASE
            } else {
                self.next_token + 1
            };
            self.stats.0 += 1;
            let url = &job.req.url;
            let a = Active {
                job_id: job.id,
                state: State::Resolving,
                tls: None,
                request: job.req.serialize(),
                written: 0,
                response: Vec::new(),
                eof: false,
                deadline,
                host: url.host.clone(),
                https: url.https,
            };
            let literal: Option<std::net::IpAddr> = a.host.parse().ok();
            self.active.insert(token, a);
            match literal {
                Some(ip) => self.connect(token, vec![SocketAddr::new(ip, url.port)], registry),
                None => {
                    let sent = self
                        .resolve_tx
                        .as_ref()
                        .map(|tx| tx.send((token, url.host.clone(), url.port)));
                    if !matches!(sent, Some(Ok(()))) {
                        self.fail(token, "resolver unavailable".into(), registry);
                    }
                }
            }
        }
    }

    /// Takes resolver answers (after the waker fired).
    pub fn on_wake(&mut self, now: Instant, registry: &Registry) {
        while let Ok((token, result)) = self.resolve_rx.try_recv() {
            if !self.active.contains_key(&token) {
                continue; // timed out meanwhile
            }
            match result {
                Ok(addrs) if !addrs.is_empty() => self.connect(token, addrs, registry),
                Ok(_) => self.fail(token, "name has no addresses".into(), registry),
                Err(e) => self.fail(token, format!("name resolution failed: {e}"), registry),
            }
        }
        self.start_more(now, registry);
    }

    fn connect(&mut self, token: usize, addrs: Vec<SocketAddr>, registry: &Registry) {
        let Some(a) = self.active.get_mut(&token) else {
            return;
        };
        // First address only; push services and the APIs used here are reachable on it.
        let Some(addr) = addrs.first().copied() else {
            return self.fail(token, "no address".into(), registry);
        };
        let mut stream = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => return self.fail(token, format!("connect: {e}"), registry),
        };
        if a.https {
            let name = match rustls::pki_types::ServerName::try_from(a.host.clone()) {
                Ok(n) => n,
                Err(_) => return self.fail(token, "bad TLS server name".into(), registry),
            };
            match rustls::ClientConnection::new(self.tls_config.clone(), name) {
                Ok(c) => a.tls = Some(c),
                Err(e) => return self.fail(token, format!("tls: {e}"), registry),
            }
        }
        if let Err(e) = registry.register(
            &mut stream,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return self.fail(token, format!("register: {e}"), registry);
        }
        a.state = State::Connecting(stream);
    }

    /// Readiness on an outbound socket.
    pub fn on_event(&mut self, token: usize, now: Instant, registry: &Registry) {
        let Some(a) = self.active.get_mut(&token) else {
            return;
        };
        if let State::Connecting(s) = &mut a.state {
            match s.take_error() {
                Ok(Some(e)) | Err(e) => return self.fail(token, format!("connect: {e}"), registry),
                Ok(None) => {}
            }
            match s.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => return self.fail(token, format!("connect: {e}"), registry),
            }
            let State::Connecting(s) = std::mem::replace(&mut a.state, State::Resolving) else {
                return;
            };
            a.state = State::Exchanging(s);
            if let Some(tls) = a.tls.as_mut() {
                let req = std::mem::take(&mut a.request);
                if let Err(e) = tls.writer().write_all(&req) {
                    return self.fail(token, format!("tls write: {e}"), registry);
                }
            }
        }
        match pump(a) {
            Ok(true) => match client::parse_response(&a.response, a.eof, MAX_BODY) {
                Ok(Some(resp)) => self.finish(token, Ok(resp), registry),
                Ok(None) if a.eof => self.fail(token, "connection closed early".into(), registry),
                Ok(None) => {}
                Err(e) => self.fail(token, format!("bad response: {e:?}"), registry),
            },
            Ok(false) => {}
            Err(e) => self.fail(token, e, registry),
        }
        self.start_more(now, registry);
    }

    /// Fails requests past their deadline (the reactor arms a timer at each request's
    /// deadline when it is submitted; a fire finds whatever is due then).
    pub fn on_deadline(&mut self, now: Instant, registry: &Registry) {
        let late: Vec<usize> = self
            .active
            .iter()
            .filter(|(_, a)| a.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in late {
            self.fail(t, "timed out".into(), registry);
        }
        self.start_more(now, registry);
    }

    /// Whether a token belongs to the client.
    pub fn owns(token: usize) -> bool {
        token >= TOKEN_BASE
    }

    /// Results ready for the app.
    pub fn take_done(&mut self) -> Vec<(u64, Result<ClientResponse, String>)> {
        std::mem::take(&mut self.done)
    }

    fn finish(&mut self, token: usize, r: Result<ClientResponse, String>, registry: &Registry) {
        if let Some(mut a) = self.active.remove(&token) {
            if let State::Connecting(s) | State::Exchanging(s) = &mut a.state {
                let _ = registry.deregister(s);
            }
            if r.is_ok() {
                self.stats.1 += 1;
            } else {
                self.stats.2 += 1;
            }
            self.done.push((a.job_id, r));
        }
    }

    fn fail(&mut self, token: usize, e: String, registry: &Registry) {
        self.finish(token, Err(e), registry);
    }
}

/// Moves bytes between the socket, TLS and the buffers; Ok(true) when new response bytes or
/// EOF arrived.
fn pump(a: &mut Active) -> Result<bool, String> {
    let State::Exchanging(stream) = &mut a.state else {
        return Ok(false);
    };
    let mut progressed = false;
    match a.tls.as_mut() {
        None => {
            while a.written < a.request.len() {
                match stream.write(&a.request[a.written..]) {
                    Ok(0) => return Err("write: closed".into()),
                    Ok(n) => a.written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("write: {e}")),
                }
            }
            let mut buf = [0u8; 16 * 1024];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        a.eof = true;
                        return Ok(true);
                    }
                    Ok(n) => {
                        a.response.extend_from_slice(&buf[..n]);
                        progressed = true;
                        if a.response.len() > MAX_BODY + 64 * 1024 {
                            return Err("response too large".into());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
        }
        Some(tls) => loop {
            let mut moved = false;
            while tls.wants_write() {
                match tls.write_tls(stream) {
                    Ok(0) => return Err("write: closed".into()),
                    Ok(_) => moved = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("write: {e}")),
                }
            }
            if tls.wants_read() {
                match tls.read_tls(stream) {
                    Ok(0) => {
                        a.eof = true;
                        moved = true;
                    }
                    Ok(_) => {
                        moved = true;
                        tls.process_new_packets().map_err(|e| format!("tls: {e}"))?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
            let mut buf = [0u8; 16 * 1024];
            loop {
                match tls.reader().read(&mut buf) {
                    Ok(0) => {
                        a.eof = true;
                        break;
                    }
                    Ok(n) => {
                        a.response.extend_from_slice(&buf[..n]);
                        progressed = true;
                        if a.response.len() > MAX_BODY + 64 * 1024 {
                            return Err("response too large".into());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // A close without close_notify: treat as EOF (many servers do this).
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        a.eof = true;
                        break;
                    }
                    Err(e) => return Err(format!("tls read: {e}")),
                }
            }
            if !moved || a.eof {
                break;
            }
        },
    }
    Ok(progressed || a.eof)
}
