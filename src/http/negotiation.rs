//! Content negotiation: which content codings a request's `Accept-Encoding` allows
//! (RFC 9110 §12.5.3).

/// Whether a request whose `Accept-Encoding` fields are `values` accepts the `gzip` coding.
///
/// Each field is a list of `coding [; q=VALUE]`, compared case-insensitively; `x-gzip` is the
/// same coding (RFC 9110 §8.4.1.3). A coding named explicitly decides; otherwise `*` does. A
/// weight of 0 (`q=0`, `q=0.000`) means "not acceptable"; a malformed weight makes its entry
/// count as not acceptable, the safe reading. No field at all: the coding is not sent (nginx's
/// choice; the RFC would allow any coding).
pub fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    let mut explicit: Option<bool> = None;
    let mut any: Option<bool> = None;
    for value in values {
        for entry in value.split(',') {
            let mut params = entry.split(';');
            let coding = params.next().unwrap_or("").trim();
            if coding.is_empty() {
                continue;
            }
            let mut acceptable = true;
            for param in params {
                let Some((name, weight)) = param.split_once('=') else {
                    continue;
                };
                if name.trim().eq_ignore_ascii_case("q") {
                    acceptable = weight_is_positive(weight.trim()).unwrap_or(false);
                }
            }
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                // Several entries for one coding: any acceptable one is enough.
                explicit = Some(explicit.unwrap_or(false) || acceptable);
            } else if coding == "*" {
                any = Some(any.unwrap_or(false) || acceptable);
            }
        }
    }
    explicit.or(any).unwrap_or(false)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`: Some(weight > 0), None when
/// malformed.
fn weight_is_positive(q: &str) -> Option<bool> {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match int {
        "0" => Some(frac.bytes().any(|b| b != b'0')),
        "1" if frac.bytes().all(|b| b == b'0') => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_accepted_by_name_by_star_and_refused_with_q_0() {
        let table: &[(&[&str], bool)] = &[
            (&["gzip"], true),
            (&["GZip"], true),
            (&["x-gzip"], true),
            (&["gzip, deflate, br"], true),
            (&["deflate,gzip;q=0.5"], true),
            (&["br ; q=1, gzip ; Q=0.001"], true),
            (&["gzip;q=1.000"], true),
            (&["*"], true),
            (&["*;q=0.1"], true),
            (&[], false),
            (&[""], false),
            (&["identity"], false),
            (&["deflate, br"], false),
            (&["gzip;q=0"], false),
            (&["gzip; q=0.000"], false),
            (&["gzip;q=0, *"], false),
            (&["*;q=0"], false),
            (&["*, gzip;q=0"], false),
            (&["gzip;q=2"], false),
            (&["gzip;q=0.0001"], false),
            (&["gzip;q=abc"], false),
            (&["gzip;q="], false),
            (&["gzipped"], false),
            (&["deflate", "gzip"], true),
            (&["gzip;q=0", "gzip"], true),
            (&["gzip;level=1"], true),
        ];
        for (values, expected) in table {
            assert_eq!(
                accepts_gzip(values.iter().copied()),
                *expected,
                "{values:?}"
            );
        }
    }
}
