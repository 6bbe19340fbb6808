//! `hapid`: args/env → Config → Store → Hub → Reactor::run.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hapid::app::Now;
use hapid::config::{Config, ENV_HELP, TokenSource};
use hapid::hub::{Hub, HubSettings};
use hapid::reactor::{self, Reactor};
use hapid::store::Store;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

fn help() -> String {
    let mut s = String::from(
        "hapid — a small, wire-compatible HAPI hub\n\n\
         usage:\n  hapid [hub|server] [--no-relay]   run the hub\n  \
         hapid backup FILE                 write a consistent copy of the database to FILE\n  \
         hapid pair                        show the CLI command line and the phone URL\n  \
         \x20                                 (with the token and a QR code on a terminal)\n  \
         hapid --help | --version\n\nenvironment:\n",
    );
    for (name, default, meaning) in ENV_HELP {
        s.push_str(&format!("  {name:<30} {meaning} (default: {default})\n"));
    }
    s
}

/// musl's own malloc is slow where hapid allocates most (message ingest, JSON): the static
/// binary spent 2-2.8x the CPU of the glibc build there.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Transparent huge pages off for this process. Where the kernel's policy is `always`, any
/// 2 MiB-aligned region touched once is backed by a huge page, which multiplies the RSS of a
/// process this small (with mimalloc: 9.2 MiB idle with them, 3.6 MiB without).
fn no_huge_pages() {
    // SAFETY: prctl(PR_SET_THP_DISABLE) takes plain integers and sets a flag of this
    // process; if the kernel refuses it (older than 3.15), the default stays.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Free bytes for unprivileged writers on the filesystem of `dir` (`statvfs`), if known.
// The field types are u64 on x86_64 and u32 on 32-bit ARM: the conversions are needed there.
#[allow(clippy::useless_conversion)]
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct it is given and reads the NUL-terminated
    // path, both alive for the call.
    let (rc, st) = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(path.as_ptr(), &mut st), st)
    };
    (rc == 0).then(|| u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

fn main() -> ExitCode {
    no_huge_pages();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut backup: Option<String> = None;
    let mut pair = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-h" | "--help" | "help" => {
                print!("{}", help());
                return ExitCode::SUCCESS;
            }
            "-V" | "--version" => {
                println!("hapid {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            "hub" | "server" | "--no-relay" => {}
            "pair" => pair = true,
            "--relay" => {
                eprintln!(
                    "hapid: relay mode is not supported; put hapid behind your own TLS proxy"
                );
                return ExitCode::from(2);
            }
            "backup" => match args.get(i + 1) {
                Some(f) => {
                    backup = Some(f.clone());
                    i += 1;
                }
                None => {
                    eprintln!("hapid: backup needs a destination FILE");
                    return ExitCode::from(2);
                }
            },
            other => {
                eprintln!("hapid: unknown argument '{other}'\n\n{}", help());
                return ExitCode::from(2);
            }
        }
        i += 1;
    }
    if pair {
        return match pair_steps() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hapid: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(backup) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hapid: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(backup: Option<String>) -> Result<(), String> {
    if let Some(dest) = backup {
        // Only the database path: a backup never creates or rewrites the hub's files.
        let db = hapid::config::db_path_only(&|k| std::env::var(k).ok());
        return hapid::store::backup(&db, std::path::Path::new(&dest)).map_err(|e| e.to_string());
    }
    let cfg = Config::load(&|k| std::env::var(k).ok())?;
    if let Some(f) = &cfg.log_file {
        hapid::log::to_file(f.clone())?;
    }
    // spec/auth.md §2.1: a weak configured token is a warning, never a refusal. A generated
    // one is 43 random characters.
    if cfg.token_source != TokenSource::Generated && hapid::auth::token::is_weak(&cfg.cli_api_token)
    {
        hapid::log::warn(
            "the CLI token is weak (shorter than 16 characters, all digits, one repeated \
             character, or a common prefix): anyone who guesses it controls your agents; \
             set a long random CLI_API_TOKEN or remove it to have one generated",
        );
    }
    // Bad certificate files stop the start-up before anything else is opened.
    let tls = match &cfg.tls {
        Some((cert, key)) => {
            Some(reactor::tls::Acceptor::load(cert, key).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let _lock = hapid::store::lock_database(&cfg.db_path)?;
    let mut store =
        Store::open(&cfg.db_path).map_err(|e| format!("{}: {e}", cfg.db_path.display()))?;
    let dir = cfg
        .db_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf();
    store.guard_space(Box::new(move || free_bytes(&dir)), cfg.disk_reserve);
    let now = Now::read();
    let settings = HubSettings {
        cli_api_token: cfg.cli_api_token.clone(),
        jwt_secret: cfg.jwt_secret,
        owner_id: cfg.owner_id,
        jwt_ttl_secs: cfg.jwt_ttl_secs,
        telegram_bot_token: cfg.telegram_bot_token.clone(),
        telegram_notification: cfg.telegram_notification,
        terminal_idle_timeout_ms: cfg.terminal_idle_timeout_ms,
        terminal_max: cfg.terminal_max,
        vapid_public: cfg.vapid.public_b64(),
        vapid: cfg.vapid.clone(),
        vapid_subject: cfg.vapid_subject.clone(),
        push_allow_http: cfg.push_allow_http,
        public_url: cfg.public_url.clone(),
        telegram_api_base: cfg.telegram_api_base.clone(),
        elevenlabs_api_key: cfg.elevenlabs_api_key.clone(),
        elevenlabs_agent_id: cfg.elevenlabs_agent_id.clone(),
        elevenlabs_api_base: cfg.elevenlabs_api_base.clone(),
        voice_env: cfg.voice_env.clone(),
        voice_home: Some(cfg.home.clone()),
        retention_days: cfg.retention_days,
        scratchlist: hapid::hub::scratchlist::ScratchConfig::from_env(
            cfg.home.join("scratchlist-attachments"),
            |k| std::env::var(k).ok(),
        ),
        home: Some(cfg.home.clone()),
        db_path: Some(cfg.db_path.clone()),
        summary: hapid::hub::hub_settings::SummaryFlags::load(&cfg.home),
    };
    let hub = Hub::new(settings, store, now).map_err(|e| e.to_string())?;
    let addr: SocketAddr = (cfg.listen_host.as_str(), cfg.listen_port)
        .to_socket_addrs()
        .map_err(|e| {
            format!(
                "bad listen address {}:{}: {e}",
                cfg.listen_host, cfg.listen_port
            )
        })?
        .next()
        .ok_or("no listen address")?;
    let app = hapid::api::HapiApp {
        hub,
        api: hapid::api::Api::new(&cfg),
    };
    let limits = reactor::Limits {
        max_connections: cfg.max_connections,
        max_per_address: cfg.max_per_address,
        exempt: cfg.trusted_proxies.clone(),
        body_budget: cfg.body_budget,
        output_budget: cfg.output_budget,
    };
    let mut r =
        Reactor::bind(addr, app, limits).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = r.local_addr().map_err(|e| e.to_string())?;
    if let Some(t) = tls {
        r.set_tls(t);
    }
    let redirect = match cfg.tls_redirect_port {
        Some(p) => {
            let a = SocketAddr::new(addr.ip(), p);
            let b = r
                .bind_redirect(a)
                .map_err(|e| format!("cannot listen on {a} (HAPID_TLS_REDIRECT_PORT): {e}"))?;
            Some(b)
        }
        None => None,
    };
    banner(&cfg, bound);
    if let Some(b) = redirect {
        println!("  redirecting http://{b} to https");
    }
    r.run()?;
    hapid::log::info("stopped");
    Ok(())
}

/// `hapid pair`: the banner's next steps for the hub of this configuration, without starting
/// it (for a hub running as a service, whose banner went to the journal without the token).
fn pair_steps() -> Result<(), String> {
    use std::io::{IsTerminal, Write};
    let cfg = Config::load(&|k| std::env::var(k).ok())?;
    let mut out = std::io::stdout();
    let tty = out.is_terminal();
    let facts = facts(&cfg, ([127, 0, 0, 1], cfg.listen_port).into());
    let mut text = format!(
        "hapid {}: HAPI_HOME {}, public URL {}\n\n",
        env!("CARGO_PKG_VERSION"),
        cfg.home.display(),
        cfg.public_url
    );
    text.push_str(&hapid::banner::next_steps(&facts, tty));
    if !tty {
        text.push_str("(run it on a terminal to see the token and a QR code)\n");
    }
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Ok(())
}

fn facts(cfg: &Config, bound: SocketAddr) -> hapid::banner::Facts<'_> {
    hapid::banner::Facts {
        version: env!("CARGO_PKG_VERSION"),
        bound,
        tls: cfg.tls.is_some(),
        public_url: &cfg.public_url,
        home: &cfg.home,
        db_path: &cfg.db_path,
        web_dir: cfg.web_dir.as_deref(),
        token_source: cfg.token_source,
        token: &cfg.cli_api_token,
    }
}

/// The banner on stdout; the token and the QR code only when stdout is a terminal (a token
/// never goes into a log file or the journal).
fn banner(cfg: &Config, bound: SocketAddr) {
    use std::io::{IsTerminal, Write};
    let facts = facts(cfg, bound);
    let mut out = std::io::stdout();
    let text = hapid::banner::render(&facts, out.is_terminal());
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
