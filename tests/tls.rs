//! TLS on the listener (issue 19 part 1) against the real binary: curl and `openssl s_client`
//! as clients, a throw-away CA and server certificates made with `openssl` at test time.

mod common;

use common::{Hub, TEST_TOKEN, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sh(dir: &Path, script: &str) {
    let st = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .expect("sh");
    assert!(st.success(), "{script}");
}

/// A CA (`ca.pem`) and a server certificate `<name>.pem`/`<name>.key` for localhost and
/// 127.0.0.1 with serial `serial`.
fn make_ca(dir: &Path) {
    sh(
        dir,
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
         -keyout ca.key -out ca.pem -days 2 -subj /CN=hapid-test-ca",
    );
}

fn make_cert(dir: &Path, name: &str, serial: &str) -> (PathBuf, PathBuf) {
    sh(
        dir,
        &format!(
            "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {name}.key \
             -out {name}.csr -subj /CN=localhost
             printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > {name}.ext
             openssl x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -set_serial {serial} \
             -out {name}.pem -days 2 -extfile {name}.ext"
        ),
    );
    (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    )
}

fn tls_hub(cert: &Path, key: &Path) -> Hub {
    Hub::start(&[
        ("HAPID_TLS_CERT", cert.to_str().unwrap()),
        ("HAPID_TLS_KEY", key.to_str().unwrap()),
    ])
}

fn curl(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(dir.join("ca.pem"))
        .args(args)
        .output()
        .expect("curl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The serial number of the certificate a new connection sees.
fn served_serial(dir: &Path, port: u16) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} -CAfile ca.pem </dev/null 2>/dev/null \
             | openssl x509 -noout -serial"
        ))
        .current_dir(dir)
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn jwt(dir: &Path, hub: &Hub) -> String {
    let (ok, body, err) = curl(
        dir,
        &[
            "-H",
            "content-type: application/json",
            "-d",
            &format!("{{\"accessToken\":\"{TEST_TOKEN}\"}}"),
            &format!("https://localhost:{}/api/auth", hub.port()),
        ],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["token"].as_str().expect("token").to_string()
}

fn create_session(dir: &Path, hub: &Hub, tag: &str) {
    let (ok, body, err) = curl(
        dir,
        &[
            "-H",
            "content-type: application/json",
            "-H",
            &format!("authorization: Bearer {TEST_TOKEN}"),
            "-d",
            &format!(
                "{{\"tag\":\"{tag}\",\"metadata\":{{\"path\":\"/tmp/p\",\"flavor\":\"claude\"}}}}"
            ),
            &format!("https://localhost:{}/cli/sessions", hub.port()),
        ],
    );
    assert!(ok && body.contains("\"session\""), "{body} {err}");
}

#[test]
fn https_with_alpn_http11_and_redirect_port() {
    let d = TempDir::new("tls");
    make_ca(d.path());
    let (c, k) = make_cert(d.path(), "srv", "1001");
    let redirect = common::free_port();
    let hub = Hub::start(&[
        ("HAPID_TLS_CERT", c.to_str().unwrap()),
        ("HAPID_TLS_KEY", k.to_str().unwrap()),
        ("HAPID_TLS_REDIRECT_PORT", &redirect.to_string()),
    ]);
    assert!(hub.stdout.text().contains("listening on https://"));
    let url = format!("https://localhost:{}/health", hub.port());
    let (ok, body, err) = curl(d.path(), &["-v", &url]);
    assert!(ok, "{err}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    assert!(err.contains("ALPN: server accepted http/1.1"), "{err}");
    // Keep-alive: two requests on one TLS connection.
    let (ok, body, err) = curl(d.path(), &["-v", &url, &url]);
    assert!(ok && body.matches("\"ok\"").count() == 2, "{body} {err}");
    assert!(err.contains("Re-using existing"), "{err}");
    // Plain HTTP on the TLS port gets no answer in plaintext.
    let (ok, _, _) = curl(
        d.path(),
        &[&format!("http://127.0.0.1:{}/health", hub.port())],
    );
    assert!(!ok);
    // The redirect port.
    let out = Command::new("curl")
        .args(["-si", &format!("http://localhost:{redirect}/a/b?c=1")])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 308"), "{text}");
    assert!(
        text.contains(&format!(
            "Location: https://localhost:{}/a/b?c=1",
            hub.port()
        )),
        "{text}"
    );
}

#[test]
fn bad_files_name_the_file_and_exit_non_zero() {
    let d = TempDir::new("tls");
    make_ca(d.path());
    let (c, k) = make_cert(d.path(), "srv", "7");
    let (_c2, k2) = make_cert(d.path(), "other", "8");
    let garbage = d.path().join("garbage.pem");
    std::fs::write(&garbage, "not a pem file\n").unwrap();
    let missing = d.path().join("missing.pem");
    let cases: Vec<(PathBuf, PathBuf, PathBuf)> = vec![
        (missing.clone(), k.clone(), missing.clone()),
        (c.clone(), missing.clone(), missing.clone()),
        (garbage.clone(), k.clone(), garbage.clone()),
        (c.clone(), garbage.clone(), garbage.clone()),
        (c.clone(), c.clone(), c.clone()), // a certificate where the key should be
        (c.clone(), k2.clone(), k2.clone()), // the key of another certificate
    ];
    for (cert, key, named) in cases {
        let e = match Hub::options()
            .env("HAPID_TLS_CERT", cert.to_str().unwrap())
            .env("HAPID_TLS_KEY", key.to_str().unwrap())
            .try_start()
        {
            Ok(_) => panic!("started with {cert:?} {key:?}"),
            Err(e) => e,
        };
        assert!(e.status.is_some_and(|s| !s.success()), "{e:?}");
        assert!(e.stderr.contains(named.to_str().unwrap()), "{e:?}");
    }
    // Both or neither.
    let e = Hub::options()
        .env("HAPID_TLS_CERT", c.to_str().unwrap())
        .try_start()
        .err()
        .expect("refused");
    assert!(e.stderr.contains("HAPID_TLS_KEY"), "{e:?}");
}

#[test]
fn stalled_handshakes_are_cut_off_while_others_are_served() {
    let d = TempDir::new("tls");
    make_ca(d.path());
    let (c, k) = make_cert(d.path(), "srv", "9");
    let hub = tls_hub(&c, &k);
    let mut silent = TcpStream::connect(hub.addr()).unwrap();
    let mut half = TcpStream::connect(hub.addr()).unwrap();
    // The first bytes of a ClientHello record: a handshake record header promising 512 bytes.
    half.write_all(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ])
    .unwrap();
    // A flood of garbage is refused at once.
    let mut flood = TcpStream::connect(hub.addr()).unwrap();
    let _ = flood.write_all(&vec![0x16; 100_000]);
    let start = Instant::now();
    let (ok, body, err) = curl(
        d.path(),
        &[&format!("https://localhost:{}/health", hub.port())],
    );
    assert!(ok && body.contains("ok"), "{err}");
    for s in [&mut silent, &mut half] {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut b = [0u8; 64];
        let r = s.read(&mut b);
        assert!(matches!(r, Ok(0)) || r.is_err(), "{r:?}");
    }
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(8) && waited < Duration::from_secs(19),
        "{waited:?}"
    );
}

#[test]
fn sighup_reloads_the_certificate_without_dropping_a_stream() {
    let d = TempDir::new("tls");
    make_ca(d.path());
    let (c, k) = make_cert(d.path(), "srv", "4096");
    let hub = tls_hub(&c, &k);
    assert_eq!(served_serial(d.path(), hub.port()), "serial=1000");
    let token = jwt(d.path(), &hub);
    // An event stream over TLS, read by curl.
    let mut sse = Command::new("curl")
        .args(["-sSN", "--cacert"])
        .arg(d.path().join("ca.pem"))
        .arg(format!(
            "https://localhost:{}/api/events?token={token}&all=true",
            hub.port()
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("curl");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = sse.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(200))
                && l.contains(needle)
            {
                return true;
            }
        }
        false
    };
    create_session(d.path(), &hub, "before-reload");
    assert!(wait_for("data:"), "event before reload");
    // Replace the files in place, then SIGHUP.
    let (c2, k2) = make_cert(d.path(), "new", "8192");
    std::fs::copy(&c2, &c).unwrap();
    std::fs::copy(&k2, &k).unwrap();
    hub.signal("HUP");
    assert!(
        hub.stderr
            .wait_line(
                |l| l.contains("TLS certificate reloaded"),
                Duration::from_secs(5)
            )
            .is_some(),
        "{}",
        hub.stderr.text()
    );
    assert_eq!(served_serial(d.path(), hub.port()), "serial=2000");
    // The stream opened before the reload still receives.
    while rx.try_recv().is_ok() {}
    for i in 0..20 {
        create_session(d.path(), &hub, &format!("after-reload-{i}"));
    }
    assert!(wait_for("data:"), "event after reload");
    assert!(sse.try_wait().unwrap().is_none(), "stream dropped");
    // A bad file on reload keeps the previous certificate.
    std::fs::write(&c, "garbage").unwrap();
    hub.signal("HUP");
    assert!(
        hub.stderr
            .wait_line(|l| l.contains("not reloaded"), Duration::from_secs(5))
            .is_some()
    );
    assert_eq!(served_serial(d.path(), hub.port()), "serial=2000");
    let _ = sse.kill();
    let _ = sse.wait();
}

/// Reads one unmasked server frame (text or binary, any length) from `r`; its payload.
fn read_frame(r: &mut impl Read) -> Vec<u8> {
    let mut h = [0u8; 2];
    r.read_exact(&mut h).expect("frame head");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).expect("len16");
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).expect("len64");
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).expect("payload");
    payload
}

/// Socket.IO over TLS, both transports the CLI uses: Engine.IO polling (curl) and a
/// WebSocket (`openssl s_client` as the TLS pipe) joining `/cli` with the CLI token.
#[test]
fn socket_io_over_tls_polling_and_websocket() {
    let dir = TempDir::new("tls-sio");
    make_ca(dir.path());
    let (cert, key) = make_cert(dir.path(), "server", "0x51");
    let hub = tls_hub(&cert, &key);
    let base = format!("https://localhost:{}/socket.io/?EIO=4", hub.port());

    // Polling: open, CONNECT /cli, read the answer.
    let (ok, open, err) = curl(dir.path(), &[&format!("{base}&transport=polling")]);
    assert!(ok && open.starts_with("0{"), "{open} {err}");
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("sid")
        .to_string();
    let poll = format!("{base}&transport=polling&sid={sid}");
    let connect = format!("40/cli,{{\"token\":\"{TEST_TOKEN}\"}}");
    let (ok, body, err) = curl(dir.path(), &["-d", &connect, &poll]);
    assert!(ok && body == "ok", "{body} {err}");
    let (ok, body, err) = curl(dir.path(), &[&poll]);
    assert!(ok && body.starts_with("40/cli,{\"sid\":"), "{body} {err}");

    // WebSocket through openssl s_client.
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
        .arg(format!("127.0.0.1:{}", hub.port()))
        .args(["-servername", "localhost", "-CAfile"])
        .arg(dir.path().join("ca.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl");
    let mut to = child.stdin.take().expect("stdin");
    let mut from = BufReader::new(child.stdout.take().expect("stdout"));
    write!(
        to,
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: localhost\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("upgrade");
    to.flush().expect("flush");
    let mut status = String::new();
    from.read_line(&mut status).expect("status");
    assert!(status.starts_with("HTTP/1.1 101"), "{status}");
    loop {
        let mut l = String::new();
        from.read_line(&mut l).expect("header");
        if l == "\r\n" {
            break;
        }
    }
    let open = read_frame(&mut from);
    assert!(
        open.starts_with(b"0{\"sid\":"),
        "{}",
        String::from_utf8_lossy(&open)
    );
    let mut frame = Vec::new();
    hapid::ws::encode_masked(
        hapid::ws::OpCode::Text,
        true,
        connect.as_bytes(),
        [7, 7, 7, 7],
        &mut frame,
    );
    to.write_all(&frame).expect("connect frame");
    to.flush().expect("flush");
    let answer = read_frame(&mut from);
    assert!(
        answer.starts_with(b"40/cli,{\"sid\":"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    drop(to);
    let _ = child.kill();
    let _ = child.wait();
}
