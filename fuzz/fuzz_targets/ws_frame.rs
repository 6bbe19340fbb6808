//! Fuzzes the RFC 6455 frame decoder (`hapid::ws::Decoder`): the first byte picks where
//! the rest is split; each part is appended to a buffer that is drained frame by frame
//! until NeedMore or an error. Must never panic, never report using 0 bytes (a caller
//! would loop forever) or more bytes than it was given.
#![no_main]

use hapid::ws::{Decoder, Limits, Step};

/// Decodes until NeedMore (true) or an error (false), dropping the bytes used.
fn drain(dec: &mut Decoder, buf: &mut Vec<u8>) -> bool {
    loop {
        match dec.decode(buf) {
            Ok(Step::NeedMore) => return true,
            Ok(Step::Used(n) | Step::Message { used: n, .. }) => {
                assert!(n > 0 && n <= buf.len(), "used {n} of {}", buf.len());
                buf.drain(..n);
            }
            Err(_) => return false,
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let (a, b) = rest.split_at(usize::from(cut).min(rest.len()));
    // Small limits, so that the size errors are reachable too.
    let mut dec = Decoder::new(Limits { max_frame: 4096, max_message: 16384 });
    let mut buf = a.to_vec();
    if drain(&mut dec, &mut buf) {
        buf.extend_from_slice(b);
        drain(&mut dec, &mut buf);
    }
});
