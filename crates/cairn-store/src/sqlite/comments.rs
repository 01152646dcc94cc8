//! Comments, annotations and run activity on SQLite (migration 9).

use async_trait::async_trait;
use cairn_core::comments::{Activity, Annotation, Comment, CommentTarget};
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

    CREATE TABLE annotations (
        id      INTEGER PRIMARY KEY,
        run_id  TEXT NOT NULL,
        key     TEXT NOT NULL,
        step    INTEGER NOT NULL,
        text    TEXT NOT NULL,
        author  TEXT,
        created INTEGER NOT NULL
    );
    CREATE INDEX annotations_run ON annotations (run_id, key, step);

    CREATE TABLE run_activity (
        id      INTEGER PRIMARY KEY,
        run_id  TEXT NOT NULL,
        time    INTEGER NOT NULL,
        user    TEXT,
        change  TEXT NOT NULL
    );
    CREATE INDEX run_activity_run ON run_activity (run_id, id);
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

const ANNOTATION_COLUMNS: &str = "id, run_id, key, step, text, author, created";

fn annotation_row(row: &Row<'_>) -> rusqlite::Result<Annotation> {
    Ok(Annotation {
        id: row.get(0)?,
        run_id: row.get(1)?,
        key: row.get(2)?,
        step: row.get(3)?,
        text: row.get(4)?,
        author: row.get(5)?,
        created: row.get(6)?,
    })
}

fn get_annotation(conn: &Connection, id: i64) -> Result<Annotation> {
    conn.prepare_cached(&format!(
        "SELECT {ANNOTATION_COLUMNS} FROM annotations WHERE id = ?1"
    ))?
    .query_row(params![id], annotation_row)
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("No annotation {id}")))
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

    async fn comments_mentioning(
        &self,
        username: &str,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Comment>> {
        let username = username.to_string();
        self.read(move |conn| {
            // Mentions are stored space-separated; comments are typed by people, so a scan from
            // the newest down is cheap next to everything else the server keeps.
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM comments
                 WHERE instr(' ' || mentions || ' ', ' ' || ?1 || ' ') > 0 AND id < ?2
                 ORDER BY id DESC LIMIT ?3"
            ))?;
            let rows = statement.query_map(
                params![username, before.unwrap_or(i64::MAX), limit as i64],
                row,
            )?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn create_annotation(&self, annotation: Annotation) -> Result<Annotation> {
        self.write(move |conn| {
            require_target(conn, &CommentTarget::Run(annotation.run_id.clone()))?;
            conn.prepare_cached(
                "INSERT INTO annotations (run_id, key, step, text, author, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                annotation.run_id,
                annotation.key,
                annotation.step,
                annotation.text,
                annotation.author,
                annotation.created
            ])?;
            get_annotation(conn, conn.last_insert_rowid())
        })
        .await
    }

    async fn list_annotations(&self, run_id: &str) -> Result<Vec<Annotation>> {
        let run_id = run_id.to_string();
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {ANNOTATION_COLUMNS} FROM annotations WHERE run_id = ?1 ORDER BY key, step, id"
            ))?;
            let rows = statement.query_map(params![run_id], annotation_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn get_annotation(&self, id: i64) -> Result<Annotation> {
        self.read(move |conn| get_annotation(conn, id)).await
    }

    async fn delete_annotation(&self, id: i64) -> Result<()> {
        self.write(move |conn| {
            get_annotation(conn, id)?;
            conn.prepare_cached("DELETE FROM annotations WHERE id = ?1")?
                .execute(params![id])?;
            Ok(())
        })
        .await
    }

    async fn record_activity(&self, entries: Vec<Activity>) -> Result<()> {
        self.write(move |conn| {
            let mut statement = conn.prepare_cached(
                "INSERT INTO run_activity (run_id, time, user, change) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for e in &entries {
                statement.execute(params![e.run_id, e.time, e.user, e.change])?;
            }
            Ok(())
        })
        .await
    }

    async fn list_activity(&self, run_id: &str, limit: usize) -> Result<Vec<Activity>> {
        let run_id = run_id.to_string();
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT id, run_id, time, user, change FROM run_activity WHERE run_id = ?1
                 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = statement.query_map(params![run_id, limit as i64], |row| {
                Ok(Activity {
                    id: row.get(0)?,
                    run_id: row.get(1)?,
                    time: row.get(2)?,
                    user: row.get(3)?,
                    change: row.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
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
