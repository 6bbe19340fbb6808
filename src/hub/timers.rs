//! The hub's timers: one key per kind of deadline, armed on the reactor's heap through
//! [`Effect::Timer`] and called back through `Hub::on_timer` (DESIGN.md, "explicit time").
//!
//! Every deadline is an [`Instant`]: an NTP step on a Pi without a clock chip fires nothing
//! early and holds nothing back. Wall-clock milliseconds stay for stored and sent timestamps
//! only (and where a stored wall-clock time decides a deadline, the monotonic deadline is
//! computed from it once, when the time is learnt).
//!
//! A kind is armed only while something waits on it, so an idle hub never wakes up. Each
//! kind remembers its earliest armed deadline; arming a later one is a no-op (the earlier
//! fire re-arms for what is left). A fire may be late or doubled: every handler re-checks
//! its condition and re-arms for its next deadline.

use super::Effect;
use std::time::Instant;

/// What a hub timer is for (its key on the reactor's heap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubTimer {
    /// RPC calls past their deadline fail (spec/cli-protocol.md §7.2).
    RpcTimeout,
    /// Resumes whose new session did not become active in time fail.
    ResumeWait,
    /// Permission notifications whose debounce passed go out (spec/push.md §4.1).
    NotifyDebounce,
    /// Web Push retries whose time came are sent.
    PushRetry,
    /// The Telegram bot's backoff ended or a callback query needs its silent answer.
    Telegram,
    /// Sessions and machines without a recent alive become inactive (spec/lifecycle.md §3.5).
    AliveExpiry,
    /// Event streams get their heartbeat (spec/sse.md §3.1).
    Heartbeat,
    /// Idle web terminals close.
    TerminalIdle,
    /// The next retention batch (paced) or the next retention check.
    Retention,
    /// Answers the credential gate held are due (`hub::gate`).
    HeldAnswers,
    /// The earliest scheduled message is due, or released ones are due to be sent again.
    Schedule,
}

const KINDS: [HubTimer; 11] = [
    HubTimer::RpcTimeout,
    HubTimer::ResumeWait,
    HubTimer::NotifyDebounce,
    HubTimer::PushRetry,
    HubTimer::Telegram,
    HubTimer::AliveExpiry,
    HubTimer::Heartbeat,
    HubTimer::TerminalIdle,
    HubTimer::Retention,
    HubTimer::HeldAnswers,
    HubTimer::Schedule,
];

impl HubTimer {
    /// The key armed on the heap.
    pub fn key(self) -> u64 {
        self as u64
    }

    /// The kind of a key (None: not a hub key).
    pub fn from_key(key: u64) -> Option<HubTimer> {
        KINDS.get(usize::try_from(key).ok()?).copied()
    }
}

/// The earliest armed deadline of each kind.
#[derive(Debug, Default)]
pub struct Timers {
    armed: [Option<Instant>; KINDS.len()],
}

impl Timers {
    /// Asks for a call at `at` unless one at or before `at` is already armed.
    pub fn arm(&mut self, t: HubTimer, at: Instant, fx: &mut Vec<Effect>) {
        let slot = &mut self.armed[t as usize];
        if slot.is_some_and(|a| a <= at) {
            return;
        }
        *slot = Some(at);
        fx.push(Effect::Timer { at, key: t.key() });
    }

    /// A timer fired at `now`: its kind, with the armed deadline cleared when it passed (the
    /// handler re-arms for what is left).
    pub fn fired(&mut self, key: u64, now: Instant) -> Option<HubTimer> {
        let t = HubTimer::from_key(key)?;
        let slot = &mut self.armed[t as usize];
        if slot.is_some_and(|a| a <= now) {
            *slot = None;
        }
        Some(t)
    }

    /// The armed deadline of a kind (tests).
    pub fn armed(&self, t: HubTimer) -> Option<Instant> {
        self.armed[t as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn arms_only_earlier_deadlines_and_clears_on_fire() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        let mut fx = Vec::new();
        t.arm(HubTimer::RpcTimeout, t0 + Duration::from_secs(30), &mut fx);
        t.arm(HubTimer::RpcTimeout, t0 + Duration::from_secs(40), &mut fx);
        assert_eq!(fx.len(), 1, "a later deadline waits for the earlier fire");
        t.arm(HubTimer::RpcTimeout, t0 + Duration::from_secs(10), &mut fx);
        assert_eq!(fx.len(), 2);
        let key = HubTimer::RpcTimeout.key();
        assert_eq!(
            t.fired(key, t0 + Duration::from_secs(10)),
            Some(HubTimer::RpcTimeout)
        );
        assert_eq!(t.armed(HubTimer::RpcTimeout), None);
        for k in KINDS {
            assert_eq!(HubTimer::from_key(k.key()), Some(k));
        }
        assert_eq!(HubTimer::from_key(99), None);
    }
}
