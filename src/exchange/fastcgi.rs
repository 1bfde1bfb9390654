//! The exchange's side of a FastCGI request (`fastcgi_pass`): the connection (one kept open
//! from the worker's pool, or a new one), the records that open the request, a spooled body
//! fed as STDIN, and the connection given back to the pool after a clean answer. The records
//! themselves are `fastcgi::upstream`'s; the streaming, the shared upstream pump's.

use super::Cx;
use crate::config::FastCgiPass;
use crate::fastcgi::pool::{Fresh, Lease};
use crate::fastcgi::record::Connection;
use crate::fastcgi::upstream::{self, FastCgiCodec, Job};
use crate::handler::Site;
use crate::log;
use crate::upstream::{Address, Endpoint, Timeouts, Upstream};
use std::fs::File;
use std::io::Read;
use std::time::{Duration, Instant};

/// Bytes of a spooled body read from its file at a time.
const FEED_CHUNK: usize = 32 * 1024;

/// What the exchange keeps of its FastCGI request besides the upstream.
pub(super) struct Backend {
    address: Address,
    /// A kept connection's place in the worker's pool; None: the application closes the
    /// connection after its answer.
    lease: Option<Lease>,
    /// A new connection until its first answer (while it lives, no connection to the same
    /// address is kept idle: see `fastcgi::pool`).
    fresh: Option<Fresh>,
    /// A spooled body still to be sent.
    feed: Option<Feed>,
    /// The request's records, kept while it went on a reused connection without a body.
    replay: Option<Vec<u8>>,
}

/// A spooled request body on its way into STDIN records.
struct Feed {
    file: File,
    buf: Vec<u8>,
    at: usize,
}

/// Where `pass` sends requests.
fn address(pass: &FastCgiPass) -> Option<Address> {
    match pass {
        FastCgiPass::Tcp(addrs) => addrs.first().map(|a| Address::Inet(*a)),
        FastCgiPass::Unix(path) => Some(Address::Unix(path.clone())),
        FastCgiPass::Upstream(_) => None,
    }
}

/// Starts `job` for the request to `uri` on `site` (whose `fastcgi_pass` it is): Ok with the
/// upstream and what the exchange keeps; Err with the status to answer (502: the application
/// cannot be reached). `body`: a request body follows (streamed by the exchange, or `spooled`
/// from this file).
pub(super) fn start(
    job: Job,
    site: &Site,
    uri: &str,
    body: bool,
    spooled: Option<File>,
    cx: &mut Cx,
) -> Result<(Upstream, Backend), u16> {
    open(site, uri, job.records, body, spooled, Pick::Pooled, cx)
}

/// Which connection a request may take.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// A kept one when `fastcgi_keep_conn` is on and one is idle, else a new one.
    Pooled,
    /// A new one (a retry after a kept one failed).
    New,
}

fn open(
    site: &Site,
    uri: &str,
    mut records: Vec<u8>,
    body: bool,
    spooled: Option<File>,
    pick: Pick,
    cx: &mut Cx,
) -> Result<(Upstream, Backend), u16> {
    let settings = &site.settings.fastcgi;
    let Some(address) = settings.pass.as_ref().and_then(address) else {
        log::error(&format!("FastCGI {uri}: no address to pass the request to"));
        return Err(502);
    };
    let label = format!("FastCGI {address} {uri}");
    let (endpoint, lease, fresh) = connect(&address, settings.keep_conn, pick, &label, cx)?;
    let connection = match lease {
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
    upstream.send_first(&records);
    if !body {
        upstream.end_body();
    }
    let feed = spooled.map(|file| Feed {
        file,
        buf: Vec::new(),
        at: 0,
    });
    // A kept connection may have been closed by the application just as it was taken: a
    // request without a body can then go again on a new one (as nginx retries a cached
    // connection).
    let replay = (fresh.is_none() && !body).then_some(records);
    Ok((
        upstream,
        Backend {
            address,
            lease,
            fresh,
            feed,
            replay,
        },
    ))
}

/// A connection to `address`: a kept one from the pool when `keep_conn` and `pick` allow, else
/// a new one (kept afterwards when the worker keeps fewer than its bound), counted until its
/// first answer.
fn connect(
    address: &Address,
    keep_conn: bool,
    pick: Pick,
    label: &str,
    cx: &mut Cx,
) -> Result<(Endpoint, Option<Lease>, Option<Fresh>), u16> {
    let pool = &mut cx.local.fastcgi;
    if keep_conn
        && pick == Pick::Pooled
        && let Some((endpoint, lease)) = pool.take(address, &cx.registration)
    {
        return Ok((endpoint, Some(lease), None));
    }
    match Endpoint::connect(address, &cx.registration) {
        Ok(endpoint) => {
            let lease = keep_conn.then(|| pool.lease(address)).flatten();
            Ok((endpoint, lease, Some(pool.fresh(address))))
        }
        Err(error) => {
            log::error(&format!("{label}: connect() failed: {error}"));
            Err(502)
        }
    }
}

impl Backend {
    /// The application answered (or failed): the connection is no longer new.
    pub(super) fn answered(&mut self) {
        self.fresh = None;
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

    /// The request again on a new connection, after the reused one it went on failed before
    /// any answer (502); None when it cannot go again.
    pub(super) fn retry(
        &mut self,
        site: &Site,
        uri: &str,
        cx: &mut Cx,
    ) -> Option<Result<(Upstream, Backend), u16>> {
        let records = self.replay.take()?;
        log::info(&format!(
            "FastCGI {} {uri}: a kept connection failed, trying a new one",
            self.address
        ));
        Some(open(site, uri, records, false, None, Pick::New, cx))
    }

    /// The answer is complete: a kept connection whose exchange was clean goes back to the
    /// pool; any other is closed (with the upstream).
    pub(super) fn finish(self, upstream: Upstream, cx: &mut Cx) {
        let Some(lease) = self.lease else {
            return;
        };
        if let Some(endpoint) = upstream.into_reusable() {
            cx.local.fastcgi.put(
                &self.address,
                endpoint,
                lease,
                cx.registration.poller,
                cx.now,
            );
        }
    }
}
