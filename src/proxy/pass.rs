//! One proxied request's tries: which server each goes to (`balance`), the connection and the
//! request head sent on it, and what follows a failed try (`retry`). The exchange owns a
//! [`Proxied`] beside the upstream of the current try, and asks it for the next try when one
//! fails; dropping it ends the request's use of its last server.
//!
//! The per-worker state ([`ProxyWorker`]: the balancer of the configuration in force) lives in
//! the worker's `Local`, shared with the requests under way (one thread: `Rc<RefCell<_>>`), so
//! that a request ending in any way, a client gone included, gives its server back.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::config::proxy::model::{PeerAddr, ProxyPass, ProxySettings, RedirectRule};
use crate::config::proxy::value::Value;
use crate::event::Registration;
use crate::http::request::{Method, Request};
use crate::log;
use crate::upstream::{Address, Endpoint, Spare, Timeouts, Upstream};

use super::balance::{Attempt, Balancer, Chosen, Outcome};
use super::codec::{Http1Codec, RecentValues, Report};
use super::log::Try;
use super::pool::Pool;
use super::request::{self, BodyPlan, Outgoing, Reuse};
use super::response::Asked;
use super::response::BackendReuse;
use super::retry::{self, Answer, FailedTry, Failure, Next, Replay, Sent};
use super::vars::Vars;

/// An idle backend connection in the pool: the id its events carry (`Kind::Pooled`, slot),
/// the connection, and the buffers of its last exchange (for its next).
type Pooled = (u32, Endpoint, Spare);

/// What a worker keeps for the proxy, for the configuration in force: the balancer state and
/// the pool of idle keep-alive connections (a reload starts both afresh; the old pool's
/// connections close).
#[derive(Default)]
pub struct ProxyWorker {
    config: Option<Arc<Config>>,
    state: Option<Rc<WorkerState>>,
    /// The last pooled connection's id.
    last_id: u32,
    /// No idle connection reaches its `keepalive_timeout` before this (when one may: a
    /// connection taken out since leaves it early, and the worker's wake-up then finds
    /// nothing to close).
    wake: Option<Instant>,
}

/// The per-worker state the requests under way share.
pub struct WorkerState {
    balancer: RefCell<Balancer>,
    pool: RefCell<Pool<Pooled>>,
    /// Pooled connections (by id) lent to an exchange: the owner their events go to (its
    /// connection's slot and generation, its stream). A connection keeps its `Kind::Pooled`
    /// registration from its first return to the pool on: lending it costs no `epoll_ctl`.
    owners: RefCell<Owners>,
    /// Spare byte buffers ([`WorkerState::take_buffer`]).
    buffers: RefCell<Vec<Vec<u8>>>,
    /// Spare report cells ([`WorkerState::take_report`]).
    reports: RefCell<Vec<Rc<Cell<Report>>>>,
    /// Buffers of upstreams whose connection closed ([`WorkerState::take_spare`]).
    spares: RefCell<Vec<Spare>>,
    /// Field values backends sent lately, shared rather than copied (the tries' codecs hold
    /// it).
    recent: Rc<RefCell<RecentValues>>,
}

/// Byte buffers the worker's proxied requests take and give back (their heads, a scratch for
/// values): at most this many wait, of at most [`SPARE_CAPACITY`] bytes each.
const SPARE_BUFFERS: usize = 64;
const SPARE_CAPACITY: usize = 4096;

impl WorkerState {
    /// An empty buffer, from the spares when there is one.
    fn take_buffer(&self) -> Vec<u8> {
        let spare = self.buffers.try_borrow_mut().ok().and_then(|mut b| b.pop());
        spare.unwrap_or_else(|| Vec::with_capacity(512))
    }

    /// A cell for a try's codec to report in (see [`Report`]), from the spares when there is
    /// one: a try costs no allocation for it.
    fn take_report(&self) -> Rc<Cell<Report>> {
        let spare = self.reports.try_borrow_mut().ok().and_then(|mut r| r.pop());
        let report = spare.unwrap_or_default();
        report.set(Report::default());
        report
    }

    /// A cell for a later [`WorkerState::take_report`], once its codec is gone (a cell still
    /// shared is left to its other owner).
    fn give_report(&self, report: Rc<Cell<Report>>) {
        if Rc::strong_count(&report) == 1
            && let Ok(mut reports) = self.reports.try_borrow_mut()
            && reports.len() < SPARE_BUFFERS
        {
            reports.push(report);
        }
    }

    /// Buffers for a new upstream (`Upstream::use_spare`), from one whose connection closed
    /// ([`WorkerState::give_spare`]) when there is one: a request on a new connection (FastCGI
    /// without `fastcgi_keep_conn`) then allocates no buffer for them.
    pub fn take_spare(&self) -> Spare {
        let spare = self.spares.try_borrow_mut().ok().and_then(|mut s| s.pop());
        spare.unwrap_or_default()
    }

    /// The buffers of an upstream that is over (`Upstream::into_spare`), for a later
    /// [`WorkerState::take_spare`].
    pub fn give_spare(&self, spare: Spare) {
        if !spare.is_empty()
            && let Ok(mut spares) = self.spares.try_borrow_mut()
            && spares.len() < SPARE_BUFFERS
        {
            spares.push(spare);
        }
    }

    /// A buffer for a later [`WorkerState::take_buffer`] (emptied; a large one is freed).
    fn give_buffer(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() == 0 || buffer.capacity() > SPARE_CAPACITY {
            return;
        }
        buffer.clear();
        if let Ok(mut buffers) = self.buffers.try_borrow_mut()
            && buffers.len() < SPARE_BUFFERS
        {
            buffers.push(buffer);
        }
    }
}

/// Pooled connection id -> the owner of its events (slot, generation, stream).
type Owners = HashMap<u32, (u32, u32, u16), BuildHasherDefault<IdHasher>>;

/// The pool's ids are distinct small numbers the worker hands out: they are their own hash (no
/// SipHash per lookup; nobody outside chooses them).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u32(&mut self, n: u32) {
        // Spread over the high bits too (hashbrown takes its control byte from them).
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl ProxyWorker {
    /// The state for `config`'s upstream groups.
    pub fn state(&mut self, config: &Arc<Config>) -> Rc<WorkerState> {
        let current = self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config));
        match &self.state {
            Some(state) if current => Rc::clone(state),
            _ => {
                let state = Rc::new(WorkerState {
                    balancer: RefCell::new(Balancer::new(&config.upstreams)),
                    pool: RefCell::new(Pool::new(&config.upstreams)),
                    owners: RefCell::new(Owners::default()),
                    buffers: RefCell::new(Vec::new()),
                    reports: RefCell::new(Vec::new()),
                    spares: RefCell::new(Vec::new()),
                    recent: Rc::default(),
                });
                self.config = Some(Arc::clone(config));
                self.state = Some(Rc::clone(&state));
                state
            }
        }
    }

    /// Who the events of pooled connection `id` are for: the exchange it is lent to (slot,
    /// generation, stream), or None when it is idle.
    pub fn owner(&self, id: u32) -> Option<(u32, u32, u16)> {
        let state = self.state.as_ref()?;
        let owners = state.owners.try_borrow().ok()?;
        owners.get(&id).copied()
    }

    /// An event of the idle pooled connection `id`: input (the backend closed it, or sent
    /// what nobody asked for) makes it unusable, and it is closed.
    pub fn idle_event(&mut self, id: u32, input: bool) {
        if !input {
            return;
        }
        if let Some(mut pool) = self.pool() {
            drop(pool.remove(|(pooled, _, _)| *pooled == id));
        }
    }

    /// The pool of the configuration in force, unless no request has used it yet.
    fn pool(&self) -> Option<std::cell::RefMut<'_, Pool<Pooled>>> {
        self.state.as_ref()?.pool.try_borrow_mut().ok()
    }

    /// When an idle pooled connection may reach its `keepalive_timeout` (the worker wakes
    /// then for [`ProxyWorker::expire`]).
    #[inline(always)]
    pub fn wake(&self) -> Option<Instant> {
        self.wake
    }

    /// Closes the idle pooled connections that reached their `keepalive_timeout` by `now`, as
    /// nginx's timer does (an idle connection to php-fpm holds one of its processes).
    pub fn expire(&mut self, now: Instant) {
        self.wake = self.pool().and_then(|mut pool| {
            drop(pool.expire(now));
            pool.next_expiry()
        });
    }

    /// Closes every idle pooled connection to `addr` (a new connection to it may be waiting
    /// for a process they hold: `fastcgi::pool`).
    pub fn close_idle_to(&mut self, addr: &PeerAddr) {
        if let Some(mut pool) = self.pool() {
            drop(pool.remove_to(addr));
        }
    }

    /// An id for a connection entering the pool (its events' slot).
    fn next_id(&mut self) -> u32 {
        self.last_id = (self.last_id + 1) & ((1 << crate::event::Token::SLOT_BITS) - 1);
        self.last_id
    }
}

/// A request body read whole before the first try.
pub enum SpooledBody {
    /// A small one.
    Memory(Vec<u8>),
    /// In an anonymous temporary file, of this size.
    File(std::fs::File, u64),
}

/// A spooled body, and how far the current try has read its file.
struct Spooled {
    body: SpooledBody,
    at: u64,
    /// Read from the file, `buf[buf_at..]` not yet taken by the upstream.
    buf: Vec<u8>,
    buf_at: usize,
}

/// What a spooled body's file is read by.
const FEED_CHUNK: usize = 32 * 1024;

/// A try's connection to its server.
struct Connection {
    addr: PeerAddr,
    /// When it was opened, and the requests it carried before this one (for
    /// `keepalive_requests` and `keepalive_time`).
    created: Instant,
    requests: u64,
    /// Its id in the pool, once it has been there (its events then carry `Kind::Pooled`).
    pooled: Option<u32>,
}

/// What follows a failed try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAfter {
    /// Another server: close this try's connection, then [`Proxied::start_try`].
    Retry,
    /// The backend's own answer goes to the client as it is.
    Pass,
    /// No further try: the client gets this error.
    Fail(u16),
}

/// A proxied request's tries.
pub struct Proxied {
    state: Rc<WorkerState>,
    attempt: Attempt,
    /// The server of the try under way.
    chosen: Option<Chosen>,
    /// The connection of the try under way.
    connection: Option<Connection>,
    /// The request lets its connection carry another one.
    reuse: Reuse,
    pass: Arc<ProxyPass>,
    /// The location's settings, with `proxy_redirect` expanded for this request.
    settings: ProxySettings,
    /// The request line and fields for the backend (the body's framing and the end of the head
    /// are added per try).
    head: Vec<u8>,
    outgoing: Outgoing,
    /// A body read whole before the first try (`BodyPlan::Spool`), sent after the head of
    /// every try.
    spooled: Option<Spooled>,
    /// Whether the request body streams into the upstream (its input stays open).
    streams: bool,
    /// Some of a streamed body went to a server: it cannot be sent again.
    body_taken: bool,
    asked: Asked,
    method: Method,
    /// What the current try's codec tells of it.
    report: Option<Rc<Cell<Report>>>,
    /// The tries that ended (for `$upstream_*`), and when the current one started and ended.
    tries: Vec<Try>,
    try_started: Instant,
    try_ended: Option<Instant>,
}

impl Proxied {
    /// The tries of `request` (`vars` its variables) under `settings`, whose body goes as
    /// `plan` says; None when the location does not proxy. Nothing is sent yet:
    /// [`Proxied::start_try`].
    pub fn new(
        vars: &Vars,
        settings: &ProxySettings,
        plan: BodyPlan,
        worker: &mut ProxyWorker,
        config: &Arc<Config>,
        now: Instant,
    ) -> Option<Proxied> {
        let request: &Request = vars.request;
        let state = worker.state(config);
        // An upgrade the client asked for, when the location passes it on (nginx's snippet):
        // the backend's `101` makes the exchange a tunnel.
        let upgrade = request::client_asks_upgrade(request);
        let mut head = state.take_buffer();
        let mut scratch = String::from_utf8(state.take_buffer()).unwrap_or_default();
        let info = request::write_fields_with(&mut head, vars, settings, upgrade, &mut scratch);
        state.give_buffer(scratch.into_bytes());
        let outgoing = match plan {
            BodyPlan::Stream(outgoing) => outgoing,
            BodyPlan::None | BodyPlan::Discard | BodyPlan::Spool => Outgoing::None,
        };
        let mut settings = settings.clone();
        let expands = |r: &RedirectRule| matches!(r, RedirectRule::Replace { from, to } if from.has_variables() || to.has_variables());
        if settings.redirects.iter().any(expands) {
            let rules: Vec<RedirectRule> = settings
                .redirects
                .iter()
                .map(|rule| match rule {
                    RedirectRule::Replace { from, to } => RedirectRule::Replace {
                        from: Value::literal(&vars.expand(from)),
                        to: Value::literal(&vars.expand(to)),
                    },
                    RedirectRule::Default => RedirectRule::Default,
                })
                .collect();
            settings.redirects = rules.into();
        }
        let Some(pass) = settings.pass.clone() else {
            state.give_buffer(head);
            return None;
        };
        let attempt =
            state
                .balancer
                .borrow()
                .begin(pass.upstream.id, settings.next_upstream_tries, now);
        Some(Proxied {
            state,
            attempt,
            chosen: None,
            connection: None,
            reuse: info.reuse,
            pass,
            settings,
            head,
            outgoing,
            spooled: None,
            streams: matches!(plan, BodyPlan::Stream(_)),
            body_taken: false,
            asked: Asked {
                head: request.method == Method::Head,
                upgrade: info.upgrade,
            },
            method: request.method,
            report: None,
            tries: Vec::new(),
            try_started: now,
            try_ended: None,
        })
    }

    /// A spooled body: sent whole, with its length, after the head of every try (from its
    /// file, as the backend takes it: [`Proxied::feed`]).
    pub fn set_spooled(&mut self, body: SpooledBody) {
        let size = match &body {
            SpooledBody::Memory(bytes) => bytes.len() as u64,
            SpooledBody::File(_, size) => *size,
        };
        self.outgoing = Outgoing::Length(size);
        // A body from a file keeps the backend's input open until all of it went.
        self.streams = matches!(body, SpooledBody::File(..));
        self.spooled = Some(Spooled {
            body,
            at: 0,
            buf: Vec::new(),
            buf_at: 0,
        });
    }

    /// Moves a spooled body's file into the current try's upstream as far as it takes it; its
    /// end ends the request body. Returns whether anything moved.
    pub fn feed(&mut self, upstream: &mut Upstream, now: Instant) -> bool {
        use std::os::unix::fs::FileExt;
        let Some(Spooled {
            body: SpooledBody::File(file, size),
            at,
            buf,
            buf_at,
        }) = &mut self.spooled
        else {
            return false;
        };
        if upstream.input_ended() {
            return false;
        }
        let mut progress = false;
        loop {
            if *buf_at == buf.len() {
                if *at >= *size {
                    upstream.end_body();
                    return true;
                }
                let want = FEED_CHUNK.min(usize::try_from(*size - *at).unwrap_or(FEED_CHUNK));
                buf.resize(want, 0);
                *buf_at = 0;
                match file.read_at(buf, *at) {
                    Ok(n) if n > 0 => {
                        buf.truncate(n);
                        *at += n as u64;
                    }
                    result => {
                        // The backend gets a body cut short: its framing tells it so.
                        if let Err(error) = result {
                            log::error(&format!("request body spool: {error}"));
                        }
                        buf.clear();
                        *at = *size;
                        upstream.end_body();
                        return true;
                    }
                }
            }
            let taken = upstream.write_body(&buf[*buf_at..], now);
            if taken == 0 {
                return progress;
            }
            *buf_at += taken;
            progress = true;
        }
    }

    /// Bytes of a streamed body went to the current try: no later try can send them again.
    pub fn note_body_taken(&mut self) {
        self.body_taken = true;
    }

    /// The next try: a server from the balancer, a connection to it, the request head (and a
    /// spooled body) queued. Err(status): no server could be tried (502: none available, or
    /// every connection failed at once).
    pub fn start_try(
        &mut self,
        registration: &Registration,
        now: Instant,
    ) -> Result<Box<Upstream>, u16> {
        loop {
            let picked = self
                .state
                .balancer
                .borrow_mut()
                .pick(&mut self.attempt, now);
            let Some(chosen) = picked else {
                self.tries.push(Try {
                    server: None,
                    status: 502,
                    time: Duration::ZERO,
                });
                log::error(&format!(
                    "no live upstreams while connecting to upstream \"{}\" ({})",
                    self.pass.upstream.name,
                    self.what()
                ));
                return Err(502);
            };
            let server = &self.pass.upstream.servers[chosen.server];
            let what = self.what();
            let mut label = String::with_capacity(12 + server.shown.len() + what.len());
            label.push_str("upstream ");
            label.push_str(&server.shown);
            label.push_str(" (");
            label.push_str(what);
            label.push(')');
            let group = self.pass.upstream.id;
            self.try_started = now;
            self.try_ended = None;
            // A kept connection the backend closed meanwhile fails before any answer, and the
            // request goes again on a new one (`retry`), as nginx's cached connections do.
            let lent = self
                .state
                .lend(group, &server.addr, IdleCheck::Retry, registration, now);
            if let Some(lent) = lent {
                self.chosen = Some(chosen);
                self.connection = Some(Connection {
                    addr: server.addr.clone(),
                    created: lent.created,
                    requests: lent.requests,
                    pooled: Some(lent.id),
                });
                return Ok(self.upstream(lent.endpoint, lent.spare, label, now));
            }
            match Endpoint::connect(&Address::from(&server.addr), registration) {
                Ok(endpoint) => {
                    self.chosen = Some(chosen);
                    self.connection = Some(Connection {
                        addr: server.addr.clone(),
                        created: now,
                        requests: 0,
                        pooled: None,
                    });
                    return Ok(self.upstream(endpoint, Spare::default(), label, now));
                }
                Err(error) => {
                    log::error(&format!("{label}: connect() failed: {error}"));
                    self.tries.push(Try {
                        server: Some(chosen.server),
                        status: 502,
                        time: now.saturating_duration_since(self.try_started),
                    });
                    self.state.balancer.borrow_mut().release(
                        &mut self.attempt,
                        chosen,
                        Outcome::Failure,
                        now,
                    );
                    let left = self.attempt.tries_left().saturating_add(1);
                    let failed = self.failed_try(Failure::Error, Sent::Nothing, left, now);
                    if let (Next::GiveUp(Answer::Error(status)), _) =
                        retry::decide(&failed, &self.settings)
                    {
                        return Err(status);
                    }
                }
            }
        }
    }

    fn upstream(
        &mut self,
        endpoint: Endpoint,
        spare: Spare,
        label: String,
        now: Instant,
    ) -> Box<Upstream> {
        if let Some(previous) = self.report.take() {
            self.state.give_report(previous);
        }
        let report = self.state.take_report();
        let recent = Rc::clone(&self.state.recent);
        let codec = Http1Codec::new(
            self.asked,
            &self.settings,
            self.outgoing,
            report,
            recent,
            &|v| {
                v.parts
                    .iter()
                    .map(|p| match p {
                        crate::config::proxy::value::ValuePart::Text(t) => t.as_str(),
                        crate::config::proxy::value::ValuePart::Var(_) => "",
                    })
                    .collect()
            },
        );
        self.report = Some(codec.report());
        let timeouts = Timeouts {
            connect: self.settings.connect_timeout,
            read: self.settings.read_timeout,
            send: Some(self.settings.send_timeout),
            exit_grace: Duration::ZERO,
        };
        let mut upstream = Box::new(Upstream::new(
            endpoint,
            Box::new(codec),
            label,
            timeouts,
            self.streams,
            now,
        ));
        upstream.use_spare(spare);
        // The head with its framing and end (added for this try, then taken off again: a
        // spooled body's length is known only now), then a spooled body.
        let fields = self.head.len();
        request::end_head(&mut self.head, self.outgoing);
        upstream.send_first(&self.head);
        self.head.truncate(fields);
        match &mut self.spooled {
            Some(Spooled {
                body: SpooledBody::Memory(body),
                ..
            }) => upstream.send_first(body),
            // Every try reads the file from its start.
            Some(spooled) => {
                spooled.at = 0;
                spooled.buf.clear();
                spooled.buf_at = 0;
            }
            None => {}
        }
        upstream
    }

    /// A failed try as the retry rule sees it; `tries_left`: before the try was released.
    fn failed_try(&self, failure: Failure, sent: Sent, tries_left: u32, now: Instant) -> FailedTry {
        FailedTry {
            failure,
            sent,
            replay: if self.body_taken {
                Replay::Impossible
            } else {
                Replay::Possible
            },
            method: self.method,
            tries_left,
            elapsed: self.attempt.elapsed(now),
        }
    }

    /// The current try failed before a head (`status` 502, or 504 for a timeout), or ended
    /// with a final `status` of its own that `proxy_next_upstream` lists (`answered`): what
    /// follows, its server released as the try counts. On [`TryAfter::Retry`], the caller
    /// closes the current try's connection, then calls [`Proxied::start_try`].
    pub fn after_failure(
        &mut self,
        status: u16,
        answered: bool,
        sent_anything: bool,
        now: Instant,
    ) -> TryAfter {
        let failure = match (answered, status) {
            (true, status) => Failure::Status(status),
            (false, 504) => Failure::Timeout,
            (false, _) if self.report().refused => Failure::InvalidHeader,
            (false, _) => Failure::Error,
        };
        let sent = if sent_anything {
            Sent::Some
        } else {
            Sent::Nothing
        };
        let Some(chosen) = self.chosen.take() else {
            return if answered {
                TryAfter::Pass
            } else {
                TryAfter::Fail(status)
            };
        };
        // Not released yet: the count includes this try.
        let failed = self.failed_try(failure, sent, self.attempt.tries_left(), now);
        let (next, outcome) = retry::decide(&failed, &self.settings);
        if answered && next != Next::Retry {
            // The server's answer goes to the client: it serves this request to the end.
            self.chosen = Some(chosen);
            return TryAfter::Pass;
        }
        self.tries.push(Try {
            server: Some(chosen.server),
            status,
            time: now.saturating_duration_since(self.try_started),
        });
        self.drop_connection();
        self.state
            .balancer
            .borrow_mut()
            .release(&mut self.attempt, chosen, outcome, now);
        match next {
            Next::Retry => TryAfter::Retry,
            Next::GiveUp(Answer::Error(status)) => TryAfter::Fail(status),
            Next::GiveUp(Answer::Response) => TryAfter::Fail(status),
        }
    }

    /// Whether a final status of the backend's is one `proxy_next_upstream` may move on for.
    pub fn may_move_on(&self, status: u16) -> bool {
        crate::config::proxy::model::NextUpstream::for_status(status)
            .is_some_and(|c| self.settings.next_upstream.contains(c))
    }

    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }
}

impl Proxied {
    /// The answer is complete: the try's connection goes to its group's pool when everyone
    /// agrees it can carry another request (the group keeps connections, the request did not
    /// ask to close, the backend allows it, and the upstream ended clean: the whole request
    /// out, the response read exactly), else it closes with `upstream`.
    pub fn finish(
        &mut self,
        upstream: Box<Upstream>,
        poller: &crate::event::Poller,
        worker: &mut ProxyWorker,
        now: Instant,
    ) {
        self.try_ended = Some(now);
        let Some(connection) = self.connection.take() else {
            return;
        };
        if let Some(id) = connection.pooled {
            self.state.disown(id);
        }
        let group = self.pass.upstream.id;
        let backend = self.report().reuse.unwrap_or(BackendReuse::Close);
        let keeps = self.state.pool.borrow().keeps(group);
        if !(keeps && self.reuse == Reuse::Keep && backend == BackendReuse::Keep) {
            return;
        }
        let Some((endpoint, spare)) = upstream.into_reusable_with_spare() else {
            return;
        };
        worker.give_back(
            &self.state,
            group,
            (endpoint, spare),
            connection.pooled,
            connection.addr,
            connection.created,
            connection.requests + 1,
            poller,
            now,
        );
    }
}

impl Proxied {
    /// Appends the value of `$NAME` (`upstream_addr`, `upstream_status`,
    /// `upstream_response_time`) for this request to `out`, as its access-log line shows it
    /// (`now`: the time of the line, ending a try still under way). False: no value (no try
    /// yet, or another name).
    pub fn log_value(&self, name: &str, now: Instant, out: &mut Vec<u8>) -> bool {
        let mut tries = self.tries.clone();
        if let Some(chosen) = &self.chosen {
            tries.push(Try {
                server: Some(chosen.server),
                status: self.report().status,
                time: self
                    .try_ended
                    .unwrap_or(now)
                    .saturating_duration_since(self.try_started),
            });
        }
        super::log::value(name, &tries, &self.pass.upstream, out)
    }

    /// `METHOD TARGET` of the request as the backend gets it, for the error log.
    fn what(&self) -> &str {
        let line = match memchr::memchr(b'\r', &self.head) {
            Some(end) => &self.head[..end],
            None => &self.head[..],
        };
        // Without " HTTP/1.x".
        let line = line.get(..line.len().saturating_sub(9)).unwrap_or_default();
        std::str::from_utf8(line).unwrap_or_default()
    }

    /// The time the backends took for this request: every try's, the one under way as of
    /// `now` (what the `webserv_upstream_*` histogram counts; the sum of
    /// `$upstream_response_time`).
    pub fn response_time(&self, now: Instant) -> std::time::Duration {
        let ended: std::time::Duration = self.tries.iter().map(|t| t.time).sum();
        match &self.chosen {
            Some(_) => {
                ended
                    + self
                        .try_ended
                        .unwrap_or(now)
                        .saturating_duration_since(self.try_started)
            }
            None => ended,
        }
    }

    /// What the current try's codec told (nothing before the first try).
    fn report(&self) -> Report {
        self.report.as_ref().map(|r| r.get()).unwrap_or_default()
    }

    /// The current try's connection is being closed: it is nobody's any more.
    fn drop_connection(&mut self) {
        if let Some(Connection {
            pooled: Some(id), ..
        }) = self.connection.take()
            && let Ok(mut owners) = self.state.owners.try_borrow_mut()
        {
            owners.remove(&id);
        }
    }
}

impl Drop for Proxied {
    /// The request is over (answered, or its client gone): its server is free again.
    fn drop(&mut self) {
        self.state.give_buffer(std::mem::take(&mut self.head));
        self.drop_connection();
        if let Some(report) = self.report.take() {
            self.state.give_report(report);
        }
        if let Some(chosen) = self.chosen.take()
            && let Ok(mut balancer) = self.state.balancer.try_borrow_mut()
        {
            balancer.release(&mut self.attempt, chosen, Outcome::Success, Instant::now());
        }
    }
}

/// How an idle connection is checked before it is lent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleCheck {
    /// A peek (one system call) must find it open and empty: for a request that cannot go
    /// again if the connection turns out closed (its body streams from the client).
    Peek,
    /// Taken as it is: a request that fails on it before an answer goes again on a new
    /// connection (the application may close an idle connection at any time, peek or not).
    Retry,
}

/// A pooled connection lent to an exchange (a proxied or a FastCGI request), with what the
/// pool knew of it.
pub struct Lent {
    /// Its id among pooled connections (its events' `Kind::Pooled` slot).
    pub id: u32,
    pub endpoint: Endpoint,
    pub created: Instant,
    pub requests: u64,
    /// The buffers of its last exchange (`Upstream::use_spare`).
    pub spare: Spare,
}

/// The proxy's per-worker state as another backend kind (FastCGI) shares it: the same balancer
/// over the same `upstream` groups, the same pool of idle connections, the same owners of the
/// pooled connections' events. (The groups a FastCGI location names are never a proxy
/// location's: `config::proxy` keeps their implicit groups apart.)
impl WorkerState {
    /// The tries of one request on `group` (at most `limit`; 0: one per server).
    pub fn begin(&self, group: usize, limit: u32, now: Instant) -> Attempt {
        self.balancer.borrow().begin(group, limit, now)
    }

    /// The server for the next try, if any is available.
    pub fn pick(&self, attempt: &mut Attempt, now: Instant) -> Option<Chosen> {
        self.balancer.borrow_mut().pick(attempt, now)
    }

    /// Ends the try of `chosen` (exactly once per pick).
    pub fn release(&self, attempt: &mut Attempt, chosen: Chosen, outcome: Outcome, now: Instant) {
        if let Ok(mut balancer) = self.balancer.try_borrow_mut() {
            balancer.release(attempt, chosen, outcome, now);
        }
    }

    /// Whether `group` keeps idle connections (`keepalive N`).
    pub fn keeps(&self, group: usize) -> bool {
        self.pool.borrow().keeps(group)
    }

    /// The idle connections `group` has in the pool.
    pub fn idle(&self, group: usize) -> usize {
        self.pool.borrow().idle(group)
    }

    /// The idle connection of `group` to `addr` that went idle last (and, with
    /// [`IdleCheck::Peek`], is still open: a peek finds nothing in it), lent to the exchange of
    /// `registration`: its events go there from now on. Closed ones met on the way are
    /// dropped.
    pub fn lend(
        &self,
        group: usize,
        addr: &PeerAddr,
        check: IdleCheck,
        registration: &Registration,
        now: Instant,
    ) -> Option<Lent> {
        let mut pool = self.pool.borrow_mut();
        while let Some(idle) = pool.take(group, addr, now) {
            let (id, mut endpoint, spare) = idle.conn;
            if check == IdleCheck::Peek && !endpoint.is_idle_alive() {
                continue;
            }
            // Nothing to read until its next event (input that came while it was idle made the
            // pool drop it; input still on its way is reported to its new owner). Idle, it can
            // take bytes (a write that cannot says so and clears this).
            endpoint.taken_idle();
            self.owners.borrow_mut().insert(
                id,
                (
                    registration.slot,
                    registration.generation,
                    registration.stream,
                ),
            );
            return Some(Lent {
                id,
                endpoint,
                created: idle.created,
                requests: idle.requests,
                spare,
            });
        }
        None
    }

    /// A lent connection is closed (or given back): it is nobody's any more.
    pub fn disown(&self, id: u32) {
        if let Ok(mut owners) = self.owners.try_borrow_mut() {
            owners.remove(&id);
        }
    }
}

impl ProxyWorker {
    /// Gives `endpoint` (a connection to `addr` of `group` that can carry another request:
    /// `Upstream::into_reusable`), with the buffers of its last exchange, to the pool, idle;
    /// `pooled`: its id if it was lent from there (and disowned since). What the pool refuses
    /// or evicts is closed.
    #[allow(clippy::too_many_arguments)]
    pub fn give_back(
        &mut self,
        state: &WorkerState,
        group: usize,
        (mut endpoint, spare): (Endpoint, Spare),
        pooled: Option<u32>,
        addr: PeerAddr,
        created: Instant,
        requests: u64,
        poller: &crate::event::Poller,
        now: Instant,
    ) {
        let id = match pooled {
            Some(id) => id,
            None => {
                let id = self.next_id();
                let token = crate::event::Token::new(crate::event::Kind::Pooled, id, 0);
                if endpoint.rebind(poller, token).is_err() {
                    return;
                }
                id
            }
        };
        let Ok(mut pool) = state.pool.try_borrow_mut() else {
            return;
        };
        if let Some(at) = pool.expiry(group, now)
            && self.wake.is_none_or(|wake| at < wake)
        {
            self.wake = Some(at);
        }
        // What it gives back (refused, or evicted to make room) closes here.
        drop(pool.put(group, (id, endpoint, spare), addr, created, requests, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Poller;
    use std::net::TcpListener;

    #[test]
    fn each_try_is_kept_for_the_upstream_variables() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = TcpListener::bind("127.0.0.1:0").unwrap();
        let text = format!(
            "upstream app {{ server {}; server {}; }}\n\
             server {{ listen 80; location / {{ proxy_pass http://app; }} }}",
            a.local_addr().unwrap(),
            b.local_addr().unwrap()
        );
        let config = Arc::new(crate::config::parse(&text, std::path::Path::new("/x")).unwrap());
        let settings = &config.servers[0].locations[0].settings.proxy;
        let mut raw = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
        let (request, _) = crate::http::request::parse(&mut raw).unwrap().unwrap();
        let common = |_: &crate::config::Variable, _: &mut String| {};
        let vars = Vars {
            request: &request,
            client: "10.0.0.1:5000".parse().unwrap(),
            pass: settings.pass.as_deref().unwrap(),
            maps: &config.maps,
            common: &common,
        };
        let mut worker = ProxyWorker::default();
        let start = Instant::now();
        let mut proxied =
            Proxied::new(&vars, settings, BodyPlan::None, &mut worker, &config, start).unwrap();
        let value = |p: &Proxied, name: &str, now: Instant| {
            let mut out = Vec::new();
            p.log_value(name, now, &mut out)
                .then(|| String::from_utf8(out).unwrap())
        };
        assert_eq!(value(&proxied, "upstream_addr", start), None, "no try yet");
        let poller = Poller::new(8).unwrap();
        let registration = Registration {
            poller: &poller,
            slot: 1,
            generation: 1,
            stream: 1,
        };
        let first = proxied.start_try(&registration, start).unwrap();
        let failed = start + Duration::from_millis(1_250);
        let after = proxied.after_failure(502, false, false, failed);
        assert_eq!(after, TryAfter::Retry);
        drop(first);
        let _second = proxied.start_try(&registration, failed).unwrap();
        let now = failed + Duration::from_millis(30);
        let shown = |l: &TcpListener| l.local_addr().unwrap().to_string();
        assert_eq!(
            value(&proxied, "upstream_addr", now).unwrap(),
            format!("{}, {}", shown(&a), shown(&b))
        );
        // The second try has no head yet.
        assert_eq!(value(&proxied, "upstream_status", now).unwrap(), "502, -");
        assert_eq!(
            value(&proxied, "upstream_response_time", now).unwrap(),
            "1.250, 0.030"
        );
        assert_eq!(value(&proxied, "upstream_bytes_sent", now), None);
    }
}
