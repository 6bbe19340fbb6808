//! HTTP/1.1 responses: status, headers, a body, serialized with `Content-Length`.

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
        use std::io::Write;
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\n",
            self.status,
            status_text(self.status)
        );
        for (n, v) in &self.headers {
            let _ = write!(out, "{n}: {v}\r\n");
        }
        if self.status != 204 && self.status != 304 && self.status >= 200 {
            let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        }
        if self.close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
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
}
