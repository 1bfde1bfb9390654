//! Listening sockets: bound once by the main thread, before any worker starts, and shared by
//! every worker (each registers them in its own epoll with EPOLLEXCLUSIVE). No SO_REUSEPORT, so
//! a second process can never silently share one of our ports.

use rustix::fd::OwnedFd;
use rustix::net::{self, AddressFamily, SocketFlags, SocketType};
use std::io;
use std::net::SocketAddr;

/// Pending connections the kernel may queue for us.
const BACKLOG: i32 = 1024;

pub struct Listener {
    pub fd: OwnedFd,
    /// The address as configured (port 0 stays 0: that is how a reload recognises it).
    pub configured: SocketAddr,
    /// The address actually bound.
    pub local: SocketAddr,
}

/// Binds and listens on `addr`, non-blocking.
pub fn bind(addr: SocketAddr) -> io::Result<Listener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    // Allows a restart while old connections sit in TIME_WAIT; does not allow two listeners.
    net::sockopt::set_socket_reuseaddr(&fd, true)?;
    if addr.is_ipv6() {
        // `[::]:80` and `0.0.0.0:80` are separate addresses in the config, so keep them separate.
        net::sockopt::set_ipv6_v6only(&fd, true)?;
    }
    net::bind(&fd, &addr)?;
    net::listen(&fd, BACKLOG)?;
    let local = SocketAddr::try_from(net::getsockname(&fd)?)
        .map_err(|_| io::Error::other("listening socket has no inet address"))?;
    Ok(Listener {
        fd,
        configured: addr,
        local,
    })
}
