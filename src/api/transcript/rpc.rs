//! Web → CLI: messages sent from the web, and RPC calls from the web API to the handlers a CLI
//! registered — their results, failures and timeouts (spec/cli-protocol.md §6.4, §7, §8;
//! spec/rest.md §3).

use super::{Cli, Harness, Web, meta};
use serde_json::json;

/// A web user, an active session `S` with a session socket `cli`, and the methods registered.
fn active_session(h: &mut Harness, methods: &[&str]) -> (Web, String, Cli) {
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("proj"));
    let cli = h.session_socket("cli", "default", &sid);
    let names: Vec<String> = methods.iter().map(|m| format!("{sid}:{m}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    h.register(cli, &names);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": false}),
    );
    h.take();
    (web, sid, cli)
}

#[test]
fn a_web_message_reaches_every_cli_socket_of_the_session() {
    let mut h = Harness::new();
    let (web, sid, _cli) = active_session(&mut h, &[]);
    let _second = h.session_socket("cli2", "default", &sid);
    let _s = h.sse("web", &web, &format!("sessionId={sid}"));
    h.take();
    h.post(
        &web,
        &format!("/api/sessions/{sid}/messages"),
        json!({"text": "hello", "localId": "loc-1"}),
    );
    h.db("messages", "SELECT seq, local_id, content FROM messages");
    h.expect(
        r#"
        http 200 {"ok":true}
        cli emit update {"id":"<uuid>","seq":1,"createdAt":1800000000000,"body":{"t":"new-message","sid":"S","message":{"id":"<uuid>","seq":1,"createdAt":1800000000000,"localId":"loc-1","content":{"role":"user","content":{"type":"text","text":"hello"},"meta":{"sentFrom":"webapp","deliveryMode":"queue"}}}}}
        cli2 emit update {"id":"<uuid>","seq":1,"createdAt":1800000000000,"body":{"t":"new-message","sid":"S","message":{"id":"<uuid>","seq":1,"createdAt":1800000000000,"localId":"loc-1","content":{"role":"user","content":{"type":"text","text":"hello"},"meta":{"sentFrom":"webapp","deliveryMode":"queue"}}}}}
        web sse#3 {"type":"message-received","sessionId":"S","message":{"seq":1,"localId":"loc-1","content":{"role":"user","content":{"type":"text","text":"hello"},"meta":{"sentFrom":"webapp","deliveryMode":"queue"}},"...":0},"namespace":"default"}
        web sse#4 {"type":"session-updated","sessionId":"S","data":{"thinking":true,"activeTurnStartedAt":1800000000000,"updatedAt":1800000000000},"namespace":"default"}
        db messages {"seq":1,"local_id":"loc-1","content":{"role":"user","content":{"type":"text","text":"hello"},"meta":{"sentFrom":"webapp","deliveryMode":"queue"}}}
        "#,
    );
}

#[test]
fn a_web_message_uses_the_message_id_as_the_update_id() {
    let mut h = Harness::new();
    let (web, sid, _cli) = active_session(&mut h, &[]);
    h.post(
        &web,
        &format!("/api/sessions/{sid}/messages"),
        json!({"text": "x"}),
    );
    let id = h.rows("SELECT id FROM messages")[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    h.alias(&id, "M1");
    h.expect(
        r#"
        http 200 {"ok":true}
        cli emit update {"id":"M1","seq":1,"createdAt":1800000000000,"body":{"t":"new-message","sid":"S","message":{"id":"M1","seq":1,"createdAt":1800000000000,"localId":null,"content":"*"}}}
        "#,
    );
}

#[test]
fn a_web_message_to_an_inactive_session_is_refused() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("p"));
    let _cli = h.session_socket("cli", "default", &sid);
    h.take();
    h.post(
        &web,
        &format!("/api/sessions/{sid}/messages"),
        json!({"text": "hello"}),
    );
    h.post(
        &web,
        "/api/sessions/no-such-session/messages",
        json!({"text": "hello"}),
    );
    h.db("messages", "SELECT count(*) AS n FROM messages");
    h.expect(
        r#"
        http 409 {"error":"Session is inactive","code":"session_inactive"}
        http 404 {"error":"Session not found"}
        db messages {"n":0}
        "#,
    );
}

#[test]
fn an_rpc_call_round_trips_through_the_registered_socket() {
    let mut h = Harness::new();
    let (web, sid, cli) = active_session(&mut h, &["readFile"]);
    let r = h.get(&web, &format!("/api/sessions/{sid}/file?path=a.txt"));
    assert!(matches!(r, super::Reply::Deferred));
    h.expect(
        r#"
        cli emit rpc-request#0 {"method":"S:readFile","params":"{\"path\":\"a.txt\"}"}
        "#,
    );
    h.answer(
        cli,
        0,
        vec![json!("{\"success\":true,\"content\":\"aGkK\",\"size\":3}")],
    );
    h.expect(
        r#"
        http GET /api/sessions/S/file?path=a.txt 200 {"success":true,"content":"aGkK","size":3}
        "#,
    );
    // A late or repeated ack changes nothing.
    h.answer(cli, 0, vec![json!("{}")]);
    h.expect("");
}

#[test]
fn an_unregistered_method_fails_at_once() {
    let mut h = Harness::new();
    let (web, sid, _cli) = active_session(&mut h, &["readFile"]);
    h.get(&web, &format!("/api/sessions/{sid}/directory?path=src"));
    h.post(&web, &format!("/api/sessions/{sid}/abort"), json!({}));
    h.expect(
        r#"
        http GET /api/sessions/S/directory?path=src 200 {"success":false,"error":"RPC handler not registered: S:listDirectory"}
        http POST /api/sessions/S/abort 500 {"error":"RPC handler not registered: S:abort"}
        "#,
    );
}

#[test]
fn rpc_unregister_removes_only_the_sockets_own_registration() {
    let mut h = Harness::new();
    let (web, sid, cli) = active_session(&mut h, &["abort"]);
    let other = h.session_socket("other", "default", &sid);
    let method = format!("{sid}:abort");
    // Another socket's unregister does not touch cli's registration.
    h.emit(other, "rpc-unregister", json!({"method": method}));
    h.post(&web, &format!("/api/sessions/{sid}/abort"), json!({}));
    h.expect(
        r#"
        cli emit rpc-request#0 {"method":"S:abort","params":"{\"reason\":\"User aborted via Telegram Bot\"}"}
        "#,
    );
    h.answer(cli, 0, vec![serde_json::Value::Null]);
    h.emit(cli, "rpc-unregister", json!({"method": method}));
    h.post(&web, &format!("/api/sessions/{sid}/abort"), json!({}));
    h.expect(
        r#"
        http POST /api/sessions/S/abort 200 {"ok":true}
        http POST /api/sessions/S/abort 500 {"error":"RPC handler not registered: S:abort"}
        "#,
    );
}

#[test]
fn the_last_registration_wins() {
    let mut h = Harness::new();
    let (web, sid, _cli) = active_session(&mut h, &["switch"]);
    let newer = h.session_socket("newer", "default", &sid);
    h.register(newer, &[&format!("{sid}:switch")]);
    h.post(&web, &format!("/api/sessions/{sid}/switch"), json!({}));
    h.expect(
        r#"
        newer emit rpc-request#0 {"method":"S:switch","params":"{\"to\":\"remote\"}"}
        "#,
    );
    h.answer(newer, 0, vec![json!("{}")]);
    h.expect(r#"http POST /api/sessions/S/switch 200 {"ok":true}"#);
}

#[test]
fn an_unanswered_rpc_times_out_after_30_seconds() {
    let mut h = Harness::new();
    let (web, sid, cli) = active_session(&mut h, &["abort"]);
    h.post(&web, &format!("/api/sessions/{sid}/abort"), json!({}));
    h.take();
    // The session stays alive meanwhile (the CLI sends alives every 2 s).
    for i in 1..15 {
        h.advance(2_000);
        h.emit(
            cli,
            "session-alive",
            json!({"sid": sid, "time": super::T0 + i * 2_000, "thinking": false}),
        );
    }
    h.advance(1_000);
    h.expect("");
    h.advance(1_000);
    h.expect(r#"http POST /api/sessions/S/abort 500 {"error":"operation has timed out"}"#);
    // The CLI's answer after the timeout reaches nobody.
    h.answer(cli, 0, vec![serde_json::Value::Null]);
    h.expect("");
}

#[test]
fn a_disconnecting_socket_fails_its_calls_at_once() {
    let mut h = Harness::new();
    let (web, sid, cli) = active_session(&mut h, &["git-status", "abort"]);
    h.get(&web, &format!("/api/sessions/{sid}/git-status"));
    h.expect(
        r#"
        cli emit rpc-request#0 {"method":"S:git-status","params":"{\"cwd\":\"/home/dev/proj\"}"}
        "#,
    );
    h.disconnect(cli);
    h.expect(
        r#"
        http GET /api/sessions/S/git-status 200 {"success":false,"error":"RPC socket disconnected: S:git-status"}
        "#,
    );
    // Its registrations went with it.
    h.post(&web, &format!("/api/sessions/{sid}/abort"), json!({}));
    h.expect(
        r#"http POST /api/sessions/S/abort 500 {"error":"RPC handler not registered: S:abort"}"#,
    );
}

#[test]
fn approving_a_permission_request_calls_the_permission_rpc() {
    let mut h = Harness::new();
    let (web, sid, cli) = active_session(&mut h, &["permission"]);
    let st = json!({"requests": {"toolu_1": {"tool": "Bash", "arguments": {"command": "ls"}, "createdAt": 1}}});
    h.emit_ack(
        cli,
        "update-state",
        json!({"sid": sid, "expectedVersion": 1, "agentState": st}),
    );
    h.take();
    h.post(
        &web,
        &format!("/api/sessions/{sid}/permissions/toolu_1/approve"),
        json!({"mode": "acceptEdits", "allowTools": ["Bash"]}),
    );
    h.post(
        &web,
        &format!("/api/sessions/{sid}/permissions/toolu_1/deny"),
        json!({"decision": "abort"}),
    );
    h.post(
        &web,
        &format!("/api/sessions/{sid}/permissions/nope/deny"),
        json!({}),
    );
    h.post(
        &web,
        &format!("/api/sessions/{sid}/permissions/toolu_1/approve"),
        json!({"mode": "yolo"}),
    );
    h.expect(
        r#"
        cli emit rpc-request#0 {"method":"S:permission","params":"{\"id\":\"toolu_1\",\"approved\":true,\"mode\":\"acceptEdits\",\"allowTools\":[\"Bash\"]}"}
        cli emit rpc-request#1 {"method":"S:permission","params":"{\"id\":\"toolu_1\",\"approved\":false,\"decision\":\"abort\"}"}
        http 404 {"error":"Request not found"}
        http 400 {"error":"Invalid permission mode for session flavor"}
        "#,
    );
    h.answer(cli, 1, vec![serde_json::Value::Null]);
    h.answer(cli, 0, vec![serde_json::Value::Null]);
    h.expect(
        r#"
        http POST /api/sessions/S/permissions/toolu_1/deny 200 {"ok":true}
        http POST /api/sessions/S/permissions/toolu_1/approve 200 {"ok":true}
        "#,
    );
}

#[test]
fn a_permission_mode_change_applies_what_the_cli_applied() {
    let mut h = Harness::new();
    let (web, sid, cli) = active_session(&mut h, &["set-session-config"]);
    let _s = h.sse("web", &web, &format!("sessionId={sid}"));
    h.take();
    h.post(
        &web,
        &format!("/api/sessions/{sid}/permission-mode"),
        json!({"mode": "acceptEdits"}),
    );
    h.expect(
        r#"
        cli emit rpc-request#0 {"method":"S:set-session-config","params":"{\"permissionMode\":\"acceptEdits\"}"}
        "#,
    );
    h.answer(
        cli,
        0,
        vec![json!(
            "{\"applied\":{\"permissionMode\":\"acceptEdits\",\"model\":null}}"
        )],
    );
    h.expect(
        r#"
        http POST /api/sessions/S/permission-mode 200 {"ok":true}
        web sse#3 {"type":"session-updated","sessionId":"S","data":{"id":"S","permissionMode":"acceptEdits","...":0},"namespace":"default"}
        "#,
    );
    // An answer without `applied` fails the request with 409.
    h.post(
        &web,
        &format!("/api/sessions/{sid}/permission-mode"),
        json!({"mode": "plan"}),
    );
    h.answer(cli, 1, vec![json!("{\"ok\":true}")]);
    h.expect(
        r#"
        cli emit rpc-request#1 {"method":"S:set-session-config","params":"{\"permissionMode\":\"plan\"}"}
        http POST /api/sessions/S/permission-mode 409 {"error":"Missing applied session config, got: {\"ok\":true}"}
        "#,
    );
}

#[test]
fn archive_kills_the_session_and_ends_it_without_waiting_for_the_cli() {
    let mut h = Harness::new();
    let (web, sid, cli) = active_session(&mut h, &["killSession"]);
    let _all = h.sse("web", &web, "all=true");
    h.take();
    h.post(&web, &format!("/api/sessions/{sid}/archive"), json!({}));
    h.answer(
        cli,
        0,
        vec![json!(
            "{\"success\":true,\"message\":\"Killing hapi CLI process\"}"
        )],
    );
    h.expect(
        r#"
        cli emit rpc-request#0 {"method":"S:killSession","params":"{}"}
        http POST /api/sessions/S/archive 200 {"ok":true}
        web sse#3 {"type":"session-updated","sessionId":"S","data":{"active":false,"thinking":false,"activeTurnStartedAt":null,"backgroundTaskCount":0},"namespace":"default"}
        web sse#4 {"type":"session-ended","sessionId":"S","namespace":"default"}
        "#,
    );
}

#[test]
fn a_spawn_goes_to_the_runner_and_maps_its_answer() {
    let mut h = Harness::new();
    let web = h.web("default");
    h.new_machine(
        "default",
        "m1",
        json!({"host": "box", "platform": "linux", "happyCliVersion": "0.30.7",
               "capabilities": ["agent-availability"]}),
    );
    let runner = h.machine_socket("runner", "default", "m1");
    h.register(runner, &["m1:spawn-happy-session"]);
    h.emit(
        runner,
        "machine-alive",
        json!({"machineId": "m1", "time": super::T0}),
    );
    h.take();
    let body = json!({"directory": "/home/dev/proj", "agent": "claude"});
    h.post(&web, "/api/machines/m1/spawn", body.clone());
    h.answer(
        runner,
        0,
        vec![json!("{\"type\":\"success\",\"sessionId\":\"new-sid\"}")],
    );
    h.post(&web, "/api/machines/m1/spawn", body);
    h.answer(runner, 1, vec![json!("{\"type\":\"error\",\"errorMessage\":\"claude is not installed or is not on PATH\",\"code\":\"agent_unavailable\"}")]);
    h.expect(
        r#"
        runner emit rpc-request#0 {"method":"m1:spawn-happy-session","params":"{\"type\":\"spawn-in-directory\",\"directory\":\"/home/dev/proj\",\"agent\":\"claude\",\"forkSession\":false}"}
        http POST /api/machines/m1/spawn 200 {"type":"success","sessionId":"new-sid"}
        runner emit rpc-request#1 {"method":"m1:spawn-happy-session","params":"*"}
        http POST /api/machines/m1/spawn 200 {"type":"error","message":"claude is not installed or is not on PATH"}
        "#,
    );
}
