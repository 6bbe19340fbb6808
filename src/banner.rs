//! The start-up banner: where the hub listens, where its files are, and what to do next —
//! the `hapi` CLI command line with the hub URL and the token, and the phone URL, also as a
//! QR code.
//!
//! The token is a secret, so it is shown only to a person at an interactive terminal (the
//! caller says whether stdout is one). Anywhere else — a pipe, a log file, the journal — the
//! banner names the file the token lives in instead (`settings.json` under `HAPI_HOME`,
//! key `cliApiToken`), and draws no QR code (it would carry the token).
//!
//! Pure text: no IO, so the tests read the banner as a user would.

use crate::config::TokenSource;
use crate::qr::{Ecc, QrCode};
use std::net::SocketAddr;
use std::path::Path;

/// What the banner reports.
pub struct Facts<'a> {
    /// hapid's version.
    pub version: &'a str,
    /// The address bound.
    pub bound: SocketAddr,
    /// The listener speaks TLS (`HAPID_TLS_CERT`): `https://` in the first line.
    pub tls: bool,
    /// `HAPI_PUBLIC_URL` (or its default).
    pub public_url: &'a str,
    /// `HAPI_HOME`.
    pub home: &'a Path,
    /// The database file.
    pub db_path: &'a Path,
    /// The web app served, if any (`None`: the built-in page).
    pub web_dir: Option<&'a Path>,
    /// Where the token came from.
    pub token_source: TokenSource,
    /// The token itself (shown only when `tty`).
    pub token: &'a str,
}

/// The phone URL: the public URL with the token as `?token=` (the web app logs in with it).
pub fn phone_url(public_url: &str, token: &str) -> String {
    let base = public_url.trim_end_matches('/');
    format!("{base}/?token={}", query_escape(token))
}

/// Whether `url` names this machine only (`localhost`, `127.x.x.x`, `[::1]`): a phone cannot
/// open it.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost") || host.starts_with("127.") || host == "::1"
}

/// The banner text. The first line is always `hapid <version> listening on http(s)://<addr>`
/// (scripts and tests wait for it); with `tty` the token and a QR code of the phone URL
/// appear, otherwise neither does.
pub fn render(f: &Facts, tty: bool) -> String {
    let settings = f.home.join("settings.json");
    let token_line = match f.token_source {
        TokenSource::Env => "from CLI_API_TOKEN".to_string(),
        TokenSource::File => format!("from {}", settings.display()),
        TokenSource::Generated => format!("generated and saved to {}", settings.display()),
    };
    let web = match f.web_dir {
        Some(d) => d.display().to_string(),
        None => format!(
            "none (a built-in page); scripts/fetch-web.sh installs it in {}",
            f.home.join("web").display()
        ),
    };
    format!(
        "hapid {} listening on {}://{}\n  public URL: {}\n  database:   {}\n  web app:    {web}\n  token:      {token_line}\n\n{}",
        f.version,
        if f.tls { "https" } else { "http" },
        f.bound,
        f.public_url.trim_end_matches('/'),
        f.db_path.display(),
        next_steps(f, tty),
    )
}

/// The "Next steps:" block of the banner (also `hapid pair`): fetch the web app when none is
/// installed, connect a machine, open the phone URL; with `tty` the token and the QR code.
pub fn next_steps(f: &Facts, tty: bool) -> String {
    let settings = f.home.join("settings.json");
    let token_shown = match (tty, f.token_source) {
        (true, _) => f.token.to_string(),
        (false, TokenSource::Env) => "\"$CLI_API_TOKEN\"".to_string(),
        (false, _) => format!("<cliApiToken in {}>", settings.display()),
    };
    let public = f.public_url.trim_end_matches('/');
    let mut s = String::from("Next steps:\n");
    let mut step = 1;
    if f.web_dir.is_none() {
        s.push_str(&format!(
            "  {step}. Fetch the web app, then restart hapid:\n       scripts/fetch-web.sh {}\n",
            f.home.join("web").display()
        ));
        step += 1;
    }
    s.push_str(&format!(
        "  {step}. Connect a machine (where the hapi CLI runs):\n       HAPI_API_URL={public} CLI_API_TOKEN={token_shown} hapi runner start\n"
    ));
    step += 1;
    let phone = if tty {
        phone_url(public, f.token)
    } else {
        format!("{public}/?token={token_shown}")
    };
    s.push_str(&format!("  {step}. Open on your phone:\n       {phone}\n"));
    if is_loopback_url(public) {
        s.push_str(
            "     (this URL is this machine only: for a phone, listen on the network and name the\n      \
             address it reaches, e.g. HAPI_LISTEN_HOST=0.0.0.0 HAPI_PUBLIC_URL=http://<this host>:3006)\n",
        );
    }
    if tty {
        match QrCode::encode(phone.as_bytes(), Ecc::Medium)
            .or_else(|_| QrCode::encode(phone.as_bytes(), Ecc::Low))
        {
            Ok(q) => {
                s.push('\n');
                s.push_str(&q.to_half_blocks(2, true));
            }
            Err(e) => s.push_str(&format!("     (no QR code: {e})\n")),
        }
    }
    s
}

/// Percent-encodes what a query value must not hold raw (`TOKEN:namespace` keeps its colon).
fn query_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "Kq3xY2w0bM1c9sVhZrT4uPaEeN7dLfGiOjHk5Wm8Qn6";

    fn facts(
        source: TokenSource,
        web: Option<&'static Path>,
        public: &'static str,
    ) -> Facts<'static> {
        Facts {
            version: "0.1.0",
            bound: "0.0.0.0:3006".parse().unwrap(),
            tls: false,
            public_url: public,
            home: Path::new("/var/lib/hapid"),
            db_path: Path::new("/var/lib/hapid/hapid.db"),
            web_dir: web,
            token_source: source,
            token: TOKEN,
        }
    }

    #[test]
    fn not_a_tty_never_shows_the_token() {
        for source in [TokenSource::Generated, TokenSource::File, TokenSource::Env] {
            let b = render(&facts(source, None, "http://pi.local:3006"), false);
            assert!(!b.contains(TOKEN), "{b}");
            assert!(
                !b.contains('▀') && !b.contains('█'),
                "no QR code off a tty:\n{b}"
            );
            assert!(
                b.starts_with("hapid 0.1.0 listening on http://0.0.0.0:3006\n"),
                "{b}"
            );
            assert!(
                b.contains("HAPI_API_URL=http://pi.local:3006 CLI_API_TOKEN="),
                "{b}"
            );
            assert!(b.contains("hapi runner start"), "{b}");
            assert!(b.contains("scripts/fetch-web.sh /var/lib/hapid/web"), "{b}");
        }
        let b = render(
            &facts(TokenSource::Generated, None, "http://pi.local:3006/"),
            false,
        );
        assert!(
            b.contains("http://pi.local:3006/?token=<cliApiToken in /var/lib/hapid/settings.json>"),
            "{b}"
        );
        let b = render(
            &facts(TokenSource::Env, None, "http://pi.local:3006"),
            false,
        );
        assert!(
            b.contains("CLI_API_TOKEN=\"$CLI_API_TOKEN\" hapi runner start"),
            "{b}"
        );
    }

    #[test]
    fn a_tty_gets_the_token_the_phone_url_and_its_qr_code() {
        let web = Some(Path::new("/var/lib/hapid/web"));
        let b = render(&facts(TokenSource::File, web, "http://pi.local:3006"), true);
        assert!(
            b.contains(&format!(
                "HAPI_API_URL=http://pi.local:3006 CLI_API_TOKEN={TOKEN} hapi runner start"
            )),
            "{b}"
        );
        assert!(
            b.contains(&format!("http://pi.local:3006/?token={TOKEN}\n")),
            "{b}"
        );
        assert!(b.contains("web app:    /var/lib/hapid/web"), "{b}");
        assert!(!b.contains("fetch-web"), "{b}");
        assert!(!b.contains("this machine only"), "{b}");
        let qr = QrCode::encode(
            phone_url("http://pi.local:3006", TOKEN).as_bytes(),
            Ecc::Medium,
        )
        .unwrap();
        assert!(b.ends_with(&qr.to_half_blocks(2, true)), "{b}");
    }

    #[test]
    fn loopback_public_url_says_how_a_phone_gets_in() {
        let b = render(
            &facts(TokenSource::File, None, "http://localhost:3006"),
            true,
        );
        assert!(b.contains("HAPI_LISTEN_HOST=0.0.0.0"), "{b}");
        for (url, lo) in [
            ("http://localhost:3006", true),
            ("http://127.0.0.1:3006/x", true),
            ("http://[::1]:3006", true),
            ("https://LOCALHOST", true),
            ("http://192.168.1.20:3006", false),
            ("https://hapi.example.org", false),
            ("http://[fe80::1]:3006", false),
        ] {
            assert_eq!(is_loopback_url(url), lo, "{url}");
        }
    }

    #[test]
    fn phone_url_escapes_the_token() {
        assert_eq!(
            phone_url("http://h:1/", "a b&c:ns"),
            "http://h:1/?token=a%20b%26c:ns"
        );
    }
}
