//! Engine.IO v4 polling payloads: the bodies of polling GET responses and POST requests.
//!
//! engine.io-protocol "Packet encoding / HTTP long-polling": packets in text form joined by
//! the record separator 0x1e; binary messages are `b` + base64. The reference
//! `decodePayload` splits on 0x1e and stops at the first bad segment, which closes the
//! session; here the whole body is rejected instead (the session closes either way).
//! An empty body, an empty segment and a trailing separator are all bad segments.

use super::packet::{EioError, Packet, decode_text, encode_text};

/// The record separator between packets of a polling payload.
pub const SEPARATOR: u8 = 0x1e;

/// Polling POST body: packets separated by 0x1e; at most `max_packets` else
/// TooManyPackets; body must be UTF-8. The packet count is checked before anything is
/// allocated; the caller bounds the body length (maxPayload, 413) before calling.
pub fn decode_payload(body: &[u8], max_packets: usize) -> Result<Vec<Packet>, EioError> {
    // Counting separators cannot overflow: there are fewer than body.len() + 1 segments.
    let segments = body
        .iter()
        .filter(|&&b| b == SEPARATOR)
        .count()
        .saturating_add(1);
    if segments > max_packets {
        return Err(EioError::TooManyPackets);
    }
    let text = std::str::from_utf8(body).map_err(|_| EioError::BadUtf8)?;
    let mut packets = Vec::with_capacity(segments);
    for segment in text.split(char::from(SEPARATOR)) {
        packets.push(decode_text(segment)?);
    }
    Ok(packets)
}

/// Polling GET body: packets in text form joined by 0x1e (binary messages as base64).
pub fn encode_payload(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        out.extend_from_slice(encode_text(p).as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::packet::Data;
    use super::*;

    fn text(s: &str) -> Packet {
        Packet::Message(Data::Text(s.to_owned()))
    }
    fn bin(b: &[u8]) -> Packet {
        Packet::Message(Data::Binary(b.to_vec()))
    }

    /// Decodes `body` whole, and for every cut at a separator checks that the two halves
    /// decode to the two halves of the packet list (STYLE §9: whole and split); every
    /// other cut must not panic.
    fn decode_checked(body: &[u8]) -> Result<Vec<Packet>, EioError> {
        let whole = decode_payload(body, usize::MAX);
        for cut in 0..=body.len() {
            let (a, b) = body.split_at(cut);
            let left = decode_payload(a, usize::MAX);
            let _ = decode_payload(b, usize::MAX);
            if let (Some((&SEPARATOR, rest)), Ok(w)) = (b.split_first(), &whole) {
                let mut joined = left.unwrap_or_else(|e| panic!("{a:?}: {e:?}"));
                joined.extend(
                    decode_payload(rest, usize::MAX).unwrap_or_else(|e| panic!("{rest:?}: {e:?}")),
                );
                assert_eq!(&joined, w, "split at {cut}");
            }
        }
        whole
    }

    #[test]
    fn known_answers_round_trip() {
        let open = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}"#;
        let cases: Vec<(&[u8], Vec<Packet>)> = vec![
            // engine.io-protocol "Packet encoding"
            (
                b"4hello\x1e2\x1e4world",
                vec![text("hello"), Packet::Ping(String::new()), text("world")],
            ),
            (
                b"4hello\x1ebAQIDBA==",
                vec![text("hello"), bin(&[1, 2, 3, 4])],
            ),
            // engine.io-protocol test suite
            (b"4hello", vec![text("hello")]),
            (
                b"4test1\x1e4test2\x1e4test3",
                vec![text("test1"), text("test2"), text("test3")],
            ),
            (b"1", vec![Packet::Close]),
            (b"2", vec![Packet::Ping(String::new())]),
            (b"3", vec![Packet::Pong(String::new())]),
            (b"6", vec![Packet::Noop]),
            // engine.io-parser tests
            (
                b"0\x1e1\x1e2probe\x1e3probe\x1e4test",
                vec![
                    Packet::Open(String::new()),
                    Packet::Close,
                    Packet::Ping("probe".into()),
                    Packet::Pong("probe".into()),
                    text("test"),
                ],
            ),
            (
                b"4test\x1ebAQIDBA==",
                vec![text("test"), bin(&[1, 2, 3, 4])],
            ),
            // socket.io-protocol "Sample session"
            (open.as_bytes(), vec![Packet::Open(open[1..].to_owned())]),
            (b"40", vec![text("0")]),
            (
                b"40{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}",
                vec![text("0{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}")],
            ),
            (b"42[\"hey\",\"Jude\"]", vec![text("2[\"hey\",\"Jude\"]")]),
            (
                b"42[\"hello\"]\x1e42[\"world\"]",
                vec![text("2[\"hello\"]"), text("2[\"world\"]")],
            ),
            // spec/cli-protocol.md §4.5
            (
                b"40/terminal,{\"sid\":\"nuowFsq0nKr9UHq8AAAN\"}",
                vec![text("0/terminal,{\"sid\":\"nuowFsq0nKr9UHq8AAAN\"}")],
            ),
            ("4€\x1e4é".as_bytes(), vec![text("€"), text("é")]),
        ];
        for (body, packets) in &cases {
            assert_eq!(
                decode_checked(body).as_ref(),
                Ok(packets),
                "decode {body:?}"
            );
            assert_eq!(&encode_payload(packets), body, "encode {packets:?}");
        }
    }

    #[test]
    fn invalid_payloads() {
        let cases: &[(&[u8], EioError)] = &[
            (b"", EioError::Empty),
            (b"\x1e", EioError::Empty),
            (b"4a\x1e", EioError::Empty),
            (b"\x1e4a", EioError::Empty),
            (b"4a\x1e\x1e4b", EioError::Empty),
            // engine.io-protocol test suite: "closes the session upon invalid packet format"
            (b"abc", EioError::UnknownType(b'a')),
            // engine.io-parser tests: "should fail to decode a malformed payload"
            (b"{", EioError::UnknownType(b'{')),
            (b"{}", EioError::UnknownType(b'{')),
            (b"[\"a123\", \"a456\"]", EioError::UnknownType(b'[')),
            (b"4ok\x1ebA", EioError::BadBase64),
            (b"4ok\x1e9", EioError::UnknownType(b'9')),
            (b"4\xff", EioError::BadUtf8),
            (b"4\xe2\x82", EioError::BadUtf8),
        ];
        for (body, err) in cases {
            assert_eq!(decode_checked(body).as_ref(), Err(err), "decode {body:?}");
        }
    }

    #[test]
    fn packet_limit() {
        let body = b"4a\x1e4b\x1e4c";
        assert_eq!(decode_payload(body, 3).map(|v| v.len()), Ok(3));
        assert_eq!(decode_payload(body, 2), Err(EioError::TooManyPackets));
        assert_eq!(decode_payload(b"4a", 0), Err(EioError::TooManyPackets));
        // The limit is checked before UTF-8 and before any packet is decoded.
        assert_eq!(
            decode_payload(b"\xff\x1e\xff", 1),
            Err(EioError::TooManyPackets)
        );
    }

    #[test]
    fn encode_empty_list() {
        assert_eq!(encode_payload(&[]), b"");
    }
}
