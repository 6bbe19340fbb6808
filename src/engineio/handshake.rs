//! The Engine.IO v4 endpoint's handshake pieces: the open packet's JSON, the request query
//! (`EIO`, `transport`, `sid`), and the JSON error bodies of rejected requests.
//!
//! engine.io-protocol "Handshake" and "Query parameters"; spec/cli-protocol.md §4.1 (the
//! validation table: which check fails with which code) and §4.2 (the open packet). The
//! order of the checks belongs to the reactor; this file only formats and parses.

use serde::Serialize;

/// The open packet's fields, in the reference server's key order (serde derives keep
/// declaration order).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OpenJson<'a> {
    sid: &'a str,
    upgrades: &'a [&'a str],
    ping_interval: u64,
    ping_timeout: u64,
    max_payload: u64,
}

/// The JSON of the open packet: {"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}
/// (key order as the reference server). Strings are JSON-escaped.
pub fn open_json(
    sid: &str,
    upgrades: &[&str],
    ping_interval_ms: u64,
    ping_timeout_ms: u64,
    max_payload: u64,
) -> String {
    let open = OpenJson {
        sid,
        upgrades,
        ping_interval: ping_interval_ms,
        ping_timeout: ping_timeout_ms,
        max_payload,
    };
    // Serializing strings and integers into a String cannot fail.
    serde_json::to_string(&open).unwrap_or_default()
}

/// Query of a /socket.io/ or /engine.io/ request: EIO, transport, sid (first occurrence
/// of each, percent-decoded); other keys ignored.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// `EIO`: the protocol version; the endpoint accepts only `"4"`.
    pub eio: Option<String>,
    /// `transport`: `"polling"` or `"websocket"`.
    pub transport: Option<String>,
    /// `sid`: the Engine.IO session id, absent on a handshake.
    pub sid: Option<String>,
}

/// Parses the query string (the part after `?`, a leading `?` is tolerated) the way
/// `URLSearchParams` does: pairs split on `&`, key and value split on the first `=`, `+`
/// is a space, `%XX` is a byte, a malformed `%` stays literal, bad UTF-8 becomes U+FFFD.
/// Keys compare case-sensitively after decoding. Never fails.
pub fn parse_query(q: &str) -> Query {
    let q = q.strip_prefix('?').unwrap_or(q);
    let mut out = Query::default();
    for pair in q.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match percent_decode(key).as_str() {
            "EIO" => &mut out.eio,
            "transport" => &mut out.transport,
            "sid" => &mut out.sid,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(percent_decode(value));
        }
    }
    out
}

/// `application/x-www-form-urlencoded` decoding of one key or value.
fn percent_decode(s: &str) -> String {
    let hex = |h: u8| {
        char::from(h)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&c, tail)) = rest.split_first() {
        rest = tail;
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                if let [h, l, more @ ..] = tail
                    && let (Some(h), Some(l)) = (hex(*h), hex(*l))
                {
                    // Both are nibbles (< 16), so this cannot overflow.
                    out.push(h << 4 | l);
                    rest = more;
                } else {
                    out.push(b'%');
                }
            }
            other => out.push(other),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The reference server's HTTP error codes/messages: 0 "Transport unknown", 1 "Session ID unknown", 2 "Bad handshake method", 3 "Bad request", 4 "Forbidden", 5 "Unsupported protocol version".
///
/// Code 4's text is the one spec/cli-protocol.md §4.1 captured from the upstream hub
/// (bun-engine): "Origin not allowed" (Node's engine.io says "Forbidden").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpErrorCode {
    /// `transport` missing or not `polling`/`websocket`.
    TransportUnknown = 0,
    /// `sid` given but not a live session.
    SessionIdUnknown = 1,
    /// A handshake (no `sid`) that is not a GET.
    BadHandshakeMethod = 2,
    /// Any other malformed request (e.g. a request for a session already on WebSocket).
    BadRequest = 3,
    /// The `Origin` is not allowed (HTTP 403).
    Forbidden = 4,
    /// `EIO` missing or not `4`.
    UnsupportedProtocolVersion = 5,
}

impl HttpErrorCode {
    /// The numeric `code` of the JSON body.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The `message` of the JSON body.
    pub fn message(self) -> &'static str {
        match self {
            Self::TransportUnknown => "Transport unknown",
            Self::SessionIdUnknown => "Session ID unknown",
            Self::BadHandshakeMethod => "Bad handshake method",
            Self::BadRequest => "Bad request",
            Self::Forbidden => "Origin not allowed",
            Self::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status the reference server answers with: 403 for `Forbidden`, else 400.
    pub fn status(self) -> u16 {
        match self {
            Self::Forbidden => 403,
            _ => 400,
        }
    }
}

/// The error body, e.g. `{"code":0,"message":"Transport unknown"}`
/// (`Content-Type: application/json`).
pub fn error_json(code: HttpErrorCode) -> String {
    // The messages are constants without characters that need JSON escaping.
    format!(
        r#"{{"code":{},"message":"{}"}}"#,
        code.code(),
        code.message()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_packet_json() {
        // engine.io-protocol "Handshake" example; spec/cli-protocol.md §4.2 captures.
        assert_eq!(
            open_json(
                "lv_VI97HAXpY6yYWAAAC",
                &["websocket"],
                25000,
                20000,
                1_000_000
            ),
            r#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        assert_eq!(
            open_json("5vrvPpMEUaKqcgGXiLHi", &[], 25000, 20000, 1_000_000),
            r#"{"sid":"5vrvPpMEUaKqcgGXiLHi","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        assert_eq!(
            open_json("a\"b\\", &["websocket"], 300, 200, 50_331_648),
            r#"{"sid":"a\"b\\","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":50331648}"#
        );
    }

    #[test]
    fn error_bodies() {
        let cases = [
            (
                HttpErrorCode::TransportUnknown,
                400,
                r#"{"code":0,"message":"Transport unknown"}"#,
            ),
            (
                HttpErrorCode::SessionIdUnknown,
                400,
                r#"{"code":1,"message":"Session ID unknown"}"#,
            ),
            (
                HttpErrorCode::BadHandshakeMethod,
                400,
                r#"{"code":2,"message":"Bad handshake method"}"#,
            ),
            (
                HttpErrorCode::BadRequest,
                400,
                r#"{"code":3,"message":"Bad request"}"#,
            ),
            (
                HttpErrorCode::Forbidden,
                403,
                r#"{"code":4,"message":"Origin not allowed"}"#,
            ),
            (
                HttpErrorCode::UnsupportedProtocolVersion,
                400,
                r#"{"code":5,"message":"Unsupported protocol version"}"#,
            ),
        ];
        for (code, status, body) in cases {
            assert_eq!(error_json(code), body);
            assert_eq!(code.status(), status);
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["code"], u64::from(code.code()));
        }
    }

    fn q(eio: Option<&str>, transport: Option<&str>, sid: Option<&str>) -> Query {
        Query {
            eio: eio.map(str::to_owned),
            transport: transport.map(str::to_owned),
            sid: sid.map(str::to_owned),
        }
    }

    #[test]
    fn queries() {
        let cases = [
            // engine.io-protocol / socket.io-protocol test suites and spec captures
            (
                "EIO=4&transport=polling",
                q(Some("4"), Some("polling"), None),
            ),
            (
                "EIO=4&transport=websocket",
                q(Some("4"), Some("websocket"), None),
            ),
            (
                "EIO=4&transport=polling&t=it60wpct&sid=dRXBncFn7PIMdUN-O3uv",
                q(Some("4"), Some("polling"), Some("dRXBncFn7PIMdUN-O3uv")),
            ),
            ("transport=polling", q(None, Some("polling"), None)),
            (
                "EIO=abc&transport=polling",
                q(Some("abc"), Some("polling"), None),
            ),
            ("EIO=4", q(Some("4"), None, None)),
            ("EIO=4&transport=abc", q(Some("4"), Some("abc"), None)),
            ("?EIO=4", q(Some("4"), None, None)),
            ("", Query::default()),
            ("&&=&", Query::default()),
            // first occurrence wins, decoding, odd forms
            ("sid=a&sid=b&EIO=3&EIO=4", q(Some("3"), None, Some("a"))),
            (
                "sid=a%2Bb%3d&transport=web+socket",
                q(None, Some("web socket"), Some("a+b=")),
            ),
            ("%73id=x&EIO", q(Some(""), None, Some("x"))),
            ("sid=%zz%4&eio=4&Sid=y", q(None, None, Some("%zz%4"))),
            ("sid=%ff%e2%82%ac", q(None, None, Some("\u{fffd}€"))),
            ("sid=a=b", q(None, None, Some("a=b"))),
            ("sid=%", q(None, None, Some("%"))),
        ];
        for (query, want) in cases {
            assert_eq!(parse_query(query), want, "{query:?}");
            // STYLE §9: any cut of the query must parse without panicking.
            for cut in 0..=query.len() {
                if let (Some(a), Some(b)) = (query.get(..cut), query.get(cut..)) {
                    let _ = (parse_query(a), parse_query(b));
                }
            }
        }
    }
}
