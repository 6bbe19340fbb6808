//! The `/api/voice/*` routes (parity-0.30.7 §2 rows 100–110, §5 row 4): the voice backends,
//! the ElevenLabs voice list, server-side transcription, realtime transcription tokens, the
//! Gemini/Qwen token answers, the owner's provider credentials and voice telemetry.
//! Provider configuration is `hub::voice_providers`, the calls `hub::voice_calls`, the
//! ElevenLabs conversation token `hub::voice`.
//!
//! Request contract (observed on the official hub v0.30.7; status and `{error}`):
//! - `POST /voice/transcription`, multipart: a body over 26 MiB (25 MiB audio + 1 MiB) 413
//!   `"Audio file too large"`; not a form 400 `"Invalid form data"`; then, in this order,
//!   `provider` not one of openai/elevenlabs/deepgram/groq/openai-compatible 400
//!   `"Invalid transcription provider"`; `language` not a BCP-47-like tag of at most 35
//!   characters 400 `"Invalid transcription language"`; `mode` given and not `standard` 400
//!   `"This endpoint only accepts standard transcription"`; `file` not a file 400
//!   `"Missing audio file"`; empty or over 25 MiB 400
//!   `"Audio file must be between 1 byte and 26214400 bytes"`; a file name whose extension is not an audio type (or
//!   `.webm`, `.mp4`; the part's Content-Type is ignored) 400 `"Unsupported audio file type"`; the provider not
//!   configured 400 `"<p> transcription is not configured"`.
//! - `POST /voice/transcription/realtime-token`, JSON `{provider, language?}`: over 8 KiB 413
//!   `"Realtime token request too large"`; provider not openai/elevenlabs/deepgram 400
//!   `"Invalid realtime transcription provider"`; bad language 400.
//! - `GET|PUT /voice/transcription/credentials`: only the `default` namespace (else 403
//!   `"Provider credentials are only available to the hub owner"`); a PUT body that is not the
//!   strict shape 400 `"Invalid transcription credentials payload"`.
//! - `POST /voice/gemini-token` / `qwen-token`: without a key 400 `{allowed:false, error}`;
//!   else `{allowed:true, apiKey:"proxied", wsUrl, baseUrl?}` / `{allowed:true, wsUrl}`, the
//!   WebSocket URL built from HAPI_PUBLIC_URL or the request's origin. hapid answers them only
//!   once its `gemini-ws` / `qwen-ws` proxies exist ([`REALTIME_PROXIES`]); until then 404.
//! - `POST /voice/telemetry`: `{stage, message}` non-empty strings, `sessionId`, `voiceId`,
//!   `language` optional strings, `details` an optional object; else 400
//!   `{ok:false, error:"Invalid telemetry payload"}`; `{ok:true}`.

use super::{Caller, Outcome};
use crate::app::{ConnId, Now};
use crate::http::{Head, Request, Response};
use crate::hub::Hub;
use crate::hub::voice_calls::Audio;
use crate::hub::voice_providers::{Provider, REALTIME_PROXIES, UpdateError};
use crate::voice::multipart;
use serde_json::{Value, json};

/// Largest audio file.
pub const MAX_AUDIO: usize = 25 * 1024 * 1024;
/// Largest transcription request body.
pub const MAX_TRANSCRIPTION_BODY: usize = MAX_AUDIO + 1024 * 1024;
/// Largest transcription body read: a body between [`MAX_TRANSCRIPTION_BODY`] and this is read
/// (once its credentials check out) so that the client gets the route's 413 rather than a
/// broken pipe; a longer one gets the parser's 413 unread.
pub const UPLOAD_READ_LIMIT: usize = 64 * 1024 * 1024;
/// Largest realtime-token request body.
const MAX_REALTIME_BODY: usize = 8 * 1024;

/// Whether `head` is a transcription upload (its body limit is [`UPLOAD_READ_LIMIT`]).
pub fn is_upload(head: &Head) -> bool {
    head.method == "POST" && head.path == "/api/voice/transcription"
}

/// The answer to an upload over [`MAX_TRANSCRIPTION_BODY`].
fn too_large() -> Response {
    err(413, "Audio file too large")
}

fn err(status: u16, msg: &str) -> Response {
    Response::json(status, &json!({ "error": msg }))
}

fn deferred(r: Option<Response>) -> Outcome {
    match r {
        Some(r) => Outcome::Reply(r),
        None => Outcome::Deferred,
    }
}

/// Dispatches `/api/voice/<rest>`; `None` for a route that does not exist.
pub fn route(
    hub: &mut Hub,
    caller: &Caller,
    conn: ConnId,
    req: &Request,
    rest: &[&str],
    now: Now,
) -> Option<Outcome> {
    let m = req.head.method.as_str();
    let get = m == "GET" || m == "HEAD";
    let reply = match (m, rest) {
        (_, ["backend"]) if get => Response::json(200, &hub.voice_env.backend_body()),
        (_, ["voices"]) if get => return Some(deferred(hub.voice_voices(conn))),
        (_, ["transcription", "providers"]) if get => {
            Response::json(200, &hub.voice_env.providers_body())
        }
        (_, ["transcription", "credentials"]) if get || m == "PUT" => {
            if caller.ns != "default" {
                err(
                    403,
                    "Provider credentials are only available to the hub owner",
                )
            } else if get {
                Response::json(200, &hub.voice_env.status())
            } else {
                match hub.voice_env.update(&req.body) {
                    Ok(status) => Response::json(200, &status),
                    Err(UpdateError::Invalid) => {
                        err(400, "Invalid transcription credentials payload")
                    }
                    Err(UpdateError::Locked(msg)) => err(409, &msg),
                    Err(UpdateError::Write(msg)) => {
                        crate::log::warn(&format!("voice: credentials not saved: {msg}"));
                        err(500, &msg)
                    }
                }
            }
        }
        ("POST", ["transcription"]) => return Some(transcription(hub, conn, req)),
        ("POST", ["transcription", "realtime-token"]) => {
            return Some(realtime_token(hub, conn, req));
        }
        // Not until the proxies exist: a token for a WebSocket that answers 404 is worse than
        // the 404 (crate::hub::voice_providers::REALTIME_PROXIES).
        ("POST", ["gemini-token"]) if REALTIME_PROXIES => gemini_token(hub, req),
        ("POST", ["qwen-token"]) if REALTIME_PROXIES => qwen_token(hub, req),
        ("POST", ["token"]) => return Some(deferred(hub.voice_token(conn, &req.body, now))),
        ("POST", ["telemetry"]) => telemetry(&req.body),
        _ => return None,
    };
    Some(Outcome::Reply(reply))
}

/// A language tag as the official hub accepts it (trimmed): `^[a-z]{2,3}(-[a-z0-9]{2,8})*$`,
/// case-insensitive, at most 35 characters.
fn valid_language(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let first = parts.next().unwrap_or_default();
    tag.len() <= 35
        && (2..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A form field: a text value or a file.
enum Field<'a> {
    Text(String),
    File(multipart::Part<'a>),
}

fn form_fields<'a>(req: &'a Request) -> Option<Vec<(String, Field<'a>)>> {
    let ct = req.head.header("content-type").unwrap_or_default();
    if let Some(boundary) = multipart::boundary(ct) {
        let parts = multipart::parse(&req.body, &boundary)?;
        return Some(
            parts
                .into_iter()
                .map(|p| match p.filename {
                    Some(_) => (p.name.clone(), Field::File(p)),
                    None => (
                        p.name.clone(),
                        Field::Text(String::from_utf8_lossy(p.data).into_owned()),
                    ),
                })
                .collect(),
        );
    }
    let kind = ct.split(';').next().unwrap_or_default().trim();
    if kind.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        let text = std::str::from_utf8(&req.body).ok()?;
        return Some(
            crate::auth::form::parse_form(text)
                .into_iter()
                .map(|(k, v)| (k, Field::Text(v)))
                .collect(),
        );
    }
    None
}

fn transcription(hub: &mut Hub, conn: ConnId, req: &Request) -> Outcome {
    let reply = |status: u16, msg: &str| Outcome::Reply(err(status, msg));
    if req.body.len() > MAX_TRANSCRIPTION_BODY {
        return Outcome::Reply(too_large());
    }
    let Some(fields) = form_fields(req) else {
        return reply(400, "Invalid form data");
    };
    let first = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, f)| f);
    let text = |name: &str| match first(name) {
        Some(Field::Text(t)) => Some(t.as_str()),
        _ => None,
    };
    let Some(provider) = text("provider").and_then(Provider::parse) else {
        return reply(400, "Invalid transcription provider");
    };
    let language = text("language").map(str::trim).filter(|l| !l.is_empty());
    if language.is_some_and(|l| !valid_language(l)) {
        return reply(400, "Invalid transcription language");
    }
    let mode_ok = match first("mode") {
        None => true,
        Some(Field::Text(t)) => t == "standard",
        Some(Field::File(_)) => false,
    };
    if !mode_ok {
        return reply(400, "This endpoint only accepts standard transcription");
    }
    let Some(Field::File(file)) = first("file") else {
        return reply(400, "Missing audio file");
    };
    if file.data.is_empty() || file.data.len() > MAX_AUDIO {
        return reply(
            400,
            &format!("Audio file must be between 1 byte and {MAX_AUDIO} bytes"),
        );
    }
    // The file's type is the one its name's extension gives (the part's Content-Type is not
    // used, as on the official hub); a name without one has none.
    let ctype = audio_type(file.filename.as_deref().unwrap_or_default());
    if ctype.is_none() {
        return reply(400, "Unsupported audio file type");
    }
    let audio = Audio {
        data: file.data,
        filename: file.filename.as_deref(),
        content_type: ctype.filter(|t| !t.is_empty()),
        language,
    };
    deferred(hub.voice_transcribe(conn, provider, audio))
}

/// The type of an uploaded file named `name`, observed on the official hub: `Some("")` without
/// an extension, the audio (or `video/webm`, `video/mp4`) type of a known extension, `None`
/// (refused) for any other extension.
fn audio_type(name: &str) -> Option<&'static str> {
    let Some((_, ext)) = name.rsplit_once('.') else {
        return Some("");
    };
    Some(match ext.to_ascii_lowercase().as_str() {
        "ogg" | "oga" | "opus" | "spx" => "audio/ogg",
        "m4a" => "audio/x-m4a",
        "flac" => "audio/x-flac",
        "aac" => "audio/x-aac",
        "weba" => "audio/webm",
        "webm" => "video/webm",
        "mp4" => "video/mp4",
        "mp3" | "mpga" | "mp2" | "m2a" => "audio/mpeg",
        "wav" => "audio/x-wav",
        "amr" => "audio/amr",
        "caf" => "audio/x-caf",
        "aif" | "aiff" => "audio/x-aiff",
        "mid" | "midi" | "kar" => "audio/midi",
        "m3u" => "audio/x-mpegurl",
        "ra" => "audio/x-realaudio",
        "wma" => "audio/x-ms-wma",
        "au" | "snd" => "audio/basic",
        "adp" => "audio/adpcm",
        "s3m" => "audio/s3m",
        "xm" => "audio/xm",
        _ => return None,
    })
}

fn realtime_token(hub: &mut Hub, conn: ConnId, req: &Request) -> Outcome {
    let reply = |msg: &str| Outcome::Reply(err(400, msg));
    if req.body.len() > MAX_REALTIME_BODY {
        return Outcome::Reply(err(413, "Realtime token request too large"));
    }
    let body = super::json_body(req);
    let provider = match body.get("provider").and_then(Value::as_str) {
        Some(p @ ("openai" | "elevenlabs" | "deepgram")) => Provider::parse(p),
        _ => None,
    };
    let Some(provider) = provider else {
        return reply("Invalid realtime transcription provider");
    };
    // `language || undefined`: a falsy value counts as absent.
    let language = match body.get("language") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => None,
        Some(Value::String(s)) => match s.trim() {
            l if valid_language(l) => Some(l.to_string()),
            _ => return reply("Invalid transcription language"),
        },
        Some(_) => return reply("Invalid transcription language"),
    };
    deferred(hub.voice_realtime_token(conn, provider, language.as_deref()))
}

/// `ws(s)://<host of HAPI_PUBLIC_URL or the request>/api/voice/<name>`.
fn ws_url(hub: &Hub, req: &Request, name: &str) -> String {
    let base = match hub.voice_env.var("HAPI_PUBLIC_URL") {
        Some(u) => u.to_string(),
        None => format!("http://{}", req.head.header("host").unwrap_or("localhost")),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base.as_str()));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let ws = if scheme.eq_ignore_ascii_case("https") {
        "wss"
    } else {
        "ws"
    };
    format!("{ws}://{}/api/voice/{name}", authority.to_ascii_lowercase())
}

fn gemini_token(hub: &Hub, req: &Request) -> Response {
    let env = &hub.voice_env;
    if env
        .get("GEMINI_API_KEY")
        .or(env.get("GOOGLE_API_KEY"))
        .is_none()
    {
        return Response::json(
            400,
            &json!({"allowed": false,
                "error": "Gemini API key not configured (set GEMINI_API_KEY or GOOGLE_API_KEY)"}),
        );
    }
    let mut body = json!({"allowed": true, "apiKey": "proxied",
        "wsUrl": ws_url(hub, req, "gemini-ws")});
    if let Some(base) = env.var("GEMINI_API_BASE") {
        body["baseUrl"] = json!(base);
    }
    Response::json(200, &body)
}

fn qwen_token(hub: &Hub, req: &Request) -> Response {
    let env = &hub.voice_env;
    if env
        .get("DASHSCOPE_API_KEY")
        .or(env.get("QWEN_API_KEY"))
        .is_none()
    {
        return Response::json(
            400,
            &json!({"allowed": false,
                "error": "DashScope API key not configured (set DASHSCOPE_API_KEY or QWEN_API_KEY)"}),
        );
    }
    Response::json(
        200,
        &json!({"allowed": true, "wsUrl": ws_url(hub, req, "qwen-ws")}),
    )
}

fn telemetry(body: &[u8]) -> Response {
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|_| json!({}));
    let nonempty = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let optional = |k: &str| v.get(k).is_none_or(Value::is_string);
    let valid = v.is_object()
        && nonempty("stage").is_some()
        && nonempty("message").is_some()
        && ["sessionId", "voiceId", "language"]
            .iter()
            .all(|k| optional(k))
        && v.get("details").is_none_or(Value::is_object);
    if !valid {
        return Response::json(
            400,
            &json!({"ok": false, "error": "Invalid telemetry payload"}),
        );
    }
    let clip = |s: &str| s.chars().take(200).collect::<String>();
    crate::log::info(&format!(
        "voice telemetry: {}: {}",
        clip(nonempty("stage").unwrap_or_default()),
        clip(nonempty("message").unwrap_or_default())
    ));
    Response::json(200, &json!({"ok": true}))
}
