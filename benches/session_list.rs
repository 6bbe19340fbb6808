//! The `GET /api/sessions` body for 50 sessions (std only, `harness = false`).
//!
//! A `Hub` over a temporary store holds 50 sessions with metadata as the CLI writes it
//! (path, host, name, machineId, flavor, summary, tool lists), todos on some and two pending
//! requests on a few. Two ways to the response bytes are timed:
//!
//! * `value`: the former route — sort (counting requests through `pending_requests()`),
//!   `Session::summary_json` per session, `{"sessions": [...]}`, `Response::json`;
//! * `direct`: `Hub::session_summaries` (serializes straight from the sessions) and
//!   `Response::new`.
//!
//! Both end with `Response::write` into a reused buffer and must give the same bytes. Each
//! reports the median over many samples of ns per list.
//!
//! Run: `cargo bench --bench session_list` (an argument filters cases by substring).

use hapid::app::Now;
use hapid::http::Response;
use hapid::hub::model::Session;
use hapid::hub::{Hub, HubSettings};
use hapid::store::{SessionRow, Store};
use serde_json::{Value, json};
use std::hint::black_box;

mod harness;
use harness::{SAMPLES, measure};

/// Sessions in the list.
const SESSIONS: usize = 50;

fn session(i: usize) -> Session {
    let t0 = 1_760_000_000_000i64;
    let mut s = Session::from_row(SessionRow {
        id: format!("3f2b9c1e-8d4a-4e6b-9a7c-{i:012x}"),
        tag: Some(format!("tag-{i}")),
        namespace: "default".into(),
        created_at: t0 + i as i64 * 1000,
        updated_at: t0 + 600_000 + (i as i64 * 7919) % 50_000,
        active_at: None,
        metadata: None,
        metadata_version: 3 + i as i64 % 5,
        agent_state: None,
        agent_state_version: 1 + i as i64 % 7,
        model: (!i.is_multiple_of(3)).then(|| "opus".into()),
        effort: i.is_multiple_of(4).then(|| "high".into()),
        model_reasoning_effort: None,
        todos: None,
        todos_updated_at: None,
        team_state: None,
        team_state_updated_at: None,
        seq: 10 + i as i64,
    });
    s.metadata = json!({
        "path": format!("/home/dev/src/project-{i}"),
        "host": "workstation.local",
        "version": "0.30.7",
        "name": format!("Refactor the parser, part {i}"),
        "os": "linux",
        "machineId": "5d1c0a9e-2b7f-4c3d-8e6a-9f0b1c2d3e4f",
        "homeDir": "/home/dev",
        "happyHomeDir": "/home/dev/.hapi",
        "happyLibDir": "/usr/lib/node_modules/@twsxtd/hapi/dist",
        "happyToolsDir": "/usr/lib/node_modules/@twsxtd/hapi/tools",
        "startedFromRunner": i.is_multiple_of(2),
        "hostPid": 40_000 + i,
        "startedBy": "terminal",
        "lifecycleState": "running",
        "lifecycleStateSince": 1_760_000_000_000i64 + i as i64,
        "flavor": if i.is_multiple_of(5) { "codex" } else { "claude" },
        "summary": {"text": format!("Split the request parser into head and body stages ({i})"),
                    "updatedAt": 1_760_000_500_000i64},
        "claudeSessionId": format!("b7e1c2d3-0000-4000-8000-{i:012x}"),
        "tools": ["Task", "Bash", "Glob", "Grep", "LS", "Read", "Edit", "MultiEdit", "Write",
                  "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "ExitPlanMode"],
        "slashCommands": ["add-dir", "agents", "clear", "compact", "config", "cost", "doctor",
                          "exit", "help", "init", "mcp", "memory", "model", "review"],
    });
    s.active = i.is_multiple_of(3);
    s.active_at = t0 + 700_000;
    s.thinking = i.is_multiple_of(6);
    s.max_msg_seq = if i % 10 == 9 { 0 } else { 40 + i as i64 };
    let mut state = json!({"controlledByUser": false, "completedRequests": {
        "done-1": {"tool": "Bash", "arguments": {"command": "cargo test"}, "status": "approved",
                   "createdAt": t0, "completedAt": t0 + 5000}
    }});
    if i.is_multiple_of(6) {
        state["requests"] = json!({
            format!("toolu_{i:04}_a"): {"tool": "Bash",
                "arguments": {"command": "cargo build --release"}, "createdAt": t0 + 800_000},
            format!("toolu_{i:04}_b"): {"tool": "AskUserQuestion",
                "arguments": {"questions": [{"question": "Which one?", "options": ["a", "b"]}]},
                "createdAt": t0 + 800_500},
        });
    }
    s.agent_state = state;
    if i.is_multiple_of(2) {
        s.todos = Some(json!([
            {"content": "Read the spec", "status": "completed", "priority": "high", "id": "1"},
            {"content": "Write the parser", "status": "completed", "priority": "high", "id": "2"},
            {"content": "Fuzz it", "status": "in_progress", "priority": "medium", "id": "3"},
            {"content": "Benchmark", "status": "pending", "priority": "low", "id": "4"},
        ]));
        s.todos_updated_at = Some(t0 + 650_000);
    }
    s
}

/// The former route: sort with `pending_requests()`, one `Value` per session, `Response::json`.
fn value_path(hub: &mut Hub, ns: &str) -> Response {
    let mut v: Vec<&Session> = hub
        .sessions
        .values()
        .filter(|s| s.namespace == ns)
        .collect();
    v.sort_by(|a, b| {
        b.active
            .cmp(&a.active)
            .then_with(|| {
                if a.active && b.active {
                    b.pending_requests().len().cmp(&a.pending_requests().len())
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then_with(|| b.updated_at.cmp(&a.updated_at))
            .then_with(|| a.created_at.cmp(&b.created_at))
    });
    let list: Vec<Value> = v.into_iter().map(Session::summary_json).collect();
    Response::json(
        200,
        &Value::Object(serde_json::Map::from_iter([(
            "sessions".to_string(),
            Value::Array(list),
        )])),
    )
}

/// The route now: bytes straight from the sessions.
fn direct_path(hub: &mut Hub, ns: &str) -> Response {
    let body = hub.session_summaries(ns, None, false, Now::read());
    Response::new(200, "application/json", body)
}

fn run(hub: &mut Hub, out: &mut Vec<u8>, f: fn(&mut Hub, &str) -> Response) -> usize {
    out.clear();
    f(black_box(hub), "default").write(false, out);
    out.len()
}

fn bench(name: &str, hub: &mut Hub, f: fn(&mut Hub, &str) -> Response) {
    let mut out = Vec::with_capacity(1 << 16);
    let len = run(hub, &mut out, f);
    let m = measure(|| {
        black_box(run(hub, &mut out, f));
    });
    println!(
        "{name:<8} {len:>6} B {:>10.0} ns/list {:>8.0} ns/session   (min {:.0}, max {:.0}; {SAMPLES}x{})",
        m.median,
        m.median / SESSIONS as f64,
        m.min,
        m.max,
        m.iters
    );
}

fn main() {
    let filter = harness::filter();
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("OS RNG");
    let dir = std::env::temp_dir().join(format!("hapid-bench-{:x}", u64::from_le_bytes(b)));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = Store::open(&dir.join("hapi.db")).expect("store");
    let mut hub = Hub::new(HubSettings::for_tests(), store, Now::read()).expect("hub");
    for i in 0..SESSIONS {
        let s = session(i);
        hub.sessions.insert(s.id.clone(), s);
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    run(&mut hub, &mut a, value_path);
    run(&mut hub, &mut b, direct_path);
    assert!(a == b, "the two paths give different bytes");
    println!("GET /api/sessions, {SESSIONS} sessions — median of {SAMPLES} samples");
    for (name, f) in [
        ("value", value_path as fn(&mut Hub, &str) -> Response),
        ("direct", direct_path),
    ] {
        if filter.as_deref().is_none_or(|f| name.contains(f)) {
            bench(name, &mut hub, f);
        }
    }
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}
