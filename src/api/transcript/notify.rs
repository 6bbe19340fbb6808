//! Permission requests and "ready" events become notifications: a toast on every visible
//! stream of the namespace, else Web Push, after a 500 ms debounce for permission requests and
//! with a 5 s cooldown for ready (spec/push.md §4, spec/sse.md §6).

use super::{Cli, Harness, Web, meta};
use serde_json::{Value, json};

/// An active session `S` ("proj", claude) with a session socket, and one push subscription.
fn setup(h: &mut Harness) -> (Web, String, Cli) {
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("proj"));
    let cli = h.session_socket("cli", "default", &sid);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0, "thinking": true}),
    );
    subscribe(h, &web, "https://push.example/sub/1");
    h.take();
    (web, sid, cli)
}

fn subscribe(h: &mut Harness, web: &Web, endpoint: &str) {
    let p256dh = crate::push::vapid::VapidKeys::generate().public_b64();
    let body =
        json!({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": "AAAAAAAAAAAAAAAAAAAAAA"}});
    let r = h.post(web, "/api/push/subscribe", body);
    assert_eq!(r.body(), &json!({"ok": true}));
}

/// The CLI's `update-state` with these pending request ids (tool `Bash`), at version `v`.
fn requests(h: &mut Harness, cli: Cli, sid: &str, v: i64, ids: &[&str]) {
    let reqs: serde_json::Map<String, Value> = ids
        .iter()
        .map(|id| {
            (
                id.to_string(),
                json!({"tool": "Bash", "arguments": {"command": "ls"}}),
            )
        })
        .collect();
    let st = json!({"controlledByUser": false, "requests": reqs});
    h.emit_ack(
        cli,
        "update-state",
        json!({"sid": sid, "expectedVersion": v, "agentState": st}),
    );
}

const READY: &str =
    r#"{"role":"agent","content":{"id":"e1","type":"event","data":{"type":"ready"}}}"#;

#[test]
fn a_permission_request_is_pushed_after_the_debounce_not_before() {
    let mut h = Harness::new();
    let (_web, sid, cli) = setup(&mut h);
    requests(&mut h, cli, &sid, 1, &["req-1"]);
    h.take();
    h.advance(499);
    h.expect("");
    h.advance(1);
    h.expect("out#1 POST https://push.example/sub/1");
    h.outbound_done(1, 201);
    h.advance(10_000);
    h.expect("");
}

#[test]
fn a_visible_stream_gets_a_toast_instead_of_a_push() {
    let mut h = Harness::new();
    let (web, sid, cli) = setup(&mut h);
    // Any visible stream of the namespace gets the toast, whatever its filter.
    let _v = h.sse("phone", &web, "visibility=visible");
    let _hidden = h.sse("laptop", &web, "all=true");
    h.take();
    requests(&mut h, cli, &sid, 1, &["req-1"]);
    h.take();
    h.advance(500);
    h.expect(
        r#"
        phone sse {"type":"toast","data":{"title":"Permission Request","body":"proj (Bash)","sessionId":"S","url":"/sessions/S"}}
        "#,
    );
}

#[test]
fn visibility_reported_later_switches_between_toast_and_push() {
    let mut h = Harness::new();
    let (web, sid, cli) = setup(&mut h);
    let tab = h.sse("tab", &web, "all=true");
    h.take();
    h.visibility(&web, &tab, "visible");
    requests(&mut h, cli, &sid, 1, &["req-1"]);
    h.take();
    h.advance(500);
    h.expect(
        r#"
        tab sse {"type":"toast","data":{"title":"Permission Request","body":"proj (Bash)","sessionId":"S","url":"/sessions/S"}}
        "#,
    );
    h.visibility(&web, &tab, "hidden");
    requests(&mut h, cli, &sid, 2, &["req-1", "req-2"]);
    h.take();
    h.advance(500);
    h.expect("out#1 POST https://push.example/sub/1");
    // The stream closes: its subscription is gone.
    h.close(&tab);
    h.visibility(&web, &tab, "visible");
    h.expect(r#"http 404 {"error":"Subscription not found"}"#);
}

#[test]
fn a_request_id_already_seen_does_not_notify_again() {
    let mut h = Harness::new();
    let (_web, sid, cli) = setup(&mut h);
    requests(&mut h, cli, &sid, 1, &["req-1"]);
    h.advance(500);
    h.take();
    // The same id again (another write of the state): no new notification.
    requests(&mut h, cli, &sid, 2, &["req-1"]);
    h.advance(1_000);
    h.take();
    h.db("push", "SELECT count(*) AS n FROM push_subscriptions");
    h.expect(r#"db push {"n":1}"#);
    // It goes away and comes back: notified again.
    requests(&mut h, cli, &sid, 3, &[]);
    requests(&mut h, cli, &sid, 4, &["req-1"]);
    h.take();
    h.advance(500);
    h.expect("out#2 POST https://push.example/sub/1");
}

#[test]
fn a_burst_of_requests_notifies_once_500ms_after_the_last() {
    let mut h = Harness::new();
    let (_web, sid, cli) = setup(&mut h);
    requests(&mut h, cli, &sid, 1, &["a"]);
    h.advance(300);
    requests(&mut h, cli, &sid, 2, &["a", "b"]);
    h.take();
    h.advance(499);
    h.expect("");
    h.advance(1);
    h.expect("out#1 POST https://push.example/sub/1");
    h.advance(5_000);
    h.expect("");
}

#[test]
fn requests_resolved_within_the_debounce_notify_nobody() {
    let mut h = Harness::new();
    let (_web, sid, cli) = setup(&mut h);
    requests(&mut h, cli, &sid, 1, &["a"]);
    h.advance(200);
    requests(&mut h, cli, &sid, 2, &[]);
    h.take();
    h.advance(2_000);
    h.expect("");
}

#[test]
fn an_inactive_session_never_notifies() {
    let mut h = Harness::new();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("proj"));
    let cli = h.session_socket("cli", "default", &sid);
    subscribe(&mut h, &web, "https://push.example/sub/1");
    requests(&mut h, cli, &sid, 1, &["req-1"]);
    h.emit(cli, "message", json!({"sid": sid, "message": READY}));
    h.take();
    h.advance(3_000);
    h.expect("");
}

#[test]
fn ready_notifies_at_once_with_a_5_second_cooldown() {
    let mut h = Harness::new();
    let (web, sid, cli) = setup(&mut h);
    let _v = h.sse("phone", &web, "visibility=visible");
    h.take();
    h.emit(cli, "message", json!({"sid": sid, "message": READY}));
    h.expect(
        r#"
        phone sse {"type":"toast","data":{"title":"Ready for input","body":"Claude is waiting in proj","sessionId":"S","url":"/sessions/S"}}
        "#,
    );
    h.advance(4_999);
    h.emit(cli, "message", json!({"sid": sid, "message": READY}));
    h.expect("");
    h.advance(1);
    h.emit(cli, "message", json!({"sid": sid, "message": READY}));
    h.expect(
        r#"
        phone sse {"type":"toast","data":{"title":"Ready for input","body":"Claude is waiting in proj","sessionId":"S","url":"/sessions/S"}}
        "#,
    );
}

#[test]
fn every_push_subscription_of_the_namespace_gets_one_and_gone_ones_are_dropped() {
    let mut h = Harness::new();
    let (web, sid, cli) = setup(&mut h);
    subscribe(&mut h, &web, "https://push.example/sub/2");
    h.take();
    h.emit(cli, "message", json!({"sid": sid, "message": READY}));
    let mut got = h.take();
    got.sort_by_key(|l| l.split(' ').next_back().map(str::to_string));
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].ends_with(" POST https://push.example/sub/1"),
        "{got:?}"
    );
    assert!(
        got[1].ends_with(" POST https://push.example/sub/2"),
        "{got:?}"
    );
    let id = |h: &Harness, url: &str| {
        h.outbound
            .iter()
            .find(|(_, u)| u == url)
            .map(|(id, _)| *id)
            .expect("sent")
    };
    let (first, second) = (
        id(&h, "https://push.example/sub/1"),
        id(&h, "https://push.example/sub/2"),
    );
    // The push service says the first subscription is gone (410): it is deleted.
    h.outbound_done(first, 410);
    h.outbound_done(second, 201);
    h.db("push", "SELECT endpoint FROM push_subscriptions");
    h.expect(r#"db push {"endpoint":"https://push.example/sub/2"}"#);
}

#[test]
fn visibility_answers_follow_the_spec() {
    let mut h = Harness::new();
    let web = h.web("default");
    let s = h.sse("tab", &web, "");
    h.take();
    h.visibility(&web, &s, "visible");
    h.visibility(&web, &s, "hidden");
    h.visibility(&web, &s, "maybe");
    h.post(&web, "/api/visibility", json!({}));
    h.post(
        &web,
        "/api/visibility",
        json!({"subscriptionId": "nope", "visibility": "visible"}),
    );
    h.expect(
        r#"
        http 200 {"ok":true}
        http 200 {"ok":true}
        http 400 {"error":"Invalid body"}
        http 400 {"error":"Invalid body"}
        http 404 {"error":"Subscription not found"}
        "#,
    );
}

/// A hub with a Telegram bot whose Bot API is `https://tg.example`, started (getMe,
/// deleteWebhook answered) and long polling, with user 42 bound to the default namespace.
fn telegram_hub() -> Harness {
    let mut h = Harness::with_settings(|s| {
        s.telegram_bot_token = Some("1:x".into());
        s.telegram_notification = true;
        s.telegram_api_base = "https://tg.example".into();
    });
    let auth_date = (super::T0 / 1000).to_string();
    let init = crate::auth::telegram::sign_init_data(
        &[
            ("auth_date", &auth_date),
            ("user", r#"{"id":42,"first_name":"Ann"}"#),
        ],
        "1:x",
    );
    let r = h.call_unauthenticated(
        "POST",
        "/api/bind",
        json!({"initData": init, "accessToken": super::TOKEN}),
    );
    assert!(matches!(r, super::Reply::Now(200, _)), "{r:?}");
    h.advance(1_000);
    h.outbound_reply(
        1,
        200,
        &json!({"ok": true, "result": {"username": "hapi_bot"}}),
    );
    h.outbound_reply(2, 200, &json!({"ok": true, "result": true}));
    h.advance(1_000);
    h.expect(
        r#"
        out#1 POST https://tg.example/bot1:x/getMe {}
        http 200 {"token":"*","user":{"id":1,"firstName":"Ann"}}
        out#2 POST https://tg.example/bot1:x/deleteWebhook {}
        out#3 POST https://tg.example/bot1:x/getUpdates {"offset":"*","timeout":"*","...":0}
        "#,
    );
    h
}

#[test]
fn telegram_gets_the_permission_request_after_the_debounce_even_when_visible() {
    let mut h = telegram_hub();
    let web = h.web("default");
    let sid = h.new_session("default", "S", meta("proj"));
    let cli = h.session_socket("cli", "default", &sid);
    h.emit(
        cli,
        "session-alive",
        json!({"sid": sid, "time": super::T0 + 2_000, "thinking": true}),
    );
    let _v = h.sse("phone", &web, "visibility=visible");
    h.take();
    requests(&mut h, cli, &sid, 1, &["req-1"]);
    h.take();
    h.advance(499);
    h.expect("");
    // The toast and the bot's message both when the debounce ends.
    h.advance(1);
    h.expect(
        r#"
        out#4 POST https://tg.example/bot1:x/sendMessage {"chat_id":42,"text":"*","reply_markup":{"inline_keyboard":[[{"text":"Allow","callback_data":"*"},{"text":"Deny","callback_data":"*"}],[{"text":"Details","web_app":{"url":"*"}}]]}}
        phone sse {"type":"toast","data":{"title":"Permission Request","body":"proj (Bash)","sessionId":"S","url":"/sessions/S"}}
        "#,
    );
}
