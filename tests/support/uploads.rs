//! The upload and DELETE tests' site: an [`UploadServer`] runs in a directory holding
//! `webserv.conf`, `www/`, `store/` and `outside/` (a directory no request should ever reach),
//! with one-shot exchanges (`Connection: close`), request and body builders (chunked,
//! multipart), and looks at the store on disk.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::http::{Parse, Response, parse_response};
use super::server::{Server, TempDir};

/// Read timeout of upload sockets: large bodies on a busy machine; a hang still fails the test.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The configuration most tests use: `/uploads` is served from and stored into `store/`,
/// `/small` takes at most 1 KiB, `/slow` times bodies out after 1 s.
pub const CONFIG: &str = "\
workers 1;
access_log off;
server {
    listen 127.0.0.1:0;
    root www;
    client_max_body_size 300m;
    location /uploads {
        allow_methods GET HEAD POST PUT DELETE;
        alias store;
        upload_store store;
        autoindex on;
    }
    location /small {
        allow_methods POST PUT;
        alias store;
        upload_store store;
        client_max_body_size 1k;
    }
    location /slow {
        allow_methods POST PUT;
        alias store;
        upload_store store;
        client_body_timeout 1s;
    }
    location /files {
        allow_methods GET DELETE;
    }
    location /readonly {
        allow_methods GET;
    }
}
";

/// A server on an upload site; derefs to the shared [`Server`].
pub struct UploadServer {
    server: Server,
}

impl Deref for UploadServer {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl UploadServer {
    /// Starts a server on [`CONFIG`].
    pub fn start() -> UploadServer {
        UploadServer::with_config(CONFIG, |_| {})
    }

    /// Starts a server on `config`, after `prepare` has filled its directory (which already
    /// holds `www/`, `store/` and `outside/`).
    pub fn with_config(config: &str, prepare: impl FnOnce(&Path)) -> UploadServer {
        UploadServer::spawn(config, prepare, |_| {})
    }

    /// Like [`UploadServer::with_config`], with a last say on the command (limits,
    /// environment).
    pub fn spawn(
        config: &str,
        prepare: impl FnOnce(&Path),
        adjust: impl FnOnce(&mut Command),
    ) -> UploadServer {
        let dir = TempDir::new();
        for sub in ["www", "store", "outside"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        prepare(dir.path());
        UploadServer {
            server: Server::launch(dir, config, adjust),
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// A plain stream to the server (read and write timeouts set).
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr()).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream
    }

    /// Sends `raw` on a new connection and reads the response until the server closes.
    pub fn exchange(&self, raw: &[u8]) -> Response {
        let mut stream = self.connect();
        // The server may answer (413) and close before taking everything.
        let _ = stream.write_all(raw);
        read_response(&mut stream)
    }

    /// A request with `Content-Length` and `Connection: close`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut raw = head(method, path, headers);
        raw.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        raw.extend_from_slice(body);
        self.exchange(&raw)
    }

    pub fn get(&self, path: &str) -> Response {
        self.exchange(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    }

    pub fn delete(&self, path: &str) -> Response {
        self.exchange(
            format!("DELETE {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    }
}

/// The start of a request: request line, `Host`, `Connection: close` and `headers`, without the
/// blank line.
pub fn head(method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.into_bytes()
}

/// `body` in the chunked coding, in chunks of `size` bytes.
pub fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// One part of a multipart form: (name, filename, content).
pub type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

/// A `multipart/form-data` body with `boundary`.
pub fn multipart(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, filename, content) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(filename) => out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// Reads one final response (skipping `100 Continue`) with the shared parser. A connection
/// that ends (or is reset) inside the body still yields the response, with the body received
/// so far: the server may reset a connection whose request it did not read to the end.
pub fn read_response(stream: &mut TcpStream) -> Response {
    let mut buf = Vec::new();
    let mut eof = false;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match parse_response(&buf, false, eof) {
            Parse::Complete(response, used) if response.status < 200 => {
                buf.drain(..used);
                continue;
            }
            Parse::Complete(response, _) => return response,
            Parse::Invalid(why) => panic!(
                "invalid response ({why}): {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Parse::Partial if eof => {
                if let Parse::Complete(mut response, used) = parse_response(&buf, true, true)
                    && response.status >= 200
                {
                    response.body = buf[used..].to_vec();
                    return response;
                }
                panic!(
                    "connection closed before a complete response: {:?}",
                    String::from_utf8_lossy(&buf)
                );
            }
            Parse::Partial => {}
        }
        match stream.read(&mut chunk) {
            Ok(0) => eof = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if buf.is_empty() => panic!("reading the response: {e}"),
            // A reset after the response (the server closed with unread input).
            Err(_) => eof = true,
        }
    }
}

/// Every file and directory below `dir`, as paths relative to it, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
