//! The known HTTP/2 attacks against the real server, each with the bound that stops it
//! (`webserv::http2::Limits`, docs/HTTP2.md), sent by the Python `h2` stack's codecs through
//! `tests/http2/h2frames.py`. Every attack is a connection error of its own connection only:
//! a download running beside them on another connection finishes intact, and the server's
//! memory stays within a fixed budget.

mod support;

use std::thread;
use std::time::Duration;

use support::h2::{h2_server, installed, python_h2, run, scenario, scenarios};
use support::tls::{Cert, cert};
use support::{Server, random_bytes};

fn attack_site(cert: &Cert, big: &[u8]) -> Server {
    h2_server(
        cert,
        "",
        &[("www/index.html", b"hello\n"), ("www/big.bin", big)],
    )
}

#[test]
fn attacks_end_only_their_own_connection_with_enhance_your_calm() {
    if !python_h2() || !installed("curl") {
        return;
    }
    let cert = cert(&["localhost"]);
    let big = random_bytes(4_000_000, 5);
    let server = attack_site(&cert, &big);
    let addr = server.addrs[0];
    // A slow download on its own connection, all along.
    let url = format!("https://127.0.0.1:{}/big.bin", addr.port());
    let download = thread::spawn(move || {
        run(
            "curl",
            &["-sS", "-k", "--http2", "--limit-rate", "2M", &url],
        )
    });
    thread::sleep(Duration::from_millis(200));
    let table = [
        // CVE-2023-44487: streams opened and reset at once; 256 resets (plus one per stream
        // completed) then GOAWAY. The stream ids processed before it are within 600.
        ("rapid_reset:5000", "GOAWAY ENHANCE_YOUR_CALM last<=599"),
        // The 2024 CONTINUATION flood: at most 32 CONTINUATION frames in one header block...
        ("continuation_flood:1000:0", "GOAWAY ENHANCE_YOUR_CALM"),
        // ...and at most 64 KiB of header block.
        ("continuation_flood:100:16000", "GOAWAY ENHANCE_YOUR_CALM"),
        // Frames that do no work: 1000 in a row at most.
        ("flood:settings:5000", "GOAWAY ENHANCE_YOUR_CALM"),
        ("flood:ping:5000", "GOAWAY ENHANCE_YOUR_CALM"),
        ("flood:window_update:5000", "GOAWAY ENHANCE_YOUR_CALM"),
        ("flood:priority:5000", "GOAWAY ENHANCE_YOUR_CALM"),
        ("flood:unknown:5000", "GOAWAY ENHANCE_YOUR_CALM"),
        ("flood:empty_data:5000", "GOAWAY ENHANCE_YOUR_CALM"),
        // HPACK bomb: a 4000-octet table entry named 100 times by one octet each is a
        // 400 kB header list: past the 32 KiB list limit, 431, nothing past the limit kept.
        (
            "hpack_bomb:100",
            ":status 200+body=6 then :status 431+body=1251",
        ),
        // A zero window holds its own stream only.
        (
            "window_stall:/big.bin:/index.html",
            "small :status 200+body=6; big got 0 octets",
        ),
    ];
    let names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
    let got = scenarios(addr, true, &names);
    let wrong: Vec<String> = table
        .iter()
        .zip(&got)
        .filter(|((_, expected), (_, verdict))| expected != verdict)
        .map(|((name, expected), (_, verdict))| {
            format!("{name}: expected {expected}, got {verdict}")
        })
        .collect();
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // The download beside them did not notice.
    let out = download.join().unwrap();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout == big, "the download beside the attacks differs");
    assert_eq!(scenario(addr, true, "get_index"), ":status 200+body=6");
}

#[test]
fn clients_that_never_read_their_answers_hold_a_bounded_amount_of_memory() {
    if !python_h2() {
        return;
    }
    let cert = cert(&["localhost"]);
    let big = random_bytes(8_000_000, 6);
    let server = attack_site(&cert, &big);
    // Warm up (file cache, worker buffers).
    assert_eq!(
        scenario(server.addrs[0], true, "get_index"),
        ":status 200+body=6"
    );
    let before = server.rss_kib();
    // 16 connections, each with 100 streams of 8 MB and windows of 2 GiB, reading nothing:
    // 1600 answers of 8 MB the server may send at once. What it holds per connection: the
    // HTTP/2 output backlog (64 KiB), TLS's buffer (64 KiB), per stream an open file.
    let addr = server.addrs[0];
    let holders: Vec<_> = (0..16)
        .map(|_| thread::spawn(move || scenario(addr, true, "never_read:/big.bin:100:3")))
        .collect();
    thread::sleep(Duration::from_millis(2500));
    let during = server.rss_kib();
    for holder in holders {
        assert_eq!(holder.join().unwrap(), "held");
    }
    let grown = during.saturating_sub(before);
    eprintln!("RSS {before} KiB before, {during} KiB with 16 x 100 streams unread");
    // 16 x (128 KiB of buffers + 100 streams x ~2 KiB) is about 5 MiB; allow twice that.
    assert!(
        grown < 10 * 1024,
        "RSS grew by {grown} KiB for 16 connections that read nothing"
    );
    // And the server serves on.
    assert_eq!(scenario(addr, true, "get_index"), ":status 200+body=6");
}
