//! Online snapshots of the embedded database, for `cairn backup` and `cairn restore`.
//!
//! [`snapshot`] copies a live database (another process may be writing it) with SQLite's backup
//! API in one step, that is inside one read transaction: the copy is the database as of one
//! commit, and in WAL mode the writer is never blocked. The copy then loses what only meant
//! something to the running install — uploads in parts and blob leases — and is checked with
//! `PRAGMA integrity_check`. [`referenced_blobs`] lists the blobs a database's artifact manifest
//! needs, and [`counts`] what it holds, for a backup's report and a restore's check.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::{Result, StoreError};

fn internal(what: &str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Internal(format!("{what}: {e}"))
}

/// What a database holds, in rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub experiments: u64,
    pub runs: u64,
    pub params: u64,
    pub tags: u64,
    pub metric_series: u64,
    pub logged_models: u64,
    pub artifact_files: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
}

/// Copies the database at `source` (live or not) to `target`, which must not exist, as of one
/// commit; then drops in-flight uploads and blob leases from the copy and checks its integrity.
pub fn snapshot(source: &Path, target: &Path) -> Result<()> {
    if target.exists() {
        return Err(StoreError::AlreadyExists(format!(
            "{} exists already",
            target.display()
        )));
    }
    let source_conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(internal("opening the database"))?;
    source_conn
        .busy_timeout(Duration::from_secs(30))
        .map_err(internal("setting a busy timeout"))?;
    let mut target_conn = Connection::open(target).map_err(internal("creating the copy"))?;
    {
        let backup = rusqlite::backup::Backup::new(&source_conn, &mut target_conn)
            .map_err(internal("starting the copy"))?;
        // All pages in one step: one read transaction, so one consistent state.
        loop {
            match backup.step(-1).map_err(internal("copying"))? {
                rusqlite::backup::StepResult::Done => break,
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    target_conn
        .execute_batch(
            "DELETE FROM upload_parts; DELETE FROM uploads; DELETE FROM blob_leases;
             PRAGMA journal_mode = DELETE;",
        )
        .map_err(internal("clearing in-flight uploads from the copy"))?;
    check_integrity(&target_conn)
}

fn check_integrity(conn: &Connection) -> Result<()> {
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(internal("checking the copy"))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(StoreError::Internal(format!(
            "the copy fails SQLite's integrity check: {verdict}"
        )))
    }
}

fn read_only(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(internal("opening the database"))?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(internal("setting a busy timeout"))?;
    Ok(conn)
}

/// Every blob the database's artifact manifest refers to: (digest, size), sorted by digest.
pub fn referenced_blobs(path: &Path) -> Result<Vec<(String, u64)>> {
    let conn = read_only(path)?;
    let mut statement = conn
        .prepare("SELECT digest, MAX(size) FROM artifacts GROUP BY digest ORDER BY digest")
        .map_err(internal("listing blobs"))?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(internal("listing blobs"))?;
    let mut blobs = Vec::new();
    for row in rows {
        let (digest, size) = row.map_err(internal("listing blobs"))?;
        blobs.push((digest, size.max(0) as u64));
    }
    Ok(blobs)
}

/// What the database at `path` holds; also runs SQLite's integrity check.
pub fn counts(path: &Path) -> Result<Counts> {
    let conn = read_only(path)?;
    check_integrity(&conn)?;
    let count = |sql: &str| -> Result<u64> {
        conn.query_row(sql, [], |row| row.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(internal("counting"))
    };
    Ok(Counts {
        experiments: count("SELECT COUNT(*) FROM experiments")?,
        runs: count("SELECT COUNT(*) FROM runs")?,
        params: count("SELECT COUNT(*) FROM params")?,
        tags: count("SELECT COUNT(*) FROM tags")?,
        metric_series: count("SELECT COUNT(*) FROM metric_series")?,
        logged_models: count("SELECT COUNT(*) FROM logged_models")?,
        artifact_files: count("SELECT COUNT(*) FROM artifacts")?,
        blobs: count("SELECT COUNT(DISTINCT digest) FROM artifacts")?,
        blob_bytes: count(
            "SELECT COALESCE(SUM(size), 0) FROM (SELECT MAX(size) AS size FROM artifacts GROUP BY digest)",
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MetaStore;
    use crate::sqlite::SqliteStore;

    #[tokio::test]
    async fn a_snapshot_of_a_store_in_use_holds_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("cairn.db");
        let store = SqliteStore::open(&source).unwrap();
        let experiment = store
            .create_experiment(
                cairn_core::model::NewExperiment {
                    name: "backup".to_string(),
                    artifact_location: None,
                    tags: Vec::new(),
                    creation_time: 1,
                    access: None,
                },
                crate::ArtifactLocation::UnderRoot("mlflow-artifacts:".to_string()),
            )
            .await
            .unwrap();
        let target = dir.path().join("copy.db");
        snapshot(&source, &target).unwrap();
        let copied = counts(&target).unwrap();
        assert_eq!(copied.experiments, 2, "Default and the new one");
        assert_eq!(copied, counts(&source).unwrap());
        let reopened = SqliteStore::open(&target).unwrap();
        assert_eq!(
            reopened.get_experiment(&experiment).await.unwrap().name,
            "backup"
        );
        assert!(matches!(
            snapshot(&source, &target),
            Err(StoreError::AlreadyExists(_))
        ));
        assert!(referenced_blobs(&target).unwrap().is_empty());
    }
}
