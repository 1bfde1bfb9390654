//! HPACK (RFC 7541), the header compression of HTTP/2: a decoder for the client's header blocks
//! and an encoder for ours, each with its own dynamic table, and no I/O.
//!
//! Written here rather than taken from a crate because the server needs three things a crate
//! would have to be checked for anyway: every decoding error of RFC 7541 reported (bad
//! indexes, misplaced or oversized table size updates, Huffman padding and EOS), a decoder whose
//! work and memory are bounded by the block it is given (fields are handed to a callback as
//! borrowed slices, nothing accumulates), and an encoder whose indexing policy the server
//! chooses.
//!
//! Limits: the decoder's table is at most the size we advertise (4096 octets, the default of
//! SETTINGS_HEADER_TABLE_SIZE); the encoder's at most [`ENCODER_TABLE_SIZE`] and never more
//! than the client allows. Integers past 2^32 are refused.

mod decoder;
mod encoder;
pub mod huffman;
mod table;
mod tables;

pub use decoder::Decoder;
pub use encoder::{ENCODER_TABLE_SIZE, Encoder, Indexing};
pub use table::{ENTRY_OVERHEAD, static_range};

/// A header block that cannot be decoded: a COMPRESSION_ERROR of the whole connection
/// (RFC 9113 §4.3), since the two sides' tables can no longer agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpackError {
    /// The block ends inside a representation.
    Truncated,
    /// An integer larger than 2^32 - 1, or with too many continuation octets.
    IntegerOverflow,
    /// Index 0, or past the end of the static and dynamic tables.
    InvalidIndex,
    /// A string literal that is not valid Huffman code.
    InvalidHuffman,
    /// A dynamic table size update after the first field of the block.
    LateSizeUpdate,
    /// A dynamic table size update larger than the size we allow.
    SizeUpdateTooLarge,
}

/// Reads an integer with an `prefix`-bit prefix (RFC 7541 §5.1) at `*pos`.
fn read_integer(block: &[u8], pos: &mut usize, prefix: u8) -> Result<usize, HpackError> {
    let mask = (1u32 << prefix) - 1;
    let first = *block.get(*pos).ok_or(HpackError::Truncated)?;
    *pos += 1;
    let mut value = u64::from(first) & u64::from(mask);
    if value < u64::from(mask) {
        return Ok(value as usize);
    }
    let mut shift = 0u32;
    loop {
        let byte = *block.get(*pos).ok_or(HpackError::Truncated)?;
        *pos += 1;
        value += u64::from(byte & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(HpackError::IntegerOverflow);
        }
        if byte & 0x80 == 0 {
            return Ok(value as usize);
        }
        shift += 7;
        if shift > 28 {
            return Err(HpackError::IntegerOverflow);
        }
    }
}

/// Appends an integer with an `prefix`-bit prefix; `flags` holds the bits above the prefix.
#[inline]
fn write_integer(out: &mut Vec<u8>, flags: u8, prefix: u8, value: usize) {
    let mask = (1usize << prefix) - 1;
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7541_c1_integer_examples() {
        // C.1.1: 10 with a 5-bit prefix.
        let mut out = Vec::new();
        write_integer(&mut out, 0, 5, 10);
        assert_eq!(out, [0b01010]);
        // C.1.2: 1337 with a 5-bit prefix.
        out.clear();
        write_integer(&mut out, 0, 5, 1337);
        assert_eq!(out, [0b11111, 0b1001_1010, 0b0000_1010]);
        let mut pos = 0;
        assert_eq!(read_integer(&out, &mut pos, 5), Ok(1337));
        assert_eq!(pos, 3);
        // C.1.3: 42 at an octet boundary.
        out.clear();
        write_integer(&mut out, 0, 8, 42);
        assert_eq!(out, [42]);
    }

    #[test]
    fn integers_round_trip_at_every_prefix() {
        for prefix in 1..=8u8 {
            for value in [
                0usize,
                1,
                30,
                31,
                126,
                127,
                128,
                254,
                255,
                256,
                1 << 20,
                u32::MAX as usize,
            ] {
                let mut out = Vec::new();
                write_integer(&mut out, 0, prefix, value);
                let mut pos = 0;
                assert_eq!(read_integer(&out, &mut pos, prefix), Ok(value));
                assert_eq!(pos, out.len());
            }
        }
    }

    #[test]
    fn oversized_or_unterminated_integers_are_refused() {
        let mut pos = 0;
        assert_eq!(
            read_integer(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f], &mut pos, 5),
            Err(HpackError::IntegerOverflow)
        );
        let mut pos = 0;
        assert_eq!(
            read_integer(
                &[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
                &mut pos,
                5
            ),
            Err(HpackError::IntegerOverflow)
        );
        let mut pos = 0;
        assert_eq!(
            read_integer(&[0x1f, 0x80], &mut pos, 5),
            Err(HpackError::Truncated)
        );
        let mut pos = 0;
        assert_eq!(read_integer(&[], &mut pos, 5), Err(HpackError::Truncated));
    }
}
