//! Logged-model search. "Latest" for filters and ordering uses the same rule as runs: largest
//! step, then timestamp, then value (NaN highest); a NaN latest value satisfies no comparison.
//! Ordering by a metric: numbers in the requested direction, then NaN, then models without the
//! metric, in both directions.

use cairn_core::filter::ast::{
    LoggedModelClause, LoggedModelOrderKey, ModelStringAttribute, ModelTimeAttribute,
};

use super::where_all;
use super::{Dialect, SearchSql, direction, int_compare, key_value_clause, num_op, string_test};
use crate::LoggedModelSearch;

/// `(SELECT <column> FROM the model's latest point of key [for a dataset])`.
fn latest_subquery(
    column: &str,
    key: &str,
    dataset_name: Option<&str>,
    dataset_digest: Option<&str>,
    binds: &mut impl Dialect,
) -> String {
    let mut text = format!(
        "(SELECT {column} FROM logged_model_metrics mm WHERE mm.model_id = m.model_id AND mm.key = {}",
        binds.bind_text(key)
    );
    if let Some(name) = dataset_name {
        text.push_str(&format!(" AND mm.dataset_name = {}", binds.bind_text(name)));
    }
    if let Some(digest) = dataset_digest {
        text.push_str(&format!(
            " AND mm.dataset_digest = {}",
            binds.bind_text(digest)
        ));
    }
    text.push_str(
        " ORDER BY mm.step DESC, mm.timestamp DESC, mm.is_nan DESC, mm.value DESC LIMIT 1)",
    );
    text
}

fn clause_sql(clause: &LoggedModelClause, binds: &mut impl Dialect) -> String {
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
            string_test(column, predicate, binds)
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
            int_compare(column, *op, *value, binds)
        }
        // A NaN operand matches nothing (see `Dialect::bind_float`).
        LoggedModelClause::Metric { value, .. } if value.is_nan() => {
            binds.boolean(false).to_string()
        }
        LoggedModelClause::Metric { key, op, value } => {
            let latest = latest_subquery(
                "CASE WHEN mm.is_nan THEN NULL ELSE mm.value END",
                key,
                None,
                None,
                binds,
            );
            format!("{latest} {} {}", num_op(*op), binds.bind_float(*value))
        }
        LoggedModelClause::Param { key, predicate } => key_value_clause(
            "logged_model_params",
            "model_id",
            "m.model_id",
            key,
            predicate,
            binds,
        ),
        LoggedModelClause::Tag { key, predicate } => key_value_clause(
            "logged_model_tags",
            "model_id",
            "m.model_id",
            key,
            predicate,
            binds,
        ),
    }
}

/// The WHERE and ORDER BY of a logged-model search over `logged_models m`, in the experiments
/// `experiment_ids` (valid ids, at least one).
pub fn search_sql(
    search: &LoggedModelSearch,
    experiment_ids: &[i64],
    binds: &mut impl Dialect,
) -> SearchSql {
    // Placeholders appear in WHERE before ORDER BY; bind in that order.
    let mut conditions = vec![
        binds.int_in("m.experiment_id", experiment_ids),
        "m.lifecycle_stage = 'active'".to_string(),
    ];
    conditions.extend(
        search
            .filter
            .clauses
            .iter()
            .map(|clause| clause_sql(clause, binds)),
    );

    let mut order = Vec::new();
    for entry in &search.order_by {
        let direction = direction(entry.ascending);
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
                let rank_column = binds.bool_as_int("mm.is_nan");
                let rank = latest_subquery(&rank_column, key, name, digest, binds);
                let value = latest_subquery("mm.value", key, name, digest, binds);
                order.push(format!("coalesce({rank}, 2) ASC, {value} {direction}"));
            }
        }
    }
    if search.order_by.is_empty() {
        order.push("m.creation_timestamp DESC".to_string());
    }
    order.push("m.model_id ASC".to_string());
    SearchSql {
        where_sql: where_all(&conditions),
        order: order.join(", "),
    }
}
