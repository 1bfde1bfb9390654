//! What a proxied request leaves for the access log: nginx's `$upstream_addr`,
//! `$upstream_status` and `$upstream_response_time`, one entry per try, joined with `, ` as
//! nginx joins them.
//!
//! - `$upstream_addr`: each tried server's address (`127.0.0.1:8001`, `unix:/run/app.sock`);
//!   the group's name when no server could be picked.
//! - `$upstream_status`: each try's status: the backend's, or the 502/504 the try ended with;
//!   `-` for a try that had none (the client left before the head).
//! - `$upstream_response_time`: each try's time from its start (the connect, or taking a pooled
//!   connection) to its end (its failure, or the end of the response), in seconds with
//!   millisecond resolution (`0.012`).
//!
//! A try is kept as its server's index in the group (the address is the configuration's, made
//! once), so recording one costs no allocation beyond the list.

use std::time::Duration;

use crate::config::proxy::model::Upstream;

/// One try of a request on a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Try {
    /// The server's index in the group; None when no server could be picked.
    pub server: Option<usize>,
    /// The backend's status, or the error status the try ended with (502, 504); 0: none.
    pub status: u16,
    pub time: Duration,
}

/// The variables this module gives values to.
pub const NAMES: [&str; 3] = ["upstream_addr", "upstream_status", "upstream_response_time"];

/// Appends the value of variable `name` (without `$`) for `tries` on `group` to `out`: false
/// when the request made no try or `name` is not one of [`NAMES`] (a log then writes `-`).
pub fn value(name: &str, tries: &[Try], group: &Upstream, out: &mut Vec<u8>) -> bool {
    if tries.is_empty() {
        return false;
    }
    let one: fn(&Try, &Upstream, &mut Vec<u8>) = match name {
        "upstream_addr" => |t, group, out| match t.server.and_then(|i| group.servers.get(i)) {
            Some(server) => out.extend_from_slice(server.shown.as_bytes()),
            None => out.extend_from_slice(group.name.as_bytes()),
        },
        "upstream_status" => |t, _, out| match t.status {
            0 => out.push(b'-'),
            status => crate::http::response::push_decimal(out, u64::from(status)),
        },
        "upstream_response_time" => |t, _, out| {
            let ms = t.time.as_millis();
            crate::http::response::push_decimal(out, (ms / 1000) as u64);
            out.push(b'.');
            let frac = (ms % 1000) as u16;
            out.extend_from_slice(&[
                b'0' + (frac / 100) as u8,
                b'0' + (frac / 10 % 10) as u8,
                b'0' + (frac % 10) as u8,
            ]);
        },
        _ => return false,
    };
    for (i, t) in tries.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        one(t, group, out);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> Upstream {
        let text = "upstream backend { server 127.0.0.1:8001; server unix:/run/app.sock; }\n\
                    server { listen 80; location / { proxy_pass http://backend; } }";
        let config = crate::config::parse(text, std::path::Path::new("/x")).unwrap();
        let group = config
            .upstreams
            .iter()
            .find(|g| g.name == "backend")
            .unwrap();
        (**group).clone()
    }

    fn text(name: &str, tries: &[Try]) -> Option<String> {
        let mut out = Vec::new();
        value(name, tries, &group(), &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn tries_are_joined_as_nginx_logs_them() {
        let tries = [
            Try {
                server: Some(0),
                status: 502,
                time: Duration::from_micros(1400),
            },
            Try {
                server: Some(1),
                status: 200,
                time: Duration::from_millis(12_345),
            },
        ];
        let [addr, status, time] = NAMES.map(|name| text(name, &tries).unwrap());
        assert_eq!(addr, "127.0.0.1:8001, unix:/run/app.sock");
        assert_eq!(status, "502, 200");
        assert_eq!(time, "0.001, 12.345");
    }

    #[test]
    fn no_try_has_no_value_and_no_server_is_the_groups_name() {
        for name in NAMES {
            assert_eq!(text(name, &[]), None);
        }
        assert_eq!(
            text("upstream_cache_status", &[Try::default_for_tests()]),
            None
        );
        let no_live = [Try {
            server: None,
            status: 502,
            time: Duration::ZERO,
        }];
        let [addr, status, time] = NAMES.map(|name| text(name, &no_live).unwrap());
        assert_eq!(
            (addr.as_str(), status.as_str(), time.as_str()),
            ("backend", "502", "0.000")
        );
        let unanswered = [Try {
            server: Some(0),
            status: 0,
            time: Duration::from_millis(1_007),
        }];
        assert_eq!(text("upstream_status", &unanswered).unwrap(), "-");
        assert_eq!(
            text("upstream_response_time", &unanswered).unwrap(),
            "1.007"
        );
    }

    impl Try {
        fn default_for_tests() -> Try {
            Try {
                server: Some(0),
                status: 200,
                time: Duration::ZERO,
            }
        }
    }
}
