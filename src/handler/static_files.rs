//! GET and HEAD of files and directories: conditional requests, single ranges, index files,
//! the autoindex listing, and precompressed `.gz` siblings (`gzip_static`). Files are opened
//! through the worker's file cache (small ones answered from memory, others sent with sendfile).

use super::file_cache::{FileCache, FileRep, Found};
use crate::compress::Decision;
use crate::config::Static;
use crate::http::negotiation::{self, Coding};
use crate::http::path;
use crate::http::request::Request;
use crate::http::response::{Body, Response, Value};
use crate::site::file_info::{Validators, configured_type};
use crate::site::pages::{self, DirEntry};
use crate::site::route::Site;
use std::borrow::Cow;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Most entries an autoindex page lists.
const MAX_LISTING: usize = 10_000;

/// Serves `request.path` from the site's root or alias, with the worker's file cache.
pub fn serve(request: &Request, site: &Site, files: &mut FileCache) -> Response {
    let file_path = site.file_path(&request.path);
    let file = match files.open(&file_path) {
        Ok(Found::File(file)) => file,
        Ok(Found::Directory) => return directory(request, &file_path, site, files),
        Ok(Found::Other) => return super::error(403, site),
        Err(error) => return failed("open()", &file_path, &error, site),
    };
    serve_regular(request, file, &file_path, site, files)
}

/// A directory: redirected to its name with a slash, else its first index file, else its
/// listing (`autoindex`), else 403.
fn directory(request: &Request, dir: &Path, site: &Site, files: &mut FileCache) -> Response {
    if !request.path.ends_with('/') {
        let mut location = path::encode(&format!("{}/", request.path));
        if let Some(query) = &request.query {
            location.push('?');
            location.push_str(query);
        }
        return super::redirect(301, &location);
    }
    for index in &site.settings.index {
        let candidate = dir.join(index);
        match files.open(&candidate) {
            Ok(Found::File(file)) => return serve_regular(request, file, &candidate, site, files),
            // Out of descriptors says nothing of the index file: not a 403 for a missing one.
            Err(error) if crate::site::out_of_resources(&error) => {
                return failed("open()", &candidate, &error, site);
            }
            _ => {}
        }
    }
    if site.settings.autoindex {
        return listing(&request.path, dir, site);
    }
    super::error(403, site)
}

/// The answer to a failed file-system call on `path`: 404 or 403 when the request asked for
/// what is not there or not allowed; otherwise the server's failure, logged with its cause
/// (503 with `Retry-After` when it is out of descriptors or memory, else 500).
fn failed(call: &str, path: &Path, error: &io::Error, site: &Site) -> Response {
    match io_status(error) {
        status @ (403 | 404) => super::error(status, site),
        _ => crate::site::server_failure(&format!("{call} \"{}\"", path.display()), error, site),
    }
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

/// Serves the regular file `file_path`, or, with `gzip_static`, `brotli_static` or
/// `zstd_static`, its precompressed sibling (`FILE.gz`, `FILE.br`, `FILE.zst`) that the client
/// accepts best (on a tie: zstd, br, gzip; a sibling with `always` is sent even to a client
/// that accepts none). Each representation is read, cached and validated (ETag,
/// Last-Modified, ranges) as the file it is; only the Content-Type comes from the original
/// name. When a sibling exists, every representation says `Vary: Accept-Encoding`, so that a
/// shared cache never gives one to a client that asked for another.
///
/// Where compression on the fly is on, a whole file's response says which file and version it
/// is (`Response::origin`): the exchange then sends the compressed variant the worker's file
/// cache holds for it, or compresses it and keeps the result there.
fn serve_regular(
    request: &Request,
    file: FileRep,
    file_path: &Path,
    site: &Site,
    files: &mut FileCache,
) -> Response {
    let compress = &site.settings.compress;
    if !compress.statics() && !compress.on_the_fly() {
        return representation(request, file, file_path, site);
    }
    serve_compressible(request, file, file_path, site, files)
}

/// [`serve_regular`] where some compression is on.
#[inline(never)]
fn serve_compressible(
    request: &Request,
    file: FileRep,
    file_path: &Path,
    site: &Site,
    files: &mut FileCache,
) -> Response {
    let compress = &site.settings.compress;
    let mut vary = false;
    if compress.statics() {
        match precompressed(request, file_path, site, files) {
            Sibling::Chosen(response) => return response,
            Sibling::Exists => vary = true,
            Sibling::None => {}
        }
    }
    let origin = compress.on_the_fly().then(|| file.origin(file_path));
    // What a 304 must say of the 200 (only for a conditional request).
    let conditional = compress.on_the_fly()
        && (request.header("If-None-Match").is_some()
            || request.header("If-Modified-Since").is_some());
    let not_modified = conditional.then(|| (file.content_type(file_path), file.size()));
    let mut response = representation(request, file, file_path, site);
    if vary {
        response = response.with_header("Vary", "Accept-Encoding");
    }
    match response.status {
        200 => response.origin = origin,
        304 => {
            if let Some((content_type, size)) = not_modified {
                as_compressed_200(&mut response, request, compress, content_type, size);
            }
        }
        _ => {}
    }
    response
}

/// A 304 says what the 200 to the same request would (RFC 9110 §15.4.5): where that 200 would
/// be compressed on the fly, its weak ETag (the one the client holds) and `Vary`; where it
/// could have been, `Vary` (`gzip_vary`). The 200's head is judged as the exchange judges it,
/// from the file's type and length (fields `add_header` would add are not seen: they matter
/// only to `gzip_proxied`).
fn as_compressed_200(
    response: &mut Response,
    request: &Request,
    compress: &crate::config::Compress,
    content_type: Value,
    size: u64,
) {
    let whole = crate::http::response::Head {
        status: 200,
        reason: None,
        headers: vec![(Cow::Borrowed("Content-Type"), content_type)],
        length: Some(size),
        close: false,
    };
    let vary = match crate::compress::decide(request, compress, &whole) {
        Decision::Compress { .. } => {
            for (name, value) in &mut response.headers {
                if name.eq_ignore_ascii_case("etag") && !value.starts_with("W/") {
                    *value = Value::Owned(format!("W/{}", value.as_str()));
                }
            }
            true
        }
        Decision::AsIs { vary } => vary,
    };
    if vary
        && !response
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("vary"))
    {
        response
            .headers
            .push((Cow::Borrowed("Vary"), Value::Static("Accept-Encoding")));
    }
}

/// What the precompressed siblings of a file offer a request.
enum Sibling {
    /// The response from the sibling chosen.
    Chosen(Response),
    /// Some sibling exists, but none is for this client: the file goes, varying.
    Exists,
    None,
}

fn precompressed(
    request: &Request,
    file_path: &Path,
    site: &Site,
    files: &mut FileCache,
) -> Sibling {
    let compress = &site.settings.compress;
    let accepted = negotiation::accepted(
        request
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("accept-encoding"))
            .map(|(_, value)| value.as_str()),
    );
    let mut exists = false;
    let mut best: Option<(u16, Coding, FileRep)> = None;
    for coding in Coding::ALL {
        let weight = match compress.static_of(coding) {
            Static::Off => continue,
            Static::On => accepted.weight(coding),
            // Sent whatever the client says; one it accepts comes first.
            Static::Always => accepted.weight(coding).max(1),
        };
        let Some(rep) = files.open_if_present(&sibling(file_path, coding)) else {
            continue;
        };
        exists = true;
        // Codings are tried in the server's order: a later one must weigh more to win.
        if weight > 0 && best.as_ref().is_none_or(|(w, _, _)| weight > *w) {
            best = Some((weight, coding, rep));
        }
    }
    match best {
        Some((_, coding, rep)) => {
            let response = representation(request, rep, file_path, site);
            let response = if matches!(response.status, 200 | 206) {
                response.with_header("Content-Encoding", coding.token())
            } else {
                response
            };
            Sibling::Chosen(response.with_header("Vary", "Accept-Encoding"))
        }
        None if exists => Sibling::Exists,
        None => Sibling::None,
    }
}

/// `FILE.gz`, `FILE.br` or `FILE.zst` next to `FILE`.
fn sibling(file_path: &Path, coding: Coding) -> PathBuf {
    let mut name = file_path.as_os_str().to_os_string();
    name.push(coding.extension());
    PathBuf::from(name)
}

/// The response for the regular file `file`, typed by the name `type_path`: 304 when the
/// client's copy is current, 206 for a satisfiable range, 416 for another, else 200.
fn representation(request: &Request, file: FileRep, type_path: &Path, site: &Site) -> Response {
    let size = file.size();
    let validators = file.validators();
    if not_modified(request, validators) {
        return Response::new(304, Body::Empty)
            .with_header("ETag", &validators.etag)
            .with_header("Last-Modified", &validators.last_modified);
    }
    let range = match request.header("Range") {
        Some(value) if if_range_holds(request, validators) => parse_range(value, size),
        _ => RangeRequest::Whole,
    };
    let (status, offset, len) = match range {
        RangeRequest::Whole => (200, 0, size),
        RangeRequest::Part { start, end } => (206, start, end - start + 1),
        RangeRequest::Unsatisfiable => {
            return super::error(416, site).with_header("Content-Range", format!("bytes */{size}"));
        }
    };
    let content_type = match configured_type(site.settings, type_path) {
        Some(configured) => Value::Owned(configured),
        None => file.content_type(type_path),
    };
    let (etag, last_modified) = (
        Value::from(&validators.etag),
        Value::from(&validators.last_modified),
    );
    let mut response = Response::new(status, file.body(offset, len));
    // Its fields and those a site or gzip_static may add, without growing the list; pushed
    // in place (the builder would move the response at each field).
    let headers = &mut response.headers;
    headers.reserve_exact(8);
    if status == 206 {
        let end = offset + len - 1;
        let range = format!("bytes {offset}-{end}/{size}");
        headers.push(("Content-Range".into(), range.into()));
    }
    headers.push(("Content-Type".into(), content_type));
    headers.push(("Last-Modified".into(), last_modified));
    headers.push(("ETag".into(), etag));
    headers.push(("Accept-Ranges".into(), Value::Static("bytes")));
    response
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
        Some(value) if value.starts_with('"') => value == &*validators.etag,
        Some(value) => value == &*validators.last_modified,
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
        Err(error) => return failed("opendir()", dir, &error, site),
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
}
