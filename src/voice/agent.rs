//! The ElevenLabs agent that hapid creates when none is configured (`voice.md` §6).
//!
//! Wire-relevant values (name, model, temperature, token limit, turn/TTS settings, the
//! `language` override, and the two client tools' names, flags, timeouts and parameter
//! schemas, which the web app implements) are the baseline's. The system prompt and the
//! descriptions are natural language read by the ElevenLabs LLM; hapid ships its own text
//! with the same intent (§6 says the wording is no wire contract).

use serde_json::{Value, json};

/// The agent's name; an agent with exactly this name is reused (§4.2).
pub const AGENT_NAME: &str = "Hapi Voice Assistant";

/// What the assistant says when a conversation starts.
const FIRST_MESSAGE: &str = "Hey! Hapi here.";

/// The system prompt (hapid's wording of the baseline's intent, §6).
const SYSTEM_PROMPT: &str = "\
# Who you are
You are Hapi Voice Assistant, the spoken bridge between a developer and the AI coding agents \
(Claude Code, Codex, Gemini) they run through Hapi. You are calm, friendly and brief, and you \
talk like an experienced engineer.

# What you know and how it arrives
Context reaches you on its own as system messages: when a session is focused you get its \
history, and afterwards you get the agent's messages and tool use, permission requests, and \
a notice when the agent is done and waiting. Never ask for updates; wait for them.

# Your tools
- messageCodingAgent: pass the user's request to the active coding agent as one complete, \
self-contained message. Use it for anything about code, files, commands, builds, tests, or \
continuing a task, and whenever the user addresses the agent (\"tell Claude to ...\"). If you \
are unsure whether the agent can do something, pass it on.
- processPermissionRequest: answer the pending permission request. \"yes\", \"allow\", \"go \
ahead\", \"approve\" mean decision \"allow\"; \"no\", \"deny\", \"stop\", \"cancel\" mean \
decision \"deny\". Use exactly \"allow\" or \"deny\".
Answer general questions that are addressed to you yourself.

# How you speak
- Usually one to three sentences. Summarise; do not recite.
- Never read out code, stack traces, identifiers, hashes or file paths character by \
character. Say \"the config file in the src folder\", not the full path.
- Use plain spoken words that sound natural in text to speech; spell out abbreviations when \
that helps.
- Match the user's pace; short questions get short answers.

# While the agent works
After you hand a request to the agent, stay quiet until an update arrives; the agent may \
need a minute. Do not fill the silence, repeat the request, or ask whether the user is still \
there.

# Speak up when it matters
- A permission request arrives: say briefly what the agent wants to do and ask whether to \
allow it, then call processPermissionRequest with the answer.
- The agent finishes: summarise the result in a sentence or two.
- Something fails: name the kind of error and suggest a next step, without reading the \
error text verbatim.
- There is no active session: ask the user to open or start one in the app; you cannot start \
sessions.

# Guardrails
- Do not say the same thing twice in different words.
- If the user's words seem garbled, treat them as a phonetic hint and ask.
- Correct yourself at once when you notice a mistake.";

/// The create-agent body of `voice.md` §6 (`POST /v1/convai/agents/create`), keys in the
/// spec's order; `turn_timeout`/`silence_end_call_timeout` serialise as `30`/`600`.
pub fn agent_config() -> Value {
    json!({
        "name": AGENT_NAME,
        "conversation_config": {
            "agent": {
                "first_message": FIRST_MESSAGE,
                "language": "en",
                "prompt": {
                    "prompt": SYSTEM_PROMPT,
                    "llm": "gemini-2.5-flash",
                    "temperature": 0.7,
                    "max_tokens": 1024,
                    "tools": [
                        {
                            "type": "client",
                            "name": "messageCodingAgent",
                            "description": "Relay the user's coding request, question or \
                                instruction to the active coding agent as one complete message.",
                            "expects_response": true,
                            "response_timeout_secs": 120,
                            "parameters": {
                                "type": "object",
                                "required": ["message"],
                                "properties": {
                                    "message": {
                                        "type": "string",
                                        "description": "The full request or instruction for \
                                            the coding agent, in the user's intent and words.",
                                    },
                                },
                            },
                        },
                        {
                            "type": "client",
                            "name": "processPermissionRequest",
                            "description": "Allow or deny the coding agent's pending \
                                permission request when the user has decided.",
                            "expects_response": true,
                            "response_timeout_secs": 30,
                            "parameters": {
                                "type": "object",
                                "required": ["decision"],
                                "properties": {
                                    "decision": {
                                        "type": "string",
                                        "description": "Exactly 'allow' or 'deny'.",
                                    },
                                },
                            },
                        },
                    ],
                },
            },
            "turn": {"turn_timeout": 30, "silence_end_call_timeout": 600},
            "tts": {"voice_id": "cgSgspJ2msm6clMCkdW9", "model_id": "eleven_flash_v2", "speed": 1.1},
        },
        "platform_settings": {
            "overrides": {"conversation_config_override": {"agent": {"language": true}}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_matches_section_6() {
        let body = agent_config();
        let mut masked = body.clone();
        let prompt = &mut masked["conversation_config"]["agent"]["prompt"];
        assert!(prompt["prompt"].as_str().is_some_and(|p| p.len() > 500));
        prompt["prompt"] = json!("<prompt>");
        for tool in prompt["tools"].as_array_mut().unwrap() {
            assert!(tool["description"].as_str().is_some_and(|d| !d.is_empty()));
            tool["description"] = json!("<d>");
            let props = tool["parameters"]["properties"].as_object_mut().unwrap();
            for p in props.values_mut() {
                assert!(p["description"].as_str().is_some_and(|d| !d.is_empty()));
                p["description"] = json!("<d>");
            }
        }
        let want = concat!(
            r#"{"name":"Hapi Voice Assistant","conversation_config":{"agent":{"first_message":"Hey! Hapi here.","language":"en","#,
            r#""prompt":{"prompt":"<prompt>","llm":"gemini-2.5-flash","temperature":0.7,"max_tokens":1024,"tools":["#,
            r#"{"type":"client","name":"messageCodingAgent","description":"<d>","expects_response":true,"response_timeout_secs":120,"#,
            r#""parameters":{"type":"object","required":["message"],"properties":{"message":{"type":"string","description":"<d>"}}}},"#,
            r#"{"type":"client","name":"processPermissionRequest","description":"<d>","expects_response":true,"response_timeout_secs":30,"#,
            r#""parameters":{"type":"object","required":["decision"],"properties":{"decision":{"type":"string","description":"<d>"}}}}]}},"#,
            r#""turn":{"turn_timeout":30,"silence_end_call_timeout":600},"#,
            r#""tts":{"voice_id":"cgSgspJ2msm6clMCkdW9","model_id":"eleven_flash_v2","speed":1.1}},"#,
            r#""platform_settings":{"overrides":{"conversation_config_override":{"agent":{"language":true}}}}}"#,
        );
        assert_eq!(serde_json::to_string(&masked).unwrap(), want);
    }

    #[test]
    fn prompt_names_the_tools_and_decisions() {
        for needle in [
            "messageCodingAgent",
            "processPermissionRequest",
            "\"allow\"",
            "\"deny\"",
        ] {
            assert!(SYSTEM_PROMPT.contains(needle), "{needle}");
        }
        // No line-continuation artefacts (double spaces) in the shipped texts.
        let body = agent_config().to_string();
        assert!(!body.contains("  "), "{body}");
    }
}
