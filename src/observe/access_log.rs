//! Access-log lines in the configured formats (`log_format`, `access_log`).
//!
//! A request's [`Entry`] lives in its exchange. Once the request has reached its final location
//! (after the access phase and the handler's internal redirects), the values its logs need from
//! the request (the request phase of `config::vars`) are captured into one buffer, and only when
//! that location has access logs (otherwise the entry is a status and a time, which the metrics
//! use); the response head adds its status and the `$sent_http_*` fields. When the exchange
//! ends, [`Entry::write`] adds the response's figures (bytes, time) and appends one line per log
//! to the worker's buffer of that log's file, which the worker writes once per event-loop batch.

use super::vars::{self, Facts};
use crate::config::{Escape, LogFormat, Piece, SiteLogs, Var};
use crate::http::response::Head;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What the logs and the metrics keep of a request while its response is sent: a status, a
/// time and a null pointer when nothing is logged (the 1 KiB path does not pay for logs it
/// does not write).
#[derive(Debug)]
pub struct Entry {
    pub status: u16,
    /// When the request's head was read (`$request_time` counts from here).
    pub started: Instant,
    /// What the logs need; None: nothing is logged.
    captured: Option<Box<Captured>>,
}

#[derive(Debug)]
struct Captured {
    /// The request location's logs.
    logs: Arc<SiteLogs>,
    /// The values of `logs.request_vars`, one after the other in `values`; None: not found.
    values: Vec<u8>,
    ranges: Vec<Option<(u32, u32)>>,
    /// The values of `logs.sent_fields`, from the response head.
    sent: Vec<Option<String>>,
    request_length: u64,
}

/// What is known when the response has ended.
pub struct End<'a> {
    /// Bytes of the body sent (`$body_bytes_sent`) and of the whole response (`$bytes_sent`).
    pub body_bytes: u64,
    pub bytes_sent: u64,
    pub now: Instant,
    /// The worker's `$time_local` of this second.
    pub time_local: &'a str,
    /// Appends the value of `$upstream_NAME` (the name with its prefix) to the bytes; false:
    /// none (not proxied, or a name the proxy does not give).
    pub upstream: &'a dyn Fn(&str, &mut Vec<u8>) -> bool,
}

impl Entry {
    /// An entry for a request whose head was read at `started`, with no status yet.
    #[inline]
    pub fn new(started: Instant) -> Entry {
        Entry {
            status: 0,
            started,
            captured: None,
        }
    }

    /// The request (or a connection's failure, without a request) is in the location that
    /// writes `logs`: the request's values are captured now.
    pub fn capture(&mut self, logs: &Arc<SiteLogs>, facts: &Facts) {
        if logs.uses.is_empty() {
            self.captured = None;
            return;
        }
        let mut c = Captured {
            logs: Arc::clone(logs),
            values: Vec::new(),
            ranges: Vec::with_capacity(logs.request_vars.len()),
            sent: vec![None; logs.sent_fields.len()],
            request_length: facts.request.map_or(0, request_length),
        };
        for var in &logs.request_vars {
            let start = c.values.len();
            let found = vars::request_value(var, facts, &mut c.values);
            c.values
                .truncate(if found { c.values.len() } else { start });
            c.ranges
                .push(found.then_some((start as u32, c.values.len() as u32)));
        }
        self.captured = Some(Box::new(c));
    }

    /// The response head is known (as sent: after a transform changed it): its status, and
    /// the fields `$sent_http_NAME` names.
    #[inline]
    pub fn response_started(&mut self, head: &Head) {
        self.status = head.status;
        if let Some(c) = &mut self.captured {
            c.response_started(head);
        }
    }
}

impl Captured {
    fn response_started(&mut self, head: &Head) {
        let c = self;
        for (slot, name) in c.sent.iter_mut().zip(&c.logs.sent_fields) {
            *slot = match name.as_str() {
                "content_length" => head.length.map(|n| n.to_string()),
                _ => head
                    .headers
                    .iter()
                    .find(|(field, _)| vars::same_field(field, name))
                    .map(|(_, value)| value.to_string()),
            };
        }
    }
}

impl Entry {
    /// Whether any log wants this request.
    pub fn logs(&self) -> bool {
        self.captured.is_some()
    }

    /// Appends this request's line to the buffer of each of its logs' files (`files` is
    /// indexed as `Config::log_files`) whose condition holds.
    pub fn write(&self, end: &End, formats: &[LogFormat], files: &mut [Vec<u8>]) {
        let Some(c) = &self.captured else { return };
        let logs = &c.logs;
        let mut scratch = Vec::new();
        for using in &logs.uses {
            let (Some(format), Some(out)) = (formats.get(using.format), files.get_mut(using.file))
            else {
                continue;
            };
            if let Some(condition) = &using.condition {
                scratch.clear();
                for piece in condition {
                    match piece {
                        Piece::Text(text) => scratch.extend_from_slice(text.as_bytes()),
                        Piece::Var(var) => {
                            c.value(var, self, end, &mut scratch);
                        }
                    }
                }
                if scratch.is_empty() || scratch == b"0" {
                    continue;
                }
            }
            for piece in &format.pieces {
                match piece {
                    Piece::Text(text) => out.extend_from_slice(text.as_bytes()),
                    Piece::Var(var) => {
                        scratch.clear();
                        let found = c.value(var, self, end, &mut scratch);
                        escape(format.escape, found.then_some(scratch.as_slice()), out);
                    }
                }
            }
            out.push(b'\n');
        }
    }
}

impl Captured {
    /// Appends the value of `var` for `entry` to `out`; false when it has none.
    fn value(&self, var: &Var, entry: &Entry, end: &End, out: &mut Vec<u8>) -> bool {
        let logs = &self.logs;
        if let Some(i) = logs.request_vars.iter().position(|v| v == var) {
            return match self.ranges.get(i).copied().flatten() {
                Some((start, stop)) => {
                    out.extend_from_slice(&self.values[start as usize..stop as usize]);
                    true
                }
                None => false,
            };
        }
        let _ = match var {
            Var::Status => write!(out, "{:03}", entry.status),
            Var::BodyBytesSent => write!(out, "{}", end.body_bytes),
            Var::BytesSent => write!(out, "{}", end.bytes_sent),
            Var::RequestLength => write!(out, "{}", self.request_length),
            Var::RequestTime => {
                let ms = end.now.saturating_duration_since(entry.started).as_millis();
                write!(out, "{}.{:03}", ms / 1000, ms % 1000)
            }
            Var::Msec => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                write!(out, "{}.{:03}", now.as_secs(), now.subsec_millis())
            }
            Var::TimeLocal => write!(out, "{}", end.time_local),
            Var::TimeIso8601 => write!(out, "{}", iso8601(SystemTime::now())),
            Var::SentHttp(name) => {
                let value = logs
                    .sent_fields
                    .iter()
                    .position(|n| n == name)
                    .and_then(|i| self.sent.get(i).cloned().flatten());
                return match value {
                    Some(value) => {
                        out.extend_from_slice(value.as_bytes());
                        true
                    }
                    None => false,
                };
            }
            Var::Upstream(name) => return (end.upstream)(name, out),
            // Request variables not captured.
            _ => return false,
        };
        true
    }
}

/// `$request_length`: the head as it is laid out on the wire (request line, fields, blank
/// line) plus the announced body length.
fn request_length(request: &crate::http::request::Request) -> u64 {
    let line = request.method.as_str().len() + 1 + request.target.len() + 1 + 8 + 2;
    let fields: usize = request
        .headers
        .iter()
        .map(|(name, value)| name.len() + 2 + value.len() + 2)
        .sum();
    let body = match request.framing {
        crate::http::request::Framing::Length(n) => n,
        _ => 0,
    };
    (line + fields + 2) as u64 + body
}

/// Appends `value` (None: not found) escaped for `escape`.
pub fn escape(escape: Escape, value: Option<&[u8]>, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let Some(value) = value else {
        if escape != Escape::Json {
            out.push(b'-');
        }
        return;
    };
    match escape {
        Escape::None => out.extend_from_slice(value),
        Escape::Default => {
            for &b in value {
                if b == b'"' || b == b'\\' || !(0x20..=0x7e).contains(&b) {
                    out.extend_from_slice(&[
                        b'\\',
                        b'x',
                        HEX[usize::from(b >> 4)],
                        HEX[usize::from(b & 15)],
                    ]);
                } else {
                    out.push(b);
                }
            }
        }
        Escape::Json => {
            // Through UTF-8 (invalid bytes become U+FFFD), so that every line is valid JSON.
            for c in String::from_utf8_lossy(value).chars() {
                match c {
                    '"' => out.extend_from_slice(b"\\\""),
                    '\\' => out.extend_from_slice(b"\\\\"),
                    '\n' => out.extend_from_slice(b"\\n"),
                    '\r' => out.extend_from_slice(b"\\r"),
                    '\t' => out.extend_from_slice(b"\\t"),
                    '\u{8}' => out.extend_from_slice(b"\\b"),
                    '\u{c}' => out.extend_from_slice(b"\\f"),
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    }
                    c => {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
        }
    }
}

/// `2000-10-10T13:55:36+00:00` (the server logs in UTC).
fn iso8601(time: SystemTime) -> String {
    let c = crate::log::civil(time);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn escaped(kind: Escape, value: Option<&[u8]>) -> String {
        let mut out = Vec::new();
        escape(kind, value, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_escaped_as_nginx_does() {
        let hostile: &[u8] = b"a\"b\\c\n\x01\x7f\xc3\xa9\xff";
        assert_eq!(
            escaped(Escape::Default, Some(hostile)),
            "a\\x22b\\x5Cc\\x0A\\x01\\x7F\\xC3\\xA9\\xFF"
        );
        assert_eq!(
            escaped(Escape::Json, Some(hostile)),
            "a\\\"b\\\\c\\n\\u0001\\u007fé\u{fffd}"
        );
        assert_eq!(escaped(Escape::None, Some(b"a\"b")), "a\"b");
        assert_eq!(escaped(Escape::Default, None), "-");
        assert_eq!(escaped(Escape::None, None), "-");
        assert_eq!(escaped(Escape::Json, None), "");
    }

    #[test]
    fn every_byte_escaped_for_json_makes_a_valid_json_string() {
        let all: Vec<u8> = (0..=255u8).collect();
        let body = escaped(Escape::Json, Some(&all));
        let text = format!("\"{body}\"");
        // A JSON string: no raw control character, quotes and backslashes only escaped.
        assert!(!text.chars().any(|c| (c as u32) < 0x20));
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            assert_ne!(c, '"', "unescaped quote in {body}");
            if c == '\\' {
                let next = chars.next().unwrap();
                assert!("\"\\/bfnrtu".contains(next), "bad escape \\{next}");
            }
        }
    }

    #[test]
    fn iso8601_times_are_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(971_185_336);
        assert_eq!(iso8601(t), "2000-10-10T13:42:16+00:00");
    }
}
