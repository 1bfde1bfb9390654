//! HTTP protocol, pure: no I/O happens here.

pub mod chunked;
pub mod multipart;
pub mod negotiation;
pub mod path;
pub mod request;
pub mod response;

/// `tchar` of RFC 9110 §5.6.2: the characters of a token (method, field name, parameter).
pub fn is_tchar(b: u8) -> bool {
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
