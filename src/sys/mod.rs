//! The only `unsafe` code in the crate: signal handlers, which rustix does not wrap safely,
//! replacing a shared descriptor in place ([`replace_fd`]), and a bounded read into a vector's
//! spare capacity ([`read_onto`]). Everything else (epoll, sockets,
//! sendfile, pipes, pidfds, inotify) goes through rustix's safe API.
//!
//! SIGHUP, SIGINT, SIGTERM and SIGUSR1 are caught by a handler that writes the signal's number into a
//! pipe; the main thread reads the pipe. No thread blocks a signal, so the CGI scripts the
//! workers start inherit an empty signal mask (and default dispositions: handlers do not survive
//! exec), with no work between fork and exec.

use rustix::fd::{AsRawFd, BorrowedFd, OwnedFd};
use rustix::pipe::{PipeFlags, pipe_with};
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

pub const SIGHUP: i32 = libc::SIGHUP;
pub const SIGINT: i32 = libc::SIGINT;
pub const SIGTERM: i32 = libc::SIGTERM;
pub const SIGUSR1: i32 = libc::SIGUSR1;

/// Makes `target` refer to the open file of `source` (`dup3`, close-on-exec), atomically: a
/// concurrent write on `target` goes whole to the old file or whole to the new one. The old
/// open file is released once no other descriptor refers to it. rustix's safe `dup2` wants the
/// target as `&mut OwnedFd`; the log files are shared by every worker, so only a borrow exists.
pub fn replace_fd(source: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    if source.as_raw_fd() == target.as_raw_fd() {
        return Ok(());
    }
    // SAFETY: both descriptors are open for the duration of the call (they are borrowed).
    // dup3 closes and reuses `target`'s number in one step, so the number never refers to
    // anything but an open file: its owner (a `File` held elsewhere) still owns an open
    // descriptor, now onto the new file, and closes it as usual when dropped.
    let rc = unsafe { libc::dup3(source.as_raw_fd(), target.as_raw_fd(), libc::O_CLOEXEC) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

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

/// Reads from `fd` onto the end of `buf`, at most `max` bytes, into the spare capacity the
/// caller reserved: nothing is zero-filled first, and no more than `max` lands (rustix's
/// `spare_capacity` would fill all of it). Ok(0) is the end of the input.
pub fn read_onto(fd: BorrowedFd<'_>, buf: &mut Vec<u8>, max: usize) -> rustix::io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let limit = max.min(spare.len());
    let (filled, _) = rustix::io::read(fd, &mut spare[..limit])?;
    let n = filled.len();
    // SAFETY: read(2) initialised the first `n` bytes of the spare capacity (rustix hands them
    // back as an initialised slice), and `n <= limit <= capacity - len`.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fd::AsFd;

    #[test]
    fn read_onto_fills_spare_capacity_up_to_its_bound_and_no_further() {
        let (reader, writer) = pipe_with(PipeFlags::CLOEXEC).unwrap();
        rustix::io::write(&writer, b"0123456789").unwrap();
        let mut buf = b"ab".to_vec();
        buf.reserve(64);
        assert_eq!(read_onto(reader.as_fd(), &mut buf, 4).unwrap(), 4);
        assert_eq!(buf, b"ab0123");
        assert_eq!(read_onto(reader.as_fd(), &mut buf, 100).unwrap(), 6);
        assert_eq!(buf, b"ab0123456789");
        // No spare capacity: nothing is read (and nothing lost).
        buf.shrink_to_fit();
        rustix::io::write(&writer, b"z").unwrap();
        if buf.capacity() == buf.len() {
            assert_eq!(read_onto(reader.as_fd(), &mut buf, 10).unwrap(), 0);
        }
        buf.reserve(1);
        assert_eq!(read_onto(reader.as_fd(), &mut buf, 10).unwrap(), 1);
        assert_eq!(buf, b"ab0123456789z");
        drop(writer);
        buf.reserve(8);
        assert_eq!(
            read_onto(reader.as_fd(), &mut buf, 8).unwrap(),
            0,
            "the end"
        );
    }
}
