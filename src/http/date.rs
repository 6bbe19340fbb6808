//! HTTP dates (RFC 9110 §5.6.7) and `Retry-After` (§10.2.3), sans-IO.
//!
//! Recipients must accept all three formats: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`),
//! the obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
//! (`Sun Nov  6 08:49:37 1994`). The weekday is not checked against the date.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses an HTTP date to Unix seconds; `None` if it is not one.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let (_, rest) = s.split_once([',', ' '])?;
    let parts: Vec<&str> = rest.split_ascii_whitespace().collect();
    let (day, month, year, time) = match parts.as_slice() {
        // IMF-fixdate: "06 Nov 1994 08:49:37 GMT"
        [d, m, y, t, "GMT"] if s.as_bytes().get(3) == Some(&b',') => {
            (num(d, 2)?, month(m)?, num(y, 4)?, *t)
        }
        // RFC 850: "06-Nov-94 08:49:37 GMT"; two-digit years 70-99 are 19xx, 00-69 20xx
        // (the 50-years-ahead rule of §5.6.7, as of the 2020s).
        [dmy, t, "GMT"] if s.contains(',') => {
            let mut it = dmy.split('-');
            let (d, m, y) = (it.next()?, it.next()?, it.next()?);
            if it.next().is_some() {
                return None;
            }
            let y = num(y, 2)?;
            (
                num(d, 2)?,
                month(m)?,
                if y < 70 { 2000 + y } else { 1900 + y },
                *t,
            )
        }
        // asctime: "Nov  6 08:49:37 1994"
        [m, d, t, y] if !s.contains(',') => {
            (num(d, d.len().clamp(1, 2))?, month(m)?, num(y, 4)?, *t)
        }
        _ => return None,
    };
    let mut hms = time.split(':');
    let (h, mi, se) = (
        num(hms.next()?, 2)?,
        num(hms.next()?, 2)?,
        num(hms.next()?, 2)?,
    );
    if hms.next().is_some() || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + se)
}

/// A `Retry-After` value as milliseconds from `now_unix_ms`: delay-seconds or an HTTP date
/// (a date in the past gives 0). `None` when it is neither.
pub fn retry_after_ms(value: &str, now_unix_ms: i64) -> Option<i64> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(
            v.parse::<i64>()
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
        );
    }
    let at = parse_http_date(v)?.saturating_mul(1000);
    Some(at.saturating_sub(now_unix_ms).max(0))
}

/// A run of exactly `len` ASCII digits.
fn num(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn month(s: &str) -> Option<i64> {
    MONTHS.iter().position(|m| *m == s).map(|i| i as i64 + 1)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the well-known civil-from-days
/// inverse: years counted from March so the leap day is last).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_6_1994: i64 = 784_111_777;

    #[test]
    fn the_three_formats_of_rfc_9110() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(NOV_6_1994)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(NOV_6_1994)
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(NOV_6_1994)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1_835_481_599)
        );
        assert_eq!(
            parse_http_date("Tuesday, 24-Nov-26 04:00:00 GMT"),
            Some(1_795_492_800)
        );
    }

    #[test]
    fn refuses_what_is_not_a_date() {
        for s in [
            "",
            "GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 29 Feb 1900 08:49:37 GMT",
            "Sun, 06 Now 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37:00 GMT",
            "Sunday, 06-Nov-94-1 08:49:37 GMT",
            "Sun Nov 006 08:49:37 1994",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT trailing",
        ] {
            assert_eq!(parse_http_date(s), None, "{s:?}");
        }
    }

    #[test]
    fn retry_after_seconds_or_date() {
        let now = NOV_6_1994 * 1000;
        assert_eq!(retry_after_ms("120", now), Some(120_000));
        assert_eq!(retry_after_ms(" 0 ", now), Some(0));
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(30_000)
        );
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(retry_after_ms("-5", now), None);
        assert_eq!(retry_after_ms("1.5", now), None);
        assert_eq!(retry_after_ms("soon", now), None);
        assert!(retry_after_ms(&"9".repeat(40), now).is_some_and(|ms| ms > 0));
    }
}
