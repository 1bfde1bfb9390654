//! Listening sockets: bound by the main thread before any worker starts, and which worker
//! accepts on which.
//!
//! Each configured address gets one socket per worker, all bound with `SO_REUSEPORT`, so the
//! kernel spreads new connections over the workers by the hash of their addresses and no worker
//! wakes for another's connection. `SO_REUSEPORT` would also let any other socket of the same
//! user with the option join the group, and so a second webserv would share the port silently;
//! the contract forbids that, so [`bind_all`] checks, before binding and again once listening,
//! that every listening socket on the address (read from `/proc/net/tcp` and `tcp6`) is one of
//! this process's own. Where that check cannot be made (no `/proc`), an address gets a single
//! socket without `SO_REUSEPORT`, shared by every worker (registered with EPOLLEXCLUSIVE): the
//! kernel then refuses a second listener itself.
//!
//! Sockets received from a parent (a binary upgrade) or from systemd come in through
//! [`Inherited`] and are taken before anything is bound.

use crate::event::Sharing;
use rustix::fd::{AsFd, OwnedFd};
use rustix::net::{self, AddressFamily, SocketFlags, SocketType};
use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Pending connections the kernel may queue for each socket.
const BACKLOG: i32 = 1024;

pub struct Listener {
    pub fd: OwnedFd,
    /// The address as configured (port 0 stays 0: that is how a reload recognises it).
    pub configured: SocketAddr,
    /// The address actually bound.
    pub local: SocketAddr,
}

/// The sockets of one configured address.
#[derive(Clone)]
pub struct Bound {
    pub configured: SocketAddr,
    pub local: SocketAddr,
    /// One per worker (or more, inherited); a single one when the address is shared.
    pub sockets: Vec<Arc<Listener>>,
}

/// The sockets worker `index` of `workers` accepts on: its own of each address (sockets are
/// dealt out in turn, so a worker may get two when more were inherited than there are workers),
/// or every socket of an address that has fewer sockets than workers.
pub fn share(bound: &[Bound], workers: usize, index: usize) -> Vec<(Arc<Listener>, Sharing)> {
    let mut out = Vec::new();
    for address in bound {
        if address.sockets.len() >= workers.max(1) {
            out.extend(
                address
                    .sockets
                    .iter()
                    .skip(index)
                    .step_by(workers.max(1))
                    .map(|s| (Arc::clone(s), Sharing::Own)),
            );
        } else {
            out.extend(
                address
                    .sockets
                    .iter()
                    .map(|s| (Arc::clone(s), Sharing::Shared)),
            );
        }
    }
    out
}

/// Listening sockets this process did not bind itself, each with its bound address and, when
/// the giver said so, the configured address it served (a binary upgrade passes it, so that a
/// `listen ...:0` finds its socket again).
#[derive(Default)]
pub struct Inherited {
    pub sockets: Vec<(OwnedFd, SocketAddr, Option<SocketAddr>)>,
}

impl Inherited {
    /// Takes the inherited sockets serving `configured`: those given for that configured address,
    /// or else those bound to exactly it.
    fn take(&mut self, configured: SocketAddr) -> Vec<(OwnedFd, SocketAddr)> {
        let matches = |local: &SocketAddr, given: &Option<SocketAddr>| match given {
            Some(given) => *given == configured,
            None => *local == configured,
        };
        let mut taken = Vec::new();
        let mut index = 0;
        while index < self.sockets.len() {
            let (_, local, given) = &self.sockets[index];
            if matches(local, given) {
                let (fd, local, _) = self.sockets.remove(index);
                taken.push((fd, local));
            } else {
                index += 1;
            }
        }
        taken
    }
}

/// Binds every address of `addresses` with `workers` sockets each, reusing the sockets of
/// `current` where the configured address is the same (so a reload neither drops nor re-binds
/// them) and taking inherited ones before binding anything.
pub fn bind_all(
    addresses: &[SocketAddr],
    workers: usize,
    current: &[Bound],
    inherited: &mut Inherited,
) -> Result<Vec<Bound>, String> {
    let guard = Guard::available();
    let mut ours: HashSet<u64> = current
        .iter()
        .flat_map(|b| b.sockets.iter())
        .filter_map(|s| inode(&s.fd))
        .collect();
    let mut out: Vec<Bound> = Vec::new();
    let mut fresh = Vec::new();
    // The listening sockets of the machine, read once before binding (and once after).
    let mut before = Snapshot::default();
    for &addr in addresses {
        if let Some(kept) = current.iter().find(|b| b.configured == addr) {
            out.push(kept.clone());
            continue;
        }
        let given = inherited.take(addr);
        let failed = |e: io::Error| format!("cannot listen on {addr}: {e}");
        let bound = if given.is_empty() {
            if guard && let Err(e) = check_alone(addr, &ours, &mut before) {
                return Err(failed(e));
            }
            bind_address(addr, if guard { workers } else { 1 }, guard).map_err(failed)?
        } else {
            adopt(addr, given, workers, guard).map_err(failed)?
        };
        ours.extend(bound.sockets.iter().filter_map(|s| inode(&s.fd)));
        fresh.push(out.len());
        out.push(bound);
    }
    if guard {
        // Once listening, anyone who bound the same address between our check and our bind
        // shows up here (and finds us when it checks in its turn).
        let mut after = Snapshot::default();
        for &index in &fresh {
            if let Err(e) = check_alone(out[index].local, &ours, &mut after) {
                return Err(format!("cannot listen on {}: {e}", out[index].configured));
            }
        }
    }
    Ok(out)
}

/// `count` sockets on `addr` (port 0: the kernel picks one port for all of them).
fn bind_address(addr: SocketAddr, count: usize, reuseport: bool) -> io::Result<Bound> {
    let first = bind(addr, reuseport)?;
    let local = first.local;
    let mut sockets = vec![Arc::new(first)];
    while sockets.len() < count {
        let mut next = bind(local, reuseport)?;
        next.configured = addr;
        sockets.push(Arc::new(next));
    }
    Ok(Bound {
        configured: addr,
        local,
        sockets,
    })
}

/// Inherited sockets serving `configured`, topped up to `workers` sockets when they can join
/// a port-sharing group (they were bound with `SO_REUSEPORT`, as ours are).
fn adopt(
    configured: SocketAddr,
    given: Vec<(OwnedFd, SocketAddr)>,
    workers: usize,
    guard: bool,
) -> io::Result<Bound> {
    let local = given[0].1;
    let joinable = guard
        && given
            .iter()
            .all(|(fd, _)| net::sockopt::socket_reuseport(fd).unwrap_or(false));
    let mut sockets = Vec::new();
    for (fd, local) in given {
        // Whatever the giver left, the descriptor must not leak into CGI scripts, and the
        // loop needs it non-blocking.
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
        rustix::io::ioctl_fionbio(&fd, true)?;
        net::sockopt::set_tcp_nodelay(&fd, true)?;
        sockets.push(Arc::new(Listener {
            fd,
            configured,
            local,
        }));
    }
    while joinable && sockets.len() < workers {
        let mut next = bind(local, true)?;
        next.configured = configured;
        sockets.push(Arc::new(next));
    }
    Ok(Bound {
        configured,
        local,
        sockets,
    })
}

/// Binds and listens on `addr`, non-blocking, with `SO_REUSEPORT` when `reuseport`.
fn bind(addr: SocketAddr, reuseport: bool) -> io::Result<Listener> {
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
    // Accepted sockets inherit it: one system call per listener instead of one per connection.
    net::sockopt::set_tcp_nodelay(&fd, true)?;
    if reuseport {
        net::sockopt::set_socket_reuseport(&fd, true)?;
    }
    if addr.is_ipv6() {
        // `[::]:80` and `0.0.0.0:80` are separate addresses in the config, so keep them separate.
        net::sockopt::set_ipv6_v6only(&fd, true)?;
    }
    net::bind(&fd, &addr)?;
    net::listen(&fd, BACKLOG)?;
    let local = local_address(&fd)?;
    Ok(Listener {
        fd,
        configured: addr,
        local,
    })
}

/// Sets how long connections to `address` may wait in the kernel for their first bytes before
/// `accept` sees them (`TCP_DEFER_ACCEPT`; zero: not at all). A failure is logged: the
/// address still works, only without the deferral.
pub fn defer_accept(address: &Bound, defer: std::time::Duration) {
    for socket in &address.sockets {
        let seconds = u32::try_from(defer.as_secs()).unwrap_or(u32::MAX);
        if let Err(error) = crate::sys::set_tcp_defer_accept(socket.fd.as_fd(), seconds) {
            crate::log::warn(&format!("TCP_DEFER_ACCEPT on {}: {error}", address.local));
        }
    }
}

/// The inet address a socket is bound to.
pub fn local_address(fd: impl AsFd) -> io::Result<SocketAddr> {
    SocketAddr::try_from(net::getsockname(fd)?)
        .map_err(|_| io::Error::other("listening socket has no inet address"))
}

/// The inode number of a socket, as `/proc/net/tcp` names it.
fn inode(fd: &OwnedFd) -> Option<u64> {
    rustix::fs::fstat(fd).ok().map(|st| st.st_ino)
}

/// Whether listening sockets can be told apart by owner here.
struct Guard;

impl Guard {
    fn available() -> bool {
        std::fs::metadata("/proc/net/tcp").is_ok()
    }
}

/// Err(address in use) when a listening socket that is not one of `ours` overlaps `addr`.
fn check_alone(addr: SocketAddr, ours: &HashSet<u64>, now: &mut Snapshot) -> io::Result<()> {
    let foreign = now
        .listening(addr.is_ipv6())?
        .iter()
        .any(|(local, inode)| overlaps(*local, addr) && !ours.contains(inode));
    if foreign {
        return Err(io::Error::from(io::ErrorKind::AddrInUse));
    }
    Ok(())
}

/// The machine's listening TCP sockets, each table read the first time it is asked for (a
/// busy machine's `/proc/net/tcp` holds thousands of lines: read once per address family, not
/// once per address).
#[derive(Default)]
struct Snapshot {
    v4: Option<Vec<(SocketAddr, u64)>>,
    v6: Option<Vec<(SocketAddr, u64)>>,
}

impl Snapshot {
    fn listening(&mut self, v6: bool) -> io::Result<&[(SocketAddr, u64)]> {
        let (slot, table) = if v6 {
            (&mut self.v6, "/proc/net/tcp6")
        } else {
            (&mut self.v4, "/proc/net/tcp")
        };
        if slot.is_none() {
            // A machine without IPv6 has no tcp6 table, and nothing listens there.
            let found = match std::fs::read_to_string(table) {
                Ok(text) => listening_sockets(&text),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e),
            };
            *slot = Some(found);
        }
        Ok(slot.as_deref().unwrap_or_default())
    }
}

/// Whether a connection to one address could reach a listener on the other: same port, and
/// the same host or either one a wildcard.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// The listening sockets of a `/proc/net/tcp` or `/proc/net/tcp6` table: (address, inode).
/// Lines that do not parse are skipped.
fn listening_sockets(table: &str) -> Vec<(SocketAddr, u64)> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            // Most rows are connections: look at the state before splitting the rest.
            if line.split_whitespace().nth(3) != Some(LISTEN) {
                return None;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = parse_proc_address(fields.get(1)?)?;
            let inode = fields.get(9)?.parse().ok()?;
            Some((local, inode))
        })
        .collect()
}

/// `0100007F:1F90` (127.0.0.1:8080) or 32 hex digits and a port for IPv6. The kernel prints
/// each 32-bit word of the address as a number in the machine's byte order.
fn parse_proc_address(text: &str) -> Option<SocketAddr> {
    let (host, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = host.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match host.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_proc_v4(addr: SocketAddr) -> String {
        let SocketAddr::V4(v4) = addr else { panic!() };
        let word = u32::from_ne_bytes(v4.ip().octets());
        format!("{word:08X}:{:04X}", v4.port())
    }

    #[test]
    fn proc_addresses_decode_in_the_machines_byte_order() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(parse_proc_address(&to_proc_v4(addr)), Some(addr));
        let v6 = "00000000000000000000000001000000:1F90";
        assert_eq!(
            parse_proc_address(v6),
            Some("[::1]:8080".parse().unwrap()),
            "on a little-endian machine"
        );
        for bad in [
            "",
            "0100007F",
            "0100007F:",
            "XYZ:1F90",
            "0100007F:1F90A",
            "01:1F90",
        ] {
            assert_eq!(parse_proc_address(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_listening_rows_are_read() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 100 0 0 10 0\n\
           1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0 20 4 30 10 -1\n\
           2: garbage\n";
        assert_eq!(
            listening_sockets(table),
            vec![("127.0.0.1:8080".parse().unwrap(), 4242)]
        );
    }

    #[test]
    fn wildcards_overlap_every_host_of_their_port() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(overlaps(a("0.0.0.0:80"), a("127.0.0.1:80")));
        assert!(overlaps(a("127.0.0.1:80"), a("0.0.0.0:80")));
        assert!(overlaps(a("127.0.0.1:80"), a("127.0.0.1:80")));
        assert!(!overlaps(a("127.0.0.1:80"), a("127.0.0.2:80")));
        assert!(!overlaps(a("0.0.0.0:80"), a("0.0.0.0:81")));
    }

    #[test]
    fn this_process_sees_its_own_listener_as_its_own_and_a_strangers_as_foreign() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let bound = bind_address(addr, 2, true).unwrap();
        let ours: HashSet<u64> = bound.sockets.iter().filter_map(|s| inode(&s.fd)).collect();
        assert_eq!(ours.len(), 2);
        assert!(check_alone(bound.local, &ours, &mut Snapshot::default()).is_ok());
        // A socket of the same user with SO_REUSEPORT joins the group: the kernel allows it.
        let stranger = bind(bound.local, true).unwrap();
        assert_eq!(stranger.local, bound.local);
        let error = check_alone(bound.local, &ours, &mut Snapshot::default()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn sockets_are_dealt_to_workers_in_turn_or_shared_when_too_few() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let three = bind_address(addr, 3, true).unwrap();
        let one = bind_address(addr, 1, false).unwrap();
        let bound = [three.clone(), one];
        let of = |index| share(&bound, 2, index);
        assert_eq!(of(0).len(), 3);
        assert_eq!(of(1).len(), 2);
        assert_eq!(of(0)[0].1, Sharing::Own);
        assert!(Arc::ptr_eq(&of(0)[1].0, &three.sockets[2]));
        assert_eq!(of(0)[2].1, Sharing::Shared);
        assert_eq!(of(1)[1].1, Sharing::Shared);
    }
}
