//! The model registry: registered models (a named, versioned slot a team promotes models
//! through), their versions (each pointing at the artifacts of a logged model or a run), tags,
//! stages and aliases — with MLflow's validation rules and messages, so the official client sees
//! the same answers from Cairn as from MLflow's own registry.

use crate::filter::ast::{StringOp, StringPredicate};
use crate::model::Tag;
use crate::validation::ValidationError;

/// Longest registry tag key and value (MLflow's limits).
pub const MAX_REGISTRY_TAG_KEY_LENGTH: usize = 250;
pub const MAX_REGISTRY_TAG_VALUE_LENGTH: usize = 100_000;
/// Longest alias name.
pub const MAX_ALIAS_LENGTH: usize = 255;
/// `registered-models/search` page sizes.
pub const DEFAULT_RESULTS_REGISTERED_MODELS: i64 = 100;
pub const MAX_RESULTS_REGISTERED_MODELS: i64 = 1000;
/// `model-versions/search` page sizes.
pub const DEFAULT_RESULTS_MODEL_VERSIONS: i64 = 10_000;
pub const MAX_RESULTS_MODEL_VERSIONS: i64 = 200_000;

/// The tag that marks a registered model (and its versions) as a prompt rather than a model.
pub const PROMPT_TAG: &str = "mlflow.prompt.is_prompt";

/// How a registry filter treats prompts, as MLflow's registry does: a filter asking for prompts
/// (`tags.`mlflow.prompt.is_prompt` = 'true'`, or `!= 'false'`) is kept as written; any other
/// filter loses its clauses on the prompt tag and leaves prompts out. Returns whether to leave
/// prompts out.
pub fn split_prompt_clauses<C>(
    clauses: &mut Vec<C>,
    prompt_predicate: impl Fn(&C) -> Option<&StringPredicate>,
) -> bool {
    let asks_for_prompts = clauses
        .iter()
        .filter_map(&prompt_predicate)
        .next()
        .is_some_and(|predicate| match predicate {
            StringPredicate::Compare(StringOp::Eq, value) => value.eq_ignore_ascii_case("true"),
            StringPredicate::Compare(StringOp::Ne, value) => value.eq_ignore_ascii_case("false"),
            _ => false,
        });
    if asks_for_prompts {
        return false;
    }
    clauses.retain(|clause| prompt_predicate(clause).is_none());
    true
}

/// A model version's deployment stage (MLflow's legacy stages; aliases replace them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Stage {
    #[default]
    None,
    Staging,
    Production,
    Archived,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::None,
        Stage::Staging,
        Stage::Production,
        Stage::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::None => "None",
            Stage::Staging => "Staging",
            Stage::Production => "Production",
            Stage::Archived => "Archived",
        }
    }

    /// Case-insensitive, as MLflow accepts `production` for `Production`.
    pub fn parse(text: &str) -> Option<Self> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str().eq_ignore_ascii_case(text))
    }

    /// Like [`Stage::parse`], with MLflow's message for anything else.
    pub fn parse_user(text: &str) -> Result<Self, ValidationError> {
        Stage::parse(text).ok_or_else(|| {
            ValidationError::new(format!(
                "Invalid Model Version stage: {text}. Value must be one of None, Staging, Production, Archived."
            ))
        })
    }

    /// Staging and Production: the stages whose other versions a transition may archive.
    pub fn is_active(self) -> bool {
        matches!(self, Stage::Staging | Stage::Production)
    }
}

/// A registered model with its tags, aliases and the latest version in each stage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegisteredModel {
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub description: Option<String>,
    pub tags: Vec<Tag>,
    /// Sorted by alias.
    pub aliases: Vec<ModelAlias>,
    /// The highest version of each stage that has any, in stage order.
    pub latest_versions: Vec<ModelVersion>,
}

/// An alias (`champion`) naming one version of a registered model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelAlias {
    pub alias: String,
    pub version: i64,
}

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub user_id: Option<String>,
    pub current_stage: Stage,
    pub description: Option<String>,
    /// What the client registered (`models:/m-…`, `runs:/…/model`, an artifact URI).
    pub source: String,
    /// Where the version's files are (the logged model's or run's artifact location); what
    /// `get-download-uri` answers.
    pub storage_location: String,
    pub run_id: Option<String>,
    pub run_link: Option<String>,
    /// The logged model this version registers, when there is one.
    pub model_id: Option<String>,
    pub tags: Vec<Tag>,
    /// Aliases pointing at this version, sorted.
    pub aliases: Vec<String>,
}

/// What `model-versions/create` stores, after the service resolved the source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewModelVersion {
    pub name: String,
    pub source: String,
    pub storage_location: String,
    pub run_id: Option<String>,
    pub run_link: Option<String>,
    pub model_id: Option<String>,
    pub description: Option<String>,
    pub user_id: Option<String>,
    pub tags: Vec<Tag>,
    pub now: i64,
}

/// POSIX `normpath` differs from the name, or escapes: the "names may be treated as files" rule.
fn resolves_elsewhere(name: &str) -> Option<String> {
    let normalized = crate::validation::normalize_path(name);
    let moved = normalized != name
        || normalized == "."
        || normalized.starts_with("..")
        || normalized.starts_with('/');
    moved.then_some(normalized)
}

/// A registered model's name: not blank, no `/` or `:` (they would break `models:/` URIs).
pub fn check_model_name(name: &str) -> Result<(), ValidationError> {
    if name.trim().is_empty() {
        return Err(ValidationError::missing("name"));
    }
    if name.contains('/') || name.contains(':') {
        return Err(ValidationError::new(format!(
            "Invalid model name '{name}'. Names cannot contain '/' or ':'."
        )));
    }
    if let Some(normalized) = resolves_elsewhere(name) {
        return Err(ValidationError::new(format!(
            "Invalid value \"{name}\" for parameter 'name' supplied: Names may be treated as files \
             in certain cases, and must not resolve to other names when treated as such. This name \
             would resolve to '{normalized}'"
        )));
    }
    Ok(())
}

/// An alias name: letters, digits, `_` and `-`; not `latest` and not a version alias (`v3`).
pub fn check_alias(alias: &str) -> Result<(), ValidationError> {
    if alias.is_empty() {
        return Err(ValidationError::new(
            "Registered model alias name cannot be empty.",
        ));
    }
    if !alias
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ValidationError::new(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )));
    }
    if alias.chars().count() > MAX_ALIAS_LENGTH {
        return Err(ValidationError::new(format!(
            "Registered model alias name exceeds the maximum length of {MAX_ALIAS_LENGTH} characters"
        )));
    }
    Ok(())
}

/// The extra rule for setting an alias: names that `models:/name@…` would read otherwise.
pub fn check_alias_not_reserved(alias: &str) -> Result<(), ValidationError> {
    if alias.eq_ignore_ascii_case("latest") {
        return Err(ValidationError::new(
            "'latest' alias name (case insensitive) is reserved.",
        ));
    }
    let mut chars = alias.chars();
    if matches!(chars.next(), Some('v' | 'V'))
        && !alias[1..].is_empty()
        && alias[1..].chars().all(|c| c.is_ascii_digit())
    {
        return Err(ValidationError::new(format!(
            "Version alias name '{alias}' is reserved."
        )));
    }
    Ok(())
}

/// A registered-model or model-version tag.
pub fn check_registry_tag(tag: &Tag) -> Result<(), ValidationError> {
    crate::validation::check_tag_key(&tag.key)?;
    if tag.key.chars().count() > MAX_REGISTRY_TAG_KEY_LENGTH {
        return Err(ValidationError::new(format!(
            "'key' exceeds the maximum length of {MAX_REGISTRY_TAG_KEY_LENGTH} characters"
        )));
    }
    if tag.value.chars().count() > MAX_REGISTRY_TAG_VALUE_LENGTH {
        return Err(ValidationError::new(format!(
            "'value' exceeds the maximum length of {MAX_REGISTRY_TAG_VALUE_LENGTH} characters"
        )));
    }
    Ok(())
}

/// A version number as sent (`"3"`): a positive integer.
pub fn parse_version(text: &str) -> Result<i64, ValidationError> {
    match text.trim().parse::<i64>() {
        Ok(version) => Ok(version),
        Err(_) => Err(ValidationError::new(format!(
            "Parameter 'version' must be an integer, got '{text}'."
        ))),
    }
}

/// Whether a model-version source names a path that climbs out of where it points (`..`
/// segments, also percent-encoded): MLflow refuses those as a security risk.
pub fn source_has_relative_parts(source: &str) -> bool {
    let mut decoded = source.to_string();
    // Undo percent-encoding repeatedly (`%252e` hides `%2e`, which hides `.`).
    for _ in 0..8 {
        let next = percent_decode(&decoded);
        if next == decoded {
            break;
        }
        decoded = next;
    }
    let path = decoded
        .split_once('?')
        .map_or(decoded.as_str(), |(path, _)| path);
    path.split(['/', '\\']).any(|segment| segment == "..")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && index + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[index + 1]), hex(bytes[index + 2]))
        {
            out.push(high * 16 + low);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

/// The parts of a `models:/` URI: a logged model (`models:/m-…`) or a registered model's
/// version, alias, stage or latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelUri {
    LoggedModel(String),
    Version { name: String, version: i64 },
    Alias { name: String, alias: String },
    Stage { name: String, stage: Stage },
    Latest { name: String },
}

/// Parses `models:/<id>`, `models:/<name>/<version>`, `models:/<name>@<alias>`,
/// `models:/<name>/<stage>` and `models:/<name>/latest`; `None` for anything else.
pub fn parse_model_uri(uri: &str) -> Option<ModelUri> {
    let rest = uri.strip_prefix("models:/")?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.starts_with('/') {
        return None;
    }
    if let Some((name, alias)) = rest.split_once('@') {
        if name.is_empty() || alias.is_empty() || name.contains('/') {
            return None;
        }
        return Some(ModelUri::Alias {
            name: name.to_string(),
            alias: alias.to_string(),
        });
    }
    match rest.split_once('/') {
        None => Some(ModelUri::LoggedModel(rest.to_string())),
        Some((name, suffix)) if !name.is_empty() && !suffix.contains('/') => {
            let name = name.to_string();
            if let Ok(version) = suffix.parse::<i64>() {
                Some(ModelUri::Version { name, version })
            } else if suffix.eq_ignore_ascii_case("latest") {
                Some(ModelUri::Latest { name })
            } else {
                Stage::parse(suffix).map(|stage| ModelUri::Stage { name, stage })
            }
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_parse_case_insensitively() {
        assert_eq!(Stage::parse("production"), Some(Stage::Production));
        assert_eq!(Stage::parse("NONE"), Some(Stage::None));
        assert!(Stage::parse("prod").is_none());
        assert_eq!(
            Stage::parse_user("prod").unwrap_err().message(),
            "Invalid Model Version stage: prod. Value must be one of None, Staging, Production, Archived."
        );
        assert!(Stage::Staging.is_active() && !Stage::Archived.is_active());
    }

    #[test]
    fn prompt_clauses() {
        use crate::filter::ast::RegisteredModelClause;
        let prompt = |value: &str, op: StringOp| RegisteredModelClause::Tag {
            key: PROMPT_TAG.into(),
            predicate: StringPredicate::Compare(op, value.into()),
        };
        fn of(clause: &RegisteredModelClause) -> Option<&StringPredicate> {
            match clause {
                RegisteredModelClause::Tag { key, predicate } if key == PROMPT_TAG => {
                    Some(predicate)
                }
                _ => None,
            }
        }
        let name = RegisteredModelClause::Name(StringPredicate::Compare(StringOp::Eq, "a".into()));
        // What the client adds to every search: prompts left out, the clause dropped.
        let mut clauses = vec![name.clone(), prompt("true", StringOp::Ne)];
        assert!(split_prompt_clauses(&mut clauses, of));
        assert_eq!(clauses, vec![name.clone()]);
        // Asking for prompts keeps the filter as written.
        for asking in [prompt("true", StringOp::Eq), prompt("false", StringOp::Ne)] {
            let mut clauses = vec![asking.clone()];
            assert!(!split_prompt_clauses(&mut clauses, of));
            assert_eq!(clauses, vec![asking]);
        }
        let mut clauses = vec![name];
        assert!(split_prompt_clauses(&mut clauses, of));
    }

    #[test]
    fn model_names() {
        assert!(check_model_name("fraud-detector v2").is_ok());
        assert_eq!(
            check_model_name("  ").unwrap_err().message(),
            "Missing value for required parameter 'name'"
        );
        assert!(
            check_model_name("a/b")
                .unwrap_err()
                .message()
                .contains("cannot contain '/' or ':'")
        );
        assert!(check_model_name("..").is_err());
        assert!(check_model_name(".").is_err());
    }

    #[test]
    fn aliases() {
        assert!(check_alias("champion-2_b").is_ok());
        assert!(check_alias("").is_err());
        assert!(check_alias("a b").is_err());
        assert!(check_alias(&"a".repeat(256)).is_err());
        assert!(check_alias_not_reserved("Latest").is_err());
        assert!(check_alias_not_reserved("v3").is_err());
        assert!(check_alias_not_reserved("V12").is_err());
        assert!(check_alias_not_reserved("v").is_ok());
        assert!(check_alias_not_reserved("v1a").is_ok());
        assert!(check_alias_not_reserved("champion").is_ok());
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("3").unwrap(), 3);
        assert_eq!(
            parse_version("x").unwrap_err().message(),
            "Parameter 'version' must be an integer, got 'x'."
        );
    }

    #[test]
    fn relative_sources_are_found_even_encoded() {
        assert!(!source_has_relative_parts(
            "mlflow-artifacts:/1/abc/artifacts/model"
        ));
        assert!(source_has_relative_parts("mlflow-artifacts:/1/abc/../../x"));
        assert!(source_has_relative_parts("s3://b/%2e%2e/x"));
        assert!(source_has_relative_parts("s3://b/%252e%252e/x"));
        assert!(!source_has_relative_parts("s3://b/a..b/x"));
        assert!(!source_has_relative_parts("%"));
        assert!(!source_has_relative_parts("%e"));
    }

    #[test]
    fn model_uris() {
        assert_eq!(
            parse_model_uri("models:/m-0123"),
            Some(ModelUri::LoggedModel("m-0123".into()))
        );
        assert_eq!(
            parse_model_uri("models:/fraud/3"),
            Some(ModelUri::Version {
                name: "fraud".into(),
                version: 3
            })
        );
        assert_eq!(
            parse_model_uri("models:/fraud@champion"),
            Some(ModelUri::Alias {
                name: "fraud".into(),
                alias: "champion".into()
            })
        );
        assert_eq!(
            parse_model_uri("models:/fraud/Production"),
            Some(ModelUri::Stage {
                name: "fraud".into(),
                stage: Stage::Production
            })
        );
        assert_eq!(
            parse_model_uri("models:/fraud/latest"),
            Some(ModelUri::Latest {
                name: "fraud".into()
            })
        );
        assert_eq!(parse_model_uri("models:/fraud/nope"), None);
        assert_eq!(parse_model_uri("models://host/x"), None);
        assert_eq!(parse_model_uri("runs:/abc/model"), None);
        assert_eq!(parse_model_uri("models:/"), None);
    }
}
