//! Length-limited canonical Huffman codes for DEFLATE (RFC 1951 §3.2.2).
//!
//! [`build_lengths`] turns symbol frequencies into code lengths no longer than a limit (15 for
//! literal/length and distance codes, 7 for the code-length code); [`canonical_codes`] turns
//! lengths into the codes §3.2.2 defines, bit-reversed because DEFLATE sends Huffman codes
//! most-significant bit first inside a least-significant-bit-first stream.
//!
//! Lengths come from the in-place minimum-redundancy algorithm of Moffat and Katajainen
//! ("In-place calculation of minimum-redundancy codes", 1995) over the frequencies in
//! ascending order; when the deepest code exceeds the limit, the length counts are repaired
//! until the Kraft sum is exactly one again, and lengths are handed out afresh, shortest to
//! the most frequent. Everything works on the stack: nothing here is per-stream state.

/// The most symbols any DEFLATE alphabet has (literal/length: 286 used, 288 defined).
pub const MAX_SYMBOLS: usize = 288;

/// Computes code lengths for `freqs` into `lens` (same length), none longer than `max_len`.
///
/// Symbols with frequency 0 get length 0. A lone used symbol gets length 1. The lengths always
/// form a complete prefix code when two or more symbols are used. `freqs.len()` must not
/// exceed [`MAX_SYMBOLS`] (longer inputs are truncated to it); `max_len` is at most 15 and must
/// be large enough for the used symbols (2^max_len >= used symbols; true for every DEFLATE
/// alphabet at its limit).
pub fn build_lengths(freqs: &[u32], max_len: u8, lens: &mut [u8]) {
    let n_all = freqs.len().min(lens.len()).min(MAX_SYMBOLS);
    for l in lens.iter_mut() {
        *l = 0;
    }
    // Sort the used symbols by frequency (ties by symbol, so the result is deterministic):
    // keys hold frequency above, symbol below.
    let mut keys = [0u64; MAX_SYMBOLS];
    let mut n = 0;
    for (sym, &f) in freqs.iter().enumerate().take(n_all) {
        if f > 0 {
            keys[n] = (u64::from(f) << 16) | sym as u64;
            n += 1;
        }
    }
    match n {
        0 => return,
        1 => {
            lens[(keys[0] & 0xffff) as usize] = 1;
            return;
        }
        _ => {}
    }
    let keys = &mut keys[..n];
    keys.sort_unstable();
    let mut a = [0u32; MAX_SYMBOLS];
    for (x, k) in a.iter_mut().zip(keys.iter()) {
        // Frequencies are u32 in, so the sum of all fits u64; the algorithm adds internal
        // node weights into these slots, which stay below the sum of all frequencies. Cap the
        // weights so that sum fits u32 (288 × 2^22 < 2^32; a block never holds 2^22 symbols).
        *x = (*k >> 16).min(1 << 22) as u32;
    }
    minimum_redundancy(&mut a[..n]);
    // a[i] is now the depth of the i-th least frequent symbol (non-increasing in i).
    let max_len = usize::from(max_len.clamp(1, 15));
    let mut count = [0u32; 33];
    for &d in &a[..n] {
        count[(d as usize).min(32)] += 1;
    }
    enforce_max_len(&mut count, max_len);
    // Hand out lengths: the longest to the least frequent.
    let mut i = 0;
    for len in (1..=max_len).rev() {
        for _ in 0..count[len] {
            if let Some(k) = keys.get(i) {
                lens[(k & 0xffff) as usize] = len as u8;
            }
            i += 1;
        }
    }
}

/// Moffat–Katajainen: `a` holds weights in non-decreasing order and receives code lengths.
/// `a.len() >= 2`.
fn minimum_redundancy(a: &mut [u32]) {
    let n = a.len();
    // Phase 1: build the tree; internal nodes overwrite the consumed leaves, each holding its
    // weight until it is combined, then the index of its parent.
    a[0] += a[1];
    let (mut root, mut leaf) = (0usize, 2usize);
    for next in 1..n - 1 {
        // First child: the lighter of the next internal node and the next leaf.
        if leaf >= n || a[root] < a[leaf] {
            a[next] = a[root];
            a[root] = next as u32;
            root += 1;
        } else {
            a[next] = a[leaf];
            leaf += 1;
        }
        // Second child, likewise.
        if leaf >= n || (root < next && a[root] < a[leaf]) {
            a[next] += a[root];
            a[root] = next as u32;
            root += 1;
        } else {
            a[next] += a[leaf];
            leaf += 1;
        }
    }
    // Phase 2: parent indices into internal-node depths.
    a[n - 2] = 0;
    for next in (0..n - 2).rev() {
        a[next] = a[a[next] as usize] + 1;
    }
    // Phase 3: internal depths into leaf depths.
    let (mut avail, mut used, mut depth) = (1i64, 0i64, 0u32);
    let mut root = n as i64 - 2;
    let mut next = n as i64 - 1;
    while avail > 0 {
        while root >= 0 && a[root as usize] == depth {
            used += 1;
            root -= 1;
        }
        while avail > used {
            a[next as usize] = depth;
            next -= 1;
            avail -= 1;
        }
        avail = 2 * used;
        depth += 1;
        used = 0;
    }
}

/// Repairs per-length code counts so that no code is longer than `max_len` and the Kraft sum
/// is exactly one (a complete code), keeping the number of codes.
fn enforce_max_len(count: &mut [u32; 33], max_len: usize) {
    for l in max_len + 1..33 {
        count[max_len] += count[l];
        count[l] = 0;
    }
    // Kraft sum scaled by 2^max_len.
    let mut total: u64 = (1..=max_len)
        .map(|l| u64::from(count[l]) << (max_len - l))
        .sum();
    let full = 1u64 << max_len;
    while total > full {
        // Drop one code at the limit and split a shorter code in two one level deeper: the
        // code count stays, the sum falls by one unit.
        count[max_len] -= 1;
        for l in (1..max_len).rev() {
            if count[l] != 0 {
                count[l] -= 1;
                count[l + 1] += 2;
                break;
            }
        }
        total -= 1;
    }
}

/// Canonical codes for `lens` (RFC 1951 §3.2.2), bit-reversed for LSB-first output, into
/// `codes` (same length). Lengths must be at most 15.
pub fn canonical_codes(lens: &[u8], codes: &mut [u16]) {
    let mut bl_count = [0u16; 16];
    for &l in lens {
        bl_count[usize::from(l.min(15))] += 1;
    }
    bl_count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for bits in 1..16 {
        code = (code.wrapping_add(bl_count[bits - 1])) << 1;
        next[bits] = code;
    }
    for (&l, c) in lens.iter().zip(codes.iter_mut()) {
        let l = usize::from(l.min(15));
        if l == 0 {
            *c = 0;
            continue;
        }
        *c = reverse(next[l], l as u32);
        next[l] = next[l].wrapping_add(1);
    }
}

/// The low `n` bits of `code`, reversed.
pub const fn reverse(code: u16, n: u32) -> u16 {
    if n == 0 {
        return 0;
    }
    code.reverse_bits() >> (16 - n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kraft(lens: &[u8], max: u32) -> u64 {
        lens.iter()
            .filter(|&&l| l > 0)
            .map(|&l| 1u64 << (max - u32::from(l)))
            .sum()
    }

    #[test]
    fn rfc_example_codes() {
        // RFC 1951 §3.2.2: lengths (3,3,3,3,3,2,4,4) give 010,011,100,101,110,00,1110,1111.
        let lens = [3u8, 3, 3, 3, 3, 2, 4, 4];
        let mut codes = [0u16; 8];
        canonical_codes(&lens, &mut codes);
        let want = [0b010, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111];
        for i in 0..8 {
            assert_eq!(codes[i], reverse(want[i], u32::from(lens[i])), "symbol {i}");
        }
    }

    #[test]
    fn lengths_are_optimal_for_a_small_case() {
        let freqs = [5u32, 9, 12, 13, 16, 45];
        let mut lens = [0u8; 6];
        build_lengths(&freqs, 15, &mut lens);
        assert_eq!(lens, [4, 4, 3, 3, 3, 1]);
    }

    #[test]
    fn single_and_empty() {
        let mut lens = [9u8; 4];
        build_lengths(&[0, 0, 0, 0], 15, &mut lens);
        assert_eq!(lens, [0; 4]);
        build_lengths(&[0, 7, 0, 0], 15, &mut lens);
        assert_eq!(lens, [0, 1, 0, 0]);
    }

    #[test]
    fn limits_are_kept_and_codes_complete() {
        // Fibonacci frequencies make the deepest possible tree.
        let mut freqs = [0u32; 30];
        let (mut x, mut y) = (1u32, 1u32);
        for f in freqs.iter_mut() {
            *f = x;
            (x, y) = (y, x + y);
        }
        for max in [7u8, 9, 15] {
            let mut lens = [0u8; 30];
            build_lengths(&freqs, max, &mut lens);
            assert!(lens.iter().all(|&l| l >= 1 && l <= max), "{lens:?}");
            assert_eq!(kraft(&lens, 15), 1 << 15, "max {max}: {lens:?}");
        }
        // A pseudo-random spread over the literal/length alphabet.
        let mut s = 0x1234_5678u32;
        let mut freqs = [0u32; 286];
        for f in freqs.iter_mut() {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *f = (s >> 16) % 3000 / ((s >> 8) % 50 + 1);
        }
        let mut lens = [0u8; 286];
        build_lengths(&freqs, 15, &mut lens);
        let used = freqs.iter().filter(|&&f| f > 0).count();
        assert_eq!(lens.iter().filter(|&&l| l > 0).count(), used);
        assert_eq!(kraft(&lens, 15), 1 << 15);
    }
}
