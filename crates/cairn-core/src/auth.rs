//! Accounts and credentials: users, API tokens and browser sessions, and the rules for their
//! names. Hashing and checking secrets happen in the server; this module only says what they are.

use crate::validation::ValidationError;

/// Longest username.
pub const MAX_USERNAME_LENGTH: usize = 64;
/// Shortest password accepted when one is set.
pub const MIN_PASSWORD_LENGTH: usize = 8;
/// Longest token name.
pub const MAX_TOKEN_NAME_LENGTH: usize = 200;

/// A person (or a service) that signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created: i64,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    /// Reads only: searches, gets, downloads.
    Read,
    /// Everything its user may do.
    #[default]
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }
}

/// An API token's record (never its secret, which is shown once and stored hashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub scope: Scope,
    pub created: i64,
    /// Milliseconds since the epoch after which the token is refused; `None`: never.
    pub expires: Option<i64>,
    pub revoked: bool,
}

impl Token {
    /// Whether the token authenticates at `now`.
    pub fn usable(&self, now: i64) -> bool {
        !self.revoked && self.expires.is_none_or(|expires| now < expires)
    }
}

/// A signed-in browser: the session cookie's (hashed) secret names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: i64,
    /// The value cookie-authenticated writes must echo in a header (CSRF protection).
    pub csrf: String,
    pub expires: i64,
}

/// Letters, digits, `.`, `_`, `-` and `@`, starting with a letter or digit.
pub fn check_username(name: &str) -> Result<(), ValidationError> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= MAX_USERNAME_LENGTH
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(format!(
            "Invalid username '{name}': use 1 to {MAX_USERNAME_LENGTH} letters, digits, '.', '_', \
             '-' or '@', starting with a letter or digit"
        )))
    }
}

pub fn check_password(password: &str) -> Result<(), ValidationError> {
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        return Err(ValidationError::new(format!(
            "The password is too short: use at least {MIN_PASSWORD_LENGTH} characters"
        )));
    }
    if password.len() > 1024 {
        return Err(ValidationError::new(
            "The password is too long: use at most 1024 bytes",
        ));
    }
    Ok(())
}

pub fn check_token_name(name: &str) -> Result<(), ValidationError> {
    if name.trim().is_empty() || name.chars().count() > MAX_TOKEN_NAME_LENGTH {
        return Err(ValidationError::new(format!(
            "A token needs a name of 1 to {MAX_TOKEN_NAME_LENGTH} characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for good in ["ada", "ada.lovelace", "ci-bot_2", "a@b.c", "7up"] {
            assert!(check_username(good).is_ok(), "{good}");
        }
        for bad in ["", ".ada", "a b", "ada/x", "é", &"a".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_and_names() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
        assert!(check_password(&"x".repeat(2000)).is_err());
        assert!(check_token_name("ci").is_ok());
        assert!(check_token_name("  ").is_err());
    }

    #[test]
    fn token_usability() {
        let mut token = Token {
            id: 1,
            user_id: 1,
            name: "t".into(),
            scope: Scope::Read,
            created: 0,
            expires: Some(100),
            revoked: false,
        };
        assert!(token.usable(99));
        assert!(!token.usable(100));
        token.expires = None;
        assert!(token.usable(i64::MAX));
        token.revoked = true;
        assert!(!token.usable(0));
        assert_eq!(Scope::parse("read"), Some(Scope::Read));
        assert_eq!(Scope::parse("admin"), None);
    }
}

/// One line of the audit log: who did what to which target, when, from where, and the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Assigned by the store, increasing.
    pub id: i64,
    /// Milliseconds since the epoch.
    pub time: i64,
    /// The authenticated user; `None` when the request had no valid credentials.
    pub username: Option<String>,
    /// `POST /api/2.0/mlflow/runs/create`, `auth.sign_in`, `auth.denied`, …
    pub action: String,
    /// The request path (the concrete ids), or the username an auth event is about.
    pub target: String,
    /// The HTTP status answered.
    pub status: u16,
    pub source: Option<String>,
    pub user_agent: Option<String>,
}

/// Which audit entries to read, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    pub username: Option<String>,
    /// Entries whose action starts with this.
    pub action_prefix: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Entries with a smaller id only (paging back).
    pub before_id: Option<i64>,
    pub limit: usize,
}
