//! Artifact storage over HTTP against a real server: garbage collection racing uploads of the
//! same bytes, interrupted uploads, a full disk.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn content(seed: usize) -> Vec<u8> {
    (0..50_000 + seed * 1_000)
        .map(|i| ((i * 7 + seed * 13) % 251) as u8)
        .collect()
}

/// Uploads and deletes of a few distinct contents, while garbage collection with no grace period
/// runs in a loop: every file that was written and not deleted must still read back intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_never_deletes_bytes_an_upload_is_about_to_reference() {
    let server = Arc::new(TestServer::start().await);
    let contents: Arc<Vec<Vec<u8>>> = Arc::new((0..16).map(content).collect());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let collector = {
        let server = server.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut rounds = 0u32;
            let mut reclaimed = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, report) = server
                    .post(
                        "/api/v1/admin/gc",
                        json!({"retention_seconds": 0, "grace_seconds": 0}),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{report}");
                reclaimed += report["bytes_reclaimed"].as_u64().unwrap();
                rounds += 1;
            }
            (rounds, reclaimed)
        })
    };

    let mut writers = Vec::new();
    for writer in 0..6usize {
        let server = server.clone();
        let contents = contents.clone();
        writers.push(tokio::spawn(async move {
            let mut live: HashMap<String, usize> = HashMap::new();
            let deadline = Instant::now() + Duration::from_secs(6);
            let mut i = 0usize;
            while Instant::now() < deadline {
                let which = (i * 5 + writer * 3) % contents.len();
                let path = format!("0/race/w{writer}/f{}", i % 2);
                let url = server.url(&format!("/api/2.0/mlflow-artifacts/artifacts/{path}"));
                if i % 3 == 2 {
                    let response = server.client.delete(&url).send().await.unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                    live.remove(&path);
                } else {
                    let response = server
                        .client
                        .put(&url)
                        .body(contents[which].clone())
                        .send()
                        .await
                        .unwrap();
                    let status = response.status();
                    assert_eq!(status, StatusCode::OK, "{}", response.text().await.unwrap());
                    live.insert(path, which);
                }
                i += 1;
            }
            live
        }));
    }
    let mut live = HashMap::new();
    for writer in writers {
        live.extend(writer.await.unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (rounds, reclaimed) = collector.await.unwrap();
    assert!(rounds >= 3, "gc ran {rounds} times");
    assert!(
        reclaimed > 0,
        "gc never reclaimed anything: the race was not exercised"
    );

    // One last collection, then every live file must read back exactly.
    let (status, _) = server
        .post(
            "/api/v1/admin/gc",
            json!({"retention_seconds": 0, "grace_seconds": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for (path, which) in &live {
        let url = server.url(&format!("/api/2.0/mlflow-artifacts/artifacts/{path}"));
        let response = server.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            contents[*which].as_slice(),
            "{path}"
        );
    }
    // Only the contents still referenced remain stored.
    let referenced: std::collections::HashSet<usize> = live.values().copied().collect();
    let blobs = std::fs::read_dir(server._data.path().join("artifacts/blake3"))
        .unwrap()
        .flat_map(|a| std::fs::read_dir(a.unwrap().path()).unwrap())
        .flat_map(|b| std::fs::read_dir(b.unwrap().path()).unwrap())
        .count();
    assert_eq!(blobs, referenced.len());
}

/// A body cut short (the client promised more than it sent) records nothing and leaves nothing
/// behind in staging.
#[tokio::test]
async fn an_interrupted_upload_leaves_nothing() {
    let server = TestServer::start().await;
    let address = server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "PUT /api/2.0/mlflow-artifacts/artifacts/0/cut/file.bin HTTP/1.1\r\nHost: {address}\r\nContent-Length: 100000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[7u8; 30_000]).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink).await;
    drop(stream);
    // The server notices the cut and cleans up; poll briefly.
    let staging = server._data.path().join("artifacts/.staging");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = std::fs::read_dir(&staging).unwrap().count();
        if left == 0 || Instant::now() > deadline {
            assert_eq!(left, 0, "staging files left behind");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = server
        .get("/api/2.0/mlflow-artifacts/artifacts?path=0/cut")
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = server
        .client
        .get(server.url("/api/2.0/mlflow-artifacts/artifacts/0/cut/file.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // A declared length that the body exceeds is refused too.
    let response = server
        .client
        .put(server.url("/api/v1/runs/x/files/a"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
}

/// A small tmpfs, unmounted on drop.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    /// `None` when this process may not mount (not root): the check then cannot run here.
    fn mount(bytes: u64) -> Option<TinyDisk> {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(TinyDisk { dir })
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// A full disk answers 503 with a clear message, records nothing, leaves no staging file, and
/// damages nothing already stored.
#[tokio::test]
async fn a_full_disk_is_a_clear_503_and_damages_nothing() {
    let Some(disk) = TinyDisk::mount(2 << 20) else {
        eprintln!("SKIPPED: mounting a tmpfs needs root");
        return;
    };
    let blobs = cairn_blob::LocalBlobStore::open(disk.dir.path().join("artifacts")).unwrap();
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), Arc::new(blobs)).await;
    let url = |p: &str| server.url(&format!("/api/2.0/mlflow-artifacts/artifacts/0/disk/{p}"));
    let small = vec![1u8; 100_000];
    let response = server
        .client
        .put(url("small"))
        .body(small.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = server
        .client
        .put(url("big"))
        .body(vec![2u8; 4 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("full"), "{body}");
    let response = server.client.get(url("big")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = server.client.get(url("small")).send().await.unwrap();
    assert_eq!(response.bytes().await.unwrap().as_ref(), small.as_slice());
    let staging = disk.dir.path().join("artifacts/.staging");
    assert_eq!(std::fs::read_dir(staging).unwrap().count(), 0);
}
