//! `POST /api/sessions/:id/resume` adapter (the logic lives in `hub::resume`).

use super::Outcome;
use crate::app::{ConnId, Now};
use crate::hub::Hub;

/// Starts a resume: an immediate answer, or deferred until the new session is active.
pub fn resume(hub: &mut Hub, ns: &str, sid: &str, conn: ConnId, now: Now) -> Outcome {
    match hub.resume(ns, sid, conn, now) {
        Some(r) => Outcome::Reply(r),
        None => Outcome::Deferred,
    }
}
