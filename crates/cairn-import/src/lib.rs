//! Readers of other trackers' on-disk formats, for `cairn import`. Pure functions over bytes: the
//! binary reads the files and sends what these return to a server.
//!
//! Module map:
//! - [`crc`]: CRC-32C (Castagnoli) with TensorFlow's masked form of it, and CRC-32 (IEEE).
//! - [`tfrecord`]: TFRecord framing (length, masked CRCs, payload), tolerant of a file cut short
//!   mid-write.
//! - [`protowire`]: the protobuf wire format, just enough to walk messages field by field.
//! - [`tfevent`]: TensorBoard `Event` records: wall time, step and the scalar values of their
//!   summaries (`simple_value` and scalar tensors of the `scalars` plugin).
//! - [`wandb`]: W&B offline run files: LevelDB log framing (bounded memory, tolerant of a cut-off
//!   or damaged file) and the `Record`s in it (history, summary, config, stats, run, exit).
//!
//! **Architecture Invariant:** no I/O and no dependency on the rest of Cairn: every reader takes
//! bytes and returns plain values or an error saying where the input is wrong.

pub mod crc;
pub mod protowire;
pub mod tfevent;
pub mod tfrecord;
pub mod wandb;
