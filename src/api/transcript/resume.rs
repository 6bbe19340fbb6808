//! Resume, reopen and hand-off (`hub::resume`, observed on the official hub v0.30.7): the
//! runner respawns the SAME session (`existingSessionId`) with the kept permission mode and the
//! agent's own session id; a never-started session is spawned fresh; a runner answering
//! another id still gets the old session merged into it (spec/storage.md §3.7); hand-off
//! waits for the session to go inactive.

use super::{Cli, Harness, Web, meta};
use serde_json::json;

/// An inactive session `OLD` with two messages and permission mode `acceptEdits`, made on
/// machine `m1`, and the runner online. `agent` = its `claudeSessionId`, if it ever started.
fn setup_with(h: &mut Harness, agent: Option<&str>) -> (Web, String, Cli) {
    let web = h.web("default");
    let mut m = meta("proj");
    if let Some(a) = agent {
        m["claudeSessionId"] = json!(a);
    }
    m["machineId"] = json!("m1");
    let old = h.new_session("default", "OLD", m);
    let cli = h.session_socket("old-cli", "default", &old);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": old, "time": super::T0, "thinking": false, "permissionMode": "acceptEdits"}),
    );
    h.emit(cli, "message", json!({"sid": old, "message": {"n": 1}}));
    h.emit(cli, "message", json!({"sid": old, "message": {"n": 2}}));
    h.emit(cli, "session-end", json!({"sid": old, "time": super::T0}));
    h.disconnect(cli);
    h.new_machine(
        "default",
        "m1",
        json!({"host": "box", "platform": "linux", "happyCliVersion": "0.30.7"}),
    );
    let runner = h.machine_socket("runner", "default", "m1");
    h.register(runner, &["m1:spawn-happy-session"]);
    h.emit(
        runner,
        "machine-alive",
        json!({"machineId": "m1", "time": super::T0}),
    );
    h.take();
    (web, old, runner)
}

fn setup(h: &mut Harness) -> (Web, String, Cli) {
    setup_with(h, Some("agent-1"))
}

#[test]
fn resume_respawns_the_same_session_with_its_permission_mode_and_agent_session() {
    let mut h = Harness::new();
    let (web, old, runner) = setup(&mut h);
    h.post(&web, &format!("/api/sessions/{old}/resume"), json!({}));
    h.expect(
        r#"
        runner emit rpc-request#0 {"method":"m1:spawn-happy-session","params":"{\"type\":\"spawn-in-directory\",\"directory\":\"/home/dev/proj\",\"agent\":\"claude\",\"resumeSessionId\":\"agent-1\",\"permissionMode\":\"acceptEdits\",\"existingSessionId\":\"OLD\",\"sessionId\":\"OLD\",\"forkSession\":false}"}
        "#,
    );
    h.answer(
        runner,
        0,
        vec![json!(format!(
            "{{\"type\":\"success\",\"sessionId\":\"{old}\"}}"
        ))],
    );
    h.expect("");
    // The respawned process reconnects as the same session.
    let cli = h.session_socket("back", "default", &old);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": old, "time": super::T0, "thinking": false}),
    );
    h.db("sessions", "SELECT id FROM sessions");
    h.db(
        "messages",
        "SELECT session_id, seq FROM messages ORDER BY seq",
    );
    h.expect(
        r#"
        http POST /api/sessions/OLD/resume 200 {"type":"success","sessionId":"OLD"}
        db sessions {"id":"OLD"}
        db messages {"session_id":"OLD","seq":1}
        db messages {"session_id":"OLD","seq":2}
        "#,
    );
}

#[test]
fn a_never_started_session_is_spawned_fresh_and_reopen_says_resumed() {
    let mut h = Harness::new();
    let (web, old, runner) = setup_with(&mut h, None);
    h.post(&web, &format!("/api/sessions/{old}/reopen"), json!({}));
    h.expect(
        r#"
        runner emit rpc-request#0 {"method":"m1:spawn-happy-session","params":"{\"type\":\"spawn-in-directory\",\"directory\":\"/home/dev/proj\",\"agent\":\"claude\",\"permissionMode\":\"acceptEdits\",\"existingSessionId\":\"OLD\",\"sessionId\":\"OLD\",\"forkSession\":false}"}
        "#,
    );
    h.answer(
        runner,
        0,
        vec![json!(format!(
            "{{\"type\":\"success\",\"sessionId\":\"{old}\"}}"
        ))],
    );
    let cli = h.session_socket("back", "default", &old);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": old, "time": super::T0, "thinking": false}),
    );
    h.expect(
        r#"
        http POST /api/sessions/OLD/reopen 200 {"ok":true,"sessionId":"OLD","resumed":true}
        "#,
    );
    h.post(&web, &format!("/api/sessions/{old}/reopen"), json!({}));
    h.expect(r#"http 200 {"ok":true,"sessionId":"OLD","resumed":false}"#);
}

#[test]
fn a_runner_answering_another_session_id_gets_the_old_session_merged_into_it() {
    let mut h = Harness::new();
    let (web, old, runner) = setup(&mut h);
    let _all = h.sse("web", &web, "all=true");
    h.post(&web, &format!("/api/sessions/{old}/resume"), json!({}));
    let new = h.new_session("default", "NEW", meta("proj"));
    let cli = h.session_socket("new-cli", "default", &new);
    h.answer(
        runner,
        0,
        vec![json!(format!(
            "{{\"type\":\"success\",\"sessionId\":\"{new}\"}}"
        ))],
    );
    h.take();
    h.emit(
        cli,
        "session-alive",
        json!({"sid": new, "time": super::T0, "thinking": false}),
    );
    h.db(
        "messages",
        "SELECT session_id, seq, content FROM messages ORDER BY seq",
    );
    h.db("sessions", "SELECT id FROM sessions");
    h.expect(
        r#"
        http POST /api/sessions/OLD/resume 200 {"type":"success","sessionId":"NEW"}
        web sse#10 {"type":"session-updated","sessionId":"NEW","data":{"active":true,"...":0},"namespace":"default"}
        web sse#11 {"type":"session-removed","sessionId":"OLD","namespace":"default"}
        web sse#12 {"type":"session-updated","sessionId":"NEW","data":{"id":"NEW","...":0},"namespace":"default"}
        web sse#13 {"type":"messages-invalidated","sessionId":"NEW","namespace":"default"}
        db messages {"session_id":"NEW","seq":1,"content":{"n":1}}
        db messages {"session_id":"NEW","seq":2,"content":{"n":2}}
        db sessions {"id":"NEW"}
        "#,
    );
}

#[test]
fn resume_answers_at_once_when_it_cannot_or_need_not_spawn() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("p"));
    let cli = h.session_socket("cli", "default", &sid);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": false}),
    );
    h.take();
    h.post(&web, &format!("/api/sessions/{sid}/resume"), json!({}));
    h.expect(r#"http 200 {"type":"success","sessionId":"S"}"#);
    h.emit(cli, "session-end", json!({"sid": sid, "time": super::T0}));
    h.take();
    // No machine online.
    h.post(&web, &format!("/api/sessions/{sid}/resume"), json!({}));
    h.expect(r#"http 503 {"error":"No machine online","code":"no_machine_online"}"#);
    h.post(&web, "/api/sessions/nope/reopen", json!({}));
    h.expect(r#"http 404 {"error":"Session not found"}"#);
    // No path in the metadata.
    h.emit_ack(
        cli,
        "update-metadata",
        json!({"sid": sid, "expectedVersion": 1, "metadata": {"host": "box"}}),
    );
    h.take();
    h.post(&web, &format!("/api/sessions/{sid}/resume"), json!({}));
    h.expect(r#"http 409 {"error":"Session metadata missing path","code":"resume_unavailable"}"#);
}

#[test]
fn a_resumed_session_that_never_comes_alive_fails_after_15_seconds() {
    let mut h = Harness::new();
    let (web, old, runner) = setup(&mut h);
    h.post(&web, &format!("/api/sessions/{old}/resume"), json!({}));
    h.answer(
        runner,
        0,
        vec![json!(format!(
            "{{\"type\":\"success\",\"sessionId\":\"{old}\"}}"
        ))],
    );
    h.take();
    h.advance(14_000);
    h.expect("");
    h.advance(1_000);
    h.expect(
        r#"
        http POST /api/sessions/OLD/resume 500 {"error":"Session failed to become active","code":"resume_failed"}
        "#,
    );
}

#[test]
fn a_failed_spawn_fails_the_resume() {
    let mut h = Harness::new();
    let (web, old, runner) = setup(&mut h);
    h.post(&web, &format!("/api/sessions/{old}/resume"), json!({}));
    h.take();
    h.answer(
        runner,
        0,
        vec![json!(
            "{\"type\":\"error\",\"errorMessage\":\"agent_unavailable\"}"
        )],
    );
    h.expect(
        r#"
        http POST /api/sessions/OLD/resume 500 {"error":"agent_unavailable","code":"resume_failed"}
        "#,
    );
}

/// An active remote session `S` whose process answers `handoff-local`.
fn remote_session(h: &mut Harness) -> (String, Cli) {
    let sid = h.new_session("default", "S", meta("p"));
    let cli = h.session_socket("cli", "default", &sid);
    h.register(cli, &[&format!("{sid}:handoff-local")]);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": false}),
    );
    h.take();
    (sid, cli)
}

#[test]
fn handoff_local_is_held_until_the_session_goes_inactive() {
    let mut h = Harness::new();
    let (sid, cli) = remote_session(&mut h);
    let tok = super::token_for("default");
    h.cli_call(
        &tok,
        "POST",
        &format!("/cli/sessions/{sid}/handoff-local"),
        None,
    );
    h.expect(r#"cli emit rpc-request#0 {"method":"S:handoff-local","params":"{}"}"#);
    h.answer(cli, 0, vec![json!("{\"ok\":true}")]);
    h.advance(5_000);
    h.expect("");
    h.emit(
        cli,
        "session-end",
        json!({"sid": sid, "time": super::T0, "reason": "handoff"}),
    );
    h.expect(r#"http POST /cli/sessions/S/handoff-local 200 {"ok":true}"#);
    // Inactive now: answered at once, without an RPC.
    h.cli_call(
        &tok,
        "POST",
        &format!("/cli/sessions/{sid}/handoff-local"),
        None,
    );
    h.expect(r#"http 200 {"ok":true}"#);
    h.cli_call(&tok, "POST", "/cli/sessions/nope/handoff-local", None);
    h.expect(r#"http 404 {"error":"Session not found","code":"session_not_found"}"#);
}

#[test]
fn handoff_local_fails_after_15_seconds_still_active_or_when_the_rpc_fails() {
    let mut h = Harness::new();
    let (sid, cli) = remote_session(&mut h);
    let tok = super::token_for("default");
    h.cli_call(
        &tok,
        "POST",
        &format!("/cli/sessions/{sid}/handoff-local"),
        None,
    );
    h.take();
    // What the RPC answers is not looked at.
    h.answer(cli, 0, vec![json!("{\"ok\":false}")]);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0 + 10_000, "thinking": false}),
    );
    h.advance(14_000);
    h.expect("");
    h.advance(1_000);
    h.expect(
        r#"http POST /cli/sessions/S/handoff-local 500 {"error":"Timed out waiting for remote session to hand off","code":"handoff_failed"}"#,
    );
    h.disconnect(cli);
    h.take();
    let other = h.session_socket("cli2", "default", &sid);
    h.emit(
        other,
        "session-alive",
        json!({"sid": sid, "time": super::T0 + 15_000, "thinking": false}),
    );
    h.take();
    h.cli_call(
        &tok,
        "POST",
        &format!("/cli/sessions/{sid}/handoff-local"),
        None,
    );
    h.expect(
        r#"http POST /cli/sessions/S/handoff-local 500 {"error":"RPC handler not registered: S:handoff-local","code":"handoff_failed"}"#,
    );
}

#[test]
fn a_pi_resume_waits_for_session_ready() {
    let mut h = Harness::new();
    let web = h.web("default");
    let mut m = meta("proj");
    m["flavor"] = json!("pi");
    m["piSessionId"] = json!("pi-1");
    m["machineId"] = json!("m1");
    let sid = h.new_session("default", "P", m);
    h.new_machine(
        "default",
        "m1",
        json!({"host": "box", "platform": "linux", "happyCliVersion": "0.30.7"}),
    );
    let runner = h.machine_socket("runner", "default", "m1");
    h.register(runner, &["m1:spawn-happy-session"]);
    h.emit(
        runner,
        "machine-alive",
        json!({"machineId": "m1", "time": super::T0}),
    );
    h.emit_ack(
        runner,
        "machine-update-state",
        json!({"machineId": "m1", "expectedVersion": 1,
            "runnerState": {"capabilities": {"piExistingSessionResume": true}}}),
    );
    h.take();
    h.post(&web, &format!("/api/sessions/{sid}/resume"), json!({}));
    h.take();
    h.answer(
        runner,
        0,
        vec![json!(format!(
            "{{\"type\":\"success\",\"sessionId\":\"{sid}\"}}"
        ))],
    );
    let cli = h.session_socket("back", "default", &sid);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": false}),
    );
    // Active is not enough for Pi: the answer waits, past the 15 s activation bound.
    h.advance(20_000);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0 + 20_000, "thinking": false}),
    );
    h.take();
    h.emit(cli, "session-ready", json!({"sid": sid, "time": super::T0}));
    h.expect(r#"http POST /api/sessions/P/resume 200 {"type":"success","sessionId":"P"}"#);
}
