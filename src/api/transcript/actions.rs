//! Session actions (src/hub/actions.rs): pin, summary, archive of an archived session.

use super::{Harness, Reply, meta};
use serde_json::{Value, json};

fn status(r: &Reply) -> u16 {
    match r {
        Reply::Now(s, _) => *s,
        other => panic!("not an immediate reply: {other:?}"),
    }
}

#[test]
fn a_pin_is_stored_published_and_orders_the_list() {
    let mut h = Harness::new();
    let web = h.web("default");
    let a = h.new_session("default", "A", meta("a"));
    let b = h.new_session("default", "B", meta("b"));
    let _all = h.sse("web", &web, "all=true");
    h.take();
    let bad = h.call(
        &web,
        "PUT",
        &format!("/api/sessions/{a}/pin"),
        Some(json!({"mode": "top"})),
    );
    assert_eq!(status(&bad), 400);
    assert_eq!(
        bad.body(),
        &json!({"error": "Invalid body: mode must be none, project, or global"})
    );
    let ok = h.call(
        &web,
        "PUT",
        &format!("/api/sessions/{a}/pin"),
        Some(json!({"mode": "global"})),
    );
    assert_eq!((status(&ok), ok.body()), (200, &json!({"ok": true})));
    let lines: Vec<String> = h
        .take()
        .into_iter()
        .filter(|l| l.starts_with("web sse"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with(r#"web sse#3 {"type":"session-updated","sessionId":"A","data":{"#)
    );
    assert!(lines[0].contains(r#""pinned":false"#) && lines[0].contains(r#""globalPinned":true"#));
    assert_eq!(
        h.rows(&format!(
            "SELECT pinned, global_pinned FROM sessions WHERE id = '{a}'"
        )),
        vec![json!({"pinned": 0, "global_pinned": 1})]
    );
    h.call(
        &web,
        "PUT",
        &format!("/api/sessions/{b}/pin"),
        Some(json!({"mode": "project"})),
    );
    let list = h.get(&web, "/api/sessions");
    let order: Vec<(&str, bool, bool)> = list.body()["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or(""),
                s["pinned"] == json!(true),
                s["globalPinned"] == json!(true),
            )
        })
        .collect();
    // B was created last, but A's global pin ranks first.
    let (ida, idb) = (a.as_str(), b.as_str());
    assert_eq!(order, vec![(ida, false, true), (idb, true, false)]);
    h.call(
        &web,
        "PUT",
        &format!("/api/sessions/{a}/pin"),
        Some(json!({"mode": "none"})),
    );
    let pins = |h: &Harness, id: &str| {
        h.rows(&format!(
            "SELECT pinned, global_pinned FROM sessions WHERE id = '{id}'"
        ))
    };
    assert_eq!(pins(&h, &a), vec![json!({"pinned": 0, "global_pinned": 0})]);
    assert_eq!(pins(&h, &b), vec![json!({"pinned": 1, "global_pinned": 0})]);
}

#[test]
fn a_summary_is_a_versioned_metadata_write() {
    let mut h = Harness::new();
    let web = h.web("default");
    let a = h.new_session("default", "A", meta("a"));
    let before = h.get(&web, &format!("/api/sessions/{a}")).body()["session"].clone();
    let r = h.call(
        &web,
        "PATCH",
        &format!("/api/sessions/{a}/summary"),
        Some(json!({"text": "  done  "})),
    );
    assert_eq!((status(&r), r.body()), (200, &json!({"ok": true})));
    let after = h.get(&web, &format!("/api/sessions/{a}")).body()["session"].clone();
    assert_eq!(
        after["metadata"]["summary"],
        json!({"text": "done", "updatedAt": h.now().unix_ms})
    );
    let v = |s: &Value, k: &str| s[k].as_i64().unwrap_or(-1);
    assert_eq!(
        v(&after, "metadataVersion"),
        v(&before, "metadataVersion") + 1
    );
    assert_eq!(v(&after, "seq"), v(&before, "seq") + 1);
    assert_eq!(v(&after, "updatedAt"), v(&before, "updatedAt"));
    let bad = h.call(
        &web,
        "PATCH",
        &format!("/api/sessions/{a}/summary"),
        Some(json!({"text": " "})),
    );
    assert_eq!(status(&bad), 400);
    assert_eq!(
        bad.body(),
        &json!({"error": "Invalid body: text is required"})
    );
}

#[test]
fn archiving_an_ended_archived_session_answers_already_archived() {
    let mut h = Harness::new();
    let web = h.web("default");
    let mut m = meta("a");
    m["lifecycleState"] = json!("archived");
    let a = h.new_session("default", "A", m);
    let b = h.new_session("default", "B", meta("b"));
    let r = h.post(&web, &format!("/api/sessions/{a}/archive"), json!({}));
    assert_eq!(
        (status(&r), r.body()),
        (200, &json!({"ok": true, "alreadyArchived": true}))
    );
    let r = h.post(&web, &format!("/api/sessions/{b}/archive"), json!({}));
    assert_eq!(
        (status(&r), r.body()),
        (409, &json!({"error": "Session is inactive"}))
    );
}

#[test]
fn a_team_create_in_a_message_becomes_the_team_state_once() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("p"));
    let agent = h.session_socket("agent", "default", &sid);
    let _all = h.sse("web", &web, "all=true");
    h.take();
    let create = json!({"role": "agent", "content": {"type": "output", "data": {"type": "assistant", "message": {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "TeamCreate", "input": {"team_name": "alpha", "description": "d"}}]}}}});
    h.emit(
        agent,
        "message",
        json!({"sid": sid, "message": create, "localId": "l1"}),
    );
    // The same localId again is the stored message: no second change.
    h.emit(
        agent,
        "message",
        json!({"sid": sid, "message": create, "localId": "l1"}),
    );
    h.db(
        "team",
        "SELECT team_state, team_state_updated_at FROM sessions",
    );
    h.expect(
        r#"
        web sse#2 {"type":"session-updated","sessionId":"S","data":{"teamState":{"version":1800000000000,"value":{"teamName":"alpha","description":"d","members":[],"tasks":[],"messages":[],"updatedAt":1800000000000}},"updatedAt":1800000000000},"namespace":"default"}
        web sse#3 {"type":"message-received","sessionId":"S","message":"*","namespace":"default"}
        web sse#4 {"type":"message-received","sessionId":"S","message":"*","namespace":"default"}
        db team {"team_state":{"teamName":"alpha","description":"d","members":[],"tasks":[],"messages":[],"updatedAt":1800000000000},"team_state_updated_at":1800000000000}
        "#,
    );
}
