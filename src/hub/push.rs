//! Web Push delivery (spec/push.md §6–8): one encrypted, VAPID-signed POST per subscription of
//! the namespace, handed to the reactor's outbound client as an effect; the answer deletes
//! gone subscriptions (404/410) or schedules one retry (429/5xx/network), in memory only.

use super::notify::Notification;
use super::timers::HubTimer;
use super::{Effect, Hub, Now};
use crate::http::client::{ClientRequest, ClientResponse, Url};
use crate::push::{ece, vapid};
use std::time::{Duration, Instant};

/// `TTL` header (4 weeks, the web-push default).
const TTL: &str = "2419200";
/// VAPID JWT lifetime (12 h, ≤ 24 h by RFC 8292).
const JWT_LIFETIME_SECS: u64 = 43_200;
/// Whole-exchange timeout of one push request.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries after the first attempt.
const MAX_RETRIES: u8 = 1;
/// Retries waiting at once; beyond this a failed push is counted as failed, not retried
/// (a push service that fails everything must not grow memory without bound).
const MAX_RETRY_QUEUE: usize = 1024;

/// One delivery attempt to one subscription.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub namespace: String,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub payload: String,
    pub retries: u8,
}

/// Push outcome counters (for `/metrics`).
#[derive(Debug, Default, Clone)]
pub struct PushStats {
    pub sent: u64,
    pub delivered: u64,
    pub gone: u64,
    pub failed: u64,
    pub retried: u64,
    pub skipped: u64,
}

/// Retries waiting for their time.
#[derive(Debug, Default)]
pub struct PushState {
    pub retry: Vec<(Instant, Attempt)>,
    pub stats: PushStats,
}

/// A short, non-secret label for an endpoint in logs: its origin.
fn label(endpoint: &str) -> String {
    vapid::origin_of(endpoint).unwrap_or_else(|| "invalid endpoint".into())
}

impl Hub {
    /// Sends a notification to every push subscription of its namespace.
    pub(super) fn push_notification(&mut self, n: &Notification, now: Now) {
        let subs = match self.store.push_subscriptions(&n.namespace) {
            Ok(s) => s,
            Err(e) => return crate::log::warn(&format!("push: cannot read subscriptions: {e}")),
        };
        for s in subs {
            let a = Attempt {
                namespace: s.namespace,
                endpoint: s.endpoint,
                p256dh: s.p256dh,
                auth: s.auth,
                payload: n.push_payload.clone(),
                retries: 0,
            };
            self.push_send(a, now);
        }
    }

    fn push_send(&mut self, a: Attempt, now: Now) {
        let Some(url) =
            Url::parse(&a.endpoint).filter(|u| u.https || self.settings.push_allow_http)
        else {
            self.push.stats.skipped += 1;
            return;
        };
        let body = match ece::encrypt(a.payload.as_bytes(), &a.p256dh, &a.auth) {
            Ok(b) => b,
            Err(e) => {
                self.push.stats.skipped += 1;
                return crate::log::warn(&format!(
                    "push to {}: subscription keys unusable ({e})",
                    label(&a.endpoint)
                ));
            }
        };
        let Some(aud) = vapid::origin_of(&a.endpoint) else {
            self.push.stats.skipped += 1;
            return;
        };
        let auth = self.settings.vapid.authorization(
            &aud,
            now.unix_secs() + JWT_LIFETIME_SECS,
            &self.settings.vapid_subject,
        );
        let req = ClientRequest {
            method: "POST",
            url,
            headers: vec![
                ("TTL".into(), TTL.into()),
                ("Content-Type".into(), "application/octet-stream".into()),
                ("Content-Encoding".into(), "aes128gcm".into()),
                ("Authorization".into(), auth),
                ("Urgency".into(), "normal".into()),
            ],
            body,
        };
        let id = self.outbound_id(super::OutOwner::Push(a));
        self.push.stats.sent += 1;
        self.fx.push(Effect::Outbound {
            id,
            req,
            timeout: PUSH_TIMEOUT,
        });
    }

    /// The push service answered (or the exchange failed).
    pub(super) fn push_done(
        &mut self,
        a: Attempt,
        result: Result<ClientResponse, String>,
        now: Now,
    ) {
        let retry_in = match &result {
            Ok(r) if (200..300).contains(&r.status) => {
                self.push.stats.delivered += 1;
                return;
            }
            Ok(r) if r.status == 404 || r.status == 410 => {
                self.push.stats.gone += 1;
                crate::log::info(&format!(
                    "push to {}: {} — subscription removed",
                    label(&a.endpoint),
                    r.status
                ));
                if let Err(e) = self.store.delete_push(&a.namespace, &a.endpoint) {
                    crate::log::warn(&format!("push: cannot delete subscription: {e}"));
                }
                return;
            }
            Ok(r) if r.status == 429 => {
                // Seconds or an HTTP date (RFC 9110 §10.2.3); 5 s when absent or unreadable.
                let ms = r
                    .header("retry-after")
                    .and_then(|v| crate::http::date::retry_after_ms(v, now.unix_ms))
                    .unwrap_or(5_000);
                Some(ms.clamp(1_000, 60_000))
            }
            Ok(r) if r.status >= 500 => Some(5_000),
            Ok(r) => {
                crate::log::warn(&format!(
                    "push to {}: status {}",
                    label(&a.endpoint),
                    r.status
                ));
                None
            }
            Err(e) => {
                crate::log::warn(&format!("push to {}: {e}", label(&a.endpoint)));
                Some(5_000)
            }
        };
        match retry_in {
            Some(ms) if a.retries < MAX_RETRIES && self.push.retry.len() < MAX_RETRY_QUEUE => {
                self.push.stats.retried += 1;
                let mut a = a;
                a.retries += 1;
                let at = now.mono + Duration::from_millis(ms.max(0) as u64);
                self.push.retry.push((at, a));
                self.arm(HubTimer::PushRetry, at);
            }
            _ => self.push.stats.failed += 1,
        }
    }

    /// Sends retries that are due (the retry timer).
    pub(super) fn push_retries(&mut self, now: Now) {
        if self.push.retry.is_empty() {
            return;
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.push.retry)
            .into_iter()
            .partition(|(t, _)| *t <= now.mono);
        self.push.retry = later;
        if let Some(at) = self.push.retry.iter().map(|(t, _)| *t).min() {
            self.arm(HubTimer::PushRetry, at);
        }
        for (_, a) in due {
            self.push_send(a, now);
        }
    }
}
