//! Finding the script a request names: the first path segment whose name has a `cgi`
//! extension of the location and maps to a regular file. What follows it is PATH_INFO. An
//! `alias` naming a script (`location = /app { alias app.py; cgi .py; }`) runs it for the
//! location's own path, rather than sending its source. (Routing decides this; `cgi` runs the
//! [`Script`] found.)

use crate::cgi::Script;
use crate::config::CgiHandler;
use crate::site::route::Site;
use std::fs;
use std::path::PathBuf;

/// The script for `path` in `site`, if a segment of it has a CGI extension.
///
/// Ok(None): not a CGI request. Err(status): it names a script that is missing (404) or that
/// cannot be read (403).
pub fn locate(path: &str, site: &Site) -> Result<Option<Script>, u16> {
    if site.settings.cgi.is_empty() {
        return Ok(None);
    }
    if let (Some(alias), Some(location)) = (&site.settings.alias, site.location)
        && path == location.path
        && let Some(handler) = alias
            .file_name()
            .and_then(|name| site.settings.cgi_for(&name.to_string_lossy()))
        && fs::metadata(alias).is_ok_and(|m| m.is_file())
    {
        if !readable(alias) {
            return Err(403);
        }
        return Ok(Some(script(alias.clone(), path, "", handler)));
    }
    let mut end = 0;
    while end < path.len() {
        let next = path[end + 1..]
            .find('/')
            .map_or(path.len(), |i| end + 1 + i);
        let segment = &path[end + 1..next];
        end = next;
        let Some(handler) = site.settings.cgi_for(segment) else {
            continue;
        };
        let script_name = &path[..end];
        let file = site.file_path(script_name);
        match fs::metadata(&file) {
            Ok(metadata) if metadata.is_file() => {
                if !readable(&file) {
                    return Err(403);
                }
                return Ok(Some(script(file, script_name, &path[end..], handler)));
            }
            // A directory named like a script: keep looking further down.
            Ok(_) => continue,
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => return Err(403),
            Err(_) => return Err(404),
        }
    }
    Ok(None)
}

/// The script serving a directory (`url_path` ends with `/`): its first index file that
/// exists, when that file has a CGI extension (`index index.php;`). None when the first index
/// file is an ordinary file, or there is none.
pub fn for_index(url_path: &str, site: &Site) -> Option<Script> {
    if site.settings.cgi.is_empty() || !url_path.ends_with('/') {
        return None;
    }
    let dir = site.file_path(url_path);
    let name = site
        .settings
        .index
        .iter()
        .find(|name| fs::metadata(dir.join(name)).is_ok_and(|m| m.is_file()))?;
    let handler = site.settings.cgi_for(name)?;
    let file = dir.join(name);
    if !readable(&file) {
        return None;
    }
    Some(script(file, &format!("{url_path}{name}"), "", handler))
}

fn script(file: PathBuf, script_name: &str, path_info: &str, handler: &CgiHandler) -> Script {
    Script {
        file,
        script_name: script_name.to_string(),
        path_info: path_info.to_string(),
        interpreter: handler.interpreter.clone(),
    }
}

fn readable(file: &std::path::Path) -> bool {
    rustix::fs::access(file, rustix::fs::Access::READ_OK).is_ok()
}
