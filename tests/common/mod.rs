//! Integration-test harness: runs the real `hapid` binary and talks to it over raw TCP.
//!
//! Std only (plus the crate's own `serde_json`/`base64`). Each [`Hub`] gets an ephemeral port,
//! a fresh temporary `HAPI_HOME` (removed on drop unless the test panicked) and a clean
//! environment: every variable `hapid --help` lists is removed from the inherited environment
//! before the test's overrides are applied, so a developer's own `CLI_API_TOKEN` or
//! `HAPI_HOME` never leaks in. The process is killed on drop unless it already stopped.
//!
//! ```ignore
//! let hub = Hub::start(&[]);
//! let jwt = hub.jwt("default");
//! let r = hub.get("/api/sessions", Some(&jwt));
//! assert_eq!(r.json(), serde_json::json!({"sessions": []}));
//! ```
//!
//! Raw access for framing tests: [`Hub::conn`] gives a [`RawConn`] that sends arbitrary bytes
//! and reads responses one at a time (pipelining), a response head then its chunks (SSE), or
//! everything until the peer closes ([`RawConn::read_until_closed`]).
#![allow(dead_code)]

pub mod sio;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The `CLI_API_TOKEN` every hub gets unless the test overrides or unsets it (strong: long,
/// mixed, no ':').
pub const TEST_TOKEN: &str = "hapid-itest-Q7v2KxW9pL4mN8rT3sY6bZ1c";
/// How long a hub may take to print its banner.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Read/write timeout of every test socket (a hung hub fails the test instead of hanging it).
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

// ---------------------------------------------------------------- temporary directories

/// A unique directory under `std::env::temp_dir()`, removed on drop — kept (and its path
/// printed) when the test is panicking, so a failure can be inspected.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `hapid-test-<label>-<pid>-<n>-<nanos>` with mode 0700.
    pub fn new(label: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "hapid-test-{label}-{}-{n}-{nanos:x}",
            std::process::id()
        ));
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&p)
            .unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        TempDir(p)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("HAPID_TEST_KEEP").is_some() {
            eprintln!("test data kept in {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port that was free a moment ago (bind 127.0.0.1:0, read it, drop the listener).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

// ---------------------------------------------------------------- captured output

/// Lines of one output stream of the child, collected by a reader thread.
#[derive(Default)]
pub struct Output {
    state: Mutex<(Vec<String>, bool)>, // lines, EOF reached
    cv: Condvar,
}

impl Output {
    fn spawn(src: impl Read + Send + 'static) -> Arc<Output> {
        let out = Arc::new(Output::default());
        let o = out.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(src);
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let s = String::from_utf8_lossy(&line)
                            .trim_end_matches(['\r', '\n'])
                            .to_string();
                        let mut st = o.state.lock().unwrap();
                        st.0.push(s);
                        o.cv.notify_all();
                    }
                }
            }
            o.state.lock().unwrap().1 = true;
            o.cv.notify_all();
        });
        out
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.state.lock().unwrap().0.clone()
    }

    /// Everything so far, joined with newlines.
    pub fn text(&self) -> String {
        self.lines().join("\n")
    }

    /// Waits for a line matching `pred`; `None` on timeout or when the stream ended first.
    pub fn wait_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock().unwrap();
        loop {
            if let Some(l) = st.0.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let now = Instant::now();
            if st.1 || now >= deadline {
                return None;
            }
            st = self.cv.wait_timeout(st, deadline - now).unwrap().0;
        }
    }

    /// Waits until the stream is closed (the process exited and its pipe drained).
    pub fn wait_eof(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock().unwrap();
        while !st.1 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self.cv.wait_timeout(st, deadline - now).unwrap().0;
        }
        true
    }
}

// ---------------------------------------------------------------- starting hubs

/// How to start a hub; see [`Hub::options`].
#[derive(Default, Clone)]
pub struct Options {
    env: Vec<(String, String)>,
    unset: Vec<String>,
    home: Option<PathBuf>,
    args: Vec<String>,
}

/// Why a hub did not come up.
#[derive(Debug)]
pub struct StartError {
    /// Its exit status, when it exited.
    pub status: Option<ExitStatus>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Options {
    /// Sets an environment variable (overrides the harness defaults).
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.unset.retain(|u| u != k);
        self.env.retain(|(n, _)| n != k);
        self.env.push((k.into(), v.into()));
        self
    }

    /// Sets several variables.
    pub fn envs(mut self, vars: &[(&str, &str)]) -> Self {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Leaves a variable unset (e.g. `CLI_API_TOKEN`, so the hub generates one).
    pub fn unset(mut self, k: &str) -> Self {
        self.env.retain(|(n, _)| n != k);
        self.unset.push(k.into());
        self
    }

    /// Uses an existing `HAPI_HOME` (not removed afterwards) instead of a fresh one.
    pub fn home(mut self, dir: &Path) -> Self {
        self.home = Some(dir.to_path_buf());
        self
    }

    /// Extra command-line arguments.
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    /// Starts the hub and waits for its banner; panics with its output when it fails.
    pub fn start(self) -> Hub {
        match self.try_start() {
            Ok(h) => h,
            Err(e) => panic!(
                "hapid did not start (status {:?})\n--- stdout\n{}\n--- stderr\n{}",
                e.status, e.stdout, e.stderr
            ),
        }
    }

    /// Starts the hub and waits for "listening on"; `Err` when it exits or times out first.
    /// A port taken between [`free_port`] and the hub's bind is retried with another port.
    pub fn try_start(self) -> Result<Hub, StartError> {
        let fixed_port = self.get("HAPI_LISTEN_PORT").is_some();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.clone().spawn_once() {
                Err(e) if !fixed_port && attempt < 4 && e.stderr.contains("cannot listen on") => {
                    continue;
                }
                r => return r,
            }
        }
    }

    fn spawn_once(self) -> Result<Hub, StartError> {
        let (home, owned) = match &self.home {
            Some(h) => (h.clone(), None),
            None => {
                let t = TempDir::new("home");
                (t.path().to_path_buf(), Some(t))
            }
        };
        let port = match self.get("HAPI_LISTEN_PORT") {
            Some(p) => p.parse().unwrap_or(0),
            None => free_port(),
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hapid"));
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _, _) in hapid::config::ENV_HELP {
            cmd.env_remove(name);
        }
        cmd.env("HAPI_HOME", &home)
            .env("HAPI_LISTEN_HOST", "127.0.0.1")
            .env("HAPI_LISTEN_PORT", port.to_string())
            .env("CLI_API_TOKEN", TEST_TOKEN);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for k in &self.unset {
            cmd.env_remove(k);
        }
        let token = if self.unset.iter().any(|k| k == "CLI_API_TOKEN") {
            None
        } else {
            Some(self.get("CLI_API_TOKEN").unwrap_or(TEST_TOKEN).to_string())
        };
        let mut child = cmd.spawn().expect("spawn hapid");
        let stdout = Output::spawn(child.stdout.take().expect("stdout piped"));
        let stderr = Output::spawn(child.stderr.take().expect("stderr piped"));
        let mut hub = Hub {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            home,
            token,
            stdout,
            stderr,
            exit: None,
            _home_dir: owned,
        };
        match hub
            .stdout
            .wait_line(|l| l.contains(" listening on "), START_TIMEOUT)
        {
            Some(line) => {
                if let Some(a) = line
                    .split("http://")
                    .nth(1)
                    .and_then(|s| s.split_whitespace().next())
                    .and_then(|s| s.parse().ok())
                {
                    hub.addr = a;
                }
                Ok(hub)
            }
            None => {
                // Exited (or hung): collect what it said, then make sure it is gone.
                let status = hub.wait_exit(Duration::from_secs(2));
                if status.is_none() {
                    hub.kill();
                }
                hub.stderr.wait_eof(Duration::from_secs(2));
                Err(StartError {
                    status,
                    stdout: hub.stdout.text(),
                    stderr: hub.stderr.text(),
                })
            }
        }
    }
}

/// A running `hapid`.
pub struct Hub {
    child: Child,
    addr: SocketAddr,
    home: PathBuf,
    token: Option<String>,
    /// Its stdout, line by line.
    pub stdout: Arc<Output>,
    /// Its stderr (the log), line by line.
    pub stderr: Arc<Output>,
    exit: Option<ExitStatus>,
    _home_dir: Option<TempDir>, // dropped after `Drop::drop` killed the process
}

impl Hub {
    /// Starts a hub with `env` on top of the defaults (fresh home, free port, [`TEST_TOKEN`]).
    pub fn start(env: &[(&str, &str)]) -> Hub {
        Hub::options().envs(env).start()
    }

    /// A builder for the less common cases (unset variables, a shared home).
    pub fn options() -> Options {
        Options::default()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `HAPI_HOME`.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The database file (`HAPI_HOME/hapid.db` unless `DB_PATH` was set).
    pub fn db_path(&self) -> PathBuf {
        self.home.join("hapid.db")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The CLI access token (the configured one, else the one in `settings.json`).
    pub fn token(&self) -> String {
        match &self.token {
            Some(t) => t.clone(),
            None => self.settings()["cliApiToken"]
                .as_str()
                .expect("settings.json cliApiToken")
                .to_string(),
        }
    }

    /// `HAPI_HOME/settings.json`.
    pub fn settings(&self) -> Value {
        read_json(&self.home.join("settings.json"))
    }

    /// The JWT secret from `jwt-secret.json`.
    pub fn jwt_secret(&self) -> Vec<u8> {
        let v = read_json(&self.home.join("jwt-secret.json"));
        STANDARD
            .decode(v["secretBase64"].as_str().expect("secretBase64"))
            .expect("secretBase64 is base64")
    }

    /// `ownerId` from `owner-id.json`.
    pub fn owner_id(&self) -> i64 {
        read_json(&self.home.join("owner-id.json"))["ownerId"]
            .as_i64()
            .expect("ownerId")
    }

    // ------------------------------------------------------------ HTTP

    /// A new raw connection with [`IO_TIMEOUT`] on reads and writes.
    pub fn conn(&self) -> RawConn {
        RawConn::connect(self.addr)
    }

    /// One request on its own connection (`Connection: close`); `Host` and `Content-Length`
    /// are added unless given. Panics when no well-formed response arrives.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut c = self.conn();
        c.send(&request_bytes(method, path, headers, body, true));
        c.read_response(method)
    }

    /// `GET path`, with `Authorization: Bearer <bearer>` when given.
    pub fn get(&self, path: &str, bearer: Option<&str>) -> Resp {
        let auth = bearer.map(|b| format!("Bearer {b}"));
        let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        self.request("GET", path, &h, b"")
    }

    /// `POST path` with a JSON body, with `Authorization: Bearer <bearer>` when given.
    pub fn post_json(&self, path: &str, bearer: Option<&str>, body: &Value) -> Resp {
        let auth = bearer.map(|b| format!("Bearer {b}"));
        let mut h = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            h.push(("Authorization", a.as_str()));
        }
        self.request("POST", path, &h, body.to_string().as_bytes())
    }

    /// The access token for namespace `ns` (`TOKEN` for "default", else `TOKEN:ns`).
    pub fn access_token(&self, ns: &str) -> String {
        if ns == "default" {
            self.token()
        } else {
            format!("{}:{ns}", self.token())
        }
    }

    /// A web JWT for `ns` from `POST /api/auth`.
    pub fn jwt(&self, ns: &str) -> String {
        let r = self.post_json(
            "/api/auth",
            None,
            &serde_json::json!({ "accessToken": self.access_token(ns) }),
        );
        assert_eq!(r.status, 200, "POST /api/auth: {r:?}");
        r.json()["token"].as_str().expect("token").to_string()
    }

    // ------------------------------------------------------------ process

    /// Sends SIGTERM (via `kill -TERM <pid>`).
    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends a signal by name (`TERM`, `INT`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        let st = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits up to `timeout` for the process to exit; its status, or `None` if still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.exit {
                return Some(s);
            }
            if let Ok(Some(s)) = self.child.try_wait() {
                self.exit = Some(s);
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then waits up to 5 s for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.sigterm();
        self.wait_exit(Duration::from_secs(5))
            .expect("hapid did not exit within 5 s of SIGTERM")
    }

    /// SIGKILL (no cleanup: a crash).
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            if let Ok(s) = self.child.wait() {
                self.exit = Some(s);
            }
        }
    }

    /// Resident set size in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- hapid stdout\n{}\n--- hapid stderr\n{}",
                self.stdout.text(),
                self.stderr.text()
            );
        }
    }
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
}

// ---------------------------------------------------------------- requests and responses

/// The bytes of one HTTP/1.1 request. Adds `Host` and `Content-Length` (for a body, or for
/// POST/PUT/PATCH) unless present, and `Connection: close` when `close` and no `Connection`.
pub fn request_bytes(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    let mut s = format!("{method} {path} HTTP/1.1\r\n");
    if !has("host") {
        s.push_str("Host: 127.0.0.1\r\n");
    }
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    let wants_length = !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH");
    if wants_length && !has("content-length") && !has("transfer-encoding") {
        s.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if close && !has("connection") {
        s.push_str("Connection: close\r\n");
    }
    s.push_str("\r\n");
    let mut out = s.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A response.
#[derive(Clone, PartialEq, Eq)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Resp {
    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a header is present.
    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// The comma-separated tokens of a header, trimmed (e.g. CORS lists).
    pub fn header_list(&self, name: &str) -> Vec<String> {
        self.header(name)
            .map(|v| v.split(',').map(|t| t.trim().to_string()).collect())
            .unwrap_or_default()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (showing the response) when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self:?}"))
    }
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [", self.status)?;
        for (i, (n, v)) in self.headers.iter().enumerate() {
            write!(f, "{}{n}: {v}", if i > 0 { ", " } else { "" })?;
        }
        write!(f, "] {}", self.text())
    }
}

/// How a read-until-closed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Orderly close (FIN).
    Eof,
    /// Reset by the peer.
    Reset,
    /// Still open when the timeout ran out.
    Timeout,
}

/// A raw client connection with its own read buffer (responses may be pipelined).
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    /// Connects with [`IO_TIMEOUT`] on reads and writes.
    pub fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// The socket (e.g. to `try_clone` it for a writer thread, or change timeouts).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes all of `bytes`; panics on error.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write: {e}"));
    }

    /// Writes all of `bytes`.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Half-closes the sending side.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Bytes received but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Reads more into the buffer; `UnexpectedEof` when the peer closed.
    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn take_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    fn take_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads a status line and headers (skipping `100 Continue` heads).
    pub fn read_head(&mut self) -> io::Result<(u16, Vec<(String, String)>)> {
        loop {
            let status_line = self.take_line()?;
            let mut parts = status_line.splitn(3, ' ');
            let version = parts.next().unwrap_or("");
            let status: u16 = parts
                .next()
                .and_then(|s| s.parse().ok())
                .filter(|_| version.starts_with("HTTP/1."))
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad status line {status_line:?}"),
                    )
                })?;
            let mut headers = Vec::new();
            loop {
                let l = self.take_line()?;
                if l.is_empty() {
                    break;
                }
                let (n, v) = l.split_once(':').ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("bad header {l:?}"))
                })?;
                headers.push((n.trim().to_string(), v.trim().to_string()));
            }
            if status == 100 {
                continue;
            }
            return Ok((status, headers));
        }
    }

    /// The next chunk of a chunked body; `None` after the last (zero) chunk and trailers.
    pub fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let size_line = self.take_line()?;
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad chunk size {size_line:?}"),
            )
        })?;
        if size == 0 {
            while !self.take_line()?.is_empty() {}
            return Ok(None);
        }
        let data = self.take_exact(size)?;
        if self.take_exact(2)? != b"\r\n" {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "chunk not followed by CRLF",
            ));
        }
        Ok(Some(data))
    }

    /// Reads one response to a `method` request: `Content-Length`, chunked, or until close.
    pub fn try_read_response(&mut self, method: &str) -> io::Result<Resp> {
        let (status, headers) = self.read_head()?;
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        let no_body = method == "HEAD" || status == 204 || status == 304 || status < 200;
        if no_body {
            return Ok(resp);
        }
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            while let Some(c) = self.read_chunk()? {
                resp.body.extend_from_slice(&c);
            }
        } else if let Some(len) = resp.header("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?;
            resp.body = self.take_exact(len)?;
        } else {
            loop {
                match self.fill() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(resp)
    }

    /// [`RawConn::try_read_response`], panicking on error.
    pub fn read_response(&mut self, method: &str) -> Resp {
        self.try_read_response(method)
            .unwrap_or_else(|e| panic!("reading the response to {method}: {e}"))
    }

    /// Reads until the peer closes or `timeout` passes; returns how it ended and every byte
    /// received (including what was buffered before).
    pub fn read_until_closed(&mut self, timeout: Duration) -> (Closed, Vec<u8>) {
        let deadline = Instant::now() + timeout;
        let how = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Closed::Timeout;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.fill() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break Closed::Eof,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break Closed::Reset,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) => panic!("read: {e}"),
            }
        };
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        (how, std::mem::take(&mut self.buf))
    }
}

/// Parses one complete response from bytes (e.g. what [`RawConn::read_until_closed`] got).
pub fn parse_response(bytes: &[u8]) -> Option<Resp> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut r = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &bytes[end + 4..];
    r.body = match r.header("content-length").and_then(|v| v.parse().ok()) {
        Some(n) => rest.get(..n)?.to_vec(),
        None => rest.to_vec(),
    };
    Some(r)
}

// ---------------------------------------------------------------- JWT helpers

/// base64url (no padding) of `bytes`.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes one base64url JWT segment as JSON.
pub fn jwt_segment(seg: &str) -> Value {
    let raw = URL_SAFE_NO_PAD
        .decode(seg)
        .unwrap_or_else(|e| panic!("segment {seg:?} is not base64url: {e}"));
    serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("segment {seg:?} is not JSON: {e}"))
}

/// (header, claims) of a compact JWT, without verifying it.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let segs: Vec<&str> = token.split('.').collect();
    assert_eq!(segs.len(), 3, "not a compact JWS: {token}");
    (jwt_segment(segs[0]), jwt_segment(segs[1]))
}

/// An HS256 JWT over arbitrary header and payload JSON (for crafting bad tokens).
pub fn jwt_hs256(secret: &[u8], header: &Value, payload: &Value) -> String {
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes())
    );
    let mac = hapid::auth::hmac_sha256(secret, signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&mac))
}
