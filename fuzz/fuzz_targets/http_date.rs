//! Fuzzes HTTP-date and `Retry-After` parsing (src/http/date.rs): no panic or overflow on any
//! input, and a date never gives a negative delay.
#![no_main]

const NOW_MS: i64 = 1_795_492_800_000;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use hapid::http::date;
    let input = String::from_utf8_lossy(data);
    let parsed = date::parse_http_date(&input);
    if let Some(ms) = date::retry_after_ms(&input, NOW_MS) {
        assert!(ms >= 0, "negative delay {ms} for {input:?}");
    }
    if let Some(t) = parsed {
        assert!((-62_167_219_200..=253_402_300_800).contains(&t), "{t} from {input:?}");
    }
});
