//! The compression directives, with the names and meanings of nginx's ngx_http_gzip_module and
//! ngx_http_gzip_static_module and of the widely used brotli (google/ngx_brotli) and zstd
//! (tokers/zstd-nginx-module) modules: `gzip`, `gzip_types`, `gzip_min_length`,
//! `gzip_comp_level`, `gzip_vary`, `gzip_proxied`, `gzip_http_version`, `gzip_disable`,
//! `gzip_static`, and the same for `brotli_*` and `zstd_*`. Their typed settings and their
//! parsing; what they do is `crate::compress`.
//!
//! Each directive is accepted at the top level (nginx's `http` block), in `server` and in
//! `location`, and each is inherited on its own, as nginx merges them.

use super::directive::{Directive, Word, duplicate, fail, parse_on_off, parse_size};
use super::lexer::Error;
use crate::http::negotiation::Coding;
use std::sync::Arc;

type Result<T> = std::result::Result<T, Error>;

/// Highest quality brotli compresses at on the fly (its memory: see `crate::compress`).
pub const BROTLI_MAX_ON_THE_FLY: u32 = 6;
/// Highest zstd level used on the fly.
pub const ZSTD_MAX_ON_THE_FLY: i32 = 6;

/// What a block sets for compression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compress {
    pub gzip: Coder,
    pub brotli: Coder,
    pub zstd: Coder,
    /// `gzip_static`, `brotli_static`, `zstd_static`.
    pub gzip_static: Static,
    pub brotli_static: Static,
    pub zstd_static: Static,
    /// `gzip_vary on`: `Vary: Accept-Encoding` also on responses that could have been
    /// compressed but were not (a compressed response always says it).
    pub vary: bool,
    /// `gzip_proxied`: which responses to requests that came through a proxy (with `Via`) are
    /// compressed.
    pub proxied: Proxied,
    /// `gzip_http_version 1.0 | 1.1`: the least HTTP/1 minor version compressed for.
    pub min_minor_version: u8,
    /// `gzip_disable`: User-Agent patterns that get no compression.
    pub disable: Option<Patterns>,
}

/// Regular expressions (compared by their source).
#[derive(Debug, Clone)]
pub struct Patterns(pub Arc<[regex::Regex]>);

impl PartialEq for Patterns {
    fn eq(&self, other: &Patterns) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(other.0.iter())
                .all(|(a, b)| a.as_str() == b.as_str())
    }
}

impl Eq for Patterns {}

impl std::ops::Deref for Patterns {
    type Target = [regex::Regex];

    fn deref(&self) -> &[regex::Regex] {
        &self.0
    }
}

impl Default for Compress {
    fn default() -> Compress {
        Compress {
            gzip: Coder::new(1),
            brotli: Coder::new(6),
            zstd: Coder::new(1),
            gzip_static: Static::Off,
            brotli_static: Static::Off,
            zstd_static: Static::Off,
            vary: false,
            proxied: Proxied::default(),
            min_minor_version: 1,
            disable: None,
        }
    }
}

impl Compress {
    /// Whether some coding is on for compression on the fly.
    #[inline]
    pub fn on_the_fly(&self) -> bool {
        self.gzip.on || self.brotli.on || self.zstd.on
    }

    /// Whether some precompressed sibling may be served.
    #[inline]
    pub fn statics(&self) -> bool {
        self.gzip_static != Static::Off
            || self.brotli_static != Static::Off
            || self.zstd_static != Static::Off
    }

    pub fn coder(&self, coding: Coding) -> &Coder {
        match coding {
            Coding::Gzip => &self.gzip,
            Coding::Br => &self.brotli,
            Coding::Zstd => &self.zstd,
        }
    }

    pub fn static_of(&self, coding: Coding) -> Static {
        match coding {
            Coding::Gzip => self.gzip_static,
            Coding::Br => self.brotli_static,
            Coding::Zstd => self.zstd_static,
        }
    }
}

/// One coding's settings for compression on the fly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coder {
    /// `gzip on`, `brotli on`, `zstd on`.
    pub on: bool,
    /// `*_types`: `text/html` is always in.
    pub types: Types,
    /// `*_min_length`: a response whose length is known and below it is sent as it is.
    pub min_length: u64,
    /// `*_comp_level` as configured.
    pub level: u32,
}

impl Coder {
    fn new(level: u32) -> Coder {
        Coder {
            on: false,
            types: Types::default(),
            min_length: 20,
            level,
        }
    }
}

/// The media types a coding compresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Types {
    /// `*`: every type.
    pub any: bool,
    /// Lower-case `type/subtype`, besides `text/html`.
    pub list: Arc<[String]>,
}

/// A Content-Type value without its parameters (`text/html; charset=utf-8`: `text/html`).
pub fn essence(content_type: &str) -> &str {
    let end = content_type
        .bytes()
        .position(|b| b == b';')
        .unwrap_or(content_type.len());
    content_type[..end].trim()
}

impl Types {
    /// Whether a response of `content_type` (a Content-Type value: parameters are ignored)
    /// is compressed.
    pub fn holds(&self, content_type: &str) -> bool {
        self.any || self.holds_essence(essence(content_type))
    }

    /// [`Types::holds`] for a type's essence (see [`essence`]).
    pub fn holds_essence(&self, essence: &str) -> bool {
        self.any
            || essence.eq_ignore_ascii_case("text/html")
            || self.list.iter().any(|t| essence.eq_ignore_ascii_case(t))
    }
}

/// `*_static off | on | always`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Static {
    Off,
    /// The sibling is sent to a client that accepts its coding.
    On,
    /// The sibling is sent whatever the client accepts (for files kept only compressed).
    Always,
}

/// `gzip_proxied`: nginx's flags. With none (`off`), responses to requests with `Via` are not
/// compressed; otherwise they are when one listed condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Proxied {
    pub any: bool,
    /// The response's `Expires` is in the past (or not a date).
    pub expired: bool,
    /// `Cache-Control` has `no-cache`, `no-store`, `private`.
    pub no_cache: bool,
    pub no_store: bool,
    pub private: bool,
    /// The response has no `Last-Modified`, no `ETag`.
    pub no_last_modified: bool,
    pub no_etag: bool,
    /// The request has `Authorization`.
    pub auth: bool,
}

/// What one block sets itself (None: inherited).
#[derive(Debug, Clone, Default)]
pub(super) struct Overrides {
    on: [Option<bool>; 3],
    types: [Option<Types>; 3],
    min_length: [Option<u64>; 3],
    level: [Option<u32>; 3],
    statics: [Option<Static>; 3],
    vary: Option<bool>,
    proxied: Option<Proxied>,
    min_minor_version: Option<u8>,
    disable: Option<Option<Patterns>>,
    /// Accepted and ignored (`gzip_buffers`, `brotli_window`...): set once per block.
    ignored: Vec<String>,
}

impl Overrides {
    pub(super) fn apply_to(self, c: &mut Compress) {
        for (i, coding) in [Coding::Gzip, Coding::Br, Coding::Zstd]
            .into_iter()
            .enumerate()
        {
            let coder = match coding {
                Coding::Gzip => &mut c.gzip,
                Coding::Br => &mut c.brotli,
                Coding::Zstd => &mut c.zstd,
            };
            if let Some(on) = self.on[i] {
                coder.on = on;
            }
            if let Some(types) = &self.types[i] {
                coder.types = types.clone();
            }
            if let Some(n) = self.min_length[i] {
                coder.min_length = n;
            }
            if let Some(level) = self.level[i] {
                coder.level = level;
            }
            if let Some(s) = self.statics[i] {
                match coding {
                    Coding::Gzip => c.gzip_static = s,
                    Coding::Br => c.brotli_static = s,
                    Coding::Zstd => c.zstd_static = s,
                }
            }
        }
        if let Some(vary) = self.vary {
            c.vary = vary;
        }
        if let Some(proxied) = self.proxied {
            c.proxied = proxied;
        }
        if let Some(minor) = self.min_minor_version {
            c.min_minor_version = minor;
        }
        if let Some(disable) = self.disable {
            c.disable = disable;
        }
    }
}

/// Every directive of this module.
pub(super) const NAMES: [&str; 23] = [
    "gzip",
    "gzip_types",
    "gzip_min_length",
    "gzip_comp_level",
    "gzip_vary",
    "gzip_proxied",
    "gzip_http_version",
    "gzip_disable",
    "gzip_buffers",
    "gzip_static",
    "brotli",
    "brotli_types",
    "brotli_min_length",
    "brotli_comp_level",
    "brotli_static",
    "brotli_window",
    "brotli_buffers",
    "zstd",
    "zstd_types",
    "zstd_min_length",
    "zstd_comp_level",
    "zstd_static",
    "zstd_buffers",
];

/// The compression settings of the top level of `tree` (read before the servers, which start
/// from them).
pub(super) fn top(tree: &[Directive]) -> Result<Compress> {
    let mut o = Overrides::default();
    for d in tree {
        if NAMES.contains(&d.name.text.as_str()) {
            super::table::check(d, super::directive::MAIN)?;
            setting(&mut o, d)?;
        }
    }
    let mut compress = Compress::default();
    o.apply_to(&mut compress);
    Ok(compress)
}

/// The coding a directive's name starts with, and the rest of its name.
fn split(name: &str) -> (usize, &str) {
    for (i, prefix) in ["gzip", "brotli", "zstd"].iter().enumerate() {
        if let Some(rest) = name.strip_prefix(prefix) {
            return (i, rest);
        }
    }
    (0, name)
}

/// One directive of this module, in a block or at the top level.
pub(super) fn setting(o: &mut Overrides, d: &Directive) -> Result<()> {
    let name = d.name.text.as_str();
    let (i, rest) = split(name);
    let args = &d.args;
    fn set<T>(slot: &mut Option<T>, value: T, d: &Directive) -> Result<()> {
        if slot.is_some() {
            return duplicate(d);
        }
        *slot = Some(value);
        Ok(())
    }
    match rest {
        "" => {
            let on = parse_on_off(&args[0], name)?;
            set(&mut o.on[i], on, d)
        }
        "_types" => {
            let mut any = false;
            let mut list = Vec::new();
            for w in args {
                if w.text == "*" {
                    any = true;
                } else if valid_type(&w.text) {
                    list.push(w.text.to_ascii_lowercase());
                } else {
                    return fail(w.pos, format!("invalid MIME type \"{}\"", w.text));
                }
            }
            let types = Types {
                any,
                list: list.into(),
            };
            set(&mut o.types[i], types, d)
        }
        "_min_length" => {
            let n = parse_size(&args[0])?;
            set(&mut o.min_length[i], n, d)
        }
        "_comp_level" => {
            let (low, high) = match i {
                0 => (1, 9),
                1 => (0, 11),
                _ => (1, 22),
            };
            let level = parse_level(&args[0], low, high, name)?;
            set(&mut o.level[i], level, d)
        }
        "_static" => {
            let value = match args[0].text.to_ascii_lowercase().as_str() {
                "on" => Static::On,
                "off" => Static::Off,
                "always" => Static::Always,
                _ => {
                    return fail(
                        args[0].pos,
                        format!(
                            "invalid value \"{}\" in \"{name}\" directive, it must be \"on\", \
                             \"off\" or \"always\"",
                            args[0].text
                        ),
                    );
                }
            };
            set(&mut o.statics[i], value, d)
        }
        "_vary" => {
            let on = parse_on_off(&args[0], name)?;
            set(&mut o.vary, on, d)
        }
        "_proxied" => {
            let proxied = parse_proxied(args)?;
            set(&mut o.proxied, proxied, d)
        }
        "_http_version" => {
            let minor = match args[0].text.as_str() {
                "1.0" => 0,
                "1.1" => 1,
                _ => {
                    return fail(
                        args[0].pos,
                        format!(
                            "invalid value \"{}\" in \"{name}\" directive, it must be \"1.0\" or \
                             \"1.1\"",
                            args[0].text
                        ),
                    );
                }
            };
            set(&mut o.min_minor_version, minor, d)
        }
        "_disable" => {
            let mut patterns = Vec::new();
            for w in args {
                // nginx's `msie6`: MSIE 4 to 6, which mishandled compressed responses.
                let source = if w.text == "msie6" {
                    r"MSIE [4-6]\."
                } else {
                    w.text.as_str()
                };
                let regex = regex::RegexBuilder::new(source)
                    .case_insensitive(true)
                    .size_limit(1 << 20)
                    .build()
                    .or_else(|e| fail(w.pos, format!("invalid regular expression: {e}")))?;
                patterns.push(regex);
            }
            set(&mut o.disable, Some(Patterns(patterns.into())), d)
        }
        // `gzip_buffers 32 4k`, `brotli_buffers`, `zstd_buffers`: webserv's buffers are its own
        // (a 16 KiB piece in, the output the client takes); `brotli_window`: fixed (256 KiB),
        // for the memory bound. Checked for form, then ignored.
        "_buffers" | "_window" => {
            let valid = if rest == "_window" {
                args.len() == 1 && parse_size(&args[0]).is_ok()
            } else {
                args.len() == 2
                    && args[0].text.parse::<u32>().is_ok_and(|n| n > 0)
                    && parse_size(&args[1]).is_ok_and(|n| n > 0)
            };
            if !valid {
                return fail(
                    d.name.pos,
                    format!("invalid arguments in \"{name}\" directive"),
                );
            }
            if o.ignored.iter().any(|n| n == name) {
                return duplicate(d);
            }
            o.ignored.push(name.to_string());
            Ok(())
        }
        _ => fail(d.name.pos, format!("unknown directive \"{name}\"")),
    }
}

/// `type/subtype`, each a token.
fn valid_type(text: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-*".contains(&b))
    };
    text.split_once('/')
        .is_some_and(|(t, s)| token(t) && token(s) && !s.contains('/'))
}

fn parse_level(w: &Word, low: u32, high: u32, name: &str) -> Result<u32> {
    match w.text.parse::<u32>() {
        Ok(n) if (low..=high).contains(&n) && w.text.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => fail(
            w.pos,
            format!(
                "invalid value \"{}\" in \"{name}\" directive, it must be a number from {low} \
                 to {high}",
                w.text
            ),
        ),
    }
}

fn parse_proxied(args: &[Word]) -> Result<Proxied> {
    let mut p = Proxied::default();
    let off = args.iter().any(|w| w.text == "off");
    if off && args.len() > 1 {
        return fail(
            args[1].pos,
            "\"off\" cannot be combined with other values in \"gzip_proxied\"",
        );
    }
    for w in args {
        let flag = match w.text.as_str() {
            "off" => continue,
            "any" => &mut p.any,
            "expired" => &mut p.expired,
            "no-cache" => &mut p.no_cache,
            "no-store" => &mut p.no_store,
            "private" => &mut p.private,
            "no_last_modified" => &mut p.no_last_modified,
            "no_etag" => &mut p.no_etag,
            "auth" => &mut p.auth,
            _ => {
                return fail(
                    w.pos,
                    format!("invalid value \"{}\" in \"gzip_proxied\" directive", w.text),
                );
            }
        };
        *flag = true;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use crate::config::{Compress, Static};
    use std::path::Path;

    fn settings(text: &str) -> Result<Vec<Compress>, String> {
        let config = crate::config::parse(text, Path::new("/etc/webserv/webserv.conf"))
            .map_err(|e| e.to_string())?;
        let server = &config.servers[0];
        let mut all = vec![server.settings.compress.clone()];
        all.extend(server.locations.iter().map(|l| l.settings.compress.clone()));
        Ok(all)
    }

    #[test]
    fn defaults_are_nginx_and_the_modules() {
        let c = &settings("server { listen 80; }").unwrap()[0];
        assert!(!c.gzip.on && !c.brotli.on && !c.zstd.on);
        assert_eq!((c.gzip.level, c.brotli.level, c.zstd.level), (1, 6, 1));
        assert_eq!(c.gzip.min_length, 20);
        assert!(c.gzip.types.holds("text/html; charset=utf-8"));
        assert!(!c.gzip.types.holds("text/css"));
        assert_eq!(c.gzip_static, Static::Off);
        assert!(!c.vary);
        assert_eq!(c.min_minor_version, 1);
        assert!(!c.on_the_fly());
    }

    #[test]
    fn each_directive_is_inherited_on_its_own_from_the_top_level_down() {
        let all = settings(
            "gzip on; gzip_types text/css application/javascript; brotli_comp_level 4;
             server { listen 80; gzip_comp_level 6; brotli on;
                 location /a { gzip off; brotli_types *; }
                 location /b { zstd on; zstd_min_length 1k; gzip_static always; }
             }",
        )
        .unwrap();
        let (server, a, b) = (&all[0], &all[1], &all[2]);
        assert!(server.gzip.on && server.brotli.on && !server.zstd.on);
        assert_eq!(server.gzip.level, 6);
        assert_eq!(server.brotli.level, 4);
        assert!(server.gzip.types.holds("TEXT/CSS"));
        assert!(
            server
                .gzip
                .types
                .holds("application/javascript; charset=utf-8")
        );
        assert!(!a.gzip.on && a.brotli.on);
        assert!(a.brotli.types.holds("image/png"));
        assert_eq!(a.gzip.level, 6);
        assert!(b.zstd.on && b.gzip.on);
        assert_eq!(b.zstd.min_length, 1024);
        assert_eq!(b.gzip_static, Static::Always);
    }

    #[test]
    fn proxied_http_version_disable_and_buffers_are_read() {
        let c = &settings(
            "server { listen 80; gzip_proxied expired no-cache auth; gzip_http_version 1.0;
             gzip_disable msie6 \"Foo/[0-9]\"; gzip_buffers 16 8k; brotli_window 512k;
             zstd_buffers 32 4k; gzip_vary on; }",
        )
        .unwrap()[0];
        assert!(c.proxied.expired && c.proxied.no_cache && c.proxied.auth && !c.proxied.any);
        assert_eq!(c.min_minor_version, 0);
        let disable = c.disable.as_deref().unwrap();
        assert!(disable[0].is_match("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"));
        assert!(!disable[0].is_match("Mozilla/5.0 (compatible; MSIE 10.0)"));
        assert!(disable[1].is_match("foo/1"));
        assert!(c.vary);
    }

    #[test]
    fn bad_values_are_errors_at_their_place() {
        for (text, message) in [
            (
                "gzip maybe;",
                "1:26: invalid value \"maybe\" in \"gzip\" directive, it must be \"on\" or \"off\"",
            ),
            (
                "gzip_comp_level 10;",
                "1:37: invalid value \"10\" in \"gzip_comp_level\" directive, it must be a number from 1 to 9",
            ),
            (
                "brotli_comp_level 12;",
                "1:39: invalid value \"12\" in \"brotli_comp_level\" directive, it must be a number from 0 to 11",
            ),
            (
                "zstd_comp_level 0;",
                "1:37: invalid value \"0\" in \"zstd_comp_level\" directive, it must be a number from 1 to 22",
            ),
            ("gzip_types text;", "1:32: invalid MIME type \"text\""),
            (
                "brotli_static sometimes;",
                "1:35: invalid value \"sometimes\" in \"brotli_static\" directive, it must be \"on\", \"off\" or \"always\"",
            ),
            (
                "gzip_proxied off any;",
                "1:38: \"off\" cannot be combined with other values in \"gzip_proxied\"",
            ),
            (
                "gzip_proxied everything;",
                "1:34: invalid value \"everything\" in \"gzip_proxied\" directive",
            ),
            (
                "gzip_http_version 2.0;",
                "1:39: invalid value \"2.0\" in \"gzip_http_version\" directive, it must be \"1.0\" or \"1.1\"",
            ),
            ("gzip_disable \"(\";", "1:34: invalid regular expression"),
            (
                "gzip_buffers 0 4k;",
                "1:21: invalid arguments in \"gzip_buffers\" directive",
            ),
            (
                "gzip on; gzip off;",
                "1:30: \"gzip\" directive is duplicate",
            ),
            ("zstd_min_length 1x;", "1:37: invalid size \"1x\""),
        ] {
            let error = settings(&format!("server {{ listen 80; {text} }}")).unwrap_err();
            assert!(error.contains(message), "{text}: {error}");
        }
    }
}
