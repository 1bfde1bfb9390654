//! The upload store on disk. A [`Store`] is the store directory opened once per upload; every
//! file operation after that is relative to that descriptor and takes a single name component
//! (see `names`), so nothing can land outside the directory whatever the names are, even if
//! the configured path is swapped meanwhile.
//!
//! Files are written under a hidden temporary name ([`Store::create_temporary`], `O_EXCL`,
//! mode 0644) and put in place by rename, which is atomic within one directory: a reader sees
//! either no file or the whole file. A new name is claimed with `renameat2(RENAME_NOREPLACE)`
//! (or, where the file system lacks it, `link` then `unlink`), so an existing file is never
//! overwritten by a POST; a PUT replaces with a plain rename.
//!
//! Nothing is fsynced: like nginx, an upload is durable when the kernel writes it back. The
//! guarantee is about visibility, not about power loss.

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::names;

/// A unique number per temporary or generated name in this process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Attempts at a fresh temporary name before giving up (each one is already unique; this only
/// guards against a stale file from a crashed process with a recycled pid).
const TEMPORARY_ATTEMPTS: u32 = 16;

/// Numbered alternatives tried for a POST whose name is taken (`a-1.txt` ... `a-999.txt`).
pub const NUMBERED_ATTEMPTS: u32 = 999;

/// The store directory, open.
#[derive(Debug)]
pub struct Store {
    dir: OwnedFd,
    /// As configured, for error messages.
    path: PathBuf,
}

/// What [`Store::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Created,
    Replaced,
}

impl Store {
    /// Opens the store directory. It must exist: the server never creates it (like nginx's
    /// `client_body_temp_path` with a missing parent, this is a configuration error).
    pub fn open(path: &Path) -> io::Result<Store> {
        let dir = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Store {
            dir,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a new, empty, hidden temporary file for writing.
    pub fn create_temporary(&self) -> io::Result<(String, File)> {
        let mut last_error = io::Error::from(io::ErrorKind::AlreadyExists);
        for _ in 0..TEMPORARY_ATTEMPTS {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let name = names::temporary(std::process::id(), next_number(), nanos);
            match rustix::fs::openat(
                &self.dir,
                name.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::from_raw_mode(0o644),
            ) {
                Ok(fd) => return Ok((name, File::from(fd))),
                Err(Errno::EXIST) => last_error = Errno::EXIST.into(),
                Err(errno) => return Err(errno.into()),
            }
        }
        Err(last_error)
    }

    /// Renames `temporary` to `name` if, and only if, `name` does not exist. `AlreadyExists`
    /// when it does (a file, a directory or a dangling symlink alike).
    pub fn claim(&self, temporary: &str, name: &str) -> io::Result<()> {
        match rustix::fs::renameat_with(
            &self.dir,
            temporary,
            &self.dir,
            name,
            RenameFlags::NOREPLACE,
        ) {
            Ok(()) => Ok(()),
            // The file system does not do RENAME_NOREPLACE: a hard link fails the same way
            // on an existing name, and is just as atomic.
            Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
                rustix::fs::linkat(&self.dir, temporary, &self.dir, name, AtFlags::empty())?;
                // The file is in place; a temporary name left behind would only be a leak.
                let _ = self.remove(temporary);
                Ok(())
            }
            Err(errno) => Err(errno.into()),
        }
    }

    /// Claims `name`, or the first free numbered alternative (`a-1.txt`, `a-2.txt`...), for
    /// `temporary`. Returns the name claimed.
    pub fn claim_numbered(&self, temporary: &str, name: &str) -> io::Result<String> {
        let mut candidate = name.to_string();
        for n in 1..=NUMBERED_ATTEMPTS + 1 {
            match self.claim(temporary, &candidate) {
                Ok(()) => return Ok(candidate),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    candidate = names::numbered(name, n);
                }
                Err(error) => return Err(error),
            }
        }
        Err(io::Error::from(io::ErrorKind::AlreadyExists))
    }

    /// Puts `temporary` in place as `name`, replacing a file of that name atomically.
    pub fn put(&self, temporary: &str, name: &str) -> io::Result<Put> {
        match self.claim(temporary, name) {
            Ok(()) => Ok(Put::Created),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                // A directory there makes rename fail (EISDIR), which is what we want.
                rustix::fs::renameat(&self.dir, temporary, &self.dir, name)?;
                Ok(Put::Replaced)
            }
            Err(error) => Err(error),
        }
    }

    /// Whether `name` exists and is a directory (not following a symlink).
    pub fn is_directory(&self, name: &str) -> bool {
        rustix::fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|stat| rustix::fs::FileType::from_raw_mode(stat.st_mode).is_dir())
    }

    /// Removes the file `name` from the store (a temporary, or a file being rolled back).
    pub fn remove(&self, name: &str) -> io::Result<()> {
        rustix::fs::unlinkat(&self.dir, name, AtFlags::empty())?;
        Ok(())
    }
}

/// The next number of this process's unique sequence.
pub fn next_number() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// The status for a failed write or rename in the store: out of space, over quota or over the
/// file system's file size is 507 Insufficient Storage (RFC 4918); a name taken by a directory
/// is 409 Conflict; out of descriptors or memory is 503 (try again soon); anything else is the
/// server's fault, 500.
pub fn status_of(error: &io::Error) -> u16 {
    match error.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG) => 507,
        _ if crate::site::out_of_resources(error) => 503,
        Some(libc::EISDIR | libc::ENOTEMPTY | libc::EEXIST) => 409,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;

    /// A scratch store directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let path = std::env::temp_dir().join(format!(
                "webserv-store-{tag}-{}-{}",
                std::process::id(),
                next_number()
            ));
            fs::create_dir_all(&path).unwrap();
            Scratch(path)
        }

        fn names(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn temporary_with(store: &Store, contents: &[u8]) -> String {
        let (name, mut file) = store.create_temporary().unwrap();
        file.write_all(contents).unwrap();
        name
    }

    #[test]
    fn a_missing_store_cannot_be_opened() {
        let scratch = Scratch::new("missing");
        assert_eq!(
            Store::open(&scratch.0.join("nope")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn temporaries_are_hidden_new_files_with_mode_0644() {
        use std::os::unix::fs::PermissionsExt;
        let scratch = Scratch::new("temp");
        let store = Store::open(&scratch.0).unwrap();
        let a = temporary_with(&store, b"a");
        let b = temporary_with(&store, b"b");
        assert_ne!(a, b);
        assert!(names::is_temporary(&a));
        let mode = fs::metadata(scratch.0.join(&a))
            .unwrap()
            .permissions()
            .mode();
        // The umask may only take bits away.
        assert_eq!(mode & 0o7133, 0);
        assert_eq!(mode & 0o600, 0o600);
    }

    #[test]
    fn claims_never_overwrite_and_numbered_claims_find_a_free_name() {
        let scratch = Scratch::new("claim");
        let store = Store::open(&scratch.0).unwrap();
        fs::write(scratch.0.join("a.txt"), "old").unwrap();
        fs::write(scratch.0.join("a-1.txt"), "old1").unwrap();
        let t = temporary_with(&store, b"new");
        assert_eq!(
            store.claim(&t, "a.txt").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(store.claim_numbered(&t, "a.txt").unwrap(), "a-2.txt");
        assert_eq!(fs::read(scratch.0.join("a.txt")).unwrap(), b"old");
        assert_eq!(fs::read(scratch.0.join("a-1.txt")).unwrap(), b"old1");
        assert_eq!(fs::read(scratch.0.join("a-2.txt")).unwrap(), b"new");
        assert_eq!(scratch.names(), ["a-1.txt", "a-2.txt", "a.txt"]);
    }

    #[test]
    fn a_dangling_symlink_is_a_taken_name_and_is_never_followed() {
        let scratch = Scratch::new("link");
        let store = Store::open(&scratch.0).unwrap();
        let outside = scratch.0.join("outside-target");
        std::os::unix::fs::symlink(&outside, scratch.0.join("x.txt")).unwrap();
        let t = temporary_with(&store, b"new");
        assert_eq!(store.claim_numbered(&t, "x.txt").unwrap(), "x-1.txt");
        assert!(!outside.exists());
        // PUT replaces the link itself, not its target.
        let t = temporary_with(&store, b"put");
        assert_eq!(store.put(&t, "x.txt").unwrap(), Put::Replaced);
        assert!(!outside.exists());
        assert!(
            !fs::symlink_metadata(scratch.0.join("x.txt"))
                .unwrap()
                .is_symlink()
        );
    }

    #[test]
    fn put_creates_then_replaces_and_refuses_a_directory() {
        let scratch = Scratch::new("put");
        let store = Store::open(&scratch.0).unwrap();
        let t = temporary_with(&store, b"one");
        assert_eq!(store.put(&t, "f").unwrap(), Put::Created);
        let t = temporary_with(&store, b"two");
        assert_eq!(store.put(&t, "f").unwrap(), Put::Replaced);
        assert_eq!(fs::read(scratch.0.join("f")).unwrap(), b"two");
        fs::create_dir(scratch.0.join("d")).unwrap();
        assert!(store.is_directory("d"));
        assert!(!store.is_directory("f"));
        let t = temporary_with(&store, b"three");
        let error = store.put(&t, "d").unwrap_err();
        assert_eq!(status_of(&error), 409);
        store.remove(&t).unwrap();
        assert_eq!(scratch.names(), ["d", "f"]);
    }

    #[test]
    fn a_full_disk_is_507() {
        let mut full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let error = full.write_all(&[0; 4096]).unwrap_err();
        assert_eq!(status_of(&error), 507);
        for errno in [libc::ENOSPC, libc::EDQUOT, libc::EFBIG] {
            assert_eq!(status_of(&io::Error::from_raw_os_error(errno)), 507);
        }
        assert_eq!(status_of(&io::Error::from_raw_os_error(libc::EIO)), 500);
        assert_eq!(status_of(&io::Error::from_raw_os_error(libc::EMFILE)), 503);
        assert_eq!(status_of(&io::Error::from_raw_os_error(libc::EACCES)), 500);
    }
}
