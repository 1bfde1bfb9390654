//! When to renew and when to try again: pure functions of times and failures.

use std::time::Duration;

use super::client::{AcmeError, RenewalWindow};

/// First wait after a failure to reach the CA (it may just be starting).
const TRANSPORT_BASE: Duration = Duration::from_secs(2);
/// First wait after the CA refused or a validation failed (CAs limit failed validations:
/// Let's Encrypt allows 5 per name and hour).
const REFUSED_BASE: Duration = Duration::from_secs(60);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// Wait after a rate limit that came without `Retry-After`.
const RATE_LIMITED: Duration = Duration::from_secs(3600);
/// How often renewal information is asked again when the CA gives no `Retry-After`.
pub const ARI_DEFAULT_POLL: Duration = Duration::from_secs(6 * 3600);
/// Bounds on the CA's `Retry-After` for renewal information.
const ARI_MIN_POLL: Duration = Duration::from_secs(60);
const ARI_MAX_POLL: Duration = Duration::from_secs(24 * 3600);

/// When a certificate valid from `not_before` to `not_after` (Unix seconds) is renewed without
/// renewal information: at two thirds of its lifetime.
pub fn renewal_time(not_before: i64, not_after: i64) -> i64 {
    let lifetime = (not_after - not_before).max(0);
    not_before + lifetime * 2 / 3
}

/// Whether a stored certificate can be served (and need not be ordered at once) at `now`.
pub fn is_usable(not_before: i64, not_after: i64, now: i64) -> bool {
    not_before <= now + 300 && now < not_after
}

/// The wait before attempt number `failures + 1` after `error` (`failures` >= 1).
pub fn backoff(failures: u32, error: &AcmeError) -> Duration {
    let base = match error {
        AcmeError::Transport(_) => TRANSPORT_BASE,
        _ => REFUSED_BASE,
    };
    let doubled = base.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let mut wait = doubled.min(MAX_BACKOFF);
    if let Some(asked) = error.retry_after() {
        // The CA's word wins, even past our ceiling (a rate limit can last days).
        wait = wait.max(asked);
    } else if error.is_rate_limit() {
        wait = wait.max(RATE_LIMITED);
    }
    wait
}

/// RFC 9773 section 4.2: a time chosen uniformly at random within the suggested window (`unit`
/// in [0, 1) is the random draw); a window already over means now.
pub fn within_window(window: &RenewalWindow, unit: f64, now: i64) -> i64 {
    if window.end <= now {
        return now;
    }
    let start = window.start.max(now);
    let span = (window.end - start) as f64;
    start + (span * unit.clamp(0.0, 1.0)) as i64
}

/// When to ask for renewal information again, from the CA's `Retry-After`.
pub fn ari_poll(retry_after: Option<Duration>) -> Duration {
    retry_after
        .unwrap_or(ARI_DEFAULT_POLL)
        .clamp(ARI_MIN_POLL, ARI_MAX_POLL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: &str, retry_after: Option<u64>) -> AcmeError {
        AcmeError::Problem {
            status: 429,
            kind: kind.to_string(),
            detail: String::new(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn renewal_comes_at_two_thirds_of_the_lifetime() {
        assert_eq!(renewal_time(0, 90 * 86_400), 60 * 86_400);
        assert_eq!(renewal_time(1000, 1030), 1020);
        assert_eq!(renewal_time(1000, 900), 1000);
        assert!(is_usable(0, 100, 50));
        assert!(!is_usable(0, 100, 100));
        assert!(!is_usable(1000, 2000, 0));
    }

    #[test]
    fn backoff_doubles_from_a_base_that_depends_on_the_failure() {
        let down = AcmeError::Transport("refused".into());
        let waits: Vec<u64> = (1..=5).map(|n| backoff(n, &down).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32]);
        let refused = AcmeError::Protocol("challenge failed".into());
        assert_eq!(backoff(1, &refused), Duration::from_secs(60));
        assert_eq!(backoff(3, &refused), Duration::from_secs(240));
        assert_eq!(backoff(40, &refused), MAX_BACKOFF);
    }

    #[test]
    fn rate_limits_wait_at_least_what_the_ca_asks() {
        assert_eq!(
            backoff(1, &problem("rateLimited", Some(86_400 * 3))),
            Duration::from_secs(86_400 * 3)
        );
        assert_eq!(backoff(1, &problem("rateLimited", None)), RATE_LIMITED);
        assert_eq!(
            backoff(1, &problem("serverInternal", Some(5))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn a_time_is_drawn_within_the_renewal_window() {
        let window = RenewalWindow {
            start: 1000,
            end: 2000,
            retry_after: None,
        };
        assert_eq!(within_window(&window, 0.0, 0), 1000);
        assert_eq!(within_window(&window, 0.5, 0), 1500);
        assert_eq!(within_window(&window, 0.5, 1500), 1750);
        assert_eq!(within_window(&window, 0.5, 2500), 2500);
        assert_eq!(ari_poll(None), ARI_DEFAULT_POLL);
        assert_eq!(ari_poll(Some(Duration::from_secs(1))), ARI_MIN_POLL);
    }
}
