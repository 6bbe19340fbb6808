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
use hapid::store::Store;
use serde_json::Value;
use std::hint::black_box;

mod fixtures;
mod harness;
use fixtures::session;
use harness::{SAMPLES, measure};

/// Sessions in the list.
const SESSIONS: usize = 50;

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
