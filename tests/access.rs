//! Access control through the real server: `allow`/`deny` by client address (127.0.0.1 and
//! 127.0.0.2 as two clients), `auth_basic` with user files made by Apache's `htpasswd`
//! (bcrypt, MD5 and SHA-1), `satisfy`, and the user file's errors and warnings at `-t`.

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use support::{Conn, Response, Server, TempDir, run_cli, simple_config};

const FILES: &[(&str, &[u8])] = &[
    ("www/index.html", b"<p>home</p>"),
    ("www/private/doc.txt", b"secret doc"),
    ("www/open/doc.txt", b"open doc"),
];

/// `htpasswd -b FLAGS FILE USER PASSWORD`, creating FILE with `create`.
fn htpasswd(file: &Path, flags: &str, user: &str, password: &str) {
    let mut command = Command::new("htpasswd");
    command.arg(flags);
    command.args([file.to_str().unwrap(), user, password]);
    let out = command
        .output()
        .expect("run htpasswd (apt-get install apache2-utils)");
    assert!(
        out.status.success(),
        "htpasswd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A user file with one user per scheme htpasswd can write.
fn users(dir: &TempDir) {
    let file = dir.path().join("users");
    htpasswd(&file, "-cbB", "bcrypt", "b-secret");
    htpasswd(&file, "-bm", "apr1", "m-secret");
    htpasswd(&file, "-bs", "sha", "s-secret");
    htpasswd(&file, "-bp", "plain", "p-secret");
    htpasswd(&file, "-bd", "des", "d-secret");
}

fn start(extra: &str) -> Server {
    let dir = TempDir::new();
    for (path, contents) in FILES {
        dir.write(path, contents);
    }
    users(&dir);
    Server::launch(dir, &simple_config(extra), |_| {})
}

fn basic(user_password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(user_password)
}

fn get(conn: &mut Conn, path: &str, authorization: Option<&str>) -> Response {
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n{auth}\r\n").as_bytes());
    conn.read_response()
}

fn from(server: &Server, ip: [u8; 4]) -> Conn {
    Conn::connect_from(Ipv4Addr::from(ip), server.addr())
}

#[test]
fn deny_and_allow_take_the_first_rule_that_holds_the_client_address() {
    let server = start(
        "location /private { allow 127.0.0.2; deny 127.0.0.0/8; allow all; }
         location /open { deny 10.0.0.0/8; }",
    );
    let mut one = from(&server, [127, 0, 0, 1]);
    let mut two = from(&server, [127, 0, 0, 2]);
    let denied = get(&mut one, "/private/doc.txt", None);
    assert_eq!(denied.status, 403);
    assert!(denied.is_html_page());
    assert_eq!(get(&mut two, "/private/doc.txt", None).text(), "secret doc");
    assert_eq!(get(&mut one, "/open/doc.txt", None).status, 200);
    assert_eq!(get(&mut one, "/index.html", None).status, 200);
    // The error log is read from the server's stderr by another thread: wait for it.
    let logged = support::wait_until(std::time::Duration::from_secs(5), || {
        server.stderr().contains("access forbidden by rule")
    });
    assert!(logged, "{}", server.stderr());
}

#[test]
fn a_location_with_rules_of_its_own_replaces_the_servers_rules() {
    let server = start("deny all;\nlocation /open { allow 127.0.0.1; }");
    let mut conn = from(&server, [127, 0, 0, 1]);
    assert_eq!(get(&mut conn, "/index.html", None).status, 403);
    assert_eq!(get(&mut conn, "/open/doc.txt", None).status, 200);
}

#[test]
fn return_answers_before_the_access_phase_as_in_nginx() {
    let server = start("location = /health { deny all; return 200 ok; }");
    assert_eq!(server.get("/health").text(), "ok");
}

#[test]
fn auth_basic_accepts_each_hash_htpasswd_writes_and_refuses_wrong_or_missing_credentials() {
    let server =
        start("location /private { auth_basic \"Team \\\"A\\\"\"; auth_basic_user_file users; }");
    let mut conn = server.connect();
    for good in [
        "bcrypt:b-secret",
        "apr1:m-secret",
        "sha:s-secret",
        "bcrypt:b-secret",
    ] {
        let ok = get(
            &mut conn,
            "/private/doc.txt",
            Some(&format!("Basic {}", basic(good))),
        );
        assert_eq!(ok.status, 200, "{good}");
        assert_eq!(ok.text(), "secret doc");
    }
    let wrong = [
        "bcrypt:b-secreT",
        "apr1:",
        "sha:m-secret",
        "nobody:b-secret",
        // Refused schemes: the right password still does not let them in.
        "plain:p-secret",
        "des:d-secret",
    ];
    for credentials in wrong {
        let r = get(
            &mut conn,
            "/private/doc.txt",
            Some(&format!("Basic {}", basic(credentials))),
        );
        assert_eq!(r.status, 401, "{credentials}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"Team \\\"A\\\"\"")
        );
        assert!(r.is_html_page());
    }
    let huge = format!("Basic {}", basic(&format!("bcrypt:{}", "x".repeat(20_000))));
    let malformed = [
        None,
        Some("Basic"),
        Some("Basic !!!!"),
        Some("Bearer abc"),
        Some("Basic bm9jb2xvbg=="),
        Some(huge.as_str()),
    ];
    for authorization in malformed {
        let r = get(&mut conn, "/private/doc.txt", authorization);
        assert_eq!(r.status, 401, "{authorization:?}");
        assert!(r.has_header("www-authenticate"));
    }
    assert_eq!(get(&mut conn, "/open/doc.txt", None).status, 200);
    let logged = support::wait_until(std::time::Duration::from_secs(5), || {
        let log = server.stderr();
        log.contains("user \"bcrypt\": password mismatch")
            && log.contains("user \"nobody\" was not found in")
    });
    assert!(logged, "{}", server.stderr());
}

#[test]
fn auth_basic_off_in_a_location_lifts_the_servers_authentication() {
    let server =
        start("auth_basic site; auth_basic_user_file users;\nlocation /open { auth_basic off; }");
    assert_eq!(server.get("/index.html").status, 401);
    assert_eq!(server.get("/open/doc.txt").status, 200);
}

#[test]
fn satisfy_any_lets_in_an_allowed_address_or_a_known_user() {
    let server = start(
        "location /private {
             satisfy any;
             allow 127.0.0.2;
             deny all;
             auth_basic private;
             auth_basic_user_file users;
         }
         location /open { satisfy all; allow 127.0.0.2; deny all; auth_basic x; auth_basic_user_file users; }",
    );
    let good = format!("Basic {}", basic("apr1:m-secret"));
    let mut one = from(&server, [127, 0, 0, 1]);
    let mut two = from(&server, [127, 0, 0, 2]);
    assert_eq!(get(&mut two, "/private/doc.txt", None).status, 200);
    assert_eq!(get(&mut one, "/private/doc.txt", None).status, 401);
    assert_eq!(get(&mut one, "/private/doc.txt", Some(&good)).status, 200);
    // satisfy all: both are needed.
    assert_eq!(get(&mut one, "/open/doc.txt", Some(&good)).status, 403);
    assert_eq!(get(&mut two, "/open/doc.txt", None).status, 401);
    assert_eq!(get(&mut two, "/open/doc.txt", Some(&good)).status, 200);
}

#[test]
fn a_reload_reads_the_user_file_again() {
    let server = start("auth_basic site; auth_basic_user_file users;");
    let old = format!("Basic {}", basic("bcrypt:b-secret"));
    let mut conn = server.connect();
    assert_eq!(get(&mut conn, "/index.html", Some(&old)).status, 200);
    htpasswd(&server.dir.path().join("users"), "-bB", "bcrypt", "changed");
    // Not per request: the old password still works until the reload.
    assert_eq!(get(&mut conn, "/index.html", Some(&old)).status, 200);
    server.signal(libc::SIGHUP);
    let new = format!("Basic {}", basic("bcrypt:changed"));
    let once = |authorization: &str| {
        server.request(&format!(
            "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
        ))
    };
    let reloaded = support::wait_until(std::time::Duration::from_secs(10), || {
        once(&new).status == 200
    });
    assert!(reloaded, "{}", server.stderr());
    assert_eq!(once(&old).status, 401);
}

#[test]
fn user_file_errors_and_refused_lines_are_reported_at_their_line_and_column() {
    let dir = TempDir::new();
    dir.write("www/index.html", b"x");
    users(&dir);
    let conf = "server { listen 127.0.0.1:0; auth_basic r; auth_basic_user_file users; }\n";
    let path = dir.write("w.conf", conf.as_bytes());
    let (status, stdout, stderr) = run_cli(&["-t", path.to_str().unwrap()], dir.path());
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("configuration OK"));
    let users_path = dir.path().join("users");
    let warning = format!(
        "{}:4:7: warning: user \"plain\": DES crypt or plain-text",
        users_path.display()
    );
    assert!(stderr.contains(&warning), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:5:5: warning: user \"des\"",
            users_path.display()
        )),
        "{stderr}"
    );

    std::fs::write(
        &users_path,
        "ok:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\nbad:$2y$05$short\n",
    )
    .unwrap();
    let (status, _, stderr) = run_cli(&["-t", path.to_str().unwrap()], dir.path());
    assert!(!status.success());
    assert_eq!(
        stderr.trim(),
        format!(
            "{}:2:5: malformed bcrypt hash (expected $2y$NN$ and 53 characters)",
            users_path.display()
        )
    );

    std::fs::remove_file(&users_path).unwrap();
    let (status, _, stderr) = run_cli(&["-t", path.to_str().unwrap()], dir.path());
    assert!(!status.success());
    assert!(
        stderr.starts_with(&format!(
            "{}:1:65: cannot read the user file",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn bad_allow_and_satisfy_values_are_config_errors_at_the_value() {
    let dir = TempDir::new();
    for (directive, col) in [
        ("allow 10.0.0.0/33;", 27),
        ("deny nope;", 26),
        ("satisfy some;", 29),
    ] {
        let conf = format!("server {{ listen 80; {directive} }}\n");
        let path = dir.write("w.conf", conf.as_bytes());
        let (status, _, stderr) = run_cli(&["-t", path.to_str().unwrap()], dir.path());
        assert!(!status.success(), "{directive}");
        assert!(
            stderr.starts_with(&format!("{}:1:{col}: ", path.display())),
            "{directive}: {stderr}"
        );
    }
}

#[test]
fn the_rules_of_a_location_reached_by_an_internal_redirect_apply_too() {
    let server = start(
        "location /open { try_files $uri @private; }
         location @private { deny all; }
         location = /gate { error_page 404 = @auth; return 404; }
         location @auth { auth_basic inner; auth_basic_user_file users; }",
    );
    assert_eq!(server.get("/open/doc.txt").text(), "open doc");
    assert_eq!(server.get("/open/none.txt").status, 403);
    let gate = server.get("/gate");
    assert_eq!(gate.status, 401, "{}", gate.text());
}
