//! The state directory of an ACME issuer (`state_path`): what survives a restart. Read while the
//! configuration loads (`config::acme` checks it) and by the ACME manager, written by the
//! manager.
//!
//! ```text
//! state_path/
//!     account.key        the account's private key (PKCS#8 PEM), mode 0600
//!     NAME.pem           a certificate's private key then its chain, mode 0600; NAME is the
//!                        certificate's first identifier
//! ```
//!
//! Every file is written whole or not at all: to a temporary file in the same directory,
//! flushed to disk, then renamed over the final name (and the directory flushed). A key and its
//! chain share one file so that no crash can leave a key beside a chain it does not sign.
//! Nothing here overwrites a file it could not read: a corrupt file is reported and left for
//! the operator.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::sign::CertifiedKey;

use super::der::{self, CertInfo};
use super::jose::AccountKey;
use super::tls;

pub const ACCOUNT_KEY: &str = "account.key";
/// The prefix of temporary files (a dot: hidden, and never a certificate's name).
const TEMPORARY: &str = ".tmp-";

/// The file holding the key and chain of the certificate whose first identifier is `stem`.
pub fn certificate_path(state: &Path, stem: &str) -> PathBuf {
    state.join(format!("{stem}.pem"))
}

/// Makes sure `dir` is a directory this process can write in: created (mode 0700, parents
/// too) when missing, then probed by creating and removing a file (which also answers for
/// root, for read-only mounts and for ACLs, as `access(2)` would not).
pub fn prepare_dir(dir: &Path) -> Result<(), String> {
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(format!(
                "acme state_path \"{}\" is not a directory",
                dir.display()
            ));
        }
        Ok(_) => {}
        Err(_) => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create acme state_path \"{}\": {e}", dir.display()))?;
        }
    }
    let probe = dir.join(format!("{TEMPORARY}probe-{}", std::process::id()));
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe);
    match created {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!(
            "acme state_path \"{}\" is not writable: {e}",
            dir.display()
        )),
    }
}

fn corrupt(path: &Path, why: impl std::fmt::Display) -> String {
    format!(
        "acme state file \"{}\" is corrupt ({why}); repair or remove it, webserv does not \
         overwrite it",
        path.display()
    )
}

/// The stored account key, None when there is none yet.
pub fn load_account_key(state: &Path) -> Result<Option<AccountKey>, String> {
    let path = state.join(ACCOUNT_KEY);
    match fs::read(&path) {
        Ok(pem) => AccountKey::from_pem(&pem)
            .map(Some)
            .map_err(|why| corrupt(&path, why)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read \"{}\": {e}", path.display())),
    }
}

/// A certificate read back from the state directory.
pub struct Stored {
    pub key: Arc<CertifiedKey>,
    pub info: CertInfo,
}

/// The stored certificate for `stem`, None when there is none yet.
pub fn load_certificate(state: &Path, stem: &str) -> Result<Option<Stored>, String> {
    let path = certificate_path(state, stem);
    if let Err(e) = fs::metadata(&path) {
        if e.kind() == std::io::ErrorKind::NotFound {
            return Ok(None);
        }
        return Err(format!("cannot read \"{}\": {e}", path.display()));
    }
    let tls = tls::load(&path, &path).map_err(|(_, why)| corrupt(&path, why))?;
    let leaf = tls.key.end_entity_cert().map_err(|e| corrupt(&path, e))?;
    let info = der::certificate(leaf.as_ref()).map_err(|e| corrupt(&path, e))?;
    Ok(Some(Stored { key: tls.key, info }))
}

/// Writes `contents` as `dir/name`, atomically, with `mode`.
pub fn write_atomic(dir: &Path, name: &str, contents: &[u8], mode: u32) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let temporary = dir.join(format!(
        "{TEMPORARY}{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temporary, dir.join(name))?;
        // The rename itself reaches the disk with the directory.
        fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// Removes the temporary files a process stopped in the middle of a write left behind.
pub fn sweep_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(TEMPORARY))
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("webserv-acme-store-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_missing_state_directory_is_created_private() {
        let dir = temp_dir("create");
        let state = dir.join("a/b");
        prepare_dir(&state).unwrap();
        let mode = fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(fs::read_dir(&state).unwrap().next().is_none(), "probe left");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_refused() {
        let dir = temp_dir("file");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("f"), b"x").unwrap();
        let e = prepare_dir(&dir.join("f")).unwrap_err();
        assert!(e.contains("is not a directory"), "{e}");
        let e = prepare_dir(&dir.join("f/sub")).unwrap_err();
        assert!(e.contains("cannot create"), "{e}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn atomic_writes_replace_whole_files_with_the_mode_asked() {
        let dir = temp_dir("atomic");
        fs::create_dir_all(&dir).unwrap();
        write_atomic(&dir, "k", b"one", 0o600).unwrap();
        write_atomic(&dir, "k", b"two", 0o600).unwrap();
        assert_eq!(fs::read(dir.join("k")).unwrap(), b"two");
        let mode = fs::metadata(dir.join("k")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::write(dir.join(".tmp-k-1-1"), b"half").unwrap();
        sweep_temporaries(&dir);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn stored_files_load_and_corrupt_ones_are_named() {
        let dir = temp_dir("load");
        fs::create_dir_all(&dir).unwrap();
        assert!(load_account_key(&dir).unwrap().is_none());
        assert!(load_certificate(&dir, "a.test").unwrap().is_none());

        let (_, pkcs8) = AccountKey::generate(super::super::jose::Curve::P256).unwrap();
        let pem = super::super::jose::pem("PRIVATE KEY", &pkcs8);
        write_atomic(&dir, ACCOUNT_KEY, pem.as_bytes(), 0o600).unwrap();
        assert!(load_account_key(&dir).unwrap().is_some());
        fs::write(dir.join(ACCOUNT_KEY), b"garbage").unwrap();
        let e = load_account_key(&dir).err().unwrap();
        assert!(e.contains("account.key\" is corrupt"), "{e}");

        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let both = format!("{}{}", key.serialize_pem(), cert.pem());
        fs::write(certificate_path(&dir, "a.test"), &both).unwrap();
        let stored = load_certificate(&dir, "a.test").unwrap().unwrap();
        assert_eq!(stored.info.dns_names, ["a.test"]);
        fs::write(certificate_path(&dir, "a.test"), cert.pem()).unwrap();
        let e = load_certificate(&dir, "a.test").err().unwrap();
        assert!(e.contains("a.test.pem\" is corrupt"), "{e}");
        fs::remove_dir_all(dir).unwrap();
    }
}
