//! What every directive reader shares, below the parser and the modules of each directive
//! family (`access`, `compress`, `proxy`, ...): the tree's [`Word`] (with where it starts) and
//! [`Directive`], the contexts a directive may stand in (`MAIN`, `SERVER`, `LOCATION`, ...) and
//! the row of the directive table ([`Spec`]), the errors in nginx's wording (`fail`,
//! `duplicate`) and the warnings ([`ConfigWarning`]), and the argument readers (sizes, durations, `on`/`off`, decimals, templates, paths).
//! The parser builds the tree and holds the table; each family's module reads its own
//! directives with these.

use super::lexer::{Error, Pos};
use super::template::Template;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) type Result<T> = std::result::Result<T, Error>;

pub(super) fn fail<T>(pos: Pos, message: impl Into<String>) -> Result<T> {
    Err(Error::new(pos, message))
}

/// A word of the file and where it starts.
#[derive(Debug)]
pub(crate) struct Word {
    pub(super) text: String,
    pub(super) pos: Pos,
}

/// `name args... ;` or `name args... { children }`.
#[derive(Debug)]
pub(super) struct Directive {
    pub(super) name: Word,
    pub(super) args: Vec<Word>,
    pub(super) block: Option<Vec<Directive>>,
    /// Where the terminating `;` or the opening `{` is.
    pub(super) end: Pos,
}

/// The top level, which is also nginx's `http` block (see `config::nginx`).
pub(super) const MAIN: u8 = 1;

pub(super) const SERVER: u8 = 2;

pub(super) const LOCATION: u8 = 4;

/// Inside `acme_issuer NAME { }`.
pub(super) const ACME_ISSUER: u8 = 8;

/// Settings: the top level (nginx's `http`), `server` and `location`; a server inherits those
/// of the top level, a location those of its server.
pub(super) const SETTINGS: u8 = MAIN | SERVER | LOCATION;

/// Settings nginx has only in `server` and `location`.
pub(super) const SERVER_SETTINGS: u8 = SERVER | LOCATION;

pub(super) const MANY: usize = usize::MAX;

pub(super) struct Spec {
    pub(super) name: &'static str,
    /// The blocks it may appear in.
    pub(super) contexts: u8,
    /// Takes a `{ }` block instead of ending with `;`.
    pub(super) block: bool,
    pub(super) min_args: usize,
    pub(super) max_args: usize,
}

pub(super) const fn spec(
    name: &'static str,
    contexts: u8,
    min_args: usize,
    max_args: usize,
) -> Spec {
    Spec {
        name,
        contexts,
        block: false,
        min_args,
        max_args,
    }
}

pub(super) const fn block(
    name: &'static str,
    contexts: u8,
    min_args: usize,
    max_args: usize,
) -> Spec {
    Spec {
        block: true,
        ..spec(name, contexts, min_args, max_args)
    }
}

pub(super) fn duplicate<T>(d: &Directive) -> Result<T> {
    fail(
        d.name.pos,
        format!("\"{}\" directive is duplicate", d.name.text),
    )
}

/// The one-line reason of a `regex` error (its syntax errors come as a drawing over lines).
pub(super) fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or(text)
            .to_string(),
        regex::Error::CompiledTooBig(_) => "the compiled expression is too big".to_string(),
        other => other.to_string(),
    }
}

/// Only ASCII digits (no sign, no spaces), at least one; None also on overflow.
pub(super) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A text with variables, errors reported at the word.
pub(super) fn parse_template(w: &Word, captures: &[String]) -> Result<Template> {
    Template::parse(&w.text, captures)
        .or_else(|e| fail(w.pos, format!("{} in \"{}\"", e.message, w.text)))
}

pub(super) fn parse_on_off(w: &Word, directive: &str) -> Result<bool> {
    match w.text.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => fail(
            w.pos,
            format!(
                "invalid value \"{}\" in \"{directive}\" directive, it must be \"on\" or \"off\"",
                w.text
            ),
        ),
    }
}

/// Bytes, with an optional `k`, `m` or `g` suffix (any case, 1024-based).
pub(super) fn parse_size(w: &Word) -> Result<u64> {
    let s = w.text.as_str();
    let (digits, unit) = match s.as_bytes().last().map(u8::to_ascii_lowercase) {
        Some(b'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'm') => (&s[..s.len() - 1], 1 << 20),
        Some(b'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let valid = digits.bytes().all(|b| b.is_ascii_digit()) && !digits.is_empty();
    match parse_decimal(digits).and_then(|n| n.checked_mul(unit)) {
        Some(n) => Ok(n),
        None if valid => fail(w.pos, format!("size \"{s}\" is too large")),
        None => fail(w.pos, format!("invalid size \"{s}\"")),
    }
}

/// The longest duration accepted: a year. Far above any useful timeout, far below what would
/// overflow `Instant + Duration` (which panics) in the server.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Seconds, or nginx's time: numbers each followed by a unit, `ms`, `s`, `m`, `h`, `d`, `w`,
/// `M` (30 days) or `y` (365 days), added up (`1h30m`); a bare number is seconds.
pub(super) fn parse_duration(w: &Word) -> Result<Duration> {
    const UNITS: [(&str, u64); 8] = [
        ("ms", 1),
        ("s", 1000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
        ("w", 7 * 86_400_000),
        ("M", 30 * 86_400_000),
        ("y", 365 * 86_400_000),
    ];
    let s = w.text.as_str();
    let invalid = || fail(w.pos, format!("invalid duration \"{s}\""));
    let too_large = || {
        fail(
            w.pos,
            format!("duration \"{s}\" is too large (at most 8760h)"),
        )
    };
    if s.is_empty() {
        return invalid();
    }
    let mut total: u64 = 0;
    let mut rest = s;
    let mut overflow = false;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return invalid();
        }
        let (number, after) = rest.split_at(digits);
        let (millis_per_unit, unit_len) =
            match UNITS.iter().find(|(unit, _)| after.starts_with(unit)) {
                Some((unit, millis)) => (*millis, unit.len()),
                // A bare number: seconds, only as the whole value.
                None if after.is_empty() && digits == s.len() => (1000, 0),
                None => return invalid(),
            };
        let value = parse_decimal(number)
            .and_then(|n| n.checked_mul(millis_per_unit))
            .and_then(|ms| total.checked_add(ms));
        match value {
            Some(sum) => total = sum,
            None => overflow = true,
        }
        rest = &after[unit_len..];
    }
    if overflow || Duration::from_millis(total) > MAX_DURATION {
        return too_large();
    }
    Ok(Duration::from_millis(total))
}

/// Resolves `.` and `..` lexically (`/srv/conf/../www` is `/srv/www`). Paths from the file are
/// joined to the config directory, and what comes out reaches scripts (SCRIPT_FILENAME,
/// DOCUMENT_ROOT): php-cgi, for one, refuses a script path with `..` in it.
pub(crate) fn clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A setting that is legal but unsafe (`-t` and startup print these; the server still runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The path as given to [`load`] or [`parse`].
    pub path: PathBuf,
    /// 1-based; the directive's name.
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: warning: {}",
            self.path.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_lexically() {
        let cases = [
            ("/srv/conf/../www", "/srv/www"),
            ("/srv/./a/./b/..", "/srv/a"),
            ("/../a", "/a"),
            ("a/../../b", "../b"),
            ("/srv/www/", "/srv/www"),
        ];
        for (raw, clean_path) in cases {
            assert_eq!(clean(Path::new(raw)), PathBuf::from(clean_path), "{raw}");
        }
    }
}
