//! Runs: creation, updates, lifecycle, `log_batch` (params, tags, metric history + latest
//! summary, logged-model metrics), inputs/outputs, and the set-based loading of whole runs.
//!
//! Every write first resolves the run inside the transaction ([`require_active`]), so the
//! "run must exist and be active" rule holds under concurrency.

use std::collections::HashMap;

use cairn_core::model::{
    Dataset, DatasetInput, LifecycleStage, Metric, ModelInput, ModelOutput, NewRun, Param, Run,
    RunInfo, RunStatus, RunUpdate, Tag,
};
use cairn_core::validation;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::sql::{self, IN_CHUNK};
use super::{experiments, series};
use crate::{Result, StoreError};

/// The tag that mirrors a run's name.
pub const RUN_NAME_TAG: &str = "mlflow.runName";

/// Columns of [`info_from_row`], for a query over `runs r`.
pub const INFO_COLUMNS: &str = "r.id, r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage";

/// A run's surrogate key with its info.
pub type InfoRow = (i64, RunInfo);

pub fn info_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, RawInfo)> {
    Ok((
        row.get(0)?,
        RawInfo {
            run_id: row.get(1)?,
            experiment_id: row.get(2)?,
            run_name: row.get(3)?,
            user_id: row.get(4)?,
            status: row.get(5)?,
            start_time: row.get(6)?,
            end_time: row.get(7)?,
            artifact_uri: row.get(8)?,
            lifecycle_stage: row.get(9)?,
        },
    ))
}

/// A `runs` row before its enums are checked.
pub struct RawInfo {
    pub(crate) run_id: String,
    pub(crate) experiment_id: i64,
    pub(crate) run_name: String,
    pub(crate) user_id: String,
    pub(crate) status: String,
    pub(crate) start_time: i64,
    pub(crate) end_time: Option<i64>,
    pub(crate) artifact_uri: String,
    pub(crate) lifecycle_stage: String,
}

impl RawInfo {
    pub fn into_info(self) -> Result<RunInfo> {
        Ok(RunInfo {
            status: RunStatus::parse(&self.status).ok_or_else(|| {
                StoreError::Internal(format!("unknown run status {:?} in database", self.status))
            })?,
            lifecycle_stage: sql::parse_stage(&self.lifecycle_stage)?,
            run_id: self.run_id,
            experiment_id: self.experiment_id.to_string(),
            run_name: self.run_name,
            user_id: self.user_id,
            start_time: self.start_time,
            end_time: self.end_time,
            artifact_uri: self.artifact_uri,
        })
    }
}

/// A run's surrogate key, experiment and stage; NotFound when there is no such run.
fn locate(conn: &Connection, run_id: &str) -> Result<(i64, i64, LifecycleStage)> {
    let row: Option<(i64, i64, String)> = conn
        .prepare_cached("SELECT id, experiment_id, lifecycle_stage FROM runs WHERE run_uuid = ?1")?
        .query_row(params![run_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    match row {
        None => Err(StoreError::run_not_found(run_id)),
        Some((id, experiment_id, stage)) => Ok((id, experiment_id, sql::parse_stage(&stage)?)),
    }
}

/// The run's `(surrogate key, experiment id)` if it exists and is active.
pub fn require_active(conn: &Connection, run_id: &str) -> Result<(i64, i64)> {
    match locate(conn, run_id)? {
        (id, experiment_id, LifecycleStage::Active) => Ok((id, experiment_id)),
        _ => Err(StoreError::InvalidArgument(
            validation::inactive_run_message(run_id),
        )),
    }
}

fn upsert_tag(conn: &Connection, id: i64, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO tags (run_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![id, key, value])?;
    Ok(())
}

pub fn create(conn: &Connection, run: &NewRun) -> Result<Run> {
    let experiment_id = experiments::require_active(conn, &run.experiment_id)?;
    if conn
        .prepare_cached("SELECT 1 FROM runs WHERE run_uuid = ?1")?
        .exists(params![run.run_id])?
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
    conn.prepare_cached(
        "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage)
         VALUES (?1, ?2, ?3, ?4, 'RUNNING', ?5, NULL, ?6, 'active')",
    )?
    .execute(params![run.run_id, experiment_id, name, run.user_id, run.start_time, run.artifact_uri])?;
    let id = conn.last_insert_rowid();
    for tag in &run.tags {
        if tag.key != RUN_NAME_TAG {
            upsert_tag(conn, id, &tag.key, &tag.value)?;
        }
    }
    if !name.is_empty() {
        upsert_tag(conn, id, RUN_NAME_TAG, &name)?;
    }
    if let Some(entry) = &run.created {
        conn.prepare_cached(
            "INSERT INTO run_activity (run_id, time, user, change) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![run.run_id, entry.time, entry.user, entry.change])?;
    }
    get(conn, &run.run_id)
}

/// Many runs by id, in the order asked, with a few set-based queries; the first unknown id is
/// an error, as for [`get`].
pub fn get_many(conn: &Connection, run_ids: &[String]) -> Result<Vec<Run>> {
    let mut found: HashMap<String, InfoRow> = HashMap::with_capacity(run_ids.len());
    for chunk in run_ids.chunks(IN_CHUNK) {
        let query = format!(
            "SELECT {INFO_COLUMNS} FROM runs r WHERE r.run_uuid IN {}",
            sql::placeholders(chunk.len())
        );
        let mut statement = conn.prepare_cached(&query)?;
        let mut rows = statement.query(rusqlite::params_from_iter(chunk))?;
        while let Some(row) = rows.next()? {
            let (id, raw) = info_from_row(row)?;
            let info = raw.into_info()?;
            found.insert(info.run_id.clone(), (id, info));
        }
    }
    if let Some(missing) = run_ids.iter().find(|id| !found.contains_key(*id)) {
        return Err(StoreError::run_not_found(missing));
    }
    // Each run is loaded once, then handed out as often as it was asked for.
    let mut loaded: HashMap<String, Run> = load_runs(conn, found.into_values().collect())?
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
pub fn infos_by_key(conn: &Connection, ids: &[i64]) -> Result<Vec<InfoRow>> {
    let mut found: HashMap<i64, RunInfo> = HashMap::with_capacity(ids.len());
    for_each_chunk(
        conn,
        ids,
        &format!("SELECT {INFO_COLUMNS} FROM runs r WHERE r.id IN {{ids}}"),
        |row| {
            let (id, raw) = info_from_row(row)?;
            found.insert(id, raw.into_info()?);
            Ok(())
        },
    )?;
    Ok(ids
        .iter()
        .filter_map(|id| found.remove(id).map(|info| (*id, info)))
        .collect())
}

fn info_by_id(conn: &Connection, id: i64) -> Result<RunInfo> {
    let (_, raw) = conn
        .prepare_cached(&format!(
            "SELECT {INFO_COLUMNS} FROM runs r WHERE r.id = ?1"
        ))?
        .query_row(params![id], info_from_row)?;
    raw.into_info()
}

pub fn get(conn: &Connection, run_id: &str) -> Result<Run> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {INFO_COLUMNS} FROM runs r WHERE r.run_uuid = ?1"
        ))?
        .query_row(params![run_id], info_from_row)
        .optional()?;
    let Some((id, raw)) = row else {
        return Err(StoreError::run_not_found(run_id));
    };
    let mut runs = load_runs(conn, vec![(id, raw.into_info()?)])?;
    runs.pop().ok_or_else(|| StoreError::run_not_found(run_id))
}

pub fn update(conn: &Connection, run_id: &str, update: &RunUpdate) -> Result<RunInfo> {
    let (id, _) = require_active(conn, run_id)?;
    if let Some(status) = update.status {
        conn.execute(
            "UPDATE runs SET status = ?2 WHERE id = ?1",
            params![id, status.as_str()],
        )?;
    }
    if let Some(end_time) = update.end_time {
        conn.execute(
            "UPDATE runs SET end_time = ?2 WHERE id = ?1",
            params![id, end_time],
        )?;
    }
    if let Some(name) = &update.run_name {
        conn.execute("UPDATE runs SET name = ?2 WHERE id = ?1", params![id, name])?;
        upsert_tag(conn, id, RUN_NAME_TAG, name)?;
    }
    info_by_id(conn, id)
}

pub fn set_lifecycle(
    conn: &Connection,
    run_id: &str,
    stage: LifecycleStage,
    now: i64,
) -> Result<()> {
    let (id, _, _) = locate(conn, run_id)?;
    let deleted_time = match stage {
        LifecycleStage::Deleted => Some(now),
        LifecycleStage::Active => None,
    };
    conn.execute(
        "UPDATE runs SET lifecycle_stage = ?2, deleted_time = ?3 WHERE id = ?1",
        params![id, stage.as_str(), deleted_time],
    )?;
    Ok(())
}

/// Params first (they can fail), then tags, then metrics. The caller's savepoint makes the
/// whole batch atomic: any error leaves nothing of it behind.
pub fn log_batch(
    conn: &Connection,
    run_id: &str,
    metrics: &[Metric],
    batches: Vec<series::Batch>,
    params: &[Param],
    tags: &[Tag],
) -> Result<series::Appended> {
    let (id, experiment_id) = require_active(conn, run_id)?;

    // Insert first; only a key that already exists costs a second statement.
    let mut insert_param = conn
        .prepare_cached("INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (run_id, key) DO NOTHING")?;
    let mut existing_param =
        conn.prepare_cached("SELECT value FROM params WHERE run_id = ?1 AND key = ?2")?;
    for param in params {
        if insert_param.execute(params![id, param.key, param.value])? == 1 {
            continue;
        }
        let old: String = existing_param.query_row(params![id, param.key], |row| row.get(0))?;
        if old != param.value {
            return Err(StoreError::InvalidArgument(
                validation::changed_param_message(run_id, &param.key, &old, &param.value),
            ));
        }
    }

    for tag in tags {
        upsert_tag(conn, id, &tag.key, &tag.value)?;
        if tag.key == RUN_NAME_TAG {
            conn.execute(
                "UPDATE runs SET name = ?2 WHERE id = ?1",
                params![id, tag.value],
            )?;
        }
    }

    log_model_metrics(conn, run_id, experiment_id, metrics)?;
    series::append(conn, id, batches, sql::now_ms())
}

/// Points that belong to a logged model are also kept per model (MLflow 3's model metrics).
fn log_model_metrics(
    conn: &Connection,
    run_id: &str,
    experiment_id: i64,
    metrics: &[Metric],
) -> Result<()> {
    let mut insert_model_point = conn.prepare_cached(
        "INSERT OR IGNORE INTO logged_model_metrics
         (model_id, key, step, timestamp, is_nan, value, run_uuid, experiment_id, dataset_name, dataset_digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for metric in metrics {
        let Some(model_id) = &metric.model_id else {
            continue;
        };
        let (is_nan, value) = sql::split_value(metric.value);
        insert_model_point.execute(params![
            model_id,
            metric.key,
            metric.step,
            metric.timestamp,
            is_nan,
            value,
            run_id,
            experiment_id,
            metric.dataset_name,
            metric.dataset_digest
        ])?;
    }
    Ok(())
}

pub fn delete_tag(conn: &Connection, run_id: &str, key: &str) -> Result<()> {
    let (id, _) = require_active(conn, run_id)?;
    let deleted = conn.execute(
        "DELETE FROM tags WHERE run_id = ?1 AND key = ?2",
        params![id, key],
    )?;
    if deleted == 0 {
        return Err(StoreError::NotFound(format!(
            "No tag with name: {key} in run with id {run_id}"
        )));
    }
    Ok(())
}

pub fn log_inputs(
    conn: &Connection,
    run_id: &str,
    datasets: &[DatasetInput],
    models: &[ModelInput],
) -> Result<()> {
    let (id, experiment_id) = require_active(conn, run_id)?;
    let mut insert_dataset = conn.prepare_cached(
        "INSERT INTO datasets (experiment_id, name, digest, source_type, source, schema, profile)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (experiment_id, name, digest) DO NOTHING",
    )?;
    let mut find_dataset = conn.prepare_cached(
        "SELECT id FROM datasets WHERE experiment_id = ?1 AND name = ?2 AND digest = ?3",
    )?;
    let mut insert_input = conn.prepare_cached(
        "INSERT INTO dataset_inputs (run_id, dataset_id) VALUES (?1, ?2) ON CONFLICT (run_id, dataset_id) DO NOTHING",
    )?;
    let mut find_input =
        conn.prepare_cached("SELECT id FROM dataset_inputs WHERE run_id = ?1 AND dataset_id = ?2")?;
    let mut upsert_input_tag = conn.prepare_cached(
        "INSERT INTO input_tags (input_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (input_id, key) DO UPDATE SET value = excluded.value",
    )?;
    for input in datasets {
        let dataset = &input.dataset;
        insert_dataset.execute(params![
            experiment_id,
            dataset.name,
            dataset.digest,
            dataset.source_type,
            dataset.source,
            dataset.schema,
            dataset.profile
        ])?;
        let dataset_id: i64 = find_dataset.query_row(
            params![experiment_id, dataset.name, dataset.digest],
            |row| row.get(0),
        )?;
        insert_input.execute(params![id, dataset_id])?;
        let input_id: i64 = find_input.query_row(params![id, dataset_id], |row| row.get(0))?;
        for tag in &input.tags {
            upsert_input_tag.execute(params![input_id, tag.key, tag.value])?;
        }
    }
    let mut insert_model = conn
        .prepare_cached("INSERT OR IGNORE INTO model_inputs (run_id, model_id) VALUES (?1, ?2)")?;
    for model in models {
        insert_model.execute(params![id, model.model_id])?;
    }
    Ok(())
}

pub fn log_outputs(conn: &Connection, run_id: &str, models: &[ModelOutput]) -> Result<()> {
    let (id, _) = require_active(conn, run_id)?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO model_outputs (run_id, model_id, step) VALUES (?1, ?2, ?3)",
    )?;
    for model in models {
        insert.execute(params![id, model.model_id, model.step])?;
    }
    Ok(())
}

/// Runs one query per chunk of run keys and hands each row to `visit`.
fn for_each_chunk<F>(conn: &Connection, ids: &[i64], template: &str, mut visit: F) -> Result<()>
where
    F: FnMut(&Row<'_>) -> Result<()>,
{
    for chunk in ids.chunks(IN_CHUNK) {
        let query = template.replace("{ids}", &sql::placeholders(chunk.len()));
        let mut statement = conn.prepare_cached(&query)?;
        let mut rows = statement.query(rusqlite::params_from_iter(chunk))?;
        while let Some(row) = rows.next()? {
            visit(row)?;
        }
    }
    Ok(())
}

/// Loads params, tags, latest metrics, dataset inputs and model inputs/outputs for many runs with
/// a handful of set-based queries (never one query per run), preserving the input order.
pub fn load_runs(conn: &Connection, infos: Vec<InfoRow>) -> Result<Vec<Run>> {
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
    let slot = |row: &Row<'_>| -> Result<usize> {
        let id: i64 = row.get(0)?;
        position
            .get(&id)
            .copied()
            .ok_or_else(|| StoreError::Internal("row of an unrequested run".to_string()))
    };

    for_each_chunk(
        conn,
        &ids,
        "SELECT run_id, key, value FROM params WHERE run_id IN {ids}",
        |row| {
            runs[slot(row)?].params.push(Param {
                key: row.get(1)?,
                value: row.get(2)?,
            });
            Ok(())
        },
    )?;
    for_each_chunk(
        conn,
        &ids,
        "SELECT run_id, key, value FROM tags WHERE run_id IN {ids}",
        |row| {
            runs[slot(row)?].tags.push(Tag {
                key: row.get(1)?,
                value: row.get(2)?,
            });
            Ok(())
        },
    )?;
    for_each_chunk(
        conn,
        &ids,
        "SELECT run_id, key, step, timestamp, is_nan, value FROM latest_metrics WHERE run_id IN {ids}",
        |row| {
            let value = sql::join_value(row.get(4)?, row.get(5)?);
            runs[slot(row)?].metrics.push(Metric::new(
                row.get::<_, String>(1)?,
                value,
                row.get(3)?,
                row.get(2)?,
            ));
            Ok(())
        },
    )?;

    let mut input_slots: HashMap<i64, (usize, usize)> = HashMap::new();
    for_each_chunk(
        conn,
        &ids,
        "SELECT di.run_id, di.id, d.name, d.digest, d.source_type, d.source, d.schema, d.profile
         FROM dataset_inputs di JOIN datasets d ON d.id = di.dataset_id
         WHERE di.run_id IN {ids} ORDER BY di.id",
        |row| {
            let run = slot(row)?;
            let input_id: i64 = row.get(1)?;
            let dataset = Dataset {
                name: row.get(2)?,
                digest: row.get(3)?,
                source_type: row.get(4)?,
                source: row.get(5)?,
                schema: row.get(6)?,
                profile: row.get(7)?,
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
            conn,
            &ids,
            "SELECT di.run_id, it.input_id, it.key, it.value
             FROM dataset_inputs di JOIN input_tags it ON it.input_id = di.id
             WHERE di.run_id IN {ids} ORDER BY it.input_id, it.key",
            |row| {
                let input_id: i64 = row.get(1)?;
                if let Some((run, index)) = input_slots.get(&input_id) {
                    runs[*run].dataset_inputs[*index].tags.push(Tag {
                        key: row.get(2)?,
                        value: row.get(3)?,
                    });
                }
                Ok(())
            },
        )?;
    }
    for_each_chunk(
        conn,
        &ids,
        "SELECT run_id, model_id FROM model_inputs WHERE run_id IN {ids} ORDER BY id",
        |row| {
            runs[slot(row)?].model_inputs.push(ModelInput {
                model_id: row.get(1)?,
            });
            Ok(())
        },
    )?;
    for_each_chunk(
        conn,
        &ids,
        "SELECT run_id, model_id, step FROM model_outputs WHERE run_id IN {ids} ORDER BY id",
        |row| {
            runs[slot(row)?].model_outputs.push(ModelOutput {
                model_id: row.get(1)?,
                step: row.get(2)?,
            });
            Ok(())
        },
    )?;
    Ok(runs)
}
