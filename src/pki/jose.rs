//! JSON Web Signatures as ACME uses them (RFC 8555 section 6.2, RFC 7515/7517/7518/7638): the
//! account key (ECDSA P-256 or P-384, through aws-lc-rs), its JWK and thumbprint, the flattened
//! JWS of every POST, and the base64url and PEM encodings they need.

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// The curves an account key may be on (`account_key ecdsa:256 | ecdsa:384`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

impl Curve {
    fn signing(self) -> &'static signature::EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        }
    }

    fn names(self) -> (&'static str, &'static str) {
        match self {
            Curve::P256 => ("P-256", "ES256"),
            Curve::P384 => ("P-384", "ES384"),
        }
    }
}

/// An ACME account key.
pub struct AccountKey {
    key: EcdsaKeyPair,
    curve: Curve,
    rng: SystemRandom,
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccountKey({:?})", self.curve)
    }
}

impl AccountKey {
    /// A new key; also returns it as PKCS#8 DER, to be stored.
    pub fn generate(curve: Curve) -> Result<(AccountKey, Vec<u8>), String> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(curve.signing(), &rng)
            .map_err(|_| "cannot generate an account key".to_string())?;
        let key = EcdsaKeyPair::from_pkcs8(curve.signing(), pkcs8.as_ref())
            .map_err(|_| "cannot use the generated account key".to_string())?;
        Ok((AccountKey { key, curve, rng }, pkcs8.as_ref().to_vec()))
    }

    /// A key from a PEM file's contents (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`), on
    /// either curve.
    pub fn from_pem(pem: &[u8]) -> Result<AccountKey, String> {
        use rustls::pki_types::PrivateKeyDer;
        use rustls::pki_types::pem::PemObject;
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => "no private key in it".to_string(),
            other => format!("invalid PEM ({other})"),
        })?;
        for curve in [Curve::P256, Curve::P384] {
            if let Ok(key) = EcdsaKeyPair::from_private_key_der(curve.signing(), der.secret_der()) {
                return Ok(AccountKey {
                    key,
                    curve,
                    rng: SystemRandom::new(),
                });
            }
        }
        Err("not an ECDSA P-256 or P-384 private key".to_string())
    }

    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The public key as a JWK, members in the lexical order RFC 7638 hashes them in.
    pub fn jwk(&self) -> Value {
        let point = self.key.public_key().as_ref();
        // Uncompressed point: 0x04 || X || Y.
        let half = (point.len() - 1) / 2;
        let (crv, _) = self.curve.names();
        json!({
            "crv": crv,
            "kty": "EC",
            "x": base64url(&point[1..1 + half]),
            "y": base64url(&point[1 + half..]),
        })
    }

    /// The JWK thumbprint (RFC 7638): base64url(SHA-256(the JWK's required members, in
    /// lexical order, without whitespace)).
    pub fn thumbprint(&self) -> String {
        // serde_json writes an object's members in key order (no `preserve_order` feature).
        let canonical = self.jwk().to_string();
        base64url(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// A challenge's key authorization: `token.thumbprint` (RFC 8555 section 8.1).
    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", self.thumbprint())
    }

    /// The flattened JWS of `payload` (None: the empty payload of a POST-as-GET) for `url`,
    /// with `nonce`, identified by `kid` (the account URL) or, before there is one, by the JWK.
    pub fn sign(
        &self,
        payload: Option<&Value>,
        url: &str,
        nonce: &str,
        kid: Option<&str>,
    ) -> Result<Vec<u8>, String> {
        let (_, alg) = self.curve.names();
        let mut protected = json!({ "alg": alg, "nonce": nonce, "url": url });
        match kid {
            Some(kid) => protected["kid"] = json!(kid),
            None => protected["jwk"] = self.jwk(),
        }
        let protected = base64url(protected.to_string().as_bytes());
        let payload = payload.map_or_else(String::new, |p| base64url(p.to_string().as_bytes()));
        let signing_input = format!("{protected}.{payload}");
        // The FIXED algorithms give R || S, as JWS wants (RFC 7518 section 3.4).
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| "cannot sign with the account key".to_string())?;
        let body = json!({
            "protected": protected,
            "payload": payload,
            "signature": base64url(signature.as_ref()),
        });
        Ok(body.to_string().into_bytes())
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(alphabet[(n >> (18 - 6 * i) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// base64url without padding (RFC 7515 section 2).
pub fn base64url(data: &[u8]) -> String {
    encode(data, URL_SAFE, false)
}

/// `data` as a PEM block with `label`, lines of 64 characters (RFC 7468).
pub fn pem(label: &str, data: &[u8]) -> String {
    let body = encode(data, STANDARD, true);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        let cases: &[(&[u8], &str, &str)] = &[
            (b"", "", ""),
            (b"f", "Zg", "Zg=="),
            (b"fo", "Zm8", "Zm8="),
            (b"foo", "Zm9v", "Zm9v"),
            (b"foob", "Zm9vYg", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy", "Zm9vYmFy"),
            (&[0xfb, 0xff], "-_8", "+/8="),
        ];
        for (data, url, standard) in cases {
            assert_eq!(base64url(data), *url);
            assert_eq!(encode(data, STANDARD, true), *standard);
        }
    }

    #[test]
    fn pem_round_trips_through_the_pem_reader() {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let text = pem("CERTIFICATE", &data);
        assert!(text.lines().all(|l| l.len() <= 64));
        let back = CertificateDer::from_pem_slice(text.as_bytes()).unwrap();
        assert_eq!(back.as_ref(), &data[..]);
    }

    #[test]
    fn a_jws_verifies_with_the_jwk_it_carries() {
        for curve in [Curve::P256, Curve::P384] {
            let (key, pkcs8) = AccountKey::generate(curve).unwrap();
            let body = key
                .sign(Some(&json!({"a": 1})), "https://ca/x", "n0nce", None)
                .unwrap();
            let jws: Value = serde_json::from_slice(&body).unwrap();
            let protected = decode(jws["protected"].as_str().unwrap());
            let header: Value = serde_json::from_slice(&protected).unwrap();
            assert_eq!(header["url"], "https://ca/x");
            assert_eq!(header["nonce"], "n0nce");
            assert_eq!(header["jwk"], key.jwk());
            assert_eq!(decode(jws["payload"].as_str().unwrap()), br#"{"a":1}"#);
            let input = format!(
                "{}.{}",
                jws["protected"].as_str().unwrap(),
                jws["payload"].as_str().unwrap()
            );
            let alg = match curve {
                Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
                Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
            };
            let public = signature::UnparsedPublicKey::new(alg, key.key.public_key().as_ref());
            public
                .verify(
                    input.as_bytes(),
                    &decode(jws["signature"].as_str().unwrap()),
                )
                .unwrap();
            // The stored form loads back to the same key.
            let again = AccountKey::from_pem(pem("PRIVATE KEY", &pkcs8).as_bytes()).unwrap();
            assert_eq!(again.thumbprint(), key.thumbprint());
            assert_eq!(again.curve(), curve);
        }
    }

    #[test]
    fn post_as_get_has_an_empty_payload_and_a_kid() {
        let (key, _) = AccountKey::generate(Curve::P256).unwrap();
        let body = key.sign(None, "u", "n", Some("https://ca/acct/1")).unwrap();
        let jws: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(jws["payload"], "");
        let header: Value =
            serde_json::from_slice(&decode(jws["protected"].as_str().unwrap())).unwrap();
        assert_eq!(header["kid"], "https://ca/acct/1");
        assert!(header.get("jwk").is_none());
    }

    #[test]
    fn the_thumbprint_follows_rfc_7638_canonical_form() {
        let (key, _) = AccountKey::generate(Curve::P256).unwrap();
        let jwk = key.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        assert_eq!(key.thumbprint(), base64url(&sha256(canonical.as_bytes())));
        assert_eq!(
            key.key_authorization("tok"),
            format!("tok.{}", key.thumbprint())
        );
    }

    #[test]
    fn keys_that_are_not_ecdsa_are_refused_with_a_reason() {
        assert!(
            AccountKey::from_pem(b"nothing")
                .unwrap_err()
                .contains("no private key")
        );
        let rsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        assert!(
            AccountKey::from_pem(rsa.serialize_pem().as_bytes())
                .unwrap_err()
                .contains("not an ECDSA")
        );
    }

    fn decode(text: &str) -> Vec<u8> {
        let mut bits = 0u32;
        let mut count = 0;
        let mut out = Vec::new();
        for c in text.bytes() {
            let v = URL_SAFE.iter().position(|&a| a == c).unwrap() as u32;
            bits = (bits << 6) | v;
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
            }
        }
        out
    }
}
