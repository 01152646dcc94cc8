//! A running MLflow tracking server, read through its REST API:
//! `experiments/search` and `runs/search` (all lifecycle stages, paged), `metrics/get-history`
//! (paged), `logged-models/search`, `artifacts/list` with `/get-artifact`, and the logged-model
//! artifact routes. Credentials come from MLflow's own variables: `MLFLOW_TRACKING_TOKEN`
//! (Bearer) or `MLFLOW_TRACKING_USERNAME` with `MLFLOW_TRACKING_PASSWORD` (Basic).
//!
//! A run's fingerprint hashes the run as `runs/search` returns it (info, params, tags, latest
//! metrics, inputs): a new point, tag or status changes it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::{DatasetInput, Experiment, Model, Owner, Point, Run, SourceFile};
use crate::artifacts::client::{Api, is_not_found};

/// Points asked for per `metrics/get-history` page.
const HISTORY_PAGE: u32 = 50_000;

pub struct RestStore {
    api: Api,
}

/// Text of a JSON field that may be absent, a string or a number.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An int64 field: protobuf's JSON writes them as numbers or as strings.
fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A double field: a number, or `"NaN"` / `"Infinity"` / `"-Infinity"`.
pub fn double(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" | "nan" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

/// `[{"key", "value"}]` as pairs.
fn pairs(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            Some((
                text(&item["key"])?,
                text(&item["value"]).unwrap_or_default(),
            ))
        })
        .collect()
}

/// The credentials MLflow's client would send, as default headers.
fn credentials() -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    let value = if let Ok(token) = std::env::var("MLFLOW_TRACKING_TOKEN") {
        Some(format!("Bearer {token}"))
    } else if let (Ok(user), Ok(password)) = (
        std::env::var("MLFLOW_TRACKING_USERNAME"),
        std::env::var("MLFLOW_TRACKING_PASSWORD"),
    ) {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Some(format!("Basic {pair}"))
    } else {
        None
    };
    if let Some(value) = value {
        let mut value =
            HeaderValue::from_str(&value).context("the MLflow credentials are not valid text")?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    Ok(headers)
}

/// A run as `runs/search` returns it.
pub fn parse_run(run: &Value) -> anyhow::Result<Run> {
    let info = &run["info"];
    let data = &run["data"];
    let run_id = text(&info["run_id"])
        .or_else(|| text(&info["run_uuid"]))
        .context("a run without run_id")?;
    let tags = pairs(&data["tags"]);
    let mut metric_keys: Vec<String> = data["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| text(&m["key"]))
        .collect();
    metric_keys.sort();
    metric_keys.dedup();
    let datasets = run["inputs"]["dataset_inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|input| {
            let d = &input["dataset"];
            DatasetInput {
                name: text(&d["name"]).unwrap_or_default(),
                digest: text(&d["digest"]).unwrap_or_default(),
                source_type: text(&d["source_type"]).unwrap_or_default(),
                source: text(&d["source"]).unwrap_or_default(),
                schema: text(&d["schema"]),
                profile: text(&d["profile"]),
                tags: pairs(&input["tags"]),
            }
        })
        .collect();
    let model_inputs = run["inputs"]["model_inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| text(&m["model_id"]))
        .collect();
    let run_name = text(&info["run_name"])
        .filter(|n| !n.is_empty())
        .or_else(|| {
            tags.iter()
                .find(|(k, _)| k == "mlflow.runName")
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_default();
    let fingerprint = blake3::hash(serde_json::to_string(run)?.as_bytes());
    Ok(Run {
        run_name,
        user_id: text(&info["user_id"]).unwrap_or_default(),
        status: text(&info["status"]).unwrap_or_else(|| "FINISHED".to_string()),
        start_time: int(&info["start_time"]),
        end_time: int(&info["end_time"]),
        deleted: text(&info["lifecycle_stage"]).as_deref() == Some("deleted"),
        params: pairs(&data["params"]),
        tags,
        metric_keys,
        datasets,
        model_inputs,
        fingerprint: format!("rest:{}", &fingerprint.to_hex()[..32]),
        location: None,
        run_id,
    })
}

impl RestStore {
    pub fn new(server: &str) -> anyhow::Result<RestStore> {
        let api = Api::with_headers(server, false, credentials()?)?;
        Ok(RestStore { api })
    }

    async fn post(&self, route: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .api
            .http()
            .post(self.api.url(&["api", "2.0", "mlflow", route]))
            .json(body)
            .send()
            .await
            .with_context(|| format!("cannot reach the MLflow server {}", self.api.server()))?;
        Api::json(response)
            .await
            .with_context(|| format!("MLflow's {route}"))
    }

    async fn get(&self, route: &[&str], query: &[(&str, &str)]) -> anyhow::Result<Value> {
        let mut segments = vec!["api", "2.0", "mlflow"];
        segments.extend_from_slice(route);
        let mut url = self.api.url(&segments);
        url.query_pairs_mut().extend_pairs(query);
        let response = self
            .api
            .http()
            .get(url)
            .send()
            .await
            .with_context(|| format!("cannot reach the MLflow server {}", self.api.server()))?;
        Api::json(response)
            .await
            .with_context(|| format!("MLflow's {}", route.join("/")))
    }

    /// Every page of a POST search, each page's `field` items.
    async fn search(&self, route: &str, body: Value, field: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = body.clone();
            if let Some(token) = &token {
                request["page_token"] = json!(token);
            }
            let mut page = self.post(route, &request).await?;
            if let Some(Value::Array(found)) = page.get_mut(field).map(Value::take) {
                items.extend(found);
            }
            match text(&page["next_page_token"]).filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(items),
            }
        }
    }

    pub async fn experiments(&self) -> anyhow::Result<Vec<Experiment>> {
        let found = self
            .search(
                "experiments/search",
                json!({"max_results": 1000, "view_type": "ALL"}),
                "experiments",
            )
            .await?;
        Ok(found
            .iter()
            .filter_map(|e| {
                Some(Experiment {
                    id: text(&e["experiment_id"])?,
                    name: text(&e["name"])?,
                    deleted: text(&e["lifecycle_stage"]).as_deref() == Some("deleted"),
                    tags: pairs(&e["tags"]),
                })
            })
            .collect())
    }

    pub async fn runs(&self, experiment: &Experiment) -> anyhow::Result<Vec<Run>> {
        let found = self
            .search(
                "runs/search",
                json!({
                    "experiment_ids": [experiment.id],
                    "run_view_type": "ALL",
                    "max_results": 1000,
                }),
                "runs",
            )
            .await?;
        found.iter().map(parse_run).collect()
    }

    pub async fn models(&self, experiment: &Experiment) -> anyhow::Result<Vec<Model>> {
        let found = match self
            .search(
                "logged-models/search",
                json!({"experiment_ids": [experiment.id], "max_results": 100}),
                "models",
            )
            .await
        {
            Ok(found) => found,
            // A server older than MLflow 3 has no logged models.
            Err(error) if is_not_found(&error) => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        Ok(found
            .iter()
            .filter_map(|m| {
                let info = &m["info"];
                Some(Model {
                    model_id: text(&info["model_id"])?,
                    name: text(&info["name"]).unwrap_or_default(),
                    model_type: text(&info["model_type"]).filter(|t| !t.is_empty()),
                    source_run_id: text(&info["source_run_id"]).filter(|r| !r.is_empty()),
                    status: text(&info["status"]).filter(|s| s.starts_with("LOGGED_MODEL_")),
                    creation_timestamp: int(&info["creation_timestamp_ms"]),
                    deleted: text(&info["lifecycle_stage"]).as_deref() == Some("deleted"),
                    params: pairs(&m["data"]["params"]),
                    tags: pairs(&info["tags"]),
                    location: None,
                })
            })
            .collect())
    }

    pub async fn history(&self, run: &Run, key: &str) -> anyhow::Result<Vec<Point>> {
        let mut points = Vec::new();
        let mut token: Option<String> = None;
        let page_size = HISTORY_PAGE.to_string();
        loop {
            let mut query = vec![
                ("run_id", run.run_id.as_str()),
                ("metric_key", key),
                ("max_results", page_size.as_str()),
            ];
            if let Some(token) = &token {
                query.push(("page_token", token));
            }
            let page = self.get(&["metrics", "get-history"], &query).await?;
            for metric in page["metrics"].as_array().into_iter().flatten() {
                points.push(Point {
                    step: int(&metric["step"]).unwrap_or(0),
                    timestamp: int(&metric["timestamp"]).unwrap_or(0),
                    value: double(&metric["value"]).context("a metric point without a value")?,
                });
            }
            match text(&page["next_page_token"]).filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(points),
            }
        }
    }

    /// One folder's listing (files and sub-folders, paths relative to the artifact root).
    async fn list(&self, owner: Owner<'_>, path: &str) -> anyhow::Result<Vec<Value>> {
        let page = match owner {
            Owner::Run(run) => {
                let mut query = vec![("run_id", run.run_id.as_str())];
                if !path.is_empty() {
                    query.push(("path", path));
                }
                self.get(&["artifacts", "list"], &query).await?
            }
            Owner::Model(model) => {
                let mut query = Vec::new();
                if !path.is_empty() {
                    query.push(("artifact_directory_path", path));
                }
                self.get(
                    &["logged-models", &model.model_id, "artifacts", "directories"],
                    &query,
                )
                .await?
            }
        };
        Ok(page["files"].as_array().cloned().unwrap_or_default())
    }

    pub async fn artifacts(&self, owner: Owner<'_>) -> anyhow::Result<Vec<SourceFile>> {
        let mut files = Vec::new();
        let mut folders = vec![String::new()];
        while let Some(folder) = folders.pop() {
            for entry in self.list(owner, &folder).await? {
                let Some(path) = text(&entry["path"]) else {
                    continue;
                };
                if entry["is_dir"].as_bool() == Some(true) {
                    folders.push(path);
                } else {
                    let size = int(&entry["file_size"]).unwrap_or(0).max(0) as u64;
                    files.push(SourceFile { path, size });
                }
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Downloads one artifact file into `scratch`, streaming.
    pub async fn download(
        &self,
        owner: Owner<'_>,
        file: &SourceFile,
        scratch: &Path,
    ) -> anyhow::Result<PathBuf> {
        let url = match owner {
            Owner::Run(run) => {
                let mut url = self.api.url(&["get-artifact"]);
                url.query_pairs_mut()
                    .append_pair("path", &file.path)
                    .append_pair("run_uuid", &run.run_id);
                url
            }
            Owner::Model(model) => {
                let mut url = self.api.url(&[
                    "ajax-api",
                    "2.0",
                    "mlflow",
                    "logged-models",
                    &model.model_id,
                    "artifacts",
                    "files",
                ]);
                url.query_pairs_mut()
                    .append_pair("artifact_file_path", &file.path);
                url
            }
        };
        let response = self
            .api
            .http()
            .get(url)
            .send()
            .await
            .with_context(|| format!("downloading {}", file.path))?;
        let mut response = Api::check(response)
            .await
            .with_context(|| format!("downloading {}", file.path))?;
        let local = scratch.join(&blake3::hash(file.path.as_bytes()).to_hex()[..32]);
        let mut out = tokio::fs::File::create(&local)
            .await
            .with_context(|| format!("creating {}", local.display()))?;
        use tokio::io::AsyncWriteExt;
        while let Some(chunk) = response.chunk().await? {
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        Ok(local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_from_search_answers() {
        let run = parse_run(&json!({
            "info": {"run_id": "abc", "run_name": "r", "user_id": "u", "status": "KILLED",
                     "start_time": "17", "end_time": 18, "lifecycle_stage": "deleted"},
            "data": {"metrics": [{"key": "b", "value": 1, "timestamp": 1, "step": 0},
                                 {"key": "a", "value": "NaN", "timestamp": 1, "step": 0}],
                     "params": [{"key": "lr", "value": "0.1"}],
                     "tags": [{"key": "t", "value": "v"}]},
            "inputs": {"dataset_inputs": [{"tags": [{"key": "mlflow.data.context", "value": "train"}],
                        "dataset": {"name": "d", "digest": "1", "source_type": "local", "source": "{}"}}],
                       "model_inputs": [{"model_id": "m-1"}]}
        }))
        .unwrap();
        assert_eq!(run.run_id, "abc");
        assert_eq!(run.status, "KILLED");
        assert_eq!((run.start_time, run.end_time), (Some(17), Some(18)));
        assert!(run.deleted);
        assert_eq!(run.metric_keys, vec!["a", "b"]);
        assert_eq!(run.params, vec![("lr".to_string(), "0.1".to_string())]);
        assert_eq!(run.datasets[0].tags[0].1, "train");
        assert_eq!(run.datasets[0].schema, None);
        assert_eq!(run.model_inputs, vec!["m-1"]);
        assert!(run.fingerprint.starts_with("rest:"));
        assert!(double(&json!("NaN")).unwrap().is_nan());
        assert_eq!(double(&json!("-Infinity")), Some(f64::NEG_INFINITY));
        assert_eq!(double(&json!(2.5)), Some(2.5));
    }
}
