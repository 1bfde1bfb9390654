//! What a proxied request leaves for the access log: nginx's `$upstream_addr`,
//! `$upstream_status` and `$upstream_response_time`, one entry per try, joined with `, ` as
//! nginx joins them.
//!
//! - `$upstream_addr`: each tried server's address (`127.0.0.1:8001`, `unix:/run/app.sock`);
//!   the group's name when no server could be picked.
//! - `$upstream_status`: each try's status: the backend's, or the 502/504 the try ended with.
//! - `$upstream_response_time`: each try's time from the start of the try to its end, in
//!   seconds with millisecond resolution (`0.012`).

use std::fmt::Write as _;
use std::time::Duration;

/// One try of a request on a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Try {
    /// The server's address, or the group's name when none could be picked.
    pub addr: String,
    /// The backend's status, or the error status the try ended with (502, 504).
    pub status: u16,
    pub time: Duration,
}

/// The tries of one request, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tries(pub Vec<Try>);

impl Tries {
    /// `$upstream_addr`.
    pub fn addrs(&self) -> String {
        self.join(|t, out| out.push_str(&t.addr))
    }

    /// `$upstream_status`.
    pub fn statuses(&self) -> String {
        self.join(|t, out| {
            let _ = write!(out, "{}", t.status);
        })
    }

    /// `$upstream_response_time`.
    pub fn times(&self) -> String {
        self.join(|t, out| {
            let ms = t.time.as_millis();
            let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
        })
    }

    /// Each try through `one`, `, `-separated; `-` when there was no try (nginx's empty value
    /// in a log line).
    fn join(&self, mut one: impl FnMut(&Try, &mut String)) -> String {
        if self.0.is_empty() {
            return "-".to_string();
        }
        let mut out = String::new();
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            one(t, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_are_joined_as_nginx_logs_them() {
        let tries = Tries(vec![
            Try {
                addr: "127.0.0.1:8001".into(),
                status: 502,
                time: Duration::from_micros(1400),
            },
            Try {
                addr: "unix:/run/app.sock".into(),
                status: 200,
                time: Duration::from_millis(12_345),
            },
        ]);
        assert_eq!(tries.addrs(), "127.0.0.1:8001, unix:/run/app.sock");
        assert_eq!(tries.statuses(), "502, 200");
        assert_eq!(tries.times(), "0.001, 12.345");
        let none = Tries::default();
        assert_eq!(
            (none.addrs(), none.statuses(), none.times()),
            ("-".into(), "-".into(), "-".into())
        );
        let no_live = Tries(vec![Try {
            addr: "backend".into(),
            status: 502,
            time: Duration::ZERO,
        }]);
        assert_eq!(
            (no_live.addrs(), no_live.statuses(), no_live.times()),
            ("backend".into(), "502".into(), "0.000".into())
        );
    }
}
