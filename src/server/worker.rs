//! One worker: a thread running one epoll loop over the shared listeners and its own
//! connections. Nothing on the request path is shared with other workers.
//!
//! Each turn: wait for events (no longer than the next deadline), hand each event to its owner,
//! drive the connections that yielded, fire due deadlines, write the batch's access-log lines.
//!
//! A panic while one connection is handled (its event, its drive, its deadline, its drop) is
//! caught here: that connection is dropped, so its socket closes, its script is killed and its
//! upload temporary removed, and the worker goes on serving the others. [`log_panics`] sends
//! the panic's message and location to the error log.

use super::listener::Listener;
use super::runtime::Runtime;
use crate::event::{Kind, Poller, Ready, Role, TimerKey, Timers, Token};
use crate::local::Local;
use crate::log;
use crate::protocol::{Connection, Context, Drive};
use crate::transport::{TlsStream, Transport};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::SocketFlags;
use std::net::{SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
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

/// Messages from the main thread.
pub enum Control {
    /// Serve with a new configuration and listener set from now on.
    Reload(Arc<Runtime>, Vec<Arc<Listener>>),
    /// Stop accepting, finish what is in flight, return.
    Shutdown,
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
    control: Arc<OwnedFd>,
    messages: Receiver<Control>,
    runtime: Arc<Runtime>,
    listeners: Vec<Arc<Listener>>,
    accepting: bool,
    accept_paused_until: Option<Instant>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    timers: Timers,
    yielded: Vec<(u32, u32)>,
    draining_until: Option<Instant>,
    access_log: Vec<u8>,
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
}

impl Worker {
    pub fn new(
        runtime: Arc<Runtime>,
        listeners: Vec<Arc<Listener>>,
        control: Arc<OwnedFd>,
        messages: Receiver<Control>,
    ) -> std::io::Result<Worker> {
        let poller = Poller::new(256)?;
        let local = Local::default();
        poller.add_readable(&*control, Token::new(Kind::Control, 0, 0))?;
        let cache_token = Token::new(Kind::FileCache, 0, 0);
        let cache_registered = local
            .files
            .register(|fd| poller.add_readable(fd, cache_token))
            .is_some_and(|r| r.is_ok());
        let mut worker = Worker {
            poller,
            control,
            messages,
            runtime,
            listeners,
            accepting: false,
            accept_paused_until: None,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            timers: Timers::default(),
            yielded: Vec::new(),
            draining_until: None,
            access_log: Vec::new(),
            date: String::new(),
            log_time: String::new(),
            date_second: u64::MAX,
            orphans: false,
            exhaustion_logged: None,
            pauses_unlogged: 0,
            cache_registered,
            local,
        };
        worker.set_accepting(true);
        Ok(worker)
    }

    /// Registers or deregisters every listener.
    fn set_accepting(&mut self, on: bool) {
        if self.accepting == on {
            return;
        }
        for (index, listener) in self.listeners.iter().enumerate() {
            let result = if on {
                self.poller
                    .add_listener(&listener.fd, Token::new(Kind::Listener, index as u32, 0))
            } else {
                self.poller.delete(&listener.fd)
            };
            if let Err(error) = result {
                log::error(&format!("listener {}: {error}", listener.local));
            }
        }
        self.accepting = on;
    }

    pub fn run(mut self) {
        let mut events: Vec<Ready> = Vec::with_capacity(256);
        loop {
            let now = Instant::now();
            if let Some(until) = self.draining_until
                && (self.live == 0 || now >= until)
            {
                return;
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
        let Some(listener) = self.listeners.get(index).cloned() else {
            return;
        };
        for _ in 0..ACCEPT_BATCH {
            if self.live >= MAX_CONNECTIONS {
                self.pause_accepting(now);
                return;
            }
            match rustix::net::acceptfrom_with(
                &listener.fd,
                SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            ) {
                Ok((fd, peer)) => {
                    let peer = peer
                        .and_then(|p| SocketAddr::try_from(p).ok())
                        .unwrap_or(listener.local);
                    self.open(fd, peer, listener.local, now);
                }
                Err(Errno::AGAIN) => return,
                Err(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM) => {
                    self.log_exhaustion(listener.local, now);
                    self.pause_accepting(now);
                    return;
                }
                // The client gave up before we took it, or a transient error: not ours to stop on.
                Err(_) => continue,
            }
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

    fn open(&mut self, fd: OwnedFd, peer: SocketAddr, listen: SocketAddr, now: Instant) {
        let _ = rustix::net::sockopt::set_tcp_nodelay(&fd, true);
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
                    return;
                }
            },
        };
        let token = Token::new(Kind::Connection, slot, generation);
        if let Err(error) = self.poller.add(transport.socket(), token) {
            log::error(&format!("epoll_ctl: {error}"));
            self.free.push(slot);
            return;
        }
        let connection = Connection::new(transport, peer, listen, &self.runtime, now);
        self.slots[slot as usize].connection = Some(Box::new(connection));
        self.live += 1;
        self.sync_timer(slot);
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
            access_log: self
                .runtime
                .access_log
                .as_ref()
                .map(|_| &mut self.access_log),
            log_time: &self.log_time,
            local: &mut self.local,
            poller: &self.poller,
            slot,
            generation,
        };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| match timed_out {
            Some(stream) => connection.timed_out(stream, &mut ctx),
            None => connection.drive(&mut ctx),
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
        if self.access_log.len() >= ACCESS_LOG_FLUSH {
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
    }

    fn expire(&mut self, now: Instant) {
        while let Some((at, key)) = self.timers.pop_due(now) {
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
        if let Some(connection) = entry.connection.take() {
            entry.generation = entry.generation.wrapping_add(1) & Token::GENERATION_MASK;
            self.free.push(slot);
            self.live -= 1;
            // Dropping the socket closes it, which also removes it from the epoll set. A panic
            // in a destructor must not end the worker; the fields after it are still dropped.
            if panic::catch_unwind(AssertUnwindSafe(|| drop(connection))).is_err() {
                log::error("a connection's destructor panicked");
            }
        }
        // A closed connection leaves its timer entries behind until they fall due; with many
        // short connections they would pile up for a whole timeout. Sweep them now and then.
        if self.timers.len() > 4 * self.live + 1024 {
            let slots = &mut self.slots;
            self.timers.retain(|at, key| {
                slots.get_mut(key.slot as usize).is_some_and(|s| {
                    s.generation == key.generation
                        && s.connection.as_deref_mut().is_some_and(|c| {
                            c.deadline_mut(key.stream)
                                .is_some_and(|d| d.scheduled == Some(at))
                        })
                })
            });
        }
    }

    fn control(&mut self, now: Instant) {
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(&*self.control, &mut counter);
        while let Ok(message) = self.messages.try_recv() {
            match message {
                Control::Reload(runtime, listeners) => {
                    self.set_accepting(false);
                    self.runtime = runtime;
                    self.listeners = listeners;
                    if self.draining_until.is_none() {
                        self.set_accepting(true);
                    }
                    // Every connection looks at the new configuration now (an HTTP/2 one
                    // whose address changed sends its GOAWAY), not at its next event.
                    self.drive_all_soon();
                }
                Control::Shutdown => {
                    self.set_accepting(false);
                    // Our references go, so the sockets close once every worker has let go
                    // (the main thread drops its own): connections arriving during the drain are
                    // refused at once instead of waiting in the backlog to be reset at exit.
                    self.listeners.clear();
                    self.draining_until = Some(now + GRACE);
                    let idle: Vec<u32> = self
                        .slots
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.connection.as_ref().is_some_and(|c| c.is_idle()))
                        .map(|(i, _)| i as u32)
                        .collect();
                    for slot in idle {
                        self.close(slot);
                    }
                    // The others learn of the shutdown now (an HTTP/2 one sends its GOAWAY).
                    self.drive_all_soon();
                }
            }
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
        if self.access_log.is_empty() {
            return;
        }
        if let Some(sink) = &self.runtime.access_log
            && let Err(error) = sink.write_all(&self.access_log)
        {
            log::error(&format!("access log: {error}"));
        }
        self.access_log.clear();
    }
}
