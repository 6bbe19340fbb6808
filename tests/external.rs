//! Runs the suites that use real third-party clients (node socket.io-client, the official
//! `hapi` CLI, the socket.io/engine.io protocol test suites, http_ece, a browser) against the
//! real hapid binary. Each suite is a script; it installs its own packages from the
//! registries. They run one at a time: they are heavy and some measure latency.
//!
//! Suites are found on disk, so a new one cannot silently not run: every `tests/*/run.sh` and
//! every `tests/*.sh` is a suite. The ones named in [`suites!`] below run as their own test
//! (`cargo test --test external web_push_suite` picks one); `unnamed_suites_on_disk` runs every
//! suite found that the list does not name, and `named_suites_exist` fails when the list names
//! a script that is gone. Scripts outside that pattern (`scripts/*.sh`,
//! `tests/conformance/autobahn.sh`) run only when named.
//!
//! `HAPID_SUITES_DRY=1` lists the scripts instead of running them:
//! `HAPID_SUITES_DRY=1 cargo test --test external -- --nocapture --test-threads 1`.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

fn run_suite(script: &str) {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = env!("CARGO_MANIFEST_DIR");
    if std::env::var_os("HAPID_SUITES_DRY").is_some() {
        println!("suite: {script}");
        assert!(
            Path::new(root).join(script).is_file(),
            "{script} is missing"
        );
        return;
    }
    let status = Command::new("bash")
        .arg(format!("{root}/{script}"))
        .current_dir(root)
        .env("HAPID_BIN", env!("CARGO_BIN_EXE_hapid"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(status.success(), "{script} failed: {status}");
}

/// Every suite script on disk (`tests/*/run.sh`, `tests/*.sh`), relative to the crate root,
/// sorted.
fn suites_on_disk() -> Vec<String> {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&tests).expect("tests/") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() && path.join("run.sh").is_file() {
            found.push(format!("tests/{name}/run.sh"));
        } else if path.is_file() && name.ends_with(".sh") {
            found.push(format!("tests/{name}"));
        }
    }
    found.sort();
    found
}

/// One `#[test]` per named suite (with its doc line), and `NAMED`, the list of their scripts.
macro_rules! suites {
    ($($(#[doc = $doc:literal])+ $name:ident: $script:literal,)+) => {
        const NAMED: &[&str] = &[$($script),+];
        $(
            $(#[doc = $doc])+
            #[test]
            fn $name() {
                run_suite($script);
            }
        )+
    };
}

suites! {
    /// Web Push end to end: subscription, permission and ready pushes decrypted with http_ece and
    /// the VAPID JWT verified with node:crypto, toasts instead of push when visible, 404/410/500/
    /// 429/hanging push services (spec/push.md).
    web_push_suite: "tests/push/run.sh",

    /// Telegram bot and voice tokens against fake Bot API / ElevenLabs servers: startup calls,
    /// commands, notifications, Allow/Deny callbacks, every refusal row, every voice §7 row, the
    /// agent cache, isolation from a stalled Telegram (spec/telegram.md, spec/voice.md).
    telegram_and_voice_suite: "tests/telegram/run.sh",

    /// The `/cli` protocol with the real socket.io-client 4.8.3 (what the official CLI embeds):
    /// websocket and polling-then-upgrade, auth, messages and seq, localId, versioned writes,
    /// RPC round trip and timeout, web messages to the CLI, SSE (spec/cli-protocol.md).
    node_socketio_suite: "tests/node/run.sh",

    /// The official `hapi` CLI v0.30.7 against hapid: runner start, machine online across
    /// heartbeats, spawn with a stand-in agent, messages both ways, git-status over RPC, archive,
    /// runner stop (spec/cli-protocol.md Appendix A).
    official_cli_suite: "tests/cli_official.sh",

    /// The official engine.io-protocol and socket.io-protocol test suites (vendored, MIT)
    /// against `src/bin/conformance.rs`, built from hapid's own WebSocket/Engine.IO/Socket.IO
    /// layers: 24 + 32 cases.
    protocol_conformance_suites: "tests/conformance/run.sh",

    /// Autobahn|Testsuite cases 1–11 (the official fuzzing client, Python 2.7) against the
    /// conformance server's `/echo` WebSocket endpoint.
    autobahn_websocket_suite: "tests/conformance/autobahn.sh",

    /// The official web app (fetched from the official hub as it serves it) in headless
    /// Chromium: login with ?token=, session list, session view, send a message to a CLI
    /// stand-in, permission dialog and Allow — against hapid and the official hub in the same
    /// run, failing on any 4xx/5xx or console error.
    official_web_app_in_browser: "tests/web/run.sh",

    /// Static musl builds for x86_64, aarch64 and armv7 (Debian cross toolchains), each started
    /// (ARM under qemu-user) and put through the store-and-read-back scenario, SIGHUP and SIGTERM.
    static_builds_run_under_qemu: "scripts/qemu-smoke.sh",

    /// The systemd unit verifies, and hapid's system calls stay inside its SystemCallFilter; the
    /// OpenWrt init script starts it with its settings.
    service_files_check: "scripts/check-service.sh",

    /// The web API loop with a CLI stand-in: permissions approved/denied from the web, every
    /// RPC-backed route and its failure shape, resume with merge, message paging, Last-Event-ID
    /// replay, namespace isolation on every route, a slow SSE client dropped (spec/rest.md, sse.md).
    web_api_suite: "tests/webapi/run.sh",

    /// The v0.30 send-pipeline contract (tests/pipeline/CONTRACT.md: scheduled, queued, steered,
    /// cancelled and retried messages, pages and cursors, Last-Event-ID replay) checked against
    /// the official hub v0.30.7, so the contract issue 14 is built to stays true.
    send_pipeline_contract_on_the_official_hub: "tests/pipeline/run.sh",

    /// The same 45 send-pipeline tests against hapid (`HUB=hapid`).
    send_pipeline_on_hapid: "tests/pipeline/hapid.sh",

    /// The parity suite (spec/parity-0.30.7.md; one file per feature: scratch list, pins,
    /// settings, spawn flavors, resume, …) checked against the official hub v0.30.7.
    parity_on_the_official_hub: "tests/parity/run.sh",

    /// The same parity files against hapid (`HUB=hapid`).
    parity_on_hapid: "tests/parity/hapid.sh",
}

/// Every suite found on disk that `suites!` does not name yet: it runs here (add it to the
/// list to give it its own test and doc line).
#[test]
fn unnamed_suites_on_disk() {
    for script in suites_on_disk() {
        if !NAMED.contains(&script.as_str()) {
            eprintln!("{script}: found on disk but not named in suites!; running it here");
            run_suite(&script);
        }
    }
}

/// The list names only scripts that exist (a renamed suite must not linger as a test that
/// fails for the wrong reason, nor hide that the new name runs unnamed).
#[test]
fn named_suites_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let missing: Vec<&&str> = NAMED.iter().filter(|s| !root.join(s).is_file()).collect();
    assert!(
        missing.is_empty(),
        "named suites that do not exist: {missing:?}"
    );
}

/// The .deb packages (scripts/build-deb.sh): install, upgrade and remove the amd64 package with
/// dpkg on this machine, the installed /usr/bin/hapid serving as the `hapid` user, data and
/// settings kept across the upgrade and the remove, gone after a purge; `hapid-pair`'s QR code
/// decoded with zbarimg; the arm64 and armhf packages' contents (needs root and dpkg).
#[test]
fn debian_packages_install_upgrade_remove() {
    run_suite("scripts/check-deb.sh");
}
