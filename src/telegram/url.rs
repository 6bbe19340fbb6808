//! The Mini App deep link (`telegram.md` §6.2): `publicUrl` with the query parameter
//! `startapp=session_<id>`.
//!
//! Upstream parses `publicUrl` with the WHATWG URL parser, sets the parameter through
//! `URLSearchParams` and re-serialises the whole URL. hapid does the part that matters
//! without a URL library: an absolute URL (it has a scheme; `http`, `https`, `ws`, `wss`,
//! `ftp` also need a non-empty host after `//`) gets `startapp` replaced or appended
//! (form-encoded), the other parameters are kept verbatim (§6.2 allows it; empty `&&`
//! pieces are dropped as `URLSearchParams` does), the fragment stays last, and an empty path
//! of those schemes becomes `/`. Not reproduced: WHATWG's other normalisations (lower-casing
//! scheme and host, default-port removal, dot segments, percent-encoding of the path).
//! Anything else is "not absolute": `?startapp=` / `&startapp=` is appended with the value
//! encoded as by `encodeURIComponent`, exactly as upstream's fallback.

/// The query parameter the web app reads at boot.
const PARAM: &str = "startapp";

/// Schemes the WHATWG parser treats as special (they need a host); `file` is left out
/// because an empty host is valid there.
const SPECIAL: [&str; 5] = ["http", "https", "ws", "wss", "ftp"];

/// `deepLink(sessionId)` of §6.2: `public_url` with `startapp=session_<session_id>` set.
/// Examples: `https://hapi.example.test/app` →
/// `https://hapi.example.test/app?startapp=session_<id>`; `https://h.example` →
/// `https://h.example/?startapp=session_<id>`; `/app` → `/app?startapp=session_<id>`.
pub fn deep_link(public_url: &str, session_id: &str) -> String {
    let value = format!("session_{session_id}");
    // The WHATWG parser strips leading/trailing C0 controls and spaces first.
    let trimmed = public_url.trim_matches(|c: char| c <= ' ');
    if let Some(link) = absolute_with_param(trimmed, &value) {
        return link;
    }
    let sep = if public_url.contains('?') { '&' } else { '?' };
    format!("{public_url}{sep}{PARAM}={}", encode_uri_component(&value))
}

/// The absolute-URL case; None when `url` has no usable scheme (or a special scheme
/// without a host).
fn absolute_with_param(url: &str, value: &str) -> Option<String> {
    let (scheme, rest) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
        return None;
    }
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (rest, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let mut out = String::with_capacity(url.len() + value.len() + 16);
    out.push_str(scheme);
    out.push(':');
    out.push_str(base);
    if SPECIAL.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        let after_slashes = base.strip_prefix("//")?;
        let (authority, path) = match after_slashes.find('/') {
            Some(i) => after_slashes.split_at(i),
            None => (after_slashes, ""),
        };
        if authority.is_empty() {
            return None;
        }
        if path.is_empty() {
            out.push('/');
        }
    }
    out.push('?');
    let mut set = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        if form_decode(name) == PARAM.as_bytes() {
            if set {
                continue; // URLSearchParams.set removes the other occurrences
            }
            set = true;
            push_param(&mut out, value);
        } else {
            out.push_str(pair);
        }
        out.push('&');
    }
    if set {
        out.pop(); // the trailing '&'
    } else {
        push_param(&mut out, value);
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    Some(out)
}

fn push_param(out: &mut String, value: &str) {
    out.push_str(PARAM);
    out.push('=');
    form_encode(out, value);
}

/// `application/x-www-form-urlencoded` decoding of a name (`+` is a space; bad `%`
/// sequences stay as they are), as bytes.
fn form_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = b.get(i + 1).and_then(|&h| hex_val(h));
                let lo = b.get(i + 2).and_then(|&l| hex_val(l));
                if let (Some(h), Some(l)) = (hi, lo) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                out.push(c);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_pct(out: &mut String, byte: u8) {
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0x0f)]));
}

/// The URL Standard's form-urlencoded serializer: alphanumerics and `*-._` stay, space is
/// `+`, every other UTF-8 byte is `%XX`.
fn form_encode(out: &mut String, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => push_pct(out, b),
        }
    }
}

/// JavaScript's `encodeURIComponent`: `A–Z a–z 0–9 - _ . ! ~ * ' ( )` stay, every other
/// UTF-8 byte is `%XX`.
pub(super) fn encode_uri_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z'
            | b'A'..=b'Z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'!'
            | b'~'
            | b'*'
            | b'\''
            | b'('
            | b')' => out.push(char::from(b)),
            _ => push_pct(&mut out, b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "9935aa4a-35cc-469b-b3d4-2b9302b06746";

    #[test]
    fn deep_links() {
        let cases: &[(&str, &str)] = &[
            // §6.2 examples.
            (
                "https://hapi.example.test/app",
                "https://hapi.example.test/app?startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746",
            ),
            (
                "https://h.example",
                "https://h.example/?startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746",
            ),
            // Existing startapp replaced, other parameters kept verbatim, in place.
            (
                "https://h.example/app?a=1&startapp=old&b=x%20y",
                "https://h.example/app?a=1&startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746&b=x%20y",
            ),
            (
                "https://h.example/app?startapp=1&startapp=2&c",
                "https://h.example/app?startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746&c",
            ),
            (
                "https://h.example/app?st%61rtapp=old",
                "https://h.example/app?startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746",
            ),
            (
                "https://h.example/app?x=1",
                "https://h.example/app?x=1&startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746",
            ),
            (
                "https://h.example/app?",
                "https://h.example/app?startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746",
            ),
            (
                "https://h.example/app?a=1&&b=2",
                "https://h.example/app?a=1&b=2&startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746",
            ),
            (
                "https://h.example:8443/app#top",
                "https://h.example:8443/app?startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746#top",
            ),
            (
                "https://h.example?q=1#f?g",
                "https://h.example/?q=1&startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746#f?g",
            ),
            (
                "  http://localhost:3006 ",
                "http://localhost:3006/?startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746",
            ),
            // Not absolute: upstream's fallback.
            (
                "/app",
                "/app?startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746",
            ),
            (
                "hapi.example/app?x=1",
                "hapi.example/app?x=1&startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746",
            ),
            (
                "https://",
                "https://?startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746",
            ),
            ("", "?startapp=session_9935aa4a-35cc-469b-b3d4-2b9302b06746"),
        ];
        for (url, want) in cases {
            assert_eq!(deep_link(url, SID), *want, "{url:?}");
        }
    }

    #[test]
    fn encodings() {
        // Form encoding in the absolute case, encodeURIComponent in the fallback.
        assert_eq!(
            deep_link("https://h.example/", "a b/é*'"),
            "https://h.example/?startapp=session_a+b%2F%C3%A9*%27"
        );
        assert_eq!(
            deep_link("rel", "a b/é*'"),
            "rel?startapp=session_a%20b%2F%C3%A9*'"
        );
        assert_eq!(
            encode_uri_component("agent/with space"),
            "agent%2Fwith%20space"
        );
        assert_eq!(encode_uri_component("AZaz09-_.!~*'()"), "AZaz09-_.!~*'()");
        assert_eq!(form_decode("a+%41%zz%4"), b"a A%zz%4");
    }
}
