//! The Huffman code of HPACK (RFC 7541 §5.2 and Appendix B): encoding, and decoding by a
//! table-driven machine that takes four bits at a step.
//!
//! The decoding machine is built at compile time from the code table. Its states are the
//! internal nodes of the code tree (256 of them, the root is state 0); from each state, each
//! nibble leads to a next state and emits at most one symbol (the shortest code has 5 bits).
//! A string is valid when it ends in a state that is the root or lies on the all-ones path at
//! most 7 bits deep (padding is a prefix of EOS, shorter than a byte), and EOS itself is
//! never decoded.

use super::tables::HUFFMAN_CODES;

/// Internal nodes of the code tree: 257 leaves make 256.
const STATES: usize = 256;
/// A child in the tree: an internal node index, or a leaf (the symbol with this bit set).
const LEAF: u16 = 0x8000;

/// What one nibble does from one state.
#[derive(Clone, Copy)]
struct Step {
    next: u8,
    symbol: u8,
    kind: u8,
}

const NOTHING: u8 = 0;
const EMIT: u8 = 1;
const FAIL: u8 = 2;

struct Machine {
    steps: [[Step; 16]; STATES],
    /// Whether a string may end in this state.
    accepting: [bool; STATES],
}

const fn build_tree() -> ([[u16; 2]; STATES], [bool; STATES]) {
    let mut children = [[0u16; 2]; STATES];
    // A node on the all-ones path at most 7 bits deep (the root included).
    let mut accepting = [false; STATES];
    accepting[0] = true;
    let mut used = 1;
    let mut symbol = 0;
    while symbol < HUFFMAN_CODES.len() {
        let (code, length) = HUFFMAN_CODES[symbol];
        let mut node = 0usize;
        let mut depth = 0u8;
        let mut ones = true;
        while depth < length {
            let bit = ((code >> (length - 1 - depth)) & 1) as usize;
            ones = ones && bit == 1;
            depth += 1;
            if depth == length {
                children[node][bit] = LEAF | symbol as u16;
            } else {
                if children[node][bit] == 0 {
                    children[node][bit] = used as u16;
                    accepting[used] = ones && depth <= 7;
                    used += 1;
                }
                node = children[node][bit] as usize;
            }
        }
        symbol += 1;
    }
    (children, accepting)
}

const fn build_machine() -> Machine {
    let (children, accepting) = build_tree();
    let mut steps = [[Step {
        next: 0,
        symbol: 0,
        kind: NOTHING,
    }; 16]; STATES];
    let mut state = 0;
    while state < STATES {
        let mut nibble = 0;
        while nibble < 16 {
            let mut node = state;
            let mut kind = NOTHING;
            let mut symbol = 0u8;
            let mut bit = 0;
            while bit < 4 {
                let b = (nibble >> (3 - bit)) & 1;
                let child = children[node][b];
                if child & LEAF != 0 {
                    let s = child & !LEAF;
                    if s == 256 {
                        kind = FAIL;
                    } else if kind == NOTHING {
                        kind = EMIT;
                        symbol = s as u8;
                    }
                    node = 0;
                } else {
                    node = child as usize;
                }
                bit += 1;
            }
            steps[state][nibble] = Step {
                next: node as u8,
                symbol,
                kind,
            };
            nibble += 1;
        }
        state += 1;
    }
    Machine { steps, accepting }
}

static MACHINE: Machine = build_machine();

/// The string is not a valid Huffman encoding: EOS inside, padding longer than 7 bits, or
/// padding that is not all ones.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidHuffman;

/// Decodes `input`, appending the symbols to `out`.
pub fn decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), InvalidHuffman> {
    // Every 5 bits give at most one symbol.
    out.reserve(input.len() * 8 / 5);
    let mut state = 0usize;
    for &byte in input {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = MACHINE.steps[state][nibble as usize];
            match step.kind {
                EMIT => out.push(step.symbol),
                FAIL => return Err(InvalidHuffman),
                _ => {}
            }
            state = step.next as usize;
        }
    }
    if MACHINE.accepting[state] {
        Ok(())
    } else {
        Err(InvalidHuffman)
    }
}

/// The length of `input` once Huffman-encoded, in bytes.
pub fn encoded_len(input: &[u8]) -> usize {
    let bits: usize = input
        .iter()
        .map(|&b| HUFFMAN_CODES[b as usize].1 as usize)
        .sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `input` to `out`, padded with the high bits of EOS.
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(encoded_len(input));
    let mut pending: u64 = 0;
    let mut bits: u32 = 0;
    for &b in input {
        let (code, length) = HUFFMAN_CODES[b as usize];
        pending = (pending << length) | u64::from(code);
        bits += u32::from(length);
        while bits >= 8 {
            bits -= 8;
            out.push((pending >> bits) as u8);
        }
    }
    if bits > 0 {
        let pad = 8 - bits;
        out.push(((pending << pad) | ((1 << pad) - 1)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn decoded(input: &[u8]) -> Result<Vec<u8>, InvalidHuffman> {
        let mut out = Vec::new();
        decode(input, &mut out).map(|()| out)
    }

    // RFC 7541 Appendix C.4 and C.6: the Huffman-coded strings of the examples.
    const VECTORS: &[(&str, &str)] = &[
        ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
        ("no-cache", "a8eb 1064 9cbf"),
        ("custom-key", "25a8 49e9 5ba9 7d7f"),
        ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
        ("302", "6402"),
        ("private", "aec3 771a 4b"),
        (
            "Mon, 21 Oct 2013 20:13:21 GMT",
            "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
        ),
        (
            "https://www.example.com",
            "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
        ),
        (
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ),
    ];

    #[test]
    fn rfc7541_appendix_c_strings_encode_and_decode() {
        for (plain, coded) in VECTORS {
            let coded = hex(coded);
            let mut out = Vec::new();
            encode(plain.as_bytes(), &mut out);
            assert_eq!(out, coded, "encoding {plain}");
            assert_eq!(encoded_len(plain.as_bytes()), coded.len());
            assert_eq!(
                decoded(&coded).unwrap(),
                plain.as_bytes(),
                "decoding {plain}"
            );
        }
    }

    #[test]
    fn the_empty_string_is_valid() {
        assert_eq!(decoded(&[]).unwrap(), b"");
    }

    #[test]
    fn padding_longer_than_seven_bits_is_rejected() {
        // 'a' is 00011 (5 bits): then a whole byte of ones is padding of 11 bits.
        assert_eq!(decoded(&[0b0001_1111, 0xff]), Err(InvalidHuffman));
        // A whole byte of padding on its own.
        assert_eq!(decoded(&[0xff]), Err(InvalidHuffman));
    }

    #[test]
    fn padding_that_is_not_a_prefix_of_eos_is_rejected() {
        // 'a' then 000: padding must be ones.
        assert_eq!(decoded(&[0b0001_1000]), Err(InvalidHuffman));
        // 'a' then 110 (a one-bit zero inside the padding).
        assert_eq!(decoded(&[0b0001_1110]), Err(InvalidHuffman));
    }

    #[test]
    fn eos_inside_a_string_is_rejected() {
        // EOS is 30 ones: four bytes of ones contain it.
        assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xff]), Err(InvalidHuffman));
        // 'a' (00011) then EOS, then padding.
        let mut bits: u64 = 0b00011;
        bits = (bits << 30) | 0x3fff_ffff;
        bits = (bits << 5) | 0b11111;
        let bytes = bits.to_be_bytes();
        assert_eq!(decoded(&bytes[3..]), Err(InvalidHuffman));
    }

    #[test]
    fn every_symbol_alone_round_trips() {
        for b in 0..=255u8 {
            let mut out = Vec::new();
            encode(&[b], &mut out);
            assert_eq!(decoded(&out).unwrap(), [b]);
        }
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut out = Vec::new();
            encode(&input, &mut out);
            prop_assert_eq!(out.len(), encoded_len(&input));
            prop_assert_eq!(decoded(&out).unwrap(), input);
        }

        #[test]
        fn decoding_any_bytes_never_panics(input in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decoded(&input);
        }
    }
}
