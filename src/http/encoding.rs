//! Content codings: which answers get `Content-Encoding: gzip` (RFC 9110 §8.4, §12.5.3).
//!
//! The request decides what the client takes ([`negotiate`]: `Accept-Encoding` with its
//! q-values, `identity;q=0`, `*`); the answer decides whether compressing pays ([`worth`]:
//! a JSON or text body of at least [`GZIP_MIN`] bytes, a status that has a body, nothing
//! already encoded). `Cache-Control: no-transform` (on the event stream) binds intermediaries,
//! not the origin choosing a content coding (RFC 9111 §5.2.2.6). Only `/api` answers and the
//! `/api/events` stream are candidates: the web app's own files are served elsewhere and
//! already arrive compressed, and `/cli` speaks to the CLI, which never asks.
//!
//! An answer that could have been compressed carries `Vary: Accept-Encoding` whether or not
//! this client took gzip, so a cache in between keeps the two representations apart.
//! The bytes themselves come from [`crate::gzip`].

use super::{Head, Response};

/// Bodies shorter than this go out as they are: below ~1 KB the gzip header, trailer and
/// block headers eat most of the saving, and the answer fits in one TCP segment anyway.
pub const GZIP_MIN: usize = 1024;

/// How the answer to a request may be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Coding {
    /// Not a route hapid compresses: as is, no `Vary`.
    #[default]
    Never,
    /// A compressible route, but the client does not take gzip (or asked with HEAD): as is,
    /// with `Vary: Accept-Encoding`.
    Identity,
    /// gzip, when the answer is [`worth`] it.
    Gzip,
}

/// The coding for the answer to `head`.
pub fn negotiate(head: &Head) -> Coding {
    if !(head.path == "/api" || head.path.starts_with("/api/")) {
        return Coding::Never;
    }
    // HEAD answers with the identity length: the same Content-Length a GET without gzip sees.
    if head.method == "HEAD" || !accepts_gzip(head.header_values("accept-encoding")) {
        return Coding::Identity;
    }
    Coding::Gzip
}

/// Whether `Accept-Encoding` field values (all of the request's lines, in order) let hapid
/// answer with gzip.
///
/// RFC 9110 §12.5.3: `gzip` (or `x-gzip`) with a nonzero weight, or `*` with one when gzip is
/// not named; not when `identity` is named with a higher weight than gzip (the client prefers
/// it). No field at all means the client did not ask (curl without `--compressed`): no gzip.
/// An element with a malformed weight is ignored. The first mention of a coding counts.
pub fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    let (mut gzip, mut star, mut identity) = (None, None, None);
    for value in values {
        for element in value.split(',') {
            let mut parts = element.split(';');
            let coding = parts.next().unwrap_or("").trim();
            if coding.is_empty() {
                continue;
            }
            let mut q = Some(1000);
            for p in parts {
                let (name, v) = p.split_once('=').unwrap_or((p, ""));
                if name.trim().eq_ignore_ascii_case("q") {
                    q = parse_q(v.trim());
                }
            }
            let Some(q) = q else { continue };
            let slot =
                if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                    &mut gzip
                } else if coding == "*" {
                    &mut star
                } else if coding.eq_ignore_ascii_case("identity") {
                    &mut identity
                } else {
                    continue;
                };
            slot.get_or_insert(q);
        }
    }
    let g = gzip.or(star).unwrap_or(0);
    g > 0 && identity.is_none_or(|i| i <= g)
}

/// A qvalue (RFC 9110 §12.4.2) in thousandths: `0`, `0.5`, `1`, `1.000`; None if malformed.
fn parse_q(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (i, b) in frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .enumerate()
    {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether compressing `resp` pays and is allowed: a body-carrying status, a JSON or text
/// body of at least [`GZIP_MIN`] bytes, no `Content-Encoding` yet.
pub fn worth(resp: &Response) -> bool {
    if resp.status < 200 || resp.status == 204 || resp.status == 304 {
        return false;
    }
    if resp.body.len() < GZIP_MIN {
        return false;
    }
    let mut textual = false;
    for (n, v) in &resp.headers {
        if n.eq_ignore_ascii_case("content-encoding") {
            return false;
        }
        if n.eq_ignore_ascii_case("content-type") {
            let t = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            textual = t == "application/json" || t.ends_with("+json") || t.starts_with("text/");
        }
    }
    textual
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! accepts {
        ($($name:ident: [$($v:expr),*] => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(accepts_gzip([$($v),*]), $want);
            }
        )*};
    }

    accepts! {
        browser: ["gzip, deflate, br, zstd"] => true;
        plain_gzip: ["gzip"] => true;
        x_gzip: ["x-gzip"] => true;
        upper_case: ["GZIP;Q=0.5"] => true;
        absent: [] => false;
        empty_value: [""] => false;
        identity_only: ["identity"] => false;
        br_only: ["br"] => false;
        gzip_refused: ["gzip;q=0, deflate"] => false;
        gzip_refused_spaces: ["gzip ; q = 0"] => false;
        gzip_zero_point: ["gzip;q=0.000"] => false;
        star: ["*"] => true;
        star_refused: ["*;q=0"] => false;
        star_but_not_gzip: ["*, gzip;q=0"] => false;
        gzip_named_beats_star_refusal: ["gzip, *;q=0"] => true;
        identity_refused: ["gzip, identity;q=0"] => true;
        identity_preferred: ["gzip;q=0.5, identity"] => false;
        identity_less_preferred: ["gzip, identity;q=0.5"] => true;
        tie_goes_to_gzip: ["gzip;q=0.8, identity;q=0.8"] => true;
        small_weight: ["gzip;q=0.001"] => true;
        malformed_weight_ignored: ["gzip;q=2"] => false;
        malformed_weight_other_ok: ["gzip;q=1.5, *"] => true;
        too_many_digits: ["gzip;q=0.1234"] => false;
        other_params: ["gzip;level=9"] => true;
        two_lines: ["br", "gzip"] => true;
        first_mention_counts: ["gzip;q=0", "gzip"] => false;
        junk: [",,;;=,"] => false;
    }

    #[test]
    fn q_values() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1."), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("1.001"), None);
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.05"), Some(50));
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q(""), None);
        assert_eq!(parse_q(".5"), None);
        assert_eq!(parse_q("0.x"), None);
    }

    fn head(method: &str, path: &str, ae: Option<&str>) -> Head {
        Head {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            headers: ae
                .map(|v| vec![("accept-encoding".to_string(), v.as_bytes().to_vec())])
                .unwrap_or_default(),
            minor: 1,
        }
    }

    #[test]
    fn only_api_routes_are_negotiated() {
        assert_eq!(
            negotiate(&head("GET", "/api/sessions", Some("gzip"))),
            Coding::Gzip
        );
        assert_eq!(
            negotiate(&head("GET", "/api/events", Some("gzip"))),
            Coding::Gzip
        );
        assert_eq!(negotiate(&head("GET", "/api", Some("gzip"))), Coding::Gzip);
        assert_eq!(
            negotiate(&head("GET", "/api/sessions", None)),
            Coding::Identity
        );
        assert_eq!(
            negotiate(&head("HEAD", "/api/sessions", Some("gzip"))),
            Coding::Identity
        );
        assert_eq!(
            negotiate(&head("GET", "/apiary", Some("gzip"))),
            Coding::Never
        );
        assert_eq!(
            negotiate(&head("GET", "/cli/sessions", Some("gzip"))),
            Coding::Never
        );
        assert_eq!(
            negotiate(&head("GET", "/socket.io/", Some("gzip"))),
            Coding::Never
        );
    }

    #[test]
    fn worth_it_only_for_large_textual_bodies() {
        let big = "x".repeat(GZIP_MIN);
        assert!(worth(&Response::new(200, "application/json", big.clone())));
        assert!(worth(&Response::new(
            404,
            "application/json; charset=utf-8",
            big.clone()
        )));
        assert!(worth(&Response::new(200, "text/plain", big.clone())));
        assert!(!worth(&Response::new(
            200,
            "application/json",
            "x".repeat(GZIP_MIN - 1)
        )));
        assert!(!worth(&Response::new(200, "image/png", big.clone())));
        assert!(!worth(&Response::new(204, "application/json", big.clone())));
        assert!(!worth(&Response::new(304, "application/json", big.clone())));
        assert!(!worth(
            &Response::new(200, "application/json", big.clone()).header("Content-Encoding", "br")
        ));
    }
}
