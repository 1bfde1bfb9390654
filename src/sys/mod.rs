//! The only `unsafe` code in the crate: signal handlers, which rustix does not wrap safely,
//! replacing a shared descriptor in place ([`replace_fd`]), reading onto the end of a buffer
//! without zeroing it first ([`read_append`]), taking ownership of descriptors inherited at exec
//! ([`inherited_fd`]) and handing some to a new program ([`keep_across_exec`]), and
//! `TCP_DEFER_ACCEPT` ([`set_tcp_defer_accept`]), and a `String` of ASCII octets without a second
//! UTF-8 validation ([`ascii_string`]). Everything else (epoll, sockets, sendfile,
//! pipes, pidfds, inotify) goes through rustix's safe API.
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
pub const SIGUSR2: i32 = libc::SIGUSR2;

/// Sets `TCP_DEFER_ACCEPT` on a listening socket: a connection is handed to `accept` only once
/// its first data has arrived (or about `seconds` later without); 0 turns it off. rustix does
/// not wrap this option.
pub fn set_tcp_defer_accept(fd: BorrowedFd<'_>, seconds: u32) -> io::Result<()> {
    let value = libc::c_int::try_from(seconds).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `value`, which lives across the
    // call; the descriptor is borrowed, hence open.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes ownership of descriptor `raw`, inherited at exec (from systemd, or from the server
/// this one replaces). Err when it is not open. Call once per number, at startup, before
/// anything else of this process opens descriptors it could be confused with.
pub fn inherited_fd(raw: i32) -> io::Result<OwnedFd> {
    if raw < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {raw} is stdin, stdout or stderr"),
        ));
    }
    // SAFETY: F_GETFD reads the descriptor's flags and touches no memory.
    if unsafe { libc::fcntl(raw, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open (checked above) and was inherited, not opened by this
    // process: nothing else here owns it. The caller takes each number once.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

/// Makes the program `command` starts inherit `fds` (which stay close-on-exec here, so the CGI
/// scripts the workers start never get them): their close-on-exec flag is cleared between fork
/// and exec, in the child only.
pub fn keep_across_exec(command: &mut std::process::Command, fds: Vec<i32>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only fcntl, which is async-signal-safe, runs between fork and exec; `fds` is
    // moved into the closure and only read.
    unsafe {
        command.pre_exec(move || {
            for &fd in &fds {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

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

/// `octets` as a `String` when they are all ASCII (`None` otherwise): the request's short texts
/// (path, host, fields) are checked with `is_ascii`, a few instructions, where
/// `str::from_utf8` costs about eighty for the same dozen octets.
pub fn ascii_string(octets: &[u8]) -> Option<String> {
    if !octets.is_ascii() {
        return None;
    }
    let bytes = octets.to_vec();
    // SAFETY: every octet is ASCII, and ASCII is valid UTF-8.
    Some(unsafe { String::from_utf8_unchecked(bytes) })
}

/// Reads at most `max` bytes from `fd` onto the end of `buf`, into its spare capacity: nothing
/// is zeroed first (a backend's output is read in pieces of up to 32 KiB, most of which a small
/// response never fills). Returns how many bytes were read (0: end of input).
pub fn read_append(fd: BorrowedFd<'_>, buf: &mut Vec<u8>, max: usize) -> rustix::io::Result<usize> {
    buf.reserve(max);
    let len = buf.len();
    let spare = &mut buf.spare_capacity_mut()[..max];
    let (read, _) = rustix::io::read(fd, spare)?;
    let n = read.len();
    // SAFETY: `read` is the prefix of the spare capacity, starting at `len`, that the kernel
    // filled: the first `len + n` elements are initialized, and `len + n <= capacity`.
    unsafe { buf.set_len(len + n) };
    Ok(n)
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

    /// The descriptor that becomes readable when a signal arrived (for `poll`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        use rustix::fd::AsFd;
        self.read.as_fd()
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

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fd::AsFd;

    #[test]
    fn ascii_string_takes_ascii_only() {
        assert_eq!(ascii_string(b"/1k.html").as_deref(), Some("/1k.html"));
        assert_eq!(ascii_string(b"").as_deref(), Some(""));
        assert_eq!(ascii_string(b"\x7f\t a").as_deref(), Some("\x7f\t a"));
        assert_eq!(ascii_string("caf\u{e9}".as_bytes()), None);
        assert_eq!(ascii_string(b"a\xff"), None);
    }

    #[test]
    fn read_append_fills_spare_capacity_up_to_its_bound_and_no_further() {
        let (reader, writer) = pipe_with(PipeFlags::CLOEXEC).unwrap();
        rustix::io::write(&writer, b"0123456789").unwrap();
        let mut buf = b"ab".to_vec();
        assert_eq!(read_append(reader.as_fd(), &mut buf, 4).unwrap(), 4);
        assert_eq!(buf, b"ab0123");
        assert_eq!(read_append(reader.as_fd(), &mut buf, 100).unwrap(), 6);
        assert_eq!(buf, b"ab0123456789");
        drop(writer);
        assert_eq!(
            read_append(reader.as_fd(), &mut buf, 8).unwrap(),
            0,
            "the end"
        );
    }
}
