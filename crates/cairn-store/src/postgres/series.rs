//! The metric engine on PostgreSQL: ingest into raw segments, compaction into chunks, and reads
//! that merge both. The same design and encoding as the embedded engine (`sqlite::series`, whose
//! pure parts — batches, chunk encoding and splitting, summaries — are reused here); only the SQL
//! and the locking differ.
//!
//! Differences from SQLite, and why:
//! - There is no single writer. An append runs with its run's row held `FOR SHARE` by the caller
//!   (a deletion of the run waits for it, concurrent appends do not wait for each other) and
//!   upserts its series' row, which row-locks it until commit; batches are taken in key order so
//!   two appends never lock the same series rows in opposite orders.
//! - Folding raw segments into chunks is planned from a read snapshot and applied in a write
//!   transaction that first locks the series row `FOR UPDATE`: an append racing with it either
//!   committed before (its segment is not in the plan and stays raw, its counts stay counted) or
//!   waits for the fold. Only the compactor that holds the compaction advisory lock writes
//!   chunks (see `compactor`), so a plan is still valid when it is applied.
//! - Views read parts of a chunk with `substring(data …)` instead of incremental blob I/O:
//!   PostgreSQL fetches only the TOAST slices that hold the bytes asked for.

use cairn_core::series::buckets::{Axis, Downsampler, Grid};
use cairn_core::series::codec::{self, Chunk, ChunkIndex};
use cairn_core::series::{Point, Summary, normalize};
use postgres::{Row, Transaction};

use super::sql;
use crate::sqlite::series::{
    CHUNK_COLUMNS, COMPACT_AFTER_MS, COMPACT_BATCH_POINTS, COMPACT_SEGMENTS, INDEX_READ, bits,
    corrupt,
};
use crate::{PointsRead, Result, RunBuckets, SeriesRequest, SeriesSummary, StoreError};

pub use crate::sqlite::series::{
    Appended, Batch, COMPACT_POINTS, ChunkRow, Extent, Link, NewChunk, Piece, Plan, RawTail,
    ViewTarget,
};

/// Appends batches to a run's series as raw segments and keeps `latest_metrics` current. Runs in
/// the caller's write transaction; `run` is the run's internal id, which the caller checked is
/// active and holds `FOR SHARE` (`runs::require_active`), so that its deletion waits for this
/// append while other appends to it do not.
///
/// Three statements whatever the number of keys (each over arrays, `unnest`ed): the series rows,
/// the raw segments, the latest values; plus one per linked point, which are rare. Batches of one
/// key are merged first, since one statement may not update a row twice.
pub fn append(
    tx: &mut Transaction<'_>,
    run: i64,
    batches: Vec<Batch>,
    now: i64,
) -> Result<Appended> {
    // One lock order for every append: series rows by key.
    // A batch's own exact duplicates count once (as in the embedded store, per batch).
    let mut appended = Appended::default();
    let mut merged: std::collections::BTreeMap<String, Batch> = std::collections::BTreeMap::new();
    for mut batch in batches {
        normalize(&mut batch.points);
        appended.points += batch.points.len();
        match merged.get_mut(&batch.key) {
            Some(into) => {
                into.points.extend(batch.points);
                into.links.extend(batch.links);
            }
            None => {
                merged.insert(batch.key.clone(), batch);
            }
        }
    }
    let mut batches: Vec<Batch> = merged.into_values().collect();
    for batch in &mut batches {
        normalize(&mut batch.points);
    }
    batches.retain(|batch| !batch.points.is_empty());
    if batches.is_empty() {
        return Ok(appended);
    }
    let keys: Vec<&str> = batches.iter().map(|b| b.key.as_str()).collect();
    let counts: Vec<i64> = batches.iter().map(|b| b.points.len() as i64).collect();
    let rows = tx.query(
        "INSERT INTO metric_series (run_id, key, raw_points, raw_segments, raw_since)
         SELECT $1, k, c, 1, $4 FROM unnest($2::text[], $3::bigint[]) AS u(k, c)
         ON CONFLICT (run_id, key) DO UPDATE SET
             raw_points = metric_series.raw_points + excluded.raw_points,
             raw_segments = metric_series.raw_segments + 1,
             raw_since = coalesce(metric_series.raw_since, excluded.raw_since)
         RETURNING key, id, raw_points, raw_segments",
        &[&run, &keys, &counts, &now],
    )?;
    let mut series_of = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        let (key, series, raw_points, raw_segments): (&str, i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        series_of.insert(key.to_string(), series);
        appended.compact |= raw_points >= COMPACT_POINTS || raw_segments >= COMPACT_SEGMENTS;
    }
    let series: Vec<i64> = keys
        .iter()
        .map(|key| {
            series_of.get(*key).copied().ok_or_else(|| {
                StoreError::Internal(format!("no series row came back for key {key}"))
            })
        })
        .collect::<Result<_>>()?;
    let data: Vec<Vec<u8>> = batches.iter().map(|b| codec::encode(&b.points)).collect();
    tx.execute(
        "INSERT INTO metric_raw (series_id, points, data)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])",
        &[&series, &counts, &data],
    )?;
    let latest: Vec<_> = batches.iter().filter_map(|b| b.points.last()).collect();
    let steps: Vec<i64> = latest.iter().map(|p| p.step).collect();
    let times: Vec<i64> = latest.iter().map(|p| p.timestamp).collect();
    let (nans, values): (Vec<bool>, Vec<f64>) =
        latest.iter().map(|p| sql::split_value(p.value)).unzip();
    tx.execute(
        "INSERT INTO latest_metrics (run_id, key, step, timestamp, is_nan, value)
         SELECT $1, k, s, t, n, v
         FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::boolean[], $6::float8[])
             AS u(k, s, t, n, v)
         ON CONFLICT (run_id, key) DO UPDATE SET
             step = excluded.step, timestamp = excluded.timestamp, is_nan = excluded.is_nan,
             value = excluded.value
         WHERE (excluded.step, excluded.timestamp, excluded.is_nan, excluded.value)
             > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.is_nan,
                latest_metrics.value)",
        &[&run, &keys, &steps, &times, &nans, &values],
    )?;
    if batches.iter().any(|b| !b.links.is_empty()) {
        let upsert_link = tx.prepare(
            "INSERT INTO metric_point_links
                 (series_id, step, timestamp, is_nan, value, model_id, dataset_name, dataset_digest)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (series_id, step, timestamp, is_nan, value) DO UPDATE SET
                 model_id = excluded.model_id, dataset_name = excluded.dataset_name,
                 dataset_digest = excluded.dataset_digest",
        )?;
        for (batch, series) in batches.iter().zip(&series) {
            for link in &batch.links {
                let (is_nan, value) = sql::split_value(link.point.value);
                tx.execute(
                    &upsert_link,
                    &[
                        series,
                        &link.point.step,
                        &link.point.timestamp,
                        &is_nan,
                        &value,
                        &link.model_id,
                        &link.dataset_name,
                        &link.dataset_digest,
                    ],
                )?;
            }
        }
    }
    Ok(appended)
}

/// The answer given to an earlier request with this idempotency key on this run, if any.
pub fn earlier_answer(tx: &mut Transaction<'_>, run: i64, key: &str) -> Result<Option<usize>> {
    let earlier = tx.query_opt(
        "SELECT accepted FROM ingest_keys WHERE run_id = $1 AND key = $2",
        &[&run, &key],
    )?;
    Ok(earlier.map(|row| usize::try_from(row.get::<_, i64>(0)).unwrap_or(0)))
}

/// Remembers the answer to a request with an idempotency key, in the same transaction as its
/// points. A concurrent request with the same key makes one of the two fail on the key's
/// uniqueness; the store runs that one again, and it finds the other's answer.
pub fn remember_answer(
    tx: &mut Transaction<'_>,
    run: i64,
    key: &str,
    accepted: usize,
    now: i64,
) -> Result<()> {
    let accepted = i64::try_from(accepted).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO ingest_keys (run_id, key, accepted, created) VALUES ($1, $2, $3, $4)",
        &[&run, &key, &accepted, &now],
    )?;
    Ok(())
}

/// Forgets idempotency keys older than `cutoff` (ms).
pub fn expire_idempotency_keys(tx: &mut Transaction<'_>, cutoff: i64) -> Result<usize> {
    let deleted = tx.execute("DELETE FROM ingest_keys WHERE created < $1", &[&cutoff])?;
    Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
}

// ---------------------------------------------------------------------------------------------
// Reading

fn double(row: &Row, index: usize) -> f64 {
    f64::from_bits(row.get::<_, i64>(index) as u64)
}

fn chunk_row(row: &Row) -> ChunkRow {
    let count: i64 = row.get(5);
    let nans: i64 = row.get(6);
    ChunkRow {
        id: row.get(0),
        steps: (row.get(1), row.get(2)),
        times: (row.get(3), row.get(4)),
        summary: Summary {
            count: count as u64,
            nans: nans as u64,
            min: double(row, 7),
            max: double(row, 8),
            sum: double(row, 9),
            first: Some(Point::new(row.get(10), row.get(11), double(row, 12))),
            last: Some(Point::new(row.get(13), row.get(14), double(row, 15))),
        },
        thinned: row.get(16),
    }
}

/// The series id of (run, key), if the run ever logged the key.
pub fn series_id(tx: &mut Transaction<'_>, run: i64, key: &str) -> Result<Option<i64>> {
    Ok(tx
        .query_opt(
            "SELECT id FROM metric_series WHERE run_id = $1 AND key = $2",
            &[&run, &key],
        )?
        .map(|row| row.get(0)))
}

/// Chunks of a series that may hold steps in `steps` (all of them when `None`), in canonical
/// order.
pub fn chunks(
    tx: &mut Transaction<'_>,
    series: i64,
    steps: Option<(i64, i64)>,
) -> Result<Vec<ChunkRow>> {
    let (from, to) = steps.unwrap_or((i64::MIN, i64::MAX));
    let mut rows: Vec<ChunkRow> = tx
        .query(
            &format!(
                "SELECT {CHUNK_COLUMNS} FROM metric_chunks
                 WHERE series_id = $1 AND max_step >= $2 AND min_step <= $3"
            ),
            &[&series, &from, &to],
        )?
        .iter()
        .map(chunk_row)
        .collect();
    rows.sort_by(|a, b| a.first().cmp_canonical(&b.first()));
    Ok(rows)
}

/// A chunk's encoded bytes.
pub fn chunk_data(tx: &mut Transaction<'_>, chunk: i64) -> Result<Vec<u8>> {
    tx.query_opt("SELECT data FROM metric_chunks WHERE id = $1", &[&chunk])?
        .map(|row| row.get(0))
        .ok_or_else(|| StoreError::Internal(format!("metric chunk {chunk} is gone")))
}

fn decode_chunk(tx: &mut Transaction<'_>, chunk: i64, out: &mut Vec<Point>) -> Result<()> {
    let data = chunk_data(tx, chunk)?;
    Chunk::parse(&data)
        .and_then(|parsed| parsed.decode(out))
        .map_err(corrupt)
}

/// Raw segments in landing order, up to about `limit` points (at least one segment): every
/// segment with fewer than `limit` points before it.
pub fn raw_tail(tx: &mut Transaction<'_>, series: i64, limit: i64) -> Result<RawTail> {
    let rows = tx.query(
        "SELECT id, points, data FROM (
             SELECT id, points, data,
                    (sum(points) OVER (ORDER BY id))::BIGINT - points AS before
             FROM metric_raw WHERE series_id = $1
         ) segments
         WHERE before < $2
         ORDER BY id",
        &[&series, &limit],
    )?;
    let mut tail = RawTail {
        ids: Vec::with_capacity(rows.len()),
        points_logged: 0,
        points: Vec::new(),
    };
    for row in &rows {
        tail.ids.push(row.get(0));
        tail.points_logged += row.get::<_, i64>(1);
        Chunk::parse(row.get::<_, &[u8]>(2))
            .and_then(|chunk| chunk.decode(&mut tail.points))
            .map_err(corrupt)?;
    }
    normalize(&mut tail.points);
    Ok(tail)
}

/// Walks a series in canonical order: chunks that may hold `steps`, merged with every raw point.
/// Pieces can contain points outside `steps`; callers filter. Returns the coarsest retention
/// resolution among the chunks walked (0 when none was thinned).
pub fn walk(
    tx: &mut Transaction<'_>,
    series: i64,
    steps: Option<(i64, i64)>,
    mut visit: impl FnMut(&mut Transaction<'_>, Piece<'_>) -> Result<()>,
) -> Result<i64> {
    let chunks = chunks(tx, series, steps)?;
    let thinned = chunks.iter().map(|c| c.thinned).max().unwrap_or(0);
    let raw = raw_tail(tx, series, i64::MAX)?.points;
    let mut next = 0;
    for chunk in &chunks {
        let first = chunk.first();
        let last = chunk.last();
        let before = next + raw[next..].partition_point(|p| p.cmp_canonical(&first).is_lt());
        if before > next {
            visit(tx, Piece::Points(raw[next..before].to_vec()))?;
        }
        let inside = before + raw[before..].partition_point(|p| p.cmp_canonical(&last).is_le());
        if inside == before {
            visit(tx, Piece::Clean(chunk))?;
        } else {
            let mut points = Vec::with_capacity(chunk.summary.count as usize + inside - before);
            decode_chunk(tx, chunk.id, &mut points)?;
            points.extend_from_slice(&raw[before..inside]);
            normalize(&mut points);
            visit(tx, Piece::Points(points))?;
        }
        next = inside;
    }
    if next < raw.len() {
        visit(tx, Piece::Points(raw[next..].to_vec()))?;
    }
    Ok(thinned)
}

/// Every point of a series with a step in `[from, to]`, in canonical order.
pub fn points(tx: &mut Transaction<'_>, series: i64, from: i64, to: i64) -> Result<PointsRead> {
    let mut out = Vec::new();
    let thinned = walk(tx, series, Some((from, to)), |tx, piece| {
        match piece {
            Piece::Clean(chunk) => decode_chunk(tx, chunk.id, &mut out)?,
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
pub fn links(tx: &mut Transaction<'_>, series: i64) -> Result<Vec<Link>> {
    Ok(tx
        .query(
            "SELECT step, timestamp, is_nan, value, model_id, dataset_name, dataset_digest
             FROM metric_point_links WHERE series_id = $1",
            &[&series],
        )?
        .iter()
        .map(|row| Link {
            point: Point::new(
                row.get(0),
                row.get(1),
                sql::join_value(row.get(2), row.get(3)),
            ),
            model_id: row.get(4),
            dataset_name: row.get(5),
            dataset_digest: row.get(6),
        })
        .collect())
}

/// The summary of a whole series.
pub fn summary(tx: &mut Transaction<'_>, series: i64) -> Result<Summary> {
    let mut total = Summary::default();
    let _thinned = walk(tx, series, None, |_, piece| {
        match piece {
            Piece::Clean(chunk) => total.merge(&chunk.summary),
            Piece::Points(points) => points.iter().for_each(|p| total.add(*p)),
        }
        Ok(())
    })?;
    Ok(total)
}

/// Reads parts of chunks' data — the index, then single blocks — with `substring`, so that a
/// read moves only the bytes it decodes. Within the caller's snapshot, like every other query.
#[derive(Default)]
pub struct ChunkReader {
    /// The chunk whose index was read last.
    chunk: Option<i64>,
}

impl ChunkReader {
    pub fn new() -> Self {
        ChunkReader::default()
    }

    /// The index of `chunk`, read from as few of its first bytes as hold it.
    pub fn index(&mut self, tx: &mut Transaction<'_>, chunk: i64) -> Result<ChunkIndex> {
        let mut want = INDEX_READ;
        loop {
            let row = tx
                .query_opt(
                    "SELECT octet_length(data), substring(data FROM 1 FOR $2)
                     FROM metric_chunks WHERE id = $1",
                    &[&chunk, &byte_count(want)?],
                )?
                .ok_or_else(|| StoreError::Internal(format!("metric chunk {chunk} is gone")))?;
            let total = usize::try_from(row.get::<_, i32>(0)).unwrap_or(0);
            let prefix: &[u8] = row.get(1);
            if let Some(index) = ChunkIndex::parse_prefix(prefix, total).map_err(corrupt)? {
                self.chunk = Some(chunk);
                return Ok(index);
            }
            // `parse_prefix` settles the whole chunk either way, so this ends.
            want = (want * 4).min(total);
        }
    }

    /// Decodes block `block` of the chunk whose `index` was read last.
    pub fn decode_block(
        &mut self,
        tx: &mut Transaction<'_>,
        index: &ChunkIndex,
        block: usize,
        out: &mut Vec<Point>,
    ) -> Result<()> {
        let chunk = self
            .chunk
            .ok_or_else(|| StoreError::Internal("no chunk index read".into()))?;
        let range = index.block_bytes(block).map_err(corrupt)?;
        let row = tx
            .query_opt(
                "SELECT substring(data FROM $2 FOR $3) FROM metric_chunks WHERE id = $1",
                &[
                    &chunk,
                    &byte_count(range.start + 1)?,
                    &byte_count(range.len())?,
                ],
            )?
            .ok_or_else(|| StoreError::Internal(format!("metric chunk {chunk} is gone")))?;
        let data: &[u8] = row.get(0);
        if data.len() != range.len() {
            return Err(StoreError::Internal(format!(
                "metric chunk {chunk} is shorter than its index says"
            )));
        }
        index.decode_block(block, data, out).map_err(corrupt)
    }
}

/// A byte offset or length as PostgreSQL's `substring` takes it.
fn byte_count(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| StoreError::Internal(format!("chunk offset {n} out of range")))
}

/// Adds a series' points in the grid to a downsampler, decoding only what straddles a bucket edge.
/// Returns the coarsest retention resolution among the chunks read.
pub fn downsample(
    tx: &mut Transaction<'_>,
    reader: &mut ChunkReader,
    series: i64,
    sampler: &mut Downsampler,
) -> Result<i64> {
    let axis = sampler.axis;
    let grid = sampler.grid;
    let steps = (axis == Axis::Step).then_some((grid.from, grid.to));
    let mut block_points = Vec::with_capacity(codec::BLOCK_POINTS);
    walk(tx, series, steps, |tx, piece| {
        match piece {
            Piece::Points(points) => points.iter().for_each(|p| sampler.add_point(p)),
            Piece::Clean(chunk) => {
                let (lo, hi) = axis.range(chunk.steps, chunk.times);
                if grid.misses(lo, hi) || sampler.add_summary(lo, hi, &chunk.summary) {
                    return Ok(());
                }
                let index = reader.index(tx, chunk.id)?;
                for (at, block) in index.blocks().iter().enumerate() {
                    let (lo, hi) = axis.range(
                        (block.min_step, block.max_step),
                        (block.min_time, block.max_time),
                    );
                    if grid.misses(lo, hi) || sampler.add_summary(lo, hi, &block.summary) {
                        continue;
                    }
                    block_points.clear();
                    reader.decode_block(tx, &index, at, &mut block_points)?;
                    block_points.iter().for_each(|p| sampler.add_point(p));
                }
            }
        }
        Ok(())
    })
}

/// The (step, time) extent of a series, if it has points.
pub fn extent(tx: &mut Transaction<'_>, series: i64) -> Result<Option<Extent>> {
    let row = tx.query_one(
        "SELECT min(min_step), max(max_step), min(min_time), max(max_time)
         FROM metric_chunks WHERE series_id = $1",
        &[&series],
    )?;
    let chunked: Option<(i64, i64, i64, i64)> = match (
        row.get::<_, Option<i64>>(0),
        row.get::<_, Option<i64>>(1),
        row.get::<_, Option<i64>>(2),
        row.get::<_, Option<i64>>(3),
    ) {
        (Some(a), Some(b), Some(c), Some(d)) => Some((a, b, c, d)),
        _ => None,
    };
    let mut extent = chunked.map(|(a, b, c, d)| ((a, b), (c, d)));
    for point in raw_tail(tx, series, i64::MAX)?.points {
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
pub fn run_row(tx: &mut Transaction<'_>, run_id: &str) -> Result<Option<(i64, i64)>> {
    Ok(tx
        .query_opt(
            "SELECT id, start_time FROM runs WHERE run_uuid = $1",
            &[&run_id],
        )?
        .map(|row| (row.get(0), row.get(1))))
}

/// A view's grid (from the request, else the extent of every listed run's data) and its runs (the
/// planning itself is the embedded store's `plan_view_with`).
pub fn plan_view(
    tx: &mut Transaction<'_>,
    request: &SeriesRequest,
) -> Result<(Option<Grid>, Vec<ViewTarget>)> {
    crate::sqlite::series::plan_view_with(request, |run_id, want_extent| {
        let Some((run, start_time)) = run_row(tx, run_id)? else {
            return Ok(None);
        };
        let series = series_id(tx, run, &request.key)?;
        let extent = match series {
            Some(series) if want_extent => extent(tx, series)?,
            _ => None,
        };
        Ok(Some((start_time, series, extent)))
    })
}

/// Downsamples the targets onto the grid.
pub fn view_runs(
    tx: &mut Transaction<'_>,
    grid: Option<Grid>,
    targets: &[ViewTarget],
) -> Result<Vec<RunBuckets>> {
    let mut runs = Vec::with_capacity(targets.len());
    let mut reader = ChunkReader::new();
    for target in targets {
        let (buckets, thinned) = match (grid, target.series) {
            (Some(grid), Some(series)) => {
                let mut sampler = Downsampler::new(target.axis, grid);
                let thinned = downsample(tx, &mut reader, series, &mut sampler)?;
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
    tx: &mut Transaction<'_>,
    run_ids: &[String],
    keys: &[String],
) -> Result<Vec<SeriesSummary>> {
    let mut out = Vec::new();
    for run_id in run_ids {
        let Some((run, _)) = run_row(tx, run_id)? else {
            continue;
        };
        let series: Vec<(i64, String)> = tx
            .query(
                "SELECT id, key FROM metric_series WHERE run_id = $1 ORDER BY key",
                &[&run],
            )?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        for (id, key) in series {
            if !keys.is_empty() && !keys.contains(&key) {
                continue;
            }
            out.push(SeriesSummary {
                run_id: run_id.clone(),
                key,
                summary: summary(tx, id)?,
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Compaction

/// Series with raw segments due for compaction (all of them when `force`).
pub fn pending(tx: &mut Transaction<'_>, now: i64, force: bool, limit: usize) -> Result<Vec<i64>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(tx
        .query(
            "SELECT id FROM metric_series WHERE raw_since IS NOT NULL
               AND ($1 OR raw_points >= $2 OR raw_segments >= $3 OR raw_since <= $4)
             ORDER BY raw_since, id LIMIT $5",
            &[
                &force,
                &COMPACT_POINTS,
                &COMPACT_SEGMENTS,
                &now.saturating_sub(COMPACT_AFTER_MS),
                &limit,
            ],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// Plans folding (up to a bound of) a series' raw segments into its chunks (the fold itself is
/// the embedded store's `plan_fold`).
pub fn plan(tx: &mut Transaction<'_>, series: i64) -> Result<Option<Plan>> {
    let tail = raw_tail(tx, series, COMPACT_BATCH_POINTS)?;
    if tail.ids.is_empty() {
        return Ok(None);
    }
    let chunks = chunks(tx, series, None)?;
    crate::sqlite::series::plan_fold(series, tail, &chunks, |chunk, out| {
        decode_chunk(tx, chunk, out)
    })
    .map(Some)
}

/// Locks a series' row for a change to its chunks; `false` when the series is gone.
pub fn lock_series(tx: &mut Transaction<'_>, series: i64) -> Result<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM metric_series WHERE id = $1 FOR UPDATE",
            &[&series],
        )?
        .is_some())
}

/// Inserts an encoded chunk with its summary columns.
pub fn insert_chunk(tx: &mut Transaction<'_>, series: i64, chunk: &NewChunk) -> Result<()> {
    let s = &chunk.summary;
    let first = s.first.unwrap_or(Point::new(0, 0, 0.0));
    let last = s.last.unwrap_or(Point::new(0, 0, 0.0));
    let (count, nans) = (s.count as i64, s.nans as i64);
    tx.execute(
        "INSERT INTO metric_chunks (series_id, min_step, max_step, min_time, max_time, count, nans,
             min_bits, max_bits, sum_bits, first_step, first_time, first_bits,
             last_step, last_time, last_bits, thinned, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        &[
            &series,
            &chunk.steps.0,
            &chunk.steps.1,
            &chunk.times.0,
            &chunk.times.1,
            &count,
            &nans,
            &bits(s.min),
            &bits(s.max),
            &bits(s.sum),
            &first.step,
            &first.timestamp,
            &bits(first.value),
            &last.step,
            &last.timestamp,
            &bits(last.value),
            &chunk.thinned,
            &chunk.data,
        ],
    )?;
    Ok(())
}

/// Applies a plan in a write transaction, holding the series row so that no append to it
/// interleaves with the swap.
pub fn apply(tx: &mut Transaction<'_>, plan: &Plan, now: i64) -> Result<()> {
    if !lock_series(tx, plan.series)? {
        return Err(StoreError::Internal(format!(
            "compaction lost series {}",
            plan.series
        )));
    }
    let deleted = tx.execute(
        "DELETE FROM metric_raw WHERE id = ANY($1)",
        &[&plan.raw_ids],
    )?;
    if deleted != plan.raw_ids.len() as u64 {
        return Err(StoreError::Internal(format!(
            "compaction of series {} lost raw segments",
            plan.series
        )));
    }
    if !plan.replaced_chunks.is_empty() {
        tx.execute(
            "DELETE FROM metric_chunks WHERE id = ANY($1)",
            &[&plan.replaced_chunks],
        )?;
    }
    for chunk in &plan.new_chunks {
        insert_chunk(tx, plan.series, chunk)?;
    }
    let segments = plan.raw_ids.len() as i64;
    tx.execute(
        "UPDATE metric_series SET
             raw_points = raw_points - $2,
             raw_segments = raw_segments - $3,
             raw_since = CASE WHEN raw_segments - $3 > 0 THEN $4::BIGINT ELSE NULL END
         WHERE id = $1",
        &[&plan.series, &plan.raw_points, &segments, &now],
    )?;
    Ok(())
}
