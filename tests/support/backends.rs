//! The backends the reverse-proxy tests put behind webserv, each started on port 0 (or a
//! temporary unix socket) and stopped by its PID when dropped:
//!
//! - [`Backend::python`]: `backend.py`, our own (the request it saw as JSON, slow streams, early
//!   closes, malformed heads on demand; see its docstring for the routes).
//! - [`Backend::gunicorn`]: Debian's gunicorn serving `wsgi_app.py` (gthread workers, so it
//!   keeps connections alive and streams chunked).
//! - [`Backend::ws_echo`]: a WebSocket echo with Debian's python3-websockets; [`ws_client`]
//!   drives the matching client.
//!
//! Debian's packages run under `/usr/bin/python3` (the `python3` on PATH may lack them).
//! [`debian_tool`] says whether one is there: a test without it notes the skip, or fails when
//! `CI` is set (CI installs them).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long a backend may take to say where it listens (gunicorn boots a worker first).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The Debian interpreter that has python3-gunicorn and python3-websockets.
pub const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// `tests/support/NAME`.
pub fn support_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}

/// Whether the Debian tool a test needs is installed: `what` is a path, or `python:MODULE`
/// for a module of the Debian interpreter. When it is not: in CI (where `.ci/run` installs it)
/// a failure, elsewhere a note on stderr and `false` (the test returns early).
pub fn debian_tool(what: &str) -> bool {
    let present = match what.strip_prefix("python:") {
        Some(module) => Command::new(DEBIAN_PYTHON)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        None => Path::new(what).exists(),
    };
    if !present {
        super::skip::missing(&format!("{what} (.ci/run installs it)"));
    }
    present
}

/// Where a backend listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// A backend process, killed by its PID when dropped.
pub struct Backend {
    child: Child,
    pub listen: Listen,
    /// What the process wrote on stderr so far (gunicorn's log; Python tracebacks).
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Backend {
    /// `backend.py --name NAME` on 127.0.0.1, port 0.
    pub fn python(name: &str) -> Backend {
        Backend::spawn_announcing(
            Command::new("python3")
                .arg(support_file("backend.py"))
                .args(["--name", name]),
        )
    }

    /// `backend.py --name NAME --close-all`: every request read, then its connection closed.
    pub fn python_closing(name: &str) -> Backend {
        Backend::spawn_announcing(
            Command::new("python3")
                .arg(support_file("backend.py"))
                .args(["--name", name, "--close-all"]),
        )
    }

    /// `backend.py --name NAME --unix PATH`.
    pub fn python_unix(name: &str, path: &Path) -> Backend {
        Backend::spawn_announcing(
            Command::new("python3")
                .arg(support_file("backend.py"))
                .args(["--name", name, "--unix"])
                .arg(path),
        )
    }

    /// `ws_echo.py` under the Debian interpreter.
    pub fn ws_echo() -> Backend {
        Backend::spawn_announcing(Command::new(DEBIAN_PYTHON).arg(support_file("ws_echo.py")))
    }

    /// gunicorn serving `wsgi_app:app` with one gthread worker of 4 threads, on 127.0.0.1
    /// port 0 (the port is read from its `Listening at:` log line).
    pub fn gunicorn() -> Backend {
        let mut command = Command::new("/usr/bin/gunicorn");
        command
            .args([
                "--bind",
                "127.0.0.1:0",
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--keep-alive",
                "30",
                "--chdir",
            ])
            .arg(support_file(""))
            .arg("wsgi_app:app");
        let (child, log, lines) = spawn(&mut command, Source::Stderr);
        let mut backend = Backend {
            child,
            listen: Listen::Tcp(([127, 0, 0, 1], 0).into()),
            log,
        };
        loop {
            match lines.recv_timeout(START_TIMEOUT) {
                Ok(line) => {
                    if let Some(rest) = line.split("Listening at: http://").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or("");
                        backend.listen = Listen::Tcp(addr.parse().expect("gunicorn address"));
                        return backend;
                    }
                }
                Err(_) => panic!("gunicorn did not start:\n{}", backend.log()),
            }
        }
    }

    /// Starts `command`, whose first stdout line is its port (or socket path).
    fn spawn_announcing(command: &mut Command) -> Backend {
        let (child, log, lines) = spawn(command, Source::Stdout);
        let mut backend = Backend {
            child,
            listen: Listen::Tcp(([127, 0, 0, 1], 0).into()),
            log,
        };
        let first = match lines.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => panic!("backend did not start:\n{}", backend.log()),
        };
        backend.listen = match first.parse::<u16>() {
            Ok(port) => Listen::Tcp(([127, 0, 0, 1], port).into()),
            Err(_) => Listen::Unix(PathBuf::from(first)),
        };
        backend
    }

    /// The TCP address (panics for a unix socket backend).
    pub fn addr(&self) -> SocketAddr {
        match &self.listen {
            Listen::Tcp(addr) => *addr,
            Listen::Unix(path) => panic!("backend listens on {}", path.display()),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Stops the process now (SIGKILL by PID) and reaps it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
        if let Listen::Unix(path) = &self.listen {
            let _ = std::fs::remove_file(path);
        }
    }
}

enum Source {
    Stdout,
    Stderr,
}

type Spawned = (
    Child,
    std::sync::Arc<std::sync::Mutex<String>>,
    mpsc::Receiver<String>,
);

/// Starts `command` with stdout and stderr drained by threads for the life of the process:
/// stderr kept as the log, the lines of `lines` sent on the channel.
fn spawn(command: &mut Command, lines: Source) -> Spawned {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn backend");
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (out_tx, err_tx) = match lines {
        Source::Stdout => (Some(tx), None),
        Source::Stderr => (None, Some(tx)),
    };
    let drain = |pipe: Box<dyn Read + Send>,
                 tx: Option<mpsc::Sender<String>>,
                 log: Option<std::sync::Arc<std::sync::Mutex<String>>>| {
        thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if let Some(log) = &log
                            && let Ok(mut l) = log.lock()
                        {
                            l.push_str(&line);
                        }
                        if let Some(tx) = &tx {
                            let _ = tx.send(line.trim_end().to_string());
                        }
                    }
                }
            }
        });
    };
    drain(Box::new(stdout), out_tx, None);
    drain(Box::new(stderr), err_tx, Some(std::sync::Arc::clone(&log)));
    (child, log, rx)
}

/// Runs `ws_client.py URL ARGS...` under the Debian interpreter (60 s at most).
pub fn ws_client(url: &str, args: &[&str]) -> Output {
    let mut child = Command::new(DEBIAN_PYTHON)
        .arg(support_file("ws_client.py"))
        .arg(url)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ws_client.py");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                break;
            }
        }
    }
    child.wait_with_output().expect("ws_client.py output")
}

/// A JSON value's field as text, for the echo documents (a tiny reader: the tests only look
/// up top-level strings and numbers, and `[name, value]` pairs of `headers`).
pub mod json {
    /// The top-level field `key` of a flat JSON object as raw text (strings unquoted and
    /// unescaped for `\"`, `\\`, `\r`, `\n`, `\t` and `\uXXXX`).
    pub fn field(doc: &str, key: &str) -> Option<String> {
        let needle = format!("\"{key}\": ");
        let start = doc.find(&needle)? + needle.len();
        let rest = &doc[start..];
        if let Some(s) = rest.strip_prefix('"') {
            return Some(unescape_until_quote(s).0);
        }
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    }

    /// The `headers` array of an echo: `[["Name", "value"], ...]`.
    pub fn headers(doc: &str) -> Vec<(String, String)> {
        let key = "\"headers\": [";
        let Some(start) = doc.find(key) else {
            return Vec::new();
        };
        let mut rest = &doc[start + key.len()..];
        let mut out = Vec::new();
        loop {
            rest = rest.trim_start_matches([',', ' ']);
            let Some(r) = rest.strip_prefix("[\"") else {
                break;
            };
            let (name, after) = unescape_until_quote(r);
            let Some(after) = after.trim_start_matches([',', ' ']).strip_prefix('"') else {
                break;
            };
            let (value, after) = unescape_until_quote(after);
            out.push((name, value));
            let Some(after) = after.strip_prefix(']') else {
                break;
            };
            rest = after;
        }
        out
    }

    /// A JSON string body up to its closing quote, unescaped, and what follows the quote.
    fn unescape_until_quote(s: &str) -> (String, &str) {
        let mut out = String::new();
        let mut chars = s.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return (out, &s[i + 1..]),
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'u')) => {
                        let hex: String =
                            (0..4).filter_map(|_| chars.next().map(|x| x.1)).collect();
                        if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                        {
                            out.push(c);
                        }
                    }
                    Some((_, other)) => out.push(other),
                    None => break,
                },
                other => out.push(other),
            }
        }
        (out, "")
    }
}
