//! Uploads (POST and PUT into an `upload_store`) and DELETE.
//!
//! An [`Upload`] owns one request body on its way to disk. The connection calls
//! [`Upload::start`] when the head is read, [`Upload::write`] with each piece of the (de-chunked)
//! body as it arrives, and [`Upload::finish`] when the body is complete; or it drops the
//! upload when the exchange is aborted (client gone, 413, 400, timeout, a failed write).
//!
//! - Every file is written through to a hidden temporary file in the store as its bytes arrive,
//!   so memory stays bounded whatever the body size (`store`).
//! - Nothing is put under a final name before the whole body has arrived: `finish` renames the
//!   temporaries into place, and dropping an unfinished upload removes them all. A multipart
//!   body is all or nothing: its files appear together, or (on any failure) none does.
//! - Names come from the client only through `names::sanitize`: one component, no dot first.
//! - POST never overwrites: a taken name gets a number (`a.txt` becomes `a-1.txt`). PUT
//!   replaces atomically (201 when it created the file, 204 when it replaced one).
//! - Files are stored flat: only the last segment of the request path names the file, so
//!   `PUT /uploads/a/b.txt` stores `b.txt` (and says so in `Location`).

mod delete;
mod names;
mod reply;
mod store;

pub use delete::delete;

/// Removes the temporaries a process that no longer runs left in `store` (a server killed in
/// the middle of an upload). Those of live processes (this one, or another instance sharing
/// the store) are left alone. Returns how many were removed.
pub fn sweep_abandoned(store: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(store) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(names::temporary_owner) else {
            continue;
        };
        let alive =
            pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

use self::reply::Stored;
use self::store::{Put, Store};
use crate::http::multipart::{self, Event, MultipartError, MultipartParser};
use crate::http::request::{Method, Request};
use crate::http::response::{Body, Response};
use crate::log;
use crate::site::route::Site;
use crate::site::route::select_location;
use crate::site::{file_info, pages};
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Statuses an upload can answer after `start` returned, when the site is no longer at hand:
/// their configured `error_page` files are looked up at `start`.
const LATE_STATUSES: [u16; 5] = [400, 409, 500, 503, 507];

/// A request body on its way to disk. Dropping it unfinished removes every temporary file.
#[derive(Debug)]
pub struct Upload {
    store: Store,
    body: Kind,
    /// The URL path the store is served under, without a trailing slash.
    base_url: String,
    /// Answer in JSON rather than HTML.
    json: bool,
    pages: ErrorPages,
}

#[derive(Debug)]
enum Kind {
    /// A body that is the file itself: a PUT (`replace`), or a POST that is not a form.
    File { temp: Temp, replace: bool },
    /// A `multipart/form-data` POST: each file part is a file.
    Form(Box<Form>),
}

/// A file being written under a temporary name, and the name it is meant to get.
#[derive(Debug)]
struct Temp {
    /// The temporary name in the store.
    name: String,
    /// Open while bytes may still come.
    file: Option<File>,
    size: u64,
    /// The (sanitised) name wanted.
    target: String,
    /// Renamed into place: the temporary name no longer exists.
    claimed: bool,
}

/// A multipart body being taken apart.
#[derive(Debug)]
struct Form {
    parser: MultipartParser,
    /// Input the parser has not consumed yet: a possible delimiter, at most the boundary's
    /// length plus 4 bytes, kept for the next `write`.
    carry: Vec<u8>,
    /// The file part being received, if the current part is a file.
    current: Option<Temp>,
    /// The file parts received whole, in order.
    files: Vec<Temp>,
    /// The close delimiter was seen; anything more is epilogue.
    done: bool,
}

/// Why an upload fails.
#[derive(Debug)]
enum Failure {
    /// The client's fault, or a conflict: this status.
    Status(u16),
    /// The store's fault: the status follows from the error (507 when out of space).
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure::Io(error)
    }
}

impl Upload {
    /// Prepares to store the body of a POST or PUT to a location with `upload_store`.
    /// Err: the response to send instead (the body is then discarded).
    pub fn start(request: &Request, site: &Site) -> Result<Upload, Response> {
        let Some(store_path) = &site.settings.upload_store else {
            log::error(&format!(
                "upload to {} without an upload_store",
                request.path
            ));
            return Err(super::error(500, site));
        };
        let store = Store::open(store_path).map_err(|error| {
            let what = format!("opening the upload_store \"{}\"", store_path.display());
            crate::site::server_failure(&what, &error, site)
        })?;
        let at_location = site.location.is_some_and(|location| location.is_exact());
        let named = if at_location {
            None
        } else {
            names::from_path(site.path_in_location(&request.path))
        };
        let content_type = request.header("Content-Type");

        let body = if request.method == Method::Put {
            // Like nginx's WebDAV module: a PUT needs a file name, and a directory is not one.
            let Some(name) = named else {
                return Err(super::error(409, site));
            };
            if store.is_directory(&name) {
                return Err(super::error(409, site));
            }
            let temp = Temp::create(&store, name).map_err(|f| fail(&store, f, site))?;
            Kind::File {
                temp,
                replace: true,
            }
        } else if let Some(content_type) = content_type.filter(|ct| is_form_data(ct)) {
            let Some(boundary) = multipart::boundary(content_type) else {
                return Err(super::error(400, site));
            };
            Kind::Form(Box::new(Form {
                parser: MultipartParser::new(&boundary),
                carry: Vec::new(),
                current: None,
                files: Vec::new(),
                done: false,
            }))
        } else {
            let name = named.unwrap_or_else(|| generated_name(content_type));
            let temp = Temp::create(&store, name).map_err(|f| fail(&store, f, site))?;
            Kind::File {
                temp,
                replace: false,
            }
        };

        let base_url = match site.location {
            Some(location) if location.is_prefix() => {
                location.path.trim_end_matches('/').to_string()
            }
            _ => String::new(),
        };
        Ok(Upload {
            store,
            body,
            base_url,
            json: reply::wants_json(request.header("Accept")),
            pages: ErrorPages::of(site),
        })
    }

    /// Stores the next body bytes. Err: the response to send instead (the connection closes).
    pub fn write(&mut self, data: &[u8]) -> Result<(), Response> {
        let result = match &mut self.body {
            Kind::File { temp, .. } => temp.write(data),
            Kind::Form(form) => form.write(&self.store, data),
        };
        result.map_err(|failure| self.fail(failure))
    }

    /// The body is complete: put the files in place and describe them.
    pub fn finish(mut self) -> Response {
        match self.place() {
            Ok((status, stored)) => self.success(status, &stored),
            Err(failure) => self.fail(failure),
        }
    }

    /// Renames every temporary into place. Ok: 201 or 204, and the files stored.
    fn place(&mut self) -> Result<(u16, Vec<Stored>), Failure> {
        let store = &self.store;
        let base = self.base_url.as_str();
        match &mut self.body {
            Kind::File { temp, replace } => {
                temp.file = None;
                let (status, name) = if *replace {
                    match store.put(&temp.name, &temp.target)? {
                        Put::Created => (201, temp.target.clone()),
                        Put::Replaced => (204, temp.target.clone()),
                    }
                } else {
                    (201, store.claim_numbered(&temp.name, &temp.target)?)
                };
                temp.claimed = true;
                Ok((status, vec![Stored::new(base, name, temp.size)]))
            }
            Kind::Form(form) => {
                // A truncated form, or one without any file, stores nothing.
                if !form.done || form.files.is_empty() {
                    return Err(Failure::Status(400));
                }
                let mut stored = Vec::with_capacity(form.files.len());
                for temp in &mut form.files {
                    match store.claim_numbered(&temp.name, &temp.target) {
                        Ok(name) => {
                            temp.claimed = true;
                            stored.push(Stored::new(base, name, temp.size));
                        }
                        Err(error) => {
                            // All or nothing: take back what was already put in place.
                            for file in &stored {
                                let _ = store.remove(&file.name);
                            }
                            return Err(Failure::Io(error));
                        }
                    }
                }
                Ok((201, stored))
            }
        }
    }

    /// 201 with `Location` and a page (or JSON) listing the files; 204 for a replacing PUT.
    fn success(&self, status: u16, stored: &[Stored]) -> Response {
        if status == 204 {
            return Response::new(204, Body::Empty);
        }
        let response = if self.json {
            Response::new(status, Body::Bytes(reply::json(stored).into_bytes()))
                .with_header("Content-Type", "application/json")
        } else {
            let status_line = format!("{status} {}", pages::reason(status));
            Response::html(status, reply::html(&status_line, stored))
        };
        match stored.first() {
            Some(first) => response.with_header("Location", first.url.clone()),
            None => response,
        }
    }

    /// The response for a failure; a failure of the store is also logged.
    fn fail(&self, failure: Failure) -> Response {
        let status = status_of(&self.store, failure);
        self.pages.response(status)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let temps: Vec<&Temp> = match &self.body {
            Kind::File { temp, .. } => vec![temp],
            Kind::Form(form) => form.current.iter().chain(&form.files).collect(),
        };
        for temp in temps.into_iter().filter(|temp| !temp.claimed) {
            if let Err(error) = self.store.remove(&temp.name)
                && error.kind() != io::ErrorKind::NotFound
            {
                log::error(&format!(
                    "cannot remove temporary upload \"{}/{}\": {error}",
                    self.store.path().display(),
                    temp.name
                ));
            }
        }
    }
}

impl Temp {
    fn create(store: &Store, target: String) -> Result<Temp, Failure> {
        let (name, file) = store.create_temporary()?;
        Ok(Temp {
            name,
            file: Some(file),
            size: 0,
            target,
            claimed: false,
        })
    }

    fn write(&mut self, data: &[u8]) -> Result<(), Failure> {
        if let Some(file) = &mut self.file {
            file.write_all(data)?;
            self.size += data.len() as u64;
        }
        Ok(())
    }
}

impl Form {
    fn write(&mut self, store: &Store, data: &[u8]) -> Result<(), Failure> {
        if self.done {
            return Ok(());
        }
        if self.carry.is_empty() {
            let used = self.feed(store, data)?;
            self.carry.extend_from_slice(&data[used..]);
        } else {
            // Rare: the last piece ended in what may be a delimiter. The joined input is at
            // most one piece plus the carry.
            let mut input = std::mem::take(&mut self.carry);
            input.extend_from_slice(data);
            let used = self.feed(store, &input)?;
            input.drain(..used);
            self.carry = input;
        }
        Ok(())
    }

    /// Runs the parser over `input`; returns how much of it was consumed.
    fn feed(&mut self, store: &Store, input: &[u8]) -> Result<usize, Failure> {
        let mut pos = 0;
        loop {
            let (used, event) = self
                .parser
                .next(&input[pos..])
                .map_err(|error| Failure::Status(multipart_status(error)))?;
            pos += used;
            match event {
                Event::PartStart {
                    filename,
                    content_type,
                    ..
                } => {
                    self.end_part();
                    // A field, or a file input left empty (`filename=""`): nothing to store.
                    if let Some(filename) = filename.filter(|f| !f.is_empty()) {
                        let target = names::sanitize(&filename)
                            .unwrap_or_else(|| generated_name(content_type.as_deref()));
                        self.current = Some(Temp::create(store, target)?);
                    }
                }
                Event::Data(bytes) => {
                    if let Some(temp) = &mut self.current {
                        temp.write(bytes)?;
                    }
                }
                Event::PartEnd => self.end_part(),
                Event::Done => {
                    self.done = true;
                    return Ok(input.len());
                }
                Event::NeedMore => return Ok(pos),
            }
        }
    }

    /// The current file part is complete.
    fn end_part(&mut self) {
        if let Some(mut temp) = self.current.take() {
            temp.file = None;
            self.files.push(temp);
        }
    }
}

/// Whether a `Content-Type` is `multipart/form-data` (whatever its parameters).
fn is_form_data(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("multipart/form-data"))
}

/// A unique name for a body that came without one.
fn generated_name(content_type: Option<&str>) -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    names::generated(
        seconds,
        std::process::id(),
        store::next_number(),
        content_type,
    )
}

/// A malformed form is the client's 400; so are forms over the parser's bounds.
fn multipart_status(error: MultipartError) -> u16 {
    match error {
        MultipartError::Malformed
        | MultipartError::HeadersTooLarge
        | MultipartError::TooManyParts => 400,
    }
}

/// The status of a failure; failures of the store (5xx) are logged with the store's path.
fn status_of(store: &Store, failure: Failure) -> u16 {
    match failure {
        Failure::Status(status) => status,
        Failure::Io(error) => {
            let status = store::status_of(&error);
            if status >= 500 {
                log::error(&format!(
                    "upload into \"{}\" failed: {error}",
                    store.path().display()
                ));
            }
            status
        }
    }
}

/// The response for a failure in `start`, where the site is at hand.
fn fail(store: &Store, failure: Failure, site: &Site) -> Response {
    match status_of(store, failure) {
        503 => crate::site::unavailable(site),
        status => super::error(status, site),
    }
}

/// The configured error pages of [`LATE_STATUSES`], resolved to files at `start`, so that a
/// failure in `write` or `finish` is answered like any other error of the site.
#[derive(Debug, Default)]
struct ErrorPages(Vec<(u16, PathBuf)>);

impl ErrorPages {
    fn of(site: &Site) -> ErrorPages {
        let pages = LATE_STATUSES
            .iter()
            .filter_map(|&status| {
                let page = site.settings.error_page(status)?;
                if page.named().is_some() {
                    return None;
                }
                let uri = page.target.as_str();
                Some((status, select_location(site.server, uri).file_path(uri)))
            })
            .collect();
        ErrorPages(pages)
    }

    /// The configured page for `status` if it can be read, else the built-in one; a 503 says
    /// when to try again.
    fn response(&self, status: u16) -> Response {
        let response = self.page(status);
        if status == 503 {
            return response.with_header("Retry-After", crate::site::RETRY_AFTER);
        }
        response
    }

    fn page(&self, status: u16) -> Response {
        if let Some((_, path)) = self.0.iter().find(|(s, _)| *s == status)
            && let Ok((file, metadata)) = file_info::open_regular(path)
        {
            let len = metadata.len();
            return Response::new(
                status,
                Body::File {
                    file,
                    offset: 0,
                    len,
                },
            )
            .with_header("Content-Type", file_info::content_type(path));
        }
        Response::html(status, pages::error_page(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Location, Server, Settings};
    use crate::http::request::Framing;
    use std::fs;
    use std::path::Path;

    /// A store directory and a server whose `/up` location stores into it.
    struct Fixture {
        dir: PathBuf,
        server: Server,
    }

    impl Fixture {
        fn new(tag: &str) -> Fixture {
            let dir = std::env::temp_dir().join(format!(
                "webserv-upload-{tag}-{}-{}",
                std::process::id(),
                store::next_number()
            ));
            fs::create_dir_all(dir.join("store")).unwrap();
            let mut settings = Settings::defaults(&dir);
            settings.upload_store = Some(dir.join("store"));
            settings.alias = Some(dir.join("store"));
            settings.alias_prefix = "/up".to_string();
            let server = Server {
                listen: vec!["127.0.0.1:80".parse().unwrap()],
                ssl: Vec::new(),
                proxy_protocol: Vec::new(),
                tls: None,
                acme: None,
                client_auth: None,
                server_names: Vec::new(),
                names: Vec::new(),
                default_server: Vec::new(),
                http2: None,
                settings: Settings::defaults(&dir),
                locations: vec![Location {
                    path: "/up".to_string(),
                    kind: crate::config::LocationKind::Prefix,
                    regex: None,
                    settings,
                    nested: Vec::new(),
                }],
                top_locations: vec![0],
                auto_redirect: false,
            };
            Fixture { dir, server }
        }

        fn site(&self, path: &str) -> Site<'_> {
            select_location(&self.server, path)
        }

        fn store(&self) -> PathBuf {
            self.dir.join("store")
        }

        /// The store's entries, sorted.
        fn names(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(self.store())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        }

        fn clear(&self) {
            for name in self.names() {
                fs::remove_file(self.store().join(name)).unwrap();
            }
        }

        fn read(&self, name: &str) -> Vec<u8> {
            fs::read(self.store().join(name)).unwrap()
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    fn request(method: Method, path: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method,
            target: path.to_string(),
            path: path.to_string(),
            query: None,
            version: crate::http::request::Version::Http11,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            host: None,
            framing: Framing::Chunked,
            keep_alive: true,
            expect_continue: false,
            routed: None,
            variables: None,
        }
    }

    /// Runs a whole upload with the body cut into `pieces`.
    fn upload(fx: &Fixture, request: &Request, pieces: &[&[u8]]) -> Response {
        let site = fx.site(&request.path);
        let mut upload = match Upload::start(request, &site) {
            Ok(upload) => upload,
            Err(response) => return response,
        };
        for piece in pieces {
            if let Err(response) = upload.write(piece) {
                return response;
            }
        }
        upload.finish()
    }

    fn body_text(response: &Response) -> String {
        match &response.body {
            Body::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        }
    }

    const FORM: &str = "multipart/form-data; boundary=XyZ";

    fn form_body() -> Vec<u8> {
        let mut body = b"--XyZ\r\n\
            Content-Disposition: form-data; name=\"title\"\r\n\r\n\
            ignored field\r\n\
            --XyZ\r\n\
            Content-Disposition: form-data; name=\"a\"; filename=\"../../one.bin\"\r\n\
            Content-Type: application/octet-stream\r\n\r\n"
            .to_vec();
        body.extend_from_slice(b"\x00\xff\r\n--XyZx\r\n--Xy\r\na--XyZ--\r\n\r\n");
        body.extend_from_slice(
            b"\r\n--XyZ\r\n\
            Content-Disposition: form-data; name=\"b\"; filename=\"two.txt\"\r\n\r\n\
            hello\r\n\
            --XyZ--\r\n",
        );
        body
    }

    #[test]
    fn a_form_split_at_every_offset_stores_the_same_files() {
        let fx = Fixture::new("split");
        let body = form_body();
        let req = request(Method::Post, "/up", &[("Content-Type", FORM)]);
        for cut in 0..=body.len() {
            let (a, b) = body.split_at(cut);
            let response = upload(&fx, &req, &[a, b]);
            assert_eq!(response.status, 201, "cut at {cut}");
            assert_eq!(response.header("Location"), Some("/up/one.bin"));
            assert_eq!(fx.names(), ["one.bin", "two.txt"], "cut at {cut}");
            assert_eq!(
                fx.read("one.bin"),
                b"\x00\xff\r\n--XyZx\r\n--Xy\r\na--XyZ--\r\n\r\n"
            );
            assert_eq!(fx.read("two.txt"), b"hello");
            fx.clear();
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(upload(&fx, &req, &bytes).status, 201);
        assert_eq!(fx.names(), ["one.bin", "two.txt"]);
    }

    #[test]
    fn an_unfinished_upload_leaves_nothing_when_dropped() {
        let fx = Fixture::new("drop");
        let body = form_body();
        let req = request(Method::Post, "/up", &[("Content-Type", FORM)]);
        for cut in [0, 100, 150, body.len() - 3, body.len()] {
            let site = fx.site("/up");
            let mut upload = Upload::start(&req, &site).unwrap();
            upload.write(&body[..cut]).unwrap();
            drop(upload);
            assert_eq!(fx.names(), Vec::<String>::new(), "cut at {cut}");
        }
        for method in [Method::Put, Method::Post] {
            let req = request(method, "/up/raw.bin", &[]);
            let site = fx.site("/up/raw.bin");
            let mut upload = Upload::start(&req, &site).unwrap();
            upload.write(b"partial").unwrap();
            assert_eq!(fx.names().len(), 1);
            assert!(names::is_temporary(&fx.names()[0]));
            drop(upload);
            assert_eq!(fx.names(), Vec::<String>::new());
        }
    }

    #[test]
    fn a_truncated_or_fileless_or_malformed_form_is_400_and_stores_nothing() {
        let fx = Fixture::new("bad");
        let req = request(Method::Post, "/up", &[("Content-Type", FORM)]);
        let body = form_body();
        assert_eq!(upload(&fx, &req, &[&body[..body.len() - 5]]).status, 400);
        let fields_only = b"--XyZ\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\nv\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n\r\n\r\n--XyZ--";
        assert_eq!(upload(&fx, &req, &[fields_only]).status, 400);
        let malformed = b"--XyZ\r\nno colon here\r\n\r\nv\r\n--XyZ--";
        assert_eq!(upload(&fx, &req, &[malformed]).status, 400);
        let no_boundary = request(
            Method::Post,
            "/up",
            &[("Content-Type", "multipart/form-data")],
        );
        assert_eq!(upload(&fx, &no_boundary, &[&body]).status, 400);
        assert_eq!(fx.names(), Vec::<String>::new());
    }

    #[test]
    fn posts_never_overwrite_and_puts_replace() {
        let fx = Fixture::new("collide");
        let post = request(Method::Post, "/up/a.txt", &[]);
        for _ in 0..3 {
            assert_eq!(upload(&fx, &post, &[b"x"]).status, 201);
        }
        assert_eq!(fx.names(), ["a-1.txt", "a-2.txt", "a.txt"]);
        let response = upload(&fx, &post, &[b"y"]);
        assert_eq!(response.header("Location"), Some("/up/a-3.txt"));

        let put = request(Method::Put, "/up/sub/p.txt", &[]);
        let created = upload(&fx, &put, &[b"one"]);
        assert_eq!(created.status, 201);
        assert_eq!(created.header("Location"), Some("/up/p.txt"));
        assert_eq!(upload(&fx, &put, &[b"two"]).status, 204);
        assert_eq!(fx.read("p.txt"), b"two");
    }

    #[test]
    fn a_put_needs_a_file_name_that_is_not_a_directory() {
        let fx = Fixture::new("put409");
        fs::create_dir(fx.store().join("dir")).unwrap();
        for path in ["/up", "/up/", "/up/x/", "/up/dir"] {
            let put = request(Method::Put, path, &[]);
            assert_eq!(upload(&fx, &put, &[b"x"]).status, 409, "{path}");
        }
        assert_eq!(fx.names(), ["dir"]);
    }

    #[test]
    fn a_post_to_the_location_itself_gets_a_generated_name() {
        let fx = Fixture::new("generated");
        let post = request(Method::Post, "/up", &[("Content-Type", "image/png")]);
        let response = upload(&fx, &post, &[b"png"]);
        assert_eq!(response.status, 201);
        let names = fx.names();
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with("upload-") && names[0].ends_with(".png"));
        assert_eq!(
            response.header("Location").unwrap(),
            format!("/up/{}", names[0])
        );
    }

    #[test]
    fn the_answer_is_json_when_asked() {
        let fx = Fixture::new("json");
        let post = request(
            Method::Post,
            "/up/q\"x.txt",
            &[("Accept", "application/json")],
        );
        let response = upload(&fx, &post, &[b"abc"]);
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        assert_eq!(
            body_text(&response),
            "{\"files\":[{\"name\":\"q_x.txt\",\"url\":\"/up/q_x.txt\",\"size\":3}]}\n"
        );
        let html = upload(&fx, &request(Method::Post, "/up/h.txt", &[]), &[b"ab"]);
        assert!(body_text(&html).contains("<a href=\"/up/h.txt\">h.txt</a>"));
    }

    #[test]
    fn a_missing_store_is_500() {
        let fx = Fixture::new("missing");
        fs::remove_dir(fx.store()).unwrap();
        let post = request(Method::Post, "/up/a", &[]);
        assert_eq!(upload(&fx, &post, &[b"x"]).status, 500);
        assert!(!Path::new(&fx.store()).exists());
    }
}
