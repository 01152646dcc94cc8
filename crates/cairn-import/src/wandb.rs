//! W&B's offline run files (`run-<id>.wandb`): LevelDB's log framing around protobuf `Record`s
//! (`wandb_internal.proto`).
//!
//! The file starts with a 7-byte header (`:W&B`, the magic `0xBEE1` little-endian, version 0).
//! The rest is 32 KiB blocks (the header is the start of the first). In a block, each physical
//! record is a 7-byte header — checksum (`u32`), length (`u16`), type (`u8`) — and that many
//! bytes; a block's last < 7 bytes are zero padding. Type 1 is a whole record, 2, 3 and 4 the
//! first, middle and last pieces of one that crosses blocks. The checksum is the CRC-32 (IEEE,
//! as zlib computes it) of the type byte followed by the payload — what W&B's writers use,
//! where LevelDB's own logs use a masked CRC-32C.
//!
//! [`Reader`] is fed the file in chunks that start on block boundaries, so a file of any size
//! is read in bounded memory; it tolerates a file cut off mid-write (the run was killed, or is
//! still writing) and, as LevelDB does, skips the rest of a block whose record fails its
//! checksum. [`decode_record`] turns a record into the parts an importer uses: history rows,
//! summary and config updates, system stats, the run's own record and its exit.

use crate::crc::crc32_update;
use crate::protowire::{WireError, fields};

/// The size of a log block.
pub const BLOCK: usize = 32 * 1024;
/// The file header: `:W&B`, magic `0xBEE1` (little-endian), version 0.
pub const FILE_HEADER: [u8; 7] = *b":W&B\xE1\xBE\x00";
/// A physical record's header: checksum, length, type.
const RECORD_HEADER: usize = 7;

/// One step of reading a `.wandb` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole record (its pieces joined), checksums matching.
    Record(Vec<u8>),
    /// A piece at `offset` is damaged (checksum, type or length); the rest of its block, and
    /// any record that piece belonged to, are skipped.
    Corrupt { offset: u64, reason: String },
}

/// The file does not start with the `.wandb` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a W&B run file: it does not start with the ':W&B' header")]
pub struct NotWandb;

/// Reads a `.wandb` file fed in order, in chunks that are whole blocks (the last may be short).
#[derive(Debug, Default)]
pub struct Reader {
    /// The file offset of the next byte fed.
    offset: u64,
    /// A record whose first pieces were read: its start offset and bytes so far.
    partial: Option<(u64, Vec<u8>)>,
    /// The input ended inside a physical record (set by a short last chunk).
    truncated: bool,
}

impl Reader {
    pub fn new() -> Reader {
        Reader::default()
    }

    /// Reads the next chunk (`chunk.len()` a multiple of [`BLOCK`] unless it is the file's
    /// end), appending what it holds to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), NotWandb> {
        for block in chunk.chunks(BLOCK) {
            let start = if self.offset == 0 {
                if block.len() < FILE_HEADER.len() || block[..FILE_HEADER.len()] != FILE_HEADER {
                    return Err(NotWandb);
                }
                FILE_HEADER.len()
            } else {
                0
            };
            self.block(block, start, out);
            self.offset += block.len() as u64;
        }
        Ok(())
    }

    /// Whether the input ended inside a record (a writer cut off); the records before it were
    /// returned.
    pub fn truncated(&self) -> bool {
        self.truncated || self.partial.is_some()
    }

    fn block(&mut self, block: &[u8], start: usize, out: &mut Vec<Frame>) {
        let full = block.len() == BLOCK;
        let mut pos = start;
        while block.len() - pos >= RECORD_HEADER {
            let header = &block[pos..pos + RECORD_HEADER];
            let checksum = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            let length = u16::from_le_bytes([header[4], header[5]]) as usize;
            let kind = header[6];
            let at = self.offset + pos as u64;
            if checksum == 0 && length == 0 && kind == 0 {
                // Zero padding: the writer moved on to the next block.
                return;
            }
            let end = pos + RECORD_HEADER + length;
            if end > block.len() {
                if full {
                    self.corrupt(at, "a record runs past its block".to_string(), out);
                } else {
                    self.truncated = true;
                }
                return;
            }
            let payload = &block[pos + RECORD_HEADER..end];
            if crc32_update(crc32_update(0, &[kind]), payload) != checksum {
                self.corrupt(
                    at,
                    format!("a {length}-byte record fails its checksum"),
                    out,
                );
                return;
            }
            match kind {
                1 => {
                    if self.partial.take().is_some() {
                        out.push(Frame::Corrupt {
                            offset: at,
                            reason: "a record's pieces end without its last one".to_string(),
                        });
                    }
                    out.push(Frame::Record(payload.to_vec()));
                }
                2 => {
                    if self.partial.is_some() {
                        out.push(Frame::Corrupt {
                            offset: at,
                            reason: "a record's pieces end without its last one".to_string(),
                        });
                    }
                    self.partial = Some((at, payload.to_vec()));
                }
                3 | 4 => match self.partial.as_mut() {
                    Some((_, bytes)) => {
                        bytes.extend_from_slice(payload);
                        if kind == 4
                            && let Some((_, bytes)) = self.partial.take()
                        {
                            out.push(Frame::Record(bytes));
                        }
                    }
                    None => out.push(Frame::Corrupt {
                        offset: at,
                        reason: "a record piece without its first one".to_string(),
                    }),
                },
                other => {
                    self.corrupt(at, format!("unknown record type {other}"), out);
                    return;
                }
            }
            pos = end;
        }
    }

    fn corrupt(&mut self, offset: u64, reason: String, out: &mut Vec<Frame>) {
        self.partial = None;
        out.push(Frame::Corrupt { offset, reason });
    }
}

/// A value of a history, summary, config or stats item.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemValue {
    /// JSON text (`value_json`, or the typed `json` field).
    Json(String),
    Number(f64),
    Integer(i64),
    Bool(bool),
    Text(String),
    Null,
}

impl ItemValue {
    /// The value as a metric: numbers, booleans as 0 and 1, and JSON numbers including W&B's
    /// `NaN`, `Infinity` and `-Infinity`; `None` for anything else (text, media, objects).
    pub fn number(&self) -> Option<f64> {
        match self {
            ItemValue::Number(v) => Some(*v),
            ItemValue::Integer(v) => Some(*v as f64),
            ItemValue::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            ItemValue::Json(text) => {
                let text = text.trim();
                match text {
                    "true" => Some(1.0),
                    "false" => Some(0.0),
                    "NaN" => Some(f64::NAN),
                    "Infinity" => Some(f64::INFINITY),
                    "-Infinity" => Some(f64::NEG_INFINITY),
                    _ if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                        text.parse().ok()
                    }
                    _ => None,
                }
            }
            ItemValue::Text(_) | ItemValue::Null => None,
        }
    }

    /// The value as JSON text.
    pub fn json(&self) -> String {
        match self {
            ItemValue::Json(text) => text.clone(),
            ItemValue::Number(v) if v.is_nan() => "NaN".to_string(),
            ItemValue::Number(v) if v.is_infinite() => {
                if *v > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
            }
            ItemValue::Number(v) => format!("{v:?}"),
            ItemValue::Integer(v) => v.to_string(),
            ItemValue::Bool(b) => b.to_string(),
            ItemValue::Text(text) => json_string(text),
            ItemValue::Null => "null".to_string(),
        }
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One item: its key path (`key`, or `nested_key` for values logged in nested dicts) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub path: Vec<String>,
    pub value: ItemValue,
}

/// The run's own record (written at start, again on resume).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunInfo {
    pub run_id: String,
    pub entity: String,
    pub project: String,
    pub display_name: String,
    pub notes: String,
    pub tags: Vec<String>,
    pub group: String,
    pub job_type: String,
    pub host: String,
    pub sweep_id: String,
    /// Milliseconds since the epoch.
    pub start_time: Option<i64>,
    pub git_remote: String,
    pub git_commit: String,
    pub config: Vec<Item>,
    pub summary: Vec<Item>,
}

/// What a record holds, as far as an importer cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// One `wandb.log` row; `step` from the record's step field when set.
    History {
        items: Vec<Item>,
        step: Option<i64>,
    },
    Summary {
        update: Vec<Item>,
        remove: Vec<Vec<String>>,
    },
    Config {
        update: Vec<Item>,
        remove: Vec<Vec<String>>,
    },
    /// System metrics sampled at `timestamp` (ms).
    Stats {
        timestamp: Option<i64>,
        items: Vec<Item>,
    },
    Run(Box<RunInfo>),
    Exit {
        exit_code: i64,
        runtime_s: i64,
    },
    /// Any other record (output lines, files, telemetry, requests…), by field number.
    Other(u32),
}

/// A record that is not a readable `Record` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("a {0} field has the wrong wire type")]
    WireType(&'static str),
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn bytes_of<'a>(
    value: crate::protowire::Value<'a>,
    what: &'static str,
) -> Result<&'a [u8], RecordError> {
    value.as_bytes().ok_or(RecordError::WireType(what))
}

/// A `google.protobuf.Timestamp` as milliseconds.
fn timestamp_ms(bytes: &[u8]) -> Result<i64, RecordError> {
    let (mut seconds, mut nanos) = (0i64, 0i64);
    for field in fields(bytes) {
        let (number, value) = field?;
        match number {
            1 => seconds = value.as_i64().ok_or(RecordError::WireType("seconds"))?,
            2 => nanos = value.as_i64().ok_or(RecordError::WireType("nanos"))?,
            _ => {}
        }
    }
    Ok(seconds
        .saturating_mul(1000)
        .saturating_add(nanos / 1_000_000))
}

/// A history, summary, config or stats item (they share field numbers: 1 key, 2 nested_key,
/// 16 value_json; history items may carry a typed value in 3–8 instead).
fn item(bytes: &[u8]) -> Result<Item, RecordError> {
    let mut key = String::new();
    let mut nested = Vec::new();
    let mut value = ItemValue::Null;
    for field in fields(bytes) {
        let (number, raw) = field?;
        match number {
            1 => key = text(bytes_of(raw, "key")?),
            2 => nested.push(text(bytes_of(raw, "nested_key")?)),
            3 => value = ItemValue::Null,
            4 => {
                value = ItemValue::Bool(raw.as_i64().ok_or(RecordError::WireType("boolean"))? != 0)
            }
            5 => {
                let zigzag = raw.as_i64().ok_or(RecordError::WireType("integer"))? as u64;
                value = ItemValue::Integer(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64));
            }
            6 => value = ItemValue::Number(raw.as_f64().ok_or(RecordError::WireType("number"))?),
            7 => value = ItemValue::Text(text(bytes_of(raw, "text")?)),
            8 | 16 => value = ItemValue::Json(text(bytes_of(raw, "value_json")?)),
            _ => {}
        }
    }
    let path = if key.is_empty() { nested } else { vec![key] };
    Ok(Item { path, value })
}

/// A summary or config record: updates (field 1) and removals (field 2).
fn updates(bytes: &[u8]) -> Result<(Vec<Item>, Vec<Vec<String>>), RecordError> {
    let (mut update, mut remove) = (Vec::new(), Vec::new());
    for field in fields(bytes) {
        let (number, raw) = field?;
        match number {
            1 => update.push(item(bytes_of(raw, "update")?)?),
            2 => remove.push(item(bytes_of(raw, "remove")?)?.path),
            _ => {}
        }
    }
    Ok((update, remove))
}

fn run_info(bytes: &[u8]) -> Result<RunInfo, RecordError> {
    let mut run = RunInfo::default();
    for field in fields(bytes) {
        let (number, raw) = field?;
        match number {
            1 => run.run_id = text(bytes_of(raw, "run_id")?),
            2 => run.entity = text(bytes_of(raw, "entity")?),
            3 => run.project = text(bytes_of(raw, "project")?),
            4 => run.config = updates(bytes_of(raw, "config")?)?.0,
            5 => run.summary = updates(bytes_of(raw, "summary")?)?.0,
            6 => run.group = text(bytes_of(raw, "run_group")?),
            7 => run.job_type = text(bytes_of(raw, "job_type")?),
            8 => run.display_name = text(bytes_of(raw, "display_name")?),
            9 => run.notes = text(bytes_of(raw, "notes")?),
            10 => run.tags.push(text(bytes_of(raw, "tags")?)),
            12 => run.sweep_id = text(bytes_of(raw, "sweep_id")?),
            13 => run.host = text(bytes_of(raw, "host")?),
            17 => run.start_time = Some(timestamp_ms(bytes_of(raw, "start_time")?)?),
            21 => {
                for git in fields(bytes_of(raw, "git")?) {
                    let (number, raw) = git?;
                    match number {
                        1 => run.git_remote = text(bytes_of(raw, "remote_url")?),
                        2 => run.git_commit = text(bytes_of(raw, "commit")?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(run)
}

/// Decodes one record.
pub fn decode_record(bytes: &[u8]) -> Result<Record, RecordError> {
    for field in fields(bytes) {
        let (number, raw) = field?;
        let record = match number {
            2 => {
                let mut items = Vec::new();
                let mut step = None;
                for part in fields(bytes_of(raw, "history")?) {
                    let (n, raw) = part?;
                    match n {
                        1 => items.push(item(bytes_of(raw, "item")?)?),
                        2 => {
                            for s in fields(bytes_of(raw, "step")?) {
                                let (n, raw) = s?;
                                if n == 1 {
                                    step = Some(raw.as_i64().ok_or(RecordError::WireType("num"))?);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Record::History { items, step }
            }
            3 => {
                let (update, remove) = updates(bytes_of(raw, "summary")?)?;
                Record::Summary { update, remove }
            }
            5 => {
                let (update, remove) = updates(bytes_of(raw, "config")?)?;
                Record::Config { update, remove }
            }
            7 => {
                let mut timestamp = None;
                let mut items = Vec::new();
                for part in fields(bytes_of(raw, "stats")?) {
                    let (n, raw) = part?;
                    match n {
                        2 => timestamp = Some(timestamp_ms(bytes_of(raw, "timestamp")?)?),
                        3 => items.push(item(bytes_of(raw, "item")?)?),
                        _ => {}
                    }
                }
                Record::Stats { timestamp, items }
            }
            17 => Record::Run(Box::new(run_info(bytes_of(raw, "run")?)?)),
            18 => {
                let (mut exit_code, mut runtime_s) = (0, 0);
                for part in fields(bytes_of(raw, "exit")?) {
                    let (n, raw) = part?;
                    match n {
                        1 => exit_code = raw.as_i64().ok_or(RecordError::WireType("exit_code"))?,
                        2 => runtime_s = raw.as_i64().ok_or(RecordError::WireType("runtime"))?,
                        _ => {}
                    }
                }
                Record::Exit {
                    exit_code: exit_code as i32 as i64,
                    runtime_s,
                }
            }
            // `num` (1), `control` (16), `uuid` (19) and `_info` (200) sit beside the one
            // record type a record holds.
            1 | 16 | 19 | 200 => continue,
            other => Record::Other(other),
        };
        return Ok(record);
    }
    Ok(Record::Other(0))
}

/// Frames `records` as a `.wandb` file the way W&B's writer does (for tests).
pub fn write_file(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = FILE_HEADER.to_vec();
    for record in records {
        let mut rest: &[u8] = record;
        let mut first = true;
        loop {
            let left = BLOCK - out.len() % BLOCK;
            if left < RECORD_HEADER {
                out.resize(out.len() + left, 0);
                continue;
            }
            let room = left - RECORD_HEADER;
            let (piece, more) = if rest.len() <= room {
                (rest, false)
            } else {
                (&rest[..room], true)
            };
            let kind: u8 = match (first, more) {
                (true, false) => 1,
                (true, true) => 2,
                (false, true) => 3,
                (false, false) => 4,
            };
            let checksum = crc32_update(crc32_update(0, &[kind]), piece);
            out.extend_from_slice(&checksum.to_le_bytes());
            out.extend_from_slice(&(piece.len() as u16).to_le_bytes());
            out.push(kind);
            out.extend_from_slice(piece);
            rest = &rest[piece.len()..];
            first = false;
            if !more {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protowire::write as encode;
    use proptest::prelude::*;

    fn read_all(bytes: &[u8], chunk_blocks: usize) -> (Vec<Frame>, bool) {
        let mut reader = Reader::new();
        let mut out = Vec::new();
        for chunk in bytes.chunks(BLOCK * chunk_blocks) {
            reader.feed(chunk, &mut out).unwrap();
        }
        (out, reader.truncated())
    }

    fn history(key: &str, value_json: &str, step: i64) -> Vec<u8> {
        let mut item = Vec::new();
        encode::bytes(&mut item, 2, key.as_bytes());
        encode::bytes(&mut item, 16, value_json.as_bytes());
        let mut step_msg = Vec::new();
        encode::int(&mut step_msg, 1, step);
        let mut history = Vec::new();
        encode::bytes(&mut history, 1, &item);
        encode::bytes(&mut history, 2, &step_msg);
        let mut record = Vec::new();
        encode::int(&mut record, 1, 7);
        encode::bytes(&mut record, 2, &history);
        record
    }

    #[test]
    fn records_across_blocks_come_back_whole() {
        let records: Vec<Vec<u8>> = vec![
            b"small".to_vec(),
            vec![7u8; BLOCK * 2 + 100],
            Vec::new(),
            vec![9u8; BLOCK - 20],
        ];
        let file = write_file(&records);
        for chunk_blocks in [1, 3, 100] {
            let (frames, truncated) = read_all(&file, chunk_blocks);
            assert!(!truncated);
            let expected: Vec<Frame> = records.iter().cloned().map(Frame::Record).collect();
            assert_eq!(frames, expected);
        }
    }

    #[test]
    fn a_file_cut_short_keeps_its_whole_records() {
        let records: Vec<Vec<u8>> = (0..50).map(|i| vec![i as u8; 3000]).collect();
        let file = write_file(&records);
        let cut = &file[..file.len() - 1000];
        let (frames, truncated) = read_all(cut, 2);
        assert!(truncated);
        assert_eq!(frames.len(), 49);
        assert!(frames.iter().all(|f| matches!(f, Frame::Record(_))));
    }

    #[test]
    fn a_damaged_record_skips_the_rest_of_its_block_only() {
        let records: Vec<Vec<u8>> = (0..30).map(|i| vec![i as u8; 3000]).collect();
        let mut file = write_file(&records);
        file[100] ^= 0xFF;
        let (frames, _) = read_all(&file, 1);
        assert!(matches!(frames[0], Frame::Corrupt { offset: 7, .. }));
        let whole: Vec<&Frame> = frames
            .iter()
            .filter(|f| matches!(f, Frame::Record(_)))
            .collect();
        // The first block held records 0..10 (the 11th crossed into the next block and is
        // lost with its first piece); reading resumes in the second block.
        assert!(whole.len() >= 18 && whole.len() < 30, "{}", whole.len());
        assert_eq!(*whole.last().unwrap(), &Frame::Record(vec![29u8; 3000]));
    }

    #[test]
    fn the_header_is_checked() {
        let mut reader = Reader::new();
        assert_eq!(
            reader.feed(b"not a wandb file", &mut Vec::new()),
            Err(NotWandb)
        );
    }

    #[test]
    fn history_records_decode() {
        let record = decode_record(&history("loss", "0.25", 3)).unwrap();
        assert_eq!(
            record,
            Record::History {
                items: vec![Item {
                    path: vec!["loss".to_string()],
                    value: ItemValue::Json("0.25".to_string())
                }],
                step: Some(3)
            }
        );
    }

    #[test]
    fn values_as_numbers_and_json() {
        assert_eq!(ItemValue::Json("1.5e3".into()).number(), Some(1500.0));
        assert!(ItemValue::Json("NaN".into()).number().unwrap().is_nan());
        assert_eq!(
            ItemValue::Json("-Infinity".into()).number(),
            Some(f64::NEG_INFINITY)
        );
        assert_eq!(ItemValue::Json("true".into()).number(), Some(1.0));
        assert_eq!(ItemValue::Json("\"text\"".into()).number(), None);
        assert_eq!(
            ItemValue::Json("{\"_type\": \"image-file\"}".into()).number(),
            None
        );
        assert_eq!(ItemValue::Integer(-3).number(), Some(-3.0));
        assert_eq!(ItemValue::Text("a\"b\n".into()).json(), "\"a\\\"b\\n\"");
        assert_eq!(ItemValue::Number(0.5).json(), "0.5");
    }

    proptest! {
        #[test]
        fn any_bytes_after_the_header_never_panic(body in proptest::collection::vec(any::<u8>(), 0..70_000)) {
            let mut file = FILE_HEADER.to_vec();
            file.extend_from_slice(&body);
            let (frames, _) = read_all(&file, 1);
            for frame in frames {
                if let Frame::Record(bytes) = frame {
                    let _ = decode_record(&bytes);
                }
            }
        }

        #[test]
        fn any_record_decodes_or_errors(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_record(&bytes);
        }

        #[test]
        fn framing_round_trips(sizes in proptest::collection::vec(0usize..80_000, 0..12), chunk in 1usize..4) {
            let records: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, n)| vec![i as u8; *n]).collect();
            let file = write_file(&records);
            let (frames, truncated) = read_all(&file, chunk);
            prop_assert!(!truncated);
            prop_assert_eq!(frames, records.into_iter().map(Frame::Record).collect::<Vec<_>>());
        }
    }
}
