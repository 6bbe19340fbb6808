//! `GET`/`PUT /api/hub-settings` (hub/hub_settings.rs): validation, merge, and the
//! `sessionSummaryContract` the CLI reads from its session answers. The test harness has no
//! `HAPI_HOME`, so the values live in memory here (the file is covered by hub_settings.rs's
//! unit test and tests/parity/settings.test.mjs).

use super::{Harness, Reply, TOKEN, meta};
use serde_json::json;

fn answer(r: &Reply) -> (u16, serde_json::Value) {
    match r {
        Reply::Now(s, b) => (*s, b.clone()),
        other => panic!("not an immediate reply: {other:?}"),
    }
}

#[test]
fn hub_settings_validate_merge_and_reach_the_cli() {
    let mut h = Harness::new();
    let web = h.web("default");
    let off = json!({"sessionSummaryContract": false, "sessionSummaryInChat": false});
    assert_eq!(
        answer(&h.get(&web, "/api/hub-settings")),
        (200, off.clone())
    );
    let invalid = (400, json!({"error": "Invalid body"}));
    for bad in [
        json!({}),
        json!([]),
        json!({"foo": 1}),
        json!({"sessionSummaryContract": null}),
        json!({"sessionSummaryInChat": "yes"}),
    ] {
        let r = h.call(&web, "PUT", "/api/hub-settings", Some(bad));
        assert_eq!(answer(&r), invalid);
    }
    assert_eq!(answer(&h.get(&web, "/api/hub-settings")), (200, off));
    let r = h.call(
        &web,
        "PUT",
        "/api/hub-settings",
        Some(json!({"sessionSummaryContract": true})),
    );
    let on = json!({"sessionSummaryContract": true, "sessionSummaryInChat": false});
    assert_eq!(answer(&r), (200, on.clone()));
    assert_eq!(answer(&h.get(&web, "/api/hub-settings")), (200, on));

    let sid = h.new_session("default", "S", meta("proj"));
    let r = h.cli_call(TOKEN, "GET", &format!("/cli/sessions/{sid}"), None);
    assert_eq!(r.body()["sessionSummaryContract"], json!(true));
    // The storage report needs a database file; the in-memory harness has none.
    assert_eq!(answer(&h.get(&web, "/api/storage/sqlite")).0, 404);
}
