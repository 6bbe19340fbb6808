//! `/api/sessions/:id/scratchlist/*` and `/api/sessions/:id/export` (issue 16; the contract
//! is in `hub::scratchlist`). This module validates bodies the way the official hub's zod
//! schemas answer (`{"error":"Invalid body","issues":[…]}` with zod v4 issue objects) and
//! shapes the hub's outcomes into the official statuses and bodies.
//!
//! Export (`GET …/export`): `{"schemaVersion":2,"exportedAt","session","messages",
//! "scratchlist"}` as `application/json`, no `Content-Disposition`; `session` is the
//! `GET /api/sessions/:id` object, `messages` every stored message in page order (the items
//! of `GET …/messages`), `scratchlist` the entries oldest first. The body is written straight
//! into one buffer while paging the store 256 messages at a time, so the peak is the
//! serialized body plus one page of rows (never a `Value` tree of the whole session).
//!
//! A session of more than 20 000 messages answers 200 `{"type":"warning","count","limit":
//! 20000,"estimatedBytes"}` instead (the web then offers "Download anyway", which adds
//! `?force=true`); `estimatedBytes` is the exact length of the export (as observed).

use super::sessions::Ctx;
use super::{Outcome, json_body, path_param};
use crate::http::Response;
use crate::hub::model::message_json;
use crate::hub::scratchlist::{AttachmentRef, MAX_ENTRY_ID, MAX_TEXT, NewEntry, ScratchError};
use serde_json::{Map, Value, json};

/// Export format version.
const EXPORT_SCHEMA_VERSION: u64 = 2;
/// Past this many messages the export answers `{"type":"warning",…}` unless `force=true`.
const EXPORT_WARN_MESSAGES: usize = 20_000;
/// Messages read from the store per export page.
const EXPORT_PAGE: i64 = 256;

fn reply(r: Response) -> Outcome {
    Outcome::Reply(r)
}

/// Dispatches `/api/sessions/:id/scratchlist/…` (`rest` starts at `scratchlist`).
pub fn route(cx: &mut Ctx<'_>, rest: &[&str]) -> Outcome {
    let m = cx.req.head.method.as_str();
    let get = m == "GET" || m == "HEAD";
    let sid = cx.sid.clone();
    let now = cx.now;
    let r = match (m, rest) {
        (_, ["scratchlist"]) if get => cx.hub.scratch_list(&sid).map(|v| ok(200, &v)),
        ("POST", ["scratchlist"]) => match parse_create(&json_body(cx.req)) {
            Err(issues) => Ok(invalid(issues)),
            Ok(new) => cx
                .hub
                .scratch_create(&sid, new, now)
                .map(|(status, e)| ok(status, &json!({ "entry": e }))),
        },
        (_, ["scratchlist", "limits"]) if get => Ok(ok(200, &cx.hub.scratch_limits())),
        ("POST", ["scratchlist", "upload"]) => upload(cx),
        (_, ["scratchlist", "attachments", id]) if get => {
            let id = path_param(id).unwrap_or_default();
            cx.hub.scratch_attachment(&sid, &id).map(|a| {
                Response::new(200, &a.mime_type, a.bytes).header(
                    "Content-Disposition",
                    format!("inline; filename=\"{}\"", a.filename),
                )
            })
        }
        ("DELETE", ["scratchlist", "attachments", id]) => {
            let id = path_param(id).unwrap_or_default();
            cx.hub
                .scratch_delete_attachment(&sid, &id)
                .map(|()| ok(200, &json!({"ok": true})))
        }
        ("PUT", ["scratchlist", id]) => match parse_update(&json_body(cx.req)) {
            Err(issues) => Ok(invalid(issues)),
            Ok((text, atts)) => {
                let id = path_param(id).unwrap_or_default();
                cx.hub
                    .scratch_update(&sid, &id, text, atts, now)
                    .map(|e| ok(200, &json!({ "entry": e })))
            }
        },
        ("DELETE", ["scratchlist", id]) => {
            let id = path_param(id).unwrap_or_default();
            cx.hub
                .scratch_delete(&sid, &id, now)
                .map(|()| ok(200, &json!({"ok": true})))
        }
        _ => Ok(Response::not_found()),
    };
    reply(r.unwrap_or_else(refusal))
}

fn ok(status: u16, v: &Value) -> Response {
    Response::json(status, v)
}

fn invalid(issues: Vec<Value>) -> Response {
    Response::json(400, &json!({"error": "Invalid body", "issues": issues}))
}

/// The official answer to a refused operation.
fn refusal(e: ScratchError) -> Response {
    let coded = |status, msg: &str, code: &str| Response::error_code(status, msg, code);
    let upload = |status, msg: &str, code: &str| {
        Response::json(
            status,
            &json!({"success": false, "error": msg, "code": code}),
        )
    };
    match e {
        ScratchError::EntryNotFound => Response::error(404, "Scratchlist entry not found"),
        ScratchError::AttachmentNotFound => Response::error(404, "Attachment not found"),
        ScratchError::AttachmentInvalid => coded(
            400,
            "Invalid scratchlist attachment id",
            "scratchlist_attachment_invalid",
        ),
        ScratchError::TooManyAttachments(n) => coded(
            400,
            &format!("At most {n} attachments per scratchlist entry"),
            "scratchlist_attachments_per_entry",
        ),
        ScratchError::EntryBytes(n) => coded(
            400,
            &format!("Attachments exceed per-entry byte limit ({n} bytes)"),
            "scratchlist_attachments_entry_bytes",
        ),
        ScratchError::SessionBytes(n) => upload(
            400,
            &format!("Scratchlist attachments would exceed per-session byte limit ({n} bytes)"),
            "scratchlist_attachments_session_bytes",
        ),
        ScratchError::FileTooLarge => {
            upload(413, "File too large", "scratchlist_attachment_too_large")
        }
        ScratchError::MimeNotAllowed => {
            upload(400, "Mime type not allowed", "scratchlist_attachment_mime")
        }
        ScratchError::AtCap => coded(
            409,
            &format!(
                "Scratchlist is at its {}-entry cap",
                crate::hub::scratchlist::MAX_ENTRIES
            ),
            "scratchlist_at_cap",
        ),
        ScratchError::InUse => coded(
            409,
            "Attachment is still referenced by a scratchlist entry",
            "scratchlist_attachment_in_use",
        ),
        ScratchError::Io(e) => {
            crate::log::warn(&format!("scratchlist: attachment file: {e}"));
            Response::json(
                500,
                &json!({"success": false, "error": "Failed to store attachment"}),
            )
        }
        ScratchError::Hub(e) => super::session_error(e),
    }
}

/// `POST …/scratchlist/upload`: `{filename, content (base64), mimeType}`.
fn upload(cx: &mut Ctx<'_>) -> Result<Response, ScratchError> {
    let b = json_body(cx.req);
    let s = |k: &str, max: usize| {
        b.get(k)
            .and_then(Value::as_str)
            .filter(|s| (1..=max).contains(&s.chars().count()))
    };
    let (Some(filename), Some(mime), Some(content)) = (
        s("filename", 255),
        s("mimeType", 255),
        s("content", usize::MAX),
    ) else {
        return Ok(Response::error(400, "Invalid body"));
    };
    let bytes = node_base64(content);
    let sid = cx.sid.clone();
    cx.hub
        .scratch_upload(&sid, filename, mime, &bytes, cx.now)
        .map(|v| ok(200, &v))
}

/// Base64 decoded as Node's `Buffer.from(s, "base64")` does: both alphabets, anything else
/// skipped, stop at the first `=`.
pub fn node_base64(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

// ---- zod-style validation ----

fn received(v: Option<&Value>) -> &'static str {
    match v {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

fn type_issue(expected: &str, path: Value, got: Option<&Value>) -> Value {
    json!({"expected": expected, "code": "invalid_type", "path": path,
        "message": format!("Invalid input: expected {expected}, received {}", received(got))})
}

fn custom(path: &str, message: &str) -> Value {
    json!({"code": "custom", "path": [path], "message": message})
}

/// A string field: `None` when absent and optional; issues for everything else.
fn string_field(
    o: &Map<String, Value>,
    key: &str,
    optional: bool,
    min: usize,
    max: usize,
    issues: &mut Vec<Value>,
) -> Option<String> {
    let v = o.get(key);
    match v {
        None if optional => None,
        Some(Value::String(s)) => {
            let len = s.encode_utf16().count();
            if len < min {
                issues.push(
                    json!({"origin": "string", "code": "too_small", "minimum": min,
                    "inclusive": true, "path": [key],
                    "message": format!("Too small: expected string to have >={min} characters")}),
                );
            } else if len > max {
                issues.push(
                    json!({"origin": "string", "code": "too_big", "maximum": max,
                    "inclusive": true, "path": [key],
                    "message": format!("Too big: expected string to have <={max} characters")}),
                );
            }
            Some(s.clone())
        }
        _ => {
            issues.push(type_issue("string", json!([key]), v));
            None
        }
    }
}

/// `attachments`: an optional array of `{id, filename, mimeType, size, path}`.
fn attachments_field(
    o: &Map<String, Value>,
    issues: &mut Vec<Value>,
) -> Option<Vec<AttachmentRef>> {
    let v = o.get("attachments")?;
    let Some(items) = v.as_array() else {
        issues.push(type_issue("array", json!(["attachments"]), Some(v)));
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(a) = item.as_object() else {
            issues.push(type_issue("object", json!(["attachments", i]), Some(item)));
            continue;
        };
        for (key, expected) in [
            ("id", "string"),
            ("filename", "string"),
            ("mimeType", "string"),
            ("size", "number"),
            ("path", "string"),
        ] {
            let f = a.get(key);
            let fits = match expected {
                "number" => f.is_some_and(Value::is_number),
                _ => f.is_some_and(Value::is_string),
            };
            if !fits {
                issues.push(type_issue(expected, json!(["attachments", i, key]), f));
            }
        }
        if let Some(id) = a.get("id").and_then(Value::as_str) {
            out.push(AttachmentRef { id: id.to_string() });
        }
    }
    Some(out)
}

fn object_or_issue(b: &Value) -> Result<&Map<String, Value>, Vec<Value>> {
    b.as_object()
        .ok_or_else(|| vec![type_issue("object", json!([]), Some(b))])
}

/// The create body: `{text?, entryId?, createdAt?, attachments?}`, then "text or
/// attachments".
fn parse_create(b: &Value) -> Result<NewEntry, Vec<Value>> {
    let o = object_or_issue(b)?;
    let mut issues = Vec::new();
    let text = string_field(o, "text", true, 0, MAX_TEXT, &mut issues);
    let entry_id = string_field(o, "entryId", true, 1, MAX_ENTRY_ID, &mut issues);
    let created_at = match o.get("createdAt") {
        None => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v >= 0 => Some(v),
            Some(_) => {
                issues.push(
                    json!({"origin": "number", "code": "too_small", "minimum": 0,
                    "inclusive": true, "path": ["createdAt"],
                    "message": "Too small: expected number to be >=0"}),
                );
                None
            }
            None => {
                issues.push(json!({"expected": "int", "format": "safeint",
                    "code": "invalid_type", "path": ["createdAt"],
                    "message": "Invalid input: expected int, received number"}));
                None
            }
        },
        v => {
            issues.push(type_issue("number", json!(["createdAt"]), v));
            None
        }
    };
    let attachments = attachments_field(o, &mut issues);
    if !issues.is_empty() {
        return Err(issues);
    }
    let text = text.unwrap_or_default();
    let attachments = attachments.unwrap_or_default();
    if text.trim().is_empty() && attachments.is_empty() {
        return Err(vec![custom(
            "text",
            "Scratchlist entry requires text or attachments",
        )]);
    }
    Ok(NewEntry {
        text,
        entry_id,
        created_at,
        attachments,
    })
}

/// The update body: `{text, attachments?}`, then "non-empty text or attachments".
fn parse_update(b: &Value) -> Result<(String, Option<Vec<AttachmentRef>>), Vec<Value>> {
    let o = object_or_issue(b)?;
    let mut issues = Vec::new();
    let text = string_field(o, "text", false, 0, MAX_TEXT, &mut issues);
    let attachments = attachments_field(o, &mut issues);
    let Some(text) = text.filter(|_| issues.is_empty()) else {
        return Err(issues);
    };
    if text.trim().is_empty() && attachments.as_ref().is_none_or(Vec::is_empty) {
        return Err(vec![custom(
            "text",
            "Scratchlist entry requires non-empty text or attachments",
        )]);
    }
    Ok((text, attachments))
}

/// `GET /api/sessions/:id/export[?force=true]`.
pub fn export(cx: &mut Ctx<'_>) -> Outcome {
    let force = super::query_param(&cx.req.head.query, "force").as_deref() == Some("true");
    reply(match export_body(cx) {
        Ok((count, body)) if count > EXPORT_WARN_MESSAGES && !force => Response::json(
            200,
            &json!({"type": "warning", "count": count, "limit": EXPORT_WARN_MESSAGES,
                "estimatedBytes": body.len()}),
        ),
        Ok((_, body)) => Response::new(200, "application/json", body),
        Err(e) => refusal(e),
    })
}

/// The message count and the body of the export.
fn export_body(cx: &mut Ctx<'_>) -> Result<(usize, Vec<u8>), ScratchError> {
    use std::io::Write;
    let hub = &*cx.hub;
    let session = hub
        .sessions
        .get(&cx.sid)
        .map(crate::hub::model::Session::to_json)
        .ok_or(ScratchError::Hub(crate::hub::HubError::NotFound))?;
    let mut out = Vec::with_capacity(4096);
    let w = |out: &mut Vec<u8>, s: &[u8]| out.extend_from_slice(s);
    let _ = write!(
        out,
        "{{\"schemaVersion\":{EXPORT_SCHEMA_VERSION},\"exportedAt\":{},\"session\":",
        cx.now.unix_ms
    );
    json_into(&mut out, &session);
    w(&mut out, b",\"messages\":[");
    let mut count = 0;
    if let Some(head) = hub
        .store
        .head_position(&cx.sid)
        .map_err(ScratchError::from)?
    {
        let mut after = (i64::MIN, i64::MIN);
        let mut first = true;
        loop {
            let rows = hub
                .store
                .page_after(&cx.sid, after, head, EXPORT_PAGE)
                .map_err(ScratchError::from)?;
            count += rows.len();
            for r in &rows {
                if !std::mem::take(&mut first) {
                    w(&mut out, b",");
                }
                json_into(&mut out, &message_json(r));
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == EXPORT_PAGE => {
                    after = crate::store::position(last);
                }
                _ => break,
            }
        }
    }
    w(&mut out, b"],\"scratchlist\":");
    json_into(&mut out, &Value::Array(hub.scratch_entries(&cx.sid)?));
    w(&mut out, b"}");
    Ok((count, out))
}

fn json_into(out: &mut Vec<u8>, v: &Value) {
    // Writing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_decoded_leniently_like_node() {
        assert_eq!(node_base64("aGk="), b"hi");
        assert_eq!(node_base64("aGk"), b"hi");
        assert_eq!(node_base64("@@@"), b"");
        assert_eq!(node_base64("data:image/png;base64,aGk=").len(), 16);
        assert_eq!(node_base64("a G\nk="), b"hi");
        assert_eq!(node_base64("_-8="), vec![0xff, 0xef]);
    }

    #[test]
    fn create_bodies_get_zod_issues() {
        let e = parse_create(&json!({"text": 5})).unwrap_err();
        assert_eq!(
            e[0]["message"],
            "Invalid input: expected string, received number"
        );
        let e = parse_create(&Value::Null).unwrap_err();
        assert_eq!(e[0]["path"], json!([]));
        let e = parse_create(&json!({"text": "  "})).unwrap_err();
        assert_eq!(e[0]["code"], "custom");
        let e = parse_create(&json!({"text": "a", "createdAt": 1.5})).unwrap_err();
        assert_eq!(e[0]["expected"], "int");
        let e = parse_create(&json!({"text": "a", "entryId": ""})).unwrap_err();
        assert_eq!(e[0]["code"], "too_small");
        let e = parse_create(&json!({"text": "a".repeat(10_001)})).unwrap_err();
        assert_eq!(e[0]["maximum"], 10_000);
        let e = parse_create(&json!({"text": "", "attachments": [{"id": "x"}]})).unwrap_err();
        assert_eq!(e.len(), 4);
        assert_eq!(e[0]["path"], json!(["attachments", 0, "filename"]));
        let ok = parse_create(&json!({"text": "n", "entryId": "e", "createdAt": 5})).unwrap();
        assert_eq!(
            (ok.entry_id.as_deref(), ok.created_at),
            (Some("e"), Some(5))
        );
    }

    #[test]
    fn update_needs_text() {
        let e = parse_update(&json!({"text": null})).unwrap_err();
        assert_eq!(
            e[0]["message"],
            "Invalid input: expected string, received null"
        );
        let e = parse_update(&json!({"text": ""})).unwrap_err();
        assert_eq!(
            e[0]["message"],
            "Scratchlist entry requires non-empty text or attachments"
        );
        assert!(parse_update(&json!({"text": "x", "attachments": []})).is_ok());
    }
}
