//! Store tests against a real SQLite file in a temporary directory (spec/storage.md §10).

use super::*;

fn tmp() -> std::path::PathBuf {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).unwrap();
    let d = std::env::temp_dir().join(format!("hapid-store-{:x}", u64::from_le_bytes(b)));
    std::fs::create_dir_all(&d).unwrap();
    d.join("t.db")
}

fn session(id: &str, ns: &str) -> SessionRow {
    SessionRow {
        id: id.into(),
        tag: Some(format!("tag-{id}")),
        namespace: ns.into(),
        created_at: 1,
        updated_at: 1,
        metadata: Some(r#"{"path":"/p","host":"h"}"#.into()),
        metadata_version: 1,
        agent_state_version: 1,
        ..SessionRow::default()
    }
}

fn msg(id: &str, seq: i64, local: Option<&str>) -> MessageRow {
    MessageRow {
        id: id.into(),
        seq,
        local_id: local.map(Into::into),
        content: "{}".into(),
        created_at: seq,
        invoked_at: Some(seq),
        ..MessageRow::default()
    }
}

#[test]
fn reopen_keeps_committed_rows() {
    let path = tmp();
    {
        let mut s = Store::open(&path).unwrap();
        s.put_session(&session("a", "default")).unwrap();
        s.insert_message("a", &msg("m1", 1, Some("l1"))).unwrap();
        s.commit().unwrap();
        s.put_session(&session("b", "default")).unwrap(); // never committed
    }
    let s = Store::open(&path).unwrap();
    let ids: Vec<_> = s
        .load_sessions()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["a"]);
    assert_eq!(s.message_by_local_id("a", "l1").unwrap().unwrap().id, "m1");
    assert!(s.integrity_ok());
}

#[test]
fn seq_is_unique_per_session_and_local_id_dedupes() {
    let path = tmp();
    let mut s = Store::open(&path).unwrap();
    s.put_session(&session("a", "default")).unwrap();
    s.put_session(&session("b", "default")).unwrap();
    s.insert_message("a", &msg("m1", 1, Some("x"))).unwrap();
    s.insert_message("b", &msg("m2", 1, Some("x"))).unwrap(); // same localId, other session: fine
    assert!(s.insert_message("a", &msg("m3", 1, None)).is_err()); // seq clash
    assert!(s.insert_message("a", &msg("m4", 2, Some("x"))).is_err()); // localId clash
    s.commit().unwrap();
    assert_eq!(s.max_message_seqs().unwrap().len(), 2);
}

#[test]
fn paging_before_and_after() {
    let mut s = Store::open(&tmp()).unwrap();
    s.put_session(&session("a", "default")).unwrap();
    for i in 1..=10 {
        s.insert_message("a", &msg(&format!("m{i}"), i, None))
            .unwrap();
    }
    s.commit().unwrap();
    let seqs = |v: Vec<MessageRow>| v.into_iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(seqs(s.messages_before("a", None, 3).unwrap()), [8, 9, 10]);
    assert_eq!(seqs(s.messages_before("a", Some(8), 3).unwrap()), [5, 6, 7]);
    assert_eq!(seqs(s.messages_after("a", 7, 200).unwrap()), [8, 9, 10]);
    assert_eq!(seqs(s.recent_messages("a", 2).unwrap()), [10, 9]);
}

#[test]
fn delete_cascades_messages() {
    let mut s = Store::open(&tmp()).unwrap();
    s.put_session(&session("a", "default")).unwrap();
    s.insert_message("a", &msg("m1", 1, None)).unwrap();
    s.delete_session("a").unwrap();
    s.commit().unwrap();
    assert_eq!(s.message_count().unwrap(), 0);
}

#[test]
fn merge_puts_old_history_first_and_clears_colliding_local_ids() {
    let mut s = Store::open(&tmp()).unwrap();
    s.put_session(&session("old", "default")).unwrap();
    s.put_session(&session("new", "default")).unwrap();
    s.insert_message("old", &msg("o1", 1, Some("dup"))).unwrap();
    s.insert_message("old", &msg("o2", 2, Some("keep")))
        .unwrap();
    s.insert_message("new", &msg("n1", 1, Some("dup"))).unwrap();
    s.atomically(|st| st.merge_messages("old", "new", 2, 1))
        .unwrap();
    s.commit().unwrap();
    let v = s.messages_after("new", 0, 200).unwrap();
    let got: Vec<_> = v
        .iter()
        .map(|m| (m.id.as_str(), m.seq, m.local_id.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("o1", 1, None),
            ("o2", 2, Some("keep")),
            ("n1", 3, Some("dup"))
        ]
    );
}

#[test]
fn failed_atomic_block_leaves_nothing() {
    let mut s = Store::open(&tmp()).unwrap();
    s.put_session(&session("a", "default")).unwrap();
    s.commit().unwrap();
    let r: Result<()> = s.atomically(|st| {
        st.delete_session("a")?;
        Err(StoreError::Incompatible("injected".into()))
    });
    assert!(r.is_err());
    s.commit().unwrap();
    assert_eq!(s.load_sessions().unwrap().len(), 1);
}

#[test]
fn push_upsert_and_bindings() {
    let mut s = Store::open(&tmp()).unwrap();
    let p = PushRow {
        namespace: "n".into(),
        endpoint: "e".into(),
        p256dh: "k1".into(),
        auth: "a".into(),
        created_at: 1,
    };
    s.upsert_push(&p).unwrap();
    s.upsert_push(&PushRow {
        p256dh: "k2".into(),
        created_at: 2,
        ..p.clone()
    })
    .unwrap();
    s.upsert_push(&PushRow {
        namespace: "other".into(),
        ..p.clone()
    })
    .unwrap();
    s.delete_push("n", "unknown").unwrap();
    s.commit().unwrap();
    let rows = s.push_subscriptions("n").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].p256dh.as_str(), rows[0].created_at), ("k2", 2));
    s.bind("telegram", "42", "team", 1).unwrap();
    s.bind("telegram", "42", "other", 2).unwrap(); // ignored
    assert_eq!(
        s.binding("telegram", "42").unwrap().as_deref(),
        Some("team")
    );
    assert_eq!(s.bound_users("telegram", "team").unwrap(), ["42"]);
}

#[test]
fn refuses_foreign_database() {
    let path = tmp();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE sessions (id TEXT)").unwrap();
    }
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::Incompatible(_))
    ));
}

#[test]
fn housekeeping_commits_alone_and_restores_full_sync() {
    let mut s = Store::open(&tmp()).unwrap();
    s.put_session(&session("a", "default")).unwrap();
    s.insert_message("a", &msg("m1", 1, None)).unwrap();
    // Pending acknowledged-bound writes: housekeeping waits.
    assert_eq!(
        s.housekeeping(|st| st.delete_messages_batch("a", 10))
            .unwrap(),
        None
    );
    s.commit().unwrap();
    assert_eq!(
        s.housekeeping(|st| st.delete_messages_batch("a", 10))
            .unwrap()
            .map(|(n, _)| n),
        Some(1)
    );
    assert!(!s.dirty(), "housekeeping commits its own transaction");
    let sync: i64 = s
        .conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous is FULL again");
    assert_eq!(s.message_count().unwrap(), 0);
}

#[test]
fn version_2_database_migrates_to_the_send_pipeline_keeping_every_row() {
    let path = tmp();
    {
        // A database as hapid's schema version 2 left it: every message already delivered.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(schema::MIGRATIONS[0]).unwrap();
        c.execute_batch(schema::MIGRATIONS[1]).unwrap();
        c.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 2;
             INSERT INTO sessions (id, namespace, created_at, updated_at) VALUES ('a', 'default', 1, 1);
             INSERT INTO messages (id, session_id, seq, local_id, content, created_at)
                 VALUES ('m1', 'a', 1, 'l1', '{{\"n\":1}}', 5), ('m2', 'a', 2, NULL, '\"two\"', 6);"
        ))
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    let got = s.messages_after("a", 0, 10).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (&*got[0].id, got[0].local_id.as_deref(), &*got[0].content),
        ("m1", Some("l1"), "{\"n\":1}")
    );
    // Rows of before the pipeline were handed on when stored: invoked at their creation.
    assert_eq!((got[0].invoked_at, got[1].invoked_at), (Some(5), Some(6)));
    assert_eq!(
        (got[0].scheduled_at, got[0].state),
        (None, Delivery::Queued)
    );
    assert!(s.uninvoked_messages("a").unwrap().is_empty());
    assert!(s.message_epochs().unwrap().is_empty());
    // The new columns work.
    s.set_message_epoch("a", 3).unwrap();
    let queued = MessageRow {
        invoked_at: None,
        scheduled_at: Some(100),
        ..msg("m3", 3, Some("l3"))
    };
    s.insert_message("a", &queued).unwrap();
    s.commit().unwrap();
    assert_eq!(s.message_epochs().unwrap(), [("a".to_string(), 3)]);
    assert_eq!(s.next_scheduled(50).unwrap(), Some(100));
    assert_eq!(s.future_scheduled(50).unwrap(), [("a".to_string(), 1, 100)]);
    assert_eq!(s.due_scheduled(100).unwrap().len(), 1);
    assert!(s.integrity_ok());
}

#[test]
fn delivery_state_moves_only_from_the_states_given() {
    let path = tmp();
    let mut s = Store::open(&path).unwrap();
    s.put_session(&session("a", "default")).unwrap();
    for (i, l) in ["l1", "l2"].iter().enumerate() {
        let m = MessageRow {
            invoked_at: None,
            ..msg(&format!("m{i}"), i as i64 + 1, Some(l))
        };
        s.insert_message("a", &m).unwrap();
    }
    let both = ["l1".to_string(), "l2".to_string()];
    let moved = s
        .set_delivery("a", &both[..1], &[Delivery::Queued], Delivery::Dispatching)
        .unwrap();
    assert_eq!(moved, ["l1"]);
    let moved = s
        .set_delivery(
            "a",
            &both,
            &[Delivery::Dispatching],
            Delivery::Indeterminate,
        )
        .unwrap();
    assert_eq!(moved, ["l1"]);
    assert_eq!(s.consume_messages("a", &both, 9).unwrap(), both);
    assert_eq!(
        s.consume_messages("a", &both, 10).unwrap(),
        Vec::<String>::new()
    );
    s.commit().unwrap();
    let rows = s.messages_after("a", 0, 10).unwrap();
    assert!(
        rows.iter()
            .all(|m| m.invoked_at == Some(9) && m.state == Delivery::Queued)
    );
    assert_eq!(
        s.message_by_ref("a", "m1")
            .unwrap()
            .unwrap()
            .local_id
            .as_deref(),
        Some("l2")
    );
    assert_eq!(s.message_by_ref("a", "l1").unwrap().unwrap().id, "m0");
}

#[test]
fn version_1_database_migrates_keeping_every_message() {
    let path = tmp();
    {
        // A database as hapid's schema version 1 left it.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(schema::MIGRATIONS[0]).unwrap();
        c.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;
             INSERT INTO sessions (id, namespace, created_at, updated_at) VALUES ('a', 'default', 1, 1);
             INSERT INTO messages (id, session_id, seq, local_id, content, created_at)
                 VALUES ('m1', 'a', 1, 'l1', '{{\"n\":1}}', 5), ('m2', 'a', 2, NULL, '\"two\"', 6);"
        ))
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    let v: i64 = s
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let got = s.messages_after("a", 0, 10).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (
            &*got[0].id,
            got[0].local_id.as_deref(),
            &*got[0].content,
            got[0].created_at
        ),
        ("m1", Some("l1"), "{\"n\":1}", 5)
    );
    assert_eq!((&*got[1].id, &*got[1].content), ("m2", "\"two\""));
    // The constraints that matter survive: seq and localId stay unique per session.
    assert!(s.insert_message("a", &msg("m3", 2, None)).is_err());
    assert!(s.insert_message("a", &msg("m4", 3, Some("l1"))).is_err());
    s.insert_message("a", &msg("m5", 3, Some("l5"))).unwrap();
    s.commit().unwrap();
    // ...and messages.id has no index of its own any more.
    let idx: Vec<String> = s
        .conn
        .prepare("SELECT sql FROM sqlite_master WHERE tbl_name = 'messages' AND type = 'index'")
        .unwrap()
        .query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap()
        .map(|r| r.unwrap().unwrap_or_default())
        .collect();
    // (the autoindex, localId, the two partial indexes and the position of the send pipeline)
    assert_eq!(idx.len(), 5, "{idx:?}");
    assert!(s.integrity_ok());
    drop(s);
    // Reopening at the current version changes nothing.
    assert_eq!(
        Store::open(&path)
            .unwrap()
            .messages_after("a", 0, 10)
            .unwrap()
            .len(),
        3
    );
}

/// spec/storage.md §1, DESIGN.md "durable acks": when SQLite rolls the turn's transaction
/// back by itself, the writes made before the failure must not be reported committed, and
/// the writes after it must not open a fresh transaction that commits without them.
#[test]
fn a_transaction_sqlite_rolled_back_fails_the_whole_turn() {
    let path = tmp();
    let mut st = Store::open(&path).unwrap();
    st.put_session(&session("s1", "default")).unwrap();
    st.commit().unwrap();

    st.insert_message("s1", &msg("m1", 1, None)).unwrap();
    // What SQLite does on some SQLITE_FULL / SQLITE_IOERR failures: the whole transaction
    // is gone, and the connection is back in autocommit mode.
    st.conn.execute_batch("ROLLBACK").unwrap();
    assert!(matches!(
        st.insert_message("s1", &msg("m2", 2, None)),
        Err(StoreError::TurnLost)
    ));
    assert!(st.dirty());
    assert!(matches!(st.commit(), Err(StoreError::TurnLost)));
    assert!(st.messages_after("s1", 0, 10).unwrap().is_empty());

    // The next turn starts clean.
    assert!(!st.dirty());
    st.insert_message("s1", &msg("m1", 1, None)).unwrap();
    st.commit().unwrap();
    assert_eq!(st.messages_after("s1", 0, 10).unwrap().len(), 1);
}

/// A real full database (`max_page_count`): one oversize insert fails; whatever SQLite did to
/// the transaction, the commit never reports a turn whose earlier write is missing, and a
/// later turn with room succeeds.
#[test]
fn a_full_database_never_commits_a_later_write_without_an_earlier_one() {
    let path = tmp();
    let mut st = Store::open(&path).unwrap();
    st.put_session(&session("s1", "default")).unwrap();
    st.commit().unwrap();
    let pages: i64 = st
        .conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    st.conn
        .execute_batch(&format!("PRAGMA max_page_count = {}", pages + 8))
        .unwrap();

    st.insert_message("s1", &msg("small-1", 1, None)).unwrap();
    let mut big = msg("big", 2, None);
    big.content = "x".repeat(4 << 20);
    assert!(st.insert_message("s1", &big).is_err());
    let later = st.insert_message("s1", &msg("small-3", 3, None));
    let committed = st.commit();
    let seqs: Vec<i64> = st
        .messages_after("s1", 0, 10)
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    match committed {
        Ok(()) => {
            assert!(later.is_ok());
            assert_eq!(seqs, vec![1, 3]);
        }
        Err(StoreError::TurnLost) => assert!(seqs.is_empty()),
        Err(e) => panic!("unexpected commit error {e}"),
    }

    st.conn
        .execute_batch("PRAGMA max_page_count = 1073741823")
        .unwrap();
    st.insert_message("s1", &msg("after", 10, None)).unwrap();
    st.commit().unwrap();
    assert!(st.messages_after("s1", 9, 10).unwrap().len() == 1);
}

/// A zero-length database file that exists is refused at open, naming what to do, instead of
/// silently starting with no sessions.
#[test]
fn an_existing_empty_database_file_is_refused() {
    let path = tmp();
    std::fs::write(&path, b"").unwrap();
    let err = Store::open(&path).err().expect("refused");
    assert!(err.to_string().contains("empty (0 bytes)"), "{err}");
    // A new database (no file yet) still opens.
    let fresh = path.with_file_name("new.db");
    Store::open(&fresh).unwrap();
    drop(Store::open(&fresh).unwrap());
}

/// A page damaged in the middle of the file is found at open (quick_check), not later.
#[test]
fn a_database_damaged_mid_file_is_refused_at_open() {
    let path = tmp();
    {
        let mut st = Store::open(&path).unwrap();
        st.put_session(&session("s1", "default")).unwrap();
        for i in 0..2000 {
            let mut m = msg(&format!("m{i}"), i + 1, None);
            m.content = format!("{{\"text\":\"{}\"}}", "y".repeat(1000));
            st.insert_message("s1", &m).unwrap();
        }
        st.commit().unwrap();
        st.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
    }
    assert!(Store::open(&path).is_ok(), "intact file opens");
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    let at = bytes.len() / 2 / page * page;
    for b in &mut bytes[at..at + page] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(&path).err().expect("damage found");
    assert!(
        err.to_string().contains("damaged") || err.to_string().contains("malformed"),
        "{err}"
    );
}

#[test]
fn below_the_disk_reserve_writes_are_refused_before_they_run_and_resume_after() {
    use std::rc::Rc;
    let free = Rc::new(std::cell::Cell::new(100u64 << 20));
    let mut s = Store::open(&tmp()).unwrap();
    let f = free.clone();
    s.guard_space(Box::new(move || Some(f.get())), 32 << 20);
    s.put_session(&session("a", "default")).unwrap();
    s.insert_message("a", &msg("m1", 1, None)).unwrap();
    // The disk fills up within the turn: the next write is refused (after the 100 ms cache),
    // and the turn's earlier writes still commit.
    free.set(1 << 20);
    std::thread::sleep(SPACE_CHECK_EVERY);
    assert!(matches!(
        s.insert_message("a", &msg("m2", 2, None)),
        Err(StoreError::DiskFull)
    ));
    s.commit().unwrap();
    assert_eq!(s.message_count().unwrap(), 1);
    // Space returns: writes go on.
    free.set(64 << 20);
    std::thread::sleep(SPACE_CHECK_EVERY);
    s.insert_message("a", &msg("m2", 2, None)).unwrap();
    s.commit().unwrap();
    assert_eq!(s.message_count().unwrap(), 2);
}

#[test]
fn position_pages_walk_ten_thousand_messages_both_ways_without_gaps_or_repeats() {
    let path = tmp();
    let mut s = Store::open(&path).unwrap();
    s.put_session(&session("a", "default")).unwrap();
    // Positions that do not follow seq: every 7th message was queued and consumed later,
    // and created_at repeats (several messages in one millisecond).
    for seq in 1..=10_000i64 {
        let created = seq / 3;
        let invoked = if seq % 7 == 0 { created + 500 } else { created };
        let m = MessageRow {
            created_at: created,
            invoked_at: Some(invoked),
            ..msg(&format!("m{seq}"), seq, None)
        };
        s.insert_message("a", &m).unwrap();
    }
    s.commit().unwrap();
    let mut want: Vec<Position> = (1..=10_000i64)
        .map(|seq| {
            let c = seq / 3;
            (if seq % 7 == 0 { c + 500 } else { c }, seq)
        })
        .collect();
    want.sort();
    // backwards, 64 at a time
    let mut back = Vec::new();
    let mut cursor = None;
    loop {
        let page = s.page_before("a", cursor, 64).unwrap();
        let Some(first) = page.first() else { break };
        cursor = Some(position(first));
        back.splice(0..0, page.iter().map(position));
    }
    assert_eq!(back, want);
    // forwards from the bottom, 200 at a time, up to a snapshot head
    let head = s.head_position("a").unwrap().unwrap();
    assert_eq!(head, *want.last().unwrap());
    let mut fwd = Vec::new();
    let mut after = (i64::MIN, i64::MIN);
    loop {
        let page = s.page_after("a", after, head, 200).unwrap();
        let Some(last) = page.last() else { break };
        after = position(last);
        fwd.extend(page.iter().map(position));
    }
    assert_eq!(fwd, want);
    assert!(!s.any_below("a", want[0]).unwrap());
    assert!(s.any_below("a", want[1]).unwrap());
    // The pages read through the position index, never a sort of the whole session.
    let plan: Vec<String> = s
        .conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT id FROM messages WHERE session_id = 'a'
             AND (COALESCE(invoked_at, created_at), seq) < (5, 5)
             ORDER BY COALESCE(invoked_at, created_at) DESC, seq DESC LIMIT 50",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(
        plan.iter().any(|l| l.contains("messages_by_position"))
            && !plan.iter().any(|l| l.contains("TEMP B-TREE")),
        "{plan:?}"
    );
}
