//! Bot API updates (`telegram.md` §2, §3, §4): the `getUpdates` request bodies, its reply
//! parsed into [`BotInput`]s, and Bot API error replies.
//!
//! Command matching is grammY 1.38.4's `bot.command` (the library upstream uses): the
//! update's `message` (else `channel_post`) has a `bot_command` entity at offset 0 in
//! `entities`, and the entity's text after `/` in `text` (else `caption`), measured in UTF-16
//! code units, is `start`/`app` or `start@<bot>`/`app@<bot>` with `<bot>` equal to the bot's
//! username case-insensitively. Callbacks are `callback_query` updates carrying `data`.
//! Everything else (edited messages, other texts, `/help`, inline queries, ...) is ignored.

use serde_json::{Map, Value, json};

/// What an update asks for (`telegram.md` §4).
#[derive(Debug, Clone, PartialEq)]
pub enum BotInput {
    /// `/start` or `/app`: reply in `chat_id` (`message.chat.id`); `thread_id` is the
    /// forum topic (`message_thread_id`, only for `is_topic_message` messages).
    Command {
        /// `message.chat.id` (or `channel_post.chat.id`).
        chat_id: i64,
        /// `message_thread_id` when the message is a forum-topic message.
        thread_id: Option<i64>,
        /// Which command.
        command: Command,
    },
    /// A button press (`callback_query` with `data`, §4.2).
    Callback {
        /// `callback_query.id`, for `answerCallbackQuery`.
        query_id: String,
        /// `callback_query.from.id`: the user whose binding authorises the action.
        /// 0 when absent (never bound, as upstream's `!from.id` check).
        from_id: i64,
        /// `callback_query.data` verbatim (parse it with `parse_callback`).
        data: String,
        /// `callback_query.message.chat.id`, for `editMessageText`.
        chat_id: Option<i64>,
        /// `callback_query.message.message_id`, for `editMessageText`.
        message_id: Option<i64>,
    },
    /// Anything the bot does not react to.
    Ignored,
}

/// The two commands of §4.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `/start`: the welcome text and the "Open App" button.
    Start,
    /// `/app`: "Open HAPI Mini App:" and the "Open App" button.
    App,
}

impl Command {
    /// The command's name without `/`.
    fn name(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::App => "app",
        }
    }
}

/// Classifies one element of `getUpdates`' `result` (`telegram.md` §4). `bot_username` is
/// `getMe`'s `result.username` (matched case-insensitively in `/cmd@name`). Never panics;
/// anything malformed is [`BotInput::Ignored`].
pub fn parse_update(update: &Value, bot_username: &str) -> BotInput {
    // grammY runs the command handlers before the callback handler (upstream registers
    // them first); an update carries only one of these anyway.
    if let Some(input) = command_input(update, bot_username) {
        return input;
    }
    callback_input(update).unwrap_or(BotInput::Ignored)
}

/// `update_id` of an update, if it is an integer (offset handling, §3).
pub fn update_id(update: &Value) -> Option<i64> {
    update.get("update_id")?.as_i64()
}

/// A `getUpdates` reply body → `(update_id, input)` for each update, in order. Updates
/// without an integer `update_id` are skipped. A body that is not `{"ok":true,"result":[…]}`
/// → `Err(description)` (the reply's non-empty `description`, else `"bad response"`);
/// use [`api_error`] for the error code and `retry_after`.
pub fn parse_updates(body: &[u8], bot_username: &str) -> Result<Vec<(i64, BotInput)>, String> {
    let bad = || "bad response".to_owned();
    let v: Value = serde_json::from_slice(body).map_err(|_| bad())?;
    if v.get("ok") != Some(&Value::Bool(true)) {
        return Err(v
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .map_or_else(bad, str::to_owned));
    }
    let updates = v.get("result").and_then(Value::as_array).ok_or_else(bad)?;
    Ok(updates
        .iter()
        .filter_map(|u| Some((update_id(u)?, parse_update(u, bot_username))))
        .collect())
}

/// A Bot API error reply `{"ok":false,"error_code":…,"description":…,"parameters":
/// {"retry_after":…}}` → `(error_code, description, retry_after seconds)` (§2). A missing
/// code is 0, a missing description empty. None unless the body is JSON with `"ok":false`.
pub fn api_error(body: &[u8]) -> Option<(i64, String, Option<u64>)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if v.get("ok") != Some(&Value::Bool(false)) {
        return None;
    }
    let code = v.get("error_code").and_then(Value::as_i64).unwrap_or(0);
    let description = v
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let retry_after = v
        .get("parameters")
        .and_then(|p| p.get("retry_after"))
        .and_then(Value::as_u64);
    Some((code, description, retry_after))
}

/// `getUpdates` body (§3): `{"offset":…,"timeout":…,"allowed_updates":["message",
/// "callback_query"]}` — the same on every call (allowed by §3).
pub fn get_updates_body(offset: i64, timeout_secs: u64) -> Value {
    json!({
        "offset": offset,
        "timeout": timeout_secs,
        "allowed_updates": ["message", "callback_query"],
    })
}

/// The shutdown confirmation (§3): `getUpdates {"offset":<last+1>,"limit":1}`; its reply is
/// ignored. It tells Telegram the updates before `offset` were handled.
pub fn confirm_updates_body(offset: i64) -> Value {
    json!({ "offset": offset, "limit": 1 })
}

/// A non-null field (JavaScript's `x ?? y` skips `null` and absent alike).
fn present<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn command_input(update: &Value, bot_username: &str) -> Option<BotInput> {
    let msg = present(update, "message").or_else(|| present(update, "channel_post"))?;
    let command = matched_command(msg, bot_username)?;
    // grammY's ctx.reply needs `chat.id`; without it the handler throws (ignored).
    let chat_id = msg.get("chat")?.get("id")?.as_i64()?;
    let topic = msg
        .get("is_topic_message")
        .is_some_and(|t| *t == Value::Bool(true));
    let thread_id = if topic {
        msg.get("message_thread_id").and_then(Value::as_i64)
    } else {
        None
    };
    Some(BotInput::Command {
        chat_id,
        thread_id,
        command,
    })
}

fn matched_command(msg: &Value, bot_username: &str) -> Option<Command> {
    let entities = msg.get("entities")?.as_array()?;
    let text = present(msg, "text")
        .or_else(|| present(msg, "caption"))?
        .as_str()?;
    let units: Vec<u16> = text.encode_utf16().collect();
    let bot = bot_username.to_lowercase();
    // Upstream registers `app` before `start`; the first matching handler wins.
    [Command::App, Command::Start].into_iter().find(|&want| {
        entities
            .iter()
            .any(|e| entity_is(e, &units, want.name(), &bot))
    })
}

/// grammY's per-entity test: a `bot_command` at offset 0 whose text is `name` or
/// `name@<bot>` (`bot` already lower-cased).
fn entity_is(entity: &Value, text: &[u16], name: &str, bot: &str) -> bool {
    if entity.get("type").and_then(Value::as_str) != Some("bot_command") {
        return false;
    }
    if entity.get("offset").and_then(Value::as_f64) != Some(0.0) {
        return false;
    }
    // `txt.substring(1, e.length)`: both ends clamped to [0, len], swapped if reversed.
    let len = text.len();
    let end = match entity.get("length") {
        None => len,
        Some(l) => match l.as_f64() {
            // `as usize` saturates (negative → 0); the min clamps to the text.
            Some(f) => (f.trunc() as usize).min(len),
            None => return false,
        },
    };
    let start = len.min(1);
    let (lo, hi) = (start.min(end), start.max(end));
    let Some(Ok(cmd)) = text.get(lo..hi).map(String::from_utf16) else {
        return false;
    };
    if cmd == name {
        return true;
    }
    match cmd.split_once('@') {
        Some((c, target)) => c == name && target.to_lowercase() == bot,
        None => false,
    }
}

fn callback_input(update: &Value) -> Option<BotInput> {
    let q = present(update, "callback_query")?;
    // grammY's `callback_query:data` filter: `data` present (Telegram sends a string).
    let data = q.get("data")?.as_str()?;
    let query_id = q.get("id")?.as_str()?;
    let from_id = q
        .get("from")
        .and_then(|f| f.get("id"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let message = q.get("message").and_then(Value::as_object);
    let chat_id = message
        .and_then(|m| m.get("chat"))
        .and_then(|c| c.get("id"))
        .and_then(Value::as_i64);
    let message_id = message.and_then(|m| field_i64(m, "message_id"));
    Some(BotInput::Callback {
        query_id: query_id.to_owned(),
        from_id,
        data: data.to_owned(),
        chat_id,
        message_id,
    })
}

fn field_i64(m: &Map<String, Value>, key: &str) -> Option<i64> {
    m.get(key)?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOT: &str = "test_hapi_bot";

    /// A private-chat text message as Telegram delivers it.
    fn message(update_id: i64, text: &str, command_len: Option<usize>) -> Value {
        let mut msg = json!({
            "message_id": 10,
            "from": {"id": 424242, "is_bot": false, "first_name": "Ann"},
            "chat": {"id": 424242, "first_name": "Ann", "type": "private"},
            "date": 1700000000,
            "text": text,
        });
        if let Some(len) = command_len {
            msg["entities"] = json!([{"offset": 0, "length": len, "type": "bot_command"}]);
        }
        json!({"update_id": update_id, "message": msg})
    }

    fn cmd(command: Command) -> BotInput {
        BotInput::Command {
            chat_id: 424242,
            thread_id: None,
            command,
        }
    }

    #[test]
    fn commands_and_ignored_messages() {
        let cases: &[(&str, Option<usize>, BotInput)] = &[
            ("/start", Some(6), cmd(Command::Start)),
            ("/app", Some(4), cmd(Command::App)),
            ("/app@test_hapi_bot", Some(18), cmd(Command::App)),
            ("/app@Test_HAPI_Bot", Some(18), cmd(Command::App)),
            ("/start@TEST_HAPI_BOT", Some(20), cmd(Command::Start)),
            ("/start xyz", Some(6), cmd(Command::Start)),
            ("/start  deep-link-payload", Some(6), cmd(Command::Start)),
            ("/app@other_bot", Some(14), BotInput::Ignored),
            ("/app@", Some(5), BotInput::Ignored),
            ("/help", Some(5), BotInput::Ignored),
            ("/starts", Some(7), BotInput::Ignored),
            ("/Start", Some(6), BotInput::Ignored),
            ("/app", None, BotInput::Ignored), // no entity: plain text for grammY
            ("hello", None, BotInput::Ignored),
            ("/app", Some(0), BotInput::Ignored),
            ("/app", Some(1), BotInput::Ignored),
            ("/app", Some(99), cmd(Command::App)), // length clamped to the text
            ("/ap", Some(4), BotInput::Ignored),
            ("", Some(4), BotInput::Ignored),
        ];
        for (text, len, want) in cases {
            let u = message(2001, text, *len);
            assert_eq!(parse_update(&u, BOT), *want, "{text:?} len {len:?}");
        }
    }

    #[test]
    fn command_entity_rules() {
        // Entity not at offset 0: grammY ignores it.
        let mut u = message(1, "hi /app", None);
        u["message"]["entities"] = json!([{"offset": 3, "length": 4, "type": "bot_command"}]);
        assert_eq!(parse_update(&u, BOT), BotInput::Ignored);
        // Wrong entity type.
        u["message"]["text"] = json!("/app");
        u["message"]["entities"] = json!([{"offset": 0, "length": 4, "type": "bold"}]);
        assert_eq!(parse_update(&u, BOT), BotInput::Ignored);
        // A second entity at offset 0 that matches is enough.
        u["message"]["entities"] = json!([
            {"offset": 0, "length": 4, "type": "bold"},
            {"offset": 0, "length": 4, "type": "bot_command"}
        ]);
        assert_eq!(parse_update(&u, BOT), cmd(Command::App));
        // Length absent: substring to the end of the text.
        u["message"]["entities"] = json!([{"offset": 0, "type": "bot_command"}]);
        assert_eq!(parse_update(&u, BOT), cmd(Command::App));
        // Offset as a string is not 0.
        u["message"]["entities"] = json!([{"offset": "0", "length": 4, "type": "bot_command"}]);
        assert_eq!(parse_update(&u, BOT), BotInput::Ignored);
        // Length as a string: not a number.
        u["message"]["entities"] = json!([{"offset": 0, "length": "4", "type": "bot_command"}]);
        assert_eq!(parse_update(&u, BOT), BotInput::Ignored);
        // Negative length clamps to 0 → substring(0, 1) = "/".
        u["message"]["entities"] = json!([{"offset": 0, "length": -3, "type": "bot_command"}]);
        assert_eq!(parse_update(&u, BOT), BotInput::Ignored);
        // Entities is not an array.
        u["message"]["entities"] = json!({"offset": 0, "length": 4, "type": "bot_command"});
        assert_eq!(parse_update(&u, BOT), BotInput::Ignored);
    }

    #[test]
    fn utf16_lengths() {
        // An emoji before the command text shifts UTF-16 offsets: "/😀" is 3 units.
        let mut u = message(1, "/app😀", Some(4));
        assert_eq!(parse_update(&u, BOT), cmd(Command::App));
        // A length that cuts the surrogate pair: never a match, never a panic.
        u["message"]["text"] = json!("/😀app");
        u["message"]["entities"] = json!([{"offset": 0, "length": 2, "type": "bot_command"}]);
        assert_eq!(parse_update(&u, BOT), BotInput::Ignored);
        // Non-ASCII bot name compared case-insensitively.
        let u = message(1, "/app@ÄBot", Some(9));
        assert_eq!(parse_update(&u, "äbot"), cmd(Command::App));
    }

    #[test]
    fn caption_channel_post_and_topics() {
        // A photo caption with `entities` (grammY reads `entities` and `text ?? caption`).
        let u = json!({"update_id": 5, "message": {
            "message_id": 3, "chat": {"id": -100, "type": "group"},
            "caption": "/start", "entities": [{"offset": 0, "length": 6, "type": "bot_command"}]
        }});
        let want = BotInput::Command {
            chat_id: -100,
            thread_id: None,
            command: Command::Start,
        };
        assert_eq!(parse_update(&u, BOT), want);
        // caption_entities alone do not count.
        let u = json!({"update_id": 5, "message": {
            "message_id": 3, "chat": {"id": -100, "type": "group"},
            "caption": "/start", "caption_entities": [{"offset": 0, "length": 6, "type": "bot_command"}]
        }});
        assert_eq!(parse_update(&u, BOT), BotInput::Ignored);
        // A channel post.
        let u = json!({"update_id": 6, "channel_post": {
            "message_id": 3, "chat": {"id": -1001, "type": "channel"},
            "text": "/app", "entities": [{"offset": 0, "length": 4, "type": "bot_command"}]
        }});
        let want = BotInput::Command {
            chat_id: -1001,
            thread_id: None,
            command: Command::App,
        };
        assert_eq!(parse_update(&u, BOT), want);
        // Forum topic: thread id only with is_topic_message.
        let mut u = message(7, "/app", Some(4));
        u["message"]["message_thread_id"] = json!(55);
        assert_eq!(parse_update(&u, BOT), cmd(Command::App));
        u["message"]["is_topic_message"] = json!(true);
        let want = BotInput::Command {
            chat_id: 424242,
            thread_id: Some(55),
            command: Command::App,
        };
        assert_eq!(parse_update(&u, BOT), want);
        // No chat id: ctx.reply would throw → ignored.
        let mut u = message(8, "/app", Some(4));
        u["message"]["chat"] = json!({});
        assert_eq!(parse_update(&u, BOT), BotInput::Ignored);
    }

    #[test]
    fn other_update_kinds_are_ignored() {
        let edited = json!({"update_id": 9, "edited_message": {
            "message_id": 3, "chat": {"id": 1}, "text": "/app",
            "entities": [{"offset": 0, "length": 4, "type": "bot_command"}]
        }});
        let inline =
            json!({"update_id": 10, "inline_query": {"id": "q", "from": {"id": 1}, "query": "x"}});
        let member = json!({"update_id": 11, "my_chat_member": {"chat": {"id": 1}}});
        let no_data = json!({"update_id": 12, "callback_query": {
            "id": "q", "from": {"id": 1}, "game_short_name": "g"
        }});
        for u in [
            edited,
            inline,
            member,
            no_data,
            json!(null),
            json!([]),
            json!({}),
        ] {
            assert_eq!(parse_update(&u, BOT), BotInput::Ignored, "{u}");
        }
    }

    #[test]
    fn callback_queries() {
        // §8 captured update.
        let u = json!({"update_id": 3004, "callback_query": {
            "id": "cbq3004", "from": {"id": 424242}, "data": "ap:9935aa4a:toolu_01",
            "message": {"message_id": 777, "chat": {"id": 424242}}
        }});
        let want = BotInput::Callback {
            query_id: "cbq3004".into(),
            from_id: 424242,
            data: "ap:9935aa4a:toolu_01".into(),
            chat_id: Some(424242),
            message_id: Some(777),
        };
        assert_eq!(parse_update(&u, BOT), want);
        // Inline-message callback: no message, no from.
        let u = json!({"update_id": 1, "callback_query": {
            "id": "c2", "inline_message_id": "im", "data": ""
        }});
        let want = BotInput::Callback {
            query_id: "c2".into(),
            from_id: 0,
            data: String::new(),
            chat_id: None,
            message_id: None,
        };
        assert_eq!(parse_update(&u, BOT), want);
        // No id: cannot be answered.
        let u = json!({"update_id": 1, "callback_query": {"from": {"id": 1}, "data": "x"}});
        assert_eq!(parse_update(&u, BOT), BotInput::Ignored);
    }

    #[test]
    fn updates_batch_of_section_8() {
        let mut result = vec![
            message(2001, "/start", Some(6)),
            message(2002, "/app", Some(4)),
            message(2003, "/app@test_hapi_bot", Some(18)),
            message(2004, "/help", Some(5)),
            message(2005, "hello", None),
        ];
        result.push(json!({"no_update_id": true}));
        let body = serde_json::to_vec(&json!({"ok": true, "result": result})).unwrap();
        let want = vec![
            (2001, cmd(Command::Start)),
            (2002, cmd(Command::App)),
            (2003, cmd(Command::App)),
            (2004, BotInput::Ignored),
            (2005, BotInput::Ignored),
        ];
        assert_eq!(parse_updates(&body, BOT), Ok(want));
        assert_eq!(
            parse_updates(br#"{"ok":true,"result":[]}"#, BOT),
            Ok(vec![])
        );
    }

    #[test]
    fn bad_update_replies() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "bad response"),
            (b"<html>502</html>", "bad response"),
            (b"null", "bad response"),
            (b"[]", "bad response"),
            (br#"{"ok":true}"#, "bad response"),
            (br#"{"ok":true,"result":{}}"#, "bad response"),
            (br#"{"ok":"true","result":[]}"#, "bad response"),
            (br#"{"ok":false,"error_code":500,"description":""}"#, "bad response"),
            (
                br#"{"ok":false,"error_code":409,"description":"Conflict: terminated by other getUpdates request"}"#,
                "Conflict: terminated by other getUpdates request",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(
                parse_updates(body, BOT),
                Err((*want).to_owned()),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn api_errors() {
        type Want = Option<(i64, &'static str, Option<u64>)>;
        let cases: &[(&[u8], Want)] = &[
            (
                br#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#,
                Some((401, "Unauthorized", None)),
            ),
            (
                br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#,
                Some((429, "Too Many Requests: retry after 7", Some(7))),
            ),
            (br#"{"ok":false}"#, Some((0, "", None))),
            (br#"{"ok":true,"result":true}"#, None),
            (b"garbage", None),
            (b"", None),
        ];
        for (body, want) in cases {
            let got = api_error(body);
            let want = want.map(|(c, d, r)| (c, d.to_owned(), r));
            assert_eq!(got, want, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn request_bodies() {
        let s = serde_json::to_string(&get_updates_body(2006, 30)).unwrap();
        assert_eq!(
            s,
            r#"{"offset":2006,"timeout":30,"allowed_updates":["message","callback_query"]}"#
        );
        let s = serde_json::to_string(&confirm_updates_body(2006)).unwrap();
        assert_eq!(s, r#"{"offset":2006,"limit":1}"#);
    }

    #[test]
    fn update_ids() {
        assert_eq!(update_id(&json!({"update_id": 7})), Some(7));
        assert_eq!(update_id(&json!({"update_id": "7"})), None);
        assert_eq!(update_id(&json!(7)), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let body = br#"{"ok":true,"result":[{"update_id":1,"message":{"chat":{"id":1},"text":"/app@x","entities":[{"type":"bot_command","offset":0,"length":6}]}}]}"#;
        for cut in 0..=body.len() {
            let _ = parse_updates(&body[..cut], BOT);
            let _ = api_error(&body[..cut]);
        }
        assert_eq!(parse_updates(body, "X").map(|v| v.len()), Ok(1));
    }
}
