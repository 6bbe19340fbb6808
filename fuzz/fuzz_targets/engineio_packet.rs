//! Fuzzes the Engine.IO v4 single-packet decoders (`hapid::engineio::decode_text` on the
//! input as lossy UTF-8, `decode_binary` on the raw bytes): no panic, and whatever
//! decodes must read back identically from its encoded form.
#![no_main]

use hapid::engineio::{WsOut, decode_binary, decode_text, encode_text, encode_ws};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = decode_text(&text) {
        assert_eq!(decode_text(&encode_text(&p)), Ok(p.clone()));
        let _ = encode_ws(&p);
    }
    let p = decode_binary(data);
    assert_eq!(encode_ws(&p), WsOut::Binary(data.to_vec()));
});
