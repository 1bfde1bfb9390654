//! Texts with nginx-style variables (`https://$host$request_uri`), as `return` takes them:
//! parsed once when the configuration is read, expanded per request by the handler, which
//! supplies each variable's value.

/// The variables a template may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable {
    /// `$host`: the request's host (without port), else the server's first name, else the
    /// address the connection arrived on.
    Host,
    /// `$request_uri`: the original target, path and query, as the client sent them.
    RequestUri,
    /// `$uri` (also `$document_uri`): the decoded, normalised path.
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
    /// `$ssl_client_s_dn`: the client certificate's subject (RFC 2253), or empty.
    SslClientSDn,
    /// `$ssl_client_i_dn`: its issuer (RFC 2253), or empty.
    SslClientIDn,
    /// `$ssl_client_serial`: its serial number in hexadecimal, or empty.
    SslClientSerial,
    /// `$ssl_client_verify`: `SUCCESS`, `FAILED:reason` or `NONE`.
    SslClientVerify,
}

impl Variable {
    /// The variable called `name` (without `$`).
    pub fn from_name(name: &str) -> Option<Variable> {
        Some(match name {
            "host" => Variable::Host,
            "request_uri" => Variable::RequestUri,
            "uri" | "document_uri" => Variable::Uri,
            "args" | "query_string" => Variable::Args,
            "is_args" => Variable::IsArgs,
            "scheme" => Variable::Scheme,
            "server_name" => Variable::ServerName,
            "server_port" => Variable::ServerPort,
            "ssl_client_s_dn" => Variable::SslClientSDn,
            "ssl_client_i_dn" => Variable::SslClientIDn,
            "ssl_client_serial" => Variable::SslClientSerial,
            "ssl_client_verify" => Variable::SslClientVerify,
            _ => return None,
        })
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

    /// Parses `$name` and `${name}` references; every other character is literal. As in
    /// nginx, a `$` must start a variable name, and the name must be known.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
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
            let Some(variable) = Variable::from_name(&name) else {
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

    pub fn is_empty(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, Part::Text(t) if t.is_empty()))
    }

    /// The text with every variable replaced by `value(variable)`.
    pub fn expand(&self, mut value: impl FnMut(Variable, &mut String)) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(variable) => value(*variable, &mut out),
            }
        }
        out
    }

    /// The text as written, with variables as `$name` (for messages and tests).
    pub fn source(&self) -> String {
        self.expand(|v, out| {
            out.push('$');
            out.push_str(match v {
                Variable::Host => "host",
                Variable::RequestUri => "request_uri",
                Variable::Uri => "uri",
                Variable::Args => "args",
                Variable::IsArgs => "is_args",
                Variable::Scheme => "scheme",
                Variable::ServerName => "server_name",
                Variable::ServerPort => "server_port",
                Variable::SslClientSDn => "ssl_client_s_dn",
                Variable::SslClientIDn => "ssl_client_i_dn",
                Variable::SslClientSerial => "ssl_client_serial",
                Variable::SslClientVerify => "ssl_client_verify",
            });
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
        let t = Template::parse("https://$host$request_uri").unwrap();
        assert!(t.has_variables());
        assert_eq!(expand_names(&t), "https://<Host><RequestUri>");
        let t = Template::parse("${scheme}://x${uri}y?$args&$query_string$is_args").unwrap();
        assert_eq!(expand_names(&t), "<Scheme>://x<Uri>y?<Args>&<Args><IsArgs>");
        let t = Template::parse("$server_name:$server_port/$document_uri.").unwrap();
        assert_eq!(expand_names(&t), "<ServerName>:<ServerPort>/<Uri>.");
    }

    #[test]
    fn text_without_variables_is_kept_whole() {
        let t = Template::parse("I'm a teapot").unwrap();
        assert!(!t.has_variables());
        assert_eq!(expand_names(&t), "I'm a teapot");
        assert!(Template::parse("").unwrap().is_empty());
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
                Template::parse(text),
                Err(TemplateError {
                    offset,
                    message: message.to_string()
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn source_gives_the_canonical_spelling() {
        let t = Template::parse("${host}/a$query_string").unwrap();
        assert_eq!(t.source(), "$host/a$args");
    }
}
