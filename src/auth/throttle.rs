//! Failed-credential throttling that never locks the owner out (issue 20 item 4).
//!
//! The rule: **failures slow down failures**. A request whose credentials check out (a genuine
//! JWT, the CLI token) is answered at once, whatever its address did before; a request whose
//! credentials fail gets its answer *held* for a while that grows with the failures of its
//! address. Nothing is refused for an address's past: a correct token from behind the same NAT
//! or the same reverse proxy as an attacker still gets in.
//!
//! Holding rather than refusing bounds the guesses an attacker can make, and the held answers
//! of one address are **released one after the other**: a failure's answer goes out its hold
//! after the previous held answer of the same address, so opening more connections does not
//! buy more answers. Past the free failures an address gets at most one answer per hold:
//! with [`MAX_HOLD`] = 30 s, 120 guesses an hour, against a generated token of 256 random
//! bits.
//!
//! Keys: an IPv4 address, or the /64 of an IPv6 address (one subscriber's prefix; an IPv4-mapped
//! IPv6 address counts as its IPv4 address). Every address starts with [`FREE_FAILURES`]
//! unheld failures (typos); the hold then doubles from [`FIRST_HOLD`] per failure up to
//! [`MAX_HOLD`]; an address is forgotten [`FORGET`] after its last failure. The table holds
//! at most [`TABLE_CAP`] keys (the stalest goes first), so many keys cannot exhaust memory, and
//! because cycling through keys would reset their counts, a **global budget** holds every
//! failure for [`MAX_HOLD`] while more than [`GLOBAL_FREE_PER_MINUTE`] failures arrived in the
//! last minute from all keys together.
//!
//! A weak token (spec/auth.md §2.1) could be found through the timing of the answers alone (a
//! right guess answered at once among held wrong ones), so for it [`Throttle::hold_for`] gives
//! the address's current hold to successes too: the owner of a weak token behind an attacker's
//! address waits, but is still let in.
//!
//! Sans-IO: time comes in as [`Instant`]s, holds go out as [`Duration`]s; the caller holds the
//! answer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures an address makes before its answers are held.
pub const FREE_FAILURES: u32 = 5;
/// The hold of the first held failure; each further failure doubles it.
pub const FIRST_HOLD: Duration = Duration::from_millis(500);
/// The longest hold.
pub const MAX_HOLD: Duration = Duration::from_secs(30);
/// An address is forgotten this long after its last failure.
pub const FORGET: Duration = Duration::from_secs(15 * 60);
/// Keys tracked at most.
pub const TABLE_CAP: usize = 4096;
/// Failures a minute, from all addresses together, before every failure is held the longest.
pub const GLOBAL_FREE_PER_MINUTE: u32 = 120;

const MINUTE: Duration = Duration::from_secs(60);

/// Whom a failure is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// An IPv4 address.
    V4([u8; 4]),
    /// The /64 prefix of an IPv6 address.
    V6([u8; 8]),
}

impl Key {
    /// The key of a client address.
    pub fn of(ip: IpAddr) -> Key {
        match ip {
            IpAddr::V4(a) => Key::V4(a.octets()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Key::V4(v4.octets()),
                None => {
                    let o = a.octets();
                    Key::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
                }
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    /// When the last held answer of this key goes out (the next one goes a hold later).
    released: Instant,
}

/// The failures of the last two minutes, from every key (a two-bucket sliding window).
#[derive(Debug, Default)]
struct Window {
    /// Start of the current minute.
    start: Option<Instant>,
    current: u32,
    previous: u32,
}

impl Window {
    fn roll(&mut self, now: Instant) {
        let Some(start) = self.start else {
            self.start = Some(now);
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= MINUTE * 2 {
            self.previous = 0;
            self.current = 0;
            self.start = Some(now);
        } else if elapsed >= MINUTE {
            self.previous = self.current;
            self.current = 0;
            self.start = Some(start + MINUTE);
        }
    }

    /// Failures in the minute before `now` (the previous bucket weighted by its overlap).
    fn last_minute(&self, now: Instant) -> u32 {
        let Some(start) = self.start else { return 0 };
        let into = now.saturating_duration_since(start).min(MINUTE);
        let overlap = (MINUTE - into).as_millis() as u64;
        let prev = u64::from(self.previous) * overlap / MINUTE.as_millis() as u64;
        self.current.saturating_add(prev as u32)
    }
}

/// Failed-credential bookkeeping (see the module doc).
#[derive(Debug, Default)]
pub struct Throttle {
    table: HashMap<Key, Entry>,
    global: Window,
    failures: u64,
    held: u64,
}

impl Throttle {
    /// Records a failed credential check from `ip`; returns how long to hold its answer
    /// (zero: answer at once).
    pub fn failure(&mut self, ip: IpAddr, now: Instant) -> Duration {
        self.failures += 1;
        self.global.roll(now);
        self.global.current = self.global.current.saturating_add(1);
        let key = Key::of(ip);
        if !self.table.contains_key(&key) && self.table.len() >= TABLE_CAP {
            self.make_room(now);
        }
        let e = self.table.entry(key).or_insert(Entry {
            failures: 0,
            last: now,
            released: now,
        });
        if now.saturating_duration_since(e.last) >= FORGET {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last = now;
        let n = e.failures;
        if n == FREE_FAILURES + 1 || (n > FREE_FAILURES && n.is_power_of_two()) {
            crate::log::warn(&format!(
                "auth: {n} failed attempts from {ip}; holding its failed answers"
            ));
        }
        let mut hold = hold_after(n);
        if self.global.last_minute(now) > GLOBAL_FREE_PER_MINUTE {
            hold = MAX_HOLD;
        }
        if hold.is_zero() {
            return hold;
        }
        self.held += 1;
        // After the address's answers still waiting, not beside them.
        e.released = e.released.max(now) + hold;
        e.released - now
    }

    /// How long an answer to `ip` is held now, without counting a failure: the hold of its
    /// latest failure, or until its held answers are out if that is later (for successes with
    /// a weak token, see the module doc). Zero for an address without held failures.
    pub fn hold_for(&self, ip: IpAddr, now: Instant) -> Duration {
        match self.table.get(&Key::of(ip)) {
            Some(e) if now.saturating_duration_since(e.last) < FORGET => {
                hold_after(e.failures).max(e.released.saturating_duration_since(now))
            }
            _ => Duration::ZERO,
        }
    }

    /// Failures recorded since start.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Failures whose answer was held.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.table.len()
    }

    /// Frees a slot: forgotten keys first, else the stalest.
    fn make_room(&mut self, now: Instant) {
        self.table
            .retain(|_, e| now.saturating_duration_since(e.last) < FORGET);
        if self.table.len() >= TABLE_CAP
            && let Some(stalest) = self
                .table
                .iter()
                .min_by_key(|(_, e)| e.last)
                .map(|(k, _)| *k)
        {
            self.table.remove(&stalest);
        }
    }
}

/// The hold of an address's `n`th failure.
fn hold_after(n: u32) -> Duration {
    if n <= FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (n - FREE_FAILURES - 1).min(16);
    (FIRST_HOLD * (1u32 << doublings)).min(MAX_HOLD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, last))
    }

    #[test]
    fn the_first_failures_are_free_then_the_hold_doubles_to_the_cap() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        // One failure a minute: each comes after the previous answer went out.
        let holds: Vec<u64> = (0..14)
            .map(|i| {
                t.failure(v4(1), t0 + Duration::from_secs(60 * i))
                    .as_millis() as u64
            })
            .collect();
        assert_eq!(
            holds,
            [
                0, 0, 0, 0, 0, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000
            ]
        );
        assert_eq!(t.failures(), 14);
        assert_eq!(t.held(), 9);
    }

    #[test]
    fn parallel_failures_of_one_address_are_answered_one_hold_after_the_other() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.failure(v4(1), t0), Duration::ZERO);
        }
        // Three at once: 0.5 s, then 1 s after that, then 2 s after that.
        let holds: Vec<u64> = (0..3)
            .map(|_| t.failure(v4(1), t0).as_millis() as u64)
            .collect();
        assert_eq!(holds, [500, 1500, 3500]);
        // Twenty more at once, a minute later: 4, 8, 16, then 30 s apart; one answer per
        // hold, however many connections wait.
        let later = t0 + Duration::from_secs(60);
        let holds: Vec<u64> = (0..20).map(|_| t.failure(v4(1), later).as_secs()).collect();
        assert_eq!(&holds[..5], [4, 12, 28, 58, 88]);
        assert_eq!(holds[19], 4 + 8 + 16 + 17 * 30);
        // The right token with a weak one waits for the queue too.
        assert_eq!(t.hold_for(v4(1), later), Duration::from_secs(538));
    }

    #[test]
    fn other_addresses_are_not_held_for_one_address_failures() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        for _ in 0..20 {
            t.failure(v4(1), t0);
        }
        assert_eq!(t.hold_for(v4(2), t0), Duration::ZERO);
        assert_eq!(t.failure(v4(2), t0), Duration::ZERO);
        assert!(t.hold_for(v4(1), t0) > MAX_HOLD);
    }

    #[test]
    fn an_ipv6_slash_64_is_one_key_and_a_mapped_ipv4_is_its_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Key::of(a), Key::of(b));
        assert_ne!(Key::of(a), Key::of(c));
        let mapped = IpAddr::V6(Ipv4Addr::new(203, 0, 113, 1).to_ipv6_mapped());
        assert_eq!(Key::of(mapped), Key::of(v4(1)));
        assert_eq!(Key::of(IpAddr::V6(Ipv6Addr::LOCALHOST)), Key::V6([0; 8]));
        let t0 = Instant::now();
        let mut t = Throttle::default();
        for i in 0..10u16 {
            let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i, i, i));
            t.failure(ip, t0);
        }
        assert_eq!(t.tracked(), 1);
        // Ten at once from the /64: the last answer after 0.5 + 1 + 2 + 4 + 8 s.
        assert_eq!(t.hold_for(a, t0), Duration::from_millis(15_500));
    }

    #[test]
    fn an_address_is_forgotten_after_a_quiet_quarter_hour() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        for _ in 0..10 {
            t.failure(v4(1), t0);
        }
        assert!(t.hold_for(v4(1), t0 + FORGET - Duration::from_secs(1)) > Duration::ZERO);
        assert_eq!(t.hold_for(v4(1), t0 + FORGET), Duration::ZERO);
        assert_eq!(t.failure(v4(1), t0 + FORGET), Duration::ZERO);
    }

    #[test]
    fn many_keys_fill_the_table_to_its_cap_and_trip_the_global_budget() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let mut held = 0;
        for i in 0..(TABLE_CAP as u32 + 500) {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let at = t0 + Duration::from_millis(u64::from(i));
            if t.failure(ip, at) == MAX_HOLD {
                held += 1;
            }
        }
        assert_eq!(t.tracked(), TABLE_CAP);
        // Every fresh key's first failure would be free; past the global budget none is.
        assert_eq!(held, TABLE_CAP as u32 + 500 - GLOBAL_FREE_PER_MINUTE);
        // Two quiet minutes later the budget is back.
        let later = t0 + Duration::from_secs(300);
        assert_eq!(t.failure(v4(9), later), Duration::ZERO);
    }

    #[test]
    fn the_global_window_slides() {
        let t0 = Instant::now();
        let mut w = Window::default();
        w.roll(t0);
        w.current = 100;
        assert_eq!(w.last_minute(t0 + Duration::from_secs(30)), 100);
        w.roll(t0 + Duration::from_secs(90));
        assert_eq!(w.previous, 100);
        // 30 s into the new minute, half of the previous one still counts.
        assert_eq!(w.last_minute(t0 + Duration::from_secs(90)), 50);
        w.roll(t0 + Duration::from_secs(400));
        assert_eq!(w.last_minute(t0 + Duration::from_secs(400)), 0);
    }
}
