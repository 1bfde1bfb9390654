//! `types { TYPE EXTENSION ...; ... }` and `default_type TYPE;`: the Content-Type of a file by
//! its extension, as nginx writes them (nginx's `mime.types` is included as it is).
//!
//! A block's `types` replaces what it inherits (nginx's rule). Extensions are compared ignoring
//! case. Without any `types` block webserv's built-in table is used, which knows far more than
//! nginx's built-in three (`html`, `gif`, `jpg`); `default_type` then types only the names that
//! table does not know.

use super::directive::{Directive, Word, fail};
use super::lexer::Error;
use std::collections::HashMap;

type Result<T> = std::result::Result<T, Error>;

/// The extension → type table of one `types` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Types {
    /// Lower-case extension (without its dot) to type.
    by_extension: HashMap<String, String>,
}

impl Types {
    /// The type of a (lower- or mixed-case) extension, if the table has it.
    pub fn get(&self, extension: &str) -> Option<&str> {
        if extension.bytes().any(|b| b.is_ascii_uppercase()) {
            return self
                .by_extension
                .get(&extension.to_ascii_lowercase())
                .map(String::as_str);
        }
        self.by_extension.get(extension).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.by_extension.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_extension.is_empty()
    }
}

/// Reads a `types { }` block; a type given for an extension a line above replaces it (as in
/// nginx, which warns: `warnings` gets the place and message).
pub(super) fn parse(
    d: &Directive,
    warnings: &mut Vec<(super::lexer::Pos, String)>,
) -> Result<Types> {
    let mut types = Types::default();
    for line in d.block.as_deref().unwrap_or_default() {
        if line.block.is_some() {
            return fail(
                line.name.pos,
                format!(
                    "unexpected \"{{\" after \"{}\" in \"types\": each line is TYPE \
                     EXTENSION ...;",
                    line.name.text
                ),
            );
        }
        let media_type = media_type(&line.name, "types")?;
        for ext in &line.args {
            if ext.text.is_empty()
                || ext
                    .text
                    .chars()
                    .any(|c| c == '/' || c.is_whitespace() || c.is_control())
            {
                return fail(
                    ext.pos,
                    format!("invalid extension \"{}\" in \"types\"", ext.text),
                );
            }
            let key = ext.text.trim_start_matches('.').to_ascii_lowercase();
            if let Some(previous) = types.by_extension.insert(key, media_type.clone())
                && previous != media_type
            {
                warnings.push((
                    ext.pos,
                    format!(
                        "duplicate extension \"{}\", content type: \"{media_type}\", previous \
                         content type: \"{previous}\"",
                        ext.text
                    ),
                ));
            }
        }
    }
    Ok(types)
}

/// A media type as `types` and `default_type` take it: `TYPE/SUBTYPE`, both tokens
/// (RFC 9110), optionally followed by parameters (`; charset=utf-8`), without control
/// characters.
pub(super) fn media_type(w: &Word, directive: &str) -> Result<String> {
    let text = w.text.as_str();
    let essence = text.split(';').next().unwrap_or("").trim_end();
    let valid = match essence.split_once('/') {
        Some((kind, sub)) => {
            !kind.is_empty()
                && !sub.is_empty()
                && kind.bytes().all(crate::http::is_tchar)
                && sub.bytes().all(crate::http::is_tchar)
        }
        None => false,
    };
    if !valid || text.chars().any(|c| c.is_control()) {
        return fail(
            w.pos,
            format!("invalid type \"{text}\" in \"{directive}\", it must be TYPE/SUBTYPE"),
        );
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn parse(text: &str) -> Result<crate::config::Config, String> {
        crate::config::parse(text, Path::new("/etc/webserv/t.conf")).map_err(|e| e.to_string())
    }

    #[test]
    fn types_map_extensions_ignoring_case_and_blocks_replace_what_they_inherit() {
        let c = parse(
            "types { text/html html htm; image/png png; \"text/plain; charset=latin1\" txt; }\n\
             default_type application/octet-stream;\n\
             server { listen 80; location /a { types { text/x-a a; } } location /b { } }",
        )
        .unwrap();
        let s = &c.servers[0].settings;
        let types = s.types.as_deref().unwrap();
        assert_eq!(types.get("html"), Some("text/html"));
        assert_eq!(types.get("HTM"), Some("text/html"));
        assert_eq!(types.get("txt"), Some("text/plain; charset=latin1"));
        assert_eq!(types.get("gif"), None);
        assert_eq!(s.default_type.as_deref(), Some("application/octet-stream"));
        let a = c.servers[0].locations[0].settings.types.as_deref().unwrap();
        assert_eq!((a.get("a"), a.get("html")), (Some("text/x-a"), None));
        let b = c.servers[0].locations[1].settings.types.as_deref().unwrap();
        assert_eq!(b.get("png"), Some("image/png"));
    }

    #[test]
    fn a_types_block_with_garbage_is_an_error_at_the_garbage() {
        let cases = [
            (
                "types { texthtml html; }",
                "1:9: invalid type \"texthtml\" in \"types\", it must be TYPE/SUBTYPE",
            ),
            (
                "types { text/ html; }",
                "1:9: invalid type \"text/\" in \"types\", it must be TYPE/SUBTYPE",
            ),
            (
                "types { \"te xt/html\" html; }",
                "1:9: invalid type \"te xt/html\" in \"types\", it must be TYPE/SUBTYPE",
            ),
            (
                "types { text/html a/b; }",
                "1:19: invalid extension \"a/b\" in \"types\"",
            ),
            (
                "types { text/html { } }",
                "1:9: unexpected \"{\" after \"text/html\" in \"types\": each line is TYPE \
                 EXTENSION ...;",
            ),
            (
                "types { } types { }",
                "1:11: \"types\" directive is duplicate",
            ),
            ("types;", "1:6: directive \"types\" has no opening \"{\""),
            (
                "default_type nothing;",
                "1:14: invalid type \"nothing\" in \"default_type\", it must be TYPE/SUBTYPE",
            ),
        ];
        for (text, expected) in cases {
            let e = parse(&format!("{text}\nserver {{ listen 80; }}")).err();
            assert_eq!(
                e.as_deref(),
                Some(format!("/etc/webserv/t.conf:{expected}").as_str()),
                "{text}"
            );
        }
    }

    #[test]
    fn an_extension_given_twice_is_a_warning_and_the_later_type_wins() {
        let c = parse("types { text/a x; text/b x; text/b x; }\nserver { listen 80; }").unwrap();
        assert_eq!(
            c.servers[0].settings.types.as_deref().unwrap().get("x"),
            Some("text/b")
        );
        let warnings: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            warnings,
            [
                "/etc/webserv/t.conf:1:26: warning: duplicate extension \"x\", content type: \
              \"text/b\", previous content type: \"text/a\""
            ]
        );
    }
}
