//! Uploads (POST and PUT into an `upload_store`) and DELETE. (Stub: being written.)

use super::route::Site;
use crate::http::request::Request;
use crate::http::response::Response;

/// A request body on its way to disk. Dropping it unfinished removes every temporary file.
#[derive(Debug)]
pub struct Upload {}

impl Upload {
    /// Prepares to store the body of a POST or PUT to a location with `upload_store`.
    /// Err: the response to send instead (the body is then discarded).
    pub fn start(request: &Request, site: &Site) -> Result<Upload, Response> {
        let _ = request;
        Err(super::error(501, site))
    }

    /// Stores the next body bytes. Err: the response to send instead (the connection closes).
    pub fn write(&mut self, data: &[u8]) -> Result<(), Response> {
        let _ = data;
        Ok(())
    }

    /// The body is complete: put the files in place and describe them.
    pub fn finish(self) -> Response {
        Response::new(201, crate::http::response::Body::Empty)
    }
}

/// DELETE of a file.
pub fn delete(request: &Request, site: &Site) -> Response {
    let _ = request;
    super::error(501, site)
}
