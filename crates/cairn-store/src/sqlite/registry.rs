//! The model registry on SQLite (tables in `schema.rs`, migration 5).
//!
//! A registered model's row has an integer id that its versions, tags and aliases reference, so
//! a rename touches one row. `next_version` only grows: deleting the newest version does not
//! give its number out again. Versions are loaded with their tags and aliases in a few set-based
//! queries per page, never one query per version. The searches' WHERE and ORDER BY come from
//! `crate::sqlbuild::registry`.

use std::collections::HashMap;

use async_trait::async_trait;

use cairn_core::model::{Page, Tag};
use cairn_core::registry::{ModelAlias, ModelVersion, NewModelVersion, RegisteredModel, Stage};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use super::sql::{self, Binds, IN_CHUNK};
use super::token;
use crate::registry::{ModelVersionSearch, RegisteredModelSearch, RegistryStore};
use crate::sqlbuild::{self, SearchSql};
use crate::{Result, StoreError};

pub const TABLES: &str = r#"
    CREATE TABLE registered_models (
        id                     INTEGER PRIMARY KEY,
        name                   TEXT NOT NULL UNIQUE,
        creation_timestamp     INTEGER NOT NULL,
        last_updated_timestamp INTEGER NOT NULL,
        description            TEXT,
        next_version           INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX registered_models_updated ON registered_models (last_updated_timestamp, name);

    CREATE TABLE registered_model_tags (
        registered_model INTEGER NOT NULL REFERENCES registered_models (id) ON DELETE CASCADE,
        key              TEXT NOT NULL,
        value            TEXT NOT NULL,
        PRIMARY KEY (registered_model, key)
    ) WITHOUT ROWID;

    CREATE TABLE model_versions (
        registered_model       INTEGER NOT NULL REFERENCES registered_models (id) ON DELETE CASCADE,
        version                INTEGER NOT NULL,
        creation_timestamp     INTEGER NOT NULL,
        last_updated_timestamp INTEGER NOT NULL,
        user_id                TEXT,
        current_stage          TEXT NOT NULL,
        description            TEXT,
        source                 TEXT NOT NULL,
        storage_location       TEXT NOT NULL,
        run_id                 TEXT,
        run_link               TEXT,
        model_id               TEXT,
        PRIMARY KEY (registered_model, version)
    ) WITHOUT ROWID;
    CREATE INDEX model_versions_run ON model_versions (run_id) WHERE run_id IS NOT NULL;
    CREATE INDEX model_versions_model ON model_versions (model_id) WHERE model_id IS NOT NULL;

    CREATE TABLE model_version_tags (
        registered_model INTEGER NOT NULL,
        version          INTEGER NOT NULL,
        key              TEXT NOT NULL,
        value            TEXT NOT NULL,
        PRIMARY KEY (registered_model, version, key),
        FOREIGN KEY (registered_model, version)
            REFERENCES model_versions (registered_model, version) ON DELETE CASCADE
    ) WITHOUT ROWID;

    CREATE TABLE registered_model_aliases (
        registered_model INTEGER NOT NULL,
        alias            TEXT NOT NULL,
        version          INTEGER NOT NULL,
        PRIMARY KEY (registered_model, alias),
        FOREIGN KEY (registered_model, version)
            REFERENCES model_versions (registered_model, version) ON DELETE CASCADE
    ) WITHOUT ROWID;
"#;

pub(crate) const DEFAULT_MODELS_PAGE: usize = 100;
pub(crate) const DEFAULT_VERSIONS_PAGE: usize = 10_000;

const MODEL_COLUMNS: &str =
    "r.id, r.name, r.creation_timestamp, r.last_updated_timestamp, r.description";
const VERSION_COLUMNS: &str = "v.registered_model, r.name, v.version, v.creation_timestamp, \
    v.last_updated_timestamp, v.user_id, v.current_stage, v.description, v.source, \
    v.storage_location, v.run_id, v.run_link, v.model_id";

struct RawModel {
    id: i64,
    model: RegisteredModel,
}

fn model_row(row: &Row<'_>) -> rusqlite::Result<RawModel> {
    Ok(RawModel {
        id: row.get(0)?,
        model: RegisteredModel {
            name: row.get(1)?,
            creation_timestamp: row.get(2)?,
            last_updated_timestamp: row.get(3)?,
            description: row.get(4)?,
            ..RegisteredModel::default()
        },
    })
}

struct RawVersion {
    registered_model: i64,
    stage: String,
    version: ModelVersion,
}

fn version_row(row: &Row<'_>) -> rusqlite::Result<RawVersion> {
    Ok(RawVersion {
        registered_model: row.get(0)?,
        stage: row.get(6)?,
        version: ModelVersion {
            name: row.get(1)?,
            version: row.get(2)?,
            creation_timestamp: row.get(3)?,
            last_updated_timestamp: row.get(4)?,
            user_id: row.get(5)?,
            description: row.get(7)?,
            source: row.get(8)?,
            storage_location: row.get(9)?,
            run_id: row.get(10)?,
            run_link: row.get(11)?,
            model_id: row.get(12)?,
            ..ModelVersion::default()
        },
    })
}

fn model_id(conn: &Connection, name: &str) -> Result<i64> {
    conn.prepare_cached("SELECT id FROM registered_models WHERE name = ?1")?
        .query_row(params![name], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::registered_model_not_found(name))
}

/// The model's id, after checking that the version exists.
fn version_key(conn: &Connection, name: &str, version: i64) -> Result<i64> {
    let id = model_id(conn, name)?;
    let exists = conn
        .prepare_cached(
            "SELECT 1 FROM model_versions WHERE registered_model = ?1 AND version = ?2",
        )?
        .exists(params![id, version])?;
    if exists {
        Ok(id)
    } else {
        Err(StoreError::model_version_not_found(name, version))
    }
}

fn touch_model(conn: &Connection, id: i64, now: i64) -> Result<()> {
    conn.prepare_cached("UPDATE registered_models SET last_updated_timestamp = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(())
}

fn touch_version(conn: &Connection, id: i64, version: i64, now: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE model_versions SET last_updated_timestamp = ?3 WHERE registered_model = ?1 AND version = ?2",
    )?
    .execute(params![id, version, now])?;
    Ok(())
}

fn upsert_model_tag(conn: &Connection, id: i64, tag: &Tag) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO registered_model_tags (registered_model, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (registered_model, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![id, tag.key, tag.value])?;
    Ok(())
}

fn upsert_version_tag(conn: &Connection, id: i64, version: i64, tag: &Tag) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO model_version_tags (registered_model, version, key, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (registered_model, version, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![id, version, tag.key, tag.value])?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Registered models
// ---------------------------------------------------------------------------------------------

pub fn create_model(
    conn: &Connection,
    name: &str,
    description: Option<&str>,
    tags: &[Tag],
    now: i64,
) -> Result<RegisteredModel> {
    let taken = conn
        .prepare_cached("SELECT 1 FROM registered_models WHERE name = ?1")?
        .exists(params![name])?;
    if taken {
        return Err(StoreError::registered_model_exists(name));
    }
    conn.prepare_cached(
        "INSERT INTO registered_models (name, creation_timestamp, last_updated_timestamp, description)
         VALUES (?1, ?2, ?2, ?3)",
    )?
    .execute(params![name, now, description])?;
    let id = conn.last_insert_rowid();
    for tag in tags {
        upsert_model_tag(conn, id, tag)?;
    }
    get_model(conn, name)
}

pub fn get_model(conn: &Connection, name: &str) -> Result<RegisteredModel> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {MODEL_COLUMNS} FROM registered_models r WHERE r.name = ?1"
        ))?
        .query_row(params![name], model_row)
        .optional()?
        .ok_or_else(|| StoreError::registered_model_not_found(name))?;
    load_models(conn, vec![raw])?
        .pop()
        .ok_or_else(|| StoreError::registered_model_not_found(name))
}

pub fn rename_model(
    conn: &Connection,
    name: &str,
    new_name: &str,
    now: i64,
) -> Result<RegisteredModel> {
    let id = model_id(conn, name)?;
    if new_name != name {
        let taken = conn
            .prepare_cached("SELECT 1 FROM registered_models WHERE name = ?1")?
            .exists(params![new_name])?;
        if taken {
            return Err(StoreError::registered_model_exists(new_name));
        }
    }
    conn.prepare_cached(
        "UPDATE registered_models SET name = ?2, last_updated_timestamp = ?3 WHERE id = ?1",
    )?
    .execute(params![id, new_name, now])?;
    get_model(conn, new_name)
}

pub fn update_model(
    conn: &Connection,
    name: &str,
    description: Option<&str>,
    now: i64,
) -> Result<RegisteredModel> {
    let id = model_id(conn, name)?;
    conn.prepare_cached(
        "UPDATE registered_models SET description = ?2, last_updated_timestamp = ?3 WHERE id = ?1",
    )?
    .execute(params![id, description, now])?;
    get_model(conn, name)
}

pub fn delete_model(conn: &Connection, name: &str) -> Result<()> {
    let id = model_id(conn, name)?;
    // Children first: the alias and tag rows reference versions.
    for statement in [
        "DELETE FROM registered_model_access WHERE registered_model = ?1",
        "DELETE FROM registered_model_aliases WHERE registered_model = ?1",
        "DELETE FROM model_version_tags WHERE registered_model = ?1",
        "DELETE FROM model_versions WHERE registered_model = ?1",
        "DELETE FROM registered_model_tags WHERE registered_model = ?1",
        "DELETE FROM registered_models WHERE id = ?1",
    ] {
        conn.prepare_cached(statement)?.execute(params![id])?;
    }
    Ok(())
}

pub fn set_model_tag(conn: &Connection, name: &str, tag: &Tag, now: i64) -> Result<()> {
    let id = model_id(conn, name)?;
    upsert_model_tag(conn, id, tag)?;
    touch_model(conn, id, now)
}

pub fn delete_model_tag(conn: &Connection, name: &str, key: &str, now: i64) -> Result<()> {
    let id = model_id(conn, name)?;
    let deleted = conn
        .prepare_cached(
            "DELETE FROM registered_model_tags WHERE registered_model = ?1 AND key = ?2",
        )?
        .execute(params![id, key])?;
    if deleted > 0 {
        touch_model(conn, id, now)?;
    }
    Ok(())
}

pub fn search_models(
    conn: &Connection,
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
    let mut rows: Vec<RawModel> = conn
        .prepare(&query)?
        .query_map(rusqlite::params_from_iter(binds.values), model_row)?
        .collect::<rusqlite::Result<_>>()?;
    let next_page_token = token::offset_page(&mut rows, limit, offset, query_print);
    Ok(Page {
        items: load_models(conn, rows)?,
        next_page_token,
    })
}

/// Fills tags, aliases and latest versions of a page of models, set-wise.
fn load_models(conn: &Connection, raws: Vec<RawModel>) -> Result<Vec<RegisteredModel>> {
    let ids: Vec<i64> = raws.iter().map(|raw| raw.id).collect();
    let position: HashMap<i64, usize> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| (*id, index))
        .collect();
    let mut models: Vec<RegisteredModel> = raws.into_iter().map(|raw| raw.model).collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let list = sql::placeholders(chunk.len());
        let mut statement = conn.prepare_cached(&format!(
            "SELECT registered_model, key, value FROM registered_model_tags
             WHERE registered_model IN {list} ORDER BY registered_model, key"
        ))?;
        let mut rows = statement.query(rusqlite::params_from_iter(chunk))?;
        while let Some(row) = rows.next()? {
            if let Some(slot) = position.get(&row.get::<_, i64>(0)?) {
                models[*slot].tags.push(Tag {
                    key: row.get(1)?,
                    value: row.get(2)?,
                });
            }
        }
        let mut statement = conn.prepare_cached(&format!(
            "SELECT registered_model, alias, version FROM registered_model_aliases
             WHERE registered_model IN {list} ORDER BY registered_model, alias"
        ))?;
        let mut rows = statement.query(rusqlite::params_from_iter(chunk))?;
        while let Some(row) = rows.next()? {
            if let Some(slot) = position.get(&row.get::<_, i64>(0)?) {
                models[*slot].aliases.push(ModelAlias {
                    alias: row.get(1)?,
                    version: row.get(2)?,
                });
            }
        }
        // The highest version of each stage: the row with no higher version in its stage.
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions v
             JOIN registered_models r ON r.id = v.registered_model
             WHERE v.registered_model IN {list} AND NOT EXISTS (
                 SELECT 1 FROM model_versions w WHERE w.registered_model = v.registered_model
                 AND w.current_stage = v.current_stage AND w.version > v.version)
             ORDER BY v.registered_model, v.version"
        ))?;
        let raws: Vec<RawVersion> = statement
            .query_map(rusqlite::params_from_iter(chunk), version_row)?
            .collect::<rusqlite::Result<_>>()?;
        for version in load_versions(conn, raws)? {
            let id = version.0;
            if let Some(slot) = position.get(&id) {
                models[*slot].latest_versions.push(version.1);
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

pub(crate) fn stage_rank(stage: Stage) -> usize {
    Stage::ALL
        .iter()
        .position(|candidate| *candidate == stage)
        .unwrap_or(Stage::ALL.len())
}

pub fn latest_versions(
    conn: &Connection,
    name: &str,
    stages: &[Stage],
) -> Result<Vec<ModelVersion>> {
    let model = get_model(conn, name)?;
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
fn load_versions(conn: &Connection, raws: Vec<RawVersion>) -> Result<Vec<(i64, ModelVersion)>> {
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
        let list = sql::placeholders(chunk.len());
        let mut statement = conn.prepare_cached(&format!(
            "SELECT registered_model, version, key, value FROM model_version_tags
             WHERE registered_model IN {list} ORDER BY registered_model, version, key"
        ))?;
        let mut rows = statement.query(rusqlite::params_from_iter(chunk))?;
        while let Some(row) = rows.next()? {
            if let Some(slot) = position.get(&(row.get(0)?, row.get(1)?)) {
                versions[*slot].1.tags.push(Tag {
                    key: row.get(2)?,
                    value: row.get(3)?,
                });
            }
        }
        let mut statement = conn.prepare_cached(&format!(
            "SELECT registered_model, version, alias FROM registered_model_aliases
             WHERE registered_model IN {list} ORDER BY registered_model, alias"
        ))?;
        let mut rows = statement.query(rusqlite::params_from_iter(chunk))?;
        while let Some(row) = rows.next()? {
            if let Some(slot) = position.get(&(row.get(0)?, row.get(1)?)) {
                versions[*slot].1.aliases.push(row.get(2)?);
            }
        }
    }
    Ok(versions)
}

pub fn get_version(conn: &Connection, name: &str, version: i64) -> Result<ModelVersion> {
    let id = model_id(conn, name)?;
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions v
             JOIN registered_models r ON r.id = v.registered_model
             WHERE v.registered_model = ?1 AND v.version = ?2"
        ))?
        .query_row(params![id, version], version_row)
        .optional()?
        .ok_or_else(|| StoreError::model_version_not_found(name, version))?;
    load_versions(conn, vec![raw])?
        .pop()
        .map(|(_, version)| version)
        .ok_or_else(|| StoreError::model_version_not_found(name, version))
}

pub fn create_version(conn: &Connection, new: &NewModelVersion) -> Result<ModelVersion> {
    let id = model_id(conn, &new.name)?;
    let version: i64 = conn
        .prepare_cached("SELECT next_version FROM registered_models WHERE id = ?1")?
        .query_row(params![id], |row| row.get(0))?;
    conn.prepare_cached(
        "UPDATE registered_models SET next_version = ?2, last_updated_timestamp = ?3 WHERE id = ?1",
    )?
    .execute(params![id, version + 1, new.now])?;
    conn.prepare_cached(
        "INSERT INTO model_versions (registered_model, version, creation_timestamp,
             last_updated_timestamp, user_id, current_stage, description, source, storage_location,
             run_id, run_link, model_id)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        id,
        version,
        new.now,
        new.user_id,
        Stage::None.as_str(),
        new.description,
        new.source,
        new.storage_location,
        new.run_id,
        new.run_link,
        new.model_id
    ])?;
    for tag in &new.tags {
        upsert_version_tag(conn, id, version, tag)?;
    }
    get_version(conn, &new.name, version)
}

pub fn update_version(
    conn: &Connection,
    name: &str,
    version: i64,
    description: Option<&str>,
    now: i64,
) -> Result<ModelVersion> {
    let id = version_key(conn, name, version)?;
    conn.prepare_cached(
        "UPDATE model_versions SET description = ?3, last_updated_timestamp = ?4
         WHERE registered_model = ?1 AND version = ?2",
    )?
    .execute(params![id, version, description, now])?;
    get_version(conn, name, version)
}

pub fn transition_stage(
    conn: &Connection,
    name: &str,
    version: i64,
    stage: Stage,
    archive_existing: bool,
    now: i64,
) -> Result<ModelVersion> {
    let id = version_key(conn, name, version)?;
    if archive_existing {
        conn.prepare_cached(
            "UPDATE model_versions SET current_stage = ?4, last_updated_timestamp = ?5
             WHERE registered_model = ?1 AND version != ?2 AND current_stage = ?3",
        )?
        .execute(params![
            id,
            version,
            stage.as_str(),
            Stage::Archived.as_str(),
            now
        ])?;
    }
    conn.prepare_cached(
        "UPDATE model_versions SET current_stage = ?3, last_updated_timestamp = ?4
         WHERE registered_model = ?1 AND version = ?2",
    )?
    .execute(params![id, version, stage.as_str(), now])?;
    touch_model(conn, id, now)?;
    get_version(conn, name, version)
}

pub fn delete_version(conn: &Connection, name: &str, version: i64, now: i64) -> Result<()> {
    let id = version_key(conn, name, version)?;
    for statement in [
        "DELETE FROM registered_model_aliases WHERE registered_model = ?1 AND version = ?2",
        "DELETE FROM model_version_tags WHERE registered_model = ?1 AND version = ?2",
        "DELETE FROM model_versions WHERE registered_model = ?1 AND version = ?2",
    ] {
        conn.prepare_cached(statement)?
            .execute(params![id, version])?;
    }
    touch_model(conn, id, now)
}

pub fn set_version_tag(
    conn: &Connection,
    name: &str,
    version: i64,
    tag: &Tag,
    now: i64,
) -> Result<()> {
    let id = version_key(conn, name, version)?;
    upsert_version_tag(conn, id, version, tag)?;
    touch_version(conn, id, version, now)
}

pub fn delete_version_tag(
    conn: &Connection,
    name: &str,
    version: i64,
    key: &str,
    now: i64,
) -> Result<()> {
    let id = version_key(conn, name, version)?;
    let deleted = conn
        .prepare_cached(
            "DELETE FROM model_version_tags WHERE registered_model = ?1 AND version = ?2 AND key = ?3",
        )?
        .execute(params![id, version, key])?;
    if deleted > 0 {
        touch_version(conn, id, version, now)?;
    }
    Ok(())
}

pub fn set_alias(conn: &Connection, name: &str, alias: &str, version: i64, now: i64) -> Result<()> {
    let id = version_key(conn, name, version)?;
    conn.prepare_cached(
        "INSERT INTO registered_model_aliases (registered_model, alias, version) VALUES (?1, ?2, ?3)
         ON CONFLICT (registered_model, alias) DO UPDATE SET version = excluded.version",
    )?
    .execute(params![id, alias, version])?;
    touch_model(conn, id, now)
}

pub fn delete_alias(conn: &Connection, name: &str, alias: &str, now: i64) -> Result<()> {
    let id = model_id(conn, name)?;
    let deleted = conn
        .prepare_cached(
            "DELETE FROM registered_model_aliases WHERE registered_model = ?1 AND alias = ?2",
        )?
        .execute(params![id, alias])?;
    if deleted > 0 {
        touch_model(conn, id, now)?;
    }
    Ok(())
}

pub fn version_by_alias(conn: &Connection, name: &str, alias: &str) -> Result<ModelVersion> {
    let id = model_id(conn, name)?;
    let version: i64 = conn
        .prepare_cached(
            "SELECT version FROM registered_model_aliases WHERE registered_model = ?1 AND alias = ?2",
        )?
        .query_row(params![id, alias], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::alias_not_found(alias))?;
    get_version(conn, name, version)
}

pub fn search_versions(
    conn: &Connection,
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
    let mut rows: Vec<RawVersion> = conn
        .prepare(&query)?
        .query_map(rusqlite::params_from_iter(binds.values), version_row)?
        .collect::<rusqlite::Result<_>>()?;
    let next_page_token = token::offset_page(&mut rows, limit, offset, query_print);
    Ok(Page {
        items: load_versions(conn, rows)?
            .into_iter()
            .map(|(_, version)| version)
            .collect(),
        next_page_token,
    })
}

#[async_trait]
impl RegistryStore for SqliteStore {
    async fn create_registered_model(
        &self,
        name: &str,
        description: Option<String>,
        tags: Vec<Tag>,
        now: i64,
    ) -> Result<RegisteredModel> {
        let name = name.to_string();
        self.write(move |conn| create_model(conn, &name, description.as_deref(), &tags, now))
            .await
    }

    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let name = name.to_string();
        self.read(move |conn| get_model(conn, &name)).await
    }

    async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        now: i64,
    ) -> Result<RegisteredModel> {
        let (name, new_name) = (name.to_string(), new_name.to_string());
        self.write(move |conn| rename_model(conn, &name, &new_name, now))
            .await
    }

    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<String>,
        now: i64,
    ) -> Result<RegisteredModel> {
        let name = name.to_string();
        self.write(move |conn| update_model(conn, &name, description.as_deref(), now))
            .await
    }

    async fn delete_registered_model(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.write(move |conn| delete_model(conn, &name)).await
    }

    async fn search_registered_models(
        &self,
        search: RegisteredModelSearch,
    ) -> Result<Page<RegisteredModel>> {
        self.read(move |conn| search_models(conn, &search)).await
    }

    async fn latest_versions(&self, name: &str, stages: Vec<Stage>) -> Result<Vec<ModelVersion>> {
        let name = name.to_string();
        self.read(move |conn| latest_versions(conn, &name, &stages))
            .await
    }

    async fn set_registered_model_tag(&self, name: &str, tag: Tag, now: i64) -> Result<()> {
        let name = name.to_string();
        self.write(move |conn| set_model_tag(conn, &name, &tag, now))
            .await
    }

    async fn delete_registered_model_tag(&self, name: &str, key: &str, now: i64) -> Result<()> {
        let (name, key) = (name.to_string(), key.to_string());
        self.write(move |conn| delete_model_tag(conn, &name, &key, now))
            .await
    }

    async fn create_model_version(&self, version: NewModelVersion) -> Result<ModelVersion> {
        self.write(move |conn| create_version(conn, &version)).await
    }

    async fn get_model_version(&self, name: &str, version: i64) -> Result<ModelVersion> {
        let name = name.to_string();
        self.read(move |conn| get_version(conn, &name, version))
            .await
    }

    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: Option<String>,
        now: i64,
    ) -> Result<ModelVersion> {
        let name = name.to_string();
        self.write(move |conn| update_version(conn, &name, version, description.as_deref(), now))
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
        self.write(move |conn| transition_stage(conn, &name, version, stage, archive_existing, now))
            .await
    }

    async fn delete_model_version(&self, name: &str, version: i64, now: i64) -> Result<()> {
        let name = name.to_string();
        self.write(move |conn| delete_version(conn, &name, version, now))
            .await
    }

    async fn search_model_versions(
        &self,
        search: ModelVersionSearch,
    ) -> Result<Page<ModelVersion>> {
        self.read(move |conn| search_versions(conn, &search)).await
    }

    async fn set_model_version_tag(
        &self,
        name: &str,
        version: i64,
        tag: Tag,
        now: i64,
    ) -> Result<()> {
        let name = name.to_string();
        self.write(move |conn| set_version_tag(conn, &name, version, &tag, now))
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
        self.write(move |conn| delete_version_tag(conn, &name, version, &key, now))
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
        self.write(move |conn| set_alias(conn, &name, &alias, version, now))
            .await
    }

    async fn delete_registered_model_alias(&self, name: &str, alias: &str, now: i64) -> Result<()> {
        let (name, alias) = (name.to_string(), alias.to_string());
        self.write(move |conn| delete_alias(conn, &name, &alias, now))
            .await
    }

    async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        let (name, alias) = (name.to_string(), alias.to_string());
        self.read(move |conn| version_by_alias(conn, &name, &alias))
            .await
    }
}
