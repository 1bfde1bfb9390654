//! The parameters of `listen ADDRESS [default_server] [ssl] [proxy_protocol] [http2];` after the
//! address, with nginx's names: `ssl` serves HTTPS on the address, `proxy_protocol` expects every
//! connection to start with a PROXY protocol header (version 1 or 2) from a load balancer.
//!
//! Those two belong to the address, not to one server ([`Params`]): every server listening on an
//! address must give the same parameters (nginx applies them to the socket whichever server names
//! them; here a disagreement is an error, so a server cannot change another's address by
//! accident). `default_server` (nginx's older `default`) and nginx 1.22's `http2` are the
//! server's own ([`Own`]). nginx's other parameters are accepted without effect or refused, as
//! `config::nginx` says.

use super::directive::Word;
use super::lexer::{Error, Pos};
use std::net::SocketAddr;

/// What one `listen` says about its address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Params {
    pub ssl: bool,
    pub proxy_protocol: bool,
}

impl Params {
    /// How the parameters are written, for messages: ` ssl proxy_protocol`.
    fn written(self) -> String {
        let mut out = String::new();
        if self.ssl {
            out.push_str(" ssl");
        }
        if self.proxy_protocol {
            out.push_str(" proxy_protocol");
        }
        out
    }
}

/// What one `listen` says about its own server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Own {
    /// `default_server` (or `default`): the server answers the address's unmatched names.
    pub default_server: bool,
    /// nginx 1.22's `http2` parameter.
    pub http2: bool,
}

/// The parameters after a `listen` address; `warn` gets what is accepted without effect.
pub(crate) fn params(
    words: &[Word],
    warn: &mut dyn FnMut(Pos, String),
) -> Result<(Params, Own), Error> {
    let mut params = Params::default();
    let mut own = Own::default();
    for word in words {
        let flag = match word.text.as_str() {
            "ssl" => &mut params.ssl,
            "proxy_protocol" => &mut params.proxy_protocol,
            "default_server" | "default" => &mut own.default_server,
            "http2" => &mut own.http2,
            other => match super::nginx::listen_parameter(other) {
                Some(Ok(warning)) => {
                    warn(word.pos, warning);
                    continue;
                }
                Some(Err(message)) => return Err(Error::new(word.pos, message)),
                None => {
                    return Err(Error::new(
                        word.pos,
                        format!("invalid parameter \"{other}\" of the \"listen\" directive"),
                    ));
                }
            },
        };
        if *flag {
            return Err(Error::new(
                word.pos,
                format!(
                    "duplicate parameter \"{}\" of the \"listen\" directive",
                    word.text
                ),
            ));
        }
        *flag = true;
    }
    Ok((params, own))
}

/// Err when an earlier `listen` of the same address (in `seen`) gave other parameters.
/// `sources`: the files read, to say where the earlier one is.
pub(crate) fn agree(
    addr: SocketAddr,
    params: Params,
    at: Pos,
    seen: &[(SocketAddr, Params, Pos)],
    sources: &super::include::Sources,
) -> Result<(), Error> {
    match seen.iter().find(|(a, p, _)| *a == addr && *p != params) {
        Some((_, earlier, earlier_at)) => Err(Error::new(
            at,
            format!(
                "\"listen {addr}{}\" conflicts with \"listen {addr}{}\" at {}:{}",
                params.written(),
                earlier.written(),
                sources.locate(earlier_at.line).0.display(),
                sources.locate(earlier_at.line).1
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn parse(text: &str) -> Result<crate::config::Config, String> {
        crate::config::parse(text, Path::new("/etc/webserv/w.conf")).map_err(|e| e.to_string())
    }

    #[test]
    fn proxy_protocol_marks_its_address_for_every_server_on_it() {
        let config = parse(
            "server { listen 127.0.0.1:80 proxy_protocol; listen 127.0.0.1:81; }\n\
             server { listen 127.0.0.1:80 proxy_protocol; server_name b; }\n",
        )
        .unwrap();
        let addr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(config.servers[0].proxy_protocol, vec![addr]);
        assert_eq!(config.servers[1].proxy_protocol, vec![addr]);
        assert!(config.servers[0].ssl.is_empty());
    }

    #[test]
    fn listen_parameters_are_checked() {
        let cases = [
            (
                "server { listen 80 proxy_protocol proxy_protocol; }",
                "/etc/webserv/w.conf:1:35: duplicate parameter \"proxy_protocol\" of the \"listen\" directive",
            ),
            (
                "server { listen 80 proxy; }",
                "/etc/webserv/w.conf:1:20: invalid parameter \"proxy\" of the \"listen\" directive",
            ),
            (
                "server { listen 80 proxy_protocol; }\nserver { listen 80; }",
                "/etc/webserv/w.conf:2:17: \"listen 0.0.0.0:80\" conflicts with \"listen 0.0.0.0:80 proxy_protocol\" at /etc/webserv/w.conf:1",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).err().as_deref(), Some(expected), "{text}");
        }
    }
}
