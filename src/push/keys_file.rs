//! The VAPID key file `<HAPI_HOME>/vapid-keys.json` (spec `push.md` §2.2, hapid's rule):
//! `{"publicKey": "…", "privateKey": "…"}`, base64url without padding, plus the one-time
//! import from the official hub's `settings.json` (`vapidKeys.{publicKey,privateKey}`).
//! Text in, text out: reading, writing (0600, atomically) and the start-up order are the
//! config layer's.

use serde::{Deserialize, Serialize};

use super::ece::PushError;
use super::vapid::VapidKeys;

/// Longest key file accepted; the real one is ~160 bytes.
const MAX_FILE_LEN: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeysFile<'a> {
    #[serde(borrow)]
    public_key: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    private_key: std::borrow::Cow<'a, str>,
}

/// Parse `vapid-keys.json`: a JSON object with string `publicKey` and `privateKey` (other
/// keys ignored), validated by [`VapidKeys::from_b64`] (so a mismatched pair is an error).
/// `BadBody` if it is not such JSON (or over 64 KiB), `BadKey` if the keys are invalid.
pub fn parse_keys_json(text: &str) -> Result<VapidKeys, PushError> {
    if text.len() > MAX_FILE_LEN {
        return Err(PushError::BadBody);
    }
    let f: KeysFile<'_> = serde_json::from_str(text).map_err(|_| PushError::BadBody)?;
    VapidKeys::from_b64(&f.public_key, &f.private_key)
}

/// The file's text: `{"publicKey", "privateKey"}` in that order, 2-space indentation like
/// the hub's other JSON files, with a final newline. [`parse_keys_json`] reads it back.
pub fn keys_json(keys: &VapidKeys) -> String {
    let f = KeysFile {
        public_key: keys.public_b64().into(),
        private_key: keys.private_b64().into(),
    };
    // Serialising two strings cannot fail.
    let mut s = serde_json::to_string_pretty(&f).unwrap_or_default();
    s.push('\n');
    s
}

/// Import from the official hub's settings.json object (vapidKeys.{publicKey,privateKey}) when present and valid.
///
/// "Valid" is [`VapidKeys::from_b64`]'s rule, stricter than upstream's (the pair must
/// match); None when the object, either field, or the pair is missing or invalid.
pub fn from_settings(settings: &serde_json::Value) -> Option<VapidKeys> {
    let v = settings.get("vapidKeys")?;
    let public = v.get("publicKey")?.as_str()?;
    let private = v.get("privateKey")?.as_str()?;
    VapidKeys::from_b64(public, private).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PUB: &str =
        "BKhKqNSVmRGk4WE5xljgGzVCeL1MvTxtsv1RUTQTxlOkyWGauVmGP2IhJRnaq_MKulb1qT7kRloqAPJmaimpoW8";
    const PRIV: &str = "4uGXvICoNwdmz9UkjCYS0vixznanthvZrOBYo45JnWs";
    const OTHER_PRIV: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";

    #[test]
    fn exact_text_and_round_trip() {
        let k = VapidKeys::from_b64(PUB, PRIV).unwrap();
        let text = keys_json(&k);
        assert_eq!(
            text,
            format!("{{\n  \"publicKey\": \"{PUB}\",\n  \"privateKey\": \"{PRIV}\"\n}}\n")
        );
        let back = parse_keys_json(&text).unwrap();
        assert_eq!(
            (back.public_b64(), back.private_b64()),
            (PUB.to_owned(), PRIV.to_owned())
        );
        let g = VapidKeys::generate();
        let back = parse_keys_json(&keys_json(&g)).unwrap();
        assert_eq!(back.private_b64(), g.private_b64());
    }

    #[test]
    fn parse_table() {
        let ok = |s: &str| parse_keys_json(s).map(|k| k.public_b64());
        let compact = format!(r#"{{"publicKey":"{PUB}","privateKey":"{PRIV}","extra":1}}"#);
        assert_eq!(ok(&compact), Ok(PUB.to_owned()));
        let escaped = format!(
            r#"{{"privateKey":"{PRIV}","publicKey":"\u0042{}"}}"#,
            &PUB[1..]
        );
        assert_eq!(ok(&escaped), Ok(PUB.to_owned()));
        let bad: Vec<(String, PushError)> = vec![
            (String::new(), PushError::BadBody),
            ("{".into(), PushError::BadBody),
            ("[]".into(), PushError::BadBody),
            ("null".into(), PushError::BadBody),
            (format!(r#"{{"publicKey":"{PUB}"}}"#), PushError::BadBody),
            (
                format!(r#"{{"publicKey":"{PUB}","privateKey":5}}"#),
                PushError::BadBody,
            ),
            (
                format!(r#"{{"publicKey":"{PUB}","privateKey":"{OTHER_PRIV}"}}"#),
                PushError::BadKey,
            ),
            (
                r#"{"publicKey":"abc","privateKey":"def"}"#.into(),
                PushError::BadKey,
            ),
            (format!("{} ", " ".repeat(MAX_FILE_LEN)), PushError::BadBody),
        ];
        for (text, want) in bad {
            assert_eq!(ok(&text), Err(want), "{text:.80}");
        }
    }

    #[test]
    fn settings_import() {
        let good = json!({"cliApiToken":"t","vapidKeys":{"publicKey":PUB,"privateKey":PRIV}});
        assert_eq!(
            from_settings(&good).map(|k| k.private_b64()),
            Some(PRIV.to_owned())
        );
        let bad = [
            json!({}),
            json!(null),
            json!({"vapidKeys":null}),
            json!({"vapidKeys":{"publicKey":"abc"}}),
            json!({"vapidKeys":{"publicKey":PUB,"privateKey":""}}),
            json!({"vapidKeys":{"publicKey":PUB,"privateKey":OTHER_PRIV}}),
            json!({"vapidKeys":{"publicKey":PUB,"privateKey":[PRIV]}}),
        ];
        for s in bad {
            assert!(from_settings(&s).is_none(), "{s}");
        }
    }
}
