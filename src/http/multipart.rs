//! Streaming parser of `multipart/form-data` request bodies (RFC 7578, framing from RFC 2046
//! §5.1.1), and extraction of the boundary from the `Content-Type`.
//!
//! ```text
//! multipart-body := [preamble CRLF] dash-boundary transport-padding CRLF body-part
//!                   *encapsulation close-delimiter transport-padding [CRLF epilogue]
//! encapsulation  := delimiter transport-padding CRLF body-part
//! delimiter      := CRLF dash-boundary
//! dash-boundary  := "--" boundary
//! close-delimiter := delimiter "--"
//! ```
//!
//! [`MultipartParser`] is a pure state machine that hands out part bodies as slices of the
//! caller's input, so an upload of any size goes through a buffer of fixed size. It holds back
//! at most `boundary.len() + 4` bytes (a possible delimiter) and keeps only the current header
//! line, bounded, in its own memory.
//!
//! A delimiter is recognised by its bytes and the one byte after them. When that byte is `-`,
//! CR, SP or HTAB the delimiter is taken as such, and what follows must complete it (a second
//! `-`, or padding then CRLF) or the body is malformed; any other byte means the bytes were
//! part data that only looked like a delimiter (`\r\n--abcX`). Deciding on one byte is what
//! keeps the look-ahead within `boundary.len() + 4`; RFC 2046 forbids a delimiter inside the
//! data anyway, so no conforming body is refused.

use memchr::memmem::Finder;

/// Bytes of one part's header section, CRLFs included.
const MAX_PART_HEADERS: usize = 8 * 1024;
/// Parts in one body: a form has far fewer fields; this stops a body of empty parts.
const MAX_PARTS: usize = 1000;
/// RFC 2046 §5.1.1.
const MAX_BOUNDARY: usize = 70;

/// Extracts the boundary from a `Content-Type` value like `multipart/form-data;
/// boundary="abc"`. Type and parameter names are case-insensitive; the value may be quoted or
/// not. `None` unless the type is `multipart/form-data` with exactly one `boundary` of 1 to 70
/// RFC 2046 `bchars` not ending in a space, and the parameters parse.
pub fn boundary(content_type: &str) -> Option<String> {
    let bytes = content_type.as_bytes();
    let split = memchr::memchr(b';', bytes).unwrap_or(bytes.len());
    let mime = trim_ows(&bytes[..split]);
    if !mime.eq_ignore_ascii_case(b"multipart/form-data") {
        return None;
    }
    let mut found = None;
    for (name, value) in parameters(&bytes[split..]).ok()? {
        if name.eq_ignore_ascii_case(b"boundary") {
            if found.is_some() {
                return None;
            }
            found = Some(value);
        }
    }
    let value = found?;
    let valid = (1..=MAX_BOUNDARY).contains(&value.len())
        && value.last() != Some(&b' ')
        && value.iter().all(|&b| is_bchar(b));
    // bchars are ASCII, so this cannot fail once `valid` holds.
    valid.then(|| String::from_utf8(value).ok()).flatten()
}

/// Why a multipart body is refused (a 400, or 413 for the bounds, as the caller sees fit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultipartError {
    /// The framing or a part's headers do not follow the grammar.
    Malformed,
    /// A part's header section is over 8 KiB.
    HeadersTooLarge,
    /// More than 1000 parts.
    TooManyParts,
}

impl std::fmt::Display for MultipartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MultipartError::Malformed => "malformed multipart body",
            MultipartError::HeadersTooLarge => "multipart part headers too large",
            MultipartError::TooManyParts => "too many multipart parts",
        })
    }
}

impl std::error::Error for MultipartError {}

/// What one call to [`MultipartParser::next`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A part begins; from its `Content-Disposition` (`filename*` preferred to `filename`, and an
    /// empty `filename=""` kept as `Some("")`) and `Content-Type`.
    PartStart {
        name: Option<String>,
        filename: Option<String>,
        content_type: Option<String>,
    },
    /// Body bytes of the current part, borrowed from the input; never empty.
    Data(&'a [u8]),
    /// The current part ended at a delimiter.
    PartEnd,
    /// After the closing delimiter; anything after is epilogue, ignored (and consumed).
    Done,
    /// Nothing more can be said until more bytes arrive.
    NeedMore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter. `at_start` until the first byte is known, because there the
    /// delimiter may come without its leading CRLF.
    Preamble {
        at_start: bool,
    },
    /// Boundary and one `-` seen: the second `-` of the close delimiter must follow.
    CloseDash,
    /// Boundary seen, then transport padding: more padding or CR.
    Padding,
    /// The CR ending a delimiter line was seen.
    DelimiterLf,
    /// In a part's header section.
    Headers,
    /// In a part's body.
    Body,
    Done,
}

/// What a part's headers said, collected line by line.
#[derive(Debug, Clone, Default)]
struct PartHeaders {
    disposition_seen: bool,
    name: Option<String>,
    filename: Option<String>,
    filename_ext: Option<String>,
    content_type: Option<String>,
}

/// Incremental parser of one multipart body.
#[derive(Debug, Clone)]
pub struct MultipartParser {
    /// Finds `CRLF "--" boundary`.
    delimiter: Finder<'static>,
    state: State,
    parts: usize,
    /// The incomplete header line carried over between calls.
    line: Vec<u8>,
    header_bytes: usize,
    headers: PartHeaders,
}

/// How the start of some input relates to the delimiter.
enum Scan {
    /// A delimiter starts the input, confirmed by the byte after it.
    Delimiter(u8),
    /// This many bytes (at least one) cannot be part of a delimiter.
    Data(usize),
    /// The input is a delimiter or a prefix of one, and the next byte decides.
    NeedMore,
}

impl MultipartParser {
    /// A parser for the given boundary (as returned by [`boundary`]).
    pub fn new(boundary: &str) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        MultipartParser {
            delimiter: Finder::new(&delimiter).into_owned(),
            state: State::Preamble { at_start: true },
            parts: 0,
            line: Vec::new(),
            header_bytes: 0,
            headers: PartHeaders::default(),
        }
    }

    /// Returns (consumed, event). The caller drops `consumed` bytes and calls again with the
    /// remaining + new bytes.
    ///
    /// `NeedMore` may consume nothing, when the input is a possible delimiter (at most
    /// `boundary.len() + 4` bytes); the caller keeps those bytes and appends new ones. Body bytes
    /// are emitted as `Data` as soon as they are known not to be part of a delimiter. Truncated
    /// input is the caller's business: it simply never sees `Done`.
    pub fn next<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Event<'a>), MultipartError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Done => return Ok((input.len(), Event::Done)),
                State::Preamble { at_start: true } => {
                    let dash_boundary = &self.delimiter.needle()[2..];
                    let n = rest.len().min(dash_boundary.len());
                    if rest[..n] == dash_boundary[..n] {
                        match rest.get(dash_boundary.len()) {
                            None => return Ok((pos, Event::NeedMore)),
                            Some(&b) => {
                                if let Some(state) = after_boundary(b) {
                                    pos += dash_boundary.len() + 1;
                                    self.state = state;
                                    continue;
                                }
                            }
                        }
                    }
                    self.state = State::Preamble { at_start: false };
                }
                State::Preamble { at_start: false } => match self.scan(rest) {
                    Scan::Delimiter(b) => {
                        pos += self.delimiter.needle().len() + 1;
                        self.state = after_boundary(b).unwrap_or(State::Padding);
                    }
                    // The preamble is discarded.
                    Scan::Data(n) => pos += n,
                    Scan::NeedMore => return Ok((pos, Event::NeedMore)),
                },
                State::CloseDash => match rest.first() {
                    None => return Ok((pos, Event::NeedMore)),
                    Some(b'-') => {
                        self.state = State::Done;
                        return Ok((input.len(), Event::Done));
                    }
                    Some(_) => return Err(MultipartError::Malformed),
                },
                State::Padding => match rest.first() {
                    None => return Ok((pos, Event::NeedMore)),
                    Some(b' ' | b'\t') => pos += 1,
                    Some(b'\r') => {
                        pos += 1;
                        self.state = State::DelimiterLf;
                    }
                    Some(_) => return Err(MultipartError::Malformed),
                },
                State::DelimiterLf => match rest.first() {
                    None => return Ok((pos, Event::NeedMore)),
                    Some(b'\n') => {
                        pos += 1;
                        self.parts += 1;
                        if self.parts > MAX_PARTS {
                            return Err(MultipartError::TooManyParts);
                        }
                        self.header_bytes = 0;
                        self.headers = PartHeaders::default();
                        self.state = State::Headers;
                    }
                    Some(_) => return Err(MultipartError::Malformed),
                },
                State::Headers => {
                    if rest.is_empty() {
                        return Ok((pos, Event::NeedMore));
                    }
                    let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |lf| lf + 1);
                    self.header_bytes += end;
                    if self.header_bytes > MAX_PART_HEADERS {
                        return Err(MultipartError::HeadersTooLarge);
                    }
                    self.line.extend_from_slice(&rest[..end]);
                    pos += end;
                    if self.line.last() != Some(&b'\n') {
                        return Ok((pos, Event::NeedMore));
                    }
                    let line = std::mem::take(&mut self.line);
                    let Some(content) = line.strip_suffix(b"\r\n") else {
                        return Err(MultipartError::Malformed);
                    };
                    if content.is_empty() {
                        self.state = State::Body;
                        let headers = std::mem::take(&mut self.headers);
                        return Ok((
                            pos,
                            Event::PartStart {
                                name: headers.name,
                                filename: headers.filename_ext.or(headers.filename),
                                content_type: headers.content_type,
                            },
                        ));
                    }
                    self.header_line(content)?;
                    // Reuse the allocation for the next line.
                    self.line = line;
                    self.line.clear();
                }
                State::Body => {
                    return match self.scan(rest) {
                        Scan::Delimiter(b) => {
                            pos += self.delimiter.needle().len() + 1;
                            self.state = after_boundary(b).unwrap_or(State::Padding);
                            Ok((pos, Event::PartEnd))
                        }
                        Scan::Data(n) => Ok((pos + n, Event::Data(&rest[..n]))),
                        Scan::NeedMore => Ok((pos, Event::NeedMore)),
                    };
                }
            }
        }
    }

    /// Classifies the start of `input`, in a body or the preamble.
    fn scan(&self, input: &[u8]) -> Scan {
        let len = self.delimiter.needle().len();
        let mut from = 0;
        loop {
            let Some(found) = self.delimiter.find(&input[from..]) else {
                // Keep back the longest tail that could still grow into a delimiter.
                let tail = input.len().saturating_sub(len - 1).max(from);
                let keep = (tail..input.len())
                    .find(|&i| self.delimiter.needle().starts_with(&input[i..]))
                    .unwrap_or(input.len());
                return if keep == 0 {
                    Scan::NeedMore
                } else {
                    Scan::Data(keep)
                };
            };
            let at = from + found;
            match input.get(at + len) {
                Some(&b) if after_boundary(b).is_some() => {
                    return if at == 0 {
                        Scan::Delimiter(b)
                    } else {
                        Scan::Data(at)
                    };
                }
                // Looked like a delimiter but is data; a real one may still start further on.
                Some(_) => from = at + 1,
                None => {
                    return if at == 0 {
                        Scan::NeedMore
                    } else {
                        Scan::Data(at)
                    };
                }
            }
        }
    }

    /// One complete header line of a part, without its CRLF.
    fn header_line(&mut self, line: &[u8]) -> Result<(), MultipartError> {
        let colon = memchr::memchr(b':', line).ok_or(MultipartError::Malformed)?;
        let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&b| crate::http::is_tchar(b)) {
            return Err(MultipartError::Malformed);
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(MultipartError::Malformed);
        }
        if name.eq_ignore_ascii_case(b"content-disposition") {
            if self.headers.disposition_seen {
                return Err(MultipartError::Malformed);
            }
            self.headers.disposition_seen = true;
            self.content_disposition(value)?;
        } else if name.eq_ignore_ascii_case(b"content-type") {
            if self.headers.content_type.is_some() {
                return Err(MultipartError::Malformed);
            }
            self.headers.content_type = Some(String::from_utf8_lossy(value).into_owned());
        }
        // Other fields (Content-Transfer-Encoding, which RFC 7578 deprecates, included) are
        // ignored.
        Ok(())
    }

    /// `form-data; name="field"; filename="a.txt"; filename*=UTF-8''a.txt` (RFC 7578 §4.2,
    /// RFC 6266). Any disposition type is accepted; only these three parameters are used, each
    /// at most once. Names are decoded lossily: a browser sends them as raw UTF-8.
    fn content_disposition(&mut self, value: &[u8]) -> Result<(), MultipartError> {
        let kind = value
            .iter()
            .position(|&b| !crate::http::is_tchar(b))
            .unwrap_or(value.len());
        if kind == 0 {
            return Err(MultipartError::Malformed);
        }
        let params = parameters(&value[kind..]).map_err(|()| MultipartError::Malformed)?;
        let (mut name, mut filename, mut filename_ext) = (false, false, false);
        for (key, raw) in params {
            let seen = if key.eq_ignore_ascii_case(b"name") {
                self.headers.name = Some(String::from_utf8_lossy(&raw).into_owned());
                &mut name
            } else if key.eq_ignore_ascii_case(b"filename") {
                self.headers.filename = Some(String::from_utf8_lossy(&raw).into_owned());
                &mut filename
            } else if key.eq_ignore_ascii_case(b"filename*") {
                // An undecodable extended value is ignored, leaving `filename` to stand.
                self.headers.filename_ext = ext_value(&raw);
                &mut filename_ext
            } else {
                continue;
            };
            if std::mem::replace(seen, true) {
                return Err(MultipartError::Malformed);
            }
        }
        Ok(())
    }
}

/// The state after `"--" boundary` and the byte `b` after it, if `b` confirms a delimiter.
fn after_boundary(b: u8) -> Option<State> {
    match b {
        b'-' => Some(State::CloseDash),
        b'\r' => Some(State::DelimiterLf),
        b' ' | b'\t' => Some(State::Padding),
        _ => None,
    }
}

/// A parameter name and its unquoted value.
type Parameter = (Vec<u8>, Vec<u8>);

/// Parses `*( OWS ";" OWS name BWS "=" BWS value )`, where value is a quoted-string or a run of
/// visible ASCII other than `"` and `;`. A trailing `;` is tolerated. In a quoted-string `\"`
/// and `\\` are escapes; any other backslash is literal, because browsers send Windows paths
/// and file names with unescaped backslashes.
fn parameters(mut input: &[u8]) -> Result<Vec<Parameter>, ()> {
    let mut out = Vec::new();
    loop {
        input = trim_ows_start(input);
        let Some(rest) = input.strip_prefix(b";") else {
            return if input.is_empty() { Ok(out) } else { Err(()) };
        };
        input = trim_ows_start(rest);
        if input.is_empty() {
            return Ok(out);
        }
        let name_len = input
            .iter()
            .position(|&b| !crate::http::is_tchar(b))
            .unwrap_or(input.len());
        if name_len == 0 {
            return Err(());
        }
        let name = input[..name_len].to_vec();
        input = trim_ows_start(&input[name_len..]);
        input = trim_ows_start(input.strip_prefix(b"=").ok_or(())?);
        let mut value = Vec::new();
        if let Some(quoted) = input.strip_prefix(b"\"") {
            let mut i = 0;
            loop {
                match quoted.get(i..) {
                    Some([b'"', ..]) => break,
                    Some([b'\\', c @ (b'"' | b'\\'), ..]) => {
                        value.push(*c);
                        i += 2;
                    }
                    Some([c, ..]) if (*c >= 0x20 && *c != 0x7f) || *c == b'\t' => {
                        value.push(*c);
                        i += 1;
                    }
                    _ => return Err(()),
                }
            }
            input = &quoted[i + 1..];
        } else {
            let len = input
                .iter()
                .position(|&b| !(0x21..0x7f).contains(&b) || b == b'"' || b == b';')
                .unwrap_or(input.len());
            if len == 0 {
                return Err(());
            }
            value.extend_from_slice(&input[..len]);
            input = &input[len..];
        }
        out.push((name, value));
    }
}

/// RFC 8187 `ext-value`: `charset "'" [ language ] "'" value-chars`, percent-decoded. UTF-8 and
/// ISO-8859-1 are understood; anything else, or a bad encoding, gives `None`.
fn ext_value(raw: &[u8]) -> Option<String> {
    let mut fields = raw.splitn(3, |&b| b == b'\'');
    let (charset, _language, encoded) = (fields.next()?, fields.next()?, fields.next()?);
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while let Some(&b) = encoded.get(i) {
        if b == b'%' {
            let hi = encoded
                .get(i + 1)
                .and_then(|&h| char::from(h).to_digit(16))?;
            let lo = encoded
                .get(i + 2)
                .and_then(|&l| char::from(l).to_digit(16))?;
            // Two hex digits fit a byte.
            bytes.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            bytes.push(b);
            i += 1;
        }
    }
    if charset.eq_ignore_ascii_case(b"utf-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case(b"iso-8859-1") {
        Some(bytes.iter().map(|&b| char::from(b)).collect())
    } else {
        None
    }
}

fn trim_ows_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

fn trim_ows(s: &[u8]) -> &[u8] {
    let mut s = trim_ows_start(s);
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 2046 `bchars`.
fn is_bchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'\''
                | b'('
                | b')'
                | b'+'
                | b'_'
                | b','
                | b'-'
                | b'.'
                | b'/'
                | b':'
                | b'='
                | b'?'
                | b' '
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Part {
        name: Option<String>,
        filename: Option<String>,
        content_type: Option<String>,
        data: Vec<u8>,
        ended: bool,
    }

    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        parts: Vec<Part>,
        done: bool,
    }

    /// Plays the caller: appends each piece to a buffer, calls `next` until `NeedMore` or
    /// `Done`, drops what was consumed, and checks the promises of the API on the way: progress,
    /// event order, non-empty data, and never more than `boundary + 4` bytes held back.
    fn feed(boundary: &str, pieces: &[&[u8]]) -> Result<Outcome, MultipartError> {
        let mut parser = MultipartParser::new(boundary);
        let mut buf: Vec<u8> = Vec::new();
        let mut parts: Vec<Part> = Vec::new();
        let mut done = false;
        let open = |parts: &Vec<Part>| parts.last().is_some_and(|p| !p.ended);
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                let (n, event) = parser.next(&buf)?;
                assert!(n <= buf.len());
                match event {
                    Event::NeedMore => {
                        buf.drain(..n);
                        assert!(
                            buf.len() <= boundary.len() + 4,
                            "held back {} bytes",
                            buf.len()
                        );
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
                            data: Vec::new(),
                            ended: false,
                        });
                    }
                    Event::Data(d) => {
                        assert!(!d.is_empty(), "Data is never empty");
                        assert!(open(&parts), "Data outside a part");
                        parts.last_mut().unwrap().data.extend_from_slice(d);
                    }
                    Event::PartEnd => {
                        assert!(open(&parts), "PartEnd outside a part");
                        parts.last_mut().unwrap().ended = true;
                    }
                }
                assert!(
                    n > 0,
                    "an event that is not NeedMore or Done consumes input"
                );
                buf.drain(..n);
            }
        }
        Ok(Outcome { parts, done })
    }

    /// Parses `input` whole, split at every offset, and one byte at a time; all must agree.
    fn parse_all(boundary: &str, input: &[u8]) -> Result<Outcome, MultipartError> {
        let whole = feed(boundary, &[input]);
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(feed(boundary, &[a, b]), whole, "split at {i}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(feed(boundary, &bytes), whole, "one byte at a time");
        whole
    }

    fn complete(boundary: &str, input: &[u8]) -> Vec<Part> {
        let out = parse_all(boundary, input).expect("valid multipart body");
        assert!(out.done, "body is complete");
        assert!(out.parts.iter().all(|p| p.ended));
        out.parts
    }

    fn field(name: &str, data: &[u8]) -> Part {
        Part {
            name: Some(name.to_owned()),
            filename: None,
            content_type: None,
            data: data.to_vec(),
            ended: true,
        }
    }

    fn file(name: &str, filename: &str, content_type: &str, data: &[u8]) -> Part {
        Part {
            filename: Some(filename.to_owned()),
            content_type: Some(content_type.to_owned()),
            ..field(name, data)
        }
    }

    fn disposition(header: &str) -> Result<Part, MultipartError> {
        let body = format!("--b\r\n{header}\r\n\r\nx\r\n--b--");
        let out = parse_all("b", body.as_bytes())?;
        Ok(out.parts.into_iter().next().unwrap())
    }

    #[test]
    fn the_boundary_is_taken_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("multipart/form-data; boundary=\"a b:c?\"").as_deref(),
            Some("a b:c?")
        );
        assert_eq!(
            boundary("Multipart/Form-Data;BOUNDARY=----WebKitFormBoundary7MA4YWxkTrZu0gW")
                .as_deref(),
            Some("----WebKitFormBoundary7MA4YWxkTrZu0gW")
        );
        assert_eq!(
            boundary(" multipart/form-data ; charset=utf-8 ;  boundary = x=y ; ").as_deref(),
            Some("x=y")
        );
    }

    #[test]
    fn no_boundary_without_multipart_form_data_and_a_valid_boundary() {
        for ct in [
            "text/plain; boundary=abc",
            "multipart/mixed; boundary=abc",
            "multipart/form-data",
            "multipart/form-data;",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=\"\"",
            "multipart/form-data; boundary=\"abc \"",
            "multipart/form-data; boundary=\"a\\\"b\"",
            "multipart/form-data; boundary=a@b",
            "multipart/form-data; boundary=\"abc",
            "multipart/form-data; boundary=a; boundary=b",
            "multipart/form-data; boundary",
            "multipart/form-data boundary=abc",
            "multipart/form-data; =abc",
        ] {
            assert_eq!(boundary(ct), None, "{ct}");
        }
        let max = "x".repeat(70);
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={max}")),
            Some(max.clone())
        );
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={max}x")),
            None
        );
    }

    #[test]
    fn two_files_with_binary_bytes_are_parsed() {
        let body = b"--XyZ\r\n\
            Content-Disposition: form-data; name=\"a\"; filename=\"one.bin\"\r\n\
            Content-Type: application/octet-stream\r\n\
            \r\n\
            \x00\xff\r\n\r\n\n\r--\r\n\
            --XyZ\r\n\
            Content-Disposition: form-data; name=\"b\"; filename=\"two.txt\"\r\n\
            Content-Type: text/plain\r\n\
            \r\n\
            hello\r\nworld\
            \r\n--XyZ--\r\n";
        assert_eq!(
            complete("XyZ", body),
            [
                file(
                    "a",
                    "one.bin",
                    "application/octet-stream",
                    // The CRLF before the next boundary belongs to the delimiter.
                    b"\x00\xff\r\n\r\n\n\r--"
                ),
                file("b", "two.txt", "text/plain", b"hello\r\nworld"),
            ]
        );
    }

    #[test]
    fn fields_and_files_mix() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nMy file\r\n\
            --b\r\nContent-Disposition: form-data; name=\"up\"; filename=\"a.txt\"\r\n\
            Content-Type: text/plain\r\n\r\ncontent\r\n--b--";
        assert_eq!(
            complete("b", body),
            [
                field("title", b"My file"),
                file("up", "a.txt", "text/plain", b"content")
            ]
        );
    }

    #[test]
    fn lines_that_look_like_the_boundary_are_data() {
        let data: &[u8] = b"--abc\r\n\
            x--abc\r\n\
            \r\n--abcX\r\n\
            \r\n--ab\r\n\
            \r\n-abc\r\n\
            x--abc--\r\n\
            end";
        let mut body = b"--abc\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".to_vec();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n--abc--\r\n");
        assert_eq!(complete("abc", &body), [field("f", data)]);
    }

    #[test]
    fn a_repeated_boundary_prefix_before_the_delimiter_is_data() {
        let body = b"--aaa\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n\
            \r\n--aa\r\n--a\r\r\n--aaa--";
        assert_eq!(complete("aaa", body), [field("f", b"\r\n--aa\r\n--a\r")]);
    }

    #[test]
    fn an_empty_part_is_parsed() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n\
            --b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n\
            Content-Type: application/octet-stream\r\n\r\n\r\n--b--";
        assert_eq!(
            complete("b", body),
            [
                field("empty", b""),
                file("f", "", "application/octet-stream", b"")
            ]
        );
    }

    #[test]
    fn a_part_without_headers_has_no_name() {
        let body = b"--b\r\n\r\ndata\r\n--b--";
        assert_eq!(
            complete("b", body),
            [Part {
                name: None,
                ..field("", b"data")
            }]
        );
    }

    #[test]
    fn a_part_body_may_start_with_dashes_and_the_boundary() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n--b--\r\n--b--";
        assert_eq!(complete("b", body), [field("f", b"--b--")]);
    }

    #[test]
    fn the_preamble_and_epilogue_are_ignored() {
        let body = b"This is the preamble.\r\n--bb is not it\r\n--bX neither\r\n\
            --b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--b--\r\n\
            This is the epilogue.\r\n--b\r\nContent-Disposition: form-data; name=\"g\"\r\n\r\n";
        assert_eq!(complete("b", body), [field("f", b"v")]);
    }

    #[test]
    fn the_first_delimiter_may_follow_a_crlf() {
        let body = b"\r\n--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--b--";
        assert_eq!(complete("b", body), [field("f", b"v")]);
    }

    #[test]
    fn transport_padding_after_a_boundary_is_allowed() {
        let body = b"--b \t \r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--b\t\r\n\
            Content-Disposition: form-data; name=\"g\"\r\n\r\nw\r\n--b--  \r\n";
        assert_eq!(complete("b", body), [field("f", b"v"), field("g", b"w")]);
    }

    #[test]
    fn a_body_with_no_parts_is_done_at_the_close_delimiter() {
        assert_eq!(complete("b", b"--b--"), []);
        assert_eq!(complete("b", b"preamble\r\n--b--\r\n"), []);
    }

    #[test]
    fn the_epilogue_is_consumed_with_done() {
        let mut parser = MultipartParser::new("b");
        assert_eq!(parser.next(b"--b--\r\nrest"), Ok((11, Event::Done)));
        assert_eq!(parser.next(b"more"), Ok((4, Event::Done)));
    }

    #[test]
    fn a_truncated_body_is_not_done() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\npartial da";
        let out = parse_all("b", body).unwrap();
        assert!(!out.done);
        assert_eq!(out.parts.len(), 1);
        assert!(!out.parts[0].ended);
        // The tail "da" could not be part of a delimiter, so all the data is out already.
        assert_eq!(out.parts[0].data, b"partial da");
        assert!(!parse_all("b", b"").unwrap().done);
        assert!(!parse_all("b", b"no delimiter at all").unwrap().done);
    }

    #[test]
    fn data_is_emitted_as_soon_as_it_cannot_be_a_delimiter() {
        let mut parser = MultipartParser::new("boundary");
        let head = b"--boundary\r\n\r\n";
        assert_eq!(parser.next(head).map(|(n, _)| n), Ok(head.len()));
        assert_eq!(parser.next(b"abc"), Ok((3, Event::Data(b"abc"))));
        assert_eq!(parser.next(b"abc\r\n--bou"), Ok((3, Event::Data(b"abc"))));
        assert_eq!(parser.next(b"\r\n--bou"), Ok((0, Event::NeedMore)));
        assert_eq!(
            parser.next(b"\r\n--bouX"),
            Ok((8, Event::Data(b"\r\n--bouX")))
        );
        assert_eq!(parser.next(b"x\r\r\n--b"), Ok((2, Event::Data(b"x\r"))));
        assert_eq!(parser.next(b"\r\n--boundary"), Ok((0, Event::NeedMore)));
        assert_eq!(
            parser.next(b"\r\n--boundaryX"),
            Ok((13, Event::Data(b"\r\n--boundaryX")))
        );
        assert_eq!(parser.next(b"\r\n--boundary--"), Ok((13, Event::PartEnd)));
        assert_eq!(parser.next(b"-"), Ok((1, Event::Done)));
    }

    #[test]
    fn a_delimiter_that_is_not_completed_is_malformed() {
        for tail in [
            &b"\r\n--b-x"[..],
            b"\r\n--b\rx",
            b"\r\n--b x\r\n",
            b"\r\n--b \r ",
        ] {
            let mut body = b"--b\r\n\r\ndata".to_vec();
            body.extend_from_slice(tail);
            assert_eq!(
                parse_all("b", &body),
                Err(MultipartError::Malformed),
                "{:?}",
                String::from_utf8_lossy(tail)
            );
        }
        assert_eq!(parse_all("b", b"--b-x"), Err(MultipartError::Malformed));
        assert_eq!(
            parse_all("b", b"--b\n"),
            Ok(Outcome {
                parts: vec![],
                done: false
            })
        );
    }

    #[test]
    fn header_lines_must_end_in_crlf() {
        assert_eq!(
            parse_all(
                "b",
                b"--b\r\nContent-Disposition: form-data; name=\"f\"\n\r\nv"
            ),
            Err(MultipartError::Malformed)
        );
        assert_eq!(parse_all("b", b"--b\r\n\n"), Err(MultipartError::Malformed));
    }

    #[test]
    fn bad_header_lines_are_malformed() {
        for header in [
            "no colon",
            "Bad Name: x",
            "Content-Disposition : form-data",
            " folded: x",
            "X: a\u{0}b",
            "Content-Disposition: ; name=x",
            "Content-Disposition: form-data; name",
            "Content-Disposition: form-data; name=",
            "Content-Disposition: form-data; name=\"unterminated",
            "Content-Disposition: form-data; name=\"a\"x",
            "Content-Disposition: form-data name=x",
            "Content-Disposition: form-data; name=a; name=b",
            "Content-Disposition: form-data; filename=a; filename=b",
        ] {
            assert_eq!(
                disposition(header),
                Err(MultipartError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn repeated_part_headers_are_malformed() {
        let body = b"--b\r\nContent-Disposition: form-data; name=a\r\n\
            Content-Disposition: form-data; name=b\r\n\r\nx\r\n--b--";
        assert_eq!(parse_all("b", body), Err(MultipartError::Malformed));
        let body = b"--b\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\nx\r\n--b--";
        assert_eq!(parse_all("b", body), Err(MultipartError::Malformed));
    }

    #[test]
    fn disposition_parameters_are_parsed() {
        let p = disposition("content-disposition: FORM-DATA;NAME=plain;  FileName = \"a b.txt\" ;")
            .unwrap();
        assert_eq!(p.name.as_deref(), Some("plain"));
        assert_eq!(p.filename.as_deref(), Some("a b.txt"));
        let p = disposition("Content-Disposition: form-data; other=\"x;y\"; name=\"n;=\"").unwrap();
        assert_eq!(p.name.as_deref(), Some("n;="));
    }

    #[test]
    fn quoted_strings_unescape_quotes_and_backslashes_only() {
        let p = disposition(r#"Content-Disposition: form-data; name="x"; filename="a\"b\\c.txt""#)
            .unwrap();
        assert_eq!(p.filename.as_deref(), Some(r#"a"b\c.txt"#));
        let p = disposition(r#"Content-Disposition: form-data; name="x"; filename="C:\dir\f.txt""#)
            .unwrap();
        assert_eq!(p.filename.as_deref(), Some(r"C:\dir\f.txt"));
    }

    #[test]
    fn utf8_names_sent_raw_are_kept() {
        let p = disposition("Content-Disposition: form-data; name=\"x\"; filename=\"café €.txt\"")
            .unwrap();
        assert_eq!(p.filename.as_deref(), Some("café €.txt"));
    }

    #[test]
    fn extended_filenames_are_decoded_and_preferred() {
        let p = disposition(
            "Content-Disposition: form-data; name=\"x\"; filename*=UTF-8''%E2%82%AC%20rates.txt; filename=\"EUR rates.txt\"",
        )
        .unwrap();
        assert_eq!(p.filename.as_deref(), Some("€ rates.txt"));
        let p = disposition(
            "Content-Disposition: form-data; name=x; filename=\"a.txt\"; filename*=iso-8859-1'en'%A3%20rates",
        )
        .unwrap();
        assert_eq!(p.filename.as_deref(), Some("£ rates"));
        let p = disposition("Content-Disposition: form-data; filename*=utf-8''plain.txt").unwrap();
        assert_eq!(p.filename.as_deref(), Some("plain.txt"));
    }

    #[test]
    fn an_undecodable_extended_filename_falls_back() {
        for ext in [
            "UTF-8''%FF",
            "UTF-8''%zz",
            "UTF-8''%4",
            "KOI8-R''abc",
            "no-quotes",
            "UTF-8'only-one",
        ] {
            let header =
                format!("Content-Disposition: form-data; filename=\"a.txt\"; filename*={ext}");
            assert_eq!(
                disposition(&header).unwrap().filename.as_deref(),
                Some("a.txt"),
                "{ext}"
            );
        }
    }

    #[test]
    fn other_part_headers_are_ignored() {
        let p = disposition("Content-Transfer-Encoding: binary").unwrap();
        assert_eq!(p.name, None);
        assert_eq!(p.data, b"x");
    }

    #[test]
    fn part_headers_of_8_kib_are_accepted_and_larger_are_not() {
        // "--b\r\n" + headers + body
        let header_line = |len: usize| {
            let mut line = b"X-Pad: ".to_vec();
            line.resize(len - 2, b'p');
            line.extend_from_slice(b"\r\n");
            line
        };
        let mut ok = b"--b\r\n".to_vec();
        ok.extend_from_slice(&header_line(MAX_PART_HEADERS - 2));
        ok.extend_from_slice(b"\r\nv\r\n--b--");
        assert!(feed("b", &[&ok]).unwrap().done);

        let mut big = b"--b\r\n".to_vec();
        big.extend_from_slice(&header_line(MAX_PART_HEADERS - 1));
        big.extend_from_slice(b"\r\nv\r\n--b--");
        assert_eq!(feed("b", &[&big]), Err(MultipartError::HeadersTooLarge));
        let pieces: Vec<&[u8]> = big.chunks(100).collect();
        assert_eq!(feed("b", &pieces), Err(MultipartError::HeadersTooLarge));

        // One endless line is stopped too, without the caller holding anything.
        let mut endless = b"--b\r\nX: ".to_vec();
        endless.resize(MAX_PART_HEADERS * 4, b'x');
        let pieces: Vec<&[u8]> = endless.chunks(1000).collect();
        assert_eq!(feed("b", &pieces), Err(MultipartError::HeadersTooLarge));
    }

    #[test]
    fn more_than_a_thousand_parts_are_refused() {
        let mut body = Vec::new();
        for _ in 0..MAX_PARTS {
            body.extend_from_slice(b"--b\r\n\r\n\r\n");
        }
        let mut ok = body.clone();
        ok.extend_from_slice(b"--b--");
        let out = feed("b", &[&ok]).unwrap();
        assert!(out.done);
        assert_eq!(out.parts.len(), MAX_PARTS);

        body.extend_from_slice(b"--b\r\n\r\n\r\n--b--");
        assert_eq!(feed("b", &[&body]), Err(MultipartError::TooManyParts));
    }

    #[test]
    fn a_large_part_streams_through_with_bounded_memory() {
        let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
        // Pseudo-random bytes salted with near-delimiters, so the hold-back logic is exercised.
        let mut data = Vec::with_capacity(4 << 20);
        let mut x: u32 = 0x1234_5678;
        while data.len() < 4 << 20 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 64 {
                0 => data.extend_from_slice(b"\r\n--"),
                1 => data.extend_from_slice(b"\r\n------WebKitFormBoundary7MA4"),
                2 => data.extend_from_slice(b"\r\n------WebKitFormBoundary7MA4YWxkTrZu0gWX"),
                _ => data.extend_from_slice(&x.to_le_bytes()),
            }
        }
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"big\"; filename=\"big.bin\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

        for piece in [1000, 4096, 65_536, 7] {
            let pieces: Vec<&[u8]> = body.chunks(piece).collect();
            let out = feed(boundary, &pieces).unwrap();
            assert!(out.done);
            assert_eq!(out.parts.len(), 1);
            assert!(
                out.parts[0].data == data,
                "data differs with pieces of {piece}"
            );
        }
    }

    #[test]
    fn every_prefix_of_a_delimiter_is_held_back_and_nothing_more() {
        let boundary = "xyz";
        let delimiter = b"\r\n--xyz";
        for k in 1..=delimiter.len() {
            let mut parser = MultipartParser::new(boundary);
            parser.next(b"--xyz\r\n\r\n").unwrap();
            let mut input = b"data".to_vec();
            input.extend_from_slice(&delimiter[..k]);
            assert_eq!(parser.next(&input), Ok((4, Event::Data(b"data"))));
            assert_eq!(parser.next(&delimiter[..k]), Ok((0, Event::NeedMore)));
        }
    }

    /// Property tests: any bytes, any split, and build-then-parse round trips.
    mod props {
        use super::*;
        use crate::http::testing::cut;
        use proptest::collection::vec;
        use proptest::prelude::*;
        use proptest::sample::Index;

        /// Bytes that mostly look like a form with boundary `b`, to reach every state.
        fn form_like() -> impl Strategy<Value = Vec<u8>> {
            let token = prop_oneof![
                Just(b"\r\n".to_vec()),
                Just(b"--b".to_vec()),
                Just(b"--".to_vec()),
                Just(b"\r\n--b".to_vec()),
                Just(b" \t".to_vec()),
                Just(b"Content-Disposition: form-data; name=\"f\"".to_vec()),
                Just(b"; filename=\"a.txt\"".to_vec()),
                Just(b"; filename*=UTF-8''%C3%A9".to_vec()),
                Just(b"Content-Type: text/plain".to_vec()),
                Just(b":".to_vec()),
                vec(any::<u8>(), 1..8),
            ];
            vec(token, 0..30).prop_map(|t| t.concat())
        }

        #[derive(Debug, Clone)]
        struct FormPart {
            name: String,
            filename: Option<String>,
            content_type: Option<String>,
            data: Vec<u8>,
        }

        fn form_part() -> impl Strategy<Value = FormPart> {
            (
                "[a-z][a-z0-9_]{0,7}",
                proptest::option::of("[A-Za-z0-9][A-Za-z0-9._ -]{0,11}"),
                proptest::option::of(prop::sample::select(vec![
                    "text/plain",
                    "application/octet-stream",
                    "image/png",
                ])),
                vec(any::<u8>(), 0..300),
            )
                .prop_map(|(name, filename, content_type, data)| FormPart {
                    name,
                    filename,
                    content_type: content_type.map(str::to_owned),
                    data,
                })
        }

        fn build(boundary: &str, parts: &[FormPart], preamble: &[u8], epilogue: &[u8]) -> Vec<u8> {
            let mut out = preamble.to_vec();
            if !preamble.is_empty() {
                out.extend_from_slice(b"\r\n");
            }
            for p in parts {
                out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                let mut disposition =
                    format!("Content-Disposition: form-data; name=\"{}\"", p.name);
                if let Some(f) = &p.filename {
                    disposition.push_str(&format!("; filename=\"{f}\""));
                }
                out.extend_from_slice(format!("{disposition}\r\n").as_bytes());
                if let Some(t) = &p.content_type {
                    out.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&p.data);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("--{boundary}--").as_bytes());
            out.extend_from_slice(epilogue);
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_bytes_cut_anywhere_parse_as_the_whole_does(
                input in prop_oneof![vec(any::<u8>(), 0..300), form_like()],
                points in vec(any::<Index>(), 0..6),
            ) {
                let whole = feed("b", &[&input]);
                prop_assert_eq!(feed("b", &cut(&input, &points)), whole);
            }

            #[test]
            fn a_form_built_from_random_parts_parses_back_to_them(
                boundary in "[0-9A-Za-z'()+_,./:=?-]{12,40}[0-9A-Za-z]",
                parts in vec(form_part(), 0..5),
                preamble in vec(any::<u8>(), 0..20),
                epilogue in vec(any::<u8>(), 0..20),
                points in vec(any::<Index>(), 0..8),
            ) {
                let delimiter = format!("\r\n--{boundary}");
                let clashes = |bytes: &[u8]| {
                    memchr::memmem::find(bytes, &delimiter.as_bytes()[2..]).is_some()
                };
                prop_assume!(!parts.iter().any(|p| clashes(&p.data)) && !clashes(&preamble));
                let input = build(&boundary, &parts, &preamble, &epilogue);
                let out = feed(&boundary, &cut(&input, &points)).expect("a valid form parses");
                prop_assert!(out.done);
                prop_assert_eq!(out.parts.len(), parts.len());
                for (got, want) in out.parts.iter().zip(&parts) {
                    prop_assert_eq!(got.name.as_deref(), Some(want.name.as_str()));
                    prop_assert_eq!(&got.filename, &want.filename);
                    prop_assert_eq!(&got.content_type, &want.content_type);
                    prop_assert_eq!(&got.data, &want.data);
                    prop_assert!(got.ended);
                }
            }
        }
    }
}
