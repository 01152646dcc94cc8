//! Hashing while streaming, including parts of one file hashed separately and joined.
//!
//! BLAKE3 hashes a file as a binary tree of 1 KiB chunks: a node's left child covers the largest
//! power-of-two number of chunks smaller than the node, its right child the rest. Any block of
//! 2^k chunks that starts at a multiple of 2^k chunks (and lies inside the file) is a node of that
//! tree, whatever the file's length. [`PartHasher`] cuts a part into such blocks as it streams
//! and keeps each block's chaining value (a [`Piece`]); [`combine`] rebuilds the tree from the
//! pieces of all parts once the file's length is known. So parts can arrive in any order, in
//! parallel, and each byte is hashed exactly once, as it arrives.
//!
//! This needs every part to start at a multiple of 1 KiB; a part that does not gets no pieces and
//! the caller hashes the joined file in one pass instead ([`PartHashes::unhashed`]).

use std::collections::BTreeMap;

use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root,
};

use crate::{BlobError, Digest, Result};

/// BLAKE3's chunk length.
pub const CHUNK: u64 = 1024;

/// One pass over a whole body.
#[derive(Default)]
pub struct StreamHasher {
    hasher: blake3::Hasher,
    len: u64,
}

impl StreamHasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.len += data.len() as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finalize(&self) -> Digest {
        Digest::from_bytes(*self.hasher.finalize().as_bytes())
    }
}

/// The chaining value of one aligned block of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub offset: u64,
    pub len: u64,
    pub cv: ChainingValue,
}

/// What a part contributes to the whole file's digest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartHashes {
    /// `false` when the part could not be hashed on its own (it does not start at a multiple of
    /// [`CHUNK`]); the whole file must then be hashed in one pass.
    pub hashed: bool,
    pub pieces: Vec<Piece>,
    /// The part's bytes when it starts at 0 and is at most one chunk long: a file of one chunk
    /// has no tree, its digest is computed from the bytes.
    pub small: Option<Vec<u8>>,
}

impl PartHashes {
    pub fn unhashed() -> Self {
        PartHashes::default()
    }

    const VERSION: u8 = 1;

    /// A compact, versioned encoding (kept by callers between a part and the upload's end).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.pieces.len() * 48);
        out.push(Self::VERSION);
        out.push(u8::from(self.hashed));
        out.extend_from_slice(&(self.pieces.len() as u32).to_le_bytes());
        for piece in &self.pieces {
            out.extend_from_slice(&piece.offset.to_le_bytes());
            out.extend_from_slice(&piece.len.to_le_bytes());
            out.extend_from_slice(&piece.cv);
        }
        match &self.small {
            Some(bytes) => {
                out.push(1);
                out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
                out.extend_from_slice(bytes);
            }
            None => out.push(0),
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = || BlobError::invalid("corrupt part receipt");
        let mut reader = Reader(bytes);
        if reader.take(1).ok_or_else(bad)?[0] != Self::VERSION {
            return Err(bad());
        }
        let hashed = reader.take(1).ok_or_else(bad)?[0] == 1;
        let count = u32::from_le_bytes(reader.array().ok_or_else(bad)?) as usize;
        if count > bytes.len() / 48 {
            return Err(bad());
        }
        let mut pieces = Vec::with_capacity(count);
        for _ in 0..count {
            let offset = u64::from_le_bytes(reader.array().ok_or_else(bad)?);
            let len = u64::from_le_bytes(reader.array().ok_or_else(bad)?);
            let cv: ChainingValue = reader.array().ok_or_else(bad)?;
            pieces.push(Piece { offset, len, cv });
        }
        let small = match reader.take(1).ok_or_else(bad)?[0] {
            0 => None,
            _ => {
                let len = u16::from_le_bytes(reader.array().ok_or_else(bad)?) as usize;
                Some(reader.take(len).ok_or_else(bad)?.to_vec())
            }
        };
        if !reader.0.is_empty() {
            return Err(bad());
        }
        Ok(PartHashes {
            hashed,
            pieces,
            small,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).map(|s| s.try_into().expect("length checked"))
    }
}

/// Hashes one part of a file, which starts at `offset` and is `len` bytes long.
pub struct PartHasher {
    part_end: u64,
    position: u64,
    piece_start: u64,
    piece_end: u64,
    hasher: blake3::Hasher,
    pieces: Vec<Piece>,
    small: Option<Vec<u8>>,
}

impl PartHasher {
    /// `None` when the part cannot be hashed on its own (`offset` is not a multiple of
    /// [`CHUNK`]).
    pub fn new(offset: u64, len: u64) -> Option<Self> {
        if !offset.is_multiple_of(CHUNK) {
            return None;
        }
        let part_end = offset.checked_add(len)?;
        let mut hasher = PartHasher {
            part_end,
            position: offset,
            piece_start: offset,
            piece_end: offset,
            hasher: blake3::Hasher::new(),
            pieces: Vec::new(),
            small: (offset == 0 && len <= CHUNK).then(Vec::new),
        };
        hasher.start_piece();
        Some(hasher)
    }

    fn start_piece(&mut self) {
        self.piece_start = self.position;
        self.piece_end = self.position + piece_len(self.position, self.part_end);
        self.hasher = blake3::Hasher::new();
        if self.position > 0 {
            self.hasher.set_input_offset(self.position);
        }
    }

    /// Feeds the next bytes of the part. Fails when the part grows past its declared length.
    pub fn update(&mut self, mut data: &[u8]) -> Result<()> {
        if data.len() as u64 > self.part_end - self.position {
            return Err(BlobError::invalid("the part is longer than declared"));
        }
        if let Some(small) = &mut self.small {
            small.extend_from_slice(data);
        }
        while !data.is_empty() {
            let take = (self.piece_end - self.position).min(data.len() as u64) as usize;
            self.hasher.update(&data[..take]);
            self.position += take as u64;
            data = &data[take..];
            if self.position == self.piece_end {
                self.finish_piece();
                if self.position < self.part_end {
                    self.start_piece();
                }
            }
        }
        Ok(())
    }

    fn finish_piece(&mut self) {
        self.pieces.push(Piece {
            offset: self.piece_start,
            len: self.piece_end - self.piece_start,
            cv: self.hasher.finalize_non_root(),
        });
    }

    /// The part's hashes. Fails when fewer bytes than declared were fed.
    pub fn finish(self) -> Result<PartHashes> {
        // Every piece is closed by the update that fills it, so a complete part has no open one.
        if self.position != self.part_end {
            return Err(BlobError::invalid("the part is shorter than declared"));
        }
        Ok(PartHashes {
            hashed: true,
            pieces: self.pieces,
            small: self.small,
        })
    }
}

/// The length of the piece that starts at `start` in a part ending at `end`: the largest aligned
/// power-of-two number of chunks that fits (a final partial chunk counts as a chunk). A piece
/// starting at 0 never covers the whole part, because the part may be the whole file, whose root
/// must be computed differently from a chaining value.
fn piece_len(start: u64, end: u64) -> u64 {
    let remaining = end - start;
    if remaining <= CHUNK {
        return remaining;
    }
    let chunks = remaining.div_ceil(CHUNK);
    let mut size = 1u64 << (63 - chunks.leading_zeros());
    if start == 0 {
        if size == chunks {
            size /= 2;
        }
    } else {
        let alignment = 1u64 << (start / CHUNK).trailing_zeros().min(62);
        size = size.min(alignment);
    }
    (size * CHUNK).min(remaining)
}

/// The length of the left subtree of a node of `len` bytes (`len > CHUNK`).
fn left_len(len: u64) -> u64 {
    let full_chunks = (len - 1) / CHUNK;
    CHUNK << (63 - full_chunks.leading_zeros())
}

/// The digest of a `total`-byte file from the hashes of parts that tile it. `None` when the
/// pieces do not cover the file's tree (a part is missing or was not hashed).
pub fn combine<'a>(total: u64, parts: impl IntoIterator<Item = &'a PartHashes>) -> Option<Digest> {
    let mut pieces = BTreeMap::new();
    let mut small = None;
    for part in parts {
        if !part.hashed {
            return None;
        }
        for piece in &part.pieces {
            pieces.insert((piece.offset, piece.len), piece.cv);
        }
        if let Some(bytes) = &part.small {
            small = Some(bytes.as_slice());
        }
    }
    if total <= CHUNK {
        return match small {
            Some(bytes) if bytes.len() as u64 == total => Some(Digest::of(bytes)),
            _ if total == 0 => Some(Digest::of(b"")),
            _ => None,
        };
    }
    let left = left_len(total);
    let left_cv = node(&pieces, 0, left)?;
    let right_cv = node(&pieces, left, total - left)?;
    let root = merge_subtrees_root(&left_cv, &right_cv, Mode::Hash);
    Some(Digest::from_bytes(*root.as_bytes()))
}

fn node(
    pieces: &BTreeMap<(u64, u64), ChainingValue>,
    start: u64,
    len: u64,
) -> Option<ChainingValue> {
    if let Some(cv) = pieces.get(&(start, len)) {
        return Some(*cv);
    }
    if len <= CHUNK {
        return None;
    }
    let left = left_len(len);
    let left_cv = node(pieces, start, left)?;
    let right_cv = node(pieces, start + left, len - left)?;
    Some(merge_subtrees_non_root(&left_cv, &right_cv, Mode::Hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
            .collect()
    }

    /// Hashes `bytes` as parts of `part_size` (the last one shorter), fed in `feed`-byte slices.
    fn hash_in_parts(bytes: &[u8], part_size: usize, feed: usize) -> Option<Digest> {
        let mut parts = Vec::new();
        let mut offset = 0;
        loop {
            let len = part_size.min(bytes.len() - offset);
            let mut hasher = PartHasher::new(offset as u64, len as u64)?;
            for slice in bytes[offset..offset + len].chunks(feed.max(1)) {
                hasher.update(slice).unwrap();
            }
            let hashes = hasher.finish().unwrap();
            parts.push(PartHashes::decode(&hashes.encode()).unwrap());
            offset += len;
            if offset >= bytes.len() {
                break;
            }
        }
        parts.reverse();
        combine(bytes.len() as u64, &parts)
    }

    #[test]
    fn matches_blake3_at_edges() {
        for len in [
            0,
            1,
            1023,
            1024,
            1025,
            2048,
            2049,
            3072,
            4096,
            5000,
            65536,
            65537,
            1 << 20,
        ] {
            let bytes = data(len, 7);
            let expected = Digest::of(&bytes);
            for part_size in [1024, 2048, 3072, 10 * 1024, 65536, 1 << 20, 5 << 20] {
                assert_eq!(
                    hash_in_parts(&bytes, part_size, 1000),
                    Some(expected),
                    "len {len} part {part_size}"
                );
            }
        }
    }

    #[test]
    fn unaligned_parts_are_not_hashed() {
        assert!(PartHasher::new(1000, 10).is_none());
        assert_eq!(combine(10, &[PartHashes::unhashed()]), None);
    }

    #[test]
    fn a_missing_part_gives_no_digest() {
        let bytes = data(5000, 1);
        let mut first = PartHasher::new(0, 2048).unwrap();
        first.update(&bytes[..2048]).unwrap();
        let first = first.finish().unwrap();
        assert_eq!(combine(5000, [&first]), None);
    }

    #[test]
    fn declared_length_is_enforced() {
        let mut hasher = PartHasher::new(0, 10).unwrap();
        assert!(hasher.update(&[0; 11]).is_err());
        hasher.update(&[0; 5]).unwrap();
        assert!(hasher.finish().is_err());
    }

    #[test]
    fn corrupt_receipts_are_refused() {
        let mut hasher = PartHasher::new(0, 3000).unwrap();
        hasher.update(&data(3000, 2)).unwrap();
        let encoded = hasher.finish().unwrap().encode();
        for cut in 0..encoded.len() {
            assert!(PartHashes::decode(&encoded[..cut]).is_err());
        }
        let mut longer = encoded.clone();
        longer.push(0);
        assert!(PartHashes::decode(&longer).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_chunk_aligned_split_matches(len in 0usize..300_000, part_chunks in 1usize..200, feed in 1usize..70_000, seed: u8) {
            let bytes = data(len, seed);
            prop_assert_eq!(hash_in_parts(&bytes, part_chunks * 1024, feed), Some(Digest::of(&bytes)));
        }
    }
}
