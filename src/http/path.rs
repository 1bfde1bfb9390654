//! Request paths: splitting the request-target, percent-decoding and normalising the path, and
//! percent-encoding a path back for a URL.
//!
//! [`normalize`] is the single gate between what a client sends and what the handlers map onto
//! the file system: its result is an absolute path made only of real segments (no `.`, no `..`,
//! no empty segment), so joining it to a root can never leave that root. `%2F` decodes to `/` and
//! then separates segments, as in nginx; this is what makes `/a/..%2f..%2fetc/passwd` harmless.
//! Backslash is an ordinary byte on Linux and is left alone.

/// Why a request path is refused; each one is a 400 (the caller decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (origin-form is required here).
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadPercentEncoding,
    /// A NUL byte, raw or as `%00`: no file name can hold one, and C APIs would cut at it.
    NulByte,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
    /// A `..` segment would climb above `/`.
    EscapesRoot,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "request path is not absolute",
            PathError::BadPercentEncoding => "invalid percent-encoding in request path",
            PathError::NulByte => "NUL byte in request path",
            PathError::NotUtf8 => "request path is not UTF-8",
            PathError::EscapesRoot => "request path climbs above the root",
        })
    }
}

impl std::error::Error for PathError {}

/// Takes the raw request-target path (without query), e.g. `b"/a/%2e%2e/b//c/"`. Percent-decodes
/// it (`%2F` decodes to `/` and is then treated as a separator, like nginx), rejects NUL (also
/// `%00`), invalid `%XX` and a non-UTF-8 result; resolves `.` and `..` segments (`..` above `/`
/// is [`PathError::EscapesRoot`]); collapses repeated slashes; keeps a trailing slash if the
/// input had one. A path ending in a `.` or `..` segment names a directory, so its result ends
/// with `/` too.
///
/// Errors are reported in the order the bytes are read, then UTF-8, then `..` resolution.
pub fn normalize(raw: &[u8]) -> Result<String, PathError> {
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let byte = if b == b'%' {
            let hi = raw.get(i + 1).copied().and_then(super::hex_value);
            let lo = raw.get(i + 2).copied().and_then(super::hex_value);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError::BadPercentEncoding);
            };
            i += 3;
            (hi << 4) | lo
        } else {
            i += 1;
            b
        };
        if byte == 0 {
            return Err(PathError::NulByte);
        }
        decoded.push(byte);
    }
    let decoded = String::from_utf8(decoded).map_err(|_| PathError::NotUtf8)?;
    resolve(&decoded)
}

/// Normalises an already decoded path (an internal redirect's target, built by the
/// configuration from decoded parts): `.` and `..` segments resolved, repeated slashes
/// collapsed, a trailing slash kept, as [`normalize`] does after decoding. A NUL byte, a path
/// not starting with `/`, or a `..` above `/` is refused.
pub fn resolve(decoded: &str) -> Result<String, PathError> {
    if !decoded.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if decoded.contains('\0') {
        return Err(PathError::NulByte);
    }
    let mut segments: Vec<&str> = Vec::new();
    // Whether the last segment read ends in a directory: "", "." or "..".
    let mut ends_as_dir = false;
    for segment in decoded.split('/').skip(1) {
        ends_as_dir = true;
        match segment {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::EscapesRoot);
                }
            }
            name => {
                segments.push(name);
                ends_as_dir = false;
            }
        }
    }

    let mut out = String::with_capacity(decoded.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || ends_as_dir {
        out.push('/');
    }
    Ok(out)
}

/// Splits an origin-form target into (path, query) at the first `?`. A fragment (`#...`, which
/// clients should not send) is dropped, from the path or from the query.
pub fn split_target(target: &[u8]) -> (&[u8], Option<&[u8]>) {
    // One pass to the first '?' or '#' (targets are short: a plain loop is quicker than
    // memchr's start-up).
    match target.iter().position(|&b| b == b'?' || b == b'#') {
        None => (target, None),
        Some(hash) if target[hash] == b'#' => (&target[..hash], None),
        Some(q) => {
            let rest = &target[q + 1..];
            let query = match rest.iter().position(|&b| b == b'#') {
                Some(hash) => &rest[..hash],
                None => rest,
            };
            (&target[..q], Some(query))
        }
    }
}

/// Percent-encodes a path for use in a URL or a `Location` header. Kept as they are: `/`, the
/// unreserved characters, the sub-delims and `:` `@` (all of RFC 3986 `pchar`). Everything else
/// is encoded as `%XX` (uppercase): space, `"`, `<`, `>`, `#`, `?`, `%`, `[`, `]`, `\`, `^`, `` ` ``,
/// `{`, `|`, `}`, controls and every byte of a non-ASCII character.
///
/// A relative reference whose first segment holds `:` would read as a scheme; callers building
/// relative links must prefix such names with `./`.
pub fn encode(path: &str) -> String {
    let mut out = Vec::with_capacity(path.len());
    percent_encode_into(&mut out, path.as_bytes(), |b| !is_path_safe(b));
    ascii_text(out)
}

/// Appends `bytes` to `out` with each byte that `escape` picks written as `%XX` (uppercase
/// hex): the one percent-encoder of paths, `Location` values and the fields sent on to a
/// backend.
#[inline]
pub fn percent_encode_into(out: &mut Vec<u8>, bytes: &[u8], escape: impl Fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if escape(b) {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
}

/// The text of an encoder's output that escaped every non-ASCII byte (so it is ASCII).
pub fn ascii_text(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn is_path_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        normalize(raw.as_bytes()).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
    }

    fn err(raw: &[u8]) -> PathError {
        match normalize(raw) {
            Ok(p) => panic!("{raw:?} normalised to {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_root_stays_the_root() {
        assert_eq!(ok("/"), "/");
        assert_eq!(ok("//"), "/");
        assert_eq!(ok("/./"), "/");
        assert_eq!(ok("/."), "/");
        assert_eq!(ok("/a/.."), "/");
        assert_eq!(ok("/a/../"), "/");
    }

    #[test]
    fn plain_paths_are_unchanged() {
        assert_eq!(ok("/index.html"), "/index.html");
        assert_eq!(ok("/a/b/c.txt"), "/a/b/c.txt");
        assert_eq!(ok("/a/b/"), "/a/b/");
    }

    #[test]
    fn repeated_slashes_are_collapsed() {
        assert_eq!(ok("//a///b//c"), "/a/b/c");
        assert_eq!(ok("/a/%2e%2e/b//c/"), "/b/c/");
    }

    #[test]
    fn dot_segments_are_resolved() {
        assert_eq!(ok("/a/./b"), "/a/b");
        assert_eq!(ok("/a/b/../c"), "/a/c");
        assert_eq!(ok("/a/b/../../c"), "/c");
        assert_eq!(ok("/a/b/.."), "/a/");
        assert_eq!(ok("/a/b/."), "/a/b/");
    }

    #[test]
    fn names_that_merely_contain_dots_are_kept() {
        assert_eq!(ok("/.hidden"), "/.hidden");
        assert_eq!(ok("/..."), "/...");
        assert_eq!(ok("/a..b/..c/d.."), "/a..b/..c/d..");
    }

    #[test]
    fn climbing_above_the_root_is_refused() {
        assert_eq!(err(b"/.."), PathError::EscapesRoot);
        assert_eq!(err(b"/../"), PathError::EscapesRoot);
        assert_eq!(err(b"/../etc/passwd"), PathError::EscapesRoot);
        assert_eq!(err(b"/a/../.."), PathError::EscapesRoot);
        assert_eq!(err(b"/%2e%2e/"), PathError::EscapesRoot);
        assert_eq!(err(b"/%2e%2E/etc"), PathError::EscapesRoot);
        assert_eq!(err(b"/.%2e"), PathError::EscapesRoot);
        assert_eq!(err(b"/a/..%2f..%2fetc/passwd"), PathError::EscapesRoot);
        assert_eq!(err(b"/a%2f..%2f..%2F..%2Fetc"), PathError::EscapesRoot);
    }

    #[test]
    fn encoded_dot_segments_are_resolved_like_plain_ones() {
        assert_eq!(ok("/a/b/%2e%2e/c"), "/a/c");
        assert_eq!(ok("/a/%2E/b"), "/a/b");
        assert_eq!(ok("/a/b/..%2fc"), "/a/c");
    }

    #[test]
    fn encoded_slashes_separate_segments() {
        assert_eq!(ok("/a%2fb"), "/a/b");
        assert_eq!(ok("/a%2Fb%2F"), "/a/b/");
        assert_eq!(ok("/%2f%2f"), "/");
    }

    #[test]
    fn a_trailing_slash_is_kept() {
        assert_eq!(ok("/dir/"), "/dir/");
        assert_eq!(ok("/dir//"), "/dir/");
        assert_eq!(ok("/dir"), "/dir");
    }

    #[test]
    fn percent_decoding_gives_utf8_names() {
        assert_eq!(ok("/%e2%82%ac"), "/€");
        assert_eq!(ok("/a%20b"), "/a b");
        assert_eq!(ok("/%41%7a"), "/Az");
        assert_eq!(ok("/caf\u{e9}"), "/caf\u{e9}");
    }

    #[test]
    fn a_backslash_is_an_ordinary_character() {
        assert_eq!(ok("/a\\..\\b"), "/a\\..\\b");
        assert_eq!(ok("/%5c.."), "/\\..");
        assert_eq!(ok("/..\\"), "/..\\");
    }

    #[test]
    fn nul_bytes_are_refused() {
        assert_eq!(err(b"/a%00b"), PathError::NulByte);
        assert_eq!(err(b"/a\0b"), PathError::NulByte);
        assert_eq!(err(b"/%00"), PathError::NulByte);
    }

    #[test]
    fn invalid_percent_encoding_is_refused() {
        for raw in [&b"/%zz"[..], b"/%", b"/%4", b"/a%g0", b"/%%41", b"/%-1"] {
            assert_eq!(err(raw), PathError::BadPercentEncoding, "{raw:?}");
        }
    }

    #[test]
    fn resolve_normalises_a_decoded_path_without_decoding_it() {
        assert_eq!(resolve("/a/./b/../c%41//d/").as_deref(), Ok("/a/c%41/d/"));
        assert_eq!(resolve("/index.php").as_deref(), Ok("/index.php"));
        assert_eq!(resolve("/a/..").as_deref(), Ok("/"));
        assert_eq!(resolve("/../x"), Err(PathError::EscapesRoot));
        assert_eq!(resolve("x"), Err(PathError::NotAbsolute));
        assert_eq!(resolve("/a\0b"), Err(PathError::NulByte));
    }

    #[test]
    fn non_utf8_results_are_refused() {
        assert_eq!(err(b"/%ff"), PathError::NotUtf8);
        assert_eq!(err(b"/%e2%82"), PathError::NotUtf8);
        assert_eq!(err(b"/\xc3"), PathError::NotUtf8);
        assert_eq!(err(b"/%c0%af"), PathError::NotUtf8);
    }

    #[test]
    fn relative_and_empty_paths_are_refused() {
        assert_eq!(err(b""), PathError::NotAbsolute);
        assert_eq!(err(b"a/b"), PathError::NotAbsolute);
        assert_eq!(err(b"%2fa"), PathError::NotAbsolute);
        assert_eq!(err(b"*"), PathError::NotAbsolute);
        assert_eq!(err(b"http://host/"), PathError::NotAbsolute);
    }

    #[test]
    fn the_first_bad_byte_decides_the_error() {
        assert_eq!(err(b"/%00/%zz"), PathError::NulByte);
        assert_eq!(err(b"/%zz/%00"), PathError::BadPercentEncoding);
        assert_eq!(err(b"/../%ff"), PathError::NotUtf8);
    }

    #[test]
    fn normalised_paths_are_stable() {
        for raw in [
            "/",
            "/a/b/",
            "/a%2fb/../c",
            "/x/./y/..",
            "/%e2%82%ac/",
            "/a b",
        ] {
            let once = ok(raw);
            assert_eq!(ok(&once), once, "{raw:?}");
        }
    }

    #[test]
    fn the_target_is_split_at_the_first_question_mark() {
        assert_eq!(split_target(b"/a/b"), (&b"/a/b"[..], None));
        assert_eq!(split_target(b"/a?x=1"), (&b"/a"[..], Some(&b"x=1"[..])));
        assert_eq!(
            split_target(b"/a?x=1?y=2"),
            (&b"/a"[..], Some(&b"x=1?y=2"[..]))
        );
        assert_eq!(split_target(b"/a?"), (&b"/a"[..], Some(&b""[..])));
        assert_eq!(split_target(b"?q"), (&b""[..], Some(&b"q"[..])));
    }

    #[test]
    fn a_fragment_is_dropped() {
        assert_eq!(split_target(b"/a#frag"), (&b"/a"[..], None));
        assert_eq!(
            split_target(b"/a?x=1#frag"),
            (&b"/a"[..], Some(&b"x=1"[..]))
        );
        assert_eq!(split_target(b"/a#frag?x=1"), (&b"/a"[..], None));
        assert_eq!(split_target(b"/%23?a"), (&b"/%23"[..], Some(&b"a"[..])));
    }

    #[test]
    fn encode_leaves_safe_characters_alone() {
        let safe = "/AZaz09-._~!$&'()*+,;=:@/";
        assert_eq!(encode(safe), safe);
        assert_eq!(encode(""), "");
    }

    #[test]
    fn encode_escapes_what_a_url_path_cannot_hold() {
        assert_eq!(encode("/a b"), "/a%20b");
        assert_eq!(encode("/a#b?c%d"), "/a%23b%3Fc%25d");
        assert_eq!(encode("/\"<>"), "/%22%3C%3E");
        assert_eq!(encode("/[]\\^`{|}"), "/%5B%5D%5C%5E%60%7B%7C%7D");
        assert_eq!(encode("/\t\r\n\u{7f}"), "/%09%0D%0A%7F");
        assert_eq!(encode("/€"), "/%E2%82%AC");
    }

    #[test]
    fn encode_then_normalize_gives_the_path_back() {
        for path in ["/a b/c#d?e%f/", "/€/x", "/\"<>\\", "/a%2Fb", "/\u{1}"] {
            assert_eq!(ok(&encode(path)), path, "{path:?}");
        }
    }

    /// Property tests: any bytes, and paths built from random segments against a model.
    mod props {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;
        use std::path::{Component, Path};

        /// The promises of a normalised path, and that joining it to a root stays inside.
        fn check_normal(normal: &str) -> std::result::Result<(), TestCaseError> {
            prop_assert!(normal.starts_with('/'), "{:?}", normal);
            prop_assert!(
                !normal.contains("//") && !normal.contains('\0'),
                "{:?}",
                normal
            );
            for segment in normal.split('/').skip(1) {
                prop_assert!(segment != "." && segment != "..", "{:?}", normal);
            }
            let root = Path::new("/srv/root");
            let joined = root.join(normal.trim_start_matches('/'));
            let inside = joined
                .strip_prefix(root)
                .map(|rest| rest.components().all(|c| matches!(c, Component::Normal(_))));
            prop_assert_eq!(inside, Ok(true), "{:?}", joined);
            Ok(())
        }

        /// One segment of a raw path: plain names, dot segments (also encoded), encoded
        /// slashes, and bytes that need encoding.
        fn segment() -> impl Strategy<Value = String> {
            prop_oneof![
                "[A-Za-z0-9._~-]{1,6}",
                Just(String::new()),
                Just(".".to_string()),
                Just("..".to_string()),
                Just("%2e%2E".to_string()),
                Just("%2e".to_string()),
                Just(".%2e".to_string()),
                Just("a%2Fb".to_string()),
                Just("%2f..".to_string()),
                Just("%C3%A9".to_string()),
                Just("x%20y".to_string()),
                Just("\\..".to_string()),
            ]
        }

        /// Percent-decodes (the inputs here hold only valid escapes).
        fn decode(raw: &str) -> String {
            percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .expect("UTF-8")
                .into_owned()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_bytes_normalise_to_a_path_that_stays_under_the_root_or_are_refused(
                raw in prop_oneof![
                    vec(any::<u8>(), 0..80),
                    vec(prop_oneof![Just(b'/'), Just(b'.'), Just(b'%'), any::<u8>()], 0..40)
                        .prop_map(|mut v| { v.insert(0, b'/'); v }),
                ],
            ) {
                if let Ok(normal) = normalize(&raw) {
                    check_normal(&normal)?;
                    prop_assert_eq!(normalize(encode(&normal).as_bytes()), Ok(normal.clone()));
                    prop_assert_eq!(normalize(normal.as_bytes()), Ok(normal));
                }
            }

            #[test]
            fn random_segments_normalise_as_a_stack_of_names_would(
                segments in vec(segment(), 0..10),
                trailing_slash in any::<bool>(),
            ) {
                let mut raw = format!("/{}", segments.join("/"));
                if trailing_slash {
                    raw.push('/');
                }
                // The model: decode first (so %2F separates), then resolve with a stack.
                let decoded = decode(&raw);
                let mut stack: Vec<&str> = Vec::new();
                let mut escapes = false;
                for s in decoded.split('/').skip(1) {
                    match s {
                        "" | "." => {}
                        ".." => escapes |= stack.pop().is_none(),
                        name => stack.push(name),
                    }
                }
                match normalize(raw.as_bytes()) {
                    Ok(normal) => {
                        prop_assert!(!escapes);
                        check_normal(&normal)?;
                        let names: Vec<&str> =
                            normal.split('/').filter(|s| !s.is_empty()).collect();
                        prop_assert_eq!(names, stack);
                    }
                    Err(error) => {
                        prop_assert_eq!(error, PathError::EscapesRoot);
                        prop_assert!(escapes);
                    }
                }
            }
        }
    }
}
