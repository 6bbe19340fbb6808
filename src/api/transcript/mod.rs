//! Transcript tests: the whole app (api + hub + store) without sockets, driven through the
//! [`App`] trait alone, with both clocks in the test's hands (issue 13).
//!
//! A [`Harness`] owns a [`HapiApp`] over a SQLite file in `/dev/shm` (or the temp dir) and
//! plays the reactor's part: it calls `http`, `sio_connect`, `sio_event`, `sio_ack`, ... with
//! a fake [`Now`], commits after every call as the reactor does at the end of a turn, takes the
//! effects and turns them into transcript lines. Timers armed with [`Effect::Timer`] fire when
//! the fake *monotonic* clock passes them; the wall clock (`Now::unix_ms`) only moves with it
//! or when a test steps it on purpose ([`Harness::step_wall`], an NTP step). Store rows are
//! read through a second, read-only SQLite connection, never through the hub, so these tests
//! survive any reshaping of the hub's internals.
//!
//! A test reads as "input in → transcript out":
//!
//! ```text
//! h.emit_ack(cli, "update-metadata", json!({"sid": sid, "expectedVersion": 1, "metadata": m}));
//! h.expect(r#"
//!     cli ack#0 [{"result":"success","version":2,"metadata":{"path":"/p","host":"h"}}]
//!     web sse#3 {"type":"session-updated","sessionId":"S","data":"*","namespace":"default"}
//! "#);
//! ```
//!
//! Line shapes (`<who> <what> <json>`):
//!
//! * `http <status> <body>`: the immediate answer to the request just made;
//!   `http <METHOD> <path> <status> <body>`: a deferred answer arriving later;
//! * `<socket> emit <event>[#ack] <arg>` / `<socket> ack#<id> [<args>]` / `<socket> disconnect`;
//! * `<stream> sse[#n] <event>` (`n`: the counter of the event's `id:`; frames without an id
//!   have none) / `<stream> close`;
//! * `out#<id> <METHOD> <url> [<body>]`: an outbound request (Web Push; Telegram, whose JSON
//!   body is shown);
//! * `db <label> <row>`: a store row ([`Harness::db`]).
//!
//! Within one step, lines are stably sorted by `<who>`: the order towards one peer is kept,
//! while the hub's map iteration order across peers does not matter.
//!
//! Volatile values are masked before comparing: ids registered with [`Harness::alias`] become
//! their alias, any other UUID becomes `<uuid>`. Timestamps need no mask: the wall clock starts
//! at [`T0`] and moves only as the test says. JSON is compared as values (key order ignored);
//! in the expected text `"*"` matches any value and a key `"..."` in an object allows keys not
//! listed.

mod actions;
mod agents;
mod cli_events;
mod clock;
mod gate;
mod hub_settings;
mod namespaces;
mod notify;
mod pipeline;
mod resume;
mod rpc;
mod scratchlist;
mod sse;
mod terminal;
mod usage;
mod versioned;
mod voice;

use crate::api::{Api, HapiApp};
use crate::app::{App, ConnId, ConnectReply, Effect, Now, Outcome, SocketId};
use crate::http::{Head, Request};
use crate::hub::{Hub, HubSettings};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The wall clock at the start of every transcript (2027-01-15T08:00:00Z).
pub const T0: i64 = 1_800_000_000_000;
/// The CLI token of [`HubSettings::for_tests`].
pub const TOKEN: &str = "test-token";

/// A web user: a JWT from `POST /api/auth`.
#[derive(Debug, Clone)]
pub struct Web {
    pub jwt: String,
}

/// A connected `/cli` socket.
#[derive(Debug, Clone, Copy)]
pub struct Cli {
    pub socket: SocketId,
}

/// An open `GET /api/events` stream.
#[derive(Debug, Clone)]
pub struct Stream {
    pub conn: ConnId,
    pub subscription: String,
}

/// The immediate outcome of an HTTP request.
#[derive(Debug)]
pub enum Reply {
    /// Answered now: status and body (JSON, or a string).
    Now(u16, Value),
    /// Answered later with `Effect::Reply` (a `http <METHOD> <path> ...` line).
    Deferred,
    /// Anything else the reactor would handle (SSE is opened with [`Harness::sse`]).
    Other,
}

impl Reply {
    /// The body of an immediate answer (panics otherwise).
    pub fn body(&self) -> &Value {
        match self {
            Reply::Now(_, b) => b,
            other => panic!("not an immediate reply: {other:?}"),
        }
    }
}

#[derive(Debug)]
struct Due {
    /// Monotonic offset from the harness's base instant.
    at: Duration,
    seq: u64,
    /// The key the app armed it with (`Effect::Timer`).
    key: u64,
}

/// One transcript line: the peer it went to and what it says.
#[derive(Debug, Clone)]
pub struct Line {
    pub to: String,
    pub text: String,
}

struct TempDb(PathBuf);

impl TempDb {
    fn new() -> TempDb {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let shm = PathBuf::from("/dev/shm");
        let dir = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        let n = N.fetch_add(1, Ordering::Relaxed);
        TempDb(dir.join(format!("hapid-transcript-{}-{n}.db", std::process::id())))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let mut p = self.0.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The app, its clocks and timers, and the transcript so far.
pub struct Harness {
    app: HapiApp,
    reader: rusqlite::Connection,
    base: Instant,
    mono: Duration,
    wall_ms: i64,
    timers: Vec<Due>,
    timer_seq: u64,
    aliases: Vec<(String, String)>,
    sockets: HashMap<SocketId, String>,
    next_socket: SocketId,
    ack_ids: HashMap<SocketId, u64>,
    streams: HashMap<ConnId, String>,
    requests: HashMap<ConnId, String>,
    next_slot: u32,
    lines: Vec<Line>,
    /// Outbound requests seen: (id, url).
    pub outbound: Vec<(u64, String)>,
    /// The raw `id:` of the newest SSE frame that had one (what a browser would resend).
    last_event_id: Option<String>,
    _db: TempDb,
}

impl Harness {
    /// A hub with [`HubSettings::for_tests`].
    pub fn new() -> Harness {
        Harness::with_settings(|_| {})
    }

    /// A hub with adjusted test settings.
    pub fn with_settings(f: impl FnOnce(&mut HubSettings)) -> Harness {
        let db = TempDb::new();
        let store = crate::store::Store::open(&db.0).expect("store");
        let reader = rusqlite::Connection::open_with_flags(
            &db.0,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("read-only connection");
        let mut settings = HubSettings::for_tests();
        f(&mut settings);
        let base = Instant::now();
        let now = Now {
            mono: base,
            unix_ms: T0,
        };
        let hub = Hub::new(settings, store, now).expect("hub");
        let mut h = Harness {
            app: HapiApp {
                hub,
                api: Api::with_origins(vec!["*".into()]),
            },
            reader,
            base,
            mono: Duration::ZERO,
            wall_ms: T0,
            timers: Vec::new(),
            timer_seq: 0,
            aliases: Vec::new(),
            sockets: HashMap::new(),
            next_socket: 1,
            ack_ids: HashMap::new(),
            streams: HashMap::new(),
            requests: HashMap::new(),
            next_slot: 1,
            lines: Vec::new(),
            outbound: Vec::new(),
            last_event_id: None,
            _db: db,
        };
        h.finish_turn();
        h
    }

    /// The clock reading handed to the app.
    pub fn now(&self) -> Now {
        Now {
            mono: self.base + self.mono,
            unix_ms: self.wall_ms,
        }
    }

    /// Masks `real` as `alias` in every later line.
    pub fn alias(&mut self, real: &str, alias: &str) {
        self.aliases.push((real.to_string(), alias.to_string()));
        self.aliases.sort_by_key(|b| std::cmp::Reverse(b.0.len()));
    }

    // ---- the reactor's part ----

    fn arm(&mut self, at: Duration, key: u64) {
        self.timer_seq += 1;
        self.timers.push(Due {
            at,
            seq: self.timer_seq,
            key,
        });
    }

    /// The end of a turn: commit, then take the effects (until none are left), as the reactor.
    fn finish_turn(&mut self) {
        loop {
            self.app.commit().expect("commit");
            let fx = self.app.take_effects();
            if fx.is_empty() {
                break;
            }
            let mut batch: Vec<Line> = Vec::new();
            for e in fx {
                if let Some(l) = self.render(e) {
                    batch.push(l);
                }
            }
            batch.sort_by(|a, b| a.to.cmp(&b.to));
            self.lines.extend(batch);
        }
    }

    fn fire(&mut self, key: u64) {
        let now = self.now();
        self.app.on_timer(key, now);
        self.finish_turn();
    }

    /// Lets `ms` of time pass on both clocks, firing every timer that comes due on the way
    /// (each at its own time, earliest first).
    pub fn advance(&mut self, ms: u64) {
        let target = self.mono + Duration::from_millis(ms);
        loop {
            let next = self
                .timers
                .iter()
                .enumerate()
                .filter(|(_, d)| d.at <= target)
                .min_by_key(|(_, d)| (d.at, d.seq))
                .map(|(i, _)| i);
            let Some(i) = next else { break };
            let d = self.timers.swap_remove(i);
            if d.at > self.mono {
                self.wall_ms += (d.at - self.mono).as_millis() as i64;
                self.mono = d.at;
            }
            self.fire(d.key);
        }
        self.wall_ms += (target - self.mono).as_millis() as i64;
        self.mono = target;
    }

    /// Steps the wall clock alone (an NTP correction); monotonic time does not move.
    pub fn step_wall(&mut self, ms: i64) {
        self.wall_ms += ms;
    }

    fn render(&mut self, e: Effect) -> Option<Line> {
        let line = |to: &str, text: String| {
            Some(Line {
                to: to.into(),
                text,
            })
        };
        match e {
            Effect::Reply { conn, resp } => {
                let what = self
                    .requests
                    .remove(&conn)
                    .unwrap_or_else(|| "<unknown request>".into());
                line(
                    "http",
                    format!("{what} {} {}", resp.status, body_text(&resp.body)),
                )
            }
            Effect::Sse { conn, frame } => {
                let to = self.stream_name(conn);
                if let Some(id) = frame.lines().find_map(|l| l.strip_prefix("id: ")) {
                    self.last_event_id = Some(id.to_string());
                }
                let (n, data) = parse_frame(&frame);
                let tag = n.map_or("sse".to_string(), |n| format!("sse#{n}"));
                line(&to, format!("{tag} {data}"))
            }
            Effect::SseClose { conn } => {
                let to = self.stream_name(conn);
                line(&to, "close".into())
            }
            Effect::Emit {
                socket,
                event,
                args,
                ack,
                ..
            } => {
                let to = self.socket_name(socket);
                let tag = ack.map_or(String::new(), |a| format!("#{a}"));
                let arg = if args.len() == 1 {
                    args[0].to_string()
                } else {
                    Value::Array(args).to_string()
                };
                line(&to, format!("emit {event}{tag} {arg}"))
            }
            Effect::Ack {
                socket, id, args, ..
            } => {
                let to = self.socket_name(socket);
                line(&to, format!("ack#{id} {}", Value::Array(args)))
            }
            Effect::Disconnect { socket } => {
                let to = self.socket_name(socket);
                line(&to, "disconnect".into())
            }
            Effect::ConnectReply { socket, reply } => {
                let to = self.socket_name(socket);
                match reply {
                    ConnectReply::Ok => line(&to, "connect ok".into()),
                    ConnectReply::Refused(m) => line(&to, format!("connect refused {}", json!(m))),
                    ConnectReply::Later => line(&to, "connect later".into()),
                }
            }
            Effect::Timer { at, key } => {
                let at = at.saturating_duration_since(self.base);
                self.arm(at, key);
                None
            }
            Effect::Outbound { id, req, .. } => {
                let scheme = if req.url.https { "https" } else { "http" };
                let url = format!("{scheme}://{}{}", req.url.host, req.url.target);
                self.outbound.push((id, url.clone()));
                // A JSON body (Telegram) is shown; an encrypted one (Web Push) is not.
                let body = serde_json::from_slice::<Value>(&req.body)
                    .map_or(String::new(), |v| format!(" {v}"));
                line(&format!("out#{id}"), format!("{} {url}{body}", req.method))
            }
        }
    }

    fn socket_name(&self, s: SocketId) -> String {
        self.sockets
            .get(&s)
            .cloned()
            .unwrap_or_else(|| format!("socket{s}"))
    }

    fn stream_name(&self, c: ConnId) -> String {
        self.streams
            .get(&c)
            .cloned()
            .unwrap_or_else(|| format!("conn{}", c.slot))
    }

    fn conn(&mut self) -> ConnId {
        let c = ConnId {
            slot: self.next_slot,
            generation: 1,
        };
        self.next_slot += 1;
        c
    }

    // ---- HTTP ----

    fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: Vec<(String, Vec<u8>)>,
        body: Option<&Value>,
    ) -> (ConnId, Outcome) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers = headers;
        if body.is_some() {
            headers.push(("content-type".into(), b"application/json".to_vec()));
        }
        let req = Request {
            head: Head {
                method: method.into(),
                path: path.into(),
                query: query.into(),
                headers,
                minor: 1,
            },
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        };
        let conn = self.conn();
        let peer: SocketAddr = "127.0.0.1:40000".parse().expect("peer");
        let now = self.now();
        let out = self.app.http(conn, peer, &req, now);
        (conn, out)
    }

    fn reply(&mut self, method: &str, target: &str, conn: ConnId, out: Outcome) -> Reply {
        let r = match out {
            Outcome::Reply(resp) => {
                let body = serde_json::from_slice(&resp.body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&resp.body).into()));
                self.lines.push(Line {
                    to: "http".into(),
                    text: format!("{} {}", resp.status, body_text(&resp.body)),
                });
                Reply::Now(resp.status, body)
            }
            Outcome::Deferred => {
                self.requests
                    .insert(conn, format!("{method} {}", self.mask(target)));
                Reply::Deferred
            }
            _ => Reply::Other,
        };
        self.finish_turn();
        r
    }

    /// A web API request with the user's JWT.
    pub fn call(&mut self, web: &Web, method: &str, target: &str, body: Option<Value>) -> Reply {
        let auth = format!("Bearer {}", web.jwt).into_bytes();
        let (conn, out) = self.request(
            method,
            target,
            vec![("authorization".into(), auth)],
            body.as_ref(),
        );
        self.reply(method, target, conn, out)
    }

    /// A web API request with the user's JWT and a raw body of this Content-Type.
    pub fn call_raw(
        &mut self,
        web: &Web,
        method: &str,
        target: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let req = Request {
            head: Head {
                method: method.into(),
                path: target.into(),
                query: String::new(),
                headers: vec![
                    (
                        "authorization".into(),
                        format!("Bearer {}", web.jwt).into_bytes(),
                    ),
                    ("content-type".into(), content_type.as_bytes().to_vec()),
                ],
                minor: 1,
            },
            body,
        };
        let conn = self.conn();
        let peer: SocketAddr = "127.0.0.1:40000".parse().expect("peer");
        let now = self.now();
        let out = self.app.http(conn, peer, &req, now);
        self.reply(method, target, conn, out)
    }

    /// A request without credentials (`/api/auth`, `/api/bind`).
    pub fn call_unauthenticated(&mut self, method: &str, target: &str, body: Value) -> Reply {
        let (conn, out) = self.request(method, target, Vec::new(), Some(&body));
        self.reply(method, target, conn, out)
    }

    /// `GET` on the web API.
    pub fn get(&mut self, web: &Web, target: &str) -> Reply {
        self.call(web, "GET", target, None)
    }

    /// `POST` on the web API.
    pub fn post(&mut self, web: &Web, target: &str, body: Value) -> Reply {
        self.call(web, "POST", target, Some(body))
    }

    /// A `/cli/*` request with `Bearer <token>` (`TOKEN` or `TOKEN:<ns>`).
    pub fn cli_call(
        &mut self,
        token: &str,
        method: &str,
        target: &str,
        body: Option<Value>,
    ) -> Reply {
        let auth = format!("Bearer {token}").into_bytes();
        let (conn, out) = self.request(
            method,
            target,
            vec![("authorization".into(), auth)],
            body.as_ref(),
        );
        self.reply(method, target, conn, out)
    }

    /// A web user of namespace `ns`, signed in with `POST /api/auth` (nothing is recorded).
    pub fn web(&mut self, ns: &str) -> Web {
        let token = token_for(ns);
        let (_, out) = self.request(
            "POST",
            "/api/auth",
            Vec::new(),
            Some(&json!({ "accessToken": token })),
        );
        let Outcome::Reply(resp) = out else {
            panic!("/api/auth did not answer")
        };
        assert_eq!(resp.status, 200, "{}", body_text(&resp.body));
        let v: Value = serde_json::from_slice(&resp.body).expect("auth body");
        self.finish_turn();
        Web {
            jwt: v["token"].as_str().expect("token").into(),
        }
    }

    /// `POST /cli/sessions` in `ns`; the new id is aliased as `alias` (its `tag`, too).
    pub fn new_session(&mut self, ns: &str, alias: &str, metadata: Value) -> String {
        let body = json!({ "tag": format!("tag-{alias}"), "metadata": metadata });
        let r = self.cli_call(&token_for(ns), "POST", "/cli/sessions", Some(body));
        let sid = r.body()["session"]["id"]
            .as_str()
            .expect("session id")
            .to_string();
        self.alias(&sid, alias);
        sid
    }

    /// `POST /cli/machines` in `ns`.
    pub fn new_machine(&mut self, ns: &str, id: &str, metadata: Value) {
        let body = json!({ "id": id, "metadata": metadata, "runnerState": {"status": "offline"} });
        let r = self.cli_call(&token_for(ns), "POST", "/cli/machines", Some(body));
        assert!(matches!(r, Reply::Now(200, _)), "{r:?}");
    }

    // ---- /cli sockets ----

    /// A `/cli` CONNECT with this handshake `auth`; the socket is called `name`.
    pub fn try_connect(&mut self, name: &str, auth: Value) -> Result<Cli, String> {
        let socket = self.next_socket;
        self.next_socket += 1;
        self.sockets.insert(socket, name.into());
        let now = self.now();
        let peer: IpAddr = "127.0.0.1".parse().expect("ip");
        let r = self.app.sio_connect(socket, "/cli", Some(&auth), peer, now);
        self.finish_turn();
        match r {
            ConnectReply::Ok => Ok(Cli { socket }),
            ConnectReply::Refused(m) => Err(m),
            ConnectReply::Later => Err("later".into()),
        }
    }

    /// A session-scoped CLI socket of session `sid` in `ns`.
    pub fn session_socket(&mut self, name: &str, ns: &str, sid: &str) -> Cli {
        let auth =
            json!({"token": token_for(ns), "clientType": "session-scoped", "sessionId": sid});
        self.try_connect(name, auth).expect("connect")
    }

    /// A machine-scoped (runner) CLI socket of machine `id` in `ns`.
    pub fn machine_socket(&mut self, name: &str, ns: &str, id: &str) -> Cli {
        let auth = json!({"token": token_for(ns), "clientType": "machine-scoped", "machineId": id});
        self.try_connect(name, auth).expect("connect")
    }

    /// An event without an ack id.
    pub fn emit(&mut self, cli: Cli, event: &str, payload: Value) {
        let now = self.now();
        self.app
            .sio_event(cli.socket, event, vec![payload], None, Vec::new(), now);
        self.finish_turn();
    }

    /// An event with the socket's next ack id (0, 1, ...); returns the id.
    pub fn emit_ack(&mut self, cli: Cli, event: &str, payload: Value) -> u64 {
        let id = self.ack_ids.entry(cli.socket).or_insert(0);
        let ack = *id;
        *id += 1;
        let now = self.now();
        let args = if payload.is_null() {
            Vec::new()
        } else {
            vec![payload]
        };
        self.app
            .sio_event(cli.socket, event, args, Some(ack), Vec::new(), now);
        self.finish_turn();
        ack
    }

    /// The CLI acks an event the hub emitted with ack id `id` (an RPC answer).
    pub fn answer(&mut self, cli: Cli, id: u64, args: Vec<Value>) {
        let now = self.now();
        self.app.sio_ack(cli.socket, id, args, now);
        self.finish_turn();
    }

    /// Registers RPC methods the way the CLI does, one `rpc-register` each.
    pub fn register(&mut self, cli: Cli, methods: &[&str]) {
        for m in methods {
            self.emit(cli, "rpc-register", json!({ "method": m }));
        }
    }

    /// The socket leaves.
    pub fn disconnect(&mut self, cli: Cli) {
        let now = self.now();
        self.app.sio_disconnect(cli.socket, now);
        self.finish_turn();
    }

    // ---- SSE ----

    /// Opens `GET /api/events?<query>` as stream `name`; panics unless it opens.
    pub fn sse(&mut self, name: &str, web: &Web, query: &str) -> Stream {
        self.try_sse(name, web, query, None).expect("stream")
    }

    /// Opens a stream, with `Last-Event-ID` when given; Err: the (status, body) refusal.
    pub fn try_sse(
        &mut self,
        name: &str,
        web: &Web,
        query: &str,
        last_event_id: Option<&str>,
    ) -> Result<Stream, (u16, Value)> {
        let mut headers = vec![(
            "authorization".to_string(),
            format!("Bearer {}", web.jwt).into_bytes(),
        )];
        if let Some(l) = last_event_id {
            headers.push(("last-event-id".into(), l.as_bytes().to_vec()));
        }
        let target = format!("/api/events?{query}");
        let conn = self.conn();
        self.streams.insert(conn, name.into());
        let (path, q) = target.split_once('?').unwrap_or((&target, ""));
        let req = Request {
            head: Head {
                method: "GET".into(),
                path: path.into(),
                query: q.into(),
                headers,
                minor: 1,
            },
            body: Vec::new(),
        };
        let peer: SocketAddr = "127.0.0.1:40001".parse().expect("peer");
        let now = self.now();
        match self.app.http(conn, peer, &req, now) {
            Outcome::Sse(head) => {
                assert_eq!(head.status, 200);
                let before = self.lines.len();
                self.finish_turn();
                let sub = self.lines[before..]
                    .iter()
                    .find(|l| l.to == name && l.text.contains("connection-changed"))
                    .and_then(|l| {
                        let v: Value = serde_json::from_str(json_part(&l.text)).ok()?;
                        v["data"]["subscriptionId"].as_str().map(str::to_string)
                    })
                    .expect("connection-changed first");
                self.alias(&sub, &format!("sub-{name}"));
                Ok(Stream {
                    conn,
                    subscription: sub,
                })
            }
            Outcome::Reply(resp) => {
                self.streams.remove(&conn);
                self.finish_turn();
                let body = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
                Err((resp.status, body))
            }
            _ => panic!("GET /api/events: neither a stream nor a reply"),
        }
    }

    /// The stream's connection closes.
    pub fn close(&mut self, stream: &Stream) {
        self.app.conn_closed(stream.conn);
        self.finish_turn();
    }

    /// The raw `id:` of the newest frame with one that any stream got.
    pub fn last_event_id(&self) -> Option<String> {
        self.last_event_id.clone()
    }

    /// `POST /api/visibility` for a stream.
    pub fn visibility(&mut self, web: &Web, stream: &Stream, visibility: &str) -> Reply {
        let body = json!({ "subscriptionId": stream.subscription, "visibility": visibility });
        self.post(web, "/api/visibility", body)
    }

    // ---- outbound ----

    /// An outbound request finished with this status and an empty body.
    pub fn outbound_done(&mut self, id: u64, status: u16) {
        self.outbound_reply(id, status, &Value::Null);
    }

    /// An outbound request finished with this status and JSON body (none for `null`).
    pub fn outbound_reply(&mut self, id: u64, status: u16, body: &Value) {
        let now = self.now();
        let resp = crate::http::client::ClientResponse {
            status,
            headers: Vec::new(),
            body: match body {
                Value::Null => Vec::new(),
                v => v.to_string().into_bytes(),
            },
        };
        self.app.outbound_done(id, Ok(resp), now);
        self.finish_turn();
    }

    /// An outbound request failed without an answer (refused, timed out).
    pub fn outbound_failed(&mut self, id: u64, error: &str) {
        let now = self.now();
        self.app.outbound_done(id, Err(error.to_string()), now);
        self.finish_turn();
    }

    // ---- the store ----

    /// Rows of a query on the read-only connection, one JSON object per row (column name →
    /// value; text holding a JSON object or array is parsed).
    pub fn rows(&self, sql: &str) -> Vec<Value> {
        let mut st = self.reader.prepare(sql).expect("sql");
        let names: Vec<String> = st.column_names().iter().map(|s| s.to_string()).collect();
        let mut rows = st.query([]).expect("query");
        let mut out = Vec::new();
        while let Some(r) = rows.next().expect("row") {
            let mut o = serde_json::Map::new();
            for (i, n) in names.iter().enumerate() {
                use rusqlite::types::ValueRef;
                let v = match r.get_ref(i).expect("column") {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => json!(n),
                    ValueRef::Real(f) => json!(f),
                    ValueRef::Text(t) => {
                        let t = String::from_utf8_lossy(t).to_string();
                        match t.starts_with(['{', '[']) {
                            true => serde_json::from_str(&t).unwrap_or(Value::String(t)),
                            false => Value::String(t),
                        }
                    }
                    ValueRef::Blob(b) => json!(format!("<{} bytes>", b.len())),
                };
                o.insert(n.clone(), v);
            }
            out.push(Value::Object(o));
        }
        out
    }

    /// Appends the rows of `sql` to the transcript as `db <label> <row>` lines.
    pub fn db(&mut self, label: &str, sql: &str) {
        for r in self.rows(sql) {
            self.lines.push(Line {
                to: "db".into(),
                text: format!("{label} {r}"),
            });
        }
    }

    // ---- the transcript ----

    fn mask(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (real, alias) in &self.aliases {
            s = s.replace(real, alias);
        }
        mask_uuids(&s)
    }

    /// The lines since the last [`Harness::expect`] / [`Harness::take`], masked, and clears
    /// them.
    pub fn take(&mut self) -> Vec<String> {
        let lines = std::mem::take(&mut self.lines);
        lines
            .iter()
            .map(|l| self.mask(&format!("{} {}", l.to, l.text)))
            .collect()
    }

    /// Asserts the lines since the last check against `expected` (one line per entry, blank
    /// lines and surrounding whitespace ignored), then clears them.
    #[track_caller]
    pub fn expect(&mut self, expected: &str) {
        let got = self.take();
        let want: Vec<&str> = expected
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let ok = got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| line_matches(w, g));
        if !ok {
            let first = got
                .iter()
                .zip(&want)
                .position(|(g, w)| !line_matches(w, g))
                .unwrap_or(got.len().min(want.len()));
            panic!(
                "transcript differs at line {}\n--- expected ({}):\n{}\n--- got ({}):\n{}\n",
                first + 1,
                want.len(),
                want.join("\n"),
                got.len(),
                got.join("\n")
            );
        }
    }
}

/// `TOKEN` for the default namespace, `TOKEN:<ns>` for any other.
pub fn token_for(ns: &str) -> String {
    if ns == "default" {
        TOKEN.to_string()
    } else {
        format!("{TOKEN}:{ns}")
    }
}

fn body_text(b: &[u8]) -> String {
    match serde_json::from_slice::<Value>(b) {
        Ok(v) => v.to_string(),
        Err(_) => Value::String(String::from_utf8_lossy(b).into()).to_string(),
    }
}

/// An SSE frame → (the counter of its `id: <epoch>:<n>`, its data).
fn parse_frame(frame: &str) -> (Option<u64>, String) {
    let mut n = None;
    let mut data = String::new();
    for l in frame.lines() {
        if let Some(id) = l.strip_prefix("id: ") {
            n = id.rsplit_once(':').and_then(|(_, n)| n.parse().ok());
        } else if let Some(d) = l.strip_prefix("data: ") {
            data.push_str(d);
        }
    }
    (n, data)
}

/// The JSON part of a line: from its first `{`, `[` or `"` on.
fn json_part(line: &str) -> &str {
    line.find(['{', '[', '"']).map_or("", |i| &line[i..])
}

fn line_matches(want: &str, got: &str) -> bool {
    let (wj, gj) = (json_part(want), json_part(got));
    let (wp, gp) = (&want[..want.len() - wj.len()], &got[..got.len() - gj.len()]);
    if wp.trim() != gp.trim() {
        return false;
    }
    match (
        serde_json::from_str::<Value>(wj),
        serde_json::from_str::<Value>(gj),
    ) {
        (Ok(w), Ok(g)) => value_matches(&w, &g),
        _ => wj.trim() == gj.trim(),
    }
}

/// JSON equality with `"*"` matching anything and a `"..."` key allowing unlisted keys.
pub fn value_matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::String(w), _) if w == "*" => true,
        (Value::Object(w), Value::Object(g)) => {
            let open = w.contains_key("...");
            let listed = w.keys().filter(|k| *k != "...").count();
            (open || listed == g.len())
                && w.iter()
                    .filter(|(k, _)| *k != "...")
                    .all(|(k, v)| g.get(k).is_some_and(|gv| value_matches(v, gv)))
        }
        (Value::Array(w), Value::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| value_matches(a, b))
        }
        (w, g) => w == g,
    }
}

/// Replaces every lower-case UUID (8-4-4-4-12 hex) with `<uuid>`.
fn mask_uuids(s: &str) -> String {
    let b = s.as_bytes();
    let is_uuid = |w: &[u8]| {
        w.len() == 36
            && w.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
            })
    };
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if i + 36 <= b.len() && is_uuid(&b[i..i + 36]) {
            out.push_str("<uuid>");
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap_or('?');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Session metadata as the CLI sends it (path, host, flavor, name).
pub fn meta(name: &str) -> Value {
    json!({"path": format!("/home/dev/{name}"), "host": "box", "flavor": "claude", "name": name})
}

#[test]
fn the_matcher_masks_and_wildcards() {
    assert_eq!(
        mask_uuids("a 3f2b9c1e-8d4a-4e6b-9a7c-000000000001 b"),
        "a <uuid> b"
    );
    assert!(line_matches(
        r#"web sse#1 {"a":"*","b":[1,{"...":0,"c":2}]}"#,
        r#"web sse#1 {"b":[1,{"c":2,"d":3}],"a":{"x":1}}"#
    ));
    assert!(!line_matches(
        r#"web sse#1 {"a":1}"#,
        r#"web sse#2 {"a":1}"#
    ));
    assert!(!line_matches(
        r#"web sse {"a":1}"#,
        r#"web sse {"a":1,"b":2}"#
    ));
}
