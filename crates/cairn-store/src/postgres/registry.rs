//! The model registry on PostgreSQL (tables in `schema.rs`).
//!
//! A port of `sqlite/registry.rs`, query for query. What differs, and why:
//! - Writes lock the registered model's row (`FOR UPDATE`) before they check and change the
//!   model or its versions, tags and aliases: there is no single writer here. Numbering a
//!   version bumps `next_version` under that lock, so two concurrent creates get two numbers.
//!   Name races (create, rename) are decided by the unique key: the loser's transaction is run
//!   again and its check sees the winner.
//! - Deleting a model deletes its access row, then the model row; the schema's `ON DELETE
//!   CASCADE` removes versions, tags and aliases.
//! - `IN (?, …)` lists are `= ANY($n)` arrays (in the shared search builders, through
//!   `postgres::sql::Binds`'s `Dialect`).
//!
//! Page sizes, stage order and page tokens are the embedded backend's; the searches' WHERE and
//! ORDER BY come from `crate::sqlbuild::registry`, as for SQLite.

use std::collections::HashMap;

use async_trait::async_trait;

use cairn_core::model::{Page, Tag};
use cairn_core::registry::{ModelAlias, ModelVersion, NewModelVersion, RegisteredModel, Stage};
use postgres::{Row, Transaction};

use super::PgStore;
use super::sql::{Binds, IN_CHUNK};
use crate::registry::{ModelVersionSearch, RegisteredModelSearch, RegistryStore};
use crate::sqlbuild::{self, SearchSql};
use crate::sqlite::registry::{DEFAULT_MODELS_PAGE, DEFAULT_VERSIONS_PAGE, stage_rank};
use crate::sqlite::token;
use crate::{Result, StoreError};

const MODEL_COLUMNS: &str =
    "r.id, r.name, r.creation_timestamp, r.last_updated_timestamp, r.description";
const VERSION_COLUMNS: &str = "v.registered_model, r.name, v.version, v.creation_timestamp, \
    v.last_updated_timestamp, v.user_id, v.current_stage, v.description, v.source, \
    v.storage_location, v.run_id, v.run_link, v.model_id";

struct RawModel {
    id: i64,
    model: RegisteredModel,
}

fn model_row(row: &Row) -> std::result::Result<RawModel, postgres::Error> {
    Ok(RawModel {
        id: row.try_get(0)?,
        model: RegisteredModel {
            name: row.try_get(1)?,
            creation_timestamp: row.try_get(2)?,
            last_updated_timestamp: row.try_get(3)?,
            description: row.try_get(4)?,
            ..RegisteredModel::default()
        },
    })
}

struct RawVersion {
    registered_model: i64,
    stage: String,
    version: ModelVersion,
}

fn version_row(row: &Row) -> std::result::Result<RawVersion, postgres::Error> {
    Ok(RawVersion {
        registered_model: row.try_get(0)?,
        stage: row.try_get(6)?,
        version: ModelVersion {
            name: row.try_get(1)?,
            version: row.try_get(2)?,
            creation_timestamp: row.try_get(3)?,
            last_updated_timestamp: row.try_get(4)?,
            user_id: row.try_get(5)?,
            description: row.try_get(7)?,
            source: row.try_get(8)?,
            storage_location: row.try_get(9)?,
            run_id: row.try_get(10)?,
            run_link: row.try_get(11)?,
            model_id: row.try_get(12)?,
            ..ModelVersion::default()
        },
    })
}

/// The model's id, for reads.
fn model_id(tx: &mut Transaction<'_>, name: &str) -> Result<i64> {
    tx.query_opt("SELECT id FROM registered_models WHERE name = $1", &[&name])?
        .map(|row| row.try_get(0))
        .transpose()?
        .ok_or_else(|| StoreError::registered_model_not_found(name))
}

/// The model's id, its row locked until the transaction ends: every write to a model, its
/// versions, tags or aliases goes through here first.
fn lock_model(tx: &mut Transaction<'_>, name: &str) -> Result<i64> {
    tx.query_opt(
        "SELECT id FROM registered_models WHERE name = $1 FOR UPDATE",
        &[&name],
    )?
    .map(|row| row.try_get(0))
    .transpose()?
    .ok_or_else(|| StoreError::registered_model_not_found(name))
}

/// The model's id (its row locked), after checking that the version exists.
fn version_key(tx: &mut Transaction<'_>, name: &str, version: i64) -> Result<i64> {
    let id = lock_model(tx, name)?;
    let exists = tx
        .query_opt(
            "SELECT 1 FROM model_versions WHERE registered_model = $1 AND version = $2",
            &[&id, &version],
        )?
        .is_some();
    if exists {
        Ok(id)
    } else {
        Err(StoreError::model_version_not_found(name, version))
    }
}

fn touch_model(tx: &mut Transaction<'_>, id: i64, now: i64) -> Result<()> {
    tx.execute(
        "UPDATE registered_models SET last_updated_timestamp = $2 WHERE id = $1",
        &[&id, &now],
    )?;
    Ok(())
}

fn touch_version(tx: &mut Transaction<'_>, id: i64, version: i64, now: i64) -> Result<()> {
    tx.execute(
        "UPDATE model_versions SET last_updated_timestamp = $3 WHERE registered_model = $1 AND version = $2",
        &[&id, &version, &now],
    )?;
    Ok(())
}

fn upsert_model_tag(tx: &mut Transaction<'_>, id: i64, tag: &Tag) -> Result<()> {
    tx.execute(
        "INSERT INTO registered_model_tags (registered_model, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (registered_model, key) DO UPDATE SET value = excluded.value",
        &[&id, &tag.key, &tag.value],
    )?;
    Ok(())
}

fn upsert_version_tag(tx: &mut Transaction<'_>, id: i64, version: i64, tag: &Tag) -> Result<()> {
    tx.execute(
        "INSERT INTO model_version_tags (registered_model, version, key, value) VALUES ($1, $2, $3, $4)
         ON CONFLICT (registered_model, version, key) DO UPDATE SET value = excluded.value",
        &[&id, &version, &tag.key, &tag.value],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Registered models
// ---------------------------------------------------------------------------------------------

pub fn create_model(
    tx: &mut Transaction<'_>,
    name: &str,
    description: Option<&str>,
    tags: &[Tag],
    now: i64,
) -> Result<RegisteredModel> {
    let taken = tx
        .query_opt("SELECT 1 FROM registered_models WHERE name = $1", &[&name])?
        .is_some();
    if taken {
        return Err(StoreError::registered_model_exists(name));
    }
    // A concurrent create of the same name fails this insert on the unique key; the retry's
    // check above then answers "exists".
    let id: i64 = tx
        .query_one(
            "INSERT INTO registered_models (name, creation_timestamp, last_updated_timestamp, description)
             VALUES ($1, $2, $2, $3) RETURNING id",
            &[&name, &now, &description],
        )?
        .try_get(0)?;
    for tag in tags {
        upsert_model_tag(tx, id, tag)?;
    }
    get_model(tx, name)
}

pub fn get_model(tx: &mut Transaction<'_>, name: &str) -> Result<RegisteredModel> {
    let raw = tx
        .query_opt(
            &format!("SELECT {MODEL_COLUMNS} FROM registered_models r WHERE r.name = $1"),
            &[&name],
        )?
        .map(|row| model_row(&row))
        .transpose()?
        .ok_or_else(|| StoreError::registered_model_not_found(name))?;
    load_models(tx, vec![raw])?
        .pop()
        .ok_or_else(|| StoreError::registered_model_not_found(name))
}

pub fn rename_model(
    tx: &mut Transaction<'_>,
    name: &str,
    new_name: &str,
    now: i64,
) -> Result<RegisteredModel> {
    let id = lock_model(tx, name)?;
    if new_name != name {
        let taken = tx
            .query_opt(
                "SELECT 1 FROM registered_models WHERE name = $1",
                &[&new_name],
            )?
            .is_some();
        if taken {
            return Err(StoreError::registered_model_exists(new_name));
        }
    }
    tx.execute(
        "UPDATE registered_models SET name = $2, last_updated_timestamp = $3 WHERE id = $1",
        &[&id, &new_name, &now],
    )?;
    get_model(tx, new_name)
}

pub fn update_model(
    tx: &mut Transaction<'_>,
    name: &str,
    description: Option<&str>,
    now: i64,
) -> Result<RegisteredModel> {
    let id = lock_model(tx, name)?;
    tx.execute(
        "UPDATE registered_models SET description = $2, last_updated_timestamp = $3 WHERE id = $1",
        &[&id, &description, &now],
    )?;
    get_model(tx, name)
}

pub fn delete_model(tx: &mut Transaction<'_>, name: &str) -> Result<()> {
    let id = lock_model(tx, name)?;
    // The access row does not cascade; versions, tags and aliases do.
    tx.execute(
        "DELETE FROM registered_model_access WHERE registered_model = $1",
        &[&id],
    )?;
    tx.execute("DELETE FROM registered_models WHERE id = $1", &[&id])?;
    Ok(())
}

pub fn set_model_tag(tx: &mut Transaction<'_>, name: &str, tag: &Tag, now: i64) -> Result<()> {
    let id = lock_model(tx, name)?;
    upsert_model_tag(tx, id, tag)?;
    touch_model(tx, id, now)
}

pub fn delete_model_tag(tx: &mut Transaction<'_>, name: &str, key: &str, now: i64) -> Result<()> {
    let id = lock_model(tx, name)?;
    let deleted = tx.execute(
        "DELETE FROM registered_model_tags WHERE registered_model = $1 AND key = $2",
        &[&id, &key],
    )?;
    if deleted > 0 {
        touch_model(tx, id, now)?;
    }
    Ok(())
}

pub fn search_models(
    tx: &mut Transaction<'_>,
    search: &RegisteredModelSearch,
) -> Result<Page<RegisteredModel>> {
    let query_print = token::fingerprint(&format!(
        "registered-models|{:?}|{:?}|{}|{:?}",
        search.filter,
        search.order_by,
        search.exclude_prompts,
        search.readable_by.as_ref().map(|viewer| viewer.user_id)
    ));
    let offset = token::decode_offset(search.page_token.as_deref(), query_print)?;
    let limit = if search.max_results == 0 {
        DEFAULT_MODELS_PAGE
    } else {
        search.max_results
    };
    let mut binds = Binds::default();
    let SearchSql { where_sql, order } = sqlbuild::registry::models_sql(search, &mut binds);
    let query = format!(
        "SELECT {MODEL_COLUMNS} FROM registered_models r {where_sql} ORDER BY {order} LIMIT {} OFFSET {}",
        limit + 1,
        offset
    );
    let mut rows: Vec<RawModel> = tx
        .query(&query, &binds.params())?
        .iter()
        .map(model_row)
        .collect::<std::result::Result<_, _>>()?;
    let next_page_token = token::offset_page(&mut rows, limit, offset, query_print);
    Ok(Page {
        items: load_models(tx, rows)?,
        next_page_token,
    })
}

/// Fills tags, aliases and latest versions of a page of models, set-wise.
fn load_models(tx: &mut Transaction<'_>, raws: Vec<RawModel>) -> Result<Vec<RegisteredModel>> {
    let ids: Vec<i64> = raws.iter().map(|raw| raw.id).collect();
    let position: HashMap<i64, usize> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| (*id, index))
        .collect();
    let mut models: Vec<RegisteredModel> = raws.into_iter().map(|raw| raw.model).collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let chunk = chunk.to_vec();
        let rows = tx.query(
            "SELECT registered_model, key, value FROM registered_model_tags
             WHERE registered_model = ANY($1) ORDER BY registered_model, key",
            &[&chunk],
        )?;
        for row in &rows {
            if let Some(slot) = position.get(&row.try_get::<_, i64>(0)?) {
                models[*slot].tags.push(Tag {
                    key: row.try_get(1)?,
                    value: row.try_get(2)?,
                });
            }
        }
        let rows = tx.query(
            "SELECT registered_model, alias, version FROM registered_model_aliases
             WHERE registered_model = ANY($1) ORDER BY registered_model, alias",
            &[&chunk],
        )?;
        for row in &rows {
            if let Some(slot) = position.get(&row.try_get::<_, i64>(0)?) {
                models[*slot].aliases.push(ModelAlias {
                    alias: row.try_get(1)?,
                    version: row.try_get(2)?,
                });
            }
        }
        // The highest version of each stage: the row with no higher version in its stage.
        let raws: Vec<RawVersion> = tx
            .query(
                &format!(
                    "SELECT {VERSION_COLUMNS} FROM model_versions v
                     JOIN registered_models r ON r.id = v.registered_model
                     WHERE v.registered_model = ANY($1) AND NOT EXISTS (
                         SELECT 1 FROM model_versions w WHERE w.registered_model = v.registered_model
                         AND w.current_stage = v.current_stage AND w.version > v.version)
                     ORDER BY v.registered_model, v.version"
                ),
                &[&chunk],
            )?
            .iter()
            .map(version_row)
            .collect::<std::result::Result<_, _>>()?;
        for (id, version) in load_versions(tx, raws)? {
            if let Some(slot) = position.get(&id) {
                models[*slot].latest_versions.push(version);
            }
        }
    }
    for model in &mut models {
        model
            .latest_versions
            .sort_by_key(|version| stage_rank(version.current_stage));
    }
    Ok(models)
}

pub fn latest_versions(
    tx: &mut Transaction<'_>,
    name: &str,
    stages: &[Stage],
) -> Result<Vec<ModelVersion>> {
    let model = get_model(tx, name)?;
    Ok(model
        .latest_versions
        .into_iter()
        .filter(|version| stages.is_empty() || stages.contains(&version.current_stage))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Model versions
// ---------------------------------------------------------------------------------------------

/// Tags and aliases for raw version rows, set-wise; returns `(registered model id, version)`.
fn load_versions(
    tx: &mut Transaction<'_>,
    raws: Vec<RawVersion>,
) -> Result<Vec<(i64, ModelVersion)>> {
    let mut versions = Vec::with_capacity(raws.len());
    for raw in raws {
        let stage = Stage::parse(&raw.stage).ok_or_else(|| {
            StoreError::Internal(format!(
                "unknown model version stage {:?} in database",
                raw.stage
            ))
        })?;
        let mut version = raw.version;
        version.current_stage = stage;
        versions.push((raw.registered_model, version));
    }
    let position: HashMap<(i64, i64), usize> = versions
        .iter()
        .enumerate()
        .map(|(index, (id, version))| ((*id, version.version), index))
        .collect();
    let mut models: Vec<i64> = versions.iter().map(|(id, _)| *id).collect();
    models.sort_unstable();
    models.dedup();
    for chunk in models.chunks(IN_CHUNK) {
        let chunk = chunk.to_vec();
        let rows = tx.query(
            "SELECT registered_model, version, key, value FROM model_version_tags
             WHERE registered_model = ANY($1) ORDER BY registered_model, version, key",
            &[&chunk],
        )?;
        for row in &rows {
            if let Some(slot) = position.get(&(row.try_get(0)?, row.try_get(1)?)) {
                versions[*slot].1.tags.push(Tag {
                    key: row.try_get(2)?,
                    value: row.try_get(3)?,
                });
            }
        }
        let rows = tx.query(
            "SELECT registered_model, version, alias FROM registered_model_aliases
             WHERE registered_model = ANY($1) ORDER BY registered_model, alias",
            &[&chunk],
        )?;
        for row in &rows {
            if let Some(slot) = position.get(&(row.try_get(0)?, row.try_get(1)?)) {
                versions[*slot].1.aliases.push(row.try_get(2)?);
            }
        }
    }
    Ok(versions)
}

pub fn get_version(tx: &mut Transaction<'_>, name: &str, version: i64) -> Result<ModelVersion> {
    let id = model_id(tx, name)?;
    let raw = tx
        .query_opt(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions v
                 JOIN registered_models r ON r.id = v.registered_model
                 WHERE v.registered_model = $1 AND v.version = $2"
            ),
            &[&id, &version],
        )?
        .map(|row| version_row(&row))
        .transpose()?
        .ok_or_else(|| StoreError::model_version_not_found(name, version))?;
    load_versions(tx, vec![raw])?
        .pop()
        .map(|(_, version)| version)
        .ok_or_else(|| StoreError::model_version_not_found(name, version))
}

pub fn create_version(tx: &mut Transaction<'_>, new: &NewModelVersion) -> Result<ModelVersion> {
    // Numbered under the model row's lock: concurrent creates take turns.
    let id = lock_model(tx, &new.name)?;
    let version: i64 = tx
        .query_one(
            "UPDATE registered_models SET next_version = next_version + 1, last_updated_timestamp = $2
             WHERE id = $1 RETURNING next_version - 1",
            &[&id, &new.now],
        )?
        .try_get(0)?;
    tx.execute(
        "INSERT INTO model_versions (registered_model, version, creation_timestamp,
             last_updated_timestamp, user_id, current_stage, description, source, storage_location,
             run_id, run_link, model_id)
         VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &id,
            &version,
            &new.now,
            &new.user_id,
            &Stage::None.as_str(),
            &new.description,
            &new.source,
            &new.storage_location,
            &new.run_id,
            &new.run_link,
            &new.model_id,
        ],
    )?;
    for tag in &new.tags {
        upsert_version_tag(tx, id, version, tag)?;
    }
    get_version(tx, &new.name, version)
}

pub fn update_version(
    tx: &mut Transaction<'_>,
    name: &str,
    version: i64,
    description: Option<&str>,
    now: i64,
) -> Result<ModelVersion> {
    let id = version_key(tx, name, version)?;
    tx.execute(
        "UPDATE model_versions SET description = $3, last_updated_timestamp = $4
         WHERE registered_model = $1 AND version = $2",
        &[&id, &version, &description, &now],
    )?;
    get_version(tx, name, version)
}

pub fn transition_stage(
    tx: &mut Transaction<'_>,
    name: &str,
    version: i64,
    stage: Stage,
    archive_existing: bool,
    now: i64,
) -> Result<ModelVersion> {
    let id = version_key(tx, name, version)?;
    if archive_existing {
        tx.execute(
            "UPDATE model_versions SET current_stage = $4, last_updated_timestamp = $5
             WHERE registered_model = $1 AND version != $2 AND current_stage = $3",
            &[
                &id,
                &version,
                &stage.as_str(),
                &Stage::Archived.as_str(),
                &now,
            ],
        )?;
    }
    tx.execute(
        "UPDATE model_versions SET current_stage = $3, last_updated_timestamp = $4
         WHERE registered_model = $1 AND version = $2",
        &[&id, &version, &stage.as_str(), &now],
    )?;
    touch_model(tx, id, now)?;
    get_version(tx, name, version)
}

pub fn delete_version(tx: &mut Transaction<'_>, name: &str, version: i64, now: i64) -> Result<()> {
    let id = version_key(tx, name, version)?;
    // Its tags and aliases cascade.
    tx.execute(
        "DELETE FROM model_versions WHERE registered_model = $1 AND version = $2",
        &[&id, &version],
    )?;
    touch_model(tx, id, now)
}

pub fn set_version_tag(
    tx: &mut Transaction<'_>,
    name: &str,
    version: i64,
    tag: &Tag,
    now: i64,
) -> Result<()> {
    let id = version_key(tx, name, version)?;
    upsert_version_tag(tx, id, version, tag)?;
    touch_version(tx, id, version, now)
}

pub fn delete_version_tag(
    tx: &mut Transaction<'_>,
    name: &str,
    version: i64,
    key: &str,
    now: i64,
) -> Result<()> {
    let id = version_key(tx, name, version)?;
    let deleted = tx.execute(
        "DELETE FROM model_version_tags WHERE registered_model = $1 AND version = $2 AND key = $3",
        &[&id, &version, &key],
    )?;
    if deleted > 0 {
        touch_version(tx, id, version, now)?;
    }
    Ok(())
}

pub fn set_alias(
    tx: &mut Transaction<'_>,
    name: &str,
    alias: &str,
    version: i64,
    now: i64,
) -> Result<()> {
    let id = version_key(tx, name, version)?;
    tx.execute(
        "INSERT INTO registered_model_aliases (registered_model, alias, version) VALUES ($1, $2, $3)
         ON CONFLICT (registered_model, alias) DO UPDATE SET version = excluded.version",
        &[&id, &alias, &version],
    )?;
    touch_model(tx, id, now)
}

pub fn delete_alias(tx: &mut Transaction<'_>, name: &str, alias: &str, now: i64) -> Result<()> {
    let id = lock_model(tx, name)?;
    let deleted = tx.execute(
        "DELETE FROM registered_model_aliases WHERE registered_model = $1 AND alias = $2",
        &[&id, &alias],
    )?;
    if deleted > 0 {
        touch_model(tx, id, now)?;
    }
    Ok(())
}

pub fn version_by_alias(tx: &mut Transaction<'_>, name: &str, alias: &str) -> Result<ModelVersion> {
    let id = model_id(tx, name)?;
    let version: i64 = tx
        .query_opt(
            "SELECT version FROM registered_model_aliases WHERE registered_model = $1 AND alias = $2",
            &[&id, &alias],
        )?
        .map(|row| row.try_get(0))
        .transpose()?
        .ok_or_else(|| StoreError::alias_not_found(alias))?;
    get_version(tx, name, version)
}

pub fn search_versions(
    tx: &mut Transaction<'_>,
    search: &ModelVersionSearch,
) -> Result<Page<ModelVersion>> {
    let query_print = token::fingerprint(&format!(
        "model-versions|{:?}|{:?}|{}|{:?}",
        search.filter,
        search.order_by,
        search.exclude_prompts,
        search.readable_by.as_ref().map(|viewer| viewer.user_id)
    ));
    let offset = token::decode_offset(search.page_token.as_deref(), query_print)?;
    let limit = if search.max_results == 0 {
        DEFAULT_VERSIONS_PAGE
    } else {
        search.max_results
    };
    let mut binds = Binds::default();
    let SearchSql { where_sql, order } = sqlbuild::registry::versions_sql(search, &mut binds);
    let query = format!(
        "SELECT {VERSION_COLUMNS} FROM model_versions v JOIN registered_models r ON r.id = v.registered_model
         {where_sql} ORDER BY {order} LIMIT {} OFFSET {}",
        limit + 1,
        offset
    );
    let mut rows: Vec<RawVersion> = tx
        .query(&query, &binds.params())?
        .iter()
        .map(version_row)
        .collect::<std::result::Result<_, _>>()?;
    let next_page_token = token::offset_page(&mut rows, limit, offset, query_print);
    Ok(Page {
        items: load_versions(tx, rows)?
            .into_iter()
            .map(|(_, version)| version)
            .collect(),
        next_page_token,
    })
}

#[async_trait]
impl RegistryStore for PgStore {
    async fn create_registered_model(
        &self,
        name: &str,
        description: Option<String>,
        tags: Vec<Tag>,
        now: i64,
    ) -> Result<RegisteredModel> {
        let name = name.to_string();
        self.write(move |tx| create_model(tx, &name, description.as_deref(), &tags, now))
            .await
    }

    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let name = name.to_string();
        self.read(move |tx| get_model(tx, &name)).await
    }

    async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        now: i64,
    ) -> Result<RegisteredModel> {
        let (name, new_name) = (name.to_string(), new_name.to_string());
        self.write(move |tx| rename_model(tx, &name, &new_name, now))
            .await
    }

    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<String>,
        now: i64,
    ) -> Result<RegisteredModel> {
        let name = name.to_string();
        self.write(move |tx| update_model(tx, &name, description.as_deref(), now))
            .await
    }

    async fn delete_registered_model(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.write(move |tx| delete_model(tx, &name)).await
    }

    async fn search_registered_models(
        &self,
        search: RegisteredModelSearch,
    ) -> Result<Page<RegisteredModel>> {
        self.read(move |tx| search_models(tx, &search)).await
    }

    async fn latest_versions(&self, name: &str, stages: Vec<Stage>) -> Result<Vec<ModelVersion>> {
        let name = name.to_string();
        self.read(move |tx| latest_versions(tx, &name, &stages))
            .await
    }

    async fn set_registered_model_tag(&self, name: &str, tag: Tag, now: i64) -> Result<()> {
        let name = name.to_string();
        self.write(move |tx| set_model_tag(tx, &name, &tag, now))
            .await
    }

    async fn delete_registered_model_tag(&self, name: &str, key: &str, now: i64) -> Result<()> {
        let (name, key) = (name.to_string(), key.to_string());
        self.write(move |tx| delete_model_tag(tx, &name, &key, now))
            .await
    }

    async fn create_model_version(&self, version: NewModelVersion) -> Result<ModelVersion> {
        self.write(move |tx| create_version(tx, &version)).await
    }

    async fn get_model_version(&self, name: &str, version: i64) -> Result<ModelVersion> {
        let name = name.to_string();
        self.read(move |tx| get_version(tx, &name, version)).await
    }

    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: Option<String>,
        now: i64,
    ) -> Result<ModelVersion> {
        let name = name.to_string();
        self.write(move |tx| update_version(tx, &name, version, description.as_deref(), now))
            .await
    }

    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: i64,
        stage: Stage,
        archive_existing: bool,
        now: i64,
    ) -> Result<ModelVersion> {
        let name = name.to_string();
        self.write(move |tx| transition_stage(tx, &name, version, stage, archive_existing, now))
            .await
    }

    async fn delete_model_version(&self, name: &str, version: i64, now: i64) -> Result<()> {
        let name = name.to_string();
        self.write(move |tx| delete_version(tx, &name, version, now))
            .await
    }

    async fn search_model_versions(
        &self,
        search: ModelVersionSearch,
    ) -> Result<Page<ModelVersion>> {
        self.read(move |tx| search_versions(tx, &search)).await
    }

    async fn set_model_version_tag(
        &self,
        name: &str,
        version: i64,
        tag: Tag,
        now: i64,
    ) -> Result<()> {
        let name = name.to_string();
        self.write(move |tx| set_version_tag(tx, &name, version, &tag, now))
            .await
    }

    async fn delete_model_version_tag(
        &self,
        name: &str,
        version: i64,
        key: &str,
        now: i64,
    ) -> Result<()> {
        let (name, key) = (name.to_string(), key.to_string());
        self.write(move |tx| delete_version_tag(tx, &name, version, &key, now))
            .await
    }

    async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
        now: i64,
    ) -> Result<()> {
        let (name, alias) = (name.to_string(), alias.to_string());
        self.write(move |tx| set_alias(tx, &name, &alias, version, now))
            .await
    }

    async fn delete_registered_model_alias(&self, name: &str, alias: &str, now: i64) -> Result<()> {
        let (name, alias) = (name.to_string(), alias.to_string());
        self.write(move |tx| delete_alias(tx, &name, &alias, now))
            .await
    }

    async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        let (name, alias) = (name.to_string(), alias.to_string());
        self.read(move |tx| version_by_alias(tx, &name, &alias))
            .await
    }
}
