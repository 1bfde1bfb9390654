//! Long stress and fault runs, ignored by default: `cargo test --release --test soak --
//! --ignored --nocapture --test-threads 1` (stress/run.sh does, after its siege run). Each test
//! prints its figures on stderr (lines starting `soak:`); stress/RESULTS.md records them.
//!
//! - a mixed workload (static files of four sizes, sh and python CGI, POST uploads to the
//!   store and to a script, a PUT) from 200 clients: every request answered, memory flat after a
//!   warm-up;
//! - 1,000 slowloris connections held open: a normal client's p99 latency stays under 100 ms;
//! - 1,000 clients against a server limited to 256 descriptors: no crash, no busy loop,
//!   served again once the load drops;
//! - resets in the middle of a request, a response, an upload and a CGI exchange: no
//!   descriptor, zombie or upload temporary left;
//! - SIGTERM under load: the responses in flight complete, exit status 0.
//!
//! `WEBSERV_SOAK_SECS` sets the length of the mixed run (default 60 s, after a 20 s warm-up).
//! Its memory figure compares VmRSS under load at the end of the warm-up with VmRSS under load
//! at the end of the run (idle figures after a run depend on what the allocator keeps).

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use support::hostile::*;
use support::*;

const MIB: usize = 1 << 20;

fn config(workers: u32, extra: &str) -> String {
    format!(
        "workers {workers};\n\
         access_log off;\n\
         server {{\n\
             listen 127.0.0.1:0;\n\
             root www;\n\
             {extra}\n\
             location /cgi-bin {{ cgi .sh /bin/sh; cgi .py /usr/bin/python3; allow_methods GET HEAD POST; }}\n\
             location /up {{ allow_methods GET PUT POST; alias store; upload_store store; }}\n\
         }}\n"
    )
}

/// The site every soak test serves: files of four sizes, sh and python scripts, a store.
fn site() -> TempDir {
    let dir = TempDir::new();
    dir.write("www/index.html", b"<p>index</p>");
    for (name, size) in [
        ("1k", 1024),
        ("16k", 16 << 10),
        ("64k", 64 << 10),
        ("1m", MIB),
    ] {
        dir.write(&format!("www/{name}.bin"), &pattern(size));
    }
    dir.write("www/16m.bin", &pattern(16 * MIB));
    dir.write(
        "www/cgi-bin/hello.sh",
        b"printf 'Content-Type: text/plain\\r\\n\\r\\nhello from sh\\n'\n",
    );
    dir.write(
        "www/cgi-bin/hello.py",
        b"print('Content-Type: text/plain')\nprint()\nprint('hello from python')\n",
    );
    // Reads the whole body and answers with its length.
    dir.write(
        "www/cgi-bin/echo.py",
        b"import os, sys\n\
          n = len(sys.stdin.buffer.read(int(os.environ.get('CONTENT_LENGTH') or 0)))\n\
          sys.stdout.write('Content-Type: text/plain\\r\\n\\r\\nread %d\\n' % n)\n",
    );
    // A head, then a line every 50 ms for 5 s.
    dir.write(
        "www/cgi-bin/stream.sh",
        b"printf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
          i=0; while [ $i -lt 100 ]; do echo line $i; sleep 0.05; i=$((i+1)); done\n",
    );
    dir.write("store/", b"");
    dir
}

/// Deterministic bytes (not all equal, so a shifted body is noticed).
fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Raises this process's soft descriptor limit to its hard limit (1,000 sockets and more).
fn raise_own_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit with a pointer to a live rlimit.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        limit.rlim_cur as u64
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

// ---------------------------------------------------------------------------------------------
// Mixed load

/// One request of the mixed workload: what to send and how to check the answer.
struct Job {
    request: Vec<u8>,
    /// The statuses that are right (a PUT creates, then replaces).
    statuses: &'static [u16],
    /// The expected body, or its length only (`None`: just the status).
    body: Option<Vec<u8>>,
}

fn jobs() -> Vec<Job> {
    let get = |path: &str, body: Option<Vec<u8>>| Job {
        request: format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
        statuses: &[200],
        body,
    };
    let send = |method: &str, path: &str, size: usize, statuses, body: Option<Vec<u8>>| {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {size}\r\n\r\n"
        )
        .into_bytes();
        request.extend(pattern(size));
        Job {
            request,
            statuses,
            body,
        }
    };
    vec![
        get("/index.html", Some(b"<p>index</p>".to_vec())),
        get("/1k.bin", Some(pattern(1024))),
        get("/16k.bin", Some(pattern(16 << 10))),
        get("/64k.bin", Some(pattern(64 << 10))),
        get("/1m.bin", Some(pattern(MIB))),
        get("/cgi-bin/hello.sh", Some(b"hello from sh\n".to_vec())),
        get("/cgi-bin/hello.py", Some(b"hello from python\n".to_vec())),
        send(
            "POST",
            "/cgi-bin/echo.py",
            8192,
            &[200],
            Some(b"read 8192\n".to_vec()),
        ),
        send("POST", "/up/", 4096, &[201], None),
        send("PUT", "/up/put.bin", 65536, &[201, 204], None),
    ]
}

/// 200 keep-alive clients cycling through [`jobs`]: every response checked.
#[test]
#[ignore]
fn a_mixed_load_from_200_clients_is_fully_served_and_memory_stays_flat() {
    let secs: u64 = std::env::var("WEBSERV_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    raise_own_fd_limit();
    let server = Arc::new(Server::launch(site(), &config(2, ""), |_| {}));
    let jobs = Arc::new(jobs());
    let run = |label: &str, length: Duration| -> (u64, Vec<String>) {
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::<String>::new()));
        let until = Instant::now() + length;
        let started = Instant::now();
        let clients: Vec<_> = (0..200)
            .map(|c| {
                let (server, jobs) = (Arc::clone(&server), Arc::clone(&jobs));
                let (ok, failures) = (Arc::clone(&ok), Arc::clone(&failures));
                thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn(move || {
                        let mut conn: Option<Conn> = None;
                        let mut i = c;
                        while Instant::now() < until {
                            let job = &jobs[i % jobs.len()];
                            i += 1;
                            let c = conn.get_or_insert_with(|| server.connect());
                            let result = c.try_send(&job.request).map_err(|e| e.to_string());
                            let response = result.and_then(|_| {
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    c.read_response()
                                }))
                                .map_err(|_| "no complete response".to_string())
                            });
                            let problem = match &response {
                                Err(e) => Some(e.clone()),
                                Ok(r) if !job.statuses.contains(&r.status) => {
                                    Some(format!("{}", r.status))
                                }
                                Ok(r) if job.body.as_ref().is_some_and(|b| *b != r.body) => {
                                    Some(format!("wrong body ({} bytes)", r.body.len()))
                                }
                                Ok(_) => None,
                            };
                            match problem {
                                None => {
                                    ok.fetch_add(1, Ordering::Relaxed);
                                    if response.is_ok_and(|r| r.closes()) {
                                        conn = None;
                                    }
                                }
                                Some(problem) => {
                                    let line = String::from_utf8_lossy(&job.request);
                                    let line = line.lines().next().unwrap_or("").to_string();
                                    failures.lock().unwrap().push(format!("{line}: {problem}"));
                                    conn = None;
                                }
                            }
                        }
                    })
                    .unwrap()
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
        let took = started.elapsed();
        let ok = ok.load(Ordering::Relaxed);
        let failures = std::mem::take(&mut *failures.lock().unwrap());
        let total = ok + failures.len() as u64;
        eprintln!(
            "soak: mixed {label}: {total} requests in {took:.1?}, {:.0} req/s, {} failed, \
             availability {:.3} %",
            total as f64 / took.as_secs_f64(),
            failures.len(),
            100.0 * ok as f64 / total.max(1) as f64
        );
        (total, failures)
    };
    // One run: a warm-up, then the measured part. VmRSS is sampled under load, every 5 s: the
    // sample at the end of the warm-up (when the connections, scripts and buffers of 200
    // clients exist) against the last one before the load stops.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (server, sampling) = (Arc::clone(&server), Arc::clone(&sampling));
        thread::spawn(move || {
            let mut series = Vec::new();
            while sampling.load(Ordering::Relaxed) {
                series.push(server.rss_kib());
                for _ in 0..50 {
                    if sampling.load(Ordering::Relaxed) {
                        thread::sleep(Duration::from_millis(100));
                    }
                }
            }
            series
        })
    };
    let (total, failures) = run(
        &format!("20 s warm-up + {secs} s"),
        Duration::from_secs(20 + secs),
    );
    sampling.store(false, Ordering::Relaxed);
    let series = sampler.join().unwrap();
    // Samples at 0, 5, 10, ... s: index 4 closes the warm-up; the last one may fall after
    // the load stopped.
    let rss_warm = series[4.min(series.len() - 1)];
    let rss_end = series[series.len().saturating_sub(2).max(4.min(series.len() - 1))];
    eprintln!(
        "soak: mixed RSS under load after the warm-up {rss_warm} KiB, at the end {rss_end} KiB \
         ({:+.1} %), idle afterwards {} KiB; every 5 s: {series:?}",
        100.0 * (rss_end as f64 - rss_warm as f64) / rss_warm as f64,
        server.rss_kib()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(20)]
    );
    assert!(
        rss_end * 10 <= rss_warm * 11,
        "RSS under load grew from {rss_warm} KiB to {rss_end} KiB: {series:?}"
    );
    let temporaries: Vec<String> = names(&server.dir.path().join("store"))
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(temporaries.is_empty(), "{temporaries:?}");
}

// ---------------------------------------------------------------------------------------------
// Slowloris

/// 1,000 connections each trickling a never-ending head (one byte per connection every 2 s)
/// on a single worker: 500 sequential requests of a normal client, each on a new connection,
/// have a p99 latency under 100 ms.
#[test]
#[ignore]
fn a_thousand_slowloris_connections_leave_normal_p99_latency_under_100_ms() {
    const N: usize = 1000;
    raise_own_fd_limit();
    let server = Server::launch(site(), &config(1, "client_header_timeout 60s;"), |_| {});
    let baseline = server.settled_fd_count();
    let mut slow: Vec<TcpStream> = (0..N)
        .map(|i| {
            let mut s = TcpStream::connect(server.addr()).unwrap_or_else(|e| panic!("{i}: {e}"));
            s.write_all(format!("GET /?slow={i} HTTP/1.1\r\nHost: x\r\nX-Slow: ").as_bytes())
                .unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let trickled = Arc::new(AtomicUsize::new(0));
    let trickler = {
        let (stop, trickled) = (Arc::clone(&stop), Arc::clone(&trickled));
        thread::spawn(move || {
            let mut broken = 0;
            while !stop.load(Ordering::Relaxed) {
                for s in &mut slow {
                    match s.write(b"a") {
                        Ok(_) => {
                            trickled.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => broken += 1,
                    }
                }
                for _ in 0..20 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    thread::sleep(Duration::from_millis(100));
                }
            }
            (slow, broken)
        })
    };
    let held = wait_until(Duration::from_secs(10), || {
        server.fd_count() >= baseline + N
    });
    assert!(held, "fds {} (baseline {baseline})", server.fd_count());
    let mut latencies = Vec::with_capacity(500);
    for i in 0..500 {
        let (response, took) = timed_get(server.addr(), "/index.html");
        assert_eq!(response.status, 200, "request {i}");
        latencies.push(took);
        // 500 x 10 ms: the measurement spans a few rounds of the trickle.
        thread::sleep(Duration::from_millis(10));
    }
    let still_held = server.fd_count();
    stop.store(true, Ordering::Relaxed);
    let (slow, broken) = trickler.join().unwrap();
    latencies.sort();
    let (p50, p99, max) = (
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
    );
    eprintln!(
        "soak: slowloris {N} held ({} trickled bytes, {broken} broken, server fds {still_held}, \
         baseline {baseline}): 500 requests p50 {p50:.2?}, p99 {p99:.2?}, max {max:.2?}",
        trickled.load(Ordering::Relaxed)
    );
    assert_eq!(
        broken, 0,
        "slowloris connections cut before the header timeout"
    );
    assert!(
        still_held >= baseline + N,
        "slowloris not held: {still_held} fds"
    );
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
    drop(slow);
    let (count, list) = fds_back_to(&server, baseline, 0);
    assert!(
        count <= baseline,
        "fds: baseline {baseline}, now {count}: {list:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Descriptor exhaustion

/// A server limited to 256 descriptors (soft and hard) and 1,000 concurrent clients, each
/// holding its keep-alive connection for 8 s once answered: the server does not crash, does
/// not spin while it cannot accept (CPU under half a core), and once the load drops it serves
/// a fresh request, and every client left waiting in the backlog, within 5 s.
#[test]
#[ignore]
fn a_thousand_clients_against_256_descriptors_neither_crash_nor_spin_and_recover() {
    const N: usize = 1000;
    const HOLD: Duration = Duration::from_secs(8);
    raise_own_fd_limit();
    let server = Server::launch(site(), &config(2, ""), |command| set_fd_limit(command, 256));
    // Clients answered before the release, after it, and never (connect failed or no answer).
    let (held, after, unanswered) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let started = Instant::now();
    let release = started + HOLD;
    let clients: Vec<_> = (0..N)
        .map(|i| {
            let addr = server.addr();
            let counters = [&held, &after, &unanswered].map(Arc::clone);
            thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || {
                    let [held, after, unanswered] = counters;
                    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                    else {
                        unanswered.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    let request = format!("GET /1k.bin?c={i} HTTP/1.1\r\nHost: x\r\n\r\n");
                    let mut bytes = Vec::new();
                    if s.write_all(request.as_bytes()).is_ok() {
                        // Those the server cannot take yet wait in the backlog: they must be
                        // answered within 5 s of the release.
                        let deadline = release + Duration::from_secs(5);
                        let mut chunk = [0u8; 4096];
                        while bytes.len() < 1024 && Instant::now() < deadline {
                            let left = deadline.saturating_duration_since(Instant::now());
                            let _ = s.set_read_timeout(Some(left.max(Duration::from_millis(1))));
                            match s.read(&mut chunk) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                            }
                        }
                    }
                    if !bytes.starts_with(b"HTTP/1.1 200 ") {
                        unanswered.fetch_add(1, Ordering::Relaxed);
                    } else if Instant::now() < release {
                        held.fetch_add(1, Ordering::Relaxed);
                        // Hold the connection (a server descriptor) until the release.
                        thread::sleep(release.saturating_duration_since(Instant::now()));
                    } else {
                        after.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .unwrap()
        })
        .collect();
    // CPU over the middle of the hold, when the server is out of descriptors.
    thread::sleep(Duration::from_secs(2));
    let ticks_before = server.cpu_ticks();
    let window = Instant::now();
    thread::sleep(Duration::from_secs(5));
    let cpu = (server.cpu_ticks() - ticks_before) as f64
        / clock_ticks_per_second() as f64
        / window.elapsed().as_secs_f64();
    let fds_during = server.fd_count();
    thread::sleep(release.saturating_duration_since(Instant::now()));
    let dropped = Instant::now();
    let mut recovered = None;
    while dropped.elapsed() < Duration::from_secs(5) {
        if let Ok(mut s) = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(1)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let _ =
                s.write_all(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let (bytes, _) = read_until_closed(&mut s, Instant::now() + Duration::from_secs(1));
            if bytes.starts_with(b"HTTP/1.1 200 ") {
                recovered = Some(dropped.elapsed());
                break;
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    for client in clients {
        client.join().unwrap();
    }
    let [held, after, unanswered] = [held, after, unanswered].map(|c| c.load(Ordering::Relaxed));
    let errors = server.stderr().matches("out of resources").count();
    eprintln!(
        "soak: fd exhaustion: limit 256, {N} clients, {held} answered and held, {after} answered after the release, \
         {unanswered} unanswered; server fds {fds_during}, CPU {:.1} % of a core over 5 s, \
         {errors} accept pauses logged; a fresh request served {recovered:.2?} after the release",
        cpu * 100.0
    );
    assert!(pid_exists(server.pid() as i32), "the server is gone");
    assert_eq!(unanswered, 0, "clients never answered");
    assert!(
        cpu < 0.5,
        "server CPU {:.1} % while out of descriptors",
        cpu * 100.0
    );
    assert!(recovered.is_some(), "no fresh request served within 5 s");
    assert_eq!(server.get("/index.html").status, 200);
}

// ---------------------------------------------------------------------------------------------
// Resets

/// 50 rounds of resets (SO_LINGER 0) in each phase, from 4 threads at once: mid-request,
/// mid-response of a 16 MiB file, mid-upload (Content-Length and chunked), mid-CGI (a
/// streaming script, and a script whose body is still arriving). Afterwards the server's
/// descriptors are back at the baseline, it has no child left (zombie or not), and the store
/// holds no temporary.
#[test]
#[ignore]
fn resets_mid_request_response_upload_and_cgi_leave_no_fd_zombie_or_temporary() {
    const ROUNDS: usize = 50;
    let server = Arc::new(Server::launch(site(), &config(2, ""), |_| {}));
    assert_eq!(server.get("/16m.bin").body.len(), 16 * MIB);
    assert_eq!(server.get("/cgi-bin/hello.sh").status, 200);
    let baseline = server.settled_fd_count();
    let addr = server.addr();
    let started = Instant::now();
    type Fault = fn(SocketAddr, usize);
    let faults: [(&str, Fault); 4] = [
        ("request", |addr, i| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(format!("GET /index.html?{i} HTTP/1.1\r\nHost: x\r\nX-Par").as_bytes())
                .unwrap();
            thread::sleep(Duration::from_millis(1));
            reset(s);
        }),
        ("response", |addr, _| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /16m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut some = vec![0u8; 256 << 10];
            let _ = s.read(&mut some);
            reset(s);
        }),
        ("upload", |addr, i| {
            let mut s = TcpStream::connect(addr).unwrap();
            let head = if i % 2 == 0 {
                format!(
                    "PUT /up/rst-{i}.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
                )
            } else {
                format!(
                    "POST /up/rstc-{i}.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                     100000\r\n"
                )
            };
            s.write_all(head.as_bytes()).unwrap();
            let _ = s.write_all(&pattern(200_000));
            thread::sleep(Duration::from_millis(5));
            reset(s);
        }),
        ("cgi", |addr, i| {
            let mut s = TcpStream::connect(addr).unwrap();
            if i % 2 == 0 {
                s.write_all(b"GET /cgi-bin/stream.sh HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut some = [0u8; 512];
                let _ = s.read(&mut some);
            } else {
                s.write_all(
                    b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
                )
                .unwrap();
                let _ = s.write_all(&pattern(30_000));
                thread::sleep(Duration::from_millis(20));
            }
            reset(s);
        }),
    ];
    let threads: Vec<_> = faults
        .into_iter()
        .map(|(name, fault)| {
            thread::spawn(move || {
                for i in 0..ROUNDS {
                    fault(addr, i);
                }
                name
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let took = started.elapsed();
    assert_eq!(
        server.get("/index.html").status,
        200,
        "served after the resets"
    );
    let (fds, list) = fds_back_to(&server, baseline, 0);
    let mut children = Vec::new();
    wait_until(Duration::from_secs(5), || {
        children = server.children();
        children.is_empty()
    });
    let store = server.dir.path().join("store");
    let mut left = Vec::new();
    wait_until(Duration::from_secs(5), || {
        left = names(&store);
        left.is_empty()
    });
    let zombies = children.iter().filter(|(_, state)| *state == 'Z').count();
    eprintln!(
        "soak: resets: {} ({ROUNDS} x 4 phases) in {took:.1?}; fds {fds} (baseline {baseline}), \
         children {} ({zombies} zombies), store entries {}",
        ROUNDS * 4,
        children.len(),
        left.len()
    );
    assert!(
        fds <= baseline,
        "fds: baseline {baseline}, now {fds}: {list:?}"
    );
    assert!(children.is_empty(), "children of the server: {children:?}");
    assert!(left.is_empty(), "store: {left:?}");
}

// ---------------------------------------------------------------------------------------------
// SIGTERM under load

/// 50 clients in a keep-alive loop and a 16 MiB download read at about 4 MB/s; SIGTERM one
/// second into the download. The download completes (every byte, right content), no client
/// gets a truncated response, and the server exits with status 0 within its grace period.
#[test]
#[ignore]
fn sigterm_under_load_completes_responses_in_flight_and_exits_0() {
    let mut server = Server::launch(site(), &config(2, ""), |_| {});
    let addr = server.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let (complete, truncated) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load: Vec<_> = (0..50)
        .map(|c| {
            let (stop, complete, truncated) = (
                Arc::clone(&stop),
                Arc::clone(&complete),
                Arc::clone(&truncated),
            );
            thread::spawn(move || {
                let paths = ["/1k.bin", "/64k.bin", "/cgi-bin/hello.sh"];
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                    else {
                        return; // the server stopped accepting
                    };
                    loop {
                        let path = paths[i % paths.len()];
                        i += 1;
                        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
                        if s.write_all(request.as_bytes()).is_err() {
                            break;
                        }
                        let (bytes, _) = read_one(&mut s);
                        match parse_response(&bytes, false, true) {
                            Parse::Complete(r, _) if r.status == 200 => {
                                complete.fetch_add(1, Ordering::Relaxed);
                                if r.closes() {
                                    break;
                                }
                            }
                            // Closed while idle between requests: nothing was cut short.
                            _ if bytes.is_empty() => break,
                            _ => {
                                truncated.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    let mut download = TcpStream::connect(addr).unwrap();
    set_small_receive_buffer(&download, 64 << 10);
    download
        .write_all(b"GET /16m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    download
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let mut bytes = Vec::with_capacity(17 * MIB);
    let mut chunk = vec![0u8; 64 << 10];
    let mut signalled = None;
    loop {
        match download.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
        if signalled.is_none() && started.elapsed() >= Duration::from_secs(1) {
            server.signal(libc::SIGTERM);
            signalled = Some(Instant::now());
        }
        // About 4 MB/s: 16 MiB take about 4 s, well inside the 10 s grace.
        let due = Duration::from_secs_f64(bytes.len() as f64 / 4e6);
        thread::sleep(due.saturating_sub(started.elapsed()));
    }
    let download_took = started.elapsed();
    let status = server.wait_exit(Duration::from_secs(15));
    let exit_after = signalled.map(|at| at.elapsed());
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    let response = parse_one(&bytes);
    eprintln!(
        "soak: SIGTERM under load: download of {} body bytes in {download_took:.1?}, exit status \
         {:?} {exit_after:.1?} after the signal; load: {} complete responses, {} truncated",
        response.body.len(),
        status.and_then(|s| s.code()),
        complete.load(Ordering::Relaxed),
        truncated.load(Ordering::Relaxed)
    );
    assert!(signalled.is_some(), "the download ended before the signal");
    assert_eq!(response.status, 200);
    assert!(
        response.body == pattern(16 * MIB),
        "download cut short or wrong"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(0), "exit status");
    assert_eq!(truncated.load(Ordering::Relaxed), 0, "truncated responses");
}

/// Reads one response (Content-Length framed) or until the server closes.
fn read_one(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(15)));
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if let Parse::Complete(..) = parse_response(&bytes, false, false) {
            return (bytes, false);
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return (bytes, true),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
}
