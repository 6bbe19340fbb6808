//! Web Push for the hub (spec `push.md`): RFC 8291 payload encryption over the RFC 8188
//! `aes128gcm` content coding, RFC 8292 VAPID identity and JWTs, the `vapid-keys.json`
//! file format, and the notification JSON bodies.
//!
//! Everything here is sans-IO: no sockets, files or clock. Randomness is drawn from the OS
//! only by [`ece::encrypt`] and [`vapid::VapidKeys::generate`]; the deterministic cores take
//! it as input so the RFC vectors are exact-output tests. Sending the request, retries and
//! the notification policy live in the hub and reactor.

pub mod ece;
pub mod hkdf;
pub mod keys_file;
pub mod payload;
pub mod vapid;

pub use ece::PushError;

#[cfg(test)]
mod tests {
    //! Panic-freedom smoke test over every entry point that takes outside input (a small
    //! deterministic stand-in for a fuzz target: the real bodies, cut and mutated).
    use super::*;

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self, seed: &[u8]) -> Vec<u8> {
            let mut v = seed.to_vec();
            let n = (self.next() % 8) as usize;
            for _ in 0..n {
                let r = self.next();
                match r % 4 {
                    0 if !v.is_empty() => {
                        let i = (r >> 8) as usize % v.len();
                        v[i] ^= (r >> 32) as u8;
                    }
                    1 => v.truncate((r >> 8) as usize % (v.len() + 1)),
                    2 => v.push((r >> 8) as u8),
                    _ => v.insert(
                        (r >> 8) as usize % (v.len() + 1),
                        b"./=-_+{}\"@:[]"[(r >> 16) as usize % 13],
                    ),
                }
            }
            v
        }
    }

    #[test]
    fn no_panics_on_mutated_inputs() {
        let keys = vapid::VapidKeys::generate();
        let ua = vapid::VapidKeys::generate();
        let ua_secret: [u8; 32] = base64::Engine::decode(&ece::B64URL, ua.private_b64())
            .unwrap()
            .try_into()
            .unwrap();
        let auth = [9u8; 16];
        let auth_b64 = base64::Engine::encode(&ece::B64URL, auth);
        let body = ece::encrypt(b"{\"title\":\"x\"}", &ua.public_b64(), &auth_b64).unwrap();
        let jwt = keys.jwt("https://fcm.googleapis.com", 1_700_000_000, "mailto:a@b");
        let file = keys_file::keys_json(&keys);
        let url = "https://user@[::1]:8443/fcm/send/x?y#z";
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..1000 {
            let b = rng.bytes(&body);
            let _ = ece::decrypt(&b, &ua_secret, &auth);
            let s = String::from_utf8_lossy(&rng.bytes(jwt.as_bytes())).into_owned();
            let _ = vapid::verify_jwt(&s, &keys.public_b64());
            let f = String::from_utf8_lossy(&rng.bytes(file.as_bytes())).into_owned();
            let _ = keys_file::parse_keys_json(&f);
            let p = String::from_utf8_lossy(&rng.bytes(keys.public_b64().as_bytes())).into_owned();
            let _ = vapid::VapidKeys::from_b64(&p, &keys.private_b64());
            let _ = ece::encrypt(b"x", &p, &auth_b64);
            let u = String::from_utf8_lossy(&rng.bytes(url.as_bytes())).into_owned();
            let _ = vapid::origin_of(&u);
        }
    }
}
