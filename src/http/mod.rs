//! HTTP/1.1: incremental request parsing, response serialization (with gzip where the
//! request negotiated it), the router, CORS.
//!
//! Sans-IO: bytes in, [`Request`]s out; [`Response`]s in, bytes out. The reactor owns the
//! sockets and buffers; the api layer decides what each route answers.

pub mod client;
pub mod date;
pub mod encoding;
pub mod forwarded;
mod request;
mod response;

pub use encoding::Coding;
pub use request::{Head, Limits, Parsed, Request, RequestParser, declared_length};
pub use response::{Response, status_text};

/// Ways a request can be unacceptable before any route sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// Malformed request line, header or framing.
    BadRequest,
    /// Request line + headers over the limit, or too many headers.
    HeadTooLarge,
    /// `Content-Length` over the route's limit.
    BodyTooLarge,
    /// `Transfer-Encoding` on a request (chunked bodies are not accepted).
    LengthRequired,
    /// The head did not arrive in time.
    Timeout,
}

impl HttpError {
    /// The response that reports this error; the connection closes after it.
    pub fn response(self) -> Response {
        match self {
            // spec/http-general.md §1: 413 has an empty body upstream; hapid adds a JSON error.
            HttpError::BodyTooLarge => Response::error(413, "Payload too large"),
            HttpError::HeadTooLarge => Response::error(431, "Request header fields too large"),
            HttpError::LengthRequired => {
                Response::error(411, "Chunked request bodies are not supported")
            }
            HttpError::Timeout => Response::error(408, "Request timeout"),
            HttpError::BadRequest => Response::error(400, "Bad request"),
        }
        .close()
    }
}
