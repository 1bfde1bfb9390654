//! `server_name`: nginx's kinds of names, read once when the configuration is loaded.
//!
//! - `example.com`: that host exactly (compared lower-case);
//! - `*.example.com`: any host ending in `.example.com` (one label or more before it);
//! - `www.example.*`: any host starting with `www.example.`;
//! - `.example.com`: both `example.com` and `*.example.com`;
//! - `~REGEX`: a regular expression searched in the host, ignoring case (anchor it with `^` and
//!   `$`); its groups are variables (`$1`, `$name`) for the server's `return`, `rewrite`,
//!   `try_files`...;
//! - `""`: requests without a Host; `_` (or any name no host has) only makes the server
//!   nameless; `$hostname`: this machine's name.
//!
//! The order a Host finds its server in (nginx's) is in `site::route::VirtualHosts`.

use super::lexer::{Error, Pos};

type Result<T> = std::result::Result<T, Error>;

/// One name of a `server_name` line.
#[derive(Debug, Clone)]
pub enum ServerName {
    /// Lower-case; empty: a request without a Host.
    Exact(String),
    /// `*.example.com`, kept as `.example.com`: a host that ends with it.
    Leading(String),
    /// `www.example.*`, kept as `www.example.`: a host that starts with it.
    Trailing(String),
    /// `~REGEX`, compiled case-insensitive.
    Regex(regex::Regex),
}

impl ServerName {
    /// The name as nginx would write it back: `example.com`, `*.example.com`,
    /// `www.example.*`, `~REGEX` (two servers giving the same key on one address conflict).
    pub fn key(&self) -> String {
        match self {
            ServerName::Exact(name) => name.clone(),
            ServerName::Leading(suffix) => format!("*{suffix}"),
            ServerName::Trailing(prefix) => format!("{prefix}*"),
            ServerName::Regex(regex) => format!("~{}", regex.as_str()),
        }
    }

    /// Whether a (lower-case) host matches, and for a regular expression its groups.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            ServerName::Exact(name) => name == host,
            ServerName::Leading(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
            ServerName::Trailing(prefix) => host.len() > prefix.len() && host.starts_with(prefix),
            ServerName::Regex(regex) => regex.is_match(host),
        }
    }
}

/// The names one `server_name` word stands for (two for `.example.com`), and a warning for a
/// name no Host can carry. `hostname`: this machine's name, for `$hostname`.
pub(super) fn parse(
    text: &str,
    pos: Pos,
    hostname: &dyn Fn() -> String,
) -> Result<(Vec<ServerName>, Option<String>)> {
    if let Some(source) = text.strip_prefix('~') {
        if source.is_empty() {
            return Err(Error::new(
                pos,
                "empty regular expression in \"server_name\"",
            ));
        }
        let regex = regex::RegexBuilder::new(source)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                Error::new(
                    pos,
                    format!(
                        "invalid regular expression \"{source}\" in \"server_name\": {}",
                        super::directive::regex_message(&e)
                    ),
                )
            })?;
        return Ok((vec![ServerName::Regex(regex)], None));
    }
    if text == "$hostname" {
        return Ok((
            vec![ServerName::Exact(hostname().to_ascii_lowercase())],
            None,
        ));
    }
    let name = text.to_ascii_lowercase();
    let invalid = || {
        Err(Error::new(
            pos,
            format!("invalid server name or wildcard \"{text}\""),
        ))
    };
    let stars = name.matches('*').count();
    let names = if let Some(rest) = name.strip_prefix("*.") {
        if stars > 1 || rest.is_empty() {
            return invalid();
        }
        vec![ServerName::Leading(format!(".{rest}"))]
    } else if let Some(rest) = name.strip_suffix(".*") {
        if stars > 1 || rest.is_empty() {
            return invalid();
        }
        vec![ServerName::Trailing(format!("{rest}."))]
    } else if stars > 0 {
        return invalid();
    } else if let Some(rest) = name.strip_prefix('.') {
        if rest.is_empty() {
            return invalid();
        }
        vec![
            ServerName::Exact(rest.to_string()),
            ServerName::Leading(name.clone()),
        ]
    } else {
        vec![ServerName::Exact(name.clone())]
    };
    let suspicious = name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    let warning = suspicious
        .then(|| format!("server name \"{text}\" has suspicious symbols: no Host can match it"));
    Ok((names, warning))
}

/// How well a written `server_name` (lower-case) matches a lower-case `host`, for choosing
/// among names without the tables of `site::route` (a certificate by SNI): higher is better,
/// exact above any leading wildcard above any trailing one, a longer wildcard above a shorter;
/// None for no match and for regular expressions.
pub fn name_rank(written: &str, host: &str) -> Option<(u8, usize)> {
    if written.starts_with('~') {
        return None;
    }
    if written == host {
        return Some((3, 0));
    }
    if let Some(suffix) = written.strip_prefix('*') {
        return (host.len() > suffix.len() && host.ends_with(suffix)).then_some((2, suffix.len()));
    }
    if let Some(bare) = written.strip_prefix('.') {
        if host == bare {
            return Some((3, 0));
        }
        return (host.len() > written.len() && host.ends_with(written))
            .then_some((2, written.len()));
    }
    if let Some(prefix) = written.strip_suffix('*') {
        return (host.len() > prefix.len() && host.starts_with(prefix))
            .then_some((1, prefix.len()));
    }
    None
}

/// This machine's host name (`$hostname`), as gethostname(2) gives it to nginx.
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        let (names, _) = parse(text, Pos { line: 1, col: 1 }, &|| "Box.Local".into())
            .unwrap_or_else(|e| panic!("{text}: {}", e.message));
        names
            .iter()
            .map(|n| match n {
                ServerName::Exact(s) => format!("exact {s}"),
                ServerName::Leading(s) => format!("leading {s}"),
                ServerName::Trailing(s) => format!("trailing {s}"),
                ServerName::Regex(r) => format!("regex {}", r.as_str()),
            })
            .collect()
    }

    fn error(text: &str) -> String {
        match parse(text, Pos { line: 1, col: 1 }, &|| "h".into()) {
            Ok(_) => panic!("{text} accepted"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn every_kind_of_name_is_read() {
        assert_eq!(names("Example.COM"), ["exact example.com"]);
        assert_eq!(names("*.Example.com"), ["leading .example.com"]);
        assert_eq!(names("www.example.*"), ["trailing www.example."]);
        assert_eq!(
            names(".example.com"),
            ["exact example.com", "leading .example.com"]
        );
        assert_eq!(names("~^(?<u>.+)\\.Ex$"), ["regex ^(?<u>.+)\\.Ex$"]);
        assert_eq!(names("_"), ["exact _"]);
        assert_eq!(names(""), ["exact "]);
        assert_eq!(names("$hostname"), ["exact box.local"]);
    }

    #[test]
    fn bad_wildcards_and_regexes_are_errors() {
        for bad in [
            "www.*.com",
            "*example.com",
            "*",
            "*.",
            ".*",
            "*.a.*",
            "a*b",
            ".",
        ] {
            assert_eq!(
                error(bad),
                format!("invalid server name or wildcard \"{bad}\""),
                "{bad}"
            );
        }
        assert_eq!(error("~"), "empty regular expression in \"server_name\"");
        assert!(
            error("~^(a").starts_with("invalid regular expression \"^(a\" in \"server_name\": "),
            "{}",
            error("~^(a")
        );
    }

    #[test]
    fn names_with_slashes_or_ports_are_warned_about() {
        let (_, warning) = parse("example.com:8080", Pos { line: 1, col: 1 }, &String::new)
            .map_err(|e| e.message)
            .unwrap();
        assert_eq!(
            warning.as_deref(),
            Some("server name \"example.com:8080\" has suspicious symbols: no Host can match it")
        );
    }

    #[test]
    fn certificate_names_rank_as_hosts_choose_servers() {
        fn best<'n>(names: &[&'n str], host: &str) -> Option<&'n str> {
            names
                .iter()
                .filter_map(|n| Some((name_rank(n, host)?, *n)))
                .max_by_key(|(rank, _)| *rank)
                .map(|(_, n)| n)
        }
        let names = [
            "*.example.com",
            "*.a.example.com",
            "www.example.*",
            "a.example.com",
        ];
        assert_eq!(best(&names, "a.example.com"), Some("a.example.com"));
        assert_eq!(best(&names, "x.a.example.com"), Some("*.a.example.com"));
        assert_eq!(best(&names, "www.example.com"), Some("*.example.com"));
        assert_eq!(best(&names, "www.example.org"), Some("www.example.*"));
        assert_eq!(best(&[".example.com"], "example.com"), Some(".example.com"));
        assert_eq!(best(&["~^a"], "abc"), None);
        assert_eq!(best(&names, "example.com"), None);
    }

    #[test]
    fn names_match_hosts_as_nginx_does() {
        let matches = |name: &str, host: &str| {
            parse(name, Pos { line: 1, col: 1 }, &String::new)
                .unwrap()
                .0
                .iter()
                .any(|n| n.matches(host))
        };
        assert!(matches("*.example.com", "www.example.com"));
        assert!(matches("*.example.com", "a.b.example.com"));
        assert!(!matches("*.example.com", "example.com"));
        assert!(!matches("*.example.com", "xexample.com"));
        assert!(matches(".example.com", "example.com"));
        assert!(matches(".example.com", "w.example.com"));
        assert!(matches("www.example.*", "www.example.org"));
        assert!(matches("www.example.*", "www.example.co.uk"));
        assert!(!matches("www.example.*", "www.example"));
        assert!(matches("~^www\\d+\\.", "www12.example.com"));
        assert!(matches("~EXAMPLE", "www.example.com"));
        assert!(!matches("_", "example.com"));
    }
}
