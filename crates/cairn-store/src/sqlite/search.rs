//! `search_runs` compiled to one SQL query (then a set-based load of the page's runs).
//!
//! Filtering: a clause on a param, tag or metric becomes an inner join on that table's
//! `(run_id, key)` primary key (the key is unique per run, so a join never duplicates a run);
//! `IS NULL` / `IS NOT NULL` and dataset clauses become `NOT EXISTS` / `EXISTS` probes; attribute
//! clauses are conditions on `runs`. Values are always bound parameters. The join order is chosen
//! here, not by SQLite: the clause whose `(key, value)` index range is smallest (counted, capped)
//! drives the query when it is smaller than the experiments' run count, and the remaining joins
//! are probed most selective first (`CROSS JOIN` fixes the order). Semantics:
//! - `!=`, `LIKE`, `IN`, `NOT IN` on params/tags/datasets match only runs that *have* the key;
//!   `IS NULL` matches runs without it.
//! - `LIKE` is case-sensitive (compiled to `GLOB`), `ILIKE` is `cairn_ilike(x, p)`, the
//!   reference evaluator's Unicode-aware match registered as a SQL function.
//! - metric clauses compare the latest value; a NaN latest value satisfies no comparison at all
//!   (not even `!=`); a run without the metric never matches.
//!
//! Ordering, exactly:
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
use rusqlite::Connection;
use rusqlite::types::Value;

use super::runs;
use super::sql::{self, Binds};
use super::token;
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

/// A filter clause on a key that is unique per run (params, tags, latest metrics): joining it
/// never duplicates a run, and its `(key, value)` index can drive the whole query.
struct KeyJoin {
    table: &'static str,
    alias: String,
    /// Conditions on `alias` alone (key and value test).
    on: String,
    binds: Vec<Value>,
}

/// A filter clause compiled either to a [`KeyJoin`] or to a WHERE condition with its binds.
enum Compiled {
    Join(KeyJoin),
    Condition(String, Vec<Value>),
}

fn key_join(table: &'static str, alias: &str, key: &str, predicate: &StringPredicate) -> Compiled {
    let mut binds = Binds::default();
    match predicate {
        StringPredicate::IsNull | StringPredicate::IsNotNull => {
            let condition =
                sql::key_value_clause(table, "run_id", "r.id", key, predicate, &mut binds);
            Compiled::Condition(condition, binds.values)
        }
        other => {
            let key = binds.push(key.to_string());
            let test = sql::string_test(&format!("{alias}.value"), other, &mut binds);
            Compiled::Join(KeyJoin {
                table,
                alias: alias.to_string(),
                on: format!("{alias}.key = {key} AND {test}"),
                binds: binds.values,
            })
        }
    }
}

fn compile_clause(clause: &RunClause, alias: &str) -> Compiled {
    let mut binds = Binds::default();
    let condition = match clause {
        RunClause::Metric { key, op, value } => {
            let key = binds.push(key.clone());
            let value = binds.push(*value);
            return Compiled::Join(KeyJoin {
                table: "latest_metrics",
                alias: alias.to_string(),
                on: format!(
                    "{alias}.key = {key} AND {alias}.is_nan = 0 AND {alias}.value {} {value}",
                    sql::num_op(*op)
                ),
                binds: binds.values,
            });
        }
        RunClause::Param { key, predicate } => return key_join("params", alias, key, predicate),
        RunClause::Tag { key, predicate } => return key_join("tags", alias, key, predicate),
        RunClause::StringAttribute {
            attribute,
            predicate,
        } => sql::string_test(string_attribute(*attribute), predicate, &mut binds),
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
        RunClause::Dataset { field, predicate } => dataset_clause(*field, predicate, &mut binds),
    };
    Compiled::Condition(condition, binds.values)
}

/// Rows a count may look at before it stops: enough to rank the candidates.
const COUNT_CAP: i64 = 200_000;

/// How many index entries match a key join, counting at most `cap`: a cheap, exact
/// selectivity estimate (a covering-index range scan).
fn count_matches(conn: &Connection, join: &KeyJoin, cap: i64) -> Result<i64> {
    let query = format!(
        "SELECT count(*) FROM (SELECT 1 FROM {} {} WHERE {} LIMIT ?)",
        join.table, join.alias, join.on
    );
    let binds = join
        .binds
        .iter()
        .cloned()
        .chain(std::iter::once(Value::Integer(cap)));
    Ok(conn
        .prepare_cached(&query)?
        .query_row(rusqlite::params_from_iter(binds), |row| row.get(0))?)
}

/// The FROM and WHERE parts of a run search (filter, experiments, view), shared by the search
/// and its count; `None` when no experiment id is valid (nothing can match).
struct Plan {
    from: String,
    from_binds: Vec<Value>,
    conditions: Vec<String>,
    where_binds: Vec<Value>,
}

fn plan(conn: &Connection, search: &RunSearch) -> Result<Option<Plan>> {
    let experiment_ids: Vec<i64> = search
        .experiment_ids
        .iter()
        .filter_map(|id| cairn_core::ids::parse_experiment_id(id).ok())
        .collect();
    if experiment_ids.is_empty() {
        return Ok(None);
    }

    // The WHERE part: experiments, lifecycle, and the clauses that are not key joins.
    let mut scope = vec![format!(
        "r.experiment_id IN {}",
        sql::placeholders(experiment_ids.len())
    )];
    scope.extend(sql::view_condition("r.lifecycle_stage", search.view));
    let scope = scope.join(" AND ");
    let mut conditions = vec![scope.clone()];
    let mut where_binds: Vec<Value> = experiment_ids.iter().map(|id| (*id).into()).collect();
    let mut key_joins = Vec::new();
    for (index, clause) in search.filter.clauses.iter().enumerate() {
        match compile_clause(clause, &format!("f{index}")) {
            Compiled::Join(join) => key_joins.push(join),
            Compiled::Condition(condition, mut binds) => {
                conditions.push(condition);
                where_binds.append(&mut binds);
            }
        }
    }

    // Join order, decided here rather than by SQLite's planner (which has no statistics for
    // per-key value distributions): count the index entries each key join matches and the runs
    // of the requested experiments, drive the query from the smallest, probe the others from the
    // most selective up. `CROSS JOIN` tells SQLite to keep this order.
    let mut from = String::from("runs r");
    let mut from_binds: Vec<Value> = Vec::new();
    if !key_joins.is_empty() {
        // Each count stops once it can no longer beat the smallest so far, so counting costs at
        // most (clauses + 1) × the driver's size.
        let mut counted = Vec::with_capacity(key_joins.len());
        let mut smallest = COUNT_CAP;
        for join in key_joins {
            let count = count_matches(conn, &join, smallest + 1)?;
            smallest = smallest.min(count);
            counted.push((count, join));
        }
        counted.sort_by_key(|(count, _)| *count);
        let runs_count: i64 = conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM (SELECT 1 FROM runs r WHERE {scope} LIMIT ?)"
            ))?
            .query_row(
                rusqlite::params_from_iter(
                    experiment_ids
                        .iter()
                        .map(|id| Value::Integer(*id))
                        .chain(std::iter::once(Value::Integer(smallest + 1))),
                ),
                |row| row.get(0),
            )?;
        let driver_count = counted.first().map_or(i64::MAX, |(count, _)| *count);
        let mut ordered: Vec<KeyJoin> = counted.into_iter().map(|(_, join)| join).collect();
        if driver_count < runs_count {
            let driver = ordered.remove(0);
            from = format!(
                "{table} {alias} CROSS JOIN runs r ON r.id = {alias}.run_id AND {on}",
                table = driver.table,
                alias = driver.alias,
                on = driver.on
            );
            from_binds.extend(driver.binds);
        }
        for join in ordered {
            from.push_str(&format!(
                " CROSS JOIN {table} {alias} ON {alias}.run_id = r.id AND {on}",
                table = join.table,
                alias = join.alias,
                on = join.on
            ));
            from_binds.extend(join.binds);
        }
    }
    Ok(Some(Plan {
        from,
        from_binds,
        conditions,
        where_binds,
    }))
}

/// How many runs match a search's experiments, view and filter.
pub fn count_runs(conn: &Connection, search: &RunSearch) -> Result<usize> {
    let Some(plan) = plan(conn, search)? else {
        return Ok(0);
    };
    let query = format!(
        "SELECT count(*) FROM {} WHERE {}",
        plan.from,
        plan.conditions.join(" AND ")
    );
    let count: i64 = conn.prepare(&query)?.query_row(
        rusqlite::params_from_iter(plan.from_binds.into_iter().chain(plan.where_binds)),
        |row| row.get(0),
    )?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// One page of a search: after the page token's offset, or `search.offset` without a token.
pub fn search_runs(conn: &Connection, search: &RunSearch) -> Result<Page<Run>> {
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
    let Some(Plan {
        from,
        from_binds,
        conditions,
        where_binds,
    }) = plan(conn, search)?
    else {
        return Ok(Page {
            items: Vec::new(),
            next_page_token: None,
        });
    };

    let mut joins = String::new();
    let mut order_binds = Binds::default();
    let mut order: Vec<String> = Vec::new();
    for (index, entry) in search.order_by.iter().enumerate() {
        let direction = if entry.ascending { "ASC" } else { "DESC" };
        let alias = format!("o{index}");
        match &entry.key {
            RunOrderKey::Metric(key) => {
                let key = order_binds.push(key.clone());
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
                let key = order_binds.push(key.clone());
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
    let bound = from_binds
        .into_iter()
        .chain(order_binds.values)
        .chain(where_binds);
    let mut statement = conn.prepare(&query)?;
    let mut ids: Vec<i64> = statement
        .query_map(rusqlite::params_from_iter(bound), |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let has_more = ids.len() > limit;
    ids.truncate(limit);
    let items = runs::load_runs(conn, runs::infos_by_key(conn, &ids)?)?;
    let next_page_token = has_more.then(|| token::encode_offset(query_print, offset + limit));
    Ok(Page {
        items,
        next_page_token,
    })
}
