//! Resume of an inactive session: spawn on the runner with the agent's own session id, wait
//! for the new session to become active, merge the old one into it (spec/rest.md §3.3,
//! spec/lifecycle.md §3.8, spec/storage.md §3.7).

use super::{Cli, Harness, Web, meta};
use serde_json::json;

/// An inactive session `OLD` with two messages, made on machine `m1`, and the runner online.
fn setup(h: &mut Harness) -> (Web, String, Cli) {
    let web = h.web("default");
    let mut m = meta("proj");
    m["claudeSessionId"] = json!("agent-1");
    m["machineId"] = json!("m1");
    let old = h.new_session("default", "OLD", m);
    let cli = h.session_socket("old-cli", "default", &old);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": old, "time": super::T0, "thinking": false}),
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

#[test]
fn resume_spawns_with_the_agent_session_id_and_merges_into_the_new_session() {
    let mut h = Harness::new();
    let (web, old, runner) = setup(&mut h);
    let _all = h.sse("web", &web, "all=true");
    h.take();
    h.post(&web, &format!("/api/sessions/{old}/resume"), json!({}));
    h.expect(
        r#"
        runner emit rpc-request#0 {"method":"m1:spawn-happy-session","params":"{\"type\":\"spawn-in-directory\",\"directory\":\"/home/dev/proj\",\"agent\":\"claude\",\"resumeSessionId\":\"agent-1\"}"}
        "#,
    );
    // The spawned process creates its session, the runner answers, the session comes alive.
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
    h.emit(cli, "session-end", json!({"sid": sid, "time": super::T0}));
    h.take();
    // No agent session id in the metadata.
    h.post(&web, &format!("/api/sessions/{sid}/resume"), json!({}));
    h.expect(
        r#"
        http 500 {"error":"Resume session ID unavailable","code":"resume_unavailable"}
        "#,
    );
    let mut m = meta("p");
    m["claudeSessionId"] = json!("agent-9");
    h.emit_ack(
        cli,
        "update-metadata",
        json!({"sid": sid, "expectedVersion": 1, "metadata": m}),
    );
    h.take();
    // No machine online.
    h.post(&web, &format!("/api/sessions/{sid}/resume"), json!({}));
    h.expect(r#"http 503 {"error":"No machine online","code":"no_machine_online"}"#);
}

#[test]
fn an_active_session_resumes_as_itself() {
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
}

#[test]
fn a_resumed_session_that_never_comes_alive_fails_after_15_seconds() {
    let mut h = Harness::new();
    let (web, old, runner) = setup(&mut h);
    h.post(&web, &format!("/api/sessions/{old}/resume"), json!({}));
    let new = h.new_session("default", "NEW", meta("proj"));
    h.answer(
        runner,
        0,
        vec![json!(format!(
            "{{\"type\":\"success\",\"sessionId\":\"{new}\"}}"
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
    h.db("sessions", "SELECT count(*) AS n FROM sessions");
    h.expect(r#"db sessions {"n":2}"#);
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
