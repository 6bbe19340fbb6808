//! Minimal logging: one line per event to stderr, or to `HAPID_LOG_FILE` (reopened on SIGHUP
//! so logrotate works). Secrets are never passed here.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

static SINK: Mutex<Option<(PathBuf, std::fs::File)>> = Mutex::new(None);

/// Logs to `path` from now on.
pub fn to_file(path: PathBuf) -> Result<(), String> {
    let f = open(&path)?;
    if let Ok(mut s) = SINK.lock() {
        *s = Some((path, f));
    }
    Ok(())
}

fn open(path: &PathBuf) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot open log file {}: {e}", path.display()))
}

/// Reopens the log file (SIGHUP).
pub fn reopen() {
    if let Ok(mut s) = SINK.lock()
        && let Some((path, f)) = s.as_mut()
        && let Ok(nf) = open(path)
    {
        *f = nf;
    }
    info("log reopened");
}

fn write(level: &str, msg: &str) {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let line = format!("{ts} {level} {msg}\n");
    if let Ok(mut s) = SINK.lock()
        && let Some((_, f)) = s.as_mut()
    {
        let _ = f.write_all(line.as_bytes());
        return;
    }
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// An informational line.
pub fn info(msg: &str) {
    write("INFO", msg);
}

/// A warning.
pub fn warn(msg: &str) {
    write("WARN", msg);
}
