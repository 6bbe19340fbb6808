//! Deadlines are monotonic: stepping the wall clock (an NTP correction on a Pi without a clock
//! chip) fires nothing early; only monotonic time makes an RPC timeout or a notification
//! debounce due (DESIGN.md "Explicit time, monotonic deadlines").

use super::{Harness, meta};
use serde_json::json;

/// At monotonic 0.8 s: an active session with a pending permission request (its debounce due
/// at 1.3 s), a push subscription, and an abort RPC in flight (its timeout due at 30.8 s).
fn pending_rpc_and_debounce(h: &mut Harness) {
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("proj"));
    let cli = h.session_socket("cli", "default", &sid);
    h.register(cli, &[&format!("{sid}:abort")]);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": false}),
    );
    let keys = json!({"p256dh": crate::push::vapid::VapidKeys::generate().public_b64(), "auth": "AAAAAAAAAAAAAAAAAAAAAA"});
    h.post(
        &web,
        "/api/push/subscribe",
        json!({"endpoint": "https://push.example/1", "keys": keys}),
    );
    h.advance(800);
    let st = json!({"requests": {"req-1": {"tool": "Bash", "arguments": {}}}});
    h.emit_ack(
        cli,
        "update-state",
        json!({"sid": sid, "expectedVersion": 1, "agentState": st}),
    );
    h.post(&web, &format!("/api/sessions/{sid}/abort"), json!({}));
    h.take();
}

/// The reference run: without a step, each deadline fires when it is due.
#[test]
fn monotonic_time_makes_the_debounce_and_the_rpc_timeout_due() {
    let mut h = Harness::new();
    pending_rpc_and_debounce(&mut h);
    h.advance(499);
    h.expect("");
    h.advance(1);
    h.expect("out#1 POST https://push.example/1");
    // The RPC was made at 0.8 s with a 30 s timeout: it fails at 30.8 s, not a millisecond early
    // (0.5 s have passed since).
    h.advance(29_499);
    h.expect("");
    h.advance(1);
    h.expect(r#"http POST /api/sessions/S/abort 500 {"error":"operation has timed out"}"#);
}

#[test]
fn a_wall_clock_step_forward_fires_nothing_early() {
    let mut h = Harness::new();
    pending_rpc_and_debounce(&mut h);
    h.step_wall(3_600_000);
    // 0.4 s pass: neither deadline is due by monotonic time.
    h.advance(400);
    h.expect("");
    h.advance(100);
    h.expect("out#1 POST https://push.example/1");
    // The RPC was made at 0.8 s with a 30 s timeout: it fails at 30.8 s, not a millisecond early
    // (0.5 s have passed since).
    h.advance(29_499);
    h.expect("");
    h.advance(1);
    h.expect(r#"http POST /api/sessions/S/abort 500 {"error":"operation has timed out"}"#);
}
