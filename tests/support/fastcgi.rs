//! FastCGI peers for the tests: the real ones (Debian's php-fpm and fcgiwrap), started in the
//! foreground on a temporary unix socket or a free TCP port and stopped by their PID, and a fake
//! application that answers with whatever records a test scripts (malformed ones included).
//!
//! Each peer lives in its own temporary directory (configuration, socket, logs), removed on
//! drop after the process is stopped (SIGTERM, then SIGKILL) and reaped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::server::TempDir;

pub const PHP_FPM: &str = "/usr/sbin/php-fpm8.2";
pub const FCGIWRAP: &str = "/usr/sbin/fcgiwrap";

/// Where a peer listens.
#[derive(Debug, Clone)]
pub enum Address {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Address {
    /// As `fastcgi_pass` takes it.
    pub fn to_config(&self) -> String {
        match self {
            Address::Unix(path) => format!("unix:{}", path.display()),
            Address::Tcp(addr) => addr.to_string(),
        }
    }

    /// A blocking connection to the peer.
    pub fn connect(&self) -> std::io::Result<Stream> {
        Ok(match self {
            Address::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
            Address::Tcp(addr) => Stream::Tcp(TcpStream::connect(addr)?),
        })
    }
}

/// A connection to a peer, either kind.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    pub fn set_read_timeout(&self, timeout: Duration) {
        let _ = match self {
            Stream::Unix(s) => s.set_read_timeout(Some(timeout)),
            Stream::Tcp(s) => s.set_read_timeout(Some(timeout)),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Which transport a peer should listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    UnixSocket,
    /// A free TCP port on 127.0.0.1 (php-fpm cannot take port 0: a port is found by binding
    /// port 0 and releasing it; a start that loses the race is retried on another).
    Tcp,
}

/// A running FastCGI application process.
pub struct Peer {
    pub dir: TempDir,
    pub address: Address,
    child: Child,
}

impl Peer {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The peer's own log (php-fpm's error log; empty for fcgiwrap).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("peer.log")).unwrap_or_default()
    }

    /// Stops the process and its own children (php-fpm's workers) at once (SIGKILL) and reaps
    /// it: "the application died". Returns once every child is dead too (gone or a zombie,
    /// whose descriptors are closed): until then a child still holds the listening socket and
    /// would accept a connection only to drop it.
    pub fn kill(&mut self) {
        let children = super::proc::children_of(self.child.id() as i32);
        let _ = self.child.kill();
        for (pid, _) in &children {
            // SAFETY: kill(2) of a child of the peer we started.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
        let dead = super::proc::wait_until(Duration::from_secs(10), || {
            children.iter().all(|(pid, _)| !super::proc::running(*pid))
        });
        assert!(dead, "the peer's children outlived SIGKILL");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // SIGTERM by PID, a grace period, then SIGKILL; always reaped.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// Waits until `address` accepts connections (or the process dies, or 10 s pass).
fn wait_ready(child: &mut Child, address: &Address) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        if address.connect().is_ok() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(20));
    }
    Err("not listening after 10 s".to_string())
}

/// Starts php-fpm in the foreground with a generated configuration: one pool of `children`
/// static workers on `listen`, its documents under `dir/www` (the files a test passes).
pub fn php_fpm(listen: Listen, children: usize, files: &[(&str, &[u8])]) -> Peer {
    php_fpm_with(
        listen,
        children,
        files,
        "php_admin_value[error_log] = {log}\nphp_admin_flag[log_errors] = on\n",
    )
}

/// [`php_fpm`] with `pool` lines added to its pool section (`{log}` is replaced by the peer's
/// log file).
pub fn php_fpm_with(listen: Listen, children: usize, files: &[(&str, &[u8])], pool: &str) -> Peer {
    let mut last_error = String::new();
    for _attempt in 0..5 {
        let dir = TempDir::new();
        for (name, contents) in files {
            dir.write(name, contents);
        }
        let address = match listen {
            Listen::UnixSocket => Address::Unix(dir.path().join("fpm.sock")),
            Listen::Tcp => Address::Tcp(SocketAddr::from(([127, 0, 0, 1], free_port()))),
        };
        let listen_value = match &address {
            Address::Unix(path) => path.display().to_string(),
            Address::Tcp(addr) => addr.to_string(),
        };
        let conf = format!(
            "[global]\n\
             error_log = {log}\n\
             daemonize = no\n\
             [pool]\n\
             listen = {listen_value}\n\
             pm = static\n\
             pm.max_children = {children}\n\
             catch_workers_output = yes\n\
             decorate_workers_output = no\n\
             clear_env = yes\n\
             php_admin_flag[display_errors] = off\n\
             php_admin_value[output_buffering] = 0\n\
             {pool}",
            log = dir.path().join("peer.log").display(),
            pool = pool.replace("{log}", &dir.path().join("peer.log").display().to_string()),
        );
        let conf_path = dir.write("fpm.conf", conf.as_bytes());
        let mut child = Command::new(PHP_FPM)
            // -R: the tests run as root in CI; the pool then runs as root too.
            .args(["-F", "-R", "-n", "-y"])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start php-fpm8.2 (apt-get install php8.2-fpm)");
        match wait_ready(&mut child, &address) {
            Ok(()) => {
                return Peer {
                    dir,
                    address,
                    child,
                };
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                last_error = format!(
                    "{e}: {}",
                    std::fs::read_to_string(dir.path().join("peer.log")).unwrap_or_default()
                );
            }
        }
    }
    panic!("php-fpm did not start: {last_error}");
}

/// Starts fcgiwrap on a temporary unix socket; it runs the file SCRIPT_FILENAME names as a CGI
/// script.
pub fn fcgiwrap(files: &[(&str, &[u8])]) -> Peer {
    let dir = TempDir::new();
    for (name, contents) in files {
        dir.write(name, contents);
    }
    let socket = dir.path().join("fcgiwrap.sock");
    let mut child = Command::new(FCGIWRAP)
        .arg("-s")
        .arg(format!("unix:{}", socket.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fcgiwrap (apt-get install fcgiwrap)");
    let address = Address::Unix(socket);
    if let Err(e) = wait_ready(&mut child, &address) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("fcgiwrap did not start: {e}");
    }
    Peer {
        dir,
        address,
        child,
    }
}

/// A fake FastCGI application on a temporary unix socket: for each connection it reads the
/// request's records up to the end of STDIN (or until the client stops), then writes `reply`
/// (bytes a test composes, malformed at will) and closes. It serves `connections` connections,
/// then its thread ends.
pub struct Fake {
    pub dir: TempDir,
    pub socket: PathBuf,
    thread: Option<thread::JoinHandle<Vec<Vec<u8>>>>,
}

impl Fake {
    pub fn start(reply: Vec<u8>, connections: usize) -> Fake {
        let dir = TempDir::new();
        let socket = dir.path().join("fake.sock");
        let listener = UnixListener::bind(&socket).expect("bind fake FastCGI socket");
        let thread = thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..connections {
                let Ok((mut stream, _)) = listener.accept() else {
                    break;
                };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let request = read_request(&mut stream);
                let _ = stream.write_all(&reply);
                seen.push(request);
            }
            seen
        });
        Fake {
            dir,
            socket,
            thread: Some(thread),
        }
    }

    pub fn address(&self) -> Address {
        Address::Unix(self.socket.clone())
    }

    /// The bytes each connection sent, once every connection has been served.
    pub fn requests(mut self) -> Vec<Vec<u8>> {
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

/// What a [`Watcher`] saw on one connection.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request's records.
    pub request: Vec<u8>,
    /// The client closed the connection within 5 s of the reply.
    pub closed_by_client: bool,
}

/// A fake FastCGI application that answers each of `connections` connections with `reply`,
/// then leaves the connection open and waits for the client to close it (as an application
/// asked to keep the connection would): whether the client drops a connection is what it
/// reports.
pub struct Watcher {
    pub dir: TempDir,
    pub socket: PathBuf,
    thread: Option<thread::JoinHandle<Vec<Seen>>>,
}

impl Watcher {
    pub fn start(reply: Vec<u8>, connections: usize) -> Watcher {
        let dir = TempDir::new();
        let socket = dir.path().join("watcher.sock");
        let listener = UnixListener::bind(&socket).expect("bind fake FastCGI socket");
        let thread = thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..connections {
                let Ok((mut stream, _)) = listener.accept() else {
                    break;
                };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let request = read_request(&mut stream);
                let _ = stream.write_all(&reply);
                let mut rest = [0u8; 1024];
                let closed_by_client = loop {
                    match stream.read(&mut rest) {
                        Ok(0) => break true,
                        Ok(_) => continue,
                        Err(e) => break e.kind() == std::io::ErrorKind::ConnectionReset,
                    }
                };
                seen.push(Seen {
                    request,
                    closed_by_client,
                });
            }
            seen
        });
        Watcher {
            dir,
            socket,
            thread: Some(thread),
        }
    }

    pub fn address(&self) -> Address {
        Address::Unix(self.socket.clone())
    }

    /// What each connection saw, once all have been served.
    pub fn seen(mut self) -> Vec<Seen> {
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

/// Reads records until an empty STDIN record (type 5, length 0) or the end of the stream.
fn read_request(stream: &mut UnixStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if stdin_ended(&bytes) {
            return bytes;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return bytes,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    }
}

/// Whether `bytes` (whole records) hold the empty STDIN record.
fn stdin_ended(mut bytes: &[u8]) -> bool {
    while bytes.len() >= 8 {
        let len = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
        let total = 8 + len + usize::from(bytes[6]);
        if bytes[1] == 5 && len == 0 {
            return true;
        }
        if bytes.len() < total {
            return false;
        }
        bytes = &bytes[total..];
    }
    false
}

/// One record, written by hand (any version, type and id; no padding check).
pub fn record(version: u8, kind: u8, id: u16, content: &[u8], padding: u8) -> Vec<u8> {
    let id = id.to_be_bytes();
    let len = (content.len() as u16).to_be_bytes();
    let mut out = vec![version, kind, id[0], id[1], len[0], len[1], padding, 0];
    out.extend_from_slice(content);
    out.extend(std::iter::repeat_n(0, usize::from(padding)));
    out
}

/// FCGI_END_REQUEST for request `id`.
pub fn end_request(id: u16, app_status: u32) -> Vec<u8> {
    let s = app_status.to_be_bytes();
    record(1, 3, id, &[s[0], s[1], s[2], s[3], 0, 0, 0, 0], 0)
}

/// Where php-fpm's and fcgiwrap's documents are.
pub fn www(peer: &Peer) -> &Path {
    peer.dir.path()
}
