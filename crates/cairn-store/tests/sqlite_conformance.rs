//! Runs the storage conformance suite against the embedded SQLite backend, one fresh database in
//! a temporary directory per test.

use cairn_store::sqlite::SqliteStore;

fn fresh_store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("nested/cairn.db")).expect("open store");
    (store, dir)
}

cairn_store::store_conformance_tests!(fresh_store());
