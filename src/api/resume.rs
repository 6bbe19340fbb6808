//! `POST /api/sessions/:id/resume` and `…/reopen` adapter (the logic lives in `hub::resume`).

use super::Outcome;
use crate::app::{ConnId, Now};
use crate::hub::Hub;

/// Starts a resume or reopen: an immediate answer, or deferred until the session is active.
pub fn resume(hub: &mut Hub, ns: &str, sid: &str, reopen: bool, conn: ConnId, now: Now) -> Outcome {
    match hub.resume(ns, sid, reopen, conn, now) {
        Some(r) => Outcome::Reply(r),
        None => Outcome::Deferred,
    }
}
