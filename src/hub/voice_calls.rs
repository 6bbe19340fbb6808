//! One-shot provider calls of the voice routes, run on the outbound client while the web's
//! request waits: server-side transcription, realtime transcription tokens and the ElevenLabs
//! voice list. A client that goes away drops its call (the late result is ignored).
//!
//! Contract (observed on the official hub v0.30.7; status, then body):
//! - Transcription (timeout 120 s): OpenAI, Groq, OpenAI-compatible `POST {base}/audio/transcriptions`
//!   with a form `file`, `model`, then the language (`languages[]` for OpenAI, the full tag as
//!   `language` for OpenAI-compatible, else the base language as `language`) and
//!   `Authorization: Bearer <key>` (none for a key-less OpenAI-compatible server); ElevenLabs
//!   `POST {base}/v1/speech-to-text` with `file`, `model_id`, `language_code` and `xi-api-key`;
//!   Deepgram `POST {base}/listen?model=nova-3&smart_format=true[&language=]` with the raw audio
//!   and `Authorization: Token <key>`. 200 `{text, language?}` (Deepgram's transcript from
//!   `results.channels[0].alternatives[0]`); a non-2xx answer 502
//!   `"<p> transcription failed (HTTP <n>)"`; no answer or no JSON 502
//!   `"<p> transcription request failed"`.
//! - Realtime token (timeout 15 s): OpenAI `POST {base}/realtime/client_secrets`, ElevenLabs
//!   `POST {base}/v1/single-use-token/realtime_scribe`, Deepgram `POST {base}/auth/grant` with
//!   `{}`; 200 `{token}` from `value`, `token` or `access_token`; 502
//!   `"<p> realtime transcription token failed (HTTP <n>)"`, `"… returned no token"`,
//!   `"… token request failed"`.
//! - hapid's bound: at most [`MAX_TRANSCRIPTIONS`] transcriptions wait on providers at once;
//!   another one answers 503 `"Too many transcriptions in progress"`.
//! - Voices: `GET {base}/v1/voices` → `{voices:[{id,name,previewUrl,category}]}`; every failure
//!   answers `{voices:[]}` (hapid adds a 15 s timeout; the official hub waits indefinitely).

use super::voice_providers::{Provider, ProviderConfig};
use super::{ConnId, Effect, Hub, OutOwner};
use crate::http::Response;
use crate::http::client::{ClientRequest, ClientResponse, Url};
use crate::voice::multipart::Form;
use serde_json::{Value, json};
use std::time::Duration;

const TRANSCRIPTION_TIMEOUT: Duration = Duration::from_secs(120);
const REALTIME_TOKEN_TIMEOUT: Duration = Duration::from_secs(15);
const VOICES_TIMEOUT: Duration = Duration::from_secs(15);
/// Transcriptions waiting on a provider at once (each holds its audio, up to 25 MiB); past
/// it, 503 (hapid's bound; the official hub has none).
pub const MAX_TRANSCRIPTIONS: usize = 8;

/// What a voice call answers when it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Transcribe(Provider),
    RealtimeToken(Provider),
    Voices,
}

/// The audio of a transcription request.
#[derive(Debug)]
pub struct Audio<'a> {
    pub data: &'a [u8],
    pub filename: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// A validated language tag.
    pub language: Option<&'a str>,
}

fn err(status: u16, msg: &str) -> Response {
    Response::json(status, &json!({ "error": msg }))
}

/// OpenAI's language: `zh-cn`/`zh-tw`/`zh-hk` kept, else the base language.
fn openai_language(lang: &str) -> String {
    let l = lang.to_ascii_lowercase();
    match l.as_str() {
        "zh-cn" | "zh-tw" | "zh-hk" => l,
        _ => l.split('-').next().unwrap_or_default().to_string(),
    }
}

impl Hub {
    fn voice_url(&self, p: Option<Provider>, url: &str) -> Option<Url> {
        // A local OpenAI-compatible server is the point of that provider: plain http is fine.
        let plain_ok = p == Some(Provider::OpenAiCompatible) || self.settings.push_allow_http;
        Url::parse(url).filter(|u| u.https || plain_ok)
    }

    fn voice_send(
        &mut self,
        conn: ConnId,
        call: Call,
        req: ClientRequest,
        timeout: Duration,
    ) -> Option<Response> {
        let id = self.outbound_id(OutOwner::VoiceCall { conn, call });
        self.fx.push(Effect::Outbound { id, req, timeout });
        None
    }

    /// `POST /api/voice/transcription` once the upload is valid: `Some` answers now.
    pub fn voice_transcribe(
        &mut self,
        conn: ConnId,
        p: Provider,
        audio: Audio<'_>,
    ) -> Option<Response> {
        let not_configured = || err(400, &format!("{} transcription is not configured", p.id()));
        let Some(cfg) = self.voice_env.config(p) else {
            return Some(not_configured());
        };
        let in_flight = self
            .outbound
            .values()
            .filter(|o| {
                matches!(
                    o,
                    OutOwner::VoiceCall {
                        call: Call::Transcribe(_),
                        ..
                    }
                )
            })
            .count();
        if in_flight >= MAX_TRANSCRIPTIONS {
            return Some(err(503, "Too many transcriptions in progress"));
        }
        let ProviderConfig {
            api_key,
            base_url,
            model,
        } = cfg;
        let base_lang = audio
            .language
            .and_then(|l| l.split('-').next())
            .map(str::to_ascii_lowercase);
        let mut headers: Vec<(String, String)> = vec![("Accept".into(), "application/json".into())];
        let (url, body) = if p == Provider::Deepgram {
            let mut url = format!("{base_url}/listen?model={model}&smart_format=true");
            if let Some(l) = audio.language {
                url.push_str(&format!("&language={l}"));
            }
            headers.push((
                "Authorization".into(),
                format!("Token {}", api_key.unwrap_or_default()),
            ));
            let ct = audio
                .content_type
                .filter(|t| !t.is_empty())
                .unwrap_or("application/octet-stream");
            headers.push(("Content-Type".into(), ct.to_string()));
            (url, audio.data.to_vec())
        } else {
            let mut form = Form::new(audio.data);
            let filename = audio
                .filename
                .filter(|f| !f.is_empty())
                .unwrap_or("speech.webm");
            let ct = audio
                .content_type
                .filter(|t| !t.is_empty())
                .unwrap_or("application/octet-stream");
            form.file("file", filename, ct, audio.data);
            let model_field = if p == Provider::ElevenLabs {
                "model_id"
            } else {
                "model"
            };
            form.text(model_field, &model);
            if let (Some(base), Some(full)) = (&base_lang, audio.language) {
                match p {
                    Provider::ElevenLabs => form.text("language_code", base),
                    Provider::OpenAi => form.text("languages[]", &openai_language(full)),
                    Provider::OpenAiCompatible => form.text("language", full),
                    _ => form.text("language", base),
                }
            }
            let (ct, body) = form.finish();
            headers.push(("Content-Type".into(), ct));
            let url = if p == Provider::ElevenLabs {
                format!("{base_url}/v1/speech-to-text")
            } else {
                format!("{base_url}/audio/transcriptions")
            };
            match (p, api_key) {
                (Provider::ElevenLabs, k) => {
                    headers.push(("xi-api-key".into(), k.unwrap_or_default()))
                }
                (_, Some(k)) => headers.push(("Authorization".into(), format!("Bearer {k}"))),
                (_, None) => {}
            }
            (url, body)
        };
        let Some(url) = self.voice_url(Some(p), &url) else {
            return Some(err(
                502,
                &format!("{} transcription request failed", p.id()),
            ));
        };
        let req = ClientRequest {
            method: "POST",
            url,
            headers,
            body,
        };
        self.voice_send(conn, Call::Transcribe(p), req, TRANSCRIPTION_TIMEOUT)
    }

    /// `POST /api/voice/transcription/realtime-token` for a valid request.
    pub fn voice_realtime_token(
        &mut self,
        conn: ConnId,
        p: Provider,
        language: Option<&str>,
    ) -> Option<Response> {
        let Some(cfg) = self.voice_env.config(p) else {
            return Some(err(
                400,
                &format!("{} transcription is not configured", p.id()),
            ));
        };
        let Some(key) = cfg.api_key else {
            return Some(err(
                400,
                &format!("{} transcription is not configured", p.id()),
            ));
        };
        let base = cfg.base_url;
        let json_ct = ("Content-Type".to_string(), "application/json".to_string());
        let (url, headers, body) = match p {
            Provider::OpenAi => {
                let mut transcription = json!({"model": "gpt-live-transcribe", "delay": "low"});
                if let Some(l) = language {
                    transcription["languages"] = json!([openai_language(l)]);
                }
                let body = json!({
                    "expires_after": {"anchor": "created_at", "seconds": 60},
                    "session": {"type": "transcription", "audio": {"input": {
                        "transcription": transcription, "turn_detection": null}}}
                });
                (
                    format!("{base}/realtime/client_secrets"),
                    vec![("Authorization".into(), format!("Bearer {key}")), json_ct],
                    body.to_string().into_bytes(),
                )
            }
            Provider::ElevenLabs => (
                format!("{base}/v1/single-use-token/realtime_scribe"),
                vec![("xi-api-key".into(), key)],
                Vec::new(),
            ),
            _ => (
                format!("{base}/auth/grant"),
                vec![("Authorization".into(), format!("Token {key}")), json_ct],
                b"{}".to_vec(),
            ),
        };
        let Some(url) = self.voice_url(Some(p), &url) else {
            return Some(err(
                502,
                &format!("{} realtime transcription token request failed", p.id()),
            ));
        };
        let req = ClientRequest {
            method: "POST",
            url,
            headers,
            body,
        };
        self.voice_send(conn, Call::RealtimeToken(p), req, REALTIME_TOKEN_TIMEOUT)
    }

    /// `GET /api/voice/voices`.
    pub fn voice_voices(&mut self, conn: ConnId) -> Option<Response> {
        let empty = || Response::json(200, &json!({"voices": []}));
        let Some(key) = self.voice_env.elevenlabs_key().map(str::to_string) else {
            return Some(empty());
        };
        let url = format!("{}/v1/voices", self.voice_env.elevenlabs_base());
        let Some(url) = self.voice_url(None, &url) else {
            return Some(empty());
        };
        let req = ClientRequest {
            method: "GET",
            url,
            headers: vec![
                ("xi-api-key".into(), key),
                ("Accept".into(), "application/json".into()),
            ],
            body: Vec::new(),
        };
        self.voice_send(conn, Call::Voices, req, VOICES_TIMEOUT)
    }

    /// A voice call returned.
    pub(super) fn voice_call_done(
        &mut self,
        conn: ConnId,
        call: Call,
        r: Result<ClientResponse, String>,
    ) {
        let resp = match call {
            Call::Transcribe(p) => transcribe_answer(p, r),
            Call::RealtimeToken(p) => realtime_answer(p, r),
            Call::Voices => voices_answer(r),
        };
        self.fx.push(Effect::Reply { conn, resp });
    }

    /// The web's connection closed: its calls are forgotten.
    pub(super) fn voice_calls_closed(&mut self, conn: ConnId) {
        self.outbound
            .retain(|_, o| !matches!(o, OutOwner::VoiceCall { conn: c, .. } if *c == conn));
    }
}

fn ok_json(r: &Result<ClientResponse, String>) -> Result<Value, Option<u16>> {
    match r {
        Ok(x) if (200..300).contains(&x.status) => {
            serde_json::from_slice::<Value>(&x.body).map_err(|_| None)
        }
        Ok(x) => Err(Some(x.status)),
        Err(_) => Err(None),
    }
}

fn transcribe_answer(p: Provider, r: Result<ClientResponse, String>) -> Response {
    let id = p.id();
    match ok_json(&r) {
        Ok(Value::Null) | Err(None) => {
            crate::log::warn(&format!("voice: {id} transcription request failed"));
            err(502, &format!("{id} transcription request failed"))
        }
        Err(Some(status)) => {
            crate::log::warn(&format!("voice: {id} transcription answered HTTP {status}"));
            err(502, &format!("{id} transcription failed (HTTP {status})"))
        }
        Ok(data) => {
            let text = match p {
                Provider::Deepgram => data
                    .pointer("/results/channels/0/alternatives/0/transcript")
                    .cloned(),
                _ => data.get("text").cloned(),
            };
            let text = text.filter(|t| !t.is_null()).unwrap_or(json!(""));
            let mut body = json!({ "text": text });
            let language = match data.get("language") {
                Some(Value::Null) | None => data.get("language_code"),
                l => l,
            };
            if let Some(l) = language {
                body["language"] = l.clone();
            }
            Response::json(200, &body)
        }
    }
}

fn realtime_answer(p: Provider, r: Result<ClientResponse, String>) -> Response {
    let id = p.id();
    match ok_json(&r) {
        Ok(Value::Null) => err(
            502,
            &format!("{id} realtime transcription token request failed"),
        ),
        Ok(data) => {
            let token = ["value", "token", "access_token"]
                .iter()
                .find_map(|k| data.get(*k).filter(|v| !v.is_null()))
                .filter(|v| {
                    !matches!(v, Value::Bool(false)) && v.as_str() != Some("") && v != &&json!(0)
                });
            match token {
                Some(t) => Response::json(200, &json!({ "token": t })),
                None => err(
                    502,
                    &format!("{id} realtime transcription returned no token"),
                ),
            }
        }
        Err(Some(status)) => err(
            502,
            &format!("{id} realtime transcription token failed (HTTP {status})"),
        ),
        Err(None) => err(
            502,
            &format!("{id} realtime transcription token request failed"),
        ),
    }
}

fn voices_answer(r: Result<ClientResponse, String>) -> Response {
    let voices = ok_json(&r)
        .ok()
        .and_then(|d| d.get("voices").cloned())
        .and_then(|v| match v {
            Value::Array(list) => Some(list),
            Value::Null => Some(Vec::new()),
            _ => None,
        })
        .map(|list| {
            list.iter()
                .map(|v| {
                    let mut o = serde_json::Map::new();
                    for (from, to) in [
                        ("voice_id", "id"),
                        ("name", "name"),
                        ("preview_url", "previewUrl"),
                        ("category", "category"),
                    ] {
                        if let Some(x) = v.get(from) {
                            o.insert(to.into(), x.clone());
                        }
                    }
                    Value::Object(o)
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Response::json(200, &json!({ "voices": voices }))
}
