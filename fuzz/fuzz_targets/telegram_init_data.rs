//! Fuzzes Telegram initData validation (spec/auth.md §7) with a fixed bot token and clock,
//! and the WHATWG form / percent decoders it is built on.
#![no_main]

const BOT_TOKEN: &str = "123456:TESTTOKENabcdefghij";
const NOW: u64 = 1_795_392_669;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use hapid::auth::{form, telegram};
    let input = String::from_utf8_lossy(data);
    let _ = telegram::validate_init_data(&input, BOT_TOKEN, NOW);
    let pairs = form::parse_form(&input);
    assert!(pairs.len() <= input.len() / 2 + 1);
    assert!(form::percent_decode(&input).len() <= input.len());
});
