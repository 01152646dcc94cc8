//! The throwaway cluster itself: it starts, serves a fresh database, and the store migrates it,
//! also a second time (replicas starting together), and survives a restart of the server.

use cairn_store::postgres::PgStore;
use cairn_store::postgres::testing::TestCluster;

#[tokio::test(flavor = "multi_thread")]
async fn store_connects_migrates_and_reconnects_after_a_restart() {
    let cluster = tokio::task::spawn_blocking(TestCluster::start)
        .await
        .unwrap()
        .expect("start a cluster");
    let url = tokio::task::spawn_blocking({
        let url = cluster.url("postgres");
        move || {
            let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            admin.batch_execute("CREATE DATABASE replicas").unwrap();
        }
    })
    .await
    .map(|()| cluster.url("replicas"))
    .unwrap();
    let (a, b) = tokio::join!(PgStore::connect(&url), PgStore::connect(&url));
    let (a, _b) = (a.expect("first replica"), b.expect("second replica"));
    drop(a);
    let cluster = std::sync::Arc::new(cluster);
    let stopper = std::sync::Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || stopper.stop())
        .await
        .unwrap()
        .expect("stop");
    let refused = PgStore::connect(&url).await.expect_err("no server");
    assert_eq!(
        refused.kind(),
        cairn_store::ErrorKind::Unavailable,
        "{refused}"
    );
    let starter = std::sync::Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || starter.restart())
        .await
        .unwrap()
        .expect("restart");
    PgStore::connect(&url)
        .await
        .expect("connect after the restart");
}
