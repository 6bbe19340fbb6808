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

/// The `/cli` protocol with the real socket.io-client 4.8.3 (what the official CLI embeds):
/// websocket and polling-then-upgrade, auth, messages and seq, localId, versioned writes,
/// RPC round trip and timeout, web messages to the CLI, SSE (spec/cli-protocol.md).
#[test]
fn node_socketio_suite() {
    run_suite("tests/node/run.sh");
}

/// The official `hapi` CLI v0.30.7 against hapid: runner start, machine online across
/// heartbeats, spawn with a stand-in agent, messages both ways, git-status over RPC, archive,
/// runner stop (spec/cli-protocol.md Appendix A).
#[test]
fn official_cli_suite() {
    run_suite("tests/cli_official.sh");
}

/// The official engine.io-protocol and socket.io-protocol test suites (vendored, MIT)
/// against `src/bin/conformance.rs`, built from hapid's own WebSocket/Engine.IO/Socket.IO
/// layers: 24 + 32 cases.
#[test]
fn protocol_conformance_suites() {
    run_suite("tests/conformance/run.sh");
}

/// Autobahn|Testsuite cases 1–11 (the official fuzzing client, Python 2.7) against the
/// conformance server's `/echo` WebSocket endpoint.
#[test]
fn autobahn_websocket_suite() {
    run_suite("tests/conformance/autobahn.sh");
}

/// The official web app (fetched from the official hub as it serves it) in headless
/// Chromium: login with ?token=, session list, session view, send a message to a CLI
/// stand-in, permission dialog and Allow — against hapid and the official hub in the same
/// run, failing on any 4xx/5xx or console error.
#[test]
fn official_web_app_in_browser() {
    run_suite("tests/web/run.sh");
}

/// Static musl builds for x86_64, aarch64 and armv7 (Debian cross toolchains), each started
/// (ARM under qemu-user) and put through the store-and-read-back scenario, SIGHUP and SIGTERM.
#[test]
fn static_builds_run_under_qemu() {
    run_suite("scripts/qemu-smoke.sh");
}

/// The systemd unit verifies, and hapid's system calls stay inside its SystemCallFilter; the
/// OpenWrt init script starts it with its settings.
#[test]
fn service_files_check() {
    run_suite("scripts/check-service.sh");
}

/// The web API loop with a CLI stand-in: permissions approved/denied from the web, every
/// RPC-backed route and its failure shape, resume with merge, message paging, Last-Event-ID
/// replay, namespace isolation on every route, a slow SSE client dropped (spec/rest.md, sse.md).
#[test]
fn web_api_suite() {
    run_suite("tests/webapi/run.sh");
}

/// The .deb packages (scripts/build-deb.sh): install, upgrade and remove the amd64 package with
/// dpkg on this machine, the installed /usr/bin/hapid serving as the `hapid` user, data and
/// settings kept across the upgrade and the remove, gone after a purge; `hapid-pair`'s QR code
/// decoded with zbarimg; the arm64 and armhf packages' contents (needs root and dpkg).
#[test]
fn debian_packages_install_upgrade_remove() {
    run_suite("scripts/check-deb.sh");
}
