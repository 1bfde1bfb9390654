//! One worker: a thread running one epoll loop over its listening sockets and its own
//! connections. Nothing on the request path is shared with other workers.
//!
//! Connections reach a worker through its own `SO_REUSEPORT` sockets (the kernel spreads them
//! by address hash) or a socket every worker shares. Either can leave one worker with far more
//! connections than another (long-lived connections ending unevenly, or EPOLLEXCLUSIVE waking
//! the same waiter each time), so a worker that accepts while it holds clearly more than the
//! least loaded one hands the new connection to that one ([`Crew`]; [`placement`] decides).
//!
//! Each turn: wait for events (no longer than the next deadline), hand each event to its owner,
//! drive the connections that yielded, fire due deadlines, write the batch's access-log lines.
//!
//! A panic while one connection is handled (its event, its drive, its deadline, its drop) is
//! caught here: that connection is dropped, so its socket closes, its script is killed and its
//! upload temporary removed, and the worker goes on serving the others. [`log_panics`] sends
//! the panic's message and location to the error log.

use super::listener::Listener;
use crate::config::proxy::model::PeerAddr;
use crate::event::{Deadline, Kind, Poller, Ready, Role, Sharing, TimerKey, Timers, Token};
use crate::local::Local;
use crate::log;
use crate::protocol::{Connection, Context, Drive, Waiting};
use crate::runtime::Runtime;
use crate::transport::{TlsStream, Transport};
use rustix::event::{EventfdFlags, eventfd};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::SocketFlags;
use std::net::{SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant, SystemTime};

/// Most connections one worker holds; past it, accepting pauses.
const MAX_CONNECTIONS: usize = 16_384;
/// Connections accepted per listener event before serving the others.
const ACCEPT_BATCH: usize = 64;
/// How long accepting pauses when the process is out of file descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// Least time between two "out of resources" lines of one worker.
const EXHAUSTION_LOG_EVERY: Duration = Duration::from_secs(5);
/// How often killed CGI scripts are checked for their exit.
const ORPHAN_POLL: Duration = Duration::from_millis(20);
/// Access-log bytes a worker gathers before writing them, even within a batch.
const ACCESS_LOG_FLUSH: usize = 64 * 1024;
/// How long a shutdown waits for responses in flight.
const GRACE: Duration = Duration::from_secs(10);
/// How long a connection accepted just before a shutdown has to send its request.
const FIRST_REQUEST_WHILE_DRAINING: Duration = Duration::from_secs(1);

/// Messages from the main thread (and, for [`Control::Adopt`], from other workers).
pub enum Control {
    /// Serve with a new configuration and listening sockets from now on.
    Reload(Arc<Runtime>, Vec<(Arc<Listener>, Sharing)>),
    /// Stop accepting, finish what is in flight, return.
    Shutdown,
    /// Serve these connections, accepted by a busier worker.
    Adopt(Vec<Accepted>),
    /// Close the idle pooled connections to this address: a new FastCGI connection of another
    /// worker starves on it (`fastcgi::pool`), maybe behind processes they hold.
    CloseIdle(PeerAddr),
}

/// A connection accepted but not yet served.
pub struct Accepted {
    fd: OwnedFd,
    peer: SocketAddr,
    /// The bound address of the listener that accepted it.
    listen: SocketAddr,
}

/// The workers as they know each other: how many connections each holds, and the way to send
/// each a message.
pub struct Crew {
    members: Vec<Member>,
}

/// Aligned to a cache line of its own: a worker's count changes with every connection, and
/// the others only read it once per accept batch.
#[repr(align(64))]
struct Member {
    /// Connections held, plus those handed to this worker and not yet adopted: the sender
    /// counts them, so that a burst of handovers is seen at once by everyone.
    load: AtomicUsize,
    messages: Sender<Control>,
    wake: OwnedFd,
}

impl Crew {
    /// A crew of `count` workers, and the receiving end of each one's messages.
    pub fn new(count: usize) -> std::io::Result<(Arc<Crew>, Vec<Receiver<Control>>)> {
        let mut members = Vec::with_capacity(count);
        let mut receivers = Vec::with_capacity(count);
        for _ in 0..count {
            let (sender, receiver) = mpsc::channel();
            members.push(Member {
                load: AtomicUsize::new(0),
                messages: sender,
                wake: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
            });
            receivers.push(receiver);
        }
        Ok((Arc::new(Crew { members }), receivers))
    }

    /// Sends `message` to worker `index` and wakes it.
    pub fn send(&self, index: usize, message: Control) {
        if let Some(member) = self.members.get(index)
            && member.messages.send(message).is_ok()
        {
            let _ = rustix::io::write(&member.wake, &1u64.to_ne_bytes());
        }
    }

    fn load(&self, index: usize) -> usize {
        self.members[index].load.load(Ordering::Relaxed)
    }

    fn count(&self, index: usize, delta: isize) {
        let load = &self.members[index].load;
        if delta >= 0 {
            load.fetch_add(delta.unsigned_abs(), Ordering::Relaxed);
        } else {
            load.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
    }
}

/// Connections a worker may hold beyond the least loaded one's before it hands new ones over:
/// a few, plus an eighth (the spread of an address hash is about the square root of the count;
/// a handover costs a message and a wake-up, so small differences are not worth one).
fn slack(least: usize) -> usize {
    8 + least / 8
}

/// Where a connection just accepted by worker `own` is served: here (None) or by the least
/// loaded other worker, if `own`'s load exceeds that one's by more than [`slack`].
fn placement(own: usize, loads: &[usize]) -> Option<usize> {
    let held = *loads.get(own)?;
    let (least, load) = loads
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != own)
        .min_by_key(|(_, load)| **load)?;
    (held > load + slack(*load)).then_some(least)
}

/// Sends every panic's message, with its thread and location, to the error log.
pub fn log_panics() {
    panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let location = info
            .location()
            .map_or(String::new(), |l| format!(" at {l}"));
        log::error(&format!(
            "panic in {}{location}: {}",
            thread.name().unwrap_or("main"),
            info.payload_as_str().unwrap_or("(no message)")
        ));
    }));
}

struct Slot {
    generation: u32,
    connection: Option<Box<Connection>>,
}

pub struct Worker {
    poller: Poller,
    /// This worker's place in the crew.
    index: usize,
    crew: Arc<Crew>,
    messages: Receiver<Control>,
    runtime: Arc<Runtime>,
    listeners: Vec<(Arc<Listener>, Sharing)>,
    /// Connections of the current accept batch going to each other worker.
    handing: Vec<Vec<Accepted>>,
    /// Connections of the current accept batch staying here (kept for its allocation).
    arrived: Vec<Accepted>,
    /// Loads of the crew, read at each accept batch and kept up to date through it.
    loads: Vec<usize>,
    accepting: bool,
    accept_paused_until: Option<Instant>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    timers: Timers,
    yielded: Vec<(u32, u32)>,
    draining_until: Option<Instant>,
    date: String,
    log_time: String,
    date_second: u64,
    /// Killed CGI scripts not yet reaped exist on this thread.
    orphans: bool,
    /// When "out of resources" was last logged, and the pauses since (logged once a while,
    /// not at every pause).
    exhaustion_logged: Option<Instant>,
    pauses_unlogged: u32,
    /// The file cache's inotify queue is in the epoll set (else it is read every batch).
    cache_registered: bool,
    /// What this worker lends to the connections it drives.
    local: Local,
    /// When the backend connections of `local` need looking after (`Local::upkeep`), and its
    /// entry in `timers` (key [`UPKEEP`]).
    upkeep: Deadline,
}

/// The timer key of the worker's own upkeep (no connection has this slot).
const UPKEEP: TimerKey = TimerKey {
    slot: u32::MAX,
    generation: u32::MAX,
    stream: u16::MAX,
};

impl Worker {
    /// Worker `index` of the crew (its figures in the metrics registry are its index's).
    pub fn new(
        runtime: Arc<Runtime>,
        listeners: Vec<(Arc<Listener>, Sharing)>,
        index: usize,
        crew: Arc<Crew>,
        messages: Receiver<Control>,
    ) -> std::io::Result<Worker> {
        let poller = Poller::new(256)?;
        let local = Local {
            stats: Arc::clone(runtime.metrics.worker(index)),
            metrics: Arc::clone(&runtime.metrics),
            logs: vec![Vec::new(); runtime.access_logs.len()],
            ..Local::default()
        };
        poller.add_readable(&crew.members[index].wake, Token::new(Kind::Control, 0, 0))?;
        let cache_token = Token::new(Kind::FileCache, 0, 0);
        let cache_registered = local
            .files
            .register(|fd| poller.add_readable(fd, cache_token))
            .is_some_and(|r| r.is_ok());
        let crew_size = crew.members.len();
        let mut worker = Worker {
            poller,
            index,
            crew,
            messages,
            runtime,
            listeners,
            handing: (0..crew_size).map(|_| Vec::new()).collect(),
            arrived: Vec::new(),
            loads: vec![0; crew_size],
            accepting: false,
            accept_paused_until: None,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            timers: Timers::default(),
            yielded: Vec::new(),
            draining_until: None,
            date: String::new(),
            log_time: String::new(),
            date_second: u64::MAX,
            orphans: false,
            exhaustion_logged: None,
            pauses_unlogged: 0,
            cache_registered,
            local,
            upkeep: Deadline::default(),
        };
        worker.set_accepting(true);
        Ok(worker)
    }

    /// Registers or deregisters every listener.
    fn set_accepting(&mut self, on: bool) {
        if self.accepting == on {
            return;
        }
        for (index, (listener, sharing)) in self.listeners.iter().enumerate() {
            let token = Token::new(Kind::Listener, index as u32, 0);
            let result = if on {
                self.poller.add_listener(&listener.fd, token, *sharing)
            } else {
                self.poller.delete(&listener.fd)
            };
            if let Err(error) = result {
                log::error(&format!("listener {}: {error}", listener.local));
            }
        }
        self.accepting = on;
    }

    /// The worker's event loop, until shutdown. Never inlined: the instruction counts of
    /// bench/ (callgrind `--toggle-collect=*Worker::run*`) take this function as the worker.
    #[inline(never)]
    pub fn run(mut self) {
        let mut events: Vec<Ready> = Vec::with_capacity(256);
        loop {
            let now = Instant::now();
            if let Some(until) = self.draining_until
                && (self.live == 0 || now >= until)
            {
                return;
            }
            self.upkeep.at = self.local.next_upkeep();
            if let Some(at) = self.upkeep.needs_entry() {
                self.upkeep.scheduled = Some(at);
                self.timers.schedule(at, UPKEEP);
            }
            let mut timeout = self.timers.timeout(now);
            if let Some(until) = self.accept_paused_until {
                let pause = until.saturating_duration_since(now);
                timeout = Some(timeout.map_or(pause, |t| t.min(pause)));
            }
            if !self.yielded.is_empty() {
                timeout = Some(Duration::ZERO);
            } else if self.orphans {
                timeout = Some(timeout.map_or(ORPHAN_POLL, |t| t.min(ORPHAN_POLL)));
            }
            if let Some(until) = self.draining_until {
                let left = until.saturating_duration_since(now);
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            events.clear();
            if let Err(error) = self.poller.wait(timeout, &mut events) {
                log::error(&format!("epoll_wait: {error}"));
                return;
            }
            self.tick_clock();
            if !self.cache_registered {
                self.local.files.begin_batch();
            } else if events.iter().any(|e| e.token.kind == Kind::FileCache) {
                // Before any request of the batch, which may causally follow the change.
                self.local.files.changes_ready();
            }
            let now = Instant::now();
            self.local.files.set_clock(now);
            for event in &events {
                match event.token.kind {
                    Kind::Listener => self.accept(event.token.slot as usize, now),
                    Kind::Control => self.control(now),
                    Kind::FileCache => {}
                    Kind::Connection | Kind::Upstream | Kind::Pooled => {
                        let token = match event.token.kind {
                            // A pooled backend connection: lent to an exchange (its events
                            // are that exchange's), or idle.
                            Kind::Pooled => match self.local.proxy.owner(event.token.slot) {
                                Some((slot, generation, stream)) => {
                                    Token::upstream(slot, generation, stream, Role::Socket)
                                }
                                None => {
                                    let input = event.readable || event.hangup || event.error;
                                    self.local.proxy.idle_event(event.token.slot, input);
                                    continue;
                                }
                            },
                            _ => event.token,
                        };
                        let Some(connection) = self.connection(token.slot, token.generation) else {
                            continue;
                        };
                        let ready = [event.readable, event.writable, event.hangup, event.error];
                        let noted = panic::catch_unwind(AssertUnwindSafe(|| match token.kind {
                            Kind::Connection => {
                                let [readable, writable, hangup, error] = ready;
                                connection.ready(readable, writable, hangup, error)
                            }
                            _ => connection.upstream_ready(token.stream, token.role, ready),
                        }));
                        match noted {
                            Ok(()) => self.drive(token.slot, now, None),
                            Err(_) => self.close_after_panic(token.slot),
                        }
                    }
                }
            }
            let yielded = std::mem::take(&mut self.yielded);
            for (slot, generation) in yielded {
                if self.connection(slot, generation).is_some() {
                    self.drive(slot, now, None);
                }
            }
            self.expire(now);
            if let Some(until) = self.accept_paused_until
                && now >= until
            {
                self.accept_paused_until = None;
                if self.draining_until.is_none() {
                    self.set_accepting(true);
                }
            }
            self.flush_access_log();
            self.orphans = self.local.processes.reap_orphans();
        }
    }

    fn tick_clock(&mut self) {
        let now = SystemTime::now();
        let second = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.date_second {
            self.date_second = second;
            self.date = httpdate::fmt_http_date(now);
            self.log_time = log::access_log_time(now);
        }
    }

    fn connection(&mut self, slot: u32, generation: u32) -> Option<&mut Connection> {
        let entry = self.slots.get_mut(slot as usize)?;
        if entry.generation != generation {
            return None;
        }
        entry.connection.as_deref_mut()
    }

    fn accept(&mut self, index: usize, now: Instant) {
        let Some((listener, _)) = self.listeners.get(index).cloned() else {
            return;
        };
        let crew = Arc::clone(&self.crew);
        for (i, load) in self.loads.iter_mut().enumerate() {
            *load = crew.load(i);
        }
        let mut here = std::mem::take(&mut self.arrived);
        for _ in 0..ACCEPT_BATCH {
            if self.live + here.len() >= MAX_CONNECTIONS {
                self.pause_accepting(now);
                break;
            }
            match rustix::net::acceptfrom_with(
                &listener.fd,
                SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            ) {
                Ok((fd, peer)) => {
                    let peer = peer
                        .and_then(|p| SocketAddr::try_from(p).ok())
                        .unwrap_or(listener.local);
                    let accepted = Accepted {
                        fd,
                        peer,
                        listen: listener.local,
                    };
                    match placement(self.index, &self.loads) {
                        None => {
                            self.loads[self.index] += 1;
                            crew.count(self.index, 1);
                            here.push(accepted);
                        }
                        Some(other) => {
                            self.loads[other] += 1;
                            crew.count(other, 1);
                            self.handing[other].push(accepted);
                        }
                    }
                }
                Err(Errno::AGAIN) => break,
                Err(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM) => {
                    self.log_exhaustion(listener.local, now);
                    self.pause_accepting(now);
                    break;
                }
                // The client gave up before we took it, or a transient error: not ours to stop on.
                Err(_) => continue,
            }
        }
        for (other, connections) in self.handing.iter_mut().enumerate() {
            if !connections.is_empty() {
                crew.send(other, Control::Adopt(std::mem::take(connections)));
            }
        }
        self.open_all(&mut here, now);
        self.arrived = here;
    }

    /// Serves connections just accepted (here or by another worker), each driven at once
    /// ([`Worker::try_open`]). They may have been sent after this batch began, hence after a
    /// file change the batch's look at the file cache's inotify queue did not see: the cache
    /// reads its queue again before its next look-up (one `read` per batch, when a file is
    /// looked up), so a request that follows a change never gets the old file.
    fn open_all(&mut self, connections: &mut Vec<Accepted>, now: Instant) {
        if connections.is_empty() {
            return;
        }
        self.local.files.begin_batch();
        for accepted in connections.drain(..) {
            self.open(accepted, now);
        }
    }

    /// Out of descriptors, accepting pauses every [`ACCEPT_PAUSE`]: one line per
    /// [`EXHAUSTION_LOG_EVERY`] says so, with how many pauses it stands for.
    fn log_exhaustion(&mut self, local: SocketAddr, now: Instant) {
        if self
            .exhaustion_logged
            .is_some_and(|at| now.duration_since(at) < EXHAUSTION_LOG_EVERY)
        {
            self.pauses_unlogged += 1;
            return;
        }
        let since = match std::mem::take(&mut self.pauses_unlogged) {
            0 => String::new(),
            n => format!(" ({n} more pauses since the last report)"),
        };
        log::error(&format!(
            "accept on {local}: out of resources; pausing{since}"
        ));
        self.exhaustion_logged = Some(now);
    }

    fn pause_accepting(&mut self, now: Instant) {
        self.set_accepting(false);
        self.accept_paused_until = Some(now + ACCEPT_PAUSE);
    }

    /// Serves an accepted connection, already counted in this worker's load (by this worker
    /// or by the one that handed it over); if it cannot be served, the count goes back.
    fn open(&mut self, accepted: Accepted, now: Instant) {
        if !self.try_open(accepted, now) {
            self.crew.count(self.index, -1);
        }
    }

    /// Whether the connection was taken (served at once, or registered).
    ///
    /// A new connection is driven at once, before it is registered in epoll: its request is
    /// usually there already (always, with `TCP_DEFER_ACCEPT`), so a `Connection: close`
    /// exchange often completes in the accept batch, with no `epoll_ctl` and no second turn of
    /// the loop. Registering afterwards loses nothing: edge-triggered epoll reports the state
    /// at registration.
    fn try_open(&mut self, accepted: Accepted, now: Instant) -> bool {
        let Accepted { fd, peer, listen } = accepted;
        let socket = TcpStream::from(fd);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    connection: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.slots[slot as usize].generation;
        let transport = match self.runtime.tls_for(listen) {
            None => Transport::plain(socket),
            Some(config) => match TlsStream::new(socket, config) {
                Ok(tls) => Transport::tls(tls),
                Err(error) => {
                    log::error(&format!("TLS session: {error}"));
                    self.free.push(slot);
                    return false;
                }
            },
        };
        let mut connection = Connection::new(transport, peer, listen, &self.runtime, now);
        // A new socket is writable, and readable if its request came: a read or write that
        // finds otherwise says EAGAIN and clears the flag.
        connection.ready(true, true, false, false);
        self.slots[slot as usize].connection = Some(Box::new(connection));
        self.live += 1;
        self.local.stats.opened();
        self.drive(slot, now, None);
        let entry = &mut self.slots[slot as usize];
        if entry.generation != generation {
            return true; // served and closed already
        }
        let Some(connection) = entry.connection.as_deref_mut() else {
            return true;
        };
        let defer = self.runtime.deferral(listen);
        if !defer.is_zero()
            && connection.waiting() == Some(Waiting::FirstRequest)
            && let Some(deadline) = connection.deadline_mut(crate::protocol::http1::SESSION)
        {
            // Accepted with nothing to read: the kernel held it for the deferral already,
            // which counts towards its header timeout.
            deadline.at = deadline.at.map(|d| d.checked_sub(defer).unwrap_or(d));
        }
        let token = Token::new(Kind::Connection, slot, generation);
        let added = match connection.socket() {
            Some(socket) => self.poller.add(socket, token),
            None => Err(std::io::Error::other("connection closed")),
        };
        if let Err(error) = added {
            log::error(&format!("epoll_ctl: {error}"));
            self.close(slot);
            return true;
        }
        self.sync_timer(slot);
        true
    }

    /// Drives one connection (or tells it the deadline of `timed_out`, a stream of it, passed)
    /// and acts on the outcome.
    fn drive(&mut self, slot: u32, now: Instant, timed_out: Option<u16>) {
        let entry = &mut self.slots[slot as usize];
        let generation = entry.generation;
        let Some(connection) = entry.connection.as_deref_mut() else {
            return;
        };
        let mut ctx = Context {
            now,
            runtime: &self.runtime,
            date: &self.date,
            draining: self.draining_until.is_some(),
            log_time: &self.log_time,
            local: &mut self.local,
            poller: &self.poller,
            slot,
            generation,
        };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let drive = match timed_out {
                Some(stream) => connection.timed_out(stream, &mut ctx),
                None => connection.drive(&mut ctx),
            };
            connection.report(&ctx.local.stats);
            drive
        }));
        match outcome {
            Ok(Drive::Wait) => self.sync_timer(slot),
            Ok(Drive::Yield) => {
                self.yielded.push((slot, generation));
                self.sync_timer(slot);
            }
            Ok(Drive::Close) => self.close(slot),
            Err(_) => self.close_after_panic(slot),
        }
        if self.local.logs.iter().any(|b| b.len() >= ACCESS_LOG_FLUSH) {
            self.flush_access_log();
        }
    }

    /// Makes sure the timer queue will look at each deadline of `slot` (its own, its
    /// exchanges') by its time.
    fn sync_timer(&mut self, slot: u32) {
        let entry = &mut self.slots[slot as usize];
        let generation = entry.generation;
        let Some(connection) = entry.connection.as_deref_mut() else {
            return;
        };
        let timers = &mut self.timers;
        connection.each_deadline(&mut |stream, deadline| {
            if let Some(at) = deadline.needs_entry() {
                deadline.scheduled = Some(at);
                let key = TimerKey {
                    slot,
                    generation,
                    stream,
                };
                timers.schedule(at, key);
            }
        });
        self.sweep_timers();
    }

    fn expire(&mut self, now: Instant) {
        while let Some((at, key)) = self.timers.pop_due(now) {
            if key == UPKEEP {
                if self.upkeep.scheduled == Some(at) {
                    self.upkeep.scheduled = None;
                }
                for addr in self.local.upkeep(now) {
                    for other in (0..self.crew.members.len()).filter(|&i| i != self.index) {
                        self.crew.send(other, Control::CloseIdle(addr.clone()));
                    }
                }
                continue;
            }
            let Some(connection) = self.connection(key.slot, key.generation) else {
                continue;
            };
            let Some(deadline) = connection.deadline_mut(key.stream) else {
                continue;
            };
            if deadline.scheduled != Some(at) {
                continue; // superseded by an earlier entry
            }
            deadline.scheduled = None;
            match deadline.at {
                Some(due) if due <= now => self.drive(key.slot, now, Some(key.stream)),
                Some(_) => self.sync_timer(key.slot),
                None => {}
            }
        }
    }

    /// The connection's handling panicked (the hook has logged why): drop it.
    fn close_after_panic(&mut self, slot: u32) {
        log::error("closing the connection whose handling panicked");
        self.close(slot);
    }

    fn close(&mut self, slot: u32) {
        let entry = &mut self.slots[slot as usize];
        if let Some(mut connection) = entry.connection.take() {
            let stats = &self.local.stats;
            if panic::catch_unwind(AssertUnwindSafe(|| connection.report_closed(stats))).is_err() {
                log::error("a connection's report panicked");
            }
            entry.generation = entry.generation.wrapping_add(1) & Token::GENERATION_MASK;
            self.free.push(slot);
            self.live -= 1;
            self.crew.count(self.index, -1);
            // Dropping the socket closes it, which also removes it from the epoll set. A panic
            // in a destructor must not end the worker; the fields after it are still dropped.
            if panic::catch_unwind(AssertUnwindSafe(|| drop(connection))).is_err() {
                log::error("a connection's destructor panicked");
            }
        }
        self.sweep_timers();
    }

    /// Drops the timer entries nobody waits for, once they outnumber the live deadlines by
    /// far. Entries are left behind by closed connections, by deadlines that moved earlier and
    /// by exchanges that ended (a proxied request leaves about one): until they fall due, a
    /// whole timeout later, they would pile up with the request rate. A sweep keeps one entry
    /// per deadline (see `Timers::crowded`).
    fn sweep_timers(&mut self) {
        if !self.timers.crowded(self.live) {
            return;
        }
        let slots = &mut self.slots;
        let upkeep = self.upkeep.scheduled;
        self.timers.retain(|at, key| {
            if key == UPKEEP {
                return upkeep == Some(at);
            }
            slots.get_mut(key.slot as usize).is_some_and(|s| {
                s.generation == key.generation
                    && s.connection.as_deref_mut().is_some_and(|c| {
                        c.deadline_mut(key.stream)
                            .is_some_and(|d| d.scheduled == Some(at))
                    })
            })
        });
    }

    fn control(&mut self, now: Instant) {
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(&self.crew.members[self.index].wake, &mut counter);
        while let Ok(message) = self.messages.try_recv() {
            match message {
                Control::Reload(runtime, listeners) => {
                    self.set_accepting(false);
                    // The buffers are indexed by the old configuration's log files.
                    self.flush_access_log();
                    self.local.logs = vec![Vec::new(); runtime.access_logs.len()];
                    self.runtime = runtime;
                    self.listeners = listeners;
                    if self.draining_until.is_none() {
                        self.set_accepting(true);
                    }
                    // Every connection looks at the new configuration now (an HTTP/2 one
                    // whose address changed sends its GOAWAY), not at its next event.
                    self.drive_all_soon();
                }
                Control::Adopt(mut connections) => {
                    // Even while draining: the client was accepted and waits for its answer
                    // (the listening sockets may live on in a server that replaced this one,
                    // so nothing tells it to go elsewhere).
                    self.open_all(&mut connections, now);
                }
                Control::CloseIdle(addr) => self.local.proxy.close_idle_to(&addr),
                Control::Shutdown => {
                    self.set_accepting(false);
                    // Our references go, so the sockets close once every worker has let go
                    // (the main thread drops its own): connections arriving during the drain are
                    // refused at once instead of waiting in the backlog to be reset at exit.
                    self.listeners.clear();
                    self.draining_until = Some(now + GRACE);
                    self.close_waiting(now);
                    // The others learn of the shutdown now (an HTTP/2 one sends its GOAWAY).
                    self.drive_all_soon();
                }
            }
        }
    }

    /// At the start of a drain: keep-alive connections between requests close now (a client
    /// sends a request on them at its own risk, and retries: RFC 9112 section 9.3.1); a
    /// connection accepted just before has its request, probably on its way, read if it comes
    /// within [`FIRST_REQUEST_WHILE_DRAINING`], so that nothing accepted is dropped unanswered.
    fn close_waiting(&mut self, now: Instant) {
        let mut idle = Vec::new();
        for (slot, entry) in self.slots.iter_mut().enumerate() {
            let Some(connection) = entry.connection.as_deref_mut() else {
                continue;
            };
            match connection.waiting() {
                Some(Waiting::NextRequest) => idle.push(slot as u32),
                Some(Waiting::FirstRequest) => {
                    let soon = now + FIRST_REQUEST_WHILE_DRAINING;
                    if let Some(deadline) = connection.deadline_mut(crate::protocol::http1::SESSION)
                    {
                        deadline.at = Some(deadline.at.map_or(soon, |d| d.min(soon)));
                    }
                }
                None => {}
            }
        }
        for slot in idle {
            self.close(slot);
        }
        for slot in 0..self.slots.len() as u32 {
            self.sync_timer(slot);
        }
    }

    /// Every live connection is driven after this batch's events.
    fn drive_all_soon(&mut self) {
        for (slot, entry) in self.slots.iter().enumerate() {
            if entry.connection.is_some() {
                self.yielded.push((slot as u32, entry.generation));
            }
        }
    }

    fn flush_access_log(&mut self) {
        for (buffer, sink) in self.local.logs.iter_mut().zip(&self.runtime.access_logs) {
            if buffer.is_empty() {
                continue;
            }
            if let Some(sink) = sink
                && let Err(error) = sink.write_all(buffer)
            {
                log::error(&format!("access log: {error}"));
            }
            buffer.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_keeps_a_connection_while_it_is_within_the_slack_of_the_least_loaded() {
        assert_eq!(placement(0, &[10, 4]), None);
        assert_eq!(placement(0, &[12, 4]), None);
        assert_eq!(placement(0, &[13, 4]), Some(1));
        // Large counts: an eighth of the least loaded's count on top.
        assert_eq!(placement(1, &[900, 1000]), None);
        assert_eq!(placement(1, &[900, 1030]), Some(0));
    }

    #[test]
    fn a_burst_of_connections_ends_within_the_slack() {
        // What `accept` does with its copy of the loads: 60 connections arrive at worker 0.
        let mut loads = [0, 0];
        for _ in 0..60 {
            let to = placement(0, &loads).unwrap_or(0);
            loads[to] += 1;
        }
        assert_eq!(loads[0] + loads[1], 60);
        assert!(loads[0] - loads[1] <= slack(loads[1]) + 1, "{loads:?}");
    }

    #[test]
    fn the_least_loaded_of_several_gets_it_and_a_lone_worker_keeps_everything() {
        assert_eq!(placement(0, &[100, 50, 20, 60]), Some(2));
        assert_eq!(placement(3, &[100, 50, 20, 60]), Some(2));
        assert_eq!(placement(0, &[100_000]), None);
        assert_eq!(placement(5, &[1, 2]), None);
    }
}
