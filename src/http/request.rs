//! Incremental HTTP/1.1 request parsing on top of `httparse`.
//!
//! The parser owns no buffer: the connection appends bytes and calls [`RequestParser::parse`]
//! again. It remembers how far it has scanned for the end of the header block, so a request
//! arriving one byte at a time costs O(n) in total, not O(n²). Limits are checked before
//! anything is buffered beyond them: header bytes and count (431), body size (413, decided per
//! route by the caller's `body_limit`), chunked bodies (411 — hapid's clients never send them).

use super::HttpError;

/// Parser limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Bytes of request line + headers, including the blank line.
    pub max_head: usize,
    /// Number of header fields.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 16 * 1024,
            max_headers: 64,
        }
    }
}

/// A request head: method, target split into path and query, headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Request method as sent (case-sensitive, per RFC 9110).
    pub method: String,
    /// The target's path, undecoded, without the query.
    pub path: String,
    /// The raw query string after `?` (empty when absent).
    pub query: String,
    /// Header fields in order; names lower-cased.
    pub headers: Vec<(String, Vec<u8>)>,
    /// HTTP/1.0 (0) or HTTP/1.1 (1).
    pub minor: u8,
}

impl Head {
    /// First value of a header (name lower-case), as UTF-8 when it is.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Every value of a header (name lower-case) in order; one that is not UTF-8 reads as "".
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| std::str::from_utf8(v).unwrap_or(""))
    }

    /// Whether the connection stays open after this request (HTTP/1.1 default, `Connection`).
    pub fn keep_alive(&self) -> bool {
        let tokens = self.header("connection").unwrap_or("");
        let has = |t: &str| tokens.split(',').any(|x| x.trim().eq_ignore_ascii_case(t));
        if self.minor == 0 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }

    /// Header pairs borrowed as `(&str, &[u8])`, the shape the WebSocket handshake takes.
    pub fn header_pairs(&self) -> Vec<(&str, &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect()
    }
}

/// A complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The head.
    pub head: Head,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

/// What one call to [`RequestParser::parse`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not a whole request yet; nothing is consumed. `expect_continue` is set once, when the
    /// head is complete, asks for `100-continue`, and the body has not arrived.
    NeedMore {
        /// Send `HTTP/1.1 100 Continue` now.
        expect_continue: bool,
    },
    /// A whole request occupying `used` bytes at the front of the buffer.
    Done {
        /// Bytes consumed.
        used: usize,
        /// The request.
        req: Request,
    },
}

/// Incremental parser state for one connection (reset after each request).
#[derive(Debug, Default)]
pub struct RequestParser {
    limits: Limits,
    scanned: usize,
    head: Option<(Head, usize, usize)>, // head, head length, content length
    continue_sent: bool,
}

impl RequestParser {
    /// A parser with the given limits.
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            ..Default::default()
        }
    }

    /// Whether the head of the current request has been parsed (its body is arriving).
    pub fn head_done(&self) -> bool {
        self.head.is_some()
    }

    /// The declared body length of the current request, once its head is parsed.
    pub fn body_length(&self) -> Option<usize> {
        self.head.as_ref().map(|(_, _, len)| *len)
    }

    /// Parses the request at the front of `buf`. `body_limit` gives the largest body the
    /// target route accepts; it is called once per request, when its head is complete and
    /// before any of its body is taken (so it may also check the head's credentials). Never
    /// panics; on error the connection answers and closes.
    pub fn parse(
        &mut self,
        buf: &[u8],
        body_limit: impl FnOnce(&Head) -> usize,
    ) -> Result<Parsed, HttpError> {
        if self.head.is_none() {
            let Some(head_len) = self.find_head_end(buf)? else {
                return Ok(Parsed::NeedMore {
                    expect_continue: false,
                });
            };
            let head = parse_head(&buf[..head_len], self.limits.max_headers)?;
            let content_length = body_length(&head)?;
            if content_length > body_limit(&head) {
                return Err(HttpError::BodyTooLarge);
            }
            self.head = Some((head, head_len, content_length));
        }
        let Some((_, head_len, content_length)) = &self.head else {
            return Ok(Parsed::NeedMore {
                expect_continue: false,
            });
        };
        let total = head_len.saturating_add(*content_length);
        if buf.len() < total {
            let wants = self
                .head
                .as_ref()
                .and_then(|(h, _, _)| h.header("expect"))
                .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
            let expect_continue = wants && !self.continue_sent;
            self.continue_sent |= expect_continue;
            return Ok(Parsed::NeedMore { expect_continue });
        }
        let (head, head_len, _) = self.head.take().ok_or(HttpError::BadRequest)?;
        let body = buf[head_len..total].to_vec();
        *self = RequestParser::new(self.limits);
        Ok(Parsed::Done {
            used: total,
            req: Request { head, body },
        })
    }

    /// Looks for CRLFCRLF in the bytes not yet scanned; returns the head length.
    fn find_head_end(&mut self, buf: &[u8]) -> Result<Option<usize>, HttpError> {
        // Tolerate stray CRLFs between pipelined requests (RFC 9112 §2.2).
        let start = self.scanned.saturating_sub(3);
        let limit = buf.len().min(self.limits.max_head);
        if let Some(pos) = buf
            .get(start..limit)
            .and_then(|w| w.windows(4).position(|w| w == b"\r\n\r\n"))
        {
            return Ok(Some(start + pos + 4));
        }
        if buf.len() >= self.limits.max_head {
            return Err(HttpError::HeadTooLarge);
        }
        self.scanned = buf.len();
        Ok(None)
    }
}

fn parse_head(bytes: &[u8], max_headers: usize) -> Result<Head, HttpError> {
    let mut storage = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut storage);
    match req.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HttpError::BadRequest),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
        Err(_) => return Err(HttpError::BadRequest),
    }
    let method = req.method.ok_or(HttpError::BadRequest)?.to_string();
    let target = req.path.ok_or(HttpError::BadRequest)?;
    let minor = req.version.ok_or(HttpError::BadRequest)?;
    // Origin-form only; an absolute-form target is turned into its path.
    let target = strip_absolute(target);
    let origin_form = target.starts_with('/') || (method == "OPTIONS" && target == "*");
    if !origin_form {
        return Err(HttpError::BadRequest);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let headers = req
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();
    Ok(Head {
        method,
        path,
        query,
        headers,
        minor,
    })
}

fn strip_absolute(target: &str) -> &str {
    for scheme in ["http://", "https://"] {
        if let Some(rest) = target.strip_prefix(scheme) {
            return rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    target
}

/// The body length a parsed head declares, as the parser reads it (RFC 9112 §6.3): 0 without
/// `Content-Length`, `None` when the framing is refused (chunked, conflicting or malformed
/// lengths).
pub fn declared_length(head: &Head) -> Option<usize> {
    body_length(head).ok()
}

fn body_length(head: &Head) -> Result<usize, HttpError> {
    if head.headers.iter().any(|(n, _)| n == "transfer-encoding") {
        return Err(HttpError::LengthRequired);
    }
    let mut lengths = head.headers.iter().filter(|(n, _)| n == "content-length");
    let Some((_, first)) = lengths.next() else {
        return Ok(0);
    };
    // Several Content-Length fields must agree (RFC 9112 §6.3), else the framing is ambiguous.
    if lengths.any(|(_, v)| v != first) {
        return Err(HttpError::BadRequest);
    }
    let text = std::str::from_utf8(first)
        .map_err(|_| HttpError::BadRequest)?
        .trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 15 {
        return Err(HttpError::BadRequest);
    }
    text.parse::<usize>().map_err(|_| HttpError::BadRequest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(_: &Head) -> usize {
        1024
    }

    /// Feeds `bytes` progressively (cut at `cut`), collecting requests or the first error.
    fn run(bytes: &[u8], cut: usize) -> Result<Vec<Request>, HttpError> {
        let mut p = RequestParser::new(Limits::default());
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for part in [&bytes[..cut], &bytes[cut..]] {
            buf.extend_from_slice(part);
            loop {
                match p.parse(&buf, limit)? {
                    Parsed::NeedMore { .. } => break,
                    Parsed::Done { used, req } => {
                        buf.drain(..used);
                        out.push(req);
                    }
                }
            }
        }
        Ok(out)
    }

    macro_rules! http_case {
        ($name:ident, $bytes:expr, |$r:ident| $check:expr) => {
            #[test]
            fn $name() {
                let b: &[u8] = $bytes;
                for cut in 0..=b.len() {
                    let got = run(b, cut);
                    let shown = format!("{got:?}");
                    let $r = got;
                    assert!($check, "cut at {cut}: {shown}");
                }
            }
        };
    }

    http_case!(
        simple_get,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        |r| {
            let r = r.unwrap();
            r.len() == 1 && r[0].head.path == "/health" && r[0].head.keep_alive()
        }
    );

    http_case!(
        query_split,
        b"GET /api/events?token=a%20b&all=true HTTP/1.1\r\n\r\n",
        |r| {
            let r = r.unwrap();
            r[0].head.path == "/api/events" && r[0].head.query == "token=a%20b&all=true"
        }
    );

    http_case!(
        post_body,
        b"POST /api/auth HTTP/1.1\r\nContent-Length: 5\r\nContent-Type: application/json\r\n\r\nhello",
        |r| r.unwrap()[0].body == b"hello"
    );

    http_case!(
        pipelined,
        b"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nxyGET /c HTTP/1.1\r\nConnection: close\r\n\r\n",
        |r| {
            let r = r.unwrap();
            r.iter().map(|q| q.head.path.as_str()).collect::<Vec<_>>() == ["/a", "/b", "/c"]
                && r[1].body == b"xy"
                && !r[2].head.keep_alive()
        }
    );

    http_case!(http10_default_close, b"GET / HTTP/1.0\r\n\r\n", |r| !r
        .unwrap()[0]
        .head
        .keep_alive());

    http_case!(
        too_large_body,
        b"POST /x HTTP/1.1\r\nContent-Length: 2048\r\n\r\n",
        |r| r == Err(HttpError::BodyTooLarge)
    );

    http_case!(
        chunked_refused,
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        |r| r == Err(HttpError::LengthRequired)
    );

    http_case!(
        conflicting_lengths,
        b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        |r| r == Err(HttpError::BadRequest)
    );

    http_case!(
        signed_length,
        b"POST /x HTTP/1.1\r\nContent-Length: +1\r\n\r\na",
        |r| r == Err(HttpError::BadRequest)
    );

    http_case!(garbage, b"\x00\x01\x02 / HTTP/1.1\r\n\r\n", |r| r
        == Err(HttpError::BadRequest));

    http_case!(
        absolute_form,
        b"GET http://h:1/x?y=1 HTTP/1.1\r\n\r\n",
        |r| {
            let r = r.unwrap();
            r[0].head.path == "/x" && r[0].head.query == "y=1"
        }
    );

    #[test]
    fn head_too_large() {
        let mut p = RequestParser::new(Limits {
            max_head: 64,
            max_headers: 8,
        });
        let mut req = b"GET / HTTP/1.1\r\n".to_vec();
        req.extend(std::iter::repeat_n(b'a', 100));
        assert_eq!(p.parse(&req, limit), Err(HttpError::HeadTooLarge));
    }

    #[test]
    fn too_many_headers() {
        let mut p = RequestParser::new(Limits {
            max_head: 4096,
            max_headers: 2,
        });
        let req = b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n";
        assert_eq!(p.parse(req, limit), Err(HttpError::HeadTooLarge));
    }

    #[test]
    fn expect_continue_once() {
        let mut p = RequestParser::new(Limits::default());
        let req = b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(
            p.parse(req, limit),
            Ok(Parsed::NeedMore {
                expect_continue: true
            })
        );
        assert_eq!(
            p.parse(req, limit),
            Ok(Parsed::NeedMore {
                expect_continue: false
            })
        );
    }
}
