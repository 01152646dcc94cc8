//! The embedded SQLite backend.
//!
//! One file in WAL mode. All writes go through one writer thread (`writer`) that owns the only
//! write connection and commits queued jobs in groups; reads run on a small pool of read-only
//! connections via `spawn_blocking`, each inside one read transaction (a consistent snapshot).
//! Nothing here blocks the async runtime.
//!
//! Durability: the writer runs with `synchronous=FULL` in WAL mode, so a committed group is
//! fsynced before any of its jobs is answered: acknowledged writes survive a process crash *and*
//! a power loss. Group commit amortises the fsync over every job of the group.
//!
//! Submodules: [`schema`] (tables + migrations), `writer` (group commit), `experiments`,
//! `runs` (run writes and loading), `search` (runs search compiled to SQL), `series` (the metric
//! engine: raw segments, chunks, merged reads, downsampling), `compactor` (the background thread
//! that folds raw segments into chunks), `metrics` (MLflow's history reads on top of `series`),
//! `models` (logged models), `auth` (users, tokens, sessions, audit log), `alerts` (rules, firings, deliveries), `comments`, `lineage` (the lineage graph's edges), `registry` (the model registry and its `RegistryStore` impl), `artifacts` (the artifact catalogue: manifests, blob rows, leases,
//! uploads in parts), `token` (page tokens), `sql` (shared helpers).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use cairn_core::model::{
    DatasetInput, Experiment, LifecycleStage, LoggedModel, LoggedModelStatus, Metric, ModelInput,
    ModelOutput, NewExperiment, NewLoggedModel, NewRun, Page, Param, Run, RunInfo, RunUpdate, Tag,
};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, mpsc};

use crate::{
    ArtifactLocation, ArtifactStore, BlobInfo, CompactionStats, ExperimentKeys, ExperimentSearch,
    Garbage, HistoryRequest, Lease, Listed, Logged, LoggedModelSearch, ManifestEntry, MetaStore,
    MetricStore, PointsRead, Result, RetentionPolicy, RunSearch, RunSeries, SampledHistoryRequest,
    SeriesPoints, SeriesRequest, SeriesSummary, SeriesView, StoreError, StoreStats, Upload,
    UploadPart,
};

mod access;
mod alerts;
pub(crate) mod artifacts;
mod auth;
mod comments;
pub(crate) mod compactor;
mod experiments;
pub(crate) mod lineage;
pub(crate) mod metrics;
mod models;
pub(crate) mod registry;
pub(crate) mod retention;
pub(crate) mod runs;
pub mod schema;
mod search;
pub(crate) mod series;
pub mod snapshot;
pub(crate) mod sql;
pub(crate) mod token;
mod writer;

use writer::{Job, TypedJob};

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        match &error {
            rusqlite::Error::SqliteFailure(failure, _)
                if matches!(
                    failure.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                StoreError::Unavailable(format!("database is busy: {error}"))
            }
            _ if is_disk_full(&error) => StoreError::Unavailable(format!(
                "the disk holding the database is full ({error}): free space and retry"
            )),
            _ => StoreError::Internal(error.to_string()),
        }
    }
}

/// Whether SQLite failed for want of disk space (`SQLITE_FULL`, or a write or fsync that hit
/// ENOSPC).
fn is_disk_full(error: &rusqlite::Error) -> bool {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => {
            failure.code == rusqlite::ErrorCode::DiskFull
                || (failure.code == rusqlite::ErrorCode::SystemIoFailure
                    && error.to_string().contains("disk is full"))
        }
        _ => false,
    }
}

/// How long a write waits for room in the writer's queue before it is refused as `Busy`.
const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The embedded store. Cheap to clone: clones share the writer thread and the reader pool; the
/// writer stops (after draining its queue) when the last clone is dropped.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish()
    }
}

struct Inner {
    path: PathBuf,
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    writer: Option<JoinHandle<()>>,
    compactor: Option<JoinHandle<()>>,
    compactor_commands: Mutex<Option<std::sync::mpsc::SyncSender<compactor::Command>>>,
    readers: Arc<ReaderPool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The compactor holds a writer handle: stop it first. Then closing the queue lets the
        // writer drain what is queued and exit; waiting for it means the file is closed when the
        // last handle is gone (a reopen sees everything).
        if let Ok(mut commands) = self.compactor_commands.lock() {
            commands.take();
        }
        if let Some(handle) = self.compactor.take() {
            let _ = handle.join();
        }
        // Read-only connections cannot checkpoint: close them first, so that the writer's
        // connection is the last one and leaves a checkpointed file without a WAL.
        if let Ok(mut idle) = self.readers.idle.lock() {
            idle.clear();
        }
        self.queue.take();
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

struct ReaderPool {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    /// Connections in the pool.
    size: usize,
}

fn writer_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Takes effect only while the file is new. Chunks of a few kilobytes waste less of a page
    // when pages are larger (SQLite keeps each overflowing row's remainder on its leaf page).
    conn.execute_batch("PRAGMA page_size = 16384")?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Internal(format!(
            "could not switch {} to WAL mode (got {mode})",
            path.display()
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -32768;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    register_functions(&conn)?;
    Ok(conn)
}

fn reader_connection(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32768; PRAGMA mmap_size = 1073741824;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    register_functions(&conn)?;
    Ok(conn)
}

/// SQL functions the query builders use. `cairn_ilike(value, pattern)` is the filter language's
/// `ILIKE` with full Unicode case folding (SQLite's own `lower()` folds ASCII only), so SQL and
/// the reference evaluator in `cairn-core` agree.
fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "cairn_ilike",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let value: Option<String> = ctx.get(0)?;
            let pattern: Option<String> = ctx.get(1)?;
            Ok(match (value, pattern) {
                (Some(value), Some(pattern)) => cairn_core::filter::ilike_matches(&value, &pattern),
                _ => false,
            })
        },
    )?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, migrates it to the current schema and
    /// makes sure the `Default` experiment (id 0) exists.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Internal(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let mut conn = writer_connection(path)?;
        schema::migrate(&mut conn)?;
        experiments::ensure_default(&conn)?;

        let reader_count = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4)
            .clamp(2, 8);
        let mut idle = Vec::with_capacity(reader_count);
        for _ in 0..reader_count {
            idle.push(reader_connection(path)?);
        }

        let (queue, receiver) = mpsc::channel(writer::QUEUE_DEPTH);
        let compactor_queue = queue.clone();
        let writer = std::thread::Builder::new()
            .name("cairn-sqlite-writer".to_string())
            .spawn(move || writer::run_writer(conn, receiver))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        let compactor_conn = reader_connection(path)?;
        let (commands, command_receiver) = std::sync::mpsc::sync_channel(16);
        let compactor = std::thread::Builder::new()
            .name("cairn-compactor".to_string())
            .spawn(move || compactor::run(compactor_conn, compactor_queue, command_receiver))
            .map_err(|e| StoreError::Internal(format!("cannot start the compactor: {e}")))?;

        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                queue: Some(queue),
                writer: Some(writer),
                compactor: Some(compactor),
                compactor_commands: Mutex::new(Some(commands)),
                readers: Arc::new(ReaderPool {
                    idle: Mutex::new(idle),
                    permits: Arc::new(Semaphore::new(reader_count)),
                    size: reader_count,
                }),
            }),
        })
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` on the writer thread inside the next group's transaction; answers after commit.
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (job, answer) = TypedJob::boxed(Box::new(work));
        let queue = self
            .inner
            .queue
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("the store is closed".to_string()))?;
        queue
            .send_timeout(job, QUEUE_WAIT)
            .await
            .map_err(|error| match error {
                mpsc::error::SendTimeoutError::Timeout(_) => StoreError::Busy(
                    "the server is writing as fast as it can; retry after a short pause"
                        .to_string(),
                ),
                mpsc::error::SendTimeoutError::Closed(_) => {
                    StoreError::Unavailable("the store is shutting down".to_string())
                }
            })?;
        answer
            .await
            .map_err(|_| StoreError::Internal("the writer stopped before answering".to_string()))?
    }

    /// Tells the compactor that something may be due (never waits).
    fn nudge_compactor(&self) {
        if let Ok(commands) = self.inner.compactor_commands.lock()
            && let Some(commands) = commands.as_ref()
        {
            let _ = commands.try_send(compactor::Command::Nudge);
        }
    }

    /// Runs `work` on a pooled read-only connection, in one read transaction, off the runtime.
    async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let readers = Arc::clone(&self.inner.readers);
        let permit = Arc::clone(&readers.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = readers
                .idle
                .lock()
                .map_err(|_| StoreError::Internal("reader pool poisoned".to_string()))?
                .pop()
                .ok_or_else(|| StoreError::Internal("reader pool is empty".to_string()))?;
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                in_read_transaction(&conn, work)
            }))
            .unwrap_or_else(|_| Err(StoreError::Internal("read panicked".to_string())));
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            if let Ok(mut idle) = readers.idle.lock() {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }
}

/// Runs `work` inside one read transaction: a consistent snapshot across its queries.
fn in_read_transaction<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    conn.execute_batch("BEGIN")?;
    let result = work(conn);
    let _ = conn.execute_batch("COMMIT");
    result
}

#[async_trait]
impl MetaStore for SqliteStore {
    async fn create_experiment(
        &self,
        experiment: NewExperiment,
        location: ArtifactLocation,
    ) -> Result<String> {
        self.write(move |conn| experiments::create(conn, &experiment, &location))
            .await
    }

    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        let id = experiment_id.to_string();
        self.read(move |conn| experiments::get(conn, &id)).await
    }

    async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        let name = name.to_string();
        self.read(move |conn| experiments::get_by_name(conn, &name))
            .await
    }

    async fn stats(&self) -> Result<StoreStats> {
        let write_queue = self.inner.queue.as_ref().map_or(0, |q| {
            writer::QUEUE_DEPTH.saturating_sub(q.capacity()) as u64
        });
        let readers = self.inner.readers.size as u64;
        let readers_busy =
            readers.saturating_sub(self.inner.readers.permits.available_permits() as u64);
        let (running_runs, blobs, blob_bytes) = self
            .read(|conn| {
                let running: i64 = conn.query_row(
                    "SELECT COUNT(*) FROM runs WHERE status = 'RUNNING' AND lifecycle_stage = 'active'",
                    [],
                    |row| row.get(0),
                )?;
                let (blobs, bytes): (i64, i64) = conn.query_row(
                    "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs WHERE state = 'live'",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?;
                Ok((running.max(0) as u64, blobs.max(0) as u64, bytes.max(0) as u64))
            })
            .await?;
        Ok(StoreStats {
            running_runs,
            blobs,
            blob_bytes,
            write_queue,
            // Counted before this call's own read took a connection.
            readers_busy,
            readers,
        })
    }

    async fn search_experiments(&self, search: ExperimentSearch) -> Result<Page<Experiment>> {
        self.read(move |conn| experiments::search(conn, &search))
            .await
    }

    async fn rename_experiment(&self, experiment_id: &str, new_name: &str, now: i64) -> Result<()> {
        let (id, name) = (experiment_id.to_string(), new_name.to_string());
        self.write(move |conn| experiments::rename(conn, &id, &name, now))
            .await
    }

    async fn set_experiment_lifecycle(
        &self,
        experiment_id: &str,
        stage: LifecycleStage,
        now: i64,
    ) -> Result<()> {
        let id = experiment_id.to_string();
        self.write(move |conn| experiments::set_lifecycle(conn, &id, stage, now))
            .await
    }

    async fn set_experiment_tag(&self, experiment_id: &str, tag: Tag) -> Result<()> {
        let id = experiment_id.to_string();
        self.write(move |conn| experiments::set_tag(conn, &id, &tag))
            .await
    }

    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()> {
        let (id, key) = (experiment_id.to_string(), key.to_string());
        self.write(move |conn| experiments::delete_tag(conn, &id, &key))
            .await
    }

    async fn create_run(&self, run: NewRun) -> Result<Run> {
        self.write(move |conn| runs::create(conn, &run)).await
    }

    async fn get_run(&self, run_id: &str) -> Result<Run> {
        let id = run_id.to_string();
        self.read(move |conn| runs::get(conn, &id)).await
    }

    async fn get_runs(&self, run_ids: &[String]) -> Result<Vec<Run>> {
        let ids = run_ids.to_vec();
        self.read(move |conn| runs::get_many(conn, &ids)).await
    }

    async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo> {
        let id = run_id.to_string();
        self.write(move |conn| runs::update(conn, &id, &update))
            .await
    }

    async fn set_run_lifecycle(&self, run_id: &str, stage: LifecycleStage, now: i64) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |conn| runs::set_lifecycle(conn, &id, stage, now))
            .await
    }

    async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<Param>,
        tags: Vec<Tag>,
    ) -> Result<()> {
        let id = run_id.to_string();
        let batches = series::batches_from_metrics(&metrics);
        let appended = self
            .write(move |conn| runs::log_batch(conn, &id, &metrics, batches, &params, &tags))
            .await?;
        if appended.compact {
            self.nudge_compactor();
        }
        Ok(())
    }

    async fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()> {
        let (id, key) = (run_id.to_string(), key.to_string());
        self.write(move |conn| runs::delete_tag(conn, &id, &key))
            .await
    }

    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |conn| runs::log_inputs(conn, &id, &datasets, &models))
            .await
    }

    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |conn| runs::log_outputs(conn, &id, &models))
            .await
    }

    async fn search_runs(&self, search: RunSearch) -> Result<Page<Run>> {
        self.read(move |conn| search::search_runs(conn, &search))
            .await
    }

    async fn count_runs(&self, search: RunSearch) -> Result<usize> {
        self.read(move |conn| search::count_runs(conn, &search))
            .await
    }

    async fn experiment_keys(&self, experiment_id: &str, limit: usize) -> Result<ExperimentKeys> {
        let id = experiment_id.to_string();
        self.read(move |conn| experiments::keys(conn, &id, limit))
            .await
    }

    async fn active_run_counts(&self, experiment_ids: &[String]) -> Result<Vec<(String, u64)>> {
        let ids = experiment_ids.to_vec();
        self.read(move |conn| experiments::active_run_counts(conn, &ids))
            .await
    }

    async fn create_logged_model(&self, model: NewLoggedModel) -> Result<LoggedModel> {
        self.write(move |conn| models::create(conn, &model)).await
    }

    async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        let id = model_id.to_string();
        self.read(move |conn| models::get(conn, &id)).await
    }

    async fn set_logged_model_status(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
        status_message: Option<String>,
        now: i64,
    ) -> Result<LoggedModel> {
        let id = model_id.to_string();
        self.write(move |conn| {
            models::set_status(conn, &id, status, status_message.as_deref(), now)
        })
        .await
    }

    async fn delete_logged_model(&self, model_id: &str, now: i64) -> Result<()> {
        let id = model_id.to_string();
        self.write(move |conn| models::delete(conn, &id, now)).await
    }

    async fn set_logged_model_tags(
        &self,
        model_id: &str,
        tags: Vec<Tag>,
        now: i64,
    ) -> Result<LoggedModel> {
        let id = model_id.to_string();
        self.write(move |conn| models::set_tags(conn, &id, &tags, now))
            .await
    }

    async fn delete_logged_model_tag(&self, model_id: &str, key: &str, now: i64) -> Result<()> {
        let (id, key) = (model_id.to_string(), key.to_string());
        self.write(move |conn| models::delete_tag(conn, &id, &key, now))
            .await
    }

    async fn log_logged_model_params(
        &self,
        model_id: &str,
        params: Vec<Param>,
        now: i64,
    ) -> Result<()> {
        let id = model_id.to_string();
        self.write(move |conn| models::log_params(conn, &id, &params, now))
            .await
    }

    async fn search_logged_models(&self, search: LoggedModelSearch) -> Result<Page<LoggedModel>> {
        self.read(move |conn| models::search(conn, &search)).await
    }
}

#[async_trait]
impl MetricStore for SqliteStore {
    async fn history(&self, request: HistoryRequest) -> Result<Page<Metric>> {
        self.read(move |conn| metrics::history(conn, &request))
            .await
    }

    async fn sampled_history(&self, request: SampledHistoryRequest) -> Result<Vec<RunSeries>> {
        self.read(move |conn| metrics::sampled_history(conn, &request))
            .await
    }

    async fn log_points(
        &self,
        run_id: &str,
        series: Vec<SeriesPoints>,
        idempotency_key: Option<String>,
    ) -> Result<Logged> {
        let id = run_id.to_string();
        let batches: Vec<series::Batch> = series
            .into_iter()
            .map(|s| series::Batch {
                key: s.key,
                points: s.points,
                links: Vec::new(),
            })
            .collect();
        let (logged, compact) = self
            .write(move |conn| {
                let (run, _) = runs::require_active(conn, &id)?;
                let now = sql::now_ms();
                if let Some(key) = &idempotency_key
                    && let Some(earlier) = series::earlier_answer(conn, run, key)?
                {
                    return Ok((
                        Logged {
                            accepted: earlier,
                            replay: true,
                        },
                        false,
                    ));
                }
                let appended = series::append(conn, run, batches, now)?;
                if let Some(key) = &idempotency_key {
                    series::remember_answer(conn, run, key, appended.points, now)?;
                }
                Ok((
                    Logged {
                        accepted: appended.points,
                        replay: false,
                    },
                    appended.compact,
                ))
            })
            .await?;
        if compact {
            self.nudge_compactor();
        }
        Ok(logged)
    }

    async fn points(
        &self,
        run_id: &str,
        key: &str,
        from_step: Option<i64>,
        to_step: Option<i64>,
    ) -> Result<PointsRead> {
        let (run_id, key) = (run_id.to_string(), key.to_string());
        self.read(move |conn| {
            let run = metrics::run_key(conn, &run_id)?
                .ok_or_else(|| StoreError::run_not_found(&run_id))?;
            match series::series_id(conn, run, &key)? {
                Some(id) => series::points(
                    conn,
                    id,
                    from_step.unwrap_or(i64::MIN),
                    to_step.unwrap_or(i64::MAX),
                ),
                None => Ok(PointsRead::default()),
            }
        })
        .await
    }

    async fn set_retention(
        &self,
        experiment_id: &str,
        policy: Option<RetentionPolicy>,
    ) -> Result<()> {
        let id = experiment_id.to_string();
        self.write(move |conn| retention::set(conn, &id, policy))
            .await
    }

    async fn retention(&self, experiment_id: &str) -> Result<Option<RetentionPolicy>> {
        let id = experiment_id.to_string();
        self.read(move |conn| retention::get(conn, &id)).await
    }

    async fn series(&self, request: SeriesRequest) -> Result<SeriesView> {
        let (grid, targets) = self
            .read(move |conn| series::plan_view(conn, &request))
            .await?;
        // Runs are independent: downsample them on every reader connection at once.
        let lanes = self.inner.readers.size.min(targets.len()).max(1);
        let per_lane = targets.len().div_ceil(lanes).max(1);
        let parts = targets
            .chunks(per_lane)
            .map(|part| {
                let part = part.to_vec();
                self.read(move |conn| series::view_runs(conn, grid, &part))
            })
            .collect::<Vec<_>>();
        let runs = futures::future::try_join_all(parts)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(SeriesView { grid, runs })
    }

    async fn summaries(
        &self,
        run_ids: Vec<String>,
        keys: Vec<String>,
    ) -> Result<Vec<SeriesSummary>> {
        self.read(move |conn| series::summaries(conn, &run_ids, &keys))
            .await
    }

    async fn compact(&self) -> Result<CompactionStats> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let commands = self
            .inner
            .compactor_commands
            .lock()
            .map_err(|_| StoreError::Internal("compactor handle poisoned".to_string()))?
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the store is closed".to_string()))?;
        tokio::task::spawn_blocking(move || {
            commands
                .send(compactor::Command::Force(reply))
                .map_err(|_| StoreError::Unavailable("the compactor stopped".to_string()))?;
            answer
                .recv()
                .map_err(|_| StoreError::Internal("the compactor stopped".to_string()))?
        })
        .await
        .map_err(|e| StoreError::Internal(format!("compaction task failed: {e}")))?
    }
}

#[async_trait]
impl ArtifactStore for SqliteStore {
    async fn lease_blob(
        &self,
        lease: &str,
        digest: &str,
        _now: i64,
        expires: i64,
    ) -> Result<Lease> {
        let (lease, digest) = (lease.to_string(), digest.to_string());
        self.write(move |conn| artifacts::lease_blob(conn, &lease, &digest, expires))
            .await
    }

    async fn release_lease(&self, lease: &str) -> Result<()> {
        let lease = lease.to_string();
        self.write(move |conn| artifacts::release_lease(conn, &lease))
            .await
    }

    async fn put_artifact(&self, entry: ManifestEntry, lease: Option<&str>) -> Result<()> {
        let lease = lease.map(str::to_string);
        self.write(move |conn| artifacts::put(conn, &entry, lease.as_deref()))
            .await
    }

    async fn get_artifact(&self, path: &str) -> Result<Option<ManifestEntry>> {
        let path = path.to_string();
        self.read(move |conn| artifacts::get(conn, &path)).await
    }

    async fn list_artifacts(&self, dir: &str) -> Result<Option<Vec<Listed>>> {
        let dir = dir.to_string();
        self.read(move |conn| artifacts::list(conn, &dir)).await
    }

    async fn walk_artifacts(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ManifestEntry>> {
        let (prefix, after) = (prefix.to_string(), after.map(str::to_string));
        self.read(move |conn| artifacts::walk(conn, &prefix, after.as_deref(), limit))
            .await
    }

    async fn delete_artifacts(&self, path: &str) -> Result<u64> {
        let path = path.to_string();
        self.write(move |conn| artifacts::delete(conn, &path)).await
    }

    async fn blob_info(&self, digest: &str) -> Result<Option<BlobInfo>> {
        let digest = digest.to_string();
        self.read(move |conn| artifacts::blob_info(conn, &digest))
            .await
    }

    async fn blob_references(&self, digest: &str, limit: usize) -> Result<Vec<ManifestEntry>> {
        let digest = digest.to_string();
        self.read(move |conn| artifacts::blob_references(conn, &digest, limit))
            .await
    }

    async fn deleted_artifact_roots(&self, cutoff: i64) -> Result<Vec<String>> {
        self.read(move |conn| artifacts::deleted_roots(conn, cutoff))
            .await
    }

    async fn garbage(&self, now: i64, created_before: i64, limit: usize) -> Result<Vec<Garbage>> {
        self.read(move |conn| artifacts::garbage(conn, now, created_before, limit))
            .await
    }

    async fn claim_garbage(
        &self,
        now: i64,
        created_before: i64,
        limit: usize,
    ) -> Result<Vec<Garbage>> {
        self.write(move |conn| artifacts::claim_garbage(conn, now, created_before, limit))
            .await
    }

    async fn claim_orphan(&self, digest: &str, size: u64, now: i64) -> Result<bool> {
        let digest = digest.to_string();
        self.write(move |conn| artifacts::claim_orphan(conn, &digest, size, now))
            .await
    }

    async fn forget_blobs(&self, digests: &[String]) -> Result<()> {
        if digests.is_empty() {
            return Ok(());
        }
        let digests = digests.to_vec();
        self.write(move |conn| artifacts::forget_blobs(conn, &digests))
            .await
    }

    async fn create_upload(&self, upload: Upload) -> Result<()> {
        self.write(move |conn| artifacts::create_upload(conn, &upload))
            .await
    }

    async fn get_upload(&self, id: &str) -> Result<Option<Upload>> {
        let id = id.to_string();
        self.read(move |conn| artifacts::get_upload(conn, &id))
            .await
    }

    async fn put_upload_part(&self, id: &str, part: UploadPart) -> Result<()> {
        let id = id.to_string();
        self.write(move |conn| artifacts::put_upload_part(conn, &id, &part))
            .await
    }

    async fn upload_parts(&self, id: &str) -> Result<Vec<UploadPart>> {
        let id = id.to_string();
        self.read(move |conn| artifacts::upload_parts(conn, &id))
            .await
    }

    async fn delete_upload(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.write(move |conn| artifacts::delete_upload(conn, &id))
            .await
    }

    async fn stale_uploads(&self, created_before: i64, limit: usize) -> Result<Vec<Upload>> {
        self.read(move |conn| artifacts::stale_uploads(conn, created_before, limit))
            .await
    }
}
