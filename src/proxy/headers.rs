//! The backend's response fields as the client gets them, and whether the client gets the
//! response at all (`proxy_intercept_errors`).
//!
//! Removed: the hop-by-hop fields (RFC 9110 §7.6.1: `Connection` and every field it names,
//! `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, and `Upgrade` unless
//! the response switches protocols), `Content-Length` (the server frames the body it sends
//! itself and is told the length apart), the fields nginx hides by default (`Date`, `Server`,
//! `X-Pad`, `X-Accel-*`: the server sends its own Date and Server) unless `proxy_pass_header`
//! names them, and those `proxy_hide_header` names. `Location` and `Refresh` are rewritten by
//! `proxy_redirect`. Everything else passes in order, values as the backend sent them.

use crate::config::Settings;
use crate::config::proxy::model::{ProxySettings, RedirectRule};
use crate::config::proxy::value::Value;
use crate::http::path::percent_encode_into;

use std::borrow::Cow;

use super::response::ResponseHead;

/// Fields that belong to the backend's connection or to its framing of the body.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "content-length",
];

/// The fields of `head` to send to the client, in order: (name, value), borrowed from the head
/// unless `proxy_redirect` rewrote the value. `expand` gives the value of a `proxy_redirect`
/// value for this request.
pub fn client_fields<'h>(
    head: &ResponseHead<'h>,
    settings: &ProxySettings,
    expand: &dyn Fn(&Value) -> String,
) -> Vec<(&'h str, Cow<'h, [u8]>)> {
    let mut out = Vec::with_capacity(head.fields().len());
    each_client_field(head, settings, expand, &mut |name, value| {
        out.push((name, value))
    });
    out
}

/// [`client_fields`], each handed to `field` in order (no list in between).
pub fn each_client_field<'h>(
    head: &ResponseHead<'h>,
    settings: &ProxySettings,
    expand: &dyn Fn(&Value) -> String,
    field: &mut dyn FnMut(&'h str, Cow<'h, [u8]>),
) {
    // Names the backend's Connection lists (rarely any beyond close / keep-alive).
    let mut named: Vec<&[u8]> = Vec::new();
    for (name, value) in head.fields() {
        if name.eq_ignore_ascii_case("connection") {
            named.extend(
                value
                    .split(|&b| b == b',')
                    .map(|t| t.trim_ascii())
                    .filter(|t| !t.is_empty()),
            );
        }
    }
    for (name, value) in head.fields() {
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        let dropped = if is("upgrade") {
            // Named by the backend's `Connection: upgrade`, but the client must see it.
            !head.switched
        } else {
            HOP_BY_HOP.iter().any(|h| is(h))
                || named
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
                || settings.hides(name)
        };
        if dropped {
            continue;
        }
        let rewritten = if is("location") {
            rewrite_redirect(value, 0, &settings.redirects, expand)
        } else if is("refresh") {
            refresh_url_at(value)
                .and_then(|at| rewrite_redirect(value, at, &settings.redirects, expand))
        } else {
            None
        };
        field(name, rewritten.map_or(Cow::Borrowed(value), Cow::Owned));
    }
}

/// `value` with the first `proxy_redirect` rule whose (expanded) `from` starts the URL at
/// `at` applied: `from` replaced by the expanded `to`. None when no rule matches. The
/// comparison is exact (case-sensitive), as nginx's; a rule's text that expands to nothing
/// matches nothing.
pub fn rewrite_redirect(
    value: &[u8],
    at: usize,
    rules: &[RedirectRule],
    expand: &dyn Fn(&Value) -> String,
) -> Option<Vec<u8>> {
    let url = value.get(at..)?;
    for rule in rules {
        let RedirectRule::Replace { from, to } = rule else {
            continue;
        };
        let from = expand(from);
        if from.is_empty() || !url.starts_with(from.as_bytes()) {
            continue;
        }
        let to = expand(to);
        let mut out = Vec::with_capacity(value.len() + to.len());
        out.extend_from_slice(&value[..at]);
        // A variable may hold anything: never a control character in a field value.
        percent_encode_into(&mut out, to.as_bytes(), |b| {
            (b < 0x20 && b != b'\t') || b == 0x7f
        });
        out.extend_from_slice(&url[from.len()..]);
        return Some(out);
    }
    None
}

/// Where the URL of a `Refresh` value (`5; url=http://...`) starts: after `url=`, matched
/// ignoring case as nginx does.
fn refresh_url_at(value: &[u8]) -> Option<usize> {
    value
        .windows(4)
        .position(|w| w.eq_ignore_ascii_case(b"url="))
        .map(|i| i + 4)
}

/// Whether the client gets the `error_page` for `status` instead of the backend's response
/// (`proxy_intercept_errors on`, a status of 300 or more, and a page configured for it).
pub fn intercepts(status: u16, settings: &Settings) -> bool {
    settings.proxy.intercept_errors && status >= 300 && settings.error_page(status).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::proxy::value::Names;
    use crate::proxy::response::{Asked, Parsed, parse};
    use std::path::Path;

    fn head(text: &str) -> ResponseHead<'static> {
        let buf: &'static str =
            Box::leak(format!("{text}\n").replace('\n', "\r\n").into_boxed_str());
        let asked = Asked {
            head: false,
            upgrade: true,
        };
        match parse(buf.as_bytes(), asked, 8192) {
            Ok(Parsed::Final(head, _)) => head,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn literal_expand(v: &Value) -> String {
        v.parts
            .iter()
            .map(|p| match p {
                crate::config::proxy::value::ValuePart::Text(t) => t.clone(),
                crate::config::proxy::value::ValuePart::Var(_) => "front.example".to_string(),
            })
            .collect()
    }

    fn fields(head: &ResponseHead, settings: &ProxySettings) -> Vec<String> {
        client_fields(head, settings, &literal_expand)
            .iter()
            .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value)))
            .collect()
    }

    fn rule(from: &str, to: &str) -> RedirectRule {
        let names: [String; 0] = [];
        RedirectRule::Replace {
            from: Value::parse(from, Names::maps(&names)).unwrap(),
            to: Value::parse(to, Names::maps(&names)).unwrap(),
        }
    }

    #[test]
    fn hop_by_hop_framing_and_hidden_fields_stay_with_the_backend() {
        let h = head(
            "HTTP/1.1 200 OK\nServer: gunicorn\nDate: Mon, 01 Jan 2024 00:00:00 GMT\n\
             Connection: keep-alive, X-Internal\nKeep-Alive: timeout=5\nX-Internal: secret\n\
             Proxy-Connection: x\nTE: trailers\nTrailer: X-T\nUpgrade: h2c\nX-Pad: avoid\n\
             X-Accel-Redirect: /protected\nX-Accel-Buffering: no\nContent-Length: 2\n\
             Content-Type: text/plain\nSet-Cookie: a=1\nSet-Cookie: b=2\nX-Powered-By: py\n",
        );
        assert_eq!(
            fields(&h, &ProxySettings::default()),
            [
                "Content-Type: text/plain",
                "Set-Cookie: a=1",
                "Set-Cookie: b=2",
                "X-Powered-By: py"
            ]
        );
        let s = ProxySettings {
            hide_headers: vec!["x-powered-by".to_string()].into(),
            pass_headers: vec!["server".to_string(), "x-accel-buffering".to_string()].into(),
            ..ProxySettings::default()
        };
        assert_eq!(
            fields(&h, &s),
            [
                "Server: gunicorn",
                "X-Accel-Buffering: no",
                "Content-Type: text/plain",
                "Set-Cookie: a=1",
                "Set-Cookie: b=2",
            ]
        );
    }

    #[test]
    fn a_protocol_switch_keeps_its_upgrade_field() {
        let h = head(
            "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n\
             Sec-WebSocket-Accept: abc\n",
        );
        assert_eq!(
            fields(&h, &ProxySettings::default()),
            ["Upgrade: websocket", "Sec-WebSocket-Accept: abc"]
        );
    }

    #[test]
    fn location_and_refresh_are_rewritten_by_the_first_matching_rule() {
        let s = ProxySettings {
            redirects: vec![
                rule("http://127.0.0.1:8000/app/", "/"),
                rule("http://127.0.0.1:8000/", "https://$host/"),
            ]
            .into(),
            ..ProxySettings::default()
        };
        let h = head(
            "HTTP/1.1 302 Found\nLocation: http://127.0.0.1:8000/app/login?next=/\n\
             Refresh: 5; URL=http://127.0.0.1:8000/other\nContent-Location: http://127.0.0.1:8000/app/x\n\
             Content-Length: 0\n",
        );
        assert_eq!(
            fields(&h, &s),
            [
                "Location: /login?next=/",
                "Refresh: 5; URL=https://front.example/other",
                "Content-Location: http://127.0.0.1:8000/app/x",
            ]
        );
        let h = head("HTTP/1.1 301 Moved\nLocation: HTTP://127.0.0.1:8000/x\nContent-Length: 0\n");
        assert_eq!(fields(&h, &s), ["Location: HTTP://127.0.0.1:8000/x"]);
        let off = ProxySettings {
            redirects: Vec::new().into(),
            ..ProxySettings::default()
        };
        let h =
            head("HTTP/1.1 301 Moved\nLocation: http://127.0.0.1:8000/app/\nContent-Length: 0\n");
        assert_eq!(fields(&h, &off), ["Location: http://127.0.0.1:8000/app/"]);
    }

    #[test]
    fn a_replacement_never_carries_a_control_character() {
        let evil = |v: &Value| {
            if literal_expand(v).contains("front") {
                "x\r\nSet-Cookie: evil=1".to_string()
            } else {
                literal_expand(v)
            }
        };
        let rules = [rule("http://b/", "http://$host/")];
        let out = rewrite_redirect(b"http://b/p", 0, &rules, &evil);
        assert_eq!(out.as_deref(), Some(&b"x%0D%0ASet-Cookie: evil=1p"[..]));
        let empty = [rule("$host", "/")];
        let nothing = |_: &Value| String::new();
        assert_eq!(rewrite_redirect(b"http://b/p", 0, &empty, &nothing), None);
        assert_eq!(refresh_url_at(b"0;url="), Some(6));
        assert_eq!(refresh_url_at(b"5"), None);
    }

    #[test]
    fn errors_are_intercepted_only_with_a_page_for_them() {
        let mut settings = Settings::defaults(Path::new("/srv"));
        let page = |code: u16, target: &str| crate::config::ErrorPage {
            code,
            target: target.to_string(),
            status: crate::config::ErrorPageStatus::Original,
        };
        settings.error_pages = vec![page(404, "/404.html"), page(502, "@oops")];
        assert!(!intercepts(404, &settings));
        settings.proxy.intercept_errors = true;
        assert!(intercepts(404, &settings) && intercepts(502, &settings));
        assert!(!intercepts(500, &settings) && !intercepts(200, &settings));
        settings.error_pages.push(page(200, "/x"));
        assert!(!intercepts(200, &settings));
    }
}
