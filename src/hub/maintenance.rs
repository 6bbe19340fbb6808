//! Operations: retention of old inactive sessions in bounded batches, and the hub's part of
//! `/metrics`.

use super::timers::HubTimer;
use super::{Hub, Now};
use std::fmt::Write as _;
use std::time::Duration;

/// Messages deleted per retention batch: one batch (delete and commit, without a
/// checkpoint) takes a fraction of a millisecond.
const RETENTION_BATCH: i64 = 25;
/// Shortest pause between two retention batches (ms).
pub const RETENTION_PAUSE_MS: i64 = 25;
/// With nothing to prune, retention looks again after this long (the victims are found by
/// wall-clock age, and a Pi's clock may step by years at boot, so no exact date is trusted).
const RETENTION_RECHECK: Duration = Duration::from_secs(3600);
/// Largest share of the loop's time retention may take, in percent: after a batch that took
/// `d`, the next one waits `d × (100 / share − 1)`. A batch whose commit ran a WAL
/// checkpoint (two fsyncs) is followed by a longer pause, so a slow disk (an SD card) prunes
/// more slowly instead of delaying requests.
const RETENTION_SHARE_PERCENT: f64 = 1.0;

/// The pause after a retention batch that took `took` (see [`RETENTION_SHARE_PERCENT`]).
fn retention_pause_ms(took: std::time::Duration) -> i64 {
    let ms = took.as_secs_f64() * 1000.0 * (100.0 / RETENTION_SHARE_PERCENT - 1.0);
    (ms.ceil() as i64).clamp(RETENTION_PAUSE_MS, 60_000)
}

impl Hub {
    /// Deletes inactive sessions not updated for `retention_days` days, [`RETENTION_BATCH`]
    /// messages per batch and paced by [`RETENTION_SHARE_PERCENT`], so a large prune never
    /// stalls the loop (the retention timer: at start, between batches, and every
    /// [`RETENTION_RECHECK`] while inactive sessions exist).
    pub fn retention(&mut self, now: Now) {
        let Some(days) = self.settings.retention_days else {
            return;
        };
        if self.retention_due.is_some_and(|d| now.mono < d) {
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
            if self.sessions.values().any(|s| !s.active) {
                self.arm(HubTimer::Retention, now.mono + RETENTION_RECHECK);
            }
            return;
        };
        // Its own no-fsync commit (see `Store::housekeeping`); skipped for now when this turn
        // already has writes that replies wait on.
        let deleted = self
            .store
            .housekeeping(|st| st.delete_messages_batch(&victim, RETENTION_BATCH));
        let took = match deleted {
            Ok(Some((n, took))) => {
                if n < RETENTION_BATCH as usize {
                    let _ = self.delete_session(&victim);
                    self.retained += 1;
                }
                took
            }
            Ok(None) => std::time::Duration::ZERO,
            Err(e) => return crate::log::warn(&format!("retention: {e}")),
        };
        // More may be left: come back after a pause in proportion to what this batch cost.
        let at = now.mono + Duration::from_millis(retention_pause_ms(took) as u64);
        self.retention_due = Some(at);
        self.arm(HubTimer::Retention, at);
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
            "# HELP hapid_auth_failures_total Failed credential checks.\n# TYPE hapid_auth_failures_total counter\nhapid_auth_failures_total {}\n# HELP hapid_auth_held_total Failed credential checks whose answer was held.\n# TYPE hapid_auth_held_total counter\nhapid_auth_held_total {}\n# HELP hapid_auth_held_waiting Answers held now.\n# TYPE hapid_auth_held_waiting gauge\nhapid_auth_held_waiting {}",
            self.gate.failures(),
            self.gate.held_total(),
            self.gate.waiting()
        );
        let st = &self.store.stats;
        st.commit
            .write_prometheus(out, "hapid_commit_seconds", "Group commit latency.");
        st.housekeeping.write_prometheus(
            out,
            "hapid_housekeeping_seconds",
            "Retention batch latency (delete, commit and any checkpoint it triggers).",
        );
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
    use crate::hub::HubSettings;
    use crate::store::{MessageRow, SessionRow, Store};

    const DAY: i64 = 86_400_000;

    fn row(id: &str, updated_at: i64) -> SessionRow {
        SessionRow {
            id: id.into(),
            namespace: "default".into(),
            created_at: updated_at,
            updated_at,
            active_at: Some(updated_at),
            metadata_version: 1,
            agent_state_version: 1,
            ..SessionRow::default()
        }
    }

    /// A hub over a real database file holding `sessions` (id, last update, message count).
    fn hub_with(sessions: &[(&str, i64, i64)], now: Now) -> (Hub, std::path::PathBuf) {
        let mut b = [0u8; 8];
        getrandom::getrandom(&mut b).unwrap();
        let dir = std::env::temp_dir().join(format!("hapid-ret-{:x}", u64::from_le_bytes(b)));
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = Store::open(&dir.join("t.db")).unwrap();
        for (id, at, n) in sessions {
            store.put_session(&row(id, *at)).unwrap();
            for seq in 1..=*n {
                let m = MessageRow {
                    id: format!("{id}-{seq}"),
                    seq,
                    local_id: None,
                    content: "{}".into(),
                    created_at: *at,
                    invoked_at: Some(*at),
                    ..MessageRow::default()
                };
                store.insert_message(id, &m).unwrap();
            }
        }
        store.commit().unwrap();
        let mut settings = HubSettings::for_tests();
        settings.retention_days = Some(30);
        (Hub::new(settings, store, now).unwrap(), dir)
    }

    #[test]
    fn retention_prunes_only_old_inactive_sessions_in_paced_batches() {
        let now0 = Now::read();
        let old = now0.unix_ms - 60 * DAY;
        let (mut hub, dir) = hub_with(
            &[
                ("old-a", old, 60),
                ("old-b", old - DAY, 7),
                ("old-live", old, 5),
                ("recent", now0.unix_ms - DAY, 9),
            ],
            now0,
        );
        hub.sessions.get_mut("old-live").unwrap().active = true;
        let mut now = now0;
        let mut batches = 0;
        while hub.sessions.contains_key("old-a") || hub.sessions.contains_key("old-b") {
            hub.retention(now);
            hub.store.commit().unwrap();
            batches += 1;
            assert!(batches < 20, "retention does not finish");
            let due = hub
                .retention_due
                .expect("a prune in progress schedules its next batch");
            assert!(due - now.mono >= Duration::from_millis(RETENTION_PAUSE_MS as u64));
            // Not yet due: nothing happens.
            let before = hub.store.message_count().unwrap();
            hub.retention(now);
            assert_eq!(hub.store.message_count().unwrap(), before);
            now.mono = due;
        }
        // The oldest goes first, at most RETENTION_BATCH messages a batch: 7 + 60 = 1 + 3 batches.
        assert_eq!(batches, 4);
        assert_eq!(hub.retained, 2);
        let mut left: Vec<_> = hub.sessions.keys().cloned().collect();
        left.sort();
        assert_eq!(left, ["old-live", "recent"]);
        assert_eq!(hub.store.message_count().unwrap(), 5 + 9);
        let stored: Vec<_> = hub
            .store
            .load_sessions()
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(stored.len(), 2);
        // Nothing left to do: the next turn finds no victim and stops scheduling.
        hub.retention(now);
        assert_eq!(hub.retention_due, None);
        assert_eq!(hub.store.stats.housekeeping.count, 4);
        assert!(hub.store.integrity_ok());
        drop(hub);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn retention_waits_for_pending_durable_writes() {
        let now = Now::read();
        let (mut hub, dir) = hub_with(&[("old", now.unix_ms - 60 * DAY, 3)], now);
        // A write of this turn that a reply waits on: retention must not commit it early.
        hub.store.put_session(&row("new", now.unix_ms)).unwrap();
        hub.retention(now);
        assert_eq!(hub.store.message_count().unwrap(), 3);
        assert!(hub.store.dirty(), "the turn's transaction is still open");
        hub.store.commit().unwrap();
        let later = Now {
            mono: hub.retention_due.unwrap(),
            ..now
        };
        hub.retention(later);
        hub.store.commit().unwrap();
        assert!(!hub.sessions.contains_key("old"));
        drop(hub);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn pause_grows_with_the_cost_of_a_batch() {
        assert_eq!(retention_pause_ms(Duration::ZERO), RETENTION_PAUSE_MS);
        assert_eq!(retention_pause_ms(Duration::from_millis(2)), 198);
        assert_eq!(retention_pause_ms(Duration::from_secs(5)), 60_000);
    }
}
