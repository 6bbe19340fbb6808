//! The scratch list and the export (issue 16; `hub::scratchlist`, `api::scratchlist`): what
//! every change sends, what a refused or failed request leaves behind (nothing), and that a
//! session's files go with it.

use super::{Harness, T0, meta};
use serde_json::json;

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn entry_changes_send_session_updated_and_uploads_do_not() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("one"));
    h.sse("tab", &web, "all=true");
    h.take();
    let path = format!("/api/sessions/{sid}/scratchlist");
    h.post(&web, &path, json!({"text": "note", "entryId": "e1"}));
    h.expect(
        r#"
        http 201 {"entry":{"entryId":"e1","text":"note","createdAt":1800000000000,"updatedAt":1800000000000,"attachments":[]}}
        tab sse#2 {"type":"session-updated","sessionId":"S","data":{"scratchlistUpdatedAt":1800000000000},"namespace":"default"}
        "#,
    );
    h.post(&web, &path, json!({"text": "again", "entryId": "e1"}));
    h.expect(
        r#"
        http 200 {"entry":{"entryId":"e1","text":"note","createdAt":1800000000000,"updatedAt":1800000000000,"attachments":[]}}
        "#,
    );
    h.post(
        &web,
        &format!("{path}/upload"),
        json!({"filename": "a b.png", "content": "aGk=", "mimeType": "image/png"}),
    );
    h.expect(
        r#"
        http 200 {"success":true,"attachment":{"id":"<uuid>","filename":"a_b.png","mimeType":"image/png","size":2,"path":"*"}}
        "#,
    );
    h.advance(1000);
    h.call(
        &web,
        "PUT",
        &format!("{path}/e1"),
        Some(json!({"text": "edited"})),
    );
    h.expect(
        r#"
        http 200 {"entry":{"entryId":"e1","text":"edited","createdAt":1800000000000,"updatedAt":1800000001000,"attachments":[]}}
        tab sse#3 {"type":"session-updated","sessionId":"S","data":{"scratchlistUpdatedAt":1800000001000},"namespace":"default"}
        "#,
    );
    h.call(&web, "DELETE", &format!("{path}/e1"), None);
    h.expect(
        r#"
        http 200 {"ok":true}
        tab sse#4 {"type":"session-updated","sessionId":"S","data":{"scratchlistUpdatedAt":1800000001000},"namespace":"default"}
        "#,
    );
    h.call(&web, "DELETE", &format!("{path}/e1"), None);
    h.expect(r#"http 404 {"error":"Scratchlist entry not found"}"#);
    assert_eq!(
        h.rows("SELECT entry_id FROM scratch_entries"),
        Vec::<serde_json::Value>::new()
    );
}

#[test]
fn a_failed_file_write_stores_nothing() {
    // The attachment directory cannot be created (its parent is a file).
    let blocker =
        std::env::temp_dir().join(format!("hapid-scratch-blocker-{}", std::process::id()));
    std::fs::write(&blocker, b"x").unwrap();
    let dir = blocker.join("attachments");
    let mut h = Harness::with_settings(|s| s.scratchlist.dir = dir.clone());
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("one"));
    h.sse("tab", &web, "all=true");
    h.take();
    h.post(
        &web,
        &format!("/api/sessions/{sid}/scratchlist/upload"),
        json!({"filename": "a.png", "content": "aGk=", "mimeType": "image/png"}),
    );
    h.expect(r#"http 500 {"success":false,"error":"Failed to store attachment"}"#);
    assert_eq!(h.rows("SELECT id FROM scratch_attachments").len(), 0);
    let _ = std::fs::remove_file(&blocker);
}

#[test]
fn refused_entries_leave_nothing_and_deleting_the_session_removes_its_files() {
    let dir = std::env::temp_dir().join(format!("hapid-scratch-del-{}", std::process::id()));
    let mut h = Harness::with_settings(|s| s.scratchlist.dir = dir.clone());
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("one"));
    let path = format!("/api/sessions/{sid}/scratchlist");
    let up = h.post(
        &web,
        &format!("{path}/upload"),
        json!({"filename": "a.png", "content": "aGk=", "mimeType": "image/png"}),
    );
    let att = up.body()["attachment"].clone();
    h.take();
    let five = vec![att.clone(); 5];
    h.post(&web, &path, json!({"text": "x", "attachments": five}));
    h.post(
        &web,
        &path,
        json!({"text": "x", "attachments": [{"id": "nope", "filename": "a", "mimeType": "image/png", "size": 1, "path": "p"}]}),
    );
    h.expect(
        r#"
        http 400 {"error":"At most 4 attachments per scratchlist entry","code":"scratchlist_attachments_per_entry"}
        http 400 {"error":"Invalid scratchlist attachment id","code":"scratchlist_attachment_invalid"}
        "#,
    );
    assert_eq!(h.rows("SELECT entry_id FROM scratch_entries").len(), 0);
    h.post(&web, &path, json!({"text": "", "attachments": [att]}));
    h.take();
    let get = h.get(
        &web,
        &format!("{path}/attachments/{}", att["id"].as_str().unwrap()),
    );
    assert!(matches!(get, super::Reply::Now(200, _)), "{get:?}");
    h.take();

    // The files sit under <dir>/default/<sid>/ and go with the (inactive) session.
    assert_eq!(files_under(&dir).len(), 1);
    h.call(&web, "DELETE", &format!("/api/sessions/{sid}"), None);
    h.expect(r#"http 200 {"ok":true}"#);
    assert_eq!(files_under(&dir), Vec::<String>::new());
    assert_eq!(h.rows("SELECT id FROM scratch_attachments").len(), 0);
    assert_eq!(h.rows("SELECT entry_id FROM scratch_entries").len(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_export_pages_every_message_in_order() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("one"));
    let cli = h.session_socket("c", "default", &sid);
    for i in 0..600 {
        h.emit(cli, "message", json!({"sid": sid, "message": {"n": i}}));
    }
    h.post(
        &web,
        &format!("/api/sessions/{sid}/scratchlist"),
        json!({"text": "n", "createdAt": 7}),
    );
    h.take();
    let r = h.get(&web, &format!("/api/sessions/{sid}/export"));
    let b = r.body();
    assert_eq!(b["schemaVersion"], 2);
    assert_eq!(b["exportedAt"], json!(T0));
    assert_eq!(b["session"]["id"], json!(sid));
    let msgs = b["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 600);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m["seq"], json!(i + 1));
        assert_eq!(m["content"], json!({"n": i}));
    }
    assert_eq!(b["scratchlist"][0]["createdAt"], 7);
}
