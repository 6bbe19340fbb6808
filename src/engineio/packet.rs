//! One Engine.IO v4 packet: text form, WebSocket binary frames, and the outbound frame kind.
//!
//! engine.io-protocol "Packet encoding": a packet is a type digit (`0` open, `1` close,
//! `2` ping, `3` pong, `4` message, `5` upgrade, `6` noop) followed by optional UTF-8 data;
//! a binary message is `b` + base64 in text form, or the raw bytes of a WebSocket binary
//! frame (v4 sends no type byte there). Decoding follows the reference `decodePacket`:
//! an empty string or an unknown type is an error, data after `1`, `5` and `6` is ignored.

use std::fmt;

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard base64, padded on output; padding optional on input, because the reference
/// server decodes with Node's lenient `Buffer.from(s, "base64")`.
const B64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The data of a message packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// A UTF-8 message (`4<text>`).
    Text(String),
    /// A binary message (a WebSocket binary frame, or `b<base64>` on polling).
    Binary(Vec<u8>),
}

/// An Engine.IO v4 packet. Open, ping and pong keep their (possibly empty) text data,
/// e.g. `Ping("probe")` during an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0<json>`: the handshake, sent by the server.
    Open(String),
    /// `1`: close the transport/session.
    Close,
    /// `2[data]`: heartbeat (server to client) or the upgrade probe `2probe` (client).
    Ping(String),
    /// `3[data]`: heartbeat answer, or `3probe`.
    Pong(String),
    /// `4<text>` or binary: application data.
    Message(Data),
    /// `5`: the client completes an upgrade.
    Upgrade,
    /// `6`: ends a pending poll during an upgrade.
    Noop,
}

/// Why a packet or payload was rejected. Every variant means "peer sent garbage": the
/// reference server closes the session on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioError {
    /// An empty packet (empty frame, empty body, or an empty segment between separators).
    Empty,
    /// The first byte is not a type digit `0`..`6` nor `b`.
    UnknownType(u8),
    /// The data after `b` is not standard base64.
    BadBase64,
    /// A polling body holds more packets than the caller allows.
    TooManyPackets,
    /// A polling body is not UTF-8.
    BadUtf8,
}

impl fmt::Display for EioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty engine.io packet"),
            Self::UnknownType(b) => write!(f, "unknown engine.io packet type 0x{b:02x}"),
            Self::BadBase64 => f.write_str("invalid base64 in binary engine.io packet"),
            Self::TooManyPackets => f.write_str("too many packets in engine.io payload"),
            Self::BadUtf8 => f.write_str("engine.io payload is not UTF-8"),
        }
    }
}

impl std::error::Error for EioError {}

/// One text packet: a WebSocket text frame or one polling segment. "4hello" ->
/// Message(Text("hello")), "2probe" -> Ping("probe"), "b<base64>" -> Message(Binary(..))
/// (polling form). Data after `1`, `5` or `6` is accepted and dropped, as the reference
/// parser does. Uses the whole input; never panics.
pub fn decode_text(s: &str) -> Result<Packet, EioError> {
    let Some(&kind) = s.as_bytes().first() else {
        return Err(EioError::Empty);
    };
    // `kind` is ASCII in every accepted branch, so index 1 is a char boundary there.
    let data = || s.get(1..).unwrap_or_default().to_owned();
    Ok(match kind {
        b'0' => Packet::Open(data()),
        b'1' => Packet::Close,
        b'2' => Packet::Ping(data()),
        b'3' => Packet::Pong(data()),
        b'4' => Packet::Message(Data::Text(data())),
        b'5' => Packet::Upgrade,
        b'6' => Packet::Noop,
        b'b' => {
            let bytes = B64
                .decode(s.get(1..).unwrap_or_default())
                .map_err(|_| EioError::BadBase64)?;
            Packet::Message(Data::Binary(bytes))
        }
        other => return Err(EioError::UnknownType(other)),
    })
}

/// A WebSocket binary frame is always a binary message (no type byte in v4).
pub fn decode_binary(b: &[u8]) -> Packet {
    Packet::Message(Data::Binary(b.to_vec()))
}

/// Text form of a packet; a binary Message becomes "b" + standard base64 (the polling
/// form).
pub fn encode_text(p: &Packet) -> String {
    let (digit, data) = match p {
        Packet::Open(d) => ('0', d.as_str()),
        Packet::Close => ('1', ""),
        Packet::Ping(d) => ('2', d.as_str()),
        Packet::Pong(d) => ('3', d.as_str()),
        Packet::Message(Data::Text(d)) => ('4', d.as_str()),
        Packet::Message(Data::Binary(b)) => {
            let mut out =
                String::with_capacity(b.len().div_ceil(3).saturating_mul(4).saturating_add(1));
            out.push('b');
            B64.encode_string(b, &mut out);
            return out;
        }
        Packet::Upgrade => ('5', ""),
        Packet::Noop => ('6', ""),
    };
    let mut out = String::with_capacity(data.len().saturating_add(1));
    out.push(digit);
    out.push_str(data);
    out
}

/// How a packet goes out on a websocket: Text(String) frame, or Binary(Vec<u8>) frame for
/// binary messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsOut {
    /// Send as one WebSocket text message.
    Text(String),
    /// Send as one WebSocket binary message (the bytes as they are, no type byte).
    Binary(Vec<u8>),
}

/// The WebSocket form of a packet: binary messages go raw in a binary frame, everything
/// else is its text form in a text frame.
pub fn encode_ws(p: &Packet) -> WsOut {
    match p {
        Packet::Message(Data::Binary(b)) => WsOut::Binary(b.clone()),
        other => WsOut::Text(encode_text(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Packet {
        Packet::Message(Data::Text(s.to_owned()))
    }
    fn bin(b: &[u8]) -> Packet {
        Packet::Message(Data::Binary(b.to_vec()))
    }

    /// Known answers, both directions: every example of engine.io-protocol and of the
    /// reference parser tests, plus the captures in spec/cli-protocol.md §4.
    #[test]
    fn known_answers_round_trip() {
        let open = r#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let cases: Vec<(String, Packet)> = vec![
            (format!("0{open}"), Packet::Open(open.to_owned())),
            ("0".into(), Packet::Open(String::new())),
            ("1".into(), Packet::Close),
            ("2".into(), Packet::Ping(String::new())),
            ("3".into(), Packet::Pong(String::new())),
            ("2probe".into(), Packet::Ping("probe".into())),
            ("3probe".into(), Packet::Pong("probe".into())),
            ("4hello".into(), text("hello")),
            ("4test".into(), text("test")),
            ("4".into(), text("")),
            ("41€".into(), text("1€")),
            (
                "40/cli,{\"token\":\"x\"}".into(),
                text("0/cli,{\"token\":\"x\"}"),
            ),
            ("5".into(), Packet::Upgrade),
            ("6".into(), Packet::Noop),
            ("bAQIDBA==".into(), bin(&[1, 2, 3, 4])),
            ("b".into(), bin(&[])),
        ];
        for (wire, packet) in &cases {
            assert_eq!(decode_text(wire).as_ref(), Ok(packet), "decode {wire:?}");
            assert_eq!(&encode_text(packet), wire, "encode {packet:?}");
        }
    }

    #[test]
    fn lenient_forms() {
        // Unpadded base64 (Node's decoder accepts it); data after 1/5/6 dropped.
        assert_eq!(decode_text("bAQIDBA"), Ok(bin(&[1, 2, 3, 4])));
        assert_eq!(decode_text("1bye"), Ok(Packet::Close));
        assert_eq!(decode_text("5probe"), Ok(Packet::Upgrade));
        assert_eq!(decode_text("6x"), Ok(Packet::Noop));
    }

    #[test]
    fn invalid_packets() {
        let cases: &[(&str, EioError)] = &[
            ("", EioError::Empty),
            // engine.io-protocol test suite: "closes the session upon invalid packet format"
            ("abc", EioError::UnknownType(b'a')),
            // engine.io-parser tests: "should fail to decode a malformed packet"
            ("a123", EioError::UnknownType(b'a')),
            ("{", EioError::UnknownType(b'{')),
            ("{}", EioError::UnknownType(b'{')),
            ("[\"a123\", \"a456\"]", EioError::UnknownType(b'[')),
            ("7", EioError::UnknownType(b'7')),
            ("9", EioError::UnknownType(b'9')),
            (" 4", EioError::UnknownType(b' ')),
            ("€", EioError::UnknownType(0xe2)),
            ("b!!!!", EioError::BadBase64),
            ("bA", EioError::BadBase64),
            ("bAQIDBA===", EioError::BadBase64),
        ];
        for (wire, err) in cases {
            assert_eq!(decode_text(wire).as_ref(), Err(err), "decode {wire:?}");
        }
    }

    #[test]
    fn websocket_frames() {
        // engine.io-protocol test suite: "sends and receives a binary packet"
        assert_eq!(decode_binary(&[1, 2, 3, 4]), bin(&[1, 2, 3, 4]));
        assert_eq!(decode_binary(&[]), bin(&[]));
        assert_eq!(
            encode_ws(&bin(&[1, 2, 3, 4])),
            WsOut::Binary(vec![1, 2, 3, 4])
        );
        assert_eq!(encode_ws(&text("hello")), WsOut::Text("4hello".into()));
        assert_eq!(
            encode_ws(&Packet::Ping(String::new())),
            WsOut::Text("2".into())
        );
        assert_eq!(
            encode_ws(&Packet::Pong("probe".into())),
            WsOut::Text("3probe".into())
        );
    }

    /// STYLE §9: a packet is decoded whole; for every cut the two halves (each a valid
    /// &str or not) must decode without panicking, and a prefix that keeps the type
    /// digit decodes to the same kind of packet.
    #[test]
    fn every_cut_is_safe() {
        for wire in [
            "4hello",
            "2probe",
            "bAQIDBA==",
            "41€x",
            "0{\"sid\":\"a\"}",
            "6",
        ] {
            let whole = decode_text(wire);
            assert!(whole.is_ok(), "{wire:?}");
            for cut in 0..=wire.len() {
                let (Some(a), Some(b)) = (wire.get(..cut), wire.get(cut..)) else {
                    continue; // inside a UTF-8 sequence: not a &str cut
                };
                let _ = decode_text(a);
                let _ = decode_text(b);
                if cut >= 1 && !wire.starts_with('b') {
                    let (Ok(p), Ok(w)) = (decode_text(a), &whole) else {
                        panic!("prefix {a:?} of {wire:?}")
                    };
                    assert_eq!(std::mem::discriminant(&p), std::mem::discriminant(w));
                }
            }
        }
    }

    #[test]
    fn binary_round_trip_all_lengths() {
        for n in 0..64u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            let p = bin(&bytes);
            assert_eq!(decode_text(&encode_text(&p)), Ok(p.clone()), "len {n}");
        }
    }
}
