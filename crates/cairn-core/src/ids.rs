//! Identifiers: run ids are 32 lowercase hex digits (a v4 UUID without dashes), logged-model ids are
//! `m-` followed by 32 hex digits, experiment ids are decimal strings.

use crate::validation::ValidationError;

/// A fresh run id.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A fresh logged-model id.
pub fn new_model_id() -> String {
    format!("m-{}", uuid::Uuid::new_v4().simple())
}

/// Checks a logged-model id chosen by a client (an import keeping its source's ids): the shape
/// of a run id, so `m-` and 32 hex digits pass, as do other trackers' word-and-dash ids.
pub fn check_model_id(model_id: &str) -> Result<(), ValidationError> {
    check_run_id(model_id)
        .map_err(|_| ValidationError::new(format!("Invalid logged model ID: '{model_id}'")))
}

/// Checks a run id the way MLflow does: a letter or digit, then up to 255 word characters or dashes.
pub fn check_run_id(run_id: &str) -> Result<(), ValidationError> {
    let mut chars = run_id.chars();
    let valid = match chars.next() {
        Some(first) if first.is_ascii_alphanumeric() => {
            run_id.len() <= 256 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(format!("Invalid run ID: '{run_id}'")))
    }
}

/// Parses an experiment id: a non-negative decimal integer.
pub fn parse_experiment_id(text: &str) -> Result<i64, ValidationError> {
    let trimmed = text.trim();
    if !trimmed.is_empty()
        && trimmed.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = trimmed.parse::<i64>()
    {
        return Ok(n);
    }
    Err(ValidationError::new(format!(
        "Invalid value {text} for parameter 'experiment_id' supplied"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_documented_shape() {
        let run = new_run_id();
        assert_eq!(run.len(), 32);
        assert!(check_run_id(&run).is_ok());
        let model = new_model_id();
        assert!(model.starts_with("m-") && model.len() == 34);
    }

    #[test]
    fn run_ids_are_checked() {
        assert!(check_run_id("abc-DEF_1").is_ok());
        assert!(check_run_id("").is_err());
        assert!(check_run_id("-abc").is_err());
        assert!(check_run_id("a/b").is_err());
        assert!(check_run_id(&"a".repeat(257)).is_err());
    }

    #[test]
    fn experiment_ids_are_decimal() {
        assert_eq!(parse_experiment_id("0").unwrap(), 0);
        assert_eq!(parse_experiment_id("42").unwrap(), 42);
        assert!(parse_experiment_id("abc").is_err());
        assert!(parse_experiment_id("-1").is_err());
        assert!(parse_experiment_id("").is_err());
    }
}
