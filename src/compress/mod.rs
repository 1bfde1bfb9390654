//! Compression on the fly: whether a response is compressed, with which coding ([`decide`]:
//! nginx's rules for the response, RFC 9110's for the request's `Accept-Encoding`), what its
//! head then says ([`encoded_head`], [`add_vary`]), and the compressors themselves
//! ([`Compressor`]: gzip, brotli, zstd behind the exchange's transform slot).
//!
//! Nothing here knows a protocol or a socket: the exchange asks [`decide`] when its answer's
//! head is ready, and pulls its body through a [`Compressor`] (or, for a static file whose
//! compressed variant the worker's file cache holds, sends that instead). No request body is
//! ever decompressed.
//!
//! Memory per compressing stream (what a compressor allocates, measured with a counting
//! allocator and zstd's own `ZSTD_sizeof_CCtx`, streaming a 88 KB HTML file in 16 KiB pieces):
//!
//! | coding | parameters | memory |
//! |---|---|---|
//! | gzip (zlib-rs) | window 2^15 (smaller for a shorter known length), memLevel 8, any level | ≤ 0.3 MiB |
//! | brotli | window 2^18 (256 KiB), quality ≤ 6 (higher levels are used as 6) | ≤ 2.9 MiB (quality 4: 1.3, 5: 1.9) |
//! | zstd | window 2^18 (256 KiB, smaller for a shorter known length), level ≤ 6 | ≤ 3.5 MiB (level 1: 1.1, 3: 1.8) |
//!
//! plus one input piece ([`crate::exchange::FEED`], 16 KiB) and the output the client has not
//! taken. brotli's quality 7 needs 9 MiB, 9 needs 33 MiB and zstd's level 19 84 MiB per stream:
//! that is why on-the-fly levels stop at 6 (precompressed files, `*_static`, are the way to
//! serve the highest levels).

mod encoder;

pub use encoder::Compressor;

use crate::config::{BROTLI_MAX_ON_THE_FLY, Compress, Proxied, ZSTD_MAX_ON_THE_FLY};
use crate::http::negotiation::{self, Coding};
use crate::http::request::{Method, Request};
use crate::http::response::{Head, Value};
use std::borrow::Cow;
use std::time::SystemTime;

/// What happens to a response's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Sent as it is; `vary`: it could have been compressed (`gzip_vary on` then says
    /// `Vary: Accept-Encoding`).
    AsIs { vary: bool },
    /// Compressed with `coding` at `level` (the level used on the fly).
    Compress { coding: Coding, level: u32 },
}

/// Whether and how the response whose head is `head` to `request` is compressed under
/// `settings` (some coding of which is on).
///
/// The response must be a 200, 403 or 404 (nginx's rule: a 206 range, a 304, a 204 and
/// errors go as they are), not a HEAD's, not already encoded (`Content-Encoding`), of a type
/// listed for the coding (`*_types`), not shorter than `*_min_length` when its length is
/// known; the request must be HTTP/1.1 (or what `gzip_http_version` allows), its User-Agent
/// not matched by `gzip_disable`, and one that came through a proxy (`Via`) passes only what
/// `gzip_proxied` allows. Among the codings left, the client's `Accept-Encoding` picks the
/// heaviest (ties: zstd, br, gzip). A client that refuses `identity` gets a compressed body
/// even below the minimum length, when it accepts some coding.
pub fn decide(request: &Request, settings: &Compress, head: &Head) -> Decision {
    const AS_IS: Decision = Decision::AsIs { vary: false };
    if request.method == Method::Head || !matches!(head.status, 200 | 403 | 404) {
        return AS_IS;
    }
    if head
        .header("Content-Encoding")
        .is_some_and(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("identity"))
    {
        return AS_IS;
    }
    let content_type = head.header("Content-Type").unwrap_or("");
    // The type's essence, once; then each coding's list once.
    let essence = crate::config::essence(content_type);
    let listed = Coding::ALL.map(|coding| {
        let coder = settings.coder(coding);
        coder.on && (coder.types.any || !essence.is_empty() && coder.types.holds_essence(essence))
    });
    let typed = |coding: Coding| listed[coding as usize];
    let long_enough = |coding: Coding| {
        head.length
            .is_none_or(|n| n >= settings.coder(coding).min_length)
    };
    if !Coding::ALL.into_iter().any(typed) {
        return AS_IS;
    }
    // HTTP/2 is past HTTP/1.1 for `gzip_http_version`.
    let minor = u8::from(request.version != crate::http::request::Version::Http10);
    if minor < settings.min_minor_version
        || disabled(request, settings)
        || (request.header("Via").is_some() && !proxied_allows(settings.proxied, request, head))
    {
        return AS_IS;
    }
    let eligible = |coding: Coding| typed(coding) && long_enough(coding);
    let accepted = negotiation::accepted(
        request
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("accept-encoding"))
            .map(|(_, value)| value.as_str()),
    );
    let choice = accepted.best(eligible).or_else(|| {
        // `identity;q=0`: any acceptable coding rather than none, whatever the length.
        (!accepted.identity).then(|| accepted.best(typed)).flatten()
    });
    match choice {
        Some(coding) => Decision::Compress {
            coding,
            level: level_on_the_fly(coding, settings.coder(coding).level),
        },
        None => Decision::AsIs {
            vary: settings.vary && Coding::ALL.into_iter().any(eligible),
        },
    }
}

/// The level a coding compresses at on the fly (see the memory table above).
pub fn level_on_the_fly(coding: Coding, configured: u32) -> u32 {
    match coding {
        Coding::Gzip => configured.clamp(1, 9),
        Coding::Br => configured.min(BROTLI_MAX_ON_THE_FLY),
        Coding::Zstd => configured.clamp(1, ZSTD_MAX_ON_THE_FLY as u32),
    }
}

/// `gzip_disable`: the User-Agent matches a pattern.
fn disabled(request: &Request, settings: &Compress) -> bool {
    let Some(patterns) = settings.disable.as_deref() else {
        return false;
    };
    let agent = request.header("User-Agent").unwrap_or("");
    patterns.iter().any(|p| p.is_match(agent))
}

/// `gzip_proxied`: whether a response to a request that came through a proxy is compressed.
fn proxied_allows(p: Proxied, request: &Request, head: &Head) -> bool {
    if p.any || (p.auth && request.header("Authorization").is_some()) {
        return true;
    }
    if p.expired
        && let Some(expires) = head.header("Expires")
    {
        // A date in the past, or not a date (which caches take as expired).
        match httpdate::parse_http_date(expires) {
            Ok(at) if at > SystemTime::now() => {}
            _ => return true,
        }
    }
    let cache_control = head.header("Cache-Control").unwrap_or("");
    let directive = |name: &str| {
        cache_control.split(',').any(|d| {
            d.split('=')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(name)
        })
    };
    (p.no_cache && directive("no-cache"))
        || (p.no_store && directive("no-store"))
        || (p.private && directive("private"))
        || (p.no_last_modified && head.header("Last-Modified").is_none())
        || (p.no_etag && head.header("ETag").is_none())
}

/// The head of a response whose body is sent compressed with `coding`: `Content-Encoding`,
/// `Vary: Accept-Encoding`, a weak ETag (the bytes differ from the file's, the meaning does
/// not; RFC 9110 §8.8.1), no `Accept-Ranges` (ranges are of the unencoded file, as nginx
/// does), and the new length when known (None: the protocol frames it, chunked on HTTP/1.1).
pub fn encoded_head(head: &mut Head, coding: Coding, length: Option<u64>) {
    head.headers.retain(|(name, _)| {
        !name.eq_ignore_ascii_case("accept-ranges")
            && !name.eq_ignore_ascii_case("content-encoding")
    });
    for (name, value) in &mut head.headers {
        if name.eq_ignore_ascii_case("etag") && !value.starts_with("W/") {
            let mut weak = String::with_capacity(2 + value.len());
            weak.push_str("W/");
            weak.push_str(value.as_str());
            *value = Value::Owned(weak);
        }
    }
    head.headers.push((
        Cow::Borrowed("Content-Encoding"),
        Value::Static(coding.token()),
    ));
    add_vary(head);
    head.length = length;
}

/// Adds `Accept-Encoding` to the head's `Vary` (unless it is there, or `*`).
pub fn add_vary(head: &mut Head) {
    for (name, value) in &mut head.headers {
        if !name.eq_ignore_ascii_case("vary") {
            continue;
        }
        let covered = value
            .split(',')
            .any(|v| v.trim() == "*" || v.trim().eq_ignore_ascii_case("accept-encoding"));
        if !covered {
            *value = Value::Owned(format!("{}, Accept-Encoding", value.as_str()));
        }
        return;
    }
    head.headers
        .push((Cow::Borrowed("Vary"), Value::Static("Accept-Encoding")));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Coder, Types};
    use crate::http::request::parse;

    fn request(text: &str) -> Request {
        let mut bytes = text.as_bytes().to_vec();
        parse(&mut bytes).unwrap().unwrap().0
    }

    fn head(status: u16, fields: &[(&'static str, &'static str)], length: Option<u64>) -> Head {
        Head {
            status,
            reason: None,
            headers: fields
                .iter()
                .map(|(n, v)| (Cow::Borrowed(*n), Value::Static(v)))
                .collect(),
            length,
            close: false,
        }
    }

    fn all_on() -> Compress {
        let on = |level| Coder {
            on: true,
            types: Types {
                any: false,
                list: vec!["text/css".to_string()].into(),
            },
            min_length: 20,
            level,
        };
        Compress {
            gzip: on(6),
            brotli: on(11),
            zstd: on(19),
            ..Compress::default()
        }
    }

    const HTML: &[(&str, &str)] = &[("Content-Type", "text/html; charset=utf-8")];

    fn get(accept: &str) -> Request {
        request(&format!(
            "GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: {accept}\r\n\r\n"
        ))
    }

    #[test]
    fn the_client_picks_among_the_codings_on_and_levels_stay_within_the_memory_bound() {
        let settings = all_on();
        let html = head(200, HTML, Some(1000));
        assert_eq!(
            decide(&get("gzip, br, zstd"), &settings, &html),
            Decision::Compress {
                coding: Coding::Zstd,
                level: 6
            }
        );
        assert_eq!(
            decide(&get("gzip, br"), &settings, &html),
            Decision::Compress {
                coding: Coding::Br,
                level: 6
            }
        );
        assert_eq!(
            decide(&get("gzip"), &settings, &html),
            Decision::Compress {
                coding: Coding::Gzip,
                level: 6
            }
        );
        let mut only_gzip = all_on();
        only_gzip.brotli.on = false;
        only_gzip.zstd.on = false;
        assert_eq!(
            decide(&get("br, zstd, gzip;q=0.1"), &only_gzip, &html),
            Decision::Compress {
                coding: Coding::Gzip,
                level: 6
            }
        );
        assert_eq!(
            decide(&get("br, zstd"), &only_gzip, &html),
            Decision::AsIs { vary: false }
        );
    }

    #[test]
    fn ranges_errors_heads_encoded_short_and_unlisted_responses_go_as_they_are() {
        let settings = all_on();
        let as_is = Decision::AsIs { vary: false };
        let r = get("gzip");
        for (h, why) in [
            (head(206, HTML, Some(1000)), "a range"),
            (head(304, &[], Some(0)), "not modified"),
            (head(204, &[], Some(0)), "no content"),
            (head(500, HTML, Some(1000)), "an error"),
            (
                head(
                    200,
                    &[("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
                    Some(1000),
                ),
                "encoded",
            ),
            (head(200, HTML, Some(19)), "short"),
            (
                head(200, &[("Content-Type", "image/png")], Some(1000)),
                "unlisted",
            ),
            (head(200, &[], Some(1000)), "no type"),
        ] {
            assert_eq!(decide(&r, &settings, &h), as_is, "{why}");
        }
        assert!(matches!(
            decide(&r, &settings, &head(404, HTML, None)),
            Decision::Compress { .. }
        ));
        assert!(matches!(
            decide(
                &r,
                &settings,
                &head(200, &[("Content-Type", "TEXT/CSS")], None)
            ),
            Decision::Compress { .. }
        ));
        let h = request("HEAD / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n");
        assert_eq!(decide(&h, &settings, &head(200, HTML, Some(1000))), as_is);
    }

    #[test]
    fn garbage_and_refusals_in_accept_encoding_leave_the_body_as_it_is() {
        let settings = all_on();
        let html = head(200, HTML, Some(1000));
        for accept in [
            "",
            "identity",
            "gzip;q=0",
            "gzip;q=5",
            "*;q=0",
            "x;y;z,,,===",
            "gzip;q=-1",
        ] {
            assert!(
                matches!(
                    decide(&get(accept), &settings, &html),
                    Decision::AsIs { .. }
                ),
                "{accept:?}"
            );
        }
        let none = request("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(matches!(
            decide(&none, &settings, &html),
            Decision::AsIs { .. }
        ));
    }

    #[test]
    fn a_client_that_refuses_identity_gets_even_a_short_body_compressed() {
        let settings = all_on();
        let short = head(200, HTML, Some(5));
        assert!(matches!(
            decide(&get("gzip, identity;q=0"), &settings, &short),
            Decision::Compress {
                coding: Coding::Gzip,
                ..
            }
        ));
        assert!(matches!(
            decide(&get("gzip"), &settings, &short),
            Decision::AsIs { .. }
        ));
    }

    #[test]
    fn gzip_vary_http_version_disable_and_proxied_follow_nginx() {
        let mut settings = all_on();
        settings.vary = true;
        let html = head(200, HTML, Some(1000));
        assert_eq!(
            decide(&get("identity"), &settings, &html),
            Decision::AsIs { vary: true }
        );
        let old = request("GET / HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n");
        assert!(matches!(
            decide(&old, &settings, &html),
            Decision::AsIs { .. }
        ));
        settings.min_minor_version = 0;
        assert!(matches!(
            decide(&old, &settings, &html),
            Decision::Compress { .. }
        ));
        settings.disable = Some(crate::config::Patterns(
            vec![regex::Regex::new("(?i)msie [4-6]\\.").unwrap()].into(),
        ));
        let msie = request(
            "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: Mozilla/4.0 (MSIE 6.0)\r\nAccept-Encoding: gzip\r\n\r\n",
        );
        assert!(matches!(
            decide(&msie, &settings, &html),
            Decision::AsIs { .. }
        ));
        let via =
            request("GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 proxy\r\nAccept-Encoding: gzip\r\n\r\n");
        assert!(matches!(
            decide(&via, &settings, &html),
            Decision::AsIs { .. }
        ));
        settings.proxied.no_etag = true;
        assert!(matches!(
            decide(&via, &settings, &html),
            Decision::Compress { .. }
        ));
        let tagged = head(
            200,
            &[("Content-Type", "text/html"), ("ETag", "\"x\"")],
            Some(1000),
        );
        assert!(matches!(
            decide(&via, &settings, &tagged),
            Decision::AsIs { .. }
        ));
        settings.proxied.expired = true;
        let expired = head(
            200,
            &[
                ("Content-Type", "text/html"),
                ("ETag", "\"x\""),
                ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
            ],
            Some(1000),
        );
        assert!(matches!(
            decide(&via, &settings, &expired),
            Decision::Compress { .. }
        ));
    }

    #[test]
    fn an_encoded_head_says_so_varies_weakens_its_etag_and_offers_no_ranges() {
        let mut h = head(
            200,
            &[
                ("Content-Type", "text/html"),
                ("ETag", "\"5-a\""),
                ("Accept-Ranges", "bytes"),
                ("Vary", "Origin"),
            ],
            Some(1000),
        );
        encoded_head(&mut h, Coding::Br, None);
        assert_eq!(h.header("Content-Encoding"), Some("br"));
        assert_eq!(h.header("ETag"), Some("W/\"5-a\""));
        assert_eq!(h.header("Vary"), Some("Origin, Accept-Encoding"));
        assert_eq!(h.header("Accept-Ranges"), None);
        assert_eq!(h.length, None);
        let mut weak = head(
            200,
            &[("ETag", "W/\"1\""), ("Vary", "accept-encoding")],
            None,
        );
        encoded_head(&mut weak, Coding::Gzip, Some(10));
        assert_eq!(weak.header("ETag"), Some("W/\"1\""));
        assert_eq!(weak.header("Vary"), Some("accept-encoding"));
        assert_eq!(weak.length, Some(10));
    }
}
