//! The front door: the demo configurations of `conf/` as a newcomer runs them. The plain-HTTP
//! demo and the HTTPS example serve one site (`conf/demo-site.conf`, included by both): every
//! link of its pages answers over HTTPS as over HTTP, uploads and DELETE work on both, and
//! neither configuration starts with a warning.
//!
//! The configurations are copied to a temporary directory with their ports made 0, the site's
//! `../www` made absolute and the upload store moved to a temporary directory (the test never
//! writes into the repository).

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Server, TempDir, clean_exec, run_cli};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A directory holding the demo configurations, ready to run: `demo-site.conf` with the
/// repository's www/ and a temporary upload store, the two main files on port 0, and a
/// certificate for 127.0.0.1 in tls/.
fn demo_dir() -> TempDir {
    let dir = TempDir::new();
    let www = repo().join("www");
    let uploads = dir.path().join("uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    let site = std::fs::read_to_string(repo().join("conf/demo-site.conf")).unwrap();
    let site = site
        .replace("../www/uploads", &uploads.display().to_string())
        .replace("../www", &www.display().to_string());
    assert!(!site.contains("../"), "{site}");
    dir.write("demo-site.conf", site.as_bytes());
    let cert = support::tls::cert(&["localhost", "127.0.0.1"]);
    dir.write("tls/cert.pem", cert.cert_pem.as_bytes());
    dir.write("tls/key.pem", cert.key_pem.as_bytes());
    dir
}

/// A main configuration of conf/ with its addresses on port 0: 127.0.0.1 for the site, and
/// 127.0.0.2 for the plain-HTTP redirect of the HTTPS example (two port-0 listens of one IP
/// would be one address).
fn main_config(name: &str) -> String {
    let text = std::fs::read_to_string(repo().join("conf").join(name)).unwrap();
    let text = if text.contains("127.0.0.1:8443") {
        text.replace("127.0.0.1:8443", "127.0.0.1:0")
            .replace("127.0.0.1:8080", "127.0.0.2:0")
    } else {
        text.replace("127.0.0.1:8080", "127.0.0.1:0")
    };
    format!("access_log off;\n{text}")
}

/// The server's address for `scheme` ("http" or "https"), from its `listening on` lines.
fn address(server: &Server, scheme: &str) -> SocketAddr {
    let prefix = format!("listening on {scheme}://");
    server
        .stderr()
        .lines()
        .find_map(|l| {
            l.split_once(&prefix)
                .map(|(_, a)| a.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no {scheme} listener in:\n{}", server.stderr()))
}

/// Every link (`href`, `src`, `action`) to this site of the demo's pages, with its query.
fn demo_links() -> BTreeSet<String> {
    let mut links = BTreeSet::new();
    for page in [
        "www/index.html",
        "www/upload.html",
        "www/cgi-bin/README.html",
    ] {
        let html = std::fs::read_to_string(repo().join(page)).unwrap();
        for attribute in ["href=\"", "src=\"", "action=\""] {
            for part in html.split(attribute).skip(1) {
                let link = part.split('"').next().unwrap().replace("&amp;", "&");
                if link.starts_with('/') {
                    links.insert(link);
                }
            }
        }
    }
    assert!(links.len() > 10, "{links:?}");
    links
}

/// `curl` to `url` over HTTPS trusting only `ca`: (status, body). `extra`: more arguments.
fn curl(url: &str, ca: &Path, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "--max-time",
            "20",
            "--cacert",
        ])
        .arg(ca)
        .args(extra)
        .arg(url)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn have_curl() -> bool {
    let here = Command::new("curl").arg("--version").output().is_ok();
    if !here {
        support::skip::missing("curl (Debian package curl)");
    }
    here
}

#[test]
fn the_demo_configurations_check_without_a_warning() {
    for name in ["default.conf", "https.example.conf"] {
        let dir = demo_dir();
        let path = dir.write(name, main_config(name).as_bytes());
        let (status, stdout, stderr) = run_cli(&["-t", path.to_str().unwrap()], dir.path());
        assert!(status.success(), "{name}: {stderr}");
        assert_eq!(stdout.trim(), "configuration OK", "{name}");
        assert_eq!(stderr, "", "{name} warns");
    }
    // The repository's own default.conf as it is (its www/ and upload store are there).
    let (status, _, stderr) = run_cli(&["-t", "conf/default.conf"], &repo());
    assert!(status.success(), "{stderr}");
    assert_eq!(stderr, "", "conf/default.conf warns");
}

#[test]
fn every_demo_link_answers_over_https_as_over_http() {
    if !have_curl() {
        return;
    }
    let dir = demo_dir();
    let ca = dir.path().join("tls/cert.pem");
    let http = Server::launch(demo_dir(), &main_config("default.conf"), clean_exec);
    let https = Server::launch(dir, &main_config("https.example.conf"), clean_exec);
    let tls = address(&https, "https");
    let mut differences = Vec::new();
    for link in demo_links() {
        let plain = http.get(&link);
        let (secure, body) = curl(&format!("https://{tls}{link}"), &ca, &[]);
        if plain.status != secure {
            differences.push(format!(
                "{link}: {} over HTTP, {secure} over HTTPS",
                plain.status
            ));
        }
        // Nothing the demo links to is missing, but the page that shows the 404 page.
        if link != "/this-page-does-not-exist" {
            assert!(
                !matches!(secure, 0 | 403 | 404 | 405),
                "{link}: {secure} over HTTPS\n{body}"
            );
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // The teapot and the old page, which the HTTPS example once lacked.
    assert_eq!(curl(&format!("https://{tls}/teapot"), &ca, &[]).0, 418);
    assert_eq!(
        curl(&format!("https://{tls}/old/page.html"), &ca, &[]).0,
        301
    );
    // Plain HTTP on the HTTPS example sends everyone there.
    let plain = address(&https, "http");
    let mut conn = support::Conn::connect(plain);
    conn.send(
        format!(
            "GET /files/?x=1 HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
            plain.port()
        )
        .as_bytes(),
    );
    let redirect = conn.read_response();
    assert_eq!(redirect.status, 301);
    assert_eq!(
        redirect.header("Location"),
        Some("https://localhost:8443/files/?x=1")
    );
}

#[test]
fn uploads_and_delete_work_over_https_as_over_http() {
    if !have_curl() {
        return;
    }
    let dir = demo_dir();
    let ca = dir.path().join("tls/cert.pem");
    let https = Server::launch(dir, &main_config("https.example.conf"), clean_exec);
    let tls = address(&https, "https");
    let upload = https.dir.path().join("note.txt");
    std::fs::write(&upload, "over TLS").unwrap();
    let form = format!("file=@{}", upload.display());
    let (status, _) = curl(&format!("https://{tls}/uploads/"), &ca, &["-F", &form]);
    assert_eq!(status, 201);
    assert_eq!(
        curl(&format!("https://{tls}/uploads/note.txt"), &ca, &[]),
        (200, "over TLS".to_string())
    );
    let (listing_status, listing) = curl(&format!("https://{tls}/uploads/"), &ca, &[]);
    assert_eq!(listing_status, 200);
    assert!(listing.contains("note.txt"), "{listing}");
    let delete = ["-X", "DELETE"];
    assert_eq!(
        curl(&format!("https://{tls}/uploads/note.txt"), &ca, &delete).0,
        204
    );
    assert_eq!(
        curl(&format!("https://{tls}/uploads/note.txt"), &ca, &[]).0,
        404
    );
}
