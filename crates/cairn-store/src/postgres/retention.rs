//! Retention: an experiment's optional policy "after N days, keep per R steps only the first,
//! last, smallest and largest point" (M4 thinning), applied by the compactor thread. A port of
//! `sqlite::retention`, with the same chunk-by-chunk thinning.
//!
//! Differs from SQLite in one point: replacing a chunk locks its series' row `FOR UPDATE` first,
//! like a fold does, since there is no single writer to order the two.

use cairn_core::series::codec::Chunk;
use cairn_core::series::thin;
use postgres::Transaction;

use super::experiments;
use super::series::{self, NewChunk};
use crate::sqlite::retention::{DAY_MS, ThinPlan};
use crate::{Result, RetentionPolicy, StoreError};

pub fn set(
    tx: &mut Transaction<'_>,
    experiment_id: &str,
    policy: Option<RetentionPolicy>,
) -> Result<()> {
    let experiment = experiments::get(tx, experiment_id)?;
    let id = experiments::parse_id(&experiment.experiment_id)?;
    match policy {
        Some(policy) => tx.execute(
            "INSERT INTO retention_policies (experiment_id, after_days, resolution)
             VALUES ($1, $2, $3)
             ON CONFLICT (experiment_id) DO UPDATE SET after_days = excluded.after_days,
                 resolution = excluded.resolution",
            &[&id, &policy.after_days, &policy.resolution],
        )?,
        None => tx.execute(
            "DELETE FROM retention_policies WHERE experiment_id = $1",
            &[&id],
        )?,
    };
    Ok(())
}

pub fn get(tx: &mut Transaction<'_>, experiment_id: &str) -> Result<Option<RetentionPolicy>> {
    let experiment = experiments::get(tx, experiment_id)?;
    let id = experiments::parse_id(&experiment.experiment_id)?;
    Ok(tx
        .query_opt(
            "SELECT after_days, resolution FROM retention_policies WHERE experiment_id = $1",
            &[&id],
        )?
        .map(|row| RetentionPolicy {
            after_days: row.get(0),
            resolution: row.get(1),
        }))
}

/// Chunks due for thinning: `(chunk, series, resolution)`.
pub fn due(tx: &mut Transaction<'_>, now: i64, limit: usize) -> Result<Vec<(i64, i64, i64)>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(tx
        .query(
            "SELECT c.id, c.series_id, p.resolution
             FROM retention_policies p
             JOIN runs r ON r.experiment_id = p.experiment_id
             JOIN metric_series s ON s.run_id = r.id
             JOIN metric_chunks c ON c.series_id = s.id
             WHERE c.thinned < p.resolution AND c.max_time < $1 - p.after_days * $2
             LIMIT $3",
            &[&now, &DAY_MS, &limit],
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

/// A thinned replacement for one chunk, computed from a read snapshot.
pub fn plan(
    tx: &mut Transaction<'_>,
    chunk: i64,
    series: i64,
    resolution: i64,
) -> Result<ThinPlan> {
    let data = series::chunk_data(tx, chunk)?;
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

pub fn apply(tx: &mut Transaction<'_>, plan: &ThinPlan) -> Result<()> {
    series::lock_series(tx, plan.series)?;
    if tx.execute("DELETE FROM metric_chunks WHERE id = $1", &[&plan.chunk])? != 1 {
        return Err(StoreError::Internal(format!(
            "retention lost chunk {}",
            plan.chunk
        )));
    }
    series::insert_chunk(tx, plan.series, &plan.replacement)
}
