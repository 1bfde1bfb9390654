//! `proxy_next_upstream`: when a try fails, whether the request goes on to the next server, what
//! the client gets when it does not, and how the failure counts for the server's health.
//!
//! nginx's rule: the failure must be one the directive lists (default `error timeout`), a try
//! must be left (`proxy_next_upstream_tries`, at most one per server) and time too
//! (`proxy_next_upstream_timeout`). Once any byte of the request has gone to the server, a
//! request is retried only if it can be sent again whole: not when its body was streamed
//! (`proxy_request_buffering off`) and some of it is gone, and not for POST, LOCK or PATCH
//! (which are not idempotent) unless `non_idempotent` is listed. A request that failed before
//! anything of it was sent (connection refused, connect timeout) is always retried within those
//! limits. When a try ends with a status the directive lists (`http_502`...) and no further try
//! is made, the client gets that response as the backend sent it.

use std::time::Duration;

use crate::config::proxy::model::{NextUpstream, ProxySettings};
use crate::http::request::Method;

use super::balance::Outcome;

/// How a try failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection could not be made, or broke before the response head was read whole.
    Error,
    /// `proxy_connect_timeout`, `proxy_send_timeout` or `proxy_read_timeout` (before the head).
    Timeout,
    /// The response head was refused (`response::HeadError`).
    InvalidHeader,
    /// A complete response head with this status.
    Status(u16),
}

/// How much of the request the server got before the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Nothing,
    Some,
}

/// Whether the request can be sent again whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// No body, or a body spooled whole before the first try.
    Possible,
    /// Body bytes streamed to the server are gone.
    Impossible,
}

/// One failed try, as the retry rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedTry {
    pub failure: Failure,
    pub sent: Sent,
    pub replay: Replay,
    pub method: Method,
    /// Tries left for the request before this one is released (`Attempt::tries_left`).
    pub tries_left: u32,
    /// Since the first try began (`Attempt::elapsed`).
    pub elapsed: Duration,
}

/// What the client gets when no further try is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The server's error page for this status (502, or 504 for a timeout).
    Error(u16),
    /// The backend's response, as it came.
    Response,
}

/// What follows a failed try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Pick another server and try again.
    Retry,
    GiveUp(Answer),
}

/// The decision for `failed`, and how the try counts for its server's health (to give to
/// `Balancer::release`).
pub fn decide(failed: &FailedTry, settings: &ProxySettings) -> (Next, Outcome) {
    let condition = match failed.failure {
        Failure::Error => Some(NextUpstream::ERROR),
        Failure::Timeout => Some(NextUpstream::TIMEOUT),
        Failure::InvalidHeader => Some(NextUpstream::INVALID_HEADER),
        Failure::Status(status) => NextUpstream::for_status(status),
    };
    let listed = condition.is_some_and(|c| settings.next_upstream.contains(c));
    let time_left =
        settings.next_upstream_timeout.is_zero() || failed.elapsed < settings.next_upstream_timeout;
    let resendable = match failed.sent {
        Sent::Nothing => true,
        Sent::Some => {
            failed.replay == Replay::Possible
                && (!non_idempotent(failed.method)
                    || settings
                        .next_upstream
                        .contains(NextUpstream::NON_IDEMPOTENT))
        }
    };
    let retry = listed && failed.tries_left > 1 && time_left && resendable;
    let next = if retry {
        Next::Retry
    } else {
        Next::GiveUp(match failed.failure {
            Failure::Error | Failure::InvalidHeader => Answer::Error(502),
            Failure::Timeout => Answer::Error(504),
            Failure::Status(_) => Answer::Response,
        })
    };
    let outcome = match failed.failure {
        Failure::Error | Failure::Timeout | Failure::InvalidHeader => Outcome::Failure,
        // nginx counts a status against the server only when it moved on because of it, and
        // never 403 or 404 (the server answered; the resource is what failed).
        Failure::Status(403 | 404) => Outcome::Success,
        Failure::Status(_) if retry => Outcome::Failure,
        Failure::Status(_) => Outcome::Success,
    };
    (next, outcome)
}

/// POST, LOCK and PATCH (of the methods this server parses, POST).
fn non_idempotent(method: Method) -> bool {
    matches!(method, Method::Post)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(next: NextUpstream) -> ProxySettings {
        ProxySettings {
            next_upstream: next,
            ..ProxySettings::default()
        }
    }

    fn failed(failure: Failure, sent: Sent, method: Method) -> FailedTry {
        FailedTry {
            failure,
            sent,
            replay: Replay::Possible,
            method,
            tries_left: 3,
            elapsed: Duration::from_secs(1),
        }
    }

    #[test]
    fn by_default_errors_and_timeouts_go_on_and_statuses_pass() {
        let s = ProxySettings::default();
        let cases = [
            (Failure::Error, Next::Retry, Outcome::Failure),
            (Failure::Timeout, Next::Retry, Outcome::Failure),
            (
                Failure::InvalidHeader,
                Next::GiveUp(Answer::Error(502)),
                Outcome::Failure,
            ),
            (
                Failure::Status(502),
                Next::GiveUp(Answer::Response),
                Outcome::Success,
            ),
            (
                Failure::Status(500),
                Next::GiveUp(Answer::Response),
                Outcome::Success,
            ),
        ];
        for (failure, next, outcome) in cases {
            assert_eq!(
                decide(&failed(failure, Sent::Nothing, Method::Get), &s),
                (next, outcome),
                "{failure:?}"
            );
        }
    }

    #[test]
    fn listed_statuses_go_on_and_count_except_403_and_404() {
        let s = settings(
            NextUpstream::ERROR
                .union(NextUpstream::HTTP_502)
                .union(NextUpstream::HTTP_404)
                .union(NextUpstream::INVALID_HEADER),
        );
        let get = |f| decide(&failed(f, Sent::Some, Method::Get), &s);
        assert_eq!(get(Failure::Status(502)), (Next::Retry, Outcome::Failure));
        assert_eq!(get(Failure::Status(404)), (Next::Retry, Outcome::Success));
        assert_eq!(get(Failure::InvalidHeader), (Next::Retry, Outcome::Failure));
        assert_eq!(
            get(Failure::Status(503)),
            (Next::GiveUp(Answer::Response), Outcome::Success)
        );
        assert_eq!(
            get(Failure::Timeout),
            (Next::GiveUp(Answer::Error(504)), Outcome::Failure)
        );
        assert_eq!(
            get(Failure::Status(201)),
            (Next::GiveUp(Answer::Response), Outcome::Success)
        );
    }

    #[test]
    fn the_last_try_gives_up_with_the_right_answer() {
        let s = ProxySettings::default();
        for (failure, answer) in [
            (Failure::Error, Answer::Error(502)),
            (Failure::Timeout, Answer::Error(504)),
        ] {
            let last = FailedTry {
                tries_left: 1,
                ..failed(failure, Sent::Nothing, Method::Get)
            };
            assert_eq!(decide(&last, &s), (Next::GiveUp(answer), Outcome::Failure));
        }
        let off = settings(NextUpstream::OFF);
        assert_eq!(
            decide(&failed(Failure::Error, Sent::Nothing, Method::Get), &off).0,
            Next::GiveUp(Answer::Error(502))
        );
    }

    #[test]
    fn a_request_partly_sent_is_retried_only_if_it_can_be_sent_again() {
        let s = ProxySettings::default();
        let post_unsent = failed(Failure::Error, Sent::Nothing, Method::Post);
        assert_eq!(decide(&post_unsent, &s).0, Next::Retry);
        let post_sent = failed(Failure::Error, Sent::Some, Method::Post);
        assert_eq!(decide(&post_sent, &s).0, Next::GiveUp(Answer::Error(502)));
        let with_flag = settings(
            NextUpstream::ERROR
                .union(NextUpstream::TIMEOUT)
                .union(NextUpstream::NON_IDEMPOTENT),
        );
        assert_eq!(decide(&post_sent, &with_flag).0, Next::Retry);
        for method in [Method::Get, Method::Head, Method::Put, Method::Delete] {
            assert_eq!(
                decide(&failed(Failure::Timeout, Sent::Some, method), &s).0,
                Next::Retry,
                "{method:?}"
            );
        }
        let streamed = FailedTry {
            replay: Replay::Impossible,
            ..failed(Failure::Error, Sent::Some, Method::Put)
        };
        assert_eq!(
            decide(&streamed, &with_flag).0,
            Next::GiveUp(Answer::Error(502))
        );
        let streamed_unsent = FailedTry {
            sent: Sent::Nothing,
            ..streamed
        };
        assert_eq!(decide(&streamed_unsent, &s).0, Next::Retry);
    }

    #[test]
    fn the_next_upstream_timeout_bounds_the_retries() {
        let s = ProxySettings {
            next_upstream_timeout: Duration::from_secs(5),
            ..ProxySettings::default()
        };
        let early = failed(Failure::Error, Sent::Nothing, Method::Get);
        assert_eq!(decide(&early, &s).0, Next::Retry);
        let late = FailedTry {
            elapsed: Duration::from_secs(5),
            ..early
        };
        assert_eq!(decide(&late, &s).0, Next::GiveUp(Answer::Error(502)));
    }
}
