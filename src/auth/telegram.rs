//! Telegram Mini App `initData` validation (spec/auth.md §7; Telegram "Validating data
//! received via the Mini App"), reproducing upstream's checks, their order and error
//! strings, including its three accepted key derivations and Node's lenient hex decoding.
//!
//! Not here: the clock (callers pass `now`), binding lookups (hub/store), the bot itself.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::form::{hex_val, parse_form};
use super::hmac_sha256;
use super::token::{ct_eq, is_js_whitespace};

/// Oldest accepted `auth_date`, in seconds before `now` (inclusive).
pub const MAX_AGE_SECS: u64 = 86_400;

/// Largest |user.id| accepted (2^53; JavaScript numbers are exact up to here).
const MAX_USER_ID: f64 = 9_007_199_254_740_992.0;

/// The Telegram account a valid `initData` speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramUser {
    /// `String(user.id)`: the decimal integer, no exponent, no fraction.
    pub id: String,
    /// `user.username`, when present.
    pub username: Option<String>,
    /// `user.first_name`, when present.
    pub first_name: Option<String>,
    /// `user.last_name`, when present.
    pub last_name: Option<String>,
}

/// Why `initData` was refused, in the order the checks run (auth.md §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitDataError {
    /// No `hash` pair, or an empty one.
    MissingHash,
    /// `auth_date` missing, empty, without leading digits, or not finite.
    BadAuthDate,
    /// `auth_date` more than [`MAX_AGE_SECS`] in the past.
    TooOld,
    /// No key derivation produces the given hash.
    BadSignature,
    /// No `user` pair, or an empty one.
    MissingUser,
    /// `user` is not JSON.
    BadUserJson,
    /// `user` is JSON but not the expected object (or its id is not a safe integer).
    BadUserSchema,
}

impl InitDataError {
    /// The exact `error` string of the 401 body (auth.md §7.3).
    pub fn message(&self) -> &'static str {
        match self {
            Self::MissingHash => "Missing hash",
            Self::BadAuthDate => "Missing or invalid auth_date",
            Self::TooOld => "initData is too old",
            Self::BadSignature => "Invalid initData signature",
            Self::MissingUser => "Missing user",
            Self::BadUserJson => "Invalid user JSON",
            Self::BadUserSchema => "Invalid user schema",
        }
    }
}

/// auth.md §7.1 exactly, in that order; the three key derivations K1/K2/K3; lenient hex
/// like Node's Buffer.from(hex,'hex'); max age 86400 s; user.id formatted as a decimal
/// integer (reject non-integers or beyond ±2^53 as BadUserSchema). Never panics; work and
/// memory are linear in the input.
pub fn validate_init_data(
    init_data: &str,
    bot_token: &str,
    now_secs: u64,
) -> Result<TelegramUser, InitDataError> {
    let pairs = parse_form(init_data);

    let hash = match pairs.iter().find(|(k, _)| k == "hash") {
        Some((_, h)) if !h.is_empty() => h.as_str(),
        _ => return Err(InitDataError::MissingHash),
    };

    // `entries[key] = value` on a plain JavaScript object: the last value wins, and a key
    // `__proto__` sets the prototype instead (a string is silently ignored), so it never
    // shows up in `Object.keys`.
    let mut entries: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in &pairs {
        if k != "__proto__" {
            entries.insert(k, v);
        }
    }

    let auth_date = entries
        .get("auth_date")
        .and_then(|s| js_parse_int(s))
        .filter(|d| d.is_finite())
        .ok_or(InitDataError::BadAuthDate)?;
    // Both doubles, as upstream computes `nowSeconds - authDate > maxAgeSeconds`.
    if now_secs as f64 - auth_date > MAX_AGE_SECS as f64 {
        return Err(InitDataError::TooOld);
    }

    // BTreeMap iterates keys in byte order (see auth.md §7.1 step 6 on localeCompare).
    let check = data_check_string(&entries);
    let given = node_hex(hash);
    let valid = secret_keys(bot_token).iter().fold(false, |ok, k| {
        ok | ct_eq(&given, &hmac_sha256(k, check.as_bytes()))
    });
    if !valid {
        return Err(InitDataError::BadSignature);
    }

    let user = match entries.get("user") {
        Some(u) if !u.is_empty() => *u,
        _ => return Err(InitDataError::MissingUser),
    };
    let user: Value = serde_json::from_str(user).map_err(|_| InitDataError::BadUserJson)?;
    user_from_json(&user).ok_or(InitDataError::BadUserSchema)
}

/// For tests and fake clients: builds signed initData (K1) from fields. Pairs are
/// form-encoded in the order given, then `hash=<64 lower-case hex digits>` is appended.
pub fn sign_init_data(fields: &[(&str, &str)], bot_token: &str) -> String {
    let mut entries: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in fields {
        if *k != "hash" && *k != "__proto__" {
            entries.insert(k, v);
        }
    }
    let [k1, _, _] = secret_keys(bot_token);
    let mac = hmac_sha256(&k1, data_check_string(&entries).as_bytes());
    let mut out = String::new();
    for (k, v) in fields {
        if *k == "hash" {
            continue;
        }
        form_encode_into(k, &mut out);
        out.push('=');
        form_encode_into(v, &mut out);
        out.push('&');
    }
    out.push_str("hash=");
    for b in mac {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// K1 = HMAC("WebAppData", token) (Telegram's), K2 = HMAC(token, "WebAppData"),
/// K3 = SHA-256(token): upstream accepts a hash under any of them.
fn secret_keys(bot_token: &str) -> [[u8; 32]; 3] {
    [
        hmac_sha256(b"WebAppData", bot_token.as_bytes()),
        hmac_sha256(bot_token.as_bytes(), b"WebAppData"),
        Sha256::digest(bot_token.as_bytes()).into(),
    ]
}

/// `key=value` lines in key order, joined by '\n', without a trailing newline; `hash` left
/// out.
fn data_check_string(entries: &BTreeMap<&str, &str>) -> String {
    let mut out = String::new();
    for (k, v) in entries.iter().filter(|(k, _)| **k != "hash") {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Node's `Buffer.from(s, 'hex')`: decodes pairs of hex digits (either case) and stops at
/// the first pair that is not two hex digits; an odd trailing digit is dropped.
fn node_hex(s: &str) -> Vec<u8> {
    s.as_bytes()
        .chunks_exact(2)
        .map_while(|pair| match pair {
            [h, l] => Some(hex_val(*h)? << 4 | hex_val(*l)?),
            _ => None,
        })
        .collect()
}

/// JavaScript `parseInt(s, 10)`: skip leading JS whitespace, optional sign, then the
/// longest run of ASCII digits (rest ignored). None = NaN (no digits). The result is the
/// correctly rounded double, so 309+ digit strings give infinity, as in JavaScript.
fn js_parse_int(s: &str) -> Option<f64> {
    let s = s.trim_start_matches(is_js_whitespace);
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    let end = rest
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    let digits = rest.get(..end).filter(|d| !d.is_empty())?;
    let v: f64 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Upstream's zod schema: an object with a numeric `id`; `is_bot` boolean and `first_name`,
/// `last_name`, `username`, `language_code` strings when present; other keys ignored.
fn user_from_json(v: &Value) -> Option<TelegramUser> {
    let obj = v.as_object()?;
    let id = obj.get("id")?.as_f64()?;
    if id.fract() != 0.0 || id.abs() > MAX_USER_ID {
        return None;
    }
    let opt_str = |key: &str| -> Option<Option<String>> {
        match obj.get(key) {
            None => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(_) => None,
        }
    };
    if obj.get("is_bot").is_some_and(|b| !b.is_boolean()) {
        return None;
    }
    opt_str("language_code")?;
    Some(TelegramUser {
        // Exact: an integral double within ±2^53 converts to i64 without loss, and -0.0
        // becomes 0, as String(-0) gives "0".
        id: (id as i64).to_string(),
        username: opt_str("username")?,
        first_name: opt_str("first_name")?,
        last_name: opt_str("last_name")?,
    })
}

/// application/x-www-form-urlencoded serialization of one name or value (WHATWG URL §5.2).
fn form_encode_into(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b'*' | b'-' | b'.' | b'_' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InitDataError::*;

    const BOT: &str = "123456:TESTTOKENabcdefghij";
    const NOW: u64 = 1_795_392_669;
    const USER: &str = r#"{"id":424242,"first_name":"Ann","last_name":"Lee","username":"annlee","language_code":"en"}"#;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn ann() -> TelegramUser {
        TelegramUser {
            id: "424242".to_owned(),
            username: Some("annlee".to_owned()),
            first_name: Some("Ann".to_owned()),
            last_name: Some("Lee".to_owned()),
        }
    }

    /// The §7.2 fields with the given auth_date, as (key, value) pairs.
    fn fields(auth_date: &str) -> Vec<(&'static str, String)> {
        vec![
            ("query_id", "AAH123".to_owned()),
            ("user", USER.to_owned()),
            ("auth_date", auth_date.to_owned()),
            ("chat_instance", "-1".to_owned()),
            ("chat_type", "private".to_owned()),
        ]
    }

    fn unsigned(fields: &[(&str, String)]) -> String {
        let mut out = String::new();
        for (k, v) in fields {
            form_encode_into(k, &mut out);
            out.push('=');
            form_encode_into(v, &mut out);
            out.push('&');
        }
        out
    }

    fn check_string(auth_date: &str) -> String {
        format!(
            "auth_date={auth_date}\nchat_instance=-1\nchat_type=private\nquery_id=AAH123\nuser={USER}"
        )
    }

    /// §7.2 initData with a hash under `key`.
    fn signed_with(key: &[u8], auth_date: &str) -> String {
        let mac = hmac_sha256(key, check_string(auth_date).as_bytes());
        format!("{}hash={}", unsigned(&fields(auth_date)), hex(&mac))
    }

    fn sign(fs: &[(&str, &str)]) -> String {
        sign_init_data(fs, BOT)
    }

    #[test]
    fn messages() {
        let want = [
            (MissingHash, "Missing hash"),
            (BadAuthDate, "Missing or invalid auth_date"),
            (TooOld, "initData is too old"),
            (BadSignature, "Invalid initData signature"),
            (MissingUser, "Missing user"),
            (BadUserJson, "Invalid user JSON"),
            (BadUserSchema, "Invalid user schema"),
        ];
        for (e, s) in want {
            assert_eq!(e.message(), s);
        }
    }

    // auth.md §7.2: K1, K2 and K3 all authenticate; any other key does not.
    #[test]
    fn reference_vector_three_keys() {
        let date = (NOW - 10).to_string();
        let k1 = hmac_sha256(b"WebAppData", BOT.as_bytes());
        let k2 = hmac_sha256(BOT.as_bytes(), b"WebAppData");
        let k3: [u8; 32] = Sha256::digest(BOT.as_bytes()).into();
        for key in [k1, k2, k3] {
            assert_eq!(
                validate_init_data(&signed_with(&key, &date), BOT, NOW),
                Ok(ann())
            );
        }
        let wrong = hmac_sha256(b"WebAppData", b"654321:OTHER");
        assert_eq!(
            validate_init_data(&signed_with(&wrong, &date), BOT, NOW),
            Err(BadSignature)
        );
        assert_eq!(
            validate_init_data(&signed_with(&k1, &date), "654321:OTHER", NOW),
            Err(BadSignature)
        );
        // sign_init_data is K1 over the same data-check-string.
        let fs = fields(&date);
        let refs: Vec<(&str, &str)> = fs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(sign(&refs), signed_with(&k1, &date));
        assert_eq!(
            data_check_string(&refs.iter().copied().collect()),
            check_string(&date)
        );
    }

    #[test]
    fn freshness() {
        let k1 = hmac_sha256(b"WebAppData", BOT.as_bytes());
        let at = |age: i64| {
            let date = (NOW as i64 - age).to_string();
            validate_init_data(&signed_with(&k1, &date), BOT, NOW)
        };
        assert_eq!(at(86_401), Err(TooOld));
        assert_eq!(at(86_400), Ok(ann()));
        assert_eq!(at(0), Ok(ann()));
        assert_eq!(at(-1_000_000), Ok(ann())); // future dates are accepted
        // Stale AND forged: freshness is checked first.
        let wrong = hmac_sha256(b"nope", BOT.as_bytes());
        let date = (NOW - 86_401).to_string();
        assert_eq!(
            validate_init_data(&signed_with(&wrong, &date), BOT, NOW),
            Err(TooOld)
        );
    }

    #[test]
    fn lenient_hash_hex() {
        let date = (NOW - 10).to_string();
        let good = signed_with(&hmac_sha256(b"WebAppData", BOT.as_bytes()), &date);
        let (head, h) = good.rsplit_once("hash=").unwrap();
        let cases: Vec<(String, Result<TelegramUser, InitDataError>)> = vec![
            (h.to_uppercase(), Ok(ann())),
            (format!("{h}0"), Ok(ann())),
            (format!("{h}f"), Ok(ann())),
            (format!("{h}zz"), Ok(ann())), // decoding stops at the first non-hex pair
            (format!("{h}00"), Err(BadSignature)), // 33 bytes
            (h[..62].to_owned(), Err(BadSignature)),
            (format!("{}{}", &h[..62], "g0"), Err(BadSignature)),
            ("zz".to_owned(), Err(BadSignature)),
            (String::new(), Err(MissingHash)),
        ];
        for (hash, want) in cases {
            let data = format!("{head}hash={hash}");
            assert_eq!(validate_init_data(&data, BOT, NOW), want, "{hash}");
        }
        assert_eq!(node_hex("0aBz12"), vec![0x0a]);
        assert_eq!(node_hex("abc"), vec![0xab]);
        assert_eq!(node_hex("a"), Vec::<u8>::new());
        assert_eq!(node_hex("x1ab"), Vec::<u8>::new());
    }

    #[test]
    fn error_table() {
        let d = (NOW - 10).to_string();
        let d = d.as_str();
        let cases: Vec<(&str, String, Result<TelegramUser, InitDataError>)> = vec![
            ("empty", String::new(), Err(MissingHash)),
            (
                "no hash",
                format!("auth_date={d}&user=%7B%7D"),
                Err(MissingHash),
            ),
            (
                "empty hash",
                format!("auth_date={d}&hash="),
                Err(MissingHash),
            ),
            (
                "first hash empty",
                format!("hash=&auth_date={d}&hash=ab"),
                Err(MissingHash),
            ),
            ("no auth_date", "hash=ab".to_owned(), Err(BadAuthDate)),
            (
                "empty auth_date",
                "auth_date=&hash=ab".to_owned(),
                Err(BadAuthDate),
            ),
            (
                "auth_date junk",
                "auth_date=abc&hash=ab".to_owned(),
                Err(BadAuthDate),
            ),
            (
                "auth_date sign only",
                "auth_date=-&hash=ab".to_owned(),
                Err(BadAuthDate),
            ),
            (
                "auth_date infinite",
                format!("auth_date=9{}&hash=ab", "9".repeat(400)),
                Err(BadAuthDate),
            ),
            (
                "auth_date stale",
                format!("auth_date={}&hash=ab", NOW - 86_401),
                Err(TooOld),
            ),
            (
                "auth_date negative",
                "auth_date=-5&hash=ab".to_owned(),
                Err(TooOld),
            ),
            (
                "auth_date hex prefix is 0",
                "auth_date=0x10&hash=ab".to_owned(),
                Err(TooOld),
            ),
            (
                "bad signature",
                format!("auth_date={d}&user=x&hash=ab"),
                Err(BadSignature),
            ),
            ("no user", sign(&[("auth_date", d)]), Err(MissingUser)),
            (
                "empty user",
                sign(&[("auth_date", d), ("user", "")]),
                Err(MissingUser),
            ),
            (
                "user not JSON",
                sign(&[("auth_date", d), ("user", "{")]),
                Err(BadUserJson),
            ),
            (
                "user trailing junk",
                sign(&[("auth_date", d), ("user", "{} x")]),
                Err(BadUserJson),
            ),
            (
                "user array",
                sign(&[("auth_date", d), ("user", "[1]")]),
                Err(BadUserSchema),
            ),
            (
                "user null",
                sign(&[("auth_date", d), ("user", "null")]),
                Err(BadUserSchema),
            ),
            (
                "no id",
                sign(&[("auth_date", d), ("user", r#"{"first_name":"A"}"#)]),
                Err(BadUserSchema),
            ),
            (
                "id string",
                sign(&[("auth_date", d), ("user", r#"{"id":"1"}"#)]),
                Err(BadUserSchema),
            ),
            (
                "id fraction",
                sign(&[("auth_date", d), ("user", r#"{"id":1.5}"#)]),
                Err(BadUserSchema),
            ),
            (
                "id 2^53+2",
                sign(&[("auth_date", d), ("user", r#"{"id":9007199254740994}"#)]),
                Err(BadUserSchema),
            ),
            (
                "id -2^53-2",
                sign(&[("auth_date", d), ("user", r#"{"id":-9007199254740994}"#)]),
                Err(BadUserSchema),
            ),
            (
                "first_name null",
                sign(&[("auth_date", d), ("user", r#"{"id":1,"first_name":null}"#)]),
                Err(BadUserSchema),
            ),
            (
                "username number",
                sign(&[("auth_date", d), ("user", r#"{"id":1,"username":5}"#)]),
                Err(BadUserSchema),
            ),
            (
                "last_name bool",
                sign(&[("auth_date", d), ("user", r#"{"id":1,"last_name":true}"#)]),
                Err(BadUserSchema),
            ),
            (
                "language_code number",
                sign(&[("auth_date", d), ("user", r#"{"id":1,"language_code":1}"#)]),
                Err(BadUserSchema),
            ),
            (
                "is_bot string",
                sign(&[("auth_date", d), ("user", r#"{"id":1,"is_bot":"no"}"#)]),
                Err(BadUserSchema),
            ),
        ];
        for (name, data, want) in cases {
            assert_eq!(validate_init_data(&data, BOT, NOW), want, "{name}: {data}");
        }
    }

    #[test]
    fn accepted_users() {
        let d = (NOW - 10).to_string();
        let d = d.as_str();
        let user = |id: &str, u: Option<&str>, f: Option<&str>, l: Option<&str>| TelegramUser {
            id: id.to_owned(),
            username: u.map(str::to_owned),
            first_name: f.map(str::to_owned),
            last_name: l.map(str::to_owned),
        };
        let cases: &[(&str, TelegramUser)] = &[
            (r#"{"id":1}"#, user("1", None, None, None)),
            (
                r#"{"id":-1001234567890}"#,
                user("-1001234567890", None, None, None),
            ),
            (r#"{"id":424242.0}"#, user("424242", None, None, None)),
            (r#"{"id":4.24242e5}"#, user("424242", None, None, None)),
            (r#"{"id":-0}"#, user("0", None, None, None)),
            (r#"{"id":-0.0}"#, user("0", None, None, None)),
            (
                r#"{"id":9007199254740992}"#,
                user("9007199254740992", None, None, None),
            ),
            (
                r#"{"id":-9007199254740992}"#,
                user("-9007199254740992", None, None, None),
            ),
            (
                r#"{"id":7,"is_bot":false,"is_premium":true,"photo_url":null,"username":"u","first_name":"F","last_name":"L","allows_write_to_pm":true}"#,
                user("7", Some("u"), Some("F"), Some("L")),
            ),
            (r#"{"id":1,"id":2}"#, user("2", None, None, None)),
            (r#" {"id":3} "#, user("3", None, None, None)),
        ];
        for (json, want) in cases {
            let data = sign(&[("auth_date", d), ("user", json)]);
            assert_eq!(
                validate_init_data(&data, BOT, NOW).as_ref(),
                Ok(want),
                "{json}"
            );
        }
    }

    #[test]
    fn entries_rules() {
        let d = (NOW - 10).to_string();
        let u = r#"{"id":5}"#;
        let id5 = |r: Result<TelegramUser, InitDataError>| r.map(|u| u.id);
        let k1 = hmac_sha256(b"WebAppData", BOT.as_bytes());
        let mac = |s: String| hex(&hmac_sha256(&k1, s.as_bytes()));

        // Duplicate key: the last value is signed and used.
        let sig = mac(format!("auth_date={d}\nuser={u}"));
        let data = format!("?auth_date=1&user=x&auth_date={d}&user=%7B%22id%22%3A5%7D&hash={sig}");
        assert_eq!(id5(validate_init_data(&data, BOT, NOW)), Ok("5".to_owned()));

        // The first hash is checked; later hash pairs are not part of the check string.
        let data = format!("auth_date={d}&user=%7B%22id%22%3A5%7D&hash={sig}&hash=00");
        assert_eq!(id5(validate_init_data(&data, BOT, NOW)), Ok("5".to_owned()));

        // __proto__ never reaches the check string (JavaScript object semantics).
        let data = format!("auth_date={d}&__proto__=x&user=%7B%22id%22%3A5%7D&hash={sig}");
        assert_eq!(id5(validate_init_data(&data, BOT, NOW)), Ok("5".to_owned()));

        // Pairs without '=' and decoded values take part, sorted by key bytes.
        let sig = mac(format!("a=\nauth_date={d}\nb=x y\u{FFFD}\nuser={u}"));
        let data = format!("b=x+y%E2%82&a&user=%7B%22id%22%3A5%7D&auth_date={d}&hash={sig}");
        assert_eq!(id5(validate_init_data(&data, BOT, NOW)), Ok("5".to_owned()));

        // parseInt: leading whitespace, '+', trailing junk; the raw text is what is signed.
        for raw in [format!(" \t{d}abc"), format!("+{d}"), format!("{d}.9")] {
            let sig = mac(format!("auth_date={raw}\nuser={u}"));
            let mut data = String::new();
            form_encode_into(&raw, &mut data);
            let data = format!("auth_date={data}&user=%7B%22id%22%3A5%7D&hash={sig}");
            assert_eq!(
                id5(validate_init_data(&data, BOT, NOW)),
                Ok("5".to_owned()),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn parse_int_table() {
        let cases: &[(&str, Option<f64>)] = &[
            ("", None),
            ("-", None),
            ("+", None),
            ("x1", None),
            ("1", Some(1.0)),
            ("  12ab", Some(12.0)),
            ("\u{FEFF}\u{3000}7", Some(7.0)),
            ("-0", Some(-0.0)),
            ("+42", Some(42.0)),
            ("0x1F", Some(0.0)),
            ("1e5", Some(1.0)),
            ("--1", None),
            ("\u{0085}1", None),
            ("00012", Some(12.0)),
        ];
        for (s, want) in cases {
            assert_eq!(js_parse_int(s), *want, "{s:?}");
        }
        assert_eq!(js_parse_int(&"9".repeat(400)), Some(f64::INFINITY));
    }

    // Whole input, and every prefix: never panics, and no proper prefix of a signed
    // initData passes (cutting into the hash leaves fewer than 32 bytes).
    #[test]
    fn every_prefix() {
        let date = (NOW - 10).to_string();
        let data = signed_with(&hmac_sha256(b"WebAppData", BOT.as_bytes()), &date);
        assert_eq!(validate_init_data(&data, BOT, NOW), Ok(ann()));
        for cut in 0..data.len() {
            let r = validate_init_data(&data[..cut], BOT, NOW);
            assert!(r.is_err(), "prefix {cut} accepted");
        }
    }
}
