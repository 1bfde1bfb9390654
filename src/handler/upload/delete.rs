//! DELETE of a file under the root (or alias) the request path maps to, or of the file an
//! alias names.
//!
//! The path is normalised (no `..`), but a symlinked directory inside the root could still
//! lead out of it, so the parent directory is opened with `openat2(RESOLVE_BENEATH)`: the
//! kernel refuses any resolution that leaves the root (403). The last component is examined
//! and unlinked relative to that directory without following it: deleting a symlink removes
//! the link, never its target. Where `openat2` is unavailable (old kernels, some seccomp
//! profiles) the parent is walked one component at a time with `O_NOFOLLOW` instead, which
//! refuses every symlinked directory.

use crate::http::request::Request;
use crate::http::response::{Body, Response};
use crate::site::route::Site;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

/// DELETE of a file: 204; missing 404; a directory, or a path leading outside the root, 403.
pub fn delete(request: &Request, site: &Site) -> Response {
    match remove(site, &request.path) {
        Ok(()) => Response::new(204, Body::Empty),
        Err(503) => crate::site::unavailable(site),
        Err(status) => super::super::error(status, site),
    }
}

fn remove(site: &Site, path: &str) -> Result<(), u16> {
    let file = site.file_path(path);
    let settings = site.settings;
    let mut base = match &settings.alias {
        Some(alias) if file.starts_with(alias) => alias.as_path(),
        _ => settings.root.as_path(),
    };
    let mut relative = file.strip_prefix(base).map_err(|_| 403u16)?;
    // The location's own path maps to the alias itself, which may name a file (`alias
    // doc.html;`): that file is what DELETE removes, looked up in the alias's directory. A
    // directory alias is still refused below.
    if relative.as_os_str().is_empty()
        && settings.alias.as_deref() == Some(base)
        && let (Some(parent), Some(name)) = (base.parent(), base.file_name())
    {
        base = parent;
        relative = Path::new(name);
    }
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(403);
    }
    // The root or alias itself is a directory.
    let name = relative.file_name().ok_or(403u16)?;
    let parent = relative.parent().unwrap_or(Path::new(""));

    // The server's own failures (5xx) are logged with their cause.
    let status_of = |errno: Errno| {
        let status = status_of(errno);
        if status >= 500 {
            crate::log::error(&format!(
                "DELETE \"{}\" failed: {}",
                file.display(),
                std::io::Error::from(errno)
            ));
        }
        status
    };
    let root = rustix::fs::open(base, directory_flags(), Mode::empty()).map_err(status_of)?;
    let dir = open_beneath(root, parent).map_err(status_of)?;
    let stat = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(status_of)?;
    if FileType::from_raw_mode(stat.st_mode).is_dir() {
        return Err(403);
    }
    // `file.txt/` names a directory that is not there, as it does for GET.
    if path.ends_with('/') {
        return Err(404);
    }
    rustix::fs::unlinkat(&dir, name, AtFlags::empty()).map_err(status_of)
}

fn directory_flags() -> OFlags {
    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC
}

/// Opens `relative` (a path of normal components) below `root`, refusing any way out.
fn open_beneath(root: OwnedFd, relative: &Path) -> Result<OwnedFd, Errno> {
    if relative.as_os_str().is_empty() {
        return Ok(root);
    }
    match rustix::fs::openat2(
        &root,
        relative,
        directory_flags(),
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    ) {
        Err(Errno::NOSYS | Errno::PERM) => walk_without_symlinks(root, relative),
        result => result,
    }
}

/// The fallback of [`open_beneath`]: one component at a time, never following a symlink.
fn walk_without_symlinks(root: OwnedFd, relative: &Path) -> Result<OwnedFd, Errno> {
    let mut dir = root;
    for component in relative.components() {
        // O_PATH with O_NOFOLLOW opens a symlink itself, which the type check then refuses.
        dir = rustix::fs::openat(
            &dir,
            component.as_os_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let file_type = FileType::from_raw_mode(rustix::fs::fstat(&dir)?.st_mode);
        if file_type == FileType::Symlink {
            return Err(Errno::XDEV);
        }
        if !file_type.is_dir() {
            return Err(Errno::NOTDIR);
        }
    }
    Ok(dir)
}

/// The status for a failed step of a DELETE.
fn status_of(errno: Errno) -> u16 {
    match errno {
        Errno::NOENT | Errno::NOTDIR | Errno::NAMETOOLONG => 404,
        // Leaving the root (EXDEV), a symlink loop, permissions, a directory, a mount point,
        // an immutable file, a read-only file system.
        Errno::XDEV
        | Errno::LOOP
        | Errno::ACCESS
        | Errno::PERM
        | Errno::ISDIR
        | Errno::BUSY
        | Errno::ROFS => 403,
        Errno::MFILE | Errno::NFILE | Errno::NOMEM => 503,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_contract() {
        assert_eq!(status_of(Errno::NOENT), 404);
        assert_eq!(status_of(Errno::NOTDIR), 404);
        assert_eq!(status_of(Errno::XDEV), 403);
        assert_eq!(status_of(Errno::ACCESS), 403);
        assert_eq!(status_of(Errno::ISDIR), 403);
        assert_eq!(status_of(Errno::IO), 500);
    }

    #[test]
    fn the_fallback_walk_refuses_symlinked_directories() {
        let dir = std::env::temp_dir().join(format!("webserv-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/real/sub")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        std::os::unix::fs::symlink(dir.join("outside"), dir.join("root/link")).unwrap();
        std::os::unix::fs::symlink("real", dir.join("root/inner")).unwrap();
        let open = |rel: &str| {
            let root =
                rustix::fs::open(dir.join("root"), directory_flags(), Mode::empty()).unwrap();
            walk_without_symlinks(root, Path::new(rel)).map(|_| ())
        };
        assert_eq!(open("real/sub"), Ok(()));
        assert_eq!(open("link"), Err(Errno::XDEV));
        assert_eq!(open("inner/sub"), Err(Errno::XDEV));
        assert_eq!(open("missing"), Err(Errno::NOENT));
        std::fs::write(dir.join("root/file"), "").unwrap();
        assert_eq!(open("file/x"), Err(Errno::NOTDIR));
        let root = rustix::fs::open(dir.join("root"), directory_flags(), Mode::empty()).unwrap();
        assert_eq!(
            open_beneath(root, Path::new("link")).map(|_| ()),
            Err(Errno::XDEV)
        );
        let root = rustix::fs::open(dir.join("root"), directory_flags(), Mode::empty()).unwrap();
        assert!(open_beneath(root, Path::new("inner/sub")).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
