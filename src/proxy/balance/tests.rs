//! The balancer against nginx's documented and observable behaviour, on a fake clock.

use super::*;
use crate::config::proxy::model::{PeerAddr, UpstreamServer};

/// A server: weight, max_fails, fail_timeout (s), max_conns, backup, down.
#[derive(Clone, Copy)]
struct S(u32, u32, u64, u32, bool, bool);

const PLAIN: S = S(1, 1, 10, 0, false, false);

fn weight(w: u32) -> S {
    S(w, 1, 10, 0, false, false)
}

fn upstream(servers: &[S], balance: Balance) -> Arc<Upstream> {
    Arc::new(Upstream {
        id: 0,
        name: "u".into(),
        implicit: false,
        servers: servers
            .iter()
            .enumerate()
            .map(|(i, s)| UpstreamServer {
                addr: PeerAddr::Tcp(format!("10.0.0.{}:80", i + 1).parse().unwrap()),
                shown: format!("10.0.0.{}:80", i + 1),
                weight: s.0,
                max_fails: s.1,
                fail_timeout: Duration::from_secs(s.2),
                max_conns: s.3,
                backup: s.4,
                down: s.5,
                at: crate::config::Pos { line: 1, col: 1 },
            })
            .collect(),
        balance,
        keepalive: None,
    })
}

fn balancer(servers: &[S], balance: Balance) -> Balancer {
    Balancer::new(&[upstream(servers, balance)])
}

/// The server picked for one request that succeeds at once.
fn one(b: &mut Balancer, now: Instant) -> Option<usize> {
    let mut attempt = b.begin(0, 0, now);
    let chosen = b.pick(&mut attempt, now)?;
    let server = chosen.server;
    b.release(&mut attempt, chosen, Outcome::Success, now);
    Some(server)
}

/// The servers of `n` requests, as letters (`a` is server 0).
fn sequence(b: &mut Balancer, n: usize, now: Instant) -> String {
    (0..n)
        .map(|_| one(b, now).map_or('-', |s| char::from(b'a' + s as u8)))
        .collect()
}

/// One request whose try on its first server fails.
fn fail_once(b: &mut Balancer, now: Instant) -> Option<usize> {
    let mut attempt = b.begin(0, 0, now);
    let chosen = b.pick(&mut attempt, now)?;
    let server = chosen.server;
    b.release(&mut attempt, chosen, Outcome::Failure, now);
    Some(server)
}

#[test]
fn smooth_weighted_round_robin_interleaves_as_nginx_does() {
    let now = Instant::now();
    let mut b = balancer(&[weight(5), weight(1), weight(1)], Balance::RoundRobin);
    assert_eq!(sequence(&mut b, 14, now), "aabacaaaabacaa");
    let mut b = balancer(&[PLAIN, PLAIN, PLAIN], Balance::RoundRobin);
    assert_eq!(sequence(&mut b, 7, now), "abcabca");
    let mut b = balancer(&[weight(3), weight(2)], Balance::RoundRobin);
    let s = sequence(&mut b, 500, now);
    assert_eq!((s.matches('a').count(), s.matches('b').count()), (300, 200));
    assert!(!s.contains("aaa"), "{s}");
}

#[test]
fn one_request_never_gets_the_same_server_twice_and_tries_are_bounded() {
    let now = Instant::now();
    let mut b = balancer(&[PLAIN, PLAIN, PLAIN], Balance::RoundRobin);
    let mut attempt = b.begin(0, 0, now);
    assert_eq!(attempt.tries_left(), 3);
    let mut seen = Vec::new();
    while let Some(chosen) = b.pick(&mut attempt, now) {
        seen.push(chosen.server);
        b.release(&mut attempt, chosen, Outcome::Success, now);
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2]);
    assert_eq!(attempt.tries_left(), 0);

    let limited = b.begin(0, 2, now);
    assert_eq!(limited.tries_left(), 2);
    let mut limited = limited;
    for _ in 0..2 {
        let c = b.pick(&mut limited, now).unwrap();
        b.release(&mut limited, c, Outcome::Failure, now);
    }
    assert_eq!(b.pick(&mut limited, now), None);
    assert_eq!(b.begin(0, 9, now).tries_left(), 3);
    assert_eq!(
        limited.elapsed(now + Duration::from_secs(2)),
        Duration::from_secs(2)
    );
}

#[test]
fn a_server_failing_max_fails_times_is_skipped_for_fail_timeout_then_retried() {
    let t0 = Instant::now();
    let secs = |n: u64| t0 + Duration::from_secs(n);
    let mut b = balancer(&[S(1, 2, 10, 0, false, false), PLAIN], Balance::RoundRobin);
    assert_eq!(fail_once(&mut b, t0), Some(0));
    assert_eq!(one(&mut b, t0), Some(1));
    // One failure of two allowed: still in the rotation.
    assert_eq!(fail_once(&mut b, secs(1)), Some(0));
    // Two within the window: skipped.
    for t in [1, 5, 11] {
        assert_eq!(sequence(&mut b, 4, secs(t)), "bbbb", "at {t}s");
    }
    // The window has passed: one request goes to it again.
    let s = sequence(&mut b, 4, secs(12));
    assert!(s.contains('a'), "{s}");
    // It answered: counted as healthy again.
    assert!(fail_once(&mut b, secs(13)).is_some());
    let s = sequence(&mut b, 6, secs(13));
    assert!(
        s.contains('a'),
        "one failure after recovery does not disable it: {s}"
    );
}

#[test]
fn a_server_failing_again_on_its_trial_is_skipped_again() {
    let t0 = Instant::now();
    let secs = |n: u64| t0 + Duration::from_secs(n);
    let mut b = balancer(&[PLAIN, PLAIN], Balance::RoundRobin);
    assert_eq!(fail_once(&mut b, t0), Some(0));
    assert_eq!(sequence(&mut b, 3, secs(5)), "bbb");
    // After the window, the first request that gets it fails.
    let mut trial = None;
    for _ in 0..4 {
        let mut attempt = b.begin(0, 1, secs(11));
        let chosen = b.pick(&mut attempt, secs(11)).unwrap();
        let server = chosen.server;
        let outcome = if server == 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        b.release(&mut attempt, chosen, outcome, secs(11));
        if server == 0 {
            trial = Some(server);
            break;
        }
    }
    assert_eq!(trial, Some(0));
    assert_eq!(sequence(&mut b, 4, secs(15)), "bbbb");
}

#[test]
fn max_fails_zero_never_disables_and_down_is_never_picked() {
    let now = Instant::now();
    let mut b = balancer(&[S(1, 0, 10, 0, false, false), PLAIN], Balance::RoundRobin);
    for _ in 0..10 {
        let mut attempt = b.begin(0, 1, now);
        let c = b.pick(&mut attempt, now).unwrap();
        let outcome = if c.server == 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        b.release(&mut attempt, c, outcome, now);
    }
    let s = sequence(&mut b, 20, now);
    assert!(s.contains('a') && s.contains('b'), "{s}");
    let mut b = balancer(&[S(1, 1, 10, 0, false, true), PLAIN], Balance::RoundRobin);
    assert_eq!(sequence(&mut b, 5, now), "bbbbb");
}

#[test]
fn a_failure_lowers_a_servers_share_until_it_recovers() {
    let now = Instant::now();
    let mut b = balancer(
        &[S(4, 4, 10, 0, false, false), weight(4)],
        Balance::RoundRobin,
    );
    assert_eq!(fail_once(&mut b, now), Some(0));
    // Effective weight 3, back to 4 at its next pick: b gets the next two, then they alternate.
    assert_eq!(sequence(&mut b, 16, now), "bbababababababab");
}

#[test]
fn backups_serve_only_when_no_primary_can() {
    let t0 = Instant::now();
    let backup = S(1, 1, 10, 0, true, false);
    let mut b = balancer(&[PLAIN, PLAIN, backup], Balance::RoundRobin);
    assert_eq!(sequence(&mut b, 4, t0), "abab");
    // One request whose tries fail on both primaries ends on the backup.
    let mut attempt = b.begin(0, 0, t0);
    assert_eq!(attempt.tries_left(), 3);
    let mut seen = Vec::new();
    while let Some(c) = b.pick(&mut attempt, t0) {
        seen.push(c.server);
        let outcome = if c.server == 2 {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        b.release(&mut attempt, c, outcome, t0);
        if outcome == Outcome::Success {
            break;
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2]);
    // Both primaries are now skipped: the backup takes every request.
    assert_eq!(sequence(&mut b, 3, t0 + Duration::from_secs(1)), "ccc");
    // Their window has passed: they take requests again, and the backup none.
    let s = sequence(&mut b, 6, t0 + Duration::from_secs(11));
    assert!(
        s.contains('a') && s.contains('b') && !s.contains('c'),
        "{s}"
    );
}

#[test]
fn with_every_server_unavailable_there_is_no_live_upstream() {
    let t0 = Instant::now();
    let mut b = balancer(&[PLAIN, PLAIN], Balance::RoundRobin);
    assert!(fail_once(&mut b, t0).is_some());
    assert!(fail_once(&mut b, t0).is_some());
    let mut attempt = b.begin(0, 0, t0);
    assert_eq!(b.pick(&mut attempt, t0 + Duration::from_secs(3)), None);
    let mut down = balancer(
        &[S(1, 1, 10, 0, false, true), S(1, 1, 10, 0, true, true)],
        Balance::RoundRobin,
    );
    assert_eq!(one(&mut down, t0), None);
}

#[test]
fn a_single_server_never_counts_failures_and_has_one_try() {
    let now = Instant::now();
    let mut b = balancer(&[PLAIN], Balance::RoundRobin);
    for _ in 0..5 {
        assert_eq!(fail_once(&mut b, now), Some(0));
    }
    assert_eq!(one(&mut b, now), Some(0));
    let mut attempt = b.begin(0, 0, now);
    let c = b.pick(&mut attempt, now).unwrap();
    b.release(&mut attempt, c, Outcome::Failure, now);
    assert_eq!(attempt.tries_left(), 0);
    assert_eq!(b.pick(&mut attempt, now), None);
    let mut down = balancer(&[S(1, 1, 10, 0, false, true)], Balance::RoundRobin);
    assert_eq!(one(&mut down, now), None);
}

#[test]
fn max_conns_skips_a_busy_server() {
    let now = Instant::now();
    let mut b = balancer(&[S(5, 1, 10, 1, false, false), PLAIN], Balance::RoundRobin);
    let mut held = b.begin(0, 0, now);
    let busy = b.pick(&mut held, now).unwrap();
    assert_eq!(busy.server, 0);
    assert_eq!(sequence(&mut b, 3, now), "bbb");
    b.release(&mut held, busy, Outcome::Success, now);
    assert_eq!(one(&mut b, now), Some(0));
    let mut single = balancer(&[S(1, 1, 10, 1, false, false)], Balance::RoundRobin);
    let mut first = single.begin(0, 0, now);
    let c = single.pick(&mut first, now).unwrap();
    assert_eq!(one(&mut single, now), None);
    single.release(&mut first, c, Outcome::Success, now);
    assert_eq!(one(&mut single, now), Some(0));
}

#[test]
fn least_conn_prefers_the_least_loaded_server_by_weight() {
    let now = Instant::now();
    let mut b = balancer(&[PLAIN, PLAIN, PLAIN], Balance::LeastConn);
    // Nothing held: ties, taken in round-robin order.
    assert_eq!(sequence(&mut b, 6, now), "abcabc");
    // Hold two requests on whichever servers they get; the next goes to the idle one.
    let mut a1 = b.begin(0, 0, now);
    let c1 = b.pick(&mut a1, now).unwrap();
    let mut a2 = b.begin(0, 0, now);
    let c2 = b.pick(&mut a2, now).unwrap();
    assert_ne!(c1.server, c2.server);
    let idle = 3 - c1.server - c2.server;
    assert_eq!(
        sequence(&mut b, 3, now),
        char::from(b'a' + idle as u8).to_string().repeat(3)
    );
    b.release(&mut a1, c1, Outcome::Success, now);
    b.release(&mut a2, c2, Outcome::Success, now);

    // Weight 2 takes two connections for every one of weight 1.
    let mut w = balancer(&[weight(2), PLAIN], Balance::LeastConn);
    let mut held = Vec::new();
    for _ in 0..6 {
        let mut attempt = w.begin(0, 0, now);
        let chosen = w.pick(&mut attempt, now).unwrap();
        held.push((attempt, chosen));
    }
    let on_a = held.iter().filter(|(_, c)| c.server == 0).count();
    assert_eq!(on_a, 4);
    for (mut attempt, chosen) in held {
        w.release(&mut attempt, chosen, Outcome::Success, now);
    }
}

#[test]
fn least_conn_skips_failed_servers_and_falls_back_to_backups() {
    let t0 = Instant::now();
    let mut b = balancer(
        &[PLAIN, PLAIN, S(1, 1, 10, 0, true, false)],
        Balance::LeastConn,
    );
    assert!(fail_once(&mut b, t0).is_some());
    let s = sequence(&mut b, 4, t0);
    assert!(
        s.chars().all(|c| c == s.chars().next().unwrap()) && !s.contains('c'),
        "{s}"
    );
    assert!(fail_once(&mut b, t0).is_some());
    assert_eq!(sequence(&mut b, 2, t0), "cc");
}

#[test]
fn an_unknown_group_has_no_server() {
    let now = Instant::now();
    let mut b = balancer(&[PLAIN], Balance::RoundRobin);
    let mut attempt = b.begin(7, 0, now);
    assert_eq!(attempt.tries_left(), 0);
    assert_eq!(b.pick(&mut attempt, now), None);
}

#[test]
fn the_tried_set_holds_any_number_of_servers() {
    for servers in [0, 1, 63, 64, 65, 200] {
        let mut tried = Tried::new(servers);
        for i in 0..servers {
            assert!(!tried.has(i));
        }
        for i in (0..servers).step_by(3) {
            tried.set(i);
        }
        for i in 0..servers {
            assert_eq!(tried.has(i), i % 3 == 0, "{servers} servers, index {i}");
        }
        // Past the end: never set, never there.
        tried.set(servers + 64);
        assert!(!tried.has(servers + 64));
    }
}
