//! The gzip encoder on arbitrary input with arbitrary flush points: no panic, and the output
//! decodes (flate2) to exactly the input, after every sync flush and as a whole member.
#![no_main]
use flate2::{Decompress, FlushDecompress};
use hapid::gzip::GzipEncoder;
use std::io::Read;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The first bytes choose the cuts: each cut byte c writes the next 16c+1 input bytes and
    // flushes when c is odd.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (cuts, input) = rest.split_at(n);
    let mut e = GzipEncoder::boxed();
    let mut out = Vec::new();
    let mut raw = Decompress::new(false);
    let (mut fed, mut decoded, mut at) = (10usize, Vec::new(), 0usize);
    let mut k = 0;
    while at < input.len() {
        let c = cuts.get(k % cuts.len().max(1)).copied().unwrap_or(255);
        k += 1;
        let end = (at + usize::from(c) * 16 + 1).min(input.len());
        e.write(&input[at..end], &mut out).unwrap();
        at = end;
        if c % 2 == 1 {
            e.sync_flush(&mut out).unwrap();
            while fed < out.len() {
                decoded.reserve(1 << 16);
                let before = raw.total_in();
                raw.decompress_vec(&out[fed..], &mut decoded, FlushDecompress::Sync)
                    .expect("valid deflate");
                fed += (raw.total_in() - before) as usize;
            }
            assert_eq!(decoded, &input[..at]);
        }
    }
    e.finish(&mut out).unwrap();
    let mut whole = Vec::new();
    flate2::read::GzDecoder::new(&out[..])
        .read_to_end(&mut whole)
        .expect("valid gzip");
    assert_eq!(whole, input);
});
