//! FastCGI as an upstream kind: the request goes out as BEGIN_REQUEST, the PARAMS stream and
//! the STDIN stream (the body wrapped in records as it arrives, an empty record at its end);
//! the answer comes back as STDOUT records, whose content is a CGI response (the header block,
//! parsed by the CGI parser, then the body), STDERR records (to the error log, bounded) and
//! END_REQUEST, which ends the response.
//!
//! [`FastCgiCodec`] is the pure part (bytes in, meaning out); [`request`] writes the records
//! that open a request; the connection and the pump are the shared upstream's.

use crate::cgi::headers;
use crate::cgi::upstream::{HEAD_LIMIT, response_head};
use crate::fastcgi::record::{self, Connection, Decoder, Event, ProtocolStatus};
use crate::http::response::Head;
use crate::log;
use crate::upstream::{Codec, Payload};

/// The request id of the one request a connection carries at a time.
pub const REQUEST_ID: u16 = 1;
/// Most bytes of records (framing and STDERR included) before the header block is complete.
pub const RAW_HEAD_LIMIT: usize = 2 * HEAD_LIMIT;
/// Longest STDERR line logged whole (a longer one is cut).
const STDERR_LINE: usize = 2048;
/// Most STDERR lines logged for one request (the others are counted).
const STDERR_LINES: u32 = 64;

/// A request for a FastCGI application, as the handler decided it: the records that open it
/// (BEGIN_REQUEST and the PARAMS stream, `handler::fastcgi::encode`).
#[derive(Debug)]
pub struct Job {
    pub records: Vec<u8>,
    /// Where the PARAMS stream's closing record starts, while the body's length is still to be
    /// told (a chunked body being spooled).
    pub(crate) length_at: Option<usize>,
}

impl Job {
    /// Tells the application the body's length (a chunked body's, once spooled): a record
    /// with CONTENT_LENGTH goes before the end of the PARAMS stream.
    pub fn set_content_length(&mut self, length: u64) {
        let Some(at) = self.length_at else {
            return;
        };
        self.records.truncate(at);
        let mut writer = record::ParamsWriter::new(&mut self.records, REQUEST_ID);
        writer.pair(b"CONTENT_LENGTH", length.to_string().as_bytes());
        writer.end_stream();
    }
}

/// Sets BEGIN_REQUEST's FCGI_KEEP_CONN flag in `records` (a [`Job`]'s).
pub fn set_connection(records: &mut [u8], connection: Connection) {
    if let Some(flags) = records.get_mut(record::HEADER_LEN + 2) {
        *flags = match connection {
            Connection::Close => 0,
            Connection::KeepOpen => 1,
        };
    }
}

/// One FastCGI request's records both ways.
pub struct FastCgiCodec {
    decoder: Decoder,
    /// Raw bytes of the input already decoded while the head is collected.
    seen: usize,
    /// STDOUT content so far, until the header block is complete.
    head: Vec<u8>,
    stderr: Stderr,
}

impl FastCgiCodec {
    /// `label` names the request in the error log (`FastCGI unix:/run/php.sock /index.php`).
    pub fn new(label: String) -> FastCgiCodec {
        FastCgiCodec {
            decoder: Decoder::new(REQUEST_ID),
            seen: 0,
            head: Vec::new(),
            stderr: Stderr::new(label),
        }
    }
}

/// Why END_REQUEST came with a status other than "complete".
fn refused(protocol: ProtocolStatus) -> String {
    let why = match protocol {
        ProtocolStatus::Complete => "complete",
        ProtocolStatus::CantMultiplex => "cannot multiplex connections",
        ProtocolStatus::Overloaded => "overloaded",
        ProtocolStatus::UnknownRole => "unknown role",
        ProtocolStatus::Other(_) => "unknown protocol status",
    };
    format!("FastCGI application refused the request ({why})")
}

impl Codec for FastCgiCodec {
    fn head_limit(&self) -> usize {
        RAW_HEAD_LIMIT
    }

    fn parse_head(&mut self, input: &[u8]) -> Result<Option<(Head, usize)>, String> {
        loop {
            let rest = &input[self.seen..];
            let (event, used) = self.decoder.decode(rest).map_err(|e| e.to_string())?;
            self.seen += used;
            match event {
                None => break,
                Some(Event::Stdout(data)) => {
                    let before = self.head.len();
                    // The block most often comes whole in the first record: it is parsed
                    // where it lies, and copied only when it goes on in a later record.
                    let parsed = if before == 0 {
                        headers::parse(data, HEAD_LIMIT).map(|p| p.map(|h| (h, data.len())))
                    } else {
                        self.head.extend_from_slice(data);
                        let len = self.head.len();
                        headers::parse(&self.head, HEAD_LIMIT).map(|p| p.map(|h| (h, len)))
                    };
                    match parsed {
                        Ok(Some(((cgi, end), len))) => {
                            // The block ended within this record: what follows it is body,
                            // read again by `decode_body`.
                            let body = len - end;
                            debug_assert!(end > before || before == 0);
                            self.decoder.unread(body);
                            self.head = Vec::new();
                            let mut head = response_head(cgi);
                            head.headers.retain(|(name, _)| !hidden(name));
                            return Ok(Some((head, self.seen - body)));
                        }
                        Ok(None) if before == 0 => self.head.extend_from_slice(data),
                        Ok(None) => {}
                        Err(error) => return Err(format!("FastCGI application sent a {error}")),
                    }
                }
                Some(Event::Stderr(data)) => self.stderr.feed(data),
                Some(Event::StdoutEnd) => {
                    self.stderr.flush();
                    return Err(
                        "FastCGI application ended its output before a complete header block"
                            .into(),
                    );
                }
                Some(Event::End { protocol, .. }) => {
                    self.stderr.flush();
                    return Err(match protocol {
                        ProtocolStatus::Complete => {
                            "FastCGI application ended the request without a header block".into()
                        }
                        other => refused(other),
                    });
                }
                Some(Event::StderrEnd | Event::Values(_)) => {}
            }
        }
        if input.len() > RAW_HEAD_LIMIT {
            self.stderr.flush();
            return Err("FastCGI application sent too much before its header block".into());
        }
        Ok(None)
    }

    fn decode_body<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Payload<'a>), String> {
        let mut at = 0;
        loop {
            let (event, used) = match self.decoder.decode(&input[at..]) {
                Ok(decoded) => decoded,
                Err(error) => {
                    self.stderr.flush();
                    return Err(error.to_string());
                }
            };
            at += used;
            match event {
                None => return Ok((at, Payload::NeedMore)),
                Some(Event::Stdout(data)) => return Ok((at, Payload::Data(data))),
                Some(Event::Stderr(data)) => self.stderr.feed(data),
                Some(Event::End { protocol, .. }) => {
                    self.stderr.flush();
                    if protocol != ProtocolStatus::Complete {
                        return Err(refused(protocol));
                    }
                    // Its padding, as far as it came, is the request's too.
                    if !self.decoder.ended()
                        && let Ok((None, used)) = self.decoder.decode(&input[at..])
                    {
                        at += used;
                    }
                    return Ok((at, Payload::End));
                }
                Some(Event::StdoutEnd | Event::StderrEnd | Event::Values(_)) => {}
            }
        }
    }

    fn end_of_output(&mut self) -> Result<(), String> {
        self.stderr.flush();
        Err("FastCGI application closed the connection before END_REQUEST".into())
    }

    fn encode_body(&mut self, data: &[u8], out: &mut Vec<u8>) {
        record::stdin(out, REQUEST_ID, data);
    }

    fn encode_end(&mut self, out: &mut Vec<u8>) {
        record::stdin(out, REQUEST_ID, b"");
    }

    fn passes_body_through(&self) -> bool {
        false
    }

    fn closes_input_at_end(&self) -> bool {
        false
    }
}

/// Fields of a FastCGI response that nginx acts on or hides (`fastcgi_hide_header`'s
/// defaults) rather than passing them to the client.
fn hidden(name: &str) -> bool {
    name.len() > 8 && name[..8].eq_ignore_ascii_case("x-accel-")
}

/// The application's STDERR as error-log lines, bounded: each line cut at [`STDERR_LINE`]
/// bytes, at most [`STDERR_LINES`] lines per request (the rest counted in one last line),
/// control bytes escaped (a backend's text must not forge log lines).
struct Stderr {
    label: String,
    /// Where lines go: the error log (the tests look at them instead).
    write: fn(&str),
    line: Vec<u8>,
    /// The current line was cut.
    cut: bool,
    logged: u32,
    dropped: u32,
}

impl Stderr {
    fn new(label: String) -> Stderr {
        Stderr {
            label,
            write: log::error,
            line: Vec::new(),
            cut: false,
            logged: 0,
            dropped: 0,
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let (piece, ends) = match memchr::memchr(b'\n', data) {
                Some(i) => (&data[..i], Some(i + 1)),
                None => (data, None),
            };
            let room = STDERR_LINE.saturating_sub(self.line.len());
            if piece.len() > room {
                self.cut = true;
            }
            self.line.extend_from_slice(&piece[..piece.len().min(room)]);
            match ends {
                Some(i) => {
                    self.emit();
                    data = &data[i..];
                }
                None => break,
            }
        }
    }

    fn emit(&mut self) {
        let line = std::mem::take(&mut self.line);
        let cut = std::mem::take(&mut self.cut);
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\r');
        if text.is_empty() {
            return;
        }
        if self.logged >= STDERR_LINES {
            self.dropped += 1;
            return;
        }
        self.logged += 1;
        let mut escaped = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            if c.is_control() {
                escaped.push_str(&format!("\\x{:02x}", u32::from(c)));
            } else {
                escaped.push(c);
            }
        }
        let more = if cut { "..." } else { "" };
        (self.write)(&format!(
            "{}: FastCGI sent in stderr: \"{escaped}{more}\"",
            self.label
        ));
    }

    /// The request is over: the line in progress, and how many were dropped.
    fn flush(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
        if self.dropped > 0 {
            (self.write)(&format!(
                "{}: {} more lines of FastCGI stderr not logged",
                self.label,
                std::mem::take(&mut self.dropped)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fastcgi::record::kind;

    /// A record written by hand.
    fn raw(kind: u8, content: &[u8], padding: u8) -> Vec<u8> {
        let len = (content.len() as u16).to_be_bytes();
        let mut out = vec![1, kind, 0, 1, len[0], len[1], padding, 0];
        out.extend_from_slice(content);
        out.extend(std::iter::repeat_n(0, usize::from(padding)));
        out
    }

    fn end(protocol: u8) -> Vec<u8> {
        raw(kind::END_REQUEST, &[0, 0, 0, 0, protocol, 0, 0, 0], 0)
    }

    /// What the pump would make of `pieces` arriving one after another: the head (or the
    /// head's error), the body, and how it ended (Ok(true): END_REQUEST; Ok(false): more
    /// needed; Err: cut).
    fn pump(pieces: &[&[u8]]) -> (Result<Head, String>, Vec<u8>, Result<bool, String>) {
        let mut codec = FastCgiCodec::new("test".into());
        codec.stderr.write = |_| {};
        let mut buf = Vec::new();
        let mut head = None;
        let mut at = 0;
        let mut body = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            if head.is_none() {
                match codec.parse_head(&buf) {
                    Ok(Some((h, used))) => {
                        assert!(used <= buf.len());
                        head = Some(h);
                        at = used;
                    }
                    Ok(None) => continue,
                    Err(e) => return (Err(e), body, Ok(false)),
                }
            }
            while at < buf.len() {
                match codec.decode_body(&buf[at..]) {
                    Ok((used, Payload::Data(data))) => {
                        assert!(used > 0 && used <= buf.len() - at);
                        body.extend_from_slice(data);
                        at += used;
                    }
                    Ok((used, Payload::NeedMore)) => {
                        at += used;
                        if used == 0 {
                            break;
                        }
                    }
                    Ok((used, Payload::End)) => {
                        at += used;
                        assert_eq!(at, buf.len(), "nothing after the end");
                        return (Ok(head.unwrap()), body, Ok(true));
                    }
                    Err(e) => return (Ok(head.unwrap()), body, Err(e)),
                }
            }
        }
        match head {
            Some(h) => (Ok(h), body, Ok(false)),
            None => (Err("no head".into()), body, Ok(false)),
        }
    }

    /// `input` whole, and cut at every offset: the same outcome.
    fn every_split(input: &[u8]) -> (Result<Head, String>, Vec<u8>, Result<bool, String>) {
        let whole = pump(&[input]);
        for i in 0..=input.len() {
            let (h, b, e) = pump(&[&input[..i], &input[i..]]);
            assert_eq!(
                (h.as_ref().map(|h| h.status), &b, &e),
                (whole.0.as_ref().map(|h| h.status), &whole.1, &whole.2),
                "split at {i}"
            );
        }
        whole
    }

    #[test]
    fn a_response_in_records_of_any_size_is_read_at_any_split() {
        let text = b"Status: 201 Created\r\nContent-Type: text/plain\r\nX-Accel-Redirect: /x\r\n\
                     X-Powered-By: PHP\r\n\r\nhello, world";
        // One record; records of 1, 5 and 7 bytes with and without padding, stderr between.
        let mut inputs = vec![[raw(kind::STDOUT, text, 3), end(0)].concat()];
        for size in [1, 5, 7] {
            let mut input = Vec::new();
            for (i, piece) in text.chunks(size).enumerate() {
                input.extend(raw(kind::STDOUT, piece, (i % 3) as u8));
                if i % 4 == 0 {
                    input.extend(raw(kind::STDERR, b"warn\n", 0));
                }
            }
            input.extend(raw(kind::STDOUT, b"", 0));
            input.extend(end(0));
            inputs.push(input);
        }
        for input in inputs {
            let (head, body, ended) = every_split(&input);
            let head = head.unwrap();
            assert_eq!(
                (head.status, head.reason.as_deref()),
                (201, Some("Created"))
            );
            assert_eq!(head.header("Content-Type"), Some("text/plain"));
            assert_eq!(head.header("X-Powered-By"), Some("PHP"));
            assert_eq!(head.header("X-Accel-Redirect"), None);
            assert_eq!(body, b"hello, world");
            assert_eq!(ended, Ok(true));
        }
    }

    #[test]
    fn requests_are_begin_request_params_and_stdin_records() {
        let mut out = Vec::new();
        record::begin_request(&mut out, REQUEST_ID, Connection::KeepOpen);
        record::params(
            &mut out,
            REQUEST_ID,
            [(&b"SCRIPT_FILENAME"[..], &b"/srv/i.php"[..])],
        );
        let mut codec = FastCgiCodec::new("t".into());
        codec.encode_body(b"a=1", &mut out);
        codec.encode_end(&mut out);
        let kinds: Vec<(u8, usize)> = {
            let mut rest = &out[..];
            let mut kinds = Vec::new();
            while rest.len() >= 8 {
                let len = usize::from(u16::from_be_bytes([rest[4], rest[5]]));
                assert_eq!(u16::from_be_bytes([rest[2], rest[3]]), REQUEST_ID);
                kinds.push((rest[1], len));
                rest = &rest[8 + len + usize::from(rest[6])..];
            }
            assert!(rest.is_empty());
            kinds
        };
        assert_eq!(
            kinds,
            [
                (kind::BEGIN_REQUEST, 8),
                (kind::PARAMS, 2 + 15 + 10),
                (kind::PARAMS, 0),
                (kind::STDIN, 3),
                (kind::STDIN, 0)
            ]
        );
        assert_eq!(out[8 + 2], 1, "FCGI_KEEP_CONN");
        set_connection(&mut out, Connection::Close);
        assert_eq!(out[8 + 2], 0);
        assert!(!codec.passes_body_through() && !codec.closes_input_at_end());
    }

    #[test]
    fn a_response_without_a_head_or_refused_is_an_error_before_the_head() {
        let cases: [(Vec<u8>, &str); 6] = [
            (end(0), "without a header block"),
            (end(2), "refused the request (overloaded)"),
            (
                [
                    raw(kind::STDOUT, b"Content-Type: x\r\n", 0),
                    raw(kind::STDOUT, b"", 0),
                ]
                .concat(),
                "ended its output before a complete header block",
            ),
            (
                raw(kind::STDOUT, b"not a header\r\n\r\n", 0),
                "sent a malformed CGI header block",
            ),
            (
                vec![2, 6, 0, 1, 0, 0, 0, 0],
                "FastCGI record with version 2",
            ),
            (
                vec![1, 6, 0, 2, 0, 1, 0, 0, b'x'],
                "FastCGI record for request 2",
            ),
        ];
        for (input, expected) in cases {
            let (head, _, _) = every_split(&input);
            let error = head.unwrap_err();
            assert!(error.contains(expected), "{error} / {expected}");
        }
    }

    #[test]
    fn too_much_before_the_head_is_refused() {
        let mut input = Vec::new();
        while input.len() <= RAW_HEAD_LIMIT {
            input.extend(raw(kind::STDERR, &[b'x'; 1000], 0));
        }
        let (head, _, _) = pump(&[&input]);
        assert!(
            head.unwrap_err()
                .contains("too much before its header block")
        );
        // STDOUT alone: the CGI parser's own limit.
        let mut input = b"X-Long: ".to_vec();
        input.resize(HEAD_LIMIT + 10, b'a');
        let records: Vec<u8> = input
            .chunks(4000)
            .flat_map(|c| raw(kind::STDOUT, c, 0))
            .collect();
        let (head, _, _) = pump(&[&records]);
        assert!(head.unwrap_err().contains("too large"));
    }

    #[test]
    fn a_body_cut_before_end_request_or_refused_after_the_head_is_cut() {
        let head = raw(kind::STDOUT, b"Content-Type: text/plain\r\n\r\npart", 0);
        let (_, body, ended) = every_split(&head);
        assert_eq!((body.as_slice(), ended), (&b"part"[..], Ok(false)));
        let mut codec = FastCgiCodec::new("t".into());
        assert!(codec.end_of_output().is_err(), "a close before END_REQUEST");
        let input = [head.clone(), end(1)].concat();
        let (_, _, ended) = every_split(&input);
        assert!(ended.unwrap_err().contains("cannot multiplex"));
        // Unknown record types and bytes after the end are errors too.
        let input = [head.clone(), raw(kind::PARAMS, b"", 0)].concat();
        assert!(every_split(&input).2.is_err());
    }

    #[test]
    fn stderr_lines_are_cut_escaped_and_counted() {
        thread_local!(static LINES: std::cell::RefCell<Vec<String>> = Default::default());
        let mut stderr = Stderr::new("t".into());
        stderr.write = |line| LINES.with(|l| l.borrow_mut().push(line.to_string()));
        stderr.feed(b"one\r\ntw");
        assert_eq!(stderr.logged, 1);
        stderr.feed(b"o\x1b[31m\n");
        assert_eq!((stderr.logged, stderr.line.len()), (2, 0));
        stderr.feed(&vec![b'y'; STDERR_LINE * 3]);
        assert_eq!(stderr.line.len(), STDERR_LINE, "a line is bounded");
        assert!(stderr.cut);
        for _ in 0..STDERR_LINES * 2 {
            stderr.feed(b"again\n");
        }
        assert_eq!(stderr.logged, STDERR_LINES);
        assert_eq!(stderr.dropped, STDERR_LINES + 2);
        stderr.flush();
        assert_eq!(stderr.dropped, 0);
        let lines = LINES.with(|l| l.take());
        assert_eq!(lines[0], "t: FastCGI sent in stderr: \"one\"");
        assert_eq!(lines[1], "t: FastCGI sent in stderr: \"two\\x1b[31m\"");
        assert!(lines[2].ends_with("yyy...\""), "{}", lines[2]);
        assert_eq!(lines.len(), STDERR_LINES as usize + 1);
        assert_eq!(
            lines.last().map(String::as_str),
            Some("t: 66 more lines of FastCGI stderr not logged")
        );
    }
}
