//! Fuzzes the JWT codec (spec/auth.md §4): structural decode, full verification under a
//! fixed secret, and access-token parsing (§3) on the same lossy-UTF-8 input; then checks
//! that a token minted with the input as namespace verifies back to it.
#![no_main]

const SECRET: &[u8; 32] = b"hapid-fuzz-secret-0123456789abcd";
const NOW: u64 = 1_795_392_669;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use hapid::auth::{jwt, token};
    let input = String::from_utf8_lossy(data);
    let _ = jwt::decode(&input);
    let _ = jwt::verify(&input, SECRET, NOW);
    let _ = token::parse_access_token(&input);
    let _ = token::authenticate(&input, "specA-test-token-0123456789abcdefXYZ");

    if input.len() <= 4096 {
        let t = jwt::sign(SECRET, 148_629_981, &input, NOW, NOW + 900);
        let claims = jwt::verify(&t, SECRET, NOW).expect("a minted token verifies");
        assert_eq!(claims.ns, input);
        assert_eq!(jwt::verify(&t, SECRET, NOW + 900), Err(jwt::JwtError::Invalid));
    }
});
