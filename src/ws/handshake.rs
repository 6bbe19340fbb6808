//! The server half of the RFC 6455 opening handshake (§4.2.1 reading the client's
//! request, §4.2.2 answering it). Works on headers already parsed by httparse; writes
//! the 101 or 400 response bytes. No extensions and no subprotocols are negotiated.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};

/// RFC 6455 §1.3: the GUID appended to the client's key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why an upgrade request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// The method is not `GET`.
    NotGet,
    /// No `Upgrade` header carrying the token `websocket`.
    NoUpgrade,
    /// No `Connection` header carrying the token `upgrade`.
    NoConnectionUpgrade,
    /// `Sec-WebSocket-Version` is missing or not `13`.
    BadVersion,
    /// `Sec-WebSocket-Key` is missing or not the base64 of exactly 16 bytes.
    BadKey,
}

impl HandshakeError {
    /// The text of the `error` field of the 400 body.
    fn message(&self) -> &'static str {
        match self {
            Self::NotGet => "WebSocket upgrade requires GET",
            Self::NoUpgrade => "missing Upgrade: websocket",
            Self::NoConnectionUpgrade => "missing Connection: Upgrade",
            Self::BadVersion => "unsupported Sec-WebSocket-Version, expected 13",
            Self::BadKey => "invalid Sec-WebSocket-Key",
        }
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for HandshakeError {}

/// `Sec-WebSocket-Accept` for `client_key`: base64(SHA-1(key + GUID)), RFC 6455 §4.2.2.
pub fn accept_key(client_key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(client_key.as_bytes());
    sha.update(GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// Checks an upgrade request (RFC 6455 §4.2.1) and returns the accept value for it.
///
/// `headers` are (name, value) pairs as httparse yields them; names match
/// case-insensitively and list headers may repeat. Checked in order: method `GET`,
/// `Upgrade` has the token `websocket`, `Connection` has the token `upgrade` (both
/// case-insensitive comma lists), `Sec-WebSocket-Version` is `13`, and
/// `Sec-WebSocket-Key` is standard base64 of exactly 16 bytes.
pub fn check_upgrade(method: &str, headers: &[(&str, &[u8])]) -> Result<String, HandshakeError> {
    if method != "GET" {
        return Err(HandshakeError::NotGet);
    }
    if !has_token(headers, "upgrade", b"websocket") {
        return Err(HandshakeError::NoUpgrade);
    }
    if !has_token(headers, "connection", b"upgrade") {
        return Err(HandshakeError::NoConnectionUpgrade);
    }
    if first(headers, "sec-websocket-version") != Some(b"13") {
        return Err(HandshakeError::BadVersion);
    }
    let key = first(headers, "sec-websocket-key").ok_or(HandshakeError::BadKey)?;
    match STANDARD.decode(key) {
        Ok(nonce) if nonce.len() == 16 => {}
        _ => return Err(HandshakeError::BadKey),
    }
    // Valid base64 is ASCII, so this cannot fail; still no unwrap on peer bytes.
    let key = std::str::from_utf8(key).map_err(|_| HandshakeError::BadKey)?;
    Ok(accept_key(key))
}

/// The trimmed value of the first header called `name`.
fn first<'h>(headers: &[(&str, &'h [u8])], name: &str) -> Option<&'h [u8]> {
    let (_, value) = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))?;
    Some(value.trim_ascii())
}

/// Whether any header called `name` lists `token` (comma-separated, any case).
fn has_token(headers: &[(&str, &[u8])], name: &str, token: &[u8]) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, value)| value.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// The `101 Switching Protocols` response for `accept` (from [`check_upgrade`]).
/// It names no extension, which declines permessage-deflate (RFC 7692 §5).
pub fn response_101(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

/// A `400 Bad Request` with a JSON body `{"error": "..."}` and `Connection: close`;
/// for [`HandshakeError::BadVersion`] it also states `Sec-WebSocket-Version: 13`
/// (RFC 6455 §4.4).
pub fn response_400(err: &HandshakeError) -> Vec<u8> {
    // The messages are fixed ASCII without quotes or backslashes: no escaping needed.
    let body = format!("{{\"error\":\"{}\"}}", err.message());
    let version = if *err == HandshakeError::BadVersion {
        "Sec-WebSocket-Version: 13\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n{version}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn rfc6455_1_3_accept_vector() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    /// A browser-like request with one header replaced (or removed when `value` is None).
    fn request(name: &str, value: Option<&'static [u8]>) -> Vec<(String, &'static [u8])> {
        let mut h: Vec<(String, &'static [u8])> = vec![
            ("Host".into(), b"example.com"),
            ("Upgrade".into(), b"websocket"),
            ("Connection".into(), b"Upgrade"),
            ("Sec-WebSocket-Key".into(), KEY),
            ("Sec-WebSocket-Version".into(), b"13"),
            ("Sec-WebSocket-Extensions".into(), b"permessage-deflate"),
        ];
        h.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            h.push((name.into(), v));
        }
        h
    }

    /// (method, header to replace, its new value or None to drop it, expected outcome)
    type Case = (
        &'static str,
        &'static str,
        Option<&'static [u8]>,
        Result<&'static str, HandshakeError>,
    );

    #[test]
    fn check_upgrade_table() {
        use HandshakeError::*;
        let ok = Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("GET", "Host", Some(b"example.com"), ok),
            ("GET", "connection", Some(b"keep-alive, Upgrade"), ok),
            ("GET", "CONNECTION", Some(b"keep-alive,upgrade"), ok),
            ("GET", "upgrade", Some(b"WebSocket"), ok),
            ("GET", "Upgrade", Some(b"h2c, websocket"), ok),
            ("GET", "Sec-WebSocket-Version", Some(b" 13 "), ok),
            ("POST", "Host", Some(b"example.com"), Err(NotGet)),
            ("get", "Host", Some(b"example.com"), Err(NotGet)),
            ("GET", "Upgrade", None, Err(NoUpgrade)),
            ("GET", "Upgrade", Some(b"h2c"), Err(NoUpgrade)),
            ("GET", "Upgrade", Some(b"websockets"), Err(NoUpgrade)),
            ("GET", "Connection", None, Err(NoConnectionUpgrade)),
            ("GET", "Connection", Some(b"keep-alive"), Err(NoConnectionUpgrade)),
            ("GET", "Connection", Some(b"keep-alive upgrade"), Err(NoConnectionUpgrade)),
            ("GET", "Sec-WebSocket-Version", None, Err(BadVersion)),
            ("GET", "Sec-WebSocket-Version", Some(b"8"), Err(BadVersion)),
            ("GET", "Sec-WebSocket-Version", Some(b"13, 8"), Err(BadVersion)),
            ("GET", "Sec-WebSocket-Key", None, Err(BadKey)),
            ("GET", "Sec-WebSocket-Key", Some(b""), Err(BadKey)),
            ("GET", "Sec-WebSocket-Key", Some(b"AAAAAAAAAAAAAAAAAAAAAA"), Err(BadKey)), // no padding
            ("GET", "Sec-WebSocket-Key", Some(b"AAAAAAAAAAAAAAAAAAAAAAA="), Err(BadKey)), // 17 bytes
            ("GET", "Sec-WebSocket-Key", Some(b"AAAAAAAAAAAAAAAAAAAA"), Err(BadKey)), // 15 bytes
            ("GET", "Sec-WebSocket-Key", Some(b"dGhlIHNhbXBsZSBub25jZQ=!"), Err(BadKey)),
        ];
        for (method, name, value, want) in cases {
            let owned = request(name, *value);
            let headers: Vec<(&str, &[u8])> = owned.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            assert_eq!(
                check_upgrade(method, &headers).as_deref(),
                want.as_ref().copied(),
                "{method} {name}: {value:?}"
            );
        }
    }

    #[test]
    fn responses() {
        assert_eq!(
            response_101("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
        let r = String::from_utf8(response_400(&HandshakeError::BadVersion)).unwrap();
        assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
        assert!(r.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{r}");
        assert!(r.contains("\r\nConnection: close\r\n"), "{r}");
        assert!(r.contains("\r\nContent-Type: application/json\r\n"), "{r}");
        let body = r#"{"error":"unsupported Sec-WebSocket-Version, expected 13"}"#;
        let tail = format!("Content-Length: {}\r\nConnection: close\r\n", body.len());
        assert!(r.contains(&tail), "{r}");
        assert!(r.ends_with(&format!("\r\n\r\n{body}")), "{r}");
        let r = String::from_utf8(response_400(&HandshakeError::BadKey)).unwrap();
        assert!(!r.contains("Sec-WebSocket-Version"), "{r}");
        assert!(
            r.ends_with(r#"{"error":"invalid Sec-WebSocket-Key"}"#),
            "{r}"
        );
    }
}
