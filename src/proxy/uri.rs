//! The request-target sent to the backend, by nginx's rule: when `proxy_pass` has a URI part,
//! the part of the (decoded, normalised) request path matched by the location is replaced by
//! it, the rest is percent-encoded again and the query appended; without a URI part, the
//! target is passed as the client sent it (path and query; an absolute-form target loses its
//! scheme and authority).
//!
//! The replacement is textual, as in nginx: `location /api` with `proxy_pass http://b/v1/` sends
//! `/api/x` as `/v1//x` (match the slashes of the two to avoid that).

use crate::config::proxy::model::ProxyPass;
use crate::http::path;
use crate::http::request::Request;

/// The request-target for `request` proxied through `pass`, appended to `out`.
pub fn backend_target(pass: &ProxyPass, request: &Request, out: &mut String) {
    let Some(uri) = &pass.uri else {
        out.push_str(crate::handler::vars::origin_form(&request.target));
        return;
    };
    out.push_str(uri);
    let rest = request
        .path
        .strip_prefix(pass.location.as_str())
        .unwrap_or(&request.path);
    out.push_str(&path::encode(rest));
    if let Some(query) = &request.query {
        out.push('?');
        out.push_str(query);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::proxy::model::{Balance, Upstream};
    use std::sync::Arc;

    pub(crate) fn pass(uri: Option<&str>, location: &str) -> ProxyPass {
        ProxyPass {
            upstream: Arc::new(Upstream {
                id: 0,
                name: "b".into(),
                implicit: false,
                servers: Vec::new(),
                balance: Balance::RoundRobin,
                keepalive: None,
            }),
            url: "http://b".into(),
            uri: uri.map(str::to_string),
            host: "b".into(),
            port: "80".into(),
            location: location.into(),
            at: crate::config::Pos { line: 1, col: 1 },
        }
    }

    fn request(target: &str) -> Request {
        let mut raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes();
        match crate::http::request::parse(&mut raw) {
            Ok(Some((r, _))) => r,
            other => panic!("{target}: {other:?}"),
        }
    }

    fn target(uri: Option<&str>, location: &str, request_target: &str) -> String {
        let mut out = String::new();
        backend_target(&pass(uri, location), &request(request_target), &mut out);
        out
    }

    #[test]
    fn without_a_uri_part_the_target_is_passed_as_sent() {
        let cases = [
            ("/", "/"),
            ("/a/../b/%2e/c?x=%20&y", "/a/../b/%2e/c?x=%20&y"),
            ("/app//x", "/app//x"),
            ("http://example.com/p?q", "/p?q"),
            ("http://example.com", "/"),
            ("http://example.com?q", "?q"),
        ];
        for (sent, expected) in cases {
            assert_eq!(target(None, "/app", sent), expected, "{sent}");
        }
    }

    #[test]
    fn a_uri_part_replaces_the_location_prefix_of_the_normalised_path() {
        let cases = [
            (Some("/v1/"), "/api/", "/api/users?id=1", "/v1/users?id=1"),
            (Some("/v1/"), "/api/", "/api/", "/v1/"),
            (Some("/v1"), "/api", "/api/users", "/v1/users"),
            (Some("/v1/"), "/api", "/api/users", "/v1//users"),
            (Some("/"), "/app/", "/app/a/../b", "/b"),
            (Some("/x"), "/exact", "/exact", "/x"),
            (
                Some("/"),
                "/",
                "/%E2%82%AC%20sp?q=a+b",
                "/%E2%82%AC%20sp?q=a+b",
            ),
            (Some("/s/"), "/f/", "/f/a%3Fb%23c", "/s/a%3Fb%23c"),
            (Some("/s/"), "/f/", "/f/a%2Fb", "/s/a/b"),
            (Some("/?fixed=1"), "/", "/x", "/?fixed=1x"),
        ];
        for (uri, location, sent, expected) in cases {
            assert_eq!(
                target(uri, location, sent),
                expected,
                "{uri:?} {location} {sent}"
            );
        }
    }
}
