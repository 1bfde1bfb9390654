//! Request-rate and connection limits (nginx's ngx_http_limit_req_module and
//! ngx_http_limit_conn_module): the zones declared at the top level (`limit_req_zone`,
//! `limit_conn_zone`), what a block applies (`limit_req`, `limit_conn`, their `*_status` and
//! `*_log_level`), and their parsing. The counting is `crate::access::limit`.

use super::directive::{Directive, Word, duplicate, fail, parse_size};
use super::lexer::{Error, Pos};
use super::observe::LogLevel;
use super::vars::{self, Piece};

type Result<T> = std::result::Result<T, Error>;

/// Smallest zone accepted (nginx: eight memory pages).
pub const MIN_ZONE: u64 = 32 * 1024;

/// A `limit_req_zone` or `limit_conn_zone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    /// What requests are counted by: the text with variables, as written.
    pub key: Vec<Piece>,
    /// The key as written (a reload keeps a zone's states only when its key is the same).
    pub key_text: String,
    /// Bytes of states the zone may keep (`zone=NAME:SIZE`).
    pub size: u64,
    pub kind: ZoneKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneKind {
    /// `limit_req_zone ... rate=`: requests per second, times 1000 (`10r/m` is 166).
    Requests {
        rate: u64,
    },
    Connections,
}

/// `limit_req zone=NAME [burst=N] [nodelay | delay=N]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitReq {
    /// Index in `Config::zones`.
    pub zone: usize,
    /// Requests over the rate that may wait (or pass, with `nodelay`); more are refused.
    pub burst: u64,
    /// Excess requests passed without delay: `nodelay` is `u64::MAX`, the default 0.
    pub delay: u64,
}

/// `limit_conn ZONE N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitConn {
    pub zone: usize,
    pub max: u32,
}

/// What a `server` or `location` applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `limit_req` lines of the nearest block that has any.
    pub req: Vec<LimitReq>,
    pub req_status: u16,
    pub req_log_level: LogLevel,
    /// `limit_conn` lines of the nearest block that has any.
    pub conn: Vec<LimitConn>,
    pub conn_status: u16,
    pub conn_log_level: LogLevel,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            req: Vec::new(),
            req_status: 503,
            req_log_level: LogLevel::Error,
            conn: Vec::new(),
            conn_status: 503,
            conn_log_level: LogLevel::Error,
        }
    }
}

impl Limits {
    pub fn is_active(&self) -> bool {
        !self.req.is_empty() || !self.conn.is_empty()
    }
}

/// What one block sets itself; None means inherited.
#[derive(Default)]
pub(super) struct Overrides {
    req: Option<Vec<LimitReq>>,
    req_status: Option<u16>,
    req_log_level: Option<LogLevel>,
    conn: Option<Vec<LimitConn>>,
    conn_status: Option<u16>,
    conn_log_level: Option<LogLevel>,
}

impl Overrides {
    pub(super) fn apply_to(self, limits: &mut Limits) {
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { limits.$field = v; } )* };
        }
        take!(
            req,
            req_status,
            req_log_level,
            conn,
            conn_status,
            conn_log_level
        );
    }
}

/// The block directives of this module.
pub(super) const NAMES: [&str; 6] = [
    "limit_req",
    "limit_req_status",
    "limit_req_log_level",
    "limit_conn",
    "limit_conn_status",
    "limit_conn_log_level",
];

/// The zones declared at the top level of `tree`, in file order (read before the servers, so
/// that a zone may be declared after a block that uses it).
pub(super) fn zones(tree: &[Directive]) -> Result<Vec<Zone>> {
    let mut zones: Vec<Zone> = Vec::new();
    for d in tree {
        let requests = match d.name.text.as_str() {
            "limit_req_zone" => true,
            "limit_conn_zone" => false,
            _ => continue,
        };
        let zone = parse_zone(d, requests)?;
        if zones.iter().any(|z| z.name == zone.name) {
            return fail(
                d.args[1..]
                    .iter()
                    .find(|a| a.text.starts_with("zone="))
                    .map_or(d.name.pos, |a| a.pos),
                format!("duplicate zone \"{}\"", zone.name),
            );
        }
        zones.push(zone);
    }
    Ok(zones)
}

fn parse_zone(d: &Directive, requests: bool) -> Result<Zone> {
    let directive = d.name.text.as_str();
    let Some((key_word, params)) = d.args.split_first() else {
        return fail(
            d.name.pos,
            format!("invalid number of arguments in \"{directive}\" directive"),
        );
    };
    let key = vars::parse(&key_word.text).or_else(|e| {
        fail(
            offset(key_word.pos, e.offset),
            format!("{} in \"{}\"", e.message, key_word.text),
        )
    })?;
    if key
        .iter()
        .any(|p| matches!(p, Piece::Var(v) if !v.of_request()))
    {
        return fail(
            key_word.pos,
            format!(
                "a variable of \"{}\" has no value when the request arrives, it cannot be a key",
                key_word.text
            ),
        );
    }
    let mut zone: Option<(String, u64)> = None;
    let mut rate: Option<u64> = None;
    for w in params {
        if let Some(value) = w.text.strip_prefix("zone=") {
            let Some((name, size)) = value.split_once(':').filter(|(n, _)| !n.is_empty()) else {
                return fail(w.pos, format!("invalid zone size \"{}\"", w.text));
            };
            let size = parse_size(&Word {
                text: size.to_string(),
                pos: w.pos,
            })
            .or_else(|_| fail(w.pos, format!("invalid zone size \"{}\"", w.text)))?;
            if size < MIN_ZONE {
                return fail(
                    w.pos,
                    format!("zone \"{name}\" is too small (at least 32k)"),
                );
            }
            zone = Some((name.to_string(), size));
        } else if let (true, Some(value)) = (requests, w.text.strip_prefix("rate=")) {
            rate = Some(
                parse_rate(value)
                    .ok_or_else(|| Error::new(w.pos, format!("invalid rate \"{}\"", w.text)))?,
            );
        } else {
            return fail(w.pos, format!("invalid parameter \"{}\"", w.text));
        }
    }
    let Some((name, size)) = zone else {
        return fail(
            d.name.pos,
            format!("\"{directive}\" must have \"zone\" parameter"),
        );
    };
    let kind = if requests {
        let Some(rate) = rate else {
            return fail(
                d.name.pos,
                format!("\"{directive}\" must have \"rate\" parameter"),
            );
        };
        ZoneKind::Requests { rate }
    } else {
        ZoneKind::Connections
    };
    Ok(Zone {
        name,
        key,
        key_text: key_word.text.clone(),
        size,
        kind,
    })
}

/// `Nr/s` or `Nr/m`, in requests per second times 1000 (nginx's unit).
fn parse_rate(text: &str) -> Option<u64> {
    let (number, per_minute) = if let Some(n) = text.strip_suffix("r/s") {
        (n, false)
    } else {
        (text.strip_suffix("r/m")?, true)
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = number.parse().ok().filter(|n| *n > 0 && *n <= 1_000_000)?;
    Some(if per_minute { n * 1000 / 60 } else { n * 1000 }.max(1))
}

/// One block directive of this module.
pub(super) fn setting(o: &mut Overrides, d: &Directive, zones: &[Zone]) -> Result<()> {
    match d.name.text.as_str() {
        "limit_req" => {
            let limit = parse_limit_req(d, zones)?;
            let list = o.req.get_or_insert_with(Vec::new);
            if list.iter().any(|l| l.zone == limit.zone) {
                return fail(d.args[0].pos, "duplicate limit_req zone");
            }
            list.push(limit);
        }
        "limit_conn" => {
            let (name, number) = (&d.args[0], d.args.get(1));
            let zone = find_zone(name, &name.text, zones, false)?;
            let Some(number) = number else {
                return fail(
                    d.name.pos,
                    "invalid number of arguments in \"limit_conn\" directive",
                );
            };
            let max = match number.text.parse::<u32>() {
                Ok(n)
                    if (1..=65_535).contains(&n)
                        && number.text.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    n
                }
                Ok(0) => return fail(number.pos, "zero number of connections"),
                _ => {
                    return fail(
                        number.pos,
                        format!("invalid number of connections \"{}\"", number.text),
                    );
                }
            };
            let list = o.conn.get_or_insert_with(Vec::new);
            if list.iter().any(|l| l.zone == zone) {
                return fail(
                    name.pos,
                    format!("same zone \"{}\" is used twice", name.text),
                );
            }
            list.push(LimitConn { zone, max });
        }
        "limit_req_status" | "limit_conn_status" => {
            let slot = if d.name.text == "limit_req_status" {
                &mut o.req_status
            } else {
                &mut o.conn_status
            };
            if slot.is_some() {
                return duplicate(d);
            }
            let w = &d.args[0];
            *slot = Some(match w.text.parse::<u16>() {
                Ok(n) if (400..=599).contains(&n) => n,
                _ => return fail(w.pos, "value must be between 400 and 599"),
            });
        }
        _ => {
            let slot = if d.name.text == "limit_req_log_level" {
                &mut o.req_log_level
            } else {
                &mut o.conn_log_level
            };
            if slot.is_some() {
                return duplicate(d);
            }
            let w = &d.args[0];
            *slot = Some(match LogLevel::from_name(&w.text) {
                Some(level) if level != LogLevel::Debug => level,
                _ => {
                    return fail(
                        w.pos,
                        format!(
                            "invalid value \"{}\", it must be \"info\", \"notice\", \"warn\" or \
                             \"error\"",
                            w.text
                        ),
                    );
                }
            });
        }
    }
    Ok(())
}

fn parse_limit_req(d: &Directive, zones: &[Zone]) -> Result<LimitReq> {
    let mut zone = None;
    let mut burst = 0;
    let mut delay = None;
    for w in &d.args {
        let number = |value: &str, what: &str| match value.parse::<u64>() {
            Ok(n) if n <= 1_000_000 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => fail(w.pos, format!("invalid {what} value \"{}\"", w.text)),
        };
        if let Some(name) = w.text.strip_prefix("zone=") {
            zone = Some(find_zone(w, name, zones, true)?);
        } else if let Some(value) = w.text.strip_prefix("burst=") {
            burst = number(value, "burst")?;
        } else if let Some(value) = w.text.strip_prefix("delay=") {
            delay = Some(number(value, "delay")?);
        } else if w.text == "nodelay" {
            delay = Some(u64::MAX);
        } else {
            return fail(w.pos, format!("invalid parameter \"{}\"", w.text));
        }
    }
    let Some(zone) = zone else {
        return fail(d.name.pos, "\"limit_req\" must have \"zone\" parameter");
    };
    Ok(LimitReq {
        zone,
        burst,
        delay: delay.unwrap_or(0),
    })
}

fn find_zone(w: &Word, name: &str, zones: &[Zone], requests: bool) -> Result<usize> {
    let found = zones
        .iter()
        .position(|z| z.name == name && matches!(z.kind, ZoneKind::Requests { .. }) == requests);
    match found {
        Some(index) => Ok(index),
        None => fail(
            w.pos,
            format!(
                "unknown {} \"{name}\"",
                if requests {
                    "limit_req_zone"
                } else {
                    "limit_conn_zone"
                }
            ),
        ),
    }
}

/// `pos` moved `chars` characters to the right (an offset inside a word on one line).
fn offset(pos: Pos, chars: usize) -> Pos {
    Pos {
        line: pos.line,
        col: pos.col + chars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_second_or_per_minute_in_thousandths() {
        assert_eq!(parse_rate("1r/s"), Some(1000));
        assert_eq!(parse_rate("10r/s"), Some(10_000));
        assert_eq!(parse_rate("30r/m"), Some(500));
        assert_eq!(parse_rate("1r/m"), Some(16));
        for bad in [
            "",
            "r/s",
            "0r/s",
            "1r/h",
            "-1r/s",
            "1.5r/s",
            "+1r/s",
            "1 r/s",
            "9999999r/s",
        ] {
            assert_eq!(parse_rate(bad), None, "{bad}");
        }
    }
}
