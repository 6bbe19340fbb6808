//! The message queries of the send pipeline (issue 14; tests/pipeline/CONTRACT.md §1–§6):
//! delivery state, the queue of uninvoked messages, scheduled messages, the CLI catch-up
//! fetch and the per-session message epoch.
//!
//! Queries over uninvoked rows repeat `invoked_at IS NULL` literally so SQLite picks the
//! partial indexes of schema version 3, which hold only those few rows: waiting scheduled
//! messages cost index entries on disk, nothing in memory.

use super::{MESSAGE_COLS, MessageRow, Result, Store, message_from_row};
use rusqlite::{OptionalExtension, params};

/// Where the delivery of a queued (uninvoked) message stands (CONTRACT.md §1, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Waiting for the agent (or for its due time); new rows start here.
    #[default]
    Queued,
    /// The CLI is handing it to the agent (steer in progress, retry claimed).
    Dispatching,
    /// Nobody knows whether the agent got it (a cancel or retry the CLI did not answer).
    Indeterminate,
}

impl Delivery {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Queued => "queued",
            Delivery::Dispatching => "dispatching",
            Delivery::Indeterminate => "indeterminate",
        }
    }

    /// From the stored text; anything unknown counts as indeterminate (never re-sent blindly).
    pub fn parse(s: &str) -> Delivery {
        match s {
            "queued" => Delivery::Queued,
            "dispatching" => Delivery::Dispatching,
            _ => Delivery::Indeterminate,
        }
    }
}

impl Store {
    /// The message of a session whose row id, or else whose `localId`, is `r` (CONTRACT.md §0).
    pub fn message_by_ref(&self, session_id: &str, r: &str) -> Result<Option<MessageRow>> {
        let by_id = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLS} FROM messages WHERE session_id = ?1 AND id = ?2"
            ))?
            .query_row([session_id, r], message_from_row)
            .optional()?;
        match by_id {
            Some(m) => Ok(Some(m)),
            None => self.message_by_local_id(session_id, r),
        }
    }

    /// Every uninvoked message of a session, in seq order.
    pub fn uninvoked_messages(&self, session_id: &str) -> Result<Vec<MessageRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLS} FROM messages
             WHERE session_id = ?1 AND invoked_at IS NULL ORDER BY seq ASC"
        ))?;
        let rows = st.query_map([session_id], message_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Marks the uninvoked messages with these localIds invoked at `at` (state back to
    /// `queued`); returns the localIds that changed, in the order given.
    pub fn consume_messages(
        &self,
        session_id: &str,
        local_ids: &[String],
        at: i64,
    ) -> Result<Vec<String>> {
        self.begin()?;
        let mut st = self.conn.prepare_cached(
            "UPDATE messages SET invoked_at = ?3, delivery_state = 'queued'
             WHERE session_id = ?1 AND local_id = ?2 AND invoked_at IS NULL",
        )?;
        let mut changed = Vec::new();
        for l in local_ids {
            if st.execute(params![session_id, l, at])? > 0 {
                changed.push(l.clone());
            }
        }
        Ok(changed)
    }

    /// Moves the uninvoked messages with these localIds from one of `from` to `to`; returns
    /// the localIds that changed.
    pub fn set_delivery(
        &self,
        session_id: &str,
        local_ids: &[String],
        from: &[Delivery],
        to: Delivery,
    ) -> Result<Vec<String>> {
        self.begin()?;
        let mut st = self.conn.prepare_cached(
            "UPDATE messages SET delivery_state = ?4
             WHERE session_id = ?1 AND local_id = ?2 AND invoked_at IS NULL
               AND delivery_state = ?3",
        )?;
        let mut changed = Vec::new();
        for l in local_ids {
            let mut n = 0;
            for f in from {
                n += st.execute(params![session_id, l, f.as_str(), to.as_str()])?;
            }
            if n > 0 {
                changed.push(l.clone());
            }
        }
        Ok(changed)
    }

    /// Deletes one message (by row id).
    pub fn delete_message(&self, session_id: &str, id: &str) -> Result<()> {
        self.begin()?;
        self.conn
            .prepare_cached("DELETE FROM messages WHERE session_id = ?1 AND id = ?2")?
            .execute([session_id, id])?;
        Ok(())
    }

    /// Replaces the content of one message (a native queue entry whose text changed).
    pub fn set_message_content(&self, session_id: &str, id: &str, content: &str) -> Result<()> {
        self.begin()?;
        self.conn
            .prepare_cached("UPDATE messages SET content = ?3 WHERE session_id = ?1 AND id = ?2")?
            .execute([session_id, id, content])?;
        Ok(())
    }

    /// Every scheduled message that is due at `now_ms` and still waits for the agent, of
    /// every session: `(session id, row)` in session, seq order.
    pub fn due_scheduled(&self, now_ms: i64) -> Result<Vec<(String, MessageRow)>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLS}, session_id FROM messages
             WHERE invoked_at IS NULL AND scheduled_at IS NOT NULL AND scheduled_at <= ?1
               AND local_id IS NOT NULL AND delivery_state = 'queued'
             ORDER BY session_id, seq"
        ))?;
        let rows = st.query_map([now_ms], |r| Ok((r.get(8)?, message_from_row(r)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The earliest due time after `now_ms` of a waiting scheduled message, if any.
    pub fn next_scheduled(&self, now_ms: i64) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT MIN(scheduled_at) FROM messages
                 WHERE invoked_at IS NULL AND scheduled_at IS NOT NULL AND scheduled_at > ?1
                   AND local_id IS NOT NULL AND delivery_state = 'queued'",
            )?
            .query_row([now_ms], |r| r.get(0))?)
    }

    /// Per session with waiting future messages: `(session id, how many, earliest due)`
    /// (`futureScheduledMessageCount`, `nextScheduledAt`; CONTRACT.md §3).
    pub fn future_scheduled(&self, now_ms: i64) -> Result<Vec<(String, i64, i64)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT session_id, COUNT(*), MIN(scheduled_at) FROM messages
             WHERE invoked_at IS NULL AND scheduled_at IS NOT NULL AND scheduled_at > ?1
               AND local_id IS NOT NULL AND delivery_state = 'queued'
             GROUP BY session_id",
        )?;
        let rows = st.query_map([now_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The CLI catch-up fetch: rows with `seq > after`, ascending, at most `limit`, in state
    /// `queued` (invoked rows included) and not due after `now_ms` (CONTRACT.md §4).
    pub fn cli_messages_after(
        &self,
        session_id: &str,
        after: i64,
        limit: i64,
        now_ms: i64,
    ) -> Result<Vec<MessageRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLS} FROM messages
             WHERE session_id = ?1 AND seq > ?2 AND delivery_state = 'queued'
               AND (scheduled_at IS NULL OR scheduled_at <= ?4)
             ORDER BY seq ASC LIMIT ?3"
        ))?;
        let rows = st.query_map(params![session_id, after, limit, now_ms], message_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The message epoch of every session whose epoch moved off 0.
    pub fn message_epochs(&self) -> Result<Vec<(String, i64)>> {
        let mut st = self
            .conn
            .prepare("SELECT id, message_epoch FROM sessions WHERE message_epoch <> 0")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Stores a session's message epoch.
    pub fn set_message_epoch(&self, session_id: &str, epoch: i64) -> Result<()> {
        self.begin()?;
        self.conn
            .prepare_cached("UPDATE sessions SET message_epoch = ?2 WHERE id = ?1")?
            .execute(params![session_id, epoch])?;
        Ok(())
    }
}

/// A message's place in the page order (CONTRACT.md §1): `(invokedAt ?? createdAt, seq)`.
pub type Position = (i64, i64);

/// The position expression, exactly as the `messages_by_position` index spells it (SQLite
/// uses an expression index only for the same expression).
const POS: &str = "COALESCE(invoked_at, created_at)";

impl Store {
    /// The newest `limit` messages strictly below `before` (or overall), ascending.
    pub fn page_before(
        &self,
        session_id: &str,
        before: Option<Position>,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let (at, seq) = before.unwrap_or((i64::MAX, i64::MAX));
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLS} FROM messages
             WHERE session_id = ?1 AND ({POS}, seq) < (?2, ?3)
             ORDER BY {POS} DESC, seq DESC LIMIT ?4"
        ))?;
        let rows = st.query_map(params![session_id, at, seq, limit], message_from_row)?;
        let mut v: Vec<MessageRow> = rows.collect::<std::result::Result<_, _>>()?;
        v.reverse();
        Ok(v)
    }

    /// At most `limit` messages above `after` and at or below `until`, ascending.
    pub fn page_after(
        &self,
        session_id: &str,
        after: Position,
        until: Position,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLS} FROM messages
             WHERE session_id = ?1 AND ({POS}, seq) > (?2, ?3) AND ({POS}, seq) <= (?4, ?5)
             ORDER BY {POS} ASC, seq ASC LIMIT ?6"
        ))?;
        let rows = st.query_map(
            params![session_id, after.0, after.1, until.0, until.1, limit],
            message_from_row,
        )?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The newest position of a session, if it has messages.
    pub fn head_position(&self, session_id: &str) -> Result<Option<Position>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {POS}, seq FROM messages WHERE session_id = ?1
                 ORDER BY {POS} DESC, seq DESC LIMIT 1"
            ))?
            .query_row([session_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Whether a message sits strictly below `p`.
    pub fn any_below(&self, session_id: &str, p: Position) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT 1 FROM messages WHERE session_id = ?1 AND ({POS}, seq) < (?2, ?3) LIMIT 1"
            ))?
            .query_row(params![session_id, p.0, p.1], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Deletes the messages at or above `from` (a rewind); returns how many went.
    pub fn delete_from_position(&self, session_id: &str, from: Position) -> Result<usize> {
        self.begin()?;
        Ok(self
            .conn
            .prepare_cached(&format!(
                "DELETE FROM messages WHERE session_id = ?1 AND ({POS}, seq) >= (?2, ?3)"
            ))?
            .execute(params![session_id, from.0, from.1])?)
    }
}

/// A row's position.
pub fn position(m: &MessageRow) -> Position {
    (m.invoked_at.unwrap_or(m.created_at), m.seq)
}
