//! A child process behind an upstream (a CGI script): started with its stdin and stdout piped
//! (the pipes go to the upstream endpoint, non-blocking, into the worker's epoll) and its pidfd
//! (so its exit wakes the loop). Reaping never blocks; a child abandoned before its exit was seen
//! is killed and kept on its worker's orphan list ([`Processes`]) until it is reaped, so no child
//! is ever left a zombie.

use rustix::fd::OwnedFd;
use rustix::process::{Pid, PidfdFlags, pidfd_open};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A script no exchange waits for any more, until its exit is collected.
struct Orphan {
    child: Child,
    /// When its process group gets SIGKILL (None: already sent).
    kill_at: Option<Instant>,
}

/// Most children (scripts) one worker runs at once (orphans included); past it, requests for scripts get
/// 503 rather than the machine a fork bomb.
pub const MAX_RUNNING: usize = 128;

/// One worker's table of scripts: how many run, and the orphans not yet reaped. The worker owns
/// it (in its context) and each [`Process`] holds a handle, so that a process dropped anywhere
/// (a closed connection, a panic) hands its child to the table of the worker that started it.
#[derive(Clone, Default)]
pub struct Processes(Rc<Table>);

#[derive(Default)]
struct Table {
    /// Scripts started by this worker whose exit has not been collected.
    running: Cell<usize>,
    orphans: RefCell<Vec<Orphan>>,
}

impl Processes {
    /// Whether this worker already runs [`MAX_RUNNING`] scripts.
    pub fn at_capacity(&self) -> bool {
        self.0.running.get() >= MAX_RUNNING
    }

    fn started(&self) {
        self.0.running.set(self.0.running.get() + 1);
    }

    fn collected(&self) {
        self.0.running.set(self.0.running.get().saturating_sub(1));
    }

    fn adopt(&self, orphan: Orphan) {
        self.0.orphans.borrow_mut().push(orphan);
    }

    /// Kills the orphans whose time is up and collects the exit of those that have exited.
    /// Returns whether some are still running.
    #[inline]
    pub fn reap_orphans(&self) -> bool {
        // Most batches have none: no clock read, no call.
        if self.0.orphans.borrow().is_empty() {
            return false;
        }
        self.reap()
    }

    fn reap(&self) -> bool {
        let mut orphans = self.0.orphans.borrow_mut();
        let now = Instant::now();
        orphans.retain_mut(|orphan| {
            if orphan.kill_at.is_some_and(|at| at <= now) {
                kill_group(&mut orphan.child);
                orphan.kill_at = None;
            }
            let running = matches!(orphan.child.try_wait(), Ok(None));
            if !running {
                self.collected();
            }
            running
        });
        !orphans.is_empty()
    }
}

/// SIGKILL to the script's process group: the script and whatever it started.
fn kill_group(child: &mut Child) {
    let pid = Pid::from_child(child);
    if rustix::process::kill_process_group(pid, rustix::process::Signal::KILL).is_err() {
        let _ = child.kill();
    }
}

/// Where a child's stdin comes from.
pub enum Stdin {
    /// A pipe the upstream writes the request body into.
    Pipe,
    /// A spooled body, already complete.
    File(File),
    /// No body.
    Empty,
}

/// A started child: the process, and its stdin (with [`Stdin::Pipe`]) and stdout pipes,
/// non-blocking, for the upstream endpoint to own.
pub struct Spawned {
    pub process: Process,
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
}

/// A child process and its pidfd; killed (its whole process group) and handed to its worker's
/// table when dropped before its exit was collected.
pub struct Process {
    /// The table of the worker that started it.
    table: Processes,
    /// Always Some until Drop hands an unreaped child to the orphan list.
    child: Option<Child>,
    pidfd: Option<OwnedFd>,
    exit: Option<ExitStatus>,
}

impl Process {
    /// Starts `command` (which must put the child in its own process group: killing the group
    /// stops whatever it started) with its stdout piped and `stdin` and `stderr` as given. An
    /// exec failure (missing interpreter, not executable) is reported here, by
    /// `Command::spawn`.
    pub fn spawn(
        mut command: Command,
        stdin: Stdin,
        stderr: File,
        processes: &Processes,
    ) -> io::Result<Spawned> {
        command.stdout(Stdio::piped()).stderr(Stdio::from(stderr));
        command.stdin(match stdin {
            Stdin::Pipe => Stdio::piped(),
            Stdin::File(file) => Stdio::from(file),
            Stdin::Empty => Stdio::null(),
        });
        let mut child = command.spawn()?;
        processes.started();
        let pid = Pid::from_child(&child);
        let stdin = child.stdin.take().map(OwnedFd::from);
        let stdout = child.stdout.take().map(OwnedFd::from);
        let mut process = Process {
            table: processes.clone(),
            pidfd: None,
            child: Some(child),
            exit: None,
        };
        // From here on, dropping `process` kills and reaps the child on any error.
        process.pidfd = Some(pidfd_open(pid, PidfdFlags::empty())?);
        let stdout = stdout.ok_or_else(|| io::Error::other("no stdout pipe"))?;
        rustix::io::ioctl_fionbio(&stdout, true)?;
        if let Some(stdin) = &stdin {
            rustix::io::ioctl_fionbio(stdin, true)?;
        }
        Ok(Spawned {
            process,
            stdin,
            stdout,
        })
    }

    /// The pidfd, readable (level-triggered) once the child has exited; None once reaped.
    pub fn pidfd(&self) -> Option<&OwnedFd> {
        self.pidfd.as_ref()
    }

    /// The exit status, once the child has exited (collected without blocking).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none()
            && let Some(child) = &mut self.child
            && let Ok(Some(status)) = child.try_wait()
        {
            self.exit = Some(status);
            self.table.collected();
            // Level-triggered: a reaped child's pidfd would report readable forever.
            self.pidfd = None;
        }
        self.exit
    }
}

impl Process {
    /// The exchange is complete but the script still runs (it closed its output and went on):
    /// it may finish within `grace`, then its process group is killed.
    pub fn release(&mut self, grace: Duration) {
        if self.exit_status().is_some() {
            return;
        }
        if let Some(child) = self.child.take() {
            let orphan = Orphan {
                child,
                kill_at: Some(Instant::now() + grace),
            };
            self.table.adopt(orphan);
        }
        // Level-triggered, and no longer ours to watch: the worker reaps the orphan.
        self.pidfd = None;
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exit_status().is_some() {
            return;
        }
        // Abandoned while running (client gone, timeout, error): stop it, and let the worker
        // collect its exit.
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
            if matches!(child.try_wait(), Ok(None)) {
                let orphan = Orphan {
                    child,
                    kill_at: None,
                };
                self.table.adopt(orphan);
            } else {
                self.table.collected();
            }
        }
    }
}
