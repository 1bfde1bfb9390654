//! One proxied request's tries: which server each goes to (`balance`), the connection and the
//! request head sent on it, and what follows a failed try (`retry`). The exchange owns a
//! [`Proxied`] beside the upstream of the current try, and asks it for the next try when one
//! fails; dropping it ends the request's use of its last server.
//!
//! The per-worker state ([`ProxyWorker`]: the balancer of the configuration in force) lives in
//! the worker's `Local`, shared with the requests under way (one thread: `Rc<RefCell<_>>`), so
//! that a request ending in any way, a client gone included, gives its server back.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::config::proxy::model::{PeerAddr, ProxyPass, ProxySettings, RedirectRule};
use crate::config::proxy::value::Value;
use crate::event::{Registration, Role};
use crate::http::request::{Method, Request};
use crate::log;
use crate::upstream::{Address, Endpoint, Timeouts, Upstream};

use super::balance::{Attempt, Balancer, Chosen, Outcome};
use super::codec::Http1Codec;
use super::pool::Pool;
use super::request::{self, BodyPlan, Outgoing, Reuse};
use super::response::Asked;
use super::response::BackendReuse;
use super::retry::{self, Answer, FailedTry, Failure, Next, Replay, Sent};
use super::vars::Vars;

/// Whether a `101 Switching Protocols` can become a tunnel (WebSocket): not until the HTTP/1
/// session can hand both directions of its connection to the exchange.
const TUNNELS: bool = false;

/// An idle backend connection in the pool: the id its events carry (`Kind::Pooled`, slot),
/// and the connection.
type Pooled = (u32, Endpoint);

/// What a worker keeps for the proxy, for the configuration in force: the balancer state and
/// the pool of idle keep-alive connections (a reload starts both afresh; the old pool's
/// connections close).
#[derive(Default)]
pub struct ProxyWorker {
    config: Option<Arc<Config>>,
    state: Option<Rc<WorkerState>>,
    /// The last pooled connection's id.
    last_id: u32,
}

/// The per-worker state the requests under way share.
pub struct WorkerState {
    balancer: RefCell<Balancer>,
    pool: RefCell<Pool<Pooled>>,
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
                });
                self.config = Some(Arc::clone(config));
                self.state = Some(Rc::clone(&state));
                state
            }
        }
    }

    /// An event of the idle pooled connection `id`: input (the backend closed it, or sent
    /// what nobody asked for) makes it unusable, and it is closed.
    pub fn idle_event(&mut self, id: u32, input: bool) {
        if !input {
            return;
        }
        if let Some(state) = &self.state
            && let Ok(mut pool) = state.pool.try_borrow_mut()
        {
            drop(pool.remove(|(pooled, _)| *pooled == id));
        }
    }

    /// An id for a connection entering the pool (its events' slot).
    fn next_id(&mut self) -> u32 {
        self.last_id = (self.last_id + 1) & ((1 << crate::event::Token::SLOT_BITS) - 1);
        self.last_id
    }
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
    /// The connection of the try under way: its server, when it was opened, and the requests
    /// it carried before this one (for `keepalive_requests` and `keepalive_time`).
    connection: Option<(PeerAddr, Instant, u64)>,
    /// The request lets its connection carry another one.
    reuse: Reuse,
    pass: Arc<ProxyPass>,
    /// The location's settings, with `proxy_redirect` expanded for this request.
    settings: ProxySettings,
    /// The request line and fields for the backend (the body's framing and the end of the head
    /// are added per try).
    head: Vec<u8>,
    outgoing: Outgoing,
    /// A body read whole before the first try (`BodyPlan::Spool`), sent after the head.
    spooled: Option<Vec<u8>>,
    /// Whether the request body streams into the upstream (its input stays open).
    streams: bool,
    /// Some of a streamed body went to a server: it cannot be sent again.
    body_taken: bool,
    asked: Asked,
    method: Method,
    /// `METHOD PATH`, for the error log.
    what: String,
    /// Set by the current try's codec when it refuses the backend's head.
    refused: Rc<std::cell::Cell<bool>>,
    /// Set by the current try's codec from the backend's final head.
    backend_reuse: Rc<std::cell::Cell<Option<BackendReuse>>>,
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
        // The HTTP/1 session cannot hand its connection over to a tunnel yet: an upgrade is
        // not asked of the backend (the request goes as a plain one, and a 101 is refused).
        let upgrade = if TUNNELS {
            request::upgrade_to_pass(vars, settings)
        } else {
            None
        };
        let mut head = Vec::with_capacity(512);
        let info = request::write_fields(&mut head, vars, settings, upgrade);
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
        let pass = settings.pass.clone()?;
        let state = worker.state(config);
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
            what: format!("{} {}", request.method.as_str(), request.path),
            refused: Rc::new(std::cell::Cell::new(false)),
            backend_reuse: Rc::new(std::cell::Cell::new(None)),
        })
    }

    /// A spooled body: sent whole, with its length, after the head of every try.
    pub fn set_spooled(&mut self, body: Vec<u8>) {
        self.outgoing = Outgoing::Length(body.len() as u64);
        self.spooled = Some(body);
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
    ) -> Result<Upstream, u16> {
        loop {
            let picked = self
                .state
                .balancer
                .borrow_mut()
                .pick(&mut self.attempt, now);
            let Some(chosen) = picked else {
                log::error(&format!(
                    "no live upstreams while connecting to upstream \"{}\" ({})",
                    self.pass.upstream.name, self.what
                ));
                return Err(502);
            };
            let server = &self.pass.upstream.servers[chosen.server];
            let address = match &server.addr {
                PeerAddr::Tcp(addr) => Address::Inet(*addr),
                PeerAddr::Unix(path) => Address::Unix(path.clone()),
            };
            let label = format!("upstream {} ({})", server.addr, self.what);
            let group = self.pass.upstream.id;
            let pooled = self.state.pool.borrow_mut().take(group, &server.addr, now);
            if let Some(idle) = pooled {
                let (_, mut endpoint) = idle.conn;
                if endpoint
                    .rebind(registration.poller, registration.token(Role::Socket))
                    .is_ok()
                {
                    self.chosen = Some(chosen);
                    self.connection = Some((server.addr.clone(), idle.created, idle.requests));
                    return Ok(self.upstream(endpoint, label, now));
                }
            }
            match Endpoint::connect(&address, registration) {
                Ok(endpoint) => {
                    self.chosen = Some(chosen);
                    self.connection = Some((server.addr.clone(), now, 0));
                    return Ok(self.upstream(endpoint, label, now));
                }
                Err(error) => {
                    log::error(&format!("{label}: connect() failed: {error}"));
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

    fn upstream(&mut self, endpoint: Endpoint, label: String, now: Instant) -> Upstream {
        let codec = Http1Codec::new(self.asked, &self.settings, self.outgoing, &|v| {
            v.parts
                .iter()
                .map(|p| match p {
                    crate::config::proxy::value::ValuePart::Text(t) => t.as_str(),
                    crate::config::proxy::value::ValuePart::Var(_) => "",
                })
                .collect()
        });
        self.refused = codec.refused_flag();
        self.backend_reuse = codec.reuse_flag();
        let timeouts = Timeouts {
            connect: self.settings.connect_timeout,
            read: self.settings.read_timeout,
            send: Some(self.settings.send_timeout),
            exit_grace: Duration::ZERO,
        };
        let mut upstream = Upstream::new(
            endpoint,
            Box::new(codec),
            label,
            timeouts,
            self.streams,
            now,
        );
        let mut first = Vec::with_capacity(self.head.len() + 64);
        first.extend_from_slice(&self.head);
        request::end_head(&mut first, self.outgoing);
        if let Some(body) = &self.spooled {
            first.extend_from_slice(body);
        }
        upstream.send_first(&first);
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
            (false, _) if self.refused.get() => Failure::InvalidHeader,
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
        self.connection = None;
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
        upstream: Upstream,
        poller: &crate::event::Poller,
        worker: &mut ProxyWorker,
        now: Instant,
    ) {
        let Some((addr, created, requests)) = self.connection.take() else {
            return;
        };
        let group = self.pass.upstream.id;
        let backend = self.backend_reuse.get().unwrap_or(BackendReuse::Close);
        let keeps = self.state.pool.borrow().keeps(group);
        if !(keeps && self.reuse == Reuse::Keep && backend == BackendReuse::Keep) {
            return;
        }
        let Some(mut endpoint) = upstream.into_reusable() else {
            return;
        };
        let id = worker.next_id();
        let token = crate::event::Token::new(crate::event::Kind::Pooled, id, 0);
        if endpoint.rebind(poller, token).is_err() {
            return;
        }
        let mut pool = self.state.pool.borrow_mut();
        drop(pool.expire(now));
        // What it gives back (refused, or evicted to make room) closes here.
        drop(pool.put(group, (id, endpoint), addr, created, requests + 1, now));
    }
}

impl Drop for Proxied {
    /// The request is over (answered, or its client gone): its server is free again.
    fn drop(&mut self) {
        if let Some(chosen) = self.chosen.take()
            && let Ok(mut balancer) = self.state.balancer.try_borrow_mut()
        {
            balancer.release(&mut self.attempt, chosen, Outcome::Success, Instant::now());
        }
    }
}
