//! HTTP/1.1 responses: status, headers, a body, serialized with `Content-Length` (gzipped
//! when the request negotiated it, see [`super::encoding`]).

use super::encoding::{self, Coding};

/// A response to serialize. Header names are written as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers (Content-Length and Connection are added by [`Response::write`]).
    pub headers: Vec<(&'static str, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Close the connection after sending.
    pub close: bool,
}

/// The gzip form of the last few large bodies sent: a client polling the same answer (the web
/// app refetching an unchanged session list: 39 KB, 160 us to compress) gets it without the
/// compression. The output is a function of the body alone, so this changes no answer; it
/// holds at most [`gzip_memo::ENTRIES`] bodies of at most [`gzip_memo::MAX_BODY`] bytes.
mod gzip_memo {
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Bodies remembered.
    pub const ENTRIES: usize = 4;
    /// Larger bodies are compressed each time (and smaller ones than this are cheap).
    pub const MAX_BODY: usize = 256 * 1024;
    const MIN_BODY: usize = 8 * 1024;

    /// A body and its gzip form.
    type Entry = (Rc<[u8]>, Rc<[u8]>);

    thread_local! {
        static MEMO: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    }

    /// `body` gzipped, from the memo when it was sent before.
    pub fn compress(body: &[u8]) -> Rc<[u8]> {
        let fresh = || {
            let mut z = Vec::with_capacity(body.len() / 4 + 64);
            crate::gzip::compress(body, &mut z);
            Rc::<[u8]>::from(z)
        };
        if !(MIN_BODY..=MAX_BODY).contains(&body.len()) {
            return fresh();
        }
        MEMO.with_borrow_mut(|memo| {
            if let Some(i) = memo.iter().position(|(b, _)| &b[..] == body) {
                let hit = memo.remove(i);
                let z = hit.1.clone();
                memo.insert(0, hit);
                return z;
            }
            let z = fresh();
            memo.insert(0, (Rc::from(body), z.clone()));
            memo.truncate(ENTRIES);
            z
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::io::Read;

        fn gunzip(z: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(z)
                .read_to_end(&mut out)
                .unwrap();
            out
        }

        #[test]
        fn a_repeated_body_gets_the_same_bytes_and_the_memo_stays_bounded() {
            let body = |i: u8| {
                let mut b = br#"{"sessions":["#.repeat(1000);
                b.push(i);
                b
            };
            let first = compress(&body(0));
            let again = compress(&body(0));
            assert!(Rc::ptr_eq(&first, &again), "served from the memo");
            assert_eq!(gunzip(&again), body(0));
            for i in 1..10 {
                assert_eq!(gunzip(&compress(&body(i))), body(i));
            }
            assert_eq!(MEMO.with_borrow(Vec::len), ENTRIES);
            // A body that changed by one byte is never answered from the memo.
            let mut other = body(9);
            other[5] ^= 1;
            assert_eq!(gunzip(&compress(&other)), other);
        }
    }
}

impl Response {
    /// A response with a content type and body.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: body.into(),
            close: false,
        }
    }

    /// `application/json` with a serialized value.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Response::new(status, "application/json", value.to_string())
    }

    /// The error body of spec/http-general.md §2.2: `{"error": msg}`.
    pub fn error(status: u16, msg: &str) -> Self {
        Response::json(status, &serde_json::json!({ "error": msg }))
    }

    /// `{"error": msg, "code": code}`.
    pub fn error_code(status: u16, msg: &str, code: &str) -> Self {
        Response::json(status, &serde_json::json!({ "error": msg, "code": code }))
    }

    /// The framework's plain-text 404.
    pub fn not_found() -> Self {
        Response::new(404, "text/plain; charset=UTF-8", "404 Not Found")
    }

    /// An empty response (e.g. 204).
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Marks the connection to close after this response.
    pub fn close(mut self) -> Self {
        self.close = true;
        self
    }

    /// Serializes into `out`. `head_only` (a HEAD request) keeps the length but drops the body.
    pub fn write(&self, head_only: bool, out: &mut Vec<u8>) {
        self.write_coded(head_only, Coding::Never, out);
    }

    /// Serializes into `out` in the content coding the request negotiated
    /// ([`super::encoding::negotiate`]): when the answer is [`encoding::worth`] compressing,
    /// `Vary: Accept-Encoding` is added, and with [`Coding::Gzip`] the body goes out gzipped
    /// with its compressed `Content-Length` (unless gzip would not make it smaller).
    pub fn write_coded(&self, head_only: bool, coding: Coding, out: &mut Vec<u8>) {
        use std::io::Write;
        let eligible = coding != Coding::Never && encoding::worth(self);
        let gzipped = (eligible && coding == Coding::Gzip && !head_only)
            .then(|| gzip_memo::compress(&self.body))
            .filter(|z| z.len() < self.body.len());
        let body = gzipped.as_deref().unwrap_or(&self.body);
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\n",
            self.status,
            status_text(self.status)
        );
        // One Vary field: Accept-Encoding joins an existing one (CORS's `Vary: Origin`).
        let mut vary = eligible;
        for (n, v) in &self.headers {
            if vary && n.eq_ignore_ascii_case("vary") {
                let _ = write!(out, "{n}: {v}, Accept-Encoding\r\n");
                vary = false;
            } else {
                let _ = write!(out, "{n}: {v}\r\n");
            }
        }
        if vary {
            out.extend_from_slice(b"Vary: Accept-Encoding\r\n");
        }
        if gzipped.is_some() {
            out.extend_from_slice(b"Content-Encoding: gzip\r\n");
        }
        if self.status != 204 && self.status != 304 && self.status >= 200 {
            let _ = write!(out, "Content-Length: {}\r\n", body.len());
        }
        if self.close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(body);
        }
    }
}

/// Reason phrase for the statuses hapid sends.
pub fn status_text(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        507 => "Insufficient Storage",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        308 => "Permanent Redirect",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_json_error() {
        let mut out = Vec::new();
        Response::error(401, "Invalid token")
            .close()
            .write(false, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 25\r\nConnection: close\r\n\r\n{\"error\":\"Invalid token\"}"
        );
    }

    #[test]
    fn head_keeps_length_drops_body() {
        let mut out = Vec::new();
        Response::new(200, "text/plain", "abc").write(true, &mut out);
        assert!(out.ends_with(b"Content-Length: 3\r\n\r\n"));
    }

    fn gunzip(z: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(z)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn split(out: &[u8]) -> (String, &[u8]) {
        let at = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        (String::from_utf8(out[..at].to_vec()).unwrap(), &out[at..])
    }

    #[test]
    fn gzip_when_negotiated_and_worth_it() {
        let body = format!(
            "[{}]",
            vec!["{\"id\":\"abc\",\"active\":true}"; 100].join(",")
        );
        let r = Response::new(200, "application/json", body.clone());
        let mut out = Vec::new();
        r.write_coded(false, Coding::Gzip, &mut out);
        let (head, z) = split(&out);
        assert!(head.contains("Vary: Accept-Encoding\r\n"), "{head}");
        assert!(head.contains("Content-Encoding: gzip\r\n"), "{head}");
        assert!(
            head.contains(&format!("Content-Length: {}\r\n", z.len())),
            "{head}"
        );
        assert!(z.len() < body.len() / 5);
        assert_eq!(gunzip(z), body.as_bytes());
    }

    #[test]
    fn accept_encoding_joins_an_existing_vary() {
        let r = Response::new(200, "application/json", "x".repeat(5000)).header("Vary", "Origin");
        let mut out = Vec::new();
        r.write_coded(false, Coding::Gzip, &mut out);
        let (head, _) = split(&out);
        assert!(head.contains("Vary: Origin, Accept-Encoding\r\n"), "{head}");
        assert_eq!(head.matches("Vary").count(), 1, "{head}");
    }

    #[test]
    fn identity_gets_vary_only() {
        let r = Response::new(200, "application/json", "x".repeat(5000));
        let mut out = Vec::new();
        r.write_coded(false, Coding::Identity, &mut out);
        let (head, body) = split(&out);
        assert!(head.contains("Vary: Accept-Encoding\r\n"));
        assert!(!head.contains("Content-Encoding"));
        assert_eq!(body.len(), 5000);
    }

    #[test]
    fn small_empty_and_head_answers_stay_identity() {
        let mut out = Vec::new();
        Response::error(404, "Session not found").write_coded(false, Coding::Gzip, &mut out);
        assert!(!String::from_utf8_lossy(&out).contains("Content-Encoding"));
        assert!(!String::from_utf8_lossy(&out).contains("Vary"));
        out.clear();
        Response::empty(204).write_coded(false, Coding::Gzip, &mut out);
        assert_eq!(out, b"HTTP/1.1 204 No Content\r\n\r\n");
        out.clear();
        let big = Response::new(200, "application/json", "y".repeat(4000));
        big.write_coded(true, Coding::Gzip, &mut out);
        let (head, body) = split(&out);
        assert!(!head.contains("Content-Encoding"));
        assert!(head.contains("Content-Length: 4000\r\n"));
        assert!(body.is_empty());
        out.clear();
        big.write_coded(false, Coding::Never, &mut out);
        assert!(!String::from_utf8_lossy(&out).contains("Vary"));
    }

    #[test]
    fn incompressible_body_goes_out_as_is() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..3000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut out = Vec::new();
        Response::new(200, "text/plain", noise.clone()).write_coded(false, Coding::Gzip, &mut out);
        let (head, body) = split(&out);
        assert!(head.contains("Vary: Accept-Encoding"));
        assert!(!head.contains("Content-Encoding"));
        assert_eq!(body, noise.as_slice());
    }
}
