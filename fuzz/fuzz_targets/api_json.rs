//! Fuzzes the JSON bodies of the main web and CLI routes through the real api layer (an
//! in-memory SQLite store, a live session): the first byte picks the route, the rest is the
//! body. Every answer must be a well-formed response; nothing may panic.
#![no_main]
use hapid::api::{Api, HapiApp};
use hapid::http::{Head, Request};
use hapid::hub::{Hub, HubSettings};
use hapid::app::{ConnId, Now};
use hapid::app::App;
use std::cell::RefCell;

const TOKEN: &str = "fuzz-token-0123456789abcdef";
const SECRET: [u8; 32] = [7; 32];

fn app() -> HapiApp {
    let store = hapid::store::Store::open(std::path::Path::new(":memory:")).unwrap();
    // Fields the target cares about; the rest as in the unit tests, so a new setting does
    // not break the fuzz build.
    let settings = HubSettings {
        cli_api_token: TOKEN.into(),
        jwt_secret: SECRET,
        telegram_bot_token: Some("1:x".into()),
        terminal_idle_timeout_ms: 1000,
        vapid_public: String::new(),
        vapid_subject: "mailto:a@b.c".into(),
        public_url: "http://localhost".into(),
        ..HubSettings::for_tests()
    };
    let hub = Hub::new(settings, store, Now::read()).unwrap();
    HapiApp { hub, api: Api::with_origins(vec!["*".into()]) }
}

thread_local! {
    // The hub is single-threaded by design (Rc frames), so it lives in a thread-local.
    static APP: RefCell<Option<(HapiApp, String)>> = const { RefCell::new(None) };
}

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/auth"),
    ("POST", "/api/bind"),
    ("POST", "/cli/sessions"),
    ("POST", "/cli/machines"),
    ("POST", "/api/sessions/SID/messages"),
    ("PATCH", "/api/sessions/SID"),
    ("POST", "/api/sessions/SID/permission-mode"),
    ("POST", "/api/sessions/SID/model"),
    ("POST", "/api/sessions/SID/upload"),
    ("POST", "/api/sessions/SID/permissions/req-1/approve"),
    ("POST", "/api/sessions/SID/permissions/req-1/deny"),
    ("POST", "/api/machines/m1/spawn"),
    ("POST", "/api/machines/m1/paths/exists"),
    ("POST", "/api/push/subscribe"),
    ("DELETE", "/api/push/subscribe"),
    ("POST", "/api/visibility"),
    ("POST", "/api/voice/token"),
];

fn request(method: &str, path: &str, auth: &str, body: &[u8]) -> Request {
    let head = Head {
        method: method.into(),
        path: path.into(),
        query: String::new(),
        headers: vec![("authorization".into(), auth.as_bytes().to_vec())],
        minor: 1,
    };
    Request { head, body: body.to_vec() }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    APP.with_borrow_mut(|slot| run(slot, pick, body));
});

fn run(slot: &mut Option<(HapiApp, String)>, pick: u8, body: &[u8]) {
    let (app, sid) = slot.get_or_insert_with(|| {
        let mut a = app();
        let now = Now::read();
        let conn = ConnId { slot: 0, generation: 0 };
        let peer = "127.0.0.1:1".parse().unwrap();
        let cli = format!("Bearer {TOKEN}");
        let r = a.http(conn, peer, &request("POST", "/cli/sessions", &cli, br#"{"tag":"t","metadata":{"path":"/p","host":"h"}}"#), now);
        let hapid::app::Outcome::Reply(resp) = r else { panic!("create") };
        let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        let sid = v["session"]["id"].as_str().unwrap().to_string();
        a.http(conn, peer, &request("POST", "/cli/machines", &cli, br#"{"id":"m1","metadata":{}}"#), now);
        (a, sid)
    });
    let now = Now::read();
    let (method, path) = ROUTES[usize::from(pick) % ROUTES.len()];
    let path = path.replace("SID", sid);
    let auth = if path.starts_with("/cli/") {
        format!("Bearer {TOKEN}")
    } else {
        let iat = now.unix_secs();
        format!("Bearer {}", hapid::auth::jwt::sign(&SECRET, 1, "default", iat, iat + 900))
    };
    let conn = ConnId { slot: 1, generation: 1 };
    let peer = "127.0.0.1:2".parse().unwrap();
    if let hapid::app::Outcome::Reply(resp) = app.http(conn, peer, &request(method, &path, &auth, body), now) {
        assert!((200..600).contains(&resp.status));
    }
    let _ = app.commit();
    let _ = app.take_effects();
}
