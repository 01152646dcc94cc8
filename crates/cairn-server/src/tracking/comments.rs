//! Comments on runs and experiments (markdown with `@mentions`) and annotations on chart points;
//! with authentication on, each carries its author, and only the author (or an admin) changes it.

use cairn_core::access::Permission;
use cairn_core::auth::User;
use cairn_core::comments::{self, Annotation, Comment, CommentTarget};

use super::{Tracking, now_ms};
use crate::error::{ApiError, ApiResult, ErrorCode};

impl Tracking {
    pub async fn add_comment(
        &self,
        target: CommentTarget,
        author: Option<&User>,
        body: String,
    ) -> ApiResult<Comment> {
        comments::check_body(&body)?;
        match &target {
            CommentTarget::Run(run_id) => {
                self.get_run(run_id).await?;
            }
            CommentTarget::Experiment(experiment_id) => {
                self.get_experiment(experiment_id).await?;
            }
        }
        let mentions = comments::mentions(&body);
        Ok(self
            .store
            .create_comment(Comment {
                id: 0,
                target,
                author: author.map(|user| user.username.clone()),
                body,
                mentions,
                created: now_ms(),
                edited: None,
            })
            .await?)
    }

    pub async fn comments(&self, target: CommentTarget) -> ApiResult<Vec<Comment>> {
        match &target {
            CommentTarget::Run(run_id) => {
                self.get_run(run_id).await?;
            }
            CommentTarget::Experiment(experiment_id) => {
                self.get_experiment(experiment_id).await?;
            }
        }
        Ok(self.store.list_comments(target).await?)
    }

    /// The comment, when `caller` may change it (no authentication: anyone).
    async fn own_comment(&self, id: i64, caller: Option<&User>) -> ApiResult<Comment> {
        let comment = self.store.get_comment(id).await?;
        // Someone who may no longer read the target cannot change their comments on it.
        match &comment.target {
            CommentTarget::Run(run_id) => self.get_run(run_id).await.map(|_| ())?,
            CommentTarget::Experiment(id) => self.get_experiment(id).await.map(|_| ())?,
        }
        if let Some(user) = caller
            && !user.is_admin
            && comment.author.as_deref() != Some(user.username.as_str())
        {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "Only a comment's author (or an admin) may change it",
            ));
        }
        Ok(comment)
    }

    pub async fn edit_comment(
        &self,
        id: i64,
        caller: Option<&User>,
        body: String,
    ) -> ApiResult<Comment> {
        comments::check_body(&body)?;
        self.own_comment(id, caller).await?;
        let mentions = comments::mentions(&body);
        Ok(self
            .store
            .update_comment(id, body, mentions, now_ms())
            .await?)
    }

    pub async fn delete_comment(&self, id: i64, caller: Option<&User>) -> ApiResult<()> {
        self.own_comment(id, caller).await?;
        Ok(self.store.delete_comment(id).await?)
    }

    /// Comments that mention the signed-in caller, on runs and experiments they may still read,
    /// newest first (older than comment `before` when given); at most `limit` (1 to 200).
    pub async fn my_mentions(&self, before: Option<i64>, limit: usize) -> ApiResult<Vec<Comment>> {
        let caller = crate::auth::current().ok_or_else(|| {
            ApiError::invalid("Mentions need authentication: start the server with --auth")
        })?;
        let limit = limit.clamp(1, 200);
        let mut found = Vec::new();
        let mut cursor = before;
        // Comments on targets the caller can no longer read are skipped: look further back, a
        // bounded number of times, to fill the page.
        for _ in 0..20 {
            let batch = self
                .store
                .comments_mentioning(&caller.username, cursor, limit)
                .await?;
            let last = batch.len() < limit;
            for comment in batch {
                cursor = Some(comment.id);
                let readable = match &comment.target {
                    CommentTarget::Run(id) => self.access.run(id, Permission::Read).await,
                    CommentTarget::Experiment(id) => {
                        self.access.experiment(id, Permission::Read).await
                    }
                };
                if readable.is_ok() {
                    found.push(comment);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            if last {
                break;
            }
        }
        Ok(found)
    }

    pub async fn add_annotation(
        &self,
        run_id: &str,
        author: Option<&User>,
        key: String,
        step: i64,
        text: String,
    ) -> ApiResult<Annotation> {
        comments::check_annotation(&key, &text)?;
        self.get_run(run_id).await?;
        Ok(self
            .store
            .create_annotation(Annotation {
                id: 0,
                run_id: run_id.to_string(),
                key,
                step,
                text,
                author: author.map(|user| user.username.clone()),
                created: now_ms(),
            })
            .await?)
    }

    pub async fn annotations(&self, run_id: &str) -> ApiResult<Vec<Annotation>> {
        self.get_run(run_id).await?;
        Ok(self.store.list_annotations(run_id).await?)
    }

    pub async fn delete_annotation(&self, id: i64, caller: Option<&User>) -> ApiResult<()> {
        let annotation = self.store.get_annotation(id).await?;
        // Someone who may no longer read the run cannot change its annotations.
        self.get_run(&annotation.run_id).await?;
        if let Some(user) = caller
            && !user.is_admin
            && annotation.author.as_deref() != Some(user.username.as_str())
        {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "Only an annotation's author (or an admin) may delete it",
            ));
        }
        Ok(self.store.delete_annotation(id).await?)
    }
}
