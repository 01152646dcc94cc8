//! Retention: an experiment's optional policy "after N days, keep per R steps only the first,
//! last, smallest and largest point" (M4 thinning), applied by the compactor thread.
//!
//! Thinning works chunk by chunk: a chunk whose newest point is older than the cutoff is decoded,
//! thinned on the grid of `resolution` steps and written back with `thinned = resolution`. The
//! kept points are real points, so every read path works unchanged; views and point reads report
//! the resolution so clients can say that counts and means there cover kept points only. A chunk
//! is thinned again only when a policy asks for a coarser resolution.

use cairn_core::series::codec::Chunk;
use cairn_core::series::thin;
use rusqlite::{Connection, OptionalExtension, params};

use super::experiments;
use super::series::{self, NewChunk};
use crate::{Result, RetentionPolicy, StoreError};

pub(crate) const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub fn set(conn: &Connection, experiment_id: &str, policy: Option<RetentionPolicy>) -> Result<()> {
    let experiment = experiments::get(conn, experiment_id)?;
    let id: i64 = experiment
        .experiment_id
        .parse()
        .map_err(|_| StoreError::experiment_not_found(experiment_id))?;
    match policy {
        Some(policy) => conn.execute(
            "INSERT INTO retention_policies (experiment_id, after_days, resolution) VALUES (?1, ?2, ?3)
             ON CONFLICT (experiment_id) DO UPDATE SET after_days = excluded.after_days,
                 resolution = excluded.resolution",
            params![id, policy.after_days, policy.resolution],
        )?,
        None => conn.execute(
            "DELETE FROM retention_policies WHERE experiment_id = ?1",
            params![id],
        )?,
    };
    Ok(())
}

pub fn get(conn: &Connection, experiment_id: &str) -> Result<Option<RetentionPolicy>> {
    let experiment = experiments::get(conn, experiment_id)?;
    Ok(conn
        .prepare_cached(
            "SELECT after_days, resolution FROM retention_policies WHERE experiment_id = ?1",
        )?
        .query_row(params![experiment.experiment_id], |row| {
            Ok(RetentionPolicy {
                after_days: row.get(0)?,
                resolution: row.get(1)?,
            })
        })
        .optional()?)
}

/// Chunks due for thinning: `(chunk, series, resolution)`.
pub fn due(conn: &Connection, now: i64, limit: usize) -> Result<Vec<(i64, i64, i64)>> {
    Ok(conn
        .prepare_cached(
            "SELECT c.id, c.series_id, p.resolution
             FROM retention_policies p
             JOIN runs r ON r.experiment_id = p.experiment_id
             JOIN metric_series s ON s.run_id = r.id
             JOIN metric_chunks c ON c.series_id = s.id
             WHERE c.thinned < p.resolution AND c.max_time < ?1 - p.after_days * ?2
             LIMIT ?3",
        )?
        .query_map(params![now, DAY_MS, limit as i64], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?)
}

/// A thinned replacement for one chunk, computed off the writer.
pub struct ThinPlan {
    pub chunk: i64,
    pub series: i64,
    pub replacement: NewChunk,
}

pub fn plan(conn: &Connection, chunk: i64, series: i64, resolution: i64) -> Result<ThinPlan> {
    let data = series::chunk_data(conn, chunk)?;
    let mut points = Vec::new();
    Chunk::parse(&data)
        .and_then(|parsed| parsed.decode(&mut points))
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    Ok(ThinPlan {
        chunk,
        series,
        replacement: NewChunk::encode(&thin(&points, resolution), resolution),
    })
}

pub fn apply(conn: &Connection, plan: &ThinPlan) -> Result<()> {
    if conn.execute(
        "DELETE FROM metric_chunks WHERE id = ?1",
        params![plan.chunk],
    )? != 1
    {
        return Err(StoreError::Internal(format!(
            "retention lost chunk {}",
            plan.chunk
        )));
    }
    series::insert_chunk(conn, plan.series, &plan.replacement)
}
