//! Fuzzes the TZif reader (src/hub/tzif.rs) with arbitrary bytes: it must answer a zone or
//! `None`, never panic; a zone's transitions are strictly increasing and every offset is
//! within two days. Seeded with real zone files (fuzz/corpus/tzif).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(z) = hapid::hub::tzif::parse(data) {
        assert!(z.transitions.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(z.transitions.iter().all(|t| t.1.unsigned_abs() < 2 * 86_400));
        for t in [i64::MIN, -1, 0, 1_796_000_000, i64::MAX] {
            let _ = z.offset_at(t);
        }
    }
});
