//! Web authentication codecs (spec/auth.md): access tokens (§3), the HS256 web JWT (§4),
//! WHATWG form decoding, Telegram Mini App `initData` validation (§7), and the throttle of
//! failed credentials (issue 20).
//!
//! Everything here is sans-IO: no clock (callers pass `now`), no randomness, no files.
//! Secrets are compared in constant time and never formatted into error messages.

pub mod form;
pub mod jwt;
pub mod telegram;
pub mod throttle;
pub mod token;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// HMAC-SHA256 (RFC 2104) of `msg` under `key`, for any key length; never fails.
///
/// The key is brought to SHA-256's 64-byte block by hand (hashed when longer, zero-padded
/// otherwise, exactly as RFC 2104 §2 does) so the infallible fixed-size constructor can be
/// used instead of `new_from_slice`, which returns a `Result` that cannot actually fail.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        for (dst, src) in block.iter_mut().zip(digest.iter()) {
            *dst = *src;
        }
    } else {
        for (dst, src) in block.iter_mut().zip(key.iter()) {
            *dst = *src;
        }
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::hmac_sha256;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    // RFC 4231 §4: test cases 1, 2, 6 (key longer than the block) and 7.
    #[test]
    fn rfc4231_vectors() {
        let cases: &[(Vec<u8>, &[u8], &str)] = &[
            (
                vec![0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, msg, want) in cases {
            assert_eq!(hex(&hmac_sha256(key, msg)), *want);
        }
        // exactly one block: no hashing, no padding
        let k64 = [0x11u8; 64];
        let k65 = [0x11u8; 65];
        assert_ne!(hmac_sha256(&k64, b"x"), hmac_sha256(&k65, b"x"));
    }
}
