//! Round trips through an independent decoder (flate2 over miniz_oxide, a dev-dependency):
//! whole gzip members (header, CRC-32 and ISIZE checked by the decoder) and raw DEFLATE fed
//! one sync flush at a time.

use super::*;
use flate2::{Decompress, FlushDecompress, Status};
use std::io::Read;

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut d = flate2::read::GzDecoder::new(gz);
    let mut out = Vec::new();
    d.read_to_end(&mut out).expect("a valid gzip member");
    // Exactly one member, nothing after it.
    assert_eq!(d.into_inner().len(), 0, "trailing bytes after the member");
    out
}

/// Raw inflate of a gzip stream fed in pieces: what a browser decodes as chunks arrive.
struct Inflater {
    d: Decompress,
    header_left: usize,
    ended: bool,
}

impl Inflater {
    fn new() -> Self {
        Inflater {
            d: Decompress::new(false),
            header_left: HEADER.len(),
            ended: false,
        }
    }

    /// Everything `input` decodes to now.
    fn feed(&mut self, mut input: &[u8]) -> Vec<u8> {
        let skip = self.header_left.min(input.len());
        assert_eq!(
            &input[..skip],
            &HEADER[HEADER.len() - self.header_left..][..skip]
        );
        self.header_left -= skip;
        input = &input[skip..];
        let mut out = Vec::new();
        while !self.ended {
            out.reserve(64 * 1024);
            let (i0, o0) = (self.d.total_in(), self.d.total_out());
            let st = self
                .d
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
                .expect("valid deflate");
            let used = (self.d.total_in() - i0) as usize;
            let made = self.d.total_out() - o0;
            input = &input[used..];
            if st == Status::StreamEnd {
                self.ended = true;
            }
            if used == 0 && made == 0 {
                break;
            }
        }
        out
    }
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    compress(data, &mut out);
    out
}

/// A small deterministic PRNG (xorshift) so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// JSON shaped like hapid's: repeated keys, ids, timestamps, text.
fn json_like(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    let words = [
        "session",
        "message",
        "Refactor",
        "parser",
        "the",
        "tool_use",
        "Bash",
        "Read",
        "permission",
        "claude",
        "codex",
        "running",
        "project",
        "/home/dev/src",
    ];
    let mut s = String::from("{\"sessions\":[");
    let mut i = 0;
    while s.len() < n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"id\":\"3f2b9c1e-8d4a-4e6b-9a7c-{:012x}\",\"active\":{},\"updatedAt\":{},\"metadata\":{{\"path\":\"{}/{}-{}\",\"name\":\"{} {} {}\"}},\"seq\":{}}}",
            r.next() & 0xffff_ffff_ffff,
            r.below(2) == 0,
            1_760_000_000_000u64 + r.below(1_000_000) as u64,
            words[13],
            words[r.below(13)],
            i,
            words[r.below(13)],
            words[r.below(13)],
            words[r.below(13)],
            r.below(500)
        ));
        i += 1;
    }
    s.push_str("]}");
    s.into_bytes()
}

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    vec![
        ("empty", Vec::new()),
        ("one byte", b"x".to_vec()),
        ("two bytes", b"xy".to_vec()),
        ("three same", b"aaa".to_vec()),
        ("hello", b"Hello, hello, hello, world!".to_vec()),
        ("all byte values", (0..=255u8).cycle().take(3000).collect()),
        ("zeros 100k", vec![0; 100_000]),
        ("a 70k", vec![b'a'; 70_000]),
        ("random 20k", r.bytes(20_000)),
        ("random 3", r.bytes(3)),
        ("json 40k", json_like(40_000, 7)),
        ("json 1.2k", json_like(1200, 8)),
        (
            "period 7 x 5000",
            b"abcdefg".iter().cycle().take(35_000).copied().collect(),
        ),
        (
            "low entropy 30k",
            (0..30_000).map(|_| b"ab"[r.below(2)]).collect(),
        ),
    ]
}

// The bound is a compile-time fact; the test keeps it visible beside the others.
const _: () = assert!(GzipEncoder::SIZE <= 16 * 1024);

#[test]
fn state_is_at_most_16_kib() {
    let size = std::hint::black_box(GzipEncoder::SIZE);
    assert!(size <= 16 * 1024, "GzipEncoder is {size} bytes");
}

#[test]
fn whole_inputs_round_trip() {
    for (name, data) in corpus() {
        let z = gz(&data);
        assert_eq!(gunzip(&z), data, "{name}");
        assert_eq!(&z[..10], &HEADER, "{name}");
    }
}

#[test]
fn empty_stream_is_a_minimal_member() {
    let z = gz(b"");
    // header, a final fixed block holding only end-of-block (03 00), CRC 0, ISIZE 0
    assert_eq!(z.len(), 10 + 2 + 8);
    assert_eq!(&z[10..12], &[0x03, 0x00]);
    assert_eq!(gunzip(&z), b"");
}

#[test]
fn split_at_every_byte() {
    let data = json_like(2500, 3);
    for cut in 0..=data.len() {
        let mut e = GzipEncoder::new();
        let mut out = Vec::new();
        e.write(&data[..cut], &mut out).unwrap();
        e.write(&data[cut..], &mut out).unwrap();
        e.finish(&mut out).unwrap();
        assert_eq!(gunzip(&out), data, "cut at {cut}");
    }
}

#[test]
fn byte_at_a_time_across_many_window_slides() {
    for (name, data) in corpus() {
        let mut e = GzipEncoder::new();
        let mut out = Vec::new();
        for b in data.chunks(1) {
            e.write(b, &mut out).unwrap();
        }
        e.finish(&mut out).unwrap();
        assert_eq!(gunzip(&out), data, "{name}");
    }
}

#[test]
fn every_sync_flush_decodes_to_exactly_the_input_so_far() {
    for (name, data) in corpus() {
        for piece in [1usize, 7, 300, 1200, 5000] {
            let mut e = GzipEncoder::new();
            let mut inf = Inflater::new();
            let (mut all, mut decoded) = (Vec::new(), Vec::new());
            for (k, chunk) in data.chunks(piece).enumerate() {
                let mut out = Vec::new();
                e.write(chunk, &mut out).unwrap();
                e.sync_flush(&mut out).unwrap();
                assert!(
                    out.ends_with(&[0, 0, 0xff, 0xff]),
                    "{name}/{piece}: flush {k}"
                );
                decoded.extend(inf.feed(&out));
                assert_eq!(
                    decoded.len(),
                    ((k + 1) * piece).min(data.len()),
                    "{name}/{piece}: after flush {k}"
                );
                all.extend(out);
            }
            assert_eq!(decoded, data, "{name}/{piece}");
            e.finish(&mut all).unwrap();
            assert_eq!(gunzip(&all), data, "{name}/{piece}: whole member");
        }
    }
}

#[test]
fn empty_and_repeated_flushes() {
    let mut e = GzipEncoder::new();
    let mut out = Vec::new();
    e.sync_flush(&mut out).unwrap(); // before any data
    e.sync_flush(&mut out).unwrap();
    e.write(b"", &mut out).unwrap();
    e.write(b"data: {\"type\":\"heartbeat\"}\n\n", &mut out)
        .unwrap();
    for _ in 0..5 {
        e.sync_flush(&mut out).unwrap();
    }
    e.write(b"data: {\"type\":\"heartbeat\"}\n\n", &mut out)
        .unwrap();
    e.finish(&mut out).unwrap();
    assert_eq!(
        gunzip(&out),
        b"data: {\"type\":\"heartbeat\"}\n\ndata: {\"type\":\"heartbeat\"}\n\n"
    );
}

#[test]
fn calls_after_finish_are_refused_and_write_nothing() {
    let mut e = GzipEncoder::new();
    let mut out = Vec::new();
    e.write(b"abc", &mut out).unwrap();
    e.finish(&mut out).unwrap();
    let n = out.len();
    assert_eq!(e.write(b"more", &mut out), Err(Finished));
    assert_eq!(e.sync_flush(&mut out), Err(Finished));
    assert_eq!(e.finish(&mut out), Err(Finished));
    assert_eq!(out.len(), n);
    assert_eq!(gunzip(&out), b"abc");
}

#[test]
fn random_inputs_with_random_flush_points() {
    let mut r = Rng(0x0123_4567_89ab_cdef);
    for round in 0..150 {
        let n = r.below(40_000);
        let data = match round % 3 {
            0 => r.bytes(n),
            1 => json_like(n, r.next()),
            _ => (0..n).map(|_| b"abcd"[r.below(4)]).collect(),
        };
        let mut e = GzipEncoder::new();
        let mut inf = Inflater::new();
        let (mut all, mut decoded) = (Vec::new(), Vec::new());
        let mut at = 0;
        while at < data.len() {
            let step = 1 + r.below(6000);
            let end = (at + step).min(data.len());
            let mut out = Vec::new();
            e.write(&data[at..end], &mut out).unwrap();
            if r.below(3) > 0 {
                e.sync_flush(&mut out).unwrap();
                decoded.extend(inf.feed(&out));
                assert_eq!(decoded, &data[..end], "round {round}");
            } else {
                decoded.extend(inf.feed(&out));
            }
            all.extend(out);
            at = end;
        }
        e.finish(&mut all).unwrap();
        assert_eq!(gunzip(&all), data, "round {round}");
    }
}

#[test]
fn incompressible_input_grows_by_a_few_bytes_per_block() {
    let data = Rng(42).bytes(100_000);
    let z = gz(&data);
    // Stored blocks: 5 bytes per block of at least 3.8 KiB, plus header and trailer.
    assert!(
        z.len() <= data.len() + 5 * (data.len() / 3800 + 2) + 18,
        "{}",
        z.len()
    );
}

#[test]
fn repetitive_input_compresses_hard() {
    assert!(gz(&[b'a'; 100_000]).len() < 1000);
    assert!(gz(&vec![0u8; 1 << 20]).len() < 8 * 1024);
}

#[test]
fn json_is_within_reach_of_zlib_default() {
    use std::io::Write;
    let data = json_like(32_000, 11);
    let ours = gz(&data).len();
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&data).unwrap();
    let zlib = z.finish().unwrap().len();
    assert!(ours * 100 <= zlib * 125, "ours {ours} vs zlib-6 {zlib}");
}
