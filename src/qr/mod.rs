//! A small QR code encoder (ISO/IEC 18004:2015), sans-IO: bytes in, a module matrix out, and a
//! rendering of it with Unicode half blocks for a terminal.
//!
//! It exists for one job: the start-up banner shows the phone URL (`<public URL>/?token=…`) as a
//! QR code, so pairing a phone is pointing its camera at the terminal. So it does only what that
//! needs: byte mode (§7.4.5; one segment, ISO-8859-1/UTF-8 bytes as given, no ECI), versions 1
//! to [`MAX_VERSION`] (up to 271 bytes at level L), all four error correction levels, the eight
//! masks with the penalty rules of §7.8.3. It leaves out the numeric, alphanumeric and kanji
//! modes, structured append, ECI and Micro QR.
//!
//! The pipeline, each step a function below:
//!
//! ```text
//! data ──► bit stream (mode, count, data, terminator, pad; §7.4) ──► data codewords
//!      ──► Reed–Solomon ECC per block over GF(256), poly 0x11D (§7.5) ──► interleaved (§7.6)
//!      ──► function patterns + zig-zag placement (§7.7) ──► mask with the least penalty (§7.8)
//!      ──► format (§7.9) and version information (§7.10)
//! ```
//!
//! Nothing here panics on any input: data longer than the largest version holds is
//! [`QrError::TooLong`]; every index is within the matrix by construction (`size` is at most
//! 57) and module reads outside it answer "light".

use std::fmt;

/// The largest version encoded (57×57 modules): a phone URL with a token is about 80 bytes.
pub const MAX_VERSION: u8 = 10;

/// Error correction level (§7.5.1): how much of the symbol may be damaged and still read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ecc {
    /// About 7% of codewords recoverable.
    Low,
    /// About 15%.
    Medium,
    /// About 25%.
    Quartile,
    /// About 30%.
    High,
}

impl Ecc {
    fn index(self) -> usize {
        match self {
            Ecc::Low => 0,
            Ecc::Medium => 1,
            Ecc::Quartile => 2,
            Ecc::High => 3,
        }
    }

    /// The two format-information bits of the level (Table 12): L=01, M=00, Q=11, H=10.
    fn format_bits(self) -> u32 {
        match self {
            Ecc::Low => 1,
            Ecc::Medium => 0,
            Ecc::Quartile => 3,
            Ecc::High => 2,
        }
    }
}

/// Why a symbol could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QrError {
    /// The data does not fit in the version asked for, or in [`MAX_VERSION`].
    TooLong {
        /// Bytes given.
        len: usize,
        /// Most bytes that fit at this level (and version, when one was asked for).
        max: usize,
    },
    /// A version outside 1..=[`MAX_VERSION`] or a mask outside 0..=7 was asked for.
    BadParameter,
}

impl fmt::Display for QrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QrError::TooLong { len, max } => {
                write!(
                    f,
                    "{len} bytes do not fit in a QR code here (at most {max})"
                )
            }
            QrError::BadParameter => write!(f, "QR version or mask out of range"),
        }
    }
}

impl std::error::Error for QrError {}

/// Error correction codewords per block, by level (L, M, Q, H) and version (Table 9).
const ECC_PER_BLOCK: [[u8; 11]; 4] = [
    [0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18],
    [0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26],
    [0, 13, 22, 18, 26, 18, 24, 18, 22, 20, 24],
    [0, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28],
];

/// Number of error correction blocks, by level and version (Table 9).
const BLOCKS: [[u8; 11]; 4] = [
    [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4],
    [0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5],
    [0, 1, 1, 2, 2, 4, 4, 6, 6, 8, 8],
    [0, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8],
];

/// A QR code symbol: a square of dark and light modules, without the quiet zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrCode {
    version: u8,
    size: usize,
    ecc: Ecc,
    mask: u8,
    /// Row-major, `true` = dark.
    modules: Vec<bool>,
}

impl QrCode {
    /// Encodes `data` in byte mode at level `ecc`, in the smallest version it fits, with the
    /// mask of least penalty. Data longer than [`QrCode::capacity`] of [`MAX_VERSION`] is
    /// `TooLong`.
    pub fn encode(data: &[u8], ecc: Ecc) -> Result<QrCode, QrError> {
        QrCode::encode_with(data, ecc, None, None)
    }

    /// As [`QrCode::encode`], with the version and/or the mask fixed (tests, and callers who
    /// want a stable size). A version too small for the data is `TooLong`.
    pub fn encode_with(
        data: &[u8],
        ecc: Ecc,
        version: Option<u8>,
        mask: Option<u8>,
    ) -> Result<QrCode, QrError> {
        if version.is_some_and(|v| !(1..=MAX_VERSION).contains(&v)) || mask.is_some_and(|m| m > 7) {
            return Err(QrError::BadParameter);
        }
        let version = match version {
            Some(v) if data.len() <= capacity(v, ecc) => v,
            Some(v) => {
                return Err(QrError::TooLong {
                    len: data.len(),
                    max: capacity(v, ecc),
                });
            }
            None => (1..=MAX_VERSION)
                .find(|&v| data.len() <= capacity(v, ecc))
                .ok_or(QrError::TooLong {
                    len: data.len(),
                    max: capacity(MAX_VERSION, ecc),
                })?,
        };
        let codewords = add_ecc_and_interleave(&data_codewords(data, version, ecc), version, ecc);
        let mut m = Matrix::new(version);
        m.draw_function_patterns();
        m.draw_codewords(&codewords);
        let mask = match mask {
            Some(k) => k,
            None => (0..8u8)
                .min_by_key(|&k| {
                    let mut t = m.clone();
                    t.apply_mask(k);
                    t.penalty()
                })
                .unwrap_or(0),
        };
        m.apply_mask(mask);
        m.draw_format(Some((ecc, mask)));
        m.draw_version(true);
        Ok(QrCode {
            version,
            size: m.size,
            ecc,
            mask,
            modules: m.dark,
        })
    }

    /// The most bytes byte mode holds in `version` at `ecc` (0 for a version out of range).
    pub fn capacity(version: u8, ecc: Ecc) -> usize {
        capacity(version, ecc)
    }

    /// The version (1..=[`MAX_VERSION`]).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The error correction level.
    pub fn ecc(&self) -> Ecc {
        self.ecc
    }

    /// The mask applied (0..=7).
    pub fn mask(&self) -> u8 {
        self.mask
    }

    /// Modules per side (`4 * version + 17`).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the module at column `x`, row `y` is dark; outside the symbol: light.
    pub fn dark(&self, x: usize, y: usize) -> bool {
        x < self.size && y < self.size && self.modules[y * self.size + x]
    }

    /// The symbol as text, two module rows per line with `▀ ▄ █` and spaces, surrounded by a
    /// quiet zone of `quiet` modules (the standard asks for 4).
    ///
    /// A block is drawn for a **light** module, because a terminal draws characters light on
    /// a dark background by default; with `ansi`, each line also sets white on black (and
    /// resets at its end), so the code reads right on a light-themed terminal too.
    pub fn to_half_blocks(&self, quiet: usize, ansi: bool) -> String {
        let quiet = quiet.min(16);
        let side = self.size + 2 * quiet;
        let light = |x: usize, y: usize| {
            let (Some(x), Some(y)) = (x.checked_sub(quiet), y.checked_sub(quiet)) else {
                return true;
            };
            !self.dark(x, y)
        };
        let mut out = String::with_capacity((side + 12) * side.div_ceil(2) * 3);
        let mut y = 0;
        while y < side {
            if ansi {
                out.push_str("\x1b[97;40m");
            }
            for x in 0..side {
                let top = light(x, y);
                // The last line of an odd side has no lower row: the terminal's background.
                let bottom = y + 1 < side && light(x, y + 1);
                out.push(match (top, bottom) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            if ansi {
                out.push_str("\x1b[0m");
            }
            out.push('\n');
            y += 2;
        }
        out
    }
}

/// Data codewords of `version` at `ecc`: all codewords minus the error correction ones.
fn num_data_codewords(version: u8, ecc: Ecc) -> usize {
    let v = usize::from(version);
    raw_modules(version) / 8
        - usize::from(ECC_PER_BLOCK[ecc.index()][v]) * usize::from(BLOCKS[ecc.index()][v])
}

fn capacity(version: u8, ecc: Ecc) -> usize {
    if !(1..=MAX_VERSION).contains(&version) {
        return 0;
    }
    // 4 mode bits and an 8- or 16-bit count before the data.
    let header_bits = 4 + count_bits(version);
    (num_data_codewords(version, ecc) * 8 - header_bits) / 8
}

/// Width of the byte-mode character count (Table 3): 8 bits to version 9, 16 from 10.
fn count_bits(version: u8) -> usize {
    if version <= 9 { 8 } else { 16 }
}

/// Modules left for data and ECC once the function patterns and the format and version
/// information are placed (Table 1's "data modules" column, remainder bits included).
fn raw_modules(version: u8) -> usize {
    let v = usize::from(version);
    let mut n = (16 * v + 128) * v + 64;
    if v >= 2 {
        let align = v / 7 + 2;
        n -= (25 * align - 10) * align - 55;
        if v >= 7 {
            n -= 36;
        }
    }
    n
}

/// Bit stream of §7.4: mode 0100, the count, the bytes, a terminator of up to four zeros,
/// zeros to a byte boundary, then 0xEC 0x11 alternating to fill the data capacity. The caller
/// has checked that `data` fits.
fn data_codewords(data: &[u8], version: u8, ecc: Ecc) -> Vec<u8> {
    let capacity_bits = num_data_codewords(version, ecc) * 8;
    let mut bits = Bits::default();
    bits.push(0b0100, 4);
    bits.push(data.len() as u32, count_bits(version)); // fits: len <= 271
    for &b in data {
        bits.push(u32::from(b), 8);
    }
    bits.push(0, (capacity_bits - bits.len).min(4));
    bits.push(0, (8 - bits.len % 8) % 8);
    let mut out = bits.bytes;
    let mut pad = [0xEC, 0x11].into_iter().cycle();
    while out.len() < capacity_bits / 8 {
        out.push(pad.next().unwrap_or(0xEC));
    }
    out
}

#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    len: usize,
}

impl Bits {
    /// Appends the low `n` bits of `v` (n <= 16), most significant first.
    fn push(&mut self, v: u32, n: usize) {
        for i in (0..n).rev() {
            if self.len.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if (v >> i) & 1 == 1
                && let Some(last) = self.bytes.last_mut()
            {
                *last |= 0x80 >> (self.len % 8);
            }
            self.len += 1;
        }
    }
}

/// Splits the data codewords into blocks (short blocks first, long ones one codeword longer;
/// §7.5.2), appends each block's Reed–Solomon codewords, and interleaves: the i-th data
/// codeword of every block in turn, then the i-th ECC codeword of every block (§7.6).
fn add_ecc_and_interleave(data: &[u8], version: u8, ecc: Ecc) -> Vec<u8> {
    let v = usize::from(version);
    let blocks = usize::from(BLOCKS[ecc.index()][v]);
    let ecc_len = usize::from(ECC_PER_BLOCK[ecc.index()][v]);
    let raw = raw_modules(version) / 8;
    let short = blocks - raw % blocks;
    let short_len = raw / blocks; // data + ecc of a short block
    let generator = rs_generator(ecc_len);
    let mut split: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(blocks);
    let mut at = 0;
    for i in 0..blocks {
        let n = short_len - ecc_len + usize::from(i >= short);
        let d = data.get(at..at + n).unwrap_or_default().to_vec();
        at += n;
        let e = rs_remainder(&d, &generator);
        split.push((d, e));
    }
    let mut out = Vec::with_capacity(raw);
    for i in 0..=short_len - ecc_len {
        for (d, _) in &split {
            if let Some(&b) = d.get(i) {
                out.push(b);
            }
        }
    }
    for i in 0..ecc_len {
        for (_, e) in &split {
            if let Some(&b) = e.get(i) {
                out.push(b);
            }
        }
    }
    out
}

/// Multiplication in GF(2^8) with the QR field polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D).
fn gf_mul(a: u8, b: u8) -> u8 {
    let (mut a, mut b, mut p) = (u16::from(a), b, 0u16);
    while b != 0 {
        if b & 1 == 1 {
            p ^= a;
        }
        a <<= 1;
        if a & 0x100 != 0 {
            a ^= 0x11D;
        }
        b >>= 1;
    }
    p as u8 // below 0x100: every a was reduced
}

/// The generator polynomial (x - α^0)(x - α^1)…(x - α^(n-1)), coefficients from the highest
/// power down with the leading 1 left out (§7.5.2, Annex A).
fn rs_generator(n: usize) -> Vec<u8> {
    let mut g = vec![0u8; n];
    if let Some(last) = g.last_mut() {
        *last = 1;
    }
    let mut root = 1u8;
    for _ in 0..n {
        for j in 0..n {
            g[j] = gf_mul(g[j], root) ^ g.get(j + 1).copied().unwrap_or(0);
        }
        root = gf_mul(root, 2);
    }
    g
}

/// The ECC codewords: the remainder of data(x)·x^n divided by the generator.
fn rs_remainder(data: &[u8], generator: &[u8]) -> Vec<u8> {
    let mut r = vec![0u8; generator.len()];
    for &b in data {
        let factor = b ^ r.first().copied().unwrap_or(0);
        r.rotate_left(1);
        if let Some(last) = r.last_mut() {
            *last = 0;
        }
        for (ri, &gi) in r.iter_mut().zip(generator) {
            *ri ^= gf_mul(gi, factor);
        }
    }
    r
}

/// The matrix under construction: modules and which of them are function patterns.
#[derive(Clone)]
struct Matrix {
    version: u8,
    size: usize,
    dark: Vec<bool>,
    function: Vec<bool>,
}

impl Matrix {
    fn new(version: u8) -> Matrix {
        let size = usize::from(version) * 4 + 17;
        Matrix {
            version,
            size,
            dark: vec![false; size * size],
            function: vec![false; size * size],
        }
    }

    fn get(&self, x: usize, y: usize) -> bool {
        x < self.size && y < self.size && self.dark[y * self.size + x]
    }

    /// Sets a function module; coordinates outside the matrix are ignored.
    fn set_function(&mut self, x: isize, y: isize, dark: bool) {
        let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y)) else {
            return;
        };
        if x < self.size && y < self.size {
            self.dark[y * self.size + x] = dark;
            self.function[y * self.size + x] = true;
        }
    }

    fn draw_function_patterns(&mut self) {
        let s = self.size as isize;
        // Timing patterns (§7.3.5), row and column 6.
        for i in 0..s {
            self.set_function(6, i, i % 2 == 0);
            self.set_function(i, 6, i % 2 == 0);
        }
        // Finder patterns with their separators (§7.3.2, §7.3.3).
        for (cx, cy) in [(3, 3), (s - 4, 3), (3, s - 4)] {
            for dy in -4..=4isize {
                for dx in -4..=4isize {
                    let d = dx.abs().max(dy.abs());
                    self.set_function(cx + dx, cy + dy, d != 2 && d != 4);
                }
            }
        }
        // Alignment patterns (§7.3.6), except the three that would overlap finders.
        let pos = alignment_positions(self.version);
        let n = pos.len();
        for (i, &ay) in pos.iter().enumerate() {
            for (j, &ax) in pos.iter().enumerate() {
                let corner = |a: usize| a == 0 || a == n - 1;
                if corner(i) && corner(j) && !(i == n - 1 && j == n - 1) {
                    continue;
                }
                for dy in -2..=2isize {
                    for dx in -2..=2isize {
                        self.set_function(ax + dx, ay + dy, dx.abs().max(dy.abs()) != 1);
                    }
                }
            }
        }
        // Reserve the format and version areas, light: they are drawn once the mask is
        // chosen, and the masks are compared with them light, as the `qrcode` package does
        // (the standard leaves this open, and every mask reads the same).
        self.draw_format(None);
        self.draw_version(false);
    }

    /// Format information (§7.9): level and mask, BCH(15,5) with 0x537, XOR 0x5412; one copy
    /// around the top-left finder, one split between the other two, and the dark module.
    /// `None` marks the same modules, all light.
    fn draw_format(&mut self, info: Option<(Ecc, u8)>) {
        let bits = info.map(|(ecc, mask)| {
            let data = (ecc.format_bits() << 3) | u32::from(mask);
            let mut rem = data;
            for _ in 0..10 {
                rem = (rem << 1) ^ ((rem >> 9) * 0x537);
            }
            ((data << 10) | rem) ^ 0x5412
        });
        let bit = |i: u32| bits.is_some_and(|b| (b >> i) & 1 == 1);
        let s = self.size as isize;
        for i in 0..=5 {
            self.set_function(8, i as isize, bit(i));
        }
        self.set_function(8, 7, bit(6));
        self.set_function(8, 8, bit(7));
        self.set_function(7, 8, bit(8));
        for i in 9..15 {
            self.set_function(14 - i as isize, 8, bit(i));
        }
        for i in 0..8 {
            self.set_function(s - 1 - i as isize, 8, bit(i));
        }
        for i in 8..15 {
            self.set_function(8, s - 15 + i as isize, bit(i));
        }
        self.set_function(8, s - 8, bits.is_some());
    }

    /// Version information (§7.10), versions 7 and up: 6 bits, BCH(18,6) with 0x1F25, in the
    /// 6×3 blocks beside the top-right and bottom-left finders; all light unless `real`.
    fn draw_version(&mut self, real: bool) {
        if self.version < 7 {
            return;
        }
        let v = u32::from(self.version);
        let mut rem = v;
        for _ in 0..12 {
            rem = (rem << 1) ^ ((rem >> 11) * 0x1F25);
        }
        let bits = (v << 12) | rem;
        let s = self.size as isize;
        for i in 0..18isize {
            let dark = real && (bits >> i) & 1 == 1;
            let (a, b) = (s - 11 + i % 3, i / 3);
            self.set_function(a, b, dark);
            self.set_function(b, a, dark);
        }
    }

    /// Places the codewords' bits in two-module columns, right to left, alternately upwards
    /// and downwards, skipping function modules and the vertical timing column (§7.7.3).
    /// Modules left over (remainder bits) stay light.
    fn draw_codewords(&mut self, data: &[u8]) {
        let total = data.len() * 8;
        let mut i = 0;
        let mut right = self.size - 1;
        loop {
            if right == 6 {
                right = 5;
            }
            for vert in 0..self.size {
                for j in 0..2 {
                    let x = right - j;
                    let upward = (right + 1) & 2 == 0;
                    let y = if upward { self.size - 1 - vert } else { vert };
                    let at = y * self.size + x;
                    if !self.function[at] && i < total {
                        self.dark[at] = (data[i >> 3] >> (7 - (i & 7))) & 1 == 1;
                        i += 1;
                    }
                }
            }
            if right < 2 {
                break;
            }
            right -= 2;
        }
    }

    /// XORs mask `k` (Table 10) onto every non-function module; applying it twice undoes it.
    fn apply_mask(&mut self, k: u8) {
        for y in 0..self.size {
            for x in 0..self.size {
                let flip = match k {
                    0 => (x + y) % 2 == 0,
                    1 => y % 2 == 0,
                    2 => x % 3 == 0,
                    3 => (x + y) % 3 == 0,
                    4 => (x / 3 + y / 2) % 2 == 0,
                    5 => (x * y) % 2 + (x * y) % 3 == 0,
                    6 => ((x * y) % 2 + (x * y) % 3) % 2 == 0,
                    _ => ((x + y) % 2 + (x * y) % 3) % 2 == 0,
                };
                let at = y * self.size + x;
                if flip && !self.function[at] {
                    self.dark[at] = !self.dark[at];
                }
            }
        }
    }

    /// The penalty of §7.8.3 (lower is better): runs of five or more (N1 = 3, +1 per extra
    /// module), 2×2 blocks of one colour (N2 = 3 each), the finder-like 1:1:3:1:1 pattern with
    /// four light modules on one side, inside the symbol (N3 = 40 each), and 10 for every full
    /// 5% the dark share is away from 50% (N4).
    fn penalty(&self) -> u32 {
        let n = self.size;
        let mut p = 0u32;
        for horizontal in [true, false] {
            let at = |i: usize, j: usize| {
                if horizontal {
                    self.get(j, i)
                } else {
                    self.get(i, j)
                }
            };
            for i in 0..n {
                let mut run = 1u32;
                for j in 1..n {
                    if at(i, j) == at(i, j - 1) {
                        run += 1;
                    } else {
                        if run >= 5 {
                            p += run - 2;
                        }
                        run = 1;
                    }
                }
                if run >= 5 {
                    p += run - 2;
                }
                const A: [bool; 11] = [
                    true, false, true, true, true, false, true, false, false, false, false,
                ];
                for j in 0..n.saturating_sub(10) {
                    let fwd = (0..11).all(|k| at(i, j + k) == A[k]);
                    let back = (0..11).all(|k| at(i, j + k) == A[10 - k]);
                    p += 40 * (u32::from(fwd) + u32::from(back));
                }
            }
        }
        for y in 0..n - 1 {
            for x in 0..n - 1 {
                let c = self.get(x, y);
                if c == self.get(x + 1, y) && c == self.get(x, y + 1) && c == self.get(x + 1, y + 1)
                {
                    p += 3;
                }
            }
        }
        let dark = self.dark.iter().filter(|&&d| d).count();
        let total = n * n;
        let k = (dark * 100).abs_diff(total * 50) / (total * 5);
        p + 10 * k as u32 // k <= 10
    }
}

/// Centre coordinates of the alignment patterns (Annex E): 6, then evenly spaced (even steps)
/// down to `size - 7`.
fn alignment_positions(version: u8) -> Vec<isize> {
    if version < 2 {
        return Vec::new();
    }
    let v = isize::from(version);
    let n = v / 7 + 2;
    let step = (v * 4 + n * 2 + 1) / (n * 2 - 2) * 2;
    let mut out = vec![6];
    let mut pos = v * 4 + 17 - 7;
    while (out.len() as isize) < n {
        out.insert(1, pos);
        pos -= step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symbol as rows of '#' (dark) and '.' (light).
    fn picture(q: &QrCode) -> Vec<String> {
        (0..q.size())
            .map(|y| {
                (0..q.size())
                    .map(|x| if q.dark(x, y) { '#' } else { '.' })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn capacities_match_table_7() {
        // Byte mode capacities, ISO/IEC 18004 Table 7.
        let want: [[usize; 4]; 10] = [
            [17, 14, 11, 7],
            [32, 26, 20, 14],
            [53, 42, 32, 24],
            [78, 62, 46, 34],
            [106, 84, 60, 44],
            [134, 106, 74, 58],
            [154, 122, 86, 64],
            [192, 152, 108, 84],
            [230, 180, 130, 98],
            [271, 213, 151, 119],
        ];
        for (v, row) in want.iter().enumerate() {
            for (e, ecc) in [Ecc::Low, Ecc::Medium, Ecc::Quartile, Ecc::High]
                .into_iter()
                .enumerate()
            {
                assert_eq!(
                    QrCode::capacity(v as u8 + 1, ecc),
                    row[e],
                    "v{} {ecc:?}",
                    v + 1
                );
            }
        }
        assert_eq!(QrCode::capacity(0, Ecc::Low), 0);
        assert_eq!(QrCode::capacity(11, Ecc::Low), 0);
    }

    #[test]
    fn reed_solomon_known_answer() {
        // ISO/IEC 18004 Annex I (1-M "01234567"): data codewords → the 10 ECC codewords.
        let data = [
            0x10, 0x20, 0x0C, 0x56, 0x61, 0x80, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11,
            0xEC, 0x11,
        ];
        let ecc = rs_remainder(&data, &rs_generator(10));
        assert_eq!(
            ecc,
            [0xA5, 0x24, 0xD4, 0xC1, 0xED, 0x36, 0xC7, 0x87, 0x2C, 0x55]
        );
    }

    #[test]
    fn alignment_positions_annex_e() {
        assert_eq!(alignment_positions(1), Vec::<isize>::new());
        assert_eq!(alignment_positions(2), [6, 18]);
        assert_eq!(alignment_positions(7), [6, 22, 38]);
        assert_eq!(alignment_positions(10), [6, 28, 50]);
    }

    #[test]
    fn too_long_is_an_error() {
        let big = vec![b'a'; 272];
        assert_eq!(
            QrCode::encode(&big, Ecc::Low),
            Err(QrError::TooLong { len: 272, max: 271 })
        );
        assert!(QrCode::encode(&big[..271], Ecc::Low).is_ok());
        assert_eq!(
            QrCode::encode_with(b"hello", Ecc::Low, Some(11), None),
            Err(QrError::BadParameter)
        );
        assert_eq!(
            QrCode::encode_with(b"hello", Ecc::Low, None, Some(8)),
            Err(QrError::BadParameter)
        );
        assert_eq!(
            QrCode::encode_with(&big[..20], Ecc::Low, Some(1), None),
            Err(QrError::TooLong { len: 20, max: 17 })
        );
    }

    #[test]
    fn every_length_and_level_encodes() {
        for ecc in [Ecc::Low, Ecc::Medium, Ecc::Quartile, Ecc::High] {
            for len in 0..=QrCode::capacity(MAX_VERSION, ecc) {
                let data: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
                let q = QrCode::encode(&data, ecc).expect("fits");
                assert_eq!(q.size(), usize::from(q.version()) * 4 + 17);
                assert!(len <= QrCode::capacity(q.version(), ecc));
                assert!(q.version() == 1 || len > QrCode::capacity(q.version() - 1, ecc));
            }
        }
    }

    #[test]
    fn half_blocks_draw_light_modules() {
        let q = QrCode::encode(b"x", Ecc::Low).unwrap();
        let s = q.to_half_blocks(4, false);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), (21 + 8usize).div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == 29));
        assert!(lines[0].chars().all(|c| c == '█'), "quiet zone");
        // Line 2 holds symbol rows 0 and 1: the finder's dark edge, then at column 1 its
        // light ring.
        assert_eq!(lines[2].chars().nth(4), Some(' '));
        assert_eq!(lines[2].chars().nth(5), Some('▄'));
        assert!(q.to_half_blocks(0, true).starts_with("\x1b[97;40m"));
    }

    /// Known answers made by the `qrcode` package (8.2, PyPI) with `scripts/qr-reference.py`:
    /// the matrix with qrcode's version and mask, and that both choices are ours too.
    macro_rules! reference {
        ($name:ident, $data:expr, $ecc:expr, $version:expr, $mask:expr, $rows:expr) => {
            #[test]
            fn $name() {
                let want: &[&str] = &$rows;
                let q = QrCode::encode_with($data, $ecc, Some($version), Some($mask)).unwrap();
                assert_eq!(picture(&q), want);
                // Left to choose, the encoder picks the same version and mask as qrcode does.
                let auto = QrCode::encode($data, $ecc).unwrap();
                assert_eq!((auto.version(), auto.mask()), ($version, $mask));
            }
        };
    }

    include!("reference.rs");
}
