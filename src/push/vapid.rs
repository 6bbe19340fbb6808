//! VAPID application-server identity (RFC 8292; spec `push.md` §2 and §6.2–6.4): the P-256
//! key pair and its base64url forms, ES256 JWTs (RFC 7515/7518, raw `r || s` signatures),
//! the `Authorization: vapid t=…, k=…` value, and endpoint URL parsing for `aud` and the
//! outbound request. Signing is deterministic (RFC 6979), so JWTs are known answers.

use base64::Engine as _;
use p256::SecretKey;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

use super::ece::{B64URL, POINT_LEN, PushError, parse_point, point_bytes, random_secret};

/// base64url of `{"typ":"JWT","alg":"ES256"}`, the JOSE header upstream sends byte for byte.
const JWT_HEADER_B64: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9";
/// Longest JWT [`verify_jwt`] looks at; real ones are ~250 bytes.
const MAX_JWT_LEN: usize = 8 * 1024;

/// The hub's VAPID key pair (the public half is derived from the private scalar).
#[derive(Clone)]
pub struct VapidKeys {
    secret: SecretKey,
    /// The public point, derived once (a scalar multiplication per push adds up).
    public: [u8; POINT_LEN],
}

impl std::fmt::Debug for VapidKeys {
    /// Shows the public key only; the private scalar never reaches logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKeys")
            .field("public", &self.public_b64())
            .finish_non_exhaustive()
    }
}

impl VapidKeys {
    /// A fresh pair from the OS CSPRNG, for tests, benchmarks and fuzzing. Panics only if the
    /// OS random source fails; the hub itself uses [`VapidKeys::try_generate`].
    #[doc(hidden)]
    #[allow(clippy::panic)]
    pub fn generate() -> Self {
        match Self::try_generate() {
            Ok(k) => k,
            Err(_) => panic!("the OS random number generator failed"),
        }
    }

    /// A fresh pair from the OS CSPRNG; `Crypto` if the OS random source fails.
    pub fn try_generate() -> Result<Self, PushError> {
        let secret = random_secret()?;
        let public = point_bytes(&secret.public_key()).ok_or(PushError::Crypto)?;
        Ok(Self { secret, public })
    }

    /// publicKey: base64url (no padding) of the 65-byte uncompressed point; privateKey: base64url of the 32-byte scalar. Err if either does not decode, the scalar is invalid, or the public key does not match the private one.
    ///
    /// Strict like upstream (spec §2.3): the base64url alphabet only, no `=` padding, exactly
    /// 65 and 32 bytes. Every failure is `BadKey`.
    pub fn from_b64(public_b64: &str, private_b64: &str) -> Result<Self, PushError> {
        let public = B64URL.decode(public_b64).map_err(|_| PushError::BadKey)?;
        let private = B64URL.decode(private_b64).map_err(|_| PushError::BadKey)?;
        if public.len() != POINT_LEN || private.len() != 32 {
            return Err(PushError::BadKey);
        }
        let secret = SecretKey::from_slice(&private).map_err(|_| PushError::BadKey)?;
        let derived = point_bytes(&secret.public_key()).ok_or(PushError::BadKey)?;
        if derived[..] != public[..] {
            return Err(PushError::BadKey);
        }
        Ok(Self {
            secret,
            public: derived,
        })
    }

    /// The 65-byte uncompressed public point, as browsers take it (`applicationServerKey`).
    pub fn public_bytes(&self) -> [u8; POINT_LEN] {
        self.public
    }

    /// base64url (no padding) of the 65-byte uncompressed public point: 87 characters.
    pub fn public_b64(&self) -> String {
        B64URL.encode(self.public_bytes())
    }

    /// base64url (no padding) of the 32-byte big-endian private scalar: 43 characters.
    pub fn private_b64(&self) -> String {
        B64URL.encode(self.secret.to_bytes())
    }

    /// ES256 JWT: header {"typ":"JWT","alg":"ES256"}, claims {"aud":…,"exp":…,"sub":…}; signature raw r‖s (64 bytes), base64url.
    ///
    /// Claims are compact JSON in exactly that key order; the signature is RFC 6979
    /// deterministic, so equal inputs give equal tokens.
    pub fn jwt(&self, aud: &str, exp_secs: u64, sub: &str) -> String {
        let claims = format!(
            "{{\"aud\":{},\"exp\":{exp_secs},\"sub\":{}}}",
            json_string(aud),
            json_string(sub)
        );
        let mut token = String::with_capacity(JWT_HEADER_B64.len() + claims.len() * 2 + 90);
        token.push_str(JWT_HEADER_B64);
        token.push('.');
        B64URL.encode_string(claims.as_bytes(), &mut token);
        let key = SigningKey::from(&self.secret);
        let sig: Signature = key.sign(token.as_bytes());
        token.push('.');
        B64URL.encode_string(sig.to_bytes(), &mut token);
        token
    }

    /// "vapid t=<jwt>, k=<public_b64>"
    pub fn authorization(&self, aud: &str, exp_secs: u64, sub: &str) -> String {
        format!(
            "vapid t={}, k={}",
            self.jwt(aud, exp_secs, sub),
            self.public_b64()
        )
    }
}

/// A JSON string literal, escaped like `JSON.stringify` (serde_json's default).
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// scheme://host[:port] of an endpoint URL (lower-cased scheme and host, default port dropped); None if it is not an http(s) URL.
pub fn origin_of(endpoint: &str) -> Option<String> {
    parse_endpoint(endpoint).map(|e| e.origin)
}

/// A push endpoint split for the outbound request (spec `push.md` §6.1, §6.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https` (true) or `http` (false).
    pub https: bool,
    /// Lower-cased host; an IPv6 literal keeps its brackets (`[::1]`).
    pub host: String,
    /// The port to connect to (the scheme's default when the URL has none).
    pub port: u16,
    /// `scheme://host[:port]`, the JWT `aud`; the port only when it is not the default.
    pub origin: String,
    /// The `Host` header value: `host[:port]`, the port only when it is not the default.
    pub authority: String,
    /// Path and query exactly as written (no re-encoding), `/` when empty; fragment dropped.
    pub target: String,
}

/// Parse an absolute `http(s)://` endpoint URL. None for other schemes, an empty or
/// malformed host, a bad port, or any space, control or non-ASCII character anywhere (so
/// the parts are always safe to put in a request line and headers). Userinfo is dropped.
pub fn parse_endpoint(endpoint: &str) -> Option<Endpoint> {
    if !endpoint.bytes().all(|b| b.is_ascii_graphic()) || endpoint.contains('\\') {
        return None;
    }
    let (scheme, rest) = endpoint.split_once("://")?;
    let (https, default_port) = if scheme.eq_ignore_ascii_case("https") {
        (true, 443)
    } else if scheme.eq_ignore_ascii_case("http") {
        (false, 80)
    } else {
        return None;
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port_str) = if let Some(v6) = hostport.strip_prefix('[') {
        let (inner, after) = v6.split_once(']')?;
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{}]", inner.to_ascii_lowercase()), port)
    } else {
        let (h, p) = match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        };
        let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if h.is_empty() || !h.bytes().all(ok) {
            return None;
        }
        (h.to_ascii_lowercase(), p)
    };
    let port = match port_str {
        None | Some("") => default_port,
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u16>().ok()?
        }
        Some(_) => return None,
    };
    let authority = if port == default_port {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    let origin = format!("{}://{authority}", if https { "https" } else { "http" });
    let target = tail.split('#').next().unwrap_or("");
    let target = if target.starts_with('/') {
        target.to_owned()
    } else {
        format!("/{target}")
    };
    Some(Endpoint {
        https,
        host,
        port,
        origin,
        authority,
        target,
    })
}

/// Verify an ES256 VAPID JWT with a public key (65-byte point, base64url): for tests / the fake push service. Returns the claims.
///
/// Checks: three base64url parts; the header is a JSON object with `"alg":"ES256"`; the
/// signature is a raw 64-byte `r || s` valid for `public_b64` over `header.claims`; the claims
/// are a JSON object. It does not check `exp`/`aud` (the caller has the clock and origin).
/// Errors: `BadKey` (public key), `BadBody` (shape), `Crypto` (signature). Never panics.
pub fn verify_jwt(jwt: &str, public_b64: &str) -> Result<serde_json::Value, PushError> {
    let public = B64URL.decode(public_b64).map_err(|_| PushError::BadKey)?;
    let pk = parse_point(&public).ok_or(PushError::BadKey)?;
    if jwt.len() > MAX_JWT_LEN {
        return Err(PushError::BadBody);
    }
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PushError::BadBody);
    };
    let header: serde_json::Value = B64URL
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(PushError::BadBody)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("ES256") {
        return Err(PushError::BadBody);
    }
    let sig_bytes = B64URL.decode(s).map_err(|_| PushError::BadBody)?;
    if sig_bytes.len() != 64 {
        return Err(PushError::BadBody);
    }
    let sig = Signature::from_slice(&sig_bytes).map_err(|_| PushError::Crypto)?;
    let signed_len = h.len() + 1 + c.len();
    let signed = jwt.get(..signed_len).ok_or(PushError::BadBody)?;
    VerifyingKey::from(&pk)
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| PushError::Crypto)?;
    let claims: serde_json::Value = B64URL
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(PushError::BadBody)?;
    if !claims.is_object() {
        return Err(PushError::BadBody);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // spec push.md §9.2 (the RFC 8291 sender key reused as a VAPID key).
    const PRIV: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const PUB: &str =
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovL2ZjbS5nb29nbGVhcGlzLmNvbSIsImV4cCI6MTcwMDA0MzIwMCwic3ViIjoibWFpbHRvOmFkbWluQGhhcGkucnVuIn0.0PxZpH0upll7x0SLibv4rqzVULQRWwzECEHpsKek-Uw5IODd__5d5e8mbSFWWyItGLYdJXCevVppLxeCw9iAjQ";
    // spec push.md §2.2 / §9.3: a pair generated by the official hub, and a JWT it sent.
    const HUB_PUB: &str =
        "BKhKqNSVmRGk4WE5xljgGzVCeL1MvTxtsv1RUTQTxlOkyWGauVmGP2IhJRnaq_MKulb1qT7kRloqAPJmaimpoW8";
    const HUB_PRIV: &str = "4uGXvICoNwdmz9UkjCYS0vixznanthvZrOBYo45JnWs";
    const HUB_JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovLzEyNy4wLjAuMTozOTMyIiwiZXhwIjoxNzk1NDM2OTI4LCJzdWIiOiJtYWlsdG86YWRtaW5AaGFwaS5ydW4ifQ.q1KnPTJYfltjjDjFFbh6l-3J2mDccILKopmnIJ8I81_1VBIX-uFRygpUWDrGiISoO--fI4bxSm-FicBnr4LmmQ";

    fn rfc_keys() -> VapidKeys {
        VapidKeys::from_b64(PUB, PRIV).unwrap()
    }

    #[test]
    fn known_answer_jwt_and_header() {
        let k = rfc_keys();
        let (aud, exp, sub) = (
            "https://fcm.googleapis.com",
            1_700_043_200,
            "mailto:admin@hapi.run",
        );
        assert_eq!(k.jwt(aud, exp, sub), JWT);
        assert_eq!(
            k.authorization(aud, exp, sub),
            format!("vapid t={JWT}, k={PUB}")
        );
    }

    #[test]
    fn jwt_shape_and_verify() {
        let k = VapidKeys::generate();
        let jwt = k.jwt("https://push.example:8443", 1_795_436_928, "mailto:a\"b@x");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            B64URL.decode(parts[0]).unwrap(),
            br#"{"typ":"JWT","alg":"ES256"}"#
        );
        assert_eq!(
            String::from_utf8(B64URL.decode(parts[1]).unwrap()).unwrap(),
            r#"{"aud":"https://push.example:8443","exp":1795436928,"sub":"mailto:a\"b@x"}"#
        );
        assert_eq!(B64URL.decode(parts[2]).unwrap().len(), 64);
        let claims = verify_jwt(&jwt, &k.public_b64()).unwrap();
        assert_eq!(
            claims,
            json!({"aud":"https://push.example:8443","exp":1795436928u64,"sub":"mailto:a\"b@x"})
        );
        // Another key does not verify it.
        let other = VapidKeys::generate().public_b64();
        assert_eq!(verify_jwt(&jwt, &other), Err(PushError::Crypto));
    }

    #[test]
    fn verifies_official_hub_jwt() {
        let claims = verify_jwt(HUB_JWT, HUB_PUB).unwrap();
        assert_eq!(
            claims,
            json!({"aud":"https://127.0.0.1:3932","exp":1795436928u64,"sub":"mailto:admin@hapi.run"})
        );
    }

    #[test]
    fn verify_rejects_tampering() {
        let k = rfc_keys();
        let (h, rest) = JWT.split_once('.').unwrap();
        let (c, s) = rest.split_once('.').unwrap();
        let mut sig = B64URL.decode(s).unwrap();
        sig[10] ^= 1;
        let bad_sig = format!("{h}.{c}.{}", B64URL.encode(&sig));
        let other_claims = B64URL.encode(br#"{"aud":"https://evil","exp":1,"sub":"x"}"#);
        let hs256 = B64URL.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
        let der_len = format!("{h}.{c}.{}", B64URL.encode([1u8; 70]));
        let cases: Vec<(String, PushError)> = vec![
            (bad_sig, PushError::Crypto),
            (format!("{h}.{other_claims}.{s}"), PushError::Crypto),
            (format!("{hs256}.{c}.{s}"), PushError::BadBody),
            (der_len, PushError::BadBody),
            (format!("{h}.{c}"), PushError::BadBody),
            (format!("{h}.{c}.{s}."), PushError::BadBody),
            (format!("{h}.{c}.{s}="), PushError::BadBody),
            (
                format!("{h}.{c}.{}", B64URL.encode([0u8; 64])),
                PushError::Crypto,
            ),
            (String::new(), PushError::BadBody),
            ("..".into(), PushError::BadBody),
            ("a".repeat(MAX_JWT_LEN + 1), PushError::BadBody),
        ];
        for (jwt, want) in cases {
            assert_eq!(verify_jwt(&jwt, &k.public_b64()), Err(want), "{jwt:?}");
        }
        assert_eq!(verify_jwt(JWT, "BAAA"), Err(PushError::BadKey));
        assert_eq!(verify_jwt(JWT, PRIV), Err(PushError::BadKey));
        // Every truncation fails without panicking.
        for cut in 0..JWT.len() {
            assert!(verify_jwt(&JWT[..cut], PUB).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn key_encodings() {
        let k = VapidKeys::from_b64(HUB_PUB, HUB_PRIV).unwrap();
        assert_eq!(k.public_b64(), HUB_PUB);
        assert_eq!(k.private_b64(), HUB_PRIV);
        for _ in 0..20 {
            let g = VapidKeys::generate();
            let (p, s) = (g.public_b64(), g.private_b64());
            assert_eq!((p.len(), s.len()), (87, 43));
            assert!(p.starts_with('B'));
            let back = VapidKeys::from_b64(&p, &s).unwrap();
            assert_eq!(back.public_b64(), p);
        }
        assert!(!format!("{k:?}").contains(HUB_PRIV));
    }

    #[test]
    fn from_b64_rejects() {
        let padded_pub = format!("{HUB_PUB}=");
        let std_pub = B64URL
            .decode(HUB_PUB)
            .map(|b| base64::engine::general_purpose::STANDARD_NO_PAD.encode(b))
            .unwrap();
        let compressed = {
            let sk = SecretKey::from_slice(&B64URL.decode(HUB_PRIV).unwrap()).unwrap();
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            B64URL.encode(sk.public_key().to_encoded_point(true).as_bytes())
        };
        let cases: Vec<(&str, &str)> = vec![
            (PUB, HUB_PRIV), // mismatched pair
            (HUB_PUB, PRIV), // mismatched pair
            ("abc", "def"),  // upstream's 65-byte error case
            ("", ""),
            (HUB_PUB, ""),
            (&padded_pub, HUB_PRIV), // padding not allowed
            (&std_pub, HUB_PRIV),    // only when it contains + or /
            (&compressed, HUB_PRIV), // 33-byte compressed point
            (HUB_PUB, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), // zero scalar
            (HUB_PUB, "__________________________________________8"), // >= n
            (HUB_PUB, "4uGXvICoNwdmz9UkjCYS0vixznanthvZrOBYo45Jn"), // 30 bytes
        ];
        assert!(std_pub.contains(['+', '/']));
        for (p, s) in cases {
            assert_eq!(
                VapidKeys::from_b64(p, s).map(|_| ()),
                Err(PushError::BadKey),
                "{p} {s}"
            );
        }
    }

    #[test]
    fn origin_table() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "https://fcm.googleapis.com/fcm/send/dXlz",
                Some("https://fcm.googleapis.com"),
            ),
            (
                "https://updates.push.services.mozilla.com/wpush/v2/gAAA",
                Some("https://updates.push.services.mozilla.com"),
            ),
            (
                "https://web.push.apple.com/QGuQ",
                Some("https://web.push.apple.com"),
            ),
            (
                "https://127.0.0.1:3932/push/ok1",
                Some("https://127.0.0.1:3932"),
            ),
            (
                "HTTPS://FCM.GoogleAPIs.com:443/x",
                Some("https://fcm.googleapis.com"),
            ),
            ("https://host:0443/x", Some("https://host")),
            ("https://host:/x", Some("https://host")),
            ("https://host:80/x", Some("https://host:80")),
            ("http://host:80/x", Some("http://host")),
            ("http://localhost:8080", Some("http://localhost:8080")),
            ("https://host?x=1", Some("https://host")),
            ("https://host#frag", Some("https://host")),
            (
                "https://user:pw@host.example/x",
                Some("https://host.example"),
            ),
            ("https://[::1]:9000/p", Some("https://[::1]:9000")),
            ("https://[2001:DB8::1]/p", Some("https://[2001:db8::1]")),
            ("https://[::1]x/p", None),
            ("https://[]/p", None),
            ("https://host:65536/x", None),
            ("https://host:-1/x", None),
            ("https://host:12a/x", None),
            ("https:///x", None),
            ("https://", None),
            ("https:host", None),
            ("ftp://host/x", None),
            ("x", None),
            ("", None),
            ("https://ho st/x", None),
            ("https://host/a b", None),
            ("https://host/\r\nX: y", None),
            ("https://hôst/x", None),
            ("https://host\\x", None),
        ];
        for (url, want) in cases {
            assert_eq!(origin_of(url).as_deref(), *want, "{url:?}");
        }
    }

    #[test]
    fn endpoint_parts() {
        let e = parse_endpoint("https://FCM.googleapis.com/fcm/send/a%2Fb?x=1#f").unwrap();
        assert_eq!(
            e,
            Endpoint {
                https: true,
                host: "fcm.googleapis.com".into(),
                port: 443,
                origin: "https://fcm.googleapis.com".into(),
                authority: "fcm.googleapis.com".into(),
                target: "/fcm/send/a%2Fb?x=1".into(),
            }
        );
        let e = parse_endpoint("http://127.0.0.1:3932?q").unwrap();
        assert_eq!(
            (e.https, e.port, e.authority.as_str(), e.target.as_str()),
            (false, 3932, "127.0.0.1:3932", "/?q")
        );
    }
}
