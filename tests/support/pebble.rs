//! Let's Encrypt's test CA, Debian's `pebble`, with `pebble-challtestsrv` as its DNS server
//! (every name is 127.0.0.1): started offline on ports reserved at test time, with a TLS
//! certificate made here, fast and deterministic (no validation sleeps, no rejected nonces, no
//! authorization reuse), and stopped by PID on drop. Also a small HTTPS client that verifies
//! against pebble's root and reports the certificate it was served.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};

use super::server::{Server, TempDir, kill_and_wait, wait_timeout};
use super::tls::{Cert, cert};

/// Whether pebble and its DNS server are installed (`.ci/run` installs them).
pub fn installed() -> bool {
    let found = ["/usr/bin/pebble", "/usr/bin/pebble-challtestsrv"]
        .iter()
        .all(|p| Path::new(p).exists());
    if !found {
        super::skip::missing(
            "pebble and pebble-challtestsrv (Debian packages pebble, pebble-challtestsrv)",
        );
    }
    found
}

/// Ports free right now on 127.0.0.1 (bound together, then released).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// What pebble is told.
pub struct Options {
    /// Where pebble validates HTTP-01 and TLS-ALPN-01 (the server's ports).
    pub http_port: u16,
    pub tls_port: u16,
    /// Lifetime of issued certificates, seconds (pebble's default: 5 years).
    pub validity: Option<u64>,
    /// The ACME port, when the test chose it in advance.
    pub acme_port: Option<u16>,
    /// The certificate pebble serves HTTPS with, when the test made it in advance.
    pub tls: Option<Cert>,
}

pub struct Pebble {
    pebble: Option<Child>,
    dns: Option<Child>,
    pub acme_port: u16,
    pub management_port: u16,
    /// The certificate pebble serves its HTTPS with (what `ssl_trusted_certificate` names).
    pub tls_cert_pem: String,
    pub dir: TempDir,
}

impl Pebble {
    pub fn start(options: Options) -> Pebble {
        let dir = TempDir::new();
        let ports = free_ports(4);
        let acme_port = options.acme_port.unwrap_or(ports[0]);
        let (management_port, dns_port, dns_management) = (ports[1], ports[2], ports[3]);
        let tls = options
            .tls
            .unwrap_or_else(|| cert(&["localhost", "127.0.0.1"]));
        dir.write("cert.pem", tls.cert_pem.as_bytes());
        dir.write("key.pem", tls.key_pem.as_bytes());
        let validity = options
            .validity
            .map(|v| format!(",\n    \"certificateValidityPeriod\": {v}"))
            .unwrap_or_default();
        let config = format!(
            "{{\"pebble\": {{\n    \"listenAddress\": \"127.0.0.1:{acme_port}\",\n    \
             \"managementListenAddress\": \"127.0.0.1:{management_port}\",\n    \
             \"certificate\": \"cert.pem\",\n    \"privateKey\": \"key.pem\",\n    \
             \"httpPort\": {},\n    \"tlsPort\": {},\n    \"ocspResponderURL\": \"\",\n    \
             \"externalAccountBindingRequired\": false{validity}\n}}}}\n",
            options.http_port, options.tls_port
        );
        dir.write("pebble.json", config.as_bytes());
        let dns = Command::new("pebble-challtestsrv")
            .args([
                "-dns01",
                &format!("127.0.0.1:{dns_port}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("127.0.0.1:{dns_management}"),
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pebble-challtestsrv");
        let pebble = Command::new("pebble")
            .args([
                "-config",
                "pebble.json",
                "-dnsserver",
                &format!("127.0.0.1:{dns_port}"),
            ])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("pebble.log")).expect("pebble log file"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start pebble");
        let pebble = Pebble {
            pebble: Some(pebble),
            dns: Some(dns),
            acme_port,
            management_port,
            tls_cert_pem: tls.cert_pem,
            dir,
        };
        for port in [acme_port, management_port, dns_management] {
            let deadline = Instant::now() + Duration::from_secs(20);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "pebble did not listen on {port}:\n{}",
                    pebble.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        pebble
    }

    /// The directory URL.
    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme_port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// The root of the chains pebble issues (from its management interface), PEM.
    pub fn root_pem(&self) -> String {
        let output = Command::new("curl")
            .args([
                "-sS",
                "--fail",
                "--cacert",
                "cert.pem",
                &format!("https://127.0.0.1:{}/roots/0", self.management_port),
            ])
            .current_dir(self.dir.path())
            .output()
            .expect("run curl");
        assert!(
            output.status.success(),
            "curl /roots/0: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("PEM root")
    }

    /// The `acme_issuer` block of a test: this pebble, trusted through `pebble.pem`.
    pub fn issuer(&self, name: &str, state: &str, extra: &str) -> String {
        format!(
            "acme_issuer {name} {{\n    uri {};\n    state_path {state};\n    \
             accept_terms_of_service;\n    contact admin@webserv.test;\n    \
             ssl_trusted_certificate pebble.pem;\n    {extra}\n}}\n",
            self.directory()
        )
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in [self.pebble.take(), self.dns.take()].into_iter().flatten() {
            let mut child = child;
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            if wait_timeout(&mut child, Duration::from_secs(5)).is_none() {
                kill_and_wait(&mut child);
            }
        }
    }
}

/// Waits until the server's stderr holds `needle` `count` times; the text at the end.
pub fn wait_for_log(server: &Server, needle: &str, count: usize, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = server.stderr();
        if text.matches(needle).count() >= count {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no {count}x {needle:?} in {timeout:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A rustls client trusting only `roots` (PEM), without session resumption.
pub fn client_config(roots_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(roots_pem.as_bytes()) {
        roots.add(cert.expect("PEM")).expect("root");
    }
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every connection a full handshake: a resumed one is not shown the certificate again.
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// `GET /` over a new verified TLS connection to `addr` for `name`: the status line's code
/// and the DER of the certificate served, or why it failed.
pub fn https_get(
    config: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    name: &str,
) -> Result<(u16, Vec<u8>), String> {
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(Arc::clone(config), server_name)
        .map_err(|e| e.to_string())?;
    let socket = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, socket);
    let request = format!("GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // The server closes after the response; some peers skip close_notify.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(format!("read: {e}")),
    }
    let leaf = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .ok_or("no certificate")?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    Ok((status, leaf))
}
