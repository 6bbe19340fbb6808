//! Request parsing throughput of `hapid::http::RequestParser` (std only, `harness = false`).
//!
//! Two typical requests — a ~400-byte GET with browser-like headers and a POST with a 2 KiB
//! JSON body — are fed the way a connection feeds them: whole, and appended to a buffer in
//! 64-byte and 1-byte pieces with a `parse` call after each piece (the incremental path a
//! slow or fragmented client takes). Each case reports the median over many samples of
//! ns/request and MB/s (10^6 bytes of request per second).
//!
//! Run: `cargo bench --bench http_parse` (an argument filters cases by substring).

mod harness;

use hapid::http::{Head, Limits, Parsed, RequestParser};
use harness::{SAMPLES, measure};
use std::hint::black_box;

fn body_limit(_: &Head) -> usize {
    1024 * 1024
}

fn get_request() -> Vec<u8> {
    let mut r = String::from(
        "GET /api/sessions/3f2b9c1e-8d4a-4e6b-9a7c-1d2e3f4a5b6c/messages?limit=50&beforeSeq=1200 HTTP/1.1\r\n\
         Host: hapi.example.net:3006\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
         Accept: application/json\r\n\
         Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOjE0ODYyOTk4MSwibnMiOiJkZWZhdWx0In0.c2lnbmF0dXJl\r\n\
         Connection: keep-alive\r\n",
    );
    // Pad to exactly 400 bytes with one more header.
    let pad = 400usize.saturating_sub(r.len() + "X-Pad: \r\n\r\n".len());
    r.push_str(&format!("X-Pad: {}\r\n\r\n", "p".repeat(pad)));
    assert_eq!(r.len(), 400);
    r.into_bytes()
}

fn post_request() -> Vec<u8> {
    let mut text = String::new();
    while text.len() < 2000 {
        text.push_str("The quick brown fox jumps over the lazy dog. ");
    }
    let (open, close) = (
        r#"{"text":""#,
        r#"","localId":"c0ffee00-1234-4abc-8def-0123456789ab"}"#,
    );
    let body = format!("{open}{}{close}", &text[..2048 - open.len() - close.len()]);
    assert_eq!(body.len(), 2048);
    let head = format!(
        "POST /api/sessions/3f2b9c1e-8d4a-4e6b-9a7c-1d2e3f4a5b6c/messages HTTP/1.1\r\n\
         Host: hapi.example.net:3006\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
         Accept: */*\r\n\
         Content-Type: application/json\r\n\
         Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOjE0ODYyOTk4MSwibnMiOiJkZWZhdWx0In0.c2lnbmF0dXJl\r\n\
         Origin: https://hapi.example.net\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let mut r = head.into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

/// Parses `req` fed in pieces of `piece` bytes (`usize::MAX`: whole) into a reused buffer;
/// returns the bytes consumed.
fn feed(p: &mut RequestParser, buf: &mut Vec<u8>, req: &[u8], piece: usize) -> usize {
    buf.clear();
    for chunk in req.chunks(piece.min(req.len())) {
        buf.extend_from_slice(chunk);
        match p.parse(buf, body_limit) {
            Ok(Parsed::NeedMore { .. }) => {}
            Ok(Parsed::Done { used, req }) => {
                black_box(&req);
                return used;
            }
            Err(e) => panic!("benchmark request refused: {e:?}"),
        }
    }
    panic!("request incomplete after {} bytes", buf.len());
}

fn bench(name: &str, req: &[u8], piece: usize) {
    let mut p = RequestParser::new(Limits::default());
    let mut buf = Vec::with_capacity(req.len());
    assert_eq!(feed(&mut p, &mut buf, req, piece), req.len(), "{name}");
    let m = measure(|| {
        black_box(feed(&mut p, &mut buf, black_box(req), piece));
    });
    let mbps = req.len() as f64 / m.median * 1e3;
    println!(
        "{name:<22} {:>6} B {:>10.0} ns/req {mbps:>9.1} MB/s   (min {:.0}, max {:.0}; {SAMPLES}x{})",
        req.len(),
        m.median,
        m.min,
        m.max,
        m.iters
    );
}

fn main() {
    let filter = harness::filter();
    let get = get_request();
    let post = post_request();
    println!("hapid::http::RequestParser — median of {SAMPLES} samples");
    for (name, req) in [("get", &get), ("post_2k", &post)] {
        for (how, piece) in [("whole", usize::MAX), ("64B", 64), ("1B", 1)] {
            let case = format!("{name}/{how}");
            if filter.as_deref().is_none_or(|f| case.contains(f)) {
                bench(&case, req, piece);
            }
        }
    }
}
