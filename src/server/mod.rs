//! The running server: binds the listeners, starts the workers, and turns signals into
//! reloads, binary upgrades and shutdowns. `worker` is the event loop (each client connection is
//! a `protocol` session; what the workers serve with is a `crate::runtime::Runtime`), `listener`
//! the listening sockets and which worker accepts on which, `upgrade` the sockets received at
//! exec and the SIGUSR2 handover.

mod listener;
mod upgrade;
mod worker;

use crate::config::{self, Config};
use crate::log;
use crate::runtime::{Listening, Runtime};
use crate::sys;
use listener::{Bound, Inherited};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use worker::{Control, Crew, Worker};

/// The addresses a configuration asks for, each once, in file order.
fn addresses(config: &Config) -> Vec<SocketAddr> {
    let mut seen = Vec::new();
    for server in &config.servers {
        for addr in &server.listen {
            if !seen.contains(addr) {
                seen.push(*addr);
            }
        }
    }
    seen
}

/// Binds every address of `config`, reusing the sockets of `current` where the configured
/// address is the same (so a reload neither drops nor re-binds them).
fn bind_all(
    config: &Config,
    workers: usize,
    current: &[Bound],
    inherited: &mut Inherited,
) -> Result<Vec<Bound>, String> {
    listener::bind_all(&addresses(config), workers, current, inherited)
}

/// The runtime of `config`; `previous` (on a reload) hands over what lives across reloads.
fn open_runtime(
    config: Config,
    listeners: &[Bound],
    acme: &crate::acme::Service,
    previous: Option<&Runtime>,
) -> Result<Runtime, String> {
    let mut access_logs = Vec::with_capacity(config.log_files.len());
    for target in &config.log_files {
        let sink = log::Sink::open(target).map_err(|e| match target {
            config::LogTarget::File(path) => {
                format!("cannot open the access log {}: {e}", path.display())
            }
            _ => format!("cannot open the access log: {e}"),
        })?;
        access_logs.push(sink);
    }
    let error_log = log::Sink::open(&config.error_log)
        .map_err(|e| format!("cannot open the error log: {e}"))?;
    if let Some(sink) = error_log {
        log::set_error_log(sink);
    }
    log::set_level(config.error_log_level);
    sweep_upload_stores(&config);
    acme.configure(&config)?;
    let listening: Vec<Listening> = listeners
        .iter()
        .map(|bound| Listening {
            configured: bound.configured,
            local: bound.local,
        })
        .collect();
    Runtime::new(config, &listening, access_logs, acme, previous)
}

/// Removes what uploads interrupted by a dead server left in the stores.
fn sweep_upload_stores(config: &Config) {
    let mut stores: Vec<&std::path::Path> = Vec::new();
    for server in &config.servers {
        let settings =
            std::iter::once(&server.settings).chain(server.locations.iter().map(|l| &l.settings));
        for store in settings.filter_map(|s| s.upload_store.as_deref()) {
            if !stores.contains(&store) {
                stores.push(store);
            }
        }
    }
    for store in stores {
        let removed = crate::handler::upload::sweep_abandoned(store);
        if removed > 0 {
            log::notice(&format!(
                "removed {removed} temporary file(s) of interrupted uploads from {}",
                store.display()
            ));
        }
    }
}

/// Serves `config` until SIGINT or SIGTERM (or until a binary upgrade's new server is
/// serving). Errors (an address that cannot be bound, a log that cannot be opened) are returned
/// before anything is served.
pub fn run(config: Config) -> Result<(), String> {
    // First, while the inherited descriptors are the only ones above stderr.
    let program = upgrade::Program::current();
    let mut given = upgrade::inherited()?;
    let signals = sys::Signals::catch(&[
        sys::SIGHUP,
        sys::SIGINT,
        sys::SIGTERM,
        sys::SIGUSR1,
        sys::SIGUSR2,
    ])
    .map_err(|e| format!("cannot catch signals: {e}"))?;

    raise_file_limit();
    crate::fault::init();
    worker::log_panics();
    let worker_count = config.workers.max(1);
    let mut listeners = bind_all(&config, worker_count, &[], &mut given.listeners)?;
    let config_path = config.path.clone();
    // Certificates from ACME, kept across reloads.
    let acme = crate::acme::Service::new();
    let runtime = Arc::new(open_runtime(config, &listeners, &acme, None)?);
    upgrade::report_unused(std::mem::take(&mut given.listeners));
    for listener in &listeners {
        listener::defer_accept(listener, runtime.deferral(listener.local));
        log::announce(&listening(&runtime, listener));
    }

    let (crew, receivers) = Crew::new(worker_count).map_err(|e| format!("eventfd: {e}"))?;
    let mut threads = Vec::with_capacity(worker_count);
    for (index, receiver) in receivers.into_iter().enumerate() {
        let (runtime, listeners, crew) = (
            Arc::clone(&runtime),
            listener::share(&listeners, worker_count, index),
            Arc::clone(&crew),
        );
        // The epoll instance is created on the worker's own thread: it never moves.
        let thread = std::thread::Builder::new()
            .name(format!("worker-{index}"))
            .spawn(
                move || match Worker::new(runtime, listeners, index, crew, receiver) {
                    Ok(worker) => worker.run(),
                    Err(error) => log::error(&format!("cannot start worker {index}: {error}")),
                },
            )
            .map_err(|e| format!("cannot start worker: {e}"))?;
        threads.push(thread);
    }
    given.announce_ready();

    // The configuration in force: its log files are the ones SIGUSR1 reopens.
    let mut current = runtime;
    // A new binary started by SIGUSR2 and not serving yet, and until when it may take.
    let mut upgrading: Option<(upgrade::Upgrade, Instant)> = None;
    loop {
        let pending = upgrading.as_ref().map(|(u, until)| (&u.ready, *until));
        match next_event(&signals, pending).map_err(|e| format!("signals: {e}"))? {
            Event::Signal(sys::SIGUSR1) => reopen_logs(&current),
            Event::Signal(sys::SIGHUP) => {
                upgrade::notify("RELOADING=1");
                match reload(&config_path, worker_count, &listeners, &acme, &current) {
                    Ok((runtime, new_listeners)) => {
                        let runtime = Arc::new(runtime);
                        for index in 0..worker_count {
                            let share = listener::share(&new_listeners, worker_count, index);
                            crew.send(index, Control::Reload(Arc::clone(&runtime), share));
                        }
                        listeners = new_listeners;
                        current = runtime;
                        log::notice("configuration reloaded");
                    }
                    Err(message) => log::error(&format!(
                        "reload failed, keeping the old configuration: {message}"
                    )),
                }
                upgrade::notify("READY=1");
            }
            Event::Signal(sys::SIGUSR2) if upgrading.is_some() => {
                log::warn("binary upgrade already under way: SIGUSR2 ignored");
            }
            Event::Signal(sys::SIGUSR2) => match upgrade::start(&program, &listeners) {
                Ok(started) => {
                    log::notice(&format!(
                        "binary upgrade: started pid {}",
                        started.child.id()
                    ));
                    upgrading = Some((started, Instant::now() + upgrade::READY_WITHIN));
                }
                Err(error) => log::error(&format!("binary upgrade: cannot start: {error}")),
            },
            Event::Signal(_) => {
                log::notice("shutting down");
                break;
            }
            Event::Upgrade => {
                let Some((mut started, _)) = upgrading.take() else {
                    continue;
                };
                if upgrade::outcome(&started) {
                    log::notice(&format!(
                        "binary upgrade: pid {} is serving; finishing the requests in flight",
                        started.child.id()
                    ));
                    // Left to run: when this process exits, it is re-parented.
                    drop(started);
                    break;
                }
                let status = started.child.wait();
                log::error(&format!(
                    "binary upgrade failed (the new server exited: {}); still serving",
                    status.map_or_else(|e| e.to_string(), |s| s.to_string())
                ));
            }
            Event::UpgradeTimedOut => {
                if let Some((mut started, _)) = upgrading.take() {
                    let _ = started.child.kill();
                    let _ = started.child.wait();
                    log::error(&format!(
                        "binary upgrade failed (pid {} not serving within {:?}, killed); still \
                         serving",
                        started.child.id(),
                        upgrade::READY_WITHIN
                    ));
                }
            }
        }
    }
    upgrade::notify("STOPPING=1");
    for index in 0..worker_count {
        crew.send(index, Control::Shutdown);
    }
    listeners.clear();
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
}

/// What the main thread wakes up for.
enum Event {
    Signal(i32),
    /// The new server of a binary upgrade is serving, or gone.
    Upgrade,
    UpgradeTimedOut,
}

/// Waits for a signal, or for the new server of an upgrade (`pending`: its pipe and until
/// when it may take).
fn next_event(
    signals: &sys::Signals,
    pending: Option<(&rustix::fd::OwnedFd, Instant)>,
) -> std::io::Result<Event> {
    use rustix::event::{PollFd, PollFlags, poll};
    let Some((ready, until)) = pending else {
        return signals.next().map(Event::Signal);
    };
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Event::UpgradeTimedOut);
        }
        let timeout = rustix::time::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: left.subsec_nanos().into(),
        };
        let mut fds = [
            PollFd::from_borrowed_fd(signals.fd(), PollFlags::IN),
            PollFd::new(ready, PollFlags::IN),
        ];
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
        if !fds[0].revents().is_empty() {
            return signals.next().map(Event::Signal);
        }
        if !fds[1].revents().is_empty() {
            return Ok(Event::Upgrade);
        }
    }
}

/// The startup line of a bound address: `listening on http://ADDR` (or `https://`).
fn listening(runtime: &Runtime, listener: &Bound) -> String {
    let scheme = if runtime.tls_for(listener.local).is_some() {
        "https"
    } else {
        "http"
    };
    format!("listening on {scheme}://{}", listener.local)
}

/// Every connection, file and pipe is a descriptor: allow as many as the hard limit permits
/// (the soft limit is often 1024), as nginx's `worker_rlimit_nofile` does.
fn raise_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let wanted = limit.maximum.map_or(65_536, |hard| hard.min(65_536));
    if limit.current.is_some_and(|soft| soft < wanted) {
        limit.current = Some(wanted);
        if let Err(error) = setrlimit(Resource::Nofile, limit) {
            log::warn(&format!("cannot raise the open file limit: {error}"));
        }
    }
}

/// SIGUSR1 (logrotate's `postrotate`): the access and error log files are opened again by
/// name, so that after a rename the next lines go to a new file. A file that cannot be opened
/// leaves its log writing where it did.
fn reopen_logs(runtime: &Runtime) {
    let mut failed = false;
    for (sink, target) in runtime.access_logs.iter().zip(&runtime.config.log_files) {
        if let Some(sink) = sink
            && let Err(error) = sink.reopen(target)
        {
            log::error(&format!("cannot reopen the access log: {error}"));
            failed = true;
        }
    }
    if let Err(error) = log::reopen_error_log(&runtime.config.error_log) {
        log::error(&format!("cannot reopen the error log: {error}"));
        failed = true;
    }
    if !failed {
        log::notice("log files reopened");
    }
}

fn reload(
    path: &std::path::Path,
    workers: usize,
    current: &[Bound],
    acme: &crate::acme::Service,
    runtime: &Runtime,
) -> Result<(Runtime, Vec<Bound>), String> {
    let config = config::load(path).map_err(|e| e.to_string())?;
    for warning in &config.warnings {
        log::warn(&warning.to_string());
    }
    let listeners = bind_all(&config, workers, current, &mut Inherited::default())?;
    let runtime = open_runtime(config, &listeners, acme, Some(runtime))?;
    for listener in &listeners {
        listener::defer_accept(listener, runtime.deferral(listener.local));
    }
    for listener in &listeners {
        if !current.iter().any(|l| l.configured == listener.configured) {
            log::announce(&listening(&runtime, listener));
        }
    }
    Ok((runtime, listeners))
}
