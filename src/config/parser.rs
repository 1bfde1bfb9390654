//! The configuration parser: tokens to a tree of directives (syntax), then the tree to the typed
//! [`Config`] (meaning). Pure but for four outside inputs: the directory relative paths resolve
//! against, `workers auto` reading the number of cores, the certificate and key files of
//! `ssl_certificate` / `ssl_certificate_key`, which are read and checked here, and the host names
//! of `proxy_pass` and upstream `server`s, which are resolved here (as nginx does, once, at load).
//! The proxy directives themselves are read by `config::proxy`, and each other directive
//! family by its module (`access`, `compress`, `limits`, ...); what they share (the tree's
//! `Word` and `Directive`, the argument readers) is `config::directive`, the directive table
//! and its check `config::table`, and nginx's tree is made webserv's by `config::adapt` first.
//!
//! Errors use nginx's wording and point at the offending token. Syntax errors (unbalanced braces,
//! missing `;`) are found over the whole file before any meaning error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::acme::{self, AcmeIssuer};
use super::directive::{
    Directive, LOCATION, MAIN, Result, SERVER, Word, duplicate, fail, parse_decimal,
    parse_duration, parse_on_off, parse_size, parse_template, regex_message,
};
use super::include::{Loader, Sources};
use super::lexer::{self, Error, Pos, Token, TokenKind};
use super::model::{
    AddHeader, CgiHandler, Config, ErrorPage, ErrorPageStatus, Expires, Location, LocationId,
    LocationKind, Methods, Server, Settings, TryFallback, TryFiles,
};
use super::names::ServerName;
use super::observe::{LogLevel, LogTarget};
use super::rewrite::Return;
use super::table::{check, is_setting};
use super::template::Template;
use crate::pki::tls::{self as tls_files, Part, Tls, VerifyClient};

/// The most errors one reading reports; `PATH: ...` says when there were more.
pub const MAX_ERRORS: usize = 20;

/// What reading a configuration gives: the configuration, or its errors (the one found first
/// first), and every file it read, for positions.
pub(crate) struct Parsed {
    pub(crate) config: std::result::Result<Config, Vec<Error>>,
    pub(crate) sources: Sources,
}

/// Parses `text`, the main configuration file `path`. `config_dir` must be absolute: relative
/// paths in the file (and the files it includes) are joined to it. `Config::path` is left for
/// the caller to fill in.
pub(crate) fn parse(text: &str, path: &Path, config_dir: &Path) -> Parsed {
    parse_with(text, path, config_dir, super::proxy::WIRING)
}

/// [`parse`] of a file in `config_dir` that includes nothing, with the proxy directives
/// accepted or refused as `wiring` says: the configuration or the first error.
#[cfg(test)]
pub(super) fn parse_wired(
    text: &str,
    config_dir: &Path,
    wiring: super::proxy::Wiring,
) -> Result<Config> {
    let path = config_dir.join("test.conf");
    match parse_with(text, &path, config_dir, wiring).config {
        Ok(config) => Ok(config),
        Err(mut errors) => Err(errors.remove(0)),
    }
}

/// What `interpret` needs besides the tree: where relative paths start, whether the proxy
/// directives are accepted, every file read (for positions in messages).
struct Reading<'a> {
    config_dir: &'a Path,
    wiring: super::proxy::Wiring,
    sources: &'a Sources,
}

fn parse_with(text: &str, path: &Path, config_dir: &Path, wiring: super::proxy::Wiring) -> Parsed {
    let mut loader = Loader::new(config_dir, path, Sources::new(path, text));
    let tree = read_tree(text, &mut loader);
    let Loader {
        sources,
        mut warnings,
        mut errors,
        ..
    } = loader;
    let tree = tree.map(|(mut tree, eof)| {
        super::adapt::adapt(&mut tree, &mut warnings, &mut errors);
        (tree, eof)
    });
    let reading = Reading {
        config_dir,
        wiring,
        sources: &sources,
    };
    let config = match tree {
        Err(syntax) => Err(vec![syntax]),
        Ok((tree, eof)) => {
            let dropped = !errors.is_empty();
            match interpret_all(tree, eof, &reading, dropped) {
                Ok(config) if !dropped => Ok(with_warnings(config, warnings)),
                Ok(_) => Err(errors),
                Err(more) => {
                    errors.extend(more);
                    Err(errors)
                }
            }
        }
    };
    Parsed { config, sources }
}

/// The warnings about user files (`auth_basic_user_file`: they name their file) first, as they
/// came, then the configuration's own in file order (positions count lines across every file
/// read, in reading order).
fn order_warnings(warnings: &mut [super::directive::ConfigWarning]) {
    warnings.sort_by_key(|w| match w.path.as_os_str().is_empty() {
        true => (1, w.line, w.col),
        false => (0, 0, 0),
    });
}

/// `config` with the warnings found before its meaning was read, every warning in file order.
fn with_warnings(mut config: Config, warnings: Vec<(Pos, String)>) -> Config {
    config
        .warnings
        .extend(
            warnings
                .into_iter()
                .map(|(pos, message)| super::directive::ConfigWarning {
                    path: PathBuf::new(),
                    line: pos.line,
                    col: pos.col,
                    message,
                }),
        );
    order_warnings(&mut config.warnings);
    config
}

/// The directive tree of the main file's `text`, `include`s followed; Err: a syntax error
/// (in the main file or an included one), which stops the reading.
fn read_tree(text: &str, loader: &mut Loader) -> Result<(Vec<Directive>, Pos)> {
    let tokens = lexer::tokenize(text)?;
    let eof = tokens.eof;
    let tree = Tree {
        tokens: tokens.tokens.into_iter(),
        eof,
        loader,
    }
    .block(None, 0)?;
    Ok((tree, eof))
}

/// The meaning of a directive tree: the typed configuration, with its warnings.
fn interpret(tree: &[Directive], eof: Pos, reading: &Reading) -> Result<Config> {
    if reading.wiring == super::proxy::Wiring::Refuse {
        super::proxy::refuse_unwired(tree)?;
    }
    let captures = capture_names(tree);
    let proxy = super::proxy::Globals::parse(tree, reading.config_dir, &captures)?;
    let interpreter = Interpreter {
        dir: reading.config_dir,
        warnings: Default::default(),
        sources: reading.sources,
        defaults: Default::default(),
        names_seen: Default::default(),
        captures: &captures,
        proxy: &proxy,
        zones: super::limits::zones(tree)?,
        logs: std::cell::RefCell::new(super::observe::Tables::read(tree, reading.config_dir)?),
        compress: super::compress::top(tree)?,
    };
    let mut config = interpreter.main(tree, eof)?;
    config.warnings = interpreter.warnings.take();
    config.zones = interpreter.zones;
    let logs = interpreter.logs.into_inner();
    config.log_files = logs.files;
    config.log_formats = logs.formats;
    super::proxy::finish(&mut config, proxy)?;
    config.warnings.extend(super::lint::lint(tree, &config));
    config.warnings.extend(super::proxy::lint(&config));
    order_warnings(&mut config.warnings);
    Ok(config)
}

/// The meaning of a directive tree, or every error found in it (up to [`MAX_ERRORS`]).
///
/// Reading stops at the first error; to find the others, the directive that error points into
/// is dropped from the tree and the tree is read again, as often as it takes. No directive's
/// code has to know: an error in one directive never hides an error in another. What only
/// follows from a dropped directive is not reported: an error at a block that lost one of its
/// directives (`no "listen" in server` once the bad `listen` is gone), and an error at the end
/// of the file once anything was dropped.
/// `dropped`: directives were already left out of the tree (an `include` that could not be
/// followed, a misplaced `http` directive).
fn interpret_all(
    mut tree: Vec<Directive>,
    eof: Pos,
    reading: &Reading,
    mut dropped: bool,
) -> std::result::Result<Config, Vec<Error>> {
    let mut errors: Vec<Error> = Vec::new();
    // Where the blocks that lost a directive are named.
    let mut lost: Vec<Pos> = Vec::new();
    // For each directive dropped: where its block is named (None: the top level), and its
    // words as a message would quote them.
    let mut gone: Vec<(Scope, Vec<String>)> = Vec::new();
    // For each error, how many times the same message came again.
    let mut repeats: Vec<usize> = Vec::new();
    for _ in 0..256 {
        let e = match interpret(&tree, eof, reading) {
            Ok(config) if !dropped => return Ok(config),
            Ok(_) => return Err(counted(errors, &repeats)),
            Err(e) => e,
        };
        let owner = owner(&tree, e.pos);
        let blocks = owner.as_deref().map_or_else(Vec::new, |path| {
            ancestors(
                &tree,
                path.split_last().map_or(&[][..], |(_, parents)| parents),
            )
        });
        // Names a directive dropped from the same block (`no "ssl_certificate" is defined`
        // once the bad `ssl_certificate` is gone), or a location dropped from the same server
        // (`no location "@app"`).
        let names_gone = gone.iter().any(|(scope, words)| {
            let here = match scope {
                Scope::Block(b) => blocks.last().copied() == *b,
                Scope::Server(s) => blocks.first() == Some(s),
            };
            here && words.iter().any(|w| e.message.contains(w.as_str()))
        });
        let consequence = lost.contains(&e.pos) || (owner.is_none() && dropped) || names_gone;
        // The same message again (every fastcgi_param line of an included file refused
        // alike) is counted, not repeated.
        match errors.iter().position(|seen| seen.message == e.message) {
            _ if consequence => {}
            Some(i) => repeats[i] += 1,
            None => {
                errors.push(e);
                repeats.push(0);
            }
        }
        let Some(owner) = owner else {
            break;
        };
        let (parents, removed) = remove(&mut tree, &owner);
        if let Some(d) = removed {
            let quoted = std::iter::once(&d.name)
                .chain(&d.args)
                .map(|w| format!("\"{}\"", w.text))
                .collect();
            let scope = match parents.first() {
                Some(&server) if d.name.text == "location" => Scope::Server(server),
                _ => Scope::Block(parents.last().copied()),
            };
            gone.push((scope, quoted));
        }
        lost.extend(parents);
        dropped = true;
        if errors.len() > MAX_ERRORS {
            break;
        }
    }
    Err(counted(errors, &repeats))
}

/// `errors` with, on each, how many more times its message came.
fn counted(mut errors: Vec<Error>, repeats: &[usize]) -> Vec<Error> {
    for (e, &more) in errors.iter_mut().zip(repeats) {
        if more > 0 {
            let lines = if more == 1 { "line" } else { "lines" };
            e.message
                .push_str(&format!(" ({more} more {lines} like this)"));
        }
    }
    errors
}

/// Where the errors that follow from a dropped directive may be: its own block (None: the
/// top level), or anywhere in its server (a location: `try_files` and `error_page` name
/// locations across the server).
#[derive(Clone, Copy)]
enum Scope {
    Block(Option<Pos>),
    Server(Pos),
}

/// The directive `pos` points into (its name, one of its arguments, or its `;` / `{`), as
/// indexes from the top of the tree down; None for a place no directive holds (the end of the
/// file).
fn owner(tree: &[Directive], pos: Pos) -> Option<Vec<usize>> {
    for (i, d) in tree.iter().enumerate() {
        let in_word = |w: &Word| {
            w.pos.line == pos.line
                && pos.col >= w.pos.col
                // A quoted word's position is its opening quote.
                && pos.col <= w.pos.col + w.text.chars().count() + 1
        };
        if in_word(&d.name) || d.args.iter().any(in_word) || d.end == pos {
            return Some(vec![i]);
        }
        if let Some(mut path) = d.block.as_deref().and_then(|b| owner(b, pos)) {
            path.insert(0, i);
            return Some(path);
        }
    }
    None
}

/// Where the directives along `path` (indexes from the top down) are named.
fn ancestors(tree: &[Directive], path: &[usize]) -> Vec<Pos> {
    let mut out = Vec::new();
    let mut list = tree;
    for &i in path {
        let Some(d) = list.get(i) else {
            break;
        };
        out.push(d.name.pos);
        list = d.block.as_deref().unwrap_or_default();
    }
    out
}

/// Removes the directive at `path` (from [`owner`]); returns where the blocks holding it are
/// named, outermost first, and the directive.
fn remove(tree: &mut Vec<Directive>, path: &[usize]) -> (Vec<Pos>, Option<Directive>) {
    let Some((last, parents)) = path.split_last() else {
        return (Vec::new(), None);
    };
    let blocks = ancestors(tree, parents);
    let mut list = tree;
    for &i in parents {
        let Some(block) = list.get_mut(i).and_then(|d| d.block.as_mut()) else {
            return (blocks, None);
        };
        list = block;
    }
    let removed = (*last < list.len()).then(|| list.remove(*last));
    (blocks, removed)
}

// ---------------------------------------------------------------------------------------------
// Syntax: the directive tree.

/// Deeper than any valid file (main, server, location): stops a hostile file from exhausting
/// the stack.
const MAX_DEPTH: usize = 8;

struct Tree<'l, 'a> {
    tokens: std::vec::IntoIter<Token>,
    eof: Pos,
    /// Reads the files of `include` directives.
    loader: &'l mut Loader<'a>,
}

impl Tree<'_, '_> {
    /// The directives up to the end of the file (`open` None) or up to the `}` closing the block
    /// whose `{` is at `open`.
    fn block(&mut self, open: Option<Pos>, depth: usize) -> Result<Vec<Directive>> {
        let mut out = Vec::new();
        loop {
            let Some(tok) = self.tokens.next() else {
                return match open {
                    Some(_) => fail(self.eof, "unexpected end of file, expecting \"}\""),
                    None => Ok(out),
                };
            };
            let name = match tok.kind {
                TokenKind::Word(text) => Word { text, pos: tok.pos },
                TokenKind::CloseBrace if open.is_some() => return Ok(out),
                TokenKind::CloseBrace => return fail(tok.pos, "unexpected \"}\""),
                TokenKind::Semicolon => return fail(tok.pos, "unexpected \";\""),
                TokenKind::OpenBrace => return fail(tok.pos, "unexpected \"{\""),
            };
            let d = self.directive(name, depth)?;
            if d.name.text == "include" {
                self.include(&d, depth, &mut out)?;
            } else {
                out.push(d);
            }
        }
    }

    /// `include FILE | PATTERN;`: the directives of the files it names, added to `out` where
    /// the `include` stands (see `config::include`). A file that cannot be included is a
    /// recorded error, and the reading goes on without it.
    fn include(&mut self, d: &Directive, depth: usize, out: &mut Vec<Directive>) -> Result<()> {
        let arg = match (d.args.as_slice(), &d.block) {
            ([arg], None) => arg,
            (_, Some(_)) => {
                let message = "directive \"include\" is not terminated by \";\"";
                self.loader.errors.push(Error::new(d.end, message));
                return Ok(());
            }
            _ => {
                let message = "invalid number of arguments in \"include\" directive";
                self.loader.errors.push(Error::new(d.name.pos, message));
                return Ok(());
            }
        };
        for path in self.loader.resolve(&arg.text, arg.pos) {
            let Some(file) = self.loader.open(path, &arg.text, arg.pos)? else {
                continue;
            };
            let directives = Tree {
                tokens: file.tokens.into_iter(),
                eof: file.eof,
                loader: &mut *self.loader,
            }
            .block(None, depth);
            self.loader.close();
            out.extend(directives?);
        }
        Ok(())
    }

    /// The rest of a directive whose name has been read.
    fn directive(&mut self, name: Word, depth: usize) -> Result<Directive> {
        let mut args = Vec::new();
        loop {
            let Some(tok) = self.tokens.next() else {
                return fail(self.eof, "unexpected end of file, expecting \";\" or \"}\"");
            };
            match tok.kind {
                TokenKind::Word(text) => args.push(Word { text, pos: tok.pos }),
                TokenKind::Semicolon => {
                    return Ok(Directive {
                        name,
                        args,
                        block: None,
                        end: tok.pos,
                    });
                }
                TokenKind::OpenBrace => {
                    if depth >= MAX_DEPTH {
                        return fail(tok.pos, "blocks are nested too deeply");
                    }
                    let block = self.block(Some(tok.pos), depth + 1)?;
                    return Ok(Directive {
                        name,
                        args,
                        block: Some(block),
                        end: tok.pos,
                    });
                }
                TokenKind::CloseBrace => return fail(tok.pos, "unexpected \"}\""),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Meaning: which directive goes where, with how many arguments.

/// What one `server` or `location` block sets itself; None/absent means inherited.
#[derive(Default)]
struct Overrides {
    root: Option<PathBuf>,
    alias: Option<PathBuf>,
    index: Option<Vec<String>>,
    autoindex: Option<bool>,
    allow_methods: Option<Methods>,
    client_max_body_size: Option<u64>,
    error_pages: Option<Vec<ErrorPage>>,
    try_files: Option<TryFiles>,
    /// The block's own rewrite program (never inherited).
    rewrites: Vec<super::rewrite::Action>,
    internal: Option<bool>,
    cgi: Option<Vec<CgiHandler>>,
    cgi_timeout: Option<Duration>,
    upload_store: Option<PathBuf>,
    keepalive_timeout: Option<Duration>,
    client_header_timeout: Option<Duration>,
    client_body_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
    add_headers: Option<Vec<AddHeader>>,
    expires: Option<Expires>,
    compress: super::compress::Overrides,
    types: Option<std::sync::Arc<super::types::Types>>,
    default_type: Option<String>,
    real_ip: super::realip::Overrides,
    fastcgi: super::fastcgi::Overrides,
    proxy: super::proxy::ProxyOverrides,
    access: super::access::Overrides,
    limits: super::limits::Overrides,
    observe: super::observe::Overrides,
}

impl Overrides {
    /// `formats`: the log formats, for what the block's access logs need.
    fn apply_to(self, base: &Settings) -> Settings {
        let mut s = base.clone();
        s.methods_set |= self.allow_methods.is_some();
        s.proxy = self.proxy.apply_to(&base.proxy);
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { s.$field = v; } )* };
        }
        take!(
            root,
            index,
            autoindex,
            allow_methods,
            client_max_body_size,
            error_pages,
            cgi,
            cgi_timeout,
            keepalive_timeout,
            client_header_timeout,
            client_body_timeout,
            send_timeout,
            add_headers,
            expires
        );
        if self.alias.is_some() {
            s.alias = self.alias;
        }
        s.rewrites = self.rewrites;
        if let Some(internal) = self.internal {
            s.internal = internal;
        }
        if self.try_files.is_some() {
            s.try_files = self.try_files;
        }
        if self.upload_store.is_some() {
            s.upload_store = self.upload_store;
        }
        if self.types.is_some() {
            s.types = self.types;
        }
        if self.default_type.is_some() {
            s.default_type = self.default_type;
        }
        s.real_ip = self.real_ip.apply_to(&base.real_ip);
        s.fastcgi = self.fastcgi.apply_to(&base.fastcgi);
        self.access.apply_to(&mut s.access);
        self.limits.apply_to(&mut s.limits);
        self.observe.apply_to(&mut s.observe);
        self.compress.apply_to(&mut s.compress);
        s
    }
}

struct Interpreter<'a> {
    dir: &'a Path,
    /// Warnings found while reading (a `types` extension given twice, refused lines of user
    /// files), in file order.
    warnings: std::cell::RefCell<Vec<super::directive::ConfigWarning>>,
    /// Every file read, to say where a position is.
    sources: &'a Sources,
    /// The `listen ... default_server` lines so far: each address has at most one.
    defaults: std::cell::RefCell<Vec<(SocketAddr, Pos)>>,
    /// The server names of each address so far, and where the first is written.
    names_seen: std::cell::RefCell<std::collections::HashMap<(SocketAddr, String), Pos>>,
    /// The group names of every location regular expression in the file (`$name` variables).
    captures: &'a [String],
    /// The `upstream` and `map` blocks, read before the servers.
    proxy: &'a super::proxy::Globals,
    /// `limit_req_zone` and `limit_conn_zone`, read first (`limit_req` may name a later one).
    zones: Vec<super::limits::Zone>,
    /// `log_format` and the log files, read first; server and location `access_log` lines
    /// add files.
    logs: std::cell::RefCell<super::observe::Tables>,
    /// The compression directives of the top level, every server's starting point.
    compress: super::compress::Compress,
}

/// A location block read, before its settings are resolved against its parents'.
struct LocationBlock {
    path: String,
    kind: LocationKind,
    regex: Option<regex::Regex>,
    overrides: Overrides,
    parent: Option<LocationId>,
    nested: Vec<LocationId>,
    /// An `alias` with variables in a regular-expression location.
    alias_template: Option<Template>,
}

impl Interpreter<'_> {
    /// Records a warning about the word at `pos`.
    fn warn(&self, pos: Pos, message: impl Into<String>) {
        self.warnings
            .borrow_mut()
            .push(super::directive::ConfigWarning {
                path: PathBuf::new(),
                line: pos.line,
                col: pos.col,
                message: message.into(),
            });
    }

    /// Where `pos` is, for a message about another place: `FILE:LINE`.
    fn place(&self, pos: Pos) -> String {
        let (file, line) = self.sources.locate(pos.line);
        format!("{}:{line}", file.display())
    }

    fn main(&self, tree: &[Directive], eof: Pos) -> Result<Config> {
        let mut workers = None;
        let mut error_log = None;
        let mut error_log_level = None;
        let mut servers = Vec::new();
        let mut listens = Vec::new();
        // Issuers first: a server may name one defined further down.
        let mut issuers: Vec<AcmeIssuer> = Vec::new();
        let mut state_at = Vec::new();
        // And the top level's settings, which every server inherits wherever they are written.
        let mut http = Overrides::default();
        for d in tree {
            check(d, MAIN)?;
            match d.name.text.as_str() {
                "acme_issuer" => {
                    let (issuer, at) = acme::issuer(d, self.dir, &issuers)?;
                    issuers.push(issuer);
                    state_at.push(at);
                }
                "acme_shared_zone" => acme::shared_zone(d)?,
                // Read before the servers (`Interpreter::logs`, `Interpreter::compress`).
                "access_log" => {}
                name if super::compress::NAMES.contains(&name) => {}
                _ if is_setting(d) => self.setting(&mut http, d)?,
                _ => {}
            }
        }
        let mut base = http.apply_to(&Settings::defaults(self.dir));
        base.observe.logs = std::sync::Arc::clone(&self.logs.borrow().top);
        base.compress = self.compress.clone();
        let mut certificates = Vec::new();
        for d in tree {
            match d.name.text.as_str() {
                "acme_issuer" | "acme_shared_zone" => {}
                "workers" | "worker_processes" => {
                    if workers.is_some() {
                        return duplicate(d);
                    }
                    workers = Some(parse_workers(&d.args[0])?);
                }
                "error_log" => {
                    if error_log.is_some() {
                        return duplicate(d);
                    }
                    error_log = Some(self.log_target(&d.args[0])?);
                    if let Some(level) = d.args.get(1) {
                        error_log_level = Some(parse_log_level(level)?);
                    }
                }
                // Read before the servers (`Interpreter::zones`, `Interpreter::logs`).
                "limit_req_zone" | "limit_conn_zone" | "log_format" => {}
                "server" => {
                    let (server, acme_at) = self.server(d, &mut listens, &issuers, &base)?;
                    if let (Some(cert), Some(at)) = (&server.acme, acme_at) {
                        certificates.push((cert.clone(), at));
                    }
                    servers.push(server);
                }
                // Settings, read above.
                _ => {}
            }
        }
        if servers.is_empty() {
            return fail(eof, "no \"server\" block in the configuration");
        }
        acme::check_states(&issuers, &state_at, &certificates)?;
        Ok(Config {
            path: PathBuf::new(),
            workers: match workers {
                Some(n) => n,
                None => auto_workers(),
            },
            error_log: error_log.unwrap_or(LogTarget::Stderr),
            error_log_level: error_log_level.unwrap_or(LogLevel::Notice),
            servers,
            acme_issuers: issuers,
            upstreams: Vec::new(),
            maps: Vec::new(),
            warnings: Vec::new(),
            zones: Vec::new(),
            log_files: Vec::new(),
            log_formats: Vec::new(),
        })
    }

    /// One `server` block. `listens`: every listen address of the servers before it, with its
    /// `ssl` flag and where it is written (an address is TLS or not for all its servers).
    /// Also returns where its `acme_certificate` is, if it has one.
    fn server(
        &self,
        d: &Directive,
        listens: &mut Vec<(SocketAddr, super::listen::Params, Pos)>,
        issuers: &[AcmeIssuer],
        base: &Settings,
    ) -> Result<(Server, Option<Pos>)> {
        let mut listen: Vec<SocketAddr> = Vec::new();
        let mut ssl = Vec::new();
        let mut proxy_protocol = Vec::new();
        let mut first_ssl: Option<Pos> = None;
        let mut certificate: Option<&Word> = None;
        let mut certificate_key: Option<&Word> = None;
        let mut server_names = Vec::new();
        let mut names = Vec::new();
        // Each name's key and where it is written (for names given twice on one address).
        let mut name_at: Vec<(String, Pos)> = Vec::new();
        let mut default_server = Vec::new();
        let mut acme_directive: Option<&Directive> = None;
        let mut client_certificate: Option<&Word> = None;
        let mut verify_client: Option<(Option<VerifyClient>, Pos)> = None;
        let mut verify_depth: Option<usize> = None;
        let mut http2: Option<bool> = None;
        let mut own = Overrides::default();
        let mut locations: Vec<LocationBlock> = Vec::new();
        let mut top_locations = Vec::new();
        for c in d.block.as_deref().unwrap_or_default() {
            check(c, SERVER)?;
            match c.name.text.as_str() {
                "listen" => {
                    let arg = &c.args[0];
                    let addr = parse_listen(arg)?;
                    if listen.contains(&addr) {
                        return fail(arg.pos, format!("duplicate listen {addr}"));
                    }
                    let (params, own) =
                        super::listen::params(&c.args[1..], &mut |pos, message| {
                            self.warn(pos, message)
                        })?;
                    super::listen::agree(addr, params, arg.pos, listens, self.sources)?;
                    let is_ssl = params.ssl;
                    if params.proxy_protocol {
                        proxy_protocol.push(addr);
                    }
                    // nginx 1.22's `listen ... http2`: a TLS address speaks HTTP/2 here unless
                    // its server says `http2 off`; a plain one needs `http2 on` (per server).
                    if own.http2 && !is_ssl {
                        self.warn(
                            arg.pos,
                            "\"http2\" of \"listen\" has no effect on a plain address: write \
                             \"http2 on;\" in the server for HTTP/2 without TLS",
                        );
                    }
                    if own.default_server {
                        let mut defaults = self.defaults.borrow_mut();
                        if let Some((_, first)) = defaults.iter().find(|(a, _)| *a == addr) {
                            return fail(
                                arg.pos,
                                format!(
                                    "a duplicate default server for {addr} (the first is at {})",
                                    self.place(*first)
                                ),
                            );
                        }
                        defaults.push((addr, arg.pos));
                        default_server.push(addr);
                    }
                    listens.push((addr, params, arg.pos));
                    if is_ssl {
                        ssl.push(addr);
                        first_ssl.get_or_insert(arg.pos);
                    }
                    listen.push(addr);
                }
                "ssl_certificate" | "ssl_certificate_key" => {
                    let slot = if c.name.text == "ssl_certificate" {
                        &mut certificate
                    } else {
                        &mut certificate_key
                    };
                    if slot.is_some() {
                        return duplicate(c);
                    }
                    if c.args[0].text.is_empty() {
                        return fail(c.args[0].pos, "invalid path \"\"");
                    }
                    *slot = Some(&c.args[0]);
                }
                "server_name" => {
                    for a in &c.args {
                        let (parsed, warning) =
                            super::names::parse(&a.text, a.pos, &super::names::hostname)?;
                        if let Some(warning) = warning {
                            self.warn(a.pos, warning);
                        }
                        let written = match &parsed[..] {
                            [ServerName::Regex(_)] => a.text.clone(),
                            [ServerName::Exact(name), ..] => name.clone(),
                            _ => a.text.to_ascii_lowercase(),
                        };
                        server_names.push(written);
                        name_at.extend(parsed.iter().map(|n| (n.key(), a.pos)));
                        names.extend(parsed);
                    }
                }
                "http2" => {
                    if http2.is_some() {
                        return duplicate(c);
                    }
                    http2 = Some(parse_on_off(&c.args[0], "http2")?);
                }
                "acme_certificate" => {
                    if acme_directive.is_some() {
                        return duplicate(c);
                    }
                    acme_directive = Some(c);
                }
                "ssl_client_certificate" => {
                    if client_certificate.is_some() {
                        return duplicate(c);
                    }
                    client_certificate = Some(&c.args[0]);
                }
                "ssl_verify_client" => {
                    if verify_client.is_some() {
                        return duplicate(c);
                    }
                    let a = &c.args[0];
                    let mode = VerifyClient::from_name(&a.text);
                    if mode.is_none() && a.text != "off" {
                        return fail(
                            a.pos,
                            format!(
                                "invalid value \"{}\" in \"ssl_verify_client\" directive, it \
                                 must be \"on\", \"off\", \"optional\" or \"optional_no_ca\"",
                                a.text
                            ),
                        );
                    }
                    verify_client = Some((mode, c.name.pos));
                }
                "ssl_verify_depth" => {
                    if verify_depth.is_some() {
                        return duplicate(c);
                    }
                    let a = &c.args[0];
                    match parse_decimal(&a.text) {
                        Some(n) if n <= 100 => verify_depth = Some(n as usize),
                        _ => {
                            return fail(
                                a.pos,
                                format!(
                                    "invalid value \"{}\" in \"ssl_verify_depth\" directive, \
                                     it must be a number from 0 to 100",
                                    a.text
                                ),
                            );
                        }
                    }
                }
                "location" => {
                    let id = self.location(c, None, &mut locations)?;
                    top_locations.push(id);
                }
                _ => self.setting(&mut own, c)?,
            }
        }
        if listen.is_empty() {
            return fail(d.name.pos, "no \"listen\" in server");
        }
        {
            let mut seen = self.names_seen.borrow_mut();
            for &addr in &listen {
                for (key, at) in &name_at {
                    if let Some(first) = seen.get(&(addr, key.clone()))
                        && *first != *at
                    {
                        self.warn(
                            *at,
                            format!(
                                "conflicting server name \"{key}\" on {addr}, ignored (the \
                                 server at {} has it)",
                                self.place(*first)
                            ),
                        );
                    } else {
                        seen.insert((addr, key.clone()), *at);
                    }
                }
            }
        }
        let acme = match acme_directive {
            Some(c) => Some(acme::certificate(c, issuers, &server_names, first_ssl)?),
            None => None,
        };
        // nginx's `ssl_certificate $acme_certificate; ssl_certificate_key $acme_certificate_key;`
        // names the ACME certificate, which webserv serves without them.
        let acme_variable = |w: Option<&Word>, name: &str| w.is_some_and(|w| w.text == name);
        let (certificate, certificate_key) = if acme_variable(certificate, "$acme_certificate")
            || acme_variable(certificate_key, "$acme_certificate_key")
        {
            match (acme.is_some(), certificate, certificate_key) {
                (true, Some(c), Some(k))
                    if c.text == "$acme_certificate" && k.text == "$acme_certificate_key" =>
                {
                    (None, None)
                }
                (true, _, _) => {
                    let at = certificate
                        .or(certificate_key)
                        .map_or(d.name.pos, |w| w.pos);
                    return fail(
                        at,
                        "\"$acme_certificate\" and \"$acme_certificate_key\" go together",
                    );
                }
                (false, _, _) => {
                    let at = certificate
                        .or(certificate_key)
                        .map_or(d.name.pos, |w| w.pos);
                    return fail(
                        at,
                        "\"$acme_certificate\" needs \"acme_certificate\" in the same server",
                    );
                }
            }
        } else {
            (certificate, certificate_key)
        };
        if let (Some(c), Some(_)) = (certificate, &acme) {
            return fail(
                c.pos,
                "\"ssl_certificate\" and \"acme_certificate\" cannot both give the server's \
                 certificate",
            );
        }
        let ssl_needs_file = if acme.is_some() { None } else { first_ssl };
        let tls = self.tls(certificate, certificate_key, ssl_needs_file)?;
        let client_auth = match verify_client {
            Some((Some(mode), at)) => {
                if first_ssl.is_none() {
                    return fail(
                        at,
                        "\"ssl_verify_client\" needs a \"listen ... ssl\" in its server",
                    );
                }
                let file = match client_certificate {
                    Some(w) => Some(self.path(w)?),
                    None if mode == VerifyClient::OptionalNoCa => None,
                    None => {
                        return fail(at, "no ssl_client_certificate for ssl_verify_client");
                    }
                };
                match tls_files::client_auth(file.as_deref(), mode, verify_depth.unwrap_or(1)) {
                    Ok(auth) => Some(std::sync::Arc::new(auth)),
                    Err(message) => {
                        let at = client_certificate.map_or(at, |w| w.pos);
                        return fail(at, message);
                    }
                }
            }
            _ => None,
        };
        // allow_methods given by the server, or by the top level (what differs from the
        // default there was written).
        let server_methods = own.allow_methods.is_some()
            || base.allow_methods != Settings::defaults(self.dir).allow_methods;
        let settings = own.apply_to(base);
        // Parents come before the blocks nested in them: each inherits from one already done.
        let mut resolved: Vec<Location> = Vec::with_capacity(locations.len());
        // What each location's nested blocks inherit of `allow_methods` (its own setting, or
        // what it inherited: never the every-method default of a proxied or FastCGI location),
        // and whether that was set in the file.
        let mut methods: Vec<(Methods, bool)> = Vec::with_capacity(locations.len());
        for block in locations {
            let (inherited, set) = match block.parent {
                Some(parent) => methods[parent],
                None => (settings.allow_methods, server_methods),
            };
            let mut parent_settings;
            let base = match block.parent {
                Some(parent) if resolved[parent].settings.allow_methods != inherited => {
                    parent_settings = resolved[parent].settings.clone();
                    parent_settings.allow_methods = inherited;
                    &parent_settings
                }
                Some(parent) => &resolved[parent].settings,
                None => &settings,
            };
            let own_methods = block.overrides.allow_methods;
            let own_alias = block.overrides.alias.is_some();
            let alias_template = block.alias_template;
            let mut settings = block.overrides.apply_to(base);
            methods.push((settings.allow_methods, set || own_methods.is_some()));
            super::proxy::default_methods(&mut settings, set || own_methods.is_some());
            super::fastcgi::default_methods(&mut settings, set || own_methods.is_some());
            if own_alias {
                settings.alias_prefix = block.path.clone();
                settings.alias_template = alias_template;
            }
            resolved.push(Location {
                path: block.path,
                kind: block.kind,
                regex: block.regex,
                settings,
                nested: block.nested,
            });
        }
        let auto_redirect = resolved.iter().any(|l| {
            matches!(
                l.kind,
                LocationKind::Prefix | LocationKind::PrefixFinal | LocationKind::Exact
            ) && l.path.ends_with('/')
                && l.settings.fastcgi.pass.is_some()
        });
        let server = Server {
            listen,
            ssl,
            proxy_protocol,
            tls,
            acme,
            client_auth,
            server_names,
            names,
            default_server,
            http2,
            settings,
            locations: resolved,
            top_locations,
            auto_redirect,
        };
        check_named_targets(d, &server)?;
        Ok((server, acme_directive.map(|c| c.name.pos)))
    }

    /// One `location` block (and the blocks nested in it), checked against its parent as nginx
    /// does, added to `out`; returns its id.
    fn location(
        &self,
        d: &Directive,
        parent: Option<LocationId>,
        out: &mut Vec<LocationBlock>,
    ) -> Result<LocationId> {
        let (path, kind, pos) = location_path(d)?;
        let shown = |kind: LocationKind, path: &str| kind.display(path);
        if let Some(p) = parent.map(|p| &out[p]) {
            let (this, that) = (shown(kind, &path), shown(p.kind, &p.path));
            if p.kind == LocationKind::Exact {
                return fail(
                    pos,
                    format!("location \"{this}\" cannot be inside the exact location \"{that}\""),
                );
            }
            if p.kind == LocationKind::Named {
                return fail(
                    pos,
                    format!("location \"{this}\" cannot be inside the named location \"{that}\""),
                );
            }
            if kind == LocationKind::Named {
                return fail(
                    pos,
                    format!("named location \"{this}\" can be on the server level only"),
                );
            }
            let inside = match (kind, p.kind) {
                (LocationKind::Regex | LocationKind::RegexCaseless, _) => true,
                (_, LocationKind::Prefix | LocationKind::PrefixFinal) => {
                    super::model::prefix_matches(&p.path, &path)
                }
                // nginx compares the nested name with the expression's text.
                _ => path.starts_with(&p.path),
            };
            if !inside {
                return fail(
                    pos,
                    format!("location \"{this}\" is outside location \"{that}\""),
                );
            }
        }
        let siblings: &[LocationId] = match parent {
            Some(p) => &out[p].nested,
            None => &[],
        };
        let same_class = |a: LocationKind, b: LocationKind| {
            let class = |k| match k {
                LocationKind::Prefix | LocationKind::PrefixFinal => 0,
                LocationKind::Exact => 1,
                LocationKind::Named => 2,
                LocationKind::Regex | LocationKind::RegexCaseless => 3,
            };
            class(a) == class(b) && class(a) != 3
        };
        let duplicate = match parent {
            Some(_) => siblings
                .iter()
                .any(|&s| out[s].path == path && same_class(out[s].kind, kind)),
            None => out
                .iter()
                .any(|b| b.parent.is_none() && b.path == path && same_class(b.kind, kind)),
        };
        if duplicate {
            return fail(
                pos,
                format!("duplicate location \"{}\"", shown(kind, &path)),
            );
        }
        let regex = match kind {
            LocationKind::Regex | LocationKind::RegexCaseless => Some(compile_regex(
                &path,
                kind == LocationKind::RegexCaseless,
                pos,
            )?),
            _ => None,
        };
        let id = out.len();
        out.push(LocationBlock {
            path,
            kind,
            regex,
            overrides: Overrides::default(),
            parent,
            nested: Vec::new(),
            alias_template: None,
        });
        if let Some(p) = parent {
            out[p].nested.push(id);
        }
        let mut overrides = Overrides::default();
        for l in d.block.as_deref().unwrap_or_default() {
            check(l, LOCATION)?;
            if l.name.text == "location" {
                self.location(l, Some(id), out)?;
            } else {
                self.setting(&mut overrides, l)?;
            }
        }
        if out[id].regex.is_some()
            && let Some(w) = d
                .block
                .iter()
                .flatten()
                .find(|l| l.name.text == "alias")
                .and_then(|l| l.args.first())
        {
            let template = parse_template(w, self.captures)?;
            if template.has_variables() {
                // Relative to the configuration's directory, as every path; the directory is
                // literal text (it may hold a `$`).
                let dir = if Path::new(&w.text).is_absolute() || w.text.starts_with('$') {
                    String::new()
                } else {
                    format!("{}/", self.dir.display())
                };
                out[id].alias_template = Some(Template::prefixed(&dir, template));
            }
        }
        out[id].overrides = overrides;
        Ok(id)
    }

    /// One directive of the settings family, already `check`ed for its block.
    fn setting(&self, o: &mut Overrides, d: &Directive) -> Result<()> {
        let args = &d.args;
        match d.name.text.as_str() {
            "root" | "alias" => {
                let (slot, other, other_name) = if d.name.text == "root" {
                    (&mut o.root, &o.alias, "alias")
                } else {
                    (&mut o.alias, &o.root, "root")
                };
                if slot.is_some() {
                    return duplicate(d);
                }
                if other.is_some() {
                    return fail(
                        d.name.pos,
                        format!(
                            "\"{}\" directive is duplicate, \"{other_name}\" directive was \
                             specified earlier",
                            d.name.text
                        ),
                    );
                }
                *slot = Some(self.path(&args[0])?);
            }
            "index" => {
                let list = o.index.get_or_insert_with(Vec::new);
                for a in args {
                    if a.text.is_empty() {
                        return fail(a.pos, "index \"\" in \"index\" directive is invalid");
                    }
                    list.push(a.text.clone());
                }
            }
            "autoindex" => {
                if o.autoindex.is_some() {
                    return duplicate(d);
                }
                let a = &args[0];
                o.autoindex = Some(match a.text.to_ascii_lowercase().as_str() {
                    "on" => true,
                    "off" => false,
                    _ => {
                        return fail(
                            a.pos,
                            format!(
                                "invalid value \"{}\" in \"autoindex\" directive, it must be \
                                 \"on\" or \"off\"",
                                a.text
                            ),
                        );
                    }
                });
            }
            "allow_methods" => {
                if o.allow_methods.is_some() {
                    return duplicate(d);
                }
                let mut methods = Methods::NONE;
                for a in args {
                    let Some(m) = Methods::from_name(&a.text) else {
                        return fail(a.pos, format!("unknown method \"{}\"", a.text));
                    };
                    methods = methods.union(m);
                }
                o.allow_methods = Some(methods);
            }
            "client_max_body_size" => {
                if o.client_max_body_size.is_some() {
                    return duplicate(d);
                }
                o.client_max_body_size = Some(parse_size(&args[0])?);
            }
            "error_page" => {
                let list = o.error_pages.get_or_insert_with(Vec::new);
                list.extend(parse_error_page(d)?);
            }
            "try_files" => {
                if o.try_files.is_some() {
                    return duplicate(d);
                }
                o.try_files = Some(self.try_files(args)?);
            }
            "return" => {
                let action = super::rewrite::Action::Return(parse_return(args, self.captures)?);
                o.rewrites.push(action);
            }
            "rewrite" => {
                let rewrite = super::rewrite::rewrite(args, self.captures)?;
                o.rewrites.push(super::rewrite::Action::Rewrite(rewrite));
            }
            "set" => o.rewrites.push(super::rewrite::set(args, self.captures)?),
            "break" => o.rewrites.push(super::rewrite::Action::Break),
            "internal" => {
                if o.internal.is_some() {
                    return duplicate(d);
                }
                o.internal = Some(true);
            }
            "cgi" => {
                let ext = &args[0];
                if ext.text.len() < 2 || !ext.text.starts_with('.') || ext.text.contains('/') {
                    return fail(
                        ext.pos,
                        format!(
                            "invalid CGI extension \"{}\", it must start with \".\"",
                            ext.text
                        ),
                    );
                }
                let list = o.cgi.get_or_insert_with(Vec::new);
                if list.iter().any(|h| h.extension == ext.text) {
                    return fail(ext.pos, format!("duplicate CGI extension \"{}\"", ext.text));
                }
                let interpreter = match args.get(1) {
                    Some(a) => Some(self.interpreter(a)?),
                    None => None,
                };
                list.push(CgiHandler {
                    extension: ext.text.clone(),
                    interpreter,
                });
            }
            "upload_store" => {
                if o.upload_store.is_some() {
                    return duplicate(d);
                }
                o.upload_store = Some(self.path(&args[0])?);
            }
            "add_header" => {
                let header = parse_add_header(args)?;
                o.add_headers.get_or_insert_with(Vec::new).push(header);
            }
            "expires" => {
                if o.expires.is_some() {
                    return duplicate(d);
                }
                o.expires = Some(parse_expires(&args[0])?);
            }
            name if super::compress::NAMES.contains(&name) => {
                super::compress::setting(&mut o.compress, d)?;
            }
            "types" => {
                if o.types.is_some() {
                    return duplicate(d);
                }
                let mut found = Vec::new();
                o.types = Some(std::sync::Arc::new(super::types::parse(d, &mut found)?));
                self.warnings
                    .borrow_mut()
                    .extend(found.into_iter().map(|(pos, message)| {
                        super::directive::ConfigWarning {
                            path: PathBuf::new(),
                            line: pos.line,
                            col: pos.col,
                            message,
                        }
                    }));
            }
            "default_type" => {
                if o.default_type.is_some() {
                    return duplicate(d);
                }
                o.default_type = Some(super::types::media_type(&args[0], "default_type")?);
            }
            "set_real_ip_from" | "real_ip_header" | "real_ip_recursive" => {
                super::realip::directive(&mut o.real_ip, d)?;
            }
            name if super::fastcgi::NAMES.contains(&name) => {
                super::fastcgi::directive(&mut o.fastcgi, d, self.proxy, self.captures)?;
            }
            name if super::observe::NAMES.contains(&name) => {
                let mut logs = self.logs.borrow_mut();
                super::observe::setting(&mut o.observe, d, self.dir, &mut logs)?;
            }
            name if super::limits::NAMES.contains(&name) => {
                super::limits::setting(&mut o.limits, d, &self.zones)?;
            }
            name if super::access::NAMES.contains(&name) => {
                super::access::setting(
                    &mut o.access,
                    d,
                    self.dir,
                    &mut self.warnings.borrow_mut(),
                )?;
            }
            name if super::proxy::is_setting(name) => {
                super::proxy::setting(&mut o.proxy, d, self.proxy)?;
            }
            name => {
                let slot = match name {
                    "cgi_timeout" => &mut o.cgi_timeout,
                    "keepalive_timeout" => &mut o.keepalive_timeout,
                    "client_header_timeout" => &mut o.client_header_timeout,
                    "client_body_timeout" => &mut o.client_body_timeout,
                    "send_timeout" => &mut o.send_timeout,
                    _ => {
                        return fail(
                            d.name.pos,
                            format!("\"{name}\" directive is not allowed here"),
                        );
                    }
                };
                if slot.is_some() {
                    return duplicate(d);
                }
                *slot = Some(parse_duration(&args[0])?);
            }
        }
        Ok(())
    }

    /// The certificate and key of a server, loaded and checked. `ssl_at`: its first `listen ...
    /// ssl`, which needs both.
    fn tls(
        &self,
        certificate: Option<&Word>,
        key: Option<&Word>,
        ssl_at: Option<Pos>,
    ) -> Result<Option<Tls>> {
        let (certificate, key) = match (certificate, key, ssl_at) {
            (Some(c), Some(k), _) => (c, k),
            (None, _, Some(at)) => {
                return fail(
                    at,
                    "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
                );
            }
            (Some(c), None, _) => {
                return fail(
                    c.pos,
                    format!(
                        "no \"ssl_certificate_key\" is defined for certificate \"{}\"",
                        c.text
                    ),
                );
            }
            (None, Some(k), None) => {
                return fail(
                    k.pos,
                    "\"ssl_certificate_key\" is defined without \"ssl_certificate\"",
                );
            }
            (None, None, None) => return Ok(None),
        };
        let (certificate_path, key_path) = (self.path(certificate)?, self.path(key)?);
        match tls_files::load(&certificate_path, &key_path) {
            Ok(tls) => Ok(Some(tls)),
            Err((Part::Certificate, message)) => fail(certificate.pos, message),
            Err((Part::Key, message)) => fail(key.pos, message),
        }
    }

    /// A file system path, relative ones joined to the config directory.
    fn path(&self, w: &Word) -> Result<PathBuf> {
        if w.text.is_empty() {
            return fail(w.pos, "invalid path \"\"");
        }
        Ok(super::directive::clean(&self.dir.join(&w.text)))
    }

    /// `try_files FILE ... LAST`: LAST is a URI, `@NAME` or `=CODE`.
    fn try_files(&self, args: &[Word]) -> Result<TryFiles> {
        let Some((last, files)) = args.split_last() else {
            return fail(Pos { line: 1, col: 1 }, "invalid number of arguments");
        };
        let mut templates = Vec::with_capacity(files.len());
        for f in files {
            if f.text.is_empty() {
                return fail(f.pos, "invalid file \"\" in \"try_files\" directive");
            }
            let t = parse_template(f, self.captures)?;
            if t.starts_with("@") || t.starts_with("=") {
                return fail(
                    f.pos,
                    format!(
                        "\"{}\" can only be the last argument of \"try_files\" (the fallback)",
                        f.text
                    ),
                );
            }
            templates.push(t);
        }
        let fallback = if let Some(code) = last.text.strip_prefix('=') {
            let w = Word {
                text: code.to_string(),
                pos: Pos {
                    line: last.pos.line,
                    col: last.pos.col + 1,
                },
            };
            TryFallback::Code(parse_code(&w, 200, 599)?)
        } else if last.text.starts_with('@') {
            check_location_name(last)?;
            TryFallback::Named(last.text.clone())
        } else if last.text.starts_with('/') || last.text.starts_with('$') {
            TryFallback::Uri(parse_template(last, self.captures)?)
        } else {
            return fail(
                last.pos,
                format!(
                    "invalid fallback \"{}\" of \"try_files\": the last argument must be a URI \
                     (\"/index.php?$args\"), a named location (\"@app\") or a status (\"=404\")",
                    last.text
                ),
            );
        };
        Ok(TryFiles {
            files: templates,
            fallback,
        })
    }

    /// An absolute path is kept, a relative one with a `/` is relative to the config directory,
    /// and a bare name (`python3`) is kept for a `PATH` search.
    fn interpreter(&self, w: &Word) -> Result<PathBuf> {
        if w.text.is_empty() {
            return fail(w.pos, "invalid interpreter \"\"");
        }
        let p = Path::new(&w.text);
        Ok(if p.is_absolute() || !w.text.contains('/') {
            p.to_path_buf()
        } else {
            super::directive::clean(&self.dir.join(p))
        })
    }

    fn log_target(&self, w: &Word) -> Result<LogTarget> {
        Ok(match w.text.as_str() {
            "off" => LogTarget::Off,
            "stdout" => LogTarget::Stdout,
            "stderr" => LogTarget::Stderr,
            _ => LogTarget::File(self.path(w)?),
        })
    }
}

fn auto_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_WORKERS)
}

const MAX_WORKERS: usize = 256;

fn parse_workers(w: &Word) -> Result<usize> {
    if w.text == "auto" {
        return Ok(auto_workers());
    }
    match parse_decimal(&w.text) {
        Some(n) if (1..=MAX_WORKERS as u64).contains(&n) => Ok(n as usize),
        _ => fail(
            w.pos,
            format!(
                "invalid value \"{}\" in \"workers\" directive, it must be \"auto\" or a number \
                 from 1 to {MAX_WORKERS}",
                w.text
            ),
        ),
    }
}

/// `location [= | ^~ | ~ | ~*] PATH` (the modifier may be glued to the path, `=/x`, as nginx
/// accepts) or `location @NAME`: the path, its kind, and where the path is written.
fn location_path(d: &Directive) -> Result<(String, LocationKind, Pos)> {
    const MODIFIERS: [(&str, LocationKind); 4] = [
        ("=", LocationKind::Exact),
        ("^~", LocationKind::PrefixFinal),
        ("~*", LocationKind::RegexCaseless),
        ("~", LocationKind::Regex),
    ];
    let (path, kind, pos) = match d.args.as_slice() {
        [m, p] => match MODIFIERS.iter().find(|(text, _)| *text == m.text) {
            Some((_, kind)) => (p.text.as_str(), *kind, p.pos),
            None => {
                return fail(m.pos, format!("invalid location modifier \"{}\"", m.text));
            }
        },
        [p] => match MODIFIERS.iter().find(|(text, _)| p.text.starts_with(text)) {
            Some((text, kind)) => (
                &p.text[text.len()..],
                *kind,
                Pos {
                    line: p.pos.line,
                    col: p.pos.col + text.chars().count(),
                },
            ),
            None if p.text.starts_with('@') => (p.text.as_str(), LocationKind::Named, p.pos),
            None => (p.text.as_str(), LocationKind::Prefix, p.pos),
        },
        _ => {
            return fail(
                d.name.pos,
                "invalid number of arguments in \"location\" directive",
            );
        }
    };
    match kind {
        LocationKind::Regex | LocationKind::RegexCaseless if path.is_empty() => {
            return fail(pos, "empty regular expression in \"location\"");
        }
        LocationKind::Named => check_location_name(&Word {
            text: path.to_string(),
            pos,
        })?,
        LocationKind::Regex | LocationKind::RegexCaseless => {}
        _ if !path.starts_with('/') => {
            return fail(
                pos,
                format!("invalid location \"{path}\", it must start with \"/\""),
            );
        }
        _ => {}
    }
    Ok((path.to_string(), kind, pos))
}

/// `@NAME`: at least one character after `@`.
fn check_location_name(w: &Word) -> Result<()> {
    if w.text.len() < 2 || w.text.contains('/') {
        return fail(w.pos, format!("invalid location name \"{}\"", w.text));
    }
    Ok(())
}

/// Compiles a location's regular expression, an error at the expression when it does not.
/// The `regex` crate matches in time linear in the path, whatever the expression: no request
/// can make a worker backtrack for long (nginx's PCRE can).
fn compile_regex(source: &str, caseless: bool, pos: Pos) -> Result<regex::Regex> {
    regex::RegexBuilder::new(source)
        .case_insensitive(caseless)
        .size_limit(1 << 20)
        .build()
        .or_else(|e| {
            fail(
                pos,
                format!(
                    "invalid regular expression \"{source}\": {}",
                    regex_message(&e)
                ),
            )
        })
}

/// The group names of every location and `server_name` regular expression in the file, and
/// the names `set` gives, for `$name` variables (nginx makes each a variable, wherever it is
/// used).
/// Expressions that do not compile are skipped here: they are reported where they are written.
fn capture_names(tree: &[Directive]) -> Vec<String> {
    fn add(names: &mut Vec<String>, name: &str) {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    let mut names = Vec::new();
    let mut stack: Vec<&Directive> = tree.iter().collect();
    while let Some(d) = stack.pop() {
        let mut regexes = Vec::new();
        if d.name.text == "location"
            && let Ok((path, kind, pos)) = location_path(d)
            && matches!(kind, LocationKind::Regex | LocationKind::RegexCaseless)
            && let Ok(regex) = compile_regex(&path, false, pos)
        {
            regexes.push(regex);
        }
        if d.name.text == "server_name" {
            for a in &d.args {
                if let Some(source) = a.text.strip_prefix('~')
                    && let Ok(regex) = compile_regex(source, true, a.pos)
                {
                    regexes.push(regex);
                }
            }
        }
        for regex in &regexes {
            for name in regex.capture_names().flatten() {
                add(&mut names, name);
            }
        }
        if let Some(name) = super::rewrite::set_names(d) {
            add(&mut names, name);
        }
        stack.extend(d.block.iter().flatten());
    }
    names
}

/// Every named location that a `try_files` or an `error_page` of the server (or of its
/// locations) names must exist in the server: an error at the reference otherwise (nginx
/// finds out only when a request takes that path, and answers 500).
fn check_named_targets(d: &Directive, server: &Server) -> Result<()> {
    let mut stack: Vec<&Directive> = d.block.iter().flatten().collect();
    while let Some(c) = stack.pop() {
        let target = match c.name.text.as_str() {
            "try_files" | "error_page" => c.args.last(),
            _ => None,
        };
        if let Some(w) = target.filter(|w| w.text.starts_with('@'))
            && server.named_location(&w.text).is_none()
        {
            return fail(w.pos, format!("no location \"{}\" in this server", w.text));
        }
        stack.extend(c.block.iter().flatten());
    }
    Ok(())
}

/// `[HOST:]PORT` with HOST an IPv4 literal, `[IPv6]`, `*` or `localhost`.
fn parse_listen(w: &Word) -> Result<SocketAddr> {
    let s = w.text.as_str();
    let host_not_found = || {
        fail(
            w.pos,
            format!("host not found in \"{s}\" of the \"listen\" directive"),
        )
    };
    let (ip, port): (IpAddr, &str) = if let Some(rest) = s.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return host_not_found();
        };
        let Ok(ip) = host.parse::<Ipv6Addr>() else {
            return host_not_found();
        };
        let Some(port) = after.strip_prefix(':') else {
            return fail(
                w.pos,
                format!("invalid port in \"{s}\" of the \"listen\" directive"),
            );
        };
        (IpAddr::V6(ip), port)
    } else if let Some((host, port)) = s.rsplit_once(':') {
        let ip = if host == "*" {
            Ipv4Addr::UNSPECIFIED
        } else if host.eq_ignore_ascii_case("localhost") {
            Ipv4Addr::LOCALHOST
        } else {
            match host.parse::<Ipv4Addr>() {
                Ok(ip) => ip,
                Err(_) => return host_not_found(),
            }
        };
        (IpAddr::V4(ip), port)
    } else {
        (IpAddr::V4(Ipv4Addr::UNSPECIFIED), s)
    };
    match parse_decimal(port) {
        Some(p) if p <= u64::from(u16::MAX) => Ok(SocketAddr::new(ip, p as u16)),
        _ => fail(
            w.pos,
            format!("invalid port in \"{s}\" of the \"listen\" directive"),
        ),
    }
}

/// A status code in `min..=max`.
fn parse_code(w: &Word, min: u16, max: u16) -> Result<u16> {
    let Some(n) = parse_decimal(&w.text) else {
        return fail(w.pos, format!("invalid value \"{}\"", w.text));
    };
    if n < u64::from(min) || n > u64::from(max) {
        return fail(
            w.pos,
            format!("value \"{}\" must be between {min} and {max}", w.text),
        );
    }
    Ok(n as u16)
}

const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];

/// `return CODE [URL | TEXT]`, or nginx's `return URL` (a 302) for an `http(s)://` URL (or one
/// starting with `$scheme`). The URL or text may hold variables.
fn parse_return(args: &[Word], captures: &[String]) -> Result<Return> {
    let first = &args[0];
    let is_url =
        |t: &str| t.starts_with("http://") || t.starts_with("https://") || t.starts_with("$scheme");
    if args.len() == 1 && is_url(&first.text) {
        return Ok(Return {
            code: 302,
            target: Some(parse_template(first, captures)?),
        });
    }
    let code = match parse_decimal(&first.text) {
        Some(n) if (200..=599).contains(&n) => n as u16,
        _ => return fail(first.pos, format!("invalid return code \"{}\"", first.text)),
    };
    let target = match args.get(1) {
        Some(w) => Some(parse_template(w, captures)?),
        None => None,
    };
    if REDIRECTS.contains(&code) && target.as_ref().is_none_or(Template::is_empty) {
        return fail(
            first.pos,
            format!("\"return\" with code {code} needs a URL to redirect to"),
        );
    }
    Ok(Return { code, target })
}

/// `error_page CODE ... [=[RESPONSE]] (URI | @NAME)`: one entry per code.
fn parse_error_page(d: &Directive) -> Result<Vec<ErrorPage>> {
    let Some((target, rest)) = d.args.split_last() else {
        return fail(d.name.pos, "invalid number of arguments in \"error_page\"");
    };
    let (codes, status) = match rest.split_last() {
        Some((eq, codes)) if eq.text.starts_with('=') => {
            let status = match &eq.text[1..] {
                "" => ErrorPageStatus::FromPage,
                code => ErrorPageStatus::Set(parse_code(
                    &Word {
                        text: code.to_string(),
                        pos: Pos {
                            line: eq.pos.line,
                            col: eq.pos.col + 1,
                        },
                    },
                    200,
                    599,
                )?),
            };
            (codes, status)
        }
        _ => (rest, ErrorPageStatus::Original),
    };
    if codes.is_empty() {
        return fail(
            d.name.pos,
            "invalid number of arguments in \"error_page\" directive",
        );
    }
    let is_url = target.text.starts_with("http://") || target.text.starts_with("https://");
    if target.text.starts_with('@') {
        check_location_name(target)?;
    } else if !target.text.starts_with('/') && !is_url {
        return fail(
            target.pos,
            format!(
                "invalid error page URI \"{}\", it must start with \"/\" (or \"@\" for a named \
                 location, or be an http:// or https:// URL)",
                target.text
            ),
        );
    }
    codes
        .iter()
        .map(|c| {
            Ok(ErrorPage {
                code: parse_code(c, 300, 599)?,
                target: target.text.clone(),
                status,
            })
        })
        .collect()
}

/// `error_log PATH LEVEL`: one of nginx's level names we use.
fn parse_log_level(w: &Word) -> Result<LogLevel> {
    LogLevel::from_name(&w.text).map_or_else(
        || {
            fail(
                w.pos,
                format!(
                    "invalid log level \"{}\", it must be \"error\", \"warn\", \"notice\", \
                     \"info\" or \"debug\"",
                    w.text
                ),
            )
        },
        Ok,
    )
}

/// Fields the server sets itself because they frame the message or belong to the connection:
/// a second, different value from `add_header` would let one response be read as two (request
/// smuggling's cousin on the response side).
const SERVER_OWNED_FIELDS: [&str; 8] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
];

/// `add_header NAME VALUE [always]`: NAME a token, VALUE visible characters, spaces and tabs.
fn parse_add_header(args: &[Word]) -> Result<AddHeader> {
    let (name, value) = (&args[0], &args[1]);
    if name.text.is_empty() || !name.text.bytes().all(crate::http::is_tchar) {
        return fail(name.pos, format!("invalid header name \"{}\"", name.text));
    }
    if SERVER_OWNED_FIELDS
        .iter()
        .any(|f| f.eq_ignore_ascii_case(&name.text))
    {
        return fail(
            name.pos,
            format!(
                "header \"{}\" cannot be set with \"add_header\", the server sets it itself",
                name.text
            ),
        );
    }
    if value.text.chars().any(|c| c.is_control() && c != '\t') {
        return fail(
            value.pos,
            "invalid header value, control characters (such as a line break) are not allowed",
        );
    }
    if value.text.contains('$') {
        return fail(
            value.pos,
            format!(
                "variables are not supported in \"add_header\" values: \"{}\"",
                value.text
            ),
        );
    }
    let always = match args.get(2) {
        None => false,
        Some(w) if w.text == "always" => true,
        Some(w) => {
            return fail(
                w.pos,
                format!("invalid parameter \"{}\", it must be \"always\"", w.text),
            );
        }
    };
    Ok(AddHeader {
        name: name.text.clone(),
        value: value.text.trim_matches([' ', '\t']).to_string(),
        always,
    })
}

/// `expires off | epoch | max | [-]DURATION` (whole seconds; a fraction is dropped).
fn parse_expires(w: &Word) -> Result<Expires> {
    match w.text.as_str() {
        "off" => return Ok(Expires::Off),
        "epoch" => return Ok(Expires::Epoch),
        "max" => return Ok(Expires::Max),
        _ => {}
    }
    let (negative, magnitude) = match w.text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, w.text.as_str()),
    };
    let valid = !magnitude.is_empty() && magnitude.as_bytes()[0].is_ascii_digit();
    let duration = if valid {
        parse_duration(&Word {
            text: magnitude.to_string(),
            pos: w.pos,
        })
        .ok()
    } else {
        None
    };
    let Some(duration) = duration else {
        return fail(
            w.pos,
            format!(
                "invalid value \"{}\" in \"expires\" directive, it must be \"off\", \"epoch\", \
                 \"max\" or a duration (up to 8760h, optionally negative)",
                w.text
            ),
        );
    };
    let secs = duration.as_secs() as i64;
    Ok(Expires::Seconds(if negative { -secs } else { secs }))
}

#[cfg(test)]
mod tests {
    use super::super::parse as parse_config;
    use super::*;

    const DIR: &str = "/etc/webserv";

    fn conf_path() -> PathBuf {
        Path::new(DIR).join("test.conf")
    }

    fn ok(text: &str) -> Config {
        parse_config(text, &conf_path()).unwrap_or_else(|e| panic!("{text}\n=> {e}"))
    }

    /// The error as `LINE:COL: message`.
    fn err(text: &str) -> String {
        match parse_config(text, &conf_path()) {
            Ok(c) => panic!("{text}\n=> parsed: {c:?}"),
            Err(e) => {
                assert_eq!(e.path, conf_path());
                format!("{}:{}: {}", e.line, e.col, e.message)
            }
        }
    }

    /// Checks a table of (config text, expected error).
    fn errors(table: &[(&str, &str)]) {
        for (text, expected) in table {
            assert_eq!(err(text), *expected, "for config:\n{text}");
        }
    }

    /// The settings of the only server of `server { listen 80; BODY }`.
    fn server_settings(body: &str) -> Settings {
        ok(&format!("server {{ listen 80; {body} }}")).servers[0]
            .settings
            .clone()
    }

    /// (code, target) of each error page.
    fn pages(list: &[ErrorPage]) -> Vec<(u16, &str)> {
        list.iter().map(|p| (p.code, p.target.as_str())).collect()
    }

    fn abs(p: &str) -> PathBuf {
        crate::config::directive::clean(&Path::new(DIR).join(p))
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_minimal_server_gets_every_default() {
        let c = ok("server { listen 8080; }");
        assert_eq!(c.path, conf_path());
        assert!(c.workers >= 1);
        assert_eq!(c.log_files, vec![LogTarget::Stdout]);
        assert_eq!(c.error_log, LogTarget::Stderr);
        let s = &c.servers[0];
        assert_eq!(s.listen, vec![addr("0.0.0.0:8080")]);
        assert!(s.server_names.is_empty());
        assert!(s.locations.is_empty());
        let d = Settings::defaults(Path::new(DIR));
        let st = &s.settings;
        assert_eq!(st.root, abs("www"));
        assert_eq!(st.root, d.root);
        assert_eq!(st.alias, None);
        assert_eq!(st.index, vec!["index.html"]);
        assert!(!st.autoindex);
        assert_eq!(st.allow_methods, Methods::GET.union(Methods::HEAD));
        assert_eq!(st.client_max_body_size, 1 << 20);
        assert!(st.error_pages.is_empty());
        assert_eq!(st.return_().cloned(), None);
        assert!(st.cgi.is_empty());
        assert_eq!(st.cgi_timeout, secs(30));
        assert_eq!(st.upload_store, None);
        assert_eq!(st.keepalive_timeout, secs(75));
        assert_eq!(st.client_header_timeout, secs(60));
        assert_eq!(st.client_body_timeout, secs(60));
        assert_eq!(st.send_timeout, secs(60));
    }

    #[test]
    fn top_level_directives_set_workers_and_log_targets() {
        let c = ok("workers 4; access_log off; error_log logs/error.log; server { listen 80; }");
        assert_eq!(c.workers, 4);
        assert_eq!(c.log_files, Vec::<LogTarget>::new());
        assert_eq!(c.error_log, LogTarget::File(abs("logs/error.log")));

        let c = ok("access_log stderr; error_log stdout; server { listen 80; }");
        assert_eq!(c.log_files, vec![LogTarget::Stderr]);
        assert_eq!(c.error_log, LogTarget::Stdout);

        let c = ok("access_log /var/log/a.log; error_log off; server { listen 80; }");
        assert_eq!(c.log_files, vec![LogTarget::File("/var/log/a.log".into())]);
        assert_eq!(c.error_log, LogTarget::Off);

        assert_eq!(ok("workers 1; server { listen 80; }").workers, 1);
        assert_eq!(ok("workers 256; server { listen 80; }").workers, 256);
    }

    #[test]
    fn workers_auto_is_the_number_of_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(
            ok("workers auto; server { listen 80; }").workers,
            cores.min(256)
        );
        assert_eq!(ok("server { listen 80; }").workers, cores.min(256));
    }

    #[test]
    fn workers_outside_1_to_256_is_an_error() {
        let msg = |v: &str| {
            format!(
                "1:9: invalid value \"{v}\" in \"workers\" directive, it must be \"auto\" or a \
                 number from 1 to 256"
            )
        };
        for v in [
            "0",
            "257",
            "-1",
            "+4",
            "four",
            "AUTO",
            "99999999999999999999999",
        ] {
            assert_eq!(
                err(&format!("workers {v}; server {{ listen 80; }}")),
                msg(v)
            );
        }
    }

    #[test]
    fn listen_accepts_every_address_form() {
        let table = [
            ("8080", "0.0.0.0:8080"),
            ("0", "0.0.0.0:0"),
            ("65535", "0.0.0.0:65535"),
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("*:80", "0.0.0.0:80"),
            ("localhost:81", "127.0.0.1:81"),
            ("LocalHost:82", "127.0.0.1:82"),
            ("[::1]:8080", "[::1]:8080"),
            ("[::]:0", "[::]:0"),
            ("[2001:db8::7]:443", "[2001:db8::7]:443"),
            ("10.1.2.3:00080", "10.1.2.3:80"),
        ];
        for (written, expected) in table {
            let c = ok(&format!("server {{ listen {written}; }}"));
            assert_eq!(
                c.servers[0].listen,
                vec![addr(expected)],
                "listen {written}"
            );
        }
    }

    #[test]
    fn invalid_listen_addresses_are_errors_at_the_address() {
        let bad_port =
            |a: &str| format!("1:17: invalid port in \"{a}\" of the \"listen\" directive");
        let bad_host =
            |a: &str| format!("1:17: host not found in \"{a}\" of the \"listen\" directive");
        for a in [
            "65536",
            "80x",
            "",
            "127.0.0.1",
            "127.0.0.1:",
            "*:-1",
            "[::1]",
            "[::1]8080",
            "1.2.3.4:+80",
        ] {
            assert_eq!(
                err(&format!("server {{ listen \"{a}\"; }}")),
                bad_port(a),
                "{a}"
            );
        }
        for a in [
            "example.com:80",
            "1.2.3:80",
            ":80",
            "::1:80",
            "[::1:80",
            "[1.2.3.4]:80",
            "[zz]:80",
        ] {
            assert_eq!(
                err(&format!("server {{ listen \"{a}\"; }}")),
                bad_host(a),
                "{a}"
            );
        }
    }

    #[test]
    fn tls_directives_are_checked_before_any_file_is_read() {
        errors(&[
            (
                "server { listen 443 tls; }",
                "1:21: invalid parameter \"tls\" of the \"listen\" directive",
            ),
            (
                "server { listen 443 ssl; }",
                "1:17: no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
            ),
            (
                "server { listen 443 ssl; ssl_certificate c.pem; }",
                "1:42: no \"ssl_certificate_key\" is defined for certificate \"c.pem\"",
            ),
            (
                "server { listen 80; ssl_certificate_key k.pem; }",
                "1:41: \"ssl_certificate_key\" is defined without \"ssl_certificate\"",
            ),
            (
                "server { listen 80; ssl_certificate a; ssl_certificate b; }",
                "1:40: \"ssl_certificate\" directive is duplicate",
            ),
            (
                "server { listen 80; location / { ssl_certificate a; } }",
                "1:34: \"ssl_certificate\" directive is not allowed here",
            ),
            (
                "ssl_certificate a; server { listen 80; }",
                "1:1: \"ssl_certificate\" directive is not allowed here",
            ),
            (
                "server { listen 80 ssl; listen 81 ssl ssl; }",
                "1:39: duplicate parameter \"ssl\" of the \"listen\" directive",
            ),
            (
                "server { listen 80; }\nserver { listen *:80 ssl; ssl_certificate c; ssl_certificate_key k; }",
                "2:17: \"listen 0.0.0.0:80 ssl\" conflicts with \"listen 0.0.0.0:80\" at \
                 /etc/webserv/test.conf:1",
            ),
        ]);
    }

    #[test]
    fn a_missing_certificate_file_is_an_error_at_its_path() {
        let e =
            err("server { listen 443 ssl; ssl_certificate nowhere/c.pem; ssl_certificate_key k; }");
        assert!(e.starts_with("1:42: cannot load certificate \""), "{e}");
        assert!(e.contains("nowhere/c.pem"), "{e}");
    }

    #[test]
    fn duplicate_listen_in_one_server_is_an_error() {
        errors(&[
            (
                "server {\n listen 127.0.0.1:8080;\n listen 127.0.0.1:8080;\n}",
                "3:9: duplicate listen 127.0.0.1:8080",
            ),
            (
                "server { listen *:80; listen 80; }",
                "1:30: duplicate listen 0.0.0.0:80",
            ),
            (
                "server { listen localhost:0; listen 127.0.0.1:0; }",
                "1:37: duplicate listen 127.0.0.1:0",
            ),
            (
                "server { listen [::1]:80; listen [::1]:80; }",
                "1:34: duplicate listen [::1]:80",
            ),
        ]);
    }

    #[test]
    fn several_listens_and_the_same_address_in_two_servers_are_allowed() {
        let c = ok(
            "server { listen 80; listen [::]:80; listen 127.0.0.1:81; }\n\
                    server { listen 80; server_name b; }",
        );
        assert_eq!(
            c.servers[0].listen,
            vec![addr("0.0.0.0:80"), addr("[::]:80"), addr("127.0.0.1:81")]
        );
        assert_eq!(c.servers[1].listen, vec![addr("0.0.0.0:80")]);
    }

    #[test]
    fn a_server_without_listen_is_an_error_at_the_server_token() {
        errors(&[
            (
                "server { listen 80; }\n  server {\n root x;\n}",
                "2:3: no \"listen\" in server",
            ),
            ("server {}", "1:1: no \"listen\" in server"),
        ]);
    }

    #[test]
    fn a_file_without_a_server_is_an_error_at_its_end() {
        errors(&[
            ("", "1:1: no \"server\" block in the configuration"),
            (
                "# nothing\n\n",
                "1:1: no \"server\" block in the configuration",
            ),
            (
                "workers 2;\naccess_log off;\n\n",
                "2:16: no \"server\" block in the configuration",
            ),
        ]);
    }

    #[test]
    fn server_names_are_lower_cased_and_accumulate() {
        let c = ok("server { listen 80; server_name Example.COM www.example.com; server_name X; }");
        assert_eq!(
            c.servers[0].server_names,
            vec!["example.com", "www.example.com", "x"]
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let c = ok(
            "error_log ../log/e.log;\naccess_log a.log;\nserver {\n listen 80;\n root ../www;\n \
                    upload_store /abs/up;\n location /u { alias up/load/; upload_store store; }\n}",
        );
        assert_eq!(c.error_log, LogTarget::File(abs("../log/e.log")));
        assert_eq!(c.log_files, vec![LogTarget::File(abs("a.log"))]);
        let s = &c.servers[0];
        assert_eq!(s.settings.root, abs("../www"));
        assert_eq!(s.settings.upload_store, Some(PathBuf::from("/abs/up")));
        let l = &s.locations[0].settings;
        assert_eq!(l.alias, Some(abs("up/load/")));
        assert_eq!(l.root, abs("../www"));
        assert_eq!(l.upload_store, Some(abs("store")));
    }

    #[test]
    fn cgi_interpreters_resolve_only_when_they_contain_a_slash() {
        let s =
            server_settings("cgi .py /usr/bin/python3; cgi .sh bin/sh; cgi .pl perl; cgi .cgi;");
        let handlers: Vec<(&str, Option<PathBuf>)> = s
            .cgi
            .iter()
            .map(|h| (h.extension.as_str(), h.interpreter.clone()))
            .collect();
        assert_eq!(
            handlers,
            vec![
                (".py", Some(PathBuf::from("/usr/bin/python3"))),
                (".sh", Some(abs("bin/sh"))),
                (".pl", Some(PathBuf::from("perl"))),
                (".cgi", None),
            ]
        );
        assert_eq!(s.cgi_for("x.py").map(|h| h.extension.as_str()), Some(".py"));
    }

    #[test]
    fn every_settings_directive_is_parsed_in_a_server() {
        let s = server_settings(
            "root /srv/www; index a.html b.htm; autoindex on; allow_methods GET POST DELETE PUT;
             client_max_body_size 10m; error_page 404 /404.html; error_page 500 502 /5xx.html;
             return 418 \"I'm a teapot\"; cgi .py; cgi_timeout 5s; upload_store /srv/up;
             keepalive_timeout 2m; client_header_timeout 1500ms; client_body_timeout 7;
             send_timeout 1h;",
        );
        assert_eq!(s.root, PathBuf::from("/srv/www"));
        assert_eq!(s.index, vec!["a.html", "b.htm"]);
        assert!(s.autoindex);
        assert_eq!(
            s.allow_methods,
            Methods::GET
                .union(Methods::POST)
                .union(Methods::DELETE)
                .union(Methods::PUT)
        );
        assert!(!s.allow_methods.contains(Methods::HEAD));
        assert!(s.allow_methods.allows(Methods::HEAD));
        assert_eq!(s.client_max_body_size, 10 << 20);
        assert_eq!(
            pages(&s.error_pages),
            vec![(404, "/404.html"), (500, "/5xx.html"), (502, "/5xx.html")]
        );
        assert_eq!(
            s.return_().cloned(),
            Some(Return {
                code: 418,
                target: Some(Template::literal("I'm a teapot"))
            })
        );
        assert_eq!(
            s.cgi,
            vec![CgiHandler {
                extension: ".py".into(),
                interpreter: None
            }]
        );
        assert_eq!(s.cgi_timeout, secs(5));
        assert_eq!(s.upload_store, Some(PathBuf::from("/srv/up")));
        assert_eq!(s.keepalive_timeout, secs(120));
        assert_eq!(s.client_header_timeout, Duration::from_millis(1500));
        assert_eq!(s.client_body_timeout, secs(7));
        assert_eq!(s.send_timeout, secs(3600));
        assert!(!server_settings("autoindex OFF;").autoindex);
    }

    #[test]
    fn a_location_inherits_server_directives_written_after_it() {
        let c = ok(
            "server {\n listen 80;\n location /a { autoindex on; }\n root /srv;\n \
                    client_max_body_size 0;\n error_page 404 /nf.html;\n}",
        );
        let s = &c.servers[0];
        let l = &s.locations[0].settings;
        assert!(l.autoindex);
        assert!(!s.settings.autoindex);
        assert_eq!(l.root, PathBuf::from("/srv"));
        assert_eq!(l.client_max_body_size, 0);
        assert_eq!(
            l.error_page(404).map(|p| p.target.as_str()),
            Some("/nf.html")
        );
    }

    #[test]
    fn a_location_overrides_only_what_it_sets() {
        let c = ok(
            "server { listen 80; root /srv; allow_methods GET; keepalive_timeout 5;
                      return 503;
                      location /up { allow_methods POST; root /up; return 204; }
                      location /rest { } }",
        );
        let s = &c.servers[0];
        let up = &s.locations[0].settings;
        assert_eq!(up.allow_methods, Methods::POST);
        assert_eq!(up.root, PathBuf::from("/up"));
        assert_eq!(up.keepalive_timeout, secs(5));
        assert_eq!(
            up.return_().cloned(),
            Some(Return {
                code: 204,
                target: None
            })
        );
        let rest = &s.locations[1].settings;
        assert_eq!(rest.allow_methods, Methods::GET);
        assert_eq!(rest.root, PathBuf::from("/srv"));
        // The server's `return` is its own (it answers before any location is chosen).
        assert_eq!(rest.return_(), None);
        assert_eq!(
            s.settings.return_().cloned(),
            Some(Return {
                code: 503,
                target: None
            })
        );
        assert_eq!(s.settings.root, PathBuf::from("/srv"));
    }

    #[test]
    fn list_directives_in_a_location_replace_the_inherited_list() {
        let c = ok(
            "server { listen 80; index a b; error_page 404 /a; error_page 500 /b;
                      cgi .py; cgi .php php-cgi;
                      location /x { index c; error_page 403 /c; cgi .sh; }
                      location /y { } }",
        );
        let s = &c.servers[0];
        let x = &s.locations[0].settings;
        assert_eq!(x.index, vec!["c"]);
        assert_eq!(pages(&x.error_pages), vec![(403, "/c")]);
        assert_eq!(x.error_page(404), None);
        assert_eq!(x.cgi.len(), 1);
        assert_eq!(x.cgi_for("a.py"), None);
        let y = &s.locations[1].settings;
        assert_eq!(y.index, vec!["a", "b"]);
        assert_eq!(pages(&y.error_pages), vec![(404, "/a"), (500, "/b")]);
        assert_eq!(y.cgi.len(), 2);
    }

    #[test]
    fn error_page_cgi_and_index_lines_accumulate_within_one_block() {
        let s = server_settings(
            "error_page 404 /a; error_page 403 405 /b; cgi .a; cgi .b b; index x; index y z;",
        );
        assert_eq!(
            pages(&s.error_pages),
            vec![(404, "/a"), (403, "/b"), (405, "/b")]
        );
        assert_eq!(
            s.cgi
                .iter()
                .map(|h| h.extension.as_str())
                .collect::<Vec<_>>(),
            [".a", ".b"]
        );
        assert_eq!(s.index, vec!["x", "y", "z"]);
    }

    #[test]
    fn exact_and_prefix_locations_keep_their_path_and_order() {
        let c = ok(
            "server { listen 80; location / {} location = /x {} location =/y {} location /x {} }",
        );
        let locs: Vec<(&str, bool)> = c.servers[0]
            .locations
            .iter()
            .map(|l| (l.path.as_str(), l.is_exact()))
            .collect();
        assert_eq!(
            locs,
            vec![("/", false), ("/x", true), ("/y", true), ("/x", false)]
        );
    }

    #[test]
    fn location_errors_point_at_the_path_or_modifier() {
        errors(&[
            (
                "server { listen 80;\n location /a {}\n location /a {} }",
                "3:11: duplicate location \"/a\"",
            ),
            (
                "server { listen 80; location = /a {} location = /a {} }",
                "1:49: duplicate location \"= /a\"",
            ),
            (
                "server { listen 80; location =/a {} location = /a {} }",
                "1:48: duplicate location \"= /a\"",
            ),
            (
                "server { listen 80; location /a {} location ^~ /a {} }",
                "1:48: duplicate location \"^~ /a\"",
            ),
            (
                "server { listen 80; location @x {} location @x {} }",
                "1:45: duplicate location \"@x\"",
            ),
            (
                "server { listen 80; location a {} }",
                "1:30: invalid location \"a\", it must start with \"/\"",
            ),
            (
                "server { listen 80; location = a {} }",
                "1:32: invalid location \"a\", it must start with \"/\"",
            ),
            (
                "server { listen 80; location ^* /a {} }",
                "1:30: invalid location modifier \"^*\"",
            ),
            (
                "server { listen 80; location = {} }",
                "1:31: invalid location \"\", it must start with \"/\"",
            ),
            (
                "server { listen 80; location /a /b /c {} }",
                "1:21: invalid number of arguments in \"location\" directive",
            ),
            (
                "server { listen 80; location @ {} }",
                "1:30: invalid location name \"@\"",
            ),
            (
                "server { listen 80; location ~ \"\" {} }",
                "1:32: empty regular expression in \"location\"",
            ),
        ]);
    }

    #[test]
    fn every_location_modifier_is_read_spaced_or_glued() {
        let c = ok(
            "server { listen 80; location / {} location = /x {} location =/y {}
                    location ^~ /s {} location ^~/t {} location ~ \\.php$ {} location ~\\.py$ {}
                    location ~* \\.PNG$ {} location ~*\\.gif$ {} location @app {} }",
        );
        let locs: Vec<(&str, LocationKind)> = c.servers[0]
            .locations
            .iter()
            .map(|l| (l.path.as_str(), l.kind))
            .collect();
        use LocationKind::*;
        assert_eq!(
            locs,
            vec![
                ("/", Prefix),
                ("/x", Exact),
                ("/y", Exact),
                ("/s", PrefixFinal),
                ("/t", PrefixFinal),
                ("\\.php$", Regex),
                ("\\.py$", Regex),
                ("\\.PNG$", RegexCaseless),
                ("\\.gif$", RegexCaseless),
                ("@app", Named),
            ]
        );
        let png = c.servers[0].locations[7].regex.as_ref().unwrap();
        assert!(png.is_match("/a.png") && png.is_match("/a.PnG"));
        // A regex and a prefix may share a text; two regexes may too (nginx tries both).
        ok("server { listen 80; location ~ /a {} location /a {} location ~ /a {} }");
    }

    #[test]
    fn a_regex_that_does_not_compile_is_an_error_at_the_regex() {
        errors(&[
            (
                "server { listen 80;\n  location ~ \\.(php {} }",
                "2:14: invalid regular expression \"\\.(php\": unclosed group",
            ),
            (
                "server { listen 80; location ~*(?<n>a)(?<n>b) {} }",
                "1:32: invalid regular expression \"(?<n>a)(?<n>b)\": duplicate capture group name",
            ),
            (
                "server { listen 80; location ~ ^(a)\\1$ {} }",
                "1:32: invalid regular expression \"^(a)\\1$\": backreferences are not supported",
            ),
        ]);
    }

    #[test]
    fn nested_locations_follow_nginx_rules() {
        let c = ok("server { listen 80; root /r;
              location /a { root /ra; location /a/b { location ~ x$ { autoindex on; } }
                            location ~ \\.php$ { } location = /a/c { } }
              location ~ \\.js$ { location ~ min { } }
              location /z { } }");
        let s = &c.servers[0];
        let shown: Vec<String> = s.locations.iter().map(Location::display).collect();
        assert_eq!(
            shown,
            [
                "/a",
                "/a/b",
                "~ x$",
                "~ \\.php$",
                "= /a/c",
                "~ \\.js$",
                "~ min",
                "/z"
            ]
        );
        assert_eq!(s.top_locations, vec![0, 5, 7]);
        assert_eq!(s.locations[0].nested, vec![1, 3, 4]);
        assert_eq!(s.locations[1].nested, vec![2]);
        // Settings flow down through every level.
        assert_eq!(s.locations[2].settings.root, PathBuf::from("/ra"));
        assert!(s.locations[2].settings.autoindex);
        assert!(!s.locations[1].settings.autoindex);
        errors(&[
            (
                "server { listen 80;\n  location = /a {\n    location /a/b { }\n  }\n}",
                "3:14: location \"/a/b\" cannot be inside the exact location \"= /a\"",
            ),
            (
                "server { listen 80; location @n { location /a { } } }",
                "1:44: location \"/a\" cannot be inside the named location \"@n\"",
            ),
            (
                "server { listen 80; location /a { location @n { } } }",
                "1:44: named location \"@n\" can be on the server level only",
            ),
            (
                "server { listen 80; location /a { location /b { } } }",
                "1:44: location \"/b\" is outside location \"/a\"",
            ),
            (
                "server { listen 80; location /img { location /images { } } }",
                "1:46: location \"/images\" is outside location \"/img\"",
            ),
            (
                "server { listen 80; location ~ a { location /a { } } }",
                "1:45: location \"/a\" is outside location \"~ a\"",
            ),
            (
                "server { listen 80; location /a { location /a/b { } location ^~ /a/b { } } }",
                "1:65: duplicate location \"^~ /a/b\"",
            ),
        ]);
    }

    #[test]
    fn try_files_needs_a_fallback_and_takes_names_with_variables() {
        let s = server_settings("location @app { } try_files $uri $uri/ /index.php?$args;");
        let tf = s.try_files.unwrap();
        assert_eq!(
            tf.files.iter().map(Template::source).collect::<Vec<_>>(),
            ["$uri", "$uri/"]
        );
        assert!(matches!(&tf.fallback, TryFallback::Uri(t) if t.source() == "/index.php?$args"));
        let c = ok(
            "server { listen 80; location @app {} location / { try_files $uri @app; }
                    location /s { try_files $uri =404; } }",
        );
        let l = &c.servers[0].locations;
        assert_eq!(
            l[1].settings.try_files.as_ref().map(|t| &t.fallback),
            Some(&TryFallback::Named("@app".into()))
        );
        assert_eq!(
            l[2].settings.try_files.as_ref().map(|t| &t.fallback),
            Some(&TryFallback::Code(404))
        );
        // Inherited by locations, as nginx.
        assert!(
            server_settings("try_files $uri =404; location /x {}")
                .try_files
                .is_some()
        );
        errors(&[
            (
                "server { listen 80; try_files $uri; }",
                "1:21: invalid number of arguments in \"try_files\" directive",
            ),
            (
                "server { listen 80; try_files $uri index.html; }",
                "1:36: invalid fallback \"index.html\" of \"try_files\": the last argument must \
                 be a URI (\"/index.php?$args\"), a named location (\"@app\") or a status (\"=404\")",
            ),
            (
                "server { listen 80; try_files @app $uri =404; }",
                "1:31: \"@app\" can only be the last argument of \"try_files\" (the fallback)",
            ),
            (
                "server { listen 80; try_files $uri =4o4; }",
                "1:37: invalid value \"4o4\"",
            ),
            (
                "server { listen 80; try_files $uri =700; }",
                "1:37: value \"700\" must be between 200 and 599",
            ),
            (
                "server { listen 80; try_files $uri $nope /x; }",
                "1:36: unknown \"nope\" variable in \"$nope\"",
            ),
            (
                "server { listen 80;\n location / { try_files $uri @missing; } }",
                "2:30: no location \"@missing\" in this server",
            ),
            (
                "server { listen 80; try_files a /b; try_files c /d; }",
                "1:37: \"try_files\" directive is duplicate",
            ),
        ]);
    }

    #[test]
    fn error_page_takes_a_status_change_and_named_locations() {
        let s = server_settings(
            "location @x { } error_page 404 = @x; error_page 500 502 =503 /5xx.html;
             error_page 403 /403.html;",
        );
        let status: Vec<(u16, &str, ErrorPageStatus)> = s
            .error_pages
            .iter()
            .map(|p| (p.code, p.target.as_str(), p.status))
            .collect();
        assert_eq!(
            status,
            vec![
                (404, "@x", ErrorPageStatus::FromPage),
                (500, "/5xx.html", ErrorPageStatus::Set(503)),
                (502, "/5xx.html", ErrorPageStatus::Set(503)),
                (403, "/403.html", ErrorPageStatus::Original),
            ]
        );
        assert_eq!(s.error_page(404).and_then(|p| p.named()), Some("@x"));
        errors(&[
            (
                "server { listen 80; error_page 404 @nowhere; }",
                "1:36: no location \"@nowhere\" in this server",
            ),
            (
                "server { listen 80; error_page = /x; }",
                "1:21: invalid number of arguments in \"error_page\" directive",
            ),
            (
                "server { listen 80; error_page 404 =99 /x; }",
                "1:37: value \"99\" must be between 200 and 599",
            ),
        ]);
    }

    #[test]
    fn captures_named_anywhere_in_the_file_are_variables() {
        let c = ok("server { listen 80; location / { return 301 /u/$user/$1; }
                    location ~ ^/~(?<user>[a-z]+) { } }");
        let ret = c.servers[0].locations[0].settings.return_().unwrap();
        assert_eq!(ret.target.as_ref().unwrap().source(), "/u/$user/$1");
        errors(&[(
            "server { listen 80; return 301 /u/$user; }",
            "1:32: unknown \"user\" variable in \"/u/$user\"",
        )]);
    }

    #[test]
    fn alias_in_a_regex_location_may_use_its_groups() {
        let c = ok(
            "server { listen 80; location ~ ^/dl/(.+)$ { alias files/$1; }
                    location ~ ^/x { alias /abs/x.txt; } }",
        );
        let l = &c.servers[0].locations;
        assert_eq!(
            l[0].settings.alias_template.as_ref().map(Template::source),
            Some("/etc/webserv/files/$1".to_string())
        );
        assert_eq!(l[1].settings.alias_template, None);
        assert_eq!(l[1].settings.alias, Some(PathBuf::from("/abs/x.txt")));
    }

    #[test]
    fn alias_is_allowed_only_in_a_location_and_never_with_root() {
        errors(&[
            (
                "server { listen 80; alias /x; }",
                "1:21: \"alias\" directive is not allowed here",
            ),
            (
                "server { listen 80; location /a { root /r; alias /x; } }",
                "1:44: \"alias\" directive is duplicate, \"root\" directive was specified earlier",
            ),
            (
                "server { listen 80; location /a { alias /x; root /r; } }",
                "1:45: \"root\" directive is duplicate, \"alias\" directive was specified earlier",
            ),
        ]);
        // A root inherited from the server does not conflict with the location's alias.
        let c = ok("server { listen 80; root /r; location /a { alias /x; } }");
        assert_eq!(c.servers[0].locations[0].settings.alias, Some("/x".into()));
        assert_eq!(c.servers[0].settings.alias, None);
    }

    /// Every error of `text`, one `LINE:COL: message` each, and whether the list was cut.
    fn all_errors(text: &str) -> (Vec<String>, bool) {
        match parse_config(text, &conf_path()) {
            Ok(c) => panic!("{text}\n=> parsed: {c:?}"),
            Err(e) => {
                let list = std::iter::once(&e)
                    .chain(&e.also)
                    .map(|e| format!("{}:{}: {}", e.line, e.col, e.message))
                    .collect();
                (list, e.truncated)
            }
        }
    }

    #[test]
    fn one_reading_reports_every_independent_error_in_the_order_found() {
        let text = "workers 0;\ninclude;\nserver {\n  listen 80 default_srv;\n  \
                    error_page 404 =2000 /x;\n  location / { rewrit ^ /; root a b; }\n}\n\
                    server { listen 81; autoindex maybe; }\nfoo;\n";
        let (list, truncated) = all_errors(text);
        assert_eq!(
            list,
            [
                "2:1: invalid number of arguments in \"include\" directive",
                "9:1: unknown directive \"foo\"",
                "1:9: invalid value \"0\" in \"workers\" directive, it must be \"auto\" or a \
                 number from 1 to 256",
                "4:13: invalid parameter \"default_srv\" of the \"listen\" directive",
                "5:19: value \"2000\" must be between 200 and 599",
                "6:16: unknown directive \"rewrit\"",
                "6:28: invalid number of arguments in \"root\" directive",
                "8:31: invalid value \"maybe\" in \"autoindex\" directive, it must be \"on\" \
                 or \"off\"",
            ]
        );
        assert!(!truncated);
    }

    #[test]
    fn the_same_message_again_is_counted_not_repeated() {
        let (list, truncated) = all_errors(
            "server { listen 80; location / { autoindex maybe; }\n\
             location /a { autoindex maybe; } location /b { autoindex maybe; } root a b; }",
        );
        assert_eq!(
            list,
            [
                "1:44: invalid value \"maybe\" in \"autoindex\" directive, it must be \"on\" or \
                 \"off\" (2 more lines like this)",
                "2:67: invalid number of arguments in \"root\" directive",
            ]
        );
        assert!(!truncated);
    }

    #[test]
    fn what_only_follows_from_an_error_is_not_reported() {
        // The bad listen is the server's only one: "no listen in server" would follow.
        let (list, _) = all_errors("server { listen 80x; }\nserver { listen 81; root; }");
        assert_eq!(
            list,
            [
                "1:17: invalid port in \"80x\" of the \"listen\" directive",
                "2:21: invalid number of arguments in \"root\" directive",
            ]
        );
        // The only server goes: "no server block" would follow.
        let (list, _) = all_errors("server { listen 80; unknown_thing; }");
        assert_eq!(list, ["1:21: unknown directive \"unknown_thing\""]);
        // The certificate that cannot be read goes: "no ssl_certificate" would follow.
        let (list, _) = all_errors(
            "server { listen 443 ssl; ssl_certificate /nonexistent/c.pem; \
             ssl_certificate_key /nonexistent/k.pem; }",
        );
        assert_eq!(list.len(), 1, "{list:?}");
        assert!(
            list[0].starts_with("1:42: cannot load certificate"),
            "{list:?}"
        );
        // The misplaced named location goes: "no location @n" would follow.
        let (list, _) = all_errors(
            "server { listen 80; location / { location @n { } } \
             location /a { try_files $uri @n; } }",
        );
        assert_eq!(
            list,
            ["1:43: named location \"@n\" can be on the server level only"]
        );
    }

    #[test]
    fn a_reading_stops_after_twenty_errors_in_bounded_time() {
        let mut text = String::from("server { listen 80; }\n");
        for i in 0..10_000 {
            text.push_str(&format!("bad_{i};\n"));
        }
        let started = std::time::Instant::now();
        let (list, truncated) = all_errors(&text);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(list.len(), 20);
        assert_eq!(list[0], "2:1: unknown directive \"bad_0\"");
        assert_eq!(list[19], "21:1: unknown directive \"bad_19\"");
        assert!(truncated);
        let e = parse_config(&text, &conf_path()).err().unwrap().to_string();
        assert!(
            e.ends_with("\n/etc/webserv/test.conf: stopped after 20 errors"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 21);
    }

    #[test]
    fn an_unknown_directive_is_an_error_at_its_name() {
        errors(&[
            (
                "foo bar;\nserver { listen 80; }",
                "1:1: unknown directive \"foo\"",
            ),
            (
                "server {\n\tlisten 80;\n\tlisen 81;\n}",
                "3:2: unknown directive \"lisen\"",
            ),
            (
                "server { listen 80; location / { Root /x; } }",
                "1:34: unknown directive \"Root\"",
            ),
            (
                "server { listen 80; \"\" x; }",
                "1:21: unknown directive \"\"",
            ),
        ]);
    }

    #[test]
    fn a_wrong_number_of_arguments_is_an_error_at_the_directive_name() {
        let msg = |line_col: &str, name: &str| {
            format!("{line_col}: invalid number of arguments in \"{name}\" directive")
        };
        let cases = [
            ("workers; server { listen 80; }", msg("1:1", "workers")),
            ("workers 1 2; server { listen 80; }", msg("1:1", "workers")),
            (
                "access_log; server { listen 80; }",
                msg("1:1", "access_log"),
            ),
            (
                "error_log a warn c; server { listen 80; }",
                msg("1:1", "error_log"),
            ),
            ("server x { listen 80; }", msg("1:1", "server")),
            ("server { listen; }", msg("1:10", "listen")),
            (
                "server { listen 80; server_name; }",
                msg("1:21", "server_name"),
            ),
            ("server { listen 80; location {} }", msg("1:21", "location")),
            ("server { listen 80; root; }", msg("1:21", "root")),
            ("server { listen 80; root a b; }", msg("1:21", "root")),
            ("server { listen 80; index; }", msg("1:21", "index")),
            ("server { listen 80; autoindex; }", msg("1:21", "autoindex")),
            (
                "server { listen 80; allow_methods; }",
                msg("1:21", "allow_methods"),
            ),
            (
                "server { listen 80; client_max_body_size 1 2; }",
                msg("1:21", "client_max_body_size"),
            ),
            (
                "server { listen 80; error_page 404; }",
                msg("1:21", "error_page"),
            ),
            ("server { listen 80; return; }", msg("1:21", "return")),
            (
                "server { listen 80; return 301 /a b; }",
                msg("1:21", "return"),
            ),
            ("server { listen 80; cgi; }", msg("1:21", "cgi")),
            ("server { listen 80; cgi .py a b; }", msg("1:21", "cgi")),
            (
                "server { listen 80; upload_store; }",
                msg("1:21", "upload_store"),
            ),
            (
                "server { listen 80; cgi_timeout; }",
                msg("1:21", "cgi_timeout"),
            ),
            (
                "server { listen 80; keepalive_timeout 1 2; }",
                msg("1:21", "keepalive_timeout"),
            ),
            (
                "server { listen 80; client_header_timeout; }",
                msg("1:21", "client_header_timeout"),
            ),
            (
                "server { listen 80; client_body_timeout; }",
                msg("1:21", "client_body_timeout"),
            ),
            (
                "server { listen 80; send_timeout; }",
                msg("1:21", "send_timeout"),
            ),
            (
                "server { listen 80; location / { alias; } }",
                msg("1:34", "alias"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(err(text), expected, "for config:\n{text}");
        }
    }

    #[test]
    fn a_duplicate_single_valued_directive_is_an_error_at_the_second_one() {
        let cases = [
            ("workers 1;\nworkers 2;", "2:1", "workers"),
            ("error_log a; error_log a;", "1:14", "error_log"),
        ];
        for (text, at, name) in cases {
            assert_eq!(
                err(&format!("{text} server {{ listen 80; }}")),
                format!("{at}: \"{name}\" directive is duplicate")
            );
        }
        for (first, second) in [
            ("root /a", "root /b"),
            ("autoindex on", "autoindex off"),
            ("allow_methods GET", "allow_methods POST"),
            ("client_max_body_size 1", "client_max_body_size 2"),
            ("upload_store /a", "upload_store /b"),
            ("cgi_timeout 1", "cgi_timeout 2"),
            ("keepalive_timeout 1", "keepalive_timeout 2"),
            ("client_header_timeout 1", "client_header_timeout 2"),
            ("client_body_timeout 1", "client_body_timeout 2"),
            ("send_timeout 1", "send_timeout 2"),
        ] {
            let name = first.split(' ').next().unwrap_or_default();
            // In a server and in a location; a location may still set what its server set.
            let in_server = format!("server {{ listen 80;\n{first};\n  {second}; }}");
            assert_eq!(
                err(&in_server),
                format!("3:3: \"{name}\" directive is duplicate")
            );
            let in_location =
                format!("server {{ listen 80; {first}; location / {{\n{first};\n  {second}; }} }}");
            assert_eq!(
                err(&in_location),
                format!("3:3: \"{name}\" directive is duplicate")
            );
        }
        errors(&[(
            "server { listen 80; location / { alias /a; alias /b; } }",
            "1:44: \"alias\" directive is duplicate",
        )]);
    }

    #[test]
    fn a_directive_in_the_wrong_block_is_an_error_at_its_name() {
        let msg = |at: &str, name: &str| format!("{at}: \"{name}\" directive is not allowed here");
        let cases = [
            ("listen 80;", msg("1:1", "listen")),
            ("return 404;", msg("1:1", "return")),
            ("try_files $uri =404;", msg("1:1", "try_files")),
            ("location / {}", msg("1:1", "location")),
            ("server { listen 80; workers 2; }", msg("1:21", "workers")),
            ("server { listen 80; server { } }", msg("1:21", "server")),
            (
                "server { listen 80; location / { listen 81; } }",
                msg("1:34", "listen"),
            ),
            (
                "server { listen 80; location / { server_name a; } }",
                msg("1:34", "server_name"),
            ),
            (
                "server { listen 80; location / { workers 1; } }",
                msg("1:34", "workers"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(err(text), expected, "for config:\n{text}");
        }
    }

    #[test]
    fn a_block_where_none_belongs_and_a_missing_block_are_errors() {
        errors(&[
            ("server;", "1:7: directive \"server\" has no opening \"{\""),
            (
                "server { listen 80; location /a; }",
                "1:32: directive \"location\" has no opening \"{\"",
            ),
            (
                "server { listen 80 { } }",
                "1:20: directive \"listen\" is not terminated by \";\"",
            ),
            (
                "workers 2 {}\nserver { listen 80; }",
                "1:11: directive \"workers\" is not terminated by \";\"",
            ),
        ]);
    }

    #[test]
    fn unbalanced_braces_and_missing_semicolons_are_syntax_errors() {
        errors(&[
            ("server { listen 80; }\n}", "2:1: unexpected \"}\""),
            ("server { listen 80 }", "1:20: unexpected \"}\""),
            (
                "server {\n listen 80;\n root /x\n}\n",
                "4:1: unexpected \"}\"",
            ),
            (
                "server {\n listen 80;\n",
                "2:12: unexpected end of file, expecting \"}\"",
            ),
            (
                "server { listen 80; location / {",
                "1:33: unexpected end of file, expecting \"}\"",
            ),
            (
                "server { listen 80; } workers 2",
                "1:32: unexpected end of file, expecting \";\" or \"}\"",
            ),
            ("server { listen 80; ; }", "1:21: unexpected \";\""),
            ("{ }", "1:1: unexpected \"{\""),
            (
                "server { listen 80; root \"/x; }",
                "1:26: unterminated quoted string",
            ),
        ]);
    }

    #[test]
    fn syntax_errors_are_reported_before_meaning_errors() {
        assert_eq!(
            err("foo;\nserver {"),
            "2:9: unexpected end of file, expecting \"}\""
        );
    }

    #[test]
    fn deeply_nested_blocks_are_rejected_without_recursing_forever() {
        let text = "a {".repeat(100_000);
        assert_eq!(err(&text), "1:27: blocks are nested too deeply");
    }

    #[test]
    fn sizes_take_k_m_g_suffixes_in_any_case() {
        let table = [
            ("0", 0),
            ("1", 1),
            ("123456", 123_456),
            ("1k", 1024),
            ("2K", 2048),
            ("10m", 10 << 20),
            ("3M", 3 << 20),
            ("1g", 1 << 30),
            ("4G", 4 << 30),
            ("0k", 0),
            ("18446744073709551615", u64::MAX),
            ("17179869183g", 17_179_869_183 << 30),
        ];
        for (written, bytes) in table {
            let s = server_settings(&format!("client_max_body_size {written};"));
            assert_eq!(s.client_max_body_size, bytes, "{written}");
        }
    }

    #[test]
    fn invalid_or_overflowing_sizes_are_errors_at_the_value() {
        for v in [
            "10x", "k", "", "-1", "+1", "1.5m", "1 m", "1kb", "m1", "0x10",
        ] {
            assert_eq!(
                err(&format!(
                    "server {{ listen 80; client_max_body_size \"{v}\"; }}"
                )),
                format!("1:42: invalid size \"{v}\""),
                "{v}"
            );
        }
        for v in [
            "18446744073709551616",
            "17179869184g",
            "99999999999999999999k",
        ] {
            assert_eq!(
                err(&format!(
                    "server {{ listen 80; client_max_body_size {v}; }}"
                )),
                format!("1:42: size \"{v}\" is too large"),
                "{v}"
            );
        }
    }

    #[test]
    fn durations_are_seconds_or_take_ms_s_m_h() {
        let table = [
            ("0", Duration::ZERO),
            ("30", secs(30)),
            ("250ms", Duration::from_millis(250)),
            ("0ms", Duration::ZERO),
            ("1500ms", Duration::from_millis(1500)),
            ("45s", secs(45)),
            ("2m", secs(120)),
            ("3h", secs(3 * 3600)),
            ("8760h", secs(365 * 24 * 3600)),
            ("31536000", secs(365 * 24 * 3600)),
            ("1d", secs(86_400)),
            ("2w", secs(14 * 86_400)),
            ("1M", secs(30 * 86_400)),
            ("1y", secs(365 * 86_400)),
            ("1m30s", secs(90)),
            ("1h30m15s500ms", Duration::from_millis(5_415_500)),
            ("1d12h", secs(36 * 3600)),
        ];
        for (written, expected) in table {
            let s = server_settings(&format!("send_timeout {written};"));
            assert_eq!(s.send_timeout, expected, "{written}");
        }
    }

    #[test]
    fn invalid_or_huge_durations_are_errors_at_the_value() {
        for v in [
            "10x", "s", "ms", "", "1.5s", "-1", "1D", "1S", "1m30", "10 s", "h1", "1hh",
        ] {
            assert_eq!(
                err(&format!("server {{ listen 80; cgi_timeout \"{v}\"; }}")),
                format!("1:33: invalid duration \"{v}\""),
                "{v}"
            );
        }
        for v in [
            "8761h",
            "31536001",
            "1y1s",
            "53w",
            "99999999999999999999",
            "18446744073709551615h",
        ] {
            assert_eq!(
                err(&format!("server {{ listen 80; cgi_timeout {v}; }}")),
                format!("1:33: duration \"{v}\" is too large (at most 8760h)"),
                "{v}"
            );
        }
    }

    #[test]
    fn allow_methods_knows_only_the_five_implemented_methods() {
        let s = server_settings("allow_methods DELETE HEAD HEAD;");
        assert_eq!(s.allow_methods, Methods::DELETE.union(Methods::HEAD));
        errors(&[
            (
                "server { listen 80; allow_methods GET PATCH; }",
                "1:39: unknown method \"PATCH\"",
            ),
            (
                "server { listen 80; allow_methods get; }",
                "1:35: unknown method \"get\"",
            ),
        ]);
    }

    #[test]
    fn autoindex_takes_only_on_or_off() {
        errors(&[(
            "server { listen 80; autoindex yes; }",
            "1:31: invalid value \"yes\" in \"autoindex\" directive, it must be \"on\" or \"off\"",
        )]);
    }

    #[test]
    fn error_page_needs_codes_300_to_599_and_a_uri_starting_with_a_slash() {
        let s = server_settings("error_page 300 599 /edge;");
        assert_eq!(pages(&s.error_pages), vec![(300, "/edge"), (599, "/edge")]);
        errors(&[
            (
                "server { listen 80; error_page 404 500 299 /e; }",
                "1:40: value \"299\" must be between 300 and 599",
            ),
            (
                "server { listen 80; error_page 600 /e; }",
                "1:32: value \"600\" must be between 300 and 599",
            ),
            (
                "server { listen 80; error_page 4o4 /e; }",
                "1:32: invalid value \"4o4\"",
            ),
            (
                "server { listen 80; error_page 404 e.html; }",
                "1:36: invalid error page URI \"e.html\", it must start with \"/\" (or \"@\" for a \
                 named location, or be an http:// or https:// URL)",
            ),
        ]);
    }

    #[test]
    fn return_takes_a_code_and_a_url_or_text() {
        let cases = [
            ("return 301 /new/;", 301, Some("/new/")),
            ("return 302 http://x/;", 302, Some("http://x/")),
            ("return 303 /a;", 303, Some("/a")),
            ("return 307 /a;", 307, Some("/a")),
            ("return 308 /a;", 308, Some("/a")),
            ("return 200 \"hello; world\";", 200, Some("hello; world")),
            ("return 204;", 204, None),
            ("return 404;", 404, None),
            ("return 599 x;", 599, Some("x")),
            (
                "return https://example.com/;",
                302,
                Some("https://example.com/"),
            ),
        ];
        for (directive, code, target) in cases {
            let r = server_settings(directive).return_().cloned();
            assert_eq!(
                r,
                Some(Return {
                    code,
                    target: target.map(Template::literal)
                }),
                "{directive}"
            );
        }
        errors(&[
            (
                "server { listen 80; return 301; }",
                "1:28: \"return\" with code 301 needs a URL to redirect to",
            ),
            (
                "server { listen 80; return 308 \"\"; }",
                "1:28: \"return\" with code 308 needs a URL to redirect to",
            ),
            (
                "server { listen 80; return 199; }",
                "1:28: invalid return code \"199\"",
            ),
            (
                "server { listen 80; return 600 x; }",
                "1:28: invalid return code \"600\"",
            ),
            (
                "server { listen 80; return /new; }",
                "1:28: invalid return code \"/new\"",
            ),
        ]);
    }

    #[test]
    fn cgi_extensions_must_start_with_a_dot_and_be_unique_per_block() {
        errors(&[
            (
                "server { listen 80; cgi py /usr/bin/python3; }",
                "1:25: invalid CGI extension \"py\", it must start with \".\"",
            ),
            (
                "server { listen 80; cgi . x; }",
                "1:25: invalid CGI extension \".\", it must start with \".\"",
            ),
            (
                "server { listen 80; cgi .py;\n cgi .py python3; }",
                "2:6: duplicate CGI extension \".py\"",
            ),
            (
                "server { listen 80; cgi .py \"\"; }",
                "1:29: invalid interpreter \"\"",
            ),
        ]);
        // A location may redefine an extension its server defines (the list is replaced).
        let c = ok("server { listen 80; cgi .py a; location / { cgi .py b; } }");
        assert_eq!(
            c.servers[0].locations[0]
                .settings
                .cgi_for("x.py")
                .and_then(|h| h.interpreter.clone()),
            Some(PathBuf::from("b"))
        );
    }

    #[test]
    fn empty_paths_and_index_names_are_errors() {
        errors(&[
            (
                "server { listen 80; root \"\"; }",
                "1:26: invalid path \"\"",
            ),
            ("access_log \"\";", "1:12: invalid path \"\""),
            (
                "server { listen 80; index a \"\"; }",
                "1:29: index \"\" in \"index\" directive is invalid",
            ),
        ]);
    }

    #[test]
    fn quoted_tokens_comments_and_glued_punctuation_parse_like_plain_ones() {
        let plain = ok("server {\n listen 80;\n server_name a b;\n root /srv/site;\n}");
        let fancy = ok(
            "# leading comment\n\"server\"{listen \"80\";server_name a\t\"b\" ;# names\n\
             root \"/srv/my site\";}# done",
        );
        for c in [&plain, &fancy] {
            assert_eq!(c.servers[0].listen, vec![addr("0.0.0.0:80")]);
            assert_eq!(c.servers[0].server_names, vec!["a", "b"]);
        }
        assert_eq!(
            fancy.servers[0].settings.root,
            PathBuf::from("/srv/my site")
        );
        // Unquoted, "/srv/my site" is two arguments.
        assert_eq!(
            err("server { listen 80; root /srv/my site; }"),
            "1:21: invalid number of arguments in \"root\" directive"
        );
        let escaped = server_settings(r#"return 200 "say \"hi\" \\o/";"#);
        assert_eq!(
            escaped
                .return_()
                .cloned()
                .and_then(|r| r.target)
                .map(|t| t.source()),
            Some(r#"say "hi" \o/"#.to_string())
        );
    }

    #[test]
    fn the_interface_example_parses_in_full() {
        let text = "\
# webserv demo
workers auto;
access_log logs/access.log;

server {
    listen 127.0.0.1:8080;
    server_name localhost;
    root ../www;
    error_page 404 /errors/404.html;
    client_max_body_size 10m;

    location /uploads {
        allow_methods GET POST DELETE;
        alias ../www/uploads;
        upload_store ../www/uploads;
        autoindex on;
    }
    location /cgi-bin {
        allow_methods GET POST;
        cgi .py /usr/bin/python3;
        cgi .php /usr/bin/php-cgi;
    }
    location /old { return 301 /new/; }
}

server {
    listen 8081;
    listen [::1]:8081;
    server_name Other.Example;
    location = / { return 200 \"other\"; }
}
";
        let c = ok(text);
        assert_eq!(c.log_files, vec![LogTarget::File(abs("logs/access.log"))]);
        assert_eq!(c.servers.len(), 2);
        let s = &c.servers[0];
        assert_eq!(s.listen, vec![addr("127.0.0.1:8080")]);
        assert_eq!(s.server_names, vec!["localhost"]);
        assert_eq!(s.settings.root, abs("../www"));
        assert_eq!(
            s.settings.error_page(404).map(|p| p.target.as_str()),
            Some("/errors/404.html")
        );
        assert_eq!(s.settings.client_max_body_size, 10 << 20);
        assert_eq!(s.locations.len(), 3);

        let up = &s.locations[0];
        assert_eq!((up.path.as_str(), up.is_exact()), ("/uploads", false));
        assert_eq!(
            up.settings.allow_methods.allow_header(),
            "GET, HEAD, POST, DELETE"
        );
        assert_eq!(up.settings.alias, Some(abs("../www/uploads")));
        assert_eq!(up.settings.upload_store, Some(abs("../www/uploads")));
        assert!(up.settings.autoindex);
        assert_eq!(up.settings.client_max_body_size, 10 << 20);
        assert_eq!(
            up.settings.error_page(404).map(|p| p.target.as_str()),
            Some("/errors/404.html")
        );

        let cgi = &s.locations[1].settings;
        assert_eq!(cgi.allow_methods, Methods::GET.union(Methods::POST));
        assert_eq!(
            cgi.cgi_for("index.php").and_then(|h| h.interpreter.clone()),
            Some(PathBuf::from("/usr/bin/php-cgi"))
        );
        assert_eq!(cgi.root, abs("../www"));

        let old = &s.locations[2].settings;
        assert_eq!(
            old.return_().cloned(),
            Some(Return {
                code: 301,
                target: Some(Template::literal("/new/"))
            })
        );

        let o = &c.servers[1];
        assert_eq!(o.listen, vec![addr("0.0.0.0:8081"), addr("[::1]:8081")]);
        assert_eq!(o.server_names, vec!["other.example"]);
        assert_eq!(o.settings.root, abs("www"));
        assert!(o.locations[0].is_exact());
    }

    fn header(name: &str, value: &str, always: bool) -> AddHeader {
        AddHeader {
            name: name.into(),
            value: value.into(),
            always,
        }
    }

    #[test]
    fn add_header_accumulates_and_a_location_with_its_own_replaces_the_servers() {
        let c = ok("server { listen 80;
                      add_header X-Frame-Options DENY;
                      add_header Content-Security-Policy \"default-src 'self'\" always;
                      location /own { add_header X-Own \" yes \"; }
                      location /empty { add_header X-Frame-Options \"\"; }
                      location /inherits { } }");
        let s = &c.servers[0];
        assert_eq!(
            s.settings.add_headers,
            vec![
                header("X-Frame-Options", "DENY", false),
                header("Content-Security-Policy", "default-src 'self'", true)
            ]
        );
        assert_eq!(
            s.locations[0].settings.add_headers,
            vec![header("X-Own", "yes", false)]
        );
        assert_eq!(
            s.locations[1].settings.add_headers,
            vec![header("X-Frame-Options", "", false)]
        );
        assert_eq!(s.locations[2].settings.add_headers, s.settings.add_headers);
        assert!(server_settings("").add_headers.is_empty());
    }

    #[test]
    fn add_header_refuses_bad_names_values_framing_fields_and_variables() {
        errors(&[
            (
                "server { listen 80;\n  add_header \"X Y\" v; }",
                "2:14: invalid header name \"X Y\"",
            ),
            (
                "server { listen 80; add_header X:Y v; }",
                "1:32: invalid header name \"X:Y\"",
            ),
            (
                "server { listen 80; add_header \"\" v; }",
                "1:32: invalid header name \"\"",
            ),
            (
                "server { listen 80; add_header content-length 5; }",
                "1:32: header \"content-length\" cannot be set with \"add_header\", the server sets \
                 it itself",
            ),
            (
                "server { listen 80; location / { add_header Transfer-Encoding chunked; } }",
                "1:45: header \"Transfer-Encoding\" cannot be set with \"add_header\", the server \
                 sets it itself",
            ),
            (
                "server { listen 80; add_header Connection close always; }",
                "1:32: header \"Connection\" cannot be set with \"add_header\", the server sets it \
                 itself",
            ),
            (
                "server { listen 80; add_header X \"a\r\nInjected: 1\"; }",
                "1:34: invalid header value, control characters (such as a line break) are not \
                 allowed",
            ),
            (
                "server { listen 80; add_header X \"a\nb\"; }",
                "1:34: invalid header value, control characters (such as a line break) are not \
                 allowed",
            ),
            (
                "server { listen 80; add_header X-Host $host; }",
                "1:39: variables are not supported in \"add_header\" values: \"$host\"",
            ),
            (
                "server { listen 80; add_header X v sometimes; }",
                "1:36: invalid parameter \"sometimes\", it must be \"always\"",
            ),
            (
                "server { listen 80; add_header X; }",
                "1:21: invalid number of arguments in \"add_header\" directive",
            ),
        ]);
        let tab = server_settings("add_header X \"a\tb\";");
        assert_eq!(tab.add_headers, vec![header("X", "a\tb", false)]);
    }

    #[test]
    fn expires_takes_off_epoch_max_and_signed_durations() {
        let table = [
            ("expires off;", Expires::Off),
            ("expires epoch;", Expires::Epoch),
            ("expires max;", Expires::Max),
            ("expires 0;", Expires::Seconds(0)),
            ("expires 30;", Expires::Seconds(30)),
            ("expires 1h;", Expires::Seconds(3600)),
            ("expires 1500ms;", Expires::Seconds(1)),
            ("expires -1h;", Expires::Seconds(-3600)),
            ("expires 8760h;", Expires::Seconds(31_536_000)),
        ];
        for (directive, expected) in table {
            assert_eq!(server_settings(directive).expires, expected, "{directive}");
        }
        assert_eq!(server_settings("").expires, Expires::Off);
        let c = ok("server { listen 80; expires 1h; location /a { expires off; } location /b {} }");
        let s = &c.servers[0];
        assert_eq!(s.locations[0].settings.expires, Expires::Off);
        assert_eq!(s.locations[1].settings.expires, Expires::Seconds(3600));
        let msg = |col: usize, v: &str| {
            format!(
                "1:{col}: invalid value \"{v}\" in \"expires\" directive, it must be \"off\", \
                 \"epoch\", \"max\" or a duration (up to 8760h, optionally negative)"
            )
        };
        for v in [
            "soon", "-", "--1", "+1h", "1D", "8761h", "modified", "@15h", "-x",
        ] {
            assert_eq!(
                err(&format!("server {{ listen 80; expires {v}; }}")),
                msg(29, v),
                "{v}"
            );
        }
        errors(&[(
            "server { listen 80; expires 1h; expires 2h; }",
            "1:33: \"expires\" directive is duplicate",
        )]);
    }

    #[test]
    fn http2_is_on_or_off_per_server_and_defaults_to_on_for_tls_addresses_only() {
        let c = ok("server { listen 80; } server { listen 81; http2 on; } \
                    server { listen 82; http2 off; }");
        let addr = |port: u16| SocketAddr::from(([0, 0, 0, 0], port));
        assert_eq!(c.servers[0].http2, None);
        assert!(!c.servers[0].http2_on(addr(80)));
        assert!(c.servers[1].http2_on(addr(81)));
        assert!(!c.servers[2].http2_on(addr(82)));
        let mut tls = c.servers[0].clone();
        tls.ssl = vec![addr(80)];
        assert!(tls.http2_on(addr(80)));
        tls.http2 = Some(false);
        assert!(!tls.http2_on(addr(80)));
        errors(&[
            (
                "server { listen 80; http2 yes; }",
                "1:27: invalid value \"yes\" in \"http2\" directive, it must be \"on\" or \"off\"",
            ),
            (
                "server { listen 80; http2 on; http2 off; }",
                "1:31: \"http2\" directive is duplicate",
            ),
            (
                "server { listen 80; location / { http2 on; } }",
                "1:34: \"http2\" directive is not allowed here",
            ),
        ]);
    }

    #[test]
    fn gzip_static_is_on_off_or_always_and_inherited() {
        use crate::config::Static;
        assert_eq!(server_settings("").compress.gzip_static, Static::Off);
        assert_eq!(
            server_settings("gzip_static on;").compress.gzip_static,
            Static::On
        );
        let c = ok(
            "server { listen 80; gzip_static on; location /a { gzip_static off; } location /b {} \
             location /c { gzip_static always; } }",
        );
        let s = &c.servers[0];
        assert_eq!(s.locations[0].settings.compress.gzip_static, Static::Off);
        assert_eq!(s.locations[1].settings.compress.gzip_static, Static::On);
        assert_eq!(s.locations[2].settings.compress.gzip_static, Static::Always);
        errors(&[
            (
                "server { listen 80; gzip_static sometimes; }",
                "1:33: invalid value \"sometimes\" in \"gzip_static\" directive, it must be \"on\", \
                 \"off\" or \"always\"",
            ),
            (
                "server { listen 80; gzip_static on; gzip_static on; }",
                "1:37: \"gzip_static\" directive is duplicate",
            ),
        ]);
    }

    #[test]
    fn error_log_takes_an_optional_level() {
        assert_eq!(
            ok("server { listen 80; }").error_log_level,
            LogLevel::Notice
        );
        for (level, name) in LogLevel::ALL {
            let c = ok(&format!("error_log e.log {name}; server {{ listen 80; }}"));
            assert_eq!(c.error_log_level, level);
            assert_eq!(c.error_log, LogTarget::File(abs("e.log")));
            assert_eq!(level.name(), name);
        }
        assert!(LogLevel::Error < LogLevel::Warn && LogLevel::Info < LogLevel::Debug);
        errors(&[(
            "error_log stderr crit; server { listen 80; }",
            "1:18: invalid log level \"crit\", it must be \"error\", \"warn\", \"notice\", \
             \"info\" or \"debug\"",
        )]);
    }

    #[test]
    fn return_parses_variables_and_refuses_unknown_ones_at_the_word() {
        let r = server_settings("return 301 https://$host$request_uri;")
            .return_()
            .cloned();
        let target = r.and_then(|r| r.target);
        assert!(target.as_ref().is_some_and(Template::has_variables));
        assert_eq!(
            target.map(|t| t.source()),
            Some("https://$host$request_uri".to_string())
        );
        let r = server_settings("return $scheme://a$uri;")
            .return_()
            .cloned();
        assert_eq!(r.map(|r| r.code), Some(302));
        errors(&[
            (
                "server { listen 80;\n  return 301 https://$hots$request_uri; }",
                "2:14: unknown \"hots\" variable in \"https://$hots$request_uri\"",
            ),
            (
                "server { listen 80; return 200 \"cost: $\"; }",
                "1:32: invalid variable name in \"cost: $\"",
            ),
            (
                "server { listen 80; return 302 \"${host\"; }",
                "1:32: the closing bracket in variable is missing in \"${host\"",
            ),
        ]);
    }
}
