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
}

impl DynamicTable {
    pub fn new(capacity: usize) -> DynamicTable {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            capacity,
        }
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
        self.capacity = capacity;
        self.evict_to(capacity);
    }

    /// Adds an entry at the front, evicting the oldest ones to make room; an entry larger than
    /// the whole table empties it and is not added (§4.4).
    pub fn insert(&mut self, name: &[u8], value: &[u8]) {
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
    pub fn find(&self, name: &[u8], value: &[u8]) -> Option<(usize, bool)> {
        let mut name_only = None;
        for (i, (n, v)) in STATIC_TABLE.iter().enumerate() {
            if n.as_bytes() == name {
                if v.as_bytes() == value {
                    return Some((i + 1, true));
                }
                name_only.get_or_insert(i + 1);
            }
        }
        for (i, entry) in self.entries.iter().enumerate() {
            if &entry.name[..] == name {
                if &entry.value[..] == value {
                    return Some((i + 62, true));
                }
                name_only.get_or_insert(i + 62);
            }
        }
        name_only.map(|index| (index, false))
    }
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
