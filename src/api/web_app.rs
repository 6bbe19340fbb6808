//! The web app: files from `HAPI_WEB_DIR` by the rules of spec/http-general.md §5 — exact path
//! lookup, SPA fallback to `index.html` for every GET/HEAD not under `/api`, the MIME table of
//! §5.2 and the caching of §5.3 — or a small built-in page when no directory is configured:
//! the hub's status (machines online, sessions, version) and the first steps (fetch the web
//! app, connect a machine, open the phone URL), without the token, which it never shows.
//!
//! The directory is indexed once at startup (relative path → file); a request can only ever
//! name a file of that index, so no path (`..`, encoded slashes, symlinks out) leaves it.
//! Dotfiles and dot-directories are left out of the index (`.well-known/` excepted).

use crate::http::{Head, Response};
use crate::hub::Hub;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Largest file served.
const MAX_FILE: u64 = 64 * 1024 * 1024;
/// Most files indexed.
const MAX_FILES: usize = 20_000;

/// The served app.
pub enum WebApp {
    /// No directory configured: the built-in page.
    Builtin,
    /// A directory, indexed: URL path (`/assets/x.js`) → file.
    Dir {
        root: PathBuf,
        files: HashMap<String, PathBuf>,
    },
}

impl WebApp {
    /// Indexes `dir` (or the built-in page when `None`).
    pub fn load(dir: Option<&Path>) -> WebApp {
        let Some(root) = dir else {
            return WebApp::Builtin;
        };
        let mut files = HashMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                // Dotfiles and dot-directories (`.env`, `.git/`, editor swap files) are never
                // part of a built web app and often hold secrets; `.well-known/` is the one
                // dot-directory a site publishes on purpose.
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name != ".well-known" {
                    continue;
                }
                let Ok(ft) = e.file_type() else { continue };
                let p = e.path();
                if ft.is_dir() {
                    stack.push(p);
                } else if ft.is_file() && files.len() < MAX_FILES {
                    let Ok(rel) = p.strip_prefix(root) else {
                        continue;
                    };
                    let url: Vec<String> = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    files.insert(format!("/{}", url.join("/")), p);
                }
            }
        }
        WebApp::Dir {
            root: root.to_path_buf(),
            files,
        }
    }

    /// Answers a request for a path not under `/api` (HEAD is answered like GET by the caller).
    /// `hub` is read (counts only) for the built-in page.
    pub fn serve(&self, head: &Head, hub: &Hub) -> Response {
        if head.method != "GET" && head.method != "HEAD" {
            return Response::not_found();
        }
        match self {
            WebApp::Builtin => Response::new(
                200,
                "text/html; charset=utf-8",
                builtin_page(&Status::of(hub)),
            )
            .header("Cache-Control", "no-store"),
            WebApp::Dir { root, files } => {
                let decoded = crate::auth::form::percent_decode(&head.path);
                let path = String::from_utf8_lossy(&decoded);
                if let Some(f) = files.get(path.as_ref()) {
                    return file_response(path.as_ref(), f);
                }
                match files.get("/index.html") {
                    Some(index) => file_response("/index.html", index),
                    None => Response::new(
                        503,
                        "text/plain; charset=UTF-8",
                        format!(
                            "The web app in {} has no index.html. Point HAPI_WEB_DIR at a built web app (the dist folder).",
                            root.display()
                        ),
                    ),
                }
            }
        }
    }
}

fn file_response(url_path: &str, file: &Path) -> Response {
    let body = match std::fs::metadata(file) {
        Ok(m) if m.len() <= MAX_FILE => std::fs::read(file),
        Ok(_) => return Response::error(500, "File too large"),
        Err(e) => Err(e),
    };
    let body = match body {
        Ok(b) => b,
        Err(_) => return Response::not_found(),
    };
    let mut r = Response::new(200, mime(url_path), body);
    if url_path == "/sw.js" {
        r = r
            .header("Cache-Control", "no-store, no-cache, must-revalidate")
            .header("CDN-Cache-Control", "no-store")
            .header("Cloudflare-CDN-Cache-Control", "no-store");
    } else if url_path.starts_with("/assets/") {
        r = r.header("Cache-Control", "public, max-age=31536000, immutable");
    } else if url_path == "/index.html" {
        r = r.header("Cache-Control", "no-cache");
    }
    r
}

/// Content type by extension (spec/http-general.md §5.2).
pub fn mime(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json; charset=utf-8",
        "webmanifest" => "application/manifest+json; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml; charset=utf-8",
        "wasm" => "application/wasm",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        _ => "application/octet-stream",
    }
}

/// What the built-in page reports: counts over every namespace, nothing that names one.
pub struct Status {
    /// Machines with a live runner.
    pub machines_online: usize,
    /// Sessions known.
    pub sessions: usize,
    /// Sessions with a live CLI.
    pub sessions_active: usize,
    /// `HAPI_PUBLIC_URL`.
    pub public_url: String,
}

impl Status {
    /// Reads the counts from the hub.
    pub fn of(hub: &Hub) -> Status {
        Status {
            machines_online: hub.machines.values().filter(|m| m.active).count(),
            sessions: hub.sessions.len(),
            sessions_active: hub.sessions.values().filter(|s| s.active).count(),
            public_url: hub.settings.public_url.clone(),
        }
    }
}

/// The page served when no web app is installed: status, then the same steps as the banner.
pub fn builtin_page(st: &Status) -> String {
    let public = html_escape(st.public_url.trim_end_matches('/'));
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>hapid</title></head>\
<body style=\"font-family:system-ui,sans-serif;max-width:42em;margin:3em auto;padding:0 1em;line-height:1.5\">\
<h1>hapid is running</h1>\
<p>This is hapid, a small hub for HAPI: the <code>hapi</code> CLI connects here, and the web app \
talks to its <code>/api</code>.</p>\
<table id=\"status\"><tr><th align=\"left\">Version</th><td>{version}</td></tr>\
<tr><th align=\"left\">Machines online</th><td id=\"machines-online\">{machines}</td></tr>\
<tr><th align=\"left\">Sessions</th><td id=\"sessions\">{sessions} ({active} active)</td></tr>\
<tr><th align=\"left\">Health</th><td><a href=\"/health\">/health</a></td></tr></table>\
<h2>No web app is installed yet</h2><ol>\
<li><p>Fetch the web app on the hub's machine, then restart hapid (it looks in \
<code>$HAPI_HOME/web</code>; <code>HAPI_WEB_DIR</code> names another place):</p>\
<pre>scripts/fetch-web.sh \"$HAPI_HOME/web\"</pre></li>\
<li><p>Connect a machine, where the <code>hapi</code> CLI runs. The token is \
<code>cliApiToken</code> in <code>settings.json</code> under hapid's <code>HAPI_HOME</code> \
(hapid prints it when started on a terminal):</p>\
<pre>HAPI_API_URL={public} CLI_API_TOKEN=&lt;token&gt; hapi runner start</pre></li>\
<li><p>Open on your phone:</p><pre>{public}/?token=&lt;token&gt;</pre></li></ol>\
</body></html>",
        version = env!("CARGO_PKG_VERSION"),
        machines = st.machines_online,
        sessions = st.sessions,
        active = st.sessions_active,
    )
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_table() {
        assert_eq!(mime("/a/B.JS"), "text/javascript; charset=utf-8");
        assert_eq!(
            mime("/x.webmanifest"),
            "application/manifest+json; charset=utf-8"
        );
        assert_eq!(mime("/noext"), "application/octet-stream");
    }

    #[test]
    fn builtin_page_shows_status_and_steps() {
        let page = builtin_page(&Status {
            machines_online: 2,
            sessions: 5,
            sessions_active: 1,
            public_url: "http://pi.local:3006/<x>".into(),
        });
        assert!(page.contains("<td id=\"machines-online\">2</td>"), "{page}");
        assert!(page.contains("5 (1 active)"), "{page}");
        assert!(page.contains(env!("CARGO_PKG_VERSION")), "{page}");
        assert!(page.contains("scripts/fetch-web.sh"), "{page}");
        assert!(page.contains("HAPI_API_URL=http://pi.local:3006/&lt;x&gt; CLI_API_TOKEN=&lt;token&gt; hapi runner start"), "{page}");
        assert!(
            page.contains("http://pi.local:3006/&lt;x&gt;/?token=&lt;token&gt;"),
            "{page}"
        );
    }
}
