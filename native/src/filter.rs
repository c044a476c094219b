//! The address filters of `pf_abi.h` (`pf_filter`): per generation and
//! family, one bit per 16-bit fold of an address, saying whether a host entry
//! may hold it (kind HOST) or a trie entry may contain it (kind TRIE). A clear
//! bit lets the program skip that lookup.
use crate::abi::FILTER_WORDS;

const HOST: u32 = 0;
const TRIE: u32 = 1;

/// The folds an LPM entry sets: (kind, first fold, number of folds).
fn folds(v6: bool, prefix_len: u32, addr: &[u8; 16]) -> (u32, u32, u32) {
    let full = if v6 { 128 } else { 32 };
    if prefix_len == full {
        let fold = if v6 {
            let x: [u8; 4] =
                std::array::from_fn(|k| addr[k] ^ addr[k + 4] ^ addr[k + 8] ^ addr[k + 12]);
            u32::from(x[0] ^ x[2]) << 8 | u32::from(x[1] ^ x[3])
        } else {
            u32::from(addr[0]) << 8 | u32::from(addr[1])
        };
        return (HOST, fold, 1);
    }
    // Trie entries: IPv4 folds on bits 0-15, IPv6 on bits 16-31; a shorter
    // prefix covers every fold its free bits reach.
    let (fold, fold_end): (u32, u32) = if v6 {
        (u32::from(addr[2]) << 8 | u32::from(addr[3]), 32)
    } else {
        (u32::from(addr[0]) << 8 | u32::from(addr[1]), 16)
    };
    let free = fold_end.saturating_sub(prefix_len).min(16);
    let count = 1u32 << free;
    (TRIE, fold & !(count - 1), count)
}

/// Index in `pf_filter` of the word saying a generation's filters are complete.
pub fn valid_index(generation: u32) -> u32 {
    8 * FILTER_WORDS + generation
}

/// Index in `pf_filter` of a generation's first word: where masks() and Bitmap indexes start.
pub fn generation_start(generation: u32) -> u32 {
    region(generation, false, HOST)
}

/// Index in `pf_filter` of the first word of a (generation, family, kind) region.
fn region(generation: u32, v6: bool, kind: u32) -> u32 {
    ((generation * 2 + u32::from(v6)) * 2 + kind) * FILTER_WORDS
}

/// The words of fold range [first, first + count): (word index in a region, mask).
fn words(first: u32, count: u32) -> impl Iterator<Item = (u32, u32)> {
    let last = first + count - 1;
    (first / 32..=last / 32).map(move |w| {
        let lo = first.max(w * 32) - w * 32;
        let hi = last.min(w * 32 + 31) - w * 32;
        let mask = if hi - lo == 31 {
            u32::MAX
        } else {
            ((1u32 << (hi - lo + 1)) - 1) << lo
        };
        (w, mask)
    })
}

/// The words an LPM entry sets, as (index among a generation's words, mask);
/// `generation_start(g)` plus that index is its place in pf_filter.
pub fn masks(v6: bool, prefix_len: u32, addr: &[u8; 16]) -> impl Iterator<Item = (u32, u32)> {
    let (kind, first, count) = folds(v6, prefix_len, addr);
    let base = region(0, v6, kind);
    words(first, count).map(move |(w, mask)| (base + w, mask))
}

/// One generation's filters being built: both families, both kinds.
pub struct Bitmap(Vec<u32>);

impl Bitmap {
    pub fn new() -> Self {
        Self(vec![0; 4 * FILTER_WORDS as usize])
    }

    /// Sets the folds of an LPM entry; `changed` gets each word that gained
    /// a bit: its index (as masks() gives it) and its new value.
    pub fn add(&mut self, v6: bool, prefix_len: u32, addr: &[u8; 16], mut changed: impl FnMut(u32, u32)) {
        for (i, mask) in masks(v6, prefix_len, addr) {
            let word = &mut self.0[i as usize];
            if *word & mask != mask {
                *word |= mask;
                changed(i, *word);
            }
        }
    }

    /// Index and value bytes of every word, then of the valid flag, for a
    /// batch write at `generation` (in index order, so the flag comes last).
    pub fn entries(&self, generation: u32) -> (Vec<u8>, Vec<u8>) {
        let first = generation_start(generation);
        let indexes = (first..first + self.0.len() as u32)
            .chain([valid_index(generation)])
            .flat_map(u32::to_ne_bytes)
            .collect();
        let words = self.0.iter().chain(&[1]).flat_map(|w| w.to_ne_bytes()).collect();
        (indexes, words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut x = [0; 16];
        x[..4].copy_from_slice(&a);
        x
    }

    #[test]
    fn hosts_fold_on_their_slash_16() {
        assert_eq!(
            folds(false, 32, &v4([198, 51, 100, 7])),
            (HOST, 198 << 8 | 51, 1)
        );
    }

    #[test]
    fn short_prefixes_cover_every_fold_below_them() {
        assert_eq!(
            folds(false, 24, &v4([198, 51, 100, 0])),
            (TRIE, 198 << 8 | 51, 1)
        );
        assert_eq!(folds(false, 8, &v4([198, 0, 0, 0])), (TRIE, 198 << 8, 256));
        assert_eq!(folds(false, 0, &v4([0; 4])), (TRIE, 0, 65536));
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(folds(true, 48, &a), (TRIE, 0x0db8, 1));
        assert_eq!(folds(true, 24, &a), (TRIE, 0x0d00, 256));
        assert_eq!(folds(true, 8, &a), (TRIE, 0, 65536));
    }

    #[test]
    fn add_reports_only_words_that_gain_bits() {
        let mut b = Bitmap::new();
        let mut changed = Vec::new();
        b.add(false, 32, &v4([198, 51, 100, 7]), |i, w| changed.push((i, w)));
        let (word, bit) = ((198 << 8 | 51) / 32, (198 << 8 | 51) % 32);
        assert_eq!(changed, vec![(word, 1 << bit)]);
        changed.clear();
        b.add(false, 32, &v4([198, 51, 100, 8]), |i, w| changed.push((i, w)));
        assert!(changed.is_empty(), "same /16: the bit is already set");
        b.add(true, 128, &[0; 16], |i, w| changed.push((i, w)));
        assert_eq!(changed, vec![(region(0, true, HOST), 1)]);
    }

    #[test]
    fn word_masks_cover_exactly_the_range() {
        assert_eq!(words(5, 1).collect::<Vec<_>>(), vec![(0, 1 << 5)]);
        assert_eq!(
            words(30, 4).collect::<Vec<_>>(),
            vec![(0, 0b11 << 30), (1, 0b11)]
        );
        assert_eq!(words(256, 256).count(), 8);
        assert!(words(256, 256).all(|(_, m)| m == u32::MAX));
    }
}
