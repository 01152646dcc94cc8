//! `impl MetaStore for PgStore`: experiments, runs, run search and logged models, each one
//! transaction on a pooled connection.
//!
//! The port of `impl MetaStore for SqliteStore`. What differs: write closures may run more than
//! once (a transaction that lost a race is retried from the start), so they borrow what they
//! captured and clone what a callee consumes; `stats` reports no write queue (there is no writer
//! thread here) and the connection pool's use as its readers.

use async_trait::async_trait;
use cairn_core::model::{
    DatasetInput, Experiment, LifecycleStage, LoggedModel, LoggedModelStatus, Metric, ModelInput,
    ModelOutput, NewExperiment, NewLoggedModel, NewRun, Page, Param, Run, RunInfo, RunUpdate, Tag,
};

use super::{PgStore, experiments, models, runs, search};
use crate::sqlite::series::batches_from_metrics;
use crate::{
    ArtifactLocation, ExperimentKeys, ExperimentSearch, LoggedModelSearch, MetaStore, Result,
    RunSearch, StoreStats,
};

#[async_trait]
impl MetaStore for PgStore {
    async fn create_experiment(
        &self,
        experiment: NewExperiment,
        location: ArtifactLocation,
    ) -> Result<String> {
        self.write(move |tx| experiments::create(tx, &experiment, &location))
            .await
    }

    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        let id = experiment_id.to_string();
        self.read(move |tx| experiments::get(tx, &id)).await
    }

    async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        let name = name.to_string();
        self.read(move |tx| experiments::get_by_name(tx, &name))
            .await
    }

    async fn stats(&self) -> Result<StoreStats> {
        // Counted before this call's own read takes a connection.
        let (readers, readers_busy) = self.pool_use();
        let (running_runs, blobs, blob_bytes) = self
            .read(|tx| {
                let running: i64 = tx
                    .query_one(
                        "SELECT COUNT(*) FROM runs WHERE status = 'RUNNING' AND lifecycle_stage = 'active'",
                        &[],
                    )?
                    .get(0);
                let row = tx.query_one(
                    "SELECT COUNT(*), COALESCE(SUM(size), 0)::BIGINT FROM blobs WHERE state = 'live'",
                    &[],
                )?;
                let (blobs, bytes): (i64, i64) = (row.get(0), row.get(1));
                Ok((running.max(0) as u64, blobs.max(0) as u64, bytes.max(0) as u64))
            })
            .await?;
        Ok(StoreStats {
            running_runs,
            blobs,
            blob_bytes,
            write_queue: 0,
            readers_busy,
            readers,
        })
    }

    async fn search_experiments(&self, search: ExperimentSearch) -> Result<Page<Experiment>> {
        self.read(move |tx| experiments::search(tx, &search)).await
    }

    async fn rename_experiment(&self, experiment_id: &str, new_name: &str, now: i64) -> Result<()> {
        let (id, name) = (experiment_id.to_string(), new_name.to_string());
        self.write(move |tx| experiments::rename(tx, &id, &name, now))
            .await
    }

    async fn set_experiment_lifecycle(
        &self,
        experiment_id: &str,
        stage: LifecycleStage,
        now: i64,
    ) -> Result<()> {
        let id = experiment_id.to_string();
        self.write(move |tx| experiments::set_lifecycle(tx, &id, stage, now))
            .await
    }

    async fn set_experiment_tag(&self, experiment_id: &str, tag: Tag) -> Result<()> {
        let id = experiment_id.to_string();
        self.write(move |tx| experiments::set_tag(tx, &id, &tag))
            .await
    }

    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()> {
        let (id, key) = (experiment_id.to_string(), key.to_string());
        self.write(move |tx| experiments::delete_tag(tx, &id, &key))
            .await
    }

    async fn create_run(&self, run: NewRun) -> Result<Run> {
        self.write(move |tx| runs::create(tx, &run)).await
    }

    async fn get_run(&self, run_id: &str) -> Result<Run> {
        let id = run_id.to_string();
        self.read(move |tx| runs::get(tx, &id)).await
    }

    async fn get_runs(&self, run_ids: &[String]) -> Result<Vec<Run>> {
        let ids = run_ids.to_vec();
        self.read(move |tx| runs::get_many(tx, &ids)).await
    }

    async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo> {
        let id = run_id.to_string();
        self.write(move |tx| runs::update(tx, &id, &update)).await
    }

    async fn set_run_lifecycle(&self, run_id: &str, stage: LifecycleStage, now: i64) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |tx| runs::set_lifecycle(tx, &id, stage, now))
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
        let batches = batches_from_metrics(&metrics);
        let appended = self
            .write(move |tx| runs::log_batch(tx, &id, &metrics, batches.clone(), &params, &tags))
            .await?;
        if appended.compact {
            self.nudge_compactor();
        }
        Ok(())
    }

    async fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()> {
        let (id, key) = (run_id.to_string(), key.to_string());
        self.write(move |tx| runs::delete_tag(tx, &id, &key)).await
    }

    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |tx| runs::log_inputs(tx, &id, &datasets, &models))
            .await
    }

    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |tx| runs::log_outputs(tx, &id, &models))
            .await
    }

    async fn search_runs(&self, search: RunSearch) -> Result<Page<Run>> {
        self.read(move |tx| search::search_runs(tx, &search)).await
    }

    async fn count_runs(&self, search: RunSearch) -> Result<usize> {
        self.read(move |tx| search::count_runs(tx, &search)).await
    }

    async fn experiment_keys(&self, experiment_id: &str, limit: usize) -> Result<ExperimentKeys> {
        let id = experiment_id.to_string();
        self.read(move |tx| experiments::keys(tx, &id, limit)).await
    }

    async fn active_run_counts(&self, experiment_ids: &[String]) -> Result<Vec<(String, u64)>> {
        let ids = experiment_ids.to_vec();
        self.read(move |tx| experiments::active_run_counts(tx, &ids))
            .await
    }

    async fn create_logged_model(&self, model: NewLoggedModel) -> Result<LoggedModel> {
        self.write(move |tx| models::create(tx, &model)).await
    }

    async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        let id = model_id.to_string();
        self.read(move |tx| models::get(tx, &id)).await
    }

    async fn set_logged_model_status(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
        status_message: Option<String>,
        now: i64,
    ) -> Result<LoggedModel> {
        let id = model_id.to_string();
        self.write(move |tx| models::set_status(tx, &id, status, status_message.as_deref(), now))
            .await
    }

    async fn delete_logged_model(&self, model_id: &str, now: i64) -> Result<()> {
        let id = model_id.to_string();
        self.write(move |tx| models::delete(tx, &id, now)).await
    }

    async fn set_logged_model_tags(
        &self,
        model_id: &str,
        tags: Vec<Tag>,
        now: i64,
    ) -> Result<LoggedModel> {
        let id = model_id.to_string();
        self.write(move |tx| models::set_tags(tx, &id, &tags, now))
            .await
    }

    async fn delete_logged_model_tag(&self, model_id: &str, key: &str, now: i64) -> Result<()> {
        let (id, key) = (model_id.to_string(), key.to_string());
        self.write(move |tx| models::delete_tag(tx, &id, &key, now))
            .await
    }

    async fn log_logged_model_params(
        &self,
        model_id: &str,
        params: Vec<Param>,
        now: i64,
    ) -> Result<()> {
        let id = model_id.to_string();
        self.write(move |tx| models::log_params(tx, &id, &params, now))
            .await
    }

    async fn search_logged_models(&self, search: LoggedModelSearch) -> Result<Page<LoggedModel>> {
        self.read(move |tx| models::search(tx, &search)).await
    }
}
