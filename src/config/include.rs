//! nginx's file structure: `include FILE | PATTERN;` and the source map that keeps every word's
//! position in the file it was written in.
//!
//! An `include` may stand wherever a directive may, at any depth; the directives of the named
//! file (or of every file a pattern matches, in name order) take its place in the block, as in
//! nginx. A relative name is relative to the directory of the **main** configuration file, as
//! nginx resolves it against its configuration prefix (so `include snippets/x.conf;` means the
//! same in `nginx.conf` and in `sites-enabled/default`), whatever file the `include` is in. A name
//! with `*`, `?` or `[` is a pattern: matching no file is not an error (nginx's rule), only a
//! warning; a plain name that cannot be read is an error.
//!
//! Bounds: includes nest at most [`MAX_DEPTH`] deep (a file that includes itself, directly or
//! not, is an error at the `include` that closes the cycle), at most [`MAX_FILES`] files are read
//! in all, and each must be a regular file of at most [`MAX_FILE_SIZE`] bytes (so a pattern can
//! never make the server read a device or a FIFO).
//!
//! Positions: [`Pos::line`] counts lines across every file read, the main file's first, then each
//! included file's in the order they are read; [`Sources::locate`] turns such a line back into
//! the file and its own line. Every message about a directive of an included file is thus
//! `INCLUDED_FILE:LINE:COL`, and no directive's code needs to know about files.

use super::lexer::{self, Error, Pos};
use std::path::{Path, PathBuf};

/// How deep `include`s may nest (a file included by a file included by ...).
pub(crate) const MAX_DEPTH: usize = 16;
/// The most files one configuration may read, the main file included.
pub(crate) const MAX_FILES: usize = 1024;
/// The largest configuration file read (nginx's `mime.types` is 5 KB).
pub(crate) const MAX_FILE_SIZE: u64 = 16 << 20;

/// Every file of a configuration and the lines each occupies in the shared line count.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    files: Vec<Source>,
}

#[derive(Debug, Clone)]
struct Source {
    /// As given for the main file, absolute for included ones.
    path: PathBuf,
    /// Lines before this file's first line in the shared count.
    offset: usize,
    /// Its number of lines (at least 1).
    lines: usize,
}

impl Sources {
    /// A map whose first file is the main configuration file, `path` as given.
    pub(crate) fn new(path: &Path, text: &str) -> Sources {
        let mut sources = Sources::default();
        sources.add(path, text);
        sources
    }

    /// Adds a file; returns the number to add to its own line numbers.
    fn add(&mut self, path: &Path, text: &str) -> usize {
        let offset = self.files.last().map_or(0, |f| f.offset + f.lines);
        self.files.push(Source {
            path: path.to_path_buf(),
            offset,
            lines: text.matches('\n').count() + 1,
        });
        offset
    }

    /// The number of files read.
    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    /// The file a shared line number is in, and the line in that file. Lines outside every
    /// file (none are made) are given as the main file's.
    pub(crate) fn locate(&self, line: usize) -> (&Path, usize) {
        let file = self
            .files
            .iter()
            .rev()
            .find(|f| line > f.offset)
            .or(self.files.first());
        match file {
            Some(f) => (&f.path, line - f.offset),
            None => (Path::new(""), line),
        }
    }
}

/// Reads included files for the tree builder: where relative names start, what is being read
/// (for cycles), and the warnings it has to give.
pub(crate) struct Loader<'a> {
    /// The main file's directory (absolute).
    dir: &'a Path,
    pub(crate) sources: Sources,
    /// The files being read, outermost first, canonical (the main file first, when it exists).
    stack: Vec<PathBuf>,
    /// Patterns that matched nothing, and other advice, at the `include`.
    pub(crate) warnings: Vec<(Pos, String)>,
    /// `include` lines that could not be followed (the tree goes on without them).
    pub(crate) errors: Vec<Error>,
}

/// One file to read for an `include`, as the tree builder gets it.
pub(crate) struct Included {
    /// The file's tokens, their lines already in the shared count.
    pub(crate) tokens: Vec<lexer::Token>,
    pub(crate) eof: Pos,
}

impl<'a> Loader<'a> {
    /// `main`: the main file's path (to recognise an include of it), `dir` its directory.
    pub(crate) fn new(dir: &'a Path, main: &Path, sources: Sources) -> Loader<'a> {
        let stack = std::fs::canonicalize(main).into_iter().collect();
        Loader {
            dir,
            sources,
            stack,
            warnings: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The files `include ARG;` names, in order (none when it cannot be followed: the error
    /// or warning is recorded). `at`: the argument's position.
    pub(crate) fn resolve(&mut self, arg: &str, at: Pos) -> Vec<PathBuf> {
        if arg.is_empty() {
            self.errors.push(Error::new(at, "invalid include \"\""));
            return Vec::new();
        }
        let full = super::directive::clean(&self.dir.join(arg));
        if !is_pattern(arg) {
            return vec![full];
        }
        match glob(&full) {
            Ok(paths) if paths.is_empty() => {
                self.warnings.push((
                    at,
                    format!("include \"{arg}\" matches no file (nothing is included)"),
                ));
                Vec::new()
            }
            Ok(paths) => paths,
            Err(message) => {
                self.errors.push(Error::new(at, message));
                Vec::new()
            }
        }
    }

    /// Opens one file of `include ARG;` (at `at`): checked against the files being read
    /// (a cycle, too deep), read and split into tokens. None when it cannot be included (the
    /// error is recorded); otherwise [`Loader::close`] must follow once its directives are
    /// read. Err: its text does not split into tokens, which ends the reading as a syntax
    /// error of the main file does.
    pub(crate) fn open(
        &mut self,
        path: PathBuf,
        arg: &str,
        at: Pos,
    ) -> Result<Option<Included>, Error> {
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if let Some(i) = self.stack.iter().position(|p| *p == canonical) {
            let chain: Vec<String> = self.stack[i..]
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|p| format!("\"{}\"", p.display()))
                .collect();
            self.errors.push(Error::new(
                at,
                format!("include cycle: {}", chain.join(" includes ")),
            ));
            return Ok(None);
        }
        if self.stack.len() >= MAX_DEPTH {
            self.errors.push(Error::new(
                at,
                format!(
                    "includes nested too deeply (more than {MAX_DEPTH}) at \"{}\"",
                    path.display()
                ),
            ));
            return Ok(None);
        }
        let text = match self.read(&path, arg) {
            Ok(text) => text,
            Err(message) => {
                self.errors.push(Error::new(at, message));
                return Ok(None);
            }
        };
        let included = self.tokens(path, &text)?;
        self.stack.push(canonical);
        Ok(Some(included))
    }

    /// The file [`Loader::open`] opened last has been read.
    pub(crate) fn close(&mut self) {
        self.stack.pop();
    }

    /// The text of an included file, checked: a regular file, not too large, UTF-8, and within
    /// the bound on files read.
    fn read(&self, path: &Path, arg: &str) -> Result<String, String> {
        if self.sources.len() >= MAX_FILES {
            return Err(format!(
                "too many configuration files (more than {MAX_FILES}) at \"{}\"",
                path.display()
            ));
        }
        let metadata = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return Err(self.cannot_read(path, arg, &e)),
        };
        if !metadata.is_file() {
            return Err(format!(
                "cannot include \"{}\": not a regular file",
                path.display()
            ));
        }
        if metadata.len() > MAX_FILE_SIZE {
            return Err(format!(
                "cannot include \"{}\": larger than {} MiB",
                path.display(),
                MAX_FILE_SIZE >> 20
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| self.cannot_read(path, arg, &e))?;
        String::from_utf8(bytes).map_err(|e| {
            let (line, col) = utf8_error_position(e.as_bytes(), e.utf8_error().valid_up_to());
            format!(
                "cannot include \"{}\": invalid UTF-8 at line {line}, column {col}",
                path.display()
            )
        })
    }

    /// The message for a file that cannot be read; for a relative name, where it was looked
    /// for (a user who expects it next to the including file learns the rule).
    fn cannot_read(&self, path: &Path, arg: &str, e: &std::io::Error) -> String {
        let mut message = format!("cannot read include file \"{}\": {e}", path.display());
        if Path::new(arg).is_relative() {
            message.push_str(&format!(
                " (a relative include is relative to \"{}\", the main configuration file's \
                 directory, as in nginx)",
                self.dir.display()
            ));
        }
        message
    }

    /// The tokens of an included file's text, their lines moved into the shared count.
    fn tokens(&mut self, path: PathBuf, text: &str) -> Result<Included, Error> {
        let offset = self.sources.add(&path, text);
        let shift = |pos: Pos| Pos {
            line: pos.line + offset,
            col: pos.col,
        };
        let tokens = lexer::tokenize(text).map_err(|e| Error {
            pos: shift(e.pos),
            ..e
        })?;
        let eof = shift(tokens.eof);
        let tokens = tokens
            .tokens
            .into_iter()
            .map(|mut t| {
                t.pos = shift(t.pos);
                t
            })
            .collect();
        Ok(Included { tokens, eof })
    }
}

/// The 1-based line and column (in characters) of byte `at` of `bytes`, valid UTF-8 before it.
pub(crate) fn utf8_error_position(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = String::from_utf8_lossy(&bytes[..at.min(bytes.len())]);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Whether an include names a pattern (glob(3)'s special characters, as nginx tests).
fn is_pattern(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

/// The most paths a pattern may match.
const MAX_MATCHES: usize = MAX_FILES;

/// The paths matching `pattern` (absolute), sorted by name as glob(3) sorts them. Each
/// component may hold `*`, `?` and `[...]`; a name starting with `.` is matched only by a
/// component starting with `.`. Directories that cannot be read match nothing.
fn glob(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    use std::path::Component;
    let mut found = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = match component {
            Component::Normal(part) => part,
            other => {
                for path in &mut found {
                    path.push(other.as_os_str());
                }
                continue;
            }
        };
        let Some(part) = part.to_str() else {
            return Err(format!("invalid include pattern \"{}\"", pattern.display()));
        };
        if !is_pattern(part) {
            for path in &mut found {
                path.push(part);
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| glob_match(part, name))
                .collect();
            names.sort();
            for name in names {
                if next.len() >= MAX_MATCHES {
                    return Err(format!(
                        "include pattern \"{}\" matches more than {MAX_MATCHES} files",
                        pattern.display()
                    ));
                }
                next.push(dir.join(name));
            }
        }
        found = next;
    }
    // A component after the last pattern may name nothing in some of the directories.
    found.retain(|p| p.exists());
    Ok(found)
}

/// Whether `name` matches the glob `pattern` (one path component): `*` any run of characters,
/// `?` one character, `[abc]`, `[a-z]`, `[!a]` or `[^a]` one character of (or not of) a set,
/// `\c` the character `c`. A leading `.` of `name` must be matched by a literal `.`. Linear
/// in practice: `*` backtracks to its last position only.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was and the name position it is tried from.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match class(&p, pi, n[ni]) {
                Some((true, end)) => Some(end),
                Some((false, _)) => None,
                // An unclosed `[` is an ordinary character.
                None => (n[ni] == '[').then_some(pi + 1),
            },
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == n[ni]).then_some(pi + 2),
            Some(&c) => (c == n[ni]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ni += 1;
            }
            (None, Some((star_at, from))) => {
                pi = star_at + 1;
                ni = from + 1;
                star = Some((star_at, from + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The bracket expression at `p[start]` (`[`) against `c`: whether it matches and the index
/// after its `]`; None when it is not closed.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negated = matches!(p.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &here = p.get(i)?;
        if here == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&end| end != ']') {
            if (here..=p[i + 2]).contains(&c) {
                matched = true;
            }
            i += 3;
        } else {
            if here == c {
                matched = true;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns_match_as_glob_3_does() {
        let cases = [
            ("*.conf", "a.conf", true),
            ("*.conf", "a.conf.bak", false),
            ("*.conf", ".hidden.conf", false),
            (".*.conf", ".hidden.conf", true),
            ("*", "anything", true),
            ("*", "", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("a*b", "abab", true),
            ("?.types", "m.types", true),
            ("?.types", "mm.types", false),
            ("[abc].conf", "b.conf", true),
            ("[abc].conf", "d.conf", false),
            ("[a-c]x", "cx", true),
            ("[a-c]x", "dx", false),
            ("[!a-c]x", "dx", true),
            ("[^a-c]x", "ax", false),
            ("[]]x", "]x", true),
            ("[a-]x", "-x", true),
            ("[ab", "[ab", true),
            ("\\*x", "*x", true),
            ("\\*x", "ax", false),
            ("site-*.conf", "site-é.conf", true),
            ("", "", true),
            ("", "a", false),
            ("**a", "a", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(
                glob_match(pattern, name),
                expected,
                "{pattern:?} ~ {name:?}"
            );
        }
    }

    #[test]
    fn a_pathological_pattern_answers_quickly() {
        let name = "a".repeat(5_000);
        let started = std::time::Instant::now();
        assert!(!glob_match("*a*a*a*a*a*a*a*b", &name));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn glob_lists_matching_files_in_name_order_and_skips_what_is_missing() {
        let dir = std::env::temp_dir().join(format!("webserv-glob-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sites/a")).unwrap();
        std::fs::create_dir_all(dir.join("sites/b")).unwrap();
        for f in [
            "sites/z.conf",
            "sites/m.conf",
            "sites/x.txt",
            "sites/a/in.conf",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let names = |pattern: &str| -> Vec<String> {
            glob(&dir.join(pattern))
                .unwrap()
                .iter()
                .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(names("sites/*.conf"), ["sites/m.conf", "sites/z.conf"]);
        assert_eq!(names("sites/*/in.conf"), ["sites/a/in.conf"]);
        assert_eq!(names("nothing/*.conf"), Vec::<String>::new());
        assert_eq!(names("sites/*.none"), Vec::<String>::new());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A fresh directory with `files` ((name, text)); removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str, files: &[(&str, &str)]) -> Dir {
            let dir =
                std::env::temp_dir().join(format!("webserv-include-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            for (name, text) in files {
                let path = dir.join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            Dir(dir)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        /// The errors of loading `name`, one `PATH:LINE:COL: message` per line, with the
        /// directory written as `D`.
        fn errors(&self, name: &str) -> String {
            match crate::config::load(&self.path(name)) {
                Ok(_) => panic!("{name} loaded"),
                Err(e) => e.to_string().replace(&self.0.display().to_string(), "D"),
            }
        }

        fn warnings(&self, name: &str) -> Vec<String> {
            let config =
                crate::config::load(&self.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            config
                .warnings
                .iter()
                .map(|w| w.to_string().replace(&self.0.display().to_string(), "D"))
                .collect()
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn included_directives_stand_where_the_include_is_at_any_depth() {
        let dir = Dir::new(
            "depth",
            &[
                (
                    "main.conf",
                    "include top.conf;\nserver {\n  include conf.d/*.conf;\n  location / { include loc.conf; }\n}\n",
                ),
                ("top.conf", "workers 3;\n"),
                ("site/index.html", "x"),
                ("conf.d/a.conf", "listen 127.0.0.1:0;\n"),
                ("conf.d/b.conf", "server_name b.test;\nroot site;\n"),
                ("loc.conf", "autoindex on;\n"),
            ],
        );
        let config = crate::config::load(&dir.path("main.conf")).unwrap();
        assert_eq!(config.workers, 3);
        let server = &config.servers[0];
        assert_eq!(server.server_names, ["b.test"]);
        assert_eq!(server.settings.root, dir.path("site"));
        assert!(server.locations[0].settings.autoindex);
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    #[test]
    fn relative_includes_are_relative_to_the_main_files_directory() {
        let dir = Dir::new(
            "relative",
            &[
                ("nginx.conf", "include sites/site.conf;\n"),
                (
                    "sites/site.conf",
                    "server {\n  listen 127.0.0.1:0;\n  include snippets/s.conf;\n}\n",
                ),
                ("snippets/s.conf", "root www;\n"),
            ],
        );
        let config = crate::config::load(&dir.path("nginx.conf")).unwrap();
        assert_eq!(config.servers[0].settings.root, dir.path("www"));

        // The same name next to the including file only gets a hint.
        let dir = Dir::new(
            "relative-hint",
            &[
                ("nginx.conf", "include sites/site.conf;\n"),
                ("sites/site.conf", "include other.conf;\n"),
                ("sites/other.conf", "server { listen 127.0.0.1:0; }\n"),
            ],
        );
        assert_eq!(
            dir.errors("nginx.conf"),
            "D/sites/site.conf:1:9: cannot read include file \"D/other.conf\": No such file or \
             directory (os error 2) (a relative include is relative to \"D\", the main \
             configuration file's directory, as in nginx)"
        );
    }

    #[test]
    fn errors_in_included_files_name_the_file_and_its_own_line() {
        let dir = Dir::new(
            "errors",
            &[
                (
                    "main.conf",
                    "# main\nserver {\n  listen 127.0.0.1:0;\n  include inc.conf;\n  bogus 1;\n}\n",
                ),
                (
                    "inc.conf",
                    "\n\n  root a b;\n  index x;\n  include deeper.conf;\n",
                ),
                ("deeper.conf", "# deeper\nautoindex maybe;\n"),
            ],
        );
        assert_eq!(
            dir.errors("main.conf"),
            "D/inc.conf:3:3: invalid number of arguments in \"root\" directive\n\
             D/deeper.conf:2:11: invalid value \"maybe\" in \"autoindex\" directive, it must \
             be \"on\" or \"off\"\n\
             D/main.conf:5:3: unknown directive \"bogus\""
        );
        // A syntax error in an included file stops the reading there.
        let dir = Dir::new(
            "syntax",
            &[
                (
                    "main.conf",
                    "server {\n  listen 127.0.0.1:0;\n  include inc.conf;\n}\n",
                ),
                ("inc.conf", "root x;\n}\n"),
            ],
        );
        assert_eq!(dir.errors("main.conf"), "D/inc.conf:2:1: unexpected \"}\"");
        let dir = Dir::new(
            "unterminated",
            &[
                ("main.conf", "include inc.conf;\n"),
                ("inc.conf", "server {\n  listen 80;\n"),
            ],
        );
        assert_eq!(
            dir.errors("main.conf"),
            "D/inc.conf:2:13: unexpected end of file, expecting \"}\""
        );
    }

    #[test]
    fn include_cycles_are_errors_at_the_include_that_closes_them() {
        let dir = Dir::new(
            "cycle",
            &[
                (
                    "main.conf",
                    "include a.conf;\nserver { listen 127.0.0.1:0; }\n",
                ),
                ("a.conf", "include b.conf;\n"),
                ("b.conf", "\ninclude a.conf;\n"),
            ],
        );
        assert_eq!(
            dir.errors("main.conf"),
            "D/b.conf:2:9: include cycle: \"D/a.conf\" includes \"D/b.conf\" includes \
             \"D/a.conf\""
        );
        let dir = Dir::new(
            "self",
            &[(
                "main.conf",
                "server { listen 127.0.0.1:0; include main.conf; }\n",
            )],
        );
        assert_eq!(
            dir.errors("main.conf"),
            "D/main.conf:1:38: include cycle: \"D/main.conf\" includes \"D/main.conf\""
        );
    }

    #[test]
    fn includes_nest_only_so_deep() {
        let mut files: Vec<(String, String)> = (0..40)
            .map(|i| (format!("f{i}.conf"), format!("include f{}.conf;\n", i + 1)))
            .collect();
        files.push(("f40.conf".into(), "server { listen 127.0.0.1:0; }\n".into()));
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let dir = Dir::new("deep", &refs);
        let e = dir.errors("f0.conf");
        assert!(
            e.starts_with("D/f15.conf:1:9: includes nested too deeply (more than 16)"),
            "{e}"
        );
    }

    #[test]
    fn a_pattern_matching_nothing_is_a_warning_and_a_missing_file_an_error() {
        let dir = Dir::new(
            "nothing",
            &[(
                "main.conf",
                "include conf.d/*.conf;\nserver { listen 127.0.0.1:0; }\n",
            )],
        );
        assert_eq!(
            dir.warnings("main.conf"),
            [
                "D/main.conf:1:9: warning: include \"conf.d/*.conf\" matches no file (nothing is \
              included)"
            ]
        );
        let dir = Dir::new(
            "missing",
            &[(
                "main.conf",
                "include /nonexistent/webserv.conf;\nserver { listen 127.0.0.1:0; }\n",
            )],
        );
        assert_eq!(
            dir.errors("main.conf"),
            "D/main.conf:1:9: cannot read include file \"/nonexistent/webserv.conf\": No such \
             file or directory (os error 2)"
        );
    }

    #[test]
    fn an_include_must_name_a_readable_regular_utf8_file() {
        let dir = Dir::new(
            "kinds",
            &[
                (
                    "main.conf",
                    "include sub;\ninclude /dev/zero;\ninclude bad.conf;\ninclude;\ninclude \"\";\n\
                     include x { }\nserver { listen 127.0.0.1:0; }\n",
                ),
                ("sub/x", ""),
            ],
        );
        std::fs::write(dir.path("bad.conf"), b"root \xff;").unwrap();
        assert_eq!(
            dir.errors("main.conf"),
            "D/main.conf:1:9: cannot include \"D/sub\": not a regular file\n\
             D/main.conf:2:9: cannot include \"/dev/zero\": not a regular file\n\
             D/main.conf:3:9: cannot include \"D/bad.conf\": invalid UTF-8 at line 1, column 6\n\
             D/main.conf:4:1: invalid number of arguments in \"include\" directive\n\
             D/main.conf:5:9: invalid include \"\"\n\
             D/main.conf:6:11: directive \"include\" is not terminated by \";\""
        );
    }

    #[test]
    fn an_unreadable_include_is_an_error_naming_the_reason() {
        let dir = Dir::new(
            "unreadable",
            &[
                (
                    "main.conf",
                    "include secret.conf;\nserver { listen 127.0.0.1:0; }\n",
                ),
                ("secret.conf", "workers 1;\n"),
            ],
        );
        // A file below a file cannot be read by anyone, root included.
        std::fs::write(
            dir.path("main.conf"),
            "include secret.conf/inner.conf;\nserver { listen 127.0.0.1:0; }\n",
        )
        .unwrap();
        assert_eq!(
            dir.errors("main.conf"),
            "D/main.conf:1:9: cannot read include file \"D/secret.conf/inner.conf\": Not a \
             directory (os error 20) (a relative include is relative to \"D\", the main \
             configuration file's directory, as in nginx)"
        );
        // A file without read permission: tests/cli.rs, as a user the permission binds.
    }

    #[test]
    fn nginx_mime_types_can_be_included_as_it_is() {
        let types = Path::new("/etc/nginx/mime.types");
        if !types.exists() {
            crate::testing::missing("/etc/nginx/mime.types (Debian package nginx-common)");
            return;
        }
        let dir = Dir::new(
            "mime",
            &[(
                "main.conf",
                "include /etc/nginx/mime.types;\ndefault_type application/octet-stream;\n\
                 server { listen 127.0.0.1:0; }\n",
            )],
        );
        let config = crate::config::load(&dir.path("main.conf")).unwrap();
        let types = config.servers[0].settings.types.as_deref().unwrap();
        assert_eq!(types.get("html"), Some("text/html"));
        assert_eq!(types.get("svg"), Some("image/svg+xml"));
    }

    #[test]
    fn shared_lines_map_back_to_their_file() {
        let mut sources = Sources::new(Path::new("main.conf"), "a\nb\nc");
        let first = sources.add(Path::new("/inc/one.conf"), "x\n");
        let second = sources.add(Path::new("/inc/two.conf"), "y");
        assert_eq!((first, second), (3, 5));
        assert_eq!(sources.locate(1), (Path::new("main.conf"), 1));
        assert_eq!(sources.locate(3), (Path::new("main.conf"), 3));
        assert_eq!(sources.locate(4), (Path::new("/inc/one.conf"), 1));
        assert_eq!(sources.locate(5), (Path::new("/inc/one.conf"), 2));
        assert_eq!(sources.locate(6), (Path::new("/inc/two.conf"), 1));
        assert_eq!(sources.locate(0), (Path::new("main.conf"), 0));
    }
}
