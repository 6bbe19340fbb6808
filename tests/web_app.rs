//! The static web app (issue 8, spec/http-general.md §5) against the real binary: exact-path
//! lookup, the SPA fallback to `index.html`, the `/api` prefix rule, the MIME table of §5.2,
//! the caching of §5.3, `HEAD`, the built-in page without `HAPI_WEB_DIR`, the 503 without an
//! `index.html`, and that no request path — encoded dots or slashes, symlinks — reads a file
//! outside the directory.

mod common;

use common::{Closed, Hub, Resp, TempDir, request_bytes};
use std::path::{Path, PathBuf};
use std::time::Duration;

const INDEX: &str = "<!doctype html><html><head><title>fake app</title></head>\
<body><div id=\"root\">FAKE-INDEX-7c1e</div></body></html>";
const APP_JS: &str = "console.log('FAKE-APP-JS-19ab');\n";
const SW_JS: &str = "self.addEventListener('fetch', () => {}); // FAKE-SW\n";
/// A file next to (outside) the web directory; its contents must never be served.
const SECRET: &str = "SECRET-OUTSIDE-THE-WEB-DIR-5d2f";

/// A web directory `<tmp>/web` with a fake bundle, and `<tmp>/secret.txt` outside it.
struct Bundle {
    tmp: TempDir,
}

impl Bundle {
    fn new() -> Bundle {
        let tmp = TempDir::new("webapp");
        let web = tmp.path().join("web");
        let files: &[(&str, &[u8])] = &[
            ("index.html", INDEX.as_bytes()),
            ("404.html", b"<!doctype html><p>not found page</p>"),
            ("sw.js", SW_JS.as_bytes()),
            (
                "manifest.webmanifest",
                br#"{"name":"Fake","start_url":"/"}"#,
            ),
            ("favicon.ico", &[0, 0, 1, 0, 1, 0]),
            ("icon.svg", br#"<svg xmlns="http://www.w3.org/2000/svg"/>"#),
            ("pwa-192x192.png", b"\x89PNG\r\n\x1a\nfake"),
            ("robots.txt", b"User-agent: *\n"),
            ("data.json", br#"{"a":1}"#),
            ("sitemap.xml", b"<?xml version=\"1.0\"?><urlset/>"),
            ("photo.JPG", b"\xff\xd8\xff fake jpeg"),
            ("blob.bin", b"\x00\x01\x02"),
            ("assets/index-DJkjXFN2.js", APP_JS.as_bytes()),
            ("assets/index-CUjniYYP.css", b"body{color:red}"),
            ("assets/chunk-AbC.mjs", b"export default 1;"),
            ("assets/index-DJkjXFN2.js.map", br#"{"version":3}"#),
            ("assets/module.wasm", b"\x00asm\x01\x00\x00\x00"),
            ("assets/pic.gif", b"GIF89a"),
            ("assets/pic.webp", b"RIFF0000WEBP"),
            ("assets/pic.jpeg", b"\xff\xd8\xff"),
            ("assets/fonts/KaTeX_Main-Regular.woff2", b"wOF2fake"),
            ("assets/fonts/KaTeX_Main-Regular.woff", b"wOFFfake"),
            ("assets/fonts/x.ttf", b"\x00\x01\x00\x00"),
            ("assets/fonts/x.otf", b"OTTO"),
            ("assets/with space.js", b"// spaced\n"),
        ];
        for (rel, body) in files {
            let p = web.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, body).unwrap();
        }
        std::fs::write(tmp.path().join("secret.txt"), SECRET).unwrap();
        std::fs::create_dir_all(tmp.path().join("secretdir")).unwrap();
        std::fs::write(tmp.path().join("secretdir/inner.txt"), SECRET).unwrap();
        // Symlinks inside the web directory that point outside it.
        std::os::unix::fs::symlink(tmp.path().join("secret.txt"), web.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secretdir"), web.join("linkdir")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", web.join("passwd")).unwrap();
        Bundle { tmp }
    }

    fn web(&self) -> PathBuf {
        self.tmp.path().join("web")
    }

    fn file(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.web().join(rel)).unwrap()
    }

    fn hub(&self) -> Hub {
        start_with_dir(&self.web())
    }
}

fn start_with_dir(dir: &Path) -> Hub {
    Hub::options()
        .env("HAPI_WEB_DIR", dir.to_str().expect("utf-8 temp path"))
        .start()
}

fn assert_index(r: &Resp, what: &str) {
    assert_eq!(r.status, 200, "{what}: {r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("text/html; charset=utf-8"),
        "{what}: {r:?}"
    );
    assert_eq!(r.text(), INDEX, "{what}: not index.html: {r:?}");
}

fn assert_not_found_text(r: &Resp, what: &str) {
    assert_eq!(r.status, 404, "{what}: {r:?}");
    let ct = r.header("content-type").unwrap_or("");
    assert!(ct.starts_with("text/plain"), "{what}: content-type {ct:?}");
    assert_eq!(r.text(), "404 Not Found", "{what}: {r:?}");
}

/// Sends raw request bytes with `Connection: close` and returns every byte until the close.
fn raw_exchange(hub: &Hub, bytes: &[u8]) -> Vec<u8> {
    let mut c = hub.conn();
    c.send(bytes);
    let (how, got) = c.read_until_closed(Duration::from_secs(10));
    assert_ne!(
        how,
        Closed::Timeout,
        "hub kept the connection open after Connection: close"
    );
    got
}

/// Splits a single raw response into (head text, bytes after the blank line).
fn split_head(bytes: &[u8]) -> (String, Vec<u8>) {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(bytes)));
    (
        String::from_utf8_lossy(&bytes[..end]).into_owned(),
        bytes[end + 4..].to_vec(),
    )
}

fn head_header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

// ---------------------------------------------------------------- exact files and fallback

#[test]
fn exact_paths_serve_the_files() {
    let b = Bundle::new();
    let hub = b.hub();
    for rel in [
        "sw.js",
        "manifest.webmanifest",
        "favicon.ico",
        "icon.svg",
        "pwa-192x192.png",
        "404.html",
        "assets/index-DJkjXFN2.js",
        "assets/index-CUjniYYP.css",
        "assets/fonts/KaTeX_Main-Regular.woff2",
    ] {
        let r = hub.get(&format!("/{rel}"), None);
        assert_eq!(r.status, 200, "/{rel}: {r:?}");
        assert_eq!(r.body, b.file(rel), "/{rel}: wrong body");
    }
    assert_index(&hub.get("/", None), "/");
    assert_index(&hub.get("/index.html", None), "/index.html");
    // A percent-encoded name is decoded before the lookup.
    let r = hub.get("/assets/with%20space.js", None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "// spaced\n");
    // The query string plays no part in the lookup.
    let r = hub.get("/assets/index-DJkjXFN2.js?v=3&token=abc", None);
    assert_eq!(r.text(), APP_JS, "{r:?}");
}

#[test]
fn client_routes_and_missing_files_fall_back_to_index_html() {
    let b = Bundle::new();
    let hub = b.hub();
    for path in [
        "/sessions/x",
        "/sessions/5c1d0e9c-1f9e-4a55-9a59-1d1f1b3c9e00",
        "/sessions/abc/terminal",
        "/settings",
        "/?token=abc&hub=http%3A%2F%2Fexample",
        "/?tgWebAppData=x",
        "/assets/missing.js",
        "/assets/",
        "/assets",
        "/sw.js/extra",
        "/index.html/",
        "/INDEX.HTML",
        "/SW.JS",
        "/no/such/deep/path.png",
        "//",
        "/.",
        "/%00",
        "/%ff%fe",
    ] {
        assert_index(&hub.get(path, None), path);
    }
}

#[test]
fn api_prefix_is_never_the_app() {
    let b = Bundle::new();
    let hub = b.hub();
    // Starts with "/api" but is not under /api/: neither a file nor the fallback.
    for path in ["/apifoo", "/apifoo/bar", "/api-docs", "/apis/index.html"] {
        assert_not_found_text(&hub.get(path, None), path);
    }
    // Under /api/: the JWT middleware, then 404 text for unknown routes — never index.html.
    let r = hub.get("/api/sessions", None);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(!r.text().contains("FAKE-INDEX"), "{r:?}");
    let jwt = hub.jwt("default");
    assert_not_found_text(
        &hub.get("/api/no-such-route", Some(&jwt)),
        "/api/no-such-route",
    );
    assert_not_found_text(&hub.get("/api/index.html", Some(&jwt)), "/api/index.html");
    // Health stays health.
    let r = hub.get("/health", None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["status"], "ok");
}

#[test]
fn other_methods_on_app_paths_answer_404_text() {
    let b = Bundle::new();
    let hub = b.hub();
    for (method, path) in [
        ("POST", "/sessions/abc"),
        ("POST", "/"),
        ("PUT", "/index.html"),
        ("DELETE", "/assets/index-DJkjXFN2.js"),
        ("PATCH", "/sw.js"),
        ("POST", "/share"),
    ] {
        let r = hub.request(method, path, &[], b"");
        assert_not_found_text(&r, &format!("{method} {path}"));
    }
}

// ---------------------------------------------------------------- MIME types and caching

#[test]
fn content_types_follow_the_mime_table() {
    let b = Bundle::new();
    let hub = b.hub();
    for (path, ct) in [
        ("/index.html", "text/html; charset=utf-8"),
        ("/404.html", "text/html; charset=utf-8"),
        ("/sw.js", "text/javascript; charset=utf-8"),
        (
            "/assets/index-DJkjXFN2.js",
            "text/javascript; charset=utf-8",
        ),
        ("/assets/chunk-AbC.mjs", "text/javascript; charset=utf-8"),
        ("/assets/index-CUjniYYP.css", "text/css; charset=utf-8"),
        ("/data.json", "application/json; charset=utf-8"),
        (
            "/assets/index-DJkjXFN2.js.map",
            "application/json; charset=utf-8",
        ),
        (
            "/manifest.webmanifest",
            "application/manifest+json; charset=utf-8",
        ),
        ("/robots.txt", "text/plain; charset=utf-8"),
        ("/sitemap.xml", "application/xml; charset=utf-8"),
        ("/assets/module.wasm", "application/wasm"),
        ("/pwa-192x192.png", "image/png"),
        ("/photo.JPG", "image/jpeg"),
        ("/assets/pic.jpeg", "image/jpeg"),
        ("/assets/pic.gif", "image/gif"),
        ("/assets/pic.webp", "image/webp"),
        ("/icon.svg", "image/svg+xml"),
        ("/favicon.ico", "image/x-icon"),
        ("/assets/fonts/KaTeX_Main-Regular.woff", "font/woff"),
        ("/assets/fonts/KaTeX_Main-Regular.woff2", "font/woff2"),
        ("/assets/fonts/x.ttf", "font/ttf"),
        ("/assets/fonts/x.otf", "font/otf"),
        ("/blob.bin", "application/octet-stream"),
    ] {
        let r = hub.get(path, None);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.header("content-type"), Some(ct), "{path}");
    }
}

#[test]
fn service_worker_is_never_cached_and_hashed_assets_are_immutable() {
    let b = Bundle::new();
    let hub = b.hub();

    let sw = hub.get("/sw.js", None);
    assert_eq!(sw.status, 200, "{sw:?}");
    let cc = sw.header("cache-control").unwrap_or("");
    assert!(cc.contains("no-store"), "/sw.js Cache-Control: {cc:?}");
    assert!(!cc.contains("max-age=3"), "/sw.js Cache-Control: {cc:?}");
    assert_eq!(sw.header("cdn-cache-control"), Some("no-store"), "{sw:?}");
    assert_eq!(
        sw.header("cloudflare-cdn-cache-control"),
        Some("no-store"),
        "{sw:?}"
    );

    for path in [
        "/assets/index-DJkjXFN2.js",
        "/assets/index-CUjniYYP.css",
        "/assets/fonts/KaTeX_Main-Regular.woff2",
    ] {
        let r = hub.get(path, None);
        let cc = r.header("cache-control").unwrap_or("");
        assert!(
            cc.contains("immutable") && cc.contains("max-age=31536000"),
            "{path} Cache-Control: {cc:?}"
        );
    }

    // index.html, directly or as the fallback, must not be cached as immutable: a new
    // deployment has to reach the browser.
    for path in ["/", "/index.html", "/sessions/x", "/assets/missing.js"] {
        let r = hub.get(path, None);
        let cc = r.header("cache-control").unwrap_or("");
        assert!(!cc.contains("immutable"), "{path} Cache-Control: {cc:?}");
        assert!(
            !cc.contains("max-age=31536000"),
            "{path} Cache-Control: {cc:?}"
        );
    }
}

// ---------------------------------------------------------------- HEAD

#[test]
fn head_has_the_get_headers_and_no_body() {
    let b = Bundle::new();
    let hub = b.hub();
    for (path, len) in [
        ("/assets/index-DJkjXFN2.js", APP_JS.len()),
        ("/sw.js", SW_JS.len()),
        ("/", INDEX.len()),
        ("/sessions/x", INDEX.len()),
    ] {
        let got = raw_exchange(&hub, &request_bytes("HEAD", path, &[], b"", true));
        let (head, rest) = split_head(&got);
        assert!(head.starts_with("HTTP/1.1 200"), "HEAD {path}: {head}");
        assert_eq!(
            head_header(&head, "content-length"),
            Some(len.to_string().as_str()),
            "HEAD {path}: {head}"
        );
        assert!(rest.is_empty(), "HEAD {path}: {} body bytes", rest.len());
        let get = hub.get(path, None);
        assert_eq!(
            head_header(&head, "content-type"),
            get.header("content-type"),
            "HEAD {path} vs GET"
        );
        assert_eq!(
            head_header(&head, "cache-control"),
            get.header("cache-control"),
            "HEAD {path} vs GET"
        );
    }
    // A HEAD and a GET pipelined on one keep-alive connection: the GET's bytes are not eaten
    // as the HEAD's body.
    let mut c = hub.conn();
    let mut bytes = request_bytes("HEAD", "/sw.js", &[], b"", false);
    bytes.extend(request_bytes("GET", "/robots.txt", &[], b"", true));
    c.send(&bytes);
    let h = c.read_response("HEAD");
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    let g = c.read_response("GET");
    assert_eq!(g.status, 200, "{g:?}");
    assert_eq!(g.text(), "User-agent: *\n");
}

// ---------------------------------------------------------------- no app configured

#[test]
fn without_a_web_dir_the_root_is_a_built_in_page() {
    let hub = Hub::start(&[]);
    let r = hub.get("/", None);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/html"),
        "{r:?}"
    );
    let page = r.text();
    assert!(page.contains("hapid"), "says what it is: {page}");
    assert!(
        page.to_lowercase().contains("running"),
        "says it runs: {page}"
    );
    assert!(
        page.contains("HAPI_WEB_DIR"),
        "says how to point it at a web app: {page}"
    );
    // The hub's status and the first steps (issue 19), never the token.
    assert!(page.contains(env!("CARGO_PKG_VERSION")), "version: {page}");
    assert!(
        page.contains("<td id=\"machines-online\">0</td>"),
        "machines: {page}"
    );
    assert!(
        page.contains("<td id=\"sessions\">0 (0 active)</td>"),
        "sessions: {page}"
    );
    assert!(
        page.contains("scripts/fetch-web.sh"),
        "how to get the app: {page}"
    );
    assert!(
        page.contains("hapi runner start"),
        "how to connect a machine: {page}"
    );
    assert!(
        !page.contains(&hub.token()),
        "the page never shows the token"
    );
    let r = hub.post_json(
        "/cli/sessions",
        Some(&hub.token()),
        &serde_json::json!({ "tag": "t1", "metadata": { "path": "/tmp/p", "flavor": "claude" } }),
    );
    assert_eq!(r.status, 200, "POST /cli/sessions: {r:?}");
    let page = hub.get("/", None).text();
    assert!(
        page.contains("<td id=\"sessions\">1 (0 active)</td>"),
        "{page}"
    );
    // HEAD / agrees.
    let got = raw_exchange(&hub, &request_bytes("HEAD", "/", &[], b"", true));
    let (head, rest) = split_head(&got);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        head_header(&head, "content-length"),
        Some(page.len().to_string().as_str())
    );
    assert!(rest.is_empty());
    // The API is unaffected and /apifoo is still no app path.
    assert_eq!(hub.get("/health", None).status, 200);
    assert_not_found_text(&hub.get("/apifoo", None), "/apifoo");
    // Traversal attempts never read files, here either.
    for path in ["/..%2f..%2fetc/passwd", "/%2e%2e/%2e%2e/etc/passwd"] {
        let r = hub.get(path, None);
        assert!(!r.text().contains("root:"), "{path}: {r:?}");
    }
}

#[test]
fn hapi_home_web_is_found_without_hapi_web_dir() {
    let home = TempDir::new("home-web");
    std::fs::create_dir_all(home.path().join("web/assets")).unwrap();
    std::fs::write(
        home.path().join("web/index.html"),
        "<!doctype html><p>the app</p>",
    )
    .unwrap();
    std::fs::write(home.path().join("web/assets/a.js"), "x").unwrap();
    let hub = Hub::options().home(home.path()).start();
    let r = hub.get("/sessions/abc", None);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text().contains("the app"), "{r:?}");
    assert_eq!(hub.get("/assets/a.js", None).text(), "x");
    let banner = hub.stdout.text();
    assert!(
        banner.contains(&format!(
            "web app:    {}",
            home.path().join("web").display()
        )),
        "{banner}"
    );
}

#[test]
fn a_web_dir_without_index_html_answers_503_text() {
    let tmp = TempDir::new("webapp-noindex");
    std::fs::create_dir_all(tmp.path().join("assets")).unwrap();
    std::fs::write(tmp.path().join("assets/app.js"), APP_JS).unwrap();
    let hub = start_with_dir(tmp.path());
    for path in ["/", "/sessions/x"] {
        let r = hub.get(path, None);
        assert_eq!(r.status, 503, "{path}: {r:?}");
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("text/plain"),
            "{path}: {r:?}"
        );
        assert!(r.text().contains("index.html"), "{path}: {r:?}");
    }
}

// ---------------------------------------------------------------- path traversal

#[test]
fn traversal_never_leaves_the_directory() {
    let b = Bundle::new();
    let hub = b.hub();
    // Encoded forms reach the app with a well-formed request line: they must get index.html
    // (the SPA fallback) — never the file they name.
    for path in [
        "/..%2f..%2fetc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/..%2fsecret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/..%5csecret.txt",
        "/..%5c..%5cetc%5cpasswd",
        "/%252e%252e/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/..%c0%afsecret.txt",
        "/..%00/secret.txt",
        "/secret.txt",
        "/secretdir/inner.txt",
        // Symlinks inside the directory that point outside it.
        "/link.txt",
        "/linkdir/inner.txt",
        "/passwd",
        "/%2Fetc%2Fpasswd",
        "//etc/passwd",
    ] {
        let r = hub.get(path, None);
        assert!(!r.text().contains(SECRET), "{path} leaked a file: {r:?}");
        assert!(!r.text().contains("root:"), "{path} leaked /etc/passwd");
        assert_index(&r, path);
    }
    // Raw dot segments: the hub may refuse the request line (4xx) or fall back to
    // index.html, but never serves what they name.
    for path in [
        "/../secret.txt",
        "/../../../../../../etc/passwd",
        "/assets/../../secret.txt",
        "/./../secret.txt",
        "/..\\secret.txt",
    ] {
        let got = raw_exchange(&hub, &request_bytes("GET", path, &[], b"", true));
        let text = String::from_utf8_lossy(&got);
        assert!(!text.contains(SECRET), "{path} leaked a file: {text}");
        assert!(!text.contains("root:"), "{path} leaked /etc/passwd");
        let r =
            common::parse_response(&got).unwrap_or_else(|| panic!("{path}: no response: {text}"));
        assert!(
            (400..500).contains(&r.status) || r.text() == INDEX,
            "{path}: neither refused nor index.html: {r:?}"
        );
    }
}

/// Dotfiles and dot-directories in the web directory (`.env`, `.git/config`, a swap file) are
/// never served: they fall back to index.html like any unknown path. `.well-known/` is served.
#[test]
fn dotfiles_are_never_served() {
    let b = Bundle::new();
    let web = b.web();
    std::fs::write(web.join(".env"), SECRET).unwrap();
    std::fs::create_dir_all(web.join(".git")).unwrap();
    std::fs::write(web.join(".git/config"), SECRET).unwrap();
    std::fs::write(web.join("assets/.app.js.swp"), SECRET).unwrap();
    std::fs::create_dir_all(web.join(".well-known")).unwrap();
    std::fs::write(web.join(".well-known/security.txt"), "Contact: x").unwrap();
    let hub = b.hub();
    for path in ["/.env", "/.git/config", "/assets/.app.js.swp", "/%2eenv"] {
        let r = hub.get(path, None);
        assert!(!r.text().contains(SECRET), "{path} leaked: {r:?}");
        assert_index(&r, path);
    }
    let r = hub.get("/.well-known/security.txt", None);
    assert_eq!((r.status, r.text().as_str()), (200, "Contact: x"), "{r:?}");
}
