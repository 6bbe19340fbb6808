//! TLS on the listener: certificate loading, a reloadable server config, and the
//! [`Transport`] a connection reads and writes through (plain TCP or rustls over TCP).
//!
//! It is a transport layer only: a connection above it sees plaintext bytes through
//! `read`/`write`/`flush`, exactly as on a plain socket, and asks [`Transport::wants_write`]
//! whether encrypted records still wait for the socket (its write interest). It leaves out
//! client certificates, SNI-based certificate selection, session-ticket keys shared across
//! restarts, and HTTP/2 (ALPN offers `http/1.1` only).
//!
//! ```text
//!  accept ─▶ Tls::new(config of now) ─▶ handshake (driven by read/write) ─▶ plaintext
//!                                         │ bounded by the deadline given at accept
//!  SIGHUP ─▶ Acceptor::reload: new connections get the new config, open ones keep theirs
//! ```
//!
//! Bounds: rustls holds at most 64 KiB of handshake bytes and 16 KiB of decrypted input
//! (`read_tls` refuses more), and [`Transport::read`] asks for TLS bytes only when the
//! decrypted ones are consumed; output is encrypted only when the socket took the previous
//! records, so at most one write's worth (capped at [`MAX_PLAINTEXT_WRITE`]) is ever held.

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Plaintext handed to rustls per `write` call; its record queue holds no more than this.
pub const MAX_PLAINTEXT_WRITE: usize = 16 * 1024;

/// Why a certificate or key could not be used. Every message names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a certificate chain (PEM, leaf first) and its private key (PKCS#8, PKCS#1 or
/// SEC1 PEM) and builds a server config: TLS 1.2 and 1.3 with the ring provider, ALPN
/// `http/1.1`. The key must belong to the leaf certificate.
pub fn load_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_pem = read_file(cert, "certificate")?;
    let key_pem = read_file(key, "private key")?;
    let chain = parse_chain(&cert_pem).map_err(|e| {
        TlsError(format!(
            "{}: not a PEM certificate chain: {e}",
            cert.display()
        ))
    })?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        TlsError(format!(
            "{}: not a PEM private key (PKCS#8, RSA or EC): {}",
            key.display(),
            pem_reason(&e)
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(format!("TLS setup: {e}")))?
        .with_no_client_auth();
    let mut config = builder.with_single_cert(chain, key_der).map_err(|e| {
        let why = match e {
            rustls::Error::InconsistentKeys(_) => {
                "the private key does not belong to the certificate".to_string()
            }
            other => other.to_string(),
        };
        TlsError(format!("{} with {}: {why}", key.display(), cert.display()))
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|e| TlsError(format!("{}: cannot read {what}: {e}", path.display())))
}

fn parse_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_reason(&e))?;
    if chain.is_empty() {
        return Err("no CERTIFICATE section found".into());
    }
    Ok(chain)
}

fn pem_reason(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::NoItemsFound => "no matching PEM section found".into(),
        other => other.to_string(),
    }
}

/// The certificate files and the config built from them; [`Acceptor::reload`] re-reads them.
#[derive(Debug, Clone)]
pub struct Acceptor {
    cert: PathBuf,
    key: PathBuf,
    config: Arc<ServerConfig>,
}

impl Acceptor {
    /// Loads the files; the error names the one that is missing, unreadable or wrong.
    pub fn load(cert: &Path, key: &Path) -> Result<Acceptor, TlsError> {
        Ok(Acceptor {
            config: load_config(cert, key)?,
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        })
    }

    /// Re-reads the files. On error the previous config stays in use.
    pub fn reload(&mut self) -> Result<(), TlsError> {
        self.config = load_config(&self.cert, &self.key)?;
        Ok(())
    }

    /// A server-side TLS connection over `tcp` with the current config; the handshake must
    /// finish by `handshake_deadline`.
    pub fn accept(&self, tcp: TcpStream, handshake_deadline: Instant) -> io::Result<Transport> {
        let tls = rustls::ServerConnection::new(self.config.clone()).map_err(io::Error::other)?;
        Ok(Transport::Tls(Box::new(TlsStream {
            tcp,
            tls,
            tcp_eof: false,
            handshake_deadline,
        })))
    }
}

/// One connection's socket: plain TCP, or TLS over TCP.
pub enum Transport {
    /// Plain HTTP.
    Plain(TcpStream),
    /// HTTPS (boxed: a `ServerConnection` is about a kilobyte).
    Tls(Box<TlsStream>),
}

/// rustls and its socket.
pub struct TlsStream {
    tcp: TcpStream,
    tls: rustls::ServerConnection,
    /// The socket read returned 0.
    tcp_eof: bool,
    handshake_deadline: Instant,
}

impl Transport {
    /// Whether encrypted records wait for the socket (the connection needs write interest
    /// even when it has no plaintext of its own to send).
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.tls.wants_write(),
        }
    }

    /// While the TLS handshake is unfinished: when it must be finished.
    pub fn handshake_deadline(&self) -> Option<Instant> {
        match self {
            Transport::Tls(t) if t.tls.is_handshaking() => Some(t.handshake_deadline),
            _ => None,
        }
    }

    /// The negotiated ALPN protocol (TLS only).
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Transport::Plain(_) => None,
            Transport::Tls(t) => t.tls.alpn_protocol(),
        }
    }

    /// Best effort before the socket is dropped: a TLS `close_notify` alert, if the socket
    /// takes it now (never waits).
    pub fn close(&mut self) {
        if let Transport::Tls(t) = self
            && !t.tls.is_handshaking()
        {
            t.tls.send_close_notify();
            let _ = t.push_records();
        }
    }

    /// The TCP socket (for options and registration).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &t.tcp,
        }
    }

    fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.tcp,
        }
    }
}

impl TlsStream {
    /// Writes queued records until the socket would block; `Ok(true)` when none are left.
    fn push_records(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // Decrypted bytes first: more TLS input is read only once they are consumed, so
            // rustls never holds more than one read's worth of plaintext.
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n), // 0: close_notify received
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed TCP without close_notify: an end of stream like any other
                // (HTTP frames its own messages; a truncated one is incomplete, not accepted).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.tcp_eof {
                return Ok(0);
            }
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => self.tcp_eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e), // WouldBlock included: nothing more for now
            }
            if let Err(e) = self.tls.process_new_packets() {
                // rustls queued an alert saying why; send it if the socket takes it now.
                let _ = self.push_records();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake flights (and key updates) answer at once, whatever the caller does next.
            self.push_records()?;
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.push_records()? || self.tls.is_handshaking() {
            // Records still queued, or no keys yet: take nothing (no plaintext buffered here).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self
            .tls
            .writer()
            .write(&buf[..buf.len().min(MAX_PLAINTEXT_WRITE)])?;
        self.push_records()?;
        Ok(n)
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(t) => match t.push_records()? {
                true => Ok(()),
                false => Err(io::ErrorKind::WouldBlock.into()),
            },
        }
    }
}

impl Source for Transport {
    fn register(&mut self, r: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        self.tcp_mut().register(r, token, interest)
    }

    fn reregister(&mut self, r: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        self.tcp_mut().reregister(r, token, interest)
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        self.tcp_mut().deregister(r)
    }
}

/// The answer of the plain-HTTP redirect port: `308` to the same host and target on
/// `https_port`; `400` when the request has no usable `Host`.
pub fn redirect_response(head: &crate::http::Head, https_port: u16) -> crate::http::Response {
    use crate::http::Response;
    let Some(host) = head.header("host").and_then(host_only) else {
        return Response::error(400, "Missing or invalid Host header").close();
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = if head.path.starts_with('/') {
        head.path.as_str()
    } else {
        "/"
    };
    let query = if head.query.is_empty() {
        String::new()
    } else {
        format!("?{}", head.query)
    };
    Response::new(308, "text/plain; charset=utf-8", "Use HTTPS\n")
        .header("Location", format!("https://{host}{port}{path}{query}"))
        .close()
}

/// The host of a `Host` header without its port; `None` unless it is a plain DNS name,
/// IPv4 address or bracketed IPv6 address (nothing that could bend the `Location`).
fn host_only(h: &str) -> Option<&str> {
    let h = h.trim();
    let host = if h.starts_with('[') {
        let end = h.find(']')?;
        let (host, rest) = h.split_at(end + 1);
        if !(rest.is_empty() || rest.starts_with(':')) {
            return None;
        }
        if !host[1..host.len() - 1]
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return None;
        }
        host
    } else {
        let host = h.split(':').next()?;
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return None;
        }
        host
    };
    (!host.is_empty() && host != "[]").then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_only("pi.local:3006"), Some("pi.local"));
        assert_eq!(host_only("pi"), Some("pi"));
        assert_eq!(host_only("10.0.0.2:80"), Some("10.0.0.2"));
        assert_eq!(host_only("[::1]:80"), Some("[::1]"));
        assert_eq!(host_only("[::1]"), Some("[::1]"));
        assert_eq!(host_only("[]"), None);
        assert_eq!(host_only(""), None);
        assert_eq!(host_only("evil.com/x"), None);
        assert_eq!(host_only("a@b"), None);
        assert_eq!(host_only("[::1]x"), None);
    }

    #[test]
    fn missing_files_are_named() {
        let e = load_config(
            Path::new("/nonexistent/c.pem"),
            Path::new("/nonexistent/k.pem"),
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("/nonexistent/c.pem: cannot read certificate"),
            "{e}"
        );
    }
}
