//! The FastCGI record codec (`webserv::fastcgi::record`) against the real applications it will
//! talk to: Debian's php-fpm (on a unix socket and on TCP, with and without keep-conn) and
//! fcgiwrap, started by the tests and stopped by PID; and the decoder's refusal of a fake
//! application's malformed records: the codec held to the real peers on its own (the server's
//! use of it is tested in tests/fastcgi.rs).

mod support;

use std::io::{Read, Write};
use std::time::Duration;
use support::fastcgi::{self, Address, Listen, Peer};
use webserv::fastcgi::record::{self, Connection, Decoder, Error, Event, ProtocolStatus};

/// What an application answered to one request.
#[derive(Debug, Default)]
struct Answer {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    end: Option<(u32, ProtocolStatus)>,
    error: Option<Error>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Sends one request on `stream` and reads the answer up to END_REQUEST (or an error, or the
/// end of the stream).
fn exchange(
    stream: &mut fastcgi::Stream,
    id: u16,
    connection: Connection,
    params: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut out = Vec::new();
    record::begin_request(&mut out, id, connection);
    record::params(
        &mut out,
        id,
        params.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
    );
    record::stdin(&mut out, id, body);
    record::stdin(&mut out, id, b"");
    stream.write_all(&out).expect("send the request");
    read_answer(stream, id)
}

fn read_answer(stream: &mut impl Read, id: u16) -> Answer {
    let mut decoder = Decoder::new(id);
    let mut answer = Answer::default();
    let mut buf = vec![0u8; 3000];
    while !decoder.ended() {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut at = 0;
        while at < n {
            match decoder.decode(&buf[at..n]) {
                Err(e) => {
                    answer.error = Some(e);
                    return answer;
                }
                Ok((event, used)) => {
                    at += used;
                    match event {
                        None => break,
                        Some(Event::Stdout(d)) => answer.stdout.extend_from_slice(d),
                        Some(Event::Stderr(d)) => answer.stderr.extend_from_slice(d),
                        Some(Event::End {
                            app_status,
                            protocol,
                        }) => answer.end = Some((app_status, protocol)),
                        Some(_) => {}
                    }
                }
            }
        }
    }
    answer
}

const INFO_PHP: &[u8] = br#"<?php
header("X-Powered: test");
echo "method=", $_SERVER["REQUEST_METHOD"], "\n";
echo "script=", $_SERVER["SCRIPT_NAME"], "\n";
echo "info=", $_SERVER["PATH_INFO"] ?? "", "\n";
echo "query=", $_SERVER["QUERY_STRING"], "\n";
echo "name=", $_POST["name"] ?? "", "\n";
echo "proxy=", $_SERVER["HTTP_PROXY"] ?? "(none)", "\n";
fwrite(STDERR, "to the error log\n");
"#;

fn php_params(peer: &Peer, script: &str, method: &str, length: usize) -> Vec<(String, String)> {
    let file = fastcgi::www(peer).join(script.trim_start_matches('/'));
    vec![
        ("SCRIPT_FILENAME".into(), file.display().to_string()),
        ("SCRIPT_NAME".into(), script.into()),
        ("PATH_INFO".into(), "/extra".into()),
        ("REQUEST_METHOD".into(), method.into()),
        ("QUERY_STRING".into(), "a=1&b=2".into()),
        (
            "CONTENT_TYPE".into(),
            "application/x-www-form-urlencoded".into(),
        ),
        ("CONTENT_LENGTH".into(), length.to_string()),
        ("REDIRECT_STATUS".into(), "200".into()),
        ("SERVER_PROTOCOL".into(), "HTTP/1.1".into()),
        ("GATEWAY_INTERFACE".into(), "CGI/1.1".into()),
    ]
}

fn borrowed(params: &[(String, String)]) -> Vec<(&str, &str)> {
    params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

fn php_post_round_trip(listen: Listen) {
    let peer = fastcgi::php_fpm(listen, 1, &[("info.php", INFO_PHP)]);
    let mut stream = peer.address.connect().expect("connect to php-fpm");
    stream.set_read_timeout(Duration::from_secs(10));
    let body = b"name=ada+lovelace";
    let params = php_params(&peer, "/info.php", "POST", body.len());
    let answer = exchange(&mut stream, 1, Connection::Close, &borrowed(&params), body);
    assert_eq!(answer.error, None);
    assert_eq!(
        answer.end,
        Some((0, ProtocolStatus::Complete)),
        "{answer:?}"
    );
    let text = answer.text();
    assert!(text.contains("X-Powered: test\r\n"), "{text}");
    assert!(text.contains("\r\n\r\nmethod=POST\n"), "{text}");
    assert!(text.contains("script=/info.php\n"), "{text}");
    assert!(text.contains("info=/extra\n"), "{text}");
    assert!(text.contains("query=a=1&b=2\n"), "{text}");
    assert!(text.contains("name=ada lovelace\n"), "{text}");
    assert!(text.contains("proxy=(none)\n"), "{text}");
}

#[test]
fn php_fpm_on_a_unix_socket_answers_a_post_sent_with_our_records() {
    php_post_round_trip(Listen::UnixSocket);
}

#[test]
fn php_fpm_on_tcp_answers_a_post_sent_with_our_records() {
    php_post_round_trip(Listen::Tcp);
}

#[test]
fn php_fpm_keeps_the_connection_for_a_second_request_with_keep_conn() {
    let peer = fastcgi::php_fpm(Listen::UnixSocket, 1, &[("info.php", INFO_PHP)]);
    let mut stream = peer.address.connect().expect("connect to php-fpm");
    stream.set_read_timeout(Duration::from_secs(10));
    let params = php_params(&peer, "/info.php", "GET", 0);
    for id in [1, 2] {
        let answer = exchange(
            &mut stream,
            id,
            Connection::KeepOpen,
            &borrowed(&params),
            b"",
        );
        assert_eq!(
            answer.end,
            Some((0, ProtocolStatus::Complete)),
            "request {id}"
        );
        assert!(answer.text().contains("method=GET"), "{}", answer.text());
    }
}

#[test]
fn a_php_fatal_error_still_ends_the_request_with_a_500_status_header() {
    let peer = fastcgi::php_fpm(
        Listen::UnixSocket,
        1,
        &[("fatal.php", b"<?php undefined_function();")],
    );
    let mut stream = peer.address.connect().expect("connect");
    stream.set_read_timeout(Duration::from_secs(10));
    let params = php_params(&peer, "/fatal.php", "GET", 0);
    let answer = exchange(&mut stream, 7, Connection::Close, &borrowed(&params), b"");
    assert!(answer.end.is_some(), "{answer:?}");
    // php-fpm reports the status in the CGI header block (display_errors off: no body).
    let text = answer.text();
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    assert!(head.lines().any(|l| l.starts_with("Status: 500")), "{text}");
}

#[test]
fn a_large_php_output_arrives_whole_across_many_records() {
    let peer = fastcgi::php_fpm(
        Listen::UnixSocket,
        1,
        &[("big.php", b"<?php echo str_repeat('0123456789', 30000);")],
    );
    let mut stream = peer.address.connect().expect("connect");
    stream.set_read_timeout(Duration::from_secs(10));
    let params = php_params(&peer, "/big.php", "GET", 0);
    let answer = exchange(&mut stream, 3, Connection::Close, &borrowed(&params), b"");
    let text = answer.text();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    assert_eq!(body.len(), 300_000);
    assert!(answer.end.is_some());
}

#[test]
fn fcgiwrap_runs_a_cgi_script_named_by_script_filename() {
    let peer = fastcgi::fcgiwrap(&[(
        "hello.sh",
        b"#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"hello $QUERY_STRING\"\ncat\n",
    )]);
    let script = fastcgi::www(&peer).join("hello.sh");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut stream = peer.address.connect().expect("connect to fcgiwrap");
    stream.set_read_timeout(Duration::from_secs(10));
    let file = script.display().to_string();
    let params = [
        ("SCRIPT_FILENAME", file.as_str()),
        ("SCRIPT_NAME", "/hello.sh"),
        ("REQUEST_METHOD", "POST"),
        ("QUERY_STRING", "world"),
        ("CONTENT_LENGTH", "5"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
    ];
    let answer = exchange(&mut stream, 1, Connection::Close, &params, b"body!");
    assert!(answer.end.is_some(), "{answer:?}");
    assert_eq!(
        answer.text(),
        "Content-Type: text/plain\r\n\r\nhello world\nbody!"
    );
}

/// A fake application answering with `reply`: what the decoder makes of it.
fn fake_answer(reply: Vec<u8>) -> Answer {
    let fake = fastcgi::Fake::start(reply, 1);
    let mut stream = fake.address().connect().expect("connect to the fake");
    stream.set_read_timeout(Duration::from_secs(5));
    let answer = exchange(&mut stream, 1, Connection::Close, &[("A", "b")], b"");
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    answer
}

#[test]
fn malformed_records_from_an_application_are_refused() {
    let mut ok_then_bad = fastcgi::record(1, 6, 1, b"Status: 200\r\n\r\npartial", 0);
    ok_then_bad.extend(fastcgi::record(9, 6, 1, b"more", 0));
    let cases = [
        (fastcgi::record(2, 6, 1, b"x", 0), Error::BadVersion(2)),
        (fastcgi::record(1, 42, 1, b"", 0), Error::UnexpectedType(42)),
        (fastcgi::record(1, 6, 99, b"x", 0), Error::WrongRequest(99)),
        (fastcgi::record(1, 3, 1, &[0; 4], 0), Error::BadEndRequest),
        (ok_then_bad, Error::BadVersion(9)),
    ];
    for (reply, error) in cases {
        let answer = fake_answer(reply);
        assert_eq!(answer.error, Some(error));
    }
    // A record that claims more content than ever comes: no end, no error, no invented bytes.
    let mut short = fastcgi::record(1, 6, 1, b"abc", 0);
    short[5] = 200;
    let answer = fake_answer(short);
    assert_eq!(
        (answer.stdout.as_slice(), answer.end, answer.error),
        (&b"abc"[..], None, None)
    );
    // The well-formed reply for comparison.
    let mut good = fastcgi::record(1, 6, 1, b"Status: 204\r\n\r\n", 1);
    good.extend(fastcgi::end_request(1, 0));
    let answer = fake_answer(good);
    assert_eq!(answer.end, Some((0, ProtocolStatus::Complete)));
}

#[test]
fn the_fake_application_sees_well_formed_requests() {
    let mut reply = fastcgi::record(1, 6, 1, b"Status: 200\r\n\r\n", 0);
    reply.extend(fastcgi::end_request(1, 0));
    let fake = fastcgi::Fake::start(reply, 1);
    let mut stream = fake.address().connect().unwrap();
    stream.set_read_timeout(Duration::from_secs(5));
    exchange(
        &mut stream,
        1,
        Connection::KeepOpen,
        &[("NAME", "value")],
        b"xyz",
    );
    let requests = fake.requests();
    let bytes = &requests[0];
    // BEGIN_REQUEST, responder role, keep-conn flag.
    assert_eq!(
        &bytes[..16],
        &[1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    );
    assert!(matches!(fake_address_kind(), "unix"));
}

fn fake_address_kind() -> &'static str {
    match fastcgi::Fake::start(Vec::new(), 0).address() {
        Address::Unix(_) => "unix",
        Address::Tcp(_) => "tcp",
    }
}
