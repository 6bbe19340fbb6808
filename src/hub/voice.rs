//! `POST /api/voice/token` (spec/voice.md): a small chain per request —
//! find agent → create agent → conversation token → reply — run on the outbound client while
//! the HTTP request waits. Lookups for the same API key are coalesced; a client that goes away
//! cancels its chain (late results are dropped).

use super::{ConnId, Effect, Hub, Now, OutOwner};
use crate::http::Response;
use crate::http::client::{ClientRequest, ClientResponse, Url};
use crate::voice;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// Timeout of each ElevenLabs call.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Which call a chain is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Find,
    Create,
    Token,
}

/// One waiting request.
#[derive(Debug, Clone)]
struct Chain {
    conn: ConnId,
    api_key: String,
    cache_key: String,
}

/// Voice state: the agent-id cache and the chains in flight.
#[derive(Debug, Default)]
pub struct Voice {
    /// Settings: key, agent id, API base.
    pub settings: (Option<String>, Option<String>, String),
    cache: HashMap<String, String>,
    chains: HashMap<u64, Chain>,
    /// Chains waiting for the find/create of a cache key (the first one drives it).
    waiting: HashMap<String, Vec<u64>>,
    next: u64,
}

impl Voice {
    /// Voice state with its settings.
    pub fn new(api_key: Option<String>, agent_id: Option<String>, api_base: String) -> Voice {
        Voice {
            settings: (api_key, agent_id, api_base),
            ..Default::default()
        }
    }
}

fn reply(status: u16, body: serde_json::Value) -> Response {
    Response::json(status, &body)
}

fn refuse(status: u16, msg: &str) -> Response {
    reply(status, json!({"allowed": false, "error": msg}))
}

impl Hub {
    /// Starts a token request; `Some` answers now, `None` defers to the chain.
    pub fn voice_token(&mut self, conn: ConnId, body: &[u8], now: Now) -> Option<Response> {
        let Some((custom_agent, custom_key)) = voice::parse_request(body) else {
            return Some(refuse(400, "Invalid request body"));
        };
        let api_key = custom_key
            .filter(|k| !k.is_empty())
            .or_else(|| self.voice_env.elevenlabs_key().map(str::to_string));
        let Some(api_key) = api_key else {
            return Some(refuse(400, "ElevenLabs API key not configured"));
        };
        let agent = custom_agent
            .filter(|a| !a.is_empty())
            .or_else(|| self.voice.settings.1.clone());
        let cache_key = voice::cache_key(&api_key);
        let id = self.voice.next;
        self.voice.next += 1;
        self.voice.chains.insert(
            id,
            Chain {
                conn,
                api_key,
                cache_key: cache_key.clone(),
            },
        );
        if let Some(agent) = agent.or_else(|| self.voice.cache.get(&cache_key).cloned()) {
            self.voice_call(id, Step::Token, Some(&agent), now);
            return None;
        }
        let waiters = self.voice.waiting.entry(cache_key).or_default();
        waiters.push(id);
        if waiters.len() == 1 {
            self.voice_call(id, Step::Find, None, now);
        }
        None
    }

    fn voice_call(&mut self, chain: u64, step: Step, agent: Option<&str>, now: Now) {
        let _ = now;
        let Some(c) = self.voice.chains.get(&chain) else {
            return;
        };
        let (method, target, body) = match step {
            Step::Find => ("GET", "/v1/convai/agents".to_string(), Vec::new()),
            Step::Create => (
                "POST",
                "/v1/convai/agents/create".to_string(),
                voice::agent_config().to_string().into_bytes(),
            ),
            Step::Token => (
                "GET",
                voice::token_path(agent.unwrap_or_default()),
                Vec::new(),
            ),
        };
        let url = Url::parse(&format!(
            "{}{}",
            self.voice.settings.2.trim_end_matches('/'),
            target
        ))
        .filter(|u| u.https || self.settings.push_allow_http);
        let Some(url) = url else {
            let conn = c.conn;
            self.voice.chains.remove(&chain);
            self.fx.push(Effect::Reply {
                conn,
                resp: refuse(500, "ElevenLabs API base URL is invalid"),
            });
            return;
        };
        let mut headers = vec![
            ("xi-api-key".to_string(), c.api_key.clone()),
            ("Accept".into(), "application/json".into()),
        ];
        if step == Step::Create {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        let req = ClientRequest {
            method,
            url,
            headers,
            body,
        };
        let id = self.outbound_id(OutOwner::Voice {
            chain,
            step,
            agent: agent.map(str::to_string),
        });
        self.fx.push(Effect::Outbound {
            id,
            req,
            timeout: CALL_TIMEOUT,
        });
    }

    /// An ElevenLabs call returned.
    pub(super) fn voice_done(
        &mut self,
        chain: u64,
        step: Step,
        agent: Option<String>,
        r: Result<ClientResponse, String>,
        now: Now,
    ) {
        match step {
            Step::Token => {
                let Some(c) = self.voice.chains.remove(&chain) else {
                    return;
                };
                let resp = match r {
                    Ok(resp) => match voice::token_result(resp.status, &resp.body) {
                        Ok(token) => reply(
                            200,
                            json!({"allowed": true, "token": token, "agentId": agent.unwrap_or_default()}),
                        ),
                        Err(e) => refuse(500, &e),
                    },
                    Err(e) => refuse(500, &format!("ElevenLabs request failed: {e}")),
                };
                self.fx.push(Effect::Reply { conn: c.conn, resp });
            }
            Step::Find => {
                let found = r
                    .ok()
                    .filter(|x| (200..300).contains(&x.status))
                    .and_then(|x| voice::find_agent(&x.body));
                if let Some(a) = found {
                    return self.voice_agent_ready(chain, Some(a), now);
                }
                // The create is sent for a live waiter: the one that searched may be gone.
                match self.voice_live_waiter(chain) {
                    Some(driver) => self.voice_call(driver, Step::Create, None, now),
                    None => self.voice_agent_ready(chain, None, now),
                }
            }
            Step::Create => {
                let created = match r {
                    Ok(x) if (200..300).contains(&x.status) => voice::created_agent(&x.body),
                    Ok(x) => {
                        crate::log::warn(&format!(
                            "ElevenLabs agent creation failed: status {}",
                            x.status
                        ));
                        None
                    }
                    Err(e) => {
                        crate::log::warn(&format!("ElevenLabs agent creation failed: {e}"));
                        None
                    }
                };
                self.voice_agent_ready(chain, created, now);
            }
        }
    }

    /// `chain` if it still waits, else another waiting chain of the same find/create.
    fn voice_live_waiter(&self, chain: u64) -> Option<u64> {
        if self.voice.chains.contains_key(&chain) {
            return Some(chain);
        }
        let waiters = self.voice.waiting.values().find(|v| v.contains(&chain))?;
        waiters
            .iter()
            .copied()
            .find(|w| self.voice.chains.contains_key(w))
    }

    /// The find/create of a chain's key finished: every waiter goes on (or fails).
    fn voice_agent_ready(&mut self, chain: u64, agent: Option<String>, now: Now) {
        let key = match self.voice.chains.get(&chain) {
            Some(c) => c.cache_key.clone(),
            None => match self.voice.waiting.iter().find(|(_, v)| v.contains(&chain)) {
                Some((k, _)) => k.clone(),
                None => return,
            },
        };
        let waiters = self.voice.waiting.remove(&key).unwrap_or_default();
        if let Some(a) = &agent {
            self.voice.cache.insert(key, a.clone());
        }
        for w in waiters {
            match &agent {
                Some(a) => self.voice_call(w, Step::Token, Some(a), now),
                None => {
                    if let Some(c) = self.voice.chains.remove(&w) {
                        let resp = refuse(500, "Failed to create ElevenLabs agent automatically");
                        self.fx.push(Effect::Reply { conn: c.conn, resp });
                    }
                }
            }
        }
    }

    /// The HTTP client went away: its chains stop (a find/create in progress still fills the
    /// cache for the other waiters).
    pub(super) fn voice_conn_closed(&mut self, conn: ConnId) {
        self.voice.chains.retain(|_, c| c.conn != conn);
    }
}
