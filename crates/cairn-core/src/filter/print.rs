//! `Display` for the syntax trees: prints filter / order-by text that parses back to the same
//! tree (checked by property tests). Keys that are not plain names are backtick-quoted, strings
//! are single-quoted with `\'` and `\\` escapes, and attributes are written without a prefix.
//!
//! Only metric values that are finite print as parseable numbers (the language has no NaN or
//! infinity literal).

use std::fmt::{self, Display, Formatter};

use super::ast::{
    DatasetField, ExperimentClause, ExperimentFilter, ExperimentOrderBy, ExperimentOrderKey,
    ExperimentTimeAttribute, LoggedModelClause, LoggedModelFilter, LoggedModelOrderBy,
    LoggedModelOrderKey, ModelStringAttribute, ModelTimeAttribute, NumOp, RunClause, RunFilter,
    RunOrderAttribute, RunOrderBy, RunOrderKey, RunStringAttribute, RunTimeAttribute, StringOp,
    StringPredicate,
};
use super::lexer::is_bare_key;

fn write_quoted(f: &mut Formatter<'_>, quote: char, text: &str) -> fmt::Result {
    write!(f, "{quote}")?;
    for c in text.chars() {
        if c == quote || c == '\\' {
            write!(f, "\\")?;
        }
        write!(f, "{c}")?;
    }
    write!(f, "{quote}")
}

/// `prefix.key`, backtick-quoting the key when it is not a plain name.
fn write_key(f: &mut Formatter<'_>, prefix: &str, key: &str) -> fmt::Result {
    write!(f, "{prefix}.")?;
    if is_bare_key(key) {
        f.write_str(key)
    } else {
        write_quoted(f, '`', key)
    }
}

impl Display for NumOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NumOp::Eq => "=",
            NumOp::Ne => "!=",
            NumOp::Lt => "<",
            NumOp::Le => "<=",
            NumOp::Gt => ">",
            NumOp::Ge => ">=",
        })
    }
}

impl Display for StringOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StringOp::Eq => "=",
            StringOp::Ne => "!=",
            StringOp::Like => "LIKE",
            StringOp::ILike => "ILIKE",
        })
    }
}

/// Prints the operator and operand: ` = 'x'`, ` IN ('a', 'b')`, ` IS NULL` (with a leading space).
impl Display for StringPredicate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let write_list = |f: &mut Formatter<'_>, keyword: &str, items: &[String]| {
            write!(f, " {keyword} (")?;
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    f.write_str(", ")?;
                }
                write_quoted(f, '\'', item)?;
            }
            f.write_str(")")
        };
        match self {
            StringPredicate::Compare(op, value) => {
                write!(f, " {op} ")?;
                write_quoted(f, '\'', value)
            }
            StringPredicate::In(items) => write_list(f, "IN", items),
            StringPredicate::NotIn(items) => write_list(f, "NOT IN", items),
            StringPredicate::IsNull => f.write_str(" IS NULL"),
            StringPredicate::IsNotNull => f.write_str(" IS NOT NULL"),
        }
    }
}

impl RunStringAttribute {
    pub fn name(self) -> &'static str {
        match self {
            RunStringAttribute::RunId => "run_id",
            RunStringAttribute::RunName => "run_name",
            RunStringAttribute::Status => "status",
            RunStringAttribute::ArtifactUri => "artifact_uri",
            RunStringAttribute::UserId => "user_id",
        }
    }
}

impl RunTimeAttribute {
    pub fn name(self) -> &'static str {
        match self {
            RunTimeAttribute::StartTime => "start_time",
            RunTimeAttribute::EndTime => "end_time",
        }
    }
}

impl RunOrderAttribute {
    pub fn name(self) -> &'static str {
        match self {
            RunOrderAttribute::RunId => "run_id",
            RunOrderAttribute::RunName => "run_name",
            RunOrderAttribute::Status => "status",
            RunOrderAttribute::ArtifactUri => "artifact_uri",
            RunOrderAttribute::UserId => "user_id",
            RunOrderAttribute::StartTime => "start_time",
            RunOrderAttribute::EndTime => "end_time",
            RunOrderAttribute::ExperimentId => "experiment_id",
        }
    }
}

impl DatasetField {
    pub fn name(self) -> &'static str {
        match self {
            DatasetField::Name => "name",
            DatasetField::Digest => "digest",
            DatasetField::Context => "context",
        }
    }
}

impl Display for RunClause {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            RunClause::Metric { key, op, value } => {
                write_key(f, "metrics", key)?;
                write!(f, " {op} {value}")
            }
            RunClause::Param { key, predicate } => {
                write_key(f, "params", key)?;
                write!(f, "{predicate}")
            }
            RunClause::Tag { key, predicate } => {
                write_key(f, "tags", key)?;
                write!(f, "{predicate}")
            }
            RunClause::StringAttribute {
                attribute,
                predicate,
            } => write!(f, "{}{predicate}", attribute.name()),
            RunClause::TimeAttribute {
                attribute,
                op,
                value,
            } => write!(f, "{} {op} {value}", attribute.name()),
            RunClause::Dataset { field, predicate } => {
                write!(f, "datasets.{}{predicate}", field.name())
            }
        }
    }
}

fn write_conjunction<T: Display>(f: &mut Formatter<'_>, clauses: &[T]) -> fmt::Result {
    for (index, clause) in clauses.iter().enumerate() {
        if index > 0 {
            f.write_str(" AND ")?;
        }
        write!(f, "{clause}")?;
    }
    Ok(())
}

impl Display for RunFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_conjunction(f, &self.clauses)
    }
}

fn direction(ascending: bool) -> &'static str {
    if ascending { "ASC" } else { "DESC" }
}

impl Display for RunOrderBy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.key {
            RunOrderKey::Metric(key) => write_key(f, "metrics", key)?,
            RunOrderKey::Param(key) => write_key(f, "params", key)?,
            RunOrderKey::Tag(key) => write_key(f, "tags", key)?,
            RunOrderKey::Attribute(attribute) => f.write_str(attribute.name())?,
        }
        write!(f, " {}", direction(self.ascending))
    }
}

impl ExperimentTimeAttribute {
    pub fn name(self) -> &'static str {
        match self {
            ExperimentTimeAttribute::CreationTime => "creation_time",
            ExperimentTimeAttribute::LastUpdateTime => "last_update_time",
        }
    }
}

impl ExperimentOrderKey {
    pub fn name(self) -> &'static str {
        match self {
            ExperimentOrderKey::Name => "name",
            ExperimentOrderKey::ExperimentId => "experiment_id",
            ExperimentOrderKey::CreationTime => "creation_time",
            ExperimentOrderKey::LastUpdateTime => "last_update_time",
        }
    }
}

impl Display for ExperimentClause {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ExperimentClause::Name(predicate) => write!(f, "name{predicate}"),
            ExperimentClause::ExperimentId(predicate) => write!(f, "experiment_id{predicate}"),
            ExperimentClause::TimeAttribute {
                attribute,
                op,
                value,
            } => write!(f, "{} {op} {value}", attribute.name()),
            ExperimentClause::Tag { key, predicate } => {
                write_key(f, "tags", key)?;
                write!(f, "{predicate}")
            }
        }
    }
}

impl Display for ExperimentFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_conjunction(f, &self.clauses)
    }
}

impl Display for ExperimentOrderBy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key.name(), direction(self.ascending))
    }
}

impl ModelStringAttribute {
    pub fn name(self) -> &'static str {
        match self {
            ModelStringAttribute::ModelId => "model_id",
            ModelStringAttribute::Name => "name",
            ModelStringAttribute::ModelType => "model_type",
            ModelStringAttribute::Status => "status",
            ModelStringAttribute::SourceRunId => "source_run_id",
        }
    }
}

impl ModelTimeAttribute {
    pub fn name(self) -> &'static str {
        match self {
            ModelTimeAttribute::CreationTimestamp => "creation_timestamp",
            ModelTimeAttribute::LastUpdatedTimestamp => "last_updated_timestamp",
        }
    }
}

impl Display for LoggedModelClause {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LoggedModelClause::StringAttribute {
                attribute,
                predicate,
            } => write!(f, "{}{predicate}", attribute.name()),
            LoggedModelClause::TimeAttribute {
                attribute,
                op,
                value,
            } => write!(f, "{} {op} {value}", attribute.name()),
            LoggedModelClause::Metric { key, op, value } => {
                write_key(f, "metrics", key)?;
                write!(f, " {op} {value}")
            }
            LoggedModelClause::Param { key, predicate } => {
                write_key(f, "params", key)?;
                write!(f, "{predicate}")
            }
            LoggedModelClause::Tag { key, predicate } => {
                write_key(f, "tags", key)?;
                write!(f, "{predicate}")
            }
        }
    }
}

impl Display for LoggedModelFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_conjunction(f, &self.clauses)
    }
}

impl LoggedModelOrderKey {
    /// The `field_name` MLflow sends for this key (`metrics.<key>` for metrics, unquoted).
    pub fn field_name(&self) -> String {
        match self {
            LoggedModelOrderKey::ModelId => "model_id".to_string(),
            LoggedModelOrderKey::Name => "name".to_string(),
            LoggedModelOrderKey::CreationTimestamp => "creation_timestamp".to_string(),
            LoggedModelOrderKey::LastUpdatedTimestamp => "last_updated_timestamp".to_string(),
            LoggedModelOrderKey::ModelType => "model_type".to_string(),
            LoggedModelOrderKey::Status => "status".to_string(),
            LoggedModelOrderKey::SourceRunId => "source_run_id".to_string(),
            LoggedModelOrderKey::Metric { key, .. } => format!("metrics.{key}"),
        }
    }
}

/// `field_name ASC|DESC` (dataset restrictions are not printed).
impl Display for LoggedModelOrderBy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key.field_name(), direction(self.ascending))
    }
}
