//! What an operator watches, through the real server: `stub_status` in nginx's format, the
//! Prometheus endpoint read by the Prometheus client library's own parser, and access logs in
//! configured formats (a JSON one that `jq` must parse whatever bytes the client sent).

mod support;

use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Conn, Server};

const FILES: &[(&str, &[u8])] = &[
    ("www/index.html", b"home"),
    (
        "www/cgi/hello.sh",
        b"printf 'Content-Type: text/plain\\n\\nhello\\n'\n",
    ),
    ("www/quiet/a.txt", b"quiet"),
    ("www/own/a.txt", b"own"),
];

fn server(top: &str, extra: &str) -> Server {
    server_with(2, top, extra)
}

fn server_with(workers: usize, top: &str, extra: &str) -> Server {
    Server::start(
        &format!(
            "workers {workers};\n{top}\nserver {{\n    listen 127.0.0.1:0;\n    root www;\n{extra}\n}}\n"
        ),
        FILES,
    )
}

fn get(conn: &mut Conn, path: &str) -> support::Response {
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    conn.read_response()
}

#[test]
fn stub_status_answers_in_nginx_exact_format_with_live_figures() {
    let server = server(
        "access_log off;",
        "location = /status { stub_status; }\nlocation = /post { stub_status; }",
    );
    let mut conn = server.connect();
    for _ in 0..3 {
        assert_eq!(get(&mut conn, "/index.html").status, 200);
    }
    // A connection that never sent a byte is not accepted yet (the listener defers the
    // accept until bytes come, as nginx's `deferred`): the idle one made a request first.
    let _idle = {
        let mut c = server.connect();
        assert_eq!(get(&mut c, "/index.html").status, 200);
        c
    };
    let _reading = {
        let mut c = server.connect();
        c.send(b"GET / HTTP/1.1\r\nHo");
        c
    };
    std::thread::sleep(Duration::from_millis(300));
    let status = get(&mut conn, "/status");
    assert_eq!(status.status, 200);
    assert_eq!(status.header("content-type"), Some("text/plain"));
    let text = status.text();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), 5, "{text:?}");
    assert_eq!(lines[4], "");
    let number = |s: &str| {
        s.parse::<u64>()
            .unwrap_or_else(|_| panic!("{s:?} in {text:?}"))
    };
    let active = number(
        lines[0]
            .strip_prefix("Active connections: ")
            .unwrap()
            .strip_suffix(' ')
            .unwrap(),
    );
    assert_eq!(lines[1], "server accepts handled requests");
    let counts: Vec<u64> = lines[2]
        .strip_prefix(' ')
        .and_then(|l| l.strip_suffix(' '))
        .unwrap()
        .split(' ')
        .map(number)
        .collect();
    let states: Vec<u64> = lines[3]
        .strip_suffix(' ')
        .unwrap()
        .split(' ')
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|pair| number(pair[1]))
        .collect();
    let labels: Vec<&str> = lines[3]
        .split(' ')
        .step_by(2)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(labels, ["Reading:", "Writing:", "Waiting:"]);
    assert_eq!(counts[0], 3, "accepts: {text}");
    assert_eq!(counts[1], 3, "handled: {text}");
    assert_eq!(counts[2], 5, "requests: {text}");
    assert_eq!(
        states,
        [1, 1, 1],
        "reading, writing (this request), waiting: {text}"
    );
    assert_eq!(active, 3);
    // Only GET and HEAD, as nginx.
    conn.send(b"POST /status HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(conn.read_response().status, 405);
}

/// The families of a Prometheus text, as `prometheus_client.parser` reads them: sample name
/// and labels to value.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}|{labels}|{s.value}")
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 (apt-get install python3-prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "parser: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let mut parts = line.rsplitn(2, '|');
            let value: f64 = parts.next().unwrap().parse().unwrap();
            (parts.next().unwrap().to_string(), value)
        })
        .collect()
}

/// The sum over workers of a sample with these other labels.
fn total(samples: &HashMap<String, f64>, name: &str, labels: &str) -> f64 {
    samples
        .iter()
        .filter(|(key, _)| {
            let (n, l) = key.split_once('|').unwrap();
            let rest: Vec<&str> = l
                .split(',')
                .filter(|kv| !kv.starts_with("worker="))
                .collect();
            n == name && rest.join(",") == labels
        })
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn the_metrics_endpoint_is_valid_prometheus_text_with_the_servers_figures() {
    let server = server(
        "access_log off;",
        "location /cgi { cgi .sh /bin/sh; }\nlocation = /metrics { metrics; }",
    );
    let mut conn = server.connect();
    for _ in 0..5 {
        assert_eq!(get(&mut conn, "/index.html").status, 200);
    }
    assert_eq!(get(&mut conn, "/missing").status, 404);
    assert_eq!(get(&mut conn, "/cgi/hello.sh").text(), "hello\n");
    let scrape = get(&mut conn, "/metrics");
    assert_eq!(
        scrape.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let samples = parse_prometheus(&scrape.text());
    assert_eq!(total(&samples, "webserv_requests_total", ""), 8.0);
    assert_eq!(total(&samples, "webserv_responses_total", "class=2xx"), 6.0);
    assert_eq!(total(&samples, "webserv_responses_total", "class=4xx"), 1.0);
    assert_eq!(
        total(&samples, "webserv_connections_accepted_total", ""),
        1.0
    );
    assert_eq!(total(&samples, "webserv_connections", "state=writing"), 1.0);
    assert_eq!(total(&samples, "webserv_cgi_requests_total", ""), 1.0);
    assert_eq!(
        total(&samples, "webserv_cgi_response_seconds_count", ""),
        1.0
    );
    assert_eq!(
        total(&samples, "webserv_cgi_response_seconds_bucket", "le=+Inf"),
        1.0
    );
    assert_eq!(total(&samples, "webserv_upstream_requests_total", ""), 0.0);
    let received = total(&samples, "webserv_received_bytes_total", "");
    assert!(received >= 8.0 * 30.0, "{received}");
    assert!(total(&samples, "webserv_sent_bytes_total", "") > 7.0 * 100.0);
    // Per worker: each worker's figures are there.
    assert!(
        samples
            .keys()
            .any(|k| k.starts_with("webserv_requests_total|worker=1"))
    );
}

#[test]
fn tls_handshakes_are_counted() {
    let cert = support::tls::cert(&["localhost"]);
    let server = support::tls::tls_server(&cert, "location = /metrics { metrics; }", FILES);
    let url = format!("https://localhost:{}/metrics", server.port());
    let curl = |path: &str| {
        Command::new("curl")
            .args([
                "-sk",
                "--resolve",
                &format!("localhost:{}:127.0.0.1", server.port()),
            ])
            .arg(url.replace("/metrics", path))
            .output()
            .expect("curl")
    };
    curl("/index.html");
    // A client that gives up in the middle of its handshake.
    let mut half = server.connect();
    half.send(b"\x16\x03\x01\x00\x05hello");
    drop(half);
    // The server sees the close when it next reads: poll.
    let mut samples = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let out = curl("/metrics");
        samples = parse_prometheus(&String::from_utf8_lossy(&out.stdout));
        if total(&samples, "webserv_tls_handshake_failures_total", "") >= 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        total(&samples, "webserv_tls_handshake_failures_total", ""),
        1.0
    );
    // /index.html and each scrape (the one in progress included).
    assert!(total(&samples, "webserv_tls_handshakes_total", "") >= 2.0);
}

fn read_lines(path: &std::path::Path, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The JSON format of docs/CONFIG.md.
const JSON_FORMAT: &str = r#"log_format json escape=json '{"time":"$time_iso8601","remote_addr":"$remote_addr","remote_user":"$remote_user","request":"$request","uri":"$uri","status":$status,"body_bytes_sent":$body_bytes_sent,"request_time":$request_time,"referer":"$http_referer","user_agent":"$http_user_agent","host":"$host","upstream_addr":"$upstream_addr"}';"#;

#[test]
fn a_json_access_log_is_parsed_by_jq_whatever_bytes_the_client_sends() {
    // One worker: the lines are in the order of the requests.
    let server = server_with(1, JSON_FORMAT, "access_log json.log json;");
    let hostile: [&[u8]; 6] = [
        // Accepted, with quotes, backslashes, a line break (decoded in $uri), and bytes that
        // are not UTF-8 (obs-text in a field value).
        b"GET /a%22b%5C%0Ac%01?q=%22 HTTP/1.1\r\nHost: a\r\nUser-Agent: x\"y\\z\t\xc3\xa9\xff\xfe\r\nReferer: \"},\"status\":999,{\"\r\n\r\n",
        // Refused (400): a quote and a control byte in the target.
        b"GET /a\"b\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /\xe2\x82\xac/\xc3(/ HTTP/1.1\r\nHost: a\r\nUser-Agent: \t\x1b[31mred\r\n\r\n",
        b"GET /plain HTTP/1.1\r\nHost: a\r\nAuthorization: Basic dXNlcjpw\r\n\r\n",
        b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
    ];
    for request in hostile {
        let mut conn = server.connect();
        conn.send(request);
        let _ = conn.read_response();
    }
    let path = server.dir.path().join("json.log");
    let lines = read_lines(&path, hostile.len());
    assert_eq!(lines.len(), hostile.len(), "{lines:?}");
    let out = Command::new("jq")
        .args(["-c", "."])
        .arg(&path)
        .output()
        .expect("jq (apt-get install jq)");
    assert!(
        out.status.success(),
        "jq: {}\n{lines:#?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(parsed.lines().count(), hostile.len());
    let field = |line: usize, name: &str| {
        let out = Command::new("jq")
            .args(["-r", "--slurp", &format!(".[{line}].{name}")])
            .arg(&path)
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    };
    assert_eq!(field(0, "referer"), "\"},\"status\":999,{\"");
    assert_eq!(field(0, "status"), "404");
    assert_eq!(field(0, "user_agent"), "x\"y\\z\té\u{fffd}\u{fffd}");
    assert_eq!(field(0, "uri"), "/a\"b\\\nc\u{1}");
    assert_eq!(field(1, "status"), "400");
    assert_eq!(field(1, "remote_addr"), "127.0.0.1");
    assert_eq!(field(3, "remote_user"), "user");
    assert_eq!(field(3, "upstream_addr"), "");
    assert_eq!(field(4, "status"), "501");
    assert_eq!(field(5, "status"), "400");
}

#[test]
fn access_logs_follow_nginx_inheritance_conditions_and_escaping() {
    let server = server(
        "log_format small \"$status $uri $http_x_note $sent_http_content_type $bytes_sent\";\naccess_log main.log;",
        "location /quiet { access_log off; }
         location /own { access_log own.log small; access_log cond.log small if=$arg_log; }",
    );
    let mut conn = server.connect();
    conn.send(b"GET /index.html HTTP/1.1\r\nHost: a\r\nUser-Agent: ua \"q\"\r\n\r\n");
    conn.read_response();
    get(&mut conn, "/quiet/a.txt");
    conn.send(b"GET /own/a.txt HTTP/1.1\r\nHost: a\r\nX-Note: n\xc3\xa9\r\n\r\n");
    conn.read_response();
    get(&mut conn, "/own/a.txt?log=1");
    get(&mut conn, "/own/a.txt?log=0");
    let dir = server.dir.path();
    let main = read_lines(&dir.join("main.log"), 1);
    assert_eq!(main.len(), 1, "{main:?}");
    let line = &main[0];
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.ends_with("\"GET /index.html HTTP/1.1\" 200 4 \"-\" \"ua \\x22q\\x22\""),
        "{line}"
    );
    let own = read_lines(&dir.join("own.log"), 3);
    assert_eq!(own.len(), 3, "{own:?}");
    assert!(
        own[0].starts_with("200 /own/a.txt n\\xC3\\xA9 text/plain; charset=utf-8 "),
        "{}",
        own[0]
    );
    let bytes: u64 = own[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(bytes > 100, "{}", own[0]);
    let cond = read_lines(&dir.join("cond.log"), 1);
    assert_eq!(cond.len(), 1, "only ?log=1: {cond:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        read_lines(&dir.join("main.log"), 1).len(),
        1,
        "quiet and own are not in main"
    );
}

#[test]
fn log_format_errors_point_at_their_place() {
    let dir = support::TempDir::new();
    for (text, expected) in [
        ("log_format x \"$nope\";", "1:14: unknown \"nope\" variable"),
        (
            "log_format x escape=yaml a;",
            "1:14: unknown log format escaping \"yaml\"",
        ),
        (
            "log_format combined a;",
            "1:12: duplicate \"log_format\" name \"combined\"",
        ),
        (
            "access_log a.log nope;",
            "1:18: unknown log format \"nope\"",
        ),
        (
            "access_log a.log combined gzip;",
            "1:27: invalid parameter \"gzip\"",
        ),
        (
            "access_log a.log combined if=$;",
            "1:30: invalid variable name",
        ),
    ] {
        let conf = format!("{text}\nserver {{ listen 80; }}\n");
        let path = dir.write("w.conf", conf.as_bytes());
        let (status, _, stderr) = support::run_cli(&["-t", path.to_str().unwrap()], dir.path());
        assert!(!status.success(), "{text}");
        let shown = stderr
            .trim()
            .strip_prefix(&format!("{}:", path.display()))
            .unwrap_or(&stderr)
            .to_string();
        assert!(shown.starts_with(expected), "{text}: {shown}");
    }
}

#[test]
fn a_client_that_leaves_is_logged_499_before_the_answer_and_with_what_it_got_after() {
    let big = vec![b'x'; 16 << 20];
    let files: &[(&str, &[u8])] = &[
        (
            "www/cgi/slow.sh",
            b"sleep 1\nprintf 'Content-Type: text/plain\\n\\nlate\\n'\n",
        ),
        ("www/big.bin", &big),
    ];
    let server = Server::start(
        "workers 1;\nlog_format small \"$status $uri $body_bytes_sent\";\n\
         server {\n    listen 127.0.0.1:0;\n    root www;\n    access_log a.log small;\n\
         location /cgi { cgi .sh /bin/sh; }\n    location = /metrics { metrics; access_log off; }\n}\n",
        files,
    );
    // Gone while the script runs: nginx's 499, and the script is stopped.
    let mut conn = server.connect();
    conn.send(b"GET /cgi/slow.sh HTTP/1.1\r\nHost: a\r\n\r\n");
    std::thread::sleep(Duration::from_millis(200));
    drop(conn);
    // Gone after the head and part of a large body: its status, and the bytes it was sent.
    let mut conn = server.connect();
    conn.send(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut some = [0u8; 4096];
    let n = std::io::Read::read(&mut conn.stream, &mut some).unwrap();
    assert!(n > 0 && some.starts_with(b"HTTP/1.1 200"));
    support::reset(conn.stream);
    let lines = read_lines(&server.dir.path().join("a.log"), 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "499 /cgi/slow.sh 0");
    let (status, sent) = lines[1].split_once(" /big.bin ").unwrap();
    assert_eq!(status, "200");
    let sent: u64 = sent.parse().unwrap();
    assert!(sent < big.len() as u64, "{sent}");
    let samples = parse_prometheus(&get(&mut server.connect(), "/metrics").text());
    assert_eq!(total(&samples, "webserv_responses_total", "class=4xx"), 1.0);
    assert_eq!(total(&samples, "webserv_responses_total", "class=2xx"), 1.0);
}
