//! GET and HEAD of files and directories: conditional requests, single ranges, index files,
//! the autoindex listing, and precompressed `.gz` siblings (`gzip_static`). Files are opened
//! here and sent by the connection with sendfile.

use super::file_cache;
use super::pages::{self, DirEntry};
use super::route::Site;
use crate::config::Settings;
use crate::http::negotiation;
use crate::http::path;
use crate::http::request::Request;
use crate::http::response::{Body, Response};
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Most entries an autoindex page lists.
const MAX_LISTING: usize = 10_000;

/// Serves `request.path` from the site's root or alias.
pub fn serve(request: &Request, site: &Site) -> Response {
    let file_path = site.file_path(&request.path);
    // A path ending in `/` names a directory; for a file it is a 404, as the open below says.
    if !request.path.ends_with('/')
        && let Some(cached) = file_cache::lookup(&file_path)
    {
        return serve_regular(request, Found::Cached(cached), &file_path, site);
    }
    // Opened first and examined with fstat: one path walk, and no window between the check and
    // the use.
    let (file, metadata) = match open(&file_path) {
        Ok(opened) => opened,
        Err(error) => return super::error(io_status(&error), site),
    };
    if metadata.is_file() {
        return serve_regular(request, Found::Opened(file, metadata), &file_path, site);
    }
    if !metadata.is_dir() {
        return super::error(403, site);
    }
    if !request.path.ends_with('/') {
        let mut location = path::encode(&format!("{}/", request.path));
        if let Some(query) = &request.query {
            location.push('?');
            location.push_str(query);
        }
        return super::redirect(301, &location);
    }
    for index in &site.settings.index {
        let candidate = file_path.join(index);
        if let Some(found) = find_regular(&candidate) {
            return serve_regular(request, found, &candidate, site);
        }
    }
    if site.settings.autoindex {
        return listing(&request.path, &file_path, site);
    }
    super::error(403, site)
}

/// The status for a failed file-system look-up.
pub fn io_status(error: &io::Error) -> u16 {
    match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename => {
            404
        }
        io::ErrorKind::PermissionDenied => 403,
        _ => 500,
    }
}

/// Opens a file or directory for reading, without ever blocking on a FIFO.
fn open(file_path: &Path) -> io::Result<(File, Metadata)> {
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

/// A regular file found for a request: in the memory cache, or just opened.
enum Found {
    Cached(Arc<file_cache::Entry>),
    Opened(File, Metadata),
}

/// The regular file at `path`, from the cache or opened; None if there is none.
fn find_regular(path: &Path) -> Option<Found> {
    if let Some(cached) = file_cache::lookup(path) {
        return Some(Found::Cached(cached));
    }
    match open(path) {
        Ok((file, metadata)) if metadata.is_file() => Some(Found::Opened(file, metadata)),
        _ => None,
    }
}

/// Serves the regular file `file_path` (found as `found`), or, with `gzip_static` and a client
/// that accepts gzip, its `.gz` sibling. Each representation is read, cached and validated
/// (ETag, Last-Modified, ranges) as the file it is; only the Content-Type comes from the
/// original name. When a sibling exists, both representations say `Vary: Accept-Encoding`,
/// so that a shared cache never gives one to a client that asked for the other.
fn serve_regular(request: &Request, found: Found, file_path: &Path, site: &Site) -> Response {
    if site.settings.gzip_static {
        let gz_path = gz_sibling(file_path);
        if let Some(gz) = find_sibling(&gz_path) {
            let accepts = negotiation::accepts_gzip(
                request
                    .headers
                    .iter()
                    .filter(|(name, _)| name.eq_ignore_ascii_case("accept-encoding"))
                    .map(|(_, value)| value.as_str()),
            );
            let mut response = if accepts {
                let response = representation(request, gz, &gz_path, file_path, site);
                if matches!(response.status, 200 | 206) {
                    response.with_header("Content-Encoding", "gzip")
                } else {
                    response
                }
            } else {
                representation(request, found, file_path, file_path, site)
            };
            response = response.with_header("Vary", "Accept-Encoding");
            return response;
        }
    }
    representation(request, found, file_path, file_path, site)
}

/// Like [`find_regular`], remembering a missing file in the cache, so that a site where most
/// files have no `.gz` sibling does not pay a failing `open` per request.
fn find_sibling(path: &Path) -> Option<Found> {
    if file_cache::known_absent(path) {
        return None;
    }
    if let Some(cached) = file_cache::lookup(path) {
        return Some(Found::Cached(cached));
    }
    match open(path) {
        Ok((file, metadata)) if metadata.is_file() => Some(Found::Opened(file, metadata)),
        Ok(_) => None,
        Err(error) => {
            if error.kind() == io::ErrorKind::NotFound {
                file_cache::note_absent(path);
            }
            None
        }
    }
}

/// `FILE.gz` next to `FILE`.
fn gz_sibling(file_path: &Path) -> PathBuf {
    let mut name = file_path.as_os_str().to_os_string();
    name.push(".gz");
    PathBuf::from(name)
}

/// The response for the bytes of `bytes_path`, typed by the name `type_path`.
fn representation(
    request: &Request,
    found: Found,
    bytes_path: &Path,
    type_path: &Path,
    site: &Site,
) -> Response {
    match found {
        Found::Cached(cached) => serve_content(request, &cached, bytes_path, type_path, site),
        Found::Opened(file, metadata) => {
            serve_file(request, file, &metadata, bytes_path, type_path, site)
        }
    }
}

/// Serves a file from the cache's memory (the bytes of `bytes_path`, typed by `type_path`:
/// the same path, or the name of which `bytes_path` is the `.gz`), with the validators and
/// type the entry keeps.
fn serve_content(
    request: &Request,
    cached: &file_cache::Entry,
    bytes_path: &Path,
    type_path: &Path,
    site: &Site,
) -> Response {
    let body = |offset: u64, len: u64| Body::Shared {
        data: Arc::clone(&cached.content),
        offset: offset as usize,
        len: len as usize,
    };
    let content_type = if bytes_path == type_path {
        Some(cached.content_type.as_str())
    } else {
        cached.stem_type.as_deref()
    };
    let known = content_type.map(|content_type| (&cached.validators, content_type));
    respond_with(request, &cached.metadata, type_path, site, body, known)
}

/// Serves an opened file (cached on the way when small): its bytes are `bytes_path`'s, its
/// type that of `type_path`.
fn serve_file(
    request: &Request,
    file: File,
    metadata: &Metadata,
    bytes_path: &Path,
    type_path: &Path,
    site: &Site,
) -> Response {
    if let Some(cached) = file_cache::load(bytes_path, &file, metadata) {
        return serve_content(request, &cached, bytes_path, type_path, site);
    }
    let body = move |offset: u64, len: u64| Body::File { file, offset, len };
    respond_with(request, metadata, type_path, site, body, None)
}

/// The response for a regular file whose bytes `body(offset, len)` gives, typed by the name
/// `type_path`. `known`: its validators and Content-Type, when the file cache has them.
fn respond_with(
    request: &Request,
    metadata: &Metadata,
    type_path: &Path,
    site: &Site,
    body: impl FnOnce(u64, u64) -> Body,
    known: Option<(&Validators, &str)>,
) -> Response {
    let size = metadata.len();
    let validators = match known {
        Some((validators, _)) => validators.clone(),
        None => Validators::of(metadata),
    };

    if not_modified(request, &validators) {
        return Response::new(304, Body::Empty)
            .with_header("ETag", validators.etag)
            .with_header("Last-Modified", validators.last_modified);
    }

    let content_type = match (configured_type(site.settings, type_path), known) {
        (Some(configured), _) => configured,
        (None, Some((_, content_type))) => content_type.to_string(),
        (None, None) => content_type(type_path),
    };
    let range = match request.header("Range") {
        Some(value) if if_range_holds(request, &validators) => parse_range(value, size),
        _ => RangeRequest::Whole,
    };
    let response = match range {
        RangeRequest::Whole => Response::new(200, body(0, size)),
        RangeRequest::Part { start, end } => Response::new(206, body(start, end - start + 1))
            .with_header("Content-Range", format!("bytes {start}-{end}/{size}")),
        RangeRequest::Unsatisfiable => {
            return super::error(416, site).with_header("Content-Range", format!("bytes */{size}"));
        }
    };
    response
        .with_header("Content-Type", content_type)
        .with_header("Last-Modified", validators.last_modified)
        .with_header("ETag", validators.etag)
        .with_header("Accept-Ranges", "bytes")
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
pub fn configured_type(settings: &Settings, file_path: &Path) -> Option<String> {
    if settings.types.is_none() && settings.default_type.is_none() {
        return None;
    }
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

/// What conditional requests compare: the ETag, Last-Modified and the mtime in seconds.
#[derive(Clone)]
pub struct Validators {
    etag: String,
    last_modified: String,
    modified_secs: u64,
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
            etag: format!("\"{modified_secs:x}-{size:x}\""),
            last_modified: httpdate::fmt_http_date(
                UNIX_EPOCH + std::time::Duration::from_secs(modified_secs),
            ),
            modified_secs,
        }
    }
}

/// RFC 9110 §13.2.2: If-None-Match decides when present; otherwise If-Modified-Since.
fn not_modified(request: &Request, validators: &Validators) -> bool {
    if let Some(value) = request.header("If-None-Match") {
        let ours = validators.etag.trim_start_matches("W/");
        return value
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours);
    }
    match request
        .header("If-Modified-Since")
        .map(httpdate::parse_http_date)
    {
        Some(Ok(since)) => {
            let since = since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            validators.modified_secs <= since
        }
        _ => false,
    }
}

/// If-Range (RFC 9110 §13.1.5): the range applies only if the representation is unchanged.
fn if_range_holds(request: &Request, validators: &Validators) -> bool {
    match request.header("If-Range") {
        None => true,
        Some(value) if value.starts_with('"') => value == validators.etag,
        Some(value) => value == validators.last_modified,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    Whole,
    /// Inclusive byte positions.
    Part {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

/// One `bytes=` range. Several ranges, other units or bad syntax are ignored (the whole file is
/// sent), as RFC 9110 §14.2 allows.
fn parse_range(value: &str, size: u64) -> RangeRequest {
    // The unit is case-insensitive (RFC 9110 §14.1).
    let value = value.trim();
    let Some(spec) = value
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .map(|_| &value[6..])
    else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Part {
                start: size - n.min(size),
                end: size - 1,
            },
            None => RangeRequest::Whole,
        },
        (first, last) => {
            let Some(start) = number(first) else {
                return RangeRequest::Whole;
            };
            let end = if last.is_empty() {
                u64::MAX
            } else {
                match number(last) {
                    Some(end) if end >= start => end,
                    _ => return RangeRequest::Whole,
                }
            };
            if start >= size {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Part {
                    start,
                    end: end.min(size - 1),
                }
            }
        }
    }
}

fn listing(url_path: &str, dir: &Path, site: &Site) -> Response {
    let reader = match fs::read_dir(dir) {
        Ok(reader) => reader,
        Err(error) => return super::error(io_status(&error), site),
    };
    let mut entries = Vec::new();
    for entry in reader.flatten().take(MAX_LISTING) {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Hidden files stay hidden, as with nginx.
        if name.starts_with('.') {
            continue;
        }
        let metadata = fs::metadata(entry.path()).or_else(|_| entry.metadata());
        let Ok(metadata) = metadata else { continue };
        entries.push(DirEntry {
            name,
            is_dir: metadata.is_dir(),
            size: metadata.len(),
            modified: metadata.modified().unwrap_or(UNIX_EPOCH),
        });
    }
    Response::html(200, pages::autoindex(url_path, &mut entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeRequest::*;
        let cases: &[(&str, u64, RangeRequest)] = &[
            ("bytes=0-0", 10, Part { start: 0, end: 0 }),
            ("BYTES=0-1", 10, Part { start: 0, end: 1 }),
            ("bytes=2-", 10, Part { start: 2, end: 9 }),
            ("bytes=2-100", 10, Part { start: 2, end: 9 }),
            ("bytes=-3", 10, Part { start: 7, end: 9 }),
            ("bytes=-30", 10, Part { start: 0, end: 9 }),
            ("bytes=10-", 10, Unsatisfiable),
            ("bytes=-0", 10, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=5-2", 10, Whole),
            ("bytes=0-1,3-4", 10, Whole),
            ("items=0-1", 10, Whole),
            ("bytes=a-b", 10, Whole),
            ("bytes=+1-2", 10, Whole),
        ];
        for (value, size, expected) in cases {
            assert_eq!(&parse_range(value, *size), expected, "{value} of {size}");
        }
    }

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
