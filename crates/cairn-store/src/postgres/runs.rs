//! Runs: creation, updates, lifecycle, `log_batch` (params, tags, metric history + latest
//! summary, logged-model metrics), inputs/outputs, and the set-based loading of whole runs.
//!
//! The port of `sqlite::runs`; the row checks (`RawInfo::into_info`) are the embedded store's.
//! What differs, and why: there is no single writer here, so every write resolves the run *and
//! locks its row* before it checks it — `FOR SHARE` for appends ([`require_active`]), so that
//! concurrent batches to one run do not queue behind each other while a delete waits for them,
//! and `FOR NO KEY UPDATE` where the run's row itself changes. Rows a concurrent transaction may
//! be inserting too (params, datasets, inputs) are written with `ON CONFLICT`, which waits for
//! that transaction and then sees its row, since a failed statement would abort the whole
//! transaction. A batch is atomic because it is one transaction.

use std::collections::HashMap;

use cairn_core::model::{
    Dataset, DatasetInput, LifecycleStage, Metric, ModelInput, ModelOutput, NewRun, Param, Run,
    RunInfo, RunUpdate, Tag,
};
use cairn_core::validation;
use postgres::types::ToSql;
use postgres::{Row, Transaction};

use super::sql::{self, IN_CHUNK};
use super::{experiments, series};
use crate::sqlite::runs::RUN_NAME_TAG;
use crate::sqlite::runs::RawInfo;
use crate::sqlite::series::{Appended, Batch};
use crate::{Result, StoreError};

/// Columns of [`info_from_row`], for a query over `runs r`.
pub const INFO_COLUMNS: &str = "r.id, r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage";

/// A run's surrogate key with its info.
pub type InfoRow = (i64, RunInfo);

pub fn info_from_row(row: &Row) -> (i64, RawInfo) {
    (
        row.get(0),
        RawInfo {
            run_id: row.get(1),
            experiment_id: row.get(2),
            run_name: row.get(3),
            user_id: row.get(4),
            status: row.get(5),
            start_time: row.get(6),
            end_time: row.get(7),
            artifact_uri: row.get(8),
            lifecycle_stage: row.get(9),
        },
    )
}

/// How a write locks the run's row while it checks the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    /// Rows that belong to the run are written; a delete of the run waits.
    Share,
    /// The run's row itself changes.
    Update,
}

/// A run's surrogate key, experiment and stage, its row locked until commit; NotFound when
/// there is no such run.
fn locate(
    tx: &mut Transaction<'_>,
    run_id: &str,
    lock: Lock,
) -> Result<(i64, i64, LifecycleStage)> {
    let query = match lock {
        Lock::Share => {
            "SELECT id, experiment_id, lifecycle_stage FROM runs WHERE run_uuid = $1 FOR SHARE"
        }
        Lock::Update => {
            "SELECT id, experiment_id, lifecycle_stage FROM runs WHERE run_uuid = $1 FOR NO KEY UPDATE"
        }
    };
    match tx.query_opt(query, &[&run_id])? {
        None => Err(StoreError::run_not_found(run_id)),
        Some(row) => Ok((row.get(0), row.get(1), sql::parse_stage(row.get(2))?)),
    }
}

fn active_locked(tx: &mut Transaction<'_>, run_id: &str, lock: Lock) -> Result<(i64, i64)> {
    match locate(tx, run_id, lock)? {
        (id, experiment_id, LifecycleStage::Active) => Ok((id, experiment_id)),
        _ => Err(StoreError::InvalidArgument(
            validation::inactive_run_message(run_id),
        )),
    }
}

/// The run's `(surrogate key, experiment id)` if it exists and is active. Write transactions
/// only: the row is locked `FOR SHARE` until commit, so appends to the run proceed side by side
/// while a delete of it waits for them.
pub fn require_active(tx: &mut Transaction<'_>, run_id: &str) -> Result<(i64, i64)> {
    active_locked(tx, run_id, Lock::Share)
}

fn upsert_tag(tx: &mut Transaction<'_>, id: i64, key: &str, value: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO tags (run_id, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (run_id, key) DO UPDATE SET value = EXCLUDED.value",
        &[&id, &key, &value],
    )?;
    Ok(())
}

/// A run id taken by a concurrent creation is a unique violation, which re-runs the transaction:
/// the check then answers `AlreadyExists`.
pub fn create(tx: &mut Transaction<'_>, run: &NewRun) -> Result<Run> {
    let experiment_id = experiments::require_active(tx, &run.experiment_id)?;
    if tx
        .query_opt("SELECT 1 FROM runs WHERE run_uuid = $1", &[&run.run_id])?
        .is_some()
    {
        return Err(StoreError::AlreadyExists(format!(
            "Run with id={} already exists",
            run.run_id
        )));
    }
    let tagged_name = run
        .tags
        .iter()
        .rev()
        .find(|tag| tag.key == RUN_NAME_TAG)
        .map(|tag| tag.value.clone());
    let name = if run.run_name.is_empty() {
        tagged_name.unwrap_or_default()
    } else {
        run.run_name.clone()
    };
    let id: i64 = tx
        .query_one(
            "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage)
             VALUES ($1, $2, $3, $4, 'RUNNING', $5, NULL, $6, 'active')
             RETURNING id",
            &[
                &run.run_id,
                &experiment_id,
                &name,
                &run.user_id,
                &run.start_time,
                &run.artifact_uri,
            ],
        )?
        .get(0);
    for tag in &run.tags {
        if tag.key != RUN_NAME_TAG {
            upsert_tag(tx, id, &tag.key, &tag.value)?;
        }
    }
    if !name.is_empty() {
        upsert_tag(tx, id, RUN_NAME_TAG, &name)?;
    }
    if let Some(entry) = &run.created {
        tx.execute(
            "INSERT INTO run_activity (run_id, time, username, change) VALUES ($1, $2, $3, $4)",
            &[&run.run_id, &entry.time, &entry.user, &entry.change],
        )?;
    }
    get(tx, &run.run_id)
}

/// Many runs by id, in the order asked, with a few set-based queries; the first unknown id is
/// an error, as for [`get`].
pub fn get_many(tx: &mut Transaction<'_>, run_ids: &[String]) -> Result<Vec<Run>> {
    let mut found: HashMap<String, InfoRow> = HashMap::with_capacity(run_ids.len());
    for chunk in run_ids.chunks(IN_CHUNK) {
        let rows = tx.query(
            &format!("SELECT {INFO_COLUMNS} FROM runs r WHERE r.run_uuid = ANY($1)"),
            &[&chunk],
        )?;
        for row in &rows {
            let (id, raw) = info_from_row(row);
            let info = raw.into_info()?;
            found.insert(info.run_id.clone(), (id, info));
        }
    }
    if let Some(missing) = run_ids.iter().find(|id| !found.contains_key(*id)) {
        return Err(StoreError::run_not_found(missing));
    }
    // Each run is loaded once, then handed out as often as it was asked for.
    let mut loaded: HashMap<String, Run> = load_runs(tx, found.into_values().collect())?
        .into_iter()
        .map(|run| (run.info.run_id.clone(), run))
        .collect();
    let mut asked: HashMap<&str, usize> = HashMap::new();
    for run_id in run_ids {
        *asked.entry(run_id.as_str()).or_default() += 1;
    }
    let mut runs = Vec::with_capacity(run_ids.len());
    for run_id in run_ids {
        let left = asked.get_mut(run_id.as_str()).expect("counted above");
        *left -= 1;
        let run = if *left > 0 {
            loaded.get(run_id).cloned()
        } else {
            loaded.remove(run_id)
        };
        runs.push(run.ok_or_else(|| StoreError::run_not_found(run_id))?);
    }
    Ok(runs)
}

/// The info rows of runs by key, in the order of `ids` (keys that no longer exist are skipped).
pub fn infos_by_key(tx: &mut Transaction<'_>, ids: &[i64]) -> Result<Vec<InfoRow>> {
    let mut found: HashMap<i64, RunInfo> = HashMap::with_capacity(ids.len());
    for_each_chunk(
        tx,
        ids,
        &format!("SELECT {INFO_COLUMNS} FROM runs r WHERE r.id = ANY($1)"),
        |row| {
            let (id, raw) = info_from_row(row);
            found.insert(id, raw.into_info()?);
            Ok(())
        },
    )?;
    Ok(ids
        .iter()
        .filter_map(|id| found.remove(id).map(|info| (*id, info)))
        .collect())
}

fn info_by_id(tx: &mut Transaction<'_>, id: i64) -> Result<RunInfo> {
    let row = tx.query_one(
        &format!("SELECT {INFO_COLUMNS} FROM runs r WHERE r.id = $1"),
        &[&id],
    )?;
    info_from_row(&row).1.into_info()
}

pub fn get(tx: &mut Transaction<'_>, run_id: &str) -> Result<Run> {
    let row = tx.query_opt(
        &format!("SELECT {INFO_COLUMNS} FROM runs r WHERE r.run_uuid = $1"),
        &[&run_id],
    )?;
    let Some(row) = row else {
        return Err(StoreError::run_not_found(run_id));
    };
    let (id, raw) = info_from_row(&row);
    let mut runs = load_runs(tx, vec![(id, raw.into_info()?)])?;
    runs.pop().ok_or_else(|| StoreError::run_not_found(run_id))
}

pub fn update(tx: &mut Transaction<'_>, run_id: &str, update: &RunUpdate) -> Result<RunInfo> {
    let (id, _) = active_locked(tx, run_id, Lock::Update)?;
    if let Some(status) = update.status {
        tx.execute(
            "UPDATE runs SET status = $2 WHERE id = $1",
            &[&id, &status.as_str()],
        )?;
    }
    if let Some(end_time) = update.end_time {
        tx.execute(
            "UPDATE runs SET end_time = $2 WHERE id = $1",
            &[&id, &end_time],
        )?;
    }
    if let Some(name) = &update.run_name {
        tx.execute("UPDATE runs SET name = $2 WHERE id = $1", &[&id, name])?;
        upsert_tag(tx, id, RUN_NAME_TAG, name)?;
    }
    info_by_id(tx, id)
}

pub fn set_lifecycle(
    tx: &mut Transaction<'_>,
    run_id: &str,
    stage: LifecycleStage,
    now: i64,
) -> Result<()> {
    let (id, _, _) = locate(tx, run_id, Lock::Update)?;
    let deleted_time = match stage {
        LifecycleStage::Deleted => Some(now),
        LifecycleStage::Active => None,
    };
    tx.execute(
        "UPDATE runs SET lifecycle_stage = $2, deleted_time = $3 WHERE id = $1",
        &[&id, &stage.as_str(), &deleted_time],
    )?;
    Ok(())
}

/// Params first (they can fail), then tags, then metrics, in one transaction: any error leaves
/// nothing of the batch behind. A batch that renames the run locks its row for update, any
/// other only shares it.
pub fn log_batch(
    tx: &mut Transaction<'_>,
    run_id: &str,
    metrics: &[Metric],
    batches: Vec<Batch>,
    params: &[Param],
    tags: &[Tag],
) -> Result<Appended> {
    let renames = tags.iter().any(|tag| tag.key == RUN_NAME_TAG);
    let lock = if renames { Lock::Update } else { Lock::Share };
    let (id, experiment_id) = active_locked(tx, run_id, lock)?;

    // Insert first; only a key that already exists costs a second statement. A concurrent
    // insert of the same key makes this one wait for its transaction, then do nothing.
    if !params.is_empty() {
        let insert_param = tx.prepare(
            "INSERT INTO params (run_id, key, value) VALUES ($1, $2, $3) ON CONFLICT (run_id, key) DO NOTHING",
        )?;
        let existing_param =
            tx.prepare("SELECT value FROM params WHERE run_id = $1 AND key = $2")?;
        for param in params {
            if tx.execute(&insert_param, &[&id, &param.key, &param.value])? == 1 {
                continue;
            }
            let old: String = tx.query_one(&existing_param, &[&id, &param.key])?.get(0);
            if old != param.value {
                return Err(StoreError::InvalidArgument(
                    validation::changed_param_message(run_id, &param.key, &old, &param.value),
                ));
            }
        }
    }

    for tag in tags {
        upsert_tag(tx, id, &tag.key, &tag.value)?;
        if tag.key == RUN_NAME_TAG {
            tx.execute(
                "UPDATE runs SET name = $2 WHERE id = $1",
                &[&id, &tag.value],
            )?;
        }
    }

    log_model_metrics(tx, run_id, experiment_id, metrics)?;
    series::append(tx, id, batches, sql::now_ms())
}

/// Points that belong to a logged model are also kept per model (MLflow 3's model metrics).
fn log_model_metrics(
    tx: &mut Transaction<'_>,
    run_id: &str,
    experiment_id: i64,
    metrics: &[Metric],
) -> Result<()> {
    if metrics.iter().all(|metric| metric.model_id.is_none()) {
        return Ok(());
    }
    let insert_model_point = tx.prepare(
        "INSERT INTO logged_model_metrics
         (model_id, key, step, timestamp, is_nan, value, run_uuid, experiment_id, dataset_name, dataset_digest)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT DO NOTHING",
    )?;
    for metric in metrics {
        let Some(model_id) = &metric.model_id else {
            continue;
        };
        let (is_nan, value) = sql::split_value(metric.value);
        tx.execute(
            &insert_model_point,
            &[
                model_id,
                &metric.key,
                &metric.step,
                &metric.timestamp,
                &is_nan,
                &value,
                &run_id,
                &experiment_id,
                &metric.dataset_name,
                &metric.dataset_digest,
            ],
        )?;
    }
    Ok(())
}

pub fn delete_tag(tx: &mut Transaction<'_>, run_id: &str, key: &str) -> Result<()> {
    let (id, _) = require_active(tx, run_id)?;
    let deleted = tx.execute(
        "DELETE FROM tags WHERE run_id = $1 AND key = $2",
        &[&id, &key],
    )?;
    if deleted == 0 {
        return Err(StoreError::NotFound(format!(
            "No tag with name: {key} in run with id {run_id}"
        )));
    }
    Ok(())
}

/// Inserts a row that a concurrent transaction may be inserting too, and returns its id: the
/// insert's own, or the existing row's (which `ON CONFLICT` waited for).
fn insert_or_find(
    tx: &mut Transaction<'_>,
    insert: &postgres::Statement,
    find: &postgres::Statement,
    insert_params: &[&(dyn ToSql + Sync)],
    find_params: &[&(dyn ToSql + Sync)],
) -> Result<i64> {
    if let Some(row) = tx.query_opt(insert, insert_params)? {
        return Ok(row.get(0));
    }
    Ok(tx.query_one(find, find_params)?.get(0))
}

pub fn log_inputs(
    tx: &mut Transaction<'_>,
    run_id: &str,
    datasets: &[DatasetInput],
    models: &[ModelInput],
) -> Result<()> {
    let (id, experiment_id) = require_active(tx, run_id)?;
    if !datasets.is_empty() {
        let insert_dataset = tx.prepare(
            "INSERT INTO datasets (experiment_id, name, digest, source_type, source, schema, profile)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (experiment_id, name, digest) DO NOTHING
             RETURNING id",
        )?;
        let find_dataset = tx.prepare(
            "SELECT id FROM datasets WHERE experiment_id = $1 AND name = $2 AND digest = $3",
        )?;
        let insert_input = tx.prepare(
            "INSERT INTO dataset_inputs (run_id, dataset_id) VALUES ($1, $2)
             ON CONFLICT (run_id, dataset_id) DO NOTHING RETURNING id",
        )?;
        let find_input =
            tx.prepare("SELECT id FROM dataset_inputs WHERE run_id = $1 AND dataset_id = $2")?;
        let upsert_input_tag = tx.prepare(
            "INSERT INTO input_tags (input_id, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (input_id, key) DO UPDATE SET value = EXCLUDED.value",
        )?;
        for input in datasets {
            let dataset = &input.dataset;
            let dataset_id = insert_or_find(
                tx,
                &insert_dataset,
                &find_dataset,
                &[
                    &experiment_id,
                    &dataset.name,
                    &dataset.digest,
                    &dataset.source_type,
                    &dataset.source,
                    &dataset.schema,
                    &dataset.profile,
                ],
                &[&experiment_id, &dataset.name, &dataset.digest],
            )?;
            let input_id = insert_or_find(
                tx,
                &insert_input,
                &find_input,
                &[&id, &dataset_id],
                &[&id, &dataset_id],
            )?;
            for tag in &input.tags {
                tx.execute(&upsert_input_tag, &[&input_id, &tag.key, &tag.value])?;
            }
        }
    }
    if !models.is_empty() {
        let insert_model = tx.prepare(
            "INSERT INTO model_inputs (run_id, model_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )?;
        for model in models {
            tx.execute(&insert_model, &[&id, &model.model_id])?;
        }
    }
    Ok(())
}

pub fn log_outputs(tx: &mut Transaction<'_>, run_id: &str, models: &[ModelOutput]) -> Result<()> {
    let (id, _) = require_active(tx, run_id)?;
    if models.is_empty() {
        return Ok(());
    }
    let insert = tx.prepare(
        "INSERT INTO model_outputs (run_id, model_id, step) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )?;
    for model in models {
        tx.execute(&insert, &[&id, &model.model_id, &model.step])?;
    }
    Ok(())
}

/// Runs `query` (whose `$1` is an array of run keys) once per chunk of `ids` and hands each row
/// to `visit`.
fn for_each_chunk<F>(tx: &mut Transaction<'_>, ids: &[i64], query: &str, mut visit: F) -> Result<()>
where
    F: FnMut(&Row) -> Result<()>,
{
    if ids.is_empty() {
        return Ok(());
    }
    let statement = tx.prepare(query)?;
    for chunk in ids.chunks(IN_CHUNK) {
        for row in tx.query(&statement, &[&chunk])? {
            visit(&row)?;
        }
    }
    Ok(())
}

/// Loads params, tags, latest metrics, dataset inputs and model inputs/outputs for many runs with
/// a handful of set-based queries (never one query per run), preserving the input order.
pub fn load_runs(tx: &mut Transaction<'_>, infos: Vec<InfoRow>) -> Result<Vec<Run>> {
    let ids: Vec<i64> = infos.iter().map(|(id, _)| *id).collect();
    let position: HashMap<i64, usize> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| (*id, index))
        .collect();
    let mut runs: Vec<Run> = infos
        .into_iter()
        .map(|(_, info)| Run {
            info,
            metrics: Vec::new(),
            params: Vec::new(),
            tags: Vec::new(),
            dataset_inputs: Vec::new(),
            model_inputs: Vec::new(),
            model_outputs: Vec::new(),
        })
        .collect();
    let slot = |row: &Row| -> Result<usize> {
        let id: i64 = row.get(0);
        position
            .get(&id)
            .copied()
            .ok_or_else(|| StoreError::Internal("row of an unrequested run".to_string()))
    };

    for_each_chunk(
        tx,
        &ids,
        "SELECT run_id, key, value FROM params WHERE run_id = ANY($1) ORDER BY run_id, key",
        |row| {
            runs[slot(row)?].params.push(Param {
                key: row.get(1),
                value: row.get(2),
            });
            Ok(())
        },
    )?;
    for_each_chunk(
        tx,
        &ids,
        "SELECT run_id, key, value FROM tags WHERE run_id = ANY($1) ORDER BY run_id, key",
        |row| {
            runs[slot(row)?].tags.push(Tag {
                key: row.get(1),
                value: row.get(2),
            });
            Ok(())
        },
    )?;
    for_each_chunk(
        tx,
        &ids,
        "SELECT run_id, key, step, timestamp, is_nan, value FROM latest_metrics
         WHERE run_id = ANY($1) ORDER BY run_id, key",
        |row| {
            let value = sql::join_value(row.get(4), row.get(5));
            runs[slot(row)?].metrics.push(Metric::new(
                row.get::<_, String>(1),
                value,
                row.get(3),
                row.get(2),
            ));
            Ok(())
        },
    )?;

    let mut input_slots: HashMap<i64, (usize, usize)> = HashMap::new();
    for_each_chunk(
        tx,
        &ids,
        "SELECT di.run_id, di.id, d.name, d.digest, d.source_type, d.source, d.schema, d.profile
         FROM dataset_inputs di JOIN datasets d ON d.id = di.dataset_id
         WHERE di.run_id = ANY($1) ORDER BY di.id",
        |row| {
            let run = slot(row)?;
            let input_id: i64 = row.get(1);
            let dataset = Dataset {
                name: row.get(2),
                digest: row.get(3),
                source_type: row.get(4),
                source: row.get(5),
                schema: row.get(6),
                profile: row.get(7),
            };
            input_slots.insert(input_id, (run, runs[run].dataset_inputs.len()));
            runs[run].dataset_inputs.push(DatasetInput {
                tags: Vec::new(),
                dataset,
            });
            Ok(())
        },
    )?;
    if !input_slots.is_empty() {
        for_each_chunk(
            tx,
            &ids,
            "SELECT di.run_id, it.input_id, it.key, it.value
             FROM dataset_inputs di JOIN input_tags it ON it.input_id = di.id
             WHERE di.run_id = ANY($1) ORDER BY it.input_id, it.key",
            |row| {
                let input_id: i64 = row.get(1);
                if let Some((run, index)) = input_slots.get(&input_id) {
                    runs[*run].dataset_inputs[*index].tags.push(Tag {
                        key: row.get(2),
                        value: row.get(3),
                    });
                }
                Ok(())
            },
        )?;
    }
    for_each_chunk(
        tx,
        &ids,
        "SELECT run_id, model_id FROM model_inputs WHERE run_id = ANY($1) ORDER BY id",
        |row| {
            runs[slot(row)?].model_inputs.push(ModelInput {
                model_id: row.get(1),
            });
            Ok(())
        },
    )?;
    for_each_chunk(
        tx,
        &ids,
        "SELECT run_id, model_id, step FROM model_outputs WHERE run_id = ANY($1) ORDER BY id",
        |row| {
            runs[slot(row)?].model_outputs.push(ModelOutput {
                model_id: row.get(1),
                step: row.get(2),
            });
            Ok(())
        },
    )?;
    Ok(runs)
}
