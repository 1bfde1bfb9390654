//! Parser of the header block a CGI script prints before its body (RFC 3875 §6).
//!
//! ```text
//! CGI-Response = header-section NL [ response-body ]
//! header-field = CGI-field | other-field
//! CGI-field    = Content-Type | Location | Status
//! Status       = "Status:" status-code SP reason-phrase NL
//! ```
//!
//! [`parse`] is pure: the exchange calls it with everything the script printed so far until it
//! gives a head (or an error, which becomes a 502). It turns the block into what the response
//! needs: the status, the headers to pass through, the `Content-Length` if the script gave one
//! (otherwise the body is sent chunked) and the `Location`.
//!
//! Decisions the RFC leaves to the server:
//! - Lines may end in LF or CRLF, mixed; a CR anywhere else is an error (it could split the
//!   response we write).
//! - A `Location` with no `Status` is a 302, even for a local URI such as `/path`: we do not do
//!   RFC 3875's internal redirects, the client follows it instead.
//! - The block must hold at least one CGI field (`Content-Type`, `Location` or `Status`); a
//!   script printing only a blank line, or only other fields, did not speak CGI.
//! - `Status`, `Location`, `Content-Length` and `Content-Type` may appear once each.
//! - The script cannot set hop-by-hop fields (`Connection`, `Keep-Alive`, `Proxy-Connection`,
//!   `Transfer-Encoding`, `TE`, `Trailer`, `Upgrade`): the connection and the framing of the
//!   response are the server's, so those lines are dropped. NPH output (a status line) is
//!   malformed.
//! - Values must be UTF-8 and hold no control byte other than HTAB.
//! - Other fields, `Date` and `Server` included, are passed through in order; the caller decides
//!   which of its own fields they replace.

/// Why a script's header block is unusable; either way the client gets a 502.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgiHeaderError {
    /// The block did not end within the limit.
    TooLarge,
    /// A line is not a valid field, a CGI field has a bad value, or there is no CGI field.
    Malformed,
}

impl std::fmt::Display for CgiHeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CgiHeaderError::TooLarge => "CGI header block too large",
            CgiHeaderError::Malformed => "malformed CGI header block",
        })
    }
}

impl std::error::Error for CgiHeaderError {}

/// The response head a script asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiHead {
    pub status: u16,
    /// The reason phrase the script gave with `Status`, if any.
    pub reason: Option<String>,
    /// Fields to pass through, in order, with the script's name case and trimmed values; without
    /// `Status`, `Location`, `Content-Length` and the hop-by-hop fields.
    pub headers: Vec<(String, String)>,
    pub content_length: Option<u64>,
    pub location: Option<String>,
}

/// Fields the script may not set, compared case-insensitively.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

/// Looks for the end of the header block in `buf` (the bytes the script printed so far). Lines
/// end with LF or CRLF; the block ends at the first empty line.
///
/// `Ok(None)`: need more bytes (and `buf.len() <= limit`). `Ok(Some((head, consumed)))`:
/// `consumed` is the bytes up to and including the blank line; the rest of `buf` is body.
/// `Err` if the block exceeds `limit` bytes without ending, or a line is malformed. Lines are
/// judged as soon as they are complete, so a bad line is reported without waiting for the end.
pub fn parse(buf: &[u8], limit: usize) -> Result<Option<(CgiHead, usize)>, CgiHeaderError> {
    let mut head = CgiHead {
        status: 200,
        reason: None,
        headers: Vec::new(),
        content_length: None,
        location: None,
    };
    let mut status_seen = false;
    let mut content_type_seen = false;
    let mut pos = 0;
    loop {
        let Some(lf) = memchr::memchr(b'\n', &buf[pos..]) else {
            return if buf.len() > limit {
                Err(CgiHeaderError::TooLarge)
            } else {
                Ok(None)
            };
        };
        let end = pos + lf + 1;
        if end > limit {
            return Err(CgiHeaderError::TooLarge);
        }
        let line = &buf[pos..pos + lf];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos = end;
        if line.is_empty() {
            break;
        }

        let (name, value) = split_field(line)?;
        if name.eq_ignore_ascii_case("status") {
            if status_seen {
                return Err(CgiHeaderError::Malformed);
            }
            status_seen = true;
            let (code, reason) = parse_status(&value)?;
            head.status = code;
            head.reason = reason;
        } else if name.eq_ignore_ascii_case("location") {
            if head.location.is_some() || value.is_empty() {
                return Err(CgiHeaderError::Malformed);
            }
            head.location = Some(value);
        } else if name.eq_ignore_ascii_case("content-length") {
            if head.content_length.is_some() {
                return Err(CgiHeaderError::Malformed);
            }
            head.content_length = Some(parse_length(&value)?);
        } else if HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            // Dropped: see the module documentation.
        } else {
            if name.eq_ignore_ascii_case("content-type") {
                if content_type_seen {
                    return Err(CgiHeaderError::Malformed);
                }
                content_type_seen = true;
            }
            head.headers.push((name, value));
        }
    }

    if !status_seen && !content_type_seen && head.location.is_none() {
        return Err(CgiHeaderError::Malformed);
    }
    if head.location.is_some() && !status_seen {
        head.status = 302;
    }
    Ok(Some((head, pos)))
}

/// Splits `name: value` into a token name and a trimmed, validated value.
fn split_field(line: &[u8]) -> Result<(String, String), CgiHeaderError> {
    let colon = memchr::memchr(b':', line).ok_or(CgiHeaderError::Malformed)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    // No whitespace before the colon either (RFC 9112 §5.1), which also rules out obs-fold.
    if name.is_empty() || !name.iter().all(|&b| crate::http::is_tchar(b)) {
        return Err(CgiHeaderError::Malformed);
    }
    let value = trim_ows(value);
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(CgiHeaderError::Malformed);
    }
    let value = std::str::from_utf8(value).map_err(|_| CgiHeaderError::Malformed)?;
    // A token is ASCII, so it is UTF-8 too.
    let name = std::str::from_utf8(name).map_err(|_| CgiHeaderError::Malformed)?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Trims SP and HTAB only: other whitespace is a control byte and must stay visible to the
/// validation.
fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// `Status: 404 Not Found` or `Status: 404`.
fn parse_status(value: &str) -> Result<(u16, Option<String>), CgiHeaderError> {
    let bytes = value.as_bytes();
    let code = match bytes {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(CgiHeaderError::Malformed),
    };
    if !(100..=599).contains(&code) {
        return Err(CgiHeaderError::Malformed);
    }
    let reason = match &bytes[3..] {
        [] => None,
        [b' ' | b'\t', ..] => {
            let reason = value[3..].trim_matches([' ', '\t']);
            (!reason.is_empty()).then(|| reason.to_owned())
        }
        _ => return Err(CgiHeaderError::Malformed),
    };
    Ok((code, reason))
}

fn parse_length(value: &str) -> Result<u64, CgiHeaderError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CgiHeaderError::Malformed);
    }
    value.parse().map_err(|_| CgiHeaderError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 8192;

    type Parsed = Result<Option<(CgiHead, usize)>, CgiHeaderError>;

    /// Parses `input` as the exchange would see it arrive: every prefix, in order (which covers
    /// every split and one byte at a time). A prefix either needs more or already gives the
    /// final answer, and once it gives an answer every longer prefix gives the same one.
    fn parse_all(input: &[u8], limit: usize) -> Parsed {
        let full = parse(input, limit);
        let mut decided = false;
        for k in 0..=input.len() {
            let r = parse(&input[..k], limit);
            if decided {
                assert_eq!(r, full, "prefix of {k} bytes");
            } else if r != Ok(None) {
                assert_eq!(r, full, "prefix of {k} bytes");
                decided = true;
            }
        }
        if let Ok(Some((_, consumed))) = &full {
            assert!(*consumed <= input.len());
            assert_eq!(parse(&input[..*consumed], limit), full);
            assert_eq!(parse(&input[..*consumed - 1], limit), Ok(None));
        }
        full
    }

    fn head(input: &[u8]) -> (CgiHead, usize) {
        match parse_all(input, LIMIT) {
            Ok(Some(done)) => done,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    fn error(input: &[u8]) -> CgiHeaderError {
        match parse_all(input, LIMIT) {
            Err(e) => e,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_content_type_alone_is_a_200() {
        let input = b"Content-Type: text/html\r\n\r\n<p>hi</p>";
        let (h, consumed) = head(input);
        assert_eq!(h.status, 200);
        assert_eq!(h.reason, None);
        assert_eq!(h.headers, fields(&[("Content-Type", "text/html")]));
        assert_eq!(h.content_length, None);
        assert_eq!(h.location, None);
        assert_eq!(&input[consumed..], b"<p>hi</p>");
    }

    #[test]
    fn lf_only_lines_are_accepted() {
        let input = b"Content-Type: text/plain\nX-A: 1\n\nbody";
        let (h, consumed) = head(input);
        assert_eq!(
            h.headers,
            fields(&[("Content-Type", "text/plain"), ("X-A", "1")])
        );
        assert_eq!(&input[consumed..], b"body");
    }

    #[test]
    fn mixed_line_endings_are_accepted() {
        let input = b"Content-Type: text/plain\r\nX-A: 1\n\r\nbody";
        let (h, consumed) = head(input);
        assert_eq!(h.headers.len(), 2);
        assert_eq!(&input[consumed..], b"body");
        let input = b"Content-Type: text/plain\nX-A: 1\r\n\nbody";
        assert_eq!(&input[head(input).1..], b"body");
    }

    #[test]
    fn the_body_may_start_with_blank_lines() {
        let input = b"Content-Type: text/plain\n\n\n\nx";
        let (_, consumed) = head(input);
        assert_eq!(&input[consumed..], b"\n\nx");
    }

    #[test]
    fn status_with_a_reason_sets_both() {
        let (h, _) = head(b"Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n");
        assert_eq!(h.status, 404);
        assert_eq!(h.reason.as_deref(), Some("Not Found"));
        assert_eq!(h.headers, fields(&[("Content-Type", "text/html")]));
    }

    #[test]
    fn status_without_a_reason_leaves_the_reason_to_the_server() {
        let (h, _) = head(b"Status: 204\n\n");
        assert_eq!(h.status, 204);
        assert_eq!(h.reason, None);
        assert!(h.headers.is_empty());
        let (h, _) = head(b"Status: 503   \n\n");
        assert_eq!((h.status, h.reason), (503, None));
    }

    #[test]
    fn a_custom_reason_phrase_is_kept() {
        let (h, _) = head(b"Status: 299  Quite  Fine \nContent-Type: a/b\n\n");
        assert_eq!(h.status, 299);
        assert_eq!(h.reason.as_deref(), Some("Quite  Fine"));
    }

    #[test]
    fn a_bad_status_is_malformed() {
        for line in [
            "Status: 99",
            "Status: 099",
            "Status: 600 Nope",
            "Status: 1000",
            "Status: 20",
            "Status: abc",
            "Status: 200OK",
            "Status: ",
            "Status: +20",
            "Status: ２００",
        ] {
            let input = format!("{line}\nContent-Type: text/plain\n\n");
            assert_eq!(error(input.as_bytes()), CgiHeaderError::Malformed, "{line}");
        }
    }

    #[test]
    fn status_codes_from_100_to_599_are_accepted() {
        for code in [100, 200, 301, 418, 599] {
            let (h, _) = head(format!("Status: {code}\n\n").as_bytes());
            assert_eq!(h.status, code);
        }
    }

    #[test]
    fn a_location_without_status_is_a_302() {
        let (h, _) = head(b"Location: https://example.com/x\r\n\r\n");
        assert_eq!(h.status, 302);
        assert_eq!(h.location.as_deref(), Some("https://example.com/x"));
        assert!(h.headers.is_empty());
    }

    #[test]
    fn a_local_location_is_a_client_redirect_too() {
        let (h, _) = head(b"Location: /other/page\n\n");
        assert_eq!(h.status, 302);
        assert_eq!(h.location.as_deref(), Some("/other/page"));
    }

    #[test]
    fn a_location_with_status_keeps_the_status() {
        let (h, _) = head(b"Status: 301 Moved\nLocation: /new/\n\n");
        assert_eq!(h.status, 301);
        assert_eq!(h.location.as_deref(), Some("/new/"));
        let (h, _) = head(b"Location: /new/\nStatus: 303\n\n");
        assert_eq!(h.status, 303);
    }

    #[test]
    fn content_length_is_parsed_and_not_repeated() {
        let (h, _) = head(b"Content-Type: text/plain\nContent-Length: 12\n\n");
        assert_eq!(h.content_length, Some(12));
        assert_eq!(h.headers, fields(&[("Content-Type", "text/plain")]));
        let (h, _) = head(b"Content-Type: a/b\ncontent-length: 18446744073709551615\n\n");
        assert_eq!(h.content_length, Some(u64::MAX));
    }

    #[test]
    fn a_bad_content_length_is_malformed() {
        for value in [
            "",
            "-1",
            "+1",
            "1.0",
            "0x10",
            "1 2",
            "12, 12",
            "18446744073709551616",
        ] {
            let input = format!("Content-Type: a/b\nContent-Length: {value}\n\n");
            assert_eq!(
                error(input.as_bytes()),
                CgiHeaderError::Malformed,
                "{value}"
            );
        }
    }

    #[test]
    fn header_names_are_case_insensitive_and_keep_their_case() {
        let (h, _) =
            head(b"sTaTuS: 201\nLOCATION: /x\ncOnTeNt-TyPe: text/plain\nX-Mixed-CASE: v\n\n");
        assert_eq!(h.status, 201);
        assert_eq!(h.location.as_deref(), Some("/x"));
        assert_eq!(
            h.headers,
            fields(&[("cOnTeNt-TyPe", "text/plain"), ("X-Mixed-CASE", "v")])
        );
    }

    #[test]
    fn other_headers_are_kept_in_order_with_trimmed_values() {
        let (h, _) = head(
            b"X-B: 2\nContent-Type:text/plain\nSet-Cookie: a=1\nSet-Cookie:  b=2 \t\nX-Empty:\n\n",
        );
        assert_eq!(
            h.headers,
            fields(&[
                ("X-B", "2"),
                ("Content-Type", "text/plain"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
                ("X-Empty", ""),
            ])
        );
    }

    #[test]
    fn utf8_and_tabs_inside_values_are_kept() {
        let (h, _) = head("Content-Type: a/b\nX-Name: caf\u{e9}\tbar\n\n".as_bytes());
        assert_eq!(h.headers[1].1, "caf\u{e9}\tbar");
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let (h, _) = head(
            b"Content-Type: text/plain\nConnection: close\nKeep-Alive: 5\nTransfer-Encoding: chunked\n\
              Upgrade: h2c\nTE: trailers\nTrailer: X\nProxy-Connection: x\nX-Kept: yes\n\n",
        );
        assert_eq!(
            h.headers,
            fields(&[("Content-Type", "text/plain"), ("X-Kept", "yes")])
        );
    }

    #[test]
    fn an_empty_block_is_malformed() {
        assert_eq!(error(b"\n"), CgiHeaderError::Malformed);
        assert_eq!(error(b"\r\nbody"), CgiHeaderError::Malformed);
    }

    #[test]
    fn a_block_without_a_cgi_field_is_malformed() {
        assert_eq!(error(b"X-Only: 1\n\nbody"), CgiHeaderError::Malformed);
        assert_eq!(
            error(b"Content-Length: 4\n\nbody"),
            CgiHeaderError::Malformed
        );
    }

    #[test]
    fn lines_that_are_not_fields_are_malformed() {
        for block in [
            &b"no colon here\n\n"[..],
            b"Content-Type: a/b\nHello world\n\n",
            b": value\nContent-Type: a/b\n\n",
            b"Content-Type : a/b\n\n",
            b"Content Type: a/b\n\n",
            b"Content-Type: a/b\n folded\n\n",
            b"Content-Type: a/b\n\tfolded\n\n",
            b"X(y): 1\nContent-Type: a/b\n\n",
            b"X\"y: 1\nContent-Type: a/b\n\n",
            b"HTTP/1.1 200 OK\nContent-Type: a/b\n\n",
            b"\xc3\xa9: 1\nContent-Type: a/b\n\n",
        ] {
            assert_eq!(
                error(block),
                CgiHeaderError::Malformed,
                "{:?}",
                String::from_utf8_lossy(block)
            );
        }
    }

    #[test]
    fn control_bytes_in_values_are_malformed() {
        for block in [
            &b"Content-Type: a/b\nX: a\rb\n\n"[..],
            b"Content-Type: a/b\nX: a\r\r\n\n",
            b"Content-Type: a/b\nX: a\0b\n\n",
            b"Content-Type: a/b\nX: a\x1bb\n\n",
            b"Content-Type: a/b\nX: a\x7fb\n\n",
            b"Content-Type: a/b\nX: \x0b\n\n",
            b"Content-Type: a/b\nX: \x0cb\n\n",
            b"Content-Type: a/b\nX: \rb\n\n",
            b"Content-Type: a/b\rX: injected\n\n",
        ] {
            assert_eq!(
                error(block),
                CgiHeaderError::Malformed,
                "{:?}",
                String::from_utf8_lossy(block)
            );
        }
    }

    #[test]
    fn non_utf8_values_are_malformed() {
        assert_eq!(
            error(b"Content-Type: a/b\nX: \xff\n\n"),
            CgiHeaderError::Malformed
        );
    }

    #[test]
    fn singleton_fields_may_not_repeat() {
        for block in [
            &b"Status: 200\nStatus: 404\n\n"[..],
            b"Location: /a\nLocation: /b\n\n",
            b"Content-Type: a/b\nContent-Length: 1\nContent-Length: 1\n\n",
            b"Content-Type: a/b\ncontent-type: c/d\n\n",
        ] {
            assert_eq!(error(block), CgiHeaderError::Malformed);
        }
    }

    #[test]
    fn an_empty_location_is_malformed() {
        assert_eq!(error(b"Location:   \n\n"), CgiHeaderError::Malformed);
    }

    #[test]
    fn a_bad_line_is_reported_before_the_block_ends() {
        assert_eq!(
            parse(b"Content-Type: a/b\nbad\n", LIMIT),
            Err(CgiHeaderError::Malformed)
        );
    }

    #[test]
    fn an_unfinished_block_needs_more() {
        assert_eq!(parse_all(b"", LIMIT), Ok(None));
        assert_eq!(parse_all(b"Content-Type: text/pl", LIMIT), Ok(None));
        assert_eq!(parse_all(b"Content-Type: text/plain\r\n", LIMIT), Ok(None));
        assert_eq!(
            parse_all(b"Content-Type: text/plain\r\n\r", LIMIT),
            Ok(None)
        );
    }

    #[test]
    fn a_block_ending_exactly_at_the_limit_is_accepted() {
        let input = b"Content-Type: a/b\n\nbody bytes beyond the limit";
        let (_, consumed) = parse_all(input, 19).unwrap().unwrap();
        assert_eq!(consumed, 19);
        assert_eq!(parse_all(input, 18), Err(CgiHeaderError::TooLarge));
    }

    #[test]
    fn an_unfinished_block_beyond_the_limit_is_too_large() {
        let input = b"Content-Type: a/b\nX-Long: 0123456789";
        assert_eq!(parse_all(input, input.len()), Ok(None));
        assert_eq!(
            parse_all(input, input.len() - 1),
            Err(CgiHeaderError::TooLarge)
        );
        let mut big = b"Content-Type: a/b\n".to_vec();
        big.resize(LIMIT + 1, b'x');
        assert_eq!(parse(&big, LIMIT), Err(CgiHeaderError::TooLarge));
    }

    #[test]
    fn a_body_that_looks_like_headers_is_body() {
        let input = b"Content-Type: text/plain\n\nStatus: 500\nLocation: /x\n\n";
        let (h, consumed) = head(input);
        assert_eq!(h.status, 200);
        assert_eq!(&input[consumed..], b"Status: 500\nLocation: /x\n\n");
    }

    /// Property tests: any bytes, every prefix, and generated header blocks.
    mod props {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        /// Bytes that mostly look like a CGI header block.
        fn block_like() -> impl Strategy<Value = Vec<u8>> {
            let token = prop_oneof![
                Just(b"\n".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"\r".to_vec()),
                Just(b"Status: 404 Not Found".to_vec()),
                Just(b"Status: 99".to_vec()),
                Just(b"Location: /x".to_vec()),
                Just(b"Content-Type: text/html".to_vec()),
                Just(b"Content-Length: 12".to_vec()),
                Just(b"Connection: close".to_vec()),
                Just(b"X-A: b".to_vec()),
                Just(b": ".to_vec()),
                Just(b" \t".to_vec()),
                vec(any::<u8>(), 1..6),
            ];
            vec(token, 0..24).prop_map(|t| t.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Lines are judged as soon as they are complete: a prefix of the script's output
            /// either needs more, or already has the answer the whole output has.
            #[test]
            fn every_prefix_needs_more_or_gives_the_answer_of_the_whole(
                input in prop_oneof![vec(any::<u8>(), 0..200), block_like()],
                limit in prop_oneof![Just(LIMIT), 8usize..64],
            ) {
                let whole = parse(&input, limit);
                if let Ok(Some((head, n))) = &whole {
                    prop_assert!(*n <= input.len() && *n <= limit);
                    prop_assert!((100..=599).contains(&head.status));
                    prop_assert_eq!(&parse(&input[..*n], limit), &whole);
                }
                for k in 0..input.len() {
                    let prefix = parse(&input[..k], limit);
                    prop_assert!(prefix == Ok(None) || prefix == whole, "prefix {}: {:?}", k, prefix);
                }
            }

            #[test]
            fn generated_fields_come_back_in_order_without_the_hop_by_hop_ones(
                fields in vec(
                    (
                        prop_oneof![
                            "X-[A-Za-z0-9-]{1,12}",
                            Just("Connection".to_string()),
                            Just("transfer-encoding".to_string()),
                            Just("Set-Cookie".to_string()),
                        ],
                        "[!-~]([ !-~]{0,20}[!-~])?",
                    ),
                    0..8,
                ),
                status in proptest::option::of(100u16..600),
                crlf in any::<bool>(),
                body in vec(any::<u8>(), 0..30),
            ) {
                let eol = if crlf { "\r\n" } else { "\n" };
                let mut text = String::from("Content-Type: text/plain");
                text.push_str(eol);
                if let Some(code) = status {
                    text.push_str(&format!("Status: {code} Reason{eol}"));
                }
                for (name, value) in &fields {
                    text.push_str(&format!("{name}:  {value} {eol}"));
                }
                text.push_str(eol);
                let mut input = text.clone().into_bytes();
                input.extend_from_slice(&body);
                let (head, n) = parse(&input, LIMIT).expect("valid").expect("complete");
                prop_assert_eq!(n, text.len());
                prop_assert_eq!(head.status, status.unwrap_or(200));
                let kept: Vec<(String, String)> = std::iter::once(("Content-Type", "text/plain"))
                    .chain(fields.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                    .filter(|(n, _)| !HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(n)))
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                prop_assert_eq!(head.headers, kept);
            }
        }
    }
}
