//! Comments, annotations and run activity on PostgreSQL.
//!
//! Differences from SQLite: ids come from `RETURNING` (identity columns) instead of
//! `last_insert_rowid()`; an edit or a delete is one statement whose row count tells a missing
//! comment or annotation (no check-then-write a concurrent delete could slip between); the
//! mention match uses `strpos` for `instr`; `run_activity`'s user column is `username` (`user`
//! is reserved in PostgreSQL). Comments and annotations check their target as the embedded
//! store does: an experiment through `experiments::require_active` (which holds its row
//! `FOR SHARE` until commit); a run only has to exist, and runs are never removed.

use async_trait::async_trait;
use cairn_core::comments::{Activity, Annotation, Comment, CommentTarget};
use postgres::{Row, Transaction};

use super::{PgStore, experiments};
use crate::comments::CommentStore;
use crate::{Result, StoreError};

const COLUMNS: &str = "id, target_kind, target_id, author, body, mentions, created, edited";

fn row(row: &Row) -> Comment {
    let kind: String = row.get(1);
    let target_id: String = row.get(2);
    let mentions: String = row.get(5);
    Comment {
        id: row.get(0),
        target: if kind == "run" {
            CommentTarget::Run(target_id)
        } else {
            CommentTarget::Experiment(target_id)
        },
        author: row.get(3),
        body: row.get(4),
        mentions: mentions
            .split(' ')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
        created: row.get(6),
        edited: row.get(7),
    }
}

fn not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("No comment {id}"))
}

fn get(tx: &mut Transaction<'_>, id: i64) -> Result<Comment> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM comments WHERE id = $1"),
        &[&id],
    )?
    .map(|found| row(&found))
    .ok_or_else(|| not_found(id))
}

fn require_target(tx: &mut Transaction<'_>, target: &CommentTarget) -> Result<()> {
    match target {
        CommentTarget::Run(run_id) => {
            let exists = tx
                .query_opt("SELECT 1 FROM runs WHERE run_uuid = $1", &[run_id])?
                .is_some();
            if exists {
                Ok(())
            } else {
                Err(StoreError::run_not_found(run_id))
            }
        }
        CommentTarget::Experiment(experiment_id) => {
            experiments::require_active(tx, experiment_id).map(|_| ())
        }
    }
}

const ANNOTATION_COLUMNS: &str = "id, run_id, key, step, text, author, created";

fn annotation_row(row: &Row) -> Annotation {
    Annotation {
        id: row.get(0),
        run_id: row.get(1),
        key: row.get(2),
        step: row.get(3),
        text: row.get(4),
        author: row.get(5),
        created: row.get(6),
    }
}

fn annotation_not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("No annotation {id}"))
}

fn get_annotation(tx: &mut Transaction<'_>, id: i64) -> Result<Annotation> {
    tx.query_opt(
        &format!("SELECT {ANNOTATION_COLUMNS} FROM annotations WHERE id = $1"),
        &[&id],
    )?
    .map(|found| annotation_row(&found))
    .ok_or_else(|| annotation_not_found(id))
}

#[async_trait]
impl CommentStore for PgStore {
    async fn create_comment(&self, comment: Comment) -> Result<Comment> {
        self.write(move |tx| {
            require_target(tx, &comment.target)?;
            let created = tx.query_one(
                &format!(
                    "INSERT INTO comments (target_kind, target_id, author, body, mentions, created)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
                ),
                &[
                    &comment.target.kind(),
                    &comment.target.id(),
                    &comment.author,
                    &comment.body,
                    &comment.mentions.join(" "),
                    &comment.created,
                ],
            )?;
            Ok(row(&created))
        })
        .await
    }

    async fn list_comments(&self, target: CommentTarget) -> Result<Vec<Comment>> {
        self.read(move |tx| {
            let rows = tx.query(
                &format!(
                    "SELECT {COLUMNS} FROM comments WHERE target_kind = $1 AND target_id = $2 ORDER BY id"
                ),
                &[&target.kind(), &target.id()],
            )?;
            Ok(rows.iter().map(row).collect())
        })
        .await
    }

    async fn get_comment(&self, id: i64) -> Result<Comment> {
        self.read(move |tx| get(tx, id)).await
    }

    async fn update_comment(
        &self,
        id: i64,
        body: String,
        mentions: Vec<String>,
        now: i64,
    ) -> Result<Comment> {
        self.write(move |tx| {
            tx.query_opt(
                &format!(
                    "UPDATE comments SET body = $2, mentions = $3, edited = $4 WHERE id = $1
                     RETURNING {COLUMNS}"
                ),
                &[&id, &body, &mentions.join(" "), &now],
            )?
            .map(|updated| row(&updated))
            .ok_or_else(|| not_found(id))
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
        self.read(move |tx| {
            // Mentions are stored space-separated; comments are typed by people, so a scan from
            // the newest down is cheap next to everything else the server keeps.
            let rows = tx.query(
                &format!(
                    "SELECT {COLUMNS} FROM comments
                     WHERE strpos(' ' || mentions || ' ', ' ' || $1::TEXT || ' ') > 0 AND id < $2
                     ORDER BY id DESC LIMIT $3"
                ),
                &[
                    &username,
                    &before.unwrap_or(i64::MAX),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )?;
            Ok(rows.iter().map(row).collect())
        })
        .await
    }

    async fn create_annotation(&self, annotation: Annotation) -> Result<Annotation> {
        self.write(move |tx| {
            require_target(tx, &CommentTarget::Run(annotation.run_id.clone()))?;
            let created = tx.query_one(
                &format!(
                    "INSERT INTO annotations (run_id, key, step, text, author, created)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ANNOTATION_COLUMNS}"
                ),
                &[
                    &annotation.run_id,
                    &annotation.key,
                    &annotation.step,
                    &annotation.text,
                    &annotation.author,
                    &annotation.created,
                ],
            )?;
            Ok(annotation_row(&created))
        })
        .await
    }

    async fn list_annotations(&self, run_id: &str) -> Result<Vec<Annotation>> {
        let run_id = run_id.to_string();
        self.read(move |tx| {
            let rows = tx.query(
                &format!(
                    "SELECT {ANNOTATION_COLUMNS} FROM annotations WHERE run_id = $1 ORDER BY key, step, id"
                ),
                &[&run_id],
            )?;
            Ok(rows.iter().map(annotation_row).collect())
        })
        .await
    }

    async fn get_annotation(&self, id: i64) -> Result<Annotation> {
        self.read(move |tx| get_annotation(tx, id)).await
    }

    async fn delete_annotation(&self, id: i64) -> Result<()> {
        self.write(move |tx| {
            let deleted = tx.execute("DELETE FROM annotations WHERE id = $1", &[&id])?;
            if deleted == 0 {
                return Err(annotation_not_found(id));
            }
            Ok(())
        })
        .await
    }

    async fn record_activity(&self, entries: Vec<Activity>) -> Result<()> {
        self.write(move |tx| {
            let statement = tx.prepare(
                "INSERT INTO run_activity (run_id, time, username, change) VALUES ($1, $2, $3, $4)",
            )?;
            for e in &entries {
                tx.execute(&statement, &[&e.run_id, &e.time, &e.user, &e.change])?;
            }
            Ok(())
        })
        .await
    }

    async fn list_activity(&self, run_id: &str, limit: usize) -> Result<Vec<Activity>> {
        let run_id = run_id.to_string();
        self.read(move |tx| {
            let rows = tx.query(
                "SELECT id, run_id, time, username, change FROM run_activity WHERE run_id = $1
                 ORDER BY id DESC LIMIT $2",
                &[&run_id, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )?;
            Ok(rows
                .iter()
                .map(|row| Activity {
                    id: row.get(0),
                    run_id: row.get(1),
                    time: row.get(2),
                    user: row.get(3),
                    change: row.get(4),
                })
                .collect())
        })
        .await
    }

    async fn delete_comment(&self, id: i64) -> Result<()> {
        self.write(move |tx| {
            let deleted = tx.execute("DELETE FROM comments WHERE id = $1", &[&id])?;
            if deleted == 0 {
                return Err(not_found(id));
            }
            Ok(())
        })
        .await
    }
}
