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

    /// Visits the aggregate rows of namespace `ns` from bucket `from_bucket` on (all with
    /// `None`), one at a time (memory does not grow with the rows). Rows that sum to nothing
    /// (an id replaced into another bucket) are skipped.
    pub fn usage_visit(
        &self,
        ns: &str,
        from_bucket: Option<i64>,
        visit: &mut dyn FnMut(&BucketRow),
    ) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "SELECT u.session_id, json_extract(s.metadata, '$.flavor'), u.bucket, u.model,
                 u.input, u.output, u.cache_read, u.cache_creation, u.requests
             FROM usage_buckets u JOIN sessions s ON s.id = u.session_id
             WHERE s.namespace = ?1 AND u.bucket >= ?2 AND u.requests > 0",
        )?;
        let mut rows = st.query(params![ns, from_bucket.unwrap_or(i64::MIN)])?;
        while let Some(r) = rows.next()? {
            visit(&BucketRow {
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
            });
        }
        Ok(())
    }

    /// The aggregate rows [`Store::usage_visit`] visits, collected (tests).
    #[cfg(test)]
    pub fn usage_rows(&self, ns: &str, from_bucket: Option<i64>) -> Result<Vec<BucketRow>> {
        let mut v = Vec::new();
        self.usage_visit(ns, from_bucket, &mut |r| v.push(r.clone()))?;
        Ok(v)
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

#[cfg(test)]
mod tests {
    use super::super::schema::{APPLICATION_ID, MIGRATIONS};
    use super::*;

    fn tmp() -> std::path::PathBuf {
        let mut b = [0u8; 8];
        getrandom::getrandom(&mut b).unwrap();
        let d = std::env::temp_dir().join(format!("hapid-usage-{:x}", u64::from_le_bytes(b)));
        std::fs::create_dir_all(&d).unwrap();
        d.join("t.db")
    }

    fn count(content: &str) -> Option<Counted> {
        serde_json::from_str(content)
            .ok()
            .and_then(|v| crate::hub::usage::counted(&v))
    }

    fn claude(id: Option<&str>, input: i64) -> String {
        serde_json::json!({"role": "agent", "content": {"type": "output", "data": {
            "type": "assistant", "message": {"id": id, "model": "m", "usage": {
                "input_tokens": input, "output_tokens": 1}}}}})
        .to_string()
    }

    fn totals(s: &Store, ns: &str) -> (i64, i64, usize) {
        let rows = s.usage_rows(ns, None).unwrap();
        (
            rows.iter().map(|r| r.input).sum(),
            rows.iter().map(|r| r.requests).sum(),
            rows.len(),
        )
    }

    /// A version-5 database (before the aggregates) with `n` messages in session `a`, every
    /// other one a usage, the odd ones all with the same message id.
    fn v5_database(path: &std::path::Path, n: i64) {
        let conn = rusqlite::Connection::open(path).unwrap();
        for (i, sql) in MIGRATIONS.iter().take(5).enumerate() {
            conn.execute_batch(&format!(
                "BEGIN; {sql}; PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO sessions (id, namespace, created_at, updated_at, metadata)
             VALUES ('a', 'default', 1, 1, '{\"flavor\":\"codex\"}'), ('b', 'other', 1, 1, NULL);
             BEGIN;",
        )
        .unwrap();
        for seq in 1..=n {
            let content = match seq % 4 {
                0 => claude(None, 10),
                1 => claude(Some("same"), seq),
                _ => r#"{"role":"agent","content":{"type":"output","data":{"type":"text"}}}"#
                    .to_string(),
            };
            conn.execute(
                "INSERT INTO messages (id, session_id, seq, content, created_at)
                 VALUES (?1, 'a', ?2, ?3, ?4)",
                params![format!("m{seq}"), seq, content, seq * 60_000],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO messages (id, session_id, seq, content, created_at) VALUES ('x', 'b', 1, ?1, 0)",
            [claude(None, 7)],
        )
        .unwrap();
        conn.execute_batch("COMMIT").unwrap();
    }

    #[test]
    fn backfill_counts_stored_messages_in_pages_once() {
        let path = tmp();
        let n = BACKFILL_PAGE * 2 + 17;
        v5_database(&path, n);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.usage_backfill(&count).unwrap(), n as u64 + 1);
        // seq % 4 == 0: 10 each; the id "same" counts once, the last one (largest seq ≡ 1).
        let last_same = (1..=n).filter(|q| q % 4 == 1).max().unwrap();
        let plain = (1..=n).filter(|q| q % 4 == 0).count() as i64;
        let (input, requests, _) = totals(&s, "default");
        assert_eq!((input, requests), (plain * 10 + last_same, plain + 1));
        assert_eq!(totals(&s, "other").0, 7);
        let flavor = s.usage_rows("default", None).unwrap()[0].flavor.clone();
        assert_eq!(flavor.as_deref(), Some("codex"));
        // Done: a second start reads nothing and counts nothing twice.
        assert_eq!(s.usage_backfill(&count).unwrap(), 0);
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.usage_backfill(&count).unwrap(), 0);
        assert_eq!(totals(&s, "default").0, plain * 10 + last_same);
    }

    #[test]
    fn a_replaced_id_moves_between_buckets_and_deletion_and_merge_carry_it() {
        let s = Store::open(&tmp()).unwrap();
        // A fresh database has nothing to backfill.
        assert_eq!(s.usage_backfill(&count).unwrap(), 0);
        for id in ["a", "b"] {
            s.conn
                .execute(
                    "INSERT INTO sessions (id, namespace, created_at, updated_at) VALUES (?1, 'default', 1, 1)",
                    [id],
                )
                .unwrap();
        }
        let c = |id: Option<&str>, input| count(&claude(id, input)).unwrap();
        s.usage_record("a", 0, &c(Some("x"), 5)).unwrap();
        s.usage_record("a", BUCKET_MS * 3, &c(Some("x"), 8))
            .unwrap();
        s.usage_record("a", BUCKET_MS * 3 + 1, &c(None, 1)).unwrap();
        s.usage_record("b", 0, &c(Some("x"), 100)).unwrap();
        let rows = s.usage_rows("default", Some(1)).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].bucket, rows[0].input, rows[0].requests), (3, 9, 2));
        // The emptied bucket 0 of "a" is not listed.
        assert_eq!(totals(&s, "default"), (109, 3, 2));
        s.merge_messages("b", "a", 0, 0).unwrap();
        s.delete_session("b").unwrap();
        assert_eq!(totals(&s, "default"), (109, 3, 2));
        s.delete_session("a").unwrap();
        assert_eq!(totals(&s, "default"), (0, 0, 0));
        let left: i64 = s
            .conn
            .query_row("SELECT COUNT(*) FROM usage_message_ids", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }
}
