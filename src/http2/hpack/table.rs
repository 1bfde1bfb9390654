//! The dynamic table of HPACK (RFC 7541 §2.3.2 and §4): entries newest first, sized by the
//! RFC's rule (name + value + 32 octets each) and never larger than its capacity.

use super::tables::STATIC_TABLE;
use std::collections::VecDeque;

/// The size the RFC counts for one entry beyond its name and value (§4.1).
pub const ENTRY_OVERHEAD: usize = 32;

/// One remembered field.
struct Entry {
    name: Box<[u8]>,
    value: Box<[u8]>,
    /// The static table index of the name (its first), or 0: the encoder's search compares
    /// this number instead of the name's octets.
    static_name: usize,
}

impl Entry {
    fn size(&self) -> usize {
        self.name.len() + self.value.len() + ENTRY_OVERHEAD
    }
}

pub struct DynamicTable {
    /// Newest first: index 62 of the address space is `entries[0]`.
    entries: VecDeque<Entry>,
    size: usize,
    capacity: usize,
    /// Counts the changes of the addresses (insertions, evictions): an address found earlier
    /// still holds the same entry while this count is the same.
    changes: u64,
}

impl DynamicTable {
    pub fn new(capacity: usize) -> DynamicTable {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            capacity,
            changes: 0,
        }
    }

    /// See [`DynamicTable::changes`] (the field).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn size(&self) -> usize {
        self.size
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// A new maximum size: entries are evicted until the table fits (§4.3).
    pub fn set_capacity(&mut self, capacity: usize) {
        self.changes += 1;
        self.capacity = capacity;
        self.evict_to(capacity);
    }

    /// Adds an entry at the front, evicting the oldest ones to make room; an entry larger than
    /// the whole table empties it and is not added (§4.4).
    pub fn insert(&mut self, name: &[u8], value: &[u8]) {
        self.changes += 1;
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.capacity {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.capacity - size);
        self.entries.push_front(Entry {
            name: name.into(),
            value: value.into(),
            static_name: static_range(name).map_or(0, |(first, _)| first),
        });
        self.size += size;
    }

    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            match self.entries.pop_back() {
                Some(entry) => self.size -= entry.size(),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }

    /// The entry at `index` of the whole address space (§2.3.3): 1 to 61 are the static
    /// table, then this table, newest first. `None`: 0 or past the end.
    pub fn get(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match index {
            0 => None,
            1..=61 => {
                let (name, value) = STATIC_TABLE[index - 1];
                Some((name.as_bytes(), value.as_bytes()))
            }
            _ => self
                .entries
                .get(index - 62)
                .map(|entry| (&entry.name[..], &entry.value[..])),
        }
    }

    /// The address of an entry with this name and value, or failing that, of one with this
    /// name: `(index, whole entry matched)`. The static table is searched first.
    #[cfg(test)]
    pub fn find(&self, name: &[u8], value: &[u8]) -> Option<(usize, bool)> {
        self.find_in(name, static_range(name), value)
    }

    /// [`DynamicTable::find`] for a name whose static range (`static_range(name)`) the caller
    /// knows already.
    pub fn find_in(
        &self,
        name: &[u8],
        range: Option<(usize, usize)>,
        value: &[u8],
    ) -> Option<(usize, bool)> {
        let mut name_only = None;
        let static_name = range.map_or(0, |(first, _)| first);
        if let Some((first, last)) = range {
            for index in first..=last {
                if STATIC_TABLE[index - 1].1.as_bytes() == value {
                    return Some((index, true));
                }
            }
            name_only = Some(first);
        }
        for (i, entry) in self.entries.iter().enumerate() {
            let same_name = match static_name {
                0 => entry.static_name == 0 && &entry.name[..] == name,
                _ => entry.static_name == static_name,
            };
            if same_name {
                if &entry.value[..] == value {
                    return Some((i + 62, true));
                }
                name_only.get_or_insert(i + 62);
            }
        }
        name_only.map(|index| (index, false))
    }
}

/// The static table entries with this name, as an inclusive index range: one `match` instead
/// of a scan of the 61 entries.
pub fn static_range(name: &[u8]) -> Option<(usize, usize)> {
    Some(match name {
        b":authority" => (1, 1),
        b":method" => (2, 3),
        b":path" => (4, 5),
        b":scheme" => (6, 7),
        b":status" => (8, 14),
        b"accept-charset" => (15, 15),
        b"accept-encoding" => (16, 16),
        b"accept-language" => (17, 17),
        b"accept-ranges" => (18, 18),
        b"accept" => (19, 19),
        b"access-control-allow-origin" => (20, 20),
        b"age" => (21, 21),
        b"allow" => (22, 22),
        b"authorization" => (23, 23),
        b"cache-control" => (24, 24),
        b"content-disposition" => (25, 25),
        b"content-encoding" => (26, 26),
        b"content-language" => (27, 27),
        b"content-length" => (28, 28),
        b"content-location" => (29, 29),
        b"content-range" => (30, 30),
        b"content-type" => (31, 31),
        b"cookie" => (32, 32),
        b"date" => (33, 33),
        b"etag" => (34, 34),
        b"expect" => (35, 35),
        b"expires" => (36, 36),
        b"from" => (37, 37),
        b"host" => (38, 38),
        b"if-match" => (39, 39),
        b"if-modified-since" => (40, 40),
        b"if-none-match" => (41, 41),
        b"if-range" => (42, 42),
        b"if-unmodified-since" => (43, 43),
        b"last-modified" => (44, 44),
        b"link" => (45, 45),
        b"location" => (46, 46),
        b"max-forwards" => (47, 47),
        b"proxy-authenticate" => (48, 48),
        b"proxy-authorization" => (49, 49),
        b"range" => (50, 50),
        b"referer" => (51, 51),
        b"refresh" => (52, 52),
        b"retry-after" => (53, 53),
        b"server" => (54, 54),
        b"set-cookie" => (55, 55),
        b"strict-transport-security" => (56, 56),
        b"transfer-encoding" => (57, 57),
        b"user-agent" => (58, 58),
        b"vary" => (59, 59),
        b"via" => (60, 60),
        b"www-authenticate" => (61, 61),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_addressed_after_the_static_table_newest_first() {
        let mut table = DynamicTable::new(4096);
        table.insert(b"a", b"1");
        table.insert(b"b", b"2");
        assert_eq!(table.get(62), Some((&b"b"[..], &b"2"[..])));
        assert_eq!(table.get(63), Some((&b"a"[..], &b"1"[..])));
        assert_eq!(table.get(64), None);
        assert_eq!(table.get(0), None);
        assert_eq!(table.get(2), Some((&b":method"[..], &b"GET"[..])));
        assert_eq!(table.size(), 2 * 34);
    }

    #[test]
    fn the_oldest_entries_are_evicted_to_make_room() {
        let mut table = DynamicTable::new(100);
        table.insert(b"aaaa", b"1111"); // 40
        table.insert(b"bbbb", b"2222"); // 80
        table.insert(b"cccc", b"3333"); // 120 > 100: "a" goes
        assert_eq!(table.len(), 2);
        assert_eq!(table.get(63), Some((&b"bbbb"[..], &b"2222"[..])));
        assert_eq!(table.size(), 80);
    }

    #[test]
    fn an_entry_larger_than_the_table_empties_it() {
        let mut table = DynamicTable::new(64);
        table.insert(b"a", b"1");
        table.insert(&[b'x'; 40], b"");
        assert_eq!(table.len(), 0);
        assert_eq!(table.size(), 0);
    }

    #[test]
    fn a_smaller_capacity_evicts_and_zero_empties() {
        let mut table = DynamicTable::new(4096);
        table.insert(b"a", b"1");
        table.insert(b"b", b"2");
        table.set_capacity(34);
        assert_eq!(table.len(), 1);
        assert_eq!(table.get(62), Some((&b"b"[..], &b"2"[..])));
        table.set_capacity(0);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn the_static_name_index_agrees_with_the_static_table() {
        for (i, (name, _)) in STATIC_TABLE.iter().enumerate() {
            let (first, last) = static_range(name.as_bytes()).unwrap();
            assert!((first..=last).contains(&(i + 1)), "{name}");
            assert_eq!(STATIC_TABLE[first - 1].0, *name);
            assert_eq!(STATIC_TABLE[last - 1].0, *name);
        }
        assert_eq!(static_range(b"x-other"), None);
    }

    #[test]
    fn find_prefers_a_whole_match_then_a_name() {
        let mut table = DynamicTable::new(4096);
        assert_eq!(table.find(b":method", b"GET"), Some((2, true)));
        assert_eq!(table.find(b":method", b"PUT"), Some((2, false)));
        table.insert(b"x-a", b"1");
        assert_eq!(table.find(b"x-a", b"1"), Some((62, true)));
        assert_eq!(table.find(b"x-a", b"2"), Some((62, false)));
        assert_eq!(table.find(b"x-b", b"2"), None);
    }
}
