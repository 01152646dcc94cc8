//! Typed syntax trees for the search languages (runs, experiments, logged models, registered
//! models, model versions).
//!
//! A filter is a conjunction of clauses. Each clause is already checked for the entity it targets:
//! a metric clause carries a number, a param clause a string predicate, and so on, so storage
//! backends compile them to queries without re-validating.

/// Comparison of strings (params, tags, string attributes, dataset fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StringOp {
    Eq,
    Ne,
    /// Case-sensitive SQL `LIKE` with `%` and `_` wildcards.
    Like,
    /// Case-insensitive `LIKE`.
    ILike,
}

/// Comparison of numbers (metrics, time attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// What a string-valued clause asks of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StringPredicate {
    Compare(StringOp, String),
    In(Vec<String>),
    NotIn(Vec<String>),
    IsNull,
    IsNotNull,
}

/// String-valued run attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStringAttribute {
    RunId,
    RunName,
    Status,
    ArtifactUri,
    UserId,
}

/// Time-valued run attributes (milliseconds since the epoch). `created` is an alias of `start_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunTimeAttribute {
    StartTime,
    EndTime,
}

/// Fields of a run's dataset inputs (`context` is the `mlflow.data.context` input tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetField {
    Name,
    Digest,
    Context,
}

/// One comparison of a runs filter.
#[derive(Debug, Clone, PartialEq)]
pub enum RunClause {
    /// Compares the run's latest value of `key`. Runs without the key never match.
    Metric { key: String, op: NumOp, value: f64 },
    Param {
        key: String,
        predicate: StringPredicate,
    },
    Tag {
        key: String,
        predicate: StringPredicate,
    },
    StringAttribute {
        attribute: RunStringAttribute,
        predicate: StringPredicate,
    },
    TimeAttribute {
        attribute: RunTimeAttribute,
        op: NumOp,
        value: i64,
    },
    /// Matches when any of the run's dataset inputs satisfies the predicate.
    Dataset {
        field: DatasetField,
        predicate: StringPredicate,
    },
}

/// A parsed runs filter: all clauses must hold. Empty matches every run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunFilter {
    pub clauses: Vec<RunClause>,
}

/// Run attributes that `order_by` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunOrderAttribute {
    RunId,
    RunName,
    Status,
    ArtifactUri,
    UserId,
    StartTime,
    EndTime,
    ExperimentId,
}

/// What a run is sorted by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOrderKey {
    Metric(String),
    Param(String),
    Tag(String),
    Attribute(RunOrderAttribute),
}

/// One `order_by` entry for runs. Missing values sort last in both directions; metric values sort
/// numbers, then NaN, then missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOrderBy {
    pub key: RunOrderKey,
    pub ascending: bool,
}

/// Time-valued experiment attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExperimentTimeAttribute {
    CreationTime,
    LastUpdateTime,
}

/// One comparison of an experiments filter.
#[derive(Debug, Clone, PartialEq)]
pub enum ExperimentClause {
    /// `name` with `= != LIKE ILIKE` (and `IN`/`NOT IN`).
    Name(StringPredicate),
    /// `experiment_id` with `= !=` or `IN`/`NOT IN`.
    ExperimentId(StringPredicate),
    TimeAttribute {
        attribute: ExperimentTimeAttribute,
        op: NumOp,
        value: i64,
    },
    Tag {
        key: String,
        predicate: StringPredicate,
    },
}

/// A parsed experiments filter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExperimentFilter {
    pub clauses: Vec<ExperimentClause>,
}

/// What experiments are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExperimentOrderKey {
    Name,
    ExperimentId,
    CreationTime,
    LastUpdateTime,
}

/// One `order_by` entry for experiments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentOrderBy {
    pub key: ExperimentOrderKey,
    pub ascending: bool,
}

/// String-valued logged-model attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelStringAttribute {
    ModelId,
    Name,
    ModelType,
    Status,
    SourceRunId,
}

/// Time-valued logged-model attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelTimeAttribute {
    CreationTimestamp,
    LastUpdatedTimestamp,
}

/// One comparison of a logged-models filter.
#[derive(Debug, Clone, PartialEq)]
pub enum LoggedModelClause {
    StringAttribute {
        attribute: ModelStringAttribute,
        predicate: StringPredicate,
    },
    TimeAttribute {
        attribute: ModelTimeAttribute,
        op: NumOp,
        value: i64,
    },
    /// Compares the model's latest value of `key` (any dataset).
    Metric { key: String, op: NumOp, value: f64 },
    Param {
        key: String,
        predicate: StringPredicate,
    },
    Tag {
        key: String,
        predicate: StringPredicate,
    },
}

/// A parsed logged-models filter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoggedModelFilter {
    pub clauses: Vec<LoggedModelClause>,
}

/// What logged models are sorted by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggedModelOrderKey {
    ModelId,
    Name,
    CreationTimestamp,
    LastUpdatedTimestamp,
    /// Missing values sort last in both directions.
    ModelType,
    /// By status name (`LOGGED_MODEL_PENDING`, ...).
    Status,
    /// Missing values sort last in both directions.
    SourceRunId,
    /// A metric, optionally restricted to values logged against one dataset.
    Metric {
        key: String,
        dataset_name: Option<String>,
        dataset_digest: Option<String>,
    },
}

/// One `order_by` entry for logged models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedModelOrderBy {
    pub key: LoggedModelOrderKey,
    pub ascending: bool,
}

/// One comparison of a `registered-models/search` filter.
#[derive(Debug, Clone, PartialEq)]
pub enum RegisteredModelClause {
    /// `name` with `= != LIKE ILIKE IN NOT IN`.
    Name(StringPredicate),
    /// `tags.<key>` with `= != LIKE ILIKE`; only models with the tag match.
    Tag {
        key: String,
        predicate: StringPredicate,
    },
}

/// A parsed registered-models filter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegisteredModelFilter {
    pub clauses: Vec<RegisteredModelClause>,
}

/// What registered models are sorted by; ties always end with the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisteredModelOrderKey {
    Name,
    CreationTimestamp,
    /// Also written `timestamp`.
    LastUpdatedTimestamp,
}

/// One `order_by` entry for registered models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredModelOrderBy {
    pub key: RegisteredModelOrderKey,
    pub ascending: bool,
}

/// String-valued model-version attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionStringAttribute {
    /// The registered model's name.
    Name,
    RunId,
    /// The version's `source`.
    SourcePath,
}

/// One comparison of a `model-versions/search` filter.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelVersionClause {
    StringAttribute {
        attribute: VersionStringAttribute,
        predicate: StringPredicate,
    },
    VersionNumber {
        op: NumOp,
        value: i64,
    },
    Tag {
        key: String,
        predicate: StringPredicate,
    },
}

/// A parsed model-versions filter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelVersionFilter {
    pub clauses: Vec<ModelVersionClause>,
}

/// What model versions are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelVersionOrderKey {
    Name,
    VersionNumber,
    CreationTimestamp,
    LastUpdatedTimestamp,
}

/// One `order_by` entry for model versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersionOrderBy {
    pub key: ModelVersionOrderKey,
    pub ascending: bool,
}
