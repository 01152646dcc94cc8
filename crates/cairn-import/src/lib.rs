//! Readers of other trackers' on-disk formats, for `cairn import`. Pure functions over bytes: the
//! binary reads the files and sends what these return to a server.
//!
//! Module map:
//! - [`crc32c`]: CRC-32C (Castagnoli) and TensorFlow's masked form of it.
//! - [`tfrecord`]: TFRecord framing (length, masked CRCs, payload), tolerant of a file cut short
//!   mid-write.
//! - [`protowire`]: the protobuf wire format, just enough to walk messages field by field.
//! - [`tfevent`]: TensorBoard `Event` records: wall time, step and the scalar values of their
//!   summaries (`simple_value` and scalar tensors of the `scalars` plugin).
//!
//! **Architecture Invariant:** no I/O and no dependency on the rest of Cairn: every reader takes
//! bytes and returns plain values or an error saying where the input is wrong.

pub mod crc32c;
pub mod protowire;
pub mod tfevent;
pub mod tfrecord;
