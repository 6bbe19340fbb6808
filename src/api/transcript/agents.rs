//! Transcript tests of the agent routes (`api::agents`): the validation tables of spawn and
//! the session settings, the RPCs they send, and the SSE of `machine-agy-models-changed`.

use super::{Harness, Reply, meta};
use serde_json::{Value, json};

/// Status and body of an immediate reply (`None` when deferred to an RPC).
fn now(r: &Reply) -> Option<(u16, Value)> {
    match r {
        Reply::Now(s, b) => Some((*s, b.clone())),
        _ => None,
    }
}

#[test]
fn spawn_checks_the_runner_then_the_body_and_forwards_every_option() {
    let mut h = Harness::new();
    let web = h.web("default");
    h.new_machine("default", "old", json!({"host": "a", "platform": "linux"}));
    h.new_machine(
        "default",
        "m1",
        json!({"host": "b", "platform": "linux", "capabilities": ["agent-availability"]}),
    );
    let runner = h.machine_socket("runner", "default", "m1");
    h.register(runner, &["m1:spawn-happy-session"]);
    h.take();
    // The upgrade answer comes before the body check.
    let r = h.post(&web, "/api/machines/old/spawn", json!({"agent": "bogus"}));
    assert_eq!(
        now(&r),
        Some((
            200,
            json!({"type": "error", "message": "This runner must be upgraded before creating sessions", "code": "runner_upgrade_required"})
        ))
    );
    let bad = [
        json!({"directory": "/p", "agent": "antigravity"}),
        json!({"directory": "/p", "serviceTier": "priority"}),
        json!({"directory": "/p", "startingMode": "local"}),
        json!({"directory": "/p", "permissionMode": "bogus"}),
        json!({"directory": "/p", "copilotAgentMode": "bogus"}),
        json!({"directory": "/p", "effort": null}),
        json!({"directory": ""}),
    ];
    for b in bad {
        let r = h.post(&web, "/api/machines/m1/spawn", b.clone());
        assert_eq!(
            now(&r),
            Some((400, json!({"error": "Invalid body"}))),
            "{b}"
        );
    }
    assert!(!h.take().iter().any(|l| l.contains("rpc-request")));
    let body = json!({"directory": "/p", "agent": "copilot", "model": "gpt", "effort": "high",
        "permissionMode": "yolo", "copilotAgentMode": "fleet", "startingMode": "pty"});
    h.post(&web, "/api/machines/m1/spawn", body);
    h.answer(
        runner,
        0,
        vec![json!("{\"type\":\"success\",\"sessionId\":\"n\"}")],
    );
    h.expect(
        r#"
        runner emit rpc-request#0 {"method":"m1:spawn-happy-session","params":"{\"type\":\"spawn-in-directory\",\"directory\":\"/p\",\"agent\":\"copilot\",\"model\":\"gpt\",\"effort\":\"high\",\"permissionMode\":\"yolo\",\"copilotAgentMode\":\"interactive\",\"startingMode\":\"pty\",\"forkSession\":false}"}
        http POST /api/machines/m1/spawn 200 {"type":"success","sessionId":"n"}
        "#,
    );
}

/// flavor, route, body, the immediate answer (`None`: the RPC is sent).
type Case = (
    &'static str,
    &'static str,
    Value,
    Option<(u16, &'static str)>,
);

#[test]
fn session_settings_follow_the_flavor_tables() {
    let mut h = Harness::new();
    let web = h.web("default");
    // (flavor, route, body, immediate answer or None = RPC sent)
    let table: &[Case] = &[
        (
            "pi",
            "permission-mode",
            json!({"mode": "default"}),
            Some((400, "Permission mode not supported for session flavor")),
        ),
        (
            "agy",
            "permission-mode",
            json!({"mode": "default"}),
            Some((400, "Invalid permission mode for session flavor")),
        ),
        (
            "agy",
            "permission-mode",
            json!({"mode": "always-proceed"}),
            None,
        ),
        ("copilot", "permission-mode", json!({"mode": "yolo"}), None),
        (
            "cursor",
            "permission-mode",
            json!({"mode": "autoReview"}),
            None,
        ),
        ("grok", "permission-mode", json!({"mode": "auto"}), None),
        (
            "claude",
            "permission-mode",
            json!({"mode": "nope"}),
            Some((400, "Invalid body")),
        ),
        (
            "dsh",
            "model",
            json!({"model": "m"}),
            Some((400, "Model selection is not supported for this session")),
        ),
        (
            "dsh",
            "model",
            json!({"model": 5}),
            Some((400, "Invalid body")),
        ),
        ("pi", "model", json!({"model": "m"}), None),
        (
            "codex",
            "effort",
            json!({"effort": "high"}),
            Some((
                400,
                "Effort selection is not supported for this session type",
            )),
        ),
        (
            "codex",
            "effort",
            json!({"effort": ""}),
            Some((400, "Invalid body")),
        ),
        ("grok", "effort", json!({"effort": null}), None),
        (
            "claude",
            "model-reasoning-effort",
            json!({"modelReasoningEffort": 5}),
            Some((
                400,
                "Model reasoning effort is only supported for Codex and OpenCode sessions",
            )),
        ),
        (
            "opencode",
            "model-reasoning-effort",
            json!({"modelReasoningEffort": "high"}),
            None,
        ),
        (
            "claude",
            "service-tier",
            json!({"serviceTier": "bogus"}),
            Some((400, "Fast mode is only supported for Codex sessions")),
        ),
        (
            "codex",
            "service-tier",
            json!({"serviceTier": null}),
            Some((400, "Invalid body")),
        ),
        (
            "codex",
            "copilot-agent-mode",
            json!({"mode": "bogus"}),
            Some((
                400,
                "Copilot agent mode is only supported for Copilot sessions",
            )),
        ),
        (
            "copilot",
            "copilot-agent-mode",
            json!({"mode": "bogus"}),
            Some((400, "Invalid body")),
        ),
    ];
    for (i, (flavor, route, body, want)) in table.iter().enumerate() {
        let alias = format!("S{i}");
        let mut m = meta("p");
        m["flavor"] = json!(flavor);
        let sid = h.new_session("default", &alias, m);
        let cli = h.session_socket("cli", "default", &sid);
        h.register(cli, &[&format!("{sid}:set-session-config")]);
        h.emit(
            cli,
            "session-alive",
            json!({"sid": sid, "time": super::T0, "thinking": false}),
        );
        h.take();
        let r = h.post(&web, &format!("/api/sessions/{sid}/{route}"), body.clone());
        match want {
            Some((status, error)) => {
                assert_eq!(
                    now(&r),
                    Some((*status, json!({"error": error}))),
                    "{flavor} {route} {body}"
                );
                assert!(
                    !h.take().iter().any(|l| l.contains("rpc-request")),
                    "{flavor} {route}: nothing sent"
                );
            }
            None => {
                assert!(now(&r).is_none(), "{flavor} {route} {body}: deferred");
                let lines = h.take();
                assert!(
                    lines.iter().any(|l| l.contains("set-session-config")),
                    "{flavor} {route}: {lines:?}"
                );
            }
        }
    }
}

#[test]
fn applied_settings_and_alive_fields_reach_the_session() {
    let mut h = Harness::new();
    let web = h.web("default");
    let mut m = meta("p");
    m["flavor"] = json!("codex");
    let sid = h.new_session("default", "S", m);
    let cli = h.session_socket("cli", "default", &sid);
    h.register(cli, &[&format!("{sid}:set-session-config")]);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": false, "copilotAgentMode": "plan"}),
    );
    h.take();
    h.post(
        &web,
        &format!("/api/sessions/{sid}/service-tier"),
        json!({"serviceTier": "fast"}),
    );
    h.answer(
        cli,
        0,
        vec![json!(
            "{\"applied\":{\"serviceTier\":\"fast\",\"modelReasoningEffort\":\"low\"}}"
        )],
    );
    h.expect(
        r#"
        cli emit rpc-request#0 {"method":"S:set-session-config","params":"{\"serviceTier\":\"fast\"}"}
        http POST /api/sessions/S/service-tier 200 {"ok":true}
        "#,
    );
    let s = h.get(&web, &format!("/api/sessions/{sid}"));
    let s = &s.body()["session"];
    assert_eq!(s["serviceTier"], json!("fast"));
    assert_eq!(s["modelReasoningEffort"], json!("low"));
    assert_eq!(s["copilotAgentMode"], json!("plan"));
}

#[test]
fn agy_models_changed_is_announced_for_the_runners_own_machine() {
    let mut h = Harness::new();
    let web = h.web("default");
    h.new_machine("default", "m1", json!({"host": "b", "platform": "linux"}));
    let runner = h.machine_socket("runner", "default", "m1");
    let _all = h.sse("web", &web, "all=true");
    h.take();
    h.emit(
        runner,
        "machine-agy-models-changed",
        json!({"machineId": "nope"}),
    );
    h.emit(runner, "machine-agy-models-changed", json!({}));
    h.emit(
        runner,
        "machine-agy-models-changed",
        json!({"machineId": "m1"}),
    );
    h.expect(
        r#"
        web sse#2 {"type":"machine-agy-models-updated","machineId":"m1","namespace":"default"}
        "#,
    );
}
