//! `runs/*` routes.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use cairn_core::model::{Metric, Param, RunStatus, RunUpdate, Tag};
use serde::Serialize;
use serde_json::json;

use super::experiments::parse_view_type;
use super::fields::Fields;
use super::wire::{self, RunJson};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::tracking::{CreateRun, SearchRuns};

/// The tag in which MLflow 2 clients record `log_model` calls.
const LOG_MODEL_HISTORY_TAG: &str = "mlflow.log-model.history";

pub async fn create(State(state): State<AppState>, mut f: Fields) -> ApiResult<Response> {
    let request = CreateRun {
        experiment_id: f.opt_str("experiment_id")?,
        user_id: f.opt_str("user_id")?,
        run_name: f.opt_str("run_name")?,
        start_time: f.opt_i64("start_time")?,
        tags: wire::parse_tags(&mut f, "tags")?,
    };
    let run = state.tracking.create_run(request).await?;
    Ok(Json(json!({ "run": wire::run(&run) })).into_response())
}

pub async fn get(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let run = state.tracking.get_run(&f.run_id()?).await?;
    Ok(Json(json!({ "run": wire::run(&run) })).into_response())
}

pub async fn update(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let update = RunUpdate {
        status: f.opt_enum("status", RunStatus::parse, RunStatus::from_number)?,
        end_time: f.opt_i64("end_time")?,
        run_name: f.opt_str("run_name")?,
    };
    let info = state.tracking.update_run(&f.run_id()?, update).await?;
    Ok(Json(json!({ "run_info": wire::run_info(&info) })).into_response())
}

pub async fn delete(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state.tracking.delete_run(&f.run_id()?).await?;
    Ok(Json(json!({})).into_response())
}

pub async fn restore(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state.tracking.restore_run(&f.run_id()?).await?;
    Ok(Json(json!({})).into_response())
}

pub async fn log_metric(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let metric = wire::parse_metric(&f)?;
    state
        .tracking
        .log_batch(&f.run_id()?, vec![metric], Vec::new(), Vec::new())
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn log_param(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let param = Param::new(f.req_str("key")?, f.opt_str("value")?.unwrap_or_default());
    state
        .tracking
        .log_batch(&f.run_id()?, Vec::new(), vec![param], Vec::new())
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn set_tag(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let tag = Tag::new(f.req_str("key")?, f.opt_str("value")?.unwrap_or_default());
    state
        .tracking
        .log_batch(&f.run_id()?, Vec::new(), Vec::new(), vec![tag])
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn delete_tag(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state
        .tracking
        .delete_run_tag(&f.run_id()?, &f.req_str("key")?)
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn log_batch(State(state): State<AppState>, mut f: Fields) -> ApiResult<Response> {
    let metrics = f
        .take_objects("metrics")?
        .iter()
        .map(wire::parse_metric)
        .collect::<ApiResult<Vec<Metric>>>()?;
    let params = wire::parse_params(&mut f, "params")?;
    let tags = wire::parse_tags(&mut f, "tags")?;
    state
        .tracking
        .log_batch(&f.run_id()?, metrics, params, tags)
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn log_inputs(State(state): State<AppState>, mut f: Fields) -> ApiResult<Response> {
    let datasets = f
        .take_objects("datasets")?
        .into_iter()
        .map(wire::parse_dataset_input)
        .collect::<ApiResult<Vec<_>>>()?;
    let models = f
        .take_objects("models")?
        .iter()
        .map(wire::parse_model_input)
        .collect::<ApiResult<Vec<_>>>()?;
    state
        .tracking
        .log_inputs(&f.run_id()?, datasets, models)
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn log_outputs(State(state): State<AppState>, mut f: Fields) -> ApiResult<Response> {
    let models = f
        .take_objects("models")?
        .iter()
        .map(wire::parse_model_output)
        .collect::<ApiResult<Vec<_>>>()?;
    state.tracking.log_outputs(&f.run_id()?, models).await?;
    Ok(Json(json!({})).into_response())
}

/// MLflow 2's `runs/log-model`: appends the model's JSON to the run's model history tag.
pub async fn log_model(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let run_id = f.run_id()?;
    let model_json = f.req_str("model_json")?;
    let model: serde_json::Value = serde_json::from_str(&model_json)
        .map_err(|e| ApiError::invalid(format!("model_json is not valid JSON: {e}")))?;
    let run = state.tracking.get_run(&run_id).await?;
    let mut history: Vec<serde_json::Value> = run
        .tags
        .iter()
        .find(|t| t.key == LOG_MODEL_HISTORY_TAG)
        .and_then(|t| serde_json::from_str(&t.value).ok())
        .unwrap_or_default();
    history.push(model);
    let tag = Tag::new(
        LOG_MODEL_HISTORY_TAG,
        serde_json::Value::Array(history).to_string(),
    );
    state
        .tracking
        .log_batch(&run_id, Vec::new(), Vec::new(), vec![tag])
        .await?;
    Ok(Json(json!({})).into_response())
}

#[derive(Serialize)]
struct SearchResponse<'a> {
    runs: Vec<RunJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<&'a str>,
}

pub async fn search(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let search = SearchRuns {
        experiment_ids: f.str_list("experiment_ids")?,
        filter: f.opt_str("filter")?.unwrap_or_default(),
        order_by: f.str_list("order_by")?,
        view: parse_view_type(&f, "run_view_type")?,
        max_results: f.opt_i64("max_results")?,
        page_token: f.opt_str("page_token")?,
    };
    let page = state.tracking.search_runs(search).await?;
    let body = SearchResponse {
        runs: page.items.iter().map(wire::run).collect(),
        next_page_token: page.next_page_token.as_deref(),
    };
    Ok(Json(&body).into_response())
}
