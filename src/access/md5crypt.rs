//! MD5 crypt as Apache's `htpasswd -m` (`$apr1$`) and FreeBSD/glibc (`$1$`) compute it: 1,000
//! rounds of MD5 over the password and an up-to-8-character salt (Poul-Henning Kamp's
//! algorithm; the two differ only in the magic string mixed in). Verification only.

use md5::{Digest, Md5};

/// crypt(3)'s base-64 alphabet.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 22-character hash of `password` with `magic` (`$apr1$` or `$1$`) and `salt`.
pub fn hash(password: &[u8], magic: &str, salt: &[u8]) -> [u8; 22] {
    let salt = &salt[..salt.len().min(8)];
    let alternate = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut context = Md5::new()
        .chain_update(password)
        .chain_update(magic.as_bytes())
        .chain_update(salt);
    let mut left = password.len();
    while left > 0 {
        let take = left.min(16);
        context.update(&alternate[..take]);
        left -= take;
    }
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            context.update([0u8]);
        } else {
            context.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut last: [u8; 16] = context.finalize().into();
    for round in 0..1000 {
        let mut step = Md5::new();
        if round & 1 == 1 {
            step.update(password);
        } else {
            step.update(last);
        }
        if round % 3 != 0 {
            step.update(salt);
        }
        if round % 7 != 0 {
            step.update(password);
        }
        if round & 1 == 1 {
            step.update(last);
        } else {
            step.update(password);
        }
        last = step.finalize().into();
    }
    let mut out = [0u8; 22];
    let groups = [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)];
    for (i, (a, b, c)) in groups.into_iter().enumerate() {
        let value = u32::from(last[a]) << 16 | u32::from(last[b]) << 8 | u32::from(last[c]);
        encode(value, &mut out[i * 4..i * 4 + 4]);
    }
    encode(u32::from(last[11]), &mut out[20..22]);
    out
}

fn encode(mut value: u32, out: &mut [u8]) {
    for slot in out {
        *slot = ITOA64[(value & 0x3f) as usize];
        value >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_the_ones_openssl_and_htpasswd_write() {
        // `openssl passwd -apr1 -salt ...` / `openssl passwd -1 -salt ...`.
        let cases: [(&str, &str, &str, &str); 4] = [
            ("password", "$apr1$", "r31.....", "ARC3pREO82RIm0aQ2zszC0"),
            ("secret", "$1$", "abc", "iCQ2D3nhptRYi27fDYv2s1"),
            ("x", "$apr1$", "", "jYtXyIcDHukcQfHjblNhq/"),
            (
                "a very long password that is longer than sixteen bytes",
                "$1$",
                "12345678",
                "4ZPu1XpOzP7yWHC/KN4Mn1",
            ),
        ];
        for (password, magic, salt, expected) in cases {
            let got = hash(password.as_bytes(), magic, salt.as_bytes());
            assert_eq!(std::str::from_utf8(&got).unwrap(), expected, "{password}");
        }
    }
}
