//! MLflow's metric history reads on top of the series engine: paged full history (keyset paging)
//! and evenly sampled history.

use std::collections::HashMap;

use cairn_core::model::{Metric, Page};
use cairn_core::series::Point;
use rusqlite::Connection;

use super::series::{self, Link};
use super::token;
use crate::{HistoryRequest, Result, RunSeries, SampledHistoryRequest, StoreError};

/// A run's internal id.
pub fn run_key(conn: &Connection, run_id: &str) -> Result<Option<i64>> {
    Ok(series::run_row(conn, run_id)?.map(|(id, _)| id))
}

pub(crate) type LinkKey = (i64, i64, u64);

pub(crate) fn link_key(point: &Point) -> LinkKey {
    (point.step, point.timestamp, point.value.to_bits())
}

/// Points of a series as MLflow metrics, with their model/dataset links.
pub(crate) fn to_metrics(
    key: &str,
    points: &[Point],
    links: &HashMap<LinkKey, Link>,
) -> Vec<Metric> {
    points
        .iter()
        .map(|point| {
            let link = links.get(&link_key(point));
            Metric {
                key: key.to_string(),
                value: point.value,
                timestamp: point.timestamp,
                step: point.step,
                model_id: link.and_then(|l| l.model_id.clone()),
                dataset_name: link.and_then(|l| l.dataset_name.clone()),
                dataset_digest: link.and_then(|l| l.dataset_digest.clone()),
            }
        })
        .collect()
}

fn link_map(conn: &Connection, series: i64) -> Result<HashMap<LinkKey, Link>> {
    Ok(series::links(conn, series)?
        .into_iter()
        .map(|link| (link_key(&link.point), link))
        .collect())
}

/// A page of `(step, timestamp, value)`-ordered points. `max_results == 0` means everything.
/// The token is a keyset position (the last point's sort key), so pages stay consistent while
/// points are being appended.
pub fn history(conn: &Connection, request: &HistoryRequest) -> Result<Page<Metric>> {
    let run = run_key(conn, &request.run_id)?
        .ok_or_else(|| StoreError::run_not_found(&request.run_id))?;
    let query_print = token::fingerprint(&format!("history|{}|{}", request.run_id, request.key));
    let after = token::decode_history(request.page_token.as_deref(), query_print)?.map(
        |(step, timestamp, is_nan, value)| {
            Point::new(step, timestamp, if is_nan { f64::NAN } else { value })
        },
    );
    let Some(series) = series::series_id(conn, run, &request.key)? else {
        return Ok(Page {
            items: Vec::new(),
            next_page_token: None,
        });
    };
    let mut points =
        series::points(conn, series, after.map_or(i64::MIN, |p| p.step), i64::MAX)?.points;
    if let Some(after) = after {
        let skip = points.partition_point(|p| p.cmp_canonical(&after).is_le());
        points.drain(..skip);
    }
    let mut next_page_token = None;
    if request.max_results > 0 && points.len() > request.max_results {
        points.truncate(request.max_results);
        next_page_token = points.last().map(|last| {
            token::encode_history(
                query_print,
                (
                    last.step,
                    last.timestamp,
                    last.value.is_nan(),
                    if last.value.is_nan() { 0.0 } else { last.value },
                ),
            )
        });
    }
    let links = link_map(conn, series)?;
    Ok(Page {
        items: to_metrics(&request.key, &points, &links),
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
    let mut out = Vec::with_capacity(request.run_ids.len());
    for run_id in &request.run_ids {
        let series = match run_key(conn, run_id)? {
            Some(run) => series::series_id(conn, run, &request.key)?,
            None => None,
        };
        let Some(series) = series else {
            out.push(RunSeries {
                run_id: run_id.clone(),
                points: Vec::new(),
            });
            continue;
        };
        let points = series::points(conn, series, start, end)?.points;
        let mut steps: Vec<i64> = points.iter().map(|p| p.step).collect();
        steps.dedup();
        let chosen: Vec<i64> = sample_indices(steps.len(), request.max_results)
            .into_iter()
            .map(|i| steps[i])
            .collect();
        let picked: Vec<Point> = points
            .into_iter()
            .filter(|p| chosen.binary_search(&p.step).is_ok())
            .collect();
        let links = link_map(conn, series)?;
        out.push(RunSeries {
            run_id: run_id.clone(),
            points: to_metrics(&request.key, &picked, &links),
        });
    }
    Ok(out)
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
