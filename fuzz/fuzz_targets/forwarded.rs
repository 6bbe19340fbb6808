//! Fuzzes the trusted-proxy parsing (src/http/forwarded.rs): the configured list and the
//! `X-Forwarded-For` walk never panic, and the answer is the peer or an address the header
//! or the peer supplied.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use hapid::http::forwarded::{Cidr, client_ip, parse_list};
    use std::net::IpAddr;
    let input = String::from_utf8_lossy(data);
    let _ = parse_list(&input);
    let _ = Cidr::parse(&input);
    let trusted = parse_list("127.0.0.0/8, ::1, 10.0.0.0/8, fd00::/8").expect("valid list");
    let peer: IpAddr = "127.0.0.1".parse().expect("address");
    let ip = client_ip(peer, input.split('\n'), &trusted);
    if ip != peer {
        let s = ip.to_string();
        let mapped = format!("::ffff:{s}");
        assert!(
            input.contains(&s) || input.to_ascii_lowercase().contains(&mapped) || input.contains(':'),
            "{ip} from {input:?}"
        );
    }
});
