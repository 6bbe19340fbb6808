//! hapid — the HAPI hub on one thread.
//!
//! Data flows down, results flow back up, nothing reaches sideways:
//!
//! ```text
//! reactor  mio Poll, connection slab, timers, signals: the only code doing IO or reading the clock
//! conn     (inside reactor/) per-connection phases: Http -> Sse | WebSocket -> Engine.IO
//! eio      eio_server: Engine.IO sessions + Socket.IO sockets, sans-IO (inputs in, outputs out)
//! codecs   http, sse, ws, engineio, socketio, auth, push: bytes <-> values, no IO, no clock
//! api      adapters: parsed request / socket event -> a call on Hub -> a reply
//! hub      the one owned state struct; methods take `now` and return effects
//! store    rusqlite: schema, migrations, typed queries, one transaction per loop turn
//! ```
#![forbid(unsafe_code)]
// No unwrap, expect or panic outside tests: bad input gets an error, never a crash.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod api;
pub mod app;
pub mod auth;
pub mod banner;
pub mod config;
pub mod eio_server;
pub mod engineio;
pub mod gzip;
pub mod http;
pub mod hub;
pub mod log;
pub mod naming;
pub mod push;
pub mod qr;
pub mod reactor;
pub mod socketio;
pub mod sse;
pub mod store;
pub mod telegram;
pub mod voice;
pub mod ws;
