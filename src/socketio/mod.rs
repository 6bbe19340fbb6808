//! Socket.IO v5 codec: the packet string carried in an Engine.IO message, binary
//! attachment collection, and the packet builders the hub uses.
//!
//! socket.io-protocol "Packet encoding" (v5, the default parser) as spec/cli-protocol.md §5
//! uses it:
//!
//! ```text
//! <type 0..6>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
//!   0 CONNECT  1 DISCONNECT  2 EVENT  3 ACK  4 CONNECT_ERROR  5 BINARY_EVENT  6 BINARY_ACK
//! 42/cli,7["name",{...}]   (with the Engine.IO "4" prefix: an event on /cli asking for ack 7)
//! ```
//!
//! Decoding and payload validation follow the reference socket.io-parser (`decodeString`,
//! `isPayloadValid`, `reconstructPacket`), slightly stricter where the reference relies on
//! JavaScript coercions (see [`decode`]). Binary attachments are collected but never
//! interpreted: placeholders stay in the JSON.
//!
//! Left out: namespace/room state, ack bookkeeping, connect timeouts (the hub and reactor
//! own those). Sans-IO; never panics on any input.

mod binary;
mod build;
mod packet;
mod placeholder;

pub use binary::BinaryCollector;
pub use build::{ack, connect_error, connect_ok, event, event_parts};
pub use packet::{Packet, PacketType, RESERVED_EVENTS, SioError, decode, encode};
