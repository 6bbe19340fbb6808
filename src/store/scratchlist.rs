//! The scratch-list rows (schema version 4): a session's entries and the records of its
//! uploaded attachments. The attachment bytes are files owned by `hub::scratchlist`; here is
//! only what describes them. Both tables go with their session (`ON DELETE CASCADE`).

use super::{Result, Store};
use rusqlite::{OptionalExtension, params};

/// One stored entry; `attachments` is the JSON array of attachment records it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRow {
    pub entry_id: String,
    pub text: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub attachments: String,
}

/// One uploaded attachment; `file` is its name inside the session's attachment directory.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentRow {
    pub id: String,
    pub filename: String,
    pub mime_type: String,
    pub size: i64,
    pub file: String,
    pub created_at: i64,
}

const ENTRY_COLS: &str = "entry_id, text, created_at, updated_at, attachments";
const ATTACHMENT_COLS: &str = "id, filename, mime_type, size, file, created_at";

fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntryRow> {
    Ok(EntryRow {
        entry_id: r.get(0)?,
        text: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
        attachments: r.get(4)?,
    })
}

fn attachment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AttachmentRow> {
    Ok(AttachmentRow {
        id: r.get(0)?,
        filename: r.get(1)?,
        mime_type: r.get(2)?,
        size: r.get(3)?,
        file: r.get(4)?,
        created_at: r.get(5)?,
    })
}

impl Store {
    /// The entries of a session, oldest first (creation time, then insertion order).
    pub fn scratch_entries(&self, session_id: &str) -> Result<Vec<EntryRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {ENTRY_COLS} FROM scratch_entries WHERE session_id = ?1
             ORDER BY created_at ASC, rowid ASC"
        ))?;
        let rows = st.query_map([session_id], entry_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// One entry.
    pub fn scratch_entry(&self, session_id: &str, entry_id: &str) -> Result<Option<EntryRow>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLS} FROM scratch_entries WHERE session_id = ?1 AND entry_id = ?2"
            ))?
            .query_row([session_id, entry_id], entry_from_row)
            .optional()?)
    }

    /// How many entries a session has.
    pub fn scratch_entry_count(&self, session_id: &str) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM scratch_entries WHERE session_id = ?1")?
            .query_row([session_id], |r| r.get(0))?)
    }

    /// Inserts or replaces an entry.
    pub fn put_scratch_entry(&self, session_id: &str, e: &EntryRow) -> Result<()> {
        self.begin()?;
        self.conn
            .prepare_cached(
                "INSERT INTO scratch_entries (session_id, entry_id, text, created_at, updated_at, attachments)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (session_id, entry_id) DO UPDATE SET text = ?3, updated_at = ?5,
                 attachments = ?6",
            )?
            .execute(params![
                session_id,
                e.entry_id,
                e.text,
                e.created_at,
                e.updated_at,
                e.attachments
            ])?;
        Ok(())
    }

    /// Deletes an entry; whether it existed.
    pub fn delete_scratch_entry(&self, session_id: &str, entry_id: &str) -> Result<bool> {
        self.begin()?;
        let n = self
            .conn
            .prepare_cached("DELETE FROM scratch_entries WHERE session_id = ?1 AND entry_id = ?2")?
            .execute([session_id, entry_id])?;
        Ok(n > 0)
    }

    /// One attachment record.
    pub fn scratch_attachment(&self, session_id: &str, id: &str) -> Result<Option<AttachmentRow>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {ATTACHMENT_COLS} FROM scratch_attachments WHERE session_id = ?1 AND id = ?2"
            ))?
            .query_row([session_id, id], attachment_from_row)
            .optional()?)
    }

    /// Total bytes of a session's uploaded attachments (referenced or not).
    pub fn scratch_attachment_bytes(&self, session_id: &str) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT COALESCE(SUM(size), 0) FROM scratch_attachments WHERE session_id = ?1",
            )?
            .query_row([session_id], |r| r.get(0))?)
    }

    /// Records an uploaded attachment.
    pub fn insert_scratch_attachment(&self, session_id: &str, a: &AttachmentRow) -> Result<()> {
        self.begin()?;
        self.conn
            .prepare_cached(
                "INSERT INTO scratch_attachments (session_id, id, filename, mime_type, size, file, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                session_id,
                a.id,
                a.filename,
                a.mime_type,
                a.size,
                a.file,
                a.created_at
            ])?;
        Ok(())
    }

    /// Forgets an attachment record; whether it existed.
    pub fn delete_scratch_attachment(&self, session_id: &str, id: &str) -> Result<bool> {
        self.begin()?;
        let n = self
            .conn
            .prepare_cached("DELETE FROM scratch_attachments WHERE session_id = ?1 AND id = ?2")?
            .execute([session_id, id])?;
        Ok(n > 0)
    }

    /// Every file name recorded for a session (to tell stray files from live ones).
    pub fn scratch_attachment_files(&self, session_id: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT file FROM scratch_attachments WHERE session_id = ?1")?;
        let rows = st.query_map([session_id], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SessionRow;

    fn store() -> (Store, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("hapid-store-scratch-{}", crate::hub::uuid_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let s = Store::open(&path).unwrap();
        s.put_session(&SessionRow {
            id: "s".into(),
            namespace: "default".into(),
            created_at: 1,
            updated_at: 1,
            metadata_version: 1,
            agent_state_version: 1,
            ..SessionRow::default()
        })
        .unwrap();
        (s, path)
    }

    fn entry(id: &str, created_at: i64) -> EntryRow {
        EntryRow {
            entry_id: id.into(),
            text: format!("text {id}"),
            created_at,
            updated_at: created_at,
            attachments: "[]".into(),
        }
    }

    fn attachment(id: &str, size: i64) -> AttachmentRow {
        AttachmentRow {
            id: id.into(),
            filename: "a.png".into(),
            mime_type: "image/png".into(),
            size,
            file: format!("{id}-a.png"),
            created_at: 1,
        }
    }

    #[test]
    fn entries_survive_a_reopen_in_creation_order_and_go_with_their_session() {
        let (mut s, path) = store();
        s.put_scratch_entry("s", &entry("b", 20)).unwrap();
        s.put_scratch_entry("s", &entry("a", 10)).unwrap();
        s.put_scratch_entry("s", &entry("c", 20)).unwrap();
        s.insert_scratch_attachment("s", &attachment("x", 5))
            .unwrap();
        s.insert_scratch_attachment("s", &attachment("y", 7))
            .unwrap();
        s.commit().unwrap();
        drop(s);
        let mut s = Store::open(&path).unwrap();
        let ids: Vec<_> = s
            .scratch_entries("s")
            .unwrap()
            .into_iter()
            .map(|e| e.entry_id)
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(s.scratch_entry_count("s").unwrap(), 3);
        assert_eq!(s.scratch_attachment_bytes("s").unwrap(), 12);
        assert_eq!(
            s.scratch_attachment("s", "x").unwrap(),
            Some(attachment("x", 5))
        );
        assert_eq!(s.scratch_attachment_files("s").unwrap().len(), 2);

        // An update keeps createdAt; a delete says whether there was a row.
        let mut b = entry("b", 99);
        b.text = "new".into();
        s.put_scratch_entry("s", &b).unwrap();
        let got = s.scratch_entry("s", "b").unwrap().unwrap();
        assert_eq!(
            (got.text.as_str(), got.created_at, got.updated_at),
            ("new", 20, 99)
        );
        assert!(s.delete_scratch_entry("s", "b").unwrap());
        assert!(!s.delete_scratch_entry("s", "b").unwrap());
        assert!(s.delete_scratch_attachment("s", "y").unwrap());
        assert!(!s.delete_scratch_attachment("s", "y").unwrap());

        s.delete_session("s").unwrap();
        s.commit().unwrap();
        assert_eq!(s.scratch_entry_count("s").unwrap(), 0);
        assert_eq!(s.scratch_attachment_bytes("s").unwrap(), 0);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
