//! Fuzzes the Engine.IO v4 polling payload decoder (`hapid::engineio::decode_payload`):
//! no panic, the packet limit holds, and a decoded payload re-encodes to one that decodes
//! to the same packets.
#![no_main]

use hapid::engineio::{decode_payload, encode_payload};

/// Small enough that the fuzzer reaches `TooManyPackets`.
const MAX_PACKETS: usize = 16;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(packets) = decode_payload(data, MAX_PACKETS) {
        assert!(!packets.is_empty() && packets.len() <= MAX_PACKETS);
        assert_eq!(
            decode_payload(&encode_payload(&packets), MAX_PACKETS),
            Ok(packets)
        );
    }
});
