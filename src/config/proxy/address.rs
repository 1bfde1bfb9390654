//! Backend addresses as nginx writes them: the URL of `proxy_pass` (`http://HOST[:PORT][URI]`,
//! `http://unix:PATH[:URI]`, `http://NAME[URI]`) and the address of an upstream `server`
//! (`HOST[:PORT]`, `[IPv6][:PORT]`, `unix:PATH`). Parsing is pure; [`resolve`] turns a host
//! name into addresses once, when the configuration is read (nginx does the same: a name in
//! `proxy_pass` or `server` is looked up at load, not per request).
//!
//! Messages use nginx's wording (`invalid port in upstream "x:0"`) without the position, which
//! the caller adds.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

use super::model::PeerAddr;

/// The longest unix socket path (`sun_path` holds 108 bytes with the terminating NUL).
const MAX_UNIX_PATH: usize = 107;

/// A host as written, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `unix:PATH`, the path as written.
    Unix(String),
    /// A name or literal (IPv6 without its brackets) and the port, if one was written.
    Inet { host: String, port: Option<u16> },
}

/// `proxy_pass URL`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassUrl {
    pub host: Host,
    /// The URI part, if any (`?a` is read as `/?a`, as nginx does).
    pub uri: Option<String>,
}

/// Parses the URL of `proxy_pass`.
pub fn parse_pass_url(url: &str) -> Result<PassUrl, String> {
    let rest = match url.get(..8) {
        Some(p) if p.eq_ignore_ascii_case("https://") => {
            return Err(format!(
                "https upstreams are not supported in \"{url}\" (only \"http://\")"
            ));
        }
        _ => match url.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("http://") => &url[7..],
            _ => return Err(format!("invalid URL prefix in \"{url}\"")),
        },
    };
    if url.contains('$') {
        return Err(format!(
            "variables in \"proxy_pass\" are not supported: \"{url}\""
        ));
    }
    if let Some(path) = strip_unix(rest) {
        let (path, uri) = match path.split_once(':') {
            Some((path, uri)) => (path, Some(uri)),
            None => (path, None),
        };
        check_unix_path(path, rest)?;
        let uri = uri.filter(|u| !u.is_empty()).map(str::to_string);
        if let Some(uri) = &uri {
            check_uri(uri, url)?;
        }
        return Ok(PassUrl {
            host: Host::Unix(path.to_string()),
            uri,
        });
    }
    let (host, uri) = inet(rest, true)?;
    let uri = uri.map(|u| {
        if u.starts_with('?') {
            format!("/{u}")
        } else {
            u.to_string()
        }
    });
    if let Some(uri) = &uri {
        check_uri(uri, url)?;
    }
    Ok(PassUrl { host, uri })
}

/// Parses the address of a `server` in an `upstream` block.
pub fn parse_server_addr(addr: &str) -> Result<Host, String> {
    if let Some(path) = strip_unix(addr) {
        check_unix_path(path, addr)?;
        return Ok(Host::Unix(path.to_string()));
    }
    match inet(addr, false)? {
        (host, None) => Ok(host),
        (_, Some(_)) => Err(format!("invalid host in upstream \"{addr}\"")),
    }
}

fn strip_unix(s: &str) -> Option<&str> {
    match s.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("unix:") => Some(&s[5..]),
        _ => None,
    }
}

fn check_unix_path(path: &str, written: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err(format!(
            "no path in the unix domain socket in upstream \"{written}\""
        ));
    }
    if path.len() > MAX_UNIX_PATH {
        return Err(format!(
            "too long path in the unix domain socket in upstream \"{written}\""
        ));
    }
    Ok(())
}

/// A URI part goes into the request line as it is: visible ASCII only.
fn check_uri(uri: &str, url: &str) -> Result<(), String> {
    if uri.bytes().all(|b| b.is_ascii_graphic()) && !uri.contains('#') {
        Ok(())
    } else {
        Err(format!("invalid URI part in \"{url}\""))
    }
}

/// `HOST[:PORT][URI]` or `[IPv6][:PORT][URI]`: the host and, when `uri_part`, the rest from the
/// first `/` or `?` (else that rest is an error).
fn inet(s: &str, uri_part: bool) -> Result<(Host, Option<&str>), String> {
    let (host, after) = if let Some(inner) = s.strip_prefix('[') {
        let Some((v6, after)) = inner.split_once(']') else {
            return Err(format!("invalid IPv6 address in upstream \"{s}\""));
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("invalid IPv6 address in upstream \"{s}\""));
        }
        (v6, after)
    } else {
        let end = s.find([':', '/', '?']).unwrap_or(s.len());
        (&s[..end], &s[end..])
    };
    if host.is_empty() {
        return Err(format!("no host in upstream \"{s}\""));
    }
    if !s.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(format!("invalid host in upstream \"{s}\""));
    }
    let (port, rest) = match after.strip_prefix(':') {
        Some(p) => {
            let end = p.find(['/', '?']).unwrap_or(p.len());
            let digits = &p[..end];
            let port = match digits.parse::<u16>() {
                Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(format!("invalid port in upstream \"{s}\"")),
            };
            (Some(port), &p[end..])
        }
        None if after.is_empty() || after.starts_with(['/', '?']) => (None, after),
        None => return Err(format!("invalid host in upstream \"{s}\"")),
    };
    let uri = match rest {
        "" => None,
        rest if uri_part => Some(rest),
        _ => return Err(format!("invalid host in upstream \"{s}\"")),
    };
    Ok((
        Host::Inet {
            host: host.to_string(),
            port,
        },
        uri,
    ))
}

/// The addresses of `host` (port 80 when none was written), in the order the resolver gives
/// them, each once. A relative unix path is relative to `dir`.
pub fn resolve(host: &Host, dir: &Path) -> Result<Vec<PeerAddr>, String> {
    match host {
        Host::Unix(path) => Ok(vec![PeerAddr::Unix(super::super::directive::clean(
            &dir.join(path),
        ))]),
        Host::Inet { host, port } => {
            let port = port.unwrap_or(80);
            if let Ok(ip) = host.parse::<IpAddr>() {
                return Ok(vec![PeerAddr::Tcp(SocketAddr::new(ip, port))]);
            }
            let shown = || format!("{host}:{port}");
            let found = (host.as_str(), port)
                .to_socket_addrs()
                .map_err(|_| format!("host not found in upstream \"{}\"", shown()))?;
            let mut out: Vec<PeerAddr> = Vec::new();
            for addr in found {
                let addr = PeerAddr::Tcp(addr);
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
            if out.is_empty() {
                return Err(format!("host not found in upstream \"{}\"", shown()));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(host: &str, port: Option<u16>) -> Host {
        Host::Inet {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn proxy_pass_urls_give_host_port_and_uri_part() {
        let cases = [
            ("http://127.0.0.1:8080", inet("127.0.0.1", Some(8080)), None),
            ("http://backend", inet("backend", None), None),
            ("HTTP://Backend/", inet("Backend", None), Some("/")),
            ("http://app:8000/v1/", inet("app", Some(8000)), Some("/v1/")),
            (
                "http://[::1]:81/a?b=c",
                inet("::1", Some(81)),
                Some("/a?b=c"),
            ),
            ("http://[::1]", inet("::1", None), None),
            ("http://h?x=1", inet("h", None), Some("/?x=1")),
            ("http://h:9?x", inet("h", Some(9)), Some("/?x")),
            (
                "http://unix:/run/app.sock",
                Host::Unix("/run/app.sock".into()),
                None,
            ),
            (
                "http://unix:/run/app.sock:/api/",
                Host::Unix("/run/app.sock".into()),
                Some("/api/"),
            ),
            ("http://unix:rel.sock:", Host::Unix("rel.sock".into()), None),
        ];
        for (url, host, uri) in cases {
            assert_eq!(
                parse_pass_url(url),
                Ok(PassUrl {
                    host,
                    uri: uri.map(str::to_string)
                }),
                "{url}"
            );
        }
    }

    #[test]
    fn bad_proxy_pass_urls_are_refused_with_nginx_wording() {
        let long = format!("http://unix:/{}", "a".repeat(107));
        let cases = [
            ("127.0.0.1:8080", "invalid URL prefix in \"127.0.0.1:8080\""),
            ("ftp://x", "invalid URL prefix in \"ftp://x\""),
            ("http://", "no host in upstream \"\""),
            ("http:///x", "no host in upstream \"/x\""),
            ("http://h:0", "invalid port in upstream \"h:0\""),
            ("http://h:65536", "invalid port in upstream \"h:65536\""),
            ("http://h:+80", "invalid port in upstream \"h:+80\""),
            ("http://h:", "invalid port in upstream \"h:\""),
            ("http://h:8x/", "invalid port in upstream \"h:8x/\""),
            ("http://a b", "invalid host in upstream \"a b\""),
            ("http://h@x", "invalid host in upstream \"h@x\""),
            ("http://[::1", "invalid IPv6 address in upstream \"[::1\""),
            (
                "http://[zz]:80",
                "invalid IPv6 address in upstream \"[zz]:80\"",
            ),
            ("http://[::1]x", "invalid host in upstream \"[::1]x\""),
            (
                "http://unix:",
                "no path in the unix domain socket in upstream \"unix:\"",
            ),
            (
                "http://unix::/x",
                "no path in the unix domain socket in upstream \"unix::/x\"",
            ),
            (
                "https://h",
                "https upstreams are not supported in \"https://h\" (only \"http://\")",
            ),
            (
                "http://$host",
                "variables in \"proxy_pass\" are not supported: \"http://$host\"",
            ),
            (
                "http://h/a\u{7f}",
                "invalid URI part in \"http://h/a\u{7f}\"",
            ),
            ("http://h/a#f", "invalid URI part in \"http://h/a#f\""),
        ];
        for (url, message) in cases {
            assert_eq!(parse_pass_url(url), Err(message.to_string()), "{url}");
        }
        assert!(
            parse_pass_url(&long)
                .unwrap_err()
                .starts_with("too long path in the unix domain socket")
        );
    }

    #[test]
    fn upstream_server_addresses_take_no_uri() {
        assert_eq!(
            parse_server_addr("10.0.0.1:8080"),
            Ok(inet("10.0.0.1", Some(8080)))
        );
        assert_eq!(parse_server_addr("app"), Ok(inet("app", None)));
        assert_eq!(parse_server_addr("[::1]:9"), Ok(inet("::1", Some(9))));
        assert_eq!(
            parse_server_addr("unix:/tmp/a.sock"),
            Ok(Host::Unix("/tmp/a.sock".into()))
        );
        for (addr, message) in [
            (
                "10.0.0.1:8080/x",
                "invalid host in upstream \"10.0.0.1:8080/x\"",
            ),
            ("app/", "invalid host in upstream \"app/\""),
            ("app?x", "invalid host in upstream \"app?x\""),
            ("http://app", "invalid port in upstream \"http://app\""),
            ("", "no host in upstream \"\""),
        ] {
            assert_eq!(parse_server_addr(addr), Err(message.to_string()), "{addr}");
        }
    }

    #[test]
    fn literals_resolve_without_a_lookup_and_unix_paths_against_the_directory() {
        let dir = Path::new("/etc/webserv");
        assert_eq!(
            resolve(&inet("127.0.0.1", None), dir),
            Ok(vec![PeerAddr::Tcp("127.0.0.1:80".parse().unwrap())])
        );
        assert_eq!(
            resolve(&inet("::1", Some(8080)), dir),
            Ok(vec![PeerAddr::Tcp("[::1]:8080".parse().unwrap())])
        );
        assert_eq!(
            resolve(&Host::Unix("run/../app.sock".into()), dir),
            Ok(vec![PeerAddr::Unix("/etc/webserv/app.sock".into())])
        );
        assert_eq!(
            resolve(&Host::Unix("/abs.sock".into()), dir),
            Ok(vec![PeerAddr::Unix("/abs.sock".into())])
        );
    }

    #[test]
    fn names_resolve_once_and_unknown_names_are_host_not_found() {
        let dir = Path::new("/");
        let local = resolve(&inet("localhost", Some(9000)), dir).unwrap();
        assert!(!local.is_empty());
        for addr in &local {
            match addr {
                PeerAddr::Tcp(a) => assert!(a.ip().is_loopback() && a.port() == 9000, "{a}"),
                PeerAddr::Unix(p) => panic!("{p:?}"),
            }
        }
        assert_eq!(
            resolve(&inet("no-such-host.invalid", None), dir),
            Err("host not found in upstream \"no-such-host.invalid:80\"".to_string())
        );
    }
}
