//! The names of the CGI/1.1 meta-variables webserv writes (RFC 3875 §4.1, with REQUEST_SCHEME,
//! HTTPS and mod_ssl's SSL_CLIENT_*), and sets of them: the vocabulary `cgi::env` writes by and
//! a FastCGI location's `fastcgi_param` lines replace (`config::fastcgi` finds which, once).

/// The variables `cgi::env::each` writes besides the `HTTP_*` ones, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    GatewayInterface,
    ServerSoftware,
    ServerProtocol,
    RequestMethod,
    RequestUri,
    ScriptName,
    ScriptFilename,
    PathInfo,
    PathTranslated,
    QueryString,
    DocumentRoot,
    RemoteAddr,
    RemotePort,
    ServerAddr,
    ServerPort,
    RequestScheme,
    Https,
    SslClientVerify,
    SslClientSDn,
    SslClientIDn,
    SslClientMSerial,
    ServerName,
    RedirectStatus,
    Path,
    ContentLength,
    ContentType,
}

impl Var {
    /// Its name, as the environment gives it.
    pub fn name(self) -> &'static str {
        NAMES[self as usize]
    }
}

/// The names of [`Var`], in its order.
pub const NAMES: [&str; 26] = [
    "GATEWAY_INTERFACE",
    "SERVER_SOFTWARE",
    "SERVER_PROTOCOL",
    "REQUEST_METHOD",
    "REQUEST_URI",
    "SCRIPT_NAME",
    "SCRIPT_FILENAME",
    "PATH_INFO",
    "PATH_TRANSLATED",
    "QUERY_STRING",
    "DOCUMENT_ROOT",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "SERVER_ADDR",
    "SERVER_PORT",
    "REQUEST_SCHEME",
    "HTTPS",
    "SSL_CLIENT_VERIFY",
    "SSL_CLIENT_S_DN",
    "SSL_CLIENT_I_DN",
    "SSL_CLIENT_M_SERIAL",
    "SERVER_NAME",
    "REDIRECT_STATUS",
    "PATH",
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
];

/// Variables `cgi::env::each` leaves out: those its caller gives values of its own (a FastCGI
/// location's `fastcgi_param` lines), found once, when the configuration is read, instead of
/// for every variable of every request. A left-out variable's value is not even made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skip {
    /// Bit i: `NAMES[i]`.
    names: u32,
    /// Some `HTTP_*` name is among them (then each request field's name is looked up).
    fields: bool,
}

impl Skip {
    pub const NONE: Skip = Skip {
        names: 0,
        fields: false,
    };

    /// The set of `names` (any names; those not in [`NAMES`] change nothing).
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Skip {
        let mut skip = Skip::NONE;
        for name in names {
            match NAMES.iter().position(|n| *n == name) {
                Some(i) => skip.names |= 1 << i,
                None => skip.fields |= name.starts_with("HTTP_"),
            }
        }
        skip
    }

    /// This set with `var` too.
    pub fn with(self, var: Var) -> Skip {
        Skip {
            names: self.names | 1 << var as u32,
            ..self
        }
    }

    /// Whether `var` is left out.
    pub fn has(self, var: Var) -> bool {
        self.names & (1 << var as u32) != 0
    }

    /// Whether request fields may be among the left-out names.
    pub fn fields(self) -> bool {
        self.fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variable_has_its_own_name_and_a_set_holds_what_it_was_given() {
        assert_eq!(Var::GatewayInterface.name(), "GATEWAY_INTERFACE");
        assert_eq!(Var::SslClientMSerial.name(), "SSL_CLIENT_M_SERIAL");
        assert_eq!(Var::ContentType.name(), "CONTENT_TYPE");
        assert_eq!(Var::ContentType as usize, NAMES.len() - 1);
        let skip = Skip::of(["REMOTE_ADDR", "SERVER_NAME", "X_OTHER"]);
        assert!(skip.has(Var::RemoteAddr) && skip.has(Var::ServerName));
        assert!(!skip.has(Var::RemotePort) && !skip.fields());
        assert!(Skip::of(["HTTP_HOST"]).fields());
        assert!(skip.with(Var::Path).has(Var::Path));
        assert_eq!(Skip::NONE, Skip::default());
    }
}
