//! Accounts, credentials and the audit log on SQLite (migration 7).

use async_trait::async_trait;
use cairn_core::auth::{AuditEntry, AuditQuery, Scope, Session, Token, User};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, sql};
use crate::auth::{AuthStore, NewToken, NewUser};
use crate::{Result, StoreError};

pub const TABLES: &str = r#"
    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        is_admin      INTEGER NOT NULL,
        disabled      INTEGER NOT NULL DEFAULT 0,
        created       INTEGER NOT NULL
    );

    CREATE TABLE api_tokens (
        id          INTEGER PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users (id),
        name        TEXT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,
        scope       TEXT NOT NULL CHECK (scope IN ('read', 'write')),
        created     INTEGER NOT NULL,
        expires     INTEGER,
        revoked     INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX api_tokens_user ON api_tokens (user_id, created DESC);

    CREATE TABLE sessions (
        secret_hash TEXT PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users (id),
        csrf        TEXT NOT NULL,
        expires     INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_user ON sessions (user_id);

    CREATE TABLE audit_log (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        time       INTEGER NOT NULL,
        username   TEXT,
        action     TEXT NOT NULL,
        target     TEXT NOT NULL,
        status     INTEGER NOT NULL,
        source     TEXT,
        user_agent TEXT
    );
    CREATE INDEX audit_log_time ON audit_log (time);
    CREATE INDEX audit_log_user ON audit_log (username, id);
"#;

const USER_COLUMNS: &str = "u.id, u.username, u.is_admin, u.disabled, u.created";
const TOKEN_COLUMNS: &str = "t.id, t.user_id, t.name, t.scope, t.created, t.expires, t.revoked";

fn user_row(row: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(at)?,
        username: row.get(at + 1)?,
        is_admin: row.get(at + 2)?,
        disabled: row.get(at + 3)?,
        created: row.get(at + 4)?,
    })
}

fn token_row(row: &Row<'_>) -> rusqlite::Result<(Token, String)> {
    let scope: String = row.get(3)?;
    Ok((
        Token {
            id: row.get(0)?,
            user_id: row.get(1)?,
            name: row.get(2)?,
            scope: Scope::Write,
            created: row.get(4)?,
            expires: row.get(5)?,
            revoked: row.get(6)?,
        },
        scope,
    ))
}

fn with_scope((mut token, scope): (Token, String)) -> Result<Token> {
    token.scope = Scope::parse(&scope).ok_or_else(|| {
        StoreError::Internal(format!("unknown token scope {scope:?} in database"))
    })?;
    Ok(token)
}

fn user_by_name(conn: &Connection, username: &str) -> Result<Option<(User, String)>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.username = ?1"
        ))?
        .query_row(params![username], |row| {
            Ok((user_row(row, 0)?, row.get(5)?))
        })
        .optional()?)
}

fn require_user(conn: &Connection, username: &str) -> Result<User> {
    user_by_name(conn, username)?
        .map(|(user, _)| user)
        .ok_or_else(|| StoreError::user_not_found(username))
}

fn create_user(conn: &Connection, user: &NewUser) -> Result<User> {
    if user_by_name(conn, &user.username)?.is_some() {
        return Err(StoreError::AlreadyExists(format!(
            "A user named '{}' exists already",
            user.username
        )));
    }
    conn.prepare_cached(
        "INSERT INTO users (username, password_hash, is_admin, created) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        user.username,
        user.password_hash,
        user.is_admin,
        user.now
    ])?;
    require_user(conn, &user.username)
}

fn list_users(conn: &Connection) -> Result<Vec<User>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users u ORDER BY u.username"
    ))?;
    let rows = statement.query_map([], |row| user_row(row, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn set_disabled(conn: &Connection, username: &str, disabled: bool) -> Result<User> {
    let user = require_user(conn, username)?;
    conn.prepare_cached("UPDATE users SET disabled = ?2 WHERE id = ?1")?
        .execute(params![user.id, disabled])?;
    if disabled {
        conn.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
            .execute(params![user.id])?;
    }
    require_user(conn, username)
}

fn set_password(conn: &Connection, username: &str, hash: &str) -> Result<()> {
    let user = require_user(conn, username)?;
    conn.prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")?
        .execute(params![user.id, hash])?;
    conn.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
        .execute(params![user.id])?;
    Ok(())
}

fn token_by_id(conn: &Connection, id: i64) -> Result<Option<Token>> {
    conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE t.id = ?1"
    ))?
    .query_row(params![id], token_row)
    .optional()?
    .map(with_scope)
    .transpose()
}

fn create_token(conn: &Connection, token: &NewToken) -> Result<Token> {
    conn.prepare_cached(
        "INSERT INTO api_tokens (user_id, name, secret_hash, scope, created, expires)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        token.user_id,
        token.name,
        token.secret_hash,
        token.scope.as_str(),
        token.now,
        token.expires
    ])?;
    token_by_id(conn, conn.last_insert_rowid())?
        .ok_or_else(|| StoreError::Internal("a new token cannot be read back".into()))
}

fn token_by_hash(conn: &Connection, hash: &str) -> Result<Option<(Token, User)>> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS}, {USER_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.secret_hash = ?1"
        ))?
        .query_row(params![hash], |row| Ok((token_row(row)?, user_row(row, 7)?)))
        .optional()?;
    found
        .map(|(token, user)| Ok((with_scope(token)?, user)))
        .transpose()
}

fn list_tokens(conn: &Connection, user_id: i64) -> Result<Vec<Token>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE t.user_id = ?1 ORDER BY t.created DESC, t.id DESC"
    ))?;
    let rows = statement.query_map(params![user_id], token_row)?;
    rows.map(|row| with_scope(row?)).collect()
}

fn revoke_token(conn: &Connection, id: i64, user_id: Option<i64>) -> Result<Token> {
    let token = token_by_id(conn, id)?
        .filter(|token| user_id.is_none_or(|owner| owner == token.user_id))
        .ok_or_else(|| StoreError::NotFound(format!("No token {id}")))?;
    conn.prepare_cached("UPDATE api_tokens SET revoked = 1 WHERE id = ?1")?
        .execute(params![id])?;
    Ok(Token {
        revoked: true,
        ..token
    })
}

fn session_by_hash(conn: &Connection, hash: &str, now: i64) -> Result<Option<(Session, User)>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT s.user_id, s.csrf, s.expires, {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.secret_hash = ?1 AND s.expires > ?2"
        ))?
        .query_row(params![hash, now], |row| {
            Ok((
                Session {
                    user_id: row.get(0)?,
                    csrf: row.get(1)?,
                    expires: row.get(2)?,
                },
                user_row(row, 3)?,
            ))
        })
        .optional()?)
}

fn append_audit(conn: &Connection, entries: &[AuditEntry]) -> Result<()> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO audit_log (time, username, action, target, status, source, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for e in entries {
        statement.execute(params![
            e.time,
            e.username,
            e.action,
            e.target,
            e.status,
            e.source,
            e.user_agent
        ])?;
    }
    Ok(())
}

fn search_audit(conn: &Connection, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
    let mut conditions = Vec::new();
    let mut binds: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(user) = &query.username {
        binds.push(user.clone().into());
        conditions.push("username = ?".to_string());
    }
    if let Some(prefix) = &query.action_prefix {
        binds.push((prefix.chars().count() as i64).into());
        binds.push(prefix.clone().into());
        conditions.push("substr(action, 1, ?) = ?".to_string());
    }
    for (value, condition) in [
        (query.since, "time >= ?"),
        (query.until, "time < ?"),
        (query.before_id, "id < ?"),
    ] {
        if let Some(value) = value {
            binds.push(value.into());
            conditions.push(condition.to_string());
        }
    }
    let where_sql = sql::where_all(&conditions);
    let sql = format!(
        "SELECT id, time, username, action, target, status, source, user_agent FROM audit_log
         {where_sql} ORDER BY id DESC LIMIT {}",
        query.limit.max(1)
    );
    let mut statement = conn.prepare(&sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(binds), |row| {
        Ok(AuditEntry {
            id: row.get(0)?,
            time: row.get(1)?,
            username: row.get(2)?,
            action: row.get(3)?,
            target: row.get(4)?,
            status: row.get(5)?,
            source: row.get(6)?,
            user_agent: row.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[async_trait]
impl AuthStore for SqliteStore {
    async fn append_audit(&self, entries: Vec<AuditEntry>) -> Result<()> {
        self.write(move |conn| append_audit(conn, &entries)).await
    }

    async fn search_audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>> {
        self.read(move |conn| search_audit(conn, &query)).await
    }

    async fn prune_audit(&self, before: i64) -> Result<u64> {
        self.write(move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM audit_log WHERE time < ?1")?
                .execute(params![before])? as u64)
        })
        .await
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        self.write(move |conn| create_user(conn, &user)).await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>> {
        let username = username.to_string();
        self.read(move |conn| user_by_name(conn, &username)).await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.read(list_users).await
    }

    async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<User> {
        let username = username.to_string();
        self.write(move |conn| set_disabled(conn, &username, disabled))
            .await
    }

    async fn set_password(&self, username: &str, password_hash: &str) -> Result<()> {
        let (username, hash) = (username.to_string(), password_hash.to_string());
        self.write(move |conn| set_password(conn, &username, &hash))
            .await
    }

    async fn create_token(&self, token: NewToken) -> Result<Token> {
        self.write(move |conn| create_token(conn, &token)).await
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<(Token, User)>> {
        let hash = secret_hash.to_string();
        self.read(move |conn| token_by_hash(conn, &hash)).await
    }

    async fn list_tokens(&self, user_id: i64) -> Result<Vec<Token>> {
        self.read(move |conn| list_tokens(conn, user_id)).await
    }

    async fn revoke_token(&self, token_id: i64, user_id: Option<i64>) -> Result<Token> {
        self.write(move |conn| revoke_token(conn, token_id, user_id))
            .await
    }

    async fn create_session(&self, secret_hash: &str, session: Session) -> Result<()> {
        let hash = secret_hash.to_string();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO sessions (secret_hash, user_id, csrf, expires) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![hash, session.user_id, session.csrf, session.expires])?;
            // Expired sessions go as new ones come.
            conn.prepare_cached("DELETE FROM sessions WHERE expires <= ?1")?
                .execute(params![session.expires - SESSION_HORIZON_MS])?;
            Ok(())
        })
        .await
    }

    async fn session_by_hash(
        &self,
        secret_hash: &str,
        now: i64,
    ) -> Result<Option<(Session, User)>> {
        let hash = secret_hash.to_string();
        self.read(move |conn| session_by_hash(conn, &hash, now))
            .await
    }

    async fn delete_session(&self, secret_hash: &str) -> Result<()> {
        let hash = secret_hash.to_string();
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM sessions WHERE secret_hash = ?1")?
                .execute(params![hash])?;
            Ok(())
        })
        .await
    }
}

/// Sessions expiring this long before a new one's expiry are certainly expired now (no session
/// lasts longer than this).
const SESSION_HORIZON_MS: i64 = 31 * 24 * 3600 * 1000;
