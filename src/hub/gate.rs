//! The credential gate: counts failed credential checks in the throttle
//! ([`crate::auth::throttle`]) and holds the answers the throttle says to hold (HTTP replies
//! and Socket.IO CONNECT refusals), releasing them on one hub timer.
//!
//! A route that checks credentials calls [`Gate::failed`] when they fail (or
//! [`Gate::weak_success`] when a weak token succeeds); the api layer then asks
//! [`Gate::take_hold`] once per request and, when there is a hold, hands the finished answer to
//! [`Hub::hold_reply`] instead of sending it. At most [`HELD_CAP`] answers wait; past that they
//! go out at once (the per-address connection cap and the Engine.IO session cap keep the
//! count far below it).

use super::timers::HubTimer;
use super::{Effect, Hub, Now};
use crate::app::{ConnId, ConnectReply, SocketId};
use crate::auth::throttle::Throttle;
use crate::http::Response;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Answers held at most.
pub const HELD_CAP: usize = 4096;

/// A held answer.
#[derive(Debug)]
enum Held {
    Reply {
        conn: ConnId,
        resp: Response,
    },
    Connect {
        socket: SocketId,
        reply: ConnectReply,
    },
}

/// The throttle and the answers it holds.
#[derive(Debug, Default)]
pub struct Gate {
    throttle: Throttle,
    held: BTreeMap<(Instant, u64), Held>,
    seq: u64,
    /// The hold of the request being handled (see [`Gate::take_hold`]).
    request_hold: Duration,
}

impl Gate {
    /// A credential check from `ip` failed: counted; the answer to the request being handled
    /// is to be held as the throttle says.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) {
        let hold = self.throttle.failure(ip, now);
        self.request_hold = self.request_hold.max(hold);
    }

    /// A weak token checked out from `ip`: its answer waits as long as the address's failures
    /// do, so timing tells an attacker nothing (see `crate::auth::throttle`).
    pub fn weak_success(&mut self, ip: IpAddr, now: Instant) {
        let hold = self.throttle.hold_for(ip, now);
        self.request_hold = self.request_hold.max(hold);
    }

    /// How long to hold the answer to the request just handled (and forget it).
    pub fn take_hold(&mut self) -> Duration {
        std::mem::take(&mut self.request_hold)
    }

    /// Credential failures counted since start.
    pub fn failures(&self) -> u64 {
        self.throttle.failures()
    }

    /// Failures whose answer was held.
    pub fn held_total(&self) -> u64 {
        self.throttle.held()
    }

    /// Answers waiting now.
    pub fn waiting(&self) -> usize {
        self.held.len()
    }

    fn push(&mut self, at: Instant, h: Held) -> Result<(), Held> {
        if self.held.len() >= HELD_CAP {
            return Err(h);
        }
        self.seq += 1;
        self.held.insert((at, self.seq), h);
        Ok(())
    }
}

impl Hub {
    /// Sends `resp` on `conn` after `hold` (at once when the queue is full).
    pub fn hold_reply(&mut self, conn: ConnId, resp: Response, hold: Duration, now: Now) {
        let at = now.mono + hold;
        match self.gate.push(at, Held::Reply { conn, resp }) {
            Ok(()) => self.arm(HubTimer::HeldAnswers, at),
            Err(Held::Reply { conn, resp }) => self.fx.push(Effect::Reply { conn, resp }),
            Err(Held::Connect { .. }) => {}
        }
    }

    /// Answers a Socket.IO CONNECT after `hold`; returns what to answer now
    /// ([`ConnectReply::Later`], or the reply itself when nothing is held).
    pub fn hold_connect(
        &mut self,
        socket: SocketId,
        reply: ConnectReply,
        now: Now,
    ) -> ConnectReply {
        let hold = self.gate.take_hold();
        if hold.is_zero() {
            return reply;
        }
        let at = now.mono + hold;
        match self.gate.push(at, Held::Connect { socket, reply }) {
            Ok(()) => {
                self.arm(HubTimer::HeldAnswers, at);
                ConnectReply::Later
            }
            Err(Held::Connect { reply, .. }) => reply,
            Err(Held::Reply { .. }) => ConnectReply::Refused("Invalid token".into()),
        }
    }

    /// The held-answers timer: sends what is due, re-arms for the rest.
    pub(super) fn release_held(&mut self, now: Now) {
        while let Some(entry) = self.gate.held.first_entry() {
            if entry.key().0 > now.mono {
                let at = entry.key().0;
                self.arm(HubTimer::HeldAnswers, at);
                break;
            }
            match entry.remove() {
                Held::Reply { conn, resp } => self.fx.push(Effect::Reply { conn, resp }),
                Held::Connect { socket, reply } => {
                    self.fx.push(Effect::ConnectReply { socket, reply })
                }
            }
        }
    }
}
