//! Configuration: environment variables and the files in `HAPI_HOME`.
//!
//! Same names and JSON shapes as the official hub (spec/http-general.md §7–8, spec/auth.md §2)
//! so an official CLI sharing `HAPI_HOME` finds the token, with two deliberate differences:
//! hapid's database is `HAPI_HOME/hapid.db` (it never opens the official `hapi.db`), and
//! every secret-bearing file is created 0600 in a 0700 directory, written atomically.

use base64::Engine;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Where the CLI token came from (printed in the banner; the value never is, unless new).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `CLI_API_TOKEN` in the environment.
    Env,
    /// `settings.json` → `cliApiToken`.
    File,
    /// Generated now and saved to `settings.json`.
    Generated,
}

/// Everything the hub needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub home: PathBuf,
    pub db_path: PathBuf,
    pub listen_host: String,
    pub listen_port: u16,
    pub public_url: String,
    pub cors_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`HAPID_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<crate::http::forwarded::Cidr>,
    pub cli_api_token: String,
    pub token_source: TokenSource,
    pub jwt_secret: [u8; 32],
    pub owner_id: i64,
    pub jwt_ttl_secs: u64,
    pub telegram_bot_token: Option<String>,
    pub telegram_notification: bool,
    pub vapid_subject: String,
    pub elevenlabs_api_key: Option<String>,
    pub elevenlabs_agent_id: Option<String>,
    pub web_dir: Option<PathBuf>,
    pub push_allow_http: bool,
    pub telegram_api_base: String,
    pub elevenlabs_api_base: String,
    /// Voice provider variables (`hub::voice_providers`), as set at start-up.
    pub voice_env: Vec<(String, String)>,
    pub metrics_public: bool,
    pub max_connections: usize,
    pub max_per_address: usize,
    pub body_budget: usize,
    pub disk_reserve: u64,
    pub output_budget: usize,
    pub retention_days: Option<u64>,
    pub terminal_idle_timeout_ms: u64,
    pub terminal_max: usize,
    pub log_file: Option<PathBuf>,
    pub vapid: crate::push::vapid::VapidKeys,
    /// `HAPID_TLS_CERT` and `HAPID_TLS_KEY`: serve HTTPS with these PEM files.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `HAPID_TLS_REDIRECT_PORT`: a plain-HTTP port answering 308 to https.
    pub tls_redirect_port: Option<u16>,
}

/// `(name, default, meaning)` of every variable, for `hapid --help`.
pub const ENV_HELP: &[(&str, &str, &str)] = &[
    (
        "HAPI_HOME",
        "~/.hapi",
        "data directory (settings.json, jwt-secret.json, owner-id.json, vapid-keys.json)",
    ),
    ("DB_PATH", "$HAPI_HOME/hapid.db", "SQLite database file"),
    (
        "CLI_API_TOKEN",
        "settings.json, else generated",
        "shared secret of the CLI and the web login",
    ),
    ("HAPI_LISTEN_HOST", "127.0.0.1", "bind address"),
    ("HAPI_LISTEN_PORT", "3006", "port"),
    (
        "HAPI_PUBLIC_URL",
        "http://localhost:<port>",
        "public URL (Telegram buttons, default CORS origin)",
    ),
    (
        "CORS_ORIGINS",
        "derived from HAPI_PUBLIC_URL",
        "comma-separated origins, or *",
    ),
    (
        "TELEGRAM_BOT_TOKEN",
        "unset (Telegram off)",
        "enables Telegram login, binding and the bot",
    ),
    (
        "TELEGRAM_NOTIFICATION",
        "true",
        "Telegram notifications (exactly 'true' enables)",
    ),
    (
        "VAPID_SUBJECT",
        "mailto:admin@hapi.run",
        "VAPID 'sub' claim of Web Push requests",
    ),
    (
        "ELEVENLABS_API_KEY",
        "unset",
        "server-side key for POST /api/voice/token",
    ),
    ("OPENAI_API_KEY", "unset", "voice transcription: OpenAI"),
    ("GROQ_API_KEY", "unset", "voice transcription: Groq"),
    ("DEEPGRAM_API_KEY", "unset", "voice transcription: Deepgram"),
    (
        "TRANSCRIPTION_BASE_URL",
        "unset",
        "voice transcription: an OpenAI-compatible server (with TRANSCRIPTION_MODEL)",
    ),
    (
        "TRANSCRIPTION_MODEL",
        "unset",
        "voice transcription: the OpenAI-compatible server's model",
    ),
    (
        "TRANSCRIPTION_API_KEY",
        "unset",
        "voice transcription: the OpenAI-compatible server's key",
    ),
    (
        "GEMINI_API_KEY",
        "unset",
        "voice backend gemini-live (or GOOGLE_API_KEY)",
    ),
    (
        "GOOGLE_API_KEY",
        "unset",
        "voice backend gemini-live (or GEMINI_API_KEY)",
    ),
    (
        "DASHSCOPE_API_KEY",
        "unset",
        "voice backend qwen-realtime (or QWEN_API_KEY)",
    ),
    (
        "QWEN_API_KEY",
        "unset",
        "voice backend qwen-realtime (or DASHSCOPE_API_KEY)",
    ),
    (
        "VOICE_BACKEND",
        "elevenlabs",
        "preferred voice backend when several are configured",
    ),
    (
        "GEMINI_API_BASE",
        "unset",
        "baseUrl of POST /api/voice/gemini-token",
    ),
    (
        "ELEVENLABS_AGENT_ID",
        "unset (find or create)",
        "ElevenLabs agent id",
    ),
    (
        "HAPI_TERMINAL_IDLE_TIMEOUT_MS",
        "900000",
        "web terminal idle close",
    ),
    (
        "HAPI_TERMINAL_MAX_TERMINALS",
        "4",
        "terminals per web socket and per session",
    ),
    (
        "HAPI_WEB_DIR",
        "$HAPI_HOME/web if it holds index.html, else a built-in page",
        "hapid: directory of the web app to serve (scripts/fetch-web.sh fetches it)",
    ),
    ("HAPID_JWT_TTL_SECS", "900", "hapid: lifetime of web JWTs"),
    (
        "HAPID_MAX_CONNECTIONS",
        "4096",
        "hapid: concurrent connections before new ones are refused",
    ),
    (
        "HAPID_MAX_CONNECTIONS_PER_ADDRESS",
        "a quarter of HAPID_MAX_CONNECTIONS",
        "hapid: concurrent connections from one address (an IPv6 /64) before its new ones are refused; HAPID_TRUSTED_PROXIES are exempt",
    ),
    (
        "HAPID_DISK_RESERVE_MIB",
        "32",
        "hapid: below this much free space on the database's filesystem, writes are refused (507, a failed ack) and reads go on",
    ),
    (
        "HAPID_OUTPUT_BUDGET_MIB",
        "128",
        "hapid: unsent output, all connections together, before the slowest readers are dropped",
    ),
    (
        "HAPID_BODY_BUDGET_MIB",
        "96",
        "hapid: request bodies buffered at once, all connections together, before new ones get 503",
    ),
    (
        "HAPID_METRICS_PUBLIC",
        "0",
        "hapid: 1 serves /metrics without a JWT",
    ),
    (
        "HAPID_TRUSTED_PROXIES",
        "unset",
        "hapid: proxies (addresses, CIDR ranges) whose X-Forwarded-For names the client",
    ),
    (
        "HAPI_SCRATCHLIST_MAX_ATTACHMENTS_PER_ENTRY",
        "4",
        "attachments one scratch-list entry may hold",
    ),
    (
        "HAPID_RETENTION_DAYS",
        "unset (keep forever)",
        "hapid: prune inactive sessions older than N days",
    ),
    (
        "HAPID_LOG_FILE",
        "unset (stderr)",
        "hapid: log file, reopened on SIGHUP",
    ),
    (
        "HAPID_TLS_CERT",
        "unset (plain HTTP)",
        "hapid: PEM certificate chain; with HAPID_TLS_KEY serves HTTPS (reloaded on SIGHUP)",
    ),
    (
        "HAPID_TLS_KEY",
        "unset",
        "hapid: PEM private key of HAPID_TLS_CERT",
    ),
    (
        "HAPID_TLS_REDIRECT_PORT",
        "unset",
        "hapid: plain-HTTP port that redirects (308) to HTTPS",
    ),
    (
        "HAPID_PUSH_ALLOW_HTTP",
        "0",
        "hapid, tests only: allow http:// push endpoints and API bases",
    ),
    (
        "HAPID_TELEGRAM_API_BASE",
        "https://api.telegram.org",
        "hapid: Telegram Bot API base URL",
    ),
    (
        "HAPID_ELEVENLABS_API_BASE",
        "https://api.elevenlabs.io",
        "hapid: ElevenLabs API base URL",
    ),
    (
        "HAPID_OPENAI_API_BASE",
        "https://api.openai.com/v1",
        "hapid: OpenAI API base URL (transcription)",
    ),
    (
        "HAPID_GROQ_API_BASE",
        "https://api.groq.com/openai/v1",
        "hapid: Groq API base URL (transcription)",
    ),
    (
        "HAPID_DEEPGRAM_API_BASE",
        "https://api.deepgram.com/v1",
        "hapid: Deepgram API base URL (transcription)",
    ),
];

/// The database path alone (`DB_PATH`, else `HAPI_HOME/hapid.db`), without reading or
/// creating any file: what `hapid backup` needs (it may run as another user than the hub).
pub fn db_path_only(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    let home_dir = get("HOME").unwrap_or_else(|| "/".into());
    let expand = |p: String| match p.strip_prefix('~') {
        Some(rest) => PathBuf::from(format!("{home_dir}{rest}")),
        None => PathBuf::from(p),
    };
    match get("DB_PATH") {
        Some(p) => expand(p),
        None => expand(get("HAPI_HOME").unwrap_or_else(|| "~/.hapi".into())).join("hapid.db"),
    }
}

/// `HAPI_HOME/web` when it holds an `index.html` (where `scripts/fetch-web.sh` puts the web
/// app), so nothing else needs setting; otherwise none, and the built-in page is served.
fn default_web_dir(home: &Path) -> Option<PathBuf> {
    let dir = home.join("web");
    dir.join("index.html").is_file().then_some(dir)
}

impl Config {
    /// Loads the configuration from `env` and the files, creating missing files.
    pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        let home_dir = get("HOME").unwrap_or_else(|| "/".into());
        let expand = |p: String| match p.strip_prefix('~') {
            Some(rest) => PathBuf::from(format!("{home_dir}{rest}")),
            None => PathBuf::from(p),
        };
        let home = expand(get("HAPI_HOME").unwrap_or_else(|| "~/.hapi".into()));
        ensure_private_dir(&home)?;
        let db_path = get("DB_PATH")
            .map(expand)
            .unwrap_or_else(|| home.join("hapid.db"));

        let settings_path = home.join("settings.json");
        let mut settings = read_settings(&settings_path)?;
        let mut dirty = migrate_legacy_keys(&mut settings);

        let persist = |settings: &mut Map<String, Value>, key: &str, v: Value| {
            if !settings.contains_key(key) {
                settings.insert(key.into(), v);
                true
            } else {
                false
            }
        };

        let listen_host = match get("HAPI_LISTEN_HOST") {
            Some(h) => {
                dirty |= persist(&mut settings, "listenHost", json!(h));
                h
            }
            None => settings
                .get("listenHost")
                .and_then(Value::as_str)
                .unwrap_or("127.0.0.1")
                .to_string(),
        };
        let listen_port = match get("HAPI_LISTEN_PORT") {
            Some(p) => {
                let port = parse_port(&p)?;
                dirty |= persist(&mut settings, "listenPort", json!(port));
                port
            }
            None => match settings.get("listenPort") {
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or("settings.json listenPort must be a valid port number")?,
                None => 3006,
            },
        };
        let tls = match (get("HAPID_TLS_CERT"), get("HAPID_TLS_KEY")) {
            (Some(c), Some(k)) => Some((expand(c), expand(k))),
            (None, None) => None,
            (Some(_), None) => return Err("HAPID_TLS_CERT is set but HAPID_TLS_KEY is not".into()),
            (None, Some(_)) => return Err("HAPID_TLS_KEY is set but HAPID_TLS_CERT is not".into()),
        };
        let tls_redirect_port = match get("HAPID_TLS_REDIRECT_PORT") {
            None => None,
            Some(_) if tls.is_none() => {
                return Err(
                    "HAPID_TLS_REDIRECT_PORT needs HAPID_TLS_CERT and HAPID_TLS_KEY".into(),
                );
            }
            Some(p) => Some(
                p.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("HAPID_TLS_REDIRECT_PORT must be a valid port number")?,
            ),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = match get("HAPI_PUBLIC_URL") {
            Some(u) => {
                dirty |= persist(&mut settings, "publicUrl", json!(u));
                u
            }
            None => settings
                .get("publicUrl")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{scheme}://localhost:{listen_port}")),
        };
        let trusted_proxies =
            crate::http::forwarded::parse_list(&get("HAPID_TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|e| format!("HAPID_TRUSTED_PROXIES: {e}"))?;
        let cors_origins = match get("CORS_ORIGINS") {
            Some(list) => {
                let v = normalize_origins(list.split(',').map(str::to_string));
                dirty |= persist(&mut settings, "corsOrigins", json!(v));
                v
            }
            None => match settings.get("corsOrigins").and_then(Value::as_array) {
                Some(a) => {
                    normalize_origins(a.iter().filter_map(|v| v.as_str().map(str::to_string)))
                }
                None => normalize_origins(origin_of(&public_url).into_iter()),
            },
        };
        let telegram_bot_token = match get("TELEGRAM_BOT_TOKEN") {
            Some(t) => {
                dirty |= persist(&mut settings, "telegramBotToken", json!(t));
                Some(t)
            }
            None => settings
                .get("telegramBotToken")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        };
        let telegram_notification = match env("TELEGRAM_NOTIFICATION") {
            Some(v) => {
                let b = v == "true";
                dirty |= persist(&mut settings, "telegramNotification", json!(b));
                b
            }
            None => settings
                .get("telegramNotification")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        };

        let (cli_api_token, token_source) = match get("CLI_API_TOKEN") {
            Some(t) => {
                let t = t.trim().to_string();
                crate::auth::token::check_configured_token(&t)?;
                let file_has = settings
                    .get("cliApiToken")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty());
                if !file_has {
                    settings.insert("cliApiToken".into(), json!(t));
                    dirty = true;
                }
                (t, TokenSource::Env)
            }
            None => match settings
                .get("cliApiToken")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                Some(t) => {
                    let t = t.trim().to_string();
                    crate::auth::token::check_configured_token(&t)?;
                    (t, TokenSource::File)
                }
                None => {
                    let t = base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(random_bytes::<32>()?);
                    settings.insert("cliApiToken".into(), json!(t));
                    dirty = true;
                    (t, TokenSource::Generated)
                }
            },
        };
        let settings_for_vapid = settings.clone();
        if dirty {
            write_json_atomic(&settings_path, &Value::Object(settings), 2)?;
        }

        let jwt_secret = load_jwt_secret(&home.join("jwt-secret.json"))?;
        let vapid = load_vapid(
            &home.join("vapid-keys.json"),
            &Value::Object(settings_for_vapid),
        )?;
        let vapid_subject = match env("VAPID_SUBJECT") {
            None => "mailto:admin@hapi.run".to_string(),
            Some(s) => check_vapid_subject(&s)?,
        };
        let owner_id = load_owner_id(&home.join("owner-id.json"))?;
        let flag = |k: &str| get(k).is_some_and(|v| v == "1" || v == "true");
        let num = |k: &str, d: u64| {
            get(k)
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(d)
        };

        let web_dir = get("HAPI_WEB_DIR")
            .map(expand)
            .or_else(|| default_web_dir(&home));
        Ok(Config {
            home,
            db_path,
            listen_host,
            listen_port,
            public_url,
            cors_origins,
            trusted_proxies,
            cli_api_token,
            token_source,
            jwt_secret,
            owner_id,
            jwt_ttl_secs: num("HAPID_JWT_TTL_SECS", 900),
            telegram_bot_token,
            telegram_notification,
            vapid_subject,
            elevenlabs_api_key: get("ELEVENLABS_API_KEY"),
            elevenlabs_agent_id: get("ELEVENLABS_AGENT_ID"),
            web_dir,
            push_allow_http: flag("HAPID_PUSH_ALLOW_HTTP"),
            telegram_api_base: get("HAPID_TELEGRAM_API_BASE")
                .unwrap_or_else(|| "https://api.telegram.org".into()),
            elevenlabs_api_base: get("HAPID_ELEVENLABS_API_BASE")
                .unwrap_or_else(|| "https://api.elevenlabs.io".into()),
            voice_env: crate::hub::voice_providers::env_snapshot(&get),
            metrics_public: flag("HAPID_METRICS_PUBLIC"),
            max_connections: num("HAPID_MAX_CONNECTIONS", 4096) as usize,
            max_per_address: {
                let total = num("HAPID_MAX_CONNECTIONS", 4096);
                num("HAPID_MAX_CONNECTIONS_PER_ADDRESS", (total / 4).max(1)) as usize
            },
            body_budget: (num("HAPID_BODY_BUDGET_MIB", 96) as usize).saturating_mul(1 << 20),
            disk_reserve: num("HAPID_DISK_RESERVE_MIB", 32).saturating_mul(1 << 20),
            output_budget: (num("HAPID_OUTPUT_BUDGET_MIB", 128) as usize).saturating_mul(1 << 20),
            retention_days: get("HAPID_RETENTION_DAYS")
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0),
            terminal_idle_timeout_ms: num("HAPI_TERMINAL_IDLE_TIMEOUT_MS", 900_000),
            terminal_max: num("HAPI_TERMINAL_MAX_TERMINALS", 4) as usize,
            log_file: get("HAPID_LOG_FILE").map(expand),
            vapid,
            tls,
            tls_redirect_port,
        })
    }
}

/// `parseInt`-like: leading digits; 0, none, or > 65535 is an error.
fn parse_port(s: &str) -> Result<u16, String> {
    let digits: String = s
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse::<u32>()
        .ok()
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| "HAPI_LISTEN_PORT must be a valid port number".to_string())
}

/// `scheme://host[:port]` of a URL, lower-cased, default port dropped (spec §3.1).
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if !scheme
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        || scheme.is_empty()
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit('@').next()?.to_ascii_lowercase();
    if hostport.is_empty() {
        return None;
    }
    let default = match scheme.as_str() {
        "http" | "ws" => Some(":80"),
        "https" | "wss" => Some(":443"),
        _ => None,
    };
    let hostport = match default {
        Some(d) if hostport.ends_with(d) && !hostport.ends_with("]") => {
            hostport[..hostport.len() - d.len()].to_string()
        }
        _ => hostport,
    };
    Some(format!("{scheme}://{hostport}"))
}

fn normalize_origins(list: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in list {
        let t = raw.trim();
        if t.is_empty() {
            continue;
        }
        if t == "*" {
            return vec!["*".into()];
        }
        let o = origin_of(t).unwrap_or_else(|| t.to_string());
        if !out.contains(&o) {
            out.push(o);
        }
    }
    out
}

fn migrate_legacy_keys(s: &mut Map<String, Value>) -> bool {
    let mut changed = false;
    for (old, new) in [
        ("webappHost", "listenHost"),
        ("webappPort", "listenPort"),
        ("webappUrl", "publicUrl"),
    ] {
        if let Some(v) = s.remove(old) {
            s.entry(new).or_insert(v);
            changed = true;
        }
    }
    changed
}

fn read_settings(path: &Path) -> Result<Map<String, Value>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(format!(
                "Cannot read {}. Please fix or remove the file and restart.",
                path.display()
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(format!("Cannot read {}: {e}", path.display())),
    }
}

fn load_jwt_secret(path: &Path) -> Result<[u8; 32], String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            set_mode_0600(path);
            let v: Value = serde_json::from_str(&text)
                .map_err(|_| format!("{} is not valid JSON", path.display()))?;
            let bytes = v
                .get("secretBase64")
                .and_then(Value::as_str)
                .and_then(|s| b64.decode(s).ok())
                .ok_or_else(|| format!("{} has no valid secretBase64", path.display()))?;
            <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| format!("{}: secret must be 32 bytes", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = random_bytes::<32>()?;
            write_json_atomic(path, &json!({ "secretBase64": b64.encode(secret) }), 4)?;
            Ok(secret)
        }
        Err(e) => Err(format!("Cannot read {}: {e}", path.display())),
    }
}

/// VAPID keys (spec/push.md §2.2, hapid's rule): `vapid-keys.json`; else imported once from
/// the official hub's `settings.json` → `vapidKeys`; else generated. An existing but invalid
/// file stops the hub: rotating keys silently breaks every subscription.
fn load_vapid(path: &Path, settings: &Value) -> Result<crate::push::vapid::VapidKeys, String> {
    use crate::push::keys_file;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            set_mode_0600(path);
            keys_file::parse_keys_json(&text).map_err(|e| {
                format!("{} is invalid ({e}); fix or remove it (removing it invalidates every push subscription)", path.display())
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keys = match keys_file::from_settings(settings) {
                Some(k) => k,
                None => crate::push::vapid::VapidKeys::try_generate()
                    .map_err(|e| format!("cannot generate VAPID keys: {e}"))?,
            };
            let v: Value =
                serde_json::from_str(&keys_file::keys_json(&keys)).map_err(|e| e.to_string())?;
            write_json_atomic(path, &v, 2)?;
            Ok(keys)
        }
        Err(e) => Err(format!("Cannot read {}: {e}", path.display())),
    }
}

/// `VAPID_SUBJECT` must be an `https:` or `mailto:` URL (spec/push.md §2.5).
fn check_vapid_subject(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("VAPID_SUBJECT is set but empty".into());
    }
    let ok = match s.split_once(':') {
        Some(("mailto", rest)) => !rest.is_empty(),
        Some(("https", rest)) => rest.starts_with("//") && rest.len() > 2,
        _ => false,
    };
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "VAPID_SUBJECT must be an https: or mailto: URL, got {s:?}"
        ))
    }
}

fn load_owner_id(path: &Path) -> Result<i64, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            set_mode_0600(path);
            serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("ownerId").and_then(Value::as_i64))
                .filter(|n| *n > 0 && *n <= (1i64 << 53))
                .ok_or_else(|| format!("{} must hold a positive integer ownerId", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let b = random_bytes::<4>()?;
            let id = i64::from(u32::from_be_bytes(b) & 0x7fff_ffff).max(1);
            write_json_atomic(path, &json!({ "ownerId": id }), 4)?;
            Ok(id)
        }
        Err(e) => Err(format!("Cannot read {}: {e}", path.display())),
    }
}

/// `N` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| format!("no randomness: {e}"))?;
    Ok(b)
}

/// Creates `dir` (and parents) with mode 0700.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("Cannot create {}: {e}", dir.display()))
}

fn set_mode_0600(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

/// Writes JSON (indented by `indent` spaces, no trailing newline) to a 0600 temp file, fsyncs,
/// renames it over `path` and fsyncs the directory: a crash leaves the old or the new file.
pub fn write_json_atomic(path: &Path, value: &Value, indent: usize) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let pad = vec![b' '; indent];
    let mut text = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(&pad);
    let mut ser = serde_json::Serializer::with_formatter(&mut text, fmt);
    serde::Serialize::serialize(value, &mut ser).map_err(|e| e.to_string())?;
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_private_dir(dir)?;
    let tmp = path.with_extension("json.tmp");
    let err = |e: std::io::Error| format!("Cannot write {}: {e}", path.display());
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(&text).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tmp_home() -> PathBuf {
        let b = random_bytes::<8>().unwrap();
        std::env::temp_dir().join(format!("hapid-cfg-{:x}", u64::from_le_bytes(b)))
    }

    fn load(vars: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load(&|k| map.get(k).cloned())
    }

    #[test]
    fn web_dir_defaults_to_hapi_home_web_with_an_index() {
        let home = tmp_home();
        let h = home.to_str().unwrap();
        let c = load(&[("HAPI_HOME", h), ("CLI_API_TOKEN", "t0123456789")]).unwrap();
        assert_eq!(c.web_dir, None, "no web/ yet: the built-in page");
        std::fs::create_dir_all(home.join("web")).unwrap();
        let c = load(&[("HAPI_HOME", h), ("CLI_API_TOKEN", "t0123456789")]).unwrap();
        assert_eq!(
            c.web_dir, None,
            "web/ without index.html: still the built-in page"
        );
        std::fs::write(home.join("web/index.html"), "<!doctype html>").unwrap();
        let c = load(&[("HAPI_HOME", h), ("CLI_API_TOKEN", "t0123456789")]).unwrap();
        assert_eq!(c.web_dir, Some(home.join("web")));
        let c = load(&[
            ("HAPI_HOME", h),
            ("CLI_API_TOKEN", "t0123456789"),
            ("HAPI_WEB_DIR", "/srv/app"),
        ])
        .unwrap();
        assert_eq!(
            c.web_dir,
            Some(PathBuf::from("/srv/app")),
            "HAPI_WEB_DIR wins"
        );
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn generates_and_persists_token_preserving_cli_keys() {
        let home = tmp_home();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join("settings.json"),
            r#"{"machineId":"m-1","webappPort":4000}"#,
        )
        .unwrap();
        let h = home.to_str().unwrap();
        let c = load(&[("HAPI_HOME", h)]).unwrap();
        assert_eq!(c.token_source, TokenSource::Generated);
        assert_eq!(c.cli_api_token.len(), 43);
        assert_eq!(c.listen_port, 4000);
        let s: Value =
            serde_json::from_str(&std::fs::read_to_string(home.join("settings.json")).unwrap())
                .unwrap();
        assert_eq!(s["machineId"], "m-1");
        assert_eq!(s["listenPort"], 4000);
        assert!(s.get("webappPort").is_none());
        let again = load(&[("HAPI_HOME", h)]).unwrap();
        assert_eq!(again.token_source, TokenSource::File);
        assert_eq!(again.cli_api_token, c.cli_api_token);
        assert_eq!(again.jwt_secret, c.jwt_secret);
        assert_eq!(again.owner_id, c.owner_id);
        use std::os::unix::fs::PermissionsExt;
        for f in ["settings.json", "jwt-secret.json", "owner-id.json"] {
            let mode = std::fs::metadata(home.join(f))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
    }

    #[test]
    fn refuses_broken_settings_and_bad_port() {
        let home = tmp_home();
        std::fs::create_dir_all(&home).unwrap();
        let h = home.to_str().unwrap();
        assert!(load(&[("HAPI_HOME", h), ("HAPI_LISTEN_PORT", "0")]).is_err());
        assert!(load(&[("HAPI_HOME", h), ("HAPI_LISTEN_PORT", "70000")]).is_err());
        assert_eq!(
            load(&[("HAPI_HOME", h), ("HAPI_LISTEN_PORT", "3006abc")])
                .unwrap()
                .listen_port,
            3006
        );
        let e = load(&[
            ("HAPI_HOME", h),
            ("HAPID_TRUSTED_PROXIES", "127.0.0.1, proxy"),
        ])
        .unwrap_err();
        assert!(
            e.contains("HAPID_TRUSTED_PROXIES") && e.contains("proxy"),
            "{e}"
        );
        let c = load(&[
            ("HAPI_HOME", h),
            ("HAPID_TRUSTED_PROXIES", "127.0.0.1,10.0.0.0/8"),
        ]);
        assert_eq!(c.unwrap().trusted_proxies.len(), 2);
        std::fs::write(home.join("settings.json"), "{nope").unwrap();
        let e = load(&[("HAPI_HOME", h)]).unwrap_err();
        assert!(e.contains("Please fix or remove the file"), "{e}");
        assert_eq!(
            std::fs::read_to_string(home.join("settings.json")).unwrap(),
            "{nope"
        );
    }

    #[test]
    fn origins_normalize() {
        let v = normalize_origins(
            "https://a.example/path, http://b.example:8080,HTTP://C.Example:80/"
                .split(',')
                .map(str::to_string),
        );
        assert_eq!(
            v,
            [
                "https://a.example",
                "http://b.example:8080",
                "http://c.example"
            ]
        );
        assert_eq!(
            normalize_origins(["a".into(), "*".into()].into_iter()),
            ["*"]
        );
    }
}
