//! Run search: each filter clause compiled to a key join or a WHERE condition, and the order
//! with the joins it needs. How the pieces are put together (join order, one statement or a
//! count first) is the backend's: the embedded store picks the join order itself, PostgreSQL
//! leaves it to its planner.
//!
//! Semantics:
//! - a clause on a param, tag or metric is an inner join on that table's `(run_id, key)` primary
//!   key (the key is unique per run, so a join never duplicates a run); `IS NULL` /
//!   `IS NOT NULL` and dataset clauses are `NOT EXISTS` / `EXISTS` probes; attribute clauses are
//!   conditions on `runs r`.
//! - `!=`, `LIKE`, `IN`, `NOT IN` on params/tags/datasets match only runs that *have* the key;
//!   `IS NULL` matches runs without it.
//! - metric clauses compare the latest value (`latest_metrics`); a NaN latest value satisfies no
//!   comparison at all (not even `!=`), nor does a NaN operand; a run without the metric never
//!   matches.
//!
//! Ordering, exactly:
//! - metric keys: first a rank, always ascending — 0 for a number, 1 for NaN, 2 for a missing
//!   metric — then the number in the requested direction. So ASC is `-inf … +inf, NaN, missing`
//!   and DESC is `+inf … -inf, NaN, missing`.
//! - params, tags and nullable attributes (`end_time`): present values in the requested direction,
//!   then missing ones, in both directions (missing values are ranked explicitly, as SQLite and
//!   PostgreSQL place NULLs differently).
//! - every order ends with `start_time DESC, run_uuid ASC`, which makes it total (stable pages).

use cairn_core::filter::ast::{
    DatasetField, RunClause, RunOrderAttribute, RunOrderBy, RunOrderKey, RunStringAttribute,
    RunTimeAttribute, StringPredicate,
};

use super::{Dialect, direction, int_compare, key_value_clause, num_op, string_test};

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

fn dataset_clause(
    field: DatasetField,
    predicate: &StringPredicate,
    binds: &mut impl Dialect,
) -> String {
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
        other => format!("EXISTS ({base} AND {})", string_test(column, other, binds)),
    }
}

/// A filter clause compiled either to an inner join on a key that is unique per run, or to a
/// WHERE condition.
pub enum Compiled {
    /// `JOIN <table> <alias> ON <alias>.run_id = r.id AND <on>`: `on` tests the alias alone
    /// (key and value), so the backend may also probe the table by itself with it.
    Join {
        table: &'static str,
        on: String,
    },
    Condition(String),
}

fn key_join(
    table: &'static str,
    alias: &str,
    key: &str,
    predicate: &StringPredicate,
    binds: &mut impl Dialect,
) -> Compiled {
    match predicate {
        StringPredicate::IsNull | StringPredicate::IsNotNull => Compiled::Condition(
            key_value_clause(table, "run_id", "r.id", key, predicate, binds),
        ),
        other => {
            let key = binds.bind_text(key);
            let test = string_test(&format!("{alias}.value"), other, binds);
            Compiled::Join {
                table,
                on: format!("{alias}.key = {key} AND {test}"),
            }
        }
    }
}

/// Compiles one filter clause; a join is aliased `alias`.
pub fn compile_clause(clause: &RunClause, alias: &str, binds: &mut impl Dialect) -> Compiled {
    let condition = match clause {
        RunClause::Metric { key, op, value } => {
            let key = binds.bind_text(key);
            // A NaN operand matches nothing (see `Dialect::bind_float`).
            let test = if value.is_nan() {
                binds.boolean(false).to_string()
            } else {
                format!(
                    "{} AND {alias}.value {} {}",
                    binds.is_false(&format!("{alias}.is_nan")),
                    num_op(*op),
                    binds.bind_float(*value)
                )
            };
            return Compiled::Join {
                table: "latest_metrics",
                on: format!("{alias}.key = {key} AND {test}"),
            };
        }
        RunClause::Param { key, predicate } => {
            return key_join("params", alias, key, predicate, binds);
        }
        RunClause::Tag { key, predicate } => return key_join("tags", alias, key, predicate, binds),
        RunClause::StringAttribute {
            attribute,
            predicate,
        } => string_test(string_attribute(*attribute), predicate, binds),
        RunClause::TimeAttribute {
            attribute,
            op,
            value,
        } => {
            let column = match attribute {
                RunTimeAttribute::StartTime => "r.start_time",
                RunTimeAttribute::EndTime => "r.end_time",
            };
            int_compare(column, *op, *value, binds)
        }
        RunClause::Dataset { field, predicate } => dataset_clause(*field, predicate, binds),
    };
    Compiled::Condition(condition)
}

/// The order of a run search: the `LEFT JOIN`s it needs (each starting with a space; their
/// values are bound in `binds`) and the ORDER BY list (which binds nothing).
pub fn order_sql(order_by: &[RunOrderBy], binds: &mut impl Dialect) -> (String, String) {
    let mut joins = String::new();
    let mut order: Vec<String> = Vec::new();
    for (index, entry) in order_by.iter().enumerate() {
        let direction = direction(entry.ascending);
        let alias = format!("o{index}");
        match &entry.key {
            RunOrderKey::Metric(key) => {
                let key = binds.bind_text(key);
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
                let key = binds.bind_text(key);
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
    (joins, order.join(", "))
}
