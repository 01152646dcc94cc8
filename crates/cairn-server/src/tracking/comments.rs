//! Comments on runs and experiments: markdown with `@mentions`; with authentication on, each
//! comment carries its author, and only the author (or an admin) edits or deletes it.

use cairn_core::auth::User;
use cairn_core::comments::{self, Comment, CommentTarget};

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
}
