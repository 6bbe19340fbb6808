//! Transcript tests of the Engine.IO / Socket.IO server: requests, messages and time in,
//! outputs out, each shown as one line (see [`show`]). No sockets; time is explicit.

use super::*;
use crate::http::Head;
use serde_json::json;

const MAX_PAYLOAD: usize = 1000;

fn cfg() -> EioConfig {
    EioConfig {
        ping_interval_ms: 25_000,
        ping_timeout_ms: 20_000,
        max_payload: MAX_PAYLOAD,
    }
}

fn c(n: u32) -> ConnId {
    ConnId {
        slot: n,
        generation: 1,
    }
}

/// A test bench: the server, the start of time, and the sid of the latest handshake.
struct Bench {
    srv: Server,
    t0: Instant,
    sid: String,
}

fn request(method: &str, query: &str, body: &[u8], ws: bool) -> Request {
    let mut headers = Vec::new();
    if ws {
        headers = vec![
            ("connection".to_string(), b"Upgrade".to_vec()),
            ("upgrade".to_string(), b"websocket".to_vec()),
            ("sec-websocket-version".to_string(), b"13".to_vec()),
            (
                "sec-websocket-key".to_string(),
                b"dGhlIHNhbXBsZSBub25jZQ==".to_vec(),
            ),
        ];
    }
    Request {
        head: Head {
            method: method.to_string(),
            path: "/socket.io/".to_string(),
            query: query.to_string(),
            headers,
            minor: 1,
        },
        body: body.to_vec(),
    }
}

impl Bench {
    fn new() -> Bench {
        Bench::with_limits(Limits::for_config(&cfg()))
    }

    fn with_limits(limits: Limits) -> Bench {
        Bench {
            srv: Server::new(cfg(), limits),
            t0: Instant::now(),
            sid: String::new(),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// Every output so far, shown; a handshake's sid is remembered and shown as `SID`.
    fn out(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(o) = self.srv.poll_output() {
            let line = show(&o);
            // The open packet (Socket.IO CONNECT replies carry another id).
            let open = r#""0{\"sid\":\""#;
            if let Some(i) = line.find(open) {
                let rest = &line[i + open.len()..];
                if let Some(end) = rest.find('\\') {
                    self.sid = rest[..end].to_string();
                }
            }
            v.push(if self.sid.is_empty() {
                line
            } else {
                line.replace(&self.sid, "SID")
            });
        }
        v
    }

    fn q(&self, transport: &str) -> String {
        format!("EIO=4&transport={transport}&sid={}", self.sid)
    }

    fn handshake_polling(&mut self, conn: u32, kind: EioKind, ms: u64) -> Vec<String> {
        let r = request("GET", "EIO=4&transport=polling", b"", false);
        self.srv
            .handle_request(c(conn), &r, kind, allowed(), peer(), self.at(ms));
        self.out()
    }

    fn handshake_ws(&mut self, conn: u32, kind: EioKind, ms: u64) -> Vec<String> {
        let r = request("GET", "EIO=4&transport=websocket", b"", true);
        self.srv
            .handle_request(c(conn), &r, kind, allowed(), peer(), self.at(ms));
        self.out()
    }

    fn get(&mut self, conn: u32, ms: u64) -> Vec<String> {
        let r = request("GET", &self.q("polling"), b"", false);
        let kind = EioKind::SocketIo;
        self.srv
            .handle_request(c(conn), &r, kind, allowed(), peer(), self.at(ms));
        self.out()
    }

    fn post(&mut self, conn: u32, body: &str, ms: u64) -> Vec<String> {
        let r = request("POST", &self.q("polling"), body.as_bytes(), false);
        let kind = EioKind::SocketIo;
        self.srv
            .handle_request(c(conn), &r, kind, allowed(), peer(), self.at(ms));
        self.out()
    }

    fn probe(&mut self, conn: u32, ms: u64) -> Vec<String> {
        let r = request("GET", &self.q("websocket"), b"", true);
        let kind = EioKind::SocketIo;
        self.srv
            .handle_request(c(conn), &r, kind, allowed(), peer(), self.at(ms));
        self.out()
    }

    fn text(&mut self, conn: u32, s: &str, ms: u64) -> Vec<String> {
        let m = Message::Text(s.to_string());
        self.srv.handle_ws_message(c(conn), m, self.at(ms));
        self.out()
    }

    fn binary(&mut self, conn: u32, b: &[u8], ms: u64) -> Vec<String> {
        let m = Message::Binary(b.to_vec());
        self.srv.handle_ws_message(c(conn), m, self.at(ms));
        self.out()
    }

    fn time(&mut self, ms: u64) -> Vec<String> {
        self.srv.handle_timeout(self.at(ms));
        self.out()
    }

    fn accept(&mut self, socket: SocketId, ms: u64) -> Vec<String> {
        self.srv
            .connect_reply(socket, ConnectReply::Ok, self.at(ms));
        self.out()
    }

    /// A Socket.IO session on WebSocket (conn 1) that joined `/cli` (socket 1 on a new
    /// bench).
    fn joined_ws(&mut self) {
        self.handshake_ws(1, EioKind::SocketIo, 0);
        let s = self.srv.next_socket;
        assert_eq!(
            self.text(1, "40/cli,", 10),
            [format!("connect s{s} /cli auth=None peer=127.0.0.1")]
        );
        let out = self.accept(s, 10);
        assert!(
            out[0].starts_with(r#"frame c1 text "40/cli,{\"sid\":"#),
            "{out:?}"
        );
    }
}

fn allowed() -> OriginCheck {
    OriginCheck::Allowed(None)
}

fn peer() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

/// One output as one line.
fn show(o: &Output) -> String {
    match o {
        Output::Reply { conn, resp } => format!(
            "reply c{} {} {:?}",
            conn.slot,
            resp.status,
            String::from_utf8_lossy(&resp.body).replace('\u{1e}', "|")
        ),
        Output::WsUpgrade { conn, .. } => format!("upgrade c{}", conn.slot),
        Output::WsFrame { conn, op, payload } => match op {
            OpCode::Binary => format!("frame c{} binary {payload:?}", conn.slot),
            op => format!(
                "frame c{} {} {:?}",
                conn.slot,
                format!("{op:?}").to_lowercase(),
                String::from_utf8_lossy(payload)
            ),
        },
        Output::Close { conn, reason } => {
            format!("close c{} {reason:?} {}", conn.slot, reason.ws_code())
        }
        Output::Connect {
            socket,
            nsp,
            auth,
            peer,
        } => format!("connect s{socket} {nsp} auth={auth:?} peer={peer}"),
        Output::Event {
            socket,
            name,
            args,
            ack,
            binary,
        } => format!(
            "event s{socket} {name} {} ack={ack:?} binary={binary:?}",
            Value::Array(args.clone())
        ),
        Output::Ack { socket, id, args } => {
            format!("ack s{socket} {id} {}", Value::Array(args.clone()))
        }
        Output::Disconnect { socket } => format!("disconnect s{socket}"),
    }
}

const OPEN_POLLING: &str = r#"reply c1 200 "0{\"sid\":\"SID\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000}""#;
const OPEN_WS: &str = r#"frame c1 text "0{\"sid\":\"SID\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000}""#;

#[test]
fn polling_then_probe_then_upgrade() {
    let mut b = Bench::new();
    assert_eq!(b.handshake_polling(1, EioKind::SocketIo, 0), [OPEN_POLLING]);
    // A GET with nothing to send waits.
    assert_eq!(b.get(2, 10), Vec::<String>::new());
    // A POST is answered "ok"; its CONNECT goes to the app; the reply ends the poll.
    assert_eq!(
        b.post(3, "40", 20),
        [
            r#"reply c3 200 "ok""#,
            "connect s1 / auth=None peer=127.0.0.1"
        ]
    );
    let out = b.accept(1, 20);
    assert_eq!(out.len(), 1);
    assert!(
        out[0].starts_with(r#"reply c2 200 "40{\"sid\":"#),
        "{out:?}"
    );
    // Next poll waits; the probe WebSocket arrives.
    assert_eq!(b.get(4, 30), Vec::<String>::new());
    assert_eq!(b.probe(5, 40), ["upgrade c5"]);
    // "2probe" → "3probe", and the pending poll ends with a noop so the client can pause.
    assert_eq!(
        b.text(5, "2probe", 50),
        [r#"frame c5 text "3probe""#, r#"reply c4 200 "6""#]
    );
    // An app emit mid-upgrade still goes by polling (a poll is made and answered).
    b.srv.emit(
        1,
        "hello".into(),
        vec![json!(1)],
        None,
        Vec::new(),
        b.at(55),
    );
    assert_eq!(b.out(), Vec::<String>::new());
    assert_eq!(b.get(6, 56), [r#"reply c6 200 "42[\"hello\",1]""#]);
    b.srv
        .emit(1, "queued".into(), vec![], None, Vec::new(), b.at(57));
    // "5": the session is on WebSocket; what was queued follows on it.
    assert_eq!(b.text(5, "5", 60), [r#"frame c5 text "42[\"queued\"]""#]);
    b.srv
        .emit(1, "later".into(), vec![], Some(7), Vec::new(), b.at(70));
    assert_eq!(b.out(), [r#"frame c5 text "427[\"later\"]""#]);
    // Polling requests after the upgrade are refused; a second WebSocket is shut.
    assert_eq!(
        b.get(7, 80),
        [r#"reply c7 400 "{\"code\":3,\"message\":\"Bad request\"}""#]
    );
    assert_eq!(b.probe(8, 90), ["upgrade c8", "close c8 NoSession 1000"]);
    // The transport closes: the socket leaves.
    b.srv.conn_closed(c(5), b.at(100));
    assert_eq!(b.out(), ["disconnect s1"]);
    assert_eq!(b.srv.session_count(), 0);
    assert_eq!(b.srv.conn_count(), 0);
}

#[test]
fn upgrade_that_never_sends_5_times_out_and_polling_goes_on() {
    let mut b = Bench::new();
    b.handshake_polling(1, EioKind::SocketIo, 0);
    assert_eq!(b.probe(2, 10), ["upgrade c2"]);
    assert_eq!(b.text(2, "2probe", 20), [r#"frame c2 text "3probe""#]);
    assert_eq!(b.srv.poll_deadline(), Some(b.at(10) + UPGRADE_TIMEOUT));
    assert_eq!(b.time(10_010), ["close c2 UpgradeTimeout 1000"]);
    // Still a polling session: a POST works, the probe connection is forgotten.
    assert_eq!(b.post(3, "6", 10_020), [r#"reply c3 200 "ok""#]);
    assert_eq!(b.text(2, "5", 10_030), ["close c2 NoSession 1000"]);
    // A bad packet on a probe closes only the probe.
    assert_eq!(b.probe(4, 10_040), ["upgrade c4"]);
    assert_eq!(b.text(4, "4hello", 10_050), ["close c4 ProtocolError 1002"]);
    assert_eq!(b.srv.session_count(), 1);
}

#[test]
fn ping_pong_then_ping_timeout() {
    let mut b = Bench::new();
    b.joined_ws();
    assert_eq!(b.srv.poll_deadline(), Some(b.at(25_000)));
    assert_eq!(b.time(24_999), Vec::<String>::new());
    assert_eq!(b.time(25_000), [r#"frame c1 text "2""#]);
    // Pong in time: next ping a whole interval later.
    assert_eq!(b.text(1, "3", 26_000), Vec::<String>::new());
    assert_eq!(b.time(45_000), Vec::<String>::new());
    assert_eq!(b.time(51_000), [r#"frame c1 text "2""#]);
    // No pong: pingInterval + pingTimeout after the last ping's schedule, the session ends
    // and the connection is freed at once (not graceful).
    assert_eq!(b.srv.poll_deadline(), Some(b.at(71_000)));
    assert_eq!(b.time(70_999), Vec::<String>::new());
    assert_eq!(
        b.time(71_000),
        ["disconnect s1", "close c1 PingTimeout 1000"]
    );
    assert!(!CloseReason::PingTimeout.graceful());
    assert_eq!(b.srv.session_count(), 0);
    assert_eq!(b.srv.poll_deadline(), None);
}

#[test]
fn overdue_pong_is_a_dead_session_even_before_its_timer() {
    let mut b = Bench::new();
    b.handshake_polling(1, EioKind::SocketIo, 0);
    assert_eq!(b.get(2, 25_000), Vec::<String>::new());
    assert_eq!(b.time(25_000), [r#"reply c2 200 "2""#]);
    // The timer has not run yet at 45 s, but the request sees the overdue pong.
    assert_eq!(
        b.get(3, 45_000),
        [r#"reply c3 400 "{\"code\":1,\"message\":\"Session ID unknown\"}""#]
    );
}

#[test]
fn connect_timeout_is_not_extended_by_pongs() {
    let mut b = Bench::new();
    b.handshake_ws(1, EioKind::SocketIo, 0);
    assert_eq!(b.time(25_000), [r#"frame c1 text "2""#]);
    assert_eq!(b.text(1, "3", 25_001), Vec::<String>::new());
    // A refused CONNECT does not count either.
    assert_eq!(
        b.text(1, "40/cli,", 30_000),
        ["connect s1 /cli auth=None peer=127.0.0.1"]
    );
    b.srv
        .connect_reply(1, ConnectReply::Refused("no".into()), b.at(30_000));
    assert_eq!(b.out(), [r#"frame c1 text "44/cli,{\"message\":\"no\"}""#]);
    assert_eq!(b.time(44_999), Vec::<String>::new());
    assert_eq!(b.time(45_000), ["close c1 ConnectTimeout 1000"]);
    assert_eq!(b.srv.session_count(), 0);
}

#[test]
fn leaving_the_last_namespace_restarts_the_connect_timeout() {
    let mut b = Bench::new();
    b.joined_ws();
    assert_eq!(b.text(1, "41/cli,", 1_000), ["disconnect s1"]);
    assert_eq!(b.srv.socket_count(), 0);
    b.text(1, "3", 30_000);
    assert_eq!(b.time(46_000), ["close c1 ConnectTimeout 1000"]);
}

#[test]
fn max_payload() {
    let mut b = Bench::new();
    b.handshake_polling(1, EioKind::SocketIo, 0);
    let big = format!("4{}", "x".repeat(MAX_PAYLOAD));
    assert_eq!(
        b.post(2, &big, 10),
        [r#"reply c2 413 "{\"error\":\"Payload Too Large\"}""#]
    );
    assert_eq!(b.srv.session_count(), 0);
    // On WebSocket: closed with 1009.
    b.joined_ws();
    assert_eq!(
        b.text(1, &big, 20),
        ["disconnect s1", "close c1 TooLarge 1009"]
    );
    assert_eq!(b.srv.session_count(), 0);
}

#[test]
fn packets_after_close() {
    let mut b = Bench::new();
    b.joined_ws();
    assert_eq!(
        b.text(1, "1", 100),
        ["disconnect s1", "close c1 ClientClose 1000"]
    );
    // The connection is no session's any more: anything on it is answered with a close.
    assert_eq!(
        b.text(1, r#"42/cli,["x"]"#, 110),
        ["close c1 NoSession 1000"]
    );
    // The app's late emits, acks and disconnects go nowhere.
    b.srv
        .emit(1, "late".into(), vec![], None, Vec::new(), b.at(120));
    b.srv.ack(1, 3, vec![], Vec::new(), b.at(120));
    b.srv.disconnect(1, b.at(120));
    b.srv.conn_closed(c(1), b.at(130));
    assert_eq!(b.out(), Vec::<String>::new());
    // A poll for the session: unknown.
    assert_eq!(
        b.get(2, 140),
        [r#"reply c2 400 "{\"code\":1,\"message\":\"Session ID unknown\"}""#]
    );
    // Polling: "1" ends the pending poll with a noop (engine.io-protocol "forcefully closes").
    b.handshake_polling(3, EioKind::Echo, 200);
    assert_eq!(b.get(4, 210), Vec::<String>::new());
    assert_eq!(
        b.post(5, "1", 220),
        [r#"reply c5 200 "ok""#, r#"reply c4 200 "6""#]
    );
    assert_eq!(b.post(6, "4x", 230).len(), 1);
    assert_eq!(b.srv.session_count(), 0);
}

#[test]
fn bad_packets_close_the_session() {
    let mut b = Bench::new();
    // Not an Engine.IO packet.
    b.joined_ws();
    assert_eq!(
        b.text(1, "9", 10),
        ["disconnect s1", "close c1 ProtocolError 1002"]
    );
    // Not a Socket.IO packet.
    let mut b = Bench::new();
    b.joined_ws();
    assert_eq!(
        b.text(1, "4zzz", 10),
        ["disconnect s1", "close c1 ProtocolError 1002"]
    );
    // An event for a namespace not joined; a server-only packet from the client.
    for bad in [r#"42["x"]"#, "2", r#"44/cli,{"message":"x"}"#] {
        let mut b = Bench::new();
        b.joined_ws();
        let out = b.text(1, bad, 10);
        assert_eq!(
            out.last().map(String::as_str),
            Some("close c1 ProtocolError 1002"),
            "{bad}"
        );
    }
    // Polling: a bad payload is 400 and the pending poll gets a close packet.
    b.handshake_polling(1, EioKind::SocketIo, 0);
    assert_eq!(b.get(2, 10), Vec::<String>::new());
    assert_eq!(
        b.post(3, "4a\u{1e}", 20),
        [
            r#"reply c3 400 "{\"code\":3,\"message\":\"Bad request\"}""#,
            r#"reply c2 200 "1""#
        ]
    );
    // A second pending GET is 400 too.
    b.handshake_polling(1, EioKind::Echo, 0);
    assert_eq!(b.get(2, 10), Vec::<String>::new());
    assert_eq!(
        b.get(3, 20),
        [
            r#"reply c3 400 "{\"code\":3,\"message\":\"Bad request\"}""#,
            r#"reply c2 200 "1""#
        ]
    );
    // A binary message with no binary packet waiting.
    let mut b = Bench::new();
    b.joined_ws();
    assert_eq!(
        b.binary(1, &[1, 2], 10),
        ["disconnect s1", "close c1 ProtocolError 1002"]
    );
    assert_eq!(b.srv.session_count(), 0);
    assert_eq!(b.srv.conn_count(), 0);
}

#[test]
fn handshake_errors() {
    let mut b = Bench::new();
    let r = request("GET", "EIO=3&transport=polling", b"", false);
    b.srv
        .handle_request(c(1), &r, EioKind::SocketIo, allowed(), peer(), b.at(0));
    let r = request("GET", "EIO=4&transport=carrier-pigeon", b"", false);
    b.srv
        .handle_request(c(2), &r, EioKind::SocketIo, allowed(), peer(), b.at(0));
    let r = request("POST", "EIO=4&transport=polling", b"", false);
    b.srv
        .handle_request(c(3), &r, EioKind::SocketIo, allowed(), peer(), b.at(0));
    let r = request("GET", "EIO=4&transport=polling", b"", false);
    let refused = OriginCheck::Refused;
    b.srv
        .handle_request(c(4), &r, EioKind::SocketIo, refused, peer(), b.at(0));
    let r = request("GET", "EIO=4&transport=websocket", b"", false);
    b.srv
        .handle_request(c(5), &r, EioKind::SocketIo, allowed(), peer(), b.at(0));
    assert_eq!(
        b.out(),
        [
            r#"reply c1 400 "{\"code\":5,\"message\":\"Unsupported protocol version\"}""#,
            r#"reply c2 400 "{\"code\":0,\"message\":\"Transport unknown\"}""#,
            r#"reply c3 400 "{\"code\":2,\"message\":\"Bad handshake method\"}""#,
            r#"reply c4 403 "{\"code\":4,\"message\":\"Origin not allowed\"}""#,
            r#"reply c5 400 "{\"code\":3,\"message\":\"Bad request\"}""#,
        ]
    );
    assert_eq!(b.srv.session_count(), 0);
}

#[test]
fn packets_behind_a_connect_wait_for_the_answer() {
    let mut b = Bench::new();
    b.handshake_polling(1, EioKind::SocketIo, 0);
    assert_eq!(
        b.post(2, "40/cli,{\"token\":\"t\"}\u{1e}42/cli,1[\"hi\",2]", 10),
        [
            r#"reply c2 200 "ok""#,
            r#"connect s1 /cli auth=Some(Object {"token": String("t")}) peer=127.0.0.1"#
        ]
    );
    assert_eq!(
        b.accept(1, 10),
        [r#"event s1 hi [2] ack=Some(1) binary=[]"#]
    );
    b.srv.ack(1, 1, vec![json!("ok")], Vec::new(), b.at(11));
    let out = b.get(3, 12);
    assert!(out[0].ends_with(r#"|43/cli,1[\"ok\"]""#), "{out:?}");
    // A refused CONNECT: the packets behind it are for a namespace not joined.
    b.handshake_polling(1, EioKind::SocketIo, 0);
    b.post(2, "40/x,\u{1e}42/x,[\"hi\"]", 10);
    b.srv.connect_reply(
        2,
        ConnectReply::Refused("Invalid namespace".into()),
        b.at(10),
    );
    assert_eq!(b.out(), Vec::<String>::new());
    assert_eq!(b.srv.session_count(), 1, "only the first session is left");
    // A session that ends while its CONNECT is with the app: an accepting app is told the
    // socket is gone.
    b.joined_ws();
    b.text(1, "40/terminal,", 20);
    b.srv.conn_closed(c(1), b.at(21));
    assert_eq!(b.out(), ["disconnect s3"]);
    assert_eq!(b.accept(4, 22), ["disconnect s4"]);
}

#[test]
fn binary_attachments_are_bounded() {
    let mut b = Bench::new();
    // A binary event with its attachments, as the app sees it.
    b.joined_ws();
    let header = r#"451-/cli,["up",{"_placeholder":true,"num":0}]"#;
    assert_eq!(b.text(1, header, 10), Vec::<String>::new());
    assert_eq!(
        b.binary(1, &[1, 2, 3], 20),
        [r#"event s1 up [{"_placeholder":true,"num":0}] ack=None binary=[[1, 2, 3]]"#]
    );
    // The app sends attachments back as binary frames.
    b.srv.emit(
        1,
        "down".into(),
        vec![json!({"_placeholder": true, "num": 0})],
        None,
        vec![vec![9]],
        b.at(30),
    );
    assert_eq!(
        b.out(),
        [
            r#"frame c1 text "451-/cli,[\"down\",{\"_placeholder\":true,\"num\":0}]""#,
            "frame c1 binary [9]"
        ]
    );
    // Attachments for a namespace not joined are refused at the header, before any byte.
    let header = r#"451-["up",{"_placeholder":true,"num":0}]"#;
    assert_eq!(
        b.text(1, header, 40),
        ["disconnect s1", "close c1 ProtocolError 1002"]
    );
    // More than 64 attachments announced.
    b.joined_ws();
    let header = r#"4565-/cli,["up"]"#;
    assert_eq!(
        b.text(1, header, 10),
        ["disconnect s2", "close c1 ProtocolError 1002"]
    );
    // More bytes than maxPayload over the packet's attachments.
    b.joined_ws();
    let header = r#"453-/cli,["up"]"#;
    assert_eq!(b.text(1, header, 10), Vec::<String>::new());
    assert_eq!(b.binary(1, &[0; 600], 20), Vec::<String>::new());
    assert_eq!(
        b.binary(1, &[0; 600], 30),
        ["disconnect s3", "close c1 TooLarge 1009"]
    );
    assert_eq!(b.srv.session_count(), 0);
}

#[test]
fn sessions_in_no_namespace_are_capped() {
    let limits = Limits {
        max_unjoined: 2,
        ..Limits::for_config(&cfg())
    };
    let mut b = Bench::with_limits(limits);
    b.handshake_ws(1, EioKind::SocketIo, 0);
    b.handshake_polling(2, EioKind::SocketIo, 0);
    assert_eq!(
        b.handshake_polling(3, EioKind::SocketIo, 0),
        [r#"reply c3 503 "{\"error\":\"Too many sessions waiting to connect\"}""#]
    );
    // One joins: room for another.
    b.text(1, "40/cli,", 10);
    b.accept(1, 10);
    assert_eq!(b.handshake_polling(4, EioKind::SocketIo, 20).len(), 1);
    assert_eq!(b.srv.session_count(), 3);
    // Bare Engine.IO sessions (no namespaces) are not counted.
    b.handshake_polling(5, EioKind::Echo, 20);
    assert_eq!(b.srv.session_count(), 4);
}

#[test]
fn websocket_control_messages() {
    let mut b = Bench::new();
    b.joined_ws();
    b.srv
        .handle_ws_message(c(1), Message::Ping(b"hi".to_vec()), b.at(10));
    assert_eq!(b.out(), [r#"frame c1 pong "hi""#]);
    let close = crate::ws::CloseFrame {
        code: 1001,
        reason: String::new(),
    };
    b.srv
        .handle_ws_message(c(1), Message::Close(Some(close)), b.at(20));
    assert_eq!(b.out(), ["disconnect s1", "close c1 PeerClosed(1001) 1001"]);
    assert_eq!(b.srv.session_count(), 0);
}

#[test]
fn echo_sessions_send_messages_back() {
    let mut b = Bench::new();
    b.handshake_ws(1, EioKind::Echo, 0);
    assert_eq!(b.text(1, "4hello", 10), [r#"frame c1 text "4hello""#]);
    assert_eq!(b.binary(1, &[7, 8], 20), ["frame c1 binary [7, 8]"]);
    assert_eq!(
        b.srv.poll_deadline(),
        Some(b.at(25_000)),
        "no connect timeout"
    );
}

#[test]
fn stopped_polling_client_is_dropped() {
    let mut b = Bench::new();
    b.handshake_polling(1, EioKind::SocketIo, 0);
    b.post(2, "40", 10);
    b.accept(1, 10);
    let arg = json!("y".repeat(400));
    for _ in 0..5 {
        b.srv
            .emit(1, "x".into(), vec![arg.clone()], None, Vec::new(), b.at(20));
    }
    assert_eq!(b.out(), ["disconnect s1"]);
    assert_eq!(b.srv.session_count(), 0);
}

#[test]
fn ws_handshake_opens_on_the_websocket() {
    let mut b = Bench::new();
    assert_eq!(
        b.handshake_ws(1, EioKind::SocketIo, 0),
        ["upgrade c1", OPEN_WS]
    );
}
