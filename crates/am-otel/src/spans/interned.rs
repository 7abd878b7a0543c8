//! Strings that repeat from one transition to the next — a mutation's label (`[add] Foo`),
//! a state diff (`+Foo -Bar`), a transition span's name — kept per machine and shared
//! (`Arc<str>`), so a span takes them without building them again.

use std::sync::Arc;

/// What a string was made from: a tag and up to 7 state indexes (in two lists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Key {
    tag: u8,
    split: u8,
    len: u8,
    ids: [u32; 7],
}

impl Key {
    /// `None` when the lists are too long to be worth keeping.
    pub(super) fn new(tag: u8, a: &[u32], b: &[u32]) -> Option<Key> {
        let len = a.len() + b.len();
        if len > 7 {
            return None;
        }
        let mut ids = [0; 7];
        ids[..a.len()].copy_from_slice(a);
        ids[a.len()..len].copy_from_slice(b);
        Some(Key { tag, split: a.len() as u8, len: len as u8, ids })
    }
}

/// The strings made last (a few dozen), oldest replaced first.
#[derive(Debug, Default)]
pub(super) struct Interned {
    entries: Vec<(Key, Arc<str>)>,
    next: usize,
}

const KEPT: usize = 32;

impl Interned {
    /// The string for `key`, made by `make` when not kept (or when there is no key).
    pub(super) fn get(&mut self, key: Option<Key>, make: impl FnOnce() -> String) -> Arc<str> {
        let Some(key) = key else { return Arc::from(make()) };
        if let Some((_, s)) = self.entries.iter().find(|(k, _)| *k == key) {
            return s.clone();
        }
        let s: Arc<str> = Arc::from(make());
        if self.entries.len() < KEPT {
            self.entries.push((key, s.clone()));
        } else {
            self.entries[self.next] = (key, s.clone());
            self.next = (self.next + 1) % KEPT;
        }
        s
    }

    /// Forgets everything (the schema changed: indexes name other states).
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_and_replaces() {
        let mut i = Interned::default();
        let a = i.get(Key::new(0, &[1], &[]), || "a".into());
        let again = i.get(Key::new(0, &[1], &[]), || unreachable!());
        assert!(Arc::ptr_eq(&a, &again));
        // the split between the lists is part of the key
        assert_eq!(&*i.get(Key::new(0, &[], &[1]), || "b".into()), "b");
        assert_eq!(&*i.get(Key::new(1, &[1], &[]), || "c".into()), "c");
        assert!(Key::new(0, &[1; 4], &[2; 4]).is_none());
        for n in 0..100 {
            i.get(Key::new(2, &[n], &[]), || n.to_string());
        }
        assert_eq!(i.entries.len(), KEPT);
        assert_eq!(&*i.get(Key::new(2, &[99], &[]), || unreachable!()), "99");
    }
}
