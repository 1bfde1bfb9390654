//! The exchange's side of a FastCGI request (`fastcgi_pass`): the server of its group (the
//! proxy's balancer: round-robin or `least_conn`, `max_fails`/`fail_timeout`, `backup`), the
//! connection (an idle one from the shared pool with `fastcgi_keep_conn on`, or a new one),
//! the records that open the request, a spooled body fed as STDIN, another try when a try
//! fails before anything was answered, and the connection given back to the pool after a clean
//! answer, and each try's server, status and time for `$upstream_addr`, `$upstream_status`
//! and `$upstream_response_time` (as a proxied request's, `proxy::log`). The records
//! themselves are `fastcgi::upstream`'s; the streaming, the shared upstream pump's.

use super::Cx;
use crate::config::proxy::model::{PeerAddr, Upstream as Group};
use crate::fastcgi::pool::{Fresh, Lease};
use crate::fastcgi::record::Connection;
use crate::fastcgi::upstream::{self, FastCgiCodec, Job};
use crate::log;
use crate::proxy::balance::{Attempt, Chosen, Outcome};
use crate::proxy::log::{self as tries_log, Try};
use crate::proxy::pass::{IdleCheck, WorkerState};
use crate::site::route::Site;
use crate::upstream::{Address, Endpoint, Timeouts, Upstream};
use std::fs::File;
use std::io::Read;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes of a spooled body read from its file at a time.
const FEED_CHUNK: usize = 32 * 1024;

/// What the exchange keeps of its FastCGI request besides the upstream of its current try.
pub(super) struct Backend {
    state: Rc<WorkerState>,
    group: Arc<Group>,
    attempt: Attempt,
    /// The server of the current try (released once, when the try ends).
    chosen: Option<Chosen>,
    /// The current try's connection.
    conn: Option<Conn>,
    /// The request's records, kept while it may go again (it has no body).
    records: Option<Vec<u8>>,
    /// A spooled body still to be sent.
    feed: Option<Feed>,
    /// `METHOD PATH`-like text naming the request in the error log.
    uri: String,
    /// The tries that ended (for `$upstream_*`); the current one's start and status (0: no
    /// head yet).
    tries: Vec<Try>,
    try_started: Instant,
    status: u16,
}

/// The tries of a FastCGI request whose backend is gone (its connection closed or given
/// back): what `$upstream_*` show.
pub(super) struct Tries {
    group: Arc<Group>,
    tries: Vec<Try>,
}

impl Tries {
    /// See [`Backend::log_value`].
    pub(super) fn log_value(&self, name: &str, out: &mut Vec<u8>) -> bool {
        tries_log::value(name, &self.tries, &self.group, out)
    }
}

/// A try's connection to its server.
struct Conn {
    addr: PeerAddr,
    created: Instant,
    /// Requests it carried before this one.
    requests: u64,
    /// Its id among pooled connections, once it has been idle there.
    pooled: Option<u32>,
    /// Kept open for another request (the application was asked to keep it).
    lease: Option<Lease>,
    /// A new connection until its first answer (see `fastcgi::pool`).
    fresh: Option<Fresh>,
}

/// A spooled request body on its way into STDIN records.
struct Feed {
    file: File,
    buf: Vec<u8>,
    at: usize,
}

/// Starts `job` for the request to `uri` on `site` (whose `fastcgi_pass` it is): Ok with the
/// upstream and what the exchange keeps; Err with the status to answer (502: no server could
/// be reached). `body`: a request body follows (streamed by the exchange, or `spooled` from
/// this file).
pub(super) fn start(
    job: Job,
    site: &Site,
    uri: &str,
    body: bool,
    spooled: Option<File>,
    cx: &mut Cx,
    config: &Arc<crate::config::Config>,
) -> Result<(Upstream, Box<Backend>), u16> {
    let Some(group) = site.settings.fastcgi.pass.clone() else {
        log::error(&format!("FastCGI {uri}: no address to pass the request to"));
        return Err(502);
    };
    let state = cx.local.proxy.state(config);
    let attempt = state.begin(group.id, 0, cx.now);
    let mut backend = Box::new(Backend {
        state,
        group,
        attempt,
        chosen: None,
        conn: None,
        records: None,
        feed: spooled.map(|file| Feed {
            file,
            buf: Vec::new(),
            at: 0,
        }),
        uri: uri.to_string(),
        tries: Vec::new(),
        try_started: cx.now,
        status: 0,
    });
    let upstream = backend.try_next(site, job.records, body, cx)?;
    Ok((upstream, backend))
}

/// How the error log names a try: `FastCGI unix:/run/php.sock /index.php` (made for every
/// request, so without `core::fmt`).
fn label(server: &str, uri: &str) -> String {
    let mut label = String::with_capacity(9 + server.len() + uri.len());
    label.push_str("FastCGI ");
    label.push_str(server);
    label.push(' ');
    label.push_str(uri);
    label
}

impl Backend {
    /// A try on the next server the balancer gives: a kept connection from the pool or a new
    /// one (a server that refuses at once is released as failed and the next one tried).
    fn try_next(
        &mut self,
        site: &Site,
        mut records: Vec<u8>,
        body: bool,
        cx: &mut Cx,
    ) -> Result<Upstream, u16> {
        let settings = &site.settings.fastcgi;
        let limit = self.group.keepalive.map_or(0, |k| k.connections);
        let keep = settings.keep_conn && self.state.keeps(self.group.id);
        loop {
            let Some(chosen) = self.state.pick(&mut self.attempt, cx.now) else {
                self.tries.push(Try {
                    server: None,
                    status: 502,
                    time: Duration::ZERO,
                });
                log::error(&format!(
                    "no live upstreams while connecting to upstream \"{}\" (FastCGI {})",
                    self.group.name, self.uri
                ));
                return Err(502);
            };
            let server = &self.group.servers[chosen.server];
            let addr = server.addr.clone();
            let label = label(&server.shown, &self.uri);
            let bounds = &mut cx.local.fastcgi;
            let lent = keep
                .then(|| {
                    // A request with a body cannot go again: its connection is checked.
                    let check = match body {
                        true => IdleCheck::Peek,
                        false => IdleCheck::Retry,
                    };
                    self.state
                        .lend(self.group.id, &addr, check, &cx.registration, cx.now)
                })
                .flatten();
            let (endpoint, conn, spare) = match lent {
                Some(lent) => {
                    let lease = bounds.lease(&addr, None, limit);
                    let conn = Conn {
                        addr,
                        created: lent.created,
                        requests: lent.requests,
                        pooled: Some(lent.id),
                        lease,
                        fresh: None,
                    };
                    // It keeps the buffers of its last request.
                    (lent.endpoint, conn, lent.spare)
                }
                None => match Endpoint::connect(&Address::from(&addr), &cx.registration) {
                    Ok(endpoint) => {
                        let idle = self.state.idle(self.group.id);
                        let lease = keep.then(|| bounds.lease(&addr, Some(idle), limit));
                        let conn = Conn {
                            fresh: Some(bounds.fresh(&addr, cx.now)),
                            addr,
                            created: cx.now,
                            requests: 0,
                            pooled: None,
                            lease: lease.flatten(),
                        };
                        (endpoint, conn, self.state.take_spare())
                    }
                    Err(error) => {
                        log::error(&format!("{label}: connect() failed: {error}"));
                        self.tries.push(Try {
                            server: Some(chosen.server),
                            status: 502,
                            time: Duration::ZERO,
                        });
                        self.state
                            .release(&mut self.attempt, chosen, Outcome::Failure, cx.now);
                        continue;
                    }
                },
            };
            let connection = match conn.lease {
                Some(_) => Connection::KeepOpen,
                None => Connection::Close,
            };
            upstream::set_connection(&mut records, connection);
            let timeouts = Timeouts {
                connect: settings.connect_timeout,
                read: settings.read_timeout,
                send: Some(settings.send_timeout),
                exit_grace: Duration::ZERO,
            };
            let codec = Box::new(FastCgiCodec::new(label.clone()));
            let mut upstream = Upstream::new(endpoint, codec, label, timeouts, true, cx.now);
            upstream.use_spare(spare);
            upstream.send_first(&records);
            if !body {
                upstream.end_body();
            }
            self.chosen = Some(chosen);
            self.conn = Some(conn);
            self.try_started = cx.now;
            self.status = 0;
            // Without a body, the request can go again if this try fails before an answer.
            self.records = (!body).then_some(records);
            return Ok(upstream);
        }
    }

    /// The application answered with `status` (or failed: None): the connection is no
    /// longer new.
    pub(super) fn answered(&mut self, status: Option<u16>) {
        if let Some(conn) = &mut self.conn {
            conn.fresh = None;
        }
        if let Some(status) = status {
            self.status = status;
        }
    }

    /// Appends the value of `$NAME` (`upstream_addr`, `upstream_status`,
    /// `upstream_response_time`) for this request's tries to `out`, the one under way ending
    /// `now`. False: no value (no try, another name).
    pub(super) fn log_value(&self, name: &str, now: Instant, out: &mut Vec<u8>) -> bool {
        let tries = self.tries_as_of(now);
        tries_log::value(name, &tries, &self.group, out)
    }

    /// The tries, the one under way ending `now`, kept beyond the backend.
    pub(super) fn tries(&self, now: Instant) -> Tries {
        Tries {
            group: Arc::clone(&self.group),
            tries: self.tries_as_of(now),
        }
    }

    fn tries_as_of(&self, now: Instant) -> Vec<Try> {
        let mut tries = self.tries.clone();
        if let Some(chosen) = &self.chosen {
            tries.push(Try {
                server: Some(chosen.server),
                status: self.status,
                time: now.saturating_duration_since(self.try_started),
            });
        }
        tries
    }

    /// The current try failed before any answer (`status`: 502, or 504 for a timeout): the
    /// request goes again, to the next server of the group (or on a new connection to the same
    /// one, when the failed one was a kept connection, which the application may have closed
    /// just as it was taken), when it has no body and a try is left. None: it cannot.
    pub(super) fn retry(
        &mut self,
        status: u16,
        site: &Site,
        cx: &mut Cx,
    ) -> Option<Result<Upstream, u16>> {
        let reused = self.conn.as_ref().is_some_and(|c| c.pooled.is_some());
        let conn = self.conn.take();
        if let Some(Conn {
            pooled: Some(id), ..
        }) = &conn
        {
            self.state.disown(*id);
        }
        drop(conn);
        let chosen = self.chosen.take()?;
        self.tries.push(Try {
            server: Some(chosen.server),
            status,
            time: cx.now.saturating_duration_since(self.try_started),
        });
        // A kept connection's failure is the pool's, not the server's: it does not count, and
        // it is tried again (nginx retries a cached connection the same way).
        let outcome = if reused {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        self.state
            .release(&mut self.attempt, chosen, outcome, cx.now);
        if reused {
            self.attempt = self.state.begin(self.group.id, 0, cx.now);
        }
        let records = self.records.take()?;
        if !reused && self.attempt.tries_left() == 0 {
            return None;
        }
        log::info(&format!(
            "FastCGI {}: try failed ({status}), trying {}",
            self.uri,
            if reused {
                "a new connection"
            } else {
                "the next server"
            }
        ));
        Some(self.try_next(site, records, false, cx))
    }

    /// Moves the spooled body into the upstream as far as it takes it; its end ends the
    /// request body. Returns whether anything moved.
    pub(super) fn feed(&mut self, upstream: &mut Upstream, now: Instant) -> bool {
        let Some(feed) = &mut self.feed else {
            return false;
        };
        let mut progress = false;
        loop {
            if feed.at == feed.buf.len() {
                feed.buf.resize(FEED_CHUNK, 0);
                feed.at = 0;
                match feed.file.read(&mut feed.buf) {
                    Ok(n) if n > 0 => feed.buf.truncate(n),
                    result => {
                        if let Err(error) = result {
                            // The application gets a body cut short; it answers what it will.
                            log::error(&format!("request body spool: {error}"));
                        }
                        upstream.end_body();
                        self.feed = None;
                        return true;
                    }
                }
            }
            let taken = upstream.write_body(&feed.buf[feed.at..], now);
            if taken == 0 {
                return progress;
            }
            feed.at += taken;
            progress = true;
        }
    }

    /// The answer is complete: a kept connection whose exchange was clean goes back to the
    /// shared pool, unless a new connection of this worker to its address starves (no first
    /// answer within `fastcgi::pool::STARVING_AFTER`); any other closes (with the upstream).
    pub(super) fn finish(mut self: Box<Self>, upstream: Box<Upstream>, cx: &mut Cx) {
        if let Some(chosen) = self.chosen.take() {
            self.state
                .release(&mut self.attempt, chosen, Outcome::Success, cx.now);
        }
        let Some(conn) = self.conn.take() else {
            return;
        };
        let kept = conn.lease.is_some() && !cx.local.fastcgi.starving(&conn.addr, cx.now);
        let reusable = match kept {
            true => upstream.into_reusable_with_spare(),
            false => {
                self.state.give_spare(upstream.into_spare());
                None
            }
        };
        if let Some(id) = conn.pooled {
            self.state.disown(id);
        }
        let Some((endpoint, spare)) = reusable else {
            return;
        };
        // The connection keeps its buffers for its next request.
        cx.local.proxy.give_back(
            &self.state,
            self.group.id,
            (endpoint, spare),
            conn.pooled,
            conn.addr,
            conn.created,
            conn.requests + 1,
            cx.registration.poller,
            cx.now,
        );
    }
}

impl Drop for Backend {
    /// The request is over (answered, or its client gone): its server is free again, and a
    /// lent connection nobody's.
    fn drop(&mut self) {
        if let Some(Conn {
            pooled: Some(id), ..
        }) = &self.conn
        {
            self.state.disown(*id);
        }
        if let Some(chosen) = self.chosen.take() {
            self.state
                .release(&mut self.attempt, chosen, Outcome::Success, Instant::now());
        }
    }
}
