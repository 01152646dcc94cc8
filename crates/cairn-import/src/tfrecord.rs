//! TFRecord framing: each record is a little-endian `u64` length, the masked CRC-32C of those 8
//! bytes (`u32`), the payload, and the payload's masked CRC-32C (`u32`). TensorBoard event files
//! are TFRecord files whose payloads are `Event` protobufs.
//!
//! A writer may be cut off (or still writing) mid-record, so a file that ends inside a record is
//! not an error: [`Frame::Truncated`] says where the complete records end. A CRC that does not
//! match is [`Frame::Corrupt`]; nothing after it can be trusted, so reading stops there too.

use crate::crc::masked_crc32c;

/// Bytes before a record's payload: length and its CRC.
const HEADER: usize = 12;
/// Bytes after a record's payload: its CRC.
const FOOTER: usize = 4;

/// One step of reading a TFRecord file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete record whose CRCs match.
    Record(&'a [u8]),
    /// The input ends inside the record starting at `offset` (a partial write); the records
    /// before it are complete.
    Truncated { offset: usize },
    /// The record starting at `offset` fails its length or payload CRC.
    Corrupt { offset: usize, reason: String },
}

/// The records of a TFRecord file, in order; ends after the last complete record, or with one
/// [`Frame::Truncated`] or [`Frame::Corrupt`].
#[derive(Debug, Clone)]
pub struct Records<'a> {
    bytes: &'a [u8],
    pos: usize,
    done: bool,
}

/// Reads the records of `bytes` (a whole file, or a prefix of one).
pub fn records(bytes: &[u8]) -> Records<'_> {
    Records {
        bytes,
        pos: 0,
        done: false,
    }
}

impl Records<'_> {
    /// Where the complete records read so far end: a later read of a growing file resumes here.
    pub fn offset(&self) -> usize {
        self.pos
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

impl<'a> Iterator for Records<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        if self.done || self.pos == self.bytes.len() {
            return None;
        }
        let offset = self.pos;
        let rest = &self.bytes[offset..];
        let stop = |done: &mut bool, frame: Frame<'a>| {
            *done = true;
            Some(frame)
        };
        if rest.len() < HEADER {
            return stop(&mut self.done, Frame::Truncated { offset });
        }
        if masked_crc32c(&rest[..8]) != u32_at(rest, 8) {
            return stop(
                &mut self.done,
                Frame::Corrupt {
                    offset,
                    reason: "the record's length fails its CRC".to_string(),
                },
            );
        }
        let mut length = [0u8; 8];
        length.copy_from_slice(&rest[..8]);
        let length = u64::from_le_bytes(length);
        let available = (rest.len() - HEADER).saturating_sub(FOOTER) as u64;
        if length > available {
            return stop(&mut self.done, Frame::Truncated { offset });
        }
        let length = length as usize;
        let payload = &rest[HEADER..HEADER + length];
        if masked_crc32c(payload) != u32_at(rest, HEADER + length) {
            return stop(
                &mut self.done,
                Frame::Corrupt {
                    offset,
                    reason: format!("the record's {length}-byte payload fails its CRC"),
                },
            );
        }
        self.pos = offset + HEADER + length + FOOTER;
        Some(Frame::Record(payload))
    }
}

/// Frames `payload` as one TFRecord (what a writer appends).
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len() + FOOTER);
    let length = (payload.len() as u64).to_le_bytes();
    out.extend_from_slice(&length);
    out.extend_from_slice(&masked_crc32c(&length).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked_crc32c(payload).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn file(payloads: &[&[u8]]) -> Vec<u8> {
        payloads.iter().flat_map(|p| frame(p)).collect()
    }

    #[test]
    fn reads_records_in_order() {
        let bytes = file(&[b"one", b"", b"three"]);
        let frames: Vec<Frame> = records(&bytes).collect();
        assert_eq!(
            frames,
            vec![
                Frame::Record(b"one"),
                Frame::Record(b""),
                Frame::Record(b"three")
            ]
        );
        assert!(records(&[]).next().is_none());
    }

    #[test]
    fn a_file_cut_mid_record_keeps_what_is_complete() {
        let bytes = file(&[b"first", b"second record"]);
        let first_end = HEADER + 5 + FOOTER;
        for cut in first_end + 1..bytes.len() {
            let mut reader = records(&bytes[..cut]);
            assert_eq!(reader.next(), Some(Frame::Record(b"first")));
            assert_eq!(reader.next(), Some(Frame::Truncated { offset: first_end }));
            assert_eq!(reader.next(), None);
            assert_eq!(reader.offset(), first_end);
        }
        let mut whole = records(&bytes);
        whole.by_ref().for_each(drop);
        assert_eq!(whole.offset(), bytes.len());
    }

    #[test]
    fn a_bad_crc_stops_reading() {
        let mut bytes = file(&[b"good", b"flipped"]);
        let second = HEADER + 4 + FOOTER;
        bytes[second + HEADER + 2] ^= 0x10;
        let frames: Vec<Frame> = records(&bytes).collect();
        assert_eq!(frames.len(), 2);
        assert!(
            matches!(&frames[1], Frame::Corrupt { offset, reason } if *offset == second && reason.contains("payload"))
        );
        let mut bad_length = file(&[b"x"]);
        bad_length[0] ^= 1;
        assert!(matches!(
            records(&bad_length).next(),
            Some(Frame::Corrupt { offset: 0, .. })
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut reader = records(&bytes);
            let mut steps = 0;
            while reader.next().is_some() {
                steps += 1;
                prop_assert!(steps <= bytes.len() + 1);
            }
            prop_assert!(reader.offset() <= bytes.len());
        }

        #[test]
        fn framed_payloads_read_back(payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..8)) {
            let bytes: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
            let back: Vec<Vec<u8>> = records(&bytes)
                .map(|f| match f {
                    Frame::Record(p) => p.to_vec(),
                    other => panic!("{other:?}"),
                })
                .collect();
            prop_assert_eq!(back, payloads);
        }
    }
}
