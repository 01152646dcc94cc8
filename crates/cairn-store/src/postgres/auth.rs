//! Accounts, credentials and the audit log on PostgreSQL.
//!
//! Differences from the embedded store: `is_admin`, `disabled` and `revoked` are BOOLEAN; an
//! audit entry's status is stored as BIGINT and checked back into a `u16`; the action prefix is
//! matched with `starts_with`. A username taken meanwhile makes the insert fail on its unique
//! key and the write run again, so its check answers `AlreadyExists` as the embedded store's
//! does. A token or session whose secret hash exists already is refused as there (an internal
//! error), not retried: the insert goes `ON CONFLICT DO NOTHING` and the missing row says so.

use async_trait::async_trait;
use cairn_core::auth::{AuditEntry, AuditQuery, Scope, Session, Token, User};
use postgres::Transaction;

use super::{PgStore, sql};
use crate::auth::{AuthStore, NewToken, NewUser};
use crate::{Result, StoreError};

const USER_COLUMNS: &str = "u.id, u.username, u.is_admin, u.disabled, u.created";
const TOKEN_COLUMNS: &str = "t.id, t.user_id, t.name, t.scope, t.created, t.expires, t.revoked";

fn user_row(row: &postgres::Row, at: usize) -> User {
    User {
        id: row.get(at),
        username: row.get(at + 1),
        is_admin: row.get(at + 2),
        disabled: row.get(at + 3),
        created: row.get(at + 4),
    }
}

fn token_row(row: &postgres::Row) -> Result<Token> {
    let scope: &str = row.get(3);
    Ok(Token {
        id: row.get(0),
        user_id: row.get(1),
        name: row.get(2),
        scope: Scope::parse(scope).ok_or_else(|| {
            StoreError::Internal(format!("unknown token scope {scope:?} in database"))
        })?,
        created: row.get(4),
        expires: row.get(5),
        revoked: row.get(6),
    })
}

fn user_by_name(tx: &mut Transaction<'_>, username: &str) -> Result<Option<(User, String)>> {
    Ok(tx
        .query_opt(
            &format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.username = $1"),
            &[&username],
        )?
        .map(|row| (user_row(&row, 0), row.get(5))))
}

fn require_user(tx: &mut Transaction<'_>, username: &str) -> Result<User> {
    user_by_name(tx, username)?
        .map(|(user, _)| user)
        .ok_or_else(|| StoreError::user_not_found(username))
}

fn create_user(tx: &mut Transaction<'_>, user: &NewUser) -> Result<User> {
    if user_by_name(tx, &user.username)?.is_some() {
        return Err(StoreError::AlreadyExists(format!(
            "A user named '{}' exists already",
            user.username
        )));
    }
    tx.execute(
        "INSERT INTO users (username, password_hash, is_admin, created) VALUES ($1, $2, $3, $4)",
        &[
            &user.username,
            &user.password_hash,
            &user.is_admin,
            &user.now,
        ],
    )?;
    require_user(tx, &user.username)
}

fn list_users(tx: &mut Transaction<'_>) -> Result<Vec<User>> {
    Ok(tx
        .query(
            &format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.username"),
            &[],
        )?
        .iter()
        .map(|row| user_row(row, 0))
        .collect())
}

fn set_disabled(tx: &mut Transaction<'_>, username: &str, disabled: bool) -> Result<User> {
    let user = require_user(tx, username)?;
    tx.execute(
        "UPDATE users SET disabled = $2 WHERE id = $1",
        &[&user.id, &disabled],
    )?;
    if disabled {
        tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user.id])?;
    }
    require_user(tx, username)
}

fn set_password(tx: &mut Transaction<'_>, username: &str, hash: &str) -> Result<()> {
    let user = require_user(tx, username)?;
    tx.execute(
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        &[&user.id, &hash],
    )?;
    tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user.id])?;
    Ok(())
}

fn token_by_id(tx: &mut Transaction<'_>, id: i64) -> Result<Option<Token>> {
    tx.query_opt(
        &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE t.id = $1"),
        &[&id],
    )?
    .map(|row| token_row(&row))
    .transpose()
}

fn create_token(tx: &mut Transaction<'_>, token: &NewToken) -> Result<Token> {
    let id: i64 = tx
        .query_opt(
            "INSERT INTO api_tokens (user_id, name, secret_hash, scope, created, expires)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (secret_hash) DO NOTHING RETURNING id",
            &[
                &token.user_id,
                &token.name,
                &token.secret_hash,
                &token.scope.as_str(),
                &token.now,
                &token.expires,
            ],
        )?
        .ok_or_else(|| StoreError::Internal("a token with this secret exists already".into()))?
        .get(0);
    token_by_id(tx, id)?
        .ok_or_else(|| StoreError::Internal("a new token cannot be read back".into()))
}

fn token_by_hash(tx: &mut Transaction<'_>, hash: &str) -> Result<Option<(Token, User)>> {
    tx.query_opt(
        &format!(
            "SELECT {TOKEN_COLUMNS}, {USER_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.secret_hash = $1"
        ),
        &[&hash],
    )?
    .map(|row| Ok((token_row(&row)?, user_row(&row, 7))))
    .transpose()
}

fn list_tokens(tx: &mut Transaction<'_>, user_id: i64) -> Result<Vec<Token>> {
    tx.query(
        &format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE t.user_id = $1
             ORDER BY t.created DESC, t.id DESC"
        ),
        &[&user_id],
    )?
    .iter()
    .map(token_row)
    .collect()
}

fn revoke_token(tx: &mut Transaction<'_>, id: i64, user_id: Option<i64>) -> Result<Token> {
    let token = token_by_id(tx, id)?
        .filter(|token| user_id.is_none_or(|owner| owner == token.user_id))
        .ok_or_else(|| StoreError::NotFound(format!("No token {id}")))?;
    tx.execute("UPDATE api_tokens SET revoked = true WHERE id = $1", &[&id])?;
    Ok(Token {
        revoked: true,
        ..token
    })
}

fn create_session(tx: &mut Transaction<'_>, hash: &str, session: &Session) -> Result<()> {
    let inserted = tx.execute(
        "INSERT INTO sessions (secret_hash, user_id, csrf, expires) VALUES ($1, $2, $3, $4)
         ON CONFLICT (secret_hash) DO NOTHING",
        &[&hash, &session.user_id, &session.csrf, &session.expires],
    )?;
    if inserted == 0 {
        return Err(StoreError::Internal(
            "a session with this secret exists already".into(),
        ));
    }
    // Expired sessions go as new ones come.
    tx.execute(
        "DELETE FROM sessions WHERE expires <= $1",
        &[&(session.expires - SESSION_HORIZON_MS)],
    )?;
    Ok(())
}

fn session_by_hash(
    tx: &mut Transaction<'_>,
    hash: &str,
    now: i64,
) -> Result<Option<(Session, User)>> {
    Ok(tx
        .query_opt(
            &format!(
                "SELECT s.user_id, s.csrf, s.expires, {USER_COLUMNS} FROM sessions s
                 JOIN users u ON u.id = s.user_id
                 WHERE s.secret_hash = $1 AND s.expires > $2"
            ),
            &[&hash, &now],
        )?
        .map(|row| {
            (
                Session {
                    user_id: row.get(0),
                    csrf: row.get(1),
                    expires: row.get(2),
                },
                user_row(&row, 3),
            )
        }))
}

fn append_audit(tx: &mut Transaction<'_>, entries: &[AuditEntry]) -> Result<()> {
    let statement = tx.prepare(
        "INSERT INTO audit_log (time, username, action, target, status, source, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )?;
    for e in entries {
        tx.execute(
            &statement,
            &[
                &e.time,
                &e.username,
                &e.action,
                &e.target,
                &i64::from(e.status),
                &e.source,
                &e.user_agent,
            ],
        )?;
    }
    Ok(())
}

fn search_audit(tx: &mut Transaction<'_>, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
    let mut conditions = Vec::new();
    let mut binds = sql::Binds::default();
    if let Some(user) = &query.username {
        conditions.push(format!("username = {}", binds.push(user.clone())));
    }
    if let Some(prefix) = &query.action_prefix {
        conditions.push(format!(
            "starts_with(action, {})",
            binds.push(prefix.clone())
        ));
    }
    for (value, column, op) in [
        (query.since, "time", ">="),
        (query.until, "time", "<"),
        (query.before_id, "id", "<"),
    ] {
        if let Some(value) = value {
            conditions.push(format!("{column} {op} {}", binds.push(value)));
        }
    }
    let where_sql = sql::where_all(&conditions);
    let text = format!(
        "SELECT id, time, username, action, target, status, source, user_agent FROM audit_log
         {where_sql} ORDER BY id DESC LIMIT {}",
        query.limit.max(1)
    );
    tx.query(&text, &binds.params())?
        .iter()
        .map(|row| {
            let status: i64 = row.get(5);
            Ok(AuditEntry {
                id: row.get(0),
                time: row.get(1),
                username: row.get(2),
                action: row.get(3),
                target: row.get(4),
                status: u16::try_from(status).map_err(|_| {
                    StoreError::Internal(format!("audit status {status} out of range in database"))
                })?,
                source: row.get(6),
                user_agent: row.get(7),
            })
        })
        .collect()
}

#[async_trait]
impl AuthStore for PgStore {
    async fn append_audit(&self, entries: Vec<AuditEntry>) -> Result<()> {
        self.write(move |tx| append_audit(tx, &entries)).await
    }

    async fn search_audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>> {
        self.read(move |tx| search_audit(tx, &query)).await
    }

    async fn prune_audit(&self, before: i64) -> Result<u64> {
        self.write(move |tx| Ok(tx.execute("DELETE FROM audit_log WHERE time < $1", &[&before])?))
            .await
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        self.write(move |tx| create_user(tx, &user)).await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>> {
        let username = username.to_string();
        self.read(move |tx| user_by_name(tx, &username)).await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.read(list_users).await
    }

    async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<User> {
        let username = username.to_string();
        self.write(move |tx| set_disabled(tx, &username, disabled))
            .await
    }

    async fn set_password(&self, username: &str, password_hash: &str) -> Result<()> {
        let (username, hash) = (username.to_string(), password_hash.to_string());
        self.write(move |tx| set_password(tx, &username, &hash))
            .await
    }

    async fn create_token(&self, token: NewToken) -> Result<Token> {
        self.write(move |tx| create_token(tx, &token)).await
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<(Token, User)>> {
        let hash = secret_hash.to_string();
        self.read(move |tx| token_by_hash(tx, &hash)).await
    }

    async fn list_tokens(&self, user_id: i64) -> Result<Vec<Token>> {
        self.read(move |tx| list_tokens(tx, user_id)).await
    }

    async fn revoke_token(&self, token_id: i64, user_id: Option<i64>) -> Result<Token> {
        self.write(move |tx| revoke_token(tx, token_id, user_id))
            .await
    }

    async fn create_session(&self, secret_hash: &str, session: Session) -> Result<()> {
        let hash = secret_hash.to_string();
        self.write(move |tx| create_session(tx, &hash, &session))
            .await
    }

    async fn session_by_hash(
        &self,
        secret_hash: &str,
        now: i64,
    ) -> Result<Option<(Session, User)>> {
        let hash = secret_hash.to_string();
        self.read(move |tx| session_by_hash(tx, &hash, now)).await
    }

    async fn delete_session(&self, secret_hash: &str) -> Result<()> {
        let hash = secret_hash.to_string();
        self.write(move |tx| {
            tx.execute("DELETE FROM sessions WHERE secret_hash = $1", &[&hash])?;
            Ok(())
        })
        .await
    }
}

/// Sessions expiring this long before a new one's expiry are certainly expired now (no session
/// lasts longer than this).
const SESSION_HORIZON_MS: i64 = 31 * 24 * 3600 * 1000;
