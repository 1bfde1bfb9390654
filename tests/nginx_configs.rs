//! nginx configurations as people write them (`tests/nginx/`): each one is checked by the real
//! nginx (`nginx -t`) and by webserv (`webserv -t`), in a fresh prefix shaped like Debian's
//! `/etc/nginx` (see `tests/nginx/README.md`). Every configuration nginx accepts is accepted by
//! webserv, or refused with messages that say why; `tests/nginx/expected.txt` says which.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::TempDir;

const NGINX: &str = "/usr/sbin/nginx";
const NGINX_ETC: &str = "/etc/nginx";

/// The corpus directory.
fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nginx")
}

/// (file, accepted) for every line of `expected.txt`.
fn expected() -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(corpus().join("expected.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut words = l.split_whitespace();
            let file = words.next().unwrap().to_string();
            let verdict = words.next().unwrap();
            assert!(
                matches!(verdict, "accepted" | "refused"),
                "expected.txt: {l}"
            );
            (file, verdict == "accepted")
        })
        .collect()
}

/// Whether nginx and its files are here; the skip is recorded otherwise (a failure under CI).
fn have_nginx() -> bool {
    let here = Path::new(NGINX).exists() && Path::new(NGINX_ETC).join("mime.types").exists();
    if !here {
        support::skip::missing("nginx (Debian package nginx: /usr/sbin/nginx, /etc/nginx)");
    }
    here
}

/// A prefix holding `site` as Debian's nginx would: nginx.conf (the corpus's main.conf),
/// mime.types and the FastCGI files from /etc/nginx, the corpus's snippets and user file
/// (.htpasswd), a certificate in tls/, and the site in sites-enabled/.
fn prefix(site: &str) -> TempDir {
    let dir = TempDir::new();
    let corpus = corpus();
    let copy = |from: &Path, to: &str| {
        let bytes = std::fs::read(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        dir.write(to, &bytes);
    };
    copy(&corpus.join("main.conf"), "nginx.conf");
    for name in ["mime.types", "fastcgi.conf", "fastcgi_params"] {
        copy(&Path::new(NGINX_ETC).join(name), name);
    }
    copy(
        &Path::new(NGINX_ETC).join("snippets/fastcgi-php.conf"),
        "snippets/fastcgi-php.conf",
    );
    for entry in std::fs::read_dir(corpus.join("snippets")).unwrap() {
        let path = entry.unwrap().path();
        let name = format!("snippets/{}", path.file_name().unwrap().to_str().unwrap());
        copy(&path, &name);
    }
    copy(&corpus.join("htpasswd"), ".htpasswd");
    copy(&corpus.join(site), &format!("sites-enabled/{site}"));
    let cert = support::tls::cert(&["secure.example.com"]);
    dir.write("tls/cert.pem", cert.cert_pem.as_bytes());
    dir.write("tls/key.pem", cert.key_pem.as_bytes());
    for empty in ["logs", "tmp", "conf.d"] {
        std::fs::create_dir_all(dir.path().join(empty)).unwrap();
    }
    dir
}

/// `nginx -t` on the prefix: (success, its messages). Everything it writes (logs, temporary
/// directories) is inside the prefix.
fn nginx_check(prefix: &Path) -> (bool, String) {
    let out = Command::new(NGINX)
        .arg("-t")
        .arg("-q")
        .args(["-e", "stderr"])
        .arg("-p")
        .arg(format!("{}/", prefix.display()))
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `webserv -t` on the prefix's nginx.conf: (exit code, stderr).
fn webserv_check(prefix: &Path) -> (Option<i32>, String) {
    let path = prefix.join("nginx.conf");
    let (status, _, stderr) = support::run_cli(&["-t", path.to_str().unwrap()], prefix);
    (status.code(), stderr)
}

/// Whether an error line of webserv says why it refuses (a feature it lacks, named).
fn says_why(line: &str) -> bool {
    line.contains("not supported by webserv") || line.contains("not available in this build")
}

#[test]
fn every_configuration_nginx_accepts_is_accepted_or_refused_saying_why() {
    if !have_nginx() {
        return;
    }
    let expected = expected();
    // Every file of the corpus has its verdict.
    let mut files: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".conf") && n != "main.conf")
        .collect();
    files.sort();
    let mut listed: Vec<String> = expected.iter().map(|(f, _)| f.clone()).collect();
    listed.sort();
    assert_eq!(files, listed, "tests/nginx/expected.txt lists every file");
    let mut failures = Vec::new();
    for (site, accepted) in &expected {
        let dir = prefix(site);
        let (nginx_ok, nginx_says) = nginx_check(dir.path());
        if !nginx_ok {
            failures.push(format!(
                "{site}: nginx refuses it (fix the corpus):\n{nginx_says}"
            ));
            continue;
        }
        let (code, stderr) = webserv_check(dir.path());
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.contains(": warning: ") && !l.ends_with(" errors"))
            .collect();
        match (accepted, code) {
            (true, Some(0)) => {}
            (true, _) => failures.push(format!("{site}: webserv refuses it:\n{stderr}")),
            (false, Some(1)) => {
                let unexplained: Vec<&&str> = errors.iter().filter(|l| !says_why(l)).collect();
                if errors.is_empty() || !unexplained.is_empty() {
                    failures.push(format!(
                        "{site}: refused without saying why:\n{}",
                        unexplained
                            .iter()
                            .map(|l| l.to_string())
                            .collect::<Vec<_>>()
                            .join("\n")
                    ));
                }
            }
            (false, _) => failures.push(format!(
                "{site}: accepted, but expected.txt says refused (update it?):\n{stderr}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Debian's whole installed configuration (nginx.conf with its modules, conf.d, sites-enabled,
/// mime.types, as the package leaves it) reads as it is.
#[test]
fn debians_installed_nginx_configuration_is_accepted_as_it_is() {
    if !have_nginx() {
        return;
    }
    let path = Path::new(NGINX_ETC).join("nginx.conf");
    let (status, stdout, stderr) =
        support::run_cli(&["-t", path.to_str().unwrap()], Path::new("/"));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    // Its nginx-only settings are named, each with what webserv does instead.
    for directive in [
        "\"user\"",
        "\"pid\"",
        "\"events\"",
        "\"sendfile\"",
        "\"tcp_nopush\"",
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(directive) && l.contains("has no effect")),
            "{directive} in:\n{stderr}"
        );
    }
}

/// The errors of a configuration full of mistakes come in one run, each in its own file at
/// its own line.
#[test]
fn a_broken_nginx_configuration_gets_every_error_in_one_run() {
    let dir = TempDir::new();
    dir.write(
        "nginx.conf",
        b"worker_processes 2;\nevents { }\nhttp {\n    include sites/*.conf;\n}\n",
    );
    dir.write(
        "sites/a.conf",
        b"server {\n    listen 80 default_server;\n    server_name www.*.example.com;\n    \
          rewrite ^/(a /b last;\n}\n",
    );
    dir.write(
        "sites/b.conf",
        b"server {\n    listen 81;\n    location / {\n        if ($x) { return 404; }\n        \
          error_page 404 =2000 /x;\n    }\n}\n",
    );
    let path = dir.path().join("nginx.conf");
    let (status, _, stderr) = support::run_cli(&["-t", path.to_str().unwrap()], dir.path());
    assert_eq!(status.code(), Some(1), "{stderr}");
    let lines: Vec<String> = stderr
        .lines()
        .map(|l| l.replace(&dir.path().display().to_string(), "D"))
        .collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert_eq!(
        lines[0],
        "D/sites/a.conf:3:17: invalid server name or wildcard \"www.*.example.com\""
    );
    assert!(
        lines[1].starts_with("D/sites/a.conf:4:13: invalid regular expression \"^/(a\""),
        "{stderr}"
    );
    assert!(
        lines[2].starts_with("D/sites/b.conf:4:9: \"if\" directive is not supported by webserv"),
        "{stderr}"
    );
    assert_eq!(
        lines[3],
        "D/sites/b.conf:5:25: value \"2000\" must be between 200 and 599"
    );
}
