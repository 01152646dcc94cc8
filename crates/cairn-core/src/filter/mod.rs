//! The filter and order-by language of MLflow's search APIs.
//!
//! - [`ast`]: the typed trees every backend compiles; their `Display` impls print filter text
//!   that parses back to the same tree (see `print`).
//! - `lexer`, `parser`: text → tree, with errors that say where (byte position) and why.
//! - `eval`: an in-memory evaluator ([`ast::RunFilter::matches`], [`compare_runs`]) used as the
//!   reference oracle that storage backends are tested against.
//!
//! Entry points: [`parse_run_filter`], [`parse_run_order_by`], [`parse_experiment_filter`],
//! [`parse_experiment_order_by`], [`parse_logged_model_filter`],
//! [`parse_logged_model_order_field`], and the model registry's [`parse_registered_model_filter`],
//! [`parse_registered_model_order_by`], [`parse_model_version_filter`],
//! [`parse_model_version_order_by`]. Every error is a [`FilterError`], which converts into a
//! [`ValidationError`] (`400 INVALID_PARAMETER_VALUE`) quoting the offending text.
//!
//! **Architecture Invariant:** parsing never panics, whatever the input (a fuzz target,
//! `fuzz/fuzz_targets/filter_parse.rs`, and property tests check it), and runs in time linear in
//! the input (no recursion, no backtracking).

pub mod ast;
mod eval;
mod lexer;
mod parser;
mod print;

#[cfg(test)]
mod proptests;

use std::fmt;

pub use eval::{compare_runs, ilike_matches, like_matches};

use crate::validation::{ValidationError, truncate_chars};

/// What a [`FilterError`] was found in; decides the wording of the [`ValidationError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Filter,
    OrderByClause,
    OrderByField,
}

/// A malformed filter or order-by: what is wrong and, when known, the byte position in the text
/// (the filter string, or the one `order_by` clause) where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    message: String,
    position: Option<usize>,
    input: Option<(Subject, String)>,
}

impl FilterError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        FilterError {
            message: message.into(),
            position: None,
            input: None,
        }
    }

    pub(crate) fn at(position: usize, message: impl Into<String>) -> Self {
        FilterError {
            message: message.into(),
            position: Some(position),
            input: None,
        }
    }

    fn with_input(mut self, subject: Subject, text: &str) -> Self {
        self.input = Some((subject, text.to_string()));
        self
    }

    pub(crate) fn for_order_by(self, clause: &str) -> Self {
        self.with_input(Subject::OrderByClause, clause)
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Byte offset into the text where the problem was found.
    pub fn position(&self) -> Option<usize> {
        self.position
    }

    /// The text that failed to parse (the filter, or the single `order_by` clause or field).
    pub fn input(&self) -> Option<&str> {
        self.input.as_ref().map(|(_, text)| text.as_str())
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(position) => write!(f, "{} at position {position}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for FilterError {}

/// Longest piece of user text echoed back in an error.
const MAX_ECHOED_CHARS: usize = 1000;

impl From<FilterError> for ValidationError {
    /// `Invalid filter 'metrics.acc >> 1': unexpected '>', expected a value at position 13`.
    fn from(error: FilterError) -> Self {
        let Some((subject, text)) = &error.input else {
            return ValidationError::new(error.to_string());
        };
        let what = match subject {
            Subject::Filter => "filter",
            Subject::OrderByClause => "order_by clause",
            Subject::OrderByField => "order_by field",
        };
        let mut shown = truncate_chars(text, MAX_ECHOED_CHARS);
        if shown.len() < text.len() {
            shown.push_str("...");
        }
        ValidationError::new(format!("Invalid {what} '{shown}': {error}"))
    }
}

/// Parses a `runs/search` filter. An empty or all-whitespace text is the empty filter.
pub fn parse_run_filter(text: &str) -> Result<ast::RunFilter, FilterError> {
    parser::run_filter(text)
        .map(|clauses| ast::RunFilter { clauses })
        .map_err(|error| error.with_input(Subject::Filter, text))
}

/// Parses `runs/search` `order_by` entries (`"metrics.acc DESC"`, `"start_time"`, ...).
pub fn parse_run_order_by(clauses: &[String]) -> Result<Vec<ast::RunOrderBy>, FilterError> {
    parser::run_order_by(clauses)
}

/// Parses an `experiments/search` filter.
pub fn parse_experiment_filter(text: &str) -> Result<ast::ExperimentFilter, FilterError> {
    parser::experiment_filter(text)
        .map(|clauses| ast::ExperimentFilter { clauses })
        .map_err(|error| error.with_input(Subject::Filter, text))
}

/// Parses `experiments/search` `order_by` entries.
pub fn parse_experiment_order_by(
    clauses: &[String],
) -> Result<Vec<ast::ExperimentOrderBy>, FilterError> {
    parser::experiment_order_by(clauses)
}

/// Parses a `logged-models/search` filter.
pub fn parse_logged_model_filter(text: &str) -> Result<ast::LoggedModelFilter, FilterError> {
    parser::logged_model_filter(text)
        .map(|clauses| ast::LoggedModelFilter { clauses })
        .map_err(|error| error.with_input(Subject::Filter, text))
}

/// One `logged-models/search` `order_by` entry. `field_name` is as MLflow sends it, e.g.
/// `"creation_timestamp"`, `"name"`, `"metrics.accuracy"`; empty dataset strings count as absent.
pub fn parse_logged_model_order_field(
    field_name: &str,
    ascending: bool,
    dataset_name: Option<String>,
    dataset_digest: Option<String>,
) -> Result<ast::LoggedModelOrderBy, FilterError> {
    parser::logged_model_order_field(field_name, ascending, dataset_name, dataset_digest)
        .map_err(|error| error.with_input(Subject::OrderByField, field_name))
}

/// Parses a `registered-models/search` filter (`name`, `tags.<key>`).
pub fn parse_registered_model_filter(
    text: &str,
) -> Result<ast::RegisteredModelFilter, FilterError> {
    parser::registered_model_filter(text)
        .map(|clauses| ast::RegisteredModelFilter { clauses })
        .map_err(|error| error.with_input(Subject::Filter, text))
}

/// Parses `registered-models/search` `order_by` entries.
pub fn parse_registered_model_order_by(
    clauses: &[String],
) -> Result<Vec<ast::RegisteredModelOrderBy>, FilterError> {
    parser::registered_model_order_by(clauses)
}

/// Parses a `model-versions/search` filter (`name`, `run_id`, `source_path`,
/// `version_number`, `tags.<key>`).
pub fn parse_model_version_filter(text: &str) -> Result<ast::ModelVersionFilter, FilterError> {
    parser::model_version_filter(text)
        .map(|clauses| ast::ModelVersionFilter { clauses })
        .map_err(|error| error.with_input(Subject::Filter, text))
}

/// Parses `model-versions/search` `order_by` entries.
pub fn parse_model_version_order_by(
    clauses: &[String],
) -> Result<Vec<ast::ModelVersionOrderBy>, FilterError> {
    parser::model_version_order_by(clauses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_filters() {
        use ast::*;
        let filter =
            parse_registered_model_filter("name ILIKE '%fraud%' AND tags.team = 'risk'").unwrap();
        assert_eq!(
            filter.clauses,
            vec![
                RegisteredModelClause::Name(StringPredicate::Compare(
                    StringOp::ILike,
                    "%fraud%".into()
                )),
                RegisteredModelClause::Tag {
                    key: "team".into(),
                    predicate: StringPredicate::Compare(StringOp::Eq, "risk".into())
                }
            ]
        );
        assert!(parse_registered_model_filter("run_id = 'x'").is_err());
        assert!(parse_registered_model_filter("metrics.a > 1").is_err());
        let filter = parse_model_version_filter(
            "name = 'm' AND run_id IN ('a', 'b') AND version_number >= 2 AND tags.`x y` != 'z'",
        )
        .unwrap();
        assert_eq!(filter.clauses.len(), 4);
        assert_eq!(
            filter.clauses[2],
            ModelVersionClause::VersionNumber {
                op: NumOp::Ge,
                value: 2
            }
        );
        let error = parse_model_version_filter("version_number = 'two'").unwrap_err();
        assert!(error.message().contains("expected a number"), "{error}");
        assert!(parse_model_version_filter("tags.a IN ('x')").is_err());
        let order = parse_registered_model_order_by(&["timestamp DESC".into()]).unwrap();
        assert_eq!(order[0].key, RegisteredModelOrderKey::LastUpdatedTimestamp);
        assert!(!order[0].ascending);
        assert!(parse_registered_model_order_by(&["tags.a".into()]).is_err());
        assert!(
            parse_model_version_order_by(&["version_number".into(), "version_number DESC".into()])
                .is_err()
        );
        assert!(parse_model_version_order_by(&["run_id".into()]).is_err());
    }

    #[test]
    fn validation_error_says_where_and_why() {
        let error = parse_run_filter("metrics.acc >> 1").unwrap_err();
        assert_eq!(error.position(), Some(13));
        assert_eq!(error.input(), Some("metrics.acc >> 1"));
        let validation = ValidationError::from(error);
        assert_eq!(
            validation.message(),
            "Invalid filter 'metrics.acc >> 1': unexpected '>', expected a value at position 13"
        );
    }

    #[test]
    fn order_by_errors_quote_the_clause() {
        let error = parse_run_order_by(&[
            "metrics.acc DESC".to_string(),
            "start_time DOWN".to_string(),
        ])
        .unwrap_err();
        assert_eq!(error.input(), Some("start_time DOWN"));
        assert_eq!(error.position(), Some(11));
        let validation = ValidationError::from(error);
        assert!(
            validation
                .message()
                .starts_with("Invalid order_by clause 'start_time DOWN': expected ASC or DESC")
        );
        let error = parse_logged_model_order_field("bogus", true, None, None).unwrap_err();
        assert!(
            ValidationError::from(error)
                .message()
                .starts_with("Invalid order_by field 'bogus': ")
        );
    }

    #[test]
    fn long_inputs_are_truncated_in_messages() {
        let text = format!("tags.x = '{}", "y".repeat(5000));
        let validation = ValidationError::from(parse_run_filter(&text).unwrap_err());
        assert!(
            validation.message().len() < 1200,
            "{}",
            validation.message().len()
        );
        assert!(validation.message().contains("...': unterminated string"));
    }

    #[test]
    fn display_without_position() {
        let error = FilterError::new("boom");
        assert_eq!(error.to_string(), "boom");
        assert_eq!(error.position(), None);
        assert_eq!(ValidationError::from(error).message(), "boom");
    }
}
