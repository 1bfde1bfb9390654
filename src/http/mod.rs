//! HTTP protocol, pure: no I/O happens here.

pub mod chunked;
pub mod credentials;
pub mod multipart;
pub mod negotiation;
pub mod path;
pub mod request;
pub mod response;

/// `tchar` of RFC 9110 §5.6.2: the characters of a token (method, field name, parameter).
pub const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// The value of one hexadecimal digit (chunk sizes, percent-encoding).
pub fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Helpers shared by the parsers' property tests.
#[cfg(test)]
pub(crate) mod testing {
    use proptest::sample::Index;

    /// `input` cut at the given points (in any order, possibly repeated).
    pub fn cut<'a>(input: &'a [u8], points: &[Index]) -> Vec<&'a [u8]> {
        let mut at: Vec<usize> = points.iter().map(|p| p.index(input.len() + 1)).collect();
        at.sort_unstable();
        let mut pieces = Vec::new();
        let mut start = 0;
        for end in at {
            pieces.push(&input[start..end]);
            start = end;
        }
        pieces.push(&input[start..]);
        pieces
    }
}
