//! Metric series reads: paged full history (keyset paging) and evenly sampled history.

use cairn_core::model::{Metric, Page};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::sql::{self, IN_CHUNK};
use super::token;
use crate::{HistoryRequest, Result, RunSeries, SampledHistoryRequest, StoreError};

const POINT_COLUMNS: &str =
    "step, timestamp, is_nan, value, model_id, dataset_name, dataset_digest";

fn point(key: &str, row: &Row<'_>) -> rusqlite::Result<Metric> {
    Ok(Metric {
        key: key.to_string(),
        step: row.get(0)?,
        timestamp: row.get(1)?,
        value: sql::join_value(row.get(2)?, row.get(3)?),
        model_id: row.get(4)?,
        dataset_name: row.get(5)?,
        dataset_digest: row.get(6)?,
    })
}

fn run_key(conn: &Connection, run_id: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM runs WHERE run_uuid = ?1")?
        .query_row(params![run_id], |row| row.get(0))
        .optional()?)
}

/// A page of `(step, timestamp, value)`-ordered points. `max_results == 0` means everything.
/// The token is a keyset position (the last point's sort key), so pages stay consistent while
/// points are being appended.
pub fn history(conn: &Connection, request: &HistoryRequest) -> Result<Page<Metric>> {
    let id = run_key(conn, &request.run_id)?
        .ok_or_else(|| StoreError::run_not_found(&request.run_id))?;
    let query_print = token::fingerprint(&format!("history|{}|{}", request.run_id, request.key));
    let after = token::decode_history(request.page_token.as_deref(), query_print)?;
    let limit: i64 = if request.max_results == 0 {
        -1
    } else {
        i64::try_from(request.max_results)
            .unwrap_or(i64::MAX - 1)
            .saturating_add(1)
    };
    let (after_step, after_timestamp, after_nan, after_value, has_after) = match after {
        Some((step, timestamp, is_nan, value)) => (step, timestamp, is_nan, value, true),
        None => (0, 0, false, 0.0, false),
    };
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {POINT_COLUMNS} FROM metrics
         WHERE run_id = ?1 AND key = ?2
           AND (NOT ?3 OR (step, timestamp, is_nan, value) > (?4, ?5, ?6, ?7))
         ORDER BY step, timestamp, is_nan, value LIMIT ?8"
    ))?;
    let mut points: Vec<Metric> = statement
        .query_map(
            params![
                id,
                request.key,
                has_after,
                after_step,
                after_timestamp,
                after_nan,
                after_value,
                limit
            ],
            |row| point(&request.key, row),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let next_page_token = if request.max_results > 0 && points.len() > request.max_results {
        points.truncate(request.max_results);
        points.last().map(|last| {
            let (is_nan, value) = sql::split_value(last.value);
            token::encode_history(query_print, (last.step, last.timestamp, is_nan, value))
        })
    } else {
        None
    };
    Ok(Page {
        items: points,
        next_page_token,
    })
}

/// Indices of up to `wanted` evenly spaced items among `count`, always the first and the last
/// (so at least two when there are two or more items). `wanted == 0` means all of them.
pub fn sample_indices(count: usize, wanted: usize) -> Vec<usize> {
    if count == 0 {
        return Vec::new();
    }
    if wanted == 0 || count <= wanted.max(2) {
        return (0..count).collect();
    }
    let wanted = wanted.max(2);
    let mut indices: Vec<usize> = (0..wanted)
        .map(|i| ((i as f64) * ((count - 1) as f64) / ((wanted - 1) as f64)).round() as usize)
        .collect();
    indices.dedup();
    indices
}

/// For each run: the distinct steps in `[start_step, end_step]`, up to `max_results` of them
/// evenly spaced (first and last always included), and every point at those steps. Unknown runs
/// get an empty series.
pub fn sampled_history(
    conn: &Connection,
    request: &SampledHistoryRequest,
) -> Result<Vec<RunSeries>> {
    let start = request.start_step.unwrap_or(i64::MIN);
    let end = request.end_step.unwrap_or(i64::MAX);
    let mut series = Vec::with_capacity(request.run_ids.len());
    for run_id in &request.run_ids {
        let Some(id) = run_key(conn, run_id)? else {
            series.push(RunSeries {
                run_id: run_id.clone(),
                points: Vec::new(),
            });
            continue;
        };
        let steps: Vec<i64> = conn
            .prepare_cached(
                "SELECT DISTINCT step FROM metrics WHERE run_id = ?1 AND key = ?2 AND step BETWEEN ?3 AND ?4 ORDER BY step",
            )?
            .query_map(params![id, request.key, start, end], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let chosen: Vec<i64> = sample_indices(steps.len(), request.max_results)
            .into_iter()
            .map(|i| steps[i])
            .collect();
        let mut points = Vec::new();
        for chunk in chosen.chunks(IN_CHUNK) {
            let query = format!(
                "SELECT {POINT_COLUMNS} FROM metrics WHERE run_id = ? AND key = ? AND step IN {}
                 ORDER BY step, timestamp, is_nan, value",
                sql::placeholders(chunk.len())
            );
            let mut values: Vec<rusqlite::types::Value> =
                vec![id.into(), request.key.clone().into()];
            values.extend(chunk.iter().map(|step| (*step).into()));
            let mut statement = conn.prepare_cached(&query)?;
            let rows = statement.query_map(rusqlite::params_from_iter(values), |row| {
                point(&request.key, row)
            })?;
            for row in rows {
                points.push(row?);
            }
        }
        series.push(RunSeries {
            run_id: run_id.clone(),
            points,
        });
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::sample_indices;

    #[test]
    fn sampling_keeps_ends_and_spreads_evenly() {
        assert_eq!(sample_indices(5, 10), vec![0, 1, 2, 3, 4]);
        assert_eq!(sample_indices(11, 3), vec![0, 5, 10]);
        assert_eq!(sample_indices(100, 2), vec![0, 99]);
        assert_eq!(sample_indices(100, 1), vec![0, 99]);
        assert_eq!(sample_indices(0, 3), Vec::<usize>::new());
        let picked = sample_indices(1000, 7);
        assert_eq!(picked.len(), 7);
        assert_eq!((picked[0], picked[6]), (0, 999));
    }
}
