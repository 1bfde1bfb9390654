//! Just enough DER (X.690) to read what the server needs of an X.509 certificate (RFC 5280):
//! its validity, its DNS names, its serial number and authority key identifier (the ACME
//! Renewal Information certificate ID), and its subject and issuer as RFC 2253 strings
//! (`$ssl_client_s_dn`). Pure: bytes in, facts or an error out; nothing here trusts the input.

use std::fmt::Write as _;

/// Why bytes are not the certificate they should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError(pub &'static str);

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

type Result<T> = std::result::Result<T, DerError>;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
const BOOLEAN: u8 = 0x01;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// A cursor over DER bytes: one tag-length-value at a time.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next element's tag, without taking it.
    pub fn peek(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Takes the next element: its tag and its contents. Only definite lengths, in their
    /// shortest form, as DER requires.
    pub fn any(&mut self) -> Result<(u8, &'a [u8])> {
        let [tag, first, rest @ ..] = self.data else {
            return Err(DerError("truncated element"));
        };
        if tag & 0x1f == 0x1f {
            return Err(DerError("multi-byte tags are not used in certificates"));
        }
        let (len, rest) = match *first {
            n @ 0..=0x7f => (usize::from(n), rest),
            0x81..=0x84 => {
                let count = usize::from(first & 0x7f);
                if rest.len() < count {
                    return Err(DerError("truncated length"));
                }
                let (bytes, rest) = rest.split_at(count);
                if bytes[0] == 0 {
                    return Err(DerError("length not in its shortest form"));
                }
                let len = bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
                if len < 0x80 {
                    return Err(DerError("length not in its shortest form"));
                }
                (len, rest)
            }
            _ => return Err(DerError("unsupported length")),
        };
        if rest.len() < len {
            return Err(DerError("truncated element"));
        }
        let (contents, after) = rest.split_at(len);
        self.data = after;
        Ok((*tag, contents))
    }

    /// Takes the next element, which must have `tag`.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8]> {
        match self.any()? {
            (t, contents) if t == tag => Ok(contents),
            _ => Err(DerError(what)),
        }
    }

    /// Takes the next element if it has `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>> {
        if self.peek() == Some(tag) {
            return self.any().map(|(_, contents)| Some(contents));
        }
        Ok(None)
    }
}

/// What the server reads of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// subjectAltName dNSName entries, lower-cased, in order.
    pub dns_names: Vec<String>,
    /// The serial number's content octets (as DER has them, sign byte included).
    pub serial: Vec<u8>,
    /// The authority key identifier's keyIdentifier, if the certificate has one.
    pub authority_key_id: Option<Vec<u8>>,
    /// RFC 2253 strings (OpenSSL's `XN_FLAG_RFC2253`, as nginx's `$ssl_client_s_dn`).
    pub subject: String,
    pub issuer: String,
}

impl CertInfo {
    /// The serial number in upper-case hexadecimal, as `$ssl_client_serial` shows it.
    pub fn serial_hex(&self) -> String {
        let bytes = match self.serial.as_slice() {
            [0, rest @ ..] if !rest.is_empty() => rest,
            all => all,
        };
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            let _ = write!(out, "{b:02X}");
        }
        out
    }
}

/// Reads a DER certificate.
pub fn certificate(der: &[u8]) -> Result<CertInfo> {
    let mut outer = Reader::new(der);
    let cert = outer.expect(SEQUENCE, "not a certificate")?;
    if !outer.is_empty() {
        return Err(DerError("bytes after the certificate"));
    }
    let mut cert = Reader::new(cert);
    let tbs = cert.expect(SEQUENCE, "no tbsCertificate")?;
    let mut tbs = Reader::new(tbs);
    // version [0] EXPLICIT, optional
    tbs.optional(0xa0)?;
    let serial = tbs.expect(INTEGER, "no serial number")?.to_vec();
    tbs.expect(SEQUENCE, "no signature algorithm")?;
    let issuer = name(tbs.expect(SEQUENCE, "no issuer")?)?;
    let mut validity = Reader::new(tbs.expect(SEQUENCE, "no validity")?);
    let not_before = time(&mut validity)?;
    let not_after = time(&mut validity)?;
    let subject = name(tbs.expect(SEQUENCE, "no subject")?)?;
    tbs.expect(SEQUENCE, "no subjectPublicKeyInfo")?;
    tbs.optional(0x81)?;
    tbs.optional(0x82)?;
    let mut dns_names = Vec::new();
    let mut authority_key_id = None;
    if let Some(extensions) = tbs.optional(0xa3)? {
        let mut list = Reader::new(Reader::new(extensions).expect(SEQUENCE, "bad extensions")?);
        while !list.is_empty() {
            let mut ext = Reader::new(list.expect(SEQUENCE, "bad extension")?);
            let oid = ext.expect(OID, "bad extension id")?;
            ext.optional(BOOLEAN)?;
            let value = ext.expect(OCTET_STRING, "bad extension value")?;
            match oid {
                // 2.5.29.17 subjectAltName
                [0x55, 0x1d, 0x11] => dns_names = alt_names(value)?,
                // 2.5.29.35 authorityKeyIdentifier
                [0x55, 0x1d, 0x23] => {
                    let mut aki = Reader::new(Reader::new(value).expect(SEQUENCE, "bad AKI")?);
                    authority_key_id = aki.optional(0x80)?.map(<[u8]>::to_vec);
                }
                _ => {}
            }
        }
    }
    Ok(CertInfo {
        not_before,
        not_after,
        dns_names,
        serial,
        authority_key_id,
        subject,
        issuer,
    })
}

fn alt_names(value: &[u8]) -> Result<Vec<String>> {
    let mut names = Reader::new(Reader::new(value).expect(SEQUENCE, "bad subjectAltName")?);
    let mut out = Vec::new();
    while !names.is_empty() {
        let (tag, contents) = names.any()?;
        // dNSName [2] IMPLICIT IA5String
        if tag == 0x82 {
            let name = std::str::from_utf8(contents)
                .ok()
                .filter(|s| s.is_ascii())
                .ok_or(DerError("a DNS name that is not ASCII"))?;
            out.push(name.to_ascii_lowercase());
        }
    }
    Ok(out)
}

/// A UTCTime or GeneralizedTime (`...Z`, whole seconds, as RFC 5280 requires) as Unix seconds.
fn time(r: &mut Reader) -> Result<i64> {
    let (tag, contents) = r.any()?;
    let text = std::str::from_utf8(contents).map_err(|_| DerError("bad time"))?;
    let digits = |s: &str| -> Result<i64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DerError("bad time"));
        }
        s.parse().map_err(|_| DerError("bad time"))
    };
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&text[..2])?;
            // RFC 5280 4.1.2.5.1: 50..99 are 19xx, 00..49 are 20xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&text[..4])?, &text[4..]),
        _ => return Err(DerError("bad time")),
    };
    if !rest.ends_with('Z') {
        return Err(DerError("bad time"));
    }
    let month = digits(&rest[0..2])?;
    let day = digits(&rest[2..4])?;
    let hour = digits(&rest[4..6])?;
    let minute = digits(&rest[6..8])?;
    let second = digits(&rest[8..10])?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(DerError("bad time"));
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A Name as RFC 2253 writes it: the last RDN first, `,` between RDNs, `+` inside one.
fn name(contents: &[u8]) -> Result<String> {
    let mut rdns = Vec::new();
    let mut r = Reader::new(contents);
    while !r.is_empty() {
        let mut set = Reader::new(r.expect(SET, "bad name")?);
        let mut parts = Vec::new();
        while !set.is_empty() {
            let mut atv = Reader::new(set.expect(SEQUENCE, "bad name")?);
            let oid = atv.expect(OID, "bad name")?;
            let (tag, value) = atv.any()?;
            let mut part = String::new();
            match attribute_name(oid) {
                Some(short) => {
                    part.push_str(short);
                    part.push('=');
                    escape_value(tag, value, &mut part);
                }
                None => {
                    part.push_str(&dotted(oid));
                    part.push_str("=#");
                    let _ = write!(part, "{tag:02X}");
                    encode_len_hex(value.len(), &mut part);
                    for b in value {
                        let _ = write!(part, "{b:02X}");
                    }
                }
            }
            parts.push(part);
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

fn encode_len_hex(len: usize, out: &mut String) {
    if len < 0x80 {
        let _ = write!(out, "{len:02X}");
        return;
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let _ = write!(out, "{:02X}", 0x80 | bytes.len());
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
}

/// The short names OpenSSL prints in RFC 2253 form.
fn attribute_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x04] => "SN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "street",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x0c] => "title",
        [0x55, 0x04, 0x2a] => "GN",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => return None,
    })
}

/// An OID in dotted decimal.
fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut value: u128 = 0;
    for b in oid {
        value = (value << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }
    let mut out = String::new();
    if let Some(first) = arcs.first() {
        let (a, b) = match first {
            0..40 => (0, *first),
            40..80 => (1, first - 40),
            _ => (2, first - 80),
        };
        let _ = write!(out, "{a}.{b}");
    }
    for arc in arcs.iter().skip(1) {
        let _ = write!(out, ".{arc}");
    }
    out
}

/// An attribute value, escaped as RFC 2253 section 2.4 asks (and as OpenSSL does): `,+"\<>;`
/// get a backslash, so do a leading `#` or space and a trailing space; control characters and
/// every byte of a non-ASCII character become `\XX`, so the result is printable ASCII.
fn escape_value(tag: u8, value: &[u8], out: &mut String) {
    let text: String = match tag {
        // BMPString: UCS-2 big-endian.
        0x1e => {
            let units: Vec<u16> = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // UniversalString: UCS-4 big-endian.
        0x1c => value
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])).unwrap_or('\u{fffd}')
            })
            .collect(),
        // T61String: taken as Latin-1, as OpenSSL does.
        0x14 => value.iter().map(|b| char::from(*b)).collect(),
        _ => String::from_utf8_lossy(value).into_owned(),
    };
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let special = matches!(b, b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';')
            || (i == 0 && (b == b'#' || b == b' '))
            || (i + 1 == bytes.len() && b == b' ');
        if special {
            out.push('\\');
            out.push(char::from(b));
        } else if !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(params: rcgen::CertificateParams) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_generated_certificate_gives_its_names_validity_and_subject() {
        let mut params =
            rcgen::CertificateParams::new(vec!["Example.COM".into(), "www.example.com".into()])
                .unwrap();
        params.not_before = rcgen::date_time_ymd(2024, 2, 29);
        params.not_after = rcgen::date_time_ymd(2051, 1, 1);
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "FR");
        dn.push(rcgen::DnType::OrganizationName, "Acme, Inc.");
        dn.push(rcgen::DnType::CommonName, "client one");
        params.distinguished_name = dn;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0xab, 0x01]));
        let info = certificate(&generated(params)).unwrap();
        assert_eq!(info.dns_names, ["example.com", "www.example.com"]);
        assert_eq!(info.not_before, 1_709_164_800); // 2024-02-29T00:00:00Z
        assert_eq!(info.not_after, 2_556_144_000); // 2051-01-01T00:00:00Z
        assert_eq!(info.subject, "CN=client one,O=Acme\\, Inc.,C=FR");
        assert_eq!(info.issuer, info.subject);
        assert_eq!(info.serial_hex(), "AB01");
    }

    #[test]
    fn values_are_escaped_as_rfc_2253_says() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain", "plain"),
            (b"#lead", "\\#lead"),
            (b" both ", "\\ both\\ "),
            (b"a+b;c<d>\"e\\", "a\\+b\\;c\\<d\\>\\\"e\\\\"),
            ("caf\u{e9}".as_bytes(), "caf\\C3\\A9"),
            (b"tab\there", "tab\\09here"),
        ];
        for (value, want) in cases {
            let mut out = String::new();
            escape_value(0x0c, value, &mut out);
            assert_eq!(&out, want);
        }
        let mut out = String::new();
        escape_value(0x1e, &[0, b'h', 0, 0xe9], &mut out);
        assert_eq!(out, "h\\C3\\A9");
    }

    #[test]
    fn unknown_attributes_are_written_as_oid_and_hex() {
        // SET { SEQUENCE { OID 1.2.3.4, UTF8String "x" } }
        let name_der = [
            0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x0c, 0x01, b'x',
        ];
        assert_eq!(name(&name_der).unwrap(), "1.2.3.4=#0C0178");
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]),
            "1.2.840.113549"
        );
    }

    #[test]
    fn times_of_both_forms_and_their_errors() {
        let t = |tag: u8, s: &str| {
            let mut der = vec![tag, s.len() as u8];
            der.extend_from_slice(s.as_bytes());
            time(&mut Reader::new(&der))
        };
        assert_eq!(t(UTC_TIME, "700101000000Z"), Ok(0));
        assert_eq!(t(UTC_TIME, "491231235959Z"), Ok(2_524_607_999));
        assert_eq!(t(GENERALIZED_TIME, "20500101000000Z"), Ok(2_524_608_000));
        for bad in [
            "700101000000",
            "7001010000000",
            "701301000000Z",
            "70010100000aZ",
        ] {
            assert!(t(UTC_TIME, bad).is_err(), "{bad}");
        }
        assert!(t(GENERALIZED_TIME, "700101000000Z").is_err());
        assert!(t(OCTET_STRING, "700101000000Z").is_err());
    }

    #[test]
    fn every_truncation_and_every_flipped_length_is_an_error_not_a_panic() {
        let der = generated(rcgen::CertificateParams::new(vec!["a.test".into()]).unwrap());
        assert!(certificate(&der).is_ok());
        for cut in 0..der.len() {
            assert!(certificate(&der[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..der.len() {
            let mut bent = der.clone();
            bent[i] ^= 0xff;
            let _ = certificate(&bent);
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(certificate(&trailing).is_err());
    }

    #[test]
    fn lengths_must_be_definite_and_shortest() {
        assert!(
            Reader::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5])
                .any()
                .is_err()
        );
        assert!(Reader::new(&[0x04, 0x80]).any().is_err());
        assert!(Reader::new(&[0x04, 0x82, 0x00, 0x80]).any().is_err());
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        assert_eq!(Reader::new(&long).any().unwrap().1.len(), 0x80);
    }
}
