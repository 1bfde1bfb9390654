//! Every worker takes its share: connections spread over the workers (one `SO_REUSEPORT`
//! socket each) and stay spread when long-lived connections end unevenly; a second webserv
//! still cannot share the port; reloads keep the sockets and shutdowns close them at once.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::*;

fn config(workers: usize, extra: &str) -> String {
    format!(
        "workers {workers};\naccess_log off;\nserver {{\n    listen 127.0.0.1:0;\n    root www;\n{extra}\n}}\n"
    )
}

/// Opens `count` keep-alive connections, each answered once (so each is accepted and served).
fn open_served(addr: SocketAddr, count: usize) -> Vec<Conn> {
    (0..count)
        .map(|_| {
            let mut conn = Conn::connect(addr);
            conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(conn.read_response().status, 200);
            conn
        })
        .collect()
}

/// Waits until the server's workers hold `total` client connections in all; returns each
/// worker's remote ports.
fn settled(server: &Server, total: usize) -> Vec<Vec<u16>> {
    let mut last = Vec::new();
    wait_until(Duration::from_secs(5), || {
        last = connections_per_worker(server.pid() as i32);
        last.iter().map(Vec::len).sum::<usize>() == total
    });
    last
}

fn counts(spread: &[Vec<u16>]) -> Vec<usize> {
    spread.iter().map(Vec::len).collect()
}

/// The sockets listening on `addr` (inodes), from /proc/net/tcp.
fn listening_inodes(addr: SocketAddr) -> Vec<u64> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = format!(":{:04X}", addr.port());
    let mut out: Vec<u64> = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[1].ends_with(&port) && fields[3] == "0A").then(|| fields[9].parse().unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn connections_are_spread_over_every_worker() {
    let server = Server::start(&config(2, ""), &[("www/index.html", b"x")]);
    let conns = open_served(server.addr(), 64);
    let spread = counts(&settled(&server, 64));
    assert_eq!(spread.len(), 2, "one epoll per worker: {spread:?}");
    assert_eq!(spread.iter().sum::<usize>(), 64, "{spread:?}");
    // An address hash gives each about half; anything near all-on-one fails.
    assert!(
        spread.iter().all(|&n| n >= 16),
        "connections per worker: {spread:?}"
    );
    drop(conns);
}

#[test]
fn each_worker_has_its_own_listening_socket_and_a_reload_keeps_them() {
    let server = Server::start(&config(3, ""), &[("www/index.html", b"x")]);
    let before = listening_inodes(server.addr());
    assert_eq!(before.len(), 3, "one socket per worker");
    server.signal(libc::SIGHUP);
    assert!(wait_until(Duration::from_secs(5), || server
        .stderr()
        .contains("configuration reloaded")));
    assert_eq!(listening_inodes(server.addr()), before);
    for _ in 0..30 {
        assert_eq!(server.get("/").status, 200);
    }
}

#[test]
fn a_worker_left_with_fewer_connections_is_given_the_new_ones() {
    let server = Server::start(&config(2, ""), &[("www/index.html", b"x")]);
    let addr = server.addr();
    let mut conns = open_served(addr, 80);
    let spread = settled(&server, 80);
    // Every connection of the busier worker ends; the other keeps its own.
    let busier = if spread[0].len() >= spread[1].len() {
        0
    } else {
        1
    };
    let ending = &spread[busier];
    conns.retain(|c| !ending.contains(&c.stream.local_addr().unwrap().port()));
    let kept = conns.len();
    assert_eq!(counts(&settled(&server, kept))[busier], 0);
    // The address hash alone would give each worker half of the new ones and leave the
    // difference as it is; the worker still holding connections hands the new ones over.
    conns.extend(open_served(addr, 80));
    let after = counts(&settled(&server, kept + 80));
    let (low, high) = (after[0].min(after[1]), after[0].max(after[1]));
    assert!(
        high - low <= 8 + low / 8 + 2,
        "kept {kept} on one worker, then 80 more: {after:?}"
    );
}

#[test]
fn a_second_webserv_with_several_workers_cannot_share_the_port() {
    let first = Server::start(&config(2, ""), &[("www/index.html", b"first")]);
    let addr = first.addr();
    let second = format!("workers 2;\naccess_log off;\nserver {{ listen {addr}; root www; }}\n");
    let failed = match Server::try_start(&second, &[("www/index.html", b"second")]) {
        Ok(_) => panic!("a second webserv shares {addr}"),
        Err(failed) => failed,
    };
    assert_eq!(failed.status.code(), Some(1), "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains(&format!("cannot listen on {addr}: ")),
        "{}",
        failed.stderr
    );
    // Only the first one's sockets listen, and every connection reaches it.
    assert_eq!(listening_inodes(addr).len(), 2);
    for _ in 0..40 {
        assert_eq!(first.get("/").text(), "first");
    }
}

#[test]
fn a_socket_of_another_program_sharing_the_port_is_refused_at_startup() {
    // What a second server with SO_REUSEPORT would have done: a listener of the same user in
    // the port's group, made here with the option set before bind.
    let stranger = reuseport_listener("127.0.0.1:0".parse().unwrap());
    let addr = local_addr(&stranger);
    let config = format!("workers 2;\naccess_log off;\nserver {{ listen {addr}; root www; }}\n");
    let started = Instant::now();
    let failed = match Server::try_start(&config, &[]) {
        Ok(_) => panic!("webserv joined another program's group on {addr}"),
        Err(failed) => failed,
    };
    assert_eq!(failed.status.code(), Some(1), "{}", failed.stderr);
    assert!(
        failed.stderr.contains(&format!("cannot listen on {addr}")),
        "{}",
        failed.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_shutdown_closes_every_workers_socket_at_once() {
    let big = vec![b'z'; 16 << 20];
    let mut server = Server::start(&config(2, ""), &[("www/big.bin", &big)]);
    let addr = server.addr();
    let mut conn = server.connect();
    conn.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut first = [0u8; 1024];
    let n = std::io::Read::read(&mut conn.stream, &mut first).unwrap();
    server.signal(libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(5), || listening_inodes(addr).is_empty()),
        "still listening during the drain"
    );
    for _ in 0..20 {
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    }
    let mut bytes = first[..n].to_vec();
    bytes.extend(conn.read_to_end());
    assert_eq!(parse_one(&bytes).body.len(), big.len());
    assert_eq!(
        server
            .wait_exit(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
}

/// A listening socket with SO_REUSEPORT, as another program might make it.
fn reuseport_listener(addr: SocketAddr) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor this function owns; the sockaddr is built
    // from an IPv4 address and lives across the bind call.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&one as *const libc::c_int).cast(),
            size,
        );
        let SocketAddr::V4(v4) = addr else { panic!() };
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(v4.ip().octets()),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::bind(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        assert_eq!(libc::listen(fd, 16), 0);
        owned
    }
}

fn local_addr(fd: &std::os::fd::OwnedFd) -> SocketAddr {
    use std::os::fd::AsRawFd;
    // SAFETY: getsockname writes at most `len` bytes into the zeroed sockaddr_in.
    unsafe {
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut sin as *mut libc::sockaddr_in).cast(),
            &mut len,
        );
        SocketAddr::new(
            std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)).into(),
            u16::from_be(sin.sin_port),
        )
    }
}

#[test]
fn a_silent_connection_waits_in_the_kernel_but_its_header_timeout_stays_exact() {
    let server = Server::start(
        &config(1, "client_header_timeout 3s;"),
        &[("www/index.html", b"x")],
    );
    let started = Instant::now();
    let mut silent = server.connect();
    // TCP_DEFER_ACCEPT: the kernel holds it until bytes come (or about a second).
    std::thread::sleep(Duration::from_millis(400));
    let held = counts(&connections_per_worker(server.pid() as i32))
        .iter()
        .sum::<usize>();
    assert_eq!(held, 0, "accepted before any byte came");
    assert!(
        silent
            .closed_within(Duration::from_secs(6))
            .unwrap_or(false)
    );
    let elapsed = started.elapsed();
    // Closed at the header timeout counted from the connection, not from its accept.
    assert!(
        elapsed >= Duration::from_millis(2700) && elapsed < Duration::from_millis(3800),
        "{elapsed:?}"
    );

    // A client that sends at once is served at once.
    let started = Instant::now();
    assert_eq!(server.get("/").status, 200);
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[test]
fn a_partial_head_gets_408_at_the_header_timeout_counted_from_its_connection() {
    let server = Server::start(
        &config(1, "client_header_timeout 3s;"),
        &[("www/index.html", b"x")],
    );
    let started = Instant::now();
    let mut conn = server.connect();
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n");
    let response = conn.read_response();
    let elapsed = started.elapsed();
    assert_eq!(response.status, 408);
    assert!(
        elapsed >= Duration::from_millis(2900) && elapsed < Duration::from_millis(3800),
        "{elapsed:?}"
    );
}
