//! No panic takes a worker down: a panic while one connection is handled closes that
//! connection (its script killed, its upload temporary removed), is logged with its message
//! and location, and the worker goes on serving every other connection.
//!
//! The panics are real ones, set off by the debug-only trigger of `server::fault`
//! (`WEBSERV_TEST_PANIC=MARKER`, a target containing `MARKER=plan|upload|cgi`). A release build
//! has no trigger: there the same requests are served like any other.

mod support;

#[cfg(debug_assertions)]
use std::{io::Write, time::Duration};
#[cfg(debug_assertions)]
use support::hostile::*;
use support::*;

const MARKER: &str = "__panic";

fn start() -> Server {
    let config = simple_config(
        "    location /up { allow_methods GET PUT POST; alias store; upload_store store; }\n\
         \x20   location /cgi-bin { cgi .sh /bin/sh; }",
    );
    let dir = TempDir::new();
    dir.write("www/index.html", b"home");
    dir.write("store/", b"");
    dir.write(
        "www/cgi-bin/hang.sh",
        b"echo $$ > pid\nprintf 'Content-Type: text/plain\\r\\n\\r\\nstarted\\n'\nexec sleep 30\n",
    );
    Server::launch(dir, &config, |command| {
        command.env("WEBSERV_TEST_PANIC", MARKER);
    })
}

/// One keep-alive request on `conn`: 200 with the home page.
fn home(conn: &mut Conn, during: &str) {
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = conn.read_response();
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"home"[..]),
        "{during}"
    );
}

/// Whether the error log (the server's stderr, read by another thread) shows `text` within 5 s.
#[cfg(debug_assertions)]
fn logged(server: &Server, text: &str) -> bool {
    wait_until(Duration::from_secs(5), || server.stderr().contains(text))
}

#[cfg(debug_assertions)]
#[test]
fn a_panic_in_the_handler_closes_only_its_connection_and_is_logged() {
    let server = start();
    let mut other = server.connect();
    home(&mut other, "before the panics");
    let baseline = server.settled_fd_count();
    for i in 0..20 {
        let exchange = exchange(
            server.addr(),
            format!("GET /?{MARKER}=plan&i={i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
            Duration::from_secs(10),
        );
        assert_eq!(exchange.end, End::Closed, "panic {i}: connection left open");
        assert!(
            exchange.bytes.is_empty(),
            "panic {i}: {}",
            show(&exchange.bytes)
        );
        // The single worker still serves the connection it had, and new ones.
        home(&mut other, &format!("after panic {i}"));
        assert_eq!(
            server.get("/").status,
            200,
            "a new connection after panic {i}"
        );
    }
    logged(&server, &format!("plan for /?{MARKER}=plan&i=19"));
    let log = server.stderr();
    let panics = log
        .lines()
        .filter(|l| l.contains("[error] panic in worker-0 at src/fault.rs:"))
        .collect::<Vec<_>>();
    assert_eq!(panics.len(), 20, "error log:\n{log}");
    assert!(
        panics[0].ends_with(&format!("test panic at plan for /?{MARKER}=plan&i=0")),
        "{}",
        panics[0]
    );
    assert!(
        !log.contains("panicked at"),
        "raw panic output on stderr:\n{log}"
    );
    let (count, list) = fds_back_to(&server, baseline, 0);
    assert!(
        count <= baseline,
        "fds: {baseline} before, {count} after: {list:?}"
    );
}

#[cfg(debug_assertions)]
#[test]
fn a_panic_in_the_middle_of_an_upload_leaves_no_temporary() {
    let server = start();
    let mut other = server.connect();
    home(&mut other, "before the upload");
    let mut conn = server.connect();
    conn.send(
        format!(
            "PUT /up/big.bin?{MARKER}=upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n"
        )
        .as_bytes(),
    );
    // Some body: the temporary exists and holds bytes when the panic strikes.
    let _ = conn.stream.write_all(&[b'u'; 65536]);
    assert_eq!(conn.closed_within(Duration::from_secs(10)), Ok(true));
    let store = server.dir.path().join("store");
    let mut left = Vec::new();
    let empty = wait_until(Duration::from_secs(5), || {
        left = names(&store);
        left.is_empty()
    });
    assert!(empty, "store after the panic: {left:?}");
    home(&mut other, "after the upload's panic");
    assert!(
        logged(&server, "test panic at upload"),
        "{}",
        server.stderr()
    );
}

#[cfg(debug_assertions)]
#[test]
fn a_panic_in_the_middle_of_a_cgi_exchange_kills_the_script_and_leaves_no_zombie() {
    let server = start();
    let mut other = server.connect();
    home(&mut other, "before the script");
    let mut conn = server.connect();
    conn.send(format!("GET /cgi-bin/hang.sh?{MARKER}=cgi HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    let pid = read_pid_file(&server.dir.path().join("www/cgi-bin/pid"));
    // The head came from the script, then the panic: the connection closes, cut short.
    let (bytes, end) = read_until_closed(
        &mut conn.stream,
        std::time::Instant::now() + Duration::from_secs(10),
    );
    assert_eq!(end, End::Closed, "connection left open: {}", show(&bytes));
    let gone = wait_until(Duration::from_secs(5), || {
        !pid_exists(pid) && server.children().is_empty()
    });
    assert!(
        gone,
        "script {pid} alive: {}; children of the server: {:?}",
        pid_exists(pid),
        server.children()
    );
    home(&mut other, "after the script's panic");
    assert!(logged(&server, "test panic at cgi"), "{}", server.stderr());
}

/// Release builds have no trigger: the requests that panic in a debug build are served.
#[cfg(not(debug_assertions))]
#[test]
fn a_release_build_has_no_panic_trigger() {
    let server = start();
    let mut conn = server.connect();
    conn.send(format!("GET /?{MARKER}=plan HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    assert_eq!(conn.read_response().status, 200);
    home(&mut conn, "after the would-be panic");
    assert!(!server.stderr().contains("panic"));
}
