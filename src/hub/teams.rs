//! Claude agent-team state (`session.teamState`, parity-0.30.7.md §3.1 `message`, §5 row 14),
//! derived from the team tool calls in the agent's messages.
//!
//! The contract, as the official hub v0.30.7 derived it from Claude `output`/`assistant`
//! messages sent by a stand-in CLI (tool_use blocks in `data.message.content`):
//! - `TeamCreate {team_name, description}` → `{"teamName", "description", "members": [],
//!   "tasks": [], "messages": [], "updatedAt": <now>}` (replaces any previous team).
//! - `Task {name, team_name, subagent_type, description}` while a team exists → a member
//!   `{"name", "agentType": subagent_type, "status": "active"}` and a task
//!   `{"id": "agent:<name>", "title": description, "status": "in_progress", "owner": name}`.
//! - `SendMessage {type, recipient, summary}` while a team exists → a message
//!   `{"from": "team-lead", "to": recipient, "summary", "type", "timestamp": <now>}` (the
//!   message text itself is not kept).
//! - `TeamDelete` → no team: `teamState` leaves the session JSON, `teamStateUpdatedAt` stays.
//! - Each change sets `teamStateUpdatedAt` and `updatedAt` to the message's time and publishes
//!   `session-updated {"teamState": {"version": <that time>, "value": <state or null>},
//!   "updatedAt"}`; it is stored with the session (the `team_state` columns). A message
//!   stored before (a repeated `localId`) is not applied again (the caller checks).
//!
//! Not settled by observation (hapid's choices): a `Task` without `name` or without a team
//! changes nothing; a member or task already listed is not added twice; at most
//! [`MAX_ITEMS`] members, tasks and messages are kept (the oldest messages go first).

use super::Hub;
use super::HubError;
use serde_json::{Value, json};

/// Bound on each list of a team state.
const MAX_ITEMS: usize = 200;

/// What a message does to the team state.
#[derive(Debug, PartialEq)]
pub enum Change {
    /// A new or updated team.
    Set(Value),
    /// The team was deleted.
    Delete,
}

/// The tool_use blocks of a Claude assistant message.
fn tool_uses(content: &Value) -> Vec<&Value> {
    let rec = [content, content.get("message").unwrap_or(&Value::Null)]
        .into_iter()
        .find(|v| v.get("role").and_then(Value::as_str) == Some("agent"));
    let Some(c) = rec.and_then(|r| r.get("content")) else {
        return Vec::new();
    };
    if c.get("type").and_then(Value::as_str) != Some("output")
        || c.pointer("/data/type").and_then(Value::as_str) != Some("assistant")
    {
        return Vec::new();
    }
    c.pointer("/data/message/content")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
                .collect()
        })
        .unwrap_or_default()
}

fn push_bounded(list: &mut Value, item: Value) {
    if let Some(a) = list.as_array_mut() {
        a.push(item);
        if a.len() > MAX_ITEMS {
            let extra = a.len() - MAX_ITEMS;
            a.drain(..extra);
        }
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// The team-state change a message makes, given the current state (`now` = wall ms).
pub fn apply(current: Option<&Value>, content: &Value, now: i64) -> Option<Change> {
    let mut state = current.filter(|v| v.is_object()).cloned();
    let mut changed = false;
    for b in tool_uses(content) {
        let input = b.get("input").unwrap_or(&Value::Null);
        match b.get("name").and_then(Value::as_str) {
            Some("TeamCreate") => {
                state = Some(json!({
                    "teamName": str_of(input, "team_name").unwrap_or(""),
                    "description": str_of(input, "description").unwrap_or(""),
                    "members": [], "tasks": [], "messages": [], "updatedAt": now,
                }));
                changed = true;
            }
            Some("TeamDelete") => changed |= state.take().is_some() || current.is_some(),
            Some("Task") => {
                let (Some(t), Some(name)) = (state.as_mut(), str_of(input, "name")) else {
                    continue;
                };
                let listed = |list: &Value, key: &str, val: &str| {
                    list.as_array()
                        .is_some_and(|a| a.iter().any(|x| str_of(x, key) == Some(val)))
                };
                let task_id = format!("agent:{name}");
                if !listed(&t["members"], "name", name) {
                    let agent = str_of(input, "subagent_type").unwrap_or("general-purpose");
                    push_bounded(
                        &mut t["members"],
                        json!({"name": name, "agentType": agent, "status": "active"}),
                    );
                }
                if !listed(&t["tasks"], "id", &task_id) {
                    let title = str_of(input, "description").unwrap_or("");
                    push_bounded(
                        &mut t["tasks"],
                        json!({"id": task_id, "title": title, "status": "in_progress", "owner": name}),
                    );
                }
                t["updatedAt"] = json!(now);
                changed = true;
            }
            Some("SendMessage") => {
                let Some(t) = state.as_mut() else {
                    continue;
                };
                let mut m = json!({"from": "team-lead"});
                for (from, to) in [
                    ("recipient", "to"),
                    ("summary", "summary"),
                    ("type", "type"),
                ] {
                    if let Some(v) = input.get(from).filter(|v| v.is_string()) {
                        m[to] = v.clone();
                    }
                }
                m["timestamp"] = json!(now);
                push_bounded(&mut t["messages"], m);
                t["updatedAt"] = json!(now);
                changed = true;
            }
            _ => {}
        }
    }
    if !changed {
        return None;
    }
    Some(state.map_or(Change::Delete, Change::Set))
}

impl Hub {
    /// Team-state extraction from a stored agent message (`ts` = the message's time).
    pub(crate) fn extract_team(
        &mut self,
        sid: &str,
        content: &Value,
        ts: i64,
        now_ms: i64,
    ) -> Result<(), HubError> {
        let Some(s) = self.sessions.get_mut(sid) else {
            return Ok(());
        };
        let Some(change) = apply(s.team_state.as_ref(), content, now_ms) else {
            return Ok(());
        };
        let before = (s.team_state.clone(), s.team_state_updated_at, s.updated_at);
        let value = match change {
            Change::Set(v) => Some(v),
            Change::Delete => None,
        };
        s.team_state = value.clone();
        s.team_state_updated_at = Some(ts);
        s.updated_at = s.updated_at.max(ts);
        if let Err(e) = self.store.put_session(&s.to_row()) {
            (s.team_state, s.team_state_updated_at, s.updated_at) = before;
            return Err(e.into());
        }
        let ns = s.namespace.clone();
        let patch =
            json!({"teamState": {"version": ts, "value": value}, "updatedAt": s.updated_at});
        self.events.publish(
            &ns,
            json!({"type": "session-updated", "sessionId": sid, "data": patch}),
            &mut self.fx,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asst(blocks: Value) -> Value {
        json!({"role": "agent", "content": {"type": "output", "data": {"type": "assistant",
            "message": {"role": "assistant", "content": blocks}}}})
    }

    #[test]
    fn create_task_message_delete_as_observed_on_v0_30_7() {
        let create = asst(
            json!([{"type": "tool_use", "id": "tu1", "name": "TeamCreate",
            "input": {"team_name": "alpha", "description": "the team"}}]),
        );
        let Some(Change::Set(t)) = apply(None, &create, 10) else {
            panic!("no team")
        };
        assert_eq!(
            t,
            json!({"teamName": "alpha", "description": "the team", "members": [], "tasks": [],
                   "messages": [], "updatedAt": 10})
        );
        let task = asst(
            json!([{"type": "tool_use", "id": "tu2", "name": "Task", "input": {
            "description": "do x", "prompt": "p", "subagent_type": "general-purpose",
            "name": "worker-1", "team_name": "alpha"}}]),
        );
        let Some(Change::Set(t)) = apply(Some(&t), &task, 20) else {
            panic!("no task")
        };
        assert_eq!(
            t["members"],
            json!([{"name": "worker-1", "agentType": "general-purpose", "status": "active"}])
        );
        assert_eq!(
            t["tasks"],
            json!([{"id": "agent:worker-1", "title": "do x", "status": "in_progress", "owner": "worker-1"}])
        );
        // The same Task again adds nothing twice.
        let Some(Change::Set(t)) = apply(Some(&t), &task, 25) else {
            panic!("no task")
        };
        assert_eq!(t["members"].as_array().map(Vec::len), Some(1));
        let msg = asst(
            json!([{"type": "tool_use", "id": "tu3", "name": "SendMessage", "input": {
            "type": "message", "recipient": "worker-1", "content": "hi there", "summary": "greet"}}]),
        );
        let Some(Change::Set(t)) = apply(Some(&t), &msg, 30) else {
            panic!("no message")
        };
        assert_eq!(
            t["messages"],
            json!([{"from": "team-lead", "to": "worker-1", "summary": "greet", "type": "message", "timestamp": 30}])
        );
        assert_eq!(t["updatedAt"], json!(30));
        let delete =
            asst(json!([{"type": "tool_use", "id": "tu5", "name": "TeamDelete", "input": {}}]));
        assert_eq!(apply(Some(&t), &delete, 40), Some(Change::Delete));
        assert_eq!(apply(None, &delete, 40), None);
    }

    #[test]
    fn other_messages_change_nothing() {
        let bash = asst(
            json!([{"type": "tool_use", "id": "b", "name": "Bash", "input": {"command": "ls"}}]),
        );
        assert_eq!(apply(None, &bash, 1), None);
        let task =
            asst(json!([{"type": "tool_use", "id": "t", "name": "Task", "input": {"name": "w"}}]));
        assert_eq!(apply(None, &task, 1), None, "a Task without a team");
        let user = json!({"role": "user", "content": {"type": "text", "text": "TeamCreate"}});
        assert_eq!(apply(None, &user, 1), None);
    }

    #[test]
    fn lists_are_bounded() {
        let team = json!({"teamName": "a", "description": "", "members": [], "tasks": [], "messages": [], "updatedAt": 0});
        let msg = asst(
            json!([{"type": "tool_use", "id": "m", "name": "SendMessage",
            "input": {"type": "message", "recipient": "w", "summary": "s"}}]),
        );
        let mut t = team;
        for i in 0..(MAX_ITEMS as i64 + 5) {
            let Some(Change::Set(n)) = apply(Some(&t), &msg, i) else {
                panic!("no change")
            };
            t = n;
        }
        assert_eq!(t["messages"].as_array().map(Vec::len), Some(MAX_ITEMS));
        assert_eq!(t["messages"][0]["timestamp"], json!(5));
    }
}
