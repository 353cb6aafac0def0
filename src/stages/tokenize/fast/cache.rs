//! The per-thread word cache: word bytes -> ids.
//!
//! An open-addressing table of 32-byte slots. Words of up to 16 bytes (most words of prose,
//! leading space included) are kept in the slot itself, and so are results of up to two ids,
//! so a hit on a common word reads one slot and nothing else. Longer words and results live in
//! two arenas the slot points into. The table is cleared when full: the hot words come back
//! after a short refill, and a long run never grows it without bound.

use super::merge::Scratch;

/// Words longer than this (in bytes) are not cached, as in `tokenizers`.
pub(super) const MAX_CACHED_WORD: usize = 256;
/// log2 of the number of slots.
const SLOT_BITS: u32 = 18;
/// The cache is cleared when it holds this many words (half the slots).
const MAX_WORDS: usize = 1 << (SLOT_BITS - 1);
/// Words up to this many bytes are stored in the slot.
const INLINE_KEY: usize = 16;
/// Results up to this many ids are stored in the slot.
const INLINE_IDS: usize = 2;

/// A word ready for lookup: its first 16 bytes in two words (see [`Key::new`]), and its hash.
pub(super) struct Key<'a> {
    word: &'a [u8],
    inline: [u64; 2],
    hash: u64,
}

#[inline(always)]
fn mix(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

const K0: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xA076_1D64_78BD_642F;

#[inline(always)]
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

#[inline(always)]
fn u32_at(b: &[u8], i: usize) -> u64 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as u64
}

impl<'a> Key<'a> {
    /// The two words are a function of the bytes that is one-to-one for each length up to 16
    /// (lengths are compared separately): overlapping loads from both ends, which avoids a
    /// variable-length copy into a zeroed buffer.
    #[inline(always)]
    pub(super) fn new(word: &'a [u8]) -> Key<'a> {
        let n = word.len();
        let inline = match n {
            0 => [0, 0],
            1..=3 => [
                word[0] as u64 | (word[n / 2] as u64) << 8 | (word[n - 1] as u64) << 16,
                0,
            ],
            4..=8 => [u32_at(word, 0) | u32_at(word, n - 4) << 32, 0],
            _ => [u64_at(word, 0), u64_at(word, n.min(INLINE_KEY) - 8)],
        };
        let mut hash = mix(inline[0] ^ (n as u64).wrapping_mul(K0), K1 ^ inline[1]);
        if n > INLINE_KEY {
            for c in word[INLINE_KEY..].chunks(8) {
                let mut b = [0u8; 8];
                b[..c.len()].copy_from_slice(c);
                hash = mix(hash ^ u64::from_le_bytes(b), K0);
            }
        }
        Key { word, inline, hash }
    }

    /// High bits of the hash with the top bit set, so that 0 marks an empty slot.
    #[inline(always)]
    fn tag(&self) -> u32 {
        ((self.hash >> 32) as u32) | 0x8000_0000
    }
}

#[derive(Clone, Copy, Default)]
#[repr(align(32))]
struct Slot {
    tag: u32,
    key_len: u16,
    ids_len: u16,
    /// The word's [`Key`] words when it fits; else `key[0]` is its offset in the key arena.
    key: [u64; 2],
    /// The ids when they fit; else `ids[0]` is their offset in the id arena.
    ids: [u32; INLINE_IDS],
}

/// Word -> ids, per thread (`new()` costs nothing; its 8 MB are taken on first use). Tied to
/// the encoder that fills it: used with another, it empties itself first.
pub struct WordCache {
    owner: u64,
    slots: Vec<Slot>,
    keys: Vec<u8>,
    ids: Vec<u32>,
    words: usize,
    /// Buffers for merging a word that is not cached.
    pub(super) scratch: Scratch,
    /// The text with a space in front, for `add_prefix_space`.
    pub(super) prefixed: String,
}

impl Default for WordCache {
    fn default() -> Self {
        WordCache::new()
    }
}

impl WordCache {
    /// An empty cache.
    pub fn new() -> WordCache {
        WordCache {
            owner: 0,
            slots: Vec::new(),
            keys: Vec::new(),
            ids: Vec::new(),
            words: 0,
            scratch: Scratch::default(),
            prefixed: String::new(),
        }
    }

    /// Makes this the cache of encoder `uid`, emptying it if it held another's words.
    #[inline]
    pub(super) fn bind(&mut self, uid: u64) {
        if self.owner != uid || self.slots.is_empty() {
            self.owner = uid;
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.slots.resize(1 << SLOT_BITS, Slot::default());
        self.keys.clear();
        self.ids.clear();
        self.words = 0;
    }

    #[inline(always)]
    fn same_word(&self, slot: &Slot, key: &Key) -> bool {
        if slot.key_len as usize != key.word.len() {
            return false;
        }
        if key.word.len() <= INLINE_KEY {
            slot.key == key.inline
        } else {
            let at = slot.key[0] as usize;
            &self.keys[at..at + key.word.len()] == key.word
        }
    }

    /// The cached ids of the word, if any.
    #[inline]
    pub(super) fn get(&self, key: &Key) -> Option<&[u32]> {
        let mask = self.slots.len() - 1;
        let tag = key.tag();
        let mut s = key.hash as usize & mask;
        loop {
            let slot = &self.slots[s];
            if slot.tag == 0 {
                return None;
            }
            if slot.tag == tag && self.same_word(slot, key) {
                let n = slot.ids_len as usize;
                return Some(if n <= INLINE_IDS {
                    &slot.ids[..n]
                } else {
                    let at = slot.ids[0] as usize;
                    &self.ids[at..at + n]
                });
            }
            s = (s + 1) & mask;
        }
    }

    /// Caches the word's ids; the word has at most [`MAX_CACHED_WORD`] bytes.
    pub(super) fn insert(&mut self, key: &Key, ids: &[u32]) {
        debug_assert!(key.word.len() <= MAX_CACHED_WORD);
        // Arena offsets are u32: clear long before they could overflow.
        if self.words >= MAX_WORDS || self.keys.len() > 1 << 30 || self.ids.len() > 1 << 30 {
            self.clear();
        }
        let mut slot = Slot {
            tag: key.tag(),
            key_len: key.word.len() as u16,
            ids_len: ids.len() as u16,
            key: key.inline,
            ids: [0; INLINE_IDS],
        };
        if key.word.len() > INLINE_KEY {
            slot.key = [self.keys.len() as u64, 0];
            self.keys.extend_from_slice(key.word);
        }
        if ids.len() <= INLINE_IDS {
            slot.ids[..ids.len()].copy_from_slice(ids);
        } else {
            slot.ids[0] = self.ids.len() as u32;
            self.ids.extend_from_slice(ids);
        }
        let mask = self.slots.len() - 1;
        let mut s = key.hash as usize & mask;
        while self.slots[s].tag != 0 {
            s = (s + 1) & mask;
        }
        self.slots[s] = slot;
        self.words += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_short_and_long_words() {
        let mut cache = WordCache::new();
        cache.bind(7);
        let long = [b'x'; 40];
        let words: [(&[u8], &[u32]); 4] = [
            (b"hello", &[1, 2]),
            (b" hello", &[3]),
            (&long, &[4, 5, 6]),
            (b"sixteen-bytes-ok", &[7, 8, 9, 10]),
        ];
        for (w, ids) in words {
            assert!(cache.get(&Key::new(w)).is_none());
            cache.insert(&Key::new(w), ids);
        }
        for (w, ids) in words {
            assert_eq!(cache.get(&Key::new(w)), Some(ids));
        }
        assert!(cache.get(&Key::new(b"hellp")).is_none());
        assert!(cache.get(&Key::new(&long[..39])).is_none());
        // Words of every inline length, differing in one byte, are told apart.
        for n in 1..=16 {
            let a: Vec<u8> = (0..n as u8).collect();
            cache.insert(&Key::new(&a), &[n as u32]);
            for k in 0..n {
                let mut b = a.clone();
                b[k] ^= 0x80;
                assert!(cache.get(&Key::new(&b)).is_none(), "{b:?}");
            }
            assert_eq!(cache.get(&Key::new(&a)), Some(&[n as u32][..]));
        }
        assert!(cache.get(&Key::new(b"hello\0")).is_none());
        cache.bind(8);
        assert!(cache.get(&Key::new(b"hello")).is_none());
    }

    #[test]
    fn clears_when_full() {
        let mut cache = WordCache::new();
        cache.bind(1);
        for i in 0..(MAX_WORDS + 10) as u32 {
            let w = format!("w{i}");
            cache.insert(&Key::new(w.as_bytes()), &[i]);
        }
        assert_eq!(cache.words, 10);
        let last = format!("w{}", MAX_WORDS + 9);
        assert_eq!(
            cache.get(&Key::new(last.as_bytes())),
            Some(&[(MAX_WORDS + 9) as u32][..])
        );
    }
}
