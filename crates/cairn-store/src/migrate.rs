//! Moving an embedded install's metadata into PostgreSQL (`cairn migrate`).
//!
//! [`migrate`] copies every table of the embedded SQLite database into an empty PostgreSQL
//! database, row for row, so that ids, run UUIDs, compressed metric chunks and every other value
//! stay exactly as they were. Artifact bytes are not touched: both backends keep the same
//! content-addressed catalogue, so a server started on the PostgreSQL database with the same blob
//! store finds every file.
//!
//! The steps:
//! 1. The source file is opened once as a store ([`SqliteStore::open`]), which migrates a file
//!    written by an older Cairn to the current schema, and closed again. Then it is read through a
//!    read-only connection inside one read transaction: a consistent snapshot, even if a server
//!    were still writing (what it writes afterwards is not copied, so stop it first).
//! 2. Opening the target as a store ([`PgStore::connect`]) creates or migrates its schema. The
//!    copy then runs in one PostgreSQL transaction that locks every table against writers and
//!    refuses a database holding anything besides the `Default` experiment its setup inserted.
//! 3. Tables are copied in dependency order (a table after those its foreign keys point to) with
//!    `COPY … FROM STDIN` in the binary format (measured cheaper than the text format: nothing to
//!    escape, doubles sent as their bits, chunk bytes as they are rather than in hex). Each value
//!    is converted by the PostgreSQL column's type (`bigint`, `double precision` including ±∞,
//!    `boolean` from 0/1, `bytea`, `text`); a value that does not fit is an error naming its
//!    table, column and row, never a guess. SQLite's `run_activity.user` is `username` in
//!    PostgreSQL (`user` is reserved there).
//! 4. Every identity sequence is moved past the copied ids (and past SQLite's `AUTOINCREMENT`
//!    high-water marks), so new rows get new ids.
//! 5. Verification: every table is read back in primary-key order and its row count and digest
//!    (a hash over a canonical encoding of each value) must equal those of the rows read from
//!    the source. Only then is the transaction committed; on any failure it is rolled back and
//!    the target is left as it was.
//!
//! **Architecture Invariant:** the target is never left half-filled: everything is written by
//! one transaction that commits only after verification passed.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hasher};
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use postgres::{IsolationLevel, NoTls, Transaction};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::postgres::PgStore;
use crate::sqlite::{SqliteStore, schema};
use crate::{Result, StoreError};

/// Columns whose name differs in PostgreSQL: (table, SQLite name, PostgreSQL name).
const RENAMED: &[(&str, &str, &str)] = &[("run_activity", "user", "username")];
/// The table whose one row the target's schema setup inserted (the `Default` experiment, id 0);
/// it is replaced by the source's own.
const DEFAULT_EXPERIMENT_TABLE: &str = "experiments";
/// Rows between two [`Progress::Rows`] events.
const PROGRESS_EVERY: u64 = 20_000;
/// `COPY` data is handed to the connection in pieces of about this many bytes.
const SEND_BYTES: usize = 256 * 1024;
/// Rows fetched at a time when reading the target back.
const FETCH_ROWS: i32 = 5_000;
/// Tables whose `data` column holds encoded metric points, for the report's byte count.
const METRIC_DATA_TABLES: &[&str] = &["metric_chunks", "metric_raw"];
/// How long the copy waits for a lock on the target's tables (another server using them).
const LOCK_TIMEOUT: &str = "10s";

/// What [`migrate`] reports while it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// The copy begins: this many tables, this many rows in all.
    Started { tables: usize, rows: u64 },
    /// A table's copy begins; it has `rows` rows.
    Table { table: &'a str, rows: u64 },
    /// Rows of the table copied so far (every few thousand rows).
    Rows { table: &'a str, copied: u64 },
    /// A table is copied.
    Copied { table: &'a str, rows: u64 },
    /// A table was read back: `ok` when its row count and digest match the source's.
    Verified { table: &'a str, rows: u64, ok: bool },
}

/// One copied table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub name: String,
    pub rows: u64,
    /// The digest of its rows (hex), equal on both sides.
    pub digest: String,
}

/// What [`migrate`] copied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// In the order they were copied.
    pub tables: Vec<TableReport>,
    pub rows: u64,
    /// Bytes of encoded metric points (compacted chunks and raw segments).
    pub metric_bytes: u64,
}

/// Copies the embedded database at `source` (a `cairn.db`) into the empty PostgreSQL database
/// `target` names, verifies the copy and commits it; see the module documentation. `progress` is
/// called from a blocking thread as the work advances.
///
/// Errors: `NotFound` when `source` does not exist, `InvalidArgument` for a malformed connection
/// string, a target that holds data or a source value PostgreSQL cannot hold, `Unavailable` when
/// the target cannot be reached, `Internal` when verification fails. In every case nothing was
/// committed.
pub async fn migrate<F>(source: &Path, target: &str, progress: F) -> Result<Report>
where
    F: Fn(Progress<'_>) + Send + 'static,
{
    if !source.is_file() {
        return Err(StoreError::NotFound(format!(
            "no Cairn database at {}",
            source.display()
        )));
    }
    let mut config: postgres::Config = target.parse().map_err(|e| {
        StoreError::InvalidArgument(format!("not a PostgreSQL connection string: {e}"))
    })?;
    if config.get_application_name().is_none() {
        config.application_name("cairn migrate");
    }
    config.connect_timeout(Duration::from_secs(10));

    let path = source.to_path_buf();
    blocking(move || {
        // Brings a file of an older Cairn to the current schema; dropping the store joins its
        // threads, so the file is closed again when this returns.
        SqliteStore::open(&path)
            .map(drop)
            .map_err(|e| prefixed(e, &format!("cannot open {}", path.display())))
    })
    .await?;
    // Creates or migrates the target's schema (and its `Default` experiment).
    drop(PgStore::connect_with(target, 2).await?);

    let path = source.to_path_buf();
    blocking(move || copy_all(&path, &config, &progress)).await
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Internal(format!("migration task failed: {e}")))?
}

/// The same error with `what: ` in front of its message.
fn prefixed(error: StoreError, what: &str) -> StoreError {
    match error {
        StoreError::NotFound(m) => StoreError::NotFound(format!("{what}: {m}")),
        StoreError::AlreadyExists(m) => StoreError::AlreadyExists(format!("{what}: {m}")),
        StoreError::InvalidArgument(m) => StoreError::InvalidArgument(format!("{what}: {m}")),
        StoreError::Unavailable(m) => StoreError::Unavailable(format!("{what}: {m}")),
        StoreError::Busy(m) => StoreError::Busy(format!("{what}: {m}")),
        StoreError::Internal(m) => StoreError::Internal(format!("{what}: {m}")),
    }
}

/// A PostgreSQL column type the copy knows how to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Bool,
    Text,
    Bytes,
}

impl Kind {
    fn from_postgres(data_type: &str) -> Option<Kind> {
        Some(match data_type {
            // Binary COPY sends exact widths: 8-byte integers and doubles only.
            "bigint" => Kind::Int,
            "double precision" => Kind::Float,
            "boolean" => Kind::Bool,
            "text" | "character varying" => Kind::Text,
            "bytea" => Kind::Bytes,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
struct Column {
    source: String,
    target: String,
    kind: Kind,
}

/// How one table is copied.
#[derive(Debug, Clone)]
struct Plan {
    table: String,
    columns: Vec<Column>,
    /// Indexes into `columns` of the primary key, in key order.
    key: Vec<usize>,
    /// Rows in the source snapshot.
    rows: u64,
    /// SQLite's `AUTOINCREMENT` high-water mark, if the table has one.
    sequence_floor: i64,
}

/// Double quotes an identifier (the same syntax in both databases).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn copy_all(
    source: &Path,
    config: &postgres::Config,
    progress: &dyn Fn(Progress<'_>),
) -> Result<Report> {
    let sqlite = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    sqlite.busy_timeout(Duration::from_secs(30))?;
    // Deferred: the snapshot is taken by the first read and held until the end.
    sqlite.execute_batch("BEGIN")?;
    let version = schema::version(&sqlite)?;
    if version != schema::LATEST_VERSION {
        return Err(StoreError::Internal(format!(
            "{} has schema version {version}, not {} as expected after opening it",
            source.display(),
            schema::LATEST_VERSION
        )));
    }
    let tables = source_tables(&sqlite)?;

    let mut client = config.connect(NoTls)?;
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()?;
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))?;
    let plans = plan(&sqlite, &mut tx, &tables)?;
    let names: Vec<String> = plans.iter().map(|p| quoted(&p.table)).collect();
    tx.batch_execute(&format!(
        "LOCK TABLE {} IN EXCLUSIVE MODE",
        names.join(", ")
    ))
    .map_err(|e| {
        prefixed(
            e.into(),
            "cannot lock the target's tables (is a server using that database?)",
        )
    })?;
    refuse_unless_empty(&mut tx, &plans)?;
    tx.execute(
        &format!("DELETE FROM {}", quoted(DEFAULT_EXPERIMENT_TABLE)),
        &[],
    )?;

    progress(Progress::Started {
        tables: plans.len(),
        rows: plans.iter().map(|p| p.rows).sum(),
    });
    let mut report = Report::default();
    let mut copied = Vec::with_capacity(plans.len());
    for plan in &plans {
        progress(Progress::Table {
            table: &plan.table,
            rows: plan.rows,
        });
        let tally = copy_table(&sqlite, &mut tx, plan, progress)
            .map_err(|e| prefixed(e, &format!("copying table {}", plan.table)))?;
        progress(Progress::Copied {
            table: &plan.table,
            rows: tally.rows,
        });
        if METRIC_DATA_TABLES.contains(&plan.table.as_str()) {
            report.metric_bytes += tally.bytes;
        }
        report.rows += tally.rows;
        copied.push(tally);
    }
    for plan in &plans {
        restart_identities(&mut tx, plan)?;
    }

    let mut mismatched = Vec::new();
    for (plan, expected) in plans.iter().zip(&copied) {
        let found = read_back(&mut tx, plan)
            .map_err(|e| prefixed(e, &format!("reading back table {}", plan.table)))?;
        let ok = found.rows == expected.rows && found.digest == expected.digest;
        progress(Progress::Verified {
            table: &plan.table,
            rows: found.rows,
            ok,
        });
        if !ok {
            mismatched.push(format!(
                "{} ({} rows copied, {} read back)",
                plan.table, expected.rows, found.rows
            ));
        }
        report.tables.push(TableReport {
            name: plan.table.clone(),
            rows: expected.rows,
            digest: format!("{:016x}", expected.digest),
        });
    }
    if !mismatched.is_empty() {
        // Dropping the transaction rolls it back.
        return Err(StoreError::Internal(format!(
            "verification failed for {}; nothing was committed",
            mismatched.join(", ")
        )));
    }
    tx.commit()?;
    let _ = sqlite.execute_batch("COMMIT");
    Ok(report)
}

/// A source table: its name and the tables its foreign keys point to.
#[derive(Debug)]
struct SourceTable {
    name: String,
    references: Vec<String>,
}

/// The source's tables (not SQLite's own), ordered so that a table comes after every table its
/// foreign keys point to; otherwise in the order they were created.
fn source_tables(sqlite: &Connection) -> Result<Vec<String>> {
    let mut tables = Vec::new();
    let mut statement = sqlite.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
         ORDER BY rowid",
    )?;
    let names = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    for name in names {
        let mut keys = sqlite.prepare("SELECT \"table\" FROM pragma_foreign_key_list(?1)")?;
        let references = keys
            .query_map([&name], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        tables.push(SourceTable { name, references });
    }
    let mut placed: Vec<String> = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        let next = tables.iter().position(|table| {
            table
                .references
                .iter()
                .all(|r| r == &table.name || placed.contains(r))
        });
        let Some(next) = next else {
            let stuck: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
            return Err(StoreError::Internal(format!(
                "the foreign keys of {} form a cycle or name a missing table",
                stuck.join(", ")
            )));
        };
        placed.push(tables.remove(next).name);
    }
    Ok(placed)
}

/// Matches every source table's columns with the target's and reads what the copy needs.
fn plan(sqlite: &Connection, tx: &mut Transaction<'_>, tables: &[String]) -> Result<Vec<Plan>> {
    let mut target: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for row in tx.query(
        "SELECT table_name::text, column_name::text, data_type::text
         FROM information_schema.columns
         WHERE table_schema = current_schema()
         ORDER BY table_name, ordinal_position",
        &[],
    )? {
        target
            .entry(row.get(0))
            .or_default()
            .push((row.get(1), row.get(2)));
    }
    let floors: HashMap<String, i64> = {
        let has_sequences: bool = sqlite.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'sqlite_sequence'",
            [],
            |row| row.get(0),
        )?;
        if has_sequences {
            let mut statement = sqlite.prepare("SELECT name, seq FROM sqlite_sequence")?;
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        } else {
            HashMap::new()
        }
    };

    let mut plans = Vec::with_capacity(tables.len());
    for table in tables {
        let Some(target_columns) = target.get(table) else {
            return Err(StoreError::Internal(format!(
                "the PostgreSQL schema has no table {table}"
            )));
        };
        let mut info = sqlite.prepare("SELECT name, pk FROM pragma_table_info(?1)")?;
        let source_columns = info
            .query_map([table], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<(String, i64)>>>()?;
        let mut columns = Vec::with_capacity(source_columns.len());
        let mut key: Vec<(i64, usize)> = Vec::new();
        for (name, pk) in &source_columns {
            let renamed = RENAMED
                .iter()
                .find(|(t, from, _)| t == table && from == name)
                .map_or(name.as_str(), |(_, _, to)| to);
            let Some((_, data_type)) = target_columns.iter().find(|(c, _)| c == renamed) else {
                return Err(StoreError::Internal(format!(
                    "the PostgreSQL table {table} has no column {renamed}"
                )));
            };
            let kind = Kind::from_postgres(data_type).ok_or_else(|| {
                StoreError::Internal(format!(
                    "the PostgreSQL column {table}.{renamed} has type {data_type}, which the \
                     migration does not handle"
                ))
            })?;
            if *pk > 0 {
                key.push((*pk, columns.len()));
            }
            columns.push(Column {
                source: name.clone(),
                target: renamed.to_string(),
                kind,
            });
        }
        let known: HashSet<&str> = columns.iter().map(|c| c.target.as_str()).collect();
        if let Some((extra, _)) = target_columns
            .iter()
            .find(|(c, _)| !known.contains(c.as_str()))
        {
            return Err(StoreError::Internal(format!(
                "the PostgreSQL table {table} has a column {extra} the embedded database lacks"
            )));
        }
        key.sort();
        let mut key: Vec<usize> = key.into_iter().map(|(_, index)| index).collect();
        if key.is_empty() {
            // No primary key: every column orders the rows.
            key = (0..columns.len()).collect();
        }
        let rows: i64 = sqlite.query_row(
            &format!("SELECT count(*) FROM {}", quoted(table)),
            [],
            |row| row.get(0),
        )?;
        plans.push(Plan {
            table: table.clone(),
            columns,
            key,
            rows: rows.max(0) as u64,
            sequence_floor: floors.get(table).copied().unwrap_or(0),
        });
    }
    Ok(plans)
}

/// Refuses a target that holds anything besides the `Default` experiment (id 0).
fn refuse_unless_empty(tx: &mut Transaction<'_>, plans: &[Plan]) -> Result<()> {
    let mut found = Vec::new();
    for plan in plans {
        let table = &plan.table;
        let (query, what) = if table == DEFAULT_EXPERIMENT_TABLE {
            (
                format!(
                    "SELECT count(*) FROM {} WHERE experiment_id <> 0",
                    quoted(table)
                ),
                " besides Default",
            )
        } else {
            (format!("SELECT count(*) FROM {}", quoted(table)), "")
        };
        let rows: i64 = tx.query_one(&query, &[])?.get(0);
        if rows > 0 {
            let noun = if rows == 1 { "row" } else { "rows" };
            found.push(format!("{table} ({rows} {noun}{what})"));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(StoreError::InvalidArgument(format!(
        "the target database is not empty: it holds {}. Migrate only into a new, empty database \
         (CREATE DATABASE …); nothing was changed",
        found.join(", ")
    )))
}

/// A value on its way between the databases, typed as the PostgreSQL column is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(&'a str),
    Bytes(&'a [u8]),
}

/// Converts a SQLite value for a column of `kind`, refusing what does not fit exactly.
fn from_sqlite<'a>(value: ValueRef<'a>, kind: Kind) -> std::result::Result<Cell<'a>, String> {
    let cell = match (kind, value) {
        (_, ValueRef::Null) => Cell::Null,
        (Kind::Int, ValueRef::Integer(i)) => Cell::Int(i),
        (Kind::Float, ValueRef::Real(f)) => Cell::Float(f),
        // Exactly representable integers only.
        (Kind::Float, ValueRef::Integer(i)) if i.unsigned_abs() <= 1 << 53 => Cell::Float(i as f64),
        (Kind::Bool, ValueRef::Integer(0)) => Cell::Bool(false),
        (Kind::Bool, ValueRef::Integer(1)) => Cell::Bool(true),
        (Kind::Text, ValueRef::Text(bytes)) => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| "the text is not valid UTF-8".to_string())?;
            if text.contains('\0') {
                return Err("the text holds a NUL character, which PostgreSQL cannot store".into());
            }
            Cell::Text(text)
        }
        (Kind::Bytes, ValueRef::Blob(bytes)) => Cell::Bytes(bytes),
        (kind, value) => {
            return Err(format!(
                "a {} value cannot go into a {kind:?} column",
                match value.data_type() {
                    rusqlite::types::Type::Null => "NULL".to_string(),
                    rusqlite::types::Type::Integer => format!("integer ({value:?})"),
                    rusqlite::types::Type::Real => format!("real ({value:?})"),
                    rusqlite::types::Type::Text => "text".to_string(),
                    rusqlite::types::Type::Blob => "blob".to_string(),
                }
            ));
        }
    };
    Ok(cell)
}

/// Reads a PostgreSQL value of a column of `kind`.
fn from_postgres(row: &postgres::Row, index: usize, kind: Kind) -> Result<Cell<'_>> {
    Ok(match kind {
        Kind::Int => row
            .try_get::<_, Option<i64>>(index)?
            .map_or(Cell::Null, Cell::Int),
        Kind::Float => row
            .try_get::<_, Option<f64>>(index)?
            .map_or(Cell::Null, Cell::Float),
        Kind::Bool => row
            .try_get::<_, Option<bool>>(index)?
            .map_or(Cell::Null, Cell::Bool),
        Kind::Text => row
            .try_get::<_, Option<&str>>(index)?
            .map_or(Cell::Null, Cell::Text),
        Kind::Bytes => row
            .try_get::<_, Option<&[u8]>>(index)?
            .map_or(Cell::Null, Cell::Bytes),
    })
}

/// A running digest of a table's rows: SipHash over a canonical encoding of every value (a
/// type tag, then fixed-width numbers or length-prefixed bytes). Both sides are hashed by this
/// process, so the hasher need only be deterministic within one run.
struct Digest {
    hasher: DefaultHasher,
}

impl Digest {
    fn new() -> Self {
        Digest {
            hasher: DefaultHasher::new(),
        }
    }

    fn add(&mut self, cell: Cell<'_>) {
        let hasher = &mut self.hasher;
        match cell {
            Cell::Null => hasher.write_u8(0),
            Cell::Int(i) => {
                hasher.write_u8(1);
                hasher.write(&i.to_le_bytes());
            }
            Cell::Float(f) => {
                hasher.write_u8(2);
                let bits = if f.is_nan() {
                    f64::NAN.to_bits()
                } else {
                    f.to_bits()
                };
                hasher.write(&bits.to_le_bytes());
            }
            Cell::Bool(b) => {
                hasher.write_u8(3);
                hasher.write_u8(u8::from(b));
            }
            Cell::Text(text) => {
                hasher.write_u8(4);
                hasher.write(&(text.len() as u64).to_le_bytes());
                hasher.write(text.as_bytes());
            }
            Cell::Bytes(bytes) => {
                hasher.write_u8(5);
                hasher.write(&(bytes.len() as u64).to_le_bytes());
                hasher.write(bytes);
            }
        }
    }

    fn finish(&self) -> u64 {
        self.hasher.finish()
    }
}

/// The start of a binary `COPY` stream: its signature, no flags, no header extension.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end of a binary `COPY` stream: a field count of -1.
const BINARY_TRAILER: &[u8] = &(-1i16).to_be_bytes();

/// Appends `cell` as one field of a binary `COPY` row: its length (-1 for NULL), then the value
/// in PostgreSQL's binary form (big-endian `int8` and `float8`, one byte for `bool`, text and
/// `bytea` as they are).
fn write_binary(out: &mut Vec<u8>, cell: Cell<'_>) {
    let mut field = |bytes: &[u8]| {
        // Values come from SQLite, whose values are below 2 GiB.
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    match cell {
        Cell::Null => out.extend_from_slice(&(-1i32).to_be_bytes()),
        Cell::Int(i) => field(&i.to_be_bytes()),
        Cell::Float(f) => field(&f.to_bits().to_be_bytes()),
        Cell::Bool(b) => field(&[u8::from(b)]),
        Cell::Text(text) => field(text.as_bytes()),
        Cell::Bytes(bytes) => field(bytes),
    }
}

/// What a table's copy (or read-back) saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tally {
    rows: u64,
    digest: u64,
    /// Bytes of `bytea` values (counted while copying).
    bytes: u64,
}

/// Reads a `COPY` stream's failure back as the database's own error where there is one.
fn copy_error(error: std::io::Error) -> StoreError {
    match error.into_inner() {
        Some(inner) => match inner.downcast::<postgres::Error>() {
            Ok(error) => StoreError::from(*error),
            Err(other) => StoreError::Unavailable(format!("sending rows failed: {other}")),
        },
        None => StoreError::Unavailable("sending rows failed".to_string()),
    }
}

fn copy_table(
    sqlite: &Connection,
    tx: &mut Transaction<'_>,
    plan: &Plan,
    progress: &dyn Fn(Progress<'_>),
) -> Result<Tally> {
    let source_columns: Vec<String> = plan.columns.iter().map(|c| quoted(&c.source)).collect();
    let order: Vec<String> = plan
        .key
        .iter()
        .map(|&i| quoted(&plan.columns[i].source))
        .collect();
    let mut select = sqlite.prepare(&format!(
        "SELECT {} FROM {} ORDER BY {}",
        source_columns.join(", "),
        quoted(&plan.table),
        order.join(", ")
    ))?;
    let target_columns: Vec<String> = plan.columns.iter().map(|c| quoted(&c.target)).collect();
    let mut writer = tx.copy_in(&format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        quoted(&plan.table),
        target_columns.join(", ")
    ))?;

    let mut rows = select.query([])?;
    let mut buffer = Vec::with_capacity(SEND_BYTES + 64 * 1024);
    buffer.extend_from_slice(BINARY_HEADER);
    let field_count = i16::try_from(plan.columns.len())
        .map_err(|_| StoreError::Internal(format!("{} has too many columns", plan.table)))?;
    let mut digest = Digest::new();
    let mut tally = Tally {
        rows: 0,
        digest: 0,
        bytes: 0,
    };
    while let Some(row) = rows.next()? {
        buffer.extend_from_slice(&field_count.to_be_bytes());
        for (index, column) in plan.columns.iter().enumerate() {
            let cell = from_sqlite(row.get_ref(index)?, column.kind).map_err(|why| {
                StoreError::InvalidArgument(format!(
                    "{}.{} in row {} (in primary-key order): {why}",
                    plan.table,
                    column.source,
                    tally.rows + 1
                ))
            })?;
            if let Cell::Bytes(bytes) = cell {
                tally.bytes += bytes.len() as u64;
            }
            digest.add(cell);
            write_binary(&mut buffer, cell);
        }
        tally.rows += 1;
        if buffer.len() >= SEND_BYTES {
            writer.write_all(&buffer).map_err(copy_error)?;
            buffer.clear();
        }
        if tally.rows.is_multiple_of(PROGRESS_EVERY) {
            progress(Progress::Rows {
                table: &plan.table,
                copied: tally.rows,
            });
        }
    }
    buffer.extend_from_slice(BINARY_TRAILER);
    writer.write_all(&buffer).map_err(copy_error)?;
    let written = writer.finish()?;
    if written != tally.rows {
        return Err(StoreError::Internal(format!(
            "{} rows sent, PostgreSQL stored {written}",
            tally.rows
        )));
    }
    tally.digest = digest.finish();
    Ok(tally)
}

/// Moves the table's identity sequences past the copied ids and SQLite's high-water mark.
fn restart_identities(tx: &mut Transaction<'_>, plan: &Plan) -> Result<()> {
    let identities = tx.query(
        "SELECT column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 AND is_identity = 'YES'",
        &[&plan.table],
    )?;
    for row in identities {
        let column: String = row.get(0);
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), greatest(top, $3))
                 FROM (SELECT max({}) AS top FROM {}) AS copied
                 WHERE greatest(top, $3) >= 1",
                quoted(&column),
                quoted(&plan.table)
            ),
            &[&quoted(&plan.table), &column, &plan.sequence_floor],
        )?;
    }
    Ok(())
}

/// Reads a table back from the target in primary-key order.
fn read_back(tx: &mut Transaction<'_>, plan: &Plan) -> Result<Tally> {
    let columns: Vec<String> = plan.columns.iter().map(|c| quoted(&c.target)).collect();
    let order: Vec<String> = plan
        .key
        .iter()
        .map(|&i| {
            let column = &plan.columns[i];
            match column.kind {
                // Byte order, as SQLite's BINARY collation compares.
                Kind::Text => format!("{} COLLATE \"C\"", quoted(&column.target)),
                _ => quoted(&column.target),
            }
        })
        .collect();
    let query = format!(
        "SELECT {} FROM {} ORDER BY {}",
        columns.join(", "),
        quoted(&plan.table),
        order.join(", ")
    );
    let portal = tx.bind(query.as_str(), &[])?;
    let mut digest = Digest::new();
    let mut tally = Tally {
        rows: 0,
        digest: 0,
        bytes: 0,
    };
    loop {
        let rows = tx.query_portal(&portal, FETCH_ROWS)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            for (index, column) in plan.columns.iter().enumerate() {
                digest.add(from_postgres(row, index, column.kind)?);
            }
            tally.rows += 1;
        }
    }
    tally.digest = digest.finish();
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(cell: Cell<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        write_binary(&mut out, cell);
        out
    }

    #[test]
    fn binary_fields_carry_their_length_and_exact_value() {
        assert_eq!(field(Cell::Null), [0xff; 4]);
        assert_eq!(
            field(Cell::Int(-2)),
            [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]
        );
        assert_eq!(field(Cell::Bool(true)), [0, 0, 0, 1, 1]);
        assert_eq!(field(Cell::Text("a\tb")), [0, 0, 0, 3, b'a', b'\t', b'b']);
        assert_eq!(field(Cell::Bytes(&[0, 0xff])), [0, 0, 0, 2, 0, 0xff]);
        for value in [f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.1 + 0.2, 5e-324] {
            let bytes = field(Cell::Float(value));
            assert_eq!(bytes[..4], [0, 0, 0, 8]);
            let bits = u64::from_be_bytes(bytes[4..].try_into().unwrap());
            assert_eq!(bits, value.to_bits(), "{value}");
        }
        assert_eq!(BINARY_HEADER.len(), 19);
    }

    #[test]
    fn sqlite_values_that_do_not_fit_are_refused() {
        assert_eq!(
            from_sqlite(ValueRef::Integer(1), Kind::Bool),
            Ok(Cell::Bool(true))
        );
        assert!(from_sqlite(ValueRef::Integer(2), Kind::Bool).is_err());
        assert!(from_sqlite(ValueRef::Real(1.5), Kind::Int).is_err());
        assert!(from_sqlite(ValueRef::Text(b"a\0b"), Kind::Text).is_err());
        assert!(from_sqlite(ValueRef::Text(&[0xff]), Kind::Text).is_err());
        assert!(from_sqlite(ValueRef::Integer(i64::MAX), Kind::Float).is_err());
        assert_eq!(
            from_sqlite(ValueRef::Integer(3), Kind::Float),
            Ok(Cell::Float(3.0))
        );
    }

    #[test]
    fn digests_tell_values_of_different_types_apart() {
        let digest = |cells: &[Cell<'_>]| {
            let mut d = Digest::new();
            for cell in cells {
                d.add(*cell);
            }
            d.finish()
        };
        assert_ne!(digest(&[Cell::Int(1)]), digest(&[Cell::Bool(true)]));
        assert_ne!(
            digest(&[Cell::Text("ab"), Cell::Text("")]),
            digest(&[Cell::Text("a"), Cell::Text("b")])
        );
        assert_ne!(digest(&[Cell::Null]), digest(&[Cell::Text("")]));
        assert_eq!(digest(&[Cell::Float(2.0)]), digest(&[Cell::Float(2.0)]));
    }
}
