//! The proxy as an upstream kind: [`Http1Codec`] is the `upstream::Codec` of an HTTP/1 backend.
//! It parses the backend's head (`response`, interim responses skipped), gives the protocol the
//! fields the client gets (`headers`), decodes the body by its framing (`body`), and frames a
//! streamed request body (as it arrives with a length, or chunked to an HTTP/1.1 backend).

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use crate::config::proxy::model::{ProxySettings, RedirectRule};
use crate::config::proxy::value::{Value, ValuePart};
use crate::http::response::{Head, Value as FieldValue};
use crate::upstream::{Codec, Payload};

use super::body::{BodyError, BodyReader, Piece};
use super::request::{self, Outgoing};
use super::response::{self, Asked, BackendReuse, BodyFraming, MAX_INTERIM, Parsed, ResponseHead};

/// One exchange with an HTTP/1 backend, as its codec sees it.
pub struct Http1Codec {
    asked: Asked,
    /// `proxy_buffer_size`.
    limit: usize,
    /// The location's settings (hidden fields); its `proxy_redirect` rules already expanded
    /// for this request (see [`Http1Codec::new`]).
    settings: ProxySettings,
    /// Bytes of interim responses before the final head, and how many there were.
    skipped: usize,
    interim: usize,
    /// The final head's status and framing, once parsed.
    parsed: Option<(u16, BodyFraming)>,
    reader: BodyReader,
    outgoing: Outgoing,
    /// What the try's owner learns of the head once the codec is in the upstream.
    report: Rc<Cell<Report>>,
    /// The worker's recent field values.
    recent: Rc<RefCell<RecentValues>>,
}

/// What a codec tells about its try, read by the request's tries ([`super::pass`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// The head was refused: the try failed by an invalid header (not a connection error),
    /// which `proxy_next_upstream` tells apart.
    pub refused: bool,
    /// From the final head: whether the backend lets its connection carry another request.
    pub reuse: Option<BackendReuse>,
    /// The final head's status (0 before it).
    pub status: u16,
}

impl Http1Codec {
    /// `settings`: the location's; its `proxy_redirect` rules are expanded with `expand` now
    /// (their variables are the request's), so that the head can be filtered without them.
    /// `report`: the cell the codec reports in (emptied now; see [`Http1Codec::report`]).
    pub fn new(
        asked: Asked,
        settings: &ProxySettings,
        outgoing: Outgoing,
        report: Rc<Cell<Report>>,
        recent: Rc<RefCell<RecentValues>>,
        expand: &dyn Fn(&Value) -> String,
    ) -> Http1Codec {
        let mut settings = settings.clone();
        if settings
            .redirects
            .iter()
            .any(|r| matches!(r, RedirectRule::Replace { from, to } if from.has_variables() || to.has_variables()))
        {
            let rules: Vec<RedirectRule> = settings
                .redirects
                .iter()
                .map(|rule| match rule {
                    RedirectRule::Replace { from, to } => RedirectRule::Replace {
                        from: Value::literal(&expand(from)),
                        to: Value::literal(&expand(to)),
                    },
                    RedirectRule::Default => RedirectRule::Default,
                })
                .collect();
            settings.redirects = rules.into();
        }
        Http1Codec {
            asked,
            limit: settings.buffer_size,
            settings,
            skipped: 0,
            interim: 0,
            parsed: None,
            reader: BodyReader::Done,
            outgoing,
            report: {
                report.set(Report::default());
                report
            },
            recent,
        }
    }

    /// What this codec will tell of its try.
    pub fn report(&self) -> Rc<Cell<Report>> {
        Rc::clone(&self.report)
    }

    /// The final head's status and body framing, once parsed.
    pub fn parsed(&self) -> Option<(u16, BodyFraming)> {
        self.parsed
    }

    /// The backend switched protocols (`101` to a request that asked): a tunnel follows.
    fn switched(&self) -> bool {
        matches!(self.parsed, Some((101, _)))
    }
}

/// The text of a value without variables (the rules are expanded when the codec is made).
fn literal(value: &Value) -> String {
    value
        .parts
        .iter()
        .map(|p| match p {
            ValuePart::Text(t) => t.as_str(),
            ValuePart::Var(_) => "",
        })
        .collect()
}

/// Field names most responses carry, spelled as most backends spell them: passed on without
/// an allocation when the backend's spelling is this one.
const COMMON_FIELDS: [&str; 20] = [
    "Content-Type",
    "Content-Encoding",
    "Content-Language",
    "Content-Disposition",
    "Content-Range",
    "Cache-Control",
    "Set-Cookie",
    "ETag",
    "Last-Modified",
    "Location",
    "Vary",
    "Expires",
    "Accept-Ranges",
    "Age",
    "Link",
    "Access-Control-Allow-Origin",
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Pragma",
];

/// How many of the values backends sent lately a worker keeps to share, and the longest kept.
const RECENT_VALUES: usize = 16;
const MAX_RECENT_VALUE: usize = 128;

/// A worker's field values that backends sent lately (a backend repeats its `Content-Type`,
/// `Cache-Control`... from one response to the next), shared by the requests the worker proxies
/// (`proxy::pass::WorkerState`): at most [`RECENT_VALUES`] of at most [`MAX_RECENT_VALUE`]
/// bytes, replaced in turn when full.
#[derive(Default)]
pub struct RecentValues {
    values: Vec<Arc<str>>,
    next: usize,
}

impl RecentValues {
    /// A backend's field value for the client's head: shared with an earlier response's when
    /// the bytes are the same (no allocation, no UTF-8 check), else copied (invalid UTF-8
    /// replaced) and remembered.
    fn value(&mut self, bytes: &[u8]) -> FieldValue {
        if bytes.len() > MAX_RECENT_VALUE {
            return FieldValue::Owned(String::from_utf8_lossy(bytes).into_owned());
        }
        if let Some(known) = self.values.iter().find(|v| v.as_bytes() == bytes) {
            return FieldValue::Shared(Arc::clone(known));
        }
        let value: Arc<str> = Arc::from(String::from_utf8_lossy(bytes).as_ref());
        if self.values.len() < RECENT_VALUES {
            self.values.push(Arc::clone(&value));
        } else if let Some(slot) = self.values.get_mut(self.next) {
            *slot = Arc::clone(&value);
            self.next = (self.next + 1) % RECENT_VALUES;
        }
        FieldValue::Shared(value)
    }
}

/// The protocol's head for the client from the backend's: its status, the fields the client
/// gets (the server sends its own Date and Server), and the length where it is known.
fn client_head(
    head: &ResponseHead,
    settings: &ProxySettings,
    recent: &RefCell<RecentValues>,
) -> Head {
    let mut headers = Vec::with_capacity(head.fields().len());
    let mut recent = recent.try_borrow_mut().ok();
    super::headers::each_client_field(head, settings, &literal, &mut |name, value| {
        if name.eq_ignore_ascii_case("date") || name.eq_ignore_ascii_case("server") {
            return;
        }
        let value = match value {
            Cow::Borrowed(bytes) => match &mut recent {
                Some(recent) => recent.value(bytes),
                None => FieldValue::Owned(String::from_utf8_lossy(bytes).into_owned()),
            },
            Cow::Owned(bytes) => FieldValue::Owned(String::from_utf8_lossy(&bytes).into_owned()),
        };
        let name = match COMMON_FIELDS.iter().find(|common| **common == name) {
            Some(common) => Cow::Borrowed(*common),
            None => Cow::Owned(name.to_string()),
        };
        headers.push((name, value));
    });
    let length = match head.body {
        _ if head.switched => None,
        BodyFraming::Length(n) => Some(n),
        // The answer to HEAD carries the length a GET would have had.
        BodyFraming::None => head.content_length.filter(|_| head.status != 304),
        BodyFraming::Chunked | BodyFraming::UntilClose => None,
    };
    Head {
        status: head.status,
        reason: None,
        headers,
        length,
        close: false,
    }
}

impl Codec for Http1Codec {
    fn head_limit(&self) -> usize {
        // Interim responses count against the head's buffer too, each within the limit.
        self.limit.saturating_mul(MAX_INTERIM + 1)
    }

    fn parse_head(&mut self, input: &[u8]) -> Result<Option<(Head, usize)>, String> {
        let refused = |error: String| {
            let report = self.report.get();
            self.report.set(Report {
                refused: true,
                ..report
            });
            error
        };
        loop {
            let rest = input.get(self.skipped..).unwrap_or(&[]);
            let parsed = response::parse(rest, self.asked, self.limit);
            match parsed.map_err(|e| refused(e.to_string()))? {
                Parsed::NeedMore => return Ok(None),
                Parsed::Interim { len, .. } => {
                    self.interim += 1;
                    if self.interim > MAX_INTERIM {
                        return Err(refused(response::HeadError::TooManyInterim.to_string()));
                    }
                    self.skipped += len;
                }
                Parsed::Final(head, len) => {
                    // After a protocol switch, the backend's bytes are the tunnel's until it
                    // closes.
                    self.reader = match head.switched {
                        true => BodyReader::new(BodyFraming::UntilClose),
                        false => BodyReader::new(head.body),
                    };
                    self.parsed = Some((head.status, head.body));
                    self.report.set(Report {
                        refused: false,
                        reuse: Some(head.reuse),
                        status: head.status,
                    });
                    let client = client_head(&head, &self.settings, &self.recent);
                    return Ok(Some((client, self.skipped + len)));
                }
            }
        }
    }

    fn decode_body<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Payload<'a>), String> {
        match self.reader.read(input) {
            Ok((n, Piece::Data(data))) => Ok((n, Payload::Data(data))),
            Ok((n, Piece::NeedMore)) => Ok((n, Payload::NeedMore)),
            Ok((n, Piece::Done)) => Ok((n, Payload::End)),
            Err(e) => Err(e.to_string()),
        }
    }

    fn body_complete(&self) -> bool {
        self.parsed.is_some() && self.reader.is_done()
    }

    fn end_of_output(&mut self) -> Result<(), String> {
        self.reader
            .end_of_input()
            .map_err(|e: BodyError| e.to_string())
    }

    fn encode_body(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.switched() {
            out.extend_from_slice(data);
            return;
        }
        match self.outgoing {
            Outgoing::Chunked if !data.is_empty() => {
                request::chunk_start(data.len(), out);
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
            Outgoing::Chunked => {}
            Outgoing::Length(_) | Outgoing::None => out.extend_from_slice(data),
        }
    }

    fn encode_end(&mut self, out: &mut Vec<u8>) {
        if self.outgoing == Outgoing::Chunked && !self.switched() {
            out.extend_from_slice(request::LAST_CHUNK);
        }
    }

    fn passes_body_through(&self) -> bool {
        self.outgoing != Outgoing::Chunked || self.switched()
    }

    fn closes_input_at_end(&self) -> bool {
        // The request is framed: the backend connection stays open both ways (for the pool).
        // A tunnel's end on the client's side is passed on as the end of the backend's input.
        self.switched()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::proxy::value::Names;

    const GET: Asked = Asked {
        head: false,
        upgrade: false,
    };

    #[test]
    fn recent_field_values_are_shared_and_bounded() {
        let shared = |v: FieldValue| match v {
            FieldValue::Shared(s) => s,
            other => panic!("{other:?}"),
        };
        let mut recent = RecentValues::default();
        let first = shared(recent.value(b"text/html"));
        let again = shared(recent.value(b"text/html"));
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(&*shared(recent.value(b"a\xffb")), "a\u{fffd}b");
        for i in 0..RECENT_VALUES * 2 {
            assert_eq!(
                &*shared(recent.value(format!("v{i}").as_bytes())),
                format!("v{i}")
            );
        }
        assert_eq!(recent.values.len(), RECENT_VALUES);
        let long = vec![b'x'; MAX_RECENT_VALUE + 1];
        assert!(matches!(recent.value(&long), FieldValue::Owned(s) if s.len() == long.len()));
    }

    fn codec(asked: Asked, settings: &ProxySettings, outgoing: Outgoing) -> Http1Codec {
        Http1Codec::new(
            asked,
            settings,
            outgoing,
            Rc::default(),
            Rc::default(),
            &|v| literal(v).replace("$", ""),
        )
    }

    /// Feeds `input` to the codec as the pump does (the whole buffer to `parse_head`, then
    /// the rest to `decode_body`), cut at `cut`: the head, the body, and whether it ended.
    fn run(c: &mut Http1Codec, input: &[u8], cut: usize) -> (Head, Vec<u8>, bool) {
        let mut buf = input[..cut].to_vec();
        let (head, used) = match c.parse_head(&buf).unwrap() {
            Some(found) => found,
            None => {
                buf = input.to_vec();
                c.parse_head(&buf).unwrap().expect("a head")
            }
        };
        let mut rest = input[used..].to_vec();
        let mut body = Vec::new();
        loop {
            if rest.is_empty() {
                return (head, body, false);
            }
            match c.decode_body(&rest).unwrap() {
                (n, Payload::Data(d)) => {
                    body.extend_from_slice(d);
                    rest.drain(..n);
                }
                (n, Payload::NeedMore) => {
                    rest.drain(..n);
                    if n == 0 {
                        return (head, body, false);
                    }
                }
                (_, Payload::End) => return (head, body, true),
            }
        }
    }

    #[test]
    fn interim_heads_are_skipped_and_the_final_one_filtered_for_the_client() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\n\
                      HTTP/1.1 201 Created\r\nServer: app\r\nDate: x\r\nConnection: close\r\n\
                      X-App: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        for cut in [0, 10, 30, 60, input.len()] {
            let mut c = codec(GET, &ProxySettings::default(), Outgoing::None);
            let (head, body, ended) = run(&mut c, input, cut);
            assert_eq!(head.status, 201);
            assert_eq!(head.length, None);
            let names: Vec<&str> = head.headers.iter().map(|(n, _)| n.as_ref()).collect();
            assert_eq!(names, ["X-App"]);
            assert_eq!((body.as_slice(), ended), (&b"abc"[..], true));
            assert_eq!(c.parsed(), Some((201, BodyFraming::Chunked)));
        }
    }

    #[test]
    fn lengths_go_to_the_protocol_where_they_are_known() {
        let cases: [(Asked, &[u8], Option<u64>); 4] = [
            (
                GET,
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
                Some(3),
            ),
            (
                Asked {
                    head: true,
                    upgrade: false,
                },
                b"HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n",
                Some(300),
            ),
            (
                GET,
                b"HTTP/1.1 304 Not Modified\r\nContent-Length: 300\r\n\r\n",
                None,
            ),
            (GET, b"HTTP/1.0 200 OK\r\n\r\nuntil close", None),
        ];
        for (asked, input, length) in cases {
            let mut c = codec(asked, &ProxySettings::default(), Outgoing::None);
            let (head, _, _) = run(&mut c, input, input.len());
            assert_eq!(head.length, length, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn a_body_cut_short_is_an_error_at_the_end_of_output() {
        let mut c = codec(GET, &ProxySettings::default(), Outgoing::None);
        let (_, body, ended) = run(
            &mut c,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345",
            0,
        );
        assert_eq!((body.as_slice(), ended), (&b"12345"[..], false));
        assert!(
            c.end_of_output()
                .unwrap_err()
                .contains("prematurely closed")
        );
        let mut close = codec(GET, &ProxySettings::default(), Outgoing::None);
        run(&mut close, b"HTTP/1.1 200 OK\r\n\r\nall", 0);
        assert!(close.end_of_output().is_ok());
    }

    #[test]
    fn malformed_heads_and_too_many_interim_responses_are_errors() {
        let mut c = codec(GET, &ProxySettings::default(), Outgoing::None);
        let report = c.report();
        assert!(!report.get().refused);
        let err = c
            .parse_head(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            )
            .unwrap_err();
        assert!(report.get().refused);
        assert!(err.contains("at the same time"), "{err}");
        let many = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_INTERIM + 1);
        let mut c = codec(GET, &ProxySettings::default(), Outgoing::None);
        assert!(c.parse_head(&many).unwrap_err().contains("1xx"));
        let mut c = codec(GET, &ProxySettings::default(), Outgoing::None);
        let mut long = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', 9000));
        assert!(c.parse_head(&long).unwrap_err().contains("too big header"));
    }

    #[test]
    fn redirect_rules_are_expanded_once_for_the_request() {
        let names: [String; 0] = [];
        let settings = ProxySettings {
            redirects: vec![RedirectRule::Replace {
                from: Value::parse("http://$proxy_host/", Names::maps(&names)).unwrap(),
                to: Value::literal("/"),
            }]
            .into(),
            ..ProxySettings::default()
        };
        let mut c = Http1Codec::new(
            GET,
            &settings,
            Outgoing::None,
            Rc::default(),
            Rc::default(),
            &|v| {
                if v.has_variables() {
                    "http://b:8080/".to_string()
                } else {
                    literal(v)
                }
            },
        );
        let (head, _, _) = run(
            &mut c,
            b"HTTP/1.1 302 Found\r\nLocation: http://b:8080/login\r\nContent-Length: 0\r\n\r\n",
            0,
        );
        assert_eq!(head.header("Location"), Some("/login"));
    }

    #[test]
    fn a_protocol_switch_makes_a_tunnel_until_the_backend_closes() {
        let asked = Asked {
            head: false,
            upgrade: true,
        };
        let input = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                      Connection: Upgrade\r\nSec-WebSocket-Accept: k\r\n\r\n\x81\x02hi";
        for cut in 0..input.len() {
            let mut c = codec(asked, &ProxySettings::default(), Outgoing::None);
            assert!(!c.closes_input_at_end(), "framed until the switch");
            let (head, body, ended) = run(&mut c, input, cut);
            assert_eq!((head.status, head.length), (101, None));
            assert_eq!(head.header("Upgrade"), Some("websocket"));
            assert_eq!(
                head.header("Connection"),
                None,
                "the protocol writes its own"
            );
            assert_eq!((body.as_slice(), ended), (&b"\x81\x02hi"[..], false));
            assert!(!c.body_complete());
            assert!(
                c.end_of_output().is_ok(),
                "the backend's close ends the tunnel"
            );
            assert!(c.passes_body_through() && c.closes_input_at_end());
            let mut out = Vec::new();
            c.encode_body(b"\x81\x00", &mut out);
            c.encode_end(&mut out);
            assert_eq!(out, b"\x81\x00");
        }
        // Not asked for: refused.
        let mut c = codec(GET, &ProxySettings::default(), Outgoing::None);
        assert!(c.parse_head(input).unwrap_err().contains("101"));
    }

    #[test]
    fn a_chunked_request_body_is_framed_and_ended() {
        let mut c = codec(GET, &ProxySettings::default(), Outgoing::Chunked);
        assert!(!c.passes_body_through() && !c.closes_input_at_end());
        let mut out = Vec::new();
        c.encode_body(b"hello", &mut out);
        c.encode_body(b"", &mut out);
        c.encode_body(&[7u8; 20], &mut out);
        c.encode_end(&mut out);
        let mut expected = b"5\r\nhello\r\n14\r\n".to_vec();
        expected.extend_from_slice(&[7u8; 20]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(out, expected);
        let mut plain = codec(GET, &ProxySettings::default(), Outgoing::Length(5));
        assert!(plain.passes_body_through());
        let mut out = Vec::new();
        plain.encode_body(b"hello", &mut out);
        plain.encode_end(&mut out);
        assert_eq!(out, b"hello");
    }
}
