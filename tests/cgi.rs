//! CGI/1.1 against the real binary: environment, request bodies in, output streamed out,
//! failures (502, 504, 404), process hygiene (killed scripts, no zombies, no leaked fds) and
//! bounded memory. Each test runs its own server (port 0, one worker) on a temporary site whose
//! scripts are `support::cgi::SCRIPTS` (fcgiwrap runs them too: tests/fcgiwrap.rs); the demo
//! scripts of www/cgi-bin are tested at the end.

mod support;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};
use support::cgi::*;
use support::{data::*, proc::*, server::*};

const CONFIG: &str = "\
workers 1;
access_log off;
server {
    listen 127.0.0.1:0;
    server_name localhost;
    client_max_body_size 0;
    location /cgi-bin {
        allow_methods GET HEAD POST;
        cgi .py /usr/bin/python3;
        cgi .sh /bin/sh;
        cgi .php /usr/bin/php-cgi;
        cgi .bin;
        cgi .nope /nonexistent/interpreter;
        cgi_timeout 2s;
    }
    # Same scripts, but slow ones are not cut short.
    location /long-bin {
        allow_methods GET HEAD POST;
        cgi .py /usr/bin/python3;
        cgi .sh /bin/sh;
        cgi_timeout 30s;
    }
}
";

/// A temporary site (config + www with the scripts of `support::cgi::SCRIPTS`) and its server.
struct Site {
    /// Owns the site's directory, removed once the server is gone.
    server: Server,
}

impl Site {
    fn start() -> Site {
        let dir = TempDir::new();
        for (path, contents, executable) in SCRIPTS {
            write_file(&dir.path().join("www").join(path), contents, *executable);
        }
        let server = Server::launch(dir, CONFIG, clean_exec);
        Site { server }
    }

    fn www(&self) -> PathBuf {
        self.server.dir.path().join("www")
    }

    fn connect(&self) -> Client {
        self.server.client()
    }

    fn get(&self, target: &str) -> Response {
        self.connect().get(target)
    }
}

/// `NAME=VALUE` lines of env.py, and its `@cwd` and `@argv` lines.
fn env_lines(response: &Response) -> Vec<(String, String)> {
    assert_eq!(response.status(), 200, "{}", response.text());
    response
        .text()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------------------------
// Environment

#[test]
fn environment_holds_the_rfc_3875_variables_with_path_info_and_query() {
    let site = Site::start();
    let mut client = site.connect();
    let local_port = client.stream.local_addr().unwrap().port();
    let port = site.server.port();
    client.send(format!(
        "GET /cgi-bin/env.py/a/b%20c?x=1&y=%20z HTTP/1.1\r\nHost: localhost:{port}\r\n\
         User-Agent: cgi-test\r\nAccept: text/a\r\nAccept: text/b\r\nX-Forwarded-For: 10.1.2.3\r\n\
         X_Under: dropped\r\n\r\n"
    ));
    let env = env_lines(&client.response(false));
    let www = site.www();
    let www = www.to_str().unwrap();
    let expect = [
        ("GATEWAY_INTERFACE", "CGI/1.1".to_string()),
        ("SERVER_PROTOCOL", "HTTP/1.1".into()),
        ("REQUEST_METHOD", "GET".into()),
        ("REQUEST_URI", "/cgi-bin/env.py/a/b%20c?x=1&y=%20z".into()),
        ("SCRIPT_NAME", "/cgi-bin/env.py".into()),
        ("SCRIPT_FILENAME", format!("{www}/cgi-bin/env.py")),
        ("PATH_INFO", "/a/b c".into()),
        ("PATH_TRANSLATED", format!("{www}/a/b c")),
        ("QUERY_STRING", "x=1&y=%20z".into()),
        ("DOCUMENT_ROOT", www.to_string()),
        ("REMOTE_ADDR", "127.0.0.1".into()),
        ("REMOTE_PORT", local_port.to_string()),
        ("SERVER_ADDR", "127.0.0.1".into()),
        ("SERVER_PORT", port.to_string()),
        ("SERVER_NAME", "localhost".into()),
        ("REDIRECT_STATUS", "200".into()),
        ("HTTP_HOST", format!("localhost:{port}")),
        ("HTTP_USER_AGENT", "cgi-test".into()),
        ("HTTP_ACCEPT", "text/a, text/b".into()),
        ("HTTP_X_FORWARDED_FOR", "10.1.2.3".into()),
        ("@cwd", format!("{www}/cgi-bin")),
        ("@argv", format!("[\"{www}/cgi-bin/env.py\"]")),
    ];
    for (name, value) in expect {
        assert_eq!(var(&env, name), Some(value.as_str()), "{name}");
    }
    assert!(var(&env, "SERVER_SOFTWARE").unwrap().starts_with("webserv"));
    assert!(var(&env, "PATH").is_some_and(|p| !p.is_empty()));
    for absent in [
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "HTTP_X_UNDER",
        "HTTP_CONTENT_LENGTH",
    ] {
        assert_eq!(var(&env, absent), None, "{absent}");
    }
}

#[test]
fn query_string_is_passed_undecoded_and_path_info_is_empty_without_extra_path() {
    let site = Site::start();
    let env = env_lines(&site.get("/cgi-bin/env.py?a=%41&b=c+d&flag"));
    assert_eq!(var(&env, "QUERY_STRING"), Some("a=%41&b=c+d&flag"));
    assert_eq!(var(&env, "PATH_INFO"), Some(""));
    assert_eq!(var(&env, "PATH_TRANSLATED"), None);
    assert_eq!(var(&env, "SCRIPT_NAME"), Some("/cgi-bin/env.py"));

    let env = env_lines(&site.get("/cgi-bin/env.py"));
    assert_eq!(var(&env, "QUERY_STRING"), Some(""));
    assert_eq!(var(&env, "REQUEST_URI"), Some("/cgi-bin/env.py"));
}

#[test]
fn a_post_sets_content_length_and_content_type() {
    let site = Site::start();
    let mut client = site.connect();
    client.send(
        "POST /cgi-bin/env.py HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2",
    );
    let env = env_lines(&client.response(false));
    assert_eq!(var(&env, "REQUEST_METHOD"), Some("POST"));
    assert_eq!(var(&env, "CONTENT_LENGTH"), Some("7"));
    assert_eq!(
        var(&env, "CONTENT_TYPE"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(var(&env, "HTTP_CONTENT_TYPE"), None);
}

#[test]
fn a_proxy_header_never_becomes_http_proxy() {
    let site = Site::start();
    let mut client = site.connect();
    client.send(
        "GET /cgi-bin/env.py HTTP/1.1\r\nHost: localhost\r\nProxy: http://evil.example:8080\r\n\r\n",
    );
    let env = env_lines(&client.response(false));
    assert_eq!(var(&env, "HTTP_PROXY"), None);
    assert!(env.iter().all(|(_, v)| !v.contains("evil.example")));
}

#[test]
fn an_http_1_0_request_reports_its_protocol_to_the_script() {
    let site = Site::start();
    let mut client = site.connect();
    client.send("GET /cgi-bin/env.py HTTP/1.0\r\n\r\n");
    let env = env_lines(&client.response(false));
    assert_eq!(var(&env, "SERVER_PROTOCOL"), Some("HTTP/1.0"));
}

// ---------------------------------------------------------------------------------------------
// Request bodies

/// POSTs `len` random bytes to echo.sh (copies stdin to stdout) and checks they come back.
fn post_echo(len: usize, seed: u64) {
    let site = Site::start();
    let body = random_bytes(len, seed);
    let mut client = site.connect();
    client.send(format!(
        "POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
    ));
    let writer = send_in_background(&client, body.clone());
    let response = client.response(false);
    writer.join().unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.complete);
    assert_eq!(
        response.header("X-Content-Length"),
        Some(len.to_string().as_str())
    );
    assert_eq!(response.body.len(), len);
    assert_eq!(first_difference(&response.body, &body), None);
}

#[test]
fn a_post_body_of_100_kib_random_bytes_is_echoed_byte_exact() {
    post_echo(100 * 1024, 0x1001);
}

#[test]
fn a_post_body_of_1_mib_random_bytes_is_echoed_byte_exact() {
    post_echo(1024 * 1024, 0x2002);
}

#[test]
fn a_chunked_post_reaches_the_script_de_chunked_with_its_content_length() {
    let site = Site::start();
    let sizes = [1usize, 15, 4096, 65_543, 100_000, 3];
    let data = random_bytes(sizes.iter().sum(), 0x3003);
    let mut wire = Vec::new();
    let mut at = 0;
    for (i, size) in sizes.iter().enumerate() {
        let extension = if i == 2 { ";name=value" } else { "" };
        wire.extend_from_slice(format!("{size:x}{extension}\r\n").as_bytes());
        wire.extend_from_slice(&data[at..at + size]);
        wire.extend_from_slice(b"\r\n");
        at += size;
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let mut client = site.connect();
    client.send(
        "POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    // In pieces that split the chunk lines and data.
    let mut stream = client.stream.try_clone().unwrap();
    let writer = thread::spawn(move || {
        use std::io::Write;
        for piece in wire.chunks(7_777) {
            stream.write_all(piece).unwrap();
        }
    });
    let response = client.response(false);
    writer.join().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.header("X-Content-Length"),
        Some(data.len().to_string().as_str())
    );
    assert_eq!(first_difference(&response.body, &data), None);
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let site = Site::start();
    let mut client = site.connect();
    client.send(
        "POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\
         Expect: 100-continue\r\n\r\n",
    );
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    let got_interim = client.wait_for_bytes(interim.len(), Duration::from_millis(1000))
        && client.pending().starts_with(interim);
    client.send("hello");
    let response = client.response(false);
    assert_eq!(response.text(), "hello");
    assert!(
        got_interim,
        "no 100 Continue within 1 s; got {:?}",
        String::from_utf8_lossy(client.pending())
    );
}

#[test]
fn a_post_body_the_script_ignores_does_not_block_the_response() {
    let site = Site::start();
    let len = 1024 * 1024;
    let mut client = site.connect();
    client.send(format!(
        "POST /cgi-bin/ignores-body.sh HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len}\r\n\r\n"
    ));
    let writer = send_in_background(&client, random_bytes(len, 0x4004));
    let response = client.response(false);
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "your body was ignored\n");
    writer.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// The script's header block

#[test]
fn a_status_header_sets_the_response_status_and_reason() {
    let site = Site::start();
    let response = site.get("/cgi-bin/status.sh");
    assert_eq!(response.status(), 404);
    assert_eq!(response.head.reason, "Not Found");
    assert_eq!(response.header("Content-Type"), Some("text/plain"));
    assert_eq!(response.text(), "nothing here\n");
}

#[test]
fn a_location_alone_redirects_with_302() {
    let site = Site::start();
    let response = site.get("/cgi-bin/redirect.sh");
    assert_eq!(response.status(), 302);
    assert_eq!(response.header("Location"), Some("/x"));
    assert!(response.complete);
}

#[test]
fn the_scripts_content_length_is_used_instead_of_chunking() {
    let site = Site::start();
    let mut client = site.connect();
    let response = client.get("/cgi-bin/length.sh");
    assert_eq!(response.status(), 200);
    assert_eq!(response.framing, Framing::Length(5), "{:?}", response.head);
    assert_eq!(response.header("Transfer-Encoding"), None);
    assert_eq!(response.text(), "hello");
    // The length ends the body exactly: the connection carries another request.
    assert_eq!(client.get("/cgi-bin/length.sh").text(), "hello");
}

#[test]
fn without_a_content_length_the_body_is_chunked_on_http_1_1() {
    let site = Site::start();
    let response = site.get("/cgi-bin/q.sh?chunky");
    assert_eq!(response.framing, Framing::Chunked);
    assert!(response.complete);
    assert_eq!(response.text(), "chunky");
}

#[test]
fn hop_by_hop_fields_from_the_script_are_dropped_and_others_passed_through() {
    let site = Site::start();
    let mut client = site.connect();
    let response = client.get("/cgi-bin/passthrough.sh");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "passed");
    assert_eq!(response.header("X-Custom"), Some("yes"));
    assert_eq!(response.head.all("Set-Cookie"), ["a=1", "b=2"]);
    assert_eq!(response.header("Keep-Alive"), None);
    assert_eq!(response.header("Upgrade"), None);
    assert!(
        !response.head.closes(),
        "the script's Connection: close leaked"
    );
    // The framing is the server's own.
    assert_eq!(response.framing, Framing::Chunked);
    assert_eq!(client.get("/cgi-bin/q.sh?again").text(), "again");
}

#[test]
fn a_status_without_body_gets_no_body_and_keeps_the_connection() {
    let site = Site::start();
    let mut client = site.connect();
    let response = client.get("/cgi-bin/no-content.sh");
    assert_eq!(response.status(), 204);
    assert_eq!(response.header("Content-Length"), None);
    assert_eq!(response.header("Transfer-Encoding"), None);
    assert_eq!(client.get("/cgi-bin/q.sh?next").text(), "next");
}

#[test]
fn output_past_the_scripts_content_length_is_dropped() {
    let site = Site::start();
    let mut client = site.connect();
    let response = client.get("/cgi-bin/too-long.sh");
    assert_eq!(response.header("Content-Length"), Some("3"));
    assert_eq!(response.text(), "hel");
    // Nothing of "lo" reaches the connection: the next response parses.
    assert_eq!(client.get("/cgi-bin/q.sh?clean").text(), "clean");
}

#[test]
fn output_short_of_the_scripts_content_length_ends_with_the_connection() {
    let site = Site::start();
    let mut client = site.connect();
    client.send("GET /cgi-bin/too-short.sh HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let response = client.response(false);
    assert_eq!(response.header("Content-Length"), Some("10"));
    assert_eq!(response.text(), "hello");
    assert!(
        !response.complete,
        "the connection stayed open after a short body"
    );
}

#[test]
fn a_header_block_written_in_pieces_is_assembled() {
    let site = Site::start();
    let response = site.get("/cgi-bin/slow-head.sh");
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("X-Late"), Some("yes"));
    assert_eq!(response.text(), "body");
}

#[test]
fn an_invalid_status_line_from_the_script_gets_502() {
    let site = Site::start();
    assert_eq!(site.get("/cgi-bin/bad-status.sh").status(), 502);
}

#[test]
fn a_script_without_any_output_gets_502() {
    let site = Site::start();
    let response = site.get("/cgi-bin/silent.sh");
    assert_eq!(response.status(), 502);
    assert!(response.text().contains("502"));
}

#[test]
fn an_invalid_header_block_gets_502() {
    let site = Site::start();
    assert_eq!(site.get("/cgi-bin/invalid.sh").status(), 502);
}

#[test]
fn a_header_block_over_the_limit_gets_502() {
    let site = Site::start();
    assert_eq!(site.get("/cgi-bin/huge-head.sh").status(), 502);
}

#[test]
fn a_missing_interpreter_gets_502() {
    let site = Site::start();
    let response = site.get("/cgi-bin/app.nope");
    assert_eq!(response.status(), 502);
    // The server is still serving.
    assert_eq!(site.get("/cgi-bin/q.sh?alive").text(), "alive");
}

#[test]
fn a_missing_script_gets_404() {
    let site = Site::start();
    assert_eq!(site.get("/cgi-bin/nope.py").status(), 404);
    assert_eq!(site.get("/cgi-bin/nope.py/with/path/info").status(), 404);
}

#[test]
fn a_script_without_interpreter_is_executed_directly() {
    let site = Site::start();
    let response = site.get("/cgi-bin/direct.bin");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "run directly\n");
    assert_eq!(site.get("/cgi-bin/not-executable.bin").status(), 502);
}

#[test]
fn php_cgi_runs_a_hello_page() {
    if !Path::new("/usr/bin/php-cgi").exists() {
        support::skip::missing("/usr/bin/php-cgi (Debian package php-cgi)");
        return;
    }
    let site = Site::start();
    let response = site.get("/cgi-bin/hello.php?name=%3Cworld%3E");
    assert_eq!(response.status(), 200, "{}", response.text());
    assert_eq!(response.header("X-Test"), Some("php"));
    assert!(
        response
            .header("Content-Type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(
        response.text(),
        "Hello from PHP, method GET, name &lt;world&gt;\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Timeouts and killed scripts

#[test]
fn a_silent_script_gets_504_after_cgi_timeout_and_is_killed() {
    let site = Site::start();
    let mut client = site.connect();
    let started = Instant::now();
    client.send("GET /cgi-bin/sleeper.sh?timeout.pid HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let pid = read_pid_file(&site.www().join("cgi-bin/timeout.pid"));
    let response = client.response(false);
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 504);
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_millis(3500),
        "504 after {elapsed:?} with cgi_timeout 2s"
    );
    assert!(
        wait_until(Duration::from_secs(3), || !pid_exists(pid)),
        "script {pid} still exists after its 504"
    );
}

#[test]
fn a_script_going_silent_mid_body_is_cut_off_after_cgi_timeout_and_killed() {
    let site = Site::start();
    let mut client = site.connect();
    let started = Instant::now();
    client.send("GET /cgi-bin/stalls.sh?stalls.pid HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let response = client.response(false);
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "started\n");
    assert!(!response.complete, "a cut-off body ended with a last chunk");
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_millis(3500),
        "cut off after {elapsed:?} with cgi_timeout 2s"
    );
    let pid = read_pid_file(&site.www().join("cgi-bin/stalls.pid"));
    assert!(
        wait_until(Duration::from_secs(3), || !pid_exists(pid)),
        "script {pid} still exists after being cut off"
    );
}

#[test]
fn a_script_closing_its_output_early_gets_its_response_completed_at_once() {
    let site = Site::start();
    let mut client = site.connect();
    let started = Instant::now();
    let response = client.get("/cgi-bin/closes-early.sh");
    let elapsed = started.elapsed();
    assert_eq!(response.text(), "done\n");
    assert!(response.complete, "response cut short after {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(1),
        "response ended after {elapsed:?}"
    );
}

#[test]
fn a_client_disconnecting_mid_stream_kills_the_script() {
    let site = Site::start();
    let mut client = site.connect();
    client.send("GET /cgi-bin/forever.sh?forever.pid HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let head = client.head();
    assert_eq!(head.status, 200);
    let mut reader = client.body_reader(&head, false);
    let mut received = 0;
    while received < 200_000 {
        received += client.body_part(&mut reader, 65536).expect("body").len();
    }
    let pid = read_pid_file(&site.www().join("cgi-bin/forever.pid"));
    assert!(pid_exists(pid));
    drop(client);
    assert!(
        wait_until(Duration::from_secs(3), || !pid_exists(pid)),
        "script {pid} still runs after its client left"
    );
}

#[test]
fn a_client_disconnecting_before_any_output_kills_the_script() {
    let site = Site::start();
    let mut client = site.connect();
    client.send("GET /long-bin/sleeper.sh?early.pid HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let pid = read_pid_file(&site.www().join("long-bin/early.pid"));
    thread::sleep(Duration::from_millis(100));
    drop(client);
    // cgi_timeout is 30 s here: only the disconnect can end it this soon.
    assert!(
        wait_until(Duration::from_secs(3), || !pid_exists(pid)),
        "script {pid} still runs after its client left"
    );
}

#[test]
fn a_script_dying_after_its_headers_leaves_the_chunked_body_unterminated_and_closes() {
    let site = Site::start();
    let mut client = site.connect();
    let response = client.get("/cgi-bin/dies.sh");
    assert_eq!(response.status(), 200);
    assert_eq!(response.framing, Framing::Chunked);
    assert_eq!(response.text(), "partial output\n");
    assert!(
        !response.complete,
        "a killed script's body ended with a last chunk"
    );
    assert!(client.closed_within(Duration::from_secs(3)));
}

#[test]
fn no_zombie_children_remain_after_killed_and_failed_scripts() {
    let site = Site::start();
    // Killed on disconnect, killed by a signal, failed, timed out.
    let mut streaming = site.connect();
    streaming.send("GET /cgi-bin/forever.sh?z.pid HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(streaming.head().status, 200);
    drop(streaming);
    assert_eq!(site.get("/cgi-bin/dies.sh").status(), 200);
    assert_eq!(site.get("/cgi-bin/invalid.sh").status(), 502);
    assert_eq!(site.get("/cgi-bin/silent.sh").status(), 502);
    assert_eq!(site.get("/cgi-bin/sleeper.sh?z2.pid").status(), 504);
    let mut children = Vec::new();
    let gone = wait_until(Duration::from_secs(3), || {
        children = site.server.children();
        children.is_empty()
    });
    assert!(gone, "children of the server left: {children:?}");
}

// ---------------------------------------------------------------------------------------------
// Streaming and memory

#[test]
fn output_is_streamed_as_the_script_writes_it() {
    let site = Site::start();
    let mut client = site.connect();
    let started = Instant::now();
    client.send("GET /long-bin/stream.sh HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let head = client.head();
    let mut reader = client.body_reader(&head, false);
    let mut text = Vec::new();
    let mut first_at = None;
    while let Some(part) = client.body_part(&mut reader, 65536) {
        text.extend_from_slice(&part);
        if first_at.is_none() && text.starts_with(b"first\n") {
            first_at = Some(started.elapsed());
        }
    }
    let end_at = started.elapsed();
    assert!(reader.complete);
    assert_eq!(String::from_utf8(text).unwrap(), "first\nsecond\n");
    let first_at = first_at.unwrap();
    assert!(
        first_at < Duration::from_millis(1500),
        "first line after {first_at:?}"
    );
    assert!(
        end_at - first_at > Duration::from_millis(1500),
        "first line at {first_at:?}, second at {end_at:?}: not streamed"
    );
}

/// Checks big.py's output as it arrives: record `n` is `n` in 15 digits, 48 dots and LF.
struct BigPattern {
    offset: u64,
    record: [u8; 64],
}

impl BigPattern {
    fn new() -> BigPattern {
        let mut record = [b'.'; 64];
        record[63] = b'\n';
        BigPattern { offset: 0, record }
    }

    /// Checks the next bytes; the offset of the first wrong one, if any.
    fn check(&mut self, data: &[u8]) -> Option<u64> {
        for &byte in data {
            let at = (self.offset % 64) as usize;
            if at == 0 {
                let mut n = self.offset / 64;
                for digit in self.record[..15].iter_mut().rev() {
                    *digit = b'0' + (n % 10) as u8;
                    n /= 10;
                }
            }
            if byte != self.record[at] {
                return Some(self.offset);
            }
            self.offset += 1;
        }
        None
    }
}

#[test]
fn fifty_mib_to_a_slow_reader_arrive_intact_while_server_memory_stays_bounded() {
    const TOTAL: u64 = 50 * 1024 * 1024;
    let site = Site::start();
    let baseline = site.server.rss_kib();
    let mut client = site.connect();
    let started = Instant::now();
    client.send("GET /long-bin/big.py HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let head = client.head();
    assert_eq!(head.status, 200);
    let mut reader = client.body_reader(&head, false);
    let mut received: u64 = 0;
    let mut peak = baseline;
    let mut pattern = BigPattern::new();
    let mut unpaced = 0;
    while let Some(part) = client.body_part(&mut reader, 64 * 1024) {
        if let Some(at) = pattern.check(&part) {
            panic!("output differs at byte {at}");
        }
        received += part.len() as u64;
        // About 20 MiB/s: 3 ms per 64 KiB read.
        unpaced += part.len();
        if unpaced >= 64 * 1024 {
            unpaced -= 64 * 1024;
            peak = peak.max(site.server.rss_kib());
            thread::sleep(Duration::from_millis(3));
        }
    }
    assert!(reader.complete, "body cut short after {received} bytes");
    assert_eq!(received, TOTAL);
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "50 MiB in {:?}; server VmRSS {baseline} KiB at start, peak {peak} KiB",
        started.elapsed()
    );
    assert!(growth < 40 * 1024, "server VmRSS grew by {growth} KiB");
}

#[test]
fn a_script_that_exited_while_its_output_pipe_stays_open_costs_no_cpu() {
    let site = Site::start();
    let ticks_per_second = clock_ticks_per_second();
    let before = site.server.cpu_ticks();
    let started = Instant::now();
    let response = site.get("/cgi-bin/background.sh");
    let elapsed = started.elapsed();
    let used = site.server.cpu_ticks() - before;
    assert_eq!(response.text(), "hi\n");
    // The body ends when the background sleep closes the pipe.
    assert!(elapsed >= Duration::from_millis(1400), "{elapsed:?}");
    assert!(
        used * 4 < ticks_per_second,
        "server used {used} ticks ({ticks_per_second}/s) of CPU in {elapsed:?} waiting for the pipe"
    );
}

// ---------------------------------------------------------------------------------------------
// Connections

#[test]
fn head_runs_the_script_but_sends_no_body_and_the_connection_stays_usable() {
    let site = Site::start();
    let mut client = site.connect();
    client.send("HEAD /cgi-bin/head.sh?head.ran HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let response = client.response(true);
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("X-Method"), Some("HEAD"));
    assert_eq!(response.header("Content-Type"), Some("text/plain"));
    assert!(
        site.www().join("cgi-bin/head.ran").exists(),
        "the script did not run"
    );
    assert!(!response.head.closes());
    // Any body bytes after the HEAD response would be read here as the next status line.
    assert_eq!(client.get("/cgi-bin/q.sh?after-head").text(), "after-head");
}

#[test]
fn head_keeps_the_scripts_content_length_without_the_body() {
    let site = Site::start();
    let mut client = site.connect();
    client.send("HEAD /cgi-bin/length.sh HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let response = client.response(true);
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("Content-Length"), Some("5"));
    assert_eq!(client.get("/cgi-bin/length.sh").text(), "hello");
}

#[test]
fn concurrent_cgi_requests_run_side_by_side_on_one_worker() {
    let site = Site::start();
    let started = Instant::now();
    let mut clients: Vec<Client> = (0..8)
        .map(|i| {
            let mut client = site.connect();
            client.send(format!(
                "GET /cgi-bin/q.sh?slow-{i} HTTP/1.1\r\nHost: localhost\r\n\r\n"
            ));
            client
        })
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(client.response(false).text(), format!("slow-{i}"));
    }
    // Each sleeps 0.3 s: one after the other would take 2.4 s.
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(1500),
        "8 slow scripts took {elapsed:?}"
    );
}

#[test]
fn running_scripts_leaves_the_servers_open_fds_unchanged() {
    let site = Site::start();
    let fds = || -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/fd", site.server.pid()))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .map(|target| target.to_string_lossy().into_owned())
            .collect()
    };
    let sockets = |fds: &[String]| fds.iter().filter(|t| t.starts_with("socket:")).count();
    // One request, so that the worker is fully up; then, with its connection closed, only the
    // listener is a socket.
    assert_eq!(site.get("/cgi-bin/q.sh?warm").status(), 200);
    assert!(wait_until(Duration::from_secs(2), || sockets(&fds()) == 1));
    let before = fds().len();
    for target in [
        "/cgi-bin/q.sh?a",
        "/cgi-bin/invalid.sh",
        "/cgi-bin/silent.sh",
        "/cgi-bin/app.nope",
        "/cgi-bin/dies.sh",
        "/cgi-bin/nope.py",
        "/cgi-bin/length.sh",
    ] {
        let mut client = site.connect();
        let _ = client.get(target);
        drop(client);
    }
    let mut post = site.connect();
    post.send("POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    assert_eq!(post.response(false).text(), "abc");
    drop(post);
    let mut after = Vec::new();
    let settled = wait_until(Duration::from_secs(2), || {
        after = fds();
        after.len() == before
    });
    assert!(settled, "server fds: {before} before, after: {after:#?}");
}

#[test]
fn two_cgi_requests_share_one_keep_alive_connection() {
    let site = Site::start();
    let mut client = site.connect();
    let first = client.get("/cgi-bin/q.sh?one");
    assert_eq!(first.text(), "one");
    assert!(!first.head.closes());
    let second = client.get("/cgi-bin/q.sh?two");
    assert_eq!(second.text(), "two");
    assert!(!second.head.closes());
}

#[test]
fn pipelined_cgi_requests_are_answered_in_order() {
    let site = Site::start();
    let mut client = site.connect();
    client.send(
        "GET /cgi-bin/q.sh?slow-first HTTP/1.1\r\nHost: localhost\r\n\r\n\
         GET /cgi-bin/q.sh?second HTTP/1.1\r\nHost: localhost\r\n\r\n\
         POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nthird\
         GET /cgi-bin/length.sh HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    for expected in ["slow-first", "second", "third", "hello"] {
        let response = client.response(false);
        assert_eq!(response.status(), 200);
        assert_eq!(response.text(), expected);
    }
}

#[test]
fn an_http_1_0_request_gets_a_close_delimited_body() {
    let site = Site::start();
    let mut client = site.connect();
    client.send("GET /cgi-bin/q.sh?old-client HTTP/1.0\r\n\r\n");
    let response = client.response(false);
    assert_eq!(response.status(), 200);
    assert_eq!(response.framing, Framing::Close);
    assert_eq!(response.header("Transfer-Encoding"), None);
    assert_eq!(response.text(), "old-client");
}

#[test]
fn an_http_1_0_keep_alive_request_without_script_length_still_closes() {
    let site = Site::start();
    let mut client = site.connect();
    client.send("GET /cgi-bin/q.sh?ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let response = client.response(false);
    assert_eq!(response.framing, Framing::Close);
    assert_eq!(response.text(), "ka");
}

// ---------------------------------------------------------------------------------------------
// What the script inherits

#[test]
fn a_script_inherits_only_stdin_stdout_and_stderr() {
    let site = Site::start();
    let response = site.get("/cgi-bin/fds.py");
    assert_eq!(response.status(), 200);
    let fds: Vec<String> = response.text().lines().map(str::to_string).collect();
    let numbers: Vec<&str> = fds.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(numbers, ["0", "1", "2"], "open fds of the script: {fds:#?}");
}

#[test]
fn a_script_starts_with_default_signal_dispositions_and_no_blocked_signals() {
    let site = Site::start();
    let text = site.get("/cgi-bin/signals.sh").text();
    assert!(text.contains("SigBlk:\t0000000000000000"), "{text}");
    // Signals 1 to 31; 32 and 33 are glibc's own and not the server's to reset.
    let ignored = text
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:\t"))
        .and_then(|mask| u64::from_str_radix(mask, 16).ok())
        .expect("SigIgn");
    assert_eq!(ignored & 0x7fff_ffff, 0, "ignored signals: {ignored:#x}");
}

#[test]
fn a_scripts_stderr_goes_to_the_error_log() {
    let site = Site::start();
    assert_eq!(site.get("/cgi-bin/stderr.sh").text(), "ok\n");
    assert!(
        wait_until(Duration::from_secs(2), || site
            .server
            .stderr()
            .contains("complaint from stderr.sh: marker-5150")),
        "error log: {}",
        site.server.stderr()
    );
}

// ---------------------------------------------------------------------------------------------
// The demo scripts of www/cgi-bin

/// The repository's www/cgi-bin served under /cgi-bin.
fn demo_site() -> Server {
    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let config = format!(
        "workers 1;\naccess_log off;\nserver {{\n    listen 127.0.0.1:0;\n    root \"{}\";\n\
         location /cgi-bin {{\n        allow_methods GET HEAD POST;\n\
         cgi .py /usr/bin/python3;\n        cgi .sh /bin/sh;\n        cgi .php /usr/bin/php-cgi;\n\
         cgi_timeout 15s;\n    }}\n}}\n",
        www.display()
    );
    Server::launch(TempDir::new(), &config, clean_exec)
}

#[test]
fn demo_form_shows_a_form_and_echoes_posted_fields_html_escaped() {
    let server = demo_site();
    let mut client = server.client();
    let form = client.get("/cgi-bin/form.py");
    assert_eq!(form.status(), 200);
    assert!(
        form.header("Content-Type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(form.text().contains("<form method=\"post\""));
    assert!(form.text().contains("/style.css"));

    let body = "name=%3Cb%3EBob%3C%2Fb%3E&message=fish+%26+chips";
    client.send(format!(
        "POST /cgi-bin/form.py HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let text = client.response(false).text();
    assert!(
        text.contains("<th>name</th><td>&lt;b&gt;Bob&lt;/b&gt;</td>"),
        "{text}"
    );
    assert!(
        text.contains("<th>message</th><td>fish &amp; chips</td>"),
        "{text}"
    );
    assert!(!text.contains("<b>Bob"));
}

#[test]
fn demo_session_counts_visits_per_session_cookie() {
    let server = demo_site();
    let first = server.client().get("/cgi-bin/session.py");
    assert_eq!(first.status(), 200);
    let cookie = first.header("Set-Cookie").expect("Set-Cookie").to_string();
    let sid = cookie
        .strip_prefix("sid=")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_string();
    assert_eq!(sid.len(), 32);
    assert!(sid.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(first.text().contains("<strong id=\"count\">once</strong>"));

    let mut client = server.client();
    client.send(format!(
        "GET /cgi-bin/session.py HTTP/1.1\r\nHost: localhost\r\nCookie: sid={sid}\r\n\r\n"
    ));
    let second = client.response(false);
    assert!(
        second
            .text()
            .contains("<strong id=\"count\">2 times</strong>")
    );
    assert_eq!(second.header("Set-Cookie"), Some(cookie.as_str()));

    // A forged id that is not plain hex is not used as a file name: a new session starts.
    client.send("GET /cgi-bin/session.py HTTP/1.1\r\nHost: localhost\r\nCookie: sid=../../etc/passwd\r\n\r\n");
    let forged = client.response(false);
    assert!(forged.text().contains("<strong id=\"count\">once</strong>"));
    let new_cookie = forged.header("Set-Cookie").unwrap();
    assert!(
        !new_cookie.contains(&sid) && !new_cookie.contains(".."),
        "{new_cookie}"
    );

    let store = std::env::temp_dir().join("webserv-sessions");
    for cookie in [cookie.as_str(), new_cookie] {
        let id = &cookie[4..36];
        let _ = std::fs::remove_file(store.join(id));
    }
}

#[test]
fn demo_info_prints_the_environment_as_text() {
    let server = demo_site();
    let response = server.client().get("/cgi-bin/info.sh/extra?q=1");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .header("Content-Type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text();
    assert!(text.lines().any(|l| l == "PATH_INFO=/extra"), "{text}");
    assert!(text.lines().any(|l| l == "QUERY_STRING=q=1"), "{text}");
}

#[test]
fn demo_stream_sends_its_first_line_at_once() {
    let server = demo_site();
    let mut client = server.client();
    let started = Instant::now();
    client.send("GET /cgi-bin/stream.py HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let head = client.head();
    assert_eq!(head.status, 200);
    let mut reader = client.body_reader(&head, false);
    let first = client.body_part(&mut reader, 1024).unwrap();
    assert!(
        first.starts_with(b"line 1 of 10"),
        "{:?}",
        String::from_utf8_lossy(&first)
    );
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[test]
fn demo_hello_php_shows_the_request() {
    if !Path::new("/usr/bin/php-cgi").exists() {
        support::skip::missing("/usr/bin/php-cgi (Debian package php-cgi)");
        return;
    }
    let server = demo_site();
    let response = server.client().get("/cgi-bin/hello.php?x=%3Cy%3E");
    assert_eq!(response.status(), 200, "{}", response.text());
    let text = response.text();
    assert!(text.contains("<h1>Hello from PHP"), "{text}");
    assert!(
        text.contains("<th>REQUEST_METHOD</th><td>GET</td>"),
        "{text}"
    );
    assert!(text.contains("<td>x=%3Cy%3E</td>"), "{text}");
}
