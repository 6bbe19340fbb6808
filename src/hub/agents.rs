//! The hub side of the agent routes (`api::agents` has the contract): machine rename, the
//! Antigravity model-list change signal, and how the agent RPCs' answers become responses.
//!
//! Answers, as observed on the official hub v0.30.7:
//! - model lists: the RPC reply verbatim (200, whatever it is); a failed call
//!   `500 {"success":false,"error"}`, or `503 … "code":"rpc_target_missing"` for the routes
//!   that say so when no handler is registered.
//! - `list-directory`: an object reply verbatim; anything else `200 {"success":false,
//!   "error":"Unexpected list-directory result"}`; a failed call `500 {"error"}`.
//! - `stop-runner`: any reply `200 {"message":"Runner stop requested; supervisor will
//!   relaunch"}`; a failed call `502 {"error","code":"restart_failed"}`.
//! - `readGeneratedImage {id}`: `{success:true, content:<base64>, mimeType?}` → the bytes
//!   with that content type (default `application/octet-stream`) and
//!   `Cache-Control: private, max-age=31536000, immutable`; anything else
//!   `404 {"success":false,"error"}` ("Generated image not found" when the reply names no
//!   error). hapid also refuses an image over [`IMAGE_MAX`] bytes (404, named).
//! - `listSlashCommands`: `metadata.slashCommands` first, as `{name, source:"builtin"}`, an
//!   RPC command of the same name replacing it in place, the other RPC commands after; when
//!   the call fails or answers no `commands` list the metadata ones alone (`success:true`);
//!   with no metadata commands either, the failure verbatim.
//! - `/files`: after `ripgrep`, RPC `statFiles {paths}` (the listed paths); each entry of
//!   its `entries` (`{path, size, modified}`) adds `size`/`modified` to its file; a failed
//!   or unsuccessful `statFiles` leaves the files without them.

use super::cli::RpcThen;
use super::rpc::Shape;
use super::{Hub, Now};
use crate::app::{ConnId, Effect};
use crate::http::Response;
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// Largest generated image hapid relays (decoded bytes).
pub const IMAGE_MAX: usize = 32 * 1024 * 1024;

impl Hub {
    /// `PATCH /api/machines/:id`: `displayName` set (or removed when empty), versioned.
    pub fn rename_machine(&mut self, id: &str, name: &str, now: Now) -> Result<(), String> {
        let m = self.machines.get_mut(id).ok_or("Machine not found")?;
        let before = m.clone();
        let mut meta = match &m.metadata {
            Value::Object(o) => o.clone(),
            _ => Map::new(),
        };
        if name.is_empty() {
            meta.remove("displayName");
        } else {
            meta.insert("displayName".into(), json!(name));
        }
        m.metadata = Value::Object(meta);
        m.metadata_version += 1;
        m.updated_at = now.unix_ms;
        m.seq += 1;
        if let Err(e) = self.store.put_machine(&m.to_row()) {
            *m = before;
            return Err(e.to_string());
        }
        let (ns, web) = (m.namespace.clone(), m.to_web_json());
        let part = json!({"version": m.metadata_version, "value": m.metadata});
        let body =
            json!({"t": "update-machine", "machineId": id, "metadata": part, "runnerState": null});
        let update = json!({"id": super::uuid_v4(), "seq": now.unix_ms, "createdAt": now.unix_ms, "body": body});
        let room = self.cli.machine_rooms.get(id).cloned();
        self.emit_room(room.as_ref(), None, "update", update);
        self.events.publish(
            &ns,
            json!({"type": "machine-updated", "machineId": id, "data": web}),
            &mut self.fx,
        );
        Ok(())
    }

    /// `machine-agy-models-changed` from a runner: SSE `machine-agy-models-updated`.
    pub fn agy_models_changed(&mut self, ns: &str, id: &str) {
        self.events.publish(
            ns,
            json!({"type": "machine-agy-models-updated", "machineId": id}),
            &mut self.fx,
        );
    }

    /// The `ripgrep` answer of `/files`: the files, then `statFiles` for their size and time.
    pub(super) fn files_listed(
        &mut self,
        conn: ConnId,
        limit: usize,
        sid: &str,
        result: Result<Value, String>,
        now: Now,
    ) {
        let listed = super::rpc::files_reply(result, limit);
        let paths: Vec<Value> = listed
            .get("files")
            .and_then(Value::as_array)
            .map(|f| {
                f.iter()
                    .filter_map(|f| f.get("fullPath").cloned())
                    .collect()
            })
            .unwrap_or_default();
        let ns = self.sessions.get(sid).map(|s| s.namespace.clone());
        match ns {
            Some(ns) if !paths.is_empty() => {
                let then = RpcThen::Reply {
                    conn,
                    shape: Shape::FilesStat { listed },
                };
                let params = json!({"paths": paths});
                self.rpc_call(&ns, format!("{sid}:statFiles"), &params, then, now);
            }
            _ => {
                let resp = Response::json(200, &listed);
                self.fx.push(Effect::Reply { conn, resp });
            }
        }
    }
}

/// Adds `statFiles` entries to the listed files.
pub(super) fn files_stat_reply(mut listed: Value, result: Result<Value, String>) -> Response {
    let entries = match &result {
        Ok(r) if r.get("success") == Some(&Value::Bool(true)) => {
            r.get("entries").and_then(Value::as_array)
        }
        _ => None,
    };
    if let (Some(entries), Some(files)) = (
        entries,
        listed.get_mut("files").and_then(Value::as_array_mut),
    ) {
        for f in files.iter_mut() {
            let Some(path) = f
                .get("fullPath")
                .and_then(Value::as_str)
                .map(str::to_string)
            else {
                continue;
            };
            let Some(e) = entries
                .iter()
                .find(|e| e.get("path").and_then(Value::as_str) == Some(&path))
            else {
                continue;
            };
            for k in ["size", "modified"] {
                if let Some(v) = e.get(k) {
                    f[k] = v.clone();
                }
            }
        }
    }
    Response::json(200, &listed)
}

pub(super) fn model_list_reply(result: Result<Value, String>, target_code: bool) -> Response {
    match result {
        Ok(v) => Response::json(200, &v),
        Err(e) if target_code && e.starts_with("RPC handler not registered") => Response::json(
            503,
            &json!({"success": false, "error": e, "code": "rpc_target_missing"}),
        ),
        Err(e) => Response::json(500, &json!({"success": false, "error": e})),
    }
}

pub(super) fn list_directory_reply(result: Result<Value, String>) -> Response {
    match result {
        Ok(v) if v.is_object() => Response::json(200, &v),
        Ok(_) => Response::json(
            200,
            &json!({"success": false, "error": "Unexpected list-directory result"}),
        ),
        Err(e) => Response::error(500, &e),
    }
}

pub(super) fn restart_reply(result: Result<Value, String>) -> Response {
    match result {
        Ok(_) => Response::json(
            200,
            &json!({"message": "Runner stop requested; supervisor will relaunch"}),
        ),
        Err(e) => Response::error_code(502, &e, "restart_failed"),
    }
}

pub(super) fn image_reply(result: Result<Value, String>) -> Response {
    let missing = |e: &str| Response::json(404, &json!({"success": false, "error": e}));
    let r = match result {
        Ok(r) => r,
        Err(e) => return missing(&e),
    };
    let content = r.get("content").and_then(Value::as_str);
    let (true, Some(content)) = (r.get("success") == Some(&Value::Bool(true)), content) else {
        let e = r.get("error").and_then(Value::as_str);
        return missing(e.unwrap_or("Generated image not found"));
    };
    if content.len() / 4 * 3 > IMAGE_MAX + 3 {
        return missing("Generated image too large");
    }
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(content) else {
        return missing("Generated image not found");
    };
    let mime = r
        .get("mimeType")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty() && m.len() < 200 && !m.contains(['\r', '\n']))
        .unwrap_or("application/octet-stream");
    Response::new(200, mime, bytes).header("cache-control", "private, max-age=31536000, immutable")
}

pub(super) fn slash_reply(result: Result<Value, String>, meta: Vec<String>) -> Response {
    let from_rpc = match &result {
        Ok(r) if r.get("success") == Some(&Value::Bool(true)) => {
            r.get("commands").and_then(Value::as_array).cloned()
        }
        _ => None,
    };
    if from_rpc.is_none() && meta.is_empty() {
        return match result {
            Ok(v) => Response::json(200, &v),
            Err(e) => Response::json(200, &json!({"success": false, "error": e})),
        };
    }
    let rpc = from_rpc.unwrap_or_default();
    let name = |c: &Value| c.get("name").and_then(Value::as_str).map(str::to_string);
    let mut out: Vec<Value> = Vec::with_capacity(meta.len() + rpc.len());
    for n in &meta {
        let same = rpc.iter().find(|c| name(c).as_deref() == Some(n.as_str()));
        out.push(
            same.cloned()
                .unwrap_or_else(|| json!({"name": n, "source": "builtin"})),
        );
    }
    out.extend(
        rpc.into_iter()
            .filter(|c| name(c).is_none_or(|n| !meta.contains(&n))),
    );
    Response::json(200, &json!({"success": true, "commands": out}))
}

/// Sets `metadata.<key>` (the session's preferred mode for its next start) when it differs;
/// true when it changed (the metadata version moved on).
fn prefer(s: &mut super::model::Session, key: &str, value: &str) -> bool {
    if s.metadata.get(key).and_then(Value::as_str) == Some(value) {
        return false;
    }
    let mut meta = match &s.metadata {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    meta.insert(key.into(), json!(value));
    s.metadata = Value::Object(meta);
    s.metadata_version += 1;
    true
}

/// The preferred-mode keys of the metadata and the values they take.
const PREFERRED: [(&str, &str, &[&str]); 2] = [
    (
        "permissionMode",
        "preferredPermissionMode",
        crate::api::agents::ALL_MODES,
    ),
    (
        "copilotAgentMode",
        "preferredCopilotAgentMode",
        &["interactive", "plan", "autopilot"],
    ),
];

/// Applies the `effort`, `modelReasoningEffort`, `serviceTier` and `copilotAgentMode` of a
/// `set-session-config` reply's `applied` (a string sets, null clears), and keeps an applied
/// permission or Copilot agent mode as the metadata's preferred one, as the official hub
/// does; true when a stored field changed.
pub(super) fn apply_settings(s: &mut super::model::Session, applied: &Map<String, Value>) -> bool {
    let mut stored = false;
    for (key, meta_key, allowed) in PREFERRED {
        if let Some(v) = applied.get(key).and_then(Value::as_str) {
            stored |= allowed.contains(&v) && prefer(s, meta_key, v);
        }
    }
    for (key, slot) in [
        ("effort", &mut s.effort),
        ("modelReasoningEffort", &mut s.model_reasoning_effort),
    ] {
        if let Some(v) = applied.get(key) {
            let v = v.as_str().map(str::to_string);
            if v != *slot {
                *slot = v;
                stored = true;
            }
        }
    }
    for (key, slot) in [
        ("serviceTier", &mut s.service_tier),
        ("copilotAgentMode", &mut s.copilot_agent_mode),
    ] {
        if let Some(v) = applied.get(key) {
            *slot = v.as_str().map(str::to_string);
        }
    }
    stored
}

/// The `serviceTier` and `copilotAgentMode` of a `session-alive` payload (memory only, as
/// the official hub keeps them: a string sets, `null` clears the tier), and its permission
/// mode as `metadata.preferredPermissionMode` (stored). Returns (changed, stored).
pub(super) fn alive_settings(s: &mut super::model::Session, p: &Value) -> (bool, bool) {
    let stored = p
        .get("permissionMode")
        .and_then(Value::as_str)
        .filter(|m| crate::api::agents::ALL_MODES.contains(m))
        .is_some_and(|m| prefer(s, "preferredPermissionMode", m));
    let before = (s.service_tier.clone(), s.copilot_agent_mode.clone());
    match p.get("serviceTier") {
        Some(Value::String(t)) => s.service_tier = Some(t.clone()),
        Some(Value::Null) => s.service_tier = None,
        _ => {}
    }
    if let Some(m) = p.get("copilotAgentMode").and_then(Value::as_str) {
        s.copilot_agent_mode = Some(m.to_string());
    }
    let changed = before != (s.service_tier.clone(), s.copilot_agent_mode.clone());
    (changed, stored)
}

impl Hub {
    /// `permission-mode` on an inactive session: the mode is kept as
    /// `metadata.preferredPermissionMode` (for the next start) and as the session's mode.
    pub fn prefer_permission_mode(&mut self, sid: &str, mode: &str) -> Result<(), String> {
        let s = self.sessions.get_mut(sid).ok_or("Session not found")?;
        let before = s.clone();
        prefer(s, "preferredPermissionMode", mode);
        s.seq += 1;
        s.permission_mode = Some(mode.to_string());
        if let Err(e) = self.store.put_session(&s.to_row()) {
            *s = before;
            return Err(e.to_string());
        }
        let (ns, full) = (s.namespace.clone(), s.to_json());
        self.events.publish(
            &ns,
            json!({"type": "session-updated", "sessionId": sid, "data": full}),
            &mut self.fx,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &Response) -> Value {
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    }

    #[test]
    fn slash_commands_merge_in_metadata_order() {
        let rpc = Ok(json!({"success": true, "commands": [
            {"name": "compact", "description": "C", "source": "builtin"},
            {"name": "x", "source": "user"}]}));
        let r = slash_reply(rpc, vec!["compact".into(), "init".into()]);
        assert_eq!(
            body(&r),
            json!({"success": true, "commands": [
                {"name": "compact", "description": "C", "source": "builtin"},
                {"name": "init", "source": "builtin"},
                {"name": "x", "source": "user"}]})
        );
        let r = slash_reply(Err("gone".into()), vec!["a".into()]);
        assert_eq!(
            body(&r),
            json!({"success": true, "commands": [{"name": "a", "source": "builtin"}]})
        );
        let r = slash_reply(Ok(json!({"success": false, "error": "e"})), vec![]);
        assert_eq!(body(&r), json!({"success": false, "error": "e"}));
    }

    #[test]
    fn images_are_bytes_or_404() {
        let ok = image_reply(Ok(
            json!({"success": true, "content": "AAH/", "mimeType": "image/png"}),
        ));
        assert_eq!((ok.status, ok.body.as_ref()), (200, &[0u8, 1, 255][..]));
        assert!(
            ok.headers
                .iter()
                .any(|(k, v)| *k == "Content-Type" && v == "image/png")
        );
        for bad in [
            Ok(json!("garbage")),
            Ok(json!({"success": true, "content": "!!not base64"})),
            Ok(json!({"success": true})),
            Err("timeout".to_string()),
        ] {
            assert_eq!(image_reply(bad).status, 404);
        }
        let huge = "A".repeat(IMAGE_MAX / 3 * 4 + 8);
        let r = image_reply(Ok(json!({"success": true, "content": huge})));
        assert_eq!(
            body(&r),
            json!({"success": false, "error": "Generated image too large"})
        );
    }

    #[test]
    fn stat_entries_add_size_and_time() {
        let listed = json!({"success": true, "files": [{"fullPath": "a"}, {"fullPath": "b"}]});
        let stat =
            Ok(json!({"success": true, "entries": [{"path": "a", "size": 1, "modified": 2}]}));
        assert_eq!(
            body(&files_stat_reply(listed.clone(), stat)),
            json!({"success": true, "files": [{"fullPath": "a", "size": 1, "modified": 2}, {"fullPath": "b"}]})
        );
        assert_eq!(
            body(&files_stat_reply(listed.clone(), Err("x".into()))),
            listed
        );
    }
}
