//! FastCGI records (the FastCGI 1.0 specification, section 3), both ways, sans I/O.
//!
//! Out (webserv to the application): [`begin_request`], the PARAMS stream ([`params`]), the
//! STDIN stream ([`stdin`], an empty one ends it), [`abort_request`] and [`get_values`]. Each
//! function appends whole records to a buffer; a content longer than a record holds is split.
//!
//! In (the application to webserv): [`Decoder`], a push parser fed whatever bytes arrived. It
//! hands out STDOUT and STDERR content as slices of its input as soon as they arrive (a record
//! is never buffered whole, so memory does not grow with the record), END_REQUEST with its
//! statuses, and GET_VALUES_RESULT pairs. It never reads past a record's bounds: content,
//! padding and the next header are told apart by the lengths of the header alone. A backend is
//! as untrusted as a client: a version other than 1, a record type an application must not send,
//! another request's id, a malformed END_REQUEST, or anything after END_REQUEST is an error.
//!
//! ```text
//!   typedef struct {
//!       unsigned char version;          FCGI_VERSION_1
//!       unsigned char type;
//!       unsigned char requestIdB1, requestIdB0;
//!       unsigned char contentLengthB1, contentLengthB0;
//!       unsigned char paddingLength;
//!       unsigned char reserved;
//!   } FCGI_Header;                      then contentLength bytes, then paddingLength bytes
//! ```

/// FCGI_VERSION_1: the only version there is.
pub const VERSION: u8 = 1;
/// Length of a record header.
pub const HEADER_LEN: usize = 8;
/// Most content one record carries (its length field has 16 bits).
pub const MAX_CONTENT: usize = 0xffff;

/// Record types.
pub mod kind {
    pub const BEGIN_REQUEST: u8 = 1;
    pub const ABORT_REQUEST: u8 = 2;
    pub const END_REQUEST: u8 = 3;
    pub const PARAMS: u8 = 4;
    pub const STDIN: u8 = 5;
    pub const STDOUT: u8 = 6;
    pub const STDERR: u8 = 7;
    pub const DATA: u8 = 8;
    pub const GET_VALUES: u8 = 9;
    pub const GET_VALUES_RESULT: u8 = 10;
    pub const UNKNOWN_TYPE: u8 = 11;
}

/// FCGI_RESPONDER: the role webserv asks for (the application answers the request).
pub const RESPONDER: u16 = 1;
/// FCGI_KEEP_CONN: the application leaves the connection open after the request.
const KEEP_CONN: u8 = 1;

/// Whether the application keeps the connection open after this request (`fastcgi_keep_conn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Close,
    KeepOpen,
}

/// The record header for `kind`, `request_id` and `content_len` (at most [`MAX_CONTENT`]),
/// padded to a multiple of 8 bytes as the specification recommends; returns the padding.
fn header(out: &mut Vec<u8>, kind: u8, request_id: u16, content_len: usize) -> usize {
    let (bytes, padding) = header_bytes(kind, request_id, content_len);
    out.extend_from_slice(&bytes);
    padding
}

fn header_bytes(kind: u8, request_id: u16, content_len: usize) -> ([u8; HEADER_LEN], usize) {
    debug_assert!(content_len <= MAX_CONTENT);
    let padding = (8 - content_len % 8) % 8;
    let id = request_id.to_be_bytes();
    let len = (content_len as u16).to_be_bytes();
    (
        [
            VERSION,
            kind,
            id[0],
            id[1],
            len[0],
            len[1],
            padding as u8,
            0,
        ],
        padding,
    )
}

/// Appends `content` as records of `kind` (several when it is longer than one record holds;
/// none when it is empty: a stream's end is a separate empty record).
fn records(out: &mut Vec<u8>, kind: u8, request_id: u16, content: &[u8]) {
    for piece in content.chunks(MAX_CONTENT) {
        let padding = header(out, kind, request_id, piece.len());
        out.extend_from_slice(piece);
        out.resize(out.len() + padding, 0);
    }
}

/// FCGI_BEGIN_REQUEST for the responder role.
pub fn begin_request(out: &mut Vec<u8>, request_id: u16, connection: Connection) {
    header(out, kind::BEGIN_REQUEST, request_id, 8);
    let role = RESPONDER.to_be_bytes();
    let flags = match connection {
        Connection::Close => 0,
        Connection::KeepOpen => KEEP_CONN,
    };
    out.extend_from_slice(&[role[0], role[1], flags, 0, 0, 0, 0, 0]);
}

/// The PARAMS stream: every pair, then the empty record that ends the stream. A pair is
/// never split across records (applications such as php-fpm accept that, but not all do),
/// except one longer than a record, which must be.
pub fn params<'p>(
    out: &mut Vec<u8>,
    request_id: u16,
    pairs: impl IntoIterator<Item = (&'p [u8], &'p [u8])>,
) {
    let mut writer = ParamsWriter::new(out, request_id);
    for (name, value) in pairs {
        writer.pair(name, value);
    }
    writer.end_stream();
}

/// A PARAMS stream written pair by pair straight into whole records (no copy of a pair), as
/// [`params`] writes it: [`ParamsWriter::close`] ends the record in progress (the next pair
/// opens another), [`ParamsWriter::end_stream`] adds the empty record that ends the stream.
pub struct ParamsWriter<'o> {
    out: &'o mut Vec<u8>,
    request_id: u16,
    /// Where the header of the record in progress is, if one is open.
    open: Option<usize>,
}

impl<'o> ParamsWriter<'o> {
    pub fn new(out: &'o mut Vec<u8>, request_id: u16) -> ParamsWriter<'o> {
        ParamsWriter {
            out,
            request_id,
            open: None,
        }
    }

    /// Appends one name-value pair.
    pub fn pair(&mut self, name: &[u8], value: &[u8]) {
        let len = pair_len(name, value);
        if len > MAX_CONTENT {
            // Longer than a record holds: split (no request head or configuration reaches this).
            self.close();
            let mut pair = Vec::with_capacity(len);
            encode_pair(&mut pair, name, value);
            records(self.out, kind::PARAMS, self.request_id, &pair);
            return;
        }
        if let Some(at) = self.open
            && self.out.len() - at - HEADER_LEN + len > MAX_CONTENT
        {
            self.close();
        }
        if self.open.is_none() {
            self.open = Some(self.out.len());
            self.out.extend_from_slice(&[0; HEADER_LEN]);
        }
        encode_pair(self.out, name, value);
    }

    /// Ends the record in progress (none is written without a pair).
    pub fn close(&mut self) {
        let Some(at) = self.open.take() else {
            return;
        };
        let len = self.out.len() - at - HEADER_LEN;
        let (head, padding) = header_bytes(kind::PARAMS, self.request_id, len);
        self.out[at..at + HEADER_LEN].copy_from_slice(&head);
        self.out.resize(self.out.len() + padding, 0);
    }

    /// Ends the stream: the record in progress, then the empty record.
    pub fn end_stream(mut self) {
        self.close();
        header(self.out, kind::PARAMS, self.request_id, 0);
    }
}

/// The encoded length of a name-value pair.
fn pair_len(name: &[u8], value: &[u8]) -> usize {
    let field = |n: usize| if n < 0x80 { 1 } else { 4 };
    let (n, v) = (name.len().min(0x7fff_ffff), value.len().min(0x7fff_ffff));
    field(n) + field(v) + n + v
}

/// Request body bytes as STDIN records; an empty `data` ends the stream (FCGI_STDIN with no
/// content).
pub fn stdin(out: &mut Vec<u8>, request_id: u16, data: &[u8]) {
    if data.is_empty() {
        header(out, kind::STDIN, request_id, 0);
    } else {
        records(out, kind::STDIN, request_id, data);
    }
}

/// FCGI_ABORT_REQUEST: the client went away.
pub fn abort_request(out: &mut Vec<u8>, request_id: u16) {
    header(out, kind::ABORT_REQUEST, request_id, 0);
}

/// FCGI_GET_VALUES (a management record, request id 0) asking for `names` (such as
/// `FCGI_MPXS_CONNS`).
pub fn get_values(out: &mut Vec<u8>, names: &[&[u8]]) {
    let mut content = Vec::new();
    for name in names {
        encode_pair(&mut content, name, b"");
    }
    records(out, kind::GET_VALUES, 0, &content);
}

/// A name-value pair: each length in 1 byte when below 128, else 4 bytes with the high bit
/// set (lengths are at most 2^31 - 1; longer ones cannot be sent and are cut, which no
/// configuration or request head can reach: heads are limited to 32 KiB).
pub fn encode_pair(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    let name = &name[..name.len().min(0x7fff_ffff)];
    let value = &value[..value.len().min(0x7fff_ffff)];
    for len in [name.len(), value.len()] {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            out.extend_from_slice(&(len as u32 | 0x8000_0000).to_be_bytes());
        }
    }
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// A name-value pair, as received.
pub type Pair = (Vec<u8>, Vec<u8>);

/// The pairs of a PARAMS or GET_VALUES_RESULT content, all of it; Err when a length runs past
/// the end.
pub fn decode_pairs(mut content: &[u8]) -> Result<Vec<Pair>, Error> {
    fn length(content: &mut &[u8]) -> Result<usize, Error> {
        match content.first() {
            None => Err(Error::BadPair),
            Some(&b) if b < 0x80 => {
                *content = &content[1..];
                Ok(usize::from(b))
            }
            Some(_) => {
                let Some(bytes) = content.get(..4) else {
                    return Err(Error::BadPair);
                };
                let n = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) & 0x7fff_ffff;
                *content = &content[4..];
                Ok(n as usize)
            }
        }
    }
    let mut pairs = Vec::new();
    while !content.is_empty() {
        let name_len = length(&mut content)?;
        let value_len = length(&mut content)?;
        let total = name_len.checked_add(value_len).ok_or(Error::BadPair)?;
        if content.len() < total {
            return Err(Error::BadPair);
        }
        let (name, rest) = content.split_at(name_len);
        let (value, rest) = rest.split_at(value_len);
        pairs.push((name.to_vec(), value.to_vec()));
        content = rest;
    }
    Ok(pairs)
}

/// FCGI_END_REQUEST's protocolStatus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolStatus {
    /// FCGI_REQUEST_COMPLETE.
    Complete,
    /// FCGI_CANT_MPX_CONN: the application refuses a second request on one connection.
    CantMultiplex,
    /// FCGI_OVERLOADED: the application is out of resources.
    Overloaded,
    /// FCGI_UNKNOWN_ROLE.
    UnknownRole,
    /// A value the specification does not define.
    Other(u8),
}

impl ProtocolStatus {
    fn from_byte(b: u8) -> ProtocolStatus {
        match b {
            0 => ProtocolStatus::Complete,
            1 => ProtocolStatus::CantMultiplex,
            2 => ProtocolStatus::Overloaded,
            3 => ProtocolStatus::UnknownRole,
            other => ProtocolStatus::Other(other),
        }
    }
}

/// What the application said, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Response bytes (the CGI header block, then the body), a slice of the input.
    Stdout(&'a [u8]),
    /// Error-log bytes, a slice of the input.
    Stderr(&'a [u8]),
    /// The end of the STDOUT (or STDERR) stream: an empty record.
    StdoutEnd,
    StderrEnd,
    /// FCGI_END_REQUEST: the request is over; nothing more may follow for it.
    End {
        app_status: u32,
        protocol: ProtocolStatus,
    },
    /// FCGI_GET_VALUES_RESULT (request id 0).
    Values(Vec<Pair>),
}

/// Why the application's bytes are not FastCGI, or not for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A header's version is not 1.
    BadVersion(u8),
    /// A record type an application does not send (or an unknown one).
    UnexpectedType(u8),
    /// A record for another request than the one in flight.
    WrongRequest(u16),
    /// FCGI_END_REQUEST whose content is not 8 bytes.
    BadEndRequest,
    /// A name-value pair whose lengths run past its content.
    BadPair,
    /// Bytes after FCGI_END_REQUEST (on a connection with one request in flight).
    AfterEnd,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::BadVersion(v) => write!(f, "FastCGI record with version {v}"),
            Error::UnexpectedType(t) => write!(f, "unexpected FastCGI record type {t}"),
            Error::WrongRequest(id) => write!(f, "FastCGI record for request {id}"),
            Error::BadEndRequest => f.write_str("malformed FastCGI END_REQUEST record"),
            Error::BadPair => f.write_str("malformed FastCGI name-value pair"),
            Error::AfterEnd => f.write_str("FastCGI data after END_REQUEST"),
        }
    }
}

impl std::error::Error for Error {}

/// Where the decoder is within the stream of records.
#[derive(Debug)]
enum State {
    /// Collecting a header: `have` bytes of `bytes`.
    Header {
        bytes: [u8; HEADER_LEN],
        have: usize,
    },
    /// Inside a STDOUT or STDERR record: `left` content bytes, then `padding`.
    Stream {
        kind: u8,
        left: usize,
        padding: usize,
    },
    /// Inside a record whose content is gathered whole (END_REQUEST: 8 bytes;
    /// GET_VALUES_RESULT: at most 64 KiB), then `padding`.
    Whole {
        kind: u8,
        content: Vec<u8>,
        want: usize,
        padding: usize,
    },
    /// Skipping `left` padding bytes, then a header (or the end, after END_REQUEST).
    Padding { left: usize, ended: bool },
    /// After END_REQUEST.
    Ended,
}

/// The records of one request (`request_id`) coming back from the application.
#[derive(Debug)]
pub struct Decoder {
    request_id: u16,
    state: State,
}

impl Decoder {
    pub fn new(request_id: u16) -> Decoder {
        Decoder {
            request_id,
            state: State::Header {
                bytes: [0; HEADER_LEN],
                have: 0,
            },
        }
    }

    /// Whether END_REQUEST has been read.
    pub fn ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    /// Gives back the last `n` bytes of the STDOUT content the previous call returned (the
    /// caller took only what came before them: a header block ended there). The next call
    /// returns them again, from the input position just after what it kept. `n` is at most
    /// the length of that content; after any other event it does nothing.
    pub fn unread(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.state = match std::mem::replace(&mut self.state, State::Ended) {
            State::Stream {
                kind,
                left,
                padding,
            } if kind == kind::STDOUT => State::Stream {
                kind,
                left: left + n,
                padding,
            },
            // The content was the end of its record: back inside it.
            State::Padding { left, ended: false } => State::Stream {
                kind: kind::STDOUT,
                left: n,
                padding: left,
            },
            State::Header { have: 0, .. } => State::Stream {
                kind: kind::STDOUT,
                left: n,
                padding: 0,
            },
            other => other,
        };
    }

    /// Reads from `input`: the next event (None: `input` is used up and more bytes are needed)
    /// and how many bytes of `input` were used. Call again with the rest of the input until it
    /// is used up or no event comes.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(Option<Event<'a>>, usize), Error> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match &mut self.state {
                State::Ended => {
                    return if rest.is_empty() {
                        Ok((None, used))
                    } else {
                        Err(Error::AfterEnd)
                    };
                }
                State::Header { bytes, have } => {
                    let take = (HEADER_LEN - *have).min(rest.len());
                    bytes[*have..*have + take].copy_from_slice(&rest[..take]);
                    *have += take;
                    used += take;
                    if *have < HEADER_LEN {
                        return Ok((None, used));
                    }
                    let header = *bytes;
                    if let Some(event) = self.start_record(&header)? {
                        return Ok((Some(event), used));
                    }
                }
                State::Stream {
                    kind: k,
                    left,
                    padding,
                } => {
                    if rest.is_empty() {
                        return Ok((None, used));
                    }
                    let take = (*left).min(rest.len());
                    let data = &rest[..take];
                    *left -= take;
                    used += take;
                    let kind = *k;
                    if *left == 0 {
                        let padding = *padding;
                        self.state = after_padding(padding, fresh_header());
                    }
                    let event = if kind == kind::STDOUT {
                        Event::Stdout(data)
                    } else {
                        Event::Stderr(data)
                    };
                    return Ok((Some(event), used));
                }
                State::Whole {
                    kind: k,
                    content,
                    want,
                    padding,
                } => {
                    let take = (*want - content.len()).min(rest.len());
                    content.extend_from_slice(&rest[..take]);
                    used += take;
                    if content.len() < *want {
                        return Ok((None, used));
                    }
                    let (kind, content, padding) = (*k, std::mem::take(content), *padding);
                    if kind == kind::END_REQUEST {
                        let status = [content[0], content[1], content[2], content[3]];
                        self.state = after_padding(padding, State::Ended);
                        return Ok((
                            Some(Event::End {
                                app_status: u32::from_be_bytes(status),
                                protocol: ProtocolStatus::from_byte(content[4]),
                            }),
                            used,
                        ));
                    }
                    self.state = after_padding(padding, fresh_header());
                    return Ok((Some(Event::Values(decode_pairs(&content)?)), used));
                }
                State::Padding { left, ended } => {
                    let take = (*left).min(rest.len());
                    *left -= take;
                    used += take;
                    if *left > 0 {
                        return Ok((None, used));
                    }
                    self.state = if *ended { State::Ended } else { fresh_header() };
                }
            }
        }
    }

    /// A complete header: checks it and sets the state for its content. An empty STDOUT or
    /// STDERR record is an event of its own (the stream's end).
    fn start_record(&mut self, h: &[u8; HEADER_LEN]) -> Result<Option<Event<'static>>, Error> {
        let (version, kind, id) = (h[0], h[1], u16::from_be_bytes([h[2], h[3]]));
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        let padding = usize::from(h[6]);
        if version != VERSION {
            return Err(Error::BadVersion(version));
        }
        let expected_id = if kind == kind::GET_VALUES_RESULT {
            0
        } else {
            self.request_id
        };
        if !matches!(
            kind,
            kind::STDOUT | kind::STDERR | kind::END_REQUEST | kind::GET_VALUES_RESULT
        ) {
            return Err(Error::UnexpectedType(kind));
        }
        if id != expected_id {
            return Err(Error::WrongRequest(id));
        }
        match kind {
            kind::STDOUT | kind::STDERR if len == 0 => {
                self.state = after_padding(padding, fresh_header());
                Ok(Some(if kind == kind::STDOUT {
                    Event::StdoutEnd
                } else {
                    Event::StderrEnd
                }))
            }
            kind::STDOUT | kind::STDERR => {
                self.state = State::Stream {
                    kind,
                    left: len,
                    padding,
                };
                Ok(None)
            }
            kind::END_REQUEST if len != 8 => Err(Error::BadEndRequest),
            _ => {
                self.state = State::Whole {
                    kind,
                    content: Vec::with_capacity(len.min(1024)),
                    want: len,
                    padding,
                };
                Ok(None)
            }
        }
    }
}

fn fresh_header() -> State {
    State::Header {
        bytes: [0; HEADER_LEN],
        have: 0,
    }
}

/// The state after a record's content: its padding (if any), then `then` (a fresh header or
/// the end).
fn after_padding(padding: usize, then: State) -> State {
    if padding == 0 {
        return then;
    }
    State::Padding {
        left: padding,
        ended: matches!(then, State::Ended),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::cut;
    use proptest::prelude::*;
    use proptest::sample::Index;

    /// A record written by hand (any version, type, id, padding).
    fn raw(version: u8, kind: u8, id: u16, content: &[u8], padding: u8) -> Vec<u8> {
        let id = id.to_be_bytes();
        let len = (content.len() as u16).to_be_bytes();
        let mut out = vec![version, kind, id[0], id[1], len[0], len[1], padding, 0];
        out.extend_from_slice(content);
        out.extend(std::iter::repeat_n(0xAA, usize::from(padding)));
        out
    }

    fn end(id: u16, app_status: u32, protocol: u8) -> Vec<u8> {
        let s = app_status.to_be_bytes();
        raw(
            1,
            kind::END_REQUEST,
            id,
            &[s[0], s[1], s[2], s[3], protocol, 0, 0, 0],
            0,
        )
    }

    /// What the decoder makes of `pieces` fed one after the other: stdout, stderr, the end
    /// event, or the first error.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Outcome {
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        stdout_ends: usize,
        end: Option<(u32, ProtocolStatus)>,
        values: Vec<(Vec<u8>, Vec<u8>)>,
        error: Option<Error>,
    }

    fn run(id: u16, pieces: &[&[u8]]) -> Outcome {
        let mut decoder = Decoder::new(id);
        let mut out = Outcome::default();
        for piece in pieces {
            let mut at = 0;
            loop {
                match decoder.decode(&piece[at..]) {
                    Err(e) => {
                        out.error = Some(e);
                        return out;
                    }
                    Ok((event, used)) => {
                        assert!(at + used <= piece.len());
                        at += used;
                        match event {
                            None => {
                                assert_eq!(at, piece.len(), "None before the input is used up");
                                break;
                            }
                            Some(Event::Stdout(d)) => out.stdout.extend_from_slice(d),
                            Some(Event::Stderr(d)) => out.stderr.extend_from_slice(d),
                            Some(Event::StdoutEnd) => out.stdout_ends += 1,
                            Some(Event::StderrEnd) => {}
                            Some(Event::End {
                                app_status,
                                protocol,
                            }) => out.end = Some((app_status, protocol)),
                            Some(Event::Values(v)) => out.values.extend(v),
                        }
                    }
                }
            }
        }
        out
    }

    /// `input` fed whole, and cut at every offset into two pieces: the same outcome each time.
    fn every_split(id: u16, input: &[u8]) -> Outcome {
        let whole = run(id, &[input]);
        for i in 0..=input.len() {
            assert_eq!(run(id, &[&input[..i], &input[i..]]), whole, "split at {i}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(id, &bytes), whole, "byte by byte");
        whole
    }

    #[test]
    fn stdout_stderr_and_end_request_are_read_at_any_split() {
        let mut input = raw(
            1,
            kind::STDOUT,
            7,
            b"Content-Type: text/plain\r\n\r\nhel",
            5,
        );
        input.extend(raw(1, kind::STDERR, 7, b"warning!", 0));
        input.extend(raw(1, kind::STDOUT, 7, b"lo", 6));
        input.extend(raw(1, kind::STDOUT, 7, b"", 0));
        input.extend(raw(1, kind::STDERR, 7, b"", 3));
        input.extend(end(7, 3, 0));
        let out = every_split(7, &input);
        assert_eq!(out.stdout, b"Content-Type: text/plain\r\n\r\nhello");
        assert_eq!(out.stderr, b"warning!");
        assert_eq!(out.stdout_ends, 1);
        assert_eq!(out.end, Some((3, ProtocolStatus::Complete)));
        assert_eq!(out.error, None);
    }

    #[test]
    fn unread_content_comes_back_from_where_the_caller_stopped() {
        let mut input = raw(1, kind::STDOUT, 1, b"abcdef", 2);
        input.extend(raw(1, kind::STDOUT, 1, b"gh", 0));
        input.extend(end(1, 0, 0));
        // In the middle of a record, at its end before padding, at its end without padding.
        for (first, keep) in [(6, 4), (6, 0), (6, 6)] {
            let mut decoder = Decoder::new(1);
            let (event, used) = decoder.decode(&input).unwrap();
            assert_eq!(event, Some(Event::Stdout(&b"abcdef"[..first])));
            decoder.unread(first - keep);
            let mut at = used - (first - keep);
            let mut stdout = b"abcdef"[..keep].to_vec();
            loop {
                match decoder.decode(&input[at..]).unwrap() {
                    (Some(Event::Stdout(d)), n) => {
                        stdout.extend_from_slice(d);
                        at += n;
                    }
                    (Some(Event::End { .. }), n) => {
                        at += n;
                        break;
                    }
                    (other, n) => {
                        assert!(other.is_some(), "stalled");
                        at += n;
                    }
                }
            }
            assert_eq!(stdout, b"abcdefgh");
            assert_eq!(at, input.len());
        }
        // A record without padding, unread whole: the header state goes back into it.
        let input = raw(1, kind::STDOUT, 1, b"xyz", 0);
        let mut decoder = Decoder::new(1);
        let (_, used) = decoder.decode(&input).unwrap();
        decoder.unread(2);
        assert_eq!(
            decoder.decode(&input[used - 2..]).unwrap(),
            (Some(Event::Stdout(&b"yz"[..])), 2)
        );
    }

    #[test]
    fn the_protocol_statuses_are_told_apart() {
        for (byte, status) in [
            (0, ProtocolStatus::Complete),
            (1, ProtocolStatus::CantMultiplex),
            (2, ProtocolStatus::Overloaded),
            (3, ProtocolStatus::UnknownRole),
            (9, ProtocolStatus::Other(9)),
        ] {
            assert_eq!(every_split(1, &end(1, 0, byte)).end, Some((0, status)));
        }
    }

    #[test]
    fn malformed_records_are_errors_never_read_past() {
        let table: &[(Vec<u8>, Error)] = &[
            (raw(0, kind::STDOUT, 1, b"x", 0), Error::BadVersion(0)),
            (raw(2, kind::STDOUT, 1, b"x", 0), Error::BadVersion(2)),
            (raw(1, 0, 1, b"", 0), Error::UnexpectedType(0)),
            (raw(1, 12, 1, b"", 0), Error::UnexpectedType(12)),
            (raw(1, 255, 1, b"", 0), Error::UnexpectedType(255)),
            (
                raw(1, kind::BEGIN_REQUEST, 1, &[0; 8], 0),
                Error::UnexpectedType(1),
            ),
            (raw(1, kind::PARAMS, 1, b"", 0), Error::UnexpectedType(4)),
            (raw(1, kind::STDIN, 1, b"", 0), Error::UnexpectedType(5)),
            (raw(1, kind::DATA, 1, b"", 0), Error::UnexpectedType(8)),
            (
                raw(1, kind::UNKNOWN_TYPE, 0, &[0; 8], 0),
                Error::UnexpectedType(11),
            ),
            (raw(1, kind::STDOUT, 2, b"x", 0), Error::WrongRequest(2)),
            (raw(1, kind::STDOUT, 0, b"x", 0), Error::WrongRequest(0)),
            (
                raw(1, kind::GET_VALUES_RESULT, 1, b"", 0),
                Error::WrongRequest(1),
            ),
            (
                raw(1, kind::END_REQUEST, 1, &[0; 7], 0),
                Error::BadEndRequest,
            ),
            (
                raw(1, kind::END_REQUEST, 1, &[0; 9], 0),
                Error::BadEndRequest,
            ),
            (
                raw(1, kind::GET_VALUES_RESULT, 0, &[5, 1, b'a'], 0),
                Error::BadPair,
            ),
        ];
        for (input, error) in table {
            assert_eq!(every_split(1, input).error, Some(*error), "{input:?}");
        }
        // Whatever follows END_REQUEST, even a valid record, is refused.
        let mut input = end(1, 0, 0);
        input.extend(raw(1, kind::STDOUT, 1, b"late", 0));
        let out = every_split(1, &input);
        assert_eq!(
            (out.end.is_some(), out.error),
            (true, Some(Error::AfterEnd))
        );
        assert!(out.stdout.is_empty());
    }

    #[test]
    fn a_record_cut_short_waits_for_more_and_yields_only_what_came() {
        let input = raw(1, kind::STDOUT, 1, b"abcdef", 2);
        for i in 0..input.len() {
            let out = run(1, &[&input[..i]]);
            let content = i.saturating_sub(HEADER_LEN).min(6);
            assert_eq!(out.stdout, &b"abcdef"[..content], "cut at {i}");
            assert_eq!(out.error, None);
        }
        // The largest record: 65535 bytes of content and 255 of padding, streamed in pieces.
        let big = vec![b'z'; MAX_CONTENT];
        let mut input = raw(1, kind::STDOUT, 1, &big, 255);
        input.extend(end(1, 0, 0));
        let pieces: Vec<&[u8]> = input.chunks(4096).collect();
        let out = run(1, &pieces);
        assert_eq!(out.stdout.len(), MAX_CONTENT);
        assert!(out.end.is_some());
    }

    #[test]
    fn get_values_result_pairs_are_read() {
        let mut content = Vec::new();
        encode_pair(&mut content, b"FCGI_MPXS_CONNS", b"0");
        encode_pair(&mut content, b"FCGI_MAX_REQS", b"500");
        let out = every_split(1, &raw(1, kind::GET_VALUES_RESULT, 0, &content, 3));
        assert_eq!(
            out.values,
            vec![
                (b"FCGI_MPXS_CONNS".to_vec(), b"0".to_vec()),
                (b"FCGI_MAX_REQS".to_vec(), b"500".to_vec())
            ]
        );
    }

    #[test]
    fn begin_request_asks_for_the_responder_role_with_or_without_keep_conn() {
        let mut out = Vec::new();
        begin_request(&mut out, 0x0102, Connection::KeepOpen);
        assert_eq!(out, [1, 1, 1, 2, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
        out.clear();
        begin_request(&mut out, 1, Connection::Close);
        assert_eq!(out, [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    }

    /// Splits a stream of records written by this module into (type, id, content) without
    /// checking anything but the lengths.
    fn split_records(mut bytes: &[u8]) -> Vec<(u8, u16, Vec<u8>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0], VERSION);
            let len = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
            let padding = usize::from(bytes[6]);
            assert_eq!(
                (HEADER_LEN + len + padding) % 8,
                0,
                "records are padded to 8"
            );
            out.push((
                bytes[1],
                u16::from_be_bytes([bytes[2], bytes[3]]),
                bytes[HEADER_LEN..HEADER_LEN + len].to_vec(),
            ));
            bytes = &bytes[HEADER_LEN + len + padding..];
        }
        out
    }

    #[test]
    fn params_end_with_an_empty_record_and_never_exceed_a_record() {
        let long_value = vec![b'v'; 70_000];
        let pairs: Vec<(&[u8], &[u8])> = vec![
            (b"SCRIPT_FILENAME", b"/srv/www/index.php"),
            (b"EMPTY", b""),
            (b"LONG", &long_value),
            (b"AFTER", b"x"),
        ];
        let mut out = Vec::new();
        params(&mut out, 3, pairs.iter().copied());
        let records = split_records(&out);
        assert!(
            records
                .iter()
                .all(|(k, id, _)| *k == kind::PARAMS && *id == 3)
        );
        assert_eq!(records.last().map(|r| r.2.len()), Some(0));
        assert!(records.iter().all(|r| r.2.len() <= MAX_CONTENT));
        let content: Vec<u8> = records.iter().flat_map(|r| r.2.clone()).collect();
        let decoded = decode_pairs(&content).unwrap();
        let expected: Vec<(Vec<u8>, Vec<u8>)> = pairs
            .iter()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn pair_lengths_use_one_byte_below_128_and_four_above() {
        let mut out = Vec::new();
        encode_pair(&mut out, &[b'n'; 127], &[b'v'; 128]);
        assert_eq!(out[0], 127);
        assert_eq!(&out[1..5], &[0x80, 0, 0, 128]);
        assert_eq!(out.len(), 1 + 4 + 127 + 128);
        assert_eq!(decode_pairs(&out).unwrap()[0].1.len(), 128);
        for bad in [
            &[0x80u8, 0, 0][..],
            &[1, 1, b'a'],
            &[0x80, 0, 0, 2, 0, b'a'],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert_eq!(decode_pairs(bad), Err(Error::BadPair), "{bad:?}");
        }
    }

    #[test]
    fn stdin_is_split_into_records_and_ended_by_an_empty_one() {
        let mut out = Vec::new();
        stdin(&mut out, 9, &vec![7u8; MAX_CONTENT + 10]);
        stdin(&mut out, 9, b"");
        abort_request(&mut out, 9);
        let records = split_records(&out);
        let shape: Vec<(u8, usize)> = records.iter().map(|r| (r.0, r.2.len())).collect();
        assert_eq!(
            shape,
            [
                (kind::STDIN, MAX_CONTENT),
                (kind::STDIN, 10),
                (kind::STDIN, 0),
                (kind::ABORT_REQUEST, 0)
            ]
        );
        out.clear();
        get_values(&mut out, &[b"FCGI_MPXS_CONNS"]);
        let records = split_records(&out);
        assert_eq!((records[0].0, records[0].1), (kind::GET_VALUES, 0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any stream this module could receive, cut anywhere: the same stdout, stderr and end.
        #[test]
        fn any_valid_stream_cut_anywhere_decodes_the_same(
            records in proptest::collection::vec(
                (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300), any::<u8>()),
                0..8,
            ),
            points in proptest::collection::vec(any::<Index>(), 0..6),
        ) {
            let mut input = Vec::new();
            let mut stdout = Vec::new();
            for (is_out, content, padding) in &records {
                let kind = if *is_out { kind::STDOUT } else { kind::STDERR };
                input.extend(raw(1, kind, 42, content, *padding));
                if *is_out {
                    stdout.extend_from_slice(content);
                }
            }
            input.extend(end(42, 0, 0));
            let whole = run(42, &[&input]);
            prop_assert_eq!(&whole.stdout, &stdout);
            prop_assert!(whole.end.is_some());
            prop_assert_eq!(run(42, &cut(&input, &points)), whole);
        }

        /// Arbitrary bytes never panic, and never yield more content than they hold.
        #[test]
        fn arbitrary_bytes_are_decoded_or_refused_without_panic(
            input in proptest::collection::vec(any::<u8>(), 0..600),
            points in proptest::collection::vec(any::<Index>(), 0..4),
        ) {
            let out = run(1, &cut(&input, &points));
            prop_assert!(out.stdout.len() + out.stderr.len() <= input.len());
        }
    }
}
