//! HKDF with HMAC-SHA-256 (RFC 5869), the key derivation of RFC 8291 §3.3–3.4 and
//! RFC 8188 §2.2.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of one SHA-256 output block, the HKDF `HashLen`.
const HASH_LEN: usize = 32;

/// RFC 5869 HKDF-SHA256 (extract then expand), len <= 255*32 (else None).
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Option<Vec<u8>> {
    let prk = extract(salt, ikm)?;
    expand(&prk, info, len)
}

/// RFC 5869 §2.2 `HKDF-Extract(salt, IKM)` = HMAC(salt, IKM). An empty salt is used as given
/// (HMAC pads any key to the block size, so it equals HashLen zero bytes). None never happens
/// in practice (HMAC accepts every key length); it exists so nothing here can panic.
pub fn extract(salt: &[u8], ikm: &[u8]) -> Option<[u8; HASH_LEN]> {
    let mut mac = HmacSha256::new_from_slice(salt).ok()?;
    mac.update(ikm);
    Some(mac.finalize().into_bytes().into())
}

/// RFC 5869 §2.3 `HKDF-Expand(PRK, info, L)`: None when `len > 255 * 32`.
pub fn expand(prk: &[u8], info: &[u8], len: usize) -> Option<Vec<u8>> {
    if len > 255 * HASH_LEN {
        return None;
    }
    let mut okm = Vec::with_capacity(len);
    let mut prev: Option<[u8; HASH_LEN]> = None;
    let mut counter: u8 = 1;
    while okm.len() < len {
        let mut mac = HmacSha256::new_from_slice(prk).ok()?;
        if let Some(t) = &prev {
            mac.update(t);
        }
        mac.update(info);
        mac.update(&[counter]);
        let block: [u8; HASH_LEN] = mac.finalize().into_bytes().into();
        let take = (len - okm.len()).min(HASH_LEN);
        okm.extend_from_slice(block.get(..take)?);
        prev = Some(block);
        // At most 255 iterations because of the length check above.
        counter = counter.wrapping_add(1);
    }
    Some(okm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    struct Case {
        name: &'static str,
        ikm: &'static str,
        salt: &'static str,
        info: &'static str,
        len: usize,
        prk: &'static str,
        okm: &'static str,
    }

    /// RFC 5869 Appendix A.1–A.3 (the SHA-256 cases).
    const CASES: &[Case] = &[
        Case {
            name: "A.1 basic",
            ikm: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            salt: "000102030405060708090a0b0c",
            info: "f0f1f2f3f4f5f6f7f8f9",
            len: 42,
            prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
            okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf
                  34007208d5b887185865",
        },
        Case {
            name: "A.2 long inputs",
            ikm: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
                  202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
                  404142434445464748494a4b4c4d4e4f",
            salt: "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f
                   808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f
                   a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
            info: "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf
                   d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef
                   f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
            len: 82,
            prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
            okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c
                  59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71
                  cc30c58179ec3e87c14c01d5c1f3434f1d87",
        },
        Case {
            name: "A.3 empty salt and info",
            ikm: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            salt: "",
            info: "",
            len: 42,
            prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
            okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d
                  9d201395faa4b61a96c8",
        },
    ];

    #[test]
    fn rfc5869_vectors() {
        for c in CASES {
            let (ikm, salt, info) = (hex(c.ikm), hex(c.salt), hex(c.info));
            assert_eq!(
                extract(&salt, &ikm).unwrap().to_vec(),
                hex(c.prk),
                "{} prk",
                c.name
            );
            let okm = hkdf_sha256(&salt, &ikm, &info, c.len).unwrap();
            assert_eq!(okm, hex(c.okm), "{} okm", c.name);
            // Every prefix length agrees with the full output (the block loop's edges).
            for l in 0..=c.len {
                let got = hkdf_sha256(&salt, &ikm, &info, l).unwrap();
                assert_eq!(got[..], okm[..l], "{} len {l}", c.name);
            }
        }
    }

    #[test]
    fn length_limit() {
        assert_eq!(
            hkdf_sha256(b"s", b"k", b"i", 255 * 32).map(|v| v.len()),
            Some(8160)
        );
        assert_eq!(hkdf_sha256(b"s", b"k", b"i", 255 * 32 + 1), None);
        assert_eq!(hkdf_sha256(b"s", b"k", b"i", usize::MAX), None);
    }
}
