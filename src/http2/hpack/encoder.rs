//! The HPACK encoder: fields in, one header block out, with a dynamic table of its own.
//!
//! Policy: a field found whole in a table is sent as an index; otherwise it is sent as a literal
//! (Huffman-coded when that is shorter) and added to the table when [`Indexing::Index`] says
//! so and the entry takes at most a quarter of the table, so that one large value cannot push
//! out every small repeated one. Sensitive fields are sent never-indexed (RFC 7541 §7.1.3).

use super::table::{DynamicTable, ENTRY_OVERHEAD};
use super::{huffman, write_integer};

/// The largest dynamic table the encoder keeps, whatever the client allows: the protocol's
/// default, enough for the fields a server repeats (server, content-type, date...).
pub const ENCODER_TABLE_SIZE: usize = 4096;

/// How a field may be remembered by the two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// Added to the table when it fits the policy.
    Index,
    /// Sent as a literal, never added.
    NoIndex,
    /// Sent as a literal that intermediaries must not index either (credentials, cookies).
    Never,
}

pub struct Encoder {
    table: DynamicTable,
    /// The size to announce at the start of the next block, after the client changed its
    /// SETTINGS_HEADER_TABLE_SIZE (§4.2): the smallest size it went through, then the final.
    pending_update: Option<(usize, usize)>,
    /// Whole fields found lately in the dynamic table, for names of the static table: (the
    /// name's static index, the field's address). Valid while the table has not changed since
    /// (`recent_at`); a field that repeats (server, content-type) is then one comparison with
    /// the entry at its address instead of a search.
    recent: [(usize, usize); RECENT],
    recent_at: u64,
    next_recent: usize,
}

/// How many recent whole fields are remembered.
const RECENT: usize = 4;

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder {
            table: DynamicTable::new(ENCODER_TABLE_SIZE),
            pending_update: None,
            recent: [(0, 0); RECENT],
            recent_at: 0,
            next_recent: 0,
        }
    }

    /// The client's SETTINGS_HEADER_TABLE_SIZE changed: our table follows it (up to
    /// [`ENCODER_TABLE_SIZE`]) and the change is announced in the next block.
    pub fn set_peer_limit(&mut self, limit: u32) {
        let size = (limit as usize).min(ENCODER_TABLE_SIZE);
        if size == self.table.capacity() && self.pending_update.is_none() {
            return;
        }
        let smallest = match self.pending_update {
            Some((smallest, _)) => smallest.min(size),
            None => size.min(self.table.capacity()),
        };
        self.table.set_capacity(size);
        self.pending_update = Some((smallest, size));
    }

    /// Starts a block: the pending table size updates, if any, come first.
    pub fn begin_block(&mut self, out: &mut Vec<u8>) {
        if let Some((smallest, last)) = self.pending_update.take() {
            if smallest < last {
                write_integer(out, 0x20, 5, smallest);
            }
            write_integer(out, 0x20, 5, last);
        }
    }

    /// Appends one field. The name must already be lower-case (RFC 9113 §8.2.1).
    pub fn encode(&mut self, name: &[u8], value: &[u8], indexing: Indexing, out: &mut Vec<u8>) {
        self.encode_in(name, super::table::static_range(name), value, indexing, out);
    }

    /// [`Encoder::encode`] for a name whose static-table range (`static_range(name)`) the
    /// caller knows already (a field name it sends often): no lookup of the name.
    pub fn encode_in(
        &mut self,
        name: &[u8],
        range: Option<(usize, usize)>,
        value: &[u8],
        indexing: Indexing,
        out: &mut Vec<u8>,
    ) {
        if indexing != Indexing::Index
            && let Some((name_index, _)) = range
        {
            // A field never indexed, with a name in the static table: that name, the value as
            // a raw literal. Such values change from response to response (lengths,
            // validators), so neither the dynamic table nor Huffman coding (about 30
            // instructions an octet, to save a quarter of them) pays for itself.
            let flags = if indexing == Indexing::Never {
                0x10
            } else {
                0x00
            };
            write_integer(out, flags, 4, name_index);
            write_integer(out, 0x00, 7, value.len());
            out.extend_from_slice(value);
            return;
        }
        let static_name = range.map_or(0, |(first, _)| first);
        if indexing == Indexing::Index
            && static_name != 0
            && let Some(index) = self.recent_match(static_name, value)
        {
            write_integer(out, 0x80, 7, index);
            return;
        }
        let found = if indexing == Indexing::Never {
            self.table
                .find_in(name, range, b"\0")
                .filter(|(_, whole)| !whole)
        } else {
            self.table.find_in(name, range, value)
        };
        if let Some((index, true)) = found {
            if static_name != 0 && index > 61 {
                self.remember(static_name, index);
            }
            write_integer(out, 0x80, 7, index);
            return;
        }
        let name_index = found.map_or(0, |(index, _)| index);
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        let (flags, prefix, add) = match indexing {
            Indexing::Index if size <= self.table.capacity() / 4 => (0x40, 6, true),
            Indexing::Index | Indexing::NoIndex => (0x00, 4, false),
            Indexing::Never => (0x10, 4, false),
        };
        write_integer(out, flags, prefix, name_index);
        if name_index == 0 {
            write_string(name, out);
        }
        write_string(value, out);
        if add {
            self.table.insert(name, value);
        }
    }

    /// The address of a whole field found lately, if the table has not changed since and the
    /// entry there still has this value.
    fn recent_match(&self, static_name: usize, value: &[u8]) -> Option<usize> {
        if self.recent_at != self.table.changes() {
            return None;
        }
        self.recent.iter().find_map(|&(name, index)| {
            (name == static_name && self.table.get(index).is_some_and(|(_, v)| v == value))
                .then_some(index)
        })
    }

    /// Remembers where a whole field was found (forgetting what was found before the table's
    /// last change).
    fn remember(&mut self, static_name: usize, index: usize) {
        if self.recent_at != self.table.changes() {
            self.recent = [(0, 0); RECENT];
            self.recent_at = self.table.changes();
        }
        self.recent[self.next_recent] = (static_name, index);
        self.next_recent = (self.next_recent + 1) % RECENT;
    }

    /// Appends `:status` (from the static table when it is there).
    pub fn encode_status(&mut self, status: u16, out: &mut Vec<u8>) {
        let index = match status {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => 0,
        };
        if index != 0 {
            out.push(0x80 | index);
            return;
        }
        let digits = [
            b'0' + (status / 100 % 10) as u8,
            b'0' + (status / 10 % 10) as u8,
            b'0' + (status % 10) as u8,
        ];
        // Index 8 names :status; without indexing, as these are rare.
        write_integer(out, 0x00, 4, 8);
        write_string(&digits, out);
    }
}

/// A string literal (§5.2), Huffman-coded when that is shorter.
fn write_string(s: &[u8], out: &mut Vec<u8>) {
    let coded = huffman::encoded_len(s);
    if coded < s.len() {
        write_integer(out, 0x80, 7, coded);
        huffman::encode(s, out);
    } else {
        write_integer(out, 0x00, 7, s.len());
        out.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Decoder;
    use super::*;
    use proptest::prelude::*;

    fn decode(decoder: &mut Decoder, block: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut fields = Vec::new();
        decoder
            .decode(block, |n, v| fields.push((n.to_vec(), v.to_vec())))
            .unwrap();
        fields
    }

    #[test]
    fn rfc7541_c6_first_response_is_encoded_as_in_the_example() {
        // C.6.1 with a 256-octet table: every field Huffman-coded and indexed.
        let mut e = Encoder::new();
        e.set_peer_limit(256);
        let mut out = Vec::new();
        e.begin_block(&mut out);
        // The size update comes first here (the example has none: its table starts at 256).
        assert_eq!(out, [0x3f, 0xe1, 0x01]);
        out.clear();
        e.encode_status(302, &mut out);
        assert_eq!(out, [0x08, 0x82, 0x64, 0x02]);
    }

    #[test]
    fn repeated_fields_become_one_octet_indexes() {
        let mut e = Encoder::new();
        let mut d = Decoder::new(4096);
        for round in 0..3 {
            let mut out = Vec::new();
            e.begin_block(&mut out);
            e.encode_status(200, &mut out);
            e.encode(b"server", b"webserv", Indexing::Index, &mut out);
            e.encode(b"content-type", b"text/html", Indexing::Index, &mut out);
            if round > 0 {
                assert_eq!(out.len(), 3, "round {round}: {out:x?}");
            }
            let fields = decode(&mut d, &out);
            assert_eq!(fields[1], (b"server".to_vec(), b"webserv".to_vec()));
            assert_eq!(fields[2], (b"content-type".to_vec(), b"text/html".to_vec()));
        }
    }

    #[test]
    fn statuses_outside_the_static_table_are_literals() {
        let mut e = Encoder::new();
        let mut d = Decoder::new(4096);
        for status in [100, 200, 201, 301, 302, 304, 403, 404, 413, 500, 502, 599] {
            let mut out = Vec::new();
            e.encode_status(status, &mut out);
            let fields = decode(&mut d, &out);
            assert_eq!(
                fields,
                [(b":status".to_vec(), status.to_string().into_bytes())]
            );
        }
    }

    #[test]
    fn never_indexed_fields_are_not_remembered() {
        let mut e = Encoder::new();
        let mut out = Vec::new();
        e.encode(b"set-cookie", b"a=1", Indexing::Never, &mut out);
        assert_eq!(out[0] & 0xf0, 0x10);
        let mut again = Vec::new();
        e.encode(b"set-cookie", b"a=1", Indexing::Never, &mut again);
        assert_eq!(out, again);
    }

    #[test]
    fn a_client_table_of_zero_is_announced_and_followed() {
        let mut e = Encoder::new();
        let mut d = Decoder::new(4096);
        let mut out = Vec::new();
        e.begin_block(&mut out);
        e.encode(b"x-a", b"1", Indexing::Index, &mut out);
        decode(&mut d, &out);
        assert_eq!(d.table_size(), 36);
        e.set_peer_limit(0);
        let mut out = Vec::new();
        e.begin_block(&mut out);
        assert_eq!(out, [0x20]);
        e.encode(b"x-a", b"1", Indexing::Index, &mut out);
        decode(&mut d, &out);
        assert_eq!(d.table_size(), 0);
    }

    #[test]
    fn a_shrink_then_grow_announces_the_smallest_size_first() {
        let mut e = Encoder::new();
        e.set_peer_limit(100);
        e.set_peer_limit(4096);
        let mut out = Vec::new();
        e.begin_block(&mut out);
        let mut d = Decoder::new(4096);
        decode(&mut d, &out);
        assert_eq!(out[0], 0x3f); // 100 = 31 + 69
        assert_eq!(out[1], 69);
    }

    proptest! {
        #[test]
        fn fields_of_static_names_round_trip_as_the_table_moves_and_evicts(
            blocks in proptest::collection::vec(
                proptest::collection::vec(
                    (prop_oneof![Just("server"), Just("content-type"), Just("vary"),
                                 Just("accept-ranges"), Just("x-other")],
                     prop_oneof![Just("a"), Just("b"), Just("text/html"), Just("webserv")]),
                    0..6,
                ),
                1..12,
            ),
            limits in proptest::collection::vec(prop_oneof![Just(None), (0..300u32).prop_map(Some)], 12),
        ) {
            let mut e = Encoder::new();
            let mut d = Decoder::new(4096);
            for (fields, limit) in blocks.iter().zip(limits) {
                if let Some(limit) = limit {
                    e.set_peer_limit(limit);
                }
                let mut out = Vec::new();
                e.begin_block(&mut out);
                for (name, value) in fields {
                    e.encode(name.as_bytes(), value.as_bytes(), Indexing::Index, &mut out);
                }
                let decoded = decode(&mut d, &out);
                let expected: Vec<_> = fields
                    .iter()
                    .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                    .collect();
                prop_assert_eq!(decoded, expected);
            }
        }

        #[test]
        fn any_fields_round_trip_through_both_tables(
            blocks in proptest::collection::vec(
                proptest::collection::vec(
                    ("[a-z-]{1,12}", proptest::collection::vec(any::<u8>(), 0..40), 0..3u8),
                    0..8,
                ),
                1..6,
            ),
            limits in proptest::collection::vec(prop_oneof![Just(None), (0..5000u32).prop_map(Some)], 6),
        ) {
            let mut e = Encoder::new();
            let mut d = Decoder::new(4096);
            for (fields, limit) in blocks.iter().zip(limits) {
                if let Some(limit) = limit {
                    e.set_peer_limit(limit);
                }
                let mut out = Vec::new();
                e.begin_block(&mut out);
                for (name, value, how) in fields {
                    let how = [Indexing::Index, Indexing::NoIndex, Indexing::Never][*how as usize];
                    e.encode(name.as_bytes(), value, how, &mut out);
                }
                let decoded = decode(&mut d, &out);
                let expected: Vec<_> = fields.iter().map(|(n, v, _)| (n.as_bytes().to_vec(), v.clone())).collect();
                prop_assert_eq!(decoded, expected);
            }
        }
    }
}
