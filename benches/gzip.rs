//! Compression on hapid's own payloads (issue 19): ratio and CPU per byte of the gzip encoder
//! (`hapid::gzip`) beside zlib's default level (flate2 over miniz_oxide, a dev-dependency).
//!
//! * `sessions`: the `GET /api/sessions` body for 50 sessions (the fixture of
//!   benches/fixtures, shared with benches/session_list.rs);
//! * `events`: 100 SSE `message-received` frames of ~1.2 KB (an agent's assistant message),
//!   compressed as one stream with a sync flush after each frame, as the reactor sends them,
//!   and, for contrast, each frame as its own gzip member.
//!
//! Each case reports output bytes, the ratio (input / output) and the median ns per input byte.
//! The state a stream keeps is printed too: `GzipEncoder::SIZE` for hapid; zlib's level-6
//! compressor is ~256 KiB + (window 2 x 32 KiB, hash chains 2 x 64 KiB, 64 KiB symbol buffer).
//!
//! Run: `cargo bench --bench gzip` (an argument filters cases by substring).

use flate2::Compression;
use flate2::write::GzEncoder;
use hapid::gzip::GzipEncoder;
use hapid::hub::{Hub, HubSettings, Now};
use hapid::store::Store;
use serde_json::json;
use std::hint::black_box;
use std::io::Write;

mod fixtures;
mod harness;
use fixtures::session;
use harness::{SAMPLES, measure};

/// Sessions in the list.
const SESSIONS: usize = 50;
/// Events in the stream.
const EVENTS: usize = 100;

/// The body of `GET /api/sessions` for [`SESSIONS`] sessions.
fn sessions_body() -> (Vec<u8>, std::path::PathBuf) {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("OS RNG");
    let dir = std::env::temp_dir().join(format!("hapid-bench-gz-{:x}", u64::from_le_bytes(b)));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = Store::open(&dir.join("hapi.db")).expect("store");
    let mut hub = Hub::new(HubSettings::for_tests(), store, Now::read()).expect("hub");
    for i in 0..SESSIONS {
        let s = session(i);
        hub.sessions.insert(s.id.clone(), s);
    }
    (
        hub.session_summaries("default", None, false, Now::read()),
        dir,
    )
}

/// [`EVENTS`] SSE frames as the hub sends them for agent messages: prose of varying words,
/// ids, a sequence number, timestamps, usage counters.
fn message_events() -> Vec<Vec<u8>> {
    let words = [
        "the",
        "parser",
        "now",
        "splits",
        "request",
        "head",
        "and",
        "body",
        "into",
        "two",
        "stages",
        "so",
        "a",
        "slow",
        "client",
        "cannot",
        "hold",
        "buffer",
        "I",
        "ran",
        "cargo",
        "test",
        "all",
        "green",
        "next",
        "fuzz",
        "target",
        "for",
        "chunked",
        "framing",
        "limits",
        "are",
        "checked",
        "before",
        "allocating",
        "which",
        "keeps",
        "memory",
        "bounded",
        "under",
        "load",
        "let",
        "me",
        "look",
        "at",
        "error",
        "path",
        "in",
        "src/http/request.rs",
        "line",
    ];
    let mut x = 0x243f_6a88_85a3_08d3u64;
    let mut rnd = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let sid = "3f2b9c1e-8d4a-4e6b-9a7c-00000000002a";
    (0..EVENTS)
        .map(|i| {
            let mut text = String::new();
            while text.len() < 700 {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(words[rnd(words.len())]);
                if rnd(9) == 0 {
                    text.push('.');
                }
            }
            let ev = json!({
                "type": "message-received",
                "sessionId": sid,
                "message": {
                    "id": format!("b1c2d3e4-{:04x}-4f00-8a00-{:012x}", i, rnd(1 << 40)),
                    "seq": 1000 + i,
                    "localId": null,
                    "createdAt": 1_760_000_000_000u64 + 1500 * i as u64 + rnd(1000) as u64,
                    "content": {
                        "role": "agent",
                        "content": {"type": "output", "data": {
                            "type": "assistant",
                            "uuid": format!("7d9e{:04x}-1c2b-4a3d-9e8f-{:012x}", i, rnd(1 << 40)),
                            "parentUuid": format!("7d9e{:04x}-1c2b-4a3d-9e8f-{:012x}", i.saturating_sub(1), rnd(1 << 40)),
                            "sessionId": "b7e1c2d3-0000-4000-8000-00000000002a",
                            "message": {
                                "id": format!("msg_01{:022x}", rnd(1 << 48)),
                                "model": "claude-opus-4-1-20250805",
                                "role": "assistant",
                                "content": [{"type": "text", "text": text}],
                                "stop_reason": null,
                                "usage": {"input_tokens": 4 + rnd(20), "output_tokens": 100 + rnd(400),
                                          "cache_read_input_tokens": 20_000 + rnd(30_000),
                                          "cache_creation_input_tokens": rnd(2000)}
                            }
                        }},
                        "meta": {"sentFrom": "cli"}
                    }
                }
            });
            format!("id: {}\ndata: {}\n\n", 5000 + i, ev).into_bytes()
        })
        .collect()
}

fn ours_whole(data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    hapid::gzip::compress(data, out);
}

fn zlib_whole(data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut z = GzEncoder::new(std::mem::take(out), Compression::default());
    z.write_all(data).expect("in memory");
    *out = z.finish().expect("in memory");
}

fn ours_stream(events: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    let mut e = GzipEncoder::boxed();
    for ev in events {
        let _ = e.write(ev, out);
        let _ = e.sync_flush(out);
    }
}

fn zlib_stream(events: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    let mut z = GzEncoder::new(std::mem::take(out), Compression::default());
    for ev in events {
        z.write_all(ev).expect("in memory");
        z.flush().expect("in memory"); // Z_SYNC_FLUSH
    }
    *out = z.finish().expect("in memory");
}

fn ours_each(events: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    for ev in events {
        hapid::gzip::compress(ev, out);
    }
}

fn report(name: &str, input: usize, out: &mut Vec<u8>, mut f: impl FnMut(&mut Vec<u8>)) {
    f(out);
    let len = out.len();
    let m = measure(|| {
        f(out);
        black_box(out.len());
    });
    println!(
        "{name:<26} {input:>7} B -> {len:>6} B  ratio {:>5.2}  {:>6.2} ns/B  {:>9.0} ns/run  (min {:.0}, max {:.0}; {SAMPLES}x{})",
        input as f64 / len as f64,
        m.median / input as f64,
        m.median,
        m.min,
        m.max,
        m.iters
    );
}

fn main() {
    let filter = harness::filter();
    let want = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let (body, dir) = sessions_body();
    let events = message_events();
    let ev_bytes: usize = events.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(1 << 17);
    println!(
        "gzip — hapid's encoder (state {} B per stream) vs zlib level 6 (flate2/miniz_oxide); median of {SAMPLES} samples",
        GzipEncoder::SIZE
    );
    println!(
        "GET /api/sessions: {} B for {SESSIONS} sessions; SSE: {EVENTS} message-received frames, {:.0} B each",
        body.len(),
        ev_bytes as f64 / EVENTS as f64
    );
    // Check the round trips once, with an independent decoder.
    let gunzip = |z: &[u8]| {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(z), &mut v)
            .expect("valid gzip");
        v
    };
    ours_whole(&body, &mut out);
    assert_eq!(gunzip(&out), body);
    if want("sessions") {
        report("sessions hapid", body.len(), &mut out, |o| {
            ours_whole(&body, o)
        });
        report("sessions zlib-6", body.len(), &mut out, |o| {
            zlib_whole(&body, o)
        });
    }
    if want("events") {
        report("events stream hapid", ev_bytes, &mut out, |o| {
            ours_stream(&events, o)
        });
        report("events stream zlib-6", ev_bytes, &mut out, |o| {
            zlib_stream(&events, o)
        });
        report("events one member each", ev_bytes, &mut out, |o| {
            ours_each(&events, o)
        });
    }
    drop(body);
    let _ = std::fs::remove_dir_all(&dir);
}
