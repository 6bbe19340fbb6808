//! Fuzzes the QR encoder (src/qr/): any bytes at any level and any requested version or mask
//! give a symbol or an error, never a panic; a symbol has the size of its version and holds
//! the data by the capacity table.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    use hapid::qr::{Ecc, MAX_VERSION, QrCode};
    let Some((&ctl, data)) = input.split_first() else {
        return;
    };
    let ecc = [Ecc::Low, Ecc::Medium, Ecc::Quartile, Ecc::High][usize::from(ctl & 3)];
    // Out-of-range versions (up to 15) and masks (up to 15) are asked for too.
    let version = (ctl & 0x40 != 0).then_some((ctl >> 2) & 0x0f);
    let mask = (ctl & 0x80 != 0).then_some((ctl >> 4) & 0x0f);
    match QrCode::encode_with(data, ecc, version, mask) {
        Ok(q) => {
            assert_eq!(q.size(), usize::from(q.version()) * 4 + 17);
            assert!(data.len() <= QrCode::capacity(q.version(), ecc));
            assert!(q.version() <= MAX_VERSION && q.mask() <= 7);
            let text = q.to_half_blocks(usize::from(ctl), ctl & 1 == 1);
            assert_eq!(
                text.lines().count(),
                (q.size() + 2 * usize::from(ctl).min(16)).div_ceil(2)
            );
        }
        Err(_) => assert!(
            data.len() > QrCode::capacity(version.unwrap_or(MAX_VERSION), ecc)
                || version.is_some_and(|v| v == 0 || v > MAX_VERSION)
                || mask.is_some_and(|m| m > 7)
        ),
    }
});
