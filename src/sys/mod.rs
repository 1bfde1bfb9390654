//! The only `unsafe` code in the crate: signal handlers, which rustix does not wrap safely.
//! Everything else (epoll, sockets, sendfile, pipes, pidfds, inotify) goes through rustix's
//! safe API.
//!
//! SIGHUP, SIGINT and SIGTERM are caught by a handler that writes the signal's number into a
//! pipe; the main thread reads the pipe. No thread blocks a signal, so the CGI scripts the
//! workers start inherit an empty signal mask (and default dispositions: handlers do not survive
//! exec), with no work between fork and exec.

use rustix::fd::{AsRawFd, OwnedFd};
use rustix::pipe::{PipeFlags, pipe_with};
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

pub const SIGHUP: i32 = libc::SIGHUP;
pub const SIGINT: i32 = libc::SIGINT;
pub const SIGTERM: i32 = libc::SIGTERM;

/// The write end of the signal pipe, for the handler (-1 until installed).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let byte = signal as u8;
    // SAFETY: errno is thread-local and may be read and restored in a handler; write(2) is
    // async-signal-safe, and `byte` lives for the duration of the call. A full pipe (signals
    // arriving faster than they are read) drops the byte: the pipe is non-blocking.
    unsafe {
        let errno = *libc::__errno_location();
        libc::write(fd, (&byte as *const u8).cast(), 1);
        *libc::__errno_location() = errno;
    }
}

/// Signals delivered through a pipe.
pub struct Signals {
    read: OwnedFd,
    _write: OwnedFd,
}

impl Signals {
    /// Installs the handler for `signals`. Call once, before other threads start.
    pub fn catch(signals: &[i32]) -> io::Result<Signals> {
        let (read, write) = pipe_with(PipeFlags::CLOEXEC)?;
        rustix::io::ioctl_fionbio(&write, true)?;
        SIGNAL_PIPE.store(write.as_raw_fd(), Ordering::Relaxed);
        for &signal in signals {
            // SAFETY: sigaction is plain data, zero-initialised then filled; the handler only
            // calls async-signal-safe functions; SA_RESTART keeps other threads' system calls
            // from failing with EINTR.
            let rc = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut())
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(Signals {
            read,
            _write: write,
        })
    }

    /// Waits for the next signal and returns its number.
    pub fn next(&self) -> io::Result<i32> {
        let mut byte = [0u8; 1];
        loop {
            match rustix::io::read(&self.read, &mut byte) {
                Ok(1) => return Ok(i32::from(byte[0])),
                Ok(_) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Err(rustix::io::Errno::INTR) => continue,
                Err(error) => return Err(error.into()),
            }
        }
    }
}
