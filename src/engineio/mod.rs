//! Engine.IO v4 codec: packets, polling payloads, the open packet, the endpoint's query
//! string and its HTTP error bodies.
//!
//! Covers the wire formats of the Engine.IO protocol v4 (socketio/engine.io-protocol,
//! "Protocol" and "Packet encoding") as `spec/cli-protocol.md` §4 uses them:
//!
//! ```text
//! packet     <type digit 0..6>[<text data>]          one WebSocket text frame / one segment
//!            b<standard base64>                      a binary message (polling, or text frame)
//!            <raw bytes>                             a WebSocket binary frame = binary message
//! payload    <packet> 0x1e <packet> 0x1e ...         a polling GET/POST body
//! ```
//!
//! Left out on purpose: the session state machine (handshake, heartbeat, upgrade, pending
//! polls), which lives in `crate::eio_server`; the v3 length-prefixed payloads; the WebTransport
//! length-framed stream. Everything here is sans-IO and never panics on any input.

mod handshake;
mod packet;
mod payload;

pub use handshake::{HttpErrorCode, Query, error_json, open_json, parse_query};
pub use packet::{
    Data, EioError, Packet, WsOut, decode_binary, decode_text, encode_text, encode_ws,
};
pub use payload::{SEPARATOR, decode_payload, encode_payload};
