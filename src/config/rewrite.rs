//! nginx's rewrite module: `rewrite`, `return`, `set` and `break`, in `server` and `location`.
//!
//! A block's rewrite directives form a small program run in the order written
//! ([`Settings::rewrites`](super::model::Settings)), and, as in nginx, a block's program is its own:
//! a location does not inherit its server's (the server's runs first, before a location is
//! chosen) nor its parent location's. How the programs run is in `handler::rewrite`.
//!
//! - `rewrite REGEX REPLACEMENT [last | break | redirect | permanent];` matches REGEX against
//!   the decoded path (`$uri`); its groups are `$1`... in REPLACEMENT and in the directives
//!   after it. A REPLACEMENT starting with `http://`, `https://` or `$scheme` is a redirect.
//! - `return CODE [TEXT | URL];`, `return URL;`: the answer, at once (`444`: the connection is
//!   closed without one).
//! - `set $NAME VALUE;`: a variable for the rest of the request (`$NAME` anywhere in the
//!   configuration; `set $args` changes the query).
//! - `break;`: the block's program stops here.

use super::directive::{Word, fail, parse_template, regex_message};
use super::lexer::Error;
use super::template::Template;

type Result<T> = std::result::Result<T, Error>;

/// `return CODE [URL | TEXT];`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    pub code: u16,
    /// The URL for 301/302/303/307/308, otherwise the body text (may be absent); either may
    /// hold variables.
    pub target: Option<Template>,
}

/// One directive of a block's rewrite program.
#[derive(Debug, Clone)]
pub enum Action {
    Rewrite(Rewrite),
    Return(Return),
    /// `set $NAME VALUE` (the name without `$`).
    Set(String, Template),
    Break,
}

/// `rewrite REGEX REPLACEMENT [FLAG];`
#[derive(Debug, Clone)]
pub struct Rewrite {
    pub regex: regex::Regex,
    pub replacement: Template,
    pub flag: RewriteFlag,
}

/// What follows a `rewrite` whose expression matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteFlag {
    /// No flag: the next directive; at the end of the program, the location is found again.
    Continue,
    /// `last`: the program stops and the location is found again for the new path.
    Last,
    /// `break`: the program stops and the request goes on in this location.
    Break,
    /// `redirect` (302), `permanent` (301), or a replacement that is a URL (302).
    Redirect(u16),
}

impl Rewrite {
    /// Whether the replacement asks the client to go elsewhere (a URL, or a redirect flag).
    pub fn redirects(&self) -> Option<u16> {
        match self.flag {
            RewriteFlag::Redirect(code) => Some(code),
            _ if is_url(&self.replacement) => Some(302),
            _ => None,
        }
    }
}

/// Whether a replacement or return target is an absolute URL (nginx's test).
pub(super) fn is_url(template: &Template) -> bool {
    template.starts_with("http://")
        || template.starts_with("https://")
        || template.source().starts_with("$scheme")
}

/// `rewrite REGEX REPLACEMENT [FLAG]` (the words after the name). `names`: the variables the
/// configuration defines (groups and `set`), besides the rewrite's own groups, which are
/// numbered.
pub(super) fn rewrite(args: &[Word], names: &[String]) -> Result<Rewrite> {
    let (pattern, replacement) = (&args[0], &args[1]);
    if pattern.text.is_empty() {
        return fail(pattern.pos, "empty regular expression in \"rewrite\"");
    }
    let regex = regex::RegexBuilder::new(&pattern.text)
        .size_limit(1 << 20)
        .build()
        .or_else(|e| {
            fail(
                pattern.pos,
                format!(
                    "invalid regular expression \"{}\" in \"rewrite\": {}",
                    pattern.text,
                    regex_message(&e)
                ),
            )
        })?;
    let flag = match args.get(2) {
        None => RewriteFlag::Continue,
        Some(w) => match w.text.as_str() {
            "last" => RewriteFlag::Last,
            "break" => RewriteFlag::Break,
            "redirect" => RewriteFlag::Redirect(302),
            "permanent" => RewriteFlag::Redirect(301),
            _ => {
                return fail(
                    w.pos,
                    format!(
                        "invalid parameter \"{}\" of \"rewrite\", it must be \"last\", \
                         \"break\", \"redirect\" or \"permanent\"",
                        w.text
                    ),
                );
            }
        },
    };
    let replacement = parse_template(replacement, names)?;
    if !is_url(&replacement)
        && !matches!(flag, RewriteFlag::Redirect(_))
        && !replacement.starts_with("/")
        && !replacement.starts_with("$")
    {
        return fail(
            args[1].pos,
            format!(
                "invalid replacement \"{}\" of \"rewrite\": a path must start with \"/\" (or \
                 be a URL, for a redirect)",
                args[1].text
            ),
        );
    }
    Ok(Rewrite {
        regex,
        replacement,
        flag,
    })
}

/// Variables nginx lets `set` change (besides the configuration's own).
const SETTABLE: [&str; 1] = ["args"];

/// `set $NAME VALUE`.
pub(super) fn set(args: &[Word], names: &[String]) -> Result<Action> {
    let (name, value) = (&args[0], &args[1]);
    let Some(bare) = name.text.strip_prefix('$') else {
        return fail(name.pos, format!("invalid variable name \"{}\"", name.text));
    };
    if bare.is_empty()
        || !bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || bare.starts_with(|c: char| c.is_ascii_digit())
    {
        return fail(name.pos, format!("invalid variable name \"{}\"", name.text));
    }
    let builtin = super::template::Variable::from_name(bare, &[]).is_some();
    if builtin && !SETTABLE.contains(&bare) {
        return fail(
            name.pos,
            format!("the \"{bare}\" variable is built in and cannot be changed by \"set\""),
        );
    }
    Ok(Action::Set(bare.to_string(), parse_template(value, names)?))
}

/// The names `set` defines in a directive tree (for `$name` references anywhere).
pub(super) fn set_names(d: &super::directive::Directive) -> Option<&str> {
    (d.name.text == "set")
        .then(|| d.args.first())
        .flatten()
        .and_then(|w| w.text.strip_prefix('$'))
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> std::result::Result<crate::config::Config, String> {
        crate::config::parse(text, Path::new("/etc/webserv/t.conf")).map_err(|e| e.to_string())
    }

    /// The program of the server and of its first location, as `rewrite(FLAG)`, `return CODE`,
    /// `set NAME`, `break`.
    fn programs(body: &str) -> (Vec<String>, Vec<String>) {
        let c = parse(&format!("server {{ listen 80; {body} }}"))
            .unwrap_or_else(|e| panic!("{body}\n=> {e}"));
        let show = |actions: &[Action]| {
            actions
                .iter()
                .map(|a| match a {
                    Action::Rewrite(r) => format!("rewrite {} {:?}", r.regex, r.flag),
                    Action::Return(r) => format!("return {}", r.code),
                    Action::Set(name, value) => format!("set {name}={}", value.source()),
                    Action::Break => "break".to_string(),
                })
                .collect::<Vec<_>>()
        };
        let server = &c.servers[0];
        let location = server
            .locations
            .first()
            .map_or_else(Vec::new, |l| show(&l.settings.rewrites));
        (show(&server.settings.rewrites), location)
    }

    #[test]
    fn each_block_has_its_own_program_in_the_order_written() {
        let (server, location) = programs(
            "rewrite ^/old/(.*)$ /new/$1 permanent; set $x a$1; return 403;
             location / { set $y b; rewrite ^ /z last; break; rewrite ^/a /b; return 200 ok; }",
        );
        assert_eq!(
            server,
            [
                "rewrite ^/old/(.*)$ Redirect(301)",
                "set x=a$1",
                "return 403"
            ]
        );
        assert_eq!(
            location,
            [
                "set y=b",
                "rewrite ^ Last",
                "break",
                "rewrite ^/a Continue",
                "return 200"
            ]
        );
        // A location does not inherit its server's program.
        let (server, location) = programs("return 301 /x; location / { }");
        assert_eq!((server.len(), location.len()), (1, 0));
    }

    #[test]
    fn set_variables_are_known_everywhere_in_the_file() {
        let c = parse("server { listen 80; location / { return 200 $later; } set $later \"x\"; }");
        assert!(c.is_ok(), "{c:?}");
    }

    #[test]
    fn rewrite_return_and_set_mistakes_are_errors_at_the_word() {
        let cases = [
            (
                "rewrite ^/(a /b;",
                "1:29: invalid regular expression \"^/(a\" in \"rewrite\": ",
            ),
            (
                "rewrite ^ /b last now;",
                "1:21: invalid number of arguments in \"rewrite\" directive",
            ),
            (
                "rewrite ^ /b lst;",
                "1:34: invalid parameter \"lst\" of \"rewrite\", it must be \"last\", \"break\", \
                 \"redirect\" or \"permanent\"",
            ),
            (
                "rewrite ^ b;",
                "1:31: invalid replacement \"b\" of \"rewrite\": a path must start with \"/\" \
                 (or be a URL, for a redirect)",
            ),
            (
                "rewrite ^ /$nope;",
                "1:31: unknown \"nope\" variable in \"/$nope\"",
            ),
            ("set x 1;", "1:25: invalid variable name \"x\""),
            ("set $1 1;", "1:25: invalid variable name \"$1\""),
            (
                "set $uri /x;",
                "1:25: the \"uri\" variable is built in and cannot be changed by \"set\"",
            ),
            (
                "set $a;",
                "1:21: invalid number of arguments in \"set\" directive",
            ),
            (
                "break 1;",
                "1:21: invalid number of arguments in \"break\" directive",
            ),
            ("return 1000;", "1:28: invalid return code \"1000\""),
        ];
        for (body, expected) in cases {
            let e = parse(&format!("server {{ listen 80; {body} }}"))
                .err()
                .unwrap_or_else(|| panic!("{body} accepted"));
            let expected = format!("/etc/webserv/t.conf:{expected}");
            assert!(e.starts_with(&expected), "{body}\n{e}\n{expected}");
        }
        // Not at the top level (nginx's http): they belong to a server or a location.
        let e = parse("rewrite ^ /x;\nserver { listen 80; }").err().unwrap();
        assert_eq!(
            e,
            "/etc/webserv/t.conf:1:1: \"rewrite\" directive is not allowed here"
        );
    }

    #[test]
    fn a_url_replacement_redirects_with_302_unless_permanent() {
        let c = parse(
            "server { listen 80;
               rewrite ^ https://$host$request_uri;
               rewrite ^/a /b redirect;
               rewrite ^/c $scheme://x/ permanent;
               rewrite ^/d /e; }",
        )
        .unwrap();
        let codes: Vec<Option<u16>> = c.servers[0]
            .settings
            .rewrites
            .iter()
            .map(|a| match a {
                Action::Rewrite(r) => r.redirects(),
                _ => None,
            })
            .collect();
        assert_eq!(codes, [Some(302), Some(302), Some(301), None]);
    }
}
