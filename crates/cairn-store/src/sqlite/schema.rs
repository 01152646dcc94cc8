//! The SQLite schema and its versioned migrations.
//!
//! The version lives in `PRAGMA user_version`. [`MIGRATIONS`] is an ordered list: entry `i` moves a
//! database from version `i` to `i + 1`. Opening an older file applies the missing steps in one
//! transaction; opening a file written by a newer Cairn fails instead of guessing.
//!
//! Layout notes:
//! - runs have an integer surrogate key (`runs.id`) that every child table uses; the public
//!   `run_uuid` is unique and indexed. This keeps the metric history and the indexes small.
//! - metric values: SQLite stores a bound NaN as NULL, so a point is `(is_nan, value)` with
//!   `value = 0` when `is_nan = 1`. `(is_nan, value)` sorts numbers (−∞ … +∞) before NaN, which is
//!   exactly [`cairn_core::model::value_order`]. ±∞ are stored as REAL and survive as they are.
//! - metric points live in series (`metric_series`): recent points as raw segments
//!   (`metric_raw`, one compressed blob per ingested batch and key), compacted in the background
//!   into sorted, non-overlapping compressed chunks (`metric_chunks`) with summary columns; the
//!   rare per-point links to logged models and datasets sit in `metric_point_links`. Version 1's
//!   row-per-point `metrics` table is converted by migration 3.
//! - `latest_metrics` holds one row per (run, key), maintained on write by an upsert whose WHERE
//!   keeps the greatest `(step, timestamp, is_nan, value)`, so arrival order does not matter.
//! - the artifact catalogue (migration 4, see `ARTIFACT_TABLES`): manifests keyed by full
//!   path, blob rows (`live` / `collecting`), leases, uploads in parts.

use rusqlite::Connection;

use crate::StoreError;

/// One schema step: SQL, or code for steps that must transform data (re-encode metric points).
pub enum Migration {
    Sql(&'static str),
    Code(fn(&Connection) -> Result<(), StoreError>),
}

/// Schema steps, oldest first. Never edit a released step; append a new one.
pub const MIGRATIONS: &[Migration] = &[
    // 1: the initial schema.
    Migration::Sql(
        r#"
    CREATE TABLE experiments (
        experiment_id     INTEGER PRIMARY KEY,
        name              TEXT NOT NULL UNIQUE,
        artifact_location TEXT NOT NULL,
        lifecycle_stage   TEXT NOT NULL,
        creation_time     INTEGER NOT NULL,
        last_update_time  INTEGER NOT NULL
    );
    CREATE INDEX experiments_creation ON experiments (creation_time DESC, experiment_id);

    CREATE TABLE experiment_tags (
        experiment_id INTEGER NOT NULL REFERENCES experiments (experiment_id),
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        PRIMARY KEY (experiment_id, key)
    ) WITHOUT ROWID;

    CREATE TABLE runs (
        id              INTEGER PRIMARY KEY,
        run_uuid        TEXT NOT NULL UNIQUE,
        experiment_id   INTEGER NOT NULL REFERENCES experiments (experiment_id),
        name            TEXT NOT NULL,
        user_id         TEXT NOT NULL,
        status          TEXT NOT NULL,
        start_time      INTEGER NOT NULL,
        end_time        INTEGER,
        artifact_uri    TEXT NOT NULL,
        lifecycle_stage TEXT NOT NULL,
        deleted_time    INTEGER
    );
    CREATE INDEX runs_experiment ON runs (experiment_id, lifecycle_stage, start_time DESC, run_uuid);

    CREATE TABLE params (
        run_id INTEGER NOT NULL REFERENCES runs (id),
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX params_key_value ON params (key, value, run_id);

    CREATE TABLE tags (
        run_id INTEGER NOT NULL REFERENCES runs (id),
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX tags_key_value ON tags (key, value, run_id);

    CREATE TABLE metrics (
        run_id         INTEGER NOT NULL REFERENCES runs (id),
        key            TEXT NOT NULL,
        step           INTEGER NOT NULL,
        timestamp      INTEGER NOT NULL,
        is_nan         INTEGER NOT NULL,
        value          REAL NOT NULL,
        model_id       TEXT,
        dataset_name   TEXT,
        dataset_digest TEXT,
        PRIMARY KEY (run_id, key, step, timestamp, is_nan, value)
    ) WITHOUT ROWID;

    CREATE TABLE latest_metrics (
        run_id    INTEGER NOT NULL REFERENCES runs (id),
        key       TEXT NOT NULL,
        step      INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        is_nan    INTEGER NOT NULL,
        value     REAL NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX latest_metrics_key_value ON latest_metrics (key, is_nan, value, run_id);

    CREATE TABLE datasets (
        id            INTEGER PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments (experiment_id),
        name          TEXT NOT NULL,
        digest        TEXT NOT NULL,
        source_type   TEXT NOT NULL,
        source        TEXT NOT NULL,
        schema        TEXT,
        profile       TEXT,
        UNIQUE (experiment_id, name, digest)
    );

    CREATE TABLE dataset_inputs (
        id         INTEGER PRIMARY KEY,
        run_id     INTEGER NOT NULL REFERENCES runs (id),
        dataset_id INTEGER NOT NULL REFERENCES datasets (id),
        UNIQUE (run_id, dataset_id)
    );

    CREATE TABLE input_tags (
        input_id INTEGER NOT NULL REFERENCES dataset_inputs (id),
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (input_id, key)
    ) WITHOUT ROWID;

    CREATE TABLE model_inputs (
        id       INTEGER PRIMARY KEY,
        run_id   INTEGER NOT NULL REFERENCES runs (id),
        model_id TEXT NOT NULL,
        UNIQUE (run_id, model_id)
    );

    CREATE TABLE model_outputs (
        id       INTEGER PRIMARY KEY,
        run_id   INTEGER NOT NULL REFERENCES runs (id),
        model_id TEXT NOT NULL,
        step     INTEGER NOT NULL,
        UNIQUE (run_id, model_id, step)
    );

    CREATE TABLE logged_models (
        model_id               TEXT PRIMARY KEY,
        experiment_id          INTEGER NOT NULL REFERENCES experiments (experiment_id),
        name                   TEXT NOT NULL,
        artifact_location      TEXT NOT NULL,
        creation_timestamp     INTEGER NOT NULL,
        last_updated_timestamp INTEGER NOT NULL,
        model_type             TEXT,
        source_run_id          TEXT,
        status                 TEXT NOT NULL,
        status_message         TEXT,
        lifecycle_stage        TEXT NOT NULL
    );
    CREATE INDEX logged_models_experiment
        ON logged_models (experiment_id, lifecycle_stage, creation_timestamp DESC, model_id);

    CREATE TABLE logged_model_tags (
        model_id TEXT NOT NULL REFERENCES logged_models (model_id),
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (model_id, key)
    ) WITHOUT ROWID;

    CREATE TABLE logged_model_params (
        model_id TEXT NOT NULL REFERENCES logged_models (model_id),
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (model_id, key)
    ) WITHOUT ROWID;

    CREATE TABLE logged_model_metrics (
        id             INTEGER PRIMARY KEY,
        model_id       TEXT NOT NULL,
        key            TEXT NOT NULL,
        step           INTEGER NOT NULL,
        timestamp      INTEGER NOT NULL,
        is_nan         INTEGER NOT NULL,
        value          REAL NOT NULL,
        run_uuid       TEXT NOT NULL,
        experiment_id  INTEGER NOT NULL,
        dataset_name   TEXT,
        dataset_digest TEXT
    );
    CREATE UNIQUE INDEX logged_model_metrics_point ON logged_model_metrics (
        model_id, key, step, timestamp, is_nan, value, run_uuid,
        ifnull(dataset_name, ''), ifnull(dataset_digest, '')
    );
    "#,
    ),
    // 2: the metric engine's series, raw segments and compressed chunks.
    Migration::Sql(SERIES_TABLES),
    // 3: points of the row-per-point `metrics` table move into raw segments; the table goes.
    Migration::Code(super::series::migrate_point_rows),
    // 4: the artifact catalogue: manifests, blob rows, leases, uploads in parts.
    Migration::Sql(ARTIFACT_TABLES),
    // 5: the model registry: registered models, versions, their tags, aliases.
    Migration::Sql(super::registry::TABLES),
    // 6: recorded lineage edges, and the reverse indexes derived lineage reads.
    Migration::Sql(super::lineage::TABLES),
    // 7: users, API tokens and browser sessions.
    Migration::Sql(super::auth::TABLES),
    // 8: alert rules, their firings and deliveries.
    Migration::Sql(super::alerts::TABLES),
    // 9: comments on runs and experiments.
    Migration::Sql(super::comments::TABLES),
    // 10: teams, memberships, experiments' owning teams, visibility and shares.
    Migration::Sql(super::access::TABLES),
    // 11: registered models' owning teams and visibility.
    Migration::Sql(super::access::MODEL_TABLES),
];

/// Metric series storage (see `series.rs`). Chunk summary columns mirror the chunk's blocks so a
/// view can use a whole chunk without reading its data; `*_bits` hold doubles as their IEEE-754
/// bit patterns, because SQLite's REAL loses the sign of zero and turns NaN into NULL.
const SERIES_TABLES: &str = r#"
    CREATE TABLE metric_series (
        id           INTEGER PRIMARY KEY,
        run_id       INTEGER NOT NULL REFERENCES runs (id),
        key          TEXT NOT NULL,
        raw_points   INTEGER NOT NULL DEFAULT 0,
        raw_segments INTEGER NOT NULL DEFAULT 0,
        raw_since    INTEGER,
        UNIQUE (run_id, key)
    );
    CREATE INDEX metric_series_pending ON metric_series (raw_since) WHERE raw_since IS NOT NULL;

    CREATE TABLE metric_raw (
        id        INTEGER PRIMARY KEY,
        series_id INTEGER NOT NULL REFERENCES metric_series (id),
        points    INTEGER NOT NULL,
        data      BLOB NOT NULL
    );
    CREATE INDEX metric_raw_series ON metric_raw (series_id, id);

    CREATE TABLE metric_chunks (
        id          INTEGER PRIMARY KEY,
        series_id   INTEGER NOT NULL REFERENCES metric_series (id),
        min_step    INTEGER NOT NULL,
        max_step    INTEGER NOT NULL,
        min_time    INTEGER NOT NULL,
        max_time    INTEGER NOT NULL,
        count       INTEGER NOT NULL,
        nans        INTEGER NOT NULL,
        min_bits    INTEGER NOT NULL,
        max_bits    INTEGER NOT NULL,
        sum_bits    INTEGER NOT NULL,
        first_step  INTEGER NOT NULL,
        first_time  INTEGER NOT NULL,
        first_bits  INTEGER NOT NULL,
        last_step   INTEGER NOT NULL,
        last_time   INTEGER NOT NULL,
        last_bits   INTEGER NOT NULL,
        thinned     INTEGER NOT NULL DEFAULT 0,
        data        BLOB NOT NULL
    );
    CREATE INDEX metric_chunks_series ON metric_chunks (series_id, max_step);

    CREATE TABLE metric_point_links (
        series_id      INTEGER NOT NULL REFERENCES metric_series (id),
        step           INTEGER NOT NULL,
        timestamp      INTEGER NOT NULL,
        is_nan         INTEGER NOT NULL,
        value          REAL NOT NULL,
        model_id       TEXT,
        dataset_name   TEXT,
        dataset_digest TEXT,
        PRIMARY KEY (series_id, step, timestamp, is_nan, value)
    ) WITHOUT ROWID;

    CREATE TABLE retention_policies (
        experiment_id INTEGER PRIMARY KEY REFERENCES experiments (experiment_id),
        after_days    INTEGER NOT NULL,
        resolution    INTEGER NOT NULL
    );

    CREATE TABLE ingest_keys (
        run_id   INTEGER NOT NULL REFERENCES runs (id),
        key      TEXT NOT NULL,
        accepted INTEGER NOT NULL,
        created  INTEGER NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX ingest_keys_created ON ingest_keys (created);
"#;

/// The artifact catalogue (see `artifacts.rs` and [`crate::artifacts`]). Paths are compared with
/// SQLite's binary collation, so "everything below directory `d`" is the primary-key range
/// `d || '/' < path < d || '0'` (`'0'` follows `'/'`); no `LIKE`, so `%` and `_` in paths are
/// plain characters. A blob row is `live` or `collecting` (`claimed` says since when); a lease
/// names one digest and expires at `expires` (ms), after which it protects nothing.
const ARTIFACT_TABLES: &str = r#"
    CREATE TABLE artifacts (
        path         TEXT PRIMARY KEY,
        digest       TEXT NOT NULL,
        size         INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        created      INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX artifacts_digest ON artifacts (digest, path);

    CREATE TABLE blobs (
        digest  TEXT PRIMARY KEY,
        size    INTEGER NOT NULL,
        created INTEGER NOT NULL,
        state   TEXT NOT NULL CHECK (state IN ('live', 'collecting')),
        claimed INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX blobs_state ON blobs (state, created);

    CREATE TABLE blob_leases (
        lease   TEXT PRIMARY KEY,
        digest  TEXT NOT NULL,
        expires INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX blob_leases_digest ON blob_leases (digest, expires);

    CREATE TABLE uploads (
        id              TEXT PRIMARY KEY,
        path            TEXT NOT NULL,
        run_id          TEXT,
        size            INTEGER,
        part_size       INTEGER,
        parts           INTEGER,
        expected_digest TEXT,
        content_type    TEXT NOT NULL,
        backend_state   TEXT NOT NULL,
        created         INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX uploads_created ON uploads (created, id);

    CREATE TABLE upload_parts (
        upload_id   TEXT NOT NULL REFERENCES uploads (id),
        number      INTEGER NOT NULL,
        byte_offset INTEGER NOT NULL,
        size        INTEGER NOT NULL,
        receipt     BLOB NOT NULL,
        PRIMARY KEY (upload_id, number)
    ) WITHOUT ROWID;

    CREATE INDEX runs_deleted ON runs (deleted_time) WHERE lifecycle_stage = 'deleted';
"#;

/// The schema version this build writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Reads the file's schema version.
pub fn version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Brings the database up to [`LATEST_VERSION`], or refuses a newer one.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current = version(conn)?;
    if current > LATEST_VERSION {
        return Err(StoreError::Internal(format!(
            "database schema version {current} is newer than this build of Cairn supports \
             ({LATEST_VERSION}); upgrade Cairn to open it"
        )));
    }
    if current == LATEST_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (index, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        match step {
            Migration::Sql(sql) => tx.execute_batch(sql)?,
            Migration::Code(apply) => apply(&tx)?,
        }
        tracing::info!(version = index + 1, "applied schema migration");
    }
    tx.pragma_update(None, "user_version", LATEST_VERSION)?;
    tx.commit()?;
    Ok(())
}
