//! MLflow's metric history reads on top of the series engine: paged full history (keyset paging)
//! and evenly sampled history. A port of `sqlite::metrics`: the same page tokens and sampling
//! (reused from there); only the reads go through a PostgreSQL transaction.

use std::collections::HashMap;

use cairn_core::model::{Metric, Page};
use cairn_core::series::Point;
use postgres::Transaction;

use super::series::{self, Link};
use crate::sqlite::metrics::{LinkKey, link_key, sample_indices, to_metrics};
use crate::sqlite::token;
use crate::{HistoryRequest, Result, RunSeries, SampledHistoryRequest, StoreError};

/// A run's internal id.
pub fn run_key(tx: &mut Transaction<'_>, run_id: &str) -> Result<Option<i64>> {
    Ok(series::run_row(tx, run_id)?.map(|(id, _)| id))
}

fn link_map(tx: &mut Transaction<'_>, series: i64) -> Result<HashMap<LinkKey, Link>> {
    Ok(series::links(tx, series)?
        .into_iter()
        .map(|link| (link_key(&link.point), link))
        .collect())
}

/// A page of `(step, timestamp, value)`-ordered points. `max_results == 0` means everything.
/// The token is a keyset position (the last point's sort key), so pages stay consistent while
/// points are being appended.
pub fn history(tx: &mut Transaction<'_>, request: &HistoryRequest) -> Result<Page<Metric>> {
    let run =
        run_key(tx, &request.run_id)?.ok_or_else(|| StoreError::run_not_found(&request.run_id))?;
    let query_print = token::fingerprint(&format!("history|{}|{}", request.run_id, request.key));
    let after = token::decode_history(request.page_token.as_deref(), query_print)?.map(
        |(step, timestamp, is_nan, value)| {
            Point::new(step, timestamp, if is_nan { f64::NAN } else { value })
        },
    );
    let Some(series) = series::series_id(tx, run, &request.key)? else {
        return Ok(Page {
            items: Vec::new(),
            next_page_token: None,
        });
    };
    let mut points =
        series::points(tx, series, after.map_or(i64::MIN, |p| p.step), i64::MAX)?.points;
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
    let links = link_map(tx, series)?;
    Ok(Page {
        items: to_metrics(&request.key, &points, &links),
        next_page_token,
    })
}

/// For each run: the distinct steps in `[start_step, end_step]`, up to `max_results` of them
/// evenly spaced (first and last always included), and every point at those steps. Unknown runs
/// get an empty series.
pub fn sampled_history(
    tx: &mut Transaction<'_>,
    request: &SampledHistoryRequest,
) -> Result<Vec<RunSeries>> {
    let start = request.start_step.unwrap_or(i64::MIN);
    let end = request.end_step.unwrap_or(i64::MAX);
    let mut out = Vec::with_capacity(request.run_ids.len());
    for run_id in &request.run_ids {
        let series = match run_key(tx, run_id)? {
            Some(run) => series::series_id(tx, run, &request.key)?,
            None => None,
        };
        let Some(series) = series else {
            out.push(RunSeries {
                run_id: run_id.clone(),
                points: Vec::new(),
            });
            continue;
        };
        let points = series::points(tx, series, start, end)?.points;
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
        let links = link_map(tx, series)?;
        out.push(RunSeries {
            run_id: run_id.clone(),
            points: to_metrics(&request.key, &picked, &links),
        });
    }
    Ok(out)
}
