//! `cairn import`: history from other trackers into a running Cairn server, over its HTTP API.
//!
//! - [`tensorboard`]: TensorBoard event files (scalars).
//! - [`mlflow`]: an MLflow tracking server (REST) or file store (`mlruns/`): experiments, runs
//!   with their ids, params, tags, metric histories, datasets, logged models and artifacts.
//!
//! Every importer is idempotent, so an interrupted import is finished by running it again.
//! Points travel in the server's binary ingest layout ([`binary_body`], [`post_points`]), each
//! request with an `Idempotency-Key`.

use std::collections::BTreeMap;

use anyhow::Context;

use crate::artifacts::client::Api;

pub mod mlflow;
pub mod tensorboard;

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
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.command {
            ImportCommand::Tensorboard(args) => tensorboard::import(args).await,
            ImportCommand::Mlflow(args) => mlflow::import(args).await,
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
