//! Texts with nginx-style variables (`https://$host$request_uri`, `$document_root$1`), as
//! `return`, `try_files` and `fastcgi_param` take them: parsed once when the configuration is
//! read, expanded per request by the handler, which supplies each variable's value.

/// The variables a template may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variable {
    /// `$host`: the request's host (without port), else the server's first name, else the
    /// address the connection arrived on.
    Host,
    /// `$request_uri`: the original target, path and query, as the client sent them.
    RequestUri,
    /// `$uri` (also `$document_uri`): the decoded, normalised path (after `try_files`, the file
    /// it found).
    Uri,
    /// `$args` (also `$query_string`): the query, without `?`.
    Args,
    /// `$is_args`: `?` when there is a query, else empty.
    IsArgs,
    /// `$scheme`: `http` or `https`.
    Scheme,
    /// `$server_name`: the server's first `server_name`, or empty.
    ServerName,
    /// `$server_port`: the port the connection arrived on.
    ServerPort,
    /// `$server_addr`: the address the connection arrived on.
    ServerAddr,
    /// `$remote_addr`, `$remote_port`: the client's address and port.
    RemoteAddr,
    RemotePort,
    /// `$remote_user`: the user name of a Basic `Authorization` field (empty without one).
    RemoteUser,
    /// `$request_method`: `GET`, `POST`, ...
    RequestMethod,
    /// `$server_protocol`: `HTTP/1.0` or `HTTP/1.1`.
    ServerProtocol,
    /// `$content_type`, `$content_length`: the request's fields (empty when absent).
    ContentType,
    ContentLength,
    /// `$https`: `on` on a TLS connection, else empty.
    Https,
    /// `$document_root`: the `root` (or the `alias`) in force.
    DocumentRoot,
    /// `$realpath_root`: `$document_root` with its symbolic links resolved.
    RealpathRoot,
    /// `$request_filename`: the file the current `$uri` maps to.
    RequestFilename,
    /// `$fastcgi_script_name`, `$fastcgi_path_info`: the request path split by
    /// `fastcgi_split_path_info` (the whole path and nothing without it; with `fastcgi_index`
    /// added to a path ending in `/`).
    FastcgiScriptName,
    FastcgiPathInfo,
    /// `$nginx_version`: for `fastcgi_params` files written for nginx; webserv's version.
    NginxVersion,
    /// `$1` ... `$9`: a numbered group of the location's regular expression.
    Capture(u8),
    /// `$name`: a named group `(?<name>...)` of a location's regular expression.
    NamedCapture(String),
    /// `$http_NAME`: the request field NAME (`_` for `-`, any case); repeated fields joined.
    Header(String),
    /// `$arg_NAME`: the value of argument NAME in the query, as sent (still encoded).
    Arg(String),
    /// `$cookie_NAME`: the value of cookie NAME.
    Cookie(String),
    /// `$ssl_client_s_dn`: the client certificate's subject (RFC 2253), or empty.
    SslClientSDn,
    /// `$ssl_client_i_dn`: its issuer (RFC 2253), or empty.
    SslClientIDn,
    /// `$ssl_client_serial`: its serial number in hexadecimal, or empty.
    SslClientSerial,
    /// `$ssl_client_verify`: `SUCCESS`, `FAILED:reason` or `NONE`.
    SslClientVerify,
}

/// The plain names and what they stand for (several names may stand for one variable).
const NAMES: &[(&str, Variable)] = &[
    ("host", Variable::Host),
    ("request_uri", Variable::RequestUri),
    ("uri", Variable::Uri),
    ("document_uri", Variable::Uri),
    ("args", Variable::Args),
    ("query_string", Variable::Args),
    ("is_args", Variable::IsArgs),
    ("scheme", Variable::Scheme),
    ("server_name", Variable::ServerName),
    ("server_port", Variable::ServerPort),
    ("server_addr", Variable::ServerAddr),
    ("remote_addr", Variable::RemoteAddr),
    ("remote_port", Variable::RemotePort),
    ("remote_user", Variable::RemoteUser),
    ("request_method", Variable::RequestMethod),
    ("server_protocol", Variable::ServerProtocol),
    ("content_type", Variable::ContentType),
    ("content_length", Variable::ContentLength),
    ("https", Variable::Https),
    ("document_root", Variable::DocumentRoot),
    ("realpath_root", Variable::RealpathRoot),
    ("request_filename", Variable::RequestFilename),
    ("fastcgi_script_name", Variable::FastcgiScriptName),
    ("fastcgi_path_info", Variable::FastcgiPathInfo),
    ("nginx_version", Variable::NginxVersion),
    ("ssl_client_s_dn", Variable::SslClientSDn),
    ("ssl_client_i_dn", Variable::SslClientIDn),
    ("ssl_client_serial", Variable::SslClientSerial),
    ("ssl_client_verify", Variable::SslClientVerify),
];

impl Variable {
    /// The variable called `name` (without `$`); `captures`: the group names the configuration's
    /// regular expressions define.
    pub fn from_name(name: &str, captures: &[String]) -> Option<Variable> {
        if let Some((_, v)) = NAMES.iter().find(|(n, _)| *n == name) {
            return Some(v.clone());
        }
        if captures.iter().any(|c| c == name) {
            return Some(Variable::NamedCapture(name.to_string()));
        }
        let prefixed = |prefix: &str| {
            name.strip_prefix(prefix)
                .filter(|rest| !rest.is_empty())
                .map(str::to_string)
        };
        if let Some(field) = prefixed("http_") {
            return Some(Variable::Header(field));
        }
        if let Some(arg) = prefixed("arg_") {
            return Some(Variable::Arg(arg));
        }
        prefixed("cookie_").map(Variable::Cookie)
    }

    /// The canonical spelling, without `$`.
    pub fn name(&self) -> String {
        match self {
            Variable::Capture(n) => n.to_string(),
            Variable::NamedCapture(name) => name.clone(),
            Variable::Header(field) => format!("http_{field}"),
            Variable::Arg(arg) => format!("arg_{arg}"),
            Variable::Cookie(cookie) => format!("cookie_{cookie}"),
            plain => NAMES
                .iter()
                .find(|(_, v)| v == plain)
                .map_or_else(String::new, |(n, _)| n.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Var(Variable),
}

/// A text in pieces: literal text and variables, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Why a text is not a valid template; `offset` is in characters from the start of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Template {
    /// A text without variables (a `$` in it is kept as it is).
    pub fn literal(text: &str) -> Template {
        Template {
            parts: vec![Part::Text(text.to_string())],
        }
    }

    /// Parses `$name`, `${name}` and `$1`..`$9` references; every other character is literal.
    /// As in nginx, a `$` must start a variable name, and the name must be known: `captures`
    /// lists the group names the configuration's regular expressions define.
    pub fn parse(text: &str, captures: &[String]) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] != '$' {
                literal.push(chars[i]);
                i += 1;
                continue;
            }
            let start = i;
            // `$1`: one digit only, as nginx (`$12` is `$1` then `2`).
            if let Some(digit) = chars.get(i + 1).and_then(|c| c.to_digit(10))
                && digit > 0
            {
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Var(Variable::Capture(digit as u8)));
                i += 2;
                continue;
            }
            let braced = chars.get(i + 1) == Some(&'{');
            let name_start = if braced { i + 2 } else { i + 1 };
            let mut end = name_start;
            while end < chars.len() && is_name_char(chars[end]) {
                end += 1;
            }
            let name: String = chars[name_start..end].iter().collect();
            if name.is_empty() {
                return Err(TemplateError {
                    offset: start,
                    message: "invalid variable name".to_string(),
                });
            }
            if braced {
                if chars.get(end) != Some(&'}') {
                    return Err(TemplateError {
                        offset: start,
                        message: "the closing bracket in variable is missing".to_string(),
                    });
                }
                end += 1;
            }
            let Some(variable) = Variable::from_name(&name, captures) else {
                return Err(TemplateError {
                    offset: start,
                    message: format!("unknown \"{name}\" variable"),
                });
            };
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Var(variable));
            i = end;
        }
        if !literal.is_empty() || parts.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    pub fn has_variables(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var(_)))
    }

    /// The pieces, in order (for a value type built on this grammar: `config::proxy::value`).
    pub fn into_parts(self) -> Vec<Part> {
        self.parts
    }

    pub fn is_empty(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, Part::Text(t) if t.is_empty()))
    }

    /// The text with every variable replaced by `value(variable)`.
    pub fn expand(&self, value: impl FnMut(&Variable, &mut String)) -> String {
        let mut out = String::new();
        self.expand_into(&mut out, value);
        out
    }

    /// [`Template::expand`], appended to `out` (a caller expanding many reuses one buffer).
    pub fn expand_into(&self, out: &mut String, mut value: impl FnMut(&Variable, &mut String)) {
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(variable) => value(variable, out),
            }
        }
    }

    /// `literal` followed by `template` (`literal` is never read for variables).
    pub fn prefixed(literal: &str, template: Template) -> Template {
        let mut parts = Vec::with_capacity(template.parts.len() + 1);
        if !literal.is_empty() {
            parts.push(Part::Text(literal.to_string()));
        }
        parts.extend(template.parts);
        Template { parts }
    }

    /// The text when it has no variables.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// Whether the text starts with `prefix` before any variable.
    pub fn starts_with(&self, prefix: &str) -> bool {
        match self.parts.first() {
            Some(Part::Text(text)) => text.starts_with(prefix),
            _ => prefix.is_empty(),
        }
    }

    /// The text as written, with variables as `$name` (for messages and tests).
    pub fn source(&self) -> String {
        self.expand(|v, out| {
            out.push('$');
            out.push_str(&v.name());
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_names(t: &Template) -> String {
        t.expand(|v, out| out.push_str(&format!("<{v:?}>")))
    }

    #[test]
    fn variables_are_found_plain_and_braced() {
        let t = Template::parse("https://$host$request_uri", &[]).unwrap();
        assert!(t.has_variables());
        assert_eq!(expand_names(&t), "https://<Host><RequestUri>");
        let t = Template::parse("${scheme}://x${uri}y?$args&$query_string$is_args", &[]).unwrap();
        assert_eq!(expand_names(&t), "<Scheme>://x<Uri>y?<Args>&<Args><IsArgs>");
        let t = Template::parse("$server_name:$server_port/$document_uri.", &[]).unwrap();
        assert_eq!(expand_names(&t), "<ServerName>:<ServerPort>/<Uri>.");
    }

    #[test]
    fn text_without_variables_is_kept_whole() {
        let t = Template::parse("I'm a teapot", &[]).unwrap();
        assert!(!t.has_variables());
        assert_eq!(expand_names(&t), "I'm a teapot");
        assert!(Template::parse("", &[]).unwrap().is_empty());
        assert_eq!(Template::literal("a$b").source(), "a$b");
    }

    #[test]
    fn bad_variable_references_are_errors_at_the_dollar() {
        let cases = [
            ("$", 0, "invalid variable name"),
            ("a $ b", 2, "invalid variable name"),
            ("x$-", 1, "invalid variable name"),
            ("${}", 0, "invalid variable name"),
            ("ab${host", 2, "the closing bracket in variable is missing"),
            ("/é$nope", 2, "unknown \"nope\" variable"),
            ("$Host", 0, "unknown \"Host\" variable"),
            ("${request_id}", 0, "unknown \"request_id\" variable"),
        ];
        for (text, offset, message) in cases {
            assert_eq!(
                Template::parse(text, &[]),
                Err(TemplateError {
                    offset,
                    message: message.to_string()
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn captures_are_one_digit_and_named_groups_need_a_regex_defining_them() {
        let names = ["year".to_string()];
        let t = Template::parse("/a/$1/$12/${year}$year$0x", &names);
        assert_eq!(
            t.as_ref().err().map(|e| e.message.as_str()),
            Some("unknown \"0x\" variable")
        );
        let t = Template::parse("/a/$1/$12/${year}-$year", &names).unwrap();
        assert_eq!(
            expand_names(&t),
            "/a/<Capture(1)>/<Capture(1)>2/<NamedCapture(\"year\")>-<NamedCapture(\"year\")>"
        );
        assert_eq!(
            Template::parse("$year", &[]).err().map(|e| e.message),
            Some("unknown \"year\" variable".to_string())
        );
    }

    #[test]
    fn prefixed_variables_name_a_field_an_argument_or_a_cookie() {
        let t = Template::parse("$http_x_real_ip|$arg_page|$cookie_sid", &[]).unwrap();
        assert_eq!(
            expand_names(&t),
            "<Header(\"x_real_ip\")>|<Arg(\"page\")>|<Cookie(\"sid\")>"
        );
        assert!(Template::parse("$http_", &[]).is_err());
    }

    #[test]
    fn the_fastcgi_params_variables_are_known() {
        let text = "$query_string $request_method $content_type $content_length \
                    $fastcgi_script_name $request_uri $document_uri $document_root \
                    $server_protocol $scheme $https nginx/$nginx_version $remote_addr \
                    $remote_port $server_addr $server_port $server_name $fastcgi_path_info \
                    $realpath_root $request_filename";
        let t = Template::parse(text, &[]).unwrap();
        assert_eq!(
            t.source(),
            text.replace("$query_string", "$args")
                .replace("$document_uri", "$uri")
        );
    }

    #[test]
    fn literal_templates_are_seen_as_such() {
        assert_eq!(Template::parse("/x", &[]).unwrap().as_literal(), Some("/x"));
        assert_eq!(Template::parse("/x$uri", &[]).unwrap().as_literal(), None);
        assert!(Template::parse("@x$uri", &[]).unwrap().starts_with("@"));
        assert!(!Template::parse("$uri@", &[]).unwrap().starts_with("@"));
    }

    #[test]
    fn source_gives_the_canonical_spelling() {
        let t = Template::parse("${host}/a$query_string", &[]).unwrap();
        assert_eq!(t.source(), "$host/a$args");
    }
}
