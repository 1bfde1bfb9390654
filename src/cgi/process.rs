//! A running script: the child process, its stdin and stdout pipes (non-blocking, in the
//! worker's epoll) and its pidfd (so its exit wakes the loop). Reaping never blocks; a script
//! abandoned before its exit was seen is killed and kept on its worker's orphan list
//! ([`Processes`]) until it is reaped, so no child is ever left a zombie.

use super::Script;
use crate::event::{Kind, Poller, Token};
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

/// Most scripts one worker runs at once (orphans included); past it, requests for scripts get
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
    pub fn reap_orphans(&self) -> bool {
        let now = Instant::now();
        let mut orphans = self.0.orphans.borrow_mut();
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

/// Where the script's stdin comes from.
pub enum Stdin {
    /// A pipe the connection writes the request body into.
    Pipe,
    /// A spooled body, already complete.
    File(File),
    /// No body.
    Empty,
}

pub struct Process {
    /// The table of the worker that started it.
    table: Processes,
    /// Always Some until Drop hands an unreaped child to the orphan list.
    child: Option<Child>,
    pidfd: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    pub stdin_writable: bool,
    pub stdout_readable: bool,
    exit: Option<ExitStatus>,
}

impl Process {
    /// Starts `script` with `env`; its pipes and pidfd are registered with `poller` under the
    /// connection's slot and generation. An exec failure (missing interpreter, not executable)
    /// is reported here, by `Command::spawn`.
    #[allow(clippy::too_many_arguments)] // until the upstream endpoint takes the registration
    pub fn spawn(
        script: &Script,
        env: &[(String, String)],
        stdin: Stdin,
        stderr: File,
        processes: &Processes,
        poller: &Poller,
        slot: u32,
        generation: u32,
    ) -> io::Result<Process> {
        let mut command = match &script.interpreter {
            Some(interpreter) => {
                let mut command = Command::new(interpreter);
                command.arg(&script.file);
                command
            }
            None => Command::new(&script.file),
        };
        if let Some(dir) = script.file.parent() {
            command.current_dir(dir);
        }
        command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        // Its own process group, so that killing it also stops what it started.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command.stdout(Stdio::piped()).stderr(Stdio::from(stderr));
        command.stdin(match stdin {
            Stdin::Pipe => Stdio::piped(),
            Stdin::File(file) => Stdio::from(file),
            Stdin::Empty => Stdio::null(),
        });
        let mut child = command.spawn()?;
        processes.started();
        let pid = Pid::from_child(&child);
        let mut process = Process {
            table: processes.clone(),
            pidfd: None,
            stdin: child.stdin.take().map(OwnedFd::from),
            stdout: child.stdout.take().map(OwnedFd::from),
            child: Some(child),
            stdin_writable: false,
            stdout_readable: false,
            exit: None,
        };
        // From here on, dropping `process` kills and reaps the child on any error.
        let pidfd = pidfd_open(pid, PidfdFlags::empty())?;
        poller.add_readable(&pidfd, Token::new(Kind::CgiExit, slot, generation))?;
        process.pidfd = Some(pidfd);
        if let Some(stdout) = &process.stdout {
            rustix::io::ioctl_fionbio(stdout, true)?;
            poller.add(stdout, Token::new(Kind::CgiStdout, slot, generation))?;
        }
        if let Some(stdin) = &process.stdin {
            rustix::io::ioctl_fionbio(stdin, true)?;
            poller.add(stdin, Token::new(Kind::CgiStdin, slot, generation))?;
        }
        Ok(process)
    }

    pub fn has_stdin(&self) -> bool {
        self.stdin.is_some()
    }

    /// Ends the request body: the script reads end of file.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Writes body bytes to the script. Ok(0) when the pipe is full (not writable now).
    /// An error (EPIPE: the script stopped reading) closes stdin.
    pub fn write_stdin(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(stdin) = &self.stdin else {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        };
        if !self.stdin_writable {
            return Ok(0);
        }
        match rustix::io::write(stdin, data) {
            Ok(n) => Ok(n),
            Err(rustix::io::Errno::AGAIN) => {
                self.stdin_writable = false;
                Ok(0)
            }
            Err(rustix::io::Errno::INTR) => Ok(0),
            Err(error) => {
                self.stdin = None;
                Err(error.into())
            }
        }
    }

    /// Reads script output into `buf` (appending at most `max` bytes).
    /// Ok(Some(0)) is end of output; Ok(None): nothing available now.
    pub fn read_stdout(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<Option<usize>> {
        let Some(stdout) = &self.stdout else {
            return Ok(Some(0));
        };
        if !self.stdout_readable {
            return Ok(None);
        }
        let start = buf.len();
        buf.resize(start + max, 0);
        let result = rustix::io::read(stdout, &mut buf[start..]);
        let n = *result.as_ref().unwrap_or(&0);
        buf.truncate(start + n);
        match result {
            Ok(0) => {
                self.stdout = None;
                Ok(Some(0))
            }
            Ok(n) => Ok(Some(n)),
            Err(rustix::io::Errno::AGAIN) => {
                self.stdout_readable = false;
                Ok(None)
            }
            Err(rustix::io::Errno::INTR) => Ok(None),
            Err(error) => {
                self.stdout = None;
                Err(error.into())
            }
        }
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
