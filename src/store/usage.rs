//! Token-usage aggregates (schema version 6; `hub::usage` owns the contract).
//!
//! `usage_buckets` holds, per (session, quarter hour in UTC, model), the sums of the counted
//! usages and how many were counted. Every real time zone's offset is a whole number of
//! quarter hours (+05:30, +05:45, +08:45 included) and zones change offset only on quarter-hour
//! boundaries, so a bucket never straddles a local midnight: the summary regroups buckets into
//! local days in any zone without reading a message. `usage_message_ids` keeps, per (session,
//! Claude `message.id`), the usage counted for that id and where, so a later message with the
//! same id replaces it ("last wins") by subtracting what was counted. Both tables go with
//! their session (`ON DELETE CASCADE`) and move with it on a resume merge.
//! `usage_backfill` holds the rowid up to which messages stored before version 6 were counted.

use super::{Result, Store};
use rusqlite::{OptionalExtension, params};

/// Length of a bucket.
pub const BUCKET_MS: i64 = 15 * 60 * 1000;
/// Messages read per backfill transaction.
const BACKFILL_PAGE: i64 = 2000;

/// One usage as counted: `input` is what the summary calls `inputTokens` (cache reads and
/// creations included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    pub cache_creation: i64,
    pub model: String,
    /// Claude's `message.id`: the same id in a session counts once, the last one wins.
    pub message_id: Option<String>,
}

/// One aggregate row as the summary reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRow {
    pub session_id: String,
    /// The session's `metadata.flavor`, if a string.
    pub flavor: Option<String>,
    pub bucket: i64,
    pub model: String,
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    pub cache_creation: i64,
    pub requests: i64,
}

impl Store {
    fn usage_add(&self, sid: &str, bucket: i64, c: &Counted, sign: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO usage_buckets (session_id, bucket, model, input, output, cache_read,
                     cache_creation, requests) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (session_id, bucket, model) DO UPDATE SET
                     input = input + excluded.input, output = output + excluded.output,
                     cache_read = cache_read + excluded.cache_read,
                     cache_creation = cache_creation + excluded.cache_creation,
                     requests = requests + excluded.requests",
            )?
            .execute(params![
                sid,
                bucket,
                c.model,
                sign * c.input,
                sign * c.output,
                sign * c.cache_read,
                sign * c.cache_creation,
                sign
            ])?;
        Ok(())
    }

    /// Counts one usage of session `sid` at `at_ms`, in this turn's transaction.
    pub fn usage_record(&self, sid: &str, at_ms: i64, c: &Counted) -> Result<()> {
        self.begin()?;
        self.usage_record_in(sid, at_ms, c)
    }

    fn usage_record_in(&self, sid: &str, at_ms: i64, c: &Counted) -> Result<()> {
        let bucket = at_ms.div_euclid(BUCKET_MS);
        if let Some(mid) = &c.message_id {
            let prev = self
                .conn
                .prepare_cached(
                    "SELECT bucket, model, input, output, cache_read, cache_creation
                     FROM usage_message_ids WHERE session_id = ?1 AND message_id = ?2",
                )?
                .query_row(params![sid, mid], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        Counted {
                            model: r.get(1)?,
                            input: r.get(2)?,
                            output: r.get(3)?,
                            cache_read: r.get(4)?,
                            cache_creation: r.get(5)?,
                            message_id: None,
                        },
                    ))
                })
                .optional()?;
            if let Some((b, old)) = prev {
                self.usage_add(sid, b, &old, -1)?;
            }
            self.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO usage_message_ids (session_id, message_id, bucket,
                         model, input, output, cache_read, cache_creation)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    sid,
                    mid,
                    bucket,
                    c.model,
                    c.input,
                    c.output,
                    c.cache_read,
                    c.cache_creation
                ])?;
        }
        self.usage_add(sid, bucket, c, 1)
    }

    /// Moves the usage of session `old` onto `new` (a resume merge; called inside its
    /// transaction). An id both sessions counted keeps `new`'s record and both counts.
    pub(super) fn usage_merge(&self, old: &str, new: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO usage_buckets (session_id, bucket, model, input, output, cache_read,
                 cache_creation, requests)
             SELECT ?2, bucket, model, input, output, cache_read, cache_creation, requests
             FROM usage_buckets WHERE session_id = ?1 AND true
             ON CONFLICT (session_id, bucket, model) DO UPDATE SET
                 input = input + excluded.input, output = output + excluded.output,
                 cache_read = cache_read + excluded.cache_read,
                 cache_creation = cache_creation + excluded.cache_creation,
                 requests = requests + excluded.requests",
            [old, new],
        )?;
        self.conn.execute(
            "INSERT OR IGNORE INTO usage_message_ids SELECT ?2, message_id, bucket, model, input,
                 output, cache_read, cache_creation FROM usage_message_ids WHERE session_id = ?1",
            [old, new],
        )?;
        Ok(())
    }

    /// The aggregate rows of namespace `ns` from bucket `from_bucket` on (all with `None`).
    /// Rows that sum to nothing (an id replaced into another bucket) are skipped.
    pub fn usage_rows(&self, ns: &str, from_bucket: Option<i64>) -> Result<Vec<BucketRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT u.session_id, json_extract(s.metadata, '$.flavor'), u.bucket, u.model,
                 u.input, u.output, u.cache_read, u.cache_creation, u.requests
             FROM usage_buckets u JOIN sessions s ON s.id = u.session_id
             WHERE s.namespace = ?1 AND u.bucket >= ?2 AND u.requests > 0",
        )?;
        let rows = st.query_map(params![ns, from_bucket.unwrap_or(i64::MIN)], |r| {
            Ok(BucketRow {
                session_id: r.get(0)?,
                flavor: r.get::<_, rusqlite::types::Value>(1).map(|v| match v {
                    rusqlite::types::Value::Text(t) => Some(t),
                    _ => None,
                })?,
                bucket: r.get(2)?,
                model: r.get(3)?,
                input: r.get(4)?,
                output: r.get(5)?,
                cache_read: r.get(6)?,
                cache_creation: r.get(7)?,
                requests: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Counts the messages stored before the aggregates existed, [`BACKFILL_PAGE`] rows per
    /// transaction in rowid order (memory stays at one page), resuming where an interrupted
    /// run stopped. Runs at start-up, before the first turn. Returns the messages read.
    pub fn usage_backfill(&self, count: &dyn Fn(&str) -> Option<Counted>) -> Result<u64> {
        let mut read = 0u64;
        loop {
            let Some(cursor) = self
                .conn
                .query_row("SELECT next_rowid FROM usage_backfill", [], |r| {
                    r.get::<_, i64>(0)
                })
                .optional()?
            else {
                return Ok(read);
            };
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            let page: Vec<(i64, String, String, i64)> = {
                let mut st = self.conn.prepare_cached(
                    "SELECT rowid, session_id, content, created_at FROM messages
                     WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
                )?;
                let rows = st.query_map(params![cursor, BACKFILL_PAGE], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?;
                rows.collect::<std::result::Result<_, _>>()?
            };
            for (_, sid, content, at) in &page {
                if let Some(c) = count(content) {
                    self.usage_record_in(sid, *at, &c)?;
                }
            }
            read += page.len() as u64;
            match page.last() {
                Some((rowid, ..)) if page.len() as i64 == BACKFILL_PAGE => {
                    self.conn
                        .execute("UPDATE usage_backfill SET next_rowid = ?1", [rowid])?;
                }
                _ => {
                    self.conn.execute("DELETE FROM usage_backfill", [])?;
                }
            }
            self.conn.execute_batch("COMMIT")?;
        }
    }
}
