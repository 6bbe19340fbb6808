//! The client half of HTTP/1.1, sans-IO: outbound request serialization, URL parsing, and
//! response parsing (Content-Length, chunked, or until close) with a body bound.
//!
//! Used by the reactor's outbound client for Web Push, Telegram and ElevenLabs. One request
//! per connection (`Connection: close`), so no response framing state survives a request.

/// A parsed `http(s)://host[:port]/path?query` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https` (true) or `http`.
    pub https: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port (default 443 / 80).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    /// Parses an absolute http(s) URL; None for anything else (userinfo, spaces, controls).
    pub fn parse(url: &str) -> Option<Url> {
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return None;
        };
        if url.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'\\') {
            return None;
        }
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let (host, port) = if let Some(r) = authority.strip_prefix('[') {
            let (h, after) = r.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().ok()?,
                None if after.is_empty() => {
                    if https {
                        443
                    } else {
                        80
                    }
                }
                None => return None,
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().ok()?),
                None => (authority.to_string(), if https { 443 } else { 80 }),
            }
        };
        if host.is_empty() {
            return None;
        }
        let tail = tail.split('#').next().unwrap_or("");
        let target = if tail.is_empty() {
            "/".to_string()
        } else if tail.starts_with('?') {
            format!("/{tail}")
        } else {
            tail.to_string()
        };
        Some(Url {
            https,
            host: host.to_ascii_lowercase(),
            port,
            target,
        })
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        let default = if self.https { 443 } else { 80 };
        let h = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            h
        } else {
            format!("{h}:{}", self.port)
        }
    }
}

/// An outbound request.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    /// Method.
    pub method: &'static str,
    /// Absolute URL.
    pub url: Url,
    /// Extra headers (Host, Content-Length, Connection are added).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl ClientRequest {
    /// The bytes to send.
    pub fn serialize(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            self.method,
            self.url.target,
            self.url.host_header()
        );
        for (n, v) in &self.headers {
            head.push_str(n);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// A received response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl ClientResponse {
    /// First value of a header (name lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// Not HTTP/1.x, bad chunk framing, bad length.
    Malformed,
    /// Body over the bound.
    TooLarge,
    /// The peer closed before a complete response.
    Truncated,
}

/// Parses a response from `buf`. `eof`: the peer closed. Ok(None) = need more bytes.
pub fn parse_response(
    buf: &[u8],
    eof: bool,
    max_body: usize,
) -> Result<Option<ClientResponse>, ClientError> {
    let mut storage = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut storage);
    let head_len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if eof => return Err(ClientError::Truncated),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ClientError::Malformed),
    };
    let status = r.code.ok_or(ClientError::Malformed)?;
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let rest = buf.get(head_len..).unwrap_or(&[]);
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.trim());
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    let body = if no_body {
        Vec::new()
    } else if find("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        match dechunk(rest, max_body)? {
            Some(b) => b,
            None if eof => return Err(ClientError::Truncated),
            None => return Ok(None),
        }
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().map_err(|_| ClientError::Malformed)?;
        if len > max_body {
            return Err(ClientError::TooLarge);
        }
        if rest.len() < len {
            return if eof {
                Err(ClientError::Truncated)
            } else {
                Ok(None)
            };
        }
        rest[..len].to_vec()
    } else {
        if rest.len() > max_body {
            return Err(ClientError::TooLarge);
        }
        if !eof {
            return Ok(None);
        }
        rest.to_vec()
    };
    Ok(Some(ClientResponse {
        status,
        headers,
        body,
    }))
}

/// Decodes a chunked body; Ok(None) when incomplete.
fn dechunk(mut buf: &[u8], max_body: usize) -> Result<Option<Vec<u8>>, ClientError> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
            return if buf.len() > 64 {
                Err(ClientError::Malformed)
            } else {
                Ok(None)
            };
        };
        let line = std::str::from_utf8(&buf[..line_end]).map_err(|_| ClientError::Malformed)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| ClientError::Malformed)?;
        let start = line_end + 2;
        if size == 0 {
            // Trailers end with an empty line; accept the common "0\r\n\r\n".
            return match buf.get(start..) {
                Some(t) if t.starts_with(b"\r\n") || t.windows(4).any(|w| w == b"\r\n\r\n") => {
                    Ok(Some(out))
                }
                _ => Ok(None),
            };
        }
        if out.len().saturating_add(size) > max_body {
            return Err(ClientError::TooLarge);
        }
        let end = start.checked_add(size).ok_or(ClientError::Malformed)?;
        let Some(chunk) = buf.get(start..end) else {
            return Ok(None);
        };
        out.extend_from_slice(chunk);
        match buf.get(end..end + 2) {
            Some(b"\r\n") => buf = &buf[end + 2..],
            Some(_) => return Err(ClientError::Malformed),
            None => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("https://fcm.googleapis.com/fcm/send/abc?x=1").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.target.as_str()),
            (true, "fcm.googleapis.com", 443, "/fcm/send/abc?x=1")
        );
        assert_eq!(u.host_header(), "fcm.googleapis.com");
        let u = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (u.port, u.target.as_str(), u.host_header().as_str()),
            (8080, "/", "127.0.0.1:8080")
        );
        let u = Url::parse("http://[::1]:9/p").unwrap();
        assert_eq!(
            (u.host.as_str(), u.host_header().as_str()),
            ("::1", "[::1]:9")
        );
        for bad in [
            "ftp://x",
            "https://",
            "https://u@h/",
            "https://h:99999/",
            "https://h /",
            "http://h:x/",
        ] {
            assert!(Url::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn response_framings() {
        let whole = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
        for cut in 0..whole.len() {
            assert_eq!(
                parse_response(&whole[..cut], false, 100),
                Ok(None),
                "cut {cut}"
            );
        }
        let r = parse_response(whole, false, 100).unwrap().unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"ok"[..]));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        for cut in 0..chunked.len() {
            assert_eq!(
                parse_response(&chunked[..cut], false, 100),
                Ok(None),
                "cut {cut}"
            );
        }
        assert_eq!(
            parse_response(chunked, false, 100).unwrap().unwrap().body,
            b"abcde"
        );
        let close = b"HTTP/1.0 200 OK\r\n\r\nuntil close";
        assert_eq!(parse_response(close, false, 100), Ok(None));
        assert_eq!(
            parse_response(close, true, 100).unwrap().unwrap().body,
            b"until close"
        );
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
                false,
                10
            ),
            Err(ClientError::TooLarge)
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true, 10),
            Err(ClientError::Truncated)
        );
        assert_eq!(
            parse_response(b"garbage\r\n\r\n", false, 10),
            Err(ClientError::Malformed)
        );
    }

    #[test]
    fn serializes() {
        let req = ClientRequest {
            method: "POST",
            url: Url::parse("http://h:81/x").unwrap(),
            headers: vec![("TTL".into(), "60".into())],
            body: b"abc".to_vec(),
        };
        assert_eq!(
            String::from_utf8(req.serialize()).unwrap(),
            "POST /x HTTP/1.1\r\nHost: h:81\r\nTTL: 60\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        );
    }
}
