//! Operability (issue 9) against the real binary: `hapid backup` during a message storm,
//! holding failed credentials per client address, `/metrics`, SIGHUP log reopening, and SIGTERM with
//! live event streams and CLI sockets.
//!
//! The CLI side is the raw Socket.IO client of `tests/common/sio.rs`.

mod common;

use common::sio::Sio;
use common::{Closed, Hub, RawConn, TEST_TOKEN, TempDir, request_bytes};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

fn create_session(hub: &Hub, tag: &str) -> String {
    let r = hub.post_json(
        "/cli/sessions",
        Some(TEST_TOKEN),
        &json!({ "tag": tag, "metadata": { "path": "/tmp/ops", "host": "ops-test", "flavor": "claude" } }),
    );
    assert_eq!(r.status, 200, "POST /cli/sessions: {r:?}");
    r.json()["session"]["id"]
        .as_str()
        .expect("session id")
        .to_string()
}

fn agent_message(i: usize) -> Value {
    json!({
        "role": "agent",
        "content": { "type": "output", "data": { "type": "assistant", "n": i, "text": "x".repeat(400) } },
        "meta": { "sentFrom": "cli" }
    })
}

/// Sends acked `message` events on `sid` with `window` in flight until `stop` (or `max`),
/// pushing each acknowledged localId to `acked`; returns how many were sent.
fn storm(
    hub: &Hub,
    sid: &str,
    prefix: &str,
    window: usize,
    max: usize,
    stop: &AtomicBool,
    acked: &Mutex<Vec<String>>,
) -> usize {
    let mut c = Sio::connect(
        hub,
        &json!({ "token": TEST_TOKEN, "clientType": "session-scoped", "sessionId": sid }),
    );
    let mut ids: BTreeMap<u64, String> = BTreeMap::new();
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        while ids.len() < window && sent < max && !stop.load(Ordering::SeqCst) {
            let local = format!("{prefix}-{sent}");
            let id = c.emit_ack(
                "message",
                &json!({ "sid": sid, "message": agent_message(sent), "localId": local }),
            );
            ids.insert(id, local);
            sent += 1;
        }
        if ids.is_empty() {
            return sent;
        }
        assert!(Instant::now() < deadline, "storm did not finish in 60 s");
        let (id, res) = c.recv_ack().expect("ack");
        assert_eq!(res, json!({ "ok": true }), "message ack");
        let local = ids.remove(&id).expect("ack for a message sent");
        acked.lock().unwrap().push(local);
    }
}

/// `hapid backup FILE` against `hub`'s home; its exit status and stderr.
fn run_backup(hub: &Hub, dest: &Path) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hapid"));
    for (name, _, _) in hapid::config::ENV_HELP {
        cmd.env_remove(name);
    }
    let out = cmd
        .arg("backup")
        .arg(dest)
        .env("HAPI_HOME", hub.home())
        .env("CLI_API_TOKEN", TEST_TOKEN)
        .output()
        .expect("run hapid backup");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------- backup

#[test]
fn backup_during_a_message_storm_holds_every_acked_message() {
    let hub = Hub::start(&[]);
    let sids = [
        create_session(&hub, "storm-a"),
        create_session(&hub, "storm-b"),
    ];
    let stop = AtomicBool::new(false);
    let acked: Vec<Mutex<Vec<String>>> = vec![Mutex::new(Vec::new()), Mutex::new(Vec::new())];
    let total = || acked.iter().map(|a| a.lock().unwrap().len()).sum::<usize>();
    let dest_dir = TempDir::new("backup");
    // Three backups while two sockets keep storming, at growing database sizes.
    let marks = [1_000, 4_000, 8_000];
    let dests: Vec<_> = (0..marks.len())
        .map(|k| dest_dir.path().join(format!("copy-{k}.db")))
        .collect();

    let snapshots: Vec<Vec<Vec<String>>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let (hub, sid, stop, acked) = (&hub, &sids[i], &stop, &acked[i]);
                s.spawn(move || storm(hub, sid, &format!("s{i}"), 32, 100_000, stop, acked))
            })
            .collect();
        let t0 = Instant::now();
        let mut snapshots = Vec::new();
        for (k, mark) in marks.iter().enumerate() {
            while total() < *mark {
                assert!(t0.elapsed() < Duration::from_secs(60), "storm too slow");
                std::thread::sleep(Duration::from_millis(5));
            }
            // Everything acknowledged up to here must be in the copy.
            let snapshot: Vec<Vec<String>> =
                acked.iter().map(|a| a.lock().unwrap().clone()).collect();
            let (ok, err) = run_backup(&hub, &dests[k]);
            assert!(ok, "hapid backup failed: {err}");
            eprintln!(
                "backup {k}: {} acked before it started, {} when it finished",
                snapshot.iter().map(Vec::len).sum::<usize>(),
                total()
            );
            snapshots.push(snapshot);
        }
        // The storm goes on after the last backup, then stops.
        let end = total() + 200;
        while total() < end && t0.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.join().expect("storm thread");
        }
        snapshots
    });

    use std::os::unix::fs::PermissionsExt;
    for (k, dest) in dests.iter().enumerate() {
        let mode = std::fs::metadata(dest)
            .expect("backup file")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "backup file mode");
        let copy = hapid::store::Store::open(dest).expect("open the backup");
        assert!(copy.integrity_ok(), "backup {k}: integrity_check");
        let rows = copy.load_sessions().expect("sessions in the backup");
        for (i, sid) in sids.iter().enumerate() {
            assert!(
                rows.iter().any(|r| &r.id == sid),
                "backup {k}: session {sid} missing"
            );
            let msgs = copy.messages_after(sid, 0, i64::MAX).expect("messages");
            let seqs: Vec<i64> = msgs.iter().map(|m| m.seq).collect();
            let want: Vec<i64> = (1..=msgs.len() as i64).collect();
            assert_eq!(seqs, want, "backup {k}: seq gaps in {sid}");
            // A consistent prefix of what the socket sent, in order...
            for (n, m) in msgs.iter().enumerate() {
                assert_eq!(m.local_id.as_deref(), Some(format!("s{i}-{n}").as_str()));
            }
            // ... holding at least everything acknowledged before the backup started.
            let acked_before = snapshots[k][i].len();
            assert!(
                msgs.len() >= acked_before,
                "backup {k}, {sid}: {} messages, but {acked_before} were acked before it started",
                msgs.len()
            );
            let have: HashSet<&str> = msgs.iter().filter_map(|m| m.local_id.as_deref()).collect();
            assert!(snapshots[k][i].iter().all(|l| have.contains(l.as_str())));
        }
    }

    // The live database has everything acked, and the hub is unaffected.
    let jwt = hub.jwt("default");
    let list = hub.get("/api/sessions", Some(&jwt));
    assert_eq!(list.status, 200);
    let mut hub = hub;
    assert!(hub.stop().success());
    let live = hapid::store::Store::open(&hub.db_path()).expect("reopen");
    assert!(live.integrity_ok());
    for (i, sid) in sids.iter().enumerate() {
        let msgs = live.messages_after(sid, 0, i64::MAX).expect("messages");
        let have: HashSet<&str> = msgs.iter().filter_map(|m| m.local_id.as_deref()).collect();
        for l in acked[i].lock().unwrap().iter() {
            assert!(have.contains(l.as_str()), "acked {l} lost from the live DB");
        }
    }

    // A backup never overwrites an existing file.
    let (ok, err) = run_backup(&hub, &dests[0]);
    assert!(!ok, "backup overwrote {}", dests[0].display());
    assert!(err.contains("already exists"), "unclear error: {err}");
}

// ---------------------------------------------------------------- auth throttling

/// One request on a kept-alive connection, reconnecting when the hub closed it.
fn keepalive_request(
    hub: &Hub,
    conn: &mut Option<RawConn>,
    bytes: &[u8],
    method: &str,
) -> common::Resp {
    for _ in 0..3 {
        let c = conn.get_or_insert_with(|| hub.conn());
        if c.try_send(bytes).is_ok()
            && let Ok(r) = c.try_read_response(method)
        {
            if r.header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            {
                *conn = None;
            }
            return r;
        }
        *conn = None;
    }
    panic!("no response to {method} after 3 connections");
}

fn curl_from(addr: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "--interface",
            addr,
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .output()
        .expect("curl is required for this test (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("curl output");
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Wrong tokens from one address (alternately on `/api/auth` and as a forged JWT) are answered
/// 401 every time: the first five at once, then each held 0.5 s, 1 s, 2 s... (the gate of
/// `hub::gate`). Logged without the tokens; the right token from the same address and from
/// another address gets in.
#[test]
fn wrong_tokens_are_held_and_logged_and_the_owner_gets_in() {
    let hub = Hub::start(&[]);
    let mut conn = None;
    let wrong = |i: usize| format!("wrong-token-{i:05}-Zq8");
    let attempt = |conn: &mut Option<RawConn>, i: usize| -> common::Resp {
        let bytes = if i.is_multiple_of(2) {
            let body = json!({ "accessToken": wrong(i) }).to_string();
            request_bytes(
                "POST",
                "/api/auth",
                &[("Content-Type", "application/json")],
                body.as_bytes(),
                false,
            )
        } else {
            let auth = format!("Bearer {}", wrong(i));
            request_bytes(
                "GET",
                "/api/sessions",
                &[("Authorization", &auth)],
                b"",
                false,
            )
        };
        keepalive_request(
            &hub,
            conn,
            &bytes,
            if i.is_multiple_of(2) { "POST" } else { "GET" },
        )
    };
    let t0 = Instant::now();
    let statuses: Vec<u16> = (0..8).map(|i| attempt(&mut conn, i).status).collect();
    let took = t0.elapsed();
    eprintln!("FIGURE 8 wrong tokens in sequence took {took:?}");
    assert_eq!(statuses, [401; 8]);
    // 0.5 + 1 + 2 s of holds for the 6th, 7th and 8th.
    assert!(took >= Duration::from_millis(3_500), "{took:?}");
    let line = hub
        .stderr
        .wait_line(
            |l| l.contains("failed attempts from 127.0.0.1"),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no log line:\n{}", hub.stderr.text()));
    eprintln!("log: {line}");
    let log = hub.stderr.text();
    assert!(
        !log.contains("wrong-token-"),
        "a token reached the log:\n{log}"
    );
    assert!(
        !log.contains(TEST_TOKEN),
        "the access token reached the log"
    );
    assert!(
        !log.contains("Bearer"),
        "an Authorization header reached the log"
    );
    // The right token from the same address is never refused ...
    let r = hub.post_json("/api/auth", None, &json!({ "accessToken": TEST_TOKEN }));
    assert_eq!(r.status, 200, "{r:?}");
    // ... and another address was never held: its JWT works.
    let url = hub.url();
    let body = json!({ "accessToken": TEST_TOKEN }).to_string();
    let (code, text) = curl_from(
        "127.0.0.2",
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
            &format!("{url}/api/auth"),
        ],
    );
    assert_eq!(code, 200, "POST /api/auth from 127.0.0.2: {code} {text}");
    let jwt = serde_json::from_str::<Value>(&text).expect("JSON")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let auth = format!("Authorization: Bearer {jwt}");
    let (code, text) = curl_from("127.0.0.2", &["-H", &auth, &format!("{url}/api/sessions")]);
    assert_eq!(code, 200, "GET /api/sessions from 127.0.0.2: {code} {text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({ "sessions": [] })
    );
    assert!(!hub.stderr.text().contains(&jwt), "a JWT reached the log");
}

/// Socket.IO handshakes are another way to try tokens: wrong ones count with the others and
/// their refusals are held like HTTP failures; the right token connects at once.
#[test]
fn wrong_tokens_in_socket_handshakes_are_held_too() {
    let hub = Hub::start(&[]);
    // /cli with a wrong CLI token, and /terminal with a forged JWT: both count.
    let mut refusals = Vec::new();
    let t0 = Instant::now();
    for i in 0..8 {
        let (nsp, auth) = if i % 2 == 0 {
            ("/cli", json!({ "token": format!("wrong-token-{i}") }))
        } else {
            (
                "/terminal",
                json!({ "token": "eyJhbGciOiJIUzI1NiJ9.e30.forged" }),
            )
        };
        let e = Sio::try_connect(&hub, nsp, &auth)
            .err()
            .expect("a wrong token is refused");
        refusals.push(e);
    }
    let took = t0.elapsed();
    eprintln!("refusals: {refusals:?} in {took:?}");
    assert!(
        refusals.iter().all(|e| e == "Invalid token"),
        "{refusals:?}"
    );
    assert!(took >= Duration::from_millis(3_500), "{took:?}");
    // The right token from the same address connects.
    let ok = Sio::try_connect(&hub, "/cli", &json!({ "token": TEST_TOKEN }));
    assert!(ok.is_ok(), "{:?}", ok.err());
    // Another address connects too (Engine.IO polling through curl, which can
    // pick its source address).
    let url = hub.url();
    let (code, open) = curl_from(
        "127.0.0.2",
        &[&format!("{url}/socket.io/?EIO=4&transport=polling")],
    );
    assert_eq!(code, 200, "{open}");
    let open: Value = serde_json::from_str(open.trim_start_matches('0')).expect("open packet");
    let sid = open["sid"].as_str().expect("sid");
    let poll = format!("{url}/socket.io/?EIO=4&transport=polling&sid={sid}");
    let connect = format!("40/cli,{}", json!({ "token": TEST_TOKEN }));
    let (code, text) = curl_from("127.0.0.2", &["-X", "POST", "-d", &connect, &poll]);
    assert_eq!((code, text.as_str()), (200, "ok"));
    let (code, text) = curl_from("127.0.0.2", &[&poll]);
    assert_eq!(code, 200, "{text}");
    assert!(text.starts_with("40/cli,{\"sid\":"), "{text}");
    // The failures were logged without the tokens.
    let log = hub.stderr.text();
    assert!(log.contains("failed attempts from 127.0.0.1"), "{log}");
    assert!(
        !log.contains("wrong-token-") && !log.contains("forged"),
        "{log}"
    );
}

/// A Socket.IO handshake over Engine.IO polling through curl from 127.0.0.1, with extra
/// headers; the CONNECT reply packet.
fn polling_connect(hub: &Hub, headers: &[&str], auth: &Value) -> String {
    let url = hub.url();
    let mut h: Vec<&str> = Vec::new();
    for x in headers {
        h.extend(["-H", x]);
    }
    let open_url = format!("{url}/socket.io/?EIO=4&transport=polling");
    let (code, open) = curl_from("127.0.0.1", &[&h[..], &[open_url.as_str()]].concat());
    assert_eq!(code, 200, "{open}");
    let open: Value = serde_json::from_str(open.trim_start_matches('0')).expect("open packet");
    let poll = format!(
        "{url}/socket.io/?EIO=4&transport=polling&sid={}",
        open["sid"].as_str().expect("sid")
    );
    let connect = format!("40/cli,{auth}");
    let post = [
        &h[..],
        &["-X", "POST", "-d", connect.as_str(), poll.as_str()],
    ]
    .concat();
    assert_eq!(curl_from("127.0.0.1", &post), (200, "ok".to_string()));
    let (code, reply) = curl_from("127.0.0.1", &[&h[..], &[poll.as_str()]].concat());
    assert_eq!(code, 200, "{reply}");
    reply
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_client_is_throttled_not_the_proxy() {
    let hub = Hub::start(&[("HAPID_TRUSTED_PROXIES", "127.0.0.1, ::1")]);
    let auth = |xff: &str, token: &str| {
        let body = json!({ "accessToken": token }).to_string();
        hub.request(
            "POST",
            "/api/auth",
            &[
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", xff),
            ],
            body.as_bytes(),
        )
        .status
    };
    // A client behind the proxy keeps failing (and claims an address of its own choosing on
    // the left, which must not help it).
    let statuses: Vec<u16> = (0..8)
        .map(|i| auth(&format!("10.9.9.{i}, 203.0.113.7"), "wrong-token-Zq8"))
        .collect();
    assert_eq!(statuses, [401; 8]);
    // Another client through the same proxy gets in; so does the failing one with the right
    // token (its failures are held, its successes never).
    assert_eq!(auth("203.0.113.8", TEST_TOKEN), 200);
    assert_eq!(auth("203.0.113.7", TEST_TOKEN), 200);
    let log = hub.stderr.text();
    assert!(log.contains("failed attempts from 203.0.113.7"), "{log}");
    // The Socket.IO handshake uses the forwarded address as well.
    let token = json!({ "token": TEST_TOKEN });
    let wrong = json!({ "token": "wrong-token-Zq8" });
    let refused = polling_connect(&hub, &["X-Forwarded-For: 203.0.113.7"], &wrong);
    assert!(refused.starts_with("44/cli,"), "{refused}");
    assert!(refused.contains("Invalid token"), "{refused}");
    let ok = polling_connect(&hub, &["X-Forwarded-For: 203.0.113.7"], &token);
    assert!(ok.starts_with("40/cli,{\"sid\":"), "{ok}");
    let ok = polling_connect(&hub, &["X-Forwarded-For: 203.0.113.8"], &token);
    assert!(ok.starts_with("40/cli,{\"sid\":"), "{ok}");
}

#[test]
fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let hub = Hub::start(&[]);
    let statuses: Vec<u16> = (0..6)
        .map(|i| {
            let body = json!({ "accessToken": "wrong-token-Zq8" }).to_string();
            hub.request(
                "POST",
                "/api/auth",
                &[
                    ("Content-Type", "application/json"),
                    ("X-Forwarded-For", &format!("198.51.100.{i}")),
                ],
                body.as_bytes(),
            )
            .status
        })
        .collect();
    assert_eq!(statuses, [401; 6]);
    // All six counted against the peer, 127.0.0.1: the sixth was held.
    let line = hub.stderr.wait_line(
        |l| l.contains("6 failed attempts from 127.0.0.1"),
        Duration::from_secs(10),
    );
    assert!(line.is_some(), "a forged header bypassed the throttle");
}

// ---------------------------------------------------------------- /metrics

/// One Prometheus sample.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn valid_name(n: &str) -> bool {
    let mut cs = n.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses the Prometheus text format (0.0.4) strictly enough to catch malformed output;
/// returns the samples and the TYPE of each family.
fn parse_prometheus(text: &str) -> (Vec<Sample>, BTreeMap<String, String>) {
    let mut samples = Vec::new();
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            let mut parts = c.trim_start().splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(n), _) => assert!(valid_name(n), "HELP name {line:?}"),
                (Some("TYPE"), Some(n), Some(t)) => {
                    assert!(valid_name(n), "TYPE name {line:?}");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "TYPE {line:?}"
                    );
                    assert!(
                        types.insert(n.to_string(), t.to_string()).is_none(),
                        "TYPE twice: {n}"
                    );
                }
                _ => {} // other comments are allowed
            }
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value: {line:?}"));
        let name = &line[..name_end];
        assert!(valid_name(name), "metric name {name:?} in {line:?}");
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(l) = rest.strip_prefix('{') {
            let bytes = l.as_bytes();
            let mut j = 0;
            while bytes.get(j) != Some(&b'}') {
                let eq = l[j..]
                    .find('=')
                    .map(|e| j + e)
                    .unwrap_or_else(|| panic!("label without = in {line:?}"));
                let lname = &l[j..eq];
                assert!(valid_name(lname), "label name {lname:?} in {line:?}");
                assert_eq!(
                    bytes.get(eq + 1),
                    Some(&b'"'),
                    "unquoted label value in {line:?}"
                );
                let mut val = String::new();
                j = eq + 2;
                loop {
                    match bytes.get(j) {
                        Some(b'\\') => {
                            match bytes.get(j + 1) {
                                Some(b'n') => val.push('\n'),
                                Some(b'\\') => val.push('\\'),
                                Some(b'"') => val.push('"'),
                                other => panic!("bad escape {other:?} in {line:?}"),
                            }
                            j += 2;
                        }
                        Some(b'"') => break,
                        Some(_) => {
                            let ch = l[j..].chars().next().expect("a char");
                            val.push(ch);
                            j += ch.len_utf8();
                        }
                        None => panic!("unterminated label value in {line:?}"),
                    }
                }
                assert!(
                    labels.insert(lname.to_string(), val).is_none(),
                    "label twice in {line:?}"
                );
                j += 1; // the closing quote
                match bytes.get(j) {
                    Some(b',') => j += 1,
                    Some(b'}') => {}
                    _ => panic!("expected , or }} in {line:?}"),
                }
            }
            rest = &l[j + 1..];
        }
        let mut fields = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no space before value: {line:?}"))
            .split(' ');
        let v = fields.next().expect("value");
        let value = match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            _ => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value {v:?} in {line:?}")),
        };
        if let Some(ts) = fields.next() {
            ts.parse::<i64>()
                .unwrap_or_else(|_| panic!("bad timestamp in {line:?}"));
        }
        assert!(fields.next().is_none(), "trailing fields in {line:?}");
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    (samples, types)
}

fn family<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
        {
            return base;
        }
    }
    name
}

#[test]
fn metrics_are_protected_and_in_prometheus_text_format() {
    let hub = Hub::start(&[]);
    let jwt = hub.jwt("default");
    // Some activity: commits, an event stream and a CLI websocket.
    let sid = create_session(&hub, "metrics");
    let mut sse = hub.conn();
    sse.send(&request_bytes(
        "GET",
        &format!("/api/events?token={jwt}&all=true"),
        &[],
        b"",
        false,
    ));
    let (status, _) = sse.read_head().expect("SSE head");
    assert_eq!(status, 200);
    let mut cli = Sio::connect(
        &hub,
        &json!({ "token": TEST_TOKEN, "clientType": "session-scoped", "sessionId": sid }),
    );
    let id = cli.emit_ack(
        "message",
        &json!({ "sid": sid, "message": agent_message(0) }),
    );
    assert_eq!(cli.recv_ack().expect("ack"), (id, json!({ "ok": true })));

    let r = hub.get("/metrics", None);
    assert_eq!(r.status, 401, "{r:?}");
    let r = hub.get("/metrics", Some("not-a-jwt"));
    assert_eq!(r.status, 401, "{r:?}");
    let r = hub.get("/metrics", Some(&jwt));
    assert_eq!(r.status, 200, "{r:?}");
    let ct = r.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("text/plain") && ct.contains("version=0.0.4"),
        "{ct}"
    );
    let text = r.text();
    let (samples, types) = parse_prometheus(&text);

    // Every sample belongs to a declared family; no duplicates.
    let mut seen = HashSet::new();
    for s in &samples {
        let fam = family(&s.name, &types);
        assert!(types.contains_key(fam), "no TYPE for {}", s.name);
        assert!(
            seen.insert((s.name.clone(), format!("{:?}", s.labels))),
            "duplicate {s:?}"
        );
    }
    let get = |name: &str, label: Option<(&str, &str)>| -> Option<f64> {
        samples
            .iter()
            .find(|s| {
                s.name == name && label.is_none_or(|(k, v)| s.labels.get(k).is_some_and(|x| x == v))
            })
            .map(|s| s.value)
    };
    assert_eq!(
        types.get("hapid_connections").map(String::as_str),
        Some("gauge"),
        "{text}"
    );
    assert!(
        get("hapid_connections", Some(("kind", "sse"))).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        get("hapid_connections", Some(("kind", "websocket"))).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        get("hapid_db_size_bytes", None).is_some_and(|v| v > 0.0),
        "hapid_db_size_bytes missing or zero:\n{text}"
    );
    assert_eq!(
        types.get("hapid_commit_seconds").map(String::as_str),
        Some("histogram"),
        "hapid_commit_seconds histogram missing:\n{text}"
    );
    let buckets: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "hapid_commit_seconds_bucket")
        .collect();
    assert!(buckets.len() >= 2, "{text}");
    let mut prev = (f64::NEG_INFINITY, 0.0);
    for b in &buckets {
        let le = b.labels.get("le").expect("le label");
        let le: f64 = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().expect("le")
        };
        assert!(
            le > prev.0 && b.value >= prev.1,
            "buckets not cumulative: {text}"
        );
        prev = (le, b.value);
    }
    assert_eq!(prev.0, f64::INFINITY, "no +Inf bucket");
    let count = get("hapid_commit_seconds_count", None).expect("_count");
    assert_eq!(prev.1, count, "+Inf bucket != _count");
    assert!(count >= 1.0, "no commits counted after writes");
    assert!(get("hapid_commit_seconds_sum", None).is_some_and(|v| v >= 0.0));

    // HAPID_METRICS_PUBLIC=1: no JWT needed.
    let public = Hub::start(&[("HAPID_METRICS_PUBLIC", "1")]);
    let r = public.get("/metrics", None);
    assert_eq!(r.status, 200, "{r:?}");
    parse_prometheus(&r.text());
}

// ---------------------------------------------------------------- SIGHUP

#[test]
fn sighup_reopens_the_log_file() {
    let dir = TempDir::new("logs");
    let log = dir.path().join("hapid.log");
    let rotated = dir.path().join("hapid.log.1");
    let mut hub = Hub::start(&[("HAPID_LOG_FILE", log.to_str().unwrap())]);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let wait_for = |p: &Path, what: &str, n: usize| {
        let t0 = Instant::now();
        while read(p).matches(what).count() < n {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{} never had {n}× {what:?}:\n{}",
                p.display(),
                read(p)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert!(log.exists(), "HAPID_LOG_FILE not created at start");
    hub.signal("HUP");
    wait_for(&log, "log reopened", 1);

    std::fs::rename(&log, &rotated).unwrap();
    assert!(!log.exists());
    hub.signal("HUP");
    wait_for(&log, "log reopened", 1);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "new log file mode");
    assert_eq!(
        hub.get("/health", None).status,
        200,
        "hub alive after SIGHUP"
    );

    // New lines go to the new file only.
    let old = read(&rotated);
    assert!(hub.stop().success());
    wait_for(&log, "shutting down", 1);
    assert_eq!(
        read(&rotated),
        old,
        "the rotated file was written after SIGHUP"
    );
    assert!(
        !hub.stderr.text().contains("log reopened"),
        "logged to stderr too"
    );
}

// ---------------------------------------------------------------- SIGTERM

#[test]
fn sigterm_with_open_streams_and_cli_sockets_commits_and_exits() {
    let mut hub = Hub::start(&[]);
    let jwt = hub.jwt("default");
    let sid = create_session(&hub, "sigterm");
    let mut cli = Sio::connect(
        &hub,
        &json!({ "token": TEST_TOKEN, "clientType": "session-scoped", "sessionId": sid }),
    );
    cli.emit(
        "session-alive",
        &json!({ "sid": sid, "time": now_ms(), "thinking": true, "mode": "remote" }),
    );
    let mut want = Vec::new();
    for i in 0..20 {
        let local = format!("term-{i}");
        let id = cli.emit_ack(
            "message",
            &json!({ "sid": sid, "message": agent_message(i), "localId": local }),
        );
        assert_eq!(cli.recv_ack().expect("ack"), (id, json!({ "ok": true })));
        want.push(local);
    }
    // A second socket (a runner) and two event streams, one per filter kind.
    let mut runner = Sio::connect(
        &hub,
        &json!({ "token": TEST_TOKEN, "clientType": "machine-scoped" }),
    );
    let mut streams = Vec::new();
    for q in [format!("sessionId={sid}"), "all=true".to_string()] {
        let mut c = hub.conn();
        c.send(&request_bytes(
            "GET",
            &format!("/api/events?token={jwt}&{q}"),
            &[],
            b"",
            false,
        ));
        let (status, _) = c.read_head().expect("SSE head");
        assert_eq!(status, 200);
        let first = c.read_chunk().expect("first frame").expect("a frame");
        assert!(String::from_utf8_lossy(&first).contains("connection-changed"));
        streams.push(c);
    }
    // Messages still arriving when the signal lands (no acks asked).
    for i in 20..40 {
        cli.emit(
            "message",
            &json!({ "sid": sid, "message": agent_message(i), "localId": format!("term-{i}") }),
        );
    }

    let t0 = Instant::now();
    hub.sigterm();
    let status = hub
        .wait_exit(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("still running 5 s after SIGTERM"));
    let took = t0.elapsed();
    eprintln!("exited {took:?} after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    for (i, s) in streams.iter_mut().enumerate() {
        let (how, _) = s.read_until_closed(Duration::from_secs(2));
        assert_ne!(how, Closed::Timeout, "event stream {i} left open");
    }
    assert_ne!(
        cli.wait_closed(Duration::from_secs(2)),
        Closed::Timeout,
        "CLI socket left open"
    );
    assert_ne!(
        runner.wait_closed(Duration::from_secs(2)),
        Closed::Timeout,
        "runner socket left open"
    );

    let store = hapid::store::Store::open(&hub.db_path()).expect("reopen");
    assert!(store.integrity_ok(), "integrity_check");
    assert!(store.load_sessions().unwrap().iter().any(|r| r.id == sid));
    let msgs = store.messages_after(&sid, 0, i64::MAX).unwrap();
    let seqs: Vec<i64> = msgs.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=msgs.len() as i64).collect::<Vec<_>>(),
        "seq gaps"
    );
    let have: Vec<&str> = msgs.iter().filter_map(|m| m.local_id.as_deref()).collect();
    assert_eq!(
        &have[..want.len()],
        want.iter().map(String::as_str).collect::<Vec<_>>(),
        "acked messages"
    );
    // Unacked ones are a prefix of what was sent, in order (none half-written).
    for (i, l) in have.iter().enumerate() {
        assert_eq!(*l, format!("term-{i}"));
    }
}
