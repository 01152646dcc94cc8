//! MLflow 3 logged models: create, read, status, soft delete, tags, params, search; the
//! PostgreSQL port of `sqlite/models.rs`, with the same semantics and order.
//!
//! A model's metrics are every point logged with its `model_id` through `log_batch` (the table
//! `logged_model_metrics`, written by [`super::runs`]). "Latest" for filters and ordering uses the
//! same rule as runs: largest step, then timestamp, then value (NaN highest); a NaN latest value
//! satisfies no comparison. Ordering by a metric: numbers in the requested direction, then NaN,
//! then models without the metric, in both directions.
//!
//! Differences from the embedded store: a change to a model locks its row (`FOR UPDATE`) when it
//! checks that the model is live, so a concurrent delete waits instead of slipping between the
//! check and the write; creating a model whose id another transaction takes meanwhile fails on
//! the primary key, the write is run again and its check answers "already exists". `is_nan` is a
//! BOOLEAN here, so the NaN rank of the metric order is `is_nan::int`.

use std::collections::HashMap;

use cairn_core::filter::ast::{
    LoggedModelClause, LoggedModelOrderKey, ModelStringAttribute, ModelTimeAttribute,
};
use cairn_core::model::{
    LifecycleStage, LoggedModel, LoggedModelStatus, Metric, NewLoggedModel, Page, Param, Tag,
};
use postgres::{Row, Transaction};

use super::experiments;
use super::sql::{self, Binds, IN_CHUNK};
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

/// `(SELECT <column> FROM the model's latest point of key [for a dataset])`.
fn latest_subquery(
    column: &str,
    key: &str,
    dataset_name: Option<&str>,
    dataset_digest: Option<&str>,
    binds: &mut Binds,
) -> String {
    let mut text = format!(
        "(SELECT {column} FROM logged_model_metrics mm WHERE mm.model_id = m.model_id AND mm.key = {}",
        binds.push(key.to_string())
    );
    if let Some(name) = dataset_name {
        text.push_str(&format!(
            " AND mm.dataset_name = {}",
            binds.push(name.to_string())
        ));
    }
    if let Some(digest) = dataset_digest {
        text.push_str(&format!(
            " AND mm.dataset_digest = {}",
            binds.push(digest.to_string())
        ));
    }
    text.push_str(
        " ORDER BY mm.step DESC, mm.timestamp DESC, mm.is_nan DESC, mm.value DESC LIMIT 1)",
    );
    text
}

fn clause_sql(clause: &LoggedModelClause, binds: &mut Binds) -> String {
    match clause {
        LoggedModelClause::StringAttribute {
            attribute,
            predicate,
        } => {
            let column = match attribute {
                ModelStringAttribute::ModelId => "m.model_id",
                ModelStringAttribute::Name => "m.name",
                ModelStringAttribute::ModelType => "m.model_type",
                ModelStringAttribute::Status => "m.status",
                ModelStringAttribute::SourceRunId => "m.source_run_id",
            };
            sql::string_test(column, predicate, binds)
        }
        LoggedModelClause::TimeAttribute {
            attribute,
            op,
            value,
        } => {
            let column = match attribute {
                ModelTimeAttribute::CreationTimestamp => "m.creation_timestamp",
                ModelTimeAttribute::LastUpdatedTimestamp => "m.last_updated_timestamp",
            };
            format!("{column} {} {}", sql::num_op(*op), binds.push(*value))
        }
        // SQLite binds a NaN operand as NULL, which matches nothing; PostgreSQL would compare
        // NaN as the largest number.
        LoggedModelClause::Metric { value, .. } if value.is_nan() => "false".to_string(),
        LoggedModelClause::Metric { key, op, value } => {
            let latest = latest_subquery(
                "CASE WHEN mm.is_nan THEN NULL ELSE mm.value END",
                key,
                None,
                None,
                binds,
            );
            format!("{latest} {} {}", sql::num_op(*op), binds.push(*value))
        }
        LoggedModelClause::Param { key, predicate } => sql::key_value_clause(
            "logged_model_params",
            "model_id",
            "m.model_id",
            key,
            predicate,
            binds,
        ),
        LoggedModelClause::Tag { key, predicate } => sql::key_value_clause(
            "logged_model_tags",
            "model_id",
            "m.model_id",
            key,
            predicate,
            binds,
        ),
    }
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
    let mut conditions = vec![
        format!("m.experiment_id = ANY({})", binds.push(experiment_ids)),
        "m.lifecycle_stage = 'active'".to_string(),
    ];
    conditions.extend(
        search
            .filter
            .clauses
            .iter()
            .map(|clause| clause_sql(clause, &mut binds)),
    );

    let mut order = Vec::new();
    for entry in &search.order_by {
        let direction = if entry.ascending { "ASC" } else { "DESC" };
        match &entry.key {
            LoggedModelOrderKey::ModelId => order.push(format!("m.model_id {direction}")),
            LoggedModelOrderKey::Name => order.push(format!("m.name {direction}")),
            LoggedModelOrderKey::CreationTimestamp => {
                order.push(format!("m.creation_timestamp {direction}"))
            }
            LoggedModelOrderKey::LastUpdatedTimestamp => {
                order.push(format!("m.last_updated_timestamp {direction}"))
            }
            LoggedModelOrderKey::Status => order.push(format!("m.status {direction}")),
            LoggedModelOrderKey::ModelType => {
                order.push(format!("(m.model_type IS NULL), m.model_type {direction}"))
            }
            LoggedModelOrderKey::SourceRunId => order.push(format!(
                "(m.source_run_id IS NULL), m.source_run_id {direction}"
            )),
            LoggedModelOrderKey::Metric {
                key,
                dataset_name,
                dataset_digest,
            } => {
                let (name, digest) = (dataset_name.as_deref(), dataset_digest.as_deref());
                let rank = latest_subquery("mm.is_nan::int", key, name, digest, &mut binds);
                let value = latest_subquery("mm.value", key, name, digest, &mut binds);
                order.push(format!("coalesce({rank}, 2) ASC, {value} {direction}"));
            }
        }
    }
    if search.order_by.is_empty() {
        order.push("m.creation_timestamp DESC".to_string());
    }
    order.push("m.model_id ASC".to_string());

    let query = format!(
        "SELECT {COLUMNS} FROM logged_models m WHERE {} ORDER BY {} LIMIT {} OFFSET {}",
        conditions.join(" AND "),
        order.join(", "),
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
