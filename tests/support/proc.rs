//! Readings from /proc (descriptors, memory, CPU time, child processes, whether a pid exists)
//! and polling helpers.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use super::server::Server;

impl Server {
    /// Open file descriptors of the server process (entries of /proc/PID/fd).
    pub fn fd_count(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// What each open descriptor of the server refers to (for failure messages).
    pub fn fd_list(&self) -> Vec<String> {
        let mut list: Vec<String> = fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| {
                        let target = fs::read_link(e.path())
                            .map(|t| t.display().to_string())
                            .unwrap_or_default();
                        format!("{}->{}", e.file_name().to_string_lossy(), target)
                    })
                    .collect()
            })
            .unwrap_or_default();
        list.sort();
        list
    }

    /// The descriptor count once it stops changing (workers open their own descriptors after
    /// the listening lines are printed): three equal samples 50 ms apart, 5 s at most.
    pub fn settled_fd_count(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = self.fd_count();
        let mut same = 0;
        while same < 2 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
            let now = self.fd_count();
            if now == last {
                same += 1;
            } else {
                same = 0;
                last = now;
            }
        }
        last
    }

    /// Waits (5 s at most) until the descriptor count is at most `limit`; returns the count.
    pub fn wait_fd_count_at_most(&self, limit: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let count = self.fd_count();
            if count <= limit || Instant::now() >= deadline {
                return count;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// A `/proc/PID/status` field of the server in kB (`VmHWM`, `VmRSS`).
    pub fn memory_kb(&self, field: &str) -> u64 {
        proc_status_kib(self.pid() as i32, field)
    }

    /// VmRSS of the server, KiB.
    pub fn rss_kib(&self) -> u64 {
        self.memory_kb("VmRSS")
    }

    /// User + system CPU time of the server so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        cpu_ticks(self.pid() as i32)
    }

    /// Live child processes of the server: (pid, state letter).
    pub fn children(&self) -> Vec<(i32, char)> {
        children_of(self.pid() as i32)
    }
}

/// A `/proc/PID/status` field (name without the colon) in kB.
pub fn proc_status_kib(pid: i32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
/// The fields of /proc/PID/stat after the command name: index 0 is the state.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

pub fn cpu_ticks(pid: i32) -> u64 {
    let fields = stat_fields(pid).expect("proc stat");
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the state.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as u64 }
}

/// Processes whose parent is `parent`, with their state (`Z` for a zombie).
pub fn children_of(parent: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(fields) = stat_fields(pid)
            && fields.get(1).and_then(|p| p.parse::<i32>().ok()) == Some(parent)
        {
            out.push((pid, fields[0].chars().next().unwrap_or('?')));
        }
    }
    out
}

/// Whether `pid` still exists (a zombie counts: it is gone once its parent reaped it).
pub fn pid_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Whether `pid` is a process that has not yet exited (neither gone nor a zombie).
pub fn running(pid: i32) -> bool {
    stat_fields(pid).is_some_and(|fields| !matches!(fields[0].as_str(), "Z" | "X"))
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Reads a pid a script wrote to `path`, waiting for the file to appear.
pub fn read_pid_file(path: &Path) -> i32 {
    let mut pid = None;
    wait_until(Duration::from_secs(5), || {
        pid = fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap_or_else(|| panic!("no pid in {}", path.display()))
}

/// The client connections each worker of `pid` holds in its epoll set: for each epoll
/// instance of the process (one per worker), the remote ports of the connected TCP sockets
/// registered in it (listening sockets, pipes and eventfds left out). Read from
/// `/proc/PID/fdinfo` (the `tfd:` lines of an epoll descriptor) and `/proc/net/tcp{,6}`.
pub fn connections_per_worker(pid: i32) -> Vec<Vec<u16>> {
    let connected = connected_sockets();
    let mut workers = Vec::new();
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return workers;
    };
    for entry in entries.flatten() {
        let is_epoll = fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().contains("eventpoll"));
        if !is_epoll {
            continue;
        }
        let fd = entry.file_name().to_string_lossy().to_string();
        let Ok(info) = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
            continue;
        };
        let mut ports = Vec::new();
        for line in info.lines() {
            let Some(target) = line
                .strip_prefix("tfd:")
                .and_then(|rest| rest.split_whitespace().next())
            else {
                continue;
            };
            let inode = fs::read_link(format!("/proc/{pid}/fd/{target}"))
                .ok()
                .and_then(|link| {
                    let link = link.to_string_lossy().to_string();
                    link.strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .parse::<u64>()
                        .ok()
                });
            if let Some(port) = inode.and_then(|inode| connected.get(&inode)) {
                ports.push(*port);
            }
        }
        workers.push(ports);
    }
    workers
}

/// Established TCP sockets of this network namespace: inode → remote port.
fn connected_sockets() -> std::collections::HashMap<u64, u16> {
    let mut out = std::collections::HashMap::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // State 01: ESTABLISHED.
            if fields.len() < 10 || fields[3] != "01" {
                continue;
            }
            let port = fields[2]
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if let (Some(port), Ok(inode)) = (port, fields[9].parse::<u64>()) {
                out.insert(inode, port);
            }
        }
    }
    out
}

/// User + system CPU ticks of each thread of `pid` whose name starts with `prefix`
/// (`worker-`), from `/proc/PID/task/*/stat`.
pub fn thread_cpu_ticks(pid: i32, prefix: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in entries.flatten() {
        let tid = entry.file_name().to_string_lossy().to_string();
        let name = fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).unwrap_or_default();
        let name = name.trim().to_string();
        if !name.starts_with(prefix) {
            continue;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = fields
            .get(11)
            .and_then(|u| u.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
        out.push((name, ticks));
    }
    out.sort();
    out
}
