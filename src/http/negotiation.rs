//! Content negotiation: which content codings a request's `Accept-Encoding` allows, and how
//! much (RFC 9110 §12.5.3).
//!
//! Each field is a list of `coding [; q=VALUE]`, compared case-insensitively; `x-gzip` is the
//! same coding as `gzip` (RFC 9110 §8.4.1.3). A coding named explicitly takes its own weight;
//! otherwise `*` gives the weight of every coding not named. A weight of 0 (`q=0`, `q=0.000`)
//! means "not acceptable"; a malformed weight (out of range, more than three decimals, not a
//! number) makes its entry not acceptable, the safe reading. `identity` is acceptable unless
//! `identity;q=0`, or `*;q=0` without an `identity` entry, says otherwise. No field at all: no
//! coding is sent (nginx's choice; the RFC would allow any), and an empty field asks for none.
//! A list is read to its end however long it is (the head's size limit bounds it), in one pass
//! without allocation.

/// A content coding the server can produce, in the server's order of preference on ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Coding {
    Zstd,
    Br,
    Gzip,
}

impl Coding {
    pub const ALL: [Coding; 3] = [Coding::Zstd, Coding::Br, Coding::Gzip];

    /// The coding's token, as `Content-Encoding` names it.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Zstd => "zstd",
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The file extension of a precompressed sibling (`FILE.gz`, `FILE.br`, `FILE.zst`).
    pub fn extension(self) -> &'static str {
        match self {
            Coding::Zstd => ".zst",
            Coding::Br => ".br",
            Coding::Gzip => ".gz",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a request accepts: the weight (in thousandths, 0 to 1000) of each coding the server
/// can produce, and whether the unencoded representation is acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    weights: [u16; 3],
    pub identity: bool,
}

impl Accepted {
    /// Nothing but identity (a request without `Accept-Encoding`).
    pub const NONE: Accepted = Accepted {
        weights: [0; 3],
        identity: true,
    };

    /// The weight of `coding` (0: not acceptable).
    pub fn weight(&self, coding: Coding) -> u16 {
        self.weights[coding.index()]
    }

    /// The acceptable coding of highest weight among those `offered` says the server may use
    /// (on a tie, the server's order: zstd, br, gzip). None: none of them is acceptable.
    pub fn best(&self, offered: impl Fn(Coding) -> bool) -> Option<Coding> {
        let mut best: Option<(Coding, u16)> = None;
        for coding in Coding::ALL {
            let weight = self.weight(coding);
            if weight > 0 && offered(coding) && best.is_none_or(|(_, w)| weight > w) {
                best = Some((coding, weight));
            }
        }
        best.map(|(coding, _)| coding)
    }
}

/// What the `Accept-Encoding` fields `values` (in order; none when the request has none)
/// accept.
pub fn accepted<'a>(values: impl IntoIterator<Item = &'a str>) -> Accepted {
    // Weights named explicitly (several entries for one coding: the highest), and `*`'s.
    let mut explicit: [Option<u16>; 3] = [None; 3];
    let mut identity: Option<u16> = None;
    let mut any: Option<u16> = None;
    let mut present = false;
    for value in values {
        present = true;
        for entry in value.split(',') {
            let mut params = entry.split(';');
            let coding = params.next().unwrap_or("").trim();
            if coding.is_empty() {
                continue;
            }
            let mut weight = 1000;
            for param in params {
                let Some((name, q)) = param.split_once('=') else {
                    continue;
                };
                if name.trim().eq_ignore_ascii_case("q") {
                    weight = qvalue(q.trim()).unwrap_or(0);
                }
            }
            let slot =
                if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                    &mut explicit[Coding::Gzip.index()]
                } else if coding.eq_ignore_ascii_case("br") {
                    &mut explicit[Coding::Br.index()]
                } else if coding.eq_ignore_ascii_case("zstd") {
                    &mut explicit[Coding::Zstd.index()]
                } else if coding.eq_ignore_ascii_case("identity") {
                    &mut identity
                } else if coding == "*" {
                    &mut any
                } else {
                    continue;
                };
            *slot = Some(slot.map_or(weight, |w| w.max(weight)));
        }
    }
    if !present {
        return Accepted::NONE;
    }
    let mut weights = [0; 3];
    for (weight, named) in weights.iter_mut().zip(explicit) {
        *weight = named.or(any).unwrap_or(0);
    }
    Accepted {
        weights,
        identity: identity.or(any).is_none_or(|w| w > 0),
    }
}

/// Whether a request whose `Accept-Encoding` fields are `values` accepts the `gzip` coding.
pub fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    accepted(values).weight(Coding::Gzip) > 0
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths; None when
/// malformed.
fn qvalue(q: &str) -> Option<u16> {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
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

    fn best(values: &[&str]) -> Option<Coding> {
        accepted(values.iter().copied()).best(|_| true)
    }

    #[test]
    fn the_heaviest_acceptable_coding_wins_and_ties_go_to_zstd_then_br_then_gzip() {
        let table: &[(&[&str], Option<Coding>)] = &[
            (&["gzip, deflate, br, zstd"], Some(Coding::Zstd)),
            (&["gzip, br"], Some(Coding::Br)),
            (&["br;q=0.5, gzip"], Some(Coding::Gzip)),
            (&["zstd;q=0.1, br;q=0.2, gzip;q=0.3"], Some(Coding::Gzip)),
            (&["zstd;q=0.9, br;q=0.9"], Some(Coding::Zstd)),
            (&["*"], Some(Coding::Zstd)),
            (&["*;q=0.5, gzip"], Some(Coding::Gzip)),
            (&["*, zstd;q=0"], Some(Coding::Br)),
            (&["*, zstd;q=0, br;q=0"], Some(Coding::Gzip)),
            (&["BR"], Some(Coding::Br)),
            (&["ZSTD ; q=0.001"], Some(Coding::Zstd)),
            (&["br;q=1.0"], Some(Coding::Br)),
            (&["br;q=1.5"], None),
            (&["br;q=-1"], None),
            (&["br;q=0.5.5"], None),
            (&["br;q=.5"], None),
            (&["br;q=1.001"], None),
            (&["identity"], None),
            (&["compress, deflate"], None),
            (&[], None),
            (&[""], None),
            (&[",,, ;;; ,"], None),
            (&["br, br;q=0"], Some(Coding::Br)),
            (&["gzip", "br"], Some(Coding::Br)),
        ];
        for (values, expected) in table {
            assert_eq!(best(values), *expected, "{values:?}");
        }
    }

    #[test]
    fn identity_is_refused_only_by_name_or_by_star_without_a_name() {
        let table: &[(&[&str], bool)] = &[
            (&[], true),
            (&[""], true),
            (&["gzip"], true),
            (&["identity;q=0"], false),
            (&["identity;q=0.000, gzip"], false),
            (&["*;q=0"], false),
            (&["*;q=0, identity"], true),
            (&["*;q=0, identity;q=0.5"], true),
            (&["identity;q=abc"], false),
            (&["*"], true),
        ];
        for (values, expected) in table {
            assert_eq!(
                accepted(values.iter().copied()).identity,
                *expected,
                "{values:?}"
            );
        }
    }

    #[test]
    fn only_the_codings_offered_are_chosen() {
        let accepted = accepted(["zstd, br;q=0.8, gzip;q=0.5"]);
        assert_eq!(accepted.best(|c| c != Coding::Zstd), Some(Coding::Br));
        assert_eq!(accepted.best(|c| c == Coding::Gzip), Some(Coding::Gzip));
        assert_eq!(accepted.best(|_| false), None);
    }

    #[test]
    fn q_values_are_read_to_the_thousandth() {
        for (text, expected) in [
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.005", Some(5)),
            ("0.999", Some(999)),
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("1.0001", None),
            ("2", None),
            ("01", None),
            ("", None),
            ("0.x", None),
            ("+1", None),
        ] {
            assert_eq!(qvalue(text), expected, "{text:?}");
        }
    }

    #[test]
    fn a_huge_or_hostile_list_is_read_whole_and_decides_by_its_entries() {
        let mut long = "x-unknown;q=0.5, ".repeat(5_000);
        long.push_str("br;q=0.2");
        assert_eq!(best(&[&long]), Some(Coding::Br));
        let garbage = "\u{0}\u{1};;==,=;q=;q,q=q,,;=,\u{7f}";
        assert_eq!(best(&[garbage]), None);
        assert!(accepted([garbage]).identity);
        // Every split of a list, read as two fields of one request, means what the whole does
        // when the split falls between entries.
        let list = "zstd;q=0.3, br;q=0.7, gzip;q=0.5, identity;q=0";
        for (i, _) in list.match_indices(',') {
            let (a, b) = list.split_at(i);
            assert_eq!(accepted([a, &b[1..]]), accepted([list]), "{a:?} {b:?}");
        }
    }
}
