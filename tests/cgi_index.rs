//! A directory whose first existing index file is a script runs it (`index index.py;`), as an
//! nginx user expects of `index index.php`.

mod support;

use support::*;

const SCRIPT: &[u8] =
    b"printf 'Content-Type: text/plain\\r\\n\\r\\n%s|%s' \"$SCRIPT_NAME\" \"$QUERY_STRING\"\n";

fn site() -> Server {
    Server::start(
        &simple_config(
            "    location /app { index index.sh; cgi .sh /bin/sh; }\n\
             \x20   location /both { index index.html index.sh; cgi .sh /bin/sh; }",
        ),
        &[
            ("www/app/index.sh", SCRIPT),
            ("www/both/index.html", b"static first"),
            ("www/both/index.sh", SCRIPT),
        ],
    )
}

#[test]
fn a_directory_with_a_script_index_runs_the_script() {
    let server = site();
    let response = server.get("/app/?x=1");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "/app/index.sh|x=1");
}

#[test]
fn an_ordinary_index_listed_first_wins_over_a_script() {
    let server = site();
    let response = server.get("/both/");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "static first");
}

#[test]
fn the_directory_without_its_slash_is_still_redirected() {
    let server = site();
    let response = server.get("/app");
    assert_eq!(response.status, 301);
    assert_eq!(response.header("Location"), Some("/app/"));
}
