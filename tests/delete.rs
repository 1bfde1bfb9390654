//! DELETE against the real server: files go, directories and anything outside the root stay.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use support::names;
use support::uploads::UploadServer as Server;

/// A server with `store/doomed.txt`, `store/sub/inner.txt`, `www/files/a.txt`,
/// `www/readonly/keep.txt` and `outside/victim.txt`.
fn server() -> Server {
    Server::with_config(support::uploads::CONFIG, |dir: &Path| {
        fs::write(dir.join("store/doomed.txt"), "bye").unwrap();
        fs::create_dir_all(dir.join("store/sub")).unwrap();
        fs::write(dir.join("store/sub/inner.txt"), "inner").unwrap();
        fs::create_dir_all(dir.join("www/files")).unwrap();
        fs::write(dir.join("www/files/a.txt"), "a").unwrap();
        fs::create_dir_all(dir.join("www/readonly")).unwrap();
        fs::write(dir.join("www/readonly/keep.txt"), "keep").unwrap();
        fs::write(dir.join("outside/victim.txt"), "must survive").unwrap();
    })
}

#[test]
fn deleting_a_file_is_204_and_the_file_is_gone() {
    let server = server();
    let response = server.delete("/uploads/doomed.txt");
    assert_eq!(response.status, 204);
    assert!(response.body.is_empty());
    assert!(!server.store().join("doomed.txt").exists());
    assert_eq!(server.get("/uploads/doomed.txt").status, 404);

    // Under a root mapping too, and in a subdirectory.
    assert_eq!(server.delete("/files/a.txt").status, 204);
    assert!(!server.path("www/files/a.txt").exists());
    assert_eq!(server.delete("/uploads/sub/inner.txt").status, 204);
    assert_eq!(names(&server.store().join("sub")), Vec::<String>::new());
}

#[test]
fn deleting_what_does_not_exist_is_404() {
    let server = server();
    assert_eq!(server.delete("/uploads/never.txt").status, 404);
    assert_eq!(server.delete("/uploads/nodir/never.txt").status, 404);
    // A file used as a directory.
    assert_eq!(server.delete("/uploads/doomed.txt/x").status, 404);
    // A trailing slash names a directory, which this is not (as for GET).
    assert_eq!(server.delete("/uploads/doomed.txt/").status, 404);
    assert!(server.store().join("doomed.txt").exists());
    assert_eq!(server.delete("/uploads/doomed.txt").status, 204);
    assert_eq!(server.delete("/uploads/doomed.txt").status, 404);
}

#[test]
fn deleting_a_directory_is_403_and_it_stays() {
    let server = server();
    for path in [
        "/uploads/sub",
        "/uploads/sub/",
        "/uploads",
        "/uploads/",
        "/files/",
    ] {
        assert_eq!(server.delete(path).status, 403, "{path}");
    }
    assert!(server.store().join("sub/inner.txt").exists());
    assert!(server.path("www/files/a.txt").exists());
}

#[test]
fn delete_where_not_allowed_is_405_with_allow() {
    let server = server();
    let response = server.delete("/readonly/keep.txt");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("Allow"), Some("GET, HEAD"));
    assert!(server.path("www/readonly/keep.txt").exists());
}

#[test]
fn traversal_attempts_never_delete_outside_the_root() {
    let server = server();
    let victim = server.path("outside/victim.txt");
    for target in [
        "/uploads/../outside/victim.txt",
        "/uploads/../../outside/victim.txt",
        "/uploads/..%2f..%2foutside%2fvictim.txt",
        "/uploads/%2e%2e/%2e%2e/outside/victim.txt",
        "/uploads/%2E%2E%2F%2E%2E%2Foutside/victim.txt",
        "/files/../../outside/victim.txt",
        "/files/..%2F..%2F..%2Foutside/victim.txt",
        "/uploads/..%5c..%5coutside%5cvictim.txt",
        "/uploads/....//....//outside/victim.txt",
        "http://t/uploads/../../outside/victim.txt",
        &format!("/uploads/{}", victim.display()),
    ] {
        let status = server.delete(target).status;
        assert!(
            matches!(status, 400 | 403 | 404 | 405),
            "{target}: {status}"
        );
        assert!(
            victim.exists(),
            "{target} deleted the file outside the root"
        );
    }
    assert_eq!(fs::read(&victim).unwrap(), b"must survive");
}

#[test]
fn a_symlink_is_deleted_itself_never_its_target() {
    let server = server();
    let victim = server.path("outside/victim.txt");
    symlink(&victim, server.store().join("link.txt")).unwrap();
    symlink(server.path("outside"), server.store().join("dirlink")).unwrap();

    assert_eq!(server.delete("/uploads/link.txt").status, 204);
    assert!(fs::symlink_metadata(server.store().join("link.txt")).is_err());
    assert!(victim.exists());

    // Through a symlinked directory that leads outside the root: refused.
    assert_eq!(server.delete("/uploads/dirlink/victim.txt").status, 403);
    assert!(victim.exists());
    // The link to a directory is a link, not a directory: it goes, the directory stays.
    assert_eq!(server.delete("/uploads/dirlink").status, 204);
    assert!(server.path("outside").is_dir() && victim.exists());
}

#[test]
fn a_symlinked_directory_inside_the_root_may_be_used() {
    let server = server();
    symlink("sub", server.store().join("alias-of-sub")).unwrap();
    assert_eq!(server.delete("/uploads/alias-of-sub/inner.txt").status, 204);
    assert!(!server.store().join("sub/inner.txt").exists());
}
