//! Experiment search: the filter clauses (name, id, times, tags), the view, the readable
//! condition, and the order (`creation_time DESC` by default, ties by `experiment_id`).

use cairn_core::filter::ast::{
    ExperimentClause, ExperimentOrderKey, ExperimentTimeAttribute, StringPredicate,
};

use super::{Dialect, SearchSql, access, direction, int_compare, key_value_clause, string_test};
use super::{view_condition, where_all};
use crate::ExperimentSearch;

fn time_column(attribute: ExperimentTimeAttribute) -> &'static str {
    match attribute {
        ExperimentTimeAttribute::CreationTime => "e.creation_time",
        ExperimentTimeAttribute::LastUpdateTime => "e.last_update_time",
    }
}

fn clause_sql(clause: &ExperimentClause, binds: &mut impl Dialect) -> String {
    match clause {
        ExperimentClause::Name(predicate) => string_test("e.name", predicate, binds),
        ExperimentClause::ExperimentId(predicate) => match predicate {
            StringPredicate::IsNull => binds.boolean(false).to_string(),
            StringPredicate::IsNotNull => binds.boolean(true).to_string(),
            other => string_test(&binds.int_as_text("e.experiment_id"), other, binds),
        },
        ExperimentClause::TimeAttribute {
            attribute,
            op,
            value,
        } => int_compare(time_column(*attribute), *op, *value, binds),
        ExperimentClause::Tag { key, predicate } => key_value_clause(
            "experiment_tags",
            "experiment_id",
            "e.experiment_id",
            key,
            predicate,
            binds,
        ),
    }
}

/// The WHERE and ORDER BY of an experiment search over `experiments e`.
pub fn search_sql(search: &ExperimentSearch, binds: &mut impl Dialect) -> SearchSql {
    let mut conditions: Vec<String> = view_condition("e.lifecycle_stage", search.view)
        .into_iter()
        .collect();
    conditions.extend(
        search
            .filter
            .clauses
            .iter()
            .map(|clause| clause_sql(clause, binds)),
    );
    if let Some(viewer) = &search.readable_by {
        conditions.extend(access::readable_condition(viewer, binds));
    }
    let mut order: Vec<String> = search
        .order_by
        .iter()
        .map(|entry| {
            let column = match entry.key {
                ExperimentOrderKey::Name => "e.name",
                ExperimentOrderKey::ExperimentId => "e.experiment_id",
                ExperimentOrderKey::CreationTime => "e.creation_time",
                ExperimentOrderKey::LastUpdateTime => "e.last_update_time",
            };
            format!("{column} {}", direction(entry.ascending))
        })
        .collect();
    if search.order_by.is_empty() {
        order.push("e.creation_time DESC".to_string());
    }
    order.push("e.experiment_id ASC".to_string());
    SearchSql {
        where_sql: where_all(&conditions),
        order: order.join(", "),
    }
}
