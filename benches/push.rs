//! Cost of one Web Push notification on the hub's single thread: RFC 8291 encryption
//! (`hapid::push::ece::encrypt`: fresh ephemeral key + salt, ECDH, HKDF, AES-128-GCM) plus the
//! VAPID `Authorization` value (`VapidKeys::authorization`: ES256 JWT signature), for a
//! realistic ~300-byte permission-request payload.
//!
//! std only (no criterion): each operation is timed alone, many times, after a warm-up, and
//! the median (with p10/p90) is printed. Run: `cargo bench --bench push`.
//! `PUSH_BENCH_ITERS=<n>` changes the sample count (default 2000).

use std::hint::black_box;
use std::time::{Duration, Instant};

use hapid::push::{ece, payload, vapid::VapidKeys};

/// Times `f` `n` times (after `n / 10` warm-up calls); returns the sorted samples.
fn sample(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..n / 10 {
        f();
    }
    let mut v: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v
}

fn pct(v: &[Duration], p: usize) -> Duration {
    v[(v.len() - 1) * p / 100]
}

fn report(name: &str, v: &[Duration]) -> Duration {
    let med = pct(v, 50);
    println!(
        "{name:<44} median {:>8.1} µs   p10 {:>8.1} µs   p90 {:>8.1} µs   (n={})",
        us(med),
        us(pct(v, 10)),
        us(pct(v, 90)),
        v.len()
    );
    med
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let n: usize = std::env::var("PUSH_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n >= 10)
        .unwrap_or(2000);

    // The hub's VAPID pair and one browser subscription (p256dh = a P-256 public point,
    // auth = 16 bytes), as PushManager.subscribe() would make them.
    let vapid = VapidKeys::generate();
    let browser = VapidKeys::generate();
    let p256dh = browser.public_b64();
    let auth = "BTBZMqHH6r4Tts7J_aSIgg";
    let aud = "https://fcm.googleapis.com";
    let sub = "mailto:admin@hapi.run";
    let exp = 1_800_000_000u64;

    let sid = "f1a77bfa-41cd-4fdc-8b38-632377e25222";
    let rid = "toolu_01HJ8Zq3xKp2VYd4w6Tn9RbE";
    // A typical permission request: ~300 bytes of JSON (spec/push.md §5.5 calls 250–300 normal).
    let body = "Claude wants to edit src/main.ts";
    let plaintext = payload::permission_request_payload(sid, rid, body);
    let plaintext = plaintext.into_bytes();
    let out = ece::encrypt(&plaintext, &p256dh, auth).expect("encrypt");
    println!(
        "payload {} bytes → body {} bytes; Authorization header {} bytes",
        plaintext.len(),
        out.len(),
        vapid.authorization(aud, exp, sub).len()
    );

    let enc = sample(n, || {
        black_box(ece::encrypt(black_box(&plaintext), black_box(&p256dh), auth).ok());
    });
    let m_enc = report("ece::encrypt", &enc);

    let sig = sample(n, || {
        black_box(vapid.authorization(black_box(aud), exp, sub));
    });
    let m_sig = report("VapidKeys::authorization", &sig);

    let both = sample(n, || {
        black_box(ece::encrypt(black_box(&plaintext), black_box(&p256dh), auth).ok());
        black_box(vapid.authorization(black_box(aud), exp, sub));
    });
    let m_both = report("per notification (encrypt + authorization)", &both);

    // Parts, to show where the time goes.
    let mut salt = [0u8; 16];
    salt[0] = 7;
    let ua_public = ece::decode_b64_lenient(&p256dh).expect("p256dh");
    let auth_bytes = ece::decode_b64_lenient(auth).expect("auth");
    let as_secret: [u8; 32] = {
        let k = VapidKeys::generate();
        let b = ece::decode_b64_lenient(&k.private_b64()).expect("scalar");
        b.try_into().expect("32 bytes")
    };
    let det = sample(n, || {
        black_box(
            ece::encrypt_with(
                &plaintext,
                &ua_public,
                &auth_bytes,
                &as_secret,
                &salt,
                ece::RECORD_SIZE,
            )
            .ok(),
        );
    });
    report("  ece::encrypt_with (fixed key+salt)", &det);
    let jwt = sample(n, || {
        black_box(vapid.jwt(black_box(aud), exp, sub));
    });
    report("  VapidKeys::jwt (signature only)", &jwt);
    let pk = sample(n, || {
        black_box(vapid.public_b64());
    });
    report("  VapidKeys::public_b64 (k=, derived)", &pk);

    println!(
        "summary: encrypt {:.1} µs + authorization {:.1} µs; together {:.1} µs per notification per subscription \
         (≈ {:.0} notifications/s on one core)",
        us(m_enc),
        us(m_sig),
        us(m_both),
        1.0 / m_both.as_secs_f64()
    );
}
