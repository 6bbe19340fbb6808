//! The session pins of `PUT /api/sessions/:id/pin` (schema version 4: `sessions.pinned`,
//! `sessions.global_pinned`). The columns are written only here, never by `put_session`, so
//! a session row rewritten for any other reason keeps its pin.

use super::{Result, Store};
use rusqlite::params;

impl Store {
    /// Sets a session's pin flags (at most one of them is set; see `hub::actions::Pin`).
    pub fn set_session_pin(&self, id: &str, pinned: bool, global_pinned: bool) -> Result<()> {
        self.begin()?;
        self.conn.execute(
            "UPDATE sessions SET pinned = ?2, global_pinned = ?3 WHERE id = ?1",
            params![id, pinned, global_pinned],
        )?;
        Ok(())
    }

    /// `(id, pinned, global_pinned)` of every pinned session.
    pub fn session_pins(&self) -> Result<Vec<(String, bool, bool)>> {
        let mut st = self.conn.prepare(
            "SELECT id, pinned, global_pinned FROM sessions WHERE pinned != 0 OR global_pinned != 0",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}
