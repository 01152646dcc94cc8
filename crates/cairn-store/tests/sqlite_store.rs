//! SQLite-specific behaviour the shared conformance suite cannot see: persistence across
//! reopening the file, schema versioning, and the store being shared between clones.

use cairn_core::model::{LifecycleStage, Metric, NewExperiment, NewRun, Param, Tag};
use cairn_store::sqlite::{SqliteStore, schema};
use cairn_store::{ArtifactLocation, ErrorKind, HistoryRequest, MetaStore, MetricStore};

fn new_experiment(name: &str) -> NewExperiment {
    NewExperiment {
        name: name.to_string(),
        artifact_location: None,
        tags: vec![],
        creation_time: 1,
        access: None,
    }
}

fn new_run(experiment_id: &str) -> NewRun {
    NewRun {
        run_id: cairn_core::ids::new_run_id(),
        experiment_id: experiment_id.to_string(),
        run_name: "r".to_string(),
        user_id: "u".to_string(),
        start_time: 1,
        artifact_uri: "a".to_string(),
        tags: vec![],
        created: None,
    }
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    let (experiment_id, run_id) = {
        let store = SqliteStore::open(&path).unwrap();
        let experiment_id = store
            .create_experiment(
                new_experiment("kept"),
                ArtifactLocation::UnderRoot("root".into()),
            )
            .await
            .unwrap();
        let run_id = store
            .create_run(new_run(&experiment_id))
            .await
            .unwrap()
            .info
            .run_id;
        let points = vec![
            Metric::new("m", f64::NAN, 5, 0),
            Metric::new("m", 2.0, 6, 1),
        ];
        store
            .log_batch(
                &run_id,
                points,
                vec![Param::new("p", "1")],
                vec![Tag::new("t", "v")],
            )
            .await
            .unwrap();
        (experiment_id, run_id)
    };
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.get_experiment(&experiment_id).await.unwrap().name,
        "kept"
    );
    let run = store.get_run(&run_id).await.unwrap();
    assert_eq!(run.params, vec![Param::new("p", "1")]);
    assert_eq!(run.metrics[0].value, 2.0);
    let history = store
        .history(HistoryRequest {
            run_id: run_id.clone(),
            key: "m".into(),
            max_results: 0,
            page_token: None,
        })
        .await
        .unwrap();
    assert!(history.items[0].value.is_nan());
    let next = store
        .create_experiment(
            new_experiment("next"),
            ArtifactLocation::UnderRoot("root".into()),
        )
        .await
        .unwrap();
    assert!(next.parse::<i64>().unwrap() > experiment_id.parse::<i64>().unwrap());
    assert_eq!(
        store.get_experiment("0").await.unwrap().name,
        "Default",
        "only one Default"
    );
}

#[test]
fn new_files_get_the_latest_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/cairn.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(schema::version(&conn).unwrap(), schema::LATEST_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn an_existing_version_zero_file_is_migrated_forward() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE unrelated (x INTEGER); INSERT INTO unrelated VALUES (1);")
            .unwrap();
        assert_eq!(schema::version(&conn).unwrap(), 0);
    }
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(schema::version(&conn).unwrap(), schema::LATEST_VERSION);
    let kept: i64 = conn
        .query_row("SELECT x FROM unrelated", [], |row| row.get(0))
        .unwrap();
    assert_eq!(kept, 1);
}

#[test]
fn a_file_from_a_newer_cairn_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    drop(SqliteStore::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", schema::LATEST_VERSION + 1)
            .unwrap();
    }
    let error = SqliteStore::open(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Internal);
    assert!(
        error.to_string().contains("newer than this build"),
        "{error}"
    );
}

#[tokio::test]
async fn clones_share_one_store_and_shutdown_drains_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    let store = SqliteStore::open(&path).unwrap();
    let experiment_id = store
        .create_experiment(new_experiment("e"), ArtifactLocation::UnderRoot("r".into()))
        .await
        .unwrap();
    let run_id = store
        .create_run(new_run(&experiment_id))
        .await
        .unwrap()
        .info
        .run_id;
    let mut tasks = Vec::new();
    for task in 0..20 {
        let clone = store.clone();
        let run_id = run_id.clone();
        tasks.push(tokio::spawn(async move {
            clone
                .log_batch(
                    &run_id,
                    vec![Metric::new("m", 1.0, task, task)],
                    vec![],
                    vec![],
                )
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    store
        .set_run_lifecycle(&run_id, LifecycleStage::Deleted, 9)
        .await
        .unwrap();
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    let run = store.get_run(&run_id).await.unwrap();
    assert_eq!(run.info.lifecycle_stage, LifecycleStage::Deleted);
    assert_eq!(run.metrics[0].step, 19);
}

#[tokio::test]
async fn store_is_usable_as_a_trait_object() {
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn cairn_store::Store> =
        std::sync::Arc::new(SqliteStore::open(&dir.path().join("x.db")).unwrap());
    assert_eq!(store.get_experiment("0").await.unwrap().experiment_id, "0");
}

/// A file written by schema version 1 (metric points as rows) opens with its points intact, in
/// raw segments first and compacted chunks after.
#[tokio::test(flavor = "multi_thread")]
async fn version_one_metric_rows_are_migrated_into_series() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let schema::Migration::Sql(first) = &schema::MIGRATIONS[0] else {
            panic!("migration 1 is SQL");
        };
        conn.execute_batch(first).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO experiments VALUES (0, 'Default', 'x', 'active', 0, 0);
             INSERT INTO runs VALUES (1, '0123456789abcdef0123456789abcdef', 0, 'r', 'u', 'RUNNING', 0, NULL, 'x', 'active', NULL);
             INSERT INTO metrics VALUES (1, 'loss', 2, 20, 0, 0.5, NULL, NULL, NULL);
             INSERT INTO metrics VALUES (1, 'loss', 1, 10, 1, 0, NULL, NULL, NULL);
             INSERT INTO metrics VALUES (1, 'loss', 1, 10, 0, -1e300, 'm-1', 'val', 'd');
             INSERT INTO metrics VALUES (1, 'acc', 0, 5, 0, 1.0, NULL, NULL, NULL);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let history = |key: &str| HistoryRequest {
        run_id: "0123456789abcdef0123456789abcdef".into(),
        key: key.into(),
        max_results: 0,
        page_token: None,
    };
    for round in 0..2 {
        let loss = store.history(history("loss")).await.unwrap().items;
        let seen: Vec<(i64, i64, u64, Option<String>)> = loss
            .iter()
            .map(|m| (m.step, m.timestamp, m.value.to_bits(), m.model_id.clone()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (1, 10, (-1e300f64).to_bits(), Some("m-1".into())),
                (1, 10, f64::NAN.to_bits(), None),
                (2, 20, 0.5f64.to_bits(), None),
            ],
            "round {round}"
        );
        assert_eq!(store.history(history("acc")).await.unwrap().items.len(), 1);
        store.compact().await.unwrap();
    }
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let old_table: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'metrics'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(old_table, 0, "the row-per-point table is gone");
    let chunks: i64 = conn
        .query_row("SELECT count(*) FROM metric_chunks", [], |row| row.get(0))
        .unwrap();
    assert_eq!(chunks, 2, "one chunk per series after compaction");
}

/// Closing the store folds the write-ahead log into the database file.
#[tokio::test(flavor = "multi_thread")]
async fn closing_the_store_checkpoints_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    let store = SqliteStore::open(&path).unwrap();
    let exp = store
        .create_experiment(
            new_experiment("wal"),
            ArtifactLocation::UnderRoot("/tmp".into()),
        )
        .await
        .unwrap();
    assert!(!exp.is_empty());
    // A read leaves an idle reader connection open in the pool.
    store.get_experiment(&exp).await.unwrap();
    let wal = dir.path().join("cairn.db-wal");
    assert!(wal.exists() && wal.metadata().unwrap().len() > 0);
    drop(store);
    let left = wal.metadata().map(|m| m.len()).unwrap_or(0);
    assert_eq!(left, 0, "no write-ahead log is left behind");
}
