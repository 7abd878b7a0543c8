//! A growable bitset over state indexes, reused across transitions without allocating.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    pub(crate) fn with_len(n: usize) -> Self {
        BitSet { words: vec![0; n.div_ceil(64).max(1)] }
    }

    /// Grows to hold `n` bits (keeps contents).
    pub(crate) fn grow(&mut self, n: usize) {
        let w = n.div_ceil(64).max(1);
        if self.words.len() < w {
            self.words.resize(w, 0);
        }
    }

    #[inline]
    pub(crate) fn clear(&mut self) {
        // one word (schemas up to 64 states) without a call into `memset`
        match &mut self.words[..] {
            [w] => *w = 0,
            ws => ws.fill(0),
        }
    }

    #[inline]
    pub(crate) fn insert(&mut self, i: usize) -> bool {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        let new = self.words[w] & b == 0;
        self.words[w] |= b;
        new
    }

    #[inline]
    pub(crate) fn remove(&mut self, i: usize) {
        self.words[i / 64] &= !(1u64 << (i % 64));
    }

    #[inline]
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.words.get(i / 64).is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    #[inline]
    pub(crate) fn copy_from(&mut self, other: &BitSet) {
        match (&mut self.words[..], &other.words[..]) {
            ([w], [o]) => *w = *o,
            (ws, os) if ws.len() == os.len() => ws.copy_from_slice(os),
            _ => {
                self.words.clear();
                self.words.extend_from_slice(&other.words);
            }
        }
    }

    /// The words, 64 states each.
    #[inline]
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_iter() {
        let mut b = BitSet::with_len(130);
        assert!(b.insert(0));
        assert!(!b.insert(0));
        b.insert(64);
        b.insert(129);
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![0, 64, 129]);
        b.remove(64);
        assert!(!b.contains(64));
        assert!(b.contains(129));
        assert!(!b.contains(1000));
        b.clear();
        assert_eq!(b.iter().count(), 0);
    }
}
