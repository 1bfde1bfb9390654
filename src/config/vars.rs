//! nginx's variables as the access log (`log_format`, `access_log if=`) and the limit keys
//! (`limit_req_zone`, `limit_conn_zone`) name them: the names, the phase in which each has its
//! value, and the parsing of texts that mix literal text and `$name` / `${name}`.
//! `crate::observe::vars` gives them their values.

/// One variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    // Of the connection.
    RemoteAddr,
    BinaryRemoteAddr,
    RemotePort,
    ServerAddr,
    ServerPort,
    Scheme,
    Https,
    /// `$connection`: the connection's serial number.
    Connection,
    /// `$connection_requests`: requests made so far on the connection, this one included.
    ConnectionRequests,
    SslProtocol,
    SslCipher,
    Pid,
    Hostname,
    // Of the request.
    Request,
    RequestMethod,
    RequestUri,
    Uri,
    Args,
    IsArgs,
    ServerProtocol,
    Host,
    ServerName,
    RemoteUser,
    ContentLength,
    ContentType,
    /// `$http_NAME`: a request header field (NAME lower-case, `_` for `-`).
    Http(String),
    /// `$cookie_NAME`.
    Cookie(String),
    /// `$arg_NAME`: a query argument.
    Arg(String),
    // Of the response, and of its end.
    Status,
    /// `$sent_http_NAME`: a response header field.
    SentHttp(String),
    BodyBytesSent,
    BytesSent,
    RequestLength,
    RequestTime,
    Msec,
    TimeLocal,
    TimeIso8601,
    /// `$upstream_*`: empty (logged `-`) until webserv proxies.
    Upstream(String),
}

impl Var {
    /// The variable called `name` (without `$`).
    pub fn from_name(name: &str) -> Option<Var> {
        let prefixed = |prefix: &str| {
            name.strip_prefix(prefix)
                .filter(|rest| !rest.is_empty())
                .map(|rest| rest.to_ascii_lowercase())
        };
        if let Some(field) = prefixed("http_") {
            return Some(Var::Http(field));
        }
        if let Some(field) = prefixed("sent_http_") {
            return Some(Var::SentHttp(field));
        }
        if let Some(cookie) = name.strip_prefix("cookie_").filter(|c| !c.is_empty()) {
            return Some(Var::Cookie(cookie.to_string()));
        }
        if let Some(arg) = name.strip_prefix("arg_").filter(|a| !a.is_empty()) {
            return Some(Var::Arg(arg.to_string()));
        }
        if name.starts_with("upstream_") {
            return Some(Var::Upstream(name.to_string()));
        }
        Some(match name {
            "remote_addr" => Var::RemoteAddr,
            "binary_remote_addr" => Var::BinaryRemoteAddr,
            "remote_port" => Var::RemotePort,
            "server_addr" => Var::ServerAddr,
            "server_port" => Var::ServerPort,
            "scheme" => Var::Scheme,
            "https" => Var::Https,
            "connection" => Var::Connection,
            "connection_requests" => Var::ConnectionRequests,
            "ssl_protocol" => Var::SslProtocol,
            "ssl_cipher" => Var::SslCipher,
            "pid" => Var::Pid,
            "hostname" => Var::Hostname,
            "request" => Var::Request,
            "request_method" => Var::RequestMethod,
            "request_uri" => Var::RequestUri,
            "uri" | "document_uri" => Var::Uri,
            "args" | "query_string" => Var::Args,
            "is_args" => Var::IsArgs,
            "server_protocol" => Var::ServerProtocol,
            "host" => Var::Host,
            "server_name" => Var::ServerName,
            "remote_user" => Var::RemoteUser,
            "content_length" => Var::ContentLength,
            "content_type" => Var::ContentType,
            "status" => Var::Status,
            "body_bytes_sent" => Var::BodyBytesSent,
            "bytes_sent" => Var::BytesSent,
            "request_length" => Var::RequestLength,
            "request_time" => Var::RequestTime,
            "msec" => Var::Msec,
            "time_local" => Var::TimeLocal,
            "time_iso8601" => Var::TimeIso8601,
            _ => return None,
        })
    }

    /// Whether the value is known once the request head is read (what a limit key may use).
    pub fn of_request(&self) -> bool {
        !matches!(
            self,
            Var::Status
                | Var::SentHttp(_)
                | Var::BodyBytesSent
                | Var::BytesSent
                | Var::RequestLength
                | Var::RequestTime
                | Var::Msec
                | Var::TimeLocal
                | Var::TimeIso8601
                | Var::Upstream(_)
        )
    }
}

/// A piece of a text with variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Var(Var),
}

/// Why a text is not valid; `offset` is in characters from its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `text` into literal text and variables (`$name`, `${name}`), as nginx's complex
/// values: a `$` must start a known variable name.
pub fn parse(text: &str) -> Result<Vec<Piece>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut pieces = Vec::new();
    let mut literal = String::new();
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
        let error = |message: String| ExprError {
            offset: start,
            message,
        };
        if name.is_empty() {
            return Err(error("invalid variable name".into()));
        }
        if braced {
            if chars.get(end) != Some(&'}') {
                return Err(error("the closing bracket in variable is missing".into()));
            }
            end += 1;
        }
        let Some(var) = Var::from_name(&name) else {
            return Err(error(format!("unknown \"{name}\" variable")));
        };
        if !literal.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut literal)));
        }
        pieces.push(Piece::Var(var));
        i = end;
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_split_into_literals_and_variables() {
        assert_eq!(
            parse("$remote_addr - ${remote_user}x$http_User_Agent").unwrap(),
            [
                Piece::Var(Var::RemoteAddr),
                Piece::Text(" - ".into()),
                Piece::Var(Var::RemoteUser),
                Piece::Text("x".into()),
                Piece::Var(Var::Http("user_agent".into())),
            ]
        );
        assert_eq!(parse("").unwrap(), []);
        assert_eq!(
            parse("$upstream_addr$sent_http_content_type$arg_q$cookie_id").unwrap(),
            [
                Piece::Var(Var::Upstream("upstream_addr".into())),
                Piece::Var(Var::SentHttp("content_type".into())),
                Piece::Var(Var::Arg("q".into())),
                Piece::Var(Var::Cookie("id".into())),
            ]
        );
    }

    #[test]
    fn bad_references_are_errors_at_their_dollar() {
        for (text, offset, message) in [
            ("$", 0, "invalid variable name"),
            ("é $nope", 2, "unknown \"nope\" variable"),
            ("${status", 0, "the closing bracket in variable is missing"),
            ("$http_", 0, "unknown \"http_\" variable"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!((e.offset, e.message.as_str()), (offset, message), "{text}");
        }
    }

    #[test]
    fn only_request_variables_are_known_when_the_head_is_read() {
        assert!(Var::BinaryRemoteAddr.of_request());
        assert!(Var::Http("x".into()).of_request());
        assert!(!Var::Status.of_request());
        assert!(!Var::RequestTime.of_request());
    }
}
