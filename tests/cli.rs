//! The command line: `-t`, `--help`, `--version`, bind errors, signals.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};
use support::{Server, TempDir, run_cli, run_cli_unprivileged, simple_config};

#[test]
fn check_of_a_good_config_prints_configuration_ok() {
    let dir = TempDir::new();
    let path = dir.write("good.conf", simple_config("").as_bytes());
    let (status, stdout, stderr) = run_cli(&["-t", path.to_str().unwrap()], dir.path());
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("configuration OK") || stderr.contains("configuration OK"),
        "{stdout}{stderr}"
    );
}

#[test]
fn check_of_a_bad_config_reports_path_line_and_column() {
    let dir = TempDir::new();
    let text = "workers 1;\nserver {\n    listen 127.0.0.1:0;\n    bogus_directive on;\n}\n";
    let path = dir.write("bad.conf", text.as_bytes());
    let path_text = path.to_str().unwrap();
    let (status, stdout, stderr) = run_cli(&["-t", path_text], dir.path());
    assert_eq!(status.code(), Some(1));
    assert!(!stdout.contains("configuration OK"));
    let prefix = format!("{path_text}:4:5: ");
    assert!(
        stderr.lines().any(|l| l.starts_with(&prefix)),
        "expected {prefix:?}: {stderr}"
    );
}

#[test]
fn config_errors_are_located() {
    // (config, line) of the error.
    let cases: &[(&str, usize)] = &[
        ("server {\n    listen 127.0.0.1:0;}\n}\n", 3), // unbalanced
        ("server {\n    listen 127.0.0.1:0;\n    root a b;\n}\n", 3), // argument count
        (
            "server {\n    listen 127.0.0.1:0;\n    root a;\n    root b;\n}\n",
            4,
        ), // duplicate
        ("listen 127.0.0.1:0;\n", 1),                   // wrong block
        (
            "server {\n    listen 127.0.0.1:0;\n    client_max_body_size 1x;\n}\n",
            3,
        ),
        ("server {\n    listen 127.0.0.1:99999;\n}\n", 2),
        (
            "server {\n    listen 127.0.0.1:0;\n    autoindex maybe;\n}\n",
            3,
        ),
        (
            "server {\n    listen 127.0.0.1:0;\n    location /x { listen 127.0.0.1:0; }\n}\n",
            3,
        ),
    ];
    let dir = TempDir::new();
    for (i, (text, line)) in cases.iter().enumerate() {
        let path = dir.write(&format!("case{i}.conf"), text.as_bytes());
        let path_text = path.to_str().unwrap();
        let (status, _, stderr) = run_cli(&["-t", path_text], dir.path());
        assert_eq!(status.code(), Some(1), "case {i}: {text}");
        let prefix = format!("{path_text}:{line}:");
        assert!(
            stderr.lines().any(|l| l.starts_with(&prefix)),
            "case {i}: expected {prefix:?} in {stderr:?}"
        );
    }
}

#[test]
fn the_same_address_twice_in_one_server_is_a_config_error() {
    let dir = TempDir::new();
    let text = "server {\n    listen 127.0.0.1:8123;\n    listen 127.0.0.1:8123;\n}\n";
    let path = dir.write("dup.conf", text.as_bytes());
    let path_text = path.to_str().unwrap();
    let (status, _, stderr) = run_cli(&["-t", path_text], dir.path());
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("{path_text}:3:"))),
        "{stderr}"
    );
}

#[test]
fn serving_a_bad_config_fails_before_binding() {
    let dir = TempDir::new();
    let path = dir.write("bad.conf", b"server { listen 127.0.0.1:0; nope; }\n");
    let (status, _, stderr) = run_cli(&[path.to_str().unwrap()], dir.path());
    assert_eq!(status.code(), Some(1));
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert!(stderr.contains("bad.conf:1:"), "{stderr}");
}

#[test]
fn help_and_version_exit_0() {
    let dir = TempDir::new();
    let (status, stdout, _) = run_cli(&["--help"], dir.path());
    assert_eq!(status.code(), Some(0));
    assert!(stdout.contains("-t"), "{stdout}");
    let (status, stdout, _) = run_cli(&["--version"], dir.path());
    assert_eq!(status.code(), Some(0));
    assert!(stdout.contains("webserv"), "{stdout}");
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
}

#[test]
fn an_address_already_in_use_is_reported_with_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = format!("workers 1;\naccess_log off;\nserver {{ listen {addr}; root www; }}\n");
    let started = Instant::now();
    let failed = match Server::try_start(&config, &[]) {
        Ok(_) => panic!("a second listener on {addr} started"),
        Err(failed) => failed,
    };
    assert_eq!(failed.status.code(), Some(1), "{}", failed.stderr);
    assert!(
        failed.stderr.contains(&addr.to_string()),
        "{}",
        failed.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(taken);
}

#[test]
fn a_second_instance_on_the_same_port_fails() {
    let first = Server::start(&simple_config(""), &[("www/index.html", b"first")]);
    let addr = first.addr();
    let config = format!("workers 1;\naccess_log off;\nserver {{ listen {addr}; root www; }}\n");
    match Server::try_start(&config, &[]) {
        Ok(_) => panic!("a second webserv shares {addr}"),
        Err(failed) => {
            assert_eq!(failed.status.code(), Some(1));
            assert!(
                failed.stderr.contains(&addr.to_string()),
                "{}",
                failed.stderr
            );
        }
    }
    assert_eq!(first.get("/").text(), "first");
}

#[test]
fn sigterm_exits_0() {
    let mut server = Server::start(&simple_config(""), &[("www/index.html", b"x")]);
    assert_eq!(server.get("/").status, 200);
    let status = server.terminate().expect("no exit within 5 s of SIGTERM");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigint_exits_0() {
    let mut server = Server::start(&simple_config(""), &[]);
    server.signal(libc::SIGINT);
    let status = server.wait_exit(Duration::from_secs(5)).expect("no exit");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigterm_with_a_response_in_flight_exits_0() {
    let big = vec![b'y'; 8 << 20];
    let mut server = Server::start(&simple_config("send_timeout 2s;"), &[("www/big.bin", &big)]);
    let mut conn = server.connect();
    conn.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    // Read a little so the response is under way, then stop reading.
    let mut first = [0u8; 1024];
    std::io::Read::read(&mut conn.stream, &mut first).unwrap();
    let started = Instant::now();
    server.signal(libc::SIGTERM);
    // Reading the rest lets the server finish; it must exit 0 within its grace period.
    let rest = conn.read_to_end();
    let status = server.wait_exit(Duration::from_secs(15)).expect("no exit");
    assert_eq!(status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(15));
    let _ = rest;
}

#[test]
fn sigterm_completes_a_response_in_flight() {
    let big = vec![b'z'; 4 << 20];
    let mut server = Server::start(&simple_config(""), &[("www/big.bin", &big)]);
    let mut conn = server.connect();
    conn.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut first = [0u8; 1024];
    let n = std::io::Read::read(&mut conn.stream, &mut first).unwrap();
    server.signal(libc::SIGTERM);
    let mut bytes = first[..n].to_vec();
    bytes.extend(conn.read_to_end());
    let r = support::parse_one(&bytes);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), big.len(), "response cut short by shutdown");
    let status = server.wait_exit(Duration::from_secs(10)).expect("no exit");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn while_a_shutdown_drains_new_connections_are_refused_at_once() {
    let big = vec![b'z'; 16 << 20];
    let mut server = Server::start(&simple_config(""), &[("www/big.bin", &big)]);
    let addr = server.addr();
    let mut conn = server.connect();
    conn.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut first = [0u8; 1024];
    let n = std::io::Read::read(&mut conn.stream, &mut first).unwrap();
    // The client reads no more for now: the response stays in flight, so the server drains.
    server.signal(libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Err(e) => break e,
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(_) => panic!("the listener still accepts connections 5 s into the drain"),
        }
    };
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let mut bytes = first[..n].to_vec();
    bytes.extend(conn.read_to_end());
    assert_eq!(support::parse_one(&bytes).body.len(), big.len());
    let status = server.wait_exit(Duration::from_secs(10)).expect("no exit");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn after_sigterm_new_connections_are_refused() {
    let mut server = Server::start(&simple_config(""), &[("www/index.html", b"x")]);
    let addr = server.addr();
    let status = server.terminate().expect("no exit");
    assert_eq!(status.code(), Some(0));
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err());
}

#[test]
fn sighup_reloads_the_configuration_and_a_bad_one_is_ignored() {
    let mut server = Server::start(&simple_config("location /v { return 200 \"one\"; }"), &[]);
    let config_path = server.dir.path().join("webserv.conf");
    // The same configured address (port 0 included) keeps the same listening socket.
    let new = simple_config("location /v { return 200 \"two\"; }");
    std::fs::write(&config_path, new).unwrap();
    server.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.get("/v").text() != "two" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.get("/v").text(), "two", "{}", server.stderr());
    std::fs::write(&config_path, "server { nonsense }\n").unwrap();
    server.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.get("/v").text(), "two");
    assert!(
        support::wait_until(std::time::Duration::from_secs(5), || server
            .stderr()
            .contains("webserv.conf:1:")),
        "{}",
        server.stderr()
    );
    let status = server.terminate().expect("no exit");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn an_unclosed_block_is_reported_at_the_end_of_the_file() {
    let dir = TempDir::new();
    let path = dir.write("open.conf", b"server {\n    listen 127.0.0.1:0;\n");
    let path_text = path.to_str().unwrap();
    let (status, _, stderr) = run_cli(&["-t", path_text], dir.path());
    assert_eq!(status.code(), Some(1));
    // The last line, or the line after the final newline.
    assert!(
        stderr.starts_with(&format!("{path_text}:2:"))
            || stderr.starts_with(&format!("{path_text}:3:")),
        "{stderr}"
    );
}

/// Sends SIGTERM and returns how long the server took to exit (0 expected).
fn time_sigterm(server: &mut Server) -> Duration {
    let started = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(15)).expect("no exit");
    assert_eq!(status.code(), Some(0));
    started.elapsed()
}

#[test]
fn sigterm_does_not_wait_for_idle_keep_alive_connections() {
    let mut server = Server::start(&simple_config(""), &[("www/index.html", b"x")]);
    let mut idle = server.connect();
    idle.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(idle.read_response().status, 200);
    std::thread::sleep(Duration::from_millis(100));
    let took = time_sigterm(&mut server);
    assert!(
        took < Duration::from_secs(3),
        "exit took {took:?} with an idle keep-alive connection"
    );
    assert_eq!(idle.closed_within(Duration::from_secs(2)), Ok(true));
}

#[test]
fn sigterm_does_not_wait_for_a_connection_that_sent_nothing() {
    let mut server = Server::start(&simple_config(""), &[("www/index.html", b"x")]);
    let mut silent = server.connect();
    std::thread::sleep(Duration::from_millis(200));
    let took = time_sigterm(&mut server);
    assert!(
        took < Duration::from_secs(3),
        "exit took {took:?} with a silent connection open"
    );
    // With TCP_DEFER_ACCEPT (the default header timeout allows it) the kernel still held the
    // connection, unaccepted, and it went with the listening socket: the client learns it when
    // it speaks. Without deferral the server had accepted and closed it.
    let _ = silent.try_send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(silent.closed_within(Duration::from_secs(2)), Ok(true));
}

#[test]
fn sigterm_exits_within_the_grace_period_even_with_a_stalled_reader() {
    let big = vec![b's'; 16 << 20];
    let mut server = Server::start(&simple_config(""), &[("www/big.bin", &big)]);
    let mut conn = server.connect();
    conn.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut first = [0u8; 1024];
    std::io::Read::read(&mut conn.stream, &mut first).unwrap();
    let started = Instant::now();
    server.signal(libc::SIGTERM);
    // Never read again: the server must give up after its bounded grace period.
    let status = server
        .wait_exit(Duration::from_secs(30))
        .expect("no exit in 30 s");
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    drop(conn);
}

#[test]
fn sighup_keeps_open_connections_working_and_binds_new_listeners() {
    let mut server = Server::start(&simple_config(""), &[("www/index.html", b"x")]);
    let mut conn = server.connect();
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().status, 200);

    let config_path = server.dir.path().join("webserv.conf");
    let new = "workers 1;\naccess_log off;\n\
               server { listen 127.0.0.1:0; root www; }\n\
               server { listen 127.0.0.3:0; root www; }\n";
    std::fs::write(&config_path, new).unwrap();
    server.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut added = None;
    while added.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        added = server
            .stderr()
            .lines()
            .filter_map(|l| l.split_once("listening on http://127.0.0.3:"))
            .map(|(_, port)| port.trim().parse::<u16>().unwrap())
            .next();
    }
    let port = added.unwrap_or_else(|| panic!("no new listener: {}", server.stderr()));
    let r = support::parse_one(&support::raw(
        format!("127.0.0.3:{port}").parse().unwrap(),
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(r.status, 200);
    // The old connection and the old listener still work.
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().status, 200);
    assert_eq!(server.get("/").status, 200);
    assert_eq!(server.terminate().and_then(|s| s.code()), Some(0));
}

#[test]
fn sighup_that_drops_a_listener_closes_it() {
    let server = Server::start(
        "workers 1;\naccess_log off;\n\
         server { listen 127.0.0.1:0; root www; }\n\
         server { listen 127.0.0.4:0; root www; }\n",
        &[("www/index.html", b"x")],
    );
    let dropped = server.addrs[1];
    std::fs::write(server.dir.path().join("webserv.conf"), simple_config("")).unwrap();
    server.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect_timeout(&dropped, Duration::from_secs(1)).is_ok()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::net::TcpStream::connect_timeout(&dropped, Duration::from_secs(1)).is_err(),
        "{dropped} still accepts after the reload: {}",
        server.stderr()
    );
    assert_eq!(server.get("/").status, 200);
}

/// `webserv -t` on `text` written as `name` in a fresh dir: (exit code, stdout, stderr, path).
fn check(name: &str, text: &str) -> (Option<i32>, String, String, String) {
    let dir = TempDir::new();
    let path = dir.write(name, text.as_bytes());
    let path_text = path.to_str().unwrap().to_string();
    let (status, stdout, stderr) = run_cli(&["-t", &path_text], dir.path());
    (status.code(), stdout, stderr, path_text)
}

#[test]
fn the_config_grammar_accepts_nginx_style_files() {
    let good = [
        // Comments, quoting, sizes, durations, workers auto.
        "# comment\nworkers auto; # trailing\nserver { listen 127.0.0.1:0; }\n",
        "server {\n  listen \"127.0.0.1:0\";\n  root \"my www\";\n}\n",
        "server { listen 0; }\n",
        "server { listen 127.0.0.1:0; client_max_body_size 10m; }\n",
        "server { listen 127.0.0.1:0; client_max_body_size 1g; }\n",
        "server { listen 127.0.0.1:0; client_max_body_size 512; }\n",
        "server { listen 127.0.0.1:0; keepalive_timeout 500ms; client_header_timeout 2m; client_body_timeout 1h; send_timeout 30; }\n",
        "server { listen 127.0.0.1:0; listen [::1]:0; server_name a b c; }\n",
        "server { listen 127.0.0.1:0; error_page 404 500 502 /e.html; index a.html b.html; }\n",
        "server { listen 127.0.0.1:0; location / { autoindex on; } location = /x { return 204; } }\n",
        "server { listen 127.0.0.1:0; location /old { return 301 /new/; } location /t { return 200 \"a b\"; } }\n",
        "access_log off;\nerror_log stderr;\nserver { listen 127.0.0.1:0; }\nserver { listen 127.0.0.1:0; server_name b; }\n",
    ];
    for (i, text) in good.iter().enumerate() {
        let (code, stdout, stderr, _) = check("good.conf", text);
        assert_eq!(code, Some(0), "good case {i}: {text}\n{stderr}");
        assert!(
            stdout.contains("configuration OK"),
            "good case {i}: {stdout}"
        );
    }
}

#[test]
fn the_config_grammar_rejects_mistakes_with_their_line() {
    // (text, line of the error)
    let bad: &[(&str, usize)] = &[
        ("server { listen 127.0.0.1:0 }\n", 1), // missing ;
        ("server {\n listen 127.0.0.1:0;\n frobnicate;\n}\n", 3), // unknown
        ("server {\n listen 127.0.0.1:0;\n autoindex;\n}\n", 3), // arg count
        (
            "server {\n listen 127.0.0.1:0;\n client_max_body_size 5q;\n}\n",
            3,
        ), // size
        (
            "server {\n listen 127.0.0.1:0;\n keepalive_timeout 5 parsecs;\n}\n",
            3,
        ),
        (
            "server {\n listen 127.0.0.1:0;\n keepalive_timeout 5y;\n}\n",
            3,
        ),
        (
            "server {\n listen 127.0.0.1:0;\n autoindex on;\n autoindex off;\n}\n",
            4,
        ), // duplicate
        ("server {\n listen 127.0.0.1:0;\n}\nreturn 404;\n", 4), // wrong block
        (
            "workers 1;\nworkers 2;\nserver { listen 127.0.0.1:0; }\n",
            2,
        ),
        ("workers zero;\nserver { listen 127.0.0.1:0; }\n", 1),
        ("server {\n listen 127.0.0.1:0;\n alias x;\n}\n", 3), // alias in server
        (
            "server {\n listen 127.0.0.1:0;\n location /a { root x; alias y; }\n}\n",
            3,
        ),
        ("server {\n listen nowhere:abc;\n}\n", 2),
        ("server {\n listen 127.0.0.1:0;\n error_page 404;\n}\n", 3),
        (
            "server {\n listen 127.0.0.1:0;\n error_page 99 /e.html;\n}\n",
            3,
        ),
        ("server {\n listen 127.0.0.1:0;\n return 1000;\n}\n", 3),
        ("server {\n listen 127.0.0.1:0;\n allow_methods;\n}\n", 3),
        ("server {\n listen 127.0.0.1:0;\n location { }\n}\n", 3),
        (
            "server {\n listen 127.0.0.1:0;\n root \"unterminated;\n}\n",
            3,
        ),
        ("server {\n listen 127.0.0.1:0;\n}\n}\n", 4), // stray }
        (
            "server {\n listen 127.0.0.1:0;\n location /a {\n  location /b { }\n }\n}\n",
            4,
        ), // nested location outside its parent
        (
            "server {\n listen 127.0.0.1:0;\n location ~ \\.(php {\n }\n}\n",
            3,
        ), // regex that does not compile
        (
            "server {\n listen 127.0.0.1:0;\n location / { try_files $uri; }\n}\n",
            3,
        ), // try_files without a fallback
        (
            "server {\n listen 127.0.0.1:0;\n location / {\n  location @x { }\n }\n}\n",
            4,
        ), // named location inside another
        ("server {\n}\n", 1),                          // no listen
        ("", 1),                                       // no server
    ];
    for (i, (text, line)) in bad.iter().enumerate() {
        let (code, stdout, stderr, path) = check("bad.conf", text);
        assert_eq!(code, Some(1), "bad case {i} accepted: {text:?}\n{stdout}");
        let located = stderr.lines().any(|l| {
            l.strip_prefix(&format!("{path}:"))
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n == *line || (n == line + 1 && text.ends_with('\n')))
        });
        assert!(
            located,
            "bad case {i}: expected {path}:{line}: in {stderr:?}\n{text}"
        );
    }
}

#[test]
fn check_warns_about_unsafe_settings_with_their_position_and_still_succeeds() {
    let dir = TempDir::new();
    // A public address: on loopback only, the autoindex warning would not be given.
    let text = "workers 1;\nserver {\n    listen 0.0.0.0:0;\n    root /;\n    \
                location /up {\n        alias files;\n        cgi .py;\n        \
                upload_store files;\n        autoindex on;\n        \
                allow_methods GET POST DELETE;\n    }\n}\n";
    let path = dir.write("unsafe.conf", text.as_bytes());
    dir.write("files/a.txt", b"a");
    let path_text = path.to_str().unwrap();
    let (status, stdout, stderr) = run_cli(&["-t", path_text], dir.path());
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    let warnings: Vec<&str> = stderr.lines().collect();
    assert_eq!(warnings.len(), 3, "{stderr}");
    assert!(
        warnings[0].starts_with(&format!("{path_text}:4:5: warning: \"root /\"")),
        "{stderr}"
    );
    assert!(
        warnings[1].starts_with(&format!("{path_text}:8:9: warning: uploads stored in")),
        "{stderr}"
    );
    assert!(warnings[1].contains("cgi .py"), "{stderr}");
    assert!(
        warnings[2].starts_with(&format!("{path_text}:9:9: warning: autoindex lists")),
        "{stderr}"
    );
}

#[test]
fn a_safe_config_checks_without_warnings() {
    let dir = TempDir::new();
    let path = dir.write("good.conf", simple_config("").as_bytes());
    dir.write("www/index.html", b"home");
    let (status, _, stderr) = run_cli(&["-t", path.to_str().unwrap()], dir.path());
    assert_eq!(status.code(), Some(0));
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// Run as a user whom file modes bind (`nobody` when the tests run as root), so that under CI
/// too nothing is skipped.
#[test]
fn check_names_an_include_the_user_cannot_read_and_warns_of_a_root_and_store_it_cannot_use() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let d = dir.path().display().to_string();
    let secret = dir.write("secret.conf", b"server { listen 127.0.0.1:0; }\n");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    dir.write(
        "main.conf",
        b"include secret.conf;\nserver { listen 127.0.0.1:0; }\n",
    );
    let (status, stdout, stderr) = run_cli_unprivileged(&["-t", "main.conf"], dir.path());
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "main.conf:1:9: cannot read include file \"{d}/secret.conf\": Permission denied \
             (os error 13) (a relative include is relative to \"{d}\", the main configuration \
             file's directory, as in nginx)"
        )
    );

    let closed = dir.write("closed/", b"");
    let store = dir.write("store/", b"");
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o555)).unwrap();
    dir.write(
        "site.conf",
        b"server { listen 127.0.0.1:0; root closed; location /u { upload_store store; } }\n",
    );
    let (status, stdout, stderr) = run_cli_unprivileged(&["-t", "site.conf"], dir.path());
    assert_eq!(status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            format!(
                "site.conf:1:30: warning: root \"{d}/closed\" cannot be read by this user: what \
                 server serves will be 403"
            ),
            format!(
                "site.conf:1:57: warning: upload_store \"{d}/store\" cannot be written by this \
                 user: every upload to location /u will fail with 500"
            ),
        ]
    );
}

#[test]
fn check_warns_about_paths_that_will_fail_when_requests_come() {
    let dir = TempDir::new();
    let path = dir.write(
        "site.conf",
        simple_config("location /up { upload_store incoming; }").as_bytes(),
    );
    let path_text = path.to_str().unwrap();
    let (status, stdout, stderr) = run_cli(&["-t", path_text], dir.path());
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    let dir_text = dir.path().display().to_string();
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            format!(
                "{path_text}:5:5: warning: root \"{dir_text}/www\" does not exist: what server \
                 serves will be 404"
            ),
            format!(
                "{path_text}:6:16: warning: upload_store \"{dir_text}/incoming\" does not exist: \
                 every upload to location /up will fail with 500"
            ),
        ]
    );
}

#[test]
fn the_server_prints_config_warnings_at_startup_and_serves() {
    let server = Server::start(
        &simple_config("location /up { alias up; upload_store up; cgi .sh; }"),
        &[("up/a.txt", b"stored")],
    );
    assert_eq!(server.get("/up/a.txt").text(), "stored");
    let stderr = server.stderr();
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(":6:26: warning: uploads stored in")),
        "{stderr}"
    );
}
