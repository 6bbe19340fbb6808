//! Namespaces isolate users: `TOKEN:alice` and `TOKEN:bob` share a hub and never see each
//! other's sessions, machines, events, RPC handlers or subscriptions (DESIGN.md; spec
//! cli-protocol.md §2, §3.1, §6.2, §7.1; spec/sse.md §5–6).

use super::{Harness, Reply, meta, token_for};
use serde_json::json;

#[test]
fn the_web_api_answers_another_namespaces_id_like_a_missing_one() {
    let mut h = Harness::new();
    let alice = h.web("alice");
    let bob = h.web("bob");
    let sid = h.new_session("alice", "A", meta("alice-proj"));
    h.new_machine(
        "alice",
        "m-alice",
        json!({"host": "a", "platform": "linux", "happyCliVersion": "0.30.7"}),
    );
    h.take();
    h.get(&bob, "/api/sessions");
    h.get(&bob, &format!("/api/sessions/{sid}"));
    h.get(&bob, &format!("/api/sessions/{sid}/messages"));
    h.call(
        &bob,
        "PATCH",
        &format!("/api/sessions/{sid}"),
        Some(json!({"name": "mine now"})),
    );
    h.call(&bob, "DELETE", &format!("/api/sessions/{sid}"), None);
    h.post(
        &bob,
        "/api/machines/m-alice/spawn",
        json!({"directory": "/x"}),
    );
    h.get(&bob, "/api/machines");
    h.expect(
        r#"
        http 200 {"sessions":[]}
        http 404 {"error":"Session not found"}
        http 404 {"error":"Session not found"}
        http 404 {"error":"Session not found"}
        http 404 {"error":"Session not found"}
        http 404 {"error":"Machine not found"}
        http 200 {"machines":[]}
        "#,
    );
    let r = h.get(&alice, "/api/sessions");
    assert_eq!(r.body()["sessions"][0]["id"], json!(sid));
    h.db(
        "sessions",
        "SELECT namespace, json_extract(metadata, '$.name') AS name FROM sessions",
    );
    h.expect(
        r#"
        http 200 {"sessions":[{"id":"A","...":0}]}
        db sessions {"namespace":"alice","name":"alice-proj"}
        "#,
    );
}

#[test]
fn the_cli_routes_keep_upstreams_403_for_another_namespace() {
    let mut h = Harness::new();
    let sid = h.new_session("alice", "A", meta("p"));
    h.new_machine(
        "alice",
        "m-alice",
        json!({"host": "a", "platform": "linux", "happyCliVersion": "0.30.7"}),
    );
    h.take();
    let bob = token_for("bob");
    h.cli_call(&bob, "GET", &format!("/cli/sessions/{sid}"), None);
    h.cli_call(
        &bob,
        "GET",
        &format!("/cli/sessions/{sid}/messages?afterSeq=0"),
        None,
    );
    h.cli_call(&bob, "GET", "/cli/machines/m-alice", None);
    h.cli_call(
        &bob,
        "POST",
        "/cli/machines",
        Some(json!({"id": "m-alice", "metadata": {}})),
    );
    // The same tag in another namespace is another session.
    h.cli_call(&bob, "POST", "/cli/sessions", Some(json!({"tag": "tag-A"})));
    h.db(
        "sessions",
        "SELECT namespace, tag FROM sessions ORDER BY namespace",
    );
    h.expect(
        r#"
        http 403 {"error":"Session access denied"}
        http 403 {"error":"Session access denied"}
        http 403 {"error":"Machine access denied"}
        http 403 {"error":"Machine access denied"}
        http 200 {"session":{"namespace":"bob","...":0},"sessionSummaryContract":false}
        db sessions {"namespace":"alice","tag":"tag-A"}
        db sessions {"namespace":"bob","tag":"tag-A"}
        "#,
    );
}

#[test]
fn a_cli_socket_of_bob_cannot_touch_alices_session() {
    let mut h = Harness::new();
    let sid = h.new_session("alice", "A", meta("p"));
    h.new_machine(
        "alice",
        "m-alice",
        json!({"host": "a", "platform": "linux", "happyCliVersion": "0.30.7"}),
    );
    let bob = h.session_socket("bob", "bob", &sid);
    h.take();
    h.emit(
        bob,
        "message",
        json!({"sid": sid, "message": {"evil": true}}),
    );
    h.emit(
        bob,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": false}),
    );
    h.emit_ack(
        bob,
        "update-metadata",
        json!({"sid": sid, "expectedVersion": 1, "metadata": {"path": "/x", "host": "y"}}),
    );
    h.emit_ack(
        bob,
        "machine-update-state",
        json!({"machineId": "m-alice", "expectedVersion": 1, "runnerState": {"status": "running"}}),
    );
    h.db("rows", "SELECT (SELECT count(*) FROM messages) AS messages, (SELECT metadata_version FROM sessions) AS mv, (SELECT runner_state_version FROM machines) AS rv");
    h.expect(
        r#"
        bob emit error {"message":"session access denied","code":"access-denied","scope":"session","id":"A"}
        bob emit error {"message":"session access denied","code":"access-denied","scope":"session","id":"A"}
        bob ack#0 [{"result":"error","reason":"access-denied"}]
        bob ack#1 [{"result":"error","reason":"access-denied"}]
        db rows {"messages":0,"mv":1,"rv":1}
        "#,
    );
}

#[test]
fn a_socket_naming_another_namespaces_session_joins_no_room() {
    let mut h = Harness::new();
    let alice = h.web("alice");
    let sid = h.new_session("alice", "A", meta("p"));
    let own = h.session_socket("own", "alice", &sid);
    let _spy = h.session_socket("spy", "bob", &sid);
    h.emit(
        own,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": false}),
    );
    h.take();
    h.post(
        &alice,
        &format!("/api/sessions/{sid}/messages"),
        json!({"text": "secret"}),
    );
    h.expect(
        r#"
        http 200 {"ok":true}
        own emit update {"id":"<uuid>","seq":1,"createdAt":1800000000000,"body":{"t":"new-message","sid":"A","message":"*"}}
        "#,
    );
}

#[test]
fn bob_cannot_capture_alices_rpc_methods() {
    let mut h = Harness::new();
    let alice = h.web("alice");
    let sid = h.new_session("alice", "A", meta("p"));
    let own = h.session_socket("own", "alice", &sid);
    h.emit(
        own,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": false}),
    );
    let bob = h.session_socket("bob", "bob", &sid);
    h.register(bob, &[&format!("{sid}:readFile")]);
    h.take();
    h.get(&alice, &format!("/api/sessions/{sid}/file?path=secret.txt"));
    h.expect(
        r#"
        http GET /api/sessions/A/file?path=secret.txt 200 {"success":false,"error":"RPC handler not registered: A:readFile"}
        "#,
    );
    // Alice's own registration works, and bob's socket going away does not remove it.
    h.register(own, &[&format!("{sid}:readFile")]);
    h.disconnect(bob);
    h.get(&alice, &format!("/api/sessions/{sid}/file?path=a"));
    h.expect(
        r#"
        own emit rpc-request#0 {"method":"A:readFile","params":"{\"path\":\"a\"}"}
        "#,
    );
}

#[test]
fn events_and_toasts_stay_in_their_namespace() {
    let mut h = Harness::new();
    let alice = h.web("alice");
    let bob = h.web("bob");
    let sid = h.new_session("alice", "A", meta("p"));
    let cli = h.session_socket("cli", "alice", &sid);
    let _a = h.sse("alice-tab", &alice, "all=true&visibility=visible");
    let _b = h.sse("bob-tab", &bob, "all=true&visibility=visible");
    h.take();
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": false}),
    );
    h.emit(cli, "message", json!({"sid": sid, "message": {"role": "agent", "content": {"id": "e", "type": "event", "data": {"type": "ready"}}}}));
    h.expect(
        r#"
        alice-tab sse#2 {"type":"session-updated","sessionId":"A","data":"*","namespace":"alice"}
        alice-tab sse#3 {"type":"message-received","sessionId":"A","message":"*","namespace":"alice"}
        alice-tab sse {"type":"toast","data":{"title":"Ready for input","body":"Claude is waiting in p","sessionId":"A","url":"/sessions/A"}}
        "#,
    );
}

#[test]
fn subscriptions_and_streams_are_checked_against_the_namespace() {
    let mut h = Harness::new();
    let alice = h.web("alice");
    let bob = h.web("bob");
    let sid = h.new_session("alice", "A", meta("p"));
    let tab = h.sse("alice-tab", &alice, "");
    h.take();
    h.visibility(&bob, &tab, "visible");
    h.expect(r#"http 404 {"error":"Subscription not found"}"#);
    let r = h.try_sse("bob-tab", &bob, &format!("sessionId={sid}"), None);
    assert_eq!(r.err(), Some((404, json!({"error": "Session not found"}))));
    let other = h.cli_call(&token_for("bob"), "GET", "/cli/sessions/x", None);
    assert!(matches!(other, Reply::Now(404, _)));
}
