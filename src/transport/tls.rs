//! TLS (rustls) over a non-blocking TCP socket, driven by the transport's edge-triggered
//! readiness flags; and the rustls configuration of a TLS address (certificates by SNI).
//!
//! TLS sits between the socket and the protocol. Two rules keep it from stalling on an edge
//! that never comes:
//!
//! - *Input* is available when the socket is readable **or** rustls holds decrypted bytes not
//!   taken yet **or** the peer's close_notify has been received but not yet reported as the end
//!   of the stream ([`super::Transport::can_read`]): a request and close_notify often come in one
//!   read, and no later edge would announce the end.
//! - Ciphertext rustls queued (handshake flights, tickets, alerts, encrypted data) is written
//!   out as long as the socket is writable: every operation here ends with either nothing
//!   queued or the writable flag cleared by a short write or `EAGAIN`, and the connection
//!   flushes first thing whenever it is driven ([`super::Transport::flush`]), whatever its state.
//!
//! rustls's outgoing buffer is bounded ([`TLS_BUFFER`]) and fed only while it is empty, so a
//! TLS connection holds at most about that much of a response, whatever its size.

use super::Scratch;
use crate::acme::{self, Challenges, Slot};
use crate::config::ClientAuth;
use rustix::io::Errno;
use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection};
use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

/// Most ciphertext (and early plaintext) rustls buffers for one connection.
pub const TLS_BUFFER: usize = 64 * 1024;
/// Plaintext handed to rustls per call: one TLS record's worth.
pub const RECORD: usize = 16 * 1024;
/// Socket reads in a row that may bring no application data (handshake, alerts, tickets)
/// before the peer is taken as abusive.
const MAX_READS_WITHOUT_DATA: u32 = 64;
/// Sessions a TLS address remembers for resumption by session id.
const SESSION_CACHE: usize = 4096;

/// The first byte of every TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

/// TLS 1.3 suites by their IANA names (rustls spells them `TLS13_...`).
const STRIPPED_TLS13: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// A TLS session over a socket.
pub struct TlsStream {
    pub(super) socket: TcpStream,
    pub(super) conn: ServerConnection,
    /// Decrypted bytes rustls holds that were not read yet.
    pub(super) plaintext: usize,
    /// The peer's close_notify arrived: once `plaintext` is taken, a read returns Ok(0).
    pub(super) peer_closed: bool,
    /// Nothing was received yet: the first byte tells TLS from plain HTTP.
    fresh: bool,
    /// The client spoke plain HTTP: it is answered in plain HTTP, rustls is out of the way.
    pub(super) plain_http: bool,
    /// The client certificate as the servers verifying it judged it.
    client_verdict: super::client_cert::Cache,
}

impl TlsStream {
    pub fn new(socket: TcpStream, config: &Arc<ServerConfig>) -> Result<TlsStream, rustls::Error> {
        let mut conn = ServerConnection::new(Arc::clone(config))?;
        conn.set_buffer_limit(Some(TLS_BUFFER));
        Ok(TlsStream {
            socket,
            conn,
            plaintext: 0,
            peer_closed: false,
            fresh: true,
            plain_http: false,
            client_verdict: Default::default(),
        })
    }

    /// The client's certificate as a server verifying with `auth` judges it.
    pub fn client_cert(
        &mut self,
        auth: &Arc<ClientAuth>,
    ) -> Arc<crate::transport::client_cert::ClientCert> {
        let chain: Option<&[CertificateDer<'_>]> = self.conn.peer_certificates();
        self.client_verdict.get(auth, chain)
    }

    /// A TLS-ALPN-01 validation (RFC 8737 section 3): its handshake is all there is to it.
    fn is_acme_validation(&self) -> bool {
        !self.conn.is_handshaking()
            && self.conn.alpn_protocol() == Some(acme::challenge::ACME_TLS_ALPN)
    }

    /// Whether the first bytes received were not a TLS handshake.
    pub fn is_plain_http(&self) -> bool {
        self.plain_http
    }

    /// The protocol and cipher suite agreed (`$ssl_protocol`, `$ssl_cipher`): `TLSv1.3` and
    /// the suite's IANA name; None while the handshake runs.
    pub fn negotiated(&self) -> Option<(&'static str, &'static str)> {
        if self.conn.is_handshaking() {
            return None;
        }
        let protocol = match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
            _ => "TLS",
        };
        let suite = self.conn.negotiated_cipher_suite()?.suite().as_str()?;
        let suite = match suite.strip_prefix("TLS13_") {
            Some(rest) => STRIPPED_TLS13
                .iter()
                .find(|s| s.ends_with(rest))
                .copied()
                .unwrap_or(suite),
            None => suite,
        };
        Some((protocol, suite))
    }

    /// The protocol the handshake agreed on by ALPN (RFC 7301), if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// Moves the handshake on without taking application data: Ok(true) once it is complete
    /// (plaintext that came with the client's last flight stays with rustls for the first
    /// read), `WouldBlock` until the socket is ready again, Ok(false) when the peer closed
    /// or the handshake was only a TLS-ALPN-01 validation. `InvalidData` with
    /// [`TlsStream::is_plain_http`] set: the client spoke plain HTTP.
    pub fn handshake(
        &mut self,
        readable: &mut bool,
        writable: &mut bool,
        hangup: bool,
    ) -> io::Result<bool> {
        for _ in 0..MAX_READS_WITHOUT_DATA {
            if self.plain_http {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "plain HTTP sent to a TLS port",
                ));
            }
            if !self.conn.is_handshaking() {
                self.flush(writable)?;
                return Ok(!self.is_acme_validation());
            }
            self.flush(writable)?;
            if self.conn.wants_write() || !*readable {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut io = SocketReader {
                socket: &self.socket,
                readable,
                hangup,
                first: self.fresh.then_some(&mut self.plain_http),
            };
            let n = self.conn.read_tls(&mut io)?;
            if n == 0 {
                return Ok(false);
            }
            self.fresh = false;
            if self.plain_http {
                continue;
            }
            match self.conn.process_new_packets() {
                Ok(state) => {
                    self.plaintext = state.plaintext_bytes_to_read();
                    self.peer_closed = state.peer_has_closed();
                }
                Err(error) => {
                    let _ = self.flush(writable);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, error));
                }
            }
        }
        Err(io::Error::other("too many TLS records without data"))
    }

    /// Whether the peer ended its side with close_notify.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    pub(super) fn flush(&mut self, writable: &mut bool) -> io::Result<()> {
        while *writable && self.conn.wants_write() {
            let mut io = SocketWriter {
                socket: &self.socket,
                writable,
            };
            match self.conn.write_tls(&mut io) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads decrypted bytes into `buf`. Ok(0): the peer closed (close_notify or end of stream).
    /// `WouldBlock`: nothing until the socket is readable (or, while ciphertext waits,
    /// writable) again.
    pub fn read(
        &mut self,
        buf: &mut [u8],
        readable: &mut bool,
        writable: &mut bool,
        hangup: bool,
    ) -> io::Result<usize> {
        if self.plain_http {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "plain HTTP sent to a TLS port",
            ));
        }
        for _ in 0..MAX_READS_WITHOUT_DATA {
            match self.conn.reader().read(buf) {
                Ok(n) => {
                    self.plaintext = self.plaintext.saturating_sub(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // End of stream without close_notify: HTTP framing tells truncation, as
                // nginx takes it.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.plaintext = 0;
            // rustls reads no more while its own output waits (mid-handshake).
            self.flush(writable)?;
            if self.conn.wants_write() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if !*readable {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut io = SocketReader {
                socket: &self.socket,
                readable,
                hangup,
                first: self.fresh.then_some(&mut self.plain_http),
            };
            let n = self.conn.read_tls(&mut io)?;
            if n > 0 {
                self.fresh = false;
            }
            if self.plain_http {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "plain HTTP sent to a TLS port",
                ));
            }
            match self.conn.process_new_packets() {
                Ok(state) => {
                    self.plaintext = state.plaintext_bytes_to_read();
                    self.peer_closed = state.peer_has_closed();
                }
                Err(error) => {
                    // Its alert, if it made one, goes out if the socket takes it at once.
                    let _ = self.flush(writable);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, error));
                }
            }
            // Handshake flights and session tickets go out now.
            self.flush(writable)?;
            if self.is_acme_validation() {
                return Ok(0);
            }
            if n == 0 && self.plaintext == 0 {
                return Ok(0);
            }
        }
        Err(io::Error::other("too many TLS records without data"))
    }

    /// Reads decrypted bytes onto the end of `input`, at most `room`. As [`TlsStream::read`].
    pub fn read_into(
        &mut self,
        input: &mut Vec<u8>,
        room: usize,
        scratch: &mut Scratch,
        readable: &mut bool,
        writable: &mut bool,
        hangup: bool,
    ) -> io::Result<usize> {
        // Through a worker-wide scratch buffer rather than by zero-filling `input`'s spare room
        // on every read.
        let buf = scratch.take(room);
        let n = self.read(buf, readable, writable, hangup)?;
        input.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    /// Encrypts some of `data` and sends what the socket takes. Ok(n): bytes taken (`n` may
    /// be short); `WouldBlock` (with `writable` cleared): ciphertext still waits.
    pub(super) fn write(&mut self, data: &[u8], writable: &mut bool) -> io::Result<usize> {
        self.write_pair(data, &[], writable)
    }

    /// Encrypts up to a buffer's worth of `first` then `second` (a response head and its body:
    /// sealed together into shared records) and sends what the socket takes. Ok(n): bytes taken;
    /// `WouldBlock` (with `writable` cleared): earlier ciphertext still waits.
    pub fn write_pair(
        &mut self,
        first: &[u8],
        second: &[u8],
        writable: &mut bool,
    ) -> io::Result<usize> {
        self.flush(writable)?;
        if self.conn.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let budget = TLS_BUFFER - RECORD;
        let first = &first[..first.len().min(budget)];
        let second = &second[..second.len().min(budget - first.len())];
        // The buffer is empty and the budget below its limit: rustls takes it all.
        let taken = self
            .conn
            .writer()
            .write_vectored(&[IoSlice::new(first), IoSlice::new(second)])?;
        self.flush(writable)?;
        Ok(taken)
    }

    /// Encrypts up to a buffer's worth of what `fill` puts in record-sized pieces (in `scratch`) (fill returns
    /// how many bytes it wrote; 0 ends). Ok(n): plaintext bytes taken; `WouldBlock`: ciphertext
    /// still waits.
    pub fn write_with(
        &mut self,
        scratch: &mut Scratch,
        mut fill: impl FnMut(&mut [u8]) -> io::Result<usize>,
        writable: &mut bool,
    ) -> io::Result<usize> {
        self.flush(writable)?;
        if self.conn.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let record = scratch.take(RECORD);
        let mut taken = 0;
        while taken < TLS_BUFFER - RECORD {
            let filled = fill(record)?;
            if filled == 0 {
                break;
            }
            // The buffer has room for this record: rustls takes it whole.
            self.conn.writer().write_all(&record[..filled])?;
            taken += filled;
        }
        self.flush(writable)?;
        Ok(taken)
    }
}

/// The socket as rustls reads it: one `read(2)` per call, clearing `readable` on `EAGAIN` or a
/// short read (the next byte brings a new edge), and noting whether the first byte opens a TLS
/// handshake.
struct SocketReader<'a> {
    socket: &'a TcpStream,
    readable: &'a mut bool,
    hangup: bool,
    /// Set to true when the first byte received is not a handshake record.
    first: Option<&'a mut bool>,
}

impl Read for SocketReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match rustix::io::read(self.socket, &mut *buf) {
            Ok(n) => {
                if n < buf.len() && !self.hangup {
                    *self.readable = false;
                }
                if n > 0
                    && let Some(plain) = self.first.take()
                {
                    *plain = buf[0] != HANDSHAKE_RECORD;
                }
                Ok(n)
            }
            Err(Errno::AGAIN) => {
                *self.readable = false;
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The socket as rustls writes to it: a short write or `EAGAIN` clears `writable`.
struct SocketWriter<'a> {
    socket: &'a TcpStream,
    writable: &'a mut bool,
}

impl Write for SocketWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let offered: usize = bufs.iter().map(|b| b.len()).sum();
        match (&*self.socket).write_vectored(bufs) {
            Ok(n) => {
                if n < offered {
                    *self.writable = false;
                }
                Ok(n)
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::WouldBlock {
                    *self.writable = false;
                }
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where a server's certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// `ssl_certificate`: loaded with the configuration.
    Fixed(Arc<CertifiedKey>),
    /// `acme_certificate`: whatever the slot holds at the handshake.
    Managed(Arc<Slot>),
}

impl CertSource {
    fn get(&self) -> Arc<CertifiedKey> {
        match self {
            CertSource::Fixed(key) => Arc::clone(key),
            CertSource::Managed(slot) => slot.get(),
        }
    }
}

/// Picks the certificate of a TLS address by SNI among its servers: an exact (case-insensitive)
/// `server_name` match, else the address's first TLS server. A ClientHello whose only ALPN
/// protocol is `acme-tls/1` gets the TLS-ALPN-01 challenge certificate for its SNI name, or
/// nothing (the handshake fails), never a real one.
#[derive(Debug)]
struct SniResolver {
    by_name: Vec<(String, CertSource)>,
    default: CertSource,
    challenges: Option<Arc<Challenges>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(challenges) = &self.challenges
            && let Some(mut offered) = hello.alpn()
            && offered.next() == Some(acme::challenge::ACME_TLS_ALPN)
            && offered.next().is_none()
        {
            return challenges.tls_alpn01(hello.server_name()?);
        }
        // The best name as a Host would be chosen (exact, then the longest wildcard);
        // regular-expression names do not choose a certificate.
        let chosen = hello.server_name().and_then(|name| {
            let name = name.to_ascii_lowercase();
            self.by_name
                .iter()
                .filter_map(|(n, source)| Some((crate::config::name_rank(n, &name)?, source)))
                .max_by_key(|(rank, _)| *rank)
                .map(|(_, source)| source)
        });
        Some(chosen.unwrap_or(&self.default).get())
    }
}

/// What an address's TLS needs besides its servers' certificates.
#[derive(Default)]
pub struct AddressOptions<'a> {
    /// HTTP/2 is offered (ALPN `h2`, preferred).
    pub http2: bool,
    /// Some server of the address has `acme_certificate`: TLS-ALPN-01 is answered.
    pub challenges: Option<Arc<Challenges>>,
    /// The client certificate settings of the servers that verify them.
    pub client_auth: Vec<&'a ClientAuth>,
}

/// Where a cipher suite comes in the server's order: AES-128-GCM, then AES-256-GCM, then
/// ChaCha20-Poly1305 (each TLS 1.3 and 1.2).
fn suite_rank(suite: &rustls::SupportedCipherSuite) -> u8 {
    use rustls::CipherSuite as S;
    match suite.suite() {
        S::TLS13_AES_128_GCM_SHA256
        | S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 0,
        S::TLS13_AES_256_GCM_SHA384
        | S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => 1,
        _ => 2,
    }
}

/// The rustls configuration of one TLS address. `servers`: the address's servers that carry a
/// certificate, as (server names, where the certificate comes from), the default first; None
/// when there is none.
pub fn server_config(
    servers: &[(&[String], CertSource)],
    options: AddressOptions,
) -> Result<Option<Arc<ServerConfig>>, String> {
    let Some((_, default)) = servers.first() else {
        return Ok(None);
    };
    let mut by_name = Vec::new();
    for (names, source) in servers {
        for name in names.iter() {
            if !by_name.iter().any(|(n, _): &(String, _)| n == name) {
                by_name.push((name.clone(), source.clone()));
            }
        }
    }
    let acme = options.challenges.is_some();
    let resolver = SniResolver {
        by_name,
        default: default.clone(),
        challenges: options.challenges,
    };
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.sort_by_key(suite_rank);
    let builder = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = if options.client_auth.is_empty() {
        builder.with_no_client_auth()
    } else {
        builder.with_client_cert_verifier(Arc::new(super::client_cert::HandshakeVerifier::new(
            &options.client_auth,
        )))
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    // Our order, AES-128-GCM first (as Go's crypto/tls): as secure, cheaper per byte, and its
    // SHA-256 key schedule uses the CPU's SHA instructions where SHA-384's may have none.
    config.ignore_client_order = true;
    // Our preference first: h2 (where the address speaks it), then HTTP/1.1. `curl --http1.0`
    // offers only http/1.0, which nginx accepts too; a client offering none of them gets
    // no_application_protocol (RFC 7301).
    config.alpn_protocols = Vec::new();
    if options.http2 {
        config.alpn_protocols.push(b"h2".to_vec());
    }
    config
        .alpn_protocols
        .extend([b"http/1.1".to_vec(), b"http/1.0".to_vec()]);
    if acme {
        // Chosen only by a client that offers nothing else (an ACME server validating).
        config
            .alpn_protocols
            .push(acme::challenge::ACME_TLS_ALPN.to_vec());
    }
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
    config.ticketer =
        rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| format!("TLS tickets: {e}"))?;
    Ok(Some(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::ClientConnection;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use std::net::TcpListener;

    /// A server TlsStream on one end of a loopback TCP connection, and a rustls client (with
    /// its blocking socket) on the other.
    fn pair() -> (TlsStream, ClientConnection, TcpStream) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der: CertificateDer<'static> = cert.der().clone();
        let key_der = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let certified =
            Arc::new(CertifiedKey::from_der(vec![der.clone()], key_der, &provider).unwrap());
        let names = vec!["localhost".to_string()];
        let source = CertSource::Fixed(Arc::clone(&certified));
        let config = server_config(&[(names.as_slice(), source)], AddressOptions::default())
            .unwrap()
            .unwrap();

        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = ClientConnection::new(
            Arc::new(client_config),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client_socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client_socket
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let (server_socket, _) = listener.accept().unwrap();
        server_socket.set_nonblocking(true).unwrap();
        (
            TlsStream::new(server_socket, &config).unwrap(),
            client,
            client_socket,
        )
    }

    /// The server reads while the socket says readable, as the connection would.
    fn server_read(server: &mut TlsStream, writable: &mut bool) -> io::Result<Vec<u8>> {
        let mut buf = [0u8; 4096];
        let mut readable = true;
        // The data may take a moment on loopback: retry a few times on WouldBlock.
        for _ in 0..200 {
            match server.read(&mut buf, &mut readable, writable, false) {
                Ok(n) => return Ok(buf[..n].to_vec()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Nothing is ever left queued while the socket could take it.
                    assert!(!server.conn.wants_write() || !*writable);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    readable = true;
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::ErrorKind::TimedOut.into())
    }

    #[test]
    fn the_handshake_flight_goes_out_while_the_connection_only_reads() {
        let (mut server, mut client, mut socket) = pair();
        let mut writable = true;
        client
            .writer()
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .unwrap();
        // The client's flights and the server's answers, until the request arrives in clear.
        let request = std::thread::scope(|scope| {
            let client_side = scope.spawn(|| {
                while client.is_handshaking() || client.wants_write() {
                    client.complete_io(&mut socket).unwrap();
                }
                (client, socket)
            });
            let request = server_read(&mut server, &mut writable).unwrap();
            let (client, socket) = client_side.join().unwrap();
            (request, client, socket)
        });
        let (request, mut client, mut socket) = request;
        assert_eq!(request, b"GET / HTTP/1.1\r\n\r\n");
        assert!(!server.conn.wants_write() || !writable);
        // And back: what the server writes, the client reads.
        let n = server
            .write(b"HTTP/1.1 200 OK\r\n\r\n", &mut writable)
            .unwrap();
        assert_eq!(n, 19);
        let mut got = Vec::new();
        while got.len() < 19 {
            client.complete_io(&mut socket).unwrap();
            let mut buf = [0u8; 64];
            if let Ok(n) = client.reader().read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
        assert_eq!(got, b"HTTP/1.1 200 OK\r\n\r\n");
    }

    #[test]
    fn plain_http_is_told_by_its_first_byte() {
        let (mut server, _client, mut socket) = pair();
        socket
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut writable = true;
        let error = server_read(&mut server, &mut writable).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(server.is_plain_http());
    }

    #[test]
    fn a_full_socket_clears_writable_and_holds_at_most_the_buffer_limit() {
        let (mut server, mut client, mut socket) = pair();
        let mut writable = true;
        std::thread::scope(|scope| {
            let client_side = scope.spawn(|| {
                while client.is_handshaking() {
                    client.complete_io(&mut socket).unwrap();
                }
                client.writer().write_all(b"x").unwrap();
                client.complete_io(&mut socket).unwrap();
            });
            server_read(&mut server, &mut writable).unwrap();
            client_side.join().unwrap();
        });
        // The client reads nothing: the server writes until the socket is full.
        let data = vec![7u8; 1 << 20];
        let mut written = 0usize;
        loop {
            match server.write(&data, &mut writable) {
                Ok(n) => {
                    written += n;
                    assert!(n <= TLS_BUFFER);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
            assert!(!server.conn.wants_write() || !writable);
            assert!(written < 64 << 20, "the socket never filled");
        }
        assert!(!writable);
        assert!(server.conn.wants_write());
    }
}
