//! Abuse and faults (issue 20) against the real binary: what an attacker on the open
//! internet or a failing disk does to the hub, each with the figure it measures printed
//! (`cargo test --test abuse -- --nocapture`).
//!
//! Tests that need root (a tmpfs `HAPI_HOME`) say so and skip when they cannot mount one.

mod common;

use common::sio::Sio;
use common::{Hub, TEST_TOKEN, TempDir};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB, or None (with the reason printed) when this process may
    /// not mount (not root, or no mount namespace rights).
    fn mount(label: &str, mib: u32) -> Option<Tmpfs> {
        let dir = TempDir::new(label);
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system until about `leave` bytes are free; returns the filler file.
    fn fill_leaving(&self, leave: u64) -> PathBuf {
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0x5Au8; 64 * 1024];
        let mut written: u64 = 0;
        use std::io::Write;
        while f.write_all(&chunk).is_ok() {
            written += chunk.len() as u64;
        }
        let _ = f.flush();
        drop(f);
        let keep = written.saturating_sub(leave);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .expect("filler");
        f.set_len(keep).expect("shrink filler");
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn create_session(hub: &Hub, tag: &str) -> String {
    let r = hub.post_json(
        "/cli/sessions",
        Some(TEST_TOKEN),
        &json!({ "tag": tag, "metadata": { "path": "/tmp/abuse", "host": "abuse", "flavor": "claude" } }),
    );
    assert_eq!(r.status, 200, "POST /cli/sessions: {r:?}");
    r.json()["session"]["id"]
        .as_str()
        .expect("session id")
        .to_string()
}

fn agent_message(text: &str) -> Value {
    json!({
        "role": "agent",
        "content": { "type": "output", "data": { "type": "assistant", "text": text } },
        "meta": { "sentFrom": "cli" }
    })
}

/// The `localId`s stored for a session, read back over `/cli` (the CLI's own backfill route).
fn stored_local_ids(hub: &Hub, sid: &str) -> BTreeSet<String> {
    let r = hub.request(
        "GET",
        &format!("/cli/sessions/{sid}/messages?afterSeq=0&limit=200"),
        &[("Authorization", &format!("Bearer {TEST_TOKEN}"))],
        b"",
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["localId"].as_str().map(str::to_string))
        .collect()
}

/// Issue 20 item 1, the reported reproduction: `HAPI_HOME` on a small tmpfs with ~1.5 MB
/// free, one TCP write carrying a small `message` and a 4 MB one. Whatever the hub answers,
/// every message acknowledged `ok:true` is stored (counted and printed), and nothing stored
/// was refused. Needs root for the tmpfs.
#[test]
fn a_full_disk_never_loses_an_acknowledged_message() {
    let Some(fs) = Tmpfs::mount("abuse-full", 16) else {
        return;
    };
    let home = fs.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let mut hub = Hub::options().home(&home).start();
    let sid = create_session(&hub, "full-disk");
    let mut cli = Sio::connect(
        &hub,
        &json!({ "token": TEST_TOKEN, "clientType": "session-scoped", "sessionId": sid }),
    );
    // Some history first, committed while there is room.
    for i in 0..3 {
        let id = cli.emit_ack(
            "message",
            &json!({ "sid": sid, "message": agent_message("before"), "localId": format!("before-{i}") }),
        );
        assert_eq!(cli.recv_ack().expect("ack"), (id, json!({ "ok": true })));
    }
    let filler = fs.fill_leaving(1_500_000);

    let mut acked_ok = BTreeSet::new();
    let mut refused = BTreeSet::new();
    for round in 0..4 {
        let small = format!("small-{round}");
        let big = format!("big-{round}");
        let ids = cli.emit_acks_in_one_write(&[
            (
                "message",
                json!({ "sid": sid, "message": agent_message("small"), "localId": small }),
            ),
            (
                "message",
                json!({ "sid": sid, "message": agent_message(&"x".repeat(4 << 20)), "localId": big }),
            ),
        ]);
        let mut pending: BTreeSet<u64> = ids.iter().copied().collect();
        while !pending.is_empty() {
            match cli.recv_ack() {
                Ok((id, res)) => {
                    pending.remove(&id);
                    let local = if id == ids[0] { &small } else { &big };
                    if res == json!({ "ok": true }) {
                        acked_ok.insert(local.clone());
                    } else {
                        refused.insert(local.clone());
                    }
                }
                Err(_) => break, // the hub closed the socket (or exited)
            }
        }
        if hub.wait_exit(Duration::from_millis(200)).is_some() {
            break;
        }
    }
    eprintln!("acked ok: {acked_ok:?}; refused: {refused:?}");

    // Room again; a hub that exited is started again on the same home.
    std::fs::remove_file(&filler).unwrap();
    if hub.wait_exit(Duration::from_millis(100)).is_some() {
        eprintln!("the hub exited on the full disk; restarting it");
        hub = Hub::options().home(&home).start();
    }
    let stored = stored_local_ids(&hub, &sid);
    let lost: Vec<_> = acked_ok.difference(&stored).collect();
    eprintln!(
        "FIGURE full disk: {} acknowledged ok, {} lost, {} refused",
        acked_ok.len(),
        lost.len(),
        refused.len()
    );
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    for i in 0..3 {
        assert!(stored.contains(&format!("before-{i}")), "history lost");
    }
    let wrongly_stored: Vec<_> = refused.intersection(&stored).collect();
    assert!(
        wrongly_stored.is_empty(),
        "refused but stored: {wrongly_stored:?}"
    );
}
