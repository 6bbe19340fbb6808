//! Versioned writes: `update-metadata`, `update-state`, `machine-update-metadata`,
//! `machine-update-state` and their acks (spec/cli-protocol.md §6.3, spec/storage.md §3.2).

use super::{Harness, meta};
use serde_json::json;

fn two_sockets(h: &mut Harness) -> (String, super::Cli, super::Cli) {
    let sid = h.new_session("default", "S", meta("p"));
    let writer = h.session_socket("writer", "default", &sid);
    let other = h.session_socket("other", "default", &sid);
    (sid, writer, other)
}

#[test]
fn update_metadata_bumps_the_version_and_tells_the_other_sockets() {
    let mut h = Harness::new();
    let web = h.web("default");
    let (sid, writer, _other) = two_sockets(&mut h);
    let _all = h.sse("web", &web, "all=true");
    h.take();
    h.advance(250);
    let m = json!({"path": "/home/dev/p", "host": "box", "summary": {"text": "Fix it", "updatedAt": 1}});
    h.emit_ack(
        writer,
        "update-metadata",
        json!({"sid": sid, "expectedVersion": 1, "metadata": m}),
    );
    h.db(
        "sessions",
        "SELECT metadata, metadata_version, seq, updated_at FROM sessions",
    );
    h.expect(
        r#"
        other emit update {"id":"<uuid>","seq":1800000000250,"createdAt":1800000000250,"body":{"t":"update-session","sid":"S","metadata":{"version":2,"value":{"path":"/home/dev/p","host":"box","summary":{"text":"Fix it","updatedAt":1}}},"agentState":null}}
        web sse#2 {"type":"session-updated","sessionId":"S","data":{"metadata":{"version":2,"value":{"path":"/home/dev/p","host":"box","summary":{"text":"Fix it","updatedAt":1}}},"updatedAt":1800000000250},"namespace":"default"}
        writer ack#0 [{"result":"success","version":2,"metadata":{"path":"/home/dev/p","host":"box","summary":{"text":"Fix it","updatedAt":1}}}]
        db sessions {"metadata":{"path":"/home/dev/p","host":"box","summary":{"text":"Fix it","updatedAt":1}},"metadata_version":2,"seq":1,"updated_at":1800000000250}
        "#,
    );
}

#[test]
fn a_stale_expected_version_gets_the_stored_value_back() {
    let mut h = Harness::new();
    let web = h.web("default");
    let (sid, writer, _other) = two_sockets(&mut h);
    h.emit_ack(
        writer,
        "update-metadata",
        json!({"sid": sid, "expectedVersion": 1, "metadata": {"path": "/a", "host": "h"}}),
    );
    let _all = h.sse("web", &web, "all=true");
    h.take();
    h.emit_ack(
        writer,
        "update-metadata",
        json!({"sid": sid, "expectedVersion": 1, "metadata": {"path": "/b", "host": "h"}}),
    );
    h.db(
        "sessions",
        "SELECT metadata, metadata_version FROM sessions",
    );
    h.expect(
        r#"
        writer ack#1 [{"result":"version-mismatch","version":2,"metadata":{"path":"/a","host":"h"}}]
        db sessions {"metadata":{"path":"/a","host":"h"},"metadata_version":2}
        "#,
    );
}

#[test]
fn update_state_is_versioned_apart_from_metadata() {
    let mut h = Harness::new();
    let (sid, writer, _other) = two_sockets(&mut h);
    h.take();
    let st = json!({"controlledByUser": false, "startingMode": "remote"});
    h.emit_ack(
        writer,
        "update-state",
        json!({"sid": sid, "expectedVersion": 1, "agentState": st}),
    );
    h.emit_ack(
        writer,
        "update-state",
        json!({"sid": sid, "expectedVersion": 0, "agentState": {"controlledByUser": true}}),
    );
    // agentState may be null (or absent): a legitimate write.
    h.emit_ack(
        writer,
        "update-state",
        json!({"sid": sid, "expectedVersion": 2}),
    );
    h.db(
        "sessions",
        "SELECT agent_state, agent_state_version, metadata_version FROM sessions",
    );
    h.expect(
        r#"
        other emit update {"id":"<uuid>","seq":1800000000000,"createdAt":1800000000000,"body":{"t":"update-session","sid":"S","metadata":null,"agentState":{"version":2,"value":{"controlledByUser":false,"startingMode":"remote"}}}}
        writer ack#0 [{"result":"success","version":2,"agentState":{"controlledByUser":false,"startingMode":"remote"}}]
        writer ack#1 [{"result":"version-mismatch","version":2,"agentState":{"controlledByUser":false,"startingMode":"remote"}}]
        other emit update {"id":"<uuid>","seq":1800000000000,"createdAt":1800000000000,"body":{"t":"update-session","sid":"S","metadata":null,"agentState":{"version":3,"value":null}}}
        writer ack#2 [{"result":"success","version":3,"agentState":null}]
        db sessions {"agent_state":null,"agent_state_version":3,"metadata_version":1}
        "#,
    );
}

#[test]
fn invalid_or_misaddressed_writes_are_acked_with_an_error() {
    let mut h = Harness::new();
    let (sid, writer, _other) = two_sockets(&mut h);
    h.take();
    h.emit_ack(
        writer,
        "update-metadata",
        json!({"sid": sid, "metadata": {}}),
    );
    h.emit_ack(
        writer,
        "update-metadata",
        json!({"sid": sid, "expectedVersion": 1}),
    );
    h.emit_ack(
        writer,
        "update-metadata",
        json!({"sid": sid, "expectedVersion": "1", "metadata": {}}),
    );
    h.emit_ack(
        writer,
        "update-state",
        json!({"sid": "no-such-session", "expectedVersion": 1, "agentState": null}),
    );
    h.emit_ack(
        writer,
        "machine-update-state",
        json!({"machineId": "no-such-machine", "expectedVersion": 1, "runnerState": {}}),
    );
    // Without an ack id there is nobody to answer: nothing happens.
    h.emit(
        writer,
        "update-metadata",
        json!({"sid": sid, "expectedVersion": 1, "metadata": {"path": "/x", "host": "h"}}),
    );
    h.db("sessions", "SELECT metadata_version FROM sessions");
    h.expect(
        r#"
        writer ack#0 [{"result":"error"}]
        writer ack#1 [{"result":"error"}]
        writer ack#2 [{"result":"error"}]
        writer ack#3 [{"result":"error","reason":"not-found"}]
        writer ack#4 [{"result":"error","reason":"not-found"}]
        db sessions {"metadata_version":1}
        "#,
    );
}

#[test]
fn machine_update_state_stores_marks_active_and_tells_the_room() {
    let mut h = Harness::new();
    let web = h.web("default");
    h.new_machine(
        "default",
        "m1",
        json!({"host": "box", "platform": "linux", "happyCliVersion": "0.30.7"}),
    );
    let runner = h.machine_socket("runner", "default", "m1");
    let watcher = h.machine_socket("watcher", "default", "m1");
    let _m = h.sse("web", &web, "machineId=m1");
    h.take();
    h.advance(40);
    let rs = json!({"status": "running", "pid": 42});
    h.emit_ack(
        runner,
        "machine-update-state",
        json!({"machineId": "m1", "expectedVersion": 1, "runnerState": rs}),
    );
    h.emit_ack(
        watcher,
        "machine-update-metadata",
        json!({"machineId": "m1", "expectedVersion": 2, "metadata": {}}),
    );
    h.db("machines", "SELECT runner_state, runner_state_version, metadata_version, active, active_at FROM machines");
    h.expect(
        r#"
        runner ack#0 [{"result":"success","version":2,"runnerState":{"status":"running","pid":42}}]
        watcher emit update {"id":"<uuid>","seq":1800000000040,"createdAt":1800000000040,"body":{"t":"update-machine","machineId":"m1","metadata":null,"runnerState":{"version":2,"value":{"status":"running","pid":42}}}}
        web sse#2 {"type":"machine-updated","machineId":"m1","data":{"id":"m1","active":true,"activeAt":1800000000040,"runnerState":{"status":"running","pid":42},"runnerStateVersion":2,"...":0},"namespace":"default"}
        watcher ack#0 [{"result":"version-mismatch","version":1,"metadata":{"host":"box","platform":"linux","happyCliVersion":"0.30.7"}}]
        db machines {"runner_state":{"status":"running","pid":42},"runner_state_version":2,"metadata_version":1,"active":1,"active_at":1800000000040}
        "#,
    );
}

#[test]
fn a_web_rename_makes_the_clis_next_metadata_write_a_mismatch() {
    let mut h = Harness::new();
    let web = h.web("default");
    let (sid, writer, other) = two_sockets(&mut h);
    h.take();
    h.call(
        &web,
        "PATCH",
        &format!("/api/sessions/{sid}"),
        Some(json!({"name": "Renamed"})),
    );
    h.emit_ack(writer, "update-metadata", json!({"sid": sid, "expectedVersion": 1, "metadata": {"path": "/home/dev/p", "host": "box"}}));
    h.expect(
        r#"
        http 200 {"ok":true}
        writer ack#0 [{"result":"version-mismatch","version":2,"metadata":{"path":"/home/dev/p","host":"box","flavor":"claude","name":"Renamed"}}]
        "#,
    );
    let _ = other;
}
