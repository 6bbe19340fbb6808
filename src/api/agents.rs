//! Agents: spawning every flavor, per-session agent settings, model and option lists, and
//! the machine routes of the web app (parity-0.30.7.md §2 rows 22–28, 42, 44–51, 64, 65,
//! 68–81; §5 rows 2, 7, 8). The contract below was settled by observing the official hub
//! v0.30.7 on the wire (tests/parity/{spawn,session_config,models,machine_routes}.test.mjs).
//!
//! Flavors: `agy claude codex dsh copilot cursor gemini grok kimi opencode pi`.
//!
//! `POST /api/machines/:id/spawn`: the machine must list `"agent-availability"` in
//! `metadata.capabilities`, else `200 {"type":"error","message":"This runner must be upgraded
//! before creating sessions","code":"runner_upgrade_required"}` (checked before the body;
//! `GET …/agent-availability` answers the same as `409 {"error","code"}`). Body: `directory`
//! non-empty; `agent` one of the flavors (default claude); `model`, `modelReasoningEffort`,
//! `worktreeName`, `effort` strings (passed as given); `yolo` boolean; `sessionType`
//! simple|worktree; `permissionMode` any mode of any flavor; `serviceTier` standard|fast;
//! `collaborationMode` default|plan; `copilotAgentMode` interactive|plan|autopilot (`fleet`
//! becomes interactive); `startingMode` remote|pty. Anything else (also `null`) →
//! `400 Invalid body`. RPC `spawn-happy-session` gets the given keys plus `forkSession:false`.
//!
//! Session settings (all but permission-mode need an active session: `409 session_inactive`; RPC
//! `set-session-config` with the one key; the reply's `applied` object is applied, and a
//! reply without it is `409 "Missing applied session config, got: <reply>"`):
//! - `permission-mode {mode}`: per-flavor table ([`permission_modes`]; an unknown flavor is
//!   Claude); a flavor with none (pi, dsh) → 400 "Permission mode not supported for session
//!   flavor". On an inactive session no RPC: the mode becomes `metadata.preferredPermissionMode`
//!   (a metadata write, `session-updated`) and the answer is `{"ok":true}`.
//! - `model {model}`: string (trimmed, non-empty) or null; every known flavor but dsh.
//! - `effort {effort}`: same value rule; claude, grok, pi.
//! - `model-reasoning-effort {modelReasoningEffort}`: same value rule; codex, opencode.
//! - `service-tier {serviceTier}`: standard|fast; codex ("Fast mode").
//! - `copilot-agent-mode {mode}`: interactive|plan|autopilot|fleet(→interactive); copilot.
//!
//! For model and effort the body is checked before the flavor, for the others the flavor
//! first (as observed). An applied permission mode (also one a `session-alive` reports) and
//! an applied Copilot agent mode are kept as `metadata.preferredPermissionMode` /
//! `preferredCopilotAgentMode` (a metadata version each time one changes). Deviation: the
//! official hub applies `applied.permissionMode` only on the permission-mode route; hapid
//! applies what any route's reply says was applied.
//!
//! Model lists: session-scoped `GET …/{codex,opencode,grok,copilot,cursor,pi}-models`,
//! `opencode-reasoning-effort-options`, `grok-reasoning-effort-options`: flavor check
//! (`400 {"success":false,"error"}`), then the session RPC with `{}`; the reply verbatim;
//! RPC failure `500 {"success":false,"error"}`. Machine-scoped `GET
//! /api/machines/:id/{agy,pi,codex,opencode,grok,copilot,cursor}-models` and
//! `opencode-model-variants`: the machine RPC (see [`MACHINE_LISTS`]); the `*ForCwd` ones
//! need `?cwd` (`400 "cwd query parameter is required"`); codex-models and
//! pi-models and opencode-model-variants answer a missing handler with `503 …
//! "code":"rpc_target_missing"`.
//!
//! Session file routes (answers in `hub::agents`): `GET …/generated-images/:imageId` (RPC
//! `readGeneratedImage {id}`), `GET …/slash-commands` (RPC `listSlashCommands {agent}` merged
//! with `metadata.slashCommands`), `GET …/files` (RPC `ripgrep` with `fileSearch {query,
//! limit}`, then `statFiles {paths}`).
//!
//! Machine routes: `POST …/list-directory {path, includeHidden?}` → RPC `list-directory`;
//! `PATCH /api/machines/:id {displayName}` (trimmed; empty removes it; at most 64 chars);
//! `POST …/restart-runner` → RPC `stop-runner` when `metadata.supervisedRestart` is true,
//! else `502 restart_unsupported`. A machine of another namespace answers 404 like a missing
//! one (the official hub says `403 Machine access denied`; hapid does not reveal that the
//! id exists, as for sessions).

use super::sessions::Ctx;
use super::{Caller, Outcome, json_body, query_param};
use crate::app::{ConnId, Now};
use crate::http::{Request, Response};
use crate::hub::Hub;
use crate::hub::cli::RpcThen;
use crate::hub::rpc::Shape;
use serde_json::{Map, Value, json};

/// Every agent flavor the official hub and web app know.
pub const FLAVORS: &[&str] = &[
    "agy", "claude", "codex", "dsh", "copilot", "cursor", "gemini", "grok", "kimi", "opencode",
    "pi",
];

/// Every permission mode of any flavor (the modes the v0.30.7 CLI accepts).
pub const ALL_MODES: &[&str] = crate::hub::model::PERMISSION_MODES;

/// The permission modes a flavor accepts (an unknown flavor is treated as Claude).
pub fn permission_modes(flavor: &str) -> &'static [&'static str] {
    match flavor {
        "codex" | "gemini" | "kimi" | "copilot" => &["default", "read-only", "safe-yolo", "yolo"],
        "grok" => &["default", "auto", "plan", "bypassPermissions"],
        "opencode" => &["default", "plan", "yolo"],
        "agy" => &["request-review", "always-proceed"],
        "cursor" => &["default", "plan", "ask", "debug", "autoReview", "yolo"],
        "pi" | "dsh" => &[],
        _ => &[
            "default",
            "acceptEdits",
            "auto",
            "bypassPermissions",
            "plan",
        ],
    }
}

const UPGRADE: &str = "This runner must be upgraded before creating sessions";

/// Whether the runner is new enough to spawn (its metadata lists `agent-availability`).
pub fn runner_current(hub: &Hub, ns: &str, id: &str) -> bool {
    hub.machine(ns, id).is_ok_and(|m| {
        m.metadata
            .get("capabilities")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|c| c == "agent-availability"))
    })
}

/// The spawn answer of a runner that is too old.
pub fn spawn_upgrade_required() -> Response {
    Response::json(
        200,
        &json!({"type": "error", "message": UPGRADE, "code": "runner_upgrade_required"}),
    )
}

/// The agent-availability answer of a runner that is too old.
pub fn availability_upgrade_required() -> Response {
    Response::error_code(409, UPGRADE, "runner_upgrade_required")
}

/// Validates a spawn body into the `spawn-happy-session` params (`None`: 400 Invalid body).
pub fn spawn_params(b: &Value) -> Option<Value> {
    let dir = b.get("directory")?.as_str().filter(|d| !d.is_empty())?;
    let agent = match b.get("agent") {
        None => "claude",
        Some(a) => a.as_str().filter(|a| FLAVORS.contains(a))?,
    };
    let mut p = Map::new();
    p.insert("type".into(), json!("spawn-in-directory"));
    p.insert("directory".into(), json!(dir));
    p.insert("agent".into(), json!(agent));
    let one_of = |k: &str, set: &[&str]| -> Option<Option<String>> {
        match b.get(k) {
            None => Some(None),
            Some(Value::String(s)) if set.is_empty() || set.contains(&s.as_str()) => {
                Some(Some(s.clone()))
            }
            Some(_) => None,
        }
    };
    for (k, set) in [
        ("model", &[][..]),
        ("modelReasoningEffort", &[]),
        ("yolo", &[]),
        ("sessionType", &["simple", "worktree"]),
        ("worktreeName", &[]),
        ("effort", &[]),
        ("permissionMode", ALL_MODES),
        ("serviceTier", &["standard", "fast"]),
        ("collaborationMode", &["default", "plan"]),
        (
            "copilotAgentMode",
            &["interactive", "plan", "autopilot", "fleet"],
        ),
        ("startingMode", &["remote", "pty"]),
    ] {
        if k == "yolo" {
            match b.get(k) {
                None => {}
                Some(Value::Bool(y)) => {
                    p.insert(k.into(), json!(y));
                }
                Some(_) => return None,
            }
            continue;
        }
        if let Some(v) = one_of(k, set)? {
            let v = if k == "copilotAgentMode" && v == "fleet" {
                "interactive".to_string()
            } else {
                v
            };
            p.insert(k.into(), json!(v));
        }
    }
    p.insert("forkSession".into(), json!(false));
    Some(Value::Object(p))
}

/// A setting value: a trimmed non-empty string or null (`None`: invalid).
fn text_or_null(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::Null => Some(Value::Null),
        Value::String(s) if !s.trim().is_empty() => Some(json!(s.trim())),
        _ => None,
    }
}

fn bad_body() -> Outcome {
    Outcome::Reply(Response::error(400, "Invalid body"))
}

fn refuse(msg: &str) -> Outcome {
    Outcome::Reply(Response::error(400, msg))
}

/// The session-scoped list routes: route, flavor, RPC, error when the flavor differs.
const SESSION_LISTS: &[(&str, &str, &str, &str)] = &[
    (
        "codex-models",
        "codex",
        "listCodexModels",
        "Codex models are only available for Codex sessions",
    ),
    (
        "opencode-models",
        "opencode",
        "listOpencodeModels",
        "OpenCode models are only available for OpenCode sessions",
    ),
    (
        "opencode-reasoning-effort-options",
        "opencode",
        "listOpencodeReasoningEffortOptions",
        "OpenCode reasoning effort options are only available for OpenCode sessions",
    ),
    (
        "grok-models",
        "grok",
        "listGrokModels",
        "Grok models are only available for Grok sessions",
    ),
    (
        "grok-reasoning-effort-options",
        "grok",
        "listGrokReasoningEffortOptions",
        "Grok effort options are only available for Grok sessions",
    ),
    (
        "copilot-models",
        "copilot",
        "listCopilotModels",
        "Copilot models are only available for Copilot sessions",
    ),
    (
        "cursor-models",
        "cursor",
        "listCursorModels",
        "Cursor models are only available for Cursor sessions",
    ),
    ("pi-models", "pi", "listPiModels", "Not a Pi session"),
];

/// The session settings and list routes of this module; `None` = not one of them.
pub fn session_route(cx: &mut Ctx<'_>, rest: &[&str]) -> Option<Outcome> {
    let m = cx.req.head.method.as_str();
    let get = m == "GET" || m == "HEAD";
    let s = cx.hub.session(&cx.caller.ns, &cx.sid).ok()?;
    let (active, flavor) = (s.active, s.flavor().to_string());
    let inactive = || {
        Some(Outcome::Reply(Response::error_code(
            409,
            "Session is inactive",
            "session_inactive",
        )))
    };
    match (m, rest) {
        (_, ["generated-images", image]) if get => {
            let id = super::path_param(image).unwrap_or_default();
            Some(cx.rpc("readGeneratedImage", json!({"id": id}), Shape::Image))
        }
        (_, ["slash-commands"]) if get => {
            let meta = metadata_commands(&s.exposed_metadata());
            let shape = Shape::Slash { meta };
            Some(cx.rpc("listSlashCommands", json!({"agent": flavor}), shape))
        }
        (_, [what]) if get => {
            let (_, want, rpc, err) = SESSION_LISTS.iter().find(|l| l.0 == *what)?;
            if !active {
                return inactive();
            }
            if flavor != *want {
                let body = json!({"success": false, "error": err});
                return Some(Outcome::Reply(Response::json(400, &body)));
            }
            Some(cx.rpc(rpc, json!({}), Shape::ModelList { target_code: false }))
        }
        (
            "POST",
            [
                what @ ("model"
                | "effort"
                | "model-reasoning-effort"
                | "service-tier"
                | "copilot-agent-mode"
                | "permission-mode"),
            ],
        ) => {
            let b = json_body(cx.req);
            let (key, value) = match *what {
                "model" | "effort" => {
                    if !active {
                        return inactive();
                    }
                    let Some(v) = text_or_null(b.get(*what)) else {
                        return Some(bad_body());
                    };
                    if *what == "model" && (flavor == "dsh" || !FLAVORS.contains(&flavor.as_str()))
                    {
                        return Some(refuse("Model selection is not supported for this session"));
                    }
                    if *what == "effort" && !["claude", "grok", "pi"].contains(&flavor.as_str()) {
                        return Some(refuse(
                            "Effort selection is not supported for this session type",
                        ));
                    }
                    (*what, v)
                }
                "model-reasoning-effort" => {
                    if !active {
                        return inactive();
                    }
                    if flavor != "codex" && flavor != "opencode" {
                        return Some(refuse(
                            "Model reasoning effort is only supported for Codex and OpenCode sessions",
                        ));
                    }
                    let Some(v) = text_or_null(b.get("modelReasoningEffort")) else {
                        return Some(bad_body());
                    };
                    ("modelReasoningEffort", v)
                }
                "service-tier" => {
                    if !active {
                        return inactive();
                    }
                    if flavor != "codex" {
                        return Some(refuse("Fast mode is only supported for Codex sessions"));
                    }
                    match b.get("serviceTier").and_then(Value::as_str) {
                        Some(t @ ("standard" | "fast")) => ("serviceTier", json!(t)),
                        _ => return Some(bad_body()),
                    }
                }
                "copilot-agent-mode" => {
                    if !active {
                        return inactive();
                    }
                    if flavor != "copilot" {
                        return Some(refuse(
                            "Copilot agent mode is only supported for Copilot sessions",
                        ));
                    }
                    match b.get("mode").and_then(Value::as_str) {
                        Some(t @ ("interactive" | "plan" | "autopilot")) => {
                            ("copilotAgentMode", json!(t))
                        }
                        Some("fleet") => ("copilotAgentMode", json!("interactive")),
                        _ => return Some(bad_body()),
                    }
                }
                "permission-mode" => {
                    let Some(mode) = b
                        .get("mode")
                        .and_then(Value::as_str)
                        .filter(|m| ALL_MODES.contains(m))
                    else {
                        return Some(bad_body());
                    };
                    let modes = permission_modes(&flavor);
                    if modes.is_empty() {
                        return Some(refuse("Permission mode not supported for session flavor"));
                    }
                    if !modes.contains(&mode) {
                        return Some(refuse("Invalid permission mode for session flavor"));
                    }
                    if !active {
                        let sid = cx.sid.clone();
                        return Some(Outcome::Reply(
                            match cx.hub.prefer_permission_mode(&sid, mode) {
                                Ok(()) => Response::json(200, &json!({"ok": true})),
                                Err(e) => {
                                    crate::log::warn(&format!("permission mode: {e}"));
                                    Response::error(500, "Failed to update session metadata")
                                }
                            },
                        ));
                    }
                    ("permissionMode", json!(mode))
                }
                _ => return None,
            };
            let sid = cx.sid.clone();
            let mut params = Map::new();
            params.insert(key.into(), value);
            Some(cx.rpc(
                "set-session-config",
                Value::Object(params),
                Shape::Config { sid },
            ))
        }
        _ => None,
    }
}

/// `metadata.slashCommands` when it is a list of strings (anything else counts as none).
fn metadata_commands(metadata: &Value) -> Vec<String> {
    let Some(list) = metadata.get("slashCommands").and_then(Value::as_array) else {
        return Vec::new();
    };
    if !list.iter().all(Value::is_string) {
        return Vec::new();
    }
    list.iter()
        .filter_map(Value::as_str)
        .take(1000)
        .map(str::to_string)
        .collect()
}

/// The machine-scoped list routes: route, RPC, whether `?cwd` is required (`Some(true)`),
/// optional (`Some(false)`) or not passed (`None`), whether a missing handler is a 503.
pub const MACHINE_LISTS: &[(&str, &str, Option<bool>, bool)] = &[
    ("agy-models", "listAgyModels", None, false),
    ("pi-models", "listPiModelsForMachine", None, true),
    ("codex-models", "listCodexModels", None, true),
    (
        "opencode-models",
        "listOpencodeModelsForCwd",
        Some(true),
        false,
    ),
    (
        "opencode-model-variants",
        "listOpencodeModelVariants",
        Some(false),
        true,
    ),
    ("grok-models", "listGrokModelsForCwd", Some(true), false),
    (
        "copilot-models",
        "listCopilotModelsForCwd",
        Some(true),
        false,
    ),
    ("cursor-models", "listCursorModels", None, false),
];

/// `/api/machines/:id/…` routes of this module (`rest` = the segments after the id);
/// `None` = not one of them.
#[allow(clippy::too_many_arguments)]
pub fn machine_route(
    hub: &mut Hub,
    caller: &Caller,
    conn: ConnId,
    id: &str,
    rest: &[&str],
    req: &Request,
    now: Now,
) -> Option<Outcome> {
    let m = req.head.method.as_str();
    let get = m == "GET" || m == "HEAD";
    let known = match (m, rest) {
        ("PATCH", []) | ("POST", ["list-directory" | "restart-runner"]) => true,
        (_, [what]) if get => MACHINE_LISTS.iter().any(|l| l.0 == *what),
        _ => false,
    };
    if !known {
        return None;
    }
    let Ok(machine) = hub.machine(&caller.ns, id) else {
        return Some(Outcome::Reply(Response::error(404, "Machine not found")));
    };
    let supervised = machine.metadata.get("supervisedRestart") == Some(&Value::Bool(true));
    let call = |hub: &mut Hub, name: &str, params: Value, shape: Shape| {
        let then = RpcThen::Reply { conn, shape };
        hub.rpc_call(&caller.ns, format!("{id}:{name}"), &params, then, now);
        Some(Outcome::Deferred)
    };
    match (m, rest) {
        ("PATCH", []) => Some(Outcome::Reply(rename(hub, id, req, now))),
        ("POST", ["list-directory"]) => {
            let b = json_body(req);
            let Some(path) = b
                .get("path")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
            else {
                return Some(bad_body());
            };
            let mut params = json!({"path": path});
            match b.get("includeHidden") {
                None => {}
                Some(Value::Bool(h)) => params["includeHidden"] = json!(h),
                Some(_) => return Some(bad_body()),
            }
            call(hub, "list-directory", params, Shape::ListDirectory)
        }
        ("POST", ["restart-runner"]) => {
            if !supervised {
                return Some(Outcome::Reply(Response::error_code(
                    502,
                    "Restart requires a supervised runner (HAPI_RUNNER_SUPERVISED=1); unsupervised stop would leave the host offline",
                    "restart_unsupported",
                )));
            }
            call(hub, "stop-runner", json!({}), Shape::RestartRunner)
        }
        (_, [what]) => {
            let (_, rpc, cwd, target_code) = MACHINE_LISTS.iter().find(|l| l.0 == *what)?;
            let q = &req.head.query;
            let params = match (*what, cwd) {
                ("agy-models", _) => {
                    json!({"refresh": query_param(q, "refresh").as_deref() == Some("true")})
                }
                (_, None) => json!({}),
                (_, Some(required)) => match query_param(q, "cwd").filter(|c| !c.is_empty()) {
                    Some(c) => json!({"cwd": c}),
                    None if !required => json!({"cwd": null}),
                    None => {
                        let body =
                            json!({"success": false, "error": "cwd query parameter is required"});
                        return Some(Outcome::Reply(Response::json(400, &body)));
                    }
                },
            };
            let shape = Shape::ModelList {
                target_code: *target_code,
            };
            call(hub, rpc, params, shape)
        }
        _ => None,
    }
}

/// Longest machine display name (characters, after trimming).
const DISPLAY_NAME_MAX: usize = 64;

/// `PATCH /api/machines/:id`: sets or (empty) removes `metadata.displayName`, a versioned
/// metadata write the web sees as `machine-updated` and the runner as `update-machine`.
fn rename(hub: &mut Hub, id: &str, req: &Request, now: Now) -> Response {
    let b = json_body(req);
    let Some(name) = b.get("displayName").and_then(Value::as_str).map(str::trim) else {
        return Response::error(400, "Invalid body: displayName is required");
    };
    if name.chars().count() > DISPLAY_NAME_MAX {
        return Response::error(400, "displayName must be at most 64 characters");
    }
    match hub.rename_machine(id, name, now) {
        Ok(()) => Response::json(200, &json!({"ok": true})),
        Err(e) => {
            crate::log::warn(&format!("machine rename: {e}"));
            Response::error(500, "Failed to update machine metadata")
        }
    }
}
