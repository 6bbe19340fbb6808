//! The load client of issue 18: one thread, one `mio::Poll`, that keeps up with the hub, so
//! the latencies it reports are the hub's. It drives hapid (or a floor server from
//! `benches/floor`), reads the server's CPU from `/proc/<pid>/stat` and its own from
//! `/proc/self/stat`, and prints one JSON line per run.
//!
//! ```text
//! load wait   --port P                        GET /health until 200 (30 s)
//! load list   --port P --pid PID [--floor]    10 keep-alive connections, closed loop, for
//!             [--conns 10] [--secs 3] [--requests N]   --secs or N requests: GET /api/sessions
//!                                             with 50 sessions (20 messages each); hub CPU
//!                                             per request
//! load ingest --port P --pid PID              M /cli sockets, each on its own session, send
//!             [--sockets 4] [--per-socket 3000] [--window 32] [--ack message|ping]
//!                                             ~1.2 KB `message` events; `message`: each acked
//!                                             (hapid acks after the commit), a sliding window;
//!                                             `ping`: unacked, a `ping` barrier every window/2
//!                                             (the CLI's flush); hub CPU per message, msg/s,
//!                                             and hapid's commits (GET /metrics) per message
//! load fanout --port P --pid PID [--floor]    N SSE streams on /api/events?sessionId= and one
//!             [--streams 1000] [--messages 50] [--gap-ms 20] [--frame-bytes 330]
//!                                             /cli socket emitting messages one at a time;
//!                                             emit -> last stream p50/p99, every delivery
//!                                             p50/p99, hub CPU per delivery
//! load hold   --port P --pid PID [--floor]    N SSE streams (`all=true`) held open; hub RSS
//!             [--streams 10000]
//! ```
//!
//! `--floor` talks to the floor servers instead (`/events`, `POST /emit`, any path for the
//! list); `--token` is the CLI token (default `$CLI_API_TOKEN`); `--label`, `--rep` are copied
//! into the output. Every wait is bounded; only 127.0.0.1 is contacted.
//!
//! A receipt is stamped with the monotonic time `epoll_wait` returned with it (see `net.rs`).

#[path = "../common/mod.rs"]
mod common;
mod net;
mod wire;

use common::{Window, percentile};
use net::{Ev, Kind, Net};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Args(Vec<String>);

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        let i = self.0.iter().position(|a| a == name)?;
        self.0.get(i + 1).map(String::as_str)
    }
    fn num(&self, name: &str, default: u64) -> u64 {
        self.get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
}

struct Ctx {
    /// Makes this run's session tags unique, so a reused hub creates new sessions.
    run: String,
    port: u16,
    pid: Option<u32>,
    token: String,
    floor: bool,
    tck: f64,
    args: Args,
}

fn main() {
    let args = Args(
        std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect(),
    );
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let ctx = Ctx {
        run: format!("{}-{nanos}", std::process::id()),
        port: args.num("--port", 0) as u16,
        pid: args.get("--pid").and_then(|p| p.parse().ok()),
        token: args
            .get("--token")
            .map(str::to_owned)
            .or_else(|| std::env::var("CLI_API_TOKEN").ok())
            .unwrap_or_default(),
        floor: args.flag("--floor"),
        tck: common::clk_tck(),
        args,
    };
    let what = ctx.args.0.first().cloned().unwrap_or_default();
    let r = match what.as_str() {
        "wait" => wait_health(ctx.port).map(|_| None),
        "list" => list(&ctx).map(Some),
        "ingest" => ingest(&ctx).map(Some),
        "fanout" => fanout(&ctx).map(Some),
        "hold" => hold(&ctx).map(Some),
        _ => Err("usage: load wait|list|ingest|fanout|hold --port P [--pid PID] [options]".into()),
    };
    match r {
        Ok(Some(mut v)) => {
            v["scenario"] = json!(what);
            v["target"] = json!(if ctx.floor { "floor" } else { "hapid" });
            v["label"] = json!(ctx.args.get("--label").unwrap_or(""));
            v["rep"] = json!(ctx.args.num("--rep", 0));
            println!("{v}");
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("load {what}: {e}");
            std::process::exit(1);
        }
    }
}

/// The figures every measured phase reports.
fn cpu_json(c: &common::Cpu, units: f64) -> Value {
    json!({
        "wall_s": c.wall_s,
        "hub_ms": c.hub_ms,
        "self_ms": c.self_ms,
        "hub_us_per_unit": c.hub_ms * 1000.0 / units,
        "self_us_per_unit": c.self_ms * 1000.0 / units,
        "hub_cores": c.hub_ms / 1000.0 / c.wall_s,
        "self_cores": c.self_ms / 1000.0 / c.wall_s,
        "noise_cores": c.noise_cores(),
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

// ------------------------------------------------------------------------------- blocking setup

/// One request on its own connection (`Connection: close`); returns status and body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> Res<(u16, Vec<u8>)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(a) = auth {
        req += &format!("Authorization: Bearer {a}\r\n");
    }
    let data = body.map(|b| b.to_string()).unwrap_or_default();
    if body.is_some() {
        req += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            data.len()
        );
    }
    req += "\r\n";
    req += &data;
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err("connection closed before the response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(h) = wire::parse_head(&buf)? else {
            continue;
        };
        let rest = &buf[h.used..];
        if h.chunked {
            let mut d = wire::Chunked::default();
            let mut out = Vec::new();
            d.decode(rest, &mut out)?;
            if d.done() {
                return Ok((h.status, out));
            }
        } else {
            let n = h.content_length.unwrap_or(0);
            if rest.len() >= n {
                return Ok((h.status, rest[..n].to_vec()));
            }
        }
    }
}

fn json_ok(
    port: u16,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> Res<Value> {
    let (st, b) = http(port, method, path, auth, body)?;
    if st != 200 {
        return Err(format!("{method} {path}: {st} {}", String::from_utf8_lossy(&b)).into());
    }
    Ok(serde_json::from_slice(&b)?)
}

fn wait_health(port: u16) -> Res<()> {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if let Ok((200, _)) = http(port, "GET", "/health", None, None) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err("no 200 on /health within 30 s".into())
}

fn web_jwt(ctx: &Ctx) -> Res<String> {
    let v = json_ok(
        ctx.port,
        "POST",
        "/api/auth",
        None,
        Some(&json!({"accessToken": ctx.token})),
    )?;
    Ok(v["token"]
        .as_str()
        .ok_or("no token in /api/auth")?
        .to_owned())
}

/// `POST /cli/sessions` with metadata as the CLI writes it (as `benches/compare/lib.mjs`).
fn create_session(ctx: &Ctx, tag: &str, i: usize) -> Res<String> {
    let metadata = json!({
        "path": format!("/home/dev/projects/project-{i}"), "host": "bench-host", "os": "linux",
        "flavor": if i.is_multiple_of(3) { "codex" } else { "claude" }, "name": format!("Benchmark session {i}"),
        "summary": {"text": format!("Refactor the storage layer of project {i} and add tests"), "updatedAt": 1_700_000_000_000u64 + i as u64},
        "machineId": "bench-machine-0001", "homeDir": "/home/dev", "hapiVersion": "0.30.7",
        "startedBy": "terminal", "lifecycleState": "running", "capabilities": {"terminal": true},
    });
    let tag = format!("{tag}-{}", ctx.run);
    let body = json!({"tag": tag, "metadata": metadata, "agentState": {"controlledByUser": false, "requests": {}}});
    let v = json_ok(
        ctx.port,
        "POST",
        "/cli/sessions",
        Some(&ctx.token),
        Some(&body),
    )?;
    Ok(v["session"]["id"]
        .as_str()
        .ok_or("no session id")?
        .to_owned())
}

fn auth_json(ctx: &Ctx, sid: Option<&str>) -> String {
    let mut a = json!({"token": ctx.token, "clientType": "session-scoped"});
    if let Some(s) = sid {
        a["sessionId"] = json!(s);
    }
    a.to_string()
}

/// Runs the loop until `f` returns true for an event, or `limit` passes.
fn run_until(
    net: &mut Net,
    limit: Duration,
    what: &str,
    mut f: impl FnMut(&mut Net, Ev) -> Res<bool>,
) -> Res<()> {
    let end = Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("{what}: not done within {limit:?}").into());
        }
        for ev in net.poll(Some(left))? {
            if f(net, ev)? {
                return Ok(());
            }
        }
    }
}

/// Waits for the `/cli` CONNECT of every socket in `ids`.
fn await_connected(net: &mut Net, ids: &[usize]) -> Res<()> {
    let mut left = ids.len();
    run_until(
        net,
        Duration::from_secs(30),
        "cli connect",
        |_, ev| match ev {
            Ev::Cli { text, .. } if text.starts_with("0/cli,") => {
                left -= 1;
                Ok(left == 0)
            }
            Ev::Cli { text, .. } if text.starts_with("4/cli,") => {
                Err(format!("connect refused: {text}").into())
            }
            Ev::Closed { id, why } => Err(format!("cli socket {id} closed: {why}").into()),
            _ => Ok(false),
        },
    )
}

/// hapid's committed transactions so far (`hapid_commit_seconds_count` on /metrics).
fn commits(ctx: &Ctx, jwt: &str) -> Option<u64> {
    let (st, b) = http(ctx.port, "GET", "/metrics", Some(jwt), None).ok()?;
    if st != 200 {
        return None;
    }
    let text = String::from_utf8_lossy(&b);
    let line = text
        .lines()
        .find(|l| l.starts_with("hapid_commit_seconds_count"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()
        .map(|x| x as u64)
}

// ------------------------------------------------------------------------------- list

fn list(ctx: &Ctx) -> Res<Value> {
    let conns = ctx.args.num("--conns", 10) as usize;
    let total = ctx.args.num("--requests", 1_000_000) as usize;
    let max = Duration::from_millis((ctx.args.num("--secs", 3) * 1000).max(100));
    let per_session = ctx.args.num("--session-messages", 20);
    let mut net = Net::new(ctx.port)?;
    let mut body_len = 0;
    let jwt = if ctx.floor {
        String::from("floor")
    } else {
        // 50 sessions with messages, written through one /cli socket, a ping barrier each.
        let jwt = web_jwt(ctx)?;
        let cli = net.cli(auth_json(ctx, None))?;
        await_connected(&mut net, &[cli])?;
        for i in 0..50 {
            let sid = create_session(ctx, &format!("list-{i}"), i)?;
            for j in 0..per_session {
                net.emit(cli, &format!("2/cli,{}", common::message_event(&sid, j)));
            }
            net.emit(cli, "2/cli,1[\"ping\"]");
            run_until(&mut net, Duration::from_secs(30), "ping", |_, ev| {
                Ok(matches!(ev, Ev::Cli { text, .. } if text.starts_with("3/cli,1")))
            })?;
        }
        let (st, b) = http(ctx.port, "GET", "/api/sessions", Some(&jwt), None)?;
        let v: Value = serde_json::from_slice(&b)?;
        let n = v["sessions"].as_array().map_or(0, Vec::len);
        if st != 200 || n != 50 {
            return Err(format!("GET /api/sessions: {st}, {n} sessions").into());
        }
        jwt
    };
    let req = format!(
        "GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {jwt}\r\n\r\n"
    )
    .into_bytes();
    let ids: Vec<usize> = (0..conns)
        .map(|_| net.connect(Kind::Http, &req))
        .collect::<Result<_, _>>()?;
    // Warm-up: 20 requests per connection, unmeasured.
    let mut warm = vec![0u32; net_len(&ids)];
    let mut done = 0;
    run_until(
        &mut net,
        Duration::from_secs(30),
        "list warm-up",
        |net, ev| match ev {
            Ev::Http {
                id,
                status,
                body_len: n,
                ..
            } => {
                if status != 200 {
                    return Err(format!("GET /api/sessions: {status}").into());
                }
                body_len = n;
                warm[id] += 1;
                if warm[id] < 20 {
                    net.send(id, &req);
                } else {
                    done += 1;
                }
                Ok(done == ids.len())
            }
            Ev::Closed { why, .. } => Err(why.into()),
            _ => Ok(false),
        },
    )?;
    let mut sent_at = vec![Instant::now(); net_len(&ids)];
    let mut lat: Vec<f64> = Vec::with_capacity(total);
    let mut issued = 0;
    let w = Window::start(ctx.tck, ctx.pid);
    let t0 = Instant::now();
    for &id in &ids {
        sent_at[id] = Instant::now();
        net.send(id, &req);
        issued += 1;
    }
    let mut inflight = ids.len();
    run_until(
        &mut net,
        max + Duration::from_secs(30),
        "list",
        |net, ev| match ev {
            Ev::Http { id, status, at, .. } => {
                if status != 200 {
                    return Err(format!("GET /api/sessions: {status}").into());
                }
                lat.push(at.duration_since(sent_at[id]).as_secs_f64() * 1000.0);
                inflight -= 1;
                if issued < total && t0.elapsed() < max {
                    sent_at[id] = Instant::now();
                    net.send(id, &req);
                    issued += 1;
                    inflight += 1;
                }
                Ok(inflight == 0)
            }
            Ev::Closed { why, .. } => Err(why.into()),
            _ => Ok(false),
        },
    )?;
    let cpu = w.finish();
    net.close_all();
    let n = lat.len();
    Ok(merge(
        json!({
            "requests": n, "conns": conns, "body_bytes": body_len,
            "req_per_s": n as f64 / cpu.wall_s,
            "p50_ms": percentile(&mut lat, 50.0), "p99_ms": percentile(&mut lat, 99.0),
        }),
        cpu_json(&cpu, n as f64),
    ))
}

fn net_len(ids: &[usize]) -> usize {
    ids.iter().max().map_or(0, |m| m + 1)
}

// ------------------------------------------------------------------------------- ingest

fn ingest(ctx: &Ctx) -> Res<Value> {
    let m = ctx.args.num("--sockets", 4) as usize;
    let per = ctx.args.num("--per-socket", 3000);
    let window = ctx.args.num("--window", 32).max(2);
    let ping_mode = ctx.args.get("--ack") == Some("ping");
    let jwt = web_jwt(ctx)?;
    let sids: Vec<String> = (0..m)
        .map(|i| create_session(ctx, &format!("ingest-{i}"), i))
        .collect::<Res<_>>()?;
    let mut net = Net::new(ctx.port)?;
    let ids: Vec<usize> = sids
        .iter()
        .map(|s| net.cli(auth_json(ctx, Some(s))))
        .collect::<Result<_, _>>()?;
    await_connected(&mut net, &ids)?;
    let slot: HashMap<usize, usize> = ids.iter().enumerate().map(|(j, &id)| (id, j)).collect();
    // Per socket: messages sent, acks (messages or barriers) outstanding.
    let mut sent = vec![0u64; m];
    let mut out = vec![0u64; m];
    let mut acked = 0u64;
    let mut bad = 0u64;
    let mut next_ack = 1u64;
    let bytes = common::message_event(&sids[0], 0).len();
    let c0 = commits(ctx, &jwt);
    let w = Window::start(ctx.tck, ctx.pid);
    // Refill socket j: a sliding window of acked messages, or (ping mode) half a window of
    // unacked messages and a ping barrier, at most two barriers outstanding.
    let refill =
        |net: &mut Net, j: usize, sent: &mut [u64], out: &mut [u64], next_ack: &mut u64| {
            let id = ids[j];
            if ping_mode {
                while out[j] < 2 && sent[j] < per {
                    let end = (sent[j] + window / 2).min(per);
                    for i in sent[j]..end {
                        net.emit(id, &format!("2/cli,{}", common::message_event(&sids[j], i)));
                    }
                    sent[j] = end;
                    net.emit(id, &format!("2/cli,{}[\"ping\"]", *next_ack));
                    *next_ack += 1;
                    out[j] += 1;
                }
            } else {
                while out[j] < window && sent[j] < per {
                    net.emit(
                        id,
                        &format!(
                            "2/cli,{}{}",
                            *next_ack,
                            common::message_event(&sids[j], sent[j])
                        ),
                    );
                    *next_ack += 1;
                    sent[j] += 1;
                    out[j] += 1;
                }
            }
        };
    for j in 0..m {
        refill(&mut net, j, &mut sent, &mut out, &mut next_ack);
    }
    let total = per * m as u64;
    let mut finished = 0;
    run_until(
        &mut net,
        Duration::from_secs(120),
        "ingest",
        |net, ev| match ev {
            Ev::Cli { id, text, .. } if text.starts_with("3/cli,") => {
                let j = slot[&id];
                if !ping_mode {
                    acked += 1;
                    if !text.contains("\"ok\":true") {
                        bad += 1;
                    }
                }
                out[j] -= 1;
                refill(net, j, &mut sent, &mut out, &mut next_ack);
                if sent[j] == per && out[j] == 0 {
                    finished += 1;
                }
                Ok(finished == m)
            }
            Ev::Closed { id, why } => Err(format!("cli socket {id} closed: {why}").into()),
            _ => Ok(false),
        },
    )?;
    let cpu = w.finish();
    let c1 = commits(ctx, &jwt);
    net.close_all();
    if bad > 0 {
        return Err(format!("{bad} of {acked} acks without ok:true").into());
    }
    // The metrics requests themselves commit nothing; subtract nothing.
    let commits = c0.zip(c1).map(|(a, b)| b.saturating_sub(a));
    Ok(merge(
        json!({
            "messages": total, "sockets": m, "window": window, "ack": if ping_mode { "ping" } else { "message" },
            "payload_bytes": bytes, "msg_per_s": total as f64 / cpu.wall_s,
            "commits": commits, "msgs_per_commit": commits.map(|c| total as f64 / c.max(1) as f64),
        }),
        cpu_json(&cpu, total as f64),
    ))
}

// ------------------------------------------------------------------------------- SSE

/// Opens `n` streams at most `width` at a time; returns when each has its first frame.
fn open_streams(net: &mut Net, n: usize, width: usize, req: &[u8]) -> Res<Vec<usize>> {
    let mut ids = Vec::with_capacity(n);
    let mut first: HashMap<usize, bool> = HashMap::with_capacity(n);
    while ids.len() < n.min(width) {
        ids.push(net.connect(Kind::Sse, req)?);
    }
    let mut opened = 0;
    run_until(
        net,
        Duration::from_secs(120),
        "opening streams",
        |net, ev| match ev {
            Ev::Sse { id, .. } => {
                if first.insert(id, true).is_none() {
                    opened += 1;
                    if ids.len() < n {
                        ids.push(net.connect(Kind::Sse, req)?);
                    }
                }
                Ok(opened == n)
            }
            Ev::Closed { why, .. } => {
                Err(format!("stream closed while opening ({opened} open): {why}").into())
            }
            _ => Ok(false),
        },
    )?;
    Ok(ids)
}

fn fanout(ctx: &Ctx) -> Res<Value> {
    let n = ctx.args.num("--streams", 1000) as usize;
    let msgs = ctx.args.num("--messages", 50);
    let gap = Duration::from_millis(ctx.args.num("--gap-ms", 20));
    let frame_bytes = ctx.args.num("--frame-bytes", 330) as usize;
    let mut net = Net::new(ctx.port)?;
    let (req, emitter, sid) = if ctx.floor {
        let e = net.connect(Kind::Http, b"")?;
        (
            "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_owned(),
            e,
            String::new(),
        )
    } else {
        let sid = create_session(ctx, "fanout", 0)?;
        let jwt = web_jwt(ctx)?;
        let cli = net.cli(auth_json(ctx, Some(&sid)))?;
        await_connected(&mut net, &[cli])?;
        (
            format!(
                "GET /api/events?token={jwt}&sessionId={sid}&visibility=visible HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
            ),
            cli,
            sid,
        )
    };
    let t_open = Instant::now();
    let streams = open_streams(&mut net, n, 100, req.as_bytes())?;
    let open_ms = t_open.elapsed().as_secs_f64() * 1000.0;
    // Settle: the hub's after-open work (visibility, first frames) out of the window.
    let settle = Instant::now() + Duration::from_millis(300);
    while Instant::now() < settle {
        net.poll(Some(Duration::from_millis(50)))?;
    }
    let mut per_delivery: Vec<f64> = Vec::with_capacity(n * msgs as usize);
    let mut last: Vec<f64> = Vec::new();
    let mut missing = 0usize;
    let mut got_frame = 0usize;
    let w = Window::start(ctx.tck, ctx.pid);
    for k in 1..=msgs {
        let t_emit;
        if ctx.floor {
            let mut body = format!(r#"{{"type":"message-received","benchK":{k},"pad":""#);
            while body.len() + 2 < frame_bytes {
                body.push('x');
            }
            body.push_str("\"}");
            let r = format!(
                "POST /emit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            t_emit = Instant::now();
            net.send(emitter, r.as_bytes());
        } else {
            let m = format!(
                r#"2/cli,["message",{{"sid":"{sid}","message":{{"role":"agent","content":{{"type":"output","data":{{"type":"assistant","benchK":{k}}}}}}},"localId":"fan-{k}"}}]"#
            );
            t_emit = Instant::now();
            net.emit(emitter, &m);
        }
        let mut count = 0usize;
        let mut newest = t_emit;
        let r = run_until(
            &mut net,
            Duration::from_secs(10),
            "fan-out",
            |_, ev| match ev {
                Ev::Sse {
                    k: Some(kk),
                    at,
                    frame_len,
                    ..
                } if kk == k => {
                    per_delivery.push(at.duration_since(t_emit).as_secs_f64() * 1000.0);
                    got_frame = frame_len;
                    newest = newest.max(at);
                    count += 1;
                    Ok(count == n)
                }
                Ev::Closed { id, why } => Err(format!("stream {id} closed: {why}").into()),
                _ => Ok(false),
            },
        );
        match r {
            Ok(()) => last.push(newest.duration_since(t_emit).as_secs_f64() * 1000.0),
            Err(e) if e.to_string().contains("not done within") => missing += n - count,
            Err(e) => return Err(e),
        }
        let until = Instant::now() + gap;
        while Instant::now() < until {
            net.poll(Some(until.saturating_duration_since(Instant::now())))?;
        }
    }
    let cpu = w.finish();
    let still_open = net.open;
    net.close_all();
    let deliveries = per_delivery.len();
    Ok(merge(
        json!({
            "streams": streams.len(), "messages": msgs, "open_ms": open_ms, "still_open": still_open,
            "deliveries": deliveries, "missing": missing, "frame_bytes": got_frame,
            "last_p50_ms": percentile(&mut last, 50.0), "last_p99_ms": percentile(&mut last, 99.0),
            "last_max_ms": percentile(&mut last, 100.0),
            "each_p50_ms": percentile(&mut per_delivery, 50.0), "each_p99_ms": percentile(&mut per_delivery, 99.0),
        }),
        cpu_json(&cpu, deliveries.max(1) as f64),
    ))
}

fn hold(ctx: &Ctx) -> Res<Value> {
    let n = ctx.args.num("--streams", 10_000) as usize;
    let pid = ctx.pid.map(|p| p.to_string()).ok_or("hold needs --pid")?;
    let req = if ctx.floor {
        "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_owned()
    } else {
        let jwt = web_jwt(ctx)?;
        format!(
            "GET /api/events?token={jwt}&all=true&visibility=visible HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        )
    };
    let (idle_rss, _) = common::rss_kib(&pid).ok_or("no /proc/<pid>/status")?;
    let mut net = Net::new(ctx.port)?;
    let w = Window::start(ctx.tck, ctx.pid);
    let streams = open_streams(&mut net, n, 200, req.as_bytes())?;
    let cpu = w.finish();
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle {
        net.poll(Some(Duration::from_millis(100)))?;
    }
    let (rss, hwm) = common::rss_kib(&pid).ok_or("no /proc/<pid>/status")?;
    let (self_rss, _) = common::rss_kib("self").unwrap_or((0, 0));
    let still_open = net.open;
    net.close_all();
    Ok(merge(
        json!({
            "streams": streams.len(), "still_open": still_open,
            "idle_rss_kib": idle_rss, "rss_kib": rss, "hwm_kib": hwm, "self_rss_kib": self_rss,
            "rss_mib": rss as f64 / 1024.0,
            "bytes_per_stream": (rss.saturating_sub(idle_rss) * 1024) as f64 / n as f64,
            "open_ms": cpu.wall_s * 1000.0,
        }),
        cpu_json(&cpu, n as f64),
    ))
}
