//! The running server: binds the listeners, starts the workers, and turns signals into
//! reloads and shutdowns. `worker` is the event loop (each client connection is a `protocol`
//! session), `runtime` what a worker serves with.

mod listener;
mod runtime;
mod worker;

use crate::config::{self, Config};
use crate::log;
use crate::sys;
use listener::Listener;
pub use runtime::Runtime;
use rustix::event::{EventfdFlags, eventfd};
use rustix::fd::OwnedFd;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use worker::{Control, Worker};

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
fn bind_all(config: &Config, current: &[Arc<Listener>]) -> Result<Vec<Arc<Listener>>, String> {
    let mut kept: HashMap<SocketAddr, Arc<Listener>> = current
        .iter()
        .map(|l| (l.configured, Arc::clone(l)))
        .collect();
    let mut listeners = Vec::new();
    for addr in addresses(config) {
        match kept.remove(&addr) {
            Some(listener) => listeners.push(listener),
            None => match listener::bind(addr) {
                Ok(listener) => listeners.push(Arc::new(listener)),
                Err(error) => return Err(format!("cannot listen on {addr}: {error}")),
            },
        }
    }
    Ok(listeners)
}

fn open_runtime(
    config: Config,
    listeners: &[Arc<Listener>],
    acme: &crate::acme::Service,
) -> Result<Runtime, String> {
    let access_log = log::Sink::open(&config.access_log)
        .map_err(|e| format!("cannot open the access log: {e}"))?;
    let error_log = log::Sink::open(&config.error_log)
        .map_err(|e| format!("cannot open the error log: {e}"))?;
    if let Some(sink) = error_log {
        log::set_error_log(sink);
    }
    log::set_level(config.error_log_level);
    sweep_upload_stores(&config);
    acme.configure(&config)?;
    Runtime::new(config, listeners, access_log, acme)
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

struct WorkerHandle {
    wake: Arc<OwnedFd>,
    messages: Sender<Control>,
    thread: JoinHandle<()>,
}

impl WorkerHandle {
    fn send(&self, message: Control) {
        if self.messages.send(message).is_ok() {
            let _ = rustix::io::write(&*self.wake, &1u64.to_ne_bytes());
        }
    }
}

/// Serves `config` until SIGINT or SIGTERM. Errors (an address that cannot be bound, a log that
/// cannot be opened) are returned before anything is served.
pub fn run(config: Config) -> Result<(), String> {
    let signals = sys::Signals::catch(&[sys::SIGHUP, sys::SIGINT, sys::SIGTERM, sys::SIGUSR1])
        .map_err(|e| format!("cannot catch signals: {e}"))?;

    raise_file_limit();
    crate::fault::init();
    worker::log_panics();
    let mut listeners = bind_all(&config, &[])?;
    let worker_count = config.workers.max(1);
    let config_path = config.path.clone();
    // Certificates from ACME, kept across reloads.
    let acme = crate::acme::Service::new();
    let runtime = Arc::new(open_runtime(config, &listeners, &acme)?);
    for listener in &listeners {
        log::announce(&listening(&runtime, listener));
    }

    let mut workers = Vec::with_capacity(worker_count);
    for index in 0..worker_count {
        let wake = Arc::new(
            eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
                .map_err(|e| format!("eventfd: {e}"))?,
        );
        let (sender, receiver) = mpsc::channel();
        let (runtime, listeners, worker_wake) =
            (Arc::clone(&runtime), listeners.clone(), Arc::clone(&wake));
        // The epoll instance is created on the worker's own thread: it never moves.
        let thread = std::thread::Builder::new()
            .name(format!("worker-{index}"))
            .spawn(
                move || match Worker::new(runtime, listeners, worker_wake, receiver) {
                    Ok(worker) => worker.run(),
                    Err(error) => log::error(&format!("cannot start worker {index}: {error}")),
                },
            )
            .map_err(|e| format!("cannot start worker: {e}"))?;
        workers.push(WorkerHandle {
            wake,
            messages: sender,
            thread,
        });
    }

    // The configuration in force: its log files are the ones SIGUSR1 reopens.
    let mut current = runtime;
    loop {
        let signal = signals.next().map_err(|e| format!("signals: {e}"))?;
        if signal == sys::SIGUSR1 {
            reopen_logs(&current);
            continue;
        }
        if signal == sys::SIGHUP {
            match reload(&config_path, &listeners, &acme) {
                Ok((runtime, new_listeners)) => {
                    let runtime = Arc::new(runtime);
                    for worker in &workers {
                        worker.send(Control::Reload(Arc::clone(&runtime), new_listeners.clone()));
                    }
                    listeners = new_listeners;
                    current = runtime;
                    log::notice("configuration reloaded");
                }
                Err(message) => log::error(&format!(
                    "reload failed, keeping the old configuration: {message}"
                )),
            }
            continue;
        }
        log::notice("shutting down");
        for worker in &workers {
            worker.send(Control::Shutdown);
        }
        listeners.clear();
        for worker in workers {
            let _ = worker.thread.join();
        }
        return Ok(());
    }
}

/// The startup line of a bound address: `listening on http://ADDR` (or `https://`).
fn listening(runtime: &Runtime, listener: &Listener) -> String {
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
    if let Some(sink) = &runtime.access_log
        && let Err(error) = sink.reopen(&runtime.config.access_log)
    {
        log::error(&format!("cannot reopen the access log: {error}"));
        failed = true;
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
    current: &[Arc<Listener>],
    acme: &crate::acme::Service,
) -> Result<(Runtime, Vec<Arc<Listener>>), String> {
    let config = config::load(path).map_err(|e| e.to_string())?;
    for warning in &config.warnings {
        log::warn(&warning.to_string());
    }
    let listeners = bind_all(&config, current)?;
    let runtime = open_runtime(config, &listeners, acme)?;
    for listener in &listeners {
        if !current.iter().any(|l| Arc::ptr_eq(l, listener)) {
            log::announce(&listening(&runtime, listener));
        }
    }
    Ok((runtime, listeners))
}
