//! BPE merging of one word, with the same result as `tokenizers`' `Word::merge_all`.
//!
//! `tokenizers` merges, again and again, the adjacent pair of lowest rank, the leftmost one
//! among equal ranks (its heap is ordered by rank, then position). A pair's rank is its index
//! in `merges` (the last one where a pair is listed twice), so equal ranks mean equal pairs.
//! Short words do this directly on an array (quadratic, but cache-friendly and cheap for the
//! few symbols of a typical word); long words use a heap and a linked list, as `tokenizers`
//! does, so a megabyte without a space is not quadratic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// No merge for this pair.
pub(super) const NONE: u64 = u64::MAX;

/// Words of more bytes than this are merged with the heap.
const ARRAY_MAX: usize = 48;

/// The merge table: (left id, right id) -> (rank, merged id), in a flat open-addressing hash
/// table so a lookup is one multiply and usually one cache line.
pub(super) struct MergeTable {
    /// (key, value): key `left << 32 | right` (`u64::MAX` empty), value `rank << 32 | merged`.
    slots: Vec<(u64, u64)>,
    shift: u32,
}

#[inline(always)]
fn key(left: u32, right: u32) -> u64 {
    ((left as u64) << 32) | right as u64
}

impl MergeTable {
    /// A table of `merges`: ((left, right), merged id), rank = index; later entries of the same
    /// pair replace earlier ones, as when `tokenizers` collects them into a map.
    pub(super) fn new(merges: &[((u32, u32), u32)]) -> MergeTable {
        let bits = (merges.len().max(1) * 2)
            .next_power_of_two()
            .trailing_zeros()
            .max(4);
        let mut table = MergeTable {
            slots: vec![(u64::MAX, 0); 1 << bits],
            shift: 64 - bits,
        };
        for (rank, &((a, b), merged)) in merges.iter().enumerate() {
            table.insert(key(a, b), ((rank as u64) << 32) | merged as u64);
        }
        table
    }

    #[inline(always)]
    fn slot(&self, k: u64) -> usize {
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    fn insert(&mut self, k: u64, v: u64) {
        let mask = self.slots.len() - 1;
        let mut s = self.slot(k);
        loop {
            let slot = &mut self.slots[s];
            if slot.0 == u64::MAX || slot.0 == k {
                *slot = (k, v);
                return;
            }
            s = (s + 1) & mask;
        }
    }

    /// `rank << 32 | merged id` of the pair, or [`NONE`].
    #[inline(always)]
    pub(super) fn get(&self, left: u32, right: u32) -> u64 {
        let k = key(left, right);
        let mask = self.slots.len() - 1;
        let mut s = self.slot(k);
        loop {
            let (sk, sv) = self.slots[s];
            if sk == k {
                return sv;
            }
            if sk == u64::MAX {
                return NONE;
            }
            s = (s + 1) & mask;
        }
    }
}

/// Reusable buffers for merging, so a word costs no allocation.
#[derive(Default)]
pub(super) struct Scratch {
    syms: Vec<u32>,
    ranks: Vec<u64>,
    next: Vec<u32>,
    prev: Vec<u32>,
    heap: BinaryHeap<Reverse<u64>>,
}

/// Merges the word whose symbols are `ids` (one per byte) and appends the result to `out`.
pub(super) fn merge_word(
    table: &MergeTable,
    ids: impl ExactSizeIterator<Item = u32>,
    scratch: &mut Scratch,
    out: &mut Vec<u32>,
) {
    if ids.len() <= ARRAY_MAX {
        merge_array(table, ids, scratch, out);
    } else {
        merge_heap(table, ids, scratch, out);
    }
}

fn merge_array(
    table: &MergeTable,
    ids: impl Iterator<Item = u32>,
    scratch: &mut Scratch,
    out: &mut Vec<u32>,
) {
    let syms = &mut scratch.syms;
    let ranks = &mut scratch.ranks;
    syms.clear();
    syms.extend(ids);
    ranks.clear();
    ranks.extend(syms.windows(2).map(|w| table.get(w[0], w[1])));
    loop {
        // The minimum of `rank << 32 | merged` is the lowest rank; `min_by_key` would return the
        // last of equal keys, so the leftmost is found by hand.
        let mut best = NONE;
        let mut at = 0;
        for (i, &r) in ranks.iter().enumerate() {
            if r < best {
                best = r;
                at = i;
            }
        }
        if best == NONE {
            break;
        }
        syms[at] = best as u32;
        syms.remove(at + 1);
        ranks.remove(at);
        if at > 0 {
            ranks[at - 1] = table.get(syms[at - 1], syms[at]);
        }
        if at < ranks.len() {
            ranks[at] = table.get(syms[at], syms[at + 1]);
        }
    }
    out.extend_from_slice(syms);
}

/// End of the linked list.
const END: u32 = u32::MAX;

fn merge_heap(
    table: &MergeTable,
    ids: impl Iterator<Item = u32>,
    scratch: &mut Scratch,
    out: &mut Vec<u32>,
) {
    let Scratch {
        syms,
        next,
        prev,
        heap,
        ..
    } = scratch;
    syms.clear();
    syms.extend(ids);
    let n = syms.len();
    next.clear();
    next.extend((1..=n as u32).map(|i| if i as usize == n { END } else { i }));
    prev.clear();
    prev.extend((0..n as u32).map(|i| i.wrapping_sub(1)));
    prev[0] = END;
    heap.clear();
    // Heap entries are `rank << 32 | position`: lowest rank first, then leftmost, like the
    // `Merge` ordering of `tokenizers`.
    let push = |heap: &mut BinaryHeap<Reverse<u64>>, r: u64, pos: usize| {
        if r != NONE {
            heap.push(Reverse((r >> 32) << 32 | pos as u64));
        }
    };
    for i in 0..n - 1 {
        push(heap, table.get(syms[i], syms[i + 1]), i);
    }
    while let Some(Reverse(top)) = heap.pop() {
        let pos = (top & 0xFFFF_FFFF) as usize;
        let rank = top >> 32;
        // A symbol merged into its left neighbour is marked with `prev == pos` (itself).
        if prev[pos] == pos as u32 || next[pos] == END {
            continue;
        }
        let right = next[pos] as usize;
        let r = table.get(syms[pos], syms[right]);
        // Stale entry: the pair here changed since it was pushed (ranks identify pairs).
        if r == NONE || r >> 32 != rank {
            continue;
        }
        syms[pos] = r as u32;
        let after = next[right];
        next[pos] = after;
        prev[right] = right as u32;
        if after != END {
            prev[after as usize] = pos as u32;
        }
        if prev[pos] != END {
            let left = prev[pos] as usize;
            push(heap, table.get(syms[left], syms[pos]), left);
        }
        if after != END {
            push(heap, table.get(syms[pos], syms[after as usize]), pos);
        }
    }
    // The first symbol is never merged away (it is nobody's right neighbour).
    let mut i = 0;
    loop {
        out.push(syms[i]);
        if next[i] == END {
            break;
        }
        i = next[i] as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids 0..=2 are `a`, `b`, `c`; merges: a b -> 3 (rank 0), 3 3 -> 4 (1), b c -> 5 (2),
    /// a a -> 6 (3).
    fn table() -> MergeTable {
        MergeTable::new(&[((0, 1), 3), ((3, 3), 4), ((1, 2), 5), ((0, 0), 6)])
    }

    fn both(ids: &[u32]) -> (Vec<u32>, Vec<u32>) {
        let t = table();
        let mut s = Scratch::default();
        let (mut a, mut h) = (Vec::new(), Vec::new());
        merge_array(&t, ids.iter().copied(), &mut s, &mut a);
        merge_heap(&t, ids.iter().copied(), &mut s, &mut h);
        (a, h)
    }

    #[test]
    fn array_and_heap_agree_on_known_cases() {
        assert_eq!(both(&[0, 1, 0, 1]), (vec![4], vec![4]));
        assert_eq!(both(&[0, 1, 2]), (vec![3, 2], vec![3, 2]));
        assert_eq!(both(&[0, 0, 0]), (vec![6, 0], vec![6, 0]));
        assert_eq!(both(&[2, 1, 2, 0]), (vec![2, 5, 0], vec![2, 5, 0]));
        assert_eq!(both(&[1]), (vec![1], vec![1]));
    }

    #[test]
    fn array_and_heap_agree_on_random_words() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 40) as usize;
            let ids: Vec<u32> = (0..len).map(|k| ((x >> (k % 60)) % 3) as u32).collect();
            let (a, h) = both(&ids);
            assert_eq!(a, h, "{ids:?}");
        }
    }
}
