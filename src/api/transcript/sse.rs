//! `GET /api/events`: the first frame, the filters, heartbeats and `Last-Event-ID` replay
//! (spec/sse.md §1–5, §9).

use super::{Harness, meta};
use serde_json::json;

#[test]
fn the_first_frame_is_connection_changed() {
    let mut h = Harness::new();
    let web = h.web("default");
    h.sse("tab", &web, "all=true");
    h.expect(
        r#"
        tab sse {"type":"connection-changed","data":{"status":"connected","subscriptionId":"sub-tab","resume":"gap"}}
        "#,
    );
}

#[test]
fn streams_get_what_their_filter_asks_for() {
    let mut h = Harness::new();
    let web = h.web("default");
    let s1 = h.new_session("default", "S1", meta("one"));
    let s2 = h.new_session("default", "S2", meta("two"));
    h.new_machine(
        "default",
        "m1",
        json!({"host": "box", "platform": "linux", "happyCliVersion": "0.30.7"}),
    );
    let c1 = h.session_socket("c1", "default", &s1);
    let c2 = h.session_socket("c2", "default", &s2);
    let runner = h.machine_socket("runner", "default", "m1");
    let _all = h.sse("all", &web, "all=true");
    let _one = h.sse("one", &web, &format!("sessionId={s1}"));
    let _mach = h.sse("mach", &web, "machineId=m1");
    let _none = h.sse("none", &web, "");
    h.take();
    h.emit(
        c1,
        "session-alive",
        json!({"sid": s1, "time": super::T0, "thinking": false}),
    );
    h.emit(
        c2,
        "session-alive",
        json!({"sid": s2, "time": super::T0, "thinking": false}),
    );
    h.emit(c1, "message", json!({"sid": s1, "message": {"n": 1}}));
    h.emit(
        runner,
        "machine-alive",
        json!({"machineId": "m1", "time": super::T0}),
    );
    h.expect(
        r#"
        all sse#4 {"type":"session-updated","sessionId":"S1","data":{"active":true,"activeAt":1800000000000,"thinking":false,"model":null},"namespace":"default"}
        one sse#4 {"type":"session-updated","sessionId":"S1","data":{"active":true,"activeAt":1800000000000,"thinking":false,"model":null},"namespace":"default"}
        all sse#5 {"type":"session-updated","sessionId":"S2","data":{"active":true,"activeAt":1800000000000,"thinking":false,"model":null},"namespace":"default"}
        all sse#6 {"type":"message-received","sessionId":"S1","message":{"seq":1,"content":{"n":1},"...":0},"namespace":"default"}
        one sse#6 {"type":"message-received","sessionId":"S1","message":{"seq":1,"content":{"n":1},"...":0},"namespace":"default"}
        all sse#7 {"type":"machine-updated","machineId":"m1","data":{"id":"m1","active":true,"...":0},"namespace":"default"}
        mach sse#7 {"type":"machine-updated","machineId":"m1","data":{"id":"m1","active":true,"...":0},"namespace":"default"}
        "#,
    );
}

#[test]
fn a_stream_for_an_unknown_session_or_machine_is_refused() {
    let mut h = Harness::new();
    let web = h.web("default");
    let r = h.try_sse("x", &web, "sessionId=nosuch", None).err();
    assert_eq!(r, Some((404, json!({"error": "Session not found"}))));
    let r = h.try_sse("x", &web, "machineId=nosuch", None).err();
    assert_eq!(r, Some((404, json!({"error": "Machine not found"}))));
    let bad = super::Web {
        jwt: "not-a-jwt".into(),
    };
    let r = h.try_sse("x", &bad, "all=true", None).err();
    assert_eq!(r.map(|r| r.0), Some(401));
}

#[test]
fn every_stream_gets_a_heartbeat_every_30_seconds() {
    let mut h = Harness::new();
    let web = h.web("default");
    let alice = h.web("alice");
    let _a = h.sse("a", &web, "");
    let _b = h.sse("b", &alice, "all=true");
    h.take();
    h.advance(29_999);
    h.expect("");
    h.advance(1);
    h.expect(
        r#"
        a sse {"type":"heartbeat","namespace":"default","data":{"timestamp":1800000030000}}
        b sse {"type":"heartbeat","namespace":"alice","data":{"timestamp":1800000030000}}
        "#,
    );
    h.advance(30_000);
    h.expect(
        r#"
        a sse {"type":"heartbeat","namespace":"default","data":{"timestamp":1800000060000}}
        b sse {"type":"heartbeat","namespace":"alice","data":{"timestamp":1800000060000}}
        "#,
    );
}

#[test]
fn last_event_id_replays_exactly_the_missed_events() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("p"));
    let cli = h.session_socket("cli", "default", &sid);
    let tab = h.sse("tab", &web, "all=true");
    h.emit(cli, "message", json!({"sid": sid, "message": {"n": 1}}));
    h.take();
    // The id the browser saw last, as its `id:` line carried it.
    let last = h.last_event_id().expect("id");
    h.close(&tab);
    h.emit(cli, "message", json!({"sid": sid, "message": {"n": 2}}));
    h.emit(cli, "message", json!({"sid": sid, "message": {"n": 3}}));
    h.take();
    h.try_sse("tab2", &web, "all=true", Some(&last))
        .expect("stream");
    h.expect(
        r#"
        tab2 sse {"type":"connection-changed","data":{"status":"connected","subscriptionId":"sub-tab2","resume":"ok"}}
        tab2 sse#3 {"type":"message-received","sessionId":"S","message":{"seq":2,"content":{"n":2},"...":0},"namespace":"default"}
        tab2 sse#4 {"type":"message-received","sessionId":"S","message":{"seq":3,"content":{"n":3},"...":0},"namespace":"default"}
        "#,
    );
}

#[test]
fn an_unknown_or_foreign_last_event_id_is_a_gap() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("p"));
    let cli = h.session_socket("cli", "default", &sid);
    h.emit(cli, "message", json!({"sid": sid, "message": {"n": 1}}));
    h.take();
    h.try_sse("tab", &web, "all=true", Some("0badc0de:1"))
        .expect("stream");
    h.try_sse("tab2", &web, "all=true", Some("garbage"))
        .expect("stream");
    h.expect(
        r#"
        tab sse {"type":"connection-changed","data":{"status":"connected","subscriptionId":"sub-tab","resume":"gap"}}
        tab2 sse {"type":"connection-changed","data":{"status":"connected","subscriptionId":"sub-tab2","resume":"gap"}}
        "#,
    );
}

#[test]
fn replay_keeps_the_streams_filter() {
    let mut h = Harness::new();
    let web = h.web("default");
    let s1 = h.new_session("default", "S1", meta("one"));
    let s2 = h.new_session("default", "S2", meta("two"));
    let c1 = h.session_socket("c1", "default", &s1);
    let c2 = h.session_socket("c2", "default", &s2);
    let tab0 = h.sse("tab0", &web, "all=true");
    h.emit(c1, "message", json!({"sid": s1, "message": {"n": 0}}));
    h.take();
    let last = h.last_event_id().expect("id");
    h.close(&tab0);
    h.emit(c1, "message", json!({"sid": s1, "message": {"n": 1}}));
    h.emit(c2, "message", json!({"sid": s2, "message": {"n": 2}}));
    h.take();
    h.try_sse("tab", &web, &format!("sessionId={s2}"), Some(&last))
        .expect("stream");
    h.expect(
        r#"
        tab sse {"type":"connection-changed","data":{"status":"connected","subscriptionId":"sub-tab","resume":"ok"}}
        tab sse#5 {"type":"message-received","sessionId":"S2","message":{"seq":1,"content":{"n":2},"...":0},"namespace":"default"}
        "#,
    );
}
