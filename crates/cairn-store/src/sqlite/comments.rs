//! Comments on SQLite (migration 9).

use async_trait::async_trait;
use cairn_core::comments::{Comment, CommentTarget};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, experiments};
use crate::comments::CommentStore;
use crate::{Result, StoreError};

pub const TABLES: &str = r#"
    CREATE TABLE comments (
        id          INTEGER PRIMARY KEY,
        target_kind TEXT NOT NULL CHECK (target_kind IN ('run', 'experiment')),
        target_id   TEXT NOT NULL,
        author      TEXT,
        body        TEXT NOT NULL,
        mentions    TEXT NOT NULL,
        created     INTEGER NOT NULL,
        edited      INTEGER
    );
    CREATE INDEX comments_target ON comments (target_kind, target_id, id);
"#;

const COLUMNS: &str = "id, target_kind, target_id, author, body, mentions, created, edited";

fn row(row: &Row<'_>) -> rusqlite::Result<Comment> {
    let kind: String = row.get(1)?;
    let target_id: String = row.get(2)?;
    let mentions: String = row.get(5)?;
    Ok(Comment {
        id: row.get(0)?,
        target: if kind == "run" {
            CommentTarget::Run(target_id)
        } else {
            CommentTarget::Experiment(target_id)
        },
        author: row.get(3)?,
        body: row.get(4)?,
        mentions: mentions
            .split(' ')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
        created: row.get(6)?,
        edited: row.get(7)?,
    })
}

fn get(conn: &Connection, id: i64) -> Result<Comment> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM comments WHERE id = ?1"))?
        .query_row(params![id], row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("No comment {id}")))
}

fn require_target(conn: &Connection, target: &CommentTarget) -> Result<()> {
    match target {
        CommentTarget::Run(run_id) => {
            let exists = conn
                .prepare_cached("SELECT 1 FROM runs WHERE run_uuid = ?1")?
                .exists(params![run_id])?;
            if exists {
                Ok(())
            } else {
                Err(StoreError::run_not_found(run_id))
            }
        }
        CommentTarget::Experiment(experiment_id) => {
            experiments::require_active(conn, experiment_id).map(|_| ())
        }
    }
}

#[async_trait]
impl CommentStore for SqliteStore {
    async fn create_comment(&self, comment: Comment) -> Result<Comment> {
        self.write(move |conn| {
            require_target(conn, &comment.target)?;
            conn.prepare_cached(
                "INSERT INTO comments (target_kind, target_id, author, body, mentions, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                comment.target.kind(),
                comment.target.id(),
                comment.author,
                comment.body,
                comment.mentions.join(" "),
                comment.created
            ])?;
            get(conn, conn.last_insert_rowid())
        })
        .await
    }

    async fn list_comments(&self, target: CommentTarget) -> Result<Vec<Comment>> {
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM comments WHERE target_kind = ?1 AND target_id = ?2 ORDER BY id"
            ))?;
            let rows = statement.query_map(params![target.kind(), target.id()], row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn get_comment(&self, id: i64) -> Result<Comment> {
        self.read(move |conn| get(conn, id)).await
    }

    async fn update_comment(
        &self,
        id: i64,
        body: String,
        mentions: Vec<String>,
        now: i64,
    ) -> Result<Comment> {
        self.write(move |conn| {
            get(conn, id)?;
            conn.prepare_cached(
                "UPDATE comments SET body = ?2, mentions = ?3, edited = ?4 WHERE id = ?1",
            )?
            .execute(params![id, body, mentions.join(" "), now])?;
            get(conn, id)
        })
        .await
    }

    async fn delete_comment(&self, id: i64) -> Result<()> {
        self.write(move |conn| {
            get(conn, id)?;
            conn.prepare_cached("DELETE FROM comments WHERE id = ?1")?
                .execute(params![id])?;
            Ok(())
        })
        .await
    }
}
