//! Access tokens (spec/auth.md §2.1, §3, §3.1): `<base>` or `<base>:<namespace>`, the
//! JavaScript-`trim` parser every entry point shares, constant-time comparison against the
//! configured CLI_API_TOKEN, and the startup checks on the configured token.
//!
//! Not here: where the configured token comes from (config), what a namespace scopes (hub).

/// The namespace of a bare access token (no `:` suffix).
pub const DEFAULT_NAMESPACE: &str = "default";

/// ECMAScript WhiteSpace ∪ LineTerminator (ECMA-262 §12.2, §12.3), the set
/// `String.prototype.trim` strips. Differs from `char::is_whitespace`: it includes the BOM
/// U+FEFF and excludes U+0085 NEXT LINE.
pub fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{0009}'..='\u{000D}'
            | '\u{0020}'
            | '\u{00A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
            | '\u{FEFF}'
    )
}

/// `String.prototype.trim`: strips [`is_js_whitespace`] characters at both ends.
pub fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_whitespace)
}

/// Access-token parsing of auth.md §3, with JavaScript String.prototype.trim semantics
/// (Unicode White_Space + line terminators + BOM U+FEFF). Returns (base, namespace); bare
/// token -> namespace "default". None = INVALID. Never panics; no length cap.
pub fn parse_access_token(raw: &str) -> Option<(&str, &str)> {
    let t = js_trim(raw);
    if t.is_empty() {
        return None;
    }
    let Some((base, ns)) = t.rsplit_once(':') else {
        return Some((t, DEFAULT_NAMESPACE));
    };
    if base.is_empty() || ns.is_empty() || js_trim(base) != base || js_trim(ns) != ns {
        return None;
    }
    Some((base, ns))
}

/// Constant-time equality: no early exit; compares over max(len) and folds the length check
/// in. Only the lengths (not the contents) influence the running time.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    core::hint::black_box(diff) == 0
}

/// parse + ct_eq against the configured base token: Some(namespace) when it authenticates.
/// An empty configured token never authenticates (a parsed base is never empty).
pub fn authenticate<'a>(raw: &'a str, cli_api_token: &str) -> Option<&'a str> {
    let (base, ns) = parse_access_token(raw)?;
    ct_eq(base.as_bytes(), cli_api_token.as_bytes()).then_some(ns)
}

/// A configured token must not contain ':' (v0.30.7 behaviour, auth.md §2.1): returns a
/// clear error message when it does. Also refuses an empty token and one with leading or
/// trailing (JavaScript) whitespace, which no client could ever match because clients'
/// tokens are trimmed (§3). The message never contains the token.
pub fn check_configured_token(t: &str) -> Result<(), String> {
    if t.is_empty() {
        return Err("CLI_API_TOKEN is empty".to_owned());
    }
    if t.contains(':') {
        return Err("CLI_API_TOKEN must be the base token only; \
                    namespace suffixes are not accepted (it contains ':')"
            .to_owned());
    }
    if js_trim(t) != t {
        return Err("CLI_API_TOKEN starts or ends with whitespace; \
                    no client could authenticate with it"
            .to_owned());
    }
    Ok(())
}

/// Upstream's weak-token heuristic (auth.md §2.1), for a startup warning only: shorter than
/// 16 UTF-16 code units, all ASCII digits, one repeated UTF-16 code unit (not a line
/// terminator, as JavaScript's `.`), or an ASCII-case-insensitive prefix `abc`, `123`,
/// `password`, `secret` or `token`.
pub fn is_weak(t: &str) -> bool {
    let units: Vec<u16> = t.encode_utf16().collect();
    if units.len() < 16 {
        return true;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    if let Some((&first, rest)) = units.split_first() {
        let line_terminator = matches!(first, 0x0A | 0x0D | 0x2028 | 0x2029);
        if !line_terminator && rest.iter().all(|&u| u == first) {
            return true;
        }
    }
    ["abc", "123", "password", "secret", "token"]
        .iter()
        .any(|p| {
            t.as_bytes()
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "specA-test-token-0123456789abcdefXYZ";

    // auth.md §3 table, plus trim edge cases.
    #[test]
    fn access_token_table() {
        let ws = "\u{FEFF}\u{3000}\t\n";
        let cases: Vec<(String, Option<&str>)> = vec![
            (T.to_owned(), Some("default")),
            (format!("  {T}  "), Some("default")),
            (format!("{T}:alice"), Some("alice")),
            (format!("{T}:default"), Some("default")),
            (format!("{T}:"), None),
            (format!("{T}: bob"), None),
            (format!("{T} :bob"), None),
            (format!("{T}:a:b"), None),
            (String::new(), None),
            ("wrong".to_owned(), None),
            ("   ".to_owned(), None),
            (":alice".to_owned(), None),
            (format!("{ws}{T}:ns{ws}"), Some("ns")),
            (format!("{T}:ns\u{0085}"), Some("ns\u{0085}")), // NEL is not JS whitespace
            (format!("{T}\u{0085}"), None),
            (format!("{T}:Alice"), Some("Alice")),
            (format!("{T}:a b"), Some("a b")),
            (format!("{T}:\u{00e9}t\u{00e9}"), Some("\u{00e9}t\u{00e9}")),
        ];
        for (raw, want) in cases {
            assert_eq!(authenticate(&raw, T), want, "{raw:?}");
        }
    }

    #[test]
    fn parse_table() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("T", Some(("T", "default"))),
            ("T:a:b", Some(("T:a", "b"))),
            (" T:x ", Some(("T", "x"))),
            ("T:", None),
            (":x", None),
            (":", None),
            ("", None),
            ("\u{2028}", None),
            ("T\u{00a0}:x", None),
            ("T:\u{00a0}x", None),
            ("T\u{0085}", Some(("T\u{0085}", "default"))),
            ("\u{FEFF}T", Some(("T", "default"))),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_access_token(raw), *want, "{raw:?}");
        }
        // "T:a:b" authenticates only against a base token "T:a"
        assert_eq!(authenticate("T:a:b", "T:a"), Some("b"));
    }

    #[test]
    fn ct_eq_table() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"", b"", true),
            (b"a", b"a", true),
            (b"a", b"b", false),
            (b"a", b"", false),
            (b"", b"a", false),
            (b"abc", b"abc\0", false),
            (b"abc\0", b"abc", false),
            (b"abcdef", b"abcdeF", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(ct_eq(a, b), *want, "{a:?} {b:?}");
        }
        assert!(authenticate("x", "").is_none());
    }

    #[test]
    fn configured_token_checks() {
        assert!(check_configured_token(T).is_ok());
        for bad in [
            "",
            "abc:def",
            "base-token:default",
            " x",
            "x\n",
            "\u{FEFF}x",
        ] {
            let e = check_configured_token(bad).expect_err(bad);
            assert!(
                bad.is_empty() || !e.contains(bad),
                "message leaks the token"
            );
        }
        assert!(
            check_configured_token("a:b")
                .unwrap_err()
                .contains("namespace suffixes are not accepted")
        );
    }

    #[test]
    fn weak_table() {
        let cases: &[(&str, bool)] = &[
            ("short", true),
            ("0123456789012345678", true),
            ("aaaaaaaaaaaaaaaaaaaa", true),
            ("\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n", false),
            ("ABCdefghijklmnopqrst", true),
            ("123xyzxyzxyzxyzxyz", true),
            ("PassWord-xyzxyzxyzxyz", true),
            ("secretive-xyzxyzxyzxyz", true),
            ("TOKEN-xyzxyzxyzxyzxyz", true),
            ("q3Jx-random-looking-Token", false),
            (T, false),
            (
                "\u{00e9}\u{00e9}\u{00e9}\u{00e9}\u{00e9}\u{00e9}\u{00e9}\u{00e9}\u{00e9}\u{00e9}\u{00e9}\u{00e9}\u{00e9}\u{00e9}\u{00e9}\u{00e9}",
                true,
            ),
            // astral: 8 chars = 16 UTF-16 units, alternating surrogates are not "one repeated unit"
            (
                "\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}",
                false,
            ),
            (
                "\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}",
                true,
            ),
        ];
        for (t, want) in cases {
            assert_eq!(is_weak(t), *want, "{t:?}");
        }
        // 16 chars exactly, no weak pattern
        assert!(!is_weak("xQ9-r7Lm2Zp4Kt8W"));
        assert!(is_weak("xQ9-r7Lm2Zp4Kt8"));
    }
}
