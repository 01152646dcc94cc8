//! `cairn import`: history from other trackers into a running Cairn server, over its HTTP API.
//!
//! - [`tensorboard`]: TensorBoard event files (scalars).
//! - [`mlflow`]: an MLflow tracking server (REST) or file store (`mlruns/`): experiments, runs
//!   with their ids, params, tags, metric histories, datasets, logged models and artifacts.
//! - [`wandb`]: W&B offline run files: config, history, system stats, summary, run files.
//!
//! Every importer is idempotent, so an interrupted import is finished by running it again.
//! Points travel in the server's binary ingest layout ([`binary_body`], [`post_points`]), each
//! request with an `Idempotency-Key`.

use std::collections::BTreeMap;

use anyhow::Context;

use crate::artifacts::client::Api;

pub mod mlflow;
pub mod tensorboard;
pub mod wandb;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    command: ImportCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ImportCommand {
    /// Import TensorBoard event files: one run per folder of `*tfevents*` files, scalars as
    /// metrics.
    ///
    /// Running it again imports nothing twice (runs keep ids derived from their paths, and
    /// every request is idempotent), so an interrupted import is finished by running it again,
    /// and a log dir that has grown gets only its new points.
    Tensorboard(tensorboard::TensorboardArgs),
    /// Import an MLflow tracking server (http://HOST:PORT) or file store (an `mlruns` folder):
    /// experiments (matched by name), runs (keeping their ids), params, tags, full metric
    /// histories, dataset inputs, logged models (keeping their ids) and artifacts.
    ///
    /// Running it again imports nothing twice: a run already imported and unchanged at the
    /// source is skipped, everything else is written idempotently, so an interrupted import is
    /// finished by running it again.
    Mlflow(mlflow::MlflowArgs),
    /// Import W&B offline runs (`wandb/offline-run-*/run-*.wandb`): config as params, history
    /// and system stats as metrics, summary, run metadata and the runs' files.
    ///
    /// Runs keep their W&B ids, in an experiment named after their project (or
    /// `--experiment`). Running it again imports nothing twice.
    Wandb(wandb::WandbArgs),
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.command {
            ImportCommand::Tensorboard(args) => tensorboard::import(args).await,
            ImportCommand::Mlflow(args) => mlflow::import(args).await,
            ImportCommand::Wandb(args) => wandb::import(args).await,
        }
    })
}

/// One key's points as the ingest body's columns: steps, timestamps (ms), values.
pub type Columns = (Vec<i64>, Vec<i64>, Vec<f64>);

/// The binary ingest body (`application/vnd.cairn.metrics`, documented with the server's
/// `v1::ingest`): magic, series count, then per key its name, point count, a flags byte (0:
/// one timestamp per point) and the steps, timestamps and values columns, little-endian.
pub fn binary_body(columns: &BTreeMap<String, Columns>) -> Vec<u8> {
    let points: usize = columns.values().map(|c| c.0.len()).sum();
    let mut out = Vec::with_capacity(12 + columns.len() * 16 + points * 24);
    out.extend_from_slice(b"CAIRNIN1");
    out.extend_from_slice(&(columns.len() as u32).to_le_bytes());
    for (key, (steps, timestamps, values)) in columns {
        out.extend_from_slice(&(key.len() as u16).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&(steps.len() as u32).to_le_bytes());
        out.push(0);
        steps
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        timestamps
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        values
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    }
    out
}

/// Sends one binary ingest body to the run (all of its points are stored, or none).
pub async fn post_points(
    api: &Api,
    run_id: &str,
    idempotency_key: &str,
    body: Vec<u8>,
) -> anyhow::Result<()> {
    let response = api
        .http()
        .post(api.url(&["api", "v1", "runs", run_id, "metrics"]))
        .header("Idempotency-Key", idempotency_key)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/vnd.cairn.metrics",
        )
        .body(body)
        .send()
        .await
        .context("sending points")?;
    Api::check(response).await?;
    Ok(())
}

/// `POST /api/2.0/mlflow/{route}` with a JSON body; the JSON answer.
pub async fn mlflow_post(
    api: &Api,
    route: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let response = api
        .http()
        .post(api.url(&["api", "2.0", "mlflow", route]))
        .json(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.server()))?;
    Api::json(response)
        .await
        .with_context(|| format!("{route} failed"))
}

/// `[{"key", "value"}]` of pairs.
pub fn key_values(items: &[(String, String)]) -> Vec<serde_json::Value> {
    items
        .iter()
        .map(|(key, value)| serde_json::json!({"key": key, "value": value}))
        .collect()
}

/// Logs params and tags through `runs/log-batch`, as many requests as its limits need.
pub async fn log_batch(
    api: &Api,
    run_id: &str,
    params: &[(String, String)],
    tags: &[(String, String)],
) -> anyhow::Result<()> {
    let per_request = cairn_core::validation::MAX_PARAMS_TAGS_PER_BATCH;
    for chunk in params.chunks(per_request) {
        let body = serde_json::json!({"run_id": run_id, "params": key_values(chunk)});
        mlflow_post(api, "runs/log-batch", &body).await?;
    }
    for chunk in tags.chunks(per_request) {
        let body = serde_json::json!({"run_id": run_id, "tags": key_values(chunk)});
        mlflow_post(api, "runs/log-batch", &body).await?;
    }
    Ok(())
}

/// `PUT /api/v1/runs/{id}`: creates the run unless it exists (then nothing changes). The run as
/// stored, and whether this call created it.
pub async fn put_run(
    api: &Api,
    run_id: &str,
    body: &serde_json::Value,
) -> anyhow::Result<(serde_json::Value, bool)> {
    let response = api
        .http()
        .put(api.url(&["api", "v1", "runs", run_id]))
        .json(body)
        .send()
        .await
        .context("creating the run")?;
    let mut answer: serde_json::Value = Api::json(response).await?;
    let created = answer["created"].as_bool() == Some(true);
    Ok((answer["run"].take(), created))
}

/// The run as Cairn has it (`GET /api/v1/runs/{id}`), or `None`.
pub async fn get_run(api: &Api, run_id: &str) -> anyhow::Result<Option<serde_json::Value>> {
    let response = api
        .http()
        .get(api.url(&["api", "v1", "runs", run_id]))
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.server()))?;
    match Api::json::<serde_json::Value>(response).await {
        Ok(mut found) => Ok(Some(found["run"].take())),
        Err(error) if crate::artifacts::client::is_not_found(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

/// A tag's value on a run as [`get_run`] returns it.
pub fn run_tag<'a>(run: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    run["data"]["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"].as_str() == Some(key))?["value"]
        .as_str()
}

/// The run's artifact files Cairn has, path → size.
pub async fn present_artifacts(
    api: &Api,
    run_id: &str,
) -> anyhow::Result<std::collections::HashMap<String, u64>> {
    Ok(api
        .walk(run_id, "")
        .await?
        .into_iter()
        .map(|f| (f.path, f.size))
        .collect())
}

/// Uploads a local file to `path` among the run's artifacts (resumable; no bytes are sent that
/// the server already holds).
pub async fn upload_artifact(
    api: &Api,
    run_id: &str,
    path: &str,
    local: &std::path::Path,
) -> anyhow::Result<()> {
    let dest = cairn_blob::ArtifactPath::parse(path)
        .map_err(|e| anyhow::anyhow!("artifact path '{path}': {e}"))?;
    let options = crate::artifacts::upload::Options {
        dest: None,
        parallel: 4,
        part_size: None,
        direct: false,
        quiet: true,
    };
    crate::artifacts::upload::upload_file(api, run_id, local, &dest, &options)
        .await
        .with_context(|| format!("uploading {path}"))?;
    Ok(())
}

/// A scratch folder removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn tempdir() -> anyhow::Result<TempDir> {
    let path = std::env::temp_dir().join(format!(
        "cairn-import-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&path)
        .with_context(|| format!("cannot create a scratch folder {}", path.display()))?;
    Ok(TempDir(path))
}

/// Every file below `dir` as (path relative to it with `/` separators, full path), sorted; none
/// when `dir` is not a folder.
pub fn walk_files(dir: &std::path::Path) -> anyhow::Result<Vec<(String, std::path::PathBuf)>> {
    let mut found = Vec::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    let mut stack = vec![(String::new(), dir.to_path_buf())];
    while let Some((prefix, folder)) = stack.pop() {
        for entry in
            std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push((relative, entry.path()));
            } else if kind.is_file() {
                found.push((relative, entry.path()));
            }
        }
    }
    found.sort();
    Ok(found)
}
