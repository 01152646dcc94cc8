//! MLflow's validation rules and limits, with the messages its clients and users rely on.
//!
//! Every check returns a [`ValidationError`], which the API layer answers with
//! `400 INVALID_PARAMETER_VALUE`. Long param and run-tag values are not errors: they are truncated
//! (MLflow's server does the same), see [`truncate_chars`].

use std::fmt;

use crate::model::{Metric, Param, Tag};

pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
pub const MAX_ENTITY_KEY_LENGTH: usize = 250;
pub const MAX_PARAM_VAL_LENGTH: usize = 6000;
pub const MAX_TAG_VAL_LENGTH: usize = 8000;
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
pub const MAX_EXPERIMENT_TAG_VAL_LENGTH: usize = 20000;
pub const MAX_DATASET_NAME_SIZE: usize = 500;
pub const MAX_DATASET_DIGEST_SIZE: usize = 36;
pub const MAX_DATASET_SOURCE_SIZE: usize = 65535;
pub const MAX_DATASET_SCHEMA_SIZE: usize = 1_048_575;
pub const MAX_DATASET_PROFILE_SIZE: usize = 16_777_215;
pub const MAX_INPUT_TAG_KEY_SIZE: usize = 255;
pub const MAX_INPUT_TAG_VALUE_SIZE: usize = 500;
pub const MAX_RESULTS_SEARCH_RUNS: i64 = 50_000;
pub const DEFAULT_RESULTS_SEARCH_RUNS: i64 = 1000;
pub const MAX_RESULTS_SEARCH_EXPERIMENTS: i64 = 50_000;

/// A user mistake in a request: bad key, value over a limit, malformed filter, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    message: String,
}

impl ValidationError {
    pub fn new(message: impl Into<String>) -> Self {
        ValidationError {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// `Missing value for required parameter '<field>'`.
    pub fn missing(field: &str) -> Self {
        ValidationError::new(format!("Missing value for required parameter '{field}'"))
    }

    /// `Invalid value <v> for parameter '<field>' supplied`.
    pub fn invalid_value(value: impl fmt::Display, field: &str) -> Self {
        ValidationError::new(format!(
            "Invalid value {value} for parameter '{field}' supplied"
        ))
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidationError {}

const BAD_CHARACTERS: &str = "Names may only contain alphanumerics, underscores (_), dashes (-), \
periods (.), spaces ( ), colon(:) and slashes (/).";

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':')
}

/// POSIX `normpath` for the purpose of the "names must not resolve to other names" rule.
pub(crate) fn normalize_path(name: &str) -> String {
    if name.is_empty() {
        return ".".to_string();
    }
    let absolute = name.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

fn check_name(kind: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::new(format!(
            "Invalid {kind} name: ''. A key name must be provided."
        )));
    }
    if !name.chars().all(is_name_char) {
        return Err(ValidationError::new(format!(
            "Invalid {kind} name: '{name}'. {BAD_CHARACTERS}"
        )));
    }
    let normalized = normalize_path(name);
    if normalized != name
        || normalized == "."
        || normalized.starts_with("..")
        || normalized.starts_with('/')
    {
        return Err(ValidationError::new(format!(
            "Invalid {kind} name: '{name}'. Names may be treated as files in certain cases, and must \
             not resolve to other names when treated as such. This name would resolve to '{normalized}'"
        )));
    }
    if name.chars().count() > MAX_ENTITY_KEY_LENGTH {
        return Err(length_error(
            &format!("{} key", capitalize(kind)),
            MAX_ENTITY_KEY_LENGTH,
            name,
        ));
    }
    Ok(())
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn length_error(entity: &str, limit: usize, value: &str) -> ValidationError {
    let head: String = value.chars().take(250).collect();
    ValidationError::new(format!(
        "{entity} '{head}' had length {}, which exceeded length limit of {limit}",
        value.chars().count()
    ))
}

/// Cuts `value` to at most `limit` characters (not bytes).
pub fn truncate_chars(value: &str, limit: usize) -> String {
    match value.char_indices().nth(limit) {
        Some((byte_index, _)) => value[..byte_index].to_string(),
        None => value.to_string(),
    }
}

pub fn check_metric_key(key: &str) -> Result<(), ValidationError> {
    check_name("metric", key)
}

pub fn check_param_key(key: &str) -> Result<(), ValidationError> {
    check_name("parameter", key)
}

pub fn check_tag_key(key: &str) -> Result<(), ValidationError> {
    check_name("tag", key)
}

/// Validates a metric point (key and timestamp; any f64 value is acceptable).
pub fn check_metric(metric: &Metric) -> Result<(), ValidationError> {
    check_metric_key(&metric.key)?;
    if metric.timestamp < 0 {
        return Err(ValidationError::new(format!(
            "Got invalid timestamp {} for metric '{}' (value={}). Timestamp must be a nonnegative \
             long (64-bit integer) ",
            metric.timestamp, metric.key, metric.value
        )));
    }
    Ok(())
}

/// Validates a param and returns it with its value truncated to the limit.
pub fn normalize_param(param: Param) -> Result<Param, ValidationError> {
    check_param_key(&param.key)?;
    let value = truncate_chars(&param.value, MAX_PARAM_VAL_LENGTH);
    Ok(Param {
        key: param.key,
        value,
    })
}

/// Validates a run tag and returns it with its value truncated to the limit.
pub fn normalize_run_tag(tag: Tag) -> Result<Tag, ValidationError> {
    check_tag_key(&tag.key)?;
    let value = truncate_chars(&tag.value, MAX_TAG_VAL_LENGTH);
    Ok(Tag {
        key: tag.key,
        value,
    })
}

/// Validates an experiment tag; long values are rejected, not truncated.
pub fn check_experiment_tag(tag: &Tag) -> Result<(), ValidationError> {
    check_tag_key(&tag.key)?;
    if tag.value.chars().count() > MAX_EXPERIMENT_TAG_VAL_LENGTH {
        return Err(length_error(
            "Tag value",
            MAX_EXPERIMENT_TAG_VAL_LENGTH,
            &tag.value,
        ));
    }
    Ok(())
}

pub fn check_experiment_name(name: &str) -> Result<(), ValidationError> {
    if name.trim().is_empty() {
        return Err(ValidationError::new(format!(
            "Invalid experiment name: '{name}'"
        )));
    }
    if name.chars().count() > MAX_EXPERIMENT_NAME_LENGTH {
        return Err(ValidationError::new(format!(
            "Experiment name exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH} characters"
        )));
    }
    Ok(())
}

fn check_batch_limit(entity: &str, limit: usize, length: usize) -> Result<(), ValidationError> {
    if length > limit {
        return Err(ValidationError::new(format!(
            "A batch logging request can contain at most {limit} {entity}. Got {length} {entity}. \
             Please split up {entity} across multiple requests and try again."
        )));
    }
    Ok(())
}

/// Count limits of `log-batch`.
pub fn check_batch_limits(
    metrics: usize,
    params: usize,
    tags: usize,
) -> Result<(), ValidationError> {
    check_batch_limit("metrics", MAX_METRICS_PER_BATCH, metrics)?;
    check_batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, params)?;
    check_batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, tags)?;
    check_batch_limit(
        "metrics, params, and tags",
        MAX_ENTITIES_PER_BATCH,
        metrics + params + tags,
    )
}

/// Rejects a batch that names one param key twice.
pub fn check_param_keys_unique(params: &[Param]) -> Result<(), ValidationError> {
    let mut seen = std::collections::HashSet::new();
    let mut duplicates: Vec<&str> = Vec::new();
    for param in params {
        if !seen.insert(param.key.as_str()) && !duplicates.contains(&param.key.as_str()) {
            duplicates.push(&param.key);
        }
    }
    if duplicates.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = duplicates.iter().map(|k| format!("'{k}'")).collect();
    Err(ValidationError::new(format!(
        "Duplicate parameter keys have been submitted: [{}]. Please ensure the request contains \
         only one param value per param key.",
        listed.join(", ")
    )))
}

/// The message for re-logging a param with a different value.
pub fn changed_param_message(run_id: &str, key: &str, old: &str, new: &str) -> String {
    format!(
        "Changing param values is not allowed. Param with key='{key}' was already logged with \
         value='{old}' for run ID='{run_id}'. Attempted logging new value '{new}'."
    )
}

/// The message for any write to a run that is not active.
pub fn inactive_run_message(run_id: &str) -> String {
    format!("The run {run_id} must be in the 'active' state. Current state is deleted.")
}

/// `max_results` of `runs/search`.
pub fn check_search_runs_max_results(max_results: i64) -> Result<(), ValidationError> {
    if !(1..=MAX_RESULTS_SEARCH_RUNS).contains(&max_results) {
        return Err(ValidationError::new(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be at most \
             {MAX_RESULTS_SEARCH_RUNS}, but got value {max_results}"
        )));
    }
    Ok(())
}

/// `max_results` of `experiments/search`.
pub fn check_search_experiments_max_results(max_results: i64) -> Result<(), ValidationError> {
    if !(1..=MAX_RESULTS_SEARCH_EXPERIMENTS).contains(&max_results) {
        return Err(ValidationError::new(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be at most \
             {MAX_RESULTS_SEARCH_EXPERIMENTS} and at least 1, but got value {max_results}"
        )));
    }
    Ok(())
}

/// Dataset fields' size limits.
pub fn check_dataset(
    name: &str,
    digest: &str,
    source: &str,
    schema: Option<&str>,
    profile: Option<&str>,
) -> Result<(), ValidationError> {
    let checks = [
        ("Dataset name", MAX_DATASET_NAME_SIZE, Some(name)),
        ("Dataset digest", MAX_DATASET_DIGEST_SIZE, Some(digest)),
        ("Dataset source", MAX_DATASET_SOURCE_SIZE, Some(source)),
        ("Dataset schema", MAX_DATASET_SCHEMA_SIZE, schema),
        ("Dataset profile", MAX_DATASET_PROFILE_SIZE, profile),
    ];
    for (entity, limit, value) in checks {
        if let Some(value) = value
            && value.chars().count() > limit
        {
            return Err(length_error(entity, limit, value));
        }
    }
    Ok(())
}

/// Input-tag size limits.
pub fn check_input_tag(tag: &Tag) -> Result<(), ValidationError> {
    if tag.key.chars().count() > MAX_INPUT_TAG_KEY_SIZE {
        return Err(length_error(
            "Input tag key",
            MAX_INPUT_TAG_KEY_SIZE,
            &tag.key,
        ));
    }
    if tag.value.chars().count() > MAX_INPUT_TAG_VALUE_SIZE {
        return Err(length_error(
            "Input tag value",
            MAX_INPUT_TAG_VALUE_SIZE,
            &tag.value,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_accept_mlflow_charset() {
        for key in ["loss", "train/loss", "a.b-c d:e", "épsilon", "x_1"] {
            assert!(check_metric_key(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn keys_reject_bad_chars_and_paths() {
        for key in [
            "", "a!b", "../x", "/abs", "a//b", "a/./b", "a/", ".", "a/../b",
        ] {
            assert!(check_param_key(key).is_err(), "{key}");
        }
        let err = check_metric_key("a!").unwrap_err();
        assert!(err.message().starts_with("Invalid metric name: 'a!'"));
        let err = check_tag_key("a/../b").unwrap_err();
        assert!(err.message().contains("would resolve to 'b'"), "{err}");
    }

    #[test]
    fn key_length_limit() {
        assert!(check_param_key(&"k".repeat(250)).is_ok());
        assert!(check_param_key(&"k".repeat(251)).is_err());
    }

    #[test]
    fn normpath_matches_posix() {
        assert_eq!(normalize_path("a/b"), "a/b");
        assert_eq!(normalize_path("a//b/"), "a/b");
        assert_eq!(normalize_path("../a"), "../a");
        assert_eq!(normalize_path("/../a"), "/a");
        assert_eq!(normalize_path("a/.."), ".");
    }

    #[test]
    fn long_values_truncate_by_character() {
        let param = normalize_param(Param::new("p", "é".repeat(7000))).unwrap();
        assert_eq!(param.value.chars().count(), MAX_PARAM_VAL_LENGTH);
        let tag = normalize_run_tag(Tag::new("t", "x".repeat(9000))).unwrap();
        assert_eq!(tag.value.len(), MAX_TAG_VAL_LENGTH);
        assert!(check_experiment_tag(&Tag::new("t", "x".repeat(20001))).is_err());
    }

    #[test]
    fn batch_limits() {
        assert!(check_batch_limits(1000, 0, 0).is_ok());
        assert!(check_batch_limits(1001, 0, 0).is_err());
        assert!(check_batch_limits(0, 101, 0).is_err());
        assert!(check_batch_limits(900, 100, 1).is_err());
    }

    #[test]
    fn duplicate_params_are_named() {
        let params = vec![
            Param::new("a", "1"),
            Param::new("a", "2"),
            Param::new("b", "1"),
        ];
        let err = check_param_keys_unique(&params).unwrap_err();
        assert!(err.message().contains("['a']"), "{err}");
    }

    #[test]
    fn experiment_names() {
        assert!(check_experiment_name("x").is_ok());
        assert!(check_experiment_name("  ").is_err());
        assert!(check_experiment_name(&"n".repeat(501)).is_err());
    }
}
