//! MLflow 3 logged models: create, read, status, soft delete, tags, params, search.
//!
//! A model's metrics are every point logged with its `model_id` through `log_batch` (the table
//! `logged_model_metrics`, written by [`super::runs`]). "Latest" for filters and ordering uses the
//! same rule as runs: largest step, then timestamp, then value (NaN highest); a NaN latest value
//! satisfies no comparison. Ordering by a metric: numbers in the requested direction, then NaN,
//! then models without the metric, in both directions. The search's WHERE and ORDER BY that
//! implement this come from `crate::sqlbuild::models`, shared with PostgreSQL.

use std::collections::HashMap;

use cairn_core::model::{
    LifecycleStage, LoggedModel, LoggedModelStatus, Metric, NewLoggedModel, Page, Param, Tag,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::experiments;
use super::sql::{self, Binds, IN_CHUNK};
use super::token;
use crate::sqlbuild::{self, SearchSql};
use crate::{LoggedModelSearch, Result, StoreError};

const DEFAULT_PAGE: usize = 100;
const COLUMNS: &str = "m.model_id, m.experiment_id, m.name, m.artifact_location, m.creation_timestamp, \
    m.last_updated_timestamp, m.model_type, m.source_run_id, m.status, m.status_message, m.lifecycle_stage";

fn from_row(row: &Row<'_>) -> rusqlite::Result<RawModel> {
    Ok(RawModel {
        model_id: row.get(0)?,
        experiment_id: row.get(1)?,
        name: row.get(2)?,
        artifact_location: row.get(3)?,
        creation_timestamp: row.get(4)?,
        last_updated_timestamp: row.get(5)?,
        model_type: row.get(6)?,
        source_run_id: row.get(7)?,
        status: row.get(8)?,
        status_message: row.get(9)?,
        lifecycle_stage: row.get(10)?,
    })
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

/// Fails with NotFound unless the model exists and is not deleted.
fn require_live(conn: &Connection, model_id: &str) -> Result<()> {
    let stage: Option<String> = conn
        .prepare_cached("SELECT lifecycle_stage FROM logged_models WHERE model_id = ?1")?
        .query_row(params![model_id], |row| row.get(0))
        .optional()?;
    match stage.as_deref().map(sql::parse_stage).transpose()? {
        Some(LifecycleStage::Active) => Ok(()),
        _ => Err(StoreError::logged_model_not_found(model_id)),
    }
}

fn upsert_tags(conn: &Connection, model_id: &str, tags: &[Tag]) -> Result<()> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO logged_model_tags (model_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
    )?;
    for tag in tags {
        statement.execute(params![model_id, tag.key, tag.value])?;
    }
    Ok(())
}

fn upsert_params(conn: &Connection, model_id: &str, params: &[Param]) -> Result<()> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO logged_model_params (model_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
    )?;
    for param in params {
        statement.execute(params![model_id, param.key, param.value])?;
    }
    Ok(())
}

fn touch(conn: &Connection, model_id: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE logged_models SET last_updated_timestamp = ?2 WHERE model_id = ?1",
        params![model_id, now],
    )?;
    Ok(())
}

pub fn create(conn: &Connection, model: &NewLoggedModel) -> Result<LoggedModel> {
    let experiment_id = experiments::require_active(conn, &model.experiment_id)?;
    if conn
        .prepare_cached("SELECT 1 FROM logged_models WHERE model_id = ?1")?
        .exists(params![model.model_id])?
    {
        return Err(StoreError::AlreadyExists(format!(
            "Logged model with ID '{}' already exists.",
            model.model_id
        )));
    }
    conn.prepare_cached(
        "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_timestamp,
             last_updated_timestamp, model_type, source_run_id, status, status_message, lifecycle_stage)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, NULL, 'active')",
    )?
    .execute(params![
        model.model_id,
        experiment_id,
        model.name,
        model.artifact_location,
        model.creation_timestamp,
        model.model_type,
        model.source_run_id,
        LoggedModelStatus::Pending.as_str()
    ])?;
    upsert_tags(conn, &model.model_id, &model.tags)?;
    upsert_params(conn, &model.model_id, &model.params)?;
    get(conn, &model.model_id)
}

pub fn get(conn: &Connection, model_id: &str) -> Result<LoggedModel> {
    let raw = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM logged_models m WHERE m.model_id = ?1 AND m.lifecycle_stage = 'active'"))?
        .query_row(params![model_id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::logged_model_not_found(model_id))?;
    load_models(conn, vec![raw])?
        .pop()
        .ok_or_else(|| StoreError::logged_model_not_found(model_id))
}

pub fn set_status(
    conn: &Connection,
    model_id: &str,
    status: LoggedModelStatus,
    status_message: Option<&str>,
    now: i64,
) -> Result<LoggedModel> {
    require_live(conn, model_id)?;
    conn.execute(
        "UPDATE logged_models SET status = ?2, status_message = ?3, last_updated_timestamp = ?4 WHERE model_id = ?1",
        params![model_id, status.as_str(), status_message, now],
    )?;
    get(conn, model_id)
}

pub fn delete(conn: &Connection, model_id: &str, now: i64) -> Result<()> {
    require_live(conn, model_id)?;
    conn.execute(
        "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp = ?2 WHERE model_id = ?1",
        params![model_id, now],
    )?;
    Ok(())
}

pub fn set_tags(conn: &Connection, model_id: &str, tags: &[Tag], now: i64) -> Result<LoggedModel> {
    require_live(conn, model_id)?;
    upsert_tags(conn, model_id, tags)?;
    touch(conn, model_id, now)?;
    get(conn, model_id)
}

pub fn delete_tag(conn: &Connection, model_id: &str, key: &str, now: i64) -> Result<()> {
    require_live(conn, model_id)?;
    let deleted = conn.execute(
        "DELETE FROM logged_model_tags WHERE model_id = ?1 AND key = ?2",
        params![model_id, key],
    )?;
    if deleted == 0 {
        return Err(StoreError::NotFound(format!(
            "No tag with key '{key}' found for logged model '{model_id}'"
        )));
    }
    touch(conn, model_id, now)
}

pub fn log_params(conn: &Connection, model_id: &str, params: &[Param], now: i64) -> Result<()> {
    require_live(conn, model_id)?;
    upsert_params(conn, model_id, params)?;
    touch(conn, model_id, now)
}

fn load_models(conn: &Connection, raws: Vec<RawModel>) -> Result<Vec<LoggedModel>> {
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
        let list = sql::placeholders(chunk.len());
        let queries = [
            format!(
                "SELECT model_id, key, value FROM logged_model_tags WHERE model_id IN {list} ORDER BY model_id, key"
            ),
            format!(
                "SELECT model_id, key, value FROM logged_model_params WHERE model_id IN {list} ORDER BY model_id, key"
            ),
        ];
        for (index, query) in queries.iter().enumerate() {
            let mut statement = conn.prepare_cached(query)?;
            let mut rows = statement.query(rusqlite::params_from_iter(chunk))?;
            while let Some(row) = rows.next()? {
                let model_id: String = row.get(0)?;
                let Some(slot) = position.get(&model_id) else {
                    continue;
                };
                let (key, value): (String, String) = (row.get(1)?, row.get(2)?);
                if index == 0 {
                    models[*slot].tags.push(Tag { key, value });
                } else {
                    models[*slot].params.push(Param { key, value });
                }
            }
        }
        let mut statement = conn.prepare_cached(&format!(
            "SELECT model_id, key, step, timestamp, is_nan, value, run_uuid, dataset_name, dataset_digest
             FROM logged_model_metrics WHERE model_id IN {list} ORDER BY model_id, key, step, timestamp, id"
        ))?;
        let mut rows = statement.query(rusqlite::params_from_iter(chunk))?;
        while let Some(row) = rows.next()? {
            let model_id: String = row.get(0)?;
            let Some(slot) = position.get(&model_id) else {
                continue;
            };
            models[*slot].metrics.push(Metric {
                key: row.get(1)?,
                step: row.get(2)?,
                timestamp: row.get(3)?,
                value: sql::join_value(row.get(4)?, row.get(5)?),
                model_id: Some(model_id.clone()),
                dataset_name: row.get(7)?,
                dataset_digest: row.get(8)?,
            });
        }
    }
    Ok(models)
}

pub fn search(conn: &Connection, search: &LoggedModelSearch) -> Result<Page<LoggedModel>> {
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
    let mut statement = conn.prepare(&query)?;
    let mut raws: Vec<RawModel> = statement
        .query_map(rusqlite::params_from_iter(binds.values), from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let next_page_token = if raws.len() > limit {
        raws.truncate(limit);
        Some(token::encode_offset(query_print, offset + limit))
    } else {
        None
    };
    Ok(Page {
        items: load_models(conn, raws)?,
        next_page_token,
    })
}
