//! RFC 6455 WebSocket, server side, sans-IO: the opening handshake (§4.2) and the
//! framing layer (§5) with fragment assembly and UTF-8 validation of text (§8.1).
//!
//! Out of scope: sockets, timers (ping scheduling, close timeouts) and extensions;
//! permessage-deflate is declined by never echoing it, so RSV bits are always an error.

pub mod frame;
pub mod handshake;

pub use frame::{
    CloseFrame, Decoder, Limits, Message, OpCode, Step, WsError, encode, encode_close,
    encode_masked, unmask,
};
pub use handshake::{HandshakeError, accept_key, check_upgrade, response_101, response_400};
