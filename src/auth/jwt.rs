//! The hub's web JWT (spec/auth.md §4): JWS compact serialization (RFC 7515 §7.1) with
//! HS256 only (RFC 7518 §3.2), claims `uid`, `ns`, `iat`, `exp` (RFC 7519 §4.1).
//!
//! [`decode`] is the structural step (three base64url segments, two JSON objects) and is
//! fuzzed on its own; [`verify`] adds the algorithm, signature and claim checks of §4.3 with
//! hapid's tightening (exp required; `crit` always refused). Not here: where the secret
//! comes from, token extraction from requests (§5), the lifetime policy (§4.2).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Number, Value};

use super::hmac_sha256;
use super::token::ct_eq;

/// Tokens longer than this are refused before anything is decoded or allocated. A token
/// this hub mints is ~150 bytes plus its namespace.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// base64url of the only protected header this hub writes: `{"alg":"HS256"}`.
const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiJ9";

/// The verified claims of a web JWT.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// `uid`: any JSON number (the owner id when minted here; carries no authorization).
    pub uid: Number,
    /// `ns`: the namespace the token is scoped to, byte-exact.
    pub ns: String,
    /// `iat`: issue time in Unix seconds, when present.
    pub iat: Option<f64>,
    /// `exp`: expiry in Unix seconds (always present in an accepted token).
    pub exp: f64,
}

/// Why a token was refused; each maps to one 401 body (auth.md §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Format, algorithm, signature, `crit`, `exp`/`nbf`/`iat` failure.
    Invalid,
    /// Authentic and current, but `uid` is not a number or `ns` not a string.
    BadPayload,
}

impl JwtError {
    /// The `error` string of the 401 body: "Invalid token" / "Invalid token payload".
    pub fn message(&self) -> &'static str {
        match self {
            Self::Invalid => "Invalid token",
            Self::BadPayload => "Invalid token payload",
        }
    }
}

/// Header exactly {"alg":"HS256"}, payload {"uid":…,"ns":…,"iat":…,"exp":…} in that key
/// order, compact JSON, every part base64url without padding, HMAC-SHA256 under `secret`.
pub fn sign(secret: &[u8], uid: i64, ns: &str, iat_secs: u64, exp_secs: u64) -> String {
    // Display of a Value::String is infallible and escapes like JSON.stringify.
    let ns_json = Value::String(ns.to_owned());
    let payload = format!(r#"{{"uid":{uid},"ns":{ns_json},"iat":{iat_secs},"exp":{exp_secs}}}"#);
    sign_raw(secret, HEADER_B64, payload.as_bytes())
}

/// HS256-signs an already-encoded header segment and raw payload bytes.
fn sign_raw(secret: &[u8], header_b64: &str, payload: &[u8]) -> String {
    let mut out = String::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 48);
    out.push_str(header_b64);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);
    let mac = hmac_sha256(secret, out.as_bytes());
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(mac, &mut out);
    out
}

/// Structural decode without verifying (three segments, base64url, JSON objects) — fuzzed
/// separately.
#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    /// The protected header, a JSON object.
    pub header: Map<String, Value>,
    /// The payload (claims set), a JSON object.
    pub payload: Map<String, Value>,
    /// Length in bytes of the signing input `header.payload` (a prefix of the token).
    pub signing_input_len: usize,
    /// The decoded signature bytes (any length).
    pub signature: Vec<u8>,
}

/// Splits a compact JWS into exactly three '.'-separated segments, decodes each as strict
/// base64url (no padding, URL alphabet, canonical trailing bits) and the first two as JSON
/// objects (duplicate keys: the last wins, as `JSON.parse`). Any failure → `Invalid`.
pub fn decode(token: &str) -> Result<Parts, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Invalid);
    }
    let mut segs = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (segs.next(), segs.next(), segs.next(), segs.next())
    else {
        return Err(JwtError::Invalid);
    };
    Ok(Parts {
        header: json_object(h)?,
        payload: json_object(p)?,
        // Cannot overflow: both are parts of `token`, whose length fits in usize.
        signing_input_len: h.len() + 1 + p.len(),
        signature: b64(s)?,
    })
}

fn b64(seg: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD.decode(seg).map_err(|_| JwtError::Invalid)
}

fn json_object(seg: &str) -> Result<Map<String, Value>, JwtError> {
    serde_json::from_slice(&b64(seg)?).map_err(|_| JwtError::Invalid)
}

/// Full verification per auth.md §4.3 with hapid's tightening: alg must be exactly "HS256"
/// (anything else, including "none", Invalid); header "crit" → Invalid; signature compared
/// in constant time (recompute HMAC over the exact signing input bytes); exp REQUIRED and a
/// number, exp <= now → Invalid; nbf (if present) must be a number and <= now; iat if
/// present must be a number; then uid must be a JSON number and ns a string, else
/// BadPayload. Reject base64 with padding or non-url alphabet. No clock skew allowance.
pub fn verify(token: &str, secret: &[u8], now_secs: u64) -> Result<Claims, JwtError> {
    let parts = decode(token)?;
    if parts.header.get("alg").and_then(Value::as_str) != Some("HS256")
        || parts.header.contains_key("crit")
    {
        return Err(JwtError::Invalid);
    }
    let input = token
        .as_bytes()
        .get(..parts.signing_input_len)
        .ok_or(JwtError::Invalid)?;
    if !ct_eq(&hmac_sha256(secret, input), &parts.signature) {
        return Err(JwtError::Invalid);
    }

    // Unix seconds are far below 2^53, so the conversion is exact (JavaScript compares the
    // same doubles).
    let now = now_secs as f64;
    let claims = &parts.payload;
    let exp = number_claim(claims, "exp")?.ok_or(JwtError::Invalid)?;
    if exp <= now {
        return Err(JwtError::Invalid);
    }
    if number_claim(claims, "nbf")?.is_some_and(|nbf| nbf > now) {
        return Err(JwtError::Invalid);
    }
    let iat = number_claim(claims, "iat")?;

    let Some(Value::Number(uid)) = claims.get("uid") else {
        return Err(JwtError::BadPayload);
    };
    let Some(Value::String(ns)) = claims.get("ns") else {
        return Err(JwtError::BadPayload);
    };
    Ok(Claims {
        uid: uid.clone(),
        ns: ns.clone(),
        iat,
        exp,
    })
}

/// A time claim: absent → None, a JSON number → Some, anything else → Invalid.
fn number_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(JwtError::Invalid),
        Some(_) => Err(JwtError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_795_392_324;

    fn enc(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    /// A token with an arbitrary header and payload text, correctly HS256-signed.
    fn craft(header: &str, payload: &str) -> String {
        sign_raw(SECRET, &enc(header), payload.as_bytes())
    }

    /// Signs the exact segment text given (which need not be canonical base64url).
    fn craft_segments(h: &str, p: &str) -> String {
        let input = format!("{h}.{p}");
        let mac = hmac_sha256(SECRET, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    fn padded(seg: &str) -> String {
        let pad = (4 - seg.len() % 4) % 4;
        assert!(
            pad > 0,
            "pick a payload whose encoding needs padding: {seg}"
        );
        format!("{seg}{}", "=".repeat(pad))
    }

    fn claims(uid: i64, ns: &str, iat: Option<f64>, exp: f64) -> Claims {
        Claims {
            uid: Number::from(uid),
            ns: ns.to_owned(),
            iat,
            exp,
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(JwtError::Invalid.message(), "Invalid token");
        assert_eq!(JwtError::BadPayload.message(), "Invalid token payload");
    }

    // RFC 7515 Appendix A.1: the HMAC over A.1's signing input under A.1's key is A.1's
    // signature. verify() then gets past header and signature and stops at the payload
    // shape (no uid/ns) when `now` is before A.1's exp, and at exp after it.
    #[test]
    fn rfc7515_a1() {
        let k = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let sig = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            URL_SAFE_NO_PAD.encode(hmac_sha256(&k, input.as_bytes())),
            sig
        );
        let jws = format!("{input}.{sig}");
        let parts = decode(&jws).unwrap();
        assert_eq!(parts.header.get("typ"), Some(&Value::from("JWT")));
        assert_eq!(
            parts.payload.get("exp"),
            Some(&Value::from(1_300_819_380u64))
        );
        assert_eq!(parts.signing_input_len, input.len());
        assert_eq!(verify(&jws, &k, 1_300_819_379), Err(JwtError::BadPayload));
        assert_eq!(verify(&jws, &k, 1_300_819_380), Err(JwtError::Invalid));
        assert_eq!(
            verify(&jws, b"other key", 1_300_819_379),
            Err(JwtError::Invalid)
        );
    }

    // auth.md §4.1: a real v0.30.7 token (secret unknown), and its baseline twin.
    #[test]
    fn real_token_decodes() {
        let t = "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOjE0ODYyOTk4MSwibnMiOiJkZWZhdWx0IiwiaWF0IjoxNzk1MzkyMzI0LCJleHAiOjE3OTU0MDY3MjR9.mb6Bblj0B8zQVSowBMHDjkOrNMAlbTK9CqZuR7SIQEk";
        let p = decode(t).unwrap();
        assert_eq!(Value::Object(p.header).to_string(), r#"{"alg":"HS256"}"#);
        assert_eq!(p.payload.get("uid"), Some(&Value::from(148_629_981)));
        assert_eq!(p.payload.get("ns"), Some(&Value::from("default")));
        assert_eq!(p.payload.get("iat"), Some(&Value::from(1_795_392_324)));
        assert_eq!(p.payload.get("exp"), Some(&Value::from(1_795_406_724)));
        assert_eq!(p.signature.len(), 32);
        assert_eq!(verify(t, SECRET, NOW), Err(JwtError::Invalid));
        // Our signer produces byte-identical header and payload segments.
        let ours = sign(SECRET, 148_629_981, "default", 1_795_392_324, 1_795_406_724);
        let (prefix, _) = t.rsplit_once('.').unwrap();
        assert!(ours.starts_with(&format!("{prefix}.")), "{ours}");
    }

    #[test]
    fn sign_verify_round_trip() {
        let cases: &[(i64, &str)] = &[
            (148_629_981, "default"),
            (1, "alice"),
            (-5, ""),
            (
                i64::MAX,
                "quote\" back\\ nl\n ctl\u{1} \u{e9}\u{1F600} </script>",
            ),
        ];
        for &(uid, ns) in cases {
            let t = sign(SECRET, uid, ns, NOW, NOW + 900);
            assert!(t.starts_with("eyJhbGciOiJIUzI1NiJ9."));
            assert!(!t.contains('='));
            assert_eq!(
                verify(&t, SECRET, NOW),
                Ok(claims(uid, ns, Some(NOW as f64), (NOW + 900) as f64))
            );
            assert_eq!(
                verify(&t, SECRET, NOW + 899).map(|c| c.ns),
                Ok(ns.to_owned())
            );
            assert_eq!(verify(&t, SECRET, NOW + 900), Err(JwtError::Invalid));
            assert_eq!(verify(&t, b"another secret", NOW), Err(JwtError::Invalid));
        }
        let t = sign(SECRET, 7, "ns", 1, 2);
        let payload = t.split('.').nth(1).unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(payload).unwrap(),
            br#"{"uid":7,"ns":"ns","iat":1,"exp":2}"#
        );
    }

    // auth.md §4.3, row by row (plus hapid's tightening rows).
    #[test]
    fn verification_table() {
        use JwtError::{BadPayload, Invalid};
        let hs = r#"{"alg":"HS256"}"#;
        let fut = NOW + 60;
        let good = format!(r#"{{"uid":1,"ns":"a","iat":{NOW},"exp":{fut}}}"#);
        let ok = Ok(claims(1, "a", Some(NOW as f64), fut as f64));
        let cases: Vec<(&str, String, Result<Claims, JwtError>)> = vec![
            ("valid", craft(hs, &good), ok.clone()),
            (
                "exp == now",
                craft(hs, &format!(r#"{{"uid":1,"ns":"a","exp":{NOW}}}"#)),
                Err(Invalid),
            ),
            (
                "exp < now",
                craft(hs, &format!(r#"{{"uid":1,"ns":"a","exp":{}}}"#, NOW - 1)),
                Err(Invalid),
            ),
            (
                "exp fractional just after now",
                craft(hs, &format!(r#"{{"uid":1,"ns":"a","exp":{NOW}.5}}"#)),
                Ok(claims(1, "a", None, NOW as f64 + 0.5)),
            ),
            (
                "nbf future",
                craft(
                    hs,
                    &format!(r#"{{"uid":1,"ns":"a","nbf":{},"exp":{fut}}}"#, NOW + 1),
                ),
                Err(Invalid),
            ),
            (
                "nbf == now",
                craft(
                    hs,
                    &format!(r#"{{"uid":1,"ns":"a","nbf":{NOW},"exp":{fut}}}"#),
                ),
                Ok(claims(1, "a", None, fut as f64)),
            ),
            (
                "nbf string",
                craft(
                    hs,
                    &format!(r#"{{"uid":1,"ns":"a","nbf":"0","exp":{fut}}}"#),
                ),
                Err(Invalid),
            ),
            (
                "alg HS512",
                craft(r#"{"alg":"HS512"}"#, &good),
                Err(Invalid),
            ),
            ("alg none", craft(r#"{"alg":"none"}"#, &good), Err(Invalid)),
            (
                "alg none unsigned",
                format!("{}.{}.", enc(r#"{"alg":"none"}"#), enc(&good)),
                Err(Invalid),
            ),
            (
                "alg hs256 lower",
                craft(r#"{"alg":"hs256"}"#, &good),
                Err(Invalid),
            ),
            (
                "alg missing",
                craft(r#"{"typ":"JWT"}"#, &good),
                Err(Invalid),
            ),
            (
                "alg not a string",
                craft(r#"{"alg":["HS256"]}"#, &good),
                Err(Invalid),
            ),
            (
                "bad signature",
                {
                    let mut t = craft(hs, &good);
                    let last = if t.ends_with('A') { 'B' } else { 'A' };
                    t.pop();
                    t.push(last);
                    t
                },
                Err(Invalid),
            ),
            (
                "signature empty",
                format!("{}.{}.", enc(hs), enc(&good)),
                Err(Invalid),
            ),
            (
                "signature truncated",
                {
                    let t = craft(hs, &good);
                    t[..t.len() - 2].to_owned()
                },
                Err(Invalid),
            ),
            (
                "two segments",
                {
                    let t = craft(hs, &good);
                    t.rsplit_once('.').unwrap().0.to_owned()
                },
                Err(Invalid),
            ),
            (
                "four segments",
                format!("{}.x", craft(hs, &good)),
                Err(Invalid),
            ),
            ("garbage", "garbage".to_owned(), Err(Invalid)),
            ("empty", String::new(), Err(Invalid)),
            ("dots", "..".to_owned(), Err(Invalid)),
            (
                "crit",
                craft(r#"{"alg":"HS256","crit":["exp"],"exp":1}"#, &good),
                Err(Invalid),
            ),
            (
                "crit b64",
                craft(r#"{"alg":"HS256","b64":true,"crit":["b64"]}"#, &good),
                Err(Invalid),
            ),
            (
                "typ JWT",
                craft(r#"{"alg":"HS256","typ":"JWT"}"#, &good),
                ok.clone(),
            ),
            (
                "no exp",
                craft(hs, r#"{"uid":1,"ns":"a","iat":1}"#),
                Err(Invalid),
            ),
            (
                "exp string",
                craft(hs, r#"{"uid":1,"ns":"a","exp":"9999999999"}"#),
                Err(Invalid),
            ),
            (
                "exp null",
                craft(hs, r#"{"uid":1,"ns":"a","exp":null}"#),
                Err(Invalid),
            ),
            (
                "no iat",
                craft(hs, &format!(r#"{{"uid":1,"ns":"a","exp":{fut}}}"#)),
                Ok(claims(1, "a", None, fut as f64)),
            ),
            (
                "iat string",
                craft(
                    hs,
                    &format!(r#"{{"uid":1,"ns":"a","iat":"1","exp":{fut}}}"#),
                ),
                Err(Invalid),
            ),
            (
                "iat in the future",
                craft(
                    hs,
                    &format!(r#"{{"uid":1,"ns":"a","iat":{fut},"exp":{fut}}}"#),
                ),
                Ok(claims(1, "a", Some(fut as f64), fut as f64)),
            ),
            (
                "uid string",
                craft(hs, &format!(r#"{{"uid":"1","ns":"a","exp":{fut}}}"#)),
                Err(BadPayload),
            ),
            (
                "uid missing",
                craft(hs, &format!(r#"{{"ns":"a","exp":{fut}}}"#)),
                Err(BadPayload),
            ),
            (
                "ns missing",
                craft(hs, &format!(r#"{{"uid":1,"exp":{fut}}}"#)),
                Err(BadPayload),
            ),
            (
                "ns number",
                craft(hs, &format!(r#"{{"uid":1,"ns":5,"exp":{fut}}}"#)),
                Err(BadPayload),
            ),
            (
                "ns null",
                craft(hs, &format!(r#"{{"uid":1,"ns":null,"exp":{fut}}}"#)),
                Err(BadPayload),
            ),
            (
                "uid 1.5",
                craft(hs, &format!(r#"{{"uid":1.5,"ns":"a","exp":{fut}}}"#)),
                Ok(Claims {
                    uid: Number::from_f64(1.5).unwrap(),
                    ns: "a".to_owned(),
                    iat: None,
                    exp: fut as f64,
                }),
            ),
            (
                "expired beats bad payload",
                craft(hs, r#"{"uid":"x","exp":1}"#),
                Err(Invalid),
            ),
            ("payload not an object", craft(hs, "[1]"), Err(Invalid)),
            ("payload not JSON", craft(hs, "{"), Err(Invalid)),
            (
                "header not an object",
                craft(r#""HS256""#, &good),
                Err(Invalid),
            ),
            (
                "duplicate ns: last wins",
                craft(
                    hs,
                    &format!(r#"{{"uid":1,"ns":"x","ns":"a","iat":{NOW},"exp":{fut}}}"#),
                ),
                ok.clone(),
            ),
            (
                "padded signature",
                format!("{}=", craft(hs, &good)),
                Err(Invalid),
            ),
            (
                "padded payload",
                craft_segments(&enc(hs), &padded(&enc(&good))),
                Err(Invalid),
            ),
            (
                "padded header",
                craft_segments(&padded(&enc(r#"{"alg":"HS256","x":12}"#)), &enc(&good)),
                Err(Invalid),
            ),
            (
                "standard alphabet",
                {
                    let p = enc(&format!(r#"{{"uid":1,"ns":"??>>~~","exp":{fut}}}"#));
                    assert!(p.contains(['-', '_']));
                    craft_segments(&enc(hs), &p.replace('-', "+").replace('_', "/"))
                },
                Err(Invalid),
            ),
            (
                "non-canonical trailing bits",
                {
                    // Same bytes under a lenient decoder: set the lowest (unused) bit of the last
                    // symbol.
                    const ALPHABET: &[u8] =
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                    let p = enc(&good);
                    assert!(!p.len().is_multiple_of(4));
                    let last = *p.as_bytes().last().unwrap();
                    let v = ALPHABET.iter().position(|&c| c == last).unwrap();
                    assert_eq!(v & 1, 0);
                    let q = format!("{}{}", &p[..p.len() - 1], ALPHABET[v | 1] as char);
                    assert_eq!(
                        base64::engine::GeneralPurpose::new(
                            &base64::alphabet::URL_SAFE,
                            base64::engine::GeneralPurposeConfig::new()
                                .with_decode_allow_trailing_bits(true)
                                .with_decode_padding_mode(
                                    base64::engine::DecodePaddingMode::Indifferent
                                ),
                        )
                        .decode(&q)
                        .unwrap(),
                        good.as_bytes()
                    );
                    craft_segments(&enc(hs), &q)
                },
                Err(Invalid),
            ),
            ("whitespace", format!(" {}", craft(hs, &good)), Err(Invalid)),
            (
                "too long",
                craft(
                    hs,
                    &format!(
                        r#"{{"uid":1,"ns":"{}","exp":{fut}}}"#,
                        "a".repeat(MAX_TOKEN_LEN)
                    ),
                ),
                Err(Invalid),
            ),
        ];
        for (name, token, want) in cases {
            assert_eq!(verify(&token, SECRET, NOW), want, "{name}: {token}");
        }
    }

    // A token signed over a re-encoded (non-canonical) payload must not verify: the MAC
    // covers the exact bytes received.
    #[test]
    fn signature_covers_exact_bytes() {
        let t = sign(SECRET, 1, "a", NOW, NOW + 60);
        let (h, rest) = t.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        let h2 = enc(r#"{"alg": "HS256"}"#);
        assert_eq!(
            verify(&format!("{h2}.{p}.{s}"), SECRET, NOW),
            Err(JwtError::Invalid)
        );
        assert!(verify(&format!("{h}.{p}.{s}"), SECRET, NOW).is_ok());
    }

    #[test]
    fn decode_never_panics_on_prefixes() {
        let t = sign(SECRET, 1, "a", NOW, NOW + 60);
        for cut in 0..t.len() {
            let _ = decode(&t[..cut]);
            assert_eq!(
                verify(&t[..cut], SECRET, NOW),
                Err(JwtError::Invalid),
                "cut {cut}"
            );
        }
    }
}
