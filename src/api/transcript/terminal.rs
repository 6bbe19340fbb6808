//! Web terminals and the agent-terminal relay with the clock in hand: a detached terminal
//! lives until the idle timeout (15 min by default) counted from its last activity, re-attaches
//! with its replay, and detached terminals per namespace are bounded (hub/terminal.rs,
//! hub/agent_terminal.rs; the wire contract is also checked against the official hub in
//! tests/parity/terminal.test.mjs).

use super::{Cli, Harness, Web, meta};
use crate::app::{App, ConnectReply};
use crate::hub::terminal::{MAX_DETACHED_PER_NAMESPACE, Replay};
use serde_json::json;
use std::net::IpAddr;

/// A `/terminal` socket of `web`'s user, called `name`.
fn terminal_socket(h: &mut Harness, name: &str, web: &Web) -> Cli {
    let socket = h.next_socket;
    h.next_socket += 1;
    h.sockets.insert(socket, name.into());
    let now = h.now();
    let peer: IpAddr = "127.0.0.1".parse().expect("ip");
    let auth = json!({ "token": web.jwt });
    let r = h
        .app
        .sio_connect(socket, "/terminal", Some(&auth), peer, now);
    h.finish_turn();
    assert!(matches!(r, ConnectReply::Ok), "{r:?}");
    Cli { socket }
}

/// An active session `S` with its CLI socket, and a web user of the default namespace.
fn setup(h: &mut Harness) -> (String, Cli, Web) {
    let sid = h.new_session("default", "S", meta("proj"));
    let cli = h.session_socket("cli", "default", &sid);
    h.emit(
        cli,
        "session-alive",
        json!({ "sid": sid, "time": super::T0 }),
    );
    let web = h.web("default");
    h.take();
    (sid, cli, web)
}

/// Lets `ms` pass while the CLI keeps the session alive (every 10 s, as the CLI does).
fn pass(h: &mut Harness, cli: Cli, sid: &str, ms: u64) {
    let mut left = ms;
    while left > 0 {
        let step = left.min(10_000);
        h.advance(step);
        left -= step;
        let time = h.now().unix_ms;
        h.emit(cli, "session-alive", json!({ "sid": sid, "time": time }));
    }
}

fn create(h: &mut Harness, sock: Cli, sid: &str, tid: &str) {
    let p = json!({ "sessionId": sid, "terminalId": tid, "cols": 80, "rows": 24 });
    h.emit(sock, "terminal:create", p);
}

#[test]
fn a_detached_terminal_lives_until_the_default_idle_timeout_from_its_last_activity() {
    let mut h = Harness::with_settings(|s| s.terminal_idle_timeout_ms = 900_000);
    let (sid, cli, web) = setup(&mut h);
    let a = terminal_socket(&mut h, "a", &web);
    create(&mut h, a, &sid, "t1");
    h.emit(
        cli,
        "terminal:ready",
        json!({ "sessionId": sid, "terminalId": "t1" }),
    );
    h.emit(
        cli,
        "terminal:output",
        json!({ "sessionId": sid, "terminalId": "t1", "data": "prompt$ " }),
    );
    h.expect(
        r#"
        cli emit terminal:open {"sessionId":"S","terminalId":"t1","cols":80,"rows":24}
        a emit terminal:ready {"sessionId":"S","terminalId":"t1"}
        a emit terminal:output {"sessionId":"S","terminalId":"t1","data":"prompt$ "}
        "#,
    );
    h.disconnect(a);
    pass(&mut h, cli, &sid, 10 * 60_000);
    h.expect("");
    // Output while detached is activity: the 15 minutes start again.
    h.emit(
        cli,
        "terminal:output",
        json!({ "sessionId": sid, "terminalId": "t1", "data": "done\r\n" }),
    );
    pass(&mut h, cli, &sid, 14 * 60_000);
    h.expect("");
    // The page signs in again (the JWT lives 15 minutes) and re-attaches.
    let web = h.web("default");
    let b = terminal_socket(&mut h, "b", &web);
    let p = json!({ "sessionId": sid, "terminalId": "t1", "cols": 120, "rows": 40 });
    h.emit(b, "terminal:create", p);
    h.expect(
        r#"
        b emit terminal:output {"terminalId":"t1","data":"prompt$ done\r\n"}
        cli emit terminal:open {"sessionId":"S","terminalId":"t1","cols":120,"rows":40}
        "#,
    );
    h.disconnect(b);
    pass(&mut h, cli, &sid, 15 * 60_000 - 1);
    h.expect("");
    h.advance(1);
    h.expect(r#"cli emit terminal:close {"sessionId":"S","terminalId":"t1"}"#);
    // The id is free: a new terminal, nothing replayed.
    let web = h.web("default");
    let c = terminal_socket(&mut h, "c", &web);
    create(&mut h, c, &sid, "t1");
    h.expect(r#"cli emit terminal:open {"sessionId":"S","terminalId":"t1","cols":80,"rows":24}"#);
    pass(&mut h, cli, &sid, 15 * 60_000);
    h.expect(
        r#"
        c emit terminal:error {"terminalId":"t1","message":"Terminal closed due to inactivity."}
        cli emit terminal:close {"sessionId":"S","terminalId":"t1"}
        "#,
    );
}

#[test]
fn detached_terminals_per_namespace_are_bounded_longest_idle_first() {
    let n = MAX_DETACHED_PER_NAMESPACE;
    let mut h = Harness::with_settings(|s| s.terminal_max = 100);
    let (sid, cli, web) = setup(&mut h);
    let mut sockets = Vec::new();
    for i in 0..=n {
        let s = terminal_socket(&mut h, &format!("w{i}"), &web);
        create(&mut h, s, &sid, &format!("t{i}"));
        sockets.push(s);
        h.advance(10);
    }
    let lines = h.take();
    assert_eq!(lines.len(), n + 1, "{lines:?}");
    for s in &sockets[..n] {
        h.disconnect(*s);
    }
    h.expect("");
    h.disconnect(sockets[n]);
    h.expect(r#"cli emit terminal:close {"sessionId":"S","terminalId":"t0"}"#);
    let _ = cli;
}

#[test]
fn the_replay_keeps_the_last_units_and_never_splits_a_char() {
    let mut r = Replay::default();
    r.push(&"a".repeat(262_143));
    r.push("😀"); // two UTF-16 units: 262 145 in all, one unit over
    assert_eq!(r.units(), 262_144);
    let t = r.text().expect("text");
    assert!(t.ends_with("😀"));
    assert_eq!(t.encode_utf16().count(), 262_144);
    r.push("b");
    // One more unit: the front 'a' goes.
    assert_eq!(r.units(), 262_144);
    r.push(&"😀".repeat(131_072));
    assert_eq!(r.units(), 262_144);
    assert!(r.text().expect("text").chars().all(|c| c == '😀'));
    // An odd cut removes a whole astral char (one unit short of the bound, never split).
    r.push("c");
    assert_eq!(r.units(), 262_143);
    assert!(Replay::default().text().is_none());
}

#[test]
fn agent_viewers_get_cli_output_and_the_cli_hears_refresh_idle_input_resize() {
    let mut h = Harness::new();
    let (sid, cli, web) = setup(&mut h);
    let a = terminal_socket(&mut h, "a", &web);
    let b = terminal_socket(&mut h, "b", &web);
    h.emit(a, "agent-terminal:subscribe", json!({ "sessionId": sid }));
    h.emit(b, "agent-terminal:subscribe", json!({ "sessionId": sid }));
    h.emit(
        cli,
        "agent-terminal:output",
        json!({ "sessionId": sid, "terminalId": "agent", "data": "TUI", "seq": 3 }),
    );
    h.emit(
        a,
        "agent-terminal:input",
        json!({ "sessionId": sid, "data": "q" }),
    );
    h.emit(
        b,
        "agent-terminal:resize",
        json!({ "sessionId": sid, "cols": 100, "rows": 30 }),
    );
    h.expect(
        r#"
        cli emit agent-terminal:refresh {"sessionId":"S"}
        cli emit agent-terminal:refresh {"sessionId":"S"}
        a emit agent-terminal:output {"sessionId":"S","terminalId":"agent","data":"TUI"}
        b emit agent-terminal:output {"sessionId":"S","terminalId":"agent","data":"TUI"}
        cli emit agent-terminal:input {"sessionId":"S","data":"q"}
        cli emit agent-terminal:resize {"sessionId":"S","cols":100,"rows":30}
        "#,
    );
    h.emit(a, "agent-terminal:unsubscribe", json!({ "sessionId": sid }));
    h.expect("");
    h.disconnect(b);
    h.expect(r#"cli emit agent-terminal:idle {"sessionId":"S"}"#);
    // Another namespace's viewer reaches nothing.
    let other = h.web("other");
    let o = terminal_socket(&mut h, "o", &other);
    h.emit(o, "agent-terminal:subscribe", json!({ "sessionId": sid }));
    h.emit(
        o,
        "agent-terminal:input",
        json!({ "sessionId": sid, "data": "x" }),
    );
    h.expect("");
    h.emit(a, "agent-terminal:subscribe", json!({ "sessionId": sid }));
    h.emit(cli, "session-end", json!({ "sid": sid, "time": super::T0 }));
    h.expect(
        r#"
        cli emit agent-terminal:refresh {"sessionId":"S"}
        a emit agent-terminal:output {"sessionId":"S","terminalId":"agent","data":"\r\n[Session terminated]\r\n"}
        "#,
    );
}
