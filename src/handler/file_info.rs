//! What a response says of a file, worked out from its name and metadata: its Content-Type
//! and its validators (ETag, Last-Modified). Also how files are opened for serving. Used by the
//! file cache (which keeps them with a cached file) and by the static-file handler.

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
    let essence = mime.essence_str();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            essence,
            "application/javascript" | "application/json" | "image/svg+xml" | "application/xml"
        );
    if textual {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_string()
    }
}

/// What conditional requests compare: the ETag, Last-Modified and the mtime in seconds. The
/// two fields are shared by every response that carries them.
#[derive(Clone)]
pub struct Validators {
    pub(super) etag: Arc<str>,
    pub(super) last_modified: Arc<str>,
    pub(super) modified_secs: u64,
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
