//! The scratch list of a session (issue 16; parity-0.30.7.md §2 rows 34–41): notes and
//! drafts the web parks per session, with attachments, synced to every open client.
//!
//! Contract (observed on the official hub v0.30.7):
//! - Limits (`GET …/scratchlist/limits`): `maxBytesPerFile` 10 MiB, `maxAttachmentsPerEntry`
//!   4 (env `HAPI_SCRATCHLIST_MAX_ATTACHMENTS_PER_ENTRY`), `maxBytesPerEntry` 20 MiB,
//!   `maxBytesPerSession` 100 MiB (every upload of the session counts, referenced or not),
//!   `allowedMimeTypes` (compared case-insensitively, stored as sent); at most 200 entries.
//! - An entry is `{entryId, text, createdAt, updatedAt, attachments}`; a create with an
//!   existing `entryId` answers the stored entry (200, nothing changes, no event).
//! - Every create, update and delete of an entry sends `session-updated` with
//!   `data: {scratchlistUpdatedAt}`; uploads and attachment deletes send nothing.
//! - The list is newest first (by `createdAt`); the export oldest first.
//! - An attachment is served only while an entry references it; it can be deleted only while
//!   none does (409 otherwise). Deleting an entry removes the attachments no other entry
//!   references (observed); an update that drops attachments does the same (hapid's choice,
//!   not observed: the web only edits text). Uploads no entry ever took stay until deleted
//!   or until their session goes; they count against `maxBytesPerSession`.
//!
//! Storage: entries and attachment records in SQLite; the bytes in files
//! `HAPI_HOME/scratchlist-attachments/<ns>/<sessionId>/<attachmentId>-<filename>` (as the
//! official hub lays them out). Files rather than BLOBs: a session may hold 100 MiB, which as
//! BLOBs would pass through the WAL on every upload and be read whole into memory. An upload
//! records its row first (so a full disk refuses it before any byte is written), then writes
//! `.<id>.part`, syncs it and renames it into place; a failed write removes the row again in
//! the same turn, so nothing is half stored. A file whose row a failed commit lost is removed
//! by the session's next upload (which sweeps files no row names). Deleting a session (by the
//! web or by retention) removes its directory.

use super::{Hub, HubError, Now};
use crate::store::{AttachmentRow, EntryRow, StoreError};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The MIME types an attachment may have.
pub const ALLOWED_MIME_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/svg+xml",
    "application/pdf",
    "text/plain",
];
/// Most entries a session holds.
pub const MAX_ENTRIES: usize = 200;
/// Longest entry text, in UTF-16 code units (zod counts `.length`).
pub const MAX_TEXT: usize = 10_000;
/// Longest client-chosen entry id.
pub const MAX_ENTRY_ID: usize = 128;
/// Prefix of an attachment's `path`.
pub const PATH_PREFIX: &str = "hapi-hub:scratchlist/";

/// The per-session limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes_per_file: u64,
    pub max_attachments_per_entry: usize,
    pub max_bytes_per_entry: u64,
    pub max_bytes_per_session: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes_per_file: 10 << 20,
            max_attachments_per_entry: 4,
            max_bytes_per_entry: 20 << 20,
            max_bytes_per_session: 100 << 20,
        }
    }
}

/// Where attachments live and the limits.
#[derive(Debug, Clone)]
pub struct ScratchConfig {
    pub dir: PathBuf,
    pub limits: Limits,
}

impl ScratchConfig {
    /// The defaults under `dir`, with the overrides of `get` (an env lookup):
    /// `HAPI_SCRATCHLIST_MAX_ATTACHMENTS_PER_ENTRY`, a positive integer.
    pub fn from_env(dir: PathBuf, get: impl Fn(&str) -> Option<String>) -> ScratchConfig {
        let mut limits = Limits::default();
        if let Some(n) = get("HAPI_SCRATCHLIST_MAX_ATTACHMENTS_PER_ENTRY")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
        {
            limits.max_attachments_per_entry = n;
        }
        ScratchConfig { dir, limits }
    }

    /// The defaults under a fresh directory in the system's temp dir (unit tests, fuzzing).
    #[doc(hidden)]
    pub fn for_tests() -> ScratchConfig {
        let dir = std::env::temp_dir().join(format!(
            "hapid-scratchlist-{}-{}",
            std::process::id(),
            super::uuid_v4()
        ));
        ScratchConfig {
            dir,
            limits: Limits::default(),
        }
    }
}

/// Why a scratch-list operation was refused.
#[derive(Debug)]
pub enum ScratchError {
    /// The entry id is unknown.
    EntryNotFound,
    /// The attachment id is unknown (or not servable).
    AttachmentNotFound,
    /// An entry names an attachment this session never uploaded.
    AttachmentInvalid,
    /// More attachments than `maxAttachmentsPerEntry`.
    TooManyAttachments(usize),
    /// The entry's attachments exceed `maxBytesPerEntry`.
    EntryBytes(u64),
    /// The upload would exceed `maxBytesPerSession`.
    SessionBytes(u64),
    /// The upload exceeds `maxBytesPerFile`.
    FileTooLarge,
    /// The upload's MIME type is not allowed.
    MimeNotAllowed,
    /// The session is at its entry cap.
    AtCap,
    /// The attachment is referenced by an entry.
    InUse,
    /// The file could not be written or read.
    Io(std::io::Error),
    /// The hub failed (session gone, store error).
    Hub(HubError),
}

impl From<StoreError> for ScratchError {
    fn from(e: StoreError) -> Self {
        ScratchError::Hub(HubError::Store(e))
    }
}

/// An attachment an entry refers to (as the web sends it back).
#[derive(Debug, Clone)]
pub struct AttachmentRef {
    pub id: String,
}

/// A validated create.
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    pub text: String,
    pub entry_id: Option<String>,
    pub created_at: Option<i64>,
    pub attachments: Vec<AttachmentRef>,
}

/// An attachment served: its type, name and bytes.
#[derive(Debug)]
pub struct Served {
    pub mime_type: String,
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// Replaces what is not a letter, digit, `.`, `_` or `-` by `_`, then each `..` by `_`
/// (observed: `../x/b.png` → `__x_b.png`, `...png` → `_.png`, `ü.png` kept).
pub fn safe_filename(name: &str) -> String {
    let kept: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    kept.replace("..", "_")
}

/// A path segment from a namespace or session id (never `..`, never a separator).
fn segment(s: &str) -> String {
    let s = safe_filename(s);
    if s.is_empty() || s == "." {
        "_".into()
    } else {
        s
    }
}

fn attachment_json(ns: &str, sid: &str, a: &AttachmentRow) -> Value {
    json!({"id": a.id, "filename": a.filename, "mimeType": a.mime_type, "size": a.size,
        "path": format!("{PATH_PREFIX}{ns}/{sid}/{}", a.file)})
}

/// The JSON of an entry row.
pub fn entry_json(e: &EntryRow) -> Value {
    let atts: Value = serde_json::from_str(&e.attachments).unwrap_or_else(|_| json!([]));
    json!({"entryId": e.entry_id, "text": e.text, "createdAt": e.created_at,
        "updatedAt": e.updated_at, "attachments": atts})
}

fn attachment_ids(e: &EntryRow) -> Vec<String> {
    let v: Value = serde_json::from_str(&e.attachments).unwrap_or(Value::Null);
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("id").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

impl Hub {
    fn session_ns(&self, sid: &str) -> Result<String, ScratchError> {
        self.sessions
            .get(sid)
            .map(|s| s.namespace.clone())
            .ok_or(ScratchError::Hub(HubError::NotFound))
    }

    fn scratch_dir(&self, ns: &str, sid: &str) -> PathBuf {
        self.settings
            .scratchlist
            .dir
            .join(segment(ns))
            .join(segment(sid))
    }

    fn scratch_touched(&mut self, ns: &str, sid: &str, at: i64) {
        self.events.publish(
            ns,
            json!({"type": "session-updated", "sessionId": sid,
                "data": {"scratchlistUpdatedAt": at}}),
            &mut self.fx,
        );
    }

    /// `{"limits": …}`.
    pub fn scratch_limits(&self) -> Value {
        let l = self.settings.scratchlist.limits;
        json!({"limits": {"maxBytesPerFile": l.max_bytes_per_file,
            "maxAttachmentsPerEntry": l.max_attachments_per_entry,
            "maxBytesPerEntry": l.max_bytes_per_entry,
            "maxBytesPerSession": l.max_bytes_per_session,
            "allowedMimeTypes": ALLOWED_MIME_TYPES}})
    }

    /// The entries, oldest first (the export's order).
    pub fn scratch_entries(&self, sid: &str) -> Result<Vec<Value>, ScratchError> {
        Ok(self
            .store
            .scratch_entries(sid)?
            .iter()
            .map(entry_json)
            .collect())
    }

    /// `{"entries": […]}`, newest first.
    pub fn scratch_list(&self, sid: &str) -> Result<Value, ScratchError> {
        let mut entries = self.scratch_entries(sid)?;
        entries.reverse();
        Ok(json!({ "entries": entries }))
    }

    /// The attachment records of `refs`, checked against the limits.
    fn resolve_attachments(
        &self,
        sid: &str,
        refs: &[AttachmentRef],
    ) -> Result<String, ScratchError> {
        let l = self.settings.scratchlist.limits;
        if refs.len() > l.max_attachments_per_entry {
            return Err(ScratchError::TooManyAttachments(
                l.max_attachments_per_entry,
            ));
        }
        let ns = self.session_ns(sid)?;
        let mut out = Vec::with_capacity(refs.len());
        let mut bytes = 0u64;
        for r in refs {
            let a = self
                .store
                .scratch_attachment(sid, &r.id)?
                .ok_or(ScratchError::AttachmentInvalid)?;
            bytes = bytes.saturating_add(a.size.max(0) as u64);
            out.push(attachment_json(&ns, sid, &a));
        }
        if bytes > l.max_bytes_per_entry {
            return Err(ScratchError::EntryBytes(l.max_bytes_per_entry));
        }
        Ok(Value::Array(out).to_string())
    }

    /// Creates an entry: `(201, entry)`, or `(200, stored)` for an existing `entryId`.
    pub fn scratch_create(
        &mut self,
        sid: &str,
        new: NewEntry,
        now: Now,
    ) -> Result<(u16, Value), ScratchError> {
        let ns = self.session_ns(sid)?;
        if let Some(id) = &new.entry_id
            && let Some(e) = self.store.scratch_entry(sid, id)?
        {
            return Ok((200, entry_json(&e)));
        }
        let attachments = self.resolve_attachments(sid, &new.attachments)?;
        if self.store.scratch_entry_count(sid)? >= MAX_ENTRIES as i64 {
            return Err(ScratchError::AtCap);
        }
        let row = EntryRow {
            entry_id: new.entry_id.unwrap_or_else(super::uuid_v4),
            text: new.text,
            created_at: new.created_at.unwrap_or(now.unix_ms),
            updated_at: now.unix_ms,
            attachments,
        };
        self.store.put_scratch_entry(sid, &row)?;
        self.scratch_touched(&ns, sid, now.unix_ms);
        Ok((201, entry_json(&row)))
    }

    /// Replaces an entry's text (and its attachments when `attachments` is given).
    pub fn scratch_update(
        &mut self,
        sid: &str,
        entry_id: &str,
        text: String,
        attachments: Option<Vec<AttachmentRef>>,
        now: Now,
    ) -> Result<Value, ScratchError> {
        let ns = self.session_ns(sid)?;
        let mut row = self
            .store
            .scratch_entry(sid, entry_id)?
            .ok_or(ScratchError::EntryNotFound)?;
        let before = attachment_ids(&row);
        if let Some(refs) = attachments {
            row.attachments = self.resolve_attachments(sid, &refs)?;
        }
        row.text = text;
        row.updated_at = now.unix_ms;
        self.store.put_scratch_entry(sid, &row)?;
        self.drop_orphans(&ns, sid, &before)?;
        self.scratch_touched(&ns, sid, now.unix_ms);
        Ok(entry_json(&row))
    }

    /// Deletes an entry and the attachments only it referenced.
    pub fn scratch_delete(
        &mut self,
        sid: &str,
        entry_id: &str,
        now: Now,
    ) -> Result<(), ScratchError> {
        let ns = self.session_ns(sid)?;
        let row = self
            .store
            .scratch_entry(sid, entry_id)?
            .ok_or(ScratchError::EntryNotFound)?;
        self.store.delete_scratch_entry(sid, entry_id)?;
        self.drop_orphans(&ns, sid, &attachment_ids(&row))?;
        self.scratch_touched(&ns, sid, now.unix_ms);
        Ok(())
    }

    /// Removes those of `ids` that no entry references any more (record and file).
    fn drop_orphans(&mut self, ns: &str, sid: &str, ids: &[String]) -> Result<(), ScratchError> {
        for id in ids {
            if self.referenced(sid, id)? {
                continue;
            }
            if let Some(a) = self.store.scratch_attachment(sid, id)? {
                self.store.delete_scratch_attachment(sid, id)?;
                self.remove_file(ns, sid, &a.file);
            }
        }
        Ok(())
    }

    fn remove_file(&self, ns: &str, sid: &str, file: &str) {
        match std::fs::remove_file(self.scratch_dir(ns, sid).join(file)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                crate::log::warn(&format!("scratchlist: remove attachment: {e}"));
            }
            _ => {}
        }
    }

    /// Stores an upload; `{"success": true, "attachment": …}`.
    pub fn scratch_upload(
        &mut self,
        sid: &str,
        filename: &str,
        mime_type: &str,
        bytes: &[u8],
        now: Now,
    ) -> Result<Value, ScratchError> {
        let ns = self.session_ns(sid)?;
        let l = self.settings.scratchlist.limits;
        let lower = mime_type.to_ascii_lowercase();
        if !ALLOWED_MIME_TYPES.contains(&lower.as_str()) {
            return Err(ScratchError::MimeNotAllowed);
        }
        let size = bytes.len() as u64;
        if size > l.max_bytes_per_file {
            return Err(ScratchError::FileTooLarge);
        }
        let used = self.store.scratch_attachment_bytes(sid)?.max(0) as u64;
        if used.saturating_add(size) > l.max_bytes_per_session {
            return Err(ScratchError::SessionBytes(l.max_bytes_per_session));
        }
        let id = super::uuid_v4();
        let filename = safe_filename(filename);
        let row = AttachmentRow {
            file: format!("{id}-{filename}"),
            id,
            filename,
            mime_type: mime_type.to_string(),
            size: size as i64,
            created_at: now.unix_ms,
        };
        self.store.insert_scratch_attachment(sid, &row)?;
        let dir = self.scratch_dir(&ns, sid);
        self.sweep_strays(&dir, sid);
        let part = dir.join(format!(".{}.part", row.id));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| write_synced(&part, bytes))
            .and_then(|()| std::fs::rename(&part, dir.join(&row.file)));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&part);
            self.store.delete_scratch_attachment(sid, &row.id)?;
            return Err(ScratchError::Io(e));
        }
        Ok(json!({"success": true, "attachment": attachment_json(&ns, sid, &row)}))
    }

    /// Removes files of `dir` that no attachment row names: leftovers of a turn whose commit
    /// failed after its file was written, or of a crash mid-write (`.part`).
    fn sweep_strays(&self, dir: &Path, sid: &str) {
        let Ok(live) = self.store.scratch_attachment_files(sid) else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if !live.iter().any(|f| std::ffi::OsStr::new(f) == name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    fn referenced(&self, sid: &str, id: &str) -> Result<bool, ScratchError> {
        Ok(self
            .store
            .scratch_entries(sid)?
            .iter()
            .any(|e| attachment_ids(e).iter().any(|a| a == id)))
    }

    /// The bytes of an attachment an entry references.
    pub fn scratch_attachment(&self, sid: &str, id: &str) -> Result<Served, ScratchError> {
        let ns = self.session_ns(sid)?;
        let row = self
            .store
            .scratch_attachment(sid, id)?
            .ok_or(ScratchError::AttachmentNotFound)?;
        if !self.referenced(sid, id)? {
            return Err(ScratchError::AttachmentNotFound);
        }
        let bytes = std::fs::read(self.scratch_dir(&ns, sid).join(&row.file)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ScratchError::AttachmentNotFound
            } else {
                ScratchError::Io(e)
            }
        })?;
        Ok(Served {
            mime_type: row.mime_type,
            filename: row.filename,
            bytes,
        })
    }

    /// Deletes an upload no entry references.
    pub fn scratch_delete_attachment(&mut self, sid: &str, id: &str) -> Result<(), ScratchError> {
        let ns = self.session_ns(sid)?;
        let row = self
            .store
            .scratch_attachment(sid, id)?
            .ok_or(ScratchError::AttachmentNotFound)?;
        if self.referenced(sid, id)? {
            return Err(ScratchError::InUse);
        }
        self.store.delete_scratch_attachment(sid, id)?;
        self.remove_file(&ns, sid, &row.file);
        Ok(())
    }

    /// Removes a deleted session's attachment files (its rows went with the session).
    pub fn scratch_forget(&mut self, ns: &str, sid: &str) {
        let dir = self.scratch_dir(ns, sid);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                crate::log::warn(&format!("scratchlist: remove {}: {e}", dir.display()));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubSettings;
    use crate::store::{SessionRow, Store};

    #[test]
    fn file_names_are_made_safe() {
        assert_eq!(safe_filename("../x/b.png"), "__x_b.png");
        assert_eq!(safe_filename("...png"), "_.png");
        assert_eq!(safe_filename("a..b.png"), "a_b.png");
        assert_eq!(safe_filename("a b\\c.png"), "a_b_c.png");
        assert_eq!(safe_filename("ü.png"), "ü.png");
        assert_eq!(segment(".."), "_");
        assert_eq!(segment(""), "_");
    }

    #[test]
    fn an_upload_sweeps_files_no_row_names() {
        let store = Store::open(std::path::Path::new(":memory:")).unwrap();
        store
            .put_session(&SessionRow {
                id: "s".into(),
                namespace: "default".into(),
                metadata_version: 1,
                agent_state_version: 1,
                ..SessionRow::default()
            })
            .unwrap();
        let now = Now::read();
        let mut hub = Hub::new(HubSettings::for_tests(), store, now).unwrap();
        let dir = hub.scratch_dir("default", "s");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("lost-a.png"), b"x").unwrap();
        std::fs::write(dir.join(".lost.part"), b"x").unwrap();
        let up = hub
            .scratch_upload("s", "b.png", "image/png", b"b", now)
            .unwrap();
        let kept: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let id = up["attachment"]["id"].as_str().unwrap();
        assert_eq!(kept, [format!("{id}-b.png")]);
        let _ = std::fs::remove_dir_all(hub.settings.scratchlist.dir.clone());
    }

    #[test]
    fn retention_takes_the_scratch_list_files_along() {
        let now = Now::read();
        let dir = std::env::temp_dir().join(format!("hapid-scratch-ret-{}", crate::hub::uuid_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = Store::open(&dir.join("t.db")).unwrap();
        let old = now.unix_ms - 60 * 86_400_000;
        store
            .put_session(&SessionRow {
                id: "old".into(),
                namespace: "default".into(),
                created_at: old,
                updated_at: old,
                active_at: Some(old),
                metadata_version: 1,
                agent_state_version: 1,
                ..SessionRow::default()
            })
            .unwrap();
        store.commit().unwrap();
        let mut settings = HubSettings::for_tests();
        settings.retention_days = Some(30);
        settings.scratchlist.dir = dir.join("attachments");
        let mut hub = Hub::new(settings, store, now).unwrap();
        let up = hub
            .scratch_upload("old", "a.png", "image/png", b"bytes", now)
            .unwrap();
        let id = up["attachment"]["id"].as_str().unwrap().to_string();
        let new = NewEntry {
            text: "note".into(),
            attachments: vec![AttachmentRef { id: id.clone() }],
            ..NewEntry::default()
        };
        hub.scratch_create("old", new, now).unwrap();
        hub.store.commit().unwrap();
        let session_dir = dir.join("attachments/default/old");
        assert_eq!(std::fs::read_dir(&session_dir).unwrap().count(), 1);
        assert_eq!(hub.scratch_attachment("old", &id).unwrap().bytes, b"bytes");

        let mut at = now;
        for _ in 0..10 {
            if !hub.sessions.contains_key("old") {
                break;
            }
            hub.retention(at);
            hub.store.commit().unwrap();
            at.mono = hub.retention_due.unwrap_or(at.mono);
        }
        assert!(!hub.sessions.contains_key("old"));
        assert!(!session_dir.exists());
        assert_eq!(hub.store.scratch_entry_count("old").unwrap(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
