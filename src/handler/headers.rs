//! The fields a site's configuration adds to its responses: `add_header` and `expires`,
//! with nginx's rules for which responses get them.

use crate::config::{Expires, Settings};
use crate::http::response::Response;
use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The statuses `add_header` (without `always`) and `expires` apply to, as in nginx.
const DECORATED: [u16; 10] = [200, 201, 204, 206, 301, 302, 303, 304, 307, 308];

/// `expires max`: nginx's values.
const MAX_EXPIRES: &str = "Thu, 31 Dec 2037 23:55:55 GMT";
const MAX_AGE: u64 = 315_360_000;
/// `expires epoch`.
const EPOCH_EXPIRES: &str = "Thu, 01 Jan 1970 00:00:01 GMT";

/// Whether `settings` adds anything to any response.
pub fn decorates(settings: &Settings) -> bool {
    !settings.add_headers.is_empty() || settings.expires != Expires::Off
}

/// Adds the `expires` and `add_header` fields of `settings` to `response`, at `now`. A CGI
/// response that set its own Cache-Control or Expires keeps them: the script knows its
/// content better than the location does.
pub fn decorate(response: &mut Response, settings: &Settings, now: SystemTime, from_cgi: bool) {
    let success = DECORATED.contains(&response.status);
    let script_decided = from_cgi
        && (response.header("Cache-Control").is_some() || response.header("Expires").is_some());
    if success
        && !script_decided
        && let Some((expires, cache_control)) = expires_fields(settings.expires, now)
    {
        response
            .headers
            .push((Cow::Borrowed("Expires"), expires.into()));
        response
            .headers
            .push((Cow::Borrowed("Cache-Control"), cache_control.into()));
    }
    for header in &settings.add_headers {
        // An empty value adds nothing (but, as in nginx, still stops the inheritance).
        if (success || header.always) && !header.value.is_empty() {
            response
                .headers
                .push((Cow::Owned(header.name.clone()), header.value.clone().into()));
        }
    }
}

/// The Expires and Cache-Control values of an `expires` setting at `now`; None for `off`.
pub fn expires_fields(expires: Expires, now: SystemTime) -> Option<(String, String)> {
    Some(match expires {
        Expires::Off => return None,
        Expires::Epoch => (EPOCH_EXPIRES.to_string(), "no-cache".to_string()),
        Expires::Max => (MAX_EXPIRES.to_string(), format!("max-age={MAX_AGE}")),
        Expires::Seconds(secs) => {
            let offset = Duration::from_secs(secs.unsigned_abs());
            let at = if secs >= 0 {
                now.checked_add(offset)
            } else {
                now.checked_sub(offset)
            };
            let at = at.unwrap_or(UNIX_EPOCH).max(UNIX_EPOCH);
            let cache_control = if secs >= 0 {
                format!("max-age={secs}")
            } else {
                "no-cache".to_string()
            };
            (httpdate::fmt_http_date(at), cache_control)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AddHeader;
    use crate::http::response::Body;
    use std::path::Path;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn expires_values_follow_nginx() {
        let now = at(1_700_000_000); // Tue, 14 Nov 2023 22:13:20 GMT
        let fields = |e| expires_fields(e, now);
        assert_eq!(fields(Expires::Off), None);
        assert_eq!(
            fields(Expires::Epoch),
            Some(("Thu, 01 Jan 1970 00:00:01 GMT".into(), "no-cache".into()))
        );
        assert_eq!(
            fields(Expires::Max),
            Some((
                "Thu, 31 Dec 2037 23:55:55 GMT".into(),
                "max-age=315360000".into()
            ))
        );
        assert_eq!(
            fields(Expires::Seconds(3600)),
            Some((
                "Tue, 14 Nov 2023 23:13:20 GMT".into(),
                "max-age=3600".into()
            ))
        );
        assert_eq!(
            fields(Expires::Seconds(0)),
            Some(("Tue, 14 Nov 2023 22:13:20 GMT".into(), "max-age=0".into()))
        );
        assert_eq!(
            fields(Expires::Seconds(-3600)),
            Some(("Tue, 14 Nov 2023 21:13:20 GMT".into(), "no-cache".into()))
        );
    }

    fn settings() -> Settings {
        let mut s = Settings::defaults(Path::new("/srv"));
        s.add_headers = vec![
            AddHeader {
                name: "X-Frame-Options".into(),
                value: "DENY".into(),
                always: false,
            },
            AddHeader {
                name: "X-Always".into(),
                value: "yes".into(),
                always: true,
            },
            AddHeader {
                name: "X-Empty".into(),
                value: String::new(),
                always: true,
            },
        ];
        s.expires = Expires::Seconds(60);
        s
    }

    fn decorated(status: u16, from_cgi: bool, own: &[(&'static str, &str)]) -> Response {
        let mut response = Response::new(status, Body::Empty);
        for (name, value) in own {
            response = response.with_header(*name, value.to_string());
        }
        decorate(&mut response, &settings(), at(0), from_cgi);
        response
    }

    #[test]
    fn successes_and_redirects_get_every_field_errors_only_the_always_ones() {
        for status in DECORATED {
            let r = decorated(status, false, &[]);
            assert_eq!(r.header("X-Frame-Options"), Some("DENY"), "{status}");
            assert_eq!(r.header("X-Always"), Some("yes"));
            assert_eq!(r.header("Cache-Control"), Some("max-age=60"));
            assert!(r.header("X-Empty").is_none());
        }
        for status in [202, 300, 400, 403, 404, 416, 500, 503] {
            let r = decorated(status, false, &[]);
            assert_eq!(r.header("X-Frame-Options"), None, "{status}");
            assert_eq!(r.header("X-Always"), Some("yes"));
            assert_eq!(r.header("Cache-Control"), None);
            assert_eq!(r.header("Expires"), None);
        }
    }

    #[test]
    fn a_script_that_sets_its_own_caching_keeps_it() {
        let r = decorated(200, true, &[("Cache-Control", "private")]);
        assert_eq!(r.header("Cache-Control"), Some("private"));
        assert_eq!(r.header("Expires"), None);
        assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
        let r = decorated(200, true, &[]);
        assert_eq!(r.header("Cache-Control"), Some("max-age=60"));
    }
}
