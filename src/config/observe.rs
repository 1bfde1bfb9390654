//! What an operator watches: the access logs (`log_format`, `access_log`, nginx's
//! ngx_http_log_module), where a log goes and the error log's levels ([`LogTarget`],
//! [`LogLevel`]), and the status pages (`stub_status`, nginx's; `metrics`, webserv's
//! Prometheus endpoint), and their parsing. The lines are written by
//! `crate::observe::access_log`, the figures kept by `crate::observe::metrics`.

use super::directive::{Directive, duplicate, fail};
use super::lexer::{Error, Pos};
use super::vars::{self, Piece, Var};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    Stderr,
    Off,
    File(PathBuf),
}

/// Severity of an error-log message, most severe first (nginx's order). A log at a level
/// keeps the messages of that level and every more severe one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl LogLevel {
    pub const ALL: [(LogLevel, &'static str); 5] = [
        (LogLevel::Error, "error"),
        (LogLevel::Warn, "warn"),
        (LogLevel::Notice, "notice"),
        (LogLevel::Info, "info"),
        (LogLevel::Debug, "debug"),
    ];

    pub fn from_name(name: &str) -> Option<LogLevel> {
        LogLevel::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(level, _)| *level)
    }

    pub fn name(self) -> &'static str {
        LogLevel::ALL
            .iter()
            .find(|(level, _)| *level == self)
            .map_or("error", |(_, n)| n)
    }
}

type Result<T> = std::result::Result<T, Error>;

/// A page of the server's own figures, served by a location instead of its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPage {
    /// `stub_status;`: nginx's text.
    Stub,
    /// `metrics;`: the Prometheus text format.
    Prometheus,
}

/// What a `server` or `location` sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observe {
    /// Not inherited: like nginx's content handlers, it belongs to the block that sets it.
    pub status_page: Option<StatusPage>,
    /// The access logs its requests are written to (none: `off`).
    pub logs: Arc<SiteLogs>,
}

/// `log_format NAME [escape=...] STRING ...;`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    pub name: String,
    pub escape: Escape,
    pub pieces: Vec<Piece>,
}

/// How variable values are written into a line (literal text is written as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// `"`, `\` and bytes below 0x20 or above 0x7e as `\xXX`; a missing value as `-`.
    Default,
    /// A JSON string's content (`\"`, `\\`, `\n`, `\u0001`...), always valid UTF-8; a
    /// missing value as nothing.
    Json,
    /// As they are; a missing value as `-`.
    None,
}

/// `access_log PATH [FORMAT [if=CONDITION]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLog {
    /// Index in `Config::log_files`.
    pub file: usize,
    /// Index in `Config::log_formats`.
    pub format: usize,
    /// `if=`: the line is written unless this is empty or `0`.
    pub condition: Option<Vec<Piece>>,
}

/// The access logs of a block, with what their lines need to be captured when a response
/// starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteLogs {
    pub uses: Vec<AccessLog>,
    /// Every variable of the request phase the formats and conditions name, each once.
    pub request_vars: Vec<Var>,
    /// Every response field (`$sent_http_NAME`) they name, each once.
    pub sent_fields: Vec<String>,
}

impl SiteLogs {
    /// `uses` with what they need gathered from `formats`.
    pub fn new(uses: Vec<AccessLog>, formats: &[LogFormat]) -> SiteLogs {
        let mut logs = SiteLogs {
            uses: Vec::new(),
            request_vars: Vec::new(),
            sent_fields: Vec::new(),
        };
        for using in &uses {
            let pieces = formats
                .get(using.format)
                .map_or(&[][..], |f| f.pieces.as_slice())
                .iter()
                .chain(using.condition.iter().flatten());
            for piece in pieces {
                match piece {
                    Piece::Var(Var::SentHttp(name)) if !logs.sent_fields.contains(name) => {
                        logs.sent_fields.push(name.clone());
                    }
                    Piece::Var(var) if var.of_request() && !logs.request_vars.contains(var) => {
                        logs.request_vars.push(var.clone());
                    }
                    _ => {}
                }
            }
        }
        logs.uses = uses;
        logs
    }
}

/// nginx's predefined `combined` format.
const COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status \
                        $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

/// The log formats and files of a configuration, read before its servers.
pub(super) struct Tables {
    pub(super) formats: Vec<LogFormat>,
    pub(super) files: Vec<LogTarget>,
    /// The top level's `access_log` lines: what a server without its own uses.
    pub(super) top: Arc<SiteLogs>,
}

impl Tables {
    /// Reads every `log_format` and the top-level `access_log` lines of `tree`.
    pub(super) fn read(tree: &[Directive], dir: &Path) -> Result<Tables> {
        let combined =
            vars::parse(COMBINED).map_err(|e| Error::new(Pos { line: 1, col: 1 }, e.message))?;
        let mut tables = Tables {
            formats: vec![LogFormat {
                name: "combined".into(),
                escape: Escape::Default,
                pieces: combined,
            }],
            files: Vec::new(),
            top: Arc::default(),
        };
        // A directive with a block or too few arguments is reported by the parser's check.
        let well_formed = |d: &&Directive, min: usize| d.block.is_none() && d.args.len() >= min;
        for d in tree
            .iter()
            .filter(|d| d.name.text == "log_format" && well_formed(d, 2))
        {
            let format = parse_format(d)?;
            if tables.formats.iter().any(|f| f.name == format.name) {
                return fail(
                    d.args[0].pos,
                    format!("duplicate \"log_format\" name \"{}\"", format.name),
                );
            }
            tables.formats.push(format);
        }
        let mut top: Option<Vec<AccessLog>> = None;
        let mut off = false;
        for d in tree
            .iter()
            .filter(|d| d.name.text == "access_log" && well_formed(d, 1))
        {
            let list = top.get_or_insert_with(Vec::new);
            match tables.access_log(d, dir)? {
                Some(log) => list.push(log),
                None => off = true,
            }
        }
        if off {
            top = Some(Vec::new());
        }
        let top = top.unwrap_or_else(|| {
            vec![AccessLog {
                file: tables.file(LogTarget::Stdout),
                format: 0,
                condition: None,
            }]
        });
        tables.top = Arc::new(SiteLogs::new(top, &tables.formats));
        Ok(tables)
    }

    fn file(&mut self, target: LogTarget) -> usize {
        match self.files.iter().position(|f| *f == target) {
            Some(i) => i,
            None => {
                self.files.push(target);
                self.files.len() - 1
            }
        }
    }

    /// One `access_log` line; None for `off`.
    fn access_log(&mut self, d: &Directive, dir: &Path) -> Result<Option<AccessLog>> {
        let path = &d.args[0];
        if path.text == "off" {
            if d.args.len() > 1 {
                return fail(
                    d.args[1].pos,
                    format!("invalid parameter \"{}\"", d.args[1].text),
                );
            }
            return Ok(None);
        }
        let target = match path.text.as_str() {
            "" => return fail(path.pos, "invalid path \"\""),
            "stdout" => LogTarget::Stdout,
            "stderr" => LogTarget::Stderr,
            text => LogTarget::File(super::directive::clean(&dir.join(text))),
        };
        let mut format = 0;
        let mut condition = None;
        for (i, w) in d.args.iter().enumerate().skip(1) {
            if let Some(text) = w.text.strip_prefix("if=") {
                let pieces = vars::parse(text).or_else(|e| {
                    fail(
                        at(w.pos, 3 + e.offset),
                        format!("{} in \"{}\"", e.message, w.text),
                    )
                })?;
                if pieces.is_empty() {
                    return fail(w.pos, format!("invalid parameter \"{}\"", w.text));
                }
                condition = Some(pieces);
            } else if w.text.starts_with("buffer=") || w.text.starts_with("flush=") {
                // nginx's buffering: webserv always buffers (one write per event-loop batch).
            } else if i == 1 {
                format = match self.formats.iter().position(|f| f.name == w.text) {
                    Some(index) => index,
                    None => return fail(w.pos, format!("unknown log format \"{}\"", w.text)),
                };
            } else {
                return fail(w.pos, format!("invalid parameter \"{}\"", w.text));
            }
        }
        Ok(Some(AccessLog {
            file: self.file(target),
            format,
            condition,
        }))
    }
}

fn at(pos: Pos, chars: usize) -> Pos {
    Pos {
        line: pos.line,
        col: pos.col + chars,
    }
}

/// `log_format NAME [escape=default|json|none] STRING ...`: the strings are joined.
fn parse_format(d: &Directive) -> Result<LogFormat> {
    let name = &d.args[0];
    let mut rest = &d.args[1..];
    let mut escape = Escape::Default;
    if let Some(w) = rest.first()
        && let Some(value) = w.text.strip_prefix("escape=")
    {
        escape = match value {
            "default" => Escape::Default,
            "json" => Escape::Json,
            "none" => Escape::None,
            _ => return fail(w.pos, format!("unknown log format escaping \"{value}\"")),
        };
        rest = &rest[1..];
    }
    if name.text == "combined" {
        return fail(name.pos, "duplicate \"log_format\" name \"combined\"");
    }
    if rest.is_empty() {
        return fail(
            d.name.pos,
            "invalid number of arguments in \"log_format\" directive",
        );
    }
    let mut pieces = Vec::new();
    for w in rest {
        let parsed = vars::parse(&w.text).or_else(|e| {
            fail(
                at(w.pos, e.offset),
                format!("{} in \"{}\"", e.message, w.text),
            )
        })?;
        for piece in parsed {
            match (pieces.last_mut(), piece) {
                (Some(Piece::Text(last)), Piece::Text(text)) => last.push_str(&text),
                (_, piece) => pieces.push(piece),
            }
        }
    }
    Ok(LogFormat {
        name: name.text.clone(),
        escape,
        pieces,
    })
}

/// What one block sets itself.
#[derive(Default)]
pub(super) struct Overrides {
    status_page: Option<StatusPage>,
    /// The block's own `access_log` lines so far, and what they need.
    logs: Option<Arc<SiteLogs>>,
    /// `access_log off`: this block logs nothing, whatever its other `access_log` lines say.
    off: bool,
}

impl Overrides {
    pub(super) fn apply_to(self, observe: &mut Observe) {
        observe.status_page = self.status_page;
        if self.off {
            observe.logs = Arc::default();
        } else if let Some(logs) = self.logs {
            observe.logs = logs;
        }
    }
}

pub(super) const NAMES: [&str; 3] = ["stub_status", "metrics", "access_log"];

pub(super) fn setting(
    o: &mut Overrides,
    d: &Directive,
    dir: &Path,
    tables: &mut Tables,
) -> Result<()> {
    if d.name.text == "access_log" {
        match tables.access_log(d, dir)? {
            Some(log) => {
                let mut uses = o.logs.as_ref().map_or_else(Vec::new, |l| l.uses.clone());
                uses.push(log);
                o.logs = Some(Arc::new(SiteLogs::new(uses, &tables.formats)));
            }
            None => o.off = true,
        }
        return Ok(());
    }
    if o.status_page.is_some() {
        return duplicate(d);
    }
    o.status_page = Some(if d.name.text == "stub_status" {
        StatusPage::Stub
    } else {
        StatusPage::Prometheus
    });
    Ok(())
}
