//! The credentials of a `Basic` `Authorization` value (RFC 7617): the user and the password, as
//! sent. Pure; checking them against a user file is `access::basic`'s, and `$remote_user` is the
//! user name alone.

/// Longest `Authorization` value looked at: far above any real user name and password.
const MAX_CREDENTIALS: usize = 4096;

/// The user and password of a `Basic` `Authorization` value; None when it is not one.
pub fn credentials(value: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    use base64::Engine as _;
    let value = value.trim_matches([' ', '\t']);
    if value.len() > MAX_CREDENTIALS {
        return None;
    }
    let (scheme, token) = value.split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim_start_matches([' ', '\t']))
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// The user name of a `Basic` `Authorization` value (`$remote_user`), whether or not its
/// password is right; None when there is none or it is not UTF-8.
pub fn user_name(value: &str) -> Option<String> {
    let (user, _) = credentials(value)?;
    String::from_utf8(user).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `Basic` `Authorization` value for `user_pass` (`user:password`).
    pub(crate) fn basic(user_pass: &str) -> String {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn authorization_values_are_decoded_or_refused() {
        assert_eq!(
            credentials(&basic("alice:pa:ss")),
            Some((b"alice".to_vec(), b"pa:ss".to_vec()))
        );
        assert_eq!(
            credentials("bAsIc   YTpi"),
            Some((b"a".to_vec(), b"b".to_vec()))
        );
        assert_eq!(credentials(&basic(":")), Some((vec![], vec![])));
        for bad in [
            "",
            "Basic",
            "Basic ",
            "Bearer YTpi",
            "Basic YTpi!",
            "Basic bm9jb2xvbg==",
            "Basic ====",
            "Digest username=\"a\"",
        ] {
            assert_eq!(credentials(bad), None, "{bad:?}");
        }
        let long = basic(&format!("u:{}", "x".repeat(MAX_CREDENTIALS)));
        assert_eq!(credentials(&long), None);
        assert_eq!(user_name(&basic("bob:x")).as_deref(), Some("bob"));
    }
}
