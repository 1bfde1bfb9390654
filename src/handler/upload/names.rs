//! File names of uploads, all pure: what a client-supplied name becomes on disk
//! ([`sanitize`]), the numbered alternatives tried on a collision ([`numbered`]), the
//! temporary and generated names, and the name a request path gives ([`from_path`]).
//!
//! Every name made here is a single path component: never empty, never `.` or `..`, no `/`, no
//! NUL, no leading dot (so no hidden file and no clash with the temporaries), at most
//! [`MAX_NAME`] bytes. That is what lets the store open them relative to its directory
//! without any further check.

/// Longest stored name, in bytes. The file system allows 255; the rest leaves room for a
/// collision number and keeps URLs and pages readable.
pub const MAX_NAME: usize = 200;

/// Longest extension kept whole when a name is shortened (`.tar.gz` style tails included).
const MAX_EXTENSION: usize = 16;

/// Turns a file name a client sent (a multipart `filename`, the last segment of a request path)
/// into a safe single component, or `None` when nothing usable is left.
///
/// - Only the last component counts: clients send `C:\Users\me\a.txt` or `../../etc/passwd`,
///   so both `/` and `\` separate components.
/// - Control characters (C0, DEL, C1), the Unicode bidirectional and zero-width format
///   characters (a name could otherwise display as something it is not), and the characters
///   Windows refuses in names (`" * : < > ? |`) each become `_`.
/// - Leading dots and spaces go (no hidden files, no `..`); so do trailing dots and spaces; a
///   run of dots inside the name becomes one dot, so no `..` is left anywhere.
/// - The result is cut to [`MAX_NAME`] bytes at a character boundary, keeping a short extension.
pub fn sanitize(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name = String::with_capacity(last.len());
    for c in last.chars() {
        let c = if is_refused(c) { '_' } else { c };
        if c == '.' && name.ends_with('.') {
            continue;
        }
        name.push(c);
    }
    let name = name
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ']);
    if name.is_empty() {
        return None;
    }
    Some(shorten(name, MAX_NAME))
}

/// Characters replaced by `_` in stored names.
fn is_refused(c: char) -> bool {
    c.is_control()
        || matches!(c, '"' | '*' | ':' | '<' | '>' | '?' | '|')
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

/// `name` cut to at most `max` bytes on a character boundary, keeping its extension when that
/// is short.
fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, extension) = split_extension(name);
    let mut end = max - extension.len();
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    let stem = stem[..end].trim_end_matches(['.', ' ']);
    format!("{stem}{extension}")
}

/// Splits `a.txt` into (`a`, `.txt`). A name without a dot after its first character, or
/// whose "extension" is longer than [`MAX_EXTENSION`], is all stem.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXTENSION => name.split_at(dot),
        _ => (name, ""),
    }
}

/// The `n`th alternative to a taken name: `a.txt` gives `a-1.txt`, `a-2.txt`...; `README`
/// gives `README-1`. The result stays within [`MAX_NAME`] bytes.
pub fn numbered(name: &str, n: u32) -> String {
    let suffix = format!("-{n}");
    let (stem, extension) = split_extension(name);
    let room = MAX_NAME.saturating_sub(suffix.len() + extension.len());
    let mut end = stem.len().min(room);
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}{extension}", &stem[..end])
}

/// The name of a temporary file: hidden (leading dot, which [`sanitize`] never produces, so it
/// cannot collide with a stored name), unique through the process id, a per-process counter and
/// the time.
pub fn temporary(pid: u32, counter: u64, nanos: u128) -> String {
    format!(".upload-{pid}-{counter}-{nanos}.part")
}

/// Whether `name` is one of our temporary names.
pub fn is_temporary(name: &str) -> bool {
    name.starts_with(".upload-") && name.ends_with(".part")
}

/// The process that wrote a temporary name, if `name` is one.
pub fn temporary_owner(name: &str) -> Option<u32> {
    if !is_temporary(name) {
        return None;
    }
    name[".upload-".len()..].split('-').next()?.parse().ok()
}

/// A name for a body that came without one: `upload-<seconds>-<pid>-<counter>`, with the
/// extension of its media type when one is known.
pub fn generated(seconds: u64, pid: u32, counter: u64, content_type: Option<&str>) -> String {
    let extension = content_type
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .and_then(mime_guess::get_mime_extensions_str)
        .and_then(|extensions| extensions.first())
        .filter(|ext| ext.bytes().all(|b| b.is_ascii_alphanumeric()));
    match extension {
        Some(ext) => format!("upload-{seconds}-{pid}-{counter}.{ext}"),
        None => format!("upload-{seconds}-{pid}-{counter}"),
    }
}

/// The file name a request path asks for: its last segment, or `None` when the path ends with
/// `/` or has no segment (`rest` is the path after the location prefix). Sanitised like any
/// client name.
pub fn from_path(rest: &str) -> Option<String> {
    if rest.is_empty() || rest.ends_with('/') {
        return None;
    }
    sanitize(rest.rsplit('/').next().unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(raw: &str) -> Option<String> {
        sanitize(raw)
    }

    #[test]
    fn a_temporary_name_tells_its_writer() {
        assert_eq!(temporary_owner(&temporary(4242, 7, 99)), Some(4242));
        assert_eq!(temporary_owner("a.txt"), None);
        assert_eq!(temporary_owner(".upload-x-1-2.part"), None);
    }

    #[test]
    fn only_the_last_component_is_kept() {
        assert_eq!(clean("a.txt").as_deref(), Some("a.txt"));
        assert_eq!(clean("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(clean("/etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(
            clean(r"C:\Users\me\report.pdf").as_deref(),
            Some("report.pdf")
        );
        assert_eq!(clean(r"..\..\boot.ini").as_deref(), Some("boot.ini"));
        assert_eq!(clean("dir/").as_deref(), None);
    }

    #[test]
    fn dots_cannot_make_hidden_files_or_parent_references() {
        for raw in [
            "", ".", "..", "...", "/", "../", "..\\..", " . ", "a/..", "a/.",
        ] {
            assert_eq!(clean(raw), None, "{raw:?}");
        }
        assert_eq!(clean(".htaccess").as_deref(), Some("htaccess"));
        assert_eq!(clean("..bashrc").as_deref(), Some("bashrc"));
        assert_eq!(clean("a..b").as_deref(), Some("a.b"));
        assert_eq!(clean("a....tar..gz").as_deref(), Some("a.tar.gz"));
        assert_eq!(clean("name. . ").as_deref(), Some("name"));
        assert_eq!(
            clean("  spaced name.txt ").as_deref(),
            Some("spaced name.txt")
        );
    }

    #[test]
    fn control_and_odd_characters_become_underscores() {
        assert_eq!(clean("a\nb\r\t.txt").as_deref(), Some("a_b__.txt"));
        assert_eq!(clean("x\u{7f}\u{85}y").as_deref(), Some("x__y"));
        assert_eq!(
            clean("what?*<is>|\"this\":").as_deref(),
            Some("what___is___this__")
        );
        assert_eq!(
            clean("invoice\u{202E}fdp.exe").as_deref(),
            Some("invoice_fdp.exe")
        );
        assert_eq!(clean("\u{200B}").as_deref(), Some("_"));
        assert_eq!(clean("café €.txt").as_deref(), Some("café €.txt"));
        assert_eq!(
            clean("100% [draft] #2 & co.md").as_deref(),
            Some("100% [draft] #2 & co.md")
        );
    }

    #[test]
    fn every_sanitised_name_is_one_safe_component() {
        let nasty = [
            "../x",
            "x/../../y",
            "\0",
            "a\0b",
            ".\u{0}.",
            "....//....//x",
            "\\\\server\\share\\f",
            "~/.ssh/id_rsa",
            "..\u{2024}",
            &"é".repeat(300),
            &format!("{}.txt", "n".repeat(400)),
        ];
        for raw in nasty {
            if let Some(name) = clean(raw) {
                assert!(!name.is_empty());
                assert!(!name.starts_with('.'), "{name:?}");
                assert!(!name.contains('/') && !name.contains('\\') && !name.contains('\0'));
                assert!(!name.contains(".."), "{name:?}");
                assert!(name.len() <= MAX_NAME, "{} bytes", name.len());
                assert!(!is_temporary(&name));
            }
        }
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary_keeping_the_extension() {
        let long = format!("{}.txt", "a".repeat(300));
        let name = clean(&long).unwrap();
        assert_eq!(name.len(), MAX_NAME);
        assert!(name.ends_with("a.txt"));

        let wide = format!("{}.png", "é".repeat(150));
        let name = clean(&wide).unwrap();
        assert!(name.len() <= MAX_NAME);
        assert!(name.ends_with("é.png"));

        let long_extension = format!("a.{}", "x".repeat(300));
        let name = clean(&long_extension).unwrap();
        assert_eq!(name.len(), MAX_NAME);
        assert!(name.starts_with("a.xxx"));
    }

    #[test]
    fn collisions_get_numbers_before_the_extension() {
        assert_eq!(numbered("a.txt", 1), "a-1.txt");
        assert_eq!(numbered("a.txt", 12), "a-12.txt");
        assert_eq!(numbered("README", 2), "README-2");
        assert_eq!(numbered("archive.tar.gz", 1), "archive.tar-1.gz");
        let long = "b".repeat(MAX_NAME - 4) + ".txt";
        let name = numbered(&long, 1000);
        assert_eq!(name.len(), MAX_NAME);
        assert!(name.ends_with("b-1000.txt"));
        let wide = "é".repeat(MAX_NAME / 2);
        assert!(numbered(&wide, 7).len() <= MAX_NAME);
        assert!(numbered(&wide, 7).ends_with("-7"));
    }

    #[test]
    fn temporary_names_are_hidden_and_recognised() {
        let name = temporary(42, 7, 123_456_789);
        assert_eq!(name, ".upload-42-7-123456789.part");
        assert!(is_temporary(&name));
        assert!(sanitize(&name).is_some_and(|n| !is_temporary(&n)));
    }

    #[test]
    fn generated_names_take_the_extension_of_the_media_type() {
        assert_eq!(generated(10, 2, 3, None), "upload-10-2-3");
        assert_eq!(generated(10, 2, 3, Some("image/png")), "upload-10-2-3.png");
        assert_eq!(
            generated(10, 2, 3, Some("text/plain; charset=utf-8"))
                .split('.')
                .count(),
            2
        );
        assert_eq!(
            generated(10, 2, 3, Some("application/x-unknown-thing")),
            "upload-10-2-3"
        );
        assert_eq!(generated(10, 2, 3, Some("")), "upload-10-2-3");
    }

    #[test]
    fn the_request_path_names_the_file_by_its_last_segment() {
        assert_eq!(from_path("/a.txt").as_deref(), Some("a.txt"));
        assert_eq!(from_path("/sub/dir/b.txt").as_deref(), Some("b.txt"));
        assert_eq!(from_path("a.txt").as_deref(), Some("a.txt"));
        assert_eq!(from_path("/.hidden").as_deref(), Some("hidden"));
        assert_eq!(from_path(""), None);
        assert_eq!(from_path("/"), None);
        assert_eq!(from_path("/sub/"), None);
    }
}
