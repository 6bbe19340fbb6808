//! Client-side framing, sans-IO: HTTP/1.1 response heads (httparse), chunked bodies,
//! RFC 6455 frames (server frames unmasked in, masked client frames out). Minimal on purpose:
//! enough for hapid and the floors, checked, never panicking on what the server sends.

/// A parsed response head.
pub struct Head {
    /// Bytes of the head, blank line included.
    pub used: usize,
    pub status: u16,
    pub content_length: Option<usize>,
    pub chunked: bool,
}

/// `Ok(None)`: need more bytes.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut hs = [httparse::EMPTY_HEADER; 48];
    let mut r = httparse::Response::new(&mut hs);
    let used = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("bad response head: {e}")),
    };
    let mut content_length = None;
    let mut chunked = false;
    for h in r.headers.iter() {
        let v = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            content_length = v.parse().ok();
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.to_ascii_lowercase().contains("chunked");
        }
    }
    Ok(Some(Head {
        used,
        status: r.code.unwrap_or(0),
        content_length,
        chunked,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Size,
    Data(usize),
    DataEnd,
    Last,
    Done,
}

/// An incremental `Transfer-Encoding: chunked` decoder (no trailers expected).
#[derive(Debug)]
pub struct Chunked(St);

impl Default for Chunked {
    fn default() -> Self {
        Chunked(St::Size)
    }
}

impl Chunked {
    /// Whether the terminating zero-size chunk has been read.
    pub fn done(&self) -> bool {
        self.0 == St::Done
    }

    /// Appends the data in `input` to `out`; returns the bytes of `input` used (the rest is
    /// an incomplete size line or CRLF, to be offered again with more bytes).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, String> {
        let mut i = 0;
        loop {
            match self.0 {
                St::Size => {
                    let Some(p) = input[i..].windows(2).position(|w| w == b"\r\n") else {
                        if input.len() - i > 64 {
                            return Err("chunk size line too long".into());
                        }
                        return Ok(i);
                    };
                    let line = std::str::from_utf8(&input[i..i + p]).map_err(|_| "chunk size")?;
                    let hex = line.split(';').next().unwrap_or("").trim();
                    let n = usize::from_str_radix(hex, 16)
                        .map_err(|_| format!("chunk size {hex:?}"))?;
                    i += p + 2;
                    self.0 = if n == 0 { St::Last } else { St::Data(n) };
                }
                St::Data(n) => {
                    let take = n.min(input.len() - i);
                    if take == 0 {
                        return Ok(i);
                    }
                    out.extend_from_slice(&input[i..i + take]);
                    i += take;
                    self.0 = if take == n {
                        St::DataEnd
                    } else {
                        St::Data(n - take)
                    };
                }
                St::DataEnd | St::Last => {
                    if input.len() - i < 2 {
                        return Ok(i);
                    }
                    if &input[i..i + 2] != b"\r\n" {
                        return Err("chunk not followed by CRLF".into());
                    }
                    i += 2;
                    self.0 = if self.0 == St::Last {
                        St::Done
                    } else {
                        St::Size
                    };
                }
                St::Done => return Ok(i),
            }
        }
    }
}

/// One decoded frame header: bytes used, FIN, opcode, payload range in the buffer.
pub type Frame = (usize, bool, u8, std::ops::Range<usize>);

/// One server frame; `Ok(None)`: need more.
pub fn ws_frame(buf: &[u8], max: usize) -> Result<Option<Frame>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (fin, op) = (buf[0] & 0x80 != 0, buf[0] & 0x0f);
    if buf[1] & 0x80 != 0 {
        return Err("masked server frame".into());
    }
    let (len, hl) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        126 | 127 => return Ok(None),
        n => (n as u64, 2),
    };
    if len > max as u64 {
        return Err(format!("frame of {len} bytes"));
    }
    let end = hl + len as usize; // checked against max above
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((end, fin, op, hl..end)))
}

/// Appends one masked client frame (`op` 1 text, 9 ping, 10 pong, 8 close).
pub fn ws_encode(out: &mut Vec<u8>, op: u8, payload: &[u8], key: [u8; 4]) {
    out.push(0x80 | op);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    for (i, b) in out[start..].iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}
