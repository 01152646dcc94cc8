//! `search_runs` compiled to one SQL query (then a set-based load of the page's runs); the
//! PostgreSQL port of `sqlite/search.rs`, with the same semantics and order.
//!
//! Filtering: a clause on a param, tag or metric becomes an inner join on that table's
//! `(run_id, key)` primary key (the key is unique per run, so a join never duplicates a run);
//! `IS NULL` / `IS NOT NULL` and dataset clauses become `NOT EXISTS` / `EXISTS` probes; attribute
//! clauses are conditions on `runs`. Values are always bound parameters. Unlike the embedded
//! store, the join order is left to PostgreSQL's planner, which keeps per-column statistics
//! (most common values, histograms) on the `(key, value)` indexes and reorders inner joins
//! itself; the embedded store counts index ranges because SQLite has no such statistics.
//! Semantics:
//! - `!=`, `LIKE`, `IN`, `NOT IN` on params/tags/datasets match only runs that *have* the key;
//!   `IS NULL` matches runs without it.
//! - `LIKE` is case-sensitive; `ILIKE` folds case over all of Unicode like the reference
//!   evaluator (both from [`sql::string_test`]).
//! - metric clauses compare the latest value; a NaN latest value satisfies no comparison at all
//!   (not even `!=`); a run without the metric never matches. A NaN operand matches nothing
//!   either (SQLite binds NaN as NULL; PostgreSQL would compare NaN as the largest number).
//!
//! Ordering, exactly as the embedded store (PostgreSQL puts NULLs last in `ASC` and first in
//! `DESC`, so missing values are always ranked explicitly before the value itself):
//! - metric keys: first a rank, always ascending — 0 for a number, 1 for NaN, 2 for a missing
//!   metric — then the number in the requested direction. So ASC is `-inf … +inf, NaN, missing`
//!   and DESC is `+inf … -inf, NaN, missing`.
//! - params, tags and nullable attributes (`end_time`): present values in the requested direction,
//!   then missing ones, in both directions.
//! - every order ends with `start_time DESC, run_uuid ASC`, which makes it total (stable pages).

use cairn_core::filter::ast::{
    DatasetField, RunClause, RunOrderAttribute, RunOrderKey, RunStringAttribute, RunTimeAttribute,
    StringPredicate,
};
use cairn_core::model::{Page, Run};
use postgres::Transaction;

use super::runs;
use super::sql::{self, Binds};
use crate::sqlite::token;
use crate::{Result, RunSearch};

const DEFAULT_PAGE: usize = 1000;

fn string_attribute(attribute: RunStringAttribute) -> &'static str {
    match attribute {
        RunStringAttribute::RunId => "r.run_uuid",
        RunStringAttribute::RunName => "r.name",
        RunStringAttribute::Status => "r.status",
        RunStringAttribute::ArtifactUri => "r.artifact_uri",
        RunStringAttribute::UserId => "r.user_id",
    }
}

fn order_attribute(attribute: RunOrderAttribute) -> &'static str {
    match attribute {
        RunOrderAttribute::RunId => "r.run_uuid",
        RunOrderAttribute::RunName => "r.name",
        RunOrderAttribute::Status => "r.status",
        RunOrderAttribute::ArtifactUri => "r.artifact_uri",
        RunOrderAttribute::UserId => "r.user_id",
        RunOrderAttribute::StartTime => "r.start_time",
        RunOrderAttribute::EndTime => "r.end_time",
        RunOrderAttribute::ExperimentId => "r.experiment_id",
    }
}

fn dataset_clause(field: DatasetField, predicate: &StringPredicate, binds: &mut Binds) -> String {
    let (join, column) = match field {
        DatasetField::Name => ("", "d.name"),
        DatasetField::Digest => ("", "d.digest"),
        DatasetField::Context => (
            " JOIN input_tags it ON it.input_id = di.id AND it.key = 'mlflow.data.context'",
            "it.value",
        ),
    };
    let base = format!(
        "SELECT 1 FROM dataset_inputs di JOIN datasets d ON d.id = di.dataset_id{join} WHERE di.run_id = r.id"
    );
    match predicate {
        StringPredicate::IsNull => format!("NOT EXISTS ({base})"),
        StringPredicate::IsNotNull => format!("EXISTS ({base})"),
        other => format!(
            "EXISTS ({base} AND {})",
            sql::string_test(column, other, binds)
        ),
    }
}

/// A filter clause compiled either to an inner join on a key that is unique per run (params,
/// tags, latest metrics) or to a WHERE condition. Both carry `$n` placeholders into the one
/// [`Binds`] of the query, so they may appear in the text in any order.
enum Compiled {
    /// `JOIN <join>`: table, alias and its conditions (key and value test).
    Join(String),
    Condition(String),
}

fn key_join(
    table: &str,
    alias: &str,
    key: &str,
    predicate: &StringPredicate,
    binds: &mut Binds,
) -> Compiled {
    match predicate {
        StringPredicate::IsNull | StringPredicate::IsNotNull => Compiled::Condition(
            sql::key_value_clause(table, "run_id", "r.id", key, predicate, binds),
        ),
        other => {
            let key = binds.push(key.to_string());
            let test = sql::string_test(&format!("{alias}.value"), other, binds);
            Compiled::Join(format!(
                "{table} {alias} ON {alias}.run_id = r.id AND {alias}.key = {key} AND {test}"
            ))
        }
    }
}

fn compile_clause(clause: &RunClause, alias: &str, binds: &mut Binds) -> Compiled {
    let condition = match clause {
        RunClause::Metric { key, op, value } => {
            let key = binds.push(key.clone());
            let test = if value.is_nan() {
                "false".to_string()
            } else {
                format!(
                    "NOT {alias}.is_nan AND {alias}.value {} {}",
                    sql::num_op(*op),
                    binds.push(*value)
                )
            };
            return Compiled::Join(format!(
                "latest_metrics {alias} ON {alias}.run_id = r.id AND {alias}.key = {key} AND {test}"
            ));
        }
        RunClause::Param { key, predicate } => {
            return key_join("params", alias, key, predicate, binds);
        }
        RunClause::Tag { key, predicate } => return key_join("tags", alias, key, predicate, binds),
        RunClause::StringAttribute {
            attribute,
            predicate,
        } => sql::string_test(string_attribute(*attribute), predicate, binds),
        RunClause::TimeAttribute {
            attribute,
            op,
            value,
        } => {
            let column = match attribute {
                RunTimeAttribute::StartTime => "r.start_time",
                RunTimeAttribute::EndTime => "r.end_time",
            };
            format!("{column} {} {}", sql::num_op(*op), binds.push(*value))
        }
        RunClause::Dataset { field, predicate } => dataset_clause(*field, predicate, binds),
    };
    Compiled::Condition(condition)
}

/// The FROM and WHERE parts of a run search (filter, experiments, view), shared by the search
/// and its count, their values pushed to `binds`; `None` when no experiment id is valid
/// (nothing can match).
struct Plan {
    from: String,
    conditions: Vec<String>,
}

fn plan(search: &RunSearch, binds: &mut Binds) -> Option<Plan> {
    let experiment_ids: Vec<i64> = search
        .experiment_ids
        .iter()
        .filter_map(|id| cairn_core::ids::parse_experiment_id(id).ok())
        .collect();
    if experiment_ids.is_empty() {
        return None;
    }
    let mut conditions = vec![format!(
        "r.experiment_id = ANY({})",
        binds.push(experiment_ids)
    )];
    conditions.extend(sql::view_condition("r.lifecycle_stage", search.view));
    let mut from = String::from("runs r");
    for (index, clause) in search.filter.clauses.iter().enumerate() {
        match compile_clause(clause, &format!("f{index}"), binds) {
            Compiled::Join(join) => {
                from.push_str(" JOIN ");
                from.push_str(&join);
            }
            Compiled::Condition(condition) => conditions.push(condition),
        }
    }
    Some(Plan { from, conditions })
}

/// How many runs match a search's experiments, view and filter.
pub fn count_runs(tx: &mut Transaction<'_>, search: &RunSearch) -> Result<usize> {
    let mut binds = Binds::default();
    let Some(plan) = plan(search, &mut binds) else {
        return Ok(0);
    };
    let query = format!(
        "SELECT count(*) FROM {} WHERE {}",
        plan.from,
        plan.conditions.join(" AND ")
    );
    let count: i64 = tx.query_one(&query, &binds.params())?.get(0);
    Ok(usize::try_from(count).unwrap_or(0))
}

/// One page of a search: after the page token's offset, or `search.offset` without a token.
pub fn search_runs(tx: &mut Transaction<'_>, search: &RunSearch) -> Result<Page<Run>> {
    let query_print = token::fingerprint(&format!(
        "runs|{:?}|{:?}|{:?}|{:?}",
        search.experiment_ids, search.filter, search.order_by, search.view
    ));
    let offset = match search.page_token.as_deref() {
        Some(token) => token::decode_offset(Some(token), query_print)?,
        None => search.offset,
    };
    let limit = if search.max_results == 0 {
        DEFAULT_PAGE
    } else {
        search.max_results
    };
    let mut binds = Binds::default();
    let Some(Plan { from, conditions }) = plan(search, &mut binds) else {
        return Ok(Page {
            items: Vec::new(),
            next_page_token: None,
        });
    };

    let mut joins = String::new();
    let mut order: Vec<String> = Vec::new();
    for (index, entry) in search.order_by.iter().enumerate() {
        let direction = if entry.ascending { "ASC" } else { "DESC" };
        let alias = format!("o{index}");
        match &entry.key {
            RunOrderKey::Metric(key) => {
                let key = binds.push(key.clone());
                joins.push_str(&format!(" LEFT JOIN latest_metrics {alias} ON {alias}.run_id = r.id AND {alias}.key = {key}"));
                order.push(format!(
                    "CASE WHEN {alias}.run_id IS NULL THEN 2 WHEN {alias}.is_nan THEN 1 ELSE 0 END ASC, {alias}.value {direction}"
                ));
            }
            RunOrderKey::Param(key) | RunOrderKey::Tag(key) => {
                let table = if matches!(entry.key, RunOrderKey::Param(_)) {
                    "params"
                } else {
                    "tags"
                };
                let key = binds.push(key.clone());
                joins.push_str(&format!(
                    " LEFT JOIN {table} {alias} ON {alias}.run_id = r.id AND {alias}.key = {key}"
                ));
                order.push(format!(
                    "{alias}.value IS NULL ASC, {alias}.value {direction}"
                ));
            }
            RunOrderKey::Attribute(attribute) => {
                let column = order_attribute(*attribute);
                order.push(format!("{column} IS NULL ASC, {column} {direction}"));
            }
        }
    }
    order.push("r.start_time DESC".to_string());
    order.push("r.run_uuid ASC".to_string());

    // Only run keys go through the sort: the sorter keeps every row up to the offset, so a deep
    // window (offset 90,000 of 100,000) costs far less when those rows are narrow. The page's
    // columns are read afterwards by key.
    let query = format!(
        "SELECT r.id FROM {from}{joins} WHERE {} ORDER BY {} LIMIT {} OFFSET {}",
        conditions.join(" AND "),
        order.join(", "),
        limit + 1,
        offset
    );
    let mut ids: Vec<i64> = tx
        .query(&query, &binds.params())?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let has_more = ids.len() > limit;
    ids.truncate(limit);
    let infos = runs::infos_by_key(tx, &ids)?;
    let items = runs::load_runs(tx, infos)?;
    let next_page_token = has_more.then(|| token::encode_offset(query_print, offset + limit));
    Ok(Page {
        items,
        next_page_token,
    })
}
