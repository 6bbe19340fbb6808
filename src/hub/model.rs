//! Sessions and machines as the hub holds them, and their wire shapes.
//!
//! Stored JSON (metadata, agent state, runner state) is kept as parsed values and passed
//! through verbatim: the CLI rebuilds its next write from what it receives, so dropping a key
//! here would erase it from storage (spec/cli-protocol.md §3.7). The web view applies only the
//! validity gates of spec/rest.md §1.2 (no string `path`/`host` → `null`).

use crate::store::{MachineRow, SessionRow};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value, json};
use std::time::Instant;

/// Permission modes the v0.30.7 CLI accepts (spec/cli-protocol.md §3.7).
pub const PERMISSION_MODES: &[&str] = &[
    "default",
    "acceptEdits",
    "auto",
    "bypassPermissions",
    "plan",
    "ask",
    "debug",
    "autoReview",
    "read-only",
    "safe-yolo",
    "yolo",
    "request-review",
    "always-proceed",
];

/// A session: the stored row plus memory-only liveness.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub tag: Option<String>,
    pub namespace: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub metadata: Value,
    pub metadata_version: i64,
    pub agent_state: Value,
    pub agent_state_version: i64,
    pub model: Option<String>,
    pub effort: Option<String>,
    pub model_reasoning_effort: Option<String>,
    pub todos: Option<Value>,
    pub todos_updated_at: Option<i64>,
    pub team_state: Option<Value>,
    pub team_state_updated_at: Option<i64>,
    pub seq: i64,
    // memory only
    pub active: bool,
    pub active_at: i64,
    pub thinking: bool,
    pub thinking_at: i64,
    pub permission_mode: Option<String>,
    pub collaboration_mode: Option<String>,
    /// Codex service tier and Copilot agent mode (memory only, `hub::agents`).
    pub service_tier: Option<String>,
    pub copilot_agent_mode: Option<String>,
    /// Last time an alive patch was broadcast (throttle, spec/lifecycle.md §3.3).
    pub alive_broadcast_at: Option<Instant>,
    /// When the session becomes inactive without another alive (spec/lifecycle.md §3.5).
    pub alive_until: Option<Instant>,
    /// Highest message seq of this session.
    pub max_msg_seq: i64,
    /// A web message was just sent: show "thinking" until this time even if an alive that
    /// predates the CLI's pickup says otherwise (the current web app's spinner).
    pub thinking_grace_until: Option<Instant>,
    /// This session's serialized list entry, reused while its inputs are unchanged.
    pub summary_memo: SummaryMemo,
    /// The message epoch (CONTRACT.md §1): bumped when rows a client may hold are deleted.
    pub message_epoch: i64,
    /// `futureScheduledMessageCount` and `nextScheduledAt` as of the last session list
    /// (refreshed from the store by `Hub::session_summaries`; time-dependent, never stored).
    pub future_scheduled: (i64, Option<i64>),
    /// The session's pin (`PUT /api/sessions/:id/pin`, src/hub/actions.rs).
    pub pin: super::actions::Pin,
}

/// What a session's list entry is made of, beyond what never changes (its id): every field
/// [`SessionSummary`] reads, or the version that changes with it (metadata, agent state and
/// todos change only with their versions / timestamps). A field added to the summary must be
/// added here, or the memo serves a stale entry: `summary_memo_follows_every_field` checks it.
#[derive(Debug, Clone, PartialEq)]
struct SummaryStamp {
    active: bool,
    thinking: bool,
    active_at: i64,
    updated_at: i64,
    metadata_version: i64,
    agent_state_version: i64,
    todos_updated_at: Option<i64>,
    has_content: bool,
    model: Option<String>,
    effort: Option<String>,
    model_reasoning_effort: Option<String>,
    future_scheduled: (i64, Option<i64>),
    pin: super::actions::Pin,
}

/// The serialized list entry of a session and the stamp it was made from
/// (`GET /api/sessions` spends most of its time serializing otherwise: 70% in `perf`).
#[derive(Debug, Clone, Default)]
pub struct SummaryMemo(std::cell::RefCell<Option<(SummaryStamp, std::rc::Rc<[u8]>)>>);

fn parse_json(text: &Option<String>) -> Value {
    text.as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

fn json_text(v: &Value) -> Option<String> {
    (!v.is_null()).then(|| v.to_string())
}

impl Session {
    /// A session loaded from its row: inactive, as after a restart.
    pub fn from_row(r: SessionRow) -> Session {
        Session {
            metadata: parse_json(&r.metadata),
            agent_state: parse_json(&r.agent_state),
            todos: r
                .todos
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok()),
            team_state: r
                .team_state
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok()),
            active: false,
            active_at: r.active_at.unwrap_or(r.created_at),
            thinking: false,
            thinking_at: 0,
            // The mode a session last ran in outlives a restart (hub::resume).
            permission_mode: crate::hub::resume::preferred_mode(&parse_json(&r.metadata)),
            collaboration_mode: None,
            service_tier: None,
            copilot_agent_mode: None,
            alive_broadcast_at: None,
            alive_until: None,
            max_msg_seq: 0,
            thinking_grace_until: None,
            summary_memo: SummaryMemo::default(),
            message_epoch: 0,
            future_scheduled: (0, None),
            pin: super::actions::Pin::None,
            id: r.id,
            tag: r.tag,
            namespace: r.namespace,
            created_at: r.created_at,
            updated_at: r.updated_at,
            metadata_version: r.metadata_version,
            agent_state_version: r.agent_state_version,
            model: r.model,
            effort: r.effort,
            model_reasoning_effort: r.model_reasoning_effort,
            todos_updated_at: r.todos_updated_at,
            team_state_updated_at: r.team_state_updated_at,
            seq: r.seq,
        }
    }

    /// The row to store.
    pub fn to_row(&self) -> SessionRow {
        SessionRow {
            id: self.id.clone(),
            tag: self.tag.clone(),
            namespace: self.namespace.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            active_at: Some(self.active_at),
            metadata: json_text(&self.metadata),
            metadata_version: self.metadata_version,
            agent_state: json_text(&self.agent_state),
            agent_state_version: self.agent_state_version,
            model: self.model.clone(),
            effort: self.effort.clone(),
            model_reasoning_effort: self.model_reasoning_effort.clone(),
            todos: self.todos.as_ref().map(Value::to_string),
            todos_updated_at: self.todos_updated_at,
            team_state: self.team_state.as_ref().map(Value::to_string),
            team_state_updated_at: self.team_state_updated_at,
            seq: self.seq,
        }
    }

    /// Metadata as exposed: the stored object when it has string `path` and `host`, else null.
    pub fn exposed_metadata(&self) -> Value {
        self.exposed_metadata_map()
            .map_or(Value::Null, |m| Value::Object(m.clone()))
    }

    /// The metadata object when it is exposed (string `path` and `host`), borrowed.
    pub fn exposed_metadata_map(&self) -> Option<&Map<String, Value>> {
        match &self.metadata {
            Value::Object(m)
                if m.get("path").is_some_and(Value::is_string)
                    && m.get("host").is_some_and(Value::is_string) =>
            {
                Some(m)
            }
            _ => None,
        }
    }

    /// Agent state as exposed: the stored object, else null.
    pub fn exposed_agent_state(&self) -> Value {
        if self.agent_state.is_object() {
            self.agent_state.clone()
        } else {
            Value::Null
        }
    }

    /// The full Session object (spec/rest.md §1.1, spec/cli-protocol.md §3.7).
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id));
        o.insert("namespace".into(), json!(self.namespace));
        o.insert("seq".into(), json!(self.seq));
        o.insert("createdAt".into(), json!(self.created_at));
        o.insert("updatedAt".into(), json!(self.updated_at));
        o.insert("active".into(), json!(self.active));
        o.insert("activeAt".into(), json!(self.active_at));
        o.insert("metadata".into(), self.exposed_metadata());
        o.insert("metadataVersion".into(), json!(self.metadata_version));
        o.insert("agentState".into(), self.exposed_agent_state());
        o.insert("agentStateVersion".into(), json!(self.agent_state_version));
        o.insert("thinking".into(), json!(self.thinking));
        o.insert("thinkingAt".into(), json!(self.thinking_at));
        if let Some(t) = self.todos.as_ref().filter(|t| t.is_array()) {
            o.insert("todos".into(), t.clone());
        }
        if let Some(t) = self.team_state.as_ref().filter(|t| t.is_object()) {
            o.insert("teamState".into(), t.clone());
        }
        o.insert("model".into(), json!(self.model));
        o.insert(
            "modelReasoningEffort".into(),
            json!(self.model_reasoning_effort),
        );
        o.insert("effort".into(), json!(self.effort));
        o.insert("serviceTier".into(), json!(self.service_tier));
        if let Some(m) = &self.copilot_agent_mode {
            o.insert("copilotAgentMode".into(), json!(m));
        }
        if let Some(m) = self
            .permission_mode
            .as_deref()
            .filter(|m| PERMISSION_MODES.contains(m))
        {
            o.insert("permissionMode".into(), json!(m));
        }
        o.insert("hasConversationContent".into(), json!(self.max_msg_seq > 0));
        o.insert("pinned".into(), json!(self.pin.pinned()));
        o.insert("globalPinned".into(), json!(self.pin.global()));
        o.insert("backgroundTaskCount".into(), json!(0));
        if let Some(t) = self.todos_updated_at {
            o.insert("todosUpdatedAt".into(), json!(t));
        }
        if let Some(t) = self.team_state_updated_at {
            o.insert("teamStateUpdatedAt".into(), json!(t));
        }
        if let Some(m) = self
            .collaboration_mode
            .as_deref()
            .filter(|m| *m == "default" || *m == "plan")
        {
            o.insert("collaborationMode".into(), json!(m));
        }
        Value::Object(o)
    }

    /// The list entry of `GET /api/sessions` (spec/rest.md §1.6) as a value. The route
    /// writes [`SessionList`] instead, which gives the same bytes without building the tree
    /// (the tests check this; `benches/session_list.rs` compares the two).
    pub fn summary_json(&self) -> Value {
        let metadata = match self.exposed_metadata() {
            Value::Object(m) => {
                let mut s = Map::new();
                s.insert("path".into(), m.get("path").cloned().unwrap_or(Value::Null));
                s.insert(
                    "flavor".into(),
                    m.get("flavor").cloned().unwrap_or(Value::Null),
                );
                for k in ["name", "machineId"] {
                    if let Some(v) = m.get(k) {
                        s.insert(k.into(), v.clone());
                    }
                }
                if let Some(t) = m.get("summary").and_then(|s| s.get("text")) {
                    s.insert("summary".into(), json!({ "text": t }));
                }
                if let Some(w) = m.get("worktree") {
                    s.insert("worktree".into(), w.clone());
                }
                // The current web app (v0.30) also reads these when present.
                for k in ["lifecycleState", "agentSessionId"] {
                    if let Some(v) = m.get(k) {
                        s.insert(k.into(), v.clone());
                    }
                }
                Value::Object(s)
            }
            _ => Value::Null,
        };
        let todo_progress = match self.todos.as_ref().and_then(Value::as_array) {
            Some(a) if !a.is_empty() => {
                let done = a
                    .iter()
                    .filter(|t| t.get("status").and_then(Value::as_str) == Some("completed"))
                    .count();
                json!({ "completed": done, "total": a.len() })
            }
            _ => Value::Null,
        };
        let pending = self.pending_request_entries();
        let mut kinds: Vec<&str> = Vec::new();
        for p in &pending {
            if let Some(k) = p.get("kind").and_then(Value::as_str)
                && !kinds.contains(&k)
            {
                kinds.push(k);
            }
        }
        // Baseline fields first; the rest are what the current (v0.30) web app reads.
        json!({
            "id": self.id,
            "active": self.active,
            "thinking": self.thinking,
            "activeAt": self.active_at,
            "updatedAt": self.updated_at,
            "metadata": metadata,
            "todoProgress": todo_progress,
            "pendingRequestsCount": pending.len(),
            "model": self.model,
            "metadataVersion": self.metadata_version,
            "agentStateVersion": self.agent_state_version,
            "pendingRequestKinds": kinds,
            "pendingRequests": pending,
            "todosUpdatedAt": self.todos_updated_at.unwrap_or(0),
            "hasConversationContent": self.max_msg_seq > 0,
            "pinned": self.pin.pinned(),
            "globalPinned": self.pin.global(),
            "backgroundTaskCount": 0,
            "futureScheduledMessageCount": self.future_scheduled.0,
            "nextScheduledAt": self.future_scheduled.1,
            "modelReasoningEffort": self.model_reasoning_effort,
            "effort": self.effort,
        })
    }

    /// Pending requests as the current web app lists them: `{id, kind, tool, since}`, where
    /// `kind` is `input` for questions to the user and `permission` otherwise.
    pub fn pending_request_entries(&self) -> Vec<Value> {
        let Some(reqs) = self.requests() else {
            return Vec::new();
        };
        reqs.iter()
            .map(|(id, r)| {
                let tool = request_tool(r);
                json!({"id": id, "kind": request_kind(tool), "tool": tool, "since": r.get("createdAt").cloned().unwrap_or(Value::Null)})
            })
            .collect()
    }

    /// Ids of pending permission requests (`agentState.requests`).
    pub fn pending_requests(&self) -> Vec<String> {
        self.requests()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// How many requests are pending, without collecting their ids.
    pub fn pending_request_count(&self) -> usize {
        self.requests().map_or(0, Map::len)
    }

    /// `agentState.requests` when it is an object.
    fn requests(&self) -> Option<&Map<String, Value>> {
        self.agent_state.get("requests").and_then(Value::as_object)
    }

    /// Display name (spec/sse.md §6.3): name, summary text, last path segment, id prefix.
    pub fn display_name(&self) -> String {
        let m = &self.metadata;
        if let Some(n) = m
            .get("name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return n.to_string();
        }
        if let Some(t) = m
            .get("summary")
            .and_then(|s| s.get("text"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return t.to_string();
        }
        if let Some(seg) = m
            .get("path")
            .and_then(Value::as_str)
            .and_then(|p| p.split('/').rfind(|s| !s.is_empty()))
        {
            return seg.to_string();
        }
        self.id.chars().take(8).collect()
    }

    /// The agent's flavor (`claude` when absent).
    pub fn flavor(&self) -> &str {
        self.metadata
            .get("flavor")
            .and_then(Value::as_str)
            .unwrap_or("claude")
    }
}

/// The tool a pending request is for (`""` when absent).
fn request_tool(r: &Value) -> &str {
    r.get("tool").and_then(Value::as_str).unwrap_or("")
}

/// The web app's request kind: `input` for questions to the user, else `permission`.
fn request_kind(tool: &str) -> &'static str {
    match tool {
        "AskUserQuestion" | "ExitPlanMode" | "request_user_input" => "input",
        _ => "permission",
    }
}

/// The body of `GET /api/sessions`, `{"sessions":[...]}`, serialized straight from the
/// sessions: the same bytes as `{"sessions": [summary_json, ...]}` without building (and
/// dropping) a `Value` tree per session. Passed-through values are borrowed.
pub struct SessionList<'a>(pub &'a [&'a Session]);

impl SessionList<'_> {
    /// The serialized body: `{"sessions":[…]}`, each entry from its session's memo.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 900 * self.0.len());
        out.extend_from_slice(br#"{"sessions":["#);
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&s.summary_bytes());
        }
        out.extend_from_slice(b"]}");
        out
    }
}

impl Session {
    fn summary_stamp(&self) -> SummaryStamp {
        SummaryStamp {
            active: self.active,
            thinking: self.thinking,
            active_at: self.active_at,
            updated_at: self.updated_at,
            metadata_version: self.metadata_version,
            agent_state_version: self.agent_state_version,
            todos_updated_at: self.todos_updated_at,
            has_content: self.max_msg_seq > 0,
            model: self.model.clone(),
            effort: self.effort.clone(),
            model_reasoning_effort: self.model_reasoning_effort.clone(),
            future_scheduled: self.future_scheduled,
            pin: self.pin,
        }
    }

    /// This session's list entry (serialized as [`SessionSummary`]), from the memo when its
    /// stamp still matches.
    pub fn summary_bytes(&self) -> std::rc::Rc<[u8]> {
        let stamp = self.summary_stamp();
        if let Some((st, bytes)) = &*self.summary_memo.0.borrow()
            && *st == stamp
        {
            return bytes.clone();
        }
        // Writing to a Vec cannot fail, and nothing here has a non-string map key.
        let bytes: std::rc::Rc<[u8]> = serde_json::to_vec(&SessionSummary(self))
            .unwrap_or_default()
            .into();
        *self.summary_memo.0.borrow_mut() = Some((stamp, bytes.clone()));
        bytes
    }
}

/// One list entry, serialized as [`Session::summary_json`] would be.
pub struct SessionSummary<'a>(pub &'a Session);

impl Serialize for SessionSummary<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let s = self.0;
        let reqs = s.requests();
        let todo_progress = s
            .todos
            .as_ref()
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .map(|a| TodoProgress {
                completed: a
                    .iter()
                    .filter(|t| t.get("status").and_then(Value::as_str) == Some("completed"))
                    .count(),
                total: a.len(),
            });
        // Kinds in first-seen order; there are only two.
        let mut kinds: [&str; 2] = [""; 2];
        let mut n = 0;
        for r in reqs.into_iter().flat_map(Map::values) {
            let k = request_kind(request_tool(r));
            if n < kinds.len() && !kinds[..n].contains(&k) {
                kinds[n] = k;
                n += 1;
            }
        }
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("id", &s.id)?;
        m.serialize_entry("active", &s.active)?;
        m.serialize_entry("thinking", &s.thinking)?;
        m.serialize_entry("activeAt", &s.active_at)?;
        m.serialize_entry("updatedAt", &s.updated_at)?;
        m.serialize_entry("metadata", &s.exposed_metadata_map().map(SummaryMetadata))?;
        m.serialize_entry("todoProgress", &todo_progress)?;
        m.serialize_entry("pendingRequestsCount", &reqs.map_or(0, Map::len))?;
        m.serialize_entry("model", &s.model)?;
        m.serialize_entry("metadataVersion", &s.metadata_version)?;
        m.serialize_entry("agentStateVersion", &s.agent_state_version)?;
        m.serialize_entry("pendingRequestKinds", &kinds[..n])?;
        m.serialize_entry("pendingRequests", &PendingEntries(reqs))?;
        m.serialize_entry("todosUpdatedAt", &s.todos_updated_at.unwrap_or(0))?;
        m.serialize_entry("hasConversationContent", &(s.max_msg_seq > 0))?;
        m.serialize_entry("pinned", &s.pin.pinned())?;
        m.serialize_entry("globalPinned", &s.pin.global())?;
        m.serialize_entry("backgroundTaskCount", &0)?;
        m.serialize_entry("futureScheduledMessageCount", &s.future_scheduled.0)?;
        m.serialize_entry("nextScheduledAt", &s.future_scheduled.1)?;
        m.serialize_entry("modelReasoningEffort", &s.model_reasoning_effort)?;
        m.serialize_entry("effort", &s.effort)?;
        m.end()
    }
}

#[derive(Serialize)]
struct TodoProgress {
    completed: usize,
    total: usize,
}

/// The summary's metadata: `path`, `flavor`, then the optional keys when present.
struct SummaryMetadata<'a>(&'a Map<String, Value>);

impl Serialize for SummaryMetadata<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Text<'a> {
            text: &'a Value,
        }
        let md = self.0;
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("path", &md.get("path"))?;
        m.serialize_entry("flavor", &md.get("flavor"))?;
        for k in ["name", "machineId"] {
            if let Some(v) = md.get(k) {
                m.serialize_entry(k, v)?;
            }
        }
        if let Some(text) = md.get("summary").and_then(|s| s.get("text")) {
            m.serialize_entry("summary", &Text { text })?;
        }
        for k in ["worktree", "lifecycleState", "agentSessionId"] {
            if let Some(v) = md.get(k) {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

/// `pendingRequests`: `{id, kind, tool, since}` per request, in stored order.
struct PendingEntries<'a>(Option<&'a Map<String, Value>>);

impl Serialize for PendingEntries<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry<'a> {
            id: &'a str,
            kind: &'static str,
            tool: &'a str,
            since: Option<&'a Value>,
        }
        let Some(reqs) = self.0 else {
            return ser.serialize_seq(Some(0))?.end();
        };
        ser.collect_seq(reqs.iter().map(|(id, r)| {
            let tool = request_tool(r);
            Entry {
                id,
                kind: request_kind(tool),
                tool,
                since: r.get("createdAt"),
            }
        }))
    }
}

/// A machine: the stored row plus memory-only liveness.
#[derive(Debug, Clone)]
pub struct Machine {
    pub id: String,
    pub namespace: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub metadata: Value,
    pub metadata_version: i64,
    pub runner_state: Value,
    pub runner_state_version: i64,
    pub active: bool,
    pub active_at: i64,
    pub seq: i64,
    /// Last time an alive patch was broadcast.
    pub alive_broadcast_at: Option<Instant>,
    /// When the machine becomes inactive without another alive (spec/lifecycle.md §4.2).
    pub alive_until: Option<Instant>,
    /// The last `health` a `machine-alive` carried (memory only; `null` when invalid).
    pub health: Value,
}

impl Machine {
    /// A machine loaded from its row.
    pub fn from_row(r: MachineRow) -> Machine {
        Machine {
            metadata: parse_json(&r.metadata),
            runner_state: parse_json(&r.runner_state),
            active: r.active,
            active_at: r.active_at.unwrap_or(r.created_at),
            alive_broadcast_at: None,
            alive_until: None,
            health: Value::Null,
            id: r.id,
            namespace: r.namespace,
            created_at: r.created_at,
            updated_at: r.updated_at,
            metadata_version: r.metadata_version,
            runner_state_version: r.runner_state_version,
            seq: r.seq,
        }
    }

    /// The row to store. `active`/`active_at` persist the last runner-state write only.
    pub fn to_row(&self) -> MachineRow {
        MachineRow {
            id: self.id.clone(),
            namespace: self.namespace.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            metadata: json_text(&self.metadata),
            metadata_version: self.metadata_version,
            runner_state: json_text(&self.runner_state),
            runner_state_version: self.runner_state_version,
            active: self.active,
            active_at: Some(self.active_at),
            seq: self.seq,
        }
    }

    /// Metadata passed through with `host`, `platform`, `happyCliVersion` defaulted to
    /// `"unknown"` (spec/cli-protocol.md §3.7); non-objects → null.
    pub fn exposed_metadata(&self) -> Value {
        match &self.metadata {
            Value::Object(m) => {
                let mut m = m.clone();
                for k in ["host", "platform", "happyCliVersion"] {
                    if !m.get(k).is_some_and(Value::is_string) {
                        m.insert(k.into(), json!("unknown"));
                    }
                }
                Value::Object(m)
            }
            _ => Value::Null,
        }
    }

    /// The Machine for the web: the current web app also reads `health` (the CLI's strict
    /// schema for it rejects unknown shapes, so `/cli/*` answers leave it out).
    pub fn to_web_json(&self) -> Value {
        let mut v = self.to_json();
        v["health"] = self.health.clone();
        v
    }

    /// The full Machine object (spec/rest.md §1.7).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "namespace": self.namespace,
            "seq": self.seq,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "active": self.active,
            "activeAt": self.active_at,
            "metadata": self.exposed_metadata(),
            "metadataVersion": self.metadata_version,
            "runnerState": if self.runner_state.is_null() { Value::Null } else { self.runner_state.clone() },
            "runnerStateVersion": self.runner_state_version,
        })
    }
}

/// Numeric fields of a machine's `health` besides `collectedAt`, the ones the web displays.
const HEALTH_FIELDS: [&str; 5] = [
    "cpuCount",
    "load1m",
    "cpuPercent",
    "memoryPercent",
    "uptimeSeconds",
];

/// A `health` payload as the official hub's strict schema accepts it (CONTRACT.md §8):
/// `collectedAt` and the optional numeric fields, nothing else; anything else is `null`.
pub fn valid_health(v: &Value) -> Value {
    let Some(o) = v.as_object() else {
        return Value::Null;
    };
    let ok = o.get("collectedAt").is_some_and(Value::is_number)
        && o.iter().all(|(k, v)| {
            (k == "collectedAt" || HEALTH_FIELDS.contains(&k.as_str())) && v.is_number()
        });
    if ok { v.clone() } else { Value::Null }
}

/// Whether two healths differ in a displayed field (a new `collectedAt` alone does not).
pub fn health_changed(a: &Value, b: &Value) -> bool {
    a.is_null() != b.is_null() || HEALTH_FIELDS.iter().any(|k| a.get(k) != b.get(k))
}

/// A stored message as the web gets it (CONTRACT.md §1): `deliveryState` only for an
/// uninvoked message whose delivery is not plainly queued.
pub fn message_json(m: &crate::store::MessageRow) -> Value {
    let content: Value = serde_json::from_str(&m.content).unwrap_or(Value::Null);
    let mut v = json!({ "id": m.id, "seq": m.seq, "localId": m.local_id, "content": content,
            "createdAt": m.created_at, "invokedAt": m.invoked_at, "scheduledAt": m.scheduled_at });
    if m.invoked_at.is_none() && m.state != crate::store::Delivery::Queued {
        v["deliveryState"] = json!("indeterminate");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str) -> Session {
        Session::from_row(SessionRow {
            id: id.into(),
            namespace: "default".into(),
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_100_000,
            ..SessionRow::default()
        })
    }

    /// Sessions covering every branch of the summary.
    fn variety() -> Vec<Session> {
        let mut v = Vec::new();
        v.push(session("bare"));
        let mut s = session("meta-not-object");
        s.metadata = json!(["path", "host"]);
        s.agent_state = json!("nope");
        s.todos = Some(json!({"not": "an array"}));
        v.push(s);
        let mut s = session("no-host");
        s.metadata = json!({"path": "/p", "name": "n", "flavor": "codex"});
        s.todos = Some(json!([]));
        v.push(s);
        let mut s = session("host-not-string");
        s.metadata = json!({"path": "/p", "host": 7});
        s.agent_state = json!({"requests": []});
        v.push(s);
        let mut s = session("path-only-min");
        s.metadata = json!({"host": "h", "path": "/only"});
        s.agent_state = json!({"requests": {}});
        s.todos_updated_at = Some(0);
        v.push(s);
        let mut s = session("full");
        s.metadata = json!({
            "agentSessionId": "a-1", "lifecycleState": "running",
            "worktree": {"basePath": "/w", "branch": "feat/ü", "name": "wt"},
            "summary": {"text": "Fix the “quoted” bug ☃ \u{1F600}\n\t\"x\"", "updatedAt": 1.5},
            "machineId": "m-1", "name": "Ünïcödé — name", "flavor": "claude",
            "host": "box", "path": "/home/u/проект", "os": "linux",
            "big": 18446744073709551615u64, "neg": -9007199254740993i64, "f": 1e300,
            "extra": {"nested": [1, 2.25, null, true]}
        });
        s.metadata_version = 12;
        s.agent_state_version = 9;
        s.active = true;
        s.active_at = 1_700_000_200_000;
        s.thinking = true;
        s.model = Some("opus".into());
        s.effort = Some("high".into());
        s.model_reasoning_effort = Some("medium".into());
        s.max_msg_seq = 3;
        s.todos = Some(json!([
            {"content": "a", "status": "completed"},
            {"content": "b", "status": "in_progress"},
            {"content": "c", "status": "pending"},
            {"content": "d", "status": "completed"},
            "not an object",
            {"status": 5}
        ]));
        s.todos_updated_at = Some(1_700_000_300_000);
        s.agent_state = json!({
            "controlledByUser": false,
            "requests": {
                "r1": {"tool": "Bash", "arguments": {"command": "ls"}, "createdAt": 1_700_000_000_001i64},
                "r2": {"tool": "AskUserQuestion", "createdAt": 1.5},
                "r3": {"tool": "Edit"},
                "r4": {"tool": "ExitPlanMode", "createdAt": null},
                "r5": {"createdAt": "str"},
                "r6": "not an object",
                "ré7": {"tool": 42, "createdAt": 18446744073709551615u64}
            },
            "completedRequests": {"r0": {"tool": "Bash", "status": "approved"}}
        });
        v.push(s);
        let mut s = session("input-first");
        s.metadata = json!({
            "path": "/x", "host": "h", "name": null, "machineId": null,
            "summary": {"text": null}, "worktree": null
        });
        s.agent_state = json!({"requests": {
            "q": {"tool": "request_user_input"}, "p": {"tool": "Write"}, "q2": {"tool": "AskUserQuestion"}
        }});
        s.model = Some(String::new());
        s.max_msg_seq = 0;
        s.created_at = -5;
        s.updated_at = i64::MIN;
        s.active_at = i64::MAX;
        v.push(s);
        let mut s = session("summary-without-text");
        s.metadata = json!({"path": "/x", "host": "h", "summary": {"title": "t"}, "flavor": null});
        s.todos = Some(json!([{"status": "completed"}]));
        v.push(s);
        let mut s = session("summary-not-object");
        s.metadata = json!({"path": "/x", "host": "h", "summary": "text"});
        s.agent_state = json!({"requests": {"only": {"tool": "AskUserQuestion"}}});
        v.push(s);
        v
    }

    fn reference(sessions: &[&Session]) -> Vec<u8> {
        let list: Vec<Value> = sessions.iter().map(|s| s.summary_json()).collect();
        let body = Value::Object(Map::from_iter([(
            "sessions".to_string(),
            Value::Array(list),
        )]));
        // What `Response::json` sends.
        body.to_string().into_bytes()
    }

    #[test]
    fn session_list_bytes_match_summary_json() {
        let all = variety();
        for s in &all {
            let one = [s];
            assert_eq!(
                String::from_utf8(SessionList(&one).to_vec()).unwrap(),
                String::from_utf8(reference(&one)).unwrap(),
                "session {}",
                s.id
            );
        }
        let refs: Vec<&Session> = all.iter().collect();
        assert_eq!(SessionList(&refs).to_vec(), reference(&refs));
        assert_eq!(SessionList(&[]).to_vec(), b"{\"sessions\":[]}");
        // Again, from the memos.
        assert_eq!(SessionList(&refs).to_vec(), reference(&refs));
    }

    /// Every change the hub makes to a session (versioned fields with their versions, the
    /// others as they are) shows in the list entry at once: the memo never serves a stale one.
    #[test]
    fn summary_memo_follows_every_field() {
        type Change = fn(&mut Session);
        let changes: &[(&str, Change)] = &[
            ("tag", |s| s.tag = Some("t2".into())),
            ("created_at", |s| s.created_at ^= 1),
            ("updated_at", |s| s.updated_at ^= 1),
            ("metadata", |s| {
                s.metadata = json!({"path": "/renamed", "host": "h", "name": "renamed"});
                s.metadata_version ^= 1;
            }),
            ("agent_state", |s| {
                s.agent_state = json!({"requests": {"r9": {"tool": "Bash"}}});
                s.agent_state_version ^= 1;
            }),
            ("model", |s| s.model = Some("haiku".into())),
            ("effort", |s| s.effort = Some("low".into())),
            ("model_reasoning_effort", |s| {
                s.model_reasoning_effort = Some("high".into())
            }),
            ("todos", |s| {
                s.todos = Some(json!([{"status": "completed"}, {"status": "pending"}]));
                s.todos_updated_at = Some(s.todos_updated_at.unwrap_or(0) ^ 1);
            }),
            ("team_state", |s| s.team_state = Some(json!({"x": 1}))),
            ("seq", |s| s.seq ^= 1),
            ("active", |s| s.active = !s.active),
            ("active_at", |s| s.active_at ^= 1),
            ("thinking", |s| s.thinking = !s.thinking),
            ("thinking_at", |s| s.thinking_at ^= 1),
            ("permission_mode", |s| {
                s.permission_mode = Some("plan".into())
            }),
            ("collaboration_mode", |s| {
                s.collaboration_mode = Some("pair".into())
            }),
            ("future_scheduled", |s| {
                s.future_scheduled = (s.future_scheduled.0 ^ 1, Some(7))
            }),
            ("message_epoch", |s| s.message_epoch ^= 1),
            ("max_msg_seq", |s| {
                s.max_msg_seq = if s.max_msg_seq > 0 { 0 } else { 5 }
            }),
        ];
        for base in variety() {
            for (name, change) in changes {
                let mut s = base.clone();
                let _ = s.summary_bytes(); // fill the memo
                change(&mut s);
                let fresh = serde_json::to_vec(&SessionSummary(&s)).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&s.summary_bytes()),
                    String::from_utf8_lossy(&fresh),
                    "session {} after a change of {name}",
                    base.id
                );
            }
        }
    }

    #[test]
    fn summary_values() {
        let all = variety();
        let full = all.iter().find(|s| s.id == "full").unwrap().summary_json();
        assert_eq!(full["todoProgress"], json!({"completed": 2, "total": 6}));
        assert_eq!(full["pendingRequestsCount"], json!(7));
        assert_eq!(full["pendingRequestKinds"], json!(["permission", "input"]));
        assert!(
            full["metadata"]["summary"]["text"]
                .as_str()
                .unwrap()
                .contains('☃')
        );
        let first = all.iter().find(|s| s.id == "input-first").unwrap();
        assert_eq!(
            first.summary_json()["pendingRequestKinds"],
            json!(["input", "permission"])
        );
        assert_eq!(first.pending_request_count(), 3);
        let bare = all.iter().find(|s| s.id == "bare").unwrap().summary_json();
        assert_eq!(bare["metadata"], Value::Null);
        assert_eq!(bare["todosUpdatedAt"], json!(0));
        assert_eq!(bare["pendingRequests"], json!([]));
        let no_host = all
            .iter()
            .find(|s| s.id == "no-host")
            .unwrap()
            .summary_json();
        assert_eq!(no_host["metadata"], Value::Null);
        assert_eq!(no_host["todoProgress"], Value::Null);
    }
}
