//! The parameters a request is sent to a FastCGI application with (FCGI_PARAMS): the CGI/1.1
//! environment webserv gives its CGI scripts (RFC 3875 variables, `HTTPS`, `REQUEST_SCHEME`,
//! `HTTP_*` but never `HTTP_PROXY`), with the script found as nginx finds it
//! (`fastcgi_split_path_info`, `fastcgi_index`) and `SCRIPT_FILENAME` mapped through the root
//! or alias; then each `fastcgi_param` line, which replaces a parameter of the same name or
//! adds one (`if_not_empty`: an empty value removes it). Pure: no I/O but `$realpath_root`.

use crate::cgi::Script;
use crate::cgi::env::{self, Endpoint};
use crate::config::FastCgi;
use crate::handler::ConnInfo;
use crate::handler::route::{Captures, Site};
use crate::handler::vars::{Into, Vars};
use crate::http::request::Request;

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

/// The parameters for `request` in `site` (whose `fastcgi` settings apply). `content_length`:
/// the body length the application is told (a chunked body's once spooled), None without one.
pub fn build(
    request: &Request,
    site: &Site,
    conn: &ConnInfo,
    captures: &Captures,
    content_length: Option<u64>,
) -> Vec<(String, String)> {
    let fastcgi = &site.settings.fastcgi;
    let path = split(&request.path, fastcgi);
    let script = Script {
        file: site.file_path(&path.script_name),
        script_name: path.script_name.clone(),
        path_info: path.path_info.clone(),
        interpreter: None,
    };
    let document_root = site.document_root();
    let endpoint = Endpoint {
        peer: conn.peer,
        local: conn.listen,
        server_name: site.server.server_names.first().map(String::as_str),
        document_root: &document_root,
        content_length,
        https: conn.tls,
        client_cert: conn.client_cert,
    };
    let mut params = env::build(request, &script, &endpoint);
    // For a process webserv starts; an application has its own.
    params.retain(|(name, _)| name != "PATH");
    let vars = Vars {
        request,
        site,
        conn,
        captures,
        split: Some((&path.script_name, &path.path_info)),
    };
    for param in &fastcgi.params {
        let value = vars.expand(&param.value, Into::Text);
        params.retain(|(name, _)| *name != param.name);
        if param.if_not_empty && value.is_empty() {
            continue;
        }
        params.push((param.name.clone(), value));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::route::find_location;
    use std::path::Path;

    fn config(body: &str) -> crate::config::Config {
        crate::config::parse_allowing_fastcgi(
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
        };
        let length = match request.framing {
            crate::http::request::Framing::Length(n) => Some(n),
            _ => None,
        };
        build(&request, &routed.site, &conn, &routed.captures, length)
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
    fn https_requests_say_so() {
        let p = params_for(PHP, "GET /i.php HTTP/1.1\r\nHost: h\r\n\r\n", true);
        assert_eq!(get(&p, "HTTPS"), Some("on"));
        assert_eq!(get(&p, "REQUEST_SCHEME"), Some("https"));
        assert_eq!(get(&p, "PATH_INFO"), Some(""));
        assert_eq!(get(&p, "CONTENT_LENGTH"), None);
    }

    #[test]
    fn fastcgi_index_completes_a_directory_and_alias_maps_the_file() {
        let p = params_for(PHP, "GET /app/ HTTP/1.1\r\nHost: h\r\n\r\n", false);
        assert_eq!(get(&p, "SCRIPT_NAME"), Some("/app/index.php"));
        assert_eq!(get(&p, "SCRIPT_FILENAME"), Some("/opt/app/index.php"));
        assert_eq!(get(&p, "DOCUMENT_ROOT"), Some("/opt/app"));
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
