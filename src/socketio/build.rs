//! Packet builders the hub uses (events, acks, namespace connect replies) and the event
//! accessor, per socket.io-protocol "Exchange protocol" and spec/cli-protocol.md §5.

use serde_json::{Map, Value};

use super::packet::{Packet, PacketType};

/// Convenience: event name and arguments of an Event/BinaryEvent packet. None for other
/// types, and for a numeric event name (valid on the wire, but no hub handler has one).
pub fn event_parts(p: &Packet) -> Option<(&str, &[Value])> {
    if !matches!(p.kind, PacketType::Event | PacketType::BinaryEvent) {
        return None;
    }
    let (name, args) = p.data.as_ref()?.as_array()?.split_first()?;
    Some((name.as_str()?, args))
}

/// An EVENT packet on `nsp` with data `[name, args...]` and an optional ack id.
pub fn event(nsp: &str, name: &str, args: Vec<Value>, id: Option<u64>) -> Packet {
    let mut data = Vec::with_capacity(args.len().saturating_add(1));
    data.push(Value::String(name.to_owned()));
    data.extend(args);
    packet(PacketType::Event, nsp, id, Value::Array(data))
}

/// An ACK packet on `nsp` answering ack `id` with data `[args...]`.
pub fn ack(nsp: &str, id: u64, args: Vec<Value>) -> Packet {
    packet(PacketType::Ack, nsp, Some(id), Value::Array(args))
}

/// The CONNECT reply accepting a namespace join: `{"sid": sid}`.
pub fn connect_ok(nsp: &str, sid: &str) -> Packet {
    packet(PacketType::Connect, nsp, None, object("sid", sid))
}

/// The CONNECT_ERROR refusing a namespace join: `{"message": message}`.
pub fn connect_error(nsp: &str, message: &str) -> Packet {
    packet(
        PacketType::ConnectError,
        nsp,
        None,
        object("message", message),
    )
}

fn object(key: &str, value: &str) -> Value {
    let mut m = Map::new();
    m.insert(key.to_owned(), Value::String(value.to_owned()));
    Value::Object(m)
}

fn packet(kind: PacketType, nsp: &str, id: Option<u64>, data: Value) -> Packet {
    Packet {
        kind,
        nsp: nsp.to_owned(),
        id,
        data: Some(data),
        attachments: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::{decode, encode};
    use super::*;
    use serde_json::json;

    /// Built packets, their wire form (spec/cli-protocol.md §5/§10 and socket.io-protocol
    /// examples), and that the wire form decodes back to the same packet.
    #[test]
    fn builders_known_answers() {
        let cases = [
            (event("/cli", "ping", vec![], None), r#"2/cli,["ping"]"#),
            (
                event(
                    "/cli",
                    "rpc-request",
                    vec![json!({"method": "m", "params": "{}"})],
                    Some(12),
                ),
                r#"2/cli,12["rpc-request",{"method":"m","params":"{}"}]"#,
            ),
            (
                event("/", "hey", vec![json!("Jude")], None),
                r#"2["hey","Jude"]"#,
            ),
            (ack("/cli", 4, vec![]), "3/cli,4[]"),
            (ack("/cli", 2, vec![Value::Null]), "3/cli,2[null]"),
            (ack("/", 12, vec![]), "312[]"),
            (
                ack("/cli", 0, vec![json!({"result": "success", "version": 2})]),
                r#"3/cli,0[{"result":"success","version":2}]"#,
            ),
            (
                connect_ok("/cli", "7ZwfF7mUS-jXu-oOAAAA"),
                r#"0/cli,{"sid":"7ZwfF7mUS-jXu-oOAAAA"}"#,
            ),
            (
                connect_ok("/", "wZX3oN0bSVIhsaknAAAI"),
                r#"0{"sid":"wZX3oN0bSVIhsaknAAAI"}"#,
            ),
            (
                connect_error("/random", "Invalid namespace"),
                r#"4/random,{"message":"Invalid namespace"}"#,
            ),
            (
                connect_error("/", "Not authorized"),
                r#"4{"message":"Not authorized"}"#,
            ),
        ];
        for (p, wire) in &cases {
            assert_eq!(&encode(p), wire);
            assert_eq!(decode(wire, 10).as_ref(), Ok(p), "{wire}");
        }
    }

    #[test]
    fn parts() {
        let p = decode(r#"2/cli,5["update-state",{"sid":"s"},1]"#, 10).unwrap();
        assert_eq!(
            event_parts(&p),
            Some(("update-state", &[json!({"sid": "s"}), json!(1)][..]))
        );
        let p = decode(r#"2["ping"]"#, 10).unwrap();
        assert_eq!(event_parts(&p), Some(("ping", &[][..])));
        let p = decode(r#"51-["up",{"_placeholder":true,"num":0}]"#, 10).unwrap();
        assert_eq!(
            event_parts(&p),
            Some(("up", &[json!({"_placeholder": true, "num": 0})][..]))
        );
        for wire in [
            r#"2[1,"a"]"#,
            "3/cli,1[\"x\"]",
            "0/cli,",
            r#"4{"message":"m"}"#,
        ] {
            assert_eq!(event_parts(&decode(wire, 10).unwrap()), None, "{wire}");
        }
    }
}
