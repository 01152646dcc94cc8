//! `search_runs` compiled to one SQL query (then a set-based load of the page's runs); the
//! PostgreSQL port of `sqlite/search.rs`, with the same semantics and order.
//!
//! The clauses and the order are compiled by `crate::sqlbuild::runs`, shared with the embedded
//! store (which documents the semantics); what is PostgreSQL's here is how the pieces are put
//! together: every clause binds into one `Binds` (`$n` placeholders may appear in any order), key
//! joins are plain inner `JOIN`s, and the join order is left to PostgreSQL's planner, which keeps
//! per-column statistics (most common values, histograms) on the `(key, value)` indexes and
//! reorders inner joins itself; the embedded store counts index ranges because SQLite has no
//! such statistics.

use cairn_core::model::{Page, Run};
use postgres::Transaction;

use super::runs;
use super::sql::{self, Binds};
use crate::sqlbuild::runs as runs_sql;
use crate::sqlite::token;
use crate::{Result, RunSearch};

const DEFAULT_PAGE: usize = 1000;

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
    // Every clause binds into the one `binds` (`$n` placeholders may come in any order).
    for (index, clause) in search.filter.clauses.iter().enumerate() {
        let alias = format!("f{index}");
        match runs_sql::compile_clause(clause, &alias, binds) {
            runs_sql::Compiled::Join { table, on } => from.push_str(&format!(
                " JOIN {table} {alias} ON {alias}.run_id = r.id AND {on}"
            )),
            runs_sql::Compiled::Condition(condition) => conditions.push(condition),
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

    let (joins, order) = runs_sql::order_sql(&search.order_by, &mut binds);

    // Only run keys go through the sort: the sorter keeps every row up to the offset, so a deep
    // window (offset 90,000 of 100,000) costs far less when those rows are narrow. The page's
    // columns are read afterwards by key.
    let query = format!(
        "SELECT r.id FROM {from}{joins} WHERE {} ORDER BY {order} LIMIT {} OFFSET {}",
        conditions.join(" AND "),
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
