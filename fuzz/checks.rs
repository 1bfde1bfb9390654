//! The checks behind the fuzz targets, one function per target taking the fuzzer's bytes. A
//! broken promise is a panic, which libFuzzer reports with the input. The drivers play the
//! connection's part (append what arrived, call the parser, drop what it consumed).
//!
//! Shared with the main crate's `tests/fuzz_regressions.rs`, which replays every seed and every
//! input that once crashed (`fuzz/regressions/TARGET/`) through the same checks in CI. So this
//! file uses only webserv's public API and std.

#![allow(dead_code)]

use std::path::{Component, Path};
use webserv::cgi::headers;
use webserv::http::chunked::{ChunkedDecoder, ChunkedError, Decoded};
use webserv::http::multipart::{Event, MultipartError, MultipartParser};
use webserv::http::path;
use webserv::http::request::{self, Request};

/// Splits `data` into (cut points, input): the first two bytes choose where the input is cut
/// in three pieces, so every target also checks that pieces and the whole agree.
pub fn split_input(data: &[u8]) -> (usize, usize, &[u8]) {
    match data {
        [a, b, rest @ ..] => {
            let len = rest.len() + 1;
            let x = usize::from(*a) * 7919 % len;
            let y = usize::from(*b) * 104_729 % len;
            (x.min(y), x.max(y), rest)
        }
        _ => (0, 0, &[]),
    }
}

pub fn pieces(input: &[u8], i: usize, j: usize) -> [&[u8]; 3] {
    [&input[..i], &input[i..j], &input[j..]]
}

/// What a chunked body gave: its data, whether it ended, and the bytes after its end.
#[derive(Debug, PartialEq, Eq)]
pub struct ChunkedOutcome {
    pub body: Vec<u8>,
    pub done: bool,
    pub rest: Vec<u8>,
}

pub fn feed_chunked(pieces: &[&[u8]]) -> Result<ChunkedOutcome, ChunkedError> {
    let mut dec = ChunkedDecoder::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut body = Vec::new();
    let mut done = false;
    for piece in pieces {
        buf.extend_from_slice(piece);
        if done {
            continue;
        }
        loop {
            let (n, out) = dec.decode(&buf)?;
            assert!(n <= buf.len(), "consumed more than given");
            match out {
                Decoded::Data(d) => {
                    assert!(!d.is_empty(), "Data is never empty");
                    assert_eq!(
                        d.as_ptr(),
                        buf[n - d.len()..].as_ptr(),
                        "data borrows input"
                    );
                    body.extend_from_slice(d);
                    buf.drain(..n);
                }
                Decoded::NeedMore => {
                    assert_eq!(n, buf.len(), "NeedMore consumes everything");
                    buf.clear();
                    break;
                }
                Decoded::Done => {
                    buf.drain(..n);
                    done = true;
                    assert!(dec.is_done());
                    assert_eq!(dec.decode(&buf), Ok((0, Decoded::Done)));
                    break;
                }
            }
        }
    }
    Ok(ChunkedOutcome {
        body,
        done,
        rest: buf,
    })
}

#[derive(Debug, PartialEq, Eq, Default)]
pub struct Part {
    pub name: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
    pub ended: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct MultipartOutcome {
    pub parts: Vec<Part>,
    pub done: bool,
}

pub fn feed_multipart(
    boundary: &str,
    pieces: &[&[u8]],
) -> Result<MultipartOutcome, MultipartError> {
    let mut parser = MultipartParser::new(boundary);
    let mut buf: Vec<u8> = Vec::new();
    let mut parts: Vec<Part> = Vec::new();
    let mut done = false;
    let open = |parts: &Vec<Part>| parts.last().is_some_and(|p| !p.ended);
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let (n, event) = parser.next(&buf)?;
            assert!(n <= buf.len(), "consumed more than given");
            match event {
                Event::NeedMore => {
                    buf.drain(..n);
                    assert!(buf.len() <= boundary.len() + 4, "held back {}", buf.len());
                    break;
                }
                Event::Done => {
                    assert_eq!(n, buf.len(), "Done consumes the epilogue");
                    assert!(!open(&parts), "Done inside a part");
                    buf.clear();
                    done = true;
                    break;
                }
                Event::PartStart {
                    name,
                    filename,
                    content_type,
                } => {
                    assert!(!open(&parts), "PartStart inside a part");
                    parts.push(Part {
                        name,
                        filename,
                        content_type,
                        ..Part::default()
                    });
                }
                Event::Data(d) => {
                    assert!(!d.is_empty(), "Data is never empty");
                    assert!(open(&parts), "Data outside a part");
                    if let Some(part) = parts.last_mut() {
                        part.data.extend_from_slice(d);
                    }
                }
                Event::PartEnd => {
                    assert!(open(&parts), "PartEnd outside a part");
                    if let Some(part) = parts.last_mut() {
                        part.ended = true;
                    }
                }
            }
            assert!(
                n > 0,
                "an event that is not NeedMore or Done consumes input"
            );
            buf.drain(..n);
        }
    }
    Ok(MultipartOutcome { parts, done })
}

/// A request head as the connection reads it: bytes arrive in `pieces`, and the head is parsed
/// whenever `worth_parsing` says so. Returns the first answer (or None: still incomplete) in a
/// comparable form.
pub fn feed_head(pieces: &[&[u8]]) -> HeadAnswer {
    let mut buf: Vec<u8> = Vec::new();
    let mut checked = 0;
    for piece in pieces {
        if piece.is_empty() {
            continue;
        }
        buf.extend_from_slice(piece);
        if request::worth_parsing(&buf, checked) {
            let mut copy = buf.clone();
            match request::parse(&mut copy) {
                Ok(Some((req, n))) => return Some(Ok((describe(&req), n))),
                Ok(None) => {}
                Err(status) => return Some(Err(status)),
            }
        }
        checked = buf.len();
    }
    None
}

/// Whether two ways of the same bytes arriving got compatible answers. A head is the same
/// head however it arrives. Errors may differ: which limit or rule is found broken first
/// depends on when the head was looked at, and a parse made when a line ended sees a bad later
/// line that is judged otherwise only once the head ends (the other side is still waiting).
pub fn arrivals_agree(a: &HeadAnswer, b: &HeadAnswer) -> bool {
    match (a, b) {
        (Some(Err(_)), Some(Err(_)) | None) | (None, Some(Err(_))) => true,
        _ => a == b,
    }
}

pub type HeadAnswer = Option<Result<(String, usize), u16>>;

/// The promises of a parsed request.
pub fn check_request(req: &Request, used: usize, len: usize) {
    assert!(used <= len);
    assert!(req.path.starts_with('/'), "{:?}", req.path);
    assert!(
        !req.path.split('/').any(|s| s == "." || s == ".."),
        "{:?}",
        req.path
    );
    assert!(!req.path.contains("//"), "{:?}", req.path);
    assert!(!req.path.contains('\0'));
    assert!(req.version != webserv::http::request::Version::Http2);
}

pub fn describe(req: &Request) -> String {
    format!("{req:?}")
}

/// Request heads: never a panic; a head arriving whole or in three pieces (read the way the
/// connection reads, with `worth_parsing`) gets the same answer; a parsed request keeps
/// the promises of `Request` (normalised path, HTTP/1.0 or 1.1).
pub fn request_head(data: &[u8]) {
    let (i, j, input) = split_input(data);
    let mut whole = input.to_vec();
    let answer = match request::parse(&mut whole) {
        Ok(Some((req, n))) => {
            check_request(&req, n, input.len());
            Some(Ok((describe(&req), n)))
        }
        Ok(None) => None,
        Err(status) => {
            assert!(
                matches!(status, 400 | 414 | 431 | 501 | 505),
                "status {status}"
            );
            Some(Err(status))
        }
    };
    // Parsing waits for a line end (or a limit): compare the input arriving whole with the
    // input arriving in pieces; a head complete on arrival is what `parse` gives.
    let arrived = feed_head(&[input]);
    if let Some(Ok(_)) = arrived {
        assert_eq!(arrived, answer);
    }
    let split = feed_head(&pieces(input, i, j));
    assert!(
        arrivals_agree(&arrived, &split),
        "cut at {i} and {j}: {arrived:?} but in pieces {split:?}"
    );
}

/// Chunked bodies: never a panic; the whole input and the same input in three pieces decode to
/// the same body, end and rest (or the same error).
pub fn chunked(data: &[u8]) {
    let (i, j, input) = split_input(data);
    let whole = feed_chunked(&[input]);
    let split = feed_chunked(&pieces(input, i, j));
    assert_eq!(whole, split, "cut at {i} and {j}");
    if let Ok(outcome) = &whole {
        assert!(outcome.body.len() <= input.len());
    }
}

/// Short, so that the fuzzer finds delimiters.
const MULTIPART_BOUNDARY: &str = "XyZ";
/// multipart/form-data bodies: never a panic; whole and three pieces agree; the parser's event
/// order and hold-back bound hold (checked in the driver).
pub fn multipart(data: &[u8]) {
    let (i, j, input) = split_input(data);
    let whole = feed_multipart(MULTIPART_BOUNDARY, &[input]);
    let split = feed_multipart(MULTIPART_BOUNDARY, &pieces(input, i, j));
    assert_eq!(whole, split, "cut at {i} and {j}");
    // A Content-Type value: never a panic, and a boundary found is 1 to 70 bytes.
    if let Ok(text) = std::str::from_utf8(input)
        && let Some(b) = webserv::http::multipart::boundary(text)
    {
        assert!((1..=70).contains(&b.len()), "{b:?}");
    }
}

const CGI_LIMIT: usize = 4096;
/// CGI header blocks: never a panic; any prefix of the script's output either needs more bytes
/// or already gives the answer the whole gives (lines are judged as soon as they are complete).
pub fn cgi_headers(data: &[u8]) {
    let (i, j, input) = split_input(data);
    let whole = headers::parse(input, CGI_LIMIT);
    if let Ok(Some((head, n))) = &whole {
        assert!(*n <= input.len() && *n <= CGI_LIMIT);
        assert!((100..=599).contains(&head.status), "status {}", head.status);
        // The block alone gives the same head.
        assert_eq!(headers::parse(&input[..*n], CGI_LIMIT), whole);
    }
    for k in [i, j] {
        let prefix = headers::parse(&input[..k], CGI_LIMIT);
        assert!(
            prefix == Ok(None) || prefix == whole,
            "prefix {k}: {prefix:?} but whole: {whole:?}"
        );
    }
}

/// Path normalisation: never a panic; a normalised path starts with `/`, has no `.`, `..` or
/// empty segment, joined to a root never leaves it, and is a fixed point of encode + normalise.
pub fn path_normalize(data: &[u8]) {
    let (raw, query) = path::split_target(data);
    assert!(raw.len() + query.map_or(0, |q| q.len() + 1) <= data.len());
    let Ok(normal) = path::normalize(data) else {
        return;
    };
    assert!(normal.starts_with('/'), "{normal:?}");
    assert!(!normal.contains("//"), "{normal:?}");
    assert!(!normal.contains('\0'));
    for segment in normal.split('/').skip(1) {
        assert!(segment != "." && segment != "..", "{normal:?}");
    }
    let root = Path::new("/srv/root");
    let joined = root.join(normal.trim_start_matches('/'));
    assert!(joined.starts_with(root), "{joined:?}");
    assert!(
        joined
            .strip_prefix(root)
            .is_ok_and(|rest| rest.components().all(|c| matches!(c, Component::Normal(_)))),
        "{joined:?}"
    );
    let again = path::normalize(path::encode(&normal).as_bytes());
    assert_eq!(again.as_deref(), Ok(normal.as_str()));
}

/// The configuration: never a panic; an error points inside the text (line and column within
/// bounds) and prints as `PATH:LINE:COL: message`; a warning likewise.
pub fn config_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/site.conf");
    let lines: Vec<&str> = text.split('\n').collect();
    let within = |line: usize, col: usize| {
        line >= 1 && line <= lines.len() && col >= 1 && col <= lines[line - 1].chars().count() + 1
    };
    match webserv::config::parse(text, path) {
        Err(e) => {
            assert!(within(e.line, e.col), "{e} outside the text");
            assert!(!e.message.is_empty());
            let prefix = format!("/fuzz/site.conf:{}:{}: ", e.line, e.col);
            assert!(e.to_string().starts_with(&prefix), "{e}");
        }
        Ok(config) => {
            assert!(!config.servers.is_empty());
            for server in &config.servers {
                assert!(!server.listen.is_empty());
            }
            for w in &config.warnings {
                assert!(within(w.line, w.col), "{w} outside the text");
                let prefix = format!("/fuzz/site.conf:{}:{}: warning: ", w.line, w.col);
                assert!(w.to_string().starts_with(&prefix), "{w}");
            }
        }
    }
}

/// Backend response heads (the reverse proxy): never a panic; the bytes in three pieces get
/// the answer they get whole; a final head's fields, and what the client is given of them,
/// hold no CR, LF or NUL and no hop-by-hop or framing field; framing follows the request.
pub fn proxy_response(data: &[u8]) {
    use webserv::config::proxy::model::ProxySettings;
    use webserv::proxy::headers::client_fields;
    use webserv::proxy::response::{Asked, BodyFraming, Parsed, parse};

    let (i, j, input) = split_input(data);
    let settings = ProxySettings::default();
    for (head, upgrade, limit) in [
        (false, false, 8192),
        (true, false, 8192),
        (false, true, 64),
        (true, true, 1024),
    ] {
        let asked = Asked { head, upgrade };
        let whole = parse(input, asked, limit);
        let mut first = Ok(Parsed::NeedMore);
        let mut seen = 0;
        for piece in pieces(input, i, j) {
            seen += piece.len();
            first = parse(&input[..seen], asked, limit);
            if first != Ok(Parsed::NeedMore) {
                break;
            }
        }
        assert_eq!(
            first, whole,
            "pieces and whole disagree ({asked:?}, limit {limit})"
        );
        match whole {
            Ok(Parsed::Interim { status, len }) => {
                assert!((100..200).contains(&status) && len <= input.len() && len <= limit);
            }
            Ok(Parsed::Final(response, len)) => {
                assert!(len <= input.len() && len <= limit);
                if head || matches!(response.status, 204 | 304) || response.switched {
                    assert_eq!(response.body, BodyFraming::None);
                }
                for (name, value) in response.fields() {
                    assert!(!name.is_empty() && name.bytes().all(webserv::http::is_tchar));
                    assert!(!value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
                }
                let expand = |_: &webserv::config::proxy::value::Value| String::new();
                for (name, value) in client_fields(&response, &settings, &expand) {
                    assert!(!value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
                    let lower = name.to_ascii_lowercase();
                    assert!(
                        !matches!(
                            lower.as_str(),
                            "connection"
                                | "transfer-encoding"
                                | "content-length"
                                | "keep-alive"
                                | "te"
                                | "trailer"
                                | "proxy-connection"
                        ),
                        "{name} passed to the client"
                    );
                }
            }
            Ok(Parsed::NeedMore) | Err(_) => {}
        }
    }
}
