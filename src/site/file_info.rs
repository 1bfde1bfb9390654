//! What a response says of a file, worked out from its name and metadata: its Content-Type
//! and its validators (ETag, Last-Modified). Also how files are opened for serving. Used by the
//! file cache (which keeps them with a cached file) and by the static-file handler.

use crate::config::Settings;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Opens a file or directory for reading, without ever blocking on a FIFO.
pub fn open(file_path: &Path) -> io::Result<(File, Metadata)> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(file_path)?;
    let metadata = file.metadata()?;
    Ok((file, metadata))
}

/// Opens a regular file for reading (anything else is refused as forbidden).
pub fn open_regular(file_path: &Path) -> io::Result<(File, Metadata)> {
    let (file, metadata) = open(file_path)?;
    if !metadata.is_file() {
        return Err(io::Error::from(io::ErrorKind::PermissionDenied));
    }
    Ok((file, metadata))
}

/// The Content-Type for a file name: by extension, with a charset for text.
pub fn content_type(file_path: &Path) -> String {
    let mime = mime_guess::from_path(file_path).first_or_octet_stream();
    labelled(mime.essence_str())
}

/// A media type with `charset=utf-8` added when it is text and names no parameter itself.
fn labelled(essence: &str) -> String {
    let textual = essence.starts_with("text/")
        || matches!(
            essence,
            "application/javascript" | "application/json" | "image/svg+xml" | "application/xml"
        );
    if textual && !essence.contains(';') {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_string()
    }
}

/// The Content-Type the configuration's `types` and `default_type` give a file name (its
/// extension: what follows the last `.` of its last segment, any case), labelled as
/// [`content_type`] labels; None when it sets neither, or only `default_type` for a name the
/// built-in table knows. With a `types` table, a name it lacks gets `default_type` (nginx's
/// default `text/plain` without one).
#[inline]
pub fn configured_type(settings: &Settings, file_path: &Path) -> Option<String> {
    if settings.types.is_none() && settings.default_type.is_none() {
        return None;
    }
    type_by_configuration(settings, file_path)
}

fn type_by_configuration(settings: &Settings, file_path: &Path) -> Option<String> {
    let extension = file_path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, ext)| ext);
    let mime = match (&settings.types, extension) {
        (Some(types), Some(ext)) => types.get(ext),
        _ => None,
    };
    let mime = match (mime, &settings.types) {
        (Some(mime), _) => mime,
        (None, Some(_)) => settings.default_type.as_deref().unwrap_or("text/plain"),
        (None, None) => {
            if mime_guess::from_path(file_path).first().is_some() {
                return None;
            }
            settings.default_type.as_deref()?
        }
    };
    Some(labelled(mime))
}

/// What conditional requests compare: the ETag, Last-Modified and the mtime in seconds. The
/// two fields are shared by every response that carries them.
#[derive(Clone)]
pub struct Validators {
    pub(crate) etag: Arc<str>,
    pub(crate) last_modified: Arc<str>,
    pub(crate) modified_secs: u64,
}

impl Validators {
    pub fn etag(&self) -> &str {
        &self.etag
    }

    pub fn last_modified(&self) -> &str {
        &self.last_modified
    }

    /// The validators of a file with this metadata.
    pub fn of(metadata: &Metadata) -> Validators {
        Validators::new(metadata.modified().unwrap_or(UNIX_EPOCH), metadata.len())
    }

    fn new(modified: SystemTime, size: u64) -> Validators {
        let modified_secs = modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Validators {
            etag: format!("\"{modified_secs:x}-{size:x}\"").into(),
            last_modified: httpdate::fmt_http_date(
                UNIX_EPOCH + std::time::Duration::from_secs(modified_secs),
            )
            .into(),
            modified_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_types_and_default_type_follow_nginx() {
        let settings = |conf: &str| {
            crate::config::parse(
                &format!("{conf}\nserver {{ listen 80; }}"),
                Path::new("/etc/w/t.conf"),
            )
            .unwrap()
            .servers[0]
                .settings
                .clone()
        };
        let types = settings("types { text/html html; application/x-thing thing; }");
        let of = |s: &Settings, name: &str| configured_type(s, Path::new(name));
        assert_eq!(
            of(&types, "/a/b.HTML").as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(
            of(&types, "x.thing").as_deref(),
            Some("application/x-thing")
        );
        // Not in the table: nginx's default default_type.
        assert_eq!(
            of(&types, "x.png").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            of(&types, "no-extension").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        let both = settings("types { text/html html; } default_type application/octet-stream;");
        assert_eq!(
            of(&both, "x.png").as_deref(),
            Some("application/octet-stream")
        );
        // default_type alone types only what the built-in table does not know.
        let default = settings("default_type application/x-unknown;");
        assert_eq!(of(&default, "x.png"), None);
        assert_eq!(
            of(&default, "x.zzzz").as_deref(),
            Some("application/x-unknown")
        );
        assert_eq!(of(&settings(""), "x.zzzz"), None);
    }

    #[test]
    fn text_types_carry_a_charset() {
        assert_eq!(
            content_type(Path::new("a.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.css")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("a.png")), "image/png");
        assert_eq!(
            content_type(Path::new("a.unknownext")),
            "application/octet-stream"
        );
        assert!(content_type(Path::new("a.js")).ends_with("charset=utf-8"));
    }
}
