//! Uploads against the real server: POST (raw and multipart) and PUT into an `upload_store`,
//! streamed to disk, all or nothing, never outside the store.

mod support;

use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::time::Duration;
use support::uploads::{
    CONFIG, UploadServer as Server, chunked, head, multipart, read_response, tree,
};
use support::{names, random_bytes, wait_until};

/// Whether a store listing has a temporary file in it.
fn has_temporary(names: &[String]) -> bool {
    names
        .iter()
        .any(|n| n.starts_with(".upload-") && n.ends_with(".part"))
}

/// Waits (a little) for the store to be empty: an aborted upload is dropped by the connection
/// around the time its error response goes out.
fn store_becomes_empty(server: &Server) -> bool {
    wait_until(Duration::from_secs(5), || names(&server.store()).is_empty())
}

#[test]
fn a_raw_post_is_stored_byte_exact_and_served_back() {
    let server = Server::start();
    let body = random_bytes(100_000, 7);
    let response = server.request("POST", "/uploads/raw.bin", &[], &body);
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.header("Location"), Some("/uploads/raw.bin"));
    let page = response.text();
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    assert!(page.contains("<a href=\"/uploads/raw.bin\">raw.bin</a>"));
    assert_eq!(names(&server.store()), ["raw.bin"]);

    let back = server.get("/uploads/raw.bin");
    assert_eq!(back.status, 200);
    assert!(back.body == body, "the file served back differs");
}

#[test]
fn put_creates_with_201_then_replaces_with_204() {
    let server = Server::start();
    let created = server.request("PUT", "/uploads/p.txt", &[], b"first version");
    assert_eq!(created.status, 201);
    assert_eq!(created.header("Location"), Some("/uploads/p.txt"));
    assert_eq!(server.get("/uploads/p.txt").body, b"first version");

    let replaced = server.request("PUT", "/uploads/p.txt", &[], b"second");
    assert_eq!(replaced.status, 204);
    assert!(replaced.body.is_empty());
    assert_eq!(server.get("/uploads/p.txt").body, b"second");
    assert_eq!(names(&server.store()), ["p.txt"]);

    // A PUT names a file: the location itself, or a directory, is a conflict.
    fs::create_dir(server.store().join("dir")).unwrap();
    assert_eq!(server.request("PUT", "/uploads/", &[], b"x").status, 409);
    assert_eq!(server.request("PUT", "/uploads/dir", &[], b"x").status, 409);
    assert_eq!(names(&server.store()), ["dir", "p.txt"]);
}

#[test]
fn a_multipart_form_with_two_files_stores_both_byte_exact() {
    let server = Server::start();
    let boundary = "----webservBoundary7MA4YWxk";
    // Binary data with every byte value, and lines that look like the boundary without being
    // a delimiter (RFC 2046 forbids the real one, CRLF "--" boundary, inside a part).
    let mut first = format!("--{boundary}--\r\n").into_bytes();
    first.extend_from_slice(&random_bytes(70_000, 3));
    first.extend_from_slice(format!("\r\n--{boundary}x\r\nx--{boundary}--\r\n").as_bytes());
    first.extend_from_slice(format!("--{}\r\n", &boundary[..10]).as_bytes());
    first.extend_from_slice(&random_bytes(1000, 4));
    first.extend_from_slice(format!("\r\n--{}\r\n", &boundary[..boundary.len() - 1]).as_bytes());
    let second = b"plain text\r\nsecond line\r\n".to_vec();
    let body = multipart(
        boundary,
        &[
            ("title", None, b"a field, ignored"),
            ("one", Some("first.bin"), &first),
            ("two", Some("second.txt"), &second),
        ],
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let response = server.request(
        "POST",
        "/uploads",
        &[("Content-Type", &content_type)],
        &body,
    );
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.header("Location"), Some("/uploads/first.bin"));
    let page = response.text();
    assert!(page.contains("<a href=\"/uploads/first.bin\">first.bin</a>"));
    assert!(page.contains("<a href=\"/uploads/second.txt\">second.txt</a>"));
    assert_eq!(names(&server.store()), ["first.bin", "second.txt"]);
    assert!(server.get("/uploads/first.bin").body == first);
    assert_eq!(server.get("/uploads/second.txt").body, second);

    // The same form asking for JSON; the names are taken now, so they get numbers.
    let response = server.request(
        "POST",
        "/uploads/",
        &[
            ("Content-Type", &content_type),
            ("Accept", "application/json"),
        ],
        &body,
    );
    assert_eq!(response.status, 201);
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    assert_eq!(response.header("Location"), Some("/uploads/first-1.bin"));
    assert_eq!(
        response.text(),
        format!(
            "{{\"files\":[{{\"name\":\"first-1.bin\",\"url\":\"/uploads/first-1.bin\",\"size\":{}}},\
             {{\"name\":\"second-1.txt\",\"url\":\"/uploads/second-1.txt\",\"size\":{}}}]}}\n",
            first.len(),
            second.len()
        )
    );
}

#[test]
fn client_file_names_are_sanitised_and_nothing_lands_outside_the_store() {
    let server = Server::start();
    let body = multipart(
        "b0undary",
        &[
            ("a", Some("../../outside/evil.txt"), b"1"),
            ("b", Some("/etc/absolute.txt"), b"2"),
            ("c", Some(r"C:\\Users\\me\\..\\win.txt"), b"3"),
            ("d", Some(".hidden"), b"4"),
            ("e", Some("we<ird>|na?me*:.txt"), b"5"),
            ("f", Some(".."), b"6"),
        ],
    );
    let response = server.request(
        "POST",
        "/uploads",
        &[("Content-Type", "multipart/form-data; boundary=b0undary")],
        &body,
    );
    assert_eq!(response.status, 201, "{}", response.text());
    let stored = names(&server.store());
    assert_eq!(stored.len(), 6, "{stored:?}");
    for expected in [
        "evil.txt",
        "absolute.txt",
        "win.txt",
        "hidden",
        "we_ird__na_me__.txt",
    ] {
        assert!(
            stored.iter().any(|n| n == expected),
            "{expected} in {stored:?}"
        );
    }
    // ".." had nothing usable: it got a generated name.
    assert!(
        stored.iter().any(|n| n.starts_with("upload-")),
        "{stored:?}"
    );

    // Names from the request path go through the same cleaning.
    assert_eq!(
        server
            .request("PUT", "/uploads/.htaccess", &[], b"7")
            .status,
        201
    );
    assert!(server.store().join("htaccess").exists());
    // Paths that climb out are refused before any handler runs, or stay inside the root.
    for path in [
        "/uploads/..%2f..%2foutside%2fx.txt",
        "/uploads/%2e%2e/%2e%2e/outside/y.txt",
        "/uploads/../../outside/z.txt",
    ] {
        let status = server.request("POST", path, &[], b"8").status;
        assert_eq!(status, 400, "{path}");
    }
    let status = server
        .request("POST", "/uploads/%2e%2e/outside/w.txt", &[], b"9")
        .status;
    assert_eq!(status, 405);

    assert!(tree(&server.path("outside")).is_empty());
    assert!(tree(&server.path("www")).is_empty());
    assert_eq!(
        names(server.dir.path()),
        ["outside", "store", "webserv.conf", "www"]
    );
    assert!(tree(&server.store()).iter().all(|p| !p.contains('/')));
}

#[test]
fn a_taken_name_gets_the_next_free_number_and_is_never_overwritten() {
    let server = Server::start();
    for content in ["zero", "one", "two"] {
        let response = server.request("POST", "/uploads/c.txt", &[], content.as_bytes());
        assert_eq!(response.status, 201);
    }
    assert_eq!(names(&server.store()), ["c-1.txt", "c-2.txt", "c.txt"]);
    assert_eq!(fs::read(server.store().join("c.txt")).unwrap(), b"zero");
    assert_eq!(fs::read(server.store().join("c-1.txt")).unwrap(), b"one");
    assert_eq!(fs::read(server.store().join("c-2.txt")).unwrap(), b"two");

    // Two parts with one name in a single form.
    let body = multipart(
        "bb",
        &[("a", Some("same.txt"), b"A"), ("b", Some("same.txt"), b"B")],
    );
    let response = server.request(
        "POST",
        "/uploads",
        &[("Content-Type", "multipart/form-data; boundary=bb")],
        &body,
    );
    assert_eq!(response.status, 201);
    assert_eq!(fs::read(server.store().join("same.txt")).unwrap(), b"A");
    assert_eq!(fs::read(server.store().join("same-1.txt")).unwrap(), b"B");

    // A raw POST to the location itself gets a generated name.
    let response = server.request("POST", "/uploads", &[("Content-Type", "image/png")], b"P");
    assert_eq!(response.status, 201);
    let location = response.header("Location").unwrap();
    assert!(location.starts_with("/uploads/upload-") && location.ends_with(".png"));
    assert_eq!(server.get(location).body, b"P");
}

#[test]
fn chunked_uploads_are_stored_whole() {
    let server = Server::start();
    let body = random_bytes(300_000, 11);
    let mut raw = head(
        "POST",
        "/uploads/chunked.bin",
        &[("Transfer-Encoding", "chunked")],
    );
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(&chunked(&body, 4093));
    let response = server.exchange(&raw);
    assert_eq!(response.status, 201, "{}", response.text());
    assert!(fs::read(server.store().join("chunked.bin")).unwrap() == body);

    let mut raw = head(
        "PUT",
        "/uploads/chunked.bin",
        &[("Transfer-Encoding", "chunked")],
    );
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(&chunked(b"replaced by a chunked PUT", 3));
    assert_eq!(server.exchange(&raw).status, 204);
    assert_eq!(
        fs::read(server.store().join("chunked.bin")).unwrap(),
        b"replaced by a chunked PUT"
    );

    let form = multipart("zz", &[("f", Some("form.bin"), &body)]);
    let mut raw = head(
        "POST",
        "/uploads",
        &[
            ("Transfer-Encoding", "chunked"),
            ("Content-Type", "multipart/form-data; boundary=zz"),
        ],
    );
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(&chunked(&form, 1000));
    assert_eq!(server.exchange(&raw).status, 201);
    assert!(fs::read(server.store().join("form.bin")).unwrap() == body);
}

#[test]
fn expect_100_continue_gets_the_body_stored() {
    let server = Server::start();
    let mut stream = server.connect();
    let mut raw = head(
        "PUT",
        "/uploads/continued.txt",
        &[("Expect", "100-continue")],
    );
    raw.extend_from_slice(b"Content-Length: 5\r\n\r\n");
    stream.write_all(&raw).unwrap();
    let mut interim = [0u8; 25];
    std::io::Read::read_exact(&mut stream, &mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"hello").unwrap();
    assert_eq!(read_response(&mut stream).status, 201);
    assert_eq!(
        fs::read(server.store().join("continued.txt")).unwrap(),
        b"hello"
    );
}

#[test]
fn a_body_announced_over_the_limit_is_413_and_leaves_no_file() {
    let server = Server::start();
    let response = server.request("POST", "/small/big.bin", &[], &[b'x'; 2048]);
    assert_eq!(response.status, 413);
    let response = server.request("PUT", "/small/big.bin", &[], &[b'x'; 1025]);
    assert_eq!(response.status, 413);
    assert_eq!(names(&server.store()), Vec::<String>::new());
    // At the limit it fits.
    let response = server.request("POST", "/small/fits.bin", &[], &[b'x'; 1024]);
    assert_eq!(response.status, 201);
    assert_eq!(names(&server.store()), ["fits.bin"]);
}

#[test]
fn a_chunked_body_growing_past_the_limit_is_413_and_leaves_no_file() {
    let server = Server::start();
    for (method, target) in [("POST", "/small/grow.bin"), ("PUT", "/small/grow.bin")] {
        let mut raw = head(method, target, &[("Transfer-Encoding", "chunked")]);
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(&chunked(&[b'y'; 4096], 300));
        let response = server.exchange(&raw);
        assert_eq!(response.status, 413, "{method}");
    }
    let form = multipart("q", &[("f", Some("grow.bin"), &[b'z'; 4096])]);
    let mut raw = head(
        "POST",
        "/small",
        &[
            ("Transfer-Encoding", "chunked"),
            ("Content-Type", "multipart/form-data; boundary=q"),
        ],
    );
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(&chunked(&form, 300));
    assert_eq!(server.exchange(&raw).status, 413);
    assert!(
        store_becomes_empty(&server),
        "left {:?}",
        names(&server.store())
    );
}

#[test]
fn a_client_that_goes_away_mid_upload_leaves_nothing() {
    let server = Server::start();
    for (method, content_type) in [
        ("PUT", "application/octet-stream"),
        ("POST", "application/octet-stream"),
        ("POST", "multipart/form-data; boundary=gone"),
    ] {
        let mut stream = server.connect();
        let mut raw = head(
            method,
            "/uploads/gone.bin",
            &[("Content-Type", content_type)],
        );
        raw.extend_from_slice(b"Content-Length: 10000000\r\n\r\n");
        raw.extend_from_slice(
            b"--gone\r\nContent-Disposition: form-data; name=\"f\"; filename=\"gone.bin\"\r\n\r\n",
        );
        stream.write_all(&raw).unwrap();
        stream.write_all(&random_bytes(1 << 20, 5)).unwrap();
        let store = server.store();
        assert!(
            wait_until(Duration::from_secs(10), || has_temporary(&names(&store))),
            "{method} {content_type}: no temporary file while uploading"
        );
        drop(stream);
        assert!(
            wait_until(Duration::from_secs(10), || names(&store).is_empty()),
            "{method} {content_type}: left {:?}",
            names(&store)
        );
    }
}

#[test]
fn a_body_that_stops_arriving_is_408_and_leaves_nothing() {
    let server = Server::start();
    let mut stream = server.connect();
    let mut raw = head("PUT", "/slow/stalled.bin", &[]);
    raw.extend_from_slice(b"Content-Length: 1000\r\n\r\n");
    raw.extend_from_slice(&[b's'; 500]);
    stream.write_all(&raw).unwrap();
    assert_eq!(read_response(&mut stream).status, 408);
    // The connection may drop the upload just after writing the 408.
    assert!(
        store_becomes_empty(&server),
        "left {:?}",
        names(&server.store())
    );
}

#[test]
fn a_full_disk_is_507_and_leaves_nothing() {
    // RLIMIT_FSIZE makes writes past 1 MiB fail with EFBIG, which is how the store runs out
    // of room here; SIGXFSZ is ignored so the server gets the error instead of dying.
    let server = Server::spawn(
        CONFIG,
        |_| {},
        |command| {
            // SAFETY: between fork and exec only async-signal-safe calls are made.
            unsafe {
                command.pre_exec(|| {
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    let limit = libc::rlimit {
                        rlim_cur: 1 << 20,
                        rlim_max: 1 << 20,
                    };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
    );
    let big = random_bytes(3 << 20, 9);
    let response = server.request("PUT", "/uploads/full.bin", &[], &big);
    assert_eq!(response.status, 507);
    let form = multipart(
        "f",
        &[
            ("a", Some("small.txt"), b"fits"),
            ("b", Some("full.bin"), &big),
        ],
    );
    let response = server.request(
        "POST",
        "/uploads",
        &[("Content-Type", "multipart/form-data; boundary=f")],
        &form,
    );
    assert_eq!(response.status, 507);
    // Nothing of either upload is left, not even the part that fitted.
    assert!(
        store_becomes_empty(&server),
        "left {:?}",
        names(&server.store())
    );
    assert!(support::wait_until(
        std::time::Duration::from_secs(5),
        || server.stderr().contains("File too large")
    ));
    // The server goes on serving.
    assert_eq!(
        server.request("PUT", "/uploads/ok.txt", &[], b"ok").status,
        201
    );
}

#[test]
fn a_missing_store_is_500_and_logged() {
    let config = CONFIG.replace("upload_store store;", "upload_store nowhere;");
    let server = Server::with_config(&config, |_| {});
    let response = server.request("POST", "/uploads/a.txt", &[], b"x");
    assert_eq!(response.status, 500);
    assert!(!server.path("nowhere").exists());
    assert!(
        wait_until(Duration::from_secs(5), || {
            server.stderr().contains("nowhere")
        }),
        "{}",
        server.stderr()
    );
}

#[test]
fn a_form_without_a_file_or_a_truncated_form_is_400() {
    let server = Server::start();
    let fields = multipart("k", &[("only", None, b"a field")]);
    let response = server.request(
        "POST",
        "/uploads",
        &[("Content-Type", "multipart/form-data; boundary=k")],
        &fields,
    );
    assert_eq!(response.status, 400);
    let form = multipart("k", &[("f", Some("cut.bin"), b"data")]);
    let response = server.request(
        "POST",
        "/uploads",
        &[("Content-Type", "multipart/form-data; boundary=k")],
        &form[..form.len() - 6],
    );
    assert_eq!(response.status, 400);
    let response = server.request(
        "POST",
        "/uploads",
        &[("Content-Type", "multipart/form-data")],
        &form,
    );
    assert_eq!(response.status, 400);
    assert_eq!(names(&server.store()), Vec::<String>::new());
}

/// Streams `total` bytes of numbered pseudo-random pieces (wrapped in `prefix` and `suffix`,
/// chunked or with a length) and checks the answer, the server's peak resident memory, and the
/// file stored as `name`, piece by piece.
fn stream_big_upload(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    (prefix, suffix): (&[u8], &[u8]),
    chunked_body: bool,
    name: &str,
    total: usize,
) {
    const PIECE: usize = 256 * 1024;
    let server = Server::start();
    let mut piece = random_bytes(PIECE, 13);
    let mut stream = server.connect();
    let mut raw = head(method, target, headers);
    let length = prefix.len() + total + suffix.len();
    if chunked_body {
        raw.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
    } else {
        raw.extend_from_slice(format!("Content-Length: {length}\r\n\r\n").as_bytes());
    }
    let send = |stream: &mut std::net::TcpStream, bytes: &[u8]| {
        if chunked_body {
            stream
                .write_all(format!("{:x}\r\n", bytes.len()).as_bytes())
                .unwrap();
            stream.write_all(bytes).unwrap();
            stream.write_all(b"\r\n").unwrap();
        } else {
            stream.write_all(bytes).unwrap();
        }
    };
    stream.write_all(&raw).unwrap();
    send(&mut stream, prefix);
    let mut sampled_rss = 0;
    for i in 0..total / PIECE {
        // Each piece is numbered, so a lost or reordered piece shows.
        piece[..8].copy_from_slice(&(i as u64).to_le_bytes());
        send(&mut stream, &piece);
        if i % 64 == 0 {
            sampled_rss = sampled_rss.max(server.memory_kb("VmRSS"));
        }
    }
    send(&mut stream, suffix);
    if chunked_body {
        stream.write_all(b"0\r\n\r\n").unwrap();
    }
    let response = read_response(&mut stream);
    assert_eq!(response.status, 201, "{}", response.text());
    let hwm = server.memory_kb("VmHWM");
    eprintln!(
        "{} MiB {method} (chunked: {chunked_body}): VmHWM {hwm} kB, VmRSS sampled up to {sampled_rss} kB",
        total >> 20
    );
    assert!(hwm < 32 * 1024, "peak resident memory {hwm} kB");

    let path = server.store().join(name);
    assert_eq!(fs::metadata(&path).unwrap().len(), total as u64);
    let mut file = fs::File::open(&path).unwrap();
    let mut back = vec![0u8; PIECE];
    for i in 0..total / PIECE {
        std::io::Read::read_exact(&mut file, &mut back).unwrap();
        piece[..8].copy_from_slice(&(i as u64).to_le_bytes());
        assert!(back == piece, "piece {i} differs");
    }
    assert_eq!(names(&server.store()), [name]);
}

#[test]
fn a_200_mib_put_streams_to_disk_with_bounded_memory() {
    stream_big_upload(
        "PUT",
        "/uploads/big.bin",
        &[],
        (b"", b""),
        false,
        "big.bin",
        200 << 20,
    );
}

#[test]
fn a_100_mib_chunked_multipart_post_streams_to_disk_with_bounded_memory() {
    let prefix =
        b"--BIG\r\nContent-Disposition: form-data; name=\"f\"; filename=\"form.bin\"\r\n\r\n";
    stream_big_upload(
        "POST",
        "/uploads",
        &[("Content-Type", "multipart/form-data; boundary=BIG")],
        (prefix, b"\r\n--BIG--\r\n"),
        true,
        "form.bin",
        100 << 20,
    );
}
