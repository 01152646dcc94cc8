//! In-memory evaluation of parsed filters and run ordering: the reference oracle storage
//! backends are tested against. The rules here are the contract; a SQL backend must give the
//! same answers.
//!
//! Matching rules:
//! - a clause on a param, tag or metric the entity does not have is false, whatever the operator
//!   (`!=`, `NOT IN` and `LIKE` included); only `IS NULL` matches a missing key;
//! - a metric clause compares the latest value (largest step, then timestamp, then value); a NaN
//!   latest value satisfies no comparison at all, not even `!=`;
//! - `LIKE` is case-sensitive, `ILIKE` compares Unicode-lowercased text; `%` matches any run of
//!   characters, `_` exactly one character; there is no escape character;
//! - a dataset clause holds when any of the run's dataset inputs satisfies it (`context` is the
//!   input's `mlflow.data.context` tag);
//! - string comparisons are by Unicode code point (byte order of UTF-8, SQLite's `BINARY`).

use std::cmp::Ordering;

use super::ast::{
    DatasetField, ExperimentClause, ExperimentFilter, ExperimentTimeAttribute, LoggedModelClause,
    LoggedModelFilter, ModelStringAttribute, ModelTimeAttribute, NumOp, RunClause, RunFilter,
    RunOrderAttribute, RunOrderBy, RunOrderKey, RunStringAttribute, RunTimeAttribute, StringOp,
    StringPredicate,
};
use crate::model::{Experiment, LoggedModel, Metric, Param, Run, Tag};

/// The input tag that holds a dataset input's context (`train`, `eval`, ...).
pub const DATASET_CONTEXT_TAG: &str = "mlflow.data.context";

/// SQL `LIKE`: `%` matches any run of characters (including none), `_` exactly one character;
/// everything else matches itself, case-sensitively.
pub fn like_matches(value: &str, pattern: &str) -> bool {
    let value: Vec<char> = value.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    let (mut v, mut p) = (0, 0);
    // After the last `%` seen: (pattern index after it, value index it is currently matched to).
    let mut backtrack: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && pattern[p] == '%' {
            p += 1;
            backtrack = Some((p, v));
        } else if p < pattern.len() && (pattern[p] == '_' || pattern[p] == value[v]) {
            p += 1;
            v += 1;
        } else if let Some((after_percent, matched_to)) = backtrack {
            p = after_percent;
            v = matched_to + 1;
            backtrack = Some((after_percent, matched_to + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

/// `ILIKE`: [`like_matches`] on the Unicode-lowercased value and pattern.
pub fn ilike_matches(value: &str, pattern: &str) -> bool {
    like_matches(&value.to_lowercase(), &pattern.to_lowercase())
}

impl NumOp {
    /// `left <op> right`; false whenever either side is NaN.
    pub fn holds<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            NumOp::Eq => left == right,
            NumOp::Ne => left
                .partial_cmp(&right)
                .is_some_and(|o| o != Ordering::Equal),
            NumOp::Lt => left < right,
            NumOp::Le => left <= right,
            NumOp::Gt => left > right,
            NumOp::Ge => left >= right,
        }
    }
}

impl StringOp {
    pub fn holds(self, value: &str, operand: &str) -> bool {
        match self {
            StringOp::Eq => value == operand,
            StringOp::Ne => value != operand,
            StringOp::Like => like_matches(value, operand),
            StringOp::ILike => ilike_matches(value, operand),
        }
    }
}

impl StringPredicate {
    /// Tests a value that may be absent (a param or tag the entity does not have).
    pub fn matches(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (StringPredicate::IsNull, value) => value.is_none(),
            (StringPredicate::IsNotNull, value) => value.is_some(),
            (_, None) => false,
            (StringPredicate::Compare(op, operand), Some(value)) => op.holds(value, operand),
            (StringPredicate::In(items), Some(value)) => items.iter().any(|item| item == value),
            (StringPredicate::NotIn(items), Some(value)) => !items.iter().any(|item| item == value),
        }
    }

    /// Tests a set of values: `IS NULL` when there are none, otherwise whether any satisfies it.
    fn matches_any<'v>(&self, mut values: impl Iterator<Item = &'v str>) -> bool {
        match self {
            StringPredicate::IsNull => values.next().is_none(),
            StringPredicate::IsNotNull => values.next().is_some(),
            other => values.any(|value| other.matches(Some(value))),
        }
    }
}

fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|tag| tag.key == key)
        .map(|tag| tag.value.as_str())
}

fn param_value<'a>(params: &'a [Param], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|param| param.key == key)
        .map(|param| param.value.as_str())
}

/// The latest point of `key` (largest step, then timestamp, then value).
fn latest_metric<'a>(metrics: &'a [Metric], key: &str) -> Option<&'a Metric> {
    metrics
        .iter()
        .filter(|metric| metric.key == key)
        .max_by(|a, b| a.recency_cmp(b))
}

fn metric_holds(metrics: &[Metric], key: &str, op: NumOp, operand: f64) -> bool {
    latest_metric(metrics, key)
        .is_some_and(|metric| !metric.value.is_nan() && op.holds(metric.value, operand))
}

impl RunClause {
    pub fn matches(&self, run: &Run) -> bool {
        match self {
            RunClause::Metric { key, op, value } => metric_holds(&run.metrics, key, *op, *value),
            RunClause::Param { key, predicate } => predicate.matches(param_value(&run.params, key)),
            RunClause::Tag { key, predicate } => predicate.matches(tag_value(&run.tags, key)),
            RunClause::StringAttribute {
                attribute,
                predicate,
            } => {
                let info = &run.info;
                let value = match attribute {
                    RunStringAttribute::RunId => info.run_id.as_str(),
                    RunStringAttribute::RunName => info.run_name.as_str(),
                    RunStringAttribute::Status => info.status.as_str(),
                    RunStringAttribute::ArtifactUri => info.artifact_uri.as_str(),
                    RunStringAttribute::UserId => info.user_id.as_str(),
                };
                predicate.matches(Some(value))
            }
            RunClause::TimeAttribute {
                attribute,
                op,
                value,
            } => {
                let time = match attribute {
                    RunTimeAttribute::StartTime => Some(run.info.start_time),
                    RunTimeAttribute::EndTime => run.info.end_time,
                };
                time.is_some_and(|time| op.holds(time, *value))
            }
            RunClause::Dataset { field, predicate } => {
                let inputs = run.dataset_inputs.iter();
                match field {
                    DatasetField::Name => {
                        predicate.matches_any(inputs.map(|input| input.dataset.name.as_str()))
                    }
                    DatasetField::Digest => {
                        predicate.matches_any(inputs.map(|input| input.dataset.digest.as_str()))
                    }
                    DatasetField::Context => predicate.matches_any(
                        inputs.filter_map(|input| tag_value(&input.tags, DATASET_CONTEXT_TAG)),
                    ),
                }
            }
        }
    }
}

impl RunFilter {
    /// Whether every clause holds for `run` (the empty filter matches every run).
    pub fn matches(&self, run: &Run) -> bool {
        self.clauses.iter().all(|clause| clause.matches(run))
    }
}

impl ExperimentClause {
    pub fn matches(&self, experiment: &Experiment) -> bool {
        match self {
            ExperimentClause::Name(predicate) => predicate.matches(Some(&experiment.name)),
            ExperimentClause::ExperimentId(predicate) => {
                predicate.matches(Some(&experiment.experiment_id))
            }
            ExperimentClause::TimeAttribute {
                attribute,
                op,
                value,
            } => {
                let time = match attribute {
                    ExperimentTimeAttribute::CreationTime => experiment.creation_time,
                    ExperimentTimeAttribute::LastUpdateTime => experiment.last_update_time,
                };
                op.holds(time, *value)
            }
            ExperimentClause::Tag { key, predicate } => {
                predicate.matches(tag_value(&experiment.tags, key))
            }
        }
    }
}

impl ExperimentFilter {
    pub fn matches(&self, experiment: &Experiment) -> bool {
        self.clauses.iter().all(|clause| clause.matches(experiment))
    }
}

impl LoggedModelClause {
    /// As for runs; an absent `model_type` / `source_run_id` is like a missing key (never
    /// matches), and metrics compare the latest point of the key over all datasets.
    pub fn matches(&self, model: &LoggedModel) -> bool {
        match self {
            LoggedModelClause::StringAttribute {
                attribute,
                predicate,
            } => {
                let value = match attribute {
                    ModelStringAttribute::ModelId => Some(model.model_id.as_str()),
                    ModelStringAttribute::Name => Some(model.name.as_str()),
                    ModelStringAttribute::ModelType => model.model_type.as_deref(),
                    ModelStringAttribute::Status => Some(model.status.as_str()),
                    ModelStringAttribute::SourceRunId => model.source_run_id.as_deref(),
                };
                predicate.matches(value)
            }
            LoggedModelClause::TimeAttribute {
                attribute,
                op,
                value,
            } => {
                let time = match attribute {
                    ModelTimeAttribute::CreationTimestamp => model.creation_timestamp,
                    ModelTimeAttribute::LastUpdatedTimestamp => model.last_updated_timestamp,
                };
                op.holds(time, *value)
            }
            LoggedModelClause::Metric { key, op, value } => {
                metric_holds(&model.metrics, key, *op, *value)
            }
            LoggedModelClause::Param { key, predicate } => {
                predicate.matches(param_value(&model.params, key))
            }
            LoggedModelClause::Tag { key, predicate } => {
                predicate.matches(tag_value(&model.tags, key))
            }
        }
    }
}

impl LoggedModelFilter {
    pub fn matches(&self, model: &LoggedModel) -> bool {
        self.clauses.iter().all(|clause| clause.matches(model))
    }
}

/// A run's value for one sort key.
#[derive(Debug, Clone, Copy)]
enum SortValue<'r> {
    Number(f64),
    Integer(i64),
    Text(&'r str),
    /// Experiment ids are integers in storage and sort numerically.
    ExperimentId(&'r str),
    NaN,
    Missing,
}

impl SortValue<'_> {
    /// Sorted ascending whatever the direction: values, then NaN, then missing.
    fn rank(self) -> u8 {
        match self {
            SortValue::NaN => 1,
            SortValue::Missing => 2,
            _ => 0,
        }
    }
}

fn sort_value<'r>(key: &RunOrderKey, run: &'r Run) -> SortValue<'r> {
    let text = |value: Option<&'r str>| value.map_or(SortValue::Missing, SortValue::Text);
    match key {
        RunOrderKey::Metric(key) => match latest_metric(&run.metrics, key) {
            None => SortValue::Missing,
            Some(metric) if metric.value.is_nan() => SortValue::NaN,
            Some(metric) => SortValue::Number(metric.value),
        },
        RunOrderKey::Param(key) => text(param_value(&run.params, key)),
        RunOrderKey::Tag(key) => text(tag_value(&run.tags, key)),
        RunOrderKey::Attribute(attribute) => {
            let info = &run.info;
            match attribute {
                RunOrderAttribute::RunId => SortValue::Text(&info.run_id),
                RunOrderAttribute::RunName => SortValue::Text(&info.run_name),
                RunOrderAttribute::Status => SortValue::Text(info.status.as_str()),
                RunOrderAttribute::ArtifactUri => SortValue::Text(&info.artifact_uri),
                RunOrderAttribute::UserId => SortValue::Text(&info.user_id),
                RunOrderAttribute::StartTime => SortValue::Integer(info.start_time),
                RunOrderAttribute::EndTime => {
                    info.end_time.map_or(SortValue::Missing, SortValue::Integer)
                }
                RunOrderAttribute::ExperimentId => SortValue::ExperimentId(&info.experiment_id),
            }
        }
    }
}

fn compare_present(a: SortValue<'_>, b: SortValue<'_>) -> Ordering {
    match (a, b) {
        (SortValue::Number(a), SortValue::Number(b)) => {
            a.partial_cmp(&b).unwrap_or(Ordering::Equal)
        }
        (SortValue::Integer(a), SortValue::Integer(b)) => a.cmp(&b),
        (SortValue::Text(a), SortValue::Text(b)) => a.cmp(b),
        (SortValue::ExperimentId(a), SortValue::ExperimentId(b)) => {
            match (a.parse::<i64>(), b.parse::<i64>()) {
                (Ok(a), Ok(b)) => a.cmp(&b),
                _ => a.cmp(b),
            }
        }
        _ => Ordering::Equal,
    }
}

/// The order of two runs in `runs/search` results.
///
/// For each `order_by` entry in turn (the first difference decides):
/// 1. a rank, always ascending whatever the direction: 0 for a present value, 1 for a NaN metric
///    value, 2 for a missing value (metric, param or tag the run does not have; `end_time` of a
///    run that has not ended);
/// 2. between two present values, the value in the requested direction: numbers numerically
///    (metrics as f64 with -0.0 = 0.0, times and experiment ids as integers), strings by code
///    point. Two NaNs, or two missing values, are equal.
///
/// So a metric sorts `ASC`: `-inf … +inf, NaN, missing` and `DESC`: `+inf … -inf, NaN,
/// missing`; params, tags and `end_time` sort present values (either direction), then missing.
/// This is MLflow's SQL store (`CASE WHEN is_nan THEN 1 WHEN value IS NULL THEN 2 ELSE 0 END`
/// ascending, then the value) and its in-memory `_get_value_for_sort`.
///
/// Ties are then broken by `start_time DESC`, then `run_id ASC`, which makes the order total.
pub fn compare_runs(order_by: &[RunOrderBy], a: &Run, b: &Run) -> Ordering {
    for entry in order_by {
        let (value_a, value_b) = (sort_value(&entry.key, a), sort_value(&entry.key, b));
        let ordering = value_a.rank().cmp(&value_b.rank()).then_with(|| {
            let ordering = compare_present(value_a, value_b);
            if entry.ascending {
                ordering
            } else {
                ordering.reverse()
            }
        });
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    b.info
        .start_time
        .cmp(&a.info.start_time)
        .then_with(|| a.info.run_id.cmp(&b.info.run_id))
}

#[cfg(test)]
mod tests;
