//! A TZif reader (RFC 8536): the bytes of `/usr/share/zoneinfo/<name>` in, the zone's UTC
//! offsets over time out. Sans-IO and total: any input gives a zone or `None`, never a panic.
//!
//! Only the version 2+ 64-bit section is read (the 32-bit block is skipped; a version 1 file
//! is refused). Leap-second records are skipped; `isstd`/`isut` do not matter for offsets.
//! Times after the last transition follow the footer's POSIX TZ rule (RFC 8536 §3.3, e.g.
//! `CET-1CEST,M3.5.0,M10.5.0/3`), which "slim" files (no transitions listed past the last rule
//! change) need; without a usable footer the last transition's offset stays.

/// A zone: `transitions[i] = (utc_seconds, offset_seconds)` in increasing time; `initial` is
/// the offset before the first one; `rule` the footer's rule for times after the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub initial: i32,
    pub transitions: Vec<(i64, i32)>,
    pub rule: Option<Rule>,
}

/// A POSIX TZ rule: the standard offset and, with daylight saving time, its offset and the
/// local times it starts and ends each year (offsets in seconds east of UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub std: i32,
    pub dst: Option<(i32, DayTime, DayTime)>,
}

/// A day of the year (`Mm.w.d`, `Jn` or `n`) and a local time on it, in seconds (may be
/// negative or past 24 h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayTime {
    pub day: Day,
    pub secs: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Day {
    /// `Jn`: 1..=365, February 29 never counted.
    Julian(u16),
    /// `n`: 0..=365, February 29 counted.
    Zero(u16),
    /// `Mm.w.d`: month 1..=12, week 1..=5 (5 = last), weekday 0..=6 (Sunday = 0).
    Month(u8, u8, u8),
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn year_of_days(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    yoe + era * 400 + i64::from(mp >= 10)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

impl Day {
    /// Days since 1970-01-01 of this day in year `y`.
    fn in_year(self, y: i64) -> i64 {
        let jan1 = days_from_civil(y, 1, 1);
        match self {
            Day::Julian(n) => {
                let n = i64::from(n);
                jan1 + n - 1 + i64::from(is_leap(y) && n >= 60)
            }
            Day::Zero(n) => jan1 + i64::from(n),
            Day::Month(m, w, d) => {
                let m = i64::from(m);
                let first = days_from_civil(y, m, 1);
                let next = if m == 12 {
                    days_from_civil(y + 1, 1, 1)
                } else {
                    days_from_civil(y, m + 1, 1)
                };
                // 1970-01-01 was a Thursday (4).
                let wd = (first + 4).rem_euclid(7);
                let mut day = first + (i64::from(d) - wd).rem_euclid(7) + 7 * (i64::from(w) - 1);
                while day >= next {
                    day -= 7;
                }
                day
            }
        }
    }
}

impl Rule {
    /// The offset at `utc` seconds.
    pub fn offset_at(&self, utc: i64) -> i32 {
        let Some((dst, start, end)) = self.dst else {
            return self.std;
        };
        // ±2^40 s is ±34 000 years: the date arithmetic below cannot overflow.
        let utc = utc.clamp(-(1 << 40), 1 << 40);
        let year = year_of_days((utc + i64::from(self.std)).div_euclid(86_400));
        // The UTC instants of this year's start (in standard time) and end (in DST).
        let at = |dt: DayTime, off: i32| {
            dt.day.in_year(year) * 86_400 + i64::from(dt.secs) - i64::from(off)
        };
        let (s, e) = (at(start, self.std), at(end, dst));
        let in_dst = if s < e {
            s <= utc && utc < e
        } else {
            !(e <= utc && utc < s)
        };
        if in_dst { dst } else { self.std }
    }
}

/// Parses a POSIX TZ string (RFC 8536 §3.3 with its extensions); `None` if not usable.
pub fn parse_rule(s: &str) -> Option<Rule> {
    let b = s.as_bytes();
    let mut i = 0;
    let name = |i: &mut usize| -> Option<()> {
        let start = *i;
        if b.get(*i) == Some(&b'<') {
            while *b.get(*i)? != b'>' {
                *i += 1;
            }
            *i += 1;
            return (*i - start >= 3).then_some(());
        }
        while b.get(*i).is_some_and(u8::is_ascii_alphabetic) {
            *i += 1;
        }
        (*i - start >= 3).then_some(())
    };
    // [+-]hh[:mm[:ss]] in seconds; hours up to 167 (RFC 8536 §3.3.1).
    let time = |i: &mut usize| -> Option<i32> {
        let sign = match b.get(*i) {
            Some(b'-') => {
                *i += 1;
                -1
            }
            Some(b'+') => {
                *i += 1;
                1
            }
            _ => 1,
        };
        let mut parts = [0i32; 3];
        for (k, p) in parts.iter_mut().enumerate() {
            if k > 0 {
                if b.get(*i) != Some(&b':') {
                    break;
                }
                *i += 1;
            }
            let start = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) && *i - start < 3 {
                *p = *p * 10 + i32::from(b[*i] - b'0');
                *i += 1;
            }
            if *i == start {
                return None;
            }
        }
        (parts[0] <= 167 && parts[1] < 60 && parts[2] < 60)
            .then(|| sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]))
    };
    let number = |i: &mut usize, max: u16| -> Option<u16> {
        let start = *i;
        let mut n: u16 = 0;
        while b.get(*i).is_some_and(u8::is_ascii_digit) && *i - start < 3 {
            n = n * 10 + u16::from(b[*i] - b'0');
            *i += 1;
        }
        (*i > start && n <= max).then_some(n)
    };
    let day_time = |i: &mut usize| -> Option<DayTime> {
        let day = match b.get(*i)? {
            b'J' => {
                *i += 1;
                Day::Julian(number(i, 365).filter(|n| *n >= 1)?)
            }
            b'M' => {
                *i += 1;
                let m = number(i, 12).filter(|n| *n >= 1)?;
                (b.get(*i) == Some(&b'.')).then_some(())?;
                *i += 1;
                let w = number(i, 5).filter(|n| *n >= 1)?;
                (b.get(*i) == Some(&b'.')).then_some(())?;
                *i += 1;
                let d = number(i, 6)?;
                Day::Month(m as u8, w as u8, d as u8)
            }
            _ => Day::Zero(number(i, 365)?),
        };
        let secs = if b.get(*i) == Some(&b'/') {
            *i += 1;
            time(i)?
        } else {
            7200
        };
        Some(DayTime { day, secs })
    };
    name(&mut i)?;
    // POSIX offsets are west of UTC.
    let std = -time(&mut i)?;
    if i == b.len() {
        return Some(Rule { std, dst: None });
    }
    name(&mut i)?;
    let dst = if matches!(b.get(i), Some(b',') | None) {
        std + 3600
    } else {
        -time(&mut i)?
    };
    (b.get(i) == Some(&b',')).then_some(())?;
    i += 1;
    let start = day_time(&mut i)?;
    (b.get(i) == Some(&b',')).then_some(())?;
    i += 1;
    let end = day_time(&mut i)?;
    (i == b.len()).then_some(Rule {
        std,
        dst: Some((dst, start, end)),
    })
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
            i if i == self.transitions.len() && self.rule.is_some() => {
                self.rule.as_ref().map_or(0, |r| r.offset_at(utc_seconds))
            }
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
    r.take(data_len(&h, 8)?.checked_sub(h.time * 9 + h.types * 6)?)?;
    // The footer: "\n<TZ string>\n".
    let rest = bytes.get(r.at..).unwrap_or_default();
    let rule = rest
        .strip_prefix(b"\n")
        .and_then(|f| f.split(|&c| c == b'\n').next())
        .and_then(|f| std::str::from_utf8(f).ok())
        .and_then(parse_rule);
    // RFC 8536 §3.2: before the first transition, type 0 applies.
    Some(Zone {
        initial: offset_of(0)?,
        transitions,
        rule,
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
    fn footer_rules_match_the_listed_transitions() {
        let r = parse_rule("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(r.std, 3600);
        assert_eq!(r.offset_at(1_774_746_000 - 1), 3600);
        assert_eq!(r.offset_at(1_774_746_000), 7200);
        assert_eq!(r.offset_at(1_792_890_000 - 1), 7200);
        assert_eq!(r.offset_at(1_792_890_000), 3600);
        assert_eq!(
            parse_rule("IST-5:30"),
            Some(Rule {
                std: 19_800,
                dst: None
            })
        );
        assert_eq!(parse_rule("<+0545>-5:45").map(|r| r.std), Some(20_700));
        // Southern hemisphere: DST over the new year.
        let nz = parse_rule("NZST-12NZDT,M9.5.0,M4.1.0/3").unwrap();
        assert_eq!(nz.offset_at(1_798_000_000), 13 * 3600); // January 2027
        assert_eq!(nz.offset_at(1_783_000_000), 12 * 3600); // July 2026
        for bad in [
            "",
            "C",
            "CET",
            "CET-1CEST,M13.1.0,M10.5.0",
            "CET-1CEST,M3.5.0",
            "CET-1CEST,J0,J5",
            "X-999",
        ] {
            assert_eq!(parse_rule(bad), None, "{bad}");
        }
        // A fat file's listed transitions and its footer agree, hour by hour, over 2030.
        for name in ["Europe/Berlin", "America/New_York", "Australia/Sydney"] {
            let Some(z) = zone(name) else { continue };
            let rule = z.rule.clone().unwrap();
            for h in 0..(365 * 24) {
                let t = 1_893_456_000 + h * 3600;
                assert_eq!(rule.offset_at(t), z.offset_at(t), "{name} {t}");
            }
            // A "slim" file (transitions only to 2000) follows the rule after them.
            let slim = Zone {
                transitions: z
                    .transitions
                    .iter()
                    .copied()
                    .filter(|t| t.0 < 946_684_800)
                    .collect(),
                ..z.clone()
            };
            for h in (0..(365 * 24)).step_by(7) {
                let t = 1_893_456_000 + h * 3600;
                assert_eq!(slim.offset_at(t), z.offset_at(t), "slim {name} {t}");
            }
            assert_eq!(z.offset_at(2_500_000_000), rule.offset_at(2_500_000_000));
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
