//! Response heads as tables (these bytes give this head or this error), every one also fed
//! cut at every offset, and a property test that arbitrary bytes in arbitrary pieces get the
//! answer they get whole.

use super::*;
use crate::http::testing::cut;
use crate::proxy::request::Reuse;
use proptest::prelude::*;

const GET: Asked = Asked {
    head: false,
    upgrade: false,
};
const LIMIT: usize = 8192;

/// `text` with `\n` turned into CRLF.
fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

/// The answer for `buf` whole, after checking that every shorter prefix is either `NeedMore`
/// or that same answer (an error may show before the head ends; a head never does).
fn parse_checked(buf: &[u8], asked: Asked, limit: usize) -> Result<Parsed<'_>, HeadError> {
    let whole = parse(buf, asked, limit);
    for k in 0..buf.len() {
        let part = parse(&buf[..k], asked, limit);
        match (&part, &whole) {
            (Ok(Parsed::NeedMore), _) => {}
            (Err(e), Err(w)) if e == w => {}
            (Ok(Parsed::Final(_, n)), Ok(Parsed::Final(_, m))) if n == m && *n <= k => {
                assert_eq!(part, whole, "prefix {k}")
            }
            (Ok(Parsed::Interim { len: n, .. }), Ok(Parsed::Interim { len: m, .. }))
                if n == m && *n <= k => {}
            _ => panic!(
                "{:?}\nprefix {k} gives {part:?}, whole gives {whole:?}",
                String::from_utf8_lossy(buf)
            ),
        }
    }
    whole
}

fn final_head(text: &str, asked: Asked) -> (ResponseHead<'static>, usize) {
    let buf: &'static [u8] = Box::leak(crlf(text).into_boxed_slice());
    match parse_checked(buf, asked, LIMIT) {
        Ok(Parsed::Final(head, n)) => (head, n),
        other => panic!("{text:?}: {other:?}"),
    }
}

#[test]
fn final_heads_give_status_framing_and_reuse() {
    use BackendReuse::{Close, Keep};
    use BodyFraming::{Chunked, Length, None as NoBody, UntilClose};
    let cases: [(&str, u16, BodyFraming, BackendReuse, Option<u64>); 16] = [
        (
            "HTTP/1.1 200 OK\nContent-Length: 5\n\n",
            200,
            Length(5),
            Keep,
            Some(5),
        ),
        (
            "HTTP/1.1 200 OK\nContent-Length: 5, 05\n\n",
            200,
            Length(5),
            Keep,
            Some(5),
        ),
        (
            "HTTP/1.1 200 OK\nContent-Length: 7\ncontent-length: 7\n\n",
            200,
            Length(7),
            Keep,
            Some(7),
        ),
        (
            "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n",
            200,
            Chunked,
            Keep,
            None,
        ),
        (
            "HTTP/1.1 200 OK\nTransfer-Encoding: Chunked \n\n",
            200,
            Chunked,
            Keep,
            None,
        ),
        ("HTTP/1.1 200 OK\n\n", 200, UntilClose, Close, None),
        (
            "HTTP/1.1 200 OK\nConnection: close\nContent-Length: 0\n\n",
            200,
            Length(0),
            Close,
            Some(0),
        ),
        (
            "HTTP/1.1 200 OK\nConnection: keep-alive, Close\nContent-Length: 1\n\n",
            200,
            Length(1),
            Close,
            Some(1),
        ),
        (
            "HTTP/1.0 200 OK\nContent-Length: 2\n\n",
            200,
            Length(2),
            Close,
            Some(2),
        ),
        (
            "HTTP/1.0 200 OK\nConnection: Keep-Alive\nContent-Length: 2\n\n",
            200,
            Length(2),
            Keep,
            Some(2),
        ),
        (
            "HTTP/1.0 200 OK\nConnection: keep-alive\n\n",
            200,
            UntilClose,
            Close,
            None,
        ),
        (
            "HTTP/1.1 204 No Content\nContent-Length: 9\n\n",
            204,
            NoBody,
            Keep,
            None,
        ),
        (
            "HTTP/1.1 304 Not Modified\nContent-Length: 9\n\n",
            304,
            NoBody,
            Keep,
            Some(9),
        ),
        (
            "HTTP/1.1 304 Not Modified\nTransfer-Encoding: chunked\n\n",
            304,
            NoBody,
            Keep,
            None,
        ),
        (
            "HTTP/1.1 599 Custom\nContent-Length: 0\n\n",
            599,
            Length(0),
            Keep,
            Some(0),
        ),
        (
            "HTTP/1.1 404\nContent-Length: 3\n\n",
            404,
            Length(3),
            Keep,
            Some(3),
        ),
    ];
    for (text, status, body, reuse, length) in cases {
        let (head, n) = final_head(text, GET);
        assert_eq!(n, crlf(text).len(), "{text:?}");
        assert_eq!(
            (
                head.status,
                head.body,
                head.reuse,
                head.content_length,
                head.switched
            ),
            (status, body, reuse, length, false),
            "{text:?}"
        );
    }
}

#[test]
fn the_head_ends_where_the_body_starts_and_fields_are_kept_as_sent() {
    let mut buf = crlf(
        "HTTP/1.1 201 Created\nSet-Cookie: a=1\nX-Latin: caf\u{e9}\nset-cookie: b=2\nContent-Length: 4\n\n",
    );
    let head_len = buf.len();
    buf.extend_from_slice(b"bodyHTTP/1.1 200 OK\r\n");
    let Ok(Parsed::Final(head, n)) = parse(&buf, GET, LIMIT) else {
        panic!()
    };
    assert_eq!(n, head_len);
    let names: Vec<_> = head.fields().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["Set-Cookie", "X-Latin", "set-cookie", "Content-Length"]
    );
    assert_eq!(head.field("x-latin"), Some("caf\u{e9}".as_bytes()));
    assert_eq!(head.field("SET-COOKIE"), Some(&b"a=1"[..]));
    let mut obs = b"HTTP/1.1 200 OK\r\nX-Bytes: \xff\xfe\r\nContent-Length: 0\r\n\r\n".to_vec();
    let Ok(Parsed::Final(head, _)) = parse_checked(&obs, GET, LIMIT) else {
        panic!()
    };
    assert_eq!(head.field("x-bytes"), Some(&b"\xff\xfe"[..]));
    obs.truncate(20);
    assert_eq!(parse(&obs, GET, LIMIT), Ok(Parsed::NeedMore));
}

#[test]
fn the_answer_to_head_has_no_body_but_keeps_its_length() {
    let asked = Asked {
        head: true,
        upgrade: false,
    };
    let (head, _) = final_head("HTTP/1.1 200 OK\nContent-Length: 1000\n\n", asked);
    assert_eq!(
        (head.body, head.content_length, head.reuse),
        (BodyFraming::None, Some(1000), BackendReuse::Keep)
    );
    let (head, _) = final_head("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n", asked);
    assert_eq!(head.body, BodyFraming::None);
    let (head, _) = final_head("HTTP/1.1 200 OK\n\n", asked);
    assert_eq!(
        (head.body, head.reuse),
        (BodyFraming::None, BackendReuse::Keep)
    );
}

#[test]
fn interim_responses_are_reported_for_skipping_and_101_only_when_asked() {
    let buf = crlf(
        "HTTP/1.1 100 Continue\n\nHTTP/1.1 103 Early Hints\nLink: </s.css>\n\nHTTP/1.1 200 OK\nContent-Length: 0\n\n",
    );
    let first = crlf("HTTP/1.1 100 Continue\n\n").len();
    assert_eq!(
        parse_checked(&buf, GET, LIMIT),
        Ok(Parsed::Interim {
            status: 100,
            len: first
        })
    );
    let second = crlf("HTTP/1.1 103 Early Hints\nLink: </s.css>\n\n").len();
    assert_eq!(
        parse(&buf[first..], GET, LIMIT),
        Ok(Parsed::Interim {
            status: 103,
            len: second
        })
    );
    let Ok(Parsed::Final(head, _)) = parse(&buf[first + second..], GET, LIMIT) else {
        panic!()
    };
    assert_eq!(head.status, 200);

    let switch = "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: x\n\n";
    let upgrade = Asked {
        head: false,
        upgrade: true,
    };
    let (head, n) = final_head(switch, upgrade);
    assert_eq!(n, crlf(switch).len());
    assert_eq!(
        (head.status, head.switched, head.body, head.reuse),
        (101, true, BodyFraming::None, BackendReuse::Close)
    );
    assert_eq!(
        parse_checked(&crlf(switch), GET, LIMIT),
        Err(HeadError::UnexpectedSwitch)
    );
    assert_eq!(
        parse_checked(
            &crlf("HTTP/1.1 101 Switching Protocols\n\n"),
            upgrade,
            LIMIT
        ),
        Err(HeadError::UnexpectedSwitch)
    );
    // Asked to upgrade, answered normally: an ordinary response.
    let (head, _) = final_head("HTTP/1.1 200 OK\nContent-Length: 2\n\n", upgrade);
    assert!(!head.switched);
}

#[test]
fn malformed_heads_are_errors_never_passed_on() {
    let cases: &[(&[u8], HeadError)] = &[
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            HeadError::LengthAndChunked,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            HeadError::LengthAndChunked,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            HeadError::ContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n",
            HeadError::ContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            HeadError::ContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
            HeadError::ContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
            HeadError::ContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
            HeadError::ContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
            HeadError::ContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            HeadError::TransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            HeadError::TransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            HeadError::TransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
            HeadError::TransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n",
            HeadError::TransferEncoding,
        ),
        (
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            HeadError::TransferEncoding,
        ),
        (b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", HeadError::Field),
        (b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n", HeadError::Field),
        (b"HTTP/1.1 200 OK\r\nX\r\n\r\n", HeadError::Field),
        (b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", HeadError::Field),
        (b"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", HeadError::Field),
        (b"HTTP/1.1 200 OK\r\nX-\x01: a\r\n\r\n", HeadError::Field),
        (
            b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
            HeadError::LineEnding,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\n\n",
            HeadError::LineEnding,
        ),
        (b"\r\nHTTP/1.1 200 OK\r\n\r\n", HeadError::LineEnding),
        (b"HTTP/1.1 099 Low\r\n\r\n", HeadError::Status),
        (b"HTTP/1.1 600 High\r\n\r\n", HeadError::Status),
        (b"HTTP/1.1 20 OK\r\n\r\n", HeadError::Status),
        (b"HTTP/1.1 2000 OK\r\n\r\n", HeadError::Status),
        (b"HTTP/1.1 abc OK\r\n\r\n", HeadError::Status),
        (b"HTTP/2.0 200 OK\r\n\r\n", HeadError::Version),
        (b"HTTP/1.2 200 OK\r\n\r\n", HeadError::Version),
        (b"http/1.1 200 OK\r\n\r\n", HeadError::Version),
        (b"<html>hello</html>", HeadError::Version),
        (b"ICY 200 OK\r\n\r\n", HeadError::Version),
    ];
    for (buf, error) in cases {
        assert_eq!(
            parse_checked(buf, GET, LIMIT),
            Err(*error),
            "{:?}",
            String::from_utf8_lossy(buf)
        );
    }
}

#[test]
fn a_head_over_the_limit_is_refused_complete_or_not() {
    let base = "HTTP/1.1 200 OK\r\nX: ";
    let end = "\r\nContent-Length: 0\r\n\r\n";
    let limit = 1024;
    let fill = limit - base.len() - end.len();
    let exact = format!("{base}{}{end}", "a".repeat(fill));
    assert_eq!(exact.len(), limit);
    assert!(matches!(
        parse_checked(exact.as_bytes(), GET, limit),
        Ok(Parsed::Final(_, n)) if n == limit
    ));
    let over = format!("{base}{}{end}", "a".repeat(fill + 1));
    assert_eq!(
        parse_checked(over.as_bytes(), GET, limit),
        Err(HeadError::TooLarge)
    );
    let endless = format!("{base}{}", "a".repeat(2 * limit));
    assert_eq!(
        parse(endless.as_bytes(), GET, limit),
        Err(HeadError::TooLarge)
    );
    assert_eq!(
        parse(&endless.as_bytes()[..limit], GET, limit),
        Ok(Parsed::NeedMore)
    );
}

#[test]
fn many_fields_are_parsed_within_the_limit() {
    let mut text = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..200 {
        text.push_str(&format!("X-{i}: {i}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    let Ok(Parsed::Final(head, _)) = parse(text.as_bytes(), GET, LIMIT) else {
        panic!()
    };
    assert_eq!(head.fields().len(), 201);
    assert_eq!(head.field("x-199"), Some(&b"199"[..]));
}

#[test]
fn a_connection_is_pooled_only_when_everyone_agrees() {
    let (keep, _) = final_head("HTTP/1.1 200 OK\nContent-Length: 1\n\n", GET);
    let (close, _) = final_head(
        "HTTP/1.1 200 OK\nConnection: close\nContent-Length: 1\n\n",
        GET,
    );
    let cases = [
        (true, Reuse::Keep, &keep, true, AfterExchange::Pool),
        (false, Reuse::Keep, &keep, true, AfterExchange::Close),
        (true, Reuse::Close, &keep, true, AfterExchange::Close),
        (true, Reuse::Keep, &close, true, AfterExchange::Close),
        (true, Reuse::Keep, &keep, false, AfterExchange::Close),
    ];
    for (group, request, head, whole, after) in cases {
        assert_eq!(after_exchange(group, request, head, whole), after);
    }
}

fn head_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(&b"HTTP/1.1 "[..]),
        Just(&b"HTTP/1.0 "[..]),
        Just(&b"200 OK"[..]),
        Just(&b"100 Continue"[..]),
        Just(&b"101 Switching"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\n"[..]),
        Just(&b"Content-Length: 12"[..]),
        Just(&b"Content-Length: 3"[..]),
        Just(&b"Transfer-Encoding: chunked"[..]),
        Just(&b"Connection: close"[..]),
        Just(&b"Upgrade: websocket"[..]),
        Just(&b" folded"[..]),
        Just(&b"X: \xff"[..]),
        Just(&b":"[..]),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_in_any_pieces_get_the_answer_they_get_whole(
        buf in prop_oneof![proptest::collection::vec(any::<u8>(), 0..300), head_like()],
        points in proptest::collection::vec(any::<proptest::sample::Index>(), 0..6),
        head in any::<bool>(),
        upgrade in any::<bool>(),
        limit in prop_oneof![Just(64usize), Just(8192usize)],
    ) {
        let asked = Asked { head, upgrade };
        let whole = parse(&buf, asked, limit);
        if let Ok(Parsed::Final(_, n) | Parsed::Interim { len: n, .. }) = &whole {
            prop_assert!(*n <= buf.len() && *n <= limit);
        }
        let mut seen = 0;
        let mut first: Option<Result<Parsed, HeadError>> = None;
        for piece in cut(&buf, &points) {
            seen += piece.len();
            let answer = parse(&buf[..seen], asked, limit);
            if answer != Ok(Parsed::NeedMore) {
                first = Some(answer);
                break;
            }
        }
        match first {
            // Whole input never completed: the whole answer is NeedMore too.
            None => prop_assert_eq!(whole, Ok(Parsed::NeedMore)),
            Some(Err(e)) => prop_assert_eq!(whole, Err(e)),
            Some(Ok(found)) => prop_assert_eq!(whole, Ok(found)),
        }
    }
}
