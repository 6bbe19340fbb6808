//! Todo lists extracted from agent messages (spec/lifecycle.md §6.1).

use serde_json::{Map, Value, json};

/// The role record inside a message content: the content itself, or `message`,
/// `data.message`, `payload.message`.
fn role_record(content: &Value) -> Option<&Value> {
    let is_record =
        |v: &Value| v.get("role").is_some_and(Value::is_string) && v.get("content").is_some();
    if is_record(content) {
        return Some(content);
    }
    [
        content.get("message"),
        content.pointer("/data/message"),
        content.pointer("/payload/message"),
    ]
    .into_iter()
    .flatten()
    .find(|v| is_record(v))
}

/// Normalizes a TodoWrite list; None when any item is invalid.
fn normalize(todos: &Value) -> Option<Value> {
    let items = todos.as_array()?;
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let content = it.get("content")?.as_str()?;
        let status = it
            .get("status")?
            .as_str()
            .filter(|s| ["pending", "in_progress", "completed"].contains(s))?;
        let priority = match it.get("priority").and_then(Value::as_str) {
            Some(p) if ["high", "medium", "low"].contains(&p) => p,
            _ => "medium",
        };
        let id = it.get("id").and_then(Value::as_str).unwrap_or("");
        let mut o = Map::new();
        o.insert("content".into(), json!(content));
        o.insert("status".into(), json!(status));
        o.insert("priority".into(), json!(priority));
        o.insert("id".into(), json!(id));
        if let Some(a) = it.get("activeForm").and_then(Value::as_str) {
            o.insert("activeForm".into(), json!(a));
        }
        out.push(Value::Object(o));
    }
    Some(Value::Array(out))
}

/// The todo list a message carries, if any.
pub fn extract(content: &Value) -> Option<Value> {
    let rec = role_record(content)?;
    let role = rec.get("role")?.as_str()?;
    if role != "agent" && role != "assistant" {
        return None;
    }
    let c = rec.get("content")?;
    let kind = c.get("type")?.as_str()?;
    let data = c.get("data");
    if kind == "output"
        && data.and_then(|d| d.get("type")).and_then(Value::as_str) == Some("assistant")
    {
        let blocks = data?.pointer("/message/content")?.as_array()?;
        return blocks.iter().find_map(|b| {
            (b.get("type")?.as_str()? == "tool_use" && b.get("name")?.as_str()? == "TodoWrite")
                .then(|| {
                    b.get("input")
                        .filter(|i| i.is_object())
                        .and_then(|i| normalize(i.get("todos")?))
                })
                .flatten()
        });
    }
    if kind == "codex" {
        let d = data?;
        match d.get("type")?.as_str()? {
            "tool-call" if d.get("name").and_then(Value::as_str) == Some("TodoWrite") => {
                return d
                    .get("input")
                    .filter(|i| i.is_object())
                    .and_then(|i| normalize(i.get("todos")?));
            }
            "plan" => {
                let entries = d.get("entries")?.as_array()?;
                let list: Vec<Value> = entries
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| {
                        let content = e.get("content")?.as_str()?;
                        let pr = e
                            .get("priority")?
                            .as_str()
                            .filter(|p| ["high", "medium", "low"].contains(p))?;
                        let st = e
                            .get("status")?
                            .as_str()
                            .filter(|s| ["pending", "in_progress", "completed"].contains(s))?;
                        let id = e
                            .get("id")
                            .and_then(Value::as_str)
                            .map_or_else(|| format!("plan-{}", i + 1), str::to_string);
                        Some(json!({"content": content, "status": st, "priority": pr, "id": id}))
                    })
                    .collect();
                return Some(Value::Array(list));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_todo_write_without_priority() {
        let c = json!({"role":"agent","content":{"type":"output","data":{"type":"assistant","message":{"content":[
            {"type":"tool_use","name":"TodoWrite","input":{"todos":[{"content":"A","status":"in_progress","activeForm":"Doing A"}]}}]}}}});
        assert_eq!(
            extract(&c),
            Some(
                json!([{"content":"A","status":"in_progress","priority":"medium","id":"","activeForm":"Doing A"}])
            )
        );
    }

    #[test]
    fn plan_entries_and_rejections() {
        let c = json!({"role":"agent","content":{"type":"codex","data":{"type":"plan","entries":[
            {"content":"x","priority":"high","status":"pending"},{"content":"bad","priority":"nope","status":"pending"}]}}});
        assert_eq!(
            extract(&c),
            Some(json!([{"content":"x","status":"pending","priority":"high","id":"plan-1"}]))
        );
        assert_eq!(
            extract(&json!({"role":"user","content":{"type":"text"}})),
            None
        );
        let bad = json!({"role":"agent","content":{"type":"codex","data":{"type":"tool-call","name":"TodoWrite","input":{"todos":[{"status":"pending"}]}}}});
        assert_eq!(extract(&bad), None);
    }
}
