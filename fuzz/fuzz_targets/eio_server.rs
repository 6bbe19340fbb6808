//! Stateful fuzzing of the Engine.IO / Socket.IO server: arbitrary sequences of requests,
//! WebSocket messages, closed connections, app calls and time steps. Checks that it never
//! panics and that its state stays bounded (sessions, connections, timer entries, outputs).
#![no_main]

use hapid::app::{ConnId, ConnectReply, EioConfig, EioKind, OriginCheck};
use hapid::eio_server::{Limits, Output, Server};
use hapid::http::{Head, Request};
use hapid::ws::Message;
use std::time::{Duration, Instant};

const QUERIES: [&str; 6] = [
    "EIO=4&transport=polling",
    "EIO=4&transport=websocket",
    "EIO=3&transport=polling",
    "EIO=4&transport=polling&sid=",
    "EIO=4&transport=websocket&sid=",
    "transport=carrier",
];
const TEXTS: [&str; 14] = [
    "2probe", "5", "3", "1", "6", "40", "40/cli,", "41/cli,", "42[\"a\",1]", "42/cli,3[\"e\"]",
    "451-/cli,[\"u\",{\"_placeholder\":true,\"num\":0}]", "43/cli,1[]", "4zz", "9",
];

fn request(method: &str, query: String, body: Vec<u8>, ws: bool) -> Request {
    let mut headers = Vec::new();
    if ws {
        for (n, v) in [
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ] {
            headers.push((n.to_string(), v.as_bytes().to_vec()));
        }
    }
    Request {
        head: Head { method: method.to_string(), path: "/socket.io/".into(), query, headers, minor: 1 },
        body,
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let cfg = EioConfig { ping_interval_ms: 300, ping_timeout_ms: 200, max_payload: 512 };
    let limits = Limits { max_unjoined: 8, max_attachments: 4, max_attachment_bytes: 512, max_held: 16 };
    let mut srv = Server::new(cfg, limits);
    let t0 = Instant::now();
    let mut now = t0;
    let mut sids: Vec<String> = Vec::new();
    let mut sockets = Vec::new();
    let mut connects = Vec::new();
    let mut it = data.chunks(3);
    while let Some(op) = it.next() {
        let [a, b, c] = [op.first(), op.get(1), op.get(2)].map(|x| x.copied().unwrap_or(0));
        let conn = ConnId { slot: u32::from(b % 16), generation: 1 };
        let sid = sids.get(usize::from(c) % sids.len().max(1)).cloned().unwrap_or_default();
        let text = TEXTS[usize::from(c) % TEXTS.len()];
        match a % 10 {
            0 | 1 => {
                let q = QUERIES[usize::from(b) % QUERIES.len()];
                let q = if q.ends_with('=') { format!("{q}{sid}") } else { q.to_string() };
                let method = if c % 4 == 0 { "POST" } else { "GET" };
                let body = text.as_bytes().to_vec();
                let kind = EioKind::SocketIo; // bare Engine.IO (conformance only) has no session cap
                let origin = if c % 11 == 0 { OriginCheck::Refused } else { OriginCheck::Allowed(None) };
                let req = request(method, q.clone(), body, q.contains("websocket"));
                srv.handle_request(conn, &req, kind, origin, [127, 0, 0, 1].into(), now);
            }
            2 | 3 => srv.handle_ws_message(conn, Message::Text(text.to_string()), now),
            4 => srv.handle_ws_message(conn, Message::Binary(vec![c; usize::from(b) * 4]), now),
            5 => srv.conn_closed(conn, now),
            6 => now += Duration::from_millis(u64::from(b) * 4),
            7 => {
                if let Some(s) = connects.pop() {
                    let r = if c % 2 == 0 { ConnectReply::Ok } else { ConnectReply::Refused("no".into()) };
                    srv.connect_reply(s, r, now);
                }
            }
            8 => {
                if let Some(&s) = sockets.get(usize::from(c) % sockets.len().max(1)) {
                    match b % 3 {
                        0 => srv.emit(s, "e".into(), vec![], Some(1), vec![vec![1]], now),
                        1 => srv.ack(s, 1, vec![], vec![], now),
                        _ => srv.disconnect(s, now),
                    }
                }
            }
            _ => srv.handle_timeout(now),
        }
        if let Some(d) = srv.poll_deadline() {
            assert!(d <= now + Duration::from_secs(60), "deadline too far");
        }
        while let Some(o) = srv.poll_output() {
            match o {
                Output::Reply { resp, .. } => {
                    let body = String::from_utf8_lossy(&resp.body);
                    if let Some(rest) = body.strip_prefix("0{\"sid\":\"") {
                        sids.push(rest.chars().take_while(|&ch| ch != '"').collect());
                    }
                }
                Output::WsFrame { payload, .. } => {
                    if let Some(rest) = payload.strip_prefix(b"0{\"sid\":\"") {
                        sids.push(String::from_utf8_lossy(rest).chars().take_while(|&ch| ch != '"').collect());
                    }
                }
                Output::Connect { socket, .. } => {
                    connects.push(socket);
                    sockets.push(socket);
                }
                _ => {}
            }
        }
        // Bounded: 16 connection ids, at most 8 unjoined sessions (joins need a Connect).
        assert!(srv.conn_count() <= 16);
        assert!(srv.session_count() <= 8 + sockets.len() + 16);
        assert!(srv.timer_entries() <= 4 * srv.session_count() + 65);
        sids.truncate(64);
    }
});
