//! The `/cli` REST routes and socket events: sessions and machines created, alive and end,
//! messages with seq and localId, pings and unknown events (spec/cli-protocol.md §3, §6.3;
//! spec/lifecycle.md §3–4).

use super::{Harness, TOKEN, meta};
use serde_json::json;

#[test]
fn a_session_created_over_rest_is_stored_and_announced() {
    let mut h = Harness::new();
    let web = h.web("default");
    let _all = h.sse("web", &web, "all=true");
    h.take();
    let sid = h.new_session("default", "S", meta("proj"));
    h.db(
        "sessions",
        "SELECT tag, namespace, metadata, metadata_version, agent_state, agent_state_version, seq, created_at FROM sessions",
    );
    h.expect(
        r#"
        http 200 {"session":{"id":"S","namespace":"default","seq":0,"createdAt":1800000000000,"updatedAt":1800000000000,"active":false,"activeAt":1800000000000,"metadata":{"path":"/home/dev/proj","host":"box","flavor":"claude","name":"proj"},"metadataVersion":1,"agentState":null,"agentStateVersion":1,"thinking":false,"thinkingAt":0,"model":null,"...":0},"sessionSummaryContract":false}
        web sse#1 {"type":"session-added","sessionId":"S","data":{"id":"S","active":false,"metadataVersion":1,"...":0},"namespace":"default"}
        db sessions {"tag":"tag-S","namespace":"default","metadata":{"path":"/home/dev/proj","host":"box","flavor":"claude","name":"proj"},"metadata_version":1,"agent_state":null,"agent_state_version":1,"seq":0,"created_at":1800000000000}
        "#,
    );
    assert_eq!(sid.len(), 36, "a UUID");
}

#[test]
fn the_same_tag_returns_the_existing_session_unchanged() {
    let mut h = Harness::new();
    let sid = h.new_session("default", "S", meta("first"));
    h.take();
    h.advance(1000);
    let again = json!({"tag": "tag-S", "metadata": meta("second")});
    let r = h.cli_call(TOKEN, "POST", "/cli/sessions", Some(again));
    assert_eq!(r.body()["session"]["id"], json!(sid));
    h.db(
        "sessions",
        "SELECT count(*) AS n, json_extract(metadata, '$.name') AS name FROM sessions",
    );
    h.expect(
        r#"
        http 200 {"session":{"id":"S","createdAt":1800000000000,"metadata":{"name":"first","...":0},"metadataVersion":1,"...":0},"sessionSummaryContract":false}
        db sessions {"n":1,"name":"first"}
        "#,
    );
}

#[test]
fn cli_rest_answers_carry_upstream_error_texts() {
    let mut h = Harness::new();
    h.cli_call("wrong", "POST", "/cli/sessions", Some(json!({"tag": "t"})));
    h.cli_call(TOKEN, "POST", "/cli/sessions", Some(json!({"tag": ""})));
    h.cli_call(TOKEN, "GET", "/cli/sessions/no-such-session", None);
    h.cli_call(TOKEN, "GET", "/cli/machines/no-such-machine", None);
    h.expect(
        r#"
        http 401 {"error":"Invalid token"}
        http 400 {"error":"Invalid body"}
        http 404 {"error":"Session not found"}
        http 404 {"error":"Machine not found"}
        "#,
    );
}

#[test]
fn session_alive_makes_the_session_active_and_is_throttled() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("p"));
    let cli = h.session_socket("cli", "default", &sid);
    let _all = h.sse("web", &web, "all=true");
    h.take();
    h.emit(cli, "session-alive", json!({"sid": sid, "time": super::T0, "thinking": false, "mode": "remote", "permissionMode": "default"}));
    h.advance(2000);
    // Nothing changed and less than 10 s passed: no broadcast.
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0 + 2000, "thinking": false}),
    );
    h.advance(2000);
    // Thinking changed: broadcast at once.
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0 + 4000, "thinking": true}),
    );
    h.advance(11_000);
    // Unchanged, but more than 10 s since the last broadcast.
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0 + 15_000, "thinking": true}),
    );
    h.expect(
        r#"
        web sse#2 {"type":"session-updated","sessionId":"S","data":{"active":true,"activeAt":1800000000000,"thinking":false,"permissionMode":"default","model":null},"namespace":"default"}
        web sse#3 {"type":"session-updated","sessionId":"S","data":{"active":true,"activeAt":1800000004000,"thinking":true,"permissionMode":"default","model":null},"namespace":"default"}
        web sse#4 {"type":"session-updated","sessionId":"S","data":{"active":true,"activeAt":1800000015000,"thinking":true,"permissionMode":"default","model":null},"namespace":"default"}
        "#,
    );
}

#[test]
fn an_alive_without_time_or_too_old_is_ignored() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("p"));
    let cli = h.session_socket("cli", "default", &sid);
    let _all = h.sse("web", &web, "all=true");
    h.take();
    h.emit(cli, "session-alive", json!({"sid": sid, "thinking": false}));
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0 - 700_000, "thinking": false}),
    );
    h.expect("");
    let r = h.get(&web, &format!("/api/sessions/{sid}"));
    assert_eq!(r.body()["session"]["active"], json!(false));
}

#[test]
fn session_end_makes_it_inactive_once() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("p"));
    let cli = h.session_socket("cli", "default", &sid);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": true}),
    );
    let _all = h.sse("web", &web, "all=true");
    h.take();
    h.advance(500);
    h.emit(
        cli,
        "session-end",
        json!({"sid": sid, "time": super::T0 + 500, "reason": "completed"}),
    );
    h.emit(
        cli,
        "session-end",
        json!({"sid": sid, "time": super::T0 + 500}),
    );
    h.expect(
        r#"
        web sse#3 {"type":"session-updated","sessionId":"S","data":{"active":false,"thinking":false,"activeTurnStartedAt":null,"backgroundTaskCount":0},"namespace":"default"}
        web sse#4 {"type":"session-ended","sessionId":"S","reason":"completed","namespace":"default"}
        "#,
    );
}

#[test]
fn a_silent_session_goes_inactive_after_30_seconds() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("p"));
    let cli = h.session_socket("cli", "default", &sid);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": false}),
    );
    let _s = h.sse("web", &web, &format!("sessionId={sid}"));
    h.take();
    h.advance(30_000);
    h.expect(
        r#"
        web sse {"type":"heartbeat","namespace":"default","data":{"timestamp":1800000030000}}
        "#,
    );
    // The sweep runs every 5 s and wants more than 30 s of silence.
    h.advance(5_000);
    h.expect(
        r#"
        web sse#3 {"type":"session-updated","sessionId":"S","data":{"active":false},"namespace":"default"}
        "#,
    );
}

#[test]
fn cli_messages_get_consecutive_seqs_and_reach_the_other_sockets() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("p"));
    let agent = h.session_socket("agent", "default", &sid);
    let _viewer = h.session_socket("viewer", "default", &sid);
    let _s = h.sse("web", &web, &format!("sessionId={sid}"));
    h.take();
    let out = json!({"role": "agent", "content": {"type": "output", "data": {"text": "hi"}}, "meta": {"sentFrom": "cli"}});
    h.emit(agent, "message", json!({"sid": sid, "message": out}));
    h.advance(10);
    h.emit(agent, "message", json!({"sid": sid, "message": {"role": "agent", "content": {"type": "output", "data": {"text": "bye"}}}, "localId": "l-2"}));
    h.db(
        "messages",
        "SELECT seq, local_id, content, created_at FROM messages ORDER BY seq",
    );
    h.expect(
        r#"
        viewer emit update {"id":"<uuid>","seq":1,"createdAt":1800000000000,"body":{"t":"new-message","sid":"S","message":{"id":"<uuid>","seq":1,"createdAt":1800000000000,"localId":null,"content":{"role":"agent","content":{"type":"output","data":{"text":"hi"}},"meta":{"sentFrom":"cli"}}}}}
        web sse#2 {"type":"message-received","sessionId":"S","message":{"id":"<uuid>","seq":1,"localId":null,"content":{"role":"agent","content":{"type":"output","data":{"text":"hi"}},"meta":{"sentFrom":"cli"}},"createdAt":1800000000000,"...":0},"namespace":"default"}
        viewer emit update {"id":"<uuid>","seq":2,"createdAt":1800000000010,"body":{"t":"new-message","sid":"S","message":{"id":"<uuid>","seq":2,"createdAt":1800000000010,"localId":"l-2","content":"*"}}}
        web sse#3 {"type":"message-received","sessionId":"S","message":{"seq":2,"localId":"l-2","createdAt":1800000000010,"...":0},"namespace":"default"}
        db messages {"seq":1,"local_id":null,"content":{"role":"agent","content":{"type":"output","data":{"text":"hi"}},"meta":{"sentFrom":"cli"}},"created_at":1800000000000}
        db messages {"seq":2,"local_id":"l-2","content":{"role":"agent","content":{"type":"output","data":{"text":"bye"}}},"created_at":1800000000010}
        "#,
    );
}

#[test]
fn a_repeated_local_id_is_stored_once_and_rebroadcast_as_stored() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("p"));
    let agent = h.session_socket("agent", "default", &sid);
    let _s = h.sse("web", &web, &format!("sessionId={sid}"));
    h.take();
    h.emit(
        agent,
        "message",
        json!({"sid": sid, "message": {"n": 1}, "localId": "same"}),
    );
    h.advance(100);
    h.emit(
        agent,
        "message",
        json!({"sid": sid, "message": {"n": 2}, "localId": "same"}),
    );
    h.db(
        "messages",
        "SELECT count(*) AS rows, max(seq) AS seq, content FROM messages",
    );
    h.expect(
        r#"
        web sse#2 {"type":"message-received","sessionId":"S","message":{"seq":1,"localId":"same","content":{"n":1},"createdAt":1800000000000,"...":0},"namespace":"default"}
        web sse#3 {"type":"message-received","sessionId":"S","message":{"seq":1,"localId":"same","content":{"n":1},"createdAt":1800000000000,"...":0},"namespace":"default"}
        db messages {"rows":1,"seq":1,"content":{"n":1}}
        "#,
    );
}

#[test]
fn a_string_message_is_stored_parsed_when_it_is_json() {
    let mut h = Harness::new();
    let sid = h.new_session("default", "S", meta("p"));
    let agent = h.session_socket("agent", "default", &sid);
    h.emit(
        agent,
        "message",
        json!({"sid": sid, "message": "{\"role\":\"agent\",\"n\":1}"}),
    );
    h.emit(
        agent,
        "message",
        json!({"sid": sid, "message": "plain text"}),
    );
    // No `message` key: dropped, nothing stored.
    h.emit(agent, "message", json!({"sid": sid}));
    h.take();
    h.db("messages", "SELECT seq, content FROM messages ORDER BY seq");
    // The column holds JSON text: the second row is the JSON string "plain text".
    h.expect(
        r#"
        db messages {"seq":1,"content":{"role":"agent","n":1}}
        db messages {"seq":2,"content":"\"plain text\""}
        "#,
    );
}

#[test]
fn events_naming_an_unknown_session_get_an_error_event() {
    let mut h = Harness::new();
    let sid = h.new_session("default", "S", meta("p"));
    let cli = h.session_socket("cli", "default", &sid);
    h.take();
    h.emit(cli, "message", json!({"sid": "nope", "message": {"x": 1}}));
    h.emit(
        cli,
        "session-alive",
        json!({"sid": "nope", "time": super::T0, "thinking": false}),
    );
    h.emit(
        cli,
        "machine-alive",
        json!({"machineId": "nope", "time": super::T0}),
    );
    h.expect(
        r#"
        cli emit error {"message":"session not found","code":"not-found","scope":"session","id":"nope"}
        cli emit error {"message":"session not found","code":"not-found","scope":"session","id":"nope"}
        cli emit error {"message":"machine not found","code":"not-found","scope":"machine","id":"nope"}
        "#,
    );
}

#[test]
fn ping_and_unknown_events_are_acked_and_nothing_else() {
    let mut h = Harness::new();
    let sid = h.new_session("default", "S", meta("p"));
    let cli = h.session_socket("cli", "default", &sid);
    h.take();
    h.emit_ack(cli, "ping", serde_json::Value::Null);
    h.emit(cli, "usage-report", json!({"tokens": 5}));
    h.emit(cli, "session-ready", json!({"sid": sid, "time": super::T0}));
    h.emit_ack(cli, "some-future-event", json!({"x": 1}));
    h.emit_ack(
        cli,
        "messages-steer-state",
        json!({"sid": sid, "localIds": [], "state": "queued"}),
    );
    h.expect(
        r#"
        cli ack#0 []
        cli ack#1 []
        cli ack#2 [{"ok":false}]
        "#,
    );
}

#[test]
fn a_wrong_token_is_refused_at_connect() {
    let mut h = Harness::new();
    assert_eq!(
        h.try_connect("cli", json!({"token": "wrong"})).err(),
        Some("Invalid token".to_string())
    );
    assert_eq!(
        h.try_connect("cli", json!({})).err(),
        Some("Invalid token".to_string())
    );
    assert!(
        h.try_connect("cli", json!({"token": format!("{TOKEN}:team")}))
            .is_ok()
    );
}

#[test]
fn machine_alive_makes_the_machine_active_then_it_expires() {
    let mut h = Harness::new();
    let web = h.web("default");
    h.new_machine(
        "default",
        "m1",
        json!({"host": "box", "platform": "linux", "happyCliVersion": "0.30.7"}),
    );
    let runner = h.machine_socket("runner", "default", "m1");
    let _all = h.sse("web", &web, "all=true");
    h.take();
    h.emit(
        runner,
        "machine-alive",
        json!({"machineId": "m1", "time": super::T0}),
    );
    h.advance(5_000);
    h.emit(
        runner,
        "machine-alive",
        json!({"machineId": "m1", "time": super::T0 + 5_000}),
    );
    h.expect(
        r#"
        web sse#2 {"type":"machine-updated","machineId":"m1","data":{"id":"m1","namespace":"default","active":true,"activeAt":1800000000000,"metadata":{"host":"box","platform":"linux","happyCliVersion":"0.30.7"},"...":0},"namespace":"default"}
        "#,
    );
    // More than 45 s without an alive: the sweep (every 5 s) at 55 s; at 50 s it is exactly 45.
    h.advance(45_000);
    h.expect(
        r#"web sse {"type":"heartbeat","namespace":"default","data":{"timestamp":1800000030000}}"#,
    );
    h.advance(5_000);
    h.expect(
        r#"
        web sse#3 {"type":"machine-updated","machineId":"m1","data":{"active":false},"namespace":"default"}
        "#,
    );
}

#[test]
fn a_todo_write_in_a_message_becomes_the_session_todos() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("p"));
    let agent = h.session_socket("agent", "default", &sid);
    let _all = h.sse("web", &web, "all=true");
    h.take();
    let todo = json!({"role": "agent", "content": {"type": "output", "data": {"type": "assistant", "message": {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "TodoWrite", "input": {"todos": [
            {"content": "Write spec", "status": "in_progress", "activeForm": "Writing spec"},
            {"content": "Review spec", "status": "pending", "activeForm": "Reviewing spec"}]}}]}}}});
    h.emit(agent, "message", json!({"sid": sid, "message": todo}));
    h.db("todos", "SELECT todos, todos_updated_at FROM sessions");
    h.expect(
        r#"
        web sse#2 {"type":"session-updated","sessionId":"S","data":{"todos":{"version":1800000000000,"value":[{"content":"Write spec","status":"in_progress","priority":"medium","id":"*","activeForm":"Writing spec"},{"content":"Review spec","status":"pending","priority":"medium","id":"*","activeForm":"Reviewing spec"}]},"updatedAt":1800000000000},"namespace":"default"}
        web sse#3 {"type":"message-received","sessionId":"S","message":"*","namespace":"default"}
        db todos {"todos":[{"content":"Write spec","status":"in_progress","priority":"medium","id":"*","activeForm":"Writing spec"},{"content":"Review spec","status":"pending","priority":"medium","id":"*","activeForm":"Reviewing spec"}],"todos_updated_at":1800000000000}
        "#,
    );
}
