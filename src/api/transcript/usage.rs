//! `GET /api/usage/summary` (hub/usage.rs) over days, ranges and time zones: the harness's
//! clock puts usages around local midnights (Berlin +01:00 in January, Kolkata +05:30), which
//! the parity suite cannot (its messages all arrive "now").

use super::{Harness, Reply, T0, meta};
use serde_json::{Value, json};

fn answer(r: &Reply) -> (u16, Value) {
    match r {
        Reply::Now(s, b) => (*s, b.clone()),
        other => panic!("not an immediate reply: {other:?}"),
    }
}

fn body(r: &Reply) -> Value {
    match r {
        Reply::Now(200, b) => b.clone(),
        other => panic!("not a 200: {other:?}"),
    }
}

fn claude(input: i64) -> Value {
    json!({"role": "agent", "content": {"type": "output", "data": {"type": "assistant",
        "message": {"model": "claude-x", "usage": {"input_tokens": input, "output_tokens": 0}}}}})
}

fn days(v: &Value) -> Vec<(String, i64)> {
    v["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["key"].as_str().unwrap().to_string(),
                d["inputTokens"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn kv(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn usages_fall_on_local_days_and_old_ones_leave_the_ranges() {
    let mut h = Harness::new();
    let sid = h.new_session("default", "S", meta("proj"));
    let agent = h.session_socket("agent", "default", &sid);
    // 2027-01-15 08:00 UTC (T0), 23:10 UTC, 2027-01-16 18:40 UTC.
    h.emit(agent, "message", json!({"sid": sid, "message": claude(1)}));
    h.advance(54_600_000);
    h.emit(agent, "message", json!({"sid": sid, "message": claude(10)}));
    h.advance(70_200_000);
    h.emit(
        agent,
        "message",
        json!({"sid": sid, "message": claude(100)}),
    );
    let web = h.web("default"); // JWTs of the harness outlive no day
    let q = |tz: &str| format!("/api/usage/summary?range=all&timeZone={tz}");
    let utc = body(&h.get(&web, &q("UTC")));
    assert_eq!(days(&utc), kv(&[("2027-01-15", 11), ("2027-01-16", 100)]));
    let berlin = body(&h.get(&web, &q("Europe/Berlin")));
    assert_eq!(days(&berlin), kv(&[("2027-01-15", 1), ("2027-01-16", 110)]));
    let kolkata = body(&h.get(&web, &q("Asia/Kolkata")));
    let three = kv(&[("2027-01-15", 1), ("2027-01-16", 10), ("2027-01-17", 100)]);
    assert_eq!(days(&kolkata), three);
    assert_eq!(days(&body(&h.get(&web, &q("%2B05:30")))), three);
    assert_eq!(
        days(&body(&h.get(&web, &q("-01:00")))),
        kv(&[("2027-01-15", 11), ("2027-01-16", 100)])
    );
    assert_eq!(utc["range"], json!({"from": null, "to": T0 + 124_800_000}));
    assert_eq!(utc["updatedAt"], json!(T0 + 124_800_000));

    // Seven days and an hour after the first usage, 7d no longer holds it; 30d does.
    h.advance(7 * 86_400_000 + 3_600_000 - 124_800_000);
    let web = h.web("default");
    let week = body(&h.get(&web, "/api/usage/summary?range=7d&timeZone=UTC"));
    assert_eq!(days(&week), kv(&[("2027-01-15", 10), ("2027-01-16", 100)]));
    assert_eq!(week["totals"]["requests"], json!(2));
    let to = T0 + 7 * 86_400_000 + 3_600_000;
    assert_eq!(
        week["range"],
        json!({"from": to - 7 * 86_400_000, "to": to})
    );
    let month = body(&h.get(&web, "/api/usage/summary?range=30d"));
    assert_eq!(month["totals"]["inputTokens"], json!(111));
    assert_eq!(month["range"]["from"], json!(to - 30 * 86_400_000));

    let bad = h.get(&web, "/api/usage/summary?timeZone=Mars/Olympus");
    assert_eq!(answer(&bad), (400, json!({"error": "Invalid timeZone"})));
    let other = h.web("other");
    assert_eq!(
        answer(&h.get(&other, "/api/usage/summary")),
        (
            403,
            json!({"error": "Usage summary is only available to the hub owner"})
        )
    );
}
