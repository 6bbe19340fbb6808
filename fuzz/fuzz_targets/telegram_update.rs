//! Fuzzes the Telegram Bot API reply parsing (spec/telegram.md §2–§4): `getUpdates` bodies
//! into commands/callbacks, error replies, and the callback data / deep link built from
//! what a callback carries.
#![no_main]

const BOT: &str = "test_hapi_bot";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use hapid::telegram as tg;
    let _ = tg::api_error(data);
    if let Ok(inputs) = tg::parse_updates(data, BOT) {
        for (_, input) in inputs {
            if let tg::BotInput::Callback { data, .. } = input {
                let parsed = tg::parse_callback(&data);
                let sid = parsed.session_prefix.clone();
                let rid = parsed.request_prefix.unwrap_or_default();
                let built = tg::callback_data(tg::Action::Deny, &sid, &rid);
                assert!(built.len() <= 64);
                let _ = tg::deep_link(&data, &sid);
            }
        }
    }
});
