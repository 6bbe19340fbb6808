//! The v0.30 send pipeline (issue 14; tests/pipeline/CONTRACT.md §2–§4): send validation,
//! queued messages and the CLI's delivery reports, the session-alive replay, the session-end
//! sweep, and scheduled messages held on one hub timer and released when due.

use super::{Cli, Harness, T0, Web, meta};
use serde_json::json;

/// A web user, an active session `S` with a session socket `cli` and an SSE stream `web`.
fn active(h: &mut Harness) -> (Web, String, Cli) {
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("proj"));
    let cli = h.session_socket("cli", "default", &sid);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": T0, "thinking": false}),
    );
    h.sse("web", &web, &format!("sessionId={sid}"));
    h.take();
    (web, sid, cli)
}

#[test]
fn bad_sends_get_the_zod_answers_and_store_nothing() {
    let mut h = Harness::new();
    let (web, sid, _cli) = active(&mut h);
    let path = format!("/api/sessions/{sid}/messages");
    for body in [
        json!({"text": "x", "localId": "a", "scheduledAt": 0}),
        json!({"text": "x", "localId": "a", "scheduledAt": 1.5}),
        json!({"text": "x", "localId": "a", "scheduledAt": "soon"}),
        json!({"text": "x", "localId": "a", "deliveryMode": "bogus"}),
        json!({"text": "x", "scheduledAt": T0 + 60_000}),
        json!({"text": "x", "localId": "a", "scheduledAt": T0 + 8 * 86_400_000}),
        json!({"text": "x", "localId": "a", "scheduledAt": T0 + 60_000, "deliveryMode": "steer"}),
        json!({"localId": "a"}),
        json!({"text": "x", "localId": ""}),
        json!([1]),
        json!({"text": ""}),
    ] {
        h.post(&web, &path, body);
    }
    h.db("messages", "SELECT COUNT(*) AS n FROM messages");
    h.expect(
        r#"
        http 400 {"error":"Invalid body","issues":{"formErrors":[],"fieldErrors":{"scheduledAt":["Too small: expected number to be >0"]}}}
        http 400 {"error":"Invalid body","issues":{"formErrors":[],"fieldErrors":{"scheduledAt":["Invalid input: expected int, received number"]}}}
        http 400 {"error":"Invalid body","issues":{"formErrors":[],"fieldErrors":{"scheduledAt":["Invalid input: expected number, received string"]}}}
        http 400 {"error":"Invalid body","issues":{"formErrors":[],"fieldErrors":{"deliveryMode":["Invalid option: expected one of \"queue\"|\"steer\""]}}}
        http 400 {"error":"Invalid body","issues":{"formErrors":[],"fieldErrors":{"localId":["scheduledAt requires localId"]}}}
        http 400 {"error":"Invalid body","issues":{"formErrors":[],"fieldErrors":{"scheduledAt":["scheduledAt must be within 7 days from now"]}}}
        http 400 {"error":"Invalid body","issues":{"formErrors":[],"fieldErrors":{"deliveryMode":["scheduled messages cannot use steer delivery"]}}}
        http 400 {"error":"Invalid body","issues":{"formErrors":[],"fieldErrors":{"text":["Invalid input: expected string, received undefined"]}}}
        http 400 {"error":"Invalid body","issues":{"formErrors":[],"fieldErrors":{"localId":["Too small: expected string to have >=1 characters"]}}}
        http 400 {"error":"Invalid body","issues":{"formErrors":["Invalid input: expected object, received array"],"fieldErrors":{}}}
        http 400 {"error":"Message requires text or attachments"}
        db messages {"n":0}
        "#,
    );
}

#[test]
fn a_queued_message_waits_for_messages_consumed() {
    let mut h = Harness::new();
    let (web, sid, cli) = active(&mut h);
    h.post(
        &web,
        &format!("/api/sessions/{sid}/messages"),
        json!({"text": "hi", "localId": "q1"}),
    );
    h.db(
        "messages",
        "SELECT local_id, invoked_at, delivery_state FROM messages",
    );
    h.expect(
        r#"
        http 200 {"ok":true}
        cli emit update {"id":"<uuid>","seq":1,"createdAt":1800000000000,"body":{"t":"new-message","sid":"S","message":{"id":"<uuid>","seq":1,"createdAt":1800000000000,"localId":"q1","content":{"role":"user","content":{"type":"text","text":"hi"},"meta":{"sentFrom":"webapp","deliveryMode":"queue"}}}}}
        web sse#3 {"type":"message-received","sessionId":"S","message":{"id":"<uuid>","seq":1,"localId":"q1","content":"*","createdAt":1800000000000,"invokedAt":null,"scheduledAt":null},"namespace":"default"}
        web sse#4 {"type":"session-updated","sessionId":"S","data":{"thinking":true,"activeTurnStartedAt":1800000000000,"updatedAt":1800000000000},"namespace":"default"}
        db messages {"local_id":"q1","invoked_at":null,"delivery_state":"queued"}
        "#,
    );
    h.advance(1000);
    h.take();
    h.emit(
        cli,
        "messages-consumed",
        json!({"sid": sid, "localIds": ["q1", 7], "steered": true}),
    );
    h.db("messages", "SELECT local_id, invoked_at FROM messages");
    h.expect(
        r#"
        web sse#5 {"type":"messages-consumed","sessionId":"S","localIds":["q1"],"invokedAt":1800000001000,"steered":true,"namespace":"default"}
        web sse#6 {"type":"session-updated","sessionId":"S","data":{"updatedAt":1800000001000},"namespace":"default"}
        db messages {"local_id":"q1","invoked_at":1800000001000}
        "#,
    );
}

#[test]
fn steer_state_and_indeterminate_move_the_delivery_state() {
    let mut h = Harness::new();
    let (web, sid, cli) = active(&mut h);
    for l in ["a", "b"] {
        h.post(
            &web,
            &format!("/api/sessions/{sid}/messages"),
            json!({"text": l, "localId": l}),
        );
    }
    h.take();
    h.emit_ack(
        cli,
        "messages-steer-state",
        json!({"sid": sid, "localIds": ["a"], "state": "dispatching"}),
    );
    h.emit_ack(
        cli,
        "messages-steer-state",
        json!({"sid": sid, "localIds": ["b"], "state": "queued"}),
    );
    h.emit(
        cli,
        "messages-indeterminate",
        json!({"sid": sid, "localIds": ["b", "never"]}),
    );
    h.post(
        &web,
        &format!("/api/sessions/{sid}/messages/queued-state"),
        json!({"localIds": ["b", "a", "never", "a"]}),
    );
    h.emit_ack(
        cli,
        "messages-steer-state",
        json!({"sid": sid, "localIds": ["a"], "state": "queued"}),
    );
    h.expect(
        r#"
        cli ack#0 [{"ok":true}]
        web sse#7 {"type":"session-updated","sessionId":"S","data":{"updatedAt":1800000000000},"namespace":"default"}
        cli ack#1 [{"ok":false}]
        web sse#8 {"type":"messages-indeterminate","sessionId":"S","localIds":["b","never"],"namespace":"default"}
        web sse#9 {"type":"session-updated","sessionId":"S","data":{"updatedAt":1800000000000},"namespace":"default"}
        http 200 {"queuedLocalIds":[],"indeterminateLocalIds":["a","b"],"invokedLocalMessages":[]}
        cli ack#2 [{"ok":true}]
        web sse#10 {"type":"messages-requeued","sessionId":"S","localIds":["a"],"namespace":"default"}
        web sse#11 {"type":"session-updated","sessionId":"S","data":{"updatedAt":1800000000000},"namespace":"default"}
        "#,
    );
}

#[test]
fn alive_replays_the_queue_and_session_end_sweeps_it() {
    let mut h = Harness::new();
    let (web, sid, cli) = active(&mut h);
    let path = format!("/api/sessions/{sid}/messages");
    h.post(&web, &path, json!({"text": "a", "localId": "a"}));
    h.post(&web, &path, json!({"text": "plain"}));
    h.post(
        &web,
        &path,
        json!({"text": "later", "localId": "s", "scheduledAt": T0 + 600_000}),
    );
    h.take();
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": T0, "thinking": true}),
    );
    let lines = h.take();
    let replays: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("cli emit update"))
        .collect();
    assert_eq!(replays.len(), 1, "{lines:#?}");
    assert!(replays[0].contains(r#""localId":"a""#));
    h.emit(cli, "session-end", json!({"sid": sid, "time": T0}));
    h.db(
        "messages",
        "SELECT local_id, invoked_at FROM messages ORDER BY seq",
    );
    h.expect(
        r#"
        web sse#9 {"type":"messages-consumed","sessionId":"S","localIds":["a"],"invokedAt":1800000000000,"namespace":"default"}
        web sse#10 {"type":"session-updated","sessionId":"S","data":{"active":false,"thinking":false,"activeTurnStartedAt":null,"backgroundTaskCount":0},"namespace":"default"}
        web sse#11 {"type":"session-ended","sessionId":"S","namespace":"default"}
        db messages {"local_id":"a","invoked_at":1800000000000}
        db messages {"local_id":null,"invoked_at":1800000000000}
        db messages {"local_id":"s","invoked_at":null}
        "#,
    );
}

#[test]
fn a_scheduled_message_is_held_then_released_once_due_and_resent_until_consumed() {
    let mut h = Harness::new();
    let (web, sid, cli) = active(&mut h);
    h.post(
        &web,
        &format!("/api/sessions/{sid}/messages"),
        json!({"text": "later", "localId": "s1", "scheduledAt": T0 + 2_000}),
    );
    let lines = h.take();
    assert!(
        !lines.iter().any(|l| l.starts_with("cli emit")),
        "{lines:#?}"
    );
    let list = h.get(&web, "/api/sessions");
    let s = &list.body()["sessions"][0];
    assert_eq!(s["futureScheduledMessageCount"], 1);
    assert_eq!(s["nextScheduledAt"], T0 + 2_000);
    let fetch = h.cli_call(
        super::TOKEN,
        "GET",
        &format!("/cli/sessions/{sid}/messages?afterSeq=0"),
        None,
    );
    assert_eq!(fetch.body()["messages"], json!([]));
    h.take();
    h.advance(1_999);
    assert_eq!(h.take(), Vec::<String>::new(), "not before it is due");
    h.advance(1);
    h.expect(
        r#"
        cli emit update {"id":"<uuid>","seq":1,"createdAt":1800000000000,"body":{"t":"new-message","sid":"S","message":{"id":"<uuid>","seq":1,"createdAt":1800000000000,"localId":"s1","content":{"role":"user","content":{"type":"text","text":"later"},"meta":{"sentFrom":"webapp","deliveryMode":"queue"}}}}}
        web sse#5 {"type":"scheduled-matured","sessionId":"S","namespace":"default"}
        "#,
    );
    let list = h.get(&web, "/api/sessions");
    assert_eq!(list.body()["sessions"][0]["futureScheduledMessageCount"], 0);
    assert_eq!(list.body()["sessions"][0]["nextScheduledAt"], json!(null));
    h.take();
    h.advance(5_000);
    let lines = h.take();
    assert_eq!(lines.len(), 1, "re-sent, not re-announced: {lines:#?}");
    assert!(lines[0].starts_with("cli emit update"));
    h.emit(
        cli,
        "messages-consumed",
        json!({"sid": sid, "localIds": ["s1"]}),
    );
    h.take();
    h.advance(60_000);
    let lines = h.take();
    assert!(
        !lines.iter().any(|l| l.starts_with("cli emit")),
        "{lines:#?}"
    );
}

#[test]
fn cancel_asks_the_cli_and_follows_its_ack() {
    let mut h = Harness::new();
    let (web, sid, cli) = active(&mut h);
    let path = format!("/api/sessions/{sid}/messages");
    for l in ["a", "b"] {
        h.post(&web, &path, json!({"text": l, "localId": l}));
    }
    h.take();
    // removed: deleted, message-cancelled without localId, the epoch moves
    h.call(&web, "DELETE", &format!("{path}/a"), None);
    h.expect(
        r#"
        cli emit update#0 {"id":"<uuid>","seq":0,"createdAt":1800000000000,"body":{"t":"cancel-queued-message","sid":"S","messageId":"a","localId":"a"}}
        "#,
    );
    h.answer(cli, 0, vec![json!({"removed": true})]);
    h.db("epoch", "SELECT message_epoch FROM sessions");
    h.expect(
        r#"
        http DELETE /api/sessions/S/messages/a 200 {"status":"cancelled","localId":"a"}
        web sse#7 {"type":"message-cancelled","sessionId":"S","messageId":"a","namespace":"default"}
        db epoch {"message_epoch":1}
        "#,
    );
    // no ack within 500 ms: busy, and the message turns indeterminate
    h.call(&web, "DELETE", &format!("{path}/b"), None);
    h.take();
    h.advance(499);
    assert_eq!(h.take(), Vec::<String>::new());
    h.advance(1);
    h.expect(
        r#"
        http DELETE /api/sessions/S/messages/b 200 {"status":"busy","localId":"b"}
        web sse#8 {"type":"messages-indeterminate","sessionId":"S","localIds":["b"],"namespace":"default"}
        web sse#9 {"type":"session-updated","sessionId":"S","data":{"updatedAt":1800000000500},"namespace":"default"}
        "#,
    );
    // unknown: cancelled with localId null, nobody asked
    h.call(&web, "DELETE", &format!("{path}/nope"), None);
    h.expect(r#"http 200 {"status":"cancelled","localId":null}"#);
}

#[test]
fn retry_of_an_indeterminate_message_cancels_then_resends_it() {
    let mut h = Harness::new();
    let (web, sid, cli) = active(&mut h);
    let path = format!("/api/sessions/{sid}/messages");
    h.post(&web, &path, json!({"text": "r", "localId": "r"}));
    h.post(&web, &format!("{path}/r/retry"), json!({}));
    h.emit(
        cli,
        "messages-indeterminate",
        json!({"sid": sid, "localIds": ["r"]}),
    );
    h.take();
    h.post(&web, &format!("{path}/r/retry"), json!({}));
    let lines = h.take();
    assert!(lines[0].contains("cancel-queued-message"), "{lines:#?}");
    h.answer(cli, 0, vec![json!({"removed": true})]);
    let lines = h.take();
    assert!(lines[0].starts_with("cli emit update#1"), "{lines:#?}");
    assert!(lines[0].contains(r#""t":"retry-queued-message""#));
    h.answer(cli, 1, vec![json!({"accepted": true})]);
    h.db("messages", "SELECT local_id, delivery_state FROM messages");
    h.expect(
        r#"
        http POST /api/sessions/S/messages/r/retry 200 {"status":"retried","localId":"r"}
        web sse#7 {"type":"messages-requeued","sessionId":"S","localIds":["r"],"namespace":"default"}
        db messages {"local_id":"r","delivery_state":"queued"}
        "#,
    );
}

#[test]
fn steer_is_an_rpc_for_steerable_flavors_only() {
    let mut h = Harness::new();
    let (web, sid, _cli) = active(&mut h);
    let path = format!("/api/sessions/{sid}/messages");
    h.post(&web, &path, json!({"text": "s", "localId": "s"}));
    h.take();
    h.post(&web, &format!("{path}/s/steer"), json!({}));
    h.expect(
        r#"http 200 {"status":"failed","error":"Steering is only supported for Pi, Codex, and Cursor ACP sessions","localId":null}"#,
    );
    let mut m = meta("codex");
    m["flavor"] = json!("codex");
    let codex = h.new_session("default", "C", m);
    let c = h.session_socket("c", "default", &codex);
    h.emit(
        c,
        "session-alive",
        json!({"sid": codex, "time": T0, "thinking": false}),
    );
    h.register(c, &[&format!("{codex}:steer-queued-message")]);
    let cpath = format!("/api/sessions/{codex}/messages");
    h.post(&web, &cpath, json!({"text": "s", "localId": "s"}));
    h.take();
    h.post(&web, &format!("{cpath}/s/steer"), json!({}));
    h.expect(
        r#"c emit rpc-request#0 {"method":"C:steer-queued-message","params":"{\"localId\":\"s\"}"}"#,
    );
    h.answer(c, 0, vec![json!({"steered": true})]);
    h.expect(
        r#"http POST /api/sessions/C/messages/s/steer 200 {"status":"steered","localId":"s"}"#,
    );
    h.post(&web, &format!("{cpath}/nope/steer"), json!({}));
    h.expect(r#"http 200 {"status":"failed","error":"Message not found","localId":null}"#);
}

#[test]
fn pages_follow_positions_merge_the_queue_and_reset_on_a_stale_epoch() {
    let mut h = Harness::new();
    let (web, sid, cli) = active(&mut h);
    let path = format!("/api/sessions/{sid}/messages");
    h.get(&web, &path);
    h.get(&web, &format!("{path}?beforeSeq=3"));
    h.get(&web, &format!("{path}?limit=2.5"));
    h.expect(
        r#"
        http 200 {"messages":[],"page":{"direction":"latest","limit":50,"epoch":0,"reset":false,"nextBeforeSeq":null,"nextBeforeAt":null,"nextAfterSeq":null,"nextAfterAt":null,"snapshotHeadSeq":null,"snapshotHeadAt":null,"hasMore":false}}
        http 400 {"error":"Invalid query","issues":{"formErrors":[],"fieldErrors":{"beforeAt":["beforeAt and beforeSeq must be provided together"]}}}
        http 400 {"error":"Invalid query","issues":{"formErrors":[],"fieldErrors":{"limit":["Invalid input: expected int, received number"]}}}
        "#,
    );
    // a queued message (seq 1), then three agent messages a second apart
    h.post(&web, &path, json!({"text": "q", "localId": "q"}));
    for n in 0..3 {
        h.advance(1000);
        h.emit(cli, "message", json!({"sid": sid, "message": {"n": n}}));
    }
    h.take();
    let p = h.get(&web, &format!("{path}?limit=2"));
    let seqs: Vec<i64> = p.body()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        [1, 3, 4],
        "the queued row rides along with the newest two"
    );
    assert_eq!(p.body()["page"]["nextBeforeSeq"], 3);
    assert_eq!(p.body()["page"]["hasMore"], true);
    // consumed now: it moves to the head
    h.advance(1000);
    h.emit(
        cli,
        "messages-consumed",
        json!({"sid": sid, "localIds": ["q"]}),
    );
    let after = format!("{path}?afterSeq=4&afterAt={}&epoch=0", T0 + 3000);
    let a = h.get(&web, &after);
    assert_eq!(a.body()["messages"][0]["localId"], "q");
    assert_eq!(a.body()["page"]["direction"], "after");
    // a deletion bumps the epoch: the same cursor now gets the latest page, reset
    h.post(&web, &path, json!({"text": "x", "localId": "x"}));
    h.disconnect(cli);
    h.call(&web, "DELETE", &format!("{path}/x"), None);
    let r = h.get(&web, &after);
    assert_eq!(r.body()["page"]["direction"], "latest");
    assert_eq!(r.body()["page"]["reset"], true);
    assert_eq!(r.body()["page"]["epoch"], 1);
}

#[test]
fn rewind_truncates_bumps_the_epoch_and_invalidates() {
    let mut h = Harness::new();
    let web = h.web("default");
    let mut m = meta("proj");
    m["capabilities"] = json!({"conversationHistory": {"rewindToMessage": true}});
    let sid = h.new_session("default", "S", m);
    let cli = h.session_socket("cli", "default", &sid);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": T0, "thinking": false}),
    );
    h.register(cli, &[&format!("{sid}:rewind-conversation")]);
    let path = format!("/api/sessions/{sid}/messages");
    h.post(&web, &path, json!({"text": "keep", "localId": "keep"}));
    h.post(&web, &path, json!({"text": "drop", "localId": "drop"}));
    h.post(
        &web,
        &format!("/api/sessions/{sid}/rewind"),
        json!({"messageLocalId": "drop"}),
    );
    let lines = h.take();
    let refused = r#"http 409 {"error":"Session is busy","hydrateFailed":false}"#;
    assert_eq!(lines.last().map(String::as_str), Some(refused));
    h.emit(
        cli,
        "messages-consumed",
        json!({"sid": sid, "localIds": ["keep", "drop"], "clearQueuedThinkingGrace": true}),
    );
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": T0, "thinking": false}),
    );
    h.sse("web", &web, "all=true");
    h.take();
    h.post(
        &web,
        &format!("/api/sessions/{sid}/rewind"),
        json!({"messageLocalId": "drop"}),
    );
    h.answer(
        cli,
        0,
        vec![json!({"success": true, "truncateFromLocalId": "drop"})],
    );
    h.db("messages", "SELECT local_id FROM messages");
    h.db("epoch", "SELECT message_epoch FROM sessions");
    h.expect(
        r#"
        cli emit rpc-request#0 {"method":"S:rewind-conversation","params":"{\"messageLocalId\":\"drop\"}"}
        http POST /api/sessions/S/rewind 200 {"success":true}
        web sse#10 {"type":"session-updated","sessionId":"S","data":{"id":"S","...":0},"namespace":"default"}
        web sse#11 {"type":"messages-invalidated","sessionId":"S","reason":"rewind","truncateFromLocalId":"drop","namespace":"default"}
        db messages {"local_id":"keep"}
        db epoch {"message_epoch":1}
        "#,
    );
}

#[test]
fn machine_health_is_broadcast_when_a_displayed_field_changes() {
    let mut h = Harness::new();
    let web = h.web("default");
    h.new_machine(
        "default",
        "m1",
        json!({"host": "box", "platform": "linux", "happyCliVersion": "0.30.7"}),
    );
    let runner = h.machine_socket("runner", "default", "m1");
    h.sse("web", &web, "all=true");
    h.take();
    let health = json!({"collectedAt": T0, "cpuCount": 2, "load1m": 0.5});
    h.emit(
        runner,
        "machine-alive",
        json!({"machineId": "m1", "time": T0, "health": health}),
    );
    h.expect(
        r#"web sse#2 {"type":"machine-updated","machineId":"m1","data":{"id":"m1","active":true,"health":{"collectedAt":1800000000000,"cpuCount":2,"load1m":0.5},"...":0},"namespace":"default"}"#,
    );
    // only collectedAt moved: nothing
    h.advance(1000);
    let same = json!({"collectedAt": T0 + 1000, "cpuCount": 2, "load1m": 0.5});
    h.emit(
        runner,
        "machine-alive",
        json!({"machineId": "m1", "time": T0 + 1000, "health": same}),
    );
    assert_eq!(h.take(), Vec::<String>::new());
    // an invalid health is stored as null, which is a change
    h.emit(
        runner,
        "machine-alive",
        json!({"machineId": "m1", "time": T0 + 1000, "health": {"collectedAt": "x"}}),
    );
    h.expect(
        r#"web sse#3 {"type":"machine-updated","machineId":"m1","data":{"id":"m1","health":null,"...":0},"namespace":"default"}"#,
    );
}
