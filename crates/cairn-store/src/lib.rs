//! Storage for Cairn's tracking data, behind two traits so that every backend (embedded SQLite now,
//! PostgreSQL later) is interchangeable and tested by one conformance suite.
//!
//! Module map:
//! - this file: the [`MetaStore`] and [`MetricStore`] traits and the request types they take.
//! - [`error`]: [`StoreError`] and its [`ErrorKind`].
//! - [`sqlite`]: the embedded backend (WAL, one group-committing writer thread, a reader pool).
//! - [`conformance`]: the behaviour every backend must show, as a macro that expands to tests.
//!
//! **Architecture Invariant:** storage knows nothing of HTTP or JSON. It speaks `cairn-core` types;
//! page tokens are opaque strings that only the backend that issued them understands.
//!
//! **Architecture Invariant:** an `Ok` from a write means the write is committed (durable).

use async_trait::async_trait;
use cairn_core::filter::ast::{
    ExperimentFilter, ExperimentOrderBy, LoggedModelFilter, LoggedModelOrderBy, RunFilter,
    RunOrderBy,
};
use cairn_core::model::{
    DatasetInput, Experiment, LifecycleStage, LoggedModel, LoggedModelStatus, Metric, ModelInput,
    ModelOutput, NewExperiment, NewLoggedModel, NewRun, Page, Param, Run, RunInfo, RunUpdate, Tag,
    ViewType,
};

pub mod conformance;
pub mod error;
pub mod sqlite;

pub use error::{ErrorKind, StoreError};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where a new experiment's artifacts live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactLocation {
    /// Exactly this location, as the caller gave it.
    Explicit(String),
    /// `<root>/<experiment_id>`, the id being assigned by the store.
    UnderRoot(String),
}

/// `experiments/search`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExperimentSearch {
    pub filter: ExperimentFilter,
    /// Empty means `creation_time DESC, experiment_id ASC`.
    pub order_by: Vec<ExperimentOrderBy>,
    pub view: ViewType,
    pub max_results: usize,
    pub page_token: Option<String>,
}

/// `runs/search`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunSearch {
    pub experiment_ids: Vec<String>,
    pub filter: RunFilter,
    /// Ties always end with `start_time DESC, run_id ASC`.
    pub order_by: Vec<RunOrderBy>,
    pub view: ViewType,
    pub max_results: usize,
    pub page_token: Option<String>,
}

/// `logged-models/search`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoggedModelSearch {
    pub experiment_ids: Vec<String>,
    pub filter: LoggedModelFilter,
    pub order_by: Vec<LoggedModelOrderBy>,
    pub max_results: usize,
    pub page_token: Option<String>,
}

/// One page of a metric's full history, ordered by (step, timestamp, value).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryRequest {
    pub run_id: String,
    pub key: String,
    pub max_results: usize,
    pub page_token: Option<String>,
}

/// Points of one metric for many runs at evenly spaced steps (MLflow's `get-history-bulk-interval`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampledHistoryRequest {
    pub run_ids: Vec<String>,
    pub key: String,
    pub start_step: Option<i64>,
    pub end_step: Option<i64>,
    /// Steps per run; the first and last step in range are always included.
    pub max_results: usize,
}

/// A run's points for one key, as returned by [`MetricStore::sampled_history`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunSeries {
    pub run_id: String,
    pub points: Vec<Metric>,
}

/// Experiments, runs and their metadata, logged models.
///
/// Rules a backend enforces inside its transactions (so they hold under concurrency):
/// writes to a deleted run fail with `InvalidArgument`; re-logging a param with a different value
/// fails, the same value is a no-op; a batch is all-or-nothing; experiment names are unique.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Creates an experiment and returns its id (decimal string).
    async fn create_experiment(
        &self,
        experiment: NewExperiment,
        location: ArtifactLocation,
    ) -> Result<String>;
    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment>;
    /// Looks an experiment up by exact name, whatever its lifecycle stage.
    async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>>;
    async fn search_experiments(&self, search: ExperimentSearch) -> Result<Page<Experiment>>;
    async fn rename_experiment(&self, experiment_id: &str, new_name: &str, now: i64) -> Result<()>;
    /// Deletes or restores an experiment together with its runs.
    async fn set_experiment_lifecycle(
        &self,
        experiment_id: &str,
        stage: LifecycleStage,
        now: i64,
    ) -> Result<()>;
    async fn set_experiment_tag(&self, experiment_id: &str, tag: Tag) -> Result<()>;
    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()>;

    async fn create_run(&self, run: NewRun) -> Result<Run>;
    async fn get_run(&self, run_id: &str) -> Result<Run>;
    async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo>;
    async fn set_run_lifecycle(&self, run_id: &str, stage: LifecycleStage, now: i64) -> Result<()>;
    /// Atomically logs metrics (history + latest summary), params and tags. Values are already
    /// validated and truncated by the caller. Setting the `mlflow.runName` tag renames the run.
    async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<Param>,
        tags: Vec<Tag>,
    ) -> Result<()>;
    async fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()>;
    /// Records datasets (deduplicated per experiment by name + digest) and model inputs.
    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()>;
    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()>;
    async fn search_runs(&self, search: RunSearch) -> Result<Page<Run>>;

    async fn create_logged_model(&self, model: NewLoggedModel) -> Result<LoggedModel>;
    async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel>;
    async fn set_logged_model_status(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
        status_message: Option<String>,
        now: i64,
    ) -> Result<LoggedModel>;
    async fn delete_logged_model(&self, model_id: &str, now: i64) -> Result<()>;
    async fn set_logged_model_tags(
        &self,
        model_id: &str,
        tags: Vec<Tag>,
        now: i64,
    ) -> Result<LoggedModel>;
    async fn delete_logged_model_tag(&self, model_id: &str, key: &str, now: i64) -> Result<()>;
    async fn log_logged_model_params(
        &self,
        model_id: &str,
        params: Vec<Param>,
        now: i64,
    ) -> Result<()>;
    async fn search_logged_models(&self, search: LoggedModelSearch) -> Result<Page<LoggedModel>>;
}

/// Metric series reads. Writes go through [`MetaStore::log_batch`] so that a batch commits as a
/// whole; the metric engine will grow this trait (chunks, downsampling).
#[async_trait]
pub trait MetricStore: Send + Sync + 'static {
    /// A page of the full history of `key` in a run, ordered by (step, timestamp, value).
    async fn history(&self, request: HistoryRequest) -> Result<Page<Metric>>;
    /// Points at up to `max_results` evenly spaced steps per run, always the first and last.
    async fn sampled_history(&self, request: SampledHistoryRequest) -> Result<Vec<RunSeries>>;
}

/// Everything a server needs from storage.
pub trait Store: MetaStore + MetricStore {}

impl<T: MetaStore + MetricStore> Store for T {}
