//! The `fastcgi_*` directives, in nginx's grammar: `fastcgi_pass`, `fastcgi_param`,
//! `fastcgi_index`, `fastcgi_split_path_info`, `fastcgi_keep_conn`, the three timeouts and
//! `fastcgi_intercept_errors`. The parser's table lists them and hands each one here; what a
//! block sets is an [`Overrides`], laid over what it inherits by [`Overrides::apply_to`].

use super::directive::{
    Directive, Word, duplicate, fail, parse_duration, parse_on_off, parse_template, regex_message,
};
use super::model::{FastCgi, FastCgiParam, Methods, Settings};
use super::proxy::Globals;
use super::proxy::address::Host;
use super::proxy::model::Upstream;
use crate::cgi_vars::Skip;
use std::sync::Arc;
use std::time::Duration;

type Result<T> = std::result::Result<T, super::lexer::Error>;

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
    pass: Option<Arc<Upstream>>,
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
        let params = self.params.unwrap_or_else(|| base.params.clone());
        FastCgi {
            pass: self.pass,
            replaced: Skip::of(params.iter().map(|p| p.name.as_str())),
            params,
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
/// `globals`: the `upstream` blocks (and the implicit groups made so far); `captures`: the group
/// names of the file's location expressions.
pub(super) fn directive(
    o: &mut Overrides,
    d: &Directive,
    globals: &Globals,
    captures: &[String],
) -> Result<()> {
    let args = &d.args;
    match d.name.text.as_str() {
        "fastcgi_pass" => {
            if o.pass.is_some() {
                return duplicate(d);
            }
            o.pass = Some(parse_pass(&args[0], globals)?);
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
            // A later line for the same name replaces the earlier one (what nginx's duplicate
            // pairs come to in PHP, which keeps the last).
            let params = o.params.get_or_insert_with(Vec::new);
            params.retain(|p| p.name != name.text);
            params.push(FastCgiParam {
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

/// A location that passes requests to a FastCGI application takes every method (nginx's
/// `fastcgi_pass` does: the application decides), unless `allow_methods` is set in it or in a
/// block it inherits from: the default (`GET HEAD`) is for files.
pub(super) fn default_methods(settings: &mut Settings, methods_set: bool) {
    if settings.fastcgi.pass.is_some() && !methods_set {
        settings.allow_methods = Methods::ALL
            .iter()
            .fold(Methods::NONE, |all, (m, _)| all.union(*m));
    }
}

/// `fastcgi_pass HOST:PORT | unix:PATH | NAME`: the upstream group it names (an `upstream`
/// block), or the implicit group of its address (`config::proxy`'s, apart from the proxy's).
fn parse_pass(w: &Word, globals: &Globals) -> Result<Arc<Upstream>> {
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
        return globals.fastcgi_group(&Host::Unix(path.to_string()), w);
    }
    if text.contains("://") {
        return fail(
            w.pos,
            format!(
                "invalid address \"{text}\": fastcgi_pass takes HOST:PORT, unix:PATH or an upstream name, without a scheme"
            ),
        );
    }
    let host = match text.rsplit_once(':') {
        // An IPv6 literal has colons of its own: its port follows the bracket.
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
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
            Host::Inet {
                host: host.to_string(),
                port: Some(port),
            }
        }
        _ => {
            if text.is_empty()
                || !text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return fail(w.pos, format!("invalid address \"{text}\""));
            }
            Host::Inet {
                host: text.to_string(),
                port: None,
            }
        }
    };
    globals.fastcgi_group(&host, w)
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
    use std::path::Path;

    /// The parse: `LINE:COL: message` or the config.
    fn parse(text: &str) -> std::result::Result<super::super::Config, String> {
        super::super::parse(text, Path::new("/etc/webserv/test.conf"))
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

    /// The addresses of the group a location's `fastcgi_pass` names, as written in logs.
    fn servers(s: &Settings) -> Vec<String> {
        let group = s.fastcgi.pass.as_ref().expect("fastcgi_pass");
        group.servers.iter().map(|s| s.addr.to_string()).collect()
    }

    #[test]
    fn fastcgi_pass_takes_an_address_or_a_socket() {
        let s = location("fastcgi_pass 127.0.0.1:9000;");
        assert_eq!(servers(&s), ["127.0.0.1:9000"]);
        let group = s.fastcgi.pass.as_ref().unwrap();
        assert!(group.implicit && group.keepalive.is_some());
        assert_eq!(
            servers(&location("fastcgi_pass [::1]:9000;")),
            ["[::1]:9000"]
        );
        assert!(!servers(&location("fastcgi_pass localhost:9000;")).is_empty());
        assert_eq!(
            servers(&location("fastcgi_pass unix:/run/php/php8.2-fpm.sock;")),
            ["unix:/run/php/php8.2-fpm.sock"]
        );
        assert_eq!(
            servers(&location("fastcgi_pass unix:run/fpm.sock;")),
            ["unix:/etc/webserv/run/fpm.sock"]
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
            ("php_backend", "no port in upstream \"php_backend\""),
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
    fn fastcgi_pass_names_an_upstream_block_and_its_implicit_groups_are_its_own() {
        let c = parse(
            "upstream php { server unix:/run/a.sock weight=2; server 127.0.0.1:9001 backup;
                            keepalive 8; }
             server { listen 80;
                location /a { fastcgi_pass php; }
                location /b { fastcgi_pass 127.0.0.1:9000; }
                location /c { fastcgi_pass 127.0.0.1:9000; }
                location /d { proxy_pass http://127.0.0.1:9000; } }",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let l = &c.servers[0].locations;
        let php = l[0].settings.fastcgi.pass.as_ref().unwrap();
        assert_eq!((php.name.as_str(), php.servers.len()), ("php", 2));
        assert_eq!(php.keepalive.map(|k| k.connections), Some(8));
        let b = l[1].settings.fastcgi.pass.as_ref().unwrap();
        let c2 = l[2].settings.fastcgi.pass.as_ref().unwrap();
        assert_eq!(b.id, c2.id, "one implicit group per address");
        let proxied = l[3].settings.proxy.pass.as_ref().unwrap();
        assert_ne!(b.id, proxied.upstream.id, "never the proxy's connections");
        assert_eq!(
            parse("upstream php { server unix:/a.sock; } server { listen 80; location / { fastcgi_pass php:9000; } }")
                .err()
                .as_deref(),
            Some("1:85: upstream \"php\" may not have port 9000")
        );
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
}
