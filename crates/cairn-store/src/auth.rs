//! Storage of accounts and credentials — users with their password hashes, API tokens and browser
//! sessions, each secret stored only as a hash the server computed — and the audit log.

use async_trait::async_trait;
use cairn_core::auth::{AuditEntry, AuditQuery, Scope, Session, Token, User};

use crate::{Result, StoreError};

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: String,
    /// A PHC string (`$argon2id$…`).
    pub password_hash: String,
    pub is_admin: bool,
    pub now: i64,
}

/// A token to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub user_id: i64,
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    pub scope: Scope,
    pub expires: Option<i64>,
    pub now: i64,
}

#[async_trait]
pub trait AuthStore: Send + Sync + 'static {
    /// Fails with `AlreadyExists` when the username is taken.
    async fn create_user(&self, user: NewUser) -> Result<User>;
    /// The user and their password hash.
    async fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>>;
    async fn list_users(&self) -> Result<Vec<User>>;
    async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<User>;
    /// Replaces the password hash and ends the user's sessions.
    async fn set_password(&self, username: &str, password_hash: &str) -> Result<()>;

    async fn create_token(&self, token: NewToken) -> Result<Token>;
    /// The token with this secret hash and its user, whatever their state.
    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<(Token, User)>>;
    /// A user's tokens, newest first (revoked ones included).
    async fn list_tokens(&self, user_id: i64) -> Result<Vec<Token>>;
    /// Revokes a token of `user_id` (any user's when `None`); `NotFound` if there is none.
    async fn revoke_token(&self, token_id: i64, user_id: Option<i64>) -> Result<Token>;

    async fn create_session(&self, secret_hash: &str, session: Session) -> Result<()>;
    /// The session with this secret hash and its user, if it has not expired at `now`.
    async fn session_by_hash(&self, secret_hash: &str, now: i64)
    -> Result<Option<(Session, User)>>;
    async fn delete_session(&self, secret_hash: &str) -> Result<()>;

    /// Appends audit entries (their `id` is ignored and assigned). The log is append-only:
    /// nothing changes an entry; only [`AuthStore::prune_audit`] removes old ones.
    async fn append_audit(&self, entries: Vec<AuditEntry>) -> Result<()>;
    /// Entries matching the query, newest first.
    async fn search_audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>>;
    /// Removes entries older than `before` (ms); answers how many.
    async fn prune_audit(&self, before: i64) -> Result<u64>;
}

impl StoreError {
    pub fn user_not_found(username: &str) -> Self {
        StoreError::NotFound(format!("No user '{username}'"))
    }
}
