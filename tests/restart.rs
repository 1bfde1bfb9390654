//! Restarts without a gap: the binary upgrade (SIGUSR2: the new program file takes the
//! listening sockets over, the old server drains and exits) under load with no failed request
//! and no refused connection; a new binary that cannot start leaves the old one serving; and
//! systemd socket activation (LISTEN_PID / LISTEN_FDS), whose socket outlives a restart.

mod support;

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::load::Load;
use support::*;

const BODY: usize = 64 * 1024;

/// The orphaned new server becomes this test process's child, so it can be reaped.
fn become_subreaper() {
    // SAFETY: prctl with an integer argument touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0);
}

/// Stops a process this test reaps (SIGTERM), waiting for its exit status.
fn stop_and_reap(pid: i32) -> Option<i32> {
    // SAFETY: kill and waitpid on a pid this process is the (sub)reaper of.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut status = 0;
            let rc = libc::waitpid(pid, &mut status, libc::WNOHANG);
            if rc == pid {
                return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            }
            if rc < 0 || Instant::now() > deadline {
                libc::kill(pid, libc::SIGKILL);
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Copies the server binary to `dir/bin/webserv` the way an install does: a new file renamed
/// over the path.
fn install(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let staged = bin.join(".webserv.new");
    fs::copy(binary(), &staged).unwrap();
    let target = bin.join("webserv");
    fs::rename(&staged, &target).unwrap();
    target
}

/// The pid in the first `LABEL` line of the server's stderr, once there.
fn pid_after(server: &Server, label: &str) -> Option<i32> {
    let mut pid = None;
    wait_until(Duration::from_secs(20), || {
        pid = server.stderr().lines().find_map(|line| {
            let rest = line.split(label).nth(1)?;
            rest.split_whitespace()
                .next()?
                .trim_end_matches(';')
                .parse()
                .ok()
        });
        pid.is_some()
    });
    pid
}

fn config(workers: usize) -> String {
    format!(
        "workers {workers};\naccess_log off;\nserver {{\n    listen 127.0.0.1:0;\n    root www;\n}}\n"
    )
}

#[test]
fn a_binary_upgrade_under_load_fails_no_request_and_refuses_no_connection() {
    become_subreaper();
    let dir = TempDir::new();
    dir.write("www/file.bin", &vec![b'u'; BODY]);
    let program = install(dir.path());
    let mut old = Server::try_launch_command(dir, &config(2), |config| {
        let mut command = Command::new(&program);
        command.arg(config);
        command
    })
    .unwrap_or_else(|f| panic!("{}", f.stderr));
    let addr = old.addr();

    let load = Load::start(addr, None, 6, "/file.bin", BODY);
    assert!(wait_until(Duration::from_secs(10), || load.answered() > 200));
    // A new build takes the old one's place on disk, then SIGUSR2.
    let program = install(old.dir.path());
    old.signal(libc::SIGUSR2);
    let new_pid = pid_after(&old, "binary upgrade: started pid ")
        .unwrap_or_else(|| panic!("no upgrade started: {}", old.stderr()));
    assert!(
        wait_until(Duration::from_secs(20), || old
            .stderr()
            .contains("is serving")),
        "{}",
        old.stderr()
    );
    let status = old
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("the old server did not exit: {}", old.stderr()));
    assert_eq!(status.code(), Some(0));
    // Load goes on against the new server alone for a while.
    let answered = load.answered();
    assert!(wait_until(Duration::from_secs(10), || load.answered() > answered + 200));
    let report = load.stop();

    let new_exe = fs::metadata(format!("/proc/{new_pid}/exe")).map(|m| m.ino());
    let new_stderr = old.stderr();
    let new_status = stop_and_reap(new_pid);
    assert!(
        report.failures.is_empty(),
        "{} of {} requests failed: {:?}\n{new_stderr}",
        report.failures.len(),
        report.ok + report.failures.len() as u64,
        &report.failures[..report.failures.len().min(10)]
    );
    assert_eq!(
        new_exe.ok(),
        Some(fs::metadata(&program).unwrap().ino()),
        "the new program file runs"
    );
    assert_eq!(new_status, Some(0), "{new_stderr}");
    eprintln!(
        "{} requests answered, {} retried after a keep-alive close",
        report.ok, report.retried
    );
}

#[test]
fn a_new_binary_that_cannot_start_leaves_the_old_one_serving() {
    become_subreaper();
    let mut server = Server::start(&config(1), &[("www/index.html", b"still here")]);
    // The configuration the new binary reads is broken.
    let path = server.dir.path().join("webserv.conf");
    fs::write(&path, "server { listen 127.0.0.1:0; bogus; }\n").unwrap();
    server.signal(libc::SIGUSR2);
    assert!(
        wait_until(Duration::from_secs(20), || server
            .stderr()
            .contains("binary upgrade failed")),
        "{}",
        server.stderr()
    );
    assert!(server.stderr().contains("unknown directive \"bogus\""));
    assert_eq!(server.get("/").text(), "still here");
    assert!(server.children().is_empty(), "{:?}", server.children());
    assert_eq!(server.terminate().and_then(|s| s.code()), Some(0));
}

/// Starts webserv as systemd would with `socket` as its only passed descriptor (fd 3): a shell
/// sets LISTEN_PID to its own pid, which `exec` hands to webserv.
fn socket_activated(dir: TempDir, config: &str, socket: RawFd) -> Server {
    Server::try_launch_command(dir, config, |config_path| {
        let mut command = Command::new("/bin/sh");
        command
            .args([
                "-c",
                "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"",
                binary(),
            ])
            .arg(config_path);
        // SAFETY: dup2 is async-signal-safe; `socket` stays open in the parent during spawn.
        unsafe {
            command.pre_exec(move || {
                // dup2 onto itself would keep close-on-exec: clear it either way.
                if libc::dup2(socket, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command
    })
    .unwrap_or_else(|f| panic!("{}", f.stderr))
}

/// The listening sockets on `addr`'s port (inodes), from /proc/net/tcp.
fn listening_inodes(addr: SocketAddr) -> Vec<u64> {
    let text = fs::read_to_string("/proc/net/tcp").unwrap();
    let port = format!(":{:04X}", addr.port());
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f[1].ends_with(&port) && f[3] == "0A").then(|| f[9].parse().unwrap())
        })
        .collect()
}

#[test]
fn a_socket_from_systemd_is_served_and_outlives_a_restart() {
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let inode = fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd()))
        .unwrap()
        .ino();
    let config = format!(
        "workers 2;\naccess_log off;\nserver {{\n    listen {addr};\n    root www;\n}}\n\
         server {{\n    listen 127.0.0.1:0;\n    root www;\n}}\n"
    );
    let dir = TempDir::new();
    dir.write("www/index.html", b"activated");
    let mut first = socket_activated(dir, &config, socket.as_raw_fd());
    assert_eq!(first.addrs[0], addr);
    assert_eq!(first.get("/").text(), "activated");
    // It serves on the socket it was given (without SO_REUSEPORT: shared by both workers), and
    // binds the address systemd did not pass.
    assert_eq!(listening_inodes(addr), vec![inode]);
    assert_ne!(first.addrs[1], addr);

    // Stopped, the server is gone but systemd's socket is not: a client connecting now waits
    // in its backlog, and the next server answers it.
    assert_eq!(first.terminate().and_then(|s| s.code()), Some(0));
    let mut waiting = TcpStream::connect(addr).expect("not refused while no server runs");
    std::io::Write::write_all(
        &mut waiting,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let dir = TempDir::new();
    dir.write("www/index.html", b"activated again");
    let second = socket_activated(dir, &config, socket.as_raw_fd());
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    std::io::Read::read_to_end(&mut waiting, &mut answer).unwrap();
    assert_eq!(parse_one(&answer).text(), "activated again");
    drop(second);
}

#[test]
fn a_passed_socket_with_reuseport_gets_a_sibling_per_worker_and_an_unknown_one_is_closed() {
    let stranger = TcpListener::bind("127.0.0.1:0").unwrap();
    let socket = reuseport_listener();
    let addr = local_addr(socket);
    let config =
        format!("workers 3;\naccess_log off;\nserver {{\n    listen {addr};\n    root www;\n}}\n");
    let dir = TempDir::new();
    dir.write("www/index.html", b"x");
    // The unknown socket is fd 3, the configured one fd 4.
    let server = Server::try_launch_command(dir, &config, |config_path| {
        let mut command = Command::new("/bin/sh");
        command
            .args([
                "-c",
                "LISTEN_PID=$$ LISTEN_FDS=2 exec \"$0\" \"$@\"",
                binary(),
            ])
            .arg(config_path);
        let (first, second) = (stranger.as_raw_fd(), socket);
        // SAFETY: dup2 is async-signal-safe; both descriptors are open in the parent.
        unsafe {
            command.pre_exec(move || {
                let spare = libc::dup(second);
                if spare < 0
                    || libc::dup2(first, 3) < 0
                    || libc::dup2(spare, 4) < 0
                    || libc::fcntl(3, libc::F_SETFD, 0) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command
    })
    .unwrap_or_else(|f| panic!("{}", f.stderr));
    assert_eq!(server.addr(), addr);
    assert_eq!(
        listening_inodes(addr).len(),
        3,
        "the passed socket and two more"
    );
    for _ in 0..20 {
        assert_eq!(server.get("/").status, 200);
    }
    let stranger_addr = stranger.local_addr().unwrap();
    let stranger_line = format!("inherited socket {stranger_addr} is not in the configuration");
    assert!(
        wait_until(Duration::from_secs(5), || server
            .stderr()
            .contains(&stranger_line)),
        "{}",
        server.stderr()
    );
    // SAFETY: closing the descriptor made by reuseport_listener, owned by this test.
    unsafe { libc::close(socket) };
}

fn reuseport_listener() -> RawFd {
    // SAFETY: plain socket calls on a descriptor this test owns and closes at its end.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        let one: libc::c_int = 1;
        let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&one as *const libc::c_int).cast(),
            size,
        );
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&sin as *const libc::sockaddr_in).cast(), len),
            0
        );
        assert_eq!(libc::listen(fd, 16), 0);
        fd
    }
}

fn local_addr(fd: RawFd) -> SocketAddr {
    // SAFETY: getsockname writes at most `len` bytes into the zeroed sockaddr_in.
    unsafe {
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        libc::getsockname(fd, (&mut sin as *mut libc::sockaddr_in).cast(), &mut len);
        SocketAddr::new(
            std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)).into(),
            u16::from_be(sin.sin_port),
        )
    }
}

#[test]
fn systemd_is_told_ready_reloading_the_new_main_pid_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    become_subreaper();
    let dir = TempDir::new();
    dir.write("www/index.html", b"x");
    let socket_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&socket_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let next = || {
        let mut buf = [0u8; 256];
        let n = notify.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    let mut server = Server::try_launch(dir, &config(1), |command| {
        command.env("NOTIFY_SOCKET", &socket_path);
    })
    .unwrap_or_else(|f| panic!("{}", f.stderr));
    assert_eq!(next(), "READY=1");
    server.signal(libc::SIGHUP);
    assert_eq!(next(), "RELOADING=1");
    assert_eq!(next(), "READY=1");
    server.signal(libc::SIGUSR2);
    let new_pid = pid_after(&server, "binary upgrade: started pid ").expect("upgrade started");
    assert_eq!(next(), format!("MAINPID={new_pid}\nREADY=1"));
    assert_eq!(next(), "STOPPING=1", "from the old server, draining");
    assert_eq!(
        server
            .wait_exit(Duration::from_secs(15))
            .and_then(|s| s.code()),
        Some(0)
    );
    assert_eq!(stop_and_reap(new_pid), Some(0));
    assert_eq!(next(), "STOPPING=1", "from the new server");
}
