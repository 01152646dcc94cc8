//! Comments on runs and experiments (markdown bodies with `@username` mentions) and annotations
//! on chart points.

use crate::validation::ValidationError;

/// Longest comment body.
pub const MAX_COMMENT_LENGTH: usize = 20_000;

/// What a comment is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentTarget {
    Run(String),
    Experiment(String),
}

impl CommentTarget {
    pub fn kind(&self) -> &'static str {
        match self {
            CommentTarget::Run(_) => "run",
            CommentTarget::Experiment(_) => "experiment",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            CommentTarget::Run(id) | CommentTarget::Experiment(id) => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: i64,
    pub target: CommentTarget,
    /// The author's username; `None` on a server without authentication.
    pub author: Option<String>,
    /// Markdown.
    pub body: String,
    /// Usernames the body mentions (`@ada`), sorted, each once.
    pub mentions: Vec<String>,
    pub created: i64,
    /// When the body was last changed.
    pub edited: Option<i64>,
}

pub fn check_body(body: &str) -> Result<(), ValidationError> {
    if body.trim().is_empty() {
        return Err(ValidationError::new("A comment needs a body"));
    }
    if body.chars().count() > MAX_COMMENT_LENGTH {
        return Err(ValidationError::new(format!(
            "A comment may be at most {MAX_COMMENT_LENGTH} characters"
        )));
    }
    Ok(())
}

/// The usernames a body mentions: `@` at the start or after a character that cannot be part of
/// an email address, followed by a valid username (a trailing `.` is not part of it).
pub fn mentions(body: &str) -> Vec<String> {
    let chars: Vec<char> = body.chars().collect();
    let mut found = Vec::new();
    for (index, c) in chars.iter().enumerate() {
        if *c != '@' {
            continue;
        }
        let before = index.checked_sub(1).map(|i| chars[i]);
        if before.is_some_and(|b| b.is_alphanumeric() || matches!(b, '.' | '_' | '-' | '@')) {
            continue;
        }
        let name: String = chars[index + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            .collect();
        let name = name.trim_end_matches('.').to_string();
        if crate::auth::check_username(&name).is_ok() {
            found.push(name);
        }
    }
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found() {
        assert_eq!(
            mentions("@ada see this, and @bob.smith. cc @ada — not a@b.com or @@x"),
            vec!["ada", "bob.smith"]
        );
        assert!(mentions("no mentions @ here").is_empty());
        assert_eq!(mentions("(@carol)"), vec!["carol"]);
    }

    #[test]
    fn bodies() {
        assert!(check_body("  ").is_err());
        assert!(check_body("ok").is_ok());
        assert!(check_body(&"x".repeat(MAX_COMMENT_LENGTH + 1)).is_err());
    }
}

/// A note on one point of a run's metric chart (`key` at `step`), drawn on the charts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub id: i64,
    pub run_id: String,
    pub key: String,
    pub step: i64,
    pub text: String,
    pub author: Option<String>,
    pub created: i64,
}

/// One change to a run, for its activity history: who (when known) changed what, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub id: i64,
    pub run_id: String,
    pub time: i64,
    /// The signed-in user; `None` without authentication.
    pub user: Option<String>,
    /// `created`, `status FINISHED`, `renamed to …`, `tag team = risk`, `tag team removed`,
    /// `note edited`, `deleted`, `restored`.
    pub change: String,
}

/// Longest annotation text.
pub const MAX_ANNOTATION_LENGTH: usize = 1000;

pub fn check_annotation(key: &str, text: &str) -> Result<(), ValidationError> {
    crate::validation::check_metric_key(key)?;
    if text.trim().is_empty() || text.chars().count() > MAX_ANNOTATION_LENGTH {
        return Err(ValidationError::new(format!(
            "An annotation needs a text of 1 to {MAX_ANNOTATION_LENGTH} characters"
        )));
    }
    Ok(())
}
