//! The parameters a request is sent to a FastCGI application with (FCGI_PARAMS): the CGI/1.1
//! environment webserv gives its CGI scripts (RFC 3875 variables, `HTTPS`, `REQUEST_SCHEME`,
//! `HTTP_*` but never `HTTP_PROXY`), with the script found as nginx finds it
//! (`fastcgi_split_path_info`, `fastcgi_index`) and `SCRIPT_FILENAME` mapped through the root
//! or alias; then each `fastcgi_param` line, which replaces a parameter of the same name or
//! adds one (`if_not_empty`: an empty value removes it). Pure: no I/O but `$realpath_root`.

use super::ConnInfo;
use super::vars::{Into, Vars};
use crate::cgi::Script;
use crate::cgi::env::{self, Endpoint};
use crate::cgi_vars::Var;
use crate::config::FastCgi;
use crate::fastcgi::record::{self, Connection, ParamsWriter};
use crate::fastcgi::upstream::{Job, REQUEST_ID};
use crate::http::request::Request;
use crate::site::route::{Captures, Site};

/// The request path split into the script and what follows it (nginx's
/// `$fastcgi_script_name` and `$fastcgi_path_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptPath {
    pub script_name: String,
    pub path_info: String,
}

/// `uri` split by `fastcgi_split_path_info` (the whole path, and no path info, when it does not
/// match or is not set), with `fastcgi_index` added to a script name ending in `/`.
pub fn split(uri: &str, fastcgi: &FastCgi) -> ScriptPath {
    let (script_name, path_info) = match &fastcgi.split_path_info {
        Some(regex) => match regex.captures(uri) {
            Some(groups) => (
                groups.get(1).map_or("", |m| m.as_str()),
                groups.get(2).map_or("", |m| m.as_str()),
            ),
            None => (uri, ""),
        },
        None => (uri, ""),
    };
    let mut script_name = script_name.to_string();
    if script_name.ends_with('/')
        && let Some(index) = &fastcgi.index
    {
        script_name.push_str(index);
    }
    ScriptPath {
        script_name,
        path_info: path_info.to_string(),
    }
}

/// How the body's length is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// No body, or one of this length (CONTENT_LENGTH).
    Known(Option<u64>),
    /// A chunked body, spooled first: CONTENT_LENGTH is added once known
    /// ([`Job::set_content_length`]).
    Later,
}

/// The records that open the request for `request` in `site` (whose `fastcgi` settings
/// apply): BEGIN_REQUEST and the PARAMS stream, written straight into records as each
/// parameter is found (the CGI environment less what `fastcgi_param` lines set, then those).
pub fn encode(
    request: &Request,
    site: &Site,
    conn: &ConnInfo,
    captures: &Captures,
    length: BodyLength,
) -> Job {
    let fastcgi = &site.settings.fastcgi;
    let path = split(&request.path, fastcgi);
    let script = Script {
        file: site.file_path(&path.script_name),
        script_name: path.script_name,
        path_info: path.path_info,
        interpreter: None,
    };
    let document_root = site.document_root();
    let later = length == BodyLength::Later;
    let endpoint = Endpoint {
        peer: conn.peer,
        local: conn.listen,
        server_name: site.server.server_names.first().map(String::as_str),
        document_root,
        content_length: match length {
            BodyLength::Known(n) => n,
            BodyLength::Later => None,
        },
        https: conn.tls,
        client_cert: conn.client_cert,
    };
    let mut records = Vec::with_capacity(1024 + 64 * request.headers.len());
    record::begin_request(&mut records, REQUEST_ID, Connection::KeepOpen);
    let mut writer = ParamsWriter::new(&mut records, REQUEST_ID);
    // What the location's `fastcgi_param` lines replace; PATH, which is for a process webserv
    // starts (an application has its own); PATH_INFO and PATH_TRANSLATED without a path info
    // (nginx sends what `fastcgi_param PATH_INFO` says and nothing otherwise; frameworks test
    // isset()).
    let mut skip = fastcgi.replaced.with(Var::Path);
    if script.path_info.is_empty() {
        skip = skip.with(Var::PathInfo).with(Var::PathTranslated);
    }
    let configured = |name: &str| fastcgi.params.iter().any(|p| p.name == name);
    let server_name = site.server.server_names.first();
    env::each(request, &script, &endpoint, skip, &mut |name, value| {
        // A request field's HTTP_* variable that a `fastcgi_param` replaces.
        if skip.fields() && name.starts_with("HTTP_") && configured(name) {
            return;
        }
        // nginx's `fastcgi_param SERVER_NAME $server_name`: the server's own name when it has
        // one (the request's host otherwise, as for CGI).
        let value = match (name, server_name) {
            ("SERVER_NAME", Some(own)) => own.as_str(),
            _ => value,
        };
        writer.pair(name.as_bytes(), value.as_bytes());
    });
    let vars = Vars {
        request,
        site,
        conn,
        captures,
        split: Some((&script.script_name, &script.path_info)),
    };
    let mut value = String::new();
    for param in &fastcgi.params {
        if later && param.name == "CONTENT_LENGTH" {
            continue;
        }
        value.clear();
        vars.expand_into(&param.value, Into::Text, &mut value);
        if param.if_not_empty && value.is_empty() {
            continue;
        }
        writer.pair(param.name.as_bytes(), value.as_bytes());
    }
    writer.close();
    let length_at = later.then_some(records.len());
    ParamsWriter::new(&mut records, REQUEST_ID).end_stream();
    Job { records, length_at }
}

/// The parameters of `job`, decoded (for the tests, and for whoever wants to see them).
pub fn decode(job: &Job) -> Vec<(String, String)> {
    let mut decoder = RecordsIn::new(&job.records);
    let mut pairs = Vec::new();
    while let Some((kind, content)) = decoder.next() {
        if kind == record::kind::PARAMS {
            for (name, value) in record::decode_pairs(content).unwrap_or_default() {
                pairs.push((
                    String::from_utf8_lossy(&name).into_owned(),
                    String::from_utf8_lossy(&value).into_owned(),
                ));
            }
        }
    }
    pairs
}

/// Whole records written by this side, one after the other: (type, content).
struct RecordsIn<'a>(&'a [u8]);

impl<'a> RecordsIn<'a> {
    fn new(bytes: &'a [u8]) -> RecordsIn<'a> {
        RecordsIn(bytes)
    }

    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let h = self.0.get(..record::HEADER_LEN)?;
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        let end = record::HEADER_LEN + len;
        let content = self.0.get(record::HEADER_LEN..end)?;
        let kind = h[1];
        self.0 = self.0.get(end + usize::from(h[6])..).unwrap_or(&[]);
        Some((kind, content))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::route::find_location;
    use std::path::Path;

    fn config(body: &str) -> crate::config::Config {
        crate::config::parse(
            &format!("server {{ listen 80; server_name site.test; root /srv/www; {body} }}"),
            Path::new("/etc/webserv/site.conf"),
        )
        .unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    fn params_for(body: &str, text: &str, tls: bool) -> Vec<(String, String)> {
        let config = config(body);
        let mut bytes = text.as_bytes().to_vec();
        let request = crate::http::request::parse(&mut bytes).unwrap().unwrap().0;
        let routed = find_location(&config.servers[0], &request.path);
        let conn = ConnInfo {
            listen: "127.0.0.1:8080".parse().unwrap(),
            peer: "10.0.0.9:40000".parse().unwrap(),
            tls,
            local: &|| None,
            client_cert: None,
            metrics: crate::observe::metrics::Registry::detached(),
        };
        let length = match request.framing {
            crate::http::request::Framing::Length(n) => BodyLength::Known(Some(n)),
            crate::http::request::Framing::Chunked | crate::http::request::Framing::UntilEnd => {
                BodyLength::Later
            }
            _ => BodyLength::Known(None),
        };
        let mut job = encode(&request, &routed.site, &conn, &routed.captures, length);
        if length == BodyLength::Later {
            job.set_content_length(7);
        }
        decode(&job)
    }

    fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
        let mut found = params.iter().filter(|(n, _)| n == name);
        let first = found.next().map(|(_, v)| v.as_str());
        assert!(found.next().is_none(), "{name} twice");
        first
    }

    const PHP: &str = r#"location ~ [^/]\.php(/|$) {
        fastcgi_split_path_info ^(.+?\.php)(/.*)$;
        fastcgi_pass 127.0.0.1:9000;
        fastcgi_index index.php;
        fastcgi_param PATH_INFO $fastcgi_path_info;
        fastcgi_param HTTPS $https if_not_empty;
        fastcgi_param APP_ENV production;
    }
    location /app/ { alias /opt/app/; fastcgi_pass 127.0.0.1:9000; fastcgi_index index.php; }"#;

    #[test]
    fn the_script_and_its_path_info_are_split_as_nginx_does() {
        let p = params_for(
            PHP,
            "POST /blog/index.php/2024/post?x=1 HTTP/1.1\r\nHost: site.test\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\
             Proxy: http://evil\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
            false,
        );
        assert_eq!(get(&p, "SCRIPT_NAME"), Some("/blog/index.php"));
        assert_eq!(get(&p, "SCRIPT_FILENAME"), Some("/srv/www/blog/index.php"));
        assert_eq!(get(&p, "PATH_INFO"), Some("/2024/post"));
        assert_eq!(get(&p, "PATH_TRANSLATED"), Some("/srv/www/2024/post"));
        assert_eq!(get(&p, "QUERY_STRING"), Some("x=1"));
        assert_eq!(
            get(&p, "REQUEST_URI"),
            Some("/blog/index.php/2024/post?x=1")
        );
        assert_eq!(get(&p, "REQUEST_METHOD"), Some("POST"));
        assert_eq!(get(&p, "CONTENT_LENGTH"), Some("3"));
        assert_eq!(
            get(&p, "CONTENT_TYPE"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(get(&p, "DOCUMENT_ROOT"), Some("/srv/www"));
        assert_eq!(get(&p, "REMOTE_ADDR"), Some("10.0.0.9"));
        assert_eq!(get(&p, "SERVER_PORT"), Some("8080"));
        assert_eq!(
            get(&p, "SERVER_NAME"),
            Some("site.test"),
            "the server's name"
        );
        assert_eq!(get(&p, "REQUEST_SCHEME"), Some("http"));
        assert_eq!(get(&p, "GATEWAY_INTERFACE"), Some("CGI/1.1"));
        assert_eq!(get(&p, "REDIRECT_STATUS"), Some("200"));
        assert_eq!(get(&p, "HTTP_X_FORWARDED_FOR"), Some("1.2.3.4"));
        assert_eq!(get(&p, "APP_ENV"), Some("production"));
        // httpoxy, an empty `if_not_empty` value, and the spawn-only PATH are not sent.
        assert_eq!(get(&p, "HTTP_PROXY"), None);
        assert_eq!(get(&p, "HTTPS"), None);
        assert_eq!(get(&p, "PATH"), None);
    }

    #[test]
    fn a_fastcgi_param_replaces_the_variable_of_its_name_and_only_that_one() {
        let p = params_for(
            "location ~ \\.php$ { fastcgi_pass 127.0.0.1:9000;
                 fastcgi_param REMOTE_ADDR 192.0.2.7;
                 fastcgi_param QUERY_STRING $query_string;
                 fastcgi_param HTTP_X_FORWARDED_FOR trusted;
                 fastcgi_param PATH /opt/bin; }",
            "GET /i.php?q=1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\n\
             X-Other: o\r\n\r\n",
            false,
        );
        // `get` also checks that each name comes once.
        assert_eq!(get(&p, "REMOTE_ADDR"), Some("192.0.2.7"));
        assert_eq!(get(&p, "QUERY_STRING"), Some("q=1"));
        assert_eq!(get(&p, "HTTP_X_FORWARDED_FOR"), Some("trusted"));
        assert_eq!(get(&p, "PATH"), Some("/opt/bin"), "the location's own");
        assert_eq!(get(&p, "REMOTE_PORT"), Some("40000"), "not replaced");
        assert_eq!(get(&p, "HTTP_X_OTHER"), Some("o"));
        assert_eq!(get(&p, "SCRIPT_NAME"), Some("/i.php"));
    }

    #[test]
    fn https_requests_say_so() {
        let p = params_for(PHP, "GET /i.php HTTP/1.1\r\nHost: h\r\n\r\n", true);
        assert_eq!(get(&p, "HTTPS"), Some("on"));
        assert_eq!(get(&p, "REQUEST_SCHEME"), Some("https"));
        // Set by the location's `fastcgi_param PATH_INFO $fastcgi_path_info`, even empty.
        assert_eq!(get(&p, "PATH_INFO"), Some(""));
        assert_eq!(get(&p, "CONTENT_LENGTH"), None);
    }

    #[test]
    fn fastcgi_index_completes_a_directory_and_alias_maps_the_file() {
        let p = params_for(PHP, "GET /app/ HTTP/1.1\r\nHost: h\r\n\r\n", false);
        assert_eq!(get(&p, "SCRIPT_NAME"), Some("/app/index.php"));
        assert_eq!(get(&p, "SCRIPT_FILENAME"), Some("/opt/app/index.php"));
        assert_eq!(get(&p, "DOCUMENT_ROOT"), Some("/opt/app"));
        // No path info, and no `fastcgi_param PATH_INFO`: not sent (nginx sends nothing).
        assert_eq!(get(&p, "PATH_INFO"), None);
        assert_eq!(get(&p, "PATH_TRANSLATED"), None);
    }

    #[test]
    fn split_leaves_a_path_it_does_not_match_whole() {
        let config = config(PHP);
        let fastcgi = &config.servers[0].locations[0].settings.fastcgi;
        let cases = [
            ("/a.php", "/a.php", ""),
            ("/a.php/b/c.php/d", "/a.php", "/b/c.php/d"),
            ("/x/", "/x/index.php", ""),
            ("/uploads/cat.jpg/x.php", "/uploads/cat.jpg/x.php", ""),
            ("/none", "/none", ""),
        ];
        for (uri, name, info) in cases {
            let got = split(uri, fastcgi);
            assert_eq!(
                (got.script_name.as_str(), got.path_info.as_str()),
                (name, info),
                "{uri}"
            );
        }
        let bare = FastCgi::default();
        assert_eq!(split("/a.php/b", &bare).script_name, "/a.php/b");
    }

    #[test]
    fn params_with_groups_of_the_location_expression() {
        let p = params_for(
            "location ~ ^/(?<app>[a-z]+)/run$ { fastcgi_pass unix:/x.sock;
                 fastcgi_param SCRIPT_FILENAME /opt/$app/main.php;
                 fastcgi_param APP $1; }",
            "GET /shop/run HTTP/1.1\r\nHost: h\r\n\r\n",
            false,
        );
        assert_eq!(get(&p, "SCRIPT_FILENAME"), Some("/opt/shop/main.php"));
        assert_eq!(get(&p, "APP"), Some("shop"));
    }
}
