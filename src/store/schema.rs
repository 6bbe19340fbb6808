//! Schema and forward-only migrations keyed on `PRAGMA user_version`.
//!
//! `PRAGMA application_id` marks hapid's own files, so an upstream `hapi.db` (same table
//! names, no id) is refused instead of being written in place (spec/storage.md §7.2).

use super::StoreError;
use rusqlite::Connection;

/// `PRAGMA application_id` of hapid databases ("hapd").
pub const APPLICATION_ID: i64 = 0x6861_7064;
/// Current schema version.
pub const SCHEMA_VERSION: i64 = 6;

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the five tables of spec/storage.md §2.
    "CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        tag TEXT,
        namespace TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        active_at INTEGER,
        metadata TEXT,
        metadata_version INTEGER NOT NULL DEFAULT 1,
        agent_state TEXT,
        agent_state_version INTEGER NOT NULL DEFAULT 1,
        model TEXT,
        effort TEXT,
        model_reasoning_effort TEXT,
        todos TEXT,
        todos_updated_at INTEGER,
        team_state TEXT,
        team_state_updated_at INTEGER,
        seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX sessions_by_tag ON sessions (namespace, tag, created_at);
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        local_id TEXT,
        content TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (session_id, seq)
    );
    CREATE UNIQUE INDEX messages_by_local_id ON messages (session_id, local_id)
        WHERE local_id IS NOT NULL;
    CREATE TABLE machines (
        id TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        metadata TEXT,
        metadata_version INTEGER NOT NULL DEFAULT 1,
        runner_state TEXT,
        runner_state_version INTEGER NOT NULL DEFAULT 1,
        active INTEGER NOT NULL DEFAULT 0,
        active_at INTEGER,
        seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX machines_by_namespace ON machines (namespace);
    CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        platform TEXT NOT NULL,
        platform_user_id TEXT NOT NULL,
        namespace TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (platform, platform_user_id)
    );
    CREATE INDEX users_by_namespace ON users (platform, namespace);
    CREATE TABLE push_subscriptions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        namespace TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        p256dh TEXT NOT NULL,
        auth TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (namespace, endpoint)
    );",
    // 1 -> 2: no index on `messages.id`. Ids are UUID v4 from the OS generator, unique by
    // construction, and nothing reads a message by id (spec/storage.md §2.2 M4). The index
    // put one random page write into every insert and delete: pruning wrote twice as many
    // WAL pages per message with it.
    "CREATE TABLE messages_v2 (
        id TEXT NOT NULL,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        local_id TEXT,
        content TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (session_id, seq)
    );
    INSERT INTO messages_v2 (rowid, id, session_id, seq, local_id, content, created_at)
        SELECT rowid, id, session_id, seq, local_id, content, created_at FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_v2 RENAME TO messages;
    CREATE UNIQUE INDEX messages_by_local_id ON messages (session_id, local_id)
        WHERE local_id IS NOT NULL;",
    // 2 -> 3: the v0.30 send pipeline (issue 14). A message carries when the agent took it
    // (`invoked_at`, NULL while queued), when it is due (`scheduled_at`) and its delivery
    // state (`queued` | `dispatching` | `indeterminate`); a session carries its message epoch
    // (bumped whenever rows a client may hold are deleted). Rows stored before this version
    // were handed to the CLI on insert, so they count as invoked at their creation. The two
    // partial indexes hold only the few uninvoked rows, so inserts of invoked rows (the agent's
    // output, nearly all of them) pay nothing for them. Pages are ordered by position,
    // `(invoked_at ?? created_at, seq)`, which needs an index of its own: without it every page
    // of a long session sorts the whole session (10 000 rows read for a page of 50).
    "ALTER TABLE messages ADD COLUMN invoked_at INTEGER;
    ALTER TABLE messages ADD COLUMN scheduled_at INTEGER;
    ALTER TABLE messages ADD COLUMN delivery_state TEXT NOT NULL DEFAULT 'queued';
    UPDATE messages SET invoked_at = created_at;
    ALTER TABLE sessions ADD COLUMN message_epoch INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX messages_uninvoked ON messages (session_id, seq) WHERE invoked_at IS NULL;
    CREATE INDEX messages_scheduled ON messages (scheduled_at)
        WHERE invoked_at IS NULL AND scheduled_at IS NOT NULL;
    CREATE INDEX messages_by_position ON messages
        (session_id, COALESCE(invoked_at, created_at), seq);",
    // 3 -> 4: the scratch list of a session (issue 16; src/hub/scratchlist.rs). Entries hold
    // their attachment records as a JSON array; attachment rows describe the uploaded files
    // under `HAPI_HOME/scratchlist-attachments` (the bytes live there, not here). Both go with
    // their session.
    "CREATE TABLE scratch_entries (
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        entry_id TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        attachments TEXT NOT NULL,
        PRIMARY KEY (session_id, entry_id)
    );
    CREATE TABLE scratch_attachments (
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        filename TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        file TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (session_id, id)
    );",
    // 4 -> 5: session pins (PUT /api/sessions/:id/pin; src/hub/actions.rs).
    "ALTER TABLE sessions ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN global_pinned INTEGER NOT NULL DEFAULT 0;",
    // 5 -> 6: token-usage aggregates (GET /api/usage/summary; src/store/usage.rs). The one
    // `usage_backfill` row makes the next start count the messages already stored.
    "CREATE TABLE usage_buckets (
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        bucket INTEGER NOT NULL,
        model TEXT NOT NULL,
        input INTEGER NOT NULL,
        output INTEGER NOT NULL,
        cache_read INTEGER NOT NULL,
        cache_creation INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        PRIMARY KEY (session_id, bucket, model)
    ) WITHOUT ROWID;
    CREATE TABLE usage_message_ids (
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        message_id TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        model TEXT NOT NULL,
        input INTEGER NOT NULL,
        output INTEGER NOT NULL,
        cache_read INTEGER NOT NULL,
        cache_creation INTEGER NOT NULL,
        PRIMARY KEY (session_id, message_id)
    ) WITHOUT ROWID;
    CREATE TABLE usage_backfill (next_rowid INTEGER NOT NULL);
    INSERT INTO usage_backfill (next_rowid) SELECT 0 WHERE EXISTS (SELECT 1 FROM messages);",
];

/// Brings the schema to [`SCHEMA_VERSION`], each step in its own transaction.
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let app: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    )?;
    if app != APPLICATION_ID && tables > 0 {
        return Err(StoreError::Incompatible(
            "this database was not created by hapid (is it the official hub's hapi.db?); \
             point DB_PATH at a new file — hapid never writes an upstream database in place"
                .into(),
        ));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::Incompatible(format!(
            "database schema version {version} is newer than this hapid supports ({SCHEMA_VERSION}); \
             upgrade hapid"
        )));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let to = from as i64 + 1;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {to}; COMMIT;"
        ))?;
    }
    Ok(())
}
