//! Experiments: create, read, search, rename, delete/restore (cascading to runs), tags, keys.
//! The search's WHERE and ORDER BY come from `crate::sqlbuild::experiments`, as for SQLite.
//!
//! The port of `sqlite::experiments`. What differs, and why:
//! - the embedded store had one writer; here a new id (`max + 1`, as there) is taken under a
//!   transaction-level advisory lock, so concurrent creations queue instead of colliding;
//! - writes lock the experiment's row before they check its stage ([`require_active`] `FOR
//!   SHARE`, so runs and models created meanwhile keep a delete waiting; rename and
//!   delete/restore `FOR NO KEY UPDATE`), and a name taken by a concurrent transaction surfaces
//!   as a unique violation, which re-runs the transaction so its check answers `AlreadyExists`.

use std::collections::HashMap;

use cairn_core::model::{Experiment, LifecycleStage, NewExperiment, Page, Tag};
use postgres::{Row, Transaction};

use super::sql::{self, Binds, IN_CHUNK};
use crate::sqlbuild::{self, SearchSql};
use crate::sqlite::token;
use crate::{ArtifactLocation, ExperimentKeys, ExperimentSearch, Result, StoreError};

const DEFAULT_PAGE: usize = 1000;
const COLUMNS: &str = "e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time";

/// The advisory lock held while a new experiment id is taken (`cairnex` in ASCII).
const NEW_ID_LOCK: i64 = 0x0063_6169_726e_6578;

/// How a write locks the experiment's row while it checks the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    /// Children (runs, models, tags) are written: a concurrent delete waits for this one.
    Share,
    /// The row itself changes.
    Update,
}

impl Lock {
    fn clause(self) -> &'static str {
        match self {
            Lock::Share => "FOR SHARE",
            Lock::Update => "FOR NO KEY UPDATE",
        }
    }
}

/// Makes sure the `Default` experiment (id 0) exists.
pub fn ensure_default(tx: &mut Transaction<'_>) -> Result<()> {
    let now = sql::now_ms();
    tx.execute(
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
         VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', $1, $1)
         ON CONFLICT DO NOTHING",
        &[&now],
    )?;
    Ok(())
}

/// Parses an experiment id; anything that is not a stored id's form is simply not found.
pub fn parse_id(experiment_id: &str) -> Result<i64> {
    cairn_core::ids::parse_experiment_id(experiment_id)
        .map_err(|_| StoreError::experiment_not_found(experiment_id))
}

fn already_exists(name: &str) -> StoreError {
    StoreError::AlreadyExists(format!(
        "Experiment(name={name}) already exists. Error: UNIQUE constraint failed: experiments.name"
    ))
}

fn name_taken(tx: &mut Transaction<'_>, name: &str) -> Result<bool> {
    Ok(tx
        .query_opt("SELECT 1 FROM experiments WHERE name = $1", &[&name])?
        .is_some())
}

fn upsert_tag(tx: &mut Transaction<'_>, id: i64, tag: &Tag) -> Result<()> {
    tx.execute(
        "INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (experiment_id, key) DO UPDATE SET value = EXCLUDED.value",
        &[&id, &tag.key, &tag.value],
    )?;
    Ok(())
}

pub fn create(
    tx: &mut Transaction<'_>,
    experiment: &NewExperiment,
    location: &ArtifactLocation,
) -> Result<String> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&NEW_ID_LOCK])?;
    if name_taken(tx, &experiment.name)? {
        return Err(already_exists(&experiment.name));
    }
    let id: i64 = tx
        .query_one(
            "SELECT coalesce(max(experiment_id), -1) + 1 FROM experiments",
            &[],
        )?
        .get(0);
    let artifact_location = match location {
        ArtifactLocation::Explicit(location) => location.clone(),
        ArtifactLocation::UnderRoot(root) => format!("{}/{id}", root.trim_end_matches('/')),
    };
    tx.execute(
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
         VALUES ($1, $2, $3, 'active', $4, $4)",
        &[
            &id,
            &experiment.name,
            &artifact_location,
            &experiment.creation_time,
        ],
    )?;
    for tag in &experiment.tags {
        upsert_tag(tx, id, tag)?;
    }
    if let Some(access) = &experiment.access {
        super::access::set_access(tx, id, access.team_id, access.visibility, access.creator_id)?;
    }
    Ok(id.to_string())
}

type ExperimentRow = (i64, String, String, String, i64, i64);

fn from_row(row: &Row) -> ExperimentRow {
    (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
    )
}

fn build(row: ExperimentRow, tags: Vec<Tag>) -> Result<Experiment> {
    let (id, name, artifact_location, stage, creation_time, last_update_time) = row;
    Ok(Experiment {
        experiment_id: id.to_string(),
        name,
        artifact_location,
        lifecycle_stage: sql::parse_stage(&stage)?,
        creation_time,
        last_update_time,
        tags,
    })
}

fn load_tags(tx: &mut Transaction<'_>, ids: &[i64]) -> Result<HashMap<i64, Vec<Tag>>> {
    let mut tags: HashMap<i64, Vec<Tag>> = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let rows = tx.query(
            "SELECT experiment_id, key, value FROM experiment_tags
             WHERE experiment_id = ANY($1) ORDER BY experiment_id, key",
            &[&chunk],
        )?;
        for row in rows {
            tags.entry(row.get(0)).or_default().push(Tag {
                key: row.get(1),
                value: row.get(2),
            });
        }
    }
    Ok(tags)
}

fn get_by_id(tx: &mut Transaction<'_>, id: i64) -> Result<Option<Experiment>> {
    let row = tx.query_opt(
        &format!("SELECT {COLUMNS} FROM experiments e WHERE e.experiment_id = $1"),
        &[&id],
    )?;
    match row {
        None => Ok(None),
        Some(row) => {
            let tags = load_tags(tx, &[id])?.remove(&id).unwrap_or_default();
            build(from_row(&row), tags).map(Some)
        }
    }
}

pub fn get(tx: &mut Transaction<'_>, experiment_id: &str) -> Result<Experiment> {
    let id = parse_id(experiment_id)?;
    get_by_id(tx, id)?.ok_or_else(|| StoreError::experiment_not_found(experiment_id))
}

pub fn get_by_name(tx: &mut Transaction<'_>, name: &str) -> Result<Option<Experiment>> {
    let id: Option<i64> = tx
        .query_opt(
            "SELECT experiment_id FROM experiments WHERE name = $1",
            &[&name],
        )?
        .map(|row| row.get(0));
    match id {
        None => Ok(None),
        Some(id) => get_by_id(tx, id),
    }
}

/// The experiment's stage, or NotFound; with `lock`, the row stays locked until commit.
fn stage_locked(
    tx: &mut Transaction<'_>,
    experiment_id: &str,
    lock: Option<Lock>,
) -> Result<(i64, LifecycleStage)> {
    let id = parse_id(experiment_id)?;
    let query = format!(
        "SELECT lifecycle_stage FROM experiments WHERE experiment_id = $1 {}",
        lock.map_or("", Lock::clause)
    );
    match tx.query_opt(&query, &[&id])? {
        None => Err(StoreError::experiment_not_found(experiment_id)),
        Some(row) => Ok((id, sql::parse_stage(row.get(0))?)),
    }
}

/// The experiment's stage, or NotFound.
pub fn stage_of(tx: &mut Transaction<'_>, experiment_id: &str) -> Result<(i64, LifecycleStage)> {
    stage_locked(tx, experiment_id, None)
}

fn active_locked(tx: &mut Transaction<'_>, experiment_id: &str, lock: Lock) -> Result<i64> {
    match stage_locked(tx, experiment_id, Some(lock))? {
        (id, LifecycleStage::Active) => Ok(id),
        (_, LifecycleStage::Deleted) => Err(StoreError::InvalidArgument(format!(
            "The experiment {experiment_id} must be in the 'active' state. Current state is deleted."
        ))),
    }
}

/// The experiment's numeric id if it exists and is active. Write transactions only: the row is
/// locked `FOR SHARE` until commit, so a concurrent delete waits for what this one adds.
pub fn require_active(tx: &mut Transaction<'_>, experiment_id: &str) -> Result<i64> {
    active_locked(tx, experiment_id, Lock::Share)
}

pub fn rename(
    tx: &mut Transaction<'_>,
    experiment_id: &str,
    new_name: &str,
    now: i64,
) -> Result<()> {
    let id = active_locked(tx, experiment_id, Lock::Update)?;
    let current: String = tx
        .query_one(
            "SELECT name FROM experiments WHERE experiment_id = $1",
            &[&id],
        )?
        .get(0);
    if current == new_name {
        tx.execute(
            "UPDATE experiments SET last_update_time = $2 WHERE experiment_id = $1",
            &[&id, &now],
        )?;
        return Ok(());
    }
    if name_taken(tx, new_name)? {
        return Err(already_exists(new_name));
    }
    tx.execute(
        "UPDATE experiments SET name = $2, last_update_time = $3 WHERE experiment_id = $1",
        &[&id, &new_name, &now],
    )?;
    Ok(())
}

/// Deleting marks the experiment and its active runs deleted (run `deleted_time = now`);
/// restoring brings back exactly the runs that this deletion took with it (those whose
/// `deleted_time` equals the experiment's deletion time), not runs deleted on their own before.
/// The experiment's row is locked first: runs created meanwhile are either in before the
/// cascade (it waits for them) or see the experiment deleted.
pub fn set_lifecycle(
    tx: &mut Transaction<'_>,
    experiment_id: &str,
    stage: LifecycleStage,
    now: i64,
) -> Result<()> {
    let (id, current) = stage_locked(tx, experiment_id, Some(Lock::Update))?;
    match (current, stage) {
        (LifecycleStage::Active, LifecycleStage::Deleted) => {
            tx.execute(
                "UPDATE experiments SET lifecycle_stage = 'deleted', last_update_time = $2 WHERE experiment_id = $1",
                &[&id, &now],
            )?;
            tx.execute(
                "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = $2
                 WHERE experiment_id = $1 AND lifecycle_stage = 'active'",
                &[&id, &now],
            )?;
        }
        (LifecycleStage::Deleted, LifecycleStage::Active) => {
            let deleted_at: i64 = tx
                .query_one(
                    "SELECT last_update_time FROM experiments WHERE experiment_id = $1",
                    &[&id],
                )?
                .get(0);
            tx.execute(
                "UPDATE experiments SET lifecycle_stage = 'active', last_update_time = $2 WHERE experiment_id = $1",
                &[&id, &now],
            )?;
            tx.execute(
                "UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL
                 WHERE experiment_id = $1 AND lifecycle_stage = 'deleted' AND deleted_time = $2",
                &[&id, &deleted_at],
            )?;
        }
        // Deleting a deleted experiment or restoring an active one changes nothing (retry-safe).
        (LifecycleStage::Deleted, LifecycleStage::Deleted)
        | (LifecycleStage::Active, LifecycleStage::Active) => {}
    }
    Ok(())
}

pub fn set_tag(tx: &mut Transaction<'_>, experiment_id: &str, tag: &Tag) -> Result<()> {
    let id = require_active(tx, experiment_id)?;
    upsert_tag(tx, id, tag)
}

pub fn delete_tag(tx: &mut Transaction<'_>, experiment_id: &str, key: &str) -> Result<()> {
    let id = require_active(tx, experiment_id)?;
    let deleted = tx.execute(
        "DELETE FROM experiment_tags WHERE experiment_id = $1 AND key = $2",
        &[&id, &key],
    )?;
    if deleted == 0 {
        return Err(StoreError::NotFound(format!(
            "No tag with name: {key} in experiment with id {experiment_id}"
        )));
    }
    Ok(())
}

pub fn search(tx: &mut Transaction<'_>, search: &ExperimentSearch) -> Result<Page<Experiment>> {
    let query_print = token::fingerprint(&format!(
        "experiments|{:?}|{:?}|{:?}|{:?}",
        search.filter,
        search.order_by,
        search.view,
        search.readable_by.as_ref().map(|viewer| viewer.user_id)
    ));
    let offset = token::decode_offset(search.page_token.as_deref(), query_print)?;
    let limit = if search.max_results == 0 {
        DEFAULT_PAGE
    } else {
        search.max_results
    };

    let mut binds = Binds::default();
    let SearchSql { where_sql, order } = sqlbuild::experiments::search_sql(search, &mut binds);
    let query = format!(
        "SELECT {COLUMNS} FROM experiments e {where_sql} ORDER BY {order} LIMIT {} OFFSET {}",
        limit + 1,
        offset
    );
    let mut rows: Vec<ExperimentRow> = tx
        .query(&query, &binds.params())?
        .iter()
        .map(from_row)
        .collect();
    let next_page_token = token::offset_page(&mut rows, limit, offset, query_print);
    let ids: Vec<i64> = rows.iter().map(|row| row.0).collect();
    let mut tags = load_tags(tx, &ids)?;
    let items = rows
        .into_iter()
        .map(|row| {
            let id = row.0;
            build(row, tags.remove(&id).unwrap_or_default())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        next_page_token,
    })
}

/// The distinct keys of one table (`params`, `tags`, `latest_metrics`) over an experiment's runs.
///
/// A skip-scan over the table's `(key, …)` index, as in the embedded store: each distinct key in
/// the database costs one index seek, and one probe that stops at the first of its rows that
/// belongs to the experiment.
fn distinct_keys(
    tx: &mut Transaction<'_>,
    table: &str,
    experiment_id: i64,
    limit: usize,
) -> Result<Vec<String>> {
    let query = format!(
        "WITH RECURSIVE k(key) AS (
             SELECT min(key) FROM {table}
             UNION ALL
             SELECT (SELECT min(key) FROM {table} WHERE key > k.key) FROM k WHERE k.key IS NOT NULL
         )
         SELECT k.key FROM k
         WHERE k.key IS NOT NULL AND EXISTS (
             SELECT 1 FROM {table} t JOIN runs r ON r.id = t.run_id
             WHERE t.key = k.key AND r.experiment_id = $1
         )
         LIMIT $2"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(tx
        .query(&query, &[&experiment_id, &limit])?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// The keys used by an experiment's runs (a 404 for an unknown experiment).
pub fn keys(tx: &mut Transaction<'_>, experiment_id: &str, limit: usize) -> Result<ExperimentKeys> {
    let (id, _) = stage_of(tx, experiment_id)?;
    Ok(ExperimentKeys {
        params: distinct_keys(tx, "params", id, limit)?,
        tags: distinct_keys(tx, "tags", id, limit)?,
        metrics: distinct_keys(tx, "latest_metrics", id, limit)?,
    })
}

/// Active runs per experiment; ids that are not experiment ids are skipped.
pub fn active_run_counts(
    tx: &mut Transaction<'_>,
    experiment_ids: &[String],
) -> Result<Vec<(String, u64)>> {
    let ids: Vec<i64> = experiment_ids
        .iter()
        .filter_map(|id| cairn_core::ids::parse_experiment_id(id).ok())
        .collect();
    let mut counts = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let rows = tx.query(
            "SELECT experiment_id, count(*) FROM runs
             WHERE experiment_id = ANY($1) AND lifecycle_stage = 'active' GROUP BY experiment_id",
            &[&chunk],
        )?;
        for row in rows {
            let count: i64 = row.get(1);
            counts.push((row.get::<_, i64>(0).to_string(), count.max(0) as u64));
        }
    }
    Ok(counts)
}
