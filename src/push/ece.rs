//! Web Push message encryption: RFC 8188 `aes128gcm` content coding with the RFC 8291 key
//! derivation (spec `push.md` §7). One record per message, padding delimiter `0x02`, no
//! extra padding; the header carries the sender's ephemeral public key as `keyid`.
//!
//! [`encrypt_with`] is the deterministic core (keys and salt as input, for RFC 8291
//! Appendix A); [`encrypt`] draws them from the OS; [`decrypt`] is the user agent's side,
//! used by tests and the fake push service.

use aes_gcm::aead::Aead;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};

use super::hkdf;

/// Everything that can go wrong building or opening a push message, or loading keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// The subscriber's `p256dh` is not base64 of a 65-byte uncompressed P-256 point.
    BadP256dh,
    /// The subscriber's `auth` secret is not base64 of at least 16 bytes.
    BadAuth,
    /// A private or VAPID key is malformed, out of range, or does not match its public half.
    BadKey,
    /// The plaintext does not fit one record (or the push service's 4096-byte body limit).
    TooLarge,
    /// A cryptographic operation failed: authentication tag, signature, or the OS RNG.
    Crypto,
    /// An encrypted body or a JWT is malformed.
    BadBody,
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::BadP256dh => "p256dh is not a 65-byte uncompressed P-256 public key",
            Self::BadAuth => "auth secret is not at least 16 bytes",
            Self::BadKey => "invalid or inconsistent key",
            Self::TooLarge => "payload too large for one record",
            Self::Crypto => "cryptographic failure",
            Self::BadBody => "malformed body",
        })
    }
}

impl std::error::Error for PushError {}

/// Record size upstream sends and every browser accepts (`rs` in the header).
pub const RECORD_SIZE: u32 = 4096;
/// Largest plaintext [`encrypt`] accepts: header (86) + plaintext + delimiter (1) + tag (16)
/// stays within the 4096 bytes every push service must accept (RFC 8030 §7.2).
pub const MAX_PLAINTEXT: usize = 3993;
/// Length of an uncompressed SEC1 P-256 point, `0x04 || X || Y`.
pub const POINT_LEN: usize = 65;
/// salt (16) + rs (4) + idlen (1) + keyid (65).
const HEADER_LEN: usize = 16 + 4 + 1 + POINT_LEN;
const TAG_LEN: usize = 16;
/// Smallest legal record size (RFC 8188 §2): one delimiter byte plus the tag, plus one.
const MIN_RS: u32 = 18;
/// RFC 8291 §3.2: the auth secret is 16 bytes; longer ones are used whole.
const MIN_AUTH_LEN: usize = 16;

/// base64url without padding, what every key and token here is encoded with.
pub(crate) const B64URL: GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// URL-safe alphabet, padding optional, non-zero trailing bits tolerated (after the `+/`
/// to `-_` mapping in [`decode_b64_lenient`]).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decode base64 as browsers and other servers write subscription keys: base64url or
/// standard alphabet (even mixed), with or without `=` padding, surrounding whitespace
/// ignored. None if it is not base64.
pub fn decode_b64_lenient(s: &str) -> Option<Vec<u8>> {
    let t = s.trim();
    let norm: String = t
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    LENIENT.decode(norm).ok()
}

/// The RFC 8291 / RFC 8188 key schedule for one message.
#[derive(Debug, PartialEq, Eq)]
struct KeySchedule {
    prk_key: [u8; 32],
    ikm: Vec<u8>,
    prk: [u8; 32],
    cek: [u8; 16],
    nonce: [u8; 12],
}

/// RFC 8291 §3.3–3.4 and RFC 8188 §2.2–2.3 (spec `push.md` §7.2 steps 2–7). `ua_public` and
/// `as_public` are the 65-byte points, receiver first.
fn derive(
    ecdh_secret: &[u8],
    auth: &[u8],
    ua_public: &[u8; POINT_LEN],
    as_public: &[u8; POINT_LEN],
    salt: &[u8; 16],
) -> Option<KeySchedule> {
    let mut key_info = Vec::with_capacity(14 + 2 * POINT_LEN);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let prk_key = hkdf::extract(auth, ecdh_secret)?;
    let ikm = hkdf::expand(&prk_key, &key_info, 32)?;
    let prk = hkdf::extract(salt, &ikm)?;
    let cek = hkdf::expand(&prk, b"Content-Encoding: aes128gcm\0", 16)?;
    let nonce = hkdf::expand(&prk, b"Content-Encoding: nonce\0", 12)?;
    Some(KeySchedule {
        prk_key,
        ikm,
        prk,
        cek: cek.try_into().ok()?,
        nonce: nonce.try_into().ok()?,
    })
}

/// RFC 8188 §2.3: the record nonce is NONCE XOR the 96-bit big-endian sequence number.
fn record_nonce(base: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut n = *base;
    for (b, s) in n.iter_mut().skip(4).zip(seq.to_be_bytes()) {
        *b ^= s;
    }
    n
}

/// The 65-byte uncompressed encoding of a public key.
pub(crate) fn point_bytes(pk: &PublicKey) -> Option<[u8; POINT_LEN]> {
    pk.to_encoded_point(false).as_bytes().try_into().ok()
}

/// Parse a 65-byte uncompressed point that lies on the curve (not the identity).
pub(crate) fn parse_point(bytes: &[u8]) -> Option<PublicKey> {
    if bytes.len() != POINT_LEN || bytes.first() != Some(&0x04) {
        return None;
    }
    PublicKey::from_sec1_bytes(bytes).ok()
}

/// ECDH shared secret: the 32-byte X coordinate of the shared point (RFC 8291 §3.1).
fn ecdh(secret: &SecretKey, public: &PublicKey) -> [u8; 32] {
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
    (*shared.raw_secret_bytes()).into()
}

/// Deterministic core for known answers: ua_public = the subscription's 65-byte uncompressed p256dh point, auth = 16-byte secret, as_secret = the application server's ephemeral private key (32 bytes), salt 16 bytes, record size rs (4096 is what browsers accept; the whole payload is ONE record, padding delimiter 0x02, no extra padding). Output = header (salt ‖ rs u32 BE ‖ idlen=65 ‖ as_public 65 bytes) ‖ ciphertext+tag.
///
/// Errors: `BadP256dh` (not an uncompressed point on the curve), `BadAuth` (< 16 bytes;
/// longer secrets are used whole), `BadKey` (`as_secret` is zero or not below the group
/// order), `TooLarge` (`rs` < 18 or `plaintext.len() + 17 > rs`), `Crypto` (never expected).
pub fn encrypt_with(
    plaintext: &[u8],
    ua_public: &[u8],
    auth: &[u8],
    as_secret: &[u8; 32],
    salt: &[u8; 16],
    rs: u32,
) -> Result<Vec<u8>, PushError> {
    let ua_pk = parse_point(ua_public).ok_or(PushError::BadP256dh)?;
    let ua_bytes = point_bytes(&ua_pk).ok_or(PushError::BadP256dh)?;
    if auth.len() < MIN_AUTH_LEN {
        return Err(PushError::BadAuth);
    }
    let as_sk = SecretKey::from_bytes(as_secret.into()).map_err(|_| PushError::BadKey)?;
    let record_len = plaintext
        .len()
        .checked_add(1 + TAG_LEN)
        .ok_or(PushError::TooLarge)?;
    let rs_usize = usize::try_from(rs).map_err(|_| PushError::TooLarge)?;
    if rs < MIN_RS || record_len > rs_usize {
        return Err(PushError::TooLarge);
    }
    let as_bytes = point_bytes(&as_sk.public_key()).ok_or(PushError::BadKey)?;
    let secret = ecdh(&as_sk, &ua_pk);
    let ks = derive(&secret, auth, &ua_bytes, &as_bytes, salt).ok_or(PushError::Crypto)?;

    let mut record = Vec::with_capacity(record_len);
    record.extend_from_slice(plaintext);
    record.push(0x02);
    let cipher = Aes128Gcm::new_from_slice(&ks.cek).map_err(|_| PushError::Crypto)?;
    let nonce = record_nonce(&ks.nonce, 0);
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), record.as_slice())
        .map_err(|_| PushError::Crypto)?;

    let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
    out.extend_from_slice(salt);
    out.extend_from_slice(&rs.to_be_bytes());
    out.push(POINT_LEN as u8); // 65 fits a byte
    out.extend_from_slice(&as_bytes);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// A P-256 private key from 32 OS-random bytes; retried in the ~2^-32 case that the bytes
/// are zero or not below the group order. `Crypto` if the OS RNG fails.
pub(crate) fn random_secret() -> Result<SecretKey, PushError> {
    for _ in 0..16 {
        let mut b = [0u8; 32];
        getrandom::getrandom(&mut b).map_err(|_| PushError::Crypto)?;
        if let Ok(sk) = SecretKey::from_slice(&b) {
            return Ok(sk);
        }
    }
    Err(PushError::Crypto)
}

/// Production: p256dh and auth as the browser gives them (base64url, with or without padding, also accept standard base64), fresh ephemeral key and salt from getrandom.
///
/// Uses `rs` = [`RECORD_SIZE`]; `TooLarge` above [`MAX_PLAINTEXT`] bytes, so the body never
/// exceeds 4096 bytes. `BadP256dh` / `BadAuth` mean the subscription cannot be sent to.
pub fn encrypt(plaintext: &[u8], p256dh_b64: &str, auth_b64: &str) -> Result<Vec<u8>, PushError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(PushError::TooLarge);
    }
    let ua_public = decode_b64_lenient(p256dh_b64).ok_or(PushError::BadP256dh)?;
    let auth = decode_b64_lenient(auth_b64).ok_or(PushError::BadAuth)?;
    let sk = random_secret()?;
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|_| PushError::Crypto)?;
    let as_secret: [u8; 32] = sk.to_bytes().into();
    encrypt_with(plaintext, &ua_public, &auth, &as_secret, &salt, RECORD_SIZE)
}

/// The user agent's side (for tests and test push services): decrypt an aes128gcm body with the subscriber's private key and auth secret.
///
/// Accepts any number of records of size `rs` (RFC 8188 §2; non-final records end in the
/// delimiter `0x01`, the final one in `0x02`, each followed by optional zero padding).
/// Errors: `BadKey` (`ua_secret` out of range), `BadAuth` (< 16 bytes), `BadBody`
/// (header, `keyid`, record sizes or padding malformed), `Crypto` (authentication failed).
/// Never panics on any input.
pub fn decrypt(body: &[u8], ua_secret: &[u8; 32], auth: &[u8]) -> Result<Vec<u8>, PushError> {
    let ua_sk = SecretKey::from_bytes(ua_secret.into()).map_err(|_| PushError::BadKey)?;
    if auth.len() < MIN_AUTH_LEN {
        return Err(PushError::BadAuth);
    }
    let salt: [u8; 16] = body
        .get(..16)
        .and_then(|s| s.try_into().ok())
        .ok_or(PushError::BadBody)?;
    let rs_bytes: [u8; 4] = body
        .get(16..20)
        .and_then(|s| s.try_into().ok())
        .ok_or(PushError::BadBody)?;
    let rs = u32::from_be_bytes(rs_bytes);
    if body.get(20) != Some(&(POINT_LEN as u8)) || rs < MIN_RS {
        return Err(PushError::BadBody);
    }
    let rs = usize::try_from(rs).map_err(|_| PushError::BadBody)?;
    let as_pk = body
        .get(21..HEADER_LEN)
        .and_then(parse_point)
        .ok_or(PushError::BadBody)?;
    let records = body.get(HEADER_LEN..).ok_or(PushError::BadBody)?;
    if records.is_empty() {
        return Err(PushError::BadBody);
    }
    let ua_bytes = point_bytes(&ua_sk.public_key()).ok_or(PushError::BadKey)?;
    let as_bytes = point_bytes(&as_pk).ok_or(PushError::BadBody)?;
    let secret = ecdh(&ua_sk, &as_pk);
    let ks = derive(&secret, auth, &ua_bytes, &as_bytes, &salt).ok_or(PushError::Crypto)?;
    let cipher = Aes128Gcm::new_from_slice(&ks.cek).map_err(|_| PushError::Crypto)?;

    let count = records.len().div_ceil(rs);
    let mut out = Vec::with_capacity(records.len());
    for (seq, rec) in records.chunks(rs).enumerate() {
        if rec.len() < TAG_LEN + 1 {
            return Err(PushError::BadBody);
        }
        let nonce = record_nonce(&ks.nonce, seq as u64);
        let plain = cipher
            .decrypt(&Nonce::from(nonce), rec)
            .map_err(|_| PushError::Crypto)?;
        let end = plain
            .iter()
            .rposition(|&b| b != 0)
            .ok_or(PushError::BadBody)?;
        let want = if seq + 1 == count { 0x02 } else { 0x01 };
        if plain.get(end) != Some(&want) {
            return Err(PushError::BadBody);
        }
        out.extend_from_slice(plain.get(..end).ok_or(PushError::BadBody)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        B64URL.decode(s).unwrap()
    }
    fn arr<const N: usize>(s: &str) -> [u8; N] {
        b64(s).try_into().unwrap()
    }

    // RFC 8291 Appendix A (spec push.md §9.1).
    const PLAINTEXT: &str = "V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const AS_PUBLIC: &str =
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const ECDH_SECRET: &str = "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs";
    const PRK_KEY: &str = "Snr3JMxaHVDXHWJn5wdC52WjpCtd2EIEGBykDcZW32k";
    const IKM: &str = "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg";
    const PRK: &str = "09_eUZGrsvxChDCGRCdkLiDXrReGOEVeSCdCcPBSJSc";
    const CEK: &str = "oIhVW04MRdy2XN9CiKLxTg";
    const NONCE: &str = "4h_95klXJ5E_qnoN";
    const HEADER: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn rfc_encrypt() -> Result<Vec<u8>, PushError> {
        encrypt_with(
            &b64(PLAINTEXT),
            &b64(UA_PUBLIC),
            &b64(AUTH),
            &arr(AS_PRIVATE),
            &arr(SALT),
            4096,
        )
    }

    #[test]
    fn rfc8291_appendix_a_intermediates() {
        let as_sk = SecretKey::from_slice(&b64(AS_PRIVATE)).unwrap();
        let ua_sk = SecretKey::from_slice(&b64(UA_PRIVATE)).unwrap();
        assert_eq!(
            point_bytes(&as_sk.public_key()).unwrap().to_vec(),
            b64(AS_PUBLIC)
        );
        assert_eq!(
            point_bytes(&ua_sk.public_key()).unwrap().to_vec(),
            b64(UA_PUBLIC)
        );
        let ua_pk = parse_point(&b64(UA_PUBLIC)).unwrap();
        let as_pk = parse_point(&b64(AS_PUBLIC)).unwrap();
        let secret = ecdh(&as_sk, &ua_pk);
        assert_eq!(secret.to_vec(), b64(ECDH_SECRET));
        assert_eq!(ecdh(&ua_sk, &as_pk), secret, "both sides agree");
        let ks = derive(
            &secret,
            &b64(AUTH),
            &arr(UA_PUBLIC),
            &arr(AS_PUBLIC),
            &arr(SALT),
        )
        .unwrap();
        assert_eq!(
            ks,
            KeySchedule {
                prk_key: arr(PRK_KEY),
                ikm: b64(IKM),
                prk: arr(PRK),
                cek: arr(CEK),
                nonce: arr(NONCE),
            }
        );
    }

    #[test]
    fn rfc8291_appendix_a_encrypt() {
        let body = rfc_encrypt().unwrap();
        assert_eq!(body, b64(BODY));
        assert_eq!(body.len(), 144);
        assert_eq!(body[..86], b64(HEADER)[..]);
    }

    #[test]
    fn rfc8291_appendix_a_decrypt() {
        let got = decrypt(&b64(BODY), &arr(UA_PRIVATE), &b64(AUTH)).unwrap();
        assert_eq!(got, b"When I grow up, I want to be a watermelon");
    }

    fn fresh_subscriber() -> (SecretKey, String, [u8; 16], String) {
        let sk = random_secret().unwrap();
        let p256dh = B64URL.encode(point_bytes(&sk.public_key()).unwrap());
        let mut auth = [0u8; 16];
        getrandom::getrandom(&mut auth).unwrap();
        let auth_b64 = B64URL.encode(auth);
        (sk, p256dh, auth, auth_b64)
    }

    #[test]
    fn round_trip_fresh_keys() {
        let (sk, p256dh, auth, auth_b64) = fresh_subscriber();
        let ua_secret: [u8; 32] = sk.to_bytes().into();
        let std_b64 = base64::engine::general_purpose::STANDARD;
        let p256dh_std = std_b64.encode(B64URL.decode(&p256dh).unwrap());
        let auth_std = std_b64.encode(auth);
        for len in [0usize, 1, 15, 16, 17, 300, MAX_PLAINTEXT] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            for (k, a) in [(&p256dh, &auth_b64), (&p256dh_std, &auth_std)] {
                let body = encrypt(&msg, k, a).unwrap();
                assert_eq!(body.len(), 86 + len + 17);
                assert_eq!(body[16..21], [0, 0, 0x10, 0, 65]);
                assert!(body.len() <= 4096);
                assert_eq!(decrypt(&body, &ua_secret, &auth).unwrap(), msg, "len {len}");
            }
        }
        // Fresh salt and ephemeral key each time.
        let a = encrypt(b"x", &p256dh, &auth_b64).unwrap();
        let b = encrypt(b"x", &p256dh, &auth_b64).unwrap();
        assert_ne!(a[..86], b[..86]);
    }

    #[test]
    fn encrypt_rejects() {
        let (_, p256dh, _, auth_b64) = fresh_subscriber();
        let big = vec![b'a'; MAX_PLAINTEXT + 1];
        let compressed = {
            let sk = random_secret().unwrap();
            B64URL.encode(sk.public_key().to_encoded_point(true).as_bytes())
        };
        let mut off_curve = B64URL.decode(&p256dh).unwrap();
        off_curve[64] ^= 1;
        let off_curve = B64URL.encode(off_curve);
        let cases: &[(&[u8], &str, &str, PushError)] = &[
            (&big, &p256dh, &auth_b64, PushError::TooLarge),
            (b"x", "", &auth_b64, PushError::BadP256dh),
            (b"x", "!!!", &auth_b64, PushError::BadP256dh),
            (b"x", &compressed, &auth_b64, PushError::BadP256dh),
            (b"x", &off_curve, &auth_b64, PushError::BadP256dh),
            (b"x", "a", "b", PushError::BadP256dh),
            (b"x", &p256dh, "", PushError::BadAuth),
            (b"x", &p256dh, "AAAAAAAAAAAAAAAAAAAA", PushError::BadAuth), // 15 bytes
            (b"x", &p256dh, "%%", PushError::BadAuth),
        ];
        for (pt, k, a, want) in cases {
            assert_eq!(encrypt(pt, k, a).as_ref(), Err(want), "{k:?} {a:?}");
        }
        // Padded, whitespace-surrounded and longer auth secrets are accepted.
        let padded = format!(" {auth_b64}== ");
        assert!(encrypt(b"x", &p256dh, &padded).is_ok());
        assert!(encrypt(b"x", &p256dh, &B64URL.encode([7u8; 32])).is_ok());
    }

    #[test]
    fn encrypt_with_limits() {
        let (pt, ua, auth, salt) = (b64(PLAINTEXT), b64(UA_PUBLIC), b64(AUTH), arr(SALT));
        let sk: [u8; 32] = arr(AS_PRIVATE);
        // 41 bytes + delimiter + tag = 58: rs 58 is the smallest that fits.
        assert!(encrypt_with(&pt, &ua, &auth, &sk, &salt, 58).is_ok());
        assert_eq!(
            encrypt_with(&pt, &ua, &auth, &sk, &salt, 57),
            Err(PushError::TooLarge)
        );
        assert_eq!(
            encrypt_with(b"", &ua, &auth, &sk, &salt, 17),
            Err(PushError::TooLarge)
        );
        assert!(encrypt_with(b"", &ua, &auth, &sk, &salt, 18).is_ok());
        assert_eq!(
            encrypt_with(&pt, &ua, &auth, &[0; 32], &salt, 4096),
            Err(PushError::BadKey)
        );
        assert_eq!(
            encrypt_with(&pt, &ua, &auth, &[0xff; 32], &salt, 4096),
            Err(PushError::BadKey)
        );
        assert_eq!(
            encrypt_with(&pt, &ua[..64], &auth, &sk, &salt, 4096),
            Err(PushError::BadP256dh)
        );
        assert_eq!(
            encrypt_with(&pt, &ua, &auth[..15], &sk, &salt, 4096),
            Err(PushError::BadAuth)
        );
    }

    #[test]
    fn decrypt_rejects() {
        let body = b64(BODY);
        let ua: [u8; 32] = arr(UA_PRIVATE);
        let auth = b64(AUTH);
        let mut wrong_auth = auth.clone();
        wrong_auth[0] ^= 1;
        assert_eq!(decrypt(&body, &ua, &wrong_auth), Err(PushError::Crypto));
        assert_eq!(decrypt(&body, &ua, &auth[..15]), Err(PushError::BadAuth));
        assert_eq!(decrypt(&body, &[0; 32], &auth), Err(PushError::BadKey));
        let mut other = ua;
        other[31] ^= 1;
        assert_eq!(decrypt(&body, &other, &auth), Err(PushError::Crypto));
        // Every truncation is rejected without panicking.
        for cut in 0..body.len() {
            assert!(decrypt(&body[..cut], &ua, &auth).is_err(), "cut {cut}");
        }
        // Any flipped bit is rejected (except in rs: a larger rs is still one record).
        for i in (0..body.len()).filter(|i| !(16..20).contains(i)) {
            let mut b = body.clone();
            b[i] ^= 0x80;
            assert!(decrypt(&b, &ua, &auth).is_err(), "flip {i}");
        }
        // rs below 18, or smaller than the record.
        let mut b = body.clone();
        b[16..20].copy_from_slice(&17u32.to_be_bytes());
        assert_eq!(decrypt(&b, &ua, &auth), Err(PushError::BadBody));
        b[16..20].copy_from_slice(&57u32.to_be_bytes());
        assert!(decrypt(&b, &ua, &auth).is_err());
        // Trailing garbage after the only record.
        let mut b = body.clone();
        b.extend_from_slice(&[0; 20]);
        assert!(decrypt(&b, &ua, &auth).is_err());
    }

    /// Build a multi-record body by hand (RFC 8188 §2) to check the decrypter's record loop.
    fn encrypt_records(chunks: &[&[u8]], pad: usize, rs: u32) -> Vec<u8> {
        let as_sk = SecretKey::from_slice(&b64(AS_PRIVATE)).unwrap();
        let ua_pk = parse_point(&b64(UA_PUBLIC)).unwrap();
        let secret = ecdh(&as_sk, &ua_pk);
        let ks = derive(
            &secret,
            &b64(AUTH),
            &arr(UA_PUBLIC),
            &arr(AS_PUBLIC),
            &arr(SALT),
        )
        .unwrap();
        let cipher = Aes128Gcm::new_from_slice(&ks.cek).unwrap();
        let mut out = b64(HEADER);
        out[16..20].copy_from_slice(&rs.to_be_bytes());
        for (i, c) in chunks.iter().enumerate() {
            let mut rec = c.to_vec();
            rec.push(if i + 1 == chunks.len() { 2 } else { 1 });
            rec.extend(std::iter::repeat_n(0, pad));
            let n = record_nonce(&ks.nonce, i as u64);
            out.extend(cipher.encrypt(&Nonce::from(n), rec.as_slice()).unwrap());
        }
        out
    }

    #[test]
    fn decrypt_multi_record_and_padding() {
        let ua: [u8; 32] = arr(UA_PRIVATE);
        let auth = b64(AUTH);
        // rs 20: 3 bytes of data per full record (20 - 16 tag - 1 delimiter).
        let body = encrypt_records(&[b"abc", b"def", b"g"], 0, 20);
        assert_eq!(decrypt(&body, &ua, &auth).unwrap(), b"abcdefg");
        // Padding zeros after the delimiter are stripped.
        let body = encrypt_records(&[b"hi"], 5, 4096);
        assert_eq!(decrypt(&body, &ua, &auth).unwrap(), b"hi");
        // Final record with delimiter 0x01 (truncated stream) is rejected.
        let mut body = encrypt_records(&[b"abc", b"def"], 0, 20);
        body.truncate(86 + 20);
        assert_eq!(decrypt(&body, &ua, &auth), Err(PushError::BadBody));
    }

    #[test]
    fn lenient_base64() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("", Some(b"")),
            ("-_8", Some(&[0xfb, 0xff])),
            ("+/8", Some(&[0xfb, 0xff])),
            ("+/8=", Some(&[0xfb, 0xff])),
            ("  -_8=\n", Some(&[0xfb, 0xff])),
            ("-_9", Some(&[0xfb, 0xff])), // non-zero trailing bits tolerated
            ("a", None),
            ("a=b", None),
            ("a b", None),
            ("é", None),
        ];
        for (s, want) in cases {
            assert_eq!(decode_b64_lenient(s).as_deref(), *want, "{s:?}");
        }
    }

    #[test]
    fn record_nonce_xors_sequence() {
        let base = [0u8; 12];
        assert_eq!(record_nonce(&base, 0), base);
        assert_eq!(record_nonce(&base, 1)[11], 1);
        assert_eq!(record_nonce(&[0xff; 12], 0x0102)[10..], [0xfe, 0xfd]);
    }
}
