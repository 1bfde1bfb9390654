//! One request and its answer, whatever protocol carries them: the request, where it landed
//! ([`Route`], computed once), where its body goes (a sink: dropped, an upload, a spool file, an
//! upstream) and where its answer comes from (a source: a handler's response, or an upstream's
//! head and streamed body), with a slot for a body transform in between.
//!
//! The protocol drives an exchange and never learns what answers it:
//!
//! - request body in: [`Exchange::offer`] takes decoded body bytes (fewer, or none, when the
//!   sink pushes back: the protocol keeps the rest and stops reading), then
//!   [`Exchange::end_of_body`];
//! - I/O of the exchange's own fds: [`Exchange::upstream_ready`] records their events,
//!   [`Exchange::advance`] moves bytes;
//! - answer out: [`Exchange::head`] once, then [`Exchange::pull`] piece by piece, each followed
//!   by [`Exchange::consume`] of what the protocol could send.
//!
//! A pull takes the most bytes the protocol can send now (over HTTP/2: the flow-control window)
//! and gives bytes, a file range (for sendfile), the end, a cut, or "wait: an event of mine will
//! drive you again". An HTTP/1 session frames the pieces as Content-Length, chunked or
//! close-delimited; an HTTP/2 session would frame them as DATA frames of one stream among many,
//! each exchange owning its fds under its own stream number.
//!
//! ```ignore
//! let mut exchange = Exchange::new(route, &origin);
//! exchange.start(request, &origin, &mut cx);
//! // ... request body bytes: exchange.offer(&bytes, &mut cx), then exchange.end_of_body(&mut cx)
//! exchange.advance(&mut cx);
//! if let Poll::Ready(head) = exchange.head(&mut cx) {
//!     write_head(&head);
//! }
//! loop {
//!     match exchange.pull(window) {
//!         Pull::Bytes(bytes) => { let n = send(bytes); exchange.consume(n); }
//!         Pull::File { file, offset, len } => { let n = sendfile(file, offset, len); exchange.consume(n); }
//!         Pull::Wait => break, // an event of the exchange's upstream will drive us again
//!         Pull::End => { finish(); break }
//!         Pull::Abort => { cut(); break }
//!     }
//! }
//! ```

mod fastcgi;
mod route;
mod sink;
mod transform;

pub use route::Route;
pub use transform::{Compressing, FEED, Transform};

use crate::access::limit::Zones;
use crate::access::{self, Admission, Ask, Permit};
use crate::acme::Challenges;
use crate::cgi::Script;
use crate::cgi::env;
use crate::compress::Compressor;
use crate::event::{Registration, Role};
use crate::fault::{self, Point};
use crate::handler::file_cache::{Fill, MAX_VARIANT};
use crate::handler::{self, ConnInfo, Plan};
use crate::http::negotiation::Coding;
use crate::http::request::{Framing, Method, Request};
use crate::http::response::{Body, FileOrigin, Head, Pull, Response};
use crate::local::Local;
use crate::log;
use crate::observe::access_log::{End, Entry};
use crate::observe::metrics::BackendKind;
use crate::observe::vars::{ConnFacts, Facts};
use crate::proxy::pass::{Proxied, TryAfter};
use crate::site::{self, route::Site};
use crate::transport::client_cert;
use crate::transport::client_cert::ClientCert;
use crate::upstream::process::Stdin;
use crate::upstream::{Expiry, Upstream};
use sink::{ProxySpool, Sink, Spool, Then};
use std::io::Seek;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Instant, SystemTime};

/// What an exchange may use from its worker while it is driven.
pub struct Cx<'a> {
    pub now: Instant,
    /// The access log's `$time_local` of this second.
    pub log_time: &'a str,
    pub local: &'a mut Local,
    /// Where its upstream's fds are registered, and the owner their events come back to.
    pub registration: Registration<'a>,
}

/// The connection a request came on, as a handler and a CGI script see it.
pub struct Origin<'a> {
    /// Whom the request is attributed to: the connection's peer, or the client a trusted
    /// proxy names (`set_real_ip_from`: the session applies realip before the exchange).
    pub peer: SocketAddr,
    /// The bound address of the listener.
    pub listen: SocketAddr,
    pub tls: bool,
    /// The connection's own local address, asked of the kernel only when needed.
    pub local: &'a dyn Fn() -> Option<SocketAddr>,
    /// The client's certificate as the request's server judged it (servers with
    /// `ssl_verify_client`).
    pub client_cert: Option<Arc<ClientCert>>,
    /// The ACME HTTP-01 challenges being validated, answered before any routing.
    pub acme: Option<&'a Challenges>,
    /// What the variables know of the connection (`$connection`, `$ssl_protocol`...): asked
    /// only when a limit's key or an access log needs it.
    pub conn: &'a dyn Fn() -> ConnFacts,
    /// The live `limit_req` / `limit_conn` zones.
    pub zones: &'a Arc<Zones>,
}

/// How an exchange ended, as its protocol saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The answer went out whole.
    Complete,
    /// The answer was cut short (a backend failed or timed out mid-body, the client stopped
    /// reading).
    Cut,
    /// The client closed the connection first: before the head was sent, the access log says
    /// 499, as nginx's does.
    ClientLeft,
}

/// What the protocol knows when an exchange ends.
#[derive(Debug, Clone, Copy)]
pub struct Finish {
    pub outcome: Outcome,
    /// Body bytes sent (`$body_bytes_sent`), and every byte of the response (`$bytes_sent`).
    pub body_bytes: u64,
    pub bytes_sent: u64,
}

/// nginx's status for a request whose client closed the connection before the answer.
pub const CLIENT_CLOSED: u16 = 499;

/// The request body was refused (a sink failed): the exchange answers with an error that
/// closes the connection; the protocol reads no more of the body.
#[derive(Debug)]
pub struct Refused;

/// Where the answer comes from.
enum Source {
    /// Decided once the request body is in: this response (the body is dropped), or (None)
    /// what the sink makes of it (an upload's result, a script run on the spooled body).
    AfterBody(Option<Response>),
    /// A handler's response; `head` until the protocol takes it, then the body's pieces.
    /// `origin`: the file and version the body is (for its compressed variants).
    Fixed {
        head: Option<Head>,
        body: Body,
        sent: u64,
        origin: Option<Arc<FileOrigin>>,
    },
    Upstream(Box<Upstream>),
    /// `limit_req` delays the request: it is served when the exchange's deadline comes.
    Delayed(Box<Delayed>),
}

/// What the access phase's limits do with a request that does not go on at once.
enum Held {
    Delayed(Box<Delayed>),
    Refused(Response),
}

/// What a delayed request needs to be served later, when its connection is not at hand.
struct Delayed {
    until: Instant,
    /// The connection's local address (`$host` of a request without a host).
    local: Option<SocketAddr>,
    conn: ConnFacts,
    zones: Arc<Zones>,
}

pub struct Exchange {
    /// None: answering a request that could not be parsed.
    request: Option<Request>,
    route: Route,
    /// Whom the request is attributed to (see [`Exchange::client`]).
    client: SocketAddr,
    listen: SocketAddr,
    tls: bool,
    client_cert: Option<Arc<ClientCert>>,
    sink: Sink,
    source: Source,
    /// The head went to the protocol.
    head_taken: bool,
    /// What the access log and the metrics keep (the head's status, the request's values).
    entry: Entry,
    /// The request's `limit_conn` places, held until it ends.
    permit: Permit,
    /// The kind of backend answering (its figures in the metrics).
    backend: Option<BackendKind>,
    /// Compression on the fly is on where the request landed (its answer may be compressed).
    compressible: bool,
    transform: Option<Box<Transformed>>,
    /// A FastCGI request's connection and spooled body (its upstream is the source).
    fastcgi: Option<Box<fastcgi::Backend>>,
    /// A FastCGI request's tries once its backend is gone (for `$upstream_*`).
    fastcgi_tries: Option<Box<fastcgi::Tries>>,
    /// A proxied request's tries (its upstream is the source's).
    proxy: Option<Box<Proxied>>,
}

/// A transform and its output not yet pulled.
struct Transformed {
    transform: Box<dyn Transform>,
    out: Vec<u8>,
    sent: usize,
    finished: bool,
    /// Input taken since the last flush (the next pause of the producer flushes it).
    unflushed: bool,
    /// A piece of a file range, read to be fed.
    piece: Vec<u8>,
    /// The output kept for the file cache (a static file's compressed variant being made).
    tee: Option<Box<Tee>>,
}

/// A copy of a transform's output, for the file cache.
struct Tee {
    fill: Fill,
    /// None once it outgrew what a variant may be.
    bytes: Option<Vec<u8>>,
}

impl Transformed {
    fn new(transform: Box<dyn Transform>, fill: Option<Fill>) -> Transformed {
        Transformed {
            transform,
            out: Vec::new(),
            sent: 0,
            finished: false,
            unflushed: false,
            piece: Vec::new(),
            tee: fill.map(|fill| {
                Box::new(Tee {
                    fill,
                    bytes: Some(Vec::new()),
                })
            }),
        }
    }
}

impl Exchange {
    /// Starts answering `request`, in nginx's phase order: the body limit, then the handler's
    /// plan (`return`, the method, a script, a file, an upload...).
    /// (An exchange is made with [`Exchange::new`], in its final place, then started: no move
    /// of the whole.)
    pub fn start(&mut self, request: Request, origin: &Origin, cx: &mut Cx) {
        self.decide(request, origin, cx);
        if !matches!(self.source, Source::Delayed(_)) {
            self.capture(origin.conn);
        }
    }

    /// [`Exchange::start`] up to the access log's capture.
    fn decide(&mut self, request: Request, origin: &Origin, cx: &mut Cx) {
        fault::check(&request.target, Point::Plan);
        let exchange = self;
        if let Some(response) = acme_http01(origin.acme, &request) {
            exchange.source = exchange.fixed(response, false);
            exchange.request = Some(request);
            return;
        }
        let site = exchange.route.site();
        if let (Some(auth), Some(cert)) = (&site.server.client_auth, &origin.client_cert)
            && let Some(why) = client_cert::refusal(auth, cert)
        {
            // nginx's 400 pages for a missing or invalid client certificate.
            if log::enabled(crate::config::LogLevel::Info) {
                log::info(&format!("client {}: {why}, request refused", origin.peer));
            }
            let title = format!("400 {why}");
            let body = format!("<h1>400 Bad Request</h1>\n<p>{why}</p>\n");
            let response = Response::html(400, site::pages::page(&title, &body));
            exchange.source = exchange.fixed(response, true);
            exchange.request = Some(request);
            return;
        }
        let limit = site.settings.client_max_body_size;
        if let Framing::Length(length) = request.framing
            && limit > 0
            && length > limit
        {
            let response = site::error(413, &site);
            exchange.source = exchange.fixed(response, true);
            exchange.request = Some(request);
            return;
        }
        if access::applies(site.settings)
            && let Some(held) = exchange.admission(&request, origin, cx)
        {
            match held {
                Held::Delayed(delayed) => {
                    // The request waits on the exchange's deadline; its body (if any) waits
                    // in the connection, unread.
                    exchange.source = Source::Delayed(delayed);
                    exchange.sink = if request.has_body() {
                        Sink::Hold
                    } else {
                        Sink::None
                    };
                    exchange.request = Some(request);
                }
                Held::Refused(response) => exchange.answer(request, response),
            }
            return;
        }
        exchange.serve(request, origin.local, cx);
    }

    /// The limits of the access phase (only for locations that have some): None when the
    /// request goes on now, with its `limit_conn` places taken.
    #[inline(never)]
    fn admission(&mut self, request: &Request, origin: &Origin, cx: &Cx) -> Option<Held> {
        let conn = (origin.conn)();
        let site = self.route.site();
        let facts = Facts {
            request: Some(request),
            site: &site,
            client: self.client(),
            listen: self.listen,
            conn: &conn,
        };
        let ask = Ask {
            facts: &facts,
            zones: origin.zones,
            zone_config: &self.route.config().zones,
            now: cx.now,
        };
        match access::admit(&ask) {
            Admission::Pass(permit) => {
                self.permit = permit;
                None
            }
            Admission::Delay(delay) => Some(Held::Delayed(Box::new(Delayed {
                until: cx.now + delay,
                local: (origin.local)(),
                conn,
                zones: Arc::clone(origin.zones),
            }))),
            Admission::Refuse(response) => Some(Held::Refused(response)),
        }
    }

    /// The handler's plan for a request that passed the access phase, carried out.
    #[inline(always)]
    fn serve(&mut self, mut request: Request, local: &dyn Fn() -> Option<SocketAddr>, cx: &mut Cx) {
        let exchange = self;
        let site = exchange.route.site();
        let conn = ConnInfo {
            listen: exchange.listen,
            peer: exchange.client(),
            tls: exchange.tls,
            local,
            client_cert: exchange.client_cert.as_deref(),
            metrics: &cx.local.metrics,
        };
        let plan = handler::plan(
            &mut request,
            &site,
            &conn,
            &mut cx.local.files,
            &mut cx.local.verified,
        );
        exchange.route.follow(&request);
        let site = exchange.route.site();
        let (sink, source) = match plan {
            Plan::Respond(response) if request.has_body() => {
                (Sink::Discard, Source::AfterBody(Some(response)))
            }
            Plan::Respond(response) => (Sink::None, exchange.fixed(response, false)),
            Plan::Upload(upload) => (Sink::Upload(upload), Source::AfterBody(None)),
            Plan::FastCgi(job) => match request.framing {
                Framing::Chunked | Framing::UntilEnd => match Spool::new(Then::FastCgi(job)) {
                    Ok(spool) => (Sink::Spool(Box::new(spool)), Source::AfterBody(None)),
                    Err(error) => {
                        log::error(&format!("cannot spool a request body: {error}"));
                        (Sink::None, exchange.fixed(site::error(500, &site), true))
                    }
                },
                Framing::Length(length) if length > 0 => {
                    let source = exchange.start_fastcgi(&request, *job, true, None, cx);
                    let sink = match source {
                        Source::Upstream(_) => Sink::Upstream,
                        _ => Sink::None,
                    };
                    (sink, source)
                }
                _ => {
                    let source = exchange.start_fastcgi(&request, *job, false, None, cx);
                    (Sink::None, source)
                }
            },
            Plan::Proxy => exchange.start_proxy(&request, local, cx),
            Plan::Cgi(script) => match request.framing {
                Framing::Chunked | Framing::UntilEnd => match Spool::new(Then::Cgi(script)) {
                    Ok(spool) => (Sink::Spool(Box::new(spool)), Source::AfterBody(None)),
                    Err(error) => {
                        log::error(&format!("cannot spool a request body: {error}"));
                        (Sink::None, exchange.fixed(site::error(500, &site), true))
                    }
                },
                Framing::Length(length) if length > 0 => {
                    let source =
                        exchange.start_cgi(&request, &script, Stdin::Pipe, Some(length), true, cx);
                    let sink = match source {
                        Source::Upstream(_) => Sink::Upstream,
                        _ => Sink::None,
                    };
                    (sink, source)
                }
                _ => {
                    let source =
                        exchange.start_cgi(&request, &script, Stdin::Empty, None, false, cx);
                    (Sink::None, source)
                }
            },
        };
        // The sink in place is `None` (a new exchange's, or a delay's, reset): nothing to drop.
        if !matches!(sink, Sink::None) {
            exchange.sink = sink;
        }
        exchange.compressible = exchange.route.settings().compress.on_the_fly();
        exchange.source = source;
        exchange.note_backend();
        exchange.request = Some(request);
    }

    /// Answers `response` to a request decided from its head alone (the body, if any, is
    /// read and dropped first).
    fn answer(&mut self, request: Request, response: Response) {
        if request.has_body() {
            self.sink = Sink::Discard;
            self.source = Source::AfterBody(Some(response));
        } else {
            self.sink = Sink::None;
            self.source = self.fixed(response, false);
        }
        self.request = Some(request);
    }

    /// An exchange answering `response` to a request that could not be parsed (on the
    /// default server's route), begun at `now`; the connection closes after it.
    pub fn failed(route: Route, response: Response, origin: &Origin, now: Instant) -> Exchange {
        let mut exchange = Exchange::new(route, origin, now);
        exchange.source = exchange.fixed(response, true);
        exchange.capture(origin.conn);
        exchange
    }

    /// The client's address, as the access phase (allow/deny, limits), the handler, the logs,
    /// a script and a proxied backend see it: the connection's peer, or the client a trusted
    /// proxy names (realip, applied by the session: `Origin::peer`). Every use goes through here.
    #[inline]
    pub fn client(&self) -> SocketAddr {
        self.client
    }

    /// Captures what the access log of the request's (final) location needs, when it has one.
    #[inline]
    fn capture(&mut self, conn: &dyn Fn() -> ConnFacts) {
        if self.route.settings().observe.logs.uses.is_empty() {
            return;
        }
        self.capture_for_logs(&conn());
    }

    #[inline(never)]
    fn capture_for_logs(&mut self, conn: &ConnFacts) {
        let site = self.route.site();
        let facts = Facts {
            request: self.request.as_ref(),
            site: &site,
            client: self.client(),
            listen: self.listen,
            conn,
        };
        let logs = &site.settings.observe.logs;
        self.entry.capture(logs, &facts);
    }

    /// An exchange on `route` for a request from `origin` whose head was read at `now`, not
    /// started yet.
    pub fn new(route: Route, origin: &Origin, now: Instant) -> Exchange {
        Exchange {
            request: None,
            route,
            client: origin.peer,
            listen: origin.listen,
            tls: origin.tls,
            client_cert: origin.client_cert.clone(),
            sink: Sink::None,
            source: Source::AfterBody(None),
            head_taken: false,
            entry: Entry::new(now),
            permit: Permit::default(),
            backend: None,
            compressible: false,
            transform: None,
            fastcgi: None,
            fastcgi_tries: None,
            proxy: None,
        }
    }

    /// The request, when one could be parsed.
    pub fn request(&self) -> Option<&Request> {
        self.request.as_ref()
    }

    pub fn site(&self) -> Site<'_> {
        self.route.site()
    }

    /// Whether the exchange reads the request body (else the body is not read at all, and the
    /// connection closes after the answer).
    #[inline]
    pub fn wants_body(&self) -> bool {
        !matches!(self.sink, Sink::None)
    }

    /// Whether the body streams into an upstream (which paces it, and has its own deadline).
    #[inline]
    pub fn streams_body(&self) -> bool {
        matches!(self.sink, Sink::Upstream | Sink::Hold)
    }

    /// The most request-body bytes allowed (0: no limit).
    pub fn body_limit(&self) -> u64 {
        match self.sink {
            Sink::Drop => 0,
            _ => self.route.site().settings.client_max_body_size,
        }
    }

    /// Takes decoded request-body bytes: how many were taken (fewer than offered, or none,
    /// when the sink pushes back). Err: the sink failed, and the exchange now answers with an
    /// error (the connection closes after it).
    pub fn offer(&mut self, data: &[u8], cx: &mut Cx) -> Result<usize, Refused> {
        match &mut self.sink {
            Sink::None | Sink::Discard | Sink::Drop => Ok(data.len()),
            Sink::Hold => Ok(0),
            Sink::Upload(upload) => match upload.write(data) {
                Ok(()) => {
                    if let Some(request) = &self.request {
                        fault::check(&request.target, Point::Upload);
                    }
                    Ok(data.len())
                }
                Err(response) => {
                    self.replace_answer(response);
                    Err(Refused)
                }
            },
            Sink::Spool(spool) => match spool.write(data) {
                Ok(()) => Ok(data.len()),
                Err(error) => {
                    log::error(&format!("request body spool: {error}"));
                    self.refuse_body(500);
                    Err(Refused)
                }
            },
            Sink::Upstream => match &mut self.source {
                // A proxied request's body waits (with the client) until its head went out on
                // an established connection: a try that fails before keeps it all for the next.
                Source::Upstream(upstream) if self.proxy.is_some() && !upstream.sent_anything() => {
                    Ok(0)
                }
                Source::Upstream(upstream) => {
                    let taken = upstream.write_body(data, cx.now);
                    if taken > 0
                        && let Some(proxied) = &mut self.proxy
                    {
                        proxied.note_body_taken();
                    }
                    Ok(taken)
                }
                _ => Ok(data.len()),
            },
            Sink::ProxySpool(spool) => match spool.write(data) {
                Ok(()) => Ok(data.len()),
                Err(error) => {
                    log::error(&format!("request body spool: {error}"));
                    self.refuse_body(500);
                    Err(Refused)
                }
            },
        }
    }

    /// The request body is complete: the decided answer can go, the upload is finished, the
    /// script runs on the spooled body, or the upstream's input is closed.
    pub fn end_of_body(&mut self, cx: &mut Cx) {
        match std::mem::replace(&mut self.sink, Sink::None) {
            Sink::Discard => {
                if let Source::AfterBody(Some(_)) = &self.source
                    && let Source::AfterBody(Some(response)) =
                        std::mem::replace(&mut self.source, Source::AfterBody(None))
                {
                    self.source = self.fixed(response, false);
                }
            }
            Sink::Upload(upload) => {
                let response = upload.finish();
                cx.local.files.note_possible_change();
                self.source = self.fixed(response, false);
            }
            Sink::Spool(spool) => self.start_spooled(*spool, cx),
            Sink::Upstream => {
                if let Source::Upstream(upstream) = &mut self.source {
                    upstream.end_body();
                }
            }
            Sink::ProxySpool(spool) => {
                let started = match &mut self.proxy {
                    Some(proxied) => {
                        proxied.set_spooled(spool.into_body());
                        proxied.start_try(&cx.registration, cx.now)
                    }
                    None => Err(500),
                };
                self.source = match started {
                    Ok(upstream) => Source::Upstream(upstream),
                    Err(status) => {
                        cx.local.stats.upstream.failures.inc();
                        self.fixed(site::error(status, &self.route.site()), false)
                    }
                };
            }
            Sink::None | Sink::Drop | Sink::Hold => {}
        }
    }

    /// The body cannot be taken (broken framing: 400; over the limit: 413; a failed spool:
    /// 500): the answer becomes that error and the connection closes. False when the answer
    /// has begun and cannot change (the protocol then closes).
    pub fn refuse_body(&mut self, status: u16) -> bool {
        let response = site::error(status, &self.route.site());
        self.replace_answer(response)
    }

    fn replace_answer(&mut self, response: Response) -> bool {
        self.sink = Sink::None;
        if self.head_taken {
            return false;
        }
        self.source = self.fixed(response, true);
        true
    }

    /// After the answer: the rest of the request body is read and dropped (the connection then
    /// carries the next request).
    pub fn drop_body(&mut self) {
        self.sink = Sink::Drop;
    }

    /// Records an event of one of the exchange's upstream fds.
    pub fn upstream_ready(
        &mut self,
        role: Role,
        readable: bool,
        writable: bool,
        hangup: bool,
        error: bool,
    ) {
        if let Source::Upstream(upstream) = &mut self.source {
            upstream.ready(role, readable, writable, hangup, error);
        }
    }

    /// Moves bytes between the exchange's upstream and its buffers. Returns whether anything
    /// changed.
    #[inline]
    pub fn advance(&mut self, cx: &mut Cx) -> bool {
        let Source::Upstream(upstream) = &mut self.source else {
            return false;
        };
        if self.head_taken
            && let Some(request) = &self.request
        {
            fault::check(&request.target, Point::Cgi);
        }
        let fed = match (&mut self.fastcgi, &mut self.proxy) {
            (Some(backend), _) => backend.feed(upstream, cx.now),
            (None, Some(proxied)) => proxied.feed(upstream, cx.now),
            (None, None) => false,
        };
        upstream.advance(cx.now) | fed
    }

    /// Whether a backend is part of the answer: the protocol then watches the client (a
    /// client that leaves stops the backend).
    #[inline]
    pub fn watches_client(&self) -> bool {
        matches!(self.source, Source::Upstream(_))
    }

    /// The response head, once there is one (decorated with the site's `add_header` and
    /// `expires`). A backend that failed before its head is answered here with the error
    /// (502, 504), and the connection closes after it.
    pub fn head(&mut self, cx: &mut Cx) -> Poll<Head> {
        let mut head = match &mut self.source {
            Source::AfterBody(_) | Source::Delayed(_) => return Poll::Pending,
            Source::Fixed { head, .. } => match head.take() {
                Some(head) => head,
                None => return Poll::Pending,
            },
            Source::Upstream(upstream) => match upstream.head() {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(polled) => {
                    let sent = upstream.sent_anything();
                    match self.upstream_head(polled, sent, cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(head) => head,
                    }
                }
            },
        };
        if head.status == 101 {
            // A backend switched protocols (a proxied WebSocket): the connection becomes a
            // tunnel, the client's bytes this upstream's input, its bytes the "body".
            if let Source::Upstream(upstream) = &mut self.source {
                upstream.open_tunnel();
                self.sink = Sink::Upstream;
            }
        } else if self.compressible
            && let Some((coding, level)) =
                transform::choose(self.request.as_ref(), &self.route, &mut head)
        {
            self.compress(&mut head, coding, level, cx);
        }
        if let Source::Fixed {
            body: Body::Unopened { .. },
            ..
        } = self.source
        {
            self.open_file(&mut head, cx);
        }
        if let Some(transformed) = &mut self.transform {
            transformed.transform.head(&mut head);
        }
        self.head_taken = true;
        self.entry.response_started(&head);
        Poll::Ready(head)
    }

    /// What a backend's head (or its failure before one) becomes: the head, decorated; the
    /// next try of a proxied request (Pending); or an error page (502, 504, an intercepted
    /// error), after which the connection closes.
    fn upstream_head(&mut self, polled: Result<Head, u16>, sent: bool, cx: &mut Cx) -> Poll<Head> {
        if self.fastcgi.is_some() {
            return self.fastcgi_head(polled, cx);
        }
        let (status, head) = match polled {
            Ok(head) => (head.status, Some(head)),
            Err(status) => (status, None),
        };
        let Some(proxied) = &mut self.proxy else {
            return match head {
                Some(head) => Poll::Ready(self.decorated(head, true)),
                None => self.backend_failed(status, cx),
            };
        };
        let moves_on = head.is_none() || proxied.may_move_on(status);
        let after = if moves_on {
            proxied.after_failure(status, head.is_some(), sent, cx.now)
        } else {
            TryAfter::Pass
        };
        match (after, head) {
            (TryAfter::Retry, _) => {
                // Its connection closes before the next opens (the next fd gets its token).
                self.source = Source::AfterBody(None);
                let started = match &mut self.proxy {
                    Some(proxied) => proxied.start_try(&cx.registration, cx.now),
                    None => Err(502),
                };
                match started {
                    Ok(upstream) => {
                        self.source = Source::Upstream(upstream);
                        Poll::Pending
                    }
                    Err(status) => self.backend_failed(status, cx),
                }
            }
            (TryAfter::Pass, Some(head)) => {
                if crate::proxy::headers::intercepts(status, self.route.site().settings) {
                    self.source = Source::AfterBody(None);
                    return self.error_head(status);
                }
                Poll::Ready(self.decorated(head, true))
            }
            (TryAfter::Pass, None) => self.backend_failed(status, cx),
            (TryAfter::Fail(status), _) => {
                self.source = Source::AfterBody(None);
                self.backend_failed(status, cx)
            }
        }
    }

    /// The backend failed the request (502, 504): counted, and the error page answers.
    fn backend_failed(&mut self, status: u16, cx: &mut Cx) -> Poll<Head> {
        if let Some(kind) = self.backend {
            cx.local.stats.backend(kind).failures.inc();
        }
        self.error_head(status)
    }

    /// The error page for `status` as the answer (the connection closes after it).
    fn error_head(&mut self, error: u16) -> Poll<Head> {
        let response = site::error(error, &self.route.site());
        self.source = self.fixed(response, true);
        match &mut self.source {
            Source::Fixed { head, .. } => match head.take() {
                Some(head) => Poll::Ready(head),
                None => Poll::Pending,
            },
            _ => Poll::Pending,
        }
    }

    /// A FastCGI application's head as the client gets it (decorated), or, for one that failed
    /// before its head (502, 504), its error page (the connection closes after it); a request
    /// that failed on a reused connection goes again on a new one. With
    /// `fastcgi_intercept_errors on`, a FastCGI application's answer of 300 or more with an
    /// `error_page` for its status is replaced by that page (the application's connection is
    /// closed; a request body still coming is read and dropped).
    fn fastcgi_head(&mut self, result: Result<Head, u16>, cx: &mut Cx) -> Poll<Head> {
        if let Some(backend) = &mut self.fastcgi {
            backend.answered(result.as_ref().ok().map(|head| head.status));
            if let Err(status) = result {
                // The failed try's connection closes before the next opens (the next fd gets
                // its token).
                self.source = Source::AfterBody(None);
                let site = self.route.site();
                let retried = match &mut self.fastcgi {
                    Some(backend) => backend.retry(status, &site, cx),
                    None => None,
                };
                match retried {
                    Some(Ok(upstream)) => {
                        self.source = Source::Upstream(Box::new(upstream));
                        // Its head comes with its events.
                        return Poll::Pending;
                    }
                    Some(Err(status)) => {
                        self.end_fastcgi(cx.now);
                        return self.backend_failed(status, cx);
                    }
                    None => {}
                }
            }
        }
        let (status, close) = match result {
            Ok(head) if !self.intercepts(&head) => return Poll::Ready(self.decorated(head, true)),
            Ok(head) => (head.status, false),
            Err(status) => {
                if let Some(kind) = self.backend {
                    cx.local.stats.backend(kind).failures.inc();
                }
                (status, true)
            }
        };
        self.end_fastcgi(cx.now);
        let response = site::error(status, &self.route.site());
        self.source = self.fixed(response, close);
        match &mut self.source {
            Source::Fixed { head, .. } => match head.take() {
                Some(head) => Poll::Ready(head),
                None => Poll::Pending,
            },
            _ => Poll::Pending,
        }
    }

    /// Whether `head`, a FastCGI application's, is replaced by the location's error page.
    fn intercepts(&self, head: &Head) -> bool {
        let site = self.route.site();
        self.fastcgi.is_some()
            && site.settings.fastcgi.intercept_errors
            && head.status >= 300
            && site.settings.error_page(head.status).is_some()
    }

    /// Puts a transform between the answer's body and the protocol. Only before the head is
    /// taken: the transform adjusts it.
    pub fn set_transform(&mut self, transform: Box<dyn Transform>) {
        if !self.head_taken {
            self.transform = Some(Box::new(Transformed::new(transform, None)));
        }
    }

    /// The answer goes compressed with `coding` at `level`: a static file's variant from the
    /// worker's file cache when it holds one (its length known), else through a compressor
    /// (whose output, for a static file, is kept there when it completes).
    #[inline(never)]
    fn compress(&mut self, head: &mut Head, coding: Coding, level: u32, cx: &mut Cx) {
        let mut fill = None;
        let exact = matches!(self.source, Source::Fixed { .. });
        if let Source::Fixed {
            body,
            sent,
            origin: Some(origin),
            ..
        } = &mut self.source
        {
            if let Some(bytes) = cx.local.files.variant(origin, coding, level) {
                let len = bytes.len();
                *body = Body::Shared {
                    data: bytes,
                    offset: 0,
                    len,
                };
                *sent = 0;
                crate::compress::encoded_head(head, coding, Some(len as u64));
                return;
            }
            fill = cx.local.files.begin_variant(origin, coding, level);
        }
        // A handler's body has exactly its announced length (a compressor may size itself).
        let length = head.length.filter(|_| exact);
        match Compressor::new(coding, level, length) {
            Ok(compressor) => {
                let transform = Box::new(Compressing::new(compressor, coding));
                self.transform = Some(Box::new(Transformed::new(transform, fill)));
            }
            Err(error) => {
                log::error(&format!("{}: {error}", coding.token()));
                if let Some(fill) = fill {
                    cx.local.files.end_variant(fill, None);
                }
            }
        }
    }

    /// A file the cache knew current without opening it goes out itself (not a compressed
    /// variant): opened now, before its head. One that changed since it was checked (in this
    /// batch) is sent as it is now, cut short if it shrank, as a file changing while it is
    /// sent; one gone since is answered as the handler would have (404, 403, 500), without
    /// compression.
    #[cold]
    #[inline(never)]
    fn open_file(&mut self, head: &mut Head, cx: &mut Cx) {
        let Source::Fixed { body, .. } = &mut self.source else {
            return;
        };
        let Body::Unopened {
            origin,
            offset,
            len,
        } = body
        else {
            return;
        };
        let (offset, len) = (*offset, *len);
        let failure = match site::file_info::open(&origin.path) {
            Ok((file, metadata)) if metadata.is_file() => {
                *body = Body::File { file, offset, len };
                return;
            }
            Ok(_) => std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            Err(error) => error,
        };
        if let Some(mut transformed) = self.transform.take()
            && let Some(tee) = transformed.tee.take()
        {
            cx.local.files.end_variant(tee.fill, None);
        }
        let site = self.route.site();
        let status = handler::static_files::io_status(&failure);
        let response = site::error(status, &site);
        self.source = self.fixed(response, false);
        if let Source::Fixed { head: error, .. } = &mut self.source
            && let Some(error) = error.take()
        {
            *head = error;
        }
    }

    /// The next piece of the body, at most `max` bytes (a file range: at most `max` too).
    #[inline]
    pub fn pull(&mut self, max: usize) -> Pull<'_> {
        match &mut self.transform {
            None => source_pull(&mut self.source, max),
            Some(transformed) => transformed.pull(&mut self.source, max),
        }
    }

    /// Whether the body is known to be over: the next pull is `End` (a backend's body read to
    /// its end and all taken).
    #[inline]
    pub fn at_end(&self) -> bool {
        match (&self.transform, &self.source) {
            (None, Source::Upstream(upstream)) => upstream.at_end(),
            _ => false,
        }
    }

    /// The protocol sent `n` bytes of the last pull.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        match &mut self.transform {
            None => source_consume(&mut self.source, n),
            Some(transformed) => transformed.sent += n,
        }
    }

    /// When the exchange's own wait ends (its upstream's). `client_waiting`: the protocol holds
    /// bytes the client has not taken.
    #[inline]
    pub fn deadline(&self, client_waiting: bool) -> Option<Instant> {
        match &self.source {
            Source::Upstream(upstream) => upstream.deadline(client_waiting),
            Source::Delayed(delayed) => Some(delayed.until),
            _ => None,
        }
    }

    /// The exchange's deadline passed: Handled (the answer goes on: a 504 before a head, a
    /// body completed after a script's grace, a delayed request served) or Cut (the answer is
    /// cut short).
    pub fn timed_out(&mut self, cx: &mut Cx) -> Expiry {
        match &mut self.source {
            Source::Upstream(upstream) => upstream.timed_out(cx.now),
            Source::Delayed(delayed) if delayed.until <= cx.now => {
                self.resume(cx);
                Expiry::Handled
            }
            _ => Expiry::Handled,
        }
    }

    /// The `limit_req` delay is over: the rest of the access phase, then the handler.
    fn resume(&mut self, cx: &mut Cx) {
        let (Source::Delayed(delayed), Some(request)) = (
            std::mem::replace(&mut self.source, Source::AfterBody(None)),
            self.request.take(),
        ) else {
            return;
        };
        self.sink = Sink::None;
        let site = self.route.site();
        let facts = Facts {
            request: Some(&request),
            site: &site,
            client: self.client(),
            listen: self.listen,
            conn: &delayed.conn,
        };
        let ask = Ask {
            facts: &facts,
            zones: &delayed.zones,
            zone_config: &self.route.config().zones,
            now: cx.now,
        };
        match access::admit_delayed(&ask) {
            Err(response) => self.answer(request, response),
            Ok(permit) => {
                self.permit = permit;
                let local = delayed.local;
                self.serve(request, &|| local, cx);
            }
        }
        self.capture(&|| delayed.conn.clone());
    }

    /// The exchange is over (its answer complete or cut, or its client gone): counted,
    /// logged, its `limit_conn` places given back. A script may have changed files a next
    /// request reads.
    #[inline]
    pub fn finish(&mut self, end: Finish, cx: &mut Cx) {
        if end.outcome == Outcome::ClientLeft && !self.head_taken {
            self.entry.status = CLIENT_CLOSED;
        }
        cx.local.stats.responded(self.entry.status);
        if self.backend.is_some()
            || self.entry.logs()
            || self.permit.holds()
            || self.transform.is_some()
        {
            self.finish_more(end, cx);
        }
    }

    /// [`Exchange::finish`] for an exchange with a backend, an access log or limits.
    #[inline(never)]
    fn finish_more(&mut self, end: Finish, cx: &mut Cx) {
        if let Some(transformed) = &mut self.transform
            && let Some(tee) = transformed.tee.take()
        {
            // A variant made whole goes to the file cache, however the client fared.
            let bytes = tee.bytes.filter(|_| transformed.finished);
            cx.local.files.end_variant(tee.fill, bytes);
        }
        if let Source::Upstream(_) = self.source {
            match &mut self.proxy {
                Some(proxied) => {
                    // The backend connection may go back to its pool.
                    if let Source::Upstream(upstream) =
                        std::mem::replace(&mut self.source, Source::AfterBody(None))
                    {
                        let poller = cx.registration.poller;
                        proxied.finish(upstream, poller, &mut cx.local.proxy, cx.now);
                    }
                }
                // A script (or a FastCGI application) may have changed files a next request
                // reads.
                None => cx.local.files.note_possible_change(),
            }
            if self.fastcgi.is_some() {
                self.finish_fastcgi(cx);
            }
        }
        if let Some(kind) = self.backend {
            let took = match &self.proxy {
                Some(proxied) => proxied.response_time(cx.now),
                None => cx.now.saturating_duration_since(self.entry.started),
            };
            cx.local.stats.backend(kind).observe(took);
        }
        if self.entry.logs() {
            let now = cx.now;
            let this = &*self;
            let upstream = |name: &str, out: &mut Vec<u8>| this.upstream_log_value(name, now, out);
            let facts = End {
                body_bytes: end.body_bytes,
                bytes_sent: end.bytes_sent,
                now,
                time_local: cx.log_time,
                upstream: &upstream,
            };
            let formats = &self.route.config().log_formats;
            self.entry.write(&facts, formats, &mut cx.local.logs);
        }
        self.permit.release();
    }

    /// A FastCGI answer is over: its connection may go back to the worker's pool.
    #[cold]
    fn finish_fastcgi(&mut self, cx: &mut Cx) {
        if let Some(backend) = self.end_fastcgi(cx.now)
            && let Source::Upstream(upstream) =
                std::mem::replace(&mut self.source, Source::AfterBody(None))
        {
            backend.finish(upstream, cx);
        }
    }

    /// The FastCGI backend is done with (its connection closed, or about to go back to the
    /// pool): its tries stay for the access log, when there is one.
    fn end_fastcgi(&mut self, now: Instant) -> Option<Box<fastcgi::Backend>> {
        let backend = self.fastcgi.take()?;
        if self.entry.logs() {
            self.fastcgi_tries = Some(Box::new(backend.tries(now)));
        }
        Some(backend)
    }

    /// Appends the value of `$NAME` for a proxied or FastCGI request's tries (`upstream_addr`,
    /// `upstream_status`, `upstream_response_time`; see `proxy::log`) to `out`, as of `now`.
    /// False: no value (no backend, no try, another name); a log writes `-`.
    pub fn upstream_log_value(&self, name: &str, now: Instant, out: &mut Vec<u8>) -> bool {
        if let Some(proxied) = &self.proxy {
            return proxied.log_value(name, now, out);
        }
        if let Some(backend) = &self.fastcgi {
            return backend.log_value(name, now, out);
        }
        self.fastcgi_tries
            .as_ref()
            .is_some_and(|tries| tries.log_value(name, out))
    }

    /// A handler's response as the source: decorated, split into head and body. `close`: the
    /// connection closes after it (the request body is not read).
    fn fixed(&self, mut response: Response, close: bool) -> Source {
        let settings = self.route.site().settings;
        if handler::headers::decorates(settings) {
            handler::headers::decorate(&mut response, settings, SystemTime::now(), false);
        }
        response.close |= close;
        let origin = response.origin.take();
        let (head, body) = response.into_parts();
        Source::Fixed {
            head: Some(head),
            body,
            sent: 0,
            origin,
        }
    }

    /// A backend's head with the site's fields added (a script's own Cache-Control or
    /// Expires win over `expires`).
    fn decorated(&self, mut head: Head, from_backend: bool) -> Head {
        let settings = self.route.site().settings;
        if handler::headers::decorates(settings) {
            let mut response = Response::new(head.status, Body::Empty);
            response.headers = std::mem::take(&mut head.headers);
            handler::headers::decorate(&mut response, settings, SystemTime::now(), from_backend);
            head.headers = response.headers;
        }
        head
    }

    /// Starts `script`; a worker at its limit answers 503, a script that cannot run 502.
    /// `body_pending`: the client still sends a body, which such an answer leaves unread (the
    /// connection closes after it).
    fn start_cgi(
        &self,
        request: &Request,
        script: &Script,
        stdin: Stdin,
        content_length: Option<u64>,
        body_pending: bool,
        cx: &mut Cx,
    ) -> Source {
        let site = self.route.site();
        if cx.local.processes.at_capacity() {
            log::warn(&format!(
                "CGI {}: {} scripts already running in this worker",
                request.path,
                crate::upstream::process::MAX_RUNNING
            ));
            let response = site::error(503, &site).with_header("Retry-After", "1");
            let stats = cx.local.stats.backend(BackendKind::Cgi);
            stats.requests.inc();
            stats.failures.inc();
            return self.fixed(response, body_pending);
        }
        let origin = env::Endpoint {
            peer: self.client(),
            local: self.listen,
            server_name: site.server.server_names.first().map(String::as_str),
            document_root: &site.settings.root,
            content_length,
            https: self.tls,
            client_cert: self.client_cert.as_deref(),
        };
        let started = crate::cgi::upstream::start(
            request,
            script,
            stdin,
            &origin,
            &cx.local.processes,
            &cx.registration,
            site.settings.cgi_timeout,
            cx.now,
        );
        let stats = cx.local.stats.backend(BackendKind::Cgi);
        stats.requests.inc();
        match started {
            Ok(upstream) => Source::Upstream(Box::new(upstream)),
            Err(error) => {
                stats.failures.inc();
                log::error(&format!("cannot run {}: {error}", script.file.display()));
                // Out of descriptors or processes is the server's trouble, and passes.
                let response = if site::out_of_resources(&error) {
                    site::unavailable(&site)
                } else {
                    site::error(502, &site)
                };
                self.fixed(response, body_pending)
            }
        }
    }

    /// Starts a proxied request: its tries and the first one's upstream, or (for a body read
    /// whole first) the spool it waits in, or the error when no server could be tried.
    fn start_proxy(
        &mut self,
        request: &Request,
        local: &dyn Fn() -> Option<SocketAddr>,
        cx: &mut Cx,
    ) -> (Sink, Source) {
        use crate::proxy::request::{BodyPlan, body_plan};
        let site = self.route.site();
        let settings = &site.settings.proxy;
        let body_pending = request.has_body();
        let config = Arc::clone(self.route.config());
        let conn = ConnInfo {
            listen: self.listen,
            peer: self.client(),
            tls: self.tls,
            local,
            client_cert: self.client_cert.as_deref(),
            metrics: &cx.local.metrics,
        };
        let captures = site::route::captures_for(&site, &request.path);
        let handler_vars = handler::vars::Vars {
            request,
            site: &site,
            conn: &conn,
            captures: &captures,
            split: None,
        };
        let common = |v: &crate::config::Variable, out: &mut String| {
            handler_vars.value(v, handler::vars::Into::Text, out)
        };
        let plan = body_plan(request, settings);
        let proxied = settings.pass.as_ref().and_then(|pass| {
            let vars = crate::proxy::vars::Vars {
                request,
                client: self.client(),
                pass,
                maps: &config.maps,
                common: &common,
            };
            let proxied = Proxied::new(&vars, settings, plan, &mut cx.local.proxy, &config, cx.now);
            proxied.map(Box::new)
        });
        let stats = cx.local.stats.backend(BackendKind::Upstream);
        let Some(mut proxied) = proxied else {
            let response = site::error(500, &site);
            return (Sink::None, self.fixed(response, body_pending));
        };
        stats.requests.inc();
        if plan == BodyPlan::Spool {
            self.proxy = Some(proxied);
            return (
                Sink::ProxySpool(ProxySpool::default()),
                Source::AfterBody(None),
            );
        }
        let started = proxied.start_try(&cx.registration, cx.now);
        self.proxy = Some(proxied);
        match started {
            Ok(upstream) => {
                let sink = match plan {
                    BodyPlan::Stream(_) => Sink::Upstream,
                    BodyPlan::Discard => Sink::Discard,
                    BodyPlan::None | BodyPlan::Spool => Sink::None,
                };
                (sink, Source::Upstream(upstream))
            }
            Err(status) => {
                // No server could be tried: the tries made stay for `$upstream_*`.
                stats.failures.inc();
                let response = site::error(status, &site);
                (Sink::None, self.fixed(response, body_pending))
            }
        }
    }

    /// A backend answers (a script started, a FastCGI request sent, or a proxied request's
    /// tries began): its kind's figures count this exchange.
    fn note_backend(&mut self) {
        if self.proxy.is_some() || self.fastcgi.is_some() {
            self.backend = Some(BackendKind::Upstream);
        } else if let Source::Upstream(_) = self.source {
            self.backend = Some(BackendKind::Cgi);
        }
    }

    /// A spooled chunked body is complete: run the script on it, or send it to the FastCGI
    /// application, with its length.
    fn start_spooled(&mut self, mut spool: Spool, cx: &mut Cx) {
        let Some(request) = self.request.take() else {
            return;
        };
        if let Err(error) = spool.file.rewind() {
            log::error(&format!("request body spool: {error}"));
            self.source = self.fixed(site::error(500, &self.route.site()), false);
            self.request = Some(request);
            return;
        }
        self.source = match spool.then {
            Then::Cgi(script) => self.start_cgi(
                &request,
                &script,
                Stdin::File(spool.file),
                Some(spool.size),
                false,
                cx,
            ),
            Then::FastCgi(mut job) => {
                job.set_content_length(spool.size);
                let body = spool.size > 0;
                self.start_fastcgi(&request, *job, body, body.then_some(spool.file), cx)
            }
        };
        self.note_backend();
        self.request = Some(request);
    }

    /// Sends `job` to the location's FastCGI application; one that cannot be reached is a
    /// 502. `body`: a request body follows (streamed, or from `spooled`); `body_pending`
    /// answers leave it unread (the connection closes after them).
    fn start_fastcgi(
        &mut self,
        request: &Request,
        job: handler::FastCgiJob,
        body: bool,
        spooled: Option<std::fs::File>,
        cx: &mut Cx,
    ) -> Source {
        let site = self.route.site();
        let streamed = body && spooled.is_none();
        let config = Arc::clone(self.route.config());
        cx.local.stats.upstream.requests.inc();
        match fastcgi::start(job, &site, &request.path, body, spooled, cx, &config) {
            Ok((upstream, backend)) => {
                self.fastcgi = Some(backend);
                Source::Upstream(Box::new(upstream))
            }
            Err(status) => {
                cx.local.stats.upstream.failures.inc();
                self.fixed(site::error(status, &site), streamed)
            }
        }
    }
}

/// The answer to an ACME HTTP-01 validation (`GET /.well-known/acme-challenge/TOKEN` for a
/// token being validated), before any server or location: the CA asks by name, on port 80,
/// whatever the server for that name does with other requests.
fn acme_http01(challenges: Option<&Challenges>, request: &Request) -> Option<Response> {
    let challenges = challenges?;
    if request.has_body() || !matches!(request.method, Method::Get | Method::Head) {
        return None;
    }
    let answer = challenges.http01(&request.path)?;
    Some(
        Response::new(200, Body::Bytes(answer.into_bytes()))
            .with_header("Content-Type", "application/octet-stream"),
    )
}

/// The next piece of a source's body.
#[inline]
fn source_pull(source: &mut Source, max: usize) -> Pull<'_> {
    match source {
        Source::AfterBody(_) | Source::Delayed(_) => Pull::Wait,
        Source::Fixed { body, sent, .. } => {
            let left = body.len() - *sent;
            if left == 0 {
                return Pull::End;
            }
            let take = left.min(max as u64);
            match body {
                Body::Empty => Pull::End,
                Body::Bytes(bytes) => {
                    let start = *sent as usize;
                    Pull::Bytes(&bytes[start..start + take as usize])
                }
                Body::Shared { data, offset, .. } => {
                    let start = *offset + *sent as usize;
                    Pull::Bytes(&data[start..start + take as usize])
                }
                Body::File { file, offset, .. } => Pull::File {
                    file,
                    offset: *offset + *sent,
                    len: take,
                },
                // Opened with the head (`Exchange::open_file`): never pulled as such.
                Body::Unopened { .. } => Pull::Abort,
            }
        }
        Source::Upstream(upstream) => upstream.pull(max),
    }
}

#[inline]
fn source_consume(source: &mut Source, n: usize) {
    match source {
        Source::Fixed { sent, body, .. } => *sent = (*sent + n as u64).min(body.len()),
        Source::Upstream(upstream) => upstream.consume(n),
        Source::AfterBody(_) | Source::Delayed(_) => {}
    }
}

impl Transformed {
    /// The transform's output not yet pulled, fed from `source` as it runs out. When the
    /// source pauses (an upstream waiting for its backend), what the transform holds back is
    /// flushed out first.
    fn pull<'a>(&'a mut self, source: &mut Source, max: usize) -> Pull<'a> {
        loop {
            if self.sent < self.out.len() {
                let end = self.out.len().min(self.sent.saturating_add(max));
                return Pull::Bytes(&self.out[self.sent..end]);
            }
            self.out.clear();
            self.sent = 0;
            if self.finished {
                return Pull::End;
            }
            let fed = match source_pull(source, FEED) {
                Pull::Bytes(bytes) => self.transform.process(bytes, &mut self.out),
                Pull::File { file, offset, len } => {
                    self.piece.resize(len.min(FEED as u64) as usize, 0);
                    match rustix::io::pread(file, &mut self.piece, offset) {
                        Ok(0) => return Pull::Abort,
                        Ok(n) => self.transform.process(&self.piece[..n], &mut self.out),
                        Err(_) => return Pull::Abort,
                    }
                }
                Pull::End => {
                    self.finished = true;
                    match self.transform.finish(&mut self.out) {
                        Ok(()) => {
                            self.keep();
                            continue;
                        }
                        Err(error) => {
                            log::error(&format!("response body transform: {error}"));
                            return Pull::Abort;
                        }
                    }
                }
                Pull::Wait if self.unflushed => {
                    self.unflushed = false;
                    match self.transform.flush(&mut self.out) {
                        Ok(()) => {
                            self.keep();
                            continue;
                        }
                        Err(error) => {
                            log::error(&format!("response body transform: {error}"));
                            return Pull::Abort;
                        }
                    }
                }
                Pull::Wait => return Pull::Wait,
                Pull::Abort => return Pull::Abort,
            };
            match fed {
                Ok(taken) => {
                    source_consume(source, taken);
                    self.unflushed = true;
                    self.keep();
                }
                Err(error) => {
                    log::error(&format!("response body transform: {error}"));
                    return Pull::Abort;
                }
            }
        }
    }

    /// Copies the output just made for the file cache, while it stays within a variant's
    /// bound.
    fn keep(&mut self) {
        if let Some(tee) = &mut self.tee
            && let Some(bytes) = &mut tee.bytes
        {
            if bytes.len() + self.out.len() > MAX_VARIANT {
                tee.bytes = None;
            } else {
                bytes.extend_from_slice(&self.out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Upper-cases ASCII, taking at most 5 bytes at a time; adds `!` at the end.
    struct Shout;

    impl Transform for Shout {
        fn head(&mut self, head: &mut Head) {
            head.length = None;
        }

        fn process(&mut self, input: &[u8], out: &mut Vec<u8>) -> std::io::Result<usize> {
            let take = input.len().min(5);
            out.extend(input[..take].iter().map(u8::to_ascii_uppercase));
            Ok(take)
        }

        fn flush(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
            out.push(b'|');
            Ok(())
        }

        fn finish(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
            out.push(b'!');
            Ok(())
        }
    }

    fn file_source(text: &[u8]) -> Source {
        let path = std::env::temp_dir().join(format!(
            "webserv-transform-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text)
            .unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        Source::Fixed {
            head: None,
            body: Body::File {
                file,
                offset: 0,
                len: text.len() as u64,
            },
            sent: 0,
            origin: None,
        }
    }

    #[test]
    fn without_a_transform_a_file_stays_a_file_range_for_sendfile() {
        let mut source = file_source(b"hello world");
        match source_pull(&mut source, 4) {
            Pull::File { offset, len, .. } => assert_eq!((offset, len), (0, 4)),
            other => panic!("{other:?}"),
        }
        source_consume(&mut source, 4);
        match source_pull(&mut source, usize::MAX) {
            Pull::File { offset, len, .. } => assert_eq!((offset, len), (4, 7)),
            other => panic!("{other:?}"),
        }
        source_consume(&mut source, 7);
        assert!(matches!(source_pull(&mut source, 1), Pull::End));
    }

    #[test]
    fn a_transform_reads_the_body_through_it_in_bounded_pieces() {
        let text = b"hello world, said the file";
        let mut source = file_source(text);
        let mut transformed = Transformed::new(Box::new(Shout), None);
        let mut got = Vec::new();
        loop {
            match transformed.pull(&mut source, 3) {
                Pull::Bytes(bytes) => {
                    assert!(bytes.len() <= 3);
                    got.extend_from_slice(bytes);
                    let n = bytes.len();
                    transformed.sent += n;
                }
                Pull::End => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, b"HELLO WORLD, SAID THE FILE!");
    }

    #[test]
    fn a_pause_of_the_producer_flushes_the_transform_once() {
        let mut transformed = Transformed::new(Box::new(Shout), None);
        let mut source = Source::Fixed {
            head: None,
            body: Body::Bytes(b"hello".to_vec()),
            sent: 0,
            origin: None,
        };
        let take = |transformed: &mut Transformed, source: &mut Source| -> Option<Vec<u8>> {
            match transformed.pull(source, 100) {
                Pull::Bytes(bytes) => {
                    let bytes = bytes.to_vec();
                    transformed.sent += bytes.len();
                    Some(bytes)
                }
                Pull::Wait => None,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(take(&mut transformed, &mut source).unwrap(), b"HELLO");
        // The producer has nothing now (an upstream waiting for its backend).
        let mut waiting = Source::AfterBody(None);
        assert_eq!(take(&mut transformed, &mut waiting).unwrap(), b"|");
        assert_eq!(take(&mut transformed, &mut waiting), None);
        assert_eq!(take(&mut transformed, &mut waiting), None);
    }
}
