//! The Socket.IO v5 packet string: types, decoding with the reference validation, and
//! encoding as the reference encoder does it.
//!
//! socket.io-protocol "Packet encoding / Format":
//! `<type>[<# of binary attachments>-][<namespace>,][<acknowledgment id>][<JSON payload>]`,
//! the namespace only when it is not `/`. Validation mirrors socket.io-parser's
//! `decodeString` + `isPayloadValid` (packages/socket.io-parser/lib/index.ts).

use std::fmt::{self, Write as _};

use serde_json::Value;

use super::placeholder::check_placeholders;

/// Event names a peer may not use: they mean something to the Socket.IO libraries
/// (socket.io-parser `RESERVED_EVENTS`). `error` is not among them (spec §5).
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The Socket.IO packet types, wire digits `0`..`6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// `0`: join a namespace (client, optional auth object) / accepted (server, `{"sid"}`).
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2`: an event `[name, args...]`, optionally asking for an ack.
    Event,
    /// `3`: the answer to an event's ack id, `[args...]`.
    Ack,
    /// `4`: a namespace join was refused (`{"message"}` or a string).
    ConnectError,
    /// `5`: an event whose binary arguments follow as separate attachments.
    BinaryEvent,
    /// `6`: an ack whose binary arguments follow as separate attachments.
    BinaryAck,
}

impl PacketType {
    /// The type for a wire digit (`b'0'`..`b'6'`), if any.
    pub fn from_digit(d: u8) -> Option<Self> {
        Some(match d {
            b'0' => Self::Connect,
            b'1' => Self::Disconnect,
            b'2' => Self::Event,
            b'3' => Self::Ack,
            b'4' => Self::ConnectError,
            b'5' => Self::BinaryEvent,
            b'6' => Self::BinaryAck,
            _ => return None,
        })
    }

    /// The wire digit of this type.
    pub fn digit(self) -> char {
        match self {
            Self::Connect => '0',
            Self::Disconnect => '1',
            Self::Event => '2',
            Self::Ack => '3',
            Self::ConnectError => '4',
            Self::BinaryEvent => '5',
            Self::BinaryAck => '6',
        }
    }

    /// True for the types that carry an attachment count and are followed by attachments.
    pub fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }
}

/// A decoded Socket.IO packet. `attachments` is 0 for the non-binary types; for binary
/// types it is the number of binary frames that follow (see `BinaryCollector`).
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The packet type.
    pub kind: PacketType,
    /// The namespace, `/` when the wire form has none.
    pub nsp: String,
    /// The ack id, if any.
    pub id: Option<u64>,
    /// The JSON payload, if any (binary placeholders included as they are).
    pub data: Option<Value>,
    /// The announced number of binary attachments (binary types only).
    pub attachments: usize,
}

/// Why a Socket.IO packet string was rejected; the reference server closes the whole
/// Engine.IO connection on any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SioError {
    /// The packet string is empty.
    Empty,
    /// The first character is not a type digit `0`..`6`.
    BadType,
    /// A binary type without a `<digits>-` attachment count, or a placeholder whose
    /// `num` is not an index below that count.
    BadAttachments,
    /// Not produced by [`decode`]: the reference grammar takes any text up to `,` after
    /// a leading `/` as the namespace (unknown ones get a CONNECT_ERROR from the hub,
    /// not a parse error). Kept for callers that validate namespaces themselves.
    BadNamespace,
    /// The ack id does not fit in a u64.
    BadId,
    /// The payload is not valid JSON.
    BadJson,
    /// The payload's shape is not allowed for the packet type.
    BadPayload,
    /// More attachments than the caller allows (or more than fit in a u64).
    TooManyAttachments,
}

impl fmt::Display for SioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty socket.io packet",
            Self::BadType => "unknown socket.io packet type",
            Self::BadAttachments => "illegal attachments",
            Self::BadNamespace => "invalid namespace",
            Self::BadId => "invalid ack id",
            Self::BadJson => "invalid JSON payload",
            Self::BadPayload => "invalid payload",
            Self::TooManyAttachments => "too many attachments",
        })
    }
}

impl std::error::Error for SioError {}

/// Decodes one Socket.IO packet string (the payload of an Engine.IO message).
///
/// Grammar and validation as socket.io-parser's `decodeString`/`isPayloadValid`:
/// * type digit `0`..`6`, else `BadType`;
/// * binary types: one or more ASCII digits then `-` (else `BadAttachments`), a count
///   above `max_attachments` is `TooManyAttachments`;
/// * a `/` starts the namespace, which runs to the first `,` (consumed) or the end;
///   otherwise the namespace is `/`;
/// * a run of ASCII digits is the ack id (`BadId` beyond u64);
/// * anything left is JSON (`BadJson`), whose shape must fit the type (`BadPayload`):
///   CONNECT absent or an object; DISCONNECT absent; EVENT/BINARY_EVENT a non-empty
///   array whose first element is a number or a string not in [`RESERVED_EVENTS`];
///   ACK/BINARY_ACK an array; CONNECT_ERROR an object or a string;
/// * binary types: each `{"_placeholder":true,"num":n}` needs an integer `n` below the
///   attachment count (`BadAttachments`), as `reconstructPacket` checks.
///
/// Stricter than the reference where it leans on JavaScript coercion (`Number("")` is 0,
/// `" "` is a digit) and where the protocol document says the payload is mandatory: an
/// EVENT, ACK or CONNECT_ERROR without data is `BadPayload` here. Uses the whole string;
/// never panics.
pub fn decode(s: &str, max_attachments: usize) -> Result<Packet, SioError> {
    let Some(&digit) = s.as_bytes().first() else {
        return Err(SioError::Empty);
    };
    let kind = PacketType::from_digit(digit).ok_or(SioError::BadType)?;
    // The type digit is ASCII, so index 1 is a char boundary.
    let mut rest = s.get(1..).unwrap_or_default();

    let mut attachments = 0;
    if kind.is_binary() {
        let (count, tail) = rest.split_once('-').ok_or(SioError::BadAttachments)?;
        attachments = parse_attachments(count, max_attachments)?;
        rest = tail;
    }

    let (nsp, rest) = if rest.starts_with('/') {
        rest.split_once(',').unwrap_or((rest, ""))
    } else {
        ("/", rest)
    };

    let id_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    // id_len counts ASCII bytes, so the split is on a char boundary.
    let (id_digits, json) = rest.split_at_checked(id_len).ok_or(SioError::BadId)?;
    let id = if id_digits.is_empty() {
        None
    } else {
        Some(parse_u64(id_digits).ok_or(SioError::BadId)?)
    };

    let data = if json.is_empty() {
        None
    } else {
        // serde_json bounds nesting (128 levels), so neither this nor the placeholder
        // walk below can overflow the stack.
        Some(serde_json::from_str::<Value>(json).map_err(|_| SioError::BadJson)?)
    };
    if !payload_valid(kind, data.as_ref()) {
        return Err(SioError::BadPayload);
    }
    if let (true, Some(d)) = (kind.is_binary(), &data) {
        check_placeholders(d, attachments).map_err(|_| SioError::BadAttachments)?;
    }

    Ok(Packet {
        kind,
        nsp: nsp.to_owned(),
        id,
        data,
        attachments,
    })
}

/// Encoding as the reference encoder: type digit, then "N-" for binary types, then
/// nsp+"," when nsp != "/" (and not empty), then the ack id, then JSON data (compact;
/// object keys come out sorted, as serde_json's map is ordered). `attachments` is
/// written for binary types only. For `decode` to read the result back, `nsp` must
/// start with `/` and hold no `,`.
pub fn encode(p: &Packet) -> String {
    let mut out = String::new();
    out.push(p.kind.digit());
    // Writing into a String cannot fail.
    if p.kind.is_binary() {
        let _ = write!(out, "{}-", p.attachments);
    }
    if !p.nsp.is_empty() && p.nsp != "/" {
        out.push_str(&p.nsp);
        out.push(',');
    }
    if let Some(id) = p.id {
        let _ = write!(out, "{id}");
    }
    if let Some(data) = &p.data {
        let _ = write!(out, "{data}");
    }
    out
}

/// The reference `isPayloadValid`, plus "EVENT/ACK/CONNECT_ERROR need a payload".
fn payload_valid(kind: PacketType, data: Option<&Value>) -> bool {
    match kind {
        PacketType::Connect => matches!(data, None | Some(Value::Object(_))),
        PacketType::Disconnect => data.is_none(),
        PacketType::Event | PacketType::BinaryEvent => {
            match data.and_then(Value::as_array).and_then(|a| a.first()) {
                Some(Value::Number(_)) => true,
                Some(Value::String(name)) => !RESERVED_EVENTS.contains(&name.as_str()),
                _ => false,
            }
        }
        PacketType::Ack | PacketType::BinaryAck => matches!(data, Some(Value::Array(_))),
        PacketType::ConnectError => matches!(data, Some(Value::String(_) | Value::Object(_))),
    }
}

/// The attachment count before `-`: one or more ASCII digits, at most `max`.
fn parse_attachments(count: &str, max: usize) -> Result<usize, SioError> {
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SioError::BadAttachments);
    }
    let n = parse_u64(count).ok_or(SioError::TooManyAttachments)?;
    match usize::try_from(n) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(SioError::TooManyAttachments),
    }
}

/// ASCII digits to u64; None on overflow or a non-digit.
fn parse_u64(digits: &str) -> Option<u64> {
    digits.bytes().try_fold(0u64, |acc, b| {
        let d = u64::from(b.checked_sub(b'0').filter(|d| *d < 10)?);
        acc.checked_mul(10)?.checked_add(d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAX: usize = 10; // socket.io-parser's default maxAttachments

    fn pkt(kind: PacketType, nsp: &str, id: Option<u64>, data: Option<Value>) -> Packet {
        Packet {
            kind,
            nsp: nsp.to_owned(),
            id,
            data,
            attachments: 0,
        }
    }
    fn bpkt(kind: PacketType, nsp: &str, id: Option<u64>, data: Value, n: usize) -> Packet {
        Packet {
            attachments: n,
            ..pkt(kind, nsp, id, Some(data))
        }
    }
    fn ph(n: u64) -> Value {
        json!({"_placeholder": true, "num": n})
    }

    /// Decodes whole, and every prefix and suffix at every char boundary without panic
    /// (STYLE §9; a packet string is never delivered in pieces, so only safety is
    /// checked for the pieces).
    fn decode_checked(s: &str) -> Result<Packet, SioError> {
        for cut in 0..=s.len() {
            if let (Some(a), Some(b)) = (s.get(..cut), s.get(cut..)) {
                let _ = (decode(a, MAX), decode(b, MAX));
            }
        }
        decode(s, MAX)
    }

    use PacketType::*;

    /// Byte-exact known answers, both directions: socket.io-protocol "Packet encoding"
    /// examples and sample session, its test suite, socket.io-parser tests, and
    /// spec/cli-protocol.md §5/§10 captures whose objects have sorted keys.
    #[test]
    fn known_answers_round_trip() {
        let cases: Vec<(&str, Packet)> = vec![
            // socket.io-protocol "Examples"
            ("0", pkt(Connect, "/", None, None)),
            (
                "0/admin,{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}",
                pkt(
                    Connect,
                    "/admin",
                    None,
                    Some(json!({"sid": "oSO0OpakMV_3jnilAAAA"})),
                ),
            ),
            (
                "4{\"message\":\"Not authorized\"}",
                pkt(
                    ConnectError,
                    "/",
                    None,
                    Some(json!({"message": "Not authorized"})),
                ),
            ),
            ("2[\"foo\"]", pkt(Event, "/", None, Some(json!(["foo"])))),
            (
                "2/admin,[\"bar\"]",
                pkt(Event, "/admin", None, Some(json!(["bar"]))),
            ),
            (
                "51-[\"baz\",{\"_placeholder\":true,\"num\":0}]",
                bpkt(BinaryEvent, "/", None, json!(["baz", ph(0)]), 1),
            ),
            (
                "52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
                bpkt(BinaryEvent, "/admin", None, json!(["baz", ph(0), ph(1)]), 2),
            ),
            (
                "212[\"foo\"]",
                pkt(Event, "/", Some(12), Some(json!(["foo"]))),
            ),
            (
                "3/admin,13[\"bar\"]",
                pkt(Ack, "/admin", Some(13), Some(json!(["bar"]))),
            ),
            (
                "61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]",
                bpkt(BinaryAck, "/", Some(15), json!(["bar", ph(0)]), 1),
            ),
            ("1", pkt(Disconnect, "/", None, None)),
            ("1/admin,", pkt(Disconnect, "/admin", None, None)),
            // socket.io-protocol "Sample session"
            (
                "0{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}",
                pkt(
                    Connect,
                    "/",
                    None,
                    Some(json!({"sid": "wZX3oN0bSVIhsaknAAAI"})),
                ),
            ),
            (
                "2[\"hey\",\"Jude\"]",
                pkt(Event, "/", None, Some(json!(["hey", "Jude"]))),
            ),
            (
                "2[\"hello\"]",
                pkt(Event, "/", None, Some(json!(["hello"]))),
            ),
            ("0/admin,", pkt(Connect, "/admin", None, None)),
            (
                "0/admin,{\"sid\":\"-G5j-67EZFp-q59rADQM\"}",
                pkt(
                    Connect,
                    "/admin",
                    None,
                    Some(json!({"sid": "-G5j-67EZFp-q59rADQM"})),
                ),
            ),
            (
                "2/admin,1[\"tellme\"]",
                pkt(Event, "/admin", Some(1), Some(json!(["tellme"]))),
            ),
            (
                "61-/admin,1[{\"_placeholder\":true,\"num\":0}]",
                bpkt(BinaryAck, "/admin", Some(1), json!([ph(0)]), 1),
            ),
            // socket.io-protocol test suite
            (
                "0{\"token\":\"123\"}",
                pkt(Connect, "/", None, Some(json!({"token": "123"}))),
            ),
            ("0/custom,", pkt(Connect, "/custom", None, None)),
            (
                "0/custom,{\"token\":\"abc\"}",
                pkt(Connect, "/custom", None, Some(json!({"token": "abc"}))),
            ),
            (
                "4/random,{\"message\":\"Invalid namespace\"}",
                pkt(
                    ConnectError,
                    "/random",
                    None,
                    Some(json!({"message": "Invalid namespace"})),
                ),
            ),
            (
                "2[\"auth\",{}]",
                pkt(Event, "/", None, Some(json!(["auth", {}]))),
            ),
            (
                "2[\"auth\",{\"token\":\"123\"}]",
                pkt(Event, "/", None, Some(json!(["auth", {"token": "123"}]))),
            ),
            (
                "2/custom,[\"auth\",{}]",
                pkt(Event, "/custom", None, Some(json!(["auth", {}]))),
            ),
            (
                "2[\"message\",\"message to main namespace\"]",
                pkt(
                    Event,
                    "/",
                    None,
                    Some(json!(["message", "message to main namespace"])),
                ),
            ),
            (
                "2[\"message\",1,\"2\",{\"3\":[true]}]",
                pkt(
                    Event,
                    "/",
                    None,
                    Some(json!(["message", 1, "2", {"3": [true]}])),
                ),
            ),
            (
                "52-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
                bpkt(BinaryEvent, "/", None, json!(["message", ph(0), ph(1)]), 2),
            ),
            (
                "2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]",
                pkt(
                    Event,
                    "/",
                    Some(456),
                    Some(json!(["message-with-ack", 1, "2", {"3": [false]}])),
                ),
            ),
            (
                "3456[1,\"2\",{\"3\":[false]}]",
                pkt(Ack, "/", Some(456), Some(json!([1, "2", {"3": [false]}]))),
            ),
            (
                "52-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
                bpkt(
                    BinaryEvent,
                    "/",
                    Some(789),
                    json!(["message-with-ack", ph(0), ph(1)]),
                    2,
                ),
            ),
            (
                "62-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
                bpkt(BinaryAck, "/", Some(789), json!([ph(0), ph(1)]), 2),
            ),
            // socket.io-parser tests
            (
                "0/woot,{\"token\":\"123\"}",
                pkt(Connect, "/woot", None, Some(json!({"token": "123"}))),
            ),
            ("1/woot,", pkt(Disconnect, "/woot", None, None)),
            (
                "2[\"a\",1,{}]",
                pkt(Event, "/", None, Some(json!(["a", 1, {}]))),
            ),
            (
                "2[1,\"a\",{}]",
                pkt(Event, "/", None, Some(json!([1, "a", {}]))),
            ),
            (
                "2/test,1[\"a\",1,{}]",
                pkt(Event, "/test", Some(1), Some(json!(["a", 1, {}]))),
            ),
            (
                "3123[\"a\",1,{}]",
                pkt(Ack, "/", Some(123), Some(json!(["a", 1, {}]))),
            ),
            (
                "4\"Unauthorized\"",
                pkt(ConnectError, "/", None, Some(json!("Unauthorized"))),
            ),
            (
                "4{\"message\":\"Unauthorized\"}",
                pkt(
                    ConnectError,
                    "/",
                    None,
                    Some(json!({"message": "Unauthorized"})),
                ),
            ),
            (
                "51-[\"hello\"]",
                bpkt(BinaryEvent, "/", None, json!(["hello"]), 1),
            ),
            (
                "50-[\"hello\"]",
                bpkt(BinaryEvent, "/", None, json!(["hello"]), 0),
            ),
            (
                "51-/cool,23[\"a\",{\"_placeholder\":true,\"num\":0}]",
                bpkt(BinaryEvent, "/cool", Some(23), json!(["a", ph(0)]), 1),
            ),
            (
                "51-/cool,23[\"a\",{\"b\":[\"c\",{\"_placeholder\":true,\"num\":0}]}]",
                bpkt(
                    BinaryEvent,
                    "/cool",
                    Some(23),
                    json!(["a", {"b": ["c", ph(0)]}]),
                    1,
                ),
            ),
            (
                "61-/back,127[\"a\",{\"_placeholder\":true,\"num\":0},{}]",
                bpkt(BinaryAck, "/back", Some(127), json!(["a", ph(0), {}]), 1),
            ),
            // spec/cli-protocol.md §5 and §10
            (
                "0/cli,{\"sid\":\"7ZwfF7mUS-jXu-oOAAAA\"}",
                pkt(
                    Connect,
                    "/cli",
                    None,
                    Some(json!({"sid": "7ZwfF7mUS-jXu-oOAAAA"})),
                ),
            ),
            (
                "2/cli,[\"rpc-register\",{\"method\":\"a6875fa8:listAgyModels\"}]",
                pkt(
                    Event,
                    "/cli",
                    None,
                    Some(json!(["rpc-register", {"method": "a6875fa8:listAgyModels"}])),
                ),
            ),
            ("3/cli,4[]", pkt(Ack, "/cli", Some(4), Some(json!([])))),
            (
                "3/cli,2[null]",
                pkt(Ack, "/cli", Some(2), Some(json!([null]))),
            ),
            ("1/cli,", pkt(Disconnect, "/cli", None, None)),
            (
                "2/cli,8[\"ping\"]",
                pkt(Event, "/cli", Some(8), Some(json!(["ping"]))),
            ),
            ("3/cli,8[]", pkt(Ack, "/cli", Some(8), Some(json!([])))),
            (
                "2/cli,12[\"rpc-request\",{\"method\":\"dfcd5577:killSession\",\"params\":\"{}\"}]",
                pkt(
                    Event,
                    "/cli",
                    Some(12),
                    Some(
                        json!(["rpc-request", {"method": "dfcd5577:killSession", "params": "{}"}]),
                    ),
                ),
            ),
            (
                "3/cli,12[\"{\\\"success\\\":true,\\\"message\\\":\\\"Killing hapi CLI process\\\"}\"]",
                pkt(
                    Ack,
                    "/cli",
                    Some(12),
                    Some(json!([
                        "{\"success\":true,\"message\":\"Killing hapi CLI process\"}"
                    ])),
                ),
            ),
            (
                "2/cli,[\"error\",{\"message\":\"x\"}]",
                pkt(
                    Event,
                    "/cli",
                    None,
                    Some(json!(["error", {"message": "x"}])),
                ),
            ),
            (
                "0/terminal,{\"token\":\"<JWT>\"}",
                pkt(Connect, "/terminal", None, Some(json!({"token": "<JWT>"}))),
            ),
            (
                "2/terminal,[\"terminal:create\",{}]",
                pkt(
                    Event,
                    "/terminal",
                    None,
                    Some(json!(["terminal:create", {}])),
                ),
            ),
            // edges: the largest id, unicode, explicit "/" namespace
            (
                "218446744073709551615[\"a\"]",
                pkt(Event, "/", Some(u64::MAX), Some(json!(["a"]))),
            ),
            (
                "2[\"é€😀\",\"\\u0000\\n\"]",
                pkt(Event, "/", None, Some(json!(["é€😀", "\u{0}\n"]))),
            ),
        ];
        for (wire, packet) in &cases {
            assert_eq!(decode_checked(wire).as_ref(), Ok(packet), "decode {wire:?}");
            assert_eq!(&encode(packet), wire, "encode {packet:?}");
        }
    }

    /// Valid but non-canonical forms: they decode, and encode to the canonical form.
    #[test]
    fn canonical_forms() {
        let cases: &[(&str, &str)] = &[
            // socket.io-protocol test suite: namespace without the trailing comma
            ("0/random", "0/random,"),
            ("0/custom", "0/custom,"),
            ("1/custom", "1/custom,"),
            ("2/,[\"a\"]", "2[\"a\"]"),
            ("2007[\"a\"]", "27[\"a\"]"),
            ("501-[\"a\"]", "51-[\"a\"]"),
            ("2 [ \"a\" , 1 ] ", "2[\"a\",1]"),
            // spec/cli-protocol.md §10.1: key order is kept (serde_json `preserve_order`)
            (
                "0/cli,{\"token\":\"t\",\"clientType\":\"machine-scoped\",\"machineId\":\"a6875fa8\"}",
                "0/cli,{\"token\":\"t\",\"clientType\":\"machine-scoped\",\"machineId\":\"a6875fa8\"}",
            ),
            ("2[\"a\",{\"k\":1,\"k\":2}]", "2[\"a\",{\"k\":2}]"),
        ];
        for (wire, canonical) in cases {
            let p = decode_checked(wire).unwrap_or_else(|e| panic!("{wire:?}: {e:?}"));
            assert_eq!(&encode(&p), canonical, "{wire:?}");
            assert_eq!(decode(canonical, MAX), Ok(p), "{canonical:?}");
        }
    }

    #[test]
    fn invalid_packets() {
        let cases: &[(&str, SioError)] = &[
            ("", SioError::Empty),
            // socket.io-protocol test suite (after the Engine.IO "4")
            ("abc", SioError::BadType),
            ("2{}", SioError::BadPayload),
            (
                "2abc[\"message-with-ack\",1,\"2\",{\"3\":[false]}]",
                SioError::BadJson,
            ),
            // socket.io-parser tests: "throw an error upon parsing error"
            ("42[\"some\",\"data\"", SioError::BadJson),
            ("0/admin,\"invalid\"", SioError::BadPayload),
            ("0[]", SioError::BadPayload),
            ("1/admin,{}", SioError::BadPayload),
            ("2/admin,\"invalid", SioError::BadJson),
            ("2/admin,{}", SioError::BadPayload),
            ("2[{\"toString\":\"foo\"}]", SioError::BadPayload),
            ("2[true,\"foo\"]", SioError::BadPayload),
            ("2[null,\"bar\"]", SioError::BadPayload),
            ("2[\"connect\"]", SioError::BadPayload),
            ("2[\"disconnect\",\"123\"]", SioError::BadPayload),
            ("5", SioError::BadAttachments),
            ("51", SioError::BadAttachments),
            ("5a-", SioError::BadAttachments),
            ("51.23-", SioError::BadAttachments),
            ("999", SioError::BadType),
            // socket.io-parser buffer tests: placeholder num not a valid index
            (
                "51-[\"hello\",{\"_placeholder\":true,\"num\":\"splice\"}]",
                SioError::BadAttachments,
            ),
            (
                "51-[\"hello\",{\"_placeholder\":true,\"num\":1}]",
                SioError::BadAttachments,
            ),
            ("61-[{\"_placeholder\":true}]", SioError::BadAttachments),
            (
                "61-[{\"_placeholder\":true,\"num\":-1}]",
                SioError::BadAttachments,
            ),
            (
                "60-[{\"x\":[{\"_placeholder\":true,\"num\":0}]}]",
                SioError::BadAttachments,
            ),
            // the remaining reserved names
            ("2[\"connect_error\"]", SioError::BadPayload),
            ("2[\"disconnecting\"]", SioError::BadPayload),
            ("2[\"newListener\"]", SioError::BadPayload),
            ("2/cli,[\"removeListener\"]", SioError::BadPayload),
            // payload required / forbidden / shape
            ("2", SioError::BadPayload),
            ("2/cli,", SioError::BadPayload),
            ("2/cli,5", SioError::BadPayload),
            ("2[]", SioError::BadPayload),
            ("3/cli,5", SioError::BadPayload),
            ("3{}", SioError::BadPayload),
            ("4", SioError::BadPayload),
            ("4[]", SioError::BadPayload),
            ("4/cli,5", SioError::BadPayload),
            ("0\"x\"", SioError::BadPayload),
            ("0null", SioError::BadPayload),
            ("1[]", SioError::BadPayload),
            ("1/cli,x", SioError::BadJson),
            ("5-[\"a\"]", SioError::BadAttachments),
            ("5 1-[\"a\"]", SioError::BadAttachments),
            ("6+1-[]", SioError::BadAttachments),
            // type, id and JSON edges
            (" ", SioError::BadType),
            ("7", SioError::BadType),
            ("/", SioError::BadType),
            ("€", SioError::BadType),
            ("218446744073709551616[\"a\"]", SioError::BadId),
            (
                "2999999999999999999999999999999999999[\"a\"]",
                SioError::BadId,
            ),
            ("2/cli,1 2[\"a\"]", SioError::BadJson),
            ("2[\"a\"]x", SioError::BadJson),
            ("2[\"a\",1e999]", SioError::BadJson),
            ("2[\"\\ud800\"]", SioError::BadJson),
            ("2/cli[\"a\"]", SioError::BadPayload),
            ("21-[\"a\"]", SioError::BadJson),
        ];
        for (wire, err) in cases {
            assert_eq!(decode_checked(wire).as_ref(), Err(err), "decode {wire:?}");
        }
    }

    #[test]
    fn too_many_attachments() {
        // socket.io-parser tests: maxAttachments 2
        let wire = "53-[\"hello\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":2}]";
        assert_eq!(decode(wire, 2), Err(SioError::TooManyAttachments));
        assert_eq!(decode(wire, 3).map(|p| p.attachments), Ok(3));
        assert_eq!(decode("51-[\"a\"]", 0), Err(SioError::TooManyAttachments));
        assert_eq!(
            decode("5184467440737095516150-[\"a\"]", usize::MAX),
            Err(SioError::TooManyAttachments)
        );
        assert_eq!(decode("50-[\"a\"]", 0).map(|p| p.attachments), Ok(0));
    }

    /// Deep nesting is refused by serde_json's recursion limit, not by the stack.
    #[test]
    fn deep_nesting() {
        let deep = format!("2[\"a\",{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(decode(&deep, MAX), Err(SioError::BadJson));
        let deep = format!("61-{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(decode(&deep, MAX), Err(SioError::BadJson));
    }

    /// The fuzz target's property on a deterministic token soup: whatever decodes must
    /// encode to a string that decodes to the same packet.
    #[test]
    fn round_trip_property() {
        #[rustfmt::skip]
        const TOKENS: &[&str] = &[
            "0", "1", "2", "3", "4", "5", "6", "7", "-", "/", "/cli", ",", "[", "]", "{", "}",
            "\"a\"", "\"connect\"", ":", "12", "18446744073709551616", "null", "true",
            "\"_placeholder\"", "\"num\"", "-0", "1.5e3", "1e20", " ", "é", "\\u00e9", ".",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut valid = 0;
        for _ in 0..200_000 {
            let len = next() % 12;
            let mut s = String::new();
            for _ in 0..len {
                let i = usize::try_from(next() % TOKENS.len() as u64).unwrap();
                s.push_str(TOKENS[i]);
            }
            if let Ok(p) = decode(&s, MAX) {
                valid += 1;
                let wire = encode(&p);
                assert_eq!(decode(&wire, MAX), Ok(p), "{s:?} -> {wire:?}");
            }
        }
        assert!(valid > 1000, "only {valid} valid packets generated");
    }

    #[test]
    fn encode_details() {
        // An empty namespace is treated as "/", attachments ignored for non-binary types.
        let p = Packet {
            attachments: 3,
            ..pkt(Event, "", Some(1), Some(json!(["a"])))
        };
        assert_eq!(encode(&p), "21[\"a\"]");
        assert_eq!(encode(&pkt(Ack, "/", Some(0), None)), "30");
    }
}
