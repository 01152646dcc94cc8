//! A real Cairn server on 127.0.0.1:0 with a fresh store, for the HTTP test files.

#![allow(dead_code)]

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub _data: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let blobs = cairn_blob::LocalBlobStore::open(data.path().join("artifacts")).unwrap();
        Self::start_with(data, Arc::new(blobs)).await
    }

    /// A server whose artifacts live in `blobs`; `data` holds the database.
    pub async fn start_with(
        data: tempfile::TempDir,
        blobs: Arc<dyn cairn_blob::BlobStore>,
    ) -> TestServer {
        let store = cairn_store::sqlite::SqliteStore::open(&data.path().join("cairn.db")).unwrap();
        let state = cairn_server::AppState::new(Arc::new(store), blobs);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(cairn_server::run(listener, state, async move {
            let _ = rx.await;
        }));
        TestServer {
            base,
            client: reqwest::Client::new(),
            _data: data,
            shutdown: Some(tx),
        }
    }

    /// A server on `store`, its artifacts in `blobs`, sharing live events through `relay` when
    /// given (the replicas of one database).
    pub async fn start_on(
        store: Arc<dyn cairn_store::Store>,
        blobs: Arc<dyn cairn_blob::BlobStore>,
        relay: Option<(
            Arc<dyn cairn_store::Relay>,
            tokio::sync::mpsc::Receiver<cairn_store::Relayed>,
        )>,
    ) -> TestServer {
        let mut state = cairn_server::AppState::new(store, blobs);
        if let Some((relay, incoming)) = relay {
            state = state.with_relay(relay, incoming);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(cairn_server::run(listener, state, async move {
            let _ = rx.await;
        }));
        TestServer {
            base,
            client: reqwest::Client::new(),
            _data: tempfile::tempdir().unwrap(),
            shutdown: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn new_run(&self) -> String {
        self.new_run_in("0").await
    }

    /// Creates a run in experiment `experiment_id` and returns its id.
    pub async fn new_run_in(&self, experiment_id: &str) -> String {
        let (status, body) = self
            .post(
                "/api/2.0/mlflow/runs/create",
                json!({"experiment_id": experiment_id, "start_time": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["run"]["info"]["run_id"].as_str().unwrap().to_string()
    }
}

/// Sends a PUT with exactly this request target and returns the status line.
pub async fn raw_put(base: &str, target: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "PUT {target} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.lines().next().unwrap_or_default().to_string()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
