//! Fuzzes the Socket.IO v5 packet decoder (`hapid::socketio::decode` on the input as
//! lossy UTF-8): no panic, the attachment limit holds, and encoding a decoded packet
//! must decode again to an equal packet.
#![no_main]

use hapid::socketio::{BinaryCollector, decode, encode, event_parts};

/// socket.io-parser's default `maxAttachments`.
const MAX_ATTACHMENTS: usize = 10;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(p) = decode(&text, MAX_ATTACHMENTS) else {
        return;
    };
    let wire = encode(&p);
    assert_eq!(decode(&wire, MAX_ATTACHMENTS).as_ref(), Ok(&p), "{wire:?}");
    let _ = event_parts(&p);
    assert!(p.attachments <= MAX_ATTACHMENTS);
    let mut c = BinaryCollector::new(p);
    while !c.is_complete() {
        c.push(Vec::new());
    }
    assert_eq!(c.buffers.len(), c.packet.attachments);
});
