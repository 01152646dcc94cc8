//! `cairn import mlflow SOURCE`: an MLflow tracking server or file store into Cairn.
//!
//! SOURCE is read through [`Source`]: [`rest`] pages through a running MLflow server's REST
//! API, [`files`] reads an `mlruns` folder as MLflow's file store writes it. Both give the same
//! records ([`Experiment`], [`Run`], [`Model`], [`Point`], [`SourceFile`]); this module writes
//! them into Cairn:
//!
//! - experiments by name (created when missing, tags set; a deleted one is deleted after its
//!   runs are in);
//! - logged models first (keeping their ids, `PUT /api/v1/logged-models/{id}`), with params,
//!   tags, artifacts and their final status;
//! - then runs, keeping their ids (`PUT /api/v1/runs/{id}`): params and tags (`runs/log-batch`),
//!   every metric's full history (binary ingest, each request's `Idempotency-Key` the hash of
//!   its body), dataset and model inputs (`runs/log-inputs`), artifacts (the resumable upload
//!   of `cairn artifacts upload`, which sends no bytes the server already holds), then status
//!   and end time, and deletion where the source run is deleted.
//!
//! A run's last write is the tag `cairn.import.fingerprint`: a hash of everything the source
//! said about the run (for a file store, its files' sizes and times). A run whose fingerprint
//! matches is skipped without reading its histories, so a second import of unchanged data
//! reads only listings and writes nothing; every other write is idempotent (params are
//! write-once with the same value, tags overwrite, exact duplicate points are stored once, an
//! artifact already there with the same size is not sent), so an import cut off anywhere is
//! finished by running it again.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::artifacts::client::{Api, is_not_found};
use crate::artifacts::progress;

use super::{
    Columns, binary_body, get_run, key_values, log_batch, mlflow_post, post_points,
    present_artifacts, put_run, run_tag, upload_artifact,
};

pub mod files;
pub mod rest;

/// The tag holding a run's source fingerprint, written last.
pub const FINGERPRINT_TAG: &str = "cairn.import.fingerprint";

#[derive(Debug, clap::Args)]
pub struct MlflowArgs {
    /// An MLflow tracking server (http://HOST:PORT; MLFLOW_TRACKING_TOKEN, or
    /// MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, authenticate) or a file store
    /// folder (`mlruns`, or a `file:` URI of one).
    source: String,
    /// The Cairn server.
    #[arg(long, env = "CAIRN_URL", default_value = "http://127.0.0.1:5000")]
    server: String,
    /// Import only this experiment (by name; repeatable).
    #[arg(long = "experiment", value_name = "NAME")]
    experiments: Vec<String>,
    /// Leave artifacts (of runs and logged models) out.
    #[arg(long)]
    no_artifacts: bool,
    /// Points gathered before an ingest request is sent.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
    /// Print each experiment, run and model as it is imported (on stderr).
    #[arg(long, short)]
    verbose: bool,
}

/// An experiment at the source.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub id: String,
    pub name: String,
    pub deleted: bool,
    pub tags: Vec<(String, String)>,
}

/// A dataset input of a run at the source.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInput {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    pub schema: Option<String>,
    pub profile: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// A run at the source, without its metric histories and artifacts.
#[derive(Debug, Clone)]
pub struct Run {
    pub run_id: String,
    pub run_name: String,
    pub user_id: String,
    /// MLflow's status name (`FINISHED`, `RUNNING`, …).
    pub status: String,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub deleted: bool,
    pub params: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub metric_keys: Vec<String>,
    pub datasets: Vec<DatasetInput>,
    pub model_inputs: Vec<String>,
    /// Changes whenever anything the source holds about the run changes.
    pub fingerprint: String,
    /// Where the source keeps the run's files (the file store's run folder).
    pub location: Option<PathBuf>,
}

/// An MLflow 3 logged model at the source.
#[derive(Debug, Clone)]
pub struct Model {
    pub model_id: String,
    pub name: String,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    /// `LOGGED_MODEL_PENDING`, `LOGGED_MODEL_READY` or `LOGGED_MODEL_UPLOAD_FAILED`.
    pub status: Option<String>,
    pub creation_timestamp: Option<i64>,
    pub deleted: bool,
    pub params: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    /// Where the source keeps the model's artifacts (a file store folder).
    pub location: Option<PathBuf>,
}

/// One metric point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub step: i64,
    pub timestamp: i64,
    pub value: f64,
}

/// A file among a run's or model's artifacts, its path relative to their root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub size: u64,
}

/// Whose artifacts.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    Run(&'a Run),
    Model(&'a Model),
}

/// Where an MLflow import reads from.
pub enum Source {
    Files(files::FileStore),
    Rest(rest::RestStore),
}

impl Source {
    pub fn open(text: &str) -> anyhow::Result<Source> {
        if text.starts_with("http://") || text.starts_with("https://") {
            return Ok(Source::Rest(rest::RestStore::new(text)?));
        }
        let path = text.strip_prefix("file://").unwrap_or(text);
        Ok(Source::Files(files::FileStore::open(Path::new(path))?))
    }

    async fn experiments(&self) -> anyhow::Result<Vec<Experiment>> {
        match self {
            Source::Files(store) => store.experiments(),
            Source::Rest(store) => store.experiments().await,
        }
    }

    async fn runs(&self, experiment: &Experiment) -> anyhow::Result<Vec<Run>> {
        match self {
            Source::Files(store) => store.runs(experiment),
            Source::Rest(store) => store.runs(experiment).await,
        }
    }

    async fn models(&self, experiment: &Experiment) -> anyhow::Result<Vec<Model>> {
        match self {
            Source::Files(store) => store.models(experiment),
            Source::Rest(store) => store.models(experiment).await,
        }
    }

    async fn history(&self, run: &Run, key: &str) -> anyhow::Result<Vec<Point>> {
        match self {
            Source::Files(store) => store.history(run, key),
            Source::Rest(store) => store.history(run, key).await,
        }
    }

    /// The owner's artifact files; `None` when the source cannot reach them (a file store
    /// whose artifacts live elsewhere).
    async fn artifacts(&self, owner: Owner<'_>) -> anyhow::Result<Option<Vec<SourceFile>>> {
        match self {
            Source::Files(store) => store.artifacts(owner),
            Source::Rest(store) => store.artifacts(owner).await.map(Some),
        }
    }

    /// A local copy of one artifact file: the file itself in a file store, a download into
    /// `scratch` from a server.
    async fn fetch(
        &self,
        owner: Owner<'_>,
        file: &SourceFile,
        scratch: &Path,
    ) -> anyhow::Result<PathBuf> {
        match self {
            Source::Files(store) => store.local(owner, file),
            Source::Rest(store) => store.download(owner, file, scratch).await,
        }
    }
}

/// What an import did, printed at the end.
#[derive(Debug, Default)]
struct Tally {
    experiments_created: usize,
    experiments_existing: usize,
    runs_imported: usize,
    runs_unchanged: usize,
    params: usize,
    tags: usize,
    points: u64,
    datasets: usize,
    models_created: usize,
    models_existing: usize,
    artifacts_sent: usize,
    artifact_bytes: u64,
    artifacts_present: usize,
    unreachable_artifacts: Vec<String>,
    failures: Vec<String>,
}

pub async fn import(args: MlflowArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let source = Source::open(&args.source)?;
    let api = Api::new(&args.server, args.verbose)?;
    let mut experiments = source.experiments().await?;
    if !args.experiments.is_empty() {
        let missing: Vec<&String> = args
            .experiments
            .iter()
            .filter(|name| !experiments.iter().any(|e| &e.name == *name))
            .collect();
        if !missing.is_empty() {
            bail!("no experiment named {missing:?} at {}", args.source);
        }
        experiments.retain(|e| args.experiments.contains(&e.name));
    }
    let scratch = super::tempdir()?;
    let mut tally = Tally::default();
    let mut importer = Importer {
        source: &source,
        api: &api,
        args: &args,
        scratch: &scratch.0,
        tally: &mut tally,
    };
    for experiment in &experiments {
        importer
            .experiment(experiment)
            .await
            .with_context(|| format!("importing experiment '{}'", experiment.name))?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "imported {} experiments ({} new, {} already there), {} runs ({} imported, {} unchanged and skipped), {} logged models ({} new) in {:.1} s",
        tally.experiments_created + tally.experiments_existing,
        tally.experiments_created,
        tally.experiments_existing,
        tally.runs_imported + tally.runs_unchanged,
        tally.runs_imported,
        tally.runs_unchanged,
        tally.models_created + tally.models_existing,
        tally.models_created,
        elapsed,
    );
    println!(
        "written: {} params, {} tags, {} metric points, {} dataset inputs, {} artifact files ({} bytes; {} already there)",
        tally.params,
        tally.tags,
        tally.points,
        tally.datasets,
        tally.artifacts_sent,
        tally.artifact_bytes,
        tally.artifacts_present,
    );
    for owner in &tally.unreachable_artifacts {
        println!("artifacts not imported (not in the file store): {owner}");
    }
    if !tally.failures.is_empty() {
        for failure in &tally.failures {
            eprintln!("failed: {failure}");
        }
        bail!(
            "{} runs or models were not imported (see above); run the import again after \
             fixing the cause",
            tally.failures.len()
        );
    }
    Ok(())
}

struct Importer<'a> {
    source: &'a Source,
    api: &'a Api,
    args: &'a MlflowArgs,
    scratch: &'a Path,
    tally: &'a mut Tally,
}

impl Importer<'_> {
    fn note(&self, line: &str) {
        if self.args.verbose {
            eprintln!("{line}");
        }
    }

    async fn post(&self, route: &str, body: &Value) -> anyhow::Result<Value> {
        mlflow_post(self.api, route, body).await
    }

    async fn experiment(&mut self, experiment: &Experiment) -> anyhow::Result<()> {
        let id = self.ensure_experiment(experiment).await?;
        self.note(&format!(
            "experiment '{}' ({} here, {} at the source)",
            experiment.name, id, experiment.id
        ));
        let models = self.source.models(experiment).await?;
        for model in &models {
            if let Err(error) = self.model(&id, model).await {
                self.tally
                    .failures
                    .push(format!("logged model {}: {error:#}", model.model_id));
            }
        }
        let runs = self.source.runs(experiment).await?;
        let bar = progress::count(runs.len() as u64, &experiment.name);
        for run in &runs {
            if let Err(error) = self.run(&id, run, &bar).await {
                let line = format!("run {}: {error:#}", run.run_id);
                progress::note(&bar, &format!("failed: {line}"));
                self.tally.failures.push(line);
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        if experiment.deleted {
            let current = self.get_experiment(&experiment.name).await?;
            if current.is_some_and(|(_, deleted)| !deleted) {
                self.post("experiments/delete", &json!({"experiment_id": id}))
                    .await?;
            }
        }
        Ok(())
    }

    /// The Cairn experiment of this name: (id, deleted), or `None`.
    async fn get_experiment(&self, name: &str) -> anyhow::Result<Option<(String, bool)>> {
        let mut url = self
            .api
            .url(&["api", "2.0", "mlflow", "experiments", "get-by-name"]);
        url.query_pairs_mut().append_pair("experiment_name", name);
        let response = self.api.http().get(url).send().await?;
        match Api::json::<Value>(response).await {
            Ok(found) => {
                let experiment = &found["experiment"];
                let id = experiment["experiment_id"]
                    .as_str()
                    .context("get-by-name answered without an id")?;
                let deleted = experiment["lifecycle_stage"].as_str() == Some("deleted");
                Ok(Some((id.to_string(), deleted)))
            }
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Finds or creates the experiment (restoring it if it is deleted here: its runs must be
    /// written) and sets its tags.
    async fn ensure_experiment(&mut self, experiment: &Experiment) -> anyhow::Result<String> {
        let id = match self.get_experiment(&experiment.name).await? {
            Some((id, deleted)) => {
                if deleted {
                    self.post("experiments/restore", &json!({"experiment_id": id}))
                        .await?;
                }
                self.tally.experiments_existing += 1;
                id
            }
            None => {
                let created = self
                    .post("experiments/create", &json!({"name": experiment.name}))
                    .await?;
                self.tally.experiments_created += 1;
                created["experiment_id"]
                    .as_str()
                    .context("experiments/create answered without an id")?
                    .to_string()
            }
        };
        for (key, value) in &experiment.tags {
            self.post(
                "experiments/set-experiment-tag",
                &json!({"experiment_id": id, "key": key, "value": value}),
            )
            .await?;
        }
        Ok(id)
    }

    async fn model(&mut self, experiment_id: &str, model: &Model) -> anyhow::Result<()> {
        let mut body = json!({
            "experiment_id": experiment_id,
            "name": model.name,
            "tags": key_values(&model.tags),
            "params": key_values(&model.params),
        });
        if let Some(kind) = &model.model_type {
            body["model_type"] = json!(kind);
        }
        if let Some(run) = &model.source_run_id {
            body["source_run_id"] = json!(run);
        }
        if let Some(created) = model.creation_timestamp {
            body["creation_timestamp"] = json!(created);
        }
        let response = self
            .api
            .http()
            .put(
                self.api
                    .url(&["api", "v1", "logged-models", &model.model_id]),
            )
            .json(&body)
            .send()
            .await?;
        let answer: Value = Api::json(response).await?;
        let stored = &answer["model"]["info"];
        if answer["created"].as_bool() == Some(true) {
            self.tally.models_created += 1;
        } else {
            self.tally.models_existing += 1;
            if stored["lifecycle_stage"].as_str() == Some("deleted") {
                return Ok(());
            }
            // Tags may have changed since; params are write-once.
            let response = self
                .api
                .http()
                .patch(self.api.url(&[
                    "api",
                    "2.0",
                    "mlflow",
                    "logged-models",
                    &model.model_id,
                    "tags",
                ]))
                .json(&json!({"tags": key_values(&model.tags)}))
                .send()
                .await?;
            Api::check(response).await?;
        }
        self.note(&format!("logged model {} ({})", model.model_id, model.name));
        if !self.args.no_artifacts {
            let root = stored["artifact_uri"]
                .as_str()
                .and_then(|uri| uri.strip_prefix("mlflow-artifacts:/"))
                .map(|root| root.trim_start_matches('/').to_string())
                .context("the logged model has no mlflow-artifacts: location")?;
            self.model_artifacts(model, &root).await?;
        }
        if let Some(status) = &model.status
            && stored["status"].as_str() != Some(status.as_str())
        {
            let response = self
                .api
                .http()
                .patch(
                    self.api
                        .url(&["api", "2.0", "mlflow", "logged-models", &model.model_id]),
                )
                .json(&json!({"model_id": model.model_id, "status": status}))
                .send()
                .await?;
            Api::check(response).await?;
        }
        if model.deleted {
            let response = self
                .api
                .http()
                .delete(
                    self.api
                        .url(&["api", "2.0", "mlflow", "logged-models", &model.model_id]),
                )
                .send()
                .await?;
            Api::check(response).await?;
        }
        Ok(())
    }

    /// Uploads the model's artifacts through the artifact proxy (`root` is the model's
    /// location below `mlflow-artifacts:/`), skipping files already there with the same size.
    async fn model_artifacts(&mut self, model: &Model, root: &str) -> anyhow::Result<()> {
        let owner = Owner::Model(model);
        let Some(files) = self.source.artifacts(owner).await? else {
            self.tally
                .unreachable_artifacts
                .push(format!("logged model {}", model.model_id));
            return Ok(());
        };
        if files.is_empty() {
            return Ok(());
        }
        let present = self.proxy_listing(root).await?;
        for file in &files {
            if present.get(&file.path) == Some(&file.size) {
                self.tally.artifacts_present += 1;
                continue;
            }
            let local = self.source.fetch(owner, file, self.scratch).await?;
            let handle = tokio::fs::File::open(&local)
                .await
                .with_context(|| format!("opening {}", local.display()))?;
            let stream = tokio_util::io::ReaderStream::new(handle);
            let response = self
                .api
                .http()
                .put(self.api.url(&[
                    "api",
                    "2.0",
                    "mlflow-artifacts",
                    "artifacts",
                    root,
                    &file.path,
                ]))
                .header(reqwest::header::CONTENT_LENGTH, file.size)
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await?;
            Api::check(response)
                .await
                .with_context(|| format!("uploading {}", file.path))?;
            self.forget_download(&local);
            self.tally.artifacts_sent += 1;
            self.tally.artifact_bytes += file.size;
        }
        Ok(())
    }

    /// Every file below `root` in the artifact proxy, with its size.
    async fn proxy_listing(&self, root: &str) -> anyhow::Result<HashMap<String, u64>> {
        let mut found = HashMap::new();
        let mut folders = vec![String::new()];
        while let Some(folder) = folders.pop() {
            let mut url = self
                .api
                .url(&["api", "2.0", "mlflow-artifacts", "artifacts"]);
            let path = if folder.is_empty() {
                root.to_string()
            } else {
                format!("{root}/{folder}")
            };
            url.query_pairs_mut().append_pair("path", &path);
            let response = self.api.http().get(url).send().await?;
            let listing: Value = Api::json(response).await?;
            for entry in listing["files"].as_array().into_iter().flatten() {
                let Some(name) = entry["path"].as_str() else {
                    continue;
                };
                let name = name.rsplit('/').next().unwrap_or(name);
                let relative = if folder.is_empty() {
                    name.to_string()
                } else {
                    format!("{folder}/{name}")
                };
                if entry["is_dir"].as_bool() == Some(true) {
                    folders.push(relative);
                } else {
                    let size = entry["file_size"]
                        .as_u64()
                        .or_else(|| entry["file_size"].as_str().and_then(|s| s.parse().ok()))
                        .unwrap_or(u64::MAX);
                    found.insert(relative, size);
                }
            }
        }
        Ok(found)
    }

    /// Removes a download made for one upload (files of a file store stay).
    fn forget_download(&self, local: &Path) {
        if local.starts_with(self.scratch) {
            let _ = std::fs::remove_file(local);
        }
    }

    /// The fingerprint a run gets once imported: the source's, and whether its artifacts came
    /// too (an import with `--no-artifacts` does not make a later full import skip the run).
    fn fingerprint(&self, run: &Run) -> String {
        if self.args.no_artifacts {
            format!("{}:no-artifacts", run.fingerprint)
        } else {
            run.fingerprint.clone()
        }
    }

    async fn run(
        &mut self,
        experiment_id: &str,
        run: &Run,
        bar: &indicatif::ProgressBar,
    ) -> anyhow::Result<()> {
        if let Some(existing) = get_run(self.api, &run.run_id).await?
            && run_tag(&existing, FINGERPRINT_TAG) == Some(self.fingerprint(run).as_str())
        {
            self.tally.runs_unchanged += 1;
            return Ok(());
        }
        if self.args.verbose {
            progress::note(
                bar,
                &format!(
                    "run {} ({}): {} params, {} tags, {} metric keys",
                    run.run_id,
                    run.run_name,
                    run.params.len(),
                    run.tags.len(),
                    run.metric_keys.len()
                ),
            );
        }
        let mut body = json!({
            "experiment_id": experiment_id,
            "run_name": run.run_name,
            "user_id": run.user_id,
        });
        if let Some(start) = run.start_time {
            body["start_time"] = json!(start);
        }
        let (stored, _) = put_run(self.api, &run.run_id, &body).await?;
        if stored["info"]["lifecycle_stage"].as_str() == Some("deleted") {
            // Half imported before, deleted since: restored to be written, deleted again below
            // if the source run is deleted.
            self.post("runs/restore", &json!({"run_id": run.run_id}))
                .await?;
        }
        self.params_and_tags(run).await?;
        self.metrics(run).await?;
        self.inputs(run).await?;
        if !self.args.no_artifacts {
            self.run_artifacts(run).await?;
        }
        let mut update = json!({"run_id": run.run_id, "status": run.status});
        if let Some(end) = run.end_time {
            update["end_time"] = json!(end);
        }
        self.post("runs/update", &update).await?;
        self.post(
            "runs/set-tag",
            &json!({"run_id": run.run_id, "key": FINGERPRINT_TAG, "value": self.fingerprint(run)}),
        )
        .await?;
        if run.deleted {
            self.post("runs/delete", &json!({"run_id": run.run_id}))
                .await?;
        }
        self.tally.runs_imported += 1;
        Ok(())
    }

    async fn params_and_tags(&mut self, run: &Run) -> anyhow::Result<()> {
        let mut tags = run.tags.clone();
        tags.retain(|(key, _)| key != FINGERPRINT_TAG);
        tags.push(("cairn.import.source".to_string(), "mlflow".to_string()));
        log_batch(self.api, &run.run_id, &run.params, &tags).await?;
        self.tally.params += run.params.len();
        self.tally.tags += tags.len();
        Ok(())
    }

    /// Every key's full history, `--batch` points a request.
    async fn metrics(&mut self, run: &Run) -> anyhow::Result<()> {
        let mut pending: BTreeMap<String, Columns> = BTreeMap::new();
        let mut waiting: u64 = 0;
        for key in &run.metric_keys {
            let points = self
                .source
                .history(run, key)
                .await
                .with_context(|| format!("reading the history of '{key}'"))?;
            for chunk in points.chunks(self.args.batch as usize) {
                let column = pending.entry(key.clone()).or_default();
                for point in chunk {
                    column.0.push(point.step);
                    column.1.push(point.timestamp);
                    column.2.push(point.value);
                }
                waiting += chunk.len() as u64;
                if waiting >= self.args.batch {
                    self.send_points(run, &mut pending, &mut waiting).await?;
                }
            }
        }
        self.send_points(run, &mut pending, &mut waiting).await
    }

    async fn send_points(
        &mut self,
        run: &Run,
        pending: &mut BTreeMap<String, Columns>,
        waiting: &mut u64,
    ) -> anyhow::Result<()> {
        if *waiting == 0 {
            return Ok(());
        }
        let body = binary_body(&std::mem::take(pending));
        let key = format!(
            "mlflow:{}:{}",
            run.run_id,
            &blake3::hash(&body).to_hex()[..32]
        );
        post_points(self.api, &run.run_id, &key, body).await?;
        self.tally.points += *waiting;
        *waiting = 0;
        Ok(())
    }

    async fn inputs(&mut self, run: &Run) -> anyhow::Result<()> {
        if run.datasets.is_empty() && run.model_inputs.is_empty() {
            return Ok(());
        }
        let datasets: Vec<Value> = run
            .datasets
            .iter()
            .map(|d| {
                let mut dataset = json!({
                    "name": d.name,
                    "digest": d.digest,
                    "source_type": d.source_type,
                    "source": d.source,
                });
                if let Some(schema) = &d.schema {
                    dataset["schema"] = json!(schema);
                }
                if let Some(profile) = &d.profile {
                    dataset["profile"] = json!(profile);
                }
                json!({"tags": key_values(&d.tags), "dataset": dataset})
            })
            .collect();
        let models: Vec<Value> = run
            .model_inputs
            .iter()
            .map(|id| json!({"model_id": id}))
            .collect();
        self.post(
            "runs/log-inputs",
            &json!({"run_id": run.run_id, "datasets": datasets, "models": models}),
        )
        .await?;
        self.tally.datasets += run.datasets.len();
        Ok(())
    }

    async fn run_artifacts(&mut self, run: &Run) -> anyhow::Result<()> {
        let owner = Owner::Run(run);
        let Some(files) = self.source.artifacts(owner).await? else {
            self.tally
                .unreachable_artifacts
                .push(format!("run {}", run.run_id));
            return Ok(());
        };
        if files.is_empty() {
            return Ok(());
        }
        let present = present_artifacts(self.api, &run.run_id).await?;
        for file in &files {
            if present.get(&file.path) == Some(&file.size) {
                self.tally.artifacts_present += 1;
                continue;
            }
            let local = self.source.fetch(owner, file, self.scratch).await?;
            upload_artifact(self.api, &run.run_id, &file.path, &local).await?;
            self.forget_download(&local);
            self.tally.artifacts_sent += 1;
            self.tally.artifact_bytes += file.size;
        }
        Ok(())
    }
}
