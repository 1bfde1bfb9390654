//! Whole PHP sites as nginx serves them: a front controller (`try_files $uri $uri/
//! /index.php?$args`, WordPress's and Laravel's configuration), a single-page application
//! (`try_files $uri $uri/ /app/index.html`), PATH_INFO with `fastcgi_split_path_info`, a
//! location one slash short of its name. The same server block runs under nginx (Debian's,
//! started by the test in a temporary prefix) and under webserv, both in front of the same
//! php-fpm; for a list of requests, the statuses, the fields that matter (Location,
//! Content-Type, X-Powered-By) and the bodies PHP or the files give must be the same.

mod support;

use support::fastcgi::{self, Listen};
use support::nginx::Nginx;
use support::{Conn, Response, Server};

/// What the PHP scripts print: the parameters nginx's `fastcgi.conf` defines (less the ones
/// naming the server software) and `$_GET`.
const PRINT: &[u8] =
    b"<?php\n$keys = ['SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO', 'REQUEST_URI', \
    'QUERY_STRING', 'DOCUMENT_URI', 'DOCUMENT_ROOT', 'REQUEST_METHOD', 'CONTENT_LENGTH', \
    'CONTENT_TYPE', 'SERVER_PROTOCOL', 'GATEWAY_INTERFACE', 'REQUEST_SCHEME', 'REDIRECT_STATUS', \
    'SERVER_NAME', 'HTTPS', 'REMOTE_ADDR'];\n\
    echo basename(__FILE__), \"\\n\";\n\
    foreach ($keys as $k) { echo $k, '=', $_SERVER[$k] ?? '(unset)', \"\\n\"; }\n\
    ksort($_GET); echo 'GET=', json_encode($_GET), \"\\n\";\n\
    ksort($_POST); echo 'POST=', json_encode($_POST), \"\\n\";\n";

const FILES: &[(&str, &[u8])] = &[
    ("index.php", PRINT),
    ("info.php", PRINT),
    ("sub/page.php", PRINT),
    ("about.html", b"<p>about</p>\n"),
    ("static/app.css", b"body { color: red }\n"),
    ("dir/index.html", b"<p>dir index</p>\n"),
    ("blog/.keep", b""),
    ("uploads/x.jpg", b"<?php echo 'EXEC' . 'UTED';"),
    ("app/index.html", b"<html>the app shell</html>\n"),
    ("app/assets/app.js", b"console.log(1);\n"),
];

/// nginx's `fastcgi.conf` (Debian's nginx-common), without SCRIPT_FILENAME and with
/// SERVER_SOFTWARE left out (its value names the server).
const FASTCGI_CONF: &str = "
    fastcgi_param  QUERY_STRING       $query_string;
    fastcgi_param  REQUEST_METHOD     $request_method;
    fastcgi_param  CONTENT_TYPE       $content_type;
    fastcgi_param  CONTENT_LENGTH     $content_length;
    fastcgi_param  SCRIPT_NAME        $fastcgi_script_name;
    fastcgi_param  REQUEST_URI        $request_uri;
    fastcgi_param  DOCUMENT_URI       $document_uri;
    fastcgi_param  DOCUMENT_ROOT      $document_root;
    fastcgi_param  SERVER_PROTOCOL    $server_protocol;
    fastcgi_param  REQUEST_SCHEME     $scheme;
    fastcgi_param  HTTPS              $https if_not_empty;
    fastcgi_param  GATEWAY_INTERFACE  CGI/1.1;
    fastcgi_param  REMOTE_ADDR        $remote_addr;
    fastcgi_param  REMOTE_PORT        $remote_port;
    fastcgi_param  SERVER_ADDR        $server_addr;
    fastcgi_param  SERVER_PORT        $server_port;
    fastcgi_param  SERVER_NAME        $server_name;
    fastcgi_param  REDIRECT_STATUS    200;
";

/// The server block both servers run (without `listen`).
fn server_block(root: &str, pass: &str) -> String {
    format!(
        "server_name localhost;
    root {root};
    index index.php index.html;
    location / {{
        try_files $uri $uri/ /index.php?$args;
    }}
    location /app/ {{
        try_files $uri $uri/ /app/index.html;
    }}
    location ~ [^/]\\.php(/|$) {{
        fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
        try_files $fastcgi_script_name =404;
        fastcgi_pass {pass};
        fastcgi_index index.php;
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_param PATH_INFO $fastcgi_path_info;
        {FASTCGI_CONF}
    }}
    location /api/ {{
        fastcgi_pass {pass};
        fastcgi_param SCRIPT_FILENAME $document_root/info.php;
        {FASTCGI_CONF}
    }}
    location /pathinfo/ {{
        fastcgi_split_path_info ^(/pathinfo/.+?\\.php)(/.*)$;
        fastcgi_pass {pass};
        fastcgi_param SCRIPT_FILENAME $document_root/sub/page.php;
        fastcgi_param PATH_INFO $fastcgi_path_info;
        {FASTCGI_CONF}
    }}"
    )
}

/// What is compared of a response.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    /// Location without its scheme and authority (nginx makes it absolute, webserv does not).
    location: Option<String>,
    content_type: Option<String>,
    php: bool,
    /// The body, for answers that are not the servers' own error pages.
    body: Option<String>,
}

fn seen(r: &Response) -> Seen {
    let location = r.header("Location").map(|l| {
        match l.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => l,
        }
        .to_string()
    });
    let php = r.header("X-Powered-By").is_some();
    let own_page = r.status >= 300 && !php;
    Seen {
        status: r.status,
        location,
        // PHP's own; the types of files differ by design (webserv adds `charset=utf-8` to text
        // and says `text/javascript`, RFC 9239).
        content_type: php
            .then(|| r.header("Content-Type").map(str::to_string))
            .flatten(),
        php,
        body: (!own_page).then(|| r.text()),
    }
}

fn ask(port: u16, request: &str) -> Seen {
    let mut conn = Conn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    conn.send(request.as_bytes());
    if request.starts_with("HEAD ") {
        seen(&conn.read_head_response())
    } else {
        seen(&conn.read_response())
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

#[test]
fn a_front_controller_an_spa_and_path_info_are_answered_as_nginx_answers_them() {
    let fpm = fastcgi::php_fpm(Listen::UnixSocket, 2, FILES);
    let root = fastcgi::www(&fpm).display().to_string();
    let block = server_block(&root, &fpm.address.to_config());
    let nginx = Nginx::start(&block, &[]);
    let webserv = Server::start(
        &format!("workers 1;\naccess_log off;\nserver {{\n listen 127.0.0.1:0;\n{block}\n}}\n"),
        &[],
    );
    let form = "b=2&a=%C3%A9";
    let mut requests: Vec<String> = [
        "/",
        "/index.php",
        "/index.php?a=b&c=d",
        "/info.php",
        "/info.php/extra/path",
        "/about",
        "/about.html",
        "/blog/post?x=1&y=2",
        "/blog/",
        "/blog",
        "/static/app.css",
        "/dir",
        "/dir/",
        "/missing.php",
        "/sub/page.php",
        "/sub/page.php/a/b?q=1",
        "/uploads/x.jpg/a.php",
        "/uploads/x.jpg",
        "/app/",
        "/app/dashboard/settings",
        "/app/assets/app.js",
        "/app/assets/missing.js",
        "/app",
        "/api",
        "/api?k=v",
        "/api/users?id=3",
        "/pathinfo/x.php/more/info",
        "/pathinfo",
        "/nodir/",
    ]
    .iter()
    .map(|p| get(p))
    .collect();
    requests.push(format!(
        "POST /info.php?q=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    ));
    requests.push(format!(
        "POST /anything HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    ));
    requests.push("HEAD /info.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into());
    let mut differences = Vec::new();
    for request in &requests {
        let ours = ask(webserv.port(), request);
        let theirs = ask(nginx.port, request);
        if ours != theirs {
            let line = request.lines().next().unwrap_or_default();
            differences.push(format!(
                "{line}\n  nginx:   {theirs:?}\n  webserv: {ours:?}"
            ));
        }
        assert!(
            !ours.body.as_deref().unwrap_or("").contains("EXECUTED"),
            "an upload ran"
        );
    }
    assert!(
        differences.is_empty(),
        "{} of {} requests differ:\n{}\n(nginx's error log: {})",
        differences.len(),
        requests.len(),
        differences.join("\n"),
        nginx.error_log()
    );
}
