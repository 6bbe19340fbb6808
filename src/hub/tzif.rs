//! A TZif reader (RFC 8536): the bytes of `/usr/share/zoneinfo/<name>` in, the zone's UTC
//! offsets over time out. Sans-IO and total: any input gives a zone or `None`, never a panic.
//!
//! Only the version 2+ 64-bit section is read (the 32-bit block is skipped; a version 1 file
//! is refused). Leap-second records are skipped; `isstd`/`isut` do not matter for offsets.
//! Times after the last transition keep the offset of the last transition's type: the footer
//! TZ rule is not evaluated, which is exact for the "fat" files Debian ships (transitions
//! listed to 2037) and for zones without DST (Asia/Kolkata), and off for future DST in "slim"
//! files (Alpine).

/// A zone: `transitions[i] = (utc_seconds, offset_seconds)` in increasing time; `initial` is
/// the offset before the first one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub initial: i32,
    pub transitions: Vec<(i64, i32)>,
}

/// Largest file read (the largest real zone file is ~4 KB).
pub const MAX_TZIF_BYTES: usize = 64 * 1024;

impl Zone {
    /// The offset from UTC, in seconds, at `utc_seconds`.
    pub fn offset_at(&self, utc_seconds: i64) -> i32 {
        match self
            .transitions
            .partition_point(|&(at, _)| at <= utc_seconds)
        {
            0 => self.initial,
            i => self.transitions[i - 1].1,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

struct Header {
    isut: usize,
    isstd: usize,
    leap: usize,
    time: usize,
    types: usize,
    chars: usize,
}

fn header(r: &mut Reader) -> Option<(u8, Header)> {
    if r.take(4)? != b"TZif" {
        return None;
    }
    let version = r.take(1)?[0];
    r.take(15)?;
    let mut n = [0usize; 6];
    for v in &mut n {
        *v = usize::try_from(r.u32()?).ok()?;
    }
    let h = Header {
        isut: n[0],
        isstd: n[1],
        leap: n[2],
        time: n[3],
        types: n[4],
        chars: n[5],
    };
    // RFC 8536 §3.1: at least one type; the indicator counts are 0 or typecnt.
    if h.types == 0 || h.types > 256 || (h.isut != 0 && h.isut != h.types) {
        return None;
    }
    if h.isstd != 0 && h.isstd != h.types {
        return None;
    }
    Some((version, h))
}

fn data_len(h: &Header, time_size: usize) -> Option<usize> {
    let t = h.time.checked_mul(time_size + 1)?;
    let ty = h.types.checked_mul(6)?;
    let leap = h.leap.checked_mul(time_size + 4)?;
    t.checked_add(ty)?
        .checked_add(h.chars)?
        .checked_add(leap)?
        .checked_add(h.isstd)?
        .checked_add(h.isut)
}

/// Parses a TZif file (version 2 or later).
pub fn parse(bytes: &[u8]) -> Option<Zone> {
    if bytes.len() > MAX_TZIF_BYTES {
        return None;
    }
    let mut r = Reader { bytes, at: 0 };
    let (version, v1) = header(&mut r)?;
    if version < b'2' {
        return None;
    }
    r.take(data_len(&v1, 4)?)?;
    let (_, h) = header(&mut r)?;
    let times = r.take(h.time.checked_mul(8)?)?;
    let indices = r.take(h.time)?;
    let types = r.take(h.types * 6)?;
    let offset_of = |i: usize| -> Option<i32> {
        let t = types.get(i * 6..i * 6 + 4)?;
        let off = i32::from_be_bytes([t[0], t[1], t[2], t[3]]);
        // RFC 8536 §3.2: -2^31 is invalid; real offsets are within a day.
        (off.unsigned_abs() < 86_400 * 2).then_some(off)
    };
    let mut transitions = Vec::with_capacity(h.time);
    let mut last = i64::MIN;
    for (t, &idx) in times.chunks_exact(8).zip(indices) {
        let at = i64::from_be_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
        if at <= last && !transitions.is_empty() {
            return None;
        }
        last = at;
        transitions.push((at, offset_of(usize::from(idx))?));
    }
    // RFC 8536 §3.2: before the first transition, type 0 applies.
    Some(Zone {
        initial: offset_of(0)?,
        transitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> Option<Zone> {
        std::fs::read(format!("/usr/share/zoneinfo/{name}"))
            .ok()
            .and_then(|b| parse(&b))
    }

    #[test]
    fn berlin_switches_at_one_utc_on_the_last_sundays() {
        let Some(z) = zone("Europe/Berlin") else {
            return; // no tz database on this machine
        };
        // 2026-03-29 01:00:00 UTC: CET -> CEST.
        assert_eq!(z.offset_at(1_774_746_000 - 1), 3600);
        assert_eq!(z.offset_at(1_774_746_000), 7200);
        // 2026-10-25 01:00:00 UTC: CEST -> CET.
        assert_eq!(z.offset_at(1_792_890_000 - 1), 7200);
        assert_eq!(z.offset_at(1_792_890_000), 3600);
    }

    #[test]
    fn kolkata_is_five_thirty_and_new_york_has_dst() {
        if let Some(z) = zone("Asia/Kolkata") {
            assert_eq!(z.offset_at(1_796_000_000), 19_800);
            assert_eq!(z.offset_at(0), 19_800);
        }
        if let Some(z) = zone("America/New_York") {
            assert_eq!(z.offset_at(1_783_000_000), -4 * 3600); // July 2026
            assert_eq!(z.offset_at(1_796_000_000), -5 * 3600); // December 2026
        }
    }

    #[test]
    fn garbage_and_truncations_are_refused_not_panics() {
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"TZif2"), None);
        assert_eq!(parse(&[0xff; 100]), None);
        if let Ok(b) = std::fs::read("/usr/share/zoneinfo/Europe/Berlin") {
            for n in 0..b.len() {
                let _ = parse(&b[..n]);
            }
            let mut v1 = b.clone();
            v1[4] = 0;
            assert_eq!(parse(&v1), None);
        }
    }
}
