//! Bounded write buffer with a read offset (no `drain` per write), STYLE.md §6.

/// Outgoing bytes of one connection.
#[derive(Debug, Default)]
pub struct WriteBuf {
    buf: Vec<u8>,
    pos: usize,
}

impl WriteBuf {
    /// Bytes not yet written.
    pub fn pending(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Number of bytes not yet written.
    pub fn len(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether everything has been written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.is_empty() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Gives access to the tail for in-place serialization.
    pub fn vec(&mut self) -> &mut Vec<u8> {
        if self.is_empty() {
            self.buf.clear();
            self.pos = 0;
        }
        &mut self.buf
    }

    /// Marks `n` bytes written; compacts when drained, shrinks big idle buffers.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if self.buf.capacity() > 256 * 1024 {
                self.buf = Vec::new();
            }
        } else if self.pos > 1024 * 1024 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }
}
