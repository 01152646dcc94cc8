//! The model registry service: validation of names, aliases, stages and tags, and the
//! resolution of what a new model version points at.
//!
//! A version's `source` is kept as the client sent it (after resolving `models:/name/…`
//! references to a concrete version, as MLflow does); its `storage_location` is where the files
//! are — the logged model's artifact location for `models:/m-…`, the referenced version's for
//! `models:/name/…`, the source itself otherwise — and is what `get-download-uri` answers, so
//! `mlflow.pyfunc.load_model("models:/name@alias")` reads the files through the artifact proxy.

use cairn_core::filter;
use cairn_core::filter::ast::{
    ModelVersionClause, ModelVersionFilter, ModelVersionOrderBy, ModelVersionOrderKey,
    RegisteredModelClause, StringOp, StringPredicate, VersionStringAttribute,
};
use cairn_core::model::{Page, Tag};
use cairn_core::registry::{
    self, DEFAULT_RESULTS_MODEL_VERSIONS, DEFAULT_RESULTS_REGISTERED_MODELS,
    MAX_RESULTS_MODEL_VERSIONS, MAX_RESULTS_REGISTERED_MODELS, ModelUri, ModelVersion,
    NewModelVersion, PROMPT_TAG, RegisteredModel, Stage,
};
use cairn_core::validation::ValidationError;
use cairn_store::{ModelVersionSearch, RegisteredModelSearch};

use super::{PROXY_SCHEME, Tracking, now_ms, proxied_path};
use crate::error::{ApiError, ApiResult};
use cairn_core::access::Permission;

/// The logged-model tag listing the registered versions of a logged model.
pub const MODEL_VERSIONS_TAG: &str = "mlflow.modelVersions";

/// Arguments of `create_model_version`, as sent.
#[derive(Debug, Clone, Default)]
pub struct CreateVersion {
    pub name: String,
    pub source: String,
    pub run_id: Option<String>,
    pub run_link: Option<String>,
    pub description: Option<String>,
    pub model_id: Option<String>,
    pub tags: Vec<Tag>,
}

/// Arguments of a registry search, as text the way clients send them.
#[derive(Debug, Clone, Default)]
pub struct SearchRegistry {
    pub filter: String,
    pub order_by: Vec<String>,
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
}

fn check_tags(tags: &[Tag]) -> ApiResult<()> {
    for tag in tags {
        registry::check_registry_tag(tag)?;
    }
    Ok(())
}

fn page_size(requested: Option<i64>, default: i64, max: i64) -> ApiResult<usize> {
    let size = requested.unwrap_or(default);
    if size < 1 || size > max {
        return Err(ApiError::invalid(format!(
            "Invalid value {size} for parameter 'max_results' supplied: it must be between 1 and {max}"
        )));
    }
    Ok(size as usize)
}

fn invalid_source(source: &str, parameter: &str) -> ApiError {
    ApiError::invalid(format!(
        "Invalid model version source: '{source}'. To make sure the model version source is \
         valid, its artifact location must be within the artifact location of the {} named by \
         the '{parameter}' request parameter.",
        if parameter == "model_id" {
            "logged model"
        } else {
            "run"
        }
    ))
}

/// Whether `uri` is `root` or below it, compared as proxy paths (so `mlflow-artifacts:/x` and
/// `mlflow-artifacts:///x` agree).
fn within(uri: &str, root: &str) -> bool {
    match (proxied_path(uri), proxied_path(root)) {
        (Some(path), Some(root)) => {
            let (path, root) = (path.as_string(), root.as_string());
            path == root || path.starts_with(&format!("{root}/"))
        }
        _ => false,
    }
}

/// A local path or `file:` URI: MLflow accepts those only inside a local artifact root, and
/// Cairn's artifact roots are never local to the client.
fn is_local(source: &str) -> bool {
    source.starts_with("file:") || !source.contains(':') || source.starts_with('/')
}

impl Tracking {
    pub async fn create_registered_model(
        &self,
        name: &str,
        description: Option<String>,
        tags: Vec<Tag>,
    ) -> ApiResult<RegisteredModel> {
        registry::check_model_name(name)?;
        let (owner, tags) = self.access.new_experiment_access(tags).await?;
        check_tags(&tags)?;
        let description = description.filter(|d| !d.is_empty());
        Ok(match owner {
            Some(owner) => {
                self.store
                    .create_registered_model_owned(name, description, tags, now_ms(), owner)
                    .await?
            }
            None => {
                self.store
                    .create_registered_model(name, description, tags, now_ms())
                    .await?
            }
        })
    }

    pub async fn get_registered_model(&self, name: &str) -> ApiResult<RegisteredModel> {
        registry::check_model_name(name)?;
        self.access.registered_model(name, Permission::Read).await?;
        Ok(self.store.get_registered_model(name).await?)
    }

    pub async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
    ) -> ApiResult<RegisteredModel> {
        registry::check_model_name(name)?;
        self.access
            .registered_model(name, Permission::Manage)
            .await?;
        if new_name.trim().is_empty() {
            return Err(ValidationError::missing("new_name").into());
        }
        registry::check_model_name(new_name)?;
        Ok(self
            .store
            .rename_registered_model(name, new_name, now_ms())
            .await?)
    }

    pub async fn update_registered_model(
        &self,
        name: &str,
        description: Option<String>,
    ) -> ApiResult<RegisteredModel> {
        registry::check_model_name(name)?;
        self.access
            .registered_model(name, Permission::Write)
            .await?;
        Ok(self
            .store
            .update_registered_model(name, description.filter(|d| !d.is_empty()), now_ms())
            .await?)
    }

    pub async fn delete_registered_model(&self, name: &str) -> ApiResult<()> {
        registry::check_model_name(name)?;
        self.access
            .registered_model(name, Permission::Manage)
            .await?;
        Ok(self.store.delete_registered_model(name).await?)
    }

    pub async fn search_registered_models(
        &self,
        request: SearchRegistry,
    ) -> ApiResult<Page<RegisteredModel>> {
        let mut filter = filter::parse_registered_model_filter(&request.filter)
            .map_err(ValidationError::from)?;
        let exclude_prompts =
            registry::split_prompt_clauses(&mut filter.clauses, |clause| match clause {
                RegisteredModelClause::Tag { key, predicate } if key == PROMPT_TAG => {
                    Some(predicate)
                }
                _ => None,
            });
        let search = RegisteredModelSearch {
            filter,
            exclude_prompts,
            order_by: filter::parse_registered_model_order_by(&request.order_by)
                .map_err(ValidationError::from)?,
            max_results: page_size(
                request.max_results,
                DEFAULT_RESULTS_REGISTERED_MODELS,
                MAX_RESULTS_REGISTERED_MODELS,
            )?,
            page_token: request.page_token.filter(|t| !t.is_empty()),
            readable_by: self.access.search_viewer(),
        };
        Ok(self.store.search_registered_models(search).await?)
    }

    pub async fn latest_versions(
        &self,
        name: &str,
        stages: &[String],
    ) -> ApiResult<Vec<ModelVersion>> {
        registry::check_model_name(name)?;
        self.access.registered_model(name, Permission::Read).await?;
        let stages = stages
            .iter()
            .map(|stage| Stage::parse_user(stage))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.store.latest_versions(name, stages).await?)
    }

    pub async fn set_registered_model_tag(&self, name: &str, tag: Tag) -> ApiResult<()> {
        registry::check_model_name(name)?;
        self.access
            .registered_model(name, Permission::Write)
            .await?;
        registry::check_registry_tag(&tag)?;
        Ok(self
            .store
            .set_registered_model_tag(name, tag, now_ms())
            .await?)
    }

    pub async fn delete_registered_model_tag(&self, name: &str, key: &str) -> ApiResult<()> {
        registry::check_model_name(name)?;
        self.access
            .registered_model(name, Permission::Write)
            .await?;
        Ok(self
            .store
            .delete_registered_model_tag(name, key, now_ms())
            .await?)
    }

    /// Registers a new version: checks the source against the run or logged model it claims to
    /// come from, resolves where its files are, and records the version on the logged model's
    /// `mlflow.modelVersions` tag.
    pub async fn create_model_version(&self, request: CreateVersion) -> ApiResult<ModelVersion> {
        registry::check_model_name(&request.name)?;
        self.access
            .registered_model(&request.name, Permission::Write)
            .await?;
        check_tags(&request.tags)?;
        let source = request.source.clone();
        if source.is_empty() {
            return Err(ValidationError::missing("source").into());
        }
        if registry::source_has_relative_parts(&source) {
            return Err(ApiError::invalid(format!(
                "Invalid model version source: '{source}'. If supplying a source as an http, \
                 https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute \
                 path must be provided without relative path references present. Please provide \
                 an absolute path."
            )));
        }
        let mut run_id = request.run_id.filter(|r| !r.is_empty());
        let mut model_id = request.model_id.filter(|m| !m.is_empty());
        let mut source_out = source.clone();
        let storage_location = match registry::parse_model_uri(&source) {
            Some(ModelUri::LoggedModel(id)) => {
                if model_id.as_ref().is_some_and(|given| *given != id) {
                    return Err(invalid_source(&source, "model_id"));
                }
                let model = self.store.get_logged_model(&id).await.map_err(|_| {
                    ApiError::invalid(format!(
                        "Unable to fetch model from model URI source artifact location '{source}': \
                         no logged model with ID '{id}'."
                    ))
                })?;
                run_id = run_id.or(model.source_run_id.clone());
                model_id = Some(id);
                model.artifact_location
            }
            Some(reference) => {
                let referenced = self.resolve_model_uri(&source, reference).await?;
                if run_id
                    .as_ref()
                    .is_some_and(|r| Some(r) != referenced.run_id.as_ref())
                    || model_id
                        .as_ref()
                        .is_some_and(|m| Some(m) != referenced.model_id.as_ref())
                {
                    return Err(ApiError::invalid(format!(
                        "Invalid model version source: '{source}'. The run_id and model_id request \
                         parameters must match the referenced model version."
                    )));
                }
                run_id = run_id.or(referenced.run_id.clone());
                model_id = model_id.or(referenced.model_id.clone());
                source_out = format!("models:/{}/{}", referenced.name, referenced.version);
                referenced.storage_location
            }
            None if source.starts_with("models:") => {
                return Err(ApiError::invalid(format!(
                    "Invalid model version source: '{source}'. Registered model sources must use \
                     the active model registry."
                )));
            }
            None => {
                self.check_plain_source(&source, run_id.as_deref(), model_id.as_deref())
                    .await?;
                if model_id.is_some() && run_id.is_none() {
                    let id = model_id.as_deref().unwrap_or_default();
                    run_id = self.store.get_logged_model(id).await?.source_run_id;
                }
                source.clone()
            }
        };
        // Registering needs to be able to read what is registered.
        if let Some(run_id) = &run_id {
            self.access.run(run_id, Permission::Read).await?;
        }
        if let Some(model_id) = &model_id {
            self.access.model(model_id, Permission::Read).await?;
        }
        let version = self
            .store
            .create_model_version(NewModelVersion {
                name: request.name.clone(),
                source: source_out,
                storage_location,
                run_id,
                run_link: request.run_link.filter(|l| !l.is_empty()),
                model_id: model_id.clone(),
                description: request.description.filter(|d| !d.is_empty()),
                user_id: None,
                tags: request.tags,
                now: now_ms(),
            })
            .await?;
        if let Some(model_id) = model_id {
            self.note_version_on_model(&model_id, &version).await?;
        }
        Ok(version)
    }

    /// A source that is neither `models:/`: `runs:/` must name the given run; a proxied artifact
    /// URI must lie within the given run's (or logged model's) artifacts; local paths are refused.
    async fn check_plain_source(
        &self,
        source: &str,
        run_id: Option<&str>,
        model_id: Option<&str>,
    ) -> ApiResult<()> {
        let parameter = if model_id.is_some() {
            "model_id"
        } else {
            "run_id"
        };
        if let Some(rest) = source.strip_prefix("runs:") {
            if model_id.is_some() || rest.starts_with("//") {
                return Err(invalid_source(source, parameter));
            }
            let source_run = rest.trim_start_matches('/').split('/').next().unwrap_or("");
            return if run_id == Some(source_run) {
                self.get_run(source_run).await.map(|_| ())
            } else {
                Err(invalid_source(source, "run_id"))
            };
        }
        if is_local(source) {
            return Err(ApiError::invalid(format!(
                "Invalid model version source: '{source}'. To use a local path as a model version \
                 source, the {parameter} request parameter has to be specified and the local path \
                 has to be contained within the artifact directory of the {} specified by the \
                 {parameter}.",
                if model_id.is_some() { "model" } else { "run" }
            )));
        }
        if source.starts_with(PROXY_SCHEME) {
            let root = match (model_id, run_id) {
                (Some(model_id), _) => Some(
                    self.store
                        .get_logged_model(model_id)
                        .await?
                        .artifact_location,
                ),
                (None, Some(run_id)) => Some(self.get_run(run_id).await?.info.artifact_uri),
                (None, None) => None,
            };
            if !root.is_some_and(|root| within(source, &root)) {
                return Err(invalid_source(source, parameter));
            }
        }
        Ok(())
    }

    /// The version a `models:/name/…` reference names.
    async fn resolve_model_uri(&self, uri: &str, reference: ModelUri) -> ApiResult<ModelVersion> {
        if let ModelUri::Version { name, .. }
        | ModelUri::Alias { name, .. }
        | ModelUri::Stage { name, .. } = &reference
        {
            self.access.registered_model(name, Permission::Read).await?;
        }
        match reference {
            ModelUri::LoggedModel(_) => Err(ApiError::invalid(format!(
                "'{uri}' names a logged model, not a registered model version"
            ))),
            ModelUri::Version { name, version } => {
                Ok(self.store.get_model_version(&name, version).await?)
            }
            ModelUri::Alias { name, alias } => {
                Ok(self.store.get_model_version_by_alias(&name, &alias).await?)
            }
            ModelUri::Stage { name, stage } => self
                .store
                .latest_versions(&name, vec![stage])
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "No versions of model with name '{name}' and stage '{}' found",
                        stage.as_str()
                    ))
                }),
            ModelUri::Latest { name } => self
                .store
                .latest_versions(&name, vec![])
                .await?
                .into_iter()
                .max_by_key(|version| version.version)
                .ok_or_else(|| {
                    ApiError::not_found(format!("No versions of model with name '{name}' found"))
                }),
        }
    }

    /// Adds `{name, version}` to the logged model's `mlflow.modelVersions` tag (a JSON list), as
    /// MLflow's server does; a model deleted meanwhile is skipped.
    async fn note_version_on_model(&self, model_id: &str, version: &ModelVersion) -> ApiResult<()> {
        let Ok(model) = self.store.get_logged_model(model_id).await else {
            return Ok(());
        };
        let entry = serde_json::json!({ "name": version.name, "version": version.version });
        let mut entries: Vec<serde_json::Value> = model
            .tags
            .iter()
            .find(|tag| tag.key == MODEL_VERSIONS_TAG)
            .and_then(|tag| serde_json::from_str(&tag.value).ok())
            .unwrap_or_default();
        if !entries.contains(&entry) {
            entries.push(entry);
        }
        let tag = Tag::new(
            MODEL_VERSIONS_TAG,
            serde_json::Value::from(entries).to_string(),
        );
        match self
            .store
            .set_logged_model_tags(model_id, vec![tag], now_ms())
            .await
        {
            Ok(_) | Err(cairn_store::StoreError::NotFound(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn get_model_version(&self, name: &str, version: &str) -> ApiResult<ModelVersion> {
        registry::check_model_name(name)?;
        self.access.registered_model(name, Permission::Read).await?;
        let version = registry::parse_version(version)?;
        Ok(self.store.get_model_version(name, version).await?)
    }

    /// Where a version's files are (`get-download-uri`).
    pub async fn model_version_download_uri(&self, name: &str, version: &str) -> ApiResult<String> {
        let version = self.get_model_version(name, version).await?;
        Ok(if version.storage_location.is_empty() {
            version.source
        } else {
            version.storage_location
        })
    }

    pub async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: Option<String>,
    ) -> ApiResult<ModelVersion> {
        registry::check_model_name(name)?;
        self.access
            .registered_model(name, Permission::Write)
            .await?;
        let version = registry::parse_version(version)?;
        Ok(self
            .store
            .update_model_version(
                name,
                version,
                description.filter(|d| !d.is_empty()),
                now_ms(),
            )
            .await?)
    }

    pub async fn transition_model_version_stage(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        archive_existing: bool,
    ) -> ApiResult<ModelVersion> {
        registry::check_model_name(name)?;
        self.access
            .registered_model(name, Permission::Write)
            .await?;
        let version = registry::parse_version(version)?;
        let stage = Stage::parse_user(stage)?;
        if archive_existing && !stage.is_active() {
            return Err(ApiError::invalid(format!(
                "Model version transition cannot archive existing model versions because '{}' is \
                 not an Active stage. Valid stages are Staging and Production.",
                stage.as_str()
            )));
        }
        Ok(self
            .store
            .transition_model_version_stage(name, version, stage, archive_existing, now_ms())
            .await?)
    }

    pub async fn delete_model_version(&self, name: &str, version: &str) -> ApiResult<()> {
        registry::check_model_name(name)?;
        self.access
            .registered_model(name, Permission::Write)
            .await?;
        let version = registry::parse_version(version)?;
        Ok(self
            .store
            .delete_model_version(name, version, now_ms())
            .await?)
    }

    pub async fn search_model_versions(
        &self,
        request: SearchRegistry,
    ) -> ApiResult<Page<ModelVersion>> {
        let mut filter =
            filter::parse_model_version_filter(&request.filter).map_err(ValidationError::from)?;
        let exclude_prompts =
            registry::split_prompt_clauses(&mut filter.clauses, |clause| match clause {
                ModelVersionClause::Tag { key, predicate } if key == PROMPT_TAG => Some(predicate),
                _ => None,
            });
        let search = ModelVersionSearch {
            filter,
            exclude_prompts,
            order_by: filter::parse_model_version_order_by(&request.order_by)
                .map_err(ValidationError::from)?,
            max_results: page_size(
                request.max_results,
                DEFAULT_RESULTS_MODEL_VERSIONS,
                MAX_RESULTS_MODEL_VERSIONS,
            )?,
            page_token: request.page_token.filter(|t| !t.is_empty()),
            readable_by: self.access.search_viewer(),
        };
        Ok(self.store.search_model_versions(search).await?)
    }

    pub async fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        tag: Tag,
    ) -> ApiResult<()> {
        registry::check_model_name(name)?;
        self.access
            .registered_model(name, Permission::Write)
            .await?;
        let version = registry::parse_version(version)?;
        registry::check_registry_tag(&tag)?;
        Ok(self
            .store
            .set_model_version_tag(name, version, tag, now_ms())
            .await?)
    }

    pub async fn delete_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
    ) -> ApiResult<()> {
        registry::check_model_name(name)?;
        self.access
            .registered_model(name, Permission::Write)
            .await?;
        let version = registry::parse_version(version)?;
        Ok(self
            .store
            .delete_model_version_tag(name, version, key, now_ms())
            .await?)
    }

    pub async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> ApiResult<()> {
        registry::check_model_name(name)?;
        self.access
            .registered_model(name, Permission::Write)
            .await?;
        registry::check_alias(alias)?;
        registry::check_alias_not_reserved(alias)?;
        let version = registry::parse_version(version)?;
        Ok(self
            .store
            .set_registered_model_alias(name, alias, version, now_ms())
            .await?)
    }

    pub async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> ApiResult<()> {
        registry::check_model_name(name)?;
        self.access
            .registered_model(name, Permission::Write)
            .await?;
        registry::check_alias(alias)?;
        Ok(self
            .store
            .delete_registered_model_alias(name, alias, now_ms())
            .await?)
    }

    /// A registered model and all its versions, newest first.
    pub async fn registered_model_with_versions(
        &self,
        name: &str,
    ) -> ApiResult<(RegisteredModel, Vec<ModelVersion>)> {
        let model = self.get_registered_model(name).await?;
        let mut versions = Vec::new();
        let mut page_token = None;
        loop {
            let page = self
                .store
                .search_model_versions(ModelVersionSearch {
                    filter: ModelVersionFilter {
                        clauses: vec![ModelVersionClause::StringAttribute {
                            attribute: VersionStringAttribute::Name,
                            predicate: StringPredicate::Compare(StringOp::Eq, name.to_string()),
                        }],
                    },
                    order_by: vec![ModelVersionOrderBy {
                        key: ModelVersionOrderKey::VersionNumber,
                        ascending: false,
                    }],
                    max_results: DEFAULT_RESULTS_MODEL_VERSIONS as usize,
                    page_token,
                    exclude_prompts: false,
                    // The model itself was checked above.
                    readable_by: None,
                })
                .await?;
            versions.extend(page.items);
            match page.next_page_token {
                Some(token) => page_token = Some(token),
                None => break,
            }
        }
        Ok((model, versions))
    }

    pub async fn model_version_by_alias(&self, name: &str, alias: &str) -> ApiResult<ModelVersion> {
        registry::check_model_name(name)?;
        self.access.registered_model(name, Permission::Read).await?;
        registry::check_alias(alias)?;
        Ok(self.store.get_model_version_by_alias(name, alias).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_within_an_artifact_root() {
        let root = "mlflow-artifacts:/1/abc/artifacts";
        assert!(within("mlflow-artifacts:/1/abc/artifacts/model", root));
        assert!(within("mlflow-artifacts:///1/abc/artifacts", root));
        assert!(!within("mlflow-artifacts:/1/abcd/artifacts/model", root));
        assert!(!within("mlflow-artifacts:/1/other/artifacts/model", root));
        assert!(!within("s3://bucket/1/abc/artifacts/model", root));
    }

    #[test]
    fn local_sources() {
        assert!(is_local("/tmp/model"));
        assert!(is_local("file:///tmp/model"));
        assert!(is_local("model"));
        assert!(!is_local("s3://bucket/model"));
        assert!(!is_local("mlflow-artifacts:/1/x"));
    }
}
