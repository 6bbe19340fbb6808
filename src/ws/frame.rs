//! RFC 6455 framing, server side: decodes masked client frames (§5.2, §5.3) into
//! messages, assembling fragments (§5.4) and validating text as UTF-8 (§8.1) and
//! Close payloads (§5.5.1, §7.4); encodes unmasked server frames.
//!
//! A frame is decoded only once it is complete, but everything the header decides
//! (reserved bits and opcodes, masking, control-frame rules, sequencing, size limits)
//! fails as soon as those bytes arrive, and invalid UTF-8 in a text frame fails as soon
//! as the bytes received make it certain, even before the frame is complete
//! (Autobahn 6.x "fail fast"). No extension is ever negotiated, so RSV bits are errors.
//!
//! ```text
//!            Text/Binary, FIN=0                     Continuation, FIN=1
//!   Idle ------------------------> Open(Text|Binary) ---------------------> Idle
//!    |  ^                             |  ^   Continuation, FIN=0: buffer     (Message)
//!    |  | Text/Binary, FIN=1          |  |
//!    +--+ (Message)                   +--+   Ping/Pong/Close: Message, state kept
//! ```

use std::mem;

/// Size bounds, checked from a frame's header before its payload is awaited or buffered.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest payload of one frame.
    pub max_frame: usize,
    /// Largest assembled data message (all fragments together).
    pub max_message: usize,
}

impl Default for Limits {
    /// 64 MiB for both.
    fn default() -> Self {
        Self {
            max_frame: 64 << 20,
            max_message: 64 << 20,
        }
    }
}

/// The code and reason of a Close frame (RFC 6455 §5.5.1).
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct CloseFrame {
    /// Status code (§7.4), validated on decode.
    pub code: u16,
    /// Reason, UTF-8 validated on decode.
    pub reason: String,
}

/// A complete data message or one control frame.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Message {
    /// A text message, all fragments joined.
    Text(String),
    /// A binary message, all fragments joined.
    Binary(Vec<u8>),
    /// A Ping with its application data.
    Ping(Vec<u8>),
    /// A Pong with its application data.
    Pong(Vec<u8>),
    /// A Close; `None` when it had an empty payload.
    Close(Option<CloseFrame>),
}

/// A peer protocol violation; the connection must be closed with [`WsError::close_code`].
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum WsError {
    /// A client frame without the MASK bit (§5.1).
    Unmasked,
    /// RSV1-3 set, but no extension was negotiated (§5.2).
    ReservedBits,
    /// A reserved opcode, 3-7 or 0xB-0xF (§5.2).
    BadOpcode(u8),
    /// A control frame without FIN (§5.5).
    FragmentedControl,
    /// A control frame with more than 125 bytes of payload (§5.5).
    ControlTooLong,
    /// A Continuation frame with no fragmented message open (§5.4).
    UnexpectedContinuation,
    /// A Text or Binary frame while a fragmented message is open (§5.4).
    ExpectedContinuation,
    /// A frame payload over `Limits::max_frame`, or a 64-bit length with its MSB set (§5.2).
    FrameTooLarge(u64),
    /// An assembled message over `Limits::max_message`.
    MessageTooLarge,
    /// Text message or close reason that is not UTF-8 (§8.1).
    BadUtf8,
    /// A Close payload of exactly one byte (§5.5.1).
    BadClosePayload,
    /// A Close status code that may not be sent on the wire (§7.4).
    BadCloseCode(u16),
}

impl WsError {
    /// The status code to close with (§7.4.1): 1009 for sizes, 1007 for UTF-8, else 1002.
    pub fn close_code(&self) -> u16 {
        match self {
            Self::FrameTooLarge(_) | Self::MessageTooLarge => 1009,
            Self::BadUtf8 => 1007,
            _ => 1002,
        }
    }
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unmasked => f.write_str("unmasked client frame"),
            Self::ReservedBits => f.write_str("reserved bits set"),
            Self::BadOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            Self::FragmentedControl => f.write_str("fragmented control frame"),
            Self::ControlTooLong => f.write_str("control frame over 125 bytes"),
            Self::UnexpectedContinuation => f.write_str("continuation without a message"),
            Self::ExpectedContinuation => f.write_str("new message inside a fragmented one"),
            Self::FrameTooLarge(len) => write!(f, "frame of {len} bytes is too large"),
            Self::MessageTooLarge => f.write_str("message too large"),
            Self::BadUtf8 => f.write_str("invalid UTF-8"),
            Self::BadClosePayload => f.write_str("one-byte close payload"),
            Self::BadCloseCode(code) => write!(f, "invalid close code {code}"),
        }
    }
}

impl std::error::Error for WsError {}

/// Frame opcodes (§5.2), the reserved ones excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: the next fragment of a message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: connection close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Result<Self, WsError> {
        Ok(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return Err(WsError::BadOpcode(bits)),
        })
    }

    fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// The outcome of [`Decoder::decode`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// `buf` holds no complete frame; nothing was used. Call again with more bytes.
    NeedMore,
    /// A non-final data fragment of this many bytes was used and buffered.
    Used(usize),
    /// A frame of `used` bytes completed a data message, or was a control frame.
    Message {
        /// Bytes of `buf` used.
        used: usize,
        /// The message.
        msg: Message,
    },
}

/// A parsed frame header (§5.2) that already passed every state-free check.
struct Header {
    fin: bool,
    op: OpCode,
    key: [u8; 4],
    len: u64,
    /// Header bytes before the payload: 6, 8 or 14.
    size: usize,
}

/// Parses the header at the front of `buf`: `Ok(None)` while it is incomplete. Checks
/// fail as soon as the byte deciding them is present.
fn parse_header(buf: &[u8]) -> Result<Option<Header>, WsError> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(WsError::ReservedBits);
    }
    let (fin, op) = (b0 & 0x80 != 0, OpCode::from_bits(b0 & 0x0F)?);
    if op.is_control() && !fin {
        return Err(WsError::FragmentedControl);
    }
    let Some(&b1) = buf.get(1) else {
        return Ok(None);
    };
    if b1 & 0x80 == 0 {
        return Err(WsError::Unmasked);
    }
    let len7 = b1 & 0x7F;
    if op.is_control() && len7 > 125 {
        return Err(WsError::ControlTooLong);
    }
    // Non-minimal length encodings are accepted: RFC 6455 §5.2 says "minimal" for
    // senders only, and Autobahn does not require rejecting them.
    let (len, size) = match len7 {
        126 => match buf.get(2..4).and_then(|b| <[u8; 2]>::try_from(b).ok()) {
            Some(b) => (u64::from(u16::from_be_bytes(b)), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) if b[0] & 0x80 != 0 => {
                return Err(WsError::FrameTooLarge(u64::from_be_bytes(b)));
            }
            Some(b) => (u64::from_be_bytes(b), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    let Some(key) = buf
        .get(size..size + 4)
        .and_then(|k| <[u8; 4]>::try_from(k).ok())
    else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin,
        op,
        key,
        len,
        size: size + 4,
    }))
}

/// Incremental UTF-8 validation across chunks: remembers an incomplete trailing sequence.
#[derive(Clone, Copy, Debug, Default)]
struct Utf8 {
    carry: [u8; 4],
    n: usize,
}

impl Utf8 {
    /// Validates `bytes` as the continuation of everything fed so far. Fails as soon as
    /// the input cannot be the prefix of valid UTF-8; an incomplete tail is kept.
    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), WsError> {
        // First complete the character carried over, one byte at a time (at most 3).
        while self.n > 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return Ok(());
            };
            let Some(slot) = self.carry.get_mut(self.n) else {
                return Err(WsError::BadUtf8);
            };
            *slot = b;
            self.n += 1;
            bytes = rest;
            match std::str::from_utf8(self.carry.get(..self.n).unwrap_or_default()) {
                Ok(_) => self.n = 0,
                Err(e) if e.error_len().is_some() => return Err(WsError::BadUtf8),
                Err(_) => {}
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(WsError::BadUtf8),
            Err(e) => {
                // error_len() == None: a valid but incomplete sequence (1-3 bytes) at the end.
                let tail = bytes.get(e.valid_up_to()..).unwrap_or_default();
                let slot = self.carry.get_mut(..tail.len()).ok_or(WsError::BadUtf8)?;
                slot.copy_from_slice(tail);
                self.n = tail.len();
                Ok(())
            }
        }
    }
}

/// How far an incomplete text frame has been validated already, so that each byte is
/// checked once however many times the caller retries with a longer buffer.
#[derive(Debug)]
struct Peek {
    key: [u8; 4],
    len: u64,
    seen: usize,
    utf8: Utf8,
}

/// Decodes client frames into messages; holds the fragmented message being assembled.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    /// `Some(Text | Binary)` while a fragmented message is open.
    open: Option<OpCode>,
    /// Unmasked payload of the open message's fragments so far.
    data: Vec<u8>,
    /// UTF-8 state at the end of `data`, for an open text message.
    utf8: Utf8,
    /// Fail-fast progress inside the incomplete text frame at the front of `buf`.
    peek: Option<Peek>,
}

impl Decoder {
    /// A decoder with no message open.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            open: None,
            data: Vec::new(),
            utf8: Utf8::default(),
            peek: None,
        }
    }

    /// Decodes at most one frame from the front of `buf`.
    ///
    /// `NeedMore`: `buf` is an incomplete frame and nothing was used; call again with the
    /// same bytes plus more. `Used(n)`: a non-final data fragment of `n` bytes was
    /// buffered. `Message`: a data message completed, or a control frame arrived (also
    /// between fragments). Any error is fatal for the connection: close with
    /// [`WsError::close_code`] and do not call again. Never panics.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Step, WsError> {
        let Some(h) = parse_header(buf)? else {
            return Ok(Step::NeedMore);
        };
        let text = match (h.op, self.open) {
            (OpCode::Continuation, None) => return Err(WsError::UnexpectedContinuation),
            (OpCode::Continuation, Some(op)) => op == OpCode::Text,
            (OpCode::Text | OpCode::Binary, Some(_)) => return Err(WsError::ExpectedContinuation),
            (op, _) => op == OpCode::Text,
        };
        // Limits come before waiting for (or allocating) the payload.
        if h.len > self.limits.max_frame as u64 {
            return Err(WsError::FrameTooLarge(h.len));
        }
        if !h.op.is_control()
            && (self.data.len() as u64).saturating_add(h.len) > self.limits.max_message as u64
        {
            return Err(WsError::MessageTooLarge);
        }
        // Fits: h.len <= max_frame, a usize.
        let len = usize::try_from(h.len).map_err(|_| WsError::FrameTooLarge(h.len))?;
        let used = h
            .size
            .checked_add(len)
            .ok_or(WsError::FrameTooLarge(h.len))?;
        let Some(masked) = buf.get(h.size..used) else {
            if text {
                self.peek_utf8(&h, buf.get(h.size..).unwrap_or_default())?;
            }
            return Ok(Step::NeedMore);
        };
        self.peek = None;

        if h.op.is_control() {
            let mut payload = masked.to_vec();
            unmask(&mut payload, h.key);
            let msg = match h.op {
                OpCode::Ping => Message::Ping(payload),
                OpCode::Pong => Message::Pong(payload),
                _ => Message::Close(parse_close(&payload)?),
            };
            return Ok(Step::Message { used, msg });
        }

        let start = self.data.len();
        self.data.extend_from_slice(masked);
        let fresh = self.data.get_mut(start..).unwrap_or_default();
        unmask(fresh, h.key);
        if !h.fin {
            if text {
                self.utf8.feed(fresh)?;
            }
            self.open = Some(if text { OpCode::Text } else { OpCode::Binary });
            return Ok(Step::Used(used));
        }
        self.open = None;
        self.utf8 = Utf8::default();
        let data = mem::take(&mut self.data);
        let msg = if text {
            // Checks the whole message, including that it does not end mid-character.
            Message::Text(String::from_utf8(data).map_err(|_| WsError::BadUtf8)?)
        } else {
            Message::Binary(data)
        };
        Ok(Step::Message { used, msg })
    }

    /// Validates the payload bytes of an incomplete text frame that arrived since the last
    /// call, starting from the open message's UTF-8 state.
    fn peek_utf8(&mut self, h: &Header, avail: &[u8]) -> Result<(), WsError> {
        let utf8 = self.utf8;
        let p = self.peek.get_or_insert(Peek {
            key: h.key,
            len: h.len,
            seen: 0,
            utf8,
        });
        if p.key != h.key || p.len != h.len || p.seen > avail.len() {
            // Not the frame we were looking at: the caller did not keep its bytes.
            *p = Peek {
                key: h.key,
                len: h.len,
                seen: 0,
                utf8,
            };
        }
        let Some(new) = avail.get(p.seen..).filter(|b| !b.is_empty()) else {
            return Ok(());
        };
        let mut bytes = new.to_vec();
        let mut key = h.key;
        key.rotate_left(p.seen % 4);
        unmask(&mut bytes, key);
        p.seen = avail.len();
        p.utf8.feed(&bytes)
    }
}

/// Whether `code` may appear in a Close frame (§7.4.1, §7.4.2): 1000-1003, 1007-1014
/// (1012-1014 are IANA-registered; Autobahn 7.7/7.9 test neither way), 3000-4999.
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A Close payload (§5.5.1): empty, or a valid code followed by a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, WsError> {
    let [hi, lo, reason @ ..] = payload else {
        return if payload.is_empty() {
            Ok(None)
        } else {
            Err(WsError::BadClosePayload)
        };
    };
    let code = u16::from_be_bytes([*hi, *lo]);
    if !valid_close_code(code) {
        return Err(WsError::BadCloseCode(code));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| WsError::BadUtf8)?;
    Ok(Some(CloseFrame {
        code,
        reason: reason.to_owned(),
    }))
}

/// Appends a frame header: `b0` (FIN, opcode), MASK bit, shortest length encoding.
fn put_header(out: &mut Vec<u8>, b0: u8, masked: bool, len: usize) {
    let mask_bit = if masked { 0x80 } else { 0 };
    out.push(b0);
    if let Ok(short @ 0..=125) = u8::try_from(len) {
        out.push(mask_bit | short);
    } else if let Ok(mid) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&mid.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Appends a server→client frame: FIN set, unmasked, shortest length encoding. The caller
/// keeps control payloads within 125 bytes.
pub fn encode(opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
    put_header(out, 0x80 | opcode.bits(), false, payload.len());
    out.extend_from_slice(payload);
}

/// Appends a server Close frame with `code` and `reason`; the reason is cut at a character
/// boundary to fit the 125-byte control payload.
pub fn encode_close(code: u16, reason: &str, out: &mut Vec<u8>) {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1; // terminates: 0 is a boundary
    }
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.get(..end).unwrap_or_default().as_bytes());
    encode(OpCode::Close, &payload, out);
}

/// Appends a client→server frame masked with `key`, FIN as given (for tests and test
/// clients).
pub fn encode_masked(opcode: OpCode, fin: bool, payload: &[u8], key: [u8; 4], out: &mut Vec<u8>) {
    put_header(
        out,
        (u8::from(fin) << 7) | opcode.bits(),
        true,
        payload.len(),
    );
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    unmask(out.get_mut(start..).unwrap_or_default(), key);
}

/// XORs `payload` with the repeating `key` (§5.3), a word at a time. Masking and
/// unmasking are the same operation.
pub fn unmask(payload: &mut [u8], key: [u8; 4]) {
    // XOR of native-endian words equals a bytewise XOR with the key in order.
    let k = u32::from_ne_bytes(key);
    let mut words = payload.chunks_exact_mut(4);
    for w in &mut words {
        let x = u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) ^ k; // chunks are 4 bytes
        w.copy_from_slice(&x.to_ne_bytes());
    }
    for (b, k) in words.into_remainder().iter_mut().zip(key) {
        *b ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WsError::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    type Outcome = (Vec<Message>, Option<WsError>);

    /// Appends `chunk` to `buf` and decodes until NeedMore or an error, collecting messages.
    fn feed(
        dec: &mut Decoder,
        buf: &mut Vec<u8>,
        chunk: &[u8],
        out: &mut Vec<Message>,
    ) -> Result<(), WsError> {
        buf.extend_from_slice(chunk);
        loop {
            match dec.decode(buf)? {
                Step::NeedMore => return Ok(()),
                Step::Used(n) => drop(buf.drain(..n)),
                Step::Message { used, msg } => {
                    buf.drain(..used);
                    out.push(msg);
                }
            }
        }
    }

    /// Feeds `bytes` in the given chunks; the messages decoded and the error, if any.
    fn decode_chunks<'a>(limits: Limits, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
        let (mut dec, mut buf, mut out) = (Decoder::new(limits), Vec::new(), Vec::new());
        for c in chunks {
            if let Err(e) = feed(&mut dec, &mut buf, c, &mut out) {
                return (out, Some(e));
            }
        }
        assert!(buf.is_empty(), "{} bytes left over", buf.len());
        (out, None)
    }

    /// Checks `bytes` whole, split at every byte, and fed one byte at a time.
    fn check(limits: Limits, bytes: &[u8], want: &Outcome) {
        assert_eq!(&decode_chunks(limits, [bytes]), want, "whole");
        for cut in 1..bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(&decode_chunks(limits, [a, b]), want, "split at {cut}");
        }
        assert_eq!(&decode_chunks(limits, bytes.chunks(1)), want, "bytewise");
    }

    fn masked(frames: &[(OpCode, bool, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (op, fin, payload)) in frames.iter().enumerate() {
            encode_masked(
                *op,
                *fin,
                payload,
                [KEY[0], KEY[1], KEY[2], i as u8],
                &mut out,
            );
        }
        out
    }

    fn text(s: &str) -> Message {
        Message::Text(s.into())
    }

    fn close(code: u16, reason: &str) -> Message {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    }

    const SMALL: Limits = Limits {
        max_frame: 10,
        max_message: 16,
    };

    macro_rules! ws_case {
        ($name:ident, $bytes:expr, $msgs:expr, $err:expr) => {
            ws_case!($name, Limits::default(), $bytes, $msgs, $err);
        };
        ($name:ident, $limits:expr, $bytes:expr, $msgs:expr, $err:expr) => {
            #[test]
            fn $name() {
                let bytes: Vec<u8> = $bytes.to_vec();
                check($limits, &bytes, &($msgs, $err));
            }
        };
    }

    /// Frame-level cases, each run whole, split at every byte and bytewise. Kept one line
    /// per case so the table reads as a table.
    #[rustfmt::skip]
    mod cases {
        use super::*;

        // RFC 6455 §5.7 examples.
        ws_case!(masked_hello, [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
            vec![text("Hello")], None);
        ws_case!(unmasked_hello_refused, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], vec![], Some(Unmasked));
        ws_case!(fragmented_hello, masked(&[(OpCode::Text, false, b"Hel"), (OpCode::Continuation, true, b"lo")]),
            vec![text("Hello")], None);
        ws_case!(masked_pong_hello, [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
            vec![Message::Pong(b"Hello".to_vec())], None);
        ws_case!(ping_hello, masked(&[(OpCode::Ping, true, b"Hello")]), vec![Message::Ping(b"Hello".to_vec())], None);
        ws_case!(binary_256, masked(&[(OpCode::Binary, true, &[0xAB; 256])]),
            vec![Message::Binary(vec![0xAB; 256])], None);
        ws_case!(binary_125_126_1000, masked(&[(OpCode::Binary, true, &[1; 125]), (OpCode::Binary, true, &[2; 126]),
            (OpCode::Binary, true, &[3; 1000])]),
            vec![Message::Binary(vec![1; 125]), Message::Binary(vec![2; 126]), Message::Binary(vec![3; 1000])], None);

        // Fragmentation and interleaved control frames (§5.4).
        ws_case!(ping_between_fragments, masked(&[(OpCode::Text, false, b"Hel"), (OpCode::Ping, true, b"p"),
            (OpCode::Continuation, false, b""), (OpCode::Continuation, true, b"lo"), (OpCode::Binary, true, b"")]),
            vec![Message::Ping(b"p".to_vec()), text("Hello"), Message::Binary(vec![])], None);
        ws_case!(empty_messages, masked(&[(OpCode::Text, true, b""), (OpCode::Close, true, b"")]),
            vec![text(""), Message::Close(None)], None);
        ws_case!(close_with_reason, masked(&[(OpCode::Close, true, b"\x03\xe8bye \xce\xba")]),
            vec![close(1000, "bye κ")], None);

        // Header errors: the message before the bad frame still arrives.
        ws_case!(reserved_bits, [masked(&[(OpCode::Text, true, b"ok")]), vec![0xC1, 0x80, 0, 0, 0, 0]].concat(),
            vec![text("ok")], Some(ReservedBits));
        ws_case!(rsv3, [0x92, 0x80, 0, 0, 0, 0], vec![], Some(ReservedBits));
        ws_case!(opcode_3, [0x83, 0x80, 0, 0, 0, 0], vec![], Some(BadOpcode(3)));
        ws_case!(opcode_b, [0x8B, 0x80, 0, 0, 0, 0], vec![], Some(BadOpcode(0xB)));
        ws_case!(opcode_f, [0x0F], vec![], Some(BadOpcode(0xF)));
        ws_case!(fragmented_ping, masked(&[(OpCode::Ping, false, b"x")]), vec![], Some(FragmentedControl));
        ws_case!(ping_126, masked(&[(OpCode::Ping, true, &[0; 126])]), vec![], Some(ControlTooLong));
        ws_case!(ping_125, masked(&[(OpCode::Ping, true, &[7; 125])]), vec![Message::Ping(vec![7; 125])], None);
        ws_case!(close_126, masked(&[(OpCode::Close, true, &[b'*'; 126])]), vec![], Some(ControlTooLong));
        ws_case!(unexpected_continuation, masked(&[(OpCode::Continuation, true, b"x")]), vec![],
            Some(UnexpectedContinuation));
        ws_case!(expected_continuation, masked(&[(OpCode::Binary, false, b"a"), (OpCode::Text, true, b"b")]),
            vec![], Some(ExpectedContinuation));
        ws_case!(len64_msb, [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1], vec![],
            Some(FrameTooLarge(0x8000_0000_0000_0001)));
        ws_case!(non_minimal_lengths, [[0x82, 0xFE, 0, 1, 0, 0, 0, 0, 9].as_slice(),
            &[0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 8]].concat(),
            vec![Message::Binary(vec![9]), Message::Binary(vec![8])], None);

        // Limits are enforced from the header, before the payload arrives.
        ws_case!(frame_too_large, SMALL, [0x82, 0x8B, 0, 0, 0, 0], vec![], Some(FrameTooLarge(11)));
        ws_case!(frame_too_large_64, SMALL, [0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4], vec![],
            Some(FrameTooLarge(1 << 32)));
        ws_case!(frame_at_limit, SMALL, masked(&[(OpCode::Binary, true, &[1; 10])]),
            vec![Message::Binary(vec![1; 10])], None);
        ws_case!(message_too_large, SMALL, masked(&[(OpCode::Text, false, b"0123456789"), (OpCode::Ping, true, b""),
            (OpCode::Continuation, false, b"abcdef"), (OpCode::Continuation, true, b"!")]),
            vec![Message::Ping(vec![])], Some(MessageTooLarge));
        ws_case!(message_at_limit, SMALL, masked(&[(OpCode::Text, false, b"0123456789"),
            (OpCode::Continuation, true, b"abcdef")]), vec![text("0123456789abcdef")], None);

        // UTF-8 (§8.1) and Close payloads (§5.5.1, §7.4).
        ws_case!(bad_utf8, masked(&[(OpCode::Text, true, b"\xce\xba\xed\xa0\x80edited")]), vec![], Some(BadUtf8));
        ws_case!(truncated_utf8, masked(&[(OpCode::Text, true, b"ok\xe2\x82")]), vec![], Some(BadUtf8));
        ws_case!(truncated_utf8_fragment, masked(&[(OpCode::Text, false, b"ok\xe2\x82"),
            (OpCode::Continuation, true, b"")]), vec![], Some(BadUtf8));
        ws_case!(binary_not_checked, masked(&[(OpCode::Binary, true, b"\xff")]),
            vec![Message::Binary(vec![0xff])], None);
        ws_case!(close_one_byte, masked(&[(OpCode::Close, true, b"\x03")]), vec![], Some(BadClosePayload));
        ws_case!(close_bad_reason, masked(&[(OpCode::Close, true, b"\x03\xe8\xce\xba\xed\xa0\x80")]), vec![],
            Some(BadUtf8));
        ws_case!(close_bad_code, masked(&[(OpCode::Close, true, b"\x03\xedok")]), vec![], Some(BadCloseCode(1005)));
    }

    #[test]
    fn close_codes() {
        for code in [
            0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            let bytes = masked(&[(OpCode::Close, true, &code.to_be_bytes())]);
            check(
                Limits::default(),
                &bytes,
                &(vec![], Some(BadCloseCode(code))),
            );
        }
        for code in [
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ] {
            let bytes = masked(&[(OpCode::Close, true, &code.to_be_bytes())]);
            check(Limits::default(), &bytes, &(vec![close(code, "")], None));
        }
    }

    #[test]
    fn close_code_mapping() {
        assert_eq!(FrameTooLarge(1).close_code(), 1009);
        assert_eq!(MessageTooLarge.close_code(), 1009);
        assert_eq!(BadUtf8.close_code(), 1007);
        for e in [
            Unmasked,
            ReservedBits,
            BadOpcode(3),
            FragmentedControl,
            ControlTooLong,
            UnexpectedContinuation,
            ExpectedContinuation,
            BadClosePayload,
            BadCloseCode(1005),
        ] {
            assert_eq!(e.close_code(), 1002, "{e}");
        }
    }

    /// Every split of a text across two fragments, valid and invalid.
    #[test]
    fn utf8_split_across_fragments() {
        let good = "aκ€𝄞b".as_bytes(); // 1-, 2-, 3- and 4-byte sequences
        let bad = b"\xce\xba\xe1\xbd\xb9\xed\xa0\x80z"; // a surrogate after valid text
        for cut in 0..=good.len() {
            let (a, b) = good.split_at(cut);
            let bytes = masked(&[(OpCode::Text, false, a), (OpCode::Continuation, true, b)]);
            check(Limits::default(), &bytes, &(vec![text("aκ€𝄞b")], None));
        }
        for cut in 0..=bad.len() {
            let (a, b) = bad.split_at(cut);
            let bytes = masked(&[(OpCode::Text, false, a), (OpCode::Continuation, true, b)]);
            check(Limits::default(), &bytes, &(vec![], Some(BadUtf8)));
        }
    }

    /// Autobahn 6.4.x: invalid UTF-8 fails once certain, without waiting for the rest.
    #[test]
    fn utf8_fails_fast() {
        let bad = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"; // 6.4.1's first two frames
        let rest = [b'x'; 100];
        // Across fragments: the non-final fragment already fails.
        let mut dec = Decoder::new(Limits::default());
        let frame = masked(&[(OpCode::Text, false, bad)]);
        assert_eq!(dec.decode(&frame), Err(BadUtf8));
        // Inside one frame whose tail has not arrived (chunks of a single frame, 6.4.3).
        let whole = masked(&[(OpCode::Text, true, &[bad.as_slice(), &rest].concat())]);
        let header = whole.len() - bad.len() - rest.len();
        let mut dec = Decoder::new(Limits::default());
        for end in 0..header + bad.len() - 1 {
            assert_eq!(dec.decode(&whole[..end]), Ok(Step::NeedMore), "at {end}");
        }
        assert_eq!(dec.decode(&whole[..header + bad.len() - 1]), Err(BadUtf8)); // \xed\xa0 is certain
        // Same, in a continuation of a text message, with the bad sequence split by the frames.
        let mut dec = Decoder::new(Limits::default());
        let first = masked(&[(OpCode::Text, false, b"ok\xed")]);
        assert_eq!(dec.decode(&first), Ok(Step::Used(first.len())));
        let mut second = Vec::new();
        encode_masked(
            OpCode::Continuation,
            true,
            &[b"\xa0".as_slice(), &rest].concat(),
            KEY,
            &mut second,
        );
        assert_eq!(dec.decode(&second[..6]), Ok(Step::NeedMore));
        assert_eq!(dec.decode(&second[..7]), Err(BadUtf8));
        // A valid incomplete prefix is not an error.
        let mut dec = Decoder::new(Limits::default());
        assert_eq!(
            dec.decode(&whole[..header + bad.len() - 2]),
            Ok(Step::NeedMore)
        );
    }

    #[test]
    fn rfc6455_5_7_encodings() {
        let mut out = Vec::new();
        encode(OpCode::Text, b"Hello", &mut out);
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        out.clear();
        encode(OpCode::Ping, b"Hello", &mut out);
        assert_eq!(out, [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        out.clear();
        encode(OpCode::Binary, &[0; 256], &mut out);
        assert_eq!(out[..4], [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(out.len(), 4 + 256);
        out.clear();
        encode(OpCode::Binary, &[0; 65536], &mut out);
        assert_eq!(out[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(out.len(), 10 + 65536);
        out.clear();
        encode_masked(OpCode::Text, true, b"Hello", KEY, &mut out);
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        out.clear();
        encode_masked(OpCode::Continuation, false, &[], KEY, &mut out);
        assert_eq!(out, [0x00, 0x80, 0x37, 0xfa, 0x21, 0x3d]);
    }

    /// RFC 6455 §5.7's 64 KiB binary frame, masked: whole, bytewise, and split at every
    /// header byte and at a stride through the payload (every byte would take minutes).
    #[test]
    fn binary_64k() {
        let payload: Vec<u8> = (0..65536u32).map(|i| i as u8).collect();
        let mut bytes = Vec::new();
        encode_masked(OpCode::Binary, true, &payload, KEY, &mut bytes);
        assert_eq!(
            bytes[..14],
            [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 0x37, 0xfa, 0x21, 0x3d]
        );
        let want = (vec![Message::Binary(payload)], None);
        assert_eq!(decode_chunks(Limits::default(), [bytes.as_slice()]), want);
        assert_eq!(decode_chunks(Limits::default(), bytes.chunks(1)), want);
        for cut in (1..20)
            .chain((20..bytes.len()).step_by(997))
            .chain(bytes.len() - 3..bytes.len())
        {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(
                decode_chunks(Limits::default(), [a, b]),
                want,
                "split at {cut}"
            );
        }
    }

    #[test]
    fn encode_close_fits_control_frame() {
        let mut out = Vec::new();
        encode_close(1000, "", &mut out);
        assert_eq!(out, [0x88, 0x02, 0x03, 0xe8]);
        out.clear();
        let long = "κ".repeat(100); // 200 bytes: cut to 61 characters = 122 bytes
        encode_close(1001, &long, &mut out);
        assert_eq!(out[..4], [0x88, 124, 0x03, 0xe9]);
        assert_eq!(&out[4..], "κ".repeat(61).as_bytes());
    }

    #[test]
    fn unmask_every_length_and_alignment() {
        let key = [1, 2, 4, 8];
        let data: Vec<u8> = (0..40).collect();
        for start in 0..4 {
            for len in 0..data.len() - start {
                let mut got = data[start..start + len].to_vec();
                unmask(&mut got, key);
                let want: Vec<u8> = data[start..start + len]
                    .iter()
                    .zip(key.iter().cycle())
                    .map(|(b, k)| b ^ k)
                    .collect();
                assert_eq!(got, want, "start {start} len {len}");
            }
        }
    }
}
