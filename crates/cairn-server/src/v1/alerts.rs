//! Alert routes of the native API.
//!
//! - `POST /api/v1/experiments/{id}/alerts` `{"name", "condition": "run_failed" | "run_finished" |
//!   "metric_above" | "metric_below" | "silent", "key"?, "threshold"?, "minutes"?, "webhook_url",
//!   "format"?: "json" | "slack"}` — a rule; it fires at most once per run.
//! - `GET /api/v1/experiments/{id}/alerts` — the experiment's rules.
//! - `DELETE /api/v1/alerts/{id}` — removes a rule with its delivery log.
//! - `GET /api/v1/alerts/{id}/deliveries?limit=` — its delivery attempts, newest first (the
//!   webhook's status, or why the attempt failed).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_core::alerts::{AlertRule, Condition, Delivery};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{body, query};
use crate::AppState;
use crate::alerts::NewRule;
use crate::error::{ApiError, ApiResult};

fn rule_json(rule: &AlertRule) -> Value {
    let mut out = json!({
        "id": rule.id,
        "experiment_id": rule.experiment_id,
        "name": rule.name,
        "condition": rule.condition.kind(),
        "webhook_url": rule.webhook_url,
        "format": rule.format.as_str(),
        "created": rule.created,
    });
    match &rule.condition {
        Condition::MetricAbove { key, threshold } | Condition::MetricBelow { key, threshold } => {
            out["key"] = json!(key);
            out["threshold"] = json!(threshold);
        }
        Condition::Silent { minutes } => out["minutes"] = json!(minutes),
        Condition::RunFailed | Condition::RunFinished => {}
    }
    out
}

fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id, "run_id": d.run_id, "event": d.event, "attempt": d.attempt,
        "status": d.status, "error": d.error, "time": d.time, "delivered": d.succeeded(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    name: String,
    condition: String,
    key: Option<String>,
    threshold: Option<f64>,
    minutes: Option<i64>,
    webhook_url: String,
    format: Option<String>,
}

fn alert_id(text: &str) -> ApiResult<i64> {
    text.parse()
        .map_err(|_| ApiError::invalid(format!("Invalid alert id '{text}'")))
}

pub async fn create(
    State(state): State<AppState>,
    Path(experiment_id): Path<String>,
    payload: Result<Json<RuleBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    state.tracking.get_experiment(&experiment_id).await?;
    let rule = state
        .alerts
        .create(
            &experiment_id,
            NewRule {
                name: request.name,
                kind: request.condition,
                key: request.key,
                threshold: request.threshold,
                minutes: request.minutes,
                webhook_url: request.webhook_url,
                format: request.format,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "alert": rule_json(&rule) })),
    )
        .into_response())
}

pub async fn list(
    State(state): State<AppState>,
    Path(experiment_id): Path<String>,
) -> ApiResult<Response> {
    state.tracking.get_experiment(&experiment_id).await?;
    let rules = state.alerts.list(Some(&experiment_id)).await?;
    let rules: Vec<Value> = rules.iter().map(rule_json).collect();
    Ok(Json(json!({ "alerts": rules })).into_response())
}

pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    state.alerts.delete(alert_id(&id)?).await?;
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    limit: Option<usize>,
}

pub async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let params = query(params)?;
    let log = state
        .alerts
        .deliveries(alert_id(&id)?, params.limit.unwrap_or(100))
        .await?;
    let log: Vec<Value> = log.iter().map(delivery_json).collect();
    Ok(Json(json!({ "deliveries": log })).into_response())
}
