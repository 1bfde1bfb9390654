//! A real browser against the demo site: headless Chromium loads the home page served from the
//! repository's www/ and prints the DOM it built. Skipped (with a note) where /usr/bin/chromium
//! is not installed, as in CI. The full browser check of the site (every page, the CGI demos,
//! uploads, caching) is `tests/browser/check_site.py`.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{Server, TempDir, wait_timeout};

const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser run, start to exit.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository's www/ served read-only, with the demo configuration's 404 page and listing.
fn demo_site() -> Server {
    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    Server::start(
        &format!(
            "workers 1;\naccess_log access.log;\nserver {{\n    listen 127.0.0.1:0;\n\
             root \"{}\";\n    error_page 404 /errors/404.html;\n\
             location /files {{ autoindex on; }}\n}}\n",
            www.display()
        ),
        &[],
    )
}

/// The DOM of `url` after its load event, as Chromium serialises it (`--dump-dom`).
fn dump_dom(url: &str) -> String {
    let profile = TempDir::new();
    let started = Instant::now();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = match wait_timeout(&mut child, BROWSER_TIMEOUT) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish in {BROWSER_TIMEOUT:?}:\n{}",
                err.join().unwrap()
            );
        }
    };
    let dom = out.join().unwrap();
    let log = err.join().unwrap();
    assert!(status.success(), "chromium: {status}\n{log}");
    eprintln!("chromium --dump-dom {url}: {:?}", started.elapsed());
    dom
}

/// The access log once it has `lines` lines (the server writes it after each batch of events).
fn access_log(server: &Server, lines: usize) -> String {
    let path = server.dir.path().join("access.log");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().count() >= lines || Instant::now() > deadline {
            return text;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn chromium_renders_the_home_page_with_its_stylesheet_and_icon() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("note: {CHROMIUM} is not installed; browser test skipped");
        return;
    }
    let server = demo_site();
    let base = format!("http://{}", server.addr());

    let dom = dump_dom(&format!("{base}/"));
    assert!(
        dom.contains("<title>webserv: an HTTP/1.1 server in Rust</title>"),
        "{dom}"
    );
    assert!(dom.contains(r#"<a href="/files/">Files</a>"#), "{dom}");
    assert!(
        dom.contains(r#"<a class="go" href="/upload.html">"#),
        "{dom}"
    );

    // The browser fetched the page, its stylesheet and its icon, all successfully.
    let log = access_log(&server, 3);
    for path in ["/", "/style.css", "/favicon.svg"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("\"GET {path} HTTP/1.1\" 200 "))),
            "no 200 for {path} in the access log:\n{log}"
        );
    }
    assert!(
        !log.lines()
            .any(|l| l.contains("\" 4") || l.contains("\" 5")),
        "{log}"
    );
}

#[test]
fn chromium_follows_the_directory_redirect_and_the_404_page() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("note: {CHROMIUM} is not installed; browser test skipped");
        return;
    }
    let server = demo_site();
    let base = format!("http://{}", server.addr());

    // /files/docs (no slash) is redirected to /files/docs/, whose index.html is shown.
    let dom = dump_dom(&format!("{base}/files/docs"));
    assert!(
        dom.contains("<h1>A subdirectory with an index file</h1>"),
        "{dom}"
    );
    // A missing page shows the configured error page.
    let dom = dump_dom(&format!("{base}/no-such-page"));
    assert!(
        dom.contains("<title>404 Not Found · webserv</title>"),
        "{dom}"
    );

    let log = access_log(&server, 3);
    assert!(log.contains("\"GET /files/docs HTTP/1.1\" 301 "), "{log}");
    assert!(log.contains("\"GET /files/docs/ HTTP/1.1\" 200 "), "{log}");
    assert!(log.contains("\"GET /no-such-page HTTP/1.1\" 404 "), "{log}");
}
