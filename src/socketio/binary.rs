//! Binary Socket.IO packets: the attachment frames that follow a BINARY_EVENT/BINARY_ACK
//! header, and the placeholder check done when the header is decoded.
//!
//! socket.io-protocol "Packet encoding" (binary examples): the header's JSON holds
//! `{"_placeholder":true,"num":n}` where the n-th binary frame goes; the frames follow as
//! separate Engine.IO binary messages. hapid never interprets binary data, so the
//! placeholders stay in the JSON and the frames are kept in order beside it.

use super::packet::Packet;

/// For binary packets: collects the attachments that follow a BinaryEvent/BinaryAck
/// header packet. `push` returns true when complete. Placeholders
/// {"_placeholder":true,"num":n} stay in the JSON (hapid never interprets binary);
/// `buffers` holds them in order.
///
/// ```text
///  decode("52-[...]") --new--> collecting --push--> collecting --push--> complete
///                      (attachments 0: complete at once)
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryCollector {
    /// The header packet, unchanged (kind, nsp, id, data with placeholders).
    pub packet: Packet,
    /// The attachments received so far, in arrival order (= placeholder `num` order).
    pub buffers: Vec<Vec<u8>>,
}

impl BinaryCollector {
    /// Starts collecting for a decoded header; `packet.attachments` frames are expected
    /// (bounded by the `max_attachments` given to `decode`). Allocates nothing up front.
    pub fn new(packet: Packet) -> Self {
        Self {
            packet,
            buffers: Vec::new(),
        }
    }

    /// Adds the next attachment; returns true once all announced attachments are in.
    /// Once complete, further buffers are dropped (a binary frame with no header waiting
    /// is a protocol error the caller must detect: check `is_complete` first).
    pub fn push(&mut self, buf: Vec<u8>) -> bool {
        if !self.is_complete() {
            self.buffers.push(buf);
        }
        self.is_complete()
    }

    /// True when every announced attachment has arrived.
    pub fn is_complete(&self) -> bool {
        self.buffers.len() >= self.packet.attachments
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::{PacketType, decode};
    use super::*;
    use serde_json::json;

    /// socket.io-protocol test suite, "should send a packet with binary attachments":
    /// the header, then the frames one at a time.
    #[test]
    fn collects_in_order() {
        let header = decode(
            r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
            10,
        )
        .unwrap();
        let mut c = BinaryCollector::new(header.clone());
        assert!(!c.is_complete());
        assert!(!c.push(vec![1, 2, 3]));
        assert!(!c.is_complete());
        assert!(c.push(vec![4, 5, 6]));
        assert!(c.is_complete());
        assert_eq!(c.packet, header);
        assert_eq!(c.packet.kind, PacketType::BinaryEvent);
        assert_eq!(
            c.packet.data,
            Some(
                json!(["message", {"_placeholder": true, "num": 0}, {"_placeholder": true, "num": 1}])
            )
        );
        assert_eq!(c.buffers, vec![vec![1, 2, 3], vec![4, 5, 6]]);
        // A stray frame after completion is not stored.
        assert!(c.push(vec![7]));
        assert_eq!(c.buffers.len(), 2);
    }

    #[test]
    fn zero_attachments_complete_at_once() {
        let c = BinaryCollector::new(decode(r#"50-["hello"]"#, 10).unwrap());
        assert!(c.is_complete());
    }

    #[test]
    fn every_step_count() {
        for n in 0..=10usize {
            let wire = format!("6{n}-7[]");
            let mut c = BinaryCollector::new(decode(&wire, 10).unwrap());
            for i in 0..n {
                assert!(!c.is_complete(), "{n}/{i}");
                assert_eq!(c.push(vec![u8::try_from(i).unwrap()]), i + 1 == n);
            }
            assert!(c.is_complete());
            assert_eq!(c.buffers.len(), n);
        }
    }
}
