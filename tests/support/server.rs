//! The `webserv` process: temporary directories, starting the real binary on a config with
//! `listen 127.0.0.1:0;` (ports read from its `listening on` lines on stderr, which is drained
//! for the life of the process), signals, and stopping it (SIGTERM, then SIGKILL) on drop.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::http::{Conn, Response, raw};

/// How long a server may take to print its listening lines (the machine is shared and busy).
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The server binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_webserv")
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "webserv-test-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` at `relative` (parents created). A name ending in `/` makes a directory.
    pub fn write(&self, relative: &str, contents: &[u8]) -> PathBuf {
        let path = self.path.join(relative);
        if relative.ends_with('/') {
            fs::create_dir_all(&path).expect("create dir");
        } else {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("create parent dir");
            }
            fs::write(&path, contents).expect("write file");
        }
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The entries of `dir`, sorted (hidden ones included).
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// A running `webserv`. Killed (SIGTERM, then SIGKILL) and cleaned up on drop.
pub struct Server {
    child: Option<Child>,
    /// Listening addresses, in the order the server printed them (listen order).
    pub addrs: Vec<SocketAddr>,
    stderr: Arc<Mutex<String>>,
    // Declared last: dropped after the child is gone.
    pub dir: TempDir,
}

/// The distinct `listen` arguments of a config text, in order: the number of listening lines a
/// server prints for it (the server binds each distinct address once).
pub fn listen_addresses(config: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for line in config.lines() {
        let line = line.split('#').next().unwrap_or("");
        let tokens: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == ';' || c == '{' || c == '}')
            .filter(|t| !t.is_empty())
            .collect();
        for pair in tokens.windows(2) {
            if pair[0] == "listen" && !seen.iter().any(|s: &String| s == pair[1]) {
                seen.push(pair[1].to_string());
            }
        }
    }
    seen
}

/// Outcome of starting a server that was expected to fail.
pub struct Failed {
    pub status: ExitStatus,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Server {
    /// Writes `files` (paths relative to a new temp dir) and `config` (as `webserv.conf` in
    /// that dir), starts the server and waits until every listener is announced.
    pub fn start(config: &str, files: &[(&str, &[u8])]) -> Server {
        Server::launch(files_dir(files), config, |_| {})
    }

    /// Like [`Server::start`], but a server that exits before announcing its listeners is
    /// returned as `Err` with its exit status and stderr.
    pub fn try_start(config: &str, files: &[(&str, &[u8])]) -> Result<Server, Failed> {
        Server::try_launch(files_dir(files), config, |_| {})
    }

    /// Like [`Server::start`], with the server's RLIMIT_NOFILE set to `nofile`.
    pub fn start_with_fd_limit(config: &str, files: &[(&str, &[u8])], nofile: u64) -> Server {
        Server::launch(files_dir(files), config, |command| {
            set_fd_limit(command, nofile)
        })
    }

    /// Starts `webserv webserv.conf` in `dir` (which the server owns from now on and removes
    /// when dropped) with `config` as its configuration; `adjust` has a last say on the command
    /// (limits, signal dispositions). Panics when the server does not start.
    pub fn launch(dir: TempDir, config: &str, adjust: impl FnOnce(&mut Command)) -> Server {
        match Server::try_launch(dir, config, adjust) {
            Ok(server) => server,
            Err(failed) => panic!(
                "webserv failed to start ({}):\n{}\nconfig:\n{config}",
                failed.status, failed.stderr
            ),
        }
    }

    /// Like [`Server::launch`], but a server that exits before announcing its listeners is
    /// returned as `Err` with its exit status and stderr.
    pub fn try_launch(
        dir: TempDir,
        config: &str,
        adjust: impl FnOnce(&mut Command),
    ) -> Result<Server, Failed> {
        Server::try_launch_command(dir, config, |config_path| {
            let mut command = Command::new(binary());
            command.arg(config_path);
            adjust(&mut command);
            command
        })
    }

    /// Like [`Server::try_launch`], with the command made by `command` from the config path
    /// (another program file, a wrapper that execs webserv); it runs in `dir`, stdin and stdout
    /// closed, stderr read as the server's.
    pub fn try_launch_command(
        dir: TempDir,
        config: &str,
        command: impl FnOnce(&Path) -> Command,
    ) -> Result<Server, Failed> {
        let config_path = dir.write("webserv.conf", config.as_bytes());
        let expected = listen_addresses(config).len();
        let started = Instant::now();
        let mut command = command(&config_path);
        command
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn webserv");

        let stderr_pipe = child.stderr.take().expect("stderr pipe");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        {
            let stderr = Arc::clone(&stderr);
            thread::spawn(move || {
                // Keeps draining for the life of the process, so the pipe never fills.
                let mut reader = BufReader::new(stderr_pipe);
                let mut line = String::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            stderr.lock().unwrap().push_str(&line);
                            let _ = lines_tx.send(line.trim_end().to_string());
                        }
                    }
                }
            });
        }

        let mut addrs = Vec::new();
        let deadline = started + START_TIMEOUT;
        while addrs.len() < expected {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) => {
                    if let Some(addr) = parse_listening_line(&line) {
                        addrs.push(addr);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // stderr closed: the process is exiting.
                    let status = wait_timeout(&mut child, Duration::from_secs(5))
                        .unwrap_or_else(|| kill_and_wait(&mut child));
                    let text = stderr.lock().unwrap().clone();
                    return Err(Failed {
                        status,
                        stderr: text,
                        elapsed: started.elapsed(),
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    let status = kill_and_wait(&mut child);
                    let text = stderr.lock().unwrap().clone();
                    panic!(
                        "webserv announced {} of {expected} listeners in {START_TIMEOUT:?} \
                         ({status}):\n{text}",
                        addrs.len()
                    );
                }
            }
        }
        // The channel's sender lives on in the drain thread; nobody reads it from now on, which
        // is fine (an unbounded channel of a few log lines).
        drop(lines_rx);
        Ok(Server {
            child: Some(child),
            addrs,
            stderr,
            dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.addrs[0].port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Everything the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// A connection to the first listener.
    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr())
    }

    /// Connects, writes `request`, and reads until the server closes (or the read timeout).
    pub fn raw(&self, request: &[u8]) -> Vec<u8> {
        raw(self.addr(), request)
    }

    /// `GET path` with `Connection: close`, parsed.
    pub fn get(&self, path: &str) -> Response {
        self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ))
    }

    /// Sends one request on a fresh connection and parses the first response.
    pub fn request(&self, request: &str) -> Response {
        let head = request.starts_with("HEAD ");
        let mut conn = self.connect();
        conn.send(request.as_bytes());
        if head {
            conn.read_head_response()
        } else {
            conn.read_response()
        }
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with our own child's pid has no memory-safety requirements.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({signal})");
    }

    /// Waits for the server to exit on its own within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = wait_timeout(self.child.as_mut()?, timeout);
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// SIGTERM, then wait (5 s) for the exit status.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(5))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Ok(None) = child.try_wait()
        {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            if wait_timeout(&mut child, Duration::from_secs(5)).is_none() {
                kill_and_wait(&mut child);
            }
        }
    }
}

/// A new temporary directory holding `files` (paths relative to it, contents).
fn files_dir(files: &[(&str, &[u8])]) -> TempDir {
    let dir = TempDir::new();
    for (path, contents) in files {
        dir.write(path, contents);
    }
    dir
}

/// Sets RLIMIT_NOFILE (soft and hard) of the process `command` starts.
pub fn set_fd_limit(command: &mut Command, nofile: u64) {
    // SAFETY: setrlimit is async-signal-safe; the closure touches no shared state.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: nofile as libc::rlim_t,
                rlim_max: nofile as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Makes the server start as from a clean shell: descriptors above 2 inherited from the test
/// harness are closed at exec, and signal dispositions and mask are the defaults, so that what
/// a CGI script inherits is what the server gives it.
pub fn clean_exec(command: &mut Command) {
    // SAFETY: only async-signal-safe calls (close_range, signal, sigprocmask) between fork and
    // exec.
    unsafe {
        command.pre_exec(|| {
            // CLOSE_RANGE_CLOEXEC keeps std's own exec-error pipe working.
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            for signal in 1..32 {
                if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                    libc::signal(signal, libc::SIG_DFL);
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// `YYYY/MM/DD HH:MM:SS [notice] listening on http://ADDR` → ADDR.
fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line
        .split_once("listening on http://")
        .or_else(|| line.split_once("listening on https://"))?;
    rest.trim().trim_end_matches('/').parse().ok()
}

pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

pub fn kill_and_wait(child: &mut Child) -> ExitStatus {
    let _ = child.kill();
    child.wait().expect("wait for webserv")
}

/// Runs `webserv ARGS` to completion (30 s at most): (status, stdout, stderr).
pub fn run_cli(args: &[&str], cwd: &Path) -> (ExitStatus, String, String) {
    run_command(Command::new(binary()), args, cwd)
}

/// [`run_cli`] as a user who has only the permissions files give: this user, or `nobody`
/// (uid and gid 65534) when the tests run as root, who reads and writes everything.
pub fn run_cli_unprivileged(args: &[&str], cwd: &Path) -> (ExitStatus, String, String) {
    let mut command = Command::new(binary());
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        command.uid(65534).gid(65534);
    }
    run_command(command, args, cwd)
}

fn run_command(mut command: Command, args: &[&str], cwd: &Path) -> (ExitStatus, String, String) {
    let mut child = command
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn webserv");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_thread = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_thread = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_timeout(&mut child, Duration::from_secs(30))
        .unwrap_or_else(|| kill_and_wait(&mut child));
    (
        status,
        out_thread.join().unwrap(),
        err_thread.join().unwrap(),
    )
}

/// A minimal config with one server on 127.0.0.1:0, `root www`, and `extra` inside the server
/// block.
pub fn simple_config(extra: &str) -> String {
    format!(
        "workers 1;\naccess_log off;\nserver {{\n    listen 127.0.0.1:0;\n    root www;\n{extra}\n}}\n"
    )
}
