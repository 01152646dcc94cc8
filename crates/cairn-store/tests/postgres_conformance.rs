//! Runs the storage conformance suite against the PostgreSQL backend: one throwaway cluster for
//! the test process (started from the machine's PostgreSQL binaries), one fresh database per test.

use cairn_store::postgres::PgStore;
use cairn_store::postgres::testing::TestCluster;

async fn fresh_store() -> (PgStore, ()) {
    let url = tokio::task::spawn_blocking(|| TestCluster::shared().fresh_database())
        .await
        .expect("make a test database");
    let store = PgStore::connect_with(&url, 4)
        .await
        .expect("connect the store");
    (store, ())
}

cairn_store::store_conformance_tests!(async fresh_store());
