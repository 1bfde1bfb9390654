//! Property tests of the configuration lexer and parser: any text, tokens pointing at their
//! own text, and errors (and warnings) pointing inside the text in `PATH:LINE:COL: message`
//! form.

use super::lexer::{TokenKind, tokenize};
use proptest::collection::vec;
use proptest::prelude::*;
use std::path::Path;

/// Text made mostly of the language's pieces, so that the parser gets past the lexer.
fn config_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("server"),
        Just("location"),
        Just("listen"),
        Just("127.0.0.1:0"),
        Just("root"),
        Just("alias"),
        Just("upload_store"),
        Just("autoindex"),
        Just("on"),
        Just("cgi"),
        Just(".py"),
        Just("allow_methods"),
        Just("GET"),
        Just("DELETE"),
        Just("client_max_body_size"),
        Just("10m"),
        Just("error_page"),
        Just("404"),
        Just("/x"),
        Just("/"),
        Just("x"),
        Just("="),
        Just("{"),
        Just("}"),
        Just(";"),
        Just(" "),
        Just("\n"),
        Just("\t"),
        Just("#c\n"),
        Just("\"q \\\" ;{\""),
        Just("\""),
        Just("'q \\' ;{'"),
        Just("'"),
        Just("é"),
        Just("http"),
        Just("events"),
        Just("include"),
        Just("*.conf"),
        Just("types"),
        Just("text/html"),
        Just("rewrite"),
        Just("^/(.*)$"),
        Just("/$1"),
        Just("last"),
        Just("set"),
        Just("$v"),
        Just("server_name"),
        Just("*.example.com"),
        Just("~^(?<n>a)"),
        Just("default_server"),
        Just("sendfile"),
        Just("internal"),
        Just("return"),
        Just("444"),
    ];
    vec(token, 0..60).prop_map(|t| t.concat())
}

/// Whether 1-based `line`:`col` is a place in `text` (at most one past a line's last character).
fn within(text: &str, line: usize, col: usize) -> bool {
    let lines: Vec<&str> = text.split('\n').collect();
    line >= 1 && line <= lines.len() && col >= 1 && col <= lines[line - 1].chars().count() + 1
}

/// The text from `line`:`col` on.
fn at(text: &str, line: usize, col: usize) -> String {
    let row = text.split('\n').nth(line - 1).unwrap_or("");
    row.chars().skip(col - 1).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_token_starts_where_its_position_says(
        text in prop_oneof![any::<String>(), config_like()],
    ) {
        let Ok(tokens) = tokenize(&text) else { return Ok(()) };
        for token in &tokens.tokens {
            let (line, col) = (token.pos.line, token.pos.col);
            prop_assert!(within(&text, line, col), "{:?} outside", token);
            let here = at(&text, line, col);
            match &token.kind {
                TokenKind::Semicolon => prop_assert!(here.starts_with(';'), "{:?}", here),
                TokenKind::OpenBrace => prop_assert!(here.starts_with('{'), "{:?}", here),
                TokenKind::CloseBrace => prop_assert!(here.starts_with('}'), "{:?}", here),
                TokenKind::Word(word) => {
                    prop_assert!(here.starts_with(['"', '\'']) || here.starts_with(word.as_str()), "{:?} at {:?}", word, here)
                }
            }
        }
        prop_assert!(within(&text, tokens.eof.line, tokens.eof.col));
    }

    #[test]
    fn every_error_points_inside_the_text_and_prints_path_line_col_message(
        text in prop_oneof![any::<String>(), config_like()],
    ) {
        let path = Path::new("/etc/webserv/site.conf");
        match super::parse(&text, path) {
            Err(e) => {
                prop_assert!(within(&text, e.line, e.col), "{} outside the text", e);
                prop_assert!(!e.message.is_empty());
                let prefix = format!("/etc/webserv/site.conf:{}:{}: ", e.line, e.col);
                prop_assert!(e.to_string().starts_with(&prefix), "{}", e);
            }
            Ok(config) => {
                prop_assert!(!config.servers.is_empty());
                prop_assert!(config.servers.iter().all(|s| !s.listen.is_empty()));
                for w in &config.warnings {
                    prop_assert!(within(&text, w.line, w.col), "{} outside the text", w);
                    let prefix = format!("/etc/webserv/site.conf:{}:{}: warning: ", w.line, w.col);
                    prop_assert!(w.to_string().starts_with(&prefix), "{}", w);
                }
            }
        }
    }
}

/// One block's worth of the settings the lint looks at, written as directives.
fn lint_block() -> impl Strategy<Value = String> {
    let path =
        || prop::sample::select(vec!["/", "/srv/www", "/srv/www/up", "/srv/up", "rel/../up"]);
    (
        proptest::option::of(path()),
        proptest::option::of(path()),
        proptest::option::of(path()),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(root, alias, store, cgi, autoindex, delete)| {
            let mut out = String::new();
            if let Some(p) = root {
                out.push_str(&format!(" root {p};"));
            }
            if let Some(p) = alias {
                out.push_str(&format!(" alias {p};"));
            }
            if let Some(p) = store {
                out.push_str(&format!("\n upload_store {p};"));
            }
            if cgi {
                out.push_str(" cgi .py;");
            }
            if autoindex {
                out.push_str("\n  autoindex on;");
            }
            if delete {
                out.push_str(" allow_methods GET DELETE;");
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_warning_points_at_the_directive_it_is_about(
        server in lint_block(),
        locations in vec(lint_block(), 0..4),
    ) {
        let mut text = format!("server {{\n listen 80;{}", server.replace(" alias", " #"));
        for (i, body) in locations.iter().enumerate() {
            text.push_str(&format!("\n location /l{i} {{{body} }}"));
        }
        text.push_str("\n}\n");
        let Ok(config) = super::parse(&text, Path::new("/etc/webserv/site.conf")) else {
            return Ok(());
        };
        let mut seen = Vec::new();
        for w in &config.warnings {
            let here = at(&text, w.line, w.col);
            let directive = here.split([' ', ';']).next().unwrap_or("");
            // Each message starts with the directive's name (or its setting) or says it.
            let expected = if w.message.starts_with("uploads stored")
                || w.message.starts_with("upload_store")
            {
                "upload_store"
            } else if w.message.starts_with("autoindex") {
                "autoindex"
            } else if w.message.starts_with("\"root /\"") || w.message.starts_with("root ") {
                "root"
            } else if w.message.starts_with("no index file") {
                directive
            } else {
                "alias"
            };
            prop_assert_eq!(directive, expected, "{} in\n{}", w, text);
            prop_assert!(!seen.contains(&(w.line, w.col, &w.message)), "{} twice", w);
            seen.push((w.line, w.col, &w.message));
        }
    }
}
