//! Built-in HTML pages: the error pages used when no `error_page` is configured, and the
//! `autoindex` directory listing; plus the reason phrases and the HTML escaping they need.
//!
//! Everything here is a pure string builder. The pages are complete HTML5 documents with inline
//! CSS and no external resource, so they render the same with no network and no other file.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::path;

/// Reason phrase of a status code (`"Not Found"`), from the IANA registry of RFC 9110 and its
/// companions; `"Unknown"` for a code nobody registered (and for 306, which RFC 9110 marks
/// unused). 418 keeps the phrase of RFC 2324 that every client knows.
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "Unknown",
    }
}

/// One sentence for the statuses a visitor is likely to meet.
fn explanation(code: u16) -> Option<&'static str> {
    Some(match code {
        400 => "The server could not understand the request.",
        401 => "This resource requires authentication.",
        403 => "You do not have permission to access this resource.",
        404 => "The requested resource could not be found on this server.",
        405 => "This method is not allowed for the requested resource.",
        408 => "The server timed out waiting for the request.",
        409 => "The request conflicts with the current state of the resource.",
        410 => "The requested resource is no longer available.",
        411 => "This request needs a Content-Length.",
        412 => "A precondition of the request was not met.",
        413 => "The request body is larger than the server allows.",
        414 => "The request URI is longer than the server allows.",
        415 => "The server does not support this media type.",
        416 => "The requested range cannot be satisfied.",
        429 => "Too many requests; please try again later.",
        431 => "The request header fields are larger than the server allows.",
        500 => "The server encountered an internal error.",
        501 => "The server does not support the functionality required by this request.",
        502 => "The server received an invalid response from the upstream program.",
        503 => "The service is temporarily unavailable; please try again later.",
        504 => "The upstream program did not respond in time.",
        505 => "This HTTP version is not supported.",
        _ => return None,
    })
}

const STYLE: &str = "\
:root{color-scheme:light}\
body{margin:0;background:#f7f7f8;color:#1f2328;\
font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,Helvetica,Arial,sans-serif}\
main{max-width:56rem;margin:3rem auto;padding:0 1.5rem}\
h1{font-size:1.6rem;font-weight:600;margin:0 0 1rem}\
p{margin:0 0 1rem;color:#424a53}\
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}\
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid #d0d7de}\
th,td{padding:.4rem .75rem;text-align:left;white-space:nowrap}\
th{font-weight:600;border-bottom:1px solid #d0d7de;background:#f6f8fa}\
tr+tr td{border-top:1px solid #eaeef2}\
td.name{white-space:normal;word-break:break-all;width:100%}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
footer{max-width:56rem;margin:0 auto 2rem;padding:.75rem 1.5rem 0;\
border-top:1px solid #d0d7de;color:#6e7781;font-size:.85rem}";

/// Wraps `body` (already HTML) in the page shell every built-in page shares; `title` is
/// escaped here.
pub fn page(title: &str, body: &str) -> String {
    let title = html_escape(title);
    format!(
        "<!DOCTYPE html>\n\
         <html lang=\"en\">\n\
         <head>\n\
         <meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n\
         <style>{STYLE}</style>\n\
         </head>\n\
         <body>\n\
         <main>\n\
         {body}\
         </main>\n\
         <footer>webserv</footer>\n\
         </body>\n\
         </html>\n"
    )
}

/// A complete small HTML5 page for an error status, titled like `404 Not Found`.
pub fn error_page(code: u16) -> String {
    let title = format!("{code} {}", reason(code));
    let mut body = format!("<h1>{}</h1>\n", html_escape(&title));
    if let Some(sentence) = explanation(code) {
        let _ = writeln!(body, "<p>{sentence}</p>");
    }
    page(&title, &body)
}

/// One directory entry for [`autoindex`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    pub modified: SystemTime,
}

/// Directory listing page for `url_path` (already decoded, e.g. `"/files/a b/"`).
///
/// Directories come first, then files, each group sorted by name in byte order (`entries` is
/// sorted in place). A `../` link comes first unless `url_path` is `/`. Entries named `.` or
/// `..` are skipped; every other entry is listed, so hiding dot files is the caller's choice.
/// Links are relative, percent-encoded with [`path::encode`], with a trailing `/` for
/// directories and a `./` prefix for a name holding `:` so it cannot read as a URL scheme.
pub fn autoindex(url_path: &str, entries: &mut [DirEntry]) -> String {
    entries.sort_by(|a, b| {
        b.is_dir
            .cmp(&a.is_dir)
            .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
    });

    let title = format!("Index of {url_path}");
    let mut body = format!("<h1>{}</h1>\n", html_escape(&title));
    body.push_str(
        "<table>\n<thead><tr><th>Name</th><th>Last modified</th>\
         <th class=\"num\">Size</th></tr></thead>\n<tbody>\n",
    );
    if url_path != "/" {
        body.push_str(
            "<tr><td class=\"name\"><a href=\"../\">../</a></td><td></td>\
             <td class=\"num\">-</td></tr>\n",
        );
    }
    for entry in entries.iter() {
        if entry.name == "." || entry.name == ".." {
            continue;
        }
        let mut href = String::new();
        if entry.name.contains(':') {
            href.push_str("./");
        }
        href.push_str(&path::encode(&entry.name));
        let mut text = html_escape(&entry.name);
        let size = if entry.is_dir {
            href.push('/');
            text.push('/');
            "-".to_owned()
        } else {
            entry.size.to_string()
        };
        let _ = writeln!(
            body,
            "<tr><td class=\"name\"><a href=\"{}\">{text}</a></td><td>{}</td>\
             <td class=\"num\">{size}</td></tr>",
            html_escape(&href),
            format_utc(entry.modified),
        );
    }
    body.push_str("</tbody>\n</table>\n");
    page(&title, &body)
}

/// Escapes `& < > " '` for HTML text and quoted attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM` in UTC. Times before 1970 are valid file times too, hence the signed
/// arithmetic.
fn format_utc(t: SystemTime) -> String {
    let secs: i64 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            // Round towards the past, so 0.5 s before the epoch is 23:59 on 1969-12-31.
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            -whole.saturating_add(i64::from(d.subsec_nanos() > 0))
        }
    };
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are small by construction: 1..=31 and 1..=12.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn file(name: &str, size: u64) -> DirEntry {
        DirEntry {
            name: name.to_owned(),
            is_dir: false,
            size,
            modified: at(1_706_702_400), // 2024-01-31 12:00 UTC
        }
    }

    fn dir(name: &str) -> DirEntry {
        DirEntry {
            is_dir: true,
            ..file(name, 4096)
        }
    }

    /// The hrefs of a listing, in order.
    fn hrefs(html: &str) -> Vec<&str> {
        html.split("<a href=\"")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect()
    }

    #[test]
    fn reasons_cover_the_common_codes() {
        assert_eq!(reason(200), "OK");
        assert_eq!(reason(404), "Not Found");
        assert_eq!(reason(413), "Content Too Large");
        assert_eq!(reason(431), "Request Header Fields Too Large");
        assert_eq!(reason(505), "HTTP Version Not Supported");
        assert_eq!(reason(511), "Network Authentication Required");
    }

    #[test]
    fn unregistered_codes_are_unknown() {
        for code in [0, 99, 199, 306, 499, 512, 600, 999, u16::MAX] {
            assert_eq!(reason(code), "Unknown", "{code}");
        }
    }

    #[test]
    fn every_registered_code_from_100_to_511_and_418_has_a_reason() {
        let registered = (100..=511).filter(|&c| reason(c) != "Unknown").count();
        assert_eq!(registered, 62);
    }

    #[test]
    fn an_error_page_is_a_complete_html5_document() {
        let html = error_page(404);
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("<title>404 Not Found</title>"));
        assert!(html.contains("<h1>404 Not Found</h1>"));
        assert!(html.contains("<p>The requested resource could not be found"));
        assert!(html.contains("<footer>webserv</footer>"));
        assert!(html.contains("<style>"));
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn an_error_page_loads_nothing_from_outside() {
        for code in [400, 404, 500, 599] {
            let html = error_page(code);
            assert!(!html.contains("http://") && !html.contains("https://"));
            assert!(!html.contains("<link") && !html.contains("<script") && !html.contains("src="));
        }
    }

    #[test]
    fn an_uncommon_code_gets_a_page_without_a_sentence() {
        let html = error_page(599);
        assert!(html.contains("<title>599 Unknown</title>"));
        assert!(!html.contains("<p>"));
        assert!(error_page(502).contains("<p>"));
    }

    #[test]
    fn html_escape_escapes_the_five_special_characters() {
        assert_eq!(
            html_escape("<a href=\"x\">Tom & Jerry's</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
        assert_eq!(html_escape("plain €"), "plain €");
        assert_eq!(html_escape("&amp;"), "&amp;amp;");
    }

    #[test]
    fn a_listing_has_its_title_and_heading() {
        let html = autoindex("/files/", &mut []);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>Index of /files/</title>"));
        assert!(html.contains("<h1>Index of /files/</h1>"));
        assert!(html.contains("<footer>webserv</footer>"));
    }

    #[test]
    fn the_parent_link_comes_first_except_at_the_root() {
        let html = autoindex("/files/", &mut [file("a", 1)]);
        assert_eq!(hrefs(&html), ["../", "a"]);
        let html = autoindex("/", &mut [file("a", 1)]);
        assert_eq!(hrefs(&html), ["a"]);
    }

    #[test]
    fn directories_come_first_then_files_each_sorted_by_bytes() {
        let mut entries = [
            file("b.txt", 1),
            dir("zdir"),
            file("B.txt", 2),
            dir("Adir"),
            file("a.txt", 3),
            dir("adir"),
        ];
        let html = autoindex("/", &mut entries);
        assert_eq!(
            hrefs(&html),
            ["Adir/", "adir/", "zdir/", "B.txt", "a.txt", "b.txt"]
        );
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Adir", "adir", "zdir", "B.txt", "a.txt", "b.txt"]);
    }

    #[test]
    fn hostile_names_are_escaped_in_text_and_encoded_in_links() {
        let mut entries = [file("<script>alert(1)</script>", 1), file("a\"b&c'd", 2)];
        let html = autoindex("/", &mut entries);
        assert!(!html.contains("<script>"));
        assert!(html.contains(">&lt;script&gt;alert(1)&lt;/script&gt;</a>"));
        assert!(html.contains("href=\"%3Cscript%3Ealert(1)%3C/script%3E\""));
        assert!(html.contains(">a&quot;b&amp;c&#39;d</a>"));
        assert!(html.contains("href=\"a%22b&amp;c&#39;d\""));
    }

    #[test]
    fn spaces_hashes_question_marks_and_percents_are_encoded_in_links() {
        let mut entries = [file("a b#c?d%e.txt", 1), dir("my dir")];
        let html = autoindex("/", &mut entries);
        assert_eq!(hrefs(&html), ["my%20dir/", "a%20b%23c%3Fd%25e.txt"]);
        assert!(html.contains(">a b#c?d%e.txt</a>"));
        assert!(html.contains(">my dir/</a>"));
    }

    #[test]
    fn a_name_with_a_colon_cannot_be_read_as_a_scheme() {
        let html = autoindex("/", &mut [file("javascript:alert(1)", 1)]);
        assert_eq!(hrefs(&html), ["./javascript:alert(1)"]);
    }

    #[test]
    fn non_ascii_names_are_shown_as_is_and_encoded_in_links() {
        let html = autoindex("/", &mut [file("café €.txt", 1)]);
        assert_eq!(hrefs(&html), ["caf%C3%A9%20%E2%82%AC.txt"]);
        assert!(html.contains(">café €.txt</a>"));
    }

    #[test]
    fn the_url_path_is_escaped_in_the_title() {
        let html = autoindex("/<b>&/", &mut []);
        assert!(html.contains("<title>Index of /&lt;b&gt;&amp;/</title>"));
    }

    #[test]
    fn dot_entries_are_not_listed_twice() {
        let html = autoindex("/x/", &mut [dir("."), dir(".."), file(".hidden", 1)]);
        assert_eq!(hrefs(&html), ["../", ".hidden"]);
    }

    #[test]
    fn sizes_are_bytes_for_files_and_a_dash_for_directories() {
        let html = autoindex("/", &mut [file("f", 123_456_789), dir("d")]);
        assert!(
            html.contains(">f</a></td><td>2024-01-31 12:00</td><td class=\"num\">123456789</td>")
        );
        assert!(html.contains(">d/</a></td><td>2024-01-31 12:00</td><td class=\"num\">-</td>"));
    }

    #[test]
    fn modification_times_are_utc_minutes() {
        assert_eq!(format_utc(at(0)), "1970-01-01 00:00");
        assert_eq!(format_utc(at(59)), "1970-01-01 00:00");
        assert_eq!(format_utc(at(951_782_400)), "2000-02-29 00:00");
        assert_eq!(format_utc(at(1_709_251_199)), "2024-02-29 23:59");
        assert_eq!(format_utc(at(4_102_444_800)), "2100-01-01 00:00");
        assert_eq!(
            format_utc(UNIX_EPOCH - Duration::from_millis(500)),
            "1969-12-31 23:59"
        );
        assert_eq!(
            format_utc(UNIX_EPOCH - Duration::from_secs(86_400 * 365)),
            "1969-01-01 00:00"
        );
    }

    #[test]
    fn the_date_helper_agrees_with_httpdate() {
        for secs in [
            0u64,
            86_399,
            86_400,
            1_000_000_000,
            1_706_702_400,
            2_000_000_000,
        ] {
            let ours = format_utc(at(secs));
            let http = httpdate::fmt_http_date(at(secs)); // "Wed, 31 Jan 2024 12:00:00 GMT"
            let parts: Vec<&str> = http.split(' ').collect();
            let month = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ]
            .iter()
            .position(|m| *m == parts[2])
            .unwrap()
                + 1;
            let expected = format!("{}-{month:02}-{} {}", parts[3], parts[1], &parts[4][..5]);
            assert_eq!(ours, expected);
        }
    }
}
