//! The Telegram bot (spec/telegram.md): `getMe` → `deleteWebhook` → long polling with one
//! `getUpdates` in flight; `/start` and `/app`; permission and ready notifications to bound
//! chats; Allow / Deny callbacks turned into the `permission` RPC, then the message edited.
//!
//! Texts, keyboards and update parsing are pure (`crate::telegram`); this file is the state
//! machine. Outgoing calls go one at a time through a bounded queue, on the same outbound
//! client as Web Push but never waiting on it.

use super::cli::RpcThen;
use super::notify::{Kind, Notification};
use super::timers::HubTimer;
use super::{Effect, Hub, Now, OutOwner};
use crate::http::client::{ClientRequest, ClientResponse, Url};
use crate::telegram::{self as tg, Action, BotInput, Command};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Long-poll hold asked of Telegram.
const POLL_SECS: u64 = 30;
/// A callback query is answered (silently, if need be) within this.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// Outgoing calls waiting at most.
const SEND_QUEUE_CAP: usize = 1024;

/// Which call a response belongs to.
#[derive(Debug, Clone)]
pub enum Call {
    GetMe,
    DeleteWebhook,
    GetUpdates,
    /// An outgoing message/answer/edit (retried once on 429).
    Send {
        method: &'static str,
        body: Value,
        retried: bool,
    },
}

/// Bot lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Polling,
    Stopped,
}

/// Bot state.
#[derive(Debug)]
pub struct Bot {
    token: String,
    api_base: String,
    public_url: String,
    username: String,
    pub phase: Phase,
    offset: i64,
    poll_in_flight: bool,
    start_in_flight: bool,
    /// Nothing is sent before this time (backoff, 429).
    wait_until: Option<Instant>,
    backoff_ms: i64,
    sending: bool,
    queue: VecDeque<(&'static str, Value, bool)>,
    /// Callback queries waiting for their RPC: id → deadline for a silent answer (Telegram
    /// expires unanswered queries after ~15 s; the RPC may take 30 s).
    unanswered: std::collections::HashMap<String, Instant>,
    /// Counters: sent, failed.
    pub stats: (u64, u64),
}

impl Bot {
    /// A bot for `token`, talking to `api_base`, linking to `public_url`.
    pub fn new(token: String, api_base: String, public_url: String) -> Bot {
        Bot {
            token,
            api_base,
            public_url,
            username: String::new(),
            phase: Phase::Starting,
            offset: 1,
            poll_in_flight: false,
            start_in_flight: false,
            wait_until: None,
            backoff_ms: 0,
            sending: false,
            queue: VecDeque::new(),
            unanswered: std::collections::HashMap::new(),
            stats: (0, 0),
        }
    }

    fn backoff(&mut self, now: Now, retry_after: Option<u64>) {
        self.backoff_ms = match retry_after {
            Some(s) => (s as i64).clamp(1, 3600) * 1000,
            None => (self.backoff_ms * 2).clamp(3_000, 60_000),
        };
        self.wait_until = Some(now.mono + Duration::from_millis(self.backoff_ms as u64));
    }
}

impl Hub {
    fn tg_request(&mut self, call: Call, method: &str, body: &Value, timeout: Duration) {
        let Some(bot) = &self.telegram else { return };
        let url = format!(
            "{}/bot{}/{method}",
            bot.api_base.trim_end_matches('/'),
            bot.token
        );
        let Some(url) = Url::parse(&url).filter(|u| u.https || self.settings.push_allow_http)
        else {
            crate::log::warn("telegram: the API base URL is invalid; bot stopped");
            if let Some(b) = self.telegram.as_mut() {
                b.phase = Phase::Stopped;
            }
            return;
        };
        let req = ClientRequest {
            method: "POST",
            url,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        };
        let id = self.outbound_id(OutOwner::Telegram(call));
        self.fx.push(Effect::Outbound { id, req, timeout });
    }

    /// Drives the bot: startup calls, the next poll, the send queue (at start, after each
    /// response or queued message, and on the bot's timer: the end of a backoff, a callback
    /// query's silent answer).
    pub fn telegram_drive(&mut self, now: Now) {
        let Some(bot) = self.telegram.as_mut() else {
            return;
        };
        if bot.phase == Phase::Stopped {
            return;
        }
        if let Some(at) = bot.wait_until.filter(|w| now.mono < *w) {
            return self.timers.arm(HubTimer::Telegram, at, &mut self.fx);
        }
        let late: Vec<String> = bot
            .unanswered
            .iter()
            .filter(|(_, d)| **d <= now.mono)
            .map(|(q, _)| q.clone())
            .collect();
        for q in late {
            bot.unanswered.remove(&q);
            bot.queue
                .push_back(("answerCallbackQuery", tg::answer_callback(&q, None), false));
        }
        if let Some(at) = bot.unanswered.values().min().copied() {
            self.timers.arm(HubTimer::Telegram, at, &mut self.fx);
        }
        let Some(bot) = self.telegram.as_mut() else {
            return;
        };
        match bot.phase {
            Phase::Starting if !bot.start_in_flight => {
                bot.start_in_flight = true;
                self.tg_request(Call::GetMe, "getMe", &json!({}), Duration::from_secs(15));
            }
            Phase::Polling => {
                if !bot.poll_in_flight {
                    bot.poll_in_flight = true;
                    let body = tg::get_updates_body(bot.offset, POLL_SECS);
                    self.tg_request(
                        Call::GetUpdates,
                        "getUpdates",
                        &body,
                        Duration::from_secs(POLL_SECS + 15),
                    );
                }
                let Some(bot) = self.telegram.as_mut() else {
                    return;
                };
                if !bot.sending
                    && let Some((method, body, retried)) = bot.queue.pop_front()
                {
                    bot.sending = true;
                    self.tg_request(
                        Call::Send {
                            method,
                            body: body.clone(),
                            retried,
                        },
                        method,
                        &body,
                        Duration::from_secs(20),
                    );
                }
            }
            _ => {}
        }
    }

    fn tg_send(&mut self, method: &'static str, body: Value) {
        let Some(bot) = self.telegram.as_mut() else {
            return;
        };
        if bot.queue.len() >= SEND_QUEUE_CAP {
            bot.queue.pop_front();
            bot.stats.1 += 1;
        }
        bot.queue.push_back((method, body, false));
    }

    /// On shutdown: confirm the processed updates so Telegram does not deliver them again
    /// after a restart (spec/telegram.md §3).
    pub fn telegram_shutdown(&mut self) {
        let Some(bot) = self.telegram.as_ref() else {
            return;
        };
        if bot.phase != Phase::Polling || bot.offset <= 1 {
            return;
        }
        let body = tg::confirm_updates_body(bot.offset);
        let call = Call::Send {
            method: "getUpdates",
            body: body.clone(),
            retried: true,
        };
        self.tg_request(call, "getUpdates", &body, Duration::from_secs(1));
    }

    /// A Bot API call returned.
    pub(super) fn telegram_done(
        &mut self,
        call: Call,
        r: Result<ClientResponse, String>,
        now: Now,
    ) {
        let ok_body = match &r {
            Ok(resp) if resp.status == 200 => Some(resp.body.clone()),
            _ => None,
        };
        let err = match &r {
            Ok(resp) => {
                tg::api_error(&resp.body).or(Some((resp.status as i64, String::new(), None)))
            }
            Err(e) => Some((0, e.clone(), None)),
        };
        match call {
            Call::GetMe | Call::DeleteWebhook => {
                let Some(bot) = self.telegram.as_mut() else {
                    return;
                };
                bot.start_in_flight = false;
                match ok_body {
                    Some(body) => {
                        if matches!(call, Call::GetMe) {
                            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            bot.username = v
                                .pointer("/result/username")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string();
                            bot.start_in_flight = true;
                            self.tg_request(
                                Call::DeleteWebhook,
                                "deleteWebhook",
                                &json!({}),
                                Duration::from_secs(15),
                            );
                        } else {
                            bot.phase = Phase::Polling;
                            bot.backoff_ms = 0;
                            crate::log::info("telegram: bot started (long polling)");
                        }
                    }
                    None => {
                        let (code, _, retry_after) = err.unwrap_or((0, String::new(), None));
                        if code == 401 || code == 404 {
                            crate::log::warn(
                                "telegram: invalid bot token; the bot is stopped, the hub keeps running",
                            );
                            bot.phase = Phase::Stopped;
                        } else {
                            bot.backoff(now, retry_after);
                        }
                    }
                }
            }
            Call::GetUpdates => {
                let username = match self.telegram.as_mut() {
                    Some(bot) => {
                        bot.poll_in_flight = false;
                        bot.username.clone()
                    }
                    None => return,
                };
                match ok_body.map(|b| tg::parse_updates(&b, &username)) {
                    Some(Ok(updates)) => {
                        if let Some(bot) = self.telegram.as_mut() {
                            bot.backoff_ms = 0;
                        }
                        for (update_id, input) in updates {
                            if let Some(bot) = self.telegram.as_mut() {
                                bot.offset = bot.offset.max(update_id + 1);
                            }
                            self.telegram_input(input, now);
                        }
                    }
                    _ => {
                        let (code, _, retry_after) = err.unwrap_or((0, String::new(), None));
                        let Some(bot) = self.telegram.as_mut() else {
                            return;
                        };
                        match code {
                            401 => {
                                crate::log::warn("telegram: invalid bot token; polling stopped");
                                bot.phase = Phase::Stopped;
                            }
                            409 => {
                                crate::log::warn(
                                    "telegram: another instance is polling this bot (409); retrying in 60 s",
                                );
                                bot.wait_until = Some(now.mono + Duration::from_secs(60));
                            }
                            _ => bot.backoff(now, retry_after.or(Some(3)).filter(|_| code == 429)),
                        }
                    }
                }
            }
            Call::Send {
                method,
                body,
                retried,
            } => {
                let Some(bot) = self.telegram.as_mut() else {
                    return;
                };
                bot.sending = false;
                if ok_body.is_some() {
                    bot.stats.0 += 1;
                } else {
                    let (code, _, retry_after) = err.unwrap_or((0, String::new(), None));
                    if code == 429 && !retried {
                        bot.queue.push_front((method, body, true));
                        bot.backoff(now, retry_after.or(Some(3)));
                    } else {
                        bot.stats.1 += 1;
                        crate::log::warn(&format!("telegram: {method} failed (code {code})"));
                    }
                }
            }
        }
        self.telegram_drive(now);
    }

    /// One update.
    fn telegram_input(&mut self, input: BotInput, now: Now) {
        let public_url = match &self.telegram {
            Some(b) => b.public_url.clone(),
            None => return,
        };
        match input {
            BotInput::Ignored => {}
            BotInput::Command {
                chat_id,
                thread_id,
                command,
            } => {
                let body = match command {
                    Command::Start => tg::start_reply(chat_id, thread_id, &public_url),
                    Command::App => tg::app_reply(chat_id, thread_id, &public_url),
                };
                self.tg_send("sendMessage", body);
            }
            BotInput::Callback {
                query_id,
                from_id,
                data,
                chat_id,
                message_id,
            } => {
                let answer = |text: &str| tg::answer_callback(&query_id, Some(text));
                let ns = match self.store.binding("telegram", &from_id.to_string()) {
                    Ok(Some(ns)) => ns,
                    Ok(None) => {
                        return self.tg_send(
                            "answerCallbackQuery",
                            answer("Telegram account is not bound"),
                        );
                    }
                    Err(_) => {
                        return self.tg_send("answerCallbackQuery", answer("An error occurred"));
                    }
                };
                let cb = tg::parse_callback(&data);
                let Some(action) = cb.action else {
                    return self.tg_send("answerCallbackQuery", answer("Unknown action"));
                };
                let mut candidates: Vec<&super::model::Session> = self
                    .sessions
                    .values()
                    .filter(|s| s.namespace == ns && s.id.starts_with(&cb.session_prefix))
                    .collect();
                candidates.sort_by_key(|s| s.created_at);
                let Some(s) = candidates.first() else {
                    return self.tg_send("answerCallbackQuery", answer("Session not found"));
                };
                if !s.active {
                    return self.tg_send("answerCallbackQuery", answer("Session is inactive"));
                }
                let prefix = cb.request_prefix.unwrap_or_default();
                // No fallback to another request: a stale button never acts on a newer one.
                let Some(rid) = s
                    .pending_requests()
                    .into_iter()
                    .find(|r| r.starts_with(&prefix))
                else {
                    return self.tg_send(
                        "answerCallbackQuery",
                        answer("Request not found or already processed"),
                    );
                };
                let approve = action == Action::Approve;
                let sid = s.id.clone();
                if let Some(b) = self.telegram.as_mut() {
                    let at = now.mono + ANSWER_WITHIN;
                    b.unanswered.insert(query_id.clone(), at);
                    self.arm(HubTimer::Telegram, at);
                }
                let then = RpcThen::Telegram {
                    query_id,
                    chat_id,
                    message_id,
                    approve,
                };
                let params = json!({"id": rid, "approved": approve});
                self.rpc_call(&ns, format!("{sid}:permission"), &params, then, now);
            }
        }
    }

    /// The permission RPC of a callback returned.
    pub(super) fn telegram_decided(
        &mut self,
        query_id: String,
        chat_id: Option<i64>,
        message_id: Option<i64>,
        approve: bool,
        ok: bool,
        now: Now,
    ) {
        if !ok {
            self.tg_send(
                "answerCallbackQuery",
                tg::answer_callback(&query_id, Some("An error occurred")),
            );
            return self.telegram_drive(now);
        }
        let text = if approve { "Approved!" } else { "Denied" };
        self.tg_send(
            "answerCallbackQuery",
            tg::answer_callback(&query_id, Some(text)),
        );
        if let (Some(c), Some(m)) = (chat_id, message_id) {
            self.tg_send("editMessageText", tg::edit_after_decision(c, m, approve));
        }
        self.telegram_drive(now);
    }

    /// Sends a notification to every chat bound to its namespace.
    pub(super) fn telegram_notify(&mut self, n: &Notification, now: Now) {
        let public_url = match &self.telegram {
            Some(b) if b.phase != Phase::Stopped => b.public_url.clone(),
            _ => return,
        };
        let Some(s) = self.sessions.get(&n.session_id).filter(|s| s.active) else {
            return;
        };
        let (metadata, agent_state) = (s.exposed_metadata(), s.exposed_agent_state());
        let chats: Vec<i64> = match self.store.bound_users("telegram", &n.namespace) {
            Ok(v) => v.iter().filter_map(|u| u.parse::<i64>().ok()).collect(),
            Err(_) => return,
        };
        let mut seen = std::collections::HashSet::new();
        for chat in chats.into_iter().filter(|c| seen.insert(*c)) {
            let body = match n.kind {
                Kind::Permission { .. } => tg::permission_message(
                    chat,
                    &n.session_id,
                    &metadata,
                    &agent_state,
                    true,
                    &public_url,
                ),
                Kind::Ready => tg::ready_message(chat, &n.session_id, &metadata, &public_url),
            };
            self.tg_send("sendMessage", body);
        }
        self.telegram_drive(now);
    }
}
