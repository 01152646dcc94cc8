//! Storage for Cairn's tracking data, behind traits so that every backend (embedded SQLite,
//! PostgreSQL) is interchangeable and tested by one conformance suite.
//!
//! Module map:
//! - this file: the [`MetaStore`] and [`MetricStore`] traits and the request types they take.
//! - [`artifacts`]: the [`ArtifactStore`] trait (manifests, blob rows, leases, uploads in parts).
//! - [`registry`]: the [`RegistryStore`] trait (registered models, versions, tags, aliases).
//! - [`auth`]: the [`AuthStore`] trait (users, API tokens, browser sessions, the audit log).
//! - [`alerts`]: the [`AlertStore`] trait (alert rules, firings, deliveries).
//! - [`comments`]: the [`CommentStore`] trait (comments on runs and experiments).
//! - [`lineage`]: the [`LineageStore`] trait (the lineage graph's edges, derived and recorded).
//! - [`relay`]: cross-replica fan-out of live events ([`Relay`]).
//! - [`postgres`]: the PostgreSQL backend, for several servers sharing one database.
//! - [`migrate`]: copying an embedded database into an empty PostgreSQL one, verified.
//! - [`error`]: [`StoreError`] and its [`ErrorKind`].
//! - [`sqlite`]: the embedded backend (WAL, one group-committing writer thread, a reader pool).
//! - `sqlbuild`: the filter → SQL builders both backends share, written against a `Dialect`
//!   that each backend's bound-parameter list implements.
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
use cairn_core::series::buckets::{Bucket, Grid};
use cairn_core::series::{Point, Summary};

pub mod access;
pub mod alerts;
pub mod artifacts;
pub mod auth;
pub mod comments;
pub mod conformance;
pub mod error;
pub mod lineage;
pub mod migrate;
pub mod postgres;
pub mod registry;
pub mod relay;
mod sqlbuild;
pub mod sqlite;

pub use access::AccessStore;
pub use alerts::AlertStore;
pub use artifacts::{
    ArtifactStore, BlobInfo, Garbage, Lease, Listed, ManifestEntry, Upload, UploadPart,
};
pub use auth::{AuthStore, NewToken, NewUser};
pub use comments::CommentStore;
pub use error::{ErrorKind, StoreError};
pub use lineage::LineageStore;
pub use registry::{ModelVersionSearch, RegisteredModelSearch, RegistryStore};
pub use relay::{Relay, RelayEvent, Relayed};

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
    /// Only experiments this caller may read (`cairn_core::access::permission`); `None`: all.
    pub readable_by: Option<cairn_core::access::Viewer>,
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
    /// Rows to skip when there is no page token (a table's window).
    pub offset: usize,
}

/// The keys an experiment's runs use, each list sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExperimentKeys {
    pub params: Vec<String>,
    pub tags: Vec<String>,
    pub metrics: Vec<String>,
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

/// What a store reports for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Active runs whose status is `RUNNING`.
    pub running_runs: u64,
    /// Blobs the artifact catalogue holds (live), and their bytes.
    pub blobs: u64,
    pub blob_bytes: u64,
    /// Writes waiting for the writer.
    pub write_queue: u64,
    /// Read connections in use, of how many.
    pub readers_busy: u64,
    pub readers: u64,
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
    /// Figures for monitoring (`GET /metrics`): runs in progress, stored blobs, queue and pool
    /// use. Cheap enough to answer every scrape.
    async fn stats(&self) -> Result<StoreStats>;
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
    /// Many runs in the order asked (an id asked twice comes twice), loaded set-wise; the first
    /// unknown id is `NotFound`, as for `get_run`.
    async fn get_runs(&self, run_ids: &[String]) -> Result<Vec<Run>>;
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
    /// How many runs a search matches (its order, page token and offset are ignored).
    async fn count_runs(&self, search: RunSearch) -> Result<usize>;
    /// The param, tag and metric keys of an experiment's runs (deleted runs included), sorted,
    /// at most `limit` of each kind.
    async fn experiment_keys(&self, experiment_id: &str, limit: usize) -> Result<ExperimentKeys>;
    /// The number of active runs of each given experiment (experiments without any are absent).
    async fn active_run_counts(&self, experiment_ids: &[String]) -> Result<Vec<(String, u64)>>;

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

/// Points of one metric key, as sent by the native ingest API.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesPoints {
    pub key: String,
    pub points: Vec<Point>,
}

/// A downsampled view of one metric for one or more runs, on one shared grid.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRequest {
    pub run_ids: Vec<String>,
    pub key: String,
    pub x: XAxis,
    /// At most this many buckets over the range (at least 1).
    pub buckets: usize,
    /// Inclusive bounds on the x axis; missing bounds come from the data of every listed run.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// The x axis of a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XAxis {
    #[default]
    Step,
    /// Wall time (ms since the epoch).
    Time,
    /// Milliseconds since the run's start time.
    Relative,
}

/// The answer to a [`SeriesRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesView {
    /// `None` when no listed run has a point of the key (and no range was given).
    pub grid: Option<Grid>,
    /// One entry per requested run, in request order; unknown runs get `found: false`.
    pub runs: Vec<RunBuckets>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunBuckets {
    pub run_id: String,
    pub found: bool,
    pub buckets: Vec<Bucket>,
    /// The coarsest retention resolution among the stored points the view read (0: none).
    pub thinned: i64,
}

/// Statistics of one (run, key) series over every stored point.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSummary {
    pub run_id: String,
    pub key: String,
    pub summary: Summary,
}

/// An experiment's retention policy: once a point is `after_days` old, each bucket of
/// `resolution` steps keeps only its first, last, smallest and largest point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub after_days: i64,
    pub resolution: i64,
}

/// The answer to an ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Logged {
    /// Points accepted (a batch's own exact duplicates count once).
    pub accepted: usize,
    /// The idempotency key had been used: nothing was written, `accepted` is the first answer.
    pub replay: bool,
}

/// Points read back, and the coarsest retention resolution applied to any of them (0: none).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PointsRead {
    pub points: Vec<Point>,
    pub thinned: i64,
}

/// What one compaction pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompactionStats {
    pub series: usize,
    pub points: usize,
    /// Chunks thinned by retention policies.
    pub thinned_chunks: usize,
}

/// Metric series: ingest of point batches, full and downsampled reads, summaries.
///
/// MLflow's `log-batch` also writes points, through [`MetaStore::log_batch`], so that params,
/// tags and metrics commit together; both paths land in the same series.
#[async_trait]
pub trait MetricStore: Send + Sync + 'static {
    /// A page of the full history of `key` in a run, ordered by (step, timestamp, value).
    async fn history(&self, request: HistoryRequest) -> Result<Page<Metric>>;
    /// Points at up to `max_results` evenly spaced steps per run, always the first and last.
    async fn sampled_history(&self, request: SampledHistoryRequest) -> Result<Vec<RunSeries>>;
    /// Appends points to an active run's series (any order; exact duplicates are kept once) and
    /// says how many points were accepted. With an idempotency key, a repeated call with the
    /// same key changes nothing and returns the first call's answer, marked as a replay.
    async fn log_points(
        &self,
        run_id: &str,
        series: Vec<SeriesPoints>,
        idempotency_key: Option<String>,
    ) -> Result<Logged>;
    /// Every point of `key` in a run with a step in `[from_step, to_step]`, in canonical order.
    async fn points(
        &self,
        run_id: &str,
        key: &str,
        from_step: Option<i64>,
        to_step: Option<i64>,
    ) -> Result<PointsRead>;
    /// Min, max, mean, last and count per bucket, for each run, on one grid.
    async fn series(&self, request: SeriesRequest) -> Result<SeriesView>;
    /// Summaries of the runs' series; every key when `keys` is empty. Unknown runs are skipped.
    async fn summaries(
        &self,
        run_ids: Vec<String>,
        keys: Vec<String>,
    ) -> Result<Vec<SeriesSummary>>;
    /// Compacts every series with recently landed points, and applies due retention, now
    /// (normally done in the background).
    async fn compact(&self) -> Result<CompactionStats>;
    /// Sets (or with `None` removes) an experiment's retention policy.
    async fn set_retention(
        &self,
        experiment_id: &str,
        policy: Option<RetentionPolicy>,
    ) -> Result<()>;
    async fn retention(&self, experiment_id: &str) -> Result<Option<RetentionPolicy>>;
}

/// Everything a server needs from storage.
pub trait Store:
    MetaStore
    + MetricStore
    + ArtifactStore
    + RegistryStore
    + LineageStore
    + AuthStore
    + AlertStore
    + CommentStore
    + AccessStore
{
}

impl<T> Store for T where
    T: MetaStore
        + MetricStore
        + ArtifactStore
        + RegistryStore
        + LineageStore
        + AuthStore
        + AlertStore
        + CommentStore
        + AccessStore
{
}
