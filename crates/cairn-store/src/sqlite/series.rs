//! The metric engine on SQLite: ingest into raw segments, compaction into chunks, and reads that
//! merge both.
//!
//! A series is one (run, key). Every ingested batch lands, per key, as one raw segment: its points
//! sorted, deduplicated and compressed with the chunk codec (`metric_raw`). Compaction (a
//! background thread, see `compactor`) folds raw segments into `metric_chunks`: sorted,
//! non-overlapping runs of at most [`CHUNK_POINTS`] points in canonical order, each with summary
//! columns (count, NaN count, min, max, sum, first and last point) and its blocks' summaries in
//! the blob. Compaction is the only writer of chunks, and it swaps raw segments for chunks in one
//! transaction, so a read (one read transaction) sees every point exactly once.
//!
//! Reads walk the chunks that may hold the requested steps in order and merge in the raw points.
//! A chunk that no raw point falls inside is *clean*: a view uses its summary (or its blocks'
//! summaries) whenever it lies inside one bucket, and decodes only what straddles a bucket edge.
//! A chunk with raw points inside its key range is decoded and merged, dropping exact duplicates.
//! Views read a clean chunk through SQLite's incremental blob I/O ([`ChunkReader`]): its index
//! (the first few hundred bytes) and then only the blocks they decode, never the whole blob,
//! whose tail spans overflow pages.

use std::collections::BTreeMap;

use cairn_core::model::Metric;
use cairn_core::series::buckets::{Axis, Downsampler, Grid};
use cairn_core::series::codec::{self, Chunk, ChunkIndex};
use cairn_core::series::{Point, Summary, normalize};
use rusqlite::blob::Blob;
use rusqlite::{Connection, MAIN_DB, OptionalExtension, Row, params};

use super::sql;
use crate::{PointsRead, Result, RunBuckets, SeriesRequest, SeriesSummary, StoreError, XAxis};

/// Most points in one compacted chunk.
pub const CHUNK_POINTS: usize = 4096;
/// A series is compacted once this many raw points are waiting...
pub const COMPACT_POINTS: i64 = CHUNK_POINTS as i64;
/// ...or this many raw segments...
pub const COMPACT_SEGMENTS: i64 = 32;
/// ...or its oldest raw segment is this old (milliseconds).
pub const COMPACT_AFTER_MS: i64 = 1_000;
/// Most raw points one compaction step folds in (bounds its memory).
pub(crate) const COMPACT_BATCH_POINTS: i64 = 1 << 20;

/// A point's optional links to a logged model and a dataset (MLflow 3).
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub point: Point,
    pub model_id: Option<String>,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// One key's points in a batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    pub key: String,
    pub points: Vec<Point>,
    pub links: Vec<Link>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Appended {
    pub points: usize,
    /// Some series now has enough raw data to be worth compacting.
    pub compact: bool,
}

/// Groups MLflow metrics by key.
pub fn batches_from_metrics(metrics: &[Metric]) -> Vec<Batch> {
    let mut by_key: BTreeMap<&str, Batch> = BTreeMap::new();
    for metric in metrics {
        let batch = by_key.entry(metric.key.as_str()).or_insert_with(|| Batch {
            key: metric.key.clone(),
            ..Batch::default()
        });
        let point = Point::new(metric.step, metric.timestamp, metric.value);
        batch.points.push(point);
        if metric.model_id.is_some()
            || metric.dataset_name.is_some()
            || metric.dataset_digest.is_some()
        {
            batch.links.push(Link {
                point,
                model_id: metric.model_id.clone(),
                dataset_name: metric.dataset_name.clone(),
                dataset_digest: metric.dataset_digest.clone(),
            });
        }
    }
    by_key.into_values().collect()
}

/// Appends batches to a run's series as raw segments and keeps `latest_metrics` current. Runs in
/// the writer's transaction; `run` is the run's internal id.
pub fn append(conn: &Connection, run: i64, batches: Vec<Batch>, now: i64) -> Result<Appended> {
    let mut upsert_series = conn.prepare_cached(
        "INSERT INTO metric_series (run_id, key, raw_points, raw_segments, raw_since)
         VALUES (?1, ?2, ?3, 1, ?4)
         ON CONFLICT (run_id, key) DO UPDATE SET
             raw_points = raw_points + excluded.raw_points,
             raw_segments = raw_segments + 1,
             raw_since = coalesce(raw_since, excluded.raw_since)
         RETURNING id, raw_points, raw_segments",
    )?;
    let mut insert_raw = conn
        .prepare_cached("INSERT INTO metric_raw (series_id, points, data) VALUES (?1, ?2, ?3)")?;
    let mut upsert_latest = conn.prepare_cached(
        "INSERT INTO latest_metrics (run_id, key, step, timestamp, is_nan, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (run_id, key) DO UPDATE SET
             step = excluded.step, timestamp = excluded.timestamp, is_nan = excluded.is_nan, value = excluded.value
         WHERE (excluded.step, excluded.timestamp, excluded.is_nan, excluded.value)
             > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.is_nan, latest_metrics.value)",
    )?;
    let mut insert_link = conn.prepare_cached(
        "INSERT OR REPLACE INTO metric_point_links
         (series_id, step, timestamp, is_nan, value, model_id, dataset_name, dataset_digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut appended = Appended::default();
    for mut batch in batches {
        normalize(&mut batch.points);
        let Some(latest) = batch.points.last().copied() else {
            continue;
        };
        let count = batch.points.len() as i64;
        let (series, raw_points, raw_segments): (i64, i64, i64) = upsert_series
            .query_row(params![run, batch.key, count, now], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
        insert_raw.execute(params![series, count, codec::encode(&batch.points)])?;
        let (is_nan, value) = sql::split_value(latest.value);
        upsert_latest.execute(params![
            run,
            batch.key,
            latest.step,
            latest.timestamp,
            is_nan,
            value
        ])?;
        for link in &batch.links {
            let (is_nan, value) = sql::split_value(link.point.value);
            insert_link.execute(params![
                series,
                link.point.step,
                link.point.timestamp,
                is_nan,
                value,
                link.model_id,
                link.dataset_name,
                link.dataset_digest
            ])?;
        }
        appended.points += batch.points.len();
        appended.compact |= raw_points >= COMPACT_POINTS || raw_segments >= COMPACT_SEGMENTS;
    }
    Ok(appended)
}

/// The answer given to an earlier request with this idempotency key on this run, if any.
pub fn earlier_answer(conn: &Connection, run: i64, key: &str) -> Result<Option<usize>> {
    let earlier: Option<i64> = conn
        .prepare_cached("SELECT accepted FROM ingest_keys WHERE run_id = ?1 AND key = ?2")?
        .query_row(params![run, key], |row| row.get(0))
        .optional()?;
    Ok(earlier.map(|n| usize::try_from(n).unwrap_or(0)))
}

/// Remembers the answer to a request with an idempotency key, in the same transaction as its
/// points.
pub fn remember_answer(
    conn: &Connection,
    run: i64,
    key: &str,
    accepted: usize,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO ingest_keys (run_id, key, accepted, created) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![run, key, accepted as i64, now])?;
    Ok(())
}

/// Forgets idempotency keys older than `cutoff` (ms).
pub fn expire_idempotency_keys(conn: &Connection, cutoff: i64) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM ingest_keys WHERE created < ?1")?
        .execute(params![cutoff])?)
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A compacted chunk's row, without its data.
#[derive(Debug, Clone)]
pub struct ChunkRow {
    pub id: i64,
    pub steps: (i64, i64),
    pub times: (i64, i64),
    pub summary: Summary,
    /// The retention resolution (steps per kept bucket) applied to it; 0 when intact.
    pub thinned: i64,
}

impl ChunkRow {
    pub(crate) fn first(&self) -> Point {
        self.summary.first.unwrap_or(Point::new(0, 0, 0.0))
    }

    pub(crate) fn last(&self) -> Point {
        self.summary.last.unwrap_or(Point::new(0, 0, 0.0))
    }
}

pub(crate) const CHUNK_COLUMNS: &str = "id, min_step, max_step, min_time, max_time, count, nans, min_bits, \
     max_bits, sum_bits, first_step, first_time, first_bits, last_step, last_time, last_bits, thinned";

fn double(row: &Row<'_>, index: usize) -> rusqlite::Result<f64> {
    Ok(f64::from_bits(row.get::<_, i64>(index)? as u64))
}

pub(crate) fn bits(value: f64) -> i64 {
    value.to_bits() as i64
}

fn chunk_row(row: &Row<'_>) -> rusqlite::Result<ChunkRow> {
    let count: i64 = row.get(5)?;
    let nans: i64 = row.get(6)?;
    Ok(ChunkRow {
        id: row.get(0)?,
        steps: (row.get(1)?, row.get(2)?),
        times: (row.get(3)?, row.get(4)?),
        summary: Summary {
            count: count as u64,
            nans: nans as u64,
            min: double(row, 7)?,
            max: double(row, 8)?,
            sum: double(row, 9)?,
            first: Some(Point::new(row.get(10)?, row.get(11)?, double(row, 12)?)),
            last: Some(Point::new(row.get(13)?, row.get(14)?, double(row, 15)?)),
        },
        thinned: row.get(16)?,
    })
}

/// The series id of (run, key), if the run ever logged the key.
pub fn series_id(conn: &Connection, run: i64, key: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM metric_series WHERE run_id = ?1 AND key = ?2")?
        .query_row(params![run, key], |row| row.get(0))
        .optional()?)
}

/// Chunks of a series that may hold steps in `steps` (all of them when `None`), in canonical
/// order.
pub fn chunks(conn: &Connection, series: i64, steps: Option<(i64, i64)>) -> Result<Vec<ChunkRow>> {
    let (from, to) = steps.unwrap_or((i64::MIN, i64::MAX));
    let mut rows: Vec<ChunkRow> = conn
        .prepare_cached(&format!(
            "SELECT {CHUNK_COLUMNS} FROM metric_chunks
             WHERE series_id = ?1 AND max_step >= ?2 AND min_step <= ?3"
        ))?
        .query_map(params![series, from, to], chunk_row)?
        .collect::<rusqlite::Result<_>>()?;
    rows.sort_by(|a, b| a.first().cmp_canonical(&b.first()));
    Ok(rows)
}

pub(crate) fn corrupt(error: codec::CodecError) -> StoreError {
    StoreError::Internal(error.to_string())
}

/// A chunk's encoded bytes.
pub fn chunk_data(conn: &Connection, chunk: i64) -> Result<Vec<u8>> {
    Ok(conn
        .prepare_cached("SELECT data FROM metric_chunks WHERE id = ?1")?
        .query_row(params![chunk], |row| row.get(0))?)
}

fn decode_chunk(conn: &Connection, chunk: i64, out: &mut Vec<Point>) -> Result<()> {
    let data = chunk_data(conn, chunk)?;
    Chunk::parse(&data)
        .and_then(|parsed| parsed.decode(out))
        .map_err(corrupt)
}

/// Raw segments of a series: their ids, their point count, and their points normalised.
pub struct RawTail {
    pub ids: Vec<i64>,
    pub points_logged: i64,
    pub points: Vec<Point>,
}

/// Raw segments in landing order, up to about `limit` points (at least one segment).
pub fn raw_tail(conn: &Connection, series: i64, limit: i64) -> Result<RawTail> {
    let mut statement = conn.prepare_cached(
        "SELECT id, points, data FROM metric_raw WHERE series_id = ?1 ORDER BY id",
    )?;
    let mut rows = statement.query(params![series])?;
    let mut tail = RawTail {
        ids: Vec::new(),
        points_logged: 0,
        points: Vec::new(),
    };
    while let Some(row) = rows.next()? {
        if tail.points_logged >= limit {
            break;
        }
        tail.ids.push(row.get(0)?);
        tail.points_logged += row.get::<_, i64>(1)?;
        let data = row.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
        Chunk::parse(data)
            .and_then(|chunk| chunk.decode(&mut tail.points))
            .map_err(corrupt)?;
    }
    normalize(&mut tail.points);
    Ok(tail)
}

/// A stretch of a series in canonical order, as the merged walk hands it out.
pub enum Piece<'a> {
    /// A chunk no raw point falls inside: its summary is exact.
    Clean(&'a ChunkRow),
    /// Points, sorted and free of duplicates.
    Points(Vec<Point>),
}

/// Walks a series in canonical order: chunks that may hold `steps`, merged with every raw point.
/// Pieces can contain points outside `steps`; callers filter. Returns the coarsest retention
/// resolution among the chunks walked (0 when none was thinned).
pub fn walk(
    conn: &Connection,
    series: i64,
    steps: Option<(i64, i64)>,
    mut visit: impl FnMut(&Connection, Piece<'_>) -> Result<()>,
) -> Result<i64> {
    let chunks = chunks(conn, series, steps)?;
    let thinned = chunks.iter().map(|c| c.thinned).max().unwrap_or(0);
    let raw = raw_tail(conn, series, i64::MAX)?.points;
    let mut next = 0;
    for chunk in &chunks {
        let first = chunk.first();
        let last = chunk.last();
        let before = next + raw[next..].partition_point(|p| p.cmp_canonical(&first).is_lt());
        if before > next {
            visit(conn, Piece::Points(raw[next..before].to_vec()))?;
        }
        let inside = before + raw[before..].partition_point(|p| p.cmp_canonical(&last).is_le());
        if inside == before {
            visit(conn, Piece::Clean(chunk))?;
        } else {
            let mut points = Vec::with_capacity(chunk.summary.count as usize + inside - before);
            decode_chunk(conn, chunk.id, &mut points)?;
            points.extend_from_slice(&raw[before..inside]);
            normalize(&mut points);
            visit(conn, Piece::Points(points))?;
        }
        next = inside;
    }
    if next < raw.len() {
        visit(conn, Piece::Points(raw[next..].to_vec()))?;
    }
    Ok(thinned)
}

/// Every point of a series with a step in `[from, to]`, in canonical order.
pub fn points(conn: &Connection, series: i64, from: i64, to: i64) -> Result<PointsRead> {
    let mut out = Vec::new();
    let thinned = walk(conn, series, Some((from, to)), |conn, piece| {
        match piece {
            Piece::Clean(chunk) => decode_chunk(conn, chunk.id, &mut out)?,
            Piece::Points(points) => out.extend(points),
        }
        Ok(())
    })?;
    out.retain(|p| (from..=to).contains(&p.step));
    Ok(PointsRead {
        points: out,
        thinned,
    })
}

/// Links of a series' points, by point.
pub fn links(conn: &Connection, series: i64) -> Result<Vec<Link>> {
    let mut statement = conn.prepare_cached(
        "SELECT step, timestamp, is_nan, value, model_id, dataset_name, dataset_digest
         FROM metric_point_links WHERE series_id = ?1",
    )?;
    let rows = statement.query_map(params![series], |row| {
        Ok(Link {
            point: Point::new(
                row.get(0)?,
                row.get(1)?,
                sql::join_value(row.get(2)?, row.get(3)?),
            ),
            model_id: row.get(4)?,
            dataset_name: row.get(5)?,
            dataset_digest: row.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The summary of a whole series.
pub fn summary(conn: &Connection, series: i64) -> Result<Summary> {
    let mut total = Summary::default();
    let _thinned = walk(conn, series, None, |_, piece| {
        match piece {
            Piece::Clean(chunk) => total.merge(&chunk.summary),
            Piece::Points(points) => points.iter().for_each(|p| total.add(*p)),
        }
        Ok(())
    })?;
    Ok(total)
}

/// Bytes of a chunk's blob first read for its index; more is read when the index is longer.
pub(crate) const INDEX_READ: usize = 1024;

/// Reads parts of chunks' blobs through one incremental-blob handle (moved from chunk to chunk),
/// so that a read touches only the pages of the bytes it asks for. Within a read transaction,
/// like every other query of the snapshot.
pub struct ChunkReader<'c> {
    conn: &'c Connection,
    blob: Option<Blob<'c>>,
    buf: Vec<u8>,
}

impl<'c> ChunkReader<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        ChunkReader {
            conn,
            blob: None,
            buf: Vec::with_capacity(INDEX_READ),
        }
    }

    /// Points the handle at `chunk`'s blob; returns its length.
    fn open(&mut self, chunk: i64) -> Result<usize> {
        let blob = match self.blob.take() {
            Some(mut blob) => {
                blob.reopen(chunk)?;
                blob
            }
            None => self
                .conn
                .blob_open(MAIN_DB, c"metric_chunks", c"data", chunk, true)?,
        };
        let len = blob.len();
        self.blob = Some(blob);
        Ok(len)
    }

    /// `len` bytes of the open blob from `offset`, into the reader's buffer.
    fn read(&mut self, offset: usize, len: usize) -> Result<&[u8]> {
        let blob = self
            .blob
            .as_ref()
            .ok_or_else(|| StoreError::Internal("no chunk blob open".into()))?;
        self.buf.resize(len, 0);
        blob.read_at_exact(&mut self.buf, offset)?;
        Ok(&self.buf)
    }

    /// The index of `chunk`, read from as few of its first bytes as hold it.
    pub fn index(&mut self, chunk: i64) -> Result<ChunkIndex> {
        let total = self.open(chunk)?;
        let mut want = INDEX_READ.min(total);
        loop {
            let prefix = self.read(0, want)?;
            if let Some(index) = ChunkIndex::parse_prefix(prefix, total).map_err(corrupt)? {
                return Ok(index);
            }
            // `parse_prefix` settles the whole chunk either way, so this ends.
            want = (want * 4).min(total);
        }
    }

    /// Decodes block `block` of the chunk whose `index` was read last.
    pub fn decode_block(
        &mut self,
        index: &ChunkIndex,
        block: usize,
        out: &mut Vec<Point>,
    ) -> Result<()> {
        let range = index.block_bytes(block).map_err(corrupt)?;
        let data = self.read(range.start, range.len())?;
        index.decode_block(block, data, out).map_err(corrupt)
    }
}

/// Adds a series' points in the grid to a downsampler, decoding only what straddles a bucket edge.
/// Returns the coarsest retention resolution among the chunks read.
pub fn downsample(
    conn: &Connection,
    reader: &mut ChunkReader<'_>,
    series: i64,
    sampler: &mut Downsampler,
) -> Result<i64> {
    let axis = sampler.axis;
    let grid = sampler.grid;
    let steps = (axis == Axis::Step).then_some((grid.from, grid.to));
    let mut block_points = Vec::with_capacity(codec::BLOCK_POINTS);
    walk(conn, series, steps, |_, piece| {
        match piece {
            Piece::Points(points) => points.iter().for_each(|p| sampler.add_point(p)),
            Piece::Clean(chunk) => {
                let (lo, hi) = axis.range(chunk.steps, chunk.times);
                if grid.misses(lo, hi) || sampler.add_summary(lo, hi, &chunk.summary) {
                    return Ok(());
                }
                let index = reader.index(chunk.id)?;
                for (at, block) in index.blocks().iter().enumerate() {
                    let (lo, hi) = axis.range(
                        (block.min_step, block.max_step),
                        (block.min_time, block.max_time),
                    );
                    if grid.misses(lo, hi) || sampler.add_summary(lo, hi, &block.summary) {
                        continue;
                    }
                    block_points.clear();
                    reader.decode_block(&index, at, &mut block_points)?;
                    block_points.iter().for_each(|p| sampler.add_point(p));
                }
            }
        }
        Ok(())
    })
}

/// Inclusive (step range, time range) of a series.
pub type Extent = ((i64, i64), (i64, i64));

/// The (step, time) extent of a series, if it has points.
pub fn extent(conn: &Connection, series: i64) -> Result<Option<Extent>> {
    let chunked: Option<(i64, i64, i64, i64)> = conn
        .prepare_cached(
            "SELECT min(min_step), max(max_step), min(min_time), max(max_time)
             FROM metric_chunks WHERE series_id = ?1",
        )?
        .query_row(params![series], |row| {
            Ok(match (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?) {
                (Some(a), Some(b), Some(c), Some(d)) => Some((a, b, c, d)),
                _ => None,
            })
        })?;
    let mut extent = chunked.map(|(a, b, c, d)| ((a, b), (c, d)));
    for point in raw_tail(conn, series, i64::MAX)?.points {
        let ((s0, s1), (t0, t1)) =
            extent.unwrap_or(((point.step, point.step), (point.timestamp, point.timestamp)));
        extent = Some((
            (s0.min(point.step), s1.max(point.step)),
            (t0.min(point.timestamp), t1.max(point.timestamp)),
        ));
    }
    Ok(extent)
}

/// A run's internal id and start time.
pub fn run_row(conn: &Connection, run_id: &str) -> Result<Option<(i64, i64)>> {
    Ok(conn
        .prepare_cached("SELECT id, start_time FROM runs WHERE run_uuid = ?1")?
        .query_row(params![run_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

/// One run of a view: where its points are and how its x axis reads.
#[derive(Debug, Clone)]
pub struct ViewTarget {
    pub run_id: String,
    pub found: bool,
    pub series: Option<i64>,
    pub axis: Axis,
}

/// A view's grid (from the request, else the extent of every listed run's data) and its runs.
pub fn plan_view(
    conn: &Connection,
    request: &SeriesRequest,
) -> Result<(Option<Grid>, Vec<ViewTarget>)> {
    plan_view_with(request, |run_id, want_extent| {
        let Some((run, start_time)) = run_row(conn, run_id)? else {
            return Ok(None);
        };
        let series = series_id(conn, run, &request.key)?;
        let extent = match series {
            Some(series) if want_extent => extent(conn, series)?,
            _ => None,
        };
        Ok(Some((start_time, series, extent)))
    })
}

/// What a view plan needs of one run: its start time, the id of the requested key's series, and
/// that series' extent when asked for.
pub(crate) type ViewRun = (i64, Option<i64>, Option<Extent>);

/// Plans a view whatever the backend: `lookup(run_id, want_extent)` reads one run (`None`: no
/// such run); the extent is wanted only when the request leaves a bound open.
pub(crate) fn plan_view_with(
    request: &SeriesRequest,
    mut lookup: impl FnMut(&str, bool) -> Result<Option<ViewRun>>,
) -> Result<(Option<Grid>, Vec<ViewTarget>)> {
    let want_extent = request.from.is_none() || request.to.is_none();
    let mut targets = Vec::with_capacity(request.run_ids.len());
    let mut data_range: Option<(i64, i64)> = None;
    for run_id in &request.run_ids {
        let Some((start_time, series, extent)) = lookup(run_id, want_extent)? else {
            targets.push(ViewTarget {
                run_id: run_id.clone(),
                found: false,
                series: None,
                axis: Axis::Step,
            });
            continue;
        };
        let axis = match request.x {
            XAxis::Step => Axis::Step,
            XAxis::Time => Axis::Time,
            XAxis::Relative => Axis::Relative { origin: start_time },
        };
        if let Some((steps, times)) = extent {
            let (lo, hi) = axis.range(steps, times);
            data_range = Some(match data_range {
                Some((a, b)) => (a.min(lo), b.max(hi)),
                None => (lo, hi),
            });
        }
        targets.push(ViewTarget {
            run_id: run_id.clone(),
            found: true,
            series,
            axis,
        });
    }
    let from = request.from.or(data_range.map(|r| r.0));
    let to = request.to.or(data_range.map(|r| r.1));
    let grid = match (from, to) {
        (Some(from), Some(to)) => Some(Grid::new(from, to, request.buckets)),
        _ => None,
    };
    Ok((grid, targets))
}

/// Downsamples the targets onto the grid.
pub fn view_runs(
    conn: &Connection,
    grid: Option<Grid>,
    targets: &[ViewTarget],
) -> Result<Vec<RunBuckets>> {
    let mut runs = Vec::with_capacity(targets.len());
    let mut reader = ChunkReader::new(conn);
    for target in targets {
        let (buckets, thinned) = match (grid, target.series) {
            (Some(grid), Some(series)) => {
                let mut sampler = Downsampler::new(target.axis, grid);
                let thinned = downsample(conn, &mut reader, series, &mut sampler)?;
                (sampler.finish(), thinned)
            }
            _ => (Vec::new(), 0),
        };
        runs.push(RunBuckets {
            run_id: target.run_id.clone(),
            found: target.found,
            buckets,
            thinned,
        });
    }
    Ok(runs)
}

/// Summaries of the runs' series (every key when `keys` is empty), in request order then key order.
pub fn summaries(
    conn: &Connection,
    run_ids: &[String],
    keys: &[String],
) -> Result<Vec<SeriesSummary>> {
    let mut out = Vec::new();
    for run_id in run_ids {
        let Some((run, _)) = run_row(conn, run_id)? else {
            continue;
        };
        let series: Vec<(i64, String)> = conn
            .prepare_cached("SELECT id, key FROM metric_series WHERE run_id = ?1 ORDER BY key")?
            .query_map(params![run], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, key) in series {
            if !keys.is_empty() && !keys.contains(&key) {
                continue;
            }
            out.push(SeriesSummary {
                run_id: run_id.clone(),
                key,
                summary: summary(conn, id)?,
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Compaction

/// Series with raw segments due for compaction (all of them when `force`).
pub fn pending(conn: &Connection, now: i64, force: bool, limit: usize) -> Result<Vec<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM metric_series WHERE raw_since IS NOT NULL
               AND (?1 OR raw_points >= ?2 OR raw_segments >= ?3 OR raw_since <= ?4)
             ORDER BY raw_since LIMIT ?5",
        )?
        .query_map(
            params![
                force,
                COMPACT_POINTS,
                COMPACT_SEGMENTS,
                now.saturating_sub(COMPACT_AFTER_MS),
                limit as i64
            ],
            |row| row.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?)
}

/// A new chunk, encoded, with its summary columns.
#[derive(Debug, Clone)]
pub struct NewChunk {
    pub steps: (i64, i64),
    pub times: (i64, i64),
    pub summary: Summary,
    pub thinned: i64,
    pub data: Vec<u8>,
}

impl NewChunk {
    /// A chunk of these points; `thinned` is the retention resolution already applied to them.
    pub fn encode(points: &[Point], thinned: i64) -> NewChunk {
        let mut steps = (i64::MAX, i64::MIN);
        let mut times = (i64::MAX, i64::MIN);
        for p in points {
            steps = (steps.0.min(p.step), steps.1.max(p.step));
            times = (times.0.min(p.timestamp), times.1.max(p.timestamp));
        }
        NewChunk {
            steps,
            times,
            summary: Summary::of(points),
            thinned,
            data: codec::encode(points),
        }
    }
}

/// One compaction step for one series, computed from a read snapshot.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub series: i64,
    pub raw_ids: Vec<i64>,
    pub raw_points: i64,
    pub replaced_chunks: Vec<i64>,
    pub new_chunks: Vec<NewChunk>,
    pub points: usize,
}

/// Splits sorted points into chunks: full ones from the start when `fill`, else evenly.
/// `thinned` carries a retention resolution over to chunks made from thinned ones.
pub(crate) fn split(points: &[Point], fill: bool, thinned: i64) -> Vec<NewChunk> {
    if points.is_empty() {
        return Vec::new();
    }
    let size = if fill {
        CHUNK_POINTS
    } else {
        points.len().div_ceil(points.len().div_ceil(CHUNK_POINTS))
    };
    points
        .chunks(size)
        .map(|piece| NewChunk::encode(piece, thinned))
        .collect()
}

/// Plans folding (up to a bound of) a series' raw segments into its chunks.
pub fn plan(conn: &Connection, series: i64) -> Result<Option<Plan>> {
    let tail = raw_tail(conn, series, COMPACT_BATCH_POINTS)?;
    if tail.ids.is_empty() {
        return Ok(None);
    }
    let chunks = chunks(conn, series, None)?;
    plan_fold(series, tail, &chunks, |chunk, out| {
        decode_chunk(conn, chunk, out)
    })
    .map(Some)
}

/// The fold of raw points into chunks, whatever the backend: each raw point goes to the last
/// chunk starting at or before it (or the first chunk); a chunk receiving points is decoded
/// (`decode`), merged and re-split, except that points beyond a full last chunk start new chunks.
pub(crate) fn plan_fold(
    series: i64,
    tail: RawTail,
    chunks: &[ChunkRow],
    mut decode: impl FnMut(i64, &mut Vec<Point>) -> Result<()>,
) -> Result<Plan> {
    let mut plan = Plan {
        series,
        raw_ids: tail.ids,
        raw_points: tail.points_logged,
        ..Plan::default()
    };
    let raw = tail.points;
    if chunks.is_empty() {
        plan.points = raw.len();
        plan.new_chunks = split(&raw, true, 0);
        return Ok(plan);
    }
    // Raw points per target chunk, in order.
    let mut start = 0;
    for (index, chunk) in chunks.iter().enumerate() {
        let end = match chunks.get(index + 1) {
            Some(next) => {
                let next_first = next.first();
                start + raw[start..].partition_point(|p| p.cmp_canonical(&next_first).is_lt())
            }
            None => raw.len(),
        };
        let assigned = &raw[start..end];
        start = end;
        if assigned.is_empty() {
            continue;
        }
        let is_last = index + 1 == chunks.len();
        let beyond = assigned[0].cmp_canonical(&chunk.last()).is_gt();
        if is_last && beyond && chunk.summary.count as usize >= CHUNK_POINTS {
            plan.points += assigned.len();
            plan.new_chunks.extend(split(assigned, true, 0));
            continue;
        }
        let mut merged = Vec::with_capacity(chunk.summary.count as usize + assigned.len());
        decode(chunk.id, &mut merged)?;
        let before = merged.len();
        merged.extend_from_slice(assigned);
        normalize(&mut merged);
        plan.points += merged.len() - before;
        plan.replaced_chunks.push(chunk.id);
        plan.new_chunks
            .extend(split(&merged, is_last && beyond, chunk.thinned));
    }
    Ok(plan)
}

/// Inserts an encoded chunk with its summary columns.
pub fn insert_chunk(conn: &Connection, series: i64, chunk: &NewChunk) -> Result<()> {
    let s = &chunk.summary;
    let first = s.first.unwrap_or(Point::new(0, 0, 0.0));
    let last = s.last.unwrap_or(Point::new(0, 0, 0.0));
    conn.prepare_cached(
        "INSERT INTO metric_chunks (series_id, min_step, max_step, min_time, max_time, count, nans,
             min_bits, max_bits, sum_bits, first_step, first_time, first_bits,
             last_step, last_time, last_bits, thinned, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?
    .execute(params![
        series,
        chunk.steps.0,
        chunk.steps.1,
        chunk.times.0,
        chunk.times.1,
        s.count as i64,
        s.nans as i64,
        bits(s.min),
        bits(s.max),
        bits(s.sum),
        first.step,
        first.timestamp,
        bits(first.value),
        last.step,
        last.timestamp,
        bits(last.value),
        chunk.thinned,
        chunk.data
    ])?;
    Ok(())
}

/// Applies a plan in the writer's transaction.
pub fn apply(conn: &Connection, plan: &Plan, now: i64) -> Result<()> {
    let mut delete_raw = conn.prepare_cached("DELETE FROM metric_raw WHERE id = ?1")?;
    for id in &plan.raw_ids {
        if delete_raw.execute(params![id])? != 1 {
            return Err(StoreError::Internal(format!(
                "compaction of series {} lost raw segment {id}",
                plan.series
            )));
        }
    }
    let mut delete_chunk = conn.prepare_cached("DELETE FROM metric_chunks WHERE id = ?1")?;
    for id in &plan.replaced_chunks {
        delete_chunk.execute(params![id])?;
    }
    for chunk in &plan.new_chunks {
        insert_chunk(conn, plan.series, chunk)?;
    }
    conn.prepare_cached(
        "UPDATE metric_series SET
             raw_points = raw_points - ?2,
             raw_segments = raw_segments - ?3,
             raw_since = CASE WHEN raw_segments - ?3 > 0 THEN ?4 ELSE NULL END
         WHERE id = ?1",
    )?
    .execute(params![
        plan.series,
        plan.raw_points,
        plan.raw_ids.len() as i64,
        now
    ])?;
    Ok(())
}

/// Schema migration 3: moves version 1's row-per-point `metrics` table into raw segments (the
/// compactor turns them into chunks) and drops it.
pub fn migrate_point_rows(conn: &Connection) -> Result<()> {
    let mut current: Option<(i64, String)> = None;
    let mut batch = Batch::default();
    let flush =
        |run: i64, batch: Batch| -> Result<()> { append(conn, run, vec![batch], 0).map(|_| ()) };
    {
        let mut statement = conn.prepare(
            "SELECT run_id, key, step, timestamp, is_nan, value, model_id, dataset_name, dataset_digest
             FROM metrics ORDER BY run_id, key",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let run: i64 = row.get(0)?;
            let key: String = row.get(1)?;
            if current.as_ref() != Some(&(run, key.clone())) {
                if let Some((previous, _)) = current.take() {
                    flush(previous, std::mem::take(&mut batch))?;
                }
                batch.key = key.clone();
                current = Some((run, key));
            }
            let point = Point::new(
                row.get(2)?,
                row.get(3)?,
                sql::join_value(row.get(4)?, row.get(5)?),
            );
            batch.points.push(point);
            let link = Link {
                point,
                model_id: row.get(6)?,
                dataset_name: row.get(7)?,
                dataset_digest: row.get(8)?,
            };
            if link.model_id.is_some()
                || link.dataset_name.is_some()
                || link.dataset_digest.is_some()
            {
                batch.links.push(link);
            }
        }
    }
    if let Some((run, _)) = current {
        flush(run, batch)?;
    }
    conn.execute_batch("DROP TABLE metrics")?;
    Ok(())
}
