//! The only `unsafe` code in the crate: the process signal mask and `sigwait`, which rustix does
//! not wrap safely. Everything else (epoll, sockets, sendfile, pipes, pidfds) goes through
//! rustix's safe API.

use std::io;

pub const SIGHUP: i32 = libc::SIGHUP;
pub const SIGINT: i32 = libc::SIGINT;
pub const SIGTERM: i32 = libc::SIGTERM;

fn signal_set(signals: &[i32]) -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before any other use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t.
    if unsafe { libc::sigemptyset(&mut set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    for &signal in signals {
        // SAFETY: as above; an invalid signal number is reported through the return value.
        if unsafe { libc::sigaddset(&mut set, signal) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(set)
}

/// Blocks `signals` in the calling thread, and so in every thread it spawns afterwards, so that
/// they stay pending until [`wait_for_signal`] takes them. Child processes started through
/// `std::process::Command` get an empty mask again (std resets it before exec).
pub fn block_signals(signals: &[i32]) -> io::Result<()> {
    let set = signal_set(signals)?;
    // SAFETY: `set` is initialised; the old mask is not requested (null is allowed).
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Waits until one of `signals` (which must be blocked) is pending and returns its number.
pub fn wait_for_signal(signals: &[i32]) -> io::Result<i32> {
    let set = signal_set(signals)?;
    let mut signal: libc::c_int = 0;
    // SAFETY: both pointers are valid for the duration of the call.
    let rc = unsafe { libc::sigwait(&set, &mut signal) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(signal)
}

/// Makes a command's child start with no blocked signals. The server blocks SIGHUP, SIGINT and
/// SIGTERM in every thread (they are taken by `sigwait`), and a spawned process would inherit
/// that mask: a CGI script could then not be stopped with SIGTERM.
pub fn unblock_signals_in_child(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec, where only async-signal-safe
    // functions may be called; sigemptyset and pthread_sigmask (sigprocmask) are, and the
    // closure allocates nothing and touches no lock.
    unsafe {
        command.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(())
        });
    }
}
