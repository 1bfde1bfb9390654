//! The body of a successful upload response, all pure: a complete HTML page linking each stored
//! file, or JSON (`{"files":[{"name":..,"url":..,"size":..}]}`) for a client whose `Accept`
//! asks for `application/json`.

use crate::http::path;
use crate::site::pages::{self, html_escape};
use std::fmt::Write as _;

/// One file put in place by an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The name in the store.
    pub name: String,
    /// Its URL path (percent-encoded), also sent as `Location`.
    pub url: String,
    pub size: u64,
}

impl Stored {
    /// `base` is the URL path the store is served under, without a trailing slash.
    pub fn new(base: &str, name: String, size: u64) -> Stored {
        let url = format!("{base}/{}", path::encode(&name));
        Stored { name, url, size }
    }
}

/// Whether an `Accept` value lists `application/json` (or `application/*`) with a non-zero
/// quality. Browsers send `text/html,...,*/*;q=0.8`, which stays HTML.
pub fn wants_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    accept.split(',').any(|element| {
        let mut params = element.split(';');
        let media = params.next().unwrap_or("").trim();
        let json = media.eq_ignore_ascii_case("application/json")
            || media.eq_ignore_ascii_case("application/*");
        let refused = params.any(|param| {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            name.trim().eq_ignore_ascii_case("q")
                && value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
        });
        json && !refused
    })
}

/// `{"files":[{"name":"a.txt","url":"/uploads/a.txt","size":3}]}` and a newline.
pub fn json(files: &[Stored]) -> String {
    let mut out = String::from("{\"files\":[");
    for (i, file) in files.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"name\":{},\"url\":{},\"size\":{}}}",
            json_string(&file.name),
            json_string(&file.url),
            file.size
        );
    }
    out.push_str("]}\n");
    out
}

/// A JSON string literal (RFC 8259): quotes, backslashes and control characters escaped; other
/// characters as they are (the output is UTF-8).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            // Kept out so the JSON can be embedded in a <script> or JS source as is.
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A complete HTML page: a heading, then one link per stored file with its size.
pub fn html(status_line: &str, files: &[Stored]) -> String {
    let mut items = String::new();
    for file in files {
        let _ = writeln!(
            items,
            "<li><a href=\"{}\">{}</a> <span>{}</span></li>",
            html_escape(&file.url),
            html_escape(&file.name),
            size_text(file.size)
        );
    }
    let heading = match files.len() {
        1 => "1 file stored".to_string(),
        n => format!("{n} files stored"),
    };
    let body = format!(
        "<h1>{title}</h1>\n<p>{heading}:</p>\n<ul>\n{items}</ul>\n",
        title = html_escape(status_line),
    );
    pages::page(status_line, &body)
}

/// `123 bytes`, `1 byte`.
fn size_text(size: u64) -> String {
    if size == 1 {
        "1 byte".to_string()
    } else {
        format!("{size} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_the_base_and_the_encoded_name() {
        let file = Stored::new("/uploads", "a b?#%.txt".to_string(), 3);
        assert_eq!(file.url, "/uploads/a%20b%3F%23%25.txt");
        assert_eq!(Stored::new("", "x".into(), 0).url, "/x");
        assert_eq!(Stored::new("/u", "café".into(), 0).url, "/u/caf%C3%A9");
    }

    #[test]
    fn accept_picks_json_only_when_asked() {
        assert!(wants_json(Some("application/json")));
        assert!(wants_json(Some("text/html;q=0.9, Application/JSON")));
        assert!(wants_json(Some("application/json; q=0.5")));
        assert!(wants_json(Some("application/*")));
        assert!(!wants_json(None));
        assert!(!wants_json(Some("")));
        assert!(!wants_json(Some("*/*")));
        assert!(!wants_json(Some(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!wants_json(Some("application/json;q=0")));
        assert!(!wants_json(Some("application/json;q=0.000")));
        assert!(!wants_json(Some("application/jsonx")));
    }

    #[test]
    fn json_escapes_what_it_must() {
        assert_eq!(json_string("plain"), "\"plain\"");
        assert_eq!(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(
            json_string("\n\r\t\u{1}\u{7f}"),
            "\"\\n\\r\\t\\u0001\\u007f\""
        );
        assert_eq!(json_string("café\u{2028}"), "\"café\\u2028\"");
        let files = [
            Stored::new("/up", "a\"b.txt".into(), 3),
            Stored::new("/up", "c".into(), 0),
        ];
        assert_eq!(
            json(&files),
            "{\"files\":[{\"name\":\"a\\\"b.txt\",\"url\":\"/up/a%22b.txt\",\"size\":3},\
             {\"name\":\"c\",\"url\":\"/up/c\",\"size\":0}]}\n"
        );
        assert_eq!(json(&[]), "{\"files\":[]}\n");
    }

    #[test]
    fn the_page_is_complete_and_escapes_names() {
        let files = [
            Stored::new("/up", "<script>'&\".txt".into(), 1),
            Stored::new("/up", "b.bin".into(), 1024),
        ];
        let page = html("201 Created", &files);
        assert!(page.starts_with("<!DOCTYPE html>\n<html"));
        assert!(page.ends_with("</html>\n"));
        assert!(page.contains("<title>201 Created</title>"));
        assert!(page.contains("2 files stored"));
        assert!(page.contains(
            "<a href=\"/up/%3Cscript%3E&#39;&amp;%22.txt\">&lt;script&gt;&#39;&amp;&quot;.txt</a> <span>1 byte</span>"
        ));
        assert!(page.contains("<a href=\"/up/b.bin\">b.bin</a> <span>1024 bytes</span>"));
        assert!(!page.contains("<script>"));
        assert!(html("201 Created", &files[..1]).contains("1 file stored"));
    }
}
