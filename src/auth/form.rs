//! `application/x-www-form-urlencoded` parsing as WHATWG URL §5.1 defines it (what
//! `new URLSearchParams(string)` does), and percent-decoding of URL path segments
//! (WHATWG URL §1.3 "percent-decode").
//!
//! Not here: serialization, or splitting a request target into path and query (http).

/// WHATWG application/x-www-form-urlencoded parsing (URLSearchParams): one leading '?'
/// ignored, '&' separated, '+' is space, %XX decoded as UTF-8 with invalid sequences →
/// U+FFFD (malformed % escapes are kept literally), pairs without '=' get "". Empty
/// sequences between '&'s are skipped. Output size is bounded by the input size.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    let s = s.strip_prefix('?').unwrap_or(s);
    s.split('&')
        .filter(|seq| !seq.is_empty())
        .map(|seq| {
            let (name, value) = seq.split_once('=').unwrap_or((seq, ""));
            (decode_component(name), decode_component(value))
        })
        .collect()
}

/// Percent-decoding of a URL path segment (no '+' rule), bytes → Vec<u8> (the caller
/// decides about UTF-8). A '%' not followed by two hex digits is kept as is.
pub fn percent_decode(s: &str) -> Vec<u8> {
    decode_bytes(s.as_bytes(), false)
}

/// One name or value: '+' → space, percent-decode, UTF-8 decode with replacement (Rust's
/// lossy decoding substitutes maximal subparts, as the WHATWG UTF-8 decoder does; a BOM is
/// kept, as "UTF-8 decode without BOM" does).
fn decode_component(s: &str) -> String {
    String::from_utf8_lossy(&decode_bytes(s.as_bytes(), true)).into_owned()
}

fn decode_bytes(input: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'%' {
            let hi = input.get(i + 1).and_then(|&h| hex_val(h));
            let lo = input.get(i + 2).and_then(|&l| hex_val(l));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    out
}

/// The value of one ASCII hex digit, either case.
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn form_table() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("?", &[]),
            ("??a=1", &[("?a", "1")]),
            ("?a=1", &[("a", "1")]),
            ("a=1&b=2", &[("a", "1"), ("b", "2")]),
            ("a=1&&b=2&", &[("a", "1"), ("b", "2")]),
            ("&&&", &[]),
            ("a", &[("a", "")]),
            ("a=", &[("a", "")]),
            ("=", &[("", "")]),
            ("=x", &[("", "x")]),
            ("a=b=c", &[("a", "b=c")]),
            ("a+b=c+d", &[("a b", "c d")]),
            ("a%2Bb=%2b", &[("a+b", "+")]),
            ("a=%zz", &[("a", "%zz")]),
            ("a=%", &[("a", "%")]),
            ("a=%4", &[("a", "%4")]),
            ("a=%4g", &[("a", "%4g")]),
            ("a=%%41", &[("a", "%A")]),
            ("a=%E2%82", &[("a", "\u{FFFD}")]),
            ("a=%E2%82%AC", &[("a", "\u{20AC}")]),
            ("a=%E2%82x", &[("a", "\u{FFFD}x")]),
            ("a=%FF%FE", &[("a", "\u{FFFD}\u{FFFD}")]),
            ("a=%C0%80", &[("a", "\u{FFFD}\u{FFFD}")]),
            ("a=%ED%A0%80", &[("a", "\u{FFFD}\u{FFFD}\u{FFFD}")]),
            ("a=%EF%BB%BFx", &[("a", "\u{FEFF}x")]),
            ("a=%00", &[("a", "\0")]),
            ("a=1&a=2", &[("a", "1"), ("a", "2")]),
            ("%61=%62", &[("a", "b")]),
            ("a=\u{e9}", &[("a", "\u{e9}")]),
            ("a=%26&b=%3D", &[("a", "&"), ("b", "=")]),
            (
                "user=%7B%22id%22%3A1%7D&hash=ab",
                &[("user", "{\"id\":1}"), ("hash", "ab")],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_form(input), pairs(want), "{input:?}");
        }
    }

    #[test]
    fn percent_decode_table() {
        let cases: &[(&str, &[u8])] = &[
            ("", b""),
            ("abc", b"abc"),
            ("a+b", b"a+b"),
            ("%2F", b"/"),
            ("%2f%2F", b"//"),
            ("%", b"%"),
            ("%2", b"%2"),
            ("%zz", b"%zz"),
            ("%FF", &[0xff]),
            ("%E2%82", &[0xe2, 0x82]),
            ("100%", b"100%"),
            ("%%30", b"%0"),
        ];
        for (input, want) in cases {
            assert_eq!(percent_decode(input), *want, "{input:?}");
        }
    }

    #[test]
    fn never_grows() {
        for s in ["%zz%", "a+%41&b", "%E2%82%AC%E2"] {
            assert!(percent_decode(s).len() <= s.len());
        }
    }
}
