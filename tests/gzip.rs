//! `Content-Encoding: gzip` against the real binary (issue 19): `/api` answers above the
//! threshold when the request asks for gzip, identity (with `Vary`) otherwise, and an
//! `/api/events` stream whose every chunk decodes on arrival to whole SSE frames.
//! Decoding is flate2's (a dev-dependency), not hapid's.

mod common;

use common::{Hub, TEST_TOKEN, request_bytes};
use flate2::{Decompress, FlushDecompress};
use serde_json::{Value, json};
use std::io::Read;

fn create_session(hub: &Hub, i: usize) {
    let r = hub.post_json(
        "/cli/sessions",
        Some(TEST_TOKEN),
        &json!({ "tag": format!("gz-{i}"), "metadata": {
            "path": format!("/home/dev/src/project-{i}"), "host": "gzip-test", "flavor": "claude",
            "name": format!("Compress the answers, part {i}") } }),
    );
    assert_eq!(r.status, 200, "POST /cli/sessions: {r:?}");
}

/// `Vary` names Accept-Encoding (in one field, beside CORS's Origin).
fn varies(r: &common::Resp) -> bool {
    r.header_list("vary").iter().any(|t| t == "Accept-Encoding")
}

fn gunzip(z: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(z)
        .read_to_end(&mut out)
        .expect("a valid gzip body");
    out
}

#[test]
fn api_answers_are_gzipped_when_asked_and_large_enough() {
    let hub = Hub::start(&[]);
    let jwt = hub.jwt("default");
    let auth = format!("Bearer {jwt}");
    for i in 0..20 {
        create_session(&hub, i);
    }
    let get = |ae: Option<&str>, method: &str| {
        let mut h = vec![("Authorization", auth.as_str())];
        if let Some(v) = ae {
            h.push(("Accept-Encoding", v));
        }
        hub.request(method, "/api/sessions", &h, b"")
    };

    let plain = get(None, "GET");
    assert_eq!(plain.status, 200);
    assert!(plain.body.len() > 1024, "{} bytes", plain.body.len());
    assert_eq!(plain.header("content-encoding"), None);
    assert!(varies(&plain), "{plain:?}");

    let z = get(Some("gzip, deflate, br, zstd"), "GET");
    assert_eq!(z.status, 200);
    assert_eq!(z.header("content-encoding"), Some("gzip"), "{z:?}");
    assert!(varies(&z), "{z:?}");
    assert_eq!(
        z.header("content-length"),
        Some(z.body.len().to_string().as_str())
    );
    assert!(
        z.body.len() * 4 < plain.body.len(),
        "{} bytes",
        z.body.len()
    );
    let decoded: Value = serde_json::from_slice(&gunzip(&z.body)).expect("JSON");
    assert_eq!(decoded, plain.json());

    for refused in ["gzip;q=0", "identity", "br", "*;q=0"] {
        let r = get(Some(refused), "GET");
        assert_eq!(r.header("content-encoding"), None, "{refused}");
        assert_eq!(r.body, plain.body, "{refused}");
    }
    let head = get(Some("gzip"), "HEAD");
    assert_eq!(head.header("content-encoding"), None);
    assert_eq!(
        head.header("content-length"),
        Some(plain.body.len().to_string().as_str())
    );

    // Small answers and routes outside /api stay identity.
    let small = hub.request(
        "GET",
        "/api/sessions/nope",
        &[
            ("Authorization", auth.as_str()),
            ("Accept-Encoding", "gzip"),
        ],
        b"",
    );
    assert_eq!(small.status, 404);
    assert_eq!(small.header("content-encoding"), None);
    let cli = hub.request(
        "GET",
        "/cli/sessions",
        &[
            ("Authorization", &format!("Bearer {TEST_TOKEN}")),
            ("Accept-Encoding", "gzip"),
        ],
        b"",
    );
    assert_eq!(cli.header("content-encoding"), None, "{cli:?}");
}

#[test]
fn event_stream_chunks_decode_on_arrival() {
    let hub = Hub::start(&[]);
    let jwt = hub.jwt("default");
    let mut sse = hub.conn();
    sse.send(&request_bytes(
        "GET",
        &format!("/api/events?token={jwt}&all=true"),
        &[("Accept-Encoding", "gzip")],
        b"",
        false,
    ));
    let (status, headers) = sse.read_head().expect("SSE head");
    assert_eq!(status, 200);
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(h("content-encoding"), Some("gzip"), "{headers:?}");
    assert!(
        h("vary").is_some_and(|v| v.split(',').any(|t| t.trim() == "Accept-Encoding")),
        "{headers:?}"
    );

    let mut inflate = Decompress::new(false);
    let mut header_left = 10usize;
    let mut decode = |chunk: &[u8]| -> String {
        let skip = header_left.min(chunk.len());
        header_left -= skip;
        let mut input = &chunk[skip..];
        let mut out = Vec::with_capacity(64 * 1024);
        while !input.is_empty() {
            let before = inflate.total_in();
            inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
                .expect("valid deflate");
            input = &input[(inflate.total_in() - before) as usize..];
        }
        String::from_utf8(out).expect("UTF-8 frames")
    };
    // The first frame announces the connection; every chunk is whole frames.
    let first = decode(&sse.read_chunk().unwrap().expect("a chunk"));
    assert!(first.contains("connection-changed"), "{first}");
    assert!(first.ends_with("\n\n"), "{first:?}");
    for i in 0..5 {
        create_session(&hub, i);
        let text = decode(&sse.read_chunk().unwrap().expect("a chunk"));
        assert!(
            text.starts_with("data: ") || text.starts_with("id: "),
            "{text:?}"
        );
        assert!(text.ends_with("\n\n"), "{text:?}");
        assert!(text.contains(&format!("project-{i}")), "{text}");
    }
}
