//! Lineage routes of the native API.
//!
//! - `GET /api/v1/lineage?node=run:<id>&direction=both&depth=3&max_nodes=500&kinds=run,dataset`
//!   — the graph around a node (stepping only onto the listed kinds, when given): `{"nodes": [{"id", "kind", "key", "label", "experiment_id"?}], "edges": [{"from",
//!   "to", "relation"}], "truncated": bool}`. Node ids are `kind:key` (`run:…`,
//!   `dataset:name@digest`, `model:m-…`, `model_version:name/3`, `artifact:blake3:…`,
//!   `commit:…`); edges point downstream.
//! - `POST /api/v1/runs/{run_id}/lineage` — record what a run used and produced that tracking
//!   does not show by itself: `{"inputs": [...], "outputs": [...]}`, each item a node id string
//!   or `{"run_id", "path"}` for a stored file (resolved to its digest). Answers
//!   `{"recorded": n}`.
//! - `POST /api/v1/runs/{run_id}/fork` — continue a run in a new one from a step:
//!   `{"step": n, "run_id"?: new id (idempotent, as `PUT /api/v1/runs/{id}`), "run_name"?}`.
//!   The new run has the source's params, tags and dataset inputs and every point at or before
//!   the step, and the tags `cairn.fork.from` / `cairn.fork.step`. Answers `{"run", "created"}`
//!   (201 when created, 200 when that fork existed already).
//! - `GET /api/v1/lineage/diff?a=<run>&b=<run>` — the two runs' direct inputs:
//!   `{"only_a": [node], "only_b": [node], "common": [node]}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use cairn_core::lineage::{Direction, Edge, NodeInfo, NodeKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{body, query};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::tracking::Reported;

const DEFAULT_DEPTH: usize = 3;
const DEFAULT_MAX_NODES: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineageQuery {
    node: String,
    direction: Option<String>,
    depth: Option<usize>,
    max_nodes: Option<usize>,
    kinds: Option<String>,
}

#[derive(Serialize)]
struct NodeJson<'a> {
    id: String,
    kind: &'static str,
    key: &'a str,
    label: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    experiment_id: Option<&'a str>,
}

fn node(info: &NodeInfo) -> NodeJson<'_> {
    NodeJson {
        id: info.node.to_string(),
        kind: info.node.kind.as_str(),
        key: &info.node.id,
        label: &info.label,
        experiment_id: info.experiment_id.as_deref(),
    }
}

#[derive(Serialize)]
struct EdgeJson {
    from: String,
    to: String,
    relation: &'static str,
}

fn edge(edge: &Edge) -> EdgeJson {
    EdgeJson {
        from: edge.from.to_string(),
        to: edge.to.to_string(),
        relation: edge.relation.as_str(),
    }
}

pub async fn graph(
    State(state): State<AppState>,
    params: Result<Query<LineageQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let params = query(params)?;
    let direction = match params.direction.as_deref() {
        None => Direction::Both,
        Some(text) => Direction::parse(text).ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid direction '{text}': expected upstream, downstream or both"
            ))
        })?,
    };
    let kinds = params
        .kinds
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|kind| !kind.is_empty())
        .map(|kind| {
            NodeKind::parse(kind).ok_or_else(|| {
                ApiError::invalid(format!(
                    "Invalid node kind '{kind}' in kinds: expected run, dataset, model, \
                     model_version, artifact or commit"
                ))
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let graph = state
        .tracking
        .lineage(
            &params.node,
            direction,
            params.depth.unwrap_or(DEFAULT_DEPTH),
            params.max_nodes.unwrap_or(DEFAULT_MAX_NODES),
            &kinds,
        )
        .await?;
    let edges: Vec<_> = graph.edges.iter().map(edge).collect();
    Ok(Json(json!({
        "nodes": nodes(&graph.nodes),
        "edges": edges,
        "truncated": graph.truncated,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum ReportedJson {
    Node(String),
    File { run_id: String, path: String },
}

impl From<ReportedJson> for Reported {
    fn from(value: ReportedJson) -> Self {
        match value {
            ReportedJson::Node(text) => Reported::Node(text),
            ReportedJson::File { run_id, path } => Reported::File { run_id, path },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    #[serde(default)]
    inputs: Vec<ReportedJson>,
    #[serde(default)]
    outputs: Vec<ReportedJson>,
}

/// Most inputs and outputs one request may report.
const MAX_REPORTED: usize = 1000;

pub async fn record(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    payload: Result<Json<RecordBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    if request.inputs.len() + request.outputs.len() > MAX_REPORTED {
        return Err(ApiError::invalid(format!(
            "At most {MAX_REPORTED} inputs and outputs per request"
        )));
    }
    let recorded = state
        .tracking
        .record_run_lineage(
            &run_id,
            request.inputs.into_iter().map(Reported::from).collect(),
            request.outputs.into_iter().map(Reported::from).collect(),
        )
        .await?;
    Ok(Json(json!({ "recorded": recorded })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkBody {
    step: i64,
    run_id: Option<String>,
    run_name: Option<String>,
}

pub async fn fork(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
    payload: Result<Json<ForkBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let forked = state
        .tracking
        .fork_run(&source_id, request.step, request.run_id, request.run_name)
        .await;
    super::runs::ensured_answer(forked)
}

fn nodes(infos: &[NodeInfo]) -> Vec<NodeJson<'_>> {
    infos.iter().map(node).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    a: String,
    b: String,
}

pub async fn diff(
    State(state): State<AppState>,
    params: Result<Query<DiffQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let params = query(params)?;
    let diff = state.tracking.lineage_diff(&params.a, &params.b).await?;
    Ok(Json(json!({
        "only_a": nodes(&diff.only_a),
        "only_b": nodes(&diff.only_b),
        "common": nodes(&diff.common),
    }))
    .into_response())
}
