//! Token usage: `GET /api/usage/summary` (Settings → Token usage), as the official hub v0.30.7
//! answers it, from aggregates kept as messages arrive (src/store/usage.rs) — the route never
//! reads a message. (The official hub recomputes from every message; on 514 000 messages its
//! summary grew to ~4.8 GB, upstream #1887.)
//!
//! Contract (observed on v0.30.7, tests/parity/usage.test.mjs):
//! - Query `range` = `7d` (default; anything else too) | `30d` | `all`; `range.to` = now,
//!   `range.from` = now − 7 or 30 days in ms, `null` for `all`. `updatedAt` = `range.to`.
//! - `timeZone`: `utc` in any case, an IANA name in any case (`europe/berlin`; not
//!   `posixrules` or `localtime`), or an offset `±HH:MM`, `±HHMM`, `±HH` (a `+` must be sent
//!   as `%2B`); else (also empty) 400
//!   `{"error":"Invalid timeZone"}`. `daily[].key` is the local `YYYY-MM-DD`; only days with
//!   usage are listed, oldest first.
//! - Counted: messages of `role:"agent"` whose `content.data` is either
//!   * `type:"assistant"` with an object `message.usage` (Claude): inputTokens = input_tokens +
//!     cache_read_input_tokens + cache_creation_input_tokens; model `message.model`; the same
//!     `message.id` in a session counts once, the last one wins (no id: each counts);
//!   * `type:"token_count"` (Codex; whatever `content.type`, but not wrapped in `event_msg`):
//!     usage = `info` (or `data` itself without an object `info`), then its first object of
//!     `last`/`lastTokenUsage`/`last_token_usage`/`total`/`totalTokenUsage`/`total_token_usage`,
//!     else itself; inputTokens = input_tokens (cached included), cacheReadTokens =
//!     cached_input_tokens; camelCase names too; model `data.model`.
//!
//!   A usage counts when its input or output tokens is a number (non-numbers and negatives
//!   count 0, fractions are truncated).
//! - totalTokens = input + output; uncachedTokens = input − cacheRead + output (Claude: input +
//!   cache creation + output). `requests` = usages counted, `sessions` = sessions with one.
//! - `byAgent` keys are the session's `metadata.flavor` (`claude` without one), `byModel` keys
//!   the model (`unknown` without one); both by totalTokens, largest first, equal totals in
//!   the order first seen (hapid: by first quarter hour, then by key).
//! - Only the hub owner (namespace `default`) is answered, with the usage of that namespace's
//!   sessions alone; any other namespace gets 403 `{"error":"Usage summary is only available to
//!   the hub owner"}`. A deleted session's usage goes with it; a restart keeps it.
//!
//! Deviations: ranges start at the quarter hour holding `range.from` (the aggregates are per
//! UTC quarter hour), so up to 15 minutes more than 7/30 days may count. Usage of a single
//! message deleted from a session (not the whole session) stays counted. Zone names are those
//! of the machine's tz database (read from TZif files; `tzdata` must be installed), where the
//! official hub uses its ICU copy.

use super::Hub;
use super::tzif::{self, Zone};
use crate::app::Now;
use crate::store::{BUCKET_MS, BucketRow, Counted, Store, StoreError};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

const DAY_MS: i64 = 86_400_000;
/// Parsed zones kept at most (each a few KB).
const ZONE_CACHE_MAX: usize = 32;
/// Where the tz database is read from.
const ZONEINFO: &str = "/usr/share/zoneinfo";

/// Zone names indexed at most (tzdata has ~600).
const ZONE_NAMES_MAX: usize = 4096;

/// The route's state: the parsed zones and the zone names of the tz database.
#[derive(Default)]
pub struct UsageState {
    zones: HashMap<String, Rc<Zone>>,
    /// Lower-cased zone name → its file name under [`ZONEINFO`], read once.
    names: Option<HashMap<String, String>>,
}

/// The zone files under `dir` whose every path component starts with an upper-case letter
/// (`Europe/Berlin`, `EST`, `Etc/GMT+5`; not `posixrules`, `localtime`, `right/…`, `zone.tab`),
/// keyed by their lower-cased name: `Intl` takes zone names in any case.
fn zone_names(dir: &std::path::Path) -> HashMap<String, String> {
    let mut names = HashMap::new();
    let mut todo = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if !name.starts_with(|c: char| c.is_ascii_uppercase()) || names.len() >= ZONE_NAMES_MAX
            {
                continue;
            }
            let full = format!("{prefix}{name}");
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push((e.path(), format!("{full}/"))),
                Ok(_) => {
                    names.insert(full.to_ascii_lowercase(), full);
                }
                Err(_) => {}
            }
        }
    }
    names
}

/// A token count: a JSON number, truncated, negatives as 0 (as v0.30.7 counts them).
fn num(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .map(|n| n.max(0))
}

fn either(o: &Value, camel: &str, snake: &str) -> Option<i64> {
    num(o.get(camel)).or_else(|| num(o.get(snake)))
}

/// The usage a stored message content counts, if any (the contract above).
pub fn counted(content: &Value) -> Option<Counted> {
    if content.get("role").and_then(Value::as_str) != Some("agent") {
        return None;
    }
    let data = content.pointer("/content/data")?;
    let model = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    };
    match data.get("type").and_then(Value::as_str)? {
        "assistant" => {
            let msg = data.get("message")?;
            let u = msg.get("usage").filter(|u| u.is_object())?;
            let (i, o) = (num(u.get("input_tokens")), num(u.get("output_tokens")));
            if i.is_none() && o.is_none() {
                return None;
            }
            let cache_read = num(u.get("cache_read_input_tokens")).unwrap_or(0);
            let cache_creation = num(u.get("cache_creation_input_tokens")).unwrap_or(0);
            Some(Counted {
                input: i.unwrap_or(0) + cache_read + cache_creation,
                output: o.unwrap_or(0),
                cache_read,
                cache_creation,
                model: model(msg.get("model")),
                message_id: msg.get("id").and_then(Value::as_str).map(str::to_string),
            })
        }
        "token_count" => {
            let src = data.get("info").filter(|i| i.is_object()).unwrap_or(data);
            let u = [
                "last",
                "lastTokenUsage",
                "last_token_usage",
                "total",
                "totalTokenUsage",
                "total_token_usage",
            ]
            .iter()
            .find_map(|k| src.get(*k).filter(|v| v.is_object()))
            .unwrap_or(src);
            let (i, o) = (
                either(u, "inputTokens", "input_tokens"),
                either(u, "outputTokens", "output_tokens"),
            );
            if i.is_none() && o.is_none() {
                return None;
            }
            let cached = either(u, "cachedInputTokens", "cached_input_tokens")
                .or_else(|| either(u, "cacheReadInputTokens", "cache_read_input_tokens"))
                .unwrap_or(0);
            Some(Counted {
                input: i.unwrap_or(0),
                output: o.unwrap_or(0),
                cache_read: cached,
                cache_creation: 0,
                model: model(data.get("model")),
                message_id: None,
            })
        }
        _ => None,
    }
}

/// Counts a stored message's usage (called with the message insert, same transaction).
pub fn on_message(store: &Store, sid: &str, content: &Value, at_ms: i64) -> Result<(), StoreError> {
    match counted(content) {
        Some(c) => store.usage_record(sid, at_ms, &c),
        None => Ok(()),
    }
}

/// Counts the messages stored before the aggregates existed (once, at start-up).
pub fn backfill(store: &Store) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let read = store.usage_backfill(&|content| {
        serde_json::from_str::<Value>(content)
            .ok()
            .and_then(|v| counted(&v))
    })?;
    if read > 0 {
        crate::log::info(&format!(
            "usage: counted {read} stored messages in {} ms",
            started.elapsed().as_millis()
        ));
    }
    Ok(())
}

/// A time zone as the summary groups days in it.
#[derive(Debug, Clone)]
pub enum Tz {
    Fixed(i32),
    Named(Rc<Zone>),
}

impl Tz {
    fn offset_ms(&self, utc_ms: i64) -> i64 {
        i64::from(match self {
            Tz::Fixed(s) => *s,
            Tz::Named(z) => z.offset_at(utc_ms.div_euclid(1000)),
        }) * 1000
    }
}

/// `±HH:MM` (also `±HHMM`, `±HH`) as seconds east of UTC.
fn fixed_offset(s: &str) -> Option<i32> {
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = s.get(1..)?;
    fn digits(t: &str) -> Option<&str> {
        (t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit())).then_some(t)
    }
    let (h, m) = match rest.len() {
        2 => (digits(rest)?, "00"),
        4 => (digits(rest.get(..2)?)?, digits(rest.get(2..)?)?),
        5 if rest.get(2..3) == Some(":") => (digits(rest.get(..2)?)?, digits(rest.get(3..)?)?),
        _ => return None,
    };
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

/// A name that may be looked up under [`ZONEINFO`]: no empty, `.` or `..` component.
fn safe_zone_name(s: &str) -> bool {
    s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
        && s.split('/')
            .all(|c| !c.is_empty() && c.bytes().any(|b| b.is_ascii_alphabetic()))
}

impl UsageState {
    /// Resolves a `timeZone` query value (`None` = invalid).
    pub fn zone(&mut self, name: &str) -> Option<Tz> {
        if name.eq_ignore_ascii_case("utc") {
            return Some(Tz::Fixed(0));
        }
        if let Some(s) = fixed_offset(name) {
            return Some(Tz::Fixed(s));
        }
        if !safe_zone_name(name) {
            return None;
        }
        let names = self
            .names
            .get_or_insert_with(|| zone_names(std::path::Path::new(ZONEINFO)));
        let file = names.get(&name.to_ascii_lowercase())?;
        if let Some(z) = self.zones.get(file) {
            return Some(Tz::Named(z.clone()));
        }
        let bytes = std::fs::read(format!("{ZONEINFO}/{file}")).ok()?;
        let zone = Rc::new(tzif::parse(&bytes)?);
        if self.zones.len() >= ZONE_CACHE_MAX {
            self.zones.clear();
        }
        self.zones.insert(file.clone(), zone.clone());
        Some(Tz::Named(zone))
    }
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01).
fn day_key(days: i64) -> String {
    // H. Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[derive(Clone, Copy)]
struct Sums {
    /// The earliest bucket counted here: equal totals are listed first seen first.
    first_bucket: i64,
    input: i64,
    output: i64,
    cache_read: i64,
    cache_creation: i64,
    requests: i64,
}

impl Default for Sums {
    fn default() -> Sums {
        Sums {
            first_bucket: i64::MAX,
            input: 0,
            output: 0,
            cache_read: 0,
            cache_creation: 0,
            requests: 0,
        }
    }
}

impl Sums {
    fn add(&mut self, r: &BucketRow) {
        self.first_bucket = self.first_bucket.min(r.bucket);
        self.input += r.input;
        self.output += r.output;
        self.cache_read += r.cache_read;
        self.cache_creation += r.cache_creation;
        self.requests += r.requests;
    }
    fn total(&self) -> i64 {
        self.input + self.output
    }
    fn to_json(self, key: Option<&str>) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(k) = key {
            m.insert("key".into(), k.into());
        }
        m.insert("inputTokens".into(), self.input.into());
        m.insert("outputTokens".into(), self.output.into());
        m.insert("cacheReadTokens".into(), self.cache_read.into());
        m.insert("cacheCreationTokens".into(), self.cache_creation.into());
        m.insert("totalTokens".into(), self.total().into());
        m.insert(
            "uncachedTokens".into(),
            (self.input - self.cache_read + self.output).into(),
        );
        m.insert("requests".into(), self.requests.into());
        m
    }
}

fn group(groups: &mut HashMap<String, Sums>, key: &str, r: &BucketRow) {
    match groups.get_mut(key) {
        Some(s) => s.add(r),
        None => {
            let mut s = Sums::default();
            s.add(r);
            groups.insert(key.to_string(), s);
        }
    }
}

fn ranked(groups: HashMap<String, Sums>) -> Value {
    let mut v: Vec<(String, Sums)> = groups.into_iter().collect();
    v.sort_by(|a, b| {
        (b.1.total().cmp(&a.1.total()))
            .then(a.1.first_bucket.cmp(&b.1.first_bucket))
            .then_with(|| a.0.cmp(&b.0))
    });
    Value::Array(
        v.into_iter()
            .map(|(k, s)| Value::Object(s.to_json(Some(&k))))
            .collect(),
    )
}

/// Why a summary was refused.
#[derive(Debug)]
pub enum SummaryError {
    InvalidTimeZone,
    Store(StoreError),
}

impl Hub {
    /// `GET /api/usage/summary?range=…&timeZone=…` for namespace `ns`.
    pub fn usage_summary(
        &mut self,
        ns: &str,
        range: Option<&str>,
        time_zone: Option<&str>,
        now: Now,
    ) -> Result<Value, SummaryError> {
        let tz = match time_zone {
            None => Tz::Fixed(0),
            Some(name) => self.usage.zone(name).ok_or(SummaryError::InvalidTimeZone)?,
        };
        let to = now.unix_ms;
        let from = match range {
            Some("all") => None,
            Some("30d") => Some(to - 30 * DAY_MS),
            _ => Some(to - 7 * DAY_MS),
        };
        let mut totals = Sums::default();
        let mut daily: BTreeMap<i64, Sums> = BTreeMap::new();
        let mut agents: HashMap<String, Sums> = HashMap::new();
        let mut models: HashMap<String, Sums> = HashMap::new();
        let mut sessions: HashSet<String> = HashSet::new();
        let mut visit = |r: &BucketRow| {
            // A bucket lies within one local day: offsets change only on quarter hours.
            let at = r.bucket * BUCKET_MS;
            let day = (at + tz.offset_ms(at)).div_euclid(DAY_MS);
            totals.add(r);
            daily.entry(day).or_default().add(r);
            let agent = r.flavor.as_deref().unwrap_or("claude");
            group(&mut agents, agent, r);
            group(&mut models, &r.model, r);
            if !sessions.contains(&r.session_id) {
                sessions.insert(r.session_id.clone());
            }
        };
        self.store
            .usage_visit(ns, from.map(|f| f.div_euclid(BUCKET_MS)), &mut visit)
            .map_err(SummaryError::Store)?;
        let mut t = totals.to_json(None);
        t.insert("sessions".into(), sessions.len().into());
        Ok(json!({
            "range": { "from": from, "to": to },
            "totals": t,
            "daily": daily.into_iter().map(|(d, s)| Value::Object(s.to_json(Some(&day_key(d))))).collect::<Vec<_>>(),
            "byAgent": ranked(agents),
            "byModel": ranked(models),
            "updatedAt": to,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_and_codex_usages_are_read_as_observed() {
        let c = counted(
            &json!({"role": "agent", "content": {"type": "output", "data": {
            "type": "assistant", "message": {"id": "m1", "model": "claude-x", "usage": {
                "input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 20}}}}}),
        )
        .unwrap();
        assert_eq!(
            (c.input, c.output, c.cache_read, c.cache_creation),
            (130, 5, 100, 20)
        );
        assert_eq!(
            (c.model.as_str(), c.message_id.as_deref()),
            ("claude-x", Some("m1"))
        );
        let x = counted(&json!({"role": "agent", "content": {"type": "codex", "data": {
            "type": "token_count", "info": {
                "last_token_usage": {"input_tokens": 50, "cached_input_tokens": 30, "output_tokens": 7},
                "total_token_usage": {"input_tokens": 500, "cached_input_tokens": 300, "output_tokens": 70}}}}}))
        .unwrap();
        assert_eq!(
            (x.input, x.output, x.cache_read, x.model.as_str()),
            (50, 7, 30, "unknown")
        );
        let camel = counted(&json!({"role": "agent", "content": {"type": "codex", "data": {
            "type": "token_count", "model": "gpt", "info": {"lastTokenUsage": {"inputTokens": 7, "outputTokens": 1}}}}}))
        .unwrap();
        assert_eq!((camel.input, camel.model.as_str()), (7, "gpt"));
        for none in [
            json!({"role": "user", "content": {"type": "output", "data": {"type": "assistant", "message": {"usage": {"input_tokens": 1}}}}}),
            json!({"role": "agent", "content": {"type": "output", "data": {"type": "assistant", "message": {"id": "x"}}}}),
            json!({"role": "agent", "content": {"type": "codex", "data": {"type": "token_count", "info": {}}}}),
            json!({"role": "agent", "content": {"type": "codex", "data": {"type": "event_msg", "payload": {"type": "token_count", "info": {"last_token_usage": {"input_tokens": 4}}}}}}),
        ] {
            assert_eq!(counted(&none), None, "{none}");
        }
    }

    #[test]
    fn offsets_and_names_are_validated() {
        assert_eq!(fixed_offset("-05:30"), Some(-19_800));
        assert_eq!(fixed_offset("+09:00"), Some(32_400));
        assert_eq!(fixed_offset("+0545"), Some(20_700));
        assert_eq!(fixed_offset("+5"), None);
        assert_eq!(fixed_offset(" 09:00"), None);
        assert!(safe_zone_name("Europe/Berlin") && safe_zone_name("Etc/GMT+5"));
        assert!(
            !safe_zone_name("../etc/passwd")
                && !safe_zone_name("/etc/x")
                && !safe_zone_name("a//b")
        );
        let mut st = UsageState::default();
        assert!(st.zone("UtC").is_some() && st.zone("Nope/Zone").is_none());
        assert!(st.zone("Europe").is_none() && st.zone("posixrules").is_none());
        if std::path::Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
            assert!(st.zone("europe/berlin").is_some() && st.zone("Etc/GMT+5").is_some());
        }
    }

    #[test]
    fn day_keys_are_civil_dates() {
        assert_eq!(day_key(0), "1970-01-01");
        assert_eq!(day_key(20_790), "2026-12-03");
        assert_eq!(day_key(-1), "1969-12-31");
        assert_eq!(day_key(11_016), "2000-02-29");
    }
}
