//! The hub: the one owned struct holding every session, machine, subscription, socket and
//! pending call, backed by the store.
//!
//! Methods take [`Now`] and queue [`Effect`]s in `self.fx`; they never do IO. The reactor
//! drains the effects after the turn's commit, so nothing leaves before it is durable.

pub mod actions;
pub mod agent_terminal;
pub mod agents;
pub mod cli;
pub mod cursor_store;
pub mod events;
pub mod gate;
pub mod hub_settings;
pub mod maintenance;
pub mod messages;
pub mod model;
pub mod notify;
pub mod pages;
pub mod push;
pub mod queue;
pub mod resume;
pub mod rpc;
pub mod scratchlist;
pub mod teams;
pub mod telegram;
pub mod terminal;
pub mod timers;
pub mod todos;
pub mod tzif;
pub mod usage;
pub mod voice;
pub mod voice_calls;
pub mod voice_providers;

pub use crate::app::{ConnId, Effect, Now, SocketId};
use crate::store::{Store, StoreError};
use model::{Machine, Session};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use timers::{HubTimer, Timers};

/// Who is waiting for an outbound request.
#[derive(Debug)]
pub enum OutOwner {
    /// A Web Push delivery.
    Push(push::Attempt),
    /// A Telegram Bot API call.
    Telegram(telegram::Call),
    /// A step of a voice token chain.
    Voice {
        chain: u64,
        step: voice::Step,
        agent: Option<String>,
    },
    /// A one-shot voice provider call (transcription, realtime token, voice list).
    VoiceCall {
        conn: ConnId,
        call: voice_calls::Call,
    },
}

/// Errors of hub operations; the api layer maps them to responses.
#[derive(Debug)]
pub enum HubError {
    /// Not found (or another namespace's).
    NotFound,
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for HubError {
    fn from(e: StoreError) -> Self {
        HubError::Store(e)
    }
}

/// Settings the hub core needs (a subset of `Config`).
#[derive(Debug, Clone)]
pub struct HubSettings {
    pub cli_api_token: String,
    pub jwt_secret: [u8; 32],
    pub owner_id: i64,
    pub jwt_ttl_secs: u64,
    pub telegram_bot_token: Option<String>,
    pub telegram_notification: bool,
    pub terminal_idle_timeout_ms: u64,
    pub terminal_max: usize,
    /// The VAPID public key (base64url), served to the web.
    pub vapid_public: String,
    /// The VAPID key pair.
    pub vapid: crate::push::vapid::VapidKeys,
    /// VAPID `sub`.
    pub vapid_subject: String,
    /// Test-only: allow `http://` push endpoints and API bases.
    pub push_allow_http: bool,
    pub public_url: String,
    pub telegram_api_base: String,
    pub elevenlabs_api_key: Option<String>,
    pub elevenlabs_agent_id: Option<String>,
    pub elevenlabs_api_base: String,
    /// The voice provider variables set at start-up (`voice_providers::CREDENTIAL_KEYS`, …).
    pub voice_env: Vec<(String, String)>,
    /// Where stored voice credentials live (`HAPI_HOME`); `None` keeps them in memory.
    pub voice_home: Option<std::path::PathBuf>,
    /// Prune inactive sessions not updated for this many days.
    pub retention_days: Option<u64>,
    /// Scratch-list attachment directory and limits.
    pub scratchlist: scratchlist::ScratchConfig,
    /// `HAPI_HOME` (settings.json) and the database file; `None` in tests (memory only).
    pub home: Option<std::path::PathBuf>,
    pub db_path: Option<std::path::PathBuf>,
    /// The web-edited summary switches (hub_settings.rs).
    pub summary: hub_settings::SummaryFlags,
}

impl HubSettings {
    /// Settings for unit tests and benchmarks: nothing outbound configured, a fresh VAPID
    /// key pair, a fixed JWT secret.
    #[doc(hidden)]
    pub fn for_tests() -> HubSettings {
        let vapid = crate::push::vapid::VapidKeys::generate();
        HubSettings {
            cli_api_token: "test-token".into(),
            jwt_secret: [7; 32],
            owner_id: 1,
            jwt_ttl_secs: 900,
            telegram_bot_token: None,
            telegram_notification: false,
            terminal_idle_timeout_ms: 60_000,
            terminal_max: 4,
            vapid_public: vapid.public_b64(),
            vapid,
            vapid_subject: "mailto:test@example.invalid".into(),
            push_allow_http: false,
            public_url: "http://127.0.0.1".into(),
            telegram_api_base: "http://127.0.0.1:9".into(),
            elevenlabs_api_key: None,
            elevenlabs_agent_id: None,
            elevenlabs_api_base: "http://127.0.0.1:9".into(),
            voice_env: Vec::new(),
            voice_home: None,
            retention_days: None,
            scratchlist: scratchlist::ScratchConfig::for_tests(),
            home: None,
            db_path: None,
            summary: Default::default(),
        }
    }
}

/// The hub.
pub struct Hub {
    pub settings: HubSettings,
    pub store: Store,
    pub sessions: HashMap<String, Session>,
    pub machines: HashMap<String, Machine>,
    pub events: events::Events,
    pub cli: cli::Cli,
    pub notify: notify::Notify,
    pub terminals: terminal::Terminals,
    pub usage: usage::UsageState,
    /// Resumes waiting for their new session.
    pub resumes: Vec<resume::Waiting>,
    /// Web Push retries and counters.
    pub push: push::PushState,
    /// The Telegram bot, when configured.
    pub telegram: Option<telegram::Bot>,
    /// Voice token chains and the agent cache.
    pub voice: voice::Voice,
    /// Voice providers: the environment and the stored credentials.
    pub voice_env: voice_providers::ProviderEnv,
    /// Failed-credential throttling and the answers it holds.
    pub gate: gate::Gate,
    /// Sessions pruned by retention.
    pub retained: u64,
    /// When the next retention batch may run, while a prune is in progress.
    pub retention_due: Option<Instant>,
    /// Outbound requests in flight, by id.
    pub outbound: HashMap<u64, OutOwner>,
    next_outbound: u64,
    /// Effects waiting for the end of the turn.
    pub fx: Vec<Effect>,
    /// The armed deadline of each kind of hub timer.
    pub timers: Timers,
    /// Scheduled messages announced in this process.
    pub schedule: messages::Schedule,
    /// Cancels and retries waiting for the CLI's acks.
    pub asks: queue::Asks,
}

/// Heartbeat period of event streams (spec/sse.md §3.1).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
/// A session without an alive for this long becomes inactive (spec/lifecycle.md §3.5).
pub const SESSION_ALIVE_TTL_MS: i64 = 30_000;
/// A machine without an alive for this long becomes inactive (spec/lifecycle.md §4.2).
pub const MACHINE_ALIVE_TTL_MS: i64 = 45_000;

/// The monotonic deadline of the wall-clock time `at_ms + ttl_ms`, as of `now` (for stored or
/// peer-sent times that decide a deadline: converted once, when the time is learnt).
pub fn mono_deadline(now: Now, at_ms: i64, ttl_ms: i64) -> Instant {
    let left = at_ms
        .saturating_add(ttl_ms)
        .saturating_sub(now.unix_ms)
        .max(0);
    now.mono + Duration::from_millis(left as u64)
}

/// When a session or machine last alive at `active_at_ms` becomes inactive: the first
/// millisecond at which its silence is *more* than `ttl_ms` (spec/lifecycle.md §3.5: the
/// outcome must fall in (ttl, ttl + 5 s]).
pub fn inactive_at(now: Now, active_at_ms: i64, ttl_ms: i64) -> Instant {
    mono_deadline(now, active_at_ms, ttl_ms.saturating_add(1))
}

impl Hub {
    /// Loads every session and machine from the store.
    pub fn new(settings: HubSettings, store: Store, now: Now) -> Result<Hub, StoreError> {
        let mut sessions: HashMap<String, Session> = store
            .load_sessions()?
            .into_iter()
            .map(|r| (r.id.clone(), Session::from_row(r)))
            .collect();
        for (id, max) in store.max_message_seqs()? {
            if let Some(s) = sessions.get_mut(&id) {
                s.max_msg_seq = max;
            }
        }
        for (id, epoch) in store.message_epochs()? {
            if let Some(s) = sessions.get_mut(&id) {
                s.message_epoch = epoch;
            }
        }
        let machines: HashMap<String, Machine> = store
            .load_machines()?
            .into_iter()
            .map(|r| {
                let mut m = Machine::from_row(r);
                // A machine stored active expires as if its last alive were its stored time.
                if m.active {
                    m.alive_until = Some(inactive_at(now, m.active_at, MACHINE_ALIVE_TTL_MS));
                }
                (m.id.clone(), m)
            })
            .collect();
        let notify = notify::Notify {
            telegram_enabled: settings.telegram_bot_token.is_some()
                && settings.telegram_notification,
            ..Default::default()
        };
        let terminals = terminal::Terminals {
            idle_timeout: Duration::from_millis(settings.terminal_idle_timeout_ms),
            max_per: settings.terminal_max,
            ..Default::default()
        };
        usage::backfill(&store)?;
        let mut hub = Hub {
            usage: usage::UsageState::default(),
            cli: cli::Cli::default(),
            resumes: Vec::new(),
            push: push::PushState::default(),
            gate: gate::Gate::default(),
            retained: 0,
            retention_due: None,
            telegram: settings.telegram_bot_token.clone().map(|t| {
                telegram::Bot::new(
                    t,
                    settings.telegram_api_base.clone(),
                    settings.public_url.clone(),
                )
            }),
            voice: voice::Voice::new(
                settings.elevenlabs_api_key.clone(),
                settings.elevenlabs_agent_id.clone(),
                settings.elevenlabs_api_base.clone(),
            ),
            voice_env: voice_providers::ProviderEnv::from_settings(&settings),
            outbound: HashMap::new(),
            next_outbound: 1,
            notify,
            terminals,
            settings,
            store,
            sessions,
            machines,
            events: events::Events::new(now),
            fx: Vec::new(),
            timers: Timers::default(),
            schedule: messages::Schedule::default(),
            asks: queue::Asks::default(),
        };
        // The start-up work: the bot's first calls, a prune, the expiry of stored machines
        // (queued now, applied after the reactor's first commit).
        hub.telegram_drive(now);
        if hub.settings.retention_days.is_some() {
            hub.arm(HubTimer::Retention, now.mono);
        }
        hub.arm_expiry();
        // Scheduled messages due while the hub was down go out on the first turn; the fire
        // arms the next due time.
        hub.arm(HubTimer::Schedule, now.mono);
        hub.load_pins()?;
        Ok(hub)
    }

    /// Arms a hub timer (see [`timers`]).
    pub fn arm(&mut self, t: HubTimer, at: Instant) {
        self.timers.arm(t, at, &mut self.fx);
    }

    /// A hub timer is due (it may be late or doubled: each handler re-checks and re-arms).
    pub fn on_timer(&mut self, key: u64, now: Now) {
        let Some(t) = self.timers.fired(key, now.mono) else {
            return;
        };
        match t {
            HubTimer::RpcTimeout => self.rpc_timeouts(now),
            HubTimer::ResumeWait => self.resume_check(now),
            HubTimer::NotifyDebounce => self.notify_due(now),
            HubTimer::PushRetry => self.push_retries(now),
            HubTimer::Telegram => self.telegram_drive(now),
            HubTimer::AliveExpiry => self.expire(now),
            HubTimer::Heartbeat => self.heartbeat(now),
            HubTimer::TerminalIdle => self.terminal_idle(now),
            HubTimer::Retention => self.retention(now),
            HubTimer::HeldAnswers => self.release_held(now),
            HubTimer::Schedule => self.schedule_due(now),
        }
    }

    /// Event-stream heartbeats, every [`HEARTBEAT_EVERY`] while a stream is open.
    fn heartbeat(&mut self, now: Now) {
        if self.events.is_empty() {
            return;
        }
        self.events.heartbeat(now, &mut self.fx);
        self.arm(HubTimer::Heartbeat, now.mono + HEARTBEAT_EVERY);
    }

    /// Opens an event stream (and its heartbeat).
    pub fn open_stream(
        &mut self,
        sub: events::Subscription,
        last_event_id: Option<&str>,
        now: Now,
    ) -> events::Opened {
        let opened = self.events.open(sub, last_event_id, &mut self.fx);
        self.arm(HubTimer::Heartbeat, now.mono + HEARTBEAT_EVERY);
        opened
    }

    /// Marks sessions (30 s) and machines (45 s) without alive inactive (spec/lifecycle.md §3.5).
    fn expire(&mut self, now: Now) {
        let mut out = Vec::new();
        for s in self.sessions.values_mut() {
            if s.active && s.alive_until.is_some_and(|u| u <= now.mono) {
                s.active = false;
                s.thinking = false;
                s.alive_until = None;
                out.push((s.namespace.clone(), serde_json::json!({"type": "session-updated", "sessionId": s.id, "data": {"active": false}})));
            }
        }
        for m in self.machines.values_mut() {
            if m.active && m.alive_until.is_some_and(|u| u <= now.mono) {
                m.active = false;
                m.alive_until = None;
                out.push((m.namespace.clone(), serde_json::json!({"type": "machine-updated", "machineId": m.id, "data": {"active": false}})));
            }
        }
        for (ns, ev) in out {
            self.events.publish(&ns, ev, &mut self.fx);
        }
        self.arm_expiry();
        self.resume_check(now);
    }

    /// Arms the expiry timer for the earliest alive deadline, if any.
    pub(crate) fn arm_expiry(&mut self) {
        let sessions = self
            .sessions
            .values()
            .filter(|s| s.active)
            .filter_map(|s| s.alive_until);
        let machines = self
            .machines
            .values()
            .filter(|m| m.active)
            .filter_map(|m| m.alive_until);
        if let Some(at) = sessions.chain(machines).min() {
            self.arm(HubTimer::AliveExpiry, at);
        }
    }

    /// Registers an outbound request's owner; returns its id.
    pub fn outbound_id(&mut self, owner: OutOwner) -> u64 {
        let id = self.next_outbound;
        self.next_outbound += 1;
        self.outbound.insert(id, owner);
        id
    }

    /// An outbound request finished.
    pub fn outbound_done(
        &mut self,
        id: u64,
        result: Result<crate::http::client::ClientResponse, String>,
        now: Now,
    ) {
        match self.outbound.remove(&id) {
            Some(OutOwner::Push(a)) => self.push_done(a, result, now),
            Some(OutOwner::Telegram(call)) => self.telegram_done(call, result, now),
            Some(OutOwner::Voice { chain, step, agent }) => {
                self.voice_done(chain, step, agent, result, now)
            }
            Some(OutOwner::VoiceCall { conn, call }) => self.voice_call_done(conn, call, result),
            None => {}
        }
    }

    /// A connection closed: forget what it owned.
    pub fn conn_closed(&mut self, conn: ConnId) {
        self.events.close_conn(conn);
        self.voice_conn_closed(conn);
        self.voice_calls_closed(conn);
    }

    /// The `GET /api/sessions` body of a namespace, `{"sessions":[...]}` (spec/rest.md §1.6),
    /// serialized straight from the sessions (see [`model::SessionList`]).
    ///
    /// `limit` (already clamped to 1..=500) applies after sorting; `by_updated` sorts by
    /// `updatedAt` alone (CONTRACT.md §7). The scheduled-message counts are read from the
    /// store as of `now` (one grouped query over the partial index of waiting messages).
    pub fn session_summaries(
        &mut self,
        ns: &str,
        limit: Option<usize>,
        by_updated: bool,
        now: Now,
    ) -> Vec<u8> {
        let counts = self.store.future_scheduled(now.unix_ms).unwrap_or_default();
        for s in self.sessions.values_mut().filter(|s| s.namespace == ns) {
            s.future_scheduled = (0, None);
        }
        for (sid, n, next) in counts {
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.future_scheduled = (n, Some(next));
            }
        }
        let mut v: Vec<&Session> = self
            .sessions
            .values()
            .filter(|s| s.namespace == ns)
            .collect();
        // spec/rest.md §3.1: active first; among active, more pending requests first; then
        // most recently updated.
        v.sort_by(|a, b| {
            if by_updated {
                return b
                    .updated_at
                    .cmp(&a.updated_at)
                    .then_with(|| a.created_at.cmp(&b.created_at));
            }
            // Pins first (src/hub/actions.rs).
            (a.pin.rank().cmp(&b.pin.rank()))
                .then_with(|| b.active.cmp(&a.active))
                .then_with(|| {
                    if a.active && b.active {
                        b.pending_request_count().cmp(&a.pending_request_count())
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .then_with(|| b.updated_at.cmp(&a.updated_at))
                .then_with(|| a.created_at.cmp(&b.created_at))
        });
        if let Some(n) = limit {
            v.truncate(n);
        }
        model::SessionList(&v).to_vec()
    }

    /// A session of this namespace (another namespace's answers like a missing one).
    pub fn session(&self, ns: &str, id: &str) -> Result<&Session, HubError> {
        self.sessions
            .get(id)
            .filter(|s| s.namespace == ns)
            .ok_or(HubError::NotFound)
    }

    /// A machine of this namespace.
    pub fn machine(&self, ns: &str, id: &str) -> Result<&Machine, HubError> {
        self.machines
            .get(id)
            .filter(|m| m.namespace == ns)
            .ok_or(HubError::NotFound)
    }
}

/// A random UUID v4 (lowercase, hyphenated).
///
/// The 122 random bits come from the OS generator, drawn 512 bytes at a time: one `getrandom`
/// call per 32 ids instead of one per id (two ids per ingested message), and the text is
/// written without a `format!` per byte.
pub fn uuid_v4() -> String {
    thread_local! {
        static POOL: std::cell::RefCell<([u8; 512], usize)> =
            const { std::cell::RefCell::new(([0; 512], 512)) };
    }
    let mut b = [0u8; 16];
    POOL.with_borrow_mut(|(pool, used)| {
        if *used + 16 > pool.len() {
            // getrandom only fails without an OS RNG, where startup has already failed.
            let _ = getrandom::getrandom(pool);
            *used = 0;
        }
        b.copy_from_slice(&pool[*used..*used + 16]);
        // Never hand out the same bytes twice.
        pool[*used..*used + 16].fill(0);
        *used += 16;
    });
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[usize::from(x >> 4)] as char);
        out.push(HEX[usize::from(x & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_are_v4_shaped_and_distinct_across_pool_refills() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| super::uuid_v4()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let b = id.as_bytes();
            assert_eq!(b.len(), 36, "{id}");
            assert!([8, 13, 18, 23].iter().all(|&i| b[i] == b'-'), "{id}");
            assert_eq!(b[14], b'4', "{id}");
            assert!(matches!(b[19], b'8' | b'9' | b'a' | b'b'), "{id}");
            assert!(
                id.bytes()
                    .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
                "{id}"
            );
        }
    }
}
