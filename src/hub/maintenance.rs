//! Operations: auth-failure throttling per client address, retention of old inactive
//! sessions in bounded batches, and the hub's part of `/metrics`.

use super::{Hub, Now};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Failures before delays start.
const FREE_FAILURES: u32 = 5;
/// Longest delay imposed.
const MAX_DELAY_MS: i64 = 60_000;
/// Addresses tracked; the stalest entry goes first when full.
const TABLE_CAP: usize = 4096;
/// Forget an address after this long without failures.
const FORGET_MS: i64 = 15 * 60_000;
/// Messages deleted per retention batch, and the pause between batches: small commits
/// spread over time keep the loop's latency flat (one 2000-row batch per second stalled
/// concurrent requests for 40-65 ms).
const RETENTION_BATCH: i64 = 25;
pub const RETENTION_PAUSE_MS: i64 = 25;

/// Failed-auth bookkeeping.
#[derive(Debug, Default)]
pub struct Throttle {
    table: HashMap<IpAddr, (u32, i64)>,
    /// Requests refused while throttled.
    pub refused: u64,
    /// Failures recorded.
    pub failures: u64,
}

impl Throttle {
    /// Milliseconds the address must still wait, if it is throttled.
    pub fn wait_ms(&self, ip: IpAddr, now: Now) -> Option<i64> {
        let (n, last) = *self.table.get(&ip)?;
        if n < FREE_FAILURES {
            return None;
        }
        let delay = (100i64 << (n - FREE_FAILURES).min(20)).min(MAX_DELAY_MS);
        let left = last + delay - now.unix_ms;
        (left > 0).then_some(left)
    }

    /// Records a failure (logged at powers of two, never with the token).
    pub fn fail(&mut self, ip: IpAddr, now: Now) {
        self.failures += 1;
        if self.table.len() >= TABLE_CAP && !self.table.contains_key(&ip) {
            self.table
                .retain(|_, (_, last)| now.unix_ms - *last < FORGET_MS);
            if self.table.len() >= TABLE_CAP
                && let Some(oldest) = self
                    .table
                    .iter()
                    .min_by_key(|(_, (_, l))| *l)
                    .map(|(k, _)| *k)
            {
                self.table.remove(&oldest);
            }
        }
        let e = self.table.entry(ip).or_insert((0, now.unix_ms));
        e.0 = e.0.saturating_add(1);
        e.1 = now.unix_ms;
        if e.0 == FREE_FAILURES || (e.0.is_power_of_two() && e.0 > FREE_FAILURES) {
            crate::log::warn(&format!(
                "auth: {} failed attempts from {ip}; slowing it down",
                e.0
            ));
        }
    }

    /// A success clears the address.
    pub fn succeed(&mut self, ip: IpAddr) {
        self.table.remove(&ip);
    }
}

impl Hub {
    /// Deletes inactive sessions not updated for `days` days, a few hundred messages per
    /// batch, so a large prune never stalls the loop (called from the tick).
    pub fn retention(&mut self, days: u64, now: Now) {
        if self.retention_due.is_some_and(|d| now.unix_ms < d) {
            return;
        }
        self.retention_due = None;
        let cutoff = now.unix_ms - (days as i64).saturating_mul(86_400_000);
        let Some(victim) = self
            .sessions
            .values()
            .filter(|s| !s.active && s.updated_at < cutoff && s.active_at < cutoff)
            .min_by_key(|s| s.updated_at)
            .map(|s| s.id.clone())
        else {
            return;
        };
        // Its own no-fsync commit (see `Store::housekeeping`); skipped for now when this turn
        // already has writes that replies wait on.
        let deleted = self
            .store
            .housekeeping(|st| st.delete_messages_batch(&victim, RETENTION_BATCH));
        match deleted {
            Ok(Some(n)) if n < RETENTION_BATCH as usize => {
                let _ = self.delete_session(&victim);
                self.retained += 1;
            }
            Ok(_) => {}
            Err(e) => return crate::log::warn(&format!("retention: {e}")),
        }
        // More may be left: come back shortly (through `Hub::next_due`), not on the next tick.
        self.retention_due = Some(now.unix_ms + RETENTION_PAUSE_MS);
    }

    /// The hub's metrics in Prometheus text format.
    pub fn metrics(&self, out: &mut String) {
        let mut gauge = |name: &str, help: &str, v: f64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
            );
        };
        gauge(
            "hapid_sessions",
            "Sessions known.",
            self.sessions.len() as f64,
        );
        gauge(
            "hapid_sessions_active",
            "Sessions with a live CLI.",
            self.sessions.values().filter(|s| s.active).count() as f64,
        );
        gauge(
            "hapid_machines_active",
            "Machines online.",
            self.machines.values().filter(|m| m.active).count() as f64,
        );
        gauge(
            "hapid_sse_subscribers",
            "Open event streams.",
            self.events.len() as f64,
        );
        gauge(
            "hapid_cli_sockets",
            "Connected /cli sockets.",
            self.cli.sockets.len() as f64,
        );
        gauge(
            "hapid_rpc_pending",
            "RPC calls waiting for the CLI.",
            self.cli.pending.len() as f64,
        );
        gauge(
            "hapid_outbound_pending",
            "Outbound requests in flight.",
            self.outbound.len() as f64,
        );
        gauge(
            "hapid_push_retry_queue",
            "Web Push retries waiting.",
            self.push.retry.len() as f64,
        );
        gauge(
            "hapid_db_size_bytes",
            "Database size.",
            self.store.size_bytes() as f64,
        );
        let p = &self.push.stats;
        let _ = writeln!(
            out,
            "# HELP hapid_push_total Web Push deliveries by outcome.\n# TYPE hapid_push_total counter"
        );
        for (k, v) in [
            ("sent", p.sent),
            ("delivered", p.delivered),
            ("gone", p.gone),
            ("failed", p.failed),
            ("retried", p.retried),
            ("skipped", p.skipped),
        ] {
            let _ = writeln!(out, "hapid_push_total{{outcome=\"{k}\"}} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP hapid_telegram_total Telegram calls by outcome.\n# TYPE hapid_telegram_total counter"
        );
        let (tg_ok, tg_fail) = self.telegram.as_ref().map_or((0, 0), |b| b.stats);
        let _ = writeln!(
            out,
            "hapid_telegram_total{{outcome=\"sent\"}} {tg_ok}\nhapid_telegram_total{{outcome=\"failed\"}} {tg_fail}"
        );
        let _ = writeln!(
            out,
            "# HELP hapid_notifications_total Notifications produced and toasts shown.\n# TYPE hapid_notifications_total counter\nhapid_notifications_total{{kind=\"produced\"}} {}\nhapid_notifications_total{{kind=\"toast\"}} {}",
            self.notify.produced, self.notify.toasts
        );
        let _ = writeln!(
            out,
            "# HELP hapid_auth_failures_total Failed authentications.\n# TYPE hapid_auth_failures_total counter\nhapid_auth_failures_total {}\n# HELP hapid_auth_throttled_total Requests refused while throttled.\n# TYPE hapid_auth_throttled_total counter\nhapid_auth_throttled_total {}",
            self.throttle.failures, self.throttle.refused
        );
        let st = &self.store.stats;
        let _ = writeln!(
            out,
            "# HELP hapid_commit_seconds Group commit latency.\n# TYPE hapid_commit_seconds histogram"
        );
        let mut cum = 0;
        for (i, b) in crate::store::COMMIT_BUCKETS_MS.iter().enumerate() {
            cum += st.commit_hist[i];
            let _ = writeln!(
                out,
                "hapid_commit_seconds_bucket{{le=\"{}\"}} {cum}",
                b / 1000.0
            );
        }
        cum += st.commit_hist[7];
        let _ = writeln!(out, "hapid_commit_seconds_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(
            out,
            "hapid_commit_seconds_sum {}",
            st.commit_us_sum as f64 / 1e6
        );
        let _ = writeln!(out, "hapid_commit_seconds_count {}", st.commits);
        let _ = writeln!(
            out,
            "# HELP hapid_retention_deleted_total Sessions pruned by retention.\n# TYPE hapid_retention_deleted_total counter\nhapid_retention_deleted_total {}",
            self.retained
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_reset() {
        let mut t = Throttle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Now::read();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.wait_ms(ip, now), None);
            t.fail(ip, now);
        }
        assert_eq!(t.wait_ms(ip, now), Some(100));
        for _ in 0..20 {
            t.fail(ip, now);
        }
        assert_eq!(t.wait_ms(ip, now), Some(MAX_DELAY_MS));
        t.succeed(ip);
        assert_eq!(t.wait_ms(ip, now), None);
    }
}
