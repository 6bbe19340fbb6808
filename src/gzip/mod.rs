//! gzip (RFC 1952) over a small streaming DEFLATE (RFC 1951) compressor, sans-IO.
//!
//! This module owns the bytes of `Content-Encoding: gzip`: the gzip member header, the
//! DEFLATE stream ([`deflate`]), CRC-32 ([`crc32`]) and the ISIZE trailer. Deciding *whether*
//! to compress (Accept-Encoding, status, size, content type) is the http layer's business
//! (`http::encoding`); sockets and buffers are the reactor's.
//!
//! ```text
//!   GzipEncoder::new ─▶ write* ─▶ (sync_flush ─▶ write*)* ─▶ finish ─▶ Finished
//!                        header on the first call      CRC32 + ISIZE after the final block
//! ```
//!
//! # Why hand-rolled
//!
//! The goal is a bounded state per compressed stream: an event stream held open for hours
//! by each phone must not cost a zlib-sized compressor (zlib level 6 keeps a 32 KiB window,
//! 64 KiB of hash chains and a 64 KiB symbol buffer, ~260 KiB; miniz_oxide is of that
//! order too). [`GzipEncoder`] is one inline struct of under 16 KiB (asserted in a test):
//! an 8 KiB window, a 4 KiB hash table of two-way buckets, 2.5 KiB of match records and the
//! symbol counts. The price is ratio: on hapid's payloads it sends ~25-50 % more bytes than
//! zlib's default level, at about half the CPU per byte (benches/gzip.rs measures both).
//!
//! # Flushing
//!
//! [`GzipEncoder::sync_flush`] ends the pending block and adds an empty stored block, like
//! zlib's `Z_SYNC_FLUSH`: the output so far is byte-aligned and decodes to exactly the input
//! so far, while the history stays, so the next event still matches against the last ones.
//!
//! # Event streams (how the reactor uses it)
//!
//! An `/api/events` stream whose request accepts gzip gets `Content-Encoding: gzip` in its
//! head and one boxed [`GzipEncoder`] next to its write buffer (`reactor::conn::Conn`). Each
//! SSE frame is compressed and sync-flushed into one HTTP chunk, so a browser's EventSource
//! sees every event the moment it arrives; a keep-alive comment is an event like any other.
//! Memory per stream is the fixed box (counted in `GzipEncoder::SIZE`, under 16 KiB) plus
//! the write buffer, whose bound (`SSE_MAX_PENDING`) counts compressed bytes: the encoder
//! itself never holds more than its window, and each flush empties its output. The encoder
//! is dropped with the connection; no `finish` is sent, as an event stream only ends by the
//! connection closing.
//!
//! Never panics: any input, any sequence of calls. Calls after `finish` do nothing and say
//! so.

pub mod crc32;
pub mod deflate;
pub mod huffman;

use crc32::Crc32;
use deflate::Deflate;

/// The gzip member header (RFC 1952 §2.3): ID1 ID2, CM = 8 (deflate), no flags, MTIME 0 (none
/// given), XFL 0, OS 255 (unknown).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// The stream was already finished; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished;

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("gzip stream already finished")
    }
}

impl std::error::Error for Finished {}

/// A streaming gzip compressor. Output is appended to the caller's `Vec`.
#[derive(Debug, Clone)]
pub struct GzipEncoder {
    deflate: Deflate,
    crc: Crc32,
    /// Input length mod 2^32 (ISIZE).
    size: u32,
    started: bool,
    finished: bool,
}

impl Default for GzipEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl GzipEncoder {
    /// Bytes of state per stream (all inline; no heap behind it).
    pub const SIZE: usize = std::mem::size_of::<GzipEncoder>();

    /// A fresh stream. Nothing is output until the first call.
    pub fn new() -> Self {
        GzipEncoder {
            deflate: Deflate::new(),
            crc: Crc32::new(),
            size: 0,
            started: false,
            finished: false,
        }
    }

    /// A fresh stream on the heap: one allocation of [`GzipEncoder::SIZE`] bytes.
    pub fn boxed() -> Box<Self> {
        Box::new(Self::new())
    }

    fn start(&mut self, out: &mut Vec<u8>) -> Result<(), Finished> {
        if self.finished {
            return Err(Finished);
        }
        if !self.started {
            out.extend_from_slice(&HEADER);
            self.started = true;
        }
        Ok(())
    }

    /// Compresses `input`; some of it may stay buffered until the next flush.
    pub fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Finished> {
        self.start(out)?;
        self.crc.update(input);
        self.size = self.size.wrapping_add(input.len() as u32);
        self.deflate.write(input, out);
        Ok(())
    }

    /// Outputs everything written so far, decodable on arrival (see the module docs).
    pub fn sync_flush(&mut self, out: &mut Vec<u8>) -> Result<(), Finished> {
        self.start(out)?;
        self.deflate.sync_flush(out);
        Ok(())
    }

    /// Ends the stream: final block, CRC-32, ISIZE. Later calls return [`Finished`].
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Finished> {
        self.start(out)?;
        self.deflate.finish(out);
        out.extend_from_slice(&self.crc.value().to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        self.finished = true;
        Ok(())
    }
}

/// `data` as one whole gzip member appended to `out`.
pub fn compress(data: &[u8], out: &mut Vec<u8>) {
    let mut e = GzipEncoder::boxed();
    // A fresh encoder is never finished.
    let _ = e.write(data, out);
    let _ = e.finish(out);
}

#[cfg(test)]
mod tests;
