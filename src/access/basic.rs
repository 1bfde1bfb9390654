//! HTTP Basic authentication (RFC 7617) against an `auth_basic_user_file`: the `Authorization`
//! field's credentials (`http::credentials`) taken, the user looked up, the password verified
//! in constant time.
//!
//! bcrypt is slow on purpose (cost 5, htpasswd's default, takes about 2 ms here; cost 10 about
//! 60 ms), and it runs on the worker's thread: while it runs, the worker's other connections
//! wait. So a successful verification is remembered, per worker ([`Cache`], in the worker's
//! `Local`), for [`CACHE_TTL`]: a client
//! sending the same right credentials again (every request of a browser) costs one SHA-256,
//! not one bcrypt. Only successes are kept, under a SHA-256 of the credentials and the user
//! file's load (never the password itself); the cache holds at most [`CACHE_ENTRIES`], and a
//! reload (a new load of the file) makes every old entry unusable. Wrong passwords always cost
//! a full verification, which is the point of bcrypt: put `limit_req` on the protected location
//! to bound how many a client may try (docs/CONFIG.md shows how).

use crate::config::{Hash, User, UserFile};
use crate::http::credentials::credentials;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a verified password is taken as verified without running its hash again.
pub const CACHE_TTL: Duration = Duration::from_secs(600);
/// Most verified credentials one worker remembers.
pub const CACHE_ENTRIES: usize = 1024;

/// What the credentials of a request come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Verified,
    /// No `Authorization` field, another scheme, or a malformed one.
    Missing,
    UnknownUser,
    Mismatch,
}

/// Checks the request's `Authorization` value (None: absent) against `users`, a bcrypt
/// success remembered in (and looked up in) the worker's `cache`.
pub fn verify(
    authorization: Option<&str>,
    users: &UserFile,
    now: Instant,
    cache: &mut Cache,
) -> Verdict {
    let Some((user, password)) = authorization.and_then(credentials) else {
        return Verdict::Missing;
    };
    let entry = std::str::from_utf8(&user).ok().and_then(|u| users.user(u));
    let Some(entry) = entry else {
        // As long as a wrong password for a real user, so that timing does not tell which
        // user names exist.
        if let Some(decoy) = users
            .users
            .iter()
            .find(|u| matches!(u.hash, Hash::Bcrypt(_)))
        {
            let _ = matches(&decoy.hash, &password);
        }
        return Verdict::UnknownUser;
    };
    if !matches!(entry.hash, Hash::Bcrypt(_)) {
        return if matches(&entry.hash, &password) {
            Verdict::Verified
        } else {
            Verdict::Mismatch
        };
    }
    let key = cache_key(users.generation, entry, &password);
    if cache.hit(&key, now) {
        return Verdict::Verified;
    }
    if matches(&entry.hash, &password) {
        cache.insert(key, now);
        Verdict::Verified
    } else {
        Verdict::Mismatch
    }
}

/// Whether `password` hashes to `hash`; every comparison takes a time independent of where
/// the bytes differ.
fn matches(hash: &Hash, password: &[u8]) -> bool {
    match hash {
        Hash::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
        Hash::Md5Crypt { magic, salt, hash } => {
            let computed = super::md5crypt::hash(password, magic, salt.as_bytes());
            aws_lc_rs::constant_time::verify_slices_are_equal(&computed, hash.as_bytes()).is_ok()
        }
        Hash::Sha1(digest) => {
            let computed =
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, password);
            aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_ref(), digest).is_ok()
        }
    }
}

fn cache_key(generation: u64, user: &User, password: &[u8]) -> [u8; 32] {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(&generation.to_le_bytes());
    context.update(&(user.name.len() as u64).to_le_bytes());
    context.update(user.name.as_bytes());
    context.update(password);
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

/// Verified credentials of one worker: key to when they were verified.
#[derive(Default)]
pub struct Cache {
    entries: HashMap<[u8; 32], Instant>,
}

impl Cache {
    fn hit(&mut self, key: &[u8; 32], now: Instant) -> bool {
        match self.entries.get(key) {
            Some(at) if now.saturating_duration_since(*at) < CACHE_TTL => true,
            Some(_) => {
                self.entries.remove(key);
                false
            }
            None => false,
        }
    }

    fn insert(&mut self, key: [u8; 32], now: Instant) {
        if self.entries.len() >= CACHE_ENTRIES {
            self.entries
                .retain(|_, at| now.saturating_duration_since(*at) < CACHE_TTL);
        }
        if self.entries.len() >= CACHE_ENTRIES {
            // Still full of live entries: the oldest goes.
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| *k)
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::User;
    use crate::http::credentials::tests::basic;

    fn file(users: Vec<User>) -> UserFile {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 40);
        UserFile {
            path: "/x".into(),
            users,
            generation: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    fn user(name: &str, hash: Hash) -> User {
        User {
            name: name.into(),
            hash,
        }
    }

    #[test]
    fn every_scheme_verifies_the_right_password_only() {
        let bcrypt_hash = bcrypt::hash("b-pass", 4).unwrap();
        let users = file(vec![
            user("b", Hash::Bcrypt(bcrypt_hash)),
            user(
                "a",
                Hash::Md5Crypt {
                    magic: "$apr1$",
                    salt: "r31.....".into(),
                    hash: "ARC3pREO82RIm0aQ2zszC0".into(),
                },
            ),
            user(
                "s",
                // {SHA} of "password"
                Hash::Sha1({
                    use base64::Engine as _;
                    let d = base64::engine::general_purpose::STANDARD
                        .decode("W6ph5Mm5Pz8GgiULbPgzG37mj9g=")
                        .unwrap();
                    d.try_into().unwrap()
                }),
            ),
        ]);
        let now = Instant::now();
        let mut cache = Cache::default();
        let mut check = |v: &str| verify(Some(&basic(v)), &users, now, &mut cache);
        assert_eq!(check("b:b-pass"), Verdict::Verified);
        assert_eq!(check("b:b-pass"), Verdict::Verified, "from the cache");
        assert_eq!(check("b:b-pasS"), Verdict::Mismatch);
        assert_eq!(check("a:password"), Verdict::Verified);
        assert_eq!(check("a:passwore"), Verdict::Mismatch);
        assert_eq!(check("s:password"), Verdict::Verified);
        assert_eq!(check("s:"), Verdict::Mismatch);
        assert_eq!(check("nobody:b-pass"), Verdict::UnknownUser);
        let mut cache = Cache::default();
        assert_eq!(verify(None, &users, now, &mut cache), Verdict::Missing);
        assert_eq!(
            verify(Some("Basic !!"), &users, now, &mut cache),
            Verdict::Missing
        );
    }

    #[test]
    fn the_cache_keeps_successes_for_a_while_and_stays_bounded() {
        let mut cache = Cache::default();
        let start = Instant::now();
        for i in 0..(CACHE_ENTRIES + 10) {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.insert(key, start + Duration::from_millis(i as u64));
        }
        assert_eq!(cache.entries.len(), CACHE_ENTRIES);
        let mut newest = [0u8; 32];
        newest[..8].copy_from_slice(&((CACHE_ENTRIES + 9) as u64).to_le_bytes());
        assert!(cache.hit(&newest, start + Duration::from_secs(1)));
        assert!(!cache.hit(&newest, start + CACHE_TTL + Duration::from_secs(2)));
        assert!(!cache.hit(&[0u8; 32], start), "the oldest was evicted");
    }

    #[test]
    fn a_new_load_of_the_file_does_not_use_the_old_cache() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let first = file(vec![user("u", Hash::Bcrypt(hash))]);
        let now = Instant::now();
        let mut cache = Cache::default();
        assert_eq!(
            verify(Some(&basic("u:pw")), &first, now, &mut cache),
            Verdict::Verified
        );
        // The file now holds another password for u: the cached success must not count.
        let second = file(vec![user(
            "u",
            Hash::Bcrypt(bcrypt::hash("new", 4).unwrap()),
        )]);
        assert_eq!(
            verify(Some(&basic("u:pw")), &second, now, &mut cache),
            Verdict::Mismatch
        );
    }
}
