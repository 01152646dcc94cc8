//! Storage of comments on runs and experiments, annotations on chart points, and runs' activity
//! histories.

use async_trait::async_trait;
use cairn_core::comments::{Activity, Annotation, Comment, CommentTarget};

use crate::Result;

#[async_trait]
pub trait CommentStore: Send + Sync + 'static {
    /// Stores a comment (its `id` is assigned) on an existing run or experiment.
    async fn create_comment(&self, comment: Comment) -> Result<Comment>;
    /// A target's comments, oldest first.
    async fn list_comments(&self, target: CommentTarget) -> Result<Vec<Comment>>;
    async fn get_comment(&self, id: i64) -> Result<Comment>;
    /// Replaces the body and mentions; sets `edited`.
    async fn update_comment(
        &self,
        id: i64,
        body: String,
        mentions: Vec<String>,
        now: i64,
    ) -> Result<Comment>;
    async fn delete_comment(&self, id: i64) -> Result<()>;
    /// Comments that mention `username`, newest first, older than comment `before` when given.
    async fn comments_mentioning(
        &self,
        username: &str,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Comment>>;

    /// Stores an annotation (its `id` is assigned) on an existing run.
    async fn create_annotation(&self, annotation: Annotation) -> Result<Annotation>;
    /// A run's annotations, by key then step.
    async fn list_annotations(&self, run_id: &str) -> Result<Vec<Annotation>>;
    async fn get_annotation(&self, id: i64) -> Result<Annotation>;
    async fn delete_annotation(&self, id: i64) -> Result<()>;

    /// Appends to runs' activity histories (ids are assigned).
    async fn record_activity(&self, entries: Vec<Activity>) -> Result<()>;
    /// A run's activity, newest first.
    async fn list_activity(&self, run_id: &str, limit: usize) -> Result<Vec<Activity>>;
}
