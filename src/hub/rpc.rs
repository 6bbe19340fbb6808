//! How an RPC result becomes an HTTP answer: each web route has its own failure shape
//! (spec/rest.md §2 table, §3.7, §3.23, §3.26, §3.27).

use super::{Hub, Now};
use crate::http::Response;
use serde_json::{Value, json};

/// The answer shape of an RPC-backed route.
#[derive(Debug, Clone)]
pub enum Shape {
    /// abort, switch, approve, deny: `{"ok":true}`; failure → 500.
    Ok,
    /// archive: on success the session ends; failure → 500.
    Archive {
        sid: String,
    },
    /// set-session-config: apply `applied`; failure → 409 `{"error"}`.
    Config {
        sid: String,
    },
    /// upload, upload/delete: reply verbatim; failure → 500 `{"success":false,"error"}`.
    Verbatim500,
    /// slash-commands, skills, git-*, file, directory: verbatim; failure → 200 `{"success":false}`.
    Verbatim200,
    /// files: the ripgrep listing turned into file entries (at most `limit`), then
    /// `statFiles` on session `sid` (see `hub::agents`).
    Files {
        limit: usize,
        sid: String,
    },
    /// files, second step: `listed` plus the `statFiles` sizes and times.
    FilesStat {
        listed: Value,
    },
    /// The agent model and option lists (`hub::agents`).
    ModelList {
        target_code: bool,
    },
    /// machine list-directory, restart-runner, generated image, slash commands (`hub::agents`).
    ListDirectory,
    RestartRunner,
    Image,
    Slash {
        meta: Vec<String>,
    },
    /// spawn: the reply mapping of §3.26, always 200.
    Spawn,
    /// paths/exists: `{"exists":{…}}`; failure → 500.
    PathsExists,
    /// cursor-chat-store: `{onDisk, store}`; anything else → 502 (`hub::cursor_store`).
    CursorStore,
    /// steer-queued-message: always 200 with a status object (CONTRACT.md §5.2).
    Steer {
        local_id: String,
    },
    /// rewind-conversation: truncate and announce; failure → 409 `{"error","hydrateFailed"}`.
    Rewind {
        sid: String,
        local_id: String,
    },
}

/// What abort, switch, archive, approve and deny answer when the RPC fails: upstream sends a
/// bare `500 text/plain`; hapid sends the same status with `{"error": <the RPC failure>}`
/// (spec/http-general.md §2.2 recommends it; the web only looks at the status).
fn internal_error(e: &str) -> Response {
    Response::error(500, e)
}

impl Hub {
    /// Maps an RPC outcome to the route's response (and applies its side effects).
    pub(super) fn rpc_shape(
        &mut self,
        shape: Shape,
        result: Result<Value, String>,
        now: Now,
    ) -> Response {
        match shape {
            Shape::Rewind { sid, local_id } => match self.rewound(&sid, &local_id, result) {
                Ok(body) => Response::json(200, &body),
                Err(e) => Response::json(409, &json!({"error": e, "hydrateFailed": false})),
            },
            Shape::Steer { local_id } => Response::json(200, &Hub::steer_answer(&local_id, result)),
            Shape::Ok => match result {
                Ok(_) => Response::json(200, &json!({"ok": true})),
                Err(e) => internal_error(&e),
            },
            // v0.30.7 ends the session whatever the CLI answered (an error answer, no
            // handler: still 200 and inactive).
            Shape::Archive { sid } => {
                self.session_end(&sid, None, None, now);
                self.agent_terminal_session_ended(&sid);
                Response::json(200, &json!({"ok": true}))
            }
            Shape::Config { sid } => match result.and_then(|r| self.apply_config(&sid, r)) {
                Ok(()) => Response::json(200, &json!({"ok": true})),
                Err(e) => Response::error(409, &e),
            },
            Shape::Verbatim500 => match result {
                Ok(v) => Response::json(200, &v),
                Err(e) => Response::json(500, &json!({"success": false, "error": e})),
            },
            Shape::Verbatim200 => match result {
                Ok(v) => Response::json(200, &v),
                Err(e) => Response::json(200, &json!({"success": false, "error": e})),
            },
            Shape::Files { limit, .. } => Response::json(200, &files_reply(result, limit)),
            Shape::FilesStat { listed } => super::agents::files_stat_reply(listed, result),
            Shape::ModelList { target_code } => {
                super::agents::model_list_reply(result, target_code)
            }
            Shape::ListDirectory => super::agents::list_directory_reply(result),
            Shape::RestartRunner => super::agents::restart_reply(result),
            Shape::Image => super::agents::image_reply(result),
            Shape::Slash { meta } => super::agents::slash_reply(result, meta),
            Shape::Spawn => Response::json(200, &spawn_reply(result)),
            Shape::CursorStore => super::cursor_store::store_answer(result),
            Shape::PathsExists => match result {
                Ok(v) => match v.get("exists").and_then(Value::as_object) {
                    Some(m) => {
                        let exists: serde_json::Map<String, Value> = m
                            .iter()
                            .map(|(k, v)| (k.clone(), json!(v == &Value::Bool(true))))
                            .collect();
                        Response::json(200, &json!({"exists": exists}))
                    }
                    None => Response::error(500, "Unexpected path-exists result"),
                },
                Err(e) => Response::error(500, &e),
            },
        }
    }

    /// Applies a `set-session-config` reply (spec/rest.md §3.7 steps 2–4).
    fn apply_config(&mut self, sid: &str, reply: Value) -> Result<(), String> {
        let Value::Object(o) = reply else {
            return Err("Invalid response from session config RPC".into());
        };
        let Some(Value::Object(applied)) = o.get("applied") else {
            return Err(format!(
                "Missing applied session config, got: {}",
                Value::Object(o.clone())
            ));
        };
        let s = self.sessions.get_mut(sid).ok_or("Session not found")?;
        if let Some(m) = applied.get("permissionMode").and_then(Value::as_str) {
            s.permission_mode = Some(m.to_string());
        }
        if let Some(m) = applied.get("collaborationMode").and_then(Value::as_str) {
            s.collaboration_mode = Some(m.to_string());
        }
        let mut stored = super::agents::apply_settings(s, applied);
        if let Some(m) = applied.get("model") {
            let m = m.as_str().map(str::to_string);
            if m != s.model {
                s.model = m;
                s.seq += 1;
                stored = true;
            }
        }
        if stored {
            self.store
                .put_session(&s.to_row())
                .map_err(|_| "Failed to update session model".to_string())?;
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

/// spec/rest.md §3.23.
pub(super) fn files_reply(result: Result<Value, String>, limit: usize) -> Value {
    let r = match result {
        Ok(r) => r,
        Err(e) => return json!({"success": false, "error": e}),
    };
    if r.get("success") != Some(&Value::Bool(true)) {
        let e = r
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("Failed to list files");
        return json!({"success": false, "error": e});
    }
    let stdout = r.get("stdout").and_then(Value::as_str).unwrap_or("");
    let files: Vec<Value> = stdout
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(limit)
        .map(|full| {
            let (dir, name) = match full.rfind('/') {
                Some(i) => (&full[..i], &full[i + 1..]),
                None => ("", full),
            };
            let name = if name.is_empty() { full } else { name };
            json!({"fileName": name, "filePath": dir, "fullPath": full, "fileType": "file"})
        })
        .collect();
    json!({"success": true, "files": files})
}

/// spec/rest.md §3.26 reply mapping.
pub fn spawn_reply(result: Result<Value, String>) -> Value {
    let r = match result {
        Ok(r) => r,
        Err(e) => return json!({"type": "error", "message": e}),
    };
    let s = |k: &str| r.get(k).and_then(Value::as_str);
    match s("type") {
        Some("success") if s("sessionId").is_some() => {
            return json!({"type": "success", "sessionId": s("sessionId")});
        }
        Some("error") if s("errorMessage").is_some() => {
            return json!({"type": "error", "message": s("errorMessage")});
        }
        Some("requestToApproveDirectoryCreation") if s("directory").is_some() => {
            let d = s("directory").unwrap_or_default();
            return json!({"type": "error", "message": format!("Directory creation requires approval: {d}")});
        }
        _ => {}
    }
    if let Some(e) = s("error") {
        return json!({"type": "error", "message": e});
    }
    if r.is_object()
        && s("type") != Some("success")
        && let Some(m) = s("message")
    {
        return json!({"type": "error", "message": m});
    }
    // A bare string answer reads as itself (observed on v0.30.7: "Unexpected spawn result: garbage").
    let shown = match &r {
        Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    json!({"type": "error", "message": format!("Unexpected spawn result: {shown}")})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_mapping() {
        assert_eq!(
            spawn_reply(Ok(json!({"type":"success","sessionId":"s"}))),
            json!({"type":"success","sessionId":"s"})
        );
        assert_eq!(
            spawn_reply(Ok(json!({"type":"error","errorMessage":"m"}))),
            json!({"type":"error","message":"m"})
        );
        assert_eq!(
            spawn_reply(Ok(
                json!({"type":"requestToApproveDirectoryCreation","directory":"/d"})
            )),
            json!({"type":"error","message":"Directory creation requires approval: /d"})
        );
        assert_eq!(
            spawn_reply(Ok(json!({"error":"e"}))),
            json!({"type":"error","message":"e"})
        );
        assert_eq!(
            spawn_reply(Ok(json!(5))),
            json!({"type":"error","message":"Unexpected spawn result: 5"})
        );
        assert_eq!(
            spawn_reply(Err("x".into())),
            json!({"type":"error","message":"x"})
        );
    }

    #[test]
    fn files_mapping() {
        let r = files_reply(
            Ok(json!({"success": true, "stdout": "src/a.ts\nREADME.md\n"})),
            1,
        );
        assert_eq!(
            r,
            json!({"success":true,"files":[{"fileName":"a.ts","filePath":"src","fullPath":"src/a.ts","fileType":"file"}]})
        );
        assert_eq!(
            files_reply(Ok(json!({"success": false})), 5),
            json!({"success":false,"error":"Failed to list files"})
        );
    }
}
