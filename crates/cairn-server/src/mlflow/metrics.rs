//! `metrics/*` routes: full history (paged), and the UI's bulk and sampled reads.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::fields::Fields;
use super::wire::{self, MetricJson};
use crate::AppState;
use crate::error::ApiResult;

/// Page size of `get-history-bulk` when the caller names none.
const DEFAULT_BULK_RESULTS: i64 = 25_000;

#[derive(Serialize)]
struct HistoryResponse<'a> {
    metrics: Vec<MetricJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<&'a str>,
}

pub async fn history(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let page = state
        .tracking
        .metric_history(
            &f.run_id()?,
            &f.req_str("metric_key")?,
            f.opt_i64("max_results")?,
            f.opt_str("page_token")?,
        )
        .await?;
    let body = HistoryResponse {
        metrics: page.items.iter().map(wire::plain_metric).collect(),
        next_page_token: page.next_page_token.as_deref(),
    };
    Ok(Json(&body).into_response())
}

fn series_response(series: &[cairn_store::RunSeries]) -> Response {
    let metrics = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| wire::metric(p, Some(&s.run_id))))
        .map(|mut m| {
            m.model_id = None;
            m.dataset_name = None;
            m.dataset_digest = None;
            m
        })
        .collect();
    Json(&HistoryResponse {
        metrics,
        next_page_token: None,
    })
    .into_response()
}

pub async fn bulk_interval(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let series = state
        .tracking
        .sampled_history(
            f.str_list("run_ids")?,
            &f.req_str("metric_key")?,
            f.opt_i64("start_step")?,
            f.opt_i64("end_step")?,
            f.opt_i64("max_results")?,
        )
        .await?;
    Ok(series_response(&series))
}

pub async fn bulk(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let max_results = f.opt_i64("max_results")?.unwrap_or(DEFAULT_BULK_RESULTS);
    let series = state
        .tracking
        .bulk_history(
            f.str_list("run_id")?,
            &f.req_str("metric_key")?,
            max_results,
        )
        .await?;
    Ok(series_response(&series))
}
