//! Registered-model and model-version searches: the filter clauses, the prompt exclusion, the
//! readable condition, and the orders (name for models; `last_updated_timestamp DESC` for
//! versions by default, ties by name and version).

use cairn_core::filter::ast::{
    ModelVersionClause, ModelVersionOrderKey, RegisteredModelClause, RegisteredModelOrderKey,
    VersionStringAttribute,
};
use cairn_core::registry::PROMPT_TAG;

use super::where_all;
use super::{Dialect, SearchSql, access, direction, int_compare, key_value_clause, string_test};
use crate::registry::{ModelVersionSearch, RegisteredModelSearch};

fn model_clause_sql(clause: &RegisteredModelClause, binds: &mut impl Dialect) -> String {
    match clause {
        RegisteredModelClause::Name(predicate) => string_test("r.name", predicate, binds),
        RegisteredModelClause::Tag { key, predicate } => key_value_clause(
            "registered_model_tags",
            "registered_model",
            "r.id",
            key,
            predicate,
            binds,
        ),
    }
}

/// The WHERE and ORDER BY of a registered-model search over `registered_models r`.
pub fn models_sql(search: &RegisteredModelSearch, binds: &mut impl Dialect) -> SearchSql {
    let mut conditions: Vec<String> = search
        .filter
        .clauses
        .iter()
        .map(|clause| model_clause_sql(clause, binds))
        .collect();
    if search.exclude_prompts {
        conditions.push(format!(
            "NOT EXISTS (SELECT 1 FROM registered_model_tags p WHERE p.registered_model = r.id \
             AND p.key = '{PROMPT_TAG}' AND p.value = 'true')"
        ));
    }
    if let Some(viewer) = &search.readable_by {
        conditions.extend(access::readable_model_condition(viewer, binds));
    }
    let mut order: Vec<String> = search
        .order_by
        .iter()
        .map(|entry| {
            let column = match entry.key {
                RegisteredModelOrderKey::Name => "r.name",
                RegisteredModelOrderKey::CreationTimestamp => "r.creation_timestamp",
                RegisteredModelOrderKey::LastUpdatedTimestamp => "r.last_updated_timestamp",
            };
            format!("{column} {}", direction(entry.ascending))
        })
        .collect();
    if !search
        .order_by
        .iter()
        .any(|entry| entry.key == RegisteredModelOrderKey::Name)
    {
        order.push("r.name ASC".to_string());
    }
    SearchSql {
        where_sql: where_all(&conditions),
        order: order.join(", "),
    }
}

fn version_clause_sql(clause: &ModelVersionClause, binds: &mut impl Dialect) -> String {
    match clause {
        ModelVersionClause::StringAttribute {
            attribute,
            predicate,
        } => {
            let column = match attribute {
                VersionStringAttribute::Name => "r.name",
                VersionStringAttribute::RunId => "v.run_id",
                VersionStringAttribute::SourcePath => "v.source",
            };
            string_test(column, predicate, binds)
        }
        ModelVersionClause::VersionNumber { op, value } => {
            int_compare("v.version", *op, *value, binds)
        }
        ModelVersionClause::Tag { key, predicate } => {
            let key_placeholder = binds.bind_text(key);
            format!(
                "EXISTS (SELECT 1 FROM model_version_tags t WHERE t.registered_model = v.registered_model \
                 AND t.version = v.version AND t.key = {key_placeholder} AND {})",
                string_test("t.value", predicate, binds)
            )
        }
    }
}

/// The WHERE and ORDER BY of a model-version search over
/// `model_versions v JOIN registered_models r ON r.id = v.registered_model`.
pub fn versions_sql(search: &ModelVersionSearch, binds: &mut impl Dialect) -> SearchSql {
    let mut conditions: Vec<String> = search
        .filter
        .clauses
        .iter()
        .map(|clause| version_clause_sql(clause, binds))
        .collect();
    if search.exclude_prompts {
        conditions.push(format!(
            "NOT EXISTS (SELECT 1 FROM registered_model_tags p WHERE p.registered_model = r.id \
             AND p.key = '{PROMPT_TAG}' AND p.value = 'true') \
             AND NOT EXISTS (SELECT 1 FROM model_version_tags p WHERE p.registered_model = v.registered_model \
             AND p.version = v.version AND p.key = '{PROMPT_TAG}' AND p.value = 'true')"
        ));
    }
    if let Some(viewer) = &search.readable_by {
        conditions.extend(access::readable_model_condition(viewer, binds));
    }
    let mut order: Vec<String> = search
        .order_by
        .iter()
        .map(|entry| {
            let column = match entry.key {
                ModelVersionOrderKey::Name => "r.name",
                ModelVersionOrderKey::VersionNumber => "v.version",
                ModelVersionOrderKey::CreationTimestamp => "v.creation_timestamp",
                ModelVersionOrderKey::LastUpdatedTimestamp => "v.last_updated_timestamp",
            };
            format!("{column} {}", direction(entry.ascending))
        })
        .collect();
    if search.order_by.is_empty() {
        order.push("v.last_updated_timestamp DESC".to_string());
    }
    let named = |key| search.order_by.iter().any(|entry| entry.key == key);
    if !named(ModelVersionOrderKey::Name) {
        order.push("r.name ASC".to_string());
    }
    if !named(ModelVersionOrderKey::VersionNumber) {
        order.push("v.version DESC".to_string());
    }
    SearchSql {
        where_sql: where_all(&conditions),
        order: order.join(", "),
    }
}
