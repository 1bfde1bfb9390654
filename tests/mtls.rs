//! Client certificates (`ssl_verify_client`) with curl (OpenSSL) as the client: a CA, its
//! client certificate and a stranger's are made at test time (rcgen). What nginx does is the
//! reference: `on` answers 400 "No required SSL certificate was sent" to a client without one
//! and 400 "The SSL certificate error" to one whose certificate does not verify; `optional`
//! lets the first through; `optional_no_ca` lets both through and says how they fared.

mod support;

use std::process::Command;

use support::Server;
use support::tls::{Cert, cert};

struct Client {
    cert_pem: String,
    key_pem: String,
}

struct Authority {
    cert_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

fn authority(name: &str) -> Authority {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert_pem = params.self_signed(&key).unwrap().pem();
    Authority {
        cert_pem,
        issuer: rcgen::Issuer::new(params, key),
    }
}

fn client(by: &Authority, name: &str) -> Client {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "webserv tests");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    Client {
        cert_pem: params.signed_by(&key, &by.issuer).unwrap().pem(),
        key_pem: key.serialize_pem(),
    }
}

fn installed() -> bool {
    let found = Command::new("curl").arg("--version").output().is_ok();
    if !found {
        support::skip::missing("curl (Debian package curl)");
    }
    found
}

/// A TLS server verifying client certificates with `mode` against `ca`; `/who` tells what
/// it saw, `/cgi-bin/who.sh` what a CGI script is told.
fn server(server_cert: &Cert, ca: &Authority, mode: &str) -> Server {
    let config = format!(
        "workers 1;\naccess_log off;\nerror_log stderr info;\nserver {{\n    \
         listen 127.0.0.1:0 ssl;\n    server_name localhost;\n    \
         ssl_certificate cert.pem;\n    ssl_certificate_key key.pem;\n    \
         ssl_client_certificate ca.pem;\n    ssl_verify_client {mode};\n    root www;\n    \
         location = /who {{ return 200 \"$ssl_client_verify|$ssl_client_s_dn\"; }}\n    \
         location /cgi-bin {{ cgi .sh /bin/sh; }}\n}}\n"
    );
    let script = "printf 'Content-Type: text/plain\\r\\n\\r\\n%s|%s|%s' \
                  \"$SSL_CLIENT_VERIFY\" \"$SSL_CLIENT_S_DN\" \"$SSL_CLIENT_I_DN\"\n";
    Server::start(
        &config,
        &[
            ("cert.pem", server_cert.cert_pem.as_bytes()),
            ("key.pem", server_cert.key_pem.as_bytes()),
            ("ca.pem", ca.cert_pem.as_bytes()),
            ("www/cgi-bin/who.sh", script.as_bytes()),
        ],
    )
}

/// `curl` to `path` with `client`'s certificate (or none): (status, body).
fn curl(server: &Server, client: Option<&Client>, path: &str) -> (u16, String) {
    let dir = server.dir.path();
    let mut args = vec![
        "-sS".to_string(),
        "--cacert".to_string(),
        "cert.pem".to_string(),
        "--resolve".to_string(),
        format!("localhost:{}:127.0.0.1", server.port()),
        "-w".to_string(),
        "\n%{http_code}".to_string(),
    ];
    if let Some(client) = client {
        std::fs::write(dir.join("client.pem"), &client.cert_pem).unwrap();
        std::fs::write(dir.join("client.key"), &client.key_pem).unwrap();
        args.extend(["--cert", "client.pem", "--key", "client.key"].map(String::from));
    }
    args.push(format!("https://localhost:{}{path}", server.port()));
    let output = Command::new("curl")
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (code.parse().unwrap_or(0), body.to_string())
}

#[test]
fn ssl_verify_client_on_admits_only_a_certificate_from_the_trusted_ca() {
    if !installed() {
        return;
    }
    let ca = authority("Test Client CA");
    let stranger = authority("Stranger CA");
    let (alice, mallory) = (client(&ca, "alice"), client(&stranger, "mallory"));
    let server = server(&cert(&["localhost"]), &ca, "on");

    let (status, body) = curl(&server, Some(&alice), "/who");
    assert_eq!(
        (status, body.as_str()),
        (200, "SUCCESS|CN=alice,O=webserv tests")
    );
    let (status, body) = curl(&server, Some(&alice), "/cgi-bin/who.sh");
    assert_eq!(
        (status, body.as_str()),
        (200, "SUCCESS|CN=alice,O=webserv tests|CN=Test Client CA")
    );

    let (status, body) = curl(&server, None, "/who");
    assert_eq!(status, 400);
    assert!(
        body.contains("No required SSL certificate was sent"),
        "{body}"
    );
    let (status, body) = curl(&server, Some(&mallory), "/who");
    assert_eq!(status, 400);
    assert!(body.contains("The SSL certificate error"), "{body}");
    let log = server.stderr();
    assert!(
        log.contains("No required SSL certificate was sent, request refused"),
        "{log}"
    );
}

#[test]
fn ssl_verify_client_optional_admits_no_certificate_but_not_a_bad_one() {
    if !installed() {
        return;
    }
    let ca = authority("Test Client CA");
    let stranger = authority("Stranger CA");
    let server = server(&cert(&["localhost"]), &ca, "optional");
    assert_eq!(curl(&server, None, "/who"), (200, "NONE|".to_string()));
    assert_eq!(
        curl(&server, None, "/cgi-bin/who.sh"),
        (200, "NONE||".to_string())
    );
    let (status, body) = curl(&server, Some(&client(&ca, "bob")), "/who");
    assert_eq!(
        (status, body.as_str()),
        (200, "SUCCESS|CN=bob,O=webserv tests")
    );
    let (status, body) = curl(&server, Some(&client(&stranger, "eve")), "/who");
    assert_eq!(status, 400);
    assert!(body.contains("The SSL certificate error"), "{body}");
}

#[test]
fn ssl_verify_client_optional_no_ca_admits_everyone_and_says_how_they_fared() {
    if !installed() {
        return;
    }
    let ca = authority("Test Client CA");
    let stranger = authority("Stranger CA");
    let server = server(&cert(&["localhost"]), &ca, "optional_no_ca");
    let (status, body) = curl(&server, Some(&client(&stranger, "eve")), "/who");
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            "FAILED:unable to get local issuer certificate|CN=eve,O=webserv tests"
        )
    );
    assert_eq!(
        curl(&server, Some(&client(&ca, "carol")), "/who"),
        (200, "SUCCESS|CN=carol,O=webserv tests".to_string())
    );
    assert_eq!(curl(&server, None, "/who"), (200, "NONE|".to_string()));
}
