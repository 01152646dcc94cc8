//! The model registry's storage: registered models, their versions, tags, stages and aliases.
//!
//! Rules a backend enforces inside its transactions: names are unique; version numbers of a
//! registered model only grow (a deleted version's number is never given out again while the
//! model exists); an alias names exactly one live version and goes with it when the version is
//! deleted; renaming a model carries its versions, tags and aliases along; deleting a model
//! deletes all of them.

use async_trait::async_trait;
use cairn_core::filter::ast::{
    ModelVersionFilter, ModelVersionOrderBy, RegisteredModelFilter, RegisteredModelOrderBy,
};
use cairn_core::model::{Page, Tag};
use cairn_core::registry::{ModelVersion, NewModelVersion, RegisteredModel, Stage};

use crate::{Result, StoreError};

/// `registered-models/search`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegisteredModelSearch {
    pub filter: RegisteredModelFilter,
    /// Ties always end with `name ASC`.
    pub order_by: Vec<RegisteredModelOrderBy>,
    pub max_results: usize,
    pub page_token: Option<String>,
    /// Leave out prompts: models tagged `mlflow.prompt.is_prompt = 'true'`.
    pub exclude_prompts: bool,
    /// Only models this caller may read (`cairn_core::access::permission`); `None`: all.
    pub readable_by: Option<cairn_core::access::Viewer>,
}

/// `model-versions/search`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelVersionSearch {
    pub filter: ModelVersionFilter,
    /// Empty means `last_updated_timestamp DESC, name ASC, version_number DESC`; ties always end
    /// with `name ASC, version_number DESC`.
    pub order_by: Vec<ModelVersionOrderBy>,
    pub max_results: usize,
    pub page_token: Option<String>,
    /// Leave out versions of prompts (the model or the version tagged
    /// `mlflow.prompt.is_prompt = 'true'`).
    pub exclude_prompts: bool,
    /// Only versions of models this caller may read; `None`: all.
    pub readable_by: Option<cairn_core::access::Viewer>,
}

/// Registered models and their versions.
#[async_trait]
pub trait RegistryStore: Send + Sync + 'static {
    async fn create_registered_model(
        &self,
        name: &str,
        description: Option<String>,
        tags: Vec<Tag>,
        now: i64,
    ) -> Result<RegisteredModel>;
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel>;
    async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        now: i64,
    ) -> Result<RegisteredModel>;
    /// Sets the description (`None` clears it).
    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<String>,
        now: i64,
    ) -> Result<RegisteredModel>;
    /// Deletes the model with every version, tag and alias.
    async fn delete_registered_model(&self, name: &str) -> Result<()>;
    async fn search_registered_models(
        &self,
        search: RegisteredModelSearch,
    ) -> Result<Page<RegisteredModel>>;
    /// The highest version in each of `stages` (every stage when empty), in stage order.
    async fn latest_versions(&self, name: &str, stages: Vec<Stage>) -> Result<Vec<ModelVersion>>;
    async fn set_registered_model_tag(&self, name: &str, tag: Tag, now: i64) -> Result<()>;
    /// Deleting a tag the model does not have is not an error.
    async fn delete_registered_model_tag(&self, name: &str, key: &str, now: i64) -> Result<()>;

    /// Adds the next version (one more than any version the model has had).
    async fn create_model_version(&self, version: NewModelVersion) -> Result<ModelVersion>;
    async fn get_model_version(&self, name: &str, version: i64) -> Result<ModelVersion>;
    /// Sets the description (`None` clears it).
    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: Option<String>,
        now: i64,
    ) -> Result<ModelVersion>;
    /// Moves a version to `stage`; with `archive_existing`, the model's other versions in that
    /// stage move to `Archived` in the same transaction.
    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: i64,
        stage: Stage,
        archive_existing: bool,
        now: i64,
    ) -> Result<ModelVersion>;
    async fn delete_model_version(&self, name: &str, version: i64, now: i64) -> Result<()>;
    async fn search_model_versions(&self, search: ModelVersionSearch)
    -> Result<Page<ModelVersion>>;
    async fn set_model_version_tag(
        &self,
        name: &str,
        version: i64,
        tag: Tag,
        now: i64,
    ) -> Result<()>;
    async fn delete_model_version_tag(
        &self,
        name: &str,
        version: i64,
        key: &str,
        now: i64,
    ) -> Result<()>;
    /// Points `alias` at `version`, moving it if it named another version.
    async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
        now: i64,
    ) -> Result<()>;
    /// Removing an alias the model does not have is not an error.
    async fn delete_registered_model_alias(&self, name: &str, alias: &str, now: i64) -> Result<()>;
    async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion>;
}

impl StoreError {
    pub fn registered_model_not_found(name: &str) -> Self {
        StoreError::NotFound(format!("Registered Model with name={name} not found"))
    }

    pub fn registered_model_exists(name: &str) -> Self {
        StoreError::AlreadyExists(format!("Registered Model (name={name}) already exists."))
    }

    pub fn model_version_not_found(name: &str, version: i64) -> Self {
        StoreError::NotFound(format!(
            "Model Version (name={name}, version={version}) not found"
        ))
    }

    /// MLflow answers an unknown alias with `INVALID_PARAMETER_VALUE`, not a 404.
    pub fn alias_not_found(alias: &str) -> Self {
        StoreError::InvalidArgument(format!("Registered model alias {alias} not found."))
    }
}
