//! Hostile clients, the way conformance and request-smuggling checkers attack a server:
//! ambiguous framing, malformed heads, path traversal in every encoding, pipelines with a
//! poisoned request in the middle, and the shape of every error response.
//!
//! Reference: RFC 9112 (message syntax and framing) and RFC 9110 (semantics). Where the RFC
//! leaves a choice (reject or accept), the table pins what webserv does and says so.
//!
//! Every framing case is sent followed by a pipelined canary request (`GET /canary.txt`,
//! `Connection: close`), and every body that could be misread as a request hides
//! `GET /smuggled.txt` in it. A case passes when the responses are exactly the expected ones,
//! the server then closes (never hangs), and `SMUGGLED` (the hidden file's content) never comes
//! back.

mod support;

use std::fs;
use std::time::{Duration, Instant};
use support::hostile::*;
use support::*;

const HIDDEN: &str = "GET /smuggled.txt HTTP/1.1\r\nHost: x\r\n\r\n";
const CANARY: &str = "GET /canary.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
const SMUGGLED: &str = "SMUGGLED-b7e1";
const CANARY_BODY: &str = "CANARY-4d2c";
const SECRET: &str = "TOP-SECRET-91ac";

/// How long any single exchange may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(5);

fn config() -> String {
    "workers 1;\n\
     access_log off;\n\
     server {\n\
         listen 127.0.0.1:0;\n\
         root www;\n\
         client_max_body_size 1m;\n\
         location /up { allow_methods GET HEAD POST PUT DELETE; alias store; upload_store store; }\n\
         location /al { alias aliased; }\n\
     }\n"
        .to_string()
}

fn site() -> Server {
    Server::start(
        &config(),
        &[
            ("www/index.html", b"<p>index</p>"),
            ("www/canary.txt", CANARY_BODY.as_bytes()),
            ("www/smuggled.txt", SMUGGLED.as_bytes()),
            ("www/sub/a.txt", b"sub a"),
            ("www/%2e%2e/literal.txt", b"literal percent dir"),
            ("aliased/in-alias.txt", b"in alias"),
            ("secret.txt", SECRET.as_bytes()),
            ("store/", b""),
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// 1. Framing and request smuggling

/// One framing case: the bytes sent before the canary, and the statuses of every response.
struct Case {
    name: &'static str,
    request: Vec<u8>,
    /// Statuses of all responses, canary included when the server goes on.
    expect: Vec<u16>,
    /// The first request is a HEAD (its response has no body).
    head: bool,
    /// A file the exchange must have stored in the upload store, with its content.
    stored: Option<(&'static str, &'static [u8])>,
}

fn case(name: &'static str, request: impl AsRef<[u8]>, expect: &[u16]) -> Case {
    Case {
        name,
        request: request.as_ref().to_vec(),
        expect: expect.to_vec(),
        head: false,
        stored: None,
    }
}

/// A PUT of `body` to /up/NAME with extra header lines `headers` (each ending in CRLF).
fn put(name: &str, headers: &str, body: impl AsRef<[u8]>) -> Vec<u8> {
    let mut bytes = format!("PUT /up/{name} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes();
    bytes.extend_from_slice(body.as_ref());
    bytes
}

/// A POST to / (405: the body is read and discarded, the connection stays usable).
fn post(headers: &str, body: impl AsRef<[u8]>) -> Vec<u8> {
    let mut bytes = format!("POST / HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes();
    bytes.extend_from_slice(body.as_ref());
    bytes
}

/// A GET of / with extra header lines.
fn get_with(headers: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes()
}

/// A chunked body of `data` in one chunk plus the last chunk.
fn chunked(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n0\r\n\r\n", data.len())
}

/// Runs `cases` against `server`, collecting every mismatch, and fails with all of them.
fn run_cases(server: &Server, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        let mut request = case.request.clone();
        request.extend_from_slice(CANARY.as_bytes());
        let exchange = exchange(server.addr(), &request, HANG);
        let text = exchange.text();
        if text.contains(SMUGGLED) {
            failures.push(format!(
                "{}: the hidden request was executed: {}",
                case.name,
                show(&exchange.bytes)
            ));
            continue;
        }
        if exchange.end != End::Closed {
            failures.push(format!(
                "{}: still open after {HANG:?} (hang); received {}",
                case.name,
                show(&exchange.bytes)
            ));
            continue;
        }
        let parsed = std::panic::catch_unwind(|| exchange.responses(&[case.head]));
        let responses = match parsed {
            Ok(responses) => responses,
            Err(_) => {
                failures.push(format!(
                    "{}: unparsable responses: {}",
                    case.name,
                    show(&exchange.bytes)
                ));
                continue;
            }
        };
        let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
        if statuses != case.expect {
            failures.push(format!(
                "{}: expected {:?}, got {:?}: {}",
                case.name,
                case.expect,
                statuses,
                show(&exchange.bytes)
            ));
            continue;
        }
        for response in &responses {
            if response.status >= 400 && !case.head && !response.is_html_page() {
                failures.push(format!(
                    "{}: {} is not an HTML page",
                    case.name, response.status
                ));
            }
        }
        if let Some(last) = responses.last()
            && statuses.len() == case.expect.len()
            && last.status == 200
            && case.expect.len() > 1
            && last.body != CANARY_BODY.as_bytes()
        {
            failures.push(format!("{}: canary body {:?}", case.name, last.text()));
        }
        if let Some((name, content)) = case.stored {
            let path = server.dir.path().join("store").join(name);
            match fs::read(&path) {
                Ok(stored) if stored == content => {}
                Ok(stored) => failures.push(format!(
                    "{}: stored {:?}, expected {:?}",
                    case.name,
                    String::from_utf8_lossy(&stored),
                    String::from_utf8_lossy(content)
                )),
                Err(e) => failures.push(format!("{}: {name} not stored: {e}", case.name)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn stored(mut case: Case, name: &'static str, content: &'static [u8]) -> Case {
    case.stored = Some((name, content));
    case
}

/// Content-Length and Transfer-Encoding together, and every obfuscation of Transfer-Encoding:
/// either parsed exactly as chunked, or refused (400 / 501) and the connection closed.
#[test]
fn transfer_encoding_is_chunked_exactly_or_refused() {
    let server = site();
    let smuggling_body = format!("0\r\n\r\n{HIDDEN}");
    let n = smuggling_body.len();
    let hello = chunked("hello");
    let cases = vec![
        // RFC 9112 §6.3: both present in a request: 400 and close (nginx: 400).
        case(
            "CL then TE",
            post(
                &format!("Content-Length: {n}\r\nTransfer-Encoding: chunked\r\n"),
                &smuggling_body,
            ),
            &[400],
        ),
        case(
            "TE then CL",
            post(
                &format!("Transfer-Encoding: chunked\r\nContent-Length: {n}\r\n"),
                &smuggling_body,
            ),
            &[400],
        ),
        case(
            "TE then CL 0",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
                &smuggling_body,
            ),
            &[400],
        ),
        // §5.1: whitespace between field name and colon: 400.
        case(
            "space before colon",
            post("Transfer-Encoding : chunked\r\n", &smuggling_body),
            &[400],
        ),
        case(
            "tab before colon",
            post("Transfer-Encoding\t: chunked\r\n", &smuggling_body),
            &[400],
        ),
        // §5.2: obs-fold in a request: 400.
        case(
            "obs-fold",
            post("Transfer-Encoding:\r\n chunked\r\n", &smuggling_body),
            &[400],
        ),
        case(
            "obs-fold, tab continuation",
            post("Transfer-Encoding:\r\n\tchunked\r\n", &smuggling_body),
            &[400],
        ),
        case(
            "obs-fold with tab",
            post("Transfer-Encoding: x\r\n\tchunked\r\n", &smuggling_body),
            &[400],
        ),
        // chunked not last: the framing is unknowable: 400.
        case(
            "chunked, identity",
            post("Transfer-Encoding: chunked, identity\r\n", &smuggling_body),
            &[400],
        ),
        case(
            "chunked then TE: x",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n",
                &smuggling_body,
            ),
            &[400],
        ),
        case(
            "chunked twice",
            post("Transfer-Encoding: chunked, chunked\r\n", &smuggling_body),
            &[400],
        ),
        case(
            "empty TE",
            post("Transfer-Encoding: \r\n", &smuggling_body),
            &[400],
        ),
        case(
            "vertical tab",
            post("Transfer-Encoding: \x0bchunked\r\n", &smuggling_body),
            &[400],
        ),
        case(
            "NUL after chunked",
            post("Transfer-Encoding: chunked\x00\r\n", &smuggling_body),
            &[400],
        ),
        // Unknown codings (identity no longer exists, RFC 9112 §7): 501.
        case(
            "identity, chunked",
            post("Transfer-Encoding: identity, chunked\r\n", &smuggling_body),
            &[501],
        ),
        case(
            "xchunked",
            post("Transfer-Encoding: xchunked\r\n", &smuggling_body),
            &[501],
        ),
        case(
            "chunkedx",
            post("Transfer-Encoding: chunkedx\r\n", &smuggling_body),
            &[501],
        ),
        case(
            "quoted",
            post("Transfer-Encoding: \"chunked\"\r\n", &smuggling_body),
            &[501],
        ),
        case(
            "chunked with a parameter",
            post("Transfer-Encoding: chunked;q=1\r\n", &smuggling_body),
            &[501],
        ),
        case(
            "gzip, chunked",
            post("Transfer-Encoding: gzip, chunked\r\n", &smuggling_body),
            &[501],
        ),
        // HTTP/1.0 has no chunked coding: 400 (RFC 9112 §6.1: MUST treat as faulty framing).
        case(
            "TE on HTTP/1.0",
            format!("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n{smuggling_body}"),
            &[400],
        ),
        // Accepted spellings: the body must be decoded as chunked (else "5\r\n..." would be
        // read as the next request: 400).
        stored(
            case(
                "tab before value",
                put("te-tab.txt", "Transfer-Encoding:\tchunked\r\n", &hello),
                &[201, 200],
            ),
            "te-tab.txt",
            b"hello",
        ),
        stored(
            case(
                "upper case",
                put("te-upper.txt", "Transfer-Encoding: CHUNKED\r\n", &hello),
                &[201, 200],
            ),
            "te-upper.txt",
            b"hello",
        ),
        stored(
            case(
                "mixed-case name",
                put("te-name.txt", "tRaNsFeR-eNcOdInG: chunked\r\n", &hello),
                &[201, 200],
            ),
            "te-name.txt",
            b"hello",
        ),
        stored(
            case(
                "empty list elements",
                put("te-list.txt", "Transfer-Encoding: , chunked,\r\n", &hello),
                &[201, 200],
            ),
            "te-list.txt",
            b"hello",
        ),
        stored(
            case(
                "trailing whitespace",
                put("te-ws.txt", "Transfer-Encoding: chunked \t \r\n", &hello),
                &[201, 200],
            ),
            "te-ws.txt",
            b"hello",
        ),
    ];
    run_cases(&server, cases);
}

/// Content-Length = 1*DIGIT (RFC 9110 §8.6): anything else is 400; identical repeated values
/// may be accepted (webserv does), differing ones must not.
#[test]
fn content_length_is_digits_only_and_unambiguous() {
    let server = site();
    let hidden_len = 5 + HIDDEN.len();
    let hello_hidden = format!("hello{HIDDEN}");
    let cases = vec![
        case(
            "two different",
            post(
                &format!("Content-Length: 5\r\nContent-Length: {hidden_len}\r\n"),
                &hello_hidden,
            ),
            &[400],
        ),
        case(
            "two different, larger first",
            post(
                &format!("Content-Length: {hidden_len}\r\nContent-Length: 5\r\n"),
                &hello_hidden,
            ),
            &[400],
        ),
        case(
            "list of different",
            post(
                &format!("Content-Length: 5, {hidden_len}\r\n"),
                &hello_hidden,
            ),
            &[400],
        ),
        case(
            "plus sign",
            post("Content-Length: +5\r\n", &hello_hidden),
            &[400],
        ),
        case(
            "hex",
            post("Content-Length: 0x5\r\n", &hello_hidden),
            &[400],
        ),
        case(
            "negative",
            post("Content-Length: -5\r\n", &hello_hidden),
            &[400],
        ),
        case(
            "minus zero",
            post("Content-Length: -0\r\n", &hello_hidden),
            &[400],
        ),
        case(
            "two numbers",
            post("Content-Length: 5 5\r\n", &hello_hidden),
            &[400],
        ),
        case(
            "exponent",
            post("Content-Length: 5e0\r\n", &hello_hidden),
            &[400],
        ),
        case(
            "decimal",
            post("Content-Length: 5.0\r\n", &hello_hidden),
            &[400],
        ),
        case(
            "trailing comma",
            post("Content-Length: 5,\r\n", &hello_hidden),
            &[400],
        ),
        case("empty", post("Content-Length: \r\n", &hello_hidden), &[400]),
        case(
            "letters",
            post("Content-Length: five\r\n", &hello_hidden),
            &[400],
        ),
        case(
            "u64 overflow",
            post("Content-Length: 18446744073709551621\r\n", &hello_hidden),
            &[400],
        ),
        case(
            "30 digits",
            post(
                &format!("Content-Length: {}\r\n", "9".repeat(30)),
                &hello_hidden,
            ),
            &[400],
        ),
        case(
            "space in name",
            post("Content-Length : 5\r\n", &hello_hidden),
            &[400],
        ),
        case(
            "NUL in value",
            post("Content-Length: 5\x00\r\n", &hello_hidden),
            &[400],
        ),
        // Over client_max_body_size (1m): 413 at once, and close.
        case(
            "18 digits",
            post("Content-Length: 999999999999999999\r\n", &hello_hidden),
            &[413],
        ),
        case(
            "just over the limit",
            post("Content-Length: 1048577\r\n", &hello_hidden),
            &[413],
        ),
        // Accepted: OWS around the value, identical repeats (RFC 9110 §8.6 allows either).
        stored(
            case(
                "spaces around",
                put("cl-ws.txt", "Content-Length:   5 \t\r\n", "hello"),
                &[201, 200],
            ),
            "cl-ws.txt",
            b"hello",
        ),
        stored(
            case(
                "same twice",
                put(
                    "cl-dup.txt",
                    "Content-Length: 5\r\nContent-Length: 5\r\n",
                    "hello",
                ),
                &[201, 200],
            ),
            "cl-dup.txt",
            b"hello",
        ),
        stored(
            case(
                "same as a list",
                put("cl-list.txt", "Content-Length: 5,5 , 5\r\n", "hello"),
                &[201, 200],
            ),
            "cl-list.txt",
            b"hello",
        ),
        stored(
            case(
                "leading zeros",
                put("cl-zeros.txt", "Content-Length: 0005\r\n", "hello"),
                &[201, 200],
            ),
            "cl-zeros.txt",
            b"hello",
        ),
        // A body on GET and HEAD is read (and discarded), never taken as a request.
        case(
            "GET with a request as body",
            format!(
                "GET /canary.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{HIDDEN}",
                HIDDEN.len()
            ),
            &[200, 200],
        ),
        Case {
            head: true,
            ..case(
                "HEAD with a request as body",
                format!(
                    "HEAD /canary.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{HIDDEN}",
                    HIDDEN.len()
                ),
                &[200, 200],
            )
        },
        case(
            "DELETE with a request as body",
            format!(
                "DELETE /up/none.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{HIDDEN}",
                HIDDEN.len()
            ),
            &[404, 200],
        ),
        case(
            "404 POST with a request as body",
            format!(
                "POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{HIDDEN}",
                HIDDEN.len()
            ),
            &[405, 200],
        ),
    ];
    run_cases(&server, cases);
}

/// The chunked coding (RFC 9112 §7.1): strict sizes, CRLF everywhere, bounded extensions,
/// trailers that can never re-frame the message.
#[test]
fn chunked_bodies_are_decoded_strictly() {
    let server = site();
    let hidden_chunk = chunked(HIDDEN);
    let cases = vec![
        case(
            "space before size",
            post("Transfer-Encoding: chunked\r\n", " 5\r\nhello\r\n0\r\n\r\n"),
            &[400],
        ),
        case(
            "space after size",
            post("Transfer-Encoding: chunked\r\n", "5 \r\nhello\r\n0\r\n\r\n"),
            &[400],
        ),
        case(
            "tab after size",
            post(
                "Transfer-Encoding: chunked\r\n",
                "5\t\r\nhello\r\n0\r\n\r\n",
            ),
            &[400],
        ),
        case(
            "0x prefix",
            post(
                "Transfer-Encoding: chunked\r\n",
                "0x5\r\nhello\r\n0\r\n\r\n",
            ),
            &[400],
        ),
        case(
            "plus sign",
            post("Transfer-Encoding: chunked\r\n", "+5\r\nhello\r\n0\r\n\r\n"),
            &[400],
        ),
        case(
            "minus sign",
            post("Transfer-Encoding: chunked\r\n", "-5\r\nhello\r\n0\r\n\r\n"),
            &[400],
        ),
        case(
            "empty size",
            post("Transfer-Encoding: chunked\r\n", "\r\nhello\r\n0\r\n\r\n"),
            &[400],
        ),
        case(
            "not hex",
            post("Transfer-Encoding: chunked\r\n", "g\r\nhello\r\n0\r\n\r\n"),
            &[400],
        ),
        case(
            "17 hex digits (overflow)",
            post(
                "Transfer-Encoding: chunked\r\n",
                "10000000000000005\r\nhello\r\n0\r\n\r\n",
            ),
            &[400],
        ),
        case(
            "32 hex digits (overflow)",
            post(
                "Transfer-Encoding: chunked\r\n",
                format!("{}\r\nhello\r\n0\r\n\r\n", "f".repeat(32)),
            ),
            &[400],
        ),
        case(
            "data longer than its size",
            post(
                "Transfer-Encoding: chunked\r\n",
                format!("5\r\nhelloXX\r\n0\r\n\r\n{HIDDEN}"),
            ),
            &[400],
        ),
        case(
            "data shorter than its size",
            post("Transfer-Encoding: chunked\r\n", "5\r\nhel\r\n0\r\n\r\n"),
            &[400],
        ),
        case(
            "no CRLF after data",
            post(
                "Transfer-Encoding: chunked\r\n",
                format!("5\r\nhello0\r\n\r\n{HIDDEN}"),
            ),
            &[400],
        ),
        case(
            "bare LF everywhere",
            post(
                "Transfer-Encoding: chunked\r\n",
                format!("5\nhello\n0\n\n{HIDDEN}"),
            ),
            &[400],
        ),
        case(
            "bare LF after size",
            post("Transfer-Encoding: chunked\r\n", "5\nhello\r\n0\r\n\r\n"),
            &[400],
        ),
        case(
            "bare LF after data",
            post("Transfer-Encoding: chunked\r\n", "5\r\nhello\n0\r\n\r\n"),
            &[400],
        ),
        case(
            "bare LF after last chunk",
            post(
                "Transfer-Encoding: chunked\r\n",
                format!("5\r\nhello\r\n0\n\r\n{HIDDEN}"),
            ),
            &[400],
        ),
        case(
            "bare LF as the final line",
            post(
                "Transfer-Encoding: chunked\r\n",
                format!("5\r\nhello\r\n0\r\n\n{HIDDEN}"),
            ),
            &[400],
        ),
        case(
            "bare CR after size",
            post("Transfer-Encoding: chunked\r\n", "5\rhello\r\n0\r\n\r\n"),
            &[400],
        ),
        case(
            "control byte in extension",
            post(
                "Transfer-Encoding: chunked\r\n",
                "5;a=\x01\r\nhello\r\n0\r\n\r\n",
            ),
            &[400],
        ),
        case(
            "NUL in extension",
            post(
                "Transfer-Encoding: chunked\r\n",
                "5;a\x00b\r\nhello\r\n0\r\n\r\n",
            ),
            &[400],
        ),
        case(
            "DEL in extension",
            post(
                "Transfer-Encoding: chunked\r\n",
                "5;a=\x7f\r\nhello\r\n0\r\n\r\n",
            ),
            &[400],
        ),
        case(
            "bare LF in extension",
            post(
                "Transfer-Encoding: chunked\r\n",
                "5;a\nb\r\nhello\r\n0\r\n\r\n",
            ),
            &[400],
        ),
        case(
            "extension over 4 KiB",
            post(
                "Transfer-Encoding: chunked\r\n",
                format!("5;{}\r\nhello\r\n0\r\n\r\n", "a".repeat(5000)),
            ),
            &[400],
        ),
        case(
            "bare LF in trailer",
            post(
                "Transfer-Encoding: chunked\r\n",
                format!("0\r\nX: y\n\r\n{HIDDEN}"),
            ),
            &[400],
        ),
        case(
            "trailer section over 32 KiB",
            post(
                "Transfer-Encoding: chunked\r\n",
                format!(
                    "0\r\n{}\r\n",
                    format!("X: {}\r\n", "y".repeat(1000)).repeat(40)
                ),
            ),
            &[400],
        ),
        // Accepted: extensions with BWS, quoted strings, leading zeros, trailers (which never
        // re-frame the message: a trailer Content-Length is ignored).
        stored(
            case(
                "extensions",
                put(
                    "ext.txt",
                    "Transfer-Encoding: chunked\r\n",
                    "5 ;a=1; b=\"x y\"\t;c\r\nhello\r\n0;end\r\n\r\n",
                ),
                &[201, 200],
            ),
            "ext.txt",
            b"hello",
        ),
        stored(
            case(
                "leading zeros",
                put(
                    "zeros.txt",
                    "Transfer-Encoding: chunked\r\n",
                    "000000000000000000000005\r\nhello\r\n000\r\n\r\n",
                ),
                &[201, 200],
            ),
            "zeros.txt",
            b"hello",
        ),
        stored(
            case(
                "upper-case hex",
                put(
                    "hex.txt",
                    "Transfer-Encoding: chunked\r\n",
                    format!("A\r\n{}\r\n0\r\n\r\n", "0123456789"),
                ),
                &[201, 200],
            ),
            "hex.txt",
            b"0123456789",
        ),
        stored(
            case(
                "trailer Content-Length is ignored",
                put(
                    "trailer.txt",
                    "Transfer-Encoding: chunked\r\n",
                    "5\r\nhello\r\n0\r\nContent-Length: 300\r\nTransfer-Encoding: chunked\r\n\r\n",
                ),
                &[201, 200],
            ),
            "trailer.txt",
            b"hello",
        ),
        stored(
            case(
                "a request inside chunk data is data",
                put(
                    "inside.txt",
                    "Transfer-Encoding: chunked\r\n",
                    &hidden_chunk,
                ),
                &[201, 200],
            ),
            "inside.txt",
            HIDDEN.as_bytes(),
        ),
        stored(
            case(
                "many one-byte chunks",
                put(
                    "bytes.txt",
                    "Transfer-Encoding: chunked\r\n",
                    "1\r\nh\r\n1\r\ne\r\n1\r\nl\r\n1\r\nl\r\n1\r\no\r\n0\r\n\r\n",
                ),
                &[201, 200],
            ),
            "bytes.txt",
            b"hello",
        ),
        case(
            "discarded body with a request inside",
            post("Transfer-Encoding: chunked\r\n", &hidden_chunk),
            &[405, 200],
        ),
    ];
    run_cases(&server, cases);
}

/// Header fields: names are tokens, values hold no CR, LF or NUL, no folding.
#[test]
fn malformed_header_fields_are_400_and_close() {
    let server = site();
    let cases = vec![
        case("NUL in value", get_with("X-A: a\x00b\r\n"), &[400]),
        case("bare CR in value", get_with("X-A: a\rb\r\n"), &[400]),
        case(
            "bare CR hiding a header",
            get_with("X-A: a\rTransfer-Encoding: chunked\r\n"),
            &[400],
        ),
        case("DEL in value", get_with("X-A: a\x7fb\r\n"), &[400]),
        case("control byte in value", get_with("X-A: a\x01b\r\n"), &[400]),
        case("space in name", get_with("X A: b\r\n"), &[400]),
        case("space before colon", get_with("Host2 : b\r\n"), &[400]),
        case("@ in name", get_with("X@A: b\r\n"), &[400]),
        case("parenthesis in name", get_with("X(A): b\r\n"), &[400]),
        case("slash in name", get_with("X/A: b\r\n"), &[400]),
        case("non-ASCII name", get_with("X\u{e9}: b\r\n"), &[400]),
        case("NUL in name", get_with("X\x00A: b\r\n"), &[400]),
        case("no colon", get_with("NoColonHere\r\n"), &[400]),
        case("empty name", get_with(": b\r\n"), &[400]),
        case("only a colon", get_with(":\r\n"), &[400]),
        case(
            "whitespace before the first field",
            b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
            &[400],
        ),
        case("folded value", get_with("X-A: a\r\n b\r\n"), &[400]),
        case("two Host fields", get_with("Host: y\r\n"), &[400]),
        case(
            "Host with userinfo",
            b"GET / HTTP/1.1\r\nHost: user@x\r\n\r\n",
            &[400],
        ),
        case(
            "Host with a path",
            b"GET / HTTP/1.1\r\nHost: x/y\r\n\r\n",
            &[400],
        ),
        case(
            "Host with a space",
            b"GET / HTTP/1.1\r\nHost: x y\r\n\r\n",
            &[400],
        ),
        case("no Host on 1.1", b"GET / HTTP/1.1\r\n\r\n", &[400]),
        // Accepted: obs-text in a value, OWS, an empty Host (RFC 9112 §3.2 allows it).
        case(
            "obs-text in value",
            get_with("X-A: caf\u{e9} \u{ff}\r\n"),
            &[200, 200],
        ),
        case("tab in value", get_with("X-A: a\tb\r\n"), &[200, 200]),
        case("empty value", get_with("X-A:\r\n"), &[200, 200]),
        case(
            "empty Host",
            b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
            &[200, 200],
        ),
    ];
    run_cases(&server, cases);
}

/// The request line: exactly `method SP target SP HTTP/1.x`.
#[test]
fn malformed_request_lines_are_refused_with_the_right_status() {
    let server = site();
    let cases = vec![
        case(
            "two spaces after method",
            b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[400],
        ),
        case(
            "tabs as separators",
            b"GET\t/\tHTTP/1.1\r\nHost: x\r\n\r\n",
            &[400],
        ),
        case(
            "leading space",
            b" GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[400],
        ),
        case(
            "trailing space",
            b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
            &[400],
        ),
        case(
            "lower-case method",
            b"get / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[501],
        ),
        case(
            "mixed-case method",
            b"Get / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[501],
        ),
        case(
            "lower-case version",
            b"GET / http/1.1\r\nHost: x\r\n\r\n",
            &[400],
        ),
        case("HTTP/1.10", b"GET / HTTP/1.10\r\nHost: x\r\n\r\n", &[400]),
        case("HTTP/01.1", b"GET / HTTP/01.1\r\nHost: x\r\n\r\n", &[400]),
        case("HTTP/1", b"GET / HTTP/1\r\nHost: x\r\n\r\n", &[400]),
        case("no version (HTTP/0.9)", b"GET /\r\n\r\n", &[400]),
        case("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", &[505]),
        case(
            "HTTP/0.9 spelled out",
            b"GET / HTTP/0.9\r\nHost: x\r\n\r\n",
            &[505],
        ),
        case(
            "h2 prior-knowledge preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            &[505],
        ),
        case(
            "asterisk with GET",
            b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
            &[400],
        ),
        case(
            "OPTIONS *",
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            &[501],
        ),
        case(
            "CONNECT",
            b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
            &[501],
        ),
        case("TRACE", b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", &[501]),
        case(
            "100-byte method",
            format!("{} / HTTP/1.1\r\nHost: x\r\n\r\n", "A".repeat(100)),
            &[501],
        ),
        // As nginx: a request line longer than its buffer is 414, whatever makes it long.
        case(
            "10000-byte method",
            format!("{} / HTTP/1.1\r\nHost: x\r\n\r\n", "A".repeat(10000)),
            &[414],
        ),
        case(
            "NUL in method",
            b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[400],
        ),
        case(
            "NUL in target",
            b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
            &[400],
        ),
        case(
            "relative target",
            b"GET canary.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            &[400],
        ),
        case(
            "ftp scheme",
            b"GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
            &[400],
        ),
        case(
            "absolute form without Host",
            b"GET http://x/canary.txt HTTP/1.1\r\n\r\n",
            &[400],
        ),
        case(
            "only CRLFs then garbage",
            b"\r\n\r\n\r\nxyz\r\n\r\n",
            &[400],
        ),
        // Accepted: absolute form naming another host (RFC 9112 §3.2.2: the target's
        // authority wins; the default server answers), higher 1.x minor versions, bare LF line
        // ends in the head (RFC 9112 §2.2 allows recognising them), leading empty lines.
        case(
            "absolute form, other host",
            b"GET http://other.example/canary.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            &[200, 200],
        ),
        case(
            "absolute form, upper-case scheme",
            b"GET HTTP://x/canary.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            &[200, 200],
        ),
        case(
            "HTTP/1.9",
            b"GET /canary.txt HTTP/1.9\r\nHost: x\r\n\r\n",
            &[200, 200],
        ),
        case(
            "bare LF line ends",
            b"GET /canary.txt HTTP/1.1\nHost: x\n\n",
            &[200, 200],
        ),
        case(
            "leading empty lines",
            b"\r\n\r\nGET /canary.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            &[200, 200],
        ),
    ];
    run_cases(&server, cases);
}

/// BUG: a request line with a stray space before the version, or a space inside the target,
/// is answered 505 (HTTP Version Not Supported) although the version is HTTP/1.1: the version
/// check looks only at the last space-separated word. Expected 400 (RFC 9112 §3: the line is
/// malformed), as nginx answers.
#[test]
fn a_space_in_the_wrong_place_of_the_request_line_is_400_not_505() {
    let server = site();
    run_cases(
        &server,
        vec![
            case(
                "two spaces before version",
                b"GET /  HTTP/1.1\r\nHost: x\r\n\r\n",
                &[400],
            ),
            case(
                "space inside the target",
                b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
                &[400],
            ),
        ],
    );
}

/// BUG: a chunk whose announced size alone exceeds client_max_body_size is not refused when
/// its size line arrives: the server waits for the data (client_body_timeout, 60 s by
/// default) and only answers 413 once a whole megabyte has arrived. nginx answers 413 as soon
/// as it reads the size ("client intended to send too large chunked body"), exactly as webserv
/// does for a Content-Length over the limit.
#[test]
fn a_chunk_size_over_the_body_limit_is_413_at_once() {
    let server = site();
    for size in ["100001", "ffffffffffffffff"] {
        let request = post("Transfer-Encoding: chunked\r\n", format!("{size}\r\nabc"));
        let exchange = exchange(server.addr(), &request, Duration::from_secs(3));
        assert_eq!(
            exchange.end,
            End::Closed,
            "chunk size {size}: no answer within 3 s; received {}",
            show(&exchange.bytes)
        );
        assert_eq!(exchange.statuses(), vec![413], "chunk size {size}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Paths

/// Requests `target` on a fresh connection and returns (status, body); fails if the secret
/// next to the root ever comes back.
fn get_status(server: &Server, target: &str) -> (u16, String) {
    let exchange = exchange(
        server.addr(),
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        HANG,
    );
    let text = exchange.text();
    assert!(!text.contains(SECRET), "{target} leaked the secret: {text}");
    assert!(
        !text.contains("root:x:0:0"),
        "{target} leaked /etc/passwd: {text}"
    );
    assert_eq!(exchange.end, End::Closed, "{target}: hang");
    let response = parse_one(&exchange.bytes);
    (response.status, response.text())
}

#[test]
fn dot_dot_in_every_encoding_stays_inside_the_root() {
    let server = site();
    // (target, status): `..` above the root is 400 whatever its encoding; what is decoded is
    // decoded once; a backslash is an ordinary byte on Linux.
    let cases: &[(&str, u16)] = &[
        ("/../secret.txt", 400),
        ("/../../../../etc/passwd", 400),
        ("/%2e%2e/secret.txt", 400),
        ("/%2E%2e/secret.txt", 400),
        ("/.%2e/secret.txt", 400),
        ("/%2e./secret.txt", 400),
        ("/..%2fsecret.txt", 400),
        ("/..%2Fsecret.txt", 400),
        ("/%2f..%2fsecret.txt", 400),
        ("/sub/..%2f..%2fsecret.txt", 400),
        ("/sub%2f..%2f..%2fsecret.txt", 400),
        ("/sub/../../secret.txt", 400),
        ("/sub/./../.././secret.txt", 400),
        ("/..;/secret.txt", 404),
        ("/..\\secret.txt", 404),
        ("/sub\\..\\..\\secret.txt", 404),
        ("/%5c..%5csecret.txt", 404),
        // Double encoding: decoded once, `%2e%2e` is then a literal name.
        ("/%252e%252e/secret.txt", 404),
        ("/%252e%252e%252fsecret.txt", 404),
        // Overlong UTF-8 for `.` and `/`: not UTF-8, refused.
        ("/%c0%ae%c0%ae/secret.txt", 400),
        ("/%c0%ae%c0%ae%c0%afsecret.txt", 400),
        ("/%e0%80%ae%e0%80%ae/secret.txt", 400),
        ("/%c0%2e%c0%2e/secret.txt", 400),
        // `%u` (IIS) is not percent-encoding.
        ("/%u002e%u002e/secret.txt", 400),
        ("//etc/passwd", 404),
        ("///etc//passwd", 404),
        ("/%2fetc%2fpasswd", 404),
        ("/sub/a.txt%00", 400),
        ("/sub/a.txt%00.html", 400),
        ("/.%00./secret.txt", 400),
        ("http://x/../../etc/passwd", 400),
        ("http://x/%2e%2e/secret.txt", 400),
        ("http://x/sub/..%2f..%2fsecret.txt", 400),
        // The alias cannot be climbed out of (its parent holds secret.txt).
        ("/al/../secret.txt", 404),
        ("/al/../../secret.txt", 400),
        ("/al/..%2f..%2fsecret.txt", 400),
        ("/al/%2e%2e/%2e%2e/secret.txt", 400),
        ("/al..%2fsecret.txt", 404),
        ("/al../secret.txt", 404),
        ("/al%2f..%2f..%2fsecret.txt", 400),
    ];
    let mut failures = Vec::new();
    for (target, status) in cases {
        let (got, _) = get_status(&server, target);
        if got != *status {
            failures.push(format!("{target}: expected {status}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dots_that_stay_inside_are_resolved_and_double_encoding_is_literal() {
    let server = site();
    let cases: &[(&str, u16, &str)] = &[
        ("/sub/../canary.txt", 200, CANARY_BODY),
        ("/sub/%2e%2e/canary.txt", 200, CANARY_BODY),
        ("/sub/.%2e/canary.txt", 200, CANARY_BODY),
        ("/sub%2f..%2fcanary.txt", 200, CANARY_BODY),
        ("/./sub/./a.txt", 200, "sub a"),
        ("//sub///a.txt", 200, "sub a"),
        ("/%73%75%62/%61.txt", 200, "sub a"),
        // `%252e%252e` decodes once to the literal directory name `%2e%2e`.
        ("/%252e%252e/literal.txt", 200, "literal percent dir"),
        ("/al/in-alias.txt", 200, "in alias"),
        ("/al/../canary.txt", 200, CANARY_BODY),
        ("/canary.txt?../../secret.txt", 200, CANARY_BODY),
        ("/canary.txt#../../secret.txt", 200, CANARY_BODY),
    ];
    for (target, status, body) in cases {
        let (got, text) = get_status(&server, target);
        assert_eq!((got, text.as_str()), (*status, *body), "{target}");
    }
}

/// webserv follows symbolic links inside the root even when they point outside it, as nginx
/// does by default (`disable_symlinks off`): whoever can create a link in the root already
/// decides what it serves. Documented here so that a change is a decision.
#[test]
fn symlinks_inside_the_root_are_followed_like_nginx() {
    let server = site();
    let dir = server.dir.path();
    std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("www/out-link.txt")).unwrap();
    std::os::unix::fs::symlink(dir.join("aliased"), dir.join("www/out-dir")).unwrap();
    let response = server.get("/out-link.txt");
    assert_eq!((response.status, response.text().as_str()), (200, SECRET));
    let response = server.get("/out-dir/in-alias.txt");
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "in alias")
    );
    // A dangling link is a 404, a link to a directory without slash a 301.
    std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("www/dangling")).unwrap();
    assert_eq!(server.get("/dangling").status, 404);
    assert_eq!(server.get("/out-dir").status, 301);
}

/// BUG: the small-file cache keys entries by `PathBuf`, whose equality ignores a trailing
/// slash, so once `/sub/a.txt` is cached, `GET /sub/a.txt/` is served the file (200) instead
/// of 404 (ENOTDIR, which is what an uncached request gets, and what nginx answers).
#[test]
fn a_file_with_a_trailing_slash_is_404_cached_or_not() {
    let server = site();
    assert_eq!(server.get("/sub/a.txt/").status, 404, "uncached");
    assert_eq!(server.get("/sub/a.txt").status, 200);
    let response = server.get("/sub/a.txt/");
    assert_eq!(
        response.status,
        404,
        "after /sub/a.txt was cached: got {} {:?}",
        response.status,
        response.text()
    );
    assert_eq!(server.get("/sub/a.txt/.").status, 404);
}

/// BUG: a file served through a symlink whose target lives in another directory stays cached
/// with its old content after the target changes (for up to the 2 s revalidation period):
/// inotify watches the directory of the link, not of the target. The file cache promises it
/// "must never serve a stale file".
#[test]
fn a_file_behind_a_symlink_is_never_served_stale() {
    let server = site();
    let dir = server.dir.path();
    fs::create_dir_all(dir.join("www/releases")).unwrap();
    fs::write(dir.join("www/releases/v2.txt"), b"version two").unwrap();
    std::os::unix::fs::symlink(dir.join("www/releases/v2.txt"), dir.join("www/latest.txt"))
        .unwrap();
    assert_eq!(server.get("/latest.txt").text(), "version two");
    fs::write(dir.join("www/releases/v2.txt"), b"version 2.1").unwrap();
    assert_eq!(server.get("/releases/v2.txt").text(), "version 2.1");
    assert_eq!(
        server.get("/latest.txt").text(),
        "version 2.1",
        "stale content through the symlink"
    );
}

/// The request-target limit is 8 KiB exactly, counted on the raw (still encoded) bytes.
#[test]
fn the_target_limit_is_exactly_8192_bytes() {
    let server = site();
    let plain_8192 = format!("/{}", "a".repeat(8191));
    let plain_8193 = format!("/{}", "a".repeat(8192));
    let segments_8192 = "/a".repeat(4096);
    let encoded_8192 = "/%61".repeat(2048);
    let query_8192 = format!("/canary.txt?{}", "q".repeat(8192 - 12));
    let query_8193 = format!("{query_8192}q");
    assert_eq!(plain_8192.len(), 8192);
    assert_eq!(encoded_8192.len(), 8192);
    assert_eq!(query_8192.len(), 8192);
    let cases: Vec<(&str, String, u16)> = vec![
        ("GET", plain_8192.clone(), 404),
        ("GET", plain_8193.clone(), 414),
        ("GET", segments_8192.clone(), 404),
        ("GET", format!("{segments_8192}a"), 414),
        ("GET", encoded_8192.clone(), 404),
        ("GET", format!("{encoded_8192}a"), 414),
        ("GET", query_8192, 200),
        ("GET", query_8193, 414),
        ("DELETE", plain_8192.clone(), 405),
        ("DELETE", plain_8193.clone(), 414),
        ("GET", format!("/{}", "a".repeat(64 * 1024)), 414),
    ];
    for (method, target, status) in cases {
        let exchange = exchange(
            server.addr(),
            format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
            HANG,
        );
        assert_eq!(
            exchange.end,
            End::Closed,
            "{method} {} bytes: hang",
            target.len()
        );
        assert_eq!(
            exchange.statuses(),
            vec![status],
            "{method} target of {} bytes",
            target.len()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Pipelining

#[test]
fn a_hundred_pipelined_gets_in_one_write_are_answered_in_order() {
    let files: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| {
            (
                format!("www/f{i:03}.txt"),
                format!("body-{i:03}").into_bytes(),
            )
        })
        .collect();
    let file_refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_slice()))
        .collect();
    let server = Server::start(&config(), &file_refs);
    let mut pipeline = String::new();
    for i in 0..100 {
        let close = if i == 99 { "Connection: close\r\n" } else { "" };
        pipeline.push_str(&format!(
            "GET /f{i:03}.txt HTTP/1.1\r\nHost: x\r\n{close}\r\n"
        ));
    }
    let exchange = exchange(server.addr(), pipeline.as_bytes(), Duration::from_secs(15));
    assert_eq!(
        exchange.end,
        End::Closed,
        "hang after {}",
        show(&exchange.bytes)
    );
    let responses = exchange.responses(&[]);
    assert_eq!(responses.len(), 100);
    for (i, response) in responses.iter().enumerate() {
        assert_eq!(response.status, 200, "response {i}");
        assert_eq!(
            response.text(),
            format!("body-{i:03}"),
            "response {i} out of order"
        );
    }
}

/// Two thousand pipelined requests (about 80 KB, more than the server's input buffer) written
/// by one thread while another reads: all answered, in order, none lost at buffer edges.
#[test]
fn two_thousand_pipelined_requests_with_a_concurrent_reader_are_all_answered() {
    let server = site();
    let mut stream = std::net::TcpStream::connect(server.addr()).expect("connect");
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    const N: usize = 2000;
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        let mut all = Vec::new();
        for i in 0..N {
            let (path, close) = match (i % 3, i == N - 1) {
                (_, true) => ("/canary.txt", "Connection: close\r\n"),
                (0, _) => ("/canary.txt", ""),
                (1, _) => ("/sub/a.txt", ""),
                _ => ("/missing.txt", ""),
            };
            all.extend_from_slice(
                format!("GET {path}?n={i} HTTP/1.1\r\nHost: x\r\nX-Pad: {i:08}\r\n{close}\r\n")
                    .as_bytes(),
            );
        }
        // Odd-sized writes, so request boundaries fall anywhere.
        for piece in all.chunks(1447) {
            writer.write_all(piece).expect("write pipeline");
        }
    });
    let (bytes, end) = read_until_closed(&mut stream, Instant::now() + Duration::from_secs(20));
    sender.join().unwrap();
    assert_eq!(end, End::Closed, "hang after {} bytes", bytes.len());
    let responses = parse_all(&bytes, &[]);
    assert_eq!(responses.len(), N);
    for (i, response) in responses.iter().enumerate() {
        let expected = match (i % 3, i == N - 1) {
            (_, true) | (0, _) => 200,
            (1, _) => 200,
            _ => 404,
        };
        assert_eq!(response.status, expected, "response {i}");
        if i % 3 == 1 && i != N - 1 {
            assert_eq!(response.text(), "sub a", "response {i}");
        }
    }
}

#[test]
fn a_pipelined_mix_of_methods_is_answered_in_order() {
    let server = site();
    let hidden_len = HIDDEN.len();
    let requests: Vec<(String, bool)> = vec![
        ("GET /canary.txt HTTP/1.1\r\nHost: x\r\n\r\n".into(), false),
        ("HEAD /canary.txt HTTP/1.1\r\nHost: x\r\n\r\n".into(), true),
        ("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n".into(), false),
        (
            "PUT /up/p.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nput-it".into(),
            false,
        ),
        (
            "POST /up/q.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
             4\r\npost\r\n0\r\n\r\n"
                .into(),
            false,
        ),
        ("GET /up/p.txt HTTP/1.1\r\nHost: x\r\n\r\n".into(), false),
        ("HEAD /up/q.txt HTTP/1.1\r\nHost: x\r\n\r\n".into(), true),
        (
            format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {hidden_len}\r\n\r\n{HIDDEN}"),
            false,
        ),
        ("DELETE /up/p.txt HTTP/1.1\r\nHost: x\r\n\r\n".into(), false),
        ("GET /up/p.txt HTTP/1.1\r\nHost: x\r\n\r\n".into(), false),
        (
            "GET /sub/a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\n\r\n".into(),
            false,
        ),
        (
            "PUT /up/q.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nnew"
                .into(),
            false,
        ),
        ("GET /up/q.txt HTTP/1.1\r\nHost: x\r\n\r\n".into(), false),
        ("GET /sub HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".into(), false),
        ("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n".into(), false),
        (CANARY.into(), false),
    ];
    let bytes: Vec<u8> = requests.iter().flat_map(|(r, _)| r.bytes()).collect();
    let heads: Vec<bool> = requests.iter().map(|(_, h)| *h).collect();
    let exchange = exchange(server.addr(), &bytes, HANG);
    assert_eq!(exchange.end, End::Closed, "hang: {}", show(&exchange.bytes));
    assert!(!exchange.text().contains(SMUGGLED));
    let responses = exchange.responses(&heads);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![
            200, 200, 404, 201, 201, 200, 200, 405, 204, 404, 206, 204, 200, 301, 501
        ],
        "{}",
        exchange.text()
    );
    assert_eq!(responses[0].text(), CANARY_BODY);
    assert!(responses[1].body.is_empty());
    assert_eq!(
        responses[1].header("content-length"),
        Some(CANARY_BODY.len().to_string().as_str())
    );
    assert_eq!(responses[5].text(), "put-it");
    assert_eq!(responses[6].header("content-length"), Some("4"));
    assert_eq!(responses[10].text(), "ub ");
    assert_eq!(responses[12].text(), "new");
    assert!(responses[14].closes(), "501 must close");
}

#[test]
fn a_malformed_request_in_the_middle_of_a_pipeline_ends_it_with_400() {
    let server = site();
    let poisons: &[(&str, &str)] = &[
        (
            "bad header",
            "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
        ),
        (
            "bad chunk",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
        ),
        (
            "CL and TE",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "garbage line",
            "\x16\x03\x01\x02\x00\x01\x00\x01\x7e\x03\x03\r\n\r\n",
        ),
        ("missing Host", "GET / HTTP/1.1\r\n\r\n"),
    ];
    for (name, poison) in poisons {
        let pipeline = format!(
            "GET /canary.txt HTTP/1.1\r\nHost: x\r\n\r\n\
             HEAD /sub/a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
             {poison}\
             {HIDDEN}{CANARY}"
        );
        let exchange = exchange(server.addr(), pipeline.as_bytes(), HANG);
        assert_eq!(exchange.end, End::Closed, "{name}: hang");
        assert!(
            !exchange.text().contains(SMUGGLED),
            "{name}: went on after the 400"
        );
        let responses = exchange.responses(&[false, true]);
        let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![200, 200, 400], "{name}: {}", exchange.text());
        assert!(responses[2].closes(), "{name}: the 400 must announce close");
    }
}

/// BUG: a CGI script that answers without reading the request body (here a 403) gets its
/// response sent with `Connection: keep-alive`, but once that response is complete the server
/// closes the connection because body bytes are still due: the rest of the body and the next
/// request on the connection are silently dropped. A client that believed the keep-alive and
/// sent a POST next gets a dead connection it may not retry. Expected: either `Connection:
/// close` on that response, or (as Apache's mod_cgi and nginx's discard do) the rest of the
/// body read and dropped and the next request answered.
#[test]
fn a_cgi_answer_sent_before_the_body_arrived_keeps_its_keep_alive_promise() {
    let server = errors_site();
    let mut conn = server.connect();
    conn.send(b"POST /cgi/early.sh HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    let response = conn.read_response();
    assert_eq!((response.status, response.text().as_str()), (403, "no"));
    if response.closes() {
        assert_eq!(conn.closed_within(HANG), Ok(true));
        return;
    }
    // The response promised keep-alive: the rest of the body, then a next request.
    let _ = conn.try_send(&[b'b'; 90]);
    let _ = conn.try_send(CANARY.as_bytes());
    let (rest, end) = read_until_closed(&mut conn.stream, Instant::now() + HANG);
    let mut all = conn.pending().to_vec();
    all.extend_from_slice(&rest);
    assert_eq!(end, End::Closed, "hang: {}", show(&all));
    assert!(
        !all.is_empty(),
        "the 403 said `Connection: keep-alive`, but the connection was closed without an \
         answer to the next request"
    );
    let next = parse_one(&all);
    assert_eq!(next.status, 404, "the canary (not in this site's root)");
}

// ---------------------------------------------------------------------------------------------
// 6. Error pages

fn errors_site() -> Server {
    Server::start(
        "workers 1;\n\
         access_log off;\n\
         server {\n\
             listen 127.0.0.1:0;\n\
             root www;\n\
             client_header_timeout 1s;\n\
             location /up { allow_methods GET HEAD POST PUT DELETE; alias store; upload_store store; }\n\
             location /nostore { allow_methods POST; upload_store missing-dir; }\n\
             location /post-only { allow_methods POST; }\n\
             location /cgi { allow_methods GET HEAD POST; cgi .sh /bin/sh; cgi_timeout 1s; }\n\
         }\n",
        &[
            ("www/index.html", b"<p>index</p>"),
            ("www/noindex/file.txt", b"file"),
            ("www/post-only/x.txt", b"x"),
            ("www/cgi/bad.sh", b"echo 'no header block here'\n"),
            (
                "www/cgi/early.sh",
                b"printf 'Status: 403 Forbidden\\r\\nContent-Type: text/plain\\r\\n\\r\\nno'\n",
            ),
            (
                "www/cgi/slow.sh",
                b"sleep 5\nprintf 'Content-Type: text/plain\\r\\n\\r\\nlate'\n",
            ),
            ("store/sub/", b""),
        ],
    )
}

/// Checks that `bytes` is exactly one complete error response with status `status`: an HTML
/// page, Content-Type text/html, Content-Length equal to the body that follows. With `head`,
/// no body at all.
fn check_error_page(label: &str, bytes: &[u8], status: u16, head: bool) -> Result<(), String> {
    let Some(head_end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(format!("{label}: no complete head: {}", show(bytes)));
    };
    let body = &bytes[head_end + 4..];
    let response = match std::panic::catch_unwind(|| parse_response(bytes, head, true)) {
        Ok(Parse::Complete(response, _)) => response,
        _ => return Err(format!("{label}: unparsable: {}", show(bytes))),
    };
    let mut problems = Vec::new();
    if response.status != status {
        problems.push(format!("status {} (expected {status})", response.status));
    }
    if response.reason.trim().is_empty() {
        problems.push("empty reason phrase".into());
    }
    if !response
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/html"))
    {
        problems.push(format!(
            "Content-Type {:?}",
            response.header("content-type")
        ));
    }
    for name in ["date", "server"] {
        if !response.has_header(name) {
            problems.push(format!("no {name} header"));
        }
    }
    match response.header("content-length").map(str::parse::<usize>) {
        Some(Ok(length)) => {
            if head {
                if !body.is_empty() {
                    problems.push(format!(
                        "HEAD answered with {} body bytes (Content-Length {length})",
                        body.len()
                    ));
                }
                if length == 0 {
                    problems.push("HEAD: Content-Length 0, not the page's length".into());
                }
            } else if length != body.len() {
                problems.push(format!(
                    "Content-Length {length} but {} body bytes",
                    body.len()
                ));
            }
        }
        _ => problems.push(format!(
            "Content-Length {:?}",
            response.header("content-length")
        )),
    }
    if !head {
        let page = Response {
            body: body.to_vec(),
            ..response.clone()
        };
        if !page.is_html_page() {
            problems.push(format!("not a complete HTML page: {}", show(body)));
        }
        if !page.text().contains(&status.to_string()) {
            problems.push("the page does not mention the status".into());
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{label}: {}", problems.join("; ")))
    }
}

/// Sends `request` on a fresh connection, reads to EOF (after the server closed; for
/// connection-keeping errors the request says `Connection: close`), checks the page.
fn error_case(
    server: &Server,
    label: &str,
    request: &[u8],
    status: u16,
    head: bool,
) -> Result<(), String> {
    let exchange = exchange(server.addr(), request, HANG);
    if exchange.end != End::Closed {
        return Err(format!(
            "{label}: not closed within {HANG:?}: {}",
            show(&exchange.bytes)
        ));
    }
    check_error_page(label, &exchange.bytes, status, head)
}

fn error_requests() -> Vec<(&'static str, Vec<u8>, u16)> {
    let long = "a".repeat(9000);
    let big_header = format!("X-Big: {}\r\n", "b".repeat(1000)).repeat(40);
    vec![
        ("400", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n".to_vec(), 400),
        ("403", b"GET /noindex/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), 403),
        ("404", b"GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), 404),
        (
            "405",
            b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_vec(),
            405,
        ),
        ("408", b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec(), 408),
        (
            "409",
            b"PUT /up/sub HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
                .to_vec(),
            409,
        ),
        (
            "413",
            b"POST /up/big HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n".to_vec(),
            413,
        ),
        ("414", format!("GET /{long} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(), 414),
        (
            "416",
            b"GET /index.html HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-\r\nConnection: close\r\n\r\n"
                .to_vec(),
            416,
        ),
        ("431", format!("GET / HTTP/1.1\r\nHost: x\r\n{big_header}\r\n").into_bytes(), 431),
        (
            "500",
            b"POST /nostore/f.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
                .to_vec(),
            500,
        ),
        ("501", b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 501),
        (
            "501 TE",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            501,
        ),
        ("502", b"GET /cgi/bad.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), 502),
        ("504", b"GET /cgi/slow.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), 504),
        ("505", b"GET / HTTP/3.0\r\nHost: x\r\n\r\n".to_vec(), 505),
    ]
}

#[test]
fn every_error_status_is_a_complete_html_page_with_its_length() {
    let server = errors_site();
    let started = Instant::now();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = error_requests()
            .into_iter()
            .map(|(label, request, status)| {
                let server = &server;
                scope.spawn(move || error_case(server, label, &request, status, false))
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap().err())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(started.elapsed() < Duration::from_secs(10));
    // The 405 names what is allowed, the 416 the size.
    let response = server.request(
        "POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        token_set(response.header("allow").unwrap_or("")),
        token_set("GET, HEAD")
    );
    let response = server.request(
        "GET /index.html HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.header("content-range"), Some("bytes */12"));
}

/// HEAD of an error decided after the head was parsed: the head of the page, no body.
#[test]
fn head_of_an_error_has_headers_and_no_body() {
    let server = errors_site();
    let cases: Vec<(&str, &[u8], u16)> = vec![
        ("403", b"HEAD /noindex/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 403),
        ("404", b"HEAD /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
        ("405", b"HEAD /post-only/x.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405),
        ("413", b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413),
        (
            "416",
            b"HEAD /index.html HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-\r\nConnection: close\r\n\r\n",
            416,
        ),
        ("502", b"HEAD /cgi/bad.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 502),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(label, request, status)| {
            error_case(&server, label, request, status, true).err()
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // On a kept connection, the next response follows the head directly.
    let mut conn = server.connect();
    conn.send(
        b"HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let head = conn.read_head_response();
    assert_eq!(head.status, 404);
    let next = conn.read_response();
    assert_eq!((next.status, next.text().as_str()), (200, "<p>index</p>"));
}

/// BUG: a HEAD request refused while its head is parsed (bad header field, missing Host, `..`
/// above the root, unknown transfer coding, over-long target or header section) is answered
/// with the error page's body, although the method was read and is HEAD (RFC 9110 §9.3.2: no
/// content in a response to HEAD; nginx sends none). `Connection::fail` always passes
/// `head_only = false`.
#[test]
fn head_of_an_error_found_while_parsing_has_no_body() {
    let server = errors_site();
    let long = "a".repeat(9000);
    let big_header = format!("X-Big: {}\r\n", "b".repeat(1000)).repeat(40);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "400 header",
            b"HEAD / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n".to_vec(),
            400,
        ),
        ("400 no Host", b"HEAD / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (
            "400 dot-dot",
            b"HEAD /../x HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            "414",
            format!("HEAD /{long} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
            414,
        ),
        (
            "431",
            format!("HEAD / HTTP/1.1\r\nHost: x\r\n{big_header}\r\n").into_bytes(),
            431,
        ),
        (
            "501 TE",
            b"HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            501,
        ),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(label, request, status)| {
            error_case(&server, label, &request, status, true).err()
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
