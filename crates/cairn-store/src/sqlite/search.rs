//! `search_runs` compiled to one SQL query (then a set-based load of the page's runs).
//!
//! The clauses and the order are compiled by `crate::sqlbuild::runs` (shared with PostgreSQL;
//! its docs give the filter and order semantics). What is SQLite's here is the join order: a
//! clause on a param, tag or metric is an inner join on a key unique per run, and the clause
//! whose `(key, value)` index range is smallest (counted, capped) drives the query when it is
//! smaller than the experiments' run count; the remaining joins are probed most selective first
//! (`CROSS JOIN` fixes the order). Each clause binds into its own `Binds`, as the `?`
//! placeholders of the joins and of the WHERE land in the text in the order the plan decides.
//! `LIKE` is case-sensitive (compiled to `GLOB`), `ILIKE` is `cairn_ilike(x, p)`, the reference
//! evaluator's Unicode-aware match registered as a SQL function.

use cairn_core::filter::ast::RunClause;
use cairn_core::model::{Page, Run};
use rusqlite::Connection;
use rusqlite::types::Value;

use super::runs;
use super::sql::{self, Binds};
use super::token;
use crate::sqlbuild;
use crate::{Result, RunSearch};

const DEFAULT_PAGE: usize = 1000;

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

fn compile_clause(clause: &RunClause, alias: &str) -> Compiled {
    let mut binds = Binds::default();
    match sqlbuild::runs::compile_clause(clause, alias, &mut binds) {
        sqlbuild::runs::Compiled::Join { table, on } => Compiled::Join(KeyJoin {
            table,
            alias: alias.to_string(),
            on,
            binds: binds.values,
        }),
        sqlbuild::runs::Compiled::Condition(condition) => {
            Compiled::Condition(condition, binds.values)
        }
    }
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

    // The joins come before the WHERE in the text, so their values are bound apart.
    let mut order_binds = Binds::default();
    let (joins, order) = sqlbuild::runs::order_sql(&search.order_by, &mut order_binds);

    // Only run keys go through the sort: the sorter keeps every row up to the offset, so a deep
    // window (offset 90,000 of 100,000) costs far less when those rows are narrow. The page's
    // columns are read afterwards by key.
    let query = format!(
        "SELECT r.id FROM {from}{joins} WHERE {} ORDER BY {order} LIMIT {} OFFSET {}",
        conditions.join(" AND "),
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
