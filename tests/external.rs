//! Runs the suites that use real third-party clients (node socket.io-client, the official
//! `hapi` CLI, the socket.io/engine.io protocol test suites, http_ece, a browser) against the
//! real hapid binary. Each suite is a script under `tests/`; it installs its own packages
//! from the registries. They run one at a time: they are heavy and some measure latency.

use std::process::Command;
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

fn run_suite(script: &str) {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new("bash")
        .arg(format!("{root}/{script}"))
        .current_dir(root)
        .env("HAPID_BIN", env!("CARGO_BIN_EXE_hapid"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(status.success(), "{script} failed: {status}");
}

/// Web Push end to end: subscription, permission and ready pushes decrypted with http_ece and
/// the VAPID JWT verified with node:crypto, toasts instead of push when visible, 404/410/500/
/// 429/hanging push services (spec/push.md).
#[test]
fn web_push_suite() {
    run_suite("tests/push/run.sh");
}

/// Telegram bot and voice tokens against fake Bot API / ElevenLabs servers: startup calls,
/// commands, notifications, Allow/Deny callbacks, every refusal row, every voice §7 row, the
/// agent cache, isolation from a stalled Telegram (spec/telegram.md, spec/voice.md).
#[test]
fn telegram_and_voice_suite() {
    run_suite("tests/telegram/run.sh");
}
