//! Fuzzes the incremental HTTP request parser: arbitrary bytes, fed in two parts at a cut the
//! first byte chooses, parsed until it needs more or fails. Must never panic or loop.
#![no_main]
use hapid::http::{Limits, Parsed, RequestParser};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let cut = usize::from(cut).min(rest.len());
    let mut p = RequestParser::new(Limits { max_head: 4096, max_headers: 16 });
    let mut buf = Vec::new();
    for part in [&rest[..cut], &rest[cut..]] {
        buf.extend_from_slice(part);
        loop {
            match p.parse(&buf, |_| 1024) {
                Ok(Parsed::Done { used, .. }) => {
                    assert!(used > 0 && used <= buf.len());
                    buf.drain(..used);
                }
                Ok(Parsed::NeedMore { .. }) => break,
                Err(_) => return,
            }
        }
    }
});
