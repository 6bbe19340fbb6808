//! A streaming DEFLATE (RFC 1951) compressor whose whole state is a fixed ~15 KiB.
//!
//! ```text
//!   write(bytes) ──▶ window (8 KiB) ──LZ77──▶ match records + symbol counts ──▶ block
//!                      ▲   slide: keep the last 4 KiB      (literals stay in the window)
//!                      └─────────────────────────────────────────────────────────┘
//!   sync_flush ──▶ pending block, then an empty stored block (00 00 ff ff), byte-aligned
//!   finish     ──▶ pending block marked final, byte-aligned
//! ```
//!
//! * **LZ77** (§4): a hash of the next three bytes picks a bucket holding the two most recent
//!   positions with that hash; the longer match wins, and one step of lazy evaluation (look
//!   at the next position before committing to a short match) gains a few percent on JSON.
//!   Every position, also inside matches, is inserted, so later text finds the nearest copy.
//! * **The window** holds history and look-ahead together. When it is full the pending block
//!   is emitted (its literals are read from the window, so they must not move first) and the
//!   last [`HISTORY`] bytes slide to the front; hash entries are shifted with them. Matches
//!   therefore reach at least 4 KiB and at most 8 KiB back.
//! * **Blocks** (§3.2.3): each one is sent as whichever of dynamic Huffman (§3.2.7), fixed
//!   Huffman (§3.2.6) or stored (§3.2.4) is smallest, computed exactly from the symbol counts.
//!   A block ends at a flush, when the window slides, or after [`MAX_MATCHES`] matches.
//!
//! No allocation, no IO, no panics: input of any length and content is accepted, and the
//! output a call appends is bounded by the input it consumed plus a few bytes per block.

use super::huffman::{build_lengths, canonical_codes, reverse};

/// Window bytes: history plus look-ahead.
pub const WINDOW: usize = 8192;
/// History kept when the window slides (the shortest reach of a match after a slide).
pub const HISTORY: usize = 4096;
/// Hash buckets, each holding [`WAYS`] positions.
const HASH_BITS: u32 = 10;
const HASH_SIZE: usize = 1 << HASH_BITS;
/// Candidates per bucket, most recent first.
const WAYS: usize = 2;
/// Matches recorded per block (literals need no record: they are read back from the window).
pub const MAX_MATCHES: usize = 512;

const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
/// A match this long is taken without looking one byte further for a longer one.
const LAZY_LIMIT: usize = 32;
/// A three-byte match further back than this costs more bits than three literals.
const TOO_FAR: usize = 4096;

const _: () = assert!(HISTORY + MAX_MATCH < WINDOW && WINDOW <= u16::MAX as usize);

/// Literal/length symbols (0-255 literals, 256 end of block, 257-285 lengths).
const LIT_SYMS: usize = 286;
/// Distance symbols.
const DIST_SYMS: usize = 30;
const END_OF_BLOCK: usize = 256;

/// §3.2.5: base lengths and extra bits of length codes 257..=285.
const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Length code index (0..29) of each match length minus three.
static LEN_CODE: [u8; 256] = len_codes();

const fn len_codes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut code = 0;
    while code < 29 {
        let mut l = LEN_BASE[code] as usize;
        let end = if code == 28 {
            259
        } else {
            LEN_BASE[code + 1] as usize
        };
        while l < end {
            t[l - 3] = code as u8;
            l += 1;
        }
        code += 1;
    }
    t
}

/// §3.2.5: distance code, extra-bit count and extra value of a distance (1..=32768).
fn dist_code(dist: usize) -> (usize, u32, u32) {
    let d = (dist - 1) as u32;
    if d < 4 {
        return (d as usize, 0, 0);
    }
    let top = 31 - d.leading_zeros(); // floor(log2 d) >= 2
    let code = 2 * top + ((d >> (top - 1)) & 1);
    let extra = top - 1;
    (code as usize, extra, d & ((1 << extra) - 1))
}

/// Bits of the extra field of distance code `c`.
fn dist_extra(c: usize) -> u32 {
    if c < 4 { 0 } else { (c as u32 / 2) - 1 }
}

/// §3.2.6: the fixed literal/length code lengths (288 defined; 286, 287 unused).
const fn fixed_lit_lens() -> [u8; 288] {
    let mut l = [0u8; 288];
    let mut i = 0;
    while i < 288 {
        l[i] = if i < 144 {
            8
        } else if i < 256 {
            9
        } else if i < 280 {
            7
        } else {
            8
        };
        i += 1;
    }
    l
}
static FIXED_LIT_LENS: [u8; 288] = fixed_lit_lens();

/// The order code-length code lengths are sent in (§3.2.7).
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// The compressor. About 15 KiB, all inline: box it to keep one per stream.
#[derive(Clone)]
pub struct Deflate {
    window: [u8; WINDOW],
    head: [[u16; WAYS]; HASH_SIZE],
    /// Match records of the pending block: window position, length - 3, distance.
    m_pos: [u16; MAX_MATCHES],
    m_len: [u8; MAX_MATCHES],
    m_dist: [u16; MAX_MATCHES],
    n_matches: usize,
    lit_freq: [u16; LIT_SYMS],
    dist_freq: [u16; DIST_SYMS],
    /// The pending block covers `window[block_start..pos]`.
    block_start: usize,
    /// Next byte to parse.
    pos: usize,
    /// Positions below this are in the hash table.
    inserted: usize,
    /// End of the input held in the window.
    end: usize,
    /// Output bits not yet whole bytes (LSB first), and their count (< 32 between calls).
    bits: u64,
    nbits: u32,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflate")
            .field("pos", &self.pos)
            .field("end", &self.end)
            .field("block_start", &self.block_start)
            .field("n_matches", &self.n_matches)
            .finish_non_exhaustive()
    }
}

impl Default for Deflate {
    fn default() -> Self {
        Self::new()
    }
}

impl Deflate {
    /// A compressor at the start of a stream.
    pub fn new() -> Self {
        Deflate {
            window: [0; WINDOW],
            head: [[0; WAYS]; HASH_SIZE],
            m_pos: [0; MAX_MATCHES],
            m_len: [0; MAX_MATCHES],
            m_dist: [0; MAX_MATCHES],
            n_matches: 0,
            lit_freq: [0; LIT_SYMS],
            dist_freq: [0; DIST_SYMS],
            block_start: 0,
            pos: 0,
            inserted: 0,
            end: 0,
            bits: 0,
            nbits: 0,
        }
    }

    /// Compresses `input`, appending whatever output is complete to `out`. Bytes may stay
    /// buffered (up to the window) until more input, [`Deflate::sync_flush`] or
    /// [`Deflate::finish`].
    pub fn write(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            if self.end == WINDOW {
                self.slide(out);
            }
            let n = input.len().min(WINDOW - self.end);
            self.window[self.end..self.end + n].copy_from_slice(&input[..n]);
            self.end += n;
            input = &input[n..];
            self.parse(false, out);
        }
    }

    /// Emits everything written so far and an empty stored block, so the output ends on a
    /// byte boundary and a decoder can produce every input byte (zlib's `Z_SYNC_FLUSH`).
    /// History is kept: later data still matches against earlier data.
    pub fn sync_flush(&mut self, out: &mut Vec<u8>) {
        self.parse(true, out);
        self.emit_block(false, out);
        self.put(out, 0, 3); // BFINAL 0, BTYPE 00
        self.align(out);
        out.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    }

    /// Emits everything written so far as the final block, byte-aligned. Nothing may follow.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.parse(true, out);
        self.emit_block(true, out);
        self.align(out);
    }

    /// Makes room in a full window: emits the pending block, keeps the last [`HISTORY`]
    /// parsed bytes and the unparsed look-ahead.
    fn slide(&mut self, out: &mut Vec<u8>) {
        self.emit_block(false, out);
        let shift = self.pos.saturating_sub(HISTORY);
        if shift == 0 {
            return; // unreachable: a full window has been parsed to within MAX_MATCH of its end
        }
        self.window.copy_within(shift..self.end, 0);
        self.end -= shift;
        self.pos -= shift;
        self.block_start = self.pos;
        self.inserted = self.inserted.saturating_sub(shift);
        // Entries that fall off the front point at 0: a candidate is always verified byte for
        // byte, so a stale one costs a comparison, never a wrong match.
        let s = shift as u16; // safe cast: shift < WINDOW <= u16::MAX
        for bucket in self.head.iter_mut() {
            for e in bucket.iter_mut() {
                *e = e.saturating_sub(s);
            }
        }
    }

    fn hash(&self, p: usize) -> usize {
        let w = &self.window;
        let v = u32::from(w[p]) | (u32::from(w[p + 1]) << 8) | (u32::from(w[p + 2]) << 16);
        (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
    }

    /// The longest match for position `p` (needs `p + MIN_MATCH <= end`) among the bucket's
    /// candidates, then `p` joins the bucket. Returns (length, distance); length 0 for none.
    fn find(&mut self, p: usize) -> (usize, usize) {
        let h = self.hash(p);
        let cands = self.head[h];
        let max = (self.end - p).min(MAX_MATCH);
        let (mut best, mut dist) = (0, 0);
        for &c in &cands {
            let c = usize::from(c);
            if c >= p {
                continue;
            }
            let l = match_len(&self.window, c, p, max);
            if l > best {
                best = l;
                dist = p - c;
                if l == max {
                    break;
                }
            }
        }
        if p >= self.inserted {
            self.insert_with(h, p);
            self.inserted = p + 1;
        }
        if best < MIN_MATCH || (best == MIN_MATCH && dist > TOO_FAR) {
            return (0, 0);
        }
        (best, dist)
    }

    fn insert_with(&mut self, h: usize, p: usize) {
        let b = &mut self.head[h];
        b.copy_within(0..WAYS - 1, 1);
        b[0] = p as u16; // safe cast: p < WINDOW <= u16::MAX
    }

    /// Parses the window from `pos`: up to the end when `flush`, else only while a full-length
    /// match still fits in the look-ahead.
    fn parse(&mut self, flush: bool, out: &mut Vec<u8>) {
        let limit = if flush {
            self.end
        } else {
            self.end.saturating_sub(MAX_MATCH)
        };
        let mut p = self.pos;
        while p < limit {
            if p + MIN_MATCH > self.end {
                self.literal(p);
                p += 1;
                continue;
            }
            let (mut len, mut dist) = self.find(p);
            // Lazy evaluation: a longer match one byte on is worth a literal now.
            while (MIN_MATCH..LAZY_LIMIT).contains(&len) && p + 1 + MIN_MATCH <= self.end {
                let (l2, d2) = self.find(p + 1);
                if l2 <= len {
                    break;
                }
                self.literal(p);
                p += 1;
                (len, dist) = (l2, d2);
            }
            if len >= MIN_MATCH {
                self.record(p, len, dist);
                for q in self.inserted.max(p + 1)..p + len {
                    if q + MIN_MATCH <= self.end {
                        let h = self.hash(q);
                        self.insert_with(h, q);
                    }
                }
                self.inserted = self.inserted.max(p + len);
                p += len;
                if self.n_matches == MAX_MATCHES {
                    self.pos = p;
                    self.emit_block(false, out);
                }
            } else {
                self.literal(p);
                p += 1;
            }
        }
        self.pos = self.pos.max(p);
    }

    fn literal(&mut self, p: usize) {
        self.lit_freq[usize::from(self.window[p])] += 1;
    }

    fn record(&mut self, p: usize, len: usize, dist: usize) {
        let n = self.n_matches;
        self.m_pos[n] = p as u16; // safe casts: p < WINDOW, len - 3 <= 255, dist < WINDOW
        self.m_len[n] = (len - MIN_MATCH) as u8;
        self.m_dist[n] = dist as u16;
        self.n_matches += 1;
        self.lit_freq[257 + usize::from(LEN_CODE[len - MIN_MATCH])] += 1;
        self.dist_freq[dist_code(dist).0] += 1;
    }

    /// Sends the pending block (nothing when it is empty, unless it is the final one).
    fn emit_block(&mut self, last: bool, out: &mut Vec<u8>) {
        let (start, stop) = (self.block_start, self.pos);
        if start == stop && !last {
            return;
        }
        let mut lit_f = [0u32; LIT_SYMS];
        for (d, &s) in lit_f.iter_mut().zip(self.lit_freq.iter()) {
            *d = u32::from(s);
        }
        lit_f[END_OF_BLOCK] = 1;
        let mut dist_f = [0u32; DIST_SYMS];
        for (d, &s) in dist_f.iter_mut().zip(self.dist_freq.iter()) {
            *d = u32::from(s);
        }
        // Extra bits are the same whichever code carries the symbols.
        let extra_bits: u64 = (0..29)
            .map(|c| u64::from(lit_f[257 + c]) * u64::from(LEN_EXTRA[c]))
            .chain((0..DIST_SYMS).map(|c| u64::from(dist_f[c]) * u64::from(dist_extra(c))))
            .sum();

        // Dynamic: both trees need two used symbols so every decoder accepts them as complete
        // codes (the padding symbols never appear in the data).
        let mut lit_t = lit_f;
        let mut dist_t = dist_f;
        pad_to_two(&mut lit_t);
        pad_to_two(&mut dist_t);
        let mut lit_lens = [0u8; LIT_SYMS];
        let mut dist_lens = [0u8; DIST_SYMS];
        build_lengths(&lit_t, 15, &mut lit_lens);
        build_lengths(&dist_t, 15, &mut dist_lens);
        let header = DynamicHeader::new(&lit_lens, &dist_lens);
        let dyn_bits = 3
            + header.bits()
            + weighted(&lit_f, &lit_lens)
            + weighted(&dist_f, &dist_lens)
            + extra_bits;
        let fixed_bits = 3
            + weighted(&lit_f, &FIXED_LIT_LENS[..LIT_SYMS])
            + {
                let n: u64 = dist_f.iter().map(|&f| u64::from(f)).sum();
                5 * n
            }
            + extra_bits;
        let n = (stop - start) as u64;
        let pad = (8 - (self.nbits + 3) % 8) % 8;
        let stored_bits = if n == 0 {
            u64::MAX
        } else {
            3 + u64::from(pad) + 32 + 8 * n
        };

        let fin = u32::from(last);
        if stored_bits < dyn_bits.min(fixed_bits) {
            // n <= WINDOW < 65536: one stored block.
            self.put(out, fin, 3);
            self.align(out);
            let len = (stop - start) as u16;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(&self.window[start..stop]);
        } else if dyn_bits < fixed_bits {
            self.put(out, fin | (2 << 1), 3);
            header.write(self, out);
            let mut lit_codes = [0u16; LIT_SYMS];
            let mut dist_codes = [0u16; DIST_SYMS];
            canonical_codes(&lit_lens, &mut lit_codes);
            canonical_codes(&dist_lens, &mut dist_codes);
            self.write_symbols(out, &lit_codes, &lit_lens, &dist_codes, &dist_lens);
        } else {
            self.put(out, fin | (1 << 1), 3);
            let mut lit_codes = [0u16; 288];
            canonical_codes(&FIXED_LIT_LENS, &mut lit_codes);
            let dist_lens = [5u8; DIST_SYMS];
            let mut dist_codes = [0u16; DIST_SYMS];
            for (c, code) in dist_codes.iter_mut().enumerate() {
                *code = reverse(c as u16, 5);
            }
            self.write_symbols(
                out,
                &lit_codes[..LIT_SYMS],
                &FIXED_LIT_LENS[..LIT_SYMS],
                &dist_codes,
                &dist_lens,
            );
        }
        self.block_start = stop;
        self.n_matches = 0;
        self.lit_freq = [0; LIT_SYMS];
        self.dist_freq = [0; DIST_SYMS];
    }

    /// The block's literals and matches in order, then end-of-block.
    fn write_symbols(&mut self, out: &mut Vec<u8>, lc: &[u16], ll: &[u8], dc: &[u16], dl: &[u8]) {
        let mut q = self.block_start;
        for i in 0..self.n_matches {
            let mp = usize::from(self.m_pos[i]);
            while q < mp {
                let b = usize::from(self.window[q]);
                self.put(out, u32::from(lc[b]), u32::from(ll[b]));
                q += 1;
            }
            let len = usize::from(self.m_len[i]) + MIN_MATCH;
            let c = usize::from(LEN_CODE[len - MIN_MATCH]);
            let sym = 257 + c;
            let extra = u32::from(LEN_EXTRA[c]);
            let ev = (len - usize::from(LEN_BASE[c])) as u32;
            self.put(
                out,
                u32::from(lc[sym]) | (ev << ll[sym]),
                u32::from(ll[sym]) + extra,
            );
            let (dcode, dextra, dv) = dist_code(usize::from(self.m_dist[i]));
            self.put(
                out,
                u32::from(dc[dcode]) | (dv << dl[dcode]),
                u32::from(dl[dcode]) + dextra,
            );
            q = mp + len;
        }
        let stop = self.pos;
        while q < stop {
            let b = usize::from(self.window[q]);
            self.put(out, u32::from(lc[b]), u32::from(ll[b]));
            q += 1;
        }
        self.put(
            out,
            u32::from(lc[END_OF_BLOCK]),
            u32::from(ll[END_OF_BLOCK]),
        );
    }

    /// Appends the low `n` bits of `v` (n <= 32; `v` has no bits above them).
    fn put(&mut self, out: &mut Vec<u8>, v: u32, n: u32) {
        self.bits |= u64::from(v) << self.nbits;
        self.nbits += n;
        if self.nbits >= 32 {
            out.extend_from_slice(&(self.bits as u32).to_le_bytes());
            self.bits >>= 32;
            self.nbits -= 32;
        }
    }

    /// Pads with zero bits to a byte boundary and hands out every pending byte.
    fn align(&mut self, out: &mut Vec<u8>) {
        while self.nbits > 0 {
            out.push(self.bits as u8);
            self.bits >>= 8;
            self.nbits = self.nbits.saturating_sub(8);
        }
        self.bits = 0;
    }
}

/// Length of the common prefix of `w[a..]` and `w[b..]`, at most `max` (`b + max <= w.len()`,
/// `a < b`).
fn match_len(w: &[u8], a: usize, b: usize, max: usize) -> usize {
    let mut n = 0;
    while n + 8 <= max {
        let x = load8(w, a + n) ^ load8(w, b + n);
        if x != 0 {
            return n + (x.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < max && w[a + n] == w[b + n] {
        n += 1;
    }
    n
}

fn load8(w: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&w[i..i + 8]);
    u64::from_le_bytes(b)
}

/// Makes sure at least two symbols have a nonzero count (symbols 0 and 1 are the padding).
fn pad_to_two(f: &mut [u32]) {
    let mut used = f.iter().filter(|&&x| x > 0).count();
    for x in f.iter_mut().take(2) {
        if used >= 2 {
            break;
        }
        if *x == 0 {
            *x = 1;
            used += 1;
        }
    }
}

/// Σ count × length.
fn weighted(f: &[u32], lens: &[u8]) -> u64 {
    f.iter()
        .zip(lens)
        .map(|(&f, &l)| u64::from(f) * u64::from(l))
        .sum()
}

/// A dynamic block's header (§3.2.7): the two code-length sequences, run-length coded.
struct DynamicHeader {
    hlit: usize,
    hdist: usize,
    hclen: usize,
    /// Code-length symbols (0-18) with their extra-bit values.
    syms: [(u8, u8); LIT_SYMS + DIST_SYMS],
    n_syms: usize,
    cl_lens: [u8; 19],
    cl_codes: [u16; 19],
}

impl DynamicHeader {
    fn new(lit_lens: &[u8; LIT_SYMS], dist_lens: &[u8; DIST_SYMS]) -> Self {
        let hlit = 257.max(LIT_SYMS - lit_lens.iter().rev().take_while(|&&l| l == 0).count());
        let hdist = 1.max(DIST_SYMS - dist_lens.iter().rev().take_while(|&&l| l == 0).count());
        let mut all = [0u8; LIT_SYMS + DIST_SYMS];
        all[..hlit].copy_from_slice(&lit_lens[..hlit]);
        all[hlit..hlit + hdist].copy_from_slice(&dist_lens[..hdist]);
        let all = &all[..hlit + hdist];

        let mut h = DynamicHeader {
            hlit,
            hdist,
            hclen: 4,
            syms: [(0, 0); LIT_SYMS + DIST_SYMS],
            n_syms: 0,
            cl_lens: [0; 19],
            cl_codes: [0; 19],
        };
        let mut i = 0;
        while i < all.len() {
            let v = all[i];
            let mut run = 1;
            while i + run < all.len() && all[i + run] == v {
                run += 1;
            }
            i += run;
            if v == 0 {
                while run >= 11 {
                    let k = run.min(138);
                    h.push(18, (k - 11) as u8);
                    run -= k;
                }
                if run >= 3 {
                    h.push(17, (run - 3) as u8);
                    run = 0;
                }
            } else {
                h.push(v, 0);
                run -= 1;
                while run >= 3 {
                    let k = run.min(6);
                    h.push(16, (k - 3) as u8);
                    run -= k;
                }
            }
            for _ in 0..run {
                h.push(v, 0);
            }
        }
        let mut cl_f = [0u32; 19];
        for &(s, _) in &h.syms[..h.n_syms] {
            cl_f[usize::from(s)] += 1;
        }
        pad_to_two(&mut cl_f);
        build_lengths(&cl_f, 7, &mut h.cl_lens);
        canonical_codes(&h.cl_lens, &mut h.cl_codes);
        h.hclen = 4.max(
            19 - CL_ORDER
                .iter()
                .rev()
                .take_while(|&&s| h.cl_lens[s] == 0)
                .count(),
        );
        h
    }

    fn push(&mut self, sym: u8, extra: u8) {
        // n_syms <= hlit + hdist: every symbol covers at least one length.
        if let Some(slot) = self.syms.get_mut(self.n_syms) {
            *slot = (sym, extra);
            self.n_syms += 1;
        }
    }

    fn extra_bits(sym: u8) -> u32 {
        match sym {
            16 => 2,
            17 => 3,
            18 => 7,
            _ => 0,
        }
    }

    fn bits(&self) -> u64 {
        let body: u64 = self.syms[..self.n_syms]
            .iter()
            .map(|&(s, _)| u64::from(self.cl_lens[usize::from(s)]) + u64::from(Self::extra_bits(s)))
            .sum();
        5 + 5 + 4 + 3 * self.hclen as u64 + body
    }

    fn write(&self, d: &mut Deflate, out: &mut Vec<u8>) {
        d.put(out, (self.hlit - 257) as u32, 5);
        d.put(out, (self.hdist - 1) as u32, 5);
        d.put(out, (self.hclen - 4) as u32, 4);
        for &s in &CL_ORDER[..self.hclen] {
            d.put(out, u32::from(self.cl_lens[s]), 3);
        }
        for &(s, e) in &self.syms[..self.n_syms] {
            let s = usize::from(s);
            let n = u32::from(self.cl_lens[s]);
            let x = Self::extra_bits(s as u8);
            d.put(
                out,
                u32::from(self.cl_codes[s]) | (u32::from(e) << n),
                n + x,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_codes_match_the_rfc_table() {
        // §3.2.5: code, extra bits, first distance.
        let table: [(usize, u32, usize); 30] = [
            (0, 0, 1),
            (1, 0, 2),
            (2, 0, 3),
            (3, 0, 4),
            (4, 1, 5),
            (5, 1, 7),
            (6, 2, 9),
            (7, 2, 13),
            (8, 3, 17),
            (9, 3, 25),
            (10, 4, 33),
            (11, 4, 49),
            (12, 5, 65),
            (13, 5, 97),
            (14, 6, 129),
            (15, 6, 193),
            (16, 7, 257),
            (17, 7, 385),
            (18, 8, 513),
            (19, 8, 769),
            (20, 9, 1025),
            (21, 9, 1537),
            (22, 10, 2049),
            (23, 10, 3073),
            (24, 11, 4097),
            (25, 11, 6145),
            (26, 12, 8193),
            (27, 12, 12289),
            (28, 13, 16385),
            (29, 13, 24577),
        ];
        for (code, extra, first) in table {
            assert_eq!(dist_code(first), (code, extra, 0), "distance {first}");
            assert_eq!(dist_extra(code), extra);
            let last = first + (1 << extra) - 1;
            assert_eq!(
                dist_code(last),
                (code, extra, (1 << extra) - 1),
                "distance {last}"
            );
        }
    }

    #[test]
    fn length_codes_match_the_rfc_table() {
        assert_eq!(LEN_CODE[0], 0); // 3 -> 257
        assert_eq!(LEN_CODE[10 - 3], 7); // 10 -> 264
        assert_eq!(LEN_CODE[11 - 3], 8); // 11..12 -> 265
        assert_eq!(LEN_CODE[12 - 3], 8);
        assert_eq!(LEN_CODE[227 - 3], 27); // 227..257 -> 284
        assert_eq!(LEN_CODE[257 - 3], 27);
        assert_eq!(LEN_CODE[258 - 3], 28); // 258 -> 285
    }

    #[test]
    fn match_len_stops_at_max_and_at_difference() {
        let w = b"abcdefghijabcdefghijXbcdefghij";
        assert_eq!(match_len(w, 0, 10, 20), 10);
        assert_eq!(match_len(w, 0, 10, 4), 4);
        assert_eq!(match_len(w, 1, 21, 9), 9);
    }
}
