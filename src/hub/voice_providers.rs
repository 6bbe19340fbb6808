//! Voice provider configuration: which voice backends and transcription providers this hub
//! has, and the provider credentials the owner stores from Settings → Voice.
//!
//! Contract (observed on the official hub v0.30.7):
//! - The provider environment is the process environment at start-up overlaid with the stored
//!   credentials. A key set (non-blank) in the environment is *locked*: its stored value is
//!   ignored and a PUT that touches it answers 409
//!   `"<KEY> is set by an environment variable and cannot be changed from Settings"` (the
//!   Gemini pair GEMINI_API_KEY/GOOGLE_API_KEY and the Qwen pair DASHSCOPE_API_KEY/QWEN_API_KEY
//!   lock together, `"<A> (or <B>) is set by …"`).
//! - Voice backends, in this order: `elevenlabs` (ELEVENLABS_API_KEY), `gemini-live`
//!   (GEMINI_API_KEY or GOOGLE_API_KEY), `qwen-realtime` (DASHSCOPE_API_KEY or QWEN_API_KEY).
//!   The backend is VOICE_BACKEND when it names a configured one, else `elevenlabs` when
//!   configured, else the first configured; `null` when none is. hapid lists `gemini-live`
//!   and `qwen-realtime` only once it has their WebSocket proxies (`/api/voice/gemini-ws`,
//!   `qwen-ws`; [`REALTIME_PROXIES`]): a backend the web picks and cannot connect to is worse
//!   than one it does not offer. Their keys can still be stored (for the official hub sharing
//!   the home).
//! - Transcription providers, in this order: openai, elevenlabs, deepgram, groq (their keys),
//!   `openai-compatible` (TRANSCRIPTION_BASE_URL and TRANSCRIPTION_MODEL), each
//!   `{id,label,modes}`.
//! - Credential status: per key `{configured, source: env|settings|none, hint, editable}`,
//!   `hint` = `"••••"` + the last 4 characters (`"••••"` alone for 4 or fewer); the
//!   OpenAI-compatible base URL and model are shown in full. Secrets are never logged.
//! - Stored credentials live where the official hub keeps them, `HAPI_HOME/settings.json` →
//!   `providerCredentials` (`{KEY: value}`), so a home moves between the hubs with them. The
//!   file is re-read before each write (its other keys are kept) and replaced atomically, 0600;
//!   a `settings.json` that does not parse is not overwritten (the PUT answers 500).

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Whether hapid has the Gemini Live and Qwen realtime WebSocket proxies. Not yet: their
/// backends are not listed and their token routes answer 404 until it does.
pub const REALTIME_PROXIES: bool = false;

/// The keys the owner may store (and the environment may lock).
pub const CREDENTIAL_KEYS: [&str; 11] = [
    "OPENAI_API_KEY",
    "ELEVENLABS_API_KEY",
    "DEEPGRAM_API_KEY",
    "GROQ_API_KEY",
    "TRANSCRIPTION_BASE_URL",
    "TRANSCRIPTION_MODEL",
    "TRANSCRIPTION_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "DASHSCOPE_API_KEY",
    "QWEN_API_KEY",
];

/// Other environment variables the voice routes read.
pub const OTHER_ENV_KEYS: [&str; 6] = [
    "VOICE_BACKEND",
    "HAPI_PUBLIC_URL",
    "GEMINI_API_BASE",
    "HAPID_OPENAI_API_BASE",
    "HAPID_GROQ_API_BASE",
    "HAPID_DEEPGRAM_API_BASE",
];

/// The voice variables set (non-blank) in an environment.
pub fn env_snapshot(get: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    CREDENTIAL_KEYS
        .iter()
        .chain(OTHER_ENV_KEYS.iter())
        .filter_map(|k| get(k).map(|v| (k.to_string(), v)))
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
}

const STORE_FILE: &str = "settings.json";
const STORE_KEY: &str = "providerCredentials";

/// A transcription provider the hub can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    ElevenLabs,
    Deepgram,
    Groq,
    OpenAiCompatible,
}

impl Provider {
    /// The provider named `id` (the web's ids).
    pub fn parse(id: &str) -> Option<Provider> {
        Some(match id {
            "openai" => Provider::OpenAi,
            "elevenlabs" => Provider::ElevenLabs,
            "deepgram" => Provider::Deepgram,
            "groq" => Provider::Groq,
            "openai-compatible" => Provider::OpenAiCompatible,
            _ => return None,
        })
    }

    /// The web's id.
    pub fn id(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::ElevenLabs => "elevenlabs",
            Provider::Deepgram => "deepgram",
            Provider::Groq => "groq",
            Provider::OpenAiCompatible => "openai-compatible",
        }
    }

    fn entry(self) -> Value {
        let (label, modes): (&str, &[&str]) = match self {
            Provider::OpenAi => ("OpenAI", &["standard", "realtime"]),
            Provider::ElevenLabs => ("ElevenLabs", &["standard", "realtime"]),
            Provider::Deepgram => ("Deepgram", &["standard", "realtime"]),
            Provider::Groq => ("Groq", &["standard"]),
            Provider::OpenAiCompatible => ("OpenAI-compatible / local", &["standard"]),
        };
        json!({"id": self.id(), "label": label, "modes": modes})
    }
}

/// Where and how to call a configured transcription provider.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub api_key: Option<String>,
    /// Base URL without a trailing slash (ElevenLabs: the API root, without `/v1`).
    pub base_url: String,
    pub model: String,
}

/// The provider environment and the stored credentials.
#[derive(Debug, Default)]
pub struct ProviderEnv {
    env: BTreeMap<String, String>,
    stored: BTreeMap<String, String>,
    file: Option<PathBuf>,
    elevenlabs_base: String,
}

fn mask(value: &str) -> String {
    let chars: Vec<char> = value.trim().chars().collect();
    if chars.len() <= 4 {
        return "••••".into();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("••••{tail}")
}

fn pair_of(key: &str) -> Option<(&'static str, &'static str)> {
    match key {
        "GEMINI_API_KEY" | "GOOGLE_API_KEY" => Some(("GEMINI_API_KEY", "GOOGLE_API_KEY")),
        "DASHSCOPE_API_KEY" | "QWEN_API_KEY" => Some(("DASHSCOPE_API_KEY", "QWEN_API_KEY")),
        _ => None,
    }
}

/// A PUT that cannot be applied.
#[derive(Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// 400: the body is not the credentials shape.
    Invalid,
    /// 409: a key is set by the environment.
    Locked(String),
    /// 500: the file could not be written.
    Write(String),
}

impl ProviderEnv {
    /// The environment snapshot (`(name, value)` of the set variables), the ElevenLabs API root
    /// and the home directory whose credentials file is read now (`None`: kept in memory).
    pub fn new(env: &[(String, String)], elevenlabs_base: &str, home: Option<PathBuf>) -> Self {
        let env: BTreeMap<String, String> = env
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let file = home.map(|h| h.join(STORE_FILE));
        let stored = file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok())
            .and_then(|mut m| match m.remove(STORE_KEY) {
                Some(Value::Object(c)) => Some(c),
                _ => None,
            })
            .map(|m| {
                m.into_iter()
                    .filter(|(k, _)| CREDENTIAL_KEYS.contains(&k.as_str()))
                    .filter_map(|(k, v)| Some((k, v.as_str()?.trim().to_string())))
                    .filter(|(_, v)| !v.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        ProviderEnv {
            env,
            stored,
            file,
            elevenlabs_base: elevenlabs_base.trim_end_matches('/').to_string(),
        }
    }

    /// From the hub's settings (their ElevenLabs key counts as set in the environment).
    pub fn from_settings(s: &super::HubSettings) -> Self {
        let mut env = s.voice_env.clone();
        if let Some(k) = &s.elevenlabs_api_key
            && !env.iter().any(|(n, _)| n == "ELEVENLABS_API_KEY")
        {
            env.push(("ELEVENLABS_API_KEY".into(), k.clone()));
        }
        ProviderEnv::new(&env, &s.elevenlabs_api_base, s.voice_home.clone())
    }

    fn env_raw(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    fn locked(&self, key: &str) -> bool {
        match pair_of(key) {
            Some((a, b)) => self.env.contains_key(a) || self.env.contains_key(b),
            None => self.env.contains_key(key),
        }
    }

    /// The effective value of a key (trimmed, non-empty): stored unless the environment locks it.
    pub fn get(&self, key: &str) -> Option<&str> {
        let v = match self.stored.get(key) {
            Some(s) if !self.locked(key) => Some(s.as_str()),
            _ => self.env_raw(key),
        };
        v.map(str::trim).filter(|v| !v.is_empty())
    }

    /// A non-credential environment variable (HAPI_PUBLIC_URL, VOICE_BACKEND, …).
    pub fn var(&self, key: &str) -> Option<&str> {
        self.env_raw(key)
    }

    /// The ElevenLabs key: what `POST /api/voice/token` and the voice list use.
    pub fn elevenlabs_key(&self) -> Option<&str> {
        self.get("ELEVENLABS_API_KEY")
    }

    /// The ElevenLabs API root (no `/v1`).
    pub fn elevenlabs_base(&self) -> &str {
        &self.elevenlabs_base
    }

    /// The configured voice backends, in the official order.
    pub fn backends(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.get("ELEVENLABS_API_KEY").is_some() {
            out.push("elevenlabs");
        }
        if REALTIME_PROXIES
            && self
                .get("GEMINI_API_KEY")
                .or(self.get("GOOGLE_API_KEY"))
                .is_some()
        {
            out.push("gemini-live");
        }
        if REALTIME_PROXIES
            && self
                .get("DASHSCOPE_API_KEY")
                .or(self.get("QWEN_API_KEY"))
                .is_some()
        {
            out.push("qwen-realtime");
        }
        out
    }

    /// `GET /api/voice/backend`.
    pub fn backend_body(&self) -> Value {
        let backends = self.backends();
        let wanted = self
            .var("VOICE_BACKEND")
            .filter(|b| ["elevenlabs", "gemini-live", "qwen-realtime"].contains(b))
            .unwrap_or("elevenlabs");
        let backend = match backends.iter().find(|b| **b == wanted) {
            Some(b) => Some(*b),
            None => backends.first().copied(),
        };
        json!({"backend": backend, "backends": backends})
    }

    /// The configured transcription providers.
    pub fn providers(&self) -> Vec<Provider> {
        let mut out = Vec::new();
        for (p, key) in [
            (Provider::OpenAi, "OPENAI_API_KEY"),
            (Provider::ElevenLabs, "ELEVENLABS_API_KEY"),
            (Provider::Deepgram, "DEEPGRAM_API_KEY"),
            (Provider::Groq, "GROQ_API_KEY"),
        ] {
            if self.get(key).is_some() {
                out.push(p);
            }
        }
        if self.get("TRANSCRIPTION_BASE_URL").is_some() && self.get("TRANSCRIPTION_MODEL").is_some()
        {
            out.push(Provider::OpenAiCompatible);
        }
        out
    }

    /// `GET /api/voice/transcription/providers`.
    pub fn providers_body(&self) -> Value {
        let list: Vec<Value> = self.providers().into_iter().map(Provider::entry).collect();
        json!({ "providers": list })
    }

    /// How to call `p`, if it is configured.
    pub fn config(&self, p: Provider) -> Option<ProviderConfig> {
        if !self.providers().contains(&p) {
            return None;
        }
        let base = |var: &str, default: &str| {
            self.var(var)
                .unwrap_or(default)
                .trim_end_matches('/')
                .to_string()
        };
        let key = |k: &str| self.get(k).map(str::to_string);
        Some(match p {
            Provider::OpenAi => ProviderConfig {
                api_key: key("OPENAI_API_KEY"),
                base_url: base("HAPID_OPENAI_API_BASE", "https://api.openai.com/v1"),
                model: "gpt-transcribe".into(),
            },
            Provider::ElevenLabs => ProviderConfig {
                api_key: key("ELEVENLABS_API_KEY"),
                base_url: self.elevenlabs_base.clone(),
                model: "scribe_v2".into(),
            },
            Provider::Deepgram => ProviderConfig {
                api_key: key("DEEPGRAM_API_KEY"),
                base_url: base("HAPID_DEEPGRAM_API_BASE", "https://api.deepgram.com/v1"),
                model: "nova-3".into(),
            },
            Provider::Groq => ProviderConfig {
                api_key: key("GROQ_API_KEY"),
                base_url: base("HAPID_GROQ_API_BASE", "https://api.groq.com/openai/v1"),
                model: "whisper-large-v3".into(),
            },
            Provider::OpenAiCompatible => ProviderConfig {
                api_key: key("TRANSCRIPTION_API_KEY"),
                base_url: self
                    .get("TRANSCRIPTION_BASE_URL")?
                    .trim_end_matches('/')
                    .to_string(),
                model: self.get("TRANSCRIPTION_MODEL")?.to_string(),
            },
        })
    }

    fn key_status(&self, key: &str, stored: &BTreeMap<String, String>) -> Value {
        if self.env.contains_key(key) {
            let v = self.env_raw(key).map(str::trim).unwrap_or_default();
            return json!({"configured": !v.is_empty(), "source": "env",
                "hint": (!v.is_empty()).then(|| mask(v)), "editable": false});
        }
        match stored.get(key) {
            Some(v) => {
                json!({"configured": true, "source": "settings", "hint": mask(v), "editable": true})
            }
            None => json!({"configured": false, "source": "none", "hint": null, "editable": true}),
        }
    }

    fn pair_status(&self, a: &str, b: &str, stored: &BTreeMap<String, String>) -> Value {
        if self.locked(a) {
            let v = self
                .env_raw(a)
                .or(self.env_raw(b))
                .unwrap_or_default()
                .trim();
            return json!({"configured": !v.is_empty(), "source": "env",
                "hint": (!v.is_empty()).then(|| mask(v)), "editable": false});
        }
        match stored.get(a).or(stored.get(b)) {
            Some(v) => {
                json!({"configured": true, "source": "settings", "hint": mask(v), "editable": true})
            }
            None => json!({"configured": false, "source": "none", "hint": null, "editable": true}),
        }
    }

    /// `GET /api/voice/transcription/credentials` (and the answer of a PUT).
    pub fn status(&self) -> Value {
        let s = &self.stored;
        let base = self.key_status("TRANSCRIPTION_BASE_URL", s);
        let model = self.key_status("TRANSCRIPTION_MODEL", s);
        let api_key = self.key_status("TRANSCRIPTION_API_KEY", s);
        let source_of = |v: &Value| v["source"].as_str().unwrap_or("none").to_string();
        let sources = [source_of(&base), source_of(&model), source_of(&api_key)];
        let source = if sources.iter().any(|s| s == "env") {
            "env"
        } else if sources.iter().any(|s| s == "settings") {
            "settings"
        } else {
            "none"
        };
        let base_url = self.get("TRANSCRIPTION_BASE_URL");
        let model_value = self.get("TRANSCRIPTION_MODEL");
        let elevenlabs = self.key_status("ELEVENLABS_API_KEY", s);
        json!({
            "openai": self.key_status("OPENAI_API_KEY", s),
            "elevenlabs": elevenlabs,
            "deepgram": self.key_status("DEEPGRAM_API_KEY", s),
            "groq": self.key_status("GROQ_API_KEY", s),
            "openaiCompatible": {
                "configured": base_url.is_some() && model_value.is_some(),
                "source": source,
                "baseUrl": base_url,
                "model": model_value,
                "baseUrlEditable": base["editable"],
                "modelEditable": model["editable"],
                "apiKey": api_key,
            },
            "voiceBackends": {
                "elevenlabs": elevenlabs,
                "geminiLive": self.pair_status("GEMINI_API_KEY", "GOOGLE_API_KEY", s),
                "qwenRealtime": self.pair_status("DASHSCOPE_API_KEY", "QWEN_API_KEY", s),
            }
        })
    }

    /// `PUT /api/voice/transcription/credentials`: applies the whole patch or nothing, writes
    /// the file, and answers the new status.
    pub fn update(&mut self, body: &[u8]) -> Result<Value, UpdateError> {
        let patch = parse_update(body).ok_or(UpdateError::Invalid)?;
        let mut next = self.stored.clone();
        for (key, value) in patch {
            let Some(value) = value else { continue };
            let pair = pair_of(key);
            if self.locked(key) {
                return Err(UpdateError::Locked(match pair {
                    Some((a, b)) => format!(
                        "{a} (or {b}) is set by an environment variable and cannot be changed from Settings"
                    ),
                    None => format!(
                        "{key} is set by an environment variable and cannot be changed from Settings"
                    ),
                }));
            }
            if let Some((_, b)) = pair {
                next.remove(b);
            }
            match value.trim() {
                "" => next.remove(key),
                v => next.insert(key.to_string(), v.to_string()),
            };
        }
        if let Some(file) = &self.file {
            let mut settings = match std::fs::read_to_string(file) {
                Ok(text) => serde_json::from_str::<Map<String, Value>>(&text).map_err(|_| {
                    UpdateError::Write(format!(
                        "Cannot update {}: not a JSON object",
                        file.display()
                    ))
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
                Err(e) => {
                    return Err(UpdateError::Write(format!(
                        "Cannot read {}: {e}",
                        file.display()
                    )));
                }
            };
            let obj: Map<String, Value> = next
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            settings.insert(STORE_KEY.into(), Value::Object(obj));
            crate::config::write_json_atomic(file, &Value::Object(settings), 2)
                .map_err(UpdateError::Write)?;
        }
        self.stored = next;
        Ok(self.status())
    }
}

/// The PUT body: `{openai?, elevenlabs?, deepgram?, groq?, openaiCompatible?: {baseUrl?, model?,
/// apiKey?}, geminiLive?, qwenRealtime?}`, each a string or null (strict: no other keys). Gives
/// `(key, Some(value))` for a set value (`""` = remove), `None` entries for absent ones.
fn parse_update(body: &[u8]) -> Option<Vec<(&'static str, Option<String>)>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let field = |o: &Map<String, Value>, name: &str| -> Option<Option<String>> {
        match o.get(name) {
            None => Some(None),
            Some(Value::Null) => Some(Some(String::new())),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(_) => None,
        }
    };
    const TOP: [(&str, &str); 6] = [
        ("openai", "OPENAI_API_KEY"),
        ("elevenlabs", "ELEVENLABS_API_KEY"),
        ("deepgram", "DEEPGRAM_API_KEY"),
        ("groq", "GROQ_API_KEY"),
        ("geminiLive", "GEMINI_API_KEY"),
        ("qwenRealtime", "DASHSCOPE_API_KEY"),
    ];
    let known = |k: &str| k == "openaiCompatible" || TOP.iter().any(|(n, _)| *n == k);
    if !obj.keys().all(|k| known(k)) {
        return None;
    }
    let mut out = Vec::new();
    for (name, key) in TOP.iter().take(4) {
        out.push((*key, field(obj, name)?));
    }
    match obj.get("openaiCompatible") {
        None => {}
        Some(Value::Object(c)) => {
            for (name, key) in [
                ("baseUrl", "TRANSCRIPTION_BASE_URL"),
                ("model", "TRANSCRIPTION_MODEL"),
                ("apiKey", "TRANSCRIPTION_API_KEY"),
            ] {
                out.push((key, field(c, name)?));
            }
        }
        Some(_) => return None,
    }
    for (name, key) in TOP.iter().skip(4) {
        out.push((*key, field(obj, name)?));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_the_last_four_characters() {
        assert_eq!(mask("sk-abcdef1234"), "••••1234");
        assert_eq!(mask(" abcd "), "••••");
        assert_eq!(mask("ab"), "••••");
    }

    fn temp_home(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hapid-voice-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_put_keeps_the_other_settings_and_is_read_back_by_a_new_hub() {
        use std::os::unix::fs::PermissionsExt;
        let home = temp_home("keep");
        let file = home.join("settings.json");
        std::fs::write(&file, r#"{"cliApiToken":"t","listenPort":1}"#).unwrap();
        let mut env = ProviderEnv::new(&[], "https://x", Some(home.clone()));
        env.update(br#"{"deepgram":"dg-key-12345"}"#).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"cliApiToken": "t", "listenPort": 1,
                "providerCredentials": {"DEEPGRAM_API_KEY": "dg-key-12345"}})
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = ProviderEnv::new(&[], "https://x", Some(home.clone()));
        assert_eq!(again.get("DEEPGRAM_API_KEY"), Some("dg-key-12345"));
        // The environment wins over a stored value, and locks the key.
        let locked = ProviderEnv::new(
            &[("DEEPGRAM_API_KEY".into(), "env-key".into())],
            "https://x",
            Some(home.clone()),
        );
        assert_eq!(locked.get("DEEPGRAM_API_KEY"), Some("env-key"));
        let _ = std::fs::remove_dir_all(home);
    }

    #[test]
    fn a_settings_file_that_does_not_parse_is_not_overwritten() {
        let home = temp_home("corrupt");
        let file = home.join("settings.json");
        std::fs::write(&file, "{nope").unwrap();
        let mut env = ProviderEnv::new(&[], "https://x", Some(home.clone()));
        assert!(matches!(
            env.update(br#"{"groq":"g"}"#),
            Err(UpdateError::Write(_))
        ));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "{nope");
        assert_eq!(env.get("GROQ_API_KEY"), None, "nothing is kept half");
        let _ = std::fs::remove_dir_all(home);
    }
}
