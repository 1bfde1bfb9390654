//! Restarts without a gap: listening sockets received at startup, the binary upgrade, and
//! telling systemd how the service is doing.
//!
//! - **systemd socket activation**: `LISTEN_PID` (this process) and `LISTEN_FDS=N` give the
//!   sockets 3 .. 3+N of a `.socket` unit; each serves the configured `listen` address it is bound
//!   to. systemd keeps them open across restarts, so connections wait in their backlog meanwhile.
//! - **Binary upgrade** (SIGUSR2, as nginx's): the running server starts the program file it was
//!   started from (a new build in its place) with the same arguments and its listening sockets
//!   inherited, named in `WEBSERV_LISTENERS` (`FD@CONFIGURED,...`), and a pipe in
//!   `WEBSERV_UPGRADE_READY`. The new server reads its configuration, takes those sockets instead
//!   of binding, starts its workers and writes one byte to the pipe; only then does the old one
//!   stop accepting, finish what is in flight and exit 0. The sockets are never closed, so no
//!   connection is refused or lost in between. If the new one fails (a bad configuration, a
//!   binary that does not start) or is not ready within [`READY_WITHIN`], the old one logs why and
//!   goes on serving.
//! - **sd_notify**: with `NOTIFY_SOCKET` set (`Type=notify`), `READY=1` once serving,
//!   `RELOADING=1` / `READY=1` around a reload, `STOPPING=1` at shutdown, and from an upgraded
//!   server `MAINPID=` its own pid, so that systemd follows the new process (`NotifyAccess=all`).

use super::listener::{Bound, Inherited, local_address};
use crate::log;
use crate::sys;
use rustix::fd::{AsRawFd, OwnedFd};
use rustix::net::{self, AddressFamily, SocketType};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

/// How long a new binary may take to be serving before the old one gives up on it.
pub const READY_WITHIN: Duration = Duration::from_secs(30);

const LISTENERS: &str = "WEBSERV_LISTENERS";
const READY: &str = "WEBSERV_UPGRADE_READY";
/// systemd passes sockets from this descriptor on.
const SD_LISTEN_FDS_START: i32 = 3;

/// What this process was given at exec.
pub struct Given {
    pub listeners: Inherited,
    /// The pipe to tell the server this one replaces that it is serving.
    ready: Option<OwnedFd>,
}

/// The listening sockets this process was given: by the server it replaces, else by systemd.
/// Descriptors that are not listening TCP sockets are refused by number.
pub fn inherited() -> Result<Given, String> {
    let ready = match std::env::var(READY) {
        Ok(raw) => {
            let fd = raw
                .parse()
                .map_err(|_| format!("invalid {READY}: \"{raw}\""))
                .and_then(|raw| sys::inherited_fd(raw).map_err(|e| format!("{READY}: {e}")))?;
            // Not for the CGI scripts this server starts.
            rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)
                .map_err(|e| format!("{READY}: {e}"))?;
            Some(fd)
        }
        Err(_) => None,
    };
    let mut out = Inherited::default();
    let given: Vec<(i32, Option<SocketAddr>)> = if let Ok(list) = std::env::var(LISTENERS) {
        parse_listeners(&list).ok_or_else(|| format!("invalid {LISTENERS}: \"{list}\""))?
    } else {
        systemd_fds()?.into_iter().map(|fd| (fd, None)).collect()
    };
    let mut seen = Vec::new();
    for (raw, configured) in given {
        if seen.contains(&raw) {
            return Err(format!("descriptor {raw} is given twice"));
        }
        seen.push(raw);
        let fd = sys::inherited_fd(raw).map_err(|e| format!("inherited descriptor {raw}: {e}"))?;
        let local = listening_tcp(&fd).map_err(|e| {
            format!("inherited descriptor {raw} is not a listening TCP socket: {e}")
        })?;
        out.sockets.push((fd, local, configured));
    }
    Ok(Given {
        listeners: out,
        ready,
    })
}

/// `3@127.0.0.1:8080,4@[::1]:0`: descriptors and the configured address each served.
fn parse_listeners(list: &str) -> Option<Vec<(i32, Option<SocketAddr>)>> {
    list.split(',')
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (fd, addr) = item.split_once('@')?;
            Some((fd.parse().ok()?, Some(addr.parse().ok()?)))
        })
        .collect()
}

/// The descriptors systemd passed, if it passed them to this process.
fn systemd_fds() -> Result<Vec<i32>, String> {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|pid| pid.parse::<u32>().ok())
        == Some(std::process::id());
    if !for_us {
        return Ok(Vec::new());
    }
    let count = std::env::var("LISTEN_FDS").unwrap_or_default();
    let count: i32 = count
        .parse()
        .ok()
        .filter(|n| (0..=1024).contains(n))
        .ok_or_else(|| format!("invalid LISTEN_FDS: \"{count}\""))?;
    Ok((SD_LISTEN_FDS_START..SD_LISTEN_FDS_START + count).collect())
}

/// The bound address of a listening IPv4 or IPv6 stream socket.
fn listening_tcp(fd: &OwnedFd) -> io::Result<SocketAddr> {
    let domain = net::sockopt::socket_domain(fd)?;
    let stream = net::sockopt::socket_type(fd)? == SocketType::STREAM;
    let listening = net::sockopt::socket_acceptconn(fd)?;
    if !(stream && listening && (domain == AddressFamily::INET || domain == AddressFamily::INET6)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a listening TCP socket",
        ));
    }
    local_address(fd)
}

/// Logs the inherited sockets that no configured address took: they are closed (the giver,
/// systemd or the old server, keeps its own copy).
pub fn report_unused(inherited: Inherited) {
    for (_, local, _) in inherited.sockets {
        log::warn(&format!(
            "inherited socket {local} is not in the configuration: closed"
        ));
    }
}

/// The program file and arguments this process was started with: what an upgrade runs again.
/// Taken at startup, before a new build may replace the file (the path then names the new one).
pub struct Program {
    exe: PathBuf,
    args: Vec<std::ffi::OsString>,
}

impl Program {
    pub fn current() -> Program {
        let exe = std::env::current_exe()
            .unwrap_or_else(|_| PathBuf::from(std::env::args_os().next().unwrap_or_default()));
        Program {
            exe,
            args: std::env::args_os().skip(1).collect(),
        }
    }
}

/// A new binary started by SIGUSR2, not yet serving.
pub struct Upgrade {
    pub child: Child,
    /// Readable when the new server is serving (one byte) or gone (end of file).
    pub ready: OwnedFd,
}

/// Starts `program` again with the listening sockets of `bound` inherited.
pub fn start(program: &Program, bound: &[Bound]) -> io::Result<Upgrade> {
    let (ready, ready_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let mut fds = Vec::new();
    let mut listeners = Vec::new();
    for address in bound {
        for socket in &address.sockets {
            let raw = socket.fd.as_raw_fd();
            fds.push(raw);
            listeners.push(format!("{raw}@{}", address.configured));
        }
    }
    fds.push(ready_write.as_raw_fd());
    let mut command = Command::new(&program.exe);
    command
        .args(&program.args)
        .env(LISTENERS, listeners.join(","))
        .env(READY, ready_write.as_raw_fd().to_string())
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_FDNAMES");
    sys::keep_across_exec(&mut command, fds);
    let child = command.spawn()?;
    // Only the child holds the write end now: its exit, ready or not, ends the pipe.
    drop(ready_write);
    Ok(Upgrade { child, ready })
}

/// What the pipe of an upgrade said: the new server is serving, or it is gone.
pub fn outcome(upgrade: &Upgrade) -> bool {
    let mut byte = [0u8; 1];
    matches!(rustix::io::read(&upgrade.ready, &mut byte), Ok(1))
}

impl Given {
    /// Called once this server is serving: tells the server it replaces (if any), and
    /// systemd.
    pub fn announce_ready(&mut self) {
        match self.ready.take() {
            Some(fd) => {
                // systemd first: it must know the new main pid before the old one exits.
                notify(&format!("MAINPID={}\nREADY=1", std::process::id()));
                let _ = rustix::io::write(&fd, b"1");
            }
            None => notify("READY=1"),
        }
    }
}

/// Sends `state` to systemd's notification socket, when there is one (`Type=notify`).
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let address = match bytes.strip_prefix(b"@") {
        Some(name) => net::SocketAddrUnix::new_abstract_name(name),
        None => net::SocketAddrUnix::new(bytes),
    };
    let sent = address.and_then(|address| {
        let socket = net::socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            net::SocketFlags::CLOEXEC,
            None,
        )?;
        net::sendto(&socket, state.as_bytes(), net::SendFlags::empty(), &address)
    });
    if let Err(error) = sent {
        log::warn(&format!("sd_notify: {error}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listener_list_names_descriptors_and_configured_addresses() {
        assert_eq!(
            parse_listeners("3@127.0.0.1:8080,4@[::1]:0"),
            Some(vec![
                (3, Some("127.0.0.1:8080".parse().unwrap())),
                (4, Some("[::1]:0".parse().unwrap())),
            ])
        );
        assert_eq!(parse_listeners(""), Some(vec![]));
        for bad in [
            "3",
            "x@127.0.0.1:1",
            "3@localhost:1",
            "3@127.0.0.1",
            "3@1.2.3.4:5,,@",
        ] {
            assert_eq!(parse_listeners(bad), None, "{bad}");
        }
    }
}
