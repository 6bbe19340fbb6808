//! The api layer: a parsed request → a call on the hub → a reply.
//!
//! Routing order follows spec/http-general.md §1.1: `/health`, CORS preflight on `/api/*` and
//! `/cli/*`, the `/cli/*` routes with their own token auth, `/api/auth` and `/api/bind`, the
//! JWT middleware, the `/api/*` routes, then the web app. Adapters here stay thin: parse,
//! validate, call the hub, shape the answer.

pub(crate) mod agents;
mod cli;
mod cli_resume;
mod cors;
mod machines;
mod resume;
mod scratchlist;
mod sessions;
mod socket_cli;
#[cfg(test)]
mod transcript;
mod usage;
mod voice;
mod web;
pub mod web_app;

pub use crate::app::Outcome;
use crate::app::{Admit, App, ConnectReply, EioConfig, EioKind, OriginCheck};
use crate::app::{ConnId, Effect, Now, SocketId};
use crate::http::{Head, Request, Response};
use crate::hub::{Hub, HubError};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};

/// Bodies up to this length are read before the credentials are checked (the route checks
/// them); longer ones only after (`Api::admit`).
pub const PRE_AUTH_BODY: usize = 64 * 1024;
/// Body limit of every route but the upload route.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Body limit of `POST /api/sessions/:id/upload` (68 MiB, as v0.30.7).
pub const UPLOAD_BODY_LIMIT: usize = 68 * 1024 * 1024;

/// The api context: settings the routes need.
pub struct Api {
    cors: cors::Cors,
    web: web_app::WebApp,
    metrics_public: bool,
    eio: EioConfig,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    trusted_proxies: Vec<crate::http::forwarded::Cidr>,
}

/// hapid's application: the hub and the api adapters in front of it.
pub struct HapiApp {
    /// The hub.
    pub hub: Hub,
    /// The api context.
    pub api: Api,
}

/// The caller of an authenticated `/api/*` route.
pub struct Caller {
    /// The JWT's namespace.
    pub ns: String,
}

impl Api {
    /// Builds the context from the configuration.
    pub fn new(cfg: &crate::config::Config) -> Api {
        Api {
            cors: cors::Cors::new(cfg.cors_origins.clone()),
            web: web_app::WebApp::load(cfg.web_dir.as_deref()),
            metrics_public: cfg.metrics_public,
            trusted_proxies: cfg.trusted_proxies.clone(),
            // spec/cli-protocol.md §4.2: 48 MiB, so whole-file RPC answers fit.
            eio: EioConfig {
                ping_interval_ms: 25_000,
                ping_timeout_ms: 20_000,
                max_payload: 48 * 1024 * 1024,
            },
        }
    }

    /// An api context with default settings and the given CORS origins (tests, fuzzing).
    pub fn with_origins(origins: Vec<String>) -> Api {
        Api {
            cors: cors::Cors::new(origins),
            web: web_app::WebApp::Builtin,
            metrics_public: false,
            trusted_proxies: Vec::new(),
            eio: EioConfig {
                ping_interval_ms: 25_000,
                ping_timeout_ms: 20_000,
                max_payload: 48 * 1024 * 1024,
            },
        }
    }

    /// Largest body the route of `head` accepts.
    pub fn body_limit(&self, head: &Head) -> usize {
        if head.path == "/socket.io/" {
            self.eio.max_payload
        } else if head.method == "POST"
            && head.path.starts_with("/api/sessions/")
            && head.path.ends_with("/upload")
        {
            UPLOAD_BODY_LIMIT
        } else if voice::is_upload(head) {
            voice::UPLOAD_READ_LIMIT
        } else {
            BODY_LIMIT
        }
    }

    /// Admission of a request whose head is complete (issue 20 item 2): a body longer than
    /// [`PRE_AUTH_BODY`] is read only once the credentials in the head check out (a JWT for
    /// `/api/*`, the CLI token for `/cli/*`); otherwise the 401 goes out without reading it
    /// (held like any credential failure) and the connection closes. Smaller bodies are read
    /// and the route answers as usual, so the answers are the ones the routes give.
    pub fn admit(
        &self,
        hub: &mut Hub,
        conn: ConnId,
        head: &Head,
        peer: SocketAddr,
        now: Now,
    ) -> Admit {
        let limit = self.body_limit(head);
        let declared = crate::http::declared_length(head).unwrap_or(0);
        if declared <= PRE_AUTH_BODY || declared > limit {
            return Admit::Body(limit); // small, or refused 413 by the parser
        }
        let path = head.path.as_str();
        let refusal = if path.starts_with("/cli/") {
            cli::authenticate(hub, head)
                .err()
                .map(|r| (r.header("X-Hapi-Protocol-Version", "1"), true))
        } else if path.starts_with("/api/") && path != "/api/auth" && path != "/api/bind" {
            web::verify_bearer(hub, head, now).err()
        } else {
            None
        };
        let Some((resp, counts)) = refusal else {
            return Admit::Body(limit);
        };
        let ip = self.client_ip(peer, head);
        if counts {
            hub.gate.failed(ip, now.mono);
        }
        let resp = self.cors.decorate(head.header("origin"), resp).close();
        let hold = hub.gate.take_hold();
        if hold.is_zero() {
            return Admit::Reject(resp);
        }
        hub.hold_reply(conn, resp, hold, now);
        Admit::Later
    }

    /// The client's address: the peer, or behind a trusted proxy what it forwarded.
    pub fn client_ip(&self, peer: SocketAddr, head: &Head) -> IpAddr {
        crate::http::forwarded::client_ip(
            peer.ip(),
            head.header_values("x-forwarded-for"),
            &self.trusted_proxies,
        )
    }

    /// Handles one request.
    pub fn handle(
        &self,
        hub: &mut Hub,
        conn: ConnId,
        peer: SocketAddr,
        req: &Request,
        now: Now,
    ) -> Outcome {
        let head = &req.head;
        let ip = self.client_ip(peer, head);
        let path = head.path.as_str();
        let get = head.method == "GET" || head.method == "HEAD";
        if path == "/socket.io/" {
            return Outcome::EngineIo(EioKind::SocketIo);
        }
        if path == "/health" {
            return Outcome::Reply(if get {
                // v0.30.7 adds capabilities (the current web probes them); hapid has neither.
                let caps = serde_json::json!({"workGraph": false, "titleSuggestion": false});
                let body =
                    serde_json::json!({"status": "ok", "protocolVersion": 1, "capabilities": caps});
                Response::json(200, &body)
            } else {
                Response::not_found()
            });
        }
        let is_api = path == "/api" || path.starts_with("/api/");
        let is_cli = path.starts_with("/cli/");
        if is_api || is_cli {
            let origin = head.header("origin");
            if head.method == "OPTIONS" {
                return Outcome::Reply(self.cors.preflight(origin));
            }
            let out = if is_cli {
                cli::route(hub, conn, req, now, ip)
            } else {
                web::route(self, hub, conn, req, now, ip)
            };
            let out = match out {
                Outcome::Reply(r) => Outcome::Reply(self.cors.decorate(origin, r)),
                Outcome::Sse(h) => Outcome::Sse(self.cors.decorate(origin, h)),
                other => other,
            };
            return held(hub, conn, out, now);
        }
        if path == "/metrics" && get {
            return match self.metrics_public {
                true => Outcome::Metrics,
                false => match web::authenticate(hub, req, now, ip) {
                    Ok(_) => Outcome::Metrics,
                    Err(r) => held(hub, conn, Outcome::Reply(r), now),
                },
            };
        }
        if path.starts_with("/api") {
            // "/apifoo": not under /api/*, and no static file or SPA fallback either (§5.1).
            return Outcome::Reply(Response::not_found());
        }
        Outcome::Reply(self.web.serve(head, hub))
    }
}

/// The answer to a request whose credential check the gate says to hold: deferred, and sent
/// by the gate's timer (`hub::gate`); any other answer as it is.
fn held(hub: &mut Hub, conn: ConnId, out: Outcome, now: Now) -> Outcome {
    let hold = hub.gate.take_hold();
    match out {
        Outcome::Reply(r) if !hold.is_zero() => {
            hub.hold_reply(conn, r, hold, now);
            Outcome::Deferred
        }
        other => other,
    }
}

impl App for HapiApp {
    fn admit(&mut self, conn: ConnId, head: &Head, peer: SocketAddr, now: Now) -> Admit {
        self.api.admit(&mut self.hub, conn, head, peer, now)
    }

    fn http(&mut self, conn: ConnId, peer: SocketAddr, req: &Request, now: Now) -> Outcome {
        self.api.handle(&mut self.hub, conn, peer, req, now)
    }

    fn on_timer(&mut self, key: u64, now: Now) {
        self.hub.on_timer(key, now);
    }

    fn on_shutdown(&mut self, _now: Now) {
        self.hub.telegram_shutdown();
    }

    fn commit(&mut self) -> Result<(), String> {
        self.hub.store.commit().map_err(|e| {
            format!("commit failed, exiting so that nothing unacknowledged is kept: {e}")
        })
    }

    fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.hub.fx)
    }

    fn conn_closed(&mut self, conn: ConnId) {
        self.hub.conn_closed(conn);
    }

    fn eio_config(&self) -> EioConfig {
        self.api.eio
    }

    fn eio_origin(&self, origin: Option<&str>) -> OriginCheck {
        match origin {
            None => OriginCheck::Allowed(self.api.cors.allow(None)),
            Some(o) => match self.api.cors.allow(Some(o)) {
                Some(a) => OriginCheck::Allowed(Some(a)),
                None => OriginCheck::Refused,
            },
        }
    }

    fn client_ip(&self, peer: SocketAddr, head: &Head) -> IpAddr {
        self.api.client_ip(peer, head)
    }

    fn sio_connect(
        &mut self,
        socket: SocketId,
        nsp: &str,
        auth: Option<&Value>,
        peer: std::net::IpAddr,
        now: Now,
    ) -> ConnectReply {
        socket_cli::connect(&mut self.hub, socket, nsp, auth, peer, now)
    }

    fn sio_event(
        &mut self,
        socket: SocketId,
        name: &str,
        args: Vec<Value>,
        ack: Option<u64>,
        _binary: Vec<Vec<u8>>,
        now: Now,
    ) {
        socket_cli::event(&mut self.hub, socket, name, args, ack, now);
    }

    fn sio_ack(&mut self, socket: SocketId, id: u64, args: Vec<Value>, now: Now) {
        self.hub.rpc_ack(socket, id, args, now);
    }

    fn sio_disconnect(&mut self, socket: SocketId, now: Now) {
        self.hub.socket_gone(socket, now);
    }

    fn metrics(&self, out: &mut String) {
        self.hub.metrics(out);
    }

    fn outbound_done(
        &mut self,
        id: u64,
        result: Result<crate::http::client::ClientResponse, String>,
        now: Now,
    ) {
        self.hub.outbound_done(id, result, now);
    }
}

/// Maps a hub error to the standard answer for a session route.
pub fn session_error(e: HubError) -> Response {
    match e {
        HubError::NotFound => Response::error(404, "Session not found"),
        HubError::Store(e) => store_failure(e),
    }
}

/// A store failure: logged, answered 500.
pub fn store_failure(e: crate::store::StoreError) -> Response {
    if matches!(e, crate::store::StoreError::DiskFull) {
        // Logged once by the store when the state changes, not per request.
        return Response::error(507, "Insufficient storage");
    }
    crate::log::warn(&format!("store: {e}"));
    Response::error(500, "Internal Server Error")
}

/// Parses a JSON body the way upstream does (spec/rest.md §0.4): invalid or empty → null.
pub fn json_body(req: &Request) -> Value {
    serde_json::from_slice(&req.body).unwrap_or(Value::Null)
}

/// First value of a query parameter (spec/rest.md §0.5).
pub fn query_param(query: &str, key: &str) -> Option<String> {
    crate::auth::form::parse_form(query)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// A percent-decoded path parameter (must be UTF-8).
pub fn path_param(raw: &str) -> Option<String> {
    String::from_utf8(crate::auth::form::percent_decode(raw)).ok()
}
