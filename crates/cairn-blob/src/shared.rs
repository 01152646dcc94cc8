//! Checks shared by the backends: names, part tiling and byte ranges.

use std::ops::Range;

use crate::{BlobError, PartReceipt, Result};

/// Staging tokens and upload ids become file names and object keys: keep them plain.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        Ok(())
    } else {
        Err(BlobError::invalid(format!("invalid upload id '{name}'")))
    }
}

/// Checks that `parts` tile `0..size` exactly and decodes each part's receipt with `decode`.
/// The decoded receipts come back in file order (by offset).
pub(crate) fn check_tiling<T>(
    parts: &[PartReceipt],
    size: u64,
    mut decode: impl FnMut(&PartReceipt) -> Result<T>,
) -> Result<Vec<T>> {
    let mut sorted: Vec<&PartReceipt> = parts.iter().collect();
    sorted.sort_by_key(|p| p.offset);
    let mut next = 0u64;
    let mut decoded = Vec::with_capacity(sorted.len());
    for part in sorted {
        if part.offset != next {
            return Err(BlobError::invalid(if part.offset > next {
                format!("bytes {next}..{} were never uploaded", part.offset)
            } else {
                format!("part {} overlaps the part before it", part.number)
            }));
        }
        next = part
            .offset
            .checked_add(part.size)
            .ok_or_else(|| BlobError::invalid(format!("part {} is too long", part.number)))?;
        decoded.push(decode(part)?);
    }
    if next != size {
        return Err(BlobError::invalid(format!(
            "the parts hold {next} bytes, the file has {size}"
        )));
    }
    Ok(decoded)
}

/// Resolves a requested range against a blob of `size` bytes.
pub(crate) fn clamp_range(range: Option<Range<u64>>, size: u64) -> Result<Range<u64>> {
    match range {
        None => Ok(0..size),
        Some(range) if range.start >= range.end || range.start >= size => {
            Err(BlobError::invalid(format!(
                "range {}-{} is outside a blob of {size} bytes",
                range.start, range.end
            )))
        }
        Some(range) => Ok(range.start..range.end.min(size)),
    }
}
