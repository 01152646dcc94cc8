//! MLflow 3 logged models: create, read, status, soft delete, tags, params, search; the
//! PostgreSQL port of `sqlite/models.rs`, with the same semantics and order.
//!
//! A model's metrics are every point logged with its `model_id` through `log_batch` (the table
//! `logged_model_metrics`, written by [`super::runs`]). "Latest" for filters and ordering uses the
//! same rule as runs: largest step, then timestamp, then value (NaN highest); a NaN latest value
//! satisfies no comparison. Ordering by a metric: numbers in the requested direction, then NaN,
//! then models without the metric, in both directions. The search's WHERE and ORDER BY that
//! implement this come from `crate::sqlbuild::models`, shared with SQLite.
//!
//! Differences from the embedded store: a change to a model locks its row (`FOR UPDATE`) when it
//! checks that the model is live, so a concurrent delete waits instead of slipping between the
//! check and the write; creating a model whose id another transaction takes meanwhile fails on
//! the primary key, the write is run again and its check answers "already exists". `is_nan` is a
//! BOOLEAN here, so the NaN rank of the metric order is `is_nan::int` (`Dialect::bool_as_int`).

use std::collections::HashMap;

use cairn_core::model::{
    LifecycleStage, LoggedModel, LoggedModelStatus, Metric, NewLoggedModel, Page, Param, Tag,
};
use postgres::{Row, Transaction};

use super::experiments;
use super::sql::{self, Binds, IN_CHUNK};
use crate::sqlbuild::{self, SearchSql};
use crate::sqlite::token;
use crate::{LoggedModelSearch, Result, StoreError};

const DEFAULT_PAGE: usize = 100;
const COLUMNS: &str = "m.model_id, m.experiment_id, m.name, m.artifact_location, m.creation_timestamp, \
    m.last_updated_timestamp, m.model_type, m.source_run_id, m.status, m.status_message, m.lifecycle_stage";

fn from_row(row: &Row) -> RawModel {
    RawModel {
        model_id: row.get(0),
        experiment_id: row.get(1),
        name: row.get(2),
        artifact_location: row.get(3),
        creation_timestamp: row.get(4),
        last_updated_timestamp: row.get(5),
        model_type: row.get(6),
        source_run_id: row.get(7),
        status: row.get(8),
        status_message: row.get(9),
        lifecycle_stage: row.get(10),
    }
}

struct RawModel {
    model_id: String,
    experiment_id: i64,
    name: String,
    artifact_location: String,
    creation_timestamp: i64,
    last_updated_timestamp: i64,
    model_type: Option<String>,
    source_run_id: Option<String>,
    status: String,
    status_message: Option<String>,
    lifecycle_stage: String,
}

impl RawModel {
    fn into_model(self) -> Result<LoggedModel> {
        Ok(LoggedModel {
            status: LoggedModelStatus::parse(&self.status).ok_or_else(|| {
                StoreError::Internal(format!(
                    "unknown model status {:?} in database",
                    self.status
                ))
            })?,
            lifecycle_stage: sql::parse_stage(&self.lifecycle_stage)?,
            model_id: self.model_id,
            experiment_id: self.experiment_id.to_string(),
            name: self.name,
            artifact_location: self.artifact_location,
            creation_timestamp: self.creation_timestamp,
            last_updated_timestamp: self.last_updated_timestamp,
            model_type: self.model_type,
            source_run_id: self.source_run_id,
            status_message: self.status_message,
            tags: Vec::new(),
            params: Vec::new(),
            metrics: Vec::new(),
        })
    }
}

/// Fails with NotFound unless the model exists and is not deleted; locks its row until the
/// transaction ends.
fn require_live(tx: &mut Transaction<'_>, model_id: &str) -> Result<()> {
    let stage: Option<String> = tx
        .query_opt(
            "SELECT lifecycle_stage FROM logged_models WHERE model_id = $1 FOR UPDATE",
            &[&model_id],
        )?
        .map(|row| row.get(0));
    match stage.as_deref().map(sql::parse_stage).transpose()? {
        Some(LifecycleStage::Active) => Ok(()),
        _ => Err(StoreError::logged_model_not_found(model_id)),
    }
}

fn upsert_tags(tx: &mut Transaction<'_>, model_id: &str, tags: &[Tag]) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let statement = tx.prepare(
        "INSERT INTO logged_model_tags (model_id, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
    )?;
    for tag in tags {
        tx.execute(&statement, &[&model_id, &tag.key, &tag.value])?;
    }
    Ok(())
}

fn upsert_params(tx: &mut Transaction<'_>, model_id: &str, params: &[Param]) -> Result<()> {
    if params.is_empty() {
        return Ok(());
    }
    let statement = tx.prepare(
        "INSERT INTO logged_model_params (model_id, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
    )?;
    for param in params {
        tx.execute(&statement, &[&model_id, &param.key, &param.value])?;
    }
    Ok(())
}

fn touch(tx: &mut Transaction<'_>, model_id: &str, now: i64) -> Result<()> {
    tx.execute(
        "UPDATE logged_models SET last_updated_timestamp = $2 WHERE model_id = $1",
        &[&model_id, &now],
    )?;
    Ok(())
}

pub fn create(tx: &mut Transaction<'_>, model: &NewLoggedModel) -> Result<LoggedModel> {
    let experiment_id = experiments::require_active(tx, &model.experiment_id)?;
    if tx
        .query_opt(
            "SELECT 1 FROM logged_models WHERE model_id = $1",
            &[&model.model_id],
        )?
        .is_some()
    {
        return Err(StoreError::AlreadyExists(format!(
            "Logged model with ID '{}' already exists.",
            model.model_id
        )));
    }
    // A concurrent create of the same id makes this insert fail on the primary key; the write is
    // then run again and the check above answers.
    tx.execute(
        "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_timestamp,
             last_updated_timestamp, model_type, source_run_id, status, status_message, lifecycle_stage)
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, NULL, 'active')",
        &[
            &model.model_id,
            &experiment_id,
            &model.name,
            &model.artifact_location,
            &model.creation_timestamp,
            &model.model_type,
            &model.source_run_id,
            &LoggedModelStatus::Pending.as_str(),
        ],
    )?;
    upsert_tags(tx, &model.model_id, &model.tags)?;
    upsert_params(tx, &model.model_id, &model.params)?;
    get(tx, &model.model_id)
}

pub fn get(tx: &mut Transaction<'_>, model_id: &str) -> Result<LoggedModel> {
    let raw = tx
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM logged_models m WHERE m.model_id = $1 AND m.lifecycle_stage = 'active'"
            ),
            &[&model_id],
        )?
        .map(|row| from_row(&row))
        .ok_or_else(|| StoreError::logged_model_not_found(model_id))?;
    load_models(tx, vec![raw])?
        .pop()
        .ok_or_else(|| StoreError::logged_model_not_found(model_id))
}

pub fn set_status(
    tx: &mut Transaction<'_>,
    model_id: &str,
    status: LoggedModelStatus,
    status_message: Option<&str>,
    now: i64,
) -> Result<LoggedModel> {
    require_live(tx, model_id)?;
    tx.execute(
        "UPDATE logged_models SET status = $2, status_message = $3, last_updated_timestamp = $4 WHERE model_id = $1",
        &[&model_id, &status.as_str(), &status_message, &now],
    )?;
    get(tx, model_id)
}

pub fn delete(tx: &mut Transaction<'_>, model_id: &str, now: i64) -> Result<()> {
    require_live(tx, model_id)?;
    tx.execute(
        "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp = $2 WHERE model_id = $1",
        &[&model_id, &now],
    )?;
    Ok(())
}

pub fn set_tags(
    tx: &mut Transaction<'_>,
    model_id: &str,
    tags: &[Tag],
    now: i64,
) -> Result<LoggedModel> {
    require_live(tx, model_id)?;
    upsert_tags(tx, model_id, tags)?;
    touch(tx, model_id, now)?;
    get(tx, model_id)
}

pub fn delete_tag(tx: &mut Transaction<'_>, model_id: &str, key: &str, now: i64) -> Result<()> {
    require_live(tx, model_id)?;
    let deleted = tx.execute(
        "DELETE FROM logged_model_tags WHERE model_id = $1 AND key = $2",
        &[&model_id, &key],
    )?;
    if deleted == 0 {
        return Err(StoreError::NotFound(format!(
            "No tag with key '{key}' found for logged model '{model_id}'"
        )));
    }
    touch(tx, model_id, now)
}

pub fn log_params(
    tx: &mut Transaction<'_>,
    model_id: &str,
    params: &[Param],
    now: i64,
) -> Result<()> {
    require_live(tx, model_id)?;
    upsert_params(tx, model_id, params)?;
    touch(tx, model_id, now)
}

fn load_models(tx: &mut Transaction<'_>, raws: Vec<RawModel>) -> Result<Vec<LoggedModel>> {
    let ids: Vec<String> = raws.iter().map(|raw| raw.model_id.clone()).collect();
    let position: HashMap<String, usize> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| (id.clone(), index))
        .collect();
    let mut models = raws
        .into_iter()
        .map(RawModel::into_model)
        .collect::<Result<Vec<_>>>()?;
    for chunk in ids.chunks(IN_CHUNK) {
        let chunk = chunk.to_vec();
        for rows_of in ["logged_model_tags", "logged_model_params"] {
            let rows = tx.query(
                &format!(
                    "SELECT model_id, key, value FROM {rows_of} WHERE model_id = ANY($1) ORDER BY model_id, key"
                ),
                &[&chunk],
            )?;
            for row in rows {
                let model_id: String = row.get(0);
                let Some(slot) = position.get(&model_id) else {
                    continue;
                };
                let (key, value): (String, String) = (row.get(1), row.get(2));
                if rows_of == "logged_model_tags" {
                    models[*slot].tags.push(Tag { key, value });
                } else {
                    models[*slot].params.push(Param { key, value });
                }
            }
        }
        let rows = tx.query(
            "SELECT model_id, key, step, timestamp, is_nan, value, run_uuid, dataset_name, dataset_digest
             FROM logged_model_metrics WHERE model_id = ANY($1) ORDER BY model_id, key, step, timestamp, id",
            &[&chunk],
        )?;
        for row in rows {
            let model_id: String = row.get(0);
            let Some(slot) = position.get(&model_id) else {
                continue;
            };
            models[*slot].metrics.push(Metric {
                key: row.get(1),
                step: row.get(2),
                timestamp: row.get(3),
                value: sql::join_value(row.get(4), row.get(5)),
                model_id: Some(model_id.clone()),
                dataset_name: row.get(7),
                dataset_digest: row.get(8),
            });
        }
    }
    Ok(models)
}

pub fn search(tx: &mut Transaction<'_>, search: &LoggedModelSearch) -> Result<Page<LoggedModel>> {
    let query_print = token::fingerprint(&format!(
        "models|{:?}|{:?}|{:?}",
        search.experiment_ids, search.filter, search.order_by
    ));
    let offset = token::decode_offset(search.page_token.as_deref(), query_print)?;
    let limit = if search.max_results == 0 {
        DEFAULT_PAGE
    } else {
        search.max_results
    };
    let experiment_ids: Vec<i64> = search
        .experiment_ids
        .iter()
        .filter_map(|id| cairn_core::ids::parse_experiment_id(id).ok())
        .collect();
    if experiment_ids.is_empty() {
        return Ok(Page {
            items: Vec::new(),
            next_page_token: None,
        });
    }

    let mut binds = Binds::default();
    let SearchSql { where_sql, order } =
        sqlbuild::models::search_sql(search, &experiment_ids, &mut binds);
    let query = format!(
        "SELECT {COLUMNS} FROM logged_models m {where_sql} ORDER BY {order} LIMIT {} OFFSET {}",
        limit + 1,
        offset
    );
    let mut raws: Vec<RawModel> = tx
        .query(&query, &binds.params())?
        .iter()
        .map(from_row)
        .collect();
    let next_page_token = token::offset_page(&mut raws, limit, offset, query_print);
    Ok(Page {
        items: load_models(tx, raws)?,
        next_page_token,
    })
}
