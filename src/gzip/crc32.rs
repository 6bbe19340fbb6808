//! CRC-32 as gzip's trailer wants it (RFC 1952 §8: the ISO 3309 / ITU-T V.42 polynomial,
//! reflected, initial value and final XOR all ones).
//!
//! Slicing by four over one static 4 KiB table: a few times faster than a byte at a time, and
//! the table is shared by every stream (it is not part of any encoder's state).

/// The reflected polynomial 0x04C11DB7.
const POLY: u32 = 0xEDB8_8320;

/// `TABLE[0]` is the classic byte table; `TABLE[k][b]` is the CRC of `b` followed by `k` zero
/// bytes, which lets four input bytes be folded in per step.
static TABLE: [[u32; 256]; 4] = build();

const fn build() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 4 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            k += 1;
        }
        i += 1;
    }
    t
}

/// A running CRC-32.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crc32 {
    /// The register, kept inverted between calls so the default (0) is the empty CRC.
    state: u32,
}

impl Crc32 {
    /// The CRC of nothing.
    pub fn new() -> Self {
        Crc32 { state: 0 }
    }

    /// Folds `data` in.
    pub fn update(&mut self, data: &[u8]) {
        let mut c = !self.state;
        let mut words = data.chunks_exact(4);
        for w in &mut words {
            c ^= u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            c = TABLE[3][(c & 0xff) as usize]
                ^ TABLE[2][((c >> 8) & 0xff) as usize]
                ^ TABLE[1][((c >> 16) & 0xff) as usize]
                ^ TABLE[0][(c >> 24) as usize];
        }
        for &b in words.remainder() {
            c = (c >> 8) ^ TABLE[0][((c ^ u32::from(b)) & 0xff) as usize];
        }
        self.state = !c;
    }

    /// The CRC of everything folded in so far.
    pub fn value(&self) -> u32 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc(data: &[u8]) -> u32 {
        let mut c = Crc32::new();
        c.update(data);
        c.value()
    }

    #[test]
    fn known_answers() {
        // The CRC-32 check value of the catalogue of parametrised CRCs ("123456789").
        assert_eq!(crc(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc(b""), 0);
        assert_eq!(crc(b"a"), 0xE8B7_BE43);
        assert_eq!(
            crc(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn split_anywhere_gives_the_same_crc() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let whole = crc(&data);
        for cut in 0..data.len() {
            let mut c = Crc32::new();
            c.update(&data[..cut]);
            c.update(&data[cut..]);
            assert_eq!(c.value(), whole, "cut at {cut}");
        }
    }
}
