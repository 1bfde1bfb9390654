//! The HPACK decoder: one complete header block in, its fields handed one by one to a callback.

use super::huffman;
use super::table::DynamicTable;
use super::{HpackError, read_integer};

pub struct Decoder {
    table: DynamicTable,
    /// The largest table the encoder may ask for: our SETTINGS_HEADER_TABLE_SIZE.
    max_capacity: usize,
    /// Huffman-decoded names and values, reused from block to block.
    name_scratch: Vec<u8>,
    value_scratch: Vec<u8>,
}

/// Where a literal's name comes from.
enum Name {
    Indexed(usize),
    Literal,
}

impl Decoder {
    /// A decoder whose table may grow to `max_capacity` octets (and starts at that size, as
    /// RFC 7541 §4.2 has it: the initial size is the SETTINGS value).
    pub fn new(max_capacity: usize) -> Decoder {
        Decoder {
            table: DynamicTable::new(max_capacity),
            max_capacity,
            name_scratch: Vec::new(),
            value_scratch: Vec::new(),
        }
    }

    /// The dynamic table's current size in octets, by the RFC's count.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Decodes one whole header block, calling `field(name, value)` for each field in order.
    /// On an error the table may have been changed by the fields before it: the connection
    /// cannot go on.
    pub fn decode(
        &mut self,
        block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), HpackError> {
        let mut pos = 0;
        let mut fields_seen = false;
        while let Some(&first) = block.get(pos) {
            if first & 0x80 != 0 {
                // §6.1 Indexed Header Field.
                let index = read_integer(block, &mut pos, 7)?;
                let (name, value) = self.table.get(index).ok_or(HpackError::InvalidIndex)?;
                field(name, value);
                fields_seen = true;
            } else if first & 0xc0 == 0x40 {
                // §6.2.1 Literal Header Field with Incremental Indexing.
                let name = self.read_name(block, &mut pos, 6)?;
                self.literal(block, &mut pos, name, &mut field, true)?;
                fields_seen = true;
            } else if first & 0xe0 == 0x20 {
                // §6.3 Dynamic Table Size Update: only at the start of a block (§4.2).
                if fields_seen {
                    return Err(HpackError::LateSizeUpdate);
                }
                let size = read_integer(block, &mut pos, 5)?;
                if size > self.max_capacity {
                    return Err(HpackError::SizeUpdateTooLarge);
                }
                self.table.set_capacity(size);
            } else {
                // §6.2.2 without indexing (0000), §6.2.3 never indexed (0001).
                let name = self.read_name(block, &mut pos, 4)?;
                self.literal(block, &mut pos, name, &mut field, false)?;
                fields_seen = true;
            }
        }
        Ok(())
    }

    fn read_name(&self, block: &[u8], pos: &mut usize, prefix: u8) -> Result<Name, HpackError> {
        match read_integer(block, pos, prefix)? {
            0 => Ok(Name::Literal),
            index if self.table.get(index).is_some() => Ok(Name::Indexed(index)),
            _ => Err(HpackError::InvalidIndex),
        }
    }

    /// The rest of a literal field (§6.2): the name if literal, then the value; the field is
    /// handed on and, with `index`, added to the table.
    fn literal(
        &mut self,
        block: &[u8],
        pos: &mut usize,
        name: Name,
        field: &mut impl FnMut(&[u8], &[u8]),
        index: bool,
    ) -> Result<(), HpackError> {
        let Decoder {
            table,
            name_scratch,
            value_scratch,
            ..
        } = self;
        if index {
            // The name may live in the table and be evicted by this very insertion (§4.4):
            // it is copied out first.
            let name: &[u8] = match name {
                Name::Literal => read_string(block, pos, name_scratch)?,
                Name::Indexed(i) => {
                    name_scratch.clear();
                    name_scratch
                        .extend_from_slice(table.get(i).map(|(n, _)| n).unwrap_or_default());
                    &name_scratch[..]
                }
            };
            let value = read_string(block, pos, value_scratch)?;
            field(name, value);
            table.insert(name, value);
        } else {
            let name: &[u8] = match name {
                Name::Literal => read_string(block, pos, name_scratch)?,
                Name::Indexed(i) => table.get(i).map(|(n, _)| n).unwrap_or_default(),
            };
            let value = read_string(block, pos, value_scratch)?;
            field(name, value);
        }
        Ok(())
    }
}

/// Reads a string literal (§5.2): the octets themselves when raw, else Huffman-decoded into
/// `scratch`.
fn read_string<'a>(
    block: &'a [u8],
    pos: &mut usize,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], HpackError> {
    let huffman_coded = block.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let length = read_integer(block, pos, 7)?;
    let end = pos
        .checked_add(length)
        .filter(|end| *end <= block.len())
        .ok_or(HpackError::Truncated)?;
    let raw = &block[*pos..end];
    *pos = end;
    if huffman_coded {
        scratch.clear();
        huffman::decode(raw, scratch).map_err(|_| HpackError::InvalidHuffman)?;
        Ok(&scratch[..])
    } else {
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn decode_all(
        decoder: &mut Decoder,
        block: &[u8],
    ) -> Result<Vec<(String, String)>, HpackError> {
        let mut fields = Vec::new();
        decoder.decode(block, |n, v| {
            fields.push((
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            ))
        })?;
        Ok(fields)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rfc7541_c2_single_representations() {
        // C.2.1 literal with indexing.
        let mut d = Decoder::new(4096);
        let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        assert_eq!(
            decode_all(&mut d, &block).unwrap(),
            pairs(&[("custom-key", "custom-header")])
        );
        assert_eq!(d.table_size(), 55);
        // C.2.2 literal without indexing.
        let mut d = Decoder::new(4096);
        let block = hex("040c 2f73 616d 706c 652f 7061 7468");
        assert_eq!(
            decode_all(&mut d, &block).unwrap(),
            pairs(&[(":path", "/sample/path")])
        );
        assert_eq!(d.table_size(), 0);
        // C.2.3 never indexed.
        let mut d = Decoder::new(4096);
        let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
        assert_eq!(
            decode_all(&mut d, &block).unwrap(),
            pairs(&[("password", "secret")])
        );
        assert_eq!(d.table_size(), 0);
        // C.2.4 indexed.
        let mut d = Decoder::new(4096);
        assert_eq!(
            decode_all(&mut d, &hex("82")).unwrap(),
            pairs(&[(":method", "GET")])
        );
    }

    #[test]
    fn rfc7541_c3_requests_without_huffman() {
        let mut d = Decoder::new(4096);
        let first = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
        assert_eq!(
            decode_all(&mut d, &first).unwrap(),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com")
            ])
        );
        assert_eq!(d.table_size(), 57);
        let second = hex("8286 84be 5808 6e6f 2d63 6163 6865");
        assert_eq!(
            decode_all(&mut d, &second).unwrap(),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache")
            ])
        );
        assert_eq!(d.table_size(), 110);
        let third = hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65");
        assert_eq!(
            decode_all(&mut d, &third).unwrap(),
            pairs(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value")
            ])
        );
        assert_eq!(d.table_size(), 164);
    }

    #[test]
    fn rfc7541_c4_requests_with_huffman() {
        let mut d = Decoder::new(4096);
        let first = hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
        assert_eq!(
            decode_all(&mut d, &first).unwrap(),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com")
            ])
        );
        let second = hex("8286 84be 5886 a8eb 1064 9cbf");
        assert_eq!(decode_all(&mut d, &second).unwrap().len(), 5);
        let third = hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf");
        assert_eq!(
            decode_all(&mut d, &third).unwrap()[4],
            ("custom-key".to_string(), "custom-value".to_string())
        );
        assert_eq!(d.table_size(), 164);
    }

    /// C.5 and C.6: responses with a 256-octet table, so that entries are evicted.
    #[test]
    fn rfc7541_c5_c6_responses_evict_from_a_small_table() {
        for (blocks, huffman) in [
            (
                [
                    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                    "4803 3330 37c1 c0bf",
                    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
                ],
                false,
            ),
            (
                [
                    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                    "4883 640e ffc1 c0bf",
                    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                ],
                true,
            ),
        ] {
            let mut d = Decoder::new(256);
            let first = decode_all(&mut d, &hex(blocks[0])).unwrap();
            assert_eq!(
                first[0],
                (":status".to_string(), "302".to_string()),
                "huffman {huffman}"
            );
            assert_eq!(d.table_size(), 222);
            let second = decode_all(&mut d, &hex(blocks[1])).unwrap();
            assert_eq!(second[0], (":status".to_string(), "307".to_string()));
            assert_eq!(
                second[3],
                (
                    "location".to_string(),
                    "https://www.example.com".to_string()
                )
            );
            assert_eq!(d.table_size(), 222);
            let third = decode_all(&mut d, &hex(blocks[2])).unwrap();
            assert_eq!(
                third,
                pairs(&[
                    (":status", "200"),
                    ("cache-control", "private"),
                    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
                    ("location", "https://www.example.com"),
                    ("content-encoding", "gzip"),
                    (
                        "set-cookie",
                        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
                    ),
                ])
            );
            assert_eq!(d.table_size(), 215);
        }
    }

    #[test]
    fn index_zero_and_indexes_past_the_tables_are_errors() {
        let mut d = Decoder::new(4096);
        assert_eq!(decode_all(&mut d, &[0x80]), Err(HpackError::InvalidIndex));
        assert_eq!(decode_all(&mut d, &[0xbe]), Err(HpackError::InvalidIndex)); // 62, empty table
        // A literal whose indexed name is past the end.
        assert_eq!(
            decode_all(&mut d, &[0x7f, 0x00, 0x01, b'a']),
            Err(HpackError::InvalidIndex)
        );
    }

    #[test]
    fn a_size_update_is_only_allowed_before_the_first_field() {
        let mut d = Decoder::new(4096);
        // Two updates then a field: fine (§4.2 allows a minimum then a final size).
        assert_eq!(
            decode_all(&mut d, &[0x20, 0x3f, 0xe1, 0x1f, 0x82])
                .unwrap()
                .len(),
            1
        );
        // A field then an update.
        assert_eq!(
            decode_all(&mut d, &[0x82, 0x20]),
            Err(HpackError::LateSizeUpdate)
        );
    }

    #[test]
    fn a_size_update_above_the_advertised_size_is_an_error() {
        let mut d = Decoder::new(4096);
        // 4097 = 31 + 4066: 0x3f, 4066 = 0xe2 0x1f
        assert_eq!(
            decode_all(&mut d, &[0x3f, 0xe2, 0x1f]),
            Err(HpackError::SizeUpdateTooLarge)
        );
        let mut d = Decoder::new(4096);
        assert_eq!(decode_all(&mut d, &[0x3f, 0xe1, 0x1f]).unwrap().len(), 0);
    }

    #[test]
    fn a_size_update_to_zero_empties_the_table() {
        let mut d = Decoder::new(4096);
        decode_all(
            &mut d,
            &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
        )
        .unwrap();
        assert_eq!(d.table_size(), 55);
        decode_all(&mut d, &[0x20]).unwrap();
        assert_eq!(d.table_size(), 0);
        assert_eq!(decode_all(&mut d, &[0xbe]), Err(HpackError::InvalidIndex));
    }

    #[test]
    fn truncated_representations_are_errors() {
        let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        for cut in 1..block.len() {
            let mut d = Decoder::new(4096);
            assert_eq!(
                decode_all(&mut d, &block[..cut]),
                Err(HpackError::Truncated),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn bad_huffman_in_a_literal_is_an_error() {
        let mut d = Decoder::new(4096);
        // Literal without indexing, new name "a" (raw), value Huffman-coded 0xff (bad padding).
        assert_eq!(
            decode_all(&mut d, &[0x00, 0x01, b'a', 0x81, 0xff]),
            Err(HpackError::InvalidHuffman)
        );
    }

    #[test]
    fn an_indexed_name_evicted_by_its_own_insertion_is_kept() {
        // Table of 64 octets holding one entry "aaaa: bbbb" (40); a literal with indexing
        // naming entry 62 and a 20-octet value needs 56 octets: the old entry is evicted.
        let mut d = Decoder::new(64);
        decode_all(
            &mut d,
            &[0x40, 4, b'a', b'a', b'a', b'a', 4, b'b', b'b', b'b', b'b'],
        )
        .unwrap();
        let mut block = vec![0x7e, 20];
        block.extend_from_slice(&[b'v'; 20]);
        let fields = decode_all(&mut d, &block).unwrap();
        assert_eq!(fields[0].0, "aaaa");
        assert_eq!(
            decode_all(&mut d, &[0xbe]).unwrap()[0],
            ("aaaa".to_string(), "v".repeat(20))
        );
    }
}
