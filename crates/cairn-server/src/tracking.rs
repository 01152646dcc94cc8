//! The tracking service: the domain operations every API surface calls (MLflow-compatible routes
//! today, the native `/api/v1` routes next). It applies the validation rules from `cairn-core`,
//! decides artifact locations and generated names, and calls the store once per operation.
//!
//! **Architecture Invariant:** nothing here knows about wire formats; handlers translate requests
//! into these calls and results into JSON.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_blob::{ArtifactPath, BlobStore};
use cairn_core::filter;
use cairn_core::model::{
    DatasetInput, Experiment, LifecycleStage, LoggedModel, LoggedModelStatus, Metric, ModelInput,
    ModelOutput, NewExperiment, NewLoggedModel, NewRun, Page, Param, Run, RunInfo, RunStatus,
    RunUpdate, Tag, ViewType,
};
use cairn_core::redact::Redactor;
use cairn_core::series::Point;
use cairn_core::{ids, names, validation};
use cairn_store::{
    ArtifactLocation, ExperimentKeys, ExperimentSearch, HistoryRequest, Logged, LoggedModelSearch,
    PointsRead, RetentionPolicy, RunSearch, RunSeries, SampledHistoryRequest, SeriesPoints,
    SeriesRequest, SeriesSummary, SeriesView, Store,
};

use crate::access::Access;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::live::{Hub, RunChange};
use cairn_core::access::Permission;

pub mod artifacts;
pub mod comments;
pub mod compare;
pub mod lineage;
pub mod registry;

pub use artifacts::Artifacts;
pub use lineage::{Graph, InputsDiff, Reported};
pub use registry::{CreateVersion, SearchRegistry};

/// The artifact scheme of MLflow's artifact proxy.
pub use cairn_core::lineage::PROXY_SCHEME;
/// The tag that carries a run's name.
pub const RUN_NAME_TAG: &str = "mlflow.runName";
/// Largest number of runs `get-history-bulk-interval` accepts.
pub const MAX_BULK_RUNS: usize = 100;
/// Largest `max_results` of `get-history-bulk-interval`.
pub const MAX_BULK_INTERVAL_RESULTS: i64 = 2500;
/// Default page size of `experiments/search` and `runs/search`.
pub const DEFAULT_SEARCH_RESULTS: i64 = 1000;
/// Most points one native ingest request carries.
pub const MAX_INGEST_POINTS: usize = 1_000_000;
/// Most buckets a series view returns.
pub const MAX_VIEW_BUCKETS: usize = 20_000;
/// Longest retention delay (days) a policy may set.
pub const MAX_RETENTION_DAYS: i64 = 100 * 366;
/// Most runs one series view or summaries request covers.
pub const MAX_VIEW_RUNS: usize = 1_000;
/// Rows per window of a table search.
pub const MAX_WINDOW_ROWS: usize = 1_000;
/// Experiments one table search may span.
pub const MAX_WINDOW_EXPERIMENTS: usize = 100;
/// Keys of each kind listed for an experiment.
pub const MAX_EXPERIMENT_KEYS: usize = 10_000;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Arguments of `create_run`.
#[derive(Debug, Clone, Default)]
pub struct CreateRun {
    pub experiment_id: Option<String>,
    pub user_id: Option<String>,
    pub run_name: Option<String>,
    pub start_time: Option<i64>,
    pub tags: Vec<Tag>,
}

/// Which experiment `ensure_run` puts a run in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunExperiment {
    /// Experiment `0` (`Default`).
    Default,
    /// An existing experiment, by id.
    Id(String),
    /// An experiment by name, created (with the default artifact location and these tags, which
    /// may name its team and visibility) when missing.
    Name(String, Vec<Tag>),
}

/// What `ensure_run` did.
#[derive(Debug, Clone)]
pub struct EnsuredRun {
    pub run: Run,
    /// False when the run existed already (nothing was changed).
    pub created: bool,
}

/// Arguments of a runs search, as text the way clients send them.
#[derive(Debug, Clone, Default)]
pub struct SearchRuns {
    pub experiment_ids: Vec<String>,
    pub filter: String,
    pub order_by: Vec<String>,
    pub view: ViewType,
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
}

/// Arguments of an experiments search.
#[derive(Debug, Clone, Default)]
pub struct SearchExperiments {
    pub filter: String,
    pub order_by: Vec<String>,
    pub view: ViewType,
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
}

/// One `order_by` entry of a logged-models search.
#[derive(Debug, Clone, Default)]
pub struct ModelOrder {
    pub field_name: String,
    pub ascending: bool,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// Arguments of a logged-models search.
#[derive(Debug, Clone, Default)]
pub struct SearchModels {
    pub experiment_ids: Vec<String>,
    pub filter: String,
    pub order_by: Vec<ModelOrder>,
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
}

/// Arguments of `create_logged_model`.
#[derive(Debug, Clone, Default)]
pub struct CreateModel {
    pub experiment_id: String,
    pub name: Option<String>,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub params: Vec<Param>,
    pub tags: Vec<Tag>,
}

/// The tracking service. Cheap to clone.
#[derive(Clone)]
pub struct Tracking {
    store: Arc<dyn Store>,
    artifacts: Artifacts,
    live: Hub,
    /// Who may do what (and which experiment each recently seen run belongs to).
    access: Access,
    telemetry: Arc<crate::telemetry::Telemetry>,
    /// Which param and tag values are stored as `[REDACTED]`.
    redactor: Arc<Redactor>,
    /// The queue of run activity entries (its writer starts on first use).
    activity: Arc<std::sync::OnceLock<tokio::sync::mpsc::Sender<cairn_core::comments::Activity>>>,
}

/// Activity entries waiting to be written before changes wait for room (backpressure).
const ACTIVITY_QUEUE: usize = 10_000;

/// Writes queued activity entries in order, up to 500 at a time.
async fn write_activity(
    store: Arc<dyn Store>,
    mut receiver: tokio::sync::mpsc::Receiver<cairn_core::comments::Activity>,
) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < 500 {
            match receiver.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        if let Err(error) = store.record_activity(batch).await {
            tracing::error!(%error, "cannot record run activity");
        }
    }
}

impl std::fmt::Debug for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracking").finish_non_exhaustive()
    }
}

impl Tracking {
    pub fn new(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>) -> Self {
        let access = Access::new(Arc::clone(&store));
        Tracking {
            artifacts: Artifacts::new(store.clone(), blobs, access.clone()),
            access,
            store,
            live: Hub::new(),
            telemetry: Arc::default(),
            redactor: Arc::default(),
            activity: Arc::default(),
        }
    }

    /// Forwards every live event to the other servers through `relay` (see `live`).
    pub fn with_relay(mut self, relay: Arc<dyn cairn_store::Relay>) -> Self {
        self.live = self.live.with_relay(relay);
        self
    }

    /// Redacts param and tag values whose keys match these markers (see `cairn_core::redact`).
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = Arc::new(redactor);
        self
    }

    fn redact_tags(&self, tags: Vec<Tag>) -> Vec<Tag> {
        tags.into_iter()
            .map(|t| Tag {
                value: self.redactor.value(&t.key, t.value),
                key: t.key,
            })
            .collect()
    }

    fn redact_params(&self, params: Vec<Param>) -> Vec<Param> {
        params
            .into_iter()
            .map(|p| Param {
                value: self.redactor.value(&p.key, p.value),
                key: p.key,
            })
            .collect()
    }

    /// The server's counters for `GET /metrics`.
    pub fn telemetry(&self) -> &crate::telemetry::Telemetry {
        &self.telemetry
    }

    /// The store's figures for `GET /metrics` (runs in progress, stored blobs, queue and pool).
    pub async fn store_stats(&self) -> ApiResult<cairn_store::StoreStats> {
        Ok(self.store.stats().await?)
    }

    /// The live bus that committed changes are published on.
    pub fn live(&self) -> &Hub {
        &self.live
    }

    fn remember_run(&self, info: &RunInfo) {
        self.access.remember(&info.run_id, &info.experiment_id);
    }

    /// The experiment of a run, for events; `None` if the run cannot be read.
    async fn experiment_of(&self, run_id: &str) -> Option<String> {
        self.access.experiment_of_run(run_id).await
    }

    /// The authorisation service every entry point asks first.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Publishes a run's current state, if anyone listens.
    async fn publish_run(&self, change: RunChange, run_id: &str) {
        if !self.live.wanted() {
            return;
        }
        if let Ok(run) = self.store.get_run(run_id).await {
            self.live.run(change, &run.info);
        }
    }

    /// Publishes committed points, if anyone listens.
    async fn publish_points(&self, run_id: &str, series: Vec<SeriesPoints>) {
        if !self.live.wanted() {
            return;
        }
        let Some(experiment_id) = self.experiment_of(run_id).await else {
            return;
        };
        for s in &series {
            self.live.points(run_id, &experiment_id, &s.key, &s.points);
        }
    }

    /// Files at artifact paths (manifests, content-addressed bytes, uploads, collection).
    pub fn artifacts(&self) -> &Artifacts {
        &self.artifacts
    }

    // ----- experiments -----

    pub async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<String>,
        tags: Vec<Tag>,
    ) -> ApiResult<String> {
        validation::check_experiment_name(name)?;
        for tag in &tags {
            validation::check_experiment_tag(tag)?;
        }
        let (access, tags) = self.access.new_experiment_access(tags).await?;
        let tags = self.redact_tags(tags);
        let location = match artifact_location.filter(|l| !l.is_empty()) {
            Some(explicit) => {
                if explicit.starts_with("runs:") {
                    return Err(ApiError::invalid(format!(
                        "Artifact location cannot be a runs:/ URI. Given: '{explicit}'"
                    )));
                }
                ArtifactLocation::Explicit(explicit)
            }
            None => ArtifactLocation::UnderRoot(PROXY_SCHEME.to_string()),
        };
        let new = NewExperiment {
            name: name.to_string(),
            artifact_location: None,
            tags,
            creation_time: now_ms(),
            access,
        };
        Ok(self.store.create_experiment(new, location).await?)
    }

    pub async fn get_experiment(&self, experiment_id: &str) -> ApiResult<Experiment> {
        check_experiment_id(experiment_id)?;
        self.access
            .experiment(experiment_id, Permission::Read)
            .await?;
        Ok(self.store.get_experiment(experiment_id).await?)
    }

    pub async fn get_experiment_by_name(&self, name: &str) -> ApiResult<Experiment> {
        let missing =
            || ApiError::not_found(format!("Could not find experiment with name '{name}'"));
        let experiment = self
            .store
            .get_experiment_by_name(name)
            .await?
            .ok_or_else(missing)?;
        match self
            .access
            .experiment_permission(&experiment.experiment_id)
            .await?
        {
            Permission::None => Err(missing()),
            _ => Ok(experiment),
        }
    }

    pub async fn search_experiments(
        &self,
        search: SearchExperiments,
    ) -> ApiResult<Page<Experiment>> {
        let max_results = search.max_results.unwrap_or(DEFAULT_SEARCH_RESULTS);
        validation::check_search_experiments_max_results(max_results)?;
        let filter = filter::parse_experiment_filter(&search.filter)?;
        let order_by = filter::parse_experiment_order_by(&search.order_by)?;
        let query = ExperimentSearch {
            filter,
            order_by,
            view: search.view,
            max_results: max_results as usize,
            page_token: search.page_token.filter(|t| !t.is_empty()),
            readable_by: self.access.search_viewer(),
        };
        Ok(self.store.search_experiments(query).await?)
    }

    pub async fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> ApiResult<()> {
        check_experiment_id(experiment_id)?;
        self.access
            .experiment(experiment_id, Permission::Manage)
            .await?;
        validation::check_experiment_name(new_name)?;
        match self
            .store
            .rename_experiment(experiment_id, new_name, now_ms())
            .await
        {
            // MLflow answers a rename onto a taken name with BAD_REQUEST, not ALREADY_EXISTS.
            Err(error) if error.kind() == cairn_store::ErrorKind::AlreadyExists => {
                Err(ApiError::new(ErrorCode::BadRequest, error.to_string()))
            }
            other => Ok(other?),
        }
    }

    pub async fn delete_experiment(&self, experiment_id: &str) -> ApiResult<()> {
        check_experiment_id(experiment_id)?;
        self.access
            .experiment(experiment_id, Permission::Manage)
            .await?;
        if experiment_id == "0" {
            return Err(ApiError::invalid(
                "Cannot delete the default experiment '0'. This is an internally reserved experiment.",
            ));
        }
        Ok(self
            .store
            .set_experiment_lifecycle(experiment_id, LifecycleStage::Deleted, now_ms())
            .await?)
    }

    pub async fn restore_experiment(&self, experiment_id: &str) -> ApiResult<()> {
        check_experiment_id(experiment_id)?;
        self.access
            .experiment(experiment_id, Permission::Manage)
            .await?;
        Ok(self
            .store
            .set_experiment_lifecycle(experiment_id, LifecycleStage::Active, now_ms())
            .await?)
    }

    pub async fn set_experiment_tag(&self, experiment_id: &str, tag: Tag) -> ApiResult<()> {
        check_experiment_id(experiment_id)?;
        self.access
            .experiment(experiment_id, Permission::Write)
            .await?;
        validation::check_experiment_tag(&tag)?;
        let tag = self.redact_tags(vec![tag]).remove(0);
        Ok(self.store.set_experiment_tag(experiment_id, tag).await?)
    }

    pub async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> ApiResult<()> {
        check_experiment_id(experiment_id)?;
        self.access
            .experiment(experiment_id, Permission::Write)
            .await?;
        Ok(self.store.delete_experiment_tag(experiment_id, key).await?)
    }

    // ----- runs -----

    pub async fn create_run(&self, request: CreateRun) -> ApiResult<Run> {
        let experiment_id = request
            .experiment_id
            .clone()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| "0".into());
        let experiment = self.get_experiment(&experiment_id).await?;
        self.insert_run(ids::new_run_id(), &experiment, request)
            .await
    }

    /// Creates a run with a client-chosen id unless it already exists (the native `PUT` of a
    /// run). Idempotent: when the run is there already and belongs to `target`'s experiment,
    /// nothing changes and `created` is false; when it belongs to another experiment the answer
    /// is `RESOURCE_ALREADY_EXISTS`. Concurrent calls with the same new id all succeed, and
    /// exactly one of them creates the run. `request.experiment_id` is ignored: `target` says
    /// where the run goes. An experiment named by `target` is created when missing.
    pub async fn ensure_run(
        &self,
        run_id: &str,
        target: RunExperiment,
        request: CreateRun,
    ) -> ApiResult<EnsuredRun> {
        check_run(run_id)?;
        if let Some(run) = self.find_run(run_id).await? {
            self.access.run(run_id, Permission::Write).await?;
            let experiment = self.resolve_experiment(&target, false).await?;
            return self.existing_run(run, experiment.as_ref(), &target).await;
        }
        let Some(experiment) = self.resolve_experiment(&target, true).await? else {
            return Err(ApiError::internal(
                "an experiment was created but cannot be read back",
            ));
        };
        match self
            .insert_run(run_id.to_string(), &experiment, request)
            .await
        {
            Ok(run) => Ok(EnsuredRun { run, created: true }),
            // A concurrent call created the run between our read and our write.
            Err(error) if error.code == ErrorCode::ResourceAlreadyExists => {
                match self.find_run(run_id).await? {
                    Some(run) => self.existing_run(run, Some(&experiment), &target).await,
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// A run by id, `None` when there is none.
    async fn find_run(&self, run_id: &str) -> ApiResult<Option<Run>> {
        match self.store.get_run(run_id).await {
            Ok(run) => Ok(Some(run)),
            Err(error) if error.kind() == cairn_store::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// The experiment `target` names. A missing name is created when `create` is set and is
    /// `None` otherwise; a missing id is always an error.
    async fn resolve_experiment(
        &self,
        target: &RunExperiment,
        create: bool,
    ) -> ApiResult<Option<Experiment>> {
        let (name, tags) = match target {
            RunExperiment::Default => return Ok(Some(self.get_experiment("0").await?)),
            RunExperiment::Id(experiment_id) => {
                return Ok(Some(self.get_experiment(experiment_id).await?));
            }
            RunExperiment::Name(name, tags) => (name, tags),
        };
        if let Some(found) = self.store.get_experiment_by_name(name).await? {
            // Names are unique server-wide: one the caller may not see is still taken, but its
            // id and contents stay hidden.
            if self
                .access
                .experiment_permission(&found.experiment_id)
                .await?
                == Permission::None
            {
                return Err(ApiError::new(
                    ErrorCode::ResourceAlreadyExists,
                    format!(
                        "The experiment name '{name}' is taken by an experiment you may not see: \
                         choose another name"
                    ),
                ));
            }
            return Ok(Some(found));
        }
        if !create {
            return Ok(None);
        }
        match self.create_experiment(name, None, tags.clone()).await {
            Ok(experiment_id) => Ok(Some(self.get_experiment(&experiment_id).await?)),
            // A concurrent call created it first.
            Err(error) if error.code == ErrorCode::ResourceAlreadyExists => {
                Ok(self.store.get_experiment_by_name(name).await?)
            }
            Err(error) => Err(error),
        }
    }

    /// The answer for a run that exists already: unchanged if it is in `experiment`, else a
    /// conflict that names both experiments.
    async fn existing_run(
        &self,
        run: Run,
        experiment: Option<&Experiment>,
        target: &RunExperiment,
    ) -> ApiResult<EnsuredRun> {
        if experiment.is_some_and(|e| e.experiment_id == run.info.experiment_id) {
            self.remember_run(&run.info);
            return Ok(EnsuredRun {
                run,
                created: false,
            });
        }
        let actual = match self.store.get_experiment(&run.info.experiment_id).await {
            Ok(e) => format!("experiment {} ('{}')", e.experiment_id, e.name),
            Err(_) => format!("experiment {}", run.info.experiment_id),
        };
        let requested = match (experiment, target) {
            (Some(e), _) => format!("experiment {} ('{}')", e.experiment_id, e.name),
            (None, RunExperiment::Name(name, _)) => format!("experiment '{name}'"),
            (None, RunExperiment::Id(id)) => format!("experiment {id}"),
            (None, RunExperiment::Default) => "experiment 0".to_string(),
        };
        Err(ApiError::new(
            ErrorCode::ResourceAlreadyExists,
            format!(
                "Run with id={} already exists in {actual}; it cannot be created in {requested}",
                run.info.run_id
            ),
        ))
    }

    /// Creates a run with the given id in `experiment`: the one code path behind `create_run`
    /// and `ensure_run` (active-experiment rule, tag normalisation, run names, artifact URI,
    /// live publication).
    async fn insert_run(
        &self,
        run_id: String,
        experiment: &Experiment,
        request: CreateRun,
    ) -> ApiResult<Run> {
        let experiment_id = experiment.experiment_id.clone();
        self.access
            .experiment(&experiment_id, Permission::Write)
            .await?;
        if experiment.lifecycle_stage != LifecycleStage::Active {
            return Err(ApiError::invalid(format!(
                "The experiment {experiment_id} must be in the 'active' state. Current state is deleted."
            )));
        }
        let mut tags = self.redact_tags(normalize_run_tags(request.tags)?);
        let tagged_name = tags
            .iter()
            .find(|t| t.key == RUN_NAME_TAG)
            .map(|t| t.value.clone());
        let run_name = match (request.run_name.filter(|n| !n.is_empty()), tagged_name) {
            (Some(name), Some(tagged)) if name != tagged => {
                return Err(ApiError::invalid(format!(
                    "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with \
                     different values (run_name='{name}', mlflow.runName='{tagged}')."
                )));
            }
            (Some(name), _) => name,
            (None, Some(tagged)) if !tagged.is_empty() => tagged,
            _ => names::run_name_from_seed(run_name_seed(&run_id)),
        };
        tags.retain(|t| t.key != RUN_NAME_TAG);
        tags.push(Tag::new(RUN_NAME_TAG, run_name.clone()));
        let artifact_uri = format!(
            "{}/{run_id}/artifacts",
            experiment.artifact_location.trim_end_matches('/')
        );
        let new = NewRun {
            run_id: run_id.clone(),
            experiment_id,
            run_name,
            user_id: request.user_id.unwrap_or_default(),
            start_time: request.start_time.unwrap_or_else(now_ms),
            created: Some(cairn_core::comments::Activity {
                id: 0,
                run_id: run_id.clone(),
                time: now_ms(),
                user: crate::auth::caller(),
                change: "created".into(),
            }),
            artifact_uri,
            tags,
        };
        let run = self.store.create_run(new).await?;
        self.remember_run(&run.info);
        self.live.run(RunChange::Created, &run.info);
        Ok(run)
    }

    /// Refuses an invalid run id, and a run the caller may not read.
    pub(crate) async fn readable_run(&self, run_id: &str) -> ApiResult<()> {
        check_run(run_id)?;
        self.access.run(run_id, Permission::Read).await
    }

    /// Refuses an invalid run id, and a run the caller may not write.
    pub(crate) async fn writable_run(&self, run_id: &str) -> ApiResult<()> {
        check_run(run_id)?;
        self.access.run(run_id, Permission::Write).await
    }

    pub async fn get_run(&self, run_id: &str) -> ApiResult<Run> {
        ids::check_run_id(run_id)
            .map_err(|_| ApiError::not_found(format!("Run with id={run_id} not found")))?;
        self.access.run(run_id, Permission::Read).await?;
        Ok(self.store.get_run(run_id).await?)
    }

    pub async fn update_run(&self, run_id: &str, update: RunUpdate) -> ApiResult<RunInfo> {
        self.writable_run(run_id).await?;
        let update = RunUpdate {
            run_name: update.run_name.filter(|n| !n.is_empty()),
            ..update
        };
        // What actually changes (clients resend the status with a rename, say).
        let before = match update.status.is_some() || update.run_name.is_some() {
            true => Some(self.store.get_run(run_id).await?.info),
            false => None,
        };
        let mut changes = Vec::new();
        if let (Some(status), Some(before)) = (update.status, &before)
            && status != before.status
        {
            changes.push(format!("status {}", status.as_str()));
        }
        if let (Some(name), Some(before)) = (&update.run_name, &before)
            && *name != before.run_name
        {
            changes.push(format!("renamed to {name}"));
        }
        let info = self.store.update_run(run_id, update).await?;
        self.live.run(RunChange::Updated, &info);
        self.note_activity(run_id, changes).await;
        Ok(info)
    }

    /// Appends to a run's activity history, attributed to the signed-in user (if any), without
    /// making the request wait: entries go through one queue to a task that writes them in
    /// batches, in order (so a run's history lags its changes by a few milliseconds, and a crash
    /// can lose the last of them).
    async fn note_activity(&self, run_id: &str, changes: Vec<String>) {
        if changes.is_empty() {
            return;
        }
        let user = crate::auth::caller();
        let time = now_ms();
        let sender = self.activity.get_or_init(|| {
            let (sender, receiver) = tokio::sync::mpsc::channel(ACTIVITY_QUEUE);
            tokio::spawn(write_activity(Arc::clone(&self.store), receiver));
            sender
        });
        for change in changes {
            let entry = cairn_core::comments::Activity {
                id: 0,
                run_id: run_id.to_string(),
                time,
                user: user.clone(),
                change,
            };
            if sender.send(entry).await.is_err() {
                tracing::error!(run_id, "the activity writer has stopped");
            }
        }
    }

    /// A run's activity history, newest first.
    pub async fn run_activity(
        &self,
        run_id: &str,
        limit: usize,
    ) -> ApiResult<Vec<cairn_core::comments::Activity>> {
        self.get_run(run_id).await?;
        Ok(self
            .store
            .list_activity(run_id, limit.clamp(1, 1000))
            .await?)
    }

    pub async fn delete_run(&self, run_id: &str) -> ApiResult<()> {
        self.writable_run(run_id).await?;
        self.store
            .set_run_lifecycle(run_id, LifecycleStage::Deleted, now_ms())
            .await?;
        self.publish_run(RunChange::Deleted, run_id).await;
        self.note_activity(run_id, vec!["deleted".into()]).await;
        Ok(())
    }

    pub async fn restore_run(&self, run_id: &str) -> ApiResult<()> {
        self.writable_run(run_id).await?;
        self.store
            .set_run_lifecycle(run_id, LifecycleStage::Active, now_ms())
            .await?;
        self.publish_run(RunChange::Restored, run_id).await;
        self.note_activity(run_id, vec!["restored".into()]).await;
        Ok(())
    }

    pub async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<Param>,
        tags: Vec<Tag>,
    ) -> ApiResult<()> {
        self.writable_run(run_id).await?;
        validation::check_batch_limits(metrics.len(), params.len(), tags.len())?;
        validation::check_param_keys_unique(&params)?;
        for metric in &metrics {
            validation::check_metric(metric)?;
        }
        let params = self.redact_params(
            params
                .into_iter()
                .map(validation::normalize_param)
                .collect::<Result<Vec<_>, _>>()?,
        );
        let tags = self.redact_tags(normalize_run_tags(tags)?);
        let changes = tag_changes(&tags);
        let published = self.live.wanted().then(|| metrics.clone());
        let points = metrics.len() as u64;
        self.store.log_batch(run_id, metrics, params, tags).await?;
        self.telemetry.add_points(points);
        self.note_activity(run_id, changes).await;
        if let Some(metrics) = published {
            let mut by_key: BTreeMap<&str, Vec<Point>> = BTreeMap::new();
            for m in &metrics {
                by_key.entry(m.key.as_str()).or_default().push(Point::new(
                    m.step,
                    m.timestamp,
                    m.value,
                ));
            }
            let series = by_key
                .into_iter()
                .map(|(key, points)| SeriesPoints {
                    key: key.to_string(),
                    points,
                })
                .collect();
            self.publish_points(run_id, series).await;
        }
        Ok(())
    }

    /// Native ingest: points for several keys of one run, committed together.
    pub async fn log_points(
        &self,
        run_id: &str,
        series: Vec<SeriesPoints>,
        idempotency_key: Option<String>,
    ) -> ApiResult<Logged> {
        self.writable_run(run_id).await?;
        let total: usize = series.iter().map(|s| s.points.len()).sum();
        if total > MAX_INGEST_POINTS {
            return Err(ApiError::invalid(format!(
                "A request may carry at most {MAX_INGEST_POINTS} points; this one has {total}. \
                 Split it into several requests."
            )));
        }
        for s in &series {
            validation::check_metric_key(&s.key)?;
            if let Some(point) = s.points.iter().find(|p| p.timestamp < 0) {
                return Err(ApiError::invalid(format!(
                    "Metric '{}' has a negative timestamp ({}); timestamps are milliseconds \
                     since the Unix epoch",
                    s.key, point.timestamp
                )));
            }
        }
        if let Some(key) = &idempotency_key
            && (key.is_empty() || key.len() > 256)
        {
            return Err(ApiError::invalid(
                "Idempotency-Key must be between 1 and 256 bytes long",
            ));
        }
        let published = self.live.wanted().then(|| series.clone());
        let logged = self
            .store
            .log_points(run_id, series, idempotency_key)
            .await?;
        if !logged.replay {
            self.telemetry.add_points(total as u64);
        }
        // A replayed request wrote nothing, so there is nothing new to show.
        if let Some(series) = published.filter(|_| !logged.replay) {
            self.publish_points(run_id, series).await;
        }
        Ok(logged)
    }

    /// Every point of a run's metric with a step in the range.
    pub async fn metric_points(
        &self,
        run_id: &str,
        key: &str,
        from_step: Option<i64>,
        to_step: Option<i64>,
    ) -> ApiResult<PointsRead> {
        self.readable_run(run_id).await?;
        validation::check_metric_key(key)?;
        Ok(self.store.points(run_id, key, from_step, to_step).await?)
    }

    /// Sets or (with `None`) removes an experiment's retention policy.
    pub async fn set_retention(
        &self,
        experiment_id: &str,
        policy: Option<RetentionPolicy>,
    ) -> ApiResult<()> {
        check_experiment_id(experiment_id)?;
        self.access
            .experiment(experiment_id, Permission::Manage)
            .await?;
        if let Some(policy) = policy {
            if !(0..=MAX_RETENTION_DAYS).contains(&policy.after_days) {
                return Err(ApiError::invalid(format!(
                    "after_days must be between 0 and {MAX_RETENTION_DAYS}; got {}",
                    policy.after_days
                )));
            }
            if policy.resolution < 2 {
                return Err(ApiError::invalid(format!(
                    "resolution (steps per kept bucket) must be at least 2; got {}",
                    policy.resolution
                )));
            }
        }
        Ok(self.store.set_retention(experiment_id, policy).await?)
    }

    pub async fn retention(&self, experiment_id: &str) -> ApiResult<Option<RetentionPolicy>> {
        check_experiment_id(experiment_id)?;
        self.access
            .experiment(experiment_id, Permission::Read)
            .await?;
        Ok(self.store.retention(experiment_id).await?)
    }

    /// A downsampled view of a metric for one or more runs on one grid.
    pub async fn series_view(&self, request: SeriesRequest) -> ApiResult<SeriesView> {
        if request.run_ids.is_empty() {
            return Err(ApiError::missing("run_ids"));
        }
        if request.run_ids.len() > MAX_VIEW_RUNS {
            return Err(ApiError::invalid(format!(
                "A view covers at most {MAX_VIEW_RUNS} runs; got {}",
                request.run_ids.len()
            )));
        }
        for run_id in &request.run_ids {
            self.readable_run(run_id).await?;
        }
        validation::check_metric_key(&request.key)?;
        if request.buckets == 0 || request.buckets > MAX_VIEW_BUCKETS {
            return Err(ApiError::invalid(format!(
                "buckets must be between 1 and {MAX_VIEW_BUCKETS}; got {}",
                request.buckets
            )));
        }
        if let (Some(from), Some(to)) = (request.from, request.to)
            && from > to
        {
            return Err(ApiError::invalid(format!(
                "from ({from}) must not be greater than to ({to})"
            )));
        }
        Ok(self.store.series(request).await?)
    }

    /// Per-key statistics of runs' metrics.
    pub async fn metric_summaries(
        &self,
        run_ids: Vec<String>,
        keys: Vec<String>,
    ) -> ApiResult<Vec<SeriesSummary>> {
        if run_ids.len() > MAX_VIEW_RUNS {
            return Err(ApiError::invalid(format!(
                "At most {MAX_VIEW_RUNS} runs per request; got {}",
                run_ids.len()
            )));
        }
        for run_id in &run_ids {
            self.readable_run(run_id).await?;
        }
        Ok(self.store.summaries(run_ids, keys).await?)
    }

    pub async fn delete_run_tag(&self, run_id: &str, key: &str) -> ApiResult<()> {
        self.writable_run(run_id).await?;
        self.store.delete_run_tag(run_id, key).await?;
        let change = if key == NOTE_TAG {
            "note removed".to_string()
        } else {
            format!("tag {key} removed")
        };
        self.note_activity(run_id, vec![change]).await;
        Ok(())
    }

    pub async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> ApiResult<()> {
        self.writable_run(run_id).await?;
        for input in &datasets {
            let d = &input.dataset;
            validation::check_dataset(
                &d.name,
                &d.digest,
                &d.source,
                d.schema.as_deref(),
                d.profile.as_deref(),
            )?;
            for tag in &input.tags {
                validation::check_input_tag(tag)?;
            }
        }
        Ok(self.store.log_inputs(run_id, datasets, models).await?)
    }

    pub async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> ApiResult<()> {
        self.writable_run(run_id).await?;
        Ok(self.store.log_outputs(run_id, models).await?)
    }

    pub async fn search_runs(&self, search: SearchRuns) -> ApiResult<Page<Run>> {
        let max_results = search.max_results.unwrap_or(DEFAULT_SEARCH_RESULTS);
        validation::check_search_runs_max_results(max_results)?;
        let filter = filter::parse_run_filter(&search.filter)?;
        let order_by = filter::parse_run_order_by(&search.order_by)?;
        for experiment_id in &search.experiment_ids {
            check_experiment_id(experiment_id)?;
        }
        let asked = !search.experiment_ids.is_empty();
        let experiment_ids = self.access.readable(search.experiment_ids).await?;
        if asked && experiment_ids.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_page_token: None,
            });
        }
        let query = RunSearch {
            experiment_ids,
            filter,
            order_by,
            view: search.view,
            max_results: max_results as usize,
            page_token: search.page_token.filter(|t| !t.is_empty()),
            offset: 0,
        };
        Ok(self.store.search_runs(query).await?)
    }

    /// A window of a runs search by offset, with the number of runs the search matches (for
    /// tables that scroll to any row). `limit` 0 only counts.
    pub async fn run_window(
        &self,
        search: SearchRuns,
        offset: usize,
        limit: usize,
    ) -> ApiResult<(usize, Vec<Run>)> {
        if search.experiment_ids.is_empty() || search.experiment_ids.len() > MAX_WINDOW_EXPERIMENTS
        {
            return Err(ApiError::invalid(format!(
                "experiment_ids must name 1 to {MAX_WINDOW_EXPERIMENTS} experiments; got {}",
                search.experiment_ids.len()
            )));
        }
        if limit > MAX_WINDOW_ROWS {
            return Err(ApiError::invalid(format!(
                "limit must be at most {MAX_WINDOW_ROWS}; got {limit}"
            )));
        }
        for experiment_id in &search.experiment_ids {
            check_experiment_id(experiment_id)?;
        }
        let experiment_ids = self.access.readable(search.experiment_ids).await?;
        if experiment_ids.is_empty() {
            return Ok((0, Vec::new()));
        }
        let query = RunSearch {
            experiment_ids,
            filter: filter::parse_run_filter(&search.filter)?,
            order_by: filter::parse_run_order_by(&search.order_by)?,
            view: search.view,
            max_results: limit,
            page_token: None,
            offset,
        };
        let count = self.store.count_runs(query.clone());
        if limit == 0 {
            return Ok((count.await?, Vec::new()));
        }
        let (total, page) = tokio::try_join!(count, self.store.search_runs(query))?;
        Ok((total, page.items))
    }

    /// The keys an experiment's runs use (params, tags, metrics), for column pickers.
    pub async fn experiment_keys(&self, experiment_id: &str) -> ApiResult<ExperimentKeys> {
        check_experiment_id(experiment_id)?;
        self.access
            .experiment(experiment_id, Permission::Read)
            .await?;
        Ok(self
            .store
            .experiment_keys(experiment_id, MAX_EXPERIMENT_KEYS)
            .await?)
    }

    /// Active runs per experiment.
    pub async fn active_run_counts(
        &self,
        experiment_ids: &[String],
    ) -> ApiResult<HashMap<String, u64>> {
        let experiment_ids = self.access.readable(experiment_ids.to_vec()).await?;
        Ok(self
            .store
            .active_run_counts(&experiment_ids)
            .await?
            .into_iter()
            .collect())
    }

    // ----- metric series -----

    pub async fn metric_history(
        &self,
        run_id: &str,
        key: &str,
        max_results: Option<i64>,
        page_token: Option<String>,
    ) -> ApiResult<Page<Metric>> {
        self.readable_run(run_id).await?;
        let max_results = match max_results {
            None => 0,
            Some(n) if n >= 1 => n as usize,
            Some(n) => {
                return Err(validation::ValidationError::invalid_value(n, "max_results").into());
            }
        };
        let request = HistoryRequest {
            run_id: run_id.to_string(),
            key: key.to_string(),
            max_results,
            page_token: page_token.filter(|t| !t.is_empty()),
        };
        Ok(self.store.history(request).await?)
    }

    pub async fn sampled_history(
        &self,
        run_ids: Vec<String>,
        key: &str,
        start_step: Option<i64>,
        end_step: Option<i64>,
        max_results: Option<i64>,
    ) -> ApiResult<Vec<RunSeries>> {
        if run_ids.is_empty() {
            return Err(ApiError::missing("run_ids"));
        }
        if run_ids.len() > MAX_BULK_RUNS {
            return Err(ApiError::invalid(format!(
                "GetMetricHistoryBulkInterval request must specify at most {MAX_BULK_RUNS} run_ids. \
                 Received {} run_ids.",
                run_ids.len()
            )));
        }
        for run_id in &run_ids {
            self.readable_run(run_id).await?;
        }
        let max_results = max_results.unwrap_or(MAX_BULK_INTERVAL_RESULTS);
        if !(1..=MAX_BULK_INTERVAL_RESULTS).contains(&max_results) {
            return Err(ApiError::invalid(format!(
                "max_results must be between 1 and {MAX_BULK_INTERVAL_RESULTS}. Received {max_results}."
            )));
        }
        if let (Some(start), Some(end)) = (start_step, end_step)
            && start > end
        {
            return Err(ApiError::invalid(format!(
                "end_step must be greater than start_step. Found start_step={start} and end_step={end}."
            )));
        }
        let request = SampledHistoryRequest {
            run_ids,
            key: key.to_string(),
            start_step,
            end_step,
            max_results: max_results as usize,
        };
        Ok(self.store.sampled_history(request).await?)
    }

    /// The first `max_results` points of `key` for each run, ordered by (step, timestamp).
    pub async fn bulk_history(
        &self,
        run_ids: Vec<String>,
        key: &str,
        max_results: i64,
    ) -> ApiResult<Vec<RunSeries>> {
        if run_ids.is_empty() {
            return Err(ApiError::missing("run_id"));
        }
        if run_ids.len() > MAX_BULK_RUNS {
            return Err(ApiError::invalid(format!(
                "GetMetricHistoryBulk request cannot specify more than {MAX_BULK_RUNS} run_ids. \
                 Received {} run_ids.",
                run_ids.len()
            )));
        }
        if max_results < 1 {
            return Err(
                validation::ValidationError::invalid_value(max_results, "max_results").into(),
            );
        }
        let mut series = Vec::with_capacity(run_ids.len());
        for run_id in run_ids {
            self.readable_run(&run_id).await?;
            let request = HistoryRequest {
                run_id: run_id.clone(),
                key: key.to_string(),
                max_results: max_results as usize,
                page_token: None,
            };
            let page = self.store.history(request).await?;
            series.push(RunSeries {
                run_id,
                points: page.items,
            });
        }
        Ok(series)
    }

    // ----- logged models -----

    pub async fn create_logged_model(&self, request: CreateModel) -> ApiResult<LoggedModel> {
        let new = self
            .new_logged_model(ids::new_model_id(), request, now_ms())
            .await?;
        Ok(self.store.create_logged_model(new).await?)
    }

    /// Creates a logged model with a client-chosen id (an import keeping its source's ids),
    /// created `creation_timestamp` (ms; now when absent); a model of that id already in the
    /// same experiment is returned as it is (`created: false`), one in another experiment is a
    /// conflict.
    pub async fn ensure_logged_model(
        &self,
        model_id: &str,
        request: CreateModel,
        creation_timestamp: Option<i64>,
    ) -> ApiResult<(LoggedModel, bool)> {
        ids::check_model_id(model_id)?;
        let experiment_id = request.experiment_id.clone();
        let existing = |model: LoggedModel| {
            if model.experiment_id == experiment_id {
                Ok((model, false))
            } else {
                Err(ApiError::new(
                    ErrorCode::ResourceAlreadyExists,
                    format!(
                        "Logged model with id={model_id} already exists in experiment {}; it \
                         cannot be created in experiment {experiment_id}",
                        model.experiment_id
                    ),
                ))
            }
        };
        match self.store.get_logged_model(model_id).await {
            Ok(model) => {
                self.access.model(model_id, Permission::Write).await?;
                return existing(model);
            }
            Err(cairn_store::StoreError::NotFound(_)) => {}
            Err(error) => return Err(error.into()),
        }
        let created = creation_timestamp.unwrap_or_else(now_ms);
        let new = self
            .new_logged_model(model_id.to_string(), request, created)
            .await?;
        match self.store.create_logged_model(new).await {
            Ok(model) => Ok((model, true)),
            Err(error) => match self.store.get_logged_model(model_id).await {
                // A concurrent call created it between our read and our write.
                Ok(model) => existing(model),
                Err(_) => Err(error.into()),
            },
        }
    }

    /// A new logged model's record, checked: the experiment exists, keys are valid.
    async fn new_logged_model(
        &self,
        model_id: String,
        request: CreateModel,
        creation_timestamp: i64,
    ) -> ApiResult<NewLoggedModel> {
        let experiment = self.get_experiment(&request.experiment_id).await?;
        self.access
            .experiment(&experiment.experiment_id, Permission::Write)
            .await?;
        let name = request.name.filter(|n| !n.is_empty()).unwrap_or_else(|| {
            let hex = model_id.strip_prefix("m-").unwrap_or(&model_id);
            names::run_name_from_seed(u128::from_str_radix(hex, 16).unwrap_or(0))
        });
        for param in &request.params {
            validation::check_param_key(&param.key)?;
        }
        for tag in &request.tags {
            validation::check_tag_key(&tag.key)?;
        }
        if let Some(run_id) = &request.source_run_id {
            self.readable_run(run_id).await?;
        }
        let artifact_location = format!(
            "{}/models/{model_id}/artifacts",
            experiment.artifact_location.trim_end_matches('/')
        );
        Ok(NewLoggedModel {
            model_id,
            experiment_id: request.experiment_id,
            name,
            artifact_location,
            creation_timestamp,
            model_type: request.model_type.filter(|t| !t.is_empty()),
            source_run_id: request.source_run_id.filter(|r| !r.is_empty()),
            tags: self.redact_tags(request.tags),
            params: self.redact_params(request.params),
        })
    }

    pub async fn get_logged_model(&self, model_id: &str) -> ApiResult<LoggedModel> {
        self.access.model(model_id, Permission::Read).await?;
        Ok(self.store.get_logged_model(model_id).await?)
    }

    pub async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> ApiResult<LoggedModel> {
        self.access.model(model_id, Permission::Write).await?;
        Ok(self
            .store
            .set_logged_model_status(model_id, status, None, now_ms())
            .await?)
    }

    pub async fn delete_logged_model(&self, model_id: &str) -> ApiResult<()> {
        self.access.model(model_id, Permission::Write).await?;
        Ok(self.store.delete_logged_model(model_id, now_ms()).await?)
    }

    pub async fn set_logged_model_tags(
        &self,
        model_id: &str,
        tags: Vec<Tag>,
    ) -> ApiResult<LoggedModel> {
        self.access.model(model_id, Permission::Write).await?;
        for tag in &tags {
            validation::check_tag_key(&tag.key)?;
        }
        let tags = self.redact_tags(tags);
        Ok(self
            .store
            .set_logged_model_tags(model_id, tags, now_ms())
            .await?)
    }

    pub async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> ApiResult<()> {
        self.access.model(model_id, Permission::Write).await?;
        Ok(self
            .store
            .delete_logged_model_tag(model_id, key, now_ms())
            .await?)
    }

    pub async fn log_logged_model_params(
        &self,
        model_id: &str,
        params: Vec<Param>,
    ) -> ApiResult<()> {
        self.access.model(model_id, Permission::Write).await?;
        let params = self.redact_params(
            params
                .into_iter()
                .map(validation::normalize_param)
                .collect::<Result<Vec<_>, _>>()?,
        );
        Ok(self
            .store
            .log_logged_model_params(model_id, params, now_ms())
            .await?)
    }

    pub async fn search_logged_models(&self, search: SearchModels) -> ApiResult<Page<LoggedModel>> {
        let max_results = search.max_results.unwrap_or(100);
        if !(1..=validation::MAX_RESULTS_SEARCH_RUNS).contains(&max_results) {
            return Err(
                validation::ValidationError::invalid_value(max_results, "max_results").into(),
            );
        }
        for experiment_id in &search.experiment_ids {
            check_experiment_id(experiment_id)?;
        }
        let filter = filter::parse_logged_model_filter(&search.filter)?;
        let order_by = search
            .order_by
            .into_iter()
            .map(|o| {
                filter::parse_logged_model_order_field(
                    &o.field_name,
                    o.ascending,
                    o.dataset_name,
                    o.dataset_digest,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let asked = !search.experiment_ids.is_empty();
        let experiment_ids = self.access.readable(search.experiment_ids).await?;
        if asked && experiment_ids.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_page_token: None,
            });
        }
        let query = LoggedModelSearch {
            experiment_ids,
            filter,
            order_by,
            max_results: max_results as usize,
            page_token: search.page_token.filter(|t| !t.is_empty()),
        };
        Ok(self.store.search_logged_models(query).await?)
    }

    // ----- artifacts -----

    /// The blob path of `relative` inside a run's artifact root, for runs whose artifacts go
    /// through the proxy.
    pub async fn run_artifact_path(
        &self,
        run_id: &str,
        relative: &str,
    ) -> ApiResult<(Run, ArtifactPath)> {
        let run = self.get_run(run_id).await?;
        let root = proxied_path(&run.info.artifact_uri).ok_or_else(|| {
            ApiError::invalid(format!(
                "the artifacts of run {run_id} are not stored by this server ({})",
                run.info.artifact_uri
            ))
        })?;
        let relative = ArtifactPath::parse(relative)?;
        Ok((run, root.join(&relative)))
    }
}

/// The blob path behind an `mlflow-artifacts:` URI, if it is one.
pub fn proxied_path(uri: &str) -> Option<ArtifactPath> {
    ArtifactPath::parse(cairn_core::lineage::proxied_root(uri)?).ok()
}

fn check_experiment_id(experiment_id: &str) -> ApiResult<()> {
    ids::parse_experiment_id(experiment_id)
        .map(|_| ())
        .map_err(|_| ApiError::not_found(format!("No Experiment with id={experiment_id} exists")))
}

pub(crate) fn check_run(run_id: &str) -> ApiResult<()> {
    ids::check_run_id(run_id).map_err(ApiError::from)
}

/// The seed of a run's generated name: the id as a hex number (every server-made id), or, for a
/// client-chosen id that is not one, a hash of it, so that such runs do not all get one name.
fn run_name_seed(run_id: &str) -> u128 {
    match u128::from_str_radix(run_id, 16) {
        Ok(seed) => seed,
        Err(_) => {
            // FNV-1a, 128-bit: stable across builds and platforms.
            let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
            for byte in run_id.bytes() {
                hash ^= u128::from(byte);
                hash = hash.wrapping_mul(0x0000000001000000000000000000013b);
            }
            hash
        }
    }
}

/// The run tag holding its markdown note.
pub const NOTE_TAG: &str = "mlflow.note.content";

/// How logged tags read in a run's activity history (system tags other than the name and the
/// note are left out: clients set them on every run).
fn tag_changes(tags: &[Tag]) -> Vec<String> {
    tags.iter()
        .filter_map(|tag| match tag.key.as_str() {
            NOTE_TAG => Some("note edited".to_string()),
            RUN_NAME_TAG => None,
            key if key.starts_with("mlflow.") || key.starts_with("cairn.") => None,
            key => Some(format!(
                "tag {key} = {}",
                validation::truncate_chars(&tag.value, 100)
            )),
        })
        .collect()
}

pub(crate) fn normalize_run_tags(tags: Vec<Tag>) -> ApiResult<Vec<Tag>> {
    Ok(tags
        .into_iter()
        .map(validation::normalize_run_tag)
        .collect::<Result<Vec<_>, _>>()?)
}

/// Parses a status given by a client.
pub fn parse_status(text: &str) -> Option<RunStatus> {
    RunStatus::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_paths() {
        assert_eq!(
            proxied_path("mlflow-artifacts:/1/abc/artifacts")
                .unwrap()
                .as_string(),
            "1/abc/artifacts"
        );
        assert_eq!(
            proxied_path("mlflow-artifacts:///1/x").unwrap().as_string(),
            "1/x"
        );
        assert_eq!(
            proxied_path("mlflow-artifacts://host:5000/1/x")
                .unwrap()
                .as_string(),
            "1/x"
        );
        assert!(proxied_path("s3://bucket/x").is_none());
        assert!(proxied_path("mlflow-artifacts:/../x").is_none());
    }
}
