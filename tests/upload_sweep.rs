//! Temporaries left in an upload store by a server that died mid-upload are removed when a
//! server starts; those of a live process and ordinary files are not.

mod support;

use support::*;

#[test]
fn a_new_server_removes_only_the_temporaries_of_dead_processes() {
    let alive = format!("www/store/.upload-{}-1-1.part", std::process::id());
    let server = Server::start(
        &simple_config(
            "    location /store { allow_methods GET PUT; upload_store www/store; autoindex on; }",
        ),
        &[
            // No process has this id (it is above any pid_max).
            ("www/store/.upload-999999999-3-7.part", b"half an upload"),
            (alive.as_str(), b"someone is writing this"),
            ("www/store/kept.txt", b"a finished upload"),
        ],
    );
    let store = server.dir.path().join("www/store");
    assert!(!store.join(".upload-999999999-3-7.part").exists());
    assert!(server.dir.path().join(&alive).exists());
    assert!(store.join("kept.txt").exists());
    assert_eq!(server.get("/store/kept.txt").text(), "a finished upload");
}
