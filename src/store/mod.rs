//! The SQLite store: schema, migrations, typed queries and the group commit.
//!
//! One connection, WAL, `synchronous=FULL`, foreign keys on. The hub holds an exclusive lock
//! on `<db>.lock` so a second hub on the same file fails fast, while readers (`hapid backup`)
//! still can open the database. Writes open a transaction lazily; the reactor
//! calls [`Store::commit`] once per loop turn, before any reply or ack leaves — so
//! everything acknowledged is on disk (spec/storage.md §1, DESIGN.md "durable acks").
//!
//! JSON columns hold the text exactly as received; the hub parses when it loads.

mod actions;
mod messages;
mod schema;
mod scratchlist;
mod usage;

use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::time::{Duration, Instant};

pub use schema::{APPLICATION_ID, SCHEMA_VERSION};

/// Store failures. All are fatal for the operation; a failed commit is fatal for the process
/// (memory may be ahead of disk, and a restart reloads the truth).
#[derive(Debug)]
pub enum StoreError {
    /// SQLite said no.
    Sql(rusqlite::Error),
    /// The file is not a hapid database or has a newer schema.
    Incompatible(String),
    /// SQLite rolled this turn's transaction back on its own (a failed statement under
    /// `SQLITE_FULL`, `SQLITE_IOERR`, …): writes the hub was told succeeded are gone, so the
    /// rest of the turn is refused and its commit fails.
    TurnLost,
    /// The write was refused before it ran: the database's filesystem has less free space
    /// than the reserve ([`Store::guard_space`]). Nothing of the turn is lost; reads go on,
    /// and writes work again once space returns.
    DiskFull,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Sql(e) => write!(f, "database error: {e}"),
            StoreError::Incompatible(m) => f.write_str(m),
            StoreError::TurnLost => {
                f.write_str("the database rolled this turn's writes back (disk full or I/O error)")
            }
            StoreError::DiskFull => f.write_str("not enough free disk space for the database"),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sql(e)
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// A session row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionRow {
    pub id: String,
    pub tag: Option<String>,
    pub namespace: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub active_at: Option<i64>,
    pub metadata: Option<String>,
    pub metadata_version: i64,
    pub agent_state: Option<String>,
    pub agent_state_version: i64,
    pub model: Option<String>,
    pub effort: Option<String>,
    pub model_reasoning_effort: Option<String>,
    pub todos: Option<String>,
    pub todos_updated_at: Option<i64>,
    pub team_state: Option<String>,
    pub team_state_updated_at: Option<i64>,
    pub seq: i64,
}

/// A machine row.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineRow {
    pub id: String,
    pub namespace: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub metadata: Option<String>,
    pub metadata_version: i64,
    pub runner_state: Option<String>,
    pub runner_state_version: i64,
    pub active: bool,
    pub active_at: Option<i64>,
    pub seq: i64,
}

/// A message row (content is JSON text).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessageRow {
    pub id: String,
    pub seq: i64,
    pub local_id: Option<String>,
    pub content: String,
    pub created_at: i64,
    /// When the agent took it; `None` while it is queued.
    pub invoked_at: Option<i64>,
    /// When it is due (wall-clock ms), for a scheduled message.
    pub scheduled_at: Option<i64>,
    /// Where its delivery stands while it is queued.
    pub state: Delivery,
}

pub use messages::{Delivery, Position, position};
pub use scratchlist::{AttachmentRow, EntryRow};
pub use usage::{BUCKET_MS, BucketRow, Counted};

/// A Web Push subscription row.
#[derive(Debug, Clone, PartialEq)]
pub struct PushRow {
    pub namespace: String,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub created_at: i64,
}

/// Counters the metrics endpoint reads.
#[derive(Debug, Default, Clone)]
pub struct StoreStats {
    /// Group commits (the loop's durable commits).
    pub commit: Histogram,
    /// Housekeeping transactions (retention batches), checkpoints they trigger included.
    pub housekeeping: Histogram,
}

/// A latency histogram in the Prometheus shape: cumulative buckets, a sum and a count.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    /// Per-bucket counts (not cumulative); upper bounds in [`BUCKETS_MS`], the last is +Inf.
    pub buckets: [u64; 8],
    /// Sum of the observations in microseconds.
    pub sum_us: u64,
    pub count: u64,
}

/// Upper bounds (ms) of the latency buckets; the last is +Inf.
pub const BUCKETS_MS: [f64; 7] = [1.0, 2.5, 5.0, 10.0, 25.0, 100.0, 1000.0];

impl Histogram {
    /// Records one observation.
    pub fn observe(&mut self, elapsed: std::time::Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        self.count += 1;
        self.sum_us += elapsed.as_micros() as u64;
        let i = BUCKETS_MS.iter().position(|b| ms <= *b).unwrap_or(7);
        self.buckets[i] += 1;
    }

    /// Writes the histogram as Prometheus text (seconds).
    pub fn write_prometheus(&self, out: &mut String, name: &str, help: &str) {
        use std::fmt::Write as _;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            cum += self.buckets[i];
            let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {cum}", b / 1000.0);
        }
        cum += self.buckets[7];
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_us as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

/// The database handle.
pub struct Store {
    conn: Connection,
    /// This turn's transaction was opened by [`Store::begin`] and not yet committed: if SQLite
    /// is back in autocommit mode while this is set, it rolled the turn back by itself.
    turn_open: std::cell::Cell<bool>,
    /// Refuses writes while free space is below a reserve (see [`Store::guard_space`]).
    space: Option<SpaceGuard>,
    /// Statistics for `/metrics`.
    pub stats: StoreStats,
}

/// Free bytes on the database's filesystem, `None` when unknown. The binary supplies it
/// (`statvfs` needs `unsafe`, which the library forbids); tests supply fakes.
pub type SpaceProbe = Box<dyn Fn() -> Option<u64>>;

/// How often the free space is looked at, at most.
const SPACE_CHECK_EVERY: Duration = Duration::from_millis(100);

struct SpaceGuard {
    probe: SpaceProbe,
    reserve: u64,
    /// The last look: when, and whether there was room.
    last: std::cell::Cell<Option<(Instant, bool)>>,
}

const SESSION_COLS: &str = "id, tag, namespace, created_at, updated_at, active_at, metadata, \
    metadata_version, agent_state, agent_state_version, model, effort, model_reasoning_effort, \
    todos, todos_updated_at, team_state, team_state_updated_at, seq";
/// The columns [`message_from_row`] reads, in its order.
const MESSAGE_COLS: &str =
    "id, seq, local_id, content, created_at, invoked_at, scheduled_at, delivery_state";
const MACHINE_COLS: &str = "id, namespace, created_at, updated_at, metadata, metadata_version, \
    runner_state, runner_state_version, active, active_at, seq";

impl Store {
    /// Opens (creating if needed) the database at `path` (`:memory:` for tests) and migrates.
    pub fn open(path: &Path) -> Result<Store> {
        let on_disk = path.as_os_str() != ":memory:";
        let fresh = on_disk && !path.exists();
        if fresh {
            create_private_file(path);
        } else if on_disk {
            refuse_truncated(path)?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Checkpoint every ~400 KB of WAL instead of ~4 MB: smaller, steadier pauses (and a
        // small -wal file on an SD card).
        conn.pragma_update(None, "wal_autocheckpoint", 100)?;
        conn.busy_timeout(Duration::from_millis(5000))?;
        schema::migrate(&conn)?;
        if !fresh && on_disk {
            quick_check(&conn)?;
        }
        chmod_db_files(path);
        Ok(Store {
            conn,
            turn_open: std::cell::Cell::new(false),
            space: None,
            stats: StoreStats::default(),
        })
    }

    /// Refuses every write with [`StoreError::DiskFull`] while `probe` reports less than
    /// `reserve` free bytes (issue 20 item 1). A write that would fill the disk mid-statement
    /// makes SQLite roll the whole turn back (`TurnLost`, and the reactor exits so that no
    /// acknowledgement of it goes out); refusing below a reserve turns that into a clear
    /// per-write error the hub answers (507, a failed ack) while it keeps serving reads. The
    /// reserve must exceed what one turn writes (WAL frames, checkpoint headroom).
    pub fn guard_space(&mut self, probe: SpaceProbe, reserve: u64) {
        self.space = Some(SpaceGuard {
            probe,
            reserve,
            last: std::cell::Cell::new(None),
        });
    }

    /// Whether there is room for writes (always, without a guard).
    fn room(&self) -> bool {
        let Some(g) = &self.space else { return true };
        let now = Instant::now();
        if let Some((at, ok)) = g.last.get()
            && now.duration_since(at) < SPACE_CHECK_EVERY
        {
            return ok;
        }
        let ok = (g.probe)().is_none_or(|free| free >= g.reserve);
        if g.last.get().is_none_or(|(_, was)| was != ok) {
            crate::log::warn(if ok {
                "store: free disk space is back above the reserve; writes resume"
            } else {
                "store: free disk space is below the reserve; refusing writes (HAPID_DISK_RESERVE_MIB)"
            });
        }
        g.last.set(Some((now, ok)));
        ok
    }

    /// Opens the write transaction of this loop turn if none is open.
    ///
    /// A turn whose transaction SQLite already rolled back stays refused until
    /// [`Store::commit`] reports it: opening a fresh transaction here would commit the turn's
    /// later writes without its earlier ones (a message stored with seq 3 and no seq 2).
    fn begin(&self) -> Result<()> {
        if !self.room() {
            return Err(StoreError::DiskFull);
        }
        if self.conn.is_autocommit() {
            if self.turn_open.get() {
                return Err(StoreError::TurnLost);
            }
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.turn_open.set(true);
        }
        Ok(())
    }

    /// Whether writes are waiting for [`Store::commit`] (or a lost turn waits to be reported).
    pub fn dirty(&self) -> bool {
        self.turn_open.get() || !self.conn.is_autocommit()
    }

    /// Commits this turn's writes (no-op when nothing was written).
    ///
    /// Fails with [`StoreError::TurnLost`] when SQLite rolled the turn's transaction back
    /// after a failed statement, so no write of the turn is acknowledged as stored.
    pub fn commit(&mut self) -> Result<()> {
        let opened = self.turn_open.replace(false);
        if self.conn.is_autocommit() {
            return if opened {
                Err(StoreError::TurnLost)
            } else {
                Ok(())
            };
        }
        let t0 = Instant::now();
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            // A failed COMMIT may leave the transaction open (SQLITE_BUSY, SQLITE_FULL while
            // spilling): roll it back so the next turn starts clean and nothing half-written
            // is committed later.
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            return Err(e.into());
        }
        self.stats.commit.observe(t0.elapsed());
        Ok(())
    }

    /// Runs `f` inside a savepoint: either all of its writes stay or none (used by merges).
    pub fn atomically<T>(&mut self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        self.begin()?;
        self.conn.execute_batch("SAVEPOINT atom")?;
        match f(self) {
            Ok(v) => {
                self.conn.execute_batch("RELEASE atom")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK TO atom; RELEASE atom");
                Err(e)
            }
        }
    }

    // ---- sessions ----

    /// Every session, newest `updated_at` first.
    pub fn load_sessions(&self) -> Result<Vec<SessionRow>> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions ORDER BY updated_at DESC");
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map([], session_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Inserts or replaces a whole session row.
    pub fn put_session(&self, s: &SessionRow) -> Result<()> {
        self.begin()?;
        let sql = format!(
            "INSERT INTO sessions ({SESSION_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)
             ON CONFLICT(id) DO UPDATE SET tag=?2, updated_at=?5, active_at=?6, metadata=?7,
             metadata_version=?8, agent_state=?9, agent_state_version=?10, model=?11, effort=?12,
             model_reasoning_effort=?13, todos=?14, todos_updated_at=?15, team_state=?16,
             team_state_updated_at=?17, seq=?18"
        );
        self.conn.prepare_cached(&sql)?.execute(params![
            s.id,
            s.tag,
            s.namespace,
            s.created_at,
            s.updated_at,
            s.active_at,
            s.metadata,
            s.metadata_version,
            s.agent_state,
            s.agent_state_version,
            s.model,
            s.effort,
            s.model_reasoning_effort,
            s.todos,
            s.todos_updated_at,
            s.team_state,
            s.team_state_updated_at,
            s.seq
        ])?;
        Ok(())
    }

    /// Deletes a session; its messages go with it (cascade).
    pub fn delete_session(&self, id: &str) -> Result<()> {
        self.begin()?;
        self.conn
            .prepare_cached("DELETE FROM sessions WHERE id = ?1")?
            .execute([id])?;
        Ok(())
    }

    /// Highest message seq of every session that has messages.
    pub fn max_message_seqs(&self) -> Result<Vec<(String, i64)>> {
        let mut st = self
            .conn
            .prepare("SELECT session_id, MAX(seq) FROM messages GROUP BY session_id")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    // ---- messages ----

    /// Inserts a message row.
    pub fn insert_message(&self, session_id: &str, m: &MessageRow) -> Result<()> {
        self.begin()?;
        self.conn
            .prepare_cached(
                "INSERT INTO messages (id, session_id, seq, local_id, content, created_at,
                     invoked_at, scheduled_at, delivery_state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                m.id,
                session_id,
                m.seq,
                m.local_id,
                m.content,
                m.created_at,
                m.invoked_at,
                m.scheduled_at,
                m.state.as_str()
            ])?;
        Ok(())
    }

    /// The message of a session with this `localId`, if any.
    pub fn message_by_local_id(
        &self,
        session_id: &str,
        local_id: &str,
    ) -> Result<Option<MessageRow>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLS} FROM messages WHERE session_id = ?1 AND local_id = ?2"
            ))?
            .query_row([session_id, local_id], message_from_row)
            .optional()?)
    }

    /// Messages with `seq > after`, ascending, at most `limit`.
    pub fn messages_after(
        &self,
        session_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLS} FROM messages
             WHERE session_id = ?1 AND seq > ?2 ORDER BY seq ASC LIMIT ?3"
        ))?;
        let rows = st.query_map(params![session_id, after, limit], message_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The newest `limit` messages with `seq < before` (all when `None`), returned ascending.
    pub fn messages_before(
        &self,
        session_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLS} FROM messages
             WHERE session_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
        ))?;
        let rows = st.query_map(
            params![session_id, before.unwrap_or(i64::MAX), limit],
            message_from_row,
        )?;
        let mut v: Vec<MessageRow> = rows.collect::<std::result::Result<_, _>>()?;
        v.reverse();
        Ok(v)
    }

    /// The newest `limit` messages, newest first (todo back-fill and notification text).
    pub fn recent_messages(&self, session_id: &str, limit: i64) -> Result<Vec<MessageRow>> {
        let mut v = self.messages_before(session_id, None, limit)?;
        v.reverse();
        Ok(v)
    }

    /// Moves the history of `old` in front of `new` (spec/storage.md §3.7 step 1).
    pub fn merge_messages(&self, old: &str, new: &str, old_max: i64, new_max: i64) -> Result<()> {
        self.begin()?;
        if old_max > 0 && new_max > 0 {
            // Shift in two steps so the unique (session_id, seq) index never sees a clash.
            self.conn.execute(
                "UPDATE messages SET seq = -seq - ?2 WHERE session_id = ?1",
                params![new, old_max],
            )?;
            self.conn.execute(
                "UPDATE messages SET seq = -seq WHERE session_id = ?1",
                [new],
            )?;
        }
        self.conn.execute(
            "UPDATE messages SET local_id = NULL WHERE session_id = ?1 AND local_id IN
             (SELECT local_id FROM messages WHERE session_id = ?2 AND local_id IS NOT NULL)",
            [old, new],
        )?;
        self.conn.execute(
            "UPDATE messages SET session_id = ?2 WHERE session_id = ?1",
            [old, new],
        )?;
        self.usage_merge(old, new)?;
        Ok(())
    }

    /// Runs `f` in its own transaction committed with `synchronous=NORMAL` (no fsync), for
    /// housekeeping that nobody was promised: a power cut may undo it, and it is simply redone.
    /// Refused while the turn has acknowledged-bound writes pending (they need FULL).
    /// Returns `f`'s result and how long the whole transaction took, a checkpoint it
    /// triggered included, so the caller can pace itself.
    pub fn housekeeping<T>(
        &mut self,
        f: impl FnOnce(&Store) -> Result<T>,
    ) -> Result<Option<(T, Duration)>> {
        if self.dirty() {
            return Ok(None);
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let t0 = Instant::now();
        let r = (|| {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            match f(self) {
                Ok(v) => {
                    self.conn.execute_batch("COMMIT")?;
                    Ok(v)
                }
                Err(e) => {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        })();
        let took = t0.elapsed();
        self.stats.housekeeping.observe(took);
        // Back to FULL whatever happened: every later commit is one somebody may rely on.
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        r.map(|v| Some((v, took)))
    }

    /// Deletes up to `limit` messages of a session; returns how many went.
    pub fn delete_messages_batch(&self, session_id: &str, limit: i64) -> Result<usize> {
        self.begin()?;
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM messages WHERE rowid IN
                 (SELECT rowid FROM messages WHERE session_id = ?1 LIMIT ?2)",
            )?
            .execute(params![session_id, limit])?)
    }

    /// Number of messages in the database.
    pub fn message_count(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?)
    }

    // ---- machines ----

    /// Every machine.
    pub fn load_machines(&self) -> Result<Vec<MachineRow>> {
        let sql = format!("SELECT {MACHINE_COLS} FROM machines ORDER BY created_at");
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map([], machine_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Inserts or replaces a whole machine row.
    pub fn put_machine(&self, m: &MachineRow) -> Result<()> {
        self.begin()?;
        let sql = format!(
            "INSERT INTO machines ({MACHINE_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)
             ON CONFLICT(id) DO UPDATE SET updated_at=?4, metadata=?5, metadata_version=?6,
             runner_state=?7, runner_state_version=?8, active=?9, active_at=?10, seq=?11"
        );
        self.conn.prepare_cached(&sql)?.execute(params![
            m.id,
            m.namespace,
            m.created_at,
            m.updated_at,
            m.metadata,
            m.metadata_version,
            m.runner_state,
            m.runner_state_version,
            m.active,
            m.active_at,
            m.seq
        ])?;
        Ok(())
    }

    // ---- Telegram bindings ----

    /// The namespace a Telegram user is bound to.
    pub fn binding(&self, platform: &str, user_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT namespace FROM users WHERE platform = ?1 AND platform_user_id = ?2",
            )?
            .query_row([platform, user_id], |r| r.get(0))
            .optional()?)
    }

    /// Binds a user to a namespace (insert-or-ignore).
    pub fn bind(&self, platform: &str, user_id: &str, namespace: &str, now: i64) -> Result<()> {
        self.begin()?;
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO users (platform, platform_user_id, namespace, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![platform, user_id, namespace, now])?;
        Ok(())
    }

    /// Users bound to a namespace, oldest first.
    pub fn bound_users(&self, platform: &str, namespace: &str) -> Result<Vec<String>> {
        let mut st = self.conn.prepare_cached(
            "SELECT platform_user_id FROM users WHERE platform = ?1 AND namespace = ?2 ORDER BY created_at",
        )?;
        let rows = st.query_map([platform, namespace], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    // ---- push subscriptions ----

    /// Subscribe: upsert by (namespace, endpoint), replacing keys and `created_at`.
    pub fn upsert_push(&self, p: &PushRow) -> Result<()> {
        self.begin()?;
        self.conn
            .prepare_cached(
                "INSERT INTO push_subscriptions (namespace, endpoint, p256dh, auth, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(namespace, endpoint) DO UPDATE SET p256dh=?3, auth=?4, created_at=?5",
            )?
            .execute(params![
                p.namespace,
                p.endpoint,
                p.p256dh,
                p.auth,
                p.created_at
            ])?;
        Ok(())
    }

    /// Unsubscribe (no-op for an unknown endpoint).
    pub fn delete_push(&self, namespace: &str, endpoint: &str) -> Result<()> {
        self.begin()?;
        self.conn
            .prepare_cached(
                "DELETE FROM push_subscriptions WHERE namespace = ?1 AND endpoint = ?2",
            )?
            .execute([namespace, endpoint])?;
        Ok(())
    }

    /// Subscriptions of a namespace, newest first.
    pub fn push_subscriptions(&self, namespace: &str) -> Result<Vec<PushRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT namespace, endpoint, p256dh, auth, created_at FROM push_subscriptions
             WHERE namespace = ?1 ORDER BY created_at DESC",
        )?;
        let rows = st.query_map([namespace], |r| {
            Ok(PushRow {
                namespace: r.get(0)?,
                endpoint: r.get(1)?,
                p256dh: r.get(2)?,
                auth: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// `VACUUM INTO` a consistent copy (run between turns, outside a write transaction).
    pub fn backup_into(&mut self, dest: &Path) -> Result<()> {
        self.commit()?;
        let dest = dest.to_string_lossy();
        self.conn.execute("VACUUM INTO ?1", [dest.as_ref()])?;
        Ok(())
    }

    /// Database size in bytes (page count × page size).
    pub fn size_bytes(&self) -> i64 {
        self.conn
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0)
    }

    /// Runs a read-only integrity check (tests and `hapid check`).
    pub fn integrity_ok(&self) -> bool {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .map(|s| s == "ok")
            .unwrap_or(false)
    }
}

/// An existing database file of zero bytes with no write-ahead log holds nothing: hapid never
/// leaves one (its schema is written at creation), so it was truncated or replaced. Starting
/// on it would silently start empty; refuse and say what to do.
fn refuse_truncated(path: &Path) -> Result<()> {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if len(path) == 0 && len(Path::new(&wal)) == 0 {
        return Err(StoreError::Incompatible(
            "the database file is empty (0 bytes) although it exists: it was truncated or \
             replaced. Restore it from a backup, or move it away to start with a new database"
                .into(),
        ));
    }
    Ok(())
}

/// `PRAGMA quick_check` at start-up: a page damaged in the middle of the file (a bad SD card,
/// a torn copy) is reported before the hub serves anything from it, instead of surfacing as
/// errors or missing history later. It reads every page once (measured in the README).
fn quick_check(conn: &Connection) -> Result<()> {
    let mut st = conn.prepare("PRAGMA quick_check(5)")?;
    let problems: Vec<String> = st
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<std::result::Result<_, _>>()?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Incompatible(format!(
        "the database is damaged ({}). Restore it from a backup (`hapid backup` makes one)",
        problems.join("; ")
    )))
}

/// Takes the hub's exclusive lock next to the database, so a second hub on the same file
/// fails fast with a clear message. The lock lives as long as the returned file.
pub fn lock_database(db: &Path) -> std::result::Result<Option<std::fs::File>, String> {
    if db.as_os_str() == ":memory:" {
        return Ok(None);
    }
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| format!("cannot open lock file {}: {e}", Path::new(&p).display()))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(_) => Err(format!("{} is in use by another hapid", db.display())),
    }
}

/// `hapid backup FILE`: opens the database read-only beside a running hub (WAL lets readers
/// in) and writes a consistent copy with `VACUUM INTO`.
pub fn backup(db: &Path, dest: &Path) -> Result<()> {
    use rusqlite::OpenFlags;
    if dest.exists() {
        return Err(StoreError::Incompatible(format!(
            "{} already exists",
            dest.display()
        )));
    }
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_millis(5000))?;
    let app: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    if app != APPLICATION_ID {
        return Err(StoreError::Incompatible(format!(
            "{} is not a hapid database",
            db.display()
        )));
    }
    conn.execute("VACUUM INTO ?1", [dest.to_string_lossy().as_ref()])?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o600));
    Ok(())
}

fn session_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: r.get(0)?,
        tag: r.get(1)?,
        namespace: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
        active_at: r.get(5)?,
        metadata: r.get(6)?,
        metadata_version: r.get(7)?,
        agent_state: r.get(8)?,
        agent_state_version: r.get(9)?,
        model: r.get(10)?,
        effort: r.get(11)?,
        model_reasoning_effort: r.get(12)?,
        todos: r.get(13)?,
        todos_updated_at: r.get(14)?,
        team_state: r.get(15)?,
        team_state_updated_at: r.get(16)?,
        seq: r.get(17)?,
    })
}

fn machine_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MachineRow> {
    Ok(MachineRow {
        id: r.get(0)?,
        namespace: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
        metadata: r.get(4)?,
        metadata_version: r.get(5)?,
        runner_state: r.get(6)?,
        runner_state_version: r.get(7)?,
        active: r.get(8)?,
        active_at: r.get(9)?,
        seq: r.get(10)?,
    })
}

fn message_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: r.get(0)?,
        seq: r.get(1)?,
        local_id: r.get(2)?,
        content: r.get(3)?,
        created_at: r.get(4)?,
        invoked_at: r.get(5)?,
        scheduled_at: r.get(6)?,
        state: Delivery::parse(&r.get::<_, String>(7)?),
    })
}

fn create_private_file(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
}

fn chmod_db_files(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if path.as_os_str() == ":memory:" {
        return;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
    }
}

#[cfg(test)]
mod tests;
