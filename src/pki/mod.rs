//! Keys and certificates, below the configuration and everything that uses them: PEM files (a
//! certificate chain and its key, trusted roots, client CAs: `tls`), just enough DER to read an
//! X.509 certificate (`der`), the ACME account key and its JSON Web Signatures (`jose`), and the
//! ACME issuer's state directory (`store`). No module here knows the configuration's types.

pub mod der;
pub mod jose;
pub mod store;
pub mod tls;
