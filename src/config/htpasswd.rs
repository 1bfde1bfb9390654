//! The user file of `auth_basic_user_file`: `NAME:HASH[:COMMENT]` lines in the formats that
//! Apache's `htpasswd` writes, read once when the configuration loads (and again on reload),
//! never per request. Pure: text in, users and diagnostics out.
//!
//! Accepted hashes: bcrypt (`$2y$`, `$2b$`, `$2a$`), Apache's MD5 (`$apr1$`) and the MD5 crypt
//! it derives from (`$1$`), and unsalted SHA-1 (`{SHA}`). Refused, with a warning, so that the
//! user cannot log in: DES crypt and plain text (`htpasswd -d`, `-p`: one cannot be told from
//! the other, and both are too weak), and SHA-256/SHA-512 crypt (`$5$`, `$6$`, `htpasswd -2`
//! / `-5`), which webserv does not implement. Lines that are empty or start with `#` are
//! skipped, as nginx does.

/// One accepted user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub hash: Hash,
}

/// A password hash the server can verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hash {
    /// The whole `$2y$CC$...` string (60 characters), as the `bcrypt` crate verifies it.
    Bcrypt(String),
    /// `$apr1$SALT$HASH` or `$1$SALT$HASH`: `magic` is `$apr1$` or `$1$`, `hash` the 22
    /// characters of crypt's base-64.
    Md5Crypt {
        magic: &'static str,
        salt: String,
        hash: String,
    },
    /// `{SHA}BASE64`: the SHA-1 digest of the password.
    Sha1([u8; 20]),
}

/// What reading a user file found: a fatal error, or a line the server refuses to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based, in the user file.
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    pub message: String,
}

/// The users of a file, in file order (the first of a name wins, as in nginx), and the lines
/// refused (warnings); Err: the first malformed line.
pub fn parse(text: &str) -> Result<(Vec<User>, Vec<Diagnostic>), Diagnostic> {
    let mut users: Vec<User> = Vec::new();
    let mut refused = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let row = raw.strip_suffix('\r').unwrap_or(raw);
        let at = |byte: usize, message: String| Diagnostic {
            line,
            col: row[..byte].chars().count() + 1,
            message,
        };
        if row.trim().is_empty() || row.starts_with('#') {
            continue;
        }
        let Some((name, rest)) = row.split_once(':') else {
            return Err(at(
                0,
                "no \":\" between the user name and the password".into(),
            ));
        };
        if name.is_empty() {
            return Err(at(0, "empty user name".into()));
        }
        if name.chars().any(char::is_control) {
            return Err(at(0, "control character in the user name".into()));
        }
        let hash_at = name.len() + 1;
        let hash_text = rest.split_once(':').map_or(rest, |(hash, _comment)| hash);
        let hash = match classify(hash_text) {
            Ok(hash) => hash,
            Err(Problem::Malformed(message)) => return Err(at(hash_at, message)),
            Err(Problem::Refused(message)) => {
                refused.push(at(hash_at, format!("user \"{name}\": {message}")));
                continue;
            }
        };
        if users.iter().any(|u| u.name == name) {
            refused.push(at(
                0,
                format!("user \"{name}\" is listed again, this line is ignored"),
            ));
            continue;
        }
        users.push(User {
            name: name.to_string(),
            hash,
        });
    }
    Ok((users, refused))
}

enum Problem {
    /// The line is not what its scheme's prefix says: a fatal error.
    Malformed(String),
    /// A scheme the server will not use: a warning, the user cannot log in.
    Refused(String),
}

/// crypt(3)'s base-64 alphabet.
fn is_crypt64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'/'
}

fn classify(text: &str) -> Result<Hash, Problem> {
    let bytes = text.as_bytes();
    if let Some(rest) = ["$2y$", "$2b$", "$2a$"]
        .iter()
        .find_map(|p| text.strip_prefix(p))
    {
        let cost = rest.get(..2).and_then(|c| c.parse::<u32>().ok());
        let valid = bytes.len() == 60
            && cost.is_some_and(|c| (4..=31).contains(&c))
            && rest.as_bytes().get(2) == Some(&b'$')
            && rest.as_bytes()[3..].iter().all(|&c| is_crypt64(c));
        return if valid {
            Ok(Hash::Bcrypt(text.to_string()))
        } else {
            Err(Problem::Malformed(
                "malformed bcrypt hash (expected $2y$NN$ and 53 characters)".into(),
            ))
        };
    }
    for magic in ["$apr1$", "$1$"] {
        if let Some(rest) = text.strip_prefix(magic) {
            let Some((salt, hash)) = rest.split_once('$') else {
                return Err(Problem::Malformed(format!("malformed {magic} hash")));
            };
            let valid = salt.len() <= 8
                && salt.bytes().all(is_crypt64)
                && hash.len() == 22
                && hash.bytes().all(is_crypt64);
            if !valid {
                return Err(Problem::Malformed(format!(
                    "malformed {magic} hash (expected a salt of up to 8 and a hash of 22 \
                     characters)"
                )));
            }
            return Ok(Hash::Md5Crypt {
                magic,
                salt: salt.to_string(),
                hash: hash.to_string(),
            });
        }
    }
    if let Some(encoded) = text.strip_prefix("{SHA}") {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded);
        return match decoded.ok().and_then(|d| <[u8; 20]>::try_from(d).ok()) {
            Some(digest) => Ok(Hash::Sha1(digest)),
            None => Err(Problem::Malformed(
                "malformed {SHA} hash (expected the base-64 of 20 bytes)".into(),
            )),
        };
    }
    if text.starts_with("$5$") || text.starts_with("$6$") {
        return Err(Problem::Refused(
            "SHA-256/SHA-512 crypt is not supported, the user cannot log in (use htpasswd -B)"
                .into(),
        ));
    }
    Err(Problem::Refused(
        "DES crypt or plain-text password refused, the user cannot log in (use htpasswd -B)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BCRYPT: &str = "$2y$05$Vd0P0tAV7A3cdAbTnzkmi.iHZC3VfFCTNHYJHLYdHDhlRG9yBzzwe";

    #[test]
    fn every_scheme_htpasswd_writes_is_recognised() {
        let text = format!(
            "# users\n\nalice:{BCRYPT}\nbob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n\
             carol:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g=:a comment\ndave:$1$abc$0123456789012345678901\r\n"
        );
        let (users, refused) = parse(&text).unwrap();
        assert!(refused.is_empty(), "{refused:?}");
        let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob", "carol", "dave"]);
        assert_eq!(users[0].hash, Hash::Bcrypt(BCRYPT.into()));
        assert!(
            matches!(&users[1].hash, Hash::Md5Crypt { magic: "$apr1$", salt, .. } if salt == "r31.....")
        );
        assert!(matches!(users[2].hash, Hash::Sha1(_)));
        assert!(matches!(users[3].hash, Hash::Md5Crypt { magic: "$1$", .. }));
    }

    #[test]
    fn des_plain_and_sha_crypt_lines_are_refused_with_their_position() {
        let text = "a:rl0Lb5n5Mx3Ok\nb:secret\nc:$5$x$y\nd:$6$rounds=5000$x$y\n";
        let (users, refused) = parse(text).unwrap();
        assert!(users.is_empty());
        let at: Vec<(usize, usize)> = refused.iter().map(|d| (d.line, d.col)).collect();
        assert_eq!(at, [(1, 3), (2, 3), (3, 3), (4, 3)]);
        assert!(refused[0].message.contains("DES crypt or plain-text"));
        assert!(refused[2].message.contains("SHA-256/SHA-512"));
    }

    #[test]
    fn malformed_lines_are_errors_at_line_and_column() {
        let cases = [
            ("nocolon\n", (1, 1), "no \":\""),
            (
                "ok:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n:x\n",
                (2, 1),
                "empty user",
            ),
            ("u:$2y$05$short\n", (1, 3), "malformed bcrypt"),
            (
                "é:$2y$99$Vd0P0tAV7A3cdAbTnzkmi.iHZC3VfFCTNHYJHLYdHDhlRG9yBzzwe",
                (1, 3),
                "bcrypt",
            ),
            ("u:$apr1$nosalt\n", (1, 3), "malformed $apr1$"),
            (
                "u:$apr1$toolongsalt$HqJZimcKQFAMYayBlzkrA/\n",
                (1, 3),
                "$apr1$",
            ),
            ("u:{SHA}notbase64!\n", (1, 3), "{SHA}"),
            ("u\u{1}x:abc\n", (1, 1), "control"),
        ];
        for (text, (line, col), needle) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!((e.line, e.col), (line, col), "{text:?}: {e:?}");
            assert!(e.message.contains(needle), "{text:?}: {}", e.message);
        }
    }

    #[test]
    fn a_repeated_user_keeps_the_first_line() {
        let text = format!("u:{BCRYPT}\nu:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n");
        let (users, refused) = parse(&text).unwrap();
        assert_eq!(users.len(), 1);
        assert!(matches!(users[0].hash, Hash::Bcrypt(_)));
        assert_eq!((refused[0].line, refused[0].col), (2, 1));
    }

    #[test]
    fn any_text_gives_users_or_an_error_inside_it_never_a_panic() {
        let pieces = [
            "u", ":", "$2y$", "$apr1$", "$1$", "{SHA}", "$", "05", "\n", "\r\n", "#", "é", "=",
        ];
        // Every sequence of three pieces, which covers each prefix cut short.
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let text = format!("{a}{b}{c}");
                    match parse(&text) {
                        Ok((_, refused)) => assert!(refused.iter().all(|d| d.line >= 1)),
                        Err(e) => assert!(e.line >= 1 && e.col >= 1, "{text:?}"),
                    }
                }
            }
        }
    }
}
