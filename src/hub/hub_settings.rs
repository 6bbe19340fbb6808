//! The hub settings the web edits (Settings → General → "Session status summaries") and the
//! SQLite storage report (Settings → Storage); parity-0.30.7.md §2 rows 82–84.
//!
//! Contract, observed on the official hub v0.30.7:
//! - `GET /api/hub-settings` → `{"sessionSummaryContract": bool, "sessionSummaryInChat": bool}`,
//!   both `false` until set.
//! - `PUT /api/hub-settings` takes an object with at least one of the two keys, each a boolean;
//!   other keys are ignored. Anything else (not JSON, not an object, no known key, a key that
//!   is not a boolean, `null`) → 400 `{"error":"Invalid body"}`. A valid body merges into the
//!   current values and answers them all (200). Other methods → 404.
//! - The values live in `HAPI_HOME/settings.json` next to the keys the CLI shares (the official
//!   hub writes both keys there on a PUT). hapid re-reads the file, sets the two keys, keeps
//!   every other key, and writes it atomically (temp file, fsync, rename); the answer leaves only
//!   once the file is written.
//! - The CLI gets `sessionSummaryContract` (the current value) beside `session` in the answers
//!   of `POST /cli/sessions` and `GET /cli/sessions/:id`.
//! - `GET /api/storage/sqlite` → `{"path", "databaseBytes", "walBytes", "shmBytes",
//!   "totalBytes"}`: the database file and its `-wal`/`-shm` companions (0 when absent);
//!   hapid names its own database (`hapid.db`).

use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The two summary switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SummaryFlags {
    /// Ask supported agents to emit a trailing status summary each turn.
    pub contract: bool,
    /// Show those summaries in the chat.
    pub in_chat: bool,
}

impl SummaryFlags {
    /// The flags as `settings.json` holds them (absent or not a boolean → `false`).
    pub fn from_settings(settings: &Map<String, Value>) -> SummaryFlags {
        let flag = |k: &str| settings.get(k).and_then(Value::as_bool).unwrap_or(false);
        SummaryFlags {
            contract: flag("sessionSummaryContract"),
            in_chat: flag("sessionSummaryInChat"),
        }
    }

    /// Reads the flags from `home/settings.json` (a missing or unreadable file → defaults).
    pub fn load(home: &Path) -> SummaryFlags {
        match read_object(&home.join("settings.json")) {
            Ok(m) => SummaryFlags::from_settings(&m),
            Err(_) => SummaryFlags::default(),
        }
    }

    /// The JSON the web reads.
    pub fn to_json(self) -> Value {
        json!({"sessionSummaryContract": self.contract, "sessionSummaryInChat": self.in_chat})
    }

    /// Applies a `PUT /api/hub-settings` body; `None` when it is invalid.
    pub fn patched(self, body: &Value) -> Option<SummaryFlags> {
        let obj = body.as_object()?;
        let pick = |k: &str| match obj.get(k) {
            None => Some(None),
            Some(v) => v.as_bool().map(Some),
        };
        let contract = pick("sessionSummaryContract")?;
        let in_chat = pick("sessionSummaryInChat")?;
        if contract.is_none() && in_chat.is_none() {
            return None;
        }
        Some(SummaryFlags {
            contract: contract.unwrap_or(self.contract),
            in_chat: in_chat.unwrap_or(self.in_chat),
        })
    }

    /// Writes the flags into `home/settings.json`, keeping every other key.
    pub fn save(self, home: &Path) -> Result<(), String> {
        let path = home.join("settings.json");
        let mut m = read_object(&path)?;
        m.insert("sessionSummaryContract".into(), json!(self.contract));
        m.insert("sessionSummaryInChat".into(), json!(self.in_chat));
        crate::config::write_json_atomic(&path, &Value::Object(m), 2)
    }
}

fn read_object(path: &Path) -> Result<Map<String, Value>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(format!("{} is not a JSON object", path.display())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(format!("Cannot read {}: {e}", path.display())),
    }
}

/// The sizes of the database and its WAL and SHM files (`GET /api/storage/sqlite`).
pub fn sqlite_storage(db: &Path) -> Value {
    let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let with = |suffix: &str| {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let database = size(db.to_path_buf());
    let wal = size(with("-wal"));
    let shm = size(with("-shm"));
    json!({
        "path": db.display().to_string(),
        "databaseBytes": database,
        "walBytes": wal,
        "shmBytes": shm,
        "totalBytes": database + wal + shm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_rules() {
        let f = SummaryFlags::default();
        assert_eq!(f.patched(&json!({})), None);
        assert_eq!(f.patched(&json!([])), None);
        assert_eq!(f.patched(&Value::Null), None);
        assert_eq!(f.patched(&json!({"foo": 1})), None);
        assert_eq!(f.patched(&json!({"sessionSummaryContract": null})), None);
        assert_eq!(f.patched(&json!({"sessionSummaryContract": "x"})), None);
        let on = f.patched(&json!({"sessionSummaryContract": true, "foo": 1}));
        assert_eq!(
            on,
            Some(SummaryFlags {
                contract: true,
                in_chat: false
            })
        );
        let both = on.and_then(|o| o.patched(&json!({"sessionSummaryInChat": true})));
        assert_eq!(
            both,
            Some(SummaryFlags {
                contract: true,
                in_chat: true
            })
        );
    }

    #[test]
    fn save_keeps_other_keys() {
        let dir = std::env::temp_dir().join(format!("hapid-hs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("settings.json"),
            r#"{"cliApiToken":"t","x":{"y":1}}"#,
        )
        .unwrap();
        let f = SummaryFlags {
            contract: true,
            in_chat: false,
        };
        f.save(&dir).unwrap();
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("settings.json")).unwrap())
                .unwrap();
        assert_eq!(v["cliApiToken"], "t");
        assert_eq!(v["x"]["y"], 1);
        assert_eq!(SummaryFlags::load(&dir), f);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
