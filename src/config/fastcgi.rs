//! The `fastcgi_*` directives, in nginx's grammar: `fastcgi_pass`, `fastcgi_param`,
//! `fastcgi_index`, `fastcgi_split_path_info`, `fastcgi_keep_conn`, the three timeouts and
//! `fastcgi_intercept_errors`. The parser's table lists them and hands each one here; what a
//! block sets is an [`Overrides`], laid over what it inherits by [`Overrides::apply_to`].
//!
//! Until the FastCGI client is wired into the server ([`WIRED`]), a configuration using any of
//! them is refused with a message saying so (never accepted to do nothing).

use super::lexer::Pos;
use super::model::{FastCgi, FastCgiParam, FastCgiPass};
use super::parser::{
    Directive, Word, duplicate, fail, parse_duration, parse_on_off, parse_template, regex_message,
};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

type Result<T> = std::result::Result<T, super::lexer::Error>;

/// Whether the server runs FastCGI requests. While false, every `fastcgi_*` directive is a
/// configuration error (after its own checks), so that no configuration is accepted and then
/// silently ignored.
pub(super) const WIRED: bool = false;

/// The directives this module reads (their contexts and argument counts are rows of the
/// parser's table).
pub(super) const NAMES: [&str; 9] = [
    "fastcgi_pass",
    "fastcgi_param",
    "fastcgi_index",
    "fastcgi_split_path_info",
    "fastcgi_keep_conn",
    "fastcgi_connect_timeout",
    "fastcgi_read_timeout",
    "fastcgi_send_timeout",
    "fastcgi_intercept_errors",
];

/// What one block sets itself; None means inherited.
#[derive(Default)]
pub(super) struct Overrides {
    pass: Option<FastCgiPass>,
    params: Option<Vec<FastCgiParam>>,
    index: Option<String>,
    split_path_info: Option<regex::Regex>,
    keep_conn: Option<bool>,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
    intercept_errors: Option<bool>,
}

impl Overrides {
    /// `base` with this block's settings laid over. `fastcgi_pass` is not inherited (in nginx
    /// it makes its own location the handler).
    pub(super) fn apply_to(self, base: &FastCgi) -> FastCgi {
        FastCgi {
            pass: self.pass,
            params: self.params.unwrap_or_else(|| base.params.clone()),
            index: self.index.or_else(|| base.index.clone()),
            split_path_info: self
                .split_path_info
                .or_else(|| base.split_path_info.clone()),
            keep_conn: self.keep_conn.unwrap_or(base.keep_conn),
            connect_timeout: self.connect_timeout.unwrap_or(base.connect_timeout),
            read_timeout: self.read_timeout.unwrap_or(base.read_timeout),
            send_timeout: self.send_timeout.unwrap_or(base.send_timeout),
            intercept_errors: self.intercept_errors.unwrap_or(base.intercept_errors),
        }
    }
}

/// Reads one `fastcgi_*` directive of a block (already checked for its context and count).
/// `dir`: the configuration's directory; `captures`: the group names of the file's location
/// expressions.
pub(super) fn directive(
    o: &mut Overrides,
    d: &Directive,
    dir: &Path,
    captures: &[String],
) -> Result<()> {
    let args = &d.args;
    match d.name.text.as_str() {
        "fastcgi_pass" => {
            if o.pass.is_some() {
                return duplicate(d);
            }
            o.pass = Some(parse_pass(&args[0], dir)?);
        }
        "fastcgi_param" => {
            let (name, value) = (&args[0], &args[1]);
            if name.text.is_empty() || !name.text.bytes().all(|b| b.is_ascii_graphic()) {
                return fail(
                    name.pos,
                    format!("invalid parameter name \"{}\"", name.text),
                );
            }
            let if_not_empty = match args.get(2) {
                None => false,
                Some(w) if w.text == "if_not_empty" => true,
                Some(w) => {
                    return fail(
                        w.pos,
                        format!(
                            "invalid parameter \"{}\", it must be \"if_not_empty\"",
                            w.text
                        ),
                    );
                }
            };
            o.params.get_or_insert_with(Vec::new).push(FastCgiParam {
                name: name.text.clone(),
                value: parse_template(value, captures)?,
                if_not_empty,
            });
        }
        "fastcgi_index" => {
            if o.index.is_some() {
                return duplicate(d);
            }
            let w = &args[0];
            if w.text.is_empty() || w.text.contains('/') {
                return fail(w.pos, format!("invalid index \"{}\"", w.text));
            }
            o.index = Some(w.text.clone());
        }
        "fastcgi_split_path_info" => {
            if o.split_path_info.is_some() {
                return duplicate(d);
            }
            o.split_path_info = Some(parse_split(&args[0])?);
        }
        "fastcgi_keep_conn" | "fastcgi_intercept_errors" => {
            let slot = if d.name.text == "fastcgi_keep_conn" {
                &mut o.keep_conn
            } else {
                &mut o.intercept_errors
            };
            if slot.is_some() {
                return duplicate(d);
            }
            *slot = Some(parse_on_off(&args[0], &d.name.text)?);
        }
        name => {
            let slot = match name {
                "fastcgi_connect_timeout" => &mut o.connect_timeout,
                "fastcgi_read_timeout" => &mut o.read_timeout,
                _ => &mut o.send_timeout,
            };
            if slot.is_some() {
                return duplicate(d);
            }
            let duration = parse_duration(&args[0])?;
            if duration.is_zero() {
                return fail(args[0].pos, format!("invalid value \"{}\"", args[0].text));
            }
            *slot = Some(duration);
        }
    }
    Ok(())
}

/// The refusal of a configuration that uses FastCGI while it is not wired.
pub(super) fn refuse_unwired(at: Pos) -> Result<()> {
    if WIRED {
        return Ok(());
    }
    fail(
        at,
        "FastCGI is not available in this build yet: the fastcgi_* directives are read and \
         checked, but no request would be sent to the application",
    )
}

/// `fastcgi_pass HOST:PORT | unix:PATH | NAME`.
fn parse_pass(w: &Word, dir: &Path) -> Result<FastCgiPass> {
    let text = w.text.as_str();
    if text.contains('$') {
        return fail(
            w.pos,
            format!("variables are not supported in \"fastcgi_pass\": \"{text}\""),
        );
    }
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return fail(w.pos, format!("invalid address \"{text}\""));
        }
        return Ok(FastCgiPass::Unix(super::clean(&dir.join(path))));
    }
    if text.contains("://") {
        return fail(
            w.pos,
            format!(
                "invalid address \"{text}\": fastcgi_pass takes HOST:PORT, unix:PATH or an upstream name, without a scheme"
            ),
        );
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        // TODO(upstream): names are looked up among the `upstream` blocks once they exist; until
        // then, a name alone is an unknown upstream.
        return upstream_name(w);
    };
    let port = match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => p,
        _ => return fail(w.pos, format!("invalid port in \"{text}\"")),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return fail(w.pos, format!("no host in \"{text}\""));
    }
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(_) => Vec::new(),
    };
    if addrs.is_empty() {
        return fail(w.pos, format!("host not found in upstream \"{text}\""));
    }
    Ok(FastCgiPass::Tcp(addrs))
}

/// A `fastcgi_pass` naming an upstream. The hook for `upstream NAME { }` blocks: until they
/// exist, no name can be known.
fn upstream_name(w: &Word) -> Result<FastCgiPass> {
    if w.text.is_empty()
        || !w
            .text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return fail(w.pos, format!("invalid address \"{}\"", w.text));
    }
    fail(
        w.pos,
        format!(
            "no upstream \"{}\" (write HOST:PORT or unix:PATH; upstream blocks are not \
             supported yet)",
            w.text
        ),
    )
}

/// `fastcgi_split_path_info REGEX`: compiled, with exactly two groups, as nginx requires.
fn parse_split(w: &Word) -> Result<regex::Regex> {
    let regex = regex::RegexBuilder::new(&w.text)
        .size_limit(1 << 20)
        .build()
        .or_else(|e| {
            fail(
                w.pos,
                format!(
                    "invalid regular expression \"{}\": {}",
                    w.text,
                    regex_message(&e)
                ),
            )
        })?;
    if regex.captures_len() != 3 {
        return fail(
            w.pos,
            format!(
                "pattern \"{}\" must have 2 captures (the script name and the path info)",
                w.text
            ),
        );
    }
    Ok(regex)
}

#[cfg(test)]
mod tests {
    use super::super::model::Settings;
    use super::*;
    use std::path::PathBuf;

    /// The parse with FastCGI allowed (as it will be once wired): `LINE:COL: message` or the
    /// config.
    fn parse(text: &str) -> std::result::Result<super::super::Config, String> {
        super::super::parse_allowing_fastcgi(text, Path::new("/etc/webserv/test.conf"))
            .map_err(|e| format!("{}:{}: {}", e.line, e.col, e.message))
    }

    fn location(body: &str) -> Settings {
        let config = parse(&format!("server {{ listen 80; location / {{ {body} }} }}"))
            .unwrap_or_else(|e| panic!("{body}: {e}"));
        config.servers[0].locations[0].settings.clone()
    }

    fn err(body: &str) -> String {
        match parse(&format!("server {{ listen 80; location / {{ {body} }} }}")) {
            Ok(_) => panic!("{body} accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn fastcgi_pass_takes_an_address_or_a_socket() {
        let s = location("fastcgi_pass 127.0.0.1:9000;");
        assert_eq!(
            s.fastcgi.pass,
            Some(FastCgiPass::Tcp(vec!["127.0.0.1:9000".parse().unwrap()]))
        );
        let s = location("fastcgi_pass [::1]:9000;");
        assert_eq!(
            s.fastcgi.pass,
            Some(FastCgiPass::Tcp(vec!["[::1]:9000".parse().unwrap()]))
        );
        let s = location("fastcgi_pass localhost:9000;");
        assert!(matches!(s.fastcgi.pass, Some(FastCgiPass::Tcp(ref a)) if !a.is_empty()));
        let s = location("fastcgi_pass unix:/run/php/php8.2-fpm.sock;");
        assert_eq!(
            s.fastcgi.pass,
            Some(FastCgiPass::Unix(PathBuf::from("/run/php/php8.2-fpm.sock")))
        );
        let s = location("fastcgi_pass unix:run/fpm.sock;");
        assert_eq!(
            s.fastcgi.pass,
            Some(FastCgiPass::Unix(PathBuf::from(
                "/etc/webserv/run/fpm.sock"
            )))
        );
        for (arg, message) in [
            ("127.0.0.1:0", "invalid port in \"127.0.0.1:0\""),
            ("127.0.0.1:65536", "invalid port in \"127.0.0.1:65536\""),
            ("127.0.0.1:+90", "invalid port in \"127.0.0.1:+90\""),
            (":9000", "no host in \":9000\""),
            ("unix:", "invalid address \"unix:\""),
            (
                "php$x",
                "variables are not supported in \"fastcgi_pass\": \"php$x\"",
            ),
            (
                "no.such.host.invalid:9000",
                "host not found in upstream \"no.such.host.invalid:9000\"",
            ),
            (
                "php_backend",
                "no upstream \"php_backend\" (write HOST:PORT or unix:PATH; upstream blocks are \
                 not supported yet)",
            ),
        ] {
            assert_eq!(
                err(&format!("fastcgi_pass {arg};")),
                format!("1:47: {message}"),
                "{arg}"
            );
        }
        assert!(err("fastcgi_pass http://a:1;").starts_with("1:47: invalid address"));
    }

    #[test]
    fn fastcgi_pass_belongs_to_a_location_and_is_not_inherited_by_nested_ones() {
        assert_eq!(
            parse("server { listen 80; fastcgi_pass 127.0.0.1:9000; }")
                .err()
                .as_deref(),
            Some("1:21: \"fastcgi_pass\" directive is not allowed here")
        );
        let c = parse(
            "server { listen 80; location / { fastcgi_pass 127.0.0.1:9000; location /a { } } }",
        )
        .unwrap();
        assert!(c.servers[0].locations[0].settings.fastcgi.pass.is_some());
        assert!(c.servers[0].locations[1].settings.fastcgi.pass.is_none());
    }

    /// nginx's `fastcgi.conf`, pasted as it ships (Debian's nginx-common).
    const FASTCGI_CONF: &str = r#"
        fastcgi_param  SCRIPT_FILENAME    $document_root$fastcgi_script_name;
        fastcgi_param  QUERY_STRING       $query_string;
        fastcgi_param  REQUEST_METHOD     $request_method;
        fastcgi_param  CONTENT_TYPE       $content_type;
        fastcgi_param  CONTENT_LENGTH     $content_length;
        fastcgi_param  SCRIPT_NAME        $fastcgi_script_name;
        fastcgi_param  REQUEST_URI        $request_uri;
        fastcgi_param  DOCUMENT_URI       $document_uri;
        fastcgi_param  DOCUMENT_ROOT      $document_root;
        fastcgi_param  SERVER_PROTOCOL    $server_protocol;
        fastcgi_param  REQUEST_SCHEME     $scheme;
        fastcgi_param  HTTPS              $https if_not_empty;
        fastcgi_param  GATEWAY_INTERFACE  CGI/1.1;
        fastcgi_param  SERVER_SOFTWARE    nginx/$nginx_version;
        fastcgi_param  REMOTE_ADDR        $remote_addr;
        fastcgi_param  REMOTE_PORT        $remote_port;
        fastcgi_param  SERVER_ADDR        $server_addr;
        fastcgi_param  SERVER_PORT        $server_port;
        fastcgi_param  SERVER_NAME        $server_name;
        # PHP only, required if PHP was built with --enable-force-cgi-redirect
        fastcgi_param  REDIRECT_STATUS    200;
    "#;

    #[test]
    fn nginx_fastcgi_conf_pasted_inline_is_read_whole() {
        let config = parse(&format!(
            "server {{ listen 80; {FASTCGI_CONF}
               location ~ [^/]\\.php(/|$) {{
                   fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
                   fastcgi_pass unix:/run/php/php8.2-fpm.sock;
                   fastcgi_index index.php;
                   fastcgi_param PATH_INFO $fastcgi_path_info;
                   fastcgi_keep_conn on;
                   fastcgi_read_timeout 300s;
                   fastcgi_intercept_errors on;
               }}
               location /inherits {{ }} }}"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let server = &config.servers[0];
        assert_eq!(server.settings.fastcgi.params.len(), 20);
        let https = &server.settings.fastcgi.params[11];
        assert_eq!((https.name.as_str(), https.if_not_empty), ("HTTPS", true));
        let php = &server.locations[0].settings.fastcgi;
        // The location's own fastcgi_param lines replace the server's, as in nginx.
        assert_eq!(php.params.len(), 1);
        assert_eq!(php.params[0].value.source(), "$fastcgi_path_info");
        assert_eq!(php.index.as_deref(), Some("index.php"));
        assert!(php.keep_conn && php.intercept_errors);
        assert_eq!(php.read_timeout, Duration::from_secs(300));
        assert_eq!(php.connect_timeout, Duration::from_secs(60));
        let split = php.split_path_info.as_ref().unwrap();
        let caps = split.captures("/a/index.php/x/y").unwrap();
        assert_eq!((&caps[1], &caps[2]), ("/a/index.php", "/x/y"));
        assert_eq!(server.locations[1].settings.fastcgi.params.len(), 20);
    }

    #[test]
    fn bad_fastcgi_values_are_errors_at_the_value() {
        let table = [
            (
                "fastcgi_param A;",
                "1:34: invalid number of arguments in \"fastcgi_param\" directive",
            ),
            (
                "fastcgi_param A b c;",
                "1:52: invalid parameter \"c\", it must be \"if_not_empty\"",
            ),
            (
                "fastcgi_param A $nope;",
                "1:50: unknown \"nope\" variable in \"$nope\"",
            ),
            ("fastcgi_index a/b;", "1:48: invalid index \"a/b\""),
            (
                "fastcgi_split_path_info ^(.+)$;",
                "1:58: pattern \"^(.+)$\" must have 2 captures (the script name and the path info)",
            ),
            (
                "fastcgi_split_path_info (a;",
                "1:58: invalid regular expression \"(a\": unclosed group",
            ),
            (
                "fastcgi_keep_conn yes;",
                "1:52: invalid value \"yes\" in \"fastcgi_keep_conn\" directive, it must be \"on\" or \"off\"",
            ),
            ("fastcgi_read_timeout 0;", "1:55: invalid value \"0\""),
            ("fastcgi_read_timeout 1x;", "1:55: invalid duration \"1x\""),
            (
                "fastcgi_index a; fastcgi_index b;",
                "1:51: \"fastcgi_index\" directive is duplicate",
            ),
        ];
        for (body, expected) in table {
            assert_eq!(err(body), expected, "{body}");
        }
    }

    #[test]
    fn while_unwired_every_fastcgi_directive_is_refused_at_load() {
        for body in [
            "location / { fastcgi_pass 127.0.0.1:9000; }",
            "fastcgi_param A b;",
            "location / { fastcgi_read_timeout 5s; }",
        ] {
            let text = format!("server {{ listen 80; {body} }}");
            let e = super::super::parse(&text, Path::new("/etc/w.conf")).err();
            let e = e.map(|e| e.message).unwrap_or_default();
            assert!(
                e.starts_with("FastCGI is not available in this build yet"),
                "{body}: {e}"
            );
        }
        // A mistake in them is still reported as such first.
        let e = super::super::parse(
            "server { listen 80; fastcgi_index a/b; }",
            Path::new("/etc/w.conf"),
        )
        .err()
        .map(|e| e.message);
        assert_eq!(e.as_deref(), Some("invalid index \"a/b\""));
    }
}
