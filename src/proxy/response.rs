//! The backend's response head: parsed strictly (httparse, plus the checks a proxy needs),
//! bounded in size, and the decisions that follow from it alone: how its body is delimited,
//! whether it switches protocols, and whether the connection may serve another request.
//!
//! A backend is as untrusted as a client. Anything that could make two readers disagree about
//! where the response ends is an error (the caller answers 502 and drops the connection):
//! Content-Length together with Transfer-Encoding, a Content-Length that is not a number or
//! that disagrees with another, a transfer coding other than a lone `chunked` (or any in an
//! HTTP/1.0 response), a bare LF or a folded line in the head, a status outside 100-599, a head
//! over `proxy_buffer_size`, a `101` the request did not ask for. Field values cannot hold CR,
//! LF or NUL (httparse refuses them), so nothing the backend sends can end a field early in the
//! head the client gets.
//!
//! [`parse`] looks at everything received so far each time and keeps no state, so a head
//! arriving in pieces gives the same answer as in one piece. Interim responses (`100`, `103`...)
//! are reported for the caller to skip.

use std::fmt;

/// At most this many interim (1xx) responses before the final one.
pub const MAX_INTERIM: usize = 16;
/// Header fields parsed without a heap allocation; more get a table sized by the head's lines.
const INLINE_FIELDS: usize = 32;

/// How the body after the head is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: the answer to HEAD, a 1xx, 204 or 304, or a `101` (what follows is the new
    /// protocol).
    None,
    Length(u64),
    Chunked,
    /// Until the backend closes: the connection cannot be reused.
    UntilClose,
}

/// Whether the backend lets its connection serve another request after this response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendReuse {
    Keep,
    Close,
}

/// A final response head, borrowing its fields from the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    pub status: u16,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub body: BodyFraming,
    /// The Content-Length, also where it does not delimit a body (HEAD, 304): the client is
    /// told it as the backend said it.
    pub content_length: Option<u64>,
    pub reuse: BackendReuse,
    /// `101 Switching Protocols` to a request that asked for it: a tunnel follows.
    pub switched: bool,
    /// Every field in order: (name, value), the value without surrounding whitespace.
    fields: Vec<(&'a str, &'a [u8])>,
}

impl<'a> ResponseHead<'a> {
    /// Every field in order, as received: (name, value).
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a [u8])> + '_ {
        self.fields.iter().copied()
    }

    /// The first field called `name` (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&'a [u8]> {
        self.fields()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// What the request asked, which changes how the response is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    /// The request was HEAD: the response has no body whatever its fields say.
    pub head: bool,
    /// The request asked for a protocol switch: a `101` is the start of a tunnel.
    pub upgrade: bool,
}

/// The result of looking at the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// The head is not complete yet (and within its limit).
    NeedMore,
    /// An interim response of `len` bytes (1xx other than a `101` that was asked for): drop it
    /// and parse what follows.
    Interim { status: u16, len: usize },
    /// The final head, `len` bytes long; the body (or tunnel) starts right after.
    Final(ResponseHead<'a>, usize),
}

/// Why a response head is refused: each is a 502 for the client and the end of the connection
/// to the backend (`proxy_next_upstream invalid_header` may try another server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Longer than `proxy_buffer_size`.
    TooLarge,
    /// Not an HTTP/1.0 or HTTP/1.1 status line.
    Version,
    /// The status is not three digits from 100 to 599.
    Status,
    /// A field line httparse refuses (bad name, bad value byte, folded line, no colon...).
    Field,
    /// A line ends in LF without CR, or the head starts with an empty line.
    LineEnding,
    LengthAndChunked,
    /// Content-Length is not a number, or two of them differ.
    ContentLength,
    /// A transfer coding other than a lone `chunked`, or any in an HTTP/1.0 response.
    TransferEncoding,
    /// `101` to a request that did not ask to switch, or without an `Upgrade` field.
    UnexpectedSwitch,
    /// More than [`MAX_INTERIM`] interim responses.
    TooManyInterim,
}

impl fmt::Display for HeadError {
    /// As nginx words it in the error log, where it has the case.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeadError::TooLarge => "upstream sent too big header",
            HeadError::Version => "upstream sent no valid HTTP/1.0 header",
            HeadError::Status => "upstream sent an invalid status",
            HeadError::Field => "upstream sent invalid header",
            HeadError::LineEnding => "upstream sent a line not ending in CRLF",
            HeadError::LengthAndChunked => {
                "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"
            }
            HeadError::ContentLength => "upstream sent invalid \"Content-Length\" header",
            HeadError::TransferEncoding => "upstream sent unknown \"Transfer-Encoding\"",
            HeadError::UnexpectedSwitch => "upstream sent an unexpected 101 response",
            HeadError::TooManyInterim => "upstream sent too many 1xx responses",
        })
    }
}

impl std::error::Error for HeadError {}

/// Looks at the bytes received so far (`buf` starts where a head starts). `limit` is
/// `proxy_buffer_size`.
pub fn parse(buf: &[u8], asked: Asked, limit: usize) -> Result<Parsed<'_>, HeadError> {
    if matches!(buf.first(), Some(b'\r' | b'\n')) {
        return Err(HeadError::LineEnding);
    }
    // Only the first `limit` bytes are ever looked at: what lies past them cannot change the
    // answer, so a head arriving in pieces is judged the same however it is cut.
    let window = &buf[..buf.len().min(limit)];
    let mut inline = [httparse::EMPTY_HEADER; INLINE_FIELDS];
    let mut large = Vec::new();
    let mut response = httparse::Response::new(&mut inline);
    let mut result = response.parse(window);
    if matches!(result, Err(httparse::Error::TooManyHeaders)) {
        large.resize(
            memchr::memchr_iter(b'\n', window).count(),
            httparse::EMPTY_HEADER,
        );
        response = httparse::Response::new(&mut large);
        result = response.parse(window);
    }
    let len = match result {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > limit => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(Parsed::NeedMore),
        Err(httparse::Error::Version) => return Err(HeadError::Version),
        Err(httparse::Error::Status) => return Err(HeadError::Status),
        Err(_) => return Err(HeadError::Field),
    };
    if bare_lf(&buf[..len]) {
        return Err(HeadError::LineEnding);
    }
    let status = response.code.unwrap_or(0);
    let minor_version = response.version.unwrap_or(0);
    if !(100..=599).contains(&status) {
        return Err(HeadError::Status);
    }
    if status < 200 && !(status == 101 && asked.upgrade) {
        if status == 101 {
            return Err(HeadError::UnexpectedSwitch);
        }
        return Ok(Parsed::Interim { status, len });
    }

    let mut content_length: Option<u64> = None;
    let mut codings: Vec<&[u8]> = Vec::new();
    let mut close = false;
    let mut keep_alive = false;
    let mut upgrade = false;
    let mut fields = Vec::with_capacity(response.headers.len());
    for h in response.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = content_length_value(h.value).ok_or(HeadError::ContentLength)?;
            if content_length.is_some_and(|previous| previous != n) {
                return Err(HeadError::ContentLength);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            codings.extend(list(h.value));
            if list(h.value).next().is_none() {
                return Err(HeadError::TransferEncoding);
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in list(h.value) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade = !h.value.is_empty();
        }
        fields.push((name, h.value));
    }

    let chunked = match codings.as_slice() {
        [] => false,
        _ if minor_version == 0 => return Err(HeadError::TransferEncoding),
        [only] if only.eq_ignore_ascii_case(b"chunked") => true,
        _ => return Err(HeadError::TransferEncoding),
    };
    if chunked && content_length.is_some() {
        return Err(HeadError::LengthAndChunked);
    }
    let switched = status == 101;
    if switched && !upgrade {
        return Err(HeadError::UnexpectedSwitch);
    }
    let body = if switched || asked.head || status == 204 || status == 304 {
        BodyFraming::None
    } else if chunked {
        BodyFraming::Chunked
    } else if let Some(n) = content_length {
        BodyFraming::Length(n)
    } else {
        BodyFraming::UntilClose
    };
    let reuse = match (body, switched, minor_version) {
        (BodyFraming::UntilClose, _, _) | (_, true, _) => BackendReuse::Close,
        _ if close => BackendReuse::Close,
        (_, _, 0) if !keep_alive => BackendReuse::Close,
        _ => BackendReuse::Keep,
    };
    Ok(Parsed::Final(
        ResponseHead {
            status,
            minor_version,
            fields,
            body,
            content_length: if status == 204 { None } else { content_length },
            reuse,
            switched,
        },
        len,
    ))
}

/// Whether some LF in `head` is not preceded by CR.
fn bare_lf(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|i| i == 0 || head[i - 1] != b'\r')
}

/// `1*DIGIT`, or a list of equal values (RFC 9110 §8.6); at most 18 significant digits.
fn content_length_value(value: &[u8]) -> Option<u64> {
    let mut result: Option<u64> = None;
    for element in value.split(|&b| b == b',') {
        let digits = trim(element);
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let significant = &digits[digits
            .iter()
            .position(|&d| d != b'0')
            .unwrap_or(digits.len())..];
        if significant.len() > 18 {
            return None;
        }
        let n = significant
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if result.is_some_and(|previous| previous != n) {
            return None;
        }
        result = Some(n);
    }
    result
}

fn trim(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |p| p + 1);
    &value[start..end]
}

/// The non-empty elements of a comma-separated field value, trimmed.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

/// What becomes of the backend connection once an exchange ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterExchange {
    /// Back to the group's idle pool.
    Pool,
    Close,
}

/// The one keep-alive decision for a backend connection: pooled only when the group keeps
/// connections (`keepalive N`), the request did not ask to close, the backend allows it, and
/// the response was read exactly: whole (a client that went away mid-body leaves it unread)
/// and nothing after it (bytes beyond its end, `body::Piece::Done` with input left, mean the
/// backend and the proxy disagree on where it ended).
pub fn after_exchange(
    group_keeps: bool,
    request: super::request::Reuse,
    head: &ResponseHead,
    read_exactly: bool,
) -> AfterExchange {
    let all = group_keeps
        && request == super::request::Reuse::Keep
        && head.reuse == BackendReuse::Keep
        && read_exactly;
    if all {
        AfterExchange::Pool
    } else {
        AfterExchange::Close
    }
}

#[cfg(test)]
mod tests;
